#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Command-line test of `cvm-verifier check token` on the real MAA tokens of the shared vectors
# (vectors README §3.5: RS256, sharedeus2, all expired, so every run pins --at): they verify
# inside [iat, exp) with the reconstructed JWKS and with the PEM key, fail outside it, fail
# with one byte changed, fail for another MAA key's kid and for a wrong issuer; garbage is
# malformed (3); bad command lines are usage errors (2). --json carries the claims.
# --issuer without --jwks/--key fetches the keys over loopback: from `cvm-verifier serve --dev`
# (a token it issued verifies; a wrong issuer is 4; a server that is down is 6, naming the URL)
# and from a static server that plays a misbehaving issuer (metadata of another issuer, keys on
# another origin, malformed or oversized documents, 404).
#
# Environment (set by TESTS_ENVIRONMENT in tests/Makemodule.am): top_srcdir, top_builddir,
# CVM_VECTORS (absolute). Exit 77 without the vectors, 99 on a hard error, 1 if a case failed.
# The network cases are skipped without curl and jq (serve --dev) or python3 (static server).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CVM_VECTORS=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
if [ ! -d "$CVM_VECTORS/azure/maa-tokens" ]; then
        echo "SKIP: no vectors at $CVM_VECTORS"
        exit 77
fi
V=$(cd "$CVM_VECTORS" && pwd)
M=$V/azure/maa-tokens
BIN=$top_builddir/cvm-verifier
if [ ! -x "$BIN" ]; then
        echo "ERROR: need $BIN"
        exit 99
fi
mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/check-token.XXXXXX") || exit 99
pids=()
cleanup() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        rm -rf "$tmp"
}
trap cleanup EXIT

JWKS=$M/sharedeus2-jwks-reconstructed.json
PEM=$M/sharedeus2-signing-key-J0pAPdf.pem
ISS=https://sharedeus2.eus2.attest.azure.net
T1=$M/sharedeus2-sevsnpvm-1735604834.jwt # iat = nbf 1735604834, exp 1735633634
T2=$M/sharedeus2-sevsnpvm-1735604836.jwt # 1735604836 .. 1735633636
T3=$M/sharedeus2-sevsnpvm-1736697400.jwt # 1736697400 .. 1736726200
KID=J0pAPdfXXHqWWimgrH853wMIdh5/fLe1z6uSXYPXCa0=
LM=036fc22b517981a791f7f8b89d634a00e964f6b0dfabc568090eb4393d6026f96aa6b7cca2759f29e521469f1189c00c
TVM=$V/azure/cvm-guest-attestation/maa-token-sharedeus2-tvm.jwt # kid rj/Uuo..., not in the JWKS
WEU=$V/azure/cvm-guest-attestation/maa-token-sharedweu-cvm.jwt   # another instance's key
VERDICT_ON_STDOUT=1
. "$top_srcdir/tests/integration/lib.sh"


# run ARGS...: cvm-verifier check token ARGS; rc, stdout in $tmp/out, stderr in $tmp/err.
run() {
        "$BIN" check token "$@" > "$tmp/out" 2> "$tmp/err" < "${STDIN:-/dev/null}"
        rc=$?
}




# change FILE OFFSET OUT: FILE with the character at OFFSET replaced by the next one in
# base64url order (A->B, ...; z->0 stays inside the alphabet), written to OUT.
change() {
        local c next
        c=$(dd if="$1" bs=1 skip="$2" count=1 status=none)
        next=$(printf '%s' "$c" | tr 'A-Ya-y0-8' 'B-Zb-z1-9')
        [ "$next" != "$c" ] || next=A
        cp "$1" "$3" && chmod u+w "$3"
        printf '%s' "$next" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}

echo "# 1. the real tokens verify inside [iat, exp)"
expect "T1 with the JWKS at iat" 0 "" "$T1" --jwks "$JWKS" --at @1735604834
expect "T1 with the JWKS at 2024-12-31T01:00:00Z" 0 "" "$T1" --jwks "$JWKS" \
        --at 2024-12-31T01:00:00Z
expect "T1 with the JWKS at exp - 1" 0 "" "$T1" --jwks "$JWKS" --at @1735633633
expect "T2 with the JWKS" 0 "" "$T2" --jwks "$JWKS" --at @1735620000
expect "T3 with the JWKS" 0 "" "$T3" --jwks "$JWKS" --at 2025-01-12T16:00:00Z
expect "T3 with the PEM key" 0 "" "$T3" --key "$PEM" --at 2025-01-12T16:00:00Z
expect "T1 with --issuer" 0 "" "$T1" --jwks "$JWKS" --issuer "$ISS" --at @1735610000
expect "T2 with --issuer and a trailing slash" 0 "" "$T2" --jwks "$JWKS" --issuer "$ISS/" \
        --at @1735610000
expect "T1 just after exp with --leeway 60" 0 "" "$T1" --jwks "$JWKS" --at @1735633650 \
        --leeway 60
STDIN=$T2 expect "T2 from standard input" 0 "" - --jwks "$JWKS" --at @1735610000
{ cat "$T1"; echo; } > "$tmp/newline.jwt"
expect "T1 with a trailing newline" 0 "" "$tmp/newline.jwt" --jwks "$JWKS" --at @1735610000
run "$T1" --jwks "$JWKS" --at @1735610000
if check_run "T1: the text output" 0 ""; then
        want="verified: JWT RS256 signed by key $KID, issuer $ISS,"
        want="$want valid 2024-12-31T00:27:14Z .. 2024-12-31T08:27:14Z"
        if [ "$(head -n 1 "$tmp/out")" = "$want" ] &&
                grep -q '^x-ms-attestation-type: azurevm$' "$tmp/out" &&
                grep -qx "x-ms-isolation-tee.x-ms-sevsnpvm-launchmeasurement: $LM" "$tmp/out"; then
                ok "T1: the text output names key, issuer, validity and lists the claims"
        else
                not_ok "T1: the text output" "$(head -n 3 "$tmp/out" | tr '\n' ' ' | cut -c1-300)"
        fi
fi

echo "# 2. --json"
run "$T1" --jwks "$JWKS" --issuer "$ISS" --at @1735610000 --json
if check_run "T1 --json" 0 ""; then
        bad=()
        [ "$(jval verified)" = true ] || bad+=("verified is '$(jval verified)'")
        [ "$(jval alg)" = RS256 ] || bad+=("alg is '$(jval alg)'")
        [ "$(jval typ)" = JWT ] || bad+=("typ is '$(jval typ)'")
        [ "$(jval jku)" = "$ISS/certs" ] || bad+=("jku is '$(jval jku)'")
        [ "$(jval iss)" = "$ISS" ] || bad+=("iss is '$(jval iss)'")
        [ "$(jval exp)" = 1735633634 ] || bad+=("exp is '$(jval exp)'")
        [ "$(jval x-ms-attestation-type)" = azurevm ] ||
                bad+=("x-ms-attestation-type is '$(jval x-ms-attestation-type)'")
        [ "$(jval x-ms-ver)" = 1.0 ] || bad+=("x-ms-ver is '$(jval x-ms-ver)'")
        [ "$(jval x-ms-policy-hash)" = wm9mHlvTU82e8UqoOy1Yj1FBRSNkfe99-69IYDq9eWs ] ||
                bad+=("x-ms-policy-hash is '$(jval x-ms-policy-hash)'")
        [ "$(jval x-ms-sevsnpvm-launchmeasurement)" = "$LM" ] ||
                bad+=("launch measurement is '$(jval x-ms-sevsnpvm-launchmeasurement)'")
        [ "$(jval x-ms-compliance-status)" = azure-compliant-cvm ] ||
                bad+=("compliance status is '$(jval x-ms-compliance-status)'")
        [ "$(jval issuer_checked)" = true ] || bad+=("issuer_checked is '$(jval issuer_checked)'")
        if [ ${#bad[@]} -eq 0 ]; then
                ok "T1 --json: header and claims"
        else
                not_ok "T1 --json" "${bad[@]}"
        fi
fi
run "$T1" --jwks "$JWKS" --at @1735700000 --json
if check_run "T1 --json, expired" 4 "expired"; then
        reason='"reason": "token expired at 2024-12-31T08:27:14Z (exp)'
        if [ "$(jval verified)" = false ] && grep -qF "$reason" "$tmp/out" &&
                [ "$(jval x-ms-attestation-type)" = azurevm ]; then
                ok "T1 --json, expired: verified false, the reason, and the (unverified) claims"
        else
                not_ok "T1 --json, expired" "verified '$(jval verified)'" \
                        "$(grep '"reason"' "$tmp/out")"
        fi
fi

echo "# 3. outside the validity, or the wrong key or issuer: exit 4"
expect "T1 at exp" 4 "expired at 2024-12-31T08:27:14Z" "$T1" --jwks "$JWKS" --at @1735633634
expect "T1 one second before nbf" 4 "not valid before 2024-12-31T00:27:14Z" "$T1" \
        --jwks "$JWKS" --at @1735604833
expect "T3 a day later" 4 "expired" "$T3" --jwks "$JWKS" --at 2025-01-13T16:00:00Z
expect "T2 now (long expired)" 4 "expired" "$T2" --jwks "$JWKS"
expect "T1 after exp + leeway" 4 "expired" "$T1" --jwks "$JWKS" --at @1735633694 --leeway 60
OTHER=https://sharedeus.eus.attest.azure.net
expect "T1 with the wrong issuer" 4 "issuer is $ISS, expected $OTHER" \
        "$T1" --jwks "$JWKS" --issuer "$OTHER" --at @1735610000
expect "another MAA key's token (kid rj/Uuo...)" 4 \
        "no key with kid rj/UuoedUDeC1WTpnxBo2fBz+RFnAuC5j4luHsQAaXI=" \
        "$TVM" --jwks "$JWKS" --at @1649980000
expect "sharedweu token with the sharedeus2 key (PEM, no kid)" 4 "does not verify" \
        "$WEU" --key "$PEM" --at @1680180000

echo "# 4. one byte changed: exit 4"
size=$(wc -c < "$T1")
h=$(cut -d. -f1 "$T1" | tr -d '\n' | wc -c)
p=$(cut -d. -f2 "$T1" | tr -d '\n' | wc -c)
# Header offset 40 is the 's' of "sharedeus2" in "jku" ("https://whare..."): still JSON.
for spec in "header:40" "payload:$((h + 1 + 100))" "payload:$((h + 1 + p / 2))" \
        "signature:$((h + 1 + p + 1 + 5))" "signature:$((h + 1 + p + 1 + 170))" \
        "signature:$((size - 10))"; do
        part=${spec%%:*} off=${spec#*:}
        change "$T1" "$off" "$tmp/changed.jwt" || exit 99
        if cmp -s "$T1" "$tmp/changed.jwt"; then
                not_ok "$part byte $off changed" "the copy did not change"
                continue
        fi
        expect "$part byte $off changed" 4 "does not verify" "$tmp/changed.jwt" --jwks "$JWKS" \
                --at @1735610000
done
# Every 97th byte, whatever part: never 0, and either 3 or 4.
for off in $(seq 0 97 $((size - 1))); do
        change "$T1" "$off" "$tmp/changed.jwt" || exit 99
        run "$tmp/changed.jwt" --jwks "$JWKS" --at @1735610000
        case $rc in
        3 | 4)
                [ "$(wc -l < "$tmp/err")" -eq 1 ] || not_ok "byte $off changed" "stderr: $(err1)" ;;
        *) not_ok "byte $off changed" "exit $rc, expected 3 or 4" ;;
        esac
done
ok "every 97th byte changed: exit 3 or 4, one line"

echo "# 5. malformed: exit 3"
printf 'not a token\n' > "$tmp/garbage.jwt"
expect "garbage" 3 "JWS" "$tmp/garbage.jwt" --jwks "$JWKS"
: > "$tmp/empty.jwt"
expect "empty file" 3 "JWS" "$tmp/empty.jwt" --jwks "$JWKS"
printf 'a.b.c.d' > "$tmp/four.jwt"
expect "four parts" 3 "three" "$tmp/four.jwt" --jwks "$JWKS"
printf 'e30.e30.A+' > "$tmp/std.jwt"
expect "standard base64 alphabet" 3 "not base64url" "$tmp/std.jwt" --jwks "$JWKS"
printf '%s.e30.AA' "$(printf '{"alg":"none"}' | base64 | tr -d '=')" > "$tmp/none.jwt"
expect "alg none is refused" 4 "alg \"none\"" "$tmp/none.jwt" --jwks "$JWKS"
head -c $((300 * 1024)) /dev/zero | tr '\0' A > "$tmp/huge.jwt"
expect "token over the input cap" 3 "larger than" "$tmp/huge.jwt" --jwks "$JWKS"
printf '{"keys": [' > "$tmp/bad-jwks.json"
expect "JWKS that is not JSON" 3 "--jwks" "$T1" --jwks "$tmp/bad-jwks.json" --at @1735610000
expect "--key that is not PEM" 3 "--key" "$T1" --key "$JWKS" --at @1735610000

echo "# 6. usage: exit 2"
expect "no JWT" 2 "" --jwks "$JWKS"
expect "two JWTs" 2 "" "$T1" "$T2" --jwks "$JWKS"
expect "no keys at all" 2 "need --jwks, --key or --issuer" "$T1"
expect "--jwks and --key" 2 "exclude" "$T1" --jwks "$JWKS" --key "$PEM"
expect "--at not RFC 3339" 2 "--at" "$T1" --jwks "$JWKS" --at yesterday
expect "--leeway not a number" 2 "--leeway" "$T1" --jwks "$JWKS" --leeway -5
expect "missing JWT file" 2 "Cannot read token" "$tmp/does-not-exist.jwt" --jwks "$JWKS"
expect "missing JWKS file" 2 "Cannot read JWKS" "$T1" --jwks "$tmp/does-not-exist.json"
expect "unknown option" 2 "" "$T1" --jwks "$JWKS" --frobnicate
expect "--issuer http:// to a host that is not loopback" 2 "not an https:// URL" "$T1" \
        --issuer http://sharedeus2.eus2.attest.azure.net
expect "--issuer that is not a URL" 2 "--issuer" "$T1" --issuer sharedeus2
run --help
if [ "$rc" -eq 0 ] && grep -q -- "--jwks" "$tmp/out"; then
        ok "--help"
else
        not_ok "--help" "exit $rc"
fi

echo "# 7. --issuer alone: the keys from the issuer's OpenID metadata"
# serve --dev on loopback issues a token for a real Azure SNP report (as verifier-dev.sh does).
if command -v curl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
        rm -f "$tmp/url" # a new server writes it: never read the last one's
        "$BIN" serve --dev --listen 127.0.0.1:0 >"$tmp/url" 2>"$tmp/server.log" &
        pid=$!
        pids+=("$pid")
        for _ in $(seq 200); do [ -s "$tmp/url" ] && break; sleep 0.1; done
        url=$(head -n 1 "$tmp/url")
        [ -n "$url" ] || { echo "serve --dev did not start:"; cat "$tmp/server.log"; exit 99; }
        TAZ=$V/azure/trustee-az-snp-vtpm
        b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
        head -c $((0x20 + 1184)) "$TAZ/hcl-report.bin" | tail -c 1184 >"$tmp/report.bin"
        rsize=$(od -An -tu4 -j $((0x4d0)) -N4 "$TAZ/hcl-report.bin" | tr -d ' ')
        dd if="$TAZ/hcl-report.bin" of="$tmp/runtime.json" bs=1 skip=$((0x4d4)) count="$rsize" \
                status=none
        jq -cn --arg r "$(b64url <"$tmp/report.bin")" --arg c "$(b64url <"$TAZ/vcek.pem")" \
                '{SnpReport: $r, VcekCertChain: $c}' >"$tmp/inner.json"
        jq -cn --arg rep "$(tr -d '\n' <"$tmp/inner.json" | b64url)" \
                --arg rt "$(b64url <"$tmp/runtime.json")" \
                '{report: $rep, runtimeData: {data: $rt, dataType: "JSON"}, nonce: "n-1"}' \
                >"$tmp/body.json"
        curl -s -H 'Content-Type: application/json' --data-binary "@$tmp/body.json" \
                "$url/attest/SevSnpVm" | jq -r .token >"$tmp/dev.jwt"
        [ -s "$tmp/dev.jwt" ] && [ "$(cat "$tmp/dev.jwt")" != null ] ||
                { echo "serve --dev issued no token"; cat "$tmp/server.log"; exit 99; }

        expect "a serve --dev token with --issuer URL alone" 0 "" "$tmp/dev.jwt" --issuer "$url"
        expect "  ... with a trailing slash" 0 "" "$tmp/dev.jwt" --issuer "$url/"
        run "$tmp/dev.jwt" --issuer "$url" --json
        if check_run "  ... --json" 0 "" && [ "$(jval jwks_uri)" = "$url/certs" ] &&
                [ "$(jval issuer_checked)" = true ]; then
                ok "  ... --json names the jwks_uri it used"
        else
                not_ok "  ... --json names the jwks_uri" "jwks_uri '$(jval jwks_uri)'"
        fi
        port=${url##*:}
        expect "the same server under another name (localhost): its metadata names 127.0.0.1" 4 \
                "names issuer $url, expected http://localhost:$port" "$tmp/dev.jwt" \
                --issuer "http://localhost:$port"
        expect "a Microsoft token against serve --dev: no such kid" 4 "no key with kid" "$T1" \
                --issuer "$url" --at @1735610000
        expect "--require-tee: serve --dev outside an SNP guest signs without TEE evidence" 4 \
                "no TEE evidence" "$tmp/dev.jwt" --issuer "$url" --require-tee
        kill "$pid" && wait "$pid" 2>/dev/null
        expect "the server is down: exit 6, naming the URL" 6 \
                "cannot fetch the keys of $url: GET $url/.well-known/openid-configuration" \
                "$tmp/dev.jwt" --issuer "$url"
        expect "nothing listens on https://127.0.0.1:1: exit 6" 6 "https://127.0.0.1:1" \
                "$tmp/dev.jwt" --issuer https://127.0.0.1:1
else
        skip "--issuer against serve --dev" "no curl or jq"
fi

# A static server in $tmp/www plays an issuer that misbehaves; each case writes its documents.
if command -v python3 >/dev/null 2>&1; then
        mkdir -p "$tmp/www/.well-known"
        python3 -c '
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=sys.argv[1], **k)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2], "w") as f:
    f.write("http://127.0.0.1:%d\n" % s.server_address[1])
s.serve_forever()
' "$tmp/www" "$tmp/static-url" 2>"$tmp/static.log" &
        pids+=("$!")
        for _ in $(seq 200); do [ -s "$tmp/static-url" ] && break; sleep 0.1; done
        su=$(head -n 1 "$tmp/static-url")
        [ -n "$su" ] || { echo "the static server did not start:"; cat "$tmp/static.log"; exit 99; }
        meta=$tmp/www/.well-known/openid-configuration
        # meta ISSUER JWKS_URI: the metadata document.
        meta() { printf '{"issuer": "%s", "jwks_uri": "%s"}' "$1" "$2" >"$meta"; }
        cp "$JWKS" "$tmp/www/certs"

        expect "no metadata (404): exit 6" 6 "HTTP status 404" "$T1" --issuer "$su"
        meta "$su" "$su/certs"
        expect "metadata and JWKS served: the token's iss is still checked" 4 \
                "issuer is $ISS, expected $su" "$T1" --issuer "$su" --at @1735610000
        meta "$ISS" "$su/certs"
        expect "metadata naming another issuer" 4 "names issuer $ISS, expected $su" "$T1" \
                --issuer "$su" --at @1735610000
        meta "$su/" "$su/certs"
        expect "  ... its issuer with a trailing slash is the same" 4 "issuer is $ISS" "$T1" \
                --issuer "$su" --at @1735610000
        meta "$su" "$ISS/certs"
        expect "jwks_uri on another origin" 4 "jwks_uri $ISS/certs is not on the issuer's origin" \
                "$T1" --issuer "$su" --at @1735610000
        meta "$su" "${su}0/certs"
        expect "jwks_uri on another port (a longer authority)" 4 "not on the issuer's origin" \
                "$T1" --issuer "$su" --at @1735610000
        meta "$su" "$su/nothing-here"
        expect "jwks_uri that is not there (404): exit 6" 6 "$su/nothing-here: HTTP status 404" \
                "$T1" --issuer "$su" --at @1735610000
        printf '{"issuer": "%s"' "$su" >"$meta"
        expect "metadata that is not JSON: exit 3" 3 "not a JSON object" "$T1" --issuer "$su"
        printf '{"issuer": "%s"}' "$su" >"$meta"
        expect "metadata without jwks_uri: exit 3" 3 "no \"jwks_uri\"" "$T1" --issuer "$su"
        printf '{"issuer": 1, "jwks_uri": "%s/certs"}' "$su" >"$meta"
        expect "metadata whose issuer is not a string: exit 3" 3 "no \"issuer\"" "$T1" \
                --issuer "$su"
        { printf '{"issuer": "%s", "jwks_uri": "%s/certs", "pad": "' "$su" "$su"
          head -c $((70 * 1024)) /dev/zero | tr '\0' a; printf '"}'; } >"$meta"
        expect "metadata over 64 KiB: exit 3" 3 "larger than" "$T1" --issuer "$su"
        meta "$su" "$su/big"
        { printf '{"keys": [], "pad": "'; head -c $((300 * 1024)) /dev/zero | tr '\0' a
          printf '"}'; } >"$tmp/www/big"
        expect "a JWKS over 256 KiB: exit 3" 3 "larger than" "$T1" --issuer "$su"
        meta "$su" "$su/garbage"
        printf 'not json' >"$tmp/www/garbage"
        expect "a JWKS that is not JSON: exit 3" 3 "$su/garbage" "$T1" --issuer "$su"
else
        skip "--issuer against a misbehaving issuer" "no python3"
fi

finish
