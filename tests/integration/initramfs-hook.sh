#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The initramfs-tools pieces (packaging/initramfs-tools/), run as mkinitramfs runs them but on
# a staged system (CVM_AGENT_SYSROOT) and into a scratch DESTDIR:
#  - the hook, with initramfs-tools' own hook-functions: nothing without a crypttab entry marked
#    token-type=cvm-agent or without cryptsetup-initramfs; with one, the agent, the token plugin,
#    every library they link, the dlopen()ed TCTI, the configuration with its modes, the files
#    it names (CAFile=, VCEKChain=; the last assignment across drop-ins wins), timeout(1) and
#    the boot deadline (BootDeadline=2min 5s -> 125); the copied agent and plugin then load and
#    run inside the DESTDIR (chroot), so the initrd lacks no library;
#  - the local-top script, in that DESTDIR with busybox and stand-ins for initramfs-tools'
#    configure_networking and cryptsetup's crypttab functions (the fake agent records its
#    arguments): only marked entries, an open volume skipped, the network brought up once with
#    DHCP and resolv.conf written from its answer, a failed unlock left to the passphrase, and
#    a network that outlives the deadline ends the attempts.
# Exit 0 pass, 1 fail, 77 skip (no initramfs-tools, not root), 99 setup error.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
B=$top_builddir
HF=/usr/share/initramfs-tools/hook-functions
[ -f "$HF" ] || { echo "skip: no $HF (apt-get install initramfs-tools-core)"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (chroot, file ownership)"; exit 77; }
HOOK=$B/packaging/initramfs-tools/hooks/cvm-agent
LOCALTOP=$B/packaging/initramfs-tools/scripts/local-top/cvm-agent
for f in "$HOOK" "$LOCALTOP" "$B/cvm-agent" "$B/libcryptsetup-token-cvm-agent.so"; do
        [ -e "$f" ] || { echo "missing $f (make check builds it)"; exit 99; }
done
agent=$(sed -n 's/^agent=//p' "$HOOK")
plugin=$(sed -n 's/^plugin=//p' "$HOOK")
[ -n "$agent" ] && [ -n "$plugin" ] || { echo "cannot read the paths from $HOOK"; exit 99; }

tmp=$(mktemp -d "$B/tests/integration/initramfs-hook.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else not_ok "$desc"; fi; }

# The staged system: the built agent and plugin where they install, cryptsetup-initramfs's
# hook (its presence is what matters), a crypttab, agent.conf with a drop-in.
sys=$tmp/sysroot
mkdir -p "$sys$(dirname "$agent")" "$sys$(dirname "$plugin")" "$sys/etc/cvm-agent/agent.conf.d" \
        "$sys/usr/share/initramfs-tools/hooks" || exit 99
cp "$B/cvm-agent" "$sys$agent" && cp "$B/libcryptsetup-token-cvm-agent.so" "$sys$plugin" || exit 99
printf 'root UUID=0a1b none luks\n' >"$sys/etc/crypttab"
cat >"$sys/etc/cvm-agent/agent.conf" <<'EOF'
[Verifier]
URL=https://attest.example.com
BootDeadline=2min 5s
[TPM]
TCTI=device:/dev/tpmrm0
[TLS]
CAFile=/etc/cvm-agent/old-ca.pem
EOF
cat >"$sys/etc/cvm-agent/agent.conf.d/50-site.conf" <<'EOF'
[TLS]
; the drop-in's CA wins
CAFile = /etc/cvm-agent/site-ca.pem
[SNP]
VCEKChain=/etc/cvm-agent/vcek-chain.pem
EOF
echo site >"$sys/etc/cvm-agent/site-ca.pem"
echo chain >"$sys/etc/cvm-agent/vcek-chain.pem"
echo old >"$sys/etc/cvm-agent/old-ca.pem"
chmod 600 "$sys/etc/cvm-agent/agent.conf"
chmod 640 "$sys/etc/cvm-agent/agent.conf.d/50-site.conf"

# run_hook DEST: the hook as mkinitramfs runs it.
run_hook() {
        local d
        rm -rf "$1" && mkdir -p "$1"
        # mkinitramfs's layout: usr-merged like the host, and its directories.
        for d in /bin /lib* /sbin; do
                mkdir -p "$1/usr$d" && ln -s "usr$d" "$1$d"
        done
        mkdir -p "$1/conf/conf.d" "$1/etc" "$1/run" "$1/scripts"
        env DESTDIR="$1" verbose=n version="$(uname -r)" MODULES=most CONFDIR=/etc/initramfs-tools \
                CVM_AGENT_SYSROOT="$sys" sh "$HOOK" >"$tmp/hook.out" 2>&1
}
in_dest() { [ -e "$1$2" ] || [ -e "$1/usr$2" ]; }

# --- nothing to do ---
run_hook "$tmp/d0"
rc=$?
check "hook without a marked crypttab entry: exit 0" test $rc -eq 0
check "... and copies nothing" test -z "$(find "$tmp/d0" -type f -print -quit)"

printf 'root UUID=0a1b none luks,discard,token-type=cvm-agent\n' >"$sys/etc/crypttab"
run_hook "$tmp/d1"
check "hook without cryptsetup-initramfs: copies nothing" test -z "$(find "$tmp/d1" -type f -print -quit)"
if grep -q 'cryptsetup-initramfs is not installed' "$tmp/hook.out"; then
        ok "... and says why"
else
        not_ok "... and says why" "$(cat "$tmp/hook.out")"
fi
: >"$sys/usr/share/initramfs-tools/hooks/cryptroot"

# --- the real thing ---
D=$tmp/dest
run_hook "$D"
rc=$?
if [ $rc -eq 0 ]; then ok "hook: exit 0"; else not_ok "hook: exit $rc" "$(cat "$tmp/hook.out")"; fi
check "hook: the agent, executable" test -x "$D$agent"
check "hook: the token plugin in libcryptsetup's directory" test -e "$D$plugin"
for lib in libcrypto.so.3 libjson-c.so.5 libcurl.so.4 libtss2-esys.so.0 libtss2-tctildr.so.0 \
        libcryptsetup.so.12 libtss2-tcti-device.so.0; do
        if [ -n "$(find "$D" -name "$lib" -print -quit)" ]; then
                ok "hook: $lib"
        else
                not_ok "hook: $lib missing"
        fi
done
for f in /etc/cvm-agent/agent.conf /etc/cvm-agent/agent.conf.d/50-site.conf; do
        if cmp -s "$sys$f" "$D$f" &&
                [ "$(stat -c %a "$sys$f")" = "$(stat -c %a "$D$f")" ]; then
                ok "hook: $f, same bytes and mode"
        else
                not_ok "hook: $f differs or is missing"
        fi
done
check "hook: CAFile= of the drop-in" cmp -s "$sys/etc/cvm-agent/site-ca.pem" "$D/etc/cvm-agent/site-ca.pem"
check "hook: not the CAFile= it replaced" test ! -e "$D/etc/cvm-agent/old-ca.pem"
check "hook: VCEKChain=" cmp -s "$sys/etc/cvm-agent/vcek-chain.pem" "$D/etc/cvm-agent/vcek-chain.pem"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        check "hook: the system's CA bundle" test -s "$D/etc/ssl/certs/ca-certificates.crt"
fi
check "hook: timeout(1)" in_dest "$D" /bin/timeout
if [ "$(cat "$D/conf/cvm-agent.conf" 2>/dev/null)" = "CVM_AGENT_DEADLINE=125" ]; then
        ok "hook: BootDeadline=2min 5s is 125 s in /conf/cvm-agent.conf"
else
        not_ok "hook: /conf/cvm-agent.conf" "$(cat "$D/conf/cvm-agent.conf" 2>&1)"
fi

# What was copied is enough to run: as mkinitramfs does, make the loader cache, then run the
# agent and load the plugin inside the DESTDIR.
command -v ldconfig >/dev/null && ldconfig -r "$D" 2>/dev/null
out=$(chroot "$D" "$agent" --version 2>&1)
if [ "$out" = "cvm-agent $(sed -n 's/^PACKAGE_VERSION = //p' "$B/Makefile")" ]; then
        ok "the initrd's agent runs: $out"
else
        not_ok "the initrd's agent does not run" "$out"
fi
loader=$(for l in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
        in_dest "$D" "$l" && { echo "$l"; break; }; done)
if [ -n "$loader" ]; then
        out=$(chroot "$D" "$loader" --list "$plugin" 2>&1)
        if [ $? -eq 0 ] && ! printf '%s\n' "$out" | grep -q 'not found'; then
                ok "the initrd's token plugin finds every library"
        else
                not_ok "the initrd's token plugin lacks libraries" "$out"
        fi
fi

# A bad BootDeadline= falls back to 90 s with a warning.
printf '[Verifier]\nBootDeadline=soonish\n' >"$sys/etc/cvm-agent/agent.conf.d/90-bad.conf"
run_hook "$tmp/d2"
if grep -q 'CVM_AGENT_DEADLINE=90' "$tmp/d2/conf/cvm-agent.conf" && grep -q soonish "$tmp/hook.out"; then
        ok "hook: a bad BootDeadline= means 90 s, and a warning"
else
        not_ok "hook: bad BootDeadline=" "$(cat "$tmp/hook.out")" "$(cat "$tmp/d2/conf/cvm-agent.conf")"
fi
rm -rf "$tmp/d2"

# --- the local-top script, in the DESTDIR ---
bb=$(command -v busybox)
if [ -z "$bb" ]; then
        ok "local-top # SKIP busybox is not installed"
        echo "$((n - failed)) passed, $failed failed"
        [ "$failed" -eq 0 ]
        exit
fi
mkdir -p "$D/bin" "$D/scripts/local-top" "$D/lib/cryptsetup" "$D/cryptroot" "$D/proc" \
        "$D/run" "$D/etc" "$D/dev" || exit 99
mknod -m 666 "$D/dev/null" c 1 3 || exit 99
for x in $(ldd "$bb" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p'); do
        in_dest "$D" "$x" || { mkdir -p "$D$(dirname "$x")" && cp "$x" "$D$x"; }
done
cp "$bb" "$D/bin/busybox" || exit 99
for a in sh cat mkdir rm sleep grep kill mount echo sed touch printf; do
        ln -sf busybox "$D/bin/$a"
done
cp "$LOCALTOP" "$D/scripts/local-top/cvm-agent"
# The stand-in agent: records its arguments, says one line, and opens the volume unless told
# to fail.
mv "$D$agent" "$D$agent.real"
cat >"$D$agent" <<'EOF'
#!/bin/sh
echo "$*" >>/run/agent.args
echo "cvm-agent: Attesting at https://attest.example.com" >&2
name=
while [ $# -gt 0 ]; do [ "$1" = --name ] && name=$2; shift; done
[ -e "/run/fail-$name" ] && { echo "cvm-agent: no verifier answered" >&2; exit 6; }
touch "/run/dm-$name"
EOF
chmod 755 "$D$agent"
# The stand-in cryptsetup: a LUKS2 header's JSON, with a cvm-agent token unless told otherwise.
mkdir -p "$D/sbin"
cat >"$D/sbin/cryptsetup" <<'EOF'
#!/bin/sh
[ "$1" = luksDump ] && [ "$2" = --dump-json-metadata ] || exit 1
type=cvm-agent
[ -e "/run/notoken-${3##*/resolved-}" ] && type=systemd-tpm2
printf '{\n  "tokens":{\n    "0":{\n      "type":"%s",\n      "keyslots":["1"]\n    }\n  }\n}\n' "$type"
EOF
chmod 755 "$D/sbin/cryptsetup"
# initramfs-tools' functions the script uses; configure_networking as ipconfig leaves it.
cat >"$D/scripts/functions" <<'EOF'
wait_for_udev() { :; }
configure_networking() {
        echo "IP=$IP" >>/run/net.calls
        if [ -e /run/net-slow ]; then
                echo "9999.00 0" >/proc/uptime
                while [ ! -e /run/stop ]; do sleep 0.2; done
                return 1
        fi
        printf 'DEVICE=eth0\nIPV4DNS0=10.0.2.3\nIPV4DNS1=0.0.0.0\nDNSDOMAIN=example.com\n' >/run/net-eth0.conf
}
EOF
# cryptsetup's functions (/lib/cryptsetup/functions), as far as the script uses them.
cat >"$D/lib/cryptsetup/functions" <<'EOF'
TABFILE=/cryptroot/crypttab
crypttab_foreach_entry() {
        while read -r CRYPTTAB_NAME CRYPTTAB_SOURCE CRYPTTAB_KEY CRYPTTAB_OPTIONS; do
                "$1"
        done <"$TABFILE"
}
crypttab_resolve_source() { [ -e "/run/src${CRYPTTAB_SOURCE#/dev}" ] && CRYPTTAB_SOURCE=/dev/resolved-${CRYPTTAB_SOURCE#/dev/}; }
dm_blkdevname() { [ -e "/run/dm-$1" ] && echo "/dev/dm-0"; }
EOF
cat >"$D/cryptroot/crypttab" <<'EOF'
root /dev/vda3 none luks,token-type=cvm-agent
data /dev/vdb none luks
open /dev/vdc none luks,token-type=cvm-agent
home /dev/vdd none luks,discard,token-type=cvm-agent
gone /dev/vde none luks,token-type=cvm-agent
EOF
# run_localtop: a fresh /run, uptime 100 s, the sources that exist.
run_localtop() {
        rm -rf "$D/run" && mkdir -p "$D/run/src" && rm -f "$D/etc/resolv.conf"
        echo "100.00 0" >"$D/proc/uptime"
        touch "$D/run/src/vda3" "$D/run/src/vdb" "$D/run/src/vdc" "$D/run/src/vdd" "$D/run/dm-open"
        for x in "$@"; do touch "$D/run/$x"; done
        chroot "$D" /bin/sh -c 'IP= /bin/sh /scripts/local-top/cvm-agent' >"$tmp/lt.out" 2>&1
}
run_localtop fail-home
rc=$?
check "local-top: exit 0" test $rc -eq 0
# The clock stands still (uptime 100 s): each call gets the whole deadline, BootDeadline=2min 5s.
want="unlock /dev/resolved-vda3 --name root --deadline 125s
unlock /dev/resolved-vdd --name home --deadline 125s"
if [ "$(cat "$D/run/agent.args" 2>/dev/null)" = "$want" ]; then
        ok "local-top: the agent for the marked entries whose volume is not open and whose source is there"
else
        not_ok "local-top: agent calls" "$(cat "$D/run/agent.args" 2>&1)" "output:" "$(cat "$tmp/lt.out")"
fi
if [ "$(cat "$D/run/net.calls" 2>/dev/null)" = "IP=dhcp" ]; then
        ok "local-top: the network once, with DHCP when ip= says nothing"
else
        not_ok "local-top: network calls" "$(cat "$D/run/net.calls" 2>&1)"
fi
if [ "$(cat "$D/etc/resolv.conf" 2>/dev/null)" = "nameserver 10.0.2.3
search example.com" ]; then
        ok "local-top: resolv.conf from the DHCP answer"
else
        not_ok "local-top: resolv.conf" "$(cat "$D/etc/resolv.conf" 2>&1)"
fi
for frag in "root: opened" "home: not opened (exit 6); the passphrase prompt follows" \
        "gone: /dev/vde not found" "Attesting at https://attest.example.com" "no verifier answered"; do
        if grep -qF "cvm-agent: $frag" "$tmp/lt.out"; then
                ok "local-top says: $frag"
        else
                not_ok "local-top does not say: $frag" "$(cat "$tmp/lt.out")"
        fi
done
# A volume whose header has no cvm-agent token (not enrolled yet): no agent, and no network for
# it; the other volume still gets both.
run_localtop notoken-vda3
if [ "$(cat "$D/run/agent.args" 2>/dev/null)" = "unlock /dev/resolved-vdd --name home --deadline 125s" ] &&
   grep -qF "cvm-agent: root: no cvm-agent token on /dev/resolved-vda3 (not enrolled)" "$tmp/lt.out"; then
        ok "local-top: a header without a cvm-agent token goes to the passphrase at once"
else
        not_ok "local-top: no token" "$(cat "$D/run/agent.args" 2>&1)" "$(cat "$tmp/lt.out")"
fi
run_localtop notoken-vda3 notoken-vdd
if [ ! -e "$D/run/agent.args" ] && [ ! -e "$D/run/net.calls" ]; then
        ok "local-top: no volume enrolled: neither the network nor the agent"
else
        not_ok "local-top: nothing enrolled" "$(cat "$D/run/agent.args" "$D/run/net.calls" 2>&1)"
fi
# The network outlives a 2 s deadline: no agent at all, and no wait beyond it.
cp "$D/conf/cvm-agent.conf" "$tmp/deadline.conf"
echo CVM_AGENT_DEADLINE=2 >"$D/conf/cvm-agent.conf"
start=$(date +%s)
run_localtop net-slow
took=$(($(date +%s) - start))
touch "$D/run/stop"
cp "$tmp/deadline.conf" "$D/conf/cvm-agent.conf"
if [ ! -e "$D/run/agent.args" ] && grep -q 'no network before the deadline' "$tmp/lt.out"; then
        ok "local-top: past the deadline, the volumes are left to the passphrase"
else
        not_ok "local-top: deadline" "$(cat "$D/run/agent.args" 2>&1)" "$(cat "$tmp/lt.out")"
fi
# The only other wait is the 5 s for the missing source of "gone".
if [ "$took" -le 12 ]; then
        ok "local-top: gave up in ${took} s"
else
        not_ok "local-top: took ${took} s with a 2 s deadline"
fi
mv "$D$agent.real" "$D$agent"

if command -v shellcheck >/dev/null 2>&1; then
        if out=$(shellcheck -S warning -s sh -e SC1090,SC1091,SC3043 "$HOOK" "$LOCALTOP" 2>&1); then
                ok "shellcheck: the hook and the local-top script"
        else
                not_ok "shellcheck" "$(printf '%s\n' "$out" | head -n 20)"
        fi
fi

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
