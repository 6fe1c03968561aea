/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/diag.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/log.h"
#include "common/time-util.h"
#include "snp/snp-verify.h"
#include "verifier/kds-key.h"
#include "verifier/kds.h"

/* A VCEK is about 1.4 KiB and AMD's CRLs a few KiB: anything past this is not one. */
#define KDS_BODY_MAX (64u * 1024u)
#define KDS_BACKOFF_DEFAULT_S 60u
#define KDS_BACKOFF_MAX_S 3600u

/* Checks bytes from the cache or KDS: 0 good, 1 usable only as a stale fallback, <0 bad. */
typedef int (*KdsCheck)(const uint8_t *buf, size_t size, const void *arg, Diag *d);

/* One fetch in flight, shared by every lookup of the same cache key until the last one has
 * copied its result. */
typedef struct Flight {
        struct Flight *next;
        char *key;      /* cache path relative to the cache directory */
        unsigned refs;
        bool done;
        int result;     /* as the fetch: 0, 1 (stale) or -errno */
        uint8_t *data;
        size_t size;
        Diag diag;
} Flight;

struct Kds {
        char *url, *cache_dir, *ca_file;
        unsigned timeout_ms, backoff_s;
        bool allow_stale_crl;
        SnpProduct product;

        pthread_mutex_t lock;
        pthread_cond_t done; /* some flight finished */
        Flight *flights;
        uint64_t backoff_until_usec; /* CLOCK_MONOTONIC; 0 = none */
};

static uint64_t now_mono_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000u;
}

static int strdup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int kds_new(const KdsConfig *c, Kds **ret, Diag *d) {
        _cleanup_(kds_freep) Kds *k = NULL;
        size_t n;

        if (!c->cache_dir || !c->cache_dir[0])
                return diag_set(d, -EINVAL, "KDS: no cache directory configured");
        if (c->url && strncasecmp(c->url, "http://", 7) != 0 &&
            strncasecmp(c->url, "https://", 8) != 0)
                return diag_set(d, -EINVAL, "KDS URL '%s': not http:// or https://", c->url);

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        /* Default attributes: neither call can fail on Linux. */
        (void) pthread_mutex_init(&k->lock, NULL);
        (void) pthread_cond_init(&k->done, NULL);
        if (strdup_opt(c->url, &k->url) < 0 || strdup_opt(c->cache_dir, &k->cache_dir) < 0 ||
            strdup_opt(c->ca_file, &k->ca_file) < 0)
                return -ENOMEM;
        /* "https://kdsintf.amd.com/" and "https://kdsintf.amd.com" name the same service. */
        for (n = k->url ? strlen(k->url) : 0; n > 0 && k->url[n - 1] == '/'; n--)
                k->url[n - 1] = '\0';
        k->timeout_ms = c->timeout_ms;
        k->backoff_s = c->backoff_s ?: KDS_BACKOFF_DEFAULT_S;
        k->allow_stale_crl = c->allow_stale_crl;
        k->product = c->product;
        *ret = TAKE_PTR(k);
        return 0;
}

Kds *kds_free(Kds *k) {
        if (!k)
                return NULL;
        /* Only once no lookup is running (their flights hold no reference to k). */
        (void) pthread_cond_destroy(&k->done);
        (void) pthread_mutex_destroy(&k->lock);
        free(k->url);
        free(k->cache_dir);
        free(k->ca_file);
        free(k);
        return NULL;
}

void kds_freep(Kds **k) {
        *k = kds_free(*k);
}

static int memdup_out(const uint8_t *p, size_t n, uint8_t **ret, size_t *ret_size) {
        uint8_t *c = malloc(n + 1);

        if (!c)
                return -ENOMEM;
        memcpy(c, p, n);
        c[n] = '\0';
        *ret = c;
        *ret_size = n;
        return 0;
}

/* mkdir -p of the directories above path, which lies under the cache directory. */
static int mkdir_parents(Kds *k, const char *path) {
        _cleanup_(freep) char *p = strdup(path);
        size_t skip = strlen(k->cache_dir);

        if (!p)
                return -ENOMEM;
        if (mkdir(k->cache_dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        for (char *s = strchr(p + skip + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* Reads and checks a cache file: the check's result (0 or 1) with the bytes, -ENOENT when there
 * is none, -EBADMSG (Diag) when it fails the check, or another -errno from reading it. */
static int cache_read(const char *path, KdsCheck check, const void *arg, uint8_t **ret,
                      size_t *ret_size, Diag *d) {
        _cleanup_(freep) uint8_t *buf = NULL;
        Diag why = {};
        size_t size;
        int r;

        r = read_full_file(path, KDS_BODY_MAX, &buf, &size);
        if (r == -EFBIG)
                return diag_set(d, -EBADMSG, "cached %s: larger than %u bytes", path,
                                KDS_BODY_MAX);
        if (r < 0)
                return r;
        r = check(buf, size, arg, &why);
        if (r < 0)
                return r == -ENOMEM ? r : diag_set(d, -EBADMSG, "cached %s: %s", path, why.text);
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return r;
}

/* One GET from KDS: the check's result (0 or 1) with the body, or -errno with a Diag. A good
 * body (0) is written to the cache; a failure to write it costs the next lookup a fetch, not
 * this one its answer. */
static int fetch(Kds *k, const char *path, const char *url_path, const char *what,
                 KdsCheck check, const void *arg, uint8_t **ret, size_t *ret_size, Diag *d) {
        _cleanup_(freep) char *url = NULL;
        HttpOptions o = {
                .timeout_ms = k->timeout_ms,
                .max_body = KDS_BODY_MAX,
                .ca_file = k->ca_file,
        };
        HttpResponse resp = {};
        Diag why = {};
        int r;

        if (asprintf(&url, "%s%s", k->url, url_path) < 0)
                return -ENOMEM;
        r = http_get(url, &o, &resp, d);
        if (r < 0)
                return r;
        switch (resp.status) {
        case 200:
                break;
        case 404:
                r = diag_set(d, -ENOENT, "GET %s: KDS has no %s for this %s (HTTP 404)", url,
                             what, streq(what, "VCEK") ? "chip/TCB" : "product line");
                goto out;
        case 429: {
                unsigned secs = resp.retry_after ?: k->backoff_s;

                secs = MIN(secs, KDS_BACKOFF_MAX_S);
                pthread_mutex_lock(&k->lock);
                k->backoff_until_usec = MAX(k->backoff_until_usec,
                                            now_mono_usec() + (uint64_t) secs * UINT64_C(1000000));
                pthread_mutex_unlock(&k->lock);
                r = diag_set(d, -EBUSY, "GET %s: KDS rate limit (HTTP 429); not asking again for "
                             "%u s", url, secs);
                goto out;
        }
        default:
                r = diag_set(d, -EIO, "GET %s: KDS answered HTTP %ld", url, resp.status);
                goto out;
        }
        r = check(resp.body, resp.size, arg, &why);
        if (r < 0) {
                r = r == -ENOMEM ? r : diag_set(d, -EBADMSG, "GET %s: the response is not the "
                                                "%s asked for: %s", url, what, why.text);
                goto out;
        }
        if (r == 0) {
                int w = mkdir_parents(k, path);
                if (w >= 0)
                        w = write_file_atomic(path, resp.body, resp.size);
                if (w < 0)
                        log_debug_errno(w, "KDS: cannot write cache file %s: %m", path);
        }
        *ret = TAKE_PTR(resp.body);
        *ret_size = resp.size;
out:
        http_response_done(&resp);
        return r;
}

static Flight *flight_unref(Flight *f) {
        if (!f || --f->refs > 0)
                return NULL;
        free(f->key);
        free(f->data);
        free(f);
        return NULL;
}

/*
 * Fetches path's content from KDS unless a fetch of it is in flight, in which case this waits
 * for that one and shares its result: one request per key however many callers ask. Fails at
 * once with -EBUSY while a 429 back-off runs.
 */
static int fetch_once(Kds *k, const char *rel, const char *path, const char *url_path,
                      const char *what, KdsCheck check, const void *arg, uint8_t **ret,
                      size_t *ret_size, Diag *d) {
        Flight *f;
        uint64_t now;
        int r;

        pthread_mutex_lock(&k->lock);
        for (f = k->flights; f; f = f->next)
                if (streq(f->key, rel))
                        break;
        if (f) {
                f->refs++;
                while (!f->done)
                        pthread_cond_wait(&k->done, &k->lock);
                goto share;
        }
        now = now_mono_usec();
        if (k->backoff_until_usec > now) {
                unsigned left = (unsigned) ((k->backoff_until_usec - now + 999999u) / 1000000u);

                pthread_mutex_unlock(&k->lock);
                return diag_set(d, -EBUSY, "%s not in the cache (%s), and KDS is not asked for "
                                "another %u s after an HTTP 429", what, path, left);
        }
        f = calloc(1, sizeof(*f));
        if (!f || !(f->key = strdup(rel))) {
                free(f);
                pthread_mutex_unlock(&k->lock);
                return -ENOMEM;
        }
        f->refs = 1;
        f->next = k->flights;
        k->flights = f;
        pthread_mutex_unlock(&k->lock);

        /* A fetch of this key may have finished (and filled the cache) between our cache miss
         * and registering this flight: look again before asking KDS. */
        r = cache_read(path, check, arg, &f->data, &f->size, /* d= */ NULL);
        if (r != 0) {
                free(f->data);
                f->data = NULL;
                r = fetch(k, path, url_path, what, check, arg, &f->data, &f->size, &f->diag);
        }

        pthread_mutex_lock(&k->lock);
        f->result = r;
        f->done = true;
        for (Flight **p = &k->flights; *p; p = &(*p)->next)
                if (*p == f) {
                        *p = f->next;
                        break;
                }
        pthread_cond_broadcast(&k->done);
share:
        r = f->result;
        if (r < 0)
                diag_set(d, r, "%s", f->diag.text[0] ? f->diag.text : strerror(-r));
        else if (memdup_out(f->data, f->size, ret, ret_size) < 0)
                r = -ENOMEM;
        flight_unref(f);
        pthread_mutex_unlock(&k->lock);
        return r;
}

/* Cache, then KDS; with a stale fallback for checks that can answer 1 (the CRL). */
static int lookup(Kds *k, const char *rel, const char *url_path, const char *what,
                  KdsCheck check, const void *arg, uint8_t **ret, size_t *ret_size, Diag *d) {
        _cleanup_(freep) uint8_t *stale = NULL;
        _cleanup_(freep) char *path = NULL;
        uint8_t *buf = NULL;
        size_t size, stale_size = 0;
        Diag cache_diag = {}, fetch_diag = {};
        int r, cached;

        if (asprintf(&path, "%s/%s", k->cache_dir, rel) < 0)
                return -ENOMEM;
        cached = cache_read(path, check, arg, &buf, &size, &cache_diag);
        if (cached == 0) {
                *ret = buf;
                *ret_size = size;
                return 0;
        }
        if (cached == -ENOMEM)
                return cached;
        if (cached == 1) {
                stale = buf;
                stale_size = size;
        }

        if (!k->url) {
                if (cached == 1 && k->allow_stale_crl) {
                        *ret = TAKE_PTR(stale);
                        *ret_size = stale_size;
                        return KDS_CRL_STALE;
                }
                if (cached == 1)
                        return diag_set(d, -EKEYEXPIRED, "cached %s %s has expired and no KDS URL "
                                        "is configured to refresh it", what, path);
                if (cached == -ENOENT)
                        return diag_set(d, -ENOENT, "%s not in the cache (%s) and no KDS URL is "
                                        "configured", what, path);
                if (cache_diag.text[0])
                        return diag_set(d, -EBADMSG, "%s; no KDS URL is configured to refetch it",
                                        cache_diag.text);
                return diag_set(d, cached, "cannot read cached %s %s: %s", what, path,
                                strerror(-cached));
        }
        if (cache_diag.text[0])
                log_debug("KDS: ignoring %s", cache_diag.text);

        r = fetch_once(k, rel, path, url_path, what, check, arg, &buf, &size, &fetch_diag);
        if (r == 0) {
                *ret = buf;
                *ret_size = size;
                return 0;
        }
        if (r == 1) {
                /* KDS itself served an expired CRL: no fresher one exists. */
                if (k->allow_stale_crl) {
                        *ret = buf;
                        *ret_size = size;
                        return KDS_CRL_STALE;
                }
                free(buf);
                return diag_set(d, -EKEYEXPIRED, "KDS served an expired %s (%s%s)", what, k->url,
                                url_path);
        }
        if (cached == 1 && k->allow_stale_crl) {
                *ret = TAKE_PTR(stale);
                *ret_size = stale_size;
                return KDS_CRL_STALE;
        }
        if (cached == 1)
                return diag_set(d, r, "cached %s %s has expired, and refreshing it failed: %s",
                                what, path, fetch_diag.text);
        return diag_set(d, r, "%s", fetch_diag.text);
}

static int check_vcek(const uint8_t *buf, size_t size, const void *arg, Diag *d) {
        return kds_vcek_check(buf, size, arg, d);
}

/* Cache path, KDS path and key of r's VCEK if r came from product p. */
static int vcek_names(const SnpReport *r, SnpProduct p, KdsKey *ret_key, char **ret_rel,
                      char **ret_url_path, Diag *d) {
        _cleanup_(freep) char *rel = NULL, *url_path = NULL;
        SnpReport as = *r;
        int q;

        as.product = p;
        q = kds_key_from_report(&as, ret_key, d);
        if (q < 0)
                return q;
        q = kds_key_cache_path(ret_key, &rel);
        if (q < 0)
                return q;
        q = snp_kds_vcek_path(&as, &url_path);
        if (q < 0)
                return q;
        *ret_rel = TAKE_PTR(rel);
        *ret_url_path = TAKE_PTR(url_path);
        return 0;
}

int kds_get_vcek(Kds *k, const SnpReport *r, uint8_t **ret, size_t *ret_size, Diag *d) {
        SnpProduct candidates[2] = { r->product };
        size_t n = 1;
        Diag first = {};
        int q = -ENOENT;

        /* Version 2 reports do not carry CPUID; a full CHIP_ID is Milan's or Genoa's. */
        if (r->product == SNP_PRODUCT_UNKNOWN && k->product != SNP_PRODUCT_UNKNOWN)
                candidates[0] = k->product;
        else if (r->product == SNP_PRODUCT_UNKNOWN) {
                candidates[0] = SNP_PRODUCT_MILAN;
                candidates[1] = SNP_PRODUCT_GENOA;
                n = 2;
        }

        /* The cache under every candidate before KDS under any. */
        for (size_t i = 0; n > 1 && i < n; i++) {
                _cleanup_(freep) char *rel = NULL, *url_path = NULL, *path = NULL;
                KdsKey key;

                q = vcek_names(r, candidates[i], &key, &rel, &url_path, d);
                if (q < 0)
                        return q;
                if (asprintf(&path, "%s/%s", k->cache_dir, rel) < 0)
                        return -ENOMEM;
                if (cache_read(path, check_vcek, &key, ret, ret_size, /* d= */ NULL) == 0)
                        return 0;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(freep) char *rel = NULL, *url_path = NULL;
                Diag this = {};
                KdsKey key;

                q = vcek_names(r, candidates[i], &key, &rel, &url_path, d);
                if (q < 0)
                        return q;
                q = lookup(k, rel, url_path, "VCEK", check_vcek, &key, ret, ret_size, &this);
                if (q >= 0)
                        return q;
                if (i == 0)
                        first = this;
                if (q != -ENOENT)
                        return diag_set(d, q, "%s", this.text);
        }
        if (n > 1)
                return diag_set(d, q, "%s (nor as %s: the report does not name its product line)",
                                first.text, snp_product_to_string(candidates[1]));
        return diag_set(d, q, "%s", first.text);
}

typedef struct CrlArg {
        SnpProduct product;
        time_t now;
} CrlArg;

static int check_crl(const uint8_t *buf, size_t size, const void *arg, Diag *d) {
        const CrlArg *a = arg;

        return kds_crl_check(buf, size, a->product, a->now, /* ret_next_update= */ NULL, d);
}

int kds_get_crl(Kds *k, SnpProduct p, time_t now, uint8_t **ret, size_t *ret_size, Diag *d) {
        _cleanup_(freep) char *rel = NULL, *url_path = NULL;
        CrlArg arg = { .product = p, .now = now };
        int r;

        r = kds_crl_cache_path(p, &rel);
        if (r < 0)
                return diag_set(d, r, "no KDS CRL for product line '%s'", snp_product_to_string(p));
        r = kds_crl_url_path(p, &url_path);
        if (r < 0)
                return r;
        return lookup(k, rel, url_path, "CRL", check_crl, &arg, ret, ret_size, d);
}

int kds_vcek_lookup(void *userdata, const SnpReport *r, uint8_t **ret, size_t *ret_size,
                    Diag *d) {
        return kds_get_vcek(userdata, r, ret, ret_size, d);
}
