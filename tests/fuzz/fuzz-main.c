/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replay driver: runs LLVMFuzzerTestOneInput over files and directories given as arguments,
 * without libFuzzer, so that `make check` replays the committed corpora with any compiler.
 * Exits 0 when the target returned for every input, 1 on an unreadable argument, 2 on usage.
 * A crash shows up as the process dying (and the test failing).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/macro.h"
#include "tests/fuzz/fuzz.h"

/* Inputs larger than this are cut to it (libFuzzer's corpora here stay far below). */
#define REPLAY_MAX_SIZE (1024u * 1024u)

static size_t n_replayed;

static int replay_fd(int fd, const char *path) {
        _cleanup_(freep) uint8_t *buf = NULL, *exact = NULL;
        size_t size = 0;

        buf = malloc(REPLAY_MAX_SIZE);
        if (!buf)
                return -ENOMEM;
        while (size < REPLAY_MAX_SIZE) {
                ssize_t n = read(fd, buf + size, REPLAY_MAX_SIZE - size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size == REPLAY_MAX_SIZE)
                fprintf(stderr, "replay: %s: cut to %u bytes\n", path, REPLAY_MAX_SIZE);

        /* An exact-size copy, so that AddressSanitizer sees a read one past the end. */
        exact = malloc(size > 0 ? size : 1);
        if (!exact)
                return -ENOMEM;
        memcpy(exact, buf, size);
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
        (void) LLVMFuzzerTestOneInput(exact, size);
        n_replayed++;
        return 0;
}

static int replay_file(const char *path) {
        _cleanup_(closep) int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return replay_fd(fd, path);
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The regular files directly inside dir, in name order (so runs are reproducible). */
static int replay_dir(const char *dir) {
        DIR *dp;
        struct dirent *de;
        char **list = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        dp = opendir(dir);
        if (!dp)
                return -errno;
        while ((de = readdir(dp))) {
                char *p;

                if (de->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        char **nl = reallocarray(list, ncap, sizeof(*list));

                        if (!nl) {
                                r = -ENOMEM;
                                goto out;
                        }
                        list = nl;
                        cap = ncap;
                }
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                list[n++] = p;
        }
        qsort(list, n, sizeof(*list), cmp_names);
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;

                if (stat(list[i], &st) < 0) {
                        r = -errno;
                        fprintf(stderr, "replay: %s: %s\n", list[i], strerror(-r));
                        break;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                r = replay_file(list[i]);
                if (r < 0)
                        fprintf(stderr, "replay: %s: %s\n", list[i], strerror(-r));
        }
out:
        for (size_t i = 0; i < n; i++)
                free(list[i]);
        free(list);
        closedir(dp);
        return r;
}

int main(int argc, char *argv[]) {
        int ret = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0)
                        r = -errno;
                else if (S_ISDIR(st.st_mode))
                        r = replay_dir(argv[i]);
                else
                        r = replay_file(argv[i]);
                if (r < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
                        ret = 1;
                }
        }
        fprintf(stderr, "replay: %zu inputs, all returned\n", n_replayed);
        return ret;
}
