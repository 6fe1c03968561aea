/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct Diag;

/*
 * crypttab(5) lines and systemd unit names, for the generator (systemd/cvm-agent-generator.c)
 * that orders `cvm-agent unlock` before systemd-cryptsetup@.service. Pure: strings in, strings
 * out; nothing here reads a file or logs.
 */

/* The option that hands a crypttab entry to the agent's unlock unit. */
#define CRYPTTAB_OPTION_CVM_AGENT "token-type=cvm-agent"

/* Bytes of one crypttab line, at most (longer lines are refused, not cut). */
#define CRYPTTAB_LINE_MAX 4096u
/* Bytes of a device-mapper name (DM_NAME_LEN - 1). */
#define CRYPTTAB_NAME_MAX 127u

/* One entry, "NAME SOURCE [KEY [OPTIONS]]"; key and options are NULL when the line has no such
 * field. The strings are owned by the entry. */
typedef struct CrypttabEntry {
        char *name;
        char *source;
        char *key;
        char *options;
} CrypttabEntry;

/* Parses one line without its newline: fields separated by spaces or tabs, '#' starting a
 * comment line. Returns 1 with *ret filled for an entry, 0 for a blank or comment line (*ret
 * untouched), -EBADMSG for one field only or more than four, -E2BIG for a line longer than
 * CRYPTTAB_LINE_MAX, -EINVAL for a NAME that is no device-mapper name (empty, ".", "..", '/',
 * a control character, over CRYPTTAB_NAME_MAX bytes), -ENOMEM; d says which. */
int crypttab_parse_line(const char *line, CrypttabEntry *ret, struct Diag *d);
/* Frees the strings of an entry (which may be zeroed) and zeroes it. */
void crypttab_entry_done(CrypttabEntry *e);

/* Whether the comma-separated options hold exactly `option` (NULL options hold nothing). */
bool crypttab_has_option(const char *options, const char *option);

/* The device path a SOURCE field names, as systemd-cryptsetup reads it: UUID=, PARTUUID=,
 * LABEL= and PARTLABEL= (optionally in double quotes) become /dev/disk/by-uuid/... and so on,
 * with the value escaped as udev names those links ("\x2f" for '/'); an absolute path is kept.
 * Into *ret (free()). -EINVAL for anything else or an empty value, -ENOMEM. */
int crypttab_source_path(const char *source, char **ret);

/* systemd's unit name escaping of a string (systemd-escape STRING): '/' becomes '-', a leading
 * '.', '-', '\' and every byte outside [A-Za-z0-9:_.] become "\xNN". For a template's instance.
 * Into *ret (free()); -EINVAL for an empty string, -ENOMEM. */
int unit_name_escape(const char *s, char **ret);
/* The unit name of a path with a suffix (systemd-escape --path --suffix=SUFFIX PATH): the path
 * without its leading, trailing and doubled '/' ("/" alone is "-"), escaped as above, then
 * SUFFIX (".device", ".mount"). -EINVAL for a relative path or one with "." or ".."
 * components, -ENOMEM. */
int unit_name_from_path(const char *path, const char *suffix, char **ret);

/* A value for a unit file's Environment="NAME=VALUE": '\' and '"' are backslash-escaped and
 * '%' doubled (systemd's specifier escape). -EINVAL for a control character, -ENOMEM. */
int unit_env_escape(const char *s, char **ret);
