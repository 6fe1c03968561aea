/* SPDX-License-Identifier: Apache-2.0 */
/* appraise_azureguest() on AttestationInfo documents built from real Azure SNP CVM captures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/openssl-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/appraise-cache.h"
#include "verifier/endorsement-cache.h"
#include "verifier/maa-policy.h"
#include "vtpm/eventlog.h"
#include "vtpm/hcl-report.h"
#include "vtpm/tpm-pcrs.h"
#include "tests/unit/test-util.h"

#define TAZ "azure/trustee-az-snp-vtpm/"
static const struct {
        const char *hcl, *vcek, *msg, *sig, *pcrs;
} cases[] = {
        { TAZ "hcl-report.bin", TAZ "vcek.pem", TAZ "quote.msg.bin", TAZ "quote.sig.bin",
          TAZ "quote.pcrs-sha256.json" },
#define E(n) { TAZ n ".hcl-report.bin", TAZ n ".vcek.pem", TAZ n ".quote-msg.bin", \
               TAZ n ".quote-sig.bin", TAZ n ".pcrs-sha256.json" }
        E("evidence-genoa"), E("evidence-v0"), E("evidence-v1"), E("evidence-v2"),
#undef E
};

typedef enum Tamper {
        TAMPER_NONE,
        TAMPER_PCR,
        TAMPER_RUNTIME,
        TAMPER_OTHER_AK,
} Tamper;

static SnpTrust *trust;

static int setup(void **state) {
        return snp_trust_new(true, &trust) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        trust = snp_trust_free(trust);
        return 0;
}

static char *b64url(const void *p, size_t n) {
        char *s = NULL;
        assert_int_equal(base64url_encode(p, n, &s), 0);
        return s;
}

/* Standard base64, as Azure's clients write TpmInfo. */
static char *b64std(const void *p, size_t n) {
        char *s = malloc(4 * ((n + 2) / 3) + 1);
        assert_non_null(s);
        EVP_EncodeBlock((unsigned char *) s, p, (int) n);
        return s;
}

static char *der_b64(EVP_PKEY *k) {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(k, &der);
        char *s;

        assert_true(n > 0);
        s = b64std(der, (size_t) n);
        OPENSSL_free(der);
        return s;
}

/* The AK of another VM (azure-cvm-tooling). */
static EVP_PKEY *other_ak(void) {
        size_t n;
        uint8_t *pem = test_read_vector("azure/azure-cvm-tooling/akpub.pem", &n);
        BIO *b = BIO_new_mem_buf(pem, (int) n);
        EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);

        assert_non_null(k);
        BIO_free(b);
        free(pem);
        return k;
}

/* An AzureGuest body as Azure's guest attestation client builds it, from real captures. */
static char *make_body(size_t i, Tamper t, uint8_t ret_measurement[48]) {
        size_t hcl_size, vcek_size, msg_size, sig_size, pcrs_size;
        uint8_t *hcl = test_read_vector(cases[i].hcl, &hcl_size);
        uint8_t *vcek = test_read_vector(cases[i].vcek, &vcek_size);
        uint8_t *msg = test_read_vector(cases[i].msg, &msg_size);
        uint8_t *sig = test_read_vector(cases[i].sig, &sig_size);
        uint8_t *pcrs_text = test_read_vector(cases[i].pcrs, &pcrs_size);
        json_object *claims = NULL, *info, *tpm, *pcrs_arr, *iso, *ev, *cp;
        char *s, *proof, *body;
        uint8_t *rt;
        EVP_PKEY *ak = NULL;
        TpmPcrSet pcrs;
        const TpmPcrBank *bank;
        HclReport h;
        SnpReport rep;

        assert_int_equal(hcl_report_parse(hcl, hcl_size, &h, NULL), 0);
        assert_int_equal(snp_report_parse(h.hw_report, HCL_HW_REPORT_SIZE, &rep, NULL), 0);
        memcpy(ret_measurement, rep.measurement, 48);
        assert_int_equal(hcl_runtime_claims(&h, &claims, NULL), 0);
        if (t == TAMPER_OTHER_AK)
                ak = other_ak();
        else
                assert_int_equal(hcl_claims_key(claims, "HCLAkPub", &ak, NULL), 0);
        json_object_put(claims);

        info = json_object_new_object();
        tpm = json_object_new_object();
        pcrs_arr = json_object_new_array();
        assert_int_equal(tpm_pcrs_from_json((char *) pcrs_text, pcrs_size, &pcrs, NULL), 0);
        bank = tpm_pcr_set_bank(&pcrs, TPM_ALG_SHA256);
        assert_non_null(bank);
        for (unsigned j = 0; j < TPM_PCR_COUNT; j++) {
                json_object *e = json_object_new_object();
                uint8_t v[32];

                if (!(bank->mask & (1u << j)))
                        continue;
                memcpy(v, bank->value[j], 32);
                if (t == TAMPER_PCR && j == 4)
                        v[0] ^= 1;
                s = b64std(v, 32);
                json_object_object_add(e, "Index", json_object_new_int((int) j));
                json_object_object_add(e, "Digest", json_object_new_string(s));
                json_object_array_add(pcrs_arr, e);
                free(s);
        }
        json_object_object_add(tpm, "PCRs", pcrs_arr);
        s = der_b64(ak);
        json_object_object_add(tpm, "AikPub", json_object_new_string(s));
        free(s);
        s = b64std(msg, msg_size);
        json_object_object_add(tpm, "PcrQuote", json_object_new_string(s));
        free(s);
        s = b64std(sig, sig_size);
        json_object_object_add(tpm, "PcrSignature", json_object_new_string(s));
        free(s);
        json_object_object_add(info, "TpmInfo", tpm);

        /* IsolationInfo: Proof {SnpReport, VcekCertChain} and RunTimeData. */
        {
                char *rep_b64 = b64url(h.hw_report, HCL_HW_REPORT_SIZE);
                char *chain_b64 = b64url(vcek, vcek_size);
                assert_true(asprintf(&s, "{\"SnpReport\":\"%s\",\"VcekCertChain\":\"%s\"}",
                                     rep_b64, chain_b64) > 0);
                proof = b64url(s, strlen(s));
                free(s);
                free(rep_b64);
                free(chain_b64);
        }
        rt = malloc(h.runtime_data_size);
        memcpy(rt, h.runtime_data, h.runtime_data_size);
        if (t == TAMPER_RUNTIME)
                rt[h.runtime_data_size / 2] ^= 1;
        iso = json_object_new_object();
        ev = json_object_new_object();
        json_object_object_add(iso, "Type", json_object_new_string("SevSnp"));
        json_object_object_add(ev, "Proof", json_object_new_string(proof));
        s = b64url(rt, h.runtime_data_size);
        json_object_object_add(ev, "RunTimeData", json_object_new_string(s));
        free(s);
        free(proof);
        free(rt);
        json_object_object_add(iso, "Evidence", ev);
        json_object_object_add(info, "IsolationInfo", iso);

        /* The OS and the client payload, as the Python client writes them. */
        json_object_object_add(info, "AttestationProtocolVersion", json_object_new_string("2.0"));
        json_object_object_add(info, "OSType", json_object_new_string("TGludXg=")); /* Linux */
        json_object_object_add(info, "OSDistro", json_object_new_string("VWJ1bnR1")); /* Ubuntu */
        json_object_object_add(info, "OSVersionMajor", json_object_new_string("22"));
        json_object_object_add(info, "OSVersionMinor", json_object_new_int(4));
        json_object_object_add(info, "OSBuild",
                               json_object_new_string("Tm90QXBwbGljYXRpb24=")); /* NotApplication */
        cp = json_object_new_object();
        json_object_object_add(cp, "nonce", json_object_new_string("MTIzNA==")); /* 1234 */
        json_object_object_add(info, "ClientPayload", cp);

        s = (char *) json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN);
        proof = b64url(s, strlen(s));
        assert_true(asprintf(&body, "{\"AttestationInfo\":\"%s\"}", proof) > 0);
        free(proof);
        json_object_put(info);
        EVP_PKEY_free(ak);
        free(hcl);
        free(vcek);
        free(msg);
        free(sig);
        free(pcrs_text);
        return body;
}

static void test_real_evidence(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_object_putp) json_object *claims = NULL;
                AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
                uint8_t measurement[48];
                char hex[97];
                char *body = make_body(i, TAMPER_NONE, measurement);
                json_object *v, *tee, *rt, *k;
                Diag d = {};

                print_message("# %s\n", cases[i].hcl);
                if (appraise_azureguest(&ctx, body, strlen(body), &claims, &d) < 0)
                        fail_msg("%s: %s", cases[i].hcl, d.text);
                assert_true(json_object_object_get_ex(claims, "x-ms-attestation-type", &v));
                assert_string_equal(json_object_get_string(v), "azurevm");
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-attested-pcrs", &v));
                assert_true(json_object_array_length(v) >= 8);
                for (size_t j = 0; j < 8; j++)
                        assert_int_equal(json_object_get_int(json_object_array_get_idx(v, j)), j);
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-ostype", &v));
                assert_string_equal(json_object_get_string(v), "Linux");
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-osdistro", &v));
                assert_string_equal(json_object_get_string(v), "Ubuntu");
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-osbuild", &v));
                assert_string_equal(json_object_get_string(v), "NotApplication");
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-osversion-major", &v));
                assert_int_equal(json_object_get_int(v), 22);
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-osversion-minor", &v));
                assert_int_equal(json_object_get_int(v), 4);
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-is-windows", &v));
                assert_false(json_object_get_boolean(v));
                assert_true(json_object_object_get_ex(claims,
                                                      "x-ms-azurevm-attestation-protocol-ver", &v));
                assert_string_equal(json_object_get_string(v), "2.0");
                assert_true(json_object_object_get_ex(claims, "nonce", &v));
                assert_string_equal(json_object_get_string(v), "1234");
                /* No event log, no encryption key in these captures: those claims are absent. */
                assert_false(json_object_object_get_ex(claims, "secureboot", NULL));
                assert_true(json_object_object_get_ex(claims, "x-ms-runtime", &rt));
                assert_false(json_object_object_get_ex(rt, "keys", NULL));
                assert_true(json_object_object_get_ex(rt, "client-payload", &v));
                assert_true(json_object_object_get_ex(v, "nonce", &v));
                assert_string_equal(json_object_get_string(v), "MTIzNA==");
                /* The isolation TEE: the report's measurement and the HCL runtime claims. */
                assert_true(json_object_object_get_ex(claims, "x-ms-isolation-tee", &tee));
                assert_true(json_object_object_get_ex(tee, "x-ms-attestation-type", &v));
                assert_string_equal(json_object_get_string(v), "sevsnpvm");
                assert_true(json_object_object_get_ex(tee, "x-ms-sevsnpvm-launchmeasurement", &v));
                hex_encode_buf(measurement, 48, hex);
                assert_string_equal(json_object_get_string(v), hex);
                assert_true(json_object_object_get_ex(tee, "x-ms-runtime", &v));
                assert_true(json_object_object_get_ex(v, "keys", &k));
                k = json_object_array_get_idx(k, 0);
                assert_true(json_object_object_get_ex(k, "kid", &k));
                assert_string_equal(json_object_get_string(k), "HCLAkPub");
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-ak-vouched-by", &v));
                assert_string_equal(json_object_get_string(v), "sevsnp-report");
                /* For policies: the quoted PCRs as MAA's "pcrs" claim, which a policy in MAA's
                 * language can hold reference values against. */
                {
                        json_object *pcrs, *arr, *attested, *e, *dg;
                        _cleanup_(freep) char *policy = NULL;
                        MaaPolicy *p = NULL;
                        MaaVerdict verdict = {};

                        assert_true(json_object_object_get_ex(claims, "pcrs", &pcrs));
                        assert_true(json_object_object_get_ex(pcrs, "PCRs", &arr));
                        assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-attested-pcrs",
                                                              &attested));
                        assert_int_equal(json_object_array_length(arr), json_object_array_length(attested));
                        e = json_object_array_get_idx(arr, 0);
                        assert_true(json_object_object_get_ex(e, "Index", &v));
                        assert_int_equal(json_object_get_int(v), 0);
                        assert_true(json_object_object_get_ex(e, "Digests", &dg));
                        assert_true(json_object_object_get_ex(dg, "SHA256", &v));
                        assert_int_equal(json_object_get_string_len(v), 64);
                        assert_true(asprintf(&policy,
                                             "version=1.2;\nauthorizationrules {\n"
                                             "  c:[type==\"pcrs\", issuer==\"AttestationService\"] => "
                                             "add(type=\"pcr0\", value=JsonToClaimValue(JmesPath(c.value, "
                                             "\"PCRs[? Index == `0`].Digests.SHA256 | @[0]\")));\n"
                                             "  [type==\"pcr0\", value==\"%s\"] => permit();\n};\n",
                                             json_object_get_string(v)) > 0);
                        assert_int_equal(maa_policy_compile(policy, strlen(policy), &p, &d), 0);
                        assert_int_equal(maa_policy_evaluate(p, claims, 0, &verdict, &d), 0);
                        assert_true(verdict.permitted);
                        maa_verdict_done(&verdict);
                        policy[strlen(policy) - 21] ^= 1; /* another PCR 0 value (its last hex digit) */
                        maa_policy_free(p);
                        p = NULL;
                        assert_int_equal(maa_policy_compile(policy, strlen(policy), &p, &d), 0);
                        assert_int_equal(maa_policy_evaluate(p, claims, 0, &verdict, &d), 0);
                        assert_false(verdict.permitted);
                        maa_verdict_done(&verdict);
                        maa_policy_free(p);
                }
                /* They stay out of the token. */
                appraise_strip_incoming(claims);
                assert_false(json_object_object_get_ex(claims, "pcrs", NULL));
                assert_false(json_object_object_get_ex(claims, "events", NULL));
                free(body);
        }
}

static void expect(size_t i, Tamper t, int want, const char *text) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        json_object *claims = NULL;
        uint8_t m[48];
        char *body = make_body(i, t, m);
        Diag d = {};

        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), want);
        assert_null(claims);
        if (text && !strstr(d.text, text))
                fail_msg("diag '%s' lacks '%s'", d.text, text);
        free(body);
}

static void test_rejections(void **state) {
        SKIP_WITHOUT_VECTORS();
        expect(1, TAMPER_PCR, -EXDEV, NULL);
        expect(1, TAMPER_RUNTIME, -EXDEV, "REPORT_DATA");
        expect(0, TAMPER_OTHER_AK, -EKEYREJECTED, NULL);
}

static void test_malformed(void **state) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        static const char *const bodies[] = {
                "{",
                "[]",
                "{\"AttestationInfo\": 5}",
                "{\"AttestationInfo\": \"!!!not base64\"}",
                "{\"attestationInfo\": \"bm90IGpzb24\"}",           /* "not json" */
                "{\"AttestationInfo\": \"e30\"}",                   /* {} */
                "{\"AttestationInfo\": \"eyJUcG1JbmZvIjp7fX0\"}",   /* {"TpmInfo":{}} */
                /* {"TpmInfo":{"AikPub":"@@"}} */
                "{\"AttestationInfo\": \"eyJUcG1JbmZvIjp7IkFpa1B1YiI6IkBAIn19\"}",
        };
        json_object *claims = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
                Diag d = {};
                int r = appraise_azureguest(&ctx, bodies[i], strlen(bodies[i]), &claims, &d);
                if (r != -EBADMSG)
                        fail_msg("%s: %d (%s)", bodies[i], r, d.text);
        }
        assert_int_equal(appraise_azureguest(&ctx, "x", APPRAISE_BODY_MAX + 1, &claims, NULL),
                         -E2BIG);
        assert_null(claims);
}


/* The claims of a body as text, or the Diag's text with the error. */
static char *appraise_text(const char *body, size_t size) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        json_object *claims = NULL;
        Diag d = {};
        char *out = NULL;
        int r;

        r = appraise_azureguest(&ctx, body, size, &claims, &d);
        if (r < 0)
                assert_true(asprintf(&out, "%d %s", r, d.text) > 0);
        else {
                out = strdup(json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN));
                json_object_put(claims);
        }
        assert_non_null(out);
        return out;
}

static void expect_body(const char *body, size_t size, const char *want) {
        char *got = appraise_text(body, size);

        if (!strstr(got, want))
                fail_msg("%.200s: got '%.300s', want '%.300s'", body, got, want);
        free(got);
}

/* The request wrapper in every form JSON allows, taken straight from the body or through the
 * JSON parser: the same claims, and the same refusals with the same words. */
static void test_wrapper_forms(void **state) {
        uint8_t m[48];
        char *body, *b64, *claims, *v = NULL, *std;
        size_t n, k = 0;

        SKIP_WITHOUT_VECTORS();
        body = make_body(0, TAMPER_NONE, m);
        b64 = strdup(body + strlen("{\"AttestationInfo\":\""));
        b64[strlen(b64) - 2] = '\0';
        claims = appraise_text(body, strlen(body));
        assert_int_equal(claims[0], '{');

        assert_true(asprintf(&v, " \r\n{\t\"attestationInfo\" :\n\"%s\" }\n\t", b64) > 0);
        expect_body(v, strlen(v), claims);
        free(v);
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\",\"Extra\":[1]}", b64) > 0);
        expect_body(v, strlen(v), claims);
        free(v);
        /* Duplicates: the last one counts. */
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"e30\",\"AttestationInfo\":\"%s\"}", b64) >
                    0);
        expect_body(v, strlen(v), claims);
        free(v);
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\",\"AttestationInfo\":\"e30\"}", b64) >
                    0);
        expect_body(v, strlen(v), "-74 AttestationInfo: TpmInfo is missing or not an object");
        free(v);
        /* Standard base64 with padding, '/' written as the escape "\/" and 'A' as "\u0041". */
        n = strlen(b64);
        std = malloc(3 * n + 8);
        assert_non_null(std);
        for (size_t i = 0; i < n; i++) {
                const char *e = b64[i] == '_' ? "\\/" : b64[i] == 'A' ? "\\u0041" : NULL;

                if (e) {
                        memcpy(std + k, e, strlen(e));
                        k += strlen(e);
                } else
                        std[k++] = b64[i] == '-' ? '+' : b64[i];
        }
        for (; n % 4; n++)
                std[k++] = '=';
        std[k] = '\0';
        assert_true(strstr(std, "\\/") || strstr(std, "\\u0041"));
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\"}", std) > 0);
        expect_body(v, strlen(v), claims);
        free(v);
        free(std);

        /* Refusals. */
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\"} x", b64) > 0);
        expect_body(v, strlen(v), "-74 request: not a JSON object");
        expect_body(v, strlen(v) - 2, claims);
        expect_body(v, strlen(v) - 1, claims);
        v[strlen(v) - 2] = '\0'; /* a NUL after the object */
        expect_body(v, strlen(v) + 2, "-74 request: not a JSON object");
        free(v);
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\"}}", b64) > 0);
        expect_body(v, strlen(v), "-74 request: not a JSON object");
        expect_body(v, strlen(v) - 2, "-74 request: not a JSON object");
        free(v);
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\"]", b64) > 0);
        expect_body(v, strlen(v), "-74 request: not a JSON object");
        free(v);
        b64[n / 2] = '!';
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\"}", b64) > 0);
        expect_body(v, strlen(v),
                    "-74 request: \"AttestationInfo\" is not base64url (or too large)");
        free(v);
        b64[n / 2] = '\t';
        assert_true(asprintf(&v, "{\"AttestationInfo\":\"%s\"}", b64) > 0);
        expect_body(v, strlen(v),
                    "-74 request: \"AttestationInfo\" is not base64url (or too large)");
        free(v);
        assert_true(asprintf(&v, "{\"Attestationinfo\":\"%s\"}", b64) > 0);
        expect_body(v, strlen(v), "-74 request: \"attestationInfo\" is missing or not a string");
        free(v);
        free(claims);
        free(b64);
        free(body);
}

/* quoted: one SHA-1 bank with pcr (and, when extra < 24, extra holding extra_value's byte in
 * every position). */
static TpmPcrSet quote_pcr(uint16_t alg, uint32_t pcr, const uint8_t *value, uint32_t extra,
                           uint8_t extra_value) {
        TpmPcrSet q = { .n_banks = 1 };
        TpmPcrBank *b = &q.banks[0];

        b->alg = alg;
        b->size = tpm_alg_digest_size(alg);
        b->mask = UINT32_C(1) << pcr;
        memcpy(b->value[pcr], value, b->size);
        if (extra < TPM_PCR_COUNT) {
                b->mask |= UINT32_C(1) << extra;
                memset(b->value[extra], extra_value, b->size);
        }
        return q;
}

static void expect_eventlog(const EventLog *log, const TpmPcrSet *q, int want, const char *text) {
        _cleanup_(json_object_putp) json_object *verdicts = NULL, *again = NULL;
        Diag d = {};

        assert_int_equal(appraise_eventlog_check(log, q, NULL, &d), want);
        if (text && !strstr(d.text, text))
                fail_msg("diag '%s' lacks '%s'", d.text, text);
        /* With the verdicts asked for, the same outcome, and eventlog_compare's verdicts. */
        d = (Diag) {};
        assert_int_equal(appraise_eventlog_check(log, q, &verdicts, &d), want);
        if (text && !strstr(d.text, text))
                fail_msg("diag '%s' lacks '%s'", d.text, text);
        if (want == 0) {
                assert_non_null(verdicts);
                assert_true(eventlog_compare(log, q, &again) >= 0);
                assert_string_equal(json_object_to_json_string(verdicts),
                                    json_object_to_json_string(again));
        }
}

/* The event log held to the quoted PCRs (one replay per bank; eventlog_compare when a PCR
 * differs): matches, the Exit Boot Services workaround, mismatches, PCRs the log never extends,
 * banks it cannot replay. */
static void test_eventlog_check(void **state) {
        static const uint8_t ebs[20] = { 0x31, 0x24, 0x58, 0x08, 0xd6, 0xd3, 0x58, 0x49, 0xbc, 0x39,
                                         0x4f, 0x63, 0x43, 0xf2, 0xb3, 0xff, 0x90, 0x8e, 0xd5, 0xe3 };
        _cleanup_(freep) uint8_t *buf = NULL;
        EventLog *log = NULL;
        TpmPcrBank replay;
        TpmPcrSet q;
        uint8_t other[20];
        size_t size;

        SKIP_WITHOUT_VECTORS();
        buf = test_read_vector("eventlog/go-attestation/ebs_event_missing_eventlog", &size);
        assert_int_equal(eventlog_parse(buf, size, &log, NULL), 0);
        assert_int_equal(eventlog_replay(log, TPM_ALG_SHA1, &replay), 0);
        assert_true(replay.mask & (UINT32_C(1) << 5));
        assert_false(replay.mask & (UINT32_C(1) << 16));

        q = quote_pcr(TPM_ALG_SHA1, 5, replay.value[5], 24, 0);
        expect_eventlog(log, &q, 0, NULL);
        /* go-attestation's value: PCR 5 with the two Exit Boot Services events the log lacks. */
        q = quote_pcr(TPM_ALG_SHA1, 5, ebs, 24, 0);
        expect_eventlog(log, &q, 0, NULL);
        memcpy(other, replay.value[5], 20);
        other[19] ^= 1;
        q = quote_pcr(TPM_ALG_SHA1, 5, other, 24, 0);
        expect_eventlog(log, &q, -EXDEV, "sha1 PCR 5 differs from the event log's replay");
        /* PCR 16 is not in the log: its reset value, or not explained. */
        q = quote_pcr(TPM_ALG_SHA1, 5, replay.value[5], 16, 0);
        expect_eventlog(log, &q, 0, NULL);
        q = quote_pcr(TPM_ALG_SHA1, 5, replay.value[5], 16, 0xff);
        expect_eventlog(log, &q, -EXDEV, "sha1 PCR 16 was extended, but the event log has no "
                                         "events for it");
        q = quote_pcr(TPM_ALG_SHA1, 5, ebs, 16, 0x01);
        expect_eventlog(log, &q, -EXDEV, "sha1 PCR 16 was extended");
        /* DRTM PCRs 17..22 may hold all 0xFF. */
        q = quote_pcr(TPM_ALG_SHA1, 5, replay.value[5], 17, 0xff);
        expect_eventlog(log, &q, 0, NULL);
        /* A SHA-1 log says nothing about a SHA-256 bank. */
        q = quote_pcr(TPM_ALG_SHA256, 5, (const uint8_t[32]) {}, 24, 0);
        expect_eventlog(log, &q, -EXDEV, "no sha256 digests to replay");
        eventlog_free(log);
}

/* The key cache: entries by label and bytes, copies handed out, a set's least recently used
 * entry replaced first. */
static void test_key_cache(void **state) {
        /* Any key does: the cache holds it, it does not read it. No vectors needed. */
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *a = EVP_RSA_gen(2048);
        KeyCache *c = NULL;
        CachedKey k = {}, got = {};
        uint8_t keys[9][KEY_CACHE_KEY_SIZE], x[KEY_CACHE_KEY_SIZE];
        uint64_t hits, misses;
        json_object *v;

        assert_int_equal(key_cache_new(0, &c), -EINVAL);
        assert_int_equal(key_cache_new(65537, &c), -EINVAL);
        assert_int_equal(key_cache_new(1, &c), 0); /* one set of eight */
        key_cache_key("AikPub", "ab", 2, keys[0]);
        key_cache_key("EncKeyPub", "ab", 2, x);
        assert_memory_not_equal(keys[0], x, KEY_CACHE_KEY_SIZE);
        assert_int_equal(key_cache_get(c, keys[0], &got), -ENOENT);

        k.key = a;
        k.has_public = true;
        k.public_area.type = TPM2_ALG_RSA;
        k.jwk = json_object_new_object();
        assert_int_equal(json_add_string(k.jwk, "kty", "RSA"), 0);
        assert_int_equal(key_cache_put(c, keys[0], &k), 0);
        json_object_put(k.jwk); /* the cache keeps a copy */
        k.jwk = NULL;
        assert_int_equal(key_cache_get(c, keys[0], &got), 0);
        assert_ptr_equal(got.key, a);
        assert_true(got.has_public);
        assert_int_equal(got.public_area.type, TPM2_ALG_RSA);
        assert_true(json_object_object_get_ex(got.jwk, "kty", &v));
        /* The copy is the caller's to change. */
        assert_int_equal(json_add_string(got.jwk, "key_ops", "x"), 0);
        cached_key_done(&got);
        assert_int_equal(key_cache_get(c, keys[0], &got), 0);
        assert_false(json_object_object_get_ex(got.jwk, "key_ops", NULL));
        cached_key_done(&got);

        /* Eight more: the first, least recently used, goes. */
        for (int i = 1; i < 9; i++) {
                char b = (char) ('0' + i);

                key_cache_key("AikPub", &b, 1, keys[i]);
                assert_int_equal(key_cache_put(c, keys[i], &k), 0);
        }
        assert_int_equal(key_cache_get(c, keys[0], &got), -ENOENT);
        for (int i = 1; i < 9; i++) {
                assert_int_equal(key_cache_get(c, keys[i], &got), 0);
                assert_null(got.jwk);
                cached_key_done(&got);
        }
        key_cache_stats(c, &hits, &misses);
        assert_int_equal(hits, 10);
        assert_int_equal(misses, 2);
        c = key_cache_free(c);
        assert_null(c);
}

/* Appraisal with the caches gives what it gives without them, the first time (filling them)
 * and the next (from them); tampered evidence is refused all the same with a warm cache. */
static void test_appraise_cached(void **state) {
        KeyCache *keys = NULL;
        FactCache *facts = NULL;
        uint64_t hits, misses;

        SKIP_WITHOUT_VECTORS();
        assert_int_equal(key_cache_new(64, &keys), 0);
        assert_int_equal(fact_cache_new(64, &facts), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t m[48];
                char *body = make_body(i, TAMPER_NONE, m), *plain, *cached;

                plain = appraise_text(body, strlen(body));
                assert_int_equal(plain[0], '{');
                for (int round = 0; round < 2; round++) {
                        AppraiseContext ctx = { .trust = trust, .now = time(NULL), .keys = keys,
                                                .facts = facts };
                        json_object *claims = NULL;
                        Diag d = {};

                        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d),
                                         0);
                        cached = strdup(json_object_to_json_string_ext(claims,
                                                                       JSON_C_TO_STRING_PLAIN));
                        assert_string_equal(cached, plain);
                        free(cached);
                        json_object_put(claims);
                }
                free(plain);
                free(body);
        }
        /* One AikPub look-up per appraisal (no EncKeyPub in these captures), each a miss the
         * first time those bytes come (some captures share their VM's AK). */
        key_cache_stats(keys, &hits, &misses);
        assert_int_equal(hits + misses, 2 * ELEMENTSOF(cases));
        assert_true(hits >= ELEMENTSOF(cases) && misses >= 1);
        for (int round = 0; round < 2; round++) {
                static const struct {
                        size_t i;
                        Tamper t;
                        int want;
                } bad[] = { { 1, TAMPER_PCR, -EXDEV }, { 1, TAMPER_RUNTIME, -EXDEV },
                            { 0, TAMPER_OTHER_AK, -EKEYREJECTED } };

                for (size_t j = 0; j < ELEMENTSOF(bad); j++) {
                        AppraiseContext ctx = { .trust = trust, .now = time(NULL), .keys = keys,
                                                .facts = facts };
                        json_object *claims = NULL;
                        uint8_t m[48];
                        char *body = make_body(bad[j].i, bad[j].t, m);

                        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims,
                                                             NULL),
                                         bad[j].want);
                        assert_null(claims);
                        free(body);
                }
        }
        key_cache_free(keys);
        fact_cache_free(facts);
}

/* A trusted-launch body from a real vTPM capture with its event log (GCE COS 85: AK as TPMT_PUBLIC,
 * AK certificate, SHA-256 quote without nonce). flip: an offset in the log to corrupt, or 0. */
#define GCE "tpm/gce-cos-85/"
#define NO_LOG SIZE_MAX
static const char *tl_capture = "no-nonce";
static char *make_tl_body(size_t flip) {
        static const struct {
                const char *key, *path;
        } members[] = {
                { "AikPub", "ak-pub.tpmt" },
                { "AikCert", "ak-cert.der" },
                { "PcrQuote", ".quote-sha256.tpms_attest" },
                { "PcrSignature", ".quote-sha256.tpmt_signature" },
        };
        char path[256];
        json_object *info = json_object_new_object(), *tpm = json_object_new_object(), *iso;
        json_object *arr = json_object_new_array();
        size_t n;
        uint8_t *buf;
        char *s, *body;
        TpmPcrSet pcrs;
        const TpmPcrBank *bank;

        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                (void) snprintf(path, sizeof(path), GCE "%s%s",
                                members[i].path[0] == '.' ? tl_capture : "", members[i].path);
                buf = test_read_vector(path, &n);
                s = b64std(buf, n);
                json_object_object_add(tpm, members[i].key, json_object_new_string(s));
                free(s);
                free(buf);
        }
        (void) snprintf(path, sizeof(path), GCE "%s.pcrs-sha256.json", tl_capture);
        buf = test_read_vector(path, &n);
        assert_int_equal(tpm_pcrs_from_json((char *) buf, n, &pcrs, NULL), 0);
        free(buf);
        bank = tpm_pcr_set_bank(&pcrs, TPM_ALG_SHA256);
        for (unsigned j = 0; j < TPM_PCR_COUNT; j++) {
                json_object *e;
                if (!(bank->mask & (1u << j)))
                        continue;
                e = json_object_new_object();
                s = b64std(bank->value[j], 32);
                json_object_object_add(e, "Index", json_object_new_int((int) j));
                json_object_object_add(e, "Digest", json_object_new_string(s));
                json_object_array_add(arr, e);
                free(s);
        }
        json_object_object_add(tpm, "PCRs", arr);
        json_object_object_add(info, "TpmInfo", tpm);
        if (flip != NO_LOG) {
                buf = test_read_vector(GCE "eventlog.bin", &n);
                if (flip)
                        buf[flip] ^= 1;
                s = b64std(buf, n);
                json_object_object_add(info, "TcgLogs", json_object_new_string(s));
                free(s);
                free(buf);
        }
        iso = json_object_new_object();
        json_object_object_add(iso, "Type", json_object_new_string("TrustedLaunch"));
        json_object_object_add(info, "IsolationInfo", iso);
        s = (char *) json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN);
        s = b64url(s, strlen(s));
        assert_true(asprintf(&body, "{\"attestationInfo\":\"%s\"}", s) > 0);
        free(s);
        json_object_put(info);
        return body;
}

/* The trusted-launch capture whose quote carries a nonce ("9009"), without its log. */
static char *make_tl_body_nonce(void) {
        char *body;

        tl_capture = "nonce9009";
        body = make_tl_body(NO_LOG);
        tl_capture = "no-nonce";
        return body;
}

static bool activated_answer;
static size_t activated_name_size;
static bool ak_activated(void *userdata, const uint8_t *name, size_t name_size, const uint8_t *extra,
                         size_t extra_size) {
        activated_name_size = name_size;
        return activated_answer;
}

/* Trusted launch: nothing but a configured AK CA vouches for the AK (the CA that issued this
 * real GCE AK certificate is not among the vectors: the positive case runs against the
 * simulator's AK CA in the integration tests). */
static void test_trusted_launch_vouching(void **state) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        json_object *claims = NULL;
        char *body;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        body = make_tl_body(NO_LOG);
        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "nothing vouches for the AK"));
        assert_null(claims);
        {
                EVP_PKEY *k = EVP_EC_gen("P-256");
                X509 *ca = X509_new();
                X509_STORE *store = X509_STORE_new();

                X509_set_version(ca, 2);
                ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
                X509_gmtime_adj(X509_getm_notBefore(ca), -60);
                X509_gmtime_adj(X509_getm_notAfter(ca), 3600);
                X509_set_pubkey(ca, k);
                X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC,
                                           (const unsigned char *) "unrelated AK CA", -1, -1, 0);
                X509_set_issuer_name(ca, X509_get_subject_name(ca));
                assert_true(X509_sign(ca, k, EVP_sha256()) > 0);
                assert_true(X509_STORE_add_cert(store, ca));
                ctx.ak_ca = store;
                memset(&d, 0, sizeof(d));
                assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), -ENOKEY);
                assert_non_null(strstr(d.text, "does not chain to a configured AK certificate authority"));
                assert_null(claims);
                X509_STORE_free(store);
                X509_free(ca);
                EVP_PKEY_free(k);
        }
        /* Credential activation: the quote's nonce is (or is not) the secret of a live credential
         * made for this AK's name. This capture's quote has no nonce, so nothing is asked. */
        ctx.ak_ca = NULL;
        ctx.ak_activated = ak_activated;
        activated_answer = true;
        memset(&d, 0, sizeof(d));
        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "not the secret of a live credential"));
        assert_int_equal(activated_name_size, 0);
        free(body);
        body = make_tl_body_nonce();
        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), 0);
        assert_int_equal(activated_name_size, 2 + 32); /* SHA-256 name */
        {
                json_object *v;
                assert_true(json_object_object_get_ex(claims, "x-ms-azurevm-ak-vouched-by", &v));
                assert_string_equal(json_object_get_string(v), "ek-chain");
        }
        json_object_put(claims);
        claims = NULL;
        activated_answer = false;
        memset(&d, 0, sizeof(d));
        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "not the secret of a live credential"));
        free(body);
}

static void test_trusted_launch_eventlog(void **state) {
        AppraiseContext ctx = { .trust = trust, .now = time(NULL) };
        json_object *claims = NULL;
        char *body;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        /* Everything up to the log verifies (TPMT_PUBLIC AK, its certificate, the quote), but
         * this capture quotes IMA's PCR 10, which the firmware log cannot explain: -EXDEV. */
        body = make_tl_body(0);
        assert_int_equal(appraise_azureguest(&ctx, body, strlen(body), &claims, &d), -EXDEV);
        assert_non_null(strstr(d.text, "PCR 10"));
        assert_null(claims);
        free(body);
        /* A digest in the log changed (the header ends before 0x200; events follow): -EXDEV. */
        body = make_tl_body(0x300);
        memset(&d, 0, sizeof(d));
        {
                json_object *c2 = NULL;
                int r = appraise_azureguest(&ctx, body, strlen(body), &c2, &d);
                if (r != -EXDEV && r != -EBADMSG)
                        fail_msg("corrupted log: %d (%s)", r, d.text);
                print_message("# corrupted log: %s\n", d.text);
                assert_null(c2);
        }
        free(body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_evidence),
                cmocka_unit_test(test_rejections),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_wrapper_forms),
                cmocka_unit_test(test_eventlog_check),
                cmocka_unit_test(test_key_cache),
                cmocka_unit_test(test_appraise_cached),
                cmocka_unit_test(test_trusted_launch_eventlog),
                cmocka_unit_test(test_trusted_launch_vouching),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
