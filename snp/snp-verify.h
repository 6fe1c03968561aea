/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "snp/snp-report.h"

struct Diag;

/*
 * Trust anchors for SEV-SNP endorsement chains: AMD's ARKs for Milan, Genoa and Turin, with their
 * ASKs and ASVKs as known intermediates (compiled in, see snp/amd-roots.c), and any extra roots
 * the caller adds. Nothing else is trusted: a simulator's root is trusted only when a caller adds
 * it explicitly. Immutable once built; safe to share between threads for verification.
 */
typedef struct SnpTrust SnpTrust;

/* A new trust store, with the AMD roots when builtin is true. -ENOMEM, or -EBADMSG if a compiled-in
 * certificate does not parse (a build defect). Pure. */
int snp_trust_new(bool builtin, SnpTrust **ret);
SnpTrust *snp_trust_free(SnpTrust *t);
void snp_trust_freep(SnpTrust **t);

/*
 * Adds certificates from a PEM bundle or DER: self-signed ones become roots (their signature is
 * checked), the others intermediates (checked against a root when a chain is built). -EBADMSG
 * for unparsable input, -EKEYREJECTED for a self-signed certificate whose signature fails.
 */
int snp_trust_add(SnpTrust *t, const uint8_t *buf, size_t size, struct Diag *d);
/* Number of roots (for tests). */
size_t snp_trust_n_roots(const SnpTrust *t);
/* The compiled-in certificates, PEM, for comparison in tests: index 0..n-1. NULL past the end. */
const char *snp_builtin_cert_pem(size_t i);

/*
 * A verified endorsement key (VCEK or VLEK) with what its certificate says. Built once per
 * certificate and reused for every report it signs (the "cached chain").
 */
typedef struct SnpEndorsement {
        EVP_PKEY *key;              /* P-384 public key */
        bool vlek;                  /* SEV-VLEK rather than SEV-VCEK */
        SnpProduct product;         /* from the chain's ARK (ARK-<Product>) */
        char product_name[32];      /* productName extension as written ("Milan-B0") */
        uint8_t hwid[64];           /* VCEK hwID; Turin: 8 bytes */
        size_t hwid_size;           /* 0 for VLEK */
        char csp_id[128];           /* VLEK cspId */
        SnpTcb tcb;                 /* SPL extensions */
        uint64_t tcb_raw;           /* the same, encoded in the product's layout */
        time_t not_before, not_after;
        char chain[3][64];          /* common names, leaf first: SEV-VCEK, SEV-Milan, ARK-Milan */
} SnpEndorsement;

SnpEndorsement *snp_endorsement_free(SnpEndorsement *e);
void snp_endorsement_freep(SnpEndorsement **e);

/*
 * Verifies leaf (a VCEK or VLEK) up to a root in t, using intermediates from untrusted (may be
 * NULL; e.g. a cert table's ASK, a KDS cert_chain) and then from t: names must chain, every
 * signature must verify (RSASSA-PSS SHA-384 for AMD's certificates), every certificate must be
 * valid at time at, and when crl is given it must be signed by the root, current at time at, and
 * must not list the intermediate or the leaf. Parses the leaf's AMD extensions.
 * Errors: -ENOKEY no trusted chain, -EKEYREJECTED bad signature, -EKEYEXPIRED outside validity,
 * -EKEYREVOKED revoked, -EBADMSG malformed extension. Pure.
 */
int snp_endorsement_verify(const SnpTrust *t, X509 *leaf, STACK_OF(X509) *untrusted,
                           X509_CRL *crl, time_t at, SnpEndorsement **ret, struct Diag *d);

/*
 * Verifies a parsed report against an endorsement: the report's SIGNATURE over raw[0, 0x2A0)
 * (ECDSA P-384, SHA-384, R and S little-endian), signing key kind (VCEK vs VLEK) and no masked
 * chip key, the product, REPORTED_TCB equal to the certificate's SPLs, and (VCEK, unmasked
 * CHIP_ID) CHIP_ID equal to hwID (Turin: the first 8 bytes, the rest zero). raw must be the bytes
 * r was parsed from. -EKEYREJECTED for a bad signature, -EXDEV for a report that does not match
 * the certificate. Pure.
 */
int snp_report_verify(const SnpEndorsement *e, const SnpReport *r, const uint8_t *raw,
                      size_t raw_size, struct Diag *d);

/* The AMD KDS path for a report's VCEK ("/vcek/v1/Milan/<hwid>?blSPL=..."); -EINVAL if the product
 * is unknown. Pure. */
int snp_kds_vcek_path(const SnpReport *r, char **ret);
