/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "common/time-util.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/endorsement-cache.h"
#include "verifier/maa-policy.h"
#include "vtpm/hcl-report.h"
#include "tests/unit/test-util.h"

#define TAZ "azure/trustee-az-snp-vtpm/"
static const struct {
        const char *hcl, *vcek;
} cases[] = {
        { TAZ "hcl-report.bin", TAZ "vcek.pem" },
        { TAZ "evidence-genoa.hcl-report.bin", TAZ "evidence-genoa.vcek.pem" },
        { TAZ "evidence-v0.hcl-report.bin", TAZ "evidence-v0.vcek.pem" },
        { TAZ "evidence-v2.hcl-report.bin", TAZ "evidence-v2.vcek.pem" },
};

static SnpTrust *trust;

static int setup(void **state) {
        return snp_trust_new(true, &trust) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        trust = snp_trust_free(trust);
        return 0;
}

static char *b64(const void *p, size_t n) {
        char *s = NULL;
        assert_int_equal(base64url_encode(p, n, &s), 0);
        return s;
}

/* An AttestSevSnpVm body as Azure's client builds it, from a real HCL report and its VCEK. */
static char *make_body_ex(const char *hcl_path, const char *vcek_path, const char *nonce,
                          bool tamper_runtime, bool with_chain) {
        size_t hcl_size, vcek_size;
        uint8_t *hcl = test_read_vector(hcl_path, &hcl_size);
        uint8_t *vcek = test_read_vector(vcek_path, &vcek_size);
        char *report_b64, *chain_b64, *inner, *inner_b64, *rt_b64, *body;
        uint8_t *rt;
        HclReport h;

        assert_int_equal(hcl_report_parse(hcl, hcl_size, &h, NULL), 0);
        report_b64 = b64(h.hw_report, HCL_HW_REPORT_SIZE);
        chain_b64 = b64(vcek, vcek_size);
        if (with_chain)
                assert_true(asprintf(&inner, "{\"SnpReport\":\"%s\",\"VcekCertChain\":\"%s\"}",
                                     report_b64, chain_b64) > 0);
        else
                assert_true(asprintf(&inner, "{\"SnpReport\":\"%s\"}", report_b64) > 0);
        inner_b64 = b64(inner, strlen(inner));
        rt = malloc(h.runtime_data_size);
        memcpy(rt, h.runtime_data, h.runtime_data_size);
        if (tamper_runtime)
                rt[h.runtime_data_size / 2] ^= 1;
        rt_b64 = b64(rt, h.runtime_data_size);
        assert_true(asprintf(&body, "{\"report\":\"%s\",\"runtimeData\":{\"data\":\"%s\","
                             "\"dataType\":\"JSON\"}%s%s%s}", inner_b64, rt_b64,
                             nonce ? ",\"nonce\":\"" : "", nonce ?: "", nonce ? "\"" : "") > 0);
        free(hcl);
        free(vcek);
        free(report_b64);
        free(chain_b64);
        free(inner);
        free(inner_b64);
        free(rt);
        free(rt_b64);
        return body;
}

static char *make_body(const char *hcl_path, const char *vcek_path, const char *nonce,
                       bool tamper_runtime) {
        return make_body_ex(hcl_path, vcek_path, nonce, tamper_runtime, true);
}

/* Endorsement lookups (the service's KDS cache): what they return, and how often asked. */
static int lookup_result, crl_result, lookups, crl_lookups;
static int vcek_lookup(void *userdata, const SnpReport *r, uint8_t **ret, size_t *ret_size, Diag *d) {
        BIO *bio;
        uint8_t *pem, *der = NULL;
        size_t size;
        X509 *x;
        int n;

        lookups++;
        if (lookup_result < 0)
                return diag_set(d, lookup_result, "lookup says %d", lookup_result);
        pem = test_read_vector(userdata, &size);
        bio = BIO_new_mem_buf(pem, (int) size);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(x);
        n = i2d_X509(x, &der);
        X509_free(x);
        free(pem);
        *ret = malloc((size_t) n);
        memcpy(*ret, der, (size_t) n);
        OPENSSL_free(der);
        *ret_size = (size_t) n;
        return 0;
}
static int crl_lookup(void *userdata, int product, time_t now, uint8_t **ret, size_t *ret_size,
                      Diag *d) {
        crl_lookups++;
        assert_int_equal(product, SNP_PRODUCT_MILAN); /* from the VCEK's issuer: a v2 report */
        return diag_set(d, crl_result, "no CRL");
}

static void test_lookups(void **state) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL), .vcek_lookup = vcek_lookup,
                                .lookup_userdata = (void *) TAZ "vcek.pem" };
        json_object *claims = NULL;
        char *body;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        /* No VcekCertChain: the lookup provides the VCEK. */
        body = make_body_ex(TAZ "hcl-report.bin", TAZ "vcek.pem", NULL, false, false);
        lookup_result = 0;
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), 0);
        assert_int_equal(lookups, 1);
        json_object_put(claims);
        claims = NULL;
        /* KDS does not know the chip: the evidence is refused. */
        lookup_result = -ENOENT;
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), -ENOKEY);
        /* KDS unreachable: the service cannot tell now. */
        lookup_result = -ETIMEDOUT;
        memset(&d, 0, sizeof(d));
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), -EAGAIN);
        assert_null(claims);
        /* Another chip's VCEK from the lookup: the report does not match it. */
        ctx.lookup_userdata = (void *) TAZ "evidence-genoa.vcek.pem";
        lookup_result = 0;
        assert_true(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d) < 0);
        assert_null(claims);
        free(body);
        /* A chain in the evidence is used as is; no lookup. */
        lookups = 0;
        body = make_body(TAZ "hcl-report.bin", TAZ "vcek.pem", NULL, false);
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), 0);
        assert_int_equal(lookups, 0);
        json_object_put(claims);
        claims = NULL;
        /* Revocation required and no CRL to be had, for whatever reason: never skipped. */
        ctx.crl_lookup = crl_lookup;
        crl_result = -ENOENT;
        memset(&d, 0, sizeof(d));
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), -EAGAIN);
        assert_int_equal(crl_lookups, 1);
        assert_null(claims);
        free(body);
}

/* The service's caches: a chain verified once costs only the report's signature afterwards, as
 * long as the CRL in force is the one it was checked against; a tampered report still fails. */
static void test_endorsement_cache(void **state) {
        EndorsementCache *cache = NULL;
        FactCache *facts = NULL;
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        json_object *claims = NULL;
        uint64_t hits, misses;
        uint8_t k1[32], k2[32];
        char *body;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        assert_int_equal(endorsement_cache_new(2, 3600, &cache), 0);
        ctx.endorsements = cache;
        body = make_body(TAZ "hcl-report.bin", TAZ "vcek.pem", NULL, false);
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), 0);
        json_object_put(claims);
        claims = NULL;
        endorsement_cache_stats(cache, &hits, &misses);
        assert_int_equal(hits, 0);
        assert_int_equal(misses, 1);
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), 0);
        json_object_put(claims);
        claims = NULL;
        endorsement_cache_stats(cache, &hits, &misses);
        assert_int_equal(hits, 1);
        free(body);
        /* The same chain, a report that does not verify: still refused. */
        body = make_body(TAZ "hcl-report.bin", TAZ "vcek.pem", NULL, true);
        assert_true(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d) < 0);
        assert_null(claims);
        free(body);
        /* Outside the leaf's validity or past the ttl: verified again (and then refused). */
        ctx.now = 4102444800; /* 2100 */
        body = make_body(TAZ "hcl-report.bin", TAZ "vcek.pem", NULL, false);
        memset(&d, 0, sizeof(d));
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), -EKEYEXPIRED);
        endorsement_cache_stats(cache, &hits, &misses);
        assert_int_equal(misses, 2);
        free(body);
        /* A CRL is required and none can be had: never answered from the cache. */
        ctx.now = time(NULL);
        ctx.crl_lookup = crl_lookup;
        crl_result = -ENOENT;
        body = make_body(TAZ "hcl-report.bin", TAZ "vcek.pem", NULL, false);
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), -EAGAIN);
        free(body);
        endorsement_cache_free(cache);

        /* Facts: keyed by label and both byte strings, bounded, least recently used out. */
        assert_int_equal(fact_cache_new(1, &facts), 0);
        fact_cache_key("l", "ab", 2, "c", 1, k1);
        fact_cache_key("l", "a", 1, "bc", 2, k2);
        assert_memory_not_equal(k1, k2, 32);
        assert_false(fact_cache_has(facts, k1));
        fact_cache_add(facts, k1);
        assert_true(fact_cache_has(facts, k1));
        fact_cache_add(facts, k2);
        assert_true(fact_cache_has(facts, k2));
        assert_false(fact_cache_has(facts, k1));
        fact_cache_free(facts);
}

/* Which incoming claims a policy can read: only the types its conditions name, unless a
 * condition names none. */
static void test_policy_reads(void **state) {
        static const char named[] = "version=1.2;\nauthorizationrules {\n"
                                    "  c:[type==\"pcrs\"] && ![type==\"x\", value==1] => permit();\n};\n";
        static const char any[] = "version=1.2;\nauthorizationrules {\n"
                                  "  c:[issuer==\"AttestationService\"] => permit();\n};\n";
        MaaPolicy *p = NULL;
        Diag d = {};

        assert_int_equal(maa_policy_compile(named, strlen(named), &p, &d), 0);
        assert_true(maa_policy_reads_claim(p, "pcrs"));
        assert_true(maa_policy_reads_claim(p, "x"));
        assert_false(maa_policy_reads_claim(p, "events"));
        maa_policy_free(p);
        assert_int_equal(maa_policy_compile(any, strlen(any), &p, &d), 0);
        assert_true(maa_policy_reads_claim(p, "events"));
        maa_policy_free(p);
}

static void test_real_reports(void **state) {
        _cleanup_(json_object_putp) json_object *token = NULL;
        json_object *tee;
        size_t size;
        uint8_t *payload;

        SKIP_WITHOUT_VECTORS();
        /* The claim names a real MAA token carries for an SNP isolation TEE. */
        payload = test_read_vector("azure/maa-tokens/sharedeus2-sevsnpvm-1735604834.payload.json", &size);
        assert_int_equal(json_parse_capped((char *) payload, size, 1 << 20, 32, &token), 0);
        free(payload);
        assert_true(json_object_object_get_ex(token, "x-ms-isolation-tee", &tee));

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_object_putp) json_object *claims = NULL;
                AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
                char *body = make_body(cases[i].hcl, cases[i].vcek, "n-123", false);
                json_object *v, *k;
                Diag d = {};

                print_message("# %s\n", cases[i].hcl);
                if (appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d) < 0)
                        fail_msg("%s: %s", cases[i].hcl, d.text);
                assert_true(json_object_object_get_ex(claims, "x-ms-attestation-type", &v));
                assert_string_equal(json_object_get_string(v), "sevsnpvm");
                assert_true(json_object_object_get_ex(claims, "nonce", &v));
                assert_string_equal(json_object_get_string(v), "n-123");
                /* x-ms-runtime is the runtime claims, with the AK. */
                assert_true(json_object_object_get_ex(claims, "x-ms-runtime", &v));
                assert_true(json_object_object_get_ex(v, "keys", &k));
                k = json_object_array_get_idx(k, 0);
                assert_true(json_object_object_get_ex(k, "kid", &k));
                assert_string_equal(json_object_get_string(k), "HCLAkPub");
                /* Every x-ms-sevsnpvm-* claim of the real token is here, with the same type. */
                json_object_object_foreach(tee, key, val) {
                        json_object *mine;
                        if (strncmp(key, "x-ms-sevsnpvm-", 14) != 0)
                                continue;
                        if (!json_object_object_get_ex(claims, key, &mine))
                                fail_msg("claim %s is missing", key);
                        assert_int_equal(json_object_get_type(mine), json_object_get_type(val));
                }
                /* The Azure firmware's ID key digest, as real tokens show it (the 2023 capture;
                 * later firmware signs with other ID keys). */
                assert_true(json_object_object_get_ex(claims, "x-ms-sevsnpvm-idkeydigest", &v));
                if (i == 0)
                        assert_string_equal(json_object_get_string(v),
                                    "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca49"
                                    "1ecdd7f336dc28a6e0b2bb57af7a44a3");
                assert_true(json_object_object_get_ex(claims, "x-ms-sevsnpvm-vmpl", &v));
                assert_int_equal(json_object_get_int(v), 0);
                assert_true(json_object_object_get_ex(claims, "x-ms-sevsnpvm-is-debuggable", &v));
                assert_false(json_object_get_boolean(v));
                free(body);
        }
}

static void test_rejections(void **state) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        json_object *claims = NULL;
        char *body;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        body = make_body(cases[0].hcl, cases[0].vcek, NULL, true);
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, &d), -EXDEV);
        assert_non_null(strstr(d.text, "REPORT_DATA"));
        free(body);
        /* Another chip's VCEK. */
        body = make_body(cases[0].hcl, cases[2].vcek, NULL, false);
        assert_int_equal(appraise_sevsnpvm(&ctx, body, strlen(body), &claims, NULL), -EKEYREJECTED);
        free(body);
        /* Not trusted at all: an empty trust store. */
        {
                SnpTrust *none = NULL;
                AppraiseContext c2 = { .now = time(NULL) };
                assert_int_equal(snp_trust_new(false, &none), 0);
                c2.trust = none;
                body = make_body(cases[0].hcl, cases[0].vcek, NULL, false);
                assert_int_equal(appraise_sevsnpvm(&c2, body, strlen(body), &claims, NULL), -ENOKEY);
                free(body);
                snp_trust_free(none);
        }
        memset(&d, 0, sizeof(d));
        assert_int_equal(appraise_sevsnpvm(&ctx, "{", 1, &claims, &d), -EBADMSG);
        assert_int_equal(appraise_sevsnpvm(&ctx, "{\"report\": 5}", 13, &claims, &d), -EBADMSG);
        assert_int_equal(appraise_sevsnpvm(&ctx, "x", APPRAISE_BODY_MAX + 1, &claims, NULL), -E2BIG);
        assert_null(claims);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_reports),
                cmocka_unit_test(test_rejections),
                cmocka_unit_test(test_lookups),
                cmocka_unit_test(test_endorsement_cache),
                cmocka_unit_test(test_policy_reads),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
