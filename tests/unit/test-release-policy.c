/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "verifier/release-policy.h"
#include "tests/unit/test-util.h"

/* vectors/README.md §3.6: two real release policies; §3.4, §3.5: real MAA tokens. */
#define SKR_POLICY      "azure/release-policies/skr-policy.json"
#define DATADISK_POLICY "azure/release-policies/public_SKR_policy-datadisk.json"
#define EUS2            "https://sharedeus2.eus2.attest.azure.net"
#define WEU             "https://sharedweu.weu.attest.azure.net"

static const char *const maa_tokens[] = {
        "azure/maa-tokens/sharedeus2-sevsnpvm-1735604834.jwt",
        "azure/maa-tokens/sharedeus2-sevsnpvm-1735604836.jwt",
        "azure/maa-tokens/sharedeus2-sevsnpvm-1736697400.jwt",
};
#define WEU_CVM_TOKEN  "azure/cvm-guest-attestation/maa-token-sharedweu-cvm.jwt"
#define EUS2_TVM_TOKEN "azure/cvm-guest-attestation/maa-token-sharedeus2-tvm.jwt"

/* The four authorities of skr-policy.json, as written there (with a trailing '/'). */
static const char *const skr_authorities[] = {
        "https://sharedeus.eus.attest.azure.net/",
        "https://sharedwus.wus.attest.azure.net/",
        "https://sharedneu.neu.attest.azure.net/",
        "https://sharedweu.weu.attest.azure.net/",
};

static ReleasePolicy *parse_ok(const char *text, size_t size) {
        ReleasePolicy *p = NULL;
        Diag d = {};
        int r;

        r = release_policy_parse(text, size, &p, &d);
        if (r < 0)
                print_message("# parse: %d %s\n", r, d.text);
        assert_int_equal(r, 0);
        assert_non_null(p);
        return p;
}

static ReleasePolicy *parse_str(const char *text) {
        return parse_ok(text, strlen(text));
}

static ReleasePolicy *parse_vector(const char *name) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;

        buf = test_read_vector(name, &size);
        return parse_ok((const char *) buf, size);
}

static json_object *claims_of(const char *text) {
        json_object *j = NULL;

        assert_int_equal(json_parse_capped(text, strlen(text), 1u << 20, 32, &j), 0);
        return j;
}

/* Evaluates and checks the verdict: released or not, and a fragment of the reason. */
static void expect(const ReleasePolicy *p, const char *iss, json_object *claims, bool released,
                   const char *fragment) {
        ReleaseVerdict v;
        Diag d = {};

        memset(&v, 0xAA, sizeof(v));
        assert_int_equal(release_policy_evaluate(p, iss, claims, &v, &d), 0);
        if (v.released != released || (fragment && !strstr(v.reason, fragment)))
                print_message("# iss %s: released %d, reason \"%s\", wanted %d \"%s\"\n",
                              iss ? iss : "(null)", v.released, v.reason, released,
                              fragment ? fragment : "");
        assert_int_equal(v.released, released);
        assert_non_null(memchr(v.reason, '\0', sizeof(v.reason)));
        assert_true(v.reason[0] != '\0');
        for (const char *c = v.reason; *c; c++)
                assert_true(*c >= 0x20 && *c < 0x7f); /* one line of printable ASCII */
        if (fragment)
                assert_non_null(strstr(v.reason, fragment));
}

static void expect_text(const ReleasePolicy *p, const char *iss, const char *claims, bool released,
                        const char *fragment) {
        _cleanup_(json_object_putp) json_object *j = claims_of(claims);

        expect(p, iss, j, released, fragment);
}

/* The claims of a compact JWS: its payload, base64url-decoded and parsed. */
static json_object *jwt_payload(const char *name) {
        _cleanup_(freep) uint8_t *buf = NULL, *payload = NULL;
        const char *dot1, *dot2;
        json_object *j = NULL;
        size_t size, n;

        buf = test_read_vector(name, &size);
        dot1 = memchr(buf, '.', size);
        assert_non_null(dot1);
        dot2 = memchr(dot1 + 1, '.', size - (size_t) (dot1 + 1 - (const char *) buf));
        assert_non_null(dot2);
        assert_int_equal(
                base64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), 1u << 20, &payload, &n), 0);
        assert_int_equal(json_parse_capped((const char *) payload, n, 1u << 20, 32, &j), 0);
        return j;
}

static const char *iss_of(json_object *claims) {
        json_object *v;

        assert_true(json_object_object_get_ex(claims, "iss", &v));
        return json_object_get_string(v);
}

/* ---- the real policies ---- */

#define SKR_MATCH                                    \
        "{\"x-ms-attestation-type\": \"sevsnpvm\", " \
        "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}"

static void test_skr_policy(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        char iss[128];

        SKIP_WITHOUT_VECTORS();
        p = parse_vector(SKR_POLICY);

        for (size_t i = 0; i < ELEMENTSOF(skr_authorities); i++) {
                char want[64];

                (void) snprintf(want, sizeof(want), "released by anyOf[%zu]", i);
                /* as written, and as a token's iss says it (no trailing slash) */
                expect_text(p, skr_authorities[i], SKR_MATCH, true, want);
                (void) snprintf(iss, sizeof(iss), "%.*s", (int) strlen(skr_authorities[i]) - 1,
                                skr_authorities[i]);
                expect_text(p, iss, SKR_MATCH, true, want);
                assert_true(release_policy_names_authority(p, iss));
        }
        /* scheme and host in another case: the same authority */
        expect_text(p, "HTTPS://SharedWEU.weu.attest.AZURE.net", SKR_MATCH, true, "anyOf[3]");

        /* each condition flipped in turn */
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": \"tdxvm\", "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false,
                    "anyOf[3].allOf[0]: claim x-ms-attestation-type is \"tdxvm\", not equals "
                    "\"sevsnpvm\"");
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": \"sevsnpvm\", "
                    "\"x-ms-compliance-status\": \"azure-compliant-uvm\"}",
                    false, "anyOf[3].allOf[1]: claim x-ms-compliance-status is");
        /* missing claims */
        expect_text(p, WEU, "{\"x-ms-attestation-type\": \"sevsnpvm\"}", false,
                    "anyOf[3].allOf[1]: claim x-ms-compliance-status is missing");
        expect_text(p, WEU, "{}", false,
                    "anyOf[3].allOf[0]: claim x-ms-attestation-type is missing");
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": null, "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false, "is missing");
        /* the nested (AzureGuest) form of the same claims is not what this policy reads */
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": \"azurevm\", \"x-ms-isolation-tee\": "
                    "{\"x-ms-attestation-type\": \"sevsnpvm\", "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}}",
                    false, "is \"azurevm\", not equals \"sevsnpvm\"");
        /* values compare with case */
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": \"SevSnpVm\", "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false, "not equals");
        /* type mismatches */
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": true, "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false,
                    "claim x-ms-attestation-type is a boolean, which equals \"sevsnpvm\" "
                    "cannot compare with");
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": [\"sevsnpvm\"], "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false, "is an array");
        expect_text(p, WEU,
                    "{\"x-ms-attestation-type\": {\"sevsnpvm\": 1}, "
                    "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false, "is an object");

        /* authorities the policy does not name */
        expect_text(p, EUS2, SKR_MATCH, false,
                    "no authority of the policy matches the token's issuer "
                    "\"https://sharedeus2.eus2.attest.azure.net\"");
        expect_text(p, "http://sharedweu.weu.attest.azure.net", SKR_MATCH, false, "no authority");
        expect_text(p, "https://sharedweu.weu.attest.azure.net:443", SKR_MATCH, false,
                    "no authority");
        expect_text(p, "https://sharedweu.weu.attest.azure.net/x", SKR_MATCH, false,
                    "no authority");
        expect_text(p, "https://sharedweu.weu.attest.azure.net//", SKR_MATCH, false,
                    "no authority");
        expect_text(p, "https://sharedweu.weu.attest.azure.net.evil.example", SKR_MATCH, false,
                    "no authority");
        expect_text(p, "sharedweu.weu.attest.azure.net", SKR_MATCH, false, "no authority");
        expect_text(p, "", SKR_MATCH, false, "no authority");
        expect_text(p, NULL, SKR_MATCH, false, "the token has no issuer");
        assert_false(release_policy_names_authority(p, EUS2));
        assert_false(release_policy_names_authority(p, NULL));
}

#define DD_MATCH(type)                                                      \
        "{\"x-ms-attestation-type\": \"azurevm\", \"x-ms-isolation-tee\": " \
        "{\"x-ms-attestation-type\": \"" type "\", "                        \
        "\"x-ms-compliance-status\": \"azure-compliant-cvm\"}}"

static void test_datadisk_policy(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        json_object *any;
        size_t size, n_slash = 0;

        SKIP_WITHOUT_VECTORS();
        p = parse_vector(DATADISK_POLICY);

        /* every authority of the file, with and without its trailing slash */
        buf = test_read_vector(DATADISK_POLICY, &size);
        assert_int_equal(json_parse_capped((const char *) buf, size, 1u << 20, 32, &doc), 0);
        any = json_object_object_get(doc, "anyOf");
        assert_int_equal(json_object_array_length(any), 26);
        for (size_t i = 0; i < json_object_array_length(any); i++) {
                const char *a = json_object_get_string(
                        json_object_object_get(json_object_array_get_idx(any, i), "authority"));
                char other[128], want[64];
                size_t len = strlen(a);

                if (a[len - 1] == '/') {
                        (void) snprintf(other, sizeof(other), "%.*s", (int) len - 1, a);
                        n_slash++;
                } else
                        (void) snprintf(other, sizeof(other), "%s/", a);
                (void) snprintf(want, sizeof(want), "released by anyOf[%zu]", i);
                expect_text(p, a, DD_MATCH("sevsnpvm"), true, want);
                expect_text(p, other, DD_MATCH("tdxvm"), true, want);
                expect_text(p, other, DD_MATCH("azurevm"), false,
                            "allOf[0]: no condition of its anyOf holds (2 tried; first: ");
        }
        assert_true(n_slash > 0 && n_slash < 26); /* the file mixes both spellings */

        /* each condition flipped */
        expect_text(p, EUS2, DD_MATCH("sgxvm"), false,
                    "anyOf[1].allOf[0]: no condition of its anyOf holds (2 tried; first: "
                    "anyOf[1].allOf[0].anyOf[0]: claim x-ms-isolation-tee.x-ms-attestation-type "
                    "is \"sgxvm\", not equals \"sevsnpvm\")");
        expect_text(p, EUS2,
                    "{\"x-ms-isolation-tee\": {\"x-ms-attestation-type\": \"sevsnpvm\", "
                    "\"x-ms-compliance-status\": \"azure-noncompliant\"}}",
                    false,
                    "anyOf[1].allOf[1]: claim x-ms-isolation-tee.x-ms-compliance-status is "
                    "\"azure-noncompliant\", not equals \"azure-compliant-cvm\"");
        /* a missing claim, a missing parent, a parent that is not an object */
        expect_text(p, EUS2, "{\"x-ms-isolation-tee\": {\"x-ms-attestation-type\": \"tdxvm\"}}",
                    false,
                    "anyOf[1].allOf[1]: claim x-ms-isolation-tee.x-ms-compliance-status "
                    "is missing");
        expect_text(p, EUS2, SKR_MATCH, false, "is missing");
        expect_text(p, EUS2,
                    "{\"x-ms-isolation-tee\": \"{\\\"x-ms-attestation-type\\\": "
                    "\\\"sevsnpvm\\\"}\"}",
                    false, "is missing");
        expect_text(p, EUS2, "{\"x-ms-isolation-tee\": null}", false, "is missing");
        /* a literal top-level claim spelled with the dot is not the nested one */
        expect_text(p, EUS2,
                    "{\"x-ms-isolation-tee.x-ms-attestation-type\": \"sevsnpvm\", "
                    "\"x-ms-isolation-tee.x-ms-compliance-status\": \"azure-compliant-cvm\"}",
                    false, "is missing");
        /* claims that are not an object */
        expect_text(p, EUS2, "[1, 2]", false, "not a JSON object");
        expect(p, EUS2, NULL, false, "not a JSON object");
        expect_text(p, "https://sharedeus2.eus2.attest.azure.net.example", DD_MATCH("sevsnpvm"),
                    false, "no authority");
}

/* Key Vault's own form (§3.1): base64url(policy) in "data". */
static void test_key_form(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) char *b64 = NULL, *text = NULL;
        size_t size;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        buf = test_read_vector(DATADISK_POLICY, &size);
        assert_int_equal(base64url_encode(buf, size, &b64), 0);
        assert_true(asprintf(&text,
                             "{\"contentType\": \"application/json; charset=utf-8\", "
                             "\"data\": \"%s\", \"immutable\": false}",
                             b64) > 0);
        p = parse_str(text);
        expect_text(p, EUS2, DD_MATCH("sevsnpvm"), true, "released by anyOf[1]");
        expect_text(p, EUS2, DD_MATCH("azurevm"), false, "anyOf[1].allOf[0]");
        p = release_policy_free(p);
        free(text);
        /* contentType and immutable are optional */
        assert_true(asprintf(&text, "{\"data\": \"%s\"}", b64) > 0);
        p = parse_str(text);
        expect_text(p, WEU, DD_MATCH("tdxvm"), true, "released by anyOf[10]");

        /* an error inside the data names where */
        free(text);
        text = NULL;
        free(b64);
        b64 = NULL;
        static const char bad[] = "{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": "
                                  "\"https://a.example\", \"allOf\": [{\"claim\": 7, "
                                  "\"equals\": 1}]}]}";
        assert_int_equal(base64url_encode(bad, strlen(bad), &b64), 0);
        assert_true(asprintf(&text, "{\"data\": \"%s\", \"immutable\": true}", b64) > 0);
        ReleasePolicy *q = NULL;
        assert_int_equal(release_policy_parse(text, strlen(text), &q, &d), -EBADMSG);
        assert_null(q);
        assert_string_equal(d.text, "data: anyOf[0].allOf[0].claim: not a string but a number");
}

/* ---- real tokens ---- */

/* Written for the three sharedeus2 tokens (vectors/README.md §3.5 lists their claims). */
static const char eus2_policy[] =
        "{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": "
        "\"https://sharedeus2.eus2.attest.azure.net/\", \"allOf\": ["
        "{\"claim\": \"x-ms-attestation-type\", \"equals\": \"azurevm\"},"
        "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable\", \"equals\": false},"
        "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn\", \"greaterOrEquals\": 21},"
        "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-microcode-svn\", \"greater\": 200},"
        "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-vmpl\", \"lessOrEquals\": 0},"
        "{\"claim\": \"x-ms-isolation-tee.x-ms-runtime.vm-configuration.secure-boot\","
        " \"equals\": true},{\"claim\": \"x-ms-azurevm-vmid\", \"exists\": true},"
        "{\"claim\": \"x-ms-azurevm-is-windows\", \"notEquals\": true},"
        "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-launchmeasurement\", \"equals\": "
        "\"036fc22b517981a791f7f8b89d634a00e964f6b0dfabc568090eb4393d6026f96aa6b7cca2759f29e"
        "521469f1189c00c\"},"
        "{\"anyOf\": [{\"claim\": \"x-ms-azurevm-osdistro\", \"equals\": \"Ubuntu\"},"
        " {\"claim\": \"x-ms-azurevm-osdistro\", \"equals\": \"Debian\"}]}]}]}";

static void test_real_tokens(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *skr = NULL, *dd = NULL, *mine = NULL,
                                                      *newer = NULL, *weu = NULL;
        _cleanup_(json_object_putp) json_object *weu_claims = NULL, *tvm_claims = NULL;

        SKIP_WITHOUT_VECTORS();
        skr = parse_vector(SKR_POLICY);
        dd = parse_vector(DATADISK_POLICY);
        mine = parse_str(eus2_policy);
        newer = parse_str("{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": \"" EUS2 "\", "
                          "\"allOf\": [{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn\","
                          " \"greaterOrEquals\": 22}]}]}");

        for (size_t i = 0; i < ELEMENTSOF(maa_tokens); i++) {
                _cleanup_(json_object_putp) json_object *claims = jwt_payload(maa_tokens[i]);
                const char *iss = iss_of(claims);
                json_object *tee;

                assert_string_equal(iss, EUS2);
                /* AzureGuest tokens of a SEV-SNP CVM: nested TEE claims, sharedeus2 (written
                 * with a trailing '/' in the policy) */
                expect(dd, iss, claims, true, "released by anyOf[1]");
                /* skr-policy.json names no sharedeus2 authority */
                expect(skr, iss, claims, false, "no authority");
                expect(mine, iss, claims, true, "released by anyOf[0]");
                expect(newer, iss, claims, false,
                       "anyOf[0].allOf[0]: claim x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn is "
                       "21, not greaterOrEquals 22");
                /* the right claims from another authority */
                expect(mine, WEU, claims, false, "no authority");

                /* now a debuggable guest: one condition of mine fails, the rest still hold */
                tee = json_object_object_get(claims, "x-ms-isolation-tee");
                assert_int_equal(json_add_bool(tee, "x-ms-sevsnpvm-is-debuggable", true), 0);
                expect(mine, iss, claims, false,
                       "anyOf[0].allOf[1]: claim x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable "
                       "is true, not equals false");
                expect(dd, iss, claims, true, NULL); /* the data-disk policy does not look */
                /* the same claim as a string: equals false cannot compare with it */
                assert_int_equal(json_add_string(tee, "x-ms-sevsnpvm-is-debuggable", "false"), 0);
                expect(mine, iss, claims, false,
                       "is a string, which equals false cannot compare with");
                /* and without the TEE */
                json_object_object_del(claims, "x-ms-isolation-tee");
                expect(dd, iss, claims, false,
                       "anyOf[1].allOf[0]: no condition of its anyOf holds");
                expect(mine, iss, claims, false,
                       "anyOf[0].allOf[1]: claim "
                       "x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable is missing");
        }

        /* sharedweu, a Windows CVM (§3.4): the data-disk policy releases, skr-policy.json
         * matches the authority but reads the top-level type, which is "azurevm" */
        weu_claims = jwt_payload(WEU_CVM_TOKEN);
        assert_string_equal(iss_of(weu_claims), WEU);
        expect(dd, WEU, weu_claims, true, "released by anyOf[10]");
        expect(skr, WEU, weu_claims, false,
               "anyOf[3].allOf[0]: claim x-ms-attestation-type is \"azurevm\", not equals "
               "\"sevsnpvm\"");
        expect(mine, WEU, weu_claims, false, "no authority");
        weu = parse_str(
                "{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": \"" WEU "\", "
                "\"allOf\": [{\"claim\": \"x-ms-azurevm-is-windows\", \"equals\": \"true\"},"
                "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable\","
                " \"equals\": \"false\"},"
                "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-microcode-svn\","
                " \"greaterOrEquals\": 115},"
                "{\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn\", \"less\": 9}]}]}");
        expect(weu, WEU, weu_claims, true, "released by anyOf[0]");
        expect(weu, WEU "/", weu_claims, true, "released by anyOf[0]");

        /* a trusted-launch VM (no isolation TEE): nothing releases */
        tvm_claims = jwt_payload(EUS2_TVM_TOKEN);
        expect(dd, EUS2, tvm_claims, false,
               "anyOf[1].allOf[0]: no condition of its anyOf holds "
               "(2 tried; first: anyOf[1].allOf[0].anyOf[0]: claim "
               "x-ms-isolation-tee.x-ms-attestation-type is missing)");
        expect(mine, EUS2, tvm_claims, false, "is missing");
}

/* ---- operators and types ---- */

static const char op_claims[] =
        "{\"n\": 7, \"f\": 7.5, \"neg\": -3, \"zero\": 0, \"big\": 18446744073709551614,"
        " \"max\": 9223372036854775807, \"min\": -9223372036854775807,"
        " \"sat\": 18446744073709551615, \"sat2\": 1e30000000000000000000000000000000,"
        " \"satneg\": -9223372036854775809, \"inf\": 1e400,"
        " \"s\": \"7\", \"b\": false, \"t\": true, \"arr\": [1], \"obj\": {\"k\": 1,"
        " \"deep\": {\"er\": {\"est\": \"x\"}}}, \"nul\": null, \"a.b\": 1, \"e\": \"\","
        " \"hex\": \"0356abcd\"}";

static void test_operators(void **state) {
        static const struct {
                const char *condition;
                bool holds;
        } cases[] = {
                /* equals */
                {"\"claim\": \"n\", \"equals\": 7", true},
                {"\"claim\": \"n\", \"equals\": 7.0", true},
                {"\"claim\": \"n\", \"equals\": 70e-1", true},
                {"\"claim\": \"n\", \"equals\": 8", false},
                {"\"claim\": \"n\", \"equals\": \"7\"", false},
                {"\"claim\": \"s\", \"equals\": 7", false},
                {"\"claim\": \"s\", \"equals\": \"7\"", true},
                {"\"claim\": \"f\", \"equals\": 7.5", true},
                {"\"claim\": \"f\", \"equals\": 7", false},
                {"\"claim\": \"big\", \"equals\": 18446744073709551614", true},
                {"\"claim\": \"big\", \"equals\": 9223372036854775807", false},
                {"\"claim\": \"max\", \"equals\": 9223372036854775807", true},
                {"\"claim\": \"min\", \"equals\": -9223372036854775807", true},
                {"\"claim\": \"zero\", \"equals\": -0.0", true},
                {"\"claim\": \"zero\", \"equals\": false", false},
                {"\"claim\": \"b\", \"equals\": false", true},
                {"\"claim\": \"b\", \"equals\": true", false},
                {"\"claim\": \"b\", \"equals\": \"false\"", true},
                {"\"claim\": \"b\", \"equals\": \"true\"", false},
                {"\"claim\": \"t\", \"equals\": \"true\"", true},
                {"\"claim\": \"b\", \"equals\": \"False\"", false},
                {"\"claim\": \"b\", \"equals\": \"0\"", false},
                {"\"claim\": \"b\", \"equals\": 0", false},
                {"\"claim\": \"s\", \"equals\": true", false},
                {"\"claim\": \"e\", \"equals\": \"\"", true},
                {"\"claim\": \"hex\", \"equals\": \"0356ABCD\"", false},
                {"\"claim\": \"arr\", \"equals\": 1", false},
                {"\"claim\": \"obj\", \"equals\": 1", false},
                {"\"claim\": \"nul\", \"equals\": \"null\"", false},
                {"\"claim\": \"missing\", \"equals\": \"\"", false},
                /* notEquals: false for absent claims and other types too */
                {"\"claim\": \"n\", \"notEquals\": 8", true},
                {"\"claim\": \"n\", \"notEquals\": 7", false},
                {"\"claim\": \"n\", \"notEquals\": \"8\"", false},
                {"\"claim\": \"b\", \"notEquals\": true", true},
                {"\"claim\": \"b\", \"notEquals\": \"true\"", true},
                {"\"claim\": \"b\", \"notEquals\": \"True\"", false},
                {"\"claim\": \"s\", \"notEquals\": true", false},
                {"\"claim\": \"missing\", \"notEquals\": 1", false},
                {"\"claim\": \"nul\", \"notEquals\": 1", false},
                {"\"claim\": \"arr\", \"notEquals\": 2", false},
                {"\"claim\": \"s\", \"notEquals\": \"8\"", true},
                /* ordering */
                {"\"claim\": \"n\", \"less\": 8", true},
                {"\"claim\": \"n\", \"less\": 7", false},
                {"\"claim\": \"n\", \"less\": 7.5", true},
                {"\"claim\": \"n\", \"less\": 7.0", false},
                {"\"claim\": \"n\", \"lessOrEquals\": 7", true},
                {"\"claim\": \"n\", \"lessOrEquals\": 6.99", false},
                {"\"claim\": \"n\", \"greater\": 6.5", true},
                {"\"claim\": \"n\", \"greater\": 7", false},
                {"\"claim\": \"n\", \"greaterOrEquals\": 7", true},
                {"\"claim\": \"n\", \"greaterOrEquals\": 7.000001", false},
                {"\"claim\": \"f\", \"greater\": 7", true},
                {"\"claim\": \"f\", \"less\": 8", true},
                {"\"claim\": \"f\", \"greaterOrEquals\": 7.5", true},
                {"\"claim\": \"f\", \"greater\": 7.5", false},
                {"\"claim\": \"neg\", \"less\": -2.5", true},
                {"\"claim\": \"neg\", \"greater\": -3.5", true},
                {"\"claim\": \"neg\", \"less\": -3", false},
                {"\"claim\": \"neg\", \"less\": 0", true},
                {"\"claim\": \"zero\", \"greater\": -0.5", true},
                {"\"claim\": \"zero\", \"less\": 0.5", true},
                {"\"claim\": \"big\", \"greater\": 9223372036854775807", true},
                {"\"claim\": \"big\", \"greater\": 1.8e19", true},
                {"\"claim\": \"big\", \"less\": 1.9e19", true},
                {"\"claim\": \"big\", \"less\": -1", false},
                {"\"claim\": \"max\", \"less\": 9223372036854775808.0", true},
                {"\"claim\": \"max\", \"less\": 18446744073709551614", true},
                {"\"claim\": \"big\", \"greater\": 18446744073709551613", true},
                {"\"claim\": \"big\", \"greater\": 18446744073709551614", false},
                /* numbers json-c clamped or overflowed: nothing compares with them */
                {"\"claim\": \"sat\", \"greater\": 0", false},
                {"\"claim\": \"sat\", \"greaterOrEquals\": 18446744073709551614", false},
                {"\"claim\": \"sat\", \"notEquals\": 0", false},
                {"\"claim\": \"sat\", \"exists\": true", true},
                {"\"claim\": \"sat2\", \"greater\": 1e300", false},
                {"\"claim\": \"satneg\", \"less\": 0", false},
                {"\"claim\": \"inf\", \"greater\": 0", false},
                {"\"claim\": \"inf\", \"notEquals\": 1", false},
                {"\"claim\": \"min\", \"less\": -9.3e18", false},
                {"\"claim\": \"min\", \"greater\": -9.3e18", true},
                {"\"claim\": \"n\", \"less\": 1e300", true},
                {"\"claim\": \"n\", \"greater\": -1e300", true},
                {"\"claim\": \"s\", \"less\": 8", false},
                {"\"claim\": \"s\", \"greater\": 6", false},
                {"\"claim\": \"b\", \"lessOrEquals\": 1", false},
                {"\"claim\": \"arr\", \"greater\": 0", false},
                {"\"claim\": \"missing\", \"greater\": 0", false},
                /* exists */
                {"\"claim\": \"n\", \"exists\": true", true},
                {"\"claim\": \"obj\", \"exists\": true", true},
                {"\"claim\": \"arr\", \"exists\": true", true},
                {"\"claim\": \"e\", \"exists\": true", true},
                {"\"claim\": \"nul\", \"exists\": true", false},
                {"\"claim\": \"missing\", \"exists\": true", false},
                /* dot paths */
                {"\"claim\": \"obj.k\", \"equals\": 1", true},
                {"\"claim\": \"obj.deep.er.est\", \"equals\": \"x\"", true},
                {"\"claim\": \"obj.deep.er\", \"exists\": true", true},
                {"\"claim\": \"obj.deep.er.est.x\", \"exists\": true", false},
                {"\"claim\": \"obj.k.z\", \"exists\": true", false},
                {"\"claim\": \"n.x\", \"exists\": true", false},
                {"\"claim\": \"arr.0\", \"equals\": 1", false},
                {"\"claim\": \"a.b\", \"equals\": 1", false},
                {"\"claim\": \"obj.K\", \"equals\": 1", false},
        };
        _cleanup_(json_object_putp) json_object *claims = claims_of(op_claims);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
                char text[512];
                ReleaseVerdict v;

                (void) snprintf(text, sizeof(text),
                                "{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": "
                                "\"https://a.example\", \"allOf\": [{%s}]}]}",
                                cases[i].condition);
                p = parse_str(text);
                assert_int_equal(release_policy_evaluate(p, "https://a.example", claims, &v, NULL),
                                 0);
                if (v.released != cases[i].holds)
                        print_message("# {%s}: %d (%s)\n", cases[i].condition, v.released,
                                      v.reason);
                assert_int_equal(v.released, cases[i].holds);
        }
}

static void test_combinators(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(json_object_putp) json_object *claims = claims_of(op_claims);

        /* authority-level anyOf; a nested allOf inside it */
        p = parse_str("{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": \"https://a.example\", "
                      "\"anyOf\": [{\"claim\": \"n\", \"equals\": 1}, {\"allOf\": ["
                      "{\"claim\": \"s\", \"equals\": \"7\"}, {\"claim\": \"b\", \"equals\": "
                      "true}]}]}]}");
        expect(p, "https://a.example", claims, false,
               "anyOf[0]: no condition of its anyOf holds (2 tried; first: "
               "anyOf[0].anyOf[0]: claim n is 7, not equals 1)");
        p = release_policy_free(p);
        p = parse_str("{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": \"https://a.example\", "
                      "\"anyOf\": [{\"claim\": \"n\", \"equals\": 1}, {\"allOf\": ["
                      "{\"claim\": \"s\", \"equals\": \"7\"}, {\"claim\": \"b\", \"equals\": "
                      "false}]}]}]}");
        expect(p, "https://a.example/", claims, true,
               "released by anyOf[0] (authority https://a.example)");
        p = release_policy_free(p);

        /* the same authority twice: the second entry releases; with neither, the first
         * entry's failure is the reason */
        p = parse_str("{\"version\": \"1.0.0\", \"anyOf\": ["
                      "{\"authority\": \"https://b.example\", \"allOf\": [{\"claim\": \"n\", "
                      "\"exists\": true}]},"
                      "{\"authority\": \"https://a.example\", \"allOf\": [{\"claim\": \"n\", "
                      "\"equals\": 1}]},"
                      "{\"authority\": \"https://A.example/\", \"allOf\": [{\"claim\": \"n\", "
                      "\"equals\": 7}]}]}");
        expect(p, "https://a.example", claims, true,
               "released by anyOf[2] (authority https://A.example/)");
        expect(p, "https://b.example", claims, true, "released by anyOf[0]");
        expect_text(p, "https://a.example", "{\"n\": 2}", false,
                    "anyOf[1].allOf[0]: claim n is 2, not equals 1");
        p = release_policy_free(p);

        /* nesting down to the cap */
        {
                char text[4096];
                size_t k = 0;

                k += (size_t) snprintf(text + k, sizeof(text) - k,
                                       "{\"version\": \"1.0.0\", \"anyOf\": [{\"authority\": "
                                       "\"https://a.example\", \"allOf\": [");
                for (unsigned i = 1; i < RELEASE_POLICY_DEPTH_MAX; i++)
                        k += (size_t) snprintf(text + k, sizeof(text) - k, "{\"%s\": [",
                                               i % 2 ? "anyOf" : "allOf");
                k += (size_t) snprintf(text + k, sizeof(text) - k,
                                       "{\"claim\": \"obj.deep.er.est\", \"equals\": \"x\"}");
                for (unsigned i = 1; i < RELEASE_POLICY_DEPTH_MAX; i++)
                        k += (size_t) snprintf(text + k, sizeof(text) - k, "]}");
                (void) snprintf(text + k, sizeof(text) - k, "]}]}");
                p = parse_str(text);
                expect(p, "https://a.example", claims, true, "released");
                expect_text(p, "https://a.example", "{\"obj\": {}}", false,
                            "anyOf[0].allOf[0].anyOf[0].allOf[0]: no condition of its anyOf");
        }
}

static void test_authority_equal(void **state) {
        static const struct {
                const char *a, *b;
                bool equal;
        } cases[] = {
                {"https://a.example", "https://a.example", true},
                {"https://a.example", "https://a.example/", true},
                {"https://a.example/", "https://a.example/", true},
                {"https://a.example//", "https://a.example/", false}, /* one slash each */
                {"https://a.example//", "https://a.example", false},
                {"HTTPS://A.EXAMPLE/", "https://a.example", true},
                {"https://a.example/Path", "https://a.example/path", false},
                {"https://a.example/path/", "https://a.example/path", true},
                {"https://a.example:443", "https://a.example", false},
                {"https://a.example:8443/", "HTTPS://A.Example:8443", true},
                {"http://a.example", "https://a.example", false},
                {"https://a.example", "https://a.example.", false},
                {"https://a.example", " https://a.example", false},
                {"a.example", "a.example/", true},
                {"a.example", "A.example", false}, /* no "://": no host to lowercase */
                {"", "", false},
                {"/", "", false},
                {"https://a.example", NULL, false},
                {NULL, NULL, false},
        };
        char long_iss[RELEASE_POLICY_AUTHORITY_MAX + 16];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                if (release_policy_authority_equal(cases[i].a, cases[i].b) != cases[i].equal)
                        print_message("# \"%s\" \"%s\"\n", cases[i].a ? cases[i].a : "(null)",
                                      cases[i].b ? cases[i].b : "(null)");
                assert_int_equal(release_policy_authority_equal(cases[i].a, cases[i].b),
                                 cases[i].equal);
                assert_int_equal(release_policy_authority_equal(cases[i].b, cases[i].a),
                                 cases[i].equal);
        }
        memset(long_iss, 'a', sizeof(long_iss) - 1);
        long_iss[sizeof(long_iss) - 1] = '\0';
        memcpy(long_iss, "https://", 8);
        assert_false(release_policy_authority_equal(long_iss, long_iss));
}

/* ---- refusals ---- */

#define HEAD    "{\"version\": \"1.0.0\", \"anyOf\": ["
#define AUTH    "{\"authority\": \"https://a.example\", "
#define OK_AUTH AUTH "\"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}"
#define COND(c) HEAD AUTH "\"allOf\": [" c "]}]}"

static void test_malformed(void **state) {
        static const struct {
                const char *name, *text;
                int error;
                const char *fragment;
        } cases[] = {
                {"empty", "", -EBADMSG, "policy: empty"},
                {"array", "[]", -EBADMSG, "policy: not a JSON object but an array"},
                {"string", "\"x\"", -EBADMSG, "policy: not a JSON object but a string"},
                {"truncated", HEAD OK_AUTH, -EBADMSG, "policy: not valid JSON"},
                {"trailing-garbage", HEAD OK_AUTH "]} x", -EBADMSG, "not valid JSON"},
                {"comment", "/* */" HEAD OK_AUTH "]}", -EBADMSG, "not valid JSON"},
                {"single-quotes", "{'version': '1.0.0'}", -EBADMSG, "not valid JSON"},
                {"version-missing", "{\"anyOf\": [" OK_AUTH "]}", -EBADMSG, "version: missing"},
                {"version-number", "{\"version\": 1.0, \"anyOf\": [" OK_AUTH "]}", -EBADMSG,
                 "version: not a string but a number"},
                {"version-1.0", "{\"version\": \"1.0\", \"anyOf\": [" OK_AUTH "]}",
                 -EPROTONOSUPPORT, "version: \"1.0\" is not supported (only \"1.0.0\")"},
                {"version-2", "{\"version\": \"2.0.0\", \"anyOf\": [], \"new\": 1}",
                 -EPROTONOSUPPORT, "version: \"2.0.0\" is not supported"},
                {"version-null", "{\"version\": null, \"anyOf\": [" OK_AUTH "]}", -EBADMSG,
                 "version: not a string but null"},
                {"unknown-top", HEAD OK_AUTH "], \"Anyof\": []}", -EBADMSG,
                 "Anyof: unknown member"},
                {"top-allOf", "{\"version\": \"1.0.0\", \"allOf\": [" OK_AUTH "]}", -EBADMSG,
                 "allOf: not allowed at the top level"},
                {"anyOf-missing", "{\"version\": \"1.0.0\"}", -EBADMSG, "anyOf: missing"},
                {"anyOf-object", "{\"version\": \"1.0.0\", \"anyOf\": {}}", -EBADMSG,
                 "anyOf: not an array but an object"},
                {"anyOf-empty", "{\"version\": \"1.0.0\", \"anyOf\": []}", -EBADMSG,
                 "anyOf: empty"},
                {"authority-entry-string", HEAD "\"https://a.example\"]}", -EBADMSG,
                 "anyOf[0]: an authority entry must be an object, not a string"},
                {"authority-missing", HEAD "{\"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0].authority: missing"},
                {"authority-number", HEAD OK_AUTH ", {\"authority\": 1, \"allOf\": []}]}", -EBADMSG,
                 "anyOf[1].authority: not a string but a number"},
                {"authority-no-scheme",
                 HEAD "{\"authority\": \"sharedeus.eus.attest.azure.net\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0].authority: not an absolute URL"},
                {"authority-empty",
                 HEAD "{\"authority\": \"\", \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0].authority: empty"},
                {"authority-userinfo",
                 HEAD "{\"authority\": \"https://a.example@evil.example/\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0].authority: has userinfo"},
                {"authority-query",
                 HEAD "{\"authority\": \"https://a.example/?x=1\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "has a query or a fragment"},
                {"authority-fragment",
                 HEAD "{\"authority\": \"https://a.example#x\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "has a query or a fragment"},
                {"authority-no-host",
                 HEAD "{\"authority\": \"https:///x\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0].authority: has no host"},
                {"authority-space",
                 HEAD "{\"authority\": \"https://a.example /\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "holds a space, a control or a non-ASCII character"},
                {"authority-utf8",
                 HEAD "{\"authority\": \"https://\\u00e4.example\","
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "non-ASCII"},
                {"authority-both",
                 HEAD AUTH "\"allOf\": [{\"claim\": \"a\", \"equals\": 1}], "
                           "\"anyOf\": [{\"claim\": \"a\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0]: both allOf and anyOf"},
                {"authority-neither", HEAD "{\"authority\": \"https://a.example\"}]}", -EBADMSG,
                 "anyOf[0]: neither allOf nor anyOf"},
                {"authority-claim", HEAD AUTH "\"claim\": \"a\", \"equals\": 1}]}", -EBADMSG,
                 "anyOf[0].claim: unknown member"},
                {"authority-allOf-empty", HEAD AUTH "\"allOf\": []}]}", -EBADMSG,
                 "anyOf[0].allOf: empty"},
                {"authority-allOf-object",
                 HEAD AUTH "\"allOf\": {\"claim\": \"a\", \"equals\": 1}}]}", -EBADMSG,
                 "anyOf[0].allOf: not an array but an object"},
                {"condition-string", COND("\"a\""), -EBADMSG,
                 "anyOf[0].allOf[0]: a condition must be an object, not a string"},
                {"condition-empty", COND("{}"), -EBADMSG,
                 "anyOf[0].allOf[0]: neither a claim condition nor allOf/anyOf"},
                {"condition-anyOf-empty", COND("{\"anyOf\": []}"), -EBADMSG,
                 "anyOf[0].allOf[0].anyOf: empty"},
                {"condition-both",
                 COND("{\"anyOf\": [{\"claim\": \"a\", \"equals\": 1}],"
                      " \"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}"),
                 -EBADMSG, "anyOf[0].allOf[0]: both allOf and anyOf"},
                {"condition-authority",
                 COND("{\"authority\": \"https://a.example\", "
                      "\"allOf\": [{\"claim\": \"a\", \"equals\": 1}]}"),
                 -EBADMSG, "anyOf[0].allOf[0].authority: unknown member"},
                {"condition-lowercase-anyof",
                 COND("{\"anyof\": [{\"claim\": \"a\", \"equals\": 1}]}"), -EBADMSG,
                 "anyOf[0].allOf[0].anyof: unknown member"},
                {"claim-number",
                 HEAD OK_AUTH ", " AUTH "\"allOf\": [{\"claim\": 1, \"equals\": 1}]}]}", -EBADMSG,
                 "anyOf[1].allOf[0].claim: not a string but a number"},
                {"claim-empty", COND("{\"claim\": \"\", \"equals\": 1}"), -EBADMSG,
                 "anyOf[0].allOf[0].claim: empty"},
                {"claim-double-dot", COND("{\"claim\": \"a..b\", \"equals\": 1}"), -EBADMSG,
                 "anyOf[0].allOf[0].claim: \"a..b\" has an empty part between dots"},
                {"claim-leading-dot", COND("{\"claim\": \".a\", \"equals\": 1}"), -EBADMSG,
                 "empty part between dots"},
                {"claim-trailing-dot", COND("{\"claim\": \"a.\", \"equals\": 1}"), -EBADMSG,
                 "empty part between dots"},
                {"claim-17-parts",
                 COND("{\"claim\": \"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q\", \"equals\": 1}"),
                 -EBADMSG, "more than 16 dot-separated parts"},
                {"operator-missing", COND("{\"claim\": \"a\"}"), -EBADMSG,
                 "anyOf[0].allOf[0]: a claim condition without an operator"},
                {"operator-two", COND("{\"claim\": \"a\", \"equals\": 1, \"notEquals\": 2}"),
                 -EBADMSG, "anyOf[0].allOf[0]: two operators"},
                {"operator-in", COND("{\"claim\": \"a\", \"in\": [1, 2]}"), -EPROTONOSUPPORT,
                 "anyOf[0].allOf[0]: operator \"in\" is not supported"},
                {"operator-case", COND("{\"claim\": \"a\", \"Equals\": 1}"), -EPROTONOSUPPORT,
                 "operator \"Equals\" is not supported"},
                {"operator-like", COND("{\"claim\": \"a\", \"like\": \"*\"}"), -EPROTONOSUPPORT,
                 "operator \"like\" is not supported"},
                {"claim-and-allOf", COND("{\"claim\": \"a\", \"equals\": 1, \"allOf\": []}"),
                 -EBADMSG, "anyOf[0].allOf[0]: \"allOf\" beside \"claim\""},
                {"value-object", COND("{\"claim\": \"a\", \"equals\": {}}"), -EBADMSG,
                 "anyOf[0].allOf[0].equals: an object is not a value"},
                {"value-array", COND("{\"claim\": \"a\", \"equals\": [\"x\"]}"), -EBADMSG,
                 "anyOf[0].allOf[0].equals: an array is not a value"},
                {"value-null", COND("{\"claim\": \"a\", \"notEquals\": null}"), -EBADMSG,
                 "anyOf[0].allOf[0].notEquals: null is not a value"},
                {"less-string", COND("{\"claim\": \"a\", \"less\": \"5\"}"), -EBADMSG,
                 "anyOf[0].allOf[0].less: a string, but ordering compares numbers only"},
                {"greater-boolean", COND("{\"claim\": \"a\", \"greater\": true}"), -EBADMSG,
                 "ordering compares numbers only"},
                {"exists-false", COND("{\"claim\": \"a\", \"exists\": false}"), -EPROTONOSUPPORT,
                 "anyOf[0].allOf[0].exists: false is not supported"},
                {"exists-string", COND("{\"claim\": \"a\", \"exists\": \"true\"}"), -EBADMSG,
                 "anyOf[0].allOf[0].exists: not true but a string"},
                {"number-huge", COND("{\"claim\": \"a\", \"equals\": 1e999}"), -EBADMSG,
                 "anyOf[0].allOf[0].equals: a number out of range"},
                {"number-uint64-max", COND("{\"claim\": \"a\", \"less\": 18446744073709551615}"),
                 -EBADMSG, "less: a number out of range"},
                {"number-beyond-uint64",
                 COND("{\"claim\": \"a\", \"greater\": 99999999999999999999999}"), -EBADMSG,
                 "greater: a number out of range"},
                {"number-int64-min",
                 COND("{\"claim\": \"a\", \"notEquals\": -9223372036854775808}"), -EBADMSG,
                 "notEquals: a number out of range"},
                {"duplicate-version",
                 "{\"version\": \"1.0.0\", \"version\": \"1.0.0\", \"anyOf\": [" OK_AUTH "]}",
                 -EBADMSG, "policy: a member appears twice"},
                {"duplicate-operator", COND("{\"claim\": \"a\", \"equals\": 1, \"equals\": 2}"),
                 -EBADMSG, "anyOf[0].allOf[0]: a member appears twice"},
                {"duplicate-claim",
                 HEAD OK_AUTH ", " AUTH "\"allOf\": [{\"claim\": \"a\", "
                              "\"claim\": \"b\", \"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[1].allOf[0]: a member appears twice"},
                {"duplicate-authority",
                 HEAD "{\"authority\": \"https://a.example\", "
                      "\"authority\": \"https://b.example\", \"allOf\": [{\"claim\": \"a\", "
                      "\"equals\": 1}]}]}",
                 -EBADMSG, "anyOf[0]: a member appears twice"},
                {"duplicate-escaped",
                 COND("{\"claim\": \"a\", \"equals\": 1, \"\\u0065quals\": 2}"), -EBADMSG,
                 "a member appears twice"},
                {"nul-in-claim", COND("{\"claim\": \"a\\u0000.b\", \"equals\": 1}"), -EBADMSG,
                 "policy: a string holds \\u0000"},
                {"nul-in-member", COND("{\"claim\": \"a\", \"equals\\u0000x\": 1}"), -EBADMSG,
                 "a string holds \\u0000"},
                {"key-form-unknown", "{\"data\": \"e30\", \"kid\": \"x\"}", -EBADMSG,
                 "kid: unknown member"},
                {"key-form-content-type", "{\"contentType\": \"text/plain\", \"data\": \"e30\"}",
                 -EPROTONOSUPPORT, "contentType: \"text/plain\" is not supported"},
                {"key-form-immutable", "{\"data\": \"e30\", \"immutable\": \"yes\"}", -EBADMSG,
                 "immutable: not a boolean but a string"},
                {"key-form-data-number", "{\"data\": 1}", -EBADMSG,
                 "data: not a string but a number"},
                {"key-form-data-not-base64", "{\"data\": \"{}!\"}", -EBADMSG,
                 "data: not base64url"},
                {"key-form-data-empty", "{\"data\": \"\"}", -EBADMSG, "data: policy: empty"},
                {"key-form-data-object", "{\"data\": \"e30\"}", -EBADMSG, "data: version: missing"},
                /* base64url of {"data": "e30"}: the key's form inside the key's form */
                {"key-form-nested", "{\"data\": \"eyJkYXRhIjogImUzMCJ9\"}", -EBADMSG,
                 "data: version: missing"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ReleasePolicy *p = NULL;
                Diag d = {};
                int r;

                r = release_policy_parse(cases[i].text, strlen(cases[i].text), &p, &d);
                if (r != cases[i].error || !strstr(d.text, cases[i].fragment))
                        print_message("# %s: %d \"%s\", wanted %d \"%s\"\n", cases[i].name, r,
                                      d.text, cases[i].error, cases[i].fragment);
                assert_int_equal(r, cases[i].error);
                assert_null(p);
                assert_non_null(strstr(d.text, cases[i].fragment));
                /* a NULL Diag is fine too */
                assert_int_equal(
                        release_policy_parse(cases[i].text, strlen(cases[i].text), &p, NULL),
                        cases[i].error);
                assert_null(p);
        }
}

static char *repeat(const char *head, const char *item, size_t n, const char *sep,
                    const char *tail) {
        size_t size = strlen(head) + n * (strlen(item) + strlen(sep)) + strlen(tail) + 1;
        char *s = malloc(size), *q = s;

        assert_non_null(s);
        q = stpcpy(q, head);
        for (size_t i = 0; i < n; i++) {
                q = stpcpy(q, item);
                if (i + 1 < n)
                        q = stpcpy(q, sep);
        }
        stpcpy(q, tail);
        return s;
}

static void test_caps(void **state) {
        ReleasePolicy *p = NULL;
        char *text;
        Diag d = {};

        /* size, before parsing: one byte over */
        text = malloc(RELEASE_POLICY_SIZE_MAX + 2);
        assert_non_null(text);
        memset(text, ' ', RELEASE_POLICY_SIZE_MAX + 1);
        text[0] = '{';
        text[RELEASE_POLICY_SIZE_MAX] = '}';
        assert_int_equal(release_policy_parse(text, RELEASE_POLICY_SIZE_MAX + 1, &p, &d), -E2BIG);
        assert_non_null(strstr(d.text, "policy: 65537 bytes, at most 65536"));
        free(text);

        /* nesting: one level of allOf/anyOf past the cap, refused by the scan */
        {
                char buf[4096];
                size_t k = 0;

                memset(&d, 0, sizeof(d));
                k += (size_t) snprintf(buf + k, sizeof(buf) - k, HEAD AUTH "\"allOf\": [");
                for (unsigned i = 0; i < RELEASE_POLICY_DEPTH_MAX; i++)
                        k += (size_t) snprintf(buf + k, sizeof(buf) - k, "{\"anyOf\": [");
                k += (size_t) snprintf(buf + k, sizeof(buf) - k,
                                       "{\"claim\": \"a\", \"exists\": true}");
                for (unsigned i = 0; i < RELEASE_POLICY_DEPTH_MAX; i++)
                        k += (size_t) snprintf(buf + k, sizeof(buf) - k, "]}");
                (void) snprintf(buf + k, sizeof(buf) - k, "]}]}");
                assert_int_equal(release_policy_parse(buf, strlen(buf), &p, &d), -EBADMSG);
                assert_non_null(strstr(d.text, "policy: nested deeper than 8 levels"));
                /* deep arrays of nothing, which json-c would take */
                memset(&d, 0, sizeof(d));
                memset(buf, '[', 1000);
                assert_int_equal(release_policy_parse(buf, 1000, &p, &d), -EBADMSG);
                assert_non_null(strstr(d.text, "nested deeper"));
        }

        /* authorities */
        memset(&d, 0, sizeof(d));
        text = repeat(HEAD, OK_AUTH, RELEASE_POLICY_AUTHORITIES_MAX + 1, ",", "]}");
        assert_int_equal(release_policy_parse(text, strlen(text), &p, &d), -E2BIG);
        assert_non_null(strstr(d.text, "anyOf: more than 256 authorities"));
        free(text);
        text = repeat(HEAD, OK_AUTH, RELEASE_POLICY_AUTHORITIES_MAX, ",", "]}");
        p = parse_str(text);
        p = release_policy_free(p);
        free(text);

        /* conditions */
        memset(&d, 0, sizeof(d));
        text = repeat(HEAD AUTH "\"allOf\": [", "{\"claim\": \"a\", \"exists\": true}",
                      RELEASE_POLICY_CONDITIONS_MAX, ",", "]}]}");
        assert_int_equal(release_policy_parse(text, strlen(text), &p, &d), -E2BIG);
        assert_non_null(strstr(d.text, "more than 1024 conditions"));
        free(text);
        text = repeat(HEAD AUTH "\"allOf\": [", "{\"claim\": \"a\", \"exists\": true}",
                      RELEASE_POLICY_CONDITIONS_MAX - 1, ",", "]}]}");
        p = parse_str(text);
        expect_text(p, "https://a.example", "{\"a\": 0}", true, "released");
        p = release_policy_free(p);
        free(text);

        /* objects, counted before parsing */
        memset(&d, 0, sizeof(d));
        text = repeat("[", "{}", 2000, ",", "]");
        assert_int_equal(release_policy_parse(text, strlen(text), &p, &d), -E2BIG);
        assert_non_null(strstr(d.text, "objects"));
        free(text);

        /* claim names and string values */
        memset(&d, 0, sizeof(d));
        text = repeat(HEAD AUTH "\"allOf\": [{\"claim\": \"", "x", RELEASE_POLICY_CLAIM_MAX + 1, "",
                      "\", \"exists\": true}]}]}");
        assert_int_equal(release_policy_parse(text, strlen(text), &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "anyOf[0].allOf[0].claim: longer than 256 bytes"));
        free(text);
        memset(&d, 0, sizeof(d));
        text = repeat(HEAD AUTH "\"allOf\": [{\"claim\": \"a\", \"equals\": \"", "x",
                      RELEASE_POLICY_VALUE_MAX + 1, "", "\"}]}]}");
        assert_int_equal(release_policy_parse(text, strlen(text), &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "anyOf[0].allOf[0].equals: longer than 4096 bytes"));
        free(text);
        memset(&d, 0, sizeof(d));
        text = repeat(HEAD "{\"authority\": \"https://", "x", RELEASE_POLICY_AUTHORITY_MAX, "",
                      "\", \"allOf\": [{\"claim\": \"a\", \"exists\": true}]}]}");
        assert_int_equal(release_policy_parse(text, strlen(text), &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "anyOf[0].authority: longer than 512 bytes"));
        free(text);
        assert_null(p);
}

/* A byte order mark, NUL bytes, and untrusted bytes in reasons. */
static void test_text_edges(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        static const char with_bom[] = "\xEF\xBB\xBF" HEAD OK_AUTH "]}";
        static const char with_nul[] = HEAD OK_AUTH "]}\0";
        ReleasePolicy *q = NULL;
        Diag d = {};

        p = parse_str(with_bom);
        p = release_policy_free(p);
        assert_int_equal(release_policy_parse(with_nul, sizeof(with_nul) - 1, &q, &d), -EBADMSG);
        assert_null(q);
        /* not NUL-terminated: exactly size bytes are read */
        p = parse_ok(with_nul, sizeof(with_nul) - 2);
        expect_text(p, "https://a.example", "{\"a\": 1}", true, "released");
        /* control characters and non-ASCII from the token stay out of the reason */
        expect_text(p, "https://evil.example/\n\x1b[31m\xc3\xa4", "{\"a\": 1}", false,
                    "\"https://evil.example/??[31m??\"");
        expect_text(p, "https://a.example", "{\"a\": \"\\n\\u001b\\u00e4\"}", false,
                    "claim a is a string");
        p = release_policy_free(p);
        p = parse_str(COND("{\"claim\": \"a\", \"equals\": \"x\"}"));
        expect_text(p, "https://a.example", "{\"a\": \"\\n\\u001b\\u00e4\"}", false,
                    "claim a is \"????\", not equals \"x\"");
        expect_text(p, "https://a.example", "{\"a\": 1e400}", false,
                    "claim a is a number out of range, which equals \"x\" cannot compare with");
        /* long values are cut */
        expect_text(p, "https://a.example",
                    "{\"a\": \"0123456789012345678901234567890123456789012345678901234567890\"}",
                    false, "is \"012345678901234567890123456789012345678901234567...\", not");

        /* invalid arguments */
        assert_int_equal(release_policy_parse(NULL, 1, &q, &d), -EINVAL);
        assert_int_equal(release_policy_evaluate(NULL, "x", NULL, &(ReleaseVerdict){}, &d),
                         -EINVAL);
        assert_int_equal(release_policy_evaluate(p, "x", NULL, NULL, NULL), -EINVAL);
}

/* Every one-byte change and every truncation of a real policy: refused with a reason, or
 * parsed and then evaluated without harm. */
static void test_mutations(void **state) {
        static const char flips[] = {'\0', '"', '{', '}', '[', ']', ',',
                                     ':',  '.', '/', 'x', '1', '\\'};
        _cleanup_(json_object_putp) json_object *claims = claims_of(SKR_MATCH);
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;

        SKIP_WITHOUT_VECTORS();
        buf = test_read_vector(SKR_POLICY, &size);
        for (size_t len = 0; len <= size; len++) {
                ReleasePolicy *p = NULL;
                Diag d = {};
                int r = release_policy_parse((const char *) buf, len, &p, &d);

                assert_true(r == 0 || (r < 0 && !p && d.text[0]));
                release_policy_free(p);
        }
        for (size_t pos = 0; pos < size; pos++)
                for (size_t f = 0; f < ELEMENTSOF(flips); f++) {
                        uint8_t saved = buf[pos];
                        ReleasePolicy *p = NULL;
                        ReleaseVerdict v;
                        Diag d = {};
                        int r;

                        buf[pos] = (uint8_t) flips[f];
                        r = release_policy_parse((const char *) buf, size, &p, &d);
                        if (r == 0) {
                                assert_int_equal(release_policy_evaluate(p, WEU, claims, &v, NULL),
                                                 0);
                                assert_true(v.reason[0] != '\0');
                                release_policy_free(p);
                        } else
                                assert_true(r == -EBADMSG || r == -EPROTONOSUPPORT);
                        buf[pos] = saved;
                }
}

/* One policy, evaluated from several threads at once over shared claims. */
typedef struct ThreadArg {
        const ReleasePolicy *p;
        json_object *good, *bad;
        unsigned failures;
} ThreadArg;

static void *evaluate_many(void *userdata) {
        ThreadArg *a = userdata;

        for (unsigned i = 0; i < 2000; i++) {
                ReleaseVerdict v;

                if (release_policy_evaluate(a->p, EUS2, a->good, &v, NULL) < 0 || !v.released ||
                    !strstr(v.reason, "anyOf[1]"))
                        a->failures++;
                if (release_policy_evaluate(a->p, EUS2 "/", a->bad, &v, NULL) < 0 || v.released ||
                    !strstr(v.reason, "anyOf[1].allOf[1]"))
                        a->failures++;
        }
        return NULL;
}

static void test_threads(void **state) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(json_object_putp) json_object *good = claims_of(DD_MATCH("sevsnpvm"));
        _cleanup_(json_object_putp) json_object *bad =
                claims_of("{\"x-ms-isolation-tee\": {\"x-ms-attestation-type\": \"tdxvm\", "
                          "\"x-ms-compliance-status\": 1}}");
        pthread_t t[4];
        ThreadArg args[4];

        SKIP_WITHOUT_VECTORS();
        p = parse_vector(DATADISK_POLICY);
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                args[i] = (ThreadArg){.p = p, .good = good, .bad = bad};
                assert_int_equal(pthread_create(&t[i], NULL, evaluate_many, &args[i]), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(args[i].failures, 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_skr_policy),
                cmocka_unit_test(test_datadisk_policy),
                cmocka_unit_test(test_key_form),
                cmocka_unit_test(test_real_tokens),
                cmocka_unit_test(test_operators),
                cmocka_unit_test(test_combinators),
                cmocka_unit_test(test_authority_equal),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_text_edges),
                cmocka_unit_test(test_mutations),
                cmocka_unit_test(test_threads),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
