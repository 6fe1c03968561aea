/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] Reading the agent's configuration files: the main file and its drop-ins. The parsing is
 * agent/agent-conf.c's (pure).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent-conf.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/strutil.h"

DEFINE_CLEANUP_FUNC(DIR *, closedir);

/* Exec= runs what the configuration names, as the agent's user: nobody else may change it. */
static int check_owner(const struct stat *st, const char *what, Diag *d) {
        if (st->st_uid != 0 && st->st_uid != geteuid())
                return diag_set(d, -EPERM, "%s: owned by uid %u, neither root nor this user",
                                what, (unsigned) st->st_uid);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return diag_set(d, -EPERM, "%s: writable by group or others (mode %04o)", what,
                                (unsigned) (st->st_mode & 07777));
        return 0;
}

/* Opens name (relative to dir_fd) without blocking on a FIFO, checks it and applies it to c. */
static int apply_file(int dir_fd, const char *name, const char *what, bool missing_ok,
                      AgentConfig *c, Diag *d) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) uint8_t *text = NULL;
        struct stat st;
        size_t size;
        int r;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT && missing_ok)
                        return 0;
                return diag_set(d, r, "%s: %s", what, strerror(-r));
        }
        if (fstat(fd, &st) < 0)
                return diag_set(d, -errno, "%s: %s", what, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return diag_set(d, -EBADMSG, "%s: not a regular file", what);
        r = check_owner(&st, what, d);
        if (r < 0)
                return r;
        r = read_full_fd(fd, CONF_SIZE_MAX, &text, &size);
        if (r == -EFBIG)
                return diag_set(d, -E2BIG, "%s: larger than %u bytes", what, CONF_SIZE_MAX);
        if (r < 0)
                return diag_set(d, r, "%s: %s", what, strerror(-r));
        return agent_config_parse((const char *) text, size, what, c, d);
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void free_names(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

/* Applies dir/NAME.conf in strcmp order of NAME; a missing directory holds none. */
static int apply_dropins(const char *dir, AgentConfig *c, Diag *d) {
        _cleanup_(closedirp) DIR *dh = NULL;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        struct stat st;
        int fd, r = 0;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                return diag_set(d, -errno, "%s: %s", dir, strerror(errno));
        }
        dh = fdopendir(fd);
        if (!dh) {
                r = -errno;
                (void) close(fd);
                return diag_set(d, r, "%s: %s", dir, strerror(-r));
        }
        if (fstat(fd, &st) < 0)
                return diag_set(d, -errno, "%s: %s", dir, strerror(errno));
        r = check_owner(&st, dir, d);
        if (r < 0)
                return r;

        names = calloc(AGENT_CONF_DROPINS_MAX, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (;;) {
                errno = 0;
                de = readdir(dh);
                if (!de) {
                        if (errno)
                                r = diag_set(d, -errno, "%s: %s", dir, strerror(errno));
                        break;
                }
                /* Hidden files (editors' backups, a package manager's temporary files) and
                 * other suffixes are not drop-ins. */
                if (de->d_name[0] == '.' || !endswith(de->d_name, ".conf"))
                        continue;
                if (n >= AGENT_CONF_DROPINS_MAX) {
                        r = diag_set(d, -E2BIG, "%s: more than %u drop-ins", dir,
                                     AGENT_CONF_DROPINS_MAX);
                        break;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        if (r >= 0) {
                qsort(names, n, sizeof(char *), compare_names);
                for (size_t i = 0; i < n && r >= 0; i++) {
                        _cleanup_(freep) char *what = NULL;

                        if (asprintf(&what, "%s/%s", dir, names[i]) < 0) {
                                what = NULL;
                                r = -ENOMEM;
                                break;
                        }
                        r = apply_file(fd, names[i], what, /* missing_ok= */ false, c, d);
                }
        }
        free_names(names, n);
        return r;
}

int agent_config_load(const char *path, AgentConfig *ret, Diag *d) {
        _cleanup_(agent_config_done) AgentConfig c = {};
        _cleanup_(freep) char *dropins = NULL;
        const char *file = path ?: AGENT_CONF_PATH;
        int r;

        if (!ret || (path && !*path))
                return -EINVAL;
        r = agent_config_init(&c);
        if (r < 0)
                return r;
        c.file = strdup(file);
        if (!c.file || asprintf(&dropins, "%s" AGENT_CONF_DROPIN_SUFFIX, file) < 0) {
                dropins = NULL;
                return -ENOMEM;
        }
        /* Only the default file may be missing: a file named on the command line is meant. */
        r = apply_file(AT_FDCWD, file, file, /* missing_ok= */ !path, &c, d);
        if (r < 0)
                return r;
        r = apply_dropins(dropins, &c, d);
        if (r < 0)
                return r;
        r = agent_config_check(&c, d);
        if (r < 0)
                return r;
        *ret = c;
        c = (AgentConfig) {};
        return 0;
}
