/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: released keys as the agent receives them (keyrelease/key-wrap.c). Every input is
 * tried three ways:
 *  1. as key_hsm text (key_hsm_parse): what parses must have a kid, a known enc and a non-empty
 *     ciphertext under the cap, must build back (key_hsm_build) into text that parses to the
 *     same, and its ciphertext goes through key_unwrap with the fixed RSA-2048 key below;
 *  2. as a blob: key_unwrap_split at 256 bytes (enc from the first byte), key_unwrap_aes of the
 *     KWP part under the fixed AES key, and key_unwrap with the fixed RSA key;
 *  3. as a KWP part: key_unwrap_aes under the fixed AES key.
 * An unwrap either fails with -EBADMSG/-EKEYREJECTED and no output, or gives 1 to n - 8 bytes.
 * The seeds are wrapped to these keys (tests/fuzz/corpus/key-wrap/), so success is reachable.
 */
#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/diag.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/key-wrap.h"
#include "tests/fuzz/fuzz.h"

/* A test key made for this target; key_unwrap with it never reveals anything real. */
static const char fuzz_kek_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDEnpJdu9CJgNkJ\n"
        "uIf5otJdWYgQOHbpnu7YHRQVCni3t9k7ndJCHSmgNCj4Y9ZF3YCBi2Jw8Lcb0Xzw\n"
        "bYB+35IzOIb3z5fOJ8u8+AhaM6WQ62bPBZbm5+gzAlu9u46IU5jEQjZhh+jEHGIx\n"
        "aEe2bXh7WnG6/UBzULIPMR/S4xybfpHpiy62qsW/NkKAf2bVSIUNpLz0wbyt72B2\n"
        "VVkJxBtwcuULVGQr+JkuGFDS9Zu9wZ1bV9Cfv4kFEblRlJTd5AS19psU9iR92nR9\n"
        "A6oM1nAIGOQroHiSFq2yvzuHKaF0mntVDGA6ywdkgSM/72084BNJgtCX8NjMbls5\n"
        "2QwiHKAZAgMBAAECggEAAJOABb7JoI6TbnlJhHU/1k1fme4ChyG/wRG/5IM8gci6\n"
        "DkGJd9pToZsHGSaFSZX6NMVnQMpstcL+wVb9IrPhP4UDbXwE47dsI1af+snaWZU8\n"
        "hYurc2vF3YT91wMiqJg8SGsDriR4Y6xvt8ja9CfzgkkpMA93mWQnwKL0sQhqffq+\n"
        "XIBkztFBwhV5Zms/DUM61pDzKsE2CeAEJr2GuNUUl0SKZREds2KlmwuPVTj8rAUb\n"
        "D3MxYh/hw3pDeOuRQbO6btiB+s7utjh+O+t/s+4xjBSWE33wiazuYiFF94apYR2U\n"
        "0+XkJtaukgqTWNNq4VrGl7KLewZ14g8+m4LDxgqFzQKBgQDpRy8faOkkWT5XnPd4\n"
        "6beKoFTDTzy/skQhxq3tBiKTQRR7Ni43tVg6py67ueLLxtrxqNa4R+baE3iNFI8D\n"
        "z2W9JuryqF4DP99R5wVaplBZBEzU2cgHm+u2YJHaKIkvCUPBwxRv3FJz8P6cwQiC\n"
        "KAUF5eJ7/UxH0QbM8XBQgDouvwKBgQDXxUzU2fCtGA+jRKe7EaEO7yK0AO0mUnV5\n"
        "jZQ1lTDBkGSF48lkgHo0i0JHl/VuMBnUR4FnnY0uBD7yG0tYg9xC3Dg1BBUWX8D4\n"
        "TCORkLStFMBg8XSq5w36H72sWaioj3glqxoSUPKZssvTL837r+XDyyHlYXJMEN5D\n"
        "sv1HBmG/JwKBgQDlAbW3/xTJUzcJaZXkRISjeWxc5B++DLIn+lRqGJi+uKfzoSfU\n"
        "FpnL0q3lKsIDzG7JyDcqZ6OwOGcjEKipU+QLwfXqS/Em/YAtdj7iU90S1k7asgVV\n"
        "uvK2cq0cXqj13QGAaRNaEQ98tHwvxKymocT0mk4x7GMDKaekb+0Tih4UHwKBgFfb\n"
        "OV6N4ybH3k4vfVB5bCgFjQ7YNbfd6YF1+Xwb5D9ciOHPj0hB3ACbF4DJSiD0qv+5\n"
        "oeJLz5mGFw9Dt9kxz7TVsHk90UxL7unrLqxtzHOROIgAqO2RqSpIVFXiJ/+Cc3x6\n"
        "/+GnXjDhEYdLNscdpyOjCYk5tW1tjOLp9aE+4vwPAoGBAIvdSANLCyTqtynKqAYl\n"
        "pSaSgKHg4WH4rpLqtGaOO31S1J4fNa8cHclG6De+LIp7VGwPD9zqLZfXlf7NYcRA\n"
        "09chZhcl67+PYxjOcvzahBTsGxIN7hchbSVvUEpXldGQvog/TKJhdZnqP14yXT5w\n"
        "LYUfUw4MSYIYqdaKmLmzstrO\n"
        "-----END PRIVATE KEY-----\n";

/* The AES key the KWP seeds are wrapped under: bytes 0x00 to 0x1f. */
static uint8_t fuzz_aes[KEY_WRAP_AES_KEY_SIZE];
static EVP_PKEY *kek;

static void init(void) {
        BIO *b;

        if (kek)
                return;
        for (size_t i = 0; i < sizeof(fuzz_aes); i++)
                fuzz_aes[i] = (uint8_t) i;
        b = BIO_new_mem_buf(fuzz_kek_pem, (int) sizeof(fuzz_kek_pem) - 1);
        kek = b ? PEM_read_bio_PrivateKey(b, NULL, pem_no_password, NULL) : NULL;
        BIO_free(b);
        if (!kek || EVP_PKEY_get_bits(kek) != 2048)
                abort();
}

/* The contract of every unwrap: a refusal without output, or a key that fits in n - 8 bytes. */
static void check_unwrap(int r, Secret *out, size_t kwp_size) {
        if (r < 0) {
                if (out || (r != -EBADMSG && r != -EKEYREJECTED))
                        abort();
                return;
        }
        if (!out || out->size == 0 || out->size + 8 > kwp_size)
                abort();
        fuzz_consume(out->data[out->size - 1]);
}

static void try_key_hsm(const uint8_t *data, size_t size) {
        _cleanup_(key_hsm_freep) KeyHsm *k = NULL, *again = NULL;
        _cleanup_(secret_freep) Secret *out = NULL;
        _cleanup_(freep) char *text = NULL;
        Diag d = {};
        int r;

        r = key_hsm_parse((const char *) data, size, &k, &d);
        fuzz_consume(strlen(d.text));
        if (r < 0) {
                if (k || (r != -ENOMEM && (!d.text[0] || strchr(d.text, '\n'))))
                        abort();
                return;
        }
        if (!k || !k->kid || !k->kid[0] || strlen(k->kid) > KEY_HSM_KID_MAX ||
            !key_wrap_alg_to_string(k->alg) || !k->ciphertext || k->ciphertext_size == 0 ||
            k->ciphertext_size > KEY_WRAP_BLOB_MAX)
                abort();
        if (key_hsm_build(k->alg, k->kid, k->ciphertext, k->ciphertext_size, &text) < 0 ||
            key_hsm_parse(text, strlen(text), &again, &d) < 0 || again->alg != k->alg ||
            !streq(again->kid, k->kid) || again->ciphertext_size != k->ciphertext_size ||
            memcmp(again->ciphertext, k->ciphertext, k->ciphertext_size) != 0)
                abort();
        r = key_unwrap(k->alg, kek, k->ciphertext, k->ciphertext_size, &out, &d);
        check_unwrap(r, out, k->ciphertext_size > 256 ? k->ciphertext_size - 256 : 0);
}

static void try_blob(const uint8_t *data, size_t size) {
        _cleanup_(secret_freep) Secret *out = NULL, *out2 = NULL;
        const uint8_t *rsa_part = NULL, *kwp = NULL;
        KeyWrapAlg alg = size > 0 ? (KeyWrapAlg) (data[0] % _KEY_WRAP_ALG_MAX) : 0;
        size_t kwp_size = 0;
        Diag d = {};
        int r;

        r = key_unwrap_split(alg, 256, data, size, &rsa_part, &kwp, &kwp_size, &d);
        if (r < 0) {
                if (r != -EBADMSG || rsa_part || kwp)
                        abort();
        } else {
                if (rsa_part != data || kwp != data + 256 || kwp_size != size - 256 ||
                    kwp_size % 8 != 0 || kwp_size < 16)
                        abort();
                r = key_unwrap_aes(fuzz_aes, kwp, kwp_size, &out, &d);
                check_unwrap(r, out, kwp_size);
        }
        r = key_unwrap(alg, kek, data, size, &out2, &d);
        check_unwrap(r, out2, size > 256 ? size - 256 : 0);
}

static void try_kwp(const uint8_t *data, size_t size) {
        _cleanup_(secret_freep) Secret *out = NULL;
        Diag d = {};
        int r;

        r = key_unwrap_aes(fuzz_aes, data, size, &out, &d);
        check_unwrap(r, out, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t empty[1];

        init();
        if (!data)
                data = empty;
        try_key_hsm(data, size);
        try_blob(data, size);
        try_kwp(data, size);
        ERR_clear_error();
        return 0;
}
