/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-evidence: how long collecting vTPM evidence takes through our ESAPI code
 * (vtpm/tpm-device.c), against tpm2-tools doing the same work on the same swtpm in the same run.
 * The goal: "collecting evidence (quote + PCR read + event log) on swtpm is at least 2x
 * faster than the same work done with tpm2-tools (tpm2_pcrread + tpm2_quote)".
 *
 * The work, both sides: read PCRs 0-7 of the SHA-256 bank, quote them with the AK at 0x81000003
 * and a 32-byte nonce, read the event log file.
 *   tpm2-tools   two processes, `tpm2_pcrread sha256:0,...,7 -o pcrs.bin` and `tpm2_quote -c
 *                0x81000003 -l sha256:0,...,7 -q NONCE -m msg -s sig -o pcrs` (which reads the
 *                PCRs again for its -o), with TPM2TOOLS_TCTI pointing at the swtpm; then this
 *                process reads the log (tpm2-tools has no log step: `cat` would only add a
 *                process start to their side).
 *   ours, one process (the goal line): `bench-evidence --once`, a process that does
 *                tpm_device_open, tpm_device_pcr_read, tpm_device_quote, read_full_file of the
 *                log, tpm_device_close. One process against their two, as the agent does it.
 * Informational lines, each against the same tpm2-tools figures:
 *   in-process, open each   the same calls in this process, device opened and closed each time
 *                           (no process start);
 *   in-process, kept open   the same calls on a device opened once per round (as a monitor loop
 *                           would hold it);
 *   cvm-agent evidence      the real command, `cvm-agent evidence --isolation none --pcrs 0-7
 *                           --nonce HEX --eventlog FILE` with CVM_TCTI, its JSON on stdout to
 *                           /dev/null. It does more than the goal's work: it finds the AK,
 *                           reads PCRs 0-7 of every bank, makes the ephemeral RSA-2048 key under
 *                           a PolicyPCR trial session and certifies it with the AK, tries three
 *                           NV certificate indices, and writes base64 JSON. (Never --out
 *                           /dev/null: write_file_atomic renames a temporary file over the
 *                           target, which as root would replace the device node.)
 * A breakdown after the rounds times each tpm-device.c call alone on a device kept open, so that
 * the agent's extra work has a price, and the start of a process that does nothing
 * (`bench-evidence --noop`, `tpm2_pcrread -v`).
 *
 * Times are wall-clock (CLOCK_MONOTONIC) per operation: the work happens in swtpm and across a
 * socket as much as in our process, so CPU time of this process would flatter us. Each round
 * runs N operations of every interleaved variant, rotating which goes first, then the kept-open
 * block (swtpm serves one connection at a time, so a device kept open cannot be interleaved with
 * other clients). A round's figure is the median of its N operations; printed times are medians
 * of the round figures and each ratio is the median of the rounds' tpm2-tools/ours.
 *
 * The swtpm is not started here: bench/run starts one (or give --tcti for another TPM, e.g.
 * the simulator's CVM_TCTI). The AK at --ak-handle is created (ECC P-256, as cvm-agent creates
 * it) when absent.
 *
 * A measurement, not a test: exits 0 whatever the ratios are; 1 on errors, 2 on bad usage.
 */
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "vtpm/eventlog.h"
#include "vtpm/tpm-device.h"

#ifndef BENCH_EVENTLOG
#define BENCH_EVENTLOG "../shared/vectors/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"
#endif
#ifndef BENCH_AGENT
#define BENCH_AGENT "./cvm-agent"
#endif

#define GOAL          2.0
#define ROUNDS_MAX    32u
#define OPS_MAX       64u
#define BREAKDOWN_OPS 15u
#define NONCE_SIZE    32u
#define PCR_MASK      0xFFu /* PCRs 0-7 */
#define PCR_LIST      "sha256:0,1,2,3,4,5,6,7"

extern char **environ;

/* What is timed. The first N_INTERLEAVED run interleaved, operation by operation. */
enum {
        V_TOOLS,         /* tpm2_pcrread + tpm2_quote */
        V_ONCE,          /* bench-evidence --once */
        V_OPEN,          /* in-process, device opened each time */
        V_AGENT,         /* cvm-agent evidence */
        V_KEPT,          /* in-process, device kept open for the round */
        V_TOOLS_PCRREAD, /* the parts of V_TOOLS */
        V_TOOLS_QUOTE,
        _V_MAX,
};
#define N_INTERLEAVED 4u

typedef struct Bench {
        const char *tcti;
        const char *eventlog;
        const char *agent; /* NULL: --no-agent */
        uint32_t ak_handle;
        bool ak_rsa;
        unsigned rounds, ops;
        char self[4096];
        char work[4096]; /* temporary directory for tpm2-tools' outputs */
        char ak_handle_str[16];
        uint8_t nonce[NONCE_SIZE];
        char nonce_hex[2 * NONCE_SIZE + 1];
        char ak_desc[64];
        size_t log_size;
        double t[_V_MAX][ROUNDS_MAX][OPS_MAX];
        double round[_V_MAX][ROUNDS_MAX];
} Bench;

static void help(void) {
        printf("Usage: bench-evidence --tcti CONF [OPTIONS]\n"
               "\n"
               "Times vTPM evidence collection (PCR read + quote + event log) through our ESAPI\n"
               "code against tpm2_pcrread + tpm2_quote on the same TPM in the same run, and\n"
               "prints the ratios (bench/run starts a swtpm for it).\n"
               "\n"
               "  --tcti CONF        the TPM (default $CVM_TCTI), e.g. "
               "swtpm:host=127.0.0.1,port=N\n"
               "  --eventlog FILE    the log read as part of the work (default %s)\n"
               "  --agent PATH       cvm-agent to time as a whole (default %s)\n"
               "  --no-agent         do not time cvm-agent evidence\n"
               "  --ak-handle H      the AK (default 0x%08x; created if absent)\n"
               "  --ak-rsa           create an RSA-2048 AK instead of ECC P-256 when absent\n"
               "  --rounds N         rounds to take medians over (default 7)\n"
               "  --ops N            operations of each variant per round (default 8)\n"
               "  --once, --noop     (what the benchmark runs as a child process)\n",
               BENCH_EVENTLOG, BENCH_AGENT, TPM_AK_HANDLE_AZURE);
}

static double now_sec(void) {
        struct timespec t;

        (void) clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static double median(const double *v, size_t n) {
        double s[OPS_MAX > ROUNDS_MAX ? OPS_MAX : ROUNDS_MAX];

        if (n == 0)
                return 0;
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), cmp_double);
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- the work, in this process ---- */

/* PCRs 0-7 of SHA-256, a quote over them, the log: what both sides do. */
static int evidence_work(const Bench *b, TpmDevice *t, Diag *d) {
        _cleanup_(freep) uint8_t *attest = NULL, *sig = NULL, *log = NULL;
        size_t attest_size, sig_size, log_size;
        TpmPcrSet pcrs = {}, sel = {};
        TpmPcrBank *q;
        int r;

        r = tpm_device_pcr_read(t, TPM_ALG_SHA256, PCR_MASK, &pcrs, d);
        if (r < 0)
                return r;
        q = tpm_pcr_set_bank_add(&sel, TPM_ALG_SHA256);
        if (!q)
                return -EINVAL;
        q->mask = PCR_MASK;
        r = tpm_device_quote(t, b->ak_handle, &sel, b->nonce, NONCE_SIZE, &attest, &attest_size,
                             &sig, &sig_size, d);
        if (r < 0)
                return r;
        r = read_full_file(b->eventlog, EVENTLOG_MAX_SIZE, &log, &log_size);
        if (r < 0)
                return diag_set(d, r, "cannot read %s: %s", b->eventlog, strerror(-r));
        return 0;
}

static int evidence_open_work(const Bench *b, Diag *d) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        int r;

        r = tpm_device_open(b->tcti, &t, d);
        if (r < 0)
                return r;
        return evidence_work(b, t, d);
}

/* ---- processes ---- */

/* Runs argv with stdout to /dev/null and stderr to WORK/stderr; -EPROTO if it does not exit 0
 * (its stderr is shown). */
static int run(const Bench *b, char *const argv[]) {
        posix_spawn_file_actions_t fa;
        char errpath[4200];
        int status, r;
        pid_t pid;

        (void) snprintf(errpath, sizeof(errpath), "%s/stderr", b->work);
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errpath,
                                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (r == 0)
                r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                fprintf(stderr, "bench-evidence: cannot run %s: %s\n", argv[0], strerror(r));
                return -r;
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                _cleanup_(freep) uint8_t *err = NULL;
                size_t err_size = 0;

                fprintf(stderr, "bench-evidence: '%s", argv[0]);
                for (size_t i = 1; argv[i]; i++)
                        fprintf(stderr, " %s", argv[i]);
                fprintf(stderr, "' failed (status 0x%x)\n", (unsigned) status);
                if (read_full_file(errpath, 64 * 1024, &err, &err_size) >= 0)
                        fprintf(stderr, "%s", (const char *) err);
                return -EPROTO;
        }
        return 0;
}

/* tpm2-tools by path, found once in PATH. */
typedef struct Tools {
        char pcrread[4096];
        char quote[4096];
} Tools;

static Tools tools;

static int find_in_path(const char *name, char *ret, size_t size) {
        const char *path = secure_getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";

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

static int op_tools(Bench *b, double *ret_pcrread, double *ret_quote) {
        char pcrs_bin[4200], msg[4200], sig[4200], pcrs[4200];
        char *pcrread[] = {tools.pcrread, (char *) PCR_LIST, (char *) "-o", pcrs_bin, NULL};
        /* clang-format off */
        char *quote[] = { tools.quote, (char *) "-c", b->ak_handle_str, (char *) "-l",
                          (char *) PCR_LIST, (char *) "-q", b->nonce_hex, (char *) "-m", msg,
                          (char *) "-s", sig, (char *) "-o", pcrs, NULL };
        /* clang-format on */
        _cleanup_(freep) uint8_t *log = NULL;
        size_t log_size;
        double t0, t1, t2;
        int r;

        (void) snprintf(pcrs_bin, sizeof(pcrs_bin), "%s/pcrs.bin", b->work);
        (void) snprintf(msg, sizeof(msg), "%s/msg", b->work);
        (void) snprintf(sig, sizeof(sig), "%s/sig", b->work);
        (void) snprintf(pcrs, sizeof(pcrs), "%s/pcrs", b->work);
        t0 = now_sec();
        r = run(b, pcrread);
        t1 = now_sec();
        if (r >= 0)
                r = run(b, quote);
        if (r >= 0)
                r = read_full_file(b->eventlog, EVENTLOG_MAX_SIZE, &log, &log_size);
        t2 = now_sec();
        *ret_pcrread = t1 - t0;
        *ret_quote = t2 - t1;
        return r;
}

static int op_once(Bench *b) {
        char *argv[] = {b->self,
                        (char *) "--once",
                        (char *) "--tcti",
                        (char *) b->tcti,
                        (char *) "--eventlog",
                        (char *) b->eventlog,
                        (char *) "--ak-handle",
                        b->ak_handle_str,
                        (char *) "--nonce",
                        b->nonce_hex,
                        NULL};

        return run(b, argv);
}

static int op_agent(Bench *b) {
        char *argv[] = {(char *) b->agent,
                        (char *) "evidence",
                        (char *) "--isolation",
                        (char *) "none",
                        (char *) "--pcrs",
                        (char *) "0-7",
                        (char *) "--nonce",
                        b->nonce_hex,
                        (char *) "--eventlog",
                        (char *) b->eventlog,
                        (char *) "--ak-handle",
                        b->ak_handle_str,
                        NULL};

        return run(b, argv);
}

static int op_open(Bench *b) {
        Diag d = {};
        int r;

        r = evidence_open_work(b, &d);
        if (r < 0)
                fprintf(stderr, "bench-evidence: %s\n", diag_text(&d, strerror(-r)));
        return r;
}

/* Times one interleaved variant once into b->t[v][round][op]. */
static int time_variant(Bench *b, unsigned v, unsigned round, unsigned op) {
        double t0 = now_sec(), pr = 0, qu = 0;
        int r;

        switch (v) {
        case V_TOOLS:
                r = op_tools(b, &pr, &qu);
                b->t[V_TOOLS_PCRREAD][round][op] = pr;
                b->t[V_TOOLS_QUOTE][round][op] = qu;
                break;
        case V_ONCE:
                r = op_once(b);
                break;
        case V_OPEN:
                r = op_open(b);
                break;
        case V_AGENT:
                if (!b->agent)
                        return 0;
                r = op_agent(b);
                break;
        default:
                return -EINVAL;
        }
        b->t[v][round][op] = now_sec() - t0;
        return r;
}

static int kept_block(Bench *b, unsigned round) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        Diag d = {};
        int r;

        r = tpm_device_open(b->tcti, &t, &d);
        for (unsigned j = 0; j < b->ops && r >= 0; j++) {
                double t0 = now_sec();

                r = evidence_work(b, t, &d);
                b->t[V_KEPT][round][j] = now_sec() - t0;
        }
        if (r < 0)
                fprintf(stderr, "bench-evidence: %s\n", diag_text(&d, strerror(-r)));
        return r;
}

static int run_rounds(Bench *b) {
        int r = 0;

        for (unsigned i = 0; i < b->rounds; i++) {
                if (i % 2 == 1)
                        r = kept_block(b, i);
                for (unsigned j = 0; j < b->ops && r >= 0; j++)
                        /* Rotate who goes first, so drift in load hits every variant alike. */
                        for (unsigned k = 0; k < N_INTERLEAVED && r >= 0; k++)
                                r = time_variant(b, (i * b->ops + j + k) % N_INTERLEAVED, i, j);
                if (r >= 0 && i % 2 == 0)
                        r = kept_block(b, i);
                if (r < 0)
                        return r;
                for (unsigned v = 0; v < _V_MAX; v++)
                        b->round[v][i] = median(b->t[v][i], b->ops);
                fprintf(stderr, "round %u/%u done\n", i + 1, b->rounds);
        }
        return 0;
}

/* ---- the breakdown: each call alone, device kept open ---- */

typedef struct Part {
        const char *what;
        double ms;
        int result; /* of the last call: 0 or -errno (an absent NV index is -ENOENT) */
} Part;

#define BREAKDOWN_MAX 12u

typedef struct Breakdown {
        Part parts[BREAKDOWN_MAX];
        size_t n;
        size_t n_banks;
} Breakdown;

static void part_add(Breakdown *bd, const char *what, const double *v, size_t n, int result) {
        if (bd->n < BREAKDOWN_MAX)
                bd->parts[bd->n++] = (Part){what, median(v, n) * 1e3, result};
}

static int breakdown_fail(const Diag *d, int r) {
        fprintf(stderr, "bench-evidence: breakdown: %s\n", diag_text(d, strerror(-r)));
        return r;
}

static int breakdown(Bench *b, Breakdown *bd) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        double v[BREAKDOWN_OPS], t0;
        uint16_t banks[TPM_MAX_BANKS];
        TpmPcrSet sel = {};
        TpmPcrBank *q;
        Diag d = {};
        int r = 0, last;

        /* Processes that do nothing: the start-up each process of either side pays. */
        {
                char *noop[] = {b->self, (char *) "--noop", NULL};
                char *version[] = {tools.pcrread, (char *) "-v", NULL};

                for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                        t0 = now_sec();
                        r = run(b, noop);
                        v[i] = now_sec() - t0;
                }
                part_add(bd, "process start: bench-evidence --noop", v, BREAKDOWN_OPS, r);
                for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                        t0 = now_sec();
                        r = run(b, version);
                        v[i] = now_sec() - t0;
                }
                part_add(bd, "process start: tpm2_pcrread -v", v, BREAKDOWN_OPS, r);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                t0 = now_sec();
                r = tpm_device_open(b->tcti, &t, &d);
                t = tpm_device_close(t);
                v[i] = now_sec() - t0;
        }
        part_add(bd, "tpm_device_open + close", v, BREAKDOWN_OPS, r);
        if (r >= 0)
                r = tpm_device_open(b->tcti, &t, &d);
        if (r < 0)
                return breakdown_fail(&d, r);

        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                TpmPcrSet pcrs = {};

                t0 = now_sec();
                r = tpm_device_pcr_read(t, TPM_ALG_SHA256, PCR_MASK, &pcrs, &d);
                v[i] = now_sec() - t0;
        }
        part_add(bd, "tpm_device_pcr_read sha256 0-7", v, BREAKDOWN_OPS, r);

        q = tpm_pcr_set_bank_add(&sel, TPM_ALG_SHA256);
        if (!q)
                return -EINVAL;
        q->mask = PCR_MASK;
        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                _cleanup_(freep) uint8_t *attest = NULL, *sig = NULL;
                size_t as, ss;

                t0 = now_sec();
                r = tpm_device_quote(t, b->ak_handle, &sel, b->nonce, NONCE_SIZE, &attest, &as,
                                     &sig, &ss, &d);
                v[i] = now_sec() - t0;
        }
        part_add(bd, "tpm_device_quote (ReadPublic + Quote)", v, BREAKDOWN_OPS, r);

        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                _cleanup_(freep) uint8_t *log = NULL;
                size_t ls;

                t0 = now_sec();
                r = read_full_file(b->eventlog, EVENTLOG_MAX_SIZE, &log, &ls);
                v[i] = now_sec() - t0;
        }
        part_add(bd, "read_full_file of the event log", v, BREAKDOWN_OPS, r);
        if (r < 0)
                return breakdown_fail(&d, r);

        /* What cvm-agent evidence does besides. */
        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                _cleanup_(freep) uint8_t *pub = NULL;
                size_t ps;

                t0 = now_sec();
                r = tpm_device_ak(t, b->ak_handle, false, TPM_AK_ECC_P256, &pub, &ps, &d);
                v[i] = now_sec() - t0;
        }
        part_add(bd, "+ tpm_device_ak (find the AK)", v, BREAKDOWN_OPS, r);

        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                TpmPcrSet pcrs = {};
                size_t n = 0;

                t0 = now_sec();
                r = tpm_device_banks(t, banks, &n, &d);
                for (size_t k = 0; k < n && r >= 0; k++)
                        r = tpm_device_pcr_read(t, banks[k], PCR_MASK, &pcrs, &d);
                v[i] = now_sec() - t0;
                bd->n_banks = n;
        }
        part_add(bd, "+ tpm_device_banks + pcr_read of each bank", v, BREAKDOWN_OPS, r);

        for (unsigned i = 0; i < BREAKDOWN_OPS && r >= 0; i++) {
                _cleanup_(freep) uint8_t *pub = NULL, *cert = NULL, *sig = NULL;
                size_t ps, cs, ss;

                t0 = now_sec();
                r = tpm_device_ephemeral_key(t, b->ak_handle, &sel, b->nonce, NONCE_SIZE, &pub, &ps,
                                             &cert, &cs, &sig, &ss, &d);
                v[i] = now_sec() - t0;
        }
        part_add(bd, "+ tpm_device_ephemeral_key (+ Certify)", v, BREAKDOWN_OPS, r);
        if (r < 0)
                return breakdown_fail(&d, r);

        last = 0;
        for (unsigned i = 0; i < BREAKDOWN_OPS; i++) {
                static const uint32_t idx[] = {TPM_NV_AK_CERT_AZURE, TPM_NV_EK_CERT_RSA,
                                               TPM_NV_EK_CERT_ECC};

                t0 = now_sec();
                for (size_t k = 0; k < ELEMENTSOF(idx); k++) {
                        _cleanup_(freep) uint8_t *buf = NULL;
                        size_t bs;

                        last = tpm_device_nv_read(t, idx[k], &buf, &bs, NULL);
                }
                v[i] = now_sec() - t0;
        }
        part_add(bd, "+ tpm_device_nv_read x3 (AK, EK certs)", v, BREAKDOWN_OPS, last);
        return 0;
}

/* ---- the table ---- */

static void print_line(const Bench *b, const char *what, unsigned v, bool goal) {
        double ratio[ROUNDS_MAX], rm;
        const char *verdict;

        for (unsigned i = 0; i < b->rounds; i++)
                ratio[i] = b->round[V_TOOLS][i] / b->round[v][i];
        rm = median(ratio, b->rounds);
        verdict = !goal ? "info" : rm >= GOAL ? "PASS" : "BELOW";
        printf("%-40s %8.2f %8.2f %7.2f   >= %.1f  %s\n", what,
               median(b->round[v], b->rounds) * 1e3, median(b->round[V_TOOLS], b->rounds) * 1e3, rm,
               GOAL, verdict);
}

static void print_table(const Bench *b, const Breakdown *bd) {
        printf("vTPM evidence: PCR read + quote + event log, ours vs. tpm2-tools doing the same "
               "work on\nthe same TPM in the same run. Wall-clock per operation, medians of %u "
               "rounds x %u\noperations (interleaved); ratio = median of the rounds' "
               "tpm2-tools/ours.\n",
               b->rounds, b->ops);
        printf("  TPM         %s; AK 0x%08x (%s)\n", b->tcti, b->ak_handle, b->ak_desc);
        printf("  event log   %s (%zu bytes)\n", b->eventlog, b->log_size);
        printf("  tpm2-tools  tpm2_pcrread %s -o F;\n"
               "              tpm2_quote -c 0x%08x -l %s -q NONCE -m F -s F -o F;\n"
               "              then the log read in this process\n",
               PCR_LIST, b->ak_handle, PCR_LIST);
        printf("  ours        tpm_device_open, tpm_device_pcr_read (sha256 0-7), "
               "tpm_device_quote,\n"
               "              read_full_file of the log, tpm_device_close\n");
        printf("\n%-40s %8s %8s %7s   %-6s  %s\n", "", "ours ms", "tools ms", "ratio", "goal",
               "verdict");
        print_line(b, "same work, one process (--once)", V_ONCE, true);
        print_line(b, "same work, in-process, open each time", V_OPEN, false);
        print_line(b, "same work, in-process, kept open", V_KEPT, false);
        if (b->agent)
                print_line(b, "cvm-agent evidence (does more, below)", V_AGENT, false);
        printf("tpm2-tools parts: tpm2_pcrread %.2f ms, tpm2_quote (+ log read) %.2f ms\n",
               median(b->round[V_TOOLS_PCRREAD], b->rounds) * 1e3,
               median(b->round[V_TOOLS_QUOTE], b->rounds) * 1e3);

        printf("\nbreakdown, each alone (device kept open; medians of %u calls; '+': what "
               "cvm-agent\nevidence does besides, %zu PCR banks here):\n",
               BREAKDOWN_OPS, bd->n_banks);
        for (size_t i = 0; i < bd->n; i++) {
                const Part *p = &bd->parts[i];

                printf("  %-44s %7.2f ms%s\n", p->what, p->ms,
                       p->result == -ENOENT ? "  (absent here: -ENOENT)" : "");
        }
}

/* ---- set-up ---- */

static int ak_setup(Bench *b) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        _cleanup_(freep) uint8_t *pub = NULL;
        size_t pub_size;
        bool created = false;
        Diag d = {};
        int r;

        r = tpm_device_open(b->tcti, &t, &d);
        if (r >= 0) {
                r = tpm_device_ak(t, b->ak_handle, false, TPM_AK_ECC_P256, &pub, &pub_size, &d);
                if (r == -ENOENT) {
                        d = (Diag){};
                        r = tpm_device_ak(t, b->ak_handle, true,
                                          b->ak_rsa ? TPM_AK_RSA_2048 : TPM_AK_ECC_P256, &pub,
                                          &pub_size, &d);
                        created = true;
                }
        }
        if (r < 0) {
                fprintf(stderr, "bench-evidence: the AK at 0x%08x on '%s': %s\n", b->ak_handle,
                        b->tcti, diag_text(&d, strerror(-r)));
                return r;
        }
        /* TPM2B_PUBLIC: size (2), then TPMT_PUBLIC.type (2, big-endian). */
        (void) snprintf(b->ak_desc, sizeof(b->ak_desc), "%s, %s",
                        pub_size >= 4 && ((pub[2] << 8) | pub[3]) == 0x0023   ? "ECC P-256"
                        : pub_size >= 4 && ((pub[2] << 8) | pub[3]) == 0x0001 ? "RSA"
                                                                              : "other",
                        created ? "created now" : "found");
        return 0;
}

static void work_cleanup(const Bench *b) {
        static const char *const files[] = {"pcrs.bin", "msg", "sig", "pcrs", "stderr"};
        char path[4200];

        if (!b->work[0])
                return;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                (void) snprintf(path, sizeof(path), "%s/%s", b->work, files[i]);
                (void) unlink(path);
        }
        (void) rmdir(b->work);
}

/* ---- main ---- */

static int parse_args(Bench *b, int argc, char **argv, bool *ret_once, bool *ret_noop) {
        enum {
                ARG_TCTI = 0x100,
                ARG_EVENTLOG,
                ARG_AGENT,
                ARG_NO_AGENT,
                ARG_AK_HANDLE,
                ARG_AK_RSA,
                ARG_ROUNDS,
                ARG_OPS,
                ARG_ONCE,
                ARG_NOOP,
                ARG_NONCE
        };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"tcti", required_argument, NULL, ARG_TCTI},
                {"eventlog", required_argument, NULL, ARG_EVENTLOG},
                {"agent", required_argument, NULL, ARG_AGENT},
                {"no-agent", no_argument, NULL, ARG_NO_AGENT},
                {"ak-handle", required_argument, NULL, ARG_AK_HANDLE},
                {"ak-rsa", no_argument, NULL, ARG_AK_RSA},
                {"rounds", required_argument, NULL, ARG_ROUNDS},
                {"ops", required_argument, NULL, ARG_OPS},
                {"once", no_argument, NULL, ARG_ONCE},
                {"noop", no_argument, NULL, ARG_NOOP},
                {"nonce", required_argument, NULL, ARG_NONCE},
                {}};
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_TCTI:
                        b->tcti = optarg;
                        break;
                case ARG_EVENTLOG:
                        b->eventlog = optarg;
                        break;
                case ARG_AGENT:
                        b->agent = optarg;
                        break;
                case ARG_NO_AGENT:
                        b->agent = NULL;
                        break;
                case ARG_AK_HANDLE:
                        if (safe_atou32(optarg, &b->ak_handle) < 0 ||
                            (b->ak_handle >> 24) != 0x81) {
                                fprintf(stderr, "bench-evidence: --ak-handle: 0x81xxxxxx\n");
                                return -EINVAL;
                        }
                        break;
                case ARG_AK_RSA:
                        b->ak_rsa = true;
                        break;
                case ARG_ROUNDS:
                case ARG_OPS: {
                        unsigned *p = c == ARG_ROUNDS ? &b->rounds : &b->ops;
                        unsigned max = c == ARG_ROUNDS ? ROUNDS_MAX : OPS_MAX;

                        if (safe_atou32(optarg, p) < 0 || *p < 1 || *p > max) {
                                fprintf(stderr, "bench-evidence: --%s: 1 to %u\n",
                                        c == ARG_ROUNDS ? "rounds" : "ops", max);
                                return -EINVAL;
                        }
                        break;
                }
                case ARG_ONCE:
                        *ret_once = true;
                        break;
                case ARG_NOOP:
                        *ret_noop = true;
                        break;
                case ARG_NONCE:
                        if (strlen(optarg) != 2 * NONCE_SIZE ||
                            hex_decode_exact(optarg, b->nonce, NONCE_SIZE) < 0) {
                                fprintf(stderr, "bench-evidence: --nonce: %u bytes of hex\n",
                                        NONCE_SIZE);
                                return -EINVAL;
                        }
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "bench-evidence: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!b->tcti)
                b->tcti = secure_getenv("CVM_TCTI");
        if (!b->tcti && !*ret_noop) {
                fprintf(stderr, "bench-evidence: no TPM: give --tcti (bench/run starts a swtpm)\n");
                return -EINVAL;
        }
        (void) snprintf(b->ak_handle_str, sizeof(b->ak_handle_str), "0x%08x", b->ak_handle);
        return 0;
}

int main(int argc, char **argv) {
        static Bench b = {.eventlog = BENCH_EVENTLOG,
                          .agent = BENCH_AGENT,
                          .ak_handle = TPM_AK_HANDLE_AZURE,
                          .rounds = 7,
                          .ops = 8};
        static Breakdown bd;
        const char *tmp = secure_getenv("TMPDIR") ?: "/tmp";
        bool once = false, noop = false;
        ssize_t n;
        int r;

        r = parse_args(&b, argc, argv, &once, &noop);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        if (noop)
                return EXIT_SUCCESS;
        if (once) {
                Diag d = {};

                r = evidence_open_work(&b, &d);
                if (r < 0) {
                        fprintf(stderr, "bench-evidence --once: %s\n", diag_text(&d, strerror(-r)));
                        return EXIT_FAILURE;
                }
                return EXIT_SUCCESS;
        }

        n = readlink("/proc/self/exe", b.self, sizeof(b.self) - 1);
        if (n < 0 || (size_t) n >= sizeof(b.self) - 1) {
                fprintf(stderr, "bench-evidence: cannot find my own executable\n");
                return EXIT_FAILURE;
        }
        b.self[n] = 0;
        if (find_in_path("tpm2_pcrread", tools.pcrread, sizeof(tools.pcrread)) < 0 ||
            find_in_path("tpm2_quote", tools.quote, sizeof(tools.quote)) < 0) {
                fprintf(stderr, "bench-evidence: tpm2_pcrread and tpm2_quote are needed "
                                "(apt-get install tpm2-tools)\n");
                return EXIT_FAILURE;
        }
        if (b.agent && access(b.agent, X_OK) < 0) {
                fprintf(stderr, "bench-evidence: no %s (make cvm-agent, or --no-agent)\n", b.agent);
                return EXIT_FAILURE;
        }
        {
                struct stat st;

                if (stat(b.eventlog, &st) < 0) {
                        fprintf(stderr, "bench-evidence: %s: %m\n", b.eventlog);
                        return EXIT_FAILURE;
                }
                b.log_size = (size_t) st.st_size;
        }
        if (RAND_bytes(b.nonce, NONCE_SIZE) != 1)
                return EXIT_FAILURE;
        hex_encode_buf(b.nonce, NONCE_SIZE, b.nonce_hex);

        /* Every child talks to the same TPM, and tpm2-tss logs alike on both sides (cvm-agent
         * and tpm_device_open set TSS2_LOG this way unless it is set). */
        if (setenv("TPM2TOOLS_TCTI", b.tcti, 1) < 0 || setenv("CVM_TCTI", b.tcti, 1) < 0 ||
            setenv("TSS2_LOG", "all+none", 0) < 0)
                return EXIT_FAILURE;
        (void) snprintf(b.work, sizeof(b.work), "%s/bench-evidence.XXXXXX", tmp);
        if (!mkdtemp(b.work)) {
                fprintf(stderr, "bench-evidence: cannot make a directory in %s: %m\n", tmp);
                return EXIT_FAILURE;
        }

        r = ak_setup(&b);
        if (r >= 0)
                r = run_rounds(&b);
        if (r >= 0)
                r = breakdown(&b, &bd);
        if (r >= 0)
                print_table(&b, &bd);
        work_cleanup(&b);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
