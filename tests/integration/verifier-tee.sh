#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Trust in the verifier itself: cvm-verifier serving in an SEV-SNP guest (the simulator plays the
# firmware) publishes signing certificates that carry the guest's own report bound to the key;
# `cvm-verifier check token --issuer URL --require-tee` checks a token it issued, with the
# measurement pinned. TEEAttestation=yes outside a guest refuses to start; =no never embeds.
# Exit 0 pass, 1 fail, 77 skip, 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
V=${CVM_VECTORS:-}
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in curl jq; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -n "$V" ] && [ -d "$V" ] || { echo "skip: no vectors"; exit 77; }
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/verifier-tee.XXXXXX") || exit 99
pid=
. "$top_srcdir/tests/integration/lib.sh"
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; sim_down_all; rm -rf "$tmp"; }
trap cleanup EXIT
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# start TEE: a service with TEEAttestation=TEE; sets url, or returns 1 with the log in server.log
start() {
        printf '[Service]\nListen=127.0.0.1:0\nStateDirectory=%s/state\n[Signing]\nTEEAttestation=%s\n[SigningKey]\nKey=ephemeral\n[SNP]\nKDS=\nVCEKCache=%s/kds\nCheckRevocation=no\n' \
                "$tmp" "$1" "$tmp" >"$tmp/verifier.conf"
        : >"$tmp/url"
        rm -f "$tmp/url" # a new server writes it: never read the last one's
        "$VERIFIER" serve --config "$tmp/verifier.conf" >"$tmp/url" 2>"$tmp/server.log" &
        pid=$!
        for _ in $(seq 100); do [ -s "$tmp/url" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
        url=$(head -n 1 "$tmp/url")
        [ -n "$url" ]
}
stop() { [ -n "$pid" ] && kill -TERM "$pid" && wait "$pid"; pid=; }
token() { # a token for a real Azure report
        local TAZ=$V/azure/trustee-az-snp-vtpm hcl size
        hcl=$TAZ/hcl-report.bin
        head -c $((0x20 + 1184)) "$hcl" | tail -c 1184 >"$tmp/report.bin"
        size=$(od -An -tu4 -j $((0x4d0)) -N4 "$hcl" | tr -d ' ')
        dd if="$hcl" of="$tmp/runtime.json" bs=1 skip=$((0x4d4)) count="$size" status=none
        jq -cn --arg r "$(b64url <"$tmp/report.bin")" --arg c "$(b64url <"$TAZ/vcek.pem")" \
                '{SnpReport: $r, VcekCertChain: $c}' >"$tmp/inner.json"
        jq -cn --arg rep "$(tr -d '\n' <"$tmp/inner.json" | b64url)" --arg rt "$(b64url <"$tmp/runtime.json")" \
                '{report: $rep, runtimeData: {data: $rt, dataType: "JSON"}}' >"$tmp/body.json"
        curl -s --max-time 20 -H 'Content-Type: application/json' --data-binary "@$tmp/body.json" \
                "$url/attest/SevSnpVm" | jq -r .token >"$tmp/token.jwt"
        [ "$(cut -d. -f1 "$tmp/token.jwt" | wc -c)" -gt 10 ]
}

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
run() { "$VERIFIER" check token "$tmp/token.jwt" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }

# Outside a guest (no simulator yet): =yes refuses to start, =auto serves without.
CVM_TSM_REPORT_DIR=$tmp/none CVM_SEV_GUEST_DEVICE=$tmp/none start yes
if [ -z "$url" ]; then
        wait "$pid" 2>/dev/null; pid=
        grep -q "TEEAttestation=yes: cannot get this guest's SEV-SNP report" "$tmp/server.log" &&
                ok "TEEAttestation=yes outside an SNP guest: refuses to start, says why" ||
                not_ok "TEEAttestation=yes outside a guest" "$(cat "$tmp/server.log")"
else
        not_ok "TEEAttestation=yes outside a guest started anyway"; stop
fi
CVM_TSM_REPORT_DIR=$tmp/none CVM_SEV_GUEST_DEVICE=$tmp/none start auto || { cat "$tmp/server.log"; exit 99; }
token || { echo "no token"; exit 99; }
run --issuer "$url"
[ $rc -eq 0 ] && ok "auto outside a guest: tokens verify" || not_ok "auto outside a guest" "$(cat "$tmp/err")"
run --issuer "$url" --require-tee
[ $rc -eq 4 ] && ok "... and --require-tee refuses them (exit 4)" || not_ok "--require-tee without TEE evidence" "exit $rc: $(cat "$tmp/err")"
stop

# In the (simulated) guest.
sim_up "$tmp/sim"
MEAS=$("$SIM" show --dir "$CVM_SIM_DIR" | sed -n 's/^measurement=//p')
[ ${#MEAS} -eq 96 ] || { echo "cannot read the simulator's measurement"; exit 99; }
OTHER=${MEAS%?}$([ "${MEAS: -1}" = 0 ] && echo 1 || echo 0)
start yes || { echo "the server did not start:"; cat "$tmp/server.log"; exit 99; }
grep -q "carries this guest's SEV-SNP report (measurement $MEAS)" "$tmp/server.log" &&
        ok "TEEAttestation=yes in the guest: the signing certificate carries its report" ||
        not_ok "report in the signing certificate" "$(cat "$tmp/server.log")"
token || { echo "no token"; exit 99; }
run --issuer "$url" --require-tee --trust-root "$CVM_SIM_ROOT" --measurement "$MEAS"
[ $rc -eq 0 ] && grep -q 'SEV-SNP guest' "$tmp/out" && ok "check token --issuer --require-tee --measurement: verified" ||
        not_ok "--require-tee with the measurement" "exit $rc: $(cat "$tmp/err" "$tmp/out")"
run --issuer "$url" --require-tee --trust-root "$CVM_SIM_ROOT" --measurement "$OTHER"
[ $rc -eq 4 ] && grep -q -i 'measurement' "$tmp/err" && ok "another measurement pinned: exit 4" ||
        not_ok "wrong measurement" "exit $rc: $(cat "$tmp/err")"
run --issuer "$url" --require-tee
[ $rc -eq 4 ] && ok "without the simulator's root: exit 4 (AMD's roots only)" ||
        not_ok "no sim root" "exit $rc: $(cat "$tmp/err")"
stop
start no || { cat "$tmp/server.log"; exit 99; }
token || exit 99
run --issuer "$url" --require-tee --trust-root "$CVM_SIM_ROOT"
[ $rc -eq 4 ] && ok "TEEAttestation=no in the guest: no report embedded, --require-tee exit 4" ||
        not_ok "TEEAttestation=no" "exit $rc: $(cat "$tmp/err")"
stop

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
