/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "verifier/maa-policy.h"
#include "tests/unit/test-util.h"

#define POLICIES "azure/maa-policies/"

/* The PCR 0-3 SHA-256 values tpm-policy-v1.2-pcr-allowlist.txt allows. */
#define PCR0  "4c833b1c361fceffd8dc0f81eec76081b71e1a0eb2193caed0b6e1c7735ec33e"
#define PCR1  "8c25e3be6ad6f5bd33c9ae40d5d5461e88c1a7366df0c9ee5c7e5ff40d3d1d0e"
#define PCR23 "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"
#define OTHER "0000000000000000000000000000000000000000000000000000000000000000"

static MaaPolicy *compile_ok(const char *text) {
        MaaPolicy *p = NULL;
        Diag d = {};
        int r;

        r = maa_policy_compile(text, strlen(text), &p, &d);
        if (r < 0)
                print_message("# compile: %d %s\n", r, d.text);
        assert_int_equal(r, 0);
        assert_non_null(p);
        return p;
}

static int compile_err(const char *text, Diag *d) {
        MaaPolicy *p = NULL;
        int r;

        memset(d, 0, sizeof(*d));
        r = maa_policy_compile(text, strlen(text), &p, d);
        assert_true(r < 0);
        assert_null(p);
        assert_true(d->text[0] != '\0');
        return r;
}

static MaaPolicy *compile_vector(const char *name) {
        _cleanup_(freep) uint8_t *buf = NULL;
        MaaPolicy *p = NULL;
        size_t size;
        Diag d = {};
        int r;

        buf = test_read_vector(name, &size);
        r = maa_policy_compile((const char *) buf, size, &p, &d);
        if (r < 0)
                print_message("# %s: %d %s\n", name, r, d.text);
        assert_int_equal(r, 0);
        return p;
}

/* Evaluates p over claims given as JSON text; returns evaluate()'s result. */
static int eval(const MaaPolicy *p, const char *claims, MaaVerdict *v, Diag *d) {
        _cleanup_(json_object_putp) json_object *j = NULL;

        assert_int_equal(json_parse_capped(claims, strlen(claims), 1u << 20, 32, &j), 0);
        memset(v, 0, sizeof(*v));
        return maa_policy_evaluate(p, j, 0, v, d);
}

static void eval_ok(const MaaPolicy *p, const char *claims, MaaVerdict *v) {
        Diag d = {};
        int r = eval(p, claims, v, &d);

        if (r < 0)
                print_message("# evaluate: %d %s\n", r, d.text);
        assert_int_equal(r, 0);
        assert_non_null(v->properties);
}

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void assert_claims(const MaaVerdict *v, const char *expected) {
        assert_true(v->permitted);
        assert_non_null(v->claims);
        if (!streq(plain(v->claims), expected))
                print_message("# claims: %s\n# expected: %s\n", plain(v->claims), expected);
        assert_string_equal(plain(v->claims), expected);
}

/* ---- the three real policies ---- */

static const char v10_all_true[] =
        "{\"aikValidated\": true, \"secureBootEnabled\": true, \"bootDebuggingDisabled\": true,"
        " \"vbsEnabled\": true, \"notWinPE\": true, \"notSafeMode\": true}";

static void test_v10(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;

        SKIP_WITHOUT_VECTORS();
        p = compile_vector(POLICIES "tpm-policy-v1.0.txt");
        assert_int_equal(maa_policy_version(p), MAA_POLICY_VERSION_1_0);
        assert_string_equal(plain(maa_policy_configuration(p)), "{}");

        /* every && condition holds: PlatformAttested is issued */
        eval_ok(p, v10_all_true, &v);
        assert_claims(&v, "{\"PlatformAttested\":true}");
        assert_int_equal(v.permit_line, 4);
        maa_verdict_done(&v);

        /* one false (or missing) claim: still permitted (=> permit()), nothing issued */
        eval_ok(p,
                "{\"aikValidated\": true, \"secureBootEnabled\": true, \"bootDebuggingDisabled\":"
                " true, \"vbsEnabled\": false, \"notWinPE\": true, \"notSafeMode\": true}",
                &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
        eval_ok(p, "{\"aikValidated\": true}", &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
        /* a string "true" is not the Boolean true */
        eval_ok(p,
                "{\"aikValidated\": \"true\", \"secureBootEnabled\": true, "
                "\"bootDebuggingDisabled\":"
                " true, \"vbsEnabled\": true, \"notWinPE\": true, \"notSafeMode\": true}",
                &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
}

static char *pcr_claims(const char *d0, const char *d1, const char *d2, const char *d3,
                        bool as_text) {
        char buf[2048];
        int n;

        n = snprintf(
                buf, sizeof(buf),
                "{\"PCRs\": [{\"Index\": 0, \"Digests\": {\"SHA1\": \"aa\", \"SHA256\": \"%s\"}},"
                " {\"Index\": 1, \"Digests\": {\"SHA256\": \"%s\"}},"
                " {\"Index\": 2, \"Digests\": {\"SHA256\": \"%s\"}},"
                " {\"Index\": 3, \"Digests\": {\"SHA256\": \"%s\"}},"
                " {\"Index\": 7, \"Digests\": {\"SHA256\": \"" OTHER "\"}}]}",
                d0, d1, d2, d3);
        assert_true(n > 0 && (size_t) n < sizeof(buf));
        if (!as_text) {
                char *out = NULL;
                assert_true(asprintf(&out, "{\"pcrs\": %s}", buf) > 0);
                return out;
        }
        /* the "pcrs" claim as a string holding JSON text, as MAA's policy engine sees it */
        json_object *o = json_object_new_object();
        assert_int_equal(json_add_string(o, "pcrs", buf), 0);
        char *out = strdup(plain(o));
        json_object_put(o);
        return out;
}

static void test_v12_pcr_allowlist(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;

        SKIP_WITHOUT_VECTORS();
        p = compile_vector(POLICIES "tpm-policy-v1.2-pcr-allowlist.txt");
        assert_int_equal(maa_policy_version(p), MAA_POLICY_VERSION_1_2);

        for (int text = 0; text < 2; text++) {
                _cleanup_(freep) char *good = pcr_claims(PCR0, PCR1, PCR23, PCR23, text);
                eval_ok(p, good, &v);
                assert_claims(&v, "{}");
                assert_int_equal(v.permit_line, 10);
                assert_int_equal(v.deny_line, 0);
                maa_verdict_done(&v);
                /* compiled once, evaluated again: the same */
                eval_ok(p, good, &v);
                assert_true(v.permitted);
                maa_verdict_done(&v);

                const char *bad[][4] = {
                        {OTHER, PCR1, PCR23, PCR23},
                        {PCR0, PCR23, PCR23, PCR23},
                        {PCR0, PCR1, OTHER, PCR23},
                        {PCR0, PCR1, PCR23, PCR0},
                        /* digests compare as strings: upper case is another value */
                        {PCR0, PCR1, PCR23,
                         "3D458CFE55CC03EA1F443F1562BEEC8DF51C75E14A9FCF9A7234A13F198E7969"},
                };
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        _cleanup_(freep) char *c =
                                pcr_claims(bad[i][0], bad[i][1], bad[i][2], bad[i][3], text);
                        eval_ok(p, c, &v);
                        assert_false(v.permitted);
                        assert_null(v.claims);
                        assert_non_null(strstr(v.reason, "no authorization rule ran permit()"));
                        maa_verdict_done(&v);
                }
        }
        /* PCR 3 absent, no pcrs claim, pcrs with another issuer's shape */
        eval_ok(p,
                "{\"pcrs\": {\"PCRs\": [{\"Index\": 0, \"Digests\": {\"SHA256\": \"" PCR0 "\"}},"
                "{\"Index\": 1, \"Digests\": {\"SHA256\": \"" PCR1 "\"}},"
                "{\"Index\": 2, \"Digests\": {\"SHA256\": \"" PCR23 "\"}}]}}",
                &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
        eval_ok(p, "{}", &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
        eval_ok(p, "{\"pcrs\": {\"PCRs\": 5}}", &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
}

static void test_v12_issue_all(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;

        SKIP_WITHOUT_VECTORS();
        p = compile_vector(POLICIES "tpm-policy-v1.2-issue-all.txt");
        assert_int_equal(maa_policy_version(p), MAA_POLICY_VERSION_1_2);
        assert_string_equal(plain(maa_policy_configuration(p)), "{}");

        eval_ok(p,
                "{\"bootEvents\": {\"Events\": [{\"EventSeq\": 0}]},"
                " \"events\": {\"Events\": [{\"EventTypeString\": \"EV_SEPARATOR\", \"PcrIndex\": "
                "7}]},"
                " \"other\": 1}",
                &v);
        /* JSON claims are issued as their JSON text (claim-rule-functions.md) */
        assert_claims(&v, "{\"outputBootEvents\":\"{\\\"Events\\\":[{\\\"EventSeq\\\":0}]}\","
                          "\"outputEvents\":\"{\\\"Events\\\":[{\\\"EventTypeString\\\":"
                          "\\\"EV_SEPARATOR\\\",\\\"PcrIndex\\\":7}]}\"}");
        maa_verdict_done(&v);

        eval_ok(p, "{\"events\": \"[]\"}", &v);
        assert_claims(&v, "{\"outputEvents\":\"[]\"}");
        maa_verdict_done(&v);
        eval_ok(p, "{}", &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
}

/* ---- semantics ---- */

static void test_authorization(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;

        /* the spec's SNP gate (§5.4) */
        p = compile_ok("version=1.0;\n"
                       "authorizationrules {\n"
                       "  [type==\"x-ms-sevsnpvm-is-debuggable\", value==false] &&\n"
                       "  [type==\"x-ms-sevsnpvm-vmpl\", value==0] => permit();\n"
                       "};\n"
                       "issuancerules {\n"
                       "  c:[type==\"x-ms-sevsnpvm-launchmeasurement\"] =>\n"
                       "      issue(type=\"measurement\", value=c.value);\n"
                       "};\n");
        eval_ok(p,
                "{\"x-ms-sevsnpvm-is-debuggable\": false, \"x-ms-sevsnpvm-vmpl\": 0,"
                " \"x-ms-sevsnpvm-launchmeasurement\": \"abcd\"}",
                &v);
        assert_claims(&v, "{\"measurement\":\"abcd\"}");
        assert_int_equal(v.permit_line, 3);
        maa_verdict_done(&v);
        eval_ok(p, "{\"x-ms-sevsnpvm-is-debuggable\": true, \"x-ms-sevsnpvm-vmpl\": 0}", &v);
        assert_false(v.permitted);
        assert_null(v.claims);
        maa_verdict_done(&v);
        p = maa_policy_free(p);

        /* deny() wins, names its line; rules after it do not run */
        p = compile_ok("version=1.0;\n"
                       "authorizationrules {\n"
                       "  => permit();\n"
                       "  [type==\"debug\", value==true] => deny();\n"
                       "  => add(type=\"late\", value=1);\n"
                       "};\n"
                       "issuancerules { c:[type==\"late\"] => issue(claim=c); };\n");
        eval_ok(p, "{\"debug\": true}", &v);
        assert_false(v.permitted);
        assert_int_equal(v.deny_line, 4);
        assert_non_null(strstr(v.reason, "line 4"));
        maa_verdict_done(&v);
        eval_ok(p, "{\"debug\": false}", &v);
        assert_claims(&v, "{\"late\":1}");
        maa_verdict_done(&v);
        p = maa_policy_free(p);

        /* no rules at all: no permit, no token */
        p = compile_ok("version=1.0; authorizationrules { };");
        eval_ok(p, "{}", &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
        p = maa_policy_free(p);

        /* integer ordering, issuer, valueType, add() seen by later rules with AttestationPolicy */
        p = compile_ok(
                "version=1.0;\n"
                "authorizationrules {\n"
                "  [type==\"svn\", value>=3, value<10, issuer==\"AttestationService\","
                " valueType==\"Integer\"] => add(type=\"svnOk\", value=true);\n"
                "  [type=\"svnOk\", issuer==\"AttestationPolicy\", value==true] => permit();\n"
                "};\n");
        eval_ok(p, "{\"svn\": 3}", &v);
        assert_true(v.permitted);
        maa_verdict_done(&v);
        eval_ok(p, "{\"svn\": 10}", &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
        eval_ok(p, "{\"svn\": \"5\"}", &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
        /* an incoming claim cannot pose as a policy claim */
        eval_ok(p, "{\"svnOk\": true}", &v);
        assert_false(v.permitted);
        maa_verdict_done(&v);
}

static void test_identifiers_and_sets(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;

        /* claim-rule-grammar.md's F1/C2 example: value == F1.value joins two conditions */
        p = compile_ok("version=1.0;\n"
                       "authorizationrules { => permit(); };\n"
                       "issuancerules {\n"
                       "  F1:[type==\"OSName\", issuer==\"AttestationService\"] &&\n"
                       "  C2:[type==\"OSCopy\", value==F1.value] => issue(claim=C2);\n"
                       "  c:[type==\"x-ms-azurevm-attested-pcrs\"] => issue(claim=c);\n"
                       "  c:[type==\"x-ms-azurevm-attested-pcrs\", value>6, "
                       "issuer==\"AttestationService\"] =>"
                       " issue(type=\"high\", value=c.value);\n"
                       "  => issueproperty(type=\"report_validity_in_minutes\", value=1440);\n"
                       "};\n");
        eval_ok(p,
                "{\"OSName\": \"Linux\", \"OSCopy\": \"Linux\","
                " \"x-ms-azurevm-attested-pcrs\": [0, 1, 7, 11]}",
                &v);
        assert_claims(&v, "{\"OSCopy\":\"Linux\",\"x-ms-azurevm-attested-pcrs\":[0,1,7,11],"
                          "\"high\":[7,11]}");
        assert_string_equal(plain(v.properties), "{\"report_validity_in_minutes\":1440}");
        maa_verdict_done(&v);
        eval_ok(p, "{\"OSName\": \"Linux\", \"OSCopy\": \"Windows\"}", &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
        p = maa_policy_free(p);

        /* 1.2 functions, with the documented examples */
        p = compile_ok(
                "version=1.2;\n"
                "authorizationrules { => permit(); };\n"
                "issuancerules {\n"
                "  => add(type=\"JmesPathResult\", value=JmesPath(\"{\\\"foo\\\": \\\"bar\\\"}\", "
                "\"foo\"));\n"
                "  c:[type==\"JmesPathResult\"] => issue(type=\"foo\", "
                "value=JsonToClaimValue(c.value));\n"
                "  c1:[type==\"Subset\"] && c2:[type==\"Superset\"] =>"
                "      issue(type=\"IsSubset\", value=IsSubsetOf(c1.value, c2.value));\n"
                "  c2:[type==\"Superset\"] && c1:[type==\"Subset\"] =>"
                "      issue(type=\"IsSuperSubset\", value=IsSubsetOf(c2.value, c1.value));\n"
                "  c:[type==\"String1\"] && c2:[type==\"String2\"] =>"
                "      issue(type=\"Appended\", value=AppendString(c.value, c2.value));\n"
                "  c:[type==\"Input\"] => issue(type=\"Negated\", value=NegateBool(c.value));\n"
                "  c:[type==\"Set\"] => issue(type=\"OnlyTrue\", value=ContainsOnlyValue(c.value, "
                "true));\n"
                "  c:[type==\"Json\"] => issue(type=\"Expanded\", "
                "value=JsonToClaimValue(c.value));\n"
                "  c:[type==\"Json\"] => add(type=\"Nothing\", value=JsonToClaimValue(\"null\"));\n"
                "  ![type==\"Nothing\"] => issue(type=\"NothingAdded\", value=true);\n"
                "  ![type==\"Input\"] => issue(type=\"NoInput\", value=true);\n"
                "};\n");
        eval_ok(p,
                "{\"Subset\": [\"abc\", 100], \"Superset\": [true, \"abc\", 100],"
                " \"String1\": \"abc\", \"String2\": \"xyz\", \"Input\": true,"
                " \"Set\": [true, true], \"Json\": \"[0, \\\"abc\\\", true, null]\"}",
                &v);
        assert_claims(&v, "{\"foo\":\"bar\",\"IsSubset\":true,\"IsSuperSubset\":false,"
                          "\"Appended\":\"abcxyz\",\"Negated\":false,\"OnlyTrue\":true,"
                          "\"Expanded\":[0,\"abc\",true],\"NothingAdded\":true}");
        maa_verdict_done(&v);
        eval_ok(p, "{\"Set\": [true, false]}", &v);
        assert_claims(&v, "{\"foo\":\"bar\",\"OnlyTrue\":false,\"NothingAdded\":true,"
                          "\"NoInput\":true}");
        maa_verdict_done(&v);
}

/* policy-version-1-2.md's secure-boot rules, over an events claim. */
static void test_jmespath_events(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;
        Diag d = {};
        static const char events_on[] =
                "{\"events\": {\"Events\": ["
                "{\"EventSeq\": 1, \"PcrIndex\": 7, \"EventTypeString\": "
                "\"EV_EFI_VARIABLE_DRIVER_CONFIG\","
                " \"ProcessedData\": {\"VariableGuid\": \"8BE4DF61-93CA-11D2-AA0D-00E098032B8C\","
                " \"UnicodeName\": \"SecureBoot\", \"VariableData\": \"AQ\"}},"
                "{\"EventSeq\": 2, \"PcrIndex\": 7, \"EventTypeString\": "
                "\"EV_EFI_VARIABLE_DRIVER_CONFIG\","
                " \"ProcessedData\": {\"VariableGuid\": \"8BE4DF61-93CA-11D2-AA0D-00E098032B8C\","
                " \"UnicodeName\": \"PK\", \"VariableData\": \"MIIB\"}},"
                "{\"EventSeq\": 3, \"PcrIndex\": 7, \"EventTypeString\": \"EV_SEPARATOR\"}]}}";

        /* a multi-select list is outside the subset: a compile error naming the query */
        memset(&d, 0, sizeof(d));
        assert_int_equal(compile_err("version=1.2; authorizationrules { => permit(); };\n"
                                     "issuancerules { c:[type==\"e\"] => issue(type=\"f\","
                                     " value=JmesPath(c.value, \"a[*].[b]\")); };",
                                     &d),
                         -EBADMSG);
        assert_non_null(strstr(
                d.text,
                "line 2, column 74: JmesPath query offset 5: multi-select is not supported"));

        p = compile_ok(
                "version=1.2;\n"
                "authorizationrules { => permit(); };\n"
                "issuancerules\n"
                "{ // comments as in the documentation\n"
                "c:[type == \"events\", issuer==\"AttestationService\"] => add(type = "
                "\"efiConfigVariables\","
                " value = JmesPath(c.value, \"Events[?EventTypeString == "
                "'EV_EFI_VARIABLE_DRIVER_CONFIG' &&"
                " ProcessedData.VariableGuid == '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']\"));\n"
                "c:[type==\"efiConfigVariables\", issuer=\"AttestationPolicy\"]=> issue(type = "
                "\"secureBootEnabled\","
                " value = JsonToClaimValue(JmesPath(c.value, \"[?ProcessedData.UnicodeName == "
                "'SecureBoot'] |"
                " length(@) == `1` && @[0].ProcessedData.VariableData == 'AQ'\")));\n"
                "![type==\"secureBootEnabled\", issuer==\"AttestationPolicy\"] => "
                "issue(type=\"secureBootEnabled\","
                " value=false);\n"
                "c:[type==\"events\"] => issue(type=\"pcr7Seqs\", "
                "value=JsonToClaimValue(JmesPath(c.value,"
                " \"Events[? PcrIndex == `7` && EventSeq > `1`].EventSeq\")));\n"
                "c:[type==\"events\"] => issue(type=\"lastType\", "
                "value=JsonToClaimValue(JmesPath(c.value,"
                " \"Events[-1].EventTypeString\")));\n"
                "c:[type==\"events\"] => issue(type=\"names\", value=JmesPath(c.value,"
                " \"Events[*].ProcessedData.UnicodeName\"));\n"
                "c:[type==\"events\"] => issue(type=\"flat\", value=JmesPath(c.value,"
                " \"Events[*].ProcessedData | [].* | [0]\"));\n"
                "c:[type==\"events\"] => issue(type=\"anyPk\", "
                "value=JsonToClaimValue(JmesPath(c.value,"
                " \"contains(Events[*].ProcessedData.UnicodeName, 'PK') && "
                "!contains(Events[*].PcrIndex, `0`)\")));\n"
                "c:[type==\"events\"] => issue(type=\"quoted\", "
                "value=JsonToClaimValue(JmesPath(c.value,"
                " \"\\\"Events\\\"[0].\\\"ProcessedData\\\".UnicodeName\")));\n"
                "c:[type==\"events\"] => issue(type=\"guidCase\", "
                "value=JsonToClaimValue(JmesPath(c.value,"
                " \"length(Events[? equals_ignore_case(ProcessedData.VariableGuid,"
                " '8be4df61-93ca-11d2-aa0d-00e098032b8c')])\")));\n"
                "};\n");
        eval_ok(p, events_on, &v);
        assert_claims(&v,
                      "{\"secureBootEnabled\":true,\"pcr7Seqs\":[2,3],"
                      "\"lastType\":\"EV_SEPARATOR\",\"names\":\"[\\\"SecureBoot\\\",\\\"PK\\\"]\","
                      "\"flat\":\"[\\\"8BE4DF61-93CA-11D2-AA0D-00E098032B8C\\\",\\\"SecureBoot\\\","
                      "\\\"AQ\\\"]\","
                      "\"anyPk\":true,\"quoted\":\"SecureBoot\",\"guidCase\":2}");
        maa_verdict_done(&v);

        /* SecureBoot variable 0: not enabled; no events: the ! rule issues false */
        _cleanup_(freep) char *off = strdup(events_on);
        *strstr(off, "\"AQ\"") = '\0';
        _cleanup_(freep) char *off2 = NULL;
        assert_true(asprintf(&off2, "%s\"AA\"%s", off, strstr(events_on, "\"AQ\"") + 4) > 0);
        eval_ok(p, off2, &v);
        assert_true(v.permitted);
        assert_true(json_object_get_boolean(
                            json_object_object_get(v.claims, "secureBootEnabled")) == 0);
        assert_true(json_object_is_type(json_object_object_get(v.claims, "secureBootEnabled"),
                                        json_type_boolean));
        maa_verdict_done(&v);
        eval_ok(p, "{}", &v);
        assert_claims(&v, "{\"secureBootEnabled\":false}");
        maa_verdict_done(&v);

        /* events that are not JSON text: an evaluation error naming the line */
        memset(&d, 0, sizeof(d));
        assert_int_equal(eval(p, "{\"events\": \"{nope\"}", &v, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "line 5"));
        assert_non_null(strstr(d.text, "not JSON text"));
}

static void test_read_only_pcrs(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;
        Diag d = {};

        /* policy-version-1-2.md: PCRs are read-only, cannot be issued, but can gate a claim */
        p = compile_ok(
                "version=1.2;\n"
                "authorizationrules { => permit(); };\n"
                "issuancerules {\n"
                "  c:[type == \"pcrs\", issuer==\"AttestationService\"] &&"
                "  c1:[type==\"pcrMatchesExpectedValue\", value==JsonToClaimValue(JmesPath(c.value,"
                " \"PCRs[? Index == `0`].Digests.SHA1 | @[0] == `\\\"KCk6Ow\\\"`\"))] => "
                "issue(claim = c1);\n"
                "};\n");
        eval_ok(p,
                "{\"pcrs\": {\"PCRs\": [{\"Index\": 0, \"Digests\": {\"SHA1\": \"KCk6Ow\"}}]},"
                " \"pcrMatchesExpectedValue\": true}",
                &v);
        assert_claims(&v, "{\"pcrMatchesExpectedValue\":true}");
        maa_verdict_done(&v);
        eval_ok(p,
                "{\"pcrs\": {\"PCRs\": [{\"Index\": 0, \"Digests\": {\"SHA1\": \"other\"}}]},"
                " \"pcrMatchesExpectedValue\": true}",
                &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
        p = maa_policy_free(p);

        p = compile_ok("version=1.2;\n"
                       "authorizationrules { => permit(); };\n"
                       "issuancerules {\n"
                       "  c:[type == \"pcrs\"] => add(type=\"pcr0\", value=JmesPath(c.value, "
                       "\"PCRs[0]\"));\n"
                       "  c:[type == \"pcr0\"] => issue(type=\"leak\", value=AppendString(\"x\", "
                       "c.value));\n"
                       "};\n");
        assert_int_equal(eval(p, "{\"pcrs\": {\"PCRs\": [1]}}", &v, &d), -EPERM);
        assert_non_null(strstr(d.text, "line 5"));
        eval_ok(p, "{\"other\": {\"PCRs\": [1]}}", &v);
        assert_claims(&v, "{}");
        maa_verdict_done(&v);
}

static void test_configuration(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        MaaVerdict v;
        Diag d;

        p = compile_ok(
                "version=1.1;\n"
                "configurationrules {\n"
                "  => issueproperty(type=\"require_valid_aik_cert\", value=false);\n"
                "  => issueproperty(type=\"required_pcr_mask\", value=0x0000FF);\n"
                "  => issueproperty(type=\"x-ms-sgx-tcbidentifier\", value=\"azuredefault\");\n"
                "};\n"
                "authorizationrules { => permit(); };\n"
                "issuancerules { => issueproperty(type=\"omit_x5c\", value=true); };\n");
        assert_int_equal(maa_policy_version(p), MAA_POLICY_VERSION_1_1);
        assert_string_equal(plain(maa_policy_configuration(p)),
                            "{\"require_valid_aik_cert\":false,\"required_pcr_mask\":255,"
                            "\"x-ms-sgx-tcbidentifier\":\"azuredefault\"}");
        eval_ok(p, "{}", &v);
        assert_string_equal(plain(v.properties),
                            "{\"require_valid_aik_cert\":false,\"required_pcr_mask\":255,"
                            "\"x-ms-sgx-tcbidentifier\":\"azuredefault\",\"omit_x5c\":true}");
        assert_claims(&v, "{}");
        maa_verdict_done(&v);

        assert_int_equal(compile_err("version=1.0;\nconfigurationrules { };\n"
                                     "authorizationrules { => permit(); };",
                                     &d),
                         -EBADMSG);
        assert_non_null(
                strstr(d.text, "line 2, column 1: configurationrules needs policy version 1.1"));
        assert_int_equal(compile_err("version=1.2;\nconfigurationrules {\n"
                                     "  [type==\"a\"] => issueproperty(type=\"b\", value=1);\n};\n"
                                     "authorizationrules { => permit(); };",
                                     &d),
                         -EBADMSG);
        assert_non_null(strstr(d.text, "line 3, column 3: configurationrules take only"));
        assert_int_equal(compile_err("version=1.2;\nconfigurationrules {\n => permit();\n};", &d),
                         -EBADMSG);
        assert_non_null(
                strstr(d.text, "line 3, column 5: permit() is not allowed in configurationrules"));
}

/* Real token payloads as incoming claims: nested objects arrive as JSON text. */
static void test_real_token_claims(void **state) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        static const char *const payloads[] = {
                "azure/maa-tokens/sharedeus2-sevsnpvm-1735604834.payload.json",
                "azure/cvm-guest-attestation/sampleAttestationToken.json",
        };
        MaaVerdict v;

        SKIP_WITHOUT_VECTORS();
        p = compile_ok(
                "version=1.2;\n"
                "authorizationrules {\n"
                "  [type==\"x-ms-attestation-type\", value==\"azurevm\"] && [type==\"secureboot\", "
                "value==true] &&\n"
                "  [type==\"x-ms-azurevm-kerneldebug-enabled\", value==false] &&\n"
                "  c:[type==\"x-ms-isolation-tee\"] && [type==\"x-ms-isolation-tee\", "
                "value==c.value] =>\n"
                "      add(type=\"tee\", value=JsonToClaimValue(JmesPath(c.value, "
                "\"\\\"x-ms-attestation-type\\\"\")));\n"
                "  c:[type==\"x-ms-isolation-tee\"] => add(type=\"debuggable\","
                " value=JsonToClaimValue(JmesPath(c.value, "
                "\"\\\"x-ms-sevsnpvm-is-debuggable\\\"\")));\n"
                "  [type==\"tee\", value==\"sevsnpvm\"] && [type==\"debuggable\", value==false] "
                "&&\n"
                "  [type==\"x-ms-azurevm-attested-pcrs\", value==7] => permit();\n"
                "};\n"
                "issuancerules {\n"
                "  c:[type==\"x-ms-azurevm-attested-pcrs\", value<=3] => issue(claim=c);\n"
                "  c:[type==\"x-ms-azurevm-vmid\"] => issue(claim=c);\n"
                "  c:[type==\"x-ms-isolation-tee\"] => issue(type=\"compliance\","
                " value=JsonToClaimValue(JmesPath(c.value, \"\\\"x-ms-compliance-status\\\"\")));\n"
                "};\n");
        for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                _cleanup_(json_object_putp) json_object *j = NULL;
                size_t size;
                Diag d = {};

                buf = test_read_vector(payloads[i], &size);
                assert_int_equal(json_parse_capped((const char *) buf, size, 1u << 20, 32, &j), 0);
                assert_int_equal(maa_policy_evaluate(p, j, 0, &v, &d), 0);
                assert_true(v.permitted);
                assert_int_equal(v.permit_line, 8);
                assert_int_equal(json_object_array_length(json_object_object_get(
                                         v.claims, "x-ms-azurevm-attested-pcrs")),
                                 4);
                assert_string_equal(
                        json_object_get_string(json_object_object_get(v.claims, "compliance")),
                        "azure-compliant-cvm");
                assert_non_null(json_object_object_get(v.claims, "x-ms-azurevm-vmid"));
                maa_verdict_done(&v);

                /* the same claims with debugging on: no permit */
                json_object *tee = json_object_object_get(j, "x-ms-isolation-tee");
                assert_int_equal(json_add_bool(tee, "x-ms-sevsnpvm-is-debuggable", true), 0);
                assert_int_equal(maa_policy_evaluate(p, j, 0, &v, &d), 0);
                assert_false(v.permitted);
                maa_verdict_done(&v);
        }
}

/* ---- errors ---- */

static void test_syntax_errors(void **state) {
        static const struct {
                const char *text, *where;
                int error;
        } cases[] = {
                {"version=1.0;\nauthorizationrules\n{\n  [type==\"a\" value==true] => "
                 "permit();\n};",
                 "line 4, column 14: expected ',' or ']', found 'value'", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n    => permit();\n",
                 "line 4, column 1: expected a rule", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n    => permit()\n}",
                 "line 4, column 2: expected ';' after '}', found end of input", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n    => allow();\n};",
                 "line 3, column 8: expected an action", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  => issue(type=\"a\", value=1);\n};",
                 "line 3, column 6: issue() is not allowed in authorizationrules", -EBADMSG},
                {"version=1.0;\nauthorizationrules { => permit(); };\nissuancerules { => deny(); "
                 "};",
                 "line 3, column 20: deny() is not allowed in issuancerules", -EBADMSG},
                {"version=1.0;\nissuancerules { };",
                 "line 2, column 1: expected 'authorizationrules', found 'issuancerules'",
                 -EBADMSG},
                {"version=1.2;\nauthorisationrules { };",
                 "line 2, column 1: expected 'configurationrules' or 'authorizationrules'",
                 -EBADMSG},
                {"version=1.0;\nauthorizationrules { => permit(); };\nauthorizationrules { };",
                 "line 3, column 1: expected 'issuancerules'", -EBADMSG},
                {"version=1.0;", "line 1, column 13: expected 'authorizationrules'", -EBADMSG},
                {"", "line 1, column 1: expected 'version', found end of input", -EBADMSG},
                {"version 1.0;", "line 1, column 9: expected '='", -EBADMSG},
                {"version=1.3;\nauthorizationrules { => permit(); };",
                 "line 1, column 9: unsupported policy version 1.3", -EPROTONOSUPPORT},
                {"version=2.0;", "unsupported policy version 2.0", -EPROTONOSUPPORT},
                {"version=1.10;", "unsupported policy version 1.10", -EPROTONOSUPPORT},
                {"version=1.0;\nauthorizationrules {\n  c:[type==\"a\"] => issue(claim=d);\n};",
                 "line 3, column 20: issue() is not allowed in authorizationrules", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  c:[type==\"a\"] => add(claim=d);\n};",
                 "line 3, column 30: unknown claim identifier 'd'", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  c:[type==\"a\"] && c:[type==\"b\"] => "
                 "permit();\n};",
                 "line 3, column 20: identifier 'c' is already bound", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [type==\"a\", value==c.value] && "
                 "c:[type==\"b\"] => permit();\n};",
                 "line 3, column 22: unknown claim identifier 'c'", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  ![type==\"a\"] => permit();\n};",
                 "line 3, column 3: '!' before a condition needs policy version 1.2", -EBADMSG},
                {"version=1.1;\nauthorizationrules {\n  => add(type=\"a\", "
                 "value=NegateBool(true));\n};",
                 "line 3, column 26: a function call needs policy version 1.2", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", "
                 "value=Negate(true));\n};",
                 "line 3, column 26: expected a function", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", value=NegateBool(true, "
                 "false));\n};",
                 "line 3, column 41: expected ')' (one argument)", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [type<\"a\"] => permit();\n};",
                 "line 3, column 8: '<', '<=', '>' and '>=' compare integer values only", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [type==\"a] => permit();\n};",
                 "line 3, column 10: expected '\"' to end this string", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [value==99999999999999999999] => "
                 "permit();\n};",
                 "line 3, column 11: integer out of range", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [value==1] => permit(); /* open\n};",
                 "line 3, column 27: expected '*/'", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [value==1] => permit(); @\n};",
                 "line 3, column 27: expected a token, found '@'", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", value=JmesPath(\"{}\", "
                 "\"a[?b ==]\"));\n};",
                 "line 3, column 41: JmesPath query offset 7: expected an expression", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", value=JmesPath(\"{}\", "
                 "\"a[0:2]\"));\n};",
                 "JmesPath query offset 2: slices are not supported", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", value=JmesPath(\"{}\", "
                 "\"a | nope(@)\"));\n};",
                 "JmesPath query offset 4: unknown function nope()", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", value=JmesPath(\"{}\", "
                 "\"`{bad`\"));\n};",
                 "JmesPath query offset 0: invalid JSON literal", -EBADMSG},
                {"version=1.2;\nauthorizationrules {\n  => add(type=\"a\", value=JmesPath(\"{}\", "
                 "\"\"));\n};",
                 "JmesPath query offset 0: empty query", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  [] => permit();\n};",
                 "line 3, column 4: expected 'type', 'value', 'issuer' or 'valueType'", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  => add(type=\"a\");\n};",
                 "line 3, column 18: expected ','", -EBADMSG},
                {"version=1.0;\nauthorizationrules {\n  => add(type=\"a\", type=\"b\");\n};",
                 "line 3, column 20: expected 'value'", -EBADMSG},
                {"version=1.0;\xC3\x28", "line 1, column 13: invalid UTF-8", -EBADMSG},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Diag d;
                int r = compile_err(cases[i].text, &d);

                if (r != cases[i].error || !strstr(d.text, cases[i].where))
                        print_message("# case %zu: %d '%s'\n", i, r, d.text);
                assert_int_equal(r, cases[i].error);
                assert_non_null(strstr(d.text, cases[i].where));
        }
}

static void test_caps(void **state) {
        _cleanup_(freep) char *big = NULL, *deep = NULL, *q = NULL;
        MaaPolicy *p = NULL;
        Diag d = {};
        size_t n;

        /* over 64 KiB: refused before parsing */
        big = malloc(MAA_POLICY_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, ' ', MAA_POLICY_SIZE_MAX + 1);
        big[MAA_POLICY_SIZE_MAX + 1] = '\0';
        assert_int_equal(maa_policy_compile(big, MAA_POLICY_SIZE_MAX + 1, &p, &d), -E2BIG);
        assert_null(p);

        /* nesting: 33 function calls deep is refused before parsing, 31 is fine */
        for (unsigned depth = 31; depth <= 40; depth += 9) {
                FILE *f = NULL;

                free(deep);
                deep = NULL;
                f = open_memstream(&deep, &n);
                assert_non_null(f);
                fputs("version=1.2; authorizationrules { => add(type=\"x\", value=", f);
                for (unsigned i = 0; i < depth - 1; i++)
                        fputs("NegateBool(", f);
                fputs("true", f);
                for (unsigned i = 0; i < depth - 1; i++)
                        fputs(")", f);
                fputs("); [type==\"x\", value==false] => permit(); };", f);
                assert_int_equal(fclose(f), 0);
                memset(&d, 0, sizeof(d));
                int r = maa_policy_compile(deep, n, &p, &d);
                if (depth == 31) {
                        MaaVerdict v;
                        assert_int_equal(r, 0);
                        eval_ok(p, "{}", &v);
                        assert_false(v.permitted); /* 30 negations of true */
                        maa_verdict_done(&v);
                        p = maa_policy_free(p);
                } else {
                        assert_int_equal(r, -EBADMSG);
                        assert_non_null(strstr(d.text, "nesting deeper than 32"));
                }
        }

        /* a JmesPath query nested past its cap (inside a string, so the pre-scan cannot see it) */
        n = 200;
        q = malloc(n * 2 + 256);
        assert_non_null(q);
        size_t k = (size_t) snprintf(q, 256,
                                     "version=1.2; authorizationrules { => add(type=\"x\", "
                                     "value=JmesPath(\"{}\", \"");
        for (size_t i = 0; i < n; i++)
                q[k++] = '!';
        k += (size_t) snprintf(q + k, 64, "a\")); };");
        memset(&d, 0, sizeof(d));
        assert_int_equal(maa_policy_compile(q, k, &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "nested too deeply"));
        /* a long a.a.a... chain too */
        k = (size_t) snprintf(q, 256,
                              "version=1.2; authorizationrules { => add(type=\"x\", "
                              "value=JmesPath(\"{}\", \"a");
        for (size_t i = 0; i < n / 2; i++) {
                q[k++] = '.';
                q[k++] = 'a';
        }
        k += (size_t) snprintf(q + k, 64, "\")); };");
        memset(&d, 0, sizeof(d));
        assert_int_equal(maa_policy_compile(q, k, &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "nested too deeply"));

        /* no text at all; a UTF-8 byte order mark is skipped */
        memset(&d, 0, sizeof(d));
        assert_int_equal(maa_policy_compile(NULL, 0, &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "line 1, column 1: expected 'version'"));
        p = compile_ok("\xEF\xBB\xBFversion=1.0; authorizationrules { => permit(); };");
        p = maa_policy_free(p);

        /* NUL inside the text */
        memset(&d, 0, sizeof(d));
        assert_int_equal(maa_policy_compile("version=1.0;\0", 13, &p, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "NUL byte"));

        /* incoming claims must be an object */
        p = compile_ok("version=1.0; authorizationrules { => permit(); };");
        {
                MaaVerdict v;
                _cleanup_(json_object_putp) json_object *arr = json_object_new_array();
                assert_int_equal(maa_policy_evaluate(p, arr, 0, &v, NULL), -EINVAL);
                assert_int_equal(maa_policy_evaluate(p, NULL, 0, &v, NULL), -EINVAL);
        }
        p = maa_policy_free(p);
}

/* Every prefix of the real policies, and every single-byte change of them, must compile or
 * fail cleanly, and evaluate cleanly when they compile. */
static void test_hostile(void **state) {
        static const char *const names[] = {
                POLICIES "tpm-policy-v1.0.txt",
                POLICIES "tpm-policy-v1.2-pcr-allowlist.txt",
                POLICIES "tpm-policy-v1.2-issue-all.txt",
        };
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(freep) char *pcrs = pcr_claims(PCR0, PCR1, PCR23, PCR23, false);
        static const char flips[] = {'\0', '"', '}', '(', '[', '!', '`', '\'', '\\',
                                     '|',  'x', '0', ';', '=', '.', '&', '*',  '\xff'};

        SKIP_WITHOUT_VECTORS();
        assert_int_equal(json_parse_capped(pcrs, strlen(pcrs), 1u << 20, 32, &claims), 0);
        assert_int_equal(json_add_bool(claims, "aikValidated", true), 0);
        assert_int_equal(json_add_string(claims, "events", "{\"Events\": []}"), 0);

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t size, ok = 0;

                buf = test_read_vector(names[i], &size);
                for (size_t len = 0; len <= size; len++) {
                        _cleanup_(freep) char *copy = malloc(MAX(len, (size_t) 1));
                        MaaPolicy *p = NULL;
                        MaaVerdict v;
                        Diag d = {};
                        int r;

                        assert_non_null(copy);
                        memcpy(copy, buf, len); /* exactly len bytes: no terminator to lean on */
                        r = maa_policy_compile(copy, len, &p, &d);
                        if (r < 0) {
                                assert_true(r == -EBADMSG || r == -EPROTONOSUPPORT);
                                assert_true(d.text[0] != '\0');
                                continue;
                        }
                        ok++;
                        assert_int_equal(maa_policy_evaluate(p, claims, 0, &v, NULL), 0);
                        maa_verdict_done(&v);
                        maa_policy_free(p);
                }
                /* the whole policy and the prefixes that end just after its last "};" */
                assert_true(ok >= 1);

                for (size_t pos = 0; pos < size; pos++)
                        for (size_t f = 0; f < ELEMENTSOF(flips); f++) {
                                MaaPolicy *p = NULL;
                                MaaVerdict v;
                                char saved = (char) buf[pos];

                                buf[pos] = (uint8_t) flips[f];
                                if (maa_policy_compile((const char *) buf, size, &p, NULL) >= 0) {
                                        int r = maa_policy_evaluate(p, claims, 0, &v, NULL);
                                        assert_true(r == 0 || r == -EBADMSG || r == -EPERM);
                                        if (r == 0)
                                                maa_verdict_done(&v);
                                        maa_policy_free(p);
                                }
                                buf[pos] = (uint8_t) saved;
                        }
        }
}

static void test_hash(void **state) {
        _cleanup_(freep) char *h = NULL;
        static const char text[] = "version=1.0; authorizationrules { => permit(); };";

        /* computed independently: base64url(sha256(base64url(text))) */
        assert_int_equal(maa_policy_hash(text, strlen(text), &h), 0);
        assert_string_equal(h, "LkkfAmFiCb6lP7D1_AsUhtClXNPBqCek05v8jHbD5q0");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v10),
                cmocka_unit_test(test_v12_pcr_allowlist),
                cmocka_unit_test(test_v12_issue_all),
                cmocka_unit_test(test_authorization),
                cmocka_unit_test(test_identifiers_and_sets),
                cmocka_unit_test(test_jmespath_events),
                cmocka_unit_test(test_read_only_pcrs),
                cmocka_unit_test(test_configuration),
                cmocka_unit_test(test_real_token_claims),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_caps),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_hash),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
