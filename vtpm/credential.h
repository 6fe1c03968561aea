/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

struct Diag;

/*
 * Credential protection (TPM 2.0 Part 1 §24; Part 3 TPM2_MakeCredential) done in software by a
 * verifier that has no TPM: it binds a secret to an attestation key's name and encrypts it to a
 * TPM's endorsement key, so that only that TPM, with that exact key loaded, recovers it with
 * TPM2_ActivateCredential. Pure: OpenSSL and tss2-mu only, no TPM, no logging above debug.
 */

/* The largest secret a credential carries (a TPM2B_DIGEST of the EK's nameAlg, and a quote
 * nonce): 32 bytes. */
#define TPM_CREDENTIAL_SECRET_MAX 32u

/*
 * KDFa (Part 1 §11.4.10.2, SP 800-108 counter mode with HMAC-hash_alg): fills ret[0, ret_size)
 * with HMAC(key, [i]32 || label || 0x00 || context_u || context_v || [ret_size * 8]32), i = 1, 2,
 * ... label is given without its NUL (the 0x00 separator is added); contexts may be NULL/0.
 * -EPROTONOSUPPORT for an unknown hash, -EINVAL for an empty key or output. Pure.
 */
int tpm_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_size, const char *label,
             const uint8_t *context_u, size_t context_u_size, const uint8_t *context_v,
             size_t context_v_size, uint8_t *ret, size_t ret_size);

/*
 * KDFe (Part 1 §11.4.10.3, SP 800-56A single-step KDF with hash_alg): fills ret[0, ret_size)
 * with H([i]32 || z || label || 0x00 || party_u || party_v), i = 1, 2, ... Same conventions and
 * errors as tpm_kdfa. Pure.
 */
int tpm_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_size, const char *label,
             const uint8_t *party_u, size_t party_u_size, const uint8_t *party_v,
             size_t party_v_size, uint8_t *ret, size_t ret_size);

/*
 * TPM2_MakeCredential in software. ek_public is the EK's marshalled TPM2B_PUBLIC or TPMT_PUBLIC:
 * an RSA (2048 to 4096 bits) or ECC (P-256, P-384, P-521) restricted decryption key with an AES
 * CFB symmetric definition, as the TCG EK templates (L-1 RSA 2048, L-2 ECC P-256, H-3 ECC P-384)
 * make it. ak_name is the credentialed key's TPM2B_NAME content (nameAlg || digest, see
 * tpm_ak_public_check). The secret (1 to TPM_CREDENTIAL_SECRET_MAX bytes, and at most the EK
 * nameAlg's digest size) is wrapped under a fresh random seed: RSA-OAEP(nameAlg, label
 * "IDENTITY\0") for an RSA EK, ECDH with an ephemeral key on the EK's curve and KDFe for an ECC
 * EK.
 *
 * On success *ret_credential_blob is the marshalled TPM2B_ID_OBJECT and *ret_encrypted_secret
 * the marshalled TPM2B_ENCRYPTED_SECRET, both new buffers the caller free()s (neither is secret).
 * Errors, with a Diag: -EBADMSG an EK public area that does not unmarshal or is not a
 * restricted decryption key with a symmetric definition, or a malformed name;
 * -EPROTONOSUPPORT an unsupported key type, curve, symmetric algorithm/mode or hash; -EINVAL a
 * secret of the wrong size; -ENOMEM/-EIO OpenSSL failures. Outputs untouched on failure. Pure.
 */
int tpm_make_credential(const uint8_t *ek_public, size_t ek_public_size, const uint8_t *ak_name,
                        size_t ak_name_size, const uint8_t *secret, size_t secret_size,
                        uint8_t **ret_credential_blob, size_t *ret_blob_size,
                        uint8_t **ret_encrypted_secret, size_t *ret_secret_size, struct Diag *d);

/*
 * Whether the EK public area (TPM2B_PUBLIC or TPMT_PUBLIC) holds the same public key as the
 * certificate (RSA modulus and exponent, or EC curve and point): 1 if it does, 0 if not,
 * -EBADMSG if ek_public does not parse, -EPROTONOSUPPORT for a key type we cannot compare,
 * -EINVAL without a certificate key. Pure.
 */
int tpm_ek_public_matches_certificate(const uint8_t *ek_public, size_t size, X509 *cert);

/*
 * Checks an attestation key's public area (TPM2B_PUBLIC or TPMT_PUBLIC): a restricted signing
 * key (sign set, decrypt clear) with fixedTPM and fixedParent, of a known nameAlg. On success
 * fills *ret_name (may be NULL) with its TPM name, nameAlg || H(TPMT_PUBLIC), the ak_name a
 * credential is made for. -EBADMSG with a Diag otherwise (-EPROTONOSUPPORT for an unknown
 * nameAlg). Pure.
 */
int tpm_ak_public_check(const uint8_t *ak_public, size_t size, TPM2B_NAME *ret_name,
                        struct Diag *d);
