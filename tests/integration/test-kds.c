/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verifier/kds.c (and common/http.c under it) against tests/integration/fake-kds serving the real
 * VCEKs of the vectors' reports at their KDS URLs. Each test starts its own fake KDS, so its
 * request counts start at zero. Skips without the vectors.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/x509.h>

#include "common/diag.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "tests/unit/test-util.h"
#include "verifier/kds-key.h"
#include "verifier/kds.h"

/* Real reports with their real VCEKs (DER), ../shared/vectors/README.md §2. */
static const struct {
        const char *report, *vcek;
} vectors[] = {
        { "snp/go-sev-guest/attestation.bin", "snp/go-sev-guest/vcek.testcer" },
        { "snp/virtee-sev/report_milan.bin", "snp/virtee-sev/vcek_milan.der" },
        { "snp/trustee/test-report.bin", "snp/trustee/test-vcek.der" },
        { "snp/constellation/attestation.bin", "snp/constellation/vcek.cert" },
        { "snp/oak/genoa_oc_report.bin", "snp/oak/genoa_oc_vcek.der" },
        { "snp/oak/turin_oc_report.bin", "snp/oak/turin_oc_vcek.der" },
        { "snp/oak/milan_oc_release_report.bin", "snp/oak/milan_oc_release_vcek.der" },
        { "snp/oak/milan_rk_release_report.bin", "snp/oak/milan_rk_release_vcek.der" },
};
#define N_VECTORS ELEMENTSOF(vectors)

typedef struct Vec {
        SnpReport rep;
        uint8_t *der;
        size_t der_size;
        char *target;   /* KDS request target */
        char *rel;      /* cache path */
} Vec;

static Vec vec[N_VECTORS];
static char *workdir;   /* under $top_builddir */
static const char *fake_kds;
static unsigned dir_seq;

typedef struct Server {
        pid_t pid;
        char url[64];
} Server;

static void write_file_mkdir(const char *path, const void *data, size_t size) {
        char *p = strdup(path);

        assert_non_null(p);
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                (void) mkdir(p, 0755);
                *s = '/';
        }
        free(p);
        assert_int_equal(write_file_atomic(path, data, size), 0);
}

/* A new empty directory under the work directory. */
static char *new_dir(const char *what) {
        char *d;

        assert_true(asprintf(&d, "%s/%s-%u", workdir, what, ++dir_seq) > 0);
        assert_int_equal(mkdir(d, 0755), 0);
        return d;
}

/* A directory laid out like KDS: every vector's VCEK at its target. */
static char *serve_dir(void) {
        char *d = new_dir("serve");

        for (size_t i = 0; i < N_VECTORS; i++) {
                char *p;

                assert_true(asprintf(&p, "%s%s", d, vec[i].target) > 0);
                write_file_mkdir(p, vec[i].der, vec[i].der_size);
                free(p);
        }
        return d;
}

static void put_file(const char *dir, const char *rel, const void *data, size_t size) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        write_file_mkdir(p, data, size);
        free(p);
}

static bool file_equals(const char *dir, const char *rel, const void *data, size_t size) {
        uint8_t *buf = NULL;
        size_t n = 0;
        char *p;
        bool eq;

        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        eq = read_full_file(p, 1u << 20, &buf, &n) == 0 && n == size && memcmp(buf, data, n) == 0;
        free(p);
        free(buf);
        return eq;
}

static bool file_exists(const char *dir, const char *rel) {
        struct stat st;
        char *p;
        bool r;

        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        r = stat(p, &st) == 0;
        free(p);
        return r;
}

/* Starts fake-kds --dir DIR ARGS... and reads the port it prints. */
static void server_start(Server *s, const char *dir, const char *const *args) {
        const char *argv[32] = { fake_kds, "--dir", dir };
        size_t n = 3;
        int fds[2];
        char line[32] = "";
        uint32_t port;
        FILE *f;

        for (; args && *args; args++) {
                assert_true(n < ELEMENTSOF(argv) - 1);
                argv[n++] = *args;
        }
        assert_int_equal(pipe(fds), 0);
        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                (void) dup2(fds[1], STDOUT_FILENO);
                (void) close(fds[0]);
                (void) close(fds[1]);
                execv(fake_kds, (char **) argv);
                _exit(127);
        }
        (void) close(fds[1]);
        f = fdopen(fds[0], "r");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof(line), f));
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        assert_int_equal(safe_atou32(line, &port), 0);
        (void) snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", port);
}

static void server_stop(Server *s) {
        int status;

        if (s->pid <= 0)
                return;
        (void) kill(s->pid, SIGTERM);
        (void) waitpid(s->pid, &status, 0);
        s->pid = 0;
}

/* How many requests the fake KDS saw for target (every target when NULL). */
static unsigned server_count(const Server *s, const char *target) {
        HttpResponse resp = {};
        unsigned total = 0;
        char *url, *save = NULL;

        assert_true(asprintf(&url, "%s/stats", s->url) > 0);
        assert_int_equal(http_get(url, NULL, &resp, NULL), 0);
        assert_int_equal(resp.status, 200);
        for (char *l = strtok_r((char *) resp.body, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(l, ' ');
                uint32_t n;

                assert_non_null(sp);
                *sp = '\0';
                assert_int_equal(safe_atou32(l, &n), 0);
                if (!target || streq(sp + 1, target))
                        total += n;
        }
        http_response_done(&resp);
        free(url);
        return total;
}

static Kds *kds_open(const char *url, const char *cache, unsigned timeout_ms, bool allow_stale) {
        KdsConfig c = {
                .url = url,
                .cache_dir = cache,
                .timeout_ms = timeout_ms,
                .backoff_s = 1,
                .allow_stale_crl = allow_stale,
        };
        Diag d = {};
        Kds *k = NULL;

        assert_int_equal(kds_new(&c, &k, &d), 0);
        return k;
}

static uint64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* Fetches vector i and expects r; on success the bytes must be its VCEK. */
static void expect_vcek(Kds *k, size_t i, int want, const char *diag_fragment) {
        uint8_t *der = NULL;
        size_t size = 0;
        Diag d = {};
        int r;

        r = kds_get_vcek(k, &vec[i].rep, &der, &size, &d);
        if (r != want)
                print_error("vector %zu: %d (%s), expected %d\n", i, r, d.text, want);
        assert_int_equal(r, want);
        if (r == 0) {
                assert_int_equal(size, vec[i].der_size);
                assert_memory_equal(der, vec[i].der, size);
        } else if (diag_fragment && !strstr(d.text, diag_fragment)) {
                print_error("diag '%s' lacks '%s'\n", d.text, diag_fragment);
                fail();
        }
        free(der);
}

static int setup(void **state) {
        const char *b = secure_getenv("top_builddir") ?: ".";
        static char *path;
        char *tmpl;

        if (!test_vectors_dir())
                return 0;
        assert_true(asprintf(&path, "%s/tests/integration/fake-kds", b) > 0);
        fake_kds = path;
        if (http_global_init() < 0)
                return -1;
        assert_true(asprintf(&tmpl, "%s/tests/integration/test-kds.XXXXXX", b) > 0);
        workdir = mkdtemp(tmpl);
        if (!workdir)
                return -1;
        for (size_t i = 0; i < N_VECTORS; i++) {
                size_t size;
                uint8_t *buf = test_read_vector(vectors[i].report, &size);
                Diag d = {};
                KdsKey key;

                SnpReport as;

                if (size < SNP_REPORT_SIZE ||
                    snp_report_parse(buf, SNP_REPORT_SIZE, &vec[i].rep, &d) < 0)
                        return -1;
                /* Version 2 reports do not name their product; these are all Milan, where the
                 * client looks first. */
                as = vec[i].rep;
                if (as.product == SNP_PRODUCT_UNKNOWN)
                        as.product = SNP_PRODUCT_MILAN;
                if (snp_kds_vcek_path(&as, &vec[i].target) < 0 ||
                    kds_key_from_report(&as, &key, &d) < 0 ||
                    kds_key_cache_path(&key, &vec[i].rel) < 0) {
                        print_error("%s: %s\n", vectors[i].report, d.text);
                        return -1;
                }
                free(buf);
                vec[i].der = test_read_vector(vectors[i].vcek, &vec[i].der_size);
        }
        return 0;
}

static int teardown(void **state) {
        char *cmd;

        for (size_t i = 0; i < N_VECTORS; i++) {
                free(vec[i].der);
                free(vec[i].target);
                free(vec[i].rel);
        }
        if (workdir && asprintf(&cmd, "rm -rf '%s'", workdir) > 0) {
                if (system(cmd) != 0)
                        print_error("cannot remove %s\n", workdir);
                free(cmd);
        }
        free(workdir);
        return 0;
}

/* Miss, fetch, cache file written; the next lookups (also from a new client) ask nobody. */
static void test_fetch_then_cached(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        Server s = {};
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        server_start(&s, serve, NULL);
        k = kds_open(s.url, cache, 0, false);
        for (size_t i = 0; i < N_VECTORS; i++) {
                assert_false(file_exists(cache, vec[i].rel));
                expect_vcek(k, i, 0, NULL);
                assert_true(file_equals(cache, vec[i].rel, vec[i].der, vec[i].der_size));
                assert_int_equal(server_count(&s, vec[i].target), 1);
                expect_vcek(k, i, 0, NULL);
                assert_int_equal(server_count(&s, vec[i].target), 1);
        }
        kds_free(k);
        k = kds_open(s.url, cache, 0, false);
        expect_vcek(k, 0, 0, NULL);
        assert_int_equal(server_count(&s, NULL), N_VECTORS);
        kds_free(k);
        server_stop(&s);
}

/* Server gone: the cache still answers; offline mode (no URL) too, and names the missing path. */
static void test_offline(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        Server s = {};
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        server_start(&s, serve, NULL);
        k = kds_open(s.url, cache, 0, false);
        expect_vcek(k, 1, 0, NULL);
        server_stop(&s);
        expect_vcek(k, 1, 0, NULL);
        /* Not cached, server down: the connection error. */
        expect_vcek(k, 2, -ECONNREFUSED, "127.0.0.1");
        kds_free(k);

        k = kds_open(NULL, cache, 0, false);
        expect_vcek(k, 1, 0, NULL);
        expect_vcek(k, 2, -ENOENT, vec[2].rel);
        expect_vcek(k, 2, -ENOENT, "no KDS URL");
        kds_free(k);
}

/* A corrupt or foreign cache file is never used: refetched online, an error offline. */
static void test_corrupt_cache(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        static const char garbage[] = "not a certificate";
        Server s = {};
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        put_file(cache, vec[0].rel, garbage, sizeof(garbage));
        put_file(cache, vec[1].rel, vec[2].der, vec[2].der_size); /* another chip's VCEK */
        put_file(cache, vec[2].rel, vec[2].der, vec[2].der_size - 1); /* truncated */

        k = kds_open(NULL, cache, 0, false);
        expect_vcek(k, 0, -EBADMSG, "not exactly one DER certificate");
        expect_vcek(k, 1, -EBADMSG, "hwID");
        expect_vcek(k, 2, -EBADMSG, vec[2].rel);
        kds_free(k);

        server_start(&s, serve, NULL);
        k = kds_open(s.url, cache, 0, false);
        for (size_t i = 0; i < 3; i++) {
                expect_vcek(k, i, 0, NULL);
                assert_int_equal(server_count(&s, vec[i].target), 1);
                assert_true(file_equals(cache, vec[i].rel, vec[i].der, vec[i].der_size));
        }
        kds_free(k);
        server_stop(&s);
}

/* KDS answering with another chip's VCEK: refused and not cached. */
static void test_wrong_body(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        Server s = {};
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = new_dir("serve");
        cache = new_dir("cache");
        put_file(serve, vec[3].target + 1, vec[4].der, vec[4].der_size);
        server_start(&s, serve, NULL);
        k = kds_open(s.url, cache, 0, false);
        expect_vcek(k, 3, -EBADMSG, "not the VCEK asked for");
        assert_false(file_exists(cache, vec[3].rel));
        kds_free(k);
        server_stop(&s);
}

/* 404 is -ENOENT and asks again next time; 429 is -EBUSY and starts a back-off during which
 * nothing uncached is asked for, while the cache still answers. */
static void test_404_429(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL, *rule = NULL;
        const char *args[6];
        Server s = {};
        uint64_t t0;
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        assert_true(asprintf(&rule, "%s=429:1", vec[0].target) > 0);
        args[0] = "--status";
        args[1] = rule;
        args[2] = "--retry-after";
        args[3] = "2";
        args[4] = NULL;
        /* Vector 5 (Turin) is removed from the served files: a 404. */
        {
                char *p;
                assert_true(asprintf(&p, "%s%s", serve, vec[5].target) > 0);
                assert_int_equal(unlink(p), 0);
                free(p);
        }
        server_start(&s, serve, args);
        k = kds_open(s.url, cache, 0, false);

        expect_vcek(k, 5, -ENOENT, "KDS has no VCEK for this chip/TCB");
        expect_vcek(k, 5, -ENOENT, "HTTP 404");
        assert_int_equal(server_count(&s, vec[5].target), 2);

        expect_vcek(k, 1, 0, NULL); /* cached before the back-off */
        t0 = now_msec();
        expect_vcek(k, 0, -EBUSY, "HTTP 429");
        assert_int_equal(server_count(&s, vec[0].target), 1);
        /* During the back-off: uncached keys fail at once without a request... */
        expect_vcek(k, 2, -EBUSY, "HTTP 429");
        expect_vcek(k, 0, -EBUSY, "not asked for another");
        assert_int_equal(server_count(&s, vec[2].target), 0);
        assert_int_equal(server_count(&s, vec[0].target), 1);
        /* ...and cached ones still come from the cache. */
        expect_vcek(k, 1, 0, NULL);
        assert_true(now_msec() - t0 < 1500);

        /* Retry-After: 2 honoured, then KDS is asked again. */
        while (now_msec() - t0 < 2100)
                usleep(50 * 1000);
        expect_vcek(k, 2, 0, NULL);
        expect_vcek(k, 0, 0, NULL);
        assert_int_equal(server_count(&s, vec[0].target), 2);
        assert_int_equal(server_count(&s, vec[2].target), 1);
        kds_free(k);
        server_stop(&s);
}

/* A 429 without Retry-After backs off for the configured default (1 s here). */
static void test_429_default_backoff(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        const char *args[] = { "--status", "*=429:1", NULL };
        Server s = {};
        uint64_t t0;
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        server_start(&s, serve, args);
        k = kds_open(s.url, cache, 0, false);
        t0 = now_msec();
        expect_vcek(k, 0, -EBUSY, "not asking again for 1 s");
        expect_vcek(k, 1, -EBUSY, NULL);
        assert_int_equal(server_count(&s, NULL), 1);
        while (now_msec() - t0 < 1100)
                usleep(50 * 1000);
        expect_vcek(k, 1, 0, NULL);
        assert_int_equal(server_count(&s, NULL), 2);
        kds_free(k);
        server_stop(&s);
}

typedef struct Job {
        Kds *k;
        size_t i;
        pthread_barrier_t *start;
        int r;
        uint8_t *der;
        size_t size;
} Job;

static void *job_run(void *p) {
        Job *j = p;
        Diag d = {};

        (void) pthread_barrier_wait(j->start);
        j->r = kds_get_vcek(j->k, &vec[j->i].rep, &j->der, &j->size, &d);
        return NULL;
}

/* Runs n lookups at once (vector idx[t] each); returns the wall time in ms. */
static uint64_t run_jobs(Kds *k, const size_t *idx, size_t n) {
        pthread_t th[16];
        Job jobs[16];
        pthread_barrier_t start;
        uint64_t t0;

        assert_true(n <= ELEMENTSOF(th));
        assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned) n + 1), 0);
        for (size_t t = 0; t < n; t++) {
                jobs[t] = (Job) { .k = k, .i = idx[t], .start = &start, .r = 1 };
                assert_int_equal(pthread_create(&th[t], NULL, job_run, &jobs[t]), 0);
        }
        t0 = now_msec();
        (void) pthread_barrier_wait(&start);
        for (size_t t = 0; t < n; t++)
                assert_int_equal(pthread_join(th[t], NULL), 0);
        t0 = now_msec() - t0;
        pthread_barrier_destroy(&start);
        for (size_t t = 0; t < n; t++) {
                assert_int_equal(jobs[t].r, 0);
                assert_int_equal(jobs[t].size, vec[idx[t]].der_size);
                assert_memory_equal(jobs[t].der, vec[idx[t]].der, jobs[t].size);
                free(jobs[t].der);
        }
        return t0;
}

/* 8 threads asking for the same missing VCEK: one request, 8 answers. */
static void test_single_flight(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        const char *args[] = { "--delay", "*=400", NULL };
        const size_t same[8] = { 6, 6, 6, 6, 6, 6, 6, 6 };
        Server s = {};
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        server_start(&s, serve, args);
        k = kds_open(s.url, cache, 0, false);
        (void) run_jobs(k, same, ELEMENTSOF(same));
        assert_int_equal(server_count(&s, vec[6].target), 1);
        assert_int_equal(server_count(&s, NULL), 1);
        kds_free(k);
        server_stop(&s);
}

/* Different keys fetch in parallel: 4 lookups of 600 ms each take about 600 ms, not 2.4 s. */
static void test_parallel_keys(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        const char *args[] = { "--delay", "*=600", NULL };
        const size_t keys[8] = { 0, 1, 2, 3, 0, 1, 2, 3 };
        Server s = {};
        uint64_t ms;
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        server_start(&s, serve, args);
        k = kds_open(s.url, cache, 0, false);
        ms = run_jobs(k, keys, ELEMENTSOF(keys));
        print_message("# 4 keys x 2 threads, 600 ms per request: %" PRIu64 " ms\n", ms);
        assert_true(ms >= 550);
        assert_true(ms < 1500);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(server_count(&s, vec[i].target), 1);
        kds_free(k);
        server_stop(&s);
}

/* A server slower than the deadline: -ETIMEDOUT after about the deadline. */
static void test_deadline(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        const char *args[] = { "--delay", "*=5000", NULL };
        Server s = {};
        uint64_t t0, ms;
        Kds *k;

        SKIP_WITHOUT_VECTORS();
        serve = serve_dir();
        cache = new_dir("cache");
        server_start(&s, serve, args);
        k = kds_open(s.url, cache, 500, false);
        t0 = now_msec();
        expect_vcek(k, 0, -ETIMEDOUT, vec[0].target);
        ms = now_msec() - t0;
        print_message("# deadline 500 ms, failed after %" PRIu64 " ms\n", ms);
        assert_true(ms >= 450 && ms < 1500);
        assert_false(file_exists(cache, vec[0].rel));
        kds_free(k);
        server_stop(&s);
}

/* A body over the cap: -EFBIG, from the Content-Length and (chunked) from the body itself. */
static void test_oversized(void **state) {
        const char *chunked[] = { "--chunked", NULL };

        SKIP_WITHOUT_VECTORS();
        for (int pass = 0; pass < 2; pass++) {
                _cleanup_(freep) char *serve = new_dir("serve"), *cache = new_dir("cache");
                _cleanup_(freep) uint8_t *big = calloc(1, 100 * 1024);
                Server s = {};
                Kds *k;

                assert_non_null(big);
                put_file(serve, vec[0].target + 1, big, 100 * 1024);
                put_file(serve, vec[1].target + 1, vec[1].der, vec[1].der_size);
                server_start(&s, serve, pass ? chunked : NULL);
                k = kds_open(s.url, cache, 0, false);
                expect_vcek(k, 0, -EFBIG, "larger than");
                assert_false(file_exists(cache, vec[0].rel));
                expect_vcek(k, 1, 0, NULL); /* a normal body still passes (chunked too) */
                kds_free(k);
                server_stop(&s);
        }
}

/* A CRL issued by "ARK-Milan" (a throwaway key: the signature is the caller's to check). */
static void make_crl(time_t next_update, uint8_t **ret, size_t *ret_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_EC_gen("P-384");
        X509_CRL *crl = X509_CRL_new();
        X509_NAME *name = X509_NAME_new();
        ASN1_TIME *last = ASN1_TIME_set(NULL, next_update - 7 * 86400);
        ASN1_TIME *next = ASN1_TIME_set(NULL, next_update);
        unsigned char *der = NULL;
        int n;

        assert_non_null(key);
        assert_non_null(crl);
        assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                               (const unsigned char *) "ARK-Milan", -1, -1, 0));
        assert_true(X509_CRL_set_version(crl, 1));
        assert_true(X509_CRL_set_issuer_name(crl, name));
        assert_true(X509_CRL_set1_lastUpdate(crl, last));
        assert_true(X509_CRL_set1_nextUpdate(crl, next));
        assert_true(X509_CRL_sign(crl, key, EVP_sha384()) > 0);
        n = i2d_X509_CRL(crl, &der);
        assert_true(n > 0);
        *ret = malloc((size_t) n);
        memcpy(*ret, der, (size_t) n);
        *ret_size = (size_t) n;
        OPENSSL_free(der);
        ASN1_TIME_free(last);
        ASN1_TIME_free(next);
        X509_NAME_free(name);
        X509_CRL_free(crl);
}

static void expect_crl(Kds *k, int want, const uint8_t *data, size_t size, const char *frag) {
        uint8_t *got = NULL;
        size_t n = 0;
        Diag d = {};
        int r;

        r = kds_get_crl(k, SNP_PRODUCT_MILAN, time(NULL), &got, &n, &d);
        if (r != want)
                print_error("CRL: %d (%s), expected %d\n", r, d.text, want);
        assert_int_equal(r, want);
        if (r >= 0) {
                assert_int_equal(n, size);
                assert_memory_equal(got, data, n);
        } else if (frag && !strstr(d.text, frag)) {
                print_error("diag '%s' lacks '%s'\n", d.text, frag);
                fail();
        }
        free(got);
}

/* The CRL: fetched and cached, used until nextUpdate, then refetched; when that fails, the
 * lookup fails closed unless stale CRLs are allowed. */
static void test_crl(void **state) {
        _cleanup_(freep) char *serve = NULL, *cache = NULL;
        _cleanup_(freep) uint8_t *fresh = NULL, *old = NULL;
        const char *crl404[] = { "--status", "/vcek/v1/Milan/crl=404", NULL };
        size_t fresh_size, old_size;
        Server s = {};
        Kds *k;

        SKIP_WITHOUT_VECTORS(); /* for the work directory */
        serve = new_dir("serve");
        cache = new_dir("cache");
        make_crl(time(NULL) + 86400, &fresh, &fresh_size);
        make_crl(time(NULL) - 3600, &old, &old_size);
        put_file(serve, "vcek/v1/Milan/crl", fresh, fresh_size);

        server_start(&s, serve, NULL);
        k = kds_open(s.url, cache, 0, false);
        expect_crl(k, 0, fresh, fresh_size, NULL);
        expect_crl(k, 0, fresh, fresh_size, NULL);
        assert_int_equal(server_count(&s, "/vcek/v1/Milan/crl"), 1);
        assert_true(file_equals(cache, "crl/Milan.der", fresh, fresh_size));
        /* Expired in the cache: refetched. */
        put_file(cache, "crl/Milan.der", old, old_size);
        expect_crl(k, 0, fresh, fresh_size, NULL);
        assert_int_equal(server_count(&s, "/vcek/v1/Milan/crl"), 2);
        assert_true(file_equals(cache, "crl/Milan.der", fresh, fresh_size));
        kds_free(k);
        server_stop(&s);

        /* Expired, and KDS cannot refresh it: fail closed, or (allowed) the stale one. */
        put_file(cache, "crl/Milan.der", old, old_size);
        server_start(&s, serve, crl404);
        k = kds_open(s.url, cache, 0, false);
        expect_crl(k, -ENOENT, NULL, 0, "has expired, and refreshing it failed");
        kds_free(k);
        k = kds_open(s.url, cache, 0, true);
        expect_crl(k, KDS_CRL_STALE, old, old_size, NULL);
        kds_free(k);
        server_stop(&s);

        k = kds_open(NULL, cache, 0, false);
        expect_crl(k, -EKEYEXPIRED, NULL, 0, "no KDS URL");
        kds_free(k);
        k = kds_open(NULL, cache, 0, true);
        expect_crl(k, KDS_CRL_STALE, old, old_size, NULL);
        kds_free(k);

        /* KDS serving an expired CRL: refused unless allowed; not cached. */
        {
                char *p;
                assert_true(asprintf(&p, "%s/crl/Milan.der", cache) > 0);
                assert_int_equal(unlink(p), 0);
                free(p);
        }
        put_file(serve, "vcek/v1/Milan/crl", old, old_size);
        server_start(&s, serve, NULL);
        k = kds_open(s.url, cache, 0, false);
        expect_crl(k, -EKEYEXPIRED, NULL, 0, "expired");
        assert_false(file_exists(cache, "crl/Milan.der"));
        kds_free(k);
        server_stop(&s);
}

/* The client refuses other schemes before any I/O. */
static void test_http_scheme(void **state) {
        HttpResponse resp = {};
        Diag d = {};

        assert_int_equal(http_get("ftp://127.0.0.1/x", NULL, &resp, &d), -EINVAL);
        assert_non_null(strstr(d.text, "ftp://127.0.0.1/x"));
        assert_int_equal(http_get("file:///etc/passwd", NULL, &resp, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_http_scheme),
                cmocka_unit_test(test_fetch_then_cached),
                cmocka_unit_test(test_offline),
                cmocka_unit_test(test_corrupt_cache),
                cmocka_unit_test(test_wrong_body),
                cmocka_unit_test(test_404_429),
                cmocka_unit_test(test_429_default_backoff),
                cmocka_unit_test(test_single_flight),
                cmocka_unit_test(test_parallel_keys),
                cmocka_unit_test(test_deadline),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_crl),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
