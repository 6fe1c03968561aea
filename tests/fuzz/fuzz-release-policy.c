/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: Key Vault release policies. The input is parsed as a policy
 * (release_policy_parse, either form) and what parses is evaluated twice against fixed claims
 * under several issuers, which must give the same verdict; the input is also taken as a token's
 * claims and evaluated against a fixed policy using every operator, dot paths and both authority
 * spellings; and as an issuer for release_policy_authority_equal.
 */
#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "tests/fuzz/fuzz.h"
#include "verifier/release-policy.h"

static const char claims_text[] =
        "{\"iss\": \"https://sharedeus2.eus2.attest.azure.net\","
        " \"x-ms-attestation-type\": \"azurevm\", \"x-ms-compliance-status\": "
        "\"azure-compliant-cvm\","
        " \"x-ms-azurevm-is-windows\": false, \"x-ms-azurevm-osversion-major\": 22,"
        " \"x-ms-azurevm-attested-pcrs\": [0, 1, 2, 7], \"fraction\": 1.5, \"nothing\": null,"
        " \"big\": 18446744073709551614, \"clamped\": 18446744073709551615,"
        " \"x-ms-isolation-tee\": {\"x-ms-attestation-type\": \"sevsnpvm\","
        "  \"x-ms-compliance-status\": \"azure-compliant-cvm\","
        "  \"x-ms-sevsnpvm-is-debuggable\": false, \"x-ms-sevsnpvm-vmpl\": 0,"
        "  \"x-ms-sevsnpvm-snpfw-svn\": 21, \"x-ms-sevsnpvm-microcode-svn\": 211,"
        "  \"x-ms-runtime\": {\"vm-configuration\": {\"secure-boot\": true}}}}";

static const char policy_text[] =
        "{\"version\": \"1.0.0\", \"anyOf\": ["
        "{\"authority\": \"https://sharedeus2.eus2.attest.azure.net/\", \"allOf\": ["
        " {\"anyOf\": [{\"claim\": \"x-ms-isolation-tee.x-ms-attestation-type\","
        "  \"equals\": \"sevsnpvm\"}, {\"claim\": \"x-ms-isolation-tee.x-ms-attestation-type\","
        "  \"equals\": \"tdxvm\"}]}, {\"claim\": \"x-ms-isolation-tee.x-ms-compliance-status\","
        "  \"equals\": \"azure-compliant-cvm\"},"
        " {\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable\", \"equals\": \"false\"},"
        " {\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-vmpl\", \"lessOrEquals\": 0},"
        " {\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn\", \"greaterOrEquals\": 21},"
        " {\"claim\": \"x-ms-isolation-tee.x-ms-sevsnpvm-microcode-svn\", \"greater\": 100.5},"
        " {\"claim\": \"x-ms-azurevm-osversion-major\", \"less\": 100},"
        " {\"claim\": \"x-ms-azurevm-is-windows\", \"notEquals\": true},"
        " {\"claim\": \"x-ms-isolation-tee.x-ms-runtime.vm-configuration.secure-boot\","
        "  \"exists\": true}]},"
        "{\"authority\": \"https://sharedweu.weu.attest.azure.net\", \"anyOf\": ["
        " {\"claim\": \"x-ms-attestation-type\", \"equals\": \"sevsnpvm\"},"
        " {\"allOf\": [{\"claim\": \"big\", \"greater\": 1e19},"
        "  {\"claim\": \"fraction\", \"equals\": 1.5}]}]}]}";

static const char *const issuers[] = {
        "https://sharedeus2.eus2.attest.azure.net",
        "https://sharedweu.weu.attest.azure.net/",
        "HTTPS://A.EXAMPLE",
        "https://a.example/",
};

static json_object *claims(void) {
        static json_object *c;

        if (!c && json_parse_capped(claims_text, sizeof(claims_text) - 1, 1u << 20, 32, &c) < 0)
                abort();
        return c;
}

static ReleasePolicy *policy(void) {
        static ReleasePolicy *p;

        if (!p && release_policy_parse(policy_text, sizeof(policy_text) - 1, &p, NULL) < 0)
                abort();
        return p;
}

/* A verdict's reason is one non-empty line of printable ASCII. */
static void check_verdict(const ReleaseVerdict *v) {
        const char *end = memchr(v->reason, '\0', sizeof(v->reason));

        if (!end || end == v->reason)
                abort();
        for (const char *c = v->reason; c < end; c++)
                if (*c < 0x20 || *c >= 0x7f)
                        abort();
        fuzz_consume((uint64_t) (end - v->reason) + v->released);
}

static void evaluate_twice(const ReleasePolicy *p, const char *iss, json_object *c) {
        ReleaseVerdict a, b;

        if (release_policy_evaluate(p, iss, c, &a, NULL) != 0 ||
            release_policy_evaluate(p, iss, c, &b, NULL) != 0)
                abort();
        check_verdict(&a);
        if (a.released != b.released || !streq(a.reason, b.reason))
                abort();
        /* a policy releases only to an issuer it names */
        if (a.released && !release_policy_names_authority(p, iss))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        _cleanup_(json_object_putp) json_object *c = NULL;
        _cleanup_(freep) char *str = NULL;
        Diag diag = {};
        int r;

        /* the input as a policy */
        r = release_policy_parse((const char *) data, size, &p, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0) {
                /* every refusal says why, and leaves *ret alone */
                if (p || diag.text[0] == '\0')
                        abort();
                if (r != -EBADMSG && r != -EPROTONOSUPPORT && r != -E2BIG && r != -ENOMEM)
                        abort();
        } else {
                for (size_t i = 0; i < ELEMENTSOF(issuers); i++)
                        evaluate_twice(p, issuers[i], claims());
                evaluate_twice(p, NULL, claims());
        }

        /* the input as a token's claims */
        if (json_parse_capped((const char *) data, size, 1u << 20, 64, &c) == 0) {
                json_object *iss = NULL;

                for (size_t i = 0; i < ELEMENTSOF(issuers); i++)
                        evaluate_twice(policy(), issuers[i], c);
                if (json_object_object_get_ex(c, "iss", &iss) &&
                    json_object_is_type(iss, json_type_string))
                        evaluate_twice(policy(), json_object_get_string(iss), c);
        }

        /* the input as an issuer */
        str = strndup((const char *) data, size);
        if (!str)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(issuers); i++)
                if (release_policy_authority_equal(str, issuers[i]) !=
                    release_policy_authority_equal(issuers[i], str))
                        abort();
        return 0;
}
