/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for AMD KDS on 127.0.0.1, for tests. It serves files from a directory laid out like
 * KDS request targets: GET /vcek/v1/Milan/<hwid>?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68 reads
 * DIR/vcek/v1/Milan/<hwid>?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68 (the query as sent, '?' and
 * '&' included); GET /vcek/v1/Milan/crl reads DIR/vcek/v1/Milan/crl. A missing file is a 404.
 * It counts requests per target; GET /stats answers "COUNT TARGET" lines (itself not counted).
 *
 *   fake-kds --dir DIR [--status RULE=CODE[:N]]... [--delay RULE=MS]... [--retry-after SECS]
 *            [--chunked]
 *
 * RULE is a whole target, a path without its query, or "*". --status answers CODE (empty body)
 * instead of the file, for the first N matching requests or always; --retry-after adds that
 * header to a 429 or 503. --delay waits before answering. --chunked sends bodies without a
 * Content-Length. Prints the port it listens on to stdout, then runs until SIGTERM or SIGINT.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "common/macro.h"

#define MAX_RULES 32
#define MAX_TARGETS 256
#define MAX_FILE (4u * 1024u * 1024u)

typedef struct Rule {
        const char *target;
        unsigned code, ms;
        long left; /* -1: always */
} Rule;

typedef struct Count {
        char *target;
        unsigned n;
} Count;

static const char *arg_dir;
static Rule status_rules[MAX_RULES], delay_rules[MAX_RULES];
static size_t n_status, n_delay;
static unsigned arg_retry_after;
static bool arg_chunked;
static Count counts[MAX_TARGETS];
static size_t n_counts;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct Target {
        char buf[2048];
        size_t len;
        bool overflow;
} Target;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
        Target *t = cls;
        int n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "%c%s%s%s",
                         strchr(t->buf, '?') ? '&' : '?', key, value ? "=" : "",
                         value ?: "");

        if (n < 0 || (size_t) n >= sizeof(t->buf) - t->len) {
                t->overflow = true;
                return MHD_NO;
        }
        t->len += (size_t) n;
        return MHD_YES;
}

static bool rule_matches(const char *rule, const char *target, const char *path) {
        return streq(rule, "*") || streq(rule, target) || streq(rule, path);
}

static void count(const char *target) {
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_counts; i++)
                if (streq(counts[i].target, target)) {
                        counts[i].n++;
                        goto done;
                }
        if (n_counts < MAX_TARGETS) {
                counts[n_counts].target = strdup(target);
                if (counts[n_counts].target)
                        counts[n_counts++].n = 1;
        }
done:
        pthread_mutex_unlock(&lock);
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const void *body,
                               size_t size, const char *ctype, bool retry_after) {
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char ra[16];

        resp = MHD_create_response_from_buffer(size, (void *) body, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return MHD_NO;
        if (ctype)
                (void) MHD_add_response_header(resp, "Content-Type", ctype);
        if (retry_after && arg_retry_after > 0) {
                (void) snprintf(ra, sizeof(ra), "%u", arg_retry_after);
                (void) MHD_add_response_header(resp, "Retry-After", ra);
        }
        ret = MHD_queue_response(c, code, resp);
        MHD_destroy_response(resp);
        return ret;
}

typedef struct Chunked {
        uint8_t *data;
        size_t size;
} Chunked;

/* Hands out the body in small pieces, so that no Content-Length is sent. */
static ssize_t chunk_reader(void *cls, uint64_t pos, char *buf, size_t max) {
        Chunked *ch = cls;
        size_t n;

        if (pos >= ch->size)
                return MHD_CONTENT_READER_END_OF_STREAM;
        n = MIN(MIN(max, (size_t) 1024), ch->size - (size_t) pos);
        memcpy(buf, ch->data + pos, n);
        return (ssize_t) n;
}

static void chunk_free(void *cls) {
        Chunked *ch = cls;

        free(ch->data);
        free(ch);
}

static enum MHD_Result respond_file(struct MHD_Connection *c, uint8_t *data, size_t size) {
        struct MHD_Response *resp;
        enum MHD_Result ret;
        Chunked *ch;

        if (!arg_chunked) {
                resp = MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE);
                if (!resp) {
                        free(data);
                        return MHD_NO;
                }
        } else {
                ch = malloc(sizeof(*ch));
                if (!ch) {
                        free(data);
                        return MHD_NO;
                }
                *ch = (Chunked) { data, size };
                resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, chunk_reader, ch,
                                                         chunk_free);
                if (!resp) {
                        chunk_free(ch);
                        return MHD_NO;
                }
        }
        (void) MHD_add_response_header(resp, "Content-Type", "application/pkix-cert");
        ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t *buf;
        struct stat st;
        size_t have = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if ((uint64_t) st.st_size > MAX_FILE)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (have < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + have, (size_t) st.st_size - have);
                if (n <= 0) {
                        free(buf);
                        return n < 0 ? -errno : -EIO;
                }
                have += (size_t) n;
        }
        *ret = buf;
        *ret_size = have;
        return 0;
}

static enum MHD_Result stats(struct MHD_Connection *c) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        enum MHD_Result ret;

        if (!f)
                return MHD_NO;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_counts; i++)
                fprintf(f, "%u %s\n", counts[i].n, counts[i].target);
        pthread_mutex_unlock(&lock);
        if (fclose(f) != 0) {
                free(text);
                return MHD_NO;
        }
        ret = respond(c, MHD_HTTP_OK, text, size, "text/plain", false);
        free(text);
        return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls) {
        static int first;
        char path[PATH_MAX];
        uint8_t *data = NULL;
        size_t size = 0;
        Target t = {};
        unsigned ms = 0, code = 0;
        int n;

        if (!*con_cls) {
                *con_cls = &first;
                return MHD_YES;
        }
        if (!streq(method, "GET"))
                return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "", 0, NULL, false);
        if (streq(url, "/stats"))
                return stats(c);

        n = snprintf(t.buf, sizeof(t.buf), "%s", url);
        if (n < 0 || (size_t) n >= sizeof(t.buf))
                return respond(c, MHD_HTTP_URI_TOO_LONG, "", 0, NULL, false);
        t.len = (size_t) n;
        (void) MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &t);
        if (t.overflow)
                return respond(c, MHD_HTTP_URI_TOO_LONG, "", 0, NULL, false);
        count(t.buf);

        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_delay; i++)
                if (rule_matches(delay_rules[i].target, t.buf, url)) {
                        ms = delay_rules[i].ms;
                        break;
                }
        for (size_t i = 0; i < n_status; i++) {
                Rule *r = &status_rules[i];

                if (!rule_matches(r->target, t.buf, url) || r->left == 0)
                        continue;
                if (r->left > 0)
                        r->left--;
                code = r->code;
                break;
        }
        pthread_mutex_unlock(&lock);
        if (ms > 0)
                (void) usleep(ms * 1000u);
        if (code)
                return respond(c, code, "", 0, NULL, code == 429 || code == 503);

        if (url[0] != '/' || strstr(t.buf, "/../") || strstr(t.buf, "/..?") ||
            snprintf(path, sizeof(path), "%s%s", arg_dir, t.buf) >= (int) sizeof(path))
                return respond(c, MHD_HTTP_NOT_FOUND, "", 0, NULL, false);
        if (read_file(path, &data, &size) < 0)
                return respond(c, MHD_HTTP_NOT_FOUND, "", 0, NULL, false);
        return respond_file(c, data, size);
}

/* "RULE=VALUE[:N]" into r (RULE points into arg). */
static int parse_rule(char *arg, bool with_count, Rule *r) {
        char *eq = strrchr(arg, '='), *colon, *end;
        unsigned long v;

        if (!eq || eq == arg)
                return -EINVAL;
        *eq = '\0';
        r->target = arg;
        r->left = -1;
        colon = with_count ? strchr(eq + 1, ':') : NULL;
        if (colon) {
                *colon = '\0';
                errno = 0;
                v = strtoul(colon + 1, &end, 10);
                if (errno || *end || end == colon + 1 || v > 1000000)
                        return -EINVAL;
                r->left = (long) v;
        }
        errno = 0;
        v = strtoul(eq + 1, &end, 10);
        if (errno || *end || end == eq + 1 || v > 600000)
                return -EINVAL;
        if (with_count)
                r->code = (unsigned) v;
        else
                r->ms = (unsigned) v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "dir", required_argument, NULL, 'd' },
                { "status", required_argument, NULL, 's' },
                { "delay", required_argument, NULL, 'w' },
                { "retry-after", required_argument, NULL, 'r' },
                { "chunked", no_argument, NULL, 'c' },
                {}
        };
        struct sockaddr_in addr = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        const union MHD_DaemonInfo *info;
        struct MHD_Daemon *mhd;
        sigset_t ss;
        int c, sig;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        arg_dir = optarg;
                        break;
                case 's':
                case 'w': {
                        Rule *r = c == 's' ? &status_rules[n_status] : &delay_rules[n_delay];

                        if ((c == 's' ? n_status : n_delay) >= MAX_RULES ||
                            parse_rule(optarg, c == 's', r) < 0) {
                                fprintf(stderr, "fake-kds: bad --%s '%s'\n",
                                        c == 's' ? "status" : "delay", optarg);
                                return 2;
                        }
                        if (c == 's')
                                n_status++;
                        else
                                n_delay++;
                        break;
                }
                case 'r': {
                        char *end;
                        errno = 0;
                        arg_retry_after = (unsigned) strtoul(optarg, &end, 10);
                        if (errno || *end) {
                                fprintf(stderr, "fake-kds: bad --retry-after\n");
                                return 2;
                        }
                        break;
                }
                case 'c':
                        arg_chunked = true;
                        break;
                default:
                        return 2;
                }
        if (!arg_dir || optind != argc) {
                fprintf(stderr, "usage: fake-kds --dir DIR [--status RULE=CODE[:N]] "
                        "[--delay RULE=MS] [--retry-after SECS] [--chunked]\n");
                return 2;
        }

        /* Signals are taken by sigwait below; the daemon's threads inherit the mask. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &ss, NULL);

        mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                               MHD_USE_ERROR_LOG,
                               0, NULL, NULL, handler, NULL,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                               MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                               MHD_OPTION_END);
        if (!mhd) {
                fprintf(stderr, "fake-kds: cannot listen on 127.0.0.1\n");
                return 1;
        }
        info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
        if (!info || info->port == 0) {
                fprintf(stderr, "fake-kds: no port\n");
                return 1;
        }
        printf("%u\n", (unsigned) info->port);
        fflush(stdout);

        do
                if (sigwait(&ss, &sig) != 0)
                        return 1;
        while (sig == SIGPIPE);
        /* Not MHD_stop_daemon: it would wait for requests held in a --delay. */
        _exit(0);
}
