/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/time-util.h"
#include "snp/snp-verify.h"
#include "tests/unit/test-util.h"

typedef struct Case {
        const char *report;
        size_t offset;
        const char *cert;
        const char *at; /* NULL: now */
        SnpProduct product;
        bool vlek;
} Case;

/* Every real report that has its certificate (../shared/vectors/README.md §2, §3.1). */
static const Case cases[] = {
        { "snp/go-sev-guest/attestation.bin", 0, "snp/go-sev-guest/vcek.testcer", NULL, SNP_PRODUCT_MILAN, false },
        { "snp/virtee-sev/report_milan.bin", 0, "snp/virtee-sev/vcek_milan.der", NULL, SNP_PRODUCT_MILAN, false },
        { "snp/trustee/test-report.bin", 0, "snp/trustee/test-vcek.der", NULL, SNP_PRODUCT_MILAN, false },
        { "snp/trustee/test-vlek-report.bin", 0, "snp/trustee/test-vlek.der", "2024-12-12T00:00:00Z", SNP_PRODUCT_MILAN, true },
        { "snp/constellation/attestation.bin", 0, "snp/constellation/vcek.cert", NULL, SNP_PRODUCT_MILAN, false },
        { "snp/constellation/attestation.bin", 0, "snp/constellation/vcek.pem", NULL, SNP_PRODUCT_MILAN, false },
        { "snp/constellation/aws/report.bin", 0, "snp/constellation/aws/vlek.pem", "2024-12-12T00:00:00Z", SNP_PRODUCT_MILAN, true },
        { "snp/oak/genoa_oc_report.bin", 0, "snp/oak/genoa_oc_vcek.der", NULL, SNP_PRODUCT_GENOA, false },
        { "snp/oak/turin_oc_report.bin", 0, "snp/oak/turin_oc_vcek.der", NULL, SNP_PRODUCT_TURIN, false },
        { "snp/oak/milan_oc_release_report.bin", 0, "snp/oak/milan_oc_release_vcek.der", NULL, SNP_PRODUCT_MILAN, false },
        { "snp/oak/milan_rk_release_report.bin", 0, "snp/oak/milan_rk_release_vcek.der", NULL, SNP_PRODUCT_MILAN, false },
        { "azure/trustee-az-snp-vtpm/hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/vcek.pem", NULL, SNP_PRODUCT_MILAN, false },
        { "azure/trustee-az-snp-vtpm/evidence-genoa.hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/evidence-genoa.vcek.pem", NULL, SNP_PRODUCT_GENOA, false },
        { "azure/trustee-az-snp-vtpm/evidence-v0.hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/evidence-v0.vcek.pem", NULL, SNP_PRODUCT_MILAN, false },
        { "azure/trustee-az-snp-vtpm/evidence-v1.hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/evidence-v1.vcek.pem", NULL, SNP_PRODUCT_MILAN, false },
        { "azure/trustee-az-snp-vtpm/evidence-v2.hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/evidence-v2.vcek.pem", NULL, SNP_PRODUCT_MILAN, false },
};

static SnpTrust *trust;

static int setup(void **state) {
        return snp_trust_new(true, &trust) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        trust = snp_trust_free(trust);
        return 0;
}

typedef struct Loaded {
        uint8_t report[SNP_REPORT_SIZE];
        STACK_OF(X509) *certs; /* leaf first */
        time_t at;
} Loaded;

static void load(const Case *c, Loaded *l) {
        size_t size;
        uint8_t *buf = test_read_vector(c->report, &size);

        assert_true(size >= c->offset + SNP_REPORT_SIZE);
        memcpy(l->report, buf + c->offset, SNP_REPORT_SIZE);
        free(buf);
        buf = test_read_vector(c->cert, &size);
        assert_int_equal(x509_parse_bundle(buf, size, &l->certs), 0);
        free(buf);
        l->at = time(NULL);
        if (c->at)
                assert_int_equal(parse_rfc3339(c->at, &l->at), 0);
}

static void unload(Loaded *l) {
        sk_X509_pop_free(l->certs, X509_free);
        l->certs = NULL;
}

static int verify(const Loaded *l, const uint8_t *report, Diag *d) {
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        SnpReport r;
        int k;

        k = snp_report_parse(report, SNP_REPORT_SIZE, &r, d);
        if (k < 0)
                return k;
        k = snp_endorsement_verify(trust, sk_X509_value(l->certs, 0), l->certs, NULL, l->at, &e, d);
        if (k < 0)
                return k;
        return snp_report_verify(e, &r, report, SNP_REPORT_SIZE, d);
}

static void test_builtin_roots_match_vectors(void **state) {
        static const char *const files[] = {
                "amd-roots/milan/ark.pem", "amd-roots/milan/ask.pem", "amd-roots/milan/asvk.pem",
                "amd-roots/genoa/ark.pem", "amd-roots/genoa/ask.pem", "amd-roots/genoa/asvk.pem",
                "amd-roots/turin/ark.pem", "amd-roots/turin/ask.pem", "amd-roots/turin/asvk.pem",
        };
        /* Fingerprint prefixes and suffixes from ../shared/vectors/README.md §1. */
        static const char *const fp[][2] = {
                { "69d063b4", "0bcd" }, { "67d303bd", "ac1b" }, { "c5e081f5", "82f5" },
                { "4c6598d1", "b2f1" }, { "5464738c", "8521" }, { "197e6107", "7372" },
                { "1f084161", "3f6a" }, { "5b77ef5f", "3185" }, { "104e10a8", "1a3c" },
        };

        SKIP_WITHOUT_VECTORS();
        assert_int_equal(snp_trust_n_roots(trust), 3);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const char *pem = snp_builtin_cert_pem(i);
                STACK_OF(X509) *a = NULL, *b = NULL;
                unsigned char *da = NULL, *db = NULL, md[32];
                char hex[65];
                unsigned mdlen;
                size_t size;
                uint8_t *buf;
                int na, nb;

                assert_non_null(pem);
                assert_int_equal(x509_parse_bundle((const uint8_t *) pem, strlen(pem), &a), 0);
                buf = test_read_vector(files[i], &size);
                assert_int_equal(x509_parse_bundle(buf, size, &b), 0);
                free(buf);
                na = i2d_X509(sk_X509_value(a, 0), &da);
                nb = i2d_X509(sk_X509_value(b, 0), &db);
                assert_int_equal(na, nb);
                assert_memory_equal(da, db, (size_t) na);
                assert_true(EVP_Digest(da, (size_t) na, md, &mdlen, EVP_sha256(), NULL));
                hex_encode_buf(md, 32, hex);
                assert_memory_equal(hex, fp[i][0], 8);
                assert_string_equal(hex + 60, fp[i][1]);
                OPENSSL_free(da);
                OPENSSL_free(db);
                sk_X509_pop_free(a, X509_free);
                sk_X509_pop_free(b, X509_free);
        }
        assert_null(snp_builtin_cert_pem(ELEMENTSOF(files)));
}

static void test_real_reports_verify(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
                Loaded l = {};
                SnpReport r;
                Diag d = {};

                print_message("# %s\n", cases[i].report);
                load(&cases[i], &l);
                assert_int_equal(snp_report_parse(l.report, SNP_REPORT_SIZE, &r, &d), 0);
                if (snp_endorsement_verify(trust, sk_X509_value(l.certs, 0), l.certs, NULL, l.at,
                                           &e, &d) < 0)
                        fail_msg("%s: %s", cases[i].cert, d.text);
                assert_int_equal(e->product, cases[i].product);
                assert_int_equal(e->vlek, cases[i].vlek);
                if (snp_report_verify(e, &r, l.report, SNP_REPORT_SIZE, &d) < 0)
                        fail_msg("%s: %s", cases[i].report, d.text);
                /* The certificate's SPLs are the report's REPORTED_TCB. */
                assert_int_equal(e->tcb_raw, r.reported_tcb);
                if (!e->vlek && !memeqzero(r.chip_id, 64))
                        assert_memory_equal(e->hwid, r.chip_id, e->hwid_size);
                unload(&l);
        }
}

/* Every single-bit flip in the signed region is rejected: malformed or not verified, never ok. */
static void test_every_bit_flip(void **state) {
        static const size_t pick[] = { 1, 7, 8 }; /* Milan v2, Genoa v5, Turin v5 */
        SKIP_WITHOUT_VECTORS();
        for (size_t p = 0; p < ELEMENTSOF(pick); p++) {
                _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
                Loaded l = {};
                uint8_t copy[SNP_REPORT_SIZE];
                size_t rejected = 0;

                load(&cases[pick[p]], &l);
                assert_int_equal(snp_endorsement_verify(trust, sk_X509_value(l.certs, 0), l.certs,
                                                        NULL, l.at, &e, NULL), 0);
                for (size_t bit = 0; bit < SNP_REPORT_SIGNED_SIZE * 8; bit++) {
                        SnpReport r;
                        int k;

                        memcpy(copy, l.report, sizeof(copy));
                        copy[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                        k = snp_report_parse(copy, sizeof(copy), &r, NULL);
                        if (k >= 0)
                                k = snp_report_verify(e, &r, copy, sizeof(copy), NULL);
                        if (k >= 0)
                                fail_msg("%s: flipping bit %zu of byte 0x%zx still verifies",
                                         cases[pick[p]].report, bit % 8, bit / 8);
                        rejected++;
                }
                assert_int_equal(rejected, SNP_REPORT_SIGNED_SIZE * 8);
                unload(&l);
        }
}

static void test_signature_tamper(void **state) {
        Loaded l = {};
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        load(&cases[1], &l);
        assert_int_equal(verify(&l, l.report, &d), 0);
        /* virtee's own negative case: bit 0x80 of byte 21. */
        l.report[21] ^= 0x80;
        assert_int_equal(verify(&l, l.report, &d), -EKEYREJECTED);
        assert_non_null(strstr(d.text, "does not verify"));
        l.report[21] ^= 0x80;
        l.report[0x2A0] ^= 1; /* R */
        assert_int_equal(verify(&l, l.report, NULL), -EKEYREJECTED);
        l.report[0x2A0] ^= 1;
        l.report[0x2E8 + 5] ^= 4; /* S */
        assert_int_equal(verify(&l, l.report, NULL), -EKEYREJECTED);
        unload(&l);
}

static void test_wrong_certificate(void **state) {
        Loaded a = {}, b = {};
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        /* The Milan report with another Milan chip's (valid) VCEK. */
        load(&cases[1], &a);
        load(&cases[0], &b);
        sk_X509_pop_free(a.certs, X509_free);
        a.certs = b.certs;
        b.certs = NULL;
        assert_int_equal(verify(&a, a.report, &d), -EKEYREJECTED);
        unload(&a);
        unload(&b);
}

static void test_wrong_generation(void **state) {
        _cleanup_(snp_trust_freep) SnpTrust *empty = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        STACK_OF(X509) *milan_ask = NULL;
        Loaded l = {};
        uint8_t *buf;
        size_t size;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        load(&cases[7], &l); /* Genoa */
        /* No roots at all: nothing is trusted. */
        assert_int_equal(snp_trust_new(false, &empty), 0);
        assert_int_equal(snp_endorsement_verify(empty, sk_X509_value(l.certs, 0), NULL, NULL,
                                                l.at, &e, &d), -ENOKEY);
        /* Trust only Milan's chain: the Genoa VCEK has no issuer there. */
        buf = test_read_vector("amd-roots/ask_ark_milan.pem", &size);
        assert_int_equal(snp_trust_add(empty, buf, size, NULL), 0);
        free(buf);
        assert_int_equal(snp_trust_n_roots(empty), 1);
        memset(&d, 0, sizeof(d));
        assert_int_equal(snp_endorsement_verify(empty, sk_X509_value(l.certs, 0), NULL, NULL,
                                                l.at, &e, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "SEV-Genoa"));
        /* A Milan ASK offered as the Genoa VCEK's issuer does not match it. */
        buf = test_read_vector("amd-roots/milan/ask.pem", &size);
        assert_int_equal(x509_parse_bundle(buf, size, &milan_ask), 0);
        free(buf);
        assert_int_equal(snp_endorsement_verify(empty, sk_X509_value(l.certs, 0), milan_ask, NULL,
                                                l.at, &e, NULL), -ENOKEY);
        sk_X509_pop_free(milan_ask, X509_free);
        unload(&l);
}

static void test_validity_and_kind(void **state) {
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL, *vcek = NULL;
        Loaded vlek = {}, other = {};
        SnpReport r;
        time_t late;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        load(&cases[3], &vlek);
        /* The VLEK expired on 2025-12-10. */
        assert_int_equal(parse_rfc3339("2026-01-01T00:00:00Z", &late), 0);
        assert_int_equal(snp_endorsement_verify(trust, sk_X509_value(vlek.certs, 0), NULL, NULL,
                                                late, &e, &d), -EKEYEXPIRED);
        assert_non_null(strstr(d.text, "not at"));
        /* ... and was not valid before 2024-12-10 either. */
        assert_int_equal(parse_rfc3339("2024-01-01T00:00:00Z", &late), 0);
        assert_int_equal(snp_endorsement_verify(trust, sk_X509_value(vlek.certs, 0), NULL, NULL,
                                                late, &e, NULL), -EKEYEXPIRED);
        /* A VLEK-signed report checked against a VCEK. */
        load(&cases[9], &other);
        assert_int_equal(snp_endorsement_verify(trust, sk_X509_value(other.certs, 0), NULL, NULL,
                                                other.at, &vcek, NULL), 0);
        assert_int_equal(snp_report_parse(vlek.report, SNP_REPORT_SIZE, &r, NULL), 0);
        memset(&d, 0, sizeof(d));
        assert_int_equal(snp_report_verify(vcek, &r, vlek.report, SNP_REPORT_SIZE, &d), -EXDEV);
        assert_non_null(strstr(d.text, "signing key"));
        unload(&vlek);
        unload(&other);
}

static void test_kds_path(void **state) {
        Loaded l = {};
        SnpReport r;
        char *path = NULL;

        SKIP_WITHOUT_VECTORS();
        load(&cases[8], &l); /* Turin */
        assert_int_equal(snp_report_parse(l.report, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(snp_kds_vcek_path(&r, &path), 0);
        assert_string_equal(path, "/vcek/v1/Turin/3b42092f69c656d3?fmcSPL=0&blSPL=1&teeSPL=0"
                                  "&snpSPL=2&ucodeSPL=71");
        free(path);
        unload(&l);
        load(&cases[9], &l); /* Milan v3 */
        assert_int_equal(snp_report_parse(l.report, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(snp_kds_vcek_path(&r, &path), 0);
        assert_non_null(strstr(path, "/vcek/v1/Milan/a3fdc2c64dc299ab"));
        assert_non_null(strstr(path, "?blSPL=4&teeSPL=0&snpSPL=24&ucodeSPL=219"));
        free(path);
        unload(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_builtin_roots_match_vectors),
                cmocka_unit_test(test_real_reports_verify),
                cmocka_unit_test(test_every_bit_flip),
                cmocka_unit_test(test_signature_tamper),
                cmocka_unit_test(test_wrong_certificate),
                cmocka_unit_test(test_wrong_generation),
                cmocka_unit_test(test_validity_and_kind),
                cmocka_unit_test(test_kds_path),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
