/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading the agent's configuration from files (agent/agent-conf-load.c, [io]): the main file
 * and its drop-ins in order, --config and missing files, what makes a file unacceptable (owner,
 * mode, type, size), and messages naming the file and line. Works in a directory of the build
 * tree, removed afterwards.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent-conf.h"
#include "common/conf.h"
#include "common/diag.h"
#include "tests/unit/test-util.h"

#define SEC UINT64_C(1000000)

static char dir[64];

static void put(const char *rel, const char *text, mode_t mode) {
        char path[256];
        int fd;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, rel);
        (void) unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(close(fd), 0);
}

static void mkdir_in(const char *rel, mode_t mode) {
        char path[256];

        (void) snprintf(path, sizeof(path), "%s/%s", dir, rel);
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static const char *in_dir(const char *rel) {
        static char path[4][256];
        static unsigned k;

        k = (k + 1) % 4;
        (void) snprintf(path[k], sizeof(path[k]), "%s/%s", dir, rel);
        return path[k];
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

/* Removes the test directory and what it holds. */
static int clean(void) {
        return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state) {
        (void) snprintf(dir, sizeof(dir), "agent-conf-load.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        return chmod(dir, 0755);
}

static int teardown(void **state) {
        return clean();
}

static void test_main_and_dropins(void **state) {
        char want[256];
        AgentConfig c;
        Diag d = {};

        put("main.conf", "[Verifier]\nURL=https://primary.example\nTimeout=5s\n"
                         "[Monitor]\nInterval=1min\nJitter=10s\n", 0644);
        mkdir_in("main.conf.d", 0755);
        /* Lexical order: 10 before 20 before 9 (strcmp, as systemd). */
        put("main.conf.d/20-second.conf", "[Verifier]\nURL=https://secondary.example\n"
                                          "Timeout=7s\n", 0644);
        put("main.conf.d/10-first.conf", "[Verifier]\nTimeout=6s\nTenant=/t/contoso\n", 0600);
        put("main.conf.d/9-last.conf", "[TPM]\nPCRs=0-7,11\n[Monitor]\nInterval=2min\n", 0644);
        /* Not drop-ins: another suffix, hidden files. */
        put("main.conf.d/30-ignored.conf~", "[Nonsense]\n", 0644);
        put("main.conf.d/README", "[Nonsense]\n", 0644);
        put("main.conf.d/.hidden.conf", "[Nonsense]\n", 0644);

        if (agent_config_load(in_dir("main.conf"), &c, &d) < 0)
                fail_msg("%s", d.text);
        assert_string_equal(c.file, in_dir("main.conf"));
        assert_int_equal(c.n_urls, 2);
        assert_string_equal(c.urls[0], "https://primary.example");
        assert_string_equal(c.urls[1], "https://secondary.example");
        assert_int_equal(c.timeout_usec, 7 * SEC);
        assert_string_equal(c.tenant, "/t/contoso");
        assert_int_equal(c.pcr_mask, 0xff | 1u << 11);
        assert_int_equal(c.interval_usec, 120 * SEC);
        assert_int_equal(c.jitter_usec, 10 * SEC);
        agent_config_done(&c);

        /* A drop-in resets the list and sets its own. */
        put("main.conf.d/50-replace.conf", "[Verifier]\nURL=\nURL=https://other.example\n", 0644);
        assert_int_equal(agent_config_load(in_dir("main.conf"), &c, &d), 0);
        assert_int_equal(c.n_urls, 1);
        assert_string_equal(c.urls[0], "https://other.example");
        agent_config_done(&c);

        /* An error in a drop-in names it and the line. */
        put("main.conf.d/60-bad.conf", "# comment\n[Alert]\nExec=notify-send\n", 0644);
        memset(&c, 0x5a, sizeof(c));
        assert_int_equal(agent_config_load(in_dir("main.conf"), &c, &d), -EBADMSG);
        (void) snprintf(want, sizeof(want), "%s/main.conf.d/60-bad.conf:3: [Alert] Exec=: "
                        "'notify-send' is not an absolute path", dir);
        assert_string_equal(d.text, want);
        /* Nothing is handed out on failure. */
        assert_int_equal(c.n_urls, (size_t) 0x5a5a5a5a5a5a5a5a);
}

static void test_dropin_error_message(void **state) {
        char want[256];
        AgentConfig c;
        Diag d = {};

        put("m.conf", "[Verifier]\n", 0644);
        mkdir_in("m.conf.d", 0755);
        put("m.conf.d/a.conf", "\n\n[Monitor]\nInterval=forever\n", 0644);
        assert_int_equal(agent_config_load(in_dir("m.conf"), &c, &d), -EBADMSG);
        (void) snprintf(want, sizeof(want), "%s/m.conf.d/a.conf:4: [Monitor] Interval=: "
                        "'forever' is not a time span of 1s .. 7d", dir);
        assert_string_equal(d.text, want);
}

/* The whole is checked after the drop-ins: here two files together break a rule. */
static void test_check_after_dropins(void **state) {
        char want[256];
        AgentConfig c;
        Diag d = {};

        put("w.conf", "[Monitor]\nInterval=1min\nJitter=50s\n", 0644);
        mkdir_in("w.conf.d", 0755);
        put("w.conf.d/x.conf", "[Monitor]\nInterval=30s\n", 0644);
        assert_int_equal(agent_config_load(in_dir("w.conf"), &c, &d), -EINVAL);
        (void) snprintf(want, sizeof(want), "%s/w.conf: [Monitor] Jitter=: longer than "
                        "Interval=", dir);
        assert_string_equal(d.text, want);
}

static void test_missing(void **state) {
        char want[256];
        AgentConfig c;
        Diag d = {};
        struct stat st;

        /* A file named with --config must exist. */
        assert_int_equal(agent_config_load(in_dir("nothing.conf"), &c, &d), -ENOENT);
        (void) snprintf(want, sizeof(want), "%s/nothing.conf: No such file or directory", dir);
        assert_string_equal(d.text, want);

        /* Its drop-ins alone are not enough... but a missing drop-in directory is fine. */
        put("lonely.conf", "[SNP]\nSource=none\n", 0644);
        assert_int_equal(agent_config_load(in_dir("lonely.conf"), &c, &d), 0);
        assert_int_equal(c.snp_source, AGENT_SNP_SOURCE_NONE);
        agent_config_done(&c);

        /* The default file may be missing: the defaults. Only where this machine has none. */
        if (stat("/etc/cvm-agent", &st) == 0)
                return;
        assert_int_equal(agent_config_load(NULL, &c, &d), 0);
        assert_string_equal(c.file, AGENT_CONF_PATH);
        assert_int_equal(c.n_urls, 0);
        assert_int_equal(c.timeout_usec, AGENT_CONF_TIMEOUT_USEC);
        agent_config_done(&c);
        assert_int_equal(agent_config_load("", &c, &d), -EINVAL);
}

static void test_refused_files(void **state) {
        char want[256];
        AgentConfig c;
        Diag d = {};
        char *big;

        /* Writable by group or others: refused (Exec= runs what the file says). */
        put("gw.conf", "[Verifier]\n", 0664);
        assert_int_equal(agent_config_load(in_dir("gw.conf"), &c, &d), -EPERM);
        (void) snprintf(want, sizeof(want), "%s/gw.conf: writable by group or others (mode 0664)",
                        dir);
        assert_string_equal(d.text, want);
        memset(&d, 0, sizeof(d));
        put("ow.conf", "[Verifier]\n", 0646);
        assert_int_equal(agent_config_load(in_dir("ow.conf"), &c, &d), -EPERM);

        /* A drop-in directory others may write to. */
        put("dw.conf", "[Verifier]\n", 0644);
        mkdir_in("dw.conf.d", 0777);
        memset(&d, 0, sizeof(d));
        assert_int_equal(agent_config_load(in_dir("dw.conf"), &c, &d), -EPERM);
        (void) snprintf(want, sizeof(want), "%s/dw.conf.d: writable by group or others (mode "
                        "0777)", dir);
        assert_string_equal(d.text, want);

        /* A drop-in writable by others. */
        put("dd.conf", "[Verifier]\n", 0644);
        mkdir_in("dd.conf.d", 0755);
        put("dd.conf.d/a.conf", "[Verifier]\n", 0666);
        assert_int_equal(agent_config_load(in_dir("dd.conf"), &c, NULL), -EPERM);

        /* Owned by someone else (as root only: chown needs it). */
        if (geteuid() == 0) {
                put("other.conf", "[Verifier]\n", 0644);
                assert_int_equal(chown(in_dir("other.conf"), 4242, 4242), 0);
                memset(&d, 0, sizeof(d));
                assert_int_equal(agent_config_load(in_dir("other.conf"), &c, &d), -EPERM);
                (void) snprintf(want, sizeof(want), "%s/other.conf: owned by uid 4242, neither "
                                "root nor this user", dir);
                assert_string_equal(d.text, want);
        }

        /* Not a regular file: a directory, a FIFO among the drop-ins (without blocking). */
        mkdir_in("adir.conf", 0755);
        assert_int_equal(agent_config_load(in_dir("adir.conf"), &c, NULL), -EBADMSG);
        put("ff.conf", "[Verifier]\n", 0644);
        mkdir_in("ff.conf.d", 0755);
        assert_int_equal(mkfifo(in_dir("ff.conf.d/fifo.conf"), 0644), 0);
        memset(&d, 0, sizeof(d));
        assert_int_equal(agent_config_load(in_dir("ff.conf"), &c, &d), -EBADMSG);
        (void) snprintf(want, sizeof(want), "%s/ff.conf.d/fifo.conf: not a regular file", dir);
        assert_string_equal(d.text, want);

        /* The drop-in "directory" is a file. */
        put("nd.conf", "[Verifier]\n", 0644);
        put("nd.conf.d", "[Verifier]\n", 0644);
        assert_int_equal(agent_config_load(in_dir("nd.conf"), &c, NULL), -ENOTDIR);

        /* Over the size cap: refused before parsing. */
        big = malloc(CONF_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, '#', CONF_SIZE_MAX + 1);
        big[CONF_SIZE_MAX + 1] = '\0';
        put("big.conf", big, 0644);
        free(big);
        memset(&d, 0, sizeof(d));
        assert_int_equal(agent_config_load(in_dir("big.conf"), &c, &d), -E2BIG);
        (void) snprintf(want, sizeof(want), "%s/big.conf: larger than %u bytes", dir,
                        CONF_SIZE_MAX);
        assert_string_equal(d.text, want);
}

/* The annotated example loads as a main file: the defaults. */
static void test_example(void **state) {
        char path[4096];
        AgentConfig c;
        Diag d = {};
        uint8_t *text;
        size_t size;

        (void) snprintf(path, sizeof(path), "%s/agent/agent.conf", TEST_SRCDIR);
        text = test_read_file(path, &size);
        assert_non_null(text);
        put("example.conf", (const char *) text, 0644);
        free(text);
        if (agent_config_load(in_dir("example.conf"), &c, &d) < 0)
                fail_msg("%s", d.text);
        assert_int_equal(c.n_urls, 0);
        assert_int_equal(c.boot_deadline_usec, AGENT_CONF_BOOT_DEADLINE_USEC);
        assert_string_equal(c.tcti, AGENT_CONF_TCTI);
        agent_config_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_main_and_dropins),
                cmocka_unit_test(test_dropin_error_message),
                cmocka_unit_test(test_check_after_dropins),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_refused_files),
                cmocka_unit_test(test_example),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
