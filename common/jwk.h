/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/evp.h>

struct Diag;
struct json_object;

/*
 * JSON Web Keys (RFC 7517/7518) for public keys: RSA ("n", "e") and EC P-256/P-384/P-521
 * ("crv", "x", "y"). Pure.
 */

/* A public EVP_PKEY from a JWK object; -EBADMSG (with a Diag) for anything malformed,
 * -EPROTONOSUPPORT for an unsupported kty/crv. RSA moduli over 16384 bits are refused. */
int jwk_to_pkey(struct json_object *jwk, EVP_PKEY **ret, struct Diag *d);
/* A JWK object for a public key, with "kid" when kid is not NULL. -ENOMEM, -EPROTONOSUPPORT. */
int jwk_from_pkey(EVP_PKEY *key, const char *kid, struct json_object **ret);
/* True when a and b are the same public key. */
int pkey_equal(EVP_PKEY *a, EVP_PKEY *b);
