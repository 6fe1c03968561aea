/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: MAA policy text (maa_policy_compile), and every policy that compiles evaluated
 * twice (maa_policy_evaluate) over a fixed set of incoming claims holding each claim shape the
 * evaluator knows (Boolean, Integer, String, arrays of primitives, JSON objects and arrays as JSON
 * text, the read-only "pcrs"). Also maa_policy_hash on the input.
 */
#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "tests/fuzz/fuzz.h"
#include "verifier/maa-policy.h"

static const char claims_text[] =
        "{\"x-ms-attestation-type\": \"azurevm\", \"secureboot\": true,"
        " \"x-ms-sevsnpvm-is-debuggable\": false, \"x-ms-sevsnpvm-vmpl\": 0,"
        " \"x-ms-sevsnpvm-guestsvn\": 7, \"aikValidated\": true, \"notSafeMode\": true,"
        " \"x-ms-azurevm-attested-pcrs\": [0, 1, 2, 3, 7],"
        " \"strings\": [\"a\", \"b\", true, null],"
        " \"fraction\": 1.5, \"nothing\": null,"
        " \"pcrs\": {\"PCRs\": ["
        "  {\"Index\": 0, \"Digests\": {\"SHA1\": \"KCk6Ow\", \"SHA256\":"
        "   \"4c833b1c361fceffd8dc0f81eec76081b71e1a0eb2193caed0b6e1c7735ec33e\"}},"
        "  {\"Index\": 1, \"Digests\": {\"SHA256\":"
        "   \"8c25e3be6ad6f5bd33c9ae40d5d5461e88c1a7366df0c9ee5c7e5ff40d3d1d0e\"}}]},"
        " \"events\": {\"Events\": ["
        "  {\"EventSeq\": 1, \"PcrIndex\": 7, \"EventTypeString\": "
        "\"EV_EFI_VARIABLE_DRIVER_CONFIG\","
        "   \"ProcessedData\": {\"VariableGuid\": \"8BE4DF61-93CA-11D2-AA0D-00E098032B8C\","
        "   \"UnicodeName\": \"SecureBoot\", \"VariableData\": \"AQ\"}},"
        "  {\"EventSeq\": 2, \"PcrIndex\": 12, \"EventTypeString\": \"EV_EVENT_TAG\","
        "   \"ProcessedData\": {\"EVENT_TRUSTBOUNDARY\": {\"EVENT_BOOTDEBUGGING\": false}}}]},"
        " \"x-ms-isolation-tee\": {\"x-ms-attestation-type\": \"sevsnpvm\","
        "  \"x-ms-sevsnpvm-is-debuggable\": false, \"x-ms-compliance-status\": "
        "\"azure-compliant-cvm\"},"
        " \"jsonText\": \"[0, \\\"abc\\\", true, null]\"}";

static json_object *claims(void) {
        static json_object *c;

        if (!c && json_parse_capped(claims_text, sizeof(claims_text) - 1, 1u << 20, 32, &c) < 0)
                abort();
        return c;
}

static const char *text_of(json_object *o) {
        return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "(null)";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(maa_policy_freep) MaaPolicy *p = NULL;
        _cleanup_(freep) char *hash = NULL;
        MaaVerdict a = {}, b = {};
        Diag diag = {};
        int r, r2;

        if (maa_policy_hash((const char *) data, size, &hash) < 0)
                abort();
        fuzz_consume(strlen(hash));

        r = maa_policy_compile((const char *) data, size, &p, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0) {
                if (p || diag.text[0] == '\0')
                        abort(); /* every refusal says why, and leaves *ret alone */
                return 0;
        }
        fuzz_consume(strlen(maa_policy_version_to_string(maa_policy_version(p))));
        fuzz_consume(strlen(text_of(maa_policy_configuration(p))));

        /* compile once, evaluate many times: the same answer each time */
        r = maa_policy_evaluate(p, claims(), 0, &a, &diag);
        r2 = maa_policy_evaluate(p, claims(), 0, &b, NULL);
        if (r != r2)
                abort();
        if (r < 0) {
                if (r != -EBADMSG && r != -EPERM && r != -E2BIG && r != -ENOMEM)
                        abort();
                return 0;
        }
        if (!a.properties || a.permitted != !!a.claims || a.permitted != b.permitted ||
            a.permit_line != b.permit_line || a.deny_line != b.deny_line ||
            (a.deny_line > 0 && a.permitted) || !streq(a.reason, b.reason) ||
            !streq(text_of(a.claims), text_of(b.claims)) ||
            !streq(text_of(a.properties), text_of(b.properties)))
                abort();
        fuzz_consume(strlen(text_of(a.claims)) + strlen(a.reason));
        maa_verdict_done(&a);
        maa_verdict_done(&b);
        return 0;
}
