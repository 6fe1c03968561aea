/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/json-util.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "tests/unit/test-util.h"

static void test_hex(void **state) {
        uint8_t *out = NULL, b[3];
        size_t n;
        char *s = NULL;

        assert_int_equal(hex_encode("\x01\xab\xff", 3, &s), 0);
        assert_string_equal(s, "01abff");
        free(s);
        assert_int_equal(hex_decode("01ABff", 6, 16, &out, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(out, "\x01\xab\xff", 3);
        free(out);
        out = NULL;
        assert_int_equal(hex_decode("01a", 3, 16, &out, &n), -EBADMSG);
        assert_int_equal(hex_decode("0g", 2, 16, &out, &n), -EBADMSG);
        assert_int_equal(hex_decode("0102", 4, 1, &out, &n), -E2BIG);
        assert_null(out);
        memset(b, 7, sizeof(b));
        assert_int_equal(hex_decode_exact("0102zz", b, 3), -EBADMSG);
        assert_int_equal(b[0], 7); /* untouched on failure */
        assert_int_equal(hex_decode_exact("010203", b, 3), 0);
        assert_int_equal(b[2], 3);
        assert_int_equal(hex_decode_exact("0102", b, 3), -EBADMSG);
}

/* RFC 4648 §10 vectors, in the URL-safe alphabet without padding. */
static void test_base64url(void **state) {
        static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        static const char *const enc[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
        uint8_t *out;
        size_t n;
        char *s;

        for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
                assert_int_equal(base64url_encode(plain[i], strlen(plain[i]), &s), 0);
                assert_string_equal(s, enc[i]);
                free(s);
                assert_int_equal(base64url_decode(enc[i], strlen(enc[i]), 64, &out, &n), 0);
                assert_int_equal(n, strlen(plain[i]));
                assert_memory_equal(out, plain[i], n);
                free(out);
        }
        assert_int_equal(base64url_decode("Zm8=", 4, 64, &out, &n), 0);
        free(out);
        assert_int_equal(base64url_decode("-_8", 3, 64, &out, &n), 0);
        assert_memory_equal(out, "\xfb\xff", 2);
        free(out);
        assert_int_equal(base64url_decode("Zm9v!", 5, 64, &out, &n), -EBADMSG);
        assert_int_equal(base64url_decode("Z", 1, 64, &out, &n), -EBADMSG);
        assert_int_equal(base64url_decode("Zm8", 3, 64, &out, &n), 0); /* "fo" */
        free(out);
        assert_int_equal(base64url_decode("Zm9=", 4, 64, &out, &n), -EBADMSG); /* non-canonical */
        assert_int_equal(base64url_decode("Zm9vYmFy", 8, 5, &out, &n), -E2BIG);
}

/* A plain decoder to hold base64url_decode to: six bits per character, padding already gone. */
static int b64_value_ref(char c) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const char *p = c ? strchr(a, c) : NULL;

        if (p)
                return (int) (p - a);
        return c == '-' || c == '+' ? 62 : c == '_' || c == '/' ? 63 : -1;
}

static bool b64_decode_ref(const char *s, size_t len, uint8_t *out, size_t *ret_n) {
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t n = 0;

        if (len % 4 == 1)
                return false;
        for (size_t i = 0; i < len; i++) {
                int v = b64_value_ref(s[i]);

                if (v < 0)
                        return false;
                acc = acc << 6 | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t) (acc >> bits);
                }
        }
        if (acc & ((UINT32_C(1) << bits) - 1)) /* non-canonical: leftover bits set */
                return false;
        *ret_n = n;
        return true;
}

/* Every length through a few of the decoder's steps (8 characters, and 32 with AVX2), each
 * character position made invalid in turn, the other characters of the alphabet (the reference
 * decides about the tails' unused bits), and every byte value at every position. */
static void test_base64url_lengths(void **state) {
        static const char bad[] = {'!',  '.', ' ',         '\n',        '"',        '\\',
                                   '\0', '=', (char) 0x80, (char) 0xff, (char) 0xc3};
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/";
        uint8_t plain[160], ref[160], *out;
        uint32_t x = 0x12345678;
        size_t n, rn;
        char *s;

        for (size_t i = 0; i < sizeof(plain); i++) {
                x = x * 1103515245 + 12345;
                plain[i] = (uint8_t) (x >> 16);
        }
        for (size_t len = 0; len <= sizeof(plain); len += len < 64 ? 1 : 5) {
                size_t sl;

                assert_int_equal(base64url_encode(plain, len, &s), 0);
                sl = strlen(s);
                assert_int_equal(base64url_decode(s, sl, sizeof(plain), &out, &n), 0);
                assert_int_equal(n, len);
                assert_memory_equal(out, plain, len);
                assert_int_equal(out[n], 0);
                free(out);
                if (len > 0)
                        assert_int_equal(base64url_decode(s, sl, len - 1, &out, &n), -E2BIG);
                for (size_t k = 0; k < sl; k++) {
                        char saved = s[k];

                        for (size_t b = 0; b < sizeof(bad); b++) {
                                s[k] = bad[b];
                                /* '=' as the last character is padding, and fine when it is
                                 * where padding may be; the reference does not know padding. */
                                if (bad[b] == '=' && k == sl - 1)
                                        continue;
                                assert_int_equal(base64url_decode(s, sl, sizeof(plain), &out, &n),
                                                 -EBADMSG);
                        }
                        for (size_t c = 0; c < sizeof(alphabet) - 1; c += len < 64 ? 1 : 7) {
                                int r;

                                s[k] = alphabet[c];
                                r = base64url_decode(s, sl, sizeof(plain), &out, &n);
                                if (b64_decode_ref(s, sl, ref, &rn)) {
                                        assert_int_equal(r, 0);
                                        assert_int_equal(n, rn);
                                        assert_memory_equal(out, ref, rn);
                                        free(out);
                                } else
                                        assert_int_equal(r, -EBADMSG);
                        }
                        s[k] = saved;
                }
                free(s);
        }

        /* Every byte value at every position of 140 characters (four AVX2 steps and a tail). */
        assert_int_equal(base64url_encode(plain, 105, &s), 0);
        assert_int_equal(strlen(s), 140);
        for (size_t k = 0; k < 140; k++) {
                char saved = s[k];

                for (int c = 0; c < 256; c++) {
                        int r;

                        if (c == '=' && k == 139)
                                continue; /* padding, which the reference does not know */
                        s[k] = (char) c;
                        r = base64url_decode(s, 140, sizeof(plain), &out, &n);
                        if (b64_decode_ref(s, 140, ref, &rn)) {
                                assert_int_equal(r, 0);
                                assert_int_equal(n, rn);
                                assert_memory_equal(out, ref, rn);
                                free(out);
                        } else
                                assert_int_equal(r, -EBADMSG);
                }
                s[k] = saved;
        }
        free(s);
}

static void test_json_caps(void **state) {
        json_object *o = NULL;
        char deep[200];

        assert_int_equal(json_parse_capped("{\"a\": 1}", 8, 64, 4, &o), 0);
        json_object_put(o);
        assert_int_equal(json_parse_capped("{\"a\": 1}", 8, 7, 4, &o), -E2BIG);
        assert_int_equal(json_parse_capped("{\"a\": 1} x", 10, 64, 4, &o), -EBADMSG);
        assert_int_equal(json_parse_capped("{\"a\": 1} ", 9, 64, 4, &o), 0);
        json_object_put(o);
        assert_int_equal(json_parse_capped("{\"a\":\0}", 7, 64, 4, &o), -EBADMSG);
        assert_int_equal(json_parse_capped("[1,]", 4, 64, 4, &o), -EBADMSG);
        memset(deep, '[', 100);
        memset(deep + 100, ']', 100);
        assert_int_equal(json_parse_capped(deep, 200, 1024, 32, &o), -EBADMSG);
}

/* json-c's strict tokener alone, as json_parse_capped parsed before its fast path. */
static int json_reference(const char *text, size_t size, int max_depth, json_object **ret) {
        json_tokener *tok = json_tokener_new_ex(max_depth);
        json_object *o;
        int r = 0;

        assert_non_null(tok);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, text, (int) size);
        if (!o || json_tokener_get_error(tok) != json_tokener_success)
                r = -EBADMSG;
        for (size_t i = json_tokener_get_parse_end(tok); r == 0 && i < size; i++)
                if (!strchr(" \t\r\n", text[i]))
                        r = -EBADMSG;
        json_tokener_free(tok);
        if (r < 0)
                json_object_put(o);
        else
                *ret = o;
        return r;
}

/* json_parse_capped and json-c agree on text: the same verdict, the same tree. Returns what
 * json_parse_fast did with it. */
static int json_agree(const char *text, size_t size, int max_depth) {
        json_object *a = NULL, *b = NULL, *c = NULL;
        int r, fast;

        r = json_reference(text, size, max_depth, &a);
        assert_int_equal(json_parse_capped(text, size, 1024 * 1024, max_depth, &b), r);
        fast = json_parse_fast(text, size, max_depth, &c);
        assert_true(fast == 0 || (fast == 1 && r == 0));
        if (r == 0) {
                char *sa = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));

                assert_non_null(sa);
                assert_string_equal(sa, json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
                /* (json_object_equal holds NaN unequal to itself) */
                assert_true(strstr(sa, "NaN") || json_object_equal(a, b));
                if (fast == 1) {
                        assert_string_equal(sa, json_object_to_json_string_ext(
                                                        c, JSON_C_TO_STRING_PLAIN));
                        assert_true(json_object_equal(a, c));
                }
                free(sa);
        }
        json_object_put(a);
        json_object_put(b);
        json_object_put(c);
        return fast;
}

/* The fast path takes our documents' shape, leaves the rest to json-c, and never disagrees. */
static void test_json_fast_path(void **state) {
        static const char *const taken[] = {
                "{}",
                "[]",
                " \t\r\n{ \"a\" : [ 1 , -2 , true , false , null , \"x\" ] , \"b\" : { } } \n",
                "{\"a\":1,\"b\":2,\"a\":3}",
                "{\"\":\"\",\"k\":[[],{}]}",
                "[0,123456789012345678,-123456789012345678]",
                "{\"AttestationInfo\":\"eyJUcG1JbmZvIjp7fX0\"}",
        };
        static const char *const left[] = {
                "\"top-level string\"", "42", "null", "", " ",
                "{\"a\":\"\\n\"}", "{\"a\":\"\\u00e9\"}", "{\"a\":\"caf\xc3\xa9\"}",
                "{\"a\":\"x\ty\"}", "{\"a\":\"\x7f\"}", "{\"a\":\"\x01\"}",
                "[-0]", "[01]", "[1.5]", "[1e5]", "[1234567890123456789]",
                "[99999999999999999999]", "[+1]", "[1-2]", "[tru]", "[True]", "[nullx]",
                "[NaN]", "\v{}", "{\f}", "{\"a\":1} x", "{\"a\":1}{}", "{\"a\":1,}", "[1,]",
                "{\"a\" 1}", "[1 2]", "{a:1}", "{'a':1}", "{\"a\":1 /* c */}", "{\"a\":\"abc",
                "[", "{", "{\"a\"", "{\"a\":",
        };
        char text[600], key[300];

        for (size_t i = 0; i < ELEMENTSOF(taken); i++)
                assert_int_equal(json_agree(taken[i], strlen(taken[i]), 32), 1);
        for (size_t i = 0; i < ELEMENTSOF(left); i++)
                assert_int_equal(json_agree(left[i], strlen(left[i]), 32), 0);

        /* Depth: json-c allows a value at nesting level L while L < max_depth; the fast path
         * stops one level short and leaves the last level to json-c. */
        assert_int_equal(json_agree("{\"a\":[[]]}", 10, 4), 1);
        assert_int_equal(json_agree("{\"a\":[[]]}", 10, 3), 0); /* json-c: accepted */
        assert_int_equal(json_agree("{\"a\":[[[]]]}", 12, 3), 0); /* json-c: too deep */
        assert_int_equal(json_agree("{\"a\":1}", 7, 2), 0);
        assert_int_equal(json_agree("{\"a\":1}", 7, 1), 0);

        /* An escape, a control character, a quote, DEL or a non-ASCII byte at every position of
         * strings around the 8- and 16-byte steps of the string scan: left to json-c. */
        for (size_t len = 1; len <= 40; len++)
                for (size_t k = 0; k < len; k++) {
                        static const char *const odd[] = { "\\n", "\\\"", "\t", "\x7f", "\xc3\xa9",
                                                           "\x1f", "\\u0041" };

                        for (size_t j = 0; j < ELEMENTSOF(odd); j++) {
                                int n = snprintf(text, sizeof(text), "{\"v\":\"%.*s%s%.*s\"}",
                                                 (int) k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
                                                 odd[j], (int) (len - k - 1),
                                                 "0123456789-_0123456789-_0123456789-_0123");

                                assert_int_equal(json_agree(text, (size_t) n, 32), 0);
                        }
                }

        /* Keys: up to 255 characters on the fast path, longer ones through json-c. */
        memset(key, 'k', sizeof(key));
        (void) snprintf(text, sizeof(text), "{\"%.255s\":1}", key);
        assert_int_equal(json_agree(text, strlen(text), 32), 1);
        (void) snprintf(text, sizeof(text), "{\"%.256s\":1}", key);
        assert_int_equal(json_agree(text, strlen(text), 32), 0);
}

static void test_strutil_time(void **state) {
        uint32_t u32;
        uint64_t u64;
        time_t t;

        assert_int_equal(safe_atou32("42", &u32), 0);
        assert_int_equal(u32, 42);
        assert_int_equal(safe_atou32("0x1F", &u32), 0);
        assert_int_equal(u32, 31);
        assert_int_equal(safe_atou32("4294967296", &u32), -ERANGE);
        assert_int_equal(safe_atou32("-1", &u32), -EINVAL);
        assert_int_equal(safe_atou32(" 1", &u32), -EINVAL);
        assert_int_equal(safe_atou32("", &u32), -EINVAL);
        assert_int_equal(safe_atou64("18446744073709551616", &u64), -ERANGE);

        assert_int_equal(parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(parse_rfc3339("2024-12-31T00:27:14Z", &t), 0);
        assert_int_equal(t, 1735604834);
        assert_int_equal(parse_rfc3339("2024-12-31T01:27:14.123+01:00", &t), 0);
        assert_int_equal(t, 1735604834);
        assert_int_equal(parse_rfc3339("2024-02-29T00:00:00Z", &t), 0);
        assert_int_equal(parse_rfc3339("2023-02-29T00:00:00Z", &t), -EINVAL);
        assert_int_equal(parse_rfc3339("2024-12-31", &t), -EINVAL);
        assert_int_equal(parse_rfc3339("2024-12-31T00:00:00", &t), -EINVAL);
        assert_int_equal(parse_rfc3339("@1735604834", &t), 0);
        assert_int_equal(t, 1735604834);
}

static void test_secret(void **state) {
        Secret *s = NULL;

        assert_int_equal(secret_new(32, &s), 0);
        assert_int_equal(s->size, 32);
        assert_true(s->capacity >= 32);
        assert_true(memeqzero(s->data, s->capacity));
        memset(s->data, 0x5A, s->size);
        s = secret_free(s);
        assert_null(s);
        assert_null(secret_free(NULL));
        assert_int_equal(secret_new(0, &s), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hex),
                cmocka_unit_test(test_base64url),
                cmocka_unit_test(test_base64url_lengths),
                cmocka_unit_test(test_json_caps),
                cmocka_unit_test(test_json_fast_path),
                cmocka_unit_test(test_strutil_time),
                cmocka_unit_test(test_secret),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
