/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-load: how many AzureGuest attestations `cvm-verifier serve --dev` sustains over loopback,
 * against the crypto floor measured with `openssl speed` in the same run. The goals:
 *   throughput  attestations per second per server core >= 0.70 x floor, where
 *               floor = 1 / (1/P-384 verify + 1/RSA-2048 verify + 1/RSA-2048 sign)
 *               (`openssl speed ecdsap384 rsa2048`): the SNP report's signature, the quote by an
 *               RSA AK, the RS256 token, with the VCEK chain cached;
 *   latency     p99 under 20 ms at 80% of the measured peak (open loop);
 *   memory      the server's VmRSS flat over 100 000 requests.
 *
 * The evidence is one request body made beforehand (bench/run: the simulator in Azure mode and
 * `cvm-agent evidence --format maa`), posted unchanged every time, so the server runs without
 * --require-nonce. This program starts the server (`serve --dev --trust-root ROOT`) and stops it.
 *
 * The client is plain sockets speaking HTTP/1.1 with keep-alive, one connection per worker
 * thread: the request's bytes are built once and each request is one send() and a few recv()s
 * into a buffer the connection owns, so the load generator costs little and the same every
 * time. libcurl would parse and allocate per request and (Debian 12's 7.88, for a body over
 * 1 KiB) send "Expect: 100-continue" and wait a round trip unless told not to; none of that is
 * what is being measured, and on a shared core it would blur the open loop's latencies.
 *
 * Who runs where. The server's thread pool is sized to the online CPUs; the load generator must
 * not take CPU from it, or the figure measures both. With two or more CPUs in our affinity mask,
 * the server gets the upper half (on two CPUs: CPU 1; --server-cpus N to choose how many) and
 * this program the rest, and `openssl speed` runs on the server's first CPU while the server is
 * idle, so the floor is measured on the core the server uses. Per core is then
 *   primary  attestations per CPU-second of the server process (utime + stime from
 *            /proc/PID/stat), which is how `openssl speed` counts too (per CPU-second of its own,
 *            user time): time the scheduler gives to other work on a shared machine stays out of
 *            both sides. System time (the loopback TCP stack on the server's side) is in: it is
 *            the server's cost of an attestation;
 *   info     wall-clock attestations per second divided by the server's pinned CPUs, and how
 *            busy those CPUs were with the server (CPU-seconds per wall second per CPU: under
 *            0.95 the server was not saturated, or something else ran there).
 * With one CPU (or --no-pin) everything shares it and only the primary figure means anything.
 *
 * Phases, in this order, every response checked (status 200 and a body {"token": "..."}; any
 * other answer stops the run with exit 1):
 *   warm-up   1000 requests, closed loop; then VmRSS is read (the memory baseline);
 *   rounds    R rounds (default 3), each `openssl speed -mr -seconds S ecdsap384 rsa2048` then a
 *             closed loop of C connections (default 4) for T seconds (default 5); the figures are
 *             medians of the rounds' figures, the ratio the median of each round's rate/floor;
 *   open loop at 80% of the median peak (wall-clock, all server CPUs), a fixed schedule: request
 *             k is due at t0 + k/rate and its latency runs from then, not from when a connection
 *             was free to send it (no coordinated omission), over 16 connections; R rounds of
 *             T seconds; p50 and p99 are medians of the rounds', max the largest. Each round also
 *             says how the server's CPUs were spent (/proc/stat): the server, other processes,
 *             steal; and the load generator's: itself, other processes. At 80% of the peak the
 *             server has 20% to spare: other work taking more than a few percent of its CPU
 *             queues requests (and other work on the generator's CPU delays sends), and the tail
 *             shows that machine, not the server (on a shared machine, compare the rounds);
 *   memory    closed loop until the server has answered 1000 + N requests in all (N = 100 000),
 *             VmRSS read every 10% of the way; growth = last - baseline. "Flat" is growth under
 *             max(2 MiB, 5% of the baseline): malloc arenas settle by a few hundred KiB, a leak
 *             of 20 bytes per request would already show.
 *
 * Where the server's time goes: attach perf to it during the memory phase (long, closed loop,
 * nothing timed), e.g. perf record -F 499 --call-graph dwarf -p "$(pgrep -f 'cvm-verifier
 * serve --dev')" -- sleep 10; frame pointers are not kept, so -g alone gives broken stacks.
 *
 * A measurement, not a test: exits 0 whatever the ratios are; 1 on errors, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "vtpm/tpm-attest.h"

#ifndef BENCH_VERIFIER
#define BENCH_VERIFIER "./cvm-verifier"
#endif

#define GOAL_RATIO      0.70
#define GOAL_P99_MS     20.0
#define OPEN_LOAD       0.80
#define ROUNDS_MAX      16u
#define CONNECTIONS_MAX 256u
#define BODY_MAX        (1024u * 1024u) /* the server's cap (APPRAISE_BODY_MAX) */
#define RESPONSE_MAX    (256u * 1024u)
#define WARMUP_REQUESTS 1000u
#define RSS_SAMPLES     10u
#define FLAT_MIN_KIB    2048.0
#define FLAT_FRACTION   0.05
#define IO_TIMEOUT_SEC  30

extern char **environ;

typedef struct Load {
        /* Options. */
        const char *body_path, *trust_root, *verifier, *openssl;
        unsigned rounds, connections, open_connections, server_cpus_wanted, speed_seconds;
        double seconds;
        uint64_t mem_requests;
        bool pin;

        /* Set-up. */
        cpu_set_t server_cpus, client_cpus, speed_cpu;
        unsigned n_server_cpus, n_cpus;
        char cpu_desc[256];
        char work[4096];
        char *request;
        size_t request_size, body_size;
        char ak_desc[64], isolation[32];
        struct sockaddr_in addr;
        pid_t server;

        /* Results, per round. */
        double p384_verify[ROUNDS_MAX], rsa_sign[ROUNDS_MAX], rsa_verify[ROUNDS_MAX];
        double floor[ROUNDS_MAX], rate_cpu[ROUNDS_MAX], rate_wall[ROUNDS_MAX], busy[ROUNDS_MAX];
        double client_us[ROUNDS_MAX];
        double ol_p50[ROUNDS_MAX], ol_p99[ROUNDS_MAX], ol_max[ROUNDS_MAX], ol_achieved[ROUNDS_MAX];
        double ol_rate;
        uint64_t ol_late; /* requests that started more than 1 ms after they were due */
        uint64_t ol_late_round[ROUNDS_MAX];
        /* The server's CPUs during each open-loop round, as fractions of their time: the server,
         * everything else that ran there, and time the hypervisor gave to other guests. */
        double ol_server[ROUNDS_MAX], ol_others[ROUNDS_MAX], ol_steal[ROUNDS_MAX];
        /* And the load generator's CPUs (pinned only): its own use, and other processes'. */
        double ol_client[ROUNDS_MAX], ol_client_others[ROUNDS_MAX];
        uint64_t rss_at[RSS_SAMPLES + 2];
        long rss_kib[RSS_SAMPLES + 2];
        size_t n_rss;
        uint64_t served; /* 200 responses, all phases */
} Load;

/* One keep-alive connection and its receive buffer. */
typedef struct Conn {
        int fd;
        uint8_t *buf;
        size_t n;
} Conn;

typedef struct Phase {
        Load *load;
        bool open;
        double t0, end, rate; /* open: request k is due at t0 + k/rate; both: nothing after end */
        uint64_t limit;       /* closed: stop after this many requests in all (0: at end) */
        atomic_uint_fast64_t next, done;
        atomic_uint_fast64_t late; /* open: requests sent over 1 ms after they were due */
        double *latency;           /* open: per slot, seconds; NaN for slots never sent */
        size_t n_latency;
        atomic_bool failed;
        pthread_mutex_t lock;
        char error[1024];
} Phase;

static void help(void) {
        printf("Usage: bench-load --body FILE --trust-root FILE [OPTIONS]\n"
               "\n"
               "Posts one AzureGuest request body to `cvm-verifier serve --dev` over loopback and\n"
               "prints attestations per second per core against the `openssl speed` floor, the\n"
               "latency at 80%% of the peak, and the server's memory over many requests\n"
               "(bench/run load makes the body on the simulator and runs this).\n"
               "\n"
               "  --body FILE         the request body (cvm-agent evidence --format maa)\n"
               "  --trust-root FILE   the ARK the body's VCEK chains to (the simulator's)\n"
               "  --verifier PATH     cvm-verifier (default %s)\n"
               "  --rounds N          closed-loop and open-loop rounds (default 3)\n"
               "  --seconds S         length of each round (default 5)\n"
               "  --connections N     closed-loop connections (default 4)\n"
               "  --open-connections N  open-loop connections (default 16)\n"
               "  --requests N        requests for the memory check (default 100000)\n"
               "  --speed-seconds N   openssl speed -seconds per round (default 1)\n"
               "  --openssl PATH      the openssl program (default: openssl from PATH)\n"
               "  --server-cpus N     CPUs the server gets (default: half of ours)\n"
               "  --no-pin            server, openssl and load generator share all CPUs\n",
               BENCH_VERIFIER);
}

static double now_sec(void) {
        struct timespec t;

        (void) clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static void sleep_until(double t) {
        struct timespec ts = {.tv_sec = (time_t) t, .tv_nsec = (long) ((t - floor(t)) * 1e9)};

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static double median(const double *v, size_t n) {
        double s[ROUNDS_MAX];

        if (n == 0)
                return 0;
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), cmp_double);
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *sorted, size_t n, double q) {
        size_t k;

        if (n == 0)
                return 0;
        k = (size_t) ceil(q * (double) n);
        return sorted[k > 0 ? k - 1 : 0];
}

static void phase_fail(Phase *p, const char *fmt, ...) _printf_(2, 3);
static void phase_fail(Phase *p, const char *fmt, ...) {
        va_list ap;

        pthread_mutex_lock(&p->lock);
        if (!atomic_load(&p->failed)) {
                va_start(ap, fmt);
                (void) vsnprintf(p->error, sizeof(p->error), fmt, ap);
                va_end(ap);
                atomic_store(&p->failed, true);
        }
        pthread_mutex_unlock(&p->lock);
}

/* ---- the server process ---- */

/* utime + stime of the whole process (every thread, live or gone), in seconds. */
static int server_cpu_seconds(pid_t pid, double *ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        unsigned long utime, stime;
        char path[64];
        const char *p;
        size_t size;
        int r;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        r = read_full_file(path, 4096, &buf, &size);
        if (r < 0)
                return r;
        /* The command name may hold spaces and parentheses: fields count from the last ')'.
         * After it: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
         * majflt, cmajflt, utime (14), stime (15). */
        p = strrchr((const char *) buf, ')');
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                         &stime) != 2)
                return -EBADMSG;
        *ret = (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
        return 0;
}

/* Busy and stolen time, and all time, of the CPUs in set (every CPU when set is NULL), in seconds,
 * from /proc/stat ("cpuN user nice system idle iowait irq softirq steal ..."). */
static int cpus_times(const cpu_set_t *set, double *ret_busy, double *ret_steal,
                      double *ret_total) {
        _cleanup_(freep) uint8_t *buf = NULL;
        unsigned long long busy = 0, steal = 0, total = 0;
        const char *p;
        size_t size;
        int r;

        r = read_full_file("/proc/stat", 1024 * 1024, &buf, &size);
        if (r < 0)
                return r;
        for (p = (const char *) buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                unsigned long long v[8];
                int cpu;

                if (strncmp(p, "cpu", 3) != 0 || p[3] < '0' || p[3] > '9' ||
                    sscanf(p + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1],
                           &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 9)
                        continue;
                if (set && (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, set)))
                        continue;
                /* user nice system idle iowait irq softirq steal */
                busy += v[0] + v[1] + v[2] + v[5] + v[6];
                steal += v[7];
                total += v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
        }
        *ret_busy = (double) busy / (double) sysconf(_SC_CLK_TCK);
        *ret_steal = (double) steal / (double) sysconf(_SC_CLK_TCK);
        *ret_total = (double) total / (double) sysconf(_SC_CLK_TCK);
        return 0;
}

static int server_rss_kib(pid_t pid, long *ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        char path[64];
        const char *p;
        size_t size;
        int r;

        (void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        r = read_full_file(path, 64 * 1024, &buf, &size);
        if (r < 0)
                return r;
        p = strstr((const char *) buf, "\nVmRSS:");
        if (!p || sscanf(p + 7, "%ld", ret) != 1)
                return -EBADMSG;
        return 0;
}

/* Runs argv with the CPU affinity given (NULL: ours) and stdout to out_fd (-1: /dev/null),
 * stderr to err_path; returns the child's pid. fork() rather than posix_spawn: the affinity must
 * be set before exec, when the child has no threads yet. */
static int spawn(char *const argv[], const cpu_set_t *cpus, int out_fd, const char *err_path,
                 pid_t *ret) {
        pid_t pid = 0;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int fd;

                if (cpus && sched_setaffinity(0, sizeof(*cpus), cpus) < 0)
                        _exit(127);
                fd = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(127);
                fd = open(err_path ?: "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(127);
                execve(argv[0], argv, environ);
                _exit(127);
        }
        *ret = pid;
        return 0;
}

static void print_file_tail(const char *path) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;

        if (read_full_file(path, 1024 * 1024, &buf, &size) < 0)
                return;
        fprintf(stderr, "%s", (const char *) buf + (size > 2000 ? size - 2000 : 0));
}

/* Starts `cvm-verifier serve --dev` on a free loopback port, pinned to the server's CPUs, and
 * waits for the URL it prints when ready. */
static int server_start(Load *l) {
        char log[4200], line[256];
        char *argv[] = {(char *) l->verifier,   (char *) "serve",
                        (char *) "--dev",       (char *) "--listen",
                        (char *) "127.0.0.1:0", (char *) "--trust-root",
                        (char *) l->trust_root, NULL};
        _cleanup_(closep) int rfd = -EBADF;
        struct pollfd pfd;
        size_t n = 0;
        uint32_t port;
        int pipefd[2], r;
        char *colon;

        (void) snprintf(log, sizeof(log), "%s/server.log", l->work);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        rfd = pipefd[0];
        r = spawn(argv, l->pin ? &l->server_cpus : NULL, pipefd[1], log, &l->server);
        (void) close(pipefd[1]);
        if (r < 0) {
                fprintf(stderr, "bench-load: cannot run %s: %s\n", l->verifier, strerror(-r));
                return r;
        }
        /* Key generation (RSA-2048) comes first: allow it a while on a busy machine. */
        pfd = (struct pollfd){.fd = rfd, .events = POLLIN};
        while (n < sizeof(line) - 1 && !memchr(line, '\n', n)) {
                ssize_t k;

                if (poll(&pfd, 1, 30 * 1000) <= 0)
                        break;
                k = read(rfd, line + n, sizeof(line) - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        line[n] = '\0';
        colon = strrchr(line, ':');
        if (strncmp(line, "http://127.0.0.1:", 17) != 0 || !colon || !strchr(colon, '\n')) {
                fprintf(stderr, "bench-load: the server did not start:\n");
                print_file_tail(log);
                return -EPROTO;
        }
        *strchr(colon, '\n') = '\0';
        if (safe_atou32(colon + 1, &port) < 0 || port == 0 || port > 65535)
                return -EPROTO;
        l->addr = (struct sockaddr_in){.sin_family = AF_INET,
                                       .sin_port = htons((uint16_t) port),
                                       .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        return 0;
}

static void server_stop(Load *l) {
        if (l->server <= 0)
                return;
        (void) kill(l->server, SIGTERM);
        (void) waitpid(l->server, NULL, 0);
        l->server = 0;
}

/* ---- openssl speed: the floor ---- */

/* `openssl speed -mr -seconds N ecdsap384 rsa2048` on the server's first CPU; its machine-readable
 * lines are "+F2:<i>:2048:<sign/s>:<verify/s>" (RSA) and "+F4:<i>:384:<sign/s>:<verify/s>". */
static int openssl_speed(Load *l, unsigned round) {
        char secs[16], errpath[4200];
        char *argv[] = {(char *) l->openssl,
                        (char *) "speed",
                        (char *) "-mr",
                        (char *) "-seconds",
                        secs,
                        (char *) "ecdsap384",
                        (char *) "rsa2048",
                        NULL};
        _cleanup_(freep) char *line = NULL;
        double ec = 0, rs = 0, rv = 0;
        size_t line_size = 0;
        int pipefd[2], status, r;
        pid_t pid = 0;
        FILE *f;

        (void) snprintf(secs, sizeof(secs), "%u", l->speed_seconds);
        (void) snprintf(errpath, sizeof(errpath), "%s/openssl.err", l->work);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = spawn(argv, l->pin ? &l->speed_cpu : NULL, pipefd[1], errpath, &pid);
        (void) close(pipefd[1]);
        if (r < 0) {
                (void) close(pipefd[0]);
                return r;
        }
        f = fdopen(pipefd[0], "r");
        if (!f) {
                r = -errno;
                (void) close(pipefd[0]);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        while (getline(&line, &line_size, f) >= 0) {
                unsigned idx, bits;
                double sign, verify;

                if (sscanf(line, "+F2:%u:%u:%lf:%lf", &idx, &bits, &sign, &verify) == 4 &&
                    bits == 2048) {
                        rs = sign;
                        rv = verify;
                } else if (sscanf(line, "+F4:%u:%u:%lf:%lf", &idx, &bits, &sign, &verify) == 4 &&
                           bits == 384)
                        ec = verify;
        }
        (void) fclose(f);
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ec <= 0 || rs <= 0 || rv <= 0) {
                fprintf(stderr,
                        "bench-load: '%s speed -mr -seconds %s ecdsap384 rsa2048' failed "
                        "or printed no rates\n",
                        l->openssl, secs);
                print_file_tail(errpath);
                return -EPROTO;
        }
        l->p384_verify[round] = ec;
        l->rsa_sign[round] = rs;
        l->rsa_verify[round] = rv;
        l->floor[round] = 1.0 / (1.0 / ec + 1.0 / rv + 1.0 / rs);
        return 0;
}

/* ---- HTTP/1.1 over one keep-alive connection ---- */

static void conn_close(Conn *c) {
        if (c->fd >= 0)
                (void) close(c->fd);
        c->fd = -EBADF;
        c->n = 0;
}

static int conn_open(const Load *l, Conn *c) {
        struct timeval tv = {.tv_sec = IO_TIMEOUT_SEC};
        int one = 1;

        conn_close(c);
        if (!c->buf) {
                c->buf = malloc(RESPONSE_MAX + 1);
                if (!c->buf)
                        return -ENOMEM;
        }
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
            setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(c->fd, (const struct sockaddr *) &l->addr, sizeof(l->addr)) < 0) {
                int r = -errno;
                conn_close(c);
                return r;
        }
        return 0;
}

static void conn_done(Conn *c) {
        conn_close(c);
        free(c->buf);
        c->buf = NULL;
}

static int send_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* A header's value in [h, end) (names compare case-insensitively), or NULL. */
static const char *header_find(const char *h, const char *end, const char *name, size_t *ret_len) {
        size_t nl = strlen(name);

        for (const char *p = h; p < end;) {
                const char *eol = memmem(p, (size_t) (end - p), "\r\n", 2) ?: end;

                if ((size_t) (eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
                        const char *v = p + nl + 1;

                        while (v < eol && (*v == ' ' || *v == '\t'))
                                v++;
                        *ret_len = (size_t) (eol - v);
                        return v;
                }
                p = eol + 2;
        }
        return NULL;
}

/* The body must be {"token":"<base64url>"} (sealed: base64url of the JSON envelope). */
static bool token_ok(const uint8_t *b, size_t n) {
        static const char pre[] = "{\"token\":\"";
        size_t i = sizeof(pre) - 1;

        if (n < i + 100 + 2 || memcmp(b, pre, i) != 0 || b[n - 2] != '"' || b[n - 1] != '}')
                return false;
        for (; i < n - 2; i++)
                if (!(b[i] >= 'A' && b[i] <= 'Z') && !(b[i] >= 'a' && b[i] <= 'z') &&
                    !(b[i] >= '0' && b[i] <= '9') && b[i] != '-' && b[i] != '_' && b[i] != '.')
                        return false;
        return true;
}

/* One POST and its response, which must be a 200 with a token. On a connection the server
 * closed while idle (EOF before any byte of the answer), reconnects and sends once more. */
static int conn_request(Phase *p, Conn *c) {
        const Load *l = p->load;
        bool retried = false;
        int r;

again:
        if (c->fd < 0) {
                r = conn_open(l, c);
                if (r < 0) {
                        phase_fail(p, "connect to 127.0.0.1:%u: %s", ntohs(l->addr.sin_port),
                                   strerror(-r));
                        return r;
                }
        }
        c->n = 0;
        r = send_all(c->fd, l->request, l->request_size);
        if (r < 0 && !retried && (r == -EPIPE || r == -ECONNRESET)) {
                conn_close(c);
                retried = true;
                goto again;
        }
        if (r < 0) {
                phase_fail(p, "send: %s", strerror(-r));
                return r;
        }
        for (;;) {
                const char *hend, *v;
                size_t vlen, hsize, clen, need;
                unsigned status;
                ssize_t k;

                k = recv(c->fd, c->buf + c->n, RESPONSE_MAX - c->n, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0 && c->n == 0 && !retried && (k == 0 || errno == ECONNRESET)) {
                        conn_close(c);
                        retried = true;
                        goto again;
                }
                if (k <= 0) {
                        phase_fail(p, "recv: %s",
                                   k == 0 ? "the server closed the connection" : strerror(errno));
                        return -EPROTO;
                }
                c->n += (size_t) k;
                c->buf[c->n] = '\0';
                hend = memmem(c->buf, c->n, "\r\n\r\n", 4);
                if (!hend) {
                        if (c->n >= RESPONSE_MAX)
                                break;
                        continue;
                }
                hsize = (size_t) (hend - (const char *) c->buf) + 4;
                if (sscanf((const char *) c->buf, "HTTP/1.1 %u ", &status) != 1)
                        break;
                v = header_find((const char *) c->buf, hend, "Content-Length", &vlen);
                if (!v || vlen == 0 || vlen > 9 || strspn(v, "0123456789") < vlen)
                        break;
                clen = 0;
                for (size_t i = 0; i < vlen; i++)
                        clen = clen * 10 + (size_t) (v[i] - '0');
                need = hsize + clen;
                if (need > RESPONSE_MAX)
                        break;
                if (c->n < need)
                        continue;
                if (c->n > need || status != 200 || !token_ok(c->buf + hsize, clen)) {
                        phase_fail(p, "status %u, %zu bytes: %.600s", status, clen,
                                   (const char *) c->buf + hsize);
                        return -EPROTO;
                }
                v = header_find((const char *) c->buf, hend, "Connection", &vlen);
                if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0)
                        conn_close(c);
                return 0;
        }
        phase_fail(p, "not an HTTP/1.1 response with a Content-Length (or over %u bytes): %.300s",
                   RESPONSE_MAX, (const char *) c->buf);
        return -EPROTO;
}

/* ---- load ---- */

static void *worker(void *userdata) {
        Phase *p = userdata;
        Conn c = {.fd = -EBADF};

        while (!atomic_load(&p->failed)) {
                uint64_t k = atomic_fetch_add(&p->next, 1);
                double due = 0;

                if (p->open) {
                        due = p->t0 + (double) k / p->rate;
                        if (due >= p->end)
                                break;
                        sleep_until(due);
                        /* Every connection busy when it fell due: it waits, and its latency
                         * counts the wait. */
                        if (now_sec() - due > 1e-3)
                                atomic_fetch_add(&p->late, 1);
                } else if (p->limit ? k >= p->limit : now_sec() >= p->end)
                        break;
                if (conn_request(p, &c) < 0)
                        break;
                if (p->open && k < p->n_latency)
                        p->latency[k] = now_sec() - due;
                atomic_fetch_add(&p->done, 1);
        }
        conn_done(&c);
        return NULL;
}

/* Runs a phase on n connections; returns the wall-clock seconds it took. */
static int phase_run(Phase *p, unsigned n, double *ret_wall) {
        pthread_t threads[CONNECTIONS_MAX];
        unsigned started = 0;
        double t0 = now_sec();
        int r = 0;

        for (; started < n; started++) {
                r = -pthread_create(&threads[started], NULL, worker, p);
                if (r < 0) {
                        phase_fail(p, "pthread_create: %s", strerror(-r));
                        break;
                }
        }
        for (unsigned i = 0; i < started; i++)
                (void) pthread_join(threads[i], NULL);
        *ret_wall = now_sec() - t0;
        p->load->served += atomic_load(&p->done);
        if (atomic_load(&p->failed)) {
                fprintf(stderr, "bench-load: %s\n", p->error);
                return -EPROTO;
        }
        return r;
}

static void phase_init(Phase *p, Load *l) {
        *p = (Phase){.load = l};
        atomic_init(&p->next, 0);
        atomic_init(&p->done, 0);
        atomic_init(&p->late, 0);
        atomic_init(&p->failed, false);
        pthread_mutex_init(&p->lock, NULL);
}

static int closed_loop_requests(Load *l, uint64_t n) {
        Phase p;
        double wall;

        phase_init(&p, l);
        p.limit = n;
        return phase_run(&p, l->connections, &wall);
}

static double client_cpu_seconds(void) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
               (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static int closed_loop_round(Load *l, unsigned round) {
        double cpu0, cpu1, me0, wall;
        uint64_t n;
        Phase p;
        int r;

        phase_init(&p, l);
        r = server_cpu_seconds(l->server, &cpu0);
        if (r < 0)
                return r;
        me0 = client_cpu_seconds();
        p.end = now_sec() + l->seconds;
        r = phase_run(&p, l->connections, &wall);
        if (r < 0)
                return r;
        r = server_cpu_seconds(l->server, &cpu1);
        if (r < 0)
                return r;
        n = atomic_load(&p.done);
        if (n == 0 || cpu1 <= cpu0)
                return -EPROTO;
        l->rate_cpu[round] = (double) n / (cpu1 - cpu0);
        l->rate_wall[round] = (double) n / wall;
        l->busy[round] = (cpu1 - cpu0) / wall / (l->pin ? l->n_server_cpus : l->n_cpus);
        l->client_us[round] = (client_cpu_seconds() - me0) / (double) n * 1e6;
        return 0;
}

static int open_loop_round(Load *l, unsigned round) {
        _cleanup_(freep) double *lat = NULL;
        double busy0, busy1, steal0, steal1, total0, total1, srv0, srv1;
        double cbusy0 = 0, cbusy1 = 0, csteal, ctotal0 = 0, ctotal1 = 0, me0, me1;
        size_t slots, m = 0;
        double wall;
        Phase p;
        int r;

        slots = (size_t) ceil(l->ol_rate * l->seconds) + 1;
        lat = malloc(slots * sizeof(*lat));
        if (!lat)
                return -ENOMEM;
        for (size_t i = 0; i < slots; i++)
                lat[i] = NAN;
        phase_init(&p, l);
        p.open = true;
        p.rate = l->ol_rate;
        p.latency = lat;
        p.n_latency = slots;
        /* A short lead so that every connection is up before the first request is due. */
        p.t0 = now_sec() + 0.05;
        p.end = p.t0 + l->seconds;
        r = server_cpu_seconds(l->server, &srv0);
        if (r >= 0)
                r = cpus_times(l->pin ? &l->server_cpus : NULL, &busy0, &steal0, &total0);
        if (r >= 0 && l->pin)
                r = cpus_times(&l->client_cpus, &cbusy0, &csteal, &ctotal0);
        if (r < 0)
                return r;
        me0 = client_cpu_seconds();
        r = phase_run(&p, l->open_connections, &wall);
        if (r < 0)
                return r;
        me1 = client_cpu_seconds();
        r = server_cpu_seconds(l->server, &srv1);
        if (r >= 0)
                r = cpus_times(l->pin ? &l->server_cpus : NULL, &busy1, &steal1, &total1);
        if (r >= 0 && l->pin)
                r = cpus_times(&l->client_cpus, &cbusy1, &csteal, &ctotal1);
        if (r < 0)
                return r;
        if (total1 > total0) {
                l->ol_server[round] = (srv1 - srv0) / (total1 - total0);
                l->ol_others[round] = MAX(0.0, (busy1 - busy0) - (srv1 - srv0)) / (total1 - total0);
                l->ol_steal[round] = (steal1 - steal0) / (total1 - total0);
        }
        if (l->pin && ctotal1 > ctotal0) {
                l->ol_client[round] = (me1 - me0) / (ctotal1 - ctotal0);
                l->ol_client_others[round] =
                        MAX(0.0, (cbusy1 - cbusy0) - (me1 - me0)) / (ctotal1 - ctotal0);
        }
        for (size_t i = 0; i < slots; i++)
                if (!isnan(lat[i]))
                        lat[m++] = lat[i];
        if (m == 0)
                return -EPROTO;
        qsort(lat, m, sizeof(*lat), cmp_double);
        l->ol_p50[round] = percentile(lat, m, 0.50) * 1e3;
        l->ol_p99[round] = percentile(lat, m, 0.99) * 1e3;
        l->ol_max[round] = lat[m - 1] * 1e3;
        l->ol_achieved[round] = (double) m / l->seconds;
        l->ol_late_round[round] = atomic_load(&p.late);
        l->ol_late += l->ol_late_round[round];
        return 0;
}

static int rss_sample(Load *l) {
        int r;

        if (l->n_rss >= ELEMENTSOF(l->rss_kib))
                return 0;
        r = server_rss_kib(l->server, &l->rss_kib[l->n_rss]);
        if (r < 0)
                return r;
        l->rss_at[l->n_rss++] = l->served;
        return 0;
}

static int memory_run(Load *l) {
        uint64_t target = WARMUP_REQUESTS + l->mem_requests;
        uint64_t step = MAX(l->mem_requests / RSS_SAMPLES, (uint64_t) 1);
        int r;

        /* At most RSS_SAMPLES steps: the rounds before served some of the target already. */
        while (l->served < target) {
                r = closed_loop_requests(l, MIN(step, target - l->served));
                if (r < 0)
                        return r;
                r = rss_sample(l);
                if (r < 0)
                        return r;
        }
        /* The rounds alone went past the target (a small --requests): read it now. */
        if (l->rss_at[l->n_rss - 1] != l->served)
                return rss_sample(l);
        return 0;
}

/* ---- the request ---- */

/* Reads the body and names the AK and isolation it carries, so the output says which crypto a
 * request costs. */
static int request_build(Load *l) {
        _cleanup_(json_object_putp) json_object *req = NULL, *info = NULL;
        _cleanup_(freep) uint8_t *body = NULL, *info_json = NULL, *ak = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        json_object *v, *tpm, *iso;
        size_t info_size, ak_size, hlen;
        TPMT_PUBLIC pub;
        bool has_public;
        char header[256];
        Diag d = {};
        int r;

        r = read_full_file(l->body_path, BODY_MAX, &body, &l->body_size);
        if (r < 0) {
                fprintf(stderr, "bench-load: %s: %s\n", l->body_path, strerror(-r));
                return r;
        }
        if (json_parse_capped((const char *) body, l->body_size, BODY_MAX, 32, &req) < 0 ||
            !json_object_object_get_ex(req, "AttestationInfo", &v) ||
            !json_object_is_type(v, json_type_string) ||
            base64url_decode(json_object_get_string(v), (size_t) json_object_get_string_len(v),
                             BODY_MAX, &info_json, &info_size) < 0 ||
            json_parse_capped((const char *) info_json, info_size, BODY_MAX, 16, &info) < 0 ||
            !json_object_object_get_ex(info, "TpmInfo", &tpm) ||
            !json_object_object_get_ex(tpm, "AikPub", &v) ||
            !json_object_is_type(v, json_type_string) ||
            base64url_decode(json_object_get_string(v), (size_t) json_object_get_string_len(v),
                             64 * 1024, &ak, &ak_size) < 0 ||
            tpm_ak_load(ak, ak_size, &pkey, &pub, &has_public, &d) < 0) {
                fprintf(stderr,
                        "bench-load: %s is not an AzureGuest request body "
                        "({\"AttestationInfo\": ...} with TpmInfo.AikPub)\n",
                        l->body_path);
                return -EBADMSG;
        }
        (void) snprintf(l->ak_desc, sizeof(l->ak_desc), "%s-%d",
                        EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA  ? "RSA"
                        : EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC ? "ECC"
                                                                    : "other",
                        EVP_PKEY_get_bits(pkey));
        (void) snprintf(l->isolation, sizeof(l->isolation), "%.24s",
                        json_object_object_get_ex(info, "IsolationInfo", &iso) &&
                                        json_object_object_get_ex(iso, "Type", &v) &&
                                        json_object_is_type(v, json_type_string)
                                ? json_object_get_string(v)
                                : "none");

        hlen = (size_t) snprintf(header, sizeof(header),
                                 "POST /attest/AzureGuest HTTP/1.1\r\n"
                                 "Host: 127.0.0.1:%u\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Content-Length: %zu\r\n"
                                 "\r\n",
                                 ntohs(l->addr.sin_port), l->body_size);
        if (hlen >= sizeof(header))
                return -E2BIG;
        l->request = malloc(hlen + l->body_size);
        if (!l->request)
                return -ENOMEM;
        memcpy(l->request, header, hlen);
        memcpy(l->request + hlen, body, l->body_size);
        l->request_size = hlen + l->body_size;
        return 0;
}

/* ---- CPUs ---- */

static void cpu_list(const cpu_set_t *s, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = '\0';
        for (int i = 0; i < CPU_SETSIZE && n < size; i++)
                if (CPU_ISSET(i, s))
                        n += (size_t) snprintf(buf + n, size - n, "%s%d", n ? "," : "", i);
}

static int cpus_setup(Load *l) {
        cpu_set_t all;
        int cpus[CPU_SETSIZE];
        unsigned n = 0, ns;
        char sl[48], cl[48];

        if (sched_getaffinity(0, sizeof(all), &all) < 0)
                return -errno;
        for (int i = 0; i < CPU_SETSIZE; i++)
                if (CPU_ISSET(i, &all))
                        cpus[n++] = i;
        l->n_cpus = n;
        if (n < 2)
                l->pin = false;
        if (!l->pin) {
                l->n_server_cpus = n;
                (void) snprintf(l->cpu_desc, sizeof(l->cpu_desc),
                                "not pinned: server, openssl and load generator share %u CPU%s", n,
                                n == 1 ? "" : "s");
                return 0;
        }
        ns = l->server_cpus_wanted ? l->server_cpus_wanted : n / 2;
        if (ns < 1 || ns >= n) {
                fprintf(stderr, "bench-load: --server-cpus: 1 to %u here\n", n - 1);
                return -EINVAL;
        }
        CPU_ZERO(&l->server_cpus);
        CPU_ZERO(&l->client_cpus);
        CPU_ZERO(&l->speed_cpu);
        for (unsigned i = 0; i < n; i++)
                CPU_SET(cpus[i], i >= n - ns ? &l->server_cpus : &l->client_cpus);
        CPU_SET(cpus[n - ns], &l->speed_cpu);
        l->n_server_cpus = ns;
        cpu_list(&l->server_cpus, sl, sizeof(sl));
        cpu_list(&l->client_cpus, cl, sizeof(cl));
        (void) snprintf(l->cpu_desc, sizeof(l->cpu_desc),
                        "server on CPU %s, openssl speed on CPU %d, load generator on CPU %s", sl,
                        cpus[n - ns], cl);
        if (sched_setaffinity(0, sizeof(l->client_cpus), &l->client_cpus) < 0)
                return -errno;
        return 0;
}

/* ---- output ---- */

static void print_results(const Load *l) {
        double fl = median(l->floor, l->rounds), rc = median(l->rate_cpu, l->rounds);
        double ratio[ROUNDS_MAX], p50 = median(l->ol_p50, l->rounds);
        double p99 = median(l->ol_p99, l->rounds), mx = 0, growth, limit;
        long base = l->rss_kib[0], last = l->rss_kib[l->n_rss - 1];

        for (unsigned i = 0; i < l->rounds; i++) {
                ratio[i] = l->rate_cpu[i] / l->floor[i];
                mx = MAX(mx, l->ol_max[i]);
        }
        printf("AzureGuest attestations through `cvm-verifier serve --dev` over loopback "
               "(HTTP/1.1 keep-alive),\nagainst `openssl speed` in the same run. Medians of %u "
               "rounds.\n",
               l->rounds);
        printf("  evidence    %s: %zu bytes, AK %s, isolation %s, posted unchanged\n", l->body_path,
               l->body_size, l->ak_desc, l->isolation);
        printf("  CPUs        %s\n", l->cpu_desc);
        printf("              (the server's thread pool has one thread per CPU it may run on, %u)\n",
               l->pin ? l->n_server_cpus : l->n_cpus);
        printf("  floor       1 / (1/P-384 verify + 1/RSA-2048 verify + 1/RSA-2048 sign): "
               "openssl speed\n              %.0f + %.0f + %.0f /s -> %.0f attestations/s per "
               "core\n",
               median(l->p384_verify, l->rounds), median(l->rsa_verify, l->rounds),
               median(l->rsa_sign, l->rounds), fl);
        printf("  peak        closed loop, %u connections, %.0f s per round:\n", l->connections,
               l->seconds);
        printf("                %.1f att/s per server CPU-second (utime+stime; the goal's "
               "figure)\n",
               rc);
        printf("                %.1f att/s wall-clock, %.1f per %s CPU; the server's CPUs "
               "%.0f%% busy with it\n",
               median(l->rate_wall, l->rounds),
               median(l->rate_wall, l->rounds) / (l->pin ? l->n_server_cpus : l->n_cpus),
               l->pin ? "pinned server" : "shared", median(l->busy, l->rounds) * 100);
        printf("                load generator: %.1f us CPU per request\n",
               median(l->client_us, l->rounds));
        printf("  rounds      ");
        for (unsigned i = 0; i < l->rounds; i++)
                printf("%s%.0f/%.0f", i ? ", " : "", l->rate_cpu[i], l->floor[i]);
        printf(" (att/s/CPU-s / floor)\n");
        printf("  open loop   %.1f att/s scheduled (%.0f%% of the wall-clock peak), %u "
               "connections;\n              achieved ",
               l->ol_rate, OPEN_LOAD * 100, l->open_connections);
        for (unsigned i = 0; i < l->rounds; i++)
                printf("%s%.1f", i ? ", " : "", l->ol_achieved[i]);
        printf(" att/s;\n              %" PRIu64 " requests sent over 1 ms after they were due "
               "(every connection busy,\n              or the load generator's CPU taken; "
               "their latency still counts from then)\n",
               l->ol_late);
        printf("              per round: p50/p99/max ms, late; the server's CPU%s: the server, "
               "other\n              processes, stolen by the hypervisor (others there "
               "queue requests)%s\n",
               l->pin && l->n_server_cpus > 1 ? "s" : "",
               l->pin ? ";\n              the load generator's: itself, other processes (they "
                        "delay sends)"
                      : "");
        for (unsigned i = 0; i < l->rounds; i++) {
                printf("                %u: %.2f/%.2f/%.2f, %" PRIu64 "; %.0f%%, %.1f%%, %.1f%%",
                       i + 1, l->ol_p50[i], l->ol_p99[i], l->ol_max[i], l->ol_late_round[i],
                       l->ol_server[i] * 100, l->ol_others[i] * 100, l->ol_steal[i] * 100);
                if (l->pin)
                        printf("; %.0f%%, %.1f%%", l->ol_client[i] * 100,
                               l->ol_client_others[i] * 100);
                printf("\n");
        }
        printf("  memory      VmRSS (KiB) after N responses:");
        for (size_t i = 0; i < l->n_rss; i++)
                printf("%s %" PRIu64 ": %ld", i % 4 == 0 ? "\n               " : ",", l->rss_at[i],
                       l->rss_kib[i]);
        printf("\n\n");

        printf("load: %.0f att/s/core, floor %.0f -> ratio %.2f (goal >= %.2f) %s\n", rc, fl,
               median(ratio, l->rounds), GOAL_RATIO,
               median(ratio, l->rounds) >= GOAL_RATIO ? "PASS" : "BELOW");
        printf("latency: at %.0f att/s (80%% of peak) p50 %.2f ms, p99 %.2f ms, max %.2f ms "
               "(goal p99 < %.0f ms) %s\n",
               l->ol_rate, p50, p99, mx, GOAL_P99_MS, p99 < GOAL_P99_MS ? "PASS" : "ABOVE");
        growth = (double) (last - base);
        limit = MAX(FLAT_MIN_KIB, FLAT_FRACTION * (double) base);
        printf("memory: VmRSS %.1f MiB after %" PRIu64 " requests, %.1f MiB after %" PRIu64
               " (%+.1f MiB, %+.1f B/request) (goal flat: < %.1f MiB) %s\n",
               (double) base / 1024, l->rss_at[0], (double) last / 1024, l->rss_at[l->n_rss - 1],
               growth / 1024,
               growth * 1024 / (double) (l->rss_at[l->n_rss - 1] - l->rss_at[0] ?: 1), limit / 1024,
               growth < limit ? "PASS" : "GROWS");
}

/* ---- main ---- */

static int parse_args(Load *l, int argc, char **argv) {
        enum {
                ARG_BODY = 0x100,
                ARG_TRUST_ROOT,
                ARG_VERIFIER,
                ARG_ROUNDS,
                ARG_SECONDS,
                ARG_CONNECTIONS,
                ARG_OPEN_CONNECTIONS,
                ARG_REQUESTS,
                ARG_SPEED_SECONDS,
                ARG_OPENSSL,
                ARG_SERVER_CPUS,
                ARG_NO_PIN,
        };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"body", required_argument, NULL, ARG_BODY},
                {"trust-root", required_argument, NULL, ARG_TRUST_ROOT},
                {"verifier", required_argument, NULL, ARG_VERIFIER},
                {"rounds", required_argument, NULL, ARG_ROUNDS},
                {"seconds", required_argument, NULL, ARG_SECONDS},
                {"connections", required_argument, NULL, ARG_CONNECTIONS},
                {"open-connections", required_argument, NULL, ARG_OPEN_CONNECTIONS},
                {"requests", required_argument, NULL, ARG_REQUESTS},
                {"speed-seconds", required_argument, NULL, ARG_SPEED_SECONDS},
                {"openssl", required_argument, NULL, ARG_OPENSSL},
                {"server-cpus", required_argument, NULL, ARG_SERVER_CPUS},
                {"no-pin", no_argument, NULL, ARG_NO_PIN},
                {}};
        uint32_t u;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_BODY:
                        l->body_path = optarg;
                        break;
                case ARG_TRUST_ROOT:
                        l->trust_root = optarg;
                        break;
                case ARG_VERIFIER:
                        l->verifier = optarg;
                        break;
                case ARG_OPENSSL:
                        l->openssl = optarg;
                        break;
                case ARG_NO_PIN:
                        l->pin = false;
                        break;
                case ARG_SECONDS: {
                        /* Tenths of a second, without strtod's locale and error handling. */
                        const char *dot = strchr(optarg, '.');
                        char whole[16];
                        uint32_t tenth = 0;
                        size_t wl = dot ? (size_t) (dot - optarg) : strlen(optarg);

                        if (wl == 0 || wl >= sizeof(whole) ||
                            (dot && (strlen(dot) != 2 || dot[1] < '0' || dot[1] > '9'))) {
                                fprintf(stderr, "bench-load: --seconds: N or N.N\n");
                                return -EINVAL;
                        }
                        memcpy(whole, optarg, wl);
                        whole[wl] = '\0';
                        if (dot)
                                tenth = (uint32_t) (dot[1] - '0');
                        if (safe_atou32(whole, &u) < 0 || u > 600 || (u == 0 && tenth == 0)) {
                                fprintf(stderr, "bench-load: --seconds: 0.1 to 600\n");
                                return -EINVAL;
                        }
                        l->seconds = u + tenth / 10.0;
                        break;
                }
                case ARG_ROUNDS:
                case ARG_CONNECTIONS:
                case ARG_OPEN_CONNECTIONS:
                case ARG_REQUESTS:
                case ARG_SPEED_SECONDS:
                case ARG_SERVER_CPUS: {
                        static const struct {
                                int arg;
                                const char *name;
                                uint32_t min, max;
                        } limits[] = {
                                {ARG_ROUNDS, "rounds", 1, ROUNDS_MAX},
                                {ARG_CONNECTIONS, "connections", 1, CONNECTIONS_MAX},
                                {ARG_OPEN_CONNECTIONS, "open-connections", 1, CONNECTIONS_MAX},
                                {ARG_REQUESTS, "requests", 1, 100000000},
                                {ARG_SPEED_SECONDS, "speed-seconds", 1, 600},
                                {ARG_SERVER_CPUS, "server-cpus", 1, CPU_SETSIZE},
                        };
                        size_t i = 0;

                        while (limits[i].arg != c)
                                i++;
                        if (safe_atou32(optarg, &u) < 0 || u < limits[i].min || u > limits[i].max) {
                                fprintf(stderr, "bench-load: --%s: %u to %u\n", limits[i].name,
                                        limits[i].min, limits[i].max);
                                return -EINVAL;
                        }
                        if (c == ARG_ROUNDS)
                                l->rounds = u;
                        else if (c == ARG_CONNECTIONS)
                                l->connections = u;
                        else if (c == ARG_OPEN_CONNECTIONS)
                                l->open_connections = u;
                        else if (c == ARG_REQUESTS)
                                l->mem_requests = u;
                        else if (c == ARG_SPEED_SECONDS)
                                l->speed_seconds = u;
                        else
                                l->server_cpus_wanted = u;
                        break;
                }
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "bench-load: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!l->body_path || !l->trust_root) {
                fprintf(stderr, "bench-load: --body and --trust-root are needed "
                                "(bench/run load makes them on the simulator)\n");
                return -EINVAL;
        }
        return 0;
}

/* A program by name in PATH (execve does not search). */
static int find_in_path(const char *name, char *ret, size_t size) {
        const char *path = secure_getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";

        if (strchr(name, '/'))
                return (size_t) snprintf(ret, size, "%s", name) < size ? 0 : -ENAMETOOLONG;
        while (*path) {
                size_t n = strcspn(path, ":");

                if (n > 0 && (size_t) snprintf(ret, size, "%.*s/%s", (int) n, path, name) < size &&
                    access(ret, X_OK) == 0)
                        return 0;
                path += n;
                if (*path == ':')
                        path++;
        }
        return -ENOENT;
}

static int run(Load *l) {
        int r;

        r = server_start(l);
        if (r < 0)
                return r;
        /* The Host header names the port, so the request is built once the port is known. */
        r = request_build(l);
        if (r < 0)
                return r;

        fprintf(stderr, "bench-load: warm-up, %u requests\n", WARMUP_REQUESTS);
        r = closed_loop_requests(l, WARMUP_REQUESTS);
        if (r >= 0)
                r = rss_sample(l);
        for (unsigned i = 0; i < l->rounds && r >= 0; i++) {
                fprintf(stderr, "bench-load: round %u/%u: openssl speed, closed loop\n", i + 1,
                        l->rounds);
                r = openssl_speed(l, i);
                if (r >= 0)
                        r = closed_loop_round(l, i);
        }
        if (r < 0)
                return r;
        l->ol_rate = OPEN_LOAD * median(l->rate_wall, l->rounds);
        for (unsigned i = 0; i < l->rounds && r >= 0; i++) {
                fprintf(stderr, "bench-load: round %u/%u: open loop at %.1f att/s\n", i + 1,
                        l->rounds, l->ol_rate);
                r = open_loop_round(l, i);
        }
        if (r < 0)
                return r;
        fprintf(stderr, "bench-load: memory, up to %" PRIu64 " requests in all\n",
                WARMUP_REQUESTS + l->mem_requests);
        return memory_run(l);
}

int main(int argc, char **argv) {
        static Load l = {.verifier = BENCH_VERIFIER,
                         .openssl = "openssl",
                         .rounds = 3,
                         .seconds = 5.0,
                         .connections = 4,
                         .open_connections = 16,
                         .mem_requests = 100000,
                         .speed_seconds = 1,
                         .pin = true};
        static char openssl_path[4096];
        const char *tmp = secure_getenv("TMPDIR") ?: "/tmp";
        char path[4200];
        int r;

        r = parse_args(&l, argc, argv);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        if (access(l.verifier, X_OK) < 0) {
                fprintf(stderr, "bench-load: no %s (make cvm-verifier, or --verifier)\n",
                        l.verifier);
                return EXIT_FAILURE;
        }
        if (find_in_path(l.openssl, openssl_path, sizeof(openssl_path)) < 0) {
                fprintf(stderr, "bench-load: %s not found\n", l.openssl);
                return EXIT_FAILURE;
        }
        l.openssl = openssl_path;
        (void) signal(SIGPIPE, SIG_IGN);
        r = cpus_setup(&l);
        if (r < 0)
                return EXIT_FAILURE;
        (void) snprintf(l.work, sizeof(l.work), "%s/bench-load.XXXXXX", tmp);
        if (!mkdtemp(l.work)) {
                fprintf(stderr, "bench-load: cannot make a directory in %s: %m\n", tmp);
                return EXIT_FAILURE;
        }

        r = run(&l);
        server_stop(&l);
        if (r >= 0)
                print_results(&l);
        else if (l.request) {
                /* A failure after the server started: its log may say why. */
                (void) snprintf(path, sizeof(path), "%s/server.log", l.work);
                fprintf(stderr, "bench-load: the server's log ends:\n");
                print_file_tail(path);
        }
        free(l.request);
        (void) snprintf(path, sizeof(path), "%s/server.log", l.work);
        (void) unlink(path);
        (void) snprintf(path, sizeof(path), "%s/openssl.err", l.work);
        (void) unlink(path);
        (void) rmdir(l.work);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
