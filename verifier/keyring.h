/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/*
 * The service's token-signing keys over time. Each key has the time it starts signing; the key
 * that signs at time t is the one with the latest activation not after t. A key is published
 * (in /certs) from the moment it is in the ring, so a key added ahead of its activation is known
 * to relying parties before the first token it signs; and it stays published until the tokens it
 * signed have expired: until the next key's activation plus the token lifetime. Pure: the time
 * is an argument, the caller locks.
 */

#define KEYRING_MAX 16u

typedef struct SigningKey {
        EVP_PKEY *pkey;
        char kid[48];      /* base64url SHA-256 of the SubjectPublicKeyInfo */
        char alg[8];       /* RS256, PS256, ES256, ES384 */
        char *x5c;         /* the key's certificate, standard base64 DER */
        int64_t activate;  /* Unix seconds it starts signing */
} SigningKey;

typedef struct KeyRing {
        SigningKey keys[KEYRING_MAX]; /* sorted by activate, oldest first */
        size_t n;
        int64_t token_lifetime;       /* seconds */
} KeyRing;

/* The kid of a public key: base64url(SHA-256(DER SubjectPublicKeyInfo)). -ENOMEM. */
int keyring_kid(EVP_PKEY *pkey, char kid[48]);

/*
 * Adds a key (pkey and x5c are taken on success). The alg must fit the key (RSA for RS256/PS256,
 * P-256 for ES256, P-384 for ES384: else -EINVAL). Two keys with the same activation time, or the
 * same kid, are -EEXIST; a full ring -E2BIG.
 */
int keyring_add(KeyRing *k, EVP_PKEY *pkey, const char *alg, int64_t activate, char *x5c);

/* The key that signs at now, or NULL when none is active yet. Borrowed. */
const SigningKey *keyring_signer(const KeyRing *k, int64_t now);

/* Whether keys[i] is published at now (see above). */
bool keyring_published(const KeyRing *k, size_t i, int64_t now);

/* Drops keys that are no longer published at now and never will be again; returns how many. */
size_t keyring_prune(KeyRing *k, int64_t now);

/* The latest activation time in the ring (0 when empty). */
int64_t keyring_newest(const KeyRing *k);

void keyring_done(KeyRing *k);
