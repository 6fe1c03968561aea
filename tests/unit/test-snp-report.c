/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/codec.h"
#include "common/diag.h"
#include "snp/snp-report.h"
#include "tests/unit/test-util.h"

/* What ../shared/vectors/README.md §2 and §3 state about each real report. */
typedef struct ReportVector {
        const char *path;
        size_t offset;          /* 0x20 inside an Azure HCL report */
        uint32_t version;
        SnpProduct product;     /* what the report alone tells */
        const char *measurement;
        const char *chip_id_prefix;
        uint64_t reported_tcb;
        uint64_t current_tcb;
        uint32_t signing_key;
} ReportVector;

static const ReportVector vectors[] = {
        { "snp/go-sev-guest/attestation.bin", 0, 2, SNP_PRODUCT_UNKNOWN,
          "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
          "3ac3fe21e13fb0990eb28a802e3fb6a2", 0x4405000000000002, 0x4405000000000002, 0 },
        { "snp/virtee-sev/report_milan.bin", 0, 2, SNP_PRODUCT_UNKNOWN,
          "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
          "d49554ec717f4e5b", 0x7308000000000003, 0x7308000000000003, 0 },
        { "snp/trustee/test-report.bin", 0, 2, SNP_PRODUCT_UNKNOWN,
          "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
          "c38427a30d4c7af9", 0x7308000000000003, 0xce08000000000003, 0 },
        { "snp/trustee/test-vlek-report.bin", 0, 3, SNP_PRODUCT_MILAN,
          "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
          "0000000000000000", 0xd918000000000004, 0xdc18000000000004, 1 },
        { "snp/constellation/attestation.bin", 0, 2, SNP_PRODUCT_UNKNOWN,
          "5677f1de87289e7ad2c7e99c805d0468b1a9ccd83f0d245afa5242d405da4d5725852f8c6550564870e5f3206dfb1841",
          "9e44aaef02cfca6f", 0x5d06000000000002, 0x5d06000000000002, 0 },
        { "snp/constellation/aws/report.bin", 0, 3, SNP_PRODUCT_MILAN,
          "5a5cdbad8f540ce4abca0120faec86f62ef7128a4ac711add34d468b5957c82aa2f24e8f111dadc3689b787b88ed0715",
          "0000000000000000", 0xd918000000000004, 0xdc18000000000004, 1 },
        { "snp/oak/genoa_oc_report.bin", 0, 5, SNP_PRODUCT_GENOA,
          "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc",
          "d2421d976f95ce0b", 0x541900000000000a, 0x541900000000000a, 0 },
        { "snp/oak/turin_oc_report.bin", 0, 5, SNP_PRODUCT_TURIN,
          "f924dd18f168df60fbea937f0b086284d51b1b376de872bac43694f61134d57967c318018de7335503023dbb50dee624",
          "3b42092f69c656d30000000000000000", 0x4700000002000100, 0x4700000002000100, 0 },
        { "snp/oak/milan_oc_release_report.bin", 0, 3, SNP_PRODUCT_MILAN,
          "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3",
          "a3fdc2c64dc299ab", 0xdb18000000000004, 0xdb18000000000004, 0 },
        { "snp/oak/milan_rk_release_report.bin", 0, 3, SNP_PRODUCT_MILAN,
          "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3",
          "6c65aee8a139e984", 0xdb18000000000004, 0xdb18000000000004, 0 },
        { "azure/trustee-az-snp-vtpm/hcl-report.bin", 0x20, 2, SNP_PRODUCT_UNKNOWN,
          "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
          "19752a447db501a3", 0x7308000000000003, 0xd208000000000003, 0 },
        { "azure/trustee-az-snp-vtpm/evidence-genoa.hcl-report.bin", 0x20, 3, SNP_PRODUCT_GENOA,
          "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae",
          "", 0x541700000000000a, 0x541700000000000a, 0 },
        { "azure/trustee-az-snp-vtpm/evidence-v0.hcl-report.bin", 0x20, 3, SNP_PRODUCT_MILAN,
          "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e",
          "66a5a7b4403a3006", 0xdb18000000000004, 0xdb18000000000004, 0 },
        { "azure/trustee-az-snp-vtpm/evidence-v1.hcl-report.bin", 0x20, 3, SNP_PRODUCT_MILAN,
          "6a063be9dd79f6371c842e480f8dc3b5c725961344e57130e88c5adf49e8f7f6c79b75a5eb77fc769959f4aeb2f9401e",
          "66a5a7b4403a3006", 0xdb18000000000004, 0xdb18000000000004, 0 },
        { "azure/trustee-az-snp-vtpm/evidence-v2.hcl-report.bin", 0x20, 3, SNP_PRODUCT_MILAN,
          "5b0ce64ad1c1f6375dbda5f760b98526ca1bcf91b8195091afc28e7b024251d68fe32e05af34048d6607678cd23283ff",
          "2e0e62a0e6f39bc4", 0, 0, 0 },
        { "azure/azure-cvm-tooling/hcl-report-snp.bin", 0x20, 2, SNP_PRODUCT_UNKNOWN,
          "5a71e4ba7e0b83e44c8e853130a65557db0a7782cdb2d906c54b0bf5878202805ab159bfe0cf7d5749aa6f62b7094508",
          "3a5d5b1d059d193e", 0x7308000000000003, 0xce08000000000003, 0 },
        { "azure/cvm-guest-attestation/clientlib-hcl-report.bin", 0x20, 1, SNP_PRODUCT_UNKNOWN,
          "53666d654e8fd0d7d2af48af922dcea1851027127822a5bcb4dcfdac9cbb7893cb26f4e600e2a44bfa747e8f96bf32a5",
          "", 0x3702000000000002, 0, 0 },
};

static uint8_t *load_report(const ReportVector *v) {
        size_t size;
        uint8_t *buf = test_read_vector(v->path, &size), *rep;

        assert_true(size >= v->offset + SNP_REPORT_SIZE);
        rep = malloc(SNP_REPORT_SIZE);
        assert_non_null(rep);
        memcpy(rep, buf + v->offset, SNP_REPORT_SIZE);
        free(buf);
        return rep;
}

static void test_real_reports(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const ReportVector *v = &vectors[i];
                uint8_t *raw = load_report(v);
                char hex[129];
                SnpReport r;
                Diag d = {};

                print_message("# %s\n", v->path);
                assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, &d), 0);
                assert_int_equal(r.version, v->version);
                assert_int_equal(r.product, v->product);
                hex_encode_buf(r.measurement, 48, hex);
                assert_string_equal(hex, v->measurement);
                hex_encode_buf(r.chip_id, 64, hex);
                assert_memory_equal(hex, v->chip_id_prefix, strlen(v->chip_id_prefix));
                if (v->reported_tcb)
                        assert_int_equal(r.reported_tcb, v->reported_tcb);
                if (v->current_tcb)
                        assert_int_equal(r.current_tcb, v->current_tcb);
                assert_int_equal(snp_report_signing_key(&r), v->signing_key);
                assert_int_equal(r.signature_algo, 1);
                assert_true(r.policy & SNP_POLICY_RESERVED_1);
                free(raw);
        }
}

static void test_field_details(void **state) {
        uint8_t *raw;
        SnpReport r;
        SnpTcb t;
        char hex[129];

        SKIP_WITHOUT_VECTORS();
        /* go-sev-guest attestation.bin: policy 0xB0000, REPORT_DATA 0102030405..., FW 1.49.3 */
        raw = load_report(&vectors[0]);
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(r.policy, 0xB0000);
        assert_int_equal(r.vmpl, 0);
        assert_int_equal(r.platform_info, 1);
        assert_int_equal(r.current_major, 1);
        assert_int_equal(r.current_minor, 49);
        assert_int_equal(r.current_build, 3);
        hex_encode_buf(r.report_data, 8, hex);
        assert_string_equal(hex, "0102030405000000");
        assert_true(memeqzero(r.family_id, 16) && memeqzero(r.id_key_digest, 48));
        snp_tcb_decode(r.reported_tcb, SNP_PRODUCT_MILAN, &t);
        assert_int_equal(t.bootloader, 2);
        assert_int_equal(t.tee, 0);
        assert_int_equal(t.snp, 5);
        assert_int_equal(t.microcode, 68);
        free(raw);

        /* Genoa v5: CPUID 0x19/0x11/1, mitigation vectors 1/1, platform_info 0x25, FW 1.55.43. */
        raw = load_report(&vectors[6]);
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(r.cpuid_fam_id, 0x19);
        assert_int_equal(r.cpuid_mod_id, 0x11);
        assert_int_equal(r.cpuid_step, 1);
        assert_int_equal(r.launch_mit_vector, 1);
        assert_int_equal(r.current_mit_vector, 1);
        assert_int_equal(r.platform_info, 0x25);
        assert_int_equal(r.current_build, 43);
        snp_tcb_decode(r.reported_tcb, r.product, &t);
        assert_int_equal(t.bootloader, 10);
        assert_int_equal(t.snp, 25);
        assert_int_equal(t.microcode, 84);
        assert_false(t.has_fmc);
        free(raw);

        /* Turin v5: TCB 0x4700000002000100 = FMC 0, BL 1, TEE 0, SNP 2, ucode 71. */
        raw = load_report(&vectors[7]);
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        snp_tcb_decode(r.reported_tcb, r.product, &t);
        assert_true(t.has_fmc);
        assert_int_equal(t.fmc, 0);
        assert_int_equal(t.bootloader, 1);
        assert_int_equal(t.tee, 0);
        assert_int_equal(t.snp, 2);
        assert_int_equal(t.microcode, 71);
        assert_int_equal(snp_tcb_encode(&t, SNP_PRODUCT_TURIN), 0x4700000002000100);
        assert_int_equal(r.platform_info, 0x67);
        free(raw);

        /* Azure HCL (trustee): guest_svn 5, policy 0x3001F, Azure's ID key digest. */
        raw = load_report(&vectors[10]);
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(r.guest_svn, 5);
        assert_int_equal(r.policy, 0x3001F);
        hex_encode_buf(r.id_key_digest, 48, hex);
        assert_string_equal(hex, "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca49"
                                 "1ecdd7f336dc28a6e0b2bb57af7a44a3");
        free(raw);
}

static void test_tcb_layouts(void **state) {
        SnpTcb t;

        snp_tcb_decode(0x7308000000000003, SNP_PRODUCT_MILAN, &t);
        assert_int_equal(t.bootloader, 3);
        assert_int_equal(t.tee, 0);
        assert_int_equal(t.snp, 8);
        assert_int_equal(t.microcode, 115);
        assert_int_equal(snp_tcb_encode(&t, SNP_PRODUCT_GENOA), 0x7308000000000003);
        snp_tcb_decode(0xd315000000000004, SNP_PRODUCT_MILAN, &t);
        assert_int_equal(t.microcode, 0xd3);
        assert_int_equal(t.snp, 0x15);
        assert_int_equal(t.bootloader, 4);
}

static void test_products(void **state) {
        assert_int_equal(snp_product_from_cpuid(0x19, 0x01), SNP_PRODUCT_MILAN);
        assert_int_equal(snp_product_from_cpuid(0x19, 0x11), SNP_PRODUCT_GENOA);
        assert_int_equal(snp_product_from_cpuid(0x19, 0xA0), SNP_PRODUCT_GENOA);
        assert_int_equal(snp_product_from_cpuid(0x1A, 0x02), SNP_PRODUCT_TURIN);
        assert_int_equal(snp_product_from_cpuid(0x17, 0x31), SNP_PRODUCT_UNKNOWN);
        assert_int_equal(snp_product_from_cpuid(0x1A, 0x50), SNP_PRODUCT_UNKNOWN);
        assert_int_equal(snp_product_from_string("Milan-B0"), SNP_PRODUCT_MILAN);
        assert_int_equal(snp_product_from_string("genoa"), SNP_PRODUCT_GENOA);
        assert_int_equal(snp_product_from_string("Turin"), SNP_PRODUCT_TURIN);
        assert_int_equal(snp_product_from_string("Milano"), _SNP_PRODUCT_INVALID);
        assert_string_equal(snp_product_to_string(SNP_PRODUCT_TURIN), "Turin");
}

static void test_sizes(void **state) {
        uint8_t buf[SNP_REPORT_SIZE + 1] = {};
        SnpReport r;
        Diag d = {};

        assert_int_equal(snp_report_parse(buf, 0, &r, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "size"));
        assert_int_equal(snp_report_parse(buf, SNP_REPORT_SIZE - 1, &r, NULL), -EBADMSG);
        assert_int_equal(snp_report_parse(buf, SNP_REPORT_SIZE + 1, &r, NULL), -EBADMSG);
        assert_int_equal(snp_report_parse(NULL, SNP_REPORT_SIZE, &r, NULL), -EBADMSG);
}

static void test_versions(void **state) {
        uint8_t *raw;
        SnpReport r, untouched;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        raw = load_report(&vectors[1]);
        memset(&untouched, 0xAA, sizeof(untouched));
        r = untouched;
        for (uint32_t v = 0; v < 8; v++) {
                if (v >= 1 && v <= 5)
                        continue;
                raw[0] = (uint8_t) v;
                memset(&d, 0, sizeof(d));
                assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, &d), -EPROTONOSUPPORT);
                assert_non_null(strstr(d.text, "VERSION at 0x000"));
                /* Nothing is written on failure. */
                assert_memory_equal(&r, &untouched, sizeof(r));
        }
        raw[0] = 2;
        raw[3] = 0x80;
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), -EPROTONOSUPPORT);
        free(raw);
}

typedef struct Range {
        size_t offset, size;
} Range;

/* Sets each byte of each reserved range in turn: every one must be rejected, naming the offset. */
static void check_reserved(const ReportVector *v, const Range *ranges, size_t n) {
        uint8_t *raw = load_report(v);
        SnpReport r;

        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        for (size_t i = 0; i < n; i++)
                for (size_t o = ranges[i].offset; o < ranges[i].offset + ranges[i].size; o++) {
                        uint8_t saved = raw[o];
                        char want[16];
                        Diag d = {};

                        raw[o] = 0x01;
                        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, &d), -EBADMSG);
                        (void) snprintf(want, sizeof(want), "0x%03zx", ranges[i].offset);
                        if (!strstr(d.text, want))
                                fail_msg("byte 0x%zx: '%s' does not name %s", o, d.text, want);
                        raw[o] = saved;
                }
        free(raw);
}

static void test_reserved_ranges(void **state) {
        static const Range v2[] = { { 0x04C, 4 }, { 0x188, 24 }, { 0x1EB, 1 }, { 0x1EF, 1 },
                                    { 0x1F8, 168 }, { 0x330, 368 } };
        static const Range v3[] = { { 0x04C, 4 }, { 0x18B, 21 }, { 0x1EB, 1 }, { 0x1EF, 1 },
                                    { 0x1F8, 168 }, { 0x330, 368 } };
        static const Range v5[] = { { 0x04C, 4 }, { 0x18B, 21 }, { 0x1EB, 1 }, { 0x1EF, 1 },
                                    { 0x208, 152 }, { 0x330, 368 } };

        SKIP_WITHOUT_VECTORS();
        check_reserved(&vectors[1], v2, ELEMENTSOF(v2));
        check_reserved(&vectors[8], v3, ELEMENTSOF(v3));
        check_reserved(&vectors[6], v5, ELEMENTSOF(v5));
        check_reserved(&vectors[7], v5, ELEMENTSOF(v5));
}

static void test_version_specific_fields(void **state) {
        uint8_t *raw;
        SnpReport r;

        SKIP_WITHOUT_VECTORS();
        /* In v3 0x188 is CPUID_FAM_ID, not reserved; in v5 0x1F8 is LAUNCH_MIT_VECTOR. */
        raw = load_report(&vectors[8]);
        raw[0x188] = 0x1A;
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(r.cpuid_fam_id, 0x1A);
        raw[0] = 2; /* the same byte is reserved in v2 */
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), -EBADMSG);
        free(raw);
        raw = load_report(&vectors[6]);
        raw[0x1F8] = 7;
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(r.launch_mit_vector, 7);
        raw[0] = 4; /* v4 is laid out as v3: 0x1F8 reserved */
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), -EBADMSG);
        raw[0x1F8] = 0;
        raw[0x200] = 0; /* CURRENT_MIT_VECTOR of the v5 original */
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(r.version, 4);
        free(raw);
}

static void test_policy_and_signer(void **state) {
        uint8_t *raw;
        SnpReport r;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        raw = load_report(&vectors[1]);
        raw[0x00A] &= (uint8_t) ~0x02; /* POLICY bit 17 */
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "POLICY at 0x008"));
        raw[0x00A] |= 0x02;
        raw[0x00B] |= 0x04; /* bit 26 */
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), -EBADMSG);
        raw[0x00B] &= (uint8_t) ~0x04;
        raw[0x034] = 2; /* SIGNATURE_ALGO */
        memset(&d, 0, sizeof(d));
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "SIGNATURE_ALGO at 0x034"));
        raw[0x034] = 1;
        raw[0x048] |= 0x20; /* signer info bit 5 */
        memset(&d, 0, sizeof(d));
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "0x048"));
        raw[0x048] &= (uint8_t) ~0x20;
        raw[0x2A0 + 50] = 1; /* R above the low 48 bytes */
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), -EBADMSG);
        raw[0x2A0 + 50] = 0;
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        free(raw);
}

static void test_json(void **state) {
        json_object *o = NULL, *v;
        uint8_t *raw;
        SnpReport r;

        SKIP_WITHOUT_VECTORS();
        raw = load_report(&vectors[7]);
        assert_int_equal(snp_report_parse(raw, SNP_REPORT_SIZE, &r, NULL), 0);
        assert_int_equal(snp_report_to_json(&r, &o), 0);
        assert_true(json_object_object_get_ex(o, "x-ms-sevsnpvm-launchmeasurement", &v));
        assert_string_equal(json_object_get_string(v), vectors[7].measurement);
        assert_true(json_object_object_get_ex(o, "x-ms-sevsnpvm-microcode-svn", &v));
        assert_int_equal(json_object_get_int(v), 71);
        assert_true(json_object_object_get_ex(o, "x-ms-sevsnpvm-is-debuggable", &v));
        assert_false(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(o, "product", &v));
        assert_string_equal(json_object_get_string(v), "Turin");
        assert_true(json_object_object_get_ex(o, "reported_tcb", &v));
        assert_true(json_object_object_get_ex(v, "fmc", &v));
        json_object_put(o);
        free(raw);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_reports),
                cmocka_unit_test(test_field_details),
                cmocka_unit_test(test_tcb_layouts),
                cmocka_unit_test(test_products),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_versions),
                cmocka_unit_test(test_reserved_ranges),
                cmocka_unit_test(test_version_specific_fields),
                cmocka_unit_test(test_policy_and_signer),
                cmocka_unit_test(test_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
