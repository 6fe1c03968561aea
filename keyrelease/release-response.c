/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's reading of a key release answer (keyrelease/release-response.h). Pure. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "keyrelease/release-response.h"

static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

int release_response_parse(const char *body, size_t size, KeyHsm **ret, char **ret_kid, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL, *payload = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
        json_object *v, *key;
        const char *s;
        char *kid = NULL;
        Diag inner = {};
        int r;

        if (size > RELEASE_RESPONSE_MAX)
                return diag_set(d, -E2BIG, "key release answer: larger than %u bytes",
                                RELEASE_RESPONSE_MAX);
        r = json_parse_capped(body, size, RELEASE_RESPONSE_MAX, 4, &o);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_object_is_type(o, json_type_object))
                return diag_set(d, -EBADMSG, "key release answer: not a JSON object");
        v = member(o, "value");
        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "key release answer: no \"value\" string");
        s = json_object_get_string(v);
        r = jws_parse(s, (size_t) json_object_get_string_len(v), &j, &inner);
        if (r < 0)
                return diag_set(d, r == -ENOMEM ? r : -EBADMSG, "key release answer: \"value\": %s",
                                diag_text(&inner, "not a compact JWS"));
        r = json_parse_capped((const char *) j->payload, j->payload_size, JWS_MAX_SIZE, 16,
                              &payload);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_object_is_type(payload, json_type_object))
                return diag_set(d, -EBADMSG, "key release answer: the JWS payload is not a JSON "
                                "object");
        key = member(member(member(payload, "response"), "key"), "key");
        if (!json_object_is_type(key, json_type_object))
                return diag_set(d, -EBADMSG, "key release answer: no response.key.key object");
        v = member(key, "key_hsm");
        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "key release answer: no response.key.key.key_hsm "
                                "string");
        r = key_hsm_parse(json_object_get_string(v), (size_t) json_object_get_string_len(v), &k,
                          &inner);
        if (r < 0)
                return diag_set(d, r, "key release answer: key_hsm: %s",
                                diag_text(&inner, "malformed"));
        v = member(key, "kid");
        if (json_object_is_type(v, json_type_string) && !(kid = strdup(json_object_get_string(v))))
                return -ENOMEM;
        *ret = TAKE_PTR(k);
        if (ret_kid)
                *ret_kid = kid;
        else
                free(kid);
        return 0;
}

static void copy_printable(char *dst, size_t size, const char *src) {
        size_t i = 0;

        if (size == 0)
                return;
        for (; src && src[i] && i + 1 < size; i++)
                dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
        dst[i] = '\0';
}

int release_error_parse(const char *body, size_t size, char *code, size_t code_size,
                        char *message, size_t message_size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *e, *c, *m;

        copy_printable(code, code_size, "");
        copy_printable(message, message_size, "");
        if (json_parse_capped(body, size, RELEASE_RESPONSE_MAX, 8, &o) < 0)
                return -EBADMSG;
        e = member(o, "error");
        c = member(e, "code");
        m = member(e, "message");
        if (!json_object_is_type(c, json_type_string) || !json_object_is_type(m, json_type_string))
                return -EBADMSG;
        copy_printable(code, code_size, json_object_get_string(c));
        copy_printable(message, message_size, json_object_get_string(m));
        return 0;
}
