/* SPDX-License-Identifier: Apache-2.0 */
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
