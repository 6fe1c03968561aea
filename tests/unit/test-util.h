/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/*
 * Helpers for the unit tests. Vectors are read from $CVM_VECTORS (set by `make check`), or
 * ../shared/vectors relative to the source tree. A test that needs them skips when absent.
 */

/* The vectors directory, or NULL when it does not exist. */
const char *test_vectors_dir(void);
/* Reads vectors/<rel> (cap 1 MiB) into a new buffer; fails the test if it cannot. */
uint8_t *test_read_vector(const char *rel, size_t *ret_size);
/* Reads an arbitrary file; NULL if it cannot. */
uint8_t *test_read_file(const char *path, size_t *ret_size);
/* Skips the calling test when the vectors are missing. */
#define SKIP_WITHOUT_VECTORS()                  \
        do {                                    \
                if (!test_vectors_dir())        \
                        skip();                 \
        } while (0)
