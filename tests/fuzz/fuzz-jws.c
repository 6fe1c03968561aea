/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: JWS/JWT tokens and JWKS documents (common/jws.c). Every input is tried three ways:
 *  1. as a compact JWS (trailing white space stripped, as `check token` does): jws_parse, then
 *     jws_verify against a fixed key set (MAA's sharedeus2 RSA key under its kid, a P-256 key
 *     under "ec", a kid-less P-384 key) at a time inside the real MAA tokens' validity, with and
 *     without an issuer, and jws_claims;
 *  2. as a JWKS document (jws_key_set_from_jwks) and a PEM key (jws_key_set_from_pem), then a
 *     token signed at start-up verified against what parsed;
 *  3. as the payload of a token we sign (ES256): it must parse back and never fail its signature,
 *     so nbf/exp/iat/iss handling sees arbitrary claims.
 */
#include <openssl/err.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "tests/fuzz/fuzz.h"

/* The public key of MAA sharedeus2 (vectors README §3.5), as its JWKS serves it, plus kid. */
#define MAA_KID "J0pAPdfXXHqWWimgrH853wMIdh5/fLe1z6uSXYPXCa0="
static const char maa_jwks[] =
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"" MAA_KID "\",\"e\":\"AQAB\",\"n\":\""
        "2NBrEQdwXUzVy2p-SZ7sBjxbVd4iTGNEQJu_Ot_C0NCzXIDT6DMEAeVZLSoWWcW6oXQ81h-yQWtw-jFW_SPgG4FG"
        "SL1UnVO8Zak80thovQk0dbZDo-9lsoOnOfXfPUL0T9AgHtqJpUr3tCfyRRLdC0MgF1tAyjZbMj8bHe2ZmJ9GLTJT"
        "5v9E0i5l3S4WZY52vMzZaVpfxw-0_s5tRzcoPGqIrMOnX_7kv5j7sisqZKNq6fP-4MHvLb_tXyHCkW6FzX8mUlwy"
        "RNzBP3R4xaXBvykzJMaAiCW_Yr_TxycdnmwsTR7he1Q78q12KnYqLvUVjg_v39_RWGSbFnaP1YX5Hw\"}]}";
#define MAA_ISS "https://sharedeus2.eus2.attest.azure.net"
#define NOW 1735610000 /* 2024-12-31T01:53:20Z: inside the first two real tokens' validity */

static JwsKeySet *keys;
static EVP_PKEY *ec_key;
static char *ec_token; /* signed by ec_key under kid "ec" */

static void init(void) {
        EVP_PKEY *p384 = NULL;
        Diag diag = {};

        if (keys)
                return;
        ec_key = EVP_EC_gen("P-256");
        p384 = EVP_EC_gen("P-384");
        if (!ec_key || !p384 ||
            jws_key_set_from_jwks(maa_jwks, strlen(maa_jwks), &keys, &diag) < 0 ||
            jws_key_set_add(keys, ec_key, "ec", NULL, &diag) < 0 ||
            jws_key_set_add(keys, p384, NULL, NULL, &diag) < 0 ||
            jws_sign("ES256", ec_key, "ec", NULL, NULL, (const uint8_t *) "{\"exp\":2e9}", 11,
                     &ec_token) < 0)
                abort();
        EVP_PKEY_free(p384);
}

static void try_token(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        JwsVerifyOptions o = { .now = NOW, .leeway = 60 };
        const JwsKey *k = NULL;
        Diag diag = {};
        int r, rc;

        while (size > 0 && strchr(" \t\r\n", data[size - 1]))
                size--;
        r = jws_parse((const char *) data, size, &j, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0)
                return;
        if (!j->alg || !j->header || !json_object_is_type(j->header, json_type_object) ||
            j->signing_input_size >= size || memcmp(j->signing_input, data, j->signing_input_size))
                abort();
        rc = jws_claims(j, &claims, &diag);
        r = jws_verify_key(j, keys, &o, &k, &diag);
        fuzz_consume(strlen(diag.text));
        /* Success means a key of the set verified, and a JWT claims set. */
        if (r >= 0 && (!k || rc < 0))
                abort();
        o.issuer = MAA_ISS "/";
        o.require_exp = true;
        r = jws_verify(j, keys, &o, &diag);
        fuzz_consume((uint64_t) r);
}

static void try_keys(const uint8_t *data, size_t size) {
        _cleanup_(jws_key_set_freep) JwsKeySet *set = NULL, *pem = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        JwsVerifyOptions o = { .now = NOW };
        Diag diag = {};
        int r;

        r = jws_key_set_from_jwks((const char *) data, size, &set, &diag);
        fuzz_consume(strlen(diag.text));
        if (r >= 0) {
                size_t n = jws_key_set_size(set);

                if (n == 0 || n > JWS_KEYS_MAX)
                        abort();
                for (size_t i = 0; i < n; i++) {
                        const JwsKey *key = jws_key_set_get(set, i);
                        if (!key || !key->pkey ||
                            (key->x5c && (sk_X509_num(key->x5c) < 1 ||
                                          sk_X509_num(key->x5c) > (int) JWS_X5C_MAX)) ||
                            (key->kid && jws_key_set_find(set, key->kid) != key))
                                abort();
                }
                if (jws_parse(ec_token, strlen(ec_token), &j, &diag) < 0)
                        abort();
                fuzz_consume((uint64_t) jws_verify(j, set, &o, &diag));
        }
        r = jws_key_set_from_pem(data, size, NULL, &pem, &diag);
        if (r >= 0 && jws_key_set_size(pem) != 1)
                abort();
        ERR_clear_error();
}

static void try_payload(const uint8_t *data, size_t size) {
        _cleanup_(freep) char *tok = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        JwsVerifyOptions o = { .now = NOW, .leeway = 30, .issuer = MAA_ISS };
        Diag diag = {};
        int r;

        if (size > JWS_MAX_SIZE / 2) /* base64url grows it by 4/3 */
                return;
        if (jws_sign("ES256", ec_key, "ec", NULL, NULL, data, size, &tok) < 0 ||
            jws_parse(tok, strlen(tok), &j, &diag) < 0 || j->payload_size != size ||
            memcmp(j->payload, data, size) != 0 || j->signature_size != 64)
                abort();
        r = jws_verify(j, keys, &o, &diag);
        if (r == -EKEYREJECTED || r == -ENOKEY || r == -EPROTONOSUPPORT)
                abort(); /* our own signature, from a key in the set */
        fuzz_consume((uint64_t) r + strlen(diag.text));
        o.allow_non_jwt = true;
        o.issuer = NULL;
        r = jws_verify(j, keys, &o, &diag);
        if (r == -EKEYREJECTED || r == -ENOKEY || r == -EXDEV)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        init();
        try_token(data, size);
        try_keys(data, size);
        try_payload(data, size);
        ERR_clear_error();
        return 0;
}
