/* SPDX-License-Identifier: Apache-2.0 */
/* The state directory's files (agent/state.h). [io] */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/drift.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/macro.h"

static int path_join(const char *dir, const char *name, char **ret) {
        if (!dir || !name || !dir[0] || strchr(name, '/'))
                return -EINVAL;
        return asprintf(ret, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

int state_dir_ensure(const char *dir) {
        _cleanup_(freep) char *p = NULL;
        struct stat st;

        if (!dir || !dir[0])
                return -EINVAL;
        if (stat(dir, &st) == 0)
                return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        if (errno != ENOENT)
                return -errno;
        p = strdup(dir);
        if (!p)
                return -ENOMEM;
        /* Each missing parent, then dir itself. */
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (stat(dir, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int state_read_file(const char *dir, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int fd = -EBADF;
        uint8_t *buf;
        struct stat st;
        size_t size;
        int r;

        r = path_join(dir, name, &path);
        if (r < 0)
                return r;
        /* O_NONBLOCK: a FIFO put in the file's place must not hang the reader. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if ((uint64_t) st.st_size > max)
                return -E2BIG;
        r = read_full_fd(fd, max, &buf, &size);
        if (r == -EFBIG)
                return -E2BIG;
        if (r < 0)
                return r;
        *ret = (char *) buf;
        if (ret_size)
                *ret_size = size;
        return 0;
}

int state_write_file(const char *dir, const char *name, const char *data, size_t size) {
        _cleanup_(freep) char *path = NULL;
        int r;

        r = path_join(dir, name, &path);
        if (r < 0)
                return r;
        return write_file_atomic(path, data, size);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

int state_lock(const char *dir, uint64_t timeout_usec, int *ret_fd) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int fd = -EBADF;
        uint64_t deadline = now_usec() + timeout_usec;
        int r;

        r = path_join(dir, STATE_FILE_LOCK, &path);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        for (;;) {
                struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};

                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (now_usec() >= deadline)
                        return -EBUSY;
                (void) nanosleep(&pause, NULL);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int state_status_save(const char *dir, const MonitorStatus *s) {
        _cleanup_(freep) char *text = NULL;
        int r;

        r = monitor_status_to_json(s, &text);
        if (r < 0)
                return r;
        return state_write_file(dir, STATE_FILE_STATUS, text, strlen(text));
}

int state_status_load(const char *dir, MonitorStatus *ret, Diag *d) {
        _cleanup_(freep) char *text = NULL;
        size_t size;
        int r;

        r = state_read_file(dir, STATE_FILE_STATUS, STATE_STATUS_MAX, &text, &size);
        if (r < 0)
                return diag_set(d, r, "%s/%s: %s", dir, STATE_FILE_STATUS, strerror(-r));
        r = monitor_status_parse(text, size, ret, d);
        if (r < 0)
                return diag_prefix(d, r, "%s/%s", dir, STATE_FILE_STATUS);
        return 0;
}

int state_baseline_save(const char *dir, const DriftBaseline *b) {
        _cleanup_(freep) char *text = NULL;
        int r;

        r = drift_baseline_to_json(b, &text);
        if (r < 0)
                return r;
        return state_write_file(dir, STATE_FILE_BASELINE, text, strlen(text));
}

int state_baseline_file_load(const char *dir, const char *file, DriftBaseline **ret, Diag *d) {
        _cleanup_(freep) char *text = NULL;
        size_t size;
        int r;

        r = state_read_file(dir, file, DRIFT_BASELINE_MAX, &text, &size);
        if (r < 0)
                return diag_set(d, r, "%s/%s: %s", dir, file, strerror(-r));
        r = drift_baseline_parse(text, size, ret, d);
        if (r < 0)
                return diag_prefix(d, r, "%s/%s", dir, file);
        return 0;
}

int state_baseline_load(const char *dir, DriftBaseline **ret, Diag *d) {
        return state_baseline_file_load(dir, STATE_FILE_BASELINE, ret, d);
}

int state_verifiers_save(const char *dir, const char *text, size_t size) {
        if (!text || size > STATE_VERIFIERS_MAX)
                return -EINVAL;
        return state_write_file(dir, STATE_FILE_VERIFIERS, text, size);
}

int state_verifiers_load(const char *dir, char **ret_text, size_t *ret_size) {
        return state_read_file(dir, STATE_FILE_VERIFIERS, STATE_VERIFIERS_MAX, ret_text, ret_size);
}
