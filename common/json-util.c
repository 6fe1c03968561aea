/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <inttypes.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"

DEFINE_CLEANUP_FUNC(json_tokener *, json_tokener_free);

/*
 * The fast path: a strict parser of the subset of JSON our documents are written in, building the
 * same json-c objects the tokener builds, and leaving everything else to json-c. The subset:
 * objects and arrays (a value at nesting level L only while L + 1 < max_depth, one level short of
 * json-c's own limit), strings of printable ASCII without escapes, integers without a fraction or
 * exponent of at most 18 digits (not "-0"), true, false, null, and the white space json-c's strict
 * mode skips (space, tab, CR, LF); the top level an object or an array, followed by white space
 * only. Whatever is outside it, malformed or not, makes it decline, and json-c decides: so what it
 * accepts json-c accepts too, with an equal tree (duplicate keys: the last value at the first
 * key's place, as json_object_object_add does), and what json-c refuses it never accepts
 * (tests/fuzz/fuzz-json.c holds it to that). Its point: a json-c string is copied character by
 * character through a growing buffer, and our strings are long base64.
 */
typedef struct JsonFast {
        const uint8_t *p, *end;
        int max_depth;
} JsonFast;

/* Printable ASCII other than '"' and '\\': what a string may hold on the fast path. */
static const uint8_t json_plain[256] = {
        [0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1,
};

struct json_unaligned_u64 {
        uint64_t v;
} __attribute__((packed, may_alias));

#define JSON_ONES UINT64_C(0x0101010101010101)
#define JSON_HIGH UINT64_C(0x8080808080808080)

/* Whether a byte of x is zero. */
static inline uint64_t json_word_zero(uint64_t x) {
        return (x - JSON_ONES) & ~x & JSON_HIGH;
}

/* Whether a byte of x may be outside json_plain: below 0x20, 0x7f and above, '"' or '\\'. Never
 * false when one is; sometimes true when none is (a borrow or carry from a byte that is): the
 * caller then looks byte by byte. */
static inline bool json_word_special(uint64_t x) {
        uint64_t below = (x - JSON_ONES * 0x20) & ~x, above = (x + JSON_ONES) | x;

        return ((below | above) & JSON_HIGH) != 0 || json_word_zero(x ^ (JSON_ONES * '"')) != 0 ||
               json_word_zero(x ^ (JSON_ONES * '\\')) != 0;
}

static void json_fast_ws(JsonFast *f) {
        while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
                f->p++;
}

/* A string after its opening quote: its characters' span, the closing quote consumed. */
static bool json_fast_string(JsonFast *f, const char **ret, size_t *ret_len) {
        const uint8_t *start = f->p, *p = f->p;

#ifdef __SSE2__
        /* Sixteen at a time: below 0x20 or above 0x7f (negative as signed), 0x7f, '"', '\\'. */
        while (f->end - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *) p);
                __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))),
                                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));

                if (_mm_movemask_epi8(m) != 0)
                        break;
                p += 16;
        }
#endif
        while (f->end - p >= 8 && !json_word_special(((const struct json_unaligned_u64 *) p)->v))
                p += 8;
        while (p < f->end && json_plain[*p])
                p++;
        if (p >= f->end || *p != '"')
                return false;
        *ret = (const char *) start;
        *ret_len = (size_t) (p - start);
        f->p = p + 1;
        return true;
}

static bool json_fast_value(JsonFast *f, int level, json_object **ret);

static bool json_fast_number(JsonFast *f, json_object **ret) {
        const uint8_t *p = f->p;
        bool neg = false;
        int64_t v = 0;
        int digits = 0;

        if (*p == '-') {
                neg = true;
                p++;
        }
        if (p >= f->end || *p < '0' || *p > '9' || (neg && *p == '0'))
                return false;
        if (*p == '0') {
                p++;
                digits = 1;
        } else
                for (; p < f->end && *p >= '0' && *p <= '9'; p++)
                        if (++digits > 18)
                                return false;
                        else
                                v = v * 10 + (*p - '0');
        /* A fraction, an exponent, or more digits after a leading zero: json-c's to judge. */
        if (p < f->end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'))
                return false;
        *ret = json_object_new_int64(neg ? -v : v);
        if (!*ret)
                return false;
        f->p = p;
        return true;
}

static bool json_fast_literal(JsonFast *f, const char *word, json_object **ret) {
        size_t n = strlen(word);

        if ((size_t) (f->end - f->p) < n || memcmp(f->p, word, n) != 0)
                return false;
        f->p += n;
        if (word[0] == 'n')
                *ret = NULL;
        else {
                *ret = json_object_new_boolean(word[0] == 't');
                if (!*ret)
                        return false;
        }
        return true;
}

/* After a member of an object or an element of an array: 1 at its closing character (consumed),
 * 0 at a ',' (consumed, with the white space after it), -1 at anything else or the end. */
static int json_fast_after_member(JsonFast *f, char close) {
        json_fast_ws(f);
        if (f->p >= f->end)
                return -1;
        if (*f->p == close) {
                f->p++;
                return 1;
        }
        if (*f->p != ',')
                return -1;
        f->p++;
        json_fast_ws(f);
        return 0;
}

static bool json_fast_object(JsonFast *f, int level, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o)
                return false;
        json_fast_ws(f);
        if (f->p < f->end && *f->p == '}') {
                f->p++;
                *ret = TAKE_PTR(o);
                return true;
        }
        for (;;) {
                json_object *v = NULL;
                const char *k;
                size_t kn;
                char key[256];

                if (f->p >= f->end || *f->p != '"')
                        return false;
                f->p++;
                if (!json_fast_string(f, &k, &kn) || kn >= sizeof(key))
                        return false;
                memcpy(key, k, kn);
                key[kn] = '\0';
                json_fast_ws(f);
                if (f->p >= f->end || *f->p != ':')
                        return false;
                f->p++;
                json_fast_ws(f);
                if (!json_fast_value(f, level + 1, &v))
                        return false;
                if (json_object_object_add(o, key, v) < 0) {
                        json_object_put(v);
                        return false;
                }
                switch (json_fast_after_member(f, '}')) {
                case 1:
                        *ret = TAKE_PTR(o);
                        return true;
                case 0:
                        continue;
                default:
                        return false;
                }
        }
}

static bool json_fast_array(JsonFast *f, int level, json_object **ret) {
        _cleanup_(json_object_putp) json_object *a = json_object_new_array();

        if (!a)
                return false;
        json_fast_ws(f);
        if (f->p < f->end && *f->p == ']') {
                f->p++;
                *ret = TAKE_PTR(a);
                return true;
        }
        for (;;) {
                json_object *v = NULL;

                if (!json_fast_value(f, level + 1, &v))
                        return false;
                if (json_object_array_add(a, v) < 0) {
                        json_object_put(v);
                        return false;
                }
                switch (json_fast_after_member(f, ']')) {
                case 1:
                        *ret = TAKE_PTR(a);
                        return true;
                case 0:
                        continue;
                default:
                        return false;
                }
        }
}

/* A value at nesting level `level` (the top is 0), at f->p (no white space before it). */
static bool json_fast_value(JsonFast *f, int level, json_object **ret) {
        const char *s;
        size_t n;

        if (level + 1 >= f->max_depth || f->p >= f->end)
                return false;
        switch (*f->p) {
        case '{':
                f->p++;
                return json_fast_object(f, level, ret);
        case '[':
                f->p++;
                return json_fast_array(f, level, ret);
        case '"':
                f->p++;
                if (!json_fast_string(f, &s, &n))
                        return false;
                *ret = json_object_new_string_len(s, (int) n);
                return *ret != NULL;
        case 't':
                return json_fast_literal(f, "true", ret);
        case 'f':
                return json_fast_literal(f, "false", ret);
        case 'n':
                return json_fast_literal(f, "null", ret);
        default:
                return json_fast_number(f, ret);
        }
}

int json_parse_fast(const char *text, size_t size, int max_depth, json_object **ret) {
        JsonFast f = {
                .p = (const uint8_t *) text,
                .end = (const uint8_t *) text + size,
                .max_depth = max_depth,
        };
        json_object *o = NULL;

        if (size > INT32_MAX)
                return 0;
        json_fast_ws(&f);
        if (f.p >= f.end || (*f.p != '{' && *f.p != '['))
                return 0;
        if (!json_fast_value(&f, 0, &o))
                return 0;
        json_fast_ws(&f);
        if (f.p != f.end) {
                json_object_put(o);
                return 0;
        }
        *ret = o;
        return 1;
}

int json_parse_jsonc(const char *text, size_t size, size_t max_size, int max_depth,
                     json_object **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        json_object *o;

        if (size > max_size || size > INT32_MAX)
                return -E2BIG;
        if (memchr(text, '\0', size))
                return -EBADMSG;
        tok = json_tokener_new_ex(max_depth);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, text, (int) size);
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                return -EBADMSG;
        }
        /* Anything but white space after the value is trailing garbage. */
        for (size_t i = json_tokener_get_parse_end(tok); i < size; i++)
                if (!strchr(" \t\r\n", text[i])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        *ret = o;
        return 0;
}

int json_parse_capped(const char *text, size_t size, size_t max_size, int max_depth,
                      json_object **ret) {
        if (size > max_size || size > INT32_MAX)
                return -E2BIG;
        if (memchr(text, '\0', size))
                return -EBADMSG;
        if (json_parse_fast(text, size, max_depth, ret) > 0)
                return 0;
        return json_parse_jsonc(text, size, max_size, max_depth, ret);
}

int json_add(json_object *o, const char *key, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_object_add(o, key, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

int json_add_string(json_object *o, const char *key, const char *value) {
        return json_add(o, key, json_object_new_string(value));
}

int json_add_int(json_object *o, const char *key, int64_t value) {
        return json_add(o, key, json_object_new_int64(value));
}

int json_add_bool(json_object *o, const char *key, bool value) {
        return json_add(o, key, json_object_new_boolean(value));
}

int json_add_hex(json_object *o, const char *key, const void *p, size_t n) {
        _cleanup_(freep) char *s = NULL;
        int r;

        r = hex_encode(p, n, &s);
        if (r < 0)
                return r;
        return json_add_string(o, key, s);
}

int json_member_counts(const char *t, size_t n, size_t max_depth, size_t max_objects,
                       JsonMemberCounts *ret) {
        _cleanup_(freep) size_t *counts = NULL, *object_at = NULL;
        _cleanup_(freep) bool *is_object = NULL;
        bool in_string = false, expect_key = false, nul = false;
        size_t depth = 0, n_objects = 0;

        counts = calloc(max_objects + 1, sizeof(size_t));
        object_at = calloc(max_depth + 1, sizeof(size_t));
        is_object = calloc(max_depth + 1, sizeof(bool));
        if (!counts || !object_at || !is_object)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char c = t[i];

                if (in_string) {
                        if (c == '"') {
                                /* A string where a key goes is one more member. */
                                in_string = false;
                                if (depth > 0 && is_object[depth - 1] && expect_key) {
                                        counts[object_at[depth - 1]]++;
                                        expect_key = false;
                                }
                        } else if (c == '\\' && i + 1 < n) {
                                if (n - i >= 6 && memcmp(t + i + 1, "u0000", 5) == 0)
                                        nul = true;
                                i++;
                        }
                        continue;
                }
                switch (c) {
                case '"':
                        in_string = true;
                        break;
                case '{':
                case '[':
                        if (depth >= max_depth)
                                return -EBADMSG;
                        is_object[depth] = c == '{';
                        if (c == '{') {
                                if (n_objects >= max_objects)
                                        return -E2BIG;
                                object_at[depth] = n_objects++;
                                expect_key = true;
                        }
                        depth++;
                        break;
                case '}':
                case ']':
                        if (depth > 0)
                                depth--;
                        expect_key = false;
                        break;
                case ',':
                        expect_key = depth > 0 && is_object[depth - 1];
                        break;
                default:
                        break;
                }
        }
        *ret = (JsonMemberCounts) { .counts = TAKE_PTR(counts), .n = n_objects, .nul_escape = nul };
        return 0;
}

void json_member_counts_done(JsonMemberCounts *c) {
        free(c->counts);
        *c = (JsonMemberCounts) {};
}

static json_object *members_walk(json_object *o, const JsonMemberCounts *c, size_t *next) {
        json_object *bad;

        if (json_object_is_type(o, json_type_object)) {
                if (*next >= c->n || c->counts[*next] != (size_t) json_object_object_length(o))
                        return o;
                (*next)++;
                json_object_object_foreach(o, k, v) {
                        (void) k;
                        if ((bad = members_walk(v, c, next)))
                                return bad;
                }
        } else if (json_object_is_type(o, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if ((bad = members_walk(json_object_array_get_idx(o, i), c, next)))
                                return bad;
        }
        return NULL;
}

json_object *json_members_unique(json_object *o, const JsonMemberCounts *c, size_t *next) {
        json_object *bad = members_walk(o, c, next);

        if (!bad && *next != c->n)
                return o;
        return bad;
}

int json_parse_object_strict(const char *text, size_t size, size_t max_size, int max_depth,
                             json_object **ret) {
        _cleanup_(json_member_counts_done) JsonMemberCounts counts = {};
        _cleanup_(json_object_putp) json_object *o = NULL;
        size_t next = 0;
        int r;

        if (size > max_size)
                return -E2BIG;
        /* json-c's depth counts one level more than the nested objects and arrays. */
        r = json_parse_capped(text, size, max_size, max_depth + 1, &o);
        if (r < 0)
                return r;
        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        r = json_member_counts(text, size, (size_t) max_depth + 1,
                               MIN(size / 2 + 1, (size_t) JSON_STRICT_OBJECTS_MAX), &counts);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || counts.nul_escape || json_members_unique(o, &counts, &next))
                return -EBADMSG;
        *ret = TAKE_PTR(o);
        return 0;
}

const char *json_unknown_member(json_object *o, const char *const *names, size_t n) {
        json_object_object_foreach(o, key, val) {
                bool known = false;

                (void) val;
                for (size_t i = 0; i < n && !known; i++)
                        known = streq(key, names[i]);
                if (!known)
                        return key;
        }
        return NULL;
}

int json_array_append(json_object *a, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_array_add(a, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

int json_parse_versioned(const char *text, size_t size, size_t max_size, int max_depth,
                         const char *what, const char *const *names, size_t n, int64_t version,
                         json_object **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        char buf[DIAG_PRINTABLE_MAX + 4];
        json_object *v;
        const char *u;
        int r;

        r = json_parse_object_strict(text, size, max_size, max_depth, &o);
        if (r == -ENOMEM)
                return r;
        if (r == -E2BIG)
                return diag_set(d, r, "%s: %zu bytes, at most %zu", what, size, max_size);
        if (r < 0)
                return diag_set(d, -EBADMSG, "%s: not one JSON object, or a member twice", what);
        u = json_unknown_member(o, names, n);
        if (u)
                return diag_set(d, -EBADMSG, "%s: unknown member \"%s\"", what,
                                diag_printable(u, strlen(u), buf));
        if (!json_object_object_get_ex(o, "version", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) < 1)
                return diag_set(d, -EBADMSG, "%s: version: missing or not a positive integer", what);
        if (json_object_get_int64(v) != version)
                return diag_set(d, -EPROTONOSUPPORT, "%s: version %" PRId64 " (this agent reads %" PRId64 ")",
                                what, json_object_get_int64(v), version);
        *ret = TAKE_PTR(o);
        return 0;
}
