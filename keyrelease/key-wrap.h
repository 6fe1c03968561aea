/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/macro.h"

struct Diag;
struct Secret;

/*
 * Wrapping a released key to the key-encryption key of an attestation token, as Azure Key Vault
 * Secure Key Release does (spec/skr.md §4), and unwrapping it again. A blob is
 *
 *     RSA-OAEP(KEK, K) || AES-256-KWP(K, key)
 *
 * with K a fresh AES-256 key, the RSA part exactly as long as the KEK's modulus, and the
 * AES part RFC 5649 key wrap with padding. The three `enc` values differ only in the OAEP hash
 * (MGF1 uses the same hash, the OAEP label is empty). The wrapped key is whatever the release
 * serialises: PKCS#8 DER for RSA and EC keys, the raw bytes of an octet key.
 *
 * Everything here is pure: OpenSSL (RSA-OAEP, "AES-256-WRAP-PAD") and json-c only, no I/O, no
 * logging. Errors: -EBADMSG malformed (with a Diag), -EKEYREJECTED a blob that does not decrypt
 * under the key given (OAEP decoding or the KWP integrity check failed; never partial output),
 * -EPROTONOSUPPORT an unknown enc, alg or schema version, or a key that is not RSA of a size we
 * take, -E2BIG over a cap, -EINVAL bad arguments, -ENOMEM, -EIO an OpenSSL failure.
 */

typedef enum KeyWrapAlg {
        KEY_WRAP_CKM_RSA_AES, /* "CKM_RSA_AES_KEY_WRAP": OAEP with SHA-1 */
        KEY_WRAP_RSA_AES_256, /* "RSA_AES_KEY_WRAP_256": OAEP with SHA-256 */
        KEY_WRAP_RSA_AES_384, /* "RSA_AES_KEY_WRAP_384": OAEP with SHA-384 */
        _KEY_WRAP_ALG_MAX,
        _KEY_WRAP_ALG_INVALID = -EINVAL,
} KeyWrapAlg;

/* The ephemeral AES key: AES-256 (spec/skr.md §4; the BYOK text leaves the size open). */
#define KEY_WRAP_AES_KEY_SIZE 32u
/* KEK sizes we wrap to and unwrap with, in bits (the RSA part is bits/8 bytes). */
#define KEY_WRAP_RSA_MIN_BITS 2048
#define KEY_WRAP_RSA_MAX_BITS 16384
/* Largest key we wrap (PKCS#8 of RSA-16384 is about 9.4 KiB), and so the largest KWP part:
 * the key padded to 8 bytes plus the 8-byte integrity block. */
#define KEY_WRAP_KEY_MAX (64u * 1024u)
#define KEY_WRAP_KWP_MAX (KEY_WRAP_KEY_MAX + 8u)
/* Largest blob: an RSA-16384 part and the largest KWP part. */
#define KEY_WRAP_BLOB_MAX (KEY_WRAP_RSA_MAX_BITS / 8u + KEY_WRAP_KWP_MAX)

/* The enc name exactly as the spec spells it, or NULL for a value out of range. */
const char *key_wrap_alg_to_string(KeyWrapAlg alg);
/* The enc name back (exact, case-sensitive); _KEY_WRAP_ALG_INVALID otherwise or for NULL. */
KeyWrapAlg key_wrap_alg_from_string(const char *s);
/* The OAEP and MGF1 hash as OpenSSL names it ("SHA1", "SHA256", "SHA384"), or NULL. */
const char *key_wrap_alg_hash(KeyWrapAlg alg);
/* The same hash as a TPM_ALG_ID (0x0004, 0x000B, 0x000C: the hashAlg of the TPM_ALG_OAEP
 * scheme for TPM2_RSA_Decrypt, spec/skr.md §5 step 4), or 0 for a value out of range. */
uint16_t key_wrap_alg_tpm_hash(KeyWrapAlg alg);

/*
 * Wraps key[0, key_size) (1 to KEY_WRAP_KEY_MAX bytes) to wrapping_key, an RSA public key of
 * KEY_WRAP_RSA_MIN_BITS to KEY_WRAP_RSA_MAX_BITS bits, under alg: a fresh AES-256 key from
 * OpenSSL's private RNG, RSA-OAEP-encrypted, followed by the AES-KWP wrap of the key. The AES key
 * is wiped before returning. On success *ret is a new buffer (free(); not secret) of *ret_size
 * = modulus bytes + roundup(key_size, 8) + 8 bytes. -EPROTONOSUPPORT (Diag) for an unknown alg
 * or a key that is not RSA or out of range, -EINVAL for an empty key, -E2BIG over the cap, -EIO.
 * Outputs untouched on failure. Pure.
 */
int key_wrap(KeyWrapAlg alg, EVP_PKEY *wrapping_key, const uint8_t *key, size_t key_size,
             uint8_t **ret, size_t *ret_size, struct Diag *d);

/*
 * The software unwrap: splits blob at private_key's modulus size, decrypts the RSA part with
 * RSA-OAEP under alg's hash (it must give exactly 32 bytes) and unwraps the rest with
 * key_unwrap_aes(). On success *ret is a new Secret (secret_free()) holding the key. -EBADMSG
 * (Diag) for a blob whose length cannot be an RSA part of that size and a KWP part,
 * -EKEYREJECTED (Diag) when OAEP decoding or the KWP integrity check fails (a wrong key, a wrong
 * alg or a damaged blob), -EPROTONOSUPPORT for an unknown alg or a key that is not RSA or out of
 * range. Every intermediate secret is wiped; *ret untouched on failure. Pure.
 */
int key_unwrap(KeyWrapAlg alg, EVP_PKEY *private_key, const uint8_t *blob, size_t size,
               struct Secret **ret, struct Diag *d);

/*
 * The split an unwrap inside a TPM needs (spec/skr.md §5: TPM2_RSA_Decrypt on the RSA part, then
 * key_unwrap_aes() on the rest): checks that alg is known and that blob[0, size) is an RSA part
 * of rsa_part_size bytes (KEY_WRAP_RSA_MIN_BITS/8 to KEY_WRAP_RSA_MAX_BITS/8) followed by a KWP
 * part of 16 to KEY_WRAP_KWP_MAX bytes, a multiple of 8. On success points *ret_rsa_part and
 * *ret_kwp_part into blob (no copy) and sets *ret_kwp_size. -EBADMSG (Diag) for a blob of the
 * wrong length, -EPROTONOSUPPORT for an unknown alg, -EINVAL for a part size out of range.
 * Outputs untouched on failure. Pure.
 */
int key_unwrap_split(KeyWrapAlg alg, size_t rsa_part_size, const uint8_t *blob, size_t size,
                     const uint8_t **ret_rsa_part, const uint8_t **ret_kwp_part,
                     size_t *ret_kwp_size, struct Diag *d);

/*
 * AES-256 key unwrap with padding (RFC 5649) of kwp[0, n) under aes_key, through OpenSSL's
 * "AES-256-WRAP-PAD". On success *ret is a new Secret (secret_free()) of 1 to n - 8 bytes.
 * -EBADMSG (Diag) for a length that is not a multiple of 8, under 16 or over KEY_WRAP_KWP_MAX,
 * -EKEYREJECTED (Diag) when the integrity check (the alternative IV, the length indicator or the
 * zero padding) fails; nothing unwrapped is left behind. Pure.
 */
int key_unwrap_aes(const uint8_t aes_key[static KEY_WRAP_AES_KEY_SIZE], const uint8_t *kwp,
                   size_t n, struct Secret **ret, struct Diag *d);

/*
 * key_hsm, the member of the released JWK (response.key.key.key_hsm, spec/skr.md §2.1) that
 * carries the blob: base64url (no padding) of the UTF-8 JSON object
 *
 *     {"schema_version":"1.0","header":{"kid":KID,"alg":"dir","enc":ENC},"ciphertext":B64URL}
 *
 * The parser takes it from the agent's side, where it is untrusted until unwrapped.
 */

/* "schema_version" of the key_hsm documents we write and read. */
#define KEY_HSM_SCHEMA_VERSION "1.0"
/* Caps for parsing: the kid, the decoded JSON (the ciphertext's base64url and 16 KiB for the
 * rest), the key_hsm text (that JSON in base64url), and the JSON nesting. */
#define KEY_HSM_KID_MAX 1024u
#define KEY_HSM_JSON_MAX ((KEY_WRAP_BLOB_MAX + 2u) / 3u * 4u + 16u * 1024u)
#define KEY_HSM_TEXT_MAX ((KEY_HSM_JSON_MAX + 2u) / 3u * 4u)
#define KEY_HSM_DEPTH 4

typedef struct KeyHsm {
        char *kid;      /* header.kid */
        KeyWrapAlg alg; /* header.enc */
        uint8_t *ciphertext;
        size_t ciphertext_size;
} KeyHsm;

KeyHsm *key_hsm_free(KeyHsm *k);
DEFINE_CLEANUP_FUNC(KeyHsm *, key_hsm_free);

/*
 * Builds the key_hsm value for a blob wrapped under alg to the key named kid (a non-empty string,
 * e.g. "TpmEphemeralEncryptionKey"): *ret is a new NUL-terminated base64url string (free()).
 * -EINVAL for a bad alg, an empty kid or blob, -E2BIG for a blob over KEY_WRAP_BLOB_MAX or a kid
 * over KEY_HSM_KID_MAX (so that what we build, we parse), -ENOMEM. Pure.
 */
int key_hsm_build(KeyWrapAlg alg, const char *kid, const uint8_t *blob, size_t blob_size,
                  char **ret);

/*
 * Parses a key_hsm value of exactly size bytes: at most KEY_HSM_TEXT_MAX (-E2BIG before decoding),
 * base64url (padding and the standard alphabet tolerated), decoding to a JSON object (strict,
 * depth KEY_HSM_DEPTH) with "schema_version" "1.0", an object "header" with a string "kid" (1 to
 * KEY_HSM_KID_MAX bytes, no NUL), "alg" "dir" and a known "enc", and a non-empty base64url string
 * "ciphertext" of at most KEY_WRAP_BLOB_MAX bytes. Other members are ignored. The ciphertext is
 * not checked further: key_unwrap_split() does that. *ret is the caller's (key_hsm_free).
 * -EBADMSG (Diag) malformed, -EPROTONOSUPPORT (Diag) another schema version, alg or enc, -E2BIG,
 * -ENOMEM. Pure.
 */
int key_hsm_parse(const char *text, size_t size, KeyHsm **ret, struct Diag *d);
