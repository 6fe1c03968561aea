/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "vtpm/hcl-report.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-pcrs.h"
#include "tests/unit/test-util.h"

typedef struct QuoteCase {
        const char *attest, *sig, *ak, *pcrs;
        const char *ak_from_hcl; /* take HCLAkPub from this HCL report instead of ak */
        const char *nonce;       /* ASCII; NULL: not checked */
        size_t nonce_size;
} QuoteCase;

#define GCE "tpm/gce-cos-85/"
#define TAZ "azure/trustee-az-snp-vtpm/"
static const QuoteCase cases[] = {
        { GCE "nonce9009.quote-sha1.tpms_attest", GCE "nonce9009.quote-sha1.tpmt_signature", GCE "ak-pub.tpmt", GCE "nonce9009.pcrs-sha1.json", NULL, "\x90\x09", 2 },
        { GCE "nonce9009.quote-sha256.tpms_attest", GCE "nonce9009.quote-sha256.tpmt_signature", GCE "ak-pub.tpmt", GCE "nonce9009.pcrs-sha256.json", NULL, "\x90\x09", 2 },
        { GCE "nonce9009.quote-sha384.tpms_attest", GCE "nonce9009.quote-sha384.tpmt_signature", GCE "ak-pub.tpmt", GCE "nonce9009.pcrs-sha384.json", NULL, "\x90\x09", 2 },
        { GCE "no-nonce.quote-sha1.tpms_attest", GCE "no-nonce.quote-sha1.tpmt_signature", GCE "ak-pub.tpmt", GCE "no-nonce.pcrs-sha1.json", NULL, "", 0 },
        { GCE "no-nonce.quote-sha256.tpms_attest", GCE "no-nonce.quote-sha256.tpmt_signature", GCE "ak-pub.tpmt", GCE "no-nonce.pcrs-sha256.json", NULL, "", 0 },
        { GCE "no-nonce.quote-sha384.tpms_attest", GCE "no-nonce.quote-sha384.tpmt_signature", GCE "ak-pub.tpmt", GCE "no-nonce.pcrs-sha384.json", NULL, "", 0 },
        { "tpm/windows-gcp-shielded-vm/quote.tpms_attest", "tpm/windows-gcp-shielded-vm/quote.tpmt_signature", "tpm/windows-gcp-shielded-vm/ak-pub.tpmt", "tpm/windows-gcp-shielded-vm/pcrs-sha1.json", NULL, "", 0 },
        { "azure/azure-cvm-tooling/quote.msg.bin", "azure/azure-cvm-tooling/quote.sig.bin", "azure/azure-cvm-tooling/akpub.pem", "azure/azure-cvm-tooling/quote.pcrs-sha256.json", NULL, "challenge", 9 },
        { TAZ "quote.msg.bin", TAZ "quote.sig.bin", NULL, TAZ "quote.pcrs-sha256.json", TAZ "hcl-report.bin", "challenge", 9 },
        { TAZ "evidence-genoa.quote-msg.bin", TAZ "evidence-genoa.quote-sig.bin", NULL, TAZ "evidence-genoa.pcrs-sha256.json", TAZ "evidence-genoa.hcl-report.bin", NULL, 0 },
        { TAZ "evidence-v0.quote-msg.bin", TAZ "evidence-v0.quote-sig.bin", NULL, TAZ "evidence-v0.pcrs-sha256.json", TAZ "evidence-v0.hcl-report.bin", "challenge", 9 },
        { TAZ "evidence-v1.quote-msg.bin", TAZ "evidence-v1.quote-sig.bin", NULL, TAZ "evidence-v1.pcrs-sha256.json", TAZ "evidence-v1.hcl-report.bin", "challenge", 9 },
        { TAZ "evidence-v2.quote-msg.bin", TAZ "evidence-v2.quote-sig.bin", NULL, TAZ "evidence-v2.pcrs-sha256.json", TAZ "evidence-v2.hcl-report.bin", NULL, 0 },
};

typedef struct Loaded {
        uint8_t *attest;
        size_t attest_size;
        TPMT_SIGNATURE sig;
        EVP_PKEY *ak;
        TPMT_PUBLIC pub;
        bool has_public;
        TpmPcrSet pcrs;
} Loaded;

static EVP_PKEY *hcl_ak(const char *path) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        EVP_PKEY *k = NULL;
        size_t size;
        uint8_t *buf = test_read_vector(path, &size);
        HclReport h;

        assert_int_equal(hcl_report_parse(buf, size, &h, NULL), 0);
        assert_int_equal(hcl_runtime_claims(&h, &claims, NULL), 0);
        assert_int_equal(hcl_claims_key(claims, "HCLAkPub", &k, NULL), 0);
        free(buf);
        return k;
}

static void load(const QuoteCase *c, Loaded *l) {
        uint8_t *buf;
        size_t size;
        bool bare;

        *l = (Loaded) {};
        l->attest = test_read_vector(c->attest, &l->attest_size);
        if (c->ak_from_hcl)
                l->ak = hcl_ak(c->ak_from_hcl);
        else {
                buf = test_read_vector(c->ak, &size);
                assert_int_equal(tpm_ak_load(buf, size, &l->ak, &l->pub, &l->has_public, NULL), 0);
                free(buf);
        }
        buf = test_read_vector(c->sig, &size);
        assert_int_equal(tpm_signature_parse(buf, size, l->ak, TPM_ALG_SHA256, &l->sig, &bare, NULL), 0);
        free(buf);
        buf = test_read_vector(c->pcrs, &size);
        assert_int_equal(tpm_pcrs_from_json((const char *) buf, size, &l->pcrs, NULL), 0);
        free(buf);
}

static void unload(Loaded *l) {
        free(l->attest);
        EVP_PKEY_free(l->ak);
        *l = (Loaded) {};
}

static int verify(const QuoteCase *c, Loaded *l, Diag *d) {
        TpmQuoteExpect e = {
                .nonce = (const uint8_t *) c->nonce,
                .nonce_size = c->nonce_size,
                .pcrs = &l->pcrs,
        };
        return tpm_quote_verify(l->ak, l->attest, l->attest_size, &l->sig, &e, NULL, d);
}

static void test_real_quotes(void **state) {
        SKIP_WITHOUT_VECTORS();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Loaded l;
                Diag d = {};

                print_message("# %s\n", cases[i].attest);
                load(&cases[i], &l);
                if (verify(&cases[i], &l, &d) < 0)
                        fail_msg("%s: %s", cases[i].attest, d.text);
                unload(&l);
        }
}

static void test_tampering(void **state) {
        const QuoteCase *c = &cases[8]; /* Azure, HCLAkPub */
        Loaded l, other;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        load(c, &l);
        /* A flipped byte in the attest structure. */
        l.attest[l.attest_size - 3] ^= 1;
        assert_int_equal(verify(c, &l, &d), -EKEYREJECTED);
        l.attest[l.attest_size - 3] ^= 1;
        /* Another nonce. */
        {
                QuoteCase c2 = *c;
                c2.nonce = "challengf";
                memset(&d, 0, sizeof(d));
                assert_int_equal(verify(&c2, &l, &d), -ESTALE);
                assert_non_null(strstr(d.text, "extraData"));
        }
        /* One PCR value changed. */
        l.pcrs.banks[0].value[7][0] ^= 1;
        memset(&d, 0, sizeof(d));
        assert_int_equal(verify(c, &l, &d), -EXDEV);
        assert_non_null(strstr(d.text, "pcrDigest"));
        l.pcrs.banks[0].value[7][0] ^= 1;
        /* A PCR the quote selects is missing. */
        l.pcrs.banks[0].mask &= ~(UINT32_C(1) << 3);
        memset(&d, 0, sizeof(d));
        assert_int_equal(verify(c, &l, &d), -EXDEV);
        assert_non_null(strstr(d.text, "PCR 3"));
        l.pcrs.banks[0].mask |= UINT32_C(1) << 3;
        assert_int_equal(verify(c, &l, NULL), 0);
        /* Another VM's AK. */
        load(&cases[7], &other);
        EVP_PKEY_free(l.ak);
        l.ak = other.ak;
        other.ak = NULL;
        assert_int_equal(verify(c, &l, NULL), -EKEYREJECTED);
        unload(&other);
        unload(&l);
}

static void test_ak_name(void **state) {
        Loaded l;
        TPM2B_NAME name;

        SKIP_WITHOUT_VECTORS();
        load(&cases[1], &l);
        assert_true(l.has_public);
        assert_int_equal(tpm_public_name(&l.pub, &name), 0);
        assert_int_equal(name.size, 34);
        assert_int_equal(name.name[0], 0x00);
        assert_int_equal(name.name[1], 0x0b); /* SHA-256 */
        unload(&l);
}

static void test_malformed(void **state) {
        uint8_t buf[16] = { 0xff, 0x54, 0x43, 0x47, 0x80, 0x18 };
        TPMS_ATTEST a;
        TPMT_PUBLIC p;
        Diag d = {};
        uint8_t *q;
        size_t size;

        assert_int_equal(tpm_attest_parse(buf, sizeof(buf), &a, &d), -EBADMSG);
        assert_int_equal(tpm_attest_parse(buf, 0, &a, NULL), -EBADMSG);
        assert_int_equal(tpm_public_parse(buf, sizeof(buf), &p, NULL), -EBADMSG);
        SKIP_WITHOUT_VECTORS();
        q = test_read_vector(cases[7].attest, &size);
        assert_int_equal(tpm_attest_parse(q, size, &a, NULL), 0);
        assert_int_equal(a.type, TPM2_ST_ATTEST_QUOTE);
        assert_int_equal(tpm_attest_parse(q, size - 1, &a, NULL), -EBADMSG);
        q[0] = 0xfe;
        memset(&d, 0, sizeof(d));
        assert_int_equal(tpm_attest_parse(q, size, &a, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "magic"));
        free(q);
}

static void test_json(void **state) {
        json_object *o = NULL, *v;
        TPMS_ATTEST a;
        uint8_t *q;
        size_t size;

        SKIP_WITHOUT_VECTORS();
        q = test_read_vector(cases[7].attest, &size);
        assert_int_equal(tpm_attest_parse(q, size, &a, NULL), 0);
        assert_int_equal(tpm_attest_to_json(&a, &o), 0);
        assert_true(json_object_object_get_ex(o, "extra_data", &v));
        assert_string_equal(json_object_get_string(v), "6368616c6c656e6765");
        assert_true(json_object_object_get_ex(o, "pcr_select", &v));
        assert_true(json_object_object_get_ex(v, "sha256", &v));
        assert_int_equal(json_object_array_length(v), 24);
        json_object_put(o);
        free(q);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_quotes),
                cmocka_unit_test(test_tampering),
                cmocka_unit_test(test_ak_name),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
