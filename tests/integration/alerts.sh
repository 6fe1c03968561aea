#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Alerts end to end (agent/alert.c), one monitor cycle per run of alert-tool, each a fresh
# process as a restarted monitor is:
#  - without a journal, one line per alert on stderr; a condition alerts once while open, kinds
#    not judged in a cycle stay open, its recovery alerts once, a new value of the same PCR
#    supersedes; a malformed alerts.json is replaced;
#  - with journald's socket (a listener in a private mount namespace), one structured entry per
#    alert with its MESSAGE_ID, PRIORITY and fields, and nothing on stderr;
#  - a webhook on loopback: one POST per condition and one for its recovery, retried while the
#    listener is down and then delivered once it is up, retried after 503, a bounded queue
#    that drops the oldest;
#  - an exec hook: the alert on stdin and in a clean environment, killed with its process
#    group after its timeout, a failing hook counted;
#  - the catalog: every MESSAGE_ID documented, and journalctl accepts the file.
# Exit 0 pass, 1 fail, 77 skip (no python3), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
TOOL=$top_builddir/tests/integration/alert-tool
LISTEN=$top_srcdir/tests/integration/alert-listen.py
command -v python3 >/dev/null 2>&1 || { echo "skip: python3 is not installed"; exit 77; }
[ -x "$TOOL" ] || { echo "alert-tool is not built"; exit 99; }

tmp=$(mktemp -d "$top_builddir/tests/integration/alerts.XXXXXX") || exit 99
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# CONDITION; verdict DESC: ok when the condition just tested held, else not ok with the last
# run's output.
verdict() {
        if [ $? -eq 0 ]; then ok "$1"; else
                not_ok "$1" "stdout: $(head -c 600 "$tmp/out" | tr '\n' '|')" \
                        "stderr: $(head -c 600 "$tmp/err" | tr '\n' '|')"
        fi
}
# jq-free JSON checks: jget FILE LINE EXPR prints the Python expression on line LINE's object o.
jget() {
        python3 -c 'import json,sys
o = json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1])
print(eval(sys.argv[3]))' "$@"
}
lines() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# gone PID: the process is dead (a zombie waiting for a PID 1 that does not reap counts).
gone() {
        for _ in $(seq 100); do
                kill -0 "$1" 2>/dev/null || return 0
                [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
                sleep 0.05
        done
        return 1
}
# wait_for FILE: up to 10 s for it to exist and be non-empty.
wait_for() {
        for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done
        return 1
}

# Outside a journal: when the host has journald's socket, hide it in a private mount namespace.
nojournal=()
if [ -S /run/systemd/journal/socket ]; then
        if unshare -m true 2>/dev/null; then
                nojournal=(unshare -m sh -c 'mount -t tmpfs tmpfs /run/systemd/journal && exec "$@"' sh)
        else
                nojournal=(false)
        fi
fi

T0=1796000000
DRIFT_MSG=$'PCR 7: db changed: certificate CN=Contoso Test CA added\nPCR 7: dbx changed: 3 hashes added'
DOWN_MSG="no verifier reachable since 2026-11-30T00:50:00Z"
run() { "${nojournal[@]}" "$TOOL" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }

# ---- stderr, deduplication, state ----
S=$tmp/state
run --state-dir "$S" --now $T0 --cond drift:pcr7:1111 --message "$DRIFT_MSG" \
        --field CVM_AGENT_PCRS=7 --cond unreachable --message "$DOWN_MSG"
if [ "${nojournal[*]}" = false ]; then
        skip "alerts on stderr without a journal" "cannot hide the host's journal (no unshare)"
else
        [ $rc -eq 0 ] && grep -qx 'sent 2' "$tmp/out"
        verdict "first cycle: two alerts"
        grep -qxF \
                "alert-tool: ALERT drift key=drift:pcr7:1111: PCR 7: db changed: certificate CN=Contoso Test CA added | PCR 7: dbx changed: 3 hashes added [CVM_AGENT_PCRS=7]" "$tmp/err"
        verdict "stderr: one line per alert, in the log format"
        grep -qxF \
                "alert-tool: ALERT unreachable key=unreachable: $DOWN_MSG" "$tmp/err"
        verdict "stderr: the unreachable alert"
        [ "$(lines "$tmp/err")" = 2 ]
        verdict "stderr: nothing else"
        \
                [ "$(stat -c %a "$S/alerts.json")" = 644 ] && [ "$(grep -c '"key"' "$S/alerts.json")" = 2 ]
        verdict "alerts.json: 0644, two open conditions"

        run --state-dir "$S" --now $((T0 + 60)) --cond drift:pcr7:1111 --message "$DRIFT_MSG" \
                --field CVM_AGENT_PCRS=7 --cond unreachable --message "$DOWN_MSG"
        [ $rc -eq 0 ] && grep -qx 'sent 0' "$tmp/out" && [ ! -s "$tmp/err" ]
        verdict "a restarted monitor does not alert again"

        run --state-dir "$S" --now $((T0 + 120)) --evaluated drift --cond drift:pcr7:1111 --message "$DRIFT_MSG"
        grep -qx 'sent 0' "$tmp/out" && grep -q '"unreachable"' "$S/alerts.json"
        verdict "a kind not judged this cycle stays open"

        run --state-dir "$S" --now $((T0 + 180)) --cond drift:pcr7:1111 --message "$DRIFT_MSG"
        grep -qx 'sent 1' "$tmp/out" && grep -qxF \
                "alert-tool: RECOVERED unreachable key=unreachable: a verifier is reachable again (was: $DOWN_MSG)" "$tmp/err"
        verdict "its recovery alerts once"
        run --state-dir "$S" --now $((T0 + 240)) --cond drift:pcr7:1111 --message "$DRIFT_MSG"
        grep -qx 'sent 0' "$tmp/out" && [ ! -s "$tmp/err" ]
        verdict "and only once"

        run --state-dir "$S" --now $((T0 + 300)) --cond drift:pcr7:2222 --message "PCR 7: SecureBoot changed: enabled -> disabled"
        grep -qxF \
                "alert-tool: ALERT drift key=drift:pcr7:2222 supersedes=drift:pcr7:1111: PCR 7: SecureBoot changed: enabled -> disabled" "$tmp/err" &&
                [ "$(lines "$tmp/err")" = 1 ]
        verdict "PCR 7 moving again supersedes the open drift"

        printf '{"version": 1, "open": [' >"$S/alerts.json"
        run --state-dir "$S" --now $((T0 + 360)) --cond drift:pcr7:2222 --message "PCR 7: again"
        [ $rc -eq 1 ] &&
                grep -q 'alerts.json: alerts: not one JSON object' "$tmp/err" && grep -qx 'sent 1' "$tmp/out"
        verdict "a malformed alerts.json: said, replaced, and the condition alerts"
        run --state-dir "$S" --now $((T0 + 420)) --cond drift:pcr7:2222 --message "PCR 7: again"
        [ $rc -eq 0 ] && grep -qx 'sent 0' "$tmp/out"
        verdict "... and the file it wrote reads back"
fi

# ---- the journal ----
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
        cat >"$tmp/journal-inner.sh" <<EOF
mount -t tmpfs tmpfs /run || exit 77
mkdir -p /run/systemd/journal
python3 "$LISTEN" journal /run/systemd/journal/socket "$tmp/journal.out" &
listener=\$!
for _ in \$(seq 200); do [ -e /run/systemd/journal/socket.ready ] && break; sleep 0.05; done
"$TOOL" --state-dir "$tmp/jstate" --now $T0 --cond drift:pcr7:1111 --message "\$1" \
        --field CVM_AGENT_PCRS=7 >"$tmp/out" 2>"$tmp/err"
rc=\$?
for _ in \$(seq 100); do [ -s "$tmp/journal.out" ] && break; sleep 0.05; done
kill \$listener
exit \$rc
EOF
        unshare -m sh "$tmp/journal-inner.sh" "$DRIFT_MSG"
        rc=$?
        if [ $rc -eq 77 ]; then
                skip "the journal entry" "cannot mount a tmpfs in a private namespace"
        else
                J=$tmp/journal.out
                [ $rc -eq 0 ] && [ "$(lines "$J")" = 1 ] && [ ! -s "$tmp/err" ]
                verdict "the journal: one entry, nothing on stderr"
                \
                        [ "$(jget "$J" 1 'o["MESSAGE_ID"], o["PRIORITY"], o["SYSLOG_IDENTIFIER"]')" = "('a9cb47a5d10a49d784ad476d8835133f', '2', 'cvm-agent')" ]
                verdict "the journal: MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER"
                \
                        [ "$(jget "$J" 1 'o["MESSAGE"]')" = "$DRIFT_MSG" ]
                verdict "the journal: MESSAGE is the drift report"
                \
                        [ "$(jget "$J" 1 'o["CVM_AGENT_PCRS"], o["CVM_AGENT_ALERT_KIND"], o["CVM_AGENT_ALERT_KEY"], o["CVM_AGENT_ALERT_RECOVERY"], o["CVM_AGENT_ALERT_SINCE"], len(o["CVM_AGENT_ALERT_ID"])')" = "('7', 'drift', 'drift:pcr7:1111', '0', '2026-11-30T00:53:20Z', 32)" ]
                verdict "the journal: the condition's and the alert's fields"
        fi
else
        skip "the journal entry" "needs root and unshare -m"
fi

# ---- the webhook ----
W=$tmp/webhook
python3 "$LISTEN" http 0 "$W" &
pids="$pids $!"
wait_for "$W.port" || { echo "the webhook listener did not start"; exit 99; }
url=http://127.0.0.1:$(cat "$W.port")/alerts
hook=(--webhook "$url" --host test-host --retry-ms 100 --retry-max-ms 400)
run --state-dir "$tmp/w1" "${hook[@]}" --now $T0 --cond drift:pcr7:1111 --message "$DRIFT_MSG" \
        --field CVM_AGENT_PCRS=7 --cond unreachable --message "$DOWN_MSG"
[ $rc -eq 0 ] && [ "$(lines "$W")" = 2 ] &&
        grep -q '^webhook queued=2 delivered=2 failed=0 dropped=0 retries=0 pending=0' "$tmp/out"
verdict "webhook: one POST per condition, delivered before exit"
\
        [ "$(jget "$W" 1 'o["kind"], o["recovery"], o["key"], o["message_id"], o["priority"], o["host"], o["time"], o["since"], o["fields"]')" = \
          "('drift', False, 'drift:pcr7:1111', 'a9cb47a5d10a49d784ad476d8835133f', 2, 'test-host', '2026-11-30T00:53:20Z', '2026-11-30T00:53:20Z', {'CVM_AGENT_PCRS': '7'})" ]
verdict "webhook: the alert's JSON"
[ "$(jget "$W" 1 'o["message"]')" = "$DRIFT_MSG" ]
verdict "webhook: the message"
[ "$(jget "$W" 2 'o["kind"], o["key"], o["message"]')" = "('unreachable', 'unreachable', '$DOWN_MSG')" ]
verdict "webhook: the second condition"
run --state-dir "$tmp/w1" "${hook[@]}" --now $((T0 + 60)) --cond drift:pcr7:1111 --message "$DRIFT_MSG" \
        --cond unreachable --message "$DOWN_MSG"
[ $rc -eq 0 ] && [ "$(lines "$W")" = 2 ] && grep -qx 'sent 0' "$tmp/out"
verdict "webhook: no POST for conditions already open"
run --state-dir "$tmp/w1" "${hook[@]}" --now $((T0 + 120)) --cond drift:pcr7:1111 --message "$DRIFT_MSG"
[ $rc -eq 0 ] && [ "$(lines "$W")" = 3 ] &&
        [ "$(jget "$W" 3 'o["kind"], o["recovery"], o["message_id"], o["since"], o["time"]')" = \
          "('unreachable', True, '929e3425eb8548a9b46e58593b09ed5e', '2026-11-30T00:53:20Z', '2026-11-30T00:55:20Z')" ]
verdict "webhook: one POST for the recovery"
ids=$(python3 -c 'import json,sys; print(len({json.loads(l)["id"] for l in open(sys.argv[1])}))' "$W")
[ "$ids" = 3 ]
verdict "webhook: every alert has its own id"

# The listener is down when the alert is raised, and comes up a second later.
W2=$tmp/webhook2
port2=$(free_port)
(sleep 1; exec python3 "$LISTEN" http "$port2" "$W2") &
pids="$pids $!"
start=$(date +%s)
run --state-dir "$tmp/w2" --webhook "http://127.0.0.1:$port2/" --retry-ms 200 --retry-max-ms 400 \
        --attempts 50 --flush-ms 20000 --now $T0 --cond denied:0001 \
        --message "verifier denied: x-ms-sevsnpvm-is-debuggable is true" --field CVM_AGENT_VERIFIER=https://v1.example
[ $rc -eq 0 ] && [ "$(lines "$W2")" = 1 ] &&
        grep -q '^webhook queued=1 delivered=1 failed=0 dropped=0 retries=[1-9]' "$tmp/out" &&
        [ "$(jget "$W2" 1 'o["kind"], o["fields"]["CVM_AGENT_VERIFIER"]')" = "('denied', 'https://v1.example')" ]
verdict "webhook down, then up: retried and delivered once"
[ $(($(date +%s) - start)) -lt 10 ]
verdict "... within the backoff (under 10 s)"

# Two 503s, then 200.
W3=$tmp/webhook3
python3 "$LISTEN" http 0 "$W3" --fail 2 &
pids="$pids $!"
wait_for "$W3.port" || exit 99
run --state-dir "$tmp/w3" --webhook "http://127.0.0.1:$(cat "$W3.port")/" --retry-ms 100 \
        --now $T0 --cond tpm-unavailable --message "TPM unavailable: /dev/tpmrm0: No such file or directory"
[ $rc -eq 0 ] && [ "$(lines "$W3")" = 1 ] &&
        [ "$(lines "$W3.refused")" = 2 ] && grep -q '^webhook queued=1 delivered=1 failed=0 dropped=0 retries=2' "$tmp/out"
verdict "webhook 503: retried, delivered once"

# A slow webhook and a queue of one: the oldest waiting alert is dropped and counted.
W4=$tmp/webhook4
python3 "$LISTEN" http 0 "$W4" --delay 0.5 &
pids="$pids $!"
wait_for "$W4.port" || exit 99
run --state-dir "$tmp/w4" --webhook "http://127.0.0.1:$(cat "$W4.port")/" --queue 1 --now $T0 \
        --cond drift:pcr0:1 --message a --cond drift:pcr1:1 --message b --cond drift:pcr2:1 --message c \
        --cond drift:pcr3:1 --message d
stats=$(grep '^webhook ' "$tmp/out")
qd=$(echo "$stats" | sed -n 's/.* delivered=\([0-9]*\) failed=\([0-9]*\) dropped=\([0-9]*\).*/\1 \2 \3/p')
read -r qdel qfail qdrop <<<"$qd"
\
        [ $rc -eq 0 ] && [ "${qdrop:-0}" -ge 1 ] && [ $((qdel + qfail + qdrop)) = 4 ] && [ "$(lines "$W4")" = "$qdel" ] &&
        grep -q 'queue full' "$tmp/out"
verdict "bounded queue: the oldest dropped and counted, the rest delivered"
grep -q '"message": *"d"' "$W4"
verdict "bounded queue: the newest alert is never the one dropped"

# ---- the exec hook ----
E=$tmp/exec
mkdir -p "$E"
cat >"$E/hook" <<EOF
#!/bin/sh
env | sort >"$E/\$CVM_AGENT_ALERT_ID.env"
cat >"$E/\$CVM_AGENT_ALERT_ID.json"
EOF
chmod +x "$E/hook"
SECRET_LOOKING=should-not-pass run --state-dir "$tmp/e1" --exec "$E/hook" --host test-host --now $T0 \
        --cond drift:pcr7:1111 --message "$DRIFT_MSG" --field CVM_AGENT_PCRS=7 --cond unreachable --message "$DOWN_MSG"
envf=$(grep -l 'CVM_AGENT_ALERT_KIND=drift' "$E"/*.env 2>/dev/null | head -n 1)
[ $rc -eq 0 ] && [ "$(ls "$E"/*.json 2>/dev/null | wc -l)" = 2 ] &&
        grep -q '^exec queued=2 delivered=2 failed=0' "$tmp/out"
verdict "exec hook: run once per alert"
[ -n "$envf" ] &&
        grep -qx 'CVM_AGENT_PCRS=7' "$envf" && grep -qx 'CVM_AGENT_ALERT_KEY=drift:pcr7:1111' "$envf" &&
        grep -qx 'CVM_AGENT_ALERT_MESSAGE_ID=a9cb47a5d10a49d784ad476d8835133f' "$envf" &&
        grep -qx 'CVM_AGENT_ALERT_RECOVERY=0' "$envf" && grep -qx 'CVM_AGENT_ALERT_PRIORITY=2' "$envf" &&
        grep -qx 'CVM_AGENT_ALERT_HOST=test-host' "$envf" && grep -qx 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' "$envf"
verdict "exec hook: the alert in its environment"
! grep -v -e '^CVM_AGENT_' -e '^PATH=' -e '^PWD=' \
        -e '^SHLVL=' -e '^OLDPWD=' -e '^_=' -e '^PCR 7: dbx' "$envf"
verdict "exec hook: nothing else of the agent's environment"
jsonf=${envf%.env}.json
\
        [ "$(jget "$jsonf" 1 'o["kind"], o["key"], o["host"], o["message"] == sys.argv[4]' "$DRIFT_MSG")" = "('drift', 'drift:pcr7:1111', 'test-host', True)" ]
verdict "exec hook: the alert's JSON on stdin"

cat >"$E/slow" <<EOF
#!/bin/sh
sleep 30 &
echo \$! >"$E/child.pid"
wait
EOF
chmod +x "$E/slow"
start=$(date +%s)
run --state-dir "$tmp/e2" --exec "$E/slow" --exec-timeout-ms 500 --now $T0 --cond unreachable --message "$DOWN_MSG"
child=$(cat "$E/child.pid" 2>/dev/null)
[ $rc -eq 0 ] &&
        grep -q '^exec queued=1 delivered=0 failed=1 .*killed after 500 ms' "$tmp/out" &&
        [ -n "$child" ] && gone "$child" && [ $(($(date +%s) - start)) -lt 10 ]
verdict "exec hook past its timeout: killed with its process group, counted"

printf '#!/bin/sh\nexit 3\n' >"$E/fails"
chmod +x "$E/fails"
run --state-dir "$tmp/e3" --exec "$E/fails" --now $T0 --cond unreachable --message "$DOWN_MSG"
[ $rc -eq 0 ] &&
        grep -q '^exec queued=1 delivered=0 failed=1 dropped=0 retries=0 .*exited with status 3' "$tmp/out"
verdict "exec hook failing: counted, not run again"
run --state-dir "$tmp/e4" --exec hook --now $T0
[ $rc -eq 1 ] && grep -q 'not an absolute path' "$tmp/err"
verdict "exec hook not an absolute path: refused"
run --state-dir "$tmp/e4" --webhook "file:///etc/passwd" --now $T0
[ $rc -eq 1 ] && grep -q 'not an http:// or https:// URL' "$tmp/err"
verdict "webhook not http(s): refused"

# ---- the catalog ----
CAT=$top_srcdir/systemd/cvm-agent.catalog
"$TOOL" --ids >"$tmp/ids" || exit 99
missing=
while read -r kind id _ rid _; do
        grep -qx -- "-- $id" "$CAT" || missing="$missing $kind"
        grep -qx -- "-- $rid" "$CAT" || missing="$missing $kind-recovery"
done <"$tmp/ids"
[ -z "$missing" ] && [ "$(grep -c '^-- ' "$CAT")" = 8 ]
verdict "catalog: every MESSAGE_ID documented"
if command -v journalctl >/dev/null 2>&1; then
        mkdir -p "$tmp/root/usr/lib/systemd/catalog"
        cp "$CAT" "$tmp/root/usr/lib/systemd/catalog/"
        journalctl --root="$tmp/root" --update-catalog >"$tmp/out" 2>"$tmp/err"
        journalctl --root="$tmp/root" --list-catalog >"$tmp/out" 2>>"$tmp/err"
        [ "$(grep -c ' cvm-agent: ' "$tmp/out")" = 8 ]
        verdict "catalog: journalctl takes it, eight entries"
else
        skip "catalog: journalctl takes it" "no journalctl"
fi

echo "1..$n"
[ $failed -eq 0 ]
