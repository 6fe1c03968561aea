/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: what the integrity monitor reads from disk and from the firmware (agent/drift.c,
 * agent/alert-doc.c, agent/state-doc.c). Every input is tried three ways as a state file and,
 * from 4 bytes on, as a pair of event logs:
 *  1. baseline.json (drift_baseline_parse): a refusal leaves no output and says why in one
 *     printable line; what parses writes back (drift_baseline_to_json) to text that parses to
 *     the same, and compared with its own PCRs and log shows no drift;
 *  2. alerts.json (alert_set_parse) and status.json (monitor_status_parse): the same round trip;
 *     the open conditions then go through a cycle of alert_set_update that clears them all;
 *  3. a pair of logs: a 32-bit little-endian length n, then n bytes of a baseline log and the
 *     rest the log of now (each as untrusted as the firmware's). Each log that parses is replayed
 *     into its PCRs; drift_compare of the baseline with the other log (and with itself, which
 *     must show no drift, and with a PCR moved, which must show that PCR) must give a report
 *     whose every line is printable, one line, at most DRIFT_LINE_MAX bytes and starts with its
 *     PCR, with at most DRIFT_LINES_PER_PCR_MAX lines per PCR and a condition key per PCR.
 */
#include <stdio.h>

#include "agent/alert.h"
#include "agent/drift.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "tests/fuzz/fuzz.h"
#include "vtpm/eventlog.h"

static void check_diag(const Diag *d) {
        if (!d->text[0])
                abort();
        for (const char *p = d->text; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        abort();
}

static void try_baseline(const uint8_t *data, size_t size) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL, *again = NULL;
        _cleanup_(drift_report_freep) DriftReport *r = NULL;
        _cleanup_(freep) char *text = NULL, *text2 = NULL;
        Diag d = {};
        int k;

        k = drift_baseline_parse((const char *) data, size, &b, &d);
        if (k < 0) {
                if (b)
                        abort();
                if (k == -ENOMEM)
                        return;
                if (k != -EBADMSG && k != -E2BIG && k != -EPROTONOSUPPORT)
                        abort();
                check_diag(&d);
                return;
        }
        if (drift_baseline_to_json(b, &text) < 0)
                return;
        if (drift_baseline_parse(text, strlen(text), &again, &d) < 0)
                abort();
        if (drift_baseline_to_json(again, &text2) < 0 || !streq(text, text2))
                abort();
        if (drift_compare(b, &b->pcrs, b->eventlog, b->eventlog_size, &r) < 0)
                return;
        /* The same PCRs; the log may still be one that replays to other values, but it is the
         * same log, so nothing drifted. */
        if (r->drifted != 0 || r->compared == 0)
                abort();
}

static void try_alerts(const uint8_t *data, size_t size) {
        _cleanup_(alert_set_done) AlertSet s = {}, again = {};
        _cleanup_(freep) char *text = NULL, *text2 = NULL;
        Alert **alerts = NULL;
        size_t n = 0, open;
        Diag d = {};
        int k;

        k = alert_set_parse((const char *) data, size, &s, &d);
        if (k < 0) {
                if (s.n != 0 || s.items)
                        abort();
                if (k == -ENOMEM)
                        return;
                if (k != -EBADMSG && k != -E2BIG && k != -EPROTONOSUPPORT)
                        abort();
                check_diag(&d);
                return;
        }
        if (alert_set_to_json(&s, &text) < 0)
                return;
        if (alert_set_parse(text, strlen(text), &again, &d) < 0)
                abort();
        if (alert_set_to_json(&again, &text2) < 0 || !streq(text, text2))
                abort();
        /* Nothing holds any more: one recovery per open condition. */
        open = s.n;
        if (alert_set_update(&s, ALERT_KINDS_ALL, NULL, 0, 1796000000, &alerts, &n) < 0)
                return;
        if (n != open || s.n != 0)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!alerts[i]->recovery)
                        abort();
                alert_free(alerts[i]);
        }
        free(alerts);
}

static void try_status(const uint8_t *data, size_t size) {
        _cleanup_(monitor_status_done) MonitorStatus s = {}, again = {};
        _cleanup_(freep) char *text = NULL, *text2 = NULL;
        Diag d = {};
        int k;

        k = monitor_status_parse((const char *) data, size, &s, &d);
        if (k < 0) {
                if (s.reasons || s.claims || s.verifier || s.drift)
                        abort();
                if (k == -ENOMEM)
                        return;
                if (k != -EBADMSG && k != -E2BIG && k != -EPROTONOSUPPORT)
                        abort();
                check_diag(&d);
                return;
        }
        if (monitor_status_to_json(&s, &text) < 0)
                abort();
        if (monitor_status_parse(text, strlen(text), &again, &d) < 0)
                abort();
        if (monitor_status_to_json(&again, &text2) < 0 || !streq(text, text2))
                abort();
}

/* The PCRs a log replays to, every bank it declares; a fixed set when none replays. */
static void pcrs_of(const uint8_t *log, size_t size, TpmPcrSet *ret) {
        _cleanup_(eventlog_freep) EventLog *l = NULL;

        *ret = (TpmPcrSet){};
        if (eventlog_parse(log, size, &l, NULL) >= 0)
                for (size_t i = 0; i < l->n_algs; i++) {
                        TpmPcrBank *b = &ret->banks[ret->n_banks];

                        if (eventlog_replay(l, l->algs[i].alg, b) < 0)
                                continue;
                        b->mask = (UINT32_C(1) << TPM_PCR_COUNT) - 1;
                        ret->n_banks++;
                }
        if (ret->n_banks == 0) {
                ret->n_banks = 1;
                ret->banks[0] = (TpmPcrBank){.alg = TPM_ALG_SHA256, .size = 32, .mask = 0xffffff};
        }
}

static void check_report(const DriftReport *r) {
        uint32_t seen = 0;

        for (size_t i = 0; i < r->n_pcrs; i++) {
                const DriftPcr *p = &r->pcrs[i];
                char prefix[16];

                if (p->pcr >= TPM_PCR_COUNT || (seen & (UINT32_C(1) << p->pcr)) ||
                    !(r->drifted & (UINT32_C(1) << p->pcr)) || p->n_lines == 0 ||
                    p->n_lines > DRIFT_LINES_PER_PCR_MAX || alert_key_kind(p->key) != ALERT_DRIFT)
                        abort();
                seen |= UINT32_C(1) << p->pcr;
                (void) snprintf(prefix, sizeof(prefix), "PCR %u: ", p->pcr);
                for (size_t j = 0; j < p->n_lines; j++) {
                        const char *s = p->lines[j];

                        if (!startswith(s, prefix) || strlen(s) > DRIFT_LINE_MAX)
                                abort();
                        for (; *s; s++)
                                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                                        abort();
                }
        }
        if (seen != r->drifted || (r->drifted & ~r->compared))
                abort();
}

static void try_logs(const uint8_t *data, size_t size) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL, *nolog = NULL;
        _cleanup_(drift_report_freep) DriftReport *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
        const uint8_t *a, *c;
        TpmPcrSet pa, pc, moved;
        size_t na, nc;
        uint32_t n;

        if (size < 4)
                return;
        n = (uint32_t) data[0] | (uint32_t) data[1] << 8 | (uint32_t) data[2] << 16 |
            (uint32_t) data[3] << 24;
        if (n > size - 4)
                return;
        a = data + 4;
        na = n;
        c = a + na;
        nc = size - 4 - na;
        pcrs_of(a, na, &pa);
        pcrs_of(c, nc, &pc);

        if (drift_baseline_new(DRIFT_SOURCE_BOOT, 1796000000, &pa, a, na, &b, NULL) >= 0) {
                if (drift_compare(b, &pc, c, nc, &r1) >= 0)
                        check_report(r1);
                if (drift_compare(b, &pa, a, na, &r2) >= 0) {
                        check_report(r2);
                        if (r2->drifted != 0)
                                abort();
                }
                moved = pa;
                moved.banks[0].value[4][0] ^= 1;
                if (drift_compare(b, &moved, a, na, &r3) >= 0) {
                        check_report(r3);
                        if (r3->drifted != UINT32_C(1) << 4 || !r3->pcrs[0].outside_log)
                                abort();
                }
        }
        /* No baseline log, the other as the log of now. */
        if (drift_baseline_new(DRIFT_SOURCE_ENROLLMENT, 1796000000, &pa, NULL, 0, &nolog, NULL) >=
                    0 &&
            drift_compare(nolog, &pc, c, nc, &r4) >= 0)
                check_report(r4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t empty[1];

        if (!data)
                data = empty;
        try_baseline(data, size);
        try_alerts(data, size);
        try_status(data, size);
        try_logs(data, size);
        return 0;
}
