/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim-qemu-probe SOCKET: plays QEMU's `-tpmdev emulator` against `cvm-simd qemu-tpm --azure` on
 * SOCKET, for test-sim-qemu.sh. First a connection that passes a descriptor with a command other
 * than CMD_SET_DATAFD, which the proxy must drop. Then QEMU's start-up on a second connection:
 * CMD_GET_CAPABILITY, CMD_SET_DATAFD with one end of a socketpair, CMD_SET_LOCALITY 0, CMD_INIT;
 * on the data channel TPM2_Startup(CLEAR), the boot-time HCL report (user-data zero), 64 random
 * bytes written to NV 0x01400002 with owner auth as the agent writes them, and the report read
 * back, which must carry their hex as user-data in its runtime claims; finally CMD_SHUTDOWN.
 * Prints one line per step; exit 0 when all passed.
 */
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "common/codec.h"
#include "tests/sim/sim-hcl.h"
#include "tests/sim/sim-tpm.h"
#include "tests/sim/sim-util.h"

/* swtpm's tpm_ioctl.h */
#define CMD_GET_CAPABILITY 0x01U
#define CMD_INIT           0x02U
#define CMD_SHUTDOWN       0x03U
#define CMD_SET_LOCALITY   0x05U
#define CMD_SET_DATAFD     0x10U
#define PTM_CAP_SET_DATAFD (1U << 12)

#define HCL_HEADER_MAGIC "HCLA"

static int failures;

static void step(bool ok, const char *what) {
        printf("%s - %s\n", ok ? "ok" : "FAIL", what);
        if (!ok)
                failures++;
}

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* One control command as QEMU sends it (with pass_fd attached if >= 0); reads out_size bytes. */
static int ctrl(int sock, uint32_t cmd, const void *in, size_t in_size, int pass_fd, void *out,
                size_t out_size) {
        union {
                struct cmsghdr align;
                uint8_t space[CMSG_SPACE(sizeof(int))];
        } control = {};
        uint8_t buf[64];
        struct iovec iov = {.iov_base = buf, .iov_len = 4 + in_size};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

        if (in_size > sizeof(buf) - 4)
                return -EINVAL;
        put_be32(buf, cmd);
        if (in_size > 0)
                memcpy(buf + 4, in, in_size);
        if (pass_fd >= 0) {
                msg.msg_control = control.space;
                msg.msg_controllen = sizeof(control.space);
                CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
                CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
                CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &pass_fd, sizeof(int));
        }
        if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t) iov.iov_len)
                return -EIO;
        return sim_read_full(sock, out, out_size);
}

/* A control command answered by a lone ptm_res; 0 if the result is TPM_SUCCESS. */
static int ctrl_res(int sock, uint32_t cmd, const void *in, size_t in_size, int pass_fd) {
        uint8_t res[4];
        int r;

        r = ctrl(sock, cmd, in, in_size, pass_fd, res, sizeof(res));
        if (r < 0)
                return r;
        return get_be32(res) == 0 ? 0 : -EREMOTEIO;
}

/* The HCL report's runtime claims carry user-data = hex (lowercase) of user_data. */
static bool report_has_user_data(int data, const uint8_t user_data[static 64]) {
        uint8_t report[SIM_HCL_NV_SIZE + 1];
        char want[16 + 128 + 2];

        if (sim_tpm_nv_read(data, TPM2_RH_OWNER, NULL, 0, SIM_NV_HCL_REPORT, report,
                            SIM_HCL_NV_SIZE) < 0)
                return false;
        report[SIM_HCL_NV_SIZE] = 0;
        memcpy(want, "\"user-data\":\"", 13);
        hex_encode_buf(user_data, 64, want + 13);
        memcpy(want + 13 + 128, "\"", 2);
        return memcmp(report, HCL_HEADER_MAGIC, 4) == 0 &&
               memmem(report, SIM_HCL_NV_SIZE, want, strlen(want)) != NULL;
}

/* A descriptor passed with anything but CMD_SET_DATAFD: the proxy closes the connection. */
static void probe_refusal(const char *path) {
        _cleanup_(closep) int sock = -EBADF, fd = -EBADF;
        uint8_t caps[8];
        int r;

        r = sim_connect_unix(path, 30, &sock);
        if (r < 0) {
                step(false, "connect to the proxy");
                return;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = ctrl(sock, CMD_GET_CAPABILITY, NULL, 0, fd, caps, sizeof(caps));
        step(r == -EPIPE || r == -ECONNRESET,
             "a descriptor passed with CMD_GET_CAPABILITY: the proxy drops the connection");
}

int main(int argc, char **argv) {
        _cleanup_(closep) int sock = -EBADF, data = -EBADF;
        uint8_t caps[8], loc[4] = {0}, init[4] = {0}, user_data[64], zeros[64] = {};
        int pair[2], r;

        if (argc != 2) {
                fprintf(stderr, "Usage: sim-qemu-probe SOCKET\n");
                return 2;
        }
        probe_refusal(argv[1]);

        r = sim_connect_unix(argv[1], 30, &sock);
        step(r >= 0, "QEMU's chardev connects to the proxy");
        if (r < 0)
                return 1;
        r = ctrl(sock, CMD_GET_CAPABILITY, NULL, 0, -EBADF, caps, sizeof(caps));
        step(r >= 0 && (get_be32(caps + 4) & PTM_CAP_SET_DATAFD),
             "CMD_GET_CAPABILITY through the proxy: swtpm can take a data descriptor");
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return 1;
        data = pair[0];
        r = ctrl_res(sock, CMD_SET_DATAFD, NULL, 0, pair[1]);
        (void) close(pair[1]);
        step(r >= 0, "CMD_SET_DATAFD with one end of a socketpair");
        r = ctrl_res(sock, CMD_SET_LOCALITY, loc, 1, -EBADF);
        step(r >= 0, "CMD_SET_LOCALITY 0");
        r = ctrl_res(sock, CMD_INIT, init, sizeof(init), -EBADF);
        step(r >= 0, "CMD_INIT");
        if (failures > 0)
                return 1;

        r = sim_tpm_startup(data, TPM2_SU_CLEAR);
        step(r >= 0, "TPM2_Startup(CLEAR) through the data channel");
        step(report_has_user_data(data, zeros),
             "after TPM2_Startup: NV 0x01400001 holds the boot-time report, user-data zero");
        if (RAND_bytes(user_data, sizeof(user_data)) != 1)
                return 1;
        r = sim_tpm_nv_write(data, TPM2_RH_OWNER, NULL, 0, SIM_NV_HCL_USER_DATA, user_data,
                             sizeof(user_data));
        step(r >= 0, "TPM2_NV_Write of 64 bytes to NV 0x01400002 with owner auth");
        step(report_has_user_data(data, user_data),
             "NV 0x01400001 then carries their hex as the runtime claims' user-data");
        user_data[0] ^= 1;
        r = sim_tpm_nv_write(data, TPM2_RH_OWNER, NULL, 0, SIM_NV_HCL_USER_DATA, user_data,
                             sizeof(user_data));
        step(r >= 0 && report_has_user_data(data, user_data),
             "a second write: the report follows it");

        r = ctrl_res(sock, CMD_SHUTDOWN, NULL, 0, -EBADF);
        step(r >= 0, "CMD_SHUTDOWN");
        return failures > 0 ? 1 : 0;
}
