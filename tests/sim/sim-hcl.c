/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <openssl/evp.h>
#include <stdio.h>

#include "tests/sim/sim-hcl.h"
#include "common/codec.h"
#include "tests/sim/sim-firmware.h"
#include "tests/sim/sim-util.h"

/* HCL report layout (azure-cvm.md section 3) */
#define HCL_SIGNATURE            0x414C4348U /* "HCLA" as stored bytes */
#define HCL_VERSION              2U /* OpenHCL's ATTESTATION_VERSION, as the Genoa capture */
#define HCL_REQUEST_AK_CERT      2U /* request_type of the vTPM report */
#define HCL_OFF_VERSION          0x004
#define HCL_OFF_REPORT_SIZE      0x008
#define HCL_OFF_REQUEST_TYPE     0x00C
#define HCL_OFF_HW_REPORT        0x020
#define HCL_OFF_DATA_SIZE        0x4C0
#define HCL_OFF_DATA_VERSION     0x4C4
#define HCL_OFF_REPORT_TYPE      0x4C8
#define HCL_OFF_HASH_TYPE        0x4CC
#define HCL_OFF_VAR_SIZE         0x4D0
#define HCL_OFF_VAR_DATA         0x4D4
#define IGVM_REQUEST_DATA_HEADER 20U /* data_size .. variable_data_size */
#define IGVM_REQUEST_VERSION     1U
#define IGVM_REPORT_TYPE_SNP     2U
#define IGVM_HASH_SHA256         1U

static_assert(HCL_OFF_HW_REPORT + SIM_REPORT_SIZE == HCL_OFF_DATA_SIZE, "hardware report slot");

/*
 * The runtime claims, compact, keys in the order OpenHCL's serde output has them.
 *
 * Size: swtpm caps an NV index at 2048 bytes, which leaves 2048 - 0x4D4 = 812 bytes for the
 * claims. The HCLAkPub JWK alone takes ~410 bytes and user-data ~142, so vm-configuration is kept
 * to the essential flags and HCLEkPub is left out: with a second RSA-2048 JWK the claims would need
 * ~1130 bytes. That is how Azure's own 2048-byte capture looks (azure-cvm-tooling
 * hcl-report-snp.bin: only HCLAkPub, 583 bytes of claims); newer 2600-byte reports add HCLEkPub.
 * user-data is always 128 hex digits, so writing NV 0x01400002 never changes the length.
 */
int sim_hcl_claims_json(const SimHclClaims *c, char **ret, size_t *ret_size) {
        _cleanup_(freep) char *n = NULL, *e = NULL, *json = NULL;
        char user_data[2 * SIM_HCL_USER_DATA_SIZE + 1];
        uint8_t eb[4];
        size_t skip = 0;
        int len, r;

        if (c->ak_n_size == 0 || c->ak_n_size > sizeof(c->ak_n))
                return -EINVAL;
        /* e as its minimal big-endian bytes (65537 -> AQAB) */
        eb[0] = (uint8_t) (c->ak_e >> 24);
        eb[1] = (uint8_t) (c->ak_e >> 16);
        eb[2] = (uint8_t) (c->ak_e >> 8);
        eb[3] = (uint8_t) c->ak_e;
        while (skip < 3 && eb[skip] == 0)
                skip++;
        r = base64url_encode(c->ak_n, c->ak_n_size, &n);
        if (r < 0)
                return r;
        r = base64url_encode(eb + skip, sizeof(eb) - skip, &e);
        if (r < 0)
                return r;
        hex_encode_buf(c->user_data, sizeof(c->user_data), user_data);
        len = asprintf(&json,
                       "{\"keys\":[{\"kid\":\"HCLAkPub\",\"key_ops\":[\"sign\"],\"kty\":\"RSA\","
                       "\"e\":\"%s\",\"n\":\"%s\"}],"
                       "\"vm-configuration\":{\"console-enabled\":%s,\"secure-boot\":%s,"
                       "\"tpm-enabled\":%s,\"tpm-persisted\":true,\"vmUniqueId\":\"%s\"},"
                       "\"user-data\":\"%s\"}",
                       e, n, c->console_enabled ? "true" : "false",
                       c->secure_boot ? "true" : "false", c->tpm_enabled ? "true" : "false",
                       c->vm_unique_id, user_data);
        if (len < 0) {
                json = NULL;
                return -ENOMEM;
        }
        *ret = TAKE_PTR(json);
        *ret_size = (size_t) len;
        return 0;
}

int sim_hcl_report_make(const char *dir, const SimPlatform *p, const uint8_t report_id[static 32],
                        const SimHclClaims *c, uint8_t ret[static SIM_HCL_NV_SIZE]) {
        _cleanup_(freep) char *json = NULL;
        uint8_t report_data[64] = {};
        unsigned md_size = 0;
        size_t len;
        int r;

        r = sim_hcl_claims_json(c, &json, &len);
        if (r < 0)
                return r;
        if (len > SIM_HCL_NV_SIZE - HCL_OFF_VAR_DATA)
                return sim_log_errno(-E2BIG, "Runtime claims of %zu bytes do not fit the NV index",
                                     len);
        /* REPORT_DATA = SHA-256 of the claims bytes exactly as stored, then 32 zero bytes */
        if (EVP_Digest(json, len, report_data, &md_size, EVP_sha256(), NULL) != 1 || md_size != 32)
                return -EIO;

        memset(ret, 0, SIM_HCL_NV_SIZE);
        sim_put_le32(ret, HCL_SIGNATURE);
        sim_put_le32(ret + HCL_OFF_VERSION, HCL_VERSION);
        /* report_size: header + hardware report + request data, as in every capture */
        sim_put_le32(ret + HCL_OFF_REPORT_SIZE,
                     (uint32_t) (HCL_OFF_DATA_SIZE + IGVM_REQUEST_DATA_HEADER + len));
        sim_put_le32(ret + HCL_OFF_REQUEST_TYPE, HCL_REQUEST_AK_CERT);
        /* status 0 and the reserved bytes up to 0x20 stay zero */
        r = sim_report_make(dir, p, report_data, /* vmpl= */ 0, report_id, ret + HCL_OFF_HW_REPORT);
        if (r < 0)
                return r;
        sim_put_le32(ret + HCL_OFF_DATA_SIZE, (uint32_t) (IGVM_REQUEST_DATA_HEADER + len));
        sim_put_le32(ret + HCL_OFF_DATA_VERSION, IGVM_REQUEST_VERSION);
        sim_put_le32(ret + HCL_OFF_REPORT_TYPE, IGVM_REPORT_TYPE_SNP);
        sim_put_le32(ret + HCL_OFF_HASH_TYPE, IGVM_HASH_SHA256);
        sim_put_le32(ret + HCL_OFF_VAR_SIZE, (uint32_t) len);
        memcpy(ret + HCL_OFF_VAR_DATA, json, len);
        return 0;
}

void sim_hcl_vm_unique_id(const SimPlatform *p, char ret[static 37]) {
        static const char label[] = "cvm-sim vmUniqueId";
        uint8_t in[sizeof(label) + sizeof(p->chip_id)], h[32] = {};
        unsigned n = 0;

        if (p->hcl_vm_unique_id[0] != '\0') {
                /* it goes into JSON unescaped: GUID characters only */
                if (strspn(p->hcl_vm_unique_id, "0123456789ABCDEFabcdef-") ==
                    strlen(p->hcl_vm_unique_id)) {
                        snprintf(ret, 37, "%s", p->hcl_vm_unique_id);
                        return;
                }
                sim_log("hcl_vm_unique_id '%s' is not a GUID; deriving one from chip_id",
                        p->hcl_vm_unique_id);
        }
        /* stable per simulated machine: derived from its CHIP_ID, shaped as a version 4 GUID */
        memcpy(in, label, sizeof(label));
        memcpy(in + sizeof(label), p->chip_id, sizeof(p->chip_id));
        (void) EVP_Digest(in, sizeof(in), h, &n, EVP_sha256(), NULL);
        h[6] = (uint8_t) ((h[6] & 0x0f) | 0x40);
        h[8] = (uint8_t) ((h[8] & 0x3f) | 0x80);
        snprintf(ret, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
                 h[13], h[14], h[15]);
}
