/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "keyrelease/key-wrap.h"
#include "vtpm/tpm-pcrs.h"

struct Diag;
struct Secret;

/*
 * [io] The key of a volume, the way a boot gets it: attest, get the token, ask for the key,
 * unwrap it in the TPM. One process, one TPM context: the ephemeral key the evidence carries
 * lives in the TPM's NULL hierarchy, so the same context that collected the evidence unwraps.
 *
 *  1. The verifiers in failover order (agent/failover.h: the healthy first, in list order; the
 *     ones cooling down after a failure last): at each, a fresh nonce (GET VERIFIER/nonce; 32
 *     random bytes when the verifier hands out none), the evidence over the PCRs of pcr_mask with
 *     that nonce (evidence_collect), POST VERIFIER/attest/AzureGuest, and the sealed answer opened
 *     with the TPM (unseal_token). A connection failure, a timeout or a 5xx moves on to the next
 *     verifier, a round of them all is followed by an exponential backoff with jitter, until the
 *     overall deadline or the last round; each attempt gets min(timeout, time left). A 4xx is the
 *     verifier's verdict and final; so is a failure here (the TPM, the evidence).
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
struct Failover;
struct json_object;

/* The steps, as the progress callback sees them begin. */
typedef enum UnlockStep {
        UNLOCK_STEP_EVIDENCE, /* collecting evidence for one verifier */
        UNLOCK_STEP_ATTEST,   /* posting it */
        UNLOCK_STEP_RELEASE,  /* asking for the key */
        UNLOCK_STEP_UNWRAP,   /* unwrapping it in the TPM */
        UNLOCK_STEP_BACKOFF,  /* waiting before the next round of verifiers (url NULL) */
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
        const char *isolation;  /* "auto" (NULL), "azure", "snp", "none": as `evidence` */
        unsigned timeout_ms;    /* per request; 0: 10 s */
        /* Failover. health: the verifiers' health, in and out (its endpoints must be the
         * verifiers, in order); NULL: a fresh one. deadline_usec: CLOCK_BOOTTIME microseconds,
         * absolute; 0: no deadline, then max_rounds (0: 1) rounds. Backoff between rounds from
         * backoff_usec up to backoff_max_usec (0: 1 s and 30 s); a failed verifier cools down
         * for retry_after_usec (0: 60 s). */
        struct Failover *health;
        uint64_t deadline_usec;
        unsigned max_rounds;
        uint64_t backoff_usec, backoff_max_usec, retry_after_usec;
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

struct AgentConfig;
/*
 * The local settings of s from the agent's configuration: TPM (TCTI=, PCRs= unless set already,
 * EventLog=), SNP (Source=, VCEKChain=), TLS (CAFile=), Timeout=, Backoff=, BackoffMax=,
 * RetryAfter=; $CVM_TCTI, $CVM_EVENTLOG and $CVM_VCEK_CHAIN, when set, win over the file.
 * Pointers into c (or the environment), which must outlive s.
 */
void unlock_source_from_config(UnlockSource *s, const struct AgentConfig *c);

/* What one attestation gave: for the monitor and `attest-now`. */
typedef struct AttestResult {
        char *token;                 /* the JWT, as the verifier sealed it to this TPM */
        struct json_object *claims;  /* its payload (parsed, not verified here) */
        size_t verifier;             /* index into UnlockSource.verifiers of the one that answered */
        TpmPcrSet pcrs;              /* the PCRs the evidence carried (every bank) */
        uint8_t *eventlog;           /* the event log it carried, or NULL */
        size_t eventlog_size;
} AttestResult;

void attest_result_done(AttestResult *r);

/*
 * Step 1 alone, with failover, on t (NULL: the TPM of s->tcti, opened and closed here). *ret
 * filled on success (attest_result_done). Errors as unlock_fetch_key's for that step; when no
 * verifier answered, -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH or -EIO with the last one's
 * reason; key_url is not used.
 */
int unlock_attest(const UnlockSource *s, struct TpmDevice *t, AttestResult *ret,
                  UnlockReport *report, struct Diag *d);
