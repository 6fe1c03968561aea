/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "common/byte-reader.h"

bool br_bytes(ByteReader *r, const uint8_t **ret, size_t n) {
        if (n > r->n)
                return false;
        if (ret)
                *ret = r->p;
        r->p += n;
        r->n -= n;
        return true;
}

bool br_skip(ByteReader *r, size_t n) {
        return br_bytes(r, NULL, n);
}

bool br_copy(ByteReader *r, void *ret, size_t n) {
        const uint8_t *p;

        if (!br_bytes(r, &p, n))
                return false;
        if (n > 0)
                memcpy(ret, p, n);
        return true;
}

bool br_sub(ByteReader *r, size_t n, ByteReader *ret) {
        const uint8_t *p;

        if (!br_bytes(r, &p, n))
                return false;
        *ret = br_init(p, n);
        return true;
}

bool br_zero(ByteReader *r, size_t n) {
        if (n > r->n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (r->p[i] != 0)
                        return false;
        return br_skip(r, n);
}

static bool br_uint(ByteReader *r, size_t n, bool le, uint64_t *ret) {
        const uint8_t *p;
        uint64_t v = 0;

        if (!br_bytes(r, &p, n))
                return false;
        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) p[le ? i : n - 1 - i] << (8 * i);
        *ret = v;
        return true;
}

bool br_u8(ByteReader *r, uint8_t *ret) {
        uint64_t v;

        if (!br_uint(r, 1, true, &v))
                return false;
        *ret = (uint8_t) v;
        return true;
}

#define DEFINE_BR_UINT(name, type, size, le)                    \
        bool name(ByteReader *r, type *ret) {                   \
                uint64_t v;                                     \
                if (!br_uint(r, size, le, &v))                  \
                        return false;                           \
                *ret = (type) v;                                \
                return true;                                    \
        }

DEFINE_BR_UINT(br_u16le, uint16_t, 2, true)
DEFINE_BR_UINT(br_u32le, uint32_t, 4, true)
DEFINE_BR_UINT(br_u64le, uint64_t, 8, true)
DEFINE_BR_UINT(br_u16be, uint16_t, 2, false)
DEFINE_BR_UINT(br_u32be, uint32_t, 4, false)
DEFINE_BR_UINT(br_u64be, uint64_t, 8, false)
