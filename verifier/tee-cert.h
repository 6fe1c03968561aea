/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct Diag;
struct JwsKey;
struct SnpReport;
struct SnpSource;
struct SnpTrust;
struct json_object;

/*
 * Trust in the verifier itself: when cvm-verifier runs in an SEV-SNP guest, its token-signing
 * certificate (published as x5c[0] of its JWKS) carries the guest's own ATTESTATION_REPORT, whose
 * REPORT_DATA is SHA-512 of the signing key's DER SubjectPublicKeyInfo. A relying party then needs
 * only the JWKS and AMD's roots to know that the key that signed a token lives in that guest.
 *
 * The extension: OID TEE_CERT_OID (a UUID OID, ITU-T X.667, from the UUID
 * 502ceaf7-238e-484f-904b-ac1ba44e8e65; one OID per kind of TEE evidence, this one is SEV-SNP),
 * non-critical, its extnValue the DER of
 *
 *     SnpTeeEvidence ::= SEQUENCE {
 *         version        INTEGER (1),
 *         report         OCTET STRING (SIZE (1184)),     -- raw ATTESTATION_REPORT
 *         vcek           [0] EXPLICIT Certificate OPTIONAL,  -- VCEK or VLEK that signed it
 *         intermediates  [1] EXPLICIT SEQUENCE OF Certificate OPTIONAL  -- ASK or ASVK
 *     }
 *
 * Roots never come from the extension: the ARK must be in the verifier's SnpTrust (AMD's are
 * compiled in, a simulator's is added explicitly). The certificate's own signature and dates are
 * statements of the key holder, who signs the tokens anyway, so they add nothing to the binding
 * and are not checked: the binding is REPORT_DATA, and a certificate issued by a CA works as well
 * as the self-signed one tee_cert_build makes.
 */

/* The extension's OID, dotted. */
#define TEE_CERT_OID "2.25.106571466388776182050339992508191116901"
#define TEE_CERT_VERSION 1
/* Largest extension value we decode: a report, a VCEK and an RSA-4096 ASK fit in 6 KiB. */
#define TEE_CERT_EXT_MAX_SIZE (64u * 1024u)

/* What goes into the extension. For tee_cert_build the pointers are borrowed; tee_cert_collect
 * fills a new one that tee_evidence_done() frees. */
typedef struct TeeEvidence {
        uint8_t *report; /* raw ATTESTATION_REPORT, SNP_REPORT_SIZE bytes */
        size_t report_size;
        uint8_t *vcek; /* DER VCEK or VLEK; NULL when the host supplied none */
        size_t vcek_size;
        uint8_t *ask; /* DER ASK or ASVK from the host's certificate table, or NULL */
        size_t ask_size;
} TeeEvidence;

void tee_evidence_done(TeeEvidence *e);

/* REPORT_DATA for key: SHA-512 of its DER SubjectPublicKeyInfo (i2d_PUBKEY). -ENOMEM, -EINVAL
 * for a key without a public part. Pure. */
int tee_cert_report_data(EVP_PKEY *key, uint8_t ret[static 64]);

/*
 * A new self-signed X.509 v3 certificate for key (RSA or EC: -EPROTONOSUPPORT otherwise), signed
 * by key itself with SHA-256: subject and issuer CN=common_name, a random 128-bit serial, valid
 * from now - 5 minutes to now + lifetime_days (1..3650, else -EINVAL), basicConstraints CA:FALSE
 * and keyUsage digitalSignature (both critical), and, when ev is not NULL, the extension above
 * with ev's report (exactly SNP_REPORT_SIZE bytes, else -EINVAL), VCEK and ASK (each optional;
 * DER that does not parse is -EBADMSG). It does not check that the report binds key: that is
 * tee_cert_verify's job (and tests build unbound ones on purpose). *ret is the caller's
 * (X509_free); untouched on failure. Pure (OpenSSL's RNG for the serial and ECDSA).
 */
int tee_cert_build(EVP_PKEY *key, const char *common_name, int lifetime_days, time_t now,
                   const TeeEvidence *ev, X509 **ret);

/*
 * Verifies the TEE evidence in cert, in this order:
 *  1. the extension: none is -ENOMSG; twice, or a value that is not one SnpTeeEvidence DER
 *     structure (or over TEE_CERT_EXT_MAX_SIZE), -EBADMSG; another version -EPROTONOSUPPORT;
 *  2. the report parses (snp_report_parse; -EBADMSG, -EPROTONOSUPPORT);
 *  3. the VCEK/VLEK chains to a root in trust at time now, with the extension's intermediates
 *     and then trust's (snp_endorsement_verify: -ENOKEY also when the extension has no VCEK,
 *     -EKEYREJECTED, -EKEYEXPIRED, -EBADMSG for a malformed AMD extension), and the report's
 *     signature, TCB and chip id match it (-EKEYREJECTED for any mismatch);
 *  4. REPORT_DATA equals tee_cert_report_data() of cert's public key (-EXDEV: not bound);
 *  5. POLICY.DEBUG is clear (-EPERM: a debuggable guest's memory is open to its host, so its
 *     key proves nothing);
 *  6. when measurement (SNP_MEASUREMENT_SIZE bytes) is not NULL, MEASUREMENT equals it (-EXDEV,
 *     the Diag giving both in hex).
 * On success *ret_report (may be NULL) is the parsed report and *ret_json (may be NULL) a new
 * object: "type" "sevsnpvm", "product", "report_version", "measurement", "chip_id", "vmpl",
 * "host_data", "report_data", "policy" {"raw", "debug", "smt", "migrate_ma"}, "tcb" {"raw",
 * "bootloader", "tee", "snp", "microcode"[, "fmc"]} (REPORTED_TCB), "signer" ("vcek"/"vlek") and
 * "chain" (the endorsement's common names, leaf first). Both untouched on failure. -ENOMEM.
 * The Diag says which step failed. Pure; never logs.
 */
int tee_cert_verify(X509 *cert, const struct SnpTrust *trust, time_t now,
                    const uint8_t *measurement, struct SnpReport *ret_report,
                    struct json_object **ret_json, struct Diag *d);

/*
 * tee_cert_verify for the key that verified a token (jws_verify_key): the key must have an x5c
 * (else -ENOMSG, "no certificate"), and x5c[0]'s public key must equal the key's (else -EXDEV),
 * then x5c[0] is verified as above. Pure.
 */
int tee_cert_verify_key(const struct JwsKey *k, const struct SnpTrust *trust, time_t now,
                        const uint8_t *measurement, struct SnpReport *ret_report,
                        struct json_object **ret_json, struct Diag *d);

/*
 * [io] Asks the SEV-SNP firmware through src (snp_source_get_report, VMPL 0, with the host's
 * certificate table) for a report whose REPORT_DATA is tee_cert_report_data(key), and takes the
 * VCEK (or VLEK) and ASK (or ASVK) DER out of the table (checked by snp_cert_table_parse; absent
 * entries stay NULL; the ARK is left out, as verifiers never take roots from evidence). Errors
 * are snp_source_get_report's (-ENODEV/-ENOENT: not an SNP guest, -EIO, -EBUSY, ...), -EBADMSG
 * for a malformed certificate table, -ENOMEM. *ret is the caller's (tee_evidence_done), untouched
 * on failure. Logs at debug only. Typical use, at service start (outside an SNP guest collecting
 * fails with -ENODEV/-ENOENT, and the certificate is then a plain one):
 *
 *     _cleanup_(tee_evidence_done) TeeEvidence ev = {};
 *     r = tee_cert_collect(key, &(SnpSource) { .kind = SNP_SOURCE_AUTO }, &ev, &d);
 *     r = tee_cert_build(key, "cvm-verifier token signing", 365, time(NULL),
 *                        r >= 0 ? &ev : NULL, &cert);
 */
int tee_cert_collect(EVP_PKEY *key, const struct SnpSource *src, TeeEvidence *ret,
                     struct Diag *d);
