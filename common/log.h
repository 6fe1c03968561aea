/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <syslog.h>

#include "common/macro.h"

/*
 * Logging for the programs (mains). Lines go to stderr; when stderr is connected to the journal
 * (JOURNAL_STREAM names it, as systemd sets it up) or in the initrd they carry sd-daemon "<N>"
 * level prefixes, which journald turns into priorities; on a terminal they read
 * "program: message". Library code logs at debug level only. %m in a format prints the error
 * passed to the *_errno variants. The *_errno variants return -abs(error), so a caller can write
 * `return log_error_errno(r, "...: %m", ...)`.
 */

void log_setup(const char *program);
void log_set_max_level(int level);
int log_get_max_level(void);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
        _printf_(5, 6);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)

#define log_debug(...) (void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) (void) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) (void) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) (void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) (void) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* For OpenSSL failures: appends the error queue's text at debug level and clears it. */
void log_openssl_errors(const char *what);
