/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

/* Strict decimal (or 0x-prefixed hex) parsing: no sign, no spaces, no trailing text,
 * -ERANGE on overflow, -EINVAL otherwise. Pure. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);
