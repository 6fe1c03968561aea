/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/json-util.h"

DEFINE_CLEANUP_FUNC(json_tokener *, json_tokener_free);

int json_parse_capped(const char *text, size_t size, size_t max_size, int max_depth,
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
