#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-verifier check token --require-tee` against signing certificates made as the verifier
# service makes them (verifier/tee-cert.h, driven by tee-helper), with the SEV-SNP simulator
# playing the firmware: the report is fetched through configfs-tsm and through /dev/sev-guest,
# bound to the signing key, put in the certificate, published as x5c, and the token verifies with
# the simulator's ARK as an extra root; the pinned measurement must match. A transplanted report
# (another key's), a certificate without the extension, a key without a certificate, a changed
# report byte, a debuggable guest, an untrusted chain: exit 4 with one line saying what.
#
# Exit 0 pass, 1 fail, 77 skip (simulator not built or no FUSE), 99 setup error.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BIN=$top_builddir/cvm-verifier
H=$top_builddir/tests/integration/tee-helper
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }
[ -x "$BIN" ] && [ -x "$H" ] || { echo "cvm-verifier or tee-helper not built"; exit 99; }

mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/tee-token.XXXXXX") || exit 99
VERDICT_ON_STDOUT=1
. "$top_srcdir/tests/integration/lib.sh"
cleanup() {
        sim_down_all
        rm -rf "$tmp"
}
trap cleanup EXIT

# run ARGS...: cvm-verifier check token ARGS; rc, stdout in $tmp/out, stderr in $tmp/err.
run() {
        "$BIN" check token "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
        rc=$?
}
# helper ARGS...: tee-helper, which must succeed (a setup step).
helper() {
        "$H" "$@" 2>"$tmp/helper.err" ||
                { echo "tee-helper $*: $(cat "$tmp/helper.err")"; exit 99; }
}
# token NAME KEY CERT: a JWKS publishing CERT (kid NAME) and a token signed by KEY with that kid.
token() {
        helper jwks "$3" "$1" "$tmp/$1.jwks"
        helper sign "$2" "$1" https://tee.test "$tmp/$1.jwt"
}

sim_up "$tmp/sim"
ROOT=$CVM_SIM_ROOT
MEAS=$("$SIM" show --dir "$CVM_SIM_DIR" | sed -n 's/^measurement=//p')
[ ${#MEAS} -eq 96 ] || { echo "cannot read the simulator's measurement"; exit 99; }
OTHER=${MEAS%?}$([ "${MEAS: -1}" = 0 ] && echo 1 || echo 0)

echo "# 1. a certificate bound to the key by the (simulated) firmware"
helper key "$tmp/k.pem" rsa
helper cert "$tmp/k.pem" "$tmp/k.crt"
token good "$tmp/k.pem" "$tmp/k.crt"
expect "the token verifies without --require-tee" 0 "" "$tmp/good.jwt" --jwks "$tmp/good.jwks"
expect "--require-tee with the simulator's ARK" 0 "" "$tmp/good.jwt" --jwks "$tmp/good.jwks" \
        --require-tee --trust-root "$ROOT"
if head -n 1 "$tmp/out" | grep -qF "key in an SEV-SNP guest (Milan), measurement $MEAS"; then
        ok "the verdict names the TEE and the measurement"
else
        not_ok "the verdict names the TEE and the measurement" "$(head -n 1 "$tmp/out")"
fi
expect "--measurement of the simulator" 0 "" "$tmp/good.jwt" --jwks "$tmp/good.jwks" \
        --require-tee --trust-root "$ROOT" --measurement "$MEAS"
expect "--measurement in upper case" 0 "" "$tmp/good.jwt" --jwks "$tmp/good.jwks" \
        --require-tee --trust-root "$ROOT" --measurement "$(echo "$MEAS" | tr a-f A-F)"
expect "another --measurement" 4 "measurement differs: want $OTHER, got $MEAS" \
        "$tmp/good.jwt" --jwks "$tmp/good.jwks" --require-tee --trust-root "$ROOT" \
        --measurement "$OTHER"
expect "the certificate as --key" 0 "" "$tmp/good.jwt" --key "$tmp/k.crt" --require-tee \
        --trust-root "$ROOT"
run "$tmp/good.jwt" --jwks "$tmp/good.jwks" --require-tee --trust-root "$ROOT" --json
if check_run "--json" 0 ""; then
        chip=$("$SIM" show --dir "$CVM_SIM_DIR" | sed -n 's/^chip_id=//p')
        bad=()
        [ "$(jval measurement)" = "$MEAS" ] || bad+=("measurement '$(jval measurement)'")
        [ "$(jval chip_id)" = "$chip" ] || bad+=("chip_id '$(jval chip_id)'")
        [ "$(jval debug)" = false ] || bad+=("policy.debug '$(jval debug)'")
        [ "$(jval product)" = Milan ] || bad+=("product '$(jval product)'")
        grep -q '"tee": {' "$tmp/out" || bad+=("no \"tee\" object")
        [ "$(grep -c '"verified": true' "$tmp/out")" -eq 2 ] || bad+=("not verified twice")
        if [ ${#bad[@]} -eq 0 ]; then
                ok "--json: a \"tee\" object with measurement, chip id, TCB and policy"
        else
                not_ok "--json" "${bad[@]}"
        fi
fi

echo "# 2. the chain: only with the simulator's root"
expect "no --trust-root: AMD's roots do not trust the simulator" 4 \
        "TEE evidence: the report's signing key" "$tmp/good.jwt" --jwks "$tmp/good.jwks" \
        --require-tee
FIXTURE_ARK=$top_srcdir/tests/fixtures/tee/tee-sim-ark.pem
if cmp -s "$FIXTURE_ARK" "$ROOT"; then
        skip "another simulator's root" "the CA cache made the same ARK"
else
        expect "another simulator's root" 4 "TEE evidence" "$tmp/good.jwt" \
                --jwks "$tmp/good.jwks" --require-tee --trust-root "$FIXTURE_ARK"
fi

echo "# 3. the report through /dev/sev-guest (the LD_PRELOAD shim)"
CVM_TSM_REPORT_DIR=$tmp/none LD_PRELOAD=$CVM_SIM_PRELOAD helper cert "$tmp/k.pem" "$tmp/k-ioctl.crt"
token ioctl "$tmp/k.pem" "$tmp/k-ioctl.crt"
expect "a certificate made through the ioctl" 0 "" "$tmp/ioctl.jwt" --jwks "$tmp/ioctl.jwks" \
        --require-tee --trust-root "$ROOT" --measurement "$MEAS"
CVM_TSM_REPORT_DIR=$tmp/none CVM_SEV_GUEST_DEVICE=$tmp/none "$H" cert "$tmp/k.pem" "$tmp/x.crt" \
        2>"$tmp/err"
rc=$?
[ $rc -eq 6 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok "no SNP firmware: collecting fails (6)" ||
        not_ok "no SNP firmware: collecting fails (6)" "exit $rc" "$(cat "$tmp/err")"

echo "# 4. evidence that does not hold: exit 4"
helper cert-plain "$tmp/k.pem" "$tmp/plain.crt"
token plain "$tmp/k.pem" "$tmp/plain.crt"
expect "plain certificate (no extension)" 4 "no TEE evidence in the signing certificate" \
        "$tmp/plain.jwt" --jwks "$tmp/plain.jwks" --require-tee --trust-root "$ROOT"
openssl x509 -in "$tmp/k.crt" -noout -pubkey >"$tmp/k.pub" 2>/dev/null || exit 99
expect "a bare public key (no certificate)" 4 "has no certificate" "$tmp/good.jwt" \
        --key "$tmp/k.pub" --require-tee --trust-root "$ROOT"

# The first key's report, VCEK and ASK in a certificate for a second key: a transplant.
helper collect "$tmp/k.pem" "$tmp/k.report" "$tmp/vcek.der" "$tmp/ask.der"
helper key "$tmp/k2.pem" ec
helper cert "$tmp/k2.pem" "$tmp/k2-transplant.crt" "$tmp/k.report" "$tmp/vcek.der" "$tmp/ask.der"
token swap "$tmp/k2.pem" "$tmp/k2-transplant.crt"
expect "another key's report (transplanted)" 4 "not bound to the signing key" \
        "$tmp/swap.jwt" --jwks "$tmp/swap.jwks" --require-tee --trust-root "$ROOT"
expect "  ... and the token itself still verifies" 0 "" "$tmp/swap.jwt" --jwks "$tmp/swap.jwks"
if command -v jq >/dev/null 2>&1; then
        # The second key's JWK (x, y) with the first key's certificate as x5c: the JWKS parser
        # refuses a key that differs from its own x5c[0], before any TEE check.
        jq -c --slurpfile g "$tmp/good.jwks" '.keys[0].x5c = $g[0].keys[0].x5c' "$tmp/swap.jwks" \
                >"$tmp/mixed.jwks"
        expect "a JWK whose x5c is another key's certificate" 3 "" "$tmp/swap.jwt" \
                --jwks "$tmp/mixed.jwks" --require-tee --trust-root "$ROOT"
else
        skip "a JWK whose x5c is another key's certificate" "no jq"
fi

# One byte of the report changed before it goes into an otherwise good certificate: the
# certificate's own signature is fine, the report's is not.
for spec in "MEASUREMENT:$((0x90))" "REPORT_DATA:$((0x50 + 7))" "CHIP_ID:$((0x1a0))" \
        "HOST_DATA:$((0xc0))" "SIGNATURE:$((0x2a0 + 3))"; do
        what=${spec%%:*} off=${spec#*:}
        cp "$tmp/k.report" "$tmp/tampered.report"
        b=$(od -An -tu1 -j "$off" -N1 "$tmp/k.report" | tr -d ' ')
        printf "\\$(printf '%03o' $(((b + 1) % 256)))" |
                dd of="$tmp/tampered.report" bs=1 seek="$off" conv=notrunc status=none
        helper cert "$tmp/k.pem" "$tmp/t.crt" "$tmp/tampered.report" "$tmp/vcek.der" "$tmp/ask.der"
        token tampered "$tmp/k.pem" "$tmp/t.crt"
        expect "report byte changed ($what)" 4 "TEE evidence" "$tmp/tampered.jwt" \
                --jwks "$tmp/tampered.jwks" --require-tee --trust-root "$ROOT"
done
helper cert "$tmp/k.pem" "$tmp/novcek.crt" "$tmp/k.report"
token novcek "$tmp/k.pem" "$tmp/novcek.crt"
expect "a report without its VCEK" 4 "no VCEK" "$tmp/novcek.jwt" --jwks "$tmp/novcek.jwks" \
        --require-tee --trust-root "$ROOT"
helper cert "$tmp/k.pem" "$tmp/noask.crt" "$tmp/k.report" "$tmp/vcek.der"
token noask "$tmp/k.pem" "$tmp/noask.crt"
expect "no ASK in the extension: the root alone is not enough" 4 "TEE evidence" \
        "$tmp/noask.jwt" --jwks "$tmp/noask.jwks" --require-tee --trust-root "$ROOT"
expect "  ... but with the ASK as a --trust-root too" 0 "" "$tmp/noask.jwt" \
        --jwks "$tmp/noask.jwks" --require-tee --trust-root "$ROOT" \
        --trust-root "$CVM_SIM_DIR/ask.pem"

# A guest whose policy lets the host debug it.
"$SIM" set --dir "$CVM_SIM_DIR" policy=0x00000000000b0000 >/dev/null 2>&1 || exit 99
helper cert "$tmp/k.pem" "$tmp/debug.crt"
"$SIM" set --dir "$CVM_SIM_DIR" policy=0x0000000000030000 >/dev/null 2>&1 || exit 99
token debug "$tmp/k.pem" "$tmp/debug.crt"
expect "a debuggable guest" 4 "POLICY.DEBUG" "$tmp/debug.jwt" --jwks "$tmp/debug.jwks" \
        --require-tee --trust-root "$ROOT"
run "$tmp/debug.jwt" --jwks "$tmp/debug.jwks" --require-tee --trust-root "$ROOT" --json
if [ "$rc" -eq 4 ] && grep -q '"tee": {' "$tmp/out" && grep -q '"verified": false' "$tmp/out"; then
        ok "--json of a failed TEE check: \"tee\" with the reason, verified false"
else
        not_ok "--json of a failed TEE check" "exit $rc"
fi

echo "# 5. another product (Turin, report version 5)"
sim_up "$tmp/turin" --product turin --report-version 5
helper cert "$tmp/k.pem" "$tmp/turin.crt"
token turin "$tmp/k.pem" "$tmp/turin.crt"
expect "Turin" 0 "" "$tmp/turin.jwt" --jwks "$tmp/turin.jwks" --require-tee \
        --trust-root "$CVM_SIM_ROOT"
expect "Turin's report with Milan's root" 4 "TEE evidence" "$tmp/turin.jwt" \
        --jwks "$tmp/turin.jwks" --require-tee --trust-root "$ROOT"

echo "# 6. usage"
expect "--measurement without --require-tee" 2 "need --require-tee" "$tmp/good.jwt" \
        --jwks "$tmp/good.jwks" --measurement "$MEAS"
expect "--trust-root without --require-tee" 2 "need --require-tee" "$tmp/good.jwt" \
        --jwks "$tmp/good.jwks" --trust-root "$ROOT"
expect "--measurement too short" 2 "96 hex digits" "$tmp/good.jwt" --jwks "$tmp/good.jwks" \
        --require-tee --measurement "${MEAS%??}"
expect "--measurement not hex" 2 "hex digits" "$tmp/good.jwt" --jwks "$tmp/good.jwks" \
        --require-tee --measurement "${MEAS%?}g"
expect "--trust-root that does not exist" 2 "Cannot read trust root" "$tmp/good.jwt" \
        --jwks "$tmp/good.jwks" --require-tee --trust-root "$tmp/none.pem"
expect "--trust-root that is not a certificate" 3 "--trust-root" "$tmp/good.jwt" \
        --jwks "$tmp/good.jwks" --require-tee --trust-root "$tmp/good.jwks"

finish
