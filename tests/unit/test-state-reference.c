/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.json's "reference" (agent/state-doc.c): a denial explained by what changed since the
 * known-good reference, written and read back, and each malformed form refused with a Diag.
 */
#include <stdio.h>
#include <string.h>

#include "agent/drift.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "tests/unit/test-util.h"

#define T0 1796000000 /* 2026-11-30T00:53:20Z */

static void test_round_trip(void **state) {
        _cleanup_(monitor_status_done) MonitorStatus back = {}, none = {}, absent = {};
        _cleanup_(freep) char *text = NULL, *again = NULL, *text2 = NULL, *text3 = NULL;
        char *lines[] = {"changed since the known-good reference of 2026-11-30T00:53:20Z "
                         "(accepted): PCRs 8,9",
                         "PCR 8: kernel command line changed: /vmlinuz ro quiet -> /vmlinuz ro "
                         "init=/bin/sh",
                         "PCR 9: event changed: EV_IPL /vmlinuz (digest 1a2b...) -> ..."};
        char *no_ref[] = {"no known-good reference: enroll or a permitted attestation records one"};
        MonitorStatus s = {
                .last_attempt = T0 + 60,
                .verdict = STATE_VERDICT_DENIED,
                .ref_checked = true,
                .ref_source = DRIFT_SOURCE_ACCEPTED,
                .ref_time = T0,
                .ref_changed = (1u << 8) | (1u << 9),
                .ref_lines = lines,
                .n_ref_lines = 3,
        };
        Diag d = {};

        assert_int_equal(monitor_status_to_json(&s, &text), 0);
        assert_non_null(strstr(text, "\"reference\": {"));
        assert_non_null(strstr(text, "\"source\": \"accepted\""));
        assert_non_null(strstr(text, "\"time\": \"2026-11-30T00:53:20Z\""));
        assert_int_equal(monitor_status_parse(text, strlen(text), &back, &d), 0);
        assert_true(back.ref_checked);
        assert_int_equal(back.ref_source, DRIFT_SOURCE_ACCEPTED);
        assert_int_equal(back.ref_time, T0);
        assert_int_equal(back.ref_changed, (1u << 8) | (1u << 9));
        assert_int_equal(back.n_ref_lines, 3);
        assert_string_equal(back.ref_lines[1], lines[1]);
        assert_int_equal(monitor_status_to_json(&back, &again), 0);
        assert_string_equal(again, text);

        /* No reference: source and time null, nothing changed. */
        s.ref_source = _DRIFT_SOURCE_INVALID;
        s.ref_time = 0;
        s.ref_changed = 0;
        s.ref_lines = no_ref;
        s.n_ref_lines = 1;
        assert_int_equal(monitor_status_to_json(&s, &text2), 0);
        assert_non_null(strstr(text2, "\"source\": null"));
        assert_int_equal(monitor_status_parse(text2, strlen(text2), &none, &d), 0);
        assert_true(none.ref_checked);
        assert_int_equal(none.ref_source, _DRIFT_SOURCE_INVALID);
        assert_int_equal(none.ref_time, 0);
        assert_string_equal(none.ref_lines[0], no_ref[0]);

        /* Not compared (no denial): no member at all. */
        s.ref_checked = false;
        assert_int_equal(monitor_status_to_json(&s, &text3), 0);
        assert_null(strstr(text3, "\"reference\""));
        assert_int_equal(monitor_status_parse(text3, strlen(text3), &absent, &d), 0);
        assert_false(absent.ref_checked);
        assert_null(absent.ref_lines);
}

static void test_to_json_refuses(void **state) {
        char *bad[] = {"two\nlines"};
        MonitorStatus s = {.ref_checked = true, .ref_source = DRIFT_SOURCE_BOOT, .ref_time = T0};
        char *text = NULL;

        /* this boot's baseline is no known-good reference */
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.ref_source = DRIFT_SOURCE_ENROLLMENT;
        s.ref_time = 0;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.ref_time = T0;
        s.ref_changed = 1u << 24;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.ref_changed = 0;
        s.ref_lines = bad;
        s.n_ref_lines = 1;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.ref_lines = NULL;
        s.n_ref_lines = STATE_REF_LINES_MAX + 1;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        s.n_ref_lines = 0;
        s.ref_source = _DRIFT_SOURCE_INVALID;
        s.ref_changed = 1u << 8;
        assert_int_equal(monitor_status_to_json(&s, &text), -EINVAL);
        assert_null(text);
}

static void test_strict(void **state) {
        static const char base[] = "{\"version\":1,\"last_attempt\":null,\"last_success\":null,"
                                   "\"verdict\":\"denied\",\"reasons\":[],\"verifier\":null,"
                                   "\"token\":null,\"drift\":{\"pcrs\":[],\"lines\":[]},"
                                   "\"reference\":%s}";
        static const struct {
                const char *ref;
                int error;
                const char *diag;
        } cases[] = {
                {"{\"source\":\"enrollment\",\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[8],"
                 "\"lines\":[\"x\"]}",
                 0, NULL},
                {"{\"source\":null,\"time\":null,\"pcrs\":[],\"lines\":[]}", 0, NULL},
                {"null", -EBADMSG, "reference: not an object"},
                {"{\"source\":\"boot\",\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[],\"lines\":[]}",
                 -EBADMSG, "reference.source"},
                {"{\"source\":\"later\",\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[],"
                 "\"lines\":[]}",
                 -EBADMSG, "reference.source"},
                {"{\"time\":null,\"pcrs\":[],\"lines\":[]}", -EBADMSG, "reference.source: missing"},
                {"{\"source\":null,\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[],\"lines\":[]}",
                 -EBADMSG, "reference.time"},
                {"{\"source\":\"accepted\",\"time\":null,\"pcrs\":[],\"lines\":[]}", -EBADMSG,
                 "reference.time"},
                {"{\"source\":\"accepted\",\"time\":\"2026-11-30 00:53:20\",\"pcrs\":[],"
                 "\"lines\":[]}",
                 -EBADMSG, "reference.time"},
                {"{\"source\":null,\"time\":null,\"pcrs\":[8],\"lines\":[]}", -EBADMSG,
                 "reference.pcrs: not empty without a source"},
                {"{\"source\":\"accepted\",\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[8,8],"
                 "\"lines\":[]}",
                 -EBADMSG, "reference.pcrs[1]"},
                {"{\"source\":\"accepted\",\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[],"
                 "\"lines\":[\"a\\u0007b\"]}",
                 -EBADMSG, "reference.lines"},
                {"{\"source\":\"accepted\",\"time\":\"2026-11-30T00:53:20Z\",\"pcrs\":[]}",
                 -EBADMSG, "reference.lines: missing"},
                {"{\"source\":null,\"time\":null,\"pcrs\":[],\"lines\":[],\"why\":1}", -EBADMSG,
                 "unknown member \"why\""},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(monitor_status_done) MonitorStatus s = {};
                char text[1024];
                Diag d = {};
                int r;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                (void) snprintf(text, sizeof(text), base, cases[i].ref);
#pragma GCC diagnostic pop
                r = monitor_status_parse(text, strlen(text), &s, &d);
                if (r != cases[i].error)
                        fail_msg("case %zu: %d, expected %d (%s)", i, r, cases[i].error, d.text);
                if (r == 0) {
                        assert_true(s.ref_checked);
                        continue;
                }
                assert_null(s.ref_lines);
                if (!strstr(d.text, cases[i].diag))
                        fail_msg("case %zu: diag \"%s\" lacks \"%s\"", i, d.text, cases[i].diag);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_to_json_refuses),
                cmocka_unit_test(test_strict),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
