/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

#include "keyrelease/key-wrap.h"

struct Diag;

/*
 * The agent's reading of a key release answer (spec/skr.md §2.1): {"value": compact JWS} whose
 * payload carries response.key.key.key_hsm. Pure; the body is untrusted.
 *
 * The JWS signature is not checked here. Key Vault signs with a certificate chain into
 * Microsoft's PKI whose pinning is not documented, and the assurance does not rest on it: the
 * key is wrapped to this VM's TPM key (only that TPM, with the PCRs as attested, can unwrap it),
 * AES-KWP's integrity check refuses any change to the wrapped part, and the LUKS keyslot's digest
 * refuses any key that is not the volume's. A forged answer can only fail to unlock.
 */

/* The answer's size cap, before parsing: a JWS of at most JWS_MAX_SIZE and the envelope. */
#define RELEASE_RESPONSE_MAX (256u * 1024u + 1024u)

/*
 * Parses an answer of exactly size bytes: a JSON object with a string "value" that is a compact
 * JWS whose payload is a JSON object with response.key.key.key_hsm (a string, key_hsm_parse()).
 * *ret the KeyHsm (key_hsm_free()); *ret_kid (free(); may be NULL) the released key's
 * response.key.key.kid when it is a string. -E2BIG over RELEASE_RESPONSE_MAX, -EBADMSG with a
 * Diag naming the member otherwise, -EPROTONOSUPPORT from key_hsm_parse(). Pure.
 */
int release_response_parse(const char *body, size_t size, KeyHsm **ret, char **ret_kid,
                           struct Diag *d);

/*
 * Key Vault's error envelope {"error": {"code", "message", "innererror"?: {"code"}}}: the code
 * and message (at most size - 1 bytes each, printable ASCII kept, the rest replaced by '?')
 * into code and message. Returns 0 when the body is such an envelope, -EBADMSG otherwise (then
 * both are ""). Pure.
 */
int release_error_parse(const char *body, size_t size, char *code, size_t code_size,
                        char *message, size_t message_size);
