/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <time.h>

struct Diag;
struct SnpTrust;
struct json_object;

/*
 * Appraisal: a request body (MAA's REST API, maa.md §2) turned into verified claims named as MAA
 * names them, ready for the tenant's policy. Pure: the trust anchors and the time are arguments.
 */

#define APPRAISE_BODY_MAX (1024u * 1024u)

typedef struct AppraiseContext {
        const struct SnpTrust *trust;
        time_t now;
} AppraiseContext;

/*
 * POST /attest/SevSnpVm: {"report": base64url({"SnpReport": base64url(report),
 * "VcekCertChain": base64url(PEM VCEK, ASK, ARK)}), "runtimeData": {"data", "dataType"},
 * "initTimeData"?, "nonce"?}. Verifies the report's chain and signature, that SHA-256 of the
 * runtime data is REPORT_DATA (the first 32 bytes; the rest zero), and of the init-time data is
 * HOST_DATA. On success *ret_claims holds x-ms-attestation-type "sevsnpvm", every
 * x-ms-sevsnpvm-* claim, x-ms-runtime (runtime data of type JSON), x-ms-inittime, and nonce.
 * -EBADMSG malformed body (Diag names the member), -E2BIG over APPRAISE_BODY_MAX, and the SNP
 * verification errors (-EKEYREJECTED, -ENOKEY, -EKEYEXPIRED, -EXDEV).
 */
int appraise_sevsnpvm(const AppraiseContext *ctx, const char *body, size_t size,
                      struct json_object **ret_claims, struct Diag *d);
