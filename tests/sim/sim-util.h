/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

/* Small helpers for cvm-simd. Functions return 0 or -errno and do not log unless stated. */

/* Logs "cvm-simd: message" to stderr (the daemon's stderr is its log file). */
void sim_log(const char *fmt, ...) _printf_(1, 2);
/* Same, appending ": strerror(-error)"; returns error (negative), for `return sim_log_errno()`. */
int sim_log_errno(int error, const char *fmt, ...) _printf_(2, 3);

static inline void sim_put_le32(uint8_t *p, uint32_t v) {
        for (size_t i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static inline void sim_put_le64(uint8_t *p, uint64_t v) {
        for (size_t i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint32_t sim_get_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

/* Hex and integer parsing come from common/ (codec.h, strutil.h): plain text helpers, not the
 * report code the simulator stands in for. */

/* dir + "/" + name into buf; -ENAMETOOLONG if it does not fit. */
int sim_path_join(char *buf, size_t size, const char *dir, const char *name);

/* Reads a whole regular file of at most max bytes; *ret is NUL-terminated for convenience. */
int sim_read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);
/* Writes via a temporary file in the same directory and rename(), with the given mode. */
int sim_write_file_atomic(const char *path, const void *p, size_t size, mode_t mode);
bool sim_file_exists(const char *path);

/* Full-length read/write on a blocking fd; -EPIPE on a short read at EOF. */
int sim_read_full(int fd, void *buf, size_t size);
/* A stream connection to the unix socket at path, with send and receive timeouts of
 * timeout_sec; -ENAMETOOLONG for a path that does not fit, -errno. */
int sim_connect_unix(const char *path, unsigned timeout_sec, int *ret_fd);
int sim_write_full(int fd, const void *buf, size_t size);
