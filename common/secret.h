/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Secret bytes (keys, passphrases) in their own anonymous mapping: excluded from core dumps
 * (MADV_DONTDUMP), locked in memory where the limit allows (mlock, best effort), wiped with
 * explicit_bzero before unmapping. Never put a Secret's bytes in a log line, argv or the
 * environment. Pure (no I/O beyond memory management).
 */
typedef struct Secret {
        uint8_t *data;
        size_t size;     /* bytes in use */
        size_t capacity; /* mapped size, a multiple of the page size */
        int locked;
} Secret;

/* Allocates a zeroed Secret of size bytes. -ENOMEM on failure. */
int secret_new(size_t size, Secret **ret);
/* Wipes, unlocks and unmaps. Accepts NULL; returns NULL. */
Secret *secret_free(Secret *s);
void secret_freep(Secret **s);

/* Makes the calling process non-dumpable (no core, no ptrace by other users). */
int secret_harden_process(void);
