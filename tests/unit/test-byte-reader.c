/* SPDX-License-Identifier: Apache-2.0 */
#include "common/byte-reader.h"
#include "tests/unit/test-util.h"

static void test_integers(void **state) {
        static const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09 };
        ByteReader r = br_init(b, sizeof(b));
        uint64_t u64;
        uint32_t u32;
        uint16_t u16;
        uint8_t u8;

        assert_true(br_u8(&r, &u8));
        assert_int_equal(u8, 0x01);
        assert_true(br_u16le(&r, &u16));
        assert_int_equal(u16, 0x0302);
        assert_true(br_u16be(&r, &u16));
        assert_int_equal(u16, 0x0405);
        assert_true(br_u32be(&r, &u32));
        assert_int_equal(u32, 0x06070809);
        assert_int_equal(br_left(&r), 0);
        assert_false(br_u8(&r, &u8));

        r = br_init(b, sizeof(b));
        assert_true(br_u64le(&r, &u64));
        assert_int_equal(u64, 0x0807060504030201);
        r = br_init(b, sizeof(b));
        assert_true(br_u64be(&r, &u64));
        assert_int_equal(u64, 0x0102030405060708);
        r = br_init(b, sizeof(b));
        assert_true(br_u32le(&r, &u32));
        assert_int_equal(u32, 0x04030201);
}

/* A failed read leaves the reader and the output exactly as they were. */
static void test_no_advance_on_failure(void **state) {
        static const uint8_t b[] = { 0xAA, 0xBB, 0xCC };
        ByteReader r = br_init(b, sizeof(b)), sub;
        uint32_t u32 = 0x12345678;
        uint64_t u64 = 42;
        uint8_t out[4] = { 9, 9, 9, 9 };
        const uint8_t *p = NULL;

        assert_false(br_u32le(&r, &u32));
        assert_int_equal(u32, 0x12345678);
        assert_false(br_u64be(&r, &u64));
        assert_int_equal(u64, 42);
        assert_false(br_copy(&r, out, 4));
        assert_int_equal(out[0], 9);
        assert_false(br_bytes(&r, &p, 4));
        assert_null(p);
        assert_false(br_skip(&r, 4));
        assert_false(br_sub(&r, 4, &sub));
        assert_false(br_zero(&r, 1)); /* 0xAA is not zero */
        assert_ptr_equal(r.p, b);
        assert_int_equal(r.n, 3);
        assert_false(br_skip(&r, SIZE_MAX));
        assert_int_equal(r.n, 3);
}

static void test_zero_and_sub(void **state) {
        static const uint8_t b[] = { 0, 0, 0, 1, 2 };
        ByteReader r = br_init(b, sizeof(b)), sub;
        uint8_t u8;

        assert_true(br_zero(&r, 3));
        assert_false(br_zero(&r, 1));
        assert_true(br_sub(&r, 2, &sub));
        assert_int_equal(br_left(&r), 0);
        assert_true(br_u8(&sub, &u8));
        assert_int_equal(u8, 1);
        assert_true(br_u8(&sub, &u8));
        assert_int_equal(u8, 2);
        assert_false(br_u8(&sub, &u8));
        assert_true(br_zero(&r, 0));
        assert_true(br_copy(&r, NULL, 0));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_integers),
                cmocka_unit_test(test_no_advance_on_failure),
                cmocka_unit_test(test_zero_and_sub),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
