/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
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

/*
 * Each character's 6-bit value in either alphabet ('-'/'+' = 62, '_'/'/' = 63), shifted into place
 * for each of the four positions of a group: one look-up per character and an OR make the group's
 * 24 bits. Anything else is bit 24, which no valid group has: the decoder ORs every group into one
 * word and checks that bit once, at the end, instead of branching on every character.
 */
#define B64_VALUE(c)                                 \
        ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'      \
         : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 \
         : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 \
         : (c) == '-' || (c) == '+' ? 62             \
         : (c) == '_' || (c) == '/' ? 63             \
                                    : -1)
#define B64_INVALID   UINT32_C(0x01000000)
#define B64_E(s, c)   (B64_VALUE(c) < 0 ? B64_INVALID : (uint32_t) B64_VALUE(c) << (s)),
#define B64_R4(s, c)  B64_E(s, c) B64_E(s, c + 1) B64_E(s, c + 2) B64_E(s, c + 3)
#define B64_R16(s, c) B64_R4(s, c) B64_R4(s, c + 4) B64_R4(s, c + 8) B64_R4(s, c + 12)
#define B64_R64(s, c) B64_R16(s, c) B64_R16(s, c + 16) B64_R16(s, c + 32) B64_R16(s, c + 48)
#define B64_TABLE(s) \
        { B64_R64(s, 0) B64_R64(s, 64) B64_R64(s, 128) B64_R64(s, 192) }
static const uint32_t b64_0[256] = B64_TABLE(18), b64_1[256] = B64_TABLE(12),
                      b64_2[256] = B64_TABLE(6), b64_3[256] = B64_TABLE(0);

/* An unaligned 8-byte store (a plain store on x86; memcpy would be a checked call under
 * _FORTIFY_SOURCE). */
struct b64_unaligned_u64 {
        uint64_t v;
} __attribute__((packed, may_alias));

static inline uint32_t b64_group(const uint8_t *in) {
        return b64_0[in[0]] | b64_1[in[1]] | b64_2[in[2]] | b64_3[in[3]];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define B64_AVX2 1

/*
 * 32 characters at a time with AVX2 (when the CPU has it; the scalar loop below does the rest,
 * and everything on other CPUs): each byte classified by range ('A'-'Z', 'a'-'z', '0'-'9', the
 * two 62s and the two 63s; bytes of 0x80 and above are negative and in no range) and mapped to
 * its value, then the 6-bit values merged pairwise into 24-bit groups (maddubs, madd) and the
 * groups' bytes put in order (pshufb). Bytes in no range are accumulated in *bad. Consumes a
 * multiple of 32 characters, leaving at least 32 untouched when more remain (so the caller's
 * tail handling stays the same), writes 3/4 of that plus 4 bytes of slack; returns how many
 * characters it consumed.
 */
__attribute__((target("avx2"))) static size_t b64_decode_avx2(const uint8_t *in, size_t len,
                                                              uint8_t *out, bool *bad) {
        const __m256i shuffle =
                _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6,
                                 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
        __m256i invalid = _mm256_setzero_si256();
        size_t i = 0, o = 0;

        for (; i + 64 <= len; i += 32, o += 24) {
                __m256i c = _mm256_loadu_si256((const __m256i *) (in + i));
                __m256i upper = _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8('A' - 1)),
                                                 _mm256_cmpgt_epi8(_mm256_set1_epi8('Z' + 1), c));
                __m256i lower = _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8('a' - 1)),
                                                 _mm256_cmpgt_epi8(_mm256_set1_epi8('z' + 1), c));
                __m256i digit = _mm256_and_si256(_mm256_cmpgt_epi8(c, _mm256_set1_epi8('0' - 1)),
                                                 _mm256_cmpgt_epi8(_mm256_set1_epi8('9' + 1), c));
                __m256i v62 = _mm256_or_si256(_mm256_cmpeq_epi8(c, _mm256_set1_epi8('-')),
                                              _mm256_cmpeq_epi8(c, _mm256_set1_epi8('+')));
                __m256i v63 = _mm256_or_si256(_mm256_cmpeq_epi8(c, _mm256_set1_epi8('_')),
                                              _mm256_cmpeq_epi8(c, _mm256_set1_epi8('/')));
                __m256i valid = _mm256_or_si256(_mm256_or_si256(upper, lower),
                                                _mm256_or_si256(digit, _mm256_or_si256(v62, v63)));
                __m256i v = _mm256_or_si256(
                        _mm256_or_si256(
                                _mm256_and_si256(upper, _mm256_sub_epi8(c, _mm256_set1_epi8('A'))),
                                _mm256_and_si256(lower,
                                                 _mm256_sub_epi8(c, _mm256_set1_epi8('a' - 26)))),
                        _mm256_or_si256(
                                _mm256_and_si256(digit,
                                                 _mm256_add_epi8(c, _mm256_set1_epi8(52 - '0'))),
                                _mm256_or_si256(_mm256_and_si256(v62, _mm256_set1_epi8(62)),
                                                _mm256_and_si256(v63, _mm256_set1_epi8(63)))));
                /* 16-bit lanes a*64 + b, then 32-bit lanes ab*4096 + cd: one group each. */
                __m256i pairs = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
                __m256i groups = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00011000));
                __m256i bytes = _mm256_shuffle_epi8(groups, shuffle);

                invalid =
                        _mm256_or_si256(invalid, _mm256_andnot_si256(valid, _mm256_set1_epi8(-1)));
                _mm_storeu_si128((__m128i *) (out + o), _mm256_castsi256_si128(bytes));
                _mm_storeu_si128((__m128i *) (out + o + 12), _mm256_extracti128_si256(bytes, 1));
        }
        *bad = _mm256_movemask_epi8(invalid) != 0;
        return i;
}

#endif

int base64url_decode(const char *s, size_t len, size_t max_size, uint8_t **ret, size_t *ret_size) {
        const uint8_t *in = (const uint8_t *) s;
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t i = 0, o = 0, out_size, tail;
        uint32_t bad = 0;

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
        /* Slack: eight characters are stored as one 8-byte word holding six (two more bytes),
         * thirty-two as two 16-byte stores holding twenty-four (four more). */
        buf = malloc(out_size + 5);
        if (!buf)
                return -ENOMEM;
#ifdef B64_AVX2
        if (len >= 64 && __builtin_cpu_supports("avx2")) {
                bool avx_bad;

                i = b64_decode_avx2(in, len, buf, &avx_bad);
                o = i / 4 * 3;
                if (avx_bad)
                        bad |= B64_INVALID;
        }
#endif
        /* Whole groups of four characters, three bytes each, two groups at a time. */
        for (; i + 8 <= len; i += 8) {
                uint32_t v = b64_group(in + i), w = b64_group(in + i + 4);
                uint64_t x = htobe64((uint64_t) v << 40 | (uint64_t) w << 16);

                bad |= v | w;
                ((struct b64_unaligned_u64 *) (buf + o))->v = x;
                o += 6;
        }
        if (i + 4 <= len) {
                uint32_t v = b64_group(in + i);

                bad |= v;
                buf[o++] = (uint8_t) (v >> 16);
                buf[o++] = (uint8_t) (v >> 8);
                buf[o++] = (uint8_t) v;
                i += 4;
        }
        /* Two or three characters left: one or two bytes, and the unused low bits must be zero
         * (canonical encoding). */
        tail = len - i;
        if (tail > 0) {
                uint32_t v = b64_0[in[i]] | b64_1[in[i + 1]] | (tail == 3 ? b64_2[in[i + 2]] : 0);

                bad |= v;
                buf[o++] = (uint8_t) (v >> 16);
                if (tail == 3)
                        buf[o++] = (uint8_t) (v >> 8);
                if ((tail == 2 && (v & 0xffff)) || (tail == 3 && (v & 0xff)))
                        return -EBADMSG;
        }
        if (bad & B64_INVALID)
                return -EBADMSG;
        buf[o] = 0;
        *ret_size = o;
        *ret = TAKE_PTR(buf);
        return 0;
}
