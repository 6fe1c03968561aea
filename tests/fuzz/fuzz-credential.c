/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: credential activation, the service's side (POST /credential). Every input is
 *  1. a request body for appraise_credential_request (with an EK CA that signs nothing the
 *     fuzzer can forge, so the JSON, base64 and certificate parsing is what runs);
 *  2. an EK public area for tpm_make_credential (and tpm_ek_public_matches_certificate against
 *     a fixed certificate), with a fixed AK name and secret: what it accepts must be a restricted
 *     decryption key, and the blobs it returns must be non-empty;
 *  3. an AK public area for tpm_ak_public_check.
 */
#include <openssl/err.h>
#include <string.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "verifier/appraise.h"
#include "vtpm/credential.h"
#include "tests/fuzz/fuzz.h"

static X509_STORE *store;
static X509 *cert;

static void init(void) {
        EVP_PKEY *key;

        if (store)
                return;
        key = EVP_EC_gen("P-256");
        cert = X509_new();
        store = X509_STORE_new();
        if (!key || !cert || !store || !X509_set_pubkey(cert, key) ||
            !X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                        (const unsigned char *) "fuzz EK CA", -1, -1, 0) ||
            !X509_set_issuer_name(cert, X509_get_subject_name(cert)) ||
            !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
            !X509_gmtime_adj(X509_getm_notAfter(cert), 3600) ||
            X509_sign(cert, key, EVP_sha256()) <= 0 || !X509_STORE_add_cert(store, cert))
                abort();
        EVP_PKEY_free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t name[34] = { 0x00, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8 };
        static const uint8_t secret[32] = { 9, 9, 9 };
        AppraiseContext ctx = { .now = 1735610000, .ek_ca = NULL };
        uint8_t *ek = NULL, *blob = NULL, *seed = NULL;
        size_t ek_size, blob_size, seed_size;
        TPM2B_NAME ak_name;
        Diag diag = {};
        int r;

        init();
        ctx.ek_ca = store;
        r = appraise_credential_request(&ctx, (const char *) data, size, &ek, &ek_size, &ak_name,
                                        &diag);
        if (r >= 0)
                abort(); /* nothing the fuzzer makes chains to a key only this process has */
        fuzz_consume(strlen(diag.text));

        memset(&diag, 0, sizeof(diag));
        r = tpm_make_credential(data, size, name, sizeof(name), secret, sizeof(secret), &blob,
                                &blob_size, &seed, &seed_size, &diag);
        if (r >= 0) {
                if (!blob || blob_size < 2 + 32 + 2 + 32 || !seed || seed_size < 2)
                        abort();
                free(blob);
                free(seed);
        } else if (blob || seed)
                abort();
        fuzz_consume(strlen(diag.text));
        fuzz_consume((uint64_t) tpm_ek_public_matches_certificate(data, size, cert));

        memset(&diag, 0, sizeof(diag));
        r = tpm_ak_public_check(data, size, &ak_name, &diag);
        if (r >= 0 && ak_name.size < 2 + 20)
                abort();
        ERR_clear_error();
        return 0;
}
