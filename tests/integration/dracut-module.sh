#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The dracut module (packaging/dracut/90cvm-agent) in real dracut runs. The built agent,
# generator, unit, token plugin and module, a crypttab marking a volume token-type=cvm-agent,
# an agent.conf naming a CA file and a drop-in for the unit are laid over the system with
# overlay mounts in a private mount namespace (nothing outside the build tree changes), then:
#  - `dracut --hostonly` with no module named picks cvm-agent up by itself, with rd.neednet=1
#    in the initrd's command line;
#  - a generic initrd (--no-hostonly --modules "cvm-agent systemd-initrd") holds the agent and
#    every library it and the plugin need (they run in it, chrooted), the dlopen()ed TCTI, the
#    generator, the unit and its drop-in, the configuration and its CA file, the CA bundle,
#    systemd-networkd with wait-online for network-online.target, and a crypttab with the
#    marked entry; the generators, ours and systemd-cryptsetup-generator, run inside that
#    initrd tree, make the unlock instance and the cryptsetup unit, and `systemd-analyze verify
#    initrd.target` accepts the whole initrd boot against the initrd's own units, without an
#    ordering cycle (a deliberate one is reported).
# Kernel drivers are left out (--no-kernel): there is no kernel to take them from here.
# Exit 0 pass, 1 fail, 77 skip (no dracut or its network modules, not root, no overlayfs),
# 99 setup error.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
B=$top_builddir
for tool in dracut lsinitrd unshare; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: no $tool (apt-get install dracut-core dracut-network)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (mount namespace, overlay mounts)"; exit 77; }
dracutdir=$(pkg-config --variable=dracutdir dracut 2>/dev/null)
[ -n "$dracutdir" ] || dracutdir=/usr/lib/dracut
[ -d "$dracutdir/modules.d/40network" ] || { echo "skip: no dracut network module (apt-get install dracut-network)"; exit 77; }
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || { echo "skip: no overlayfs"; exit 77; }
MOD=$B/packaging/dracut/90cvm-agent/module-setup.sh
for f in "$MOD" "$B/cvm-agent" "$B/cvm-agent-generator" "$B/libcryptsetup-token-cvm-agent.so" \
        "$B/systemd/cvm-agent-unlock@.service"; do
        [ -e "$f" ] || { echo "missing $f (make check builds it)"; exit 99; }
done
# Where the module takes the files from (the paths make substituted).
agent=$(sed -n 's/^ *require_binaries \([^ ]*\) .*/\1/p' "$MOD")
gendir=$(sed -n 's|^ *inst_binary \(.*\)/cvm-agent-generator.*|\1|p' "$MOD")
unitdir=$(sed -n 's|^ *inst_simple "\(.*\)/cvm-agent-unlock@.service".*|\1|p' "$MOD")
tokensdir=$(sed -n 's|^ *if \[\[ -e \(.*\)/libcryptsetup-token-cvm-agent.so.*|\1|p' "$MOD")
for v in agent gendir unitdir tokensdir; do
        [ -n "${!v}" ] || { echo "cannot read $v from $MOD"; exit 99; }
done

tmp=$(mktemp -d "$B/tests/integration/dracut-module.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
S=$tmp/stage
mkdir -p "$S$(dirname "$agent")" "$S$gendir" "$S$unitdir" "$S$tokensdir" \
        "$S/etc/cvm-agent" "$S/etc/systemd/system/cvm-agent-unlock@.service.d" \
        "$S$dracutdir/modules.d/90cvm-agent" || exit 99
cp "$B/cvm-agent" "$S$agent" && cp "$B/cvm-agent-generator" "$S$gendir/" &&
        cp "$B/systemd/cvm-agent-unlock@.service" "$S$unitdir/" &&
        cp "$B/libcryptsetup-token-cvm-agent.so" "$S$tokensdir/" &&
        cp "$MOD" "$S$dracutdir/modules.d/90cvm-agent/" || exit 99
printf 'root UUID=0a1b2c3d none luks,token-type=cvm-agent\nplain /dev/vdb none luks\n' >"$S/etc/crypttab"
printf '[Verifier]\nURL=http://10.0.2.2:8400\n[TLS]\nCAFile=/etc/cvm-agent/site-ca.pem\n' \
        >"$S/etc/cvm-agent/agent.conf"
echo site-ca >"$S/etc/cvm-agent/site-ca.pem"
printf '[Service]\nTimeoutStartSec=200s\n' \
        >"$S/etc/systemd/system/cvm-agent-unlock@.service.d/50-deadline.conf"

# in_overlay CMD...: CMD in a mount namespace where the stage lies over the system.
in_overlay() {
        unshare -m bash -c '
                S=$1; shift
                for d in $DIRS; do
                        mount -t overlay overlay -o "lowerdir=$S$d:$d" "$d" || exit 99
                done
                "$@"' sh "$S" "$@" </dev/null
}
# The directories to lay over: for each staged file, its nearest directory that exists here,
# without those below another one in the list (the upper overlay brings them).
DIRS=
for d in $(cd "$S" && find . -mindepth 1 -type f -printf '%h\n' | sed 's|^\.||' | sort -u); do
        while [ ! -d "$d" ]; do d=$(dirname "$d"); done
        DIRS="$DIRS $d"
done
DIRS=$(printf '%s\n' $DIRS | sort -u | awk '{ for (i = 1; i <= k; i++) if (index($0 "/", kept[i] "/") == 1) next; kept[++k] = $0; print }')
export DIRS
for d in $DIRS; do
        case "$B/" in
        "$d"/*)
                echo "skip: $d, where the module's files install, holds the build tree" \
                        "(as in make distcheck): an overlay there would hide the scratch files"
                exit 77
                ;;
        esac
done

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
has() {
        local desc=$1 re=$2
        if grep -qE "$re" "$tmp/list"; then ok "$desc"; else not_ok "$desc" "no file matching $re"; fi
}

# --- hostonly, no module named ---
in_overlay dracut --no-kernel --hostonly --hostonly-cmdline --force --no-compress \
        --tmpdir "$tmp" "$tmp/hostonly.img" >"$tmp/dracut1.out" 2>&1
rc=$?
[ $rc -eq 77 ] && { cat "$tmp/dracut1.out"; exit 77; }
if [ $rc -eq 0 ] && grep -q "Including module: cvm-agent" "$tmp/dracut1.out"; then
        ok "dracut --hostonly includes cvm-agent when crypttab marks a volume"
else
        not_ok "dracut --hostonly did not include cvm-agent (exit $rc)" "$(tail -n 15 "$tmp/dracut1.out")"
fi
lsinitrd -f etc/cmdline.d/90cvm-agent.conf "$tmp/hostonly.img" >"$tmp/cmdline" 2>/dev/null
if grep -qx 'rd.neednet=1' "$tmp/cmdline"; then
        ok "the hostonly initrd's command line has rd.neednet=1"
else
        not_ok "no rd.neednet=1 in the hostonly initrd" "$(cat "$tmp/cmdline")"
fi
rm -f "$tmp/hostonly.img"

# --- generic, cvm-agent asked for ---
in_overlay dracut --no-kernel --no-hostonly --force --no-compress --modules "cvm-agent systemd-initrd" \
        --tmpdir "$tmp" "$tmp/initrd.img" >"$tmp/dracut2.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/initrd.img" ]; then
        ok "dracut --no-hostonly --modules 'cvm-agent systemd-initrd'"
else
        not_ok "dracut --no-hostonly --modules 'cvm-agent systemd-initrd': exit $rc" "$(tail -n 15 "$tmp/dracut2.out")"
        echo "$((n - failed)) passed, $failed failed"
        exit 1
fi
lsinitrd "$tmp/initrd.img" >"$tmp/list" 2>&1
has "initrd: the agent" " (usr/)?${agent#/}\$"
has "initrd: the generator" " usr/lib/systemd/system-generators/cvm-agent-generator\$"
has "initrd: the unlock unit" " usr/lib/systemd/system/cvm-agent-unlock@.service\$"
has "initrd: the unit's drop-in" " etc/systemd/system/cvm-agent-unlock@.service.d/50-deadline.conf\$"
has "initrd: the token plugin" " (usr/)?${tokensdir#/}/libcryptsetup-token-cvm-agent.so\$"
has "initrd: the TCTI loaded at run time" "/libtss2-tcti-device.so.0 "
has "initrd: agent.conf" " etc/cvm-agent/agent.conf\$"
has "initrd: CAFile=" " etc/cvm-agent/site-ca.pem\$"
has "initrd: the CA bundle" " etc/ssl/certs/ca-certificates.crt\$"
has "initrd: systemd-networkd" "/systemd-networkd\$"
has "initrd: wait-online behind network-online.target" "network-online.target.wants/systemd-networkd-wait-online.service"
has "initrd: systemd-cryptsetup" "/systemd-cryptsetup\$"

un=$tmp/un
mkdir -p "$un" && (cd "$un" && lsinitrd --unpack "$tmp/initrd.img" >/dev/null 2>&1)
if grep -q 'token-type=cvm-agent' "$un/etc/crypttab" 2>/dev/null && ! grep -q '^plain' "$un/etc/crypttab"; then
        ok "initrd: crypttab with the marked entry only"
else
        not_ok "initrd: crypttab" "$(cat "$un/etc/crypttab" 2>&1)"
fi
out=$(chroot "$un" "$agent" --version 2>&1)
case $out in
"cvm-agent "*) ok "the initrd's agent runs: $out" ;;
*) not_ok "the initrd's agent does not run" "$out" ;;
esac
out=$(chroot "$un" /lib64/ld-linux-x86-64.so.2 --list "$tokensdir/libcryptsetup-token-cvm-agent.so" 2>&1)
if [ $? -eq 0 ] && ! printf '%s\n' "$out" | grep -q 'not found'; then
        ok "the initrd's token plugin finds every library"
else
        not_ok "the initrd's token plugin lacks libraries" "$out"
fi

# The generators inside the initrd (/etc/initrd-release is there), ours and systemd's, into the
# runtime unit directory, which systemd-analyze verify reads; then the whole initrd boot
# (initrd.target) verifies: the unlock unit, the cryptsetup unit, the network, no ordering cycle.
gen=$un/run/systemd/system
mkdir -p "$gen" "$un/proc"
unshare -m sh -c 'mount -t proc proc "$1/proc" &&
        chroot "$1" /usr/lib/systemd/system-generators/systemd-cryptsetup-generator \
                /run/systemd/system /run/systemd/system /run/systemd/system' sh "$un" >"$tmp/scg.out" 2>&1
if chroot "$un" /usr/lib/systemd/system-generators/cvm-agent-generator /run/systemd/system \
        >"$tmp/gen.out" 2>&1 &&
        [ -L "$gen/systemd-cryptsetup@root.service.wants/cvm-agent-unlock@root.service" ]; then
        ok "the initrd's generator wants cvm-agent-unlock@root.service for systemd-cryptsetup@root.service"
else
        not_ok "the initrd's generator" "$(cat "$tmp/gen.out")" "$(cd "$gen" && find .)"
fi
if [ -f "$gen/systemd-cryptsetup@root.service" ]; then
        ok "the initrd's systemd-cryptsetup-generator makes systemd-cryptsetup@root.service"
else
        not_ok "no systemd-cryptsetup@root.service from systemd-cryptsetup-generator" "$(cat "$tmp/scg.out")"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
        out=$(systemd-analyze verify --man=no --root="$un" initrd.target cvm-agent-unlock@root.service 2>&1)
        if [ $? -eq 0 ] && [ -z "$out" ]; then
                ok "systemd-analyze verify initrd.target and cvm-agent-unlock@root.service in the initrd"
        else
                not_ok "systemd-analyze verify in the initrd" "$(printf '%s\n' "$out" | head -n 10)"
        fi
        # ... which would report a cycle: the unlock unit ordered before the network.
        mkdir -p "$gen/cvm-agent-unlock@root.service.d"
        printf '[Unit]\nBefore=systemd-networkd.service\n' >"$gen/cvm-agent-unlock@root.service.d/99-cycle.conf"
        out=$(systemd-analyze verify --man=no --root="$un" initrd.target 2>&1)
        if printf '%s\n' "$out" | grep -q 'ordering cycle'; then
                ok "verify reports an ordering cycle in the initrd"
        else
                not_ok "verify missed an ordering cycle in the initrd" "$out"
        fi
fi

if command -v shellcheck >/dev/null 2>&1; then
        if out=$(shellcheck -S warning -s bash -e SC2154 "$MOD" 2>&1); then
                ok "shellcheck: module-setup.sh"
        else
                not_ok "shellcheck: module-setup.sh" "$(printf '%s\n' "$out" | head -n 20)"
        fi
fi

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
