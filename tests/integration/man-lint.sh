#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The man pages (man/): groff with every warning on (-ww) and man-db's `man --warnings -l`
# format them without a word; and they keep up with the programs and the configuration: every
# command of `cvm-agent --help` and `cvm-verifier --help`, every option of
# `cvm-agent unlock --help` and `cvm-agent enroll --help`, every key of the annotated
# agent/agent.conf in cvm-agent.conf(5), and every key of verifier/cvm-verifier.conf in
# cvm-verifier(8).
# Exit 0 pass, 1 fail, 77 skip (no groff), 99 setup error.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_srcdir=${top_srcdir:-$top_builddir}
B=$top_builddir
command -v groff >/dev/null 2>&1 || { echo "skip: groff is not installed (apt-get install groff-base)"; exit 77; }
pages="man/cvm-agent.8 man/cvm-agent.conf.5 man/cvm-verifier.8"
for p in $pages; do
        [ -f "$B/$p" ] || { echo "missing $B/$p (make check builds it)"; exit 99; }
done
tmp=$(mktemp -d "$B/tests/integration/man-lint.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

# The text of a page, as a reader sees it (hyphenation and justification off).
text() {
        groff -man -Tascii -rLL=200n -rHY=0 -P-cbou "$B/$1" 2>/dev/null
}

for p in $pages; do
        out=$(groff -ww -man -Tutf8 -z "$B/$p" 2>&1)
        if [ -z "$out" ]; then ok "groff -ww: $p"; else not_ok "groff -ww: $p" "$out"; fi
        if command -v man >/dev/null 2>&1; then
                out=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$B/$p" 2>&1 >/dev/null)
                if [ -z "$out" ]; then ok "man --warnings: $p"; else not_ok "man --warnings: $p" "$out"; fi
        fi
        # The title line names the page's own name and section.
        name=$(basename "$p")
        if head -n 5 "$B/$p" | grep -qi "^\.TH $(printf '%s' "${name%.*}" | sed 's/-/\\\\-/g') ${name##*.} "; then
                ok "$p: .TH matches the file name"
        else
                not_ok "$p: .TH does not match" "$(grep '^\.TH' "$B/$p")"
        fi
done

# A word (a command, --option or Key=) appears in the page's text.
mentions() {
        local page=$1 word=$2
        grep -qF -- "$word" "$tmp/$(basename "$page").txt"
}
for p in $pages; do
        text "$p" >"$tmp/$(basename "$p").txt"
done

# The options a --help lists: in its usage lines and at the start of its option lines.
help_options() {
        "$@" --help | sed -n '/^Usage:/,/^$/p; /^ *--/p' | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

missing=
for c in $("$B/cvm-agent" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p') monitor status attest-now; do
        mentions man/cvm-agent.8 "$c" || missing="$missing $c"
done
if [ -z "$missing" ]; then ok "cvm-agent(8) has every command"; else not_ok "cvm-agent(8) lacks:$missing"; fi
for sub in unlock enroll; do
        missing=
        for o in $(help_options "$B/cvm-agent" $sub); do
                [ "$o" = --help ] && continue
                mentions man/cvm-agent.8 "$o" || missing="$missing $o"
        done
        if [ -z "$missing" ]; then ok "cvm-agent(8) has every option of $sub"; else not_ok "cvm-agent(8) lacks $sub's:$missing"; fi
done
missing=
for c in serve check key snp eventlog quote hcl evidence token create import list show set-policy rotate audit; do
        mentions man/cvm-verifier.8 "$c" || missing="$missing $c"
done
for o in $(help_options "$B/cvm-verifier" serve); do
        mentions man/cvm-verifier.8 "$o" || missing="$missing $o"
done
if [ -z "$missing" ]; then ok "cvm-verifier(8) has every command and serve option"; else not_ok "cvm-verifier(8) lacks:$missing"; fi

# The keys of an annotated example ("#Key=value" or "Key=value" lines under [Section]).
keys() {
        sed -n 's/^#\{0,1\}\([A-Z][A-Za-z.]*\)=.*/\1/p' "$1" | sort -u
}
if [ -f "$top_srcdir/agent/agent.conf" ]; then
        missing=
        for k in $(keys "$top_srcdir/agent/agent.conf"); do
                mentions man/cvm-agent.conf.5 "$k=" || missing="$missing $k="
        done
        for s in $(sed -n 's/^\[\([A-Za-z]*\)\]$/\1/p' "$top_srcdir/agent/agent.conf"); do
                grep -qi "^\[$s\] SECTION" "$tmp/cvm-agent.conf.5.txt" || missing="$missing [$s]"
        done
        if [ -z "$missing" ]; then ok "cvm-agent.conf(5) has every key of agent/agent.conf"; else not_ok "cvm-agent.conf(5) lacks:$missing"; fi
else
        ok "cvm-agent.conf(5) against agent/agent.conf # SKIP no agent/agent.conf in this tree"
fi
missing=
for k in URL Tenant Timeout BootDeadline RetryAfter TCTI PCRs EventLog Source VCEKChain Interval \
        Jitter Webhook Exec CAFile; do
        mentions man/cvm-agent.conf.5 "$k=" || missing="$missing $k="
done
if [ -z "$missing" ]; then ok "cvm-agent.conf(5) has the keys the agent reads"; else not_ok "cvm-agent.conf(5) lacks:$missing"; fi
if [ -f "$top_srcdir/verifier/cvm-verifier.conf" ]; then
        missing=
        for k in $(keys "$top_srcdir/verifier/cvm-verifier.conf"); do
                mentions man/cvm-verifier.8 "$k=" || missing="$missing $k="
        done
        if [ -z "$missing" ]; then ok "cvm-verifier(8) names every key of cvm-verifier.conf"; else not_ok "cvm-verifier(8) lacks:$missing"; fi
fi

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
