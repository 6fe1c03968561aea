#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The simulator checked with plain tools (od, dd, cmp, openssl), not with our own parser:
# configfs-tsm semantics over FUSE, report layout and signature, the PKI, the certificate table,
# failure injection, and /dev/sev-guest through the LD_PRELOAD shim (sim-ioctl-probe).
# Exit 0 pass, 1 fail, 77 skip (no FUSE), 99 hard error.

set -u

here=$(cd "$(dirname "$0")" && pwd -P)
: "${top_builddir:=$(cd "$here/../.." && pwd -P)}"
export top_builddir
simbuild=${CVM_SIM_BUILDDIR:-$top_builddir/tests/sim}
export CVM_SIM_BUILDDIR=$simbuild
cvmsim=$here/cvm-sim
probe=$simbuild/sim-ioctl-probe

failures=0
fail() {
        echo "FAIL: $*" >&2
        failures=$((failures + 1))
}
hard() {
        echo "ERROR: $*" >&2
        exit 99
}
skip() {
        echo "SKIP: $*" >&2
        exit 77
}
ok() {
        echo "ok: $*"
}

[ -c /dev/fuse ] || skip "no /dev/fuse"
for tool in openssl od dd cmp head tac; do
        command -v $tool >/dev/null 2>&1 || hard "$tool not found"
done
[ -x "$simbuild/cvm-simd" ] || hard "$simbuild/cvm-simd not built"

# Under the build directory; Unix socket paths are short, so fall back to /tmp for deep trees.
parent=$top_builddir/tests/sim
[ ${#parent} -gt 70 ] && parent=${TMPDIR:-/tmp}
work=$(mktemp -d "$parent/test-sim.XXXXXX") || hard "mktemp failed"
sim=$work/sim
cleanup() {
        "$cvmsim" down --dir "$sim" >/dev/null 2>&1
        if [ $failures -eq 0 ] || [ -z "${KEEP:-}" ]; then
                rm -rf "$work"
        else
                echo "kept $work" >&2
        fi
}
trap cleanup EXIT

# RSA-4096 keys take seconds: reuse the test ARK/ASK/ASVK between runs (VCEKs are always new).
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}

# ---- up ----
env_out=$("$cvmsim" up --dir "$sim" 2>"$work/up.err")
rc=$?
if [ $rc -eq 2 ]; then
        cat "$work/up.err" >&2
        skip "FUSE mount failed (not root?)"
fi
[ $rc -eq 0 ] || { cat "$work/up.err" >&2; hard "cvm-sim up failed ($rc)"; }
[ "$(echo "$env_out" | wc -l)" -eq 5 ] || fail "up printed other than 5 lines: $env_out"
echo "$env_out" | grep -qv '^export CVM_[A-Z_]*=/' && fail "up printed a non-export line"
eval "$env_out"
[ "$CVM_SIM_DIR" = "$(cd "$sim" && pwd -P)" ] || fail "CVM_SIM_DIR=$CVM_SIM_DIR"
[ -f "$CVM_SIM_PRELOAD" ] || fail "CVM_SIM_PRELOAD=$CVM_SIM_PRELOAD missing"
ok "up"

# up again: idempotent, same exports
env_again=$("$cvmsim" up --dir "$sim" 2>/dev/null) || fail "second up failed"
[ "$env_again" = "$env_out" ] || fail "second up printed different exports"
[ "$(stat -c %a "$sim/vcek.key")" = 600 ] || fail "vcek.key mode is not 0600"

# ---- helpers ----
u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' \n'; }
hexat() { od -An -tx1 -v -j "$2" -N "$3" "$1" | tr -d ' \n'; }
size() { wc -c <"$1" | tr -d ' '; }
# report file, certificate (PEM) -> 0 if the signature over 0x000..0x29F verifies
verify_sig() {
        local rep=$1 cert=$2 t=$work/sig r s
        mkdir -p "$t"
        # R at 0x2A0, S at 0x2E8: 72-byte little-endian -> big-endian hex
        r=$(od -An -tx1 -v -j 672 -N 72 "$rep" | tr -s ' \n' '\n\n' | grep . | tac | tr -d '\n')
        s=$(od -An -tx1 -v -j 744 -N 72 "$rep" | tr -s ' \n' '\n\n' | grep . | tac | tr -d '\n')
        printf 'asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n' "$r" "$s" >"$t/sig.cnf"
        openssl asn1parse -genconf "$t/sig.cnf" -out "$t/sig.der" -noout >/dev/null || return 1
        head -c 672 "$rep" >"$t/signed.bin"
        openssl x509 -in "$cert" -pubkey -noout >"$t/pub.pem" || return 1
        openssl dgst -sha384 -verify "$t/pub.pem" -signature "$t/sig.der" "$t/signed.bin" \
                >/dev/null 2>&1
}
# common report checks: file, expected REPORT_DATA hex, expected VMPL
check_report() {
        local rep=$1 rd=$2 vmpl=$3 what=$4
        [ "$(size "$rep")" = 1184 ] || { fail "$what: size $(size "$rep")"; return; }
        [ "$(hexat "$rep" 80 64)" = "$rd" ] || fail "$what: REPORT_DATA differs"
        [ "$(u32 "$rep" 48)" = "$vmpl" ] || fail "$what: VMPL $(u32 "$rep" 48), want $vmpl"
        [ "$(u32 "$rep" 52)" = 1 ] || fail "$what: SIGNATURE_ALGO $(u32 "$rep" 52)"
        [ $(($(u32 "$rep" 8) >> 17 & 1)) = 1 ] || fail "$what: POLICY bit 17 clear"
        [ -z "$(hexat "$rep" 816 368 | tr -d 0)" ] || fail "$what: 0x330..0x49F not zero"
        [ -z "$(hexat "$rep" 720 24 | tr -d 0)" ] || fail "$what: R above 48 bytes not zero"
        verify_sig "$rep" "$sim/vcek.pem" || fail "$what: signature does not verify with the VCEK"
}

# ---- PKI ----
openssl verify -CAfile "$sim/ark.pem" -untrusted "$sim/ask.pem" "$sim/vcek.pem" >/dev/null ||
        fail "VCEK does not chain to the ARK"
openssl x509 -in "$sim/ark.pem" -noout -subject | grep -q 'CN *= *ARK-Milan' ||
        fail "ARK subject"
openssl x509 -in "$sim/ask.pem" -noout -text | grep -q 'Salt Length: 0x30' || fail "ASK not PSS"
ok "PKI chains (openssl verify)"

# ---- configfs-tsm ----
T=$CVM_TSM_REPORT_DIR
mkdir "$T/r1" || fail "mkdir r1"
[ "$(cat "$T/r1/provider")" = sev_guest ] || fail "provider"
[ "$(cat "$T/r1/privlevel_floor")" = 0 ] || fail "privlevel_floor"
g0=$(cat "$T/r1/generation")
head -c 64 /dev/urandom >"$work/nonce.bin"
nonce=$(hexat "$work/nonce.bin" 0 64)
dd if="$work/nonce.bin" of="$T/r1/inblob" bs=64 count=1 status=none || fail "write inblob"
g1=$(cat "$T/r1/generation")
[ "$g1" = $((g0 + 1)) ] || fail "generation $g0 -> $g1 after inblob"
cat "$T/r1/outblob" >"$work/tsm.bin" || fail "read outblob"
[ "$(cat "$T/r1/generation")" = "$g1" ] || fail "generation moved on outblob read"
check_report "$work/tsm.bin" "$nonce" 0 "tsm outblob"
cat "$T/r1/auxblob" >"$work/aux.bin" || fail "read auxblob"
# a second read serves the cached report (same REPORT_ID and signature)
cat "$T/r1/outblob" | cmp -s - "$work/tsm.bin" || fail "outblob changed without a write"
ok "tsm: report with REPORT_DATA = inblob, signature verifies"

# auxblob: VCEK, ASK, ARK entries, blobs equal to the DER files
[ "$(hexat "$work/aux.bin" 0 16)" = 63da758de6644564adc5f4b93be8accd ] || fail "entry 0 GUID"
[ "$(hexat "$work/aux.bin" 24 16)" = 4ab7b379bbac4fe4a02f05aef327c782 ] || fail "entry 1 GUID"
[ "$(hexat "$work/aux.bin" 48 16)" = c0b406a4a803495297433fb6014cd0ae ] || fail "entry 2 GUID"
[ -z "$(hexat "$work/aux.bin" 72 24 | tr -d 0)" ] || fail "no terminator entry"
i=0
for f in vcek ask ark; do
        off=$(u32 "$work/aux.bin" $((i * 24 + 16)))
        len=$(u32 "$work/aux.bin" $((i * 24 + 20)))
        dd if="$work/aux.bin" of="$work/blob.der" bs=1 skip="$off" count="$len" status=none
        cmp -s "$work/blob.der" "$sim/$f.der" || fail "auxblob $f blob differs from $f.der"
        i=$((i + 1))
done
"$cvmsim" certs --dir "$sim" --out "$work/certs.bin" 2>/dev/null || fail "cvm-sim certs"
cmp -s "$work/certs.bin" "$work/aux.bin" || fail "cvm-sim certs differs from auxblob"
ok "tsm: auxblob is the VCEK/ASK/ARK table"

# CHIP_ID equals the VCEK hwID; the VCEK blSPL equals REPORTED_TCB byte 0 (Milan layout)
hwid=$(openssl asn1parse -inform der -in "$sim/vcek.der" | grep -A1 ':1.3.6.1.4.1.3704.1.4$' |
        sed -n 's/.*\[HEX DUMP\]://p' | tr A-F a-f)
[ "$hwid" = "$(hexat "$work/tsm.bin" 416 64)" ] || fail "CHIP_ID differs from the VCEK hwID"
blspl=$(openssl asn1parse -inform der -in "$sim/vcek.der" | grep -A1 ':1.3.6.1.4.1.3704.1.3.1$' |
        sed -n 's/.*\[HEX DUMP\]:0201//p')
[ "$blspl" = "$(hexat "$work/tsm.bin" 384 1)" ] || fail "blSPL $blspl vs REPORTED_TCB"
ok "tsm: CHIP_ID = hwID, SPL = REPORTED_TCB"

# privlevel: > 3 rejected, 1 accepted and recorded
if echo 4 >"$T/r1/privlevel" 2>/dev/null; then fail "privlevel 4 accepted"; fi
echo 1 >"$T/r1/privlevel" || fail "privlevel 1 rejected"
[ "$(cat "$T/r1/generation")" = $((g1 + 1)) ] || fail "generation after privlevel"
cat "$T/r1/outblob" >"$work/tsm1.bin" || fail "read outblob at VMPL 1"
check_report "$work/tsm1.bin" "$nonce" 1 "tsm outblob vmpl 1"
# write-only and read-only files
cat "$T/r1/inblob" 2>&1 >/dev/null | grep -q 'Permission denied' || fail "inblob readable"
cat "$T/r1/privlevel" 2>&1 >/dev/null | grep -q 'Permission denied' || fail "privlevel readable"
(printf x >"$T/r1/outblob") 2>&1 | grep -q 'Permission denied' || fail "outblob writable"
# 65 bytes do not fit
head -c 65 /dev/zero | dd of="$T/r1/inblob" bs=65 count=1 status=none 2>&1 |
        grep -q 'File too large' || fail "65-byte inblob accepted"
# an entry without inblob, and one with a short inblob: EINVAL on outblob
mkdir "$T/r2" || fail "mkdir r2"
cat "$T/r2/outblob" 2>&1 >/dev/null | grep -q 'Invalid argument' || fail "outblob without inblob"
printf 'short' >"$T/r2/inblob" || fail "short inblob write"
cat "$T/r2/outblob" 2>&1 >/dev/null | grep -q 'Invalid argument' || fail "outblob, 5-byte inblob"
mkdir "$T/r2" 2>/dev/null && fail "mkdir of an existing entry succeeded"
[ "$(ls "$T" | tr '\n' ' ')" = "r1 r2 " ] || fail "listing: $(ls "$T")"
[ "$(ls "$T/r1" | wc -l)" = 7 ] || fail "entry has $(ls "$T/r1" | wc -l) files"
rmdir "$T/r1" "$T/r2" || fail "rmdir"
[ -z "$(ls "$T")" ] || fail "entries left after rmdir"
ok "tsm: privlevel, modes, inblob size, rmdir"

# failure injection through configfs
tsm_read_error() {
        # name -> stderr of cat outblob in a fresh entry
        mkdir "$T/$1" && dd if="$work/nonce.bin" of="$T/$1/inblob" bs=64 status=none &&
                cat "$T/$1/outblob" 2>&1 >/dev/null
        rmdir "$T/$1"
}
"$cvmsim" set --dir "$sim" fail_fw_status=0x16 2>/dev/null || fail "set"
tsm_read_error e1 | grep -q 'Invalid argument' || fail "fw status 0x16 -> EINVAL"
"$cvmsim" set --dir "$sim" fail_fw_status=0x13 2>/dev/null || fail "set"
tsm_read_error e2 | grep -q 'No such device or address' || fail "fw status 0x13 -> ENXIO"
"$cvmsim" set --dir "$sim" fail_fw_status=0 fail_errno=EBUSY 2>/dev/null || fail "set"
tsm_read_error e3 | grep -q 'busy' || fail "fail_errno EBUSY"
"$cvmsim" set --dir "$sim" fail_errno=0 certs=0 2>/dev/null || fail "set"
mkdir "$T/e4" && dd if="$work/nonce.bin" of="$T/e4/inblob" bs=64 status=none
[ "$(cat "$T/e4/auxblob" | wc -c)" = 0 ] || fail "certs=0 still gives an auxblob"
rmdir "$T/e4"
"$cvmsim" set --dir "$sim" certs=1 2>/dev/null || fail "set"
"$cvmsim" set --dir "$sim" no_such_key=1 2>/dev/null && fail "set accepted an unknown key"
ok "tsm: injected firmware status and errno"

# ---- /dev/sev-guest through the shim ----
if [ -x "$probe" ]; then
        run_probe() {
                ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
                        LD_PRELOAD=$CVM_SIM_PRELOAD "$probe" "$@"
        }
        run_probe --out-report "$work/ioctl.bin" --out-certs "$work/ioctl-certs.bin" ||
                fail "sim-ioctl-probe"
        check_report "$work/ioctl.bin" "$(printf '%02x' $(seq 0 63))" 0 "ioctl report"
        [ "$(size "$work/ioctl-certs.bin")" = 8192 ] || fail "ioctl cert buffer size"
        cmp -s -n "$(size "$work/certs.bin")" "$work/ioctl-certs.bin" "$work/certs.bin" ||
                fail "ioctl cert table differs"
        "$cvmsim" set --dir "$sim" fail_errno=ENOTTY 2>/dev/null
        run_probe --expect-errno 25 >/dev/null || fail "ioctl ENOTTY injection"
        "$cvmsim" set --dir "$sim" fail_errno=0 fail_vmm_error=2 2>/dev/null
        run_probe --expect-errno 110 >/dev/null || fail "ioctl vmm_error 2 -> ETIMEDOUT"
        "$cvmsim" set --dir "$sim" fail_vmm_error=0 fail_fw_status=0x16 2>/dev/null
        run_probe --expect-status 0x16 >/dev/null || fail "ioctl status 0x16"
        "$cvmsim" set --dir "$sim" fail_fw_status=0 cert_pages=5 2>/dev/null
        run_probe --expect-errno 5 | grep -q 'vmm_error=0x1' || fail "cert_pages 5 -> EIO"
        "$cvmsim" set --dir "$sim" cert_pages=0 2>/dev/null
        # without the shim the placeholder is a plain file
        "$probe" --expect-errno 25 >/dev/null 2>&1 || fail "placeholder without the shim"
        ok "sev-guest ioctls through the shim"
else
        echo "note: $probe not built (make check builds it); ioctl path not tested" >&2
fi

# ---- offline report, VLEK ----
"$cvmsim" report --dir "$sim" --report-data 00112233 --vmpl 2 --out "$work/off.bin" \
        2>/dev/null || fail "cvm-sim report"
check_report "$work/off.bin" "00112233$(printf '%0120d' 0)" 2 "offline report"
[ "$(u32 "$work/off.bin" 0)" = 3 ] || fail "default Milan report version"
[ "$(($(u32 "$work/off.bin" 72) >> 2 & 7))" = 0 ] || fail "SIGNING_KEY not VCEK"
"$cvmsim" pki --dir "$sim" --vlek 2>/dev/null || fail "pki --vlek"
openssl verify -CAfile "$sim/ark.pem" -untrusted "$sim/asvk.pem" "$sim/vlek.pem" >/dev/null ||
        fail "VLEK does not chain to the ARK"
"$cvmsim" report --dir "$sim" --out "$work/vlek.bin" 2>/dev/null || fail "VLEK report"
[ "$(($(u32 "$work/vlek.bin" 72) >> 2 & 7))" = 1 ] || fail "SIGNING_KEY not VLEK"
verify_sig "$work/vlek.bin" "$sim/vlek.pem" || fail "VLEK signature"
"$cvmsim" set --dir "$sim" signing_key=0 report_version=2 2>/dev/null || fail "set"
"$cvmsim" report --dir "$sim" --out "$work/v2.bin" 2>/dev/null || fail "v2 report"
[ "$(u32 "$work/v2.bin" 0)" = 2 ] || fail "report version 2"
[ -z "$(hexat "$work/v2.bin" 392 24 | tr -d 0)" ] || fail "v2: 0x188..0x19F not zero"
verify_sig "$work/v2.bin" "$sim/vcek.pem" || fail "v2 signature"
ok "offline reports: VCEK v3, VLEK, v2"

# ---- down ----
pid=$(cat "$sim/cvm-simd.pid")
"$cvmsim" down --dir "$sim" 2>/dev/null || fail "down"
awk -v m="$(cd "$sim" && pwd -P)/tsm" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts &&
        fail "still mounted after down"
# a zombie waiting for PID 1 to reap it is gone (PID 1 need not be an init that reaps at once)
if [ -d "/proc/$pid" ] && ! grep -q '^[0-9]* (.*) [ZX] ' "/proc/$pid/stat" 2>/dev/null; then
        fail "cvm-simd still running after down"
fi
"$cvmsim" down --dir "$sim" 2>/dev/null || fail "second down"
[ -f "$sim/ark.pem" ] || fail "down removed the PKI"
ok "down"

[ $failures -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
exit 0
