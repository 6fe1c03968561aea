/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the service's configuration (common/conf.c, verifier/config.c) and a tenant's
 * reference values (verifier/reference.c, applied to fixed SevSnpVm and AzureGuest claims), and
 * the time spans and sizes of configuration values. Operators write these files, but a parser
 * that crashes on a typo is still a bug.
 */
#include <string.h>

#include "common/conf.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "verifier/config.h"
#include "verifier/reference.h"
#include "tests/fuzz/fuzz.h"

static const char snp_claims[] =
        "{\"x-ms-attestation-type\": \"sevsnpvm\", \"x-ms-sevsnpvm-launchmeasurement\": \"aa11\","
        " \"x-ms-sevsnpvm-is-debuggable\": false, \"x-ms-sevsnpvm-snpfw-svn\": 8}";
static const char azure_claims[] =
        "{\"x-ms-attestation-type\": \"azurevm\", \"secureboot\": true,"
        " \"x-ms-isolation-tee\": {\"x-ms-sevsnpvm-launchmeasurement\": \"aa11\"},"
        " \"pcrs\": {\"PCRs\": [{\"Index\": 4, \"Digests\": {\"SHA256\": \"00\"}}]},"
        " \"events\": {\"Events\": [{\"PcrIndex\": 7, \"EventTypeString\":"
        " \"EV_EFI_VARIABLE_DRIVER_CONFIG\", \"ProcessedData\": {\"VariableGuid\":"
        " \"D719B2CB-3D3A-4596-A3BC-DAD00E67656F\", \"UnicodeName\": \"db\","
        " \"VariableData\": \"AQ\"}}]}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ReferenceValues *rv = NULL;
        VerifierConfig c;
        Diag diag = {};
        char text[64];
        uint64_t u;
        bool b;

        if (verifier_config_parse((const char *) data, size, "fuzz.conf", &c, &diag) >= 0) {
                if (c.n_listen == 0 || c.n_keys == 0 || c.n_tenants == 0)
                        abort();
                verifier_config_done(&c);
        } else if (!diag.text[0])
                abort();

        memset(&diag, 0, sizeof(diag));
        if (reference_values_parse((const char *) data, size, &rv, &diag) >= 0) {
                const char *docs[] = { snp_claims, azure_claims };

                for (size_t i = 0; i < 2; i++) {
                        json_object *claims = json_tokener_parse(docs[i]);
                        char why[200];

                        if (!claims || reference_values_apply(rv, claims, why, sizeof(why)) < 0)
                                abort();
                        fuzz_consume(strlen(why));
                        json_object_put(claims);
                }
                reference_values_free(rv);
        }

        if (size < sizeof(text)) {
                memcpy(text, data, size);
                text[size] = '\0';
                fuzz_consume((uint64_t) conf_parse_timespan(text, &u));
                fuzz_consume((uint64_t) conf_parse_size(text, &u));
                fuzz_consume((uint64_t) conf_parse_bool(text, &b));
        }
        return 0;
}
