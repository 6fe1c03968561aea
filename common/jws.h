/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/macro.h"

struct Diag;
struct json_object;

/*
 * JSON Web Signatures (RFC 7515) in compact serialisation, and the JWT (RFC 7519) claim checks a
 * relying party of MAA-style tokens needs (docs: spec/maa.md §3, §4). Algorithms: RS256 (MAA's),
 * PS256, ES256 and ES384 (signatures as raw R||S, RFC 7518 §3.4). Never "none", never HMAC.
 * Everything here is pure: no I/O, no clock (the time is an argument), no logging.
 *
 * Errors: -EBADMSG malformed (with a Diag), -E2BIG over a cap, -EKEYREJECTED bad signature or
 * an algorithm that is not accepted (alg "none", HMAC, outside the allow-list, key of the wrong
 * type for the alg), -ENOKEY no key for the token's kid, -EKEYEXPIRED outside nbf/exp (or iat in
 * the future), -EXDEV wrong issuer, -EPROTONOSUPPORT a "crit" header we do not understand or a key
 * type we do not support, -ENOMEM.
 */

/* Largest compact JWS we parse: MAA tokens are 3-6 KiB, TPM/VBS ones with x5c under 64 KiB. */
#define JWS_MAX_SIZE (256u * 1024u)
/* Largest JWKS document, number of keys in a set, and certificates in one key's x5c. */
#define JWKS_MAX_SIZE (256u * 1024u)
#define JWS_KEYS_MAX 32u
#define JWS_X5C_MAX 8u

/* A parsed compact JWS. Strings point into header (valid as long as the Jws). */
typedef struct Jws {
        struct json_object *header; /* the protected header, a JSON object */
        const char *alg;            /* header "alg" (always present) */
        const char *kid;            /* header "kid", or NULL */
        const char *typ;            /* header "typ", or NULL */
        uint8_t *payload;           /* decoded payload bytes, NUL-terminated (not counted) */
        size_t payload_size;
        uint8_t *signature; /* decoded signature bytes (possibly empty) */
        size_t signature_size;
        char *signing_input; /* ASCII(BASE64URL(header) "." BASE64URL(payload)), as received */
        size_t signing_input_size;
} Jws;

Jws *jws_free(Jws *j);
DEFINE_CLEANUP_FUNC(Jws *, jws_free);

/*
 * Parses a compact JWS of exactly size bytes (no surrounding white space). Refuses more than
 * JWS_MAX_SIZE before looking at it (-E2BIG); needs exactly three parts of strict base64url
 * (alphabet A-Z a-z 0-9 - _, no padding, canonical), a non-empty header part that is a JSON
 * object (parsed strictly, json_parse_capped) with a string "alg", and "kid"/"typ" strings when
 * present. A "b64" header other than true (RFC 7797) is refused (-EPROTONOSUPPORT). The payload
 * is kept as bytes; jws_claims() parses it. *ret is the caller's (jws_free). Pure.
 */
int jws_parse(const char *compact, size_t size, Jws **ret, struct Diag *d);

/* The payload parsed as a JWT claims set (a JSON object, strict, depth-capped) into a new
 * reference (json_object_put). -EBADMSG with a Diag when it is not one. Pure. */
int jws_claims(const Jws *j, struct json_object **ret, struct Diag *d);

/* One verification key. kid and alg (the JWK's "alg", restricting the key to it) may be NULL;
 * x5c is the JWK's certificate chain as given (leaf first; NULL when there was none), not
 * validated here: it is for the caller (e.g. a TEE report embedded in the signing certificate). */
typedef struct JwsKey {
        char *kid;
        char *alg;
        EVP_PKEY *pkey;
        STACK_OF(X509) *x5c;
} JwsKey;

typedef struct JwsKeySet JwsKeySet;

/* An empty set (-ENOMEM). */
int jws_key_set_new(JwsKeySet **ret);
JwsKeySet *jws_key_set_free(JwsKeySet *s);
DEFINE_CLEANUP_FUNC(JwsKeySet *, jws_key_set_free);

/*
 * Adds a public key (a new reference is taken; the caller keeps its own) with an optional kid and
 * an optional x5c chain (copied, with new references). Only RSA of at least 2048 bits and EC P-256
 * and P-384 are accepted (-EPROTONOSUPPORT otherwise; HMAC never); a duplicate kid is -EEXIST;
 * more than JWS_KEYS_MAX keys -E2BIG. Pure.
 */
int jws_key_set_add(JwsKeySet *s, EVP_PKEY *pkey, const char *kid, STACK_OF(X509) *x5c,
                    struct Diag *d);
/*
 * A key set from a JWKS document ({"keys": [...]}, RFC 7517 §5) of exactly size bytes (cap
 * JWKS_MAX_SIZE, -E2BIG). Each key has "kty" and either RSA "n"/"e", EC "crv"/"x"/"y", or "x5c"
 * (standard base64 DER certificates, leaf first: the leaf's public key is taken, and must equal
 * n/e or x/y when those are given too). Keys of a kty/crv/size we do not support, or with "use"
 * other than "sig", are skipped (RFC 7517 §5); malformed ones fail the whole set (-EBADMSG). No
 * usable key at all is -ENOKEY. Duplicate kids are -EBADMSG. *ret is the caller's. Pure.
 */
int jws_key_set_from_jwks(const char *text, size_t size, JwsKeySet **ret, struct Diag *d);
/* A one-key set from PEM text: a PUBLIC KEY (SubjectPublicKeyInfo) or CERTIFICATE(s), whose first
 * certificate's key is taken (all of them kept as x5c). kid may be NULL: a key without kid is
 * tried for any token. -EBADMSG, -EPROTONOSUPPORT, -E2BIG (over JWKS_MAX_SIZE). Pure. */
int jws_key_set_from_pem(const uint8_t *buf, size_t size, const char *kid, JwsKeySet **ret,
                         struct Diag *d);
size_t jws_key_set_size(const JwsKeySet *s);
/* The i-th key, or NULL past the end. Borrowed. */
const JwsKey *jws_key_set_get(const JwsKeySet *s, size_t i);
/* The key with this kid, or NULL. Borrowed. */
const JwsKey *jws_key_set_find(const JwsKeySet *s, const char *kid);

typedef struct JwsVerifyOptions {
        /* Accepted algorithms, NULL-terminated; NULL means RS256, PS256, ES256 and ES384. Names
         * outside those four are never accepted, whatever the list says. */
        const char *const *algs;
        /* Expected "iss" (compared after dropping one trailing '/' from both), or NULL. */
        const char *issuer;
        /* The time to check nbf/exp/iat against (Unix seconds: required; this code never reads a
         * clock), and the clock skew tolerated each way. */
        int64_t now;
        uint32_t leeway;
        /* Require an "exp" claim (MAA tokens always have one). */
        bool require_exp;
        /* Accept a payload that is not a JSON object (then no claim is checked; issuer must be
         * NULL). By default the payload must be a JWT claims set. */
        bool allow_non_jwt;
} JwsVerifyOptions;

/*
 * Verifies j with a key from keys, in this order: alg accepted (see JwsVerifyOptions.algs; "none"
 * and HS* never: -EKEYREJECTED); "crit" (must be a non-empty array of extension names we
 * understand, and we understand none: -EPROTONOSUPPORT, malformed -EBADMSG); key selection by
 * "kid" (a kid the set does not have, when the set has kids and no kid-less key: -ENOKEY; a header
 * without kid tries every key); the key type must fit the alg (RSA for RS256/PS256, P-256 for
 * ES256, P-384 for ES384) and the JWK's own "alg" if it has one (else -EKEYREJECTED); the
 * signature over signing_input (-EKEYREJECTED). Then the claims: "iss" (-EXDEV when an issuer is
 * expected and it differs or is missing), and "nbf" <= now + leeway, now - leeway < "exp",
 * "iat" <= now + leeway when present (-EKEYEXPIRED; non-numeric -EBADMSG). A Diag says which.
 * jws_verify_key also returns the key that verified (borrowed from keys; may be NULL). Pure.
 */
int jws_verify(const Jws *j, const JwsKeySet *keys, const JwsVerifyOptions *o, struct Diag *d);
int jws_verify_key(const Jws *j, const JwsKeySet *keys, const JwsVerifyOptions *o,
                   const JwsKey **ret_key, struct Diag *d);

/* The MAA token header {"alg", "jku", "kid", "typ": "JWT"} (jku and kid left out when NULL;
 * alg NULL means RS256) as a new object. -ENOMEM. Pure. */
int jws_header_maa(const char *alg, const char *jku, const char *kid,
                   struct json_object **ret);

/*
 * Signs payload with key into a new compact JWS (free()). The header is jws_header_maa(alg, jku,
 * kid) plus the members of extra_header (may be NULL; it may set "typ", "cty", "x5c", ... but not
 * "alg", "kid" or "jku": -EINVAL). alg NULL means RS256; it must be one of the four supported
 * (-EPROTONOSUPPORT) and fit the key (-EINVAL). ES* signatures are raw R||S (64 or 96 bytes).
 * PS256 uses a 32-byte salt. Pure (OpenSSL's RNG for PS256 and ES256/ES384).
 */
int jws_sign(const char *alg, EVP_PKEY *key, const char *kid, const char *jku,
             struct json_object *extra_header, const uint8_t *payload, size_t payload_size,
             char **ret_compact);
