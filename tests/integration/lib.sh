# SPDX-License-Identifier: Apache-2.0
# Shared by the CLI tests (sourced, not run): TAP-style reporting and judging one command run.
# A script defines run() (which must set rc and leave stdout in $tmp/out, stderr in $tmp/err),
# sets VERDICT_ON_STDOUT=1 when a successful run must print "verified:" (or "verified": true),
# and ends with `finish`.

n=0 passed=0 failed=0
VERDICT_ON_STDOUT=${VERDICT_ON_STDOUT:-0}

ok() {
        n=$((n + 1)) passed=$((passed + 1))
        echo "ok $n - $1"
}
# not_ok DESC DETAIL...: one line, then the details as '#' comments.
not_ok() {
        local l
        n=$((n + 1)) failed=$((failed + 1))
        echo "not ok $n - $1"
        shift
        for l in "$@"; do printf '#   %s\n' "$l"; done
}
skip() {
        n=$((n + 1)) passed=$((passed + 1))
        echo "ok $n - $1 # SKIP $2"
}
err1() { head -n 3 "$tmp/err" | tr '\n' ' ' | cut -c1-400; }

# check_run DESC WANT FRAGMENT: judge the last run. Exit 0 must print nothing on stderr (and a
# verdict on stdout when VERDICT_ON_STDOUT=1); any other exit exactly one line on stderr holding
# FRAGMENT; a signal is always a failure. Returns 1 (after reporting) when the run is wrong.
check_run() {
        local desc=$1 want=$2 frag=$3 lines
        if [ "$rc" -ge 128 ]; then
                not_ok "$desc" "crashed: exit $rc (signal $((rc - 128)))" "stderr: $(err1)"
                return 1
        fi
        if [ "$rc" -ne "$want" ]; then
                not_ok "$desc" "exit $rc, expected $want" "stderr: $(err1)"
                return 1
        fi
        if [ "$want" -eq 0 ]; then
                if [ "$VERDICT_ON_STDOUT" = 1 ] &&
                        ! grep -q -e '^verified:' -e '"verified": true' "$tmp/out"; then
                        not_ok "$desc" "exit 0 but no verdict on stdout"
                        return 1
                fi
                if [ -s "$tmp/err" ]; then
                        not_ok "$desc" "exit 0 but stderr: $(err1)"
                        return 1
                fi
                return 0
        fi
        lines=$(wc -l < "$tmp/err")
        if [ "$lines" -ne 1 ]; then
                not_ok "$desc" "stderr has $lines lines, expected one" "stderr: $(err1)"
                return 1
        fi
        if [ -n "$frag" ] && ! grep -qF -- "$frag" "$tmp/err"; then
                not_ok "$desc" "message lacks '$frag'" "stderr: $(err1)"
                return 1
        fi
        return 0
}

# expect DESC WANT FRAGMENT ARGS...: run ARGS and judge the run.
expect() {
        local desc=$1 want=$2 frag=$3
        shift 3
        run "$@"
        check_run "$desc" "$want" "$frag" && ok "$desc"
}

# jval KEY: the first "KEY": value in $tmp/out (JSON is printed one member per line).
jval() {
        sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$tmp/out" | head -n 1
}

# finish: the summary line; exit 1 if anything failed.
finish() {
        echo "$passed passed, $failed failed"
        [ "$failed" -eq 0 ]
        exit
}

# For tests on the simulator (need $SIM and $tmp). sim_up DIR [ARGS]: start a simulated platform
# and load its environment; exit 77 when FUSE cannot be mounted here, 99 when it fails otherwise.
# sim_down_all (from an EXIT trap) stops every platform started, even half-started ones.
sim_dirs=()
sim_up() {
        local dir=$1 rc
        shift
        sim_dirs+=("$dir")
        "$SIM" up --dir "$dir" "$@" >"$tmp/env" 2>"$tmp/up.err"
        rc=$?
        if [ $rc -eq 2 ]; then
                echo "skip: the simulator cannot mount FUSE here"; cat "$tmp/up.err"; exit 77
        fi
        [ $rc -eq 0 ] || { echo "cvm-sim up $* failed:"; cat "$tmp/up.err"; exit 99; }
        # shellcheck disable=SC1090
        . "$tmp/env"
}
sim_down_all() {
        local d
        for d in "${sim_dirs[@]}"; do "$SIM" down --dir "$d" >/dev/null 2>&1; done
}
