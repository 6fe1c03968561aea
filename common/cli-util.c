/* SPDX-License-Identifier: Apache-2.0 */
#include <json-c/json.h>

#include "common/cli-util.h"
#include "common/macro.h"

int json_print(FILE *f, json_object *o) {
        const char *s = json_object_to_json_string_ext(
                o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s)
                return -ENOMEM;
        if (fputs(s, f) < 0 || fputc('\n', f) < 0 || fflush(f) != 0)
                return -EIO;
        return 0;
}

static void print_flat(FILE *f, const char *prefix, json_object *o) {
        json_object_object_foreach(o, key, val) {
                if (json_object_is_type(val, json_type_object)) {
                        char p[256];
                        (void) snprintf(p, sizeof(p), "%s%s.", prefix, key);
                        print_flat(f, p, val);
                } else if (json_object_is_type(val, json_type_string))
                        fprintf(f, "%s%s: %s\n", prefix, key, json_object_get_string(val));
                else
                        fprintf(f, "%s%s: %s\n", prefix, key,
                                json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
        }
}

int json_print_flat(FILE *f, json_object *o) {
        print_flat(f, "", o);
        return fflush(f) == 0 ? 0 : -EIO;
}
