/* SPDX-License-Identifier: Apache-2.0 */
/* The file forms of the key store's master key (verifier/master-key.h: master_key_parse). */
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "common/macro.h"
#include "common/secret.h"
#include "verifier/master-key.h"
#include "tests/unit/test-util.h"

/* 32 bytes with every nibble value in it, and its hex in both cases. */
static const uint8_t key[MASTER_KEY_SIZE] = {
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
        0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
        0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};
static const char key_hex[] = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210";
static const char key_hex_upper[] =
        "00112233445566778899AABBCCDDEEFF0123456789ABCDEFFEDCBA9876543210";

static void parse_ok(const void *buf, size_t size) {
        Secret *k = NULL;
        Diag d = {};

        assert_int_equal(master_key_parse(buf, size, "k", &k, &d), 0);
        assert_non_null(k);
        assert_int_equal(k->size, MASTER_KEY_SIZE);
        assert_memory_equal(k->data, key, MASTER_KEY_SIZE);
        assert_string_equal(d.text, "");
        secret_free(k);
}

/* Refused with -EBADMSG, *ret untouched, a message naming the file and holding no key byte. */
static void parse_bad(const void *buf, size_t size, const char *fragment) {
        Secret *k = (Secret *) 0x1;
        Diag d = {};

        assert_int_equal(master_key_parse(buf, size, "/etc/mk", &k, &d), -EBADMSG);
        assert_ptr_equal(k, (Secret *) 0x1);
        assert_true(strncmp(d.text, "/etc/mk: ", 9) == 0);
        if (!strstr(d.text, fragment))
                fail_msg("'%s' lacks '%s'", d.text, fragment);
        /* The message never quotes the input. */
        if (size >= 8)
                assert_null(memmem(d.text, strlen(d.text), buf, 8));
}

static void test_raw(void **state) {
        (void) state;
        parse_ok(key, sizeof(key));
}

static void test_hex(void **state) {
        char buf[80];

        (void) state;
        parse_ok(key_hex, 64);
        parse_ok(key_hex_upper, 64);
        (void) snprintf(buf, sizeof(buf), "%s\n", key_hex);
        parse_ok(buf, 65);
        /* Mixed case is still hex. */
        memcpy(buf, key_hex_upper, 32);
        memcpy(buf + 32, key_hex + 32, 32);
        parse_ok(buf, 64);
}

static void test_sizes(void **state) {
        uint8_t buf[200];

        (void) state;
        memset(buf, 'a', sizeof(buf));
        for (size_t n = 0; n < sizeof(buf); n++) {
                if (n == 32 || n == 64)
                        continue;
                /* 65 bytes are refused unless the last is a newline (checked below). */
                parse_bad(buf, n, "a master key is 32 bytes, or 64 hex digits");
        }
}

static void test_not_hex(void **state) {
        char buf[80];

        (void) state;
        /* A non-hex character at each position is refused, naming the offset. */
        for (size_t i = 0; i < 64; i++) {
                char want[32];

                memcpy(buf, key_hex, 64);
                buf[i] = 'g';
                (void) snprintf(want, sizeof(want), "at offset %zu)", i);
                parse_bad(buf, 64, want);
        }
        /* Other newlines, white space and a NUL are not the optional "\n". */
        (void) snprintf(buf, sizeof(buf), "%s\r", key_hex);
        parse_bad(buf, 65, "not 65 bytes");
        (void) snprintf(buf, sizeof(buf), "%s ", key_hex);
        parse_bad(buf, 65, "not 65 bytes");
        memcpy(buf, key_hex, 64);
        buf[64] = 0;
        parse_bad(buf, 65, "not 65 bytes");
        (void) snprintf(buf, sizeof(buf), " %s", key_hex);
        parse_bad(buf, 65, "not 65 bytes");
        (void) snprintf(buf, sizeof(buf), "%s\n\n", key_hex);
        parse_bad(buf, 66, "not 66 bytes");
        (void) snprintf(buf, sizeof(buf), "0x%s", key_hex);
        parse_bad(buf, 66, "not 66 bytes");
        /* 64 bytes that are not all hex digits: refused, not taken for a 64-byte key. */
        memcpy(buf, key_hex, 63);
        buf[63] = '\n';
        parse_bad(buf, 64, "at offset 63)");
}

static void test_args(void **state) {
        Secret *k = NULL;
        Diag d = {};

        (void) state;
        assert_int_equal(master_key_parse(key, sizeof(key), NULL, NULL, &d), -EINVAL);
        assert_int_equal(master_key_parse(NULL, 32, NULL, &k, NULL), -EINVAL);
        assert_null(k);
        /* No name: the message says what it is about. */
        memset(&d, 0, sizeof(d));
        assert_int_equal(master_key_parse(key, 31, NULL, &k, &d), -EBADMSG);
        assert_true(strncmp(d.text, "master key: ", 12) == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_raw),
                cmocka_unit_test(test_hex),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_not_hex),
                cmocka_unit_test(test_args),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
