/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] Reading an existing passphrase or recovery key (agent/passphrase.h).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>

#include "agent/passphrase.h"
#include "common/diag.h"
#include "common/secret.h"

/* Reads fd to its end into a Secret that grows by doubling, up to max bytes. */
static int read_fd_secret(int fd, size_t max, Secret **ret) {
        _cleanup_(secret_freep) Secret *s = NULL;
        size_t n = 0;
        int r;

        r = secret_new(4096, &s);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t k;

                if (n == s->capacity) {
                        _cleanup_(secret_freep) Secret *bigger = NULL;

                        /* One byte past the cap tells a file of max bytes from a larger one. */
                        if (n > max)
                                return -EFBIG;
                        r = secret_new(MIN(s->capacity * 2, max + 1), &bigger);
                        if (r < 0)
                                return r;
                        memcpy(bigger->data, s->data, n);
                        secret_free(s);
                        s = TAKE_PTR(bigger);
                }
                k = read(fd, s->data + n, MIN(s->capacity, max + 1) - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        if (n == 0)
                return -ENODATA;
        s->size = n;
        *ret = TAKE_PTR(s);
        return 0;
}

int passphrase_read_file(const char *path, Secret **ret, Diag *d) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        if (!path || !ret)
                return -EINVAL;
        if (streq(path, "-"))
                r = read_fd_secret(STDIN_FILENO, PASSPHRASE_FILE_MAX, ret);
        else {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return diag_set(d, -errno, "passphrase file %s: %s", path, strerror(errno));
                r = read_fd_secret(fd, PASSPHRASE_FILE_MAX, ret);
        }
        if (r == -EFBIG)
                return diag_set(d, r, "passphrase file %s: larger than %u bytes", path,
                                PASSPHRASE_FILE_MAX);
        if (r == -ENODATA)
                return diag_set(d, r, "passphrase file %s: empty", path);
        if (r < 0)
                return diag_set(d, r, "passphrase file %s: %s", path, strerror(-r));
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The terminal                                                                                 */

/* What must be put back, on every path out of passphrase_read_tty(). */
typedef struct TtyState {
        int fd;
        int signal_fd;
        bool termios_changed;
        bool mask_changed;
        struct termios saved;
        sigset_t saved_mask;
} TtyState;

static void tty_state_restore(TtyState *t) {
        if (t->termios_changed)
                (void) tcsetattr(t->fd, TCSAFLUSH, &t->saved);
        if (t->signal_fd >= 0)
                (void) close(t->signal_fd);
        if (t->fd >= 0)
                (void) close(t->fd);
        /* Last: a signal that arrived during the prompt is delivered now, terminal restored. */
        if (t->mask_changed)
                (void) sigprocmask(SIG_SETMASK, &t->saved_mask, NULL);
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Whether c is the terminal's special character cc (not disabled). */
static bool is_cc(uint8_t c, cc_t cc) {
        return cc != _POSIX_VDISABLE && c == cc;
}

/* Bytes of the last UTF-8 character of s[0, n): a lead byte and its continuation bytes. */
static size_t last_char_size(const uint8_t *s, size_t n) {
        size_t k = 0;

        while (k < n && k < 4) {
                k++;
                if ((s[n - k] & 0xC0) != 0x80)
                        break;
        }
        return k;
}

int passphrase_read_tty(const char *prompt, uint64_t timeout_usec, Secret **ret, Diag *d) {
        _cleanup_(tty_state_restore) TtyState t = {.fd = -EBADF, .signal_fd = -EBADF};
        _cleanup_(secret_freep) Secret *s = NULL;
        struct termios raw;
        sigset_t mask;
        size_t n = 0;
        uint8_t c = 0;
        CLEANUP_ERASE(c);
        int r;

        if (!ret)
                return -EINVAL;
        r = secret_new(PASSPHRASE_TTY_MAX, &s);
        if (r < 0)
                return r;

        t.fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (t.fd < 0)
                return diag_set(d, errno == ENOENT ? -ENXIO : -errno,
                                "no terminal to ask for the passphrase on (/dev/tty: %s)",
                                strerror(errno));
        if (tcgetattr(t.fd, &t.saved) < 0)
                return diag_set(d, -errno, "/dev/tty: %s", strerror(errno));

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGQUIT);
        sigaddset(&mask, SIGTSTP);
        if (sigprocmask(SIG_BLOCK, &mask, &t.saved_mask) < 0)
                return diag_set(d, -errno, "blocking signals: %s", strerror(errno));
        t.mask_changed = true;
        t.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (t.signal_fd < 0)
                return diag_set(d, -errno, "signalfd: %s", strerror(errno));

        raw = t.saved;
        raw.c_lflag &= ~(tcflag_t) (ECHO | ECHOE | ECHOK | ECHONL | ICANON | ISIG | IEXTEN);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        t.termios_changed = true;
        if (tcsetattr(t.fd, TCSAFLUSH, &raw) < 0)
                return diag_set(d, -errno, "/dev/tty: turning echo off: %s", strerror(errno));

        if (prompt) {
                r = write_all(t.fd, prompt, strlen(prompt));
                if (r < 0)
                        return diag_set(d, r, "/dev/tty: writing the prompt: %s", strerror(-r));
        }

        for (;;) {
                struct pollfd p[2] = {
                        {.fd = t.fd, .events = POLLIN},
                        {.fd = t.signal_fd, .events = POLLIN},
                };
                int timeout_ms = timeout_usec == 0 ? -1
                                                   : (int) MIN((timeout_usec + 999) / 1000,
                                                               (uint64_t) INT32_MAX);
                ssize_t k;

                r = poll(p, ELEMENTSOF(p), timeout_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return diag_set(d, -errno, "/dev/tty: poll: %s", strerror(errno));
                }
                if (r == 0)
                        return diag_set(d, -ETIMEDOUT, "no passphrase typed in time");
                /* The signal stays pending (signalfd is not read): delivered on restore. */
                if (p[1].revents & POLLIN)
                        return diag_set(d, -EINTR, "passphrase prompt interrupted by a signal");
                if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                k = read(t.fd, &c, 1);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return diag_set(d, -errno, "/dev/tty: %s", strerror(errno));
                }
                if (k == 0)
                        return diag_set(d, -EIO, "/dev/tty: the terminal hung up");
                if (c == '\n' || c == '\r')
                        break;
                if (is_cc(c, t.saved.c_cc[VINTR]))
                        return diag_set(d, -ECANCELED, "passphrase prompt cancelled");
                if (is_cc(c, t.saved.c_cc[VEOF])) {
                        if (n == 0)
                                return diag_set(d, -ECANCELED, "passphrase prompt cancelled");
                        continue;
                }
                if (is_cc(c, t.saved.c_cc[VERASE]) || c == 0x7f || c == '\b') {
                        size_t drop = last_char_size(s->data, n);

                        explicit_bzero(s->data + n - drop, drop);
                        n -= drop;
                        continue;
                }
                if (is_cc(c, t.saved.c_cc[VKILL])) {
                        explicit_bzero(s->data, n);
                        n = 0;
                        continue;
                }
                if (n >= PASSPHRASE_TTY_MAX)
                        return diag_set(d, -E2BIG, "passphrase longer than %u bytes",
                                        PASSPHRASE_TTY_MAX);
                s->data[n++] = c;
        }
        /* Echo was off: end the prompt's line. */
        (void) write_all(t.fd, "\n", 1);
        if (n == 0)
                return diag_set(d, -ENODATA, "empty passphrase");
        s->size = n;
        *ret = TAKE_PTR(s);
        return 0;
}
