#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# MAA's AzureGuest flow end to end, all on this machine: `cvm-agent evidence --format maa` on the
# simulated Azure CVM (swtpm + paravisor), POST /attest/AzureGuest to `cvm-verifier serve --dev`,
# the token sealed to the TPM's ephemeral key, `cvm-agent unseal` opening it with the TPM, and the
# token verifying against /certs. A PCR that moves between evidence and unseal keeps it sealed.
# Exit 0 pass, 1 fail, 77 skip (no swtpm, curl, jq or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in swtpm tpm2_pcrextend curl jq; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/azureguest.XXXXXX") || exit 99
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
env=$("$SIM" up --dir "$tmp/vm" --tpm --azure 2>"$tmp/up.err")
rc=$?
[ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $rc -eq 0 ] || { cat "$tmp/up.err"; exit 99; }
eval "$env"
cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$tmp/chain.pem"

rm -f "$tmp/url" # a new server writes it: never read the last one's
"$VERIFIER" serve --dev --listen 127.0.0.1:0 --trust-root "$CVM_SIM_ROOT" >"$tmp/url" 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
[ -n "$url" ] || { cat "$tmp/server.log"; exit 99; }

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

nonce=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
"$AGENT" evidence --format maa --nonce "$nonce" --vcek-chain "$tmp/chain.pem" --out "$tmp/body.json" 2>"$tmp/err" &&
        jq -e '.AttestationInfo | length > 1000' "$tmp/body.json" >/dev/null &&
        ok "evidence --format maa: an AzureGuest request body" || not_ok "evidence --format maa" "$(cat "$tmp/err")"
status=$(curl -s -o "$tmp/resp.json" -w '%{http_code}' -d @"$tmp/body.json" "$url/attest/AzureGuest")
[ "$status" = 200 ] && ok "POST /attest/AzureGuest: 200" || not_ok "POST /attest/AzureGuest" "status $status: $(cat "$tmp/resp.json")"
# The token is sealed: not a JWT until the TPM opens it.
jq -r .token "$tmp/resp.json" | grep -q '^eyJ[^.]*$' && ok "the response is sealed (no JWT in the clear)" ||
        not_ok "the response is sealed"
if "$AGENT" unseal --in "$tmp/resp.json" >"$tmp/token.jwt" 2>"$tmp/err"; then
        ok "unseal with the TPM's ephemeral key"
else
        not_ok "unseal" "$(cat "$tmp/err")"
fi
curl -s "$url/certs" >"$tmp/jwks.json"
if "$VERIFIER" check token "$tmp/token.jwt" --jwks "$tmp/jwks.json" --issuer "$url" --json >"$tmp/claims.json" 2>"$tmp/err"; then
        ok "the token verifies against /certs"
else
        not_ok "the token verifies against /certs" "$(cat "$tmp/err")"
fi
jq -e --arg n "$nonce" '.claims["x-ms-attestation-type"] == "azurevm"
        and .claims["x-ms-isolation-tee"]["x-ms-attestation-type"] == "sevsnpvm"
        and .claims["x-ms-isolation-tee"]["x-ms-sevsnpvm-is-debuggable"] == false
        and .claims["x-ms-azurevm-attested-pcrs"] == [0,1,2,3,4,5,6,7]
        and .claims["x-ms-runtime"].keys[0].kid == "TpmEphemeralEncryptionKey"
        and .claims.nonce == $n and (.claims.secureboot | type) == "boolean"' "$tmp/claims.json" >/dev/null &&
        ok "claims: azurevm, the SNP isolation TEE, attested PCRs, the encryption key, nonce, secure boot" ||
        not_ok "claims" "$(jq -c .claims "$tmp/claims.json" | head -c 600)"

# The default policy: an SNP guest whose POLICY allows debugging (bit 19) gets no token.
"$SIM" set --dir "$tmp/vm" policy=0xb0000 >/dev/null 2>&1 || { echo "cvm-sim set failed"; exit 99; }
"$AGENT" evidence --format maa --vcek-chain "$tmp/chain.pem" --out "$tmp/body-debug.json" 2>/dev/null
status=$(curl -s -o "$tmp/resp-debug.json" -w '%{http_code}' -d @"$tmp/body-debug.json" "$url/attest/AzureGuest")
[ "$status" = 400 ] && jq -e '.error.code == "PolicyEvaluationError"' "$tmp/resp-debug.json" >/dev/null &&
        ok "a debuggable SNP guest: the default policy denies (400 PolicyEvaluationError)" ||
        not_ok "debuggable guest" "status $status: $(cat "$tmp/resp-debug.json")"
"$SIM" set --dir "$tmp/vm" policy=0x30000 >/dev/null 2>&1

# A PCR moves after the evidence: the TPM will not make the same key, the token stays sealed.
"$AGENT" evidence --format maa --vcek-chain "$tmp/chain.pem" --out "$tmp/body2.json" 2>/dev/null
curl -s -o "$tmp/resp2.json" -d @"$tmp/body2.json" "$url/attest/AzureGuest"
TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=${CVM_TCTI##*port=}" tpm2_pcrextend \
        "7:sha256=0000000000000000000000000000000000000000000000000000000000000007" >/dev/null 2>&1
"$AGENT" unseal --in "$tmp/resp2.json" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 4 ] && grep -q 'PCRs changed' "$tmp/err" && ok "after a PCR moved, unseal refuses (exit 4)" ||
        not_ok "unseal after a PCR moved" "exit $rc: $(cat "$tmp/err")"
# Evidence after the move no longer matches the event log: no token.
"$AGENT" evidence --format maa --vcek-chain "$tmp/chain.pem" --out "$tmp/body3.json" 2>/dev/null
status=$(curl -s -o "$tmp/resp3.json" -w '%{http_code}' -d @"$tmp/body3.json" "$url/attest/AzureGuest")
[ "$status" = 400 ] && jq -e '.error.message | test("PCR 7")' "$tmp/resp3.json" >/dev/null &&
        ok "evidence with an unlogged PCR 7: 400 naming PCR 7" || not_ok "unlogged PCR 7" "status $status: $(cat "$tmp/resp3.json")"

# Freshness: a verifier that requires its own nonces takes one only from signed evidence (here the
# quote's extraData), and only once.
kill "$pid"; wait "$pid" 2>/dev/null
rm -f "$tmp/url" # a new server writes it: never read the last one's
"$VERIFIER" serve --dev --listen 127.0.0.1:0 --trust-root "$CVM_SIM_ROOT" --require-nonce \
        >"$tmp/url" 2>"$tmp/server.log" &
pid=$!
: >"$tmp/url.old"
for _ in $(seq 200); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
"$SIM" down --dir "$tmp/vm" >/dev/null 2>&1 # a fresh boot: PCR 7 moved above
eval "$("$SIM" up --dir "$tmp/vm" --tpm --azure 2>/dev/null)"
vnonce=$(curl -s "$url/nonce" | jq -r .nonce)
"$AGENT" evidence --format maa --nonce "$vnonce" --vcek-chain "$tmp/chain.pem" --out "$tmp/body4.json" 2>"$tmp/ev4.err"
status=$(curl -s -o "$tmp/resp4.json" -w '%{http_code}' -d @"$tmp/body4.json" "$url/attest/AzureGuest")
[ "$status" = 200 ] && ok "--require-nonce: the verifier's nonce in the quote: a token" ||
        not_ok "a bound nonce" "status $status: $(cat "$tmp/resp4.json" 2>/dev/null)" \
                "verifier '$url', nonce '$vnonce', evidence: $(head -c 300 "$tmp/ev4.err")" \
                "server: $(tail -n 3 "$tmp/server.log" | tr '\n' ' ')"
status=$(curl -s -o "$tmp/resp5.json" -w '%{http_code}' -d @"$tmp/body4.json" "$url/attest/AzureGuest")
[ "$status" = 400 ] && jq -e '.error.code == "InvalidNonce"' "$tmp/resp5.json" >/dev/null &&
        ok "--require-nonce: the same evidence again: 400 InvalidNonce" ||
        not_ok "a replayed nonce" "status $status: $(cat "$tmp/resp5.json")"

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
