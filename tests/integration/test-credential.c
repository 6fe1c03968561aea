/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credential activation against swtpm, run by credential.sh with CVM_TCTI pointing at the
 * simulator's vTPM: the EK certificates swtpm_setup wrote certify the EKs tpm_device_ek() makes
 * from the TCG templates; a credential made in software (vtpm/credential.c) for the simulator's
 * AK activates in the TPM and gives the secret back; one made for another name, another EK, or
 * altered in transit is refused with -EKEYREJECTED. With CVM_CRED_DIR set, it also exchanges
 * credentials with tpm2-tools in their file format (tpm2_makecredential's output in
 * tools.cred/tools.secret is activated here; ours goes to ours.cred/ours.secret for
 * tpm2_activatecredential) and writes the EK certificates there for `openssl verify`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "vtpm/credential.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-device.h"

#define AK_ECC_HANDLE 0x81000011u

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

static const char *cred_dir(void) {
        return secure_getenv("CVM_CRED_DIR");
}

static void write_file(const char *name, const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
        char path[4096];
        FILE *f;

        if (!cred_dir())
                return;
        assert_true(snprintf(path, sizeof(path), "%s/%s", cred_dir(), name) < (int) sizeof(path));
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(a, 1, an, f), an);
        if (bn)
                assert_int_equal(fwrite(b, 1, bn, f), bn);
        assert_int_equal(fclose(f), 0);
}

/* The AK's name, from its public area (checked to be a restricted signing key). */
static void ak_name(uint32_t handle, TpmAkType type, TPM2B_NAME *ret) {
        uint8_t *pub = NULL;
        size_t size;
        Diag d = {};

        if (tpm_device_ak(tpm, handle, true, type, &pub, &size, &d) < 0)
                fail_msg("AK 0x%08x: %s", handle, d.text);
        if (tpm_ak_public_check(pub, size, ret, &d) < 0)
                fail_msg("AK 0x%08x: %s", handle, d.text);
        free(pub);
}

static void make(TpmEkType ek_type, const uint8_t *name, size_t name_size, const uint8_t *secret,
                 size_t secret_size, uint8_t **blob, size_t *blob_size, uint8_t **enc,
                 size_t *enc_size) {
        uint8_t *ek = NULL;
        size_t ek_size;
        Diag d = {};

        if (tpm_device_ek(tpm, ek_type, &ek, &ek_size, &d) < 0)
                fail_msg("EK %d: %s", (int) ek_type, d.text);
        if (tpm_make_credential(ek, ek_size, name, name_size, secret, secret_size, blob, blob_size,
                                enc, enc_size, &d) < 0)
                fail_msg("EK %d: %s", (int) ek_type, d.text);
        free(ek);
}

/* swtpm_setup certifies an RSA 2048 EK (L-1) and an ECC P-384 one (H-3): the keys made from the
 * templates are the certified ones, and the certificates chain to the directory's local CA. */
static void test_ek_certificates(void **state) {
        static const struct {
                TpmEkType type;
                const char *file;
        } eks[] = {
                { TPM_EK_RSA_2048, "ek-rsa2048.der" },
                { TPM_EK_ECC_P384, "ek-eccp384.der" },
        };
        X509 *certs[2] = {};
        uint8_t *pubs[2] = {};
        size_t pub_sizes[2];

        for (size_t i = 0; i < ELEMENTSOF(eks); i++) {
                _cleanup_(freep) uint8_t *der = NULL;
                const unsigned char *p;
                size_t der_size;
                TPMT_PUBLIC pub;
                Diag d = {};

                if (tpm_device_ek_certificate(tpm, eks[i].type, &der, &der_size, &d) < 0)
                        fail_msg("%s", d.text);
                p = der;
                certs[i] = d2i_X509(NULL, &p, (long) der_size);
                assert_non_null(certs[i]);
                assert_ptr_equal(p, der + der_size); /* the padding is gone */
                write_file(eks[i].file, der, der_size, NULL, 0);

                if (tpm_device_ek(tpm, eks[i].type, &pubs[i], &pub_sizes[i], &d) < 0)
                        fail_msg("%s", d.text);
                assert_int_equal(tpm_public_parse(pubs[i], pub_sizes[i], &pub, &d), 0);
                assert_int_equal(pub.objectAttributes & 0x000300B2, 0x000300B2);
                assert_int_equal(tpm_ek_public_matches_certificate(pubs[i], pub_sizes[i], certs[i]),
                                 1);
        }
        /* Each EK matches only its own certificate. */
        assert_int_equal(tpm_ek_public_matches_certificate(pubs[0], pub_sizes[0], certs[1]), 0);
        assert_int_equal(tpm_ek_public_matches_certificate(pubs[1], pub_sizes[1], certs[0]), 0);
        /* The same key every time. */
        {
                uint8_t *again = NULL;
                size_t again_size;

                assert_int_equal(tpm_device_ek(tpm, TPM_EK_RSA_2048, &again, &again_size, NULL), 0);
                assert_int_equal(again_size, pub_sizes[0]);
                assert_memory_equal(again, pubs[0], again_size);
                free(again);
        }
        for (size_t i = 0; i < 2; i++) {
                X509_free(certs[i]);
                free(pubs[i]);
        }
}

static void test_ek_p256_template(void **state) {
        uint8_t *pub = NULL, *der = NULL;
        size_t size;
        TPMT_PUBLIC p;
        Diag d = {};

        /* L-2 is made (swtpm certifies no P-256 EK: its index is absent). */
        assert_int_equal(tpm_device_ek(tpm, TPM_EK_ECC_P256, &pub, &size, &d), 0);
        assert_int_equal(tpm_public_parse(pub, size, &p, &d), 0);
        assert_int_equal(p.type, TPM2_ALG_ECC);
        assert_int_equal(p.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
        assert_int_equal(p.unique.ecc.x.size, 32);
        assert_int_equal(p.objectAttributes, 0x000300B2);
        free(pub);
        assert_int_equal(tpm_device_ek_certificate(tpm, TPM_EK_ECC_P256, &der, &size, &d), -ENOENT);
        assert_null(der);
        assert_int_equal(tpm_device_ek(tpm, (TpmEkType) 7, &pub, &size, &d), -EINVAL);
}

/* For every EK template and both AKs (the simulator's RSA AK at 0x81000003, an ECC AK made
 * here): the TPM gives back the secret. */
static void test_activate(void **state) {
        static const TpmEkType types[] = { TPM_EK_RSA_2048, TPM_EK_ECC_P256, TPM_EK_ECC_P384 };
        static const struct {
                uint32_t handle;
                TpmAkType type;
        } aks[] = {
                { TPM_AK_HANDLE_AZURE, TPM_AK_RSA_2048 },
                { AK_ECC_HANDLE, TPM_AK_ECC_P256 },
        };

        for (size_t a = 0; a < ELEMENTSOF(aks); a++) {
                TPM2B_NAME name;

                ak_name(aks[a].handle, aks[a].type, &name);
                for (size_t e = 0; e < ELEMENTSOF(types); e++) {
                        _cleanup_(secret_freep) Secret *got = NULL;
                        uint8_t secret[32], *blob = NULL, *enc = NULL;
                        size_t blob_size, enc_size;
                        Diag d = {};

                        assert_int_equal(RAND_bytes(secret, sizeof(secret)), 1);
                        make(types[e], name.name, name.size, secret, sizeof(secret), &blob,
                             &blob_size, &enc, &enc_size);
                        if (tpm_device_activate_credential(tpm, aks[a].handle, types[e], blob,
                                                           blob_size, enc, enc_size, &got, &d) < 0)
                                fail_msg("AK 0x%08x, EK %d: %s", aks[a].handle, (int) types[e],
                                         d.text);
                        assert_int_equal(got->size, sizeof(secret));
                        assert_int_equal(CRYPTO_memcmp(got->data, secret, sizeof(secret)), 0);
                        if (a == 0 && types[e] == TPM_EK_RSA_2048) {
                                /* For tpm2_activatecredential: its file format is a header
                                 * (0xBADCC0DE, version 1), then the two structures. */
                                static const uint8_t header[8] = { 0xBA, 0xDC, 0xC0, 0xDE,
                                                                   0, 0, 0, 1 };
                                uint8_t both[8 + 2048];

                                assert_true(8 + blob_size + enc_size <= sizeof(both));
                                memcpy(both, header, 8);
                                memcpy(both + 8, blob, blob_size);
                                memcpy(both + 8 + blob_size, enc, enc_size);
                                write_file("ours.cred", both, 8 + blob_size + enc_size, NULL, 0);
                                write_file("ours.secret", secret, sizeof(secret), NULL, 0);
                        }
                        free(blob);
                        free(enc);
                }
        }
}

static void test_refused(void **state) {
        _cleanup_(secret_freep) Secret *got = NULL;
        uint8_t secret[32], other[34], *blob = NULL, *enc = NULL;
        size_t blob_size, enc_size;
        TPM2B_NAME name;
        Diag d = {};

        ak_name(TPM_AK_HANDLE_AZURE, TPM_AK_RSA_2048, &name);
        assert_int_equal(RAND_bytes(secret, sizeof(secret)), 1);

        /* Made for another key's name: not for this AK. */
        other[0] = 0x00;
        other[1] = 0x0B;
        assert_int_equal(RAND_bytes(other + 2, 32), 1);
        make(TPM_EK_RSA_2048, other, sizeof(other), secret, sizeof(secret), &blob, &blob_size, &enc,
             &enc_size);
        assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048,
                                                        blob, blob_size, enc, enc_size, &got, &d),
                         -EKEYREJECTED);
        assert_null(got);
        assert_non_null(strstr(d.text, "not for this AK/TPM"));
        free(blob);
        free(enc);

        /* Made for the simulator's other AK (a real name, the wrong key). */
        {
                TPM2B_NAME ecc;

                ak_name(AK_ECC_HANDLE, TPM_AK_ECC_P256, &ecc);
                make(TPM_EK_ECC_P384, ecc.name, ecc.size, secret, sizeof(secret), &blob,
                     &blob_size, &enc, &enc_size);
                d = (Diag) {};
                assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE,
                                                                TPM_EK_ECC_P384, blob, blob_size,
                                                                enc, enc_size, &got, &d),
                                 -EKEYREJECTED);
                free(blob);
                free(enc);
        }

        /* Right name and EK, a flipped byte in the HMAC or in encIdentity. */
        make(TPM_EK_RSA_2048, name.name, name.size, secret, sizeof(secret), &blob, &blob_size, &enc,
             &enc_size);
        for (size_t i = 4; i < blob_size; i += 17) {
                blob[i] ^= 0x80;
                d = (Diag) {};
                assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE,
                                                                TPM_EK_RSA_2048, blob, blob_size,
                                                                enc, enc_size, &got, &d),
                                 -EKEYREJECTED);
                assert_non_null(strstr(d.text, "not for this AK/TPM"));
                blob[i] ^= 0x80;
        }
        /* A flipped byte of the encrypted seed: it does not decrypt (OAEP fails). */
        enc[100] ^= 0x01;
        d = (Diag) {};
        assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048,
                                                        blob, blob_size, enc, enc_size, &got, &d),
                         -EKEYREJECTED);
        enc[100] ^= 0x01;
        /* Made for the RSA EK, presented to the ECC one. */
        d = (Diag) {};
        assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_ECC_P256,
                                                        blob, blob_size, enc, enc_size, &got, &d),
                         -EKEYREJECTED);
        /* Unchanged, it still works: the refusals left nothing loaded behind. */
        d = (Diag) {};
        if (tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048, blob,
                                           blob_size, enc, enc_size, &got, &d) < 0)
                fail_msg("%s", d.text);
        assert_int_equal(CRYPTO_memcmp(got->data, secret, sizeof(secret)), 0);
        got = secret_free(got);

        /* Bytes that are not the structures; no key at the handle. */
        assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048,
                                                        blob, blob_size - 1, enc, enc_size, &got,
                                                        NULL),
                         -EBADMSG);
        assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048,
                                                        blob, blob_size, enc, 1, &got, NULL),
                         -EBADMSG);
        assert_int_equal(tpm_device_activate_credential(tpm, 0x81000077, TPM_EK_RSA_2048, blob,
                                                        blob_size, enc, enc_size, &got, NULL),
                         -ENOENT);
        assert_null(got);
        free(blob);
        free(enc);
}

/* Another TPM: an RSA EK whose private key OpenSSL holds. The TPM cannot decrypt the seed. */
static void test_other_tpm(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                                                    (size_t) 2048);
        _cleanup_(secret_freep) Secret *got = NULL;
        uint8_t *ours = NULL, *blob = NULL, *enc = NULL, buf[sizeof(TPM2B_PUBLIC) + 2];
        size_t ours_size, blob_size, enc_size, off = 0;
        TPM2B_PUBLIC p = {};
        BIGNUM *n = NULL;
        TPM2B_NAME name;
        uint8_t secret[32] = { 7 };
        Diag d = {};

        assert_non_null(key);
        assert_int_equal(tpm_device_ek(tpm, TPM_EK_RSA_2048, &ours, &ours_size, &d), 0);
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal(ours, ours_size, &off, &p),
                         TSS2_RC_SUCCESS);
        assert_true(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n));
        assert_int_equal(BN_bn2binpad(n, p.publicArea.unique.rsa.buffer, 256), 256);
        BN_free(n);
        off = 0;
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &off), TSS2_RC_SUCCESS);
        ak_name(TPM_AK_HANDLE_AZURE, TPM_AK_RSA_2048, &name);
        assert_int_equal(tpm_make_credential(buf, off, name.name, name.size, secret, sizeof(secret),
                                             &blob, &blob_size, &enc, &enc_size, &d), 0);
        assert_int_equal(tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048,
                                                        blob, blob_size, enc, enc_size, &got, &d),
                         -EKEYREJECTED);
        assert_non_null(strstr(d.text, "not for this TPM"));
        free(ours);
        free(blob);
        free(enc);
}

/* tpm2_makecredential --tcti none made tools.cred for the simulator's AK and the RSA EK (from
 * tpm2_createek): our activation accepts it. */
static void test_tpm2_tools_credential(void **state) {
        _cleanup_(secret_freep) Secret *got = NULL;
        _cleanup_(freep) uint8_t *file = NULL;
        uint8_t expect[64];
        char path[4096];
        size_t size = 0, off = 8, expect_size;
        TPM2B_ID_OBJECT blob = {};
        FILE *f;
        Diag d = {};

        if (!cred_dir())
                skip();
        (void) snprintf(path, sizeof(path), "%s/tools.cred", cred_dir());
        f = fopen(path, "re");
        if (!f)
                skip();
        file = malloc(4096);
        assert_non_null(file);
        size = fread(file, 1, 4096, f);
        (void) fclose(f);
        (void) snprintf(path, sizeof(path), "%s/tools.secret", cred_dir());
        f = fopen(path, "re");
        assert_non_null(f);
        expect_size = fread(expect, 1, sizeof(expect), f);
        (void) fclose(f);

        /* Header 0xBADCC0DE, version 1; then TPM2B_ID_OBJECT || TPM2B_ENCRYPTED_SECRET. */
        assert_true(size > 8);
        assert_int_equal(file[0], 0xBA);
        assert_int_equal(file[3], 0xDE);
        assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(file, size, &off, &blob),
                         TSS2_RC_SUCCESS);
        if (tpm_device_activate_credential(tpm, TPM_AK_HANDLE_AZURE, TPM_EK_RSA_2048, file + 8,
                                           off - 8, file + off, size - off, &got, &d) < 0)
                fail_msg("tpm2-tools' credential: %s", d.text);
        assert_int_equal(got->size, expect_size);
        assert_memory_equal(got->data, expect, expect_size);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ek_certificates),
                cmocka_unit_test(test_ek_p256_template),
                cmocka_unit_test(test_activate),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_other_tpm),
                cmocka_unit_test(test_tpm2_tools_credential),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
