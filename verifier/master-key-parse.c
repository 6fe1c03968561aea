/* SPDX-License-Identifier: Apache-2.0 */
/* The file forms of the key store's master key (verifier/master-key.h). Pure. */
#include "common/codec.h"
#include "common/diag.h"
#include "common/macro.h"
#include "common/secret.h"
#include "verifier/master-key.h"

int master_key_parse(const uint8_t *buf, size_t size, const char *name, Secret **ret, Diag *d) {
        _cleanup_(secret_freep) Secret *k = NULL;
        const char *what = name ?: "master key";
        int r;

        if (!ret || (!buf && size > 0))
                return diag_set(d, -EINVAL, "%s: missing argument", what);
        if (size != MASTER_KEY_SIZE && size != 2 * MASTER_KEY_SIZE &&
            !(size == 2 * MASTER_KEY_SIZE + 1 && buf[size - 1] == '\n'))
                return diag_set(d, -EBADMSG,
                                "%s: a master key is %u bytes, or %u hex digits and an optional "
                                "newline, not %zu bytes",
                                what, MASTER_KEY_SIZE, 2 * MASTER_KEY_SIZE, size);

        r = secret_new(MASTER_KEY_SIZE, &k);
        if (r < 0)
                return r;
        if (size == MASTER_KEY_SIZE)
                memcpy(k->data, buf, MASTER_KEY_SIZE);
        else
                for (size_t i = 0; i < MASTER_KEY_SIZE; i++) {
                        int hi = hex_digit_value((char) buf[2 * i]),
                            lo = hex_digit_value((char) buf[2 * i + 1]);

                        /* Name the position, never the byte: it is part of the key. */
                        if (hi < 0 || lo < 0)
                                return diag_set(d, -EBADMSG,
                                                "%s: %zu bytes but not %u hex digits (a "
                                                "non-hex character at offset %zu)",
                                                what, size, 2 * MASTER_KEY_SIZE,
                                                hi < 0 ? 2 * i : 2 * i + 1);
                        k->data[i] = (uint8_t) (hi << 4 | lo);
                }
        *ret = TAKE_PTR(k);
        return 0;
}
