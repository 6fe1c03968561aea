/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/diag.h"
#include "common/macro.h"
#include "common/secret-file.h"
#include "common/secret.h"
#include "common/strutil.h"

int secret_spec_path(const char *spec, char **ret_path, Diag *d) {
        const char *name, *dir;
        char *p;

        if (!spec || !*spec || !ret_path)
                return diag_set(d, -EINVAL, "no secret file given");
        name = startswith(spec, SECRET_CREDENTIAL_PREFIX);
        if (!name) {
                p = strdup(spec);
                if (!p)
                        return -ENOMEM;
                *ret_path = p;
                return 0;
        }
        if (!*name || strchr(name, '/'))
                return diag_set(d, -EINVAL, "%s: not a credential name", spec);
        dir = secure_getenv("CREDENTIALS_DIRECTORY");
        if (!dir || !*dir)
                return diag_set(d, -ENOENT,
                                "%s: $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the "
                                "unit?)",
                                spec);
        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        *ret_path = p;
        return 0;
}

int secret_file_read(const char *spec, size_t max_size, Secret **ret, Diag *d) {
        _cleanup_(secret_freep) Secret *s = NULL;
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;
        size_t have = 0;
        int r;

        if (!ret || max_size == 0 || max_size > SIZE_MAX / 2)
                return diag_set(d, -EINVAL, "secret file: bad arguments");
        r = secret_spec_path(spec, &path, d);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return diag_set(d, r, "Cannot open %s: %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                return diag_set(d, r, "Cannot stat %s: %s", path, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return diag_set(d, -EPERM, "%s: not a regular file", path);
        if (st.st_mode & 0077)
                return diag_set(d, -EPERM,
                                "%s: must be a regular file that only its owner can read (mode "
                                "0600 or 0400), not %04o",
                                path, (unsigned) (st.st_mode & 07777));
        if ((uintmax_t) st.st_size > max_size)
                return diag_set(d, -EFBIG, "%s: larger than %zu bytes", path, max_size);

        /* One byte beyond the cap tells a file that grew past it from one exactly at it, and one
         * more keeps the text NUL-terminated. */
        r = secret_new(max_size + 2, &s);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(fd, s->data + have, max_size + 1 - have);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        return diag_set(d, r, "Cannot read %s: %s", path, strerror(-r));
                }
                if (n == 0)
                        break;
                have += (size_t) n;
                if (have > max_size)
                        return diag_set(d, -EFBIG, "%s: larger than %zu bytes", path, max_size);
        }
        s->data[have] = 0;
        s->size = have;
        *ret = TAKE_PTR(s);
        return 0;
}
