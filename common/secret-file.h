/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

struct Diag;
struct Secret;

/*
 * [io] Secrets in files: keys, tokens and passphrases that the programs read from a path or from
 * a systemd credential. A spec is either a path or "credential:NAME", which names
 * $CREDENTIALS_DIRECTORY/NAME (LoadCredential=, LoadCredentialEncrypted=, SetCredential= in the
 * unit). A secret file must be a regular file that neither its group nor others may access (mode
 * 0600 or 0400): a key that leaked through file permissions is no longer a key. Nothing here
 * logs; a Diag names the file and why.
 */

#define SECRET_CREDENTIAL_PREFIX "credential:"

/*
 * The path a spec names, as a new string in *ret_path (free()). For "credential:NAME": -ENOENT
 * when $CREDENTIALS_DIRECTORY is unset or empty, -EINVAL when NAME is empty or holds a '/'.
 * Reads the environment only (secure_getenv); touches no file.
 */
int secret_spec_path(const char *spec, char **ret_path, struct Diag *d);

/*
 * Reads the secret spec names into a new Secret *ret (secret_free()): at most max_size bytes,
 * followed by a NUL byte that (*ret)->size does not count, so text secrets may be used as
 * strings. The file is opened once and checked on that descriptor: -EPERM when it is not a
 * regular file or its group or others have any access, -EFBIG when it holds more than max_size
 * bytes, -errno from open() and read() (-ENOENT, -EACCES, ...), and the errors of
 * secret_spec_path(). The bytes never pass through memory other than the Secret. *ret is
 * untouched on failure.
 */
int secret_file_read(const char *spec, size_t max_size, struct Secret **ret, struct Diag *d);
