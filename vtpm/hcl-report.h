/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct Diag;
struct json_object;

/*
 * The Azure HCL report in vTPM NV 0x01400001 (azure-cvm.md §3): "HCLA" header, a 1184-byte
 * hardware report slot (the SNP report), IGVM request data and the runtime claims JSON whose hash
 * the hardware report's REPORT_DATA carries. Pure.
 */

#define HCL_REPORT_MAX_SIZE 8192u
#define HCL_HW_REPORT_OFFSET 0x20u
#define HCL_HW_REPORT_SIZE 0x4A0u
#define HCL_REQUEST_DATA_OFFSET 0x4C0u
#define HCL_RUNTIME_DATA_OFFSET 0x4D4u

typedef enum HclReportType {
        HCL_REPORT_TYPE_INVALID = 0,
        HCL_REPORT_TYPE_VBS = 1,
        HCL_REPORT_TYPE_SNP = 2,
        HCL_REPORT_TYPE_TVM = 3,
        HCL_REPORT_TYPE_TDX = 4,
} HclReportType;

typedef struct HclReport {
        uint32_t version;            /* header 0x004: 1 or 2 */
        uint32_t report_size;        /* header 0x008 */
        uint32_t request_type;       /* header 0x00C */
        uint32_t status;             /* header 0x010 */
        const uint8_t *hw_report;    /* 0x020, HCL_HW_REPORT_SIZE bytes */
        uint32_t data_size;          /* 0x4C0 */
        uint32_t data_version;       /* 0x4C4 */
        uint32_t report_type;        /* 0x4C8 */
        uint32_t hash_type;          /* 0x4CC: 1 SHA-256, 2 SHA-384, 3 SHA-512 */
        const uint8_t *runtime_data; /* the runtime claims JSON, exactly as stored */
        uint32_t runtime_data_size;
        size_t runtime_data_offset;
} HclReport;

/*
 * Parses buf (2048 or 2600 bytes as NV captures come, at most HCL_REPORT_MAX_SIZE) without
 * copying: the HclReport points into buf. Checks the signature, that every size fits the buffer,
 * and that the runtime claims start with '{'. -EBADMSG with a Diag naming the field and offset;
 * -EPROTONOSUPPORT for an unknown report_type or hash_type.
 */
int hcl_report_parse(const uint8_t *buf, size_t size, HclReport *ret, struct Diag *d);

/*
 * Checks that REPORT_DATA (64 bytes from the hardware report) starts with the hash of the runtime
 * claims (hash_type decides the algorithm) and that the rest is zero. -EXDEV with a Diag if not.
 */
int hcl_report_check_binding(const HclReport *h, const uint8_t report_data[64], struct Diag *d);

/* The runtime claims as JSON (strict, capped). -EBADMSG if they do not parse. */
int hcl_runtime_claims(const HclReport *h, struct json_object **ret, struct Diag *d);
/* The key with kid in the claims' "keys" array (HCLAkPub, HCLEkPub). -ENOKEY if absent. */
int hcl_claims_key(struct json_object *claims, const char *kid, EVP_PKEY **ret, struct Diag *d);
/* The parsed header, request data and claims summary as JSON (for `check hcl`). */
int hcl_report_to_json(const HclReport *h, struct json_object *claims, struct json_object **ret);

const char *hcl_report_type_to_string(uint32_t t);
