#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Command-line test of `cvm-verifier check eventlog`: every real event log in the shared vectors
# parses and replays; replays equal the PCR values the vectors give (quotes' PCR files, the
# go-tpm-tools expectations, go-attestation's ExitBootServices case with its workaround noted);
# mismatches, malformed logs and PCR files, and usage errors give the documented exit code and
# exactly one line on stderr; mutated logs never crash it.
#
# Environment (set by TESTS_ENVIRONMENT in tests/Makemodule.am): top_srcdir, top_builddir,
# CVM_VECTORS (absolute). Exit 77 without the vectors, 99 on a hard error, 1 if a case failed.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CVM_VECTORS=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
if [ ! -d "$CVM_VECTORS/eventlog" ]; then
        echo "SKIP: no vectors at $CVM_VECTORS"
        exit 77
fi
V=$(cd "$CVM_VECTORS" && pwd)
E=$V/eventlog
BIN=$top_builddir/cvm-verifier
if [ ! -x "$BIN" ]; then
        echo "ERROR: need $BIN"
        exit 99
fi
mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/check-eventlog.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

. "$top_srcdir/tests/integration/lib.sh"


# run ARGS...: cvm-verifier check eventlog ARGS; sets rc, stdout in $tmp/out, stderr in $tmp/err.
run() {
        "$BIN" check eventlog "$@" > "$tmp/out" 2> "$tmp/err"
        rc=$?
}



# expect_out DESC WANT FRAGMENT STDOUT-FRAGMENT ARGS...: also wants STDOUT-FRAGMENT on stdout.
expect_out() {
        local desc=$1 want=$2 frag=$3 out=$4
        shift 4
        run "$@"
        check_run "$desc" "$want" "$frag" || return
        if ! grep -qF -- "$out" "$tmp/out"; then
                not_ok "$desc" "stdout lacks '$out'" \
                        "stdout: $(head -c 300 "$tmp/out" | tr '\n' ' ')"
                return
        fi
        ok "$desc"
}

# json_ok: is $tmp/out valid JSON? (python3 if present; otherwise a shallow check)
json_ok() {
        if command -v python3 > /dev/null 2>&1; then
                python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2> /dev/null
        else
                head -c 1 "$tmp/out" | grep -q '{' && tail -n 1 "$tmp/out" | grep -q '}'
        fi
}

LOGS=$(ls "$E"/go-tpm-tools/*.bin "$E"/tpm2-tools/*.bin "$E"/go-attestation/*_eventlog \
        "$V"/tpm/*/eventlog.bin)

echo "# 1. every real log parses, replays and decodes (text and JSON)"
for f in $LOGS; do
        name=${f#"$V"/}
        expect_out "$name" 0 "" "Replayed PCRs:" "$f"
        run "$f" --json
        if check_run "$name --json" 0 ""; then
                if json_ok && grep -q '"events": \[' "$tmp/out" && grep -q '"pcrs": {' "$tmp/out"
                then
                        ok "$name --json"
                else
                        not_ok "$name --json" "output is not the expected JSON"
                fi
        fi
done

echo "# 2. replays equal the quoted PCR values"
C=$V/tpm/gce-cos-85
for q in nonce9009 no-nonce; do
        for b in sha1 sha256 sha384; do
                expect_out "gce-cos-85 vs $q.pcrs-$b.json (PCRs 0-9)" 0 "" \
                        "Result: all 10 compared PCRs match." \
                        "$C/eventlog.bin" --pcrs "$C/$q.pcrs-$b.json"
        done
done
W=$V/tpm/windows-gcp-shielded-vm
expect_out "windows-gcp-shielded-vm vs pcrs-sha1.json (PCRs 0,4,5,7,11-14)" 0 "" \
        "Result: all 8 compared PCRs match." "$W/eventlog.bin" --pcrs "$W/pcrs-sha1.json"
run "$W/eventlog.bin" --pcrs "$W/pcrs-sha1.json" --json
if check_run "windows --json verdicts" 0 ""; then
        if json_ok && grep -q '"verified": true' "$tmp/out" && grep -q '"compared": 8' "$tmp/out" &&
                grep -q '"in_log": false' "$tmp/out"; then
                ok "windows --json verdicts"
        else
                not_ok "windows --json verdicts" "no verified/compared/in_log members"
        fi
fi

# go-tpm-tools' expectations, one PCR file per log (python3 writes them).
if command -v python3 > /dev/null 2>&1; then
        python3 - "$E/go-tpm-tools/expected-pcrs.json" "$tmp" <<'EOF' || exit 99
import json, sys
d = json.load(open(sys.argv[1]))
for name, spec in d.items():
    json.dump(spec["pcrs"], open(f"{sys.argv[2]}/{name}.pcrs.json", "w"))
EOF
        for f in "$E"/go-tpm-tools/*.bin; do
                name=$(basename "$f")
                expect_out "go-tpm-tools $name vs expected-pcrs.json" 0 "" "Result: all " \
                        "$f" --pcrs "$tmp/$name.pcrs.json"
        done
else
        skip "go-tpm-tools expected-pcrs.json" "no python3"
fi

# tpm2-tools: PCR 7 of the tiny uefivar log, in a bank-named file.
printf '{"sha1": {"7": "3a1ea200b8fafe60c290e903c5e6443cfef67f04"}, "sha256": {"7": "%s"}}' \
        e58ada1ba75f2e4722b539824598ad5e10c55f2e4aeab2033f3b0a8ee3f3eca6 > "$tmp/uefivar.json"
expect_out "tpm2-tools event-uefivar.bin (declares sha384/sha512 it does not carry)" 0 "" \
        "Result: all 2 compared PCRs match." "$E/tpm2-tools/event-uefivar.bin" \
        --pcrs "$tmp/uefivar.json"

echo "# 3. go-attestation: missing ExitBootServices events, matched only with the workaround noted"
EBS=$E/go-attestation/ebs_event_missing_eventlog
printf '{"sha1": {"5": "31245808d6d35849bc394f6343f2b3ff908ed5e3"}}' > "$tmp/ebs.json"
expect_out "ebs_event_missing_eventlog PCR 5" 0 "" \
        "match (workaround: missing ExitBootServices events)" "$EBS" --pcrs "$tmp/ebs.json"
run "$EBS" --pcrs "$tmp/ebs.json" --json
if check_run "ebs --json names the workaround" 0 ""; then
        if grep -q '"workaround": "missing ExitBootServices events"' "$tmp/out"; then
                ok "ebs --json names the workaround"
        else
                not_ok "ebs --json names the workaround" "no \"workaround\" member"
        fi
fi
printf '{"sha1": {"5": "e5781a2f00000000000000000000000000000000"}}' > "$tmp/ebs-wrong.json"
expect_out "ebs_event_missing_eventlog PCR 5, wrong value: mismatch naming PCR 5's events" 4 \
        "sha1 PCR 5" "MISMATCH" "$EBS" --pcrs "$tmp/ebs-wrong.json"

echo "# 4. decoding quirks never fail the parse"
expect_out "arch-linux: SecureBoot variable with no data" 0 "" \
        "SecureBoot: (0 bytes of data, expected 1)" "$E/go-tpm-tools/arch-linux-workstation.bin"
expect_out "arch-linux: event 24's digest does not match its payload" 0 "" \
        "[digest does not match data]" "$E/tpm2-tools/event-arch-linux.bin"
run "$E/tpm2-tools/event-arch-linux.bin" --json
if check_run "arch-linux --json digest_matches_data" 0 ""; then
        if grep -q '"digest_matches_data": false' "$tmp/out"; then
                ok "arch-linux --json digest_matches_data"
        else
                not_ok "arch-linux --json digest_matches_data" "no \"digest_matches_data\": false"
        fi
fi
expect_out "gdc-host: StartupLocality 3" 0 "" "Startup locality: 3" "$E/go-tpm-tools/gdc-host.bin"
expect_out "option_rom: EV_NO_ACTION with pcrIndex 0xFFFFFFFF" 0 "" "EV_NO_ACTION" \
        "$E/go-attestation/option_rom_eventlog"

echo "# 5. verification failures: exit 4, one line"
expect "gce-cos-85 log vs the Windows VM's PCRs" 4 "do not match the replay" \
        "$C/eventlog.bin" --pcrs "$W/pcrs-sha1.json"
printf '{"sha512": {"0": "%0128d"}}' 0 > "$tmp/sha512.json"
expect "a bank the log does not carry: nothing compared" 4 "nothing could be compared" \
        "$C/eventlog.bin" --pcrs "$tmp/sha512.json"
printf '{"sha256": {"15": "%064d"}}' 0 > "$tmp/pcr15.json"
expect "a PCR the log does not extend: nothing compared" 4 "nothing could be compared" \
        "$C/eventlog.bin" --pcrs "$tmp/pcr15.json"
run "$C/eventlog.bin" --pcrs "$W/pcrs-sha1.json" --json
if [ "$rc" -eq 4 ] && json_ok && grep -q '"verified": false' "$tmp/out"; then
        ok "mismatch --json: \"verified\": false"
else
        not_ok "mismatch --json: \"verified\": false" "exit $rc"
fi

echo "# 6. malformed input: exit 3, one line naming what and where"
SD=$E/tpm2-tools/event-sd-boot-fedora37.bin
head -c 1000 "$SD" > "$tmp/truncated.bin"
expect "truncated log" 3 "offset" "$tmp/truncated.bin"
: > "$tmp/empty.bin"
expect "empty log" 3 "empty" "$tmp/empty.bin"
head -c 4096 /dev/zero > "$tmp/zeros.bin"
expect "all-zero log" 3 "empty" "$tmp/zeros.bin"
cp "$SD" "$tmp/alg.bin" && chmod u+w "$tmp/alg.bin"
# Event 1's first digest algorithm (offset 65 + 12): SHA-256 -> SHA-384, not declared.
printf '\x0c' | dd of="$tmp/alg.bin" bs=1 seek=77 conv=notrunc status=none
expect "digest algorithm not in the Spec ID event" 3 "not declared in the Spec ID event" \
        "$tmp/alg.bin"
expect "... and the message names the event" 3 "event 1 at offset 65" "$tmp/alg.bin"
head -c $((8 * 1024 * 1024 + 1)) /dev/zero > "$tmp/huge.bin"
expect "log over 8 MiB" 3 "larger than" "$tmp/huge.bin"
printf '{"0": "zz"}' > "$tmp/bad.json"
expect "malformed PCR file" 3 "bad.json" "$C/eventlog.bin" --pcrs "$tmp/bad.json"
printf '{"sha1": {"0": "%064d"}}' 0 > "$tmp/wrongsize.json"
expect "PCR value of the wrong size for its bank" 3 "does not fit sha1" \
        "$C/eventlog.bin" --pcrs "$tmp/wrongsize.json"
run "$tmp/truncated.bin" --json
if [ "$rc" -eq 3 ] && json_ok && grep -q '"reason"' "$tmp/out"; then
        ok "malformed --json: a reason on stdout"
else
        not_ok "malformed --json: a reason on stdout" "exit $rc"
fi

echo "# 7. usage"
expect "no LOG" 2 "LOG" 
expect "two LOGs" 2 "exactly one" "$SD" "$SD"
expect "unreadable LOG" 2 "Cannot read" "$tmp/does-not-exist"
expect "unreadable PCR file" 2 "Cannot read" "$SD" --pcrs "$tmp/does-not-exist"
run --bogus "$SD"
if [ "$rc" -eq 2 ]; then ok "unknown option"; else not_ok "unknown option" "exit $rc"; fi
expect_out "--help" 0 "" "Usage: cvm-verifier check eventlog" --help

echo "# 8. mutated logs never crash"
crashes=0 runs=0
for f in "$SD" "$E/go-attestation/sb_cert_eventlog" "$E/tpm2-tools/event-uefi-sha1-log.bin"; do
        size=$(wc -c < "$f")
        for i in $(seq 1 40); do
                cp "$f" "$tmp/m.bin" && chmod u+w "$tmp/m.bin"
                for j in 1 2 3; do
                        off=$(( (i * 7919 + j * 104729) % size ))
                        printf "\\x$(printf %02x $(( (i * 31 + j * 17) % 256 )))" |
                                dd of="$tmp/m.bin" bs=1 seek="$off" conv=notrunc status=none
                done
                "$BIN" check eventlog "$tmp/m.bin" --json > /dev/null 2>&1
                rc=$?
                runs=$((runs + 1))
                case $rc in 0 | 3) ;; *) crashes=$((crashes + 1)) ;; esac
        done
done
if [ "$crashes" -eq 0 ]; then
        ok "$runs mutated logs: exit 0 or 3 only"
else
        not_ok "$runs mutated logs: exit 0 or 3 only" "$crashes runs exited otherwise"
fi

finish
