/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test-util.h"

const char *test_vectors_dir(void) {
        static char path[PATH_MAX];
        static int state = -1;
        const char *e;
        struct stat st;

        if (state >= 0)
                return state ? path : NULL;
        e = secure_getenv("CVM_VECTORS");
        if (!e)
                e = "../shared/vectors";
        (void) snprintf(path, sizeof(path), "%s", e);
        state = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        return state ? path : NULL;
}

uint8_t *test_read_file(const char *path, size_t *ret_size) {
        size_t cap = 1u << 20, have = 0;
        uint8_t *buf;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        buf = malloc(cap + 1);
        if (!buf) {
                close(fd);
                return NULL;
        }
        while ((n = read(fd, buf + have, cap - have)) > 0)
                have += (size_t) n;
        close(fd);
        if (n < 0) {
                free(buf);
                return NULL;
        }
        buf[have] = 0;
        *ret_size = have;
        return buf;
}

uint8_t *test_read_vector(const char *rel, size_t *ret_size) {
        char path[PATH_MAX];
        uint8_t *buf;

        assert_non_null(test_vectors_dir());
        (void) snprintf(path, sizeof(path), "%s/%s", test_vectors_dir(), rel);
        buf = test_read_file(path, ret_size);
        if (!buf)
                fail_msg("cannot read vector %s", path);
        return buf;
}
