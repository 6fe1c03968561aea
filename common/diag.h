/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

#include "common/macro.h"

/*
 * Why a parse or a verification failed, in one line naming what and where ("REPORT_DATA at
 * 0x050: ..."). Pure code fills a Diag its caller owns (which may be NULL) and returns -errno;
 * only mains print it. The first message set wins: inner functions say the precise thing, and
 * outer ones do not overwrite it.
 */
typedef struct Diag {
        char text[512];
} Diag;

/* Sets d->text unless it is NULL or already set; returns error (negative errno) for chaining. */
int diag_set(Diag *d, int error, const char *fmt, ...) _printf_(3, 4);
/* Puts "PREFIX: " before d's message (or before strerror(-error) when none is set), for a step
 * that names itself around what an inner function said; returns error. NULL d is fine. */
int diag_prefix(Diag *d, int error, const char *fmt, ...) _printf_(3, 4);
/* Untrusted text for a message: the first 48 of n bytes of s, printable ASCII kept, '"' and
 * anything else as '?', "..." when cut; into buf, which it returns. */
#define DIAG_PRINTABLE_MAX 48u
const char *diag_printable(const char *s, size_t n, char buf[static DIAG_PRINTABLE_MAX + 4]);
static inline const char *diag_text(const Diag *d, const char *fallback) {
        return d && d->text[0] ? d->text : fallback;
}
