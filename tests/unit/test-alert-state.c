/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of alerts and of the state directory (agent/alert-doc.c, agent/state-doc.c):
 * kinds and keys, an alert's JSON and stderr line, deduplication across cycles (raise once,
 * stay quiet, supersede, recover once, kinds not judged left alone), and the strict readers of
 * alerts.json and status.json.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <json-c/json.h>

#include "agent/alert.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "tests/unit/test-util.h"

#define T0 1796000000 /* 2026-11-30T00:53:20Z */

static void test_kinds(void **state) {
        const char *ids[2 * _ALERT_KIND_MAX];

        for (int k = 0; k < _ALERT_KIND_MAX; k++) {
                assert_int_equal(alert_kind_from_string(alert_kind_to_string(k)), k);
                ids[2 * k] = alert_message_id(k, false);
                ids[2 * k + 1] = alert_message_id(k, true);
                assert_int_equal(alert_priority(k, true), LOG_NOTICE);
                assert_true(alert_priority(k, false) < LOG_NOTICE);
        }
        /* 8 distinct ids of 32 lower-case hex digits */
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                assert_int_equal(strlen(ids[i]), 32);
                assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(ids[i], ids[j]);
        }
        assert_string_equal(alert_kind_to_string(ALERT_TPM_UNAVAILABLE), "tpm-unavailable");
        assert_int_equal(alert_priority(ALERT_DRIFT, false), LOG_CRIT);
        assert_null(alert_kind_to_string(_ALERT_KIND_MAX));
        assert_null(alert_message_id(-1, false));
        assert_int_equal(alert_kind_from_string("Drift"), -EINVAL);

        assert_int_equal(alert_key_kind("drift:pcr7:0123abcd"), ALERT_DRIFT);
        assert_int_equal(alert_key_kind("denied"), ALERT_DENIED);
        assert_int_equal(alert_key_kind("unreachable"), ALERT_UNREACHABLE);
        assert_int_equal(alert_key_kind("tpm-unavailable:x"), ALERT_TPM_UNAVAILABLE);
        assert_int_equal(alert_key_kind("drifts:x"), -EINVAL);
        assert_int_equal(alert_key_kind("drift:"), -EINVAL);
        assert_int_equal(alert_key_kind(":drift"), -EINVAL);
        assert_int_equal(alert_key_kind("drift::x"), -EINVAL);
        assert_int_equal(alert_key_kind("drift:PCR7"), -EINVAL);
        assert_int_equal(alert_key_kind("drift:pcr 7"), -EINVAL);
        assert_int_equal(alert_key_kind(""), -EINVAL);
        assert_int_equal(alert_key_kind(NULL), -EINVAL);
        {
                char k[ALERT_KEY_MAX + 2];

                memset(k, 'a', sizeof(k));
                memcpy(k, "drift:", 6);
                k[ALERT_KEY_MAX] = '\0';
                assert_int_equal(alert_key_kind(k), ALERT_DRIFT);
                k[ALERT_KEY_MAX] = 'a';
                k[ALERT_KEY_MAX + 1] = '\0';
                assert_int_equal(alert_key_kind(k), -EINVAL);
        }
        assert_true(alert_field_name_valid("CVM_AGENT_PCRS"));
        assert_true(alert_field_name_valid("CVM_AGENT_VERIFIER_2"));
        assert_false(alert_field_name_valid("CVM_AGENT_"));
        assert_false(alert_field_name_valid("CVM_AGENT_ALERT_KEY"));
        assert_false(alert_field_name_valid("MESSAGE"));
        assert_false(alert_field_name_valid("CVM_AGENT_pcrs"));
}

static void test_alert_json_and_line(void **state) {
        static const char *const fields[] = {"CVM_AGENT_PCRS=7", "CVM_AGENT_VERIFIER=https://v",
                                             NULL};
        static const char *const bad[] = {"CVM_AGENT_PCRS", NULL};
        static const char *const reserved[] = {"CVM_AGENT_ALERT_KIND=x", NULL};
        _cleanup_(alert_freep) Alert *a = NULL, *b = NULL, *x = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(freep) char *line = NULL;
        json_object *v;

        assert_int_equal(alert_new("drift:pcr7:00ff", false,
                                   "PCR 7: db changed: certificate CN=A added\nPCR 7: \tx", T0, T0,
                                   fields, &a),
                         0);
        assert_int_equal(a->kind, ALERT_DRIFT);
        assert_int_equal(strlen(a->id), 32);
        assert_int_equal(alert_to_json(a, "vm1", &o), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(o, "kind")), "drift");
        assert_false(json_object_get_boolean(json_object_object_get(o, "recovery")));
        assert_string_equal(json_object_get_string(json_object_object_get(o, "message_id")),
                            "a9cb47a5d10a49d784ad476d8835133f");
        assert_int_equal(json_object_get_int(json_object_object_get(o, "priority")), LOG_CRIT);
        assert_string_equal(json_object_get_string(json_object_object_get(o, "key")),
                            "drift:pcr7:00ff");
        assert_string_equal(json_object_get_string(json_object_object_get(o, "time")),
                            "2026-11-30T00:53:20Z");
        assert_string_equal(json_object_get_string(json_object_object_get(o, "host")), "vm1");
        assert_false(json_object_object_get_ex(o, "supersedes", NULL));
        assert_true(json_object_object_get_ex(o, "fields", &v));
        assert_string_equal(json_object_get_string(json_object_object_get(v, "CVM_AGENT_PCRS")),
                            "7");
        assert_string_equal(json_object_get_string(json_object_object_get(v, "CVM_AGENT_VERIFIER")),
                            "https://v");

        assert_int_equal(alert_to_line(a, &line), 0);
        assert_string_equal(line, "ALERT drift key=drift:pcr7:00ff: PCR 7: db changed: certificate "
                                  "CN=A added | PCR 7:  x [CVM_AGENT_PCRS=7 "
                                  "CVM_AGENT_VERIFIER=https://v]");

        /* the id differs for a recovery, and for another time */
        assert_int_equal(alert_new("drift:pcr7:00ff", true, "m", T0, T0, NULL, &b), 0);
        assert_string_not_equal(a->id, b->id);
        alert_free(TAKE_PTR(b));
        assert_int_equal(alert_new("drift:pcr7:00ff", false, "m", T0 + 1, T0, NULL, &b), 0);
        assert_string_not_equal(a->id, b->id);

        assert_int_equal(alert_new("drift:pcr7:00ff", false, "", T0, T0, NULL, &x), -EINVAL);
        assert_int_equal(alert_new("nope", false, "m", T0, T0, NULL, &x), -EINVAL);
        assert_int_equal(alert_new("denied", false, "m", T0, T0, bad, &x), -EINVAL);
        assert_int_equal(alert_new("denied", false, "m", T0, T0, reserved, &x), -EINVAL);
        assert_null(x);
}

static void test_line_capped(void **state) {
        _cleanup_(alert_freep) Alert *a = NULL;
        _cleanup_(freep) char *line = NULL, *msg = malloc(ALERT_MESSAGE_MAX + 1);

        assert_non_null(msg);
        memset(msg, 'x', ALERT_MESSAGE_MAX);
        msg[ALERT_MESSAGE_MAX] = '\0';
        assert_int_equal(alert_new("denied:1", false, msg, T0, T0, NULL, &a), 0);
        assert_int_equal(alert_to_line(a, &line), 0);
        assert_int_equal(strlen(line), 1900);
        assert_true(endswith(line, "xxx..."));
        alert_free(TAKE_PTR(a));
        msg = realloc(msg, ALERT_MESSAGE_MAX + 2);
        assert_non_null(msg);
        memset(msg, 'x', ALERT_MESSAGE_MAX + 1);
        msg[ALERT_MESSAGE_MAX + 1] = '\0';
        assert_int_equal(alert_new("denied:1", false, msg, T0, T0, NULL, &a), -EINVAL);
}

/* One cycle; returns the alerts as "ALERT key" / "RECOVERED key (supersedes)" lines joined by
 * ';' for easy comparison. */
static char *cycle(AlertSet *s, uint32_t evaluated, const AlertCondition *c, size_t n,
                   int64_t now) {
        Alert **alerts = NULL;
        size_t n_alerts = 0;
        char buf[2048] = "";

        assert_int_equal(alert_set_update(s, evaluated, c, n, now, &alerts, &n_alerts), 0);
        for (size_t i = 0; i < n_alerts; i++) {
                size_t l = strlen(buf);

                (void) snprintf(buf + l, sizeof(buf) - l, "%s%s %s%s%s%s", i ? ";" : "",
                                alerts[i]->recovery ? "RECOVERED" : "ALERT", alerts[i]->key,
                                alerts[i]->supersedes[0] ? " (supersedes " : "",
                                alerts[i]->supersedes, alerts[i]->supersedes[0] ? ")" : "");
                assert_int_equal(alerts[i]->time, now);
                alert_free(alerts[i]);
        }
        free(alerts);
        return strdup(buf);
}

#define CYCLE(s, ev, c, n, now, want)                 \
        do {                                          \
                char *_got = cycle(s, ev, c, n, now); \
                assert_string_equal(_got, want);      \
                free(_got);                           \
        } while (0)

static void test_dedup(void **state) {
        static const char *const pcr7[] = {"CVM_AGENT_PCRS=7", NULL};
        _cleanup_(alert_set_done) AlertSet s = {};
        AlertCondition drift_a = {"drift:pcr7:aaaa", "PCR 7: db changed", pcr7};
        AlertCondition drift_b = {"drift:pcr7:bbbb", "PCR 7: dbx changed", pcr7};
        AlertCondition drift4 = {"drift:pcr4:cccc", "PCR 4: extended outside the event log", NULL};
        AlertCondition down = {"unreachable", "no verifier reachable since 2026-11-30T00:50:00Z",
                               NULL};
        AlertCondition denied = {"denied:0001",
                                 "verifier denied: x-ms-sevsnpvm-is-debuggable is "
                                 "true",
                                 NULL};
        AlertCondition c[3];

        /* first cycle: both raise once */
        c[0] = drift_a;
        c[1] = down;
        CYCLE(&s, ALERT_KINDS_ALL, c, 2, T0, "ALERT drift:pcr7:aaaa;ALERT unreachable");
        assert_int_equal(s.n, 2);
        /* the same again: nothing */
        CYCLE(&s, ALERT_KINDS_ALL, c, 2, T0 + 60, "");
        assert_int_equal(s.items[0].since, T0);
        /* the verifier was not judged this time (no attestation was made): unreachable stays
         * open although it is not in the list, and drift was judged */
        CYCLE(&s, ALERT_KIND_BIT(ALERT_DRIFT), c, 1, T0 + 120, "");
        assert_non_null(alert_set_find_scope(&s, "unreachable"));
        /* a verifier answered and denied: unreachable recovers, denied raises */
        c[1] = denied;
        CYCLE(&s, ALERT_KINDS_ALL, c, 2, T0 + 180, "RECOVERED unreachable;ALERT denied:0001");
        /* PCR 7 moved again: one alert superseding the old condition, no recovery; PCR 4 too */
        c[0] = drift_b;
        c[2] = drift4;
        CYCLE(&s, ALERT_KINDS_ALL, c, 3, T0 + 240,
              "ALERT drift:pcr7:bbbb (supersedes drift:pcr7:aaaa);ALERT drift:pcr4:cccc");
        assert_int_equal(s.n, 3);
        assert_string_equal(alert_set_find_scope(&s, "drift:pcr7:x")->key, "drift:pcr7:bbbb");
        assert_string_equal(alert_set_find_scope(&s, "drift:pcr7:x")->message,
                            "PCR 7: dbx changed");
        assert_int_equal(alert_set_find_scope(&s, "drift:pcr7:x")->since, T0 + 240);
        /* everything clears: one recovery each, opened-order */
        CYCLE(&s, ALERT_KINDS_ALL, NULL, 0, T0 + 300,
              "RECOVERED denied:0001;RECOVERED drift:pcr7:bbbb;RECOVERED drift:pcr4:cccc");
        assert_int_equal(s.n, 0);
        CYCLE(&s, ALERT_KINDS_ALL, NULL, 0, T0 + 360, "");
}

static void test_recovery_message(void **state) {
        _cleanup_(alert_set_done) AlertSet s = {};
        AlertCondition c = {"unreachable",
                            "no verifier reachable since 2026-11-30T00:50:00Z\n"
                            "https://a: connection refused",
                            NULL};
        Alert **alerts = NULL;
        size_t n = 0;

        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, &c, 1, T0, &alerts, &n), 0);
        assert_int_equal(n, 1);
        alert_free(alerts[0]);
        free(alerts);
        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, NULL, 0, T0 + 90, &alerts, &n), 0);
        assert_int_equal(n, 1);
        assert_true(alerts[0]->recovery);
        assert_int_equal(alerts[0]->since, T0);
        assert_string_equal(alerts[0]->message, "a verifier is reachable again (was: no verifier "
                                                "reachable since 2026-11-30T00:50:00Z)");
        assert_string_equal(alert_message_id(alerts[0]->kind, true),
                            "929e3425eb8548a9b46e58593b09ed5e");
        alert_free(alerts[0]);
        free(alerts);
}

static void test_update_refuses(void **state) {
        _cleanup_(alert_set_done) AlertSet s = {};
        static const char *const bad_field[] = {"PCRS=7", NULL};
        AlertCondition two[2] = {{"drift:pcr7:a", "m", NULL}, {"drift:pcr7:b", "m", NULL}};
        AlertCondition ok = {"denied:1", "m", NULL};
        AlertCondition bad_key = {"drift:Pcr7", "m", NULL};
        AlertCondition empty = {"denied:1", "", NULL};
        AlertCondition field = {"denied:1", "m", bad_field};
        Alert **alerts = (Alert **) 1;
        size_t n = 7;

        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, two, 2, T0, &alerts, &n), -EINVAL);
        assert_int_equal(alert_set_update(&s, ALERT_KIND_BIT(ALERT_DRIFT), &ok, 1, T0, &alerts, &n),
                         -EINVAL);
        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, &bad_key, 1, T0, &alerts, &n),
                         -EINVAL);
        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, &empty, 1, T0, &alerts, &n),
                         -EINVAL);
        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, &field, 1, T0, &alerts, &n),
                         -EINVAL);
        assert_int_equal(n, 7);
        assert_int_equal(s.n, 0);
}

static void test_open_max(void **state) {
        _cleanup_(alert_set_done) AlertSet s = {};
        AlertCondition *c = calloc(ALERT_OPEN_MAX + 1, sizeof(AlertCondition));
        char(*keys)[32] = calloc(ALERT_OPEN_MAX + 1, 32);
        Alert **alerts = NULL;
        size_t n = 0;

        assert_non_null(c);
        assert_non_null(keys);
        for (size_t i = 0; i <= ALERT_OPEN_MAX; i++) {
                (void) snprintf(keys[i], 32, "drift:pcr%zu:1", i);
                c[i] = (AlertCondition){keys[i], "m", NULL};
        }
        assert_int_equal(
                alert_set_update(&s, ALERT_KINDS_ALL, c, ALERT_OPEN_MAX + 1, T0, &alerts, &n),
                -E2BIG);
        assert_int_equal(s.n, 0);
        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, c, ALERT_OPEN_MAX, T0, &alerts, &n),
                         0);
        assert_int_equal(n, ALERT_OPEN_MAX);
        for (size_t i = 0; i < n; i++)
                alert_free(alerts[i]);
        free(alerts);
        free(c);
        free(keys);
}

static void test_alert_set_json(void **state) {
        _cleanup_(alert_set_done) AlertSet s = {}, back = {};
        _cleanup_(freep) char *text = NULL, *again = NULL;
        AlertCondition c[2] = {
                {"drift:pcr7:aaaa", "PCR 7: db changed: \"CN=A\" added\nline 2", NULL},
                {"unreachable", "no verifier reachable", NULL}};
        Alert **alerts = NULL;
        size_t n = 0;
        Diag d = {};

        assert_int_equal(alert_set_update(&s, ALERT_KINDS_ALL, c, 2, T0, &alerts, &n), 0);
        for (size_t i = 0; i < n; i++)
                alert_free(alerts[i]);
        free(alerts);
        assert_int_equal(alert_set_to_json(&s, &text), 0);
        assert_int_equal(alert_set_parse(text, strlen(text), &back, &d), 0);
        assert_int_equal(back.n, 2);
        for (size_t i = 0; i < 2; i++) {
                assert_string_equal(back.items[i].key, s.items[i].key);
                assert_string_equal(back.items[i].id, s.items[i].id);
                assert_string_equal(back.items[i].message, s.items[i].message);
                assert_int_equal(back.items[i].since, s.items[i].since);
        }
        assert_int_equal(alert_set_to_json(&back, &again), 0);
        assert_string_equal(again, text);
}

static void test_alert_set_strict(void **state) {
        static const char id[] = "\"id\":\"0123456789abcdef0123456789abcdef\"";
        static const struct {
                const char *text;
                int error;
                const char *diag;
        } cases[] = {
                {"{\"version\":1,\"open\":[]}", 0, NULL},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"m\","
                 "\"since\":\"2026-11-30T00:53:20Z\"}]}",
                 0, NULL},
                {"{\"version\":2,\"open\":[]}", -EPROTONOSUPPORT, "version 2"},
                {"{\"version\":1,\"open\":[],\"x\":0}", -EBADMSG, "unknown member"},
                {"{\"version\":1,\"open\":[],\"open\":[]}", -EBADMSG, "a member twice"},
                {"{\"version\":1}", -EBADMSG, "open: missing"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"m\","
                 "\"since\":\"2026-11-30T00:53:20Z\",\"more\":1}]}",
                 -EBADMSG, "open[0]: unknown member"},
                {"{\"version\":1,\"open\":[{\"key\":\"Denied\",%s,\"message\":\"m\","
                 "\"since\":\"2026-11-30T00:53:20Z\"}]}",
                 -EBADMSG, "open[0].key"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"m\","
                 "\"since\":\"2026-11-30T00:53:20Z\"},{\"key\":\"denied:2\",%s,\"message\":\"m\","
                 "\"since\":\"2026-11-30T00:53:20Z\"}]}",
                 -EBADMSG, "of one scope"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",\"id\":\"0123\","
                 "\"message\":\"m\",\"since\":\"2026-11-30T00:53:20Z\"}]}",
                 -EBADMSG, "open[0].id"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"\","
                 "\"since\":\"2026-11-30T00:53:20Z\"}]}",
                 -EBADMSG, "open[0].message"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"m\","
                 "\"since\":\"2026-11-30 00:53:20Z\"}]}",
                 -EBADMSG, "open[0].since"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"m\","
                 "\"since\":1796000000}]}",
                 -EBADMSG, "open[0].since"},
                {"{\"version\":1,\"open\":[7]}", -EBADMSG, "open[0]: not an object"},
                {"{\"version\":1,\"open\":[{\"key\":\"denied:1\",%s,\"message\":\"m\\u0000\","
                 "\"since\":\"2026-11-30T00:53:20Z\"}]}",
                 -EBADMSG, "not one JSON object"},
                {"[]", -EBADMSG, "not one JSON object"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(alert_set_done) AlertSet s = {};
                char text[1024];
                Diag d = {};
                int r;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                (void) snprintf(text, sizeof(text), cases[i].text, id, id);
#pragma GCC diagnostic pop
                r = alert_set_parse(text, strlen(text), &s, &d);
                if (r != cases[i].error)
                        fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].error, d.text);
                if (r == 0)
                        continue;
                assert_int_equal(s.n, 0);
                if (!strstr(d.text, cases[i].diag))
                        fail_msg("case %zu: diag \"%s\" lacks \"%s\"", i, d.text, cases[i].diag);
        }
}

static void test_alert_set_too_many(void **state) {
        _cleanup_(alert_set_done) AlertSet s = {};
        size_t cap = 64 * (ALERT_OPEN_MAX + 2), n = 0;
        _cleanup_(freep) char *text = malloc(cap);
        Diag d = {};

        assert_non_null(text);
        n += (size_t) snprintf(text, cap, "{\"version\":1,\"open\":[");
        for (size_t i = 0; i <= ALERT_OPEN_MAX; i++)
                n += (size_t) snprintf(text + n, cap - n, "%s7", i ? "," : "");
        n += (size_t) snprintf(text + n, cap - n, "]}");
        assert_int_equal(alert_set_parse(text, n, &s, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "more than 256"));
}

/* ---- status.json ---- */

static void test_status_round_trip(void **state) {
        _cleanup_(monitor_status_done) MonitorStatus s = {}, back = {}, empty = {};
        _cleanup_(freep) char *text = NULL, *again = NULL, *none = NULL;
        char *reasons[] = {"verifier denied: x-ms-sevsnpvm-is-debuggable is true",
                           "policy: rule 3 of 4 did not hold"};
        char *drift[] = {"PCR 7: db changed: certificate CN=Contoso Café added"};
        Diag d = {};

        s = (MonitorStatus){
                .last_attempt = T0,
                .last_success = T0 - 300,
                .verdict = STATE_VERDICT_DENIED,
                .reasons = reasons,
                .n_reasons = 2,
                .verifier = "https://verifier.example/t/contoso",
                .token_expiry = T0 + 3600,
                .drifted = 1u << 7,
                .drift = drift,
                .n_drift = 1,
        };
        assert_int_equal(json_parse_capped("{\"x-ms-attestation-type\":\"azurevm\","
                                           "\"x-ms-sevsnpvm-is-debuggable\":false,"
                                           "\"x-ms-sevsnpvm-guestsvn\":7,\"nbf\":null}",
                                           strlen("{\"x-ms-attestation-type\":\"azurevm\","
                                                  "\"x-ms-sevsnpvm-is-debuggable\":false,"
                                                  "\"x-ms-sevsnpvm-guestsvn\":7,\"nbf\":null}"),
                                           1024, 4, &s.claims),
                         0);
        assert_int_equal(monitor_status_to_json(&s, &text), 0);
        json_object_put(s.claims);
        s = (MonitorStatus){}; /* borrowed strings: nothing for monitor_status_done */

        assert_int_equal(monitor_status_parse(text, strlen(text), &back, &d), 0);
        assert_int_equal(back.last_attempt, T0);
        assert_int_equal(back.last_success, T0 - 300);
        assert_int_equal(back.verdict, STATE_VERDICT_DENIED);
        assert_int_equal(back.n_reasons, 2);
        assert_string_equal(back.reasons[0], reasons[0]);
        assert_string_equal(back.verifier, "https://verifier.example/t/contoso");
        assert_int_equal(back.token_expiry, T0 + 3600);
        assert_int_equal(
                json_object_get_int(json_object_object_get(back.claims, "x-ms-sevsnpvm-guestsvn")),
                7);
        assert_int_equal(back.drifted, 1u << 7);
        assert_int_equal(back.n_drift, 1);
        assert_string_equal(back.drift[0], drift[0]);
        assert_int_equal(monitor_status_to_json(&back, &again), 0);
        assert_string_equal(again, text);

        /* never attempted: nulls */
        assert_int_equal(monitor_status_to_json(&empty, &none), 0);
        assert_non_null(strstr(none, "\"last_attempt\": null"));
        assert_non_null(strstr(none, "\"verdict\": \"none\""));
        assert_non_null(strstr(none, "\"token\": null"));
        monitor_status_done(&back);
        assert_int_equal(monitor_status_parse(none, strlen(none), &back, &d), 0);
        assert_int_equal(back.verdict, STATE_VERDICT_NONE);
        assert_null(back.verifier);
        assert_null(back.claims);
}

static void test_status_to_json_refuses(void **state) {
        _cleanup_(freep) char *text = NULL;
        char *bad_reason[] = {"two\nlines"};
        char *bad_utf8[] = {"\xc3\x28"};
        MonitorStatus s = {.verdict = STATE_VERDICT_ALLOWED};

        s.reasons = bad_reason;
        s.n_reasons = 1;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.reasons = bad_utf8;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.n_reasons = 0;
        s.verdict = _STATE_VERDICT_MAX;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.verdict = STATE_VERDICT_ALLOWED;
        s.drifted = 1u << 24;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        assert_null(text);
}

static void test_status_strict(void **state) {
        static const char base[] = "\"version\":1,\"last_attempt\":null,\"last_success\":null,"
                                   "\"verdict\":\"none\",\"reasons\":[],\"verifier\":null";
        static const struct {
                const char *text;
                int error;
                const char *diag;
        } cases[] = {
                {"{%s,\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]}}", 0, NULL},
                {"{%s,\"token\":{\"expires\":\"2026-11-30T00:53:20Z\",\"claims\":{\"a\":\"\"}},"
                 "\"drift\":{\"pcrs\":[0,23],\"lines\":[\"x\"]}}",
                 0, NULL},
                {"{%s,\"token\":null}", -EBADMSG, "drift: missing"},
                {"{%s,\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]},\"pid\":1}", -EBADMSG,
                 "unknown member \"pid\""},
                {"{%s,\"token\":null,\"drift\":{\"pcrs\":[7,7],\"lines\":[]}}", -EBADMSG,
                 "drift.pcrs[1]"},
                {"{%s,\"token\":null,\"drift\":{\"pcrs\":[24],\"lines\":[]}}", -EBADMSG,
                 "drift.pcrs[0]"},
                {"{%s,\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[\"a\\nb\"]}}", -EBADMSG,
                 "drift.lines"},
                {"{%s,\"token\":{\"expires\":\"2026-11-30T00:53:20Z\"},"
                 "\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "token.claims: missing"},
                {"{%s,\"token\":{\"expires\":\"2026-11-30T00:53:20Z\",\"claims\":{\"a\":[1]}},"
                 "\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "token.claims"},
                {"{%s,\"token\":{\"expires\":\"2026-11-30T00:53:20Z\",\"claims\":{\"a\":1.5}},"
                 "\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "token.claims"},
                {"{%s,\"token\":{\"expires\":null,\"claims\":null},"
                 "\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "token.expires"},
                {"{\"version\":1,\"last_attempt\":\"yesterday\",\"last_success\":null,"
                 "\"verdict\":\"none\",\"reasons\":[],\"verifier\":null,\"token\":null,"
                 "\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "last_attempt"},
                {"{\"version\":1,\"last_attempt\":null,\"last_success\":null,"
                 "\"verdict\":\"fine\",\"reasons\":[],\"verifier\":null,\"token\":null,"
                 "\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "verdict"},
                {"{\"version\":1,\"last_attempt\":null,\"last_success\":null,"
                 "\"verdict\":\"none\",\"reasons\":[\"\\u0007\"],\"verifier\":null,"
                 "\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "reasons"},
                {"{\"version\":1,\"last_attempt\":null,\"last_success\":null,"
                 "\"verdict\":\"none\",\"reasons\":[],\"verifier\":7,"
                 "\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "verifier"},
                {"{\"version\":3,\"last_attempt\":null,\"last_success\":null,"
                 "\"verdict\":\"none\",\"reasons\":[],\"verifier\":null,"
                 "\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EPROTONOSUPPORT, "version 3"},
                {"{%s,\"verdict\":\"none\",\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]}}",
                 -EBADMSG, "a member twice"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(monitor_status_done) MonitorStatus s = {};
                char text[1024];
                Diag d = {};
                int r;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                (void) snprintf(text, sizeof(text), cases[i].text, base);
#pragma GCC diagnostic pop
                r = monitor_status_parse(text, strlen(text), &s, &d);
                if (r != cases[i].error)
                        fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].error, d.text);
                if (r == 0)
                        continue;
                assert_null(s.reasons);
                if (!strstr(d.text, cases[i].diag))
                        fail_msg("case %zu: diag \"%s\" lacks \"%s\"", i, d.text, cases[i].diag);
        }
}

static void test_verdicts(void **state) {
        for (int v = 0; v < _STATE_VERDICT_MAX; v++)
                assert_int_equal(state_verdict_from_string(state_verdict_to_string(v)), v);
        assert_string_equal(state_verdict_to_string(STATE_VERDICT_TPM_UNAVAILABLE),
                            "tpm-unavailable");
        assert_int_equal(state_verdict_from_string("ok"), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kinds),
                cmocka_unit_test(test_alert_json_and_line),
                cmocka_unit_test(test_line_capped),
                cmocka_unit_test(test_dedup),
                cmocka_unit_test(test_recovery_message),
                cmocka_unit_test(test_update_refuses),
                cmocka_unit_test(test_open_max),
                cmocka_unit_test(test_alert_set_json),
                cmocka_unit_test(test_alert_set_strict),
                cmocka_unit_test(test_alert_set_too_many),
                cmocka_unit_test(test_status_round_trip),
                cmocka_unit_test(test_status_to_json_refuses),
                cmocka_unit_test(test_status_strict),
                cmocka_unit_test(test_verdicts),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
