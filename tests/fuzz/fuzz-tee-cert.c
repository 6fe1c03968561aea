/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the TEE evidence in a token-signing certificate (verifier/tee-cert.c), which
 * `check token --require-tee` reads from an issuer's JWKS. Every input is tried as a DER
 * certificate (then tee_cert_verify with AMD's roots), and as the value of the extension in a
 * certificate built here around it (so the SnpTeeEvidence decoder sees the input directly).
 * Nothing here can verify: the reports would need AMD's signature.
 */
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "snp/snp-verify.h"
#include "verifier/tee-cert.h"
#include "tests/fuzz/fuzz.h"

static SnpTrust *trust;
static EVP_PKEY *key;

static void init(void) {
        if (trust)
                return;
        key = EVP_EC_gen("P-256");
        if (!key || snp_trust_new(true, &trust) < 0)
                abort();
}

static void verify(X509 *x) {
        SnpReport rep;
        Diag diag = {};
        int r = tee_cert_verify(x, trust, 1735610000, NULL, &rep, NULL, &diag);

        if (r >= 0)
                abort();
        fuzz_consume(strlen(diag.text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const unsigned char *p = data;
        ASN1_OBJECT *oid;
        ASN1_OCTET_STRING *os;
        X509_EXTENSION *ext;
        X509 *x;

        init();
        x = d2i_X509(NULL, &p, (long) size);
        if (x) {
                verify(x);
                X509_free(x);
        }
        /* The input as the extension's value. */
        x = X509_new();
        oid = OBJ_txt2obj(TEE_CERT_OID, 1);
        os = ASN1_OCTET_STRING_new();
        if (!x || !oid || !os || !ASN1_OCTET_STRING_set(os, data, (int) size) ||
            !(ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)))
                abort();
        if (!X509_set_pubkey(x, key) || !X509_add_ext(x, ext, -1))
                abort();
        verify(x);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(oid);
        X509_free(x);
        ERR_clear_error();
        return 0;
}
