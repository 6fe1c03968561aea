/* SPDX-License-Identifier: Apache-2.0 */
/* [io] The evidence for a TEE-bound signing certificate, from the SEV-SNP firmware. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "snp/snp-certs.h"
#include "snp/snp-source.h"
#include "verifier/tee-cert.h"

static int copy_entry(const SnpCertTable *t, SnpCertKind kind, SnpCertKind alt, uint8_t **ret,
                      size_t *ret_size) {
        const SnpCertEntry *e = snp_cert_table_find(t, kind) ?: snp_cert_table_find(t, alt);
        uint8_t *p;

        if (!e)
                return 0;
        p = malloc(e->size);
        if (!p)
                return -ENOMEM;
        memcpy(p, e->data, e->size);
        *ret = p;
        *ret_size = e->size;
        return 0;
}

int tee_cert_collect(EVP_PKEY *key, const SnpSource *src, TeeEvidence *ret, Diag *d) {
        _cleanup_(tee_evidence_done) TeeEvidence ev = {};
        uint8_t report_data[64];
        SnpEvidence e = {};
        Diag inner = {};
        SnpCertTable t;
        int r;

        r = tee_cert_report_data(key, report_data);
        if (r < 0)
                return diag_set(d, r, "cannot hash the signing key's public key");
        r = snp_source_get_report(src, report_data, /* vmpl= */ 0, /* want_certs= */ true, &e,
                                  d);
        if (r < 0)
                return r;
        if (e.certs && e.certs_size > 0) {
                r = snp_cert_table_parse(e.certs, e.certs_size, &t, &inner);
                if (r < 0) {
                        r = diag_set(d, r, "the host's certificate table: %s", inner.text);
                        goto out;
                }
                r = copy_entry(&t, SNP_CERT_VCEK, SNP_CERT_VLEK, &ev.vcek, &ev.vcek_size);
                if (r >= 0)
                        /* SNP_CERT_ASK covers the ASVK too (snp-certs.h). */
                        r = copy_entry(&t, SNP_CERT_ASK, SNP_CERT_ASK, &ev.ask, &ev.ask_size);
                if (r < 0)
                        goto out;
        }
        ev.report = TAKE_PTR(e.report);
        ev.report_size = e.report_size;
        *ret = ev;
        ev = (TeeEvidence) {};
        r = 0;
out:
        snp_evidence_done(&e);
        return r;
}
