#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Cross-check of keyrelease/key-wrap.c (through tests/integration/key-wrap-tool) against an
# independent implementation, Python's cryptography (Debian: python3-cryptography), for the three
# enc values of spec/skr.md §4 and RSA-2048 and RSA-4096 key-encryption keys:
#  - a blob we wrap unwraps with cryptography (RSA-OAEP with the enc's hash for OAEP and MGF1, the
#    empty label, on the first modulus-size bytes; aes_key_unwrap_with_padding on the rest);
#  - a blob cryptography wraps unwraps with ours;
#  - the same through key_hsm (spec/skr.md §2.1): our text decodes in Python to exactly
#    {"schema_version": "1.0", "header": {"kid", "alg": "dir", "enc"}, "ciphertext"}, and one
#    Python builds unwraps with ours;
#  - refusals: a blob for one enc read as another, a blob under another key, and (for _256 and
#    _384) OAEP with MGF1-SHA-1, the reading of the spec we do not follow, exit 4.
# Keys wrapped: a PKCS#8 DER RSA-2048 private key, a 32-byte octet key and a 1-byte key.
#
# Environment (TESTS_ENVIRONMENT): top_srcdir, top_builddir. Exit 77 without python3 or its
# cryptography module, 99 on a hard error, 1 if a case failed.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
PYTHON=${PYTHON:-python3}
TOOL=$top_builddir/tests/integration/key-wrap-tool

if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "SKIP: no $PYTHON"
        exit 77
fi
if ! "$PYTHON" -c 'from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding' \
        2>/dev/null; then
        echo "SKIP: $PYTHON has no cryptography module (Debian: python3-cryptography)"
        exit 77
fi
if [ ! -x "$TOOL" ]; then
        echo "ERROR: need $TOOL"
        exit 99
fi
mkdir -p "$top_builddir/tests/integration" || exit 99
tmp=$(mktemp -d "$top_builddir/tests/integration/key-wrap-cross.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
. "$top_srcdir/tests/integration/lib.sh"

# The Python side. Every command exits 0 on success, 4 when a blob does not unwrap, 1 otherwise.
cat >"$tmp/cross.py" <<'EOF'
import base64, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import (InvalidUnwrap, aes_key_unwrap_with_padding,
                                                    aes_key_wrap_with_padding)

HASHES = {"CKM_RSA_AES_KEY_WRAP": hashes.SHA1, "RSA_AES_KEY_WRAP_256": hashes.SHA256,
          "RSA_AES_KEY_WRAP_384": hashes.SHA384}
MGF1 = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA384": hashes.SHA384}

def rd(p):
    with open(p, "rb") as f:
        return f.read()

def wr(p, b):
    with open(p, "wb") as f:
        f.write(b)

def oaep(enc, mgf=None):
    h = HASHES[enc]
    return padding.OAEP(mgf=padding.MGF1(algorithm=(MGF1[mgf] if mgf else h)()), algorithm=h(),
                        label=None)

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def unb64url(s):
    if not isinstance(s, str) or "=" in s or "+" in s or "/" in s:
        raise ValueError("not unpadded base64url: %r" % s[:40])
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def unwrap(enc, priv, blob):
    m = priv.key_size // 8
    if len(blob) < m + 16:
        sys.exit(4)
    try:
        aes = priv.decrypt(blob[:m], oaep(enc))
        if len(aes) != 32:
            sys.exit(4)
        return aes_key_unwrap_with_padding(aes, blob[m:])
    except (ValueError, InvalidUnwrap):
        sys.exit(4)

def wrap(enc, pub, key, mgf=None):
    aes = os.urandom(32)
    return pub.encrypt(aes, oaep(enc, mgf)) + aes_key_wrap_with_padding(aes, key)

def load_priv(p):
    return serialization.load_pem_private_key(rd(p), password=None)

def load_pub(p):
    return serialization.load_pem_public_key(rd(p))

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "genkey":      # BITS PRIV PUB
    k = rsa.generate_private_key(public_exponent=65537, key_size=int(a[0]))
    wr(a[1], k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()))
    wr(a[2], k.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo))
elif cmd == "pkcs8":     # OUT: PKCS#8 DER of a new RSA-2048 key
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wr(a[0], k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()))
elif cmd == "unwrap":    # ENC PRIV BLOB OUT
    wr(a[3], unwrap(a[0], load_priv(a[1]), rd(a[2])))
elif cmd == "wrap":      # ENC PUB IN OUT [MGF1-HASH]
    wr(a[3], wrap(a[0], load_pub(a[1]), rd(a[2]), a[4] if len(a) > 4 else None))
elif cmd == "hsm-unwrap":  # ENC KID PRIV TEXT OUT: the spec's members exactly, then unwrap
    doc = json.loads(unb64url(rd(a[3]).decode().strip()))
    want = {"schema_version", "header", "ciphertext"}
    if set(doc) != want or doc["schema_version"] != "1.0":
        sys.exit("key_hsm members: %r" % sorted(doc))
    if doc["header"] != {"kid": a[1], "alg": "dir", "enc": a[0]}:
        sys.exit("key_hsm header: %r" % doc["header"])
    wr(a[4], unwrap(a[0], load_priv(a[2]), unb64url(doc["ciphertext"])))
elif cmd == "hsm-wrap":  # ENC KID PUB IN OUT
    blob = wrap(a[0], load_pub(a[2]), rd(a[3]))
    doc = {"schema_version": "1.0", "header": {"kid": a[1], "alg": "dir", "enc": a[0]},
           "ciphertext": b64url(blob)}
    wr(a[4], b64url(json.dumps(doc).encode()).encode())
else:
    sys.exit("unknown command " + cmd)
EOF
py() { "$PYTHON" "$tmp/cross.py" "$@"; }

# run ARGS: the tool, for check_run (lib.sh).
run() {
        "$@" >"$tmp/out" 2>"$tmp/err"
        rc=$?
}
# same DESC A B: A and B hold the same bytes.
same() {
        if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 and $3 differ"; fi
}
# py_case DESC WANT ARGS...: a Python command, judged by its exit status.
py_case() {
        local desc=$1 want=$2 r
        shift 2
        py "$@" >"$tmp/out" 2>"$tmp/err"
        r=$?
        if [ "$r" -eq "$want" ]; then ok "$desc"; else not_ok "$desc" "exit $r, expected $want" "$(err1)"; fi
}

for bits in 2048 4096; do
        py genkey "$bits" "$tmp/kek$bits.pem" "$tmp/kek$bits.pub" || exit 99
done
py genkey 2048 "$tmp/other.pem" "$tmp/other.pub" || exit 99
py pkcs8 "$tmp/key-pkcs8.der" || exit 99
head -c 32 /dev/urandom >"$tmp/key-octet" || exit 99
printf 'k' >"$tmp/key-one" || exit 99
echo "# PKCS#8 key of $(wc -c <"$tmp/key-pkcs8.der") bytes"

for enc in CKM_RSA_AES_KEY_WRAP RSA_AES_KEY_WRAP_256 RSA_AES_KEY_WRAP_384; do
        for bits in 2048 4096; do
                K=$tmp/kek$bits
                for key in key-pkcs8.der key-octet key-one; do
                        in=$tmp/$key
                        b=$tmp/$enc-$bits-$key
                        desc="$enc RSA-$bits $key"
                        # ours -> cryptography
                        expect "$desc: wrap (ours)" 0 "" "$TOOL" wrap "$enc" "$K.pub" "$in" "$b.ours"
                        py_case "$desc: unwrap (cryptography)" 0 unwrap "$enc" "$K.pem" "$b.ours" "$b.ours.out"
                        same "$desc: ours -> cryptography gives the key back" "$in" "$b.ours.out"
                        # cryptography -> ours
                        py_case "$desc: wrap (cryptography)" 0 wrap "$enc" "$K.pub" "$in" "$b.py"
                        expect "$desc: unwrap (ours)" 0 "" "$TOOL" unwrap "$enc" "$K.pem" "$b.py" "$b.py.out"
                        same "$desc: cryptography -> ours gives the key back" "$in" "$b.py.out"
                done
                # key_hsm both ways, with the PKCS#8 key.
                in=$tmp/key-pkcs8.der
                b=$tmp/$enc-$bits-hsm
                expect "$enc RSA-$bits key_hsm: build (ours)" 0 "" \
                        "$TOOL" wrap-hsm "$enc" TpmEphemeralEncryptionKey "$K.pub" "$in" "$b.ours"
                py_case "$enc RSA-$bits key_hsm: members and unwrap (cryptography)" 0 \
                        hsm-unwrap "$enc" TpmEphemeralEncryptionKey "$K.pem" "$b.ours" "$b.ours.out"
                same "$enc RSA-$bits key_hsm: ours -> cryptography" "$in" "$b.ours.out"
                py_case "$enc RSA-$bits key_hsm: build (cryptography)" 0 \
                        hsm-wrap "$enc" "https://v.example/keys/k/1" "$K.pub" "$in" "$b.py"
                expect "$enc RSA-$bits key_hsm: parse and unwrap (ours)" 0 "" \
                        "$TOOL" unwrap-hsm "$K.pem" "$b.py" "$b.py.out"
                same "$enc RSA-$bits key_hsm: cryptography -> ours" "$in" "$b.py.out"
        done

        # Refusals, on the RSA-2048 blobs of the PKCS#8 key.
        b=$tmp/$enc-2048-key-pkcs8.der
        for other in CKM_RSA_AES_KEY_WRAP RSA_AES_KEY_WRAP_256 RSA_AES_KEY_WRAP_384; do
                [ "$other" = "$enc" ] && continue
                expect "$enc blob read as $other (ours)" 4 "RSA-OAEP" \
                        "$TOOL" unwrap "$other" "$tmp/kek2048.pem" "$b.py" "$tmp/x"
                py_case "$enc blob read as $other (cryptography)" 4 \
                        unwrap "$other" "$tmp/kek2048.pem" "$b.ours" "$tmp/x"
        done
        expect "$enc blob under another key (ours)" 4 "RSA-OAEP" \
                "$TOOL" unwrap "$enc" "$tmp/other.pem" "$b.py" "$tmp/x"
        expect "$enc RSA-4096 blob with an RSA-2048 key (ours)" 4 "" \
                "$TOOL" unwrap "$enc" "$tmp/kek2048.pem" "$tmp/$enc-4096-key-pkcs8.der.py" "$tmp/x"
        expect "$enc RSA-2048 blob with an RSA-4096 key (ours)" 3 "too short" \
                "$TOOL" unwrap "$enc" "$tmp/kek4096.pem" "$tmp/$enc-2048-key-one.py" "$tmp/x"
        if [ "$enc" != CKM_RSA_AES_KEY_WRAP ]; then
                py_case "$enc with MGF1-SHA-1 (cryptography)" 0 \
                        wrap "$enc" "$tmp/kek2048.pub" "$tmp/key-pkcs8.der" "$tmp/mgf1" SHA1
                expect "$enc with MGF1-SHA-1 is refused (ours)" 4 "RSA-OAEP" \
                        "$TOOL" unwrap "$enc" "$tmp/kek2048.pem" "$tmp/mgf1" "$tmp/x"
        fi
done
finish
