/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "vtpm/tpm-pcrs.h"

struct Diag;
struct json_object;

/*
 * TPM 2.0 attestation structures (TPM 2.0 Part 2: TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC),
 * unmarshalled by tss2-mu from untrusted bytes, and their verification. Pure.
 */

#define TPM_ATTEST_MAX_SIZE 4096u
#define TPM_SIGNATURE_MAX_SIZE 4096u
#define TPM_PUBLIC_MAX_SIZE 4096u

/* Parses a marshalled TPMS_ATTEST that must fill size exactly; checks magic (TPM_GENERATED_VALUE).
 * -EBADMSG with a Diag otherwise. */
int tpm_attest_parse(const uint8_t *buf, size_t size, TPMS_ATTEST *ret, struct Diag *d);

/*
 * Parses a TPMT_SIGNATURE (RSASSA, RSAPSS, ECDSA with SHA-1/256/384/512) that fills size exactly.
 * When the bytes are not one and key is an RSA key, they are taken as a bare RSASSA signature
 * (Azure's quote.sig) with hash bare_hash; *ret_bare says which. -EBADMSG otherwise.
 */
int tpm_signature_parse(const uint8_t *buf, size_t size, EVP_PKEY *key, uint16_t bare_hash,
                        TPMT_SIGNATURE *ret, bool *ret_bare, struct Diag *d);

/* Parses a TPMT_PUBLIC or a TPM2B_PUBLIC (size-prefixed), exactly filling size. */
int tpm_public_parse(const uint8_t *buf, size_t size, TPMT_PUBLIC *ret, struct Diag *d);
/* The public key of an RSA or ECC (P-256/P-384/P-521) TPMT_PUBLIC. -EPROTONOSUPPORT otherwise. */
int tpm_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret);
/* The TPM name: nameAlg (u16 BE) || H_nameAlg(marshalled TPMT_PUBLIC). */
int tpm_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *ret);

/*
 * Loads an attestation key from bytes: PEM or DER SubjectPublicKeyInfo, a TPMT_PUBLIC or a
 * TPM2B_PUBLIC (then *ret_public is filled and *ret_has_public set, so the quote's signer name can
 * be checked), or a JWK. -EBADMSG when it is none of them.
 */
int tpm_ak_load(const uint8_t *buf, size_t size, EVP_PKEY **ret, TPMT_PUBLIC *ret_public,
                bool *ret_has_public, struct Diag *d);

/* Verifies sig over raw (H(raw) with sig's hash) with key. -EKEYREJECTED if it does not verify. */
int tpm_signature_verify(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const uint8_t *raw,
                         size_t raw_size, struct Diag *d);

typedef struct TpmQuoteExpect {
        const uint8_t *nonce;      /* NULL: not checked */
        size_t nonce_size;
        const TpmPcrSet *pcrs;     /* NULL: the digest is not checked */
} TpmQuoteExpect;

/*
 * Verifies a quote: TPMS_ATTEST raw (magic, type TPM_ST_ATTEST_QUOTE), the signature by key over
 * raw, extraData equal to the expected nonce, and pcrDigest equal to the hash (the signature's
 * hash algorithm) of the
 * expected PCR values of every selected PCR, banks in selection order. The expected PCRs must
 * cover the selection. On success *ret_attest (may be NULL) holds the parsed quote.
 * -EBADMSG malformed, -EKEYREJECTED bad signature, -ESTALE nonce differs, -EXDEV PCRs differ.
 * Pure.
 */
int tpm_quote_verify(EVP_PKEY *key, const uint8_t *raw, size_t raw_size,
                     const TPMT_SIGNATURE *sig, const TpmQuoteExpect *expect,
                     TPMS_ATTEST *ret_attest, struct Diag *d);

/* The quote's PCR selection as a TpmPcrSet with masks and no values. */
void tpm_quote_selection(const TPMS_ATTEST *attest, TpmPcrSet *ret);

/*
 * The authPolicy of a key bound by TPM2_PolicyPCR to the PCRs in pcrs (masks and values), as a
 * trial session computes it: H(0…0 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || H(PCR values in
 * selection order)), H = alg (the key's nameAlg). Banks in pcrs order, 3-byte selects.
 * *ret_size gets the digest size. -EPROTONOSUPPORT for an unknown alg. Pure.
 */
int tpm_policy_pcr_digest(uint16_t alg, const TpmPcrSet *pcrs, uint8_t ret[TPM_DIGEST_MAX],
                          size_t *ret_size);

/* JSON summary of a parsed quote (type, signer name, nonce, clock, firmware, PCR selection and
 * digest). -ENOMEM only. */
int tpm_attest_to_json(const TPMS_ATTEST *a, struct json_object **ret);
