/* SPDX-License-Identifier: Apache-2.0 */
/*
 * systemd/crypttab.c: crypttab lines (fields, comments, limits, bad names), options, the device
 * a SOURCE names, and systemd's unit-name escaping, against the names systemd-escape(1) gives
 * (the expected strings below are its output).
 */
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "common/macro.h"
#include "systemd/crypttab.h"
#include "tests/unit/test-util.h"

static void test_parse_fields(void **state) {
        _cleanup_(crypttab_entry_done) CrypttabEntry e = {};
        Diag d = {};

        assert_int_equal(
                crypttab_parse_line("root UUID=0a1b none luks,token-type=cvm-agent", &e, &d), 1);
        assert_string_equal(e.name, "root");
        assert_string_equal(e.source, "UUID=0a1b");
        assert_string_equal(e.key, "none");
        assert_string_equal(e.options, "luks,token-type=cvm-agent");
        crypttab_entry_done(&e);

        /* Tabs and runs of blanks separate; two fields are enough. */
        assert_int_equal(crypttab_parse_line("\t data \t /dev/vdb  ", &e, &d), 1);
        assert_string_equal(e.name, "data");
        assert_string_equal(e.source, "/dev/vdb");
        assert_null(e.key);
        assert_null(e.options);
        crypttab_entry_done(&e);

        assert_int_equal(crypttab_parse_line("swap /dev/vdc /dev/urandom", &e, &d), 1);
        assert_string_equal(e.key, "/dev/urandom");
        assert_null(e.options);
}

static void test_parse_blank_and_comments(void **state) {
        CrypttabEntry e = {};
        Diag d = {};

        assert_int_equal(crypttab_parse_line("", &e, &d), 0);
        assert_int_equal(crypttab_parse_line("   \t ", &e, &d), 0);
        assert_int_equal(crypttab_parse_line("# root UUID=x none luks", &e, &d), 0);
        assert_int_equal(crypttab_parse_line("  #indented comment", &e, &d), 0);
        assert_null(e.name);
        assert_string_equal(d.text, "");
}

static void test_parse_errors(void **state) {
        CrypttabEntry e = {};
        char long_line[CRYPTTAB_LINE_MAX + 2], long_name[CRYPTTAB_NAME_MAX + 16];
        Diag d = {};

        assert_int_equal(crypttab_parse_line("lonely", &e, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "no source device"));
        d = (Diag){};
        assert_int_equal(crypttab_parse_line("a b c d e", &e, &d), -EBADMSG);
        assert_non_null(strstr(d.text, "more than four"));
        d = (Diag){};
        assert_int_equal(crypttab_parse_line("a/b /dev/x", &e, &d), -EINVAL);
        assert_non_null(strstr(d.text, "a/b"));
        assert_int_equal(crypttab_parse_line(". /dev/x", &e, &d), -EINVAL);
        assert_int_equal(crypttab_parse_line(".. /dev/x", &e, &d), -EINVAL);
        assert_int_equal(crypttab_parse_line("a\x01 /dev/x", &e, &d), -EINVAL);
        assert_int_equal(crypttab_parse_line("a\x7f /dev/x", &e, &d), -EINVAL);

        memset(long_name, 'n', CRYPTTAB_NAME_MAX);
        (void) snprintf(long_name + CRYPTTAB_NAME_MAX, sizeof(long_name) - CRYPTTAB_NAME_MAX,
                        " /dev/x");
        assert_int_equal(crypttab_parse_line(long_name, &e, &d), 1);
        crypttab_entry_done(&e);
        memset(long_name, 'n', CRYPTTAB_NAME_MAX + 1);
        (void) snprintf(long_name + CRYPTTAB_NAME_MAX + 1,
                        sizeof(long_name) - CRYPTTAB_NAME_MAX - 1, " /dev/x");
        assert_int_equal(crypttab_parse_line(long_name, &e, &d), -EINVAL);

        memset(long_line, ' ', sizeof(long_line) - 1);
        long_line[sizeof(long_line) - 1] = '\0';
        memcpy(long_line, "a /dev/x", 8);
        assert_int_equal(crypttab_parse_line(long_line, &e, &d), -E2BIG);
        long_line[CRYPTTAB_LINE_MAX] = '\0';
        assert_int_equal(crypttab_parse_line(long_line, &e, &d), 1);
        crypttab_entry_done(&e);
        assert_null(e.name);
}

static void test_has_option(void **state) {
        assert_true(crypttab_has_option("token-type=cvm-agent", CRYPTTAB_OPTION_CVM_AGENT));
        assert_true(crypttab_has_option("luks,token-type=cvm-agent", CRYPTTAB_OPTION_CVM_AGENT));
        assert_true(crypttab_has_option("token-type=cvm-agent,discard", CRYPTTAB_OPTION_CVM_AGENT));
        assert_true(crypttab_has_option("a,,_netdev,", "_netdev"));
        assert_false(crypttab_has_option("token-type=cvm-agentx", CRYPTTAB_OPTION_CVM_AGENT));
        assert_false(crypttab_has_option("xtoken-type=cvm-agent", CRYPTTAB_OPTION_CVM_AGENT));
        assert_false(crypttab_has_option("token-type=cvm", CRYPTTAB_OPTION_CVM_AGENT));
        assert_false(crypttab_has_option("", CRYPTTAB_OPTION_CVM_AGENT));
        assert_false(crypttab_has_option(NULL, CRYPTTAB_OPTION_CVM_AGENT));
}

static void source_is(const char *source, const char *want) {
        _cleanup_(freep) char *p = NULL;

        assert_int_equal(crypttab_source_path(source, &p), 0);
        assert_string_equal(p, want);
}

static void test_source_path(void **state) {
        char *p = NULL;

        source_is("/dev/vda3", "/dev/vda3");
        source_is("/srv/disk.img", "/srv/disk.img");
        source_is("UUID=0a1b-2c3d", "/dev/disk/by-uuid/0a1b-2c3d");
        source_is("UUID=\"0a1b-2c3d\"", "/dev/disk/by-uuid/0a1b-2c3d");
        source_is("PARTUUID=1234abcd-01", "/dev/disk/by-partuuid/1234abcd-01");
        source_is("PARTLABEL=root", "/dev/disk/by-partlabel/root");
        /* udev encodes what is not [A-Za-z0-9#+-.:=@_] as \xNN, and keeps UTF-8. */
        source_is("LABEL=data/1", "/dev/disk/by-label/data\\x2f1");
        source_is("LABEL=a+b#c=d@e:f_g.h-i", "/dev/disk/by-label/a+b#c=d@e:f_g.h-i");
        source_is("LABEL=d\xc3\xa4ten", "/dev/disk/by-label/d\xc3\xa4ten");
        source_is("LABEL=a\\b", "/dev/disk/by-label/a\\x5cb");

        assert_int_equal(crypttab_source_path("vda3", &p), -EINVAL);
        assert_int_equal(crypttab_source_path("UUID=", &p), -EINVAL);
        assert_int_equal(crypttab_source_path("UUID=\"\"", &p), -EINVAL);
        assert_int_equal(crypttab_source_path("ID=foo", &p), -EINVAL);
        assert_int_equal(crypttab_source_path("LABEL=a\"b", &p), -EINVAL);
        assert_null(p);
}

static void escape_is(const char *s, const char *want) {
        _cleanup_(freep) char *e = NULL;

        assert_int_equal(unit_name_escape(s, &e), 0);
        assert_string_equal(e, want);
}

static void test_unit_name_escape(void **state) {
        char *e = NULL;

        escape_is("root", "root");
        escape_is("luks-1234-abcd", "luks\\x2d1234\\x2dabcd");
        escape_is(".hidden", "\\x2ehidden");
        escape_is("a.b", "a.b");
        escape_is("a b", "a\\x20b");
        escape_is("a\\b", "a\\x5cb");
        escape_is("x:y_z.w", "x:y_z.w");
        escape_is("tab\tx", "tab\\x09x");
        escape_is("\xc3\xa4", "\\xc3\\xa4");
        escape_is("a/b", "a-b");
        assert_int_equal(unit_name_escape("", &e), -EINVAL);
        assert_null(e);
}

static void path_is(const char *path, const char *suffix, const char *want) {
        _cleanup_(freep) char *e = NULL;

        assert_int_equal(unit_name_from_path(path, suffix, &e), 0);
        assert_string_equal(e, want);
}

static void test_unit_name_from_path(void **state) {
        char *e = NULL;

        path_is("/dev/disk/by-uuid/1234-abcd", ".device",
                "dev-disk-by\\x2duuid-1234\\x2dabcd.device");
        path_is("/dev/disk/by-label/My\\x20Disk", ".device",
                "dev-disk-by\\x2dlabel-My\\x5cx20Disk.device");
        path_is("/dev/mapper/x-y", ".device", "dev-mapper-x\\x2dy.device");
        path_is("/dev/vda3", ".device", "dev-vda3.device");
        path_is("//dev//vda3/", ".device", "dev-vda3.device");
        path_is("/", ".mount", "-.mount");
        path_is("/.hidden/x", ".mount", "\\x2ehidden-x.mount");
        path_is("/a/.b", ".mount", "a-.b.mount");
        path_is("/dev/disk/by-id/nvme-Samsung_SSD_970@x+y#z=w", ".device",
                "dev-disk-by\\x2did-nvme\\x2dSamsung_SSD_970\\x40x\\x2by\\x23z\\x3dw.device");
        assert_int_equal(unit_name_from_path("dev/vda", ".device", &e), -EINVAL);
        assert_int_equal(unit_name_from_path("/dev/../etc", ".device", &e), -EINVAL);
        assert_int_equal(unit_name_from_path("/dev/./vda", ".device", &e), -EINVAL);
        assert_null(e);
}

static void test_env_escape(void **state) {
        _cleanup_(freep) char *a = NULL, *b = NULL;
        char *c = NULL;

        assert_int_equal(unit_env_escape("/dev/disk/by-label/a\\x2fb", &a), 0);
        assert_string_equal(a, "/dev/disk/by-label/a\\\\x2fb");
        assert_int_equal(unit_env_escape("50% \"q\"", &b), 0);
        assert_string_equal(b, "50%% \\\"q\\\"");
        assert_int_equal(unit_env_escape("a\nb", &c), -EINVAL);
        assert_null(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_fields),
                cmocka_unit_test(test_parse_blank_and_comments),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_has_option),
                cmocka_unit_test(test_source_path),
                cmocka_unit_test(test_unit_name_escape),
                cmocka_unit_test(test_unit_name_from_path),
                cmocka_unit_test(test_env_escape),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
