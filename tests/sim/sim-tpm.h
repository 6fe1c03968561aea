/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

/*
 * A minimal TPM 2.0 client for the simulator's own use of swtpm: raw commands on swtpm's TCP
 * command port (no TCTI, no ESAPI), marshalled by hand and with tss2-mu. The TPM proxy injects
 * these on the connection it already holds, because swtpm serves one client at a time.
 * Authorization is always a password session (TPM_RS_PW).
 *
 * Return values: 0 on success; -errno for I/O errors and malformed responses (-EBADMSG); a TPM
 * error response becomes -ENOENT for TPM_RC_HANDLE (no such object or NV index), -EEXIST for
 * TPM_RC_NV_DEFINED, -EALREADY for TPM_RC_INITIALIZE on Startup, and -EREMOTEIO otherwise, logged
 * once with the response code. Nothing else logs.
 */

#define SIM_TPM_BUF_MAX      4096 /* TPM2_PT_MAX_COMMAND_SIZE / _RESPONSE_SIZE of swtpm */
#define SIM_TPM_NV_CHUNK     1024 /* TPM2_PT_NV_BUFFER_MAX of swtpm */
#define SIM_TPM_NV_INDEX_MAX 2048 /* TPM2_PT_NV_INDEX_MAX of swtpm */

/* swtpm control channel (swtpm's tpm_ioctl.h), on the port after the command port */
#define SIM_SWTPM_CMD_SET_LOCALITY 0x05

/* Connects to 127.0.0.1:port with send/receive timeouts; *ret_fd is the socket. */
int sim_tpm_connect(uint16_t port, int *ret_fd);

/*
 * Reads one complete TPM command or response (10-byte header, then the rest as its size field
 * says, at most max bytes) from fd. -EPIPE at a clean EOF before the first byte, -EBADMSG for a
 * size below 10 or above max.
 */
int sim_tpm_read_packet(int fd, uint8_t *buf, size_t max, size_t *ret_size);

/* Sends cmd (complete) and reads the response into resp. */
int sim_tpm_transact(int fd, const uint8_t *cmd, size_t cmd_size, uint8_t *resp, size_t resp_max,
                     size_t *ret_size);

/* One swtpm control-channel command (a fresh connection to ctrl_port); -EREMOTEIO if it fails. */
int sim_swtpm_ctrl(uint16_t ctrl_port, uint32_t cmd, const void *payload, size_t payload_size);

/* TPM2_Startup(su). -EALREADY if the TPM was already started. */
int sim_tpm_startup(int fd, TPM2_SU su);

/* TPM2_NV_ReadPublic. -ENOENT if the index is not defined. */
int sim_tpm_nv_read_public(int fd, TPM2_HANDLE index, TPMS_NV_PUBLIC *ret);
/* TPM2_NV_DefineSpace under auth_handle (owner or platform, empty auth) with the index's auth. */
int sim_tpm_nv_define(int fd, TPM2_HANDLE auth_handle, const uint8_t *index_auth,
                      size_t index_auth_size, TPM2_HANDLE index, TPMA_NV attributes, uint16_t size);
/* TPM2_NV_UndefineSpace under auth_handle (owner or platform, empty auth). */
int sim_tpm_nv_undefine(int fd, TPM2_HANDLE auth_handle, TPM2_HANDLE index);
/* TPM2_NV_Write of data at offset 0, in SIM_TPM_NV_CHUNK pieces; auth_handle is TPM_RH_OWNER,
 * TPM_RH_PLATFORM or the index itself, with password auth. */
int sim_tpm_nv_write(int fd, TPM2_HANDLE auth_handle, const uint8_t *auth, size_t auth_size,
                     TPM2_HANDLE index, const uint8_t *data, size_t size);
/* TPM2_NV_Read of size bytes from offset 0, in pieces. */
int sim_tpm_nv_read(int fd, TPM2_HANDLE auth_handle, const uint8_t *auth, size_t auth_size,
                    TPM2_HANDLE index, uint8_t *buf, size_t size);

/* TPM2_ReadPublic. -ENOENT if there is no such object. */
int sim_tpm_read_public(int fd, TPM2_HANDLE handle, TPM2B_PUBLIC *ret);
/* TPM2_CreatePrimary in hierarchy (empty auth), empty sensitive data, no creation PCRs. */
int sim_tpm_create_primary(int fd, TPM2_HANDLE hierarchy, const TPM2B_PUBLIC *in_public,
                           TPM2_HANDLE *ret_handle, TPM2B_PUBLIC *ret_public);
/* TPM2_EvictControl with owner auth: persist object at persistent (or evict it if equal). */
int sim_tpm_evict_control(int fd, TPM2_HANDLE object, TPM2_HANDLE persistent);
/* TPM2_FlushContext. */
int sim_tpm_flush(int fd, TPM2_HANDLE handle);
/* TPM2_PCR_Extend of one PCR with a digest per bank (empty auth). */
int sim_tpm_pcr_extend(int fd, uint32_t pcr, const TPML_DIGEST_VALUES *digests);
/* TPM2_PCR_Read of one PCR in one bank; *ret_size is the digest size. -ENOENT if the bank is
 * not allocated. */
int sim_tpm_pcr_read(int fd, TPM2_ALG_ID bank, uint32_t pcr, uint8_t ret[static 64],
                     size_t *ret_size);
