/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/passphrase.c for real: files (exact bytes, growth, the cap, stdin) in a temporary
 * directory under the build tree, and the terminal prompt on a pseudo-terminal that a child
 * process takes as its controlling terminal (echo off, line editing, cancel, timeout, a signal
 * in the middle, the terminal restored on every path).
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

#include "agent/passphrase.h"
#include "common/diag.h"
#include "common/secret.h"
#include "tests/unit/test-util.h"

static char *workdir;

static char *write_tmp(const char *name, const void *data, size_t size) {
        char *path = NULL;
        int fd;

        assert_true(asprintf(&path, "%s/%s", workdir, name) > 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(close(fd), 0);
        return path;
}

static void test_file_exact(void **state) {
        static const uint8_t binary[] = {'p', 0x00, 0xff, '\n', '\r', 0x80, '\n'};
        _cleanup_(secret_freep) Secret *s = NULL;
        _cleanup_(freep) char *a = NULL, *b = NULL;
        Diag d = {};

        /* The trailing newline is part of a key file, as for cryptsetup. */
        a = write_tmp("newline", "pass\n", 5);
        assert_int_equal(passphrase_read_file(a, &s, &d), 0);
        assert_int_equal(s->size, 5);
        assert_memory_equal(s->data, "pass\n", 5);
        s = secret_free(s);

        b = write_tmp("binary", binary, sizeof(binary));
        assert_int_equal(passphrase_read_file(b, &s, &d), 0);
        assert_int_equal(s->size, sizeof(binary));
        assert_memory_equal(s->data, binary, sizeof(binary));
}

static void test_file_sizes(void **state) {
        _cleanup_(secret_freep) Secret *s = NULL;
        _cleanup_(freep) char *big = NULL, *at_cap = NULL, *over = NULL, *empty = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        const size_t n = 100000;
        Diag d = {};

        /* Larger than the first buffer: it grows, keeping every byte. */
        buf = malloc(n);
        assert_non_null(buf);
        for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t) (i * 7 + i / 251);
        big = write_tmp("big", buf, n);
        assert_int_equal(passphrase_read_file(big, &s, &d), 0);
        assert_int_equal(s->size, n);
        assert_memory_equal(s->data, buf, n);
        s = secret_free(s);

        /* Exactly the cap is read; one byte more is refused. */
        at_cap = write_tmp("at-cap", "", 0);
        assert_int_equal(truncate(at_cap, PASSPHRASE_FILE_MAX), 0);
        assert_int_equal(passphrase_read_file(at_cap, &s, &d), 0);
        assert_int_equal(s->size, PASSPHRASE_FILE_MAX);
        s = secret_free(s);
        over = write_tmp("over-cap", "", 0);
        assert_int_equal(truncate(over, PASSPHRASE_FILE_MAX + 1), 0);
        d = (Diag){};
        assert_int_equal(passphrase_read_file(over, &s, &d), -EFBIG);
        assert_null(s);
        assert_non_null(strstr(d.text, "larger than"));

        empty = write_tmp("empty", "", 0);
        d = (Diag){};
        assert_int_equal(passphrase_read_file(empty, &s, &d), -ENODATA);
        assert_non_null(strstr(d.text, "empty"));

        d = (Diag){};
        assert_int_equal(passphrase_read_file("/nonexistent/passphrase", &s, &d), -ENOENT);
        assert_non_null(strstr(d.text, "/nonexistent/passphrase"));
        d = (Diag){};
        assert_int_equal(passphrase_read_file(workdir, &s, &d), -EISDIR);
        assert_null(s);
        (void) unlink(at_cap);
        (void) unlink(over);
}

/* "-" reads stdin: a pipe fed by a child, so it can be longer than the pipe buffer. */
static int read_stdin_from_child(size_t n, Secret **ret) {
        int p[2], saved, r, status;
        pid_t pid;
        Diag d = {};

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                static uint8_t chunk[4096];

                (void) close(p[0]);
                for (size_t i = 0; i < sizeof(chunk); i++)
                        chunk[i] = (uint8_t) i;
                for (size_t done = 0; done < n;) {
                        ssize_t k = write(p[1], chunk, MIN(sizeof(chunk), n - done));

                        if (k <= 0)
                                _exit(0); /* the reader stopped at its cap */
                        done += (size_t) k;
                }
                _exit(0);
        }
        (void) close(p[1]);
        saved = dup(STDIN_FILENO);
        assert_true(saved >= 0);
        assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
        (void) close(p[0]);
        r = passphrase_read_file("-", ret, &d);
        assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
        (void) close(saved);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return r;
}

static void test_stdin(void **state) {
        _cleanup_(secret_freep) Secret *s = NULL;
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;

        assert_int_equal(read_stdin_from_child(70000, &s), 0);
        assert_int_equal(s->size, 70000);
        assert_int_equal(s->data[69999], (uint8_t) (69999 % 4096));
        s = secret_free(s);
        /* The writer gets EPIPE once the reader stops at the cap. */
        assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
        assert_int_equal(read_stdin_from_child(PASSPHRASE_FILE_MAX + 4096, &s), -EFBIG);
        assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
        assert_null(s);
}

/* ------------------------------------------------------------------------------------------ */
/* The terminal                                                                                 */

typedef struct TtyResult {
        int r;
        size_t size;
        uint8_t data[PASSPHRASE_TTY_MAX];
        int restored; /* the terminal's settings after the prompt equal those before */
        char diag[sizeof(((Diag *) NULL)->text)];
} TtyResult;

typedef struct TtyRun {
        TtyResult res;
        int status;           /* the child's wait status */
        char output[1024];    /* what the child wrote on the terminal */
        struct termios after; /* the terminal's settings once the child is gone */
} TtyRun;

static ssize_t read_with_timeout(int fd, char *buf, size_t size, int timeout_ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, timeout_ms) <= 0)
                return -1;
        return read(fd, buf, size);
}

/*
 * Runs passphrase_read_tty("Passphrase: ") in a child whose controlling terminal is a new
 * pseudo-terminal; waits for the prompt, then types input (input_size bytes), then, if sig,
 * sends it. no_tty: the child has no controlling terminal at all.
 */
static void tty_run(const char *input, size_t input_size, int sig, uint64_t timeout_usec,
                    bool no_tty, TtyRun *run) {
        int master, slave, p[2];
        struct termios initial;
        size_t out = 0;
        pid_t pid;

        *run = (TtyRun){};
        assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
        /* A terminal as a login shell leaves it: canonical, echo on, the usual keys. */
        assert_int_equal(tcgetattr(slave, &initial), 0);
        initial.c_lflag |= ECHO | ICANON | ISIG | IEXTEN;
        initial.c_cc[VINTR] = 0x03;
        initial.c_cc[VERASE] = 0x7f;
        initial.c_cc[VKILL] = 0x15;
        initial.c_cc[VEOF] = 0x04;
        assert_int_equal(tcsetattr(slave, TCSANOW, &initial), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                TtyResult res = {};
                Secret *s = NULL;
                struct termios before, after;
                Diag d = {};

                (void) close(master);
                (void) close(p[0]);
                if (setsid() < 0)
                        _exit(3);
                if (!no_tty && ioctl(slave, TIOCSCTTY, 0) < 0)
                        _exit(4);
                (void) tcgetattr(slave, &before);
                res.r = passphrase_read_tty("Passphrase: ", timeout_usec, &s, &d);
                (void) tcgetattr(slave, &after);
                res.restored = before.c_lflag == after.c_lflag && before.c_iflag == after.c_iflag &&
                               memcmp(before.c_cc, after.c_cc, sizeof(before.c_cc)) == 0;
                if (s) {
                        res.size = s->size;
                        memcpy(res.data, s->data, s->size);
                        secret_free(s);
                }
                memcpy(res.diag, d.text, sizeof(res.diag));
                if (write(p[1], &res, sizeof(res)) != (ssize_t) sizeof(res))
                        _exit(5);
                _exit(0);
        }
        (void) close(p[1]);

        if (!no_tty) {
                /* The prompt first: the child discards what was typed before it. */
                while (!memmem(run->output, out, "Passphrase: ", 12)) {
                        ssize_t k = read_with_timeout(master, run->output + out,
                                                      sizeof(run->output) - 1 - out, 5000);

                        if (k <= 0)
                                fail_msg("no prompt on the terminal");
                        out += (size_t) k;
                }
                if (input_size > 0)
                        assert_int_equal(write(master, input, input_size), (ssize_t) input_size);
                if (sig) {
                        /* Let it read the input and wait in poll() again. */
                        (void) usleep(100 * 1000);
                        assert_int_equal(kill(pid, sig), 0);
                }
        }
        assert_int_equal(waitpid(pid, &run->status, 0), pid);
        if (read(p[0], &run->res, sizeof(run->res)) != (ssize_t) sizeof(run->res))
                run->res.r = INT32_MIN; /* the child died before it could report */
        (void) close(p[0]);
        for (;;) {
                ssize_t k = read_with_timeout(master, run->output + out,
                                              sizeof(run->output) - 1 - out, 0);

                if (k <= 0)
                        break;
                out += (size_t) k;
        }
        run->output[out] = '\0';
        assert_int_equal(tcgetattr(slave, &run->after), 0);
        (void) close(master);
        (void) close(slave);
}

static void assert_exited(const TtyRun *run) {
        if (!WIFEXITED(run->status) || WEXITSTATUS(run->status) != 0)
                fail_msg("child status 0x%x", run->status);
        assert_true(run->res.restored);
        /* Echo and line editing are back for whatever reads the terminal next. */
        assert_true(run->after.c_lflag & ECHO);
        assert_true(run->after.c_lflag & ICANON);
        assert_true(run->after.c_lflag & ISIG);
}

static void test_tty_line(void **state) {
        TtyRun run;

        tty_run("s3cret pass\n", 12, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, 0);
        assert_int_equal(run.res.size, 11);
        assert_memory_equal(run.res.data, "s3cret pass", 11);
        /* Echo was off: the prompt and the line end, never the passphrase. */
        assert_string_equal(run.output, "Passphrase: \r\n");

        /* Carriage return ends the line too; bytes above 0x7f are kept as they are. */
        tty_run("p\xc3\xa9\r", 4, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, 0);
        assert_int_equal(run.res.size, 3);
        assert_memory_equal(run.res.data, "p\xc3\xa9", 3);
}

static void test_tty_editing(void **state) {
        TtyRun run;

        /* Erase takes one UTF-8 character (two bytes for é), kill the whole line. */
        tty_run("abX\x7f\xc3\xa9\x7f"
                "c\n",
                9, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, 0);
        assert_int_equal(run.res.size, 3);
        assert_memory_equal(run.res.data, "abc", 3);

        tty_run("wrong\x15ok\n", 9, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, 0);
        assert_int_equal(run.res.size, 2);
        assert_memory_equal(run.res.data, "ok", 2);

        /* Erase on an empty line does nothing. */
        tty_run("\x7f\x7fz\n", 4, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.size, 1);
        assert_memory_equal(run.res.data, "z", 1);
}

static void test_tty_refusals(void **state) {
        char long_line[PASSPHRASE_TTY_MAX + 2];
        TtyRun run;

        tty_run("abc\x03", 4, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, -ECANCELED);
        assert_int_equal(run.res.size, 0);

        tty_run("\x04", 1, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, -ECANCELED);

        tty_run("\n", 1, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, -ENODATA);

        /* The cap exactly, then one byte more. */
        memset(long_line, 'a', sizeof(long_line));
        long_line[PASSPHRASE_TTY_MAX] = '\n';
        tty_run(long_line, PASSPHRASE_TTY_MAX + 1, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, 0);
        assert_int_equal(run.res.size, PASSPHRASE_TTY_MAX);
        long_line[PASSPHRASE_TTY_MAX] = 'a';
        long_line[PASSPHRASE_TTY_MAX + 1] = '\n';
        tty_run(long_line, PASSPHRASE_TTY_MAX + 2, 0, 0, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, -E2BIG);
        assert_int_equal(run.res.size, 0);

        tty_run(NULL, 0, 0, 200 * 1000, false, &run);
        assert_exited(&run);
        assert_int_equal(run.res.r, -ETIMEDOUT);

        tty_run(NULL, 0, 0, 0, /* no_tty= */ true, &run);
        if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
                fail_msg("child status 0x%x", run.status);
        assert_int_equal(run.res.r, -ENXIO);
        assert_non_null(strstr(run.res.diag, "no terminal"));
}

static void test_tty_signal(void **state) {
        TtyRun run;

        /* SIGTERM halfway through the line: the process dies of it, as it would have without
         * the prompt, but only after the terminal is back to echo on. */
        tty_run("half", 4, SIGTERM, 0, false, &run);
        if (!WIFSIGNALED(run.status) || WTERMSIG(run.status) != SIGTERM)
                fail_msg("child status 0x%x, expected death by SIGTERM", run.status);
        assert_true(run.after.c_lflag & ECHO);
        assert_true(run.after.c_lflag & ICANON);
        assert_null(strstr(run.output, "half"));
}

/* Tests run in the build tree, and write only there. */
static int setup(void **state) {
        static char tmpl[] = "test-passphrase.XXXXXX";

        workdir = mkdtemp(tmpl);
        return workdir ? 0 : -1;
}

static int teardown(void **state) {
        _cleanup_(freep) char *cmd = NULL;

        if (!workdir || asprintf(&cmd, "rm -rf -- '%s'", workdir) < 0)
                return 0;
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_file_exact),  cmocka_unit_test(test_file_sizes),
                cmocka_unit_test(test_stdin),       cmocka_unit_test(test_tty_line),
                cmocka_unit_test(test_tty_editing), cmocka_unit_test(test_tty_refusals),
                cmocka_unit_test(test_tty_signal),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
