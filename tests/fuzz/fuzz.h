/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * The libFuzzer entry point every tests/fuzz/fuzz-*.c defines. It is called with untrusted bytes
 * in a buffer of exactly size bytes and must return 0; a crash, a sanitizer report or a leak is a
 * finding. The same object is linked either with libFuzzer (-fsanitize=fuzzer, the real fuzzer)
 * or with fuzz-main.c (the replay driver run by `make check` over the committed corpora).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps a computed value alive so the compiler cannot drop the reads that produced it. */
static inline void fuzz_consume(uint64_t v) {
        __asm__ volatile("" : : "r"(v) : "memory");
}
