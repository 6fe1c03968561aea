#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Integrity monitoring end to end: the simulated Azure CVM, two `cvm-verifier serve --dev` on
# fixed loopback ports (a primary and a secondary), and `cvm-agent monitor` on a 1 s interval
# with a webhook listener and without a journal (alerts on stderr). Checked, through the
# stderr alerts, the webhook and `cvm-agent status`:
#  - the first cycles attest at the primary and raise nothing; status says healthy (exit 0);
#  - extending PCR 12 outside the event log raises exactly one drift alert naming the PCR, and
#    the next cycles none; status exit 5;
#  - stopping the primary moves attestation to the secondary within one interval plus backoff,
#    with no alert about integrity or reachability;
#  - stopping the secondary too raises one "no verifier reachable" alert; status exit 6;
#  - restarting them clears it with one recovery;
#  - attest-now prints its steps and the monitor sees what it wrote;
#  - malformed configuration is refused with file, line and reason.
# Exit 0 pass, 1 fail, 77 skip (no swtpm, tpm2-tools, curl, jq, python3 or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
SIM=$top_srcdir/tests/sim/cvm-sim
LISTEN=$top_srcdir/tests/integration/alert-listen.py
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in swtpm tpm2_pcrextend curl jq python3; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/monitor.XXXXXX") || exit 99
pids= mon=
trap 'for p in $mon $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null
      "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
env=$("$SIM" up --dir "$tmp/vm" --tpm --azure 2>"$tmp/up.err")
rc=$?
[ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $rc -eq 0 ] || { cat "$tmp/up.err"; exit 99; }
eval "$env"
cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$tmp/chain.pem"
export CVM_VCEK_CHAIN=$tmp/chain.pem

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A vpid
start_verifier() { # start_verifier NAME PORT
        rm -f "$tmp/$1.url" # never read the last one's
        "$VERIFIER" serve --dev --listen "127.0.0.1:$2" --trust-root "$CVM_SIM_ROOT" \
                >"$tmp/$1.url" 2>"$tmp/$1.log" &
        vpid[$1]=$!
        pids="$pids $!"
        for _ in $(seq 400); do [ -s "$tmp/$1.url" ] && return 0; sleep 0.05; done
        cat "$tmp/$1.log"
        exit 99
}
stop_verifier() { kill "${vpid[$1]}" 2>/dev/null; wait "${vpid[$1]}" 2>/dev/null; }
p1=$(free_port) p2=$(free_port)
start_verifier primary "$p1"
start_verifier secondary "$p2"
primary=http://127.0.0.1:$p1 secondary=http://127.0.0.1:$p2

python3 "$LISTEN" http 0 "$tmp/hook" >"$tmp/listen.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 200); do [ -s "$tmp/hook.port" ] && break; sleep 0.05; done
[ -s "$tmp/hook.port" ] || { cat "$tmp/listen.log"; exit 99; }
: >"$tmp/hook"

(umask 077 && cat >"$tmp/agent.conf" <<CONF
[Verifier]
URL=$primary
URL=$secondary
Timeout=2s
Backoff=200ms
BackoffMax=500ms
RetryAfter=3s
[Monitor]
Interval=1s
Jitter=0
[Alert]
Webhook=http://127.0.0.1:$(cat "$tmp/hook.port")/alerts
CONF
)

# cycles N: the number of cycles status.json has seen end (its last_attempt changes each time).
stamp() { jq -r .last_attempt "$tmp/state/status.json" 2>/dev/null; }
status_field() { jq -r "$1" "$tmp/state/status.json" 2>/dev/null; }
# wait_for DESC SECONDS CONDITION...: polls the condition (a shell command) every 0.2 s.
wait_for() {
        local secs=$2
        shift 2
        for _ in $(seq $((secs * 5))); do "$@" && return 0; sleep 0.2; done
        return 1
}
alerts_of() { grep -c "ALERT $1 " "$tmp/monitor.err"; }
recoveries_of() { grep -c "RECOVERED $1 " "$tmp/monitor.err"; }
hook_count() { jq -s "[.[] | select(.kind == \"$1\" and .recovery == $2)] | length" "$tmp/hook"; }

"$AGENT" monitor --config "$tmp/agent.conf" --state-dir "$tmp/state" >"$tmp/monitor.out" \
        2>"$tmp/monitor.err" &
mon=$!

# 1. Healthy.
if wait_for "first cycle" 20 bash -c "[ \"\$(jq -r .verdict '$tmp/state/status.json' 2>/dev/null)\" = allowed ]"; then
        [ "$(status_field .verifier)" = "$primary" ] && ok "first cycle: allowed by the primary" ||
                not_ok "first cycle" "verifier $(status_field .verifier)"
else
        not_ok "first cycle" "$(tail -n 5 "$tmp/monitor.err" | tr '\n' ' ')"
fi
sleep 2.5
"$AGENT" status --state-dir "$tmp/state" >"$tmp/status.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q '^Verdict: *allowed' "$tmp/status.out" && ! grep -q 'ALERT' "$tmp/monitor.err" &&
        ok "status: healthy (exit 0), no alert after several cycles" ||
        not_ok "healthy status" "exit $rc" "$(tr '\n' ' ' <"$tmp/status.out" | cut -c1-300)" \
                "$(grep ALERT "$tmp/monitor.err" | head -3)"

# 2. A PCR extended outside the event log (PCR 12: outside the attested 0-7, so the verifier
#    still allows; the monitor's baseline covers every PCR).
TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=${CVM_TCTI##*port=}" tpm2_pcrextend \
        "12:sha256=0000000000000000000000000000000000000000000000000000000000000012" >/dev/null 2>&1 ||
        not_ok "tpm2_pcrextend" "cannot extend PCR 12"
if wait_for "drift alert" 15 bash -c "grep -q 'ALERT drift ' '$tmp/monitor.err'"; then
        sleep 3 # more cycles: no second alert
        line=$(grep 'ALERT drift ' "$tmp/monitor.err" | head -n 1)
        [ "$(alerts_of drift)" -eq 1 ] && grep -q 'PCR 12: extended outside the event log' <<<"$line" &&
                grep -q 'CVM_AGENT_PCRS=12' <<<"$line" &&
                ok "PCR 12 extended: exactly one drift alert, naming PCR 12 and why" ||
                not_ok "one drift alert" "$(alerts_of drift) alerts" "$line"
        wait_for "webhook" 10 bash -c "[ \"\$(jq -s '[.[] | select(.kind == \"drift\")] | length' '$tmp/hook')\" -ge 1 ]"
        [ "$(hook_count drift false)" -eq 1 ] &&
                jq -e -s '[.[] | select(.kind == "drift")][0] | .fields.CVM_AGENT_PCRS == "12" and (.message | test("PCR 12"))' "$tmp/hook" >/dev/null &&
                ok "the webhook got exactly one drift alert, with the PCR" ||
                not_ok "webhook drift" "$(cat "$tmp/hook" | head -c 400)"
        "$AGENT" status --state-dir "$tmp/state" >"$tmp/status.out" 2>&1
        rc=$?
        [ $rc -eq 5 ] && grep -q 'Drift: *PCR 12' "$tmp/status.out" && grep -q 'drift:pcr12' "$tmp/status.out" &&
                ok "status: drifted (exit 5), the drift line and the open alert" ||
                not_ok "drifted status" "exit $rc" "$(tr '\n' ' ' <"$tmp/status.out" | cut -c1-400)"
else
        not_ok "drift alert" "$(tail -n 5 "$tmp/monitor.err" | tr '\n' ' ')"
fi

# 3. The primary stops: the secondary answers within one interval plus backoff, no alert.
before_unreach=$(alerts_of unreachable)
stop_verifier primary
t0=$(date +%s%N)
if wait_for "secondary" 15 bash -c "[ \"\$(jq -r .verifier '$tmp/state/status.json' 2>/dev/null)\" = '$secondary' ] && [ \"\$(jq -r .verdict '$tmp/state/status.json')\" = allowed ]"; then
        ms=$((($(date +%s%N) - t0) / 1000000))
        sleep 2
        [ "$(alerts_of unreachable)" -eq "$before_unreach" ] && [ "$(alerts_of denied)" -eq 0 ] &&
                [ "$(alerts_of drift)" -eq 1 ] &&
                ok "primary down: the secondary answered after $ms ms (interval 1 s + backoff), no new alert" ||
                not_ok "failover alerts" "$(grep -E 'ALERT|RECOVERED' "$tmp/monitor.err" | tail -n 3 | tr '\n' ' ')"
else
        not_ok "failover to the secondary" "$(status_field .verifier) $(status_field .verdict)"
fi

# 4. Both down: one "no verifier reachable" alert.
stop_verifier secondary
if wait_for "unreachable" 20 bash -c "grep -q 'ALERT unreachable ' '$tmp/monitor.err'"; then
        sleep 3
        line=$(grep 'ALERT unreachable ' "$tmp/monitor.err" | head -n 1)
        [ "$(alerts_of unreachable)" -eq 1 ] && grep -q 'no verifier reachable since' <<<"$line" &&
                ok "both down: exactly one 'no verifier reachable since ...' alert" ||
                not_ok "unreachable alert" "$(alerts_of unreachable) alerts" "$line"
        "$AGENT" status --state-dir "$tmp/state" >"$tmp/status.out" 2>&1
        rc=$?
        # Drift (5) outranks unreachable (6): PCR 12 is still extended.
        [ $rc -eq 5 ] && grep -q '^Verdict: *unreachable (measurements drifted' "$tmp/status.out" &&
                grep -q 'unreachable since' "$tmp/status.out" &&
                ok "status: unreachable and drifted (exit 5, drift outranks), the open alert" ||
                not_ok "unreachable status" "exit $rc" "$(tr '\n' ' ' <"$tmp/status.out" | cut -c1-400)"
        "$AGENT" status --json --state-dir "$tmp/state" | jq -e '.verdict == "unreachable" and (.alerts | map(.key) | index("unreachable") != null)' >/dev/null &&
                ok "status --json: the verdict and the open alerts" || not_ok "status --json"
else
        not_ok "unreachable alert" "$(tail -n 5 "$tmp/monitor.err" | tr '\n' ' ')"
fi

# 5. Back up: one recovery.
start_verifier primary "$p1"
start_verifier secondary "$p2"
if wait_for "recovery" 25 bash -c "grep -q 'RECOVERED unreachable ' '$tmp/monitor.err'"; then
        sleep 2
        [ "$(recoveries_of unreachable)" -eq 1 ] && [ "$(alerts_of unreachable)" -eq 1 ] &&
                ok "verifiers back: exactly one recovery" ||
                not_ok "recovery" "$(grep -E 'unreachable' "$tmp/monitor.err" | tr '\n' ' ' | cut -c1-400)"
        wait_for "webhook recovery" 10 bash -c "[ \"\$(jq -s '[.[] | select(.kind == \"unreachable\" and .recovery)] | length' '$tmp/hook')\" -ge 1 ]"
        [ "$(hook_count unreachable false)" -eq 1 ] && [ "$(hook_count unreachable true)" -eq 1 ] &&
                ok "the webhook got the unreachable alert and its recovery, once each" ||
                not_ok "webhook unreachable" "$(hook_count unreachable false) alerts, $(hook_count unreachable true) recoveries"
else
        not_ok "recovery" "$(tail -n 5 "$tmp/monitor.err" | tr '\n' ' ')"
fi

# 6. attest-now beside the running monitor.
"$AGENT" attest-now --config "$tmp/agent.conf" --state-dir "$tmp/state" >"$tmp/now.out" 2>"$tmp/now.err"
rc=$?
grep -qE '^ +[0-9.]+ ms  attesting at http' "$tmp/now.out" && grep -q 'verdict: allowed, measurements drifted' "$tmp/now.out" &&
        [ $rc -eq 5 ] && ! grep -q 'ALERT' "$tmp/now.err" &&
        ok "attest-now: each step with its time, the verdict, no alert again (exit 5: drifted)" ||
        not_ok "attest-now" "exit $rc" "$(tr '\n' ' ' <"$tmp/now.out" | cut -c1-300)" "$(head -c 300 "$tmp/now.err")"
"$AGENT" attest-now --json --verifier "$secondary" --config "$tmp/agent.conf" --state-dir "$tmp/state" \
        >"$tmp/now.json" 2>/dev/null
jq -e --arg s "$secondary" '.verdict == "allowed" and .verifier == $s and .token.claims["x-ms-attestation-type"] == "azurevm"' \
        "$tmp/now.json" >/dev/null && ok "attest-now --json --verifier: the status it wrote" ||
        not_ok "attest-now --json" "$(head -c 300 "$tmp/now.json")"

# 7. The monitor stops on SIGTERM.
kill "$mon"
wait "$mon"
rc=$?
mon=
[ $rc -eq 0 ] && ok "SIGTERM: the monitor stops (exit 0)" || not_ok "SIGTERM" "exit $rc"

# 8. Malformed configuration: file, line and reason.
(umask 077 && printf '[Verifier]\nURL=ftp://example\n' >"$tmp/bad.conf")
"$AGENT" monitor --once --config "$tmp/bad.conf" --state-dir "$tmp/state2" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "bad.conf:2: \[Verifier\] URL=" "$tmp/err" &&
        ok "malformed configuration: exit 2, '$(head -n 1 "$tmp/err" | sed 's/.*bad.conf/bad.conf/' | cut -c1-80)'" ||
        not_ok "malformed configuration" "exit $rc: $(cat "$tmp/err")"
(umask 077 && printf '[Monitor]\nInterval=soon\n' >"$tmp/bad2.conf")
"$AGENT" attest-now --config "$tmp/bad2.conf" --state-dir "$tmp/state2" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "bad2.conf:2: \[Monitor\] Interval=" "$tmp/err" &&
        ok "a bad time span: exit 2 with file, line and key" || not_ok "bad time span" "exit $rc: $(cat "$tmp/err")"

echo "1..$n"
[ $failed -eq 0 ]
