/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: json_parse_capped, which every untrusted JSON document goes through, held to
 * json-c's strict tokener alone (what json_parse_capped was before its fast path). The first byte
 * picks max_depth (1 to 40), the rest is the text. Both must refuse alike (-E2BIG, -EBADMSG) or
 * both accept with equal trees (the same serialisation, and the same types and values all the
 * way down, key order included). json_parse_fast on its own must either leave the text alone or
 * give that same tree, and never take a text json-c refuses.
 */
#include <json-c/json.h>

#include "common/json-util.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_JSON_MAX_SIZE (64u * 1024u)

/* json-c alone, as json_parse_capped parsed before it had a fast path. */
static int reference_parse(const char *text, size_t size, int max_depth, json_object **ret) {
        int r = json_parse_jsonc(text, size, FUZZ_JSON_MAX_SIZE, max_depth, ret);

        if (r == -ENOMEM)
                abort();
        return r;
}

/* Same type and value all the way down, object members in the same order (doubles compared by
 * their bits, so that json-c's NaN equals itself). */
static bool tree_equal(json_object *a, json_object *b) {
        enum json_type t = json_object_get_type(a);

        if (t != json_object_get_type(b))
                return false;
        switch (t) {
        case json_type_null:
                return true;
        case json_type_boolean:
                return json_object_get_boolean(a) == json_object_get_boolean(b);
        case json_type_int:
                return json_object_get_int64(a) == json_object_get_int64(b) &&
                       json_object_get_uint64(a) == json_object_get_uint64(b);
        case json_type_double: {
                double x = json_object_get_double(a), y = json_object_get_double(b);
                return memcmp(&x, &y, sizeof(x)) == 0;
        }
        case json_type_string:
                return json_object_get_string_len(a) == json_object_get_string_len(b) &&
                       memcmp(json_object_get_string(a), json_object_get_string(b),
                              (size_t) json_object_get_string_len(a)) == 0;
        case json_type_array:
                if (json_object_array_length(a) != json_object_array_length(b))
                        return false;
                for (size_t i = 0; i < json_object_array_length(a); i++)
                        if (!tree_equal(json_object_array_get_idx(a, i),
                                        json_object_array_get_idx(b, i)))
                                return false;
                return true;
        case json_type_object: {
                struct json_object_iterator ia = json_object_iter_begin(a),
                                            ea = json_object_iter_end(a),
                                            ib = json_object_iter_begin(b),
                                            eb = json_object_iter_end(b);

                if (json_object_object_length(a) != json_object_object_length(b))
                        return false;
                for (; !json_object_iter_equal(&ia, &ea) && !json_object_iter_equal(&ib, &eb);
                     json_object_iter_next(&ia), json_object_iter_next(&ib))
                        if (strcmp(json_object_iter_peek_name(&ia),
                                   json_object_iter_peek_name(&ib)) != 0 ||
                            !tree_equal(json_object_iter_peek_value(&ia),
                                        json_object_iter_peek_value(&ib)))
                                return false;
                return json_object_iter_equal(&ia, &ea) && json_object_iter_equal(&ib, &eb);
        }
        }
        return false;
}

static void check_equal(json_object *a, json_object *b) {
        _cleanup_(freep) char *sa = NULL;
        const char *sb;

        sa = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
        sb = json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);
        if (!sa || !sb || strcmp(sa, sb) != 0 || !tree_equal(a, b))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *ref = NULL, *got = NULL, *fast = NULL;
        const char *text = (const char *) data + 1;
        int depth, r_ref, r_got, r_fast;

        if (size < 1)
                return 0;
        depth = 1 + data[0] % 40;
        size--;
        r_ref = reference_parse(text, size, depth, &ref);
        r_got = json_parse_capped(text, size, FUZZ_JSON_MAX_SIZE, depth, &got);
        if (r_got != r_ref)
                abort();
        if (r_ref >= 0)
                check_equal(ref, got);
        if (size > FUZZ_JSON_MAX_SIZE || memchr(text, '\0', size))
                return 0;
        r_fast = json_parse_fast(text, size, depth, &fast);
        if (r_fast < 0 || r_fast > 1 || (r_fast == 1 && r_ref < 0))
                abort();
        if (r_fast == 1)
                check_equal(ref, fast);
        return 0;
}
