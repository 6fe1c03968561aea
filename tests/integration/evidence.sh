#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-agent evidence` on the simulator (swtpm as the vTPM, the Azure paravisor's HCL report in NV
# 0x01400001, or the SNP firmware), verified by `cvm-verifier check evidence`; then each way the
# evidence can be wrong must fail with exit 4 and say what differed.
# Exit 0 pass, 1 fail, 77 skip (no swtpm, tpm2-tools, jq or FUSE), 99 setup error.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

for tool in swtpm tpm2_pcrextend jq base64; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/evidence.XXXXXX") || exit 99
. "$top_srcdir/tests/integration/lib.sh"
cleanup() {
        sim_down_all
        rm -rf "$tmp"
}
trap cleanup EXIT


n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
        n=$((n + 1)) failed=$((failed + 1))
        echo "not ok $n - $1"
        shift
        printf '#   %s\n' "$@"
        sed 's/^/#   stderr: /' "$tmp/err"
}
expect() {
        local name=$1 code=$2 frag=$3 rc
        shift 3
        "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ $rc -ne "$code" ]; then
                not_ok "$name" "exit $rc, expected $code"
        elif [ -n "$frag" ] && ! grep -qF -- "$frag" "$tmp/err"; then
                not_ok "$name" "stderr lacks '$frag'"
        else
                ok "$name"
        fi
}

# b64url FILE -> base64url on stdout; unb64url STRING FILE
b64url() { base64 -w0 "$1" | tr '+/' '-_' | tr -d '='; }
unb64url() {
        local s=$1 pad
        s=$(printf '%s' "$s" | tr '_-' '/+')
        pad=$(( (4 - ${#s} % 4) % 4 ))
        [ $pad -gt 0 ] && s="$s$(printf '%*s' $pad '' | tr ' ' '=')"
        printf '%s' "$s" | base64 -d >"$2"
}
# edit_blob IN OUT JQPATH OFFSET: flip the low bit of one byte of a base64url member.
edit_blob() {
        local in=$1 out=$2 path=$3 off=$4 b
        unb64url "$(jq -r "$path" "$in")" "$tmp/blob"
        b=$(od -An -tu1 -j "$off" -N1 "$tmp/blob" | tr -d ' ')
        printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$tmp/blob" bs=1 seek="$off" conv=notrunc status=none
        jq --arg v "$(b64url "$tmp/blob")" "$path = \$v" "$in" >"$out"
}

check() { "$VERIFIER" check evidence "$@" --certs "$CVM_SIM_DIR/cert_chain.pem" --cert "$CVM_SIM_DIR/vcek.pem" --root "$CVM_SIM_ROOT"; }

# ---- Azure SEV-SNP CVM: the HCL report from the paravisor ------------------------------------
sim_up "$tmp/azure" --tpm --azure
nonce=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
expect "azure: evidence" 0 "" "$AGENT" evidence --nonce "$nonce" --out "$tmp/az.json"
[ "$(jq -r .platform "$tmp/az.json")" = azure-sevsnp ] && ok "azure: platform azure-sevsnp" ||
        not_ok "azure: platform azure-sevsnp" "got $(jq -r .platform "$tmp/az.json")"
jq -e '.eventlog and .hcl_report and .tpm.ak_certificate and .tpm.encryption_key.certify_info' \
        "$tmp/az.json" >/dev/null && ok "azure: every part is there" || not_ok "azure: every part is there"
expect "azure: check evidence" 0 "" check "$tmp/az.json" --nonce "$nonce"
expect "azure: check evidence --json" 0 "" check "$tmp/az.json" --nonce "$nonce" --json
jq -e '.verified == true and (.eventlog.sha256 | length > 0)' "$tmp/out" >/dev/null &&
        ok "azure: JSON verdict with per-PCR event-log verdicts" || not_ok "azure: JSON verdict with per-PCR event-log verdicts"
expect "azure: a wrong nonce" 4 "not the expected one" check "$tmp/az.json" --nonce "00$nonce"
jq '.tpm.pcrs.sha256["0"] |= ("00" + .[2:])' "$tmp/az.json" >"$tmp/pcr.json"
expect "azure: a PCR value edited after the quote" 4 "pcrDigest" check "$tmp/pcr.json"
# The runtime claims start at 0x4d4 in the HCL report: change a byte in them.
edit_blob "$tmp/az.json" "$tmp/claims.json" .hcl_report $((0x4d4 + 40))
expect "azure: edited runtime claims" 4 "REPORT_DATA does not carry" check "$tmp/claims.json"
edit_blob "$tmp/az.json" "$tmp/quote.json" .tpm.quote 20
expect "azure: edited quote" 4 "does not verify" check "$tmp/quote.json"
expect "azure: without the simulator's root" 4 "trusted root" \
        "$VERIFIER" check evidence "$tmp/az.json" --certs "$CVM_SIM_DIR/cert_chain.pem" --cert "$CVM_SIM_DIR/vcek.pem"
az_ak=$(jq -r .tpm.ak_public "$tmp/az.json")

# PCR 15 is not in the firmware log: quoted after an extend, nothing explains it.
tcti_port=${CVM_TCTI##*port=}
TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$tcti_port" tpm2_pcrextend \
        "15:sha256=0000000000000000000000000000000000000000000000000000000000000002" >/dev/null 2>&1 ||
        not_ok "tpm2_pcrextend 15"
expect "azure: evidence over PCRs 0-7,15" 0 "" "$AGENT" evidence --pcrs 0-7,15 --out "$tmp/az3.json"
expect "azure: PCR 15 extended without events" 4 "sha256 PCR 15 was extended, but the event log has no events" \
        check "$tmp/az3.json"

# A PCR extended outside the measured boot: the quote is fine, the event log does not explain it.
TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$tcti_port" tpm2_pcrextend \
        "4:sha256=0000000000000000000000000000000000000000000000000000000000000001" >/dev/null 2>&1 ||
        not_ok "tpm2_pcrextend 4"
expect "azure: evidence after an unlogged extend" 0 "" "$AGENT" evidence --out "$tmp/az2.json"
expect "azure: PCR 4 differs from the event log" 4 "sha256 PCR 4 differs from the event log" \
        check "$tmp/az2.json"

# ---- SEV-SNP without a paravisor: our runtime claims in REPORT_DATA --------------------------
sim_up "$tmp/snp" --tpm
expect "snp: evidence" 0 "" "$AGENT" evidence --isolation snp --out "$tmp/snp.json"
[ "$(jq -r .platform "$tmp/snp.json")" = sevsnp ] && ok "snp: platform sevsnp" || not_ok "snp: platform sevsnp"
expect "snp: check evidence" 0 "" \
        "$VERIFIER" check evidence "$tmp/snp.json" --root "$CVM_SIM_ROOT"
# Swap in the AK of the other VM: its key did not sign this quote.
jq --arg ak "$az_ak" '.tpm.ak_public = $ak' "$tmp/snp.json" >"$tmp/swap.json"
expect "snp: another VM's AK" 4 "does not verify with the AK" \
        "$VERIFIER" check evidence "$tmp/swap.json" --root "$CVM_SIM_ROOT"
edit_blob "$tmp/snp.json" "$tmp/rd.json" .snp.runtime_data 10
expect "snp: edited runtime claims" 4 "REPORT_DATA is not the SHA-256" \
        "$VERIFIER" check evidence "$tmp/rd.json" --root "$CVM_SIM_ROOT"

# ---- trusted launch: the vTPM only, the AK vouched for by its certificate --------------------
expect "trusted launch: evidence" 0 "" "$AGENT" evidence --isolation none --out "$tmp/tl.json"
expect "trusted launch: check evidence with the AK CA" 0 "" \
        "$VERIFIER" check evidence "$tmp/tl.json" --ak-ca "$CVM_SIM_AK_CA"
expect "an RSA AK created at another handle" 0 "" \
        "$AGENT" evidence --isolation none --ak-handle 0x81000020 --ak-type rsa --out "$tmp/rsa.json"
expect "check evidence with the RSA AK" 0 "" "$VERIFIER" check evidence "$tmp/rsa.json"
expect "trusted launch: the wrong AK CA" 4 "not issued by the AK CA" \
        "$VERIFIER" check evidence "$tmp/tl.json" --ak-ca "$CVM_SIM_ROOT"

expect "no TPM: exit 6" 6 "TPM" env CVM_TCTI=swtpm:host=127.0.0.1,port=1 "$AGENT" evidence

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
