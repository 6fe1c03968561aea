/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verifier/tee-cert.c: signing certificates that carry the signer's SEV-SNP report. The positive
 * path uses reports the simulator bound to tests/fixtures/tee/tee-key.pem (tee-make-fixtures.sh);
 * real reports from the vectors verify up to AMD's roots but are bound to no key of ours, so they
 * must fail at the binding step and nowhere earlier.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "common/time-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "tests/unit/test-util.h"
#include "verifier/tee-cert.h"

/* Inside the simulated chain's validity (VCEK from 2026-11-27 to 2033-11-25). */
#define TEE_FIXTURE_AT "2027-06-01T00:00:00Z"

static EVP_PKEY *bound_key, *other_key;
static uint8_t report[SNP_REPORT_SIZE], debug_report[SNP_REPORT_SIZE];
static uint8_t measurement[SNP_MEASUREMENT_SIZE];
static uint8_t *vcek_der, *ask_der;
static size_t vcek_size, ask_size;
static SnpTrust *trust; /* AMD's roots and the simulated ARK */
static time_t at;

static uint8_t *fixture(const char *name, size_t *ret_size) {
        const char *top = secure_getenv("top_srcdir");
        char path[PATH_MAX];
        uint8_t *buf;

        (void) snprintf(path, sizeof(path), "%s/tests/fixtures/tee/%s", top ?: ".", name);
        buf = test_read_file(path, ret_size);
        if (!buf)
                fail_msg("cannot read %s", path);
        return buf;
}

static uint8_t *pem_to_der(const char *name, size_t *ret_size) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        size_t size;
        uint8_t *pem = fixture(name, &size), *der = NULL;
        int n;

        assert_int_equal(x509_parse_bundle(pem, size, &sk), 0);
        free(pem);
        n = i2d_X509(sk_X509_value(sk, 0), &der);
        assert_true(n > 0);
        *ret_size = (size_t) n;
        return der;
}

static int setup(void **state) {
        size_t size;
        uint8_t *buf;
        BIO *b;

        buf = fixture("tee-key.pem", &size);
        b = BIO_new_mem_buf(buf, (int) size);
        bound_key = PEM_read_bio_PrivateKey(b, NULL, pem_no_password, NULL);
        BIO_free(b);
        free(buf);
        other_key = EVP_EC_gen("P-256");
        if (!bound_key || !other_key)
                return -1;

        buf = fixture("tee-report-bound.bin", &size);
        assert_int_equal(size, SNP_REPORT_SIZE);
        memcpy(report, buf, size);
        free(buf);
        buf = fixture("tee-report-debug.bin", &size);
        assert_int_equal(size, SNP_REPORT_SIZE);
        memcpy(debug_report, buf, size);
        free(buf);
        buf = fixture("tee-measurement.hex", &size);
        assert_true(size >= 2 * sizeof(measurement));
        buf[2 * sizeof(measurement)] = 0; /* the newline */
        assert_int_equal(hex_decode_exact((const char *) buf, measurement, sizeof(measurement)),
                         0);
        free(buf);

        vcek_der = pem_to_der("tee-sim-vcek.pem", &vcek_size);
        ask_der = pem_to_der("tee-sim-ask.pem", &ask_size);
        if (snp_trust_new(true, &trust) < 0)
                return -1;
        buf = fixture("tee-sim-ark.pem", &size);
        assert_int_equal(snp_trust_add(trust, buf, size, NULL), 0);
        free(buf);
        return parse_rfc3339(TEE_FIXTURE_AT, &at) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        EVP_PKEY_free(bound_key);
        EVP_PKEY_free(other_key);
        OPENSSL_free(vcek_der);
        OPENSSL_free(ask_der);
        trust = snp_trust_free(trust);
        return 0;
}

/* The simulator's evidence, borrowed. */
static TeeEvidence sim_evidence(const uint8_t *rep) {
        return (TeeEvidence) {
                .report = (uint8_t *) rep,
                .report_size = SNP_REPORT_SIZE,
                .vcek = vcek_der,
                .vcek_size = vcek_size,
                .ask = ask_der,
                .ask_size = ask_size,
        };
}

static X509 *build(EVP_PKEY *key, const TeeEvidence *ev) {
        X509 *x = NULL;

        assert_int_equal(tee_cert_build(key, "tee test", 30, at, ev, &x), 0);
        assert_non_null(x);
        return x;
}

static const char *jstr(json_object *o, const char *a, const char *b) {
        json_object *v;

        if (!json_object_object_get_ex(o, a, &v))
                return NULL;
        if (b && !json_object_object_get_ex(v, b, &v))
                return NULL;
        return json_object_get_string(v);
}

static void test_report_data(void **state) {
        uint8_t rd[64], want[64], *der = NULL;
        int n;

        assert_int_equal(tee_cert_report_data(bound_key, rd), 0);
        n = i2d_PUBKEY(bound_key, &der);
        assert_true(n > 0);
        assert_true(EVP_Digest(der, (size_t) n, want, NULL, EVP_sha512(), NULL));
        OPENSSL_free(der);
        assert_memory_equal(rd, want, 64);
        /* The simulator put the same bytes in the report (tee-make-fixtures.sh, openssl). */
        assert_memory_equal(rd, report + 0x50, 64);
        assert_int_equal(tee_cert_report_data(NULL, rd), -EINVAL);
}

static void test_round_trip(void **state) {
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(bound_key, &ev);
        _cleanup_(json_object_putp) json_object *j = NULL;
        char mhex[2 * SNP_MEASUREMENT_SIZE + 1];
        SnpReport rep;
        Diag d = {};

        assert_int_equal(tee_cert_verify(x, trust, at, NULL, &rep, &j, &d), 0);
        assert_string_equal(d.text, "");
        assert_memory_equal(rep.measurement, measurement, sizeof(measurement));
        hex_encode_buf(measurement, sizeof(measurement), mhex);
        assert_non_null(j);
        assert_string_equal(jstr(j, "measurement", NULL), mhex);
        assert_string_equal(jstr(j, "type", NULL), "sevsnpvm");
        assert_string_equal(jstr(j, "product", NULL), "Milan");
        assert_string_equal(jstr(j, "signer", NULL), "vcek");
        assert_string_equal(jstr(j, "policy", "raw"), "0x0000000000030000");
        assert_string_equal(jstr(j, "policy", "debug"), "false");
        assert_string_equal(jstr(j, "tcb", "raw"), "0xd516000000000104");
        assert_string_equal(jstr(j, "tcb", "microcode"), "213");
        assert_int_equal(strlen(jstr(j, "chip_id", NULL)), 128);

        /* Pinned to the right measurement: still good; to another: -EXDEV, saying both. */
        j = (json_object_put(j), NULL);
        assert_int_equal(tee_cert_verify(x, trust, at, measurement, NULL, NULL, &d), 0);
        uint8_t other[SNP_MEASUREMENT_SIZE];
        memcpy(other, measurement, sizeof(other));
        other[47] ^= 1;
        assert_int_equal(tee_cert_verify(x, trust, at, other, &rep, &j, &d), -EXDEV);
        assert_non_null(strstr(d.text, "measurement differs: want "));
        assert_non_null(strstr(d.text, mhex));
        assert_null(j);
}

static void test_certificate_fields(void **state) {
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(bound_key, &ev);
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = OBJ_txt2obj(TEE_CERT_OID, 1);
        char cn[64];
        int i, day, sec;

        assert_int_equal(X509_verify(x, bound_key), 1);
        assert_int_equal(X509_get_version(x), X509_VERSION_3);
        assert_int_equal(x509_common_name(X509_get_subject_name(x), cn, sizeof(cn)), 0);
        assert_string_equal(cn, "tee test");
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
        assert_true(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(x), X509_get0_notAfter(x)));
        assert_int_equal(day * 86400 + sec, 30 * 86400 + 300);
        i = X509_get_ext_by_OBJ(x, oid, -1);
        assert_true(i >= 0);
        assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, i)), 0);
        assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
        assert_false(X509_check_ca(x));
        assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
        assert_int_equal(ASN1_STRING_length(X509_get0_serialNumber(x)), 16);
}

static void test_no_extension(void **state) {
        _cleanup_(X509_freep) X509 *x = build(bound_key, NULL);
        _cleanup_(json_object_putp) json_object *j = NULL;
        Diag d = {};

        assert_int_equal(tee_cert_verify(x, trust, at, NULL, NULL, &j, &d), -ENOMSG);
        assert_non_null(strstr(d.text, "no TEE evidence in the signing certificate"));
        assert_null(j);
}

static void test_not_bound(void **state) {
        /* The bound key's report in a certificate for another key: a transplanted extension. */
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(other_key, &ev);
        Diag d = {};

        assert_int_equal(tee_cert_verify(x, trust, at, measurement, NULL, NULL, &d), -EXDEV);
        assert_non_null(strstr(d.text, "not bound to the signing key"));
}

static void test_real_reports(void **state) {
        static const struct {
                const char *report;
                size_t offset;
                const char *vcek;
        } cases[] = {
                { "azure/trustee-az-snp-vtpm/hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/vcek.pem" },
                { "azure/trustee-az-snp-vtpm/evidence-genoa.hcl-report.bin", 0x20, "azure/trustee-az-snp-vtpm/evidence-genoa.vcek.pem" },
                { "snp/virtee-sev/report_milan.bin", 0, "snp/virtee-sev/vcek_milan.der" },
                { "snp/oak/turin_oc_report.bin", 0, "snp/oak/turin_oc_vcek.der" },
        };
        _cleanup_(snp_trust_freep) SnpTrust *amd = NULL;

        SKIP_WITHOUT_VECTORS();
        assert_int_equal(snp_trust_new(true, &amd), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
                _cleanup_(X509_freep) X509 *x = NULL, *bare = NULL;
                uint8_t *raw, *der = NULL;
                size_t size;
                Diag d = {};
                int n;

                raw = test_read_vector(cases[i].vcek, &size);
                assert_int_equal(x509_parse_bundle(raw, size, &sk), 0);
                free(raw);
                n = i2d_X509(sk_X509_value(sk, 0), &der);
                assert_true(n > 0);
                raw = test_read_vector(cases[i].report, &size);
                assert_true(size >= cases[i].offset + SNP_REPORT_SIZE);

                TeeEvidence ev = {
                        .report = raw + cases[i].offset,
                        .report_size = SNP_REPORT_SIZE,
                        .vcek = der,
                        .vcek_size = (size_t) n,
                };
                x = build(other_key, &ev);
                /* Chain, signature, TCB and chip id all pass (AMD's roots, now): only the binding
                 * fails. A debuggable guest would stop one step later, so this proves the order. */
                assert_int_equal(tee_cert_verify(x, amd, time(NULL), NULL, NULL, NULL, &d),
                                 -EXDEV);
                assert_non_null(strstr(d.text, "not bound"));

                /* The same report without its VCEK cannot be verified at all. */
                ev.vcek = NULL;
                ev.vcek_size = 0;
                bare = build(other_key, &ev);
                d = (Diag) {};
                assert_int_equal(tee_cert_verify(bare, amd, time(NULL), NULL, NULL, NULL, &d),
                                 -ENOKEY);
                assert_non_null(strstr(d.text, "no VCEK"));
                free(raw);
                OPENSSL_free(der);
        }
}

static void test_tampered_report(void **state) {
        /* One byte of each signed region, and of the signature; the certificate is re-signed
         * by the key, so only the report's own signature can catch it. */
        static const size_t offsets[] = { 0x08 + 2, 0x50, 0x90, 0x1a0, 0x2a0 + 5 };

        for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
                uint8_t copy[SNP_REPORT_SIZE];
                TeeEvidence ev = sim_evidence(copy);
                _cleanup_(X509_freep) X509 *x = NULL;
                Diag d = {};
                int r;

                memcpy(copy, report, sizeof(copy));
                copy[offsets[i]] ^= 0x01;
                x = build(bound_key, &ev);
                r = tee_cert_verify(x, trust, at, NULL, NULL, NULL, &d);
                /* The policy byte (0x0a) may also make the report malformed: bit 17 is MBZ=1. */
                if (r != -EKEYREJECTED && r != -EBADMSG)
                        fail_msg("offset 0x%zx: %d (%s)", offsets[i], r, d.text);
        }
}

static void test_chain(void **state) {
        _cleanup_(snp_trust_freep) SnpTrust *amd = NULL, *with_ask = NULL;
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(bound_key, &ev), *no_ask = NULL;
        time_t early;
        size_t size;
        uint8_t *buf;
        Diag d = {};

        /* AMD's roots alone do not trust the simulator: its ASK names AMD's ARK-Milan as its
         * issuer, whose signature it does not have. */
        assert_int_equal(snp_trust_new(true, &amd), 0);
        assert_int_equal(tee_cert_verify(x, amd, at, NULL, NULL, NULL, &d), -EKEYREJECTED);
        assert_non_null(strstr(d.text, "signing key"));

        /* Without the ASK in the extension, the trust store must have it (AMD's own SEV-Milan
         * did not sign the simulated VCEK). */
        ev.ask = NULL;
        ev.ask_size = 0;
        no_ask = build(bound_key, &ev);
        d = (Diag) {};
        assert_int_equal(tee_cert_verify(no_ask, trust, at, NULL, NULL, NULL, &d), -EKEYREJECTED);
        assert_int_equal(snp_trust_new(true, &with_ask), 0);
        buf = fixture("tee-sim-ark.pem", &size);
        assert_int_equal(snp_trust_add(with_ask, buf, size, NULL), 0);
        free(buf);
        buf = fixture("tee-sim-ask.pem", &size);
        assert_int_equal(snp_trust_add(with_ask, buf, size, NULL), 0);
        free(buf);
        assert_int_equal(tee_cert_verify(no_ask, with_ask, at, NULL, NULL, NULL, NULL), 0);

        /* Before the VCEK's notBefore. */
        assert_int_equal(parse_rfc3339("2026-01-01T00:00:00Z", &early), 0);
        d = (Diag) {};
        assert_int_equal(tee_cert_verify(x, trust, early, NULL, NULL, NULL, &d), -EKEYEXPIRED);

        /* A VCEK from another platform: the report's signature fails (or its chip id). */
        if (test_vectors_dir()) {
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
                _cleanup_(X509_freep) X509 *y = NULL;
                uint8_t *der = NULL;
                int n;

                buf = test_read_vector("azure/trustee-az-snp-vtpm/vcek.pem", &size);
                assert_int_equal(x509_parse_bundle(buf, size, &sk), 0);
                free(buf);
                n = i2d_X509(sk_X509_value(sk, 0), &der);
                ev.vcek = der;
                ev.vcek_size = (size_t) n;
                y = build(bound_key, &ev);
                d = (Diag) {};
                assert_int_equal(tee_cert_verify(y, trust, time(NULL), NULL, NULL, NULL, &d),
                                 -EKEYREJECTED);
                OPENSSL_free(der);
        }
}

static void test_debug_refused(void **state) {
        TeeEvidence ev = sim_evidence(debug_report);
        _cleanup_(X509_freep) X509 *x = build(bound_key, &ev);
        Diag d = {};

        assert_int_equal(tee_cert_verify(x, trust, at, NULL, NULL, NULL, &d), -EPERM);
        assert_non_null(strstr(d.text, "DEBUG"));
}

/* A certificate for key whose extension TEE_CERT_OID holds value (n bytes), twice if twice. */
static X509 *cert_with_value(const uint8_t *value, size_t n, bool twice) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = OBJ_txt2obj(TEE_CERT_OID, 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509 *x = build(bound_key, NULL);

        assert_true(ASN1_OCTET_STRING_set(os, value, (int) n));
        for (int i = 0; i < (twice ? 2 : 1); i++) {
                X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
                assert_non_null(ext);
                assert_true(X509_add_ext(x, ext, -1));
                X509_EXTENSION_free(ext);
        }
        ASN1_OCTET_STRING_free(os);
        assert_true(X509_sign(x, bound_key, EVP_sha256()) > 0);
        return x;
}

static void test_malformed_extension(void **state) {
        /* Hand-made DER (tests only): SEQUENCE { INTEGER v, OCTET STRING report }. */
        static const uint8_t v2[] = { 0x30, 0x06, 0x02, 0x01, 0x02, 0x04, 0x01, 0x00 };
        static const uint8_t short_report[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x00 };
        static const uint8_t trailing[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x00, 0x00 };
        static const uint8_t garbage[] = "not DER";
        static const uint8_t no_report[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
        static const struct {
                const uint8_t *value;
                size_t size;
                int error;
                const char *what;
        } cases[] = {
                { v2, sizeof(v2), -EPROTONOSUPPORT, "version 2" },
                { short_report, sizeof(short_report), -EBADMSG, "report is 1 bytes" },
                { trailing, sizeof(trailing), -EBADMSG, "not an SnpTeeEvidence" },
                { garbage, sizeof(garbage) - 1, -EBADMSG, "not an SnpTeeEvidence" },
                { no_report, sizeof(no_report), -EBADMSG, "not an SnpTeeEvidence" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(X509_freep) X509 *x = cert_with_value(cases[i].value, cases[i].size,
                                                                 false);
                Diag d = {};

                assert_int_equal(tee_cert_verify(x, trust, at, NULL, NULL, NULL, &d),
                                 cases[i].error);
                if (!strstr(d.text, cases[i].what))
                        fail_msg("case %zu: '%s' lacks '%s'", i, d.text, cases[i].what);
        }

        /* The extension twice (a real value, so only the duplicate is wrong). */
        {
                TeeEvidence ev = sim_evidence(report);
                _cleanup_(X509_freep) X509 *good = build(bound_key, &ev), *x = NULL;
                _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = OBJ_txt2obj(TEE_CERT_OID, 1);
                const ASN1_OCTET_STRING *os;
                Diag d = {};

                int i = X509_get_ext_by_OBJ(good, oid, -1);

                assert_true(i >= 0);
                os = X509_EXTENSION_get_data(X509_get_ext(good, i));
                x = cert_with_value(ASN1_STRING_get0_data(os), (size_t) ASN1_STRING_length(os),
                                    true);
                assert_int_equal(tee_cert_verify(x, trust, at, NULL, NULL, NULL, &d), -EBADMSG);
                assert_non_null(strstr(d.text, "twice"));
                /* Once is fine: the value cert_with_value copies is good. */
                X509_free(x);
                x = cert_with_value(ASN1_STRING_get0_data(os), (size_t) ASN1_STRING_length(os),
                                    false);
                assert_int_equal(tee_cert_verify(x, trust, at, NULL, NULL, NULL, NULL), 0);
        }
}

static void test_build_refuses(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        TeeEvidence ev = sim_evidence(report);
        uint8_t junk[16] = { 0x30, 0x0e };
        X509 *x = NULL;

        assert_int_equal(tee_cert_build(bound_key, "x", 0, at, NULL, &x), -EINVAL);
        assert_int_equal(tee_cert_build(bound_key, "x", 3651, at, NULL, &x), -EINVAL);
        assert_int_equal(tee_cert_build(bound_key, NULL, 1, at, NULL, &x), -EINVAL);
        assert_int_equal(tee_cert_build(ed, "x", 1, at, NULL, &x), -EPROTONOSUPPORT);
        ev.report_size = SNP_REPORT_SIZE - 1;
        assert_int_equal(tee_cert_build(bound_key, "x", 1, at, &ev, &x), -EINVAL);
        ev.report_size = SNP_REPORT_SIZE;
        ev.vcek = junk;
        ev.vcek_size = sizeof(junk);
        assert_int_equal(tee_cert_build(bound_key, "x", 1, at, &ev, &x), -EBADMSG);
        ev.vcek = vcek_der;
        ev.vcek_size = vcek_size + 1; /* trailing byte */
        assert_int_equal(tee_cert_build(bound_key, "x", 1, at, &ev, &x), -EBADMSG);
        assert_null(x);
}

static void test_rsa_key(void **state) {
        /* MAA's tokens are RS256: an RSA signing key works the same (only the binding fails, as
         * the simulator bound the report to the EC fixture key). */
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_RSA_gen(2048);
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(rsa, &ev);
        uint8_t rd[64];

        assert_int_equal(X509_verify(x, rsa), 1);
        assert_int_equal(tee_cert_verify(x, trust, at, NULL, NULL, NULL, NULL), -EXDEV);
        assert_int_equal(tee_cert_report_data(rsa, rd), 0);
        assert_memory_not_equal(rd, report + 0x50, 64);
}

static void test_verify_key(void **state) {
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(bound_key, &ev);
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = sk_X509_new_null();
        JwsKey k = { .kid = (char *) "k1", .pkey = bound_key };
        Diag d = {};

        assert_int_equal(tee_cert_verify_key(&k, trust, at, NULL, NULL, NULL, &d), -ENOMSG);
        assert_non_null(strstr(d.text, "k1 has no certificate"));
        assert_true(X509_up_ref(x));
        assert_true(sk_X509_push(sk, x));
        k.x5c = sk;
        assert_int_equal(tee_cert_verify_key(&k, trust, at, measurement, NULL, NULL, NULL), 0);
        /* The JWK's key is not the certificate's. */
        k.pkey = other_key;
        d = (Diag) {};
        assert_int_equal(tee_cert_verify_key(&k, trust, at, NULL, NULL, NULL, &d), -EXDEV);
        assert_non_null(strstr(d.text, "another key"));
}

static void test_with_jwks(void **state) {
        /* Through a JWKS, as `check token --require-tee` reads it: x5c survives the parser. */
        TeeEvidence ev = sim_evidence(report);
        _cleanup_(X509_freep) X509 *x = build(bound_key, &ev);
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(freep) char *b64 = NULL, *jwks = NULL;
        uint8_t *der = NULL;
        int n;

        n = i2d_X509(x, &der);
        assert_true(n > 0);
        {
                /* Standard base64, as x5c wants it. */
                BIO *mem = BIO_new(BIO_s_mem()), *b = BIO_new(BIO_f_base64());
                char *data;
                long len;

                BIO_set_flags(b, BIO_FLAGS_BASE64_NO_NL);
                b = BIO_push(b, mem);
                assert_int_equal(BIO_write(b, der, n), n);
                assert_int_equal(BIO_flush(b), 1);
                len = BIO_get_mem_data(mem, &data);
                b64 = strndup(data, (size_t) len);
                BIO_free_all(b);
        }
        OPENSSL_free(der);
        assert_true(asprintf(&jwks, "{\"keys\": [{\"kty\": \"EC\", \"kid\": \"t\", \"x5c\": "
                             "[\"%s\"]}]}", b64) > 0);
        assert_int_equal(jws_key_set_from_jwks(jwks, strlen(jwks), &ks, NULL), 0);
        assert_int_equal(tee_cert_verify_key(jws_key_set_find(ks, "t"), trust, at, measurement,
                                             NULL, NULL, NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_report_data),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_certificate_fields),
                cmocka_unit_test(test_no_extension),
                cmocka_unit_test(test_not_bound),
                cmocka_unit_test(test_real_reports),
                cmocka_unit_test(test_tampered_report),
                cmocka_unit_test(test_chain),
                cmocka_unit_test(test_debug_refused),
                cmocka_unit_test(test_malformed_extension),
                cmocka_unit_test(test_build_refuses),
                cmocka_unit_test(test_rsa_key),
                cmocka_unit_test(test_verify_key),
                cmocka_unit_test(test_with_jwks),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
