/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* [io] `cvm-agent evidence`: argv[0] is "evidence". Returns an exit code. */
int evidence_main(int argc, char **argv);

/* [io] `cvm-agent unseal`: opens MAA's sealed AzureGuest token with the TPM ephemeral key. */
int unseal_main(int argc, char **argv);

/* [io] `cvm-agent enroll` and `cvm-agent unlock` (agent/luks-cmd.c). */
int enroll_main(int argc, char **argv);
int unlock_main(int argc, char **argv);

/* [io] `cvm-agent monitor`, `attest-now` and `status` (agent/monitor.c). */
int monitor_main(int argc, char **argv);
int attest_now_main(int argc, char **argv);
int status_main(int argc, char **argv);

/* [io] `cvm-agent credential-request`: the body of the verifier's POST /credential. */
int credential_request_main(int argc, char **argv);

struct Diag;
struct TpmDevice;
/* "rsa", "ecc-p256", "ecc-p384" to a TpmEkType; -EINVAL otherwise. */
int ek_type_from_string(const char *s);
/* [io] Activates the verifier's answer to POST /credential (a JSON file) for the AK at ak_handle
 * against the EK of ek_type; its secret (the nonce to quote with) into nonce. */
int credential_activate(struct TpmDevice *t, uint32_t ak_handle, int ek_type, const char *path,
                        uint8_t nonce[static 64], size_t *ret_nonce_size, struct Diag *d);

/* ---- evidence (agent/evidence.c) ---- */

/* Where the kernel publishes the firmware's TCG event log. */
#define EVENTLOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"

struct json_object;
struct TpmPcrSet;

/* What evidence_collect() gathers. */
typedef struct EvidenceParams {
        uint32_t mask;          /* PCRs to quote (bit i = PCR i) */
        const char *eventlog;   /* the TCG event log file; a missing one is only warned about */
        uint32_t ak_handle;     /* persistent handle of the AK, made when absent */
        int ak_type;            /* TpmAkType */
        const char *isolation;  /* "auto", "azure", "snp" or "none"; NULL = "auto" */
        const uint8_t *nonce;   /* 1 to 64 bytes: the quote's extraData, the report's user data */
        size_t nonce_size;
} EvidenceParams;

/*
 * [io] The evidence document (vtpm/evidence.h) from t: the AK, the PCRs of every bank, the
 * ephemeral encryption key (which stays loaded in t for tpm_device_decrypt), the HCL report or
 * the SNP report as isolation allows, the quote, the certificates in NV and the event log.
 * *ret_doc a new object; *ret_quote_sel the quoted selection, *ret_pcrs the values read (either
 * may be NULL). -errno with a Diag "step: why" on failure.
 */
int evidence_collect(struct TpmDevice *t, const EvidenceParams *p, struct json_object **ret_doc,
                     struct TpmPcrSet *ret_quote_sel, struct TpmPcrSet *ret_pcrs, struct Diag *d);

/* [io] The evidence document as the body of MAA's POST /attest/AzureGuest (reads the VCEK chain
 * from vcek_chain_path for an SNP proof). */
int evidence_maa_request(struct json_object *doc, const struct TpmPcrSet *quoted,
                         const struct TpmPcrSet *values, const char *vcek_chain_path,
                         struct json_object **ret, struct Diag *d);

/*
 * [io] Opens MAA's sealed AzureGuest answer ({"token": sealed}, raw_size bytes) with the
 * ephemeral key loaded in t (tpm_device_ephemeral_key or evidence_collect): the TPM decrypts the
 * inner AES key (RSAES, in the PolicyPCR session), AES-256-GCM gives the JWT, *ret (free()).
 * -EBADMSG malformed, -EPERM/-EIO the PCRs moved or another key, -EKEYREJECTED it does not
 * authenticate.
 */
int unseal_token(struct TpmDevice *t, const uint8_t *raw, size_t raw_size, char **ret,
                 struct Diag *d);
