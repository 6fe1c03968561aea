/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "snp/snp-report.h"

struct Diag;

/*
 * [io] AMD Key Distribution Service client with an on-disk cache (layout: verifier/kds-key.h).
 *
 * A VCEK the evidence does not carry is looked up in the cache first and, when missing or
 * unusable, fetched from the configured KDS URL and stored there. Every file read from the cache
 * and every body fetched is checked before use (kds_vcek_check, kds_crl_check): a corrupt or
 * mismatched file is ignored and refetched, never trusted, and a bad body is never cached. What
 * this returns is still only a candidate: the caller verifies the chain, validity and CRL as it
 * does for a certificate from the evidence.
 *
 * - At most one fetch per cache key is in flight: concurrent lookups of the same key wait for
 *   it and all get its result; lookups of different keys fetch in parallel.
 * - 404 is -ENOENT ("KDS has no VCEK for this chip/TCB"). 429 is -EBUSY, and KDS is then left
 *   alone for its Retry-After (delta seconds; default back-off when absent): lookups the cache
 *   cannot answer fail at once with -EBUSY, without a request.
 * - Offline (no URL): cache only; a missing file is -ENOENT naming its path.
 * - The CRL is used until its nextUpdate. After that it is refetched; if that fails the lookup
 *   fails (closed) with the reason, unless allow_stale_crl is set, in which case the expired
 *   CRL is returned marked stale (KDS_CRL_STALE) and the caller decides what it is worth.
 *
 * A Kds is thread-safe. It never logs; errors come with a Diag naming the URL or cache path.
 * The program calls http_global_init() before starting threads.
 */
typedef struct Kds Kds;

typedef struct KdsConfig {
        /* KDS base URL without a trailing path ("https://kdsintf.amd.com"); NULL = offline. */
        const char *url;
        /* Cache directory (created when first written); required. */
        const char *cache_dir;
        /* Deadline for one KDS request in milliseconds; 0 = 10 s. */
        unsigned timeout_ms;
        /* PEM CA bundle for an https:// URL; NULL = the system's. */
        const char *ca_file;
        /* Back-off after a 429 without a usable Retry-After, in seconds; 0 = 60. Retry-After
         * values are capped at one hour. */
        unsigned backoff_s;
        /* Return an expired CRL (KDS_CRL_STALE) when it cannot be refreshed, instead of failing. */
        bool allow_stale_crl;
        /* Product line of reports that do not tell (version 2 with a full CHIP_ID: Milan or
         * Genoa, which share a TCB layout); SNP_PRODUCT_UNKNOWN = Milan, then Genoa on a miss. */
        SnpProduct product;
} KdsConfig;

/* A new client. The strings are copied. -EINVAL (with a Diag) for a missing cache_dir or a URL
 * that is not http:// or https://, -ENOMEM. */
int kds_new(const KdsConfig *c, Kds **ret, struct Diag *d);
Kds *kds_free(Kds *k);
void kds_freep(Kds **k);

/*
 * The DER VCEK for report r (product line, CHIP_ID and REPORTED_TCB; VCEK-signed reports only).
 * A report that does not name its product line is looked up as KdsConfig.product says: the
 * cache under each candidate first, then KDS in order, the next candidate only after a 404.
 * *ret (free()) and *ret_size are set on success only. Errors (with a Diag):
 * -EINVAL/-ENOKEY as kds_key_from_report; -ENOENT KDS has none (404), or offline and not cached;
 * -EBUSY rate-limited (429) or backing off; -EBADMSG KDS answered with something that is not
 * this VCEK, or offline with a corrupt cache file; -EIO another HTTP status; the errnos of
 * http_request (-ETIMEDOUT, -ECONNREFUSED, -EFBIG, ...); -ENOMEM.
 */
int kds_get_vcek(Kds *k, const SnpReport *r, uint8_t **ret, size_t *ret_size, struct Diag *d);

/* A positive result of kds_get_crl. */
#define KDS_CRL_STALE 1

/*
 * The DER CRL of product line p (ARK-signed; lists revoked ASKs/ASVKs), current at now. Returns
 * 0, or KDS_CRL_STALE with an expired CRL (allow_stale_crl only). Errors as kds_get_vcek, and
 * -EKEYEXPIRED when only an expired CRL is at hand (offline, or KDS served an expired one).
 */
int kds_get_crl(Kds *k, SnpProduct p, time_t now, uint8_t **ret, size_t *ret_size,
                struct Diag *d);

/* kds_get_vcek for code that takes a VCEK lookup callback: userdata is the Kds. */
int kds_vcek_lookup(void *userdata, const SnpReport *r, uint8_t **ret, size_t *ret_size,
                    struct Diag *d);
