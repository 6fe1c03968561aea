/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

struct Diag;
struct json_object;

/*
 * MAA's policy upload format (spec/maa.md §5.5): the body of PUT /policies/{type} is a compact
 * JWS whose payload is {"AttestationPolicy": base64url(policy text)}; POST /policies/{type}:reset
 * takes one whose payload is empty. Unsigned: header {"alg": "none"} and an empty signature.
 * Signed: RS256 (PS256, ES256, ES384 accepted too) with the signing certificate as the header's
 * "x5c"[0]; the signature is checked with that certificate's key. Pure.
 */

#define POLICY_UPLOAD_MAX (128u * 1024u)

typedef struct PolicyUpload {
        char *text;       /* the policy text (NUL-terminated), NULL for a reset */
        size_t size;
        X509 *signer;     /* the certificate that signed it, NULL when unsigned */
} PolicyUpload;

/*
 * Parses and checks an upload of exactly size bytes (one trailing newline tolerated). With
 * `signers` (the tenant's policy-signing certificates, isolated mode) the upload must be signed
 * by a certificate equal to one of them (-EPERM otherwise, also for an unsigned one); without,
 * unsigned and signed uploads are both taken. reset: the payload must be empty (or "{}"), else
 * it must carry a non-empty AttestationPolicy. The policy text is not compiled here.
 * -E2BIG over POLICY_UPLOAD_MAX, -EBADMSG malformed (Diag), -EKEYREJECTED bad signature, -EPERM.
 */
int policy_upload_parse(const char *body, size_t size, STACK_OF(X509) *signers, bool reset,
                        PolicyUpload *ret, struct Diag *d);
void policy_upload_done(PolicyUpload *u);

/* The unsigned policy JWS for text (as GET /policies returns a policy that was set unsigned or
 * is the default). *ret is a new string. -ENOMEM. */
int policy_upload_unsigned(const char *text, size_t size, char **ret);

/* x-ms-policy-signer: the signer's public key as a JWK with "x5c" [its certificate]. */
int policy_upload_signer_jwk(X509 *signer, struct json_object **ret);
