#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The known-good reference across boots, end to end: the simulated Azure CVM booted from an
# Ubuntu event log, `cvm-verifier serve --dev` (policy management without credentials), and the
# agent with its /run state and its reference directory apart, so that a reboot is the
# simulator's down and up with another event log and an empty /run. Checked:
#  - a permitted attestation records reference.json (source "accepted", mode 0644, no temporary
#    file left); the next one leaves it as it is;
#  - after a reboot with " init=/bin/sh" appended to the kernel command line, under a tenant
#    policy that denies, `monitor --once` raises one denied alert whose message, after the
#    verifier's reason, names PCR 8 and the changed kernel command line entry, with
#    CVM_AGENT_PCRS=8 and CVM_AGENT_REFERENCE=accepted (stderr line and webhook JSON);
#    `status` and `status --json` show the same; reference.json is byte-identical;
#  - without a reference the denial says so (CVM_AGENT_REFERENCE=none);
#  - once the policy permits again, the changed boot becomes the reference;
#  - `cvm-agent enroll` records the boot it enrolled as source "enrollment".
# Exit 0 pass, 1 fail, 77 skip (no swtpm, curl, jq, python3, basenc or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
LISTEN=$top_srcdir/tests/integration/alert-listen.py
EDIT=$top_srcdir/tests/integration/eventlog-edit.py
VECTORS=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
LOG=$VECTORS/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in swtpm curl jq python3 basenc sha256sum; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }
[ -f "$LOG" ] || { echo "skip: no $LOG (set CVM_VECTORS)"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/reference.XXXXXX") || exit 99
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null
      "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
one_line() { head -c 700 "$1" | tr '\n' ' '; }
b64url() { basenc --base64url -w0 | tr -d '='; }

# boot LOG: the simulated VM (re)started from LOG, with PCRs replayed from it.
boot() {
        "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1
        env=$("$SIM" up --dir "$tmp/vm" --tpm --azure --eventlog "$1" 2>"$tmp/up.err")
        rc=$?
        [ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
        [ $rc -eq 0 ] || { cat "$tmp/up.err"; exit 99; }
        eval "$env"
        cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$tmp/chain.pem"
        export CVM_VCEK_CHAIN=$tmp/chain.pem
}
python3 "$EDIT" "$LOG" "$tmp/changed.bin" " init=/bin/sh" || { echo "cannot edit $LOG"; exit 99; }
boot "$LOG"

"$VERIFIER" serve --dev --listen 127.0.0.1:0 --trust-root "$CVM_SIM_ROOT" >"$tmp/url" \
        2>"$tmp/verifier.log" &
pids="$pids $!"
for _ in $(seq 400); do [ -s "$tmp/url" ] && break; sleep 0.05; done
url=$(head -n 1 "$tmp/url")
[ -n "$url" ] || { cat "$tmp/verifier.log"; exit 99; }

# policy TEXT: the AzureGuest policy of the root tenant, uploaded unsigned (dev mode).
policy() {
        local h p
        h=$(printf '{"alg":"none"}' | b64url)
        p=$(jq -cn --arg t "$(printf '%s' "$1" | b64url)" '{AttestationPolicy: $t}' | tr -d '\n' | b64url)
        printf '%s.%s.' "$h" "$p" >"$tmp/policy.jws"
        status=$(curl -s -X PUT -o "$tmp/policy.resp" -w '%{http_code}' -H 'Content-Type: text/plain' \
                --data-binary "@$tmp/policy.jws" "$url/policies/AzureGuest")
        [ "$status" = 200 ] || { echo "policy upload: $status $(one_line "$tmp/policy.resp")"; exit 99; }
}
DENY='version=1.2; authorizationrules { c:[type=="x-ms-attestation-type", value=="none-such"] => permit(); };'
PERMIT='version=1.2; authorizationrules { => permit(); };'

python3 "$LISTEN" http 0 "$tmp/hook" >"$tmp/listen.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 200); do [ -s "$tmp/hook.port" ] && break; sleep 0.05; done
[ -s "$tmp/hook.port" ] || { cat "$tmp/listen.log"; exit 99; }
: >"$tmp/hook"
(umask 077 && cat >"$tmp/agent.conf" <<CONF
[Verifier]
URL=$url
Timeout=5s
[TPM]
# The quote covers GRUB's PCRs too (8: its commands and the kernel command line), which this
# test changes: a denial is explained in the PCRs the verifier judged.
PCRs=0-9
[Alert]
Webhook=http://127.0.0.1:$(cat "$tmp/hook.port")/alerts
CONF
)
run=$tmp/run lib=$tmp/lib
ref=$lib/reference.json
agent() { # agent COMMAND ARGS...: with this test's configuration and directories
        local cmd=$1
        shift
        "$AGENT" "$cmd" --config "$tmp/agent.conf" --state-dir "$run" --reference-dir "$lib" "$@"
}

# 1. A permitted attestation records the reference.
agent attest-now >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ -f "$ref" ] && jq -e '.version == 1 and .source == "accepted" and
        (.pcrs.sha256 | length == 24) and (.eventlog | length > 1000)' "$ref" >/dev/null &&
        [ "$(stat -c %a "$ref")" = 644 ] && [ "$(find "$lib" -type f | wc -l)" -eq 1 ] &&
        grep -q 'known-good reference recorded (accepted)' "$tmp/out" &&
        ok "allowed: reference.json recorded, source accepted, 0644, nothing else in its directory" ||
        not_ok "reference recorded" "exit $rc" "$(one_line "$tmp/out")" "$(ls -l "$lib" 2>&1)"
sum1=$(sha256sum <"$ref")
sleep 1.1 # another second: a rewrite would change the time
agent attest-now >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(sha256sum <"$ref")" = "$sum1" ] &&
        grep -q 'known-good reference unchanged' "$tmp/out" &&
        ok "allowed again with the same measurements: the reference is left as it is" ||
        not_ok "reference kept" "exit $rc" "$(one_line "$tmp/out")"

# 2. Reboot with another kernel command line; the tenant's policy now denies.
boot "$tmp/changed.bin"
rm -rf "$run"
policy "$DENY"
agent monitor --once >"$tmp/out" 2>"$tmp/err"
rc=$?
line=$(grep 'ALERT denied ' "$tmp/err" | head -n 1)
[ $rc -eq 5 ] && [ "$(grep -c 'ALERT denied ' "$tmp/err")" -eq 1 ] &&
        grep -q 'verifier denied: ' <<<"$line" &&
        grep -q ' | changed since the known-good reference of [0-9T:-]*Z (accepted): PCR 8 | ' <<<"$line" &&
        grep -q 'PCR 8: kernel command line changed: /vmlinuz-6.8.0-1010-gcp [^|]* -> [^|]*init=/bin/sh' <<<"$line" &&
        grep -q 'CVM_AGENT_PCRS=8' <<<"$line" && grep -q 'CVM_AGENT_REFERENCE=accepted' <<<"$line" &&
        grep -q 'CVM_AGENT_REFERENCE_TIME=20' <<<"$line" &&
        ok "denied after the reboot: one alert naming PCR 8 and the changed kernel command line" ||
        not_ok "denied alert" "exit $rc" "${line:0:900}" "$(grep -v ALERT "$tmp/err" | tail -n 3 | tr '\n' ' ')"
grep -q 'drift' <<<"$(grep ALERT "$tmp/err")" &&
        not_ok "a drift alert after a reboot" "$(grep ALERT "$tmp/err" | head -n 3)" ||
        ok "no drift alert: this boot's baseline is this boot"
for _ in $(seq 50); do [ "$(jq -s '[.[] | select(.kind == "denied")] | length' "$tmp/hook")" -ge 1 ] && break; sleep 0.1; done
jq -e -s '[.[] | select(.kind == "denied")] | length == 1 and (.[0] |
        .fields.CVM_AGENT_PCRS == "8" and .fields.CVM_AGENT_REFERENCE == "accepted" and
        (.message | split("\n") | length >= 3) and
        (.message | test("\nPCR 8: kernel command line changed: [^\n]* -> [^\n]*init=/bin/sh")))' \
        "$tmp/hook" >/dev/null &&
        ok "the webhook got the denial with the PCR, the entry (one line each) and the fields" ||
        not_ok "webhook denial" "$(head -c 900 "$tmp/hook")"
"$AGENT" status --state-dir "$run" >"$tmp/status.out" 2>&1
rc=$?
[ $rc -eq 5 ] && grep -q '^Reference: *changed since the known-good reference of .* (accepted): PCR 8$' "$tmp/status.out" &&
        grep -q '^  PCR 8: kernel command line changed: .*init=/bin/sh' "$tmp/status.out" &&
        ok "status: the denial, what changed since the reference (exit 5)" ||
        not_ok "status" "exit $rc" "$(one_line "$tmp/status.out")"
"$AGENT" status --json --state-dir "$run" >"$tmp/status.json" 2>/dev/null
jq -e '.verdict == "denied" and .reference.source == "accepted" and .reference.pcrs == [8] and
        (.reference.lines[0] | startswith("changed since the known-good reference of")) and
        (.reference.lines | map(select(startswith("PCR 8: kernel command line changed:"))) | length == 1)' \
        "$tmp/status.json" >/dev/null && ok "status --json: .reference with the source, PCRs and lines" ||
        not_ok "status --json" "$(head -c 600 "$tmp/status.json")"
[ "$(sha256sum <"$ref")" = "$sum1" ] && ok "the denial left the reference byte-identical" ||
        not_ok "the reference changed on a denial"
agent attest-now >"$tmp/out" 2>"$tmp/err"
[ "$(sha256sum <"$ref")" = "$sum1" ] && grep -q '  PCR 8: kernel command line changed' "$tmp/out" &&
        ! grep -q 'ALERT' "$tmp/err" &&
        ok "attest-now: the same explanation in its steps, no second alert, the reference kept" ||
        not_ok "attest-now on a denial" "$(one_line "$tmp/out")" "$(one_line "$tmp/err")"

# 3. No reference: the denial says so.
"$AGENT" attest-now --config "$tmp/agent.conf" --state-dir "$tmp/run2" --reference-dir "$tmp/none" \
        >"$tmp/out" 2>"$tmp/err"
line=$(grep 'ALERT denied ' "$tmp/err" | head -n 1)
grep -q 'no known-good reference: enroll or a permitted attestation records one' <<<"$line" &&
        grep -q 'CVM_AGENT_REFERENCE=none' <<<"$line" && ! grep -q 'CVM_AGENT_PCRS' <<<"$line" &&
        [ ! -e "$tmp/none/reference.json" ] &&
        ok "denied without a reference: 'no known-good reference', none recorded" ||
        not_ok "no reference" "${line:0:600}"

# 4. The policy permits the changed boot: it becomes the reference.
policy "$PERMIT"
agent monitor --once >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(sha256sum <"$ref")" != "$sum1" ] && jq -e '.source == "accepted"' "$ref" >/dev/null &&
        grep -q 'RECOVERED denied ' "$tmp/err" &&
        ok "permitted again: the denial recovers, the changed boot is the new reference" ||
        not_ok "reference moved forward" "exit $rc" "$(one_line "$tmp/err")"
"$AGENT" status --json --state-dir "$run" | jq -e 'has("reference") | not' >/dev/null &&
        ok "status after a permitted attestation: no reference explanation" || not_ok "status reference cleared"

# 5. A malformed reference is refused (not trusted) and explained, then replaced when permitted.
printf '{"version": 1}' >"$ref"
policy "$DENY"
agent attest-now >"$tmp/out" 2>"$tmp/err"
grep -q 'ALERT denied .*the known-good reference cannot be read: .*reference.json' "$tmp/err" &&
        grep -q 'CVM_AGENT_REFERENCE=unusable' "$tmp/err" &&
        [ "$(cat "$ref")" = '{"version": 1}' ] &&
        ok "a malformed reference: said so in the denial, left alone" ||
        not_ok "malformed reference" "$(one_line "$tmp/err")"
policy "$PERMIT"
agent attest-now >"$tmp/out" 2>"$tmp/err"
jq -e '.source == "accepted"' "$ref" >/dev/null 2>&1 &&
        ok "the next permitted attestation replaces it" || not_ok "malformed reference replaced" "$(head -c 200 "$ref")"

# 6. enroll records the boot it enrolled as the reference (source enrollment).
if command -v cryptsetup >/dev/null 2>&1; then
        "$VERIFIER" serve --dev --listen 127.0.0.1:0 --trust-root "$CVM_SIM_ROOT" --state "$tmp/kstate" \
                >"$tmp/kurl" 2>"$tmp/kverifier.log" &
        pids="$pids $!"
        for _ in $(seq 400); do [ -s "$tmp/kurl" ] && break; sleep 0.05; done
        kurl=$(head -n 1 "$tmp/kurl")
        (umask 077 && head -c 32 /dev/urandom >"$tmp/disk.key")
        jq -n --arg a "$kurl" '{version: "1.0.0", anyOf: [{authority: $a, allOf: [
                {claim: "x-ms-attestation-type", equals: "azurevm"}]}]}' >"$tmp/release.json"
        truncate -s 32M "$tmp/disk.img"
        printf 'correct horse battery staple' >"$tmp/pass"
        if [ -n "$kurl" ] &&
                "$VERIFIER" key import disk --state "$tmp/kstate" --type oct-256 --material "$tmp/disk.key" \
                        --exportable --policy "$tmp/release.json" >/dev/null 2>"$tmp/import.err" &&
                cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
                        --key-file "$tmp/pass" "$tmp/disk.img" >/dev/null 2>&1; then
                "$AGENT" enroll "$tmp/disk.img" --verifier "$kurl" --key-release "$kurl/keys/disk" --key disk \
                        --passphrase-file "$tmp/pass" --header-backup "$tmp/backup.img" \
                        --reference-dir "$tmp/enrolled" >"$tmp/out" 2>"$tmp/err"
                rc=$?
                [ $rc -eq 0 ] && jq -e '.source == "enrollment"' "$tmp/enrolled/reference.json" >/dev/null &&
                        jq -e --slurpfile r "$ref" '.pcrs == $r[0].pcrs and .eventlog == $r[0].eventlog' \
                                "$tmp/enrolled/reference.json" >/dev/null &&
                        grep -q 'known-good reference' "$tmp/err" &&
                        ok "enroll: this boot recorded as the reference, source enrollment" ||
                        not_ok "enroll reference" "exit $rc" "$(one_line "$tmp/err")"
        else
                not_ok "enroll setup" "$(one_line "$tmp/import.err")"
        fi
else
        ok "enroll records the reference # SKIP no cryptsetup"
fi

echo "1..$n"
[ $failed -eq 0 ]
