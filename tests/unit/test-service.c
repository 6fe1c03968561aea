/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier service's pure parts: INI files, its configuration, the signing-key ring over
 * time, and MAA policy uploads (unsigned, signed, isolated mode, reset). */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "verifier/config.h"
#include "verifier/keyring.h"
#include "verifier/policy-upload.h"
#include "verifier/reference.h"
#include "tests/unit/test-util.h"

static EVP_PKEY *rsa_a, *rsa_b, *p256;

static int setup(void **state) {
        rsa_a = EVP_RSA_gen(2048);
        rsa_b = EVP_RSA_gen(2048);
        p256 = EVP_EC_gen("P-256");
        return rsa_a && rsa_b && p256 ? 0 : -1;
}

static int teardown(void **state) {
        EVP_PKEY_free(rsa_a);
        EVP_PKEY_free(rsa_b);
        EVP_PKEY_free(p256);
        return 0;
}

/* ---- INI ---- */

typedef struct Seen {
        char text[1024];
} Seen;

static int record(void *userdata, const char *file, unsigned line, const char *section,
                  const char *key, const char *value, Diag *d) {
        Seen *s = userdata;
        size_t n = strlen(s->text);

        (void) snprintf(s->text + n, sizeof(s->text) - n, "%u:%s:%s=%s|", line, section,
                        key ?: "-", value ?: "-");
        return 0;
}

static void test_conf_parse(void **state) {
        static const char text[] = "# comment\n"
                                   "; another\n"
                                   "\n"
                                   "[A]\n"
                                   "  Key = some value  \n"
                                   "Empty=\n"
                                   "Eq=a=b\r\n"
                                   "[B.c]\n"
                                   "K=v";
        Seen s = {};
        Diag d = {};

        assert_int_equal(conf_parse(text, strlen(text), "x.conf", record, &s, &d), 0);
        assert_string_equal(s.text, "4:A:-=-|5:A:Key=some value|6:A:Empty=|7:A:Eq=a=b|8:B.c:-=-|"
                                    "9:B.c:K=v|");
}

static void expect_conf_error(const char *text, const char *fragment) {
        Seen s = {};
        Diag d = {};

        assert_int_equal(conf_parse(text, strlen(text), "x.conf", record, &s, &d), -EBADMSG);
        if (!strstr(d.text, fragment))
                fail_msg("'%s': got '%s', want '%s'", text, d.text, fragment);
}

static void test_conf_errors(void **state) {
        char *long_line = malloc(CONF_LINE_MAX + 10);

        expect_conf_error("Key=v\n", "x.conf:1: assignment before any [Section]");
        expect_conf_error("[A]\njunk\n", "x.conf:2: expected [Section] or Key=Value");
        expect_conf_error("[A\n", "x.conf:1: malformed section header");
        expect_conf_error("[]\n", "x.conf:1: malformed section header");
        expect_conf_error("[A]\n=v\n", "x.conf:2: missing or overlong key");
        expect_conf_error("[A]\nK y=v\n", "x.conf:2: invalid character in key");
        assert_non_null(long_line);
        memset(long_line, 'a', CONF_LINE_MAX + 5);
        memcpy(long_line, "[A]\n", 4);
        long_line[CONF_LINE_MAX + 5] = '\0';
        expect_conf_error(long_line, "x.conf:2: line longer than");
        free(long_line);
        {
                static const char nul[] = "[A]\nK=a\0b\n";
                Seen s = {};
                Diag d = {};
                assert_int_equal(conf_parse(nul, sizeof(nul) - 1, "x.conf", record, &s, &d),
                                 -EBADMSG);
                assert_non_null(strstr(d.text, "NUL"));
        }
}

static void test_conf_values(void **state) {
        uint64_t u;
        bool b;

        assert_int_equal(conf_parse_timespan("5min", &u), 0);
        assert_int_equal(u, UINT64_C(300000000));
        assert_int_equal(conf_parse_timespan("1h 30min", &u), 0);
        assert_int_equal(u, UINT64_C(5400000000));
        assert_int_equal(conf_parse_timespan("90", &u), 0);
        assert_int_equal(u, UINT64_C(90000000));
        assert_int_equal(conf_parse_timespan("250ms", &u), 0);
        assert_int_equal(u, 250000);
        assert_int_equal(conf_parse_timespan("8h", &u), 0);
        assert_int_equal(u, UINT64_C(28800000000));
        assert_int_equal(conf_parse_timespan("", &u), -EINVAL);
        assert_int_equal(conf_parse_timespan("5 parsecs", &u), -EINVAL);
        assert_int_equal(conf_parse_timespan("-5s", &u), -EINVAL);
        assert_int_equal(conf_parse_timespan("99999999999999999w", &u), -ERANGE);
        assert_int_equal(conf_parse_bool("Yes", &b), 0);
        assert_true(b);
        assert_int_equal(conf_parse_bool("off", &b), 0);
        assert_false(b);
        assert_int_equal(conf_parse_bool("maybe", &b), -EINVAL);
        assert_int_equal(conf_parse_size("4K", &u), 0);
        assert_int_equal(u, 4096);
        assert_int_equal(conf_parse_size("1M", &u), 0);
        assert_int_equal(u, 1048576);
        assert_int_equal(conf_parse_size("1T", &u), -EINVAL);
}

/* ---- verifier configuration ---- */

static void test_config_example(void **state) {
        size_t size;
        char path[4096];
        uint8_t *text;
        VerifierConfig c;
        Diag d = {};

        /* The annotated example that documents every key parses as shipped. */
        (void) snprintf(path, sizeof(path), "%s/verifier/cvm-verifier.conf", TEST_SRCDIR);
        text = test_read_file(path, &size);
        assert_int_equal(verifier_config_parse((const char *) text, size, "cvm-verifier.conf", &c, &d), 0);
        assert_int_equal(c.n_listen, 1);
        assert_string_equal(c.listen[0], "127.0.0.1:8443");
        assert_int_equal(c.n_keys, 1);
        assert_string_equal(c.keys[0].key, "credential:signing-key.pem");
        assert_string_equal(c.keys[0].alg, "RS256");
        assert_int_equal(c.token_lifetime, 28800);
        assert_int_equal(c.request_timeout, 10);
        assert_string_equal(c.kds_url, "https://kdsintf.amd.com");
        assert_int_equal(c.n_tenants, 1);
        assert_string_equal(c.tenants[0].name, "default");
        assert_string_equal(c.tenants[0].path, "");
        assert_false(c.tenants[0].isolated);
        verifier_config_done(&c);
        free(text);
}

static void test_config_full(void **state) {
        static const char text[] =
                "[Service]\n"
                "Listen=127.0.0.1:0\n"
                "Listen=[::1]:8443\n"
                "TLSCertificate=/c.pem\n"
                "TLSKey=credential:tls\n"
                "RequestTimeout=30s\n"
                "Threads=4\n"
                "[Signing]\n"
                "TokenLifetime=1h\n"
                "[SigningKey]\n"
                "Key=/k1.pem\n"
                "[SigningKey]\n"
                "Key=/k2.pem\n"
                "Activate=2030-01-01T00:00:00Z\n"
                "Algorithm=ES256\n"
                "[SNP]\n"
                "KDS=\n"
                "TrustRoot=/a.pem\n"
                "TrustRoot=/b.pem\n"
                "[TrustedLaunch]\n"
                "AKCertificateAuthority=/ak.pem\n"
                "[Tenant]\n"
                "Name=root\n"
                "[Tenant]\n"
                "Name=contoso\n"
                "Path=/t/contoso\n"
                "Mode=isolated\n"
                "PolicySigningCertificates=/p.pem\n"
                "RequireNonce=yes\n"
                "Policy.AzureGuest=/ag.policy\n";
        VerifierConfig c;
        Diag d = {};

        assert_int_equal(verifier_config_parse(text, strlen(text), "t.conf", &c, &d), 0);
        assert_int_equal(c.n_listen, 2);
        assert_int_equal(c.request_timeout, 30);
        assert_int_equal(c.threads, 4);
        assert_int_equal(c.token_lifetime, 3600);
        assert_int_equal(c.n_keys, 2);
        assert_int_equal(c.keys[1].activate, 1893456000);
        assert_string_equal(c.keys[1].alg, "ES256");
        assert_null(c.kds_url);
        assert_int_equal(c.n_trust_roots, 2);
        assert_int_equal(c.n_ak_ca, 1);
        assert_int_equal(c.n_tenants, 2);
        assert_string_equal(c.tenants[1].path, "/t/contoso");
        assert_true(c.tenants[1].isolated);
        assert_true(c.tenants[1].require_nonce);
        assert_string_equal(c.tenants[1].policy[POLICY_AZUREGUEST], "/ag.policy");
        assert_null(c.tenants[1].policy[POLICY_SEVSNPVM]);
        verifier_config_done(&c);
}

static void expect_config_error(const char *text, int error, const char *fragment) {
        VerifierConfig c;
        Diag d = {};

        assert_int_equal(verifier_config_parse(text, strlen(text), "t.conf", &c, &d), error);
        if (!strstr(d.text, fragment))
                fail_msg("got '%s', want '%s'", d.text, fragment);
}

#define MINIMAL "[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=ephemeral\n"

static void test_config_errors(void **state) {
        expect_config_error(MINIMAL "[Bogus]\n", -EBADMSG, "t.conf:5: unknown section [Bogus]");
        expect_config_error(MINIMAL "[Service]\nListn=x\n", -EBADMSG, "t.conf:6: [Service] Listn=: unknown key");
        expect_config_error(MINIMAL "[Service]\nRequestTimeout=forever\n", -EBADMSG,
                            "t.conf:6: [Service] RequestTimeout=: 'forever' is not a time span");
        expect_config_error(MINIMAL "[Tenant]\nName=a b\n", -EBADMSG, "[Tenant] Name=: 'a b' is not a name");
        expect_config_error(MINIMAL "[Tenant]\nName=a\nPath=/x/\n", -EBADMSG, "[Tenant] Path=");
        expect_config_error(MINIMAL "[Tenant]\nName=a\nPath=/../x\n", -EBADMSG, "[Tenant] Path=");
        expect_config_error(MINIMAL "[Tenant]\nName=a\nMode=strict\n", -EBADMSG, "[Tenant] Mode=");
        expect_config_error(MINIMAL "[Tenant]\nName=a\nPolicy.Sgx=/x\n", -EBADMSG, "unknown attestation type");
        expect_config_error(MINIMAL "[SigningKey]\nKey=/k\nAlgorithm=HS256\n", -EBADMSG, "Algorithm=");
        expect_config_error(MINIMAL "[SigningKey]\nKey=/k\nActivate=tomorrow\n", -EBADMSG, "Activate=");
        expect_config_error(MINIMAL "[SNP]\nKDS=ftp://x\n", -EBADMSG, "KDS=");
        expect_config_error("[SigningKey]\nKey=ephemeral\n", -EINVAL, "Listen= is required");
        expect_config_error("[Service]\nListen=127.0.0.1:0\n", -EINVAL, "no [SigningKey]");
        expect_config_error(MINIMAL "[Service]\nTLSKey=/k\n", -EINVAL, "TLSCertificate= and TLSKey=");
        expect_config_error(MINIMAL "[Tenant]\nName=a\n[Tenant]\nName=a\nPath=/b\n", -EINVAL, "Name=a appears twice");
        expect_config_error(MINIMAL "[Tenant]\nName=a\n[Tenant]\nName=b\n", -EINVAL, "same Path=");
        expect_config_error(MINIMAL "[Tenant]\nPath=/b\n", -EINVAL, "has no Name=");
        expect_config_error(MINIMAL "[Tenant]\nName=a\nMode=isolated\n", -EINVAL, "PolicySigningCertificates=");
        expect_config_error(MINIMAL "[SigningKey]\nKey=/k\n", -EINVAL, "Key=ephemeral stands alone");
        expect_config_error("[Service]\nListen=127.0.0.1:0\n[SigningKey]\nKey=/k\n[Signing]\nRotateEvery=1d\n",
                            -EINVAL, "RotateEvery= needs Key=ephemeral");
        expect_config_error(MINIMAL "[Signing]\nRotateEvery=1h\nPublishAhead=2h\n", -EINVAL, "PublishAhead=");
}

/* ---- the key ring ---- */

static void test_keyring(void **state) {
        KeyRing k = { .token_lifetime = 100 };
        char *x;

        EVP_PKEY_up_ref(rsa_a);
        EVP_PKEY_up_ref(rsa_b);
        EVP_PKEY_up_ref(p256);
        x = strdup("x");
        assert_int_equal(keyring_add(&k, p256, "RS256", 0, x), -EINVAL);
        assert_int_equal(keyring_add(&k, rsa_a, "ES256", 0, x), -EINVAL);
        free(x); /* not taken on failure */
        x = strdup("xa");
        assert_int_equal(keyring_add(&k, rsa_a, "RS256", 1000, x), 0);
        x = strdup("xa2");
        assert_int_equal(keyring_add(&k, rsa_a, "PS256", 2000, x), -EEXIST); /* same kid */
        free(x);
        x = strdup("xb");
        assert_int_equal(keyring_add(&k, rsa_b, "RS256", 1000, x), -EEXIST); /* same time */
        assert_int_equal(keyring_add(&k, rsa_b, "RS256", 2000, x), 0);
        x = strdup("xc");
        assert_int_equal(keyring_add(&k, p256, "ES256", 500, x), 0); /* sorted in first */
        assert_int_equal(k.n, 3);
        assert_int_equal(k.keys[0].activate, 500);
        assert_int_equal(keyring_newest(&k), 2000);

        /* Who signs when. */
        assert_null(keyring_signer(&k, 499));
        assert_string_equal(keyring_signer(&k, 500)->alg, "ES256");
        assert_ptr_equal(keyring_signer(&k, 1999)->pkey, rsa_a);
        assert_ptr_equal(keyring_signer(&k, 2000)->pkey, rsa_b);

        /* Published before signing; kept until the next key's activation + token lifetime. */
        assert_true(keyring_published(&k, 2, 1500)); /* rsa_b, ahead of its time */
        assert_true(keyring_published(&k, 0, 1099)); /* p256: retired at 1000, tokens to 1100 */
        assert_false(keyring_published(&k, 0, 1100));
        assert_true(keyring_published(&k, 1, 2099));
        assert_false(keyring_published(&k, 1, 2100));
        assert_false(keyring_published(&k, 3, 0));

        assert_int_equal(keyring_prune(&k, 1099), 0);
        assert_int_equal(keyring_prune(&k, 1100), 1);
        assert_int_equal(k.n, 2);
        assert_int_equal(keyring_prune(&k, 5000), 1);
        assert_int_equal(k.n, 1);
        assert_int_equal(keyring_prune(&k, 1000000), 0); /* the last key stays */
        assert_ptr_equal(keyring_signer(&k, 1000000)->pkey, rsa_b);
        {
                char kid[48];
                assert_int_equal(keyring_kid(rsa_b, kid), 0);
                assert_string_equal(kid, k.keys[0].kid);
                assert_int_equal(strlen(kid), 43);
        }
        keyring_done(&k);
}

/* ---- policy uploads ---- */

static const char policy_text[] = "version=1.0;\nauthorizationrules { => permit(); };\n";

static X509 *self_signed(EVP_PKEY *key, const char *cn) {
        X509 *x = X509_new();

        assert_non_null(x);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *) cn, -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        return x;
}

/* A policy JWS signed by key with cert in x5c; payload NULL means an empty one (reset). */
static char *signed_upload(EVP_PKEY *key, X509 *cert, const char *text) {
        json_object *hdr = json_object_new_object(), *x5c = json_object_new_array(),
                    *payload = json_object_new_object();
        unsigned char *der = NULL;
        char *b64, *body = NULL, *p = NULL;
        const char *ps = "";
        int n = i2d_X509(cert, &der);

        b64 = malloc(4 * ((size_t) n + 2) / 3 + 1);
        EVP_EncodeBlock((unsigned char *) b64, der, n);
        OPENSSL_free(der);
        json_object_array_add(x5c, json_object_new_string(b64));
        free(b64);
        json_object_object_add(hdr, "x5c", x5c);
        if (text) {
                assert_int_equal(base64url_encode(text, strlen(text), &p), 0);
                json_object_object_add(payload, "AttestationPolicy", json_object_new_string(p));
                free(p);
                ps = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN);
        }
        assert_int_equal(jws_sign("RS256", key, NULL, NULL, hdr, (const uint8_t *) ps, strlen(ps),
                                  &body), 0);
        json_object_put(hdr);
        json_object_put(payload);
        return body;
}

static void test_policy_upload(void **state) {
        _cleanup_(X509_freep) X509 *cert_a = self_signed(rsa_a, "policy signer A"),
                                    *cert_b = self_signed(rsa_b, "policy signer B");
        STACK_OF(X509) *signers = sk_X509_new_null();
        PolicyUpload u = {};
        char *body;
        Diag d = {};

        sk_X509_push(signers, cert_a);

        /* Unsigned, as GET returns it and as default mode takes it. */
        assert_int_equal(policy_upload_unsigned(policy_text, strlen(policy_text), &body), 0);
        assert_int_equal(policy_upload_parse(body, strlen(body), NULL, false, &u, &d), 0);
        assert_string_equal(u.text, policy_text);
        assert_null(u.signer);
        policy_upload_done(&u);
        /* ... with a trailing newline, as curl --data-binary @file sends it. */
        {
                char *nl;
                assert_true(asprintf(&nl, "%s\n", body) > 0);
                assert_int_equal(policy_upload_parse(nl, strlen(nl), NULL, false, &u, &d), 0);
                policy_upload_done(&u);
                free(nl);
        }
        /* Isolated mode refuses it. */
        assert_int_equal(policy_upload_parse(body, strlen(body), signers, false, &u, &d), -EPERM);
        assert_non_null(strstr(d.text, "isolated mode"));
        /* Not a reset. */
        memset(&d, 0, sizeof(d));
        assert_int_equal(policy_upload_parse(body, strlen(body), NULL, true, &u, &d), -EBADMSG);
        free(body);

        /* Signed by A: taken in both modes, with the signer. */
        body = signed_upload(rsa_a, cert_a, policy_text);
        assert_int_equal(policy_upload_parse(body, strlen(body), signers, false, &u, &d), 0);
        assert_non_null(u.signer);
        assert_int_equal(X509_cmp(u.signer, cert_a), 0);
        {
                json_object *jwk = NULL, *v;
                assert_int_equal(policy_upload_signer_jwk(u.signer, &jwk), 0);
                assert_true(json_object_object_get_ex(jwk, "x5c", &v));
                assert_true(json_object_object_get_ex(jwk, "n", &v));
                json_object_put(jwk);
        }
        policy_upload_done(&u);
        assert_int_equal(policy_upload_parse(body, strlen(body), NULL, false, &u, &d), 0);
        policy_upload_done(&u);
        /* One byte of the signature changed. */
        body[strlen(body) - 2] = body[strlen(body) - 2] == 'A' ? 'B' : 'A'; /* still base64url */
        memset(&d, 0, sizeof(d));
        assert_int_equal(policy_upload_parse(body, strlen(body), NULL, false, &u, &d), -EKEYREJECTED);
        free(body);

        /* Signed by B, which is not a policy certificate: refused in isolated mode. */
        body = signed_upload(rsa_b, cert_b, policy_text);
        memset(&d, 0, sizeof(d));
        assert_int_equal(policy_upload_parse(body, strlen(body), signers, false, &u, &d), -EPERM);
        assert_non_null(strstr(d.text, "policy signer B"));
        free(body);
        /* Signed by B's key but claiming A's certificate: the signature does not verify. */
        body = signed_upload(rsa_b, cert_a, policy_text);
        memset(&d, 0, sizeof(d));
        assert_int_equal(policy_upload_parse(body, strlen(body), signers, false, &u, &d), -EKEYREJECTED);
        free(body);

        /* Reset: an empty payload, signed by A in isolated mode. */
        body = signed_upload(rsa_a, cert_a, NULL);
        assert_int_equal(policy_upload_parse(body, strlen(body), signers, true, &u, &d), 0);
        assert_null(u.text);
        policy_upload_done(&u);
        memset(&d, 0, sizeof(d));
        assert_int_equal(policy_upload_parse(body, strlen(body), signers, false, &u, &d), -EBADMSG);
        free(body);

        /* Malformed. */
        {
                static const char *const bad[] = {
                        "", "not a jws", "a.b.c", "eyJhbGciOiJub25lIn0.e30", /* two parts */
                        "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6MX0.", /* number */
                        "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6IiJ9.", /* empty */
                        "eyJhbGciOiJub25lIn0.WzFd.",                              /* array */
                        "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6IioqKiJ9.", /* not b64 */
                        "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ImRtVnkifQ.c2ln", /* none+sig */
                        "eyJhbGciOiJSUzI1NiJ9.eyJBdHRlc3RhdGlvblBvbGljeSI6ImRtVnkifQ.c2ln", /* no x5c */
                };
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        int r;
                        memset(&d, 0, sizeof(d));
                        r = policy_upload_parse(bad[i], strlen(bad[i]), NULL, false, &u, &d);
                        if (r != -EBADMSG)
                                fail_msg("'%s': %d (%s)", bad[i], r, d.text);
                        assert_true(d.text[0] != 0);
                }
        }
        {
                char *big = malloc(POLICY_UPLOAD_MAX + 2);
                memset(big, 'a', POLICY_UPLOAD_MAX + 1);
                big[POLICY_UPLOAD_MAX + 1] = '\0';
                assert_int_equal(policy_upload_parse(big, strlen(big), NULL, false, &u, &d), -E2BIG);
                free(big);
        }
        sk_X509_free(signers);
}

/* ---- reference values ---- */

static const char ref_text[] =
        "{\"name\": \"contoso-compliant-cvm\",\n"
        " \"sevsnpvm\": {\"x-ms-sevsnpvm-launchmeasurement\": [\"AA11\", \"bb22\"],\n"
        "              \"x-ms-sevsnpvm-is-debuggable\": [false],\n"
        "              \"x-ms-sevsnpvm-snpfw-svn\": {\"min\": 8}},\n"
        " \"azurevm\": {\"secureboot\": [true],\n"
        "             \"pcrs\": {\"4\": [\"4444444444444444444444444444444444444444444444444444444444444444\"]},\n"
        "             \"db\": [\"%s\"]}}";

/* SHA-256 of the bytes "db-contents" and standard base64 of them, unpadded. */
#define DB_B64 "ZGItY29udGVudHM"

static json_object *snp_claims(const char *measurement, bool debug, int svn) {
        json_object *c = json_object_new_object();

        json_object_object_add(c, "x-ms-attestation-type", json_object_new_string("sevsnpvm"));
        json_object_object_add(c, "x-ms-sevsnpvm-launchmeasurement", json_object_new_string(measurement));
        json_object_object_add(c, "x-ms-sevsnpvm-is-debuggable", json_object_new_boolean(debug));
        json_object_object_add(c, "x-ms-sevsnpvm-snpfw-svn", json_object_new_int(svn));
        return c;
}

static json_object *azure_claims(const char *pcr4, const char *db_b64, const char *db_guid) {
        json_object *c = json_object_new_object(), *tee = snp_claims("aa11", false, 8);
        char text[1024];

        json_object_object_add(c, "x-ms-attestation-type", json_object_new_string("azurevm"));
        json_object_object_add(c, "secureboot", json_object_new_boolean(true));
        json_object_object_add(c, "x-ms-isolation-tee", tee);
        (void) snprintf(text, sizeof(text), "{\"PCRs\": [{\"Index\": 4, \"Digests\": {\"SHA256\": \"%s\"}}]}",
                        pcr4);
        json_object_object_add(c, "pcrs", json_tokener_parse(text));
        (void) snprintf(text, sizeof(text),
                        "{\"Events\": [{\"PcrIndex\": 7, \"EventTypeString\": \"EV_EFI_VARIABLE_DRIVER_CONFIG\","
                        " \"ProcessedData\": {\"VariableGuid\": \"%s\", \"UnicodeName\": \"db\","
                        " \"VariableData\": \"%s\"}}]}", db_guid, db_b64);
        json_object_object_add(c, "events", json_tokener_parse(text));
        return c;
}

static const char *status_of(json_object *c) {
        json_object *v;
        return json_object_object_get_ex(c, "x-ms-compliance-status", &v) ? json_object_get_string(v) : NULL;
}

static void test_reference_values(void **state) {
        ReferenceValues *rv = NULL;
        char text[2048], why[200], db_hex[65];
        uint8_t md[32];
        json_object *c, *v;
        Diag d = {};

        SHA256((const uint8_t *) "db-contents", 11, md);
        hex_encode_buf(md, sizeof(md), db_hex);
        (void) snprintf(text, sizeof(text), ref_text, db_hex);
        assert_int_equal(reference_values_parse(text, strlen(text), &rv, &d), 0);

        /* SevSnpVm: every rule holds; hex compared case-insensitively. */
        c = snp_claims("aa11", false, 8);
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_string_equal(status_of(c), "contoso-compliant-cvm");
        assert_string_equal(why, "");
        json_object_put(c);
        c = snp_claims("cc33", false, 8);
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_null(status_of(c));
        assert_non_null(strstr(why, "x-ms-sevsnpvm-launchmeasurement: \"cc33\" is not a reference value"));
        json_object_put(c);
        c = snp_claims("aa11", true, 8);
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_null(status_of(c));
        json_object_put(c);
        c = snp_claims("aa11", false, 7);
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_null(status_of(c));
        assert_non_null(strstr(why, "x-ms-sevsnpvm-snpfw-svn: 7 is below 8"));
        json_object_put(c);

        /* AzureGuest: the TEE, the PCRs, the db measured into PCR 7. */
        c = azure_claims("4444444444444444444444444444444444444444444444444444444444444444", DB_B64,
                         "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_string_equal(status_of(c), "contoso-compliant-cvm");
        assert_true(json_object_object_get_ex(c, "x-ms-isolation-tee", &v));
        assert_string_equal(status_of(v), "contoso-compliant-cvm");
        assert_true(json_object_object_get_ex(c, "x-ms-azurevm-dbvalidated", &v));
        assert_true(json_object_get_boolean(v));
        assert_false(json_object_object_get_ex(c, "x-ms-azurevm-dbxvalidated", NULL));
        assert_false(json_object_object_get_ex(c, "x-ms-azurevm-default-securebootkeysvalidated", NULL));
        json_object_put(c);
        c = azure_claims("5555555555555555555555555555555555555555555555555555555555555555", DB_B64,
                         "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_null(status_of(c));
        assert_string_equal(why, "PCR 4: not a reference value");
        json_object_put(c);
        /* Another db: dbvalidated false, not compliant. */
        c = azure_claims("4444444444444444444444444444444444444444444444444444444444444444",
                         "b3RoZXI", "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_null(status_of(c));
        assert_true(json_object_object_get_ex(c, "x-ms-azurevm-dbvalidated", &v));
        assert_false(json_object_get_boolean(v));
        assert_string_equal(why, "secure boot variable db: not a reference value");
        json_object_put(c);
        /* A variable named db under another GUID is not the db. */
        c = azure_claims("4444444444444444444444444444444444444444444444444444444444444444", DB_B64,
                         "8be4df61-93ca-11d2-aa0d-00e098032b8c");
        assert_int_equal(reference_values_apply(rv, c, why, sizeof(why)), 0);
        assert_null(status_of(c));
        assert_string_equal(why, "secure boot variable db: not in the event log");
        json_object_put(c);
        reference_values_free(rv);

        /* Malformed reference values name what is wrong. */
        {
                static const struct {
                        const char *text, *frag;
                } bad[] = {
                        { "[]", "not a JSON object" },
                        { "{}", "\"name\"" },
                        { "{\"name\": \"x\", \"extra\": 1}", "unknown member \"extra\"" },
                        { "{\"name\": \"x\", \"sevsnpvm\": {\"a\": []}}", "sevsnpvm.a: an empty list" },
                        { "{\"name\": \"x\", \"sevsnpvm\": {\"a\": {\"low\": 1}}}", "only integer" },
                        { "{\"name\": \"x\", \"sevsnpvm\": {\"a\": [1.5]}}", "sevsnpvm.a[0]" },
                        { "{\"name\": \"x\", \"azurevm\": {\"pcrs\": {\"24\": []}}}", "'24' is not a PCR index" },
                        { "{\"name\": \"x\", \"azurevm\": {\"pcrs\": {\"4\": [\"00\"]}}}", "azurevm.pcrs.4[0]: not a SHA-256" },
                        { "{\"name\": \"x\", \"azurevm\": {\"db\": \"00\"}}", "azurevm.db: not a non-empty array" },
                };
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        memset(&d, 0, sizeof(d));
                        assert_int_equal(reference_values_parse(bad[i].text, strlen(bad[i].text), &rv, &d), -EBADMSG);
                        if (!strstr(d.text, bad[i].frag))
                                fail_msg("%s: got '%s'", bad[i].text, d.text);
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conf_parse),
                cmocka_unit_test(test_conf_errors),
                cmocka_unit_test(test_conf_values),
                cmocka_unit_test(test_config_example),
                cmocka_unit_test(test_config_full),
                cmocka_unit_test(test_config_errors),
                cmocka_unit_test(test_keyring),
                cmocka_unit_test(test_policy_upload),
                cmocka_unit_test(test_reference_values),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
