/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtpm/tpm-device.c against a real (software) TPM: run by tpm-device.sh with CVM_TCTI pointing at
 * the simulator's swtpm. The ephemeral key decrypts what OpenSSL encrypted to it (RSAES, OAEP with
 * SHA-1/256/384), inside its PCR policy; after a PCR moves it refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_esys.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-device.h"

#define AK_TEST_HANDLE 0x81000010u

static TpmDevice *tpm;

static int setup(void **state) {
        Diag d = {};
        const char *tcti = secure_getenv("CVM_TCTI");

        if (!tcti)
                return -1;
        if (tpm_device_open(tcti, &tpm, &d) < 0) {
                fprintf(stderr, "%s\n", d.text);
                return -1;
        }
        return 0;
}

static int teardown(void **state) {
        tpm = tpm_device_close(tpm);
        return 0;
}

static void test_ak_created_once(void **state) {
        uint8_t *a = NULL, *b = NULL;
        size_t an, bn;
        TPMT_PUBLIC pub;
        Diag d = {};

        /* Created and persisted the first time, found the second. */
        assert_int_equal(tpm_device_ak(tpm, AK_TEST_HANDLE, true, TPM_AK_ECC_P256, &a, &an, &d), 0);
        assert_int_equal(tpm_device_ak(tpm, AK_TEST_HANDLE, false, TPM_AK_ECC_P256, &b, &bn, &d), 0);
        assert_int_equal(an, bn);
        assert_memory_equal(a, b, an);
        assert_int_equal(tpm_public_parse(a, an, &pub, NULL), 0);
        assert_int_equal(pub.type, TPM2_ALG_ECC);
        assert_true(pub.objectAttributes & TPMA_OBJECT_RESTRICTED);
        free(a);
        free(b);
        /* Without create, a free handle is an error naming it. */
        assert_int_equal(tpm_device_ak(tpm, 0x81000077, false, TPM_AK_ECC_P256, &a, &an, &d),
                         -ENOENT);
        assert_non_null(strstr(d.text, "0x81000077"));
}

static void test_quote_verifies(void **state) {
        uint8_t *pub = NULL, *attest = NULL, *sig_bytes = NULL;
        size_t pub_size, attest_size, sig_size;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        TpmPcrSet pcrs = {}, sel = {};
        TPMT_PUBLIC tpub;
        TPMT_SIGNATURE sig;
        bool has, bare;
        const uint8_t nonce[] = "fresh nonce";
        TpmQuoteExpect e = { .nonce = nonce, .nonce_size = sizeof(nonce), .pcrs = &pcrs };
        Diag d = {};

        assert_int_equal(tpm_device_ak(tpm, AK_TEST_HANDLE, true, TPM_AK_ECC_P256, &pub, &pub_size, &d), 0);
        assert_int_equal(tpm_ak_load(pub, pub_size, &ak, &tpub, &has, &d), 0);
        assert_int_equal(tpm_device_pcr_read(tpm, TPM_ALG_SHA256, 0xFFFFFF, &pcrs, &d), 0);
        assert_int_equal(pcrs.banks[0].mask, 0xFFFFFF); /* 24 PCRs: three rounds of PCR_Read */
        tpm_pcr_set_bank_add(&sel, TPM_ALG_SHA256)->mask = 0xFF;
        assert_int_equal(tpm_device_quote(tpm, AK_TEST_HANDLE, &sel, nonce, sizeof(nonce), &attest,
                                          &attest_size, &sig_bytes, &sig_size, &d), 0);
        assert_int_equal(tpm_signature_parse(sig_bytes, sig_size, ak, TPM_ALG_SHA256, &sig, &bare, &d), 0);
        assert_false(bare);
        assert_int_equal(sig.sigAlg, TPM2_ALG_ECDSA);
        if (tpm_quote_verify(ak, attest, attest_size, &sig, &e, NULL, &d) < 0)
                fail_msg("%s", d.text);
        free(pub);
        free(attest);
        free(sig_bytes);
}

static int encrypt_to(EVP_PKEY *key, int padding, const EVP_MD *md, const uint8_t *in, size_t n,
                      uint8_t *out, size_t *out_size) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);

        if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, padding) <= 0)
                return -1;
        if (md && (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
                   EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0))
                return -1;
        return EVP_PKEY_encrypt(ctx, out, out_size, in, n) == 1 ? 0 : -1;
}

static void test_ephemeral_key(void **state) {
        static const struct {
                uint16_t scheme, hash;
                int padding;
                const char *md;
        } schemes[] = {
                { TPM2_ALG_RSAES, TPM2_ALG_NULL, RSA_PKCS1_PADDING, NULL },
                { TPM2_ALG_OAEP, TPM2_ALG_SHA1, RSA_PKCS1_OAEP_PADDING, "SHA1" },
                { TPM2_ALG_OAEP, TPM2_ALG_SHA256, RSA_PKCS1_OAEP_PADDING, "SHA256" },
                { TPM2_ALG_OAEP, TPM2_ALG_SHA384, RSA_PKCS1_OAEP_PADDING, "SHA384" },
        };
        uint8_t *pub = NULL, *info = NULL, *sig_bytes = NULL, *ak_pub = NULL;
        size_t pub_size, info_size, sig_size, ak_size;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL, *ak = NULL;
        TpmPcrSet sel = {};
        TPMT_PUBLIC tpub, akpub;
        TPMT_SIGNATURE sig;
        TPMS_ATTEST a;
        TPM2B_NAME name;
        bool has, bare;
        uint8_t secret[32], ct[512];
        size_t ct_size;
        Diag d = {};

        tpm_pcr_set_bank_add(&sel, TPM_ALG_SHA256)->mask = 0x7F; /* PCRs 0-6; 7 moves below */
        assert_int_equal(tpm_device_ak(tpm, AK_TEST_HANDLE, true, TPM_AK_ECC_P256, &ak_pub, &ak_size, &d), 0);
        assert_int_equal(tpm_ak_load(ak_pub, ak_size, &ak, &akpub, &has, &d), 0);
        if (tpm_device_ephemeral_key(tpm, AK_TEST_HANDLE, &sel, (const uint8_t *) "n", 1, &pub,
                                     &pub_size, &info, &info_size, &sig_bytes, &sig_size, &d) < 0)
                fail_msg("%s", d.text);
        /* Certified by the AK, over its name, with our nonce. */
        assert_int_equal(tpm_ak_load(pub, pub_size, &key, &tpub, &has, &d), 0);
        assert_true(has);
        assert_true(tpub.objectAttributes & TPMA_OBJECT_DECRYPT);
        assert_false(tpub.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
        assert_int_equal(tpub.authPolicy.size, 32);
        assert_int_equal(tpm_attest_parse(info, info_size, &a, &d), 0);
        assert_int_equal(a.type, TPM2_ST_ATTEST_CERTIFY);
        assert_int_equal(tpm_signature_parse(sig_bytes, sig_size, ak, TPM_ALG_SHA256, &sig, &bare, &d), 0);
        assert_int_equal(tpm_signature_verify(ak, &sig, info, info_size, &d), 0);
        assert_int_equal(tpm_public_name(&tpub, &name), 0);
        assert_memory_equal(name.name, a.attested.certify.name.name, name.size);

        for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
                _cleanup_(secret_freep) Secret *out = NULL;

                assert_int_equal(RAND_bytes(secret, sizeof(secret)), 1);
                ct_size = sizeof(ct);
                assert_int_equal(encrypt_to(key, schemes[i].padding,
                                            schemes[i].md ? EVP_get_digestbyname(schemes[i].md) : NULL,
                                            secret, sizeof(secret), ct, &ct_size), 0);
                if (tpm_device_decrypt(tpm, schemes[i].scheme, schemes[i].hash, ct, ct_size, &out, &d) < 0)
                        fail_msg("scheme %zu: %s", i, d.text);
                assert_int_equal(out->size, sizeof(secret));
                assert_int_equal(CRYPTO_memcmp(out->data, secret, sizeof(secret)), 0);
        }

        /* A PCR in the policy moves: the TPM refuses to decrypt. */
        {
                ESYS_CONTEXT *esys;
                TSS2_TCTI_CONTEXT *tcti;
                TPML_DIGEST_VALUES v = { .count = 1 };
                _cleanup_(secret_freep) Secret *out = NULL;

                assert_int_equal(tpm_device_esys(tpm, &esys, &tcti), 0);
                v.digests[0].hashAlg = TPM2_ALG_SHA256;
                memset(v.digests[0].digest.sha256, 0x5a, 32);
                assert_int_equal(Esys_PCR_Extend(esys, ESYS_TR_PCR0 + 3, ESYS_TR_PASSWORD,
                                                 ESYS_TR_NONE, ESYS_TR_NONE, &v), TSS2_RC_SUCCESS);
                ct_size = sizeof(ct);
                assert_int_equal(encrypt_to(key, RSA_PKCS1_PADDING, NULL, secret, sizeof(secret), ct,
                                            &ct_size), 0);
                memset(&d, 0, sizeof(d));
                assert_int_equal(tpm_device_decrypt(tpm, TPM2_ALG_RSAES, TPM2_ALG_NULL, ct, ct_size,
                                                    &out, &d), -EPERM);
                assert_null(out);
                assert_non_null(strstr(d.text, "PolicyPCR"));
        }
        free(pub);
        free(info);
        free(sig_bytes);
        free(ak_pub);
}

static void test_nv(void **state) {
        uint8_t *buf = NULL;
        size_t size;
        Diag d = {};

        /* swtpm_setup put an EK certificate at the TCG index. */
        assert_int_equal(tpm_device_nv_read(tpm, TPM_NV_EK_CERT_RSA, &buf, &size, &d), 0);
        assert_true(size > 100);
        assert_int_equal(buf[0], 0x30);
        free(buf);
        memset(&d, 0, sizeof(d));
        assert_int_equal(tpm_device_nv_read(tpm, 0x01500077, &buf, &size, &d), -ENOENT);
        assert_non_null(strstr(d.text, "0x01500077"));
}

static void test_no_tpm(void **state) {
        TpmDevice *t = NULL;
        Diag d = {};
        uint16_t algs[TPM_MAX_BANKS];
        size_t n;
        int r;

        /* Nothing listens on port 1: either the TCTI or the first command fails, clearly. */
        r = tpm_device_open("swtpm:host=127.0.0.1,port=1", &t, &d);
        if (r >= 0) {
                r = tpm_device_banks(t, algs, &n, &d);
                t = tpm_device_close(t);
        }
        assert_true(r == -ENODEV || r == -ECONNREFUSED);
        assert_true(d.text[0] != '\0');
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ak_created_once),
                cmocka_unit_test(test_quote_verifies),
                cmocka_unit_test(test_ephemeral_key),
                cmocka_unit_test(test_nv),
                cmocka_unit_test(test_no_tpm),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
