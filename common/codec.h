/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Hex and base64url codecs for untrusted text. Each decoder takes a cap on the decoded size and
 * fails with -E2BIG before allocating anything larger; malformed input gives -EBADMSG. Outputs
 * are allocated (free()) and NUL-terminated for convenience; ret_* untouched on failure. Pure.
 */

/* Lowercase hex of n bytes into a new string. */
int hex_encode(const void *p, size_t n, char **ret);
/* Lowercase hex into a caller buffer of at least 2n+1 bytes; never fails. */
void hex_encode_buf(const void *p, size_t n, char *out);
/* Decodes len characters of hex (either case). */
int hex_decode(const char *s, size_t len, size_t max_size, uint8_t **ret, size_t *ret_size);
/* The value of one hex digit (either case), or -EBADMSG. */
int hex_digit_value(char c);
/* Decodes exactly n bytes of hex into out. */
int hex_decode_exact(const char *s, void *out, size_t n);

/* base64url without padding (RFC 7515 §2). */
int base64url_encode(const void *p, size_t n, char **ret);
/* Accepts base64url or standard base64, with or without '=' padding, no whitespace. */
int base64url_decode(const char *s, size_t len, size_t max_size, uint8_t **ret, size_t *ret_size);
