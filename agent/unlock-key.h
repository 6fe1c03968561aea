/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "keyrelease/key-wrap.h"

struct Diag;
struct Secret;

/*
 * [io] The key of a volume, the way a boot gets it: attest, get the token, ask for the key,
 * unwrap it in the TPM. One process, one TPM context: the ephemeral key the evidence carries
 * lives in the TPM's NULL hierarchy, so the same context that collected the evidence unwraps.
 *
 *  1. For each verifier in order: a fresh nonce (GET VERIFIER/nonce; 32 random bytes when the
 *     verifier hands out none), the evidence over the PCRs of pcr_mask with that nonce
 *     (evidence_collect), POST VERIFIER/attest/AzureGuest, and the sealed answer opened with
 *     the TPM (unseal_token). A connection failure, a timeout or a 5xx moves on to the next
 *     verifier; a 4xx is the verifier's verdict and final.
 *  2. POST KEY_URL/release {"target": token, "enc": enc} (Key Vault's format).
 *  3. The answer's key_hsm: the RSA part decrypted by the TPM (TPM2_RSA_Decrypt, OAEP with enc's
 *     hash, in a PolicyPCR session: only while the PCRs still hold the attested values), the AES
 *     part unwrapped with OpenSSL (RFC 5649). The key goes straight into a Secret.
 *
 * Errors (-errno, a Diag naming the step and the URL): -EACCES a verifier's policy or the key's
 * release policy said no; -EKEYREJECTED the verifier refused the evidence, or the key service
 * the token; -ESTALE the PCRs changed between attestation and unwrap; -ENOENT no such key;
 * -ECONNREFUSED/-ETIMEDOUT/-EHOSTUNREACH/-EIO no verifier or key service could be reached;
 * -EBADMSG a malformed answer; -ENODEV no TPM. Never logs above debug.
 */

#define UNLOCK_VERIFIERS_MAX 8u

struct TpmDevice;

/* The steps, as the progress callback sees them begin. */
typedef enum UnlockStep {
        UNLOCK_STEP_EVIDENCE, /* collecting evidence for one verifier */
        UNLOCK_STEP_ATTEST,   /* posting it */
        UNLOCK_STEP_RELEASE,  /* asking for the key */
        UNLOCK_STEP_UNWRAP,   /* unwrapping it in the TPM */
        _UNLOCK_STEP_MAX,
} UnlockStep;

typedef struct UnlockSource {
        const char *verifiers[UNLOCK_VERIFIERS_MAX]; /* attestation base URLs, failover order */
        size_t n_verifiers;
        const char *key_url;  /* https://HOST/keys/NAME[/VERSION] */
        uint32_t pcr_mask;    /* SHA-256 PCRs the evidence quotes and the unwrap is bound to */
        KeyWrapAlg enc;
        /* Local settings. */
        const char *tcti;       /* NULL: CVM_TCTI, else the default */
        const char *eventlog;   /* NULL: CVM_EVENTLOG, else the default */
        const char *vcek_chain; /* NULL: CVM_VCEK_CHAIN; needed for an SNP proof */
        const char *ca_file;    /* TLS roots; NULL: the system's */
        unsigned timeout_ms;    /* per request; 0: 10 s */
        /* Called as each step begins (may be NULL): for progress lines on a console, and for
         * tests that act on the TPM between two steps (t is the context in use). */
        void (*progress)(UnlockStep step, const char *url, struct TpmDevice *t, void *userdata);
        void *userdata;
} UnlockSource;

/* What happened, for the caller to print: milliseconds of each step, which verifier answered. */
typedef struct UnlockReport {
        const char *verifier; /* points into the UnlockSource; NULL until one answered */
        double evidence_ms, attest_ms, release_ms, unwrap_ms;
        char token_jti[72];   /* the token's jti, for the audit trail ("" when none) */
} UnlockReport;

int unlock_fetch_key(const UnlockSource *s, struct Secret **ret, UnlockReport *report,
                     struct Diag *d);
