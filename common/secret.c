/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/secret.h"

int secret_new(size_t size, Secret **ret) {
        long page = sysconf(_SC_PAGESIZE);
        _cleanup_(freep) Secret *s = NULL;
        size_t cap;
        void *p;

        if (page <= 0)
                page = 4096;
        if (size == 0 || size > SIZE_MAX - (size_t) page)
                return -EINVAL;
        cap = (size + (size_t) page - 1) / (size_t) page * (size_t) page;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        (void) madvise(p, cap, MADV_DONTDUMP);
        (void) madvise(p, cap, MADV_WIPEONFORK);
        s->locked = mlock(p, cap) == 0;
        s->data = p;
        s->size = size;
        s->capacity = cap;
        *ret = TAKE_PTR(s);
        return 0;
}

Secret *secret_free(Secret *s) {
        if (!s)
                return NULL;
        if (s->data) {
                explicit_bzero(s->data, s->capacity);
                if (s->locked)
                        (void) munlock(s->data, s->capacity);
                (void) munmap(s->data, s->capacity);
        }
        free(s);
        return NULL;
}

void secret_freep(Secret **s) {
        *s = secret_free(*s);
}

int secret_harden_process(void) {
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        return 0;
}
