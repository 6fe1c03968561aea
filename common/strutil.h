/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

/* Strict decimal (or 0x-prefixed hex) parsing: no sign, no spaces, no trailing text,
 * -ERANGE on overflow, -EINVAL otherwise. Pure. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);

#include <stdbool.h>
#include <string.h>

/* s after prefix when s starts with it, else NULL. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}
static inline bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}
