/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "snp/snp-report.h"
#include "tests/unit/test-util.h"
#include "verifier/kds-key.h"

/* Real reports and the VCEKs that signed them (../shared/vectors/README.md §2). */
static const struct {
        const char *report, *vcek;
} pairs[] = {
        { "snp/go-sev-guest/attestation.bin", "snp/go-sev-guest/vcek.testcer" },
        { "snp/virtee-sev/report_milan.bin", "snp/virtee-sev/vcek_milan.der" },
        { "snp/trustee/test-report.bin", "snp/trustee/test-vcek.der" },
        { "snp/constellation/attestation.bin", "snp/constellation/vcek.cert" },
        { "snp/oak/genoa_oc_report.bin", "snp/oak/genoa_oc_vcek.der" },
        { "snp/oak/turin_oc_report.bin", "snp/oak/turin_oc_vcek.der" },
        { "snp/oak/milan_oc_release_report.bin", "snp/oak/milan_oc_release_vcek.der" },
};

static void load_report(const char *rel, SnpReport *ret) {
        size_t size;
        uint8_t *buf = test_read_vector(rel, &size);

        assert_true(size >= SNP_REPORT_SIZE);
        assert_int_equal(snp_report_parse(buf, SNP_REPORT_SIZE, ret, NULL), 0);
        free(buf);
}

static void load_key(const char *rel, KdsKey *ret) {
        SnpReport r;

        load_report(rel, &r);
        if (r.product == SNP_PRODUCT_UNKNOWN) /* version 2: every such vector is Milan */
                r.product = SNP_PRODUCT_MILAN;
        assert_int_equal(kds_key_from_report(&r, ret, NULL), 0);
}

static void test_cache_paths(void **state) {
        KdsKey k;
        char *p;

        SKIP_WITHOUT_VECTORS();
        load_key("snp/go-sev-guest/attestation.bin", &k);
        assert_int_equal(k.product, SNP_PRODUCT_MILAN);
        assert_int_equal(k.hwid_size, 64);
        assert_int_equal(kds_key_cache_path(&k, &p), 0);
        assert_string_equal(p, "vcek/Milan/3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3"
                            "b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b"
                            "006b5d/4405000000000002.der");
        free(p);

        /* Turin: the first 8 bytes of CHIP_ID, the TCB in Turin's layout as read. */
        load_key("snp/oak/turin_oc_report.bin", &k);
        assert_int_equal(k.product, SNP_PRODUCT_TURIN);
        assert_int_equal(k.hwid_size, 8);
        assert_int_equal(kds_key_cache_path(&k, &p), 0);
        assert_string_equal(p, "vcek/Turin/3b42092f69c656d3/4700000002000100.der");
        free(p);

        load_key("snp/oak/genoa_oc_report.bin", &k);
        assert_int_equal(kds_key_cache_path(&k, &p), 0);
        assert_true(strncmp(p, "vcek/Genoa/d2421d976f95ce0b", 27) == 0);
        assert_string_equal(p + strlen(p) - 21, "/541900000000000a.der");
        free(p);

        k.product = SNP_PRODUCT_UNKNOWN;
        assert_int_equal(kds_key_cache_path(&k, &p), -EINVAL);

        assert_int_equal(kds_crl_cache_path(SNP_PRODUCT_GENOA, &p), 0);
        assert_string_equal(p, "crl/Genoa.der");
        free(p);
        assert_int_equal(kds_crl_url_path(SNP_PRODUCT_TURIN, &p), 0);
        assert_string_equal(p, "/vcek/v1/Turin/crl");
        free(p);
        assert_int_equal(kds_crl_url_path(SNP_PRODUCT_UNKNOWN, &p), -EINVAL);
        assert_int_equal(kds_crl_cache_path((SnpProduct) 99, &p), -EINVAL);
}

/* No KDS VCEK can sign a VLEK-signed report or one with a masked CHIP_ID. */
static void test_key_refused(void **state) {
        SnpReport r;
        KdsKey k;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        load_report("snp/trustee/test-vlek-report.bin", &r);
        assert_int_equal(kds_key_from_report(&r, &k, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "VLEK"));

        load_report("snp/oak/milan_rk_release_report.bin", &r);
        memset(r.chip_id, 0, sizeof(r.chip_id));
        d = (Diag) {};
        assert_int_equal(kds_key_from_report(&r, &k, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "CHIP_ID"));

        load_report("snp/oak/milan_rk_release_report.bin", &r);
        r.product = SNP_PRODUCT_UNKNOWN;
        assert_int_equal(kds_key_from_report(&r, &k, NULL), -EINVAL);
}

static void test_vcek_check(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                KdsKey k;

                load_key(pairs[i].report, &k);
                for (size_t j = 0; j < ELEMENTSOF(pairs); j++) {
                        size_t size;
                        uint8_t *der = test_read_vector(pairs[j].vcek, &size);
                        Diag d = {};
                        int r = kds_vcek_check(der, size, &k, &d);

                        if (r != (i == j ? 0 : -EXDEV))
                                print_error("%s vs %s: %d %s\n", pairs[i].report, pairs[j].vcek,
                                            r, d.text);
                        assert_int_equal(r, i == j ? 0 : -EXDEV);
                        free(der);
                }
        }
}

static void test_vcek_check_evil(void **state) {
        uint8_t *der, *longer;
        size_t size;
        KdsKey k, other;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        load_key("snp/virtee-sev/report_milan.bin", &k);
        der = test_read_vector("snp/virtee-sev/vcek_milan.der", &size);

        /* Same chip, another TCB: the SPL that differs is named. */
        other = k;
        other.tcb ^= UINT64_C(1) << 56; /* microcode */
        assert_int_equal(kds_vcek_check(der, size, &other, &d), -EXDEV);
        assert_non_null(strstr(d.text, "ucodeSPL"));
        other = k;
        other.tcb ^= 1; /* boot loader */
        d = (Diag) {};
        assert_int_equal(kds_vcek_check(der, size, &other, &d), -EXDEV);
        assert_non_null(strstr(d.text, "blSPL"));
        /* Same TCB, another chip. */
        other = k;
        other.hwid[63] ^= 1;
        d = (Diag) {};
        assert_int_equal(kds_vcek_check(der, size, &other, &d), -EXDEV);
        assert_non_null(strstr(d.text, "hwID"));

        /* Truncated, trailing bytes, empty, garbage: not a certificate. */
        assert_int_equal(kds_vcek_check(der, size - 1, &k, NULL), -EBADMSG);
        longer = malloc(size + 1);
        assert_non_null(longer);
        memcpy(longer, der, size);
        longer[size] = 0;
        assert_int_equal(kds_vcek_check(longer, size + 1, &k, NULL), -EBADMSG);
        assert_int_equal(kds_vcek_check(der, 0, &k, NULL), -EBADMSG);
        assert_int_equal(kds_vcek_check((const uint8_t *) "<html>429</html>", 16, &k, NULL),
                         -EBADMSG);
        free(longer);
        free(der);

        /* PEM is not what KDS serves or what the cache holds. */
        der = test_read_vector("snp/constellation/vcek.pem", &size);
        load_key("snp/constellation/attestation.bin", &k);
        assert_int_equal(kds_vcek_check(der, size, &k, NULL), -EBADMSG);
        free(der);
}

static uint8_t *make_crl(const char *issuer_cn, time_t last, time_t next, bool with_next,
                         size_t *ret_size) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509_CRL *crl = X509_CRL_new();
        X509_NAME *name = X509_NAME_new();
        ASN1_TIME *l = ASN1_TIME_set(NULL, last), *n = ASN1_TIME_set(NULL, next);
        unsigned char *der = NULL;
        uint8_t *ret;
        int len;

        assert_true(key && crl && name && l && n);
        assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                               (const unsigned char *) issuer_cn, -1, -1, 0));
        assert_true(X509_CRL_set_version(crl, 1) && X509_CRL_set_issuer_name(crl, name) &&
                    X509_CRL_set1_lastUpdate(crl, l));
        if (with_next)
                assert_true(X509_CRL_set1_nextUpdate(crl, n));
        assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
        len = i2d_X509_CRL(crl, &der);
        assert_true(len > 0);
        ret = malloc((size_t) len);
        assert_non_null(ret);
        memcpy(ret, der, (size_t) len);
        *ret_size = (size_t) len;
        OPENSSL_free(der);
        ASN1_TIME_free(l);
        ASN1_TIME_free(n);
        X509_NAME_free(name);
        X509_CRL_free(crl);
        EVP_PKEY_free(key);
        return ret;
}

static void test_crl_check(void **state) {
        const time_t now = 1750000000; /* 2025-06-15 */
        time_t next = 0;
        uint8_t *c;
        size_t n;
        Diag d = {};

        c = make_crl("ARK-Milan", now - 86400, now + 86400, true, &n);
        assert_int_equal(kds_crl_check(c, n, SNP_PRODUCT_MILAN, now, &next, NULL), 0);
        assert_int_equal(next, now + 86400);
        /* After nextUpdate: stale (1), still parsed, nextUpdate reported. */
        next = 0;
        assert_int_equal(kds_crl_check(c, n, SNP_PRODUCT_MILAN, now + 86401, &next, NULL), 1);
        assert_int_equal(next, now + 86400);
        /* Another product line's issuer. */
        assert_int_equal(kds_crl_check(c, n, SNP_PRODUCT_GENOA, now, NULL, &d), -EXDEV);
        assert_non_null(strstr(d.text, "ARK-Genoa"));
        /* Truncated, trailing byte. */
        assert_int_equal(kds_crl_check(c, n - 1, SNP_PRODUCT_MILAN, now, NULL, NULL), -EBADMSG);
        c = realloc(c, n + 1);
        assert_non_null(c);
        c[n] = 0;
        assert_int_equal(kds_crl_check(c, n + 1, SNP_PRODUCT_MILAN, now, NULL, NULL), -EBADMSG);
        free(c);

        /* Without nextUpdate there is no telling when it goes stale. */
        c = make_crl("ARK-Turin", now - 86400, 0, false, &n);
        d = (Diag) {};
        assert_int_equal(kds_crl_check(c, n, SNP_PRODUCT_TURIN, now, NULL, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "nextUpdate"));
        free(c);

        c = make_crl("SEV-Milan", now - 86400, now + 86400, true, &n);
        assert_int_equal(kds_crl_check(c, n, SNP_PRODUCT_MILAN, now, NULL, NULL), -EXDEV);
        free(c);

        assert_int_equal(kds_crl_check((const uint8_t *) "x", 1, SNP_PRODUCT_MILAN, now, NULL,
                                       NULL), -EBADMSG);
        assert_int_equal(kds_crl_check((const uint8_t *) "x", 1, SNP_PRODUCT_UNKNOWN, now, NULL,
                                       NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cache_paths),
                cmocka_unit_test(test_key_refused),
                cmocka_unit_test(test_vcek_check),
                cmocka_unit_test(test_vcek_check_evil),
                cmocka_unit_test(test_crl_check),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
