/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the agent's configuration (agent/agent-conf.c over common/conf.c) and the
 * verifier health document the monitor keeps between cycles (agent/failover.c), which another
 * process could have written. What parses must satisfy the documented invariants; the health
 * document must round-trip, and drive the failover core without breaking its rules.
 */
#include <string.h>

#include "agent/agent-conf.h"
#include "agent/failover.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "tests/fuzz/fuzz.h"

static void check_config(const AgentConfig *c) {
        _cleanup_(agent_urls_freep) char **urls = NULL;
        size_t n;

        if (c->n_urls > AGENT_CONF_URLS_MAX || c->pcr_mask == 0 || !c->tcti || !c->eventlog ||
            c->snp_source < 0 || c->snp_source >= _AGENT_SNP_SOURCE_MAX ||
            c->timeout_usec < 100000 || c->interval_usec < 1000000)
                abort();
        for (size_t i = 0; i < c->n_urls; i++)
                if (strncmp(c->urls[i], "http://", 7) != 0 &&
                    strncmp(c->urls[i], "https://", 8) != 0)
                        abort();
        if (c->tenant && c->tenant[0] != '/')
                abort();
        if (agent_config_check(c, NULL) < 0)
                return;
        if (agent_config_verifier_urls(c, &urls, &n) < 0 || n != c->n_urls || urls[n])
                abort();
        for (size_t i = 0; i < n; i++)
                if (strlen(urls[i]) > AGENT_CONF_URL_MAX)
                        abort();
}

static void fuzz_config(const uint8_t *data, size_t size) {
        AgentConfig c;
        Diag d = {};
        int r;

        if (agent_config_init(&c) < 0)
                abort();
        /* As a main file, then again as its drop-in: layering's resets and appends. */
        for (int pass = 0; pass < 2; pass++) {
                memset(&d, 0, sizeof(d));
                r = agent_config_parse((const char *) data, size, "fuzz.conf", &c, &d);
                if (r < 0) {
                        if (r != -ENOMEM && !d.text[0])
                                abort();
                        break;
                }
                check_config(&c);
        }
        agent_config_done(&c);
}

static void fuzz_health(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        Failover f, g, h;
        FailoverRun run = { .deadline_usec = 90000000, .timeout_usec = 10000000,
                            .backoff_usec = 1000000, .backoff_max_usec = 30000000 };
        size_t order[FAILOVER_ENDPOINTS_MAX];
        const char *text;
        Diag d = {};
        int r;

        r = failover_from_json((const char *) data, size, &f, &d);
        if (r < 0) {
                if (r != -ENOMEM && !d.text[0])
                        abort();
                return;
        }
        if (f.n > FAILOVER_ENDPOINTS_MAX)
                abort();
        /* The round trip gives the same health. */
        if (failover_to_json(&f, &o) < 0)
                abort();
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (!text || failover_from_json(text, strlen(text), &g, NULL) < 0 || g.n != f.n)
                abort();
        for (size_t i = 0; i < f.n; i++)
                if (memcmp(&f.endpoints[i], &g.endpoints[i], sizeof(f.endpoints[i])) != 0)
                        abort();

        /* The order is a permutation, healthy ones first in list order. */
        for (uint64_t now = 0; now < 4; now++) {
                uint64_t t = now * UINT64_C(1) << (now * 16);
                bool seen[FAILOVER_ENDPOINTS_MAX] = {}, cooling = false;
                size_t n = failover_order(&f, t, order), prev = 0;

                if (n != f.n)
                        abort();
                for (size_t i = 0; i < n; i++) {
                        bool c;

                        if (order[i] >= n || seen[order[i]])
                                abort();
                        c = failover_endpoint_cooling(&f.endpoints[order[i]], t);
                        /* Healthy ones in list order, then cooling ones by their end. */
                        if (i > 0 && ((cooling && !c) || (!c && order[i] < prev) ||
                                      (c && cooling && f.endpoints[order[i]].cool_until_usec <
                                                               f.endpoints[prev].cool_until_usec)))
                                abort();
                        seen[order[i]] = true;
                        cooling = c;
                        prev = order[i];
                }
        }

        /* Restoring into the same endpoints keeps the health, cool-downs cut. */
        h = f;
        for (size_t i = 0; i < h.n; i++)
                h.endpoints[i].failures = 0;
        failover_restore(&h, &f, 1000, 60);
        for (size_t i = 0; i < h.n; i++)
                if (h.endpoints[i].cool_until_usec > 1060 ||
                    h.endpoints[i].failures != f.endpoints[i].failures)
                        abort();

        /* A run where everything fails stays within its deadline and ends. */
        for (uint64_t now = 0, steps = 0;; steps++) {
                FailoverStep s = failover_run_next(&run, &h, now, now * 2654435761u);

                if (steps > 10000)
                        abort();
                if (s.action == FAILOVER_GIVE_UP)
                        break;
                if (s.action == FAILOVER_WAIT) {
                        now += s.wait_usec;
                        continue;
                }
                if (s.endpoint >= h.n || s.timeout_usec == 0 || now + s.timeout_usec > 90000000)
                        abort();
                now += s.timeout_usec;
                if (failover_record(&h, s.endpoint, FAILOVER_FAILURE, now, 5000000, "down") < 0)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_config(data, size);
        fuzz_health(data, size);
        return 0;
}
