/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/key-wrap.h"

DEFINE_CLEANUP_FUNC(EVP_CIPHER *, EVP_CIPHER_free);
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);

/* RFC 5649 through OpenSSL's provider implementation (never our own). */
#define KWP_CIPHER "AES-256-WRAP-PAD"
/* RFC 5649 §3: a wrapped key is at least two 64-bit blocks (AIV and one padded block). */
#define KWP_MIN 16u

/*
 * How we read spec/skr.md §4 (and why):
 *  - Layout: the RSA-OAEP output first, exactly the KEK's modulus size, then the AES-KWP output,
 *    nothing in between and no length prefix (BYOK specification, step 4; the C++ SKR client
 *    splits at the modulus size).
 *  - OAEP hash: SHA-1 for CKM_RSA_AES_KEY_WRAP (BYOK specification), SHA-256 and SHA-384 for the
 *    _256 and _384 variants (openvmm's comments, the C++ SKR client).
 *  - MGF1 hash: the same as the OAEP hash, for all three (the spec's table). Consistent with the
 *    reference flow, which decrypts the RSA part inside the vTPM with TPM2_RSA_Decrypt and
 *    TPM_ALG_OAEP: a TPM's OAEP always uses the scheme's hash for MGF1 too, so a service using
 *    MGF1-SHA-1 under an OAEP SHA-256 hash could not be unwrapped that way. Unconfirmed by a
 *    Microsoft statement for _256 and _384 (PKCS#11's OAEP parameters let the two differ); for
 *    CKM_RSA_AES_KEY_WRAP both are SHA-1 in any reading.
 *  - OAEP label: empty (unconfirmed explicitly; the PKCS#11 default and what the C++ client's
 *    TPM decryption uses).
 *  - AES key: 256 bits for all three (openvmm and the C++ client's aes-256-wrap-pad; the BYOK text
 *    does not give the size, so this is unconfirmed for keys wrapped by a real Key Vault).
 *  - KWP: RFC 5649 with its default alternative IV A65959A6 || length.
 */
typedef struct KeyWrapAlgInfo {
        const char *name;
        const char *hash; /* OAEP hash and MGF1 hash */
        uint16_t tpm_hash;
} KeyWrapAlgInfo;

static const KeyWrapAlgInfo key_wrap_algs[_KEY_WRAP_ALG_MAX] = {
        [KEY_WRAP_CKM_RSA_AES] = { "CKM_RSA_AES_KEY_WRAP", "SHA1", 0x0004 /* TPM_ALG_SHA1 */ },
        [KEY_WRAP_RSA_AES_256] = { "RSA_AES_KEY_WRAP_256", "SHA256", 0x000B /* TPM_ALG_SHA256 */ },
        [KEY_WRAP_RSA_AES_384] = { "RSA_AES_KEY_WRAP_384", "SHA384", 0x000C /* TPM_ALG_SHA384 */ },
};

static const KeyWrapAlgInfo *alg_info(KeyWrapAlg alg) {
        if ((int) alg < 0 || alg >= _KEY_WRAP_ALG_MAX)
                return NULL;
        return &key_wrap_algs[alg];
}

const char *key_wrap_alg_to_string(KeyWrapAlg alg) {
        const KeyWrapAlgInfo *a = alg_info(alg);
        return a ? a->name : NULL;
}

KeyWrapAlg key_wrap_alg_from_string(const char *s) {
        if (!s)
                return _KEY_WRAP_ALG_INVALID;
        for (KeyWrapAlg alg = 0; alg < _KEY_WRAP_ALG_MAX; alg++)
                if (streq(key_wrap_algs[alg].name, s))
                        return alg;
        return _KEY_WRAP_ALG_INVALID;
}

const char *key_wrap_alg_hash(KeyWrapAlg alg) {
        const KeyWrapAlgInfo *a = alg_info(alg);
        return a ? a->hash : NULL;
}

uint16_t key_wrap_alg_tpm_hash(KeyWrapAlg alg) {
        const KeyWrapAlgInfo *a = alg_info(alg);
        return a ? a->tpm_hash : 0;
}

/* The KEK's modulus size in bytes, for an RSA key in our range. */
static int rsa_part_size(EVP_PKEY *key, size_t *ret, Diag *d) {
        int bits, size;

        if (!key)
                return -EINVAL;
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
                return diag_set(d, -EPROTONOSUPPORT, "Key-encryption key: not an RSA key");
        bits = EVP_PKEY_get_bits(key);
        if (bits < KEY_WRAP_RSA_MIN_BITS || bits > KEY_WRAP_RSA_MAX_BITS)
                return diag_set(d, -EPROTONOSUPPORT,
                                "Key-encryption key: RSA-%d (%d to %d bits supported)", bits,
                                KEY_WRAP_RSA_MIN_BITS, KEY_WRAP_RSA_MAX_BITS);
        size = EVP_PKEY_get_size(key);
        if (size != (bits + 7) / 8)
                return diag_set(d, -EIO, "Key-encryption key: RSA-%d of %d bytes", bits, size);
        *ret = (size_t) size;
        return 0;
}

/* A context for RSA-OAEP with hash for both OAEP and MGF1, and the empty label. */
static int oaep_init(EVP_PKEY *key, const char *hash, bool encrypt, EVP_PKEY_CTX **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx =
                EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);

        if (!ctx)
                return -ENOMEM;
        if ((encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, hash, NULL) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, hash, NULL) <= 0)
                return -EIO;
        *ret = TAKE_PTR(ctx);
        return 0;
}

/* A cipher context for AES-256-WRAP-PAD under aes_key, to wrap (encrypt) or unwrap. */
static int kwp_init(const uint8_t *aes_key, bool encrypt, EVP_CIPHER_CTX **ret) {
        _cleanup_(EVP_CIPHER_freep) EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, KWP_CIPHER, NULL);
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

        if (!cipher || !ctx)
                return -EIO;
        if ((size_t) EVP_CIPHER_get_key_length(cipher) != KEY_WRAP_AES_KEY_SIZE)
                return -EIO;
        /* Wrap modes must be allowed explicitly; the IV is RFC 5649's default (NULL). */
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        if (EVP_CipherInit_ex2(ctx, cipher, aes_key, NULL, encrypt ? 1 : 0, NULL) <= 0)
                return -EIO;
        *ret = TAKE_PTR(ctx);
        return 0;
}

int key_wrap(KeyWrapAlg alg, EVP_PKEY *wrapping_key, const uint8_t *key, size_t key_size,
             uint8_t **ret, size_t *ret_size, Diag *d) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx = NULL;
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *cctx = NULL;
        _cleanup_(freep) uint8_t *blob = NULL;
        const KeyWrapAlgInfo *a = alg_info(alg);
        uint8_t aes[KEY_WRAP_AES_KEY_SIZE];
        size_t m, kwp_size, out_size;
        int len = 0, fin = 0, r;
        CLEANUP_ERASE(aes);

        if (!a)
                return diag_set(d, -EPROTONOSUPPORT, "Key wrap: unknown enc %d", (int) alg);
        if (!key || !ret || !ret_size)
                return -EINVAL;
        if (key_size == 0)
                return diag_set(d, -EINVAL, "Key to wrap: empty");
        if (key_size > KEY_WRAP_KEY_MAX)
                return diag_set(d, -E2BIG, "Key to wrap: %zu bytes (at most %u)", key_size,
                                KEY_WRAP_KEY_MAX);
        r = rsa_part_size(wrapping_key, &m, d);
        if (r < 0)
                return r;
        /* RFC 5649 §4.1: the key zero-padded to a multiple of 8 bytes, plus the 8-byte AIV. */
        kwp_size = (key_size + 7) / 8 * 8 + 8;
        blob = malloc(m + kwp_size);
        if (!blob)
                return -ENOMEM;

        if (RAND_priv_bytes_ex(NULL, aes, sizeof(aes), 256) <= 0) {
                ERR_clear_error();
                return diag_set(d, -EIO, "Ephemeral AES key: the RNG failed");
        }

        r = oaep_init(wrapping_key, a->hash, true, &pctx);
        out_size = m;
        if (r < 0 || EVP_PKEY_encrypt(pctx, blob, &out_size, aes, sizeof(aes)) <= 0) {
                ERR_clear_error();
                return diag_set(d, r == -ENOMEM ? r : -EIO, "RSA-OAEP (%s) encryption failed",
                                a->hash);
        }
        if (out_size != m)
                return diag_set(d, -EIO, "RSA-OAEP (%s): %zu bytes for a %zu-byte modulus", a->hash,
                                out_size, m);

        r = kwp_init(aes, true, &cctx);
        if (r < 0 || EVP_EncryptUpdate(cctx, blob + m, &len, key, (int) key_size) <= 0 ||
            EVP_EncryptFinal_ex(cctx, blob + m + len, &fin) <= 0) {
                ERR_clear_error();
                return diag_set(d, -EIO, "AES key wrap with padding failed");
        }
        if (len < 0 || fin < 0 || (size_t) len + (size_t) fin != kwp_size)
                return diag_set(d, -EIO, "AES key wrap with padding: %d bytes, %zu expected",
                                len + fin, kwp_size);

        *ret = TAKE_PTR(blob);
        *ret_size = m + kwp_size;
        return 0;
}

int key_unwrap_split(KeyWrapAlg alg, size_t rsa_part_size, const uint8_t *blob, size_t size,
                     const uint8_t **ret_rsa_part, const uint8_t **ret_kwp_part,
                     size_t *ret_kwp_size, Diag *d) {
        size_t kwp_size;

        if (!alg_info(alg))
                return diag_set(d, -EPROTONOSUPPORT, "Wrapped key: unknown enc %d", (int) alg);
        if (rsa_part_size < KEY_WRAP_RSA_MIN_BITS / 8 || rsa_part_size > KEY_WRAP_RSA_MAX_BITS / 8)
                return diag_set(d, -EINVAL, "Wrapped key: an RSA part of %zu bytes", rsa_part_size);
        if (!blob || !ret_rsa_part || !ret_kwp_part || !ret_kwp_size)
                return -EINVAL;
        if (size < rsa_part_size + KWP_MIN)
                return diag_set(d, -EBADMSG,
                                "Wrapped key: %zu bytes, too short for a %zu-byte RSA part and a "
                                "wrapped key (at least %u bytes)",
                                size, rsa_part_size, KWP_MIN);
        kwp_size = size - rsa_part_size;
        if (kwp_size % 8 != 0)
                return diag_set(d, -EBADMSG,
                                "Wrapped key: AES-KWP part of %zu bytes after a %zu-byte RSA part "
                                "is not a multiple of 8",
                                kwp_size, rsa_part_size);
        if (kwp_size > KEY_WRAP_KWP_MAX)
                return diag_set(d, -EBADMSG, "Wrapped key: AES-KWP part of %zu bytes (at most %u)",
                                kwp_size, KEY_WRAP_KWP_MAX);
        *ret_rsa_part = blob;
        *ret_kwp_part = blob + rsa_part_size;
        *ret_kwp_size = kwp_size;
        return 0;
}

int key_unwrap_aes(const uint8_t aes_key[static KEY_WRAP_AES_KEY_SIZE], const uint8_t *kwp,
                   size_t n, Secret **ret, Diag *d) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = NULL;
        _cleanup_(secret_freep) Secret *s = NULL;
        int len = 0, fin = 0, r;

        if (!aes_key || !kwp || !ret)
                return -EINVAL;
        if (n < KWP_MIN || n % 8 != 0 || n > KEY_WRAP_KWP_MAX)
                return diag_set(d, -EBADMSG,
                                "AES-KWP part: %zu bytes (a multiple of 8, %u to %u expected)", n,
                                KWP_MIN, KEY_WRAP_KWP_MAX);
        /* As large as the input: OpenSSL may write (and on failure wipes) up to n bytes. */
        r = secret_new(n, &s);
        if (r < 0)
                return r;
        r = kwp_init(aes_key, false, &ctx);
        if (r < 0) {
                ERR_clear_error();
                return diag_set(d, r, "AES key unwrap with padding: no cipher");
        }
        /* One call unwraps all of it and checks the AIV, the length indicator and the padding;
         * on failure OpenSSL has already wiped what it wrote, and s is wiped again when freed. */
        if (EVP_DecryptUpdate(ctx, s->data, &len, kwp, (int) n) <= 0 ||
            EVP_DecryptFinal_ex(ctx, s->data + len, &fin) <= 0) {
                ERR_clear_error();
                return diag_set(d, -EKEYREJECTED,
                                "AES-KWP part: integrity check failed (another key, or damaged)");
        }
        if (len < 0 || fin < 0 || (size_t) len + (size_t) fin == 0 ||
            (size_t) len + (size_t) fin > n - 8)
                return diag_set(d, -EKEYREJECTED, "AES-KWP part: unwrapped to %d bytes of %zu",
                                len + fin, n);
        s->size = (size_t) len + (size_t) fin;
        *ret = TAKE_PTR(s);
        return 0;
}

int key_unwrap(KeyWrapAlg alg, EVP_PKEY *private_key, const uint8_t *blob, size_t size,
               Secret **ret, Diag *d) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        const KeyWrapAlgInfo *a = alg_info(alg);
        const uint8_t *rsa_part, *kwp_part;
        uint8_t aes[KEY_WRAP_RSA_MAX_BITS / 8];
        size_t m, kwp_size, aes_size = sizeof(aes);
        int r;
        CLEANUP_ERASE(aes);

        if (!a)
                return diag_set(d, -EPROTONOSUPPORT, "Wrapped key: unknown enc %d", (int) alg);
        if (!blob || !ret)
                return -EINVAL;
        r = rsa_part_size(private_key, &m, d);
        if (r < 0)
                return r;
        r = key_unwrap_split(alg, m, blob, size, &rsa_part, &kwp_part, &kwp_size, d);
        if (r < 0)
                return r;

        r = oaep_init(private_key, a->hash, false, &ctx);
        if (r < 0) {
                ERR_clear_error();
                return diag_set(d, r == -ENOMEM ? r : -EIO, "RSA-OAEP (%s): no context", a->hash);
        }
        if (EVP_PKEY_decrypt(ctx, aes, &aes_size, rsa_part, m) <= 0) {
                ERR_clear_error();
                return diag_set(d, -EKEYREJECTED,
                                "RSA part: RSA-OAEP (%s) decryption failed (another key, another "
                                "enc, or damaged)",
                                a->hash);
        }
        if (aes_size != KEY_WRAP_AES_KEY_SIZE)
                return diag_set(d, -EKEYREJECTED,
                                "RSA part: decrypts to %zu bytes, not a %u-byte AES key", aes_size,
                                KEY_WRAP_AES_KEY_SIZE);
        return key_unwrap_aes(aes, kwp_part, kwp_size, ret, d);
}

KeyHsm *key_hsm_free(KeyHsm *k) {
        if (!k)
                return NULL;
        free(k->kid);
        free(k->ciphertext);
        free(k);
        return NULL;
}

int key_hsm_build(KeyWrapAlg alg, const char *kid, const uint8_t *blob, size_t blob_size,
                  char **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL, *header = NULL;
        _cleanup_(freep) char *ciphertext = NULL;
        const KeyWrapAlgInfo *a = alg_info(alg);
        const char *text;
        int r;

        if (!a || !kid || !kid[0] || !blob || blob_size == 0 || !ret)
                return -EINVAL;
        if (strlen(kid) > KEY_HSM_KID_MAX || blob_size > KEY_WRAP_BLOB_MAX)
                return -E2BIG;
        r = base64url_encode(blob, blob_size, &ciphertext);
        if (r < 0)
                return r;
        o = json_object_new_object();
        header = json_object_new_object();
        if (!o || !header)
                return -ENOMEM;
        /* spec/skr.md §2.1: the referenced key directly protects the ciphertext ("dir"). */
        if (json_add_string(header, "kid", kid) < 0 || json_add_string(header, "alg", "dir") < 0 ||
            json_add_string(header, "enc", a->name) < 0 ||
            json_add_string(o, "schema_version", KEY_HSM_SCHEMA_VERSION) < 0 ||
            json_add(o, "header", TAKE_PTR(header)) < 0 ||
            json_add_string(o, "ciphertext", ciphertext) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        return base64url_encode(text, strlen(text), ret);
}

/* o[key] as a string: -ENOENT when absent, -EBADMSG when not a string. */
static int json_string_member(json_object *o, const char *key, const char **ret, size_t *ret_size) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        *ret_size = (size_t) json_object_get_string_len(v);
        return 0;
}

int key_hsm_parse(const char *text, size_t size, KeyHsm **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
        _cleanup_(freep) uint8_t *json = NULL;
        json_object *header;
        const char *s;
        size_t json_size, n;
        char buf[52];
        int r;

        if (!text || !ret)
                return -EINVAL;
        if (size > KEY_HSM_TEXT_MAX)
                return diag_set(d, -E2BIG, "key_hsm: %zu characters (at most %u)", size,
                                KEY_HSM_TEXT_MAX);
        if (size == 0)
                return diag_set(d, -EBADMSG, "key_hsm: empty");
        r = base64url_decode(text, size, KEY_HSM_JSON_MAX, &json, &json_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG, "key_hsm: not base64url");
        r = json_parse_capped((const char *) json, json_size, KEY_HSM_JSON_MAX, KEY_HSM_DEPTH, &o);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_object_is_type(o, json_type_object))
                return diag_set(d, -EBADMSG, "key_hsm: not a JSON object");

        r = json_string_member(o, "schema_version", &s, &n);
        if (r < 0)
                return diag_set(d, -EBADMSG, "key_hsm: no string schema_version");
        if (n != strlen(KEY_HSM_SCHEMA_VERSION) || !streq(s, KEY_HSM_SCHEMA_VERSION))
                return diag_set(d, -EPROTONOSUPPORT,
                                "key_hsm: schema_version \"%s\" (\"%s\" known)",
                                diag_printable(s, n, buf), KEY_HSM_SCHEMA_VERSION);

        if (!json_object_object_get_ex(o, "header", &header) ||
            !json_object_is_type(header, json_type_object))
                return diag_set(d, -EBADMSG, "key_hsm: no header object");

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;

        r = json_string_member(header, "alg", &s, &n);
        if (r < 0)
                return diag_set(d, -EBADMSG, "key_hsm: no string header.alg");
        if (n != 3 || !streq(s, "dir"))
                return diag_set(d, -EPROTONOSUPPORT, "key_hsm: header.alg \"%s\" (\"dir\" known)",
                                diag_printable(s, n, buf));

        r = json_string_member(header, "enc", &s, &n);
        if (r < 0)
                return diag_set(d, -EBADMSG, "key_hsm: no string header.enc");
        k->alg = n == strlen(s) ? key_wrap_alg_from_string(s) : _KEY_WRAP_ALG_INVALID;
        if (k->alg < 0)
                return diag_set(d, -EPROTONOSUPPORT, "key_hsm: unknown header.enc \"%s\"",
                                diag_printable(s, n, buf));

        r = json_string_member(header, "kid", &s, &n);
        if (r < 0)
                return diag_set(d, -EBADMSG, "key_hsm: no string header.kid");
        if (n == 0 || n > KEY_HSM_KID_MAX || memchr(s, '\0', n))
                return diag_set(d, -EBADMSG, "key_hsm: header.kid of %zu bytes (1 to %u, no NUL)",
                                n, KEY_HSM_KID_MAX);
        k->kid = strndup(s, n);
        if (!k->kid)
                return -ENOMEM;

        r = json_string_member(o, "ciphertext", &s, &n);
        if (r < 0)
                return diag_set(d, -EBADMSG, "key_hsm: no string ciphertext");
        if (n == 0)
                return diag_set(d, -EBADMSG, "key_hsm: empty ciphertext");
        r = base64url_decode(s, n, KEY_WRAP_BLOB_MAX, &k->ciphertext, &k->ciphertext_size);
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return diag_set(d, -E2BIG, "key_hsm: ciphertext over %u bytes", KEY_WRAP_BLOB_MAX);
        if (r < 0 || k->ciphertext_size == 0)
                return diag_set(d, -EBADMSG, "key_hsm: ciphertext is not base64url");

        *ret = TAKE_PTR(k);
        return 0;
}
