/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <time.h>

/*
 * RFC 3339 / ISO 8601 times in UTC: "2024-12-12T00:00:00Z", with optional fractional seconds
 * (ignored) and a numeric offset ("+01:00"). Also accepts "@SECONDS" (Unix time). Pure.
 * -EINVAL on anything else.
 */
int parse_rfc3339(const char *s, time_t *ret);
/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void format_rfc3339(time_t t, char *buf, size_t size);
