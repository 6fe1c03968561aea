/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/macro.h"

static const char hexdigits[] = "0123456789abcdef";

void hex_encode_buf(const void *p, size_t n, char *out) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hexdigits[b[i] >> 4];
                out[2 * i + 1] = hexdigits[b[i] & 0xf];
        }
        out[2 * n] = '\0';
}

int hex_encode(const void *p, size_t n, char **ret) {
        size_t sz;
        char *s;

        if (__builtin_mul_overflow(n, 2, &sz) || __builtin_add_overflow(sz, 1, &sz))
                return -E2BIG;
        s = malloc(sz);
        if (!s)
                return -ENOMEM;
        hex_encode_buf(p, n, s);
        *ret = s;
        return 0;
}

int hex_digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EBADMSG;
}

static int hex_decode_into(const char *s, size_t len, uint8_t *out) {
        for (size_t i = 0; i < len / 2; i++) {
                int hi = hex_digit_value(s[2 * i]), lo = hex_digit_value(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EBADMSG;
                out[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

int hex_decode(const char *s, size_t len, size_t max_size, uint8_t **ret, size_t *ret_size) {
        _cleanup_(freep) uint8_t *buf = NULL;
        int r;

        if (len % 2 != 0)
                return -EBADMSG;
        if (len / 2 > max_size)
                return -E2BIG;
        buf = malloc(len / 2 + 1);
        if (!buf)
                return -ENOMEM;
        r = hex_decode_into(s, len, buf);
        if (r < 0)
                return r;
        buf[len / 2] = 0;
        *ret_size = len / 2;
        *ret = TAKE_PTR(buf);
        return 0;
}

int hex_decode_exact(const char *s, void *out, size_t n) {
        if (!s || strlen(s) != 2 * n)
                return -EBADMSG;
        /* Check every digit first, so out is untouched on failure. */
        for (size_t i = 0; i < 2 * n; i++)
                if (hex_digit_value(s[i]) < 0)
                        return -EBADMSG;
        return hex_decode_into(s, 2 * n, out);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_encode(const void *p, size_t n, char **ret) {
        const uint8_t *b = p;
        size_t sz, o = 0;
        char *s;

        if (n > (SIZE_MAX - 4) / 4 * 3)
                return -E2BIG;
        sz = (n + 2) / 3 * 4 + 1;
        s = malloc(sz);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) b[i] << 16;
                size_t rem = n - i;

                if (rem > 1)
                        v |= (uint32_t) b[i + 1] << 8;
                if (rem > 2)
                        v |= b[i + 2];
                s[o++] = b64url[(v >> 18) & 63];
                s[o++] = b64url[(v >> 12) & 63];
                if (rem > 1)
                        s[o++] = b64url[(v >> 6) & 63];
                if (rem > 2)
                        s[o++] = b64url[v & 63];
        }
        s[o] = '\0';
        *ret = s;
        return 0;
}

/* Each character's 6-bit value plus one in either alphabet ('-'/'+' = 62, '_'/'/' = 63), 0 for
 * anything else: one table look-up per character. */
static const uint8_t b64_values[256] = {
        ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
        ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
        ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
        ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
        ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
        ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
        ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
        ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
        ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['+'] = 63,
        ['_'] = 64, ['/'] = 64,
};

int base64url_decode(const char *s, size_t len, size_t max_size, uint8_t **ret, size_t *ret_size) {
        const uint8_t *in = (const uint8_t *) s;
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t i = 0, o = 0, out_size, tail;

        /* Strip up to two '=' of padding, and only when the padded length is a multiple of 4. */
        if (len > 0 && s[len - 1] == '=') {
                if (len % 4 != 0)
                        return -EBADMSG;
                len--;
                if (len > 0 && s[len - 1] == '=')
                        len--;
        }
        if (len % 4 == 1)
                return -EBADMSG;
        out_size = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
        if (out_size > max_size)
                return -E2BIG;
        buf = malloc(out_size + 1);
        if (!buf)
                return -ENOMEM;
        /* Whole groups of four characters: three bytes each. */
        for (; i + 4 <= len; i += 4) {
                uint8_t a = b64_values[in[i]], b = b64_values[in[i + 1]],
                        c = b64_values[in[i + 2]], d = b64_values[in[i + 3]];
                uint32_t v;

                if (!a || !b || !c || !d)
                        return -EBADMSG;
                v = (uint32_t) (a - 1) << 18 | (uint32_t) (b - 1) << 12 | (uint32_t) (c - 1) << 6 |
                    (uint32_t) (d - 1);
                buf[o++] = (uint8_t) (v >> 16);
                buf[o++] = (uint8_t) (v >> 8);
                buf[o++] = (uint8_t) v;
        }
        /* Two or three characters left: one or two bytes, and the unused low bits must be zero
         * (canonical encoding). */
        tail = len - i;
        if (tail > 0) {
                uint8_t a = b64_values[in[i]], b = b64_values[in[i + 1]],
                        c = tail == 3 ? b64_values[in[i + 2]] : 1;
                uint32_t v;

                if (!a || !b || !c)
                        return -EBADMSG;
                v = (uint32_t) (a - 1) << 18 | (uint32_t) (b - 1) << 12 | (uint32_t) (c - 1) << 6;
                buf[o++] = (uint8_t) (v >> 16);
                if (tail == 3)
                        buf[o++] = (uint8_t) (v >> 8);
                if ((tail == 2 && (v & 0xffff)) || (tail == 3 && (v & 0xff)))
                        return -EBADMSG;
        }
        buf[o] = 0;
        *ret_size = o;
        *ret = TAKE_PTR(buf);
        return 0;
}
