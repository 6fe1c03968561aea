#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-verifier check snp --kds URL --vcek-cache DIR` against tests/integration/fake-kds serving
# the vectors' real VCEKs at their KDS URLs: real reports given without a certificate verify with
# the VCEK fetched (once) and then cached; the cache works offline; failures of KDS (404, 429, no
# CRL) fail closed with their reason and exit code.
#
# Environment (TESTS_ENVIRONMENT, tests/Makemodule.am): top_srcdir, top_builddir, CVM_VECTORS.
# Exit 77 without the vectors, 99 on a hard error, 1 if a case failed.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CVM_VECTORS=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
if [ ! -d "$CVM_VECTORS/snp" ]; then
        echo "SKIP: no vectors at $CVM_VECTORS"
        exit 77
fi
V=$(cd "$CVM_VECTORS" && pwd)
BIN=$top_builddir/cvm-verifier
FAKE=$top_builddir/tests/integration/fake-kds
command -v openssl >/dev/null && command -v curl >/dev/null || { echo "SKIP: needs openssl and curl"; exit 77; }
if [ ! -x "$BIN" ] || [ ! -x "$FAKE" ]; then
        echo "ERROR: need $BIN and $FAKE"
        exit 99
fi
mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/check-snp-kds.XXXXXX") || exit 99
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

VERDICT_ON_STDOUT=1
. "$top_srcdir/tests/integration/lib.sh"

run() {
        "$BIN" check snp "$@" > "$tmp/out" 2> "$tmp/err"
        rc=$?
}

# kds_key FILE OFFSET: sets target (the KDS request target) and rel (the cache path) for the
# Milan/Genoa report at OFFSET in FILE, from CHIP_ID (0x1A0) and REPORTED_TCB (0x180).
kds_key() {
        local f=$1 off=$2 product=$3 hwid tcb b
        hwid=$(od -An -tx1 -v -j $((off + 0x1A0)) -N 64 "$f" | tr -d ' \n')
        read -r -a b <<< "$(od -An -tu1 -v -j $((off + 0x180)) -N 8 "$f")"
        tcb=$(printf '%02x' "${b[7]}" "${b[6]}" "${b[5]}" "${b[4]}" "${b[3]}" "${b[2]}" "${b[1]}" "${b[0]}")
        target="/vcek/v1/$product/$hwid?blSPL=${b[0]}&teeSPL=${b[1]}&snpSPL=${b[6]}&ucodeSPL=${b[7]}"
        rel="vcek/$product/$hwid/$tcb.der"
}

# serve FILE OFFSET PRODUCT CERT: put CERT (PEM or DER) as DER where KDS would serve it.
serve() {
        kds_key "$1" "$2" "$3"
        mkdir -p "$(dirname "$tmp/serve$target")" || exit 99
        openssl x509 -in "$4" -inform "$(head -c 5 "$4" | grep -q -- '-----' && echo PEM || echo DER)" \
                -outform DER -out "$tmp/serve$target" || exit 99
}

# fake_start ARGS...: (re)start the fake KDS on $tmp/serve; sets URL.
fake_start() {
        fake_stop
        : > "$tmp/port"
        "$FAKE" --dir "$tmp/serve" "$@" > "$tmp/port" 2> "$tmp/fake.err" &
        fake_pid=$!
        for _ in $(seq 100); do
                [ -s "$tmp/port" ] && break
                sleep 0.05
        done
        [ -s "$tmp/port" ] || { echo "fake-kds did not start: $(cat "$tmp/fake.err")"; exit 99; }
        URL=http://127.0.0.1:$(cat "$tmp/port")
}
fake_stop() {
        [ -n "$fake_pid" ] && { kill "$fake_pid"; wait "$fake_pid" 2>/dev/null; }
        fake_pid=
}
# count TARGET: requests the fake KDS saw for TARGET.
count() {
        curl -s "$URL/stats" | awk -v t="$1" '$2 == t { n += $1 } END { print n + 0 }'
}
# expect_count DESC TARGET N
expect_count() {
        local got
        got=$(count "$2")
        if [ "$got" = "$3" ]; then ok "$1"; else not_ok "$1" "$got requests for $2, expected $3"; fi
}

R1=$V/snp/go-sev-guest/attestation.bin
R2=$V/snp/virtee-sev/report_milan.bin
R3=$V/snp/oak/genoa_oc_report.bin
R4=$V/azure/trustee-az-snp-vtpm/hcl-report.bin # an Azure HCL report: the SNP report at 0x20
serve "$R2" 0 Milan "$V/snp/virtee-sev/vcek_milan.der"; T2=$target REL2=$rel
serve "$R3" 0 Genoa "$V/snp/oak/genoa_oc_vcek.der"; T3=$target REL3=$rel
serve "$R4" 32 Milan "$V/azure/trustee-az-snp-vtpm/vcek.pem"; T4=$target REL4=$rel
serve "$R1" 0 Milan "$V/snp/go-sev-guest/vcek.testcer"; T1=$target REL1=$rel
C=$tmp/cache
fake_start

# Without a certificate and without KDS: the old message.
expect "no certificate, no KDS" 4 "no VCEK or VLEK" "$R1"
expect "--kds needs --vcek-cache" 2 "--vcek-cache" "$R1" --kds "$URL"
expect "--kds must be http(s)" 2 "not http:// or https://" "$R1" --kds "ftp://x" --vcek-cache "$C"

# Fetch, cache, verify; then the cache answers.
expect "milan v2: VCEK from KDS" 0 "" "$R1" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect_count "milan v2: one request" "$T1" 1
if cmp -s "$C/$REL1" <(openssl x509 -in "$V/snp/go-sev-guest/vcek.testcer" -inform DER -outform DER); then
        ok "milan v2: cached as vcek/Milan/<hwid>/<tcb>.der"
else
        not_ok "milan v2: cached as vcek/Milan/<hwid>/<tcb>.der" "$(ls -R "$C" | head -5)"
fi
expect "milan v2: again" 0 "" "$R1" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect_count "milan v2: still one request" "$T1" 1
expect "milan v2: offline from the cache" 0 "" "$R1" --vcek-cache "$C"
run "$R1" --vcek-cache "$C" --json
check_run "milan v2: offline --json" 0 "" && [ "$(jval kind)" = vcek ] && ok "milan v2: offline --json"

expect "milan v2 (virtee): from KDS" 0 "" "$R2" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect "genoa v5: from KDS" 0 "" "$R3" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect "azure HCL report: from KDS" 0 "" "$R4" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect_count "genoa: one request" "$T3" 1
expect_count "azure: one request" "$T4" 1

# A certificate on the command line wins: KDS is not asked.
expect "--cert given: no lookup" 0 "" "$V/snp/trustee/test-report.bin" --cert "$V/snp/trustee/test-vcek.der" \
        --kds "$URL" --vcek-cache "$tmp/cache-unused" --no-kds-crl
[ ! -e "$tmp/cache-unused/vcek" ] && ok "--cert given: nothing cached" || not_ok "--cert given: nothing cached"

# Offline and not cached; KDS without the VCEK (404); corrupt cache refetched.
expect "offline, not cached" 4 "not in the cache" "$V/snp/trustee/test-report.bin" --vcek-cache "$C"
expect "KDS 404" 4 "KDS has no VCEK for this chip/TCB" "$V/snp/trustee/test-report.bin" --kds "$URL" \
        --vcek-cache "$C" --no-kds-crl
echo garbage > "$C/$REL2"
expect "corrupt cache file, offline: refused" 3 "not exactly one DER certificate" "$R2" --vcek-cache "$C"
expect "corrupt cache file: refetched" 0 "" "$R2" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect_count "corrupt cache file: second request" "$T2" 2

# The CRL: fetched with --kds unless --crl, the table or --no-kds-crl gives or waives it. The
# fake has none (no real AMD CRL is in the vectors): fail closed.
expect "no CRL at KDS: fails closed" 4 "KDS has no CRL" "$R1" --kds "$URL" --vcek-cache "$C"
expect "no CRL at KDS, --allow-stale-crl: still closed" 4 "KDS has no CRL" "$R1" --kds "$URL" \
        --vcek-cache "$C" --allow-stale-crl
expect_count "CRL asked for" "/vcek/v1/Milan/crl" 2
echo garbage > "$tmp/junk.crl"
expect "--crl given: not fetched" 3 "--crl" "$R1" --kds "$URL" --vcek-cache "$C" --crl "$tmp/junk.crl"
expect_count "--crl given: CRL not asked for" "/vcek/v1/Milan/crl" 2

# Rate limited: exit 6 (unavailable) with the reason.
rm -f "$C/$REL3"
fake_start --status "*=429" --retry-after 30
expect "KDS 429" 6 "HTTP 429" "$R3" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect "KDS 429, cached report still verifies" 0 "" "$R1" --kds "$URL" --vcek-cache "$C" --no-kds-crl

# KDS down: exit 6.
fake_stop
expect "KDS unreachable" 6 "127.0.0.1" "$R3" --kds "$URL" --vcek-cache "$C" --no-kds-crl
expect "KDS unreachable, cached report verifies" 0 "" "$R4" --kds "$URL" --vcek-cache "$C" --no-kds-crl

finish
