/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct Diag;
struct Secret;

/*
 * [io] An existing passphrase or recovery key, the one that authorises `cvm-agent enroll` to add
 * a keyslot, read into a Secret: from a file (or stdin) or from the terminal, never from argv or
 * the environment. Nothing here logs; every failure is -errno with a Diag.
 */

/* cryptsetup's own caps: a key file of up to 8 MiB, a typed passphrase of up to 512 bytes. */
#define PASSPHRASE_FILE_MAX (8u * 1024u * 1024u)
#define PASSPHRASE_TTY_MAX  512u

/*
 * Reads path ("-" for stdin) to its end, exactly its bytes as cryptsetup reads a key file (a
 * trailing newline is part of the passphrase; binary content is fine), into a new Secret
 * (secret_free()). Every intermediate buffer is a Secret, wiped when done. -EFBIG over
 * PASSPHRASE_FILE_MAX (stopping there), -ENODATA for an empty file, -errno of open or read
 * (-ENOENT, -EACCES, ...), -ENOMEM. *ret untouched on failure.
 */
int passphrase_read_file(const char *path, struct Secret **ret, struct Diag *d);

/*
 * Asks on the controlling terminal (/dev/tty, so it works with stdin and stdout redirected):
 * writes prompt, reads a line with echo off, and strips the line end ('\n' or '\r'). The line
 * is read byte by byte with the terminal in non-canonical mode and signal keys off, so the erase
 * key (one UTF-8 character) and the kill key (the whole line) edit it and the interrupt key
 * cancels. SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGTSTP are blocked while the terminal is
 * changed; one that arrives ends the prompt, the terminal is restored, and the signal is then
 * delivered as the process had it set up (so a default action still applies, with the terminal
 * usable again). The terminal's settings are restored on every path; typed-ahead input is
 * discarded first. timeout_usec 0 waits without limit.
 *
 * On success *ret is a new Secret (secret_free()) with the line, 1 to PASSPHRASE_TTY_MAX bytes.
 * -ENXIO when the process has no controlling terminal, -ECANCELED for the interrupt key or the
 * end-of-file key on an empty line, -ENODATA for an empty line, -E2BIG for a longer line,
 * -EINTR for a signal, -ETIMEDOUT, -EIO when the terminal hangs up, other -errno from the
 * terminal calls. *ret untouched on failure.
 */
int passphrase_read_tty(const char *prompt, uint64_t timeout_usec, struct Secret **ret,
                        struct Diag *d);
