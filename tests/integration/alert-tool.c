/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alert-tool: one monitor cycle of alerts (agent/alert.h) from the command line, for
 * tests/integration/alerts.sh. Each run is a fresh process, as a restarted monitor is: the open
 * conditions come from the state directory.
 *
 *   alert-tool [OPTIONS] [--cond KEY --message TEXT [--field NAME=VALUE]...]...
 *   alert-tool --ids        the kinds with their MESSAGE_IDs and priorities, one per line
 *
 * Options: --state-dir DIR, --stderr (never the journal), --host NAME, --webhook URL,
 * --ca-file FILE, --timeout-ms N, --retry-ms N, --retry-max-ms N, --attempts N, --queue N,
 * --exec PATH, --exec-timeout-ms N, --evaluated KIND[,KIND...]|all|none (default all),
 * --now SECONDS (default 1796000000), --flush-ms N (how long to wait for the hooks, default
 * 10000). Prints "sent N" and, per configured hook, "webhook|exec queued=... delivered=...
 * failed=... dropped=... retries=... pending=... error=..." on stdout. Exit 0, 1 on an error
 * of alerter_update (its Diag on stderr), 2 usage, 3 when the flush timed out.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/alert.h"
#include "common/diag.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/strutil.h"

#define CONDS_MAX 16

typedef struct Cond {
        const char *key, *message;
        const char *fields[ALERT_FIELDS_MAX + 1];
        size_t n_fields;
} Cond;

static int parse_u32(const char *s, const char *what, uint32_t *ret) {
        if (safe_atou32(s, ret) < 0) {
                fprintf(stderr, "alert-tool: %s: not a number: %s\n", what, s);
                return -EINVAL;
        }
        return 0;
}

static int parse_kinds(const char *s, uint32_t *ret) {
        _cleanup_(freep) char *copy = strdup(s);
        uint32_t m = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        if (streq(s, "all")) {
                *ret = ALERT_KINDS_ALL;
                return 0;
        }
        if (streq(s, "none")) {
                *ret = 0;
                return 0;
        }
        for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
                AlertKind kind = alert_kind_from_string(k);

                if (kind < 0) {
                        fprintf(stderr, "alert-tool: unknown kind %s\n", k);
                        return -EINVAL;
                }
                m |= ALERT_KIND_BIT(kind);
        }
        *ret = m;
        return 0;
}

static void print_stats(const char *name, const AlertDeliveryStats *s) {
        printf("%s queued=%" PRIu64 " delivered=%" PRIu64 " failed=%" PRIu64 " dropped=%" PRIu64
               " retries=%" PRIu64 " pending=%zu error=%s\n",
               name, s->queued, s->delivered, s->failed, s->dropped, s->retries, s->pending,
               s->last_error[0] ? s->last_error : "-");
}

int main(int argc, char **argv) {
        enum {
                ARG_STATE_DIR = 0x100,
                ARG_STDERR,
                ARG_HOST,
                ARG_WEBHOOK,
                ARG_CA_FILE,
                ARG_TIMEOUT_MS,
                ARG_RETRY_MS,
                ARG_RETRY_MAX_MS,
                ARG_ATTEMPTS,
                ARG_QUEUE,
                ARG_EXEC,
                ARG_EXEC_TIMEOUT_MS,
                ARG_EVALUATED,
                ARG_NOW,
                ARG_FLUSH_MS,
                ARG_COND,
                ARG_MESSAGE,
                ARG_FIELD,
                ARG_IDS,
        };
        static const struct option options[] = {
                {"state-dir", required_argument, NULL, ARG_STATE_DIR},
                {"stderr", no_argument, NULL, ARG_STDERR},
                {"host", required_argument, NULL, ARG_HOST},
                {"webhook", required_argument, NULL, ARG_WEBHOOK},
                {"ca-file", required_argument, NULL, ARG_CA_FILE},
                {"timeout-ms", required_argument, NULL, ARG_TIMEOUT_MS},
                {"retry-ms", required_argument, NULL, ARG_RETRY_MS},
                {"retry-max-ms", required_argument, NULL, ARG_RETRY_MAX_MS},
                {"attempts", required_argument, NULL, ARG_ATTEMPTS},
                {"queue", required_argument, NULL, ARG_QUEUE},
                {"exec", required_argument, NULL, ARG_EXEC},
                {"exec-timeout-ms", required_argument, NULL, ARG_EXEC_TIMEOUT_MS},
                {"evaluated", required_argument, NULL, ARG_EVALUATED},
                {"now", required_argument, NULL, ARG_NOW},
                {"flush-ms", required_argument, NULL, ARG_FLUSH_MS},
                {"cond", required_argument, NULL, ARG_COND},
                {"message", required_argument, NULL, ARG_MESSAGE},
                {"field", required_argument, NULL, ARG_FIELD},
                {"ids", no_argument, NULL, ARG_IDS},
                {},
        };
        _cleanup_(alerter_freep) Alerter *a = NULL;
        AlertCondition conds[CONDS_MAX];
        AlertOptions o = {};
        Cond c[CONDS_MAX] = {};
        size_t n = 0, sent = 0;
        uint32_t evaluated = ALERT_KINDS_ALL, v, flush_ms = 10000;
        uint64_t now = 1796000000;
        Diag d = {};
        int opt, r;

        log_setup("alert-tool");
        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (opt) {
                case ARG_STATE_DIR:
                        o.state_dir = optarg;
                        break;
                case ARG_STDERR:
                        o.stderr_only = true;
                        break;
                case ARG_HOST:
                        o.host = optarg;
                        break;
                case ARG_WEBHOOK:
                        o.webhook = optarg;
                        break;
                case ARG_CA_FILE:
                        o.ca_file = optarg;
                        break;
                case ARG_TIMEOUT_MS:
                        if (parse_u32(optarg, "--timeout-ms", &o.webhook_timeout_ms) < 0)
                                return 2;
                        break;
                case ARG_RETRY_MS:
                        if (parse_u32(optarg, "--retry-ms", &o.retry_initial_ms) < 0)
                                return 2;
                        break;
                case ARG_RETRY_MAX_MS:
                        if (parse_u32(optarg, "--retry-max-ms", &o.retry_max_ms) < 0)
                                return 2;
                        break;
                case ARG_ATTEMPTS:
                        if (parse_u32(optarg, "--attempts", &o.attempts_max) < 0)
                                return 2;
                        break;
                case ARG_QUEUE:
                        if (parse_u32(optarg, "--queue", &v) < 0)
                                return 2;
                        o.queue_max = v;
                        break;
                case ARG_EXEC:
                        o.exec = optarg;
                        break;
                case ARG_EXEC_TIMEOUT_MS:
                        if (parse_u32(optarg, "--exec-timeout-ms", &o.exec_timeout_ms) < 0)
                                return 2;
                        break;
                case ARG_EVALUATED:
                        if (parse_kinds(optarg, &evaluated) < 0)
                                return 2;
                        break;
                case ARG_NOW:
                        if (safe_atou64(optarg, &now) < 0 || now > INT64_MAX)
                                return 2;
                        break;
                case ARG_FLUSH_MS:
                        if (parse_u32(optarg, "--flush-ms", &flush_ms) < 0)
                                return 2;
                        break;
                case ARG_COND:
                        if (n >= CONDS_MAX)
                                return 2;
                        c[n++].key = optarg;
                        break;
                case ARG_MESSAGE:
                        if (n == 0)
                                return 2;
                        c[n - 1].message = optarg;
                        break;
                case ARG_FIELD:
                        if (n == 0 || c[n - 1].n_fields >= ALERT_FIELDS_MAX)
                                return 2;
                        c[n - 1].fields[c[n - 1].n_fields++] = optarg;
                        break;
                case ARG_IDS:
                        for (int k = 0; k < _ALERT_KIND_MAX; k++)
                                printf("%s %s %d %s %d\n", alert_kind_to_string(k),
                                       alert_message_id(k, false), alert_priority(k, false),
                                       alert_message_id(k, true), alert_priority(k, true));
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind < argc)
                return 2;
        for (size_t i = 0; i < n; i++)
                conds[i] = (AlertCondition){
                        .key = c[i].key, .message = c[i].message, .fields = c[i].fields};

        r = alerter_new(&o, &a, &d);
        if (r < 0) {
                fprintf(stderr, "alert-tool: %s\n", diag_text(&d, strerror(-r)));
                return 1;
        }
        r = alerter_update(a, evaluated, conds, n, (int64_t) now, &sent, &d);
        printf("sent %zu\n", sent);
        if (r < 0)
                fprintf(stderr, "alert-tool: %s\n", diag_text(&d, strerror(-r)));
        if (alerter_flush(a, 1000u * (uint64_t) flush_ms) < 0) {
                AlertDeliveryStats w, e;

                alerter_stats(a, &w, &e);
                if (o.webhook)
                        print_stats("webhook", &w);
                if (o.exec)
                        print_stats("exec", &e);
                return 3;
        }
        {
                AlertDeliveryStats w, e;

                alerter_stats(a, &w, &e);
                if (o.webhook)
                        print_stats("webhook", &w);
                if (o.exec)
                        print_stats("exec", &e);
        }
        return r < 0 ? 1 : 0;
}
