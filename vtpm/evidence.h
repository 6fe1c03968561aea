/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The evidence document `cvm-agent evidence` writes and `cvm-verifier check evidence` reads.
 * Binary values are base64url without padding.
 *
 * {
 *   "version": 1,
 *   "platform": "azure-sevsnp" | "sevsnp" | "trusted-launch",
 *   "nonce": hex (the quote's extraData; the HCL report's user-data, zero-padded to 64 bytes;
 *            the runtime claims' "nonce"),
 *   "tpm": {
 *     "ak_public": TPM2B_PUBLIC, "ak_certificate": DER (optional), "ek_certificate": DER (opt.),
 *     "quote": TPMS_ATTEST, "quote_signature": TPMT_SIGNATURE,
 *     "pcrs": {"sha256": {"0": hex, ...}, ...}   (every allocated bank, the quoted PCRs),
 *     "encryption_key": {"public": TPM2B_PUBLIC, "certify_info": TPMS_ATTEST,
 *                        "certify_signature": TPMT_SIGNATURE}
 *   },
 *   "eventlog": the TCG log (optional),
 *   "hcl_report": the Azure HCL report (azure-sevsnp),
 *   "snp": {"report": ATTESTATION_REPORT, "certificates": GHCB table (optional),
 *           "runtime_data": the runtime claims JSON whose SHA-256 is REPORT_DATA[0..31]} (sevsnp)
 * }
 */

#define EVIDENCE_VERSION 1
#define EVIDENCE_PCRS_DEFAULT "0-7"
#define EVIDENCE_MAX_SIZE (4u * 1024u * 1024u)
#define EVIDENCE_KID_AK "HCLAkPub"
#define EVIDENCE_KID_ENC_KEY "TpmEphemeralEncryptionKey"
