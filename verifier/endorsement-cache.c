/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "snp/snp-verify.h"
#include "verifier/endorsement-cache.h"

typedef struct Entry {
        bool used;
        uint8_t key[ENDORSEMENT_CACHE_KEY_SIZE];
        bool has_crl;
        uint8_t crl_hash[SHA256_DIGEST_LENGTH];
        int64_t verified_at;
        uint64_t last_use;
        SnpEndorsement *e;
} Entry;

struct EndorsementCache {
        pthread_mutex_t lock;
        Entry *entries;
        size_t capacity;
        int64_t ttl;
        uint64_t clock, hits, misses;
};

int endorsement_cache_new(size_t capacity, int64_t ttl, EndorsementCache **ret) {
        EndorsementCache *c;

        if (capacity < 1 || capacity > 4096 || ttl <= 0)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->entries = calloc(capacity, sizeof(Entry));
        if (!c->entries) {
                free(c);
                return -ENOMEM;
        }
        pthread_mutex_init(&c->lock, NULL);
        c->capacity = capacity;
        c->ttl = ttl;
        *ret = c;
        return 0;
}

EndorsementCache *endorsement_cache_free(EndorsementCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->capacity; i++)
                snp_endorsement_free(c->entries[i].e);
        free(c->entries);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

void endorsement_cache_key(const void *chain, size_t size, uint8_t ret[static ENDORSEMENT_CACHE_KEY_SIZE]) {
        (void) SHA256(chain, size, ret);
}

static SnpEndorsement *copy(const SnpEndorsement *e) {
        SnpEndorsement *n = malloc(sizeof(*n));

        if (!n)
                return NULL;
        *n = *e;
        if (n->key && EVP_PKEY_up_ref(n->key) != 1) {
                free(n);
                return NULL;
        }
        return n;
}

int endorsement_cache_get(EndorsementCache *c, const uint8_t key[static ENDORSEMENT_CACHE_KEY_SIZE],
                          time_t now, SnpEndorsement **ret, bool *ret_has_crl,
                          uint8_t ret_crl_hash[static 32]) {
        int r = -ENOENT;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->capacity; i++) {
                Entry *en = &c->entries[i];

                if (!en->used || memcmp(en->key, key, ENDORSEMENT_CACHE_KEY_SIZE) != 0)
                        continue;
                if (now >= en->verified_at && now - en->verified_at < c->ttl &&
                    now >= en->e->not_before && now <= en->e->not_after) {
                        *ret = copy(en->e);
                        r = *ret ? 0 : -ENOMEM;
                        *ret_has_crl = en->has_crl;
                        memcpy(ret_crl_hash, en->crl_hash, SHA256_DIGEST_LENGTH);
                        en->last_use = ++c->clock;
                }
                break;
        }
        if (r == 0)
                c->hits++;
        else
                c->misses++;
        pthread_mutex_unlock(&c->lock);
        return r;
}

int endorsement_cache_put(EndorsementCache *c, const uint8_t key[static ENDORSEMENT_CACHE_KEY_SIZE],
                          const uint8_t *crl_hash, time_t now, const SnpEndorsement *e) {
        SnpEndorsement *n = copy(e);
        Entry *slot = NULL;

        if (!n)
                return -ENOMEM;
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->capacity && !slot; i++)
                if (c->entries[i].used && memcmp(c->entries[i].key, key, ENDORSEMENT_CACHE_KEY_SIZE) == 0)
                        slot = &c->entries[i];
        for (size_t i = 0; i < c->capacity && !slot; i++)
                if (!c->entries[i].used)
                        slot = &c->entries[i];
        if (!slot) {
                slot = &c->entries[0];
                for (size_t i = 1; i < c->capacity; i++)
                        if (c->entries[i].last_use < slot->last_use)
                                slot = &c->entries[i];
        }
        snp_endorsement_free(slot->e);
        *slot = (Entry) {
                .used = true,
                .has_crl = crl_hash != NULL,
                .verified_at = now,
                .last_use = ++c->clock,
                .e = n,
        };
        memcpy(slot->key, key, ENDORSEMENT_CACHE_KEY_SIZE);
        if (crl_hash)
                memcpy(slot->crl_hash, crl_hash, SHA256_DIGEST_LENGTH);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

void endorsement_cache_stats(EndorsementCache *c, uint64_t *ret_hits, uint64_t *ret_misses) {
        pthread_mutex_lock(&c->lock);
        *ret_hits = c->hits;
        *ret_misses = c->misses;
        pthread_mutex_unlock(&c->lock);
}

struct FactCache {
        pthread_mutex_t lock;
        struct {
                uint8_t key[32];
                uint64_t last_use;
                bool used;
        } *facts;
        size_t capacity;
        uint64_t clock;
};

int fact_cache_new(size_t capacity, FactCache **ret) {
        FactCache *c;

        if (capacity < 1 || capacity > 65536)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->facts = calloc(capacity, sizeof(*c->facts));
        if (!c->facts) {
                free(c);
                return -ENOMEM;
        }
        pthread_mutex_init(&c->lock, NULL);
        c->capacity = capacity;
        *ret = c;
        return 0;
}

FactCache *fact_cache_free(FactCache *c) {
        if (c) {
                pthread_mutex_destroy(&c->lock);
                free(c->facts);
                free(c);
        }
        return NULL;
}

void fact_cache_key(const char *label, const void *a, size_t a_size, const void *b, size_t b_size,
                    uint8_t ret[static 32]) {
        EVP_MD_CTX *h = EVP_MD_CTX_new();
        uint8_t len[8];

        for (int i = 0; i < 8; i++)
                len[i] = (uint8_t) ((uint64_t) a_size >> (8 * i));
        /* The length of a, so that a || b cannot be split another way. On failure the key is
         * random: it matches nothing. */
        if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(h, label, strlen(label) + 1) != 1 ||
            EVP_DigestUpdate(h, len, sizeof(len)) != 1 || EVP_DigestUpdate(h, a, a_size) != 1 ||
            (b && EVP_DigestUpdate(h, b, b_size) != 1) || EVP_DigestFinal_ex(h, ret, NULL) != 1)
                (void) RAND_bytes(ret, 32);
        EVP_MD_CTX_free(h);
}

bool fact_cache_has(FactCache *c, const uint8_t key[static 32]) {
        bool found = false;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->capacity && !found; i++)
                if (c->facts[i].used && memcmp(c->facts[i].key, key, 32) == 0) {
                        c->facts[i].last_use = ++c->clock;
                        found = true;
                }
        pthread_mutex_unlock(&c->lock);
        return found;
}

void fact_cache_add(FactCache *c, const uint8_t key[static 32]) {
        size_t slot = 0;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->capacity; i++) {
                if (!c->facts[i].used) {
                        slot = i;
                        break;
                }
                if (c->facts[i].last_use < c->facts[slot].last_use)
                        slot = i;
        }
        memcpy(c->facts[slot].key, key, 32);
        c->facts[slot].used = true;
        c->facts[slot].last_use = ++c->clock;
        pthread_mutex_unlock(&c->lock);
}
