#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Which tokens the key release service takes: `cvm-verifier serve --config` with [KeyRelease]
# TrustTenants=no and one TrustedIssuer= (another verifier, standing in for a real MAA instance):
# that issuer's tokens release the key, its keys are fetched from its OpenID metadata and JWKS
# and fetched again when a token names a kid they lack (the issuer restarted with a new key); the
# service's own tokens, tokens of an issuer not listed and tampered tokens are refused with 401,
# an unknown key is 404, a request without a token 400, and each decision is in the audit.
# Exit 0 pass, 1 fail, 77 skip (no swtpm, curl, jq, python3 or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in swtpm curl jq python3; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/key-release-issuers.XXXXXX") || exit 99
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null
      "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
env=$("$SIM" up --dir "$tmp/vm" --tpm --azure 2>"$tmp/up.err")
rc=$?
[ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $rc -eq 0 ] || { cat "$tmp/up.err"; exit 99; }
eval "$env"
cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$tmp/chain.pem"

# b64url_dec TEXT: base64url without padding, decoded.
b64url_dec() {
        local s
        s=$(printf '%s' "$1" | tr '_-' '/+')
        while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
        printf '%s' "$s" | base64 -d 2>/dev/null
}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

wait_url() { # wait_url FILE: its first line once the server wrote it
        for _ in $(seq 400); do [ -s "$1" ] && break; sleep 0.05; done
        head -n 1 "$1"
}
# The external issuer: a dev verifier on a fixed port, so that it can come back with a new key.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_issuer() {
        rm -f "$tmp/issuer.url" # never read the last one's
        "$VERIFIER" serve --dev --listen "127.0.0.1:$port" --trust-root "$CVM_SIM_ROOT" \
                >"$tmp/issuer.url" 2>"$tmp/issuer.log" &
        issuer_pid=$!
        pids="$pids $issuer_pid"
        issuer=$(wait_url "$tmp/issuer.url")
        [ -n "$issuer" ] || { cat "$tmp/issuer.log"; exit 99; }
}
start_issuer

mkdir -p "$tmp/state" "$tmp/keys"
cat >"$tmp/kr.conf" <<CONF
[Service]
Listen=127.0.0.1:0
StateDirectory=$tmp/state
[SigningKey]
Key=ephemeral
[SNP]
TrustRoot=$CVM_SIM_ROOT
KDS=
VCEKCache=$tmp/kds
CheckRevocation=no
[KeyRelease]
Enable=yes
Store=$tmp/keys
TrustTenants=no
TrustedIssuer=$issuer
IssuerRefresh=0
CONF
# The store and its master key first (config mode never makes a master key).
jq -n --arg a "$issuer" '{version: "1.0.0", anyOf: [{authority: ($a + "/"), allOf: [
        {claim: "x-ms-attestation-type", equals: "azurevm"}]}]}' >"$tmp/policy.json"
"$VERIFIER" key create disk --state "$tmp/keys" --exportable --policy "$tmp/policy.json" \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 99; }
"$VERIFIER" serve --config "$tmp/kr.conf" >"$tmp/kr.url" 2>"$tmp/kr.log" &
pids="$pids $!"
kr=$(wait_url "$tmp/kr.url")
[ -n "$kr" ] || { cat "$tmp/kr.log"; exit 99; }

# token_from URL OUT: an AzureGuest token of the verifier at URL for this VM.
token_from() {
        "$AGENT" evidence --format maa --ak-type rsa --vcek-chain "$tmp/chain.pem" \
                --out "$tmp/body.json" 2>/dev/null &&
        curl -s -o "$tmp/sealed.json" -d @"$tmp/body.json" "$1/attest/AzureGuest" &&
        "$AGENT" unseal --in "$tmp/sealed.json" 2>/dev/null | tr -d '\n' >"$2"
}
# release TOKEN-FILE [KEY]: status into $status, body into $tmp/rel.out.
release() {
        jq -n --rawfile t "$1" '{target: $t, enc: "RSA_AES_KEY_WRAP_256"}' >"$tmp/rel.json"
        status=$(curl -s -o "$tmp/rel.out" -w '%{http_code}' -d @"$tmp/rel.json" "$kr/keys/${2:-disk}/release")
}
err_of() { jq -r '"\(.error.code) \(.error.innererror.code // "") \(.error.message)"' "$tmp/rel.out" 2>/dev/null | cut -c1-150; }

token_from "$issuer" "$tmp/t1" || { echo "cannot get a token"; exit 99; }
release "$tmp/t1"
[ "$status" = 200 ] && jq -e '.value | split(".") | length == 3' "$tmp/rel.out" >/dev/null &&
        ok "a token of the trusted issuer (keys from its OpenID metadata and JWKS): released" ||
        not_ok "trusted issuer" "status $status: $(err_of)"

# The issuer restarts with a new signing key: its new tokens carry a kid the kept keys lack.
kill "$issuer_pid"
wait "$issuer_pid" 2>/dev/null
start_issuer
token_from "$issuer" "$tmp/t2" || { echo "cannot get a token"; exit 99; }
kid1=$(b64url_dec "$(cut -d. -f1 "$tmp/t1")" | jq -r .kid)
kid2=$(b64url_dec "$(cut -d. -f1 "$tmp/t2")" | jq -r .kid)
release "$tmp/t2"
[ "$kid1" != "$kid2" ] && [ "$status" = 200 ] &&
        ok "the issuer's new key (kid ${kid2:0:12}...): fetched again on the unknown kid, released" ||
        not_ok "key refresh on an unknown kid" "kids $kid1 $kid2, status $status: $(err_of)"

# Refusals.
own=$(wait_url "$tmp/kr.url")
token_from "$kr" "$tmp/own" || { echo "cannot get a token"; exit 99; }
release "$tmp/own"
[ "$status" = 401 ] && jq -e '.error.innererror.code == "UntrustedIssuer"' "$tmp/rel.out" >/dev/null &&
        ok "TrustTenants=no: the service's own token is refused (401 UntrustedIssuer)" ||
        not_ok "own token" "status $status: $(err_of)"
sed 's/\.\([A-Za-z0-9_-]\)\([A-Za-z0-9_-]*\)$/.A\2/' "$tmp/t2" >"$tmp/t2-bad"
if cmp -s "$tmp/t2" "$tmp/t2-bad"; then sed -i 's/\.A\([A-Za-z0-9_-]*\)$/.B\1/' "$tmp/t2-bad"; fi
release "$tmp/t2-bad"
[ "$status" = 401 ] && jq -e '.error.innererror.code == "InvalidToken"' "$tmp/rel.out" >/dev/null &&
        ok "a changed signature: 401 InvalidToken" || not_ok "tampered token" "status $status: $(err_of)"
release "$tmp/t2" nosuchkey
[ "$status" = 404 ] && jq -e '.error.code == "KeyNotFound"' "$tmp/rel.out" >/dev/null &&
        ok "an unknown key: 404 KeyNotFound" || not_ok "unknown key" "status $status: $(err_of)"
status=$(curl -s -o "$tmp/rel.out" -w '%{http_code}' -d '{"enc":"RSA_AES_KEY_WRAP_256"}' "$kr/keys/disk/release")
[ "$status" = 400 ] && ok "no target: 400 ($(err_of))" || not_ok "no target" "status $status: $(err_of)"
status=$(curl -s -o "$tmp/rel.out" -w '%{http_code}' "$kr/keys/disk/release")
[ "$status" = 405 ] && ok "GET on a key: 405" || not_ok "GET" "status $status"
head -c 300000 /dev/zero | tr '\0' 'a' >"$tmp/big"
status=$(curl -s -o "$tmp/rel.out" -w '%{http_code}' --data-binary @"$tmp/big" "$kr/keys/disk/release")
[ "$status" = 400 ] && ok "a body over the cap: 400 before parsing ($(err_of))" || not_ok "big body" "status $status: $(err_of)"

"$VERIFIER" key audit --state "$tmp/keys" --json >"$tmp/audit.json" 2>/dev/null
jq -e '[.audit[] | select(.released)] | length == 2' "$tmp/audit.json" >/dev/null &&
jq -e '[.audit[] | select(.released | not)] | length >= 5' "$tmp/audit.json" >/dev/null &&
        ok "the audit: 2 releases and every refusal, with their reasons" ||
        not_ok "audit" "$(jq -c '[.audit[] | [.released, .reason[0:40]]]' "$tmp/audit.json")"
curl -s "$kr/metrics" | grep -q 'cvm_verifier_key_releases_total{result="released"} 2' &&
        ok "/metrics counts the releases" || not_ok "metrics" "$(curl -s "$kr/metrics" | grep key_releases)"

echo "1..$n"
[ $failed -eq 0 ]
