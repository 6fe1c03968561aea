#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-verifier serve --config FILE` as an operator runs it, driven with curl over loopback:
# configuration errors stop it with FILE:LINE; TLS with a configured certificate; the signing key
# from a file (refused when others may read it) or a systemd credential; tenants by path prefix,
# each with its own issuer; policy management with a bearer token, and signed policies in
# isolated mode; policies kept across a restart; key rotation (a new key is published before it
# signs, the old one stays until its tokens expire); SIGTERM.
# Exit 0 pass, 1 fail, 77 skip (no curl, jq, openssl or vectors), 99 setup error.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
VERIFIER=$top_builddir/cvm-verifier
V=${CVM_VECTORS:-}
for tool in curl jq openssl base64 basenc; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -n "$V" ] && [ -d "$V" ] || { echo "skip: no vectors"; exit 77; }
FAKE=$top_builddir/tests/integration/fake-kds
NL=$top_builddir/tests/integration/notify-listen
[ -x "$FAKE" ] && [ -x "$NL" ] || { echo "need $FAKE and $NL (make check builds them)"; exit 99; }

tmp=$(mktemp -d "$top_builddir/tests/integration/verifier-service.XXXXXX") || exit 99
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
check() { local desc=$1; shift; if "$@" >/dev/null; then ok "$desc"; else not_ok "$desc" "$(tail -n 3 "$tmp/last" 2>/dev/null)"; fi; }
b64url() { basenc --base64url -w0 | tr -d '='; }

# Keys and certificates: a TLS certificate for 127.0.0.1, two signing keys, two policy signers.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.pem" -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null || exit 99
for k in sign1 sign2 signer other; do
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/$k.key" 2>/dev/null || exit 99
done
for k in signer other; do
        openssl req -x509 -key "$tmp/$k.key" -out "$tmp/$k.pem" -days 2 -subj "/CN=policy $k" 2>/dev/null || exit 99
done
chmod 600 "$tmp"/*.key
mkdir -p "$tmp/creds" && cp "$tmp/sign1.key" "$tmp/creds/signing-key" && chmod 400 "$tmp/creds/signing-key"
printf 'admin-token-0123456789abcdef\n' >"$tmp/creds/admin" && chmod 400 "$tmp/creds/admin"
ADMIN=admin-token-0123456789abcdef

# start CONFIG: runs the server, sets url (or fails).
start() {
        : >"$tmp/url"
        rm -f "$tmp/url" # a new server writes it: never read the last one's
        CREDENTIALS_DIRECTORY=$tmp/creds "$VERIFIER" serve --config "$1" >"$tmp/url" 2>"$tmp/server.log" &
        pid=$!
        for _ in $(seq 100); do [ -s "$tmp/url" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
        url=$(head -n 1 "$tmp/url")
        [ -n "$url" ]
}
stop() { [ -n "$pid" ] && kill -TERM "$pid" && wait "$pid"; rc=$?; pid=; }
CURL=(curl -s --cacert "$tmp/tls.pem" --max-time 20)
# req METHOD PATH [FILE] [HEADER...]: sets status, leaves the body in $tmp/resp
req() {
        local m=$1 p=$2 f=${3:-}
        shift 3 2>/dev/null || shift $#
        local args=(-X "$m" -o "$tmp/resp" -w '%{http_code}')
        [ -n "$f" ] && args+=(-H 'Content-Type: text/plain' --data-binary "@$f")
        for h in "$@"; do args+=(-H "$h"); done
        status=$("${CURL[@]}" "${args[@]}" "$url$p")
        cp "$tmp/resp" "$tmp/last"
}
# claims FILE: the payload of the token in a JSON response {"token": ...}
claims() { jq -r .token "$1" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null; }

# --- configuration errors: FILE:LINE and exit 2, nothing served ---
errcase() {
        local desc=$1 frag=$2
        CREDENTIALS_DIRECTORY=$tmp/creds "$VERIFIER" serve --config "$tmp/bad.conf" >/dev/null 2>"$tmp/last"
        rc=$?
        [ $rc -eq 2 ] && grep -q -- "$frag" "$tmp/last" && ok "$desc" || not_ok "$desc" "exit $rc: $(cat "$tmp/last")"
}
printf '[Service]\nListen=127.0.0.1:0\nListn=1\n[SigningKey]\nKey=ephemeral\n' >"$tmp/bad.conf"
errcase "an unknown key: exit 2 naming file and line" "bad.conf:3: \[Service\] Listn=: unknown key"
printf '[Service]\nListen=0.0.0.0:0\n[SigningKey]\nKey=ephemeral\n' >"$tmp/bad.conf"
errcase "plain HTTP off loopback: refused" "plain HTTP is served on loopback only"
chmod 644 "$tmp/sign2.key"
printf '[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=%s\n' "$tmp/sign2.key" >"$tmp/bad.conf"
errcase "a signing key others may read: refused" "only its owner can read"
chmod 600 "$tmp/sign2.key"
printf '[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=credential:nope\n' >"$tmp/bad.conf"
errcase "a missing credential: refused naming it" "creds/nope"
printf '[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=%s\nAlgorithm=ES256\n' "$tmp/sign2.key" >"$tmp/bad.conf"
errcase "a key that does not fit its algorithm: refused" "does not fit its Algorithm="
printf 'version=1.2;\nauthorizationrules {\n  => permit(\n};\n' >"$tmp/bad.policy"
printf '[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=ephemeral\n[Tenant]\nName=a\nPolicy.SevSnpVm=%s\n' \
        "$tmp/bad.policy" >"$tmp/bad.conf"
CREDENTIALS_DIRECTORY=$tmp/creds "$VERIFIER" serve --config "$tmp/bad.conf" >/dev/null 2>"$tmp/last"
rc=$?
[ $rc -eq 3 ] && grep -q 'line 4, column 1' "$tmp/last" && ok "a configured policy with a syntax error: exit 3 naming line and column" ||
        not_ok "configured policy syntax error" "exit $rc: $(cat "$tmp/last")"
"$VERIFIER" serve --config "$tmp/bad.conf" --dev >/dev/null 2>"$tmp/last"
[ $? -eq 2 ] && ok "--config and --dev together: usage error" || not_ok "--config with --dev"

# --- the service ---
# Reference values: the contoso tenant's hold the vector's measurement, the root tenant's another.
TAZ=$V/azure/trustee-az-snp-vtpm
meas=$("$VERIFIER" check snp "$TAZ/hcl-report.bin" --certs "$TAZ/vcek.pem" --json 2>/dev/null |
        jq -r '.report."x-ms-sevsnpvm-launchmeasurement"')
[ ${#meas} = 96 ] || { echo "cannot read the vector's measurement"; exit 99; }
jq -n --arg m "$meas" '{name: "contoso-compliant-cvm", sevsnpvm: {"x-ms-sevsnpvm-launchmeasurement": [$m],
        "x-ms-sevsnpvm-is-debuggable": [false], "x-ms-sevsnpvm-snpfw-svn": {min: 1}}}' >"$tmp/ref-good.json"
jq -n '{name: "root-compliant", sevsnpvm: {"x-ms-sevsnpvm-launchmeasurement": ["00"]}}' >"$tmp/ref-bad.json"
printf '{"name": "x", "sevsnpvm": {"m": []}}' >"$tmp/ref-broken.json"
printf '[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=ephemeral\n[Tenant]\nName=a\nReferenceValues=%s\n' \
        "$tmp/ref-broken.json" >"$tmp/bad.conf"
CREDENTIALS_DIRECTORY=$tmp/creds "$VERIFIER" serve --config "$tmp/bad.conf" >/dev/null 2>"$tmp/last"
rc=$?
[ $rc -eq 3 ] && grep -q 'sevsnpvm.m: an empty list' "$tmp/last" && ok "malformed reference values: exit 3 naming the member" ||
        not_ok "malformed reference values" "exit $rc: $(cat "$tmp/last")"

activate=$(date -u -d '+6 seconds' +%Y-%m-%dT%H:%M:%SZ)
cat >"$tmp/verifier.conf" <<CONF
[Service]
Listen=127.0.0.1:0
TLSCertificate=$tmp/tls.pem
TLSKey=$tmp/tls.key
StateDirectory=$tmp/state
RequestTimeout=5s

[Signing]
TokenLifetime=6s

[SigningKey]
Key=credential:signing-key

[SigningKey]
Key=$tmp/sign2.key
Activate=$activate

[SNP]
KDS=
VCEKCache=$tmp/kds-cache
CheckRevocation=no

[Tenant]
Name=root
AdminToken=credential:admin
ReferenceValues=$tmp/ref-bad.json

[Tenant]
Name=contoso
Path=/t/contoso
Mode=isolated
PolicySigningCertificates=$tmp/signer.pem
ReferenceValues=$tmp/ref-good.json
CONF
start "$tmp/verifier.conf" || { echo "the server did not start:"; cat "$tmp/server.log"; exit 99; }
case $url in https://127.0.0.1:*) ok "TLS: the URL printed is https";; *) not_ok "TLS URL" "$url";; esac
req GET /health
check "GET /health over TLS (certificate verified by curl)" [ "$status" = 200 ]
curl -s --max-time 5 -o /dev/null "http${url#https}/health" && not_ok "plain HTTP is not served on a TLS listener" || ok "plain HTTP is not served on a TLS listener"
req GET /.well-known/openid-configuration
check "root tenant: issuer is the URL" jq -e --arg u "$url" '.issuer == $u and .jwks_uri == ($u + "/certs")' "$tmp/resp"
req GET /t/contoso/.well-known/openid-configuration
check "tenant /t/contoso: its own issuer" jq -e --arg u "$url/t/contoso" '.issuer == $u and .jwks_uri == ($u + "/certs")' "$tmp/resp"
req GET /t/nobody/certs
check "an unknown prefix falls to the root tenant's routes: 404" [ "$status" = 404 ]
req GET /certs
cp "$tmp/resp" "$tmp/jwks0"
kid1=$(openssl pkey -in "$tmp/sign1.key" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | b64url)
kid2=$(openssl pkey -in "$tmp/sign2.key" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | b64url)
check "the JWKS publishes the active key and the next one before it signs" \
        jq -e --arg a "$kid1" --arg b "$kid2" '[.keys[].kid] | (index($a) != null) and (index($b) != null) and length == 2' "$tmp/jwks0"

# A real Azure SNP report, as Azure's client posts it.
hcl=$TAZ/hcl-report.bin
head -c $((0x20 + 1184)) "$hcl" | tail -c 1184 >"$tmp/report.bin"
size=$(od -An -tu4 -j $((0x4d0)) -N4 "$hcl" | tr -d ' ')
dd if="$hcl" of="$tmp/runtime.json" bs=1 skip=$((0x4d4)) count="$size" status=none
jq -cn --arg r "$(b64url <"$tmp/report.bin")" --arg c "$(b64url <"$TAZ/vcek.pem")" \
        '{SnpReport: $r, VcekCertChain: $c}' >"$tmp/inner.json"
jq -cn --arg rep "$(tr -d '\n' <"$tmp/inner.json" | b64url)" --arg rt "$(b64url <"$tmp/runtime.json")" \
        '{report: $rep, runtimeData: {data: $rt, dataType: "JSON"}, nonce: "n-1"}' >"$tmp/body.json"
attest() { # attest PREFIX
        status=$("${CURL[@]}" -o "$tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
                --data-binary "@$tmp/body.json" "$url$1/attest/SevSnpVm")
        cp "$tmp/resp" "$tmp/last"
}
verify_token() { # verify_token RESP ISSUER: the token checks against /certs fetched now
        jq -r .token "$1" >"$tmp/token.jwt"
        "${CURL[@]}" -o "$tmp/jwks" "$url/certs"
        "$VERIFIER" check token "$tmp/token.jwt" --jwks "$tmp/jwks" --issuer "$2" --json >"$tmp/check.json" 2>"$tmp/last"
}
attest ""
check "root tenant: SevSnpVm token" [ "$status" = 200 ]
check "the token verifies against /certs with the root issuer" verify_token "$tmp/resp" "$url"
check "signed by the first key while the second waits" jq -e --arg k "$kid1" '.header.kid == $k' "$tmp/check.json"
attest /t/contoso
check "tenant /t/contoso: SevSnpVm token" [ "$status" = 200 ]
check "its issuer is the tenant's" verify_token "$tmp/resp" "$url/t/contoso"
check "x-ms-compliance-status from the tenant's reference values" \
        jq -e '.claims."x-ms-compliance-status" == "contoso-compliant-cvm"' "$tmp/check.json"
attest ""
verify_token "$tmp/resp" "$url"
check "another measurement than the reference: no x-ms-compliance-status" \
        jq -e '.claims | has("x-ms-compliance-status") | not' "$tmp/check.json"
grep -q 'not compliant with the reference values: x-ms-sevsnpvm-launchmeasurement' "$tmp/server.log" &&
        ok "... and the log says why" || not_ok "compliance reason logged" "$(tail -n 3 "$tmp/server.log")"

# --- policy management ---
policy_jws() { # policy_jws TEXTFILE: unsigned; the reset form when TEXTFILE is empty
        local h p
        h=$(printf '{"alg":"none"}' | b64url)
        if [ -n "${1:-}" ]; then
                p=$(jq -cn --arg t "$(b64url <"$1")" '{AttestationPolicy: $t}' | tr -d '\n' | b64url)
        else p=""; fi
        printf '%s.%s.' "$h" "$p"
}
signed_jws() { # signed_jws KEY CERT [TEXTFILE]
        local h p x5c
        x5c=$(openssl x509 -in "$2" -outform DER | base64 -w0)
        h=$(jq -cn --arg c "$x5c" '{alg: "RS256", x5c: [$c]}' | tr -d '\n' | b64url)
        if [ -n "${3:-}" ]; then
                p=$(jq -cn --arg t "$(b64url <"$3")" '{AttestationPolicy: $t}' | tr -d '\n' | b64url)
        else p=""; fi
        printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" | b64url)"
}
cat >"$tmp/deny.policy" <<'POL'
version=1.2;
authorizationrules {
    c:[type=="x-ms-sevsnpvm-launchmeasurement", value=="00"] => permit();
};
POL
policy_jws "$tmp/deny.policy" >"$tmp/deny.jws"
req GET /policies/SevSnpVm
hash0=$(claims "$tmp/resp" | jq -r '."x-ms-policy-hash"')
check "GET /policies/SevSnpVm: a token with the policy and its hash" [ "${#hash0}" = 43 ]
req PUT /policies/SevSnpVm "$tmp/deny.jws"
check "PUT without a bearer token: 403" [ "$status" = 403 ]
req PUT /policies/SevSnpVm "$tmp/deny.jws" "Authorization: Bearer wrong-token-0123456789"
check "PUT with a wrong bearer token: 403 'wrong admin token'" jq -e '.error.message == "wrong admin token"' "$tmp/resp"
req PUT /policies/SevSnpVm "$tmp/deny.jws" "Authorization: Bearer $ADMIN"
check "PUT with the admin token: 200 Updated" test "$status" = 200 -a "$(claims "$tmp/resp" | jq -r '."x-ms-policy-result"')" = Updated
hash1=$(claims "$tmp/resp" | jq -r '."x-ms-policy-hash"')
check "the result carries x-ms-policy-token-hash = SHA-256 of the upload" \
        test "$(claims "$tmp/resp" | jq -r '."x-ms-policy-token-hash"')" = "$(openssl dgst -sha256 -binary "$tmp/deny.jws" | b64url)"
attest ""
check "the new policy denies: 400 PolicyEvaluationError" jq -e '.error.code == "PolicyEvaluationError"' "$tmp/resp"
attest /t/contoso
check "... in this tenant only" [ "$status" = 200 ]
policy_jws "$tmp/bad.policy" >"$tmp/bad.jws"
req PUT /policies/SevSnpVm "$tmp/bad.jws" "Authorization: Bearer $ADMIN"
check "PUT a policy with a syntax error: 400 PolicyParsingError naming line and column" \
        jq -e '.error.code == "PolicyParsingError" and (.error.message | test("line 4, column 1"))' "$tmp/resp"
req GET /policies/SevSnpVm
check "... and the policy in force is unchanged" test "$(claims "$tmp/resp" | jq -r '."x-ms-policy-hash"')" = "$hash1"
check "the stored policy is on disk" test -s "$tmp/state/tenants/root/SevSnpVm.policy.jws"

# Isolated mode: only policies signed with a policy-signing certificate.
req PUT /t/contoso/policies/SevSnpVm "$tmp/deny.jws"
check "isolated: an unsigned policy is refused (403)" jq -e '.error.code == "PolicySignerNotTrusted"' "$tmp/resp"
signed_jws "$tmp/other.key" "$tmp/other.pem" "$tmp/deny.policy" >"$tmp/other.jws"
req PUT /t/contoso/policies/SevSnpVm "$tmp/other.jws"
check "isolated: signed by another certificate: 403 naming it" jq -e '.error.message | test("policy other")' "$tmp/resp"
signed_jws "$tmp/other.key" "$tmp/signer.pem" "$tmp/deny.policy" >"$tmp/forged.jws"
req PUT /t/contoso/policies/SevSnpVm "$tmp/forged.jws"
check "isolated: the signer's certificate with another key's signature: 400" [ "$status" = 400 ]
signed_jws "$tmp/signer.key" "$tmp/signer.pem" "$tmp/deny.policy" >"$tmp/good.jws"
req PUT /t/contoso/policies/SevSnpVm "$tmp/good.jws"
check "isolated: signed by the policy certificate: 200, x-ms-policy-signer named" \
        test "$status" = 200 -a "$(claims "$tmp/resp" | jq -r '."x-ms-policy-signer".x5c | length')" = 1
attest /t/contoso
check "isolated tenant: its signed policy denies" [ "$status" = 400 ]

# Restart: uploaded policies stay in force.
stop
check "SIGTERM: clean exit" [ "$rc" = 0 ]
start "$tmp/verifier.conf" || { echo "the server did not restart:"; cat "$tmp/server.log"; exit 99; }
attest ""
check "after a restart the uploaded policy still denies" jq -e '.error.code == "PolicyEvaluationError"' "$tmp/resp"
policy_jws "" >"$tmp/reset.jws"
req POST /policies/SevSnpVm:reset "$tmp/reset.jws" "Authorization: Bearer $ADMIN"
check "POST :reset: 200 Removed" test "$status" = 200 -a "$(claims "$tmp/resp" | jq -r '."x-ms-policy-result"')" = Removed
check "... back to the default policy's hash" test "$(claims "$tmp/resp" | jq -r '."x-ms-policy-hash"')" = "$hash0"
check "... and the file is gone" test ! -e "$tmp/state/tenants/root/SevSnpVm.policy.jws"
attest ""
check "the default policy permits again" [ "$status" = 200 ]
signed_jws "$tmp/signer.key" "$tmp/signer.pem" >"$tmp/reset-signed.jws"
req POST /t/contoso/policies/SevSnpVm:reset "$tmp/reset-signed.jws"
check "isolated: a signed reset: 200" [ "$status" = 200 ]

# Rotation: after the second key's activation it signs; the first stays published while its
# tokens live (TokenLifetime=6s), then leaves the JWKS.
now=$(date +%s) at=$(date -d "$activate" +%s)
[ $now -lt $((at + 1)) ] && sleep $((at + 1 - now))
attest ""
check "after Activate= the second key signs" verify_token "$tmp/resp" "$url"
check "... its kid in the header" jq -e --arg k "$kid2" '.header.kid == $k' "$tmp/check.json"
"${CURL[@]}" -o "$tmp/jwks1" "$url/certs"
check "... and the first key is still published for its tokens" jq -e --arg a "$kid1" '[.keys[].kid] | index($a) != null' "$tmp/jwks1"
sleep 7
"${CURL[@]}" -o "$tmp/jwks2" "$url/certs"
check "once its tokens expired, the first key is unpublished" jq -e --arg a "$kid1" --arg b "$kid2" '[.keys[].kid] == [$b]' "$tmp/jwks2"
grep -q 'unpublished' "$tmp/server.log" && ok "the journal says so" || not_ok "log of the unpublished key" "$(tail -n 5 "$tmp/server.log")"

# --- VCEKs from AMD's KDS (a fake one on loopback serving the real certificate) ---
hwid=$(od -An -tx1 -v -j $((0x1A0)) -N 64 "$tmp/report.bin" | tr -d ' \n')
read -r -a b <<< "$(od -An -tu1 -v -j $((0x180)) -N 8 "$tmp/report.bin")"
target="/vcek/v1/Milan/$hwid?blSPL=${b[0]}&teeSPL=${b[1]}&snpSPL=${b[6]}&ucodeSPL=${b[7]}"
mkdir -p "$(dirname "$tmp/serve$target")"
openssl x509 -in "$TAZ/vcek.pem" -outform DER -out "$tmp/serve$target" || exit 99
"$FAKE" --dir "$tmp/serve" >"$tmp/kds-port" 2>"$tmp/kds.err" &
kds_pid=$!
for _ in $(seq 400); do [ -s "$tmp/kds-port" ] && break; sleep 0.05; done
kds_url=http://127.0.0.1:$(cat "$tmp/kds-port")
stop
sed -i "s|^KDS=\$|KDS=$kds_url|" "$tmp/verifier.conf"
rm -rf "$tmp/kds-cache"
start "$tmp/verifier.conf" || { echo "the server did not restart:"; cat "$tmp/server.log"; exit 99; }
jq -c '.report |= (@base64d | fromjson | del(.VcekCertChain) | tojson | @base64 | gsub("="; "") | gsub("\\+"; "-") | gsub("/"; "_"))' \
        "$tmp/body.json" >"$tmp/body-nochain.json"
cp "$tmp/body.json" "$tmp/body-chain.json"
cp "$tmp/body-nochain.json" "$tmp/body.json"
attest ""
check "no VcekCertChain: the VCEK comes from KDS, a token" [ "$status" = 200 ]
attest ""
check "... again: from the cache, KDS asked once" test "$(curl -s "$kds_url/stats" | awk '{ n += $1 } END { print n + 0 }')" = 1
check "... the cache holds it by product, chip id and TCB" test -s "$(ls -d "$tmp"/kds-cache/vcek/Milan/*/*.der | head -n 1)"
kill "$kds_pid"; wait "$kds_pid" 2>/dev/null
attest ""
check "KDS down: the cache still answers" [ "$status" = 200 ]
rm -rf "$tmp/kds-cache"
attest ""
check "KDS down and nothing cached: 503 ServiceUnavailable, the client may retry" \
        jq -e '.error.code == "ServiceUnavailable" and (.error.message | test("vcek"; "i"))' "$tmp/resp"
stop
sed -i "s|^KDS=.*|KDS=|; s|^CheckRevocation=no|CheckRevocation=yes|" "$tmp/verifier.conf"
start "$tmp/verifier.conf" || { echo "the server did not restart:"; cat "$tmp/server.log"; exit 99; }
cp "$tmp/body-chain.json" "$tmp/body.json"
attest ""
check "CheckRevocation=yes with no CRL to be had: refused (503), never skipped" \
        jq -e '.error.code == "ServiceUnavailable" and (.error.message | test("CRL"))' "$tmp/resp"
cp "$tmp/body-nochain.json" "$tmp/body.json"
attest ""
check "offline, no VCEK cached: 400 InvalidEvidence naming the VCEK" \
        jq -e '.error.code == "InvalidEvidence" and (.error.message | test("VCEK"))' "$tmp/resp"

# --- under systemd: READY=1 when serving, WATCHDOG=1 at half the interval, STOPPING=1 ---
stop
"$NL" "$tmp/notify.sock" 20 >"$tmp/notify.log" &
nl_pid=$!
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=400000 start "$tmp/verifier.conf" ||
        { echo "the server did not restart:"; cat "$tmp/server.log"; exit 99; }
sleep 1.5
stop
wait "$nl_pid"
check "sd_notify: READY=1 once serving" grep -q ' READY=1$' "$tmp/notify.log"
check "sd_notify: WATCHDOG=1 about every 200 ms (watchdog 400 ms)" \
        test "$(grep -c ' WATCHDOG=1$' "$tmp/notify.log")" -ge 4
check "sd_notify: STOPPING=1 on SIGTERM" grep -q ' STOPPING=1$' "$tmp/notify.log"
start "$tmp/verifier.conf" || { echo "the server did not restart:"; cat "$tmp/server.log"; exit 99; }
attest ""

req GET /metrics
check "/metrics: policy updates and the latency histogram" \
        grep -q -e 'cvm_verifier_attest_duration_seconds_count [1-9]' "$tmp/resp"
stop
check "SIGTERM: clean exit" [ "$rc" = 0 ]

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
