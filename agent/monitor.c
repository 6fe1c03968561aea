/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] `cvm-agent monitor`, `attest-now` and `status`: integrity monitoring after boot.
 *
 * One cycle: read the PCRs and the event log and compare them with the boot baseline (taken by
 * the first cycle of this boot and kept in the state directory); attest with a fresh nonce,
 * through the verifiers in failover order with their health carried from cycle to cycle; check
 * the token against its issuer's published keys; turn what holds into alert conditions (drift
 * per PCR, a denial, no verifier reachable, no TPM), which agent/alert.c deduplicates and sends
 * (journal or stderr, webhook, exec hook); and write status.json. A permitted attestation of
 * measurements that did not move moves the known-good reference (reference.json, kept across
 * boots) forward; a denial is explained by what changed since it. `monitor` runs cycles every
 * Interval= plus up to Jitter= (Type=notify: READY after the first, WATCHDOG pings between),
 * `monitor --once` and `attest-now` run one, `status` reads what the last one wrote.
 */
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <systemd/sd-daemon.h>

#include "agent/agent-conf.h"
#include "agent/agent.h"
#include "agent/alert.h"
#include "agent/drift.h"
#include "agent/failover.h"
#include "agent/state.h"
#include "agent/unlock-key.h"
#include "common/cli-util.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/issuer-keys.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/log.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "vtpm/eventlog.h"
#include "vtpm/tpm-device.h"
#include "vtpm/tpm-pcrs.h"

/* The claims status.json summarises, by dot path into the token's claims. */
static const char *const summary_claims[] = {
        "iss",
        "x-ms-attestation-type",
        "x-ms-compliance-status",
        "x-ms-isolation-tee.x-ms-attestation-type",
        "x-ms-isolation-tee.x-ms-compliance-status",
        "x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable",
        "x-ms-isolation-tee.x-ms-sevsnpvm-guestsvn",
        "x-ms-azurevm-secureboot",
        "secureboot",
        "x-ms-azurevm-ak-vouched-by",
        "x-ms-policy-hash",
};

/* Lines of a denial's explanation: the alert's message stays under ALERT_MESSAGE_MAX with the
 * verifier's reason (700 bytes at most) before them. */
#define DENIAL_REF_LINES_MAX 30u
static_assert(DENIAL_REF_LINES_MAX * (DRIFT_LINE_MAX + 1) + 700 < ALERT_MESSAGE_MAX,
              "a denial's message fits an alert");
static_assert(DENIAL_REF_LINES_MAX <= STATE_REF_LINES_MAX, "a denial's lines fit status.json");

typedef struct Monitor {
        AgentConfig conf;
        const char *state_dir;
        const char *reference_dir; /* where reference.json lives */
        char **urls; /* effective verifier URLs */
        size_t n_urls;
        Failover health;
        IssuerKeyCache *keys; /* the verifiers' signing keys, kept between cycles */
        Alerter *alerter;
        bool print_steps; /* attest-now */
        struct timespec start;
} Monitor;

#define CONDITION_FIELDS_MAX 4u

typedef struct Cycle {
        MonitorStatus status;
        uint32_t evaluated;
        AlertCondition conds[32];
        size_t n_conds;
        /* storage the conditions point into */
        char *messages[32];
        char *fields[32][CONDITION_FIELDS_MAX + 1];
        char keys[32][ALERT_KEY_MAX + 1];
        /* the measurements the cycle read */
        bool measured;
        TpmPcrSet pcrs;
        uint8_t *log;
        size_t log_size;
} Cycle;

static void cycle_done(Cycle *c) {
        monitor_status_done(&c->status);
        for (size_t i = 0; i < ELEMENTSOF(c->messages); i++) {
                free(c->messages[i]);
                for (size_t j = 0; j < CONDITION_FIELDS_MAX; j++)
                        free(c->fields[i][j]);
        }
        free(c->log);
        *c = (Cycle) {};
}

static double elapsed_ms(const struct timespec *a) {
        struct timespec b;

        (void) clock_gettime(CLOCK_MONOTONIC, &b);
        return (double) (b.tv_sec - a->tv_sec) * 1e3 + (double) (b.tv_nsec - a->tv_nsec) / 1e6;
}

static uint64_t boottime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* attest-now's lines: each step with its time since the start. */
static void step(Monitor *m, const char *fmt, ...) _printf_(2, 3);
static void step(Monitor *m, const char *fmt, ...) {
        char line[600];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (m->print_steps)
                printf("%8.1f ms  %s\n", elapsed_ms(&m->start), line);
        else
                log_debug("%s", line);
}

static void show_progress(UnlockStep s, const char *url, struct TpmDevice *t, void *userdata) {
        static const char *const what[_UNLOCK_STEP_MAX] = {
                [UNLOCK_STEP_EVIDENCE] = "collecting evidence for",
                [UNLOCK_STEP_ATTEST] = "attesting at",
                [UNLOCK_STEP_RELEASE] = "asking for a key at",
                [UNLOCK_STEP_UNWRAP] = "unwrapping",
                [UNLOCK_STEP_BACKOFF] = "no verifier answered; waiting before the next round",
        };

        (void) t;
        step(userdata, "%s%s%s", what[s], url ? " " : "", url ?: "");
}

/* Adds an alert condition; key, message and the fields ("NAME=value", n of them, at most
 * CONDITION_FIELDS_MAX) are copied. */
static int add_condition_fields(Cycle *c, const char *key, const char *message,
                                const char *const *fields, size_t n) {
        size_t i = c->n_conds;

        if (i >= ELEMENTSOF(c->conds) || n > CONDITION_FIELDS_MAX)
                return -E2BIG;
        (void) snprintf(c->keys[i], sizeof(c->keys[i]), "%s", key);
        c->messages[i] = strdup(message);
        if (!c->messages[i])
                return -ENOMEM;
        for (size_t j = 0; j < n; j++)
                if (!(c->fields[i][j] = strdup(fields[j])))
                        return -ENOMEM;
        c->conds[i] = (AlertCondition) {
                .key = c->keys[i],
                .message = c->messages[i],
                .fields = n > 0 ? (const char *const *) c->fields[i] : NULL,
        };
        c->n_conds++;
        return 0;
}

/* The same with one optional field. */
static int add_condition(Cycle *c, const char *key, const char *message, const char *field) {
        return add_condition_fields(c, key, message, &field, field ? 1 : 0);
}

/* A key's last component from a reason: 16 hex digits of its SHA-256, so that the same reason
 * is the same condition and another reason supersedes it. */
static void reason_key(const char *kind, const char *reason, char *buf, size_t size) {
        uint8_t md[32];
        char hex[17];

        (void) EVP_Digest(reason, strlen(reason), md, NULL, EVP_sha256(), NULL);
        hex_encode_buf(md, 8, hex);
        (void) snprintf(buf, size, "%s:%s", kind, hex);
}

static int add_reason(MonitorStatus *s, const char *reason) {
        char **n = realloc(s->reasons, (s->n_reasons + 1) * sizeof(char *));
        char clean[STATE_REASON_MAX];
        size_t k = 0;

        if (!n)
                return -ENOMEM;
        s->reasons = n;
        /* One printable line. */
        for (const char *p = reason; *p && k + 1 < sizeof(clean); p++)
                clean[k++] = (unsigned char) *p < 0x20 || *p == 0x7f ? ' ' : *p;
        clean[k] = '\0';
        if (!(s->reasons[s->n_reasons] = strdup(clean)))
                return -ENOMEM;
        s->n_reasons++;
        return 0;
}

/* ---- drift ---- */

/* The PCRs of every bank and the event log, now. */
static int read_measurements(Monitor *m, TpmPcrSet *ret, uint8_t **ret_log, size_t *ret_log_size,
                             Diag *d) {
        return state_measurements_read(secure_getenv("CVM_TCTI") ?: m->conf.tcti,
                                       secure_getenv("CVM_EVENTLOG") ?: m->conf.eventlog, ret,
                                       ret_log, ret_log_size, d);
}

static int check_drift(Monitor *m, Cycle *c) {
        _cleanup_(drift_baseline_freep) DriftBaseline *base = NULL;
        _cleanup_(drift_report_freep) DriftReport *rep = NULL;
        _cleanup_(freep) uint8_t *log = NULL;
        TpmPcrSet pcrs = {};
        size_t log_size = 0;
        Diag d = {};
        int r;

        r = read_measurements(m, &pcrs, &log, &log_size, &d);
        if (r < 0) {
                char msg[600];

                (void) snprintf(msg, sizeof(msg), "no TPM: %s", diag_text(&d, strerror(-r)));
                step(m, "%s", msg);
                c->evaluated |= ALERT_KIND_BIT(ALERT_TPM_UNAVAILABLE);
                c->status.verdict = STATE_VERDICT_TPM_UNAVAILABLE;
                (void) add_reason(&c->status, msg);
                return add_condition(c, "tpm-unavailable", msg, NULL);
        }
        c->evaluated |= ALERT_KIND_BIT(ALERT_TPM_UNAVAILABLE);
        r = state_baseline_load(m->state_dir, &base, &d);
        if (r == -ENOENT || (r < 0 && r != -ENOMEM)) {
                if (r != -ENOENT)
                        log_warning("The baseline in %s is unusable, taking a new one: %s",
                                    m->state_dir, diag_text(&d, strerror(-r)));
                d = (Diag) {};
                r = drift_baseline_new(DRIFT_SOURCE_BOOT, time(NULL), &pcrs, log, log_size, &base,
                                       &d);
                if (r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT) {
                        log_warning("The event log does not parse (%s): the baseline keeps the "
                                    "PCRs only", diag_text(&d, strerror(-r)));
                        d = (Diag) {};
                        r = drift_baseline_new(DRIFT_SOURCE_BOOT, time(NULL), &pcrs, NULL, 0,
                                               &base, &d);
                }
                if (r < 0)
                        return log_error_errno(r, "Cannot take the baseline: %s",
                                               diag_text(&d, strerror(-r)));
                r = state_baseline_save(m->state_dir, base);
                if (r < 0)
                        return log_error_errno(r, "Cannot write the baseline to %s: %m",
                                               m->state_dir);
                step(m, "baseline taken (%zu PCR banks, event log of %zu bytes)", pcrs.n_banks,
                     log_size);
        } else if (r < 0)
                return r;
        r = drift_compare(base, &pcrs, log, log_size, &rep);
        if (r < 0)
                return r;
        c->evaluated |= ALERT_KIND_BIT(ALERT_DRIFT);
        c->status.drifted = rep->drifted; /* a mask of PCRs */
        step(m, "measurements: %d PCRs compared with the baseline, %d drifted%s%s",
             __builtin_popcount(rep->compared), __builtin_popcount(rep->drifted),
             rep->log_note[0] ? "; " : "", rep->log_note);
        for (size_t i = 0; i < rep->n_pcrs; i++) {
                _cleanup_(freep) char *msg = NULL;
                char field[64];
                const DriftPcr *p = &rep->pcrs[i];

                for (size_t j = 0; j < p->n_lines; j++) {
                        char **n = realloc(c->status.drift, (c->status.n_drift + 1) * sizeof(char *));
                        if (!n)
                                return -ENOMEM;
                        c->status.drift = n;
                        if (!(n[c->status.n_drift] = strdup(p->lines[j])))
                                return -ENOMEM;
                        c->status.n_drift++;
                        step(m, "  %s", p->lines[j]);
                }
                r = drift_pcr_message(p, &msg);
                if (r < 0)
                        return r;
                (void) snprintf(field, sizeof(field), "CVM_AGENT_PCRS=%u", p->pcr);
                r = add_condition(c, p->key, msg, field);
                if (r < 0)
                        return r;
        }
        /* Kept for the known-good reference: explaining a denial, or moving it forward. */
        c->pcrs = pcrs;
        c->log = TAKE_PTR(log);
        c->log_size = log_size;
        c->measured = true;
        return 0;
}

/* ---- the known-good reference ---- */

/* What changed since the known-good reference in the PCRs the quote covers, into the status
 * (ref_*) and the denial's fields; lines as drift_reference_lines gives them. */
static int explain_denial(Monitor *m, Cycle *c, char *fields[static CONDITION_FIELDS_MAX],
                          size_t *ret_n_fields) {
        _cleanup_(drift_baseline_freep) DriftBaseline *ref = NULL;
        _cleanup_(drift_report_freep) DriftReport *rep = NULL;
        MonitorStatus *s = &c->status;
        char list[DRIFT_PCR_LIST_SIZE], when[32];
        size_t n = 0;
        Diag d = {};
        int r;

        *ret_n_fields = 0;
        if (!c->measured)
                return 0;
        s->ref_checked = true;
        s->ref_source = _DRIFT_SOURCE_INVALID;
        r = state_reference_load(m->reference_dir, &ref, &d);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && r != -ENOENT) {
                /* Unreadable: said so, and nothing compared. */
                char line[STATE_DRIFT_LINE_MAX];

                (void) snprintf(line, sizeof(line), "the known-good reference cannot be read: %s",
                                diag_text(&d, strerror(-r)));
                s->ref_lines = calloc(2, sizeof(char *));
                if (!s->ref_lines || !(s->ref_lines[0] = strdup(line)))
                        return -ENOMEM;
                s->n_ref_lines = 1;
                if (asprintf(&fields[n++], "CVM_AGENT_REFERENCE=unusable") < 0)
                        return -ENOMEM;
                *ret_n_fields = n;
                return 0;
        }
        if (r >= 0) {
                /* Only the PCRs the verifier judged, those the quote covers (PCRs=): the others
                 * explain nothing about its verdict, and some move at every boot without the
                 * firmware's log saying why (PCR 10: IMA's boot aggregate). */
                TpmPcrSet judged = c->pcrs;

                for (size_t b = 0; b < judged.n_banks; b++)
                        judged.banks[b].mask &= m->conf.pcr_mask;
                r = drift_compare(ref, &judged, c->log, c->log_size, &rep);
                if (r < 0)
                        return r;
                s->ref_source = ref->source;
                s->ref_time = ref->time;
                s->ref_changed = rep->drifted;
        }
        r = drift_reference_lines(ref, rep, DENIAL_REF_LINES_MAX, &s->ref_lines, &s->n_ref_lines);
        if (r < 0)
                return r;
        if (asprintf(&fields[n++], "CVM_AGENT_REFERENCE=%s",
                     ref ? drift_source_to_string(ref->source) : "none") < 0)
                return -ENOMEM;
        if (ref) {
                format_rfc3339((time_t) ref->time, when, sizeof(when));
                if (asprintf(&fields[n++], "CVM_AGENT_REFERENCE_TIME=%s", when) < 0)
                        return -ENOMEM;
        }
        if (rep && rep->drifted &&
            asprintf(&fields[n++], "CVM_AGENT_PCRS=%s", drift_pcr_list(rep->drifted, list)) < 0)
                return -ENOMEM;
        *ret_n_fields = n;
        return 0;
}

/* A denial: the verdict, the reason, and one alert condition whose message is the reason and
 * what changed since the known-good reference, one line each. */
static int add_denial(Monitor *m, Cycle *c, const char *msg) {
        char *fields[CONDITION_FIELDS_MAX] = {};
        _cleanup_(freep) char *text = NULL;
        char key[64];
        size_t n_fields = 0, len;
        int r;

        step(m, "%s", msg);
        c->status.verdict = STATE_VERDICT_DENIED;
        (void) add_reason(&c->status, msg);
        c->evaluated |= ALERT_KIND_BIT(ALERT_DENIED) | ALERT_KIND_BIT(ALERT_UNREACHABLE);
        r = explain_denial(m, c, fields, &n_fields);
        if (r < 0)
                goto finish;
        len = strlen(msg) + 1;
        for (size_t i = 0; i < c->status.n_ref_lines; i++) {
                step(m, "  %s", c->status.ref_lines[i]);
                len += strlen(c->status.ref_lines[i]) + 1;
        }
        text = malloc(len);
        if (!text) {
                r = -ENOMEM;
                goto finish;
        }
        len = (size_t) snprintf(text, strlen(msg) + 1, "%s", msg);
        for (size_t i = 0; i < c->status.n_ref_lines; i++) {
                size_t l = strlen(c->status.ref_lines[i]);

                text[len++] = '\n';
                memcpy(text + len, c->status.ref_lines[i], l + 1);
                len += l;
        }
        /* The whole message: another change since the reference is another condition. */
        reason_key("denied", text, key, sizeof(key));
        r = add_condition_fields(c, key, text, (const char *const *) fields, n_fields);
finish:
        for (size_t i = 0; i < n_fields; i++)
                free(fields[i]);
        return r;
}

static bool pcr_sets_equal(const TpmPcrSet *a, const TpmPcrSet *b) {
        if (a->n_banks != b->n_banks)
                return false;
        for (size_t i = 0; i < a->n_banks; i++) {
                const TpmPcrBank *x = &a->banks[i], *y = &b->banks[i];

                if (x->alg != y->alg || x->size != y->size || x->mask != y->mask)
                        return false;
                for (unsigned k = 0; k < TPM_PCR_COUNT; k++)
                        if ((x->mask & (UINT32_C(1) << k)) &&
                            memcmp(x->value[k], y->value[k], MIN(x->size, TPM_DIGEST_MAX)) != 0)
                                return false;
        }
        return true;
}

/* After a permitted attestation: the measurements, if they did not move during the cycle and
 * did not drift from this boot's baseline, become the known-good reference. */
static void record_accepted(Monitor *m, Cycle *c) {
        _cleanup_(freep) uint8_t *log = NULL;
        TpmPcrSet again = {};
        size_t log_size = 0;
        Diag d = {};
        bool same;
        int r;

        if (!c->measured || c->status.verdict != STATE_VERDICT_ALLOWED)
                return;
        if (c->status.drifted != 0) {
                step(m, "the measurements drifted from the boot baseline: the known-good "
                        "reference stays as it is");
                return;
        }
        /* What was attested is what was read before, unless something moved in between. */
        r = read_measurements(m, &again, &log, &log_size, &d);
        same = r >= 0 && pcr_sets_equal(&again, &c->pcrs) && log_size == c->log_size &&
               (log_size == 0 || memcmp(log, c->log, log_size) == 0);
        if (!same) {
                log_warning("The measurements moved during the attestation: the known-good "
                            "reference in %s stays as it is", m->reference_dir);
                return;
        }
        r = state_reference_record(m->reference_dir, DRIFT_SOURCE_ACCEPTED, time(NULL), &c->pcrs,
                                   c->log, c->log_size, &d);
        if (r < 0)
                log_warning("Cannot record the known-good reference: %s",
                            diag_text(&d, strerror(-r)));
        else if (r > 0) {
                log_info("Known-good reference recorded in %s/%s (accepted)", m->reference_dir,
                         STATE_FILE_REFERENCE);
                step(m, "known-good reference recorded (accepted)");
        } else
                step(m, "known-good reference unchanged");
}

/* ---- attestation ---- */

static void summarise_claims(json_object *claims, json_object **ret) {
        json_object *o = json_object_new_object();

        for (size_t i = 0; o && i < ELEMENTSOF(summary_claims); i++) {
                char path[128], *save = NULL;
                json_object *v = claims;

                (void) snprintf(path, sizeof(path), "%s", summary_claims[i]);
                for (char *seg = strtok_r(path, ".", &save); v && seg; seg = strtok_r(NULL, ".", &save))
                        if (!json_object_object_get_ex(v, seg, &v))
                                v = NULL;
                if (!v)
                        continue;
                switch (json_object_get_type(v)) {
                case json_type_boolean:
                case json_type_int:
                case json_type_string:
                        (void) json_add(o, summary_claims[i], json_object_get(v));
                        break;
                default:
                        break;
                }
        }
        *ret = o;
}

/* The token was sealed to our TPM key, which anyone may encrypt to: it counts only once it
 * verifies against its issuer's published keys, the issuer being the verifier we asked. */
static int verify_token(Monitor *m, const char *verifier, const char *token, Diag *d) {
        _cleanup_(jws_freep) Jws *j = NULL;
        JwsVerifyOptions o = { .issuer = verifier, .now = time(NULL), .leeway = 60,
                               .require_exp = true };
        int r;

        r = jws_parse(token, strlen(token), &j, d);
        if (r < 0)
                return r;
        return issuer_key_cache_verify(m->keys, j, &o, boottime_usec() / 1000000, d);
}

static int attest(Monitor *m, Cycle *c, char *const *override, size_t n_override) {
        _cleanup_(attest_result_done) AttestResult a = {};
        UnlockSource src = { .progress = show_progress, .userdata = m };
        UnlockReport rep;
        Diag d = {};
        int r;

        unlock_source_from_config(&src, &m->conf);
        if (n_override > 0)
                for (size_t i = 0; i < n_override && i < UNLOCK_VERIFIERS_MAX; i++)
                        src.verifiers[src.n_verifiers++] = override[i];
        else {
                for (size_t i = 0; i < m->n_urls && i < UNLOCK_VERIFIERS_MAX; i++)
                        src.verifiers[src.n_verifiers++] = m->urls[i];
                src.health = &m->health;
        }
        if (src.n_verifiers == 0) {
                (void) add_reason(&c->status, "no verifier configured ([Verifier] URL=)");
                c->status.verdict = STATE_VERDICT_ERROR;
                return 0;
        }
        /* One cycle tries every verifier, twice at most, within half an interval. */
        src.max_rounds = 2;
        src.deadline_usec = boottime_usec() + MIN(m->conf.interval_usec / 2, UINT64_C(120000000));
        c->status.last_attempt = time(NULL);
        r = unlock_attest(&src, NULL, &a, &rep, &d);
        if (r >= 0) {
                const char *verifier = src.verifiers[a.verifier];
                json_object *exp;

                r = verify_token(m, verifier, a.token, &d);
                if (r < 0) {
                        char msg[700];

                        (void) snprintf(msg, sizeof(msg), "verifier %s: its token does not verify: %s",
                                        verifier, diag_text(&d, strerror(-r)));
                        return add_denial(m, c, msg);
                }
                c->status.verdict = STATE_VERDICT_ALLOWED;
                c->status.last_success = c->status.last_attempt;
                c->status.verifier = strdup(verifier);
                if (a.claims && json_object_object_get_ex(a.claims, "exp", &exp))
                        c->status.token_expiry = json_object_get_int64(exp);
                if (a.claims)
                        summarise_claims(a.claims, &c->status.claims);
                {
                        char until[32];

                        format_rfc3339((time_t) c->status.token_expiry, until, sizeof(until));
                        step(m, "allowed by %s: token %.16s..., valid until %s", verifier,
                             rep.token_jti[0] ? rep.token_jti : "(no jti)", until);
                }
                c->evaluated |= ALERT_KIND_BIT(ALERT_DENIED) | ALERT_KIND_BIT(ALERT_UNREACHABLE);
                return 0;
        }
        if (r == -EACCES || r == -EKEYREJECTED || r == -ESTALE) {
                char msg[700];

                (void) snprintf(msg, sizeof(msg), "verifier denied: %s", diag_text(&d, strerror(-r)));
                if (rep.verifier)
                        c->status.verifier = strdup(rep.verifier);
                return add_denial(m, c, msg);
        }
        if (r == -ENODEV || r == -ENOMEM) {
                char msg[700];

                (void) snprintf(msg, sizeof(msg), "cannot attest: %s", diag_text(&d, strerror(-r)));
                step(m, "%s", msg);
                c->status.verdict = r == -ENODEV ? STATE_VERDICT_TPM_UNAVAILABLE : STATE_VERDICT_ERROR;
                (void) add_reason(&c->status, msg);
                return 0;
        }
        {
                _cleanup_(alert_set_done) AlertSet open = {};
                const AlertOpen *o;
                char msg[700], since[32];

                /* Since when: the open condition's start, or now for a new one. */
                format_rfc3339(time(NULL), since, sizeof(since));
                if (alert_state_load(m->state_dir, &open, NULL) >= 0 &&
                    (o = alert_set_find_scope(&open, "unreachable")))
                        format_rfc3339((time_t) o->since, since, sizeof(since));
                (void) snprintf(msg, sizeof(msg), "no verifier reachable since %s (%zu tried): %s",
                                since, src.n_verifiers, diag_text(&d, strerror(-r)));
                step(m, "%s", msg);
                c->status.verdict = STATE_VERDICT_UNREACHABLE;
                (void) add_reason(&c->status, msg);
                c->evaluated |= ALERT_KIND_BIT(ALERT_UNREACHABLE);
                return add_condition(c, "unreachable", msg, NULL);
        }
}

/* ---- the cycle ---- */

static void health_load(Monitor *m) {
        _cleanup_(freep) char *text = NULL;
        Failover saved = {};
        size_t size;
        Diag d = {};

        if (state_verifiers_load(m->state_dir, &text, &size) < 0)
                return;
        if (failover_from_json(text, size, &saved, &d) < 0) {
                log_warning("%s/%s is unusable, starting afresh: %s", m->state_dir,
                            STATE_FILE_VERIFIERS, diag_text(&d, "malformed"));
                return;
        }
        failover_restore(&m->health, &saved, boottime_usec(), m->conf.retry_after_usec);
}

static void health_save(Monitor *m) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *text;

        if (failover_to_json(&m->health, &o) < 0)
                return;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (state_verifiers_save(m->state_dir, text, strlen(text)) < 0)
                log_warning("Cannot write %s/%s", m->state_dir, STATE_FILE_VERIFIERS);
}

/* One cycle; its verdict as an exit code (0 allowed and no drift, 5 denied or drifted, 6
 * unreachable or no TPM, 1 otherwise). */
static int cycle(Monitor *m, char *const *override, size_t n_override) {
        _cleanup_(cycle_done) Cycle c = {};
        size_t sent = 0;
        Diag d = {};
        int r;

        (void) clock_gettime(CLOCK_MONOTONIC, &m->start);
        health_load(m);
        r = check_drift(m, &c);
        if (r < 0)
                return EXIT_INTERNAL;
        if (c.status.verdict != STATE_VERDICT_TPM_UNAVAILABLE) {
                r = attest(m, &c, override, n_override);
                if (r < 0)
                        return EXIT_INTERNAL;
                record_accepted(m, &c);
        }
        health_save(m);
        r = alerter_update(m->alerter, c.evaluated, c.conds, c.n_conds, time(NULL), &sent, &d);
        if (r < 0)
                log_warning("Alerts: %s", diag_text(&d, strerror(-r)));
        if (sent > 0)
                step(m, "%zu alert%s sent", sent, sent == 1 ? "" : "s");
        r = state_status_save(m->state_dir, &c.status);
        if (r < 0)
                log_warning("Cannot write %s/%s: %s", m->state_dir, STATE_FILE_STATUS, strerror(-r));
        step(m, "verdict: %s%s", state_verdict_to_string(c.status.verdict),
             c.status.drifted ? ", measurements drifted" : "");
        switch (c.status.verdict) {
        case STATE_VERDICT_ALLOWED:
                return c.status.drifted ? EXIT_POLICY : EXIT_OK;
        case STATE_VERDICT_DENIED:
                return EXIT_POLICY;
        case STATE_VERDICT_UNREACHABLE:
        case STATE_VERDICT_TPM_UNAVAILABLE:
                return EXIT_UNAVAILABLE;
        default:
                return EXIT_INTERNAL;
        }
}

static void monitor_done(Monitor *m) {
        alerter_flush(m->alerter, 2 * 1000000);
        alerter_free(m->alerter);
        issuer_key_cache_free(m->keys);
        agent_urls_free(m->urls);
        agent_config_done(&m->conf);
}

static int monitor_setup(Monitor *m, const char *config, const char *state_dir,
                         const char *reference_dir) {
        AlertOptions ao = {};
        Diag d = {};
        int r;

        r = agent_config_load(config, &m->conf, &d);
        if (r < 0)
                return log_error("%s", diag_text(&d, "cannot load the configuration")), EXIT_USAGE;
        m->state_dir = state_dir ?: STATE_DIR_DEFAULT;
        m->reference_dir = state_reference_dir(reference_dir, state_dir);
        r = agent_config_verifier_urls(&m->conf, &m->urls, &m->n_urls);
        if (r < 0)
                return log_error_errno(r, "Verifier URLs: %m"), EXIT_USAGE;
        r = failover_init(&m->health, (const char *const *) m->urls,
                          MIN(m->n_urls, (size_t) FAILOVER_ENDPOINTS_MAX));
        if (r < 0)
                return log_error_errno(r, "Verifier URLs: %m"), EXIT_USAGE;
        r = state_dir_ensure(m->state_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot make %s: %m", m->state_dir), EXIT_UNAVAILABLE;
        if (http_global_init() < 0)
                return EXIT_INTERNAL;
        ao = (AlertOptions) {
                .state_dir = m->state_dir,
                .webhook = m->conf.webhook,
                .ca_file = m->conf.ca_file,
                .exec = m->conf.exec,
        };
        r = alerter_new(&ao, &m->alerter, &d);
        if (r < 0)
                return log_error("[Alert]: %s", diag_text(&d, strerror(-r))), EXIT_USAGE;
        return EXIT_OK;
}

/* The verifiers' keys: for the configured ones, or those of --verifier. */
static int keys_setup(Monitor *m, char *const *override, size_t n_override) {
        Diag d = {};
        int r;

        r = issuer_key_cache_new(n_override ? override : m->urls, n_override ?: m->n_urls, 60,
                                 m->conf.ca_file, &m->keys, &d);
        if (r < 0)
                return log_error("Verifier URLs: %s", diag_text(&d, strerror(-r))), EXIT_USAGE;
        return EXIT_OK;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

/* Sleeps usec, pinging the watchdog every half of its interval; false when asked to stop. */
static bool wait_next(uint64_t usec, uint64_t watchdog_usec) {
        uint64_t until = boottime_usec() + usec;

        while (!stop) {
                uint64_t now = boottime_usec(), chunk;
                struct timespec ts;

                if (now >= until)
                        return true;
                chunk = until - now;
                if (watchdog_usec)
                        chunk = MIN(chunk, watchdog_usec / 2);
                chunk = MIN(chunk, UINT64_C(1000000));
                ts = (struct timespec) { .tv_sec = (time_t) (chunk / 1000000),
                                         .tv_nsec = (long) (chunk % 1000000) * 1000 };
                (void) nanosleep(&ts, NULL);
                if (watchdog_usec)
                        (void) sd_notify(0, "WATCHDOG=1");
        }
        return false;
}

static void monitor_help(void) {
        printf("Usage: cvm-agent monitor [--config FILE] [--state-dir DIR] [--reference-dir DIR]\n"
               "                         [--once]\n"
               "\n"
               "Integrity monitoring: every Interval= (plus up to Jitter=), compares the PCRs and\n"
               "the event log with this boot's baseline and attests again with a fresh nonce;\n"
               "drift, a denial, no verifier reachable or no TPM raise one alert each (journal,\n"
               "webhook, exec hook; deduplicated), and their end one recovery. A denial says\n"
               "what changed since the known-good reference, which a permitted attestation of\n"
               "unmoved measurements (or `enroll`) records. State in /run/cvm-agent\n"
               "(--state-dir), the reference in /var/lib/cvm-agent (--reference-dir; with\n"
               "--state-dir alone, that directory). Under systemd: Type=notify, READY after the\n"
               "first cycle, WATCHDOG pings. --once: one cycle (for cvm-agent-monitor.timer);\n"
               "its exit status as `cvm-agent status`'s.\n");
}

int monitor_main(int argc, char **argv) {
        enum { ARG_CONFIG = 0x100, ARG_STATE_DIR, ARG_REFERENCE_DIR, ARG_ONCE };
        static const struct option options[] = {
                { "config", required_argument, NULL, ARG_CONFIG },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "reference-dir", required_argument, NULL, ARG_REFERENCE_DIR },
                { "once", no_argument, NULL, ARG_ONCE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *config = NULL, *state_dir = NULL, *reference_dir = NULL;
        uint64_t watchdog_usec = 0;
        bool once = false, ready = false;
        Monitor m = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONFIG:
                        config = optarg;
                        break;
                case ARG_STATE_DIR:
                        state_dir = optarg;
                        break;
                case ARG_REFERENCE_DIR:
                        reference_dir = optarg;
                        break;
                case ARG_ONCE:
                        once = true;
                        break;
                case 'h':
                        monitor_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc)
                return log_error("monitor: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
        r = monitor_setup(&m, config, state_dir, reference_dir);
        if (r == EXIT_OK)
                r = keys_setup(&m, NULL, 0);
        if (r != EXIT_OK) {
                monitor_done(&m);
                return r;
        }
        if (m.n_urls == 0)
                log_warning("No [Verifier] URL= configured: the monitor checks the measurements "
                            "only");
        if (once) {
                r = cycle(&m, NULL, 0);
                monitor_done(&m);
                return r;
        }
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);
        if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
                watchdog_usec = 0;
        log_info("Monitoring every %" PRIu64 " s (jitter up to %" PRIu64 " s), %zu verifier%s, "
                 "state in %s", m.conf.interval_usec / 1000000, m.conf.jitter_usec / 1000000,
                 m.n_urls, m.n_urls == 1 ? "" : "s", m.state_dir);
        while (!stop) {
                uint64_t rnd = 0, wait;

                (void) cycle(&m, NULL, 0);
                if (!ready) {
                        (void) sd_notify(0, "READY=1\nSTATUS=monitoring");
                        ready = true;
                }
                (void) RAND_bytes((uint8_t *) &rnd, sizeof(rnd));
                wait = m.conf.interval_usec +
                       (m.conf.jitter_usec ? rnd % (m.conf.jitter_usec + 1) : 0);
                if (!wait_next(wait, watchdog_usec))
                        break;
        }
        (void) sd_notify(0, "STOPPING=1");
        monitor_done(&m);
        return EXIT_OK;
}

static void attest_now_help(void) {
        printf("Usage: cvm-agent attest-now [--json] [--verifier URL]... [--config FILE]\n"
               "                            [--state-dir DIR] [--reference-dir DIR]\n"
               "\n"
               "One monitoring cycle now, each step printed with its time: the measurements\n"
               "against the baseline, the attestation (the configured verifiers in failover\n"
               "order, or --verifier), the verdict with its reasons (for a denial, what changed\n"
               "since the known-good reference). Alerts, the state and the reference are\n"
               "updated as the monitor does, so a running monitor sees the result. --json prints\n"
               "the new status.json instead. Exit status as `cvm-agent status`'s.\n");
}

int attest_now_main(int argc, char **argv) {
        enum { ARG_CONFIG = 0x100, ARG_STATE_DIR, ARG_REFERENCE_DIR, ARG_JSON, ARG_VERIFIER };
        static const struct option options[] = {
                { "config", required_argument, NULL, ARG_CONFIG },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "reference-dir", required_argument, NULL, ARG_REFERENCE_DIR },
                { "json", no_argument, NULL, ARG_JSON },
                { "verifier", required_argument, NULL, ARG_VERIFIER },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *config = NULL, *state_dir = NULL, *reference_dir = NULL;
        char *override[UNLOCK_VERIFIERS_MAX];
        size_t n_override = 0;
        bool json = false;
        Monitor m = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONFIG:
                        config = optarg;
                        break;
                case ARG_STATE_DIR:
                        state_dir = optarg;
                        break;
                case ARG_REFERENCE_DIR:
                        reference_dir = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_VERIFIER:
                        if (n_override >= UNLOCK_VERIFIERS_MAX)
                                return log_error("--verifier: at most %u", UNLOCK_VERIFIERS_MAX),
                                       EXIT_USAGE;
                        if (strncmp(optarg, "https://", 8) != 0 && strncmp(optarg, "http://", 7) != 0)
                                return log_error("--verifier: '%s' is not an http(s) URL", optarg),
                                       EXIT_USAGE;
                        override[n_override++] = optarg;
                        break;
                case 'h':
                        attest_now_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc)
                return log_error("attest-now: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
        r = monitor_setup(&m, config, state_dir, reference_dir);
        if (r == EXIT_OK)
                r = keys_setup(&m, override, n_override);
        if (r != EXIT_OK) {
                monitor_done(&m);
                return r;
        }
        m.print_steps = !json;
        r = cycle(&m, override, n_override);
        monitor_done(&m);
        if (json) {
                _cleanup_(freep) char *text = NULL;
                size_t size;

                if (state_read_file(m.state_dir, STATE_FILE_STATUS, STATE_STATUS_MAX, &text,
                                    &size) >= 0)
                        fputs(text, stdout);
        }
        return r;
}

/* ---- status ---- */

static void status_help(void) {
        printf("Usage: cvm-agent status [--json] [--state-dir DIR]\n"
               "\n"
               "What the last attestation found (the monitor's or attest-now's): the verdict and\n"
               "its reasons, when, its age, which verifier answered, a summary of the token's\n"
               "claims, drift from the boot baseline, for a denial what changed since the\n"
               "known-good reference, the open alerts and the volumes unlocked.\n"
               "Exit status: 0 healthy, 5 the last attestation was denied or the measurements\n"
               "drifted, 6 no verifier or no TPM could be reached (or nothing attested yet);\n"
               "drift outranks an unreachable verifier: it is known here, whoever answers.\n");
}

/* Active dm-crypt volumes (LUKS), as /sys/block/dm-N/dm/{name,uuid} tell. */
static int unlocked_volumes(json_object *arr) {
        for (unsigned i = 0; i < 256; i++) {
                char p[64], name[128] = "", uuid[160] = "";
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t n;

                (void) snprintf(p, sizeof(p), "/sys/block/dm-%u/dm/uuid", i);
                if (read_full_file(p, sizeof(uuid) - 1, &buf, &n) < 0)
                        continue;
                (void) snprintf(uuid, sizeof(uuid), "%.*s", (int) strcspn((char *) buf, "\n"),
                                (char *) buf);
                if (!startswith(uuid, "CRYPT-LUKS"))
                        continue;
                free(buf);
                buf = NULL;
                (void) snprintf(p, sizeof(p), "/sys/block/dm-%u/dm/name", i);
                if (read_full_file(p, sizeof(name) - 1, &buf, &n) >= 0)
                        (void) snprintf(name, sizeof(name), "%.*s",
                                        (int) strcspn((char *) buf, "\n"), (char *) buf);
                if (json_object_array_add(arr, json_object_new_string(name[0] ? name : uuid)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int status_main(int argc, char **argv) {
        enum { ARG_STATE_DIR = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "json", no_argument, NULL, ARG_JSON },
                { "config", required_argument, NULL, 'c' }, /* accepted, not needed */
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(monitor_status_done) MonitorStatus st = {};
        _cleanup_(alert_set_done) AlertSet open = {};
        _cleanup_(json_object_putp) json_object *doc = NULL, *volumes = json_object_new_array();
        const char *state_dir = STATE_DIR_DEFAULT;
        bool json = false, have;
        char when[32];
        int c, r, code;
        Diag d = {};

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_STATE_DIR:
                        state_dir = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'c':
                        break;
                case 'h':
                        status_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind < argc)
                return log_error("status: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
        r = state_status_load(state_dir, &st, &d);
        if (r < 0 && r != -ENOENT)
                return log_error("%s", diag_text(&d, strerror(-r))), exit_code_from_errno(r);
        have = r >= 0;
        d = (Diag) {};
        if (alert_state_load(state_dir, &open, &d) < 0)
                log_warning("%s", diag_text(&d, "the open alerts cannot be read"));
        if (!volumes || unlocked_volumes(volumes) < 0)
                return EXIT_INTERNAL;

        code = !have                                                   ? EXIT_UNAVAILABLE
               : st.verdict == STATE_VERDICT_DENIED || st.drifted > 0  ? EXIT_POLICY
               : st.verdict == STATE_VERDICT_UNREACHABLE ||
                                 st.verdict == STATE_VERDICT_TPM_UNAVAILABLE
                       ? EXIT_UNAVAILABLE
               : st.verdict == STATE_VERDICT_ALLOWED ? EXIT_OK
                                                     : EXIT_INTERNAL;
        if (json) {
                _cleanup_(freep) char *text = NULL;
                json_object *alerts = json_object_new_array();

                if (have && monitor_status_to_json(&st, &text) >= 0 &&
                    json_parse_capped(text, strlen(text), STATE_STATUS_MAX, 16, &doc) >= 0)
                        ;
                else
                        doc = json_object_new_object();
                if (!doc || !alerts || json_add(doc, "alerts", alerts) < 0 ||
                    json_add(doc, "volumes", json_object_get(volumes)) < 0 ||
                    json_add_string(doc, "health", code == EXIT_OK ? "healthy"
                                                   : code == EXIT_POLICY ? "denied-or-drifted"
                                                                         : "unavailable") < 0)
                        return EXIT_INTERNAL;
                for (size_t i = 0; i < open.n; i++) {
                        json_object *a = json_object_new_object();
                        format_rfc3339((time_t) open.items[i].since, when, sizeof(when));
                        if (json_object_array_add(alerts, a) < 0 ||
                            json_add_string(a, "key", open.items[i].key) < 0 ||
                            json_add_string(a, "since", when) < 0 ||
                            json_add_string(a, "message", open.items[i].message) < 0)
                                return EXIT_INTERNAL;
                }
                return json_print(stdout, doc) < 0 ? EXIT_INTERNAL : code;
        }
        if (!have) {
                printf("No attestation yet (nothing in %s).\n", state_dir);
        } else {
                int64_t age = st.last_attempt ? (int64_t) time(NULL) - st.last_attempt : -1;

                printf("Verdict:      %s%s\n", state_verdict_to_string(st.verdict),
                       st.drifted ? " (measurements drifted from the boot baseline)" : "");
                format_rfc3339((time_t) st.last_attempt, when, sizeof(when));
                printf("Last attempt: %s (%" PRId64 " s ago)\n", st.last_attempt ? when : "never",
                       age);
                format_rfc3339((time_t) st.last_success, when, sizeof(when));
                printf("Last success: %s\n", st.last_success ? when : "never");
                printf("Verifier:     %s\n", st.verifier ?: "(none answered)");
                for (size_t i = 0; i < st.n_reasons; i++)
                        printf("Reason:       %s\n", st.reasons[i]);
                if (st.token_expiry) {
                        format_rfc3339((time_t) st.token_expiry, when, sizeof(when));
                        printf("Token:        valid until %s\n", when);
                }
                if (st.claims) {
                        json_object_object_foreach(st.claims, k, v)
                                printf("  %-46s %s\n", k, json_object_get_string(v));
                }
                for (size_t i = 0; i < st.n_drift; i++)
                        printf("Drift:        %s\n", st.drift[i]);
                for (size_t i = 0; st.ref_checked && i < st.n_ref_lines; i++)
                        printf("%s%s\n", i == 0 ? "Reference:    " : "  ", st.ref_lines[i]);
        }
        printf("Open alerts:  %zu\n", open.n);
        for (size_t i = 0; i < open.n; i++) {
                format_rfc3339((time_t) open.items[i].since, when, sizeof(when));
                printf("  %s since %s: %.*s\n", open.items[i].key, when,
                       (int) strcspn(open.items[i].message, "\n"), open.items[i].message);
        }
        printf("Unlocked:     %zu volume%s", json_object_array_length(volumes),
               json_object_array_length(volumes) == 1 ? "" : "s");
        for (size_t i = 0; i < json_object_array_length(volumes); i++)
                printf("%s%s", i ? ", " : " (", json_object_get_string(json_object_array_get_idx(volumes, i)));
        printf("%s\n", json_object_array_length(volumes) ? ")" : "");
        return code;
}
