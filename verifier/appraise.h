/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

struct Diag;
struct EventLog;
struct SnpReport;
struct SnpTrust;
struct TpmPcrSet;
struct json_object;

/*
 * Appraisal: a request body (MAA's REST API, maa.md §2) turned into verified claims named as MAA
 * names them, ready for the tenant's policy. Pure: the trust anchors and the time are arguments.
 */

#define APPRAISE_BODY_MAX (1024u * 1024u)

#define APPRAISE_NONCE_MAX 129u

typedef struct AppraiseContext {
        const struct SnpTrust *trust;
        time_t now;
        /* Out (may be NULL): a nonce the signed evidence itself carries, for freshness checks —
         * SevSnpVm: runtime data's "nonce" (bound by REPORT_DATA); AzureGuest: the quote's
         * extraData as lowercase hex. "" when there is none. APPRAISE_NONCE_MAX bytes. */
        char *bound_nonce;
        /* Trusted launch: CAs that vouch for an AK through its certificate (TpmInfo.AikCert,
         * leaf first, intermediates after it), checked at `now`. NULL: none is configured, and
         * trusted-launch evidence is refused (nothing vouches for its AK). */
        X509_STORE *ak_ca;
        /* SEV-SNP endorsements the evidence does not carry (may be NULL): a VCEK for a report
         * whose VcekCertChain is absent or holds no VCEK/VLEK, and the CRL of the report's product
         * (checked when crl_lookup is set: revocation is then required). They return DER bytes,
         * or -errno: a VCEK that is not to be had (-ENOENT, -EBADMSG) refuses the evidence with
         * -ENOKEY; any other failure, and any CRL failure, is the service's: -EAGAIN (revocation
         * is never skipped). verifier/kds.h provides both. */
        int (*vcek_lookup)(void *userdata, const struct SnpReport *r, uint8_t **ret,
                           size_t *ret_size, struct Diag *d);
        int (*crl_lookup)(void *userdata, int product, time_t now, uint8_t **ret,
                          size_t *ret_size, struct Diag *d);
        void *lookup_userdata;
        /* Verified endorsements by their chain's bytes (may be NULL): a chain seen before costs
         * no chain verification while its entry holds (verifier/endorsement-cache.h). */
        struct EndorsementCache *endorsements;
        /* Leave out the "events" claim (when nothing will read it: building it costs more than
         * the quote's signature). */
        bool skip_events;
        /* Facts established before (may be NULL): that an AikCert certifies an AikPub, that
         * runtime claims' HCLAkPub is an AikPub. */
        struct FactCache *facts;
        /* Keys decoded before (may be NULL): AikPub and EncKeyPub by their bytes
         * (verifier/appraise-cache.h). */
        struct KeyCache *keys;
        /* Out (may be NULL): AzureGuest's TpmEphemeralEncryptionKey (x-ms-runtime.keys[0]) as a
         * key, for sealing the token to it; on success a reference the caller frees, or NULL
         * when the evidence has none. Untouched on failure. */
        EVP_PKEY **enc_key;
        /* Trusted launch by credential activation (appraise_credential_request): EK certificate
         * authorities, and whether a quote's extraData is the secret of a live credential made
         * for the AK named ak_name (single use: the callback consumes it). May be NULL. */
        X509_STORE *ek_ca;
        bool (*ak_activated)(void *userdata, const uint8_t *ak_name, size_t ak_name_size,
                             const uint8_t *extra_data, size_t extra_size);
        void *activation_userdata;
} AppraiseContext;

/* The claims appraisal adds for the policy only (read-only "pcrs", "events"); they are removed
 * from the token's claims by this. */
void appraise_strip_incoming(struct json_object *claims);

/*
 * POST /attest/SevSnpVm: {"report": base64url({"SnpReport": base64url(report),
 * "VcekCertChain": base64url(PEM VCEK, ASK, ARK)}), "runtimeData": {"data", "dataType"},
 * "initTimeData"?, "nonce"?}. Verifies the report's chain and signature, that SHA-256 of the
 * runtime data is REPORT_DATA (the first 32 bytes; the rest zero), and of the init-time data is
 * HOST_DATA. On success *ret_claims holds x-ms-attestation-type "sevsnpvm", every
 * x-ms-sevsnpvm-* claim, x-ms-runtime (runtime data of type JSON), x-ms-inittime, and nonce.
 * VcekCertChain may be left out when ctx->vcek_lookup can find the VCEK.
 * -EBADMSG malformed body (Diag names the member), -E2BIG over APPRAISE_BODY_MAX, the SNP
 * verification errors (-EKEYREJECTED, -ENOKEY, -EKEYEXPIRED, -EKEYREVOKED, -EXDEV), and -EAGAIN
 * when an endorsement lookup could not be answered now.
 */
int appraise_sevsnpvm(const AppraiseContext *ctx, const char *body, size_t size,
                      struct json_object **ret_claims, struct Diag *d);

/*
 * POST /attest/AzureGuest: {"AttestationInfo": base64url(JSON)} ("attestationInfo" accepted too),
 * azure-cvm.md §6.2/§6.3. Verifies TpmInfo's quote (PcrQuote, TPMS_ATTEST) signed by AikPub
 * (TPM2B_PUBLIC/TPMT_PUBLIC, or any form tpm_ak_load takes) with PcrSignature (TPMT_SIGNATURE
 * or bare RSASSA) and its pcrDigest over PCRs ([{"Index", "Digest"}], SHA-256); no nonce is
 * checked (Azure quotes carry none). AikCert, when present, must certify AikPub (its issuer is
 * not checked here). Optional members, verified when present and their claims absent otherwise:
 *   TcgLogs: must replay to the quoted PCRs (quoted PCRs it never extends must hold their reset
 *     value); gives `secureboot` from the SecureBoot variable event on PCR 7 (absent when the log
 *     has none).
 *   EncKeyPub + EncKeyCertifyInfo + EncKeyCertifyInfoSignature (all or none): certified by the
 *     AK (TPM2_Certify name = the key's name), a fixedTPM decrypt-only PolicyPCR-bound RSA key;
 *     gives x-ms-runtime.keys = [JWK kid "TpmEphemeralEncryptionKey", key_ops ["encrypt"]].
 *   ClientPayload (object of base64 strings): x-ms-runtime.client-payload as sent; its "nonce",
 *     decoded, is the `nonce` claim.
 *   OSType/OSDistro/OSBuild (base64 text), OSVersionMajor/Minor, AttestationProtocolVersion:
 *     the x-ms-azurevm-* claims (as the client states them), x-ms-azurevm-is-windows.
 * IsolationInfo.Type "SevSnp": Evidence.Proof (as /attest/SevSnpVm's "report") chained to
 * ctx->trust at ctx->now, SHA-256(Evidence.RunTimeData) = REPORT_DATA[0, 32) with the rest zero,
 * and the runtime claims' HCLAkPub = the AK; gives x-ms-isolation-tee {x-ms-attestation-type
 * "sevsnpvm", x-ms-sevsnpvm-*, x-ms-runtime = the runtime claims}. "TrustedLaunch": no hardware
 * evidence: the AK must be vouched for by ctx->ak_ca through AikCert, or by credential activation
 * (ctx->ak_activated: the quote's extraData is the secret of a credential made for this AK
 * against a certified EK; AikPub must then be a TPM2B_PUBLIC) — -ENOKEY when neither does.
 * Which one vouched is the claim x-ms-azurevm-ak-vouched-by: "sevsnp-report" (the HCL report's
 * HCLAkPub), "ak-ca" or "ek-chain".
 * For the policy only (not issued): "pcrs" ({"PCRs": [{"Index", "Digests": {"SHA256": hex}}]},
 * as MAA's TPM claims) and, with TcgLogs, "events" ({"Events": [...]}, see eventlog_to_maa_json).
 * Always: x-ms-attestation-type "azurevm", x-ms-ver, x-ms-azurevm-attested-pcrs (the quoted
 * SHA-256 PCR indices), x-ms-runtime. Not derived, so never present: the Windows boot-config
 * claims (x-ms-azurevm-*debug*, -signingdisabled, -elam-enabled, -hvci-policy, ...),
 * x-ms-azurevm-dbvalidated/-dbxvalidated/-default-securebootkeysvalidated, -vmid and
 * x-ms-compliance-status.
 * -EBADMSG malformed (Diag names the member), -E2BIG, -EPROTONOSUPPORT (Tdx, unknown Type or
 * algorithm), -EKEYREJECTED (quote/certify signature, SNP signature), -EXDEV (PCRs, event log,
 * REPORT_DATA binding, AK mismatch), -ENOKEY, -EKEYEXPIRED (SNP chain). Pure; logs nothing.
 */
int appraise_azureguest(const AppraiseContext *ctx, const char *body, size_t size,
                        struct json_object **ret_claims, struct Diag *d);

/*
 * POST /credential (trusted launch, this service's own: MAA has no such endpoint): {"EkCert":
 * base64 DER (or PEM) EK certificate, "EkPub": base64 TPM2B_PUBLIC of the EK, "AikPub": base64
 * TPM2B_PUBLIC of the AK}. The EK certificate must chain to ctx->ek_ca at ctx->now, EkPub must
 * be a restricted decryption key whose public key is the certificate's, and AikPub a restricted
 * signing key that is fixedTPM and fixedParent (only such a key can be the AK the TPM activates
 * the credential for). On success *ret_ek_public gets EkPub's bytes and *ret_ak_name the AK's
 * name. -EBADMSG malformed, -E2BIG, -ENOKEY (no EK CA configured, or the chain does not verify),
 * -EXDEV (EkPub is not the certificate's key, or a key of the wrong kind). Pure.
 */
int appraise_credential_request(const AppraiseContext *ctx, const char *body, size_t size,
                                uint8_t **ret_ek_public, size_t *ret_ek_size, TPM2B_NAME *ret_ak_name,
                                struct Diag *d);

/* Shared with `check evidence` (verifier/check-evidence.c). Pure. */

/* The quote's selection with the values from pcrs (which tpm_quote_verify checked). -EXDEV if
 * pcrs lacks a selected bank. */
int appraise_quoted_pcrs(const TPMS_ATTEST *attest, const struct TpmPcrSet *pcrs,
                         struct TpmPcrSet *ret);
/*
 * The event log replayed against the quoted PCRs: every quoted PCR the log extends must match,
 * and a quoted PCR it never extends must hold its reset value (zero; all 0xFF for 17..22).
 * *ret_verdicts (may be NULL) gets eventlog_compare's verdicts. -EXDEV with a Diag naming the
 * first PCR that differs.
 */
int appraise_eventlog_check(const struct EventLog *log, const struct TpmPcrSet *quoted,
                            struct json_object **ret_verdicts, struct Diag *d);
/*
 * An ephemeral key certified by ak: pub a TPM public area, info a TPMS_ATTEST of type CERTIFY
 * whose name is pub's, signed by ak (sig_bytes), extraData = nonce (not checked when NULL), and
 * the key a fixedTPM, decrypt-only RSA key with no userWithAuth whose authPolicy is PolicyPCR over
 * policy_pcrs (the quoted PCRs with their values). *ret_key gets
 * its public key. -EBADMSG, -EKEYREJECTED, -EXDEV, -ESTALE.
 */
int appraise_certified_key(EVP_PKEY *ak, const uint8_t *pub, size_t pub_size, const uint8_t *info,
                           size_t info_size, const uint8_t *sig_bytes, size_t sig_size,
                           const uint8_t *nonce, size_t nonce_size,
                           const struct TpmPcrSet *policy_pcrs, EVP_PKEY **ret_key,
                           struct Diag *d);
