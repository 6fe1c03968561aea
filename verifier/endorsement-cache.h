/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct SnpEndorsement;

/*
 * Verified SEV-SNP endorsements (VCEK/VLEK up to AMD's root, and the CRL it was checked against),
 * kept so that evidence carrying the same certificate chain costs one report signature, not a
 * chain. Keyed by SHA-256 of the chain's bytes as received; an entry is used only while the
 * leaf is valid at the caller's time, for at most ttl seconds after it was verified, and only
 * with the same CRL (by SHA-256) it was verified against (the caller compares) — anything else
 * is a miss and the chain is verified again. Bounded: the least recently used entry goes first. Thread-safe (a mutex
 * around a small table); no I/O, no clock (times are arguments).
 */

#define ENDORSEMENT_CACHE_KEY_SIZE 32u

typedef struct EndorsementCache EndorsementCache;

/* capacity entries (1..4096), ttl seconds (> 0). -EINVAL, -ENOMEM. */
int endorsement_cache_new(size_t capacity, int64_t ttl, EndorsementCache **ret);
EndorsementCache *endorsement_cache_free(EndorsementCache *c);

/* The key of chain bytes. */
void endorsement_cache_key(const void *chain, size_t size, uint8_t ret[static ENDORSEMENT_CACHE_KEY_SIZE]);

/*
 * A copy of the endorsement cached under key (the caller frees it with snp_endorsement_free),
 * verified less than ttl seconds before now, with its leaf valid at now; *ret_has_crl and
 * ret_crl_hash say which CRL it was checked against, for the caller to compare with the CRL in
 * force (a different one means verifying again). -ENOENT otherwise, -ENOMEM.
 */
int endorsement_cache_get(EndorsementCache *c, const uint8_t key[static ENDORSEMENT_CACHE_KEY_SIZE],
                          time_t now, struct SnpEndorsement **ret, bool *ret_has_crl,
                          uint8_t ret_crl_hash[static 32]);

/* Remembers a copy of e (verified at now against the CRL crl_hash, or none). -ENOMEM. */
int endorsement_cache_put(EndorsementCache *c, const uint8_t key[static ENDORSEMENT_CACHE_KEY_SIZE],
                          const uint8_t *crl_hash, time_t now, const struct SnpEndorsement *e);

/* Counters, for tests and /metrics. */
void endorsement_cache_stats(EndorsementCache *c, uint64_t *ret_hits, uint64_t *ret_misses);

/*
 * Facts about bytes that are costly to establish and do not change with time, e.g. "this AK
 * certificate certifies this AK public area": a bounded set (least recently used first out) of
 * 32-byte keys, each the SHA-256 of a label and the bytes the fact is about. Only facts that
 * held are remembered. Thread-safe.
 */
typedef struct FactCache FactCache;

int fact_cache_new(size_t capacity, FactCache **ret);
FactCache *fact_cache_free(FactCache *c);
/* The key of label and up to two byte strings (b may be NULL). */
void fact_cache_key(const char *label, const void *a, size_t a_size, const void *b, size_t b_size,
                    uint8_t ret[static 32]);
bool fact_cache_has(FactCache *c, const uint8_t key[static 32]);
void fact_cache_add(FactCache *c, const uint8_t key[static 32]);
