/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LUKS2 token of type "cvm-agent": parse, build and describe (agent/luks-token.h). Pure.
 */
#include <inttypes.h>
#include <stdio.h>

#include <json-c/json.h>

#include "agent/luks-token.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/strutil.h"
#include "keyrelease/key-wrap.h"

/* TPM_ALG_ID values of the PCR banks a token may name (TCG Algorithm Registry). */
#define ALG_SHA256 0x000Bu
#define ALG_SHA384 0x000Cu

static const struct {
        uint16_t alg;
        const char *name;
} pcr_banks[] = {
        {ALG_SHA256, "sha256"},
        {ALG_SHA384, "sha384"},
};

static const char *pcr_bank_name(uint16_t alg) {
        for (size_t i = 0; i < ELEMENTSOF(pcr_banks); i++)
                if (pcr_banks[i].alg == alg)
                        return pcr_banks[i].name;
        return NULL;
}

LuksToken *luks_token_free(LuksToken *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_verifiers; i++)
                free(t->verifiers[i]);
        free(t->key_url);
        free(t->key_name);
        free(t->key_version);
        free(t);
        return NULL;
}

int luks_token_new(LuksToken **ret) {
        LuksToken *t;

        if (!ret)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->keyslot = -1;
        t->pcr_bank = ALG_SHA256;
        t->enc = KEY_WRAP_RSA_AES_256;
        *ret = t;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                       */

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alnum(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool key_name_valid(const char *s, size_t n) {
        if (n == 0 || n > LUKS_TOKEN_KEY_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-')
                        return false;
        return true;
}

static bool key_version_valid(const char *s, size_t n) {
        if (n != LUKS_TOKEN_KEY_VERSION_SIZE)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return false;
        return true;
}

/*
 * Checks a URL of exactly n bytes as the header describes; on success *ret_path points at its
 * path (after the authority: "" or starting with '/' or, with a query, '?'). what names the
 * member for the Diag.
 */
static int url_check(const char *s, size_t n, bool allow_query, const char *what,
                     const char **ret_path, Diag *d) {
        const char *p, *end = s + n, *host, *port = NULL;
        char buf[52];

        if (n == 0 || n > LUKS_TOKEN_URL_MAX)
                return diag_set(d, -EINVAL, "%s: a URL of %zu bytes (1 to %u)", what, n,
                                LUKS_TOKEN_URL_MAX);
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7f || strchr("\"\\<>#", s[i]))
                        return diag_set(d, -EINVAL,
                                        "%s: \"%s\" has a character a URL here may not have "
                                        "(byte %zu: space, control, '\"', '\\', '<', '>', '#')",
                                        what, diag_printable(s, n, buf), i);
        if (n > 8 && memcmp(s, "https://", 8) == 0)
                host = s + 8;
        else if (n > 7 && memcmp(s, "http://", 7) == 0)
                host = s + 7;
        else
                return diag_set(d, -EINVAL, "%s: \"%s\" is not an http:// or https:// URL", what,
                                diag_printable(s, n, buf));

        /* The authority runs to the first '/' or '?'. */
        for (p = host; p < end && *p != '/' && *p != '?'; p++)
                if (*p == '@')
                        return diag_set(d, -EINVAL,
                                        "%s: \"%s\" carries user information ('@'), which a "
                                        "header must not hold",
                                        what, diag_printable(s, n, buf));
        if (p == host)
                return diag_set(d, -EINVAL, "%s: \"%s\" has no host", what,
                                diag_printable(s, n, buf));
        if (*host == '[') {
                const char *q = host + 1;

                while (q < p && (is_digit(*q) || (*q >= 'a' && *q <= 'f') ||
                                 (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
                        q++;
                if (q == host + 1 || q >= p || *q != ']')
                        return diag_set(d, -EINVAL, "%s: \"%s\" has a malformed IPv6 host", what,
                                        diag_printable(s, n, buf));
                if (q + 1 < p) {
                        if (q[1] != ':')
                                return diag_set(d, -EINVAL, "%s: \"%s\" has a malformed host", what,
                                                diag_printable(s, n, buf));
                        port = q + 2;
                }
        } else {
                const char *q = host;

                while (q < p && (is_alnum(*q) || *q == '-' || *q == '.' || *q == '_'))
                        q++;
                if (q == host)
                        return diag_set(d, -EINVAL, "%s: \"%s\" has no host", what,
                                        diag_printable(s, n, buf));
                if (q < p) {
                        if (*q != ':')
                                return diag_set(d, -EINVAL, "%s: \"%s\" has a malformed host", what,
                                                diag_printable(s, n, buf));
                        port = q + 1;
                }
        }
        if (port) {
                unsigned v = 0;

                if (port == p || p - port > 5)
                        return diag_set(d, -EINVAL, "%s: \"%s\" has a malformed port", what,
                                        diag_printable(s, n, buf));
                for (const char *q = port; q < p; q++) {
                        if (!is_digit(*q))
                                return diag_set(d, -EINVAL, "%s: \"%s\" has a malformed port", what,
                                                diag_printable(s, n, buf));
                        v = v * 10 + (unsigned) (*q - '0');
                }
                if (v == 0 || v > 65535 || *port == '0')
                        return diag_set(d, -EINVAL, "%s: \"%s\" has a port out of range", what,
                                        diag_printable(s, n, buf));
        }
        if (!allow_query && memchr(p, '?', (size_t) (end - p)))
                return diag_set(d, -EINVAL, "%s: \"%s\" has a query, which a key URL may not have",
                                what, diag_printable(s, n, buf));
        if (ret_path)
                *ret_path = p;
        return 0;
}

/*
 * The key URL's path ends in "/keys/NAME" or "/keys/NAME/VERSION" for the given name: the
 * version (or NULL) into *ret_version.
 */
static int key_url_match(const char *path, const char *name, const char **ret_version) {
        size_t n = strlen(path), name_len = strlen(name), keys_len = strlen("/keys/");

        /* ".../keys/NAME" */
        if (n >= keys_len + name_len && memcmp(path + n - name_len, name, name_len) == 0 &&
            memcmp(path + n - name_len - keys_len, "/keys/", keys_len) == 0) {
                *ret_version = NULL;
                return 0;
        }
        /* ".../keys/NAME/VERSION" */
        if (n >= keys_len + name_len + 1 + LUKS_TOKEN_KEY_VERSION_SIZE) {
                const char *v = path + n - LUKS_TOKEN_KEY_VERSION_SIZE;
                const char *at = v - 1 - name_len - keys_len;

                if (v[-1] == '/' && key_version_valid(v, LUKS_TOKEN_KEY_VERSION_SIZE) &&
                    memcmp(at, "/keys/", keys_len) == 0 &&
                    memcmp(at + keys_len, name, name_len) == 0) {
                        *ret_version = v;
                        return 0;
                }
        }
        return -ENOENT;
}

static bool is_verifier_listed(const LuksToken *t, const char *url) {
        for (size_t i = 0; i < t->n_verifiers; i++)
                if (streq(t->verifiers[i], url))
                        return true;
        return false;
}

int luks_token_add_verifier(LuksToken *t, const char *url, Diag *d) {
        char *copy;
        int r;

        if (!t || !url)
                return -EINVAL;
        r = url_check(url, strlen(url), /* allow_query= */ true, "verifiers", NULL, d);
        if (r < 0)
                return r;
        if (is_verifier_listed(t, url))
                return diag_set(d, -EEXIST, "verifiers: %s is listed twice", url);
        if (t->n_verifiers >= LUKS_TOKEN_VERIFIERS_MAX)
                return diag_set(d, -E2BIG, "verifiers: at most %u", LUKS_TOKEN_VERIFIERS_MAX);
        copy = strdup(url);
        if (!copy)
                return -ENOMEM;
        t->verifiers[t->n_verifiers++] = copy;
        return 0;
}

/*
 * The key name of a key URL's path without a given name: ".../keys/NAME/VERSION" when the last
 * segment is a version and the one before NAME is "keys", else ".../keys/NAME".
 */
static int key_name_from_path(const char *path, char **ret) {
        const char *seg[3] = {};
        size_t len[3] = {}, n = 0;
        const char *end = path + strlen(path);

        /* The last three segments, last first. */
        while (n < 3 && end > path) {
                const char *p = end;

                while (p > path && p[-1] != '/')
                        p--;
                if (p == path) /* a path starts with '/' */
                        break;
                seg[n] = p;
                len[n] = (size_t) (end - p);
                n++;
                end = p - 1;
        }
        if (n == 3 && key_version_valid(seg[0], len[0]) && len[2] == 4 &&
            memcmp(seg[2], "keys", 4) == 0)
                *ret = strndup(seg[1], len[1]);
        else if (n >= 2 && len[1] == 4 && memcmp(seg[1], "keys", 4) == 0)
                *ret = strndup(seg[0], len[0]);
        else
                return -ENOENT;
        return *ret ? 0 : -ENOMEM;
}

int luks_token_set_key(LuksToken *t, const char *key_release, const char *name, Diag *d) {
        _cleanup_(freep) char *url = NULL, *key_name = NULL, *key_version = NULL;
        const char *path, *version = NULL;
        size_t n;
        int r;

        if (!t || !key_release)
                return -EINVAL;
        if (name && !key_name_valid(name, strlen(name)))
                return diag_set(d, -EINVAL, "key: a key name is 1 to %u letters, digits or '-'",
                                LUKS_TOKEN_KEY_NAME_MAX);
        n = strlen(key_release);
        if (n > 0 && key_release[n - 1] == '/')
                n--;
        url = strndup(key_release, n);
        if (!url)
                return -ENOMEM;
        r = url_check(url, n, /* allow_query= */ false, "key-release", &path, d);
        if (r < 0)
                return r;

        if (path[0] == '\0') {
                /* The vault's own URL: the key is NAME under it, its latest version. */
                char *full;

                if (!name)
                        return diag_set(d, -EINVAL,
                                        "key-release: %s is a vault URL, and no key name is given",
                                        url);
                if (asprintf(&full, "%s/keys/%s", url, name) < 0)
                        return -ENOMEM;
                free(url);
                url = full;
                if (strlen(url) > LUKS_TOKEN_URL_MAX)
                        return diag_set(d, -EINVAL, "key-release: a URL of %zu bytes (1 to %u)",
                                        strlen(url), LUKS_TOKEN_URL_MAX);
                key_name = strdup(name);
                if (!key_name)
                        return -ENOMEM;
        } else {
                if (name)
                        key_name = strdup(name);
                else {
                        r = key_name_from_path(path, &key_name);
                        if (r == -ENOMEM)
                                return r;
                }
                if (!key_name && !name)
                        return diag_set(d, -EINVAL,
                                        "key-release: %s does not end in /keys/NAME[/VERSION]",
                                        url);
                if (!key_name)
                        return -ENOMEM;
                if (!key_name_valid(key_name, strlen(key_name)))
                        return diag_set(d, -EINVAL,
                                        "key-release: %s: a key name is 1 to %u letters, digits "
                                        "or '-'",
                                        url, LUKS_TOKEN_KEY_NAME_MAX);
                if (key_url_match(path, key_name, &version) < 0)
                        return diag_set(d, -EINVAL,
                                        "key-release: %s does not end in /keys/%s[/VERSION]", url,
                                        key_name);
                if (version) {
                        key_version = strdup(version);
                        if (!key_version)
                                return -ENOMEM;
                }
        }

        free(t->key_url);
        free(t->key_name);
        free(t->key_version);
        t->key_url = TAKE_PTR(url);
        t->key_name = TAKE_PTR(key_name);
        t->key_version = TAKE_PTR(key_version);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                      */

/* o[key] as a string without NUL bytes: -ENOENT when absent, -EBADMSG otherwise. */
static int string_member(json_object *o, const char *key, const char **ret, size_t *ret_size) {
        json_object *v;
        const char *s;
        size_t n;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
        if (strlen(s) != n)
                return -EBADMSG;
        *ret = s;
        *ret_size = n;
        return 0;
}

static const char *const known_members[] = {
        "type", "keyslots", "cvm-agent-version", "verifiers", "key-release", "key", "pcr-bank",
        "pcrs", "enc",
};

static int parse_keyslots(json_object *o, LuksToken *t, Diag *d) {
        json_object *a, *v;
        const char *s;
        size_t n;

        if (!json_object_object_get_ex(o, "keyslots", &a))
                return diag_set(d, -EBADMSG, "keyslots: missing");
        if (!json_object_is_type(a, json_type_array))
                return diag_set(d, -EBADMSG, "keyslots: not an array");
        if (json_object_array_length(a) != 1)
                return diag_set(d, -EBADMSG,
                                "keyslots: %zu keyslots (a cvm-agent token opens "
                                "exactly one)",
                                json_object_array_length(a));
        v = json_object_array_get_idx(a, 0);
        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "keyslots[0]: not a string");
        s = json_object_get_string(v);
        n = (size_t) json_object_get_string_len(v);
        /* Canonical decimal, as libcryptsetup writes keyslot ids: "0" to "31". */
        if (n == 0 || n > 2 || strlen(s) != n || !is_digit(s[0]) || (n == 2 && !is_digit(s[1])) ||
            (n == 2 && s[0] == '0'))
                return diag_set(d, -EBADMSG, "keyslots[0]: not a keyslot number");
        t->keyslot = n == 1 ? s[0] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
        if (t->keyslot > LUKS_TOKEN_KEYSLOT_MAX)
                return diag_set(d, -EBADMSG, "keyslots[0]: keyslot %d (0 to %d)", t->keyslot,
                                LUKS_TOKEN_KEYSLOT_MAX);
        return 0;
}

static int parse_verifiers(json_object *o, LuksToken *t, Diag *d) {
        json_object *a;
        size_t n;

        if (!json_object_object_get_ex(o, "verifiers", &a))
                return diag_set(d, -EBADMSG, "verifiers: missing");
        if (!json_object_is_type(a, json_type_array))
                return diag_set(d, -EBADMSG, "verifiers: not an array");
        n = json_object_array_length(a);
        if (n == 0 || n > LUKS_TOKEN_VERIFIERS_MAX)
                return diag_set(d, -EBADMSG, "verifiers: %zu URLs (1 to %u)", n,
                                LUKS_TOKEN_VERIFIERS_MAX);
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                const char *s;
                size_t len;
                char what[32];
                int r;

                (void) snprintf(what, sizeof(what), "verifiers[%zu]", i);
                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "%s: not a string", what);
                s = json_object_get_string(v);
                len = (size_t) json_object_get_string_len(v);
                if (strlen(s) != len)
                        return diag_set(d, -EBADMSG, "%s: a NUL byte in a URL", what);
                r = url_check(s, len, /* allow_query= */ true, what, NULL, d);
                if (r < 0)
                        return -EBADMSG;
                if (is_verifier_listed(t, s))
                        return diag_set(d, -EBADMSG, "%s: listed twice", what);
                t->verifiers[t->n_verifiers] = strdup(s);
                if (!t->verifiers[t->n_verifiers])
                        return -ENOMEM;
                t->n_verifiers++;
        }
        return 0;
}

static int parse_key(json_object *o, LuksToken *t, Diag *d) {
        const char *url, *name, *path, *version;
        size_t url_len, name_len;
        char buf[52];
        int r;

        r = string_member(o, "key", &name, &name_len);
        if (r == -ENOENT)
                return diag_set(d, -EBADMSG, "key: missing");
        if (r < 0)
                return diag_set(d, -EBADMSG, "key: not a string");
        if (!key_name_valid(name, name_len))
                return diag_set(d, -EBADMSG,
                                "key: \"%s\" is not a key name (1 to %u letters, "
                                "digits or '-')",
                                diag_printable(name, name_len, buf), LUKS_TOKEN_KEY_NAME_MAX);

        r = string_member(o, "key-release", &url, &url_len);
        if (r == -ENOENT)
                return diag_set(d, -EBADMSG, "key-release: missing");
        if (r < 0)
                return diag_set(d, -EBADMSG, "key-release: not a string");
        r = url_check(url, url_len, /* allow_query= */ false, "key-release", &path, d);
        if (r < 0)
                return -EBADMSG;
        if (key_url_match(path, name, &version) < 0)
                return diag_set(d, -EBADMSG,
                                "key-release: \"%s\" does not end in /keys/%s or "
                                "/keys/%s/VERSION",
                                diag_printable(url, url_len, buf), name, name);

        t->key_url = strdup(url);
        t->key_name = strdup(name);
        if (!t->key_url || !t->key_name)
                return -ENOMEM;
        if (version) {
                t->key_version = strdup(version);
                if (!t->key_version)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_pcrs(json_object *o, LuksToken *t, Diag *d) {
        const char *s;
        json_object *a;
        size_t n;
        char buf[52];
        int r;

        r = string_member(o, "pcr-bank", &s, &n);
        if (r == -ENOENT)
                return diag_set(d, -EBADMSG, "pcr-bank: missing");
        if (r < 0)
                return diag_set(d, -EBADMSG, "pcr-bank: not a string");
        t->pcr_bank = 0;
        for (size_t i = 0; i < ELEMENTSOF(pcr_banks); i++)
                if (streq(s, pcr_banks[i].name))
                        t->pcr_bank = pcr_banks[i].alg;
        if (t->pcr_bank == 0)
                return diag_set(d, -EPROTONOSUPPORT, "pcr-bank: \"%s\" (sha256 or sha384)",
                                diag_printable(s, n, buf));

        if (!json_object_object_get_ex(o, "pcrs", &a))
                return diag_set(d, -EBADMSG, "pcrs: missing");
        if (!json_object_is_type(a, json_type_array))
                return diag_set(d, -EBADMSG, "pcrs: not an array");
        n = json_object_array_length(a);
        if (n == 0 || n > LUKS_TOKEN_PCR_COUNT)
                return diag_set(d, -EBADMSG, "pcrs: %zu PCRs (1 to %u)", n, LUKS_TOKEN_PCR_COUNT);
        t->pcr_mask = 0;
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(a, i);
                int64_t pcr;

                if (!json_object_is_type(v, json_type_int))
                        return diag_set(d, -EBADMSG, "pcrs[%zu]: not an integer", i);
                pcr = json_object_get_int64(v);
                if (pcr < 0 || pcr >= (int64_t) LUKS_TOKEN_PCR_COUNT)
                        return diag_set(d, -EBADMSG, "pcrs[%zu]: PCR %" PRId64 " (0 to %u)", i, pcr,
                                        LUKS_TOKEN_PCR_COUNT - 1);
                /* Ascending: the selection has one spelling. */
                if (t->pcr_mask >> pcr)
                        return diag_set(d, -EBADMSG,
                                        "pcrs[%zu]: PCR %" PRId64 " is not above "
                                        "the one before",
                                        i, pcr);
                t->pcr_mask |= UINT32_C(1) << pcr;
        }
        return 0;
}

int luks_token_parse(const char *json, size_t size, LuksToken **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        _cleanup_(json_member_counts_done) JsonMemberCounts counts = {};
        size_t next = 0, n;
        json_object *v;
        const char *s;
        char buf[52];
        int64_t version;
        int r;

        if (!json || !ret)
                return -EINVAL;
        if (size > LUKS_TOKEN_JSON_MAX)
                return diag_set(d, -E2BIG, "token: %zu bytes of JSON (at most %u)", size,
                                LUKS_TOKEN_JSON_MAX);
        /* json-c's depth counts one level more than the nested objects and arrays. */
        r = json_parse_capped(json, size, LUKS_TOKEN_JSON_MAX, LUKS_TOKEN_DEPTH + 1, &o);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG, "token: not JSON, or nested deeper than %d",
                                LUKS_TOKEN_DEPTH);
        if (!json_object_is_type(o, json_type_object))
                return diag_set(d, -EBADMSG, "token: not a JSON object");
        r = json_member_counts(json, size, LUKS_TOKEN_DEPTH + 1, size / 2 + 1, &counts);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || json_members_unique(o, &counts, &next))
                return diag_set(d, -EBADMSG, "token: a member appears twice");

        r = string_member(o, "type", &s, &n);
        if (r == -ENOENT)
                return diag_set(d, -EBADMSG, "type: missing");
        if (r < 0)
                return diag_set(d, -EBADMSG, "type: not a string");
        if (!streq(s, LUKS_TOKEN_TYPE))
                return diag_set(d, -EMEDIUMTYPE, "type: \"%s\", not \"" LUKS_TOKEN_TYPE "\"",
                                diag_printable(s, n, buf));

        if (!json_object_object_get_ex(o, "cvm-agent-version", &v))
                return diag_set(d, -EBADMSG, "cvm-agent-version: missing");
        if (!json_object_is_type(v, json_type_int))
                return diag_set(d, -EBADMSG, "cvm-agent-version: not an integer");
        version = json_object_get_int64(v);
        if (version != LUKS_TOKEN_VERSION)
                return diag_set(d, -EPROTONOSUPPORT,
                                "cvm-agent-version: %" PRId64 " (this agent reads %d)", version,
                                LUKS_TOKEN_VERSION);

        json_object_object_foreach(o, key, val) {
                bool known = false;

                (void) val;
                for (size_t i = 0; i < ELEMENTSOF(known_members); i++)
                        known = known || streq(key, known_members[i]);
                if (!known && !startswith(key, "x-"))
                        return diag_set(d, -EBADMSG, "\"%s\": unknown member",
                                        diag_printable(key, strlen(key), buf));
        }

        r = luks_token_new(&t);
        if (r < 0)
                return r;
        r = parse_keyslots(o, t, d);
        if (r < 0)
                return r;
        r = parse_verifiers(o, t, d);
        if (r < 0)
                return r;
        r = parse_key(o, t, d);
        if (r < 0)
                return r;
        r = parse_pcrs(o, t, d);
        if (r < 0)
                return r;

        r = string_member(o, "enc", &s, &n);
        if (r == -ENOENT)
                return diag_set(d, -EBADMSG, "enc: missing");
        if (r < 0)
                return diag_set(d, -EBADMSG, "enc: not a string");
        t->enc = key_wrap_alg_from_string(s);
        if (t->enc < 0)
                return diag_set(d, -EPROTONOSUPPORT, "enc: unknown wrap algorithm \"%s\"",
                                diag_printable(s, n, buf));

        *ret = TAKE_PTR(t);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Building                                                                                     */

/* Whether t is what the parser accepts; a Diag names the member otherwise. */
static int validate(const LuksToken *t, Diag *d) {
        const char *path, *version;
        int r;

        if (t->keyslot < 0 || t->keyslot > LUKS_TOKEN_KEYSLOT_MAX)
                return diag_set(d, -EINVAL, "keyslots: keyslot %d (0 to %d)", t->keyslot,
                                LUKS_TOKEN_KEYSLOT_MAX);
        if (t->n_verifiers == 0 || t->n_verifiers > LUKS_TOKEN_VERIFIERS_MAX)
                return diag_set(d, -EINVAL, "verifiers: %zu URLs (1 to %u)", t->n_verifiers,
                                LUKS_TOKEN_VERIFIERS_MAX);
        for (size_t i = 0; i < t->n_verifiers; i++) {
                if (!t->verifiers[i])
                        return diag_set(d, -EINVAL, "verifiers[%zu]: missing", i);
                r = url_check(t->verifiers[i], strlen(t->verifiers[i]), true, "verifiers", NULL, d);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(t->verifiers[i], t->verifiers[j]))
                                return diag_set(d, -EINVAL, "verifiers[%zu]: listed twice", i);
        }
        if (!t->key_url || !t->key_name)
                return diag_set(d, -EINVAL, "key-release: missing");
        if (!key_name_valid(t->key_name, strlen(t->key_name)))
                return diag_set(d, -EINVAL, "key: not a key name");
        r = url_check(t->key_url, strlen(t->key_url), false, "key-release", &path, d);
        if (r < 0)
                return r;
        if (key_url_match(path, t->key_name, &version) < 0)
                return diag_set(d, -EINVAL, "key-release: %s does not end in /keys/%s", t->key_url,
                                t->key_name);
        if (!streq_ptr(version, t->key_version))
                return diag_set(d, -EINVAL, "key-release: the version is not key_version");
        if (!pcr_bank_name(t->pcr_bank))
                return diag_set(d, -EINVAL, "pcr-bank: 0x%04x (sha256 or sha384)", t->pcr_bank);
        if (t->pcr_mask == 0 || (t->pcr_mask >> LUKS_TOKEN_PCR_COUNT) != 0)
                return diag_set(d, -EINVAL, "pcrs: mask 0x%08x (1 to %u PCRs of 0 to %u)",
                                t->pcr_mask, LUKS_TOKEN_PCR_COUNT, LUKS_TOKEN_PCR_COUNT - 1);
        if (!key_wrap_alg_to_string(t->enc))
                return diag_set(d, -EINVAL, "enc: unknown wrap algorithm");
        return 0;
}

int luks_token_build(const LuksToken *t, char **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *a;
        const char *text;
        char slot[4];
        int r;

        if (!t || !ret)
                return -EINVAL;
        r = validate(t, d);
        if (r < 0)
                return r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add_string(o, "type", LUKS_TOKEN_TYPE);
        if (r < 0)
                return r;
        (void) snprintf(slot, sizeof(slot), "%d", t->keyslot);
        a = json_object_new_array();
        r = json_add(o, "keyslots", a);
        if (r < 0)
                return r;
        if (json_object_array_add(a, json_object_new_string(slot)) < 0)
                return -ENOMEM;
        r = json_add_int(o, "cvm-agent-version", LUKS_TOKEN_VERSION);
        if (r < 0)
                return r;
        a = json_object_new_array();
        r = json_add(o, "verifiers", a);
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_verifiers; i++) {
                json_object *s = json_object_new_string(t->verifiers[i]);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
        }
        r = json_add_string(o, "key-release", t->key_url);
        if (r < 0)
                return r;
        r = json_add_string(o, "key", t->key_name);
        if (r < 0)
                return r;
        r = json_add_string(o, "pcr-bank", pcr_bank_name(t->pcr_bank));
        if (r < 0)
                return r;
        a = json_object_new_array();
        r = json_add(o, "pcrs", a);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < LUKS_TOKEN_PCR_COUNT; i++) {
                json_object *v;

                if (!(t->pcr_mask & (UINT32_C(1) << i)))
                        continue;
                v = json_object_new_int(i);
                if (!v || json_object_array_add(a, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        r = json_add_string(o, "enc", key_wrap_alg_to_string(t->enc));
        if (r < 0)
                return r;

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

int luks_token_release_url(const LuksToken *t, char **ret) {
        if (!t || !t->key_url || !ret)
                return -EINVAL;
        if (asprintf(ret, "%s/release", t->key_url) < 0)
                return -ENOMEM;
        return 0;
}

const char *luks_token_pcrs_to_string(const LuksToken *t,
                                      char buf[static LUKS_TOKEN_PCRS_TEXT_MAX]) {
        const char *bank = t ? pcr_bank_name(t->pcr_bank) : NULL;
        size_t k;

        k = (size_t) snprintf(buf, LUKS_TOKEN_PCRS_TEXT_MAX, "%s:", bank ? bank : "?");
        for (unsigned i = 0; t && i < LUKS_TOKEN_PCR_COUNT; i++) {
                if (!(t->pcr_mask & (UINT32_C(1) << i)))
                        continue;
                /* 24 PCRs of at most 3 characters each fit in the 80 bytes. */
                k += (size_t) snprintf(buf + k, LUKS_TOKEN_PCRS_TEXT_MAX - k, "%s%u",
                                       buf[k - 1] == ':' ? "" : ",", i);
        }
        return buf;
}

int luks_token_dump(const LuksToken *t, char **ret) {
        _cleanup_(freep) char *text = NULL;
        char pcrs[LUKS_TOKEN_PCRS_TEXT_MAX];
        size_t size = 0;
        FILE *f;

        if (!t || !ret)
                return -EINVAL;
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "\tcvm-agent format: %d\n", LUKS_TOKEN_VERSION);
        for (size_t i = 0; i < t->n_verifiers; i++)
                fprintf(f, "\t%-11s %s\n", i == 0 ? "Verifiers:" : "", t->verifiers[i]);
        if (t->key_name) {
                if (t->key_version)
                        fprintf(f, "\tKey:        %s (version %s)\n", t->key_name, t->key_version);
                else
                        fprintf(f, "\tKey:        %s (latest version)\n", t->key_name);
        }
        if (t->key_url)
                fprintf(f, "\tKey URL:    %s\n", t->key_url);
        fprintf(f, "\tPCRs:       %s\n", luks_token_pcrs_to_string(t, pcrs));
        fprintf(f, "\tWrap:       %s\n",
                key_wrap_alg_to_string(t->enc) ? key_wrap_alg_to_string(t->enc) : "?");
        if (fclose(f) != 0 || !text)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}
