#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Trusted launch vouched for by the EK: `cvm-agent credential-request` → POST /credential (the
# EK certificate chains to the configured EK CA, the simulator's swtpm-localca) → `cvm-agent
# evidence --credential` activates it in swtpm and quotes with its secret → POST
# /attest/AzureGuest gives a token saying x-ms-azurevm-ak-vouched-by "ek-chain". Replays, another
# AK, another EK, a foreign EK certificate and a service without an EK CA are refused.
# Exit 0 pass, 1 fail, 77 skip, 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in swtpm swtpm_setup curl jq openssl; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -n "${CVM_VECTORS:-}" ] && [ -d "$CVM_VECTORS" ] || { echo "skip: no vectors"; exit 77; }
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/verifier-credential.XXXXXX") || exit 99
pid=
. "$top_srcdir/tests/integration/lib.sh"
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; sim_down_all; rm -rf "$tmp"; }
trap cleanup EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

sim_up "$tmp/vm" --tpm
ca=$CVM_SIM_DIR/swtpm-localca
cat "$ca/issuercert.pem" "$ca/swtpm-localca-rootca-cert.pem" >"$tmp/ek-ca.pem" 2>/dev/null ||
        { echo "no swtpm-localca in $ca"; exit 99; }

# start EXTRA-TENANT-LINES...: the service with the EK CA (unless NOEKCA=1)
start() {
        {
                printf '[Service]\nListen=127.0.0.1:0\nStateDirectory=%s/state\n' "$tmp"
                printf '[Signing]\nTEEAttestation=no\n[SigningKey]\nKey=ephemeral\n'
                printf '[SNP]\nKDS=\nVCEKCache=%s/kds\nCheckRevocation=no\n' "$tmp"
                [ "${NOEKCA:-0}" = 1 ] || printf '[TrustedLaunch]\nEKCertificateAuthority=%s\n' "$tmp/ek-ca.pem"
                printf '[Tenant]\nName=root\n[Tenant]\nName=fresh\nPath=/fresh\nRequireNonce=yes\n'
        } >"$tmp/verifier.conf"
        : >"$tmp/url"
        rm -f "$tmp/url" # a new server writes it: never read the last one's
        "$VERIFIER" serve --config "$tmp/verifier.conf" >"$tmp/url" 2>"$tmp/server.log" &
        pid=$!
        for _ in $(seq 100); do [ -s "$tmp/url" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
        url=$(head -n 1 "$tmp/url")
        [ -n "$url" ] || { echo "the server did not start:"; cat "$tmp/server.log"; exit 99; }
}
stop() { [ -n "$pid" ] && kill -TERM "$pid" && wait "$pid"; pid=; }
post() { # post PATH FILE OUT: sets status
        status=$(curl -s --max-time 30 -o "$3" -w '%{http_code}' -H 'Content-Type: application/json' \
                --data-binary "@$2" "$url$1")
}
agent() { "$AGENT" "$@" 2>"$tmp/err"; }

start
agent credential-request --out "$tmp/req.json" &&
        jq -e '(.EkCert | length > 500) and (.EkPub | length > 100) and (.AikPub | length > 50)' "$tmp/req.json" >/dev/null &&
        ok "credential-request: the EK certificate, the EK and the AK" || not_ok "credential-request" "$(cat "$tmp/err")"
post /credential "$tmp/req.json" "$tmp/cred.json"
[ "$status" = 200 ] && jq -e '.CredentialBlob and .EncryptedSecret and .expires_in == 300' "$tmp/cred.json" >/dev/null &&
        ok "POST /credential: a credential for the AK under the certified EK" ||
        not_ok "POST /credential" "status $status: $(cat "$tmp/cred.json")"
agent evidence --format maa --isolation none --credential "$tmp/cred.json" --out "$tmp/ev.json" &&
        ok "evidence --credential: activated in the TPM, quoted with its secret" ||
        not_ok "evidence --credential" "$(cat "$tmp/err")"
post /attest/AzureGuest "$tmp/ev.json" "$tmp/resp.json"
[ "$status" = 200 ] && ok "POST /attest/AzureGuest: a token" || not_ok "attest with an activated credential" "status $status: $(cat "$tmp/resp.json")"
if agent unseal --in "$tmp/resp.json" >"$tmp/token.jwt"; then
        "$VERIFIER" check token "$tmp/token.jwt" --issuer "$url" --json >"$tmp/check.json" 2>"$tmp/err"
        jq -e '.claims | ."x-ms-azurevm-ak-vouched-by" == "ek-chain" and (has("x-ms-isolation-tee") | not)' \
                "$tmp/check.json" >/dev/null &&
                ok "the token verifies and says x-ms-azurevm-ak-vouched-by: ek-chain" ||
                not_ok "ek-chain claim" "$(cat "$tmp/err")" "$(head -c 300 "$tmp/check.json")"
else
        not_ok "unseal" "$(cat "$tmp/err")"
fi
post /attest/AzureGuest "$tmp/ev.json" "$tmp/resp.json"
[ "$status" = 400 ] && jq -e '.error.message | test("nothing vouches for the AK")' "$tmp/resp.json" >/dev/null &&
        ok "the same evidence again: 400, the credential is used up" || not_ok "replay" "status $status: $(cat "$tmp/resp.json")"
agent evidence --format maa --isolation none --out "$tmp/ev2.json"
post /attest/AzureGuest "$tmp/ev2.json" "$tmp/resp.json"
[ "$status" = 400 ] && jq -e '.error.message | test("not the secret of a live credential")' "$tmp/resp.json" >/dev/null &&
        ok "a random nonce instead: 400, nothing vouches for the AK" || not_ok "no credential" "status $status: $(cat "$tmp/resp.json")"

# A credential for another AK does not activate with this one.
agent credential-request --ak-handle 0x81000010 --ak-type rsa --out "$tmp/req-b.json" || { cat "$tmp/err"; exit 99; }
post /credential "$tmp/req-b.json" "$tmp/cred-b.json"
"$AGENT" evidence --format maa --isolation none --credential "$tmp/cred-b.json" --out "$tmp/ev3.json" 2>"$tmp/err"
rc=$?
[ $rc -eq 4 ] && ok "a credential made for another AK does not activate (exit 4)" || not_ok "another AK's credential" "exit $rc: $(cat "$tmp/err")"
agent evidence --format maa --isolation none --ak-handle 0x81000010 --credential "$tmp/cred-b.json" --out "$tmp/ev3.json" &&
        post /attest/AzureGuest "$tmp/ev3.json" "$tmp/resp.json" && [ "$status" = 200 ] &&
        ok "... and does with the AK it was made for" || not_ok "credential for the second AK" "status ${status:-}: $(cat "$tmp/err" "$tmp/resp.json")"

# Freshness: a tenant that requires nonces takes an activated credential as one.
agent credential-request --out "$tmp/req.json"
post /fresh/credential "$tmp/req.json" "$tmp/cred.json"
agent evidence --format maa --isolation none --credential "$tmp/cred.json" --out "$tmp/ev4.json"
post /fresh/attest/AzureGuest "$tmp/ev4.json" "$tmp/resp.json"
[ "$status" = 200 ] && ok "RequireNonce=yes: the activated credential is the fresh nonce" || not_ok "nonce tenant" "status $status: $(cat "$tmp/resp.json")"

# Requests the service must refuse.
jq --arg c "$(openssl x509 -in "$CVM_SIM_AK_CA" -outform DER | base64 -w0)" '.EkCert = $c' "$tmp/req.json" >"$tmp/bad.json"
post /credential "$tmp/bad.json" "$tmp/out.json"
[ "$status" = 400 ] && jq -e '.error.message | test("does not chain to a configured EK certificate authority")' "$tmp/out.json" >/dev/null &&
        ok "an EK certificate from another CA: 400" || not_ok "foreign EK cert" "status $status: $(cat "$tmp/out.json")"
agent credential-request --ek ecc-p384 --out "$tmp/req-ecc.json"
jq --slurpfile r "$tmp/req.json" '.EkCert = $r[0].EkCert' "$tmp/req-ecc.json" >"$tmp/bad.json"
post /credential "$tmp/bad.json" "$tmp/out.json"
[ "$status" = 400 ] && jq -e '.error.message | test("not the key EkCert certifies")' "$tmp/out.json" >/dev/null &&
        ok "an EK that is not the certificate's: 400" || not_ok "EK mismatch" "status $status: $(cat "$tmp/out.json")"
jq --slurpfile r "$tmp/req.json" '.AikPub = $r[0].EkPub' "$tmp/req.json" >"$tmp/bad.json"
post /credential "$tmp/bad.json" "$tmp/out.json"
[ "$status" = 400 ] && jq -e '.error.message | test("not a restricted signing key")' "$tmp/out.json" >/dev/null &&
        ok "an AK that is not a restricted signing key: 400" || not_ok "AK kind" "status $status: $(cat "$tmp/out.json")"
post /credential "$tmp/req-ecc.json" "$tmp/cred-ecc.json"
agent evidence --format maa --isolation none --ek ecc-p384 --credential "$tmp/cred-ecc.json" --out "$tmp/ev5.json" &&
        post /attest/AzureGuest "$tmp/ev5.json" "$tmp/resp.json" && [ "$status" = 200 ] &&
        ok "the ECC P-384 EK works the same" || not_ok "ECC EK" "status ${status:-}: $(cat "$tmp/err" "$tmp/resp.json")"
printf '{"EkCert": 1}' >"$tmp/bad.json"
post /credential "$tmp/bad.json" "$tmp/out.json"
[ "$status" = 400 ] && jq -e '.error.code == "InvalidParameter"' "$tmp/out.json" >/dev/null &&
        ok "malformed request: 400 InvalidParameter" || not_ok "malformed" "status $status: $(cat "$tmp/out.json")"
stop
NOEKCA=1 start
post /credential "$tmp/req.json" "$tmp/out.json"
[ "$status" = 404 ] && ok "without EKCertificateAuthority=: 404" || not_ok "no EK CA" "status $status"
post /attest/AzureGuest "$tmp/ev4.json" "$tmp/resp.json"
[ "$status" = 400 ] && jq -e '.error.message | test("nothing vouches")' "$tmp/resp.json" >/dev/null &&
        ok "... and trusted-launch evidence is refused" || not_ok "no EK CA attest" "status $status: $(cat "$tmp/resp.json")"
stop

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
