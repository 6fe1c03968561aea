#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `cvm-verifier key ...` on stores in temporary directories: create, import, list, show, rotate,
# set-policy and audit round trips with their outputs checked; both real release policies of the
# vectors accepted, an invalid one refused naming its JSON path with the store unchanged; an
# immutable policy refusing set-policy; a wrong master key (exit 4), a master key or material
# file that group or others may read, the master key as a systemd credential and in hex; nothing
# made (no DIR, no master key) when a command fails on its arguments; two admin processes writing
# at once, and writes while another connection holds the store open (a server's, played by
# Python's sqlite3); key material never in any output.
#
# Environment (set by TESTS_ENVIRONMENT in tests/Makemodule.am): top_srcdir, top_builddir,
# CVM_VECTORS. Exit 0 pass, 1 fail, 77 skip (no vectors, jq or python3), 99 setup error.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CVM_VECTORS=${CVM_VECTORS:-$top_srcdir/../shared/vectors}
P=$CVM_VECTORS/azure/release-policies
[ -f "$P/skr-policy.json" ] && [ -f "$P/public_SKR_policy-datadisk.json" ] ||
        { echo "SKIP: no release policies at $P"; exit 77; }
for tool in jq python3 openssl od base64; do
        command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
BIN=$top_builddir/cvm-verifier
[ -x "$BIN" ] || { echo "ERROR: need $BIN"; exit 99; }
mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/verifier-key.XXXXXX") || exit 99
pids=()
cleanup() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
        rm -rf "$tmp"
}
trap cleanup EXIT
. "$top_srcdir/tests/integration/lib.sh"
umask 022 # what an admin's shell has: the files we make must be 0600 regardless

S=$tmp/store
SKR=$P/skr-policy.json
DATADISK=$P/public_SKR_policy-datadisk.json
: >"$tmp/all"

# run ARGS...: cvm-verifier key ARGS; rc, stdout in $tmp/out, stderr in $tmp/err; every output
# also goes to $tmp/all, which must never hold key material.
run() {
        "$BIN" key "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
        rc=$?
        cat "$tmp/out" "$tmp/err" >>"$tmp/all"
}
# show NAME OUT [ARGS]: `key show NAME --json` into OUT (nothing on failure).
show() {
        local name=$1 out=$2
        shift 2
        "$BIN" key show "$name" --state "$S" --json "$@" >"$out" 2>>"$tmp/all" || : >"$out"
        cat "$out" >>"$tmp/all"
}
# dump DIR OUT: every row of the store, for "unchanged" comparisons that see what show does not.
dump() {
        python3 - "$1/keys.db" >"$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for line in db.iterdump():
    print(line)
PY
}
mode() { stat -c %a "$1"; }

echo "# 1. the command line"
expect "key --help: exit 0" 0 "" --help
grep -q 'set-policy NAME --policy FILE' "$tmp/out" && grep -q '^Exit codes: 0 done' "$tmp/out" &&
        grep -q 'oct-256 (the default' "$tmp/out" &&
        ok "key --help documents the commands, the default type and the exit codes" ||
        not_ok "key --help" "$(head -5 "$tmp/out")"
"$BIN" --help | grep -q 'key create|import|list|show|set-policy|rotate|audit' &&
        ok "cvm-verifier --help lists the key commands" || not_ok "cvm-verifier --help"
expect "no command: usage" 2 "which command?"
expect "an unknown command: usage" 2 "unknown command 'destroy'" destroy --state "$S"
expect "no --state: usage" 2 "--state DIR is required" list
expect "an option another command takes: usage" 2 "--type does not apply" list --state "$S" --type oct-256
expect "an unknown option: usage" 2 "unknown option '--force'" create k --state "$S" --force
expect "an unknown type: usage" 2 "'AES-128' is not one of" create k --state "$S" --type AES-128
expect "a bad key name: usage" 2 "'a_b' is not a key name" create a_b --state "$S"
expect "import without --type: usage" 2 "--type is required" import k --state "$S" --material /dev/null
expect "--exportable without a policy: usage" 2 "an exportable key needs a release policy" \
        create k --state "$S" --exportable
expect "--immutable without a policy: usage" 2 "--immutable needs --policy" create k --state "$S" --immutable
expect "list without a store: usage, naming it" 2 "no key store here" list --state "$S"

echo "# 2. nothing is made when a command fails on its arguments"
printf '{"version": "1.0.0", "anyOf": [{"authority": "https://a.example", "allOf": [{"claim": "x", "equals": []}]}]}' \
        >"$tmp/bad-policy.json"
expect "create with an invalid policy: malformed, naming the file and JSON path" 3 \
        "bad-policy.json: anyOf[0].allOf[0].equals" create k --state "$S" --exportable --policy "$tmp/bad-policy.json"
[ ! -e "$S" ] && ok "... and no store directory was made" || not_ok "a directory was made" "$(ls -la "$S")"
expect "create with a master key file that does not exist: usage" 2 "Cannot open $tmp/nope.key" \
        create k --state "$S" --master-key "$tmp/nope.key"
[ ! -e "$S" ] && ok "... and no store directory was made" || not_ok "a directory was made"
head -c 33 /dev/urandom >"$tmp/oct33" && chmod 600 "$tmp/oct33"
expect "import of 33 bytes as oct-256: malformed" 3 "an oct-256 key is 32 bytes, not 33" \
        import k --state "$S" --type oct-256 --material "$tmp/oct33"
[ ! -e "$S" ] && ok "... and no store directory was made" || not_ok "a directory was made"

echo "# 3. create, list, show"
run create k1 --state "$S"
v1=$(sed -n 's/^Created key k1 (oct-256), version \([0-9a-f]\{32\}\)$/\1/p' "$tmp/out")
[ "$rc" = 0 ] && [ -n "$v1" ] && ok "create k1: oct-256 by default, a 32-hex version" ||
        not_ok "create k1" "exit $rc" "$(cat "$tmp/out" "$tmp/err")"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "Created the master key $S/master.key beside the key store: it protects nothing at rest" "$tmp/err" &&
        ok "... warning once that a master key beside the store protects nothing at rest" ||
        not_ok "the master key warning" "$(cat "$tmp/err")"
[ "$(stat -c %s "$S/master.key")" = 32 ] && [ "$(mode "$S/master.key")" = 600 ] &&
        [ "$(mode "$S/keys.db")" = 600 ] && [ "$(mode "$S")" = 700 ] &&
        ok "... the master key is 32 bytes, it and keys.db 0600, the directory 0700 (umask 022)" ||
        not_ok "modes" "$(ls -la "$S")"
cp "$S/master.key" "$tmp/master.key.first"
expect "create k1 again: usage, the name exists" 2 "key 'k1' exists" create k1 --state "$S"
cmp -s "$S/master.key" "$tmp/master.key.first" && [ -z "$(ls "$S" | grep -v -e '^keys.db' -e '^master.key$')" ] &&
        ok "... the master key is kept, no stray files" || not_ok "master key changed or stray files" "$(ls -la "$S")"
expect "create k2 EC-P-256, exportable, with the real skr-policy.json" 0 "" \
        create k2 --state "$S" --type EC-P-256 --exportable --policy "$SKR"
expect "create k3 RSA-2048, exportable, with the real public_SKR_policy-datadisk.json" 0 "" \
        create k3 --state "$S" --type RSA-2048 --exportable --policy "$DATADISK"
grep -q '^Created key k3 (RSA-2048), version [0-9a-f]\{32\}$' "$tmp/out" && ok "... its line names type and version" ||
        not_ok "create k3 output" "$(cat "$tmp/out")"
for t in RSA-3072 EC-P-384; do
        expect "create a $t key" 0 "" create "k-$t" --state "$S" --type "$t"
done

run list --state "$S"
[ "$rc" = 0 ] && [ "$(head -1 "$tmp/out" | tr -s ' ')" = "NAME TYPE EXPORTABLE VERSION CREATED" ] &&
        grep -Eq "^k1 +oct-256 +no +$v1 +20[0-9-]+T[0-9:]+Z$" "$tmp/out" &&
        grep -Eq '^k2 +EC-P-256 +yes ' "$tmp/out" && grep -Eq '^k3 +RSA-2048 +yes ' "$tmp/out" &&
        [ "$(wc -l <"$tmp/out")" = 6 ] && ok "list: a header and the five keys" ||
        not_ok "list" "exit $rc" "$(cat "$tmp/out" "$tmp/err")"
run list --state "$S" --json
[ "$rc" = 0 ] && jq -e --arg v "$v1" '[.keys[].name] == ["k-EC-P-384", "k-RSA-3072", "k1", "k2", "k3"] and
        (.keys[] | select(.name == "k1") | .type == "oct-256" and .exportable == false and .current_version == $v)
        and (.keys[] | has("policy") | not)' "$tmp/out" >/dev/null &&
        ok "list --json: the keys sorted by name, without policies" || not_ok "list --json" "$(cat "$tmp/out")"

show k1 "$tmp/k1.json"
jq -e --arg v "$v1" '.name == "k1" and .type == "oct-256" and .exportable == false and .policy == null
        and .policy_immutable == false and .current_version == $v and (.versions | length) == 1
        and .versions[0].version == $v and .versions[0].enabled == true
        and (.created | test("^20[0-9-]+T[0-9:]+Z$"))' "$tmp/k1.json" >/dev/null &&
        ok "show k1 --json: type, version, no policy" || not_ok "show k1 --json" "$(cat "$tmp/k1.json")"
show k2 "$tmp/k2.json"
jq -j .policy "$tmp/k2.json" | cmp -s - "$SKR" && jq -e '.exportable and (.policy_immutable | not)' "$tmp/k2.json" >/dev/null &&
        ok "show k2 --json: the policy text exactly as given, mutable" || not_ok "show k2 policy" "$(head -c 300 "$tmp/k2.json")"
run show k3 --state "$S"
grep -q '^type: RSA-2048$' "$tmp/out" && grep -q '^exportable: yes$' "$tmp/out" &&
        grep -q '^release policy: mutable$' "$tmp/out" && grep -Eq '^  [0-9a-f]{32}  20[0-9-]+T[0-9:]+Z  enabled  current$' "$tmp/out" &&
        sed '1,/^policy:$/d' "$tmp/out" | cmp -s - <(cat "$DATADISK"; [ -z "$(tail -c1 "$DATADISK")" ] || echo) &&
        ok "show k3: metadata, the version, the policy text" || not_ok "show k3" "$(head -20 "$tmp/out")"
expect "show of an unknown key: usage, naming it" 2 "no key 'nope'" show nope --state "$S"

echo "# 4. rotate"
run rotate k2 --state "$S"
v2=$(sed -n 's/^Rotated key k2 (EC-P-256): version \([0-9a-f]\{32\}\) is current, 2 versions in all$/\1/p' "$tmp/out")
[ "$rc" = 0 ] && [ -n "$v2" ] && ok "rotate k2: a new current version" || not_ok "rotate k2" "$(cat "$tmp/out" "$tmp/err")"
old2=$(jq -r .current_version "$tmp/k2.json")
show k2 "$tmp/k2b.json"
jq -e --arg old "$old2" --arg new "$v2" '.current_version == $new and ([.versions[].version] == [$old, $new])
        and ([.versions[].enabled] == [true, true])' "$tmp/k2b.json" >/dev/null &&
        jq -e --slurpfile a "$tmp/k2.json" '.policy == $a[0].policy and .type == $a[0].type' "$tmp/k2b.json" >/dev/null &&
        ok "... the old version stays, the policy and type are kept" || not_ok "after rotate" "$(cat "$tmp/k2b.json")"
run rotate k2 --state "$S" --json
jq -e '(.versions | length) == 3 and .current_version == .versions[2].version' "$tmp/out" >/dev/null &&
        ok "rotate --json prints the key as show does" || not_ok "rotate --json" "$(cat "$tmp/out")"
expect "rotate an unknown key: usage" 2 "no key 'nope'" rotate nope --state "$S"

echo "# 5. set-policy"
show k2 "$tmp/before.json"
dump "$S" "$tmp/before.sql"
expect "set-policy with an invalid policy: malformed, naming the JSON path" 3 \
        "bad-policy.json: anyOf[0].allOf[0].equals" set-policy k2 --state "$S" --policy "$tmp/bad-policy.json"
printf '{"version": "2.0.0", "anyOf": [{"authority": "https://a.example", "allOf": [{"claim": "x", "equals": "y"}]}]}' \
        >"$tmp/v2-policy.json"
expect "set-policy with version 2.0.0: malformed" 3 "v2-policy.json: version" set-policy k2 --state "$S" --policy "$tmp/v2-policy.json"
printf '{"version": "1.0.0", "anyOf": [{"authority": "https://a.example", "allOf": [{"claim": "x", "equals": "y"}]}]}\0' \
        >"$tmp/nul-policy.json"
expect "set-policy with a NUL byte: malformed" 3 "a NUL byte" set-policy k2 --state "$S" --policy "$tmp/nul-policy.json"
expect "set-policy without --policy: usage" 2 "--policy FILE is required" set-policy k2 --state "$S"
expect "set-policy of an unknown key: usage" 2 "no key 'nope'" set-policy nope --state "$S" --policy "$SKR"
show k2 "$tmp/after.json"
dump "$S" "$tmp/after.sql"
cmp -s "$tmp/before.json" "$tmp/after.json" && cmp -s "$tmp/before.sql" "$tmp/after.sql" &&
        ok "... the store is unchanged (show --json and every row)" || not_ok "the store changed" "$(diff "$tmp/before.sql" "$tmp/after.sql" | head -5)"

expect "set-policy k2 to the datadisk policy" 0 "" set-policy k2 --state "$S" --policy "$DATADISK"
grep -qx 'Set the release policy of key k2 (mutable)' "$tmp/out" && ok "... saying it is mutable" || not_ok "set-policy output" "$(cat "$tmp/out")"
show k2 "$tmp/k2c.json"
jq -j .policy "$tmp/k2c.json" | cmp -s - "$DATADISK" && ok "... show has the new text" || not_ok "policy not replaced"
expect "set-policy with an empty policy on standard input: malformed" 3 "standard input: " \
        set-policy k2 --state "$S" --policy - --immutable
"$BIN" key set-policy k2 --state "$S" --policy - --immutable <"$SKR" >"$tmp/out" 2>"$tmp/err"
rc=$?
grep -qx 'Set the release policy of key k2 (immutable)' "$tmp/out" && [ $rc = 0 ] &&
        ok "set-policy --policy - --immutable: from standard input, immutable" ||
        not_ok "set-policy from stdin" "exit $rc: $(cat "$tmp/out" "$tmp/err")"
show k2 "$tmp/before.json"
dump "$S" "$tmp/before.sql"
jq -e '.policy_immutable' "$tmp/before.json" >/dev/null && ok "... show says immutable" || not_ok "not immutable"
expect "set-policy of an immutable policy: refused (5)" 5 "the release policy of 'k2' is immutable" \
        set-policy k2 --state "$S" --policy "$DATADISK"
expect "... also with --immutable" 5 "is immutable" set-policy k2 --state "$S" --policy "$SKR" --immutable
show k2 "$tmp/after.json"
dump "$S" "$tmp/after.sql"
cmp -s "$tmp/before.json" "$tmp/after.json" && cmp -s "$tmp/before.sql" "$tmp/after.sql" &&
        ok "... the store is unchanged" || not_ok "the store changed"
# Key Vault's form of a policy on a key: {"contentType", "data": base64url(policy), "immutable"}.
data=$(base64 -w0 <"$DATADISK" | tr '+/' '-_' | tr -d '=')
printf '{"contentType": "application/json; charset=utf-8", "data": "%s", "immutable": true}' "$data" >"$tmp/keyform.json"
expect "create with the policy in Key Vault's key form, immutable: true" 0 "" \
        create k4 --state "$S" --exportable --policy "$tmp/keyform.json"
show k4 "$tmp/k4.json"
jq -e '.policy_immutable' "$tmp/k4.json" >/dev/null && ok "... its policy is immutable" || not_ok "key form immutable"
expect "... and set-policy is refused" 5 "is immutable" set-policy k4 --state "$S" --policy "$SKR"
expect "set-policy --immutable on a key without a policy" 0 "" set-policy k1 --state "$S" --policy "$SKR" --immutable

echo "# 6. import"
head -c 32 /dev/urandom >"$tmp/oct.key"
expect "import material that others may read: refused" 2 "only its owner can read" \
        import o1 --state "$S" --type oct-256 --material "$tmp/oct.key"
chmod 600 "$tmp/oct.key"
expect "import 32 raw bytes as oct-256" 0 "" import o1 --state "$S" --type oct-256 --material "$tmp/oct.key"
grep -q '^Imported key o1 (oct-256), version [0-9a-f]\{32\}$' "$tmp/out" && ok "... its line" || not_ok "import line" "$(cat "$tmp/out")"
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/rsa.pem" 2>/dev/null &&
        openssl pkcs8 -topk8 -nocrypt -in "$tmp/rsa.pem" -outform DER -out "$tmp/rsa.p8" &&
        openssl pkey -in "$tmp/rsa.pem" -outform DER -out "$tmp/rsa.trad" &&
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/ec.pem" 2>/dev/null &&
        openssl pkcs8 -topk8 -nocrypt -in "$tmp/ec.pem" -outform DER -out "$tmp/ec.p8" &&
        openssl pkcs8 -topk8 -in "$tmp/ec.pem" -passout pass:secret -out "$tmp/ec-enc.pem") ||
        { echo "openssl cannot make keys"; exit 99; }
expect "import an RSA-2048 PEM key, exportable with a policy" 0 "" \
        import r1 --state "$S" --type RSA-2048 --material "$tmp/rsa.pem" --exportable --policy "$SKR"
expect "import the same key as PKCS#8 DER" 0 "" import r2 --state "$S" --type RSA-2048 --material "$tmp/rsa.p8" --json
jq -e '.name == "r2" and .type == "RSA-2048" and (.versions | length) == 1' "$tmp/out" >/dev/null &&
        ok "... import --json prints the key" || not_ok "import --json" "$(cat "$tmp/out")"
expect "import an EC P-384 PKCS#8 DER key" 0 "" import e1 --state "$S" --type EC-P-384 --material "$tmp/ec.p8"
dump "$S" "$tmp/before.sql"
expect "import RSA-2048 material as RSA-3072: malformed" 3 "material is not an RSA-3072 key" \
        import bad --state "$S" --type RSA-3072 --material "$tmp/rsa.pem"
expect "import EC P-384 material as EC-P-256: malformed" 3 "material is not an EC-P-256 key" \
        import bad --state "$S" --type EC-P-256 --material "$tmp/ec.p8"
expect "import a traditional (PKCS#1) DER key: malformed, saying how to convert" 3 "openssl pkcs8 -topk8" \
        import bad --state "$S" --type RSA-2048 --material "$tmp/rsa.trad"
expect "import an encrypted PEM key: malformed" 3 "without a passphrase" \
        import bad --state "$S" --type EC-P-384 --material "$tmp/ec-enc.pem"
cat "$tmp/rsa.pem" "$tmp/rsa.pem" >"$tmp/two.pem" && chmod 600 "$tmp/two.pem"
expect "import a file with two PEM keys: malformed" 3 "more than one PEM private key" \
        import bad --state "$S" --type RSA-2048 --material "$tmp/two.pem"
expect "import over an existing name: usage" 2 "key 'o1' exists" import o1 --state "$S" --type oct-256 --material "$tmp/oct.key"
expect "import of a directory: refused" 2 "not a regular file" import bad --state "$S" --type oct-256 --material "$tmp"
dump "$S" "$tmp/after.sql"
cmp -s "$tmp/before.sql" "$tmp/after.sql" && ok "... none of these changed the store" || not_ok "the store changed"

echo "# 7. the master key"
dump "$S" "$tmp/before.sql"
head -c 32 /dev/urandom >"$tmp/wrong.key" && chmod 600 "$tmp/wrong.key"
expect "list under a wrong master key: verification failed (4)" 4 "the master key is not the one this store was created with" \
        list --state "$S" --master-key "$tmp/wrong.key"
expect "create under a wrong master key: 4" 4 "not the one this store was created with" \
        create w --state "$S" --master-key "$tmp/wrong.key"
cp "$S/master.key" "$tmp/mk640" && chmod 640 "$tmp/mk640"
expect "a master key file its group may read: refused, naming it" 2 "$tmp/mk640: must be a regular file that only its owner can read" \
        list --state "$S" --master-key "$tmp/mk640"
chmod 604 "$tmp/mk640"
expect "... or others" 2 "only its owner can read" list --state "$S" --master-key "$tmp/mk640"
chmod 640 "$S/master.key"
expect "the default master key made group-readable: refused too" 2 "$S/master.key: must be a regular file" list --state "$S"
chmod 600 "$S/master.key"
printf 'short' >"$tmp/short.key" && chmod 600 "$tmp/short.key"
expect "a master key file of 5 bytes: malformed" 3 "a master key is 32 bytes, or 64 hex digits" list --state "$S" --master-key "$tmp/short.key"
head -c 1000 /dev/urandom >"$tmp/long.key" && chmod 600 "$tmp/long.key"
expect "a master key file of 1000 bytes: malformed" 3 "this file is longer" list --state "$S" --master-key "$tmp/long.key"
expect "a master key that is a directory: refused" 2 "not a regular file" list --state "$S" --master-key "$tmp"
(umask 077 && od -An -tx1 -v "$S/master.key" | tr -d ' \n' >"$tmp/hex.key" && echo >>"$tmp/hex.key")
expect "the same master key as 64 hex digits and a newline" 0 "" list --state "$S" --master-key "$tmp/hex.key"
dump "$S" "$tmp/after.sql"
cmp -s "$tmp/before.sql" "$tmp/after.sql" && ok "... none of these changed the store" || not_ok "the store changed"
mv "$S/master.key" "$tmp/master.key.moved"
expect "a store whose master key file is gone: usage, saying the store exists" 2 \
        "the key store $S/keys.db exists" create k9 --state "$S"
[ ! -e "$S/master.key" ] && ok "... and no new master key was made for it" || not_ok "a master key was made"
mv "$tmp/master.key.moved" "$S/master.key"

echo "# 8. the master key as a systemd credential"
mkdir -p "$tmp/creds" && head -c 32 /dev/urandom >"$tmp/creds/cvm-verifier-master-key" &&
        chmod 600 "$tmp/creds/cvm-verifier-master-key"
S2=$tmp/store2
CREDENTIALS_DIRECTORY=$tmp/creds "$BIN" key create c1 --state "$S2" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out" "$tmp/err" >>"$tmp/all"
[ $rc = 0 ] && [ ! -s "$tmp/err" ] && [ ! -e "$S2/master.key" ] &&
        ok "create with \$CREDENTIALS_DIRECTORY/cvm-verifier-master-key: used by default, no key file, no warning" ||
        not_ok "create with the default credential" "exit $rc: $(cat "$tmp/err")" "$(ls -la "$S2" 2>&1)"
CREDENTIALS_DIRECTORY=$tmp/creds "$BIN" key list --state "$S2" --master-key credential:cvm-verifier-master-key >"$tmp/out" 2>"$tmp/err"
[ $? = 0 ] && grep -q '^c1 ' "$tmp/out" && ok "list with --master-key credential:NAME" || not_ok "credential:NAME" "$(cat "$tmp/err")"
expect "credential:NAME without \$CREDENTIALS_DIRECTORY: usage, saying so" 2 '$CREDENTIALS_DIRECTORY is not set' \
        list --state "$S2" --master-key credential:cvm-verifier-master-key
CREDENTIALS_DIRECTORY=$tmp/creds "$BIN" key list --state "$S2" --master-key credential:other >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] && grep -q "Cannot open $tmp/creds/other" "$tmp/err" && ok "a missing credential: usage, naming the file" ||
        not_ok "missing credential" "exit $rc: $(cat "$tmp/err")"
expect "a bad credential name: usage" 2 "not a credential name" list --state "$S2" --master-key credential:a/b
expect "the store without its credential: usage, naming both places" 2 \
        "no credential cvm-verifier-master-key" list --state "$S2"
expect "... or under the file next to another store: 4" 4 "not the one this store was created with" \
        list --state "$S2" --master-key "$S/master.key"
S4=$tmp/store4
expect "create in a new directory with --master-key FILE" 0 "" create h1 --state "$S4" --master-key "$tmp/hex.key"
[ -f "$S4/keys.db" ] && [ ! -e "$S4/master.key" ] && [ "$(mode "$S4")" = 700 ] &&
        ok "... makes the directory (0700) and the store, no master key file in it" || not_ok "new store, given key" "$(ls -la "$S4")"
expect "... and the store opens under that key given raw" 0 "" show h1 --state "$S4" --master-key "$S/master.key"
chmod 644 "$tmp/creds/cvm-verifier-master-key"
CREDENTIALS_DIRECTORY=$tmp/creds "$BIN" key list --state "$S2" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] && grep -q 'only its owner can read' "$tmp/err" && ok "a credential others may read: refused" ||
        not_ok "readable credential" "exit $rc: $(cat "$tmp/err")"
chmod 600 "$tmp/creds/cvm-verifier-master-key"

echo "# 9. several writers, and a store another connection holds open"
for i in 1 2 3 4 5 6; do
        "$BIN" key create "par$i" --state "$S" --type oct-256 >"$tmp/par$i.out" 2>&1 &
        pids+=($!)
done
for i in 1 2 3; do
        "$BIN" key rotate k1 --state "$S" >"$tmp/rot$i.out" 2>&1 &
        pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
pids=()
cat "$tmp"/par*.out "$tmp"/rot*.out >>"$tmp/all"
show k1 "$tmp/k1b.json"
run list --state "$S" --json
[ $fails = 0 ] && [ "$(jq '[.keys[].name | select(startswith("par"))] | length' "$tmp/out")" = 6 ] &&
        [ "$(jq '.versions | length' "$tmp/k1b.json")" = 4 ] &&
        ok "six creates and three rotations at once: all succeed, all there" ||
        not_ok "concurrent writers" "$fails failed" "$(cat "$tmp"/par*.out "$tmp"/rot*.out | head -5)"
S3=$tmp/store3
for i in 1 2 3 4; do
        "$BIN" key create "first$i" --state "$S3" >"$tmp/first$i.out" 2>&1 &
        pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
pids=()
cat "$tmp"/first*.out >>"$tmp/all"
run list --state "$S3" --json
[ $fails = 0 ] && [ "$(jq '.keys | length' "$tmp/out")" = 4 ] && [ "$(stat -c %s "$S3/master.key")" = 32 ] &&
        [ "$(ls "$S3" | grep -c master.key)" = 1 ] &&
        ok "four first creates at once in a new directory: one master key, four keys" ||
        not_ok "concurrent first creates" "$fails failed" "$(cat "$tmp"/first*.out | head -5)" "$(ls -la "$S3")"

# A server's connections: one holds a read transaction throughout, another takes the write lock
# for a second; admin writes wait for the lock (busy timeout), never for the reader.
python3 - "$S/keys.db" "$tmp/held" <<'PY' &
import sqlite3, sys, time
reader = sqlite3.connect(sys.argv[1], isolation_level=None)
reader.execute("BEGIN")
reader.execute("SELECT count(*) FROM keys").fetchall()
writer = sqlite3.connect(sys.argv[1], isolation_level=None)
writer.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(1.5)
writer.execute("COMMIT")
time.sleep(2)
reader.execute("COMMIT")
PY
pids+=($!)
for _ in $(seq 100); do [ -e "$tmp/held" ] && break; sleep 0.05; done
start=$(date +%s%N)
run create during-lock --state "$S"
waited=$(( ($(date +%s%N) - start) / 1000000 ))
check_run "create while another connection holds the write lock: waits, then succeeds" 0 "" &&
        { [ $waited -ge 700 ] && ok "create while another connection holds the write lock: waits (${waited} ms), then succeeds" ||
                  not_ok "create did not wait for the lock" "${waited} ms"; }
expect "rotate while a reader's transaction is still open" 0 "" rotate during-lock --state "$S"
expect "show while a reader's transaction is still open" 0 "" show during-lock --state "$S"
wait "${pids[@]}"
pids=()

echo "# 10. audit"
expect "audit of a store without decisions: the header only" 0 "" audit --state "$S"
[ "$(wc -l <"$tmp/out")" = 1 ] && grep -q '^ID  *TIME  *VERDICT  *KEY' "$tmp/out" && ok "... one header line" ||
        not_ok "empty audit" "$(cat "$tmp/out")"
# Release decisions are the server's to append; a second connection writes them here as it would.
python3 - "$S/keys.db" <<'PY' || { echo "cannot append audit rows"; exit 99; }
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = [
    (1700000000000000, "127.0.0.1:5000", "k2", "a" * 32, "jti-1", 1, "anyOf[0]: released"),
    (1700000001000000, "tenant\x1b[31mred", "k3", None, None, 0, "no authority matched"),
    (1700000002000000, "127.0.0.1:5001", "nope", None, "jti-3", 0, None),
]
db.executemany("INSERT INTO audit (time_usec, who, key_name, key_version, jti, released, reason)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
db.commit()
PY
run audit --state "$S" --json
[ "$rc" = 0 ] && jq -e '(.audit | length) == 3 and .audit[0].key == "k2" and .audit[0].released == true
        and .audit[0].jti == "jti-1" and .audit[0].time == "2023-11-14T22:13:20Z"
        and .audit[1].version == null and .audit[1].jti == null and .audit[1].released == false
        and .audit[1].who == "tenant\u001b[31mred" and .audit[2].reason == null
        and .audit[0].id < .audit[1].id' "$tmp/out" >/dev/null &&
        ok "audit --json: every entry, oldest first, nulls kept" || not_ok "audit --json" "$(cat "$tmp/out" "$tmp/err")"
run audit --state "$S" --key k3
[ "$rc" = 0 ] && [ "$(wc -l <"$tmp/out")" = 2 ] && grep -q ' refused .* k3 .*tenant?\[31mred .*no authority matched$' "$tmp/out" &&
        ! grep -q "$(printf '\033')" "$tmp/out" &&
        ok "audit --key k3: that key's entries only, control characters not passed to the terminal" ||
        not_ok "audit --key" "$(cat -v "$tmp/out")"
run audit --state "$S" --key nope --json
jq -e '(.audit | length) == 1 and .audit[0].key == "nope"' "$tmp/out" >/dev/null &&
        ok "audit --key of a key that does not exist: its refusals" || not_ok "audit --key nope" "$(cat "$tmp/out")"
expect "audit --key with a bad name: usage" 2 "is not a key name" audit --state "$S" --key 'a b'

echo "# 11. key material never appears in any output"
python3 - "$tmp/all" "$tmp/oct.key" "$tmp/rsa.p8" "$tmp/ec.p8" "$S/master.key" \
        "$tmp/creds/cvm-verifier-master-key" <<'PY'
import base64, sys
out = open(sys.argv[1], "rb").read()
bad = []
for path in sys.argv[2:]:
    m = open(path, "rb").read()
    # Any 16-byte window of the material in any of the encodings an output could use.
    for i in range(0, len(m) - 15, 8):
        w = m[i:i + 16]
        forms = [w, w.hex().encode(), w.hex().upper().encode()]
        for f in forms:
            if f in out:
                bad.append("%s at %d" % (path, i))
    # Base64 and base64url of the whole, at each alignment.
    for shift in range(3):
        b = base64.b64encode(m[shift:])[4:28]
        if b in out or b.replace(b"+", b"-").replace(b"/", b"_") in out:
            bad.append("%s base64" % path)
    pem_body = [l for l in open(path.replace(".p8", ".pem"), "rb").read().splitlines()
                if l and not l.startswith(b"-----")] if path.endswith(".p8") else []
    for l in pem_body:
        if len(l) >= 16 and l in out:
            bad.append("%s PEM line" % path)
if bad:
    print("material in the output: " + ", ".join(sorted(set(bad))[:5]))
    sys.exit(1)
print("checked %d bytes of output" % len(out))
PY
[ $? = 0 ] && ok "no material, master key or its hex/base64 in any output" || not_ok "material leaked into the output"

finish
