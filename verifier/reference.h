/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

struct Diag;
struct json_object;

/*
 * The operator's reference values, and the claims derived from them: x-ms-compliance-status and,
 * from the event log, x-ms-azurevm-dbvalidated, -dbxvalidated and
 * -default-securebootkeysvalidated. A tenant's ReferenceValues= file, JSON:
 *
 *   {"name": "contoso-compliant-cvm",            the x-ms-compliance-status value (required)
 *    "sevsnpvm": {CLAIM: RULE, ...},              x-ms-sevsnpvm-* claims of the SNP report
 *    "azurevm": {CLAIM: RULE, ...,                top-level claims of an AzureGuest token
 *                "pcrs": {"N": [sha256 hex, ...]}, quoted SHA-256 PCR values allowed
 *                "PK"|"KEK"|"db"|"dbx": [sha256 hex of the variable's data as measured
 *                                          into PCR 7, ...]}}
 *   RULE: [value, ...] (the claim equals one of them: strings case-insensitively for hex), or
 *         {"min": N, "max": N} (an integer claim within bounds; either may be left out).
 *
 * SevSnpVm tokens get x-ms-compliance-status = name when "sevsnpvm" is given and every rule
 * holds. AzureGuest tokens: x-ms-isolation-tee gets it by the "sevsnpvm" rules, and the top level
 * gets it when "azurevm" is given, all its rules and PCRs hold, and the isolation TEE (when
 * there is one and "sevsnpvm" is given) is compliant too. A claim a rule names that is missing
 * fails the rule. Not compliant: the claim is left out (never a false "compliant"), and the
 * reason is returned for the log. The secure-boot variables: for each of PK, KEK, db, dbx
 * listed, true when the log's last measurement of that variable (EV_EFI_VARIABLE_DRIVER_CONFIG,
 * PCR 7, EFI global or image-security GUID) hashes to a listed value, false when it does not or
 * is absent; dbvalidated/dbxvalidated need "db"/"dbx", default-securebootkeysvalidated all four.
 * Pure.
 */

#define REFERENCE_VALUES_MAX (256u * 1024u)

typedef struct ReferenceValues ReferenceValues;

/* -E2BIG, -EBADMSG with a Diag naming the member. */
int reference_values_parse(const char *text, size_t size, ReferenceValues **ret, struct Diag *d);
ReferenceValues *reference_values_free(ReferenceValues *rv);

/*
 * Adds the derived claims to claims (appraisal's, with the policy-only "pcrs" and "events"
 * still in them). why (may be NULL) gets the first reason a compliance check failed, or "".
 * -ENOMEM only.
 */
int reference_values_apply(const ReferenceValues *rv, struct json_object *claims, char *why,
                           size_t why_size);
