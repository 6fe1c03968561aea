#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-agent report` against the SEV-SNP platform simulator: the agent's real configfs-tsm and
# /dev/sev-guest code talks to tests/sim (FUSE and an LD_PRELOAD shim), the report it gets is
# verified by `cvm-verifier check snp`, and every failure the firmware, the host or the kernel
# can report comes back as a clear one-line error with exit code 6 (or 3 for a malformed report).
# Exit 0 pass, 1 fail, 77 skip (no FUSE, or the simulator was not built), 99 setup error.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
# The simulated ARK/ASK (RSA-4096) are made once and shared by every platform below.
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }
[ -x "$AGENT" ] && [ -x "$VERIFIER" ] || { echo "cvm-agent/cvm-verifier not built"; exit 99; }

tmp=$(mktemp -d "$top_builddir/tests/integration/agent-report.XXXXXX") || exit 99
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

# expect NAME CODE FRAGMENT CMD...: CMD exits with CODE and, when FRAGMENT is not empty, says it
# in exactly one line on stderr.
expect() {
        local name=$1 code=$2 frag=$3 rc lines
        shift 3
        "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        lines=$(wc -l <"$tmp/err")
        if [ $rc -ne "$code" ]; then
                not_ok "$name" "exit $rc, expected $code"
        elif [ -n "$frag" ] && ! grep -qF -- "$frag" "$tmp/err"; then
                not_ok "$name" "stderr lacks '$frag'"
        elif [ -n "$frag" ] && [ "$lines" -ne 1 ]; then
                not_ok "$name" "stderr has $lines lines, expected one"
        else
                ok "$name"
        fi
}

# json_field FILE KEY: the value of "KEY": in a --json document (string or scalar).
json_field() {
        sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -n 1
}

preload() { LD_PRELOAD=$CVM_SIM_PRELOAD "$@"; }
set_conf() { "$SIM" set --dir "$CVM_SIM_DIR" "$@" >/dev/null 2>&1 || echo "cvm-sim set $* failed"; }

nonce=$(od -An -tx1 -N64 /dev/urandom | tr -d ' \n')

# ---- Milan, report version 3 (the default platform) ----------------------------------------
sim_up "$tmp/milan"

expect "tsm: report with a 64-byte nonce" 0 "" \
        "$AGENT" report --source tsm --report-data "$nonce" --out "$tmp/r.bin" --certs-out "$tmp/c.bin" --json
cp "$tmp/out" "$tmp/r.json"
[ "$(json_field "$tmp/r.json" x-ms-sevsnpvm-reportdata)" = "$nonce" ] && ok "tsm: REPORT_DATA is the nonce" ||
        not_ok "tsm: REPORT_DATA is the nonce" "got $(json_field "$tmp/r.json" x-ms-sevsnpvm-reportdata)"
[ "$(json_field "$tmp/r.json" source)" = tsm ] && ok "tsm: source is tsm" || not_ok "tsm: source is tsm"
[ "$(stat -c %s "$tmp/r.bin")" -eq 1184 ] && ok "tsm: --out wrote 1184 bytes" || not_ok "tsm: --out wrote 1184 bytes"
expect "tsm: report verifies with the simulator's root" 0 "" \
        "$VERIFIER" check snp "$tmp/r.bin" --certs "$tmp/c.bin" --root "$CVM_SIM_ROOT"
expect "tsm: AMD's roots alone do not trust the simulator" 4 "does not verify with the trusted root 'ARK-Milan'" \
        "$VERIFIER" check snp "$tmp/r.bin" --certs "$tmp/c.bin"

expect "sev-guest: SNP_GET_EXT_REPORT" 0 "" \
        preload "$AGENT" report --source sev-guest --report-data "$nonce" --out "$tmp/r2.bin" --certs-out "$tmp/c2.bin" --json
[ "$(json_field "$tmp/out" source)" = sev-guest ] && ok "sev-guest: source is sev-guest" || not_ok "sev-guest: source is sev-guest"
grep -q '"kind": "VCEK"' "$tmp/out" && ok "sev-guest: the host's table lists the VCEK" ||
        not_ok "sev-guest: the host's table lists the VCEK"
expect "sev-guest: report verifies" 0 "" \
        "$VERIFIER" check snp "$tmp/r2.bin" --certs "$tmp/c2.bin" --root "$CVM_SIM_ROOT"
expect "sev-guest: SNP_GET_REPORT (no certificates)" 0 "" \
        preload "$AGENT" report --source sev-guest --out "$tmp/r3.bin"
expect "sev-guest: plain report verifies with the VCEK" 0 "" \
        "$VERIFIER" check snp "$tmp/r3.bin" --cert "$CVM_SIM_DIR/vcek.pem" --certs "$CVM_SIM_DIR/cert_chain.pem" --root "$CVM_SIM_ROOT"

expect "auto: picks configfs-tsm first" 0 "" preload "$AGENT" report --json
[ "$(json_field "$tmp/out" source)" = tsm ] && ok "auto: source is tsm" || not_ok "auto: source is tsm"
expect "auto: falls back to /dev/sev-guest without configfs-tsm" 0 "" \
        env CVM_TSM_REPORT_DIR="$tmp/none" LD_PRELOAD="$CVM_SIM_PRELOAD" "$AGENT" report --json
[ "$(json_field "$tmp/out" source)" = sev-guest ] && ok "auto: source is sev-guest" || not_ok "auto: source is sev-guest"
expect "auto: neither interface names what is needed" 6 "modprobe sev-guest" \
        env CVM_TSM_REPORT_DIR="$tmp/none" CVM_SEV_GUEST_DEVICE="$tmp/none" "$AGENT" report
grep -q "6.7" "$tmp/err" && ok "auto: the message names the configfs-tsm kernel version" ||
        not_ok "auto: the message names the configfs-tsm kernel version"
expect "tsm: missing configfs-tsm" 6 "Linux 6.7 or later" \
        env CVM_TSM_REPORT_DIR="$tmp/none" "$AGENT" report --source tsm
expect "sev-guest: not an SEV guest device (no shim: a plain file)" 6 "ENOTTY" \
        "$AGENT" report --source sev-guest

expect "tsm: --vmpl 2" 0 "" "$AGENT" report --source tsm --vmpl 2 --json
[ "$(json_field "$tmp/out" x-ms-sevsnpvm-vmpl)" = 2 ] && ok "tsm: report VMPL is 2" || not_ok "tsm: report VMPL is 2"
expect "sev-guest: --vmpl 1" 0 "" preload "$AGENT" report --source sev-guest --vmpl 1 --json
[ "$(json_field "$tmp/out" x-ms-sevsnpvm-vmpl)" = 1 ] && ok "sev-guest: report VMPL is 1" || not_ok "sev-guest: report VMPL is 1"
expect "usage: --vmpl 4" 2 "--vmpl" "$AGENT" report --vmpl 4
expect "usage: --report-data too long" 2 "--report-data" "$AGENT" report --report-data "${nonce}00"
expect "usage: --source bogus" 2 "--source" "$AGENT" report --source bogus

set_conf vmpl_floor=1
expect "tsm: VMPL below privlevel_floor" 2 "privlevel_floor" "$AGENT" report --source tsm --vmpl 0
expect "sev-guest: VMPL below the guest's own" 6 "0x16 (INVALID_PARAM)" \
        preload "$AGENT" report --source sev-guest --vmpl 0
set_conf vmpl_floor=0

# Failures injected into the simulated firmware, host and driver.
set_conf fail_fw_status=0x16
expect "tsm: firmware status INVALID_PARAM" 6 "firmware refused" "$AGENT" report --source tsm
expect "sev-guest: firmware status INVALID_PARAM" 6 "firmware status 0x16 (INVALID_PARAM)" \
        preload "$AGENT" report --source sev-guest
set_conf fail_fw_status=0x13
expect "tsm: other firmware status" 6 "firmware returned an error status" "$AGENT" report --source tsm
set_conf fail_fw_status=0 fail_errno=EIO fail_fw_error=0x27
expect "sev-guest: EIO with fw_error INVALID_KEY" 6 "firmware error 0x27 (INVALID_KEY)" \
        preload "$AGENT" report --source sev-guest
set_conf fail_errno=EBUSY fail_fw_error=0
expect "sev-guest: EBUSY" 6 "device busy" preload "$AGENT" report --source sev-guest
set_conf fail_errno=ENOTTY
expect "sev-guest: ENOTTY (VMPCK wiped)" 6 "VMPCK was wiped" preload "$AGENT" report --source sev-guest
set_conf fail_errno=ETIMEDOUT
expect "sev-guest: ETIMEDOUT" 6 "busy for 60 s" preload "$AGENT" report --source sev-guest
set_conf fail_errno=0 fail_vmm_error=2
expect "sev-guest: host busy (vmm_error 2)" 6 "busy" preload "$AGENT" report --source sev-guest
set_conf fail_vmm_error=0x80000000
expect "sev-guest: generic host error" 6 "vmm_error 0x80000000" preload "$AGENT" report --source sev-guest
set_conf fail_vmm_error=0

set_conf cert_pages=3
expect "sev-guest: certificate buffer too small, retried with the size the host asked for" 0 "" \
        preload "$AGENT" report --source sev-guest --certs-out "$tmp/c3.bin" --out "$tmp/r4.bin"
[ "$(stat -c %s "$tmp/c3.bin")" -eq 12288 ] && ok "sev-guest: table buffer grew to 3 pages" ||
        not_ok "sev-guest: table buffer grew to 3 pages" "got $(stat -c %s "$tmp/c3.bin") bytes"
expect "sev-guest: report from the retry verifies" 0 "" \
        "$VERIFIER" check snp "$tmp/r4.bin" --certs "$tmp/c3.bin" --root "$CVM_SIM_ROOT"
set_conf cert_pages=5
expect "sev-guest: a table larger than the driver's 16 KiB" 6 "more than the driver can pass" \
        preload "$AGENT" report --source sev-guest --certs
set_conf cert_pages=0 certs=0
expect "tsm: a host without certificates" 0 "" "$AGENT" report --source tsm --certs --json
grep -q '"certificates"' "$tmp/out" && ! grep -q '"kind"' "$tmp/out" && ok "tsm: empty certificate list" ||
        not_ok "tsm: empty certificate list"
set_conf certs=1

# A CRL from the (simulated) ARK: the ASK listed in it is revoked; a CRL from another key is not
# believed.
crl_dir=$tmp/crl
mkdir -p "$crl_dir"
: >"$crl_dir/index.txt"
echo 1000 >"$crl_dir/crlnumber"
cat >"$crl_dir/ca.cnf" <<CNF
[ ca ]
default_ca = sim
[ sim ]
database = $crl_dir/index.txt
crlnumber = $crl_dir/crlnumber
default_md = sha384
default_crl_days = 30
CNF
openssl ca -config "$crl_dir/ca.cnf" -gencrl -keyfile "$CVM_SIM_DIR/ark.key" -cert "$CVM_SIM_DIR/ark.pem" \
        -out "$crl_dir/empty.crl" >/dev/null 2>&1
openssl ca -config "$crl_dir/ca.cnf" -revoke "$CVM_SIM_DIR/ask.pem" -keyfile "$CVM_SIM_DIR/ark.key" \
        -cert "$CVM_SIM_DIR/ark.pem" >/dev/null 2>&1
openssl ca -config "$crl_dir/ca.cnf" -gencrl -keyfile "$CVM_SIM_DIR/ark.key" -cert "$CVM_SIM_DIR/ark.pem" \
        -out "$crl_dir/revoked.crl" >/dev/null 2>&1
# A forger's own "ARK-Milan": same name, another key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -days 2 \
        -subj "$(openssl x509 -in "$CVM_SIM_DIR/ark.pem" -noout -subject -nameopt compat | sed 's/^subject=//')" \
        -keyout "$crl_dir/forger.key" -out "$crl_dir/forger.pem" >/dev/null 2>&1
openssl ca -config "$crl_dir/ca.cnf" -gencrl -keyfile "$crl_dir/forger.key" -cert "$crl_dir/forger.pem" \
        -out "$crl_dir/forged.crl" >/dev/null 2>&1
if [ -s "$crl_dir/revoked.crl" ] && [ -s "$crl_dir/empty.crl" ]; then
        expect "CRL without the ASK" 0 "" \
                "$VERIFIER" check snp "$tmp/r.bin" --certs "$tmp/c.bin" --root "$CVM_SIM_ROOT" --crl "$crl_dir/empty.crl"
        expect "CRL revoking the ASK" 4 "revoked by the CRL" \
                "$VERIFIER" check snp "$tmp/r.bin" --certs "$tmp/c.bin" --root "$CVM_SIM_ROOT" --crl "$crl_dir/revoked.crl"
        expect "CRL signed by another key" 4 "CRL: signature does not verify" \
                "$VERIFIER" check snp "$tmp/r.bin" --certs "$tmp/c.bin" --root "$CVM_SIM_ROOT" --crl "$crl_dir/forged.crl"
        expect "CRL checked at a time before it was issued" 4 "CRL: issued after" \
                "$VERIFIER" check snp "$tmp/r.bin" --certs "$tmp/c.bin" --root "$CVM_SIM_ROOT" --crl "$crl_dir/empty.crl" --at "@$(( $(date +%s) - 86400 ))"
else
        not_ok "openssl ca made the test CRLs"
fi

# ---- the other products and report versions, and a VLEK ------------------------------------
check_platform() {
        local name=$1
        shift
        sim_up "$tmp/$name" "$@"
        expect "$name: tsm report" 0 "" "$AGENT" report --source tsm --report-data "$nonce" \
                --out "$tmp/$name.bin" --certs-out "$tmp/$name.certs" --json
        cp "$tmp/out" "$tmp/$name.json"
        expect "$name: verifies" 0 "" \
                "$VERIFIER" check snp "$tmp/$name.bin" --certs "$tmp/$name.certs" --root "$CVM_SIM_ROOT"
}
check_platform genoa-v5 --product genoa --report-version 5
[ "$(json_field "$tmp/genoa-v5.json" product)" = Genoa ] && ok "genoa-v5: product from CPUID" || not_ok "genoa-v5: product from CPUID"
check_platform turin-v5 --product turin --report-version 5
grep -q '"fmc"' "$tmp/turin-v5.json" && ok "turin-v5: TCB decoded with FMC" || not_ok "turin-v5: TCB decoded with FMC"
check_platform milan-v2 --product milan --report-version 2
check_platform milan-vlek --product milan --vlek
grep -q '"signing_key": "vlek"' "$tmp/milan-vlek.json" && ok "milan-vlek: VLEK-signed" || not_ok "milan-vlek: VLEK-signed"

echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
