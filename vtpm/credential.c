/* SPDX-License-Identifier: Apache-2.0 */
/* TPM2_MakeCredential in software (pure, never logs): see credential.h. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "vtpm/credential.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-pcrs.h"

DEFINE_CLEANUP_FUNC(EVP_KDF *, EVP_KDF_free);
DEFINE_CLEANUP_FUNC(EVP_KDF_CTX *, EVP_KDF_CTX_free);
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free);
DEFINE_CLEANUP_FUNC(EVP_MAC *, EVP_MAC_free);
DEFINE_CLEANUP_FUNC(EVP_MAC_CTX *, EVP_MAC_CTX_free);

/* The labels of Part 1 §24: "IDENTITY" for the seed (the OAEP label includes its NUL),
 * "STORAGE" for the symmetric key, "INTEGRITY" for the HMAC key. */
#define LABEL_IDENTITY "IDENTITY"
#define LABEL_STORAGE "STORAGE"
#define LABEL_INTEGRITY "INTEGRITY"

/* Both KDFs: OpenSSL's KBKDF (counter mode, 32-bit counter first, label || 0x00 || context,
 * then L as 32 bits: exactly the TPM's KDFa) and SSKDF (32-bit counter, Z, info: the TPM's KDFe
 * with info = label || 0x00 || partyU || partyV). */
static int kdf_run(const char *kdf_name, uint16_t hash_alg, const uint8_t *key, size_t key_size,
                   const char *label, const uint8_t *u, size_t u_size, const uint8_t *v,
                   size_t v_size, uint8_t *ret, size_t ret_size) {
        _cleanup_(EVP_KDF_freep) EVP_KDF *kdf = NULL;
        _cleanup_(EVP_KDF_CTX_freep) EVP_KDF_CTX *ctx = NULL;
        _cleanup_(freep) uint8_t *info = NULL;
        const EVP_MD *md = tpm_alg_to_evp(hash_alg);
        bool kbkdf = streq(kdf_name, OSSL_KDF_NAME_KBKDF);
        size_t label_size = label ? strlen(label) : 0, info_size = 0;
        OSSL_PARAM params[7], *p = params;

        if (!md)
                return -EPROTONOSUPPORT;
        if (!key || key_size == 0 || !ret || ret_size == 0 || ret_size > UINT32_MAX / 8 ||
            u_size > 1024 || v_size > 1024)
                return -EINVAL;
        /* KBKDF takes the label (its "salt") apart and adds the 0x00 separator itself; SSKDF's
         * info carries all of it. */
        info = malloc(label_size + 1 + u_size + v_size);
        if (!info)
                return -ENOMEM;
        if (!kbkdf) {
                memcpy(info, label, label_size);
                info[label_size] = 0;
                info_size = label_size + 1;
        }
        if (u_size)
                memcpy(info + info_size, u, u_size);
        info_size += u_size;
        if (v_size)
                memcpy(info + info_size, v, v_size);
        info_size += v_size;

        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *) EVP_MD_get0_name(md), 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) key, key_size);
        if (kbkdf) {
                *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *) "HMAC", 0);
                *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *) "counter",
                                                        0);
                if (label_size)
                        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                                 (void *) label, label_size);
        }
        if (info_size)
                *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_size);
        *p = OSSL_PARAM_construct_end();

        kdf = EVP_KDF_fetch(NULL, kdf_name, NULL);
        ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
        if (!ctx || EVP_KDF_derive(ctx, ret, ret_size, params) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

int tpm_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_size, const char *label,
             const uint8_t *context_u, size_t context_u_size, const uint8_t *context_v,
             size_t context_v_size, uint8_t *ret, size_t ret_size) {
        return kdf_run(OSSL_KDF_NAME_KBKDF, hash_alg, key, key_size, label, context_u,
                       context_u_size, context_v, context_v_size, ret, ret_size);
}

int tpm_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_size, const char *label,
             const uint8_t *party_u, size_t party_u_size, const uint8_t *party_v,
             size_t party_v_size, uint8_t *ret, size_t ret_size) {
        return kdf_run(OSSL_KDF_NAME_SSKDF, hash_alg, z, z_size, label, party_u, party_u_size,
                       party_v, party_v_size, ret, ret_size);
}

/* The AES-CFB cipher of an EK's symmetric definition (a restricted decryption key must have
 * one, and the TPM allows only CFB for it). */
static int ek_symmetric(const TPMT_PUBLIC *pub, const EVP_CIPHER **ret, Diag *d) {
        const TPMT_SYM_DEF_OBJECT *sym = pub->type == TPM2_ALG_RSA ?
                                                 &pub->parameters.rsaDetail.symmetric :
                                                 &pub->parameters.eccDetail.symmetric;

        if (sym->algorithm == TPM2_ALG_NULL)
                return diag_set(d, -EBADMSG, "EK public area: no symmetric definition (not a "
                                "storage/endorsement key)");
        if (sym->algorithm != TPM2_ALG_AES)
                return diag_set(d, -EPROTONOSUPPORT, "EK public area: symmetric algorithm "
                                "0x%04x, only AES is supported", sym->algorithm);
        if (sym->mode.aes != TPM2_ALG_CFB)
                return diag_set(d, -EPROTONOSUPPORT, "EK public area: AES mode 0x%04x, not CFB",
                                sym->mode.aes);
        switch (sym->keyBits.aes) {
        case 128:
                *ret = EVP_aes_128_cfb128();
                return 0;
        case 192:
                *ret = EVP_aes_192_cfb128();
                return 0;
        case 256:
                *ret = EVP_aes_256_cfb128();
                return 0;
        default:
                return diag_set(d, -EPROTONOSUPPORT, "EK public area: AES key of %u bits",
                                sym->keyBits.aes);
        }
}

static int ek_parse(const uint8_t *buf, size_t size, TPMT_PUBLIC *ret, Diag *d) {
        TPMT_PUBLIC pub;
        const TPMA_OBJECT a = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                              TPMA_OBJECT_SIGN_ENCRYPT;
        int r;

        r = tpm_public_parse(buf, size, &pub, NULL);
        if (r < 0)
                return diag_set(d, r, "EK public area: %zu bytes, neither a TPM2B_PUBLIC nor a "
                                "TPMT_PUBLIC", size);
        if (pub.type != TPM2_ALG_RSA && pub.type != TPM2_ALG_ECC)
                return diag_set(d, -EPROTONOSUPPORT, "EK public area: key type 0x%04x, not RSA "
                                "or ECC", pub.type);
        if ((pub.objectAttributes & a) != (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT))
                return diag_set(d, -EBADMSG, "EK public area: attributes 0x%08x, not a restricted "
                                "decryption key", pub.objectAttributes);
        if (!tpm_alg_to_evp(pub.nameAlg))
                return diag_set(d, -EPROTONOSUPPORT, "EK public area: nameAlg 0x%04x",
                                pub.nameAlg);
        if (pub.type == TPM2_ALG_RSA) {
                uint16_t bits = pub.parameters.rsaDetail.keyBits;

                if (bits < 2048 || bits > 4096 || bits % 8)
                        return diag_set(d, -EPROTONOSUPPORT, "EK public area: RSA key of %u bits",
                                        bits);
                if (pub.unique.rsa.size != bits / 8)
                        return diag_set(d, -EBADMSG, "EK public area: RSA modulus of %u bytes for "
                                        "a %u-bit key", pub.unique.rsa.size, bits);
        }
        *ret = pub;
        return 0;
}

static int name_check(const uint8_t *name, size_t size, Diag *d) {
        uint16_t alg;

        if (!name || size < 2 || size > sizeof(((TPM2B_NAME *) NULL)->name))
                return diag_set(d, -EBADMSG, "AK name: %zu bytes", size);
        alg = (uint16_t) (name[0] << 8 | name[1]);
        if (tpm_alg_digest_size(alg) == 0 || !tpm_alg_to_evp(alg))
                return diag_set(d, -EBADMSG, "AK name: nameAlg 0x%04x is not a hash we know", alg);
        if (size != 2u + tpm_alg_digest_size(alg))
                return diag_set(d, -EBADMSG, "AK name: %zu bytes for a %s name (%u expected)",
                                size, tpm_alg_hash_name(alg), 2u + tpm_alg_digest_size(alg));
        return 0;
}

/* The seed, encrypted to an RSA EK: OAEP with the EK's nameAlg and label "IDENTITY\0". */
static int seed_rsa(EVP_PKEY *ek, const EVP_MD *md, const uint8_t *seed, size_t seed_size,
                    TPM2B_ENCRYPTED_SECRET *ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek,
                                                                                     NULL);
        size_t out_size = sizeof(ret->secret);
        void *label;

        if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
                return -EIO;
        label = OPENSSL_memdup(LABEL_IDENTITY, sizeof(LABEL_IDENTITY));
        if (!label)
                return -ENOMEM;
        if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, sizeof(LABEL_IDENTITY)) <= 0) {
                OPENSSL_free(label);
                return -EIO;
        }
        if (EVP_PKEY_encrypt(ctx, ret->secret, &out_size, seed, seed_size) <= 0)
                return -EIO;
        ret->size = (UINT16) out_size;
        return 0;
}

/* The seed, agreed with an ECC EK: an ephemeral key on its curve, Z = x of the ECDH point,
 * seed = KDFe(nameAlg, Z, "IDENTITY", ephemeral x, EK x); the encrypted secret is the ephemeral
 * public point, a marshalled TPMS_ECC_POINT. */
static int seed_ecc(EVP_PKEY *ek, const TPMT_PUBLIC *pub, uint8_t *seed, size_t seed_size,
                    TPM2B_ENCRYPTED_SECRET *ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *gen = NULL, *dh = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
        _cleanup_(BN_freep) BIGNUM *x = NULL, *y = NULL;
        TPMS_ECC_POINT point = {};
        uint8_t z[66];
        size_t z_size = sizeof(z), coord, off = 0;
        int bits, r;
        CLEANUP_ERASE(z);

        gen = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
        if (!gen || EVP_PKEY_keygen_init(gen) <= 0 || EVP_PKEY_keygen(gen, &eph) <= 0)
                return -EIO;
        bits = EVP_PKEY_get_bits(ek);
        coord = (size_t) (bits + 7) / 8;
        if (bits <= 0 || coord > sizeof(point.x.buffer))
                return -EPROTONOSUPPORT;
        if (!EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
            !EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
            BN_bn2binpad(x, point.x.buffer, (int) coord) < 0 ||
            BN_bn2binpad(y, point.y.buffer, (int) coord) < 0)
                return -EIO;
        point.x.size = point.y.size = (UINT16) coord;
        /* ECDH checks the EK's point is on its curve (set_peer validates it). */
        dh = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
        if (!dh || EVP_PKEY_derive_init(dh) <= 0 || EVP_PKEY_derive_set_peer(dh, ek) <= 0 ||
            EVP_PKEY_derive(dh, z, &z_size) <= 0)
                return -EIO;
        r = tpm_kdfe(pub->nameAlg, z, z_size, LABEL_IDENTITY, point.x.buffer, point.x.size,
                     pub->unique.ecc.x.buffer, pub->unique.ecc.x.size, seed, seed_size);
        if (r < 0)
                return r;
        if (Tss2_MU_TPMS_ECC_POINT_Marshal(&point, ret->secret, sizeof(ret->secret), &off) !=
            TSS2_RC_SUCCESS)
                return -EIO;
        ret->size = (UINT16) off;
        return 0;
}

/* HMAC(md, key, a || b) */
static int hmac_two(const EVP_MD *md, const uint8_t *key, size_t key_size, const uint8_t *a,
                    size_t a_size, const uint8_t *b, size_t b_size, uint8_t *ret,
                    size_t *ret_size) {
        _cleanup_(EVP_MAC_freep) EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        _cleanup_(EVP_MAC_CTX_freep) EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) EVP_MD_get0_name(md), 0),
                OSSL_PARAM_construct_end(),
        };

        if (!ctx || EVP_MAC_init(ctx, key, key_size, params) != 1 ||
            EVP_MAC_update(ctx, a, a_size) != 1 || EVP_MAC_update(ctx, b, b_size) != 1 ||
            EVP_MAC_final(ctx, ret, ret_size, (size_t) EVP_MAX_MD_SIZE) != 1)
                return -EIO;
        return 0;
}

static int aes_cfb_encrypt(const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *in,
                           size_t size, uint8_t *out) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        static const uint8_t iv[16] = {}; /* Part 1 §24.4: the IV is zero */
        int n = 0, fin = 0;

        if (!ctx || EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv) != 1 ||
            EVP_EncryptUpdate(ctx, out, &n, in, (int) size) != 1 ||
            EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1 || (size_t) (n + fin) != size)
                return -EIO;
        return 0;
}

static int marshal_out(const void *obj, bool id_object, uint8_t **ret, size_t *ret_size) {
        uint8_t buf[sizeof(TPM2B_ENCRYPTED_SECRET) + sizeof(TPM2B_ID_OBJECT)];
        size_t off = 0;
        TSS2_RC rc;

        rc = id_object ? Tss2_MU_TPM2B_ID_OBJECT_Marshal(obj, buf, sizeof(buf), &off) :
                         Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(obj, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS)
                return -EIO;
        *ret = malloc(off);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, buf, off);
        *ret_size = off;
        return 0;
}

int tpm_make_credential(const uint8_t *ek_public, size_t ek_public_size, const uint8_t *ak_name,
                        size_t ak_name_size, const uint8_t *secret, size_t secret_size,
                        uint8_t **ret_credential_blob, size_t *ret_blob_size,
                        uint8_t **ret_encrypted_secret, size_t *ret_secret_size, Diag *d) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ek = NULL;
        _cleanup_(freep) uint8_t *blob = NULL, *enc_secret = NULL;
        TPM2B_ENCRYPTED_SECRET wrapped = {};
        TPM2B_ID_OBJECT id = {};
        TPM2B_DIGEST cred = {}, integrity = {};
        TPMT_PUBLIC pub;
        const EVP_CIPHER *cipher = NULL;
        const EVP_MD *md;
        uint8_t seed[TPM_DIGEST_MAX], sym_key[32], hmac_key[TPM_DIGEST_MAX], plain[2 + 64];
        size_t digest_size, plain_size = 0, enc_off = 0, blob_size, secret_out_size, mac_size;
        int r;
        CLEANUP_ERASE(seed);
        CLEANUP_ERASE(sym_key);
        CLEANUP_ERASE(hmac_key);
        CLEANUP_ERASE(plain);
        CLEANUP_ERASE(cred);

        r = ek_parse(ek_public, ek_public_size, &pub, d);
        if (r < 0)
                return r;
        r = ek_symmetric(&pub, &cipher, d);
        if (r < 0)
                return r;
        r = name_check(ak_name, ak_name_size, d);
        if (r < 0)
                return r;
        md = tpm_alg_to_evp(pub.nameAlg);
        digest_size = tpm_alg_digest_size(pub.nameAlg);
        if (!secret || secret_size == 0 || secret_size > TPM_CREDENTIAL_SECRET_MAX ||
            secret_size > digest_size)
                return diag_set(d, -EINVAL, "credential: a secret of %zu bytes, 1 to %zu allowed",
                                secret_size, MIN((size_t) TPM_CREDENTIAL_SECRET_MAX, digest_size));
        r = tpm_public_to_pkey(&pub, &ek);
        if (r < 0)
                return diag_set(d, r, "EK public area: cannot make an OpenSSL key of it (%s)",
                                r == -EPROTONOSUPPORT ? "unsupported curve" : "bad key");

        /* The seed: as many bytes as the nameAlg's digest (Part 1 §24.4; the TPM refuses
         * another size). */
        if (RAND_priv_bytes(seed, (int) digest_size) != 1)
                return diag_set(d, -EIO, "credential: no random bytes");
        r = pub.type == TPM2_ALG_RSA ? seed_rsa(ek, md, seed, digest_size, &wrapped) :
                                       seed_ecc(ek, &pub, seed, digest_size, &wrapped);
        if (r < 0) {
                const char *why = ERR_reason_error_string(ERR_peek_last_error());

                r = diag_set(d, r, "credential: cannot encrypt the seed to the %s EK (%s)",
                             pub.type == TPM2_ALG_RSA ? "RSA" : "ECC", why ? why : "no detail");
                ERR_clear_error();
                return r;
        }

        /* symKey = KDFa(nameAlg, seed, "STORAGE", name, NULL, symmetric key bits);
         * HMACkey = KDFa(nameAlg, seed, "INTEGRITY", NULL, NULL, digest bits). */
        r = tpm_kdfa(pub.nameAlg, seed, digest_size, LABEL_STORAGE, ak_name, ak_name_size, NULL,
                     0, sym_key, (size_t) EVP_CIPHER_get_key_length(cipher));
        if (r >= 0)
                r = tpm_kdfa(pub.nameAlg, seed, digest_size, LABEL_INTEGRITY, NULL, 0, NULL, 0,
                             hmac_key, digest_size);
        if (r < 0)
                return diag_set(d, r, "credential: KDFa failed");

        /* encIdentity = AES-CFB(symKey, IV 0, marshalled TPM2B_DIGEST(secret)); it follows the
         * outer HMAC's TPM2B_DIGEST in the TPM2B_ID_OBJECT. */
        cred.size = (UINT16) secret_size;
        memcpy(cred.buffer, secret, secret_size);
        if (Tss2_MU_TPM2B_DIGEST_Marshal(&cred, plain, sizeof(plain), &plain_size) !=
            TSS2_RC_SUCCESS)
                return -EIO;
        integrity.size = (UINT16) digest_size;
        if (Tss2_MU_TPM2B_DIGEST_Marshal(&integrity, id.credential, sizeof(id.credential),
                                         &enc_off) != TSS2_RC_SUCCESS ||
            enc_off + plain_size > sizeof(id.credential))
                return -EIO;
        r = aes_cfb_encrypt(cipher, sym_key, plain, plain_size, id.credential + enc_off);
        if (r < 0)
                return diag_set(d, r, "credential: AES-CFB failed");

        /* outerHMAC = HMAC(nameAlg, HMACkey, encIdentity || name), written over the placeholder
         * digest (its size prefix stays). */
        r = hmac_two(md, hmac_key, digest_size, id.credential + enc_off, plain_size, ak_name,
                     ak_name_size, integrity.buffer, &mac_size);
        if (r < 0 || mac_size != digest_size)
                return diag_set(d, -EIO, "credential: HMAC failed");
        memcpy(id.credential + 2, integrity.buffer, digest_size);
        id.size = (UINT16) (enc_off + plain_size);

        r = marshal_out(&id, true, &blob, &blob_size);
        if (r >= 0)
                r = marshal_out(&wrapped, false, &enc_secret, &secret_out_size);
        if (r < 0)
                return diag_set(d, r, "credential: cannot marshal the outputs");
        *ret_credential_blob = TAKE_PTR(blob);
        *ret_blob_size = blob_size;
        *ret_encrypted_secret = TAKE_PTR(enc_secret);
        *ret_secret_size = secret_out_size;
        return 0;
}

int tpm_ek_public_matches_certificate(const uint8_t *ek_public, size_t size, X509 *cert) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        EVP_PKEY *cert_key;
        TPMT_PUBLIC pub;
        int r;

        r = tpm_public_parse(ek_public, size, &pub, NULL);
        if (r < 0)
                return r;
        cert_key = cert ? X509_get0_pubkey(cert) : NULL;
        if (!cert_key) {
                ERR_clear_error();
                return -EINVAL;
        }
        r = tpm_public_to_pkey(&pub, &key);
        if (r < 0) {
                ERR_clear_error();
                return r;
        }
        /* Compares the public components only: RSA n and e, or the EC group and point. */
        r = EVP_PKEY_eq(key, cert_key);
        ERR_clear_error();
        return r == 1 ? 1 : 0;
}

int tpm_ak_public_check(const uint8_t *ak_public, size_t size, TPM2B_NAME *ret_name, Diag *d) {
        const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
                                 TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
        TPMT_PUBLIC pub;
        TPM2B_NAME name;
        int r;

        r = tpm_public_parse(ak_public, size, &pub, NULL);
        if (r < 0)
                return diag_set(d, r, "AK public area: %zu bytes, neither a TPM2B_PUBLIC nor a "
                                "TPMT_PUBLIC", size);
        if ((pub.objectAttributes & need) != need || (pub.objectAttributes & TPMA_OBJECT_DECRYPT))
                return diag_set(d, -EBADMSG, "AK public area: attributes 0x%08x, not a restricted "
                                "signing key with fixedTPM and fixedParent",
                                pub.objectAttributes);
        if (pub.type != TPM2_ALG_RSA && pub.type != TPM2_ALG_ECC)
                return diag_set(d, -EBADMSG, "AK public area: key type 0x%04x, not RSA or ECC",
                                pub.type);
        r = tpm_public_name(&pub, &name);
        if (r < 0)
                return diag_set(d, r, "AK public area: nameAlg 0x%04x", pub.nameAlg);
        if (ret_name)
                *ret_name = name;
        return 0;
}
