/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;
struct json_object;

/*
 * Failover between verifiers, the pure core: the endpoints with their health, the order to try
 * them in, what an attempt's outcome does to an endpoint, the backoff between rounds, and the
 * deadline arithmetic. No clock, no I/O, no randomness of its own: times and random values are
 * arguments. All times are microseconds of one clock the caller chooses; the agent uses
 * CLOCK_BOOTTIME, which never steps (early boot sets the wall clock), counts suspend, and means
 * the same to every process of one boot, which is the life of /run/cvm-agent/verifiers.json.
 *
 * The rules:
 *  - Requests go to the first healthy endpoint in the configured order. A failed one cools down
 *    for RetryAfter=; meanwhile it is tried only after every healthy one (the earliest to recover
 *    first), so that when all are down one is still tried, and it gets its place back when its
 *    cool-down ends.
 *  - A connection error, a timeout, a TLS failure, a 5xx (and 408, 429) count against an
 *    endpoint: try the next. A 4xx is the verifier's verdict: final, not retried elsewhere, and
 *    the endpoint is healthy, since it answered.
 *  - After a round in which every endpoint failed, wait (exponential backoff from Backoff= up to
 *    BackoffMax=, with jitter) and start a new round, while the overall deadline leaves time.
 *    Each attempt gets min(Timeout=, time left).
 */

#define FAILOVER_ENDPOINTS_MAX 8u
#define FAILOVER_URL_MAX 1024u             /* bytes of an endpoint URL */
#define FAILOVER_ERROR_MAX 256u            /* bytes of last_error, NUL included */
#define FAILOVER_JSON_MAX (64u * 1024u)    /* bytes of the health document */
/* An attempt with less time than this left is not begun. */
#define FAILOVER_ATTEMPT_MIN_USEC (UINT64_C(100) * 1000)

typedef struct FailoverEndpoint {
        char url[FAILOVER_URL_MAX + 1];
        uint64_t last_success_usec; /* it last answered (2xx, or a 4xx verdict); 0 never */
        uint64_t last_failure_usec; /* it last failed; 0 never */
        uint32_t failures;          /* consecutive failures since it last answered */
        uint64_t cool_until_usec;   /* not preferred before this time; 0 none */
        char last_error[FAILOVER_ERROR_MAX]; /* why it last failed ("" after an answer) */
} FailoverEndpoint;

typedef struct Failover {
        FailoverEndpoint endpoints[FAILOVER_ENDPOINTS_MAX];
        size_t n;
} Failover;

typedef enum FailoverOutcome {
        FAILOVER_SUCCESS, /* an answer that is not an error (1xx-3xx) */
        FAILOVER_VERDICT, /* a 4xx but 408 and 429: the verifier's verdict, final */
        FAILOVER_FAILURE, /* no answer (connection, timeout, TLS, an oversized body), 5xx, 408,
                           * 429: the next endpoint may do better */
        FAILOVER_LOCAL,   /* the attempt failed here (-ENOMEM): the endpoint's health stays */
        _FAILOVER_OUTCOME_MAX,
        _FAILOVER_OUTCOME_INVALID = -EINVAL,
} FailoverOutcome;

/*
 * Fills *f with n endpoints (at most FAILOVER_ENDPOINTS_MAX, each 1 to FAILOVER_URL_MAX bytes,
 * no two the same), all healthy. -E2BIG, -EINVAL; *f untouched on failure. Pure.
 */
int failover_init(Failover *f, const char *const *urls, size_t n);

/* The index of the endpoint with this URL, or -ENOENT. Pure. */
int failover_find(const Failover *f, const char *url);

/*
 * Takes over the health that saved (the file of an earlier cycle) records for the endpoints f
 * lists, matched by URL; endpoints saved does not know stay healthy, ones f no longer lists are
 * dropped. A cool-down longer than retry_after_usec from now is cut to that, so that a clock
 * gone backwards or a hostile file cannot park an endpoint for longer. Pure.
 */
void failover_restore(Failover *f, const Failover *saved, uint64_t now_usec,
                      uint64_t retry_after_usec);

/* Whether endpoint e is cooling down at now. Pure. */
static inline bool failover_endpoint_cooling(const FailoverEndpoint *e, uint64_t now_usec) {
        return e->cool_until_usec > now_usec;
}

/*
 * The order to try the endpoints in at now: the healthy ones in list order, then those cooling
 * down by the end of their cool-down (earliest first, list order among equals). Writes f->n
 * indexes into ret_order and returns f->n. Pure.
 */
size_t failover_order(const Failover *f, uint64_t now_usec,
                      size_t ret_order[static FAILOVER_ENDPOINTS_MAX]);

/*
 * What an attempt's result means: r is the transport's return (common/http.h: 0 when an answer
 * arrived, else -errno), status the HTTP status (0 for none). Pure.
 */
FailoverOutcome failover_classify(int r, long status);

/*
 * Records the outcome of an attempt at endpoint i at now. SUCCESS and VERDICT: last_success =
 * now, failures, cool-down and last_error cleared. FAILURE: last_failure = now, failures + 1,
 * cool-down until now + retry_after, last_error = error (printable ASCII kept, the rest '?',
 * cut to FAILOVER_ERROR_MAX - 1 bytes; NULL: ""). LOCAL: nothing. -EINVAL for an index or an
 * outcome out of range. A caller may pass a longer retry_after than RetryAfter= when the server
 * asked for one (a 503's Retry-After header). Pure.
 */
int failover_record(Failover *f, size_t i, FailoverOutcome o, uint64_t now_usec,
                    uint64_t retry_after_usec, const char *error);

/* The backoff's ceiling before round + 1: min(cap, base * 2^round), without overflow. Pure. */
uint64_t failover_backoff_ceiling(uint64_t base_usec, uint64_t cap_usec, unsigned round);

/*
 * "Full jitter": a wait uniform in [0, failover_backoff_ceiling(base, cap, round)], from a
 * uniformly random 64-bit value the caller drew. Pure.
 */
uint64_t failover_backoff_full(uint64_t base_usec, uint64_t cap_usec, unsigned round,
                               uint64_t random);

/*
 * "Decorrelated jitter": a wait uniform in [base, 3 * prev] (prev below base counts as base),
 * then capped at cap; the next call passes this wait as prev. Pure.
 */
uint64_t failover_backoff_decorrelated(uint64_t base_usec, uint64_t cap_usec, uint64_t prev_usec,
                                       uint64_t random);

/*
 * The time an attempt begun at now may take: min(timeout, deadline - now); deadline 0 means
 * none. 0 when less than FAILOVER_ATTEMPT_MIN_USEC is left: no attempt should begin. Pure.
 */
uint64_t failover_attempt_budget(uint64_t now_usec, uint64_t deadline_usec, uint64_t timeout_usec);

/*
 * One request's way through the endpoints, as a loop of steps:
 *
 *     FailoverRun run = { .deadline_usec = now + boot_deadline, .timeout_usec = timeout,
 *                         .backoff_usec = backoff, .backoff_max_usec = backoff_max };
 *     for (;;) {
 *             FailoverStep s = failover_run_next(&run, &f, now(), random64());
 *             if (s.action == FAILOVER_GIVE_UP) fail;
 *             if (s.action == FAILOVER_WAIT) { sleep(s.wait_usec); continue; }
 *             r = request(f.endpoints[s.endpoint].url, s.timeout_usec, &status);
 *             o = failover_classify(r, status);
 *             failover_record(&f, s.endpoint, o, now(), retry_after, why);
 *             if (o != FAILOVER_FAILURE) break;   // an answer, a verdict, or a local error
 *     }
 *
 * A round tries every endpoint once, in failover_order() at the round's start. Between rounds a
 * wait (jitter: full or decorrelated), cut so that an attempt still fits before the deadline.
 * GIVE_UP when the deadline leaves no time for an attempt, after max_rounds rounds, or when f
 * has no endpoint. With neither deadline nor max_rounds, one round.
 */
typedef enum FailoverJitter {
        FAILOVER_JITTER_FULL,
        FAILOVER_JITTER_DECORRELATED,
        _FAILOVER_JITTER_MAX,
        _FAILOVER_JITTER_INVALID = -EINVAL,
} FailoverJitter;

typedef struct FailoverRun {
        /* Set by the caller. */
        uint64_t deadline_usec;    /* overall, absolute; 0 none */
        uint64_t timeout_usec;     /* per attempt; 0: no limit but the deadline's */
        uint64_t backoff_usec, backoff_max_usec;
        unsigned max_rounds;       /* 0: until the deadline */
        FailoverJitter jitter;
        /* State; zero at the start. */
        size_t order[FAILOVER_ENDPOINTS_MAX];
        size_t n_order, next;
        unsigned rounds;           /* rounds begun */
        uint64_t prev_wait_usec;
        bool waited;
} FailoverRun;

typedef enum FailoverAction {
        FAILOVER_TRY,
        FAILOVER_WAIT,
        FAILOVER_GIVE_UP,
} FailoverAction;

typedef struct FailoverStep {
        FailoverAction action;
        size_t endpoint;           /* TRY: index into the Failover */
        uint64_t timeout_usec;     /* TRY: the attempt's time, min(timeout, time left) */
        uint64_t wait_usec;        /* WAIT: sleep this long, then ask again */
} FailoverStep;

/* The next step at now; random is a fresh uniformly random 64-bit value. Pure. */
FailoverStep failover_run_next(FailoverRun *run, const Failover *f, uint64_t now_usec,
                               uint64_t random);

/*
 * The health as JSON, the document /run/cvm-agent/verifiers.json holds:
 *     {"version": 1, "endpoints": [{"url": "https://...", "last-success-usec": 0,
 *      "last-failure-usec": 0, "failures": 0, "cool-until-usec": 0, "last-error": ""}, ...]}
 * *ret a new object. -ENOMEM. Pure.
 */
int failover_to_json(const Failover *f, struct json_object **ret);

/*
 * Parses that document strictly, since another process could have written it: at most
 * FAILOVER_JSON_MAX bytes (-E2BIG), RFC 8259 JSON, exactly the members above with their types,
 * no duplicate member, no other member, times and counts non-negative integers in range, an
 * http(s) URL of printable ASCII, a printable last-error, at most FAILOVER_ENDPOINTS_MAX
 * endpoints and no URL twice: else -EBADMSG; another version -EPROTONOSUPPORT. The Diag says
 * what and where. *ret filled only on success. Pure.
 */
int failover_from_json(const char *text, size_t size, Failover *ret, struct Diag *d);
