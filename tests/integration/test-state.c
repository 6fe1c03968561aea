/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state directory's files (agent/state.c, [io]) on a temporary directory: created with its
 * parents, files written atomically 0644 and read back through the strict readers, a symbolic
 * link, a FIFO or an oversized file in a file's place refused, the lock exclusive between two
 * holders, and the open alerts as alert_state_load reads them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/alert.h"
#include "agent/drift.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/macro.h"
#include "tests/unit/test-util.h"

static char dir[64];
static char sub[128];

static int setup(void **state) {
        /* in the build tree, where make check runs */
        (void) snprintf(dir, sizeof(dir), "test-state.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        (void) snprintf(sub, sizeof(sub), "%s/run/cvm-agent", dir);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_dir_and_files(void **state) {
        _cleanup_(freep) char *text = NULL;
        char path[256];
        struct stat st;
        size_t size;

        assert_int_equal(state_dir_ensure(sub), 0);
        assert_int_equal(stat(sub, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(state_dir_ensure(sub), 0);

        assert_int_equal(state_read_file(sub, "x.json", 100, &text, &size), -ENOENT);
        assert_int_equal(state_write_file(sub, "x.json", "{}\n", 3), 0);
        (void) snprintf(path, sizeof(path), "%s/x.json", sub);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(state_read_file(sub, "x.json", 100, &text, &size), 0);
        assert_int_equal(size, 3);
        assert_string_equal(text, "{}\n");
        free(TAKE_PTR(text));
        assert_int_equal(state_read_file(sub, "x.json", 2, &text, &size), -E2BIG);
        assert_int_equal(state_read_file(sub, "../x.json", 100, &text, &size), -EINVAL);

        /* not a regular file, or through a link: refused */
        (void) snprintf(path, sizeof(path), "%s/link.json", sub);
        assert_int_equal(symlink("x.json", path), 0);
        assert_int_equal(state_read_file(sub, "link.json", 100, &text, &size), -ELOOP);
        (void) snprintf(path, sizeof(path), "%s/fifo.json", sub);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(state_read_file(sub, "fifo.json", 100, &text, &size), -EBADMSG);
        assert_null(text);

        /* a file where the directory should be */
        (void) snprintf(path, sizeof(path), "%s/x.json", sub);
        assert_int_equal(state_dir_ensure(path), -ENOTDIR);
}

static void test_status(void **state) {
        _cleanup_(monitor_status_done) MonitorStatus back = {};
        char *reasons[] = {"verifier denied: x-ms-sevsnpvm-is-debuggable is true"};
        MonitorStatus s = {
                .last_attempt = 1796000000,
                .verdict = STATE_VERDICT_DENIED,
                .reasons = reasons,
                .n_reasons = 1,
                .verifier = "https://v1.example",
        };
        char path[256];
        Diag d = {};

        assert_int_equal(state_dir_ensure(sub), 0);
        assert_int_equal(state_status_load(sub, &back, &d), -ENOENT);
        assert_int_equal(state_status_save(sub, &s), 0);
        assert_int_equal(state_status_load(sub, &back, &d), 0);
        assert_int_equal(back.verdict, STATE_VERDICT_DENIED);
        assert_string_equal(back.reasons[0], reasons[0]);
        assert_string_equal(back.verifier, "https://v1.example");

        /* another process wrote something else there: the reader names the file and why */
        assert_int_equal(state_write_file(sub, STATE_FILE_STATUS, "{\"version\":1}", 13), 0);
        monitor_status_done(&back);
        d = (Diag){};
        assert_int_equal(state_status_load(sub, &back, &d), -EBADMSG);
        (void) snprintf(path, sizeof(path), "%s/status.json: status: last_attempt: missing", sub);
        assert_string_equal(d.text, path);
}

static void test_baseline(void **state) {
        _cleanup_(drift_baseline_freep) DriftBaseline *b = NULL, *back = NULL;
        TpmPcrSet pcrs = {.n_banks = 1};
        Diag d = {};

        pcrs.banks[0] = (TpmPcrBank){.alg = TPM_ALG_SHA256, .size = 32, .mask = 0xff};
        memset(pcrs.banks[0].value[7], 0x77, 32);
        assert_int_equal(drift_baseline_new(DRIFT_SOURCE_BOOT, 1796000000, &pcrs, NULL, 0, &b, &d),
                         0);
        assert_int_equal(state_dir_ensure(sub), 0);
        assert_int_equal(state_baseline_load(sub, &back, &d), -ENOENT);
        assert_int_equal(state_baseline_save(sub, b), 0);
        assert_int_equal(state_baseline_load(sub, &back, &d), 0);
        assert_memory_equal(&back->pcrs, &b->pcrs, sizeof(TpmPcrSet));
        assert_int_equal(back->time, 1796000000);
}

static void test_verifiers(void **state) {
        _cleanup_(freep) char *text = NULL, *big = malloc(STATE_VERIFIERS_MAX + 1);
        size_t size;

        assert_non_null(big);
        assert_int_equal(state_dir_ensure(sub), 0);
        assert_int_equal(state_verifiers_load(sub, &text, &size), -ENOENT);
        assert_int_equal(state_verifiers_save(sub, "{\"opaque\": [1, 2]}", 18), 0);
        assert_int_equal(state_verifiers_load(sub, &text, &size), 0);
        assert_string_equal(text, "{\"opaque\": [1, 2]}");
        memset(big, ' ', STATE_VERIFIERS_MAX + 1);
        assert_int_equal(state_verifiers_save(sub, big, STATE_VERIFIERS_MAX + 1), -EINVAL);
        assert_int_equal(state_write_file(sub, STATE_FILE_VERIFIERS, big, STATE_VERIFIERS_MAX + 1),
                         0);
        free(TAKE_PTR(text));
        assert_int_equal(state_verifiers_load(sub, &text, &size), -E2BIG);
}

static void test_lock(void **state) {
        _cleanup_(closep) int a = -EBADF;
        int b = -EBADF;
        pid_t pid;
        int status;

        assert_int_equal(state_dir_ensure(sub), 0);
        assert_int_equal(state_lock(sub, 1000000, &a), 0);
        /* flock() locks belong to the open file: another process cannot take it */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(state_lock(sub, 200000, &b) == -EBUSY ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(TAKE_FD(a));
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(state_lock(sub, 200000, &b) == 0 ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_alerts_file(void **state) {
        _cleanup_(alert_set_done) AlertSet s = {};
        AlertOptions o = {.state_dir = sub, .stderr_only = true};
        AlertCondition c = {"denied:1", "verifier denied: because", NULL};
        _cleanup_(alerter_freep) Alerter *a = NULL;
        size_t sent = 0;
        Diag d = {};

        assert_int_equal(alert_state_load(sub, &s, &d), 0);
        assert_int_equal(s.n, 0);
        assert_int_equal(alerter_new(&o, &a, &d), 0);
        assert_int_equal(alerter_update(a, ALERT_KINDS_ALL, &c, 1, 1796000000, &sent, &d), 0);
        assert_int_equal(sent, 1);
        assert_int_equal(alert_state_load(sub, &s, &d), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.items[0].key, "denied:1");
        assert_string_equal(s.items[0].message, "verifier denied: because");
        /* a second Alerter (attest-now beside the monitor) sees it open and stays quiet */
        alerter_free(TAKE_PTR(a));
        assert_int_equal(alerter_new(&o, &a, &d), 0);
        assert_int_equal(alerter_update(a, ALERT_KINDS_ALL, &c, 1, 1796000060, &sent, &d), 0);
        assert_int_equal(sent, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_dir_and_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status, setup, teardown),
                cmocka_unit_test_setup_teardown(test_baseline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verifiers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
                cmocka_unit_test_setup_teardown(test_alerts_file, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
