/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "agent/drift.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "vtpm/efi-decode.h"
#include "vtpm/eventlog.h"

#define BASELINE_VERSION 1
/* The longest-common-subsequence table per PCR; longer runs of differing entries are shown as
 * all removed and all added. */
#define LCS_CELLS_MAX (1u << 20)
/* Certificates named one per line in a signature database change; the rest are counted. */
#define CERTS_NAMED_MAX 8u
/* Text quoted from an event (a command line, a path, a summary). */
#define QUOTE_MAX 160u
/* Digest bytes shown. */
#define DIGEST_SHOWN 8u

static const char *const source_names[_DRIFT_SOURCE_MAX] = {
        [DRIFT_SOURCE_BOOT] = "boot",
        [DRIFT_SOURCE_ENROLLMENT] = "enrollment",
        [DRIFT_SOURCE_ACCEPTED] = "accepted",
};

const char *drift_source_to_string(DriftSource s) {
        if (s < 0 || s >= _DRIFT_SOURCE_MAX)
                return NULL;
        return source_names[s];
}

DriftSource drift_source_from_string(const char *s) {
        for (size_t i = 0; s && i < _DRIFT_SOURCE_MAX; i++)
                if (streq(s, source_names[i]))
                        return (DriftSource) i;
        return _DRIFT_SOURCE_INVALID;
}

const char *drift_pcr_list(uint32_t mask, char buf[static DRIFT_PCR_LIST_SIZE]) {
        size_t n = 0;

        buf[0] = '\0';
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                if (mask & (UINT32_C(1) << i)) {
                        int k = snprintf(buf + n, DRIFT_PCR_LIST_SIZE - n, "%s%u", n ? "," : "", i);
                        if (k < 0 || (size_t) k >= DRIFT_PCR_LIST_SIZE - n)
                                break;
                        n += (size_t) k;
                }
        return buf;
}

/* ---- baseline ---- */

DriftBaseline *drift_baseline_free(DriftBaseline *b) {
        if (b) {
                eventlog_free(b->log);
                free(b->eventlog);
                free(b);
        }
        return NULL;
}

void drift_baseline_freep(DriftBaseline **b) {
        *b = drift_baseline_free(*b);
}

/* Checks a PCR set and sorts its banks by algorithm. */
static int pcr_set_normalize(const TpmPcrSet *in, TpmPcrSet *out) {
        bool any = false;

        if (in->n_banks == 0 || in->n_banks > TPM_MAX_BANKS)
                return -EINVAL;
        *out = *in;
        for (size_t i = 0; i < out->n_banks; i++) {
                const TpmPcrBank *b = &out->banks[i];

                if (!tpm_alg_hash_name(b->alg) || b->size != tpm_alg_digest_size(b->alg) ||
                    (b->mask >> TPM_PCR_COUNT) != 0)
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (out->banks[j].alg == b->alg)
                                return -EINVAL;
                any = any || b->mask != 0;
        }
        if (!any)
                return -EINVAL;
        for (size_t i = 1; i < out->n_banks; i++)
                for (size_t j = i; j > 0 && out->banks[j - 1].alg > out->banks[j].alg; j--) {
                        TpmPcrBank t = out->banks[j];
                        out->banks[j] = out->banks[j - 1];
                        out->banks[j - 1] = t;
                }
        return 0;
}

int drift_baseline_new(DriftSource source, int64_t time, const TpmPcrSet *pcrs,
                       const uint8_t *eventlog, size_t eventlog_size, DriftBaseline **ret,
                       Diag *d) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        int r;

        if (!pcrs || !ret || !drift_source_to_string(source) || (!eventlog && eventlog_size > 0))
                return -EINVAL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->source = source;
        b->time = time;
        r = pcr_set_normalize(pcrs, &b->pcrs);
        if (r < 0)
                return diag_set(d, r,
                                "baseline: no PCR values, or a bank that is unknown, "
                                "repeated or of the wrong digest size");
        if (eventlog) {
                if (eventlog_size > EVENTLOG_MAX_SIZE)
                        return diag_set(d, -E2BIG, "baseline: event log of %zu bytes, at most %u",
                                        eventlog_size, EVENTLOG_MAX_SIZE);
                b->eventlog = malloc(MAX(eventlog_size, (size_t) 1));
                if (!b->eventlog)
                        return -ENOMEM;
                memcpy(b->eventlog, eventlog, eventlog_size);
                b->eventlog_size = eventlog_size;
                r = eventlog_parse(b->eventlog, b->eventlog_size, &b->log, d);
                if (r < 0)
                        return diag_prefix(d, r, "baseline: event log");
        }
        *ret = TAKE_PTR(b);
        return 0;
}

bool drift_baseline_same(const DriftBaseline *a, const DriftBaseline *b) {
        if (!a || !b || a->pcrs.n_banks != b->pcrs.n_banks ||
            a->eventlog_size != b->eventlog_size || !a->eventlog != !b->eventlog)
                return false;
        if (a->eventlog && memcmp(a->eventlog, b->eventlog, a->eventlog_size) != 0)
                return false;
        /* Both normalised: banks in ascending algorithm order. */
        for (size_t i = 0; i < a->pcrs.n_banks; i++) {
                const TpmPcrBank *x = &a->pcrs.banks[i], *y = &b->pcrs.banks[i];

                if (x->alg != y->alg || x->size != y->size || x->mask != y->mask)
                        return false;
                for (unsigned k = 0; k < TPM_PCR_COUNT; k++)
                        if ((x->mask & (UINT32_C(1) << k)) &&
                            memcmp(x->value[k], y->value[k], x->size) != 0)
                                return false;
        }
        return true;
}

int drift_baseline_to_json(const DriftBaseline *b, char **ret_text) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(freep) char *log64 = NULL;
        json_object *pcrs = NULL;
        char when[32];
        const char *s;
        char *text;
        int r;

        if (!o)
                return -ENOMEM;
        format_rfc3339((time_t) b->time, when, sizeof(when));
        if (json_add_int(o, "version", BASELINE_VERSION) < 0 ||
            json_add_string(o, "source", drift_source_to_string(b->source)) < 0 ||
            json_add_string(o, "time", when) < 0)
                return -ENOMEM;
        r = tpm_pcrs_to_json(&b->pcrs, &pcrs);
        if (r < 0)
                return r;
        if (json_add(o, "pcrs", pcrs) < 0)
                return -ENOMEM;
        if (b->eventlog) {
                uint8_t md[SHA256_DIGEST_LENGTH];

                r = base64url_encode(b->eventlog, b->eventlog_size, &log64);
                if (r < 0)
                        return r;
                if (EVP_Digest(b->eventlog, b->eventlog_size, md, NULL, EVP_sha256(), NULL) != 1)
                        return -ENOMEM;
                if (json_add_string(o, "eventlog", log64) < 0 ||
                    json_add_hex(o, "eventlog_sha256", md, sizeof(md)) < 0)
                        return -ENOMEM;
        } else if (json_object_object_add(o, "eventlog", NULL) < 0 ||
                   json_object_object_add(o, "eventlog_sha256", NULL) < 0)
                return -ENOMEM;
        s = json_object_to_json_string_ext(o,
                                           JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s || asprintf(&text, "%s\n", s) < 0)
                return -ENOMEM;
        *ret_text = text;
        return 0;
}

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* "0".."23" exactly (no sign, no leading zero). */
static int pcr_index_parse(const char *s, unsigned *ret) {
        uint32_t v;

        if (!s[0] || (s[0] == '0' && s[1]) || s[0] < '0' || s[0] > '9' || safe_atou32(s, &v) < 0 ||
            v >= TPM_PCR_COUNT)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int strict_pcrs(json_object *v, TpmPcrSet *ret, Diag *d) {
        TpmPcrSet set = {};
        char buf[DIAG_PRINTABLE_MAX + 4];

        if (!json_object_is_type(v, json_type_object))
                return diag_set(d, -EBADMSG, "baseline: pcrs: not an object");
        json_object_object_foreach(v, bank, vals) {
                uint16_t alg = tpm_alg_from_name(bank);
                TpmPcrBank *b;

                if (!alg || !tpm_alg_hash_name(alg) || !streq(bank, tpm_alg_hash_name(alg)))
                        return diag_set(d, -EBADMSG, "baseline: pcrs: \"%s\" is not a bank name",
                                        diag_printable(bank, strlen(bank), buf));
                if (set.n_banks >= TPM_MAX_BANKS)
                        return diag_set(d, -EBADMSG, "baseline: pcrs: too many banks");
                b = &set.banks[set.n_banks++];
                *b = (TpmPcrBank){.alg = alg, .size = tpm_alg_digest_size(alg)};
                if (!json_object_is_type(vals, json_type_object))
                        return diag_set(d, -EBADMSG, "baseline: pcrs.%s: not an object", bank);
                json_object_object_foreach(vals, idx, hex) {
                        unsigned i;

                        if (pcr_index_parse(idx, &i) < 0)
                                return diag_set(d, -EBADMSG,
                                                "baseline: pcrs.%s: \"%s\" is not a "
                                                "PCR index",
                                                bank, diag_printable(idx, strlen(idx), buf));
                        if (!json_object_is_type(hex, json_type_string) ||
                            (size_t) json_object_get_string_len(hex) != 2u * b->size ||
                            !is_lower_hex(json_object_get_string(hex), 2u * b->size) ||
                            hex_decode_exact(json_object_get_string(hex), b->value[i], b->size) < 0)
                                return diag_set(d, -EBADMSG,
                                                "baseline: pcrs.%s.%u: not %u bytes "
                                                "in lower-case hex",
                                                bank, i, b->size);
                        b->mask |= UINT32_C(1) << i;
                }
        }
        if (pcr_set_normalize(&set, ret) < 0)
                return diag_set(d, -EBADMSG, "baseline: pcrs: no PCR values");
        return 0;
}

int drift_baseline_parse(const char *text, size_t size, DriftBaseline **ret, Diag *d) {
        static const char *const members[] = {"version", "source",   "time",
                                              "pcrs",    "eventlog", "eventlog_sha256"};
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL;
        _cleanup_(freep) uint8_t *log = NULL;
        _cleanup_(freep) char *again = NULL;
        json_object *v, *sum;
        char when[32];
        const char *s;
        DriftSource source;
        TpmPcrSet pcrs;
        size_t log_size = 0;
        time_t t;
        int r;

        if (!text || !ret)
                return -EINVAL;
        r = json_parse_versioned(text, size, DRIFT_BASELINE_MAX, 4, "baseline", members,
                                 ELEMENTSOF(members), BASELINE_VERSION, &o, d);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "source", &v) ||
            !json_object_is_type(v, json_type_string) ||
            (source = drift_source_from_string(json_object_get_string(v))) < 0)
                return diag_set(d, -EBADMSG,
                                "baseline: source: missing or not \"boot\", "
                                "\"enrollment\" or \"accepted\"");
        if (!json_object_object_get_ex(o, "time", &v) ||
            !json_object_is_type(v, json_type_string) ||
            parse_rfc3339(json_object_get_string(v), &t) < 0)
                return diag_set(d, -EBADMSG, "baseline: time: missing or not a time");
        format_rfc3339(t, when, sizeof(when));
        if (!streq(when, json_object_get_string(v)))
                return diag_set(d, -EBADMSG,
                                "baseline: time: not in the form "
                                "YYYY-MM-DDTHH:MM:SSZ");
        if (!json_object_object_get_ex(o, "pcrs", &v))
                return diag_set(d, -EBADMSG, "baseline: pcrs: missing");
        r = strict_pcrs(v, &pcrs, d);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "eventlog", &v) ||
            !json_object_object_get_ex(o, "eventlog_sha256", &sum))
                return diag_set(d, -EBADMSG, "baseline: eventlog or eventlog_sha256: missing");
        if (v || sum) {
                uint8_t md[SHA256_DIGEST_LENGTH], want[SHA256_DIGEST_LENGTH];
                size_t n;

                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "baseline: eventlog: not a string or null");
                n = (size_t) json_object_get_string_len(v);
                s = json_object_get_string(v);
                for (size_t i = 0; i < n; i++)
                        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_",
                                    s[i]))
                                return diag_set(d, -EBADMSG, "baseline: eventlog: not base64url");
                r = base64url_decode(s, n, EVENTLOG_MAX_SIZE, &log, &log_size);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return diag_set(d, -EBADMSG,
                                        "baseline: eventlog: not base64url of at "
                                        "most %u bytes",
                                        EVENTLOG_MAX_SIZE);
                /* One spelling only: what decodes must encode back to the same text. */
                r = base64url_encode(log, log_size, &again);
                if (r < 0)
                        return r;
                if (!streq(again, s))
                        return diag_set(d, -EBADMSG, "baseline: eventlog: not canonical base64url");
                if (!json_object_is_type(sum, json_type_string) ||
                    json_object_get_string_len(sum) != 2 * SHA256_DIGEST_LENGTH ||
                    !is_lower_hex(json_object_get_string(sum), 2 * SHA256_DIGEST_LENGTH) ||
                    hex_decode_exact(json_object_get_string(sum), want, sizeof(want)) < 0)
                        return diag_set(d, -EBADMSG,
                                        "baseline: eventlog_sha256: not a SHA-256 in "
                                        "lower-case hex");
                if (EVP_Digest(log, log_size, md, NULL, EVP_sha256(), NULL) != 1)
                        return -ENOMEM;
                if (memcmp(md, want, sizeof(md)) != 0)
                        return diag_set(d, -EBADMSG,
                                        "baseline: eventlog_sha256 does not match the "
                                        "event log");
        }
        r = drift_baseline_new(source, (int64_t) t, &pcrs, log, log_size, &b, d);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        *ret = TAKE_PTR(b);
        return 0;
}

/* ---- text ---- */

/* Appends untrusted text as one line: control characters become spaces, runs of white space one
 * space, at most max bytes (cut on a character boundary, "..." marking the cut). */
static void quote_append(TextBuf *t, const char *s, size_t max) {
        size_t start = t->len, n = 0;
        bool space = false;

        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c < 0x20 || c == 0x7f || c == ' ') {
                        space = n > 0;
                        continue;
                }
                if (n >= max) {
                        /* back off to the start of a UTF-8 character */
                        while (t->len > start && ((unsigned char) t->s[t->len - 1] & 0xc0) == 0x80)
                                t->len--;
                        if (t->len > start)
                                t->len--;
                        if (t->s)
                                t->s[t->len] = '\0';
                        text_buf_puts(t, "...");
                        return;
                }
                if (space) {
                        text_buf_append(t, " ", 1);
                        n++;
                        space = false;
                }
                text_buf_append(t, (const char *) &c, 1);
                n++;
        }
}

typedef struct Lines {
        DriftPcr *p;
        size_t extra; /* lines over the cap, summarised at the end */
        bool closing; /* adding that summary, which takes the last place */
        int error;
} Lines;

static void line_add(Lines *l, const char *fmt, ...) _printf_(2, 3);
static void line_add(Lines *l, const char *fmt, ...) {
        DriftPcr *p = l->p;
        char buf[DRIFT_LINE_MAX + 1];
        va_list ap;
        char **a, *s;
        int k;

        if (l->error < 0)
                return;
        if (p->n_lines >= DRIFT_LINES_PER_PCR_MAX - !l->closing) {
                l->extra++;
                return;
        }
        va_start(ap, fmt);
        k = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (k < 0) {
                l->error = -EINVAL;
                return;
        }
        if ((size_t) k > DRIFT_LINE_MAX) {
                size_t n = DRIFT_LINE_MAX - 3;

                while (n > 0 && ((unsigned char) buf[n] & 0xc0) == 0x80)
                        n--;
                memcpy(buf + n, "...", 4);
        }
        s = strdup(buf);
        a = s ? reallocarray(p->lines, p->n_lines + 1, sizeof(char *)) : NULL;
        if (!a) {
                free(s);
                l->error = -ENOMEM;
                return;
        }
        p->lines = a;
        p->lines[p->n_lines++] = s;
}

static int lines_finish(Lines *l) {
        if (l->error == 0 && l->extra > 0) {
                size_t extra = l->extra;

                l->extra = 0;
                l->closing = true;
                line_add(l, "PCR %u: ... and %zu more difference%s", l->p->pcr, extra,
                         extra == 1 ? "" : "s");
                l->closing = false;
        }
        return l->error;
}

/* ---- events ---- */

static const TcgEventDigest *event_digest(const TcgEvent *e, uint16_t alg) {
        for (size_t i = 0; i < e->n_digests; i++)
                if (e->digests[i].alg == alg)
                        return &e->digests[i];
        return NULL;
}

/* The same measurement: the type and every digest. Not the event data: what was extended is the
 * digest, and the data of some events is not what their digest covers and changes from boot to
 * boot without anything being different (an image load event, EV_EFI_BOOT_SERVICES_APPLICATION,
 * holds the image's load address; the digest is of the image). */
static bool events_equal(const TcgEvent *a, const TcgEvent *b) {
        if (a->type != b->type || a->n_digests != b->n_digests)
                return false;
        for (size_t i = 0; i < a->n_digests; i++) {
                const TcgEventDigest *o = event_digest(b, a->digests[i].alg);

                if (!o || o->size != a->digests[i].size ||
                    memcmp(o->digest, a->digests[i].digest, o->size) != 0)
                        return false;
        }
        return true;
}

/* The events that extend PCR pcr, in log order (EV_NO_ACTION extends nothing). */
static int pcr_events(const EventLog *log, unsigned pcr, size_t **ret, size_t *ret_n) {
        size_t n = 0, *v;

        for (size_t i = 0; log && i < log->n_events; i++)
                n += log->events[i].pcr == pcr && log->events[i].type != EV_NO_ACTION;
        v = calloc(MAX(n, (size_t) 1), sizeof(size_t));
        if (!v)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; log && i < log->n_events; i++)
                if (log->events[i].pcr == pcr && log->events[i].type != EV_NO_ACTION)
                        v[n++] = i;
        *ret = v;
        *ret_n = n;
        return 0;
}

typedef enum EventClass {
        CLASS_VARIABLE,
        CLASS_AUTHORITY,
        CLASS_APPLICATION,
        CLASS_CMDLINE,
        CLASS_GRUB_CMD,
        CLASS_FILE,
        CLASS_SEPARATOR,
        CLASS_OTHER,
} EventClass;

/* What we know of one event that differs. */
typedef struct EventInfo {
        const EventLog *log;
        size_t idx;
        json_object *j;       /* eventlog_event_to_json, NULL if it could not be made */
        json_object *decoded; /* borrowed from j, may be NULL */
        EventClass cls;
        char *label;  /* "db", "Boot0001", a device path, "kernel command line" */
        char *text;   /* the command line, grub command or path */
        char *exact;  /* pairing keys: the same thing ... */
        char *coarse; /* ... or the same kind of thing */
        bool paired;
} EventInfo;

static void event_info_done(EventInfo *e) {
        json_object_put(e->j);
        free(e->label);
        free(e->text);
        free(e->exact);
        free(e->coarse);
        *e = (EventInfo){};
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static const char *event_summary(const EventInfo *e) {
        return jstr(e->j, "summary") ?: "";
}

static const char *type_name(uint32_t type, char buf[static 16]) {
        const char *s = eventlog_type_to_string(type);

        if (s)
                return s;
        (void) snprintf(buf, 16, "0x%08" PRIx32, type);
        return buf;
}

/* The bank an event's digest is shown in: alg when the event has it, else its first. */
static void digest_short(const TcgEvent *e, uint16_t alg, char buf[static 2 * DIGEST_SHOWN + 4]) {
        const TcgEventDigest *g = event_digest(e, alg);

        if (!g && e->n_digests > 0)
                g = &e->digests[0];
        if (!g) {
                (void) snprintf(buf, 2 * DIGEST_SHOWN + 4, "none");
                return;
        }
        hex_encode_buf(g->digest, MIN((size_t) g->size, (size_t) DIGEST_SHOWN), buf);
        if (g->size > DIGEST_SHOWN)
                memcpy(buf + 2 * DIGEST_SHOWN, "...", 4);
}

static char *quoted(const char *s) {
        TextBuf t = {};

        quote_append(&t, s ?: "", QUOTE_MAX);
        if (t.error < 0) {
                text_buf_done(&t);
                return NULL;
        }
        if (!t.s)
                return strdup("");
        return t.s;
}

/* A boot application by its file path when the device path has File() nodes
 * ("\EFI\ubuntu\shimx64.efi"), else by the whole device path. */
static char *image_label(const char *device_path) {
        _cleanup_(freep) char *path = NULL;
        TextBuf t = {};

        for (const char *p = device_path; (p = strstr(p, "File("));) {
                const char *end = strchr(p + 5, ')');

                if (!end)
                        break;
                if (t.len > 0 && t.s[t.len - 1] != '\\' && p[5] != '\\')
                        text_buf_puts(&t, "\\");
                text_buf_append(&t, p + 5, (size_t) (end - p - 5));
                p = end;
        }
        if (t.error < 0) {
                text_buf_done(&t);
                return NULL;
        }
        if (t.len == 0)
                return quoted(device_path);
        path = t.s;
        return quoted(path);
}

static int set_keys(EventInfo *e, const char *exact, const char *coarse) {
        e->exact = strdup(exact);
        e->coarse = strdup(coarse);
        return e->exact && e->coarse ? 0 : -ENOMEM;
}

/* Decodes one event and sorts it into a class with its pairing keys. */
static int event_info_make(const EventLog *log, size_t idx, EventInfo *ret) {
        const TcgEvent *ev = &log->events[idx];
        EventInfo e = {.log = log, .idx = idx, .cls = CLASS_OTHER};
        char key[512], tn[16];
        const char *s;
        int r;

        r = eventlog_event_to_json(log, idx, &e.j);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(e.j, "decoded", &e.decoded))
                e.decoded = NULL;

        switch (ev->type) {
        case EV_EFI_VARIABLE_DRIVER_CONFIG:
        case EV_EFI_VARIABLE_BOOT:
        case EV_EFI_VARIABLE_BOOT2:
        case EV_EFI_VARIABLE_AUTHORITY: {
                const char *name = jstr(e.decoded, "name"),
                           *guid = jstr(e.decoded, "variable_guid");

                if (!name || !guid)
                        break;
                e.cls = ev->type == EV_EFI_VARIABLE_AUTHORITY ? CLASS_AUTHORITY : CLASS_VARIABLE;
                s = efi_secure_boot_variable_guid(name);
                /* A Secure Boot name under another vendor GUID is not that variable. */
                if (s && !streq(s, guid) && e.cls == CLASS_VARIABLE) {
                        char l[256];

                        (void) snprintf(l, sizeof(l), "%s (vendor %s)", name, guid);
                        e.label = quoted(l);
                } else
                        e.label = quoted(name);
                if (!e.label) {
                        event_info_done(&e);
                        return -ENOMEM;
                }
                (void) snprintf(key, sizeof(key), "var:%" PRIx32 ":%s:%s", ev->type, guid, name);
                r = e.cls == CLASS_AUTHORITY ? set_keys(&e, key, "authority")
                                             : set_keys(&e, key, key);
                if (r < 0) {
                        event_info_done(&e);
                        return r;
                }
                *ret = e;
                return 0;
        }
        case EV_EFI_BOOT_SERVICES_APPLICATION:
        case EV_EFI_BOOT_SERVICES_DRIVER:
        case EV_EFI_RUNTIME_SERVICES_DRIVER:
                e.cls = CLASS_APPLICATION;
                e.label = image_label(event_summary(&e));
                if (!e.label) {
                        event_info_done(&e);
                        return -ENOMEM;
                }
                (void) snprintf(key, sizeof(key), "app:%" PRIx32 ":%s", ev->type, e.label);
                (void) snprintf(tn, sizeof(tn), "app:%" PRIx32, ev->type);
                r = set_keys(&e, key, tn);
                if (r < 0) {
                        event_info_done(&e);
                        return r;
                }
                *ret = e;
                return 0;
        case EV_SEPARATOR:
                e.cls = CLASS_SEPARATOR;
                r = set_keys(&e, "separator", "separator");
                if (r < 0) {
                        event_info_done(&e);
                        return r;
                }
                *ret = e;
                return 0;
        case EV_IPL: {
                const char *text = jstr(e.decoded, "text"), *enc = jstr(e.decoded, "encoding");
                const char *rest;

                if (!text)
                        break;
                if (ev->pcr == 8 && !enc &&
                    ((rest = startswith(text, "kernel_cmdline: ")) ||
                     (rest = startswith(text, "grub_kernel_cmdline ")))) {
                        e.cls = CLASS_CMDLINE;
                        e.text = quoted(rest);
                } else if ((ev->pcr == 8 || ev->pcr == 12) && enc) {
                        /* systemd-boot (PCR 8, older) and systemd-stub (PCR 12) measure the
                         * kernel command line as UTF-16. */
                        e.cls = CLASS_CMDLINE;
                        e.text = quoted(text);
                } else if (ev->pcr == 8 && !enc && (rest = startswith(text, "grub_cmd: "))) {
                        e.cls = CLASS_GRUB_CMD;
                        e.text = quoted(rest);
                } else if (ev->pcr == 9 && !enc) {
                        e.cls = CLASS_FILE;
                        e.text = quoted(text);
                } else
                        break;
                if (!e.text) {
                        event_info_done(&e);
                        return -ENOMEM;
                }
                if (e.cls == CLASS_CMDLINE)
                        r = set_keys(&e, "cmdline", "cmdline");
                else if (e.cls == CLASS_GRUB_CMD)
                        r = set_keys(&e, "grub_cmd", "grub_cmd");
                else {
                        (void) snprintf(key, sizeof(key), "file:%s", text);
                        r = set_keys(&e, key, "file");
                }
                if (r < 0) {
                        event_info_done(&e);
                        return r;
                }
                *ret = e;
                return 0;
        }
        default:
                break;
        }
        e.cls = CLASS_OTHER;
        (void) snprintf(key, sizeof(key), "type:%" PRIx32 ":%s", ev->type, event_summary(&e));
        (void) snprintf(tn, sizeof(tn), "type:%" PRIx32, ev->type);
        r = set_keys(&e, key, tn);
        if (r < 0) {
                event_info_done(&e);
                return r;
        }
        *ret = e;
        return 0;
}

/* ---- signature databases (PK, KEK, db, dbx, MokList...) ---- */

typedef enum SigKind { SIG_CERT, SIG_HASH, SIG_OTHER } SigKind;

typedef struct SigEntry {
        char *id;   /* what makes two entries the same: type and value, not the owner */
        char *name; /* "CN=..." of a certificate, else NULL */
        SigKind kind;
} SigEntry;

typedef struct SigSet {
        SigEntry *e;
        size_t n;
} SigSet;

static void sig_set_done(SigSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->e[i].id);
                free(s->e[i].name);
        }
        free(s->e);
        *s = (SigSet){};
}

/* "CN=..." from an RFC 2253 subject ("CN=a\\,b,O=..."), else the subject itself. */
static char *subject_short(const char *subject) {
        _cleanup_(freep) char *cn = NULL;
        const char *p = subject;
        size_t n = 0;

        if (!startswith(subject, "CN=")) {
                p = strstr(subject, ",CN=");
                if (!p)
                        return quoted(subject);
                p++;
        }
        while (p[n] && !(p[n] == ',' && (n == 0 || p[n - 1] != '\\')))
                n++;
        cn = strndup(p, n);
        if (!cn)
                return NULL;
        return quoted(cn);
}

static int sig_add(SigSet *s, SigKind kind, const char *type, const char *value,
                   const char *subject) {
        SigEntry *e = reallocarray(s->e, s->n + 1, sizeof(SigEntry));
        char *id;

        if (!e)
                return -ENOMEM;
        s->e = e;
        if (asprintf(&id, "%s:%s", type, value) < 0)
                return -ENOMEM;
        s->e[s->n] = (SigEntry){.id = id, .kind = kind};
        if (subject) {
                s->e[s->n].name = subject_short(subject);
                if (!s->e[s->n].name) {
                        free(id);
                        return -ENOMEM;
                }
        }
        s->n++;
        return 0;
}

static int sig_cmp(const void *a, const void *b) {
        return strcmp(((const SigEntry *) a)->id, ((const SigEntry *) b)->id);
}

/* The entries of decoded["signature_lists"]; -ENODATA when the event has none (malformed). */
static int sig_set_make(json_object *decoded, SigSet *ret) {
        SigSet s = {};
        json_object *lists;
        int r = 0;

        if (!decoded || !json_object_object_get_ex(decoded, "signature_lists", &lists) ||
            !json_object_is_type(lists, json_type_array))
                return -ENODATA;
        for (size_t i = 0; r >= 0 && i < json_object_array_length(lists); i++) {
                json_object *l = json_object_array_get_idx(lists, i), *entries;
                const char *type = jstr(l, "type") ?: jstr(l, "type_guid") ?: "?";

                if (!json_object_object_get_ex(l, "entries", &entries))
                        continue;
                for (size_t j = 0; r >= 0 && j < json_object_array_length(entries); j++) {
                        json_object *e = json_object_array_get_idx(entries, j), *cert;
                        const char *v;

                        if (json_object_object_get_ex(e, "certificate", &cert) &&
                            (v = jstr(cert, "sha256")))
                                r = sig_add(&s, SIG_CERT, "x509", v, jstr(cert, "subject") ?: "");
                        else if ((v = jstr(e, "hash")))
                                r = sig_add(&s, SIG_HASH, type, v, NULL);
                        else
                                r = sig_add(&s, SIG_OTHER, type, jstr(e, "data") ?: "", NULL);
                }
        }
        if (r < 0) {
                sig_set_done(&s);
                return r;
        }
        if (s.n > 1)
                qsort(s.e, s.n, sizeof(SigEntry), sig_cmp);
        *ret = s;
        return 0;
}

/* Lines for what `from` has that `other` lacks (verb "added" or "removed"). */
static void sig_lines(Lines *l, const char *label, const SigSet *from, const SigSet *other,
                      const char *verb, bool *said) {
        size_t certs = 0, hashes = 0, others = 0;

        for (size_t i = 0, j = 0; i < from->n; i++) {
                int c = 1;

                while (j < other->n && (c = strcmp(other->e[j].id, from->e[i].id)) < 0)
                        j++;
                if (j < other->n && c == 0)
                        continue;
                switch (from->e[i].kind) {
                case SIG_CERT:
                        if (certs++ < CERTS_NAMED_MAX)
                                line_add(l, "PCR %u: %s changed: certificate %s %s", l->p->pcr,
                                         label, from->e[i].name, verb);
                        break;
                case SIG_HASH:
                        hashes++;
                        break;
                default:
                        others++;
                }
        }
        if (certs > CERTS_NAMED_MAX)
                line_add(l, "PCR %u: %s changed: %zu more certificates %s", l->p->pcr, label,
                         certs - CERTS_NAMED_MAX, verb);
        if (hashes > 0)
                line_add(l, "PCR %u: %s changed: %zu hash%s %s", l->p->pcr, label, hashes,
                         hashes == 1 ? "" : "es", verb);
        if (others > 0)
                line_add(l, "PCR %u: %s changed: %zu other entr%s %s", l->p->pcr, label, others,
                         others == 1 ? "y" : "ies", verb);
        *said = *said || certs + hashes + others > 0;
}

/* ---- describing differences ---- */

/* What an EFI variable's summary says after its name. */
static const char *variable_rest(const EventInfo *e) {
        const char *s = event_summary(e), *name = jstr(e->decoded, "name");
        const char *r = name ? startswith(s, name) : NULL;

        if (!r)
                return s;
        if (startswith(r, ": "))
                r += 2;
        while (*r == ' ')
                r++;
        return r;
}

static const char *flag_text(json_object *decoded) {
        json_object *v;

        if (!json_object_object_get_ex(decoded, "enabled", &v) || !v)
                return "(no value)";
        return json_object_get_boolean(v) ? "enabled" : "disabled";
}

static int describe_variable_change(Lines *l, const EventInfo *o, const EventInfo *n) {
        unsigned pcr = l->p->pcr;
        json_object *v;

        if (o->decoded && n->decoded &&
            json_object_object_get_ex(o->decoded, "signature_lists", &v) &&
            json_object_object_get_ex(n->decoded, "signature_lists", &v)) {
                SigSet a = {}, b = {};
                bool said = false;
                int r;

                r = sig_set_make(o->decoded, &a);
                if (r >= 0)
                        r = sig_set_make(n->decoded, &b);
                if (r >= 0) {
                        sig_lines(l, n->label, &b, &a, "added", &said);
                        sig_lines(l, n->label, &a, &b, "removed", &said);
                        if (!said)
                                line_add(l,
                                         "PCR %u: %s changed: the same entries, in another "
                                         "order or with other owners",
                                         pcr, n->label);
                }
                sig_set_done(&a);
                sig_set_done(&b);
                if (r != -ENODATA)
                        return r;
        }
        if (o->decoded && n->decoded && json_object_object_get_ex(o->decoded, "enabled", &v) &&
            json_object_object_get_ex(n->decoded, "enabled", &v)) {
                line_add(l, "PCR %u: %s changed: %s -> %s", pcr, n->label, flag_text(o->decoded),
                         flag_text(n->decoded));
                return 0;
        }
        {
                _cleanup_(freep) char *a = quoted(variable_rest(o)), *b = quoted(variable_rest(n));

                if (!a || !b)
                        return -ENOMEM;
                if (streq(a, b))
                        line_add(l, "PCR %u: %s changed (its data differs)", pcr, n->label);
                else
                        line_add(l, "PCR %u: %s changed: %s -> %s", pcr, n->label, a, b);
        }
        return 0;
}

static int describe_change(Lines *l, const EventInfo *o, const EventInfo *n, uint16_t alg) {
        const TcgEvent *eo = &o->log->events[o->idx], *en = &n->log->events[n->idx];
        char da[2 * DIGEST_SHOWN + 4], db[2 * DIGEST_SHOWN + 4], tn[16];
        _cleanup_(freep) char *a = NULL, *b = NULL;
        unsigned pcr = l->p->pcr;

        digest_short(eo, alg, da);
        digest_short(en, alg, db);
        switch (n->cls) {
        case CLASS_VARIABLE:
                return describe_variable_change(l, o, n);
        case CLASS_AUTHORITY:
                a = quoted(event_summary(o));
                b = quoted(event_summary(n));
                if (!a || !b)
                        return -ENOMEM;
                line_add(l, "PCR %u: image authority changed: %s -> %s", pcr, a, b);
                return 0;
        case CLASS_APPLICATION:
                if (streq(o->label, n->label))
                        line_add(l, "PCR %u: boot application changed: %s: image digest %s -> %s",
                                 pcr, n->label, da, db);
                else
                        line_add(l, "PCR %u: boot application changed: %s -> %s", pcr, o->label,
                                 n->label);
                return 0;
        case CLASS_CMDLINE:
                line_add(l, "PCR %u: kernel command line changed: %s -> %s", pcr, o->text, n->text);
                return 0;
        case CLASS_GRUB_CMD:
                line_add(l, "PCR %u: grub command changed: %s -> %s", pcr, o->text, n->text);
                return 0;
        case CLASS_FILE:
                if (streq(o->text, n->text))
                        line_add(l, "PCR %u: file changed: %s (digest %s -> %s)", pcr, n->text, da,
                                 db);
                else
                        line_add(l, "PCR %u: file changed: %s -> %s", pcr, o->text, n->text);
                return 0;
        case CLASS_SEPARATOR:
                line_add(l, "PCR %u: separator changed: %s -> %s", pcr,
                         jstr(o->decoded, "value") ?: da, jstr(n->decoded, "value") ?: db);
                return 0;
        default:
                a = quoted(event_summary(o));
                b = quoted(event_summary(n));
                if (!a || !b)
                        return -ENOMEM;
                if (streq(a, b))
                        line_add(l, "PCR %u: event changed: %s %s (digest %s -> %s)", pcr,
                                 type_name(en->type, tn), b, da, db);
                else
                        line_add(l, "PCR %u: event changed: %s %s -> %s", pcr,
                                 type_name(en->type, tn), a, b);
                return 0;
        }
}

static int describe_one(Lines *l, const EventInfo *e, const char *verb, uint16_t alg) {
        const TcgEvent *ev = &e->log->events[e->idx];
        char dg[2 * DIGEST_SHOWN + 4], tn[16];
        _cleanup_(freep) char *s = NULL;
        unsigned pcr = l->p->pcr;

        digest_short(ev, alg, dg);
        switch (e->cls) {
        case CLASS_VARIABLE:
                s = quoted(variable_rest(e));
                if (!s)
                        return -ENOMEM;
                line_add(l, "PCR %u: variable %s %s%s%s", pcr, e->label, verb, s[0] ? ": " : "", s);
                return 0;
        case CLASS_AUTHORITY:
                s = quoted(event_summary(e));
                if (!s)
                        return -ENOMEM;
                line_add(l, "PCR %u: image authority %s: %s", pcr, verb, s);
                return 0;
        case CLASS_APPLICATION:
                line_add(l, "PCR %u: boot application %s: %s (digest %s)", pcr, verb, e->label, dg);
                return 0;
        case CLASS_CMDLINE:
                line_add(l, "PCR %u: kernel command line %s: %s", pcr, verb, e->text);
                return 0;
        case CLASS_GRUB_CMD:
                line_add(l, "PCR %u: grub command %s: %s", pcr, verb, e->text);
                return 0;
        case CLASS_FILE:
                line_add(l, "PCR %u: file %s: %s (digest %s)", pcr, verb, e->text, dg);
                return 0;
        case CLASS_SEPARATOR: {
                const char *v = jstr(e->decoded, "value");
                bool error = v && !streq(v, "00000000");

                line_add(l, "PCR %u: separator %s%s", pcr, verb,
                         error ? " (an error separator)" : "");
                return 0;
        }
        default:
                s = quoted(event_summary(e));
                if (!s)
                        return -ENOMEM;
                line_add(l, "PCR %u: event %s: %s %s (digest %s)", pcr, verb,
                         type_name(ev->type, tn), s, dg);
                return 0;
        }
}

/* ---- matching the entries of one PCR ---- */

typedef enum OpKind { OP_SAME, OP_DEL, OP_ADD } OpKind;

typedef struct Op {
        OpKind kind;
        size_t idx; /* event index in the old (OP_DEL, OP_SAME) or new (OP_ADD) log */
} Op;

typedef struct Side {
        const EventLog *log;
        const size_t *ev;
        size_t n;
} Side;

static bool side_equal(const Side *a, size_t i, const Side *b, size_t j) {
        return events_equal(&a->log->events[a->ev[i]], &b->log->events[b->ev[j]]);
}

/* An edit script from a to b: common prefix and suffix, and a longest common subsequence of the
 * middle when the table fits in LCS_CELLS_MAX. */
static int diff_events(const Side *a, const Side *b, Op **ret, size_t *ret_n) {
        _cleanup_(freep) uint32_t *t = NULL;
        _cleanup_(freep) Op *ops = NULL;
        size_t pre = 0, suf = 0, n, m, k = 0, i, j;

        while (pre < a->n && pre < b->n && side_equal(a, pre, b, pre))
                pre++;
        while (suf < a->n - pre && suf < b->n - pre &&
               side_equal(a, a->n - 1 - suf, b, b->n - 1 - suf))
                suf++;
        n = a->n - pre - suf;
        m = b->n - pre - suf;
        ops = calloc(a->n + b->n + 1, sizeof(Op));
        if (!ops)
                return -ENOMEM;
        for (i = 0; i < pre; i++)
                ops[k++] = (Op){OP_SAME, a->ev[i]};
        if (n > 0 && m > 0 && (n + 1) <= LCS_CELLS_MAX / (m + 1)) {
                size_t w = m + 1;

                /* t[i][j]: the longest common subsequence of the middles from i and j on. */
                t = calloc((n + 1) * w, sizeof(uint32_t));
                if (!t)
                        return -ENOMEM;
                for (i = n; i-- > 0;)
                        for (j = m; j-- > 0;)
                                t[i * w + j] = side_equal(a, pre + i, b, pre + j)
                                                       ? t[(i + 1) * w + j + 1] + 1
                                                       : MAX(t[(i + 1) * w + j], t[i * w + j + 1]);
                i = j = 0;
                while (i < n && j < m) {
                        if (side_equal(a, pre + i, b, pre + j)) {
                                ops[k++] = (Op){OP_SAME, a->ev[pre + i]};
                                i++;
                                j++;
                        } else if (t[(i + 1) * w + j] >= t[i * w + j + 1])
                                ops[k++] = (Op){OP_DEL, a->ev[pre + i++]};
                        else
                                ops[k++] = (Op){OP_ADD, b->ev[pre + j++]};
                }
        } else
                i = j = 0;
        for (; i < n; i++)
                ops[k++] = (Op){OP_DEL, a->ev[pre + i]};
        for (; j < m; j++)
                ops[k++] = (Op){OP_ADD, b->ev[pre + j]};
        for (i = a->n - suf; i < a->n; i++)
                ops[k++] = (Op){OP_SAME, a->ev[i]};
        *ret = TAKE_PTR(ops);
        *ret_n = k;
        return 0;
}

/* Entries of one hunk decoded and described; more than this are only counted. */
#define HUNK_DECODED_MAX 128u

static void infos_done(EventInfo *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                event_info_done(&v[i]);
        free(v);
}

/* Describes one run of removed (old log) and added (new log) entries between matching ones. */
static int describe_hunk(Lines *l, const EventLog *old, const size_t *del, size_t n_del,
                         const EventLog *new, const size_t *add, size_t n_add, uint16_t alg) {
        EventInfo *ri = NULL, *ai = NULL;
        int r = 0;

        if (n_del + n_add > HUNK_DECODED_MAX) {
                line_add(l, "PCR %u: %zu entr%s removed and %zu added", l->p->pcr, n_del,
                         n_del == 1 ? "y" : "ies", n_add);
                return 0;
        }
        ri = calloc(MAX(n_del, (size_t) 1), sizeof(EventInfo));
        ai = calloc(MAX(n_add, (size_t) 1), sizeof(EventInfo));
        if (!ri || !ai) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; r >= 0 && i < n_del; i++)
                r = event_info_make(old, del[i], &ri[i]);
        for (size_t i = 0; r >= 0 && i < n_add; i++)
                r = event_info_make(new, add[i], &ai[i]);
        if (r < 0)
                goto finish;

        /* Removed entries in order: each paired with the first unpaired added entry of the
         * same thing, else of the same kind of thing; what is left was removed or added. */
        for (size_t i = 0; r >= 0 && i < n_del; i++) {
                EventInfo *match = NULL;

                for (size_t pass = 0; pass < 2 && !match; pass++)
                        for (size_t j = 0; j < n_add && !match; j++)
                                if (!ai[j].paired && ai[j].cls == ri[i].cls &&
                                    streq(pass == 0 ? ai[j].exact : ai[j].coarse,
                                          pass == 0 ? ri[i].exact : ri[i].coarse))
                                        match = &ai[j];
                if (match) {
                        match->paired = ri[i].paired = true;
                        r = describe_change(l, &ri[i], match, alg);
                } else
                        r = describe_one(l, &ri[i], "removed", alg);
        }
        for (size_t j = 0; r >= 0 && j < n_add; j++)
                if (!ai[j].paired)
                        r = describe_one(l, &ai[j], "added", alg);
finish:
        if (ri)
                infos_done(ri, n_del);
        if (ai)
                infos_done(ai, n_add);
        return r;
}

static int describe_log_diff(Lines *l, const Side *a, const Side *b, uint16_t alg) {
        _cleanup_(freep) size_t *del = NULL, *add = NULL;
        _cleanup_(freep) Op *ops = NULL;
        size_t n_ops, n_del = 0, n_add = 0;
        int r;

        r = diff_events(a, b, &ops, &n_ops);
        if (r < 0)
                return r;
        del = calloc(a->n + 1, sizeof(size_t));
        add = calloc(b->n + 1, sizeof(size_t));
        if (!del || !add)
                return -ENOMEM;
        for (size_t i = 0; i <= n_ops; i++) {
                if (i < n_ops && ops[i].kind == OP_DEL) {
                        del[n_del++] = ops[i].idx;
                        continue;
                }
                if (i < n_ops && ops[i].kind == OP_ADD) {
                        add[n_add++] = ops[i].idx;
                        continue;
                }
                if (n_del + n_add > 0) {
                        r = describe_hunk(l, a->log, del, n_del, b->log, add, n_add, alg);
                        if (r < 0)
                                return r;
                        n_del = n_add = 0;
                }
        }
        return 0;
}

/* ---- compare ---- */

DriftReport *drift_report_free(DriftReport *r) {
        if (r) {
                for (size_t i = 0; i < r->n_pcrs; i++) {
                        for (size_t j = 0; j < r->pcrs[i].n_lines; j++)
                                free(r->pcrs[i].lines[j]);
                        free(r->pcrs[i].lines);
                }
                free(r->pcrs);
                free(r);
        }
        return NULL;
}

void drift_report_freep(DriftReport **r) {
        *r = drift_report_free(*r);
}

static const TpmPcrBank *bank_with(const TpmPcrSet *s, uint16_t alg, unsigned pcr) {
        const TpmPcrBank *b = tpm_pcr_set_bank(s, alg);

        return b && (b->mask & (UINT32_C(1) << pcr)) ? b : NULL;
}

/* The condition key: SHA-256 over the PCR's value in every bank of now, by ascending alg. */
static int drift_key(const TpmPcrSet *now, unsigned pcr, char key[static DRIFT_KEY_SIZE]) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        uint8_t md[SHA256_DIGEST_LENGTH];
        char hex[33];
        int last = -1;
        bool ok;

        if (!c)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
        for (;;) {
                const TpmPcrBank *next = NULL;

                for (size_t i = 0; i < now->n_banks; i++) {
                        const TpmPcrBank *b = &now->banks[i];

                        if ((int) b->alg > last && (b->mask & (UINT32_C(1) << pcr)) &&
                            (!next || b->alg < next->alg))
                                next = b;
                }
                if (!next)
                        break;
                {
                        uint8_t id[2] = {(uint8_t) (next->alg >> 8), (uint8_t) next->alg};

                        ok = ok && EVP_DigestUpdate(c, id, 2) == 1 &&
                             EVP_DigestUpdate(c, next->value[pcr], next->size) == 1;
                }
                last = next->alg;
        }
        ok = ok && EVP_DigestFinal_ex(c, md, NULL) == 1;
        EVP_MD_CTX_free(c);
        if (!ok)
                return -ENOMEM;
        hex_encode_buf(md, 16, hex);
        (void) snprintf(key, DRIFT_KEY_SIZE, "drift:pcr%u:%s", pcr, hex);
        return 0;
}

static const uint16_t bank_preference[] = {TPM_ALG_SHA256, TPM_ALG_SHA384, TPM_ALG_SHA512,
                                           TPM_ALG_SM3_256, TPM_ALG_SHA1};

int drift_compare(const DriftBaseline *b, const TpmPcrSet *now, const uint8_t *eventlog,
                  size_t eventlog_size, DriftReport **ret) {
        _cleanup_(drift_report_freep) DriftReport *rep = NULL;
        _cleanup_(eventlog_freep) EventLog *cur = NULL;
        TpmPcrBank replay[ELEMENTSOF(bank_preference)];
        int replayed[ELEMENTSOF(bank_preference)] = {};
        int r;

        if (!b || !now || !ret || (!eventlog && eventlog_size > 0))
                return -EINVAL;
        rep = calloc(1, sizeof(*rep));
        if (!rep)
                return -ENOMEM;
        if (eventlog) {
                Diag d = {};

                r = eventlog_parse(eventlog, eventlog_size, &cur, &d);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        (void) snprintf(rep->log_note, sizeof(rep->log_note),
                                        "the event log does not parse: %.150s",
                                        diag_text(&d, "malformed"));
        } else
                (void) snprintf(rep->log_note, sizeof(rep->log_note), "no event log now");
        if (!b->log && !rep->log_note[0])
                (void) snprintf(rep->log_note, sizeof(rep->log_note),
                                "the baseline has no event log");

        for (unsigned pcr = 0; pcr < TPM_PCR_COUNT; pcr++) {
                _cleanup_(freep) size_t *ea = NULL, *eb = NULL;
                size_t na = 0, nb = 0;
                const TpmPcrBank *show_old = NULL, *show_new = NULL;
                bool changed = false, log_changed = false;
                Side sa = {}, sb = {};
                uint16_t alg = 0;
                DriftPcr *dp, *v;
                Lines l;

                /* Every bank both sides have for this PCR; the preferred one is shown. */
                for (size_t k = 0; k < ELEMENTSOF(bank_preference); k++) {
                        const TpmPcrBank *o = bank_with(&b->pcrs, bank_preference[k], pcr);
                        const TpmPcrBank *n = bank_with(now, bank_preference[k], pcr);

                        if (!o || !n)
                                continue;
                        if (!show_old) {
                                show_old = o;
                                show_new = n;
                                alg = bank_preference[k];
                        }
                        changed = changed || memcmp(o->value[pcr], n->value[pcr], o->size) != 0;
                }
                if (!show_old)
                        continue;
                rep->compared |= UINT32_C(1) << pcr;

                if (b->log && cur) {
                        r = pcr_events(b->log, pcr, &ea, &na);
                        if (r >= 0)
                                r = pcr_events(cur, pcr, &eb, &nb);
                        if (r < 0)
                                return r;
                        sa = (Side){b->log, ea, na};
                        sb = (Side){cur, eb, nb};
                        log_changed = sa.n != sb.n;
                        for (size_t i = 0; i < sa.n && !log_changed; i++)
                                log_changed = !side_equal(&sa, i, &sb, i);
                }
                if (!changed && !log_changed)
                        continue;

                v = reallocarray(rep->pcrs, rep->n_pcrs + 1, sizeof(DriftPcr));
                if (!v)
                        return -ENOMEM;
                rep->pcrs = v;
                dp = &rep->pcrs[rep->n_pcrs++];
                *dp = (DriftPcr){
                        .pcr = pcr,
                        .alg = alg,
                        .size = show_old->size,
                        .value_changed = changed,
                        .log_changed = log_changed,
                };
                memcpy(dp->old_value, show_old->value[pcr], show_old->size);
                memcpy(dp->new_value, show_new->value[pcr], show_new->size);
                rep->drifted |= UINT32_C(1) << pcr;
                r = drift_key(now, pcr, dp->key);
                if (r < 0)
                        return r;

                /* Does the log of now still give the PCR's value? */
                if (changed && cur) {
                        for (size_t k = 0; k < ELEMENTSOF(bank_preference); k++) {
                                const TpmPcrBank *n = bank_with(now, bank_preference[k], pcr);

                                if (!n)
                                        continue;
                                if (replayed[k] == 0) {
                                        r = eventlog_replay(cur, bank_preference[k], &replay[k]);
                                        if (r == -ENOMEM)
                                                return r;
                                        replayed[k] = r < 0 ? -1 : 1;
                                }
                                if (replayed[k] > 0) {
                                        dp->outside_log = memcmp(replay[k].value[pcr],
                                                                 n->value[pcr], n->size) != 0;
                                        break;
                                }
                        }
                }

                l = (Lines){.p = dp};
                if (changed && b->log && cur && !log_changed) {
                        dp->outside_log = true;
                        line_add(&l, "PCR %u: extended outside the event log", pcr);
                } else if (changed && (!b->log || !cur)) {
                        char o[2 * DIGEST_SHOWN + 4], n[2 * DIGEST_SHOWN + 4];

                        hex_encode_buf(show_old->value[pcr], DIGEST_SHOWN, o);
                        hex_encode_buf(show_new->value[pcr], DIGEST_SHOWN, n);
                        memcpy(o + 2 * DIGEST_SHOWN, "...", 4);
                        memcpy(n + 2 * DIGEST_SHOWN, "...", 4);
                        line_add(&l, "PCR %u: changed (%s %s -> %s); %s", pcr,
                                 tpm_alg_hash_name(alg), o, n, rep->log_note);
                        if (dp->outside_log)
                                line_add(&l, "PCR %u: extended outside the event log", pcr);
                } else {
                        if (!changed)
                                line_add(&l, "PCR %u: the event log changed but the PCR did not",
                                         pcr);
                        r = describe_log_diff(&l, &sa, &sb, alg);
                        if (r < 0)
                                return r;
                        if (changed && dp->outside_log)
                                line_add(&l, "PCR %u: also extended outside the event log", pcr);
                }
                r = lines_finish(&l);
                if (r < 0)
                        return r;
                if (dp->n_lines == 0) {
                        /* Entries that differ only in ways the description cannot tell. */
                        line_add(&l, "PCR %u: changed", pcr);
                        r = lines_finish(&l);
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(rep);
        return 0;
}

static json_object *pcr_array(uint32_t mask) {
        json_object *a = json_object_new_array();

        for (unsigned i = 0; a && i < TPM_PCR_COUNT; i++)
                if ((mask & (UINT32_C(1) << i)) && json_array_append(a, json_object_new_int(i)) < 0) {
                        json_object_put(a);
                        return NULL;
                }
        return a;
}

int drift_report_to_json(const DriftReport *r, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *pcrs;

        if (!o || json_add(o, "compared", pcr_array(r->compared)) < 0 ||
            json_add(o, "drifted", pcr_array(r->drifted)) < 0 ||
            (r->log_note[0] && json_add_string(o, "log_note", r->log_note) < 0))
                return -ENOMEM;
        pcrs = json_object_new_array();
        if (json_add(o, "pcrs", pcrs) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_pcrs; i++) {
                const DriftPcr *p = &r->pcrs[i];
                json_object *e = json_object_new_object(), *lines;

                if (json_array_append(pcrs, e) < 0 || json_add_int(e, "pcr", p->pcr) < 0 ||
                    json_add_string(e, "bank", tpm_alg_hash_name(p->alg)) < 0 ||
                    json_add_hex(e, "baseline", p->old_value, p->size) < 0 ||
                    json_add_hex(e, "current", p->new_value, p->size) < 0 ||
                    json_add_bool(e, "value_changed", p->value_changed) < 0 ||
                    json_add_bool(e, "log_changed", p->log_changed) < 0 ||
                    json_add_bool(e, "outside_log", p->outside_log) < 0 ||
                    json_add_string(e, "key", p->key) < 0)
                        return -ENOMEM;
                lines = json_object_new_array();
                if (json_add(e, "lines", lines) < 0)
                        return -ENOMEM;
                for (size_t j = 0; j < p->n_lines; j++)
                        if (json_array_append(lines, json_object_new_string(p->lines[j])) < 0)
                                return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int drift_pcr_message(const DriftPcr *p, char **ret) {
        size_t n = 0;
        char *s;

        for (size_t i = 0; i < p->n_lines; i++)
                n += strlen(p->lines[i]) + 1;
        s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < p->n_lines; i++) {
                size_t l = strlen(p->lines[i]);

                if (i > 0)
                        s[n++] = '\n';
                memcpy(s + n, p->lines[i], l);
                n += l;
        }
        s[n] = '\0';
        *ret = s;
        return 0;
}

static void lines_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int drift_reference_lines(const DriftBaseline *ref, const DriftReport *rep, size_t max_lines,
                          char ***ret_lines, size_t *ret_n) {
        char **v = NULL, when[32], list[DRIFT_PCR_LIST_SIZE], head[DRIFT_LINE_MAX + 1];
        size_t n = 0, total = 0, room;

        if ((ref && !rep) || !ret_lines || !ret_n || max_lines < 2)
                return -EINVAL;
        if (rep)
                for (size_t i = 0; i < rep->n_pcrs; i++)
                        total += rep->pcrs[i].n_lines;
        if (!ref)
                (void) snprintf(head, sizeof(head),
                                "no known-good reference: enroll or a permitted attestation "
                                "records one");
        else {
                format_rfc3339((time_t) ref->time, when, sizeof(when));
                if (rep->drifted == 0)
                        (void) snprintf(head, sizeof(head),
                                        "nothing changed since the known-good reference of %s "
                                        "(%s): %d PCRs compared%s%s",
                                        when, drift_source_to_string(ref->source),
                                        __builtin_popcount(rep->compared),
                                        rep->log_note[0] ? "; " : "", rep->log_note);
                else
                        (void) snprintf(head, sizeof(head),
                                        "changed since the known-good reference of %s (%s): "
                                        "PCR%s %s%s%s",
                                        when, drift_source_to_string(ref->source),
                                        __builtin_popcount(rep->drifted) == 1 ? "" : "s",
                                        drift_pcr_list(rep->drifted, list),
                                        rep->log_note[0] ? "; " : "", rep->log_note);
        }
        /* The head line, the PCRs' lines, and one line saying how many were left out. */
        room = MIN(total, max_lines - 1);
        v = calloc(room + 2, sizeof(char *));
        if (!v)
                return -ENOMEM;
        if (!(v[n++] = strdup(head)))
                goto oom;
        if (total > max_lines - 1)
                room = max_lines - 2;
        for (size_t i = 0; rep && ref && i < rep->n_pcrs; i++)
                for (size_t j = 0; j < rep->pcrs[i].n_lines && n - 1 < room; j++)
                        if (!(v[n++] = strdup(rep->pcrs[i].lines[j])))
                                goto oom;
        if (ref && total > room) {
                if (asprintf(&v[n], "... and %zu more line%s", total - room,
                             total - room == 1 ? "" : "s") < 0) {
                        v[n] = NULL;
                        goto oom;
                }
                n++;
        }
        *ret_lines = v;
        *ret_n = n;
        return 0;
oom:
        lines_free(v, n);
        return -ENOMEM;
}
