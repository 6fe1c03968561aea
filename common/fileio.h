/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * [io] Reads a whole file ("-" is stdin), refusing one larger than max_size with -EFBIG before
 * reading past the cap. The buffer is NUL-terminated (not counted in *ret_size) and freed with
 * free(). Returns -errno from open/read. Never logs.
 */
int read_full_file(const char *path, size_t max_size, uint8_t **ret, size_t *ret_size);
/* [io] The same for an open file descriptor, read to its end. */
int read_full_fd(int fd, size_t max_size, uint8_t **ret, size_t *ret_size);

/* [io] Writes data to path atomically (temporary file + rename), mode 0644, or to stdout for "-". */
int write_file_atomic(const char *path, const void *data, size_t size);
