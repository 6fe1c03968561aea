/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/conf.h"
#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks from both ends of [*b, *e). */
static void trim(const char **b, const char **e) {
        while (*b < *e && is_blank(**b))
                (*b)++;
        while (*e > *b && is_blank((*e)[-1]))
                (*e)--;
}

int conf_diag(Diag *d, int error, const char *file, unsigned line, const char *section,
              const char *key, const char *fmt, ...) {
        char msg[400];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (key)
                return diag_set(d, error, "%s:%u: [%s] %s=: %s", file, line, section ?: "",
                                key, msg);
        return diag_set(d, error, "%s:%u: %s", file, line, msg);
}

static bool key_char_ok(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
}

int conf_parse(const char *text, size_t size, const char *file, ConfCallback cb, void *userdata,
               Diag *d) {
        char section[128] = "", key[128], value[CONF_LINE_MAX + 1];
        bool in_section = false;
        const char *p = text, *end = text + size;
        unsigned line = 0;
        int r;

        if (size > CONF_SIZE_MAX)
                return diag_set(d, -E2BIG, "%s: %zu bytes, at most %u", file, size, CONF_SIZE_MAX);
        if (memchr(text, '\0', size))
                return diag_set(d, -EBADMSG, "%s: contains a NUL byte", file);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *b = p, *e = nl ?: end, *eq;

                line++;
                p = nl ? nl + 1 : end;
                if ((size_t) (e - b) > CONF_LINE_MAX)
                        return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                         "line longer than %u bytes", CONF_LINE_MAX);
                trim(&b, &e);
                if (b == e || *b == '#' || *b == ';')
                        continue;
                if (*b == '[') {
                        if (e[-1] != ']' || e - b < 3 || (size_t) (e - b - 2) >= sizeof(section))
                                return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                                 "malformed section header");
                        for (const char *q = b + 1; q < e - 1; q++)
                                if (!key_char_ok(*q))
                                        return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                                         "malformed section header");
                        memcpy(section, b + 1, (size_t) (e - b - 2));
                        section[e - b - 2] = '\0';
                        in_section = true;
                        r = cb(userdata, file, line, section, NULL, NULL, d);
                        if (r < 0)
                                return r;
                        continue;
                }
                eq = memchr(b, '=', (size_t) (e - b));
                if (!eq)
                        return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                         "expected [Section] or Key=Value");
                {
                        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;

                        trim(&kb, &ke);
                        trim(&vb, &ve);
                        if (kb == ke || (size_t) (ke - kb) >= sizeof(key))
                                return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                                 "missing or overlong key before '='");
                        for (const char *q = kb; q < ke; q++)
                                if (!key_char_ok(*q))
                                        return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                                         "invalid character in key");
                        if (!in_section)
                                return conf_diag(d, -EBADMSG, file, line, NULL, NULL,
                                                 "assignment before any [Section]");
                        memcpy(key, kb, (size_t) (ke - kb));
                        key[ke - kb] = '\0';
                        memcpy(value, vb, (size_t) (ve - vb));
                        value[ve - vb] = '\0';
                }
                r = cb(userdata, file, line, section, key, value, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int conf_parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "true", "on" }, *const no[] = { "0", "no",
                                                                                      "false", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return *ret = true, 0;
                if (strcasecmp(s, no[i]) == 0)
                        return *ret = false, 0;
        }
        return -EINVAL;
}

int conf_parse_timespan(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *name;
                uint64_t usec;
        } units[] = {
                { "us", 1 },
                { "ms", 1000 },
                { "seconds", 1000000 }, { "second", 1000000 }, { "sec", 1000000 }, { "s", 1000000 },
                { "minutes", 60000000 }, { "minute", 60000000 }, { "min", 60000000 }, { "m", 60000000 },
                { "hours", UINT64_C(3600000000) }, { "hour", UINT64_C(3600000000) },
                { "hr", UINT64_C(3600000000) }, { "h", UINT64_C(3600000000) },
                { "days", UINT64_C(86400000000) }, { "day", UINT64_C(86400000000) },
                { "d", UINT64_C(86400000000) },
                { "weeks", UINT64_C(604800000000) }, { "week", UINT64_C(604800000000) },
                { "w", UINT64_C(604800000000) },
        };
        uint64_t total = 0;
        bool any = false;

        while (*s) {
                char digits[24];
                size_t n = 0, u;
                uint64_t v, mult = 1000000;

                while (*s == ' ')
                        s++;
                if (!*s)
                        break;
                while (s[n] >= '0' && s[n] <= '9')
                        n++;
                if (n == 0 || n >= sizeof(digits))
                        return -EINVAL;
                memcpy(digits, s, n);
                digits[n] = '\0';
                if (safe_atou64(digits, &v) < 0)
                        return -ERANGE;
                s += n;
                while (*s == ' ')
                        s++;
                for (u = 0; s[u] >= 'a' && s[u] <= 'z'; u++)
                        ;
                if (u > 0) {
                        size_t i;

                        for (i = 0; i < ELEMENTSOF(units); i++)
                                if (strlen(units[i].name) == u && strncmp(s, units[i].name, u) == 0)
                                        break;
                        if (i == ELEMENTSOF(units))
                                return -EINVAL;
                        mult = units[i].usec;
                        s += u;
                }
                if (v > (UINT64_MAX - total) / mult)
                        return -ERANGE;
                total += v * mult;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret_usec = total;
        return 0;
}

int conf_parse_size(const char *s, uint64_t *ret) {
        char digits[24];
        size_t n = strlen(s);
        uint64_t v, mult = 1;

        if (n == 0 || n >= sizeof(digits))
                return -EINVAL;
        memcpy(digits, s, n + 1);
        switch (digits[n - 1]) {
        case 'K': mult = 1024; break;
        case 'M': mult = 1024 * 1024; break;
        case 'G': mult = 1024 * 1024 * 1024; break;
        default: break;
        }
        if (mult > 1)
                digits[n - 1] = '\0';
        if (safe_atou64(digits, &v) < 0 || (digits[0] == '0' && digits[1] == 'x'))
                return -EINVAL;
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}
