/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "snp/snp-report.h"

struct Diag;

/*
 * Pure helpers of the AMD KDS client (verifier/kds.h): what names one VCEK, where it lives in the
 * on-disk cache, and whether bytes read from the cache or from KDS are what they claim to be.
 *
 * Cache layout, relative to the cache directory:
 *
 *   vcek/<Product>/<hwid-hex>/<tcb-hex>.der   one VCEK, DER, as KDS serves it
 *   crl/<Product>.der                         the ARK's CRL for the product line, DER
 *
 * <Product> is Milan, Genoa or Turin; <hwid-hex> the lowercase hex of the chip's hwID as KDS
 * keys it (all 64 bytes of CHIP_ID; Turin: its first 8); <tcb-hex> the REPORTED_TCB as 16
 * lowercase hex digits of the little-endian u64 (0x1234 -> 0000000000001234).
 */

/* One VCEK at KDS: product line, hwID, and the TCB it was derived for. */
typedef struct KdsKey {
        SnpProduct product;
        uint8_t hwid[64];
        size_t hwid_size;  /* 64; Turin 8 */
        uint64_t tcb;      /* REPORTED_TCB (0x180), raw */
} KdsKey;

/*
 * The key of the VCEK that signed (or should have signed) r. -EINVAL (with a Diag) when the
 * product line is unknown, -ENOKEY when no VCEK from KDS can be the signer: the report is signed
 * by a VLEK (those come from the host, not from KDS's VCEK endpoint) or masks its CHIP_ID. Pure.
 */
int kds_key_from_report(const SnpReport *r, KdsKey *ret, struct Diag *d);

/* The cache file of k relative to the cache directory ("vcek/Milan/<hex>/<hex>.der"), a new
 * string. -EINVAL for an unknown product, -ENOMEM. Pure. */
int kds_key_cache_path(const KdsKey *k, char **ret);

/* "crl/<Product>.der" and KDS's "/vcek/v1/<Product>/crl", new strings. -EINVAL for an unknown
 * product, -ENOMEM. Pure. */
int kds_crl_cache_path(SnpProduct p, char **ret);
int kds_crl_url_path(SnpProduct p, char **ret);

/*
 * Checks that der is exactly one DER certificate and is the VCEK for k: subject SEV-VCEK, hwID
 * equal to k's, and the SPL extensions (blSPL, teeSPL, snpSPL, ucodeSPL; Turin also fmcSPL)
 * equal to k's TCB. This is identity only: the chain, validity and revocation are the
 * caller's (snp_endorsement_verify). -EBADMSG for bytes that are not a certificate or a malformed
 * or missing extension, -EXDEV for another chip's or another TCB's VCEK; Diag says which. Pure.
 */
int kds_vcek_check(const uint8_t *der, size_t size, const KdsKey *k, struct Diag *d);

/*
 * Checks that der is exactly one DER X.509 CRL issued by ARK-<Product> with a nextUpdate, and
 * says whether it is current at now: 0 current, 1 expired (nextUpdate before now). Its signature
 * is the caller's to check (snp_endorsement_verify). -EBADMSG malformed or without nextUpdate,
 * -EXDEV another issuer. *ret_next_update (may be NULL) is set on 0 and 1. Pure.
 */
int kds_crl_check(const uint8_t *der, size_t size, SnpProduct p, time_t now,
                  time_t *ret_next_update, struct Diag *d);
