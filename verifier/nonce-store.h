/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Verifier-issued nonces: random, single use, short-lived. Pure: the caller passes the time and
 * the random bytes, and serialises access (the server holds a mutex). A full store forgets the
 * oldest nonce first.
 */

#define NONCE_STORE_SIZE 4096u
#define NONCE_BYTES 32u
#define NONCE_TEXT_SIZE (2 * NONCE_BYTES + 1)

typedef struct NonceStore {
        struct {
                char text[NONCE_TEXT_SIZE];
                uint64_t expires_usec;
        } slots[NONCE_STORE_SIZE];
        size_t next;
        uint64_t lifetime_usec;
} NonceStore;

void nonce_store_init(NonceStore *s, uint64_t lifetime_usec);
/* Records a new nonce made from random bytes; writes its hex text to ret. */
void nonce_store_issue(NonceStore *s, const uint8_t random[NONCE_BYTES], uint64_t now_usec,
                       char ret[NONCE_TEXT_SIZE]);
/* True (and the nonce is gone) if text is a live nonce; false if unknown, used or expired. */
bool nonce_store_consume(NonceStore *s, const char *text, uint64_t now_usec);
