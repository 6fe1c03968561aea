/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypttab(5) lines and systemd unit names (pure). The escaping rules are systemd's
 * (unit_name_escape, unit_name_from_path, udev's encode_devnode_name for /dev/disk/by-label/),
 * so that the names the generator writes are the names systemd gives the same things.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "systemd/crypttab.h"

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

static bool is_alnum(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char hexdigit(unsigned v) {
        return "0123456789abcdef"[v & 15];
}

static char *escape_byte(char *t, unsigned char c) {
        *t++ = '\\';
        *t++ = 'x';
        *t++ = hexdigit(c >> 4);
        *t++ = hexdigit(c);
        return t;
}

static int name_check(const char *name, Diag *d) {
        size_t n = strlen(name);

        if (n == 0 || streq(name, ".") || streq(name, ".."))
                return diag_set(d, -EINVAL, "volume name '%s' is not a device-mapper name", name);
        if (n > CRYPTTAB_NAME_MAX)
                return diag_set(d, -EINVAL, "volume name longer than %u bytes", CRYPTTAB_NAME_MAX);
        for (size_t i = 0; i < n; i++)
                if (name[i] == '/' || (unsigned char) name[i] < 0x20 || name[i] == 0x7f)
                        return diag_set(d, -EINVAL,
                                        "volume name '%s' has a '/' or a control "
                                        "character",
                                        name);
        return 0;
}

void crypttab_entry_done(CrypttabEntry *e) {
        if (!e)
                return;
        free(e->name);
        free(e->source);
        free(e->key);
        free(e->options);
        *e = (CrypttabEntry){};
}

int crypttab_parse_line(const char *line, CrypttabEntry *ret, Diag *d) {
        _cleanup_(crypttab_entry_done) CrypttabEntry e = {};
        char **fields[4] = {&e.name, &e.source, &e.key, &e.options};
        size_t n = 0, len = strlen(line);
        const char *p = line;
        int r;

        if (len > CRYPTTAB_LINE_MAX)
                return diag_set(d, -E2BIG, "line longer than %u bytes", CRYPTTAB_LINE_MAX);
        while (is_blank(*p))
                p++;
        if (*p == '\0' || *p == '#')
                return 0;
        for (;;) {
                const char *start;

                while (is_blank(*p))
                        p++;
                if (*p == '\0')
                        break;
                if (n == ELEMENTSOF(fields))
                        return diag_set(d, -EBADMSG, "more than four fields");
                start = p;
                while (*p && !is_blank(*p))
                        p++;
                *fields[n] = strndup(start, (size_t) (p - start));
                if (!*fields[n])
                        return -ENOMEM;
                n++;
        }
        if (n < 2)
                return diag_set(d, -EBADMSG, "'%s' has no source device", e.name);
        r = name_check(e.name, d);
        if (r < 0)
                return r;
        *ret = e;
        e = (CrypttabEntry){};
        return 1;
}

bool crypttab_has_option(const char *options, const char *option) {
        size_t n = strlen(option);

        if (!options)
                return false;
        for (const char *p = options;;) {
                const char *end = strchrnul(p, ',');

                if ((size_t) (end - p) == n && memcmp(p, option, n) == 0)
                        return true;
                if (*end == '\0')
                        return false;
                p = end + 1;
        }
}

/* udev's encode_devnode_name(): what /dev/disk/by-label/ and by-partlabel/ links are called. */
static bool devnode_char_ok(unsigned char c) {
        return is_alnum((char) c) || strchr("#+-.:=@_", c) || c >= 0x80;
}

int crypttab_source_path(const char *source, char **ret) {
        static const struct {
                const char *tag;
                const char *dir;
        } tags[] = {
                {"UUID=", "/dev/disk/by-uuid/"},
                {"PARTUUID=", "/dev/disk/by-partuuid/"},
                {"LABEL=", "/dev/disk/by-label/"},
                {"PARTLABEL=", "/dev/disk/by-partlabel/"},
        };
        _cleanup_(freep) char *buf = NULL;

        if (source[0] == '/') {
                buf = strdup(source);
                if (!buf)
                        return -ENOMEM;
                *ret = TAKE_PTR(buf);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(tags); i++) {
                const char *v = startswith(source, tags[i].tag);
                size_t n, dir_len;
                char *t;

                if (!v)
                        continue;
                n = strlen(v);
                if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                        v++;
                        n -= 2;
                }
                if (n == 0)
                        return -EINVAL;
                dir_len = strlen(tags[i].dir);
                buf = malloc(dir_len + 4 * n + 1);
                if (!buf)
                        return -ENOMEM;
                memcpy(buf, tags[i].dir, dir_len);
                t = buf + dir_len;
                for (size_t j = 0; j < n; j++) {
                        unsigned char c = (unsigned char) v[j];

                        if (c == 0 || c == '"')
                                return -EINVAL;
                        if (devnode_char_ok(c))
                                *t++ = (char) c;
                        else
                                t = escape_byte(t, c);
                }
                *t = '\0';
                *ret = TAKE_PTR(buf);
                return 0;
        }
        return -EINVAL;
}

/* systemd's do_escape(): VALID_CHARS are [0-9A-Za-z:-_.\]; '-' and '\' are escaped anyway. */
static char *unit_escape_into(char *t, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '/')
                        *t++ = '-';
                else if ((i == 0 && c == '.') ||
                         !(is_alnum((char) c) || c == ':' || c == '_' || c == '.'))
                        t = escape_byte(t, c);
                else
                        *t++ = (char) c;
        }
        *t = '\0';
        return t;
}

int unit_name_escape(const char *s, char **ret) {
        size_t n = strlen(s);
        char *buf;

        if (n == 0)
                return -EINVAL;
        if (n > (SIZE_MAX - 1) / 4)
                return -ENOMEM;
        buf = malloc(4 * n + 1);
        if (!buf)
                return -ENOMEM;
        unit_escape_into(buf, s, n);
        *ret = buf;
        return 0;
}

int unit_name_from_path(const char *path, const char *suffix, char **ret) {
        _cleanup_(freep) char *simple = NULL, *buf = NULL;
        size_t n = 0, len = strlen(path), suffix_len = strlen(suffix);
        char *t;

        if (path[0] != '/')
                return -EINVAL;
        if (len > (SIZE_MAX - suffix_len - 2) / 4)
                return -ENOMEM;
        simple = malloc(len + 1);
        if (!simple)
                return -ENOMEM;
        /* Components joined by one '/', without the leading and trailing ones. */
        for (const char *p = path; *p;) {
                const char *start;
                size_t m;

                while (*p == '/')
                        p++;
                if (*p == '\0')
                        break;
                start = p;
                while (*p && *p != '/')
                        p++;
                m = (size_t) (p - start);
                if ((m == 1 && start[0] == '.') || (m == 2 && start[0] == '.' && start[1] == '.'))
                        return -EINVAL;
                if (n > 0)
                        simple[n++] = '/';
                memcpy(simple + n, start, m);
                n += m;
        }
        simple[n] = '\0';
        buf = malloc(4 * n + suffix_len + 2);
        if (!buf)
                return -ENOMEM;
        if (n == 0) {
                buf[0] = '-';
                t = buf + 1;
        } else
                t = unit_escape_into(buf, simple, n);
        memcpy(t, suffix, suffix_len + 1);
        *ret = TAKE_PTR(buf);
        return 0;
}

int unit_env_escape(const char *s, char **ret) {
        size_t n = strlen(s);
        char *buf, *t;

        if (n > (SIZE_MAX - 1) / 2)
                return -ENOMEM;
        buf = malloc(2 * n + 1);
        if (!buf)
                return -ENOMEM;
        t = buf;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c < 0x20 || c == 0x7f) {
                        free(buf);
                        return -EINVAL;
                }
                if (c == '\\' || c == '"' || c == '%')
                        *t++ = c == '%' ? '%' : '\\';
                *t++ = (char) c;
        }
        *t = '\0';
        *ret = buf;
        return 0;
}
