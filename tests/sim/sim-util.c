/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/sim/sim-util.h"

static void sim_vlog(int error, const char *fmt, va_list ap) _printf_(2, 0);
static void sim_vlog(int error, const char *fmt, va_list ap) {
        char msg[1024];

        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        if (error != 0)
                fprintf(stderr, "cvm-simd: %s: %s\n", msg, strerror(error < 0 ? -error : error));
        else
                fprintf(stderr, "cvm-simd: %s\n", msg);
        fflush(stderr);
}

void sim_log(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        sim_vlog(0, fmt, ap);
        va_end(ap);
}

int sim_log_errno(int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        sim_vlog(error, fmt, ap);
        va_end(ap);
        return error < 0 ? error : -error;
}

int sim_path_join(char *buf, size_t size, const char *dir, const char *name) {
        int n = snprintf(buf, size, "%s/%s", dir, name);

        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int sim_connect_unix(const char *path, unsigned timeout_sec, int *ret_fd) {
        const struct timeval tv = {.tv_sec = (time_t) timeout_sec};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                (void) close(fd);
                return r;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        *ret_fd = fd;
        return 0;
}

int sim_read_full(int fd, void *buf, size_t size) {
        uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = read(fd, p, size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EPIPE;
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int sim_write_full(int fd, const void *buf, size_t size) {
        const uint8_t *p = buf;

        while (size > 0) {
                ssize_t n = write(fd, p, size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

int sim_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        struct stat st;
        size_t size;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if (st.st_size < 0 || (uint64_t) st.st_size > max)
                return -EFBIG;
        size = (size_t) st.st_size;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        r = sim_read_full(fd, buf, size);
        if (r < 0)
                return r == -EPIPE ? -EIO : r;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int sim_write_file_atomic(const char *path, const void *p, size_t size, mode_t mode) {
        char tmp[PATH_MAX];
        int fd, r;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int) getpid()) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = sim_write_full(fd, p, size);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

bool sim_file_exists(const char *path) {
        return access(path, F_OK) == 0;
}
