/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/sim-platform.h"

/*
 * The Azure paravisor's HCL report (azure-cvm.md sections 3-5), as the simulator writes it into
 * vTPM NV 0x01400001: "HCLA" header (version 2, request type 2), the SNP report at 0x20 signed by
 * the simulated VCEK at VMPL 0 with REPORT_DATA = SHA-256(runtime claims) || 32 zero bytes, the
 * IGVM request data (version 1, report type 2 = SNP, hash type 1 = SHA-256) and the runtime claims
 * JSON, zero-padded to the NV index size.
 */

#define SIM_HCL_NV_SIZE        2048U /* swtpm's NV index cap; Azure's older reports use 2048 too */
#define SIM_HCL_USER_DATA_SIZE 64U

/* NV indices and handles of an Azure vTPM (azure-cvm.md section 2) */
#define SIM_NV_HCL_REPORT    0x01400001U
#define SIM_NV_HCL_USER_DATA 0x01400002U
#define SIM_NV_AK_CERT       0x01C101D0U
#define SIM_NV_EK_CERT_RSA   0x01C00002U
#define SIM_AK_HANDLE        0x81000003U

typedef struct SimHclClaims {
        uint8_t ak_n[512]; /* the AK's RSA modulus, big-endian */
        size_t ak_n_size;
        uint32_t ak_e; /* its public exponent */
        bool console_enabled, secure_boot, tpm_enabled;
        char vm_unique_id[37]; /* uppercase GUID */
        uint8_t user_data[SIM_HCL_USER_DATA_SIZE];
} SimHclClaims;

/*
 * The runtime claims JSON, compact and in the producer's key order; *ret is NUL-terminated.
 * Its length does not depend on the user data. Pure.
 */
int sim_hcl_claims_json(const SimHclClaims *c, char **ret, size_t *ret_size);

/*
 * Builds the whole NV content (SIM_HCL_NV_SIZE bytes) for claims c, signing the SNP report with
 * DIR's VCEK/VLEK as p says. -E2BIG if the claims do not fit. Logs failures to read the key.
 */
int sim_hcl_report_make(const char *dir, const SimPlatform *p, const uint8_t report_id[static 32],
                        const SimHclClaims *c, uint8_t ret[static SIM_HCL_NV_SIZE]);

/* vmUniqueId for p: p->hcl_vm_unique_id, or a GUID derived from CHIP_ID. */
void sim_hcl_vm_unique_id(const SimPlatform *p, char ret[static 37]);
