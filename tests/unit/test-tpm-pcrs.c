/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "tests/unit/test-util.h"
#include "vtpm/tpm-pcrs.h"

static int parse_str(const char *s, TpmPcrSet *ret, Diag *d) {
        return tpm_pcrs_from_json(s, strlen(s), ret, d);
}

static char *read_text(const char *rel) {
        size_t size;
        return (char *) test_read_vector(rel, &size); /* NUL-terminated */
}

static void assert_value(const TpmPcrBank *b, uint32_t pcr, const char *hex) {
        char got[2 * TPM_DIGEST_MAX + 1];

        assert_true(b->mask & (UINT32_C(1) << pcr));
        hex_encode_buf(b->value[pcr], b->size, got);
        assert_string_equal(got, hex);
}

/* Object form {"0": hex, ...}: the bank follows from the digest length. */
static void test_object_form(void **state) {
        static const struct {
                const char *rel;
                uint16_t alg;
                const char *pcr0;
        } v[] = {
                { "tpm/gce-cos-85/no-nonce.pcrs-sha1.json", TPM_ALG_SHA1,
                  "c032c3b51dbb6f96b047421512fd4b4dfde496f3" },
                { "tpm/gce-cos-85/no-nonce.pcrs-sha256.json", TPM_ALG_SHA256,
                  "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf" },
                { "tpm/gce-cos-85/nonce9009.pcrs-sha384.json", TPM_ALG_SHA384,
                  "46ce251b0b5b3da7917c5eb7a72e6e88f8f830445b149937921b095c1fd628db691963861c115"
                  "3aba9c7097ff1c747f9" },
                { "tpm/windows-gcp-shielded-vm/pcrs-sha1.json", TPM_ALG_SHA1,
                  "51c323de0c0c694f4601cdd02beb58ff13629f74" },
        };

        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                char *text = read_text(v[i].rel);
                TpmPcrSet s;
                Diag d = {};

                assert_int_equal(parse_str(text, &s, &d), 0);
                assert_int_equal(s.n_banks, 1);
                assert_int_equal(s.banks[0].alg, v[i].alg);
                assert_int_equal(s.banks[0].size, tpm_alg_digest_size(v[i].alg));
                assert_int_equal(s.banks[0].mask, 0xFFFFFF);
                assert_value(&s.banks[0], 0, v[i].pcr0);
                assert_ptr_equal(tpm_pcr_set_bank(&s, v[i].alg), &s.banks[0]);
                free(text);
        }
        {
                /* Windows: PCR 17..22 are all-FF. */
                char *text = read_text("tpm/windows-gcp-shielded-vm/pcrs-sha1.json");
                TpmPcrSet s;

                assert_int_equal(parse_str(text, &s, NULL), 0);
                assert_value(&s.banks[0], 17, "ffffffffffffffffffffffffffffffffffffffff");
                assert_value(&s.banks[0], 23, "0000000000000000000000000000000000000000");
                free(text);
        }
}

/* Array form [hex, ...] in index order (Azure quotes). */
static void test_array_form(void **state) {
        static const char *const files[] = {
                "azure/azure-cvm-tooling/quote.pcrs-sha256.json",
                "azure/trustee-az-snp-vtpm/quote.pcrs-sha256.json",
                "azure/trustee-az-snp-vtpm/evidence-genoa.pcrs-sha256.json",
                "azure/trustee-az-snp-vtpm/evidence-v0.pcrs-sha256.json",
                "azure/trustee-az-snp-vtpm/evidence-v1.pcrs-sha256.json",
                "azure/trustee-az-snp-vtpm/evidence-v2.pcrs-sha256.json",
        };

        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char *text = read_text(files[i]);
                TpmPcrSet s;
                Diag d = {};

                assert_int_equal(parse_str(text, &s, &d), 0);
                assert_int_equal(s.n_banks, 1);
                assert_int_equal(s.banks[0].alg, TPM_ALG_SHA256);
                assert_int_equal(s.banks[0].mask, 0xFFFFFF);
                /* PCR 2 is the bare separator on these VMs. */
                assert_value(&s.banks[0], 2,
                             "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969");
                free(text);
        }
        {
                char *text = read_text("azure/azure-cvm-tooling/quote.pcrs-sha256.json");
                TpmPcrSet s;

                assert_int_equal(parse_str(text, &s, NULL), 0);
                assert_value(&s.banks[0], 0,
                             "f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be");
                free(text);
        }
}

/* Bank-named form: {"sha1": {...}, "sha256": [...]}, names in any of the usual spellings. */
static void test_named_form(void **state) {
        char *sha1, *sha256, *sha384, *arr, *doc;
        size_t n;
        TpmPcrSet s;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        sha1 = read_text("tpm/gce-cos-85/no-nonce.pcrs-sha1.json");
        sha256 = read_text("tpm/gce-cos-85/no-nonce.pcrs-sha256.json");
        sha384 = read_text("tpm/gce-cos-85/no-nonce.pcrs-sha384.json");
        arr = read_text("azure/azure-cvm-tooling/quote.pcrs-sha256.json");
        n = strlen(sha1) + strlen(sha256) + strlen(sha384) + strlen(arr) + 128;
        doc = malloc(n);
        assert_non_null(doc);

        (void) snprintf(doc, n, "{\"sha1\": %s, \"SHA-256\": %s, \"SHA384\": %s}", sha1, sha256,
                        sha384);
        assert_int_equal(parse_str(doc, &s, &d), 0);
        assert_int_equal(s.n_banks, 3);
        assert_value(tpm_pcr_set_bank(&s, TPM_ALG_SHA1), 0,
                     "c032c3b51dbb6f96b047421512fd4b4dfde496f3");
        assert_value(tpm_pcr_set_bank(&s, TPM_ALG_SHA256), 0,
                     "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf");
        assert_int_equal(tpm_pcr_set_bank(&s, TPM_ALG_SHA384)->mask, 0xFFFFFF);

        (void) snprintf(doc, n, "{\"sha256\": %s}", arr);
        assert_int_equal(parse_str(doc, &s, &d), 0);
        assert_int_equal(s.n_banks, 1);
        assert_value(&s.banks[0], 0,
                     "f3a7e99a5f819a034386bce753a48a73cfdaa0bea0ecfc124bedbf5a8c4799be");

        /* A bank name fixes the size: a SHA-256 value under "sha1" is refused. */
        (void) snprintf(doc, n, "{\"sha1\": %s}", sha256);
        d = (Diag) {};
        assert_int_equal(parse_str(doc, &s, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "does not fit sha1"));

        free(doc);
        free(arr);
        free(sha384);
        free(sha256);
        free(sha1);
}

/* MAA's forms, built from a real SHA-256 PCR list: [{"Index", "Digest": base64}], and the
 * "pcrs" claim {"PCRs": [{"Index", "Digests": {"SHA256": hex}}]}. */
static void test_maa_forms(void **state) {
        _cleanup_(json_object_putp) json_object *arr = NULL, *maa = NULL, *claim = NULL;
        TpmPcrSet want, got;
        char *text;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        text = read_text("azure/trustee-az-snp-vtpm/evidence-genoa.pcrs-sha256.json");
        assert_int_equal(parse_str(text, &want, NULL), 0);
        assert_int_equal(json_parse_capped(text, strlen(text), 1u << 20, 8, &arr), 0);
        free(text);

        maa = json_object_new_array();
        claim = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                const char *hex = json_object_get_string(json_object_array_get_idx(arr, i));
                uint8_t dg[32];
                char b64[64];
                json_object *e = json_object_new_object(), *c = json_object_new_object(),
                            *ds = json_object_new_object();

                assert_int_equal(hex_decode_exact(hex, dg, 32), 0);
                assert_int_equal(EVP_EncodeBlock((unsigned char *) b64, dg, 32), 44);
                /* Reverse order: Index, not position, decides. */
                assert_int_equal(json_add_int(e, "Index", 23 - (int64_t) i), 0);
                (void) hex_decode_exact(json_object_get_string(json_object_array_get_idx(
                                                arr, 23 - i)),
                                        dg, 32);
                assert_int_equal(EVP_EncodeBlock((unsigned char *) b64, dg, 32), 44);
                assert_int_equal(json_add_string(e, "Digest", b64), 0);
                assert_int_equal(json_object_array_add(maa, e), 0);

                assert_int_equal(json_add_int(c, "Index", (int64_t) i), 0);
                assert_int_equal(json_add_string(ds, "SHA256", hex), 0);
                assert_int_equal(json_add(c, "Digests", ds), 0);
                assert_int_equal(json_object_array_add(claim, c), 0);
        }
        {
                const char *s = json_object_to_json_string(maa);
                assert_int_equal(tpm_pcrs_from_json(s, strlen(s), &got, &d), 0);
                assert_int_equal(got.n_banks, 1);
                assert_memory_equal(&got.banks[0], &want.banks[0], sizeof(TpmPcrBank));
        }
        {
                const char *s = json_object_to_json_string(claim);
                assert_int_equal(tpm_pcrs_from_json(s, strlen(s), &got, &d), 0);
                assert_memory_equal(&got.banks[0], &want.banks[0], sizeof(TpmPcrBank));
        }
        {
                _cleanup_(json_object_putp) json_object *w = json_object_new_object();
                const char *s;

                assert_int_equal(json_add(w, "PCRs", json_object_get(claim)), 0);
                s = json_object_to_json_string(w);
                assert_int_equal(tpm_pcrs_from_json(s, strlen(s), &got, &d), 0);
                assert_memory_equal(&got.banks[0], &want.banks[0], sizeof(TpmPcrBank));
        }
        /* Both banks in one claim entry. */
        assert_int_equal(parse_str("[{\"Index\": 0, \"Digests\": {\"SHA1\": "
                                   "\"0000000000000000000000000000000000000001\", \"SHA256\": "
                                   "\"00000000000000000000000000000000000000000000000000000000000"
                                   "00002\"}}]",
                                   &got, &d),
                         0);
        assert_int_equal(got.n_banks, 2);
        assert_int_equal(tpm_pcr_set_bank(&got, TPM_ALG_SHA1)->value[0][19], 1);
        assert_int_equal(tpm_pcr_set_bank(&got, TPM_ALG_SHA256)->value[0][31], 2);
}

static void test_bad_inputs(void **state) {
        static const struct {
                const char *json;
                const char *fragment;
        } bad[] = {
                { "", "not valid JSON" },
                { "{", "not valid JSON" },
                { "{\"0\": \"00\"} x", "not valid JSON" },
                { "{\"0\": \"00\", /* c */ \"1\": \"00\"}", "not valid JSON" },
                { "{}", "none given" },
                { "[]", "none given" },
                { "{\"sha256\": {}}", "none given" },
                { "\"abc\"", "neither an object nor an array" },
                { "42", "PCR values: " },
                { "42 ", "neither an object nor an array" },
                { "{\"0\": \"zz\"}", "not a hex digest" },
                { "{\"0\": \"abc\"}", "not a hex digest" },
                { "{\"0\": 5}", "is not a string" },
                { "{\"0\": null}", "is not a string" },
                { "{\"0\": \"00112233\"}", "does not fit any bank" },
                { "{\"24\": \"0000000000000000000000000000000000000000\"}", "out of range" },
                { "{\"-1\": \"0000000000000000000000000000000000000000\"}", "not a PCR index" },
                { "{\"abc\": \"0000000000000000000000000000000000000000\"}", "not a PCR index" },
                { "{\"0\": \"0000000000000000000000000000000000000000\", "
                  "\"00\": \"0000000000000000000000000000000000000000\"}",
                  "given twice" },
                { "{\"sha256\": {}, \"foo\": {}}", "'foo' is not a bank name" },
                { "{\"sha256\": 5}", "neither an object nor an array" },
                { "[{\"Index\": 24, \"Digest\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]", "bad Index" },
                { "[{\"Index\": \"0\", \"Digest\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]",
                  "bad Index" },
                { "[{\"Index\": 0, \"Digest\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}, "
                  "{\"Index\": 0, \"Digest\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}]",
                  "given twice" },
                { "[{\"Index\": 0, \"Digest\": \"!!\"}]", "not a base64 digest" },
                { "[{\"Index\": 0, \"Digests\": \"x\"}]", "Digests is not an object" },
                { "[{\"Index\": 0, \"Digests\": {\"MD5\": \"00\"}}]", "not a bank name" },
                { "{\"sha1\": [{\"Index\": 0, \"Digests\": {\"SHA256\": \"00\"}}]}",
                  "not a bank name here" },
                { "{\"PCRs\": 5}", "not a PCR index" },
                { "{\"0\": {\"a\": {\"b\": {\"c\": {\"d\": {\"e\": {\"f\": {\"g\": {\"h\": "
                  "{\"i\": 1}}}}}}}}}}",
                  "not valid JSON" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                TpmPcrSet s = { .n_banks = 77 };
                Diag d = {};
                int r = parse_str(bad[i].json, &s, &d);

                if (r != -EBADMSG || !strstr(d.text, bad[i].fragment))
                        fail_msg("'%s': %d '%s', expected -EBADMSG with '%s'", bad[i].json, r,
                                 d.text, bad[i].fragment);
                assert_int_equal(s.n_banks, 77); /* untouched on failure */
        }

        /* 25 entries in an array. */
        {
                char doc[25 * 45 + 8];
                size_t len = 0;
                TpmPcrSet s;
                Diag d = {};

                doc[len++] = '[';
                for (int i = 0; i < 25; i++)
                        len += (size_t) snprintf(doc + len, sizeof(doc) - len, "%s\"%040d\"",
                                                 i ? "," : "", 0);
                doc[len++] = ']';
                assert_int_equal(tpm_pcrs_from_json(doc, len, &s, &d), -EBADMSG);
                assert_non_null(strstr(d.text, "at most 24"));
        }
        /* A NUL inside, and more than 1 MiB: refused before parsing. */
        {
                TpmPcrSet s;
                char *big = malloc((1u << 20) + 2);
                Diag d = {};

                assert_int_equal(tpm_pcrs_from_json("{\"0\"\0: 1}", 9, &s, NULL), -EBADMSG);
                assert_non_null(big);
                memset(big, ' ', (1u << 20) + 1);
                big[0] = '{';
                big[(1u << 20)] = '}';
                assert_int_equal(tpm_pcrs_from_json(big, (1u << 20) + 1, &s, &d), -E2BIG);
                assert_non_null(strstr(d.text, "1 MiB"));
                free(big);
        }
        /* A Diag is optional. */
        {
                TpmPcrSet s;
                assert_int_equal(parse_str("{}", &s, NULL), -EBADMSG);
        }
}

static void test_alg_helpers(void **state) {
        TpmPcrSet s = {};
        static const uint16_t algs[] = { TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384,
                                         TPM_ALG_SHA512, TPM_ALG_SM3_256 };

        assert_int_equal(tpm_alg_digest_size(TPM_ALG_SHA1), 20);
        assert_int_equal(tpm_alg_digest_size(TPM_ALG_SHA384), 48);
        assert_int_equal(tpm_alg_digest_size(TPM_ALG_SM3_256), 32);
        assert_int_equal(tpm_alg_digest_size(0x0027), 0);
        assert_string_equal(tpm_alg_hash_name(TPM_ALG_SHA512), "sha512");
        assert_null(tpm_alg_hash_name(0x0027));
        assert_int_equal(tpm_alg_from_name("SHA-256"), TPM_ALG_SHA256);
        assert_int_equal(tpm_alg_from_name("SHA1"), TPM_ALG_SHA1);
        assert_int_equal(tpm_alg_from_name("sm3_256"), TPM_ALG_SM3_256);
        assert_int_equal(tpm_alg_from_name("md5"), 0);
        assert_int_equal(tpm_alg_from_name(""), 0);
        assert_int_equal(tpm_alg_from_name("sha256sha256sha256sha256"), 0);
        assert_non_null(tpm_alg_to_evp(TPM_ALG_SHA256));
        assert_null(tpm_alg_to_evp(0x0027));

        for (size_t i = 0; i < ELEMENTSOF(algs); i++)
                assert_non_null(tpm_pcr_set_bank_add(&s, algs[i]));
        assert_int_equal(s.n_banks, TPM_MAX_BANKS);
        assert_ptr_equal(tpm_pcr_set_bank_add(&s, TPM_ALG_SHA1), &s.banks[0]);
        assert_null(tpm_pcr_set_bank_add(&s, 0x0027));
        s.n_banks = 0;
        assert_null(tpm_pcr_set_bank_add(&s, 0x0027));
        assert_null(tpm_pcr_set_bank(&s, TPM_ALG_SHA1));
}

/* tpm_pcrs_to_json gives back what tpm_pcrs_from_json read. */
static void test_roundtrip(void **state) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        TpmPcrSet a, b;
        char *text;
        const char *s;

        SKIP_WITHOUT_VECTORS();
        text = read_text("tpm/gce-cos-85/nonce9009.pcrs-sha384.json");
        assert_int_equal(parse_str(text, &a, NULL), 0);
        free(text);
        assert_int_equal(tpm_pcrs_to_json(&a, &o), 0);
        assert_non_null(json_object_object_get(o, "sha384"));
        s = json_object_to_json_string(o);
        assert_int_equal(tpm_pcrs_from_json(s, strlen(s), &b, NULL), 0);
        assert_int_equal(b.n_banks, 1);
        assert_memory_equal(&a.banks[0], &b.banks[0], sizeof(TpmPcrBank));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_object_form), cmocka_unit_test(test_array_form),
                cmocka_unit_test(test_named_form),  cmocka_unit_test(test_maa_forms),
                cmocka_unit_test(test_bad_inputs),  cmocka_unit_test(test_alg_helpers),
                cmocka_unit_test(test_roundtrip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
