/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;
struct Secret;

/*
 * The master key of the key store (keyrelease/key-store.h encrypts every key at rest under it):
 * 32 bytes, from a file or a systemd credential (common/secret-file.h), never logged.
 *
 * A master key file holds exactly one of:
 *  - 32 bytes: the key itself (raw), as `head -c 32 /dev/urandom` writes it and as
 *    master_key_load() creates it;
 *  - 64 hex digits (either case), optionally followed by one "\n": the key in hex, as
 *    `openssl rand -hex 32` writes it.
 * Nothing else: no other white space, no other length, no comments.
 */

#define MASTER_KEY_SIZE 32u
/* The longest file of either form: 64 hex digits and a newline. */
#define MASTER_KEY_FILE_MAX 65u
/* What spec NULL looks for: this credential, else this file in the state directory. */
#define MASTER_KEY_CREDENTIAL "cvm-verifier-master-key"
#define MASTER_KEY_FILE_NAME  "master.key"

/*
 * Parses the size bytes of a master key file in either form above into a new Secret *ret
 * (secret_free()) of MASTER_KEY_SIZE bytes. -EBADMSG (Diag starting "name: ", or "master key: "
 * for a NULL name) for anything else; *ret untouched on failure. Pure; never logs.
 */
int master_key_parse(const uint8_t *buf, size_t size, const char *name, struct Secret **ret,
                     struct Diag *d);

/*
 * [io] Loads the master key into a new Secret *ret (secret_free()) of MASTER_KEY_SIZE bytes.
 *
 * spec is a file path or "credential:NAME" ($CREDENTIALS_DIRECTORY/NAME). NULL means the
 * credential MASTER_KEY_CREDENTIAL when $CREDENTIALS_DIRECTORY is set and holds an entry of that
 * name (it is then used, and not passed over if it turns out unreadable), else the file
 * STATE_DIR/master.key. The file must be a regular file that neither group nor others may access
 * (-EPERM) and hold one of the forms above (-EBADMSG).
 *
 * With create set, a file that is absent is made, but only when it is a path (never a
 * credential) and state_dir holds no key store yet (no STATE_DIR/keys.db: a store that exists
 * was made under another key, and a new one would only lock it for good; -ENOENT then). When
 * the file is the default STATE_DIR/master.key, a missing state_dir is created first (mode
 * 0700, one level). The new key is 32 bytes from RAND_priv_bytes(), written raw to a temporary
 * file beside it (O_EXCL, 0600), fsync'ed, then linked to its name, which fails if the name
 * exists, and the directory fsync'ed: a reader never sees a partial key, and of two processes
 * creating at once one makes the key and the other loads it.
 *
 * state_dir may be NULL only when spec is set and create is not. Returns 0 when an existing key
 * was loaded, 1 when a new one was created (callers warn that a key kept beside the store
 * protects nothing at rest); -EINVAL for bad arguments or a bad credential name, -ENOENT for a
 * missing file, credential or $CREDENTIALS_DIRECTORY, -EPERM, -EBADMSG as above, -EIO when no
 * random bytes could be had, -errno from the file system. Every failure fills d with one line
 * naming the file and why; *ret is untouched on failure. Never logs; no key byte reaches d.
 */
int master_key_load(const char *spec, const char *state_dir, bool create, struct Secret **ret,
                    struct Diag *d);
