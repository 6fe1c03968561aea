/* SPDX-License-Identifier: Apache-2.0 */
/* Alerts (agent/alert.h): kinds, keys, the alert's JSON and line, deduplication. Pure. */
#include <inttypes.h>
#include <stdio.h>
#include <syslog.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "agent/alert.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "common/time-util.h"

#define ALERT_SET_VERSION 1
#define LINE_MAX_BYTES    1900u

static const struct {
        const char *name;
        const char *id;
        const char *recovery_id;
        int priority;
        const char *recovered; /* the recovery's message, before "(was: ...)" */
} kinds[_ALERT_KIND_MAX] = {
        [ALERT_DRIFT] = {"drift", "a9cb47a5d10a49d784ad476d8835133f",
                         "fdfca581de134162b39e5527a5188652", LOG_CRIT,
                         "drift cleared: the measurements match the baseline again"},
        [ALERT_DENIED] = {"denied", "676778b227814ae2aa9d7c08fd0527e1",
                          "f82ba1a2f9904cb8904c88f0253b30be", LOG_ERR, "attestation allowed again"},
        [ALERT_UNREACHABLE] = {"unreachable", "02b7b003c10a4fd9a0d4c0e229916040",
                               "929e3425eb8548a9b46e58593b09ed5e", LOG_WARNING,
                               "a verifier is reachable again"},
        [ALERT_TPM_UNAVAILABLE] = {"tpm-unavailable", "36079e1289af4cd28b786c7f5faf36e4",
                                   "4ac7fbbdc10c4264b934d5b38f1a49c0", LOG_ERR,
                                   "the TPM is available again"},
};

const char *alert_kind_to_string(AlertKind k) {
        if (k < 0 || k >= _ALERT_KIND_MAX)
                return NULL;
        return kinds[k].name;
}

AlertKind alert_kind_from_string(const char *s) {
        for (size_t i = 0; s && i < _ALERT_KIND_MAX; i++)
                if (streq(s, kinds[i].name))
                        return (AlertKind) i;
        return _ALERT_KIND_INVALID;
}

const char *alert_message_id(AlertKind k, bool recovery) {
        if (k < 0 || k >= _ALERT_KIND_MAX)
                return NULL;
        return recovery ? kinds[k].recovery_id : kinds[k].id;
}

int alert_priority(AlertKind k, bool recovery) {
        if (k < 0 || k >= _ALERT_KIND_MAX)
                return -EINVAL;
        return recovery ? LOG_NOTICE : kinds[k].priority;
}

AlertKind alert_key_kind(const char *key) {
        char kind[32];
        size_t n, k;

        if (!key)
                return _ALERT_KIND_INVALID;
        n = strlen(key);
        if (n == 0 || n > ALERT_KEY_MAX || key[0] == ':' || key[n - 1] == ':')
                return _ALERT_KIND_INVALID;
        for (size_t i = 0; i < n; i++) {
                char c = key[i];

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-' || c == ':'))
                        return _ALERT_KIND_INVALID;
                if (c == ':' && key[i + 1] == ':')
                        return _ALERT_KIND_INVALID;
        }
        k = strcspn(key, ":");
        if (k >= sizeof(kind))
                return _ALERT_KIND_INVALID;
        memcpy(kind, key, k);
        kind[k] = '\0';
        return alert_kind_from_string(kind);
}

/* The length of key's scope: up to its last ':', or all of it. */
static size_t key_scope_len(const char *key) {
        const char *c = strrchr(key, ':');

        return c ? (size_t) (c - key) : strlen(key);
}

static bool same_scope(const char *a, const char *b) {
        size_t n = key_scope_len(a);

        return n == key_scope_len(b) && memcmp(a, b, n) == 0;
}

bool alert_field_name_valid(const char *name) {
        const char *rest = startswith(name, "CVM_AGENT_");

        if (!rest || !rest[0] || strlen(name) > ALERT_FIELD_NAME_MAX ||
            startswith(name, "CVM_AGENT_ALERT_"))
                return false;
        for (; *rest; rest++)
                if (!((*rest >= 'A' && *rest <= 'Z') || (*rest >= '0' && *rest <= '9') ||
                      *rest == '_'))
                        return false;
        return true;
}

/* "NAME=value" with a valid name and a value of at most ALERT_FIELD_VALUE_MAX bytes. */
static bool field_valid(const char *f) {
        const char *eq = strchr(f, '=');
        char name[ALERT_FIELD_NAME_MAX + 1];
        size_t n;

        if (!eq)
                return false;
        n = (size_t) (eq - f);
        if (n > ALERT_FIELD_NAME_MAX || strlen(eq + 1) > ALERT_FIELD_VALUE_MAX)
                return false;
        memcpy(name, f, n);
        name[n] = '\0';
        return alert_field_name_valid(name);
}

static bool message_valid(const char *m) {
        size_t n = m ? strlen(m) : 0;

        return n > 0 && n <= ALERT_MESSAGE_MAX;
}

Alert *alert_free(Alert *a) {
        if (a) {
                free(a->message);
                for (size_t i = 0; i < a->n_fields; i++)
                        free(a->fields[i]);
                free(a);
        }
        return NULL;
}

void alert_freep(Alert **a) {
        *a = alert_free(*a);
}

/* The first 16 bytes of SHA-256 over key NUL, time, recovery and since (little-endian). */
static int alert_id(const char *key, int64_t time, bool recovery, int64_t since,
                    char out[static ALERT_ID_SIZE]) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        uint8_t buf[17], md[EVP_MAX_MD_SIZE];
        bool ok;

        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < 8; i++) {
                buf[i] = (uint8_t) ((uint64_t) time >> (8 * i));
                buf[9 + i] = (uint8_t) ((uint64_t) since >> (8 * i));
        }
        buf[8] = recovery;
        ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, key, strlen(key) + 1) == 1 &&
             EVP_DigestUpdate(c, buf, sizeof(buf)) == 1 && EVP_DigestFinal_ex(c, md, NULL) == 1;
        EVP_MD_CTX_free(c);
        if (!ok)
                return -ENOMEM;
        hex_encode_buf(md, 16, out);
        return 0;
}

int alert_new(const char *key, bool recovery, const char *message, int64_t time, int64_t since,
              const char *const *fields, Alert **ret) {
        _cleanup_(alert_freep) Alert *a = NULL;
        AlertKind kind = alert_key_kind(key);
        int r;

        if (kind < 0 || !message_valid(message) || !ret)
                return -EINVAL;
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->kind = kind;
        a->recovery = recovery;
        (void) snprintf(a->key, sizeof(a->key), "%s", key);
        a->time = time;
        a->since = since;
        a->message = strdup(message);
        if (!a->message)
                return -ENOMEM;
        for (size_t i = 0; fields && fields[i]; i++) {
                if (i >= ALERT_FIELDS_MAX || !field_valid(fields[i]))
                        return -EINVAL;
                a->fields[i] = strdup(fields[i]);
                if (!a->fields[i])
                        return -ENOMEM;
                a->n_fields++;
        }
        r = alert_id(key, time, recovery, since, a->id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

int alert_to_json(const Alert *a, const char *host, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *fields;
        char t[32], s[32];

        if (!o)
                return -ENOMEM;
        format_rfc3339((time_t) a->time, t, sizeof(t));
        format_rfc3339((time_t) a->since, s, sizeof(s));
        if (json_add_string(o, "kind", alert_kind_to_string(a->kind)) < 0 ||
            json_add_bool(o, "recovery", a->recovery) < 0 || json_add_string(o, "id", a->id) < 0 ||
            json_add_string(o, "message_id", alert_message_id(a->kind, a->recovery)) < 0 ||
            json_add_int(o, "priority", alert_priority(a->kind, a->recovery)) < 0 ||
            json_add_string(o, "key", a->key) < 0 ||
            json_add_string(o, "message", a->message) < 0 || json_add_string(o, "time", t) < 0 ||
            json_add_string(o, "since", s) < 0 || (host && json_add_string(o, "host", host) < 0) ||
            (a->supersedes[0] && json_add_string(o, "supersedes", a->supersedes) < 0))
                return -ENOMEM;
        fields = json_object_new_object();
        if (json_add(o, "fields", fields) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_fields; i++) {
                const char *eq = strchr(a->fields[i], '=');
                char name[ALERT_FIELD_NAME_MAX + 1];

                (void) snprintf(name, sizeof(name), "%.*s", (int) (eq - a->fields[i]),
                                a->fields[i]);
                if (json_add_string(fields, name, eq + 1) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* Appends s with control characters as spaces, "\n" as " | ". */
static void line_text(FILE *f, const char *s) {
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '\n')
                        fputs(" | ", f);
                else if (c < 0x20 || c == 0x7f)
                        fputc(' ', f);
                else
                        fputc(c, f);
        }
}

int alert_to_line(const Alert *a, char **ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s %s key=%s", a->recovery ? "RECOVERED" : "ALERT",
                alert_kind_to_string(a->kind), a->key);
        if (a->supersedes[0])
                fprintf(f, " supersedes=%s", a->supersedes);
        fputs(": ", f);
        line_text(f, a->message);
        if (a->n_fields > 0) {
                fputs(" [", f);
                for (size_t i = 0; i < a->n_fields; i++) {
                        if (i > 0)
                                fputc(' ', f);
                        line_text(f, a->fields[i]);
                }
                fputc(']', f);
        }
        if (fclose(f) != 0 || !buf)
                return -ENOMEM;
        if (size > LINE_MAX_BYTES) {
                size_t n = LINE_MAX_BYTES - 3;

                while (n > 0 && ((unsigned char) buf[n] & 0xc0) == 0x80)
                        n--;
                memcpy(buf + n, "...", 4);
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

/* ---- the open conditions ---- */

static void open_done(AlertOpen *o) {
        free(o->message);
        *o = (AlertOpen){};
}

void alert_set_done(AlertSet *s) {
        for (size_t i = 0; i < s->n; i++)
                open_done(&s->items[i]);
        free(s->items);
        *s = (AlertSet){};
}

static ssize_t find_scope(const AlertSet *s, const char *key) {
        for (size_t i = 0; i < s->n; i++)
                if (same_scope(s->items[i].key, key))
                        return (ssize_t) i;
        return -1;
}

const AlertOpen *alert_set_find_scope(const AlertSet *s, const char *key) {
        ssize_t i = find_scope(s, key);

        return i < 0 ? NULL : &s->items[i];
}

/* The first line of a message, for a recovery's "(was: ...)". */
static void first_line(const char *m, char *buf, size_t size) {
        size_t n = strcspn(m, "\n");

        if (n >= size) {
                n = size - 4;
                while (n > 0 && ((unsigned char) m[n] & 0xc0) == 0x80)
                        n--;
                (void) snprintf(buf, size, "%.*s...", (int) n, m);
                return;
        }
        (void) snprintf(buf, size, "%.*s", (int) n, m);
}

static void alerts_free(Alert **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                alert_free(v[i]);
        free(v);
}

int alert_set_update(AlertSet *s, uint32_t evaluated, const AlertCondition *conds, size_t n,
                     int64_t now, Alert ***ret_alerts, size_t *ret_n) {
        _cleanup_(freep) AlertOpen *next = NULL;
        _cleanup_(freep) bool *taken = NULL;
        Alert **out = NULL;
        size_t n_out = 0, n_next = 0;
        int r = 0;

        if (!s || (n > 0 && !conds) || !ret_alerts || !ret_n)
                return -EINVAL;
        /* Check everything before changing anything. */
        for (size_t i = 0; i < n; i++) {
                AlertKind k = alert_key_kind(conds[i].key);

                if (k < 0 || !(evaluated & ALERT_KIND_BIT(k)) || !message_valid(conds[i].message))
                        return -EINVAL;
                for (size_t j = 0; conds[i].fields && conds[i].fields[j]; j++)
                        if (j >= ALERT_FIELDS_MAX || !field_valid(conds[i].fields[j]))
                                return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (same_scope(conds[i].key, conds[j].key))
                                return -EINVAL;
        }
        taken = calloc(s->n + 1, sizeof(bool));
        next = calloc(s->n + n + 1, sizeof(AlertOpen));
        out = calloc(s->n + n + 1, sizeof(Alert *));
        if (!taken || !next || !out) {
                free(out);
                return -ENOMEM;
        }

        /* Recoveries: an open condition of a judged kind whose scope holds no more. */
        for (size_t i = 0; i < s->n; i++) {
                const AlertOpen *o = &s->items[i];
                AlertKind k = alert_key_kind(o->key);
                bool holds = !(evaluated & ALERT_KIND_BIT(k));
                char was[240], *msg;

                for (size_t j = 0; j < n && !holds; j++)
                        holds = same_scope(o->key, conds[j].key);
                if (holds)
                        continue;
                first_line(o->message, was, sizeof(was));
                if (asprintf(&msg, "%s (was: %s)", kinds[k].recovered, was) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = alert_new(o->key, true, msg, now, o->since, NULL, &out[n_out]);
                free(msg);
                if (r < 0)
                        goto fail;
                n_out++;
                taken[i] = true;
        }
        /* What stays open as it was, in the order it opened. */
        for (size_t i = 0; i < s->n; i++) {
                bool replaced = false;

                if (taken[i])
                        continue;
                for (size_t j = 0; j < n && !replaced; j++)
                        replaced = same_scope(s->items[i].key, conds[j].key) &&
                                   !streq(s->items[i].key, conds[j].key);
                if (!replaced)
                        next[n_next++] = s->items[i];
        }
        /* New conditions, and ones that supersede an open one of their scope. */
        for (size_t j = 0; j < n; j++) {
                ssize_t i = find_scope(s, conds[j].key);
                Alert *a;

                if (i >= 0 && !taken[i] && streq(s->items[i].key, conds[j].key))
                        continue;
                if (n_next >= ALERT_OPEN_MAX) {
                        r = -E2BIG;
                        goto fail;
                }
                r = alert_new(conds[j].key, false, conds[j].message, now, now, conds[j].fields,
                              &out[n_out]);
                if (r < 0)
                        goto fail;
                a = out[n_out++];
                if (i >= 0 && !taken[i])
                        (void) snprintf(a->supersedes, sizeof(a->supersedes), "%s",
                                        s->items[i].key);
                next[n_next] = (AlertOpen){.since = now};
                (void) snprintf(next[n_next].key, sizeof(next[n_next].key), "%s", a->key);
                memcpy(next[n_next].id, a->id, ALERT_ID_SIZE);
                next[n_next].message = strdup(a->message);
                if (!next[n_next].message) {
                        r = -ENOMEM;
                        goto fail;
                }
                n_next++;
        }

        /* Commit: free what closed or was superseded, keep the rest (moved into next). */
        for (size_t i = 0; i < s->n; i++) {
                bool kept = false;

                for (size_t k = 0; k < n_next && !kept; k++)
                        kept = next[k].message == s->items[i].message;
                if (!kept)
                        open_done(&s->items[i]);
        }
        free(s->items);
        s->items = TAKE_PTR(next);
        s->n = n_next;
        if (n_out == 0) {
                free(out);
                out = NULL;
        }
        *ret_alerts = out;
        *ret_n = n_out;
        return 0;
fail:
        /* next holds borrowed entries of s and new ones: free only the new messages. */
        for (size_t k = 0; k < n_next; k++) {
                bool borrowed = false;

                for (size_t i = 0; i < s->n && !borrowed; i++)
                        borrowed = next[k].message == s->items[i].message;
                if (!borrowed)
                        free(next[k].message);
        }
        alerts_free(out, n_out);
        return r;
}

int alert_set_to_json(const AlertSet *s, char **ret_text) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *open;
        const char *text;

        if (!o || json_add_int(o, "version", ALERT_SET_VERSION) < 0)
                return -ENOMEM;
        open = json_object_new_array();
        if (json_add(o, "open", open) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < s->n; i++) {
                json_object *e = json_object_new_object();
                char since[32];

                if (!e)
                        return -ENOMEM;
                if (json_object_array_add(open, e) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
                format_rfc3339((time_t) s->items[i].since, since, sizeof(since));
                if (json_add_string(e, "key", s->items[i].key) < 0 ||
                    json_add_string(e, "id", s->items[i].id) < 0 ||
                    json_add_string(e, "message", s->items[i].message) < 0 ||
                    json_add_string(e, "since", since) < 0)
                        return -ENOMEM;
        }
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text || asprintf(ret_text, "%s\n", text) < 0)
                return -ENOMEM;
        return 0;
}

static bool is_hex32(const char *s) {
        if (strlen(s) != 32)
                return false;
        for (size_t i = 0; i < 32; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* A time as format_rfc3339 writes it. */
static int strict_time(json_object *v, int64_t *ret) {
        char again[32];
        time_t t;

        if (!json_object_is_type(v, json_type_string) ||
            parse_rfc3339(json_object_get_string(v), &t) < 0)
                return -EBADMSG;
        format_rfc3339(t, again, sizeof(again));
        if (!streq(again, json_object_get_string(v)))
                return -EBADMSG;
        *ret = (int64_t) t;
        return 0;
}

int alert_set_parse(const char *text, size_t size, AlertSet *ret, Diag *d) {
        static const char *const top[] = {"version", "open"};
        static const char *const entry[] = {"key", "id", "message", "since"};
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(alert_set_done) AlertSet s = {};
        char buf[DIAG_PRINTABLE_MAX + 4];
        json_object *open;
        const char *u;
        int r;

        if (!text || !ret)
                return -EINVAL;
        r = json_parse_versioned(text, size, ALERT_SET_FILE_MAX, 3, "alerts", top, ELEMENTSOF(top),
                                 ALERT_SET_VERSION, &o, d);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "open", &open) ||
            !json_object_is_type(open, json_type_array))
                return diag_set(d, -EBADMSG, "alerts: open: missing or not an array");
        if (json_object_array_length(open) > ALERT_OPEN_MAX)
                return diag_set(d, -EBADMSG, "alerts: open: more than %u entries", ALERT_OPEN_MAX);
        s.items = calloc(json_object_array_length(open) + 1, sizeof(AlertOpen));
        if (!s.items)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(open); i++) {
                json_object *e = json_object_array_get_idx(open, i), *key, *id, *msg, *since;
                AlertOpen *a = &s.items[s.n];

                if (!json_object_is_type(e, json_type_object))
                        return diag_set(d, -EBADMSG, "alerts: open[%zu]: not an object", i);
                u = json_unknown_member(e, entry, ELEMENTSOF(entry));
                if (u)
                        return diag_set(d, -EBADMSG, "alerts: open[%zu]: unknown member \"%s\"", i,
                                        diag_printable(u, strlen(u), buf));
                if (!json_object_object_get_ex(e, "key", &key) ||
                    !json_object_is_type(key, json_type_string) ||
                    alert_key_kind(json_object_get_string(key)) < 0)
                        return diag_set(d, -EBADMSG, "alerts: open[%zu].key: missing or malformed",
                                        i);
                if (find_scope(&s, json_object_get_string(key)) >= 0)
                        return diag_set(d, -EBADMSG,
                                        "alerts: open[%zu].key: a second condition "
                                        "of one scope",
                                        i);
                if (!json_object_object_get_ex(e, "id", &id) ||
                    !json_object_is_type(id, json_type_string) ||
                    !is_hex32(json_object_get_string(id)))
                        return diag_set(d, -EBADMSG, "alerts: open[%zu].id: not 32 hex digits", i);
                if (!json_object_object_get_ex(e, "message", &msg) ||
                    !json_object_is_type(msg, json_type_string) ||
                    !message_valid(json_object_get_string(msg)))
                        return diag_set(d, -EBADMSG,
                                        "alerts: open[%zu].message: missing, empty "
                                        "or over %u bytes",
                                        i, ALERT_MESSAGE_MAX);
                if (!json_object_object_get_ex(e, "since", &since) ||
                    strict_time(since, &a->since) < 0)
                        return diag_set(d, -EBADMSG,
                                        "alerts: open[%zu].since: not a time "
                                        "YYYY-MM-DDTHH:MM:SSZ",
                                        i);
                (void) snprintf(a->key, sizeof(a->key), "%s", json_object_get_string(key));
                (void) snprintf(a->id, sizeof(a->id), "%s", json_object_get_string(id));
                a->message = strdup(json_object_get_string(msg));
                if (!a->message)
                        return -ENOMEM;
                s.n++;
        }
        *ret = s;
        s = (AlertSet){};
        return 0;
}
