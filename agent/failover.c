/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/failover.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strutil.h"

#define FAILOVER_JSON_VERSION 1
/* The document, its endpoints array and each endpoint. */
#define FAILOVER_DEPTH 3

static bool printable(char c) {
        return c >= 0x20 && c < 0x7f;
}

/* An http:// or https:// URL of printable ASCII without spaces, at most FAILOVER_URL_MAX. */
static bool url_ok(const char *s, size_t n) {
        const char *host;

        if (n == 0 || n > FAILOVER_URL_MAX || strlen(s) != n)
                return false;
        host = startswith(s, "https://") ?: startswith(s, "http://");
        if (!host || !*host || *host == '/')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!printable(s[i]) || s[i] == ' ')
                        return false;
        return true;
}

int failover_init(Failover *f, const char *const *urls, size_t n) {
        if (!f || (!urls && n > 0))
                return -EINVAL;
        if (n > FAILOVER_ENDPOINTS_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                if (!urls[i] || !*urls[i] || strlen(urls[i]) > FAILOVER_URL_MAX)
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (streq(urls[i], urls[j]))
                                return -EINVAL;
        }
        *f = (Failover) { .n = n };
        for (size_t i = 0; i < n; i++)
                memcpy(f->endpoints[i].url, urls[i], strlen(urls[i]) + 1);
        return 0;
}

int failover_find(const Failover *f, const char *url) {
        for (size_t i = 0; i < f->n; i++)
                if (streq(f->endpoints[i].url, url))
                        return (int) i;
        return -ENOENT;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
        uint64_t r;

        return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

void failover_restore(Failover *f, const Failover *saved, uint64_t now_usec,
                      uint64_t retry_after_usec) {
        uint64_t limit = add_sat(now_usec, retry_after_usec);

        for (size_t i = 0; i < f->n; i++) {
                FailoverEndpoint *e = &f->endpoints[i];
                int j = failover_find(saved, e->url);

                if (j < 0)
                        continue;
                *e = saved->endpoints[j];
                e->cool_until_usec = MIN(e->cool_until_usec, limit);
        }
}

size_t failover_order(const Failover *f, uint64_t now_usec,
                      size_t ret_order[static FAILOVER_ENDPOINTS_MAX]) {
        size_t n = 0, n_healthy;

        for (size_t i = 0; i < f->n && i < FAILOVER_ENDPOINTS_MAX; i++)
                if (!failover_endpoint_cooling(&f->endpoints[i], now_usec))
                        ret_order[n++] = i;
        n_healthy = n;
        /* The cooling ones by the end of their cool-down: an insertion sort, stable, so equal
         * ends keep list order. */
        for (size_t i = 0; i < f->n && i < FAILOVER_ENDPOINTS_MAX; i++) {
                size_t k;

                if (!failover_endpoint_cooling(&f->endpoints[i], now_usec))
                        continue;
                for (k = n; k > n_healthy && f->endpoints[ret_order[k - 1]].cool_until_usec >
                                             f->endpoints[i].cool_until_usec; k--)
                        ret_order[k] = ret_order[k - 1];
                ret_order[k] = i;
                n++;
        }
        return n;
}

FailoverOutcome failover_classify(int r, long status) {
        if (r == -ENOMEM)
                return FAILOVER_LOCAL;
        if (r < 0 || status <= 0)
                return FAILOVER_FAILURE;
        /* 408 (the server timed the request out) and 429 (too many requests) say nothing about
         * the evidence: another verifier may answer. */
        if (status == 408 || status == 429)
                return FAILOVER_FAILURE;
        if (status >= 100 && status < 400)
                return FAILOVER_SUCCESS;
        if (status >= 400 && status < 500)
                return FAILOVER_VERDICT;
        return FAILOVER_FAILURE;
}

int failover_record(Failover *f, size_t i, FailoverOutcome o, uint64_t now_usec,
                    uint64_t retry_after_usec, const char *error) {
        FailoverEndpoint *e;

        if (!f || i >= f->n || o < 0 || o >= _FAILOVER_OUTCOME_MAX)
                return -EINVAL;
        e = &f->endpoints[i];
        switch (o) {
        case FAILOVER_SUCCESS:
        case FAILOVER_VERDICT:
                e->last_success_usec = now_usec;
                e->failures = 0;
                e->cool_until_usec = 0;
                e->last_error[0] = '\0';
                break;
        case FAILOVER_FAILURE: {
                size_t k = 0;

                e->last_failure_usec = now_usec;
                if (e->failures < UINT32_MAX)
                        e->failures++;
                e->cool_until_usec = add_sat(now_usec, retry_after_usec);
                for (; error && k < FAILOVER_ERROR_MAX - 1 && error[k]; k++)
                        e->last_error[k] = printable(error[k]) ? error[k] : '?';
                e->last_error[k] = '\0';
                break;
        }
        default:
                break;
        }
        return 0;
}

uint64_t failover_backoff_ceiling(uint64_t base_usec, uint64_t cap_usec, unsigned round) {
        uint64_t v = base_usec;

        for (unsigned k = 0; k < round && v < cap_usec; k++)
                v = v > UINT64_MAX / 2 ? UINT64_MAX : v * 2;
        return MIN(v, cap_usec);
}

/* Uniform in [lo, hi] from a uniformly random 64-bit value. The modulo's bias is below
 * (hi - lo + 1) / 2^64: nothing for waits of microseconds. */
static uint64_t uniform(uint64_t lo, uint64_t hi, uint64_t random) {
        if (hi <= lo)
                return lo;
        if (hi - lo == UINT64_MAX)
                return random;
        return lo + random % (hi - lo + 1);
}

uint64_t failover_backoff_full(uint64_t base_usec, uint64_t cap_usec, unsigned round,
                               uint64_t random) {
        return uniform(0, failover_backoff_ceiling(base_usec, cap_usec, round), random);
}

uint64_t failover_backoff_decorrelated(uint64_t base_usec, uint64_t cap_usec, uint64_t prev_usec,
                                       uint64_t random) {
        uint64_t prev = MAX(prev_usec, base_usec), hi;

        hi = prev > UINT64_MAX / 3 ? UINT64_MAX : prev * 3;
        return MIN(uniform(base_usec, hi, random), cap_usec);
}

uint64_t failover_attempt_budget(uint64_t now_usec, uint64_t deadline_usec, uint64_t timeout_usec) {
        uint64_t left = UINT64_MAX;

        if (deadline_usec) {
                if (deadline_usec <= now_usec)
                        return 0;
                left = deadline_usec - now_usec;
        }
        if (timeout_usec)
                left = MIN(left, timeout_usec);
        return left < FAILOVER_ATTEMPT_MIN_USEC ? 0 : left;
}

static FailoverStep give_up(void) {
        return (FailoverStep) { .action = FAILOVER_GIVE_UP };
}

FailoverStep failover_run_next(FailoverRun *run, const Failover *f, uint64_t now_usec,
                               uint64_t random) {
        unsigned max_rounds = run->max_rounds;
        uint64_t budget;

        if (max_rounds == 0 && run->deadline_usec == 0)
                max_rounds = 1;
        if (run->next >= run->n_order) {
                /* A round ended without an answer (or none began yet). */
                if (max_rounds && run->rounds >= max_rounds)
                        return give_up();
                if (run->rounds > 0 && !run->waited) {
                        uint64_t w;

                        if (run->jitter == FAILOVER_JITTER_DECORRELATED)
                                w = failover_backoff_decorrelated(run->backoff_usec,
                                                                  run->backoff_max_usec,
                                                                  run->prev_wait_usec, random);
                        else
                                w = failover_backoff_full(run->backoff_usec,
                                                          run->backoff_max_usec,
                                                          run->rounds - 1, random);
                        if (run->deadline_usec) {
                                /* Leave an attempt's minimum after the wait, or stop now. */
                                if (run->deadline_usec <= now_usec ||
                                    run->deadline_usec - now_usec < FAILOVER_ATTEMPT_MIN_USEC)
                                        return give_up();
                                w = MIN(w, run->deadline_usec - now_usec -
                                                   FAILOVER_ATTEMPT_MIN_USEC);
                        }
                        run->prev_wait_usec = w;
                        run->waited = true;
                        if (w > 0)
                                return (FailoverStep) { .action = FAILOVER_WAIT, .wait_usec = w };
                }
                run->n_order = failover_order(f, now_usec, run->order);
                run->next = 0;
                run->rounds++;
                run->waited = false;
                if (run->n_order == 0)
                        return give_up();
        }
        budget = failover_attempt_budget(now_usec, run->deadline_usec, run->timeout_usec);
        if (budget == 0)
                return give_up();
        return (FailoverStep) {
                .action = FAILOVER_TRY,
                .endpoint = run->order[run->next++],
                .timeout_usec = budget,
        };
}

/* ---- JSON ---- */

static int add_u64(json_object *o, const char *key, uint64_t v) {
        return json_add_int(o, key, v > INT64_MAX ? INT64_MAX : (int64_t) v);
}

int failover_to_json(const Failover *f, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *a;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add_int(o, "version", FAILOVER_JSON_VERSION);
        if (r < 0)
                return r;
        a = json_object_new_array();
        r = json_add(o, "endpoints", a);
        if (r < 0 || !a)
                return -ENOMEM;
        for (size_t i = 0; i < f->n; i++) {
                const FailoverEndpoint *e = &f->endpoints[i];
                json_object *x = json_object_new_object();

                if (!x || json_object_array_add(a, x) < 0) {
                        json_object_put(x);
                        return -ENOMEM;
                }
                if (json_add_string(x, "url", e->url) < 0 ||
                    add_u64(x, "last-success-usec", e->last_success_usec) < 0 ||
                    add_u64(x, "last-failure-usec", e->last_failure_usec) < 0 ||
                    json_add_int(x, "failures", e->failures) < 0 ||
                    add_u64(x, "cool-until-usec", e->cool_until_usec) < 0 ||
                    json_add_string(x, "last-error", e->last_error) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* Only these members, each once (duplicates were refused before). */
static int members_known(json_object *o, const char *const *known, size_t n_known,
                         const char *where, Diag *d) {
        json_object_object_foreach(o, k, v) {
                bool found = false;

                (void) v;
                for (size_t i = 0; i < n_known && !found; i++)
                        found = streq(k, known[i]);
                if (!found) {
                        char buf[DIAG_PRINTABLE_MAX + 4];

                        return diag_set(d, -EBADMSG, "%s: unknown member \"%s\"", where,
                                        diag_printable(k, strlen(k), buf));
                }
        }
        return 0;
}

/* A non-negative integer member at most max (json-c saturates larger numbers at INT64_MAX,
 * which is therefore refused too). */
static int uint_member(json_object *o, const char *key, uint64_t max, uint64_t *ret,
                       const char *where, Diag *d) {
        json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v))
                return diag_set(d, -EBADMSG, "%s: \"%s\" missing", where, key);
        if (!json_object_is_type(v, json_type_int))
                return diag_set(d, -EBADMSG, "%s: \"%s\" is not an integer", where, key);
        i = json_object_get_int64(v);
        if (i < 0 || i == INT64_MAX || (uint64_t) i > max)
                return diag_set(d, -EBADMSG, "%s: \"%s\" is out of range", where, key);
        *ret = (uint64_t) i;
        return 0;
}

static int string_member(json_object *o, const char *key, const char **ret, size_t *ret_size,
                         const char *where, Diag *d) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return diag_set(d, -EBADMSG, "%s: \"%s\" missing", where, key);
        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "%s: \"%s\" is not a string", where, key);
        *ret = json_object_get_string(v);
        *ret_size = (size_t) json_object_get_string_len(v);
        return 0;
}

static int endpoint_from_json(json_object *x, FailoverEndpoint *e, const char *where, Diag *d) {
        static const char *const known[] = {
                "url", "last-success-usec", "last-failure-usec", "failures", "cool-until-usec",
                "last-error",
        };
        const char *s;
        size_t n;
        uint64_t u;
        int r;

        if (!json_object_is_type(x, json_type_object))
                return diag_set(d, -EBADMSG, "%s: not an object", where);
        r = members_known(x, known, ELEMENTSOF(known), where, d);
        if (r < 0)
                return r;
        r = string_member(x, "url", &s, &n, where, d);
        if (r < 0)
                return r;
        if (!url_ok(s, n))
                return diag_set(d, -EBADMSG, "%s: \"url\" is not an http(s) URL of printable "
                                "ASCII of at most %u bytes", where, FAILOVER_URL_MAX);
        memcpy(e->url, s, n + 1);
        if ((r = uint_member(x, "last-success-usec", UINT64_MAX, &e->last_success_usec, where,
                             d)) < 0 ||
            (r = uint_member(x, "last-failure-usec", UINT64_MAX, &e->last_failure_usec, where,
                             d)) < 0 ||
            (r = uint_member(x, "cool-until-usec", UINT64_MAX, &e->cool_until_usec, where,
                             d)) < 0 ||
            (r = uint_member(x, "failures", UINT32_MAX, &u, where, d)) < 0)
                return r;
        e->failures = (uint32_t) u;
        r = string_member(x, "last-error", &s, &n, where, d);
        if (r < 0)
                return r;
        if (n >= FAILOVER_ERROR_MAX)
                return diag_set(d, -EBADMSG, "%s: \"last-error\" is longer than %u bytes", where,
                                FAILOVER_ERROR_MAX - 1);
        for (size_t i = 0; i < n; i++)
                if (!printable(s[i]))
                        return diag_set(d, -EBADMSG, "%s: \"last-error\" is not printable ASCII",
                                        where);
        memcpy(e->last_error, s, n + 1);
        return 0;
}

int failover_from_json(const char *text, size_t size, Failover *ret, Diag *d) {
        static const char *const known[] = { "version", "endpoints" };
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(json_member_counts_done) JsonMemberCounts counts = {};
        _cleanup_(freep) Failover *f = NULL;
        json_object *a;
        size_t next = 0, n;
        uint64_t version;
        int r;

        if (!text || !ret)
                return -EINVAL;
        if (size > FAILOVER_JSON_MAX)
                return diag_set(d, -E2BIG, "verifier health: %zu bytes (at most %u)", size,
                                FAILOVER_JSON_MAX);
        /* json-c's depth counts one level more than the nested objects and arrays. */
        r = json_parse_capped(text, size, FAILOVER_JSON_MAX, FAILOVER_DEPTH + 1, &o);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG, "verifier health: not JSON, or nested deeper than %d",
                                FAILOVER_DEPTH);
        if (!json_object_is_type(o, json_type_object))
                return diag_set(d, -EBADMSG, "verifier health: not a JSON object");
        r = json_member_counts(text, size, FAILOVER_DEPTH + 1, FAILOVER_ENDPOINTS_MAX + 1,
                               &counts);
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return diag_set(d, -EBADMSG, "verifier health: more than %u endpoints",
                                FAILOVER_ENDPOINTS_MAX);
        if (r < 0 || json_members_unique(o, &counts, &next))
                return diag_set(d, -EBADMSG, "verifier health: a member appears twice");
        if (counts.nul_escape)
                return diag_set(d, -EBADMSG, "verifier health: a string holds \\u0000");
        r = members_known(o, known, ELEMENTSOF(known), "verifier health", d);
        if (r < 0)
                return r;
        r = uint_member(o, "version", UINT32_MAX, &version, "verifier health", d);
        if (r < 0)
                return r;
        if (version != FAILOVER_JSON_VERSION)
                return diag_set(d, -EPROTONOSUPPORT, "verifier health: version %" PRIu64
                                ", not %d", version, FAILOVER_JSON_VERSION);
        if (!json_object_object_get_ex(o, "endpoints", &a))
                return diag_set(d, -EBADMSG, "verifier health: \"endpoints\" missing");
        if (!json_object_is_type(a, json_type_array))
                return diag_set(d, -EBADMSG, "verifier health: \"endpoints\" is not an array");
        n = json_object_array_length(a);
        if (n > FAILOVER_ENDPOINTS_MAX)
                return diag_set(d, -EBADMSG, "verifier health: %zu endpoints (at most %u)", n,
                                FAILOVER_ENDPOINTS_MAX);
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char where[48];

                (void) snprintf(where, sizeof(where), "verifier health: endpoints[%zu]", i);
                r = endpoint_from_json(json_object_array_get_idx(a, i), &f->endpoints[i], where,
                                       d);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(f->endpoints[i].url, f->endpoints[j].url))
                                return diag_set(d, -EBADMSG, "%s: \"url\" is listed twice", where);
                f->n = i + 1;
        }
        *ret = *f;
        return 0;
}
