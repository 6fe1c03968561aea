/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/crypto.h>

#include "common/codec.h"
#include "common/macro.h"
#include "verifier/nonce-store.h"

void nonce_store_init(NonceStore *s, uint64_t lifetime_usec) {
        memset(s, 0, sizeof(*s));
        s->lifetime_usec = lifetime_usec;
}

void nonce_store_issue(NonceStore *s, const uint8_t random[NONCE_BYTES], uint64_t now_usec,
                       char ret[NONCE_TEXT_SIZE]) {
        size_t i = s->next;

        hex_encode_buf(random, NONCE_BYTES, s->slots[i].text);
        s->slots[i].expires_usec = now_usec + s->lifetime_usec;
        s->next = (i + 1) % NONCE_STORE_SIZE;
        memcpy(ret, s->slots[i].text, NONCE_TEXT_SIZE);
}

bool nonce_store_consume(NonceStore *s, const char *text, uint64_t now_usec) {
        if (!text || strlen(text) != 2 * NONCE_BYTES)
                return false;
        for (size_t i = 0; i < NONCE_STORE_SIZE; i++) {
                if (s->slots[i].text[0] == '\0' ||
                    CRYPTO_memcmp(s->slots[i].text, text, 2 * NONCE_BYTES) != 0)
                        continue;
                /* Single use: forget it whether it was live or not. */
                bool live = now_usec < s->slots[i].expires_usec;
                explicit_bzero(s->slots[i].text, sizeof(s->slots[i].text));
                s->slots[i].expires_usec = 0;
                return live;
        }
        return false;
}
