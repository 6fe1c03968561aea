#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-simd qemu-tpm --azure`, the paravisor in front of QEMU's swtpm, without QEMU: the state is
# provisioned by `cvm-sim up --azure` (then `down`), swtpm runs on it with a unix control socket
# and no --server, as QEMU's `-tpmdev emulator` wants it, and sim-qemu-probe plays QEMU's part
# (control commands, CMD_SET_DATAFD with a socketpair end, TPM commands through it, the HCL report
# following NV 0x01400002). Then SIGTERM must stop the proxy cleanly.
# Prints "ok N - ..." / "not ok N - ...". Exit 0 pass, 1 fail, 77 skip, 99 hard error.

set -u

here=$(cd "$(dirname "$0")" && pwd -P)
: "${top_builddir:=$(cd "$here/../.." && pwd -P)}"
: "${top_srcdir:=$(cd "$here/../.." && pwd -P)}"
export top_builddir
simbuild=${CVM_SIM_BUILDDIR:-$top_builddir/tests/sim}
export CVM_SIM_BUILDDIR=$simbuild
cvmsim=$here/cvm-sim
simd=$simbuild/cvm-simd
probe=$simbuild/sim-qemu-probe
vectors=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
LOG=ubuntu-2404-amd-sevsnp.bin

n=0
failures=0
check() {
        local what=$1
        shift
        n=$((n + 1))
        if "$@"; then
                echo "ok $n - $what"
        else
                echo "not ok $n - $what"
                failures=$((failures + 1))
        fi
}
hard() {
        echo "ERROR: $*" >&2
        exit 99
}
skip() {
        echo "SKIP: $*" >&2
        exit 77
}

[ -c /dev/fuse ] || skip "no /dev/fuse"
for tool in swtpm swtpm_setup; do
        command -v $tool >/dev/null 2>&1 || skip "$tool not found (swtpm, swtpm-tools)"
done
[ -f "$vectors/eventlog/go-tpm-tools/$LOG" ] || skip "no event log vectors in $vectors"
[ -x "$simd" ] || hard "$simd not built"
[ -x "$probe" ] || hard "$probe not built"
export CVM_VECTORS=$vectors

# unix socket paths must stay below 108 bytes
parent=$top_builddir/tests/sim
[ ${#parent} -gt 60 ] && parent=${TMPDIR:-/tmp}
work=$(mktemp -d "$parent/test-sim-qemu.XXXXXX") || hard "mktemp failed"
sim=$work/sim
swtpm_pid=
simd_pid=
cleanup() {
        [ -n "$simd_pid" ] && kill "$simd_pid" 2>/dev/null && wait "$simd_pid" 2>/dev/null
        [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null && wait "$swtpm_pid" 2>/dev/null
        "$cvmsim" down --dir "$sim" >/dev/null 2>&1
        if [ $failures -eq 0 ] || [ -z "${KEEP:-}" ]; then
                rm -rf "$work"
        else
                echo "kept $work" >&2
        fi
}
trap cleanup EXIT
trap 'exit 99' INT TERM
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

# Waits up to 5 s for the unix socket $1 while process $2 lives.
wait_socket() {
        local i
        for i in $(seq 250); do
                [ -S "$1" ] && return 0
                kill -0 "$2" 2>/dev/null || return 1
                sleep 0.02
        done
        return 1
}

out=$("$cvmsim" up --dir "$sim" --azure 2>"$work/up.err")
rc=$?
[ $rc -eq 2 ] && skip "FUSE unavailable"
[ $rc -eq 0 ] || hard "cvm-sim up --azure failed: $(tail -5 "$work/up.err")"
"$cvmsim" down --dir "$sim" >/dev/null 2>&1 || hard "cvm-sim down failed"

swtpm socket --tpm2 --tpmstate dir="$sim/tpm" --ctrl type=unixio,path="$work/swtpm.ctrl" \
        --log file="$work/swtpm.log",level=1 </dev/null &
swtpm_pid=$!
wait_socket "$work/swtpm.ctrl" $swtpm_pid || hard "swtpm did not start (see $work/swtpm.log)"
"$simd" qemu-tpm --dir "$sim" --listen "$work/tpm.sock" --swtpm-ctrl "$work/swtpm.ctrl" \
        --azure 2>"$work/qemu-tpm.log" &
simd_pid=$!
check "cvm-simd qemu-tpm listens on its socket" wait_socket "$work/tpm.sock" $simd_pid

"$probe" "$work/tpm.sock" >"$work/probe.out" 2>&1
rc=$?
sed 's/^/# /' "$work/probe.out"
check "sim-qemu-probe: QEMU's side of the control protocol and the data channel" [ $rc -eq 0 ]
check "the proxy logged the refusal, the data channel and the refresh" \
        eval 'grep -q "other than CMD_SET_DATAFD" "$work/qemu-tpm.log" &&
                grep -q "data channel now runs through the proxy" "$work/qemu-tpm.log" &&
                grep -q "boot-time HCL report written" "$work/qemu-tpm.log" &&
                grep -q "NV 0x01400002 written: HCL report refreshed" "$work/qemu-tpm.log"'

# CMD_SHUTDOWN ends swtpm
for i in $(seq 250); do
        kill -0 $swtpm_pid 2>/dev/null || break
        sleep 0.02
done
check "swtpm ended after CMD_SHUTDOWN" eval '! kill -0 $swtpm_pid 2>/dev/null'
kill $swtpm_pid 2>/dev/null # still there when the probe failed: no wait forever
wait $swtpm_pid 2>/dev/null
swtpm_pid=

kill -TERM $simd_pid
for i in $(seq 250); do
        kill -0 $simd_pid 2>/dev/null || break
        sleep 0.02
done
kill -KILL $simd_pid 2>/dev/null # a proxy that ignores SIGTERM fails below, and is not waited for forever
wait $simd_pid
rc=$?
simd_pid=
check "SIGTERM stops the proxy with exit 0 and removes its socket" \
        eval '[ $rc -eq 0 ] && [ ! -e "$work/tpm.sock" ] && grep -q Stopped "$work/qemu-tpm.log"'

if [ $failures -ne 0 ]; then
        sed 's/^/# qemu-tpm: /' "$work/qemu-tpm.log"
fi
echo "1..$n"
[ $failures -eq 0 ]
