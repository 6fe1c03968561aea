/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;
struct json_object;

/* TPM 2.0 algorithm identifiers (TCG Algorithm Registry; tss2_tpm2_types.h TPM2_ALG_*). */
#define TPM_ALG_SHA1 0x0004u
#define TPM_ALG_SHA256 0x000Bu
#define TPM_ALG_SHA384 0x000Cu
#define TPM_ALG_SHA512 0x000Du
#define TPM_ALG_SM3_256 0x0012u

#define TPM_PCR_COUNT 24u
#define TPM_DIGEST_MAX 64u

/* One PCR bank: which PCRs are present (mask bit i = PCR i) and their values. */
typedef struct TpmPcrBank {
        uint16_t alg;
        uint16_t size; /* digest size of alg */
        uint32_t mask;
        uint8_t value[TPM_PCR_COUNT][TPM_DIGEST_MAX];
} TpmPcrBank;

#define TPM_MAX_BANKS 5u

typedef struct TpmPcrSet {
        size_t n_banks;
        TpmPcrBank banks[TPM_MAX_BANKS];
} TpmPcrSet;

/* Digest size of a TPM hash algorithm, 0 if unknown. */
uint16_t tpm_alg_digest_size(uint16_t alg);
/* "sha1", "sha256", "sha384", "sha512", "sm3_256", or NULL. */
const char *tpm_alg_hash_name(uint16_t alg);
/* The reverse, case-insensitive, also accepting "SHA256"/"sha-256"; 0 if unknown. */
uint16_t tpm_alg_from_name(const char *name);
/* The OpenSSL digest for a TPM hash algorithm (EVP_sha256() ...), NULL if unsupported. */
const struct evp_md_st *tpm_alg_to_evp(uint16_t alg);

/* The bank of set for alg, or NULL. */
const TpmPcrBank *tpm_pcr_set_bank(const TpmPcrSet *set, uint16_t alg);
/* The bank for alg, added (empty, with mask 0) if absent; NULL if there is no room or alg is
 * unknown. */
TpmPcrBank *tpm_pcr_set_bank_add(TpmPcrSet *set, uint16_t alg);

/*
 * Parses PCR values given as JSON text: an object of PCR index to hex digest
 * ({"0": "ab..", "7": ".."}), an array of hex digests in index order, or either of those under
 * bank names ({"sha256": {...}, "sha1": [...]}). Without a bank name the bank is inferred from
 * the digest length (SHA-1 20, SHA-256 32, SHA-384 48, SHA-512 64 bytes). Also accepts MAA's
 * forms: an array of {"Index": n, "Digest": base64}, and the "pcrs" claim, an array (optionally
 * as {"PCRs": [...]}) of {"Index": n, "Digests": {"SHA1": hex, "SHA256": hex}}. Input over 1 MiB
 * is refused before parsing.
 * -EBADMSG with a Diag naming the entry on anything else. Pure.
 */
int tpm_pcrs_from_json(const char *text, size_t size, TpmPcrSet *ret, struct Diag *d);
/* Parses a PCR list such as "0-7,11,14" into a mask. -EINVAL on anything else. Pure. */
int tpm_pcr_mask_parse(const char *s, uint32_t *ret);

/* {"sha256": {"0": "hex", ...}, ...}; -ENOMEM only. Pure. */
int tpm_pcrs_to_json(const TpmPcrSet *set, struct json_object **ret);
