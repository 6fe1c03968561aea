/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct Diag;

/*
 * Configuration files in the INI style of systemd's unit files: "[Section]" headers, "Key=Value"
 * assignments (white space around key and value dropped), "#" and ";" comment lines, blank
 * lines. A section may repeat; a key may repeat (the callback decides whether that appends or
 * replaces). No line continuation, no quoting: a value is the rest of the line. Pure.
 */

#define CONF_LINE_MAX 4096u
#define CONF_SIZE_MAX (256u * 1024u)

/*
 * Called for every section header (key and value NULL) and every assignment, with the file name
 * and line for messages. A negative return stops parsing and is returned; the callback fills the
 * Diag (conf_diag() prefixes it with "FILE:LINE: ").
 */
typedef int (*ConfCallback)(void *userdata, const char *file, unsigned line, const char *section,
                            const char *key, const char *value, struct Diag *d);

/* Parses size bytes of text. -E2BIG over CONF_SIZE_MAX; -EBADMSG with "FILE:LINE: ..." for a
 * line over CONF_LINE_MAX, a NUL byte, a malformed header, an assignment outside any section, or
 * a line that is neither. */
int conf_parse(const char *text, size_t size, const char *file, ConfCallback cb, void *userdata,
               struct Diag *d);

/* For callbacks: sets "FILE:LINE: [Section] Key=: <message>" and returns error. */
int conf_diag(struct Diag *d, int error, const char *file, unsigned line, const char *section,
              const char *key, const char *fmt, ...) _printf_(7, 8);

/* yes/no, true/false, on/off, 1/0 (case-insensitive). -EINVAL otherwise. */
int conf_parse_bool(const char *s, bool *ret);

/*
 * A time span as systemd writes them: a number with an optional unit ("us", "ms", "s"/"sec",
 * "m"/"min", "h"/"hr", "d"/"day", "w"/"week"; no unit means seconds), several of them summed
 * ("1h 30min"). Into microseconds. -EINVAL malformed, -ERANGE overflow.
 */
int conf_parse_timespan(const char *s, uint64_t *ret_usec);

/* A size with an optional K, M or G suffix (powers of 1024). -EINVAL, -ERANGE. */
int conf_parse_size(const char *s, uint64_t *ret);
