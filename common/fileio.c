/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macro.h"

int read_full_fd(int fd, size_t max_size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t have = 0, cap = 0;

        for (;;) {
                ssize_t n;

                if (have == cap) {
                        size_t ncap = cap ? cap * 2 : 4096;
                        uint8_t *nbuf;

                        /* One byte beyond the cap tells an over-long file from one exactly at it. */
                        if (ncap > max_size + 1)
                                ncap = max_size + 1;
                        if (ncap <= have)
                                return -EFBIG;
                        nbuf = realloc(buf, ncap + 1);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap = ncap;
                }
                n = read(fd, buf + have, cap - have);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                have += (size_t) n;
                if (have > max_size)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[have] = 0;
        *ret_size = have;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_full_file(const char *path, size_t max_size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;

        if (streq(path, "-"))
                return read_full_fd(STDIN_FILENO, max_size, ret, ret_size);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max_size, ret, ret_size);
}

int write_file_atomic(const char *path, const void *data, size_t size) {
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -EBADF;
        const uint8_t *p = data;
        int wfd;

        struct stat st;

        if (streq(path, "-"))
                wfd = STDOUT_FILENO;
        else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
                /* A device or a pipe (/dev/null, /dev/stdout): write to it; renaming a file over
                 * it would replace the node. */
                fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return -errno;
                wfd = fd;
        } else {
                if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
                        tmp = NULL;
                        return -ENOMEM;
                }
                fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (fchmod(fd, 0644) < 0)
                        goto fail;
                wfd = fd;
        }
        while (size > 0) {
                ssize_t n = write(wfd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail;
                }
                p += n;
                size -= (size_t) n;
        }
        if (!tmp)
                return 0;
        if (fsync(fd) < 0 || rename(tmp, path) < 0)
                goto fail;
        return 0;
fail:;
        int r = -errno;
        if (tmp)
                (void) unlink(tmp);
        return r;
}
