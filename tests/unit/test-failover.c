/* SPDX-License-Identifier: Apache-2.0 */
/* Failover between verifiers (agent/failover.c, pure): the order of endpoints and cool-downs,
 * what outcomes do (the 4xx rule), backoff bounds and jitter, the deadline arithmetic, a run
 * through the steps, and the health document's JSON, strict parse included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/failover.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "tests/unit/test-util.h"

#define SEC UINT64_C(1000000)
#define MSEC UINT64_C(1000)

static const char *const three[] = {
        "https://primary.example", "https://secondary.example", "https://tertiary.example",
};

static Failover make3(void) {
        Failover f;

        assert_int_equal(failover_init(&f, three, 3), 0);
        return f;
}

static void assert_order(const Failover *f, uint64_t now, size_t n, const size_t *want) {
        size_t order[FAILOVER_ENDPOINTS_MAX];

        assert_int_equal(failover_order(f, now, order), n);
        for (size_t i = 0; i < n; i++)
                if (order[i] != want[i])
                        fail_msg("at %" PRIu64 ": position %zu is %zu, expected %zu", now, i,
                                 order[i], want[i]);
}

static void fail_at(Failover *f, size_t i, uint64_t now, uint64_t retry_after) {
        assert_int_equal(failover_record(f, i, FAILOVER_FAILURE, now, retry_after, "down"), 0);
}

static void test_init(void **state) {
        static const char *const dup[] = { "https://a.example", "https://a.example" };
        const char *nine[9];
        char long_url[FAILOVER_URL_MAX + 2];
        const char *one[1] = { long_url };
        Failover f = make3(), g;

        assert_int_equal(f.n, 3);
        assert_string_equal(f.endpoints[1].url, "https://secondary.example");
        assert_int_equal(f.endpoints[1].failures, 0);
        assert_int_equal(failover_find(&f, "https://tertiary.example"), 2);
        assert_int_equal(failover_find(&f, "https://tertiary.example/"), -ENOENT);

        for (size_t i = 0; i < 9; i++)
                nine[i] = three[i % 3];
        g = f;
        assert_int_equal(failover_init(&g, nine, 9), -E2BIG);
        assert_int_equal(failover_init(&g, dup, 2), -EINVAL);
        memset(long_url, 'a', sizeof(long_url) - 1);
        long_url[sizeof(long_url) - 1] = '\0';
        assert_int_equal(failover_init(&g, one, 1), -EINVAL);
        /* Untouched on failure. */
        assert_memory_equal(&g, &f, sizeof(f));
        assert_int_equal(failover_init(&g, NULL, 0), 0);
        assert_int_equal(g.n, 0);
}

static void test_order_all_healthy(void **state) {
        Failover f = make3();

        assert_order(&f, 1000 * SEC, 3, (size_t[]) { 0, 1, 2 });
        /* Success keeps the list order; so does an endpoint that failed long ago. */
        assert_int_equal(failover_record(&f, 1, FAILOVER_SUCCESS, 1000 * SEC, 60 * SEC, NULL), 0);
        fail_at(&f, 0, 900 * SEC, 60 * SEC);
        assert_order(&f, 1000 * SEC, 3, (size_t[]) { 0, 1, 2 });
}

static void test_order_primary_down(void **state) {
        Failover f = make3();

        fail_at(&f, 0, 1000 * SEC, 60 * SEC);
        assert_true(failover_endpoint_cooling(&f.endpoints[0], 1000 * SEC));
        /* The first healthy in list order first; the cooling primary last, still tried. */
        assert_order(&f, 1000 * SEC, 3, (size_t[]) { 1, 2, 0 });
        assert_order(&f, 1059 * SEC, 3, (size_t[]) { 1, 2, 0 });
        /* The cool-down ends: the primary gets its place back. */
        assert_order(&f, 1060 * SEC - 1, 3, (size_t[]) { 1, 2, 0 });
        assert_order(&f, 1060 * SEC, 3, (size_t[]) { 0, 1, 2 });
        assert_false(failover_endpoint_cooling(&f.endpoints[0], 1060 * SEC));
}

static void test_order_all_down(void **state) {
        Failover f = make3();

        /* Failed at different times: the earliest to recover is tried first. */
        fail_at(&f, 1, 1000 * SEC, 60 * SEC); /* until 1060 */
        fail_at(&f, 2, 1010 * SEC, 60 * SEC); /* until 1070 */
        fail_at(&f, 0, 1020 * SEC, 60 * SEC); /* until 1080 */
        assert_order(&f, 1030 * SEC, 3, (size_t[]) { 1, 2, 0 });
        /* Once 1 recovered it leads among the healthy, the others by their end. */
        assert_order(&f, 1060 * SEC, 3, (size_t[]) { 1, 2, 0 });
        assert_order(&f, 1075 * SEC, 3, (size_t[]) { 1, 2, 0 });
        assert_order(&f, 1080 * SEC, 3, (size_t[]) { 0, 1, 2 });

        /* Equal ends keep list order. */
        f = make3();
        fail_at(&f, 2, 5 * SEC, 60 * SEC);
        fail_at(&f, 0, 5 * SEC, 60 * SEC);
        fail_at(&f, 1, 5 * SEC, 60 * SEC);
        assert_order(&f, 6 * SEC, 3, (size_t[]) { 0, 1, 2 });
        /* RetryAfter=0: a failed endpoint never waits. */
        f = make3();
        fail_at(&f, 0, 5 * SEC, 0);
        assert_order(&f, 5 * SEC, 3, (size_t[]) { 0, 1, 2 });
}

static void test_classify(void **state) {
        assert_int_equal(failover_classify(0, 200), FAILOVER_SUCCESS);
        assert_int_equal(failover_classify(0, 204), FAILOVER_SUCCESS);
        assert_int_equal(failover_classify(0, 302), FAILOVER_SUCCESS);
        assert_int_equal(failover_classify(0, 400), FAILOVER_VERDICT);
        assert_int_equal(failover_classify(0, 401), FAILOVER_VERDICT);
        assert_int_equal(failover_classify(0, 403), FAILOVER_VERDICT);
        assert_int_equal(failover_classify(0, 404), FAILOVER_VERDICT);
        assert_int_equal(failover_classify(0, 499), FAILOVER_VERDICT);
        assert_int_equal(failover_classify(0, 408), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 429), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 500), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 502), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 503), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 599), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 0), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 99), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(0, 600), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(-ECONNREFUSED, 0), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(-ETIMEDOUT, 0), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(-EHOSTUNREACH, 0), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(-EPROTO, 0), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(-EFBIG, 200), FAILOVER_FAILURE);
        assert_int_equal(failover_classify(-ENOMEM, 0), FAILOVER_LOCAL);
}

static void test_record(void **state) {
        Failover f = make3(), before;
        char long_error[600];

        /* Failures count, cool down and keep their reason (printable, cut). */
        fail_at(&f, 0, 100 * SEC, 60 * SEC);
        assert_int_equal(failover_record(&f, 0, FAILOVER_FAILURE, 110 * SEC, 60 * SEC,
                                         "connect: refused\n\x1b[31m"), 0);
        assert_int_equal(f.endpoints[0].failures, 2);
        assert_int_equal(f.endpoints[0].last_failure_usec, 110 * SEC);
        assert_int_equal(f.endpoints[0].cool_until_usec, 170 * SEC);
        assert_int_equal(f.endpoints[0].last_success_usec, 0);
        assert_string_equal(f.endpoints[0].last_error, "connect: refused??[31m");
        memset(long_error, 'x', sizeof(long_error) - 1);
        long_error[sizeof(long_error) - 1] = '\0';
        fail_at(&f, 1, 100 * SEC, UINT64_MAX); /* the cool-down saturates */
        assert_int_equal(f.endpoints[1].cool_until_usec, UINT64_MAX);
        assert_int_equal(failover_record(&f, 1, FAILOVER_FAILURE, 1, 1, long_error), 0);
        assert_int_equal(strlen(f.endpoints[1].last_error), FAILOVER_ERROR_MAX - 1);
        assert_int_equal(failover_record(&f, 1, FAILOVER_FAILURE, 1, 1, NULL), 0);
        assert_string_equal(f.endpoints[1].last_error, "");

        /* A 4xx is a verdict: the endpoint answered, so it is healthy again, not failed. */
        assert_int_equal(failover_record(&f, 0, failover_classify(0, 403), 120 * SEC, 60 * SEC,
                                         "denied"), 0);
        assert_int_equal(f.endpoints[0].failures, 0);
        assert_int_equal(f.endpoints[0].cool_until_usec, 0);
        assert_int_equal(f.endpoints[0].last_success_usec, 120 * SEC);
        assert_int_equal(f.endpoints[0].last_failure_usec, 110 * SEC);
        assert_string_equal(f.endpoints[0].last_error, "");
        assert_false(failover_endpoint_cooling(&f.endpoints[0], 120 * SEC));
        assert_order(&f, 120 * SEC, 3, (size_t[]) { 0, 1, 2 });
        /* A 4xx on a healthy endpoint changes nothing but the time it answered. */
        before = f;
        assert_int_equal(failover_record(&f, 2, FAILOVER_VERDICT, 130 * SEC, 60 * SEC, NULL), 0);
        assert_int_equal(f.endpoints[2].failures, 0);
        assert_int_equal(f.endpoints[2].cool_until_usec, 0);
        assert_int_equal(f.endpoints[2].last_success_usec, 130 * SEC);

        /* Success clears the failures. */
        assert_int_equal(failover_record(&f, 1, FAILOVER_SUCCESS, 140 * SEC, 60 * SEC, NULL), 0);
        assert_int_equal(f.endpoints[1].failures, 0);
        assert_int_equal(f.endpoints[1].cool_until_usec, 0);
        assert_int_equal(f.endpoints[1].last_success_usec, 140 * SEC);

        /* A local failure (out of memory here) leaves the endpoint as it was. */
        before = f;
        assert_int_equal(failover_record(&f, 0, FAILOVER_LOCAL, 150 * SEC, 60 * SEC, "oom"), 0);
        assert_memory_equal(&f, &before, sizeof(f));
        assert_int_equal(failover_record(&f, 3, FAILOVER_FAILURE, 1, 1, NULL), -EINVAL);
        assert_int_equal(failover_record(&f, 0, _FAILOVER_OUTCOME_MAX, 1, 1, NULL), -EINVAL);
        assert_int_equal(failover_record(&f, 0, -1, 1, 1, NULL), -EINVAL);
        assert_memory_equal(&f, &before, sizeof(f));
}

static void test_backoff_ceiling(void **state) {
        static const uint64_t want[] = { 1, 2, 4, 8, 16, 30, 30, 30 };

        for (unsigned r = 0; r < ELEMENTSOF(want); r++)
                assert_int_equal(failover_backoff_ceiling(SEC, 30 * SEC, r), want[r] * SEC);
        assert_int_equal(failover_backoff_ceiling(SEC, 30 * SEC, 200), 30 * SEC);
        assert_int_equal(failover_backoff_ceiling(UINT64_MAX / 2 + 1, UINT64_MAX, 1), UINT64_MAX);
        assert_int_equal(failover_backoff_ceiling(UINT64_MAX / 2 + 1, UINT64_MAX, 70), UINT64_MAX);
        assert_int_equal(failover_backoff_ceiling(10 * SEC, 5 * SEC, 0), 5 * SEC);
        assert_int_equal(failover_backoff_ceiling(0, 5 * SEC, 10), 0);
}

/* xorshift64*: reproducible random values for the jitter tests. */
static uint64_t next_random(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * UINT64_C(2685821657736338717);
}

static void test_backoff_full_jitter(void **state) {
        uint64_t seed = 42, sum = 0;
        unsigned low = 0, high = 0;
        const unsigned n = 20000;

        /* The extremes of the random value reach the extremes of the range. */
        assert_int_equal(failover_backoff_full(SEC, 30 * SEC, 2, 0), 0);
        assert_int_equal(failover_backoff_full(SEC, 30 * SEC, 2, 4 * SEC), 4 * SEC);
        assert_int_equal(failover_backoff_full(SEC, 30 * SEC, 2, 4 * SEC + 1), 0);
        assert_true(failover_backoff_full(SEC, 30 * SEC, 2, UINT64_MAX) <= 4 * SEC);
        assert_int_equal(failover_backoff_full(0, 30 * SEC, 5, 12345), 0);
        assert_true(failover_backoff_full(UINT64_MAX, UINT64_MAX, 0, 7) == 7);

        /* Uniform over [0, ceiling]: bounds hold, the mean is near the middle, and both ends of
         * the range are visited. */
        for (unsigned i = 0; i < n; i++) {
                uint64_t w = failover_backoff_full(SEC, 30 * SEC, 3, next_random(&seed));

                assert_true(w <= 8 * SEC);
                sum += w;
                low += w < SEC;
                high += w > 7 * SEC;
        }
        assert_true(sum / n > 3800 * MSEC && sum / n < 4200 * MSEC);
        assert_true(low > n / 10 && high > n / 10);
        for (unsigned i = 0; i < n; i++)
                assert_true(failover_backoff_full(SEC, 30 * SEC, 9, next_random(&seed)) <=
                            30 * SEC);
}

static void test_backoff_decorrelated(void **state) {
        uint64_t seed = 7, prev = 0, max_seen = 0;

        assert_int_equal(failover_backoff_decorrelated(SEC, 30 * SEC, 0, 0), SEC);
        assert_int_equal(failover_backoff_decorrelated(SEC, 30 * SEC, 0, 2 * SEC), 3 * SEC);
        assert_int_equal(failover_backoff_decorrelated(SEC, 30 * SEC, 4 * SEC, 11 * SEC),
                         12 * SEC);
        assert_int_equal(failover_backoff_decorrelated(SEC, 30 * SEC, 20 * SEC, 40 * SEC),
                         30 * SEC);
        assert_int_equal(failover_backoff_decorrelated(SEC, 30 * SEC, UINT64_MAX, 0), SEC);
        assert_true(failover_backoff_decorrelated(SEC, 30 * SEC, UINT64_MAX, UINT64_MAX) <=
                    30 * SEC);
        for (unsigned i = 0; i < 20000; i++) {
                uint64_t w = failover_backoff_decorrelated(SEC, 30 * SEC, prev,
                                                           next_random(&seed));

                assert_true(w >= SEC && w <= 30 * SEC);
                assert_true(w <= 3 * (prev > SEC ? prev : SEC));
                max_seen = w > max_seen ? w : max_seen;
                prev = w;
        }
        assert_true(max_seen > 25 * SEC);
}

static void test_attempt_budget(void **state) {
        /* Per-attempt deadline = min(Timeout, time left). */
        assert_int_equal(failover_attempt_budget(100 * SEC, 0, 10 * SEC), 10 * SEC);
        assert_int_equal(failover_attempt_budget(100 * SEC, 190 * SEC, 10 * SEC), 10 * SEC);
        assert_int_equal(failover_attempt_budget(100 * SEC, 104 * SEC, 10 * SEC), 4 * SEC);
        assert_int_equal(failover_attempt_budget(100 * SEC, 110 * SEC, 10 * SEC), 10 * SEC);
        assert_int_equal(failover_attempt_budget(100 * SEC, 104 * SEC, 0), 4 * SEC);
        assert_int_equal(failover_attempt_budget(100 * SEC, 0, 0), UINT64_MAX);
        /* Too little left, or the deadline passed: no attempt. */
        assert_int_equal(failover_attempt_budget(100 * SEC, 100 * SEC + FAILOVER_ATTEMPT_MIN_USEC,
                                                 10 * SEC), FAILOVER_ATTEMPT_MIN_USEC);
        assert_int_equal(failover_attempt_budget(100 * SEC,
                                                 100 * SEC + FAILOVER_ATTEMPT_MIN_USEC - 1,
                                                 10 * SEC), 0);
        assert_int_equal(failover_attempt_budget(100 * SEC, 100 * SEC, 10 * SEC), 0);
        assert_int_equal(failover_attempt_budget(100 * SEC, 50 * SEC, 10 * SEC), 0);
        /* A timeout below the minimum is no attempt either. */
        assert_int_equal(failover_attempt_budget(100 * SEC, 0, 50 * MSEC), 0);
}

/* The primary is down, the secondary answers: one round, primary then secondary. */
static void test_run_primary_down(void **state) {
        Failover f = make3();
        FailoverRun run = { .deadline_usec = 190 * SEC, .timeout_usec = 10 * SEC,
                            .backoff_usec = SEC, .backoff_max_usec = 30 * SEC };
        FailoverStep s;

        s = failover_run_next(&run, &f, 100 * SEC, 0);
        assert_int_equal(s.action, FAILOVER_TRY);
        assert_int_equal(s.endpoint, 0);
        assert_int_equal(s.timeout_usec, 10 * SEC);
        fail_at(&f, 0, 110 * SEC, 60 * SEC); /* timed out */
        s = failover_run_next(&run, &f, 110 * SEC, 0);
        assert_int_equal(s.action, FAILOVER_TRY);
        assert_int_equal(s.endpoint, 1);
        assert_int_equal(failover_record(&f, 1, FAILOVER_SUCCESS, 111 * SEC, 60 * SEC, NULL), 0);

        /* The next request (the monitor's next cycle) starts with the secondary while the
         * primary cools down, and with the primary again afterwards. */
        run = (FailoverRun) { .deadline_usec = 200 * SEC, .timeout_usec = 10 * SEC };
        s = failover_run_next(&run, &f, 150 * SEC, 0);
        assert_int_equal(s.endpoint, 1);
        run = (FailoverRun) { .deadline_usec = 300 * SEC, .timeout_usec = 10 * SEC };
        s = failover_run_next(&run, &f, 170 * SEC, 0);
        assert_int_equal(s.endpoint, 0);
}

/* All down: rounds separated by backoff, each round in the order of its start, until the
 * deadline; the waits are cut so that an attempt still fits. */
static void test_run_all_down_until_deadline(void **state) {
        Failover f = make3();
        FailoverRun run = { .deadline_usec = 90 * SEC, .timeout_usec = 10 * SEC,
                            .backoff_usec = SEC, .backoff_max_usec = 30 * SEC };
        uint64_t now = 0;
        unsigned tries = 0, waits = 0, rounds_seen = 0;
        FailoverStep s;

        for (;;) {
                s = failover_run_next(&run, &f, now, UINT64_MAX - 1);
                if (s.action == FAILOVER_GIVE_UP)
                        break;
                if (s.action == FAILOVER_WAIT) {
                        /* Full jitter at most the ceiling of the round. */
                        assert_true(s.wait_usec <= failover_backoff_ceiling(SEC, 30 * SEC,
                                                                            run.rounds - 1));
                        assert_true(now + s.wait_usec + FAILOVER_ATTEMPT_MIN_USEC <= 90 * SEC);
                        now += s.wait_usec;
                        waits++;
                        continue;
                }
                assert_int_equal(s.action, FAILOVER_TRY);
                assert_true(s.timeout_usec <= 10 * SEC);
                assert_true(now + s.timeout_usec <= 90 * SEC);
                if (run.next == 1) {
                        rounds_seen++;
                        /* Cool-downs of 5 s: in round 1 all are healthy (0, 1, 2); later the
                         * round starts with the earliest to recover. */
                        if (rounds_seen == 1)
                                assert_int_equal(s.endpoint, 0);
                }
                now += s.timeout_usec; /* every attempt times out */
                fail_at(&f, s.endpoint, now, 5 * SEC);
                tries++;
        }
        /* The deadline was used up, nothing past it. */
        assert_true(now <= 90 * SEC);
        assert_true(90 * SEC - now < FAILOVER_ATTEMPT_MIN_USEC + 10 * SEC);
        assert_true(tries >= 8 && waits >= 2);
        assert_int_equal(rounds_seen, run.rounds);
}

static void test_run_rounds_and_order(void **state) {
        Failover f = make3();
        FailoverRun run = { .timeout_usec = 10 * SEC, .backoff_usec = 2 * SEC,
                            .backoff_max_usec = 30 * SEC, .max_rounds = 2 };
        FailoverStep s;
        uint64_t now = 1000 * SEC;

        /* Round 1: 0, 1, 2 all refuse at once; their cool-downs end in the reverse order
         * (different RetryAfter= only to make the order visible). */
        for (size_t i = 0; i < 3; i++) {
                s = failover_run_next(&run, &f, now, 0);
                assert_int_equal(s.action, FAILOVER_TRY);
                assert_int_equal(s.endpoint, i);
                now += SEC;
                fail_at(&f, i, now, (120 >> i) * SEC);
        }
        /* A wait (full jitter, round 0's ceiling: random mod 2 s + 1 µs). */
        s = failover_run_next(&run, &f, now, SEC + 5);
        assert_int_equal(s.action, FAILOVER_WAIT);
        assert_int_equal(s.wait_usec, SEC + 5);
        now += s.wait_usec;
        /* Round 2, everyone cooling: the earliest to recover first. */
        s = failover_run_next(&run, &f, now, 0);
        assert_int_equal(s.action, FAILOVER_TRY);
        assert_int_equal(s.endpoint, 2);
        s = failover_run_next(&run, &f, now, 0);
        assert_int_equal(s.endpoint, 1);
        s = failover_run_next(&run, &f, now, 0);
        assert_int_equal(s.endpoint, 0);
        /* Two rounds were allowed. */
        s = failover_run_next(&run, &f, now, 0);
        assert_int_equal(s.action, FAILOVER_GIVE_UP);
        s = failover_run_next(&run, &f, now, 0);
        assert_int_equal(s.action, FAILOVER_GIVE_UP);

        /* Neither deadline nor rounds: one round. */
        run = (FailoverRun) {};
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(failover_run_next(&run, &f, now, 0).action, FAILOVER_TRY);
        assert_int_equal(failover_run_next(&run, &f, now, 0).action, FAILOVER_GIVE_UP);

        /* No endpoint: give up at once. */
        f.n = 0;
        run = (FailoverRun) { .deadline_usec = now + 90 * SEC };
        assert_int_equal(failover_run_next(&run, &f, now, 0).action, FAILOVER_GIVE_UP);
}

static void test_run_deadline(void **state) {
        Failover f = make3();
        FailoverRun run = { .deadline_usec = 10 * SEC, .timeout_usec = 10 * SEC,
                            .backoff_usec = 20 * SEC, .backoff_max_usec = 20 * SEC,
                            .jitter = FAILOVER_JITTER_DECORRELATED };
        FailoverStep s;

        /* The first attempt gets the time left, not the full timeout. */
        s = failover_run_next(&run, &f, 4 * SEC, 0);
        assert_int_equal(s.action, FAILOVER_TRY);
        assert_int_equal(s.timeout_usec, 6 * SEC);
        /* The deadline ran out in the middle of a round. */
        s = failover_run_next(&run, &f, 10 * SEC - FAILOVER_ATTEMPT_MIN_USEC + 1, 0);
        assert_int_equal(s.action, FAILOVER_GIVE_UP);

        /* A wait longer than what is left is cut to leave one attempt's minimum. */
        run = (FailoverRun) { .deadline_usec = 10 * SEC, .timeout_usec = SEC,
                              .backoff_usec = 20 * SEC, .backoff_max_usec = 20 * SEC,
                              .jitter = FAILOVER_JITTER_DECORRELATED };
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(failover_run_next(&run, &f, SEC, 0).action, FAILOVER_TRY);
        s = failover_run_next(&run, &f, 2 * SEC, 0);
        assert_int_equal(s.action, FAILOVER_WAIT);
        assert_int_equal(s.wait_usec, 8 * SEC - FAILOVER_ATTEMPT_MIN_USEC);
        s = failover_run_next(&run, &f, 10 * SEC - FAILOVER_ATTEMPT_MIN_USEC, 0);
        assert_int_equal(s.action, FAILOVER_TRY);
        assert_int_equal(s.timeout_usec, FAILOVER_ATTEMPT_MIN_USEC);
}

/* ---- JSON ---- */

static char *to_text(const Failover *f) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        char *s;

        assert_int_equal(failover_to_json(f, &o), 0);
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        assert_non_null(s);
        return s;
}

static void test_json_round_trip(void **state) {
        Failover f = make3(), g, empty;
        Diag d = {};
        char *text;

        assert_int_equal(failover_record(&f, 0, FAILOVER_SUCCESS, 100 * SEC, 60 * SEC, NULL), 0);
        fail_at(&f, 0, 200 * SEC, 60 * SEC);
        assert_int_equal(failover_record(&f, 0, FAILOVER_FAILURE, 201 * SEC, 60 * SEC,
                                         "POST https://primary.example/attest/AzureGuest: "
                                         "503 \"busy\" \\ /"), 0);
        assert_int_equal(failover_record(&f, 2, FAILOVER_VERDICT, 150 * SEC, 60 * SEC, NULL), 0);
        f.endpoints[1].cool_until_usec = (uint64_t) INT64_MAX - 1;
        text = to_text(&f);
        assert_non_null(strstr(text, "\"version\":1"));
        assert_non_null(strstr(text, "\"url\":\"https://primary.example\""));
        assert_non_null(strstr(text, "\"failures\":2"));
        memset(&g, 0x5a, sizeof(g));
        if (failover_from_json(text, strlen(text), &g, &d) < 0)
                fail_msg("%s: %s", text, d.text);
        assert_int_equal(g.n, 3);
        for (size_t i = 0; i < 3; i++) {
                const FailoverEndpoint *a = &f.endpoints[i], *b = &g.endpoints[i];

                assert_string_equal(a->url, b->url);
                assert_int_equal(a->last_success_usec, b->last_success_usec);
                assert_int_equal(a->last_failure_usec, b->last_failure_usec);
                assert_int_equal(a->failures, b->failures);
                assert_int_equal(a->cool_until_usec, b->cool_until_usec);
                assert_string_equal(a->last_error, b->last_error);
        }
        free(text);

        /* No endpoints at all round-trips too. */
        assert_int_equal(failover_init(&empty, NULL, 0), 0);
        text = to_text(&empty);
        assert_string_equal(text, "{\"version\":1,\"endpoints\":[]}");
        assert_int_equal(failover_from_json(text, strlen(text), &g, NULL), 0);
        assert_int_equal(g.n, 0);
        free(text);
}

#define EP(extra)                                                                          \
        "{\"url\":\"https://a.example\",\"last-success-usec\":1,\"last-failure-usec\":2," \
        "\"failures\":3,\"cool-until-usec\":4,\"last-error\":\"x\"" extra "}"

static void test_json_strict(void **state) {
        static const struct {
                const char *text;
                int error;
                const char *message;
        } cases[] = {
                { "{\"version\":1,\"endpoints\":[" EP("") "]}", 0, NULL },
                { " {\"version\":1,\"endpoints\":[]} \n", 0, NULL },
                { "{\"version\":2,\"endpoints\":[]}", -EPROTONOSUPPORT,
                  "verifier health: version 2, not 1" },
                { "{\"endpoints\":[]}", -EBADMSG, "verifier health: \"version\" missing" },
                { "{\"version\":1}", -EBADMSG, "verifier health: \"endpoints\" missing" },
                { "{\"version\":\"1\",\"endpoints\":[]}", -EBADMSG,
                  "verifier health: \"version\" is not an integer" },
                { "{\"version\":1,\"endpoints\":{}}", -EBADMSG,
                  "verifier health: \"endpoints\" is not an array" },
                { "{\"version\":1,\"endpoints\":[],\"extra\":0}", -EBADMSG,
                  "verifier health: unknown member \"extra\"" },
                { "{\"version\":1,\"version\":1,\"endpoints\":[]}", -EBADMSG,
                  "verifier health: a member appears twice" },
                { "{\"version\":1,\"endpoints\":[" EP(",\"failures\":3") "]}", -EBADMSG,
                  "verifier health: a member appears twice" },
                { "{\"version\":1,\"endpoints\":[" EP(",\"weight\":1") "]}", -EBADMSG,
                  "verifier health: endpoints[0]: unknown member \"weight\"" },
                { "{\"version\":1,\"endpoints\":[" EP("") "," EP("") "]}", -EBADMSG,
                  "verifier health: endpoints[1]: \"url\" is listed twice" },
                { "{\"version\":1,\"endpoints\":[1]}", -EBADMSG,
                  "verifier health: endpoints[0]: not an object" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a.example\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"last-success-usec\" missing" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"ftp://a\",\"last-success-usec\":1,"
                  "\"last-failure-usec\":2,\"failures\":3,\"cool-until-usec\":4,"
                  "\"last-error\":\"\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"url\" is not an http(s) URL" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\\u0000b\","
                  "\"last-success-usec\":1,\"last-failure-usec\":2,\"failures\":3,"
                  "\"cool-until-usec\":4,\"last-error\":\"\"}]}", -EBADMSG,
                  "verifier health: a string holds \\u0000" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\",\"last-success-usec\":-1,"
                  "\"last-failure-usec\":2,\"failures\":3,\"cool-until-usec\":4,"
                  "\"last-error\":\"\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"last-success-usec\" is out of range" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\",\"last-success-usec\":1.5,"
                  "\"last-failure-usec\":2,\"failures\":3,\"cool-until-usec\":4,"
                  "\"last-error\":\"\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"last-success-usec\" is not an integer" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\",\"last-success-usec\":1,"
                  "\"last-failure-usec\":2,\"failures\":4294967296,\"cool-until-usec\":4,"
                  "\"last-error\":\"\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"failures\" is out of range" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\",\"last-success-usec\":1,"
                  "\"last-failure-usec\":2,\"failures\":3,"
                  "\"cool-until-usec\":99999999999999999999999,\"last-error\":\"\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"cool-until-usec\" is out of range" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\",\"last-success-usec\":1,"
                  "\"last-failure-usec\":2,\"failures\":3,\"cool-until-usec\":4,"
                  "\"last-error\":\"a\\u001bb\"}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"last-error\" is not printable ASCII" },
                { "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\",\"last-success-usec\":1,"
                  "\"last-failure-usec\":2,\"failures\":3,\"cool-until-usec\":4,"
                  "\"last-error\":null}]}", -EBADMSG,
                  "verifier health: endpoints[0]: \"last-error\" is not a string" },
                { "{\"version\":1,\"endpoints\":[]} x", -EBADMSG, "verifier health: not JSON" },
                { "{\"version\":1,\"endpoints\":[],}", -EBADMSG, "verifier health: not JSON" },
                { "/* c */{\"version\":1,\"endpoints\":[]}", -EBADMSG,
                  "verifier health: not JSON" },
                { "[]", -EBADMSG, "verifier health: not a JSON object" },
                { "{\"version\":1,\"endpoints\":[[[[1]]]]}", -EBADMSG,
                  "verifier health: not JSON, or nested deeper than 3" },
                { "", -EBADMSG, "verifier health: not JSON" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Failover f;
                Diag d = {};
                int r;

                memset(&f, 0x5a, sizeof(f));
                r = failover_from_json(cases[i].text, strlen(cases[i].text), &f, &d);
                if (r != cases[i].error)
                        fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].error, d.text);
                if (cases[i].message &&
                    strncmp(d.text, cases[i].message, strlen(cases[i].message)) != 0)
                        fail_msg("case %zu: \"%s\", expected \"%s\"", i, d.text,
                                 cases[i].message);
                if (r < 0)
                        assert_int_equal(f.endpoints[0].url[0], 0x5a); /* untouched */
        }
}

static void test_json_limits(void **state) {
        char *text, *p;
        Failover f;
        Diag d = {};
        size_t size = FAILOVER_JSON_MAX + 1;

        /* Nine endpoints. */
        text = malloc(4096);
        assert_non_null(text);
        p = text + snprintf(text, 4096, "{\"version\":1,\"endpoints\":[");
        for (int i = 0; i < 9; i++)
                p += snprintf(p, 4096 - (size_t) (p - text),
                              "%s{\"url\":\"https://%d.example\",\"last-success-usec\":0,"
                              "\"last-failure-usec\":0,\"failures\":0,\"cool-until-usec\":0,"
                              "\"last-error\":\"\"}", i ? "," : "", i);
        (void) snprintf(p, 4096 - (size_t) (p - text), "]}");
        assert_int_equal(failover_from_json(text, strlen(text), &f, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "endpoints"));
        free(text);

        /* Over the size cap: refused before parsing. */
        text = malloc(size);
        assert_non_null(text);
        memset(text, ' ', size);
        memset(&d, 0, sizeof(d));
        assert_int_equal(failover_from_json(text, size, &f, &d), -E2BIG);
        assert_string_equal(d.text, "verifier health: 65537 bytes (at most 65536)");
        free(text);

        /* A last-error at the limit parses, one byte more does not. */
        text = malloc(2048);
        assert_non_null(text);
        (void) snprintf(text, 2048, "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\","
                        "\"last-success-usec\":0,\"last-failure-usec\":0,\"failures\":0,"
                        "\"cool-until-usec\":0,\"last-error\":\"%0*d\"}]}",
                        (int) FAILOVER_ERROR_MAX - 1, 0);
        assert_int_equal(failover_from_json(text, strlen(text), &f, NULL), 0);
        assert_int_equal(strlen(f.endpoints[0].last_error), FAILOVER_ERROR_MAX - 1);
        (void) snprintf(text, 2048, "{\"version\":1,\"endpoints\":[{\"url\":\"https://a\","
                        "\"last-success-usec\":0,\"last-failure-usec\":0,\"failures\":0,"
                        "\"cool-until-usec\":0,\"last-error\":\"%0*d\"}]}",
                        (int) FAILOVER_ERROR_MAX, 0);
        assert_int_equal(failover_from_json(text, strlen(text), &f, NULL), -EBADMSG);
        free(text);
}

static void test_restore(void **state) {
        static const char *const now_listed[] = {
                "https://new.example", "https://secondary.example", "https://primary.example",
        };
        Failover saved = make3(), f;

        fail_at(&saved, 0, 1000 * SEC, 60 * SEC);
        assert_int_equal(failover_record(&saved, 1, FAILOVER_SUCCESS, 1000 * SEC, 0, NULL), 0);
        saved.endpoints[2].failures = 7;
        /* A cool-down far in the future (a clock gone back, or a hostile file). */
        saved.endpoints[0].cool_until_usec = UINT64_MAX;

        assert_int_equal(failover_init(&f, now_listed, 3), 0);
        failover_restore(&f, &saved, 1010 * SEC, 60 * SEC);
        /* Matched by URL, in the new order; the unknown one healthy; the dropped one gone. */
        assert_string_equal(f.endpoints[0].url, "https://new.example");
        assert_int_equal(f.endpoints[0].failures, 0);
        assert_int_equal(f.endpoints[0].cool_until_usec, 0);
        assert_int_equal(f.endpoints[1].last_success_usec, 1000 * SEC);
        assert_int_equal(f.endpoints[2].failures, 1);
        assert_string_equal(f.endpoints[2].last_error, "down");
        /* Cut to now + RetryAfter. */
        assert_int_equal(f.endpoints[2].cool_until_usec, 1070 * SEC);
        assert_int_equal(failover_find(&f, "https://tertiary.example"), -ENOENT);
        assert_true(failover_endpoint_cooling(&f.endpoints[2], 1070 * SEC - 1));
        assert_false(failover_endpoint_cooling(&f.endpoints[2], 1070 * SEC));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init),
                cmocka_unit_test(test_order_all_healthy),
                cmocka_unit_test(test_order_primary_down),
                cmocka_unit_test(test_order_all_down),
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_record),
                cmocka_unit_test(test_backoff_ceiling),
                cmocka_unit_test(test_backoff_full_jitter),
                cmocka_unit_test(test_backoff_decorrelated),
                cmocka_unit_test(test_attempt_budget),
                cmocka_unit_test(test_run_primary_down),
                cmocka_unit_test(test_run_all_down_until_deadline),
                cmocka_unit_test(test_run_rounds_and_order),
                cmocka_unit_test(test_run_deadline),
                cmocka_unit_test(test_json_round_trip),
                cmocka_unit_test(test_json_strict),
                cmocka_unit_test(test_json_limits),
                cmocka_unit_test(test_restore),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
