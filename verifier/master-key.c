/* SPDX-License-Identifier: Apache-2.0 */
/* [io] Loading, and on first use creating, the key store's master key (verifier/master-key.h). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "common/diag.h"
#include "common/macro.h"
#include "common/secret-file.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "keyrelease/key-store.h"
#include "verifier/master-key.h"

/* What spec NULL stands for: the credential when $CREDENTIALS_DIRECTORY holds an entry of that
 * name (whatever it is: an unreadable credential is an error, not a reason to look elsewhere),
 * else the file in state_dir, which *ret_is_default tells. */
static int default_spec(const char *state_dir, char **ret_spec, bool *ret_is_default) {
        const char *creds = secure_getenv("CREDENTIALS_DIRECTORY");
        struct stat st;
        char *s;

        if (creds && *creds) {
                _cleanup_(freep) char *p = NULL;

                if (asprintf(&p, "%s/%s", creds, MASTER_KEY_CREDENTIAL) < 0) {
                        p = NULL;
                        return -ENOMEM;
                }
                if (lstat(p, &st) == 0) {
                        s = strdup(SECRET_CREDENTIAL_PREFIX MASTER_KEY_CREDENTIAL);
                        if (!s)
                                return -ENOMEM;
                        *ret_spec = s;
                        *ret_is_default = false;
                        return 0;
                }
        }
        /* "./" keeps a relative state directory whose name starts "credential:" a path. */
        if (asprintf(&s, "%s%s/%s", startswith(state_dir, SECRET_CREDENTIAL_PREFIX) ? "./" : "",
                     state_dir, MASTER_KEY_FILE_NAME) < 0)
                return -ENOMEM;
        *ret_spec = s;
        *ret_is_default = true;
        return 0;
}

/* fsync()s the directory holding path, so that a name just linked there persists. */
static int fsync_parent(const char *path) {
        _cleanup_(freep) char *dir = NULL;
        _cleanup_(closep) int fd = -EBADF;
        const char *slash = strrchr(path, '/');

        if (!slash)
                dir = strdup(".");
        else
                dir = strndup(path, slash == path ? 1 : (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, p, n);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

/*
 * Makes a new master key at path: written in full to a temporary file beside it (mkostemp: O_EXCL,
 * mode 0600) and fsync'ed, then linked to path, which fails with -EEXIST (no Diag) when some
 * other process got there first. No reader ever sees a partial key.
 */
static int key_create(const char *path, Secret **ret, Diag *d) {
        _cleanup_(secret_freep) Secret *k = NULL;
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -EBADF;
        int r;

        r = secret_new(MASTER_KEY_SIZE, &k);
        if (r < 0)
                return r;
        if (RAND_priv_bytes(k->data, MASTER_KEY_SIZE) != 1)
                return diag_set(d, -EIO, "%s: no random bytes for a new master key", path);
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                return diag_set(d, r, "Cannot create %s: %s", tmp, strerror(-r));
        }
        r = write_all(fd, k->data, k->size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && link(tmp, path) < 0)
                r = -errno;
        (void) unlink(tmp);
        if (r == -EEXIST)
                return r;
        if (r < 0)
                return diag_set(d, r, "Cannot write the new master key %s: %s", path, strerror(-r));
        r = fsync_parent(path);
        if (r < 0)
                return diag_set(d, r, "Cannot sync the directory of %s: %s", path, strerror(-r));
        *ret = TAKE_PTR(k);
        return 0;
}

/* Whether state_dir holds a key store: -errno when that cannot be told. */
static int store_exists(const char *state_dir) {
        _cleanup_(freep) char *p = NULL;
        struct stat st;

        if (asprintf(&p, "%s/%s", state_dir, KEY_STORE_FILE_NAME) < 0) {
                p = NULL;
                return -ENOMEM;
        }
        if (lstat(p, &st) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

int master_key_load(const char *spec, const char *state_dir, bool create, Secret **ret, Diag *d) {
        _cleanup_(secret_freep) Secret *file = NULL, *k = NULL;
        _cleanup_(freep) char *own_spec = NULL, *path = NULL;
        bool is_default = false;
        Diag inner = {};
        int r;

        if (!ret || (spec && !*spec) || (state_dir && !*state_dir) ||
            (!state_dir && (!spec || create)))
                return diag_set(d, -EINVAL, "master key: bad arguments");
        if (!spec) {
                r = default_spec(state_dir, &own_spec, &is_default);
                if (r < 0)
                        return r;
                spec = own_spec;
        }
        r = secret_spec_path(spec, &path, d);
        if (r < 0)
                return r;

        r = secret_file_read(spec, MASTER_KEY_FILE_MAX, &file, &inner);
        if (r == -ENOENT && (create || is_default) && !startswith(spec, SECRET_CREDENTIAL_PREFIX)) {
                r = store_exists(state_dir);
                if (r < 0)
                        return diag_set(d, r, "Cannot look for a key store in %s: %s", state_dir,
                                        strerror(-r));
                if (r > 0)
                        return diag_set(
                                d, -ENOENT,
                                "%s: no such file%s, but the key store %s/%s exists: "
                                "it was made under a master key kept elsewhere%s",
                                path, is_default ? " and no credential " MASTER_KEY_CREDENTIAL : "",
                                state_dir, KEY_STORE_FILE_NAME,
                                create ? ", and a new one would not open it" : "");
                r = -ENOENT;
        }
        if (r == -ENOENT && create && !startswith(spec, SECRET_CREDENTIAL_PREFIX)) {
                if (is_default && mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
                        r = -errno;
                        return diag_set(d, r, "Cannot create %s: %s", state_dir, strerror(-r));
                }
                r = key_create(path, &k, d);
                if (r >= 0) {
                        *ret = TAKE_PTR(k);
                        return 1;
                }
                if (r != -EEXIST)
                        return r;
                /* Another process made it just now: use theirs. */
                inner.text[0] = 0;
                r = secret_file_read(spec, MASTER_KEY_FILE_MAX, &file, &inner);
        }
        if (r == -ENOENT && is_default)
                return diag_set(d, r,
                                "%s: no such file, and no credential " MASTER_KEY_CREDENTIAL
                                " in $CREDENTIALS_DIRECTORY (the key store's master key)",
                                path);
        if (r == -EFBIG)
                return diag_set(d, -EBADMSG,
                                "%s: a master key is %u bytes, or %u hex digits and an optional "
                                "newline; this file is longer",
                                path, MASTER_KEY_SIZE, 2 * MASTER_KEY_SIZE);
        if (r < 0 && inner.text[0])
                return diag_set(d, r, "%s", inner.text);
        if (r < 0)
                return diag_set(d, r, "%s: %s", path, strerror(-r));
        r = master_key_parse(file->data, file->size, path, &k, d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}
