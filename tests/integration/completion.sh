#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The bash completions (completions/): loaded into bash with bash-completion, as a shell would,
# and asked for command lines: subcommands, each subcommand's options, the values of --source,
# --enc, --type, files for file options, directories only for --state-dir, nothing for a key
# name, files (or LUKS devices) for DEVICE.
# Exit 0 pass, 1 fail, 77 skip (no bash-completion), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
BC=
for f in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
        [ -f "$f" ] && { BC=$f; break; }
done
[ -n "$BC" ] || { echo "skip: bash-completion is not installed (apt-get install bash-completion)"; exit 77; }
tmp=$(mktemp -d "$top_builddir/tests/integration/completion.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/dir-a" "$tmp/dir-b" && touch "$tmp/disk.img" "$tmp/dir-file" || exit 99

# complete LINE: the completions bash offers for LINE (the word at its end), one per line,
# sorted, from a fresh shell with bash-completion and both completion files loaded.
complete_line() {
        bash --norc --noprofile -c '
                . "$1" 2>/dev/null
                . "$2/completions/cvm-agent"
                . "$2/completions/cvm-verifier"
                COMP_LINE=$3
                COMP_POINT=${#COMP_LINE}
                read -ra COMP_WORDS <<<"$COMP_LINE"
                [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                fn=$(complete -p "${COMP_WORDS[0]}" | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
                "$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                printf "%s\n" "${COMPREPLY[@]}" | sort -u | sed "/^$/d"
        ' sh "$BC" "$top_srcdir" "$1" 2>&1
}

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
# offers LINE WORD...: every WORD is among the completions of LINE.
offers() {
        local line=$1 got w missing=
        shift
        got=$(complete_line "$line")
        for w in "$@"; do
                printf '%s\n' "$got" | grep -qxF -- "$w" || missing="$missing $w"
        done
        if [ -z "$missing" ]; then ok "'$line' offers $*"; else not_ok "'$line' lacks:$missing" "got: $(echo $got)"; fi
}
# offers_exactly LINE WORD...: the completions of LINE are the WORDs.
offers_exactly() {
        local line=$1 got want
        shift
        got=$(complete_line "$line")
        want=$(printf '%s\n' "$@" | sort -u | sed '/^$/d')
        if [ "$got" = "$want" ]; then ok "'$line' offers exactly: $(echo $want)"; else not_ok "'$line'" "want: $(echo $want)" "got: $(echo $got)"; fi
}

offers "cvm-agent " unlock enroll monitor status attest-now report evidence unseal credential-request --help --version
offers_exactly "cvm-agent st" status
offers "cvm-agent unlock --" --all --name --check --verifier --token --vcek-chain --ca-file --help
offers "cvm-agent enroll /dev/vda --" --verifier --key-release --key --pcrs --enc --passphrase-file --header-backup
offers "cvm-agent monitor --" --config --state-dir --once
offers_exactly "cvm-agent status --" --json --config --state-dir --help
offers "cvm-agent attest-now --" --json --verifier --config --state-dir
offers_exactly "cvm-agent report --source " auto tsm sev-guest
offers_exactly "cvm-agent enroll /dev/vda --enc RSA" RSA_AES_KEY_WRAP_256 RSA_AES_KEY_WRAP_384
offers_exactly "cvm-agent evidence --isolation " auto azure snp none
offers_exactly "cvm-agent unlock --verifier " ""
offers_exactly "cvm-agent monitor --state-dir $tmp/dir" "$tmp/dir-a" "$tmp/dir-b"
offers "cvm-agent monitor --config $tmp/dir" "$tmp/dir-a" "$tmp/dir-b" "$tmp/dir-file"
offers "cvm-agent unlock $tmp/di" "$tmp/disk.img"

offers_exactly "cvm-verifier " serve check key --help
offers_exactly "cvm-verifier check " snp evidence quote eventlog hcl token
offers "cvm-verifier check token jwt --" --jwks --key --issuer --require-tee --measurement --trust-root --json
offers "cvm-verifier check snp r.bin --" --cert --certs --crl --root --kds --vcek-cache --json
offers "cvm-verifier serve --" --config --dev --listen --trust-root --require-nonce --policy --state
offers_exactly "cvm-verifier key " create import list show set-policy rotate audit --help
offers "cvm-verifier key create disk --" --state --master-key --type --exportable --policy --immutable
offers_exactly "cvm-verifier key create disk --type RSA-" RSA-2048 RSA-3072 RSA-4096
offers_exactly "cvm-verifier key audit --key " ""
offers "cvm-verifier check token --key $tmp/di" "$tmp/disk.img"
offers_exactly "cvm-verifier key list --state $tmp/dir" "$tmp/dir-a" "$tmp/dir-b"

echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
