/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A non-owning, bounded view of untrusted bytes (in the manner of BoringSSL's CBS and tss2-mu).
 * Every getter checks the remaining length first and advances only on success: on failure the
 * reader is exactly as it was, and the output is left untouched. Pure; never logs.
 */
typedef struct ByteReader {
        const uint8_t *p;
        size_t n;
} ByteReader;

static inline ByteReader br_init(const void *p, size_t n) {
        return (ByteReader) { .p = p, .n = n };
}

static inline size_t br_left(const ByteReader *r) {
        return r->n;
}

bool br_skip(ByteReader *r, size_t n);
bool br_u8(ByteReader *r, uint8_t *ret);
bool br_u16le(ByteReader *r, uint16_t *ret);
bool br_u32le(ByteReader *r, uint32_t *ret);
bool br_u64le(ByteReader *r, uint64_t *ret);
bool br_u16be(ByteReader *r, uint16_t *ret);
bool br_u32be(ByteReader *r, uint32_t *ret);
bool br_u64be(ByteReader *r, uint64_t *ret);
/* Copies n bytes into ret. */
bool br_copy(ByteReader *r, void *ret, size_t n);
/* Points ret at the next n bytes (no copy) and advances. */
bool br_bytes(ByteReader *r, const uint8_t **ret, size_t n);
/* Splits the next n bytes off into a sub-reader. */
bool br_sub(ByteReader *r, size_t n, ByteReader *ret);
/* Advances over n bytes only if all of them are zero. */
bool br_zero(ByteReader *r, size_t n);
