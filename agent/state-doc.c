/* SPDX-License-Identifier: Apache-2.0 */
/* status.json (agent/state.h): MonitorStatus to JSON and its strict reader. Pure. */
#include <inttypes.h>
#include <stdio.h>

#include <json-c/json.h>

#include "agent/state.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/time-util.h"
#include "vtpm/tpm-pcrs.h"

#define STATUS_VERSION 1

static const char *const verdicts[_STATE_VERDICT_MAX] = {
        [STATE_VERDICT_NONE] = "none",
        [STATE_VERDICT_ALLOWED] = "allowed",
        [STATE_VERDICT_DENIED] = "denied",
        [STATE_VERDICT_UNREACHABLE] = "unreachable",
        [STATE_VERDICT_TPM_UNAVAILABLE] = "tpm-unavailable",
        [STATE_VERDICT_ERROR] = "error",
};

const char *state_verdict_to_string(StateVerdict v) {
        if (v < 0 || v >= _STATE_VERDICT_MAX)
                return NULL;
        return verdicts[v];
}

StateVerdict state_verdict_from_string(const char *s) {
        for (size_t i = 0; s && i < _STATE_VERDICT_MAX; i++)
                if (streq(s, verdicts[i]))
                        return (StateVerdict) i;
        return _STATE_VERDICT_INVALID;
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void monitor_status_done(MonitorStatus *s) {
        if (!s)
                return;
        strv_free(s->reasons, s->n_reasons);
        strv_free(s->drift, s->n_drift);
        strv_free(s->ref_lines, s->n_ref_lines);
        free(s->verifier);
        json_object_put(s->claims);
        *s = (MonitorStatus){};
}

/* One line of printable UTF-8 (no control characters), 1..max bytes. */
static bool text_ok(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n;) {
                unsigned char c = p[i];
                size_t len;
                uint32_t cp;

                if (c < 0x20 || c == 0x7f)
                        return false;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        len = 2, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        len = 3, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        len = 4, cp = c & 0x07;
                else
                        return false;
                if (i + len > n)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i + k] & 0x3f);
                }
                /* overlong forms, surrogates, beyond U+10FFFF */
                if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += len;
        }
        return true;
}

static bool claims_ok(json_object *c) {
        if (!json_object_is_type(c, json_type_object) ||
            (size_t) json_object_object_length(c) > STATE_CLAIMS_MAX)
                return false;
        json_object_object_foreach(c, k, v) {
                if (!text_ok(k, STATE_CLAIM_NAME_MAX))
                        return false;
                switch (json_object_get_type(v)) {
                case json_type_null:
                case json_type_boolean:
                case json_type_int:
                        break;
                case json_type_string:
                        if (!text_ok(json_object_get_string(v), STATE_CLAIM_VALUE_MAX) &&
                            json_object_get_string_len(v) != 0)
                                return false;
                        break;
                default:
                        return false;
                }
        }
        return true;
}

static int add_time(json_object *o, const char *key, int64_t t) {
        char buf[32];

        if (t == 0)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        format_rfc3339((time_t) t, buf, sizeof(buf));
        return json_add_string(o, key, buf);
}

static int add_strv(json_object *o, const char *key, char *const *v, size_t n) {
        json_object *a = json_object_new_array();

        if (json_add(o, key, a) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *s = json_object_new_string(v[i]);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
        }
        return 0;
}

static int add_pcr_list(json_object *o, const char *key, uint32_t mask) {
        json_object *pcrs = json_object_new_array();

        if (json_add(o, key, pcrs) < 0)
                return -ENOMEM;
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                if (mask & (UINT32_C(1) << i)) {
                        json_object *n = json_object_new_int(i);

                        if (!n || json_object_array_add(pcrs, n) < 0) {
                                json_object_put(n);
                                return -ENOMEM;
                        }
                }
        return 0;
}

static int add_reference(json_object *o, const MonitorStatus *s) {
        json_object *ref = json_object_new_object();
        const char *src = drift_source_to_string(s->ref_source);

        if (json_add(o, "reference", ref) < 0)
                return -ENOMEM;
        if ((src ? json_add_string(ref, "source", src) < 0
                 : json_object_object_add(ref, "source", NULL) < 0) ||
            add_time(ref, "time", src ? s->ref_time : 0) < 0 ||
            add_pcr_list(ref, "pcrs", s->ref_changed) < 0 ||
            add_strv(ref, "lines", s->ref_lines, s->n_ref_lines) < 0)
                return -ENOMEM;
        return 0;
}

int monitor_status_to_json(const MonitorStatus *s, char **ret_text) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *drift;
        const char *text;

        if (!s || !ret_text || !state_verdict_to_string(s->verdict) || s->last_attempt < 0 ||
            s->last_success < 0 || s->token_expiry < 0 || s->n_reasons > STATE_REASONS_MAX ||
            s->n_drift > STATE_DRIFT_LINES_MAX || (s->drifted >> TPM_PCR_COUNT) != 0 ||
            (s->verifier && !text_ok(s->verifier, STATE_URL_MAX)) ||
            (s->claims && !claims_ok(s->claims)) || (s->claims && s->token_expiry == 0))
                return -EINVAL;
        if (s->ref_checked &&
            ((s->ref_source != _DRIFT_SOURCE_INVALID &&
              (!drift_source_to_string(s->ref_source) || s->ref_source == DRIFT_SOURCE_BOOT ||
               s->ref_time <= 0)) ||
             (s->ref_source == _DRIFT_SOURCE_INVALID && s->ref_changed != 0) ||
             (s->ref_changed >> TPM_PCR_COUNT) != 0 || s->n_ref_lines > STATE_REF_LINES_MAX))
                return -EINVAL;
        for (size_t i = 0; s->ref_checked && i < s->n_ref_lines; i++)
                if (!text_ok(s->ref_lines[i], STATE_DRIFT_LINE_MAX))
                        return -EINVAL;
        for (size_t i = 0; i < s->n_reasons; i++)
                if (!text_ok(s->reasons[i], STATE_REASON_MAX))
                        return -EINVAL;
        for (size_t i = 0; i < s->n_drift; i++)
                if (!text_ok(s->drift[i], STATE_DRIFT_LINE_MAX))
                        return -EINVAL;
        if (!o)
                return -ENOMEM;
        if (json_add_int(o, "version", STATUS_VERSION) < 0 ||
            add_time(o, "last_attempt", s->last_attempt) < 0 ||
            add_time(o, "last_success", s->last_success) < 0 ||
            json_add_string(o, "verdict", state_verdict_to_string(s->verdict)) < 0 ||
            add_strv(o, "reasons", s->reasons, s->n_reasons) < 0)
                return -ENOMEM;
        if (s->verifier ? json_add_string(o, "verifier", s->verifier) < 0
                        : json_object_object_add(o, "verifier", NULL) < 0)
                return -ENOMEM;
        if (s->token_expiry > 0) {
                json_object *t = json_object_new_object();

                if (json_add(o, "token", t) < 0 || add_time(t, "expires", s->token_expiry) < 0)
                        return -ENOMEM;
                if (s->claims ? json_add(t, "claims", json_object_get(s->claims)) < 0
                              : json_object_object_add(t, "claims", NULL) < 0)
                        return -ENOMEM;
        } else if (json_object_object_add(o, "token", NULL) < 0)
                return -ENOMEM;
        drift = json_object_new_object();
        if (json_add(o, "drift", drift) < 0)
                return -ENOMEM;
        if (add_pcr_list(drift, "pcrs", s->drifted) < 0 ||
            add_strv(drift, "lines", s->drift, s->n_drift) < 0)
                return -ENOMEM;
        if (s->ref_checked && add_reference(o, s) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text || asprintf(ret_text, "%s\n", text) < 0)
                return -ENOMEM;
        return 0;
}

/* A time as format_rfc3339 writes it, or null (0) when nullable. */
static int strict_time(json_object *v, bool nullable, int64_t *ret) {
        char again[32];
        time_t t;

        if (!v && nullable) {
                *ret = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string) ||
            parse_rfc3339(json_object_get_string(v), &t) < 0 || t <= 0)
                return -EBADMSG;
        format_rfc3339(t, again, sizeof(again));
        if (!streq(again, json_object_get_string(v)))
                return -EBADMSG;
        *ret = (int64_t) t;
        return 0;
}

static int strict_strv(json_object *a, size_t max_n, size_t max_len, char ***ret, size_t *ret_n) {
        char **v;
        size_t n;

        if (!json_object_is_type(a, json_type_array))
                return -EBADMSG;
        n = json_object_array_length(a);
        if (n > max_n)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);

                if (!json_object_is_type(e, json_type_string) ||
                    !text_ok(json_object_get_string(e), max_len))
                        return -EBADMSG;
        }
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                v[i] = strdup(json_object_get_string(json_object_array_get_idx(a, i)));
                if (!v[i]) {
                        strv_free(v, i);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* An array of distinct PCR indices into *ret; what is wrong with it, named by what. */
static int strict_pcr_list(json_object *a, const char *what, uint32_t *ret, Diag *d) {
        uint32_t mask = 0;

        if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > TPM_PCR_COUNT)
                return diag_set(d, -EBADMSG, "status: %s: not an array of PCR indices", what);
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *p = json_object_array_get_idx(a, i);
                int64_t n;

                if (!json_object_is_type(p, json_type_int) || (n = json_object_get_int64(p)) < 0 ||
                    n >= TPM_PCR_COUNT || (mask & (UINT32_C(1) << n)))
                        return diag_set(d, -EBADMSG,
                                        "status: %s[%zu]: not a PCR index, or one twice", what, i);
                mask |= UINT32_C(1) << n;
        }
        *ret = mask;
        return 0;
}

/* The member key of o, which must be there (NULL value allowed). */
static bool member(json_object *o, const char *key, json_object **ret) {
        return json_object_object_get_ex(o, key, ret);
}

/* "reference": what a denial was compared with, and what changed since. */
static int strict_reference(json_object *v, MonitorStatus *s, Diag *d) {
        static const char *const members[] = {"source", "time", "pcrs", "lines"};
        char buf[DIAG_PRINTABLE_MAX + 4];
        json_object *w;
        const char *u;
        int r;

        if (!json_object_is_type(v, json_type_object))
                return diag_set(d, -EBADMSG, "status: reference: not an object");
        u = json_unknown_member(v, members, ELEMENTSOF(members));
        if (u)
                return diag_set(d, -EBADMSG, "status: reference: unknown member \"%s\"",
                                diag_printable(u, strlen(u), buf));
        if (!member(v, "source", &w))
                return diag_set(d, -EBADMSG, "status: reference.source: missing");
        s->ref_source = _DRIFT_SOURCE_INVALID;
        if (w && (!json_object_is_type(w, json_type_string) ||
                  (s->ref_source = drift_source_from_string(json_object_get_string(w))) < 0 ||
                  s->ref_source == DRIFT_SOURCE_BOOT))
                return diag_set(d, -EBADMSG,
                                "status: reference.source: not null, \"enrollment\" or "
                                "\"accepted\"");
        if (!member(v, "time", &w) || strict_time(w, true, &s->ref_time) < 0 ||
            (s->ref_time == 0) != (s->ref_source == _DRIFT_SOURCE_INVALID))
                return diag_set(d, -EBADMSG,
                                "status: reference.time: not a time YYYY-MM-DDTHH:MM:SSZ with "
                                "a source, or null without");
        if (!member(v, "pcrs", &w))
                return diag_set(d, -EBADMSG, "status: reference.pcrs: missing");
        r = strict_pcr_list(w, "reference.pcrs", &s->ref_changed, d);
        if (r < 0)
                return r;
        if (s->ref_changed != 0 && s->ref_source == _DRIFT_SOURCE_INVALID)
                return diag_set(d, -EBADMSG, "status: reference.pcrs: not empty without a source");
        if (!member(v, "lines", &w))
                return diag_set(d, -EBADMSG, "status: reference.lines: missing");
        r = strict_strv(w, STATE_REF_LINES_MAX, STATE_DRIFT_LINE_MAX, &s->ref_lines,
                        &s->n_ref_lines);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG,
                                "status: reference.lines: not an array of at most %u lines",
                                STATE_REF_LINES_MAX);
        s->ref_checked = true;
        return 0;
}

int monitor_status_parse(const char *text, size_t size, MonitorStatus *ret, Diag *d) {
        /* Every member but the last must be there. */
        static const char *const top[] = {"version", "last_attempt", "last_success",
                                          "verdict", "reasons",      "verifier",
                                          "token",   "drift",        "reference"};
        static const char *const token_members[] = {"expires", "claims"};
        static const char *const drift_members[] = {"pcrs", "lines"};
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(monitor_status_done) MonitorStatus s = {};
        char buf[DIAG_PRINTABLE_MAX + 4];
        json_object *v, *w;
        const char *u;
        int r;

        if (!text || !ret)
                return -EINVAL;
        r = json_parse_versioned(text, size, STATE_STATUS_MAX, 4, "status", top, ELEMENTSOF(top),
                                 STATUS_VERSION, &o, d);
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < ELEMENTSOF(top); i++)
                if (!member(o, top[i], &v))
                        return diag_set(d, -EBADMSG, "status: %s: missing", top[i]);
        member(o, "last_attempt", &v);
        if (strict_time(v, true, &s.last_attempt) < 0)
                return diag_set(d, -EBADMSG,
                                "status: last_attempt: not null or a time "
                                "YYYY-MM-DDTHH:MM:SSZ");
        member(o, "last_success", &v);
        if (strict_time(v, true, &s.last_success) < 0)
                return diag_set(d, -EBADMSG,
                                "status: last_success: not null or a time "
                                "YYYY-MM-DDTHH:MM:SSZ");
        member(o, "verdict", &v);
        if (!json_object_is_type(v, json_type_string) ||
            (s.verdict = state_verdict_from_string(json_object_get_string(v))) < 0)
                return diag_set(d, -EBADMSG,
                                "status: verdict: not one of none, allowed, denied, "
                                "unreachable, tpm-unavailable, error");
        member(o, "reasons", &v);
        r = strict_strv(v, STATE_REASONS_MAX, STATE_REASON_MAX, &s.reasons, &s.n_reasons);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG, "status: reasons: not an array of at most %u lines",
                                STATE_REASONS_MAX);
        member(o, "verifier", &v);
        if (v) {
                if (!json_object_is_type(v, json_type_string) ||
                    !text_ok(json_object_get_string(v), STATE_URL_MAX))
                        return diag_set(d, -EBADMSG, "status: verifier: not null or a URL");
                s.verifier = strdup(json_object_get_string(v));
                if (!s.verifier)
                        return -ENOMEM;
        }
        member(o, "token", &v);
        if (v) {
                if (!json_object_is_type(v, json_type_object))
                        return diag_set(d, -EBADMSG, "status: token: not null or an object");
                u = json_unknown_member(v, token_members, ELEMENTSOF(token_members));
                if (u)
                        return diag_set(d, -EBADMSG, "status: token: unknown member \"%s\"",
                                        diag_printable(u, strlen(u), buf));
                if (!member(v, "expires", &w) || strict_time(w, false, &s.token_expiry) < 0)
                        return diag_set(d, -EBADMSG,
                                        "status: token.expires: not a time "
                                        "YYYY-MM-DDTHH:MM:SSZ");
                if (!member(v, "claims", &w))
                        return diag_set(d, -EBADMSG, "status: token.claims: missing");
                if (w) {
                        if (!claims_ok(w))
                                return diag_set(d, -EBADMSG,
                                                "status: token.claims: not an object "
                                                "of at most %u strings, integers, booleans or "
                                                "nulls",
                                                STATE_CLAIMS_MAX);
                        s.claims = json_object_get(w);
                }
        }
        member(o, "drift", &v);
        if (!json_object_is_type(v, json_type_object))
                return diag_set(d, -EBADMSG, "status: drift: not an object");
        u = json_unknown_member(v, drift_members, ELEMENTSOF(drift_members));
        if (u)
                return diag_set(d, -EBADMSG, "status: drift: unknown member \"%s\"",
                                diag_printable(u, strlen(u), buf));
        if (!member(v, "pcrs", &w))
                return diag_set(d, -EBADMSG, "status: drift.pcrs: missing");
        r = strict_pcr_list(w, "drift.pcrs", &s.drifted, d);
        if (r < 0)
                return r;
        if (!member(v, "lines", &w))
                return diag_set(d, -EBADMSG, "status: drift.lines: missing");
        r = strict_strv(w, STATE_DRIFT_LINES_MAX, STATE_DRIFT_LINE_MAX, &s.drift, &s.n_drift);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG,
                                "status: drift.lines: not an array of at most %u "
                                "lines",
                                STATE_DRIFT_LINES_MAX);
        if (member(o, "reference", &v)) {
                r = strict_reference(v, &s, d);
                if (r < 0)
                        return r;
        }
        *ret = s;
        s = (MonitorStatus){};
        return 0;
}
