/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/sim-abi.h"
#include "tests/sim/sim-platform.h"

/*
 * The simulated AMD secure processor and host: builds ATTESTATION_REPORTs straight from spec
 * section 3, signs them with the VCEK/VLEK (ECDSA P-384, SHA-384, r/s little-endian), and
 * answers guest requests the way the host + firmware + sev-guest driver would, including the
 * failures platform.conf asks for. Functions return 0 or -errno; they log only what is wrong with
 * DIR's files.
 */

/* Serializes a report (unsigned: the signature area is zero). */
void sim_report_build(const SimPlatform *p, const uint8_t report_data[static 64], uint32_t vmpl,
                      const uint8_t report_id[static 32], uint8_t report[static SIM_REPORT_SIZE]);
/* Builds and signs with DIR's VCEK or VLEK key, as p->signing_key says. */
int sim_report_make(const char *dir, const SimPlatform *p, const uint8_t report_data[static 64],
                    uint32_t vmpl, const uint8_t report_id[static 32],
                    uint8_t report[static SIM_REPORT_SIZE]);
/* The certificate table (VCEK or VLEK, ASK or ASVK, ARK) from DIR's DER files. */
int sim_cert_table_build(const char *dir, const SimPlatform *p, uint8_t **ret, size_t *ret_size);

typedef struct SimFwRequest {
        uint8_t report_data[64];
        uint32_t vmpl;
        bool extended;      /* SNP_GET_EXT_REPORT (configfs uses it too) */
        uint32_t certs_len; /* certificate buffer offered; 0: no certificates wanted */
} SimFwRequest;

typedef struct SimFwResult {
        int error;          /* 0, or the positive errno the driver returns */
        uint64_t exitinfo2; /* what the driver leaves in exitinfo2; 0: not copied back */
        uint32_t certs_len; /* EIO + vmm_error 1: required size */
        uint8_t resp[SIM_REPORT_RESP_SIZE]; /* struct snp_report_resp, valid when error == 0 */
        uint8_t *certs;     /* the table when error == 0 and certificates were wanted */
        size_t certs_size;  /* bytes in certs (<= the offered certs_len); 0: host has none */
} SimFwResult;

void sim_fw_result_done(SimFwResult *r);

/*
 * One guest request against DIR (platform.conf re-read now). Driver-level failures are data in
 * *ret (ret->error); a negative return means the simulator itself failed (bad platform.conf,
 * missing key), already logged.
 */
int sim_fw_request(const char *dir, const uint8_t report_id[static 32], const SimFwRequest *req,
                   SimFwResult *ret);
