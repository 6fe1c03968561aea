/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "verifier/appraise-cache.h"
#include "verifier/endorsement-cache.h"

#define WAYS 8u

typedef struct Entry {
        bool used;
        uint8_t key[KEY_CACHE_KEY_SIZE];
        uint64_t last_use;
        CachedKey k;
} Entry;

struct KeyCache {
        pthread_mutex_t lock;
        Entry *entries;
        size_t n_sets;
        uint64_t clock, hits, misses;
};

int key_cache_new(size_t capacity, KeyCache **ret) {
        KeyCache *c;

        if (capacity < 1 || capacity > 65536)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->n_sets = (capacity + WAYS - 1) / WAYS;
        c->entries = calloc(c->n_sets * WAYS, sizeof(Entry));
        if (!c->entries) {
                free(c);
                return -ENOMEM;
        }
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

void cached_key_done(CachedKey *k) {
        EVP_PKEY_free(k->key);
        json_object_put(k->jwk);
        *k = (CachedKey) {};
}

KeyCache *key_cache_free(KeyCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_sets * WAYS; i++)
                cached_key_done(&c->entries[i].k);
        free(c->entries);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

void key_cache_key(const char *label, const void *bytes, size_t size,
                   uint8_t ret[static KEY_CACHE_KEY_SIZE]) {
        fact_cache_key(label, bytes, size, NULL, 0, ret);
}

/* A copy of k with references of its own; false on allocation failure (nothing held then). */
static bool copy(const CachedKey *k, CachedKey *ret) {
        CachedKey n = *k;

        n.jwk = NULL;
        if (k->jwk && json_object_deep_copy(k->jwk, &n.jwk, NULL) < 0)
                return false;
        if (n.key && EVP_PKEY_up_ref(n.key) != 1) {
                json_object_put(n.jwk);
                return false;
        }
        *ret = n;
        return true;
}

static Entry *set_of(KeyCache *c, const uint8_t key[static KEY_CACHE_KEY_SIZE]) {
        uint64_t h;

        memcpy(&h, key, sizeof(h));
        return &c->entries[(h % c->n_sets) * WAYS];
}

int key_cache_get(KeyCache *c, const uint8_t key[static KEY_CACHE_KEY_SIZE], CachedKey *ret) {
        Entry *set;
        int r = -ENOENT;

        pthread_mutex_lock(&c->lock);
        set = set_of(c, key);
        for (size_t i = 0; i < WAYS; i++)
                if (set[i].used && memcmp(set[i].key, key, KEY_CACHE_KEY_SIZE) == 0) {
                        r = copy(&set[i].k, ret) ? 0 : -ENOMEM;
                        set[i].last_use = ++c->clock;
                        break;
                }
        if (r == 0)
                c->hits++;
        else
                c->misses++;
        pthread_mutex_unlock(&c->lock);
        return r;
}

int key_cache_put(KeyCache *c, const uint8_t key[static KEY_CACHE_KEY_SIZE], const CachedKey *k) {
        CachedKey n, old;
        Entry *set, *slot = NULL;

        if (!copy(k, &n))
                return -ENOMEM;
        pthread_mutex_lock(&c->lock);
        set = set_of(c, key);
        for (size_t i = 0; i < WAYS && !slot; i++)
                if (set[i].used && memcmp(set[i].key, key, KEY_CACHE_KEY_SIZE) == 0)
                        slot = &set[i];
        for (size_t i = 0; i < WAYS && !slot; i++)
                if (!set[i].used)
                        slot = &set[i];
        if (!slot) {
                slot = &set[0];
                for (size_t i = 1; i < WAYS; i++)
                        if (set[i].last_use < slot->last_use)
                                slot = &set[i];
        }
        old = slot->k;
        slot->used = true;
        memcpy(slot->key, key, KEY_CACHE_KEY_SIZE);
        slot->last_use = ++c->clock;
        slot->k = n;
        pthread_mutex_unlock(&c->lock);
        cached_key_done(&old);
        return 0;
}

void key_cache_stats(KeyCache *c, uint64_t *ret_hits, uint64_t *ret_misses) {
        pthread_mutex_lock(&c->lock);
        *ret_hits = c->hits;
        *ret_misses = c->misses;
        pthread_mutex_unlock(&c->lock);
}
