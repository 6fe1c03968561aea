#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Command-line test of `cvm-verifier check snp`: every real SEV-SNP report in the shared vectors
# verifies, its --json claims match the values the vectors README states, the known-bad real
# inputs fail as they should, every fixture in tests/fixtures/snp gives the exit code and message
# its README row names, and a sample of single-bit flips of the signed bytes never verifies.
#
# Environment (set by TESTS_ENVIRONMENT in tests/Makemodule.am): top_srcdir, top_builddir,
# CVM_VECTORS (absolute). Exit 77 without the vectors, 99 on a hard error, 1 if a case failed.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CVM_VECTORS=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
if [ ! -d "$CVM_VECTORS/snp" ]; then
        echo "SKIP: no vectors at $CVM_VECTORS"
        exit 77
fi
V=$(cd "$CVM_VECTORS" && pwd)
F=$top_srcdir/tests/fixtures/snp
BIN=$top_builddir/cvm-verifier
if [ ! -x "$BIN" ] || [ ! -f "$F/README.md" ]; then
        echo "ERROR: need $BIN and $F/README.md"
        exit 99
fi
mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/check-snp.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

AT=(--at 2024-12-12T00:00:00Z) # inside the validity of both (expired) VLEKs
VERDICT_ON_STDOUT=1
. "$top_srcdir/tests/integration/lib.sh"


# run ARGS...: cvm-verifier check snp ARGS; sets rc, stdout in $tmp/out, stderr in $tmp/err.
run() {
        "$BIN" check snp "$@" > "$tmp/out" 2> "$tmp/err"
        rc=$?
}



# jtcb OBJECT: the "raw" member of the object OBJECT (e.g. reported_tcb).
jtcb() {
        sed -n "/^ *\"$1\": {/,/}/s/^ *\"raw\": \"\([0-9a-f]*\)\".*/\1/p" "$tmp/out" | head -n 1
}

# expect_json DESC CHECKS -- ARGS...: runs with --json, wants exit 0 and "verified": true, then
# every CHECK: KEY=VALUE (exact), KEY^=PREFIX, tcb:OBJECT=RAW.
expect_json() {
        local desc=$1 c key val got bad=()
        shift
        local checks=()
        while [ "$1" != -- ]; do checks+=("$1"); shift; done
        shift
        run "$@" --json
        check_run "$desc" 0 "" || return
        [ "$(jval verified)" = true ] || bad+=("\"verified\" is '$(jval verified)', expected true")
        for c in "${checks[@]}"; do
                case $c in
                tcb:*)
                        key=${c#tcb:} key=${key%%=*} val=${c#*=}
                        got=$(jtcb "$key")
                        [ "$got" = "$val" ] || bad+=("$key.raw is '$got', expected '$val'") ;;
                *^=*)
                        key=${c%%^=*} val=${c#*^=}
                        got=$(jval "$key")
                        case $got in "$val"*) ;; *) bad+=("$key is '$got', expected '$val...'") ;; esac ;;
                *)
                        key=${c%%=*} val=${c#*=}
                        got=$(jval "$key")
                        [ "$got" = "$val" ] || bad+=("$key is '$got', expected '$val'") ;;
                esac
        done
        if [ ${#bad[@]} -gt 0 ]; then
                not_ok "$desc" "${bad[@]}"
        else
                ok "$desc"
        fi
}

zeros() { printf "%0$1d" 0; }

S=$V/snp
AZ=$V/azure/trustee-az-snp-vtpm
head -c 1184 "$S/constellation/attestation.bin" > "$tmp/constellation-report.bin"

echo "# 1. every real report verifies"
expect "go-sev-guest attestation.bin (Milan v2)" 0 "" \
        "$S/go-sev-guest/attestation.bin" --cert "$S/go-sev-guest/vcek.testcer"
expect "virtee-sev report_milan.bin (Milan v2)" 0 "" \
        "$S/virtee-sev/report_milan.bin" --cert "$S/virtee-sev/vcek_milan.der"
expect "trustee test-report.bin (Milan v2, CURRENT_TCB != REPORTED_TCB)" 0 "" \
        "$S/trustee/test-report.bin" --cert "$S/trustee/test-vcek.der"
for o in genoa_oc turin_oc milan_oc_release milan_rk_release; do
        expect "oak ${o}_report.bin" 0 "" "$S/oak/${o}_report.bin" --cert "$S/oak/${o}_vcek.der"
done
expect "constellation attestation.bin[0..1183] with vcek.cert (DER)" 0 "" \
        "$tmp/constellation-report.bin" --cert "$S/constellation/vcek.cert"
expect "constellation attestation.bin[0..1183] with vcek.pem" 0 "" \
        "$tmp/constellation-report.bin" --cert "$S/constellation/vcek.pem"
expect "azure hcl-report.bin with the VCEK+ASK+ARK bundle via --certs" 0 "" \
        "$AZ/hcl-report.bin" --certs "$AZ/vcek.pem"
for e in genoa v0 v1 v2; do
        expect "azure evidence-$e.hcl-report.bin" 0 "" \
                "$AZ/evidence-$e.hcl-report.bin" --cert "$AZ/evidence-$e.vcek.pem"
done
expect "trustee test-vlek-report.bin (VLEK, v3) at 2024-12-12" 0 "" \
        "$S/trustee/test-vlek-report.bin" --cert "$S/trustee/test-vlek.der" "${AT[@]}"
expect "constellation aws/report.bin (VLEK, v3) at 2024-12-12" 0 "" \
        "$S/constellation/aws/report.bin" --cert "$S/constellation/aws/vlek.pem" "${AT[@]}"

echo "# 2. --json claims equal the values in the vectors README"
expect_json "json: go-sev-guest (Milan v2)" version=2 \
        x-ms-sevsnpvm-launchmeasurement=b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01 \
        chip_id=3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d \
        tcb:reported_tcb=4405000000000002 \
        x-ms-sevsnpvm-reportdata=0102030405$(zeros 118) policy=720896 -- \
        "$S/go-sev-guest/attestation.bin" --cert "$S/go-sev-guest/vcek.testcer"
expect_json "json: virtee-sev Milan" \
        x-ms-sevsnpvm-launchmeasurement=7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f \
        x-ms-sevsnpvm-reportdata=d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd \
        'chip_id^=d49554ec717f4e5b' tcb:reported_tcb=7308000000000003 \
        x-ms-sevsnpvm-microcode-svn=115 x-ms-sevsnpvm-snpfw-svn=8 current_firmware=1.52.4 -- \
        "$S/virtee-sev/report_milan.bin" --cert "$S/virtee-sev/vcek_milan.der"
expect_json "json: oak Genoa v5" version=5 product=Genoa \
        x-ms-sevsnpvm-launchmeasurement=c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc \
        'chip_id^=d2421d976f95ce0b' tcb:reported_tcb=541900000000000a \
        'x-ms-sevsnpvm-reportdata^=8100555af0ad8e7525be6dffeed0af83e30bbacbf03b76e175e6894d1ed057ce' \
        launch_mit_vector=1 current_mit_vector=1 -- \
        "$S/oak/genoa_oc_report.bin" --cert "$S/oak/genoa_oc_vcek.der"
expect_json "json: oak Turin v5" version=5 product=Turin \
        x-ms-sevsnpvm-launchmeasurement=f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624 \
        chip_id=3b42092f69c656d3$(zeros 112) tcb:reported_tcb=4700000002000100 \
        x-ms-sevsnpvm-microcode-svn=71 x-ms-sevsnpvm-snpfw-svn=2 x-ms-sevsnpvm-bootloader-svn=1 -- \
        "$S/oak/turin_oc_report.bin" --cert "$S/oak/turin_oc_vcek.der"
expect_json "json: trustee VLEK v3" version=3 product=Milan signing_key=vlek \
        x-ms-sevsnpvm-launchmeasurement=8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0 \
        chip_id=$(zeros 128) tcb:reported_tcb=d918000000000004 tcb:current_tcb=dc18000000000004 \
        x-ms-sevsnpvm-vmpl=1 -- \
        "$S/trustee/test-vlek-report.bin" --cert "$S/trustee/test-vlek.der" "${AT[@]}"
expect_json "json: AWS VLEK v3" signing_key=vlek \
        x-ms-sevsnpvm-launchmeasurement=5a5cdbad8f540ce4abca0120faec86f62ef7128a4ac711add34d468b5957c82aa2f24e8f111dadc3689b787b88ed0715 \
        x-ms-sevsnpvm-reportdata=87ab7caf510e1b3520dc3cceb64ee44128e10976fb0d3fc5e274699d8aaf506154af4c1de0a026b49fdf861e9ac75551551b3534d1c61369a3b08f5baed0db2f \
        tcb:reported_tcb=d918000000000004 -- \
        "$S/constellation/aws/report.bin" --cert "$S/constellation/aws/vlek.pem" "${AT[@]}"
expect_json "json: constellation (Azure Milan v2)" \
        x-ms-sevsnpvm-launchmeasurement=5677f1de87289e7ad2c7e99c805d0468b1a9ccd83f0d245afa5242d405da4d5725852f8c6550564870e5f3206dfb1841 \
        'chip_id^=9e44aaef02cfca6f' tcb:reported_tcb=5d06000000000002 x-ms-sevsnpvm-guestsvn=2 -- \
        "$tmp/constellation-report.bin" --cert "$S/constellation/vcek.cert"
expect_json "json: azure hcl-report.bin (HCL container, Milan v2)" container=azure-hcl-report \
        x-ms-sevsnpvm-launchmeasurement=9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315 \
        'chip_id^=19752a447db501a3' tcb:reported_tcb=7308000000000003 tcb:current_tcb=d208000000000003 \
        x-ms-sevsnpvm-idkeydigest=0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3 \
        x-ms-sevsnpvm-guestsvn=5 -- \
        "$AZ/hcl-report.bin" --certs "$AZ/vcek.pem"
expect_json "json: azure evidence-genoa (HCL, Genoa v3)" container=azure-hcl-report product=Genoa \
        x-ms-sevsnpvm-launchmeasurement=f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae \
        tcb:reported_tcb=541700000000000a -- \
        "$AZ/evidence-genoa.hcl-report.bin" --cert "$AZ/evidence-genoa.vcek.pem"

echo "# 3. real inputs that must not verify"
expect "azure-cvm-tooling hcl-report-snp.bin with another chip's VCEK (certs.pem)" 4 \
        "does not verify" "$V/azure/azure-cvm-tooling/hcl-report-snp.bin" \
        --certs "$V/azure/azure-cvm-tooling/certs.pem"
expect "report_milan.bin with another chip's valid VCEK (go-sev-guest vcek.testcer)" 4 \
        "does not verify with the VCEK" \
        "$S/virtee-sev/report_milan.bin" --cert "$S/go-sev-guest/vcek.testcer"
expect "Genoa report with a Milan VCEK" 4 "does not verify" \
        "$S/oak/genoa_oc_report.bin" --cert "$S/oak/milan_oc_release_vcek.der"
expect "Turin report with the Genoa VCEK" 4 "does not verify" \
        "$S/oak/turin_oc_report.bin" --cert "$S/oak/genoa_oc_vcek.der"
expect "VLEK report given a VCEK" 4 "signing key at 0x048 is 1, but the certificate is a VCEK" \
        "$S/trustee/test-vlek-report.bin" --cert "$S/virtee-sev/vcek_milan.der"
expect "trustee VLEK report now: the VLEK has expired" 4 "not at" \
        "$S/trustee/test-vlek-report.bin" --cert "$S/trustee/test-vlek.der"
expect "AWS VLEK report now: the VLEK has expired" 4 "not at" \
        "$S/constellation/aws/report.bin" --cert "$S/constellation/aws/vlek.pem"
expect "Milan VCEK before its notBefore (--at 2020-01-01)" 4 "not at 2020-01-01T00:00:00Z" \
        "$S/virtee-sev/report_milan.bin" --cert "$S/virtee-sev/vcek_milan.der" \
        --at 2020-01-01T00:00:00Z
run "$V/azure/cvm-guest-attestation/clientlib-hcl-report.bin" --json
if check_run "clientlib-hcl-report.bin (report v1), no certificate" 4 "no VCEK or VLEK"; then
        if [ "$(jval version)" = 1 ] && [ "$(jval verified)" = false ] &&
                [ "$(jval x-ms-sevsnpvm-launchmeasurement)" = 53666d654e8fd0d7d2af48af922dcea1851027127822a5bcb4dcfdac9cbb7893cb26f4e600e2a44bfa747e8f96bf32a5 ]; then
                ok "clientlib-hcl-report.bin (report v1) parses, not verified without a VCEK"
        else
                not_ok "clientlib-hcl-report.bin (report v1) parses" \
                        "version '$(jval version)', verified '$(jval verified)'"
        fi
fi
expect "TDX HCL report (report_type 4) is not an SNP report" 3 "" \
        "$V/azure/trustee-az-tdx-vtpm/hcl-report.bin"
if command -v openssl > /dev/null 2>&1; then
        # The Genoa VCEK next to a Milan ASK: the stray ASK is not its issuer and is ignored;
        # the VCEK chains through the compiled-in SEV-Genoa. A real cross-generation chain
        # needs forged signatures: see evil-cert-ask-milan-under-ark-genoa.pem.
        { openssl x509 -inform DER -in "$S/oak/genoa_oc_vcek.der"; cat "$V/amd-roots/milan/ask.pem"; } \
                > "$tmp/genoa-vcek-milan-ask.pem"
        expect "Genoa report, --certs Genoa VCEK + Milan ASK: stray ASK ignored" 0 "" \
                "$S/oak/genoa_oc_report.bin" --certs "$tmp/genoa-vcek-milan-ask.pem"
else
        skip "Genoa report, --certs Genoa VCEK + Milan ASK" "no openssl"
fi
# A look-alike ARK inside --certs is never a trust anchor.
cat "$F/test-pki-vcek-milan.pem" "$F/test-pki-ask-milan.pem" "$F/test-pki-ark-milan.pem" \
        > "$tmp/test-pki-bundle.pem"
expect "test PKI with its ARK in --certs (not --root): untrusted" 4 "is not a trusted root" \
        "$F/test-pki-report-milan.bin" --certs "$tmp/test-pki-bundle.pem"
expect "--cert that is not a certificate" 3 "not a PEM or DER certificate" \
        "$S/virtee-sev/report_milan.bin" --cert "$S/virtee-sev/report_milan.bin"
head -c $((300 * 1024)) /dev/zero > "$tmp/huge.bin"
expect "report larger than the input cap" 3 "larger than" "$tmp/huge.bin"
expect "oversized --certs file" 3 "larger than" \
        "$S/virtee-sev/report_milan.bin" --certs "$tmp/huge.bin"
expect "missing report file is a usage error" 2 "Cannot read report" "$tmp/does-not-exist.bin"
expect "missing --certs file is a usage error" 2 "Cannot read certificates" \
        "$S/virtee-sev/report_milan.bin" --certs "$tmp/does-not-exist.pem"
expect "usage: no REPORT" 2 "" --cert "$S/virtee-sev/vcek_milan.der"
expect "usage: two REPORTs" 2 "" "$S/virtee-sev/report_milan.bin" "$S/virtee-sev/report_milan.bin"
expect "usage: --at not RFC 3339" 2 "--at" "$S/virtee-sev/report_milan.bin" --at yesterday

echo "# 4. fixtures, as listed in tests/fixtures/snp/README.md"
trim() {
        local s=$1
        s=${s#"${s%%[![:space:]]*}"}
        s=${s%"${s##*[![:space:]]}"}
        s=${s#\`}
        s=${s%\`}
        printf '%s' "$s"
}
declare -A listed=()
rows=0
while IFS= read -r line; do
        case $line in '| `'*) ;; *) continue ;; esac
        IFS='|' read -r _ c_file _ c_exit c_frag c_args _ <<< "$line"
        file=$(trim "$c_file") want=$(trim "$c_exit") frag=$(trim "$c_frag") args=$(trim "$c_args")
        listed[$file]=1
        rows=$((rows + 1))
        if [ ! -f "$F/$file" ]; then
                not_ok "fixture $file" "listed in README.md but missing"
                continue
        fi
        case $want in [0-9]) ;; *) continue ;; esac
        argv=()
        read -ra words <<< "$args"
        for w in "${words[@]}"; do
                [ "$w" = @ ] && w=$F/$file
                w=${w//\$V/$V}
                w=${w//\$F/$F}
                argv+=("$w")
        done
        expect "fixture $file -> $want${frag:+ '$frag'}" "$want" "$frag" "${argv[@]}"
done < "$F/README.md"
[ "$rows" -gt 0 ] || not_ok "fixture table" "no rows found in $F/README.md"

unlisted=() undist=()
for p in "$F"/*; do
        b=${p##*/}
        case $b in README.md | make-fixtures.sh) ;; *) [ -n "${listed[$b]:-}" ] || unlisted+=("$b") ;; esac
        grep -qF "tests/fixtures/snp/$b" "$top_srcdir/tests/integration/Makemodule.am" || undist+=("$b")
done
if [ ${#unlisted[@]} -eq 0 ]; then ok "every fixture has a row in README.md"
else not_ok "every fixture has a row in README.md" "no row: ${unlisted[*]}"; fi
if [ ${#undist[@]} -eq 0 ]; then ok "every fixture is in EXTRA_DIST"
else not_ok "every fixture is in EXTRA_DIST" "missing: ${undist[*]}"; fi
find "$V" -type f -exec sha256sum {} + | cut -d' ' -f1 | sort -u > "$tmp/vector-sums"
copies=$( (cd "$F" && sha256sum -- *) | sort | join -o 1.2 - "$tmp/vector-sums")
if [ -z "$copies" ]; then ok "no fixture is a byte copy of a vector"
else not_ok "no fixture is a byte copy of a vector" "copies: $copies"; fi

echo "# 5. single-bit flips of the signed bytes 0x000..0x29F never verify (64 of 5376)"
# Byte i*671/63 (0x000 .. 0x29F, first and last included), bit (5*i) mod 8.
base=$S/virtee-sev/report_milan.bin
for i in $(seq 0 63); do
        off=$((i * 671 / 63)) bit=$((i * 5 % 8))
        cp "$base" "$tmp/flip.bin"
        b=$(od -An -tu1 -j "$off" -N1 "$base" | tr -d ' ')
        printf "\\$(printf '%03o' $((b ^ (1 << bit))))" |
                dd of="$tmp/flip.bin" bs=1 seek="$off" conv=notrunc status=none
        desc=$(printf 'flip byte 0x%03x bit %d' "$off" "$bit")
        run "$tmp/flip.bin" --cert "$S/virtee-sev/vcek_milan.der"
        case $rc in
        3 | 4) [ "$(wc -l < "$tmp/err")" -eq 1 ] && ok "$desc -> $rc" ||
                not_ok "$desc" "stderr is not one line: $(err1)" ;;
        *) not_ok "$desc" "exit $rc, expected 3 or 4" "stderr: $(err1)" ;;
        esac
done

finish
