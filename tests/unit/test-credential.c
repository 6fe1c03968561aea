/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtpm/credential.c: KDFa against the TPM reference implementation's self-test vectors and a
 * KDFa/KDFe written here from the spec text, hostile EK public areas and names, and round trips
 * through a software ActivateCredential (this file's own, written from Part 1 §24) for RSA 2048,
 * ECC P-256 and ECC P-384 EKs whose private keys OpenSSL holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "vtpm/credential.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-pcrs.h"

/* ---- KDFs written here from the spec text, to cross-check the OpenSSL-based ones ---- */

static void be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* Part 1 §11.4.10.2: K(i) = HMAC(key, [i]32 || label || 0x00 || contextU || contextV || [L]32). */
static void ref_kdfa(uint16_t alg, const uint8_t *key, size_t key_size, const char *label,
                     const uint8_t *u, size_t u_size, const uint8_t *v, size_t v_size, uint8_t *out,
                     size_t out_size) {
        const EVP_MD *md = tpm_alg_to_evp(alg);
        uint8_t msg[512], block[EVP_MAX_MD_SIZE];
        size_t l = strlen(label), n = 0;
        unsigned int bs;

        assert_true(4 + l + 1 + u_size + v_size + 4 <= sizeof(msg));
        for (uint32_t i = 1; n < out_size; i++) {
                size_t m = 0;

                be32(msg, i);
                m += 4;
                memcpy(msg + m, label, l);
                m += l;
                msg[m++] = 0;
                if (u_size)
                        memcpy(msg + m, u, u_size);
                m += u_size;
                if (v_size)
                        memcpy(msg + m, v, v_size);
                m += v_size;
                be32(msg + m, (uint32_t) out_size * 8);
                m += 4;
                assert_non_null(HMAC(md, key, (int) key_size, msg, m, block, &bs));
                memcpy(out + n, block, MIN((size_t) bs, out_size - n));
                n += MIN((size_t) bs, out_size - n);
        }
}

/* Part 1 §11.4.10.3: K(i) = H([i]32 || Z || label || 0x00 || partyU || partyV). */
static void ref_kdfe(uint16_t alg, const uint8_t *z, size_t z_size, const char *label,
                     const uint8_t *u, size_t u_size, const uint8_t *v, size_t v_size, uint8_t *out,
                     size_t out_size) {
        const EVP_MD *md = tpm_alg_to_evp(alg);
        uint8_t msg[512], block[EVP_MAX_MD_SIZE];
        size_t l = strlen(label), n = 0;
        unsigned int bs;

        for (uint32_t i = 1; n < out_size; i++) {
                size_t m = 0;

                be32(msg, i);
                m += 4;
                memcpy(msg + m, z, z_size);
                m += z_size;
                memcpy(msg + m, label, l + 1);
                m += l + 1;
                if (u_size)
                        memcpy(msg + m, u, u_size);
                m += u_size;
                if (v_size)
                        memcpy(msg + m, v, v_size);
                m += v_size;
                assert_true(EVP_Digest(msg, m, block, &bs, md, NULL));
                memcpy(out + n, block, MIN((size_t) bs, out_size - n));
                n += MIN((size_t) bs, out_size - n);
        }
}

/* The TPM 2.0 reference implementation's KDFa self-test (KdfTestData.h): 20-byte key, label
 * "KDFSELFTESTLABEL" (with its NUL), two 8-byte contexts, 160 bits out, one vector per hash. */
static void test_kdfa_known_answer(void **state) {
        static const uint8_t key[20] = { 0x27, 0x1F, 0xA0, 0x8B, 0xBD, 0xC5, 0x06,
                                         0x0E, 0xC3, 0xDF, 0xA9, 0x28, 0xFF, 0x9B,
                                         0x73, 0x12, 0x3A, 0x12, 0xDA, 0x0C };
        static const uint8_t u[8] = { 0xCE, 0x24, 0x4F, 0x39, 0x5D, 0xCA, 0x73, 0x91 };
        static const uint8_t v[8] = { 0xDA, 0x50, 0x40, 0x31, 0xDD, 0xF1, 0x2E, 0x83 };
        static const struct {
                uint16_t alg;
                uint8_t out[20];
        } vectors[] = {
                { TPM_ALG_SHA1, { 0x55, 0xb5, 0xa7, 0x18, 0x4a, 0xa0, 0x74, 0x23, 0xc4, 0x7d,
                                  0xae, 0x76, 0x6c, 0x26, 0xa2, 0x37, 0x7d, 0x7c, 0xf8, 0x51 } },
                { TPM_ALG_SHA256, { 0xbb, 0x02, 0x59, 0xe1, 0xc8, 0xba, 0x60, 0x7e, 0x6a, 0x2c,
                                    0xd7, 0x04, 0xb6, 0x9a, 0x90, 0x2e, 0x9a, 0xde, 0x84, 0xc4 } },
                { TPM_ALG_SHA384, { 0x1d, 0xce, 0x70, 0xc9, 0x11, 0x3e, 0xb2, 0xdb, 0xa4, 0x7b,
                                    0xd9, 0xcf, 0xc7, 0x2b, 0xf4, 0x6f, 0x45, 0xb0, 0x93, 0x12 } },
                { TPM_ALG_SHA512, { 0x8b, 0xe2, 0xc1, 0xb8, 0x5b, 0x78, 0x56, 0x9b, 0x9f, 0xa7,
                                    0x59, 0xf5, 0x85, 0x7c, 0x56, 0xd6, 0x84, 0x81, 0x0f, 0xd3 } },
        };

        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                uint8_t out[20], ref[20];

                assert_int_equal(tpm_kdfa(vectors[i].alg, key, sizeof(key), "KDFSELFTESTLABEL", u,
                                          sizeof(u), v, sizeof(v), out, sizeof(out)), 0);
                ref_kdfa(vectors[i].alg, key, sizeof(key), "KDFSELFTESTLABEL", u, sizeof(u), v,
                         sizeof(v), ref, sizeof(ref));
                assert_memory_equal(ref, vectors[i].out, sizeof(out));
                assert_memory_equal(out, vectors[i].out, sizeof(out));
        }
}

static void test_kdfa_matches_spec(void **state) {
        static const uint16_t algs[] = { TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384,
                                         TPM_ALG_SHA512 };
        static const size_t sizes[] = { 1, 16, 20, 32, 33, 48, 64, 100 };
        uint8_t key[32], name[34], out[100], again[100], ref[100];

        assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
        assert_int_equal(RAND_bytes(name, sizeof(name)), 1);
        for (size_t a = 0; a < ELEMENTSOF(algs); a++)
                for (size_t s = 0; s < ELEMENTSOF(sizes); s++) {
                        /* STORAGE with a context, INTEGRITY without: as credentials use them. */
                        assert_int_equal(tpm_kdfa(algs[a], key, sizeof(key), "STORAGE", name,
                                                  sizeof(name), NULL, 0, out, sizes[s]), 0);
                        assert_int_equal(tpm_kdfa(algs[a], key, sizeof(key), "STORAGE", name,
                                                  sizeof(name), NULL, 0, again, sizes[s]), 0);
                        ref_kdfa(algs[a], key, sizeof(key), "STORAGE", name, sizeof(name), NULL, 0,
                                 ref, sizes[s]);
                        assert_memory_equal(out, again, sizes[s]);
                        assert_memory_equal(out, ref, sizes[s]);
                        assert_int_equal(tpm_kdfa(algs[a], key, sizeof(key), "INTEGRITY", NULL, 0,
                                                  NULL, 0, out, sizes[s]), 0);
                        ref_kdfa(algs[a], key, sizeof(key), "INTEGRITY", NULL, 0, NULL, 0, ref,
                                 sizes[s]);
                        assert_memory_equal(out, ref, sizes[s]);
                }
        /* L is part of the input: a shorter output is not a prefix of a longer one. */
        assert_int_equal(tpm_kdfa(TPM_ALG_SHA256, key, sizeof(key), "STORAGE", name, sizeof(name),
                                  NULL, 0, out, 16), 0);
        assert_int_equal(tpm_kdfa(TPM_ALG_SHA256, key, sizeof(key), "STORAGE", name, sizeof(name),
                                  NULL, 0, again, 32), 0);
        assert_memory_not_equal(out, again, 16);
        /* Label and context both count. */
        assert_int_equal(tpm_kdfa(TPM_ALG_SHA256, key, sizeof(key), "STORAGF", name, sizeof(name),
                                  NULL, 0, again, 16), 0);
        assert_memory_not_equal(out, again, 16);

        assert_int_equal(tpm_kdfa(0x0010 /* TPM_ALG_NULL */, key, sizeof(key), "STORAGE", NULL, 0,
                                  NULL, 0, out, 16), -EPROTONOSUPPORT);
        assert_int_equal(tpm_kdfa(TPM_ALG_SHA256, key, 0, "STORAGE", NULL, 0, NULL, 0, out, 16),
                         -EINVAL);
        assert_int_equal(tpm_kdfa(TPM_ALG_SHA256, key, sizeof(key), "STORAGE", NULL, 0, NULL, 0,
                                  out, 0), -EINVAL);
}

static void test_kdfe_matches_spec(void **state) {
        static const uint16_t algs[] = { TPM_ALG_SHA256, TPM_ALG_SHA384 };
        uint8_t z[48], pu[48], pv[48], out[64], ref[64];

        assert_int_equal(RAND_bytes(z, sizeof(z)), 1);
        assert_int_equal(RAND_bytes(pu, sizeof(pu)), 1);
        assert_int_equal(RAND_bytes(pv, sizeof(pv)), 1);
        for (size_t a = 0; a < ELEMENTSOF(algs); a++)
                for (size_t n = 16; n <= sizeof(out); n += 16) {
                        assert_int_equal(tpm_kdfe(algs[a], z, 32, "IDENTITY", pu, 32, pv, 32, out,
                                                  n), 0);
                        ref_kdfe(algs[a], z, 32, "IDENTITY", pu, 32, pv, 32, ref, n);
                        assert_memory_equal(out, ref, n);
                }
}

/* ---- EKs with private keys in OpenSSL, as TPMT_PUBLIC areas of the EK templates ---- */

typedef struct SoftEk {
        EVP_PKEY *key;
        TPMT_PUBLIC pub;
        uint8_t bytes[sizeof(TPM2B_PUBLIC) + 2]; /* marshalled TPM2B_PUBLIC */
        size_t size;
} SoftEk;

static void soft_ek_marshal(SoftEk *ek) {
        TPM2B_PUBLIC p = { .publicArea = ek->pub };

        ek->size = 0;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, ek->bytes, sizeof(ek->bytes), &ek->size),
                         TSS2_RC_SUCCESS);
}

static void bn_param(EVP_PKEY *k, const char *name, uint8_t *out, size_t size) {
        BIGNUM *bn = NULL;

        assert_true(EVP_PKEY_get_bn_param(k, name, &bn));
        assert_true(BN_bn2binpad(bn, out, (int) size) == (int) size);
        BN_free(bn);
}

/* type: 0 RSA 2048 (L-1), 1 ECC P-256 (L-2), 2 ECC P-384 (H-3). */
static void soft_ek_new(int type, SoftEk *ek) {
        TPMT_PUBLIC *p = &ek->pub;

        *ek = (SoftEk) {};
        p->nameAlg = type == 2 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
        p->objectAttributes = 0x000300B2; /* fixedTPM|fixedParent|sensitiveDataOrigin|
                                           * adminWithPolicy|restricted|decrypt */
        if (type == 0) {
                ek->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
                assert_non_null(ek->key);
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
                p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.rsaDetail.keyBits = 2048;
                p->unique.rsa.size = 256;
                bn_param(ek->key, OSSL_PKEY_PARAM_RSA_N, p->unique.rsa.buffer, 256);
        } else {
                size_t c = type == 2 ? 48 : 32;

                ek->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", type == 2 ? "P-384" : "P-256");
                assert_non_null(ek->key);
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.eccDetail.symmetric.keyBits.aes = type == 2 ? 256 : 128;
                p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.eccDetail.curveID = type == 2 ? TPM2_ECC_NIST_P384 :
                                                              TPM2_ECC_NIST_P256;
                p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
                p->unique.ecc.x.size = p->unique.ecc.y.size = (UINT16) c;
                bn_param(ek->key, OSSL_PKEY_PARAM_EC_PUB_X, p->unique.ecc.x.buffer, c);
                bn_param(ek->key, OSSL_PKEY_PARAM_EC_PUB_Y, p->unique.ecc.y.buffer, c);
        }
        soft_ek_marshal(ek);
}

static void soft_ek_free(SoftEk *ek) {
        EVP_PKEY_free(ek->key);
        ek->key = NULL;
}

/*
 * TPM2_ActivateCredential in software, from Part 1 §24: recover the seed with the EK's private
 * key, check the outer HMAC over encIdentity || name, decrypt encIdentity. Returns the secret's
 * size, -EKEYREJECTED when the integrity check fails, -EBADMSG for broken structure.
 */
static int soft_activate(const SoftEk *ek, const uint8_t *name, size_t name_size,
                         const uint8_t *blob, size_t blob_size, const uint8_t *enc, size_t enc_size,
                         uint8_t *ret) {
        const EVP_MD *md = tpm_alg_to_evp(ek->pub.nameAlg);
        size_t dsize = (size_t) EVP_MD_get_size(md), seed_size = dsize, off = 0;
        size_t key_bits = ek->pub.type == TPM2_ALG_RSA ?
                                  ek->pub.parameters.rsaDetail.symmetric.keyBits.aes :
                                  ek->pub.parameters.eccDetail.symmetric.keyBits.aes;
        TPM2B_ID_OBJECT id = {};
        TPM2B_ENCRYPTED_SECRET es = {};
        uint8_t seed[512]; /* OpenSSL's RSA decryption wants room for a whole block */
        uint8_t hmac_key[64], sym[32], mac_in[sizeof(id.credential) + 68];
        uint8_t mac[EVP_MAX_MD_SIZE], plain[sizeof(id.credential)], iv[16] = {};
        unsigned int mac_size;
        int n = 0, fin = 0;

        if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob, blob_size, &off, &id) != TSS2_RC_SUCCESS ||
            off != blob_size)
                return -EBADMSG;
        off = 0;
        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(enc, enc_size, &off, &es) !=
                    TSS2_RC_SUCCESS ||
            off != enc_size)
                return -EBADMSG;

        if (ek->pub.type == TPM2_ALG_RSA) {
                EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ek->key, NULL);
                size_t out = sizeof(seed);

                assert_non_null(c);
                assert_true(EVP_PKEY_decrypt_init(c) == 1);
                assert_true(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1);
                assert_true(EVP_PKEY_CTX_set_rsa_oaep_md(c, md) == 1);
                assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) == 1);
                assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_memdup("IDENTITY", 9),
                                                             9) == 1);
                n = EVP_PKEY_decrypt(c, seed, &out, es.secret, es.size);
                EVP_PKEY_CTX_free(c);
                if (n != 1 || out != seed_size)
                        return -EKEYREJECTED;
        } else {
                TPMS_ECC_POINT q = {};
                TPMT_PUBLIC peer = ek->pub;
                EVP_PKEY *pk = NULL;
                EVP_PKEY_CTX *c;
                uint8_t z[66];
                size_t zs = sizeof(z);

                off = 0;
                if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(es.secret, es.size, &off, &q) !=
                            TSS2_RC_SUCCESS ||
                    off != es.size)
                        return -EBADMSG;
                peer.unique.ecc = q;
                assert_int_equal(tpm_public_to_pkey(&peer, &pk), 0);
                c = EVP_PKEY_CTX_new_from_pkey(NULL, ek->key, NULL);
                assert_true(EVP_PKEY_derive_init(c) == 1);
                assert_true(EVP_PKEY_derive_set_peer(c, pk) == 1);
                assert_true(EVP_PKEY_derive(c, z, &zs) == 1);
                EVP_PKEY_CTX_free(c);
                EVP_PKEY_free(pk);
                ref_kdfe(ek->pub.nameAlg, z, zs, "IDENTITY", q.x.buffer, q.x.size,
                         ek->pub.unique.ecc.x.buffer, ek->pub.unique.ecc.x.size, seed, seed_size);
        }

        /* credential = TPM2B_DIGEST(outerHMAC) || encIdentity */
        if (id.size < 2 || (size_t) (id.credential[0] << 8 | id.credential[1]) != dsize ||
            id.size <= 2 + dsize)
                return -EBADMSG;
        ref_kdfa(ek->pub.nameAlg, seed, seed_size, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, dsize);
        memcpy(mac_in, id.credential + 2 + dsize, id.size - 2 - dsize);
        memcpy(mac_in + id.size - 2 - dsize, name, name_size);
        assert_non_null(HMAC(md, hmac_key, (int) dsize, mac_in, id.size - 2 - dsize + name_size,
                             mac, &mac_size));
        if (CRYPTO_memcmp(mac, id.credential + 2, dsize) != 0)
                return -EKEYREJECTED;

        ref_kdfa(ek->pub.nameAlg, seed, seed_size, "STORAGE", name, name_size, NULL, 0, sym,
                 key_bits / 8);
        {
                EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
                const EVP_CIPHER *ci = key_bits == 256 ? EVP_aes_256_cfb128() :
                                                         EVP_aes_128_cfb128();

                assert_true(EVP_DecryptInit_ex(c, ci, NULL, sym, iv) == 1);
                assert_true(EVP_DecryptUpdate(c, plain, &n, id.credential + 2 + dsize,
                                              (int) (id.size - 2 - dsize)) == 1);
                assert_true(EVP_DecryptFinal_ex(c, plain + n, &fin) == 1);
                EVP_CIPHER_CTX_free(c);
        }
        n += fin;
        if (n < 2 || (plain[0] << 8 | plain[1]) != n - 2)
                return -EBADMSG;
        memcpy(ret, plain + 2, (size_t) n - 2);
        return n - 2;
}

static void make_name(uint16_t alg, uint8_t *name, size_t *size) {
        name[0] = (uint8_t) (alg >> 8);
        name[1] = (uint8_t) alg;
        *size = 2u + tpm_alg_digest_size(alg);
        assert_int_equal(RAND_bytes(name + 2, (int) *size - 2), 1);
}

static void round_trip(int type) {
        SoftEk ek;
        uint8_t name[2 + 64], other[2 + 64], secret[32], got[64];
        uint8_t *blob = NULL, *enc = NULL;
        size_t name_size, other_size, blob_size, enc_size;
        Diag d = {};

        soft_ek_new(type, &ek);
        /* The AK's name may use another hash than the EK's. */
        make_name(type == 2 ? TPM_ALG_SHA256 : TPM_ALG_SHA384, name, &name_size);
        make_name(TPM_ALG_SHA256, other, &other_size);
        assert_int_equal(RAND_bytes(secret, sizeof(secret)), 1);
        if (tpm_make_credential(ek.bytes, ek.size, name, name_size, secret, sizeof(secret), &blob,
                                &blob_size, &enc, &enc_size, &d) < 0)
                fail_msg("type %d: %s", type, d.text);
        if (type == 0)
                assert_int_equal(enc_size, 2 + 256);
        else
                assert_int_equal(enc_size, 2 + 2 * (2 + (type == 2 ? 48 : 32)));
        /* TPM2B_ID_OBJECT = size || TPM2B_DIGEST(HMAC) || AES-CFB(u16 size || secret) */
        assert_int_equal(blob_size, 2 + 2 + (type == 2 ? 48 : 32) + 2 + sizeof(secret));

        assert_int_equal(soft_activate(&ek, name, name_size, blob, blob_size, enc, enc_size, got),
                         (int) sizeof(secret));
        assert_memory_equal(got, secret, sizeof(secret));
        /* Activated for another key's name: the integrity check fails. */
        assert_int_equal(soft_activate(&ek, other, other_size, blob, blob_size, enc, enc_size, got),
                         -EKEYREJECTED);
        /* Any flipped bit of the HMAC or of encIdentity. */
        for (size_t i = 4; i < blob_size; i += 7) {
                blob[i] ^= 0x01;
                assert_int_equal(soft_activate(&ek, name, name_size, blob, blob_size, enc, enc_size,
                                               got), -EKEYREJECTED);
                blob[i] ^= 0x01;
        }
        /* Two credentials for the same inputs differ (fresh seed each time). */
        {
                uint8_t *blob2 = NULL, *enc2 = NULL;
                size_t b2, e2;

                assert_int_equal(tpm_make_credential(ek.bytes, ek.size, name, name_size, secret,
                                                     sizeof(secret), &blob2, &b2, &enc2, &e2, &d),
                                 0);
                assert_int_equal(b2, blob_size);
                assert_memory_not_equal(blob2, blob, blob_size);
                free(blob2);
                free(enc2);
        }
        free(blob);
        free(enc);

        /* A short secret, and a TPMT_PUBLIC (no size prefix) for the EK. */
        {
                uint8_t t[sizeof(TPMT_PUBLIC)];
                size_t ts = 0;

                assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&ek.pub, t, sizeof(t), &ts),
                                 TSS2_RC_SUCCESS);
                assert_int_equal(tpm_make_credential(t, ts, name, name_size, secret, 1, &blob,
                                                     &blob_size, &enc, &enc_size, &d), 0);
                assert_int_equal(soft_activate(&ek, name, name_size, blob, blob_size, enc,
                                               enc_size, got), 1);
                assert_int_equal(got[0], secret[0]);
                free(blob);
                free(enc);
        }
        soft_ek_free(&ek);
}

static void test_round_trip_rsa2048(void **state) {
        round_trip(0);
}

static void test_round_trip_ecc_p256(void **state) {
        round_trip(1);
}

static void test_round_trip_ecc_p384(void **state) {
        round_trip(2);
}

/* ---- hostile inputs ---- */

static SoftEk rsa_ek, ecc_ek;

static int group_setup(void **state) {
        soft_ek_new(0, &rsa_ek);
        soft_ek_new(1, &ecc_ek);
        return 0;
}

static int group_teardown(void **state) {
        soft_ek_free(&rsa_ek);
        soft_ek_free(&ecc_ek);
        return 0;
}

static int make_with(const TPMT_PUBLIC *pub, Diag *d) {
        SoftEk ek = { .pub = *pub };
        uint8_t name[34], secret[16] = { 1 }, *blob = NULL, *enc = NULL;
        size_t name_size, bs = 0, es = 0;
        int r;

        soft_ek_marshal(&ek);
        make_name(TPM_ALG_SHA256, name, &name_size);
        *d = (Diag) {};
        r = tpm_make_credential(ek.bytes, ek.size, name, name_size, secret, sizeof(secret), &blob,
                                &bs, &enc, &es, d);
        assert_true(r < 0 || (blob && enc));
        if (r < 0) {
                assert_null(blob);
                assert_null(enc);
                assert_true(d->text[0] != '\0');
        }
        free(blob);
        free(enc);
        return r;
}

static void test_ek_not_a_storage_key(void **state) {
        TPMT_PUBLIC p;
        Diag d;

        /* A restricted signing key (an AK) is not an EK. */
        p = rsa_ek.pub;
        p.objectAttributes = (p.objectAttributes & ~TPMA_OBJECT_DECRYPT) | TPMA_OBJECT_SIGN_ENCRYPT;
        p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        assert_int_equal(make_with(&p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "restricted decryption"));
        /* Decrypt but not restricted (a plain encryption key). */
        p = rsa_ek.pub;
        p.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
        assert_int_equal(make_with(&p, &d), -EBADMSG);
        /* Both sign and decrypt. */
        p = ecc_ek.pub;
        p.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
        assert_int_equal(make_with(&p, &d), -EBADMSG);
        /* No symmetric definition. */
        p = ecc_ek.pub;
        p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        assert_int_equal(make_with(&p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "symmetric"));
}

static void test_ek_unsupported(void **state) {
        TPMT_PUBLIC p;
        Diag d;

        p = rsa_ek.pub;
        p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_CAMELLIA;
        p.parameters.rsaDetail.symmetric.keyBits.camellia = 128;
        p.parameters.rsaDetail.symmetric.mode.camellia = TPM2_ALG_CFB;
        assert_int_equal(make_with(&p, &d), -EPROTONOSUPPORT);
        p = rsa_ek.pub;
        p.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CBC;
        assert_int_equal(make_with(&p, &d), -EPROTONOSUPPORT);
        p = rsa_ek.pub;
        p.parameters.rsaDetail.symmetric.keyBits.aes = 64;
        assert_int_equal(make_with(&p, &d), -EPROTONOSUPPORT);
        p = rsa_ek.pub;
        p.parameters.rsaDetail.keyBits = 1024;
        p.unique.rsa.size = 128;
        assert_int_equal(make_with(&p, &d), -EPROTONOSUPPORT);
        p = ecc_ek.pub;
        p.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
        assert_int_equal(make_with(&p, &d), -EPROTONOSUPPORT);
        p = ecc_ek.pub;
        p.nameAlg = TPM2_ALG_SM3_256;
        assert_int_equal(make_with(&p, &d), -EPROTONOSUPPORT);
}

static void test_ek_malformed(void **state) {
        uint8_t name[34], secret[16] = { 1 }, *blob = NULL, *enc = NULL, junk[64];
        size_t name_size, bs, es;
        TPMT_PUBLIC p;
        Diag d = {};

        make_name(TPM_ALG_SHA256, name, &name_size);
        /* Truncated at every length. */
        for (size_t n = 0; n < rsa_ek.size; n += 13) {
                d = (Diag) {};
                assert_int_equal(tpm_make_credential(rsa_ek.bytes, n, name, name_size, secret,
                                                     sizeof(secret), &blob, &bs, &enc, &es, &d),
                                 -EBADMSG);
        }
        /* Trailing bytes. */
        {
                uint8_t longer[sizeof(rsa_ek.bytes) + 1];

                memcpy(longer, rsa_ek.bytes, rsa_ek.size);
                longer[rsa_ek.size] = 0;
                assert_int_equal(tpm_make_credential(longer, rsa_ek.size + 1, name, name_size,
                                                     secret, sizeof(secret), &blob, &bs, &enc, &es,
                                                     &d), -EBADMSG);
        }
        memset(junk, 0xA5, sizeof(junk));
        assert_int_equal(tpm_make_credential(junk, sizeof(junk), name, name_size, secret,
                                             sizeof(secret), &blob, &bs, &enc, &es, &d), -EBADMSG);
        assert_int_equal(tpm_make_credential(NULL, 0, name, name_size, secret, sizeof(secret),
                                             &blob, &bs, &enc, &es, &d), -EBADMSG);
        /* A modulus shorter than keyBits says. */
        p = rsa_ek.pub;
        p.unique.rsa.size = 255;
        assert_int_equal(make_with(&p, &d), -EBADMSG);
        /* An EC point off the curve. */
        p = ecc_ek.pub;
        p.unique.ecc.y.buffer[31] ^= 1;
        assert_true(make_with(&p, &d) < 0);
        /* Coordinates longer than the curve's. */
        p = ecc_ek.pub;
        p.unique.ecc.x.size = 33;
        assert_int_equal(make_with(&p, &d), -EBADMSG);
        assert_null(blob);
        assert_null(enc);
}

static void test_bad_name_and_secret(void **state) {
        uint8_t name[2 + 64], secret[33] = { 1 }, *blob = NULL, *enc = NULL;
        size_t name_size, bs, es;
        Diag d = {};

        make_name(TPM_ALG_SHA256, name, &name_size);
        /* Name: empty, a digest of the wrong size, an unknown or NULL nameAlg, a handle. */
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, 0, secret, 16, &blob,
                                             &bs, &enc, &es, &d), -EBADMSG);
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, name_size - 1, secret,
                                             16, &blob, &bs, &enc, &es, &d), -EBADMSG);
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, name_size + 1, secret,
                                             16, &blob, &bs, &enc, &es, &d), -EBADMSG);
        name[1] = 0x10;
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, name_size, secret, 16,
                                             &blob, &bs, &enc, &es, &d), -EBADMSG);
        name[0] = 0x81;
        name[1] = 0x00;
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, 4, secret, 16, &blob,
                                             &bs, &enc, &es, &d), -EBADMSG);
        make_name(TPM_ALG_SHA256, name, &name_size);
        /* Secret: empty, or over 32 bytes. */
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, name_size, secret, 0,
                                             &blob, &bs, &enc, &es, &d), -EINVAL);
        assert_int_equal(tpm_make_credential(rsa_ek.bytes, rsa_ek.size, name, name_size, secret, 33,
                                             &blob, &bs, &enc, &es, &d), -EINVAL);
        assert_null(blob);
        assert_null(enc);
}

static X509 *self_signed(EVP_PKEY *key) {
        X509 *x = X509_new();

        assert_non_null(x);
        assert_true(X509_set_version(x, 2));
        assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
        assert_true(X509_set_pubkey(x, key));
        return x;
}

static void test_ek_matches_certificate(void **state) {
        _cleanup_(X509_freep) X509 *rsa_cert = self_signed(rsa_ek.key);
        _cleanup_(X509_freep) X509 *ecc_cert = self_signed(ecc_ek.key);
        uint8_t junk[16] = { 0 };
        TPMT_PUBLIC p;
        SoftEk e;

        assert_int_equal(tpm_ek_public_matches_certificate(rsa_ek.bytes, rsa_ek.size, rsa_cert), 1);
        assert_int_equal(tpm_ek_public_matches_certificate(ecc_ek.bytes, ecc_ek.size, ecc_cert), 1);
        assert_int_equal(tpm_ek_public_matches_certificate(rsa_ek.bytes, rsa_ek.size, ecc_cert), 0);
        assert_int_equal(tpm_ek_public_matches_certificate(ecc_ek.bytes, ecc_ek.size, rsa_cert), 0);
        /* One bit of the modulus. */
        p = rsa_ek.pub;
        p.unique.rsa.buffer[100] ^= 0x10;
        e = (SoftEk) { .pub = p };
        soft_ek_marshal(&e);
        assert_int_equal(tpm_ek_public_matches_certificate(e.bytes, e.size, rsa_cert), 0);
        /* Another exponent. */
        p = rsa_ek.pub;
        p.parameters.rsaDetail.exponent = 3;
        e = (SoftEk) { .pub = p };
        soft_ek_marshal(&e);
        assert_int_equal(tpm_ek_public_matches_certificate(e.bytes, e.size, rsa_cert), 0);
        assert_int_equal(tpm_ek_public_matches_certificate(junk, sizeof(junk), rsa_cert), -EBADMSG);
        assert_int_equal(tpm_ek_public_matches_certificate(rsa_ek.bytes, rsa_ek.size, NULL),
                         -EINVAL);
}

static void test_ak_public_check(void **state) {
        TPMT_PUBLIC ak = {
                .type = TPM2_ALG_ECC,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
        };
        TPM2B_NAME name, expect;
        SoftEk e;
        Diag d = {};

        ak.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        ak.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        ak.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        ak.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        ak.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        ak.unique.ecc = ecc_ek.pub.unique.ecc;
        e = (SoftEk) { .pub = ak };
        soft_ek_marshal(&e);
        assert_int_equal(tpm_ak_public_check(e.bytes, e.size, &name, &d), 0);
        assert_int_equal(tpm_public_name(&ak, &expect), 0);
        assert_int_equal(name.size, 34);
        assert_memory_equal(name.name, expect.name, name.size);

        /* An EK, a key that may leave the TPM, an unrestricted signing key. */
        assert_int_equal(tpm_ak_public_check(rsa_ek.bytes, rsa_ek.size, &name, &d), -EBADMSG);
        e.pub.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM;
        soft_ek_marshal(&e);
        assert_int_equal(tpm_ak_public_check(e.bytes, e.size, &name, &d), -EBADMSG);
        e.pub = ak;
        e.pub.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
        soft_ek_marshal(&e);
        d = (Diag) {};
        assert_int_equal(tpm_ak_public_check(e.bytes, e.size, &name, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "restricted signing"));
        assert_int_equal(tpm_ak_public_check(e.bytes, 3, &name, &d), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kdfa_known_answer),
                cmocka_unit_test(test_kdfa_matches_spec),
                cmocka_unit_test(test_kdfe_matches_spec),
                cmocka_unit_test(test_round_trip_rsa2048),
                cmocka_unit_test(test_round_trip_ecc_p256),
                cmocka_unit_test(test_round_trip_ecc_p384),
                cmocka_unit_test(test_ek_not_a_storage_key),
                cmocka_unit_test(test_ek_unsupported),
                cmocka_unit_test(test_ek_malformed),
                cmocka_unit_test(test_bad_name_and_secret),
                cmocka_unit_test(test_ek_matches_certificate),
                cmocka_unit_test(test_ak_public_check),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
