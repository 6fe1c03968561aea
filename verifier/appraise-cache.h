/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

struct json_object;

/*
 * Public keys decoded from evidence, kept by the bytes they were decoded from: a VM's AK and its
 * TPM-bound encryption key come back with every attestation, and decoding one (OpenSSL 3 builds
 * the key through its provider, then a Montgomery context on first use) costs more than the
 * quote's signature. An entry is what decoding those bytes gave (the key, the TPM public area
 * when the bytes were one, the key's JWK when the caller stored it), a pure function of the
 * bytes: nothing about time or trust is kept, and every check that involves other evidence (a
 * signature, a certification, a policy digest) is made again each time.
 *
 * Keyed by SHA-256 over a label and the bytes (fact_cache_key). Bounded: 8-way set-associative,
 * the least recently used entry of a set goes first. Thread-safe (one mutex); keys handed out are
 * references to a shared EVP_PKEY, used only for public-key operations. No I/O. Pure.
 */

#define KEY_CACHE_KEY_SIZE 32u

typedef struct KeyCache KeyCache;

typedef struct CachedKey {
        EVP_PKEY *key;           /* a reference (EVP_PKEY_free) */
        TPMT_PUBLIC public_area; /* when has_public */
        bool has_public;
        struct json_object *jwk; /* NULL, or an own copy (json_object_put) */
} CachedKey;

/* capacity entries (1..65536, rounded up to a multiple of 8). -EINVAL, -ENOMEM. */
int key_cache_new(size_t capacity, KeyCache **ret);
KeyCache *key_cache_free(KeyCache *c);

/* The key of label and bytes. */
void key_cache_key(const char *label, const void *bytes, size_t size,
                   uint8_t ret[static KEY_CACHE_KEY_SIZE]);

/* What was stored under key, in *ret (references and copies the caller releases with
 * cached_key_done); -ENOENT when nothing is, -ENOMEM. */
int key_cache_get(KeyCache *c, const uint8_t key[static KEY_CACHE_KEY_SIZE], CachedKey *ret);

/* Stores k under key (taking new references and a copy of k->jwk; k stays the caller's),
 * replacing what was there. -ENOMEM. */
int key_cache_put(KeyCache *c, const uint8_t key[static KEY_CACHE_KEY_SIZE], const CachedKey *k);

/* Counters, for tests. */
void key_cache_stats(KeyCache *c, uint64_t *ret_hits, uint64_t *ret_misses);

void cached_key_done(CachedKey *k);
