/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key release wire format, both ends: verifier/key-release.c (the request as the service
 * parses it, the token's key-encryption key, the answer's payload) and
 * keyrelease/release-response.c (the answer and error envelope as the agent reads them). The
 * round trip: a payload built for an oct-256 and a PKCS#8 EC key, signed as the service signs
 * it, parsed back by the agent and unwrapped with the KEK's private half, gives the material.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/release-response.h"
#include "verifier/key-release.h"

static EVP_PKEY *kek;    /* the guest's "TPM" key */
static EVP_PKEY *signer; /* the service's signing key */

static int group_setup(void **state) {
        (void) state;
        kek = EVP_RSA_gen(2048);
        signer = EVP_RSA_gen(2048);
        return kek && signer ? 0 : -1;
}

static int group_teardown(void **state) {
        (void) state;
        EVP_PKEY_free(kek);
        EVP_PKEY_free(signer);
        return 0;
}

static int parse_request(const char *text, KeyReleaseRequest *r, Diag *d) {
        *d = (Diag) {};
        return key_release_request_parse(text, strlen(text), r, d);
}

static void test_request(void **state) {
        KeyReleaseRequest r = {};
        Diag d = {};

        (void) state;
        assert_int_equal(parse_request("{\"target\":\"a.b.c\"}", &r, &d), 0);
        assert_string_equal(r.target, "a.b.c");
        assert_int_equal(r.target_size, 5);
        assert_int_equal(r.enc, KEY_WRAP_CKM_RSA_AES); /* Key Vault's default */
        assert_null(r.nonce);
        key_release_request_done(&r);

        assert_int_equal(parse_request("{\"target\":\"t\",\"enc\":\"RSA_AES_KEY_WRAP_384\","
                                       "\"nonce\":\"n-1\",\"other\":[1]}", &r, &d), 0);
        assert_int_equal(r.enc, KEY_WRAP_RSA_AES_384);
        assert_string_equal(r.nonce, "n-1");
        key_release_request_done(&r);

        assert_int_equal(parse_request("{}", &r, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "\"target\""));
        assert_int_equal(parse_request("{\"target\":\"\"}", &r, &d), -EBADMSG);
        assert_int_equal(parse_request("{\"target\":7}", &r, &d), -EBADMSG);
        assert_int_equal(parse_request("[\"target\"]", &r, &d), -EBADMSG);
        assert_int_equal(parse_request("{\"target\":\"a\\u0000b\"}", &r, &d), -EBADMSG);
        assert_int_equal(parse_request("{\"target\":\"t\",\"enc\":\"A256KW\"}", &r, &d),
                         -EPROTONOSUPPORT);
        assert_non_null(strstr(d.text, "\"enc\""));
        assert_int_equal(parse_request("{\"target\":\"t\",\"nonce\":\"\\n\"}", &r, &d), -EBADMSG);
        assert_int_equal(parse_request("{\"target\":\"t\"} x", &r, &d), -EBADMSG);
        {
                /* Over the cap: refused before parsing. */
                size_t n = KEY_RELEASE_BODY_MAX + 1;
                char *big = malloc(n);
                assert_non_null(big);
                memset(big, ' ', n);
                assert_int_equal(key_release_request_parse(big, n, &r, &d), -E2BIG);
                free(big);
        }
}

/* {"x-ms-runtime": {"keys": [...]}} with the given keys. */
static json_object *claims_with(json_object *keys) {
        json_object *c = json_object_new_object(), *rt = json_object_new_object();

        json_add(rt, "keys", keys);
        json_add(c, "x-ms-runtime", rt);
        return c;
}

static json_object *kek_jwk(const char *kid, const char *op) {
        json_object *jwk = NULL, *ops = json_object_new_array();

        assert_int_equal(jwk_from_pkey(kek, kid, &jwk), 0);
        json_object_array_add(ops, json_object_new_string(op));
        json_add(jwk, "key_ops", ops);
        return jwk;
}

static void test_find_kek(void **state) {
        _cleanup_(json_object_putp) json_object *c = NULL;
        json_object *keys;
        EVP_PKEY *k = NULL;
        char *kid = NULL;
        Diag d = {};

        (void) state;
        /* The first key for encryption, not the first key. */
        keys = json_object_new_array();
        json_object_array_add(keys, kek_jwk("HCLAkPub", "sign"));
        json_object_array_add(keys, kek_jwk("TpmEphemeralEncryptionKey", "encrypt"));
        c = claims_with(keys);
        assert_int_equal(key_release_find_kek(c, &k, &kid, &d), 0);
        assert_string_equal(kid, "TpmEphemeralEncryptionKey");
        assert_int_equal(EVP_PKEY_eq(k, kek), 1);
        EVP_PKEY_free(k);
        free(kid);
        json_object_put(c);

        /* None for encryption; none at all. */
        keys = json_object_new_array();
        json_object_array_add(keys, kek_jwk("HCLAkPub", "sign"));
        c = claims_with(keys);
        assert_int_equal(key_release_find_kek(c, &k, &kid, &d), -ENOKEY);
        json_object_put(c);
        c = json_object_new_object();
        assert_int_equal(key_release_find_kek(c, &k, &kid, &d), -ENOKEY);
        json_object_put(c);

        /* The first encryption key is EC: refused, never passed over for a later RSA one. */
        keys = json_object_new_array();
        {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_EC_gen("P-256");
                json_object *jwk = NULL;
                assert_int_equal(jwk_from_pkey(ec, "ec", &jwk), 0);
                json_add_string(jwk, "use", "enc");
                json_object_array_add(keys, jwk);
        }
        json_object_array_add(keys, kek_jwk("rsa", "encrypt"));
        c = claims_with(keys);
        assert_int_equal(key_release_find_kek(c, &k, &kid, &d), -EPROTONOSUPPORT);
}

/* Builds a payload for material, signs it, parses the answer back and unwraps it. */
static void round_trip(KeyType type, const uint8_t *material, size_t size, KeyWrapAlg enc) {
        _cleanup_(json_object_putp) json_object *payload = NULL, *answer = NULL;
        _cleanup_(secret_freep) Secret *m = NULL, *out = NULL;
        _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
        _cleanup_(freep) char *jws = NULL, *kid = NULL;
        KeyReleaseRequest req = { .enc = enc, .nonce = (char *) "n0" };
        KeyReleaseKey key = {
                .url = "https://kv.example/keys/disk/0123456789abcdef0123456789abcdef",
                .type = type,
                .created_usec = UINT64_C(1700000000) * 1000000,
                .policy = "{\"version\":\"1.0.0\",\"anyOf\":[]}",
        };
        json_object *v;
        const char *text;
        Diag d = {};

        assert_int_equal(secret_new(size, &m), 0);
        memcpy(m->data, material, size);
        key.material = m;
        assert_int_equal(key_release_payload(&req, &key, kek, "TpmEphemeralEncryptionKey",
                                             &payload, &d), 0);
        /* Key Vault's shape. */
        assert_true(json_object_object_get_ex(payload, "request", &v));
        assert_string_equal(json_object_get_string(json_object_object_get(v, "enc")),
                            key_wrap_alg_to_string(enc));
        assert_string_equal(json_object_get_string(json_object_object_get(v, "nonce")), "n0");
        v = json_object_object_get(json_object_object_get(payload, "response"), "key");
        assert_non_null(v);
        assert_true(json_object_get_boolean(
                json_object_object_get(json_object_object_get(v, "attributes"), "exportable")));
        {
                json_object *jwk = json_object_object_get(v, "key");
                const char *kty = json_object_get_string(json_object_object_get(jwk, "kty"));

                assert_string_equal(kty, type == KEY_TYPE_OCT_256 ? "oct-HSM" : "EC-HSM");
                assert_string_equal(json_object_get_string(json_object_object_get(jwk, "kid")),
                                    key.url);
                /* Never the private part in the clear. */
                assert_false(json_object_object_get_ex(jwk, "d", NULL));
                if (type == KEY_TYPE_EC_P256)
                        assert_true(json_object_object_get_ex(jwk, "x", NULL));
        }
        {
                _cleanup_(freep) uint8_t *pol = NULL;
                size_t pol_size;
                const char *data = json_object_get_string(json_object_object_get(
                        json_object_object_get(v, "release_policy"), "data"));

                assert_int_equal(base64url_decode(data, strlen(data), 1024, &pol, &pol_size), 0);
                assert_memory_equal(pol, key.policy, strlen(key.policy));
        }

        text = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN);
        assert_int_equal(jws_sign("RS256", signer, "kid1", NULL, NULL, (const uint8_t *) text,
                                  strlen(text), &jws), 0);
        answer = json_object_new_object();
        json_add_string(answer, "value", jws);
        text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN);
        assert_int_equal(release_response_parse(text, strlen(text), &k, &kid, &d), 0);
        assert_string_equal(kid, key.url);
        assert_string_equal(k->kid, "TpmEphemeralEncryptionKey");
        assert_int_equal(k->alg, enc);
        assert_int_equal(key_unwrap(enc, kek, k->ciphertext, k->ciphertext_size, &out, &d), 0);
        assert_int_equal(out->size, size);
        assert_memory_equal(out->data, material, size);
}

static void test_round_trip(void **state) {
        uint8_t oct[32];
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_EC_gen("P-256");
        _cleanup_(freep) uint8_t *der = NULL;
        uint8_t *p;
        int n;

        (void) state;
        assert_int_equal(RAND_bytes(oct, sizeof(oct)), 1);
        for (int enc = 0; enc < _KEY_WRAP_ALG_MAX; enc++)
                round_trip(KEY_TYPE_OCT_256, oct, sizeof(oct), (KeyWrapAlg) enc);
        {
                PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(ec);
                assert_non_null(p8);
                n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
                der = malloc((size_t) n);
                p = der;
                assert_int_equal(i2d_PKCS8_PRIV_KEY_INFO(p8, &p), n);
                PKCS8_PRIV_KEY_INFO_free(p8);
        }
        round_trip(KEY_TYPE_EC_P256, der, (size_t) n, KEY_WRAP_RSA_AES_256);
}

static void test_response_refused(void **state) {
        KeyHsm *k = NULL;
        char code[32], message[64];
        Diag d = {};

        (void) state;
#define BAD(text, want)                                                                      \
        d = (Diag) {};                                                                       \
        assert_int_equal(release_response_parse(text, strlen(text), &k, NULL, &d), want)
        BAD("{}", -EBADMSG);
        BAD("{\"value\":7}", -EBADMSG);
        BAD("{\"value\":\"not a jws\"}", -EBADMSG);
        /* A JWS whose payload ({"a":1}) has no response.key.key. */
        BAD("{\"value\":\"eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln\"}", -EBADMSG);
        assert_non_null(strstr(d.text, "response.key.key"));
#undef BAD
        {
                const char *e = "{\"error\":{\"code\":\"Forbidden\",\"message\":\"no\\u0001way\"}}";
                assert_int_equal(release_error_parse(e, strlen(e), code, sizeof(code), message,
                                                     sizeof(message)), 0);
        }
        assert_string_equal(code, "Forbidden");
        assert_string_equal(message, "no?way");
        assert_int_equal(release_error_parse("{}", 2, code, sizeof(code), message, sizeof(message)),
                         -EBADMSG);
        assert_string_equal(code, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request),
                cmocka_unit_test(test_find_kek),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_response_refused),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
