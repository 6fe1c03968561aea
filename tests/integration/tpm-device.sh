#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs tests/integration/test-tpm-device (cmocka, TAP) against the simulator's swtpm.
# Exit 0 pass, 1 fail, 77 skip (no swtpm or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
TEST=$top_builddir/tests/integration/test-tpm-device

command -v swtpm >/dev/null 2>&1 || { echo "skip: swtpm is not installed"; exit 77; }
[ -x "$TEST" ] && [ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

dir=$(mktemp -d "$top_builddir/tests/integration/tpm-device.XXXXXX") || exit 99
trap '"$top_srcdir/tests/sim/cvm-sim" down --dir "$dir/sim" >/dev/null 2>&1; rm -rf "$dir"' EXIT
env=$("$top_srcdir/tests/sim/cvm-sim" up --dir "$dir/sim" --tpm 2>"$dir/up.err")
rc=$?
[ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $rc -eq 0 ] || { cat "$dir/up.err"; exit 99; }
eval "$env"
CMOCKA_MESSAGE_OUTPUT=TAP "$TEST"
