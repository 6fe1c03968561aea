/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-snp-verify: how fast one SEV-SNP report verifies, as a ratio to the floor the issue sets
 * from `openssl speed` on the same machine, in the same run:
 *
 *   cached       floor = one P-384 verify               (openssl speed ecdsap384, verify/s)
 *   whole chain  floor = one P-384 verify plus three RSA-4096 verifies
 *                        = 1 / (1/ecdsa + 3/rsa)          (openssl speed rsa4096, verify/s)
 *   goal: ours / floor >= 0.85 for both.
 *
 * What one operation is:
 *   cached       snp_report_parse + snp_report_verify with an SnpEndorsement verified once
 *                beforehand. Parse is inside the loop: a verifier parses every report it
 *                verifies, and parse is part of "verifying one report".
 *   whole chain  every signature, every time: snp_endorsement_verify (ASK-by-ARK and
 *                VCEK-by-ASK, validity, AMD extensions), X509_verify of the ARK's
 *                self-signature (which snp_endorsement_verify does not redo: the trust store
 *                checks it once when it is built; we add it so the loop does the three RSA-4096
 *                verifies the floor counts), then snp_report_parse + snp_report_verify. The VCEK
 *                is parsed once and found again by comparing DER bytes, as a verifier's VCEK
 *                cache (keyed by chip and TCB) holds it. The trust store (compiled-in roots
 *                parsed once per process, as a service would) is built outside the loop.
 *   chain + DER  whole chain plus d2i_X509 of the VCEK DER on every operation. Informational:
 *                the difference is what parsing a certificate costs in OpenSSL 3.0, which
 *                decodes the public key through a freshly built OSSL_DECODER chain on every call
 *                (about 2.5 RSA-4096 verifies; 3.2 caches the decoder).
 *
 * Rates are operations per CPU-second of this process (CLOCK_PROCESS_CPUTIME_ID), because
 * `openssl speed` divides by user CPU time too (unless -elapsed): on a shared machine this keeps
 * time the scheduler gives to others out of both sides. Each round runs `openssl speed` and our
 * loops back to back (alternating which goes first), and the ratio printed is the median over
 * rounds of each round's ours/floor; the rates printed are medians too. An in-process peer (the
 * same verifies through EVP with a context built once, as `openssl speed` does) is measured in
 * every round as a cross-check and printed beside the ratio.
 *
 * A measurement, not a test: exits 0 whatever the ratios are; 1 on errors, 2 on bad usage.
 */
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"

#ifndef BENCH_VECTORS_DIR
#define BENCH_VECTORS_DIR "../shared/vectors/snp/oak"
#endif

#define INPUT_MAX (256u * 1024u)
#define ROUNDS_MAX 64u
#define PRODUCTS_MAX 8u
#define GOAL 0.85

extern char **environ;

/* Vectors tried when no --report is given: one of each product line. */
static const char *const default_vectors[] = { "milan_oc_release", "genoa_oc", "turin_oc" };

typedef struct Product {
        char report_path[4096];
        char cert_path[4096];
        uint8_t *report;
        size_t report_size;
        uint8_t *cert_der;          /* the VCEK re-encoded as DER (input may be PEM) */
        size_t cert_der_size;
        X509 *leaf;                 /* the VCEK parsed once, for the "whole chain" loop */
        uint8_t *leaf_der;          /* its DER, the key such a cache would compare */
        X509 *ark;                  /* this chain's root, parsed from the compiled-in PEM */
        SnpEndorsement *cached;     /* verified once, for the cached loop */
        time_t at;                  /* verification time: now, clamped into the VCEK's validity */
        double cached_rate[ROUNDS_MAX];
        double chain_rate[ROUNDS_MAX];
        double reuse_rate[ROUNDS_MAX];
} Product;

typedef struct Peer {
        EVP_PKEY_CTX *ec_ctx, *rsa_ctx;
        uint8_t digest[48];
        uint8_t ec_sig[128], rsa_sig[512];
        size_t ec_sig_size, rsa_sig_size;
} Peer;

typedef struct Bench {
        SnpTrust *trust;
        Product products[PRODUCTS_MAX];
        size_t n_products;
        Peer peer;
        unsigned rounds;
        double seconds;
        unsigned speed_seconds;
        const char *openssl;        /* NULL: no external reference */
        /* Per round: openssl speed verify/s, and the in-process peer's. */
        double speed_ec[ROUNDS_MAX], speed_rsa[ROUNDS_MAX];
        double inproc_ec[ROUNDS_MAX], inproc_rsa[ROUNDS_MAX];
} Bench;

static void help(void) {
        printf("Usage: bench-snp-verify [OPTIONS]\n"
               "\n"
               "Measures SEV-SNP report verification (chain cached, and whole chain every time)\n"
               "against `openssl speed ecdsap384 rsa4096` in the same run and prints the ratios.\n"
               "\n"
               "  --report FILE        a raw report; pair it with --cert (may be repeated)\n"
               "  --cert FILE          its VCEK (DER or PEM)\n"
               "  --vectors DIR        without --report: DIR/{milan_oc_release,genoa_oc,turin_oc}\n"
               "                       _report.bin and _vcek.der (default %s)\n"
               "  --rounds N           rounds to take medians over (default 5)\n"
               "  --seconds S          CPU time of each of our measurements per round (default 1)\n"
               "  --speed-seconds N    openssl speed -seconds per round (default 1)\n"
               "  --openssl PATH       the openssl program (default: openssl from PATH)\n"
               "  --no-openssl         compare with the in-process peer only\n",
               BENCH_VECTORS_DIR);
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_(freep) uint8_t *buf = NULL;
        FILE *f;
        size_t n;
        int r = 0;

        buf = malloc(INPUT_MAX + 1);
        if (!buf)
                return -ENOMEM;
        f = fopen(path, "rbe");
        if (!f)
                return -errno;
        n = fread(buf, 1, INPUT_MAX + 1, f);
        if (ferror(f))
                r = -EIO;
        else if (n > INPUT_MAX)
                r = -EFBIG;
        (void) fclose(f);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static double ts_sec(const struct timespec *t) {
        return (double) t->tv_sec + (double) t->tv_nsec / 1e9;
}

static double clock_sec(clockid_t id) {
        struct timespec t;

        (void) clock_gettime(id, &t);
        return ts_sec(&t);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

static double median(const double *v, size_t n) {
        double s[ROUNDS_MAX];

        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), cmp_double);
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The floor for the whole chain: one P-384 verify plus three RSA-4096 verifies, as a rate. */
static double chain_floor(double ec, double rsa) {
        return 1.0 / (1.0 / ec + 3.0 / rsa);
}

/* ---- the operations we time ---- */

typedef int (*OpFn)(Bench *b, Product *p);

static int op_cached(_unused_ Bench *b, Product *p) {
        SnpReport rep;
        int r;

        r = snp_report_parse(p->report, p->report_size, &rep, NULL);
        if (r < 0)
                return r;
        return snp_report_verify(p->cached, &rep, p->report, p->report_size, NULL);
}

/* Everything of the whole-chain operation after the VCEK is parsed. */
static int chain_verify(Bench *b, Product *p, X509 *leaf) {
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        SnpReport rep;
        int r;

        r = snp_endorsement_verify(b->trust, leaf, /* untrusted= */ NULL, /* crl= */ NULL, p->at,
                                   &e, NULL);
        if (r < 0)
                return r;
        /* The third RSA-4096 verify of the floor: the ARK's self-signature. */
        if (X509_verify(p->ark, X509_get0_pubkey(p->ark)) != 1)
                return -EKEYREJECTED;
        r = snp_report_parse(p->report, p->report_size, &rep, NULL);
        if (r < 0)
                return r;
        return snp_report_verify(e, &rep, p->report, p->report_size, NULL);
}

static int op_chain(Bench *b, Product *p) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        const unsigned char *q = p->cert_der;

        leaf = d2i_X509(NULL, &q, (long) p->cert_der_size);
        if (!leaf || q != p->cert_der + p->cert_der_size)
                return -EBADMSG;
        return chain_verify(b, p, leaf);
}

static int op_chain_reuse(Bench *b, Product *p) {
        if (memcmp(p->cert_der, p->leaf_der, p->cert_der_size) != 0)
                return -EBADMSG;
        return chain_verify(b, p, p->leaf);
}

static int op_peer_ec(Bench *b, _unused_ Product *p) {
        Peer *pe = &b->peer;

        return EVP_PKEY_verify(pe->ec_ctx, pe->ec_sig, pe->ec_sig_size, pe->digest,
                               sizeof(pe->digest)) == 1 ? 0 : -EKEYREJECTED;
}

static int op_peer_rsa(Bench *b, _unused_ Product *p) {
        Peer *pe = &b->peer;

        return EVP_PKEY_verify(pe->rsa_ctx, pe->rsa_sig, pe->rsa_sig_size, pe->digest,
                               sizeof(pe->digest)) == 1 ? 0 : -EKEYREJECTED;
}

/* Runs fn until b->seconds of CPU time have passed; *ret_rate is operations per CPU-second. */
static int measure(Bench *b, OpFn fn, Product *p, double *ret_rate) {
        double c0, c;
        uint64_t n = 0;
        int r;

        c0 = clock_sec(CLOCK_PROCESS_CPUTIME_ID);
        do {
                r = fn(b, p);
                if (r < 0)
                        return r;
                n++;
                c = clock_sec(CLOCK_PROCESS_CPUTIME_ID);
        } while (c - c0 < b->seconds);
        *ret_rate = (double) n / (c - c0);
        return 0;
}

/* ---- the external reference: openssl speed ---- */

/* Runs `openssl speed -mr -seconds N ecdsap384 rsa4096` and reads the verify/s of each from its
 * machine-readable lines: "+F2:<i>:4096:<sign/s>:<verify/s>" (RSA) and
 * "+F4:<i>:384:<sign/s>:<verify/s>" (ECDSA). */
static int openssl_speed(const Bench *b, double *ret_ec, double *ret_rsa) {
        posix_spawn_file_actions_t fa;
        char secs[16];
        char *argv[] = { (char *) b->openssl, (char *) "speed", (char *) "-mr",
                         (char *) "-seconds", secs, (char *) "ecdsap384", (char *) "rsa4096",
                         NULL };
        _cleanup_(freep) char *line = NULL;
        double ec = 0, rsa = 0;
        size_t line_size = 0;
        int pipefd[2], status, r;
        pid_t pid;
        FILE *f;

        (void) snprintf(secs, sizeof(secs), "%u", b->speed_seconds);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        r = posix_spawn_file_actions_init(&fa);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        if (r == 0)
                r = posix_spawnp(&pid, b->openssl, &fa, NULL, argv, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        (void) close(pipefd[1]);
        if (r != 0) {
                (void) close(pipefd[0]);
                return -r;
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
                    bits == 4096)
                        rsa = verify;
                else if (sscanf(line, "+F4:%u:%u:%lf:%lf", &idx, &bits, &sign, &verify) == 4 &&
                         bits == 384)
                        ec = verify;
        }
        (void) fclose(f);
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ec <= 0 || rsa <= 0)
                return -EPROTO;
        *ret_ec = ec;
        *ret_rsa = rsa;
        return 0;
}

/* ---- set-up ---- */

static time_t asn1_time_or(const ASN1_TIME *a, time_t fallback) {
        struct tm tm;

        if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
                return fallback;
        return timegm(&tm);
}

/* The compiled-in certificate that is the self-signed root named cn. */
static int builtin_ark(const char *cn, X509 **ret) {
        const char *pem;

        for (size_t i = 0; (pem = snp_builtin_cert_pem(i)); i++) {
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
                char name[64];
                X509 *x;

                if (x509_parse_bundle((const uint8_t *) pem, strlen(pem), &sk) < 0)
                        return -EBADMSG;
                x = sk_X509_value(sk, 0);
                if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0 ||
                    x509_common_name(X509_get_subject_name(x), name, sizeof(name)) < 0 ||
                    !streq(name, cn))
                        continue;
                if (!X509_up_ref(x))
                        return -ENOMEM;
                *ret = x;
                return 0;
        }
        return -ENOKEY;
}

static int product_load(Bench *b, Product *p) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(freep) uint8_t *cert = NULL;
        unsigned char *der = NULL;
        size_t cert_size;
        X509 *leaf;
        Diag d = {};
        time_t nb, na;
        int r, n;

        r = read_file(p->report_path, &p->report, &p->report_size);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: cannot read %s: %s\n", p->report_path,
                        strerror(-r));
                return r;
        }
        r = read_file(p->cert_path, &cert, &cert_size);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: cannot read %s: %s\n", p->cert_path,
                        strerror(-r));
                return r;
        }
        r = x509_parse_bundle(cert, cert_size, &certs);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: %s: not a certificate\n", p->cert_path);
                return r;
        }
        leaf = sk_X509_value(certs, 0);
        n = i2d_X509(leaf, &der);
        if (n <= 0)
                return -ENOMEM;
        p->cert_der = (uint8_t *) der;
        p->cert_der_size = (size_t) n;
        p->leaf_der = malloc((size_t) n);
        if (!p->leaf_der || !X509_up_ref(leaf))
                return -ENOMEM;
        memcpy(p->leaf_der, der, (size_t) n);
        p->leaf = leaf;

        /* Now, unless the vector's VCEK is not valid now: then a moment it is valid. */
        p->at = time(NULL);
        nb = asn1_time_or(X509_get0_notBefore(leaf), p->at);
        na = asn1_time_or(X509_get0_notAfter(leaf), p->at);
        if (p->at < nb || p->at > na)
                p->at = nb + (na - nb) / 2;

        r = snp_endorsement_verify(b->trust, leaf, NULL, NULL, p->at, &p->cached, &d);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: %s: %s\n", p->cert_path,
                        diag_text(&d, strerror(-r)));
                return r;
        }
        r = builtin_ark(p->cached->chain[2], &p->ark);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: no compiled-in root '%s'\n",
                        p->cached->chain[2]);
                return r;
        }
        /* Both operations must succeed before they are timed. */
        r = op_cached(b, p);
        if (r >= 0)
                r = op_chain(b, p);
        if (r >= 0)
                r = op_chain_reuse(b, p);
        if (r < 0) {
                SnpReport rep;

                d = (Diag) {};
                if (snp_report_parse(p->report, p->report_size, &rep, &d) >= 0)
                        (void) snp_report_verify(p->cached, &rep, p->report, p->report_size, &d);
                fprintf(stderr, "bench-snp-verify: %s does not verify with %s: %s\n",
                        p->report_path, p->cert_path, diag_text(&d, strerror(-r)));
                return r;
        }
        return 0;
}

static void product_done(Product *p) {
        free(p->report);
        OPENSSL_free(p->cert_der);
        free(p->leaf_der);
        X509_free(p->leaf);
        X509_free(p->ark);
        snp_endorsement_free(p->cached);
}

/* Keys and signatures for the in-process peer: like openssl speed, a verify context built once
 * and a 48-byte digest verified over and over (P-384 ECDSA; RSA-4096 PKCS#1 v1.5 with SHA-384). */
static int peer_setup(Peer *pe) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = NULL, *rsa = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *sc = NULL;

        for (size_t i = 0; i < sizeof(pe->digest); i++)
                pe->digest[i] = (uint8_t) (i * 7 + 1);
        ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
        if (!ec || !rsa)
                return -ENOMEM;

        pe->ec_sig_size = sizeof(pe->ec_sig);
        sc = EVP_PKEY_CTX_new(ec, NULL);
        if (!sc || EVP_PKEY_sign_init(sc) <= 0 ||
            EVP_PKEY_sign(sc, pe->ec_sig, &pe->ec_sig_size, pe->digest, sizeof(pe->digest)) <= 0)
                return -EIO;
        EVP_PKEY_CTX_free(sc);

        pe->rsa_sig_size = sizeof(pe->rsa_sig);
        sc = EVP_PKEY_CTX_new(rsa, NULL);
        if (!sc || EVP_PKEY_sign_init(sc) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(sc, RSA_PKCS1_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_signature_md(sc, EVP_sha384()) <= 0 ||
            EVP_PKEY_sign(sc, pe->rsa_sig, &pe->rsa_sig_size, pe->digest, sizeof(pe->digest)) <= 0)
                return -EIO;

        pe->ec_ctx = EVP_PKEY_CTX_new(ec, NULL);
        pe->rsa_ctx = EVP_PKEY_CTX_new(rsa, NULL);
        if (!pe->ec_ctx || !pe->rsa_ctx || EVP_PKEY_verify_init(pe->ec_ctx) <= 0 ||
            EVP_PKEY_verify_init(pe->rsa_ctx) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(pe->rsa_ctx, RSA_PKCS1_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_signature_md(pe->rsa_ctx, EVP_sha384()) <= 0)
                return -EIO;
        return 0;
}

static void peer_done(Peer *pe) {
        EVP_PKEY_CTX_free(pe->ec_ctx);
        EVP_PKEY_CTX_free(pe->rsa_ctx);
}

/* ---- rounds and the table ---- */

static int run_openssl(Bench *b, unsigned round) {
        int r;

        if (!b->openssl)
                return 0;
        r = openssl_speed(b, &b->speed_ec[round], &b->speed_rsa[round]);
        if (r < 0)
                fprintf(stderr, "bench-snp-verify: '%s speed -mr -seconds %u ecdsap384 rsa4096' "
                        "failed or printed no verify/s (%s); --no-openssl skips it\n",
                        b->openssl, b->speed_seconds, strerror(-r));
        return r;
}

static int run_ours(Bench *b, unsigned round) {
        int r;

        r = measure(b, op_peer_ec, NULL, &b->inproc_ec[round]);
        if (r >= 0)
                r = measure(b, op_peer_rsa, NULL, &b->inproc_rsa[round]);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: in-process peer failed\n");
                return r;
        }
        for (size_t i = 0; i < b->n_products; i++) {
                Product *p = &b->products[i];

                r = measure(b, op_cached, p, &p->cached_rate[round]);
                if (r >= 0)
                        r = measure(b, op_chain, p, &p->chain_rate[round]);
                if (r >= 0)
                        r = measure(b, op_chain_reuse, p, &p->reuse_rate[round]);
                if (r < 0) {
                        fprintf(stderr, "bench-snp-verify: %s stopped verifying: %s\n",
                                p->report_path, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int run_rounds(Bench *b) {
        int r;

        for (unsigned i = 0; i < b->rounds; i++) {
                /* Alternate who goes first, so a drift in machine load hits both sides alike. */
                if (i % 2 == 0) {
                        r = run_openssl(b, i);
                        if (r >= 0)
                                r = run_ours(b, i);
                } else {
                        r = run_ours(b, i);
                        if (r >= 0)
                                r = run_openssl(b, i);
                }
                if (r < 0)
                        return r;
                fprintf(stderr, "round %u/%u done\n", i + 1, b->rounds);
        }
        return 0;
}

/* goal: the line is one of the two goals (else it is informational). */
static void print_line(const Bench *b, const char *product, const char *mode, const double *ours,
                       bool chain, bool goal) {
        double ratio_speed[ROUNDS_MAX], ratio_inproc[ROUNDS_MAX];
        double floor_speed[ROUNDS_MAX], floor_inproc[ROUNDS_MAX];
        double ratio, ratio_in;
        unsigned n = b->rounds;

        for (unsigned i = 0; i < n; i++) {
                double fi = chain ? chain_floor(b->inproc_ec[i], b->inproc_rsa[i])
                                  : b->inproc_ec[i];

                floor_inproc[i] = fi;
                ratio_inproc[i] = ours[i] / fi;
                if (b->openssl) {
                        floor_speed[i] = chain ? chain_floor(b->speed_ec[i], b->speed_rsa[i])
                                               : b->speed_ec[i];
                        ratio_speed[i] = ours[i] / floor_speed[i];
                }
        }
        ratio_in = median(ratio_inproc, n);
        /* The verdict follows the definition (openssl speed) when it ran. */
        ratio = b->openssl ? median(ratio_speed, n) : ratio_in;
        printf("%-7s %-12s %9.1f %9.1f %7.3f %9.3f   >= %.2f  %s\n", product, mode,
               median(ours, n), median(b->openssl ? floor_speed : floor_inproc, n), ratio, ratio_in,
               GOAL, !goal ? "info" : ratio >= GOAL ? "PASS" : "BELOW");
}

static void print_table(const Bench *b) {
        double ie = median(b->inproc_ec, b->rounds), ir = median(b->inproc_rsa, b->rounds);

        printf("SEV-SNP report verification vs. the issue's floor: medians of %u rounds, "
               "%.2g CPU-s per\nmeasurement, rates in operations per CPU-second; a ratio is the "
               "median of each round's\nours/floor: \"ratio\" against openssl speed (the issue's "
               "definition), \"in-proc\" against\nthe in-process peer.\n",
               b->rounds, b->seconds);
        printf("  cached        parse + verify one report, chain verified once beforehand;\n"
               "                floor = 1 P-384 verify\n"
               "  whole chain   every signature every time: snp_endorsement_verify (ASK by ARK,\n"
               "                VCEK by ASK) + ARK self-signature + parse + verify, with the VCEK\n"
               "                parsed once (as a verifier's VCEK cache holds it);\n"
               "                floor = 1 P-384 + 3 RSA-4096\n"
               "  chain + DER   whole chain plus d2i_X509 of the VCEK each time; informational:\n"
               "                the difference is what OpenSSL 3.0 takes to parse a certificate\n");
        if (b->openssl) {
                double se = median(b->speed_ec, b->rounds), sr = median(b->speed_rsa, b->rounds);

                printf("openssl speed:   P-384 verify %7.1f/s, RSA-4096 verify %8.1f/s; floors "
                       "%7.1f/s, %7.1f/s\n", se, sr, se, chain_floor(se, sr));
        }
        printf("in-process peer: P-384 verify %7.1f/s, RSA-4096 verify %8.1f/s; floors "
               "%7.1f/s, %7.1f/s\n", ie, ir, ie, chain_floor(ie, ir));
        printf("\n%-7s %-12s %9s %9s %7s %9s   %-7s  %s\n", "product", "mode", "ours/s",
               "floor/s", "ratio", "in-proc", "goal", "verdict");
        for (size_t i = 0; i < b->n_products; i++) {
                const Product *p = &b->products[i];
                const char *name = snp_product_to_string(p->cached->product);

                print_line(b, name, "cached", p->cached_rate, false, true);
                print_line(b, name, "whole chain", p->reuse_rate, true, true);
                print_line(b, name, "chain + DER", p->chain_rate, true, false);
        }
        if (!b->openssl)
                printf("(--no-openssl: ratios and verdicts are against the in-process peer)\n");
}

/* ---- main ---- */

static int parse_seconds(const char *s, double *ret) {
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || !end || end == s || *end || !(v >= 0.01 && v <= 600))
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(Bench *b, int argc, char **argv) {
        enum { ARG_REPORT = 0x100, ARG_CERT, ARG_VECTORS, ARG_ROUNDS, ARG_SECONDS,
               ARG_SPEED_SECONDS, ARG_OPENSSL, ARG_NO_OPENSSL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "report", required_argument, NULL, ARG_REPORT },
                { "cert", required_argument, NULL, ARG_CERT },
                { "vectors", required_argument, NULL, ARG_VECTORS },
                { "rounds", required_argument, NULL, ARG_ROUNDS },
                { "seconds", required_argument, NULL, ARG_SECONDS },
                { "speed-seconds", required_argument, NULL, ARG_SPEED_SECONDS },
                { "openssl", required_argument, NULL, ARG_OPENSSL },
                { "no-openssl", no_argument, NULL, ARG_NO_OPENSSL },
                {}
        };
        const char *vectors = BENCH_VECTORS_DIR;
        size_t n_reports = 0, n_certs = 0;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_REPORT:
                case ARG_CERT: {
                        size_t *n = c == ARG_REPORT ? &n_reports : &n_certs;
                        Product *p;

                        if (*n >= PRODUCTS_MAX) {
                                fprintf(stderr, "bench-snp-verify: at most %u reports\n",
                                        PRODUCTS_MAX);
                                return -EINVAL;
                        }
                        p = &b->products[(*n)++];
                        (void) snprintf(c == ARG_REPORT ? p->report_path : p->cert_path,
                                        sizeof(p->report_path), "%s", optarg);
                        break;
                }
                case ARG_VECTORS:
                        vectors = optarg;
                        break;
                case ARG_ROUNDS:
                        if (safe_atou32(optarg, &b->rounds) < 0 || b->rounds < 1 ||
                            b->rounds > ROUNDS_MAX) {
                                fprintf(stderr, "bench-snp-verify: --rounds: 1 to %u\n",
                                        ROUNDS_MAX);
                                return -EINVAL;
                        }
                        break;
                case ARG_SECONDS:
                        if (parse_seconds(optarg, &b->seconds) < 0) {
                                fprintf(stderr, "bench-snp-verify: --seconds: 0.01 to 600\n");
                                return -EINVAL;
                        }
                        break;
                case ARG_SPEED_SECONDS:
                        if (safe_atou32(optarg, &b->speed_seconds) < 0 || b->speed_seconds < 1 ||
                            b->speed_seconds > 600) {
                                fprintf(stderr, "bench-snp-verify: --speed-seconds: 1 to 600\n");
                                return -EINVAL;
                        }
                        break;
                case ARG_OPENSSL:
                        b->openssl = optarg;
                        break;
                case ARG_NO_OPENSSL:
                        b->openssl = NULL;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "bench-snp-verify: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (n_reports != n_certs) {
                fprintf(stderr, "bench-snp-verify: give one --cert per --report\n");
                return -EINVAL;
        }
        b->n_products = n_reports;
        if (b->n_products == 0) {
                for (size_t i = 0; i < ELEMENTSOF(default_vectors); i++) {
                        Product *p = &b->products[i];

                        (void) snprintf(p->report_path, sizeof(p->report_path),
                                        "%s/%s_report.bin", vectors, default_vectors[i]);
                        (void) snprintf(p->cert_path, sizeof(p->cert_path), "%s/%s_vcek.der",
                                        vectors, default_vectors[i]);
                }
                b->n_products = ELEMENTSOF(default_vectors);
        }
        return 0;
}

int main(int argc, char **argv) {
        static Bench b = { .rounds = 5, .seconds = 1.0, .speed_seconds = 1,
                           .openssl = "openssl" };
        int r;

        r = parse_args(&b, argc, argv);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;

        r = snp_trust_new(/* builtin= */ true, &b.trust);
        if (r < 0) {
                fprintf(stderr, "bench-snp-verify: cannot build the trust store: %s\n",
                        strerror(-r));
                return EXIT_FAILURE;
        }
        for (size_t i = 0; i < b.n_products && r >= 0; i++)
                r = product_load(&b, &b.products[i]);
        if (r >= 0) {
                r = peer_setup(&b.peer);
                if (r < 0)
                        fprintf(stderr, "bench-snp-verify: cannot set up the in-process peer\n");
        }
        if (r >= 0)
                r = run_rounds(&b);
        if (r >= 0)
                print_table(&b);

        for (size_t i = 0; i < b.n_products; i++)
                product_done(&b.products[i]);
        peer_done(&b.peer);
        snp_trust_free(b.trust);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
