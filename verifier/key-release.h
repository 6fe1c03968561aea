/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/jws.h"
#include "keyrelease/key-store.h"
#include "keyrelease/key-wrap.h"

struct Diag;
struct Secret;
struct json_object;

/*
 * The key release service's wire format: Azure Key Vault's
 * POST /keys/{name}[/{version}]/release (spec/skr.md §2). Pure: JSON in, JSON out; the server
 * (verifier/server.c) verifies the token, reads the store, signs the answer and audits.
 */

/* The request body: the token (at most JWS_MAX_SIZE), an optional nonce and enc. */
#define KEY_RELEASE_BODY_MAX  (JWS_MAX_SIZE + 4096u)
#define KEY_RELEASE_NONCE_MAX 1024u
/* The api-version we answer as (the one Microsoft's samples and the C++ SKR client send). */
#define KEY_RELEASE_API_VERSION "7.3"

typedef struct KeyReleaseRequest {
        char *target;        /* the attestation token, compact JWS */
        size_t target_size;
        char *nonce;         /* NULL when absent */
        KeyWrapAlg enc;      /* CKM_RSA_AES_KEY_WRAP when absent, as Key Vault's default */
} KeyReleaseRequest;

void key_release_request_done(KeyReleaseRequest *r);

/*
 * Parses the body of a release request, exactly size bytes: a JSON object (strict, depth 4,
 * refused over KEY_RELEASE_BODY_MAX before parsing: -E2BIG) with a non-empty string "target" of
 * at most JWS_MAX_SIZE bytes, optionally a string "nonce" (at most
 * KEY_RELEASE_NONCE_MAX bytes, printable ASCII) and a string "enc" naming a known wrap
 * algorithm (-EPROTONOSUPPORT for another). Other members are ignored, as Key Vault ignores
 * them. -EBADMSG with a Diag naming the member otherwise. *ret is filled only on success
 * (key_release_request_done()). Pure.
 */
int key_release_request_parse(const char *body, size_t size, KeyReleaseRequest *ret,
                              struct Diag *d);

/*
 * The key-encryption key of a token (spec/skr.md §3.3 rule 5): the first member of the claims'
 * "x-ms-runtime"."keys" array that is for encryption ("key_ops" contains "encrypt", or "use" is
 * "enc"). It must be an RSA JWK (-EPROTONOSUPPORT otherwise: the wrap is RSA-OAEP); *ret its
 * public key, *ret_kid its "kid" (a new string; "" when it has none). -ENOKEY (Diag) when the
 * claims carry no such key, -EBADMSG when the first one is malformed. Pure.
 */
int key_release_find_kek(struct json_object *claims, EVP_PKEY **ret, char **ret_kid,
                         struct Diag *d);

/* What the answer says about the released key. */
typedef struct KeyReleaseKey {
        const char *url;          /* the key's versioned URL: "{base}/keys/{name}/{version}" */
        KeyType type;
        const struct Secret *material; /* PKCS#8 DER, or the 32 bytes of an oct-256 key */
        uint64_t created_usec;
        const char *policy;       /* the release policy text as stored */
        bool policy_immutable;
} KeyReleaseKey;

/*
 * Builds the payload of the answer's JWS (spec/skr.md §2.1):
 *   {"request": {"api-version", "enc", "kid", "nonce"?},
 *    "response": {"key": {"key": JWK with "kid", "kty" (RSA-HSM, EC-HSM or oct-HSM), "key_ops",
 *                                the public parts of an RSA or EC key, and "key_hsm"},
 *                         "attributes": {"enabled", "created", "updated", "exportable",
 *                                        "recoveryLevel"},
 *                         "tags": {}, "release_policy": {"contentType", "data", "immutable"}}}}
 * key_hsm wraps k->material under req->enc to kek (kid kek_kid, "TpmEphemeralEncryptionKey" in
 * AzureGuest tokens). *ret is a new object. Errors from key_wrap() (Diag), -EBADMSG for material
 * that does not parse as its type, -ENOMEM. Pure (OpenSSL's RNG for the wrap).
 */
int key_release_payload(const KeyReleaseRequest *req, const KeyReleaseKey *k, EVP_PKEY *kek,
                        const char *kek_kid, struct json_object **ret, struct Diag *d);
