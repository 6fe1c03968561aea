/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "common/strutil.h"
#include "common/time-util.h"

static bool is_leap(long y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without timegm()'s TZ dependence. */
static long days_from_civil(long y, unsigned m, unsigned d) {
        y -= m <= 2;
        long era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (long) doe - 719468;
}

static int digits(const char **s, int n, unsigned *ret) {
        unsigned v = 0;

        for (int i = 0; i < n; i++) {
                if ((*s)[i] < '0' || (*s)[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) ((*s)[i] - '0');
        }
        *s += n;
        *ret = v;
        return 0;
}

int parse_rfc3339(const char *s, time_t *ret) {
        static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        unsigned Y, M, D, h, m, sec, oh, om;
        long off = 0;

        if (!s)
                return -EINVAL;
        if (s[0] == '@') {
                uint64_t v;
                if (safe_atou64(s + 1, &v) < 0 || v > (uint64_t) INT64_MAX / 2)
                        return -EINVAL;
                *ret = (time_t) v;
                return 0;
        }
        if (digits(&s, 4, &Y) < 0 || *s++ != '-' || digits(&s, 2, &M) < 0 || *s++ != '-' ||
            digits(&s, 2, &D) < 0 || (*s != 'T' && *s != 't' && *s != ' '))
                return -EINVAL;
        s++;
        if (digits(&s, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, &m) < 0 || *s++ != ':' ||
            digits(&s, 2, &sec) < 0)
                return -EINVAL;
        if (*s == '.') {
                s++;
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                while (*s >= '0' && *s <= '9')
                        s++;
        }
        if (*s == 'Z' || *s == 'z')
                s++;
        else if (*s == '+' || *s == '-') {
                int sign = *s++ == '-' ? -1 : 1;
                if (digits(&s, 2, &oh) < 0 || *s++ != ':' || digits(&s, 2, &om) < 0 || oh > 23 ||
                    om > 59)
                        return -EINVAL;
                off = sign * (long) (oh * 3600 + om * 60);
        } else
                return -EINVAL;
        if (*s != '\0')
                return -EINVAL;
        if (M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 60)
                return -EINVAL;
        if (D > mdays[M - 1] + (M == 2 && is_leap(Y)))
                return -EINVAL;
        *ret = (time_t) (days_from_civil(Y, M, D) * 86400L + h * 3600L + m * 60L + sec - off);
        return 0;
}

void format_rfc3339(time_t t, char *buf, size_t size) {
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, size, "@%lld", (long long) t);
}
