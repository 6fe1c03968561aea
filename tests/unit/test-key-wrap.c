/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyrelease/key-wrap.c: round trips for the three enc values with RSA-2048/3072/4096 KEKs and
 * keys from 1 byte to a PKCS#8 RSA-2048 key; the TPM-style path (split, OAEP done by the test
 * with OpenSSL, key_unwrap_aes); AES-KWP known answers (RFC 5649 §6 through OpenSSL's
 * AES-192-WRAP-PAD, whose KEK is 192 bits; NIST SP 800-38F CAVP KWP-AD AES-256 records through
 * key_unwrap_aes); every single-byte change of a blob, every truncation and some extensions
 * refused without output; the wrong enc, key and sizes refused; key_hsm built, parsed back and
 * hostile key_hsm documents refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/key-wrap.h"

DEFINE_CLEANUP_FUNC(EVP_CIPHER *, EVP_CIPHER_free);
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);

static const int kek_bits[] = { 2048, 3072, 4096 };
static EVP_PKEY *keks[ELEMENTSOF(kek_bits)];
static EVP_PKEY *other_2048; /* a second RSA-2048 key: "another key" */
static EVP_PKEY *released;   /* the key whose PKCS#8 we wrap */
static uint8_t *pkcs8;       /* PKCS#8 DER of released */
static size_t pkcs8_size;

static const KeyWrapAlg all_algs[] = {
        KEY_WRAP_CKM_RSA_AES,
        KEY_WRAP_RSA_AES_256,
        KEY_WRAP_RSA_AES_384,
};

static int group_setup(void **state) {
        PKCS8_PRIV_KEY_INFO *p8;
        int n;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(kek_bits); i++) {
                keks[i] = EVP_RSA_gen((unsigned) kek_bits[i]);
                if (!keks[i])
                        return -1;
        }
        other_2048 = EVP_RSA_gen(2048);
        released = EVP_RSA_gen(2048);
        if (!other_2048 || !released)
                return -1;
        p8 = EVP_PKEY2PKCS8(released);
        if (!p8)
                return -1;
        pkcs8 = NULL;
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, &pkcs8);
        PKCS8_PRIV_KEY_INFO_free(p8);
        if (n <= 0)
                return -1;
        pkcs8_size = (size_t) n;
        return 0;
}

static int group_teardown(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(keks); i++)
                EVP_PKEY_free(keks[i]);
        EVP_PKEY_free(other_2048);
        EVP_PKEY_free(released);
        OPENSSL_clear_free(pkcs8, pkcs8_size);
        return 0;
}

static uint8_t *random_bytes(size_t n) {
        uint8_t *p = malloc(n);

        assert_non_null(p);
        assert_int_equal(RAND_bytes(p, (int) n), 1);
        return p;
}

static uint8_t *unhex(const char *s, size_t *ret_size) {
        uint8_t *p = NULL;
        size_t n = 0;

        assert_int_equal(hex_decode(s, strlen(s), 4096, &p, &n), 0);
        *ret_size = n;
        return p;
}

/* A one-line Diag: set, and without a line break. */
static void assert_one_line(const Diag *d) {
        assert_true(d->text[0] != '\0');
        assert_null(strchr(d->text, '\n'));
}

static void wrap_ok(KeyWrapAlg alg, EVP_PKEY *kek, const uint8_t *key, size_t key_size,
                    uint8_t **ret, size_t *ret_size) {
        Diag d = {};
        int r = key_wrap(alg, kek, key, key_size, ret, ret_size, &d);

        if (r < 0)
                fail_msg("key_wrap(%s, %zu bytes): %d %s", key_wrap_alg_to_string(alg), key_size, r,
                         d.text);
        assert_int_equal(*ret_size, (size_t) EVP_PKEY_get_size(kek) + (key_size + 7) / 8 * 8 + 8);
}

static void test_alg_names(void **state) {
        static const struct {
                KeyWrapAlg alg;
                const char *name, *hash;
                uint16_t tpm;
        } table[] = {
                { KEY_WRAP_CKM_RSA_AES, "CKM_RSA_AES_KEY_WRAP", "SHA1", 0x0004 },
                { KEY_WRAP_RSA_AES_256, "RSA_AES_KEY_WRAP_256", "SHA256", 0x000B },
                { KEY_WRAP_RSA_AES_384, "RSA_AES_KEY_WRAP_384", "SHA384", 0x000C },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                assert_string_equal(key_wrap_alg_to_string(table[i].alg), table[i].name);
                assert_int_equal(key_wrap_alg_from_string(table[i].name), table[i].alg);
                assert_string_equal(key_wrap_alg_hash(table[i].alg), table[i].hash);
                assert_int_equal(key_wrap_alg_tpm_hash(table[i].alg), table[i].tpm);
        }
        assert_int_equal(ELEMENTSOF(table), _KEY_WRAP_ALG_MAX);
        /* Exactly as the spec spells them. */
        assert_int_equal(key_wrap_alg_from_string("ckm_rsa_aes_key_wrap"), _KEY_WRAP_ALG_INVALID);
        assert_int_equal(key_wrap_alg_from_string("RSA_AES_KEY_WRAP_512"), _KEY_WRAP_ALG_INVALID);
        assert_int_equal(key_wrap_alg_from_string("CKM_RSA_AES_KEY_WRAP "), _KEY_WRAP_ALG_INVALID);
        assert_int_equal(key_wrap_alg_from_string("RSA-OAEP"), _KEY_WRAP_ALG_INVALID);
        assert_int_equal(key_wrap_alg_from_string(""), _KEY_WRAP_ALG_INVALID);
        assert_int_equal(key_wrap_alg_from_string(NULL), _KEY_WRAP_ALG_INVALID);
        assert_null(key_wrap_alg_to_string(_KEY_WRAP_ALG_MAX));
        assert_null(key_wrap_alg_to_string(_KEY_WRAP_ALG_INVALID));
        assert_null(key_wrap_alg_hash(_KEY_WRAP_ALG_MAX));
        assert_int_equal(key_wrap_alg_tpm_hash(_KEY_WRAP_ALG_INVALID), 0);
}

/* Every alg, every KEK size, keys of 1 to 1218 bytes and the PKCS#8 key. */
static void test_round_trips(void **state) {
        static const size_t sizes[] = { 1, 7, 8, 9, 16, 32, 256, 1218, 0 /* the PKCS#8 key */ };

        (void) state;
        for (size_t a = 0; a < ELEMENTSOF(all_algs); a++)
                for (size_t k = 0; k < ELEMENTSOF(keks); k++)
                        for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                                _cleanup_(freep) uint8_t *key = NULL, *blob = NULL;
                                _cleanup_(secret_freep) Secret *out = NULL;
                                size_t key_size = sizes[s], blob_size = 0;
                                Diag d = {};
                                int r;

                                if (key_size == 0) {
                                        key_size = pkcs8_size;
                                        key = malloc(key_size);
                                        assert_non_null(key);
                                        memcpy(key, pkcs8, key_size);
                                } else
                                        key = random_bytes(key_size);
                                wrap_ok(all_algs[a], keks[k], key, key_size, &blob, &blob_size);
                                r = key_unwrap(all_algs[a], keks[k], blob, blob_size, &out, &d);
                                if (r < 0)
                                        fail_msg("key_unwrap(%s, RSA-%d, %zu bytes): %d %s",
                                                 key_wrap_alg_to_string(all_algs[a]), kek_bits[k],
                                                 key_size, r, d.text);
                                assert_int_equal(out->size, key_size);
                                assert_memory_equal(out->data, key, key_size);
                        }
}

/* The released PKCS#8 comes back as the same private key (what the C++ client checks with
 * d2i_PrivateKey). */
static void test_pkcs8_key_comes_back(void **state) {
        _cleanup_(freep) uint8_t *blob = NULL;
        _cleanup_(secret_freep) Secret *out = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *back = NULL;
        const unsigned char *p;
        size_t blob_size = 0;
        Diag d = {};

        (void) state;
        wrap_ok(KEY_WRAP_RSA_AES_256, keks[0], pkcs8, pkcs8_size, &blob, &blob_size);
        assert_int_equal(key_unwrap(KEY_WRAP_RSA_AES_256, keks[0], blob, blob_size, &out, &d), 0);
        p = out->data;
        back = d2i_AutoPrivateKey(NULL, &p, (long) out->size);
        assert_non_null(back);
        assert_ptr_equal(p, out->data + out->size);
        assert_int_equal(EVP_PKEY_eq(back, released), 1);
}

/* RSA-OAEP decryption of a blob's RSA part done here, as the TPM does it: the alg's hash for OAEP
 * and for MGF1, the empty label. */
static void oaep_decrypt(KeyWrapAlg alg, EVP_PKEY *key, const uint8_t *rsa_part,
                         uint8_t ret[static KEY_WRAP_AES_KEY_SIZE]) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx =
                EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        const char *hash = key_wrap_alg_hash(alg);
        size_t m = (size_t) EVP_PKEY_get_size(key);
        uint8_t aes[512];
        size_t aes_size = sizeof(aes);

        assert_non_null(ctx);
        assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, hash, NULL), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, hash, NULL), 1);
        assert_int_equal(EVP_PKEY_decrypt(ctx, aes, &aes_size, rsa_part, m), 1);
        assert_int_equal(aes_size, KEY_WRAP_AES_KEY_SIZE);
        memcpy(ret, aes, KEY_WRAP_AES_KEY_SIZE);
        explicit_bzero(aes, sizeof(aes));
}

/* The agent's path: split, RSA-OAEP outside this module (the TPM; here OpenSSL with the hash the
 * alg names, for OAEP and MGF1), key_unwrap_aes on the rest. */
static void test_split_path(void **state) {
        (void) state;
        for (size_t a = 0; a < ELEMENTSOF(all_algs); a++) {
                _cleanup_(freep) uint8_t *blob = NULL;
                _cleanup_(secret_freep) Secret *out = NULL;
                const uint8_t *rsa_part = NULL, *kwp_part = NULL;
                uint8_t aes[KEY_WRAP_AES_KEY_SIZE];
                size_t blob_size = 0, kwp_size = 0;
                Diag d = {};

                wrap_ok(all_algs[a], keks[1], pkcs8, pkcs8_size, &blob, &blob_size);
                assert_int_equal(key_unwrap_split(all_algs[a], 384, blob, blob_size, &rsa_part,
                                                  &kwp_part, &kwp_size, &d),
                                 0);
                assert_ptr_equal(rsa_part, blob);
                assert_ptr_equal(kwp_part, blob + 384);
                assert_int_equal(kwp_size, blob_size - 384);
                oaep_decrypt(all_algs[a], keks[1], rsa_part, aes);
                assert_int_equal(key_unwrap_aes(aes, kwp_part, kwp_size, &out, &d), 0);
                assert_int_equal(out->size, pkcs8_size);
                assert_memory_equal(out->data, pkcs8, pkcs8_size);
                explicit_bzero(aes, sizeof(aes));
        }
}

/* A fresh AES key (and OAEP seed) every time: two wraps of one key share no part. */
static void test_fresh_ephemeral_key(void **state) {
        _cleanup_(freep) uint8_t *b1 = NULL, *b2 = NULL;
        size_t s1 = 0, s2 = 0;

        (void) state;
        wrap_ok(KEY_WRAP_CKM_RSA_AES, keks[0], pkcs8, 32, &b1, &s1);
        wrap_ok(KEY_WRAP_CKM_RSA_AES, keks[0], pkcs8, 32, &b2, &s2);
        assert_int_equal(s1, s2);
        assert_memory_not_equal(b1, b2, 256);
        assert_memory_not_equal(b1 + 256, b2 + 256, s1 - 256);
}

/* RFC 5649 §6 (a 192-bit KEK, so through OpenSSL's AES-192-WRAP-PAD: this checks that the
 * primitive we call is RFC 5649 with its default AIV, in both directions). */
static void test_kwp_rfc5649(void **state) {
        static const struct {
                const char *key, *wrapped;
        } v[] = {
                { "c37b7e6492584340bed12207808941155068f738",
                  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a" },
                { "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f" },
        };
        _cleanup_(freep) uint8_t *kek = NULL;
        size_t kek_size;

        (void) state;
        kek = unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", &kek_size);
        assert_int_equal(kek_size, 24);
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                for (int enc = 1; enc >= 0; enc--) {
                        _cleanup_(EVP_CIPHER_freep) EVP_CIPHER *c =
                                EVP_CIPHER_fetch(NULL, "AES-192-WRAP-PAD", NULL);
                        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
                        _cleanup_(freep) uint8_t *in = NULL, *want = NULL;
                        size_t in_size, want_size;
                        uint8_t out[64];
                        int len = 0, fin = 0;

                        in = unhex(enc ? v[i].key : v[i].wrapped, &in_size);
                        want = unhex(enc ? v[i].wrapped : v[i].key, &want_size);
                        assert_non_null(c);
                        assert_non_null(ctx);
                        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
                        assert_int_equal(EVP_CipherInit_ex2(ctx, c, kek, NULL, enc, NULL), 1);
                        assert_int_equal(EVP_CipherUpdate(ctx, out, &len, in, (int) in_size), 1);
                        assert_int_equal(EVP_CipherFinal_ex(ctx, out + len, &fin), 1);
                        assert_int_equal((size_t) (len + fin), want_size);
                        assert_memory_equal(out, want, want_size);
                }
}

/* NIST SP 800-38F CAVP KWP-AD with AES-256 (KWP_AD_256.txt, CAVS 21.4): records of 8, 64, 72
 * and 248 bits, and FAIL records, through key_unwrap_aes. */
static void test_kwp_nist_vectors(void **state) {
        static const struct {
                const char *k, *c, *p; /* p NULL: FAIL */
        } v[] = {
                /* [PLAINTEXT LENGTH = 8] COUNT = 0, 4 */
                { "20e4ff6a88ffa9a2818b81702793d8a016722c2fa1ff445f24b9db293cb12069",
                  "85011dc927b167f411b0b8e21b11d819", "d2" },
                { "c32cb3e1e41a4b9f4de79989957866f5dd48dba38c22a6ebb80e14c84bdd9534",
                  "c29b05c2619a58ecc1d239e7a34273cd", NULL },
                /* [PLAINTEXT LENGTH = 64] COUNT = 1, 0 */
                { "96503e950d01ee1664de77ef6c0108aea2cffcffd0cf282e58a3fb982914ff9c",
                  "e5fa8bf0919d5a7163f2af43b3b549b8", "e731cf7c44ac7722" },
                { "398444df32841be9e699c64faa92630c834564b8384876dceb471c4056fc8299",
                  "30032c9a3ed00d29512d8c725fa86a4b", NULL },
                /* [PLAINTEXT LENGTH = 72] COUNT = 1, 0 */
                { "0e6d542f960c7e61ca190d7fd719fda157030a0a013164613a8c522b52ae685d",
                  "b5cae8a82095abb3478ab167dbc0201d2f4dfc5f81bbe44e", "a957eb4ea02e68ba8b" },
                { "64b69233fe392c0bcda28a931cc3527b1a8f29235c1adf6256556c685cb89b9f",
                  "6b5fd75ad16eda04a8b29f1bc0411ae28befbad9e474f2d8", NULL },
                /* [PLAINTEXT LENGTH = 248] COUNT = 31, 32 */
                { "c6cf2b1060916352c6ac9a6a7b536e1258e6fb6eb50f2a5f833620e9bf7f9b90",
                  "cc089954d8bcda9064a260f9b167519855c16856"
                  "a3b49358e48959ef20c267af34ddcfb22cbd6db4",
                  "584bbe7f2b7f339da19aa3a17a5765e96f794308badb9f84a91e44f95ba3ca" },
                { "d16c9044d246d48d3338e4b86c8b2becbf5f3c607fa1f0a63e44b64817d77320",
                  "ed38527e28219ea61ab2145930cf50a601bb1c29"
                  "6fcd2816c86d3df3a40766b8a34df8ba54ddde00",
                  NULL },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_(freep) uint8_t *k = NULL, *c = NULL, *p = NULL;
                _cleanup_(secret_freep) Secret *out = NULL;
                size_t k_size, c_size, p_size = 0;
                Diag d = {};
                int r;

                k = unhex(v[i].k, &k_size);
                c = unhex(v[i].c, &c_size);
                assert_int_equal(k_size, KEY_WRAP_AES_KEY_SIZE);
                r = key_unwrap_aes(k, c, c_size, &out, &d);
                if (!v[i].p) {
                        assert_int_equal(r, -EKEYREJECTED);
                        assert_null(out);
                        assert_one_line(&d);
                        continue;
                }
                p = unhex(v[i].p, &p_size);
                assert_int_equal(r, 0);
                assert_int_equal(out->size, p_size);
                assert_memory_equal(out->data, p, p_size);
        }
}

static void assert_unwrap_refused(KeyWrapAlg alg, EVP_PKEY *key, const uint8_t *blob, size_t size,
                                  int want) {
        Secret *out = NULL;
        Diag d = {};
        int r;

        r = key_unwrap(alg, key, blob, size, &out, &d);
        if (r != want)
                fail_msg("%zu-byte blob: %d (%s), expected %d", size, r, d.text, want);
        assert_null(out);
        assert_one_line(&d);
}

/* Every single-byte change of the blob is refused: in the RSA part through key_unwrap, in the
 * KWP part through key_unwrap_aes under the right AES key (and every 7th also through
 * key_unwrap). */
static void test_every_byte_flip(void **state) {
        (void) state;
        for (size_t a = 0; a < ELEMENTSOF(all_algs); a++) {
                _cleanup_(freep) uint8_t *blob = NULL;
                uint8_t aes[KEY_WRAP_AES_KEY_SIZE];
                size_t blob_size = 0;

                wrap_ok(all_algs[a], keks[0], pkcs8, pkcs8_size, &blob, &blob_size);
                oaep_decrypt(all_algs[a], keks[0], blob, aes);
                for (size_t i = 0; i < blob_size; i++) {
                        uint8_t x = (uint8_t) (1u << (i % 8)) | (a == 1 ? 0x80 : 0);

                        blob[i] ^= x;
                        if (i < 256 || i % 7 == 0)
                                assert_unwrap_refused(all_algs[a], keks[0], blob, blob_size,
                                                      -EKEYREJECTED);
                        if (i >= 256) {
                                Secret *out = NULL;
                                Diag d = {};

                                assert_int_equal(
                                        key_unwrap_aes(aes, blob + 256, blob_size - 256, &out, &d),
                                        -EKEYREJECTED);
                                assert_null(out);
                                assert_one_line(&d);
                        }
                        blob[i] ^= x;
                }
                explicit_bzero(aes, sizeof(aes));
        }
}

/* Every truncation, and extensions by 1 to 24 bytes: a length that cannot be an RSA part and a
 * KWP part is malformed, one that can fails the integrity check. Never any output. */
static void test_truncations_and_extensions(void **state) {
        _cleanup_(freep) uint8_t *blob = NULL, *longer = NULL;
        size_t blob_size = 0;

        (void) state;
        wrap_ok(KEY_WRAP_RSA_AES_384, keks[0], pkcs8, 256, &blob, &blob_size);
        for (size_t n = 0; n < blob_size; n++) {
                int want = n >= 256 + 16 && (n - 256) % 8 == 0 ? -EKEYREJECTED : -EBADMSG;
                assert_unwrap_refused(KEY_WRAP_RSA_AES_384, keks[0], blob, n, want);
        }
        longer = malloc(blob_size + 24);
        assert_non_null(longer);
        memcpy(longer, blob, blob_size);
        for (size_t extra = 1; extra <= 24; extra++) {
                int want = extra % 8 == 0 ? -EKEYREJECTED : -EBADMSG;

                longer[blob_size + extra - 1] = 0;
                assert_unwrap_refused(KEY_WRAP_RSA_AES_384, keks[0], longer, blob_size + extra,
                                      want);
                longer[blob_size + extra - 1] = (uint8_t) extra;
                assert_unwrap_refused(KEY_WRAP_RSA_AES_384, keks[0], longer, blob_size + extra,
                                      want);
        }
        /* The RSA part cut by 8 bytes and the KWP part shifted into it. */
        assert_unwrap_refused(KEY_WRAP_RSA_AES_384, keks[0], blob + 8, blob_size - 8,
                              -EKEYREJECTED);
}

/* A blob for one enc does not unwrap under another, nor with another key (of the same or another
 * size). */
static void test_wrong_alg_and_key(void **state) {
        (void) state;
        for (size_t a = 0; a < ELEMENTSOF(all_algs); a++) {
                _cleanup_(freep) uint8_t *blob = NULL, *blob3072 = NULL;
                size_t blob_size = 0, blob3072_size = 0;

                wrap_ok(all_algs[a], keks[0], pkcs8, pkcs8_size, &blob, &blob_size);
                for (size_t b = 0; b < ELEMENTSOF(all_algs); b++)
                        if (b != a)
                                assert_unwrap_refused(all_algs[b], keks[0], blob, blob_size,
                                                      -EKEYREJECTED);
                assert_unwrap_refused(all_algs[a], other_2048, blob, blob_size, -EKEYREJECTED);
                /* Split at the wrong modulus size: the length still fits (rejected by OAEP),
                 * or it does not (malformed). */
                assert_unwrap_refused(all_algs[a], keks[1], blob, blob_size, -EKEYREJECTED);
                wrap_ok(all_algs[a], keks[1], pkcs8, 16, &blob3072, &blob3072_size);
                assert_unwrap_refused(all_algs[a], keks[0], blob3072, blob3072_size, -EKEYREJECTED);
                assert_unwrap_refused(all_algs[a], keks[2], blob3072, blob3072_size, -EBADMSG);
        }
}

static void test_bad_arguments(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_EC_gen("P-256"), *small = EVP_RSA_gen(1024);
        _cleanup_(freep) uint8_t *big = NULL;
        uint8_t *blob = (uint8_t *) "untouched";
        size_t blob_size = 12345;
        Secret *out = NULL;
        Diag d = {};

        (void) state;
        assert_non_null(ec);
        assert_non_null(small);
        assert_int_equal(key_wrap(KEY_WRAP_CKM_RSA_AES, ec, pkcs8, 32, &blob, &blob_size, &d),
                         -EPROTONOSUPPORT);
        assert_one_line(&d);
        d = (Diag){};
        assert_int_equal(key_wrap(KEY_WRAP_CKM_RSA_AES, small, pkcs8, 32, &blob, &blob_size, &d),
                         -EPROTONOSUPPORT);
        assert_non_null(strstr(d.text, "RSA-1024"));
        assert_int_equal(key_wrap(_KEY_WRAP_ALG_MAX, keks[0], pkcs8, 32, &blob, &blob_size, NULL),
                         -EPROTONOSUPPORT);
        assert_int_equal(
                key_wrap(_KEY_WRAP_ALG_INVALID, keks[0], pkcs8, 32, &blob, &blob_size, NULL),
                -EPROTONOSUPPORT);
        assert_int_equal(key_wrap(KEY_WRAP_CKM_RSA_AES, keks[0], pkcs8, 0, &blob, &blob_size, NULL),
                         -EINVAL);
        assert_int_equal(key_wrap(KEY_WRAP_CKM_RSA_AES, NULL, pkcs8, 32, &blob, &blob_size, NULL),
                         -EINVAL);
        big = calloc(1, KEY_WRAP_KEY_MAX + 1);
        assert_non_null(big);
        assert_int_equal(key_wrap(KEY_WRAP_CKM_RSA_AES, keks[0], big, KEY_WRAP_KEY_MAX + 1, &blob,
                                  &blob_size, NULL),
                         -E2BIG);
        assert_string_equal((const char *) blob, "untouched");
        assert_int_equal(blob_size, 12345);

        /* The largest key wraps and unwraps. */
        blob = NULL;
        assert_int_equal(key_wrap(KEY_WRAP_RSA_AES_256, keks[0], big, KEY_WRAP_KEY_MAX, &blob,
                                  &blob_size, NULL),
                         0);
        assert_int_equal(blob_size, 256 + KEY_WRAP_KWP_MAX);
        assert_int_equal(key_unwrap(KEY_WRAP_RSA_AES_256, keks[0], blob, blob_size, &out, NULL), 0);
        assert_int_equal(out->size, KEY_WRAP_KEY_MAX);
        assert_true(memeqzero(out->data, out->size));
        out = secret_free(out);
        free(blob);

        assert_int_equal(key_unwrap(KEY_WRAP_CKM_RSA_AES, ec, pkcs8, 512, &out, NULL),
                         -EPROTONOSUPPORT);
        assert_int_equal(key_unwrap(_KEY_WRAP_ALG_MAX, keks[0], pkcs8, 512, &out, NULL),
                         -EPROTONOSUPPORT);
        assert_null(out);
}

static void test_split(void **state) {
        uint8_t blob[1024] = {};
        const uint8_t *rsa = NULL, *kwp = NULL;
        size_t kwp_size = 0;
        Diag d = {};

        (void) state;
        assert_int_equal(key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 256, blob, 256 + 16, &rsa, &kwp,
                                          &kwp_size, &d),
                         0);
        assert_int_equal(kwp_size, 16);
        assert_int_equal(
                key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 512, blob, 1024, &rsa, &kwp, &kwp_size, &d),
                0);
        assert_int_equal(kwp_size, 512);
        rsa = kwp = NULL;
        kwp_size = 0;
        assert_int_equal(key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 256, blob, 256 + 8, &rsa, &kwp,
                                          &kwp_size, &d),
                         -EBADMSG);
        assert_one_line(&d);
        assert_int_equal(key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 256, blob, 256 + 17, &rsa, &kwp,
                                          &kwp_size, NULL),
                         -EBADMSG);
        assert_int_equal(
                key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 256, blob, 0, &rsa, &kwp, &kwp_size, NULL),
                -EBADMSG);
        assert_int_equal(key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 128, blob, 1024, &rsa, &kwp,
                                          &kwp_size, NULL),
                         -EINVAL);
        assert_int_equal(key_unwrap_split(KEY_WRAP_CKM_RSA_AES, SIZE_MAX, blob, 1024, &rsa, &kwp,
                                          &kwp_size, NULL),
                         -EINVAL);
        assert_int_equal(key_unwrap_split(_KEY_WRAP_ALG_INVALID, 256, blob, 1024, &rsa, &kwp,
                                          &kwp_size, NULL),
                         -EPROTONOSUPPORT);
        assert_null(rsa);
        assert_null(kwp);
        assert_int_equal(kwp_size, 0);
        /* A KWP part over the cap, without reading it. */
        assert_int_equal(key_unwrap_split(KEY_WRAP_CKM_RSA_AES, 256, blob,
                                          256 + KEY_WRAP_KWP_MAX + 8, &rsa, &kwp, &kwp_size, NULL),
                         -EBADMSG);

        /* key_unwrap_aes on lengths that cannot be KWP output. */
        for (size_t n = 0; n <= 40; n++) {
                Secret *out = NULL;

                if (n >= 16 && n % 8 == 0)
                        continue;
                d = (Diag){};
                assert_int_equal(key_unwrap_aes(blob, blob, n, &out, &d), -EBADMSG);
                assert_null(out);
                assert_one_line(&d);
        }
}

/* key_hsm: built, then parsed back; its JSON as the spec gives it. */
static void test_key_hsm_round_trip(void **state) {
        (void) state;
        for (size_t a = 0; a < ELEMENTSOF(all_algs); a++) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
                _cleanup_(freep) uint8_t *blob = NULL, *json = NULL;
                _cleanup_(freep) char *text = NULL;
                _cleanup_(secret_freep) Secret *out = NULL;
                json_object *header, *v;
                size_t blob_size = 0, json_size = 0;
                Diag d = {};

                wrap_ok(all_algs[a], keks[0], pkcs8, pkcs8_size, &blob, &blob_size);
                assert_int_equal(key_hsm_build(all_algs[a], "TpmEphemeralEncryptionKey", blob,
                                               blob_size, &text),
                                 0);
                /* base64url without padding */
                assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789-_"),
                                 strlen(text));
                assert_int_equal(
                        base64url_decode(text, strlen(text), KEY_HSM_JSON_MAX, &json, &json_size),
                        0);
                assert_int_equal(
                        json_parse_capped((const char *) json, json_size, KEY_HSM_JSON_MAX, 8, &o),
                        0);
                assert_true(json_object_object_get_ex(o, "schema_version", &v));
                assert_string_equal(json_object_get_string(v), "1.0");
                assert_true(json_object_object_get_ex(o, "header", &header));
                assert_true(json_object_object_get_ex(header, "alg", &v));
                assert_string_equal(json_object_get_string(v), "dir");
                assert_true(json_object_object_get_ex(header, "enc", &v));
                assert_string_equal(json_object_get_string(v), key_wrap_alg_to_string(all_algs[a]));
                assert_true(json_object_object_get_ex(header, "kid", &v));
                assert_string_equal(json_object_get_string(v), "TpmEphemeralEncryptionKey");
                assert_true(json_object_object_get_ex(o, "ciphertext", &v));

                assert_int_equal(key_hsm_parse(text, strlen(text), &k, &d), 0);
                assert_int_equal(k->alg, all_algs[a]);
                assert_string_equal(k->kid, "TpmEphemeralEncryptionKey");
                assert_int_equal(k->ciphertext_size, blob_size);
                assert_memory_equal(k->ciphertext, blob, blob_size);
                assert_int_equal(
                        key_unwrap(k->alg, keks[0], k->ciphertext, k->ciphertext_size, &out, &d),
                        0);
                assert_memory_equal(out->data, pkcs8, pkcs8_size);
        }
}

static void test_key_hsm_build_refuses(void **state) {
        _cleanup_(freep) char *long_kid = NULL;
        uint8_t blob[16] = {};
        char *text = NULL;

        (void) state;
        assert_int_equal(key_hsm_build(_KEY_WRAP_ALG_MAX, "k", blob, 16, &text), -EINVAL);
        assert_int_equal(key_hsm_build(KEY_WRAP_CKM_RSA_AES, "", blob, 16, &text), -EINVAL);
        assert_int_equal(key_hsm_build(KEY_WRAP_CKM_RSA_AES, NULL, blob, 16, &text), -EINVAL);
        assert_int_equal(key_hsm_build(KEY_WRAP_CKM_RSA_AES, "k", blob, 0, &text), -EINVAL);
        assert_int_equal(
                key_hsm_build(KEY_WRAP_CKM_RSA_AES, "k", blob, KEY_WRAP_BLOB_MAX + 1, &text),
                -E2BIG);
        long_kid = malloc(KEY_HSM_KID_MAX + 2);
        assert_non_null(long_kid);
        memset(long_kid, 'k', KEY_HSM_KID_MAX + 1);
        long_kid[KEY_HSM_KID_MAX + 1] = '\0';
        assert_int_equal(key_hsm_build(KEY_WRAP_CKM_RSA_AES, long_kid, blob, 16, &text), -E2BIG);
        assert_null(text);
        /* The longest kid and a kid with characters JSON escapes round-trip. */
        long_kid[KEY_HSM_KID_MAX] = '\0';
        for (int i = 0; i < 2; i++) {
                _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
                const char *kid = i == 0 ? long_kid : "https://v/keys/a\"b\\c/\x01\xc3\xa9";

                assert_int_equal(key_hsm_build(KEY_WRAP_RSA_AES_384, kid, blob, 16, &text), 0);
                assert_int_equal(key_hsm_parse(text, strlen(text), &k, NULL), 0);
                assert_string_equal(k->kid, kid);
                free(text);
                text = NULL;
        }
}

/* A key_hsm document (JSON text) in base64url, as the parser gets it. */
static char *encode_doc(const char *json) {
        char *text = NULL;

        assert_int_equal(base64url_encode(json, strlen(json), &text), 0);
        return text;
}

#define CT "\"ciphertext\":\"AAAAAAAAAAAAAAAAAAAAAA\""
#define HDR(kid, alg, enc) "\"header\":{\"kid\":" kid ",\"alg\":" alg ",\"enc\":" enc "}"
#define GOOD_HDR HDR("\"k\"", "\"dir\"", "\"RSA_AES_KEY_WRAP_256\"")

static void test_key_hsm_hostile(void **state) {
        static const struct {
                const char *json; /* NULL: raw is the key_hsm text itself */
                const char *raw;
                int want;
        } v[] = {
                /* the reference document first: it parses */
                { "{\"schema_version\":\"1.0\"," GOOD_HDR "," CT "}", NULL, 0 },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR "," CT ",\"extra\":[1,{}]}", NULL, 0 },
                { NULL, "", -EBADMSG },
                { NULL, "{\"schema_version\":\"1.0\"}", -EBADMSG }, /* JSON not in base64url */
                { NULL, "e30", -EBADMSG },                          /* {} */
                { NULL, "!!!!", -EBADMSG },
                { NULL, "A", -EBADMSG },
                { "[]", NULL, -EBADMSG },
                { "\"1.0\"", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR "," CT "} x", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR "," CT "", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\",/*c*/" GOOD_HDR "," CT "}", NULL, -EBADMSG },
                { "{" GOOD_HDR "," CT "}", NULL, -EBADMSG },
                { "{\"schema_version\":1.0," GOOD_HDR "," CT "}", NULL, -EBADMSG },
                { "{\"schema_version\":\"2.0\"," GOOD_HDR "," CT "}", NULL, -EPROTONOSUPPORT },
                { "{\"schema_version\":\"1.0\\u0000\"," GOOD_HDR "," CT "}", NULL,
                  -EPROTONOSUPPORT },
                { "{\"schema_version\":\"1.0\"," CT "}", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\",\"header\":\"x\"," CT "}", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\",\"header\":[]," CT "}", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," HDR("\"k\"", "\"RSA-OAEP\"",
                                                    "\"RSA_AES_KEY_WRAP_256\"") "," CT "}",
                  NULL, -EPROTONOSUPPORT },
                { "{\"schema_version\":\"1.0\"," HDR("\"k\"", "null",
                                                    "\"RSA_AES_KEY_WRAP_256\"") "," CT "}",
                  NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," HDR("\"k\"", "\"dir\"", "\"A256KW\"") "," CT "}",
                  NULL, -EPROTONOSUPPORT },
                { "{\"schema_version\":\"1.0\"," HDR("\"k\"", "\"dir\"",
                                                    "\"rsa_aes_key_wrap_256\"") "," CT "}",
                  NULL, -EPROTONOSUPPORT },
                { "{\"schema_version\":\"1.0\"," HDR("\"k\"", "\"dir\"",
                                                    "\"RSA_AES_KEY_WRAP_256\\u0000x\"") "," CT "}",
                  NULL, -EPROTONOSUPPORT },
                { "{\"schema_version\":\"1.0\"," HDR("\"k\"", "\"dir\"", "256") "," CT "}", NULL,
                  -EBADMSG },
                { "{\"schema_version\":\"1.0\"," HDR("\"\"", "\"dir\"",
                                                    "\"RSA_AES_KEY_WRAP_256\"") "," CT "}",
                  NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," HDR("\"a\\u0000b\"", "\"dir\"",
                                                    "\"RSA_AES_KEY_WRAP_256\"") "," CT "}",
                  NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," HDR("{}", "\"dir\"",
                                                    "\"RSA_AES_KEY_WRAP_256\"") "," CT "}",
                  NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\",\"header\":{\"alg\":\"dir\",\"enc\":"
                  "\"RSA_AES_KEY_WRAP_256\"}," CT "}",
                  NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR "}", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":\"\"}", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":\"A\"}", NULL,
                  -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":\"AA AA\"}", NULL,
                  -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":\"AA\\u0000A\"}", NULL,
                  -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":16}", NULL, -EBADMSG },
                { "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":[\"AAAA\"]}", NULL,
                  -EBADMSG },
                /* nested deeper than KEY_HSM_DEPTH */
                { "{\"schema_version\":\"1.0\"," GOOD_HDR "," CT ",\"x\":[[[[[]]]]]}", NULL,
                  -EBADMSG },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
                _cleanup_(freep) char *text = NULL;
                const char *in = v[i].raw;
                Diag d = {};
                int r;

                if (v[i].json)
                        in = text = encode_doc(v[i].json);
                r = key_hsm_parse(in, strlen(in), &k, &d);
                if (r != v[i].want)
                        fail_msg("case %zu: %d (%s), expected %d", i, r, d.text, v[i].want);
                if (r == 0) {
                        assert_non_null(k);
                        assert_string_equal(k->kid, "k");
                        assert_int_equal(k->alg, KEY_WRAP_RSA_AES_256);
                        assert_int_equal(k->ciphertext_size, 16);
                } else {
                        assert_null(k);
                        assert_one_line(&d);
                }
        }
}

/* Caps: text, kid and ciphertext over their limits are refused before anything large is made. */
static void test_key_hsm_caps(void **state) {
        _cleanup_(freep) char *big = NULL, *doc = NULL, *text = NULL;
        KeyHsm *k = NULL;
        size_t n;
        Diag d = {};

        (void) state;
        big = malloc(KEY_HSM_TEXT_MAX + 2);
        assert_non_null(big);
        memset(big, 'A', KEY_HSM_TEXT_MAX + 1);
        big[KEY_HSM_TEXT_MAX + 1] = '\0';
        assert_int_equal(key_hsm_parse(big, KEY_HSM_TEXT_MAX + 1, &k, &d), -E2BIG);
        assert_one_line(&d);
        free(big);

        /* A kid one byte over the cap. */
        n = KEY_HSM_KID_MAX + 1;
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'k', n);
        big[n] = '\0';
        assert_true(asprintf(&doc,
                             "{\"schema_version\":\"1.0\",\"header\":{\"kid\":\"%s\",\"alg\":"
                             "\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"}," CT "}",
                             big) > 0);
        text = encode_doc(doc);
        d = (Diag){};
        assert_int_equal(key_hsm_parse(text, strlen(text), &k, &d), -EBADMSG);
        free(big);
        free(doc);
        free(text);

        /* A ciphertext decoding to one byte over KEY_WRAP_BLOB_MAX. */
        n = (KEY_WRAP_BLOB_MAX + 1 + 2) / 3 * 4;
        big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'A', n);
        big[n] = '\0';
        assert_true(asprintf(&doc,
                             "{\"schema_version\":\"1.0\"," GOOD_HDR ",\"ciphertext\":\"%s\"}",
                             big) > 0);
        text = encode_doc(doc);
        assert_true(strlen(text) <= KEY_HSM_TEXT_MAX);
        d = (Diag){};
        assert_int_equal(key_hsm_parse(text, strlen(text), &k, &d), -E2BIG);
        assert_one_line(&d);
        assert_null(k);
        free(doc);
        free(text);
        doc = text = NULL;

        /* The largest blob builds and parses. */
        memset(big, 0x5a, KEY_WRAP_BLOB_MAX);
        assert_int_equal(key_hsm_build(KEY_WRAP_CKM_RSA_AES, "TpmEphemeralEncryptionKey",
                                       (const uint8_t *) big, KEY_WRAP_BLOB_MAX, &text),
                         0);
        assert_true(strlen(text) <= KEY_HSM_TEXT_MAX);
        assert_int_equal(key_hsm_parse(text, strlen(text), &k, &d), 0);
        assert_int_equal(k->ciphertext_size, KEY_WRAP_BLOB_MAX);
        k = key_hsm_free(k);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alg_names),
                cmocka_unit_test(test_round_trips),
                cmocka_unit_test(test_pkcs8_key_comes_back),
                cmocka_unit_test(test_split_path),
                cmocka_unit_test(test_fresh_ephemeral_key),
                cmocka_unit_test(test_kwp_rfc5649),
                cmocka_unit_test(test_kwp_nist_vectors),
                cmocka_unit_test(test_every_byte_flip),
                cmocka_unit_test(test_truncations_and_extensions),
                cmocka_unit_test(test_wrong_alg_and_key),
                cmocka_unit_test(test_bad_arguments),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_key_hsm_round_trip),
                cmocka_unit_test(test_key_hsm_build_refuses),
                cmocka_unit_test(test_key_hsm_hostile),
                cmocka_unit_test(test_key_hsm_caps),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
