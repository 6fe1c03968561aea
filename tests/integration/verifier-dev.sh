#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-verifier serve --dev` on loopback, driven with curl: OpenID metadata and JWKS, and the
# real Azure SNP reports from the vectors posted to /attest/SevSnpVm as Azure's client posts them.
# The tokens must verify against /certs (`cvm-verifier check token`) and carry the report's
# fields; bad evidence, malformed and oversized bodies get MAA-style errors.
# Exit 0 pass, 1 fail, 77 skip (no curl, jq or vectors), 99 setup error.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
VERIFIER=$top_builddir/cvm-verifier
V=${CVM_VECTORS:-}
for tool in curl jq base64; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -n "$V" ] && [ -d "$V" ] || { echo "skip: no vectors"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/verifier-dev.XXXXXX") || exit 99
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

rm -f "$tmp/url" # a new server writes it: never read the last one's
"$VERIFIER" serve --dev --listen 127.0.0.1:0 >"$tmp/url" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
[ -n "$url" ] || { echo "the server did not start:"; cat "$tmp/server.log"; exit 99; }

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# post PATH FILE: sets status and leaves the body in $tmp/resp
post() {
        status=$(curl -s -o "$tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
                --data-binary "@$2" "$url$1")
}

status=$(curl -s -o "$tmp/resp" -w '%{http_code}' "$url/health")
[ "$status" = 200 ] && ok "GET /health" || not_ok "GET /health" "status $status"
curl -s "$url/.well-known/openid-configuration" >"$tmp/oidc"
[ "$(jq -r .issuer "$tmp/oidc")" = "$url" ] && [ "$(jq -r .jwks_uri "$tmp/oidc")" = "$url/certs" ] &&
        ok "OpenID metadata names the issuer and jwks_uri" || not_ok "OpenID metadata" "$(cat "$tmp/oidc")"
curl -s "$url/certs" >"$tmp/jwks"
jq -e '.keys | length == 1 and .[0].kty == "RSA" and (.[0].kid | length > 10) and (.[0].x5c | length == 1)' \
        "$tmp/jwks" >/dev/null && ok "GET /certs: a JWKS with the signing key and its certificate" ||
        not_ok "GET /certs" "$(cat "$tmp/jwks")"
jq -r '.keys[0].x5c[0]' "$tmp/jwks" | base64 -d >"$tmp/x5c.der" 2>/dev/null
openssl x509 -inform DER -in "$tmp/x5c.der" -noout -pubkey >"$tmp/x5c.pub" 2>/dev/null &&
        [ -s "$tmp/x5c.pub" ] && ok "x5c is a DER certificate" || not_ok "x5c is a DER certificate"

# body HCL VCEK [tamper]: an AttestSevSnpVm request built from a real HCL report.
body() {
        local hcl=$1 vcek=$2 size off
        head -c $((0x20 + 1184)) "$hcl" | tail -c 1184 >"$tmp/report.bin"
        size=$(od -An -tu4 -j $((0x4d0)) -N4 "$hcl" | tr -d ' ')
        dd if="$hcl" of="$tmp/runtime.json" bs=1 skip=$((0x4d4)) count="$size" status=none
        if [ "${3:-}" = tamper ]; then
                off=$((size / 2))
                printf '~' | dd of="$tmp/runtime.json" bs=1 seek=$off conv=notrunc status=none
        fi
        jq -cn --arg r "$(b64url <"$tmp/report.bin")" --arg c "$(b64url <"$vcek")" \
                '{SnpReport: $r, VcekCertChain: $c}' >"$tmp/inner.json"
        jq -cn --arg rep "$(tr -d '\n' <"$tmp/inner.json" | b64url)" \
                --arg rt "$(b64url <"$tmp/runtime.json")" --arg nonce "${4:-n-1}" \
                '{report: $rep, runtimeData: {data: $rt, dataType: "JSON"}, nonce: $nonce}' >"$tmp/body.json"
}

TAZ=$V/azure/trustee-az-snp-vtpm
for pair in "hcl-report.bin vcek.pem" "evidence-genoa.hcl-report.bin evidence-genoa.vcek.pem" \
        "evidence-v0.hcl-report.bin evidence-v0.vcek.pem" "evidence-v2.hcl-report.bin evidence-v2.vcek.pem"; do
        set -- $pair
        body "$TAZ/$1" "$TAZ/$2" "" "nonce-$1"
        post /attest/SevSnpVm "$tmp/body.json"
        if [ "$status" != 200 ]; then
                not_ok "POST /attest/SevSnpVm ($1)" "status $status: $(cat "$tmp/resp")"
                continue
        fi
        ok "POST /attest/SevSnpVm ($1): a token"
        jq -r .token "$tmp/resp" >"$tmp/token.jwt"
        if "$VERIFIER" check token "$tmp/token.jwt" --jwks "$tmp/jwks" --issuer "$url" --json \
                >"$tmp/claims.json" 2>"$tmp/err"; then
                ok "$1: the token verifies against /certs"
        else
                not_ok "$1: the token verifies against /certs" "$(cat "$tmp/err")"
                continue
        fi
        "$VERIFIER" check snp "$TAZ/$1" --certs "$TAZ/$2" --json >"$tmp/snp.json" 2>/dev/null
        same=1
        for claim in launchmeasurement reportdata chip_id idkeydigest familyId imageId hostdata \
                guestsvn vmpl is-debuggable migration-allowed smt-allowed bootloader-svn tee-svn \
                snpfw-svn microcode-svn reportid authorkeydigest; do
                [ "$claim" = chip_id ] && continue
                a=$(jq -c ".claims[\"x-ms-sevsnpvm-$claim\"]" "$tmp/claims.json")
                b=$(jq -c ".report[\"x-ms-sevsnpvm-$claim\"]" "$tmp/snp.json")
                [ "$a" = "$b" ] && [ "$a" != null ] || { same=0; echo "#   $claim: token $a, report $b"; }
        done
        [ $same = 1 ] && ok "$1: x-ms-sevsnpvm-* claims equal the report's fields" ||
                not_ok "$1: x-ms-sevsnpvm-* claims equal the report's fields"
        jq -e --arg n "nonce-$1" '.claims.nonce == $n and .claims["x-ms-attestation-type"] == "sevsnpvm"
                and .claims["x-ms-runtime"].keys[0].kid == "HCLAkPub" and .header.alg == "RS256"
                and (.claims.exp - .claims.iat) == 28800' "$tmp/claims.json" >/dev/null &&
                ok "$1: nonce, type, x-ms-runtime, RS256, 8 h" || not_ok "$1: nonce, type, x-ms-runtime, RS256, 8 h"
done

body "$TAZ/hcl-report.bin" "$TAZ/vcek.pem" tamper
post /attest/SevSnpVm "$tmp/body.json"
[ "$status" = 400 ] && jq -e '.error.code == "InvalidEvidence" and (.error.message | test("REPORT_DATA"))' \
        "$tmp/resp" >/dev/null && ok "edited runtime data: 400 InvalidEvidence naming REPORT_DATA" ||
        not_ok "edited runtime data" "status $status: $(cat "$tmp/resp")"
body "$TAZ/hcl-report.bin" "$TAZ/evidence-v0.vcek.pem"
post /attest/SevSnpVm "$tmp/body.json"
[ "$status" = 400 ] && jq -e '.error.code == "InvalidEvidence"' "$tmp/resp" >/dev/null &&
        ok "another chip's VCEK: 400 InvalidEvidence" || not_ok "another chip's VCEK" "status $status"
printf '{"report": ' >"$tmp/bad.json"
post /attest/SevSnpVm "$tmp/bad.json"
[ "$status" = 400 ] && jq -e '.error.code == "InvalidParameter"' "$tmp/resp" >/dev/null &&
        ok "malformed JSON: 400 InvalidParameter" || not_ok "malformed JSON" "status $status"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$tmp/big.json"
post /attest/SevSnpVm "$tmp/big.json"
[ "$status" = 413 ] && ok "a 2 MiB body: 413" || not_ok "a 2 MiB body" "status $status"
status=$(curl -s -o "$tmp/resp" -w '%{http_code}' "$url/nope")
[ "$status" = 404 ] && ok "unknown path: 404" || not_ok "unknown path" "status $status"
curl -s "$url/metrics" >"$tmp/metrics"
grep -q 'cvm_verifier_verdicts_total{verdict="token"} 4' "$tmp/metrics" &&
        ok "/metrics counts the tokens" || not_ok "/metrics" "$(cat "$tmp/metrics")"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && ok "SIGTERM: clean exit" || not_ok "SIGTERM: clean exit" "exit $rc"

# Policies in MAA's language: the token carries what the default policy issues and its hash; a
# policy that does not permit these guests denies with MAA's error; a syntax error stops the start.
jq -e '.claims["is-debuggable"] == false and (.claims["x-ms-policy-hash"] | length == 43)' \
        "$tmp/claims.json" >/dev/null && ok "the default policy's issued claim and x-ms-policy-hash" ||
        not_ok "policy claims in the token" "$(jq -c .claims "$tmp/claims.json" | head -c 300)"
cat >"$tmp/deny.policy" <<'POL'
version=1.2;
authorizationrules {
    c:[type=="x-ms-sevsnpvm-launchmeasurement", value=="00"] => permit();
};
POL
rm -f "$tmp/url" # a new server writes it: never read the last one's
"$VERIFIER" serve --dev --listen 127.0.0.1:0 --policy "$tmp/deny.policy" >"$tmp/url" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
body "$TAZ/hcl-report.bin" "$TAZ/vcek.pem"
post /attest/SevSnpVm "$tmp/body.json"
[ "$status" = 400 ] && jq -e '.error.code == "PolicyEvaluationError" and (.error.message | test("policy"))' \
        "$tmp/resp" >/dev/null && ok "a policy that does not permit: 400 PolicyEvaluationError" ||
        not_ok "a denying policy" "status $status: $(cat "$tmp/resp")"
kill -TERM "$pid"; wait "$pid"; pid=
printf 'version=1.2;\nauthorizationrules {\n  => permit(\n};\n' >"$tmp/bad.policy"
"$VERIFIER" serve --dev --listen 127.0.0.1:0 --policy "$tmp/bad.policy" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 3 ] && grep -q 'line 4, column 1: expected' "$tmp/err" && ok "a policy with a syntax error: exit 3 naming line and column" ||
        not_ok "a policy syntax error" "exit $rc: $(cat "$tmp/err")"

# Freshness: a tenant that requires verifier-issued nonces.
rm -f "$tmp/url" # a new server writes it: never read the last one's
"$VERIFIER" serve --dev --listen 127.0.0.1:0 --require-nonce >"$tmp/url" 2>"$tmp/server.log" &
pid=$!
: >"$tmp/url2"
for _ in $(seq 200); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
nonce=$(curl -s "$url/nonce" | jq -r .nonce)
[ ${#nonce} -eq 64 ] && ok "GET /nonce" || not_ok "GET /nonce" "got '$nonce'"
# A live nonce beside old evidence (the request's "nonce", not in the signed runtime data) is a
# replay: refused. (The bound case, through the quote, is in azureguest.sh.)
body "$TAZ/hcl-report.bin" "$TAZ/vcek.pem" "" "$nonce"
post /attest/SevSnpVm "$tmp/body.json"
[ "$status" = 400 ] && jq -e '.error.code == "InvalidNonce" and (.error.message | test("not bound"))' \
        "$tmp/resp" >/dev/null && ok "a live nonce outside the signed data: 400 InvalidNonce" ||
        not_ok "an unbound nonce" "status $status: $(cat "$tmp/resp")"
body "$TAZ/hcl-report.bin" "$TAZ/vcek.pem"
post /attest/SevSnpVm "$tmp/body.json"
[ "$status" = 400 ] && ok "no nonce at all: 400" || not_ok "no nonce" "status $status"
# runtimeData with dataType null: malformed, and the server keeps serving.
jq '.runtimeData.dataType = null' "$tmp/body.json" >"$tmp/null.json"
post /attest/SevSnpVm "$tmp/null.json"
[ "$status" = 400 ] && jq -e '.error.code == "InvalidParameter"' "$tmp/resp" >/dev/null &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] &&
        ok "dataType null: 400 InvalidParameter, and the server is still up" ||
        not_ok "dataType null" "status $status: $(cat "$tmp/resp")"
kill -TERM "$pid"; wait "$pid"; pid=

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
