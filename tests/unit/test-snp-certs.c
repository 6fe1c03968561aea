/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "snp/snp-certs.h"
#include "tests/unit/test-util.h"

static const uint8_t vcek_guid[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
static const uint8_t ask_guid[16] = { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4,
                                      0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 };

static void put_entry(uint8_t *p, const uint8_t guid[16], uint32_t off, uint32_t len) {
        memcpy(p, guid, 16);
        for (size_t i = 0; i < 4; i++) {
                p[16 + i] = (uint8_t) (off >> (8 * i));
                p[20 + i] = (uint8_t) (len >> (8 * i));
        }
}

static void test_build_and_parse(void **state) {
        static const uint8_t a[] = "vcek-bytes", b[] = "ask";
        const SnpCertKind kinds[] = { SNP_CERT_VCEK, SNP_CERT_ASK };
        const uint8_t *blobs[] = { a, b };
        const size_t sizes[] = { sizeof(a), sizeof(b) };
        const SnpCertEntry *e;
        SnpCertTable t;
        uint8_t *buf;
        size_t size;

        assert_int_equal(snp_cert_table_build(2, kinds, blobs, sizes, &buf, &size), 0);
        assert_int_equal(size, 3 * 24 + sizeof(a) + sizeof(b));
        assert_memory_equal(buf, vcek_guid, 16);
        assert_int_equal(snp_cert_table_parse(buf, size, &t, NULL), 0);
        assert_int_equal(t.n_entries, 2);
        e = snp_cert_table_find(&t, SNP_CERT_VCEK);
        assert_non_null(e);
        assert_int_equal(e->size, sizeof(a));
        assert_memory_equal(e->data, a, sizeof(a));
        e = snp_cert_table_find(&t, SNP_CERT_ASK);
        assert_non_null(e);
        assert_memory_equal(e->data, b, sizeof(b));
        assert_null(snp_cert_table_find(&t, SNP_CERT_ARK));
        free(buf);
}

static void test_empty(void **state) {
        uint8_t zeros[4096] = {};
        SnpCertTable t;

        assert_int_equal(snp_cert_table_parse(NULL, 0, &t, NULL), 0);
        assert_int_equal(t.n_entries, 0);
        /* The kernel hands out a zero-filled buffer when the host has no certificates. */
        assert_int_equal(snp_cert_table_parse(zeros, sizeof(zeros), &t, NULL), 0);
        assert_int_equal(t.n_entries, 0);
        assert_int_equal(snp_cert_table_parse(zeros, 10, &t, NULL), 0);
}

/* One hostile table per case; each is rejected, naming the problem. */
static void test_hostile(void **state) {
        uint8_t buf[256];
        SnpCertTable t;
        Diag d;

#define EXPECT_BAD(size, fragment)                                                       \
        do {                                                                             \
                memset(&d, 0, sizeof(d));                                                \
                assert_int_equal(snp_cert_table_parse(buf, (size), &t, &d), -EBADMSG);  \
                if (!strstr(d.text, (fragment)))                                         \
                        fail_msg("'%s' lacks '%s'", d.text, (fragment));                 \
        } while (0)

        /* offset inside the header (two entries + terminator = 72 bytes) */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 24, 16);
        EXPECT_BAD(sizeof(buf), "inside the");
        /* past the end */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 48, 300);
        EXPECT_BAD(sizeof(buf), "past the end");
        /* offset + length wraps 32 bits */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 0xFFFFFFF0u, 0x20);
        EXPECT_BAD(sizeof(buf), "past the end");
        /* overlap */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 72, 32);
        put_entry(buf + 24, ask_guid, 100, 32);
        EXPECT_BAD(sizeof(buf), "overlap");
        /* duplicate GUID */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 72, 16);
        put_entry(buf + 24, vcek_guid, 100, 16);
        EXPECT_BAD(sizeof(buf), "same GUID");
        /* zero length */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 48, 0);
        EXPECT_BAD(sizeof(buf), "empty");
        /* no terminator: the buffer ends inside the entries */
        memset(buf, 0, sizeof(buf));
        put_entry(buf, vcek_guid, 200, 10);
        put_entry(buf + 24, ask_guid, 220, 10);
        EXPECT_BAD(40, "terminator");
        /* too many entries */
        {
                uint8_t big[SNP_CERT_ENTRY_SIZE * (SNP_CERT_TABLE_MAX_ENTRIES + 2)];
                memset(big, 0, sizeof(big));
                for (size_t i = 0; i <= SNP_CERT_TABLE_MAX_ENTRIES; i++) {
                        uint8_t g[16];
                        memcpy(g, vcek_guid, 16);
                        g[15] = (uint8_t) i;
                        put_entry(big + i * 24, g, 0, 1);
                }
                memset(&d, 0, sizeof(d));
                assert_int_equal(snp_cert_table_parse(big, sizeof(big), &t, &d), -EBADMSG);
                assert_non_null(strstr(d.text, "more than"));
        }
        /* too large */
        assert_int_equal(snp_cert_table_parse(buf, SNP_CERT_TABLE_MAX_SIZE + 1, &t, NULL), -E2BIG);
#undef EXPECT_BAD
}

static void test_unknown_guid_kept(void **state) {
        uint8_t buf[128] = {};
        uint8_t g[16];
        SnpCertTable t;

        memset(g, 0x11, sizeof(g));
        put_entry(buf, g, 48, 8);
        assert_int_equal(snp_cert_table_parse(buf, sizeof(buf), &t, NULL), 0);
        assert_int_equal(t.n_entries, 1);
        assert_int_equal(t.entries[0].kind, SNP_CERT_UNKNOWN);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_and_parse),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_unknown_guid_kept),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
