/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct Diag;
struct Jws;
struct JwsKeySet;
struct JwsVerifyOptions;

/*
 * [io] The signing keys of a token issuer, found as a relying party finds MAA's (spec/maa.md §4):
 * ISSUER/.well-known/openid-configuration must name ISSUER as its "issuer" and a "jwks_uri" on
 * the issuer's own origin, whose JWKS gives the keys. Used by `cvm-verifier check token --issuer`
 * and by the key release service for the external authorities it trusts.
 */

/* The OpenID metadata document is small (MAA's is about 1 KiB); JWKS_MAX_SIZE caps the keys. */
#define ISSUER_OIDC_MAX_SIZE (64u * 1024u)
/* Deadline of each of the two requests. */
#define ISSUER_FETCH_TIMEOUT_MS 10000u

/* The length of url without one trailing '/'. Pure. */
size_t url_trimmed_len(const char *url);
/* Whether a and b are the same URL but for one trailing '/' on either. Pure. */
bool url_same(const char *a, const char *b);
/* Whether a and b have the same scheme and authority (case-insensitively). Pure. */
bool url_same_origin(const char *a, const char *b);
/* Whether keys may be fetched from url: https://, or http:// to 127.0.0.1, localhost or [::1]
 * only (tests, a verifier on the same host): the keys that decide what a token is worth must not
 * travel where anyone can change them. Pure. */
bool url_acceptable(const char *url);

/*
 * Fetches issuer's keys: *ret a new key set (jws_key_set_free), *ret_jwks_uri (free(), may be
 * NULL) the JWKS URL it came from. ca_file: the PEM roots to verify the issuer's TLS
 * certificate with; NULL for the system's. Network failures and statuses other than 200: -EIO & co. with
 * a Diag naming the URL; -EBADMSG malformed metadata or JWKS, -E2BIG a JWKS over JWKS_MAX_SIZE,
 * -EXDEV metadata of another issuer or a jwks_uri on another origin. Never logs.
 */
int issuer_keys_fetch(const char *issuer, const char *ca_file, struct JwsKeySet **ret,
                      char **ret_jwks_uri, struct Diag *d);

/*
 * The keys of a fixed list of trusted issuers, fetched on first use and kept. A token whose kid
 * the kept set lacks makes one new fetch, at most once per refresh_sec per issuer (a token with
 * a made-up kid cannot turn this service into a request amplifier); a failed fetch keeps the
 * keys there were. Thread-safe; each issuer has its own lock, held while fetching.
 */
typedef struct IssuerKeyCache IssuerKeyCache;

/* A cache for n issuers (copied; each must be url_acceptable(), else -EINVAL with a Diag), whose
 * TLS certificates are verified with ca_file (copied; NULL: the system's roots). */
int issuer_key_cache_new(char *const *issuers, size_t n, unsigned refresh_sec,
                         const char *ca_file, IssuerKeyCache **ret, struct Diag *d);
IssuerKeyCache *issuer_key_cache_free(IssuerKeyCache *c);
DEFINE_CLEANUP_FUNC(IssuerKeyCache *, issuer_key_cache_free);
/* Whether iss is one of the cache's issuers (url_same). NULL-safe. */
bool issuer_key_cache_trusts(const IssuerKeyCache *c, const char *iss);
/*
 * Verifies j (jws_verify with o, whose issuer must be set and trusted by the cache: -EXDEV
 * otherwise) with the issuer's keys, fetching them as described above. now_sec is the clock for
 * the refresh interval. Errors as jws_verify, or the fetch's when no keys could be had.
 */
int issuer_key_cache_verify(IssuerKeyCache *c, const struct Jws *j,
                            const struct JwsVerifyOptions *o, uint64_t now_sec, struct Diag *d);
