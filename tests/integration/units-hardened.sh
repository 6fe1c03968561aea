#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The hardened monitor unit at work: every setting of cvm-agent-monitor.service's [Service]
# section (capabilities, devices, file system, address families, system calls, ...) is given
# to `systemd-run --wait --pipe` as properties, and under them
#  - the sandbox holds: the bounding set is empty, /etc cannot be written, a disk cannot be
#    opened, /home is empty;
#  - the agent works: it collects evidence from a vTPM (swtpm over TCP, the simulator's Azure
#    CVM: the HCL report from NV, a quote, the ephemeral key), and, where `cvm-agent monitor`
#    exists, one monitoring cycle (`monitor --once`) against a development verifier on loopback
#    leaves its state in the unit's runtime directory.
# The programs and files the sandbox runs are copied to /run/cvm-agent-hardened.PID (removed at
# exit), since ProtectHome= hides a build tree under /home or /root.
# It needs systemd as PID 1 (systemd-run asks it to start the unit): elsewhere, as on machines
# whose PID 1 is another init or a container's entry point, it is skipped (exit 77) and says so.
# Exit 0 pass, 1 fail, 77 skip, 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
B=$top_builddir
UNIT=$B/systemd/cvm-agent-monitor.service
[ -f "$UNIT" ] || { echo "missing $UNIT (make check builds it)"; exit 99; }
command -v systemd-run >/dev/null 2>&1 || { echo "skip: no systemd-run"; exit 77; }
if [ ! -d /run/systemd/system ] || [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
        echo "skip: PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown), not systemd: systemd-run cannot start units here"
        exit 77
fi
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (system units)"; exit 77; }
state=$(systemctl is-system-running 2>/dev/null)
case $state in
running | degraded | starting) ;;
*) echo "skip: systemd is '$state'"; exit 77 ;;
esac
command -v swtpm >/dev/null 2>&1 || { echo "skip: swtpm is not installed"; exit 77; }
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$B/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$B/tests/sim/test-sim-ca}
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }

tmp=$(mktemp -d "$B/tests/integration/units-hardened.XXXXXX") || exit 99
run=/run/cvm-agent-hardened.$$
rt=cvm-agent-hardened-$$
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null
      "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1; rm -rf "$tmp" "$run" "/run/$rt"' EXIT
mkdir -m 0755 "$run" || exit 99
cp "$B/cvm-agent" "$run/" || exit 99

# The unit's [Service] settings, but for how the service is started and supervised (the test
# waits for one run) and its runtime directory (its own name here).
props=()
while IFS= read -r line; do
        case $line in
        Type=* | NotifyAccess=* | ExecStart=* | TimeoutStartSec=* | WatchdogSec=* | Restart=* | \
                RestartSec=* | SyslogIdentifier=* | RuntimeDirectory=*) ;;
        *=*) props+=("--property=$line") ;;
        esac
done < <(sed -n '/^\[Service\]/,/^\[/{/^[A-Za-z]/p}' "$UNIT")
props+=("--property=RuntimeDirectory=$rt" "--property=RuntimeDirectoryPreserve=yes")
[ ${#props[@]} -gt 20 ] || { echo "read only ${#props[@]} settings from $UNIT"; exit 99; }

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
# sandboxed ARGS...: ARGS under the unit's settings; output in $tmp/out, exit status in rc.
sandboxed() {
        systemd-run --quiet --wait --pipe --collect "${props[@]}" "${envs[@]}" -- "$@" \
                >"$tmp/out" 2>&1 </dev/null
        rc=$?
}
envs=()

sandboxed /bin/sh -c 'grep ^CapBnd /proc/self/status'
if [ $rc -eq 0 ] && grep -q 'CapBnd:[[:space:]]*0*$' "$tmp/out"; then
        ok "sandbox: no capabilities"
else
        not_ok "sandbox: capabilities" "exit $rc: $(cat "$tmp/out")"
fi
sandboxed /bin/sh -c 'echo x >/etc/cvm-agent-hardened-test'
if [ $rc -ne 0 ] && [ ! -e /etc/cvm-agent-hardened-test ]; then
        ok "sandbox: /etc is read-only"
else
        rm -f /etc/cvm-agent-hardened-test
        not_ok "sandbox: wrote to /etc"
fi
disk=$(lsblk -dpno NAME 2>/dev/null | head -n 1)
if [ -n "$disk" ]; then
        sandboxed /bin/sh -c "head -c 1 $disk >/dev/null"
        if [ $rc -ne 0 ]; then ok "sandbox: $disk cannot be read"; else not_ok "sandbox: read $disk"; fi
fi
sandboxed /bin/sh -c 'ls -A /home /root 2>/dev/null | grep -v ":$" | grep -c .'
if [ "$(tail -n 1 "$tmp/out")" = 0 ]; then ok "sandbox: /home and /root are empty"; else not_ok "sandbox: /home" "$(cat "$tmp/out")"; fi

# The agent under the same settings, with a vTPM.
env=$("$SIM" up --dir "$tmp/vm" --tpm --azure 2>"$tmp/up.err")
r=$?
[ $r -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $r -eq 0 ] || { cat "$tmp/up.err"; exit 99; }
eval "$env"
case $CVM_TCTI in
swtpm:*) ;;
*) echo "the simulator's TCTI is $CVM_TCTI, not a TCP one"; exit 99 ;;
esac
cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$run/chain.pem"
envs=("--setenv=CVM_TCTI=$CVM_TCTI" "--setenv=CVM_VCEK_CHAIN=$run/chain.pem")
sandboxed "$run/cvm-agent" evidence --isolation azure --out "/run/$rt/evidence.json"
if [ $rc -eq 0 ] && grep -q '"quote"' "/run/$rt/evidence.json" 2>/dev/null; then
        ok "cvm-agent evidence works in the sandbox (TPM over TCP, locked memory, seccomp)"
else
        not_ok "cvm-agent evidence in the sandbox: exit $rc" "$(head -c 600 "$tmp/out")"
fi

if "$B/cvm-agent" monitor --help >/dev/null 2>&1; then
        "$B/cvm-verifier" serve --dev --listen 127.0.0.1:0 --trust-root "$CVM_SIM_ROOT" \
                >"$tmp/verifier.url" 2>"$tmp/verifier.log" &
        pids="$pids $!"
        for _ in $(seq 400); do [ -s "$tmp/verifier.url" ] && break; sleep 0.05; done
        url=$(head -n 1 "$tmp/verifier.url")
        [ -n "$url" ] || { cat "$tmp/verifier.log"; exit 99; }
        cat >"$run/agent.conf" <<EOF
[Verifier]
URL=$url
[TPM]
TCTI=$CVM_TCTI
[SNP]
Source=azure
VCEKChain=$run/chain.pem
EOF
        chmod 644 "$run/agent.conf"
        sandboxed "$run/cvm-agent" monitor --once --config "$run/agent.conf" --state-dir "/run/$rt"
        if [ $rc -eq 0 ] && [ -n "$(find "/run/$rt" -mindepth 1 ! -name evidence.json -print -quit)" ]; then
                ok "cvm-agent monitor --once works in the sandbox and leaves its state"
        else
                not_ok "cvm-agent monitor --once in the sandbox: exit $rc" "$(head -c 800 "$tmp/out")" \
                        "$(ls -la "/run/$rt" 2>&1)"
        fi
else
        ok "cvm-agent monitor in the sandbox # SKIP this cvm-agent has no monitor command"
fi

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
