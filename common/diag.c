/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/diag.h"

int diag_set(Diag *d, int error, const char *fmt, ...) {
        va_list ap;

        if (d && d->text[0] == '\0') {
                va_start(ap, fmt);
                (void) vsnprintf(d->text, sizeof(d->text), fmt, ap);
                va_end(ap);
        }
        return error;
}

int diag_prefix(Diag *d, int error, const char *fmt, ...) {
        char out[sizeof(d->text)];
        const char *old;
        size_t n, m;
        va_list ap;

        if (!d)
                return error;
        va_start(ap, fmt);
        (void) vsnprintf(out, sizeof(out), fmt, ap);
        va_end(ap);
        n = strlen(out);
        old = d->text[0] ? d->text : strerror(-error);
        if (n + 2 < sizeof(out)) {
                memcpy(out + n, ": ", 2);
                n += 2;
                m = strnlen(old, sizeof(out) - n - 1);
                memcpy(out + n, old, m);
                n += m;
        }
        out[n] = '\0';
        memcpy(d->text, out, n + 1);
        return error;
}

const char *diag_printable(const char *s, size_t n, char buf[static DIAG_PRINTABLE_MAX + 4]) {
        size_t k = n < DIAG_PRINTABLE_MAX ? n : DIAG_PRINTABLE_MAX;

        for (size_t i = 0; i < k; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
        if (k < n) {
                memcpy(buf + k, "...", 3);
                k += 3;
        }
        buf[k] = '\0';
        return buf;
}
