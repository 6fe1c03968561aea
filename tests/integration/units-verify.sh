#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The systemd units and the generator (systemd/): every unit passes `systemd-analyze verify`
# without a word, in a scratch root that holds the system's units, the built programs at the
# paths the units name (bindir) and the built man pages (Documentation=); the services' offline
# exposure scores (`systemd-analyze security --offline`) stay low; cvm-agent-generator turns a
# crypttab into exactly the expected wants symlinks and drop-ins (instance names as
# systemd-escape makes them, the device unit, the environment), in the initrd and in the
# booted system, and the instances it makes verify too. A misspelled key and a broken drop-in
# in the generator directory make verify speak, so that silence means something.
# Exit 0 pass, 1 fail, 77 skip (no systemd-analyze), 99 setup error.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
B=$top_builddir
for tool in systemd-analyze systemd-escape; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed (apt-get install systemd)"; exit 77; }
done
GEN=$B/cvm-agent-generator
for f in "$GEN" "$B/cvm-agent" "$B/cvm-verifier" "$B/systemd/cvm-agent-monitor.service" \
        "$B/man/cvm-agent.8"; do
        [ -e "$f" ] || { echo "missing $f (make check builds it)"; exit 99; }
done
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

unitdir=
for d in "$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)" /usr/lib/systemd/system \
        /lib/systemd/system; do
        [ -n "$d" ] && [ -e "$d/sysinit.target" ] && { unitdir=$d; break; }
done
[ -n "$unitdir" ] || { echo "skip: no systemd unit directory with sysinit.target"; exit 77; }

tmp=$(mktemp -d "$B/tests/integration/units-verify.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/run/systemd" \
        "$tmp/man/man5" "$tmp/man/man8" || exit 99
cp -a "$unitdir" "$root/usr/lib/systemd/system" || exit 99
cp "$B"/man/*.5 "$tmp/man/man5/" && cp "$B"/man/*.8 "$tmp/man/man8/" || exit 99
export MANPATH=$tmp/man

units="cvm-agent-unlock@.service cvm-agent-monitor.service cvm-agent-monitor-once.service
cvm-verifier.service"
for u in $units; do
        cp "$B/systemd/$u" "$root/etc/systemd/system/" || exit 99
done
cp "$srcdir/systemd/cvm-agent-monitor.timer" "$root/etc/systemd/system/" || exit 99
# The programs where ExecStart= says they are.
for u in $units; do
        exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$B/systemd/$u")
        [ -n "$exe" ] || { echo "$u: no ExecStart="; exit 99; }
        mkdir -p "$root$(dirname "$exe")" && cp "$B/$(basename "$exe")" "$root$exe" || exit 99
done

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

# verify_quiet DESC UNIT...: systemd-analyze verify exits 0 and prints nothing.
verify_quiet() {
        local desc=$1 out rc
        shift
        out=$(systemd-analyze verify --root="$root" "$@" 2>&1)
        rc=$?
        if [ $rc -eq 0 ] && [ -z "$out" ]; then
                ok "$desc"
        else
                not_ok "$desc" "exit $rc" "$(printf '%s\n' "$out" | head -n 8)"
        fi
}
# verify_says DESC FRAGMENT UNIT...: systemd-analyze verify reports FRAGMENT.
verify_says() {
        local desc=$1 frag=$2 out
        shift 2
        out=$(systemd-analyze verify --root="$root" "$@" 2>&1)
        if printf '%s\n' "$out" | grep -qF -- "$frag"; then
                ok "$desc"
        else
                not_ok "$desc" "expected '$frag' in:" "$(printf '%s\n' "$out" | head -n 8)"
        fi
}

# --- the units as installed ---
for u in cvm-agent-monitor.service cvm-agent-monitor-once.service cvm-agent-monitor.timer \
        cvm-verifier.service; do
        verify_quiet "systemd-analyze verify $u" "/etc/systemd/system/$u"
done
# A template verifies as an instance.
ln -s cvm-agent-unlock@.service "$root/etc/systemd/system/cvm-agent-unlock@probe.service"
verify_quiet "systemd-analyze verify cvm-agent-unlock@.service (instance probe)" \
        /etc/systemd/system/cvm-agent-unlock@probe.service
rm -f "$root/etc/systemd/system/cvm-agent-unlock@probe.service"

# The checker can fail: a misspelled key and a bad value are reported.
sed -e 's/^ProtectSystem=strict/ProtectSystm=strict/' -e 's/^WatchdogSec=5min/WatchdogSec=5 flurbs/' \
        "$B/systemd/cvm-agent-monitor.service" >"$root/etc/systemd/system/bad-monitor.service"
verify_says "verify reports a misspelled key" "Unknown key" /etc/systemd/system/bad-monitor.service
verify_says "verify reports a bad time span" "5 flurbs" /etc/systemd/system/bad-monitor.service
rm -f "$root/etc/systemd/system/bad-monitor.service"

# Exposure scores (0 best, 10 worst): the hardening stays in place.
for u in cvm-agent-monitor.service cvm-agent-monitor-once.service cvm-verifier.service; do
        if ! systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
                ok "exposure of $u # SKIP systemd-analyze security has no --offline"
                continue
        fi
        out=$(systemd-analyze security --offline=true --root="$root" "$u" 2>&1)
        score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
                ok "exposure of $u is $score (at most 2.5)"
        else
                not_ok "exposure of $u is ${score:-?}, above 2.5" "$(printf '%s\n' "$out" | grep -E '^✗' | head -n 12)"
        fi
done
# The settings the monitor must keep (not all of them move the score).
for s in 'Type=notify' 'WatchdogSec=' 'Restart=on-failure' 'ProtectSystem=strict' 'ProtectHome=yes' \
        'PrivateTmp=yes' 'NoNewPrivileges=yes' 'DevicePolicy=closed' 'DeviceAllow=/dev/tpmrm0 rw' \
        'DeviceAllow=/dev/sev-guest rw' 'CapabilityBoundingSet=$' 'RuntimeDirectory=cvm-agent' \
        'ReadWritePaths=-/sys/kernel/config/tsm/report' 'SystemCallFilter=@system-service' \
        'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'; do
        if grep -q "^$s" "$B/systemd/cvm-agent-monitor.service"; then
                ok "cvm-agent-monitor.service has $s"
        else
                not_ok "cvm-agent-monitor.service lacks $s"
        fi
done
if [ "$(grep -c '^DeviceAllow=' "$B/systemd/cvm-agent-monitor.service")" -eq 2 ]; then
        ok "the monitor's devices are the TPM and sev-guest only"
else
        not_ok "the monitor allows other devices" "$(grep '^DeviceAllow=' "$B/systemd/cvm-agent-monitor.service")"
fi

# --- the generator ---
cat >"$tmp/crypttab" <<'EOF'
# name     source                                  key    options
root       UUID=0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9  none  luks,discard,token-type=cvm-agent
swap       /dev/vdb2                               /dev/urandom  swap,cipher=aes-xts-plain64
data-1     LABEL="data/1"                          none  luks,_netdev,token-type=cvm-agent
plain      /dev/vdc                                none  luks,token-type=cvm-agentx
img        /srv/images/disk.img                    none  luks,token-type=cvm-agent
bad/name   /dev/vdd                                none  luks,token-type=cvm-agent
lonely
EOF
gen() {
        local dir=$1 initrd=$2
        rm -rf "$dir" && mkdir -p "$dir"
        SYSTEMD_IN_INITRD=$initrd SYSTEMD_CRYPTTAB=$tmp/crypttab "$GEN" "$dir" "$dir.early" "$dir.late" \
                >"$tmp/gen.out" 2>&1
}
listing() {
        (cd "$1" && find . -mindepth 1 | LC_ALL=C sort)
}

# verify reads /run/systemd/system, not the generator directories (it does not run generators):
# the output goes there, where drop-ins and .wants/ mean the same.
gdir=$root/run/systemd/system
if gen "$gdir" 1; then ok "generator (initrd) exits 0"; else not_ok "generator (initrd) failed" "$(cat "$tmp/gen.out")"; fi
e_root=$(systemd-escape root)
e_data=$(systemd-escape data-1)
e_img=$(systemd-escape img)
expected=$(for e in "$e_root" "$e_data" "$e_img"; do
        echo "./cvm-agent-unlock@$e.service.d"
        echo "./cvm-agent-unlock@$e.service.d/50-cvm-agent-generator.conf"
        echo "./systemd-cryptsetup@$e.service.d"
        echo "./systemd-cryptsetup@$e.service.d/50-cvm-agent-generator.conf"
        echo "./systemd-cryptsetup@$e.service.wants"
        echo "./systemd-cryptsetup@$e.service.wants/cvm-agent-unlock@$e.service"
done | LC_ALL=C sort)
got=$(listing "$gdir")
if [ "$got" = "$expected" ]; then
        ok "generator: units for root, data-1 and img only, named as systemd-escape names them"
else
        not_ok "generator: wrong files" "expected:" $expected "got:" $got
fi
link=$(readlink "$gdir/systemd-cryptsetup@$e_root.service.wants/cvm-agent-unlock@$e_root.service")
if [ "$(basename "$link")" = "cvm-agent-unlock@.service" ]; then
        ok "generator: the wants symlink points at the template"
else
        not_ok "generator: the wants symlink points at '$link'"
fi
dev_root=$(systemd-escape --path --suffix=device /dev/disk/by-uuid/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9)
dropin=$gdir/cvm-agent-unlock@$e_root.service.d/50-cvm-agent-generator.conf
if grep -qxF "BindsTo=$dev_root" "$dropin" && grep -qxF "After=$dev_root" "$dropin" &&
        grep -qxF 'Environment="CVM_UNLOCK_DEVICE=/dev/disk/by-uuid/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"' "$dropin"; then
        ok "generator: root's drop-in binds to $dev_root and names the device"
else
        not_ok "generator: root's drop-in" "$(cat "$dropin")"
fi
# A label with a '/': udev's link /dev/disk/by-label/data\x2f1, and its unit.
dev_data=$(systemd-escape --path --suffix=device '/dev/disk/by-label/data\x2f1')
dropin=$gdir/cvm-agent-unlock@$e_data.service.d/50-cvm-agent-generator.conf
if grep -qxF "BindsTo=$dev_data" "$dropin" &&
        grep -qxF 'Environment="CVM_UNLOCK_DEVICE=/dev/disk/by-label/data\\x2f1"' "$dropin"; then
        ok "generator: LABEL= becomes the udev link and its device unit"
else
        not_ok "generator: data-1's drop-in" "$(cat "$dropin")"
fi
dropin=$gdir/cvm-agent-unlock@$e_img.service.d/50-cvm-agent-generator.conf
if grep -qxF 'RequiresMountsFor=/srv/images/disk.img' "$dropin" && ! grep -q '^BindsTo=' "$dropin"; then
        ok "generator: an image file waits for its file system, not for a device"
else
        not_ok "generator: img's drop-in" "$(cat "$dropin")"
fi
if grep -qxF 'Environment=SYSTEMD_CRYPTSETUP_USE_TOKEN_MODULE=0' \
        "$gdir/systemd-cryptsetup@$e_root.service.d/50-cvm-agent-generator.conf"; then
        ok "generator: systemd-cryptsetup does not attest a second time through the plugin"
else
        not_ok "generator: no SYSTEMD_CRYPTSETUP_USE_TOKEN_MODULE=0 for the cryptsetup unit"
fi
if grep -q 'bad/name' "$tmp/gen.out" && ! grep -q 'swap\|plain\|lonely' "$tmp/gen.out"; then
        ok "generator: warns about its own bad entry only"
else
        not_ok "generator: messages" "$(cat "$tmp/gen.out")"
fi

# The instances verify with the generator's drop-ins.
for e in "$e_root" "$e_data" "$e_img"; do
        verify_quiet "systemd-analyze verify cvm-agent-unlock@$e.service with its drop-in" \
                "cvm-agent-unlock@$e.service"
done
# ... and verify does read that directory.
printf '[Service]\nTimeoutStartSec=soon\n' \
        >"$gdir/cvm-agent-unlock@$e_root.service.d/60-broken.conf"
verify_says "verify reads the generator's drop-ins" "soon" "cvm-agent-unlock@$e_root.service"
rm -f "$gdir/cvm-agent-unlock@$e_root.service.d/60-broken.conf"

# In the booted system only the _netdev entry (the others are the initrd's).
if gen "$tmp/booted" 0; then ok "generator (booted) exits 0"; else not_ok "generator (booted) failed" "$(cat "$tmp/gen.out")"; fi
got=$(listing "$tmp/booted" | grep -c 'wants/')
if [ "$got" -eq 1 ] && [ -L "$tmp/booted/systemd-cryptsetup@$e_data.service.wants/cvm-agent-unlock@$e_data.service" ]; then
        ok "generator (booted): only data-1 (_netdev)"
else
        not_ok "generator (booted): $got wants links" "$(listing "$tmp/booted")"
fi

# With systemd's own generator, as the booted system runs them: the device units agree, and
# the cryptsetup targets and sysinit.target start without an ordering cycle, even with a
# network service with default dependencies behind network-online.target (the unlock unit
# waits for it, as _netdev volumes do anyway).
SCG=
for d in "$(pkg-config --variable=systemdsystemgeneratordir systemd 2>/dev/null)" \
        /usr/lib/systemd/system-generators /lib/systemd/system-generators; do
        [ -n "$d" ] && [ -x "$d/systemd-cryptsetup-generator" ] && { SCG=$d/systemd-cryptsetup-generator; break; }
done
SCS=$(dirname "$(dirname "$SCG")")/systemd-cryptsetup
if [ -n "$SCG" ] && [ -x "$SCS" ]; then
        rm -rf "$gdir" && mkdir -p "$gdir" "$root$(dirname "$SCS")"
        cp "$SCS" "$root$SCS"
        gen "$gdir" 0
        # A network service with default dependencies (as NetworkManager's or ifupdown's
        # wait-online) behind network-online.target.
        printf '[Unit]\nBefore=network-online.target\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
                >"$gdir/fake-wait-online.service"
        mkdir -p "$gdir/network-online.target.wants" "$root/bin"
        ln -sf ../fake-wait-online.service "$gdir/network-online.target.wants/"
        [ -e "$root/bin/true" ] || cp /bin/true "$root/bin/true"
        SYSTEMD_IN_INITRD=0 SYSTEMD_CRYPTTAB=$tmp/crypttab "$SCG" "$gdir" "$gdir" "$gdir" >"$tmp/scg.out" 2>&1
        theirs=$(sed -n 's/^BindsTo=\(.*\.device\)$/\1/p' "$gdir/systemd-cryptsetup@$e_data.service")
        ours=$(sed -n 's/^BindsTo=//p' "$gdir/cvm-agent-unlock@$e_data.service.d/50-cvm-agent-generator.conf")
        if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
                ok "generator: the same device unit as systemd-cryptsetup-generator ($ours)"
        else
                not_ok "generator: device units differ" "ours: $ours" "systemd's: $theirs" "$(cat "$tmp/scg.out")"
        fi
        out=$(systemd-analyze verify --man=no --root="$root" remote-cryptsetup.target cryptsetup.target \
                sysinit.target 2>&1)
        if [ $? -eq 0 ] && [ -z "$out" ]; then
                ok "booted system: the cryptsetup targets with both generators' units verify, no ordering cycle"
        else
                not_ok "booted system: cryptsetup targets" "$(printf '%s\n' "$out" | head -n 10)"
        fi
        # ... and verify would say if there were one.
        mkdir -p "$gdir/cvm-agent-unlock@$e_data.service.d"
        printf '[Unit]\nAfter=remote-cryptsetup.target\n' >"$gdir/cvm-agent-unlock@$e_data.service.d/99-cycle.conf"
        out=$(systemd-analyze verify --man=no --root="$root" remote-cryptsetup.target 2>&1)
        if printf '%s\n' "$out" | grep -q 'ordering cycle'; then
                ok "verify reports an ordering cycle"
        else
                not_ok "verify missed an ordering cycle" "$out"
        fi
else
        ok "with systemd-cryptsetup-generator # SKIP not installed"
fi

# No crypttab: nothing, and no error.
rm -f "$tmp/crypttab"
if gen "$tmp/none" 1 && [ -z "$(listing "$tmp/none")" ]; then
        ok "generator: no crypttab, no units"
else
        not_ok "generator: without a crypttab" "$(cat "$tmp/gen.out")" "$(listing "$tmp/none")"
fi
if "$GEN" >/dev/null 2>&1; then not_ok "generator: runs without a directory"; else ok "generator: usage error without a directory"; fi

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
