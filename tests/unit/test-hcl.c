/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "vtpm/hcl-report.h"
#include "tests/unit/test-util.h"

typedef struct HclCase {
        const char *path, *runtime_data;
        uint32_t report_type;
        bool bound; /* README §3: the binding holds */
        bool has_ek;
} HclCase;

#define TAZ "azure/trustee-az-snp-vtpm/"
static const HclCase cases[] = {
        { TAZ "hcl-report.bin", TAZ "hcl-report.runtime-data.json", HCL_REPORT_TYPE_SNP, true, true },
        { TAZ "evidence-genoa.hcl-report.bin", TAZ "evidence-genoa.hcl-report.runtime-data.json", HCL_REPORT_TYPE_SNP, true, true },
        { TAZ "evidence-v0.hcl-report.bin", TAZ "evidence-v0.hcl-report.runtime-data.json", HCL_REPORT_TYPE_SNP, true, true },
        { TAZ "evidence-v1.hcl-report.bin", TAZ "evidence-v1.hcl-report.runtime-data.json", HCL_REPORT_TYPE_SNP, true, true },
        { TAZ "evidence-v2.hcl-report.bin", TAZ "evidence-v2.hcl-report.runtime-data.json", HCL_REPORT_TYPE_SNP, true, true },
        { "azure/azure-cvm-tooling/hcl-report-snp.bin", "azure/azure-cvm-tooling/hcl-report-snp.runtime-data.json", HCL_REPORT_TYPE_SNP, true, false },
        { "azure/cvm-guest-attestation/clientlib-hcl-report.bin", "azure/cvm-guest-attestation/clientlib-hcl-report.runtime-data.json", HCL_REPORT_TYPE_SNP, false, false },
        { "azure/trustee-az-tdx-vtpm/hcl-report.bin", "azure/trustee-az-tdx-vtpm/hcl-report.runtime-data.json", HCL_REPORT_TYPE_TDX, true, true },
};

static void test_real_hcl_reports(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_object_putp) json_object *claims = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL, *ek = NULL;
                size_t size, rd_size;
                uint8_t *buf = test_read_vector(cases[i].path, &size);
                uint8_t *rd = test_read_vector(cases[i].runtime_data, &rd_size);
                HclReport h;
                Diag d = {};
                int r;

                print_message("# %s\n", cases[i].path);
                assert_true(size == 2048 || size == 2600);
                assert_int_equal(hcl_report_parse(buf, size, &h, &d), 0);
                assert_int_equal(h.report_type, cases[i].report_type);
                assert_int_equal(h.hash_type, 1);
                /* The runtime claims are exactly the bytes the vectors cut out. */
                assert_int_equal(h.runtime_data_size, rd_size);
                assert_memory_equal(h.runtime_data, rd, rd_size);
                if (cases[i].report_type == HCL_REPORT_TYPE_SNP) {
                        r = hcl_report_check_binding(&h, h.hw_report + 0x50, &d);
                        assert_int_equal(r, cases[i].bound ? 0 : -EXDEV);
                } else /* TDREPORT: REPORTDATA at 128 within the 1024-byte TDREPORT */
                        assert_int_equal(hcl_report_check_binding(&h, h.hw_report + 128, NULL), 0);
                assert_int_equal(hcl_runtime_claims(&h, &claims, NULL), 0);
                assert_int_equal(hcl_claims_key(claims, "HCLAkPub", &ak, NULL), 0);
                assert_int_equal(EVP_PKEY_get_bits(ak), 2048);
                assert_int_equal(hcl_claims_key(claims, "HCLEkPub", &ek, NULL),
                                 cases[i].has_ek ? 0 : -ENOKEY);
                free(buf);
                free(rd);
        }
}

static void test_hostile(void **state) {
        size_t size;
        uint8_t *buf;
        HclReport h;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        buf = test_read_vector(cases[0].path, &size);
        assert_int_equal(hcl_report_parse(buf, 0x4C0, &h, &d), -EBADMSG);
        assert_int_equal(hcl_report_parse(buf, 0x4D4 + 10, &h, NULL), -EBADMSG);
        /* variable_data_size past the end */
        buf[0x4D0] = 0xff;
        buf[0x4D1] = 0xff;
        memset(&d, 0, sizeof(d));
        assert_int_equal(hcl_report_parse(buf, size, &h, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "0x4d0"));
        free(buf);
        buf = test_read_vector(cases[0].path, &size);
        buf[0x4CC] = 9; /* hash type */
        assert_int_equal(hcl_report_parse(buf, size, &h, NULL), -EPROTONOSUPPORT);
        buf[0x4CC] = 1;
        buf[0x4C8] = 7; /* report type */
        assert_int_equal(hcl_report_parse(buf, size, &h, NULL), -EPROTONOSUPPORT);
        buf[0x4C8] = 2;
        buf[0] = 'X';
        assert_int_equal(hcl_report_parse(buf, size, &h, NULL), -EBADMSG);
        buf[0] = 'H';
        assert_int_equal(hcl_report_parse(buf, size, &h, NULL), 0);
        /* One byte of the claims changed: the binding breaks. */
        buf[0x4D4 + 20] ^= 1;
        assert_int_equal(hcl_report_parse(buf, size, &h, NULL), 0);
        assert_int_equal(hcl_report_check_binding(&h, h.hw_report + 0x50, NULL), -EXDEV);
        free(buf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_hcl_reports),
                cmocka_unit_test(test_hostile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
