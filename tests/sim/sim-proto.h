/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The private protocol between the /dev/sev-guest shim (cvm-sim-sevguest.so) and cvm-simd, over
 * the Unix stream socket $CVM_SIM_DIR/sevguest.sock. One request per connection:
 *
 *   shim -> daemon: SimProtoRequest (96 bytes)
 *   daemon -> shim: SimProtoResponse (32 bytes), then resp_size bytes of struct snp_report_resp
 *                   (4000 when error == 0, else 0), then certs_size bytes of certificate table
 *                   (only when error == 0).
 *
 * Both ends run on the same machine and are built from the same tree, so the fields are in host
 * byte order; magic and version catch a stale build talking to a newer one. The shim does the
 * driver's own argument checks (msg_version, certs_len) and the daemon plays the host and the
 * firmware (report, signature, certificate table, injected failures).
 */

#include <assert.h>
#include <stdint.h>

#define SIM_PROTO_SOCKET "sevguest.sock"
#define SIM_PROTO_REQ_MAGIC 0x51534d43U  /* "CMSQ" */
#define SIM_PROTO_RESP_MAGIC 0x52534d43U /* "CMSR" */
#define SIM_PROTO_VERSION 1U

typedef enum SimProtoOp {
        SIM_PROTO_OP_REPORT = 1,     /* SNP_GET_REPORT */
        SIM_PROTO_OP_EXT_REPORT = 2, /* SNP_GET_EXT_REPORT */
} SimProtoOp;

typedef struct SimProtoRequest {
        uint32_t magic;
        uint32_t version;
        uint32_t op;         /* SimProtoOp */
        uint32_t vmpl;
        uint32_t certs_len;  /* certificate buffer the guest offers; 0: no certificates wanted */
        uint32_t reserved[3];
        uint8_t user_data[64];
} SimProtoRequest;
static_assert(sizeof(SimProtoRequest) == 96, "SimProtoRequest is 96 bytes");

typedef struct SimProtoResponse {
        uint32_t magic;
        int32_t error;      /* 0, or the positive errno the driver returns */
        uint64_t exitinfo2; /* as the driver leaves it; 0: nothing to copy back */
        uint32_t certs_len; /* error EIO + vmm_error 1: required size; else table bytes following */
        uint32_t resp_size; /* SIM_REPORT_RESP_SIZE on success, else 0 */
        uint64_t reserved;
} SimProtoResponse;
static_assert(sizeof(SimProtoResponse) == 32, "SimProtoResponse is 32 bytes");
