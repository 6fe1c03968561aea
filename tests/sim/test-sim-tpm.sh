#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The simulator's vTPM (cvm-sim up --tpm --azure) checked with plain tools (tpm2-tools, openssl,
# od, dd) and cvm-verifier for the SNP signature: the HCL report in NV 0x01400001 and its binding
# to the runtime claims and the AK, the AK certificate, the EK certificate, the paravisor's
# reaction to NV 0x01400002, the measured boot against go-tpm-tools' expected PCRs, the TPM
# proxy's control channel, idempotent `up`, `down`, a second boot, and two instances side by side.
# Prints "ok N - ..." / "not ok N - ...". Exit 0 pass, 1 fail, 77 skip, 99 hard error.

set -u

here=$(cd "$(dirname "$0")" && pwd -P)
: "${top_builddir:=$(cd "$here/../.." && pwd -P)}"
: "${top_srcdir:=$(cd "$here/../.." && pwd -P)}"
export top_builddir
simbuild=${CVM_SIM_BUILDDIR:-$top_builddir/tests/sim}
export CVM_SIM_BUILDDIR=$simbuild
cvmsim=$here/cvm-sim
verifier=$top_builddir/cvm-verifier
vectors=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
LOG=ubuntu-2404-amd-sevsnp.bin
LOG_L3=glinux-alex.bin # starts at locality 3 (StartupLocality event)

n=0
failures=0
check() {
        # check "description" command...: one numbered result
        local what=$1
        shift
        n=$((n + 1))
        if "$@"; then
                echo "ok $n - $what"
        else
                echo "not ok $n - $what"
                failures=$((failures + 1))
        fi
}
hard() {
        echo "ERROR: $*" >&2
        exit 99
}
skip() {
        echo "SKIP: $*" >&2
        exit 77
}

[ -c /dev/fuse ] || skip "no /dev/fuse"
for tool in swtpm swtpm_setup swtpm_ioctl tpm2_nvread tpm2_nvwrite tpm2_nvreadpublic \
        tpm2_readpublic tpm2_pcrread tpm2_quote tpm2_checkquote tpm2_getcap; do
        command -v $tool >/dev/null 2>&1 || skip "$tool not found (swtpm, swtpm-tools, tpm2-tools)"
done
for tool in openssl od dd cmp base64 sha256sum timeout; do
        command -v $tool >/dev/null 2>&1 || hard "$tool not found"
done
[ -f "$vectors/eventlog/go-tpm-tools/$LOG" ] || skip "no event log vectors in $vectors"
[ -x "$simbuild/cvm-simd" ] || hard "$simbuild/cvm-simd not built"
[ -x "$verifier" ] || hard "$verifier not built"
export CVM_VECTORS=$vectors

parent=$top_builddir/tests/sim
[ ${#parent} -gt 70 ] && parent=${TMPDIR:-/tmp}
work=$(mktemp -d "$parent/test-sim-tpm.XXXXXX") || hard "mktemp failed"
sim=$work/sim
sim2=$work/sim2
cleanup() {
        "$cvmsim" down --dir "$sim" >/dev/null 2>&1
        "$cvmsim" down --dir "$sim2" >/dev/null 2>&1
        if [ $failures -eq 0 ] || [ -z "${KEEP:-}" ]; then
                rm -rf "$work"
        else
                echo "kept $work" >&2
        fi
}
trap cleanup EXIT
trap 'exit 99' INT TERM
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

# ---- helpers ----
u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' \n'; }
hexat() { od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n'; }
size() { wc -c <"$1" | tr -d ' '; }
tpm() { timeout 20 "$@" 2>>"$work/tpm2.err"; }
ms() { date +%s%3N; }
# NV index $1 to file $2, in chunks of at most 1024 bytes, with owner auth (as the agent reads)
nvread() {
        local idx=$1 out=$2 total off=0 chunk
        total=$(tpm tpm2_nvreadpublic "$idx" | sed -n 's/^ *size: *//p')
        [ -n "$total" ] || return 1
        : >"$out"
        while [ "$off" -lt "$total" ]; do
                chunk=$((total - off))
                [ $chunk -gt 1024 ] && chunk=1024
                tpm tpm2_nvread -C o -s "$chunk" --offset "$off" "$idx" >>"$out" || return 1
                off=$((off + chunk))
        done
}
# the runtime claims of HCL report $1 into $2
claims() {
        dd if="$1" of="$2" bs=1 skip=1236 count="$(u32 "$1" 1232)" status=none
}
# base64url (stdin) -> lowercase hex
b64url_hex() {
        local s
        s=$(tr -- '-_' '+/')
        case $((${#s} % 4)) in 2) s="$s==" ;; 3) s="$s=" ;; esac
        printf '%s' "$s" | base64 -d | od -An -tx1 -v | tr -d ' \n'
}
# a DER certificate zero-padded in an NV index: $1 -> $2 trimmed to the DER length
der_trim() {
        local len
        [ "$(hexat "$1" 0 2)" = 3082 ] || return 1
        len=$((0x$(hexat "$1" 2 2) + 4))
        head -c "$len" "$1" >"$2"
}
# "pcr hex" lines of the expected PCRs of log $1, bank $2, from go-tpm-tools' expected-pcrs.json
expected_pcrs() {
        awk -v lg="\"$1\":" -v bank="\"$2\":" '
                index($0, lg) { inlog = 1; next }
                inlog && index($0, bank) { inbank = 1; next }
                inbank && /}/ { exit }
                inbank { gsub(/[",:]/, " "); print $1, $2 }' \
                "$vectors/eventlog/go-tpm-tools/expected-pcrs.json"
}
# "pcr hex" lines of PCRs 0-9 read from the TPM, bank $1
tpm_pcrs() {
        tpm tpm2_pcrread "$1:0,1,2,3,4,5,6,7,8,9" |
                sed -n 's/^ *\([0-9]*\) *: *0x\([0-9A-Fa-f]*\)$/\1 \2/p' | tr 'A-F' 'a-f'
}
pcrs_match() {
        # log bank: PCRs 0-9 from the TPM equal the expected values (those the source lists)
        local want got
        want=$(expected_pcrs "$1" "$2" | awk '$1 <= 9')
        got=$(tpm_pcrs "$2")
        [ -n "$want" ] && [ "$(echo "$want" | wc -l)" -ge 8 ] &&
                [ -z "$(echo "$want" | grep -vxF -- "$got")" ]
}
pcrs_match_replay() {
        # log-file bank: PCRs 0-9 from the TPM equal our own replay of the log
        local want got
        want=$("$simbuild/cvm-simd" replay --eventlog "$1" --bank "$2" |
                awk '$2 <= 9 { print $2, $3 }')
        got=$(tpm_pcrs "$2")
        [ -n "$want" ] && [ "$want" = "$got" ]
}
verify_hcl() {
        "$verifier" check snp "$1" --cert "$sim/vcek.pem" --certs "$sim/cert_chain.pem" \
                --root "$CVM_SIM_ROOT" >"$work/verify.out" 2>&1
}
binding_holds() {
        local c=$work/claims.$$
        claims "$1" "$c" &&
                [ "$(sha256sum <"$c" | cut -c1-64)$(printf '%064d' 0)" = "$(hexat "$1" 112 64)" ]
}
user_data_of() {
        claims "$1" "$work/ud.json" &&
                sed -n 's/.*"user-data":"\([0-9a-f]*\)".*/\1/p' "$work/ud.json"
}
procs_of() {
        # pids whose first argv word ends in $1 and whose arguments mention $2
        local p
        for p in /proc/[0-9]*; do
                [ -r "$p/cmdline" ] || continue
                tr '\0' '\n' <"$p/cmdline" 2>/dev/null | head -n 1 | grep -q "$1\$" || continue
                tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "${p#/proc/}"
        done
}
port_listening() {
        local hex
        hex=$(printf '%04X' "$1")
        awk -v a="0100007F:$hex" 'FNR > 1 && $2 == a && $4 == "0A" { f = 1 } END { exit !f }' \
                /proc/net/tcp
}

# ---- up --tpm --azure, first time ----
t0=$(ms)
env_out=$(timeout 120 "$cvmsim" up --dir "$sim" --tpm --azure 2>"$work/up.err")
rc=$?
t1=$(ms)
if [ $rc -eq 2 ]; then
        cat "$work/up.err" >&2
        skip "FUSE mount failed (not root?)"
fi
[ $rc -eq 0 ] || { cat "$work/up.err" >&2; hard "cvm-sim up --tpm --azure failed ($rc)"; }
echo "# first up --tpm --azure: $((t1 - t0)) ms"
eval "$env_out"
export TPM2TOOLS_TCTI=$CVM_TCTI
port=${CVM_TCTI##*port=}
check "up prints 8 export lines" [ "$(echo "$env_out" | grep -c '^export CVM_[A-Z_]*=')" = 8 ]
check "CVM_TCTI is swtpm:host=127.0.0.1,port=N" \
        eval 'echo "$CVM_TCTI" | grep -Eq "^swtpm:host=127\.0\.0\.1,port=[0-9]+$"'
check "CVM_SIM_AK_CA and CVM_EVENTLOG exist" \
        [ -f "$CVM_SIM_AK_CA" -a "$CVM_EVENTLOG" = "$sim/eventlog.bin" -a -f "$CVM_EVENTLOG" ]
check "the event log is the default one" \
        cmp -s "$CVM_EVENTLOG" "$vectors/eventlog/go-tpm-tools/$LOG"
check "the proxy's port is not swtpm's" [ "$port" != "$(cat "$sim/swtpm.port")" ]

# ---- the HCL report ----
check "NV 0x01400001: 2048 bytes, platform-created, owner-readable" eval \
        'tpm tpm2_nvreadpublic 0x01400001 >"$work/nvpub" &&
         grep -q "size: 2048" "$work/nvpub" && grep -q platformcreate "$work/nvpub" &&
         grep -q ownerread "$work/nvpub" && ! grep -q ownerwrite "$work/nvpub"'
check "NV 0x01400001 reads back in 1024-byte chunks" nvread 0x01400001 "$work/hcl0.bin"
hcl=$work/hcl0.bin
check "HCL header: HCLA, version 2, request type 2" \
        [ "$(hexat "$hcl" 0 4)$(u32 "$hcl" 4)$(u32 "$hcl" 12)" = 48434c4122 ]
check "IGVM request data: version 1, report type 2 (SNP), hash type 1 (SHA-256)" \
        [ "$(u32 "$hcl" 1220).$(u32 "$hcl" 1224).$(u32 "$hcl" 1228)" = 1.2.1 ]
check "sizes: data_size = 20 + claims, report_size = 0x4C0 + data_size, zero padding" eval \
        '[ "$(u32 "$hcl" 1216)" = $(($(u32 "$hcl" 1232) + 20)) ] &&
         [ "$(u32 "$hcl" 8)" = $((1216 + $(u32 "$hcl" 1216))) ] &&
         [ -z "$(hexat "$hcl" $((1236 + $(u32 "$hcl" 1232))) 64 | tr -d 0)" ]'
check "cvm-verifier check snp verifies the HCL report" verify_hcl "$hcl"
check "SNP report at VMPL 0" [ "$(u32 "$hcl" $((32 + 48)))" = 0 ]
check "REPORT_DATA = SHA-256(runtime claims) || 32 zero bytes" binding_holds "$hcl"
claims "$hcl" "$work/claims0.json"
check "claims: vm-configuration and 128 zero hex digits of user-data" eval \
        'grep -q "\"vm-configuration\":{\"console-enabled\":true,\"secure-boot\":false," \
                "$work/claims0.json" &&
         [ "$(user_data_of "$hcl")" = "$(printf "%0128d" 0)" ]'

# ---- the AK ----
ak_n=$(grep -o '"kid":"HCLAkPub","key_ops":\["sign"\],"kty":"RSA","e":"AQAB","n":"[^"]*"' \
        "$work/claims0.json" | sed 's/.*"n":"//; s/"$//' | b64url_hex)
tpm tpm2_readpublic -c 0x81000003 -f pem -o "$work/ak.pem" >"$work/ak.yaml"
tpm_n=$(openssl rsa -pubin -in "$work/ak.pem" -noout -modulus 2>/dev/null | sed 's/^Modulus=//' |
        tr 'A-F' 'a-f')
check "AK 0x81000003: modulus equals HCLAkPub's n" [ -n "$ak_n" -a "$ak_n" = "$tpm_n" ]
check "AK attributes as OpenHCL makes them (restricted RSASSA-SHA256 signing, noDA)" eval \
        'grep -q "raw: 0x50472" "$work/ak.yaml" && grep -q "value: rsassa" "$work/ak.yaml"'
check "a quote by the AK over PCRs 0-7 checks out (tpm2_quote, tpm2_checkquote)" eval \
        'tpm tpm2_quote -c 0x81000003 -l sha256:0,1,2,3,4,5,6,7 -q 00112233445566778899 \
                -g sha256 -m "$work/quote.msg" -s "$work/quote.sig" -o "$work/quote.pcrs" \
                >/dev/null &&
         tpm tpm2_checkquote -u "$work/ak.pem" -g sha256 -q 00112233445566778899 \
                -m "$work/quote.msg" -s "$work/quote.sig" -f "$work/quote.pcrs" >/dev/null'
check "AK certificate in NV 0x01C101D0 verifies against akca.pem" eval \
        'nvread 0x01C101D0 "$work/akcert.nv" && der_trim "$work/akcert.nv" "$work/akcert.der" &&
         openssl x509 -inform der -in "$work/akcert.der" -out "$work/akcert.pem" &&
         openssl verify -CAfile "$CVM_SIM_AK_CA" "$work/akcert.pem" >/dev/null'
check "AK certificate carries the AK's key and the tcg-kp-AIKCertificate EKU" eval \
        '[ "$(openssl x509 -in "$work/akcert.pem" -noout -pubkey)" = "$(cat "$work/ak.pem")" ] &&
         openssl x509 -in "$work/akcert.pem" -noout -text | grep -q 2.23.133.8.3'
check "akca.pem says it is a test CA" eval \
        'openssl x509 -in "$CVM_SIM_AK_CA" -noout -subject | grep -q "TEST AK CA"'
check "EK certificate at 0x01C00002 (swtpm-localca)" eval \
        'nvread 0x01C00002 "$work/ek.nv" && der_trim "$work/ek.nv" "$work/ek.der" &&
         openssl x509 -inform der -in "$work/ek.der" -out "$work/ek.pem" &&
         openssl verify -CAfile "$sim/swtpm-localca/swtpm-localca-rootca-cert.pem" \
                -untrusted "$sim/swtpm-localca/issuercert.pem" "$work/ek.pem" >/dev/null'

# ---- the guest cannot write the report; the paravisor reacts to the user data ----
head -c 2048 /dev/zero >"$work/zero2k"
check "the guest cannot write NV 0x01400001" eval \
        '! tpm tpm2_nvwrite -C o -i "$work/zero2k" 0x01400001'
head -c 64 /dev/urandom >"$work/ud.bin"
ud=$(od -An -tx1 -v "$work/ud.bin" | tr -d ' \n')
check "tpm2_nvwrite 0x01400002 with 64 bytes" tpm tpm2_nvwrite -C o -i "$work/ud.bin" 0x01400002
check "the next read of 0x01400001 carries them in user-data" eval \
        'nvread 0x01400001 "$work/hcl1.bin" && [ "$(user_data_of "$work/hcl1.bin")" = "$ud" ]'
check "the new report verifies and binds the new claims" eval \
        'verify_hcl "$work/hcl1.bin" && binding_holds "$work/hcl1.bin" &&
         ! cmp -s "$work/hcl0.bin" "$work/hcl1.bin"'
check "the claims keep their length; REPORT_ID stays (same VM)" eval \
        '[ "$(u32 "$work/hcl1.bin" 1232)" = "$(u32 "$hcl" 1232)" ] &&
         [ "$(hexat "$work/hcl1.bin" $((32 + 0x140)) 32)" = "$(hexat "$hcl" $((32 + 0x140)) 32)" ]'
cvm_simd_set_secure_boot() { "$cvmsim" set --dir "$sim" hcl_secure_boot=1 2>/dev/null; }
check "platform.conf hcl_secure_boot=1 shows on the next user-data write" eval \
        'cvm_simd_set_secure_boot && tpm tpm2_nvwrite -C o -i "$work/ud.bin" 0x01400002 &&
         nvread 0x01400001 "$work/hcl2.bin" && claims "$work/hcl2.bin" "$work/claims2.json" &&
         grep -q "\"secure-boot\":true" "$work/claims2.json" && binding_holds "$work/hcl2.bin"'

# ---- measured boot ----
check "PCRs 0-9 sha256 equal go-tpm-tools' expected values" pcrs_match "$LOG" sha256
check "PCRs 0-9 sha1 equal go-tpm-tools' expected values" pcrs_match "$LOG" sha1
check "PCRs 0-9 sha384 equal the simulator's replay" pcrs_match_replay "$CVM_EVENTLOG" sha384

# ---- the control channel through the proxy ----
check "swtpm control channel through the proxy (swtpm_ioctl -e)" eval \
        'timeout 10 swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -e 2>/dev/null |
         grep -qi "tpmEstablished"'

# ---- up again: same exports ----
env_again=$(timeout 30 "$cvmsim" up --dir "$sim" --tpm --azure 2>/dev/null)
check "a second up prints the same exports" [ "$env_again" = "$env_out" ]
check "up with other TPM options is refused while up" eval \
        '! timeout 30 "$cvmsim" up --dir "$sim" --tpm >/dev/null 2>&1'

# ---- down ----
swtpm_port=$(cat "$sim/swtpm.port")
swtpm_pid=$(cat "$sim/swtpm.pid")
rm -f "$sim/swtpm.pid" # down must find swtpm without its pid file too
"$cvmsim" down --dir "$sim" 2>/dev/null
gone() { [ ! -d "/proc/$1" ] || grep -q '^[0-9]* (.*) [ZX] ' "/proc/$1/stat" 2>/dev/null; }
check "down stops swtpm (even without its pid file)" eval 'gone "$swtpm_pid" && [ -z "$(procs_of swtpm "$sim/tpm")" ]'
check "down frees the ports (proxy and swtpm)" eval \
        '! port_listening "$port" && ! port_listening $((port + 1)) &&
         ! port_listening "$swtpm_port" && ! port_listening $((swtpm_port + 1))'
check "down keeps the TPM state and the AK CA" \
        [ -f "$sim/tpm/tpm2-00.permall" -a -f "$sim/akca.key" ]

# ---- a second boot reuses the provisioning ----
t0=$(ms)
env_out=$(timeout 60 "$cvmsim" up --dir "$sim" --tpm --azure 2>"$work/up2.err")
rc=$?
t1=$(ms)
[ $rc -eq 0 ] || { cat "$work/up2.err" >&2; hard "second up failed ($rc)"; }
echo "# second up --tpm --azure: $((t1 - t0)) ms"
eval "$env_out"
export TPM2TOOLS_TCTI=$CVM_TCTI
check "second boot: same AK, certificate not reissued" eval \
        'tpm tpm2_readpublic -c 0x81000003 -f pem -o "$work/ak2.pem" >/dev/null &&
         cmp -s "$work/ak.pem" "$work/ak2.pem" && nvread 0x01C101D0 "$work/akcert2.nv" &&
         cmp -s "$work/akcert.nv" "$work/akcert2.nv" && ! grep -q "Creating the AK" "$work/up2.err"'
check "second boot: PCRs measured afresh" pcrs_match "$LOG" sha256
check "second boot: a fresh HCL report with zero user-data that verifies" eval \
        'nvread 0x01400001 "$work/hcl3.bin" && verify_hcl "$work/hcl3.bin" &&
         [ "$(user_data_of "$work/hcl3.bin")" = "$(printf "%0128d" 0)" ]'

# ---- a second instance side by side: --tpm only, a log that starts at locality 3 ----
env2=$(timeout 120 "$cvmsim" up --dir "$sim2" --eventlog "$vectors/eventlog/go-tpm-tools/$LOG_L3" \
        2>"$work/up3.err")
rc=$?
[ $rc -eq 0 ] || { cat "$work/up3.err" >&2; hard "cvm-sim up --dir sim2 --eventlog failed ($rc)"; }
tcti2=$(echo "$env2" | sed -n 's/^export CVM_TCTI=//p')
in2() { (export TPM2TOOLS_TCTI=$tcti2 && "$@"); }
check "two instances side by side on different ports" eval \
        '[ -n "$tcti2" ] && [ "$tcti2" != "$CVM_TCTI" ]'
# (tpm2_getcap rather than tpm2_nvreadpublic: tpm2-tools 5.4 crashes on a missing index)
nv_indices() { tpm tpm2_getcap handles-nv-index | tr 'A-F' 'a-f'; }
check "instance 2 (--tpm only) has no HCL report, instance 1 still has" eval \
        '! in2 nv_indices | grep -q 0x1400001 && nv_indices | grep -q 0x1400001'
check "instance 2: PCRs 0-9 sha256 of a locality-3 log equal the expected values" eval \
        'in2 pcrs_match "$LOG_L3" sha256'
check "instance 2: its own AK and AK certificate" eval \
        'in2 tpm tpm2_readpublic -c 0x81000003 -f pem -o "$work/ak3.pem" >/dev/null &&
         ! cmp -s "$work/ak.pem" "$work/ak3.pem" && in2 nvread 0x01C101D0 "$work/akcert3.nv" &&
         der_trim "$work/akcert3.nv" "$work/akcert3.der" &&
         openssl x509 -inform der -in "$work/akcert3.der" -out "$work/akcert3.pem" &&
         openssl verify -CAfile "$sim2/akca.pem" "$work/akcert3.pem" >/dev/null'
"$cvmsim" down --dir "$sim2" 2>/dev/null
check "up with a SHA-1-only (TPM 1.2) log fails and leaves nothing running" eval \
        '! timeout 60 "$cvmsim" up --dir "$sim2" \
                --eventlog "$vectors/eventlog/go-tpm-tools/debian-10.bin" >/dev/null 2>"$work/up4.err" &&
         grep -q "not a crypto-agile" "$work/up4.err" &&
         [ -z "$(procs_of swtpm "$sim2/tpm")$(procs_of cvm-simd "$sim2")" ] &&
         [ ! -f "$sim2/swtpm.pid" ]'
"$cvmsim" down --dir "$sim" 2>/dev/null
check "no swtpm left running" eval \
        '[ -z "$(procs_of swtpm "$sim/tpm")$(procs_of swtpm "$sim2/tpm")" ]'

echo "$((n - failures)) passed, $failures failed"
[ $failures -eq 0 ] || exit 1
exit 0
