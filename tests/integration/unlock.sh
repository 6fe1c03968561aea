#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Key release and disk unlock end to end, all on this machine: the simulated Azure CVM (swtpm +
# paravisor), `cvm-verifier serve --dev --state DIR` serving attestation and key release from
# its key store, a key made with `cvm-verifier key` while it runs, and a LUKS2 image file.
# `cvm-agent enroll` adds a keyslot for the released key with its token; `cvm-agent unlock
# --check` attests, gets the key, unwraps it in the TPM and opens the keyslot (no device-mapper
# here: check mode). Then every way it must fail: a release policy the evidence does not meet, a
# token from an issuer the key service does not trust, an expired token, a PCR that moves between
# attestation and unwrap, a verifier that is down (and failover to one that is up). Each leaves
# the volume locked, with a clear message and its exit code, and the LUKS header byte-identical.
# The key never appears in anything the agent writes (strace), and the agent is not dumpable.
# Exit 0 pass, 1 fail, 77 skip (no swtpm, curl, jq, cryptsetup, strace or FUSE), 99 setup error.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
AGENT=$top_builddir/cvm-agent
VERIFIER=$top_builddir/cvm-verifier
PCRHELPER=$top_builddir/tests/integration/unlock-pcr-change
SIM=$top_srcdir/tests/sim/cvm-sim
export CVM_SIM_BUILDDIR=$top_builddir/tests/sim
export CVM_SIM_CA_CACHE=${CVM_SIM_CA_CACHE:-$top_builddir/tests/sim/test-sim-ca}
for tool in swtpm curl jq cryptsetup strace sha256sum; do
        command -v $tool >/dev/null 2>&1 || { echo "skip: $tool is not installed"; exit 77; }
done
[ -x "$CVM_SIM_BUILDDIR/cvm-simd" ] || { echo "skip: simulator not built"; exit 77; }
[ -c /dev/fuse ] || { echo "skip: no /dev/fuse"; exit 77; }

tmp=$(mktemp -d "$top_builddir/tests/integration/unlock.XXXXXX") || exit 99
pids= installed= loopdev=
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null
      [ -n "$installed" ] && rm -f "$installed"; [ -n "$loopdev" ] && losetup -d "$loopdev"
      "$SIM" down --dir "$tmp/vm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
env=$("$SIM" up --dir "$tmp/vm" --tpm --azure 2>"$tmp/up.err")
rc=$?
[ $rc -eq 2 ] && { echo "skip: the simulator cannot mount FUSE here"; exit 77; }
[ $rc -eq 0 ] || { cat "$tmp/up.err"; exit 99; }
eval "$env"
cat "$CVM_SIM_DIR/vcek.pem" "$CVM_SIM_DIR/cert_chain.pem" >"$tmp/chain.pem"
export CVM_VCEK_CHAIN=$tmp/chain.pem

# serve NAME ARGS...: a dev verifier in the background; its URL in $url.
serve() {
        local name=$1
        shift
        "$VERIFIER" serve --dev --listen 127.0.0.1:0 --trust-root "$CVM_SIM_ROOT" "$@" \
                >"$tmp/$name.url" 2>"$tmp/$name.log" &
        pids="$pids $!"
        for _ in $(seq 400); do [ -s "$tmp/$name.url" ] && break; sleep 0.05; done
        url=$(head -n 1 "$tmp/$name.url")
        [ -n "$url" ] || { cat "$tmp/$name.log"; exit 99; }
}
serve main --state "$tmp/state"
main=$url
serve other
other=$url

# b64url_dec TEXT: base64url without padding, decoded.
b64url_dec() {
        local s
        s=$(printf '%s' "$1" | tr '_-' '/+')
        while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
        printf '%s' "$s" | base64 -d 2>/dev/null
}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }
one_line() { head -c 600 "$1" | tr '\n' ' '; }

# The key: 32 known bytes, imported while the server runs on the same store, released only to
# tokens of the main verifier for an SEV-SNP Azure CVM.
(umask 077 && head -c 32 /dev/urandom >"$tmp/disk.key")
keyhex=$(od -An -tx1 -v "$tmp/disk.key" | tr -d ' \n')
policy() { # policy FILE ISOLATION-TYPE
        jq -n --arg a "$main" --arg t "$2" '{version: "1.0.0", anyOf: [{authority: $a, allOf: [
                {claim: "x-ms-attestation-type", equals: "azurevm"},
                {claim: "x-ms-isolation-tee.x-ms-attestation-type", equals: $t},
                {claim: "x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable", equals: false}]}]}' >"$1"
}
policy "$tmp/policy.json" sevsnpvm
policy "$tmp/policy-tdx.json" tdxvm
"$VERIFIER" key import disk --state "$tmp/state" --type oct-256 --material "$tmp/disk.key" \
        --exportable --policy "$tmp/policy.json" >"$tmp/out" 2>"$tmp/err" &&
        ok "key import beside the running server" || not_ok "key import" "$(one_line "$tmp/err")"

# A LUKS2 image with a passphrase in keyslot 0.
truncate -s 32M "$tmp/disk.img"
printf 'correct horse battery staple' >"$tmp/pass"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --key-file "$tmp/pass" "$tmp/disk.img" >/dev/null 2>&1 || { echo "luksFormat failed"; exit 99; }
header_sum() { head -c 16M "$tmp/disk.img" | sha256sum | cut -d' ' -f1; }

# Enroll.
"$AGENT" enroll "$tmp/disk.img" --verifier "$main" --key-release "$main/keys/disk" --key disk \
        --passphrase-file "$tmp/pass" --header-backup "$tmp/backup.img" --reference-dir "$tmp/lib" \
        >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q '^keyslot 1 token 0$' "$tmp/out" && [ -s "$tmp/backup.img" ] &&
        ok "enroll: keyslot 1, token 0, header backed up" ||
        not_ok "enroll" "exit $rc" "$(one_line "$tmp/out")" "$(one_line "$tmp/err")"
cryptsetup luksDump "$tmp/disk.img" >"$tmp/dump" 2>&1
grep -q 'cvm-agent' "$tmp/dump" && grep -Eq '^  1: luks2' "$tmp/dump" &&
        ok "luksDump shows the cvm-agent token and keyslot 1" || not_ok "luksDump" "$(one_line "$tmp/dump")"
cryptsetup token export --token-id 0 "$tmp/disk.img" >"$tmp/token.json" 2>/dev/null
[ -s "$tmp/token.json" ] && jq -e --arg m "$main" '.type == "cvm-agent" and .keyslots == ["1"] and .verifiers == [$m]
        and .key == "disk" and .pcrs == [0,1,2,3,4,5,6,7]' "$tmp/token.json" >/dev/null &&
        ok "the token names the verifier, the key and PCRs 0-7" || not_ok "token JSON" "$(one_line "$tmp/token.json")"
cryptsetup open --test-passphrase --key-slot 1 --key-file "$tmp/disk.key" "$tmp/disk.img" 2>/dev/null &&
        ok "keyslot 1 opens with exactly the imported key" || not_ok "keyslot 1 with the key"
cryptsetup open --test-passphrase --key-slot 0 --key-file "$tmp/pass" "$tmp/disk.img" 2>/dev/null &&
        ok "keyslot 0 still opens with the passphrase" || not_ok "keyslot 0 untouched"
grep -q "$keyhex" "$tmp/out" "$tmp/err" && not_ok "enroll printed the key" || ok "enroll's output holds no key"

# Unlock (check mode), under strace: every byte the agent writes anywhere.
sum0=$(header_sum)
strace -f -qq -s 65536 -xx -e trace=write,writev,pwrite64,pwritev,sendto,sendmsg,prctl \
        -o "$tmp/strace" "$AGENT" unlock "$tmp/disk.img" --check >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q 'opens keyslot 1' "$tmp/err" &&
        ok "unlock --check: attested, released, unwrapped, keyslot 1 opens" ||
        not_ok "unlock --check" "exit $rc" "$(one_line "$tmp/err")"
esc=$(printf '%s' "$keyhex" | sed 's/../\\\\x&/g')
# The trace must hold the conversation itself (the release request), or it proves nothing.
release_req=$(printf '/keys/disk/release' | od -An -tx1 -v | tr -d ' \n' | sed 's/../\\\\x&/g')
if [ $rc -ne 0 ] || ! grep -q "$release_req" "$tmp/strace"; then
        not_ok "the strace of unlock does not show the release request" "exit $rc"
elif grep -q "$esc" "$tmp/strace" || grep -qi "$keyhex" "$tmp/strace" "$tmp/out" "$tmp/err"; then
        not_ok "the key appears in what the agent wrote"
else
        ok "the key is in no write, send, log line or output of unlock ($(grep -c . "$tmp/strace") syscalls traced)"
fi
grep -q 'prctl(PR_SET_DUMPABLE, SUID_DUMP_DISABLE) = 0\|prctl(PR_SET_DUMPABLE, 0) = 0' "$tmp/strace" &&
        ok "the agent makes itself non-dumpable" || not_ok "PR_SET_DUMPABLE" "$(grep prctl "$tmp/strace" | head -3)"
[ "$(header_sum)" = "$sum0" ] && ok "unlock wrote nothing to the image" || not_ok "unlock changed the image"
"$VERIFIER" key audit --state "$tmp/state" --json >"$tmp/audit.json" 2>"$tmp/err"
jq -e '[.. | objects | select(.released == true and .key == "disk")] | length >= 2' \
        "$tmp/audit.json" >/dev/null &&
        ok "the audit records the releases (enroll, unlock)" || not_ok "audit" "$(one_line "$tmp/audit.json")"

# Real activation where device-mapper works; elsewhere unlock says so and checks the key instead.
"$AGENT" unlock "$tmp/disk.img" --token 0 --name cvm-agent-test >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ -b /dev/mapper/cvm-agent-test ]; then
        [ $rc -eq 0 ] && ok "unlock --name: /dev/mapper/cvm-agent-test is active" ||
                not_ok "unlock --name" "exit $rc" "$(one_line "$tmp/err")"
        cryptsetup close cvm-agent-test
elif [ $rc -eq 0 ] && grep -q 'checking the key against keyslot 1 only' "$tmp/err"; then
        ok "unlock --name without device-mapper: says so, checks the key instead # SKIP no device-mapper for a real activation"
else
        not_ok "unlock --name" "exit $rc" "$(one_line "$tmp/err")"
fi

# The other two wraps: SHA-1 and SHA-384 OAEP in the TPM, each on a keyslot and token of its own.
for enc in CKM_RSA_AES_KEY_WRAP RSA_AES_KEY_WRAP_384; do
        "$AGENT" enroll "$tmp/disk.img" --verifier "$main" --key-release "$main/keys/disk" \
                --key disk --enc $enc --passphrase-file "$tmp/pass" \
                --header-backup "$tmp/backup-$enc.img" --reference-dir "$tmp/lib" \
                >"$tmp/out" 2>"$tmp/err"
        rc=$?
        tok=$(sed -n 's/^keyslot [0-9]* token \([0-9]*\)$/\1/p' "$tmp/out")
        if [ $rc -ne 0 ] || [ -z "$tok" ]; then
                not_ok "enroll with $enc" "exit $rc" "$(one_line "$tmp/err")"
                continue
        fi
        "$AGENT" unlock "$tmp/disk.img" --check --token "$tok" >/dev/null 2>"$tmp/err"
        rc=$?
        [ $rc -eq 0 ] && grep -q "opens keyslot" "$tmp/err" &&
                ok "$enc: enrolled as token $tok, and unlock with it unwraps in the TPM" ||
                not_ok "unlock with $enc" "exit $rc" "$(one_line "$tmp/err")"
done

# unlock --all: every block device with a cvm-agent token, here the image on a loop device.
if [ "$(id -u)" -eq 0 ] && loopdev=$(losetup -f --show "$tmp/disk.img" 2>/dev/null); then
        "$AGENT" unlock --all --check --token 0 >"$tmp/out" 2>"$tmp/err"
        rc=$?
        [ $rc -eq 0 ] && grep -q "$loopdev: the released key opens keyslot 1" "$tmp/err" &&
                ok "unlock --all finds $loopdev and opens its keyslot 1" ||
                not_ok "unlock --all" "exit $rc" "$(one_line "$tmp/err")"
        losetup -d "$loopdev"
        loopdev=
else
        loopdev=
        ok "unlock --all # SKIP no loop device here"
fi

# The token plugin: cryptsetup itself opens the volume through the same code. libcryptsetup 2.6
# loads plugins only from its own directory, so the plugin is put there for this test (root
# only) and taken away again; one already there (an installed package's) is left alone.
plugin=$top_builddir/libcryptsetup-token-cvm-agent.so
plugin_dir=$(pkg-config --variable=libdir libcryptsetup 2>/dev/null)/cryptsetup
if [ "$(id -u)" -ne 0 ]; then
        ok "token plugin # SKIP not root: cannot put it in $plugin_dir"
elif [ -e "$plugin_dir/libcryptsetup-token-cvm-agent.so" ] && ! cmp -s "$plugin" "$plugin_dir/libcryptsetup-token-cvm-agent.so"; then
        ok "token plugin # SKIP another libcryptsetup-token-cvm-agent.so is installed in $plugin_dir"
else
        mkdir -p "$plugin_dir"
        installed=$plugin_dir/libcryptsetup-token-cvm-agent.so
        [ -e "$installed" ] && installed=
        cp "$plugin" "$plugin_dir/libcryptsetup-token-cvm-agent.so"
        before=$(header_sum)
        cryptsetup open --test-passphrase --token-only --token-type cvm-agent "$tmp/disk.img" \
                >"$tmp/out" 2>"$tmp/err"
        rc=$?
        [ $rc -eq 0 ] && ok "cryptsetup open --test-passphrase --token-only --token-type cvm-agent" ||
                not_ok "cryptsetup through the plugin" "exit $rc" "$(one_line "$tmp/err")"
        cryptsetup luksDump "$tmp/disk.img" >"$tmp/dump2" 2>&1
        grep -q 'Key URL:' "$tmp/dump2" && grep -q "Verifiers: *$main" "$tmp/dump2" &&
                ok "luksDump shows the token through the plugin's dump" ||
                not_ok "plugin dump" "$(grep -A8 Tokens "$tmp/dump2" | tr '\n' ' ')"
        cryptsetup open --test-passphrase --token-only --token-type cvm-agent "$tmp/disk.img" \
                --debug >/dev/null 2>"$tmp/err2"
        grep -qi "$keyhex" "$tmp/err2" "$tmp/out" "$tmp/err" && not_ok "the plugin path shows the key" ||
                ok "the key is in no output of cryptsetup, not even --debug"
        [ "$(header_sum)" = "$before" ] && ok "the plugin wrote nothing to the image" ||
                not_ok "the plugin changed the image"
        [ -n "$installed" ] && rm -f "$installed"
        installed=
fi

# expect_locked DESC EXIT FRAGMENT ARGS...: unlock fails with EXIT, FRAGMENT on stderr, header
# unchanged.
expect_locked() {
        local desc=$1 want=$2 frag=$3
        shift 3
        local before
        before=$(header_sum)
        "$AGENT" unlock "$tmp/disk.img" --check "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ $rc -ne "$want" ] || ! grep -q -- "$frag" "$tmp/err"; then
                not_ok "$desc" "exit $rc, expected $want with '$frag'" "$(one_line "$tmp/err")"
        elif [ "$(header_sum)" != "$before" ]; then
                not_ok "$desc: the header changed"
        else
                ok "$desc: exit $want, locked, header identical"
        fi
}

# A release policy the evidence does not meet.
"$VERIFIER" key set-policy disk --state "$tmp/state" --policy "$tmp/policy-tdx.json" >/dev/null 2>&1 ||
        not_ok "set-policy" "cannot change the policy"
expect_locked "release policy not met (403)" 5 "does not satisfy the release policy"
"$VERIFIER" key set-policy disk --state "$tmp/state" --policy "$tmp/policy.json" >/dev/null 2>&1

# A token from a verifier the key service does not trust.
expect_locked "token of an untrusted issuer (401)" 4 "is not trusted" --verifier "$other"

# A verifier that is down: rounds with backoff until BootDeadline=, then locked; with a second
# one up, failover.
(umask 077 && printf '[Verifier]\nBootDeadline=3s\nBackoff=200ms\nBackoffMax=1s\n' >"$tmp/agent.conf")
t0=$(date +%s%N)
expect_locked "verifier down" 6 "no verifier answered" --verifier http://127.0.0.1:9 \
        --config "$tmp/agent.conf"
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
rounds=$(grep -c 'waiting before the next round' "$tmp/err")
[ "$elapsed_ms" -ge 2500 ] && [ "$elapsed_ms" -lt 8000 ] && [ "$rounds" -ge 2 ] &&
        ok "BootDeadline=3s: gave up after $elapsed_ms ms and $rounds backoffs" ||
        not_ok "the boot deadline" "$elapsed_ms ms, $rounds backoffs"
# --deadline (what is left of a deadline the caller started, the initrd's) goes before it.
t0=$(date +%s%N)
expect_locked "verifier down, --deadline 1s" 6 "no verifier answered" \
        --verifier http://127.0.0.1:9 --config "$tmp/agent.conf" --deadline 1s
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$elapsed_ms" -ge 800 ] && [ "$elapsed_ms" -lt 2500 ] &&
        ok "--deadline 1s: gave up after $elapsed_ms ms (BootDeadline=3s)" ||
        not_ok "--deadline" "$elapsed_ms ms"
"$AGENT" unlock "$tmp/disk.img" --check --deadline 0 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q -- "--deadline: '0' is not a time span" "$tmp/err" &&
        ok "--deadline 0: usage error (exit 2)" || not_ok "--deadline 0" "exit $rc" "$(one_line "$tmp/err")"
"$AGENT" unlock "$tmp/disk.img" --check --verifier http://127.0.0.1:9 --verifier "$main" \
        --config "$tmp/agent.conf" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && grep -q "Attested at $main" "$tmp/err" &&
        ok "failover: the first verifier down, the second answers, the key opens the slot" ||
        not_ok "failover" "exit $rc" "$(one_line "$tmp/err")"

# An expired token, straight at the key service (the agent always brings a fresh one): a
# verifier whose tokens live 5 s.
printf '[Service]\nListen=127.0.0.1:0\nStateDirectory=%s/state2\n[Signing]\nTokenLifetime=5s\n[SigningKey]\nKey=ephemeral\n[SNP]\nTrustRoot=%s\nKDS=\nVCEKCache=%s/kds\nCheckRevocation=no\n[KeyRelease]\nEnable=yes\nStore=%s/state\nMasterKey=%s/state/master.key\n' \
        "$tmp" "$CVM_SIM_ROOT" "$tmp" "$tmp" "$tmp" >"$tmp/short.conf"
"$VERIFIER" serve --config "$tmp/short.conf" >"$tmp/short.url" 2>"$tmp/short.log" &
pids="$pids $!"
for _ in $(seq 400); do [ -s "$tmp/short.url" ] && break; sleep 0.05; done
short=$(head -n 1 "$tmp/short.url")
if [ -z "$short" ]; then
        not_ok "a verifier with 1 s tokens" "$(one_line "$tmp/short.log")"
else
        jq -n --arg a "$short" '{version: "1.0.0", anyOf: [{authority: $a, allOf: [
                {claim: "x-ms-attestation-type", equals: "azurevm"}]}]}' >"$tmp/policy-short.json"
        "$VERIFIER" key create short --state "$tmp/state" --type oct-256 --exportable \
                --policy "$tmp/policy-short.json" >/dev/null 2>&1
        "$AGENT" evidence --format maa --ak-type rsa --vcek-chain "$tmp/chain.pem" \
                --out "$tmp/body.json" 2>/dev/null
        curl -s -o "$tmp/sealed.json" -d @"$tmp/body.json" "$short/attest/AzureGuest"
        "$AGENT" unseal --in "$tmp/sealed.json" >"$tmp/jwt" 2>"$tmp/err"
        jq -n --rawfile t "$tmp/jwt" '{target: ($t | rtrimstr("\n")), enc: "RSA_AES_KEY_WRAP_256"}' >"$tmp/rel.json"
        fresh=$(curl -s -o "$tmp/rel-fresh.json" -w '%{http_code}' -d @"$tmp/rel.json" "$short/keys/short/release")
        # Past exp (the leeway is 0), whatever the load made the steps above take.
        exp=$(b64url_dec "$(cut -d. -f2 "$tmp/jwt")" | jq -r .exp)
        while [ "$(date +%s)" -le "${exp:-0}" ]; do sleep 0.2; done
        status=$(curl -s -o "$tmp/rel.out" -w '%{http_code}' -d @"$tmp/rel.json" "$short/keys/short/release")
        [ "$fresh" = 200 ] && [ "$status" = 401 ] && jq -e '.error.code == "Unauthorized"' "$tmp/rel.out" >/dev/null &&
                ok "the same token: released while fresh, 401 once expired ($(jq -r .error.message "$tmp/rel.out" | cut -c1-80))" ||
                not_ok "expired token" "fresh $fresh, later $status: $(one_line "$tmp/rel.out")"
fi

# A PCR that moves between attestation and unwrap: released, but the TPM will not unwrap.
if "$PCRHELPER" "$main" "$main/keys/disk" 0-7 7 >"$tmp/out" 2>"$tmp/err" &&
   grep -q 'refused' "$tmp/out"; then
        ok "PCR 7 moved between attestation and unwrap: the TPM refuses ($(cut -c1-160 "$tmp/out"))"
else
        not_ok "PCR change before unwrap" "$(one_line "$tmp/out")" "$(one_line "$tmp/err")"
fi
# After that the PCRs no longer match the event log: the verifier refuses the evidence.
expect_locked "after the PCR moved, the verifier refuses the evidence" 4 "PCR 7"

echo "1..$n"
[ $failed -eq 0 ]
