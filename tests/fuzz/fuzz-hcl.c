/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the Azure HCL report from vTPM NV 0x01400001 (hcl_report_parse), then what
 * `check hcl` and the evidence path do with it: the REPORT_DATA binding (at the SNP report's
 * 0x50 and the TDREPORT's 128), the runtime claims JSON, the HCLAkPub and HCLEkPub JWKs in it,
 * and the JSON summary.
 */
#include <openssl/err.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "vtpm/hcl-report.h"
#include "tests/fuzz/fuzz.h"

static const char *const kids[] = { "HCLAkPub", "HCLEkPub" };

static void check_binding(const HclReport *h, size_t report_data_offset) {
        Diag diag = {};
        int r;

        r = hcl_report_check_binding(h, h->hw_report + report_data_offset, &diag);
        if (r < 0 && r != -EXDEV && r != -ENOMEM)
                abort();
        fuzz_consume(strlen(diag.text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *claims = NULL, *j = NULL;
        uint64_t sum = 0;
        HclReport h;
        Diag diag = {};
        int r;

        r = hcl_report_parse(data, size, &h, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0)
                return 0;

        /* The report points into the input, at the offsets the format fixes. */
        if (h.hw_report != data + HCL_HW_REPORT_OFFSET ||
            h.runtime_data != data + HCL_RUNTIME_DATA_OFFSET ||
            h.runtime_data_offset != HCL_RUNTIME_DATA_OFFSET || h.runtime_data_size == 0 ||
            h.runtime_data_size > size - HCL_RUNTIME_DATA_OFFSET || h.runtime_data[0] != '{')
                abort();
        for (uint32_t i = 0; i < h.runtime_data_size; i++)
                sum += h.runtime_data[i];
        fuzz_consume(sum);
        fuzz_consume(strlen(hcl_report_type_to_string(h.report_type)));

        check_binding(&h, 0x50); /* ATTESTATION_REPORT 0x050 REPORT_DATA */
        check_binding(&h, 128);  /* TDREPORT 0x080 REPORTDATA */

        diag = (Diag) {};
        r = hcl_runtime_claims(&h, &claims, &diag);
        fuzz_consume(strlen(diag.text));
        if (r >= 0) {
                if (!claims || !json_object_is_type(claims, json_type_object))
                        abort();
                for (size_t i = 0; i < ELEMENTSOF(kids); i++) {
                        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;

                        diag = (Diag) {};
                        if (hcl_claims_key(claims, kids[i], &k, &diag) >= 0) {
                                if (!k)
                                        abort();
                                fuzz_consume((uint64_t) EVP_PKEY_get_bits(k));
                        }
                        fuzz_consume(strlen(diag.text));
                        ERR_clear_error();
                }
        } else if (claims)
                abort();

        if (hcl_report_to_json(&h, claims, &j) >= 0)
                fuzz_consume(strlen(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN)));
        return 0;
}
