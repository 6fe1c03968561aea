/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The guest-visible ABI the simulator implements, written from shared/spec/snp.md (sections 1, 3
 * and 5), which mirrors Linux include/uapi/linux/sev-guest.h and AMD's SEV-SNP firmware ABI
 * (doc 56860). Deliberately independent of the project's snp/ code, so that the simulator
 * cross-checks our parser instead of agreeing with it by construction.
 *
 * The structs below mirror kernel uapi structs that user space passes by pointer to ioctl(); they
 * are not wire formats parsed from untrusted bytes, so each gets a static_assert on its size.
 */

#include <assert.h>
#include <stdint.h>

/* ioctl type 'S', _IOWR, argument struct snp_guest_request_ioctl (32 bytes) */
#define SIM_SNP_GET_REPORT 0xC0205300UL
#define SIM_SNP_GET_DERIVED_KEY 0xC0205301UL
#define SIM_SNP_GET_EXT_REPORT 0xC0205302UL

/* GHCB vmm_error values carried in exitinfo2 bits 63:32 */
#define SIM_VMM_ERR_INVALID_LEN 1U
#define SIM_VMM_ERR_BUSY 2U
#define SIM_VMM_ERR_SHIFT 32

/* SEV firmware status codes used by the simulator */
#define SIM_FW_INVALID_PARAM 0x16U
#define SIM_FW_INVALID_KEY 0x27U

/* SEV_FW_BLOB_MAX_SIZE: the driver's cap on the certificate buffer */
#define SIM_CERTS_MAX 0x4000U
#define SIM_PAGE_SIZE 4096U

typedef struct SimGuestRequestIoctl {
        uint8_t msg_version; /* must be non-zero */
        uint8_t pad[7];
        uint64_t req_data;   /* user pointer to the request struct */
        uint64_t resp_data;  /* user pointer to struct snp_report_resp */
        uint64_t exitinfo2;  /* bits 31:0 fw_error, 63:32 vmm_error */
} SimGuestRequestIoctl;
static_assert(sizeof(SimGuestRequestIoctl) == 32, "snp_guest_request_ioctl is 32 bytes");

typedef struct SimReportReq {
        uint8_t user_data[64]; /* goes to REPORT_DATA */
        uint32_t vmpl;
        uint8_t rsvd[28];
} SimReportReq;
static_assert(sizeof(SimReportReq) == 96, "snp_report_req is 96 bytes");

typedef struct SimExtReportReq {
        SimReportReq data;
        uint64_t certs_address; /* user buffer for the certificate table, 0: none */
        uint32_t certs_len;     /* in: buffer size; out on vmm_error 1: required size */
        uint32_t pad;
} SimExtReportReq;
static_assert(sizeof(SimExtReportReq) == 112, "snp_ext_report_req is 112 bytes");

/* struct snp_report_resp: MSG_REPORT_RSP, 4000 bytes */
#define SIM_REPORT_RESP_SIZE 4000U
#define SIM_REPORT_RESP_STATUS 0x00   /* u32 firmware status */
#define SIM_REPORT_RESP_REPORT_SIZE 0x04 /* u32 */
#define SIM_REPORT_RESP_REPORT 0x20   /* the ATTESTATION_REPORT */

/* ATTESTATION_REPORT (spec section 3): offsets of the fields the simulator writes */
#define SIM_REPORT_SIZE 0x4A0U
#define SIM_REPORT_SIGNED_SIZE 0x2A0U /* bytes 0x000..0x29F are signed */
#define SIM_R_VERSION 0x000
#define SIM_R_GUEST_SVN 0x004
#define SIM_R_POLICY 0x008
#define SIM_R_FAMILY_ID 0x010
#define SIM_R_IMAGE_ID 0x020
#define SIM_R_VMPL 0x030
#define SIM_R_SIGNATURE_ALGO 0x034
#define SIM_R_CURRENT_TCB 0x038
#define SIM_R_PLATFORM_INFO 0x040
#define SIM_R_SIGNER_INFO 0x048 /* bit 0 AUTHOR_KEY_EN, 1 MASK_CHIP_KEY, 4:2 SIGNING_KEY */
#define SIM_R_REPORT_DATA 0x050
#define SIM_R_MEASUREMENT 0x090
#define SIM_R_HOST_DATA 0x0C0
#define SIM_R_ID_KEY_DIGEST 0x0E0
#define SIM_R_AUTHOR_KEY_DIGEST 0x110
#define SIM_R_REPORT_ID 0x140
#define SIM_R_REPORT_ID_MA 0x160
#define SIM_R_REPORTED_TCB 0x180
#define SIM_R_CPUID_FAM_ID 0x188 /* v3+ */
#define SIM_R_CPUID_MOD_ID 0x189 /* v3+ */
#define SIM_R_CPUID_STEP 0x18A   /* v3+ */
#define SIM_R_CHIP_ID 0x1A0
#define SIM_R_COMMITTED_TCB 0x1E0
#define SIM_R_CURRENT_BUILD 0x1E8
#define SIM_R_CURRENT_MINOR 0x1E9
#define SIM_R_CURRENT_MAJOR 0x1EA
#define SIM_R_COMMITTED_BUILD 0x1EC
#define SIM_R_COMMITTED_MINOR 0x1ED
#define SIM_R_COMMITTED_MAJOR 0x1EE
#define SIM_R_LAUNCH_TCB 0x1F0
#define SIM_R_LAUNCH_MIT_VECTOR 0x1F8  /* v5 */
#define SIM_R_CURRENT_MIT_VECTOR 0x200 /* v5 */
#define SIM_R_SIG_R 0x2A0 /* 72 bytes little-endian */
#define SIM_R_SIG_S 0x2E8 /* 72 bytes little-endian */
#define SIM_SIG_COMPONENT_SIZE 72U

#define SIM_SIGNATURE_ALGO_ECDSA_P384_SHA384 1U
#define SIM_POLICY_RESERVED_MBO (UINT64_C(1) << 17) /* POLICY bit 17 must be one */

/* Certificate table (spec section 5): 24-byte entries, all-zero terminator, then blobs */
#define SIM_CERT_ENTRY_SIZE 24U
/* GUIDs in RFC 4122 byte order, i.e. the bytes as written in the string form */
#define SIM_GUID_VCEK                                                                         \
        { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, \
          0xac, 0xcd }
#define SIM_GUID_VLEK                                                                         \
        { 0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, \
          0xb8, 0xa1 }
#define SIM_GUID_ASK                                                                          \
        { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, \
          0xc7, 0x82 }
#define SIM_GUID_ARK                                                                          \
        { 0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, \
          0xd0, 0xae }
