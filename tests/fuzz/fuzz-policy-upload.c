/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: MAA policy uploads, the body of PUT /policies/{type} and POST :reset
 * (verifier/policy-upload.c): every input is parsed as an upload in default mode, in isolated
 * mode (with a fixed policy-signing certificate), and as a reset; a policy text that comes out is
 * compiled as the service would (verifier/maa-policy.c). Accepted uploads must satisfy what the
 * parser promises: text without NUL for an update, no text for a reset, a signer when isolated.
 */
#include <openssl/err.h>
#include <string.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "verifier/maa-policy.h"
#include "verifier/policy-upload.h"
#include "tests/fuzz/fuzz.h"

static STACK_OF(X509) *signers;

static void init(void) {
        EVP_PKEY *key;
        X509 *x;

        if (signers)
                return;
        key = EVP_RSA_gen(2048);
        x = X509_new();
        signers = sk_X509_new_null();
        if (!key || !x || !signers || !X509_set_pubkey(x, key) ||
            !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                        (const unsigned char *) "fuzz policy signer", -1, -1, 0) ||
            !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || X509_sign(x, key, EVP_sha256()) <= 0 ||
            !sk_X509_push(signers, x))
                abort();
        EVP_PKEY_free(key);
}

static void try(const uint8_t *data, size_t size, STACK_OF(X509) *s, bool reset) {
        PolicyUpload u = {};
        Diag diag = {};
        int r;

        r = policy_upload_parse((const char *) data, size, s, reset, &u, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0) {
                if (u.text || u.signer || (!diag.text[0] && r != -ENOMEM))
                        abort();
                return;
        }
        if (reset ? u.text != NULL : (!u.text || u.size == 0 || strlen(u.text) != u.size))
                abort();
        if (s && !u.signer)
                abort();
        if (u.text) {
                MaaPolicy *p = NULL;
                Diag d2 = {};

                if (maa_policy_compile(u.text, u.size, &p, &d2) >= 0)
                        maa_policy_free(p);
                fuzz_consume(strlen(d2.text));
        }
        policy_upload_done(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        init();
        try(data, size, NULL, false);
        try(data, size, signers, false);
        try(data, size, NULL, true);
        ERR_clear_error();
        return 0;
}
