/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "verifier/reference.h"
#include "vtpm/efi-decode.h"

struct ReferenceValues {
        json_object *doc;
        const char *name;
        json_object *sevsnpvm, *azurevm; /* borrowed from doc, may be NULL */
};

static const char *const sb_vars[] = { "PK", "KEK", "db", "dbx" };

ReferenceValues *reference_values_free(ReferenceValues *rv) {
        if (rv) {
                json_object_put(rv->doc);
                free(rv);
        }
        return NULL;
}

static bool is_sha256_hex(json_object *v) {
        const char *s = json_object_get_string(v);

        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 64)
                return false;
        for (size_t i = 0; i < 64; i++)
                if (!strchr("0123456789abcdefABCDEF", s[i]))
                        return false;
        return true;
}

static int check_hash_list(json_object *v, const char *where, Diag *d) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
                return diag_set(d, -EBADMSG, "reference values: %s: not a non-empty array", where);
        for (size_t i = 0; i < json_object_array_length(v); i++)
                if (!is_sha256_hex(json_object_array_get_idx(v, i)))
                        return diag_set(d, -EBADMSG, "reference values: %s[%zu]: not a SHA-256 in "
                                        "hex", where, i);
        return 0;
}

static int check_rule(json_object *rule, const char *where, Diag *d) {
        if (json_object_is_type(rule, json_type_array)) {
                if (json_object_array_length(rule) == 0)
                        return diag_set(d, -EBADMSG, "reference values: %s: an empty list allows "
                                        "nothing", where);
                for (size_t i = 0; i < json_object_array_length(rule); i++) {
                        json_type t = json_object_get_type(json_object_array_get_idx(rule, i));
                        if (t != json_type_string && t != json_type_int && t != json_type_boolean)
                                return diag_set(d, -EBADMSG, "reference values: %s[%zu]: not a "
                                                "string, integer or boolean", where, i);
                }
                return 0;
        }
        if (json_object_is_type(rule, json_type_object)) {
                bool any = false;

                json_object_object_foreach(rule, k, v) {
                        if ((!streq(k, "min") && !streq(k, "max")) ||
                            !json_object_is_type(v, json_type_int))
                                return diag_set(d, -EBADMSG, "reference values: %s: only integer "
                                                "\"min\" and \"max\"", where);
                        any = true;
                }
                if (any)
                        return 0;
        }
        return diag_set(d, -EBADMSG, "reference values: %s: a list of values or {\"min\", \"max\"}",
                        where);
}

static int check_section(json_object *sec, const char *name, bool azure, Diag *d) {
        char where[160];
        int r;

        if (!json_object_is_type(sec, json_type_object))
                return diag_set(d, -EBADMSG, "reference values: %s: not an object", name);
        json_object_object_foreach(sec, k, v) {
                (void) snprintf(where, sizeof(where), "%s.%s", name, k);
                if (azure && streq(k, "pcrs")) {
                        if (!json_object_is_type(v, json_type_object))
                                return diag_set(d, -EBADMSG, "reference values: %s: not an object",
                                                where);
                        json_object_object_foreach(v, idx, list) {
                                uint32_t i;
                                char w2[200];

                                if (safe_atou32(idx, &i) < 0 || i > 23)
                                        return diag_set(d, -EBADMSG, "reference values: %s: '%s' "
                                                        "is not a PCR index", where, idx);
                                (void) snprintf(w2, sizeof(w2), "%s.%s", where, idx);
                                r = check_hash_list(list, w2, d);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (azure) {
                        bool sb = false;

                        for (size_t i = 0; i < ELEMENTSOF(sb_vars); i++)
                                sb = sb || streq(k, sb_vars[i]);
                        if (sb) {
                                r = check_hash_list(v, where, d);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                }
                r = check_rule(v, where, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int reference_values_parse(const char *text, size_t size, ReferenceValues **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        ReferenceValues *rv;
        json_object *v;
        int r;

        if (size > REFERENCE_VALUES_MAX)
                return diag_set(d, -E2BIG, "reference values: %zu bytes, at most %u", size,
                                REFERENCE_VALUES_MAX);
        if (json_parse_capped(text, size, REFERENCE_VALUES_MAX, 8, &doc) < 0 ||
            !json_object_is_type(doc, json_type_object))
                return diag_set(d, -EBADMSG, "reference values: not a JSON object");
        json_object_object_foreach(doc, k, val) {
                (void) val;
                if (!streq(k, "name") && !streq(k, "sevsnpvm") && !streq(k, "azurevm"))
                        return diag_set(d, -EBADMSG, "reference values: unknown member \"%.40s\"", k);
        }
        if (!json_object_object_get_ex(doc, "name", &v) || !json_object_is_type(v, json_type_string) ||
            json_object_get_string_len(v) == 0 || json_object_get_string_len(v) > 128)
                return diag_set(d, -EBADMSG, "reference values: \"name\" (the compliance status "
                                "value) is missing or not a short string");
        if (json_object_object_get_ex(doc, "sevsnpvm", &v) && (r = check_section(v, "sevsnpvm", false, d)) < 0)
                return r;
        if (json_object_object_get_ex(doc, "azurevm", &v) && (r = check_section(v, "azurevm", true, d)) < 0)
                return r;
        rv = calloc(1, sizeof(*rv));
        if (!rv)
                return -ENOMEM;
        rv->doc = TAKE_PTR(doc);
        json_object_object_get_ex(rv->doc, "name", &v);
        rv->name = json_object_get_string(v);
        if (!json_object_object_get_ex(rv->doc, "sevsnpvm", &rv->sevsnpvm))
                rv->sevsnpvm = NULL;
        if (!json_object_object_get_ex(rv->doc, "azurevm", &rv->azurevm))
                rv->azurevm = NULL;
        *ret = rv;
        return 0;
}

static bool value_equal(json_object *a, json_object *b) {
        json_type ta = json_object_get_type(a), tb = json_object_get_type(b);

        if (ta != tb)
                return false;
        switch (ta) {
        case json_type_string:
                return strcasecmp(json_object_get_string(a), json_object_get_string(b)) == 0;
        case json_type_int:
                return json_object_get_int64(a) == json_object_get_int64(b);
        case json_type_boolean:
                return json_object_get_boolean(a) == json_object_get_boolean(b);
        default:
                return false;
        }
}

/* Whether claims satisfy the rule for claim `name`; why gets the reason when not. */
static bool rule_holds(json_object *claims, const char *name, json_object *rule, char *why,
                       size_t why_size) {
        json_object *v, *b;

        if (!json_object_object_get_ex(claims, name, &v) || !v) {
                (void) snprintf(why, why_size, "%s: missing", name);
                return false;
        }
        if (json_object_is_type(rule, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(rule); i++)
                        if (value_equal(v, json_object_array_get_idx(rule, i)))
                                return true;
                (void) snprintf(why, why_size, "%s: %.80s is not a reference value", name,
                                json_object_to_json_string(v));
                return false;
        }
        if (!json_object_is_type(v, json_type_int)) {
                (void) snprintf(why, why_size, "%s: not an integer", name);
                return false;
        }
        if (json_object_object_get_ex(rule, "min", &b) &&
            json_object_get_int64(v) < json_object_get_int64(b)) {
                (void) snprintf(why, why_size, "%s: %" PRId64 " is below %" PRId64, name,
                                json_object_get_int64(v), json_object_get_int64(b));
                return false;
        }
        if (json_object_object_get_ex(rule, "max", &b) &&
            json_object_get_int64(v) > json_object_get_int64(b)) {
                (void) snprintf(why, why_size, "%s: %" PRId64 " is above %" PRId64, name,
                                json_object_get_int64(v), json_object_get_int64(b));
                return false;
        }
        return true;
}

static bool in_hash_list(json_object *list, const char *hex) {
        for (size_t i = 0; hex && i < json_object_array_length(list); i++)
                if (strcasecmp(json_object_get_string(json_object_array_get_idx(list, i)), hex) == 0)
                        return true;
        return false;
}

/* The quoted SHA-256 value of PCR idx from the "pcrs" claim, or NULL. */
static const char *quoted_pcr(json_object *claims, unsigned idx) {
        json_object *pcrs, *arr;

        if (!json_object_object_get_ex(claims, "pcrs", &pcrs) ||
            !json_object_object_get_ex(pcrs, "PCRs", &arr))
                return NULL;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *e = json_object_array_get_idx(arr, i), *v, *dg;

                if (json_object_object_get_ex(e, "Index", &v) && json_object_get_int(v) == (int) idx &&
                    json_object_object_get_ex(e, "Digests", &dg) &&
                    json_object_object_get_ex(dg, "SHA256", &v))
                        return json_object_get_string(v);
        }
        return NULL;
}

static bool section_holds(json_object *sec, json_object *claims, bool azure, char *why,
                          size_t why_size) {
        json_object_object_foreach(sec, k, rule) {
                bool sb = false;

                for (size_t i = 0; i < ELEMENTSOF(sb_vars); i++)
                        sb = sb || streq(k, sb_vars[i]);
                if (azure && sb)
                        continue; /* judged by the *validated claims */
                if (azure && streq(k, "pcrs")) {
                        json_object_object_foreach(rule, idx, list) {
                                uint32_t i = 0;
                                const char *q;

                                (void) safe_atou32(idx, &i);
                                q = quoted_pcr(claims, i);
                                if (!in_hash_list(list, q)) {
                                        (void) snprintf(why, why_size, "PCR %u: %s", i,
                                                        q ? "not a reference value" : "not quoted");
                                        return false;
                                }
                        }
                        continue;
                }
                if (!rule_holds(claims, k, rule, why, why_size))
                        return false;
        }
        return true;
}

/* SHA-256 (hex) of the data of the last PCR 7 measurement of variable `name`, or "" if none. */
static int secure_boot_var(json_object *claims, const char *name, char hex[65]) {
        json_object *events, *arr;

        hex[0] = '\0';
        if (!json_object_object_get_ex(claims, "events", &events) ||
            !json_object_object_get_ex(events, "Events", &arr))
                return 0;
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *e = json_object_array_get_idx(arr, i), *v, *pd;
                _cleanup_(freep) uint8_t *data = NULL;
                uint8_t md[SHA256_DIGEST_LENGTH];
                const char *guid;
                size_t size;

                if (!json_object_object_get_ex(e, "PcrIndex", &v) || json_object_get_int(v) != 7 ||
                    !json_object_object_get_ex(e, "EventTypeString", &v) ||
                    !streq(json_object_get_string(v), "EV_EFI_VARIABLE_DRIVER_CONFIG") ||
                    !json_object_object_get_ex(e, "ProcessedData", &pd) ||
                    !json_object_object_get_ex(pd, "UnicodeName", &v) ||
                    !streq(json_object_get_string(v), name) ||
                    !json_object_object_get_ex(pd, "VariableGuid", &v))
                        continue;
                guid = json_object_get_string(v);
                /* PK and KEK live under EFI_GLOBAL_VARIABLE, db and dbx under
                 * EFI_IMAGE_SECURITY_DATABASE_GUID: a same-named variable elsewhere is not it.
                 * MAA spells the GUID in upper case. */
                if (strcasecmp(guid, efi_secure_boot_variable_guid(name)) != 0)
                        continue;
                if (!json_object_object_get_ex(pd, "VariableData", &v))
                        continue;
                if (base64url_decode(json_object_get_string(v), json_object_get_string_len(v),
                                     1024 * 1024, &data, &size) < 0)
                        continue;
                (void) SHA256(data, size, md);
                hex_encode_buf(md, sizeof(md), hex);
        }
        return 0;
}

int reference_values_apply(const ReferenceValues *rv, json_object *claims, char *why,
                           size_t why_size) {
        char scratch[200];
        json_object *v, *tee = NULL;
        bool is_azure, tee_ok = true;

        if (!why) {
                why = scratch;
                why_size = sizeof(scratch);
        }
        why[0] = '\0';
        is_azure = json_object_object_get_ex(claims, "x-ms-attestation-type", &v) &&
                   streq(json_object_get_string(v), "azurevm");
        if (!is_azure) {
                if (rv->sevsnpvm && section_holds(rv->sevsnpvm, claims, false, why, why_size))
                        return json_add_string(claims, "x-ms-compliance-status", rv->name);
                return 0;
        }
        if (json_object_object_get_ex(claims, "x-ms-isolation-tee", &tee) && rv->sevsnpvm) {
                tee_ok = section_holds(rv->sevsnpvm, tee, false, why, why_size);
                if (tee_ok && json_add_string(tee, "x-ms-compliance-status", rv->name) < 0)
                        return -ENOMEM;
        }
        if (rv->azurevm) {
                json_object *list;
                bool all = true, have_all = true;

                for (size_t i = 0; i < ELEMENTSOF(sb_vars); i++) {
                        char hex[65], claim[64];
                        bool valid;

                        if (!json_object_object_get_ex(rv->azurevm, sb_vars[i], &list)) {
                                have_all = false;
                                continue;
                        }
                        (void) secure_boot_var(claims, sb_vars[i], hex);
                        valid = in_hash_list(list, hex[0] ? hex : NULL);
                        all = all && valid;
                        if (!valid && !why[0])
                                (void) snprintf(why, why_size, "secure boot variable %s: %s",
                                                sb_vars[i], hex[0] ? "not a reference value"
                                                                   : "not in the event log");
                        if (streq(sb_vars[i], "db") || streq(sb_vars[i], "dbx")) {
                                (void) snprintf(claim, sizeof(claim), "x-ms-azurevm-%svalidated",
                                                sb_vars[i]);
                                if (json_add_bool(claims, claim, valid) < 0)
                                        return -ENOMEM;
                        }
                }
                if (have_all && json_add_bool(claims, "x-ms-azurevm-default-securebootkeysvalidated",
                                              all) < 0)
                        return -ENOMEM;
                if (tee_ok && all &&
                    section_holds(rv->azurevm, claims, true, why, why_size) &&
                    json_add_string(claims, "x-ms-compliance-status", rv->name) < 0)
                        return -ENOMEM;
        }
        return 0;
}
