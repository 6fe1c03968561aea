/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: SEV-SNP endorsement and report verification. The input is a 1184-byte report
 * followed by the endorsement certificate (DER, or a PEM bundle whose further certificates are
 * passed as untrusted intermediates).
 *
 * Each input is verified twice:
 *  1. As is, against AMD's compiled-in roots at a fixed time. Only a genuine VCEK/VLEK gets past
 *     the chain signatures, so this covers name and chain handling and, with a real VCEK, the
 *     report signature, TCB and CHIP_ID checks on a mutated report.
 *  2. Re-signed by a test chain the harness makes once (ARK-<P> -> SEV-<P> / SEV-VLEK-<P>, for
 *     Milan, Genoa and Turin, one throwaway RSA key, RSASSA-PSS as AMD signs). This is what lets
 *     a hostile certificate reach the AMD extension parsing (SPLs, productName, hwID, cspId),
 *     which runs only after the chain verifies. Only the issuer name and the signature change;
 *     the extensions, key and validity are the fuzzer's.
 */
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "tests/fuzz/fuzz.h"

/* 2025-09-01T00:00:00Z: inside the validity of every VCEK and VLEK in the seed corpus. */
#define FUZZ_VERIFY_TIME ((time_t) 1756684800)

/* Frees the stack only: its certificates belong to another stack. */
static inline void sk_X509_freep(STACK_OF(X509) **sk) {
        sk_X509_free(*sk);
}

static const char *const test_products[] = { "Milan", "Genoa", "Turin" };

static SnpTrust *amd_trust;
static SnpTrust *test_trust;
static EVP_PKEY *test_key;
/* Subject names of the test intermediates: [product][vlek]. */
static X509_NAME *test_inter_names[ELEMENTSOF(test_products)][2];

static int sign_pss(X509 *x, EVP_PKEY *key) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;

        if (!md || EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, key) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) <= 0 || X509_sign_ctx(x, md) <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        return 0;
}

static X509_NAME *make_name(const char *cn) {
        X509_NAME *n = X509_NAME_new();

        if (!n || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) cn,
                                              -1, -1, 0)) {
                X509_NAME_free(n);
                return NULL;
        }
        return n;
}

/* A test CA certificate subject_cn, issued by issuer_cn, added to test_trust. */
static int add_test_ca(const char *subject_cn, const char *issuer_cn, X509_NAME **ret_subject) {
        _cleanup_(X509_freep) X509 *x = X509_new();
        X509_NAME *subject = make_name(subject_cn), *issuer = make_name(issuer_cn);
        unsigned char *der = NULL;
        int n, r = -ENOMEM;

        if (!x || !subject || !issuer || !X509_set_version(x, X509_VERSION_3) ||
            !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
            !X509_set_subject_name(x, subject) || !X509_set_issuer_name(x, issuer) ||
            !ASN1_TIME_set_string(X509_getm_notBefore(x), "20000101000000Z") ||
            !ASN1_TIME_set_string(X509_getm_notAfter(x), "20991231235959Z") ||
            !X509_set_pubkey(x, test_key) || sign_pss(x, test_key) < 0)
                goto out;
        n = i2d_X509(x, &der);
        if (n <= 0)
                goto out;
        r = snp_trust_add(test_trust, der, (size_t) n, NULL);
        OPENSSL_free(der);
        if (r >= 0 && ret_subject) {
                *ret_subject = subject;
                subject = NULL;
        }
out:
        X509_NAME_free(subject);
        X509_NAME_free(issuer);
        return r;
}

static void fuzz_init(void) {
        static bool done;
        char cn[64];

        if (done)
                return;
        done = true;
        /* 1024 bits is plenty for a throwaway test key and keeps re-signing cheap; PSS with
         * SHA-384 and a 48-byte salt needs at least 98 bytes of modulus. */
        test_key = EVP_RSA_gen(1024);
        if (!test_key || snp_trust_new(/* builtin= */ true, &amd_trust) < 0 ||
            snp_trust_new(/* builtin= */ false, &test_trust) < 0)
                abort();
        for (size_t p = 0; p < ELEMENTSOF(test_products); p++) {
                char ark[64];

                (void) snprintf(ark, sizeof(ark), "ARK-%s", test_products[p]);
                if (add_test_ca(ark, ark, NULL) < 0)
                        abort();
                (void) snprintf(cn, sizeof(cn), "SEV-%s", test_products[p]);
                if (add_test_ca(cn, ark, &test_inter_names[p][0]) < 0)
                        abort();
                (void) snprintf(cn, sizeof(cn), "SEV-VLEK-%s", test_products[p]);
                if (add_test_ca(cn, ark, &test_inter_names[p][1]) < 0)
                        abort();
        }
}

/* The test intermediate named like the leaf's issuer, else the Milan one for the leaf's kind. */
static X509_NAME *pick_test_issuer(X509 *leaf) {
        char cn[64];
        bool vlek = false;

        if (x509_common_name(X509_get_subject_name(leaf), cn, sizeof(cn)) >= 0)
                vlek = streq(cn, "SEV-VLEK");
        if (x509_common_name(X509_get_issuer_name(leaf), cn, sizeof(cn)) >= 0)
                for (size_t p = 0; p < ELEMENTSOF(test_products); p++)
                        for (size_t v = 0; v < 2; v++) {
                                char want[64];

                                (void) snprintf(want, sizeof(want), "%s%s",
                                                v ? "SEV-VLEK-" : "SEV-", test_products[p]);
                                if (streq(cn, want))
                                        return test_inter_names[p][v];
                        }
        return test_inter_names[0][vlek];
}

static void verify_one(const SnpTrust *t, X509 *leaf, STACK_OF(X509) *untrusted,
                       const SnpReport *rep, const uint8_t *raw) {
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        Diag diag = {};
        int r;

        r = snp_endorsement_verify(t, leaf, untrusted, /* crl= */ NULL, FUZZ_VERIFY_TIME, &e,
                                   &diag);
        fuzz_consume(strlen(diag.text));
        ERR_clear_error();
        if (r < 0)
                return;
        if (!e || !e->key || e->hwid_size > sizeof(e->hwid))
                abort();
        fuzz_consume(strlen(e->product_name) + strlen(e->csp_id) + strlen(e->chain[0]) +
                     e->tcb_raw);
        if (rep) {
                diag = (Diag) {};
                (void) snp_report_verify(e, rep, raw, SNP_REPORT_SIZE, &diag);
                fuzz_consume(strlen(diag.text));
                ERR_clear_error();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(sk_X509_freep) STACK_OF(X509) *untrusted = NULL;
        SnpReport rep;
        bool have_report;
        X509 *leaf;
        Diag diag = {};

        fuzz_init();
        if (size < SNP_REPORT_SIZE)
                return 0;
        have_report = snp_report_parse(data, SNP_REPORT_SIZE, &rep, &diag) >= 0;
        if (x509_parse_bundle(data + SNP_REPORT_SIZE, size - SNP_REPORT_SIZE, &certs) < 0)
                return 0;
        leaf = sk_X509_value(certs, 0);
        if (sk_X509_num(certs) > 1) {
                untrusted = sk_X509_new_null();
                for (int i = 1; untrusted && i < sk_X509_num(certs); i++)
                        if (!sk_X509_push(untrusted, sk_X509_value(certs, i)))
                                abort();
        }

        verify_one(amd_trust, leaf, untrusted, have_report ? &rep : NULL, data);

        /* Path 2: the same certificate, issued and signed by the test chain. */
        if (!X509_set_issuer_name(leaf, pick_test_issuer(leaf)) || sign_pss(leaf, test_key) < 0) {
                ERR_clear_error();
                return 0;
        }
        verify_one(test_trust, leaf, /* untrusted= */ NULL, have_report ? &rep : NULL, data);
        return 0;
}
