/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>

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
