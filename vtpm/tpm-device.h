/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "vtpm/tpm-pcrs.h"

struct Diag;

/*
 * [io] The vTPM through tpm2-tss ESAPI: PCRs, quotes, the attestation key, NV indices, and the
 * ephemeral encryption key. Every function returns -errno with a Diag naming the TPM command, the
 * handle and the TPM's own decoded response code: -ENODEV/-ECONNREFUSED no TPM, -EBUSY TPM busy
 * after retries, -ENOENT no such handle or NV index, -EIO any other TPM error. TPM_RC_RETRY,
 * TPM_RC_YIELDED and TPM_RC_TESTING are retried. Logs at debug level only.
 */

#define TPM_TCTI_DEFAULT "device:/dev/tpmrm0"
#define TPM_AK_HANDLE_AZURE 0x81000003u
#define TPM_NV_HCL_REPORT 0x01400001u
#define TPM_NV_HCL_USER_DATA 0x01400002u
#define TPM_NV_AK_CERT_AZURE 0x01C101D0u
#define TPM_NV_EK_CERT_RSA 0x01C00002u
#define TPM_NV_EK_CERT_ECC 0x01C0000Au
#define TPM_NV_EK_CERT_ECC_P384 0x01C00016u

typedef struct TpmDevice TpmDevice;

/* Opens the TPM through the TCTI configuration (NULL: TPM_TCTI_DEFAULT, e.g. "swtpm:port=2321"). */
int tpm_device_open(const char *tcti, TpmDevice **ret, struct Diag *d);
TpmDevice *tpm_device_close(TpmDevice *t);
void tpm_device_closep(TpmDevice **t);

/* The PCR banks the TPM has allocated (those with at least one PCR). */
int tpm_device_banks(TpmDevice *t, uint16_t *ret_algs, size_t *ret_n, struct Diag *d);
/* Reads the PCRs in mask of bank alg into set (looping: PCR_Read returns 8 at a time). */
int tpm_device_pcr_read(TpmDevice *t, uint16_t alg, uint32_t mask, TpmPcrSet *set,
                        struct Diag *d);

typedef enum TpmAkType {
        TPM_AK_ECC_P256,
        TPM_AK_RSA_2048,
} TpmAkType;

/*
 * The attestation key at the persistent handle: used as it is when present (Azure provisions
 * 0x81000003); otherwise, when create is set, a primary key from the standard AK template
 * (restricted signing, ECDSA P-256/SHA-256 or RSASSA-2048/SHA-256) is created under the
 * endorsement hierarchy and persisted there. *ret_public is the marshalled TPM2B_PUBLIC (free()).
 */
int tpm_device_ak(TpmDevice *t, uint32_t handle, bool create, TpmAkType type,
                  uint8_t **ret_public, size_t *ret_public_size, struct Diag *d);

/* TPM2_Quote with the AK over the PCRs of set's masks (values ignored), extraData = nonce.
 * Returns the marshalled TPMS_ATTEST and TPMT_SIGNATURE (free()). */
int tpm_device_quote(TpmDevice *t, uint32_t ak_handle, const TpmPcrSet *select,
                     const uint8_t *nonce, size_t nonce_size, uint8_t **ret_attest,
                     size_t *ret_attest_size, uint8_t **ret_sig, size_t *ret_sig_size,
                     struct Diag *d);

/* Reads a whole NV index (size from NV_ReadPublic, chunks of at most 1024 bytes) with the owner's
 * authorization where the index allows it, else its own (empty). -ENOENT if it is not defined. */
int tpm_device_nv_read(TpmDevice *t, uint32_t index, uint8_t **ret, size_t *ret_size,
                       struct Diag *d);
/* Writes data to an NV index defined with owner authorization, defining it first (64 bytes,
 * OWNERWRITE|OWNERREAD|AUTHWRITE|AUTHREAD, SHA-256) when it is absent or has another size. */
int tpm_device_nv_write_user_data(TpmDevice *t, uint32_t index, const uint8_t data[64],
                                  struct Diag *d);

/*
 * The ephemeral encryption key as Azure's guest attestation makes it: a primary RSA-2048 key in
 * the NULL hierarchy, decrypt-only, not restricted, fixedTPM|fixedParent|sensitiveDataOrigin|
 * noDA, authPolicy = PolicyPCR over the current values of the PCRs in select; certified by the
 * AK (TPM2_Certify, no qualifying data unless nonce). Returns the marshalled TPM2B_PUBLIC, the
 * TPMS_ATTEST and its TPMT_SIGNATURE (free()). The key stays loaded for tpm_device_decrypt while
 * t is open (the NULL hierarchy forgets it at the next TPM reset). The private part never
 * leaves the TPM.
 */
int tpm_device_ephemeral_key(TpmDevice *t, uint32_t ak_handle, const TpmPcrSet *select,
                             const uint8_t *nonce, size_t nonce_size, uint8_t **ret_public,
                             size_t *ret_public_size, uint8_t **ret_certify,
                             size_t *ret_certify_size, uint8_t **ret_sig, size_t *ret_sig_size,
                             struct Diag *d);

/* The ESAPI context, for tests that need a command this module does not wrap. */
struct ESYS_CONTEXT;
int tpm_device_esys(TpmDevice *t, struct ESYS_CONTEXT **ret_esys, void *ret_tcti);

/* TPM2_RSA_Decrypt with the ephemeral key in a PolicyPCR session. scheme: TPM2_ALG_RSAES or
 * TPM2_ALG_OAEP (with hash). The plaintext goes into a Secret-backed buffer the caller frees with
 * secret_free(). -EPERM if the PCRs moved since the key was made. */
struct Secret;
int tpm_device_decrypt(TpmDevice *t, uint16_t scheme, uint16_t hash, const uint8_t *in,
                       size_t in_size, struct Secret **ret, struct Diag *d);

/*
 * The endorsement key, from the TCG EK Credential Profile templates (all restricted decryption
 * keys, fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy, AES-CFB):
 *   TPM_EK_RSA_2048  L-1: RSA 2048, SHA-256, AES-128, PolicySecret(endorsement), 256 zero bytes of
 *                    unique; certificate in NV 0x01C00002.
 *   TPM_EK_ECC_P256  L-2: ECC P-256, SHA-256, AES-128, PolicySecret(endorsement), 32-byte zero x
 *                    and y; certificate in NV 0x01C0000A.
 *   TPM_EK_ECC_P384  H-3: ECC P-384, SHA-384, AES-256, userWithAuth, PolicyB, empty unique;
 *                    certificate in NV 0x01C00016 (the ECC EK swtpm_setup certifies).
 * Values 0 and 1 are what a bool "ecc" selects.
 */
typedef enum TpmEkType {
        TPM_EK_RSA_2048,
        TPM_EK_ECC_P256,
        TPM_EK_ECC_P384,
        _TPM_EK_TYPE_MAX,
        _TPM_EK_TYPE_INVALID = -EINVAL,
} TpmEkType;

/*
 * Creates the EK of type as a transient primary key in the endorsement hierarchy (empty
 * endorsement authorization), returns its marshalled TPM2B_PUBLIC in *ret_public (free()) and
 * flushes it: the same key every time, the one the EK certificate certifies. -EINVAL for an
 * unknown type; TPM errors as above.
 */
int tpm_device_ek(TpmDevice *t, TpmEkType type, uint8_t **ret_public, size_t *ret_size,
                  struct Diag *d);

/* The DER EK certificate of type from its TCG NV index, without the index's zero padding
 * (free()). -ENOENT if the index is not defined, -EBADMSG if it holds no DER element. */
int tpm_device_ek_certificate(TpmDevice *t, TpmEkType type, uint8_t **ret_der, size_t *ret_size,
                              struct Diag *d);

/*
 * TPM2_ActivateCredential: recovers the secret a verifier wrapped with tpm_make_credential()
 * (vtpm/credential.h) for the key at ak_handle (persistent; authorized with its empty
 * password) and the EK of ek_type, recreated from its template and flushed afterwards (its USER
 * role through a TPM2_PolicySecret(TPM_RH_ENDORSEMENT) session, or its empty password where the
 * template sets userWithAuth). credential_blob is a marshalled TPM2B_ID_OBJECT, encrypted_secret
 * a marshalled TPM2B_ENCRYPTED_SECRET. *ret is a new Secret (secret_free()).
 * -EKEYREJECTED when the TPM refuses the credential: it was made for another key name (not this
 * AK), another EK (not this TPM), or was altered. -EBADMSG for bytes that do not unmarshal;
 * -ENOENT no key at ak_handle; TPM errors as above.
 */
int tpm_device_activate_credential(TpmDevice *t, uint32_t ak_handle, TpmEkType ek_type,
                                   const uint8_t *credential_blob, size_t blob_size,
                                   const uint8_t *encrypted_secret, size_t secret_size,
                                   struct Secret **ret, struct Diag *d);
