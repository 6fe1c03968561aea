/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "common/log.h"

static const char *log_program = "cvm";
static int log_max_level = LOG_INFO;
static bool log_prefix = false;

static bool stderr_is_journal(void) {
        const char *e = secure_getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(const char *program) {
        const char *lvl;

        log_program = program;
        log_prefix = stderr_is_journal() || access("/etc/initrd-release", F_OK) == 0;
        lvl = secure_getenv("CVM_LOG_LEVEL");
        if (lvl && streq(lvl, "debug"))
                log_max_level = LOG_DEBUG;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        int saved = errno;
        char buf[2048];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level <= log_max_level) {
                /* glibc's %m prints strerror(errno): point it at the error we were given. */
                errno = error;
                va_start(ap, fmt);
                (void) vsnprintf(buf, sizeof(buf), fmt, ap);
                va_end(ap);
                if (log_prefix)
                        fprintf(stderr, "<%d>%s\n", level, buf);
                else if (level == LOG_DEBUG)
                        fprintf(stderr, "%s: [%s:%d] %s\n", log_program, file, line, buf);
                else
                        fprintf(stderr, "%s: %s\n", log_program, buf);
        }
        errno = saved;
        return -error;
}

void log_openssl_errors(const char *what) {
        unsigned long e;
        char buf[256];

        while ((e = ERR_get_error()) != 0) {
                ERR_error_string_n(e, buf, sizeof(buf));
                log_debug("%s: %s", what, buf);
        }
}
