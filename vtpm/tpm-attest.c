/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/openssl-util.h"
#include "vtpm/tpm-attest.h"

DEFINE_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);

int tpm_attest_parse(const uint8_t *buf, size_t size, TPMS_ATTEST *ret, Diag *d) {
        TPMS_ATTEST a = {};
        size_t off = 0;

        if (!buf || size == 0 || size > TPM_ATTEST_MAX_SIZE)
                return diag_set(d, -EBADMSG, "TPMS_ATTEST: %zu bytes, expected 1 to %u", size,
                                TPM_ATTEST_MAX_SIZE);
        if (Tss2_MU_TPMS_ATTEST_Unmarshal(buf, size, &off, &a) != TSS2_RC_SUCCESS)
                return diag_set(d, -EBADMSG, "TPMS_ATTEST: does not unmarshal (truncated, a size "
                                "field too large, or an unknown type)");
        if (off != size)
                return diag_set(d, -EBADMSG, "TPMS_ATTEST: %zu trailing bytes after offset %zu",
                                size - off, off);
        if (a.magic != TPM2_GENERATED_VALUE)
                return diag_set(d, -EBADMSG, "TPMS_ATTEST: magic at 0 is 0x%08x, not 0xff544347 "
                                "(TPM_GENERATED_VALUE)", a.magic);
        *ret = a;
        return 0;
}

static bool hash_supported(TPMI_ALG_HASH h) {
        return h == TPM2_ALG_SHA1 || h == TPM2_ALG_SHA256 || h == TPM2_ALG_SHA384 ||
               h == TPM2_ALG_SHA512;
}

int tpm_signature_parse(const uint8_t *buf, size_t size, EVP_PKEY *key, uint16_t bare_hash,
                        TPMT_SIGNATURE *ret, bool *ret_bare, Diag *d) {
        TPMT_SIGNATURE s = {};
        size_t off = 0;

        if (!buf || size == 0 || size > TPM_SIGNATURE_MAX_SIZE)
                return diag_set(d, -EBADMSG, "signature: %zu bytes", size);
        if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, size, &off, &s) == TSS2_RC_SUCCESS &&
            off == size &&
            (((s.sigAlg == TPM2_ALG_RSASSA || s.sigAlg == TPM2_ALG_RSAPSS) &&
              hash_supported(s.signature.rsassa.hash)) ||
             (s.sigAlg == TPM2_ALG_ECDSA && hash_supported(s.signature.ecdsa.hash)))) {
                *ret = s;
                *ret_bare = false;
                return 0;
        }
        /* Bare RSASSA bytes: exactly the modulus size. */
        if (key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
            size == (size_t) EVP_PKEY_get_size(key) && size <= TPM2_MAX_RSA_KEY_BYTES &&
            hash_supported(bare_hash)) {
                s = (TPMT_SIGNATURE) { .sigAlg = TPM2_ALG_RSASSA };
                s.signature.rsassa.hash = bare_hash;
                s.signature.rsassa.sig.size = (UINT16) size;
                memcpy(s.signature.rsassa.sig.buffer, buf, size);
                *ret = s;
                *ret_bare = true;
                return 0;
        }
        return diag_set(d, -EBADMSG, "signature: neither a TPMT_SIGNATURE (RSASSA, RSAPSS, ECDSA) "
                        "nor a bare RSA signature of the key's size");
}

int tpm_public_parse(const uint8_t *buf, size_t size, TPMT_PUBLIC *ret, Diag *d) {
        size_t off = 0;

        if (!buf || size < 2 || size > TPM_PUBLIC_MAX_SIZE)
                return diag_set(d, -EBADMSG, "TPM public area: %zu bytes", size);
        /* TPM2B_PUBLIC: a u16 size equal to the rest. */
        if (((size_t) buf[0] << 8 | buf[1]) == size - 2) {
                TPM2B_PUBLIC p = {};
                if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, size, &off, &p) == TSS2_RC_SUCCESS &&
                    off == size) {
                        *ret = p.publicArea;
                        return 0;
                }
                off = 0;
        }
        {
                TPMT_PUBLIC p = {};
                if (Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, size, &off, &p) == TSS2_RC_SUCCESS &&
                    off == size) {
                        *ret = p;
                        return 0;
                }
        }
        return diag_set(d, -EBADMSG, "TPM public area: neither a TPMT_PUBLIC nor a TPM2B_PUBLIC");
}

static const char *ecc_group(TPMI_ECC_CURVE c, size_t *ret_size) {
        switch (c) {
        case TPM2_ECC_NIST_P256:
                *ret_size = 32;
                return "prime256v1";
        case TPM2_ECC_NIST_P384:
                *ret_size = 48;
                return "secp384r1";
        case TPM2_ECC_NIST_P521:
                *ret_size = 66;
                return "secp521r1";
        default:
                return NULL;
        }
}

int tpm_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;
        uint8_t point[1 + 2 * 66];
        const char *type;

        if (!bld)
                return -ENOMEM;
        if (pub->type == TPM2_ALG_RSA) {
                uint32_t exp = pub->parameters.rsaDetail.exponent ?: 65537;

                type = "RSA";
                n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
                e = BN_new();
                if (!n || !e || !BN_set_word(e, exp) ||
                    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
                    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
                        return -ENOMEM;
                if (pub->unique.rsa.size == 0)
                        return -EBADMSG;
        } else if (pub->type == TPM2_ALG_ECC) {
                size_t sz;
                const char *group = ecc_group(pub->parameters.eccDetail.curveID, &sz);

                type = "EC";
                if (!group)
                        return -EPROTONOSUPPORT;
                /* Coordinates may come shorter than the field size: left-pad. */
                if (pub->unique.ecc.x.size > sz || pub->unique.ecc.y.size > sz)
                        return -EBADMSG;
                memset(point, 0, sizeof(point));
                point[0] = 0x04;
                memcpy(point + 1 + sz - pub->unique.ecc.x.size, pub->unique.ecc.x.buffer,
                       pub->unique.ecc.x.size);
                memcpy(point + 1 + 2 * sz - pub->unique.ecc.y.size, pub->unique.ecc.y.buffer,
                       pub->unique.ecc.y.size);
                if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
                    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * sz))
                        return -ENOMEM;
        } else
                return -EPROTONOSUPPORT;
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        if (!params || !ctx)
                return -ENOMEM;
        if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, ret, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
                ERR_clear_error();
                return -EBADMSG;
        }
        return 0;
}

int tpm_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *ret) {
        uint8_t buf[sizeof(TPMT_PUBLIC)];
        unsigned int md_size;
        const EVP_MD *md = tpm_alg_to_evp(pub->nameAlg);
        size_t off = 0;

        if (!md)
                return -EPROTONOSUPPORT;
        if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                return -EBADMSG;
        ret->name[0] = (uint8_t) (pub->nameAlg >> 8);
        ret->name[1] = (uint8_t) pub->nameAlg;
        if (!EVP_Digest(buf, off, ret->name + 2, &md_size, md, NULL))
                return -ENOMEM;
        ret->size = (UINT16) (2 + md_size);
        return 0;
}

int tpm_ak_load(const uint8_t *buf, size_t size, EVP_PKEY **ret, TPMT_PUBLIC *ret_public,
                bool *ret_has_public, Diag *d) {
        _cleanup_(json_object_putp) json_object *jwk = NULL;
        TPMT_PUBLIC pub;
        EVP_PKEY *k = NULL;

        *ret_has_public = false;
        if (size > 2 && memmem(buf, MIN(size, (size_t) 4096), "-----BEGIN", 10)) {
                _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(buf, (int) MIN(size, (size_t) INT32_MAX));
                k = bio ? PEM_read_bio_PUBKEY(bio, NULL, pem_no_password, NULL) : NULL;
                if (!k) {
                        ERR_clear_error();
                        return diag_set(d, -EBADMSG, "AK: PEM without a public key");
                }
        } else if (size > 0 && buf[0] == '{') {
                if (json_parse_capped((const char *) buf, size, 64 * 1024, 8, &jwk) < 0)
                        return diag_set(d, -EBADMSG, "AK: not valid JSON");
                return jwk_to_pkey(jwk, ret, d);
        } else if (tpm_public_parse(buf, size, &pub, NULL) >= 0) {
                int r = tpm_public_to_pkey(&pub, &k);
                if (r < 0)
                        return diag_set(d, r, "AK: TPM public area of an unsupported type");
                *ret_public = pub;
                *ret_has_public = true;
        } else {
                const unsigned char *p = buf;
                k = d2i_PUBKEY(NULL, &p, (long) size);
                if (!k || p != buf + size) {
                        EVP_PKEY_free(k);
                        ERR_clear_error();
                        return diag_set(d, -EBADMSG, "AK: not PEM, DER, a TPM public area or a JWK");
                }
        }
        *ret = k;
        return 0;
}

static int ecdsa_der(const TPMS_SIGNATURE_ECC *ecc, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(ecc->signatureR.buffer, ecc->signatureR.size, NULL);
        BIGNUM *s = BN_bin2bn(ecc->signatureS.buffer, ecc->signatureS.size, NULL);
        unsigned char *der = NULL;
        int n;

        if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
                BN_free(r);
                BN_free(s);
                return -ENOMEM;
        }
        n = i2d_ECDSA_SIG(sig, &der);
        if (n <= 0)
                return -ENOMEM;
        *ret = der;
        *ret_size = (size_t) n;
        return 0;
}

int tpm_signature_verify(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const uint8_t *raw,
                         size_t raw_size, Diag *d) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        uint8_t *der = NULL;
        const uint8_t *sig_bytes;
        size_t sig_size;
        const EVP_MD *md;
        bool rsa = sig->sigAlg == TPM2_ALG_RSASSA || sig->sigAlg == TPM2_ALG_RSAPSS;
        int k, key_type = EVP_PKEY_get_base_id(key);

        if (!ctx)
                return -ENOMEM;
        if (rsa ? key_type != EVP_PKEY_RSA : key_type != EVP_PKEY_EC)
                return diag_set(d, -EKEYREJECTED, "signature: a %s signature, but the key is %s",
                                rsa ? "RSA" : "ECDSA", key_type == EVP_PKEY_RSA ? "RSA" : "EC");
        md = tpm_alg_to_evp(rsa ? sig->signature.rsassa.hash : sig->signature.ecdsa.hash);
        if (!md)
                return diag_set(d, -EBADMSG, "signature: unsupported hash algorithm");
        if (rsa) {
                sig_bytes = sig->signature.rsassa.sig.buffer;
                sig_size = sig->signature.rsassa.sig.size;
        } else {
                if (ecdsa_der(&sig->signature.ecdsa, &der, &sig_size) < 0)
                        return -ENOMEM;
                sig_bytes = der;
        }
        if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) <= 0 ||
            (sig->sigAlg == TPM2_ALG_RSASSA &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) ||
            (sig->sigAlg == TPM2_ALG_RSAPSS &&
             (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
              /* The TPM salts with the digest size; accept what the signature carries. */
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0))) {
                OPENSSL_free(der);
                ERR_clear_error();
                return -ENOMEM;
        }
        k = EVP_DigestVerify(ctx, sig_bytes, sig_size, raw, raw_size);
        OPENSSL_free(der);
        ERR_clear_error();
        if (k != 1)
                return diag_set(d, -EKEYREJECTED, "signature does not verify with the AK");
        return 0;
}

void tpm_quote_selection(const TPMS_ATTEST *a, TpmPcrSet *ret) {
        const TPML_PCR_SELECTION *sel = &a->attested.quote.pcrSelect;

        *ret = (TpmPcrSet) {};
        for (UINT32 i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
                const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
                TpmPcrBank *b = tpm_pcr_set_bank_add(ret, s->hash);

                if (!b)
                        continue;
                for (unsigned j = 0; j < s->sizeofSelect && j < sizeof(s->pcrSelect); j++)
                        for (unsigned bit = 0; bit < 8; bit++)
                                if ((s->pcrSelect[j] >> bit) & 1 && 8 * j + bit < TPM_PCR_COUNT)
                                        b->mask |= UINT32_C(1) << (8 * j + bit);
        }
}

/* pcrDigest over the expected values of every selected PCR, in selection order. */
static int pcr_digest(const TPMS_ATTEST *a, const TpmPcrSet *pcrs, const EVP_MD *md,
                      uint8_t *out, unsigned *out_size, Diag *d) {
        const TPML_PCR_SELECTION *sel = &a->attested.quote.pcrSelect;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) <= 0)
                return -ENOMEM;
        for (UINT32 i = 0; i < sel->count; i++) {
                const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
                const TpmPcrBank *b = tpm_pcr_set_bank(pcrs, s->hash);
                const char *name = tpm_alg_hash_name(s->hash);

                if (s->sizeofSelect > sizeof(s->pcrSelect))
                        return diag_set(d, -EBADMSG, "quote: PCR selection %u is %u bytes", i,
                                        s->sizeofSelect);
                for (unsigned j = 0; j < s->sizeofSelect; j++)
                        for (unsigned bit = 0; bit < 8; bit++) {
                                unsigned idx = 8 * j + bit;

                                if (!((s->pcrSelect[j] >> bit) & 1))
                                        continue;
                                if (idx >= TPM_PCR_COUNT)
                                        return diag_set(d, -EBADMSG, "quote: selects PCR %u", idx);
                                if (!b || !(b->mask & (UINT32_C(1) << idx)))
                                        return diag_set(d, -EXDEV, "quote selects %s PCR %u but "
                                                        "no value for it was given",
                                                        name ? name : "an unknown bank", idx);
                                if (EVP_DigestUpdate(ctx, b->value[idx], b->size) <= 0)
                                        return -ENOMEM;
                        }
        }
        if (EVP_DigestFinal_ex(ctx, out, out_size) <= 0)
                return -ENOMEM;
        return 0;
}

int tpm_quote_verify(EVP_PKEY *key, const uint8_t *raw, size_t raw_size,
                     const TPMT_SIGNATURE *sig, const TpmQuoteExpect *expect,
                     TPMS_ATTEST *ret_attest, Diag *d) {
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned digest_size;
        TPMS_ATTEST a;
        int r;

        r = tpm_attest_parse(raw, raw_size, &a, d);
        if (r < 0)
                return r;
        if (a.type != TPM2_ST_ATTEST_QUOTE)
                return diag_set(d, -EBADMSG, "quote: type at 4 is 0x%04x, not 0x8018 "
                                "(TPM_ST_ATTEST_QUOTE)", a.type);
        r = tpm_signature_verify(key, sig, raw, raw_size, d);
        if (r < 0)
                return diag_set(d, r, "quote: signature does not verify with the AK");
        if (expect && expect->nonce &&
            (a.extraData.size != expect->nonce_size ||
             memcmp(a.extraData.buffer, expect->nonce, expect->nonce_size) != 0)) {
                char got[2 * sizeof(a.extraData.buffer) + 1];
                hex_encode_buf(a.extraData.buffer, a.extraData.size, got);
                return diag_set(d, -ESTALE, "quote: extraData is '%s', not the expected nonce",
                                got);
        }
        /* qualifiedSigner is the AK's *qualified* name (a hash over its parents' names too),
         * which the verifier cannot recompute from the public area alone; the signature is what
         * ties the quote to the AK. */
        if (expect && expect->pcrs) {
                const TPMI_ALG_HASH h = sig->sigAlg == TPM2_ALG_ECDSA ? sig->signature.ecdsa.hash
                                                                      : sig->signature.rsassa.hash;
                r = pcr_digest(&a, expect->pcrs, tpm_alg_to_evp(h), digest, &digest_size, d);
                if (r < 0)
                        return r;
                if (digest_size != a.attested.quote.pcrDigest.size ||
                    memcmp(digest, a.attested.quote.pcrDigest.buffer, digest_size) != 0)
                        return diag_set(d, -EXDEV, "quote: pcrDigest differs from the digest of "
                                        "the given PCR values");
        }
        if (ret_attest)
                *ret_attest = a;
        return 0;
}

int tpm_attest_to_json(const TPMS_ATTEST *a, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char fw[20];

        if (!o)
                return -ENOMEM;
        (void) snprintf(fw, sizeof(fw), "%016llx", (unsigned long long) a->firmwareVersion);
        if (json_add_string(o, "type", a->type == TPM2_ST_ATTEST_QUOTE     ? "quote"
                                       : a->type == TPM2_ST_ATTEST_CERTIFY ? "certify"
                                                                           : "other") < 0 ||
            json_add_hex(o, "qualified_signer", a->qualifiedSigner.name, a->qualifiedSigner.size) < 0 ||
            json_add_hex(o, "extra_data", a->extraData.buffer, a->extraData.size) < 0 ||
            json_add_int(o, "clock", (int64_t) a->clockInfo.clock) < 0 ||
            json_add_int(o, "reset_count", a->clockInfo.resetCount) < 0 ||
            json_add_int(o, "restart_count", a->clockInfo.restartCount) < 0 ||
            json_add_bool(o, "safe", a->clockInfo.safe) < 0 ||
            json_add_string(o, "firmware_version", fw) < 0)
                return -ENOMEM;
        if (a->type == TPM2_ST_ATTEST_QUOTE) {
                json_object *sel = json_object_new_object();
                TpmPcrSet set;

                if (json_add(o, "pcr_select", sel) < 0)
                        return -ENOMEM;
                tpm_quote_selection(a, &set);
                for (size_t b = 0; b < set.n_banks; b++) {
                        json_object *arr = json_object_new_array();
                        if (json_add(sel, tpm_alg_hash_name(set.banks[b].alg), arr) < 0)
                                return -ENOMEM;
                        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                                if (set.banks[b].mask & (UINT32_C(1) << i))
                                        json_object_array_add(arr, json_object_new_int((int) i));
                }
                if (json_add_hex(o, "pcr_digest", a->attested.quote.pcrDigest.buffer,
                                 a->attested.quote.pcrDigest.size) < 0)
                        return -ENOMEM;
        } else if (a->type == TPM2_ST_ATTEST_CERTIFY) {
                if (json_add_hex(o, "name", a->attested.certify.name.name,
                                 a->attested.certify.name.size) < 0 ||
                    json_add_hex(o, "qualified_name", a->attested.certify.qualifiedName.name,
                                 a->attested.certify.qualifiedName.size) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int tpm_policy_pcr_digest(uint16_t alg, const TpmPcrSet *pcrs, uint8_t ret[TPM_DIGEST_MAX],
                          size_t *ret_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        const EVP_MD *md = tpm_alg_to_evp(alg);
        uint8_t sel_buf[sizeof(TPML_PCR_SELECTION)], zeros[TPM_DIGEST_MAX] = {},
                values_digest[EVP_MAX_MD_SIZE], cc[4] = { 0x00, 0x00, 0x01, 0x7F }; /* PolicyPCR */
        TPML_PCR_SELECTION sel = {};
        unsigned n, vn;
        size_t off = 0;

        if (!md || !ctx)
                return md ? -ENOMEM : -EPROTONOSUPPORT;
        if (EVP_DigestInit_ex(ctx, md, NULL) <= 0)
                return -ENOMEM;
        for (size_t b = 0; b < pcrs->n_banks && sel.count < TPM2_NUM_PCR_BANKS; b++) {
                const TpmPcrBank *bank = &pcrs->banks[b];
                TPMS_PCR_SELECTION *s = &sel.pcrSelections[sel.count];

                if (!bank->mask)
                        continue;
                *s = (TPMS_PCR_SELECTION) { .hash = bank->alg, .sizeofSelect = 3 };
                for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                        if (bank->mask & (UINT32_C(1) << i)) {
                                s->pcrSelect[i / 8] |= (uint8_t) (1u << (i % 8));
                                if (EVP_DigestUpdate(ctx, bank->value[i], bank->size) <= 0)
                                        return -ENOMEM;
                        }
                sel.count++;
        }
        if (EVP_DigestFinal_ex(ctx, values_digest, &vn) <= 0 ||
            Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, sel_buf, sizeof(sel_buf), &off) != TSS2_RC_SUCCESS)
                return -ENOMEM;
        n = (unsigned) EVP_MD_get_size(md);
        if (EVP_DigestInit_ex(ctx, md, NULL) <= 0 || EVP_DigestUpdate(ctx, zeros, n) <= 0 ||
            EVP_DigestUpdate(ctx, cc, sizeof(cc)) <= 0 || EVP_DigestUpdate(ctx, sel_buf, off) <= 0 ||
            EVP_DigestUpdate(ctx, values_digest, vn) <= 0 || EVP_DigestFinal_ex(ctx, ret, &n) <= 0)
                return -ENOMEM;
        *ret_size = n;
        return 0;
}
