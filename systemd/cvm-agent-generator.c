/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cvm-agent-generator: a systemd generator (systemd.generator(7)) that hands the crypttab(5)
 * entries marked token-type=cvm-agent to cvm-agent-unlock@.service, so that the agent attests
 * and opens the volume before systemd-cryptsetup@.service would ask for a passphrase. For each
 * such entry NAME SOURCE it writes into the generator directory:
 *
 *   systemd-cryptsetup@NAME.service.wants/cvm-agent-unlock@NAME.service  (a symlink)
 *       the unlock unit runs whenever the cryptsetup unit is started; Wants=, so that its
 *       failure never stops the cryptsetup unit (the template's Before= orders the two);
 *   cvm-agent-unlock@NAME.service.d/50-cvm-agent-generator.conf
 *       the source device (CVM_UNLOCK_DEVICE for ExecStart=) and BindsTo=/After= on it;
 *   systemd-cryptsetup@NAME.service.d/50-cvm-agent-generator.conf
 *       SYSTEMD_CRYPTSETUP_USE_TOKEN_MODULE=0: the unit was the agent's one attempt, within its
 *       deadline; systemd-cryptsetup must not attest again through the token plugin before it
 *       asks for the passphrase.
 *
 * NAME in unit names is escaped as systemd-cryptsetup-generator escapes it. In the initrd every
 * marked entry is handled; in the booted system only those with _netdev (whose cryptsetup units
 * already wait for the network), because ordering an early cryptsetup unit after
 * network-online.target would hold up, or loop, the boot; x-initrd.attach entries are left to
 * the initrd there.
 *
 * The crypttab is $SYSTEMD_CRYPTTAB or /etc/crypttab, as for systemd-cryptsetup-generator;
 * $SYSTEMD_IN_INITRD (a boolean) overrides the initrd check, as for systemd. Messages go to
 * /dev/kmsg when systemd runs it ($SYSTEMD_SCOPE set), else to stderr. A bad entry is skipped
 * with a warning; the exit status is 1 only when the generator directory cannot be written.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common/diag.h"
#include "common/macro.h"
#include "common/strutil.h"
#include "systemd/crypttab.h"

#ifndef SYSTEMD_UNIT_DIR
#define SYSTEMD_UNIT_DIR "/usr/lib/systemd/system"
#endif
#define UNLOCK_TEMPLATE      "cvm-agent-unlock@.service"
#define DROPIN_NAME          "50-cvm-agent-generator.conf"
#define CRYPTTAB_ENTRIES_MAX 1024u

static int kmsg_fd = -1;
static bool log_debug_on = false;

static void gen_log(int level, const char *fmt, ...) _printf_(2, 3);
static void gen_log(int level, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        if (level == LOG_DEBUG && !log_debug_on)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (kmsg_fd >= 0)
                (void) dprintf(kmsg_fd, "<%d>cvm-agent-generator: %s\n", level, buf);
        else
                fprintf(stderr, "cvm-agent-generator: %s\n", buf);
}

static bool parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = {"1", "yes", "y", "true", "t", "on"};
        static const char *const no[] = {"0", "no", "n", "false", "f", "off"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return *ret = true, true;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return *ret = false, true;
        return false;
}

static bool in_initrd(void) {
        const char *e = secure_getenv("SYSTEMD_IN_INITRD");
        bool b;

        if (e && parse_bool(e, &b))
                return b;
        return access("/etc/initrd-release", F_OK) == 0;
}

/* Writes TEXT as DIR/SUBDIR/FILE (SUBDIR made if missing); -EEXIST when FILE exists. */
static int write_at(int dir_fd, const char *subdir, const char *file, const char *text) {
        _cleanup_(closep) int sub = -EBADF, fd = -EBADF;
        size_t n = strlen(text);
        ssize_t w;

        if (mkdirat(dir_fd, subdir, 0755) < 0 && errno != EEXIST)
                return -errno;
        sub = openat(dir_fd, subdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (sub < 0)
                return -errno;
        fd = openat(sub, file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        w = write(fd, text, n);
        if (w < 0)
                return -errno;
        if ((size_t) w != n)
                return -EIO;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

static int symlink_at(int dir_fd, const char *subdir, const char *name, const char *target) {
        _cleanup_(closep) int sub = -EBADF;

        if (mkdirat(dir_fd, subdir, 0755) < 0 && errno != EEXIST)
                return -errno;
        sub = openat(dir_fd, subdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (sub < 0)
                return -errno;
        if (symlinkat(target, sub, name) < 0)
                return -errno;
        return 0;
}

/* The drop-in of the unlock unit: where the device is, and that it waits for it. */
static int unlock_dropin(const char *tab, const char *device, char **ret) {
        _cleanup_(freep) char *env = NULL, *dep = NULL, *tab_esc = NULL;
        char *text = NULL;
        int r;

        r = unit_env_escape(device, &env);
        if (r < 0)
                return r;
        r = unit_env_escape(tab, &tab_esc);
        if (r < 0)
                return r;
        if (startswith(device, "/dev/")) {
                _cleanup_(freep) char *unit = NULL;

                r = unit_name_from_path(device, ".device", &unit);
                if (r < 0)
                        return r;
                if (asprintf(&dep, "BindsTo=%s\nAfter=%s\n", unit, unit) < 0)
                        return -ENOMEM;
        } else {
                /* An image file: its file system must be mounted first. RequiresMountsFor=
                 * splits on spaces and expands specifiers, as Environment= does not. */
                if (strpbrk(device, " \t\"\\"))
                        return -EINVAL;
                if (asprintf(&dep, "RequiresMountsFor=%s\n", env) < 0)
                        return -ENOMEM;
        }
        if (asprintf(&text,
                     "# Automatically generated by cvm-agent-generator from %s\n"
                     "\n"
                     "[Unit]\n"
                     "SourcePath=%s\n"
                     "%s"
                     "\n"
                     "[Service]\n"
                     "Environment=\"CVM_UNLOCK_DEVICE=%s\"\n",
                     tab_esc, tab_esc, dep, env) < 0)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static const char cryptsetup_dropin[] =
        "# Automatically generated by cvm-agent-generator\n"
        "\n"
        "[Service]\n"
        "# cvm-agent-unlock@.service, ordered before this unit, was the agent's attempt (within\n"
        "# its deadline): do not attest again through libcryptsetup's token plugin before asking\n"
        "# for the passphrase.\n"
        "Environment=SYSTEMD_CRYPTSETUP_USE_TOKEN_MODULE=0\n";

static int add_entry(int dir_fd, const char *tab, const CrypttabEntry *e) {
        _cleanup_(freep) char *esc = NULL, *device = NULL, *dropin = NULL;
        char unlock_d[PATH_MAX], wants_d[PATH_MAX], crypt_d[PATH_MAX], unlock_name[PATH_MAX];
        int r;

        r = unit_name_escape(e->name, &esc);
        if (r < 0)
                return r;
        r = crypttab_source_path(e->source, &device);
        if (r < 0) {
                gen_log(LOG_WARNING, "%s: %s: cannot tell the device from '%s', skipped", tab,
                        e->name, e->source);
                return 0;
        }
        r = unlock_dropin(tab, device, &dropin);
        if (r == -EINVAL) {
                gen_log(LOG_WARNING, "%s: %s: source '%s' cannot be named in a unit, skipped", tab,
                        e->name, device);
                return 0;
        }
        if (r < 0)
                return r;
        if ((size_t) snprintf(unlock_d, sizeof(unlock_d), "cvm-agent-unlock@%s.service.d", esc) >=
                    sizeof(unlock_d) ||
            (size_t) snprintf(wants_d, sizeof(wants_d), "systemd-cryptsetup@%s.service.wants",
                              esc) >= sizeof(wants_d) ||
            (size_t) snprintf(crypt_d, sizeof(crypt_d), "systemd-cryptsetup@%s.service.d", esc) >=
                    sizeof(crypt_d) ||
            (size_t) snprintf(unlock_name, sizeof(unlock_name), "cvm-agent-unlock@%s.service",
                              esc) >= sizeof(unlock_name))
                return -ENAMETOOLONG;

        r = write_at(dir_fd, unlock_d, DROPIN_NAME, dropin);
        if (r == -EEXIST) {
                gen_log(LOG_WARNING, "%s: %s: a second entry of that name, skipped", tab, e->name);
                return 0;
        }
        if (r < 0)
                return r;
        r = symlink_at(dir_fd, wants_d, unlock_name, SYSTEMD_UNIT_DIR "/" UNLOCK_TEMPLATE);
        if (r < 0)
                return r;
        r = write_at(dir_fd, crypt_d, DROPIN_NAME, cryptsetup_dropin);
        if (r < 0)
                return r;
        gen_log(LOG_DEBUG, "%s: %s: %s runs before systemd-cryptsetup@%s.service", tab, e->name,
                unlock_name, esc);
        return 1;
}

int main(int argc, char **argv) {
        _cleanup_(closep) int dir_fd = -EBADF;
        _cleanup_(freep) char *line = NULL;
        const char *tab;
        size_t cap = 0, lineno = 0, entries = 0;
        bool initrd;
        FILE *f;
        int ret = 0;

        if (argc != 2 && argc != 4) {
                fprintf(stderr,
                        "Usage: %s NORMAL_DIR [EARLY_DIR LATE_DIR]\n"
                        "A systemd generator (see cvm-agent(8)): crypttab entries with %s\n"
                        "get cvm-agent-unlock@.service before their systemd-cryptsetup@.service.\n",
                        argv[0], CRYPTTAB_OPTION_CVM_AGENT);
                return 1;
        }
        /* Under systemd (which sets $SYSTEMD_SCOPE for generators, and points their stderr at
         * /dev/null) messages go to the kernel log, as systemd's own generators' do. */
        log_debug_on = streq(secure_getenv("CVM_LOG_LEVEL") ?: "", "debug");
        if (secure_getenv("SYSTEMD_SCOPE"))
                kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        umask(0022);
        tab = secure_getenv("SYSTEMD_CRYPTTAB") ?: "/etc/crypttab";
        initrd = in_initrd();

        dir_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                gen_log(LOG_ERR, "cannot open %s: %s", argv[1], strerror(errno));
                return 1;
        }
        f = fopen(tab, "re");
        if (!f) {
                if (errno != ENOENT)
                        gen_log(LOG_WARNING, "cannot read %s: %s", tab, strerror(errno));
                return 0;
        }
        for (;;) {
                _cleanup_(crypttab_entry_done) CrypttabEntry e = {};
                Diag d = {};
                ssize_t n;
                int r;

                errno = 0;
                n = getline(&line, &cap, f);
                if (n < 0) {
                        if (errno != 0)
                                gen_log(LOG_WARNING, "reading %s: %s", tab, strerror(errno));
                        break;
                }
                lineno++;
                if (n > 0 && line[n - 1] == '\n')
                        line[--n] = '\0';
                if (memchr(line, '\0', (size_t) n)) {
                        gen_log(LOG_WARNING, "%s:%zu: a NUL byte, line skipped", tab, lineno);
                        continue;
                }
                r = crypttab_parse_line(line, &e, &d);
                if (r == -ENOMEM) {
                        gen_log(LOG_ERR, "out of memory");
                        ret = 1;
                        break;
                }
                if (r < 0) {
                        /* systemd-cryptsetup-generator says so too; only ours matter here. */
                        if (strstr(line, CRYPTTAB_OPTION_CVM_AGENT))
                                gen_log(LOG_WARNING, "%s:%zu: %s, skipped", tab, lineno,
                                        diag_text(&d, strerror(-r)));
                        continue;
                }
                if (r == 0 || !crypttab_has_option(e.options, CRYPTTAB_OPTION_CVM_AGENT))
                        continue;
                if (!initrd && (!crypttab_has_option(e.options, "_netdev") ||
                                crypttab_has_option(e.options, "x-initrd.attach"))) {
                        gen_log(LOG_DEBUG, "%s: %s: left to the initrd (no _netdev)", tab, e.name);
                        continue;
                }
                if (++entries > CRYPTTAB_ENTRIES_MAX) {
                        gen_log(LOG_WARNING,
                                "%s: more than %u entries for the agent, the rest "
                                "skipped",
                                tab, CRYPTTAB_ENTRIES_MAX);
                        break;
                }
                r = add_entry(dir_fd, tab, &e);
                if (r < 0) {
                        gen_log(LOG_ERR, "%s: %s: cannot write units: %s", tab, e.name,
                                strerror(-r));
                        ret = 1;
                }
        }
        fclose(f);
        return ret;
}
