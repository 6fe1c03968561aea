/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "tests/unit/test-util.h"

/* vectors/README.md §3.5: three real MAA tokens and the (reconstructed) key that signed them. */
#define MAA_DIR "azure/maa-tokens/"
#define MAA_JWKS MAA_DIR "sharedeus2-jwks-reconstructed.json"
#define MAA_PEM MAA_DIR "sharedeus2-signing-key-J0pAPdf.pem"
#define MAA_ISS "https://sharedeus2.eus2.attest.azure.net"
#define MAA_JKU MAA_ISS "/certs"
#define MAA_KID "J0pAPdfXXHqWWimgrH853wMIdh5/fLe1z6uSXYPXCa0="

static const struct {
        const char *file;
        int64_t iat, exp; /* nbf == iat */
} maa_tokens[] = {
        { MAA_DIR "sharedeus2-sevsnpvm-1735604834.jwt", 1735604834, 1735633634 },
        { MAA_DIR "sharedeus2-sevsnpvm-1735604836.jwt", 1735604836, 1735633636 },
        { MAA_DIR "sharedeus2-sevsnpvm-1736697400.jwt", 1736697400, 1736726200 },
};

/* Test keys, made once. */
static EVP_PKEY *rsa_key, *p256_key, *p384_key;

static int setup(void **state) {
        rsa_key = EVP_RSA_gen(2048);
        p256_key = EVP_EC_gen("P-256");
        p384_key = EVP_EC_gen("P-384");
        return rsa_key && p256_key && p384_key ? 0 : -1;
}

static int teardown(void **state) {
        EVP_PKEY_free(rsa_key);
        EVP_PKEY_free(p256_key);
        EVP_PKEY_free(p384_key);
        return 0;
}

static char *read_text(const char *rel, size_t *ret_size) {
        return (char *) test_read_vector(rel, ret_size);
}

static JwsKeySet *maa_keys(void) {
        _cleanup_(freep) char *text = NULL;
        JwsKeySet *ks = NULL;
        Diag d = {};
        size_t n;

        text = read_text(MAA_JWKS, &n);
        assert_int_equal(jws_key_set_from_jwks(text, n, &ks, &d), 0);
        assert_int_equal(jws_key_set_size(ks), 1);
        return ks;
}

/* Parses and verifies tok; the first error. */
static int check(const char *tok, size_t n, const JwsKeySet *ks, const JwsVerifyOptions *o,
                 Diag *d) {
        _cleanup_(jws_freep) Jws *j = NULL;
        int r;

        r = jws_parse(tok, n, &j, d);
        if (r < 0)
                return r;
        return jws_verify(j, ks, o, d);
}

static int check_str(const char *tok, const JwsKeySet *ks, const JwsVerifyOptions *o) {
        Diag d = {};
        int r = check(tok, strlen(tok), ks, o, &d);

        if (r < 0)
                assert_true(d.text[0] != '\0'); /* every failure says why */
        return r;
}

static char *b64(const void *p, size_t n) {
        char *s = NULL;

        assert_int_equal(base64url_encode(p, n, &s), 0);
        return s;
}

/* header.payload.signature from raw parts. */
static char *compact(const char *header, const void *payload, size_t payload_size,
                     const void *sig, size_t sig_size) {
        _cleanup_(freep) char *h = b64(header, strlen(header)), *p = b64(payload, payload_size),
                              *s = b64(sig, sig_size);
        char *out = NULL;

        assert_true(asprintf(&out, "%s.%s.%s", h, p, s) > 0);
        return out;
}

static void test_maa_tokens_verify(void **state) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL, *pem_ks = NULL;
        _cleanup_(freep) uint8_t *pem = NULL;
        size_t pem_size;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        ks = maa_keys();
        assert_non_null(jws_key_set_find(ks, MAA_KID));
        assert_null(jws_key_set_find(ks, "other"));
        pem = test_read_vector(MAA_PEM, &pem_size);
        assert_int_equal(jws_key_set_from_pem(pem, pem_size, NULL, &pem_ks, &d), 0);
        assert_true(pkey_equal(jws_key_set_get(ks, 0)->pkey, jws_key_set_get(pem_ks, 0)->pkey));

        for (size_t i = 0; i < ELEMENTSOF(maa_tokens); i++) {
                _cleanup_(freep) char *tok = NULL;
                _cleanup_(jws_freep) Jws *j = NULL;
                _cleanup_(json_object_putp) json_object *claims = NULL, *h = NULL;
                JwsVerifyOptions o = { .issuer = MAA_ISS, .require_exp = true };
                const JwsKey *k = NULL;
                json_object *v;
                size_t n;

                tok = read_text(maa_tokens[i].file, &n);
                assert_int_equal(jws_parse(tok, n, &j, &d), 0);
                assert_string_equal(j->alg, "RS256");
                assert_string_equal(j->kid, MAA_KID);
                assert_string_equal(j->typ, "JWT");
                assert_int_equal(j->signature_size, 256);

                /* Inside [iat, exp): verifies, with the JWKS and with the PEM key. */
                o.now = maa_tokens[i].iat;
                assert_int_equal(jws_verify_key(j, ks, &o, &k, &d), 0);
                assert_ptr_equal(k, jws_key_set_get(ks, 0));
                o.now = maa_tokens[i].exp - 1;
                assert_int_equal(jws_verify(j, ks, &o, &d), 0);
                assert_int_equal(jws_verify(j, pem_ks, &o, &d), 0);
                o.issuer = MAA_ISS "/"; /* one trailing slash is the same issuer */
                assert_int_equal(jws_verify(j, ks, &o, &d), 0);

                /* Outside it: expired, or not yet valid; the leeway widens the window. */
                o.now = maa_tokens[i].exp;
                d = (Diag) {};
                assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);
                assert_non_null(strstr(d.text, "expired"));
                o.leeway = 60;
                assert_int_equal(jws_verify(j, ks, &o, &d), 0);
                o.now = maa_tokens[i].exp + 60;
                assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);
                o.now = maa_tokens[i].iat - 61;
                assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);
                o.leeway = 0;
                o.now = maa_tokens[i].iat - 1;
                d = (Diag) {};
                assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);
                assert_non_null(strstr(d.text, "nbf"));
                o.now = 1767225600; /* 2026: long expired */
                assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);

                /* Issuers. */
                o.now = maa_tokens[i].iat + 3600;
                o.issuer = "https://sharedeus.eus.attest.azure.net";
                assert_int_equal(jws_verify(j, ks, &o, &d), -EXDEV);
                o.issuer = MAA_ISS "//";
                assert_int_equal(jws_verify(j, ks, &o, &d), -EXDEV);
                o.issuer = "https://SHAREDEUS2.eus2.attest.azure.net";
                assert_int_equal(jws_verify(j, ks, &o, &d), -EXDEV);
                o.issuer = NULL;
                assert_int_equal(jws_verify(j, ks, &o, &d), 0);
                /* An allow-list without RS256. */
                o.algs = (const char *const[]) { "ES256", "PS256", NULL };
                assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYREJECTED);
                o.algs = (const char *const[]) { "RS256", NULL };
                assert_int_equal(jws_verify(j, ks, &o, &d), 0);

                /* The claims README §3.5 states. */
                assert_int_equal(jws_claims(j, &claims, &d), 0);
                assert_true(json_object_object_get_ex(claims, "x-ms-attestation-type", &v));
                assert_string_equal(json_object_get_string(v), "azurevm");
                assert_true(json_object_object_get_ex(claims, "iss", &v));
                assert_string_equal(json_object_get_string(v), MAA_ISS);
                assert_true(json_object_object_get_ex(claims, "exp", &v));
                assert_int_equal(json_object_get_int64(v), maa_tokens[i].exp);
                assert_true(json_object_object_get_ex(claims, "x-ms-isolation-tee", &v));
                assert_true(json_object_object_get_ex(v, "x-ms-attestation-type", &v));
                assert_string_equal(json_object_get_string(v), "sevsnpvm");

                /* Our MAA header is byte for byte MAA's. */
                assert_int_equal(jws_header_maa(NULL, MAA_JKU, MAA_KID, &h), 0);
                {
                        const char *ht = json_object_to_json_string_ext(
                                h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                        _cleanup_(freep) char *hb = b64(ht, strlen(ht));
                        assert_int_equal(strncmp(tok, hb, strlen(hb)), 0);
                        assert_int_equal(tok[strlen(hb)], '.');
                }
        }
}

/* Every single-character change of a real token fails: header, '.', payload and signature. */
static void test_maa_one_byte_changed(void **state) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(freep) char *tok = NULL;
        JwsVerifyOptions o = { .now = maa_tokens[0].iat + 60 };
        size_t n, rejected = 0, malformed = 0;

        SKIP_WITHOUT_VECTORS();
        ks = maa_keys();
        tok = read_text(maa_tokens[0].file, &n);
        assert_int_equal(check(tok, n, ks, &o, NULL), 0);
        for (size_t i = 0; i < n; i++) {
                char saved = tok[i];
                Diag d = {};
                int r;

                tok[i] = saved == 'A' ? 'B' : 'A';
                r = check(tok, n, ks, &o, &d);
                tok[i] = saved;
                if (r >= 0)
                        fail_msg("changing byte %zu ('%c') still verifies", i, saved);
                assert_true(d.text[0] != '\0');
                if (r == -EKEYREJECTED)
                        rejected++;
                else if (r == -EBADMSG)
                        malformed++;
                else if (r != -EPROTONOSUPPORT && r != -ENOKEY)
                        fail_msg("byte %zu: unexpected %d (%s)", i, r, d.text);
        }
        /* Most changes leave a well-formed token with a wrong signature. */
        assert_true(rejected > n / 2);
        assert_true(malformed > 0);
        /* Appended or removed bytes. */
        assert_true(check(tok, n - 1, ks, &o, NULL) < 0);
        tok[n] = 'A';
        assert_true(check(tok, n + 1, ks, &o, NULL) < 0);
}

static void test_alg_none_and_hmac_confusion(void **state) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(freep) char *tok = NULL, *none = NULL, *none2 = NULL, *hs = NULL, *hs2 = NULL;
        _cleanup_(freep) uint8_t *pem = NULL, *payload = NULL, *nbytes = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        JwsVerifyOptions o = { .now = maa_tokens[0].iat + 60 };
        uint8_t mac[32];
        unsigned mac_size = sizeof(mac);
        const char *hs_header = "{\"alg\":\"HS256\",\"jku\":\"" MAA_JKU "\",\"kid\":\"" MAA_KID
                                "\",\"typ\":\"JWT\"}";
        size_t n, pem_size, nsize;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        ks = maa_keys();
        tok = read_text(maa_tokens[0].file, &n);
        assert_int_equal(jws_parse(tok, n, &j, &d), 0);
        payload = malloc(j->payload_size);
        assert_non_null(payload);
        memcpy(payload, j->payload, j->payload_size);

        /* alg none, with an empty signature and with the real one. */
        none = compact("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, j->payload_size, "", 0);
        assert_int_equal(check_str(none, ks, &o), -EKEYREJECTED);
        none2 = compact("{\"alg\":\"none\",\"kid\":\"" MAA_KID "\"}", payload, j->payload_size,
                        j->signature, j->signature_size);
        assert_int_equal(check_str(none2, ks, &o), -EKEYREJECTED);
        o.algs = (const char *const[]) { "none", "HS256", "RS256", NULL };
        assert_int_equal(check_str(none, ks, &o), -EKEYREJECTED);
        o.algs = NULL;

        /* HS256 keyed with the RSA public key: as PEM text, and as the modulus bytes. */
        pem = test_read_vector(MAA_PEM, &pem_size);
        {
                _cleanup_(freep) char *h64 = b64(hs_header, strlen(hs_header)),
                                      *p64 = b64(payload, j->payload_size), *input = NULL;
                assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
                assert_non_null(HMAC(EVP_sha256(), pem, (int) pem_size, (uint8_t *) input,
                                     strlen(input), mac, &mac_size));
                hs = compact(hs_header, payload, j->payload_size, mac, mac_size);
                assert_int_equal(check_str(hs, ks, &o), -EKEYREJECTED);

                assert_true(EVP_PKEY_get_bn_param(jws_key_set_get(ks, 0)->pkey, "n", &bn));
                nsize = (size_t) BN_num_bytes(bn);
                nbytes = malloc(nsize);
                assert_non_null(nbytes);
                BN_bn2bin(bn, nbytes);
                assert_non_null(HMAC(EVP_sha256(), nbytes, (int) nsize, (uint8_t *) input,
                                     strlen(input), mac, &mac_size));
                hs2 = compact(hs_header, payload, j->payload_size, mac, mac_size);
                d = (Diag) {};
                assert_int_equal(check(hs2, strlen(hs2), ks, &o, &d), -EKEYREJECTED);
                assert_non_null(strstr(d.text, "HS256"));
        }
        /* A JWKS with an HMAC ("oct") key gives no usable key at all. */
        {
                static const char oct[] =
                        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}";
                JwsKeySet *bad = NULL;
                assert_int_equal(jws_key_set_from_jwks(oct, strlen(oct), &bad, &d), -ENOKEY);
                assert_null(bad);
        }
}

static void test_unknown_kid(void **state) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(freep) char *tvm = NULL, *tok = NULL, *other = NULL, *nokid = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        JwsVerifyOptions o = { .now = 1649979780 + 60 };
        size_t n;
        Diag d = {};

        SKIP_WITHOUT_VECTORS();
        ks = maa_keys();
        /* A real token signed by another MAA key (kid rj/Uuo...). */
        tvm = read_text("azure/cvm-guest-attestation/maa-token-sharedeus2-tvm.jwt", &n);
        assert_int_equal(check(tvm, n, ks, &o, &d), -ENOKEY);
        assert_non_null(strstr(d.text, "rj/Uuo"));

        /* The real token with its kid changed (the signature no longer matters). */
        tok = read_text(maa_tokens[0].file, &n);
        assert_int_equal(jws_parse(tok, n, &j, &d), 0);
        other = compact("{\"alg\":\"RS256\",\"kid\":\"nope\",\"typ\":\"JWT\"}", j->payload,
                        j->payload_size, j->signature, j->signature_size);
        o.now = maa_tokens[0].iat + 60;
        assert_int_equal(check_str(other, ks, &o), -ENOKEY);
        /* Without a kid every key is tried: the header changed, so the signature fails. */
        nokid = compact("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", j->payload, j->payload_size,
                        j->signature, j->signature_size);
        assert_int_equal(check_str(nokid, ks, &o), -EKEYREJECTED);
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "",
                "abc",
                "eyJhbGciOiJSUzI1NiJ9.e30",                /* two parts */
                "eyJhbGciOiJSUzI1NiJ9.e30.AA.AA",          /* four parts */
                "..",                                      /* empty header */
                ".e30.AA",
                "eyJhbGciOiJSUzI1NiJ9=.e30.AA",            /* padding */
                "eyJhbGciOiJSUzI1NiJ9.e30=.AA",
                "eyJhbGciOiJSUzI1NiJ9.e30.AA==",
                "eyJhbGciOiJSUzI1NiJ9.e+0.AA",             /* standard alphabet */
                "eyJhbGciOiJSUzI1NiJ9.e30.A/",
                "eyJhbGciOiJSUzI1NiJ9 .e30.AA",            /* white space */
                "eyJhbGciOiJSUzI1NiJ9.e30.A",              /* 1 mod 4 */
                "eyJhbGciOiJSUzI1NiJ9.e30.AB",             /* non-canonical last char */
                "bm90IGpzb24.e30.AA",                      /* header "not json" */
                "WyJSUzI1NiJd.e30.AA",                     /* header ["RS256"] */
                "e30.e30.AA",                              /* header {} : no alg */
                "eyJhbGciOjI1Nn0.e30.AA",                  /* {"alg":256} */
                "eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.AA",  /* {"alg":"RS256","kid":1} */
                "eyJhbGciOiJSUzI1NiJ9IA.e30.AA",           /* {"alg":"RS256"} + space: ok */
                "eyJhbGciOiJSUzI1NiIsfQ.e30.AA",           /* {"alg":"RS256",} */
                "eyJhbGciOiJSUzI1NiJ9eA.e30.AA",           /* trailing garbage 'x' */
        };
        JwsVerifyOptions o = { .now = 1735604834 };
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        Jws *j = NULL;
        Diag d = {};

        assert_int_equal(jws_key_set_new(&ks), 0);
        assert_int_equal(jws_key_set_add(ks, rsa_key, "k", NULL, &d), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r;

                d = (Diag) {};
                r = jws_parse(bad[i], strlen(bad[i]), &j, &d);
                if (strstr(bad[i], "IA.e30")) { /* the one well-formed one */
                        assert_int_equal(r, 0);
                        /* Payload {} parses; the 1-byte signature is simply wrong. */
                        assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYREJECTED);
                        j = jws_free(j);
                        continue;
                }
                if (r != -EBADMSG)
                        fail_msg("'%s': %d, expected -EBADMSG", bad[i], r);
                assert_null(j);
                assert_true(d.text[0] != '\0');
        }
        /* A NUL inside. */
        assert_int_equal(jws_parse("eyJhbGciOiJSUzI1NiJ9.e\0.AA", 25, &j, &d), -EBADMSG);
        /* b64: false (RFC 7797). */
        {
                static const char b64false[] = "eyJhbGciOiJSUzI1NiIsImI2NCI6ZmFsc2V9.e30.AA";
                assert_int_equal(jws_parse(b64false, strlen(b64false), &j, &d), -EPROTONOSUPPORT);
        }
}

static void test_oversized(void **state) {
        _cleanup_(freep) char *big = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        size_t n = JWS_MAX_SIZE + 1;
        Diag d = {};

        big = malloc(n);
        assert_non_null(big);
        memset(big, 'A', n);
        big[100] = '.';
        big[200] = '.';
        assert_int_equal(jws_parse(big, n, &j, &d), -E2BIG);
        assert_null(j);
        /* Just under the cap, the same shape parses as far as the header. */
        assert_int_equal(jws_parse(big, n - 2, &j, &d), -EBADMSG);
}

/* Signs with alg and key, then verifies with a set holding the public key under kid. */
static void round_trip(const char *alg, EVP_PKEY *key, size_t want_sig_size) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(freep) char *tok = NULL, *tok2 = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(json_object_putp) json_object *claims = NULL, *extra = NULL;
        const char *payload = "{\"iss\":\"https://v.example/\",\"iat\":1000,\"nbf\":1000,"
                              "\"exp\":2000,\"x-ms-attestation-type\":\"sevsnpvm\"}";
        JwsVerifyOptions o = { .now = 1500, .issuer = "https://v.example", .require_exp = true };
        json_object *v;
        Diag d = {};

        assert_int_equal(jws_sign(alg, key, "kid-1", "https://v.example/certs", NULL,
                                  (const uint8_t *) payload, strlen(payload), &tok), 0);
        assert_int_equal(jws_parse(tok, strlen(tok), &j, &d), 0);
        assert_string_equal(j->alg, alg ?: "RS256");
        assert_string_equal(j->kid, "kid-1");
        assert_string_equal(j->typ, "JWT");
        assert_int_equal(j->signature_size, want_sig_size);
        assert_memory_equal(j->payload, payload, strlen(payload));
        assert_int_equal(jws_key_set_new(&ks), 0);
        assert_int_equal(jws_key_set_add(ks, key, "kid-1", NULL, &d), 0);
        assert_int_equal(jws_verify(j, ks, &o, &d), 0);
        assert_int_equal(jws_claims(j, &claims, &d), 0);
        assert_true(json_object_object_get_ex(claims, "x-ms-attestation-type", &v));
        o.now = 2000;
        assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);
        o.now = 999;
        assert_int_equal(jws_verify(j, ks, &o, &d), -EKEYEXPIRED);

        /* Extra header members; "alg"/"kid"/"jku" may not be overridden. */
        extra = json_object_new_object();
        assert_int_equal(json_add_string(extra, "cty", "x"), 0);
        assert_int_equal(jws_sign(alg, key, NULL, NULL, extra, (const uint8_t *) "", 0, &tok2), 0);
        free(tok2);
        tok2 = NULL;
        assert_int_equal(json_add_string(extra, "alg", "none"), 0);
        assert_int_equal(jws_sign(alg, key, NULL, NULL, extra, (const uint8_t *) "", 0, &tok2),
                         -EINVAL);
        assert_null(tok2);
}

static void test_round_trips(void **state) {
        round_trip(NULL, rsa_key, 256); /* default: RS256 */
        round_trip("RS256", rsa_key, 256);
        round_trip("PS256", rsa_key, 256);
        round_trip("ES256", p256_key, 64);
        round_trip("ES384", p384_key, 96);
}

static void test_sign_refuses(void **state) {
        char *tok = NULL;

        assert_int_equal(jws_sign("HS256", rsa_key, NULL, NULL, NULL, NULL, 0, &tok),
                         -EPROTONOSUPPORT);
        assert_int_equal(jws_sign("none", rsa_key, NULL, NULL, NULL, NULL, 0, &tok),
                         -EPROTONOSUPPORT);
        assert_int_equal(jws_sign("ES256", rsa_key, NULL, NULL, NULL, NULL, 0, &tok), -EINVAL);
        assert_int_equal(jws_sign("ES256", p384_key, NULL, NULL, NULL, NULL, 0, &tok), -EINVAL);
        assert_int_equal(jws_sign("RS256", p256_key, NULL, NULL, NULL, NULL, 0, &tok), -EINVAL);
        assert_null(tok);
}

/* Tokens whose alg does not fit the key the kid names. */
static void test_key_type_confusion(void **state) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(freep) char *es = NULL, *rs = NULL, *forged = NULL, *ps = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        JwsVerifyOptions o = { .now = 1 };
        Diag d = {};

        assert_int_equal(jws_key_set_new(&ks), 0);
        assert_int_equal(jws_key_set_add(ks, rsa_key, "rsa", NULL, &d), 0);
        assert_int_equal(jws_key_set_add(ks, p256_key, "ec", NULL, &d), 0);
        assert_int_equal(jws_key_set_add(ks, p384_key, "ec", NULL, &d), -EEXIST);
        assert_int_equal(jws_sign("ES256", p256_key, "rsa", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &es), 0);
        d = (Diag) {};
        assert_int_equal(check(es, strlen(es), ks, &o, &d), -EKEYREJECTED);
        assert_non_null(strstr(d.text, "EC P-256"));
        assert_int_equal(jws_sign("RS256", rsa_key, "ec", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &rs), 0);
        assert_int_equal(check_str(rs, ks, &o), -EKEYREJECTED);
        /* An ES384 header over a P-256 key's signature. */
        assert_int_equal(jws_sign("ES256", p256_key, "ec", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &forged), 0);
        assert_int_equal(check_str(forged, ks, &o), 0);
        assert_int_equal(jws_parse(forged, strlen(forged), &j, &d), 0);
        {
                _cleanup_(freep) char *t = compact("{\"alg\":\"ES384\",\"kid\":\"ec\"}", "{}", 2,
                                                   j->signature, j->signature_size);
                assert_int_equal(check_str(t, ks, &o), -EKEYREJECTED);
        }
        /* A DER ECDSA signature instead of R||S. */
        {
                _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es_sig = ECDSA_SIG_new();
                _cleanup_(freep) uint8_t *der = NULL;
                _cleanup_(freep) char *t = NULL;
                BIGNUM *r = BN_bin2bn(j->signature, 32, NULL), *s = BN_bin2bn(j->signature + 32,
                                                                              32, NULL);
                int der_size;

                assert_true(ECDSA_SIG_set0(es_sig, r, s));
                der_size = i2d_ECDSA_SIG(es_sig, &der);
                assert_true(der_size > 0);
                t = compact("{\"alg\":\"ES256\",\"kid\":\"ec\"}", "{}", 2, der, (size_t) der_size);
                assert_int_equal(check_str(t, ks, &o), -EKEYREJECTED);
        }
        /* PS256 and RS256 are not interchangeable. */
        assert_int_equal(jws_sign("PS256", rsa_key, "rsa", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &ps), 0);
        {
                _cleanup_(jws_freep) Jws *pj = NULL;
                _cleanup_(freep) char *t = NULL;

                assert_int_equal(check_str(ps, ks, &o), 0);
                assert_int_equal(jws_parse(ps, strlen(ps), &pj, &d), 0);
                t = compact("{\"alg\":\"RS256\",\"kid\":\"rsa\"}", "{}", 2, pj->signature,
                            pj->signature_size);
                assert_int_equal(check_str(t, ks, &o), -EKEYREJECTED);
        }
}

static void test_crit_and_claims(void **state) {
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        JwsVerifyOptions o = { .now = 1000, .leeway = 30 };
        Diag d = {};
        static const struct {
                const char *extra, *payload;
                int want;
        } cases[] = {
                { "{\"crit\":[\"exp\"],\"exp\":1}", "{}", -EPROTONOSUPPORT },
                { "{\"crit\":[\"alg\"]}", "{}", -EBADMSG },
                { "{\"crit\":[]}", "{}", -EBADMSG },
                { "{\"crit\":\"x\"}", "{}", -EBADMSG },
                { "{\"crit\":[\"missing\"]}", "{}", -EBADMSG },
                { "{}", "{\"iat\":1029}", 0 },                 /* within the leeway */
                { "{}", "{\"iat\":1031}", -EKEYEXPIRED },      /* issued in the future */
                { "{}", "{\"nbf\":1030,\"exp\":1100}", 0 },
                { "{}", "{\"nbf\":1031}", -EKEYEXPIRED },
                { "{}", "{\"exp\":971}", 0 },
                { "{}", "{\"exp\":970}", -EKEYEXPIRED },
                { "{}", "{\"exp\":1000.5}", 0 },
                { "{}", "{\"exp\":\"2000\"}", -EBADMSG },
                { "{}", "{\"nbf\":true}", -EBADMSG },
                { "{}", "{\"exp\":1e300}", -EBADMSG },
                { "{}", "{\"exp\":9223372036854775807,\"nbf\":-9223372036854775807}", 0 },
                { "{}", "{\"iss\":5}", -EBADMSG },
                { "{}", "[1,2]", -EBADMSG },                   /* not a claims set */
                { "{}", "not json", -EBADMSG },
                { "{}", "{\"a\":1,}", -EBADMSG },
        };

        assert_int_equal(jws_key_set_new(&ks), 0);
        assert_int_equal(jws_key_set_add(ks, p256_key, NULL, NULL, &d), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_object_putp) json_object *extra = NULL;
                _cleanup_(freep) char *tok = NULL;
                int r;

                assert_int_equal(json_parse_capped(cases[i].extra, strlen(cases[i].extra), 4096,
                                                   8, &extra), 0);
                assert_int_equal(jws_sign("ES256", p256_key, "any", NULL, extra,
                                          (const uint8_t *) cases[i].payload,
                                          strlen(cases[i].payload), &tok), 0);
                r = check_str(tok, ks, &o);
                if (r != cases[i].want)
                        fail_msg("case %zu (%s / %s): %d, expected %d", i, cases[i].extra,
                                 cases[i].payload, r, cases[i].want);
        }
        /* A plain JWS (not JWT) only when asked for; an issuer then still needs claims. */
        {
                _cleanup_(freep) char *tok = NULL;

                assert_int_equal(jws_sign("ES256", p256_key, NULL, NULL, NULL,
                                          (const uint8_t *) "\x01\x02", 2, &tok), 0);
                assert_int_equal(check_str(tok, ks, &o), -EBADMSG);
                o.allow_non_jwt = true;
                assert_int_equal(check_str(tok, ks, &o), 0);
                o.issuer = "x";
                assert_int_equal(check_str(tok, ks, &o), -EBADMSG);
                o.issuer = NULL;
                o.require_exp = true;
                assert_int_equal(check_str(tok, ks, &o), -EBADMSG);
        }
        /* require_exp; missing iss with an expected issuer. */
        {
                _cleanup_(freep) char *tok = NULL;

                assert_int_equal(jws_sign("ES256", p256_key, NULL, NULL, NULL,
                                          (const uint8_t *) "{}", 2, &tok), 0);
                o.allow_non_jwt = false;
                assert_int_equal(check_str(tok, ks, &o), -EBADMSG);
                o.require_exp = false;
                assert_int_equal(check_str(tok, ks, &o), 0);
                o.issuer = "https://a";
                assert_int_equal(check_str(tok, ks, &o), -EXDEV);
        }
}

static X509 *self_signed(EVP_PKEY *key) {
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();

        assert_non_null(x);
        assert_non_null(name);
        assert_true(X509_set_version(x, 2));
        assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
        assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                               (const uint8_t *) "test signer", -1, -1, 0));
        assert_true(X509_set_subject_name(x, name));
        assert_true(X509_set_issuer_name(x, name));
        X509_NAME_free(name);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
        assert_true(X509_set_pubkey(x, key));
        assert_true(X509_sign(x, key, EVP_sha256()) > 0);
        return x;
}

/* A standard base64 (not base64url) DER certificate, as x5c carries them. */
static char *x5c_b64(X509 *x) {
        _cleanup_(freep) uint8_t *der = NULL;
        char *s;
        int n = i2d_X509(x, &der);

        assert_true(n > 0);
        s = b64(der, (size_t) n);
        for (char *p = s; *p; p++)
                *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
        return s;
}

static int jwks(const char *text, JwsKeySet **ret) {
        Diag d = {};
        int r = jws_key_set_from_jwks(text, strlen(text), ret, &d);

        if (r < 0)
                assert_true(d.text[0] != '\0');
        return r;
}

static void test_jwks(void **state) {
        _cleanup_(X509_freep) X509 *ec_cert = self_signed(p256_key),
                                    *rsa_cert = self_signed(rsa_key);
        _cleanup_(freep) char *ec_x5c = x5c_b64(ec_cert), *rsa_x5c = x5c_b64(rsa_cert);
        _cleanup_(json_object_putp) json_object *ec_jwk = NULL, *rsa_jwk = NULL;
        _cleanup_(freep) char *text = NULL, *tok = NULL;
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        JwsKeySet *bad = NULL;
        JwsVerifyOptions o = { .now = 1 };
        const JwsKey *k;
        Diag d = {};

        assert_int_equal(jwk_from_pkey(p256_key, "ec-1", &ec_jwk), 0);
        assert_int_equal(jwk_from_pkey(rsa_key, "rsa-1", &rsa_jwk), 0);

        /* MAA's shape: kty, kid, x5c only (with "use" and "alg"); plus a plain EC JWK, an
         * encryption key and an HMAC key, both skipped. */
        assert_true(asprintf(&text,
                             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"maa\",\"use\":\"sig\","
                             "\"alg\":\"RS256\",\"x5c\":[\"%s\",\"%s\"]},%s,"
                             "{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"AQAB\","
                             "\"e\":\"AQAB\"},{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
                             rsa_x5c, ec_x5c,
                             json_object_to_json_string_ext(ec_jwk, JSON_C_TO_STRING_PLAIN)) > 0);
        assert_int_equal(jwks(text, &ks), 0);
        assert_int_equal(jws_key_set_size(ks), 2);
        k = jws_key_set_find(ks, "maa");
        assert_non_null(k);
        assert_string_equal(k->alg, "RS256");
        assert_non_null(k->x5c);
        assert_int_equal(sk_X509_num(k->x5c), 2); /* kept for the caller */
        assert_int_equal(X509_cmp(sk_X509_value(k->x5c, 1), ec_cert), 0);
        assert_true(pkey_equal(k->pkey, rsa_key));
        assert_null(jws_key_set_find(ks, "enc"));
        assert_non_null(jws_key_set_find(ks, "ec-1"));
        assert_null(jws_key_set_find(ks, "ec-1")->x5c);

        assert_int_equal(jws_sign("RS256", rsa_key, "maa", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &tok), 0);
        assert_int_equal(check_str(tok, ks, &o), 0);
        free(tok);
        /* The JWK says RS256 only. */
        assert_int_equal(jws_sign("PS256", rsa_key, "maa", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &tok), 0);
        assert_int_equal(check_str(tok, ks, &o), -EKEYREJECTED);
        free(tok);
        assert_int_equal(jws_sign("ES256", p256_key, "ec-1", NULL, NULL, (const uint8_t *) "{}",
                                  2, &tok), 0);
        assert_int_equal(check_str(tok, ks, &o), 0);
        free(tok);
        tok = NULL;
        free(text);

        /* x5c whose leaf holds another key than n/e. */
        {
                json_object *n, *e;
                assert_true(json_object_object_get_ex(rsa_jwk, "n", &n));
                assert_true(json_object_object_get_ex(rsa_jwk, "e", &e));
                _cleanup_(X509_freep) X509 *p384_cert = self_signed(p384_key);
                _cleanup_(freep) char *p384_x5c = x5c_b64(p384_cert);
                json_object *x, *y;

                assert_true(json_object_object_get_ex(ec_jwk, "x", &x));
                assert_true(json_object_object_get_ex(ec_jwk, "y", &y));
                assert_true(asprintf(&text, "{\"keys\":[{\"kty\":\"EC\",\"x5c\":[\"%s\"],"
                                     "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", p384_x5c,
                                     json_object_get_string(x), json_object_get_string(y)) > 0);
                assert_int_equal(jwks(text, &bad), -EBADMSG); /* P-384 leaf, P-256 x/y */
                free(text);
                assert_true(asprintf(&text, "{\"keys\":[{\"kty\":\"EC\",\"x5c\":[\"%s\"],"
                                     "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", ec_x5c,
                                     json_object_get_string(x), json_object_get_string(y)) > 0);
                assert_int_equal(jwks(text, &bad), 0); /* matching leaf and x/y */
                bad = jws_key_set_free(bad);
                free(text);
                assert_true(asprintf(&text, "{\"keys\":[{\"kty\":\"RSA\",\"x5c\":[\"%s\"],"
                                     "\"n\":\"%s\",\"e\":\"%s\"}]}", ec_x5c,
                                     json_object_get_string(n), json_object_get_string(e)) > 0);
                assert_int_equal(jwks(text, &bad), -EBADMSG); /* EC leaf, kty RSA */
                free(text);
                text = NULL;
        }
        assert_null(bad);

        /* Malformed documents and caps. */
        assert_int_equal(jwks("", &bad), -EBADMSG);
        assert_int_equal(jwks("[]", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":{}}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[]}", &bad), -ENOKEY);
        assert_int_equal(jwks("{\"keys\":[1]}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{}]}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{\"kty\":\"RSA\"}]}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{\"kty\":\"RSA\",\"x5c\":[]}]}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{\"kty\":\"RSA\",\"x5c\":[\"AAAA\"]}]}", &bad),
                         -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{\"kty\":\"RSA\",\"x5c\":[\"!!\"]}]}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\","
                              "\"y\":\"AA\"}]}", &bad), -EBADMSG);
        assert_int_equal(jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}",
                              &bad), -ENOKEY);
        {
                _cleanup_(freep) char *many = NULL, *dup = NULL;
                const char *one = json_object_to_json_string_ext(ec_jwk, JSON_C_TO_STRING_PLAIN);
                size_t len = strlen(one), o2 = 0;

                many = malloc(16 + (JWS_KEYS_MAX + 1) * (len + 1));
                assert_non_null(many);
                o2 += (size_t) snprintf(many, 16, "{\"keys\":[");
                for (size_t i = 0; i <= JWS_KEYS_MAX; i++) {
                        memcpy(many + o2, one, len);
                        o2 += len;
                        many[o2++] = i == JWS_KEYS_MAX ? ']' : ',';
                }
                many[o2++] = '}';
                many[o2] = '\0';
                assert_int_equal(jwks(many, &bad), -E2BIG);
                assert_true(asprintf(&dup, "{\"keys\":[%s,%s]}", one, one) > 0);
                assert_int_equal(jwks(dup, &bad), -EBADMSG); /* the same kid twice */
        }
        {
                _cleanup_(freep) char *huge = malloc(JWKS_MAX_SIZE + 2);
                assert_non_null(huge);
                memset(huge, ' ', JWKS_MAX_SIZE + 1);
                huge[JWKS_MAX_SIZE + 1] = '\0';
                assert_int_equal(jwks(huge, &bad), -E2BIG);
        }
        assert_null(bad);
        ERR_clear_error();
        (void) d;
}

static void test_pem_keys(void **state) {
        _cleanup_(X509_freep) X509 *cert = self_signed(p384_key);
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
        _cleanup_(freep) char *tok = NULL;
        JwsVerifyOptions o = { .now = 1 };
        JwsKeySet *bad = NULL;
        char *pem;
        long n;
        Diag d = {};

        assert_true(PEM_write_bio_X509(bio, cert));
        n = BIO_get_mem_data(bio, &pem);
        assert_int_equal(jws_key_set_from_pem((uint8_t *) pem, (size_t) n, "c", &ks, &d), 0);
        assert_non_null(jws_key_set_find(ks, "c")->x5c);
        assert_int_equal(jws_sign("ES384", p384_key, "c", NULL, NULL, (const uint8_t *) "{}", 2,
                                  &tok), 0);
        assert_int_equal(check_str(tok, ks, &o), 0);
        assert_int_equal(jws_key_set_from_pem((const uint8_t *) "junk", 4, NULL, &bad, &d),
                         -EBADMSG);
        assert_null(bad);
}

static void test_small_rsa_refused(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *small = EVP_RSA_gen(1024);
        _cleanup_(jws_key_set_freep) JwsKeySet *ks = NULL;
        char *tok = NULL;
        Diag d = {};

        assert_non_null(small);
        assert_int_equal(jws_key_set_new(&ks), 0);
        assert_int_equal(jws_key_set_add(ks, small, "s", NULL, &d), -EPROTONOSUPPORT);
        assert_int_equal(jws_key_set_size(ks), 0);
        assert_int_equal(jws_sign("RS256", small, NULL, NULL, NULL, NULL, 0, &tok), -EINVAL);
        for (size_t i = 0; i < JWS_KEYS_MAX; i++) {
                char kid[16];
                (void) snprintf(kid, sizeof(kid), "k%zu", i);
                assert_int_equal(jws_key_set_add(ks, p256_key, kid, NULL, &d), 0);
        }
        assert_int_equal(jws_key_set_add(ks, p256_key, "one-more", NULL, &d), -E2BIG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_maa_tokens_verify),
                cmocka_unit_test(test_maa_one_byte_changed),
                cmocka_unit_test(test_alg_none_and_hmac_confusion),
                cmocka_unit_test(test_unknown_kid),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_round_trips),
                cmocka_unit_test(test_sign_refuses),
                cmocka_unit_test(test_key_type_confusion),
                cmocka_unit_test(test_crit_and_claims),
                cmocka_unit_test(test_jwks),
                cmocka_unit_test(test_pem_keys),
                cmocka_unit_test(test_small_rsa_refused),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
