/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the extended-report certificate table (snp_cert_table_parse), then each blob it
 * yields as the callers treat it: an X.509 certificate or bundle, or a CRL.
 */
#include <openssl/err.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "snp/snp-certs.h"
#include "tests/fuzz/fuzz.h"

static void try_certs(const uint8_t *p, size_t n) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        _cleanup_(X509_CRL_freep) X509_CRL *crl = NULL;
        char cn[64];

        if (x509_parse_bundle(p, n, &sk) >= 0)
                for (int i = 0; i < sk_X509_num(sk); i++)
                        if (x509_common_name(X509_get_subject_name(sk_X509_value(sk, i)), cn,
                                             sizeof(cn)) >= 0)
                                fuzz_consume(strlen(cn));
        if (x509_crl_parse(p, n, &crl) >= 0)
                fuzz_consume((uint64_t) X509_CRL_get_version(crl));
        ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SnpCertTable t;
        Diag diag = {};
        int r;

        r = snp_cert_table_parse(data, size, &t, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0)
                return 0;
        if (t.n_entries > SNP_CERT_TABLE_MAX_ENTRIES)
                abort();

        for (size_t i = 0; i < t.n_entries; i++) {
                const SnpCertEntry *e = &t.entries[i];
                uint64_t sum = 0;

                /* Every byte the table claims, so that ASan checks the bounds it promised. */
                if (!e->data || e->size == 0 || e->data < data ||
                    (size_t) (e->data - data) + e->size > size)
                        abort();
                for (uint32_t k = 0; k < e->size; k++)
                        sum += e->data[k];
                fuzz_consume(sum);
                fuzz_consume(strlen(snp_cert_kind_to_string(e->kind)));
                try_certs(e->data, e->size);
        }
        for (SnpCertKind k = SNP_CERT_UNKNOWN; k < _SNP_CERT_KIND_MAX; k++) {
                const SnpCertEntry *e = snp_cert_table_find(&t, k);

                if (e && e->kind != k)
                        abort();
        }
        return 0;
}
