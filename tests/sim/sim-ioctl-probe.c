/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim-ioctl-probe: drives $CVM_SEV_GUEST_DEVICE the way a guest agent does, to check the
 * simulator's /dev/sev-guest (run under LD_PRELOAD=cvm-sim-sevguest.so).
 *
 *   sim-ioctl-probe [--out-report FILE] [--out-certs FILE]
 *       argument checks (msg_version 0, bad certs_len), SNP_GET_EXT_REPORT with a 4096-byte
 *       buffer (expects EIO + vmm_error 1 + the required length), the retry with that length,
 *       and a plain SNP_GET_REPORT; writes the report (REPORT_DATA = 00 01 .. 3f) and table.
 *   sim-ioctl-probe --expect-errno N       one extended request expecting errno N (decimal)
 *   sim-ioctl-probe --expect-status N      one extended request expecting status N
 *
 * Exit 0 on success, 1 on a failed expectation (printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tests/sim/sim-abi.h"

static int failures;

#define CHECK(cond, ...)                                                  \
        do {                                                              \
                if (!(cond)) {                                            \
                        fprintf(stderr, "sim-ioctl-probe: FAIL: ");       \
                        fprintf(stderr, __VA_ARGS__);                     \
                        fputc('\n', stderr);                              \
                        failures++;                                       \
                }                                                         \
        } while (0)

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static int parse_num(const char *s, unsigned long *ret) {
        char *end = NULL;

        errno = 0;
        *ret = strtoul(s, &end, 0);
        if (errno != 0 || !end || *end != '\0' || end == s || s[0] == '-')
                return -EINVAL;
        return 0;
}

static int write_file(const char *path, const void *p, size_t n) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        if (fwrite(p, 1, n, f) != n) {
                fclose(f);
                return -EIO;
        }
        return fclose(f) == 0 ? 0 : -errno;
}

/* One SNP_GET_EXT_REPORT; returns the ioctl result, errno in *ret_errno. */
static int ext_report(int fd, SimExtReportReq *req, uint8_t *resp, uint64_t *exitinfo2,
                      int *ret_errno) {
        SimGuestRequestIoctl io = {
                .msg_version = 1,
                .req_data = (uint64_t) (uintptr_t) req,
                .resp_data = (uint64_t) (uintptr_t) resp,
                .exitinfo2 = 0,
        };
        int r;

        errno = 0;
        r = ioctl(fd, SIM_SNP_GET_EXT_REPORT, &io);
        *ret_errno = errno;
        *exitinfo2 = io.exitinfo2;
        return r;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "out-report", required_argument, NULL, 'r' },
                { "out-certs", required_argument, NULL, 'c' },
                { "expect-errno", required_argument, NULL, 'e' },
                { "expect-status", required_argument, NULL, 's' },
                {},
        };
        static const uint8_t guid_vcek[16] = SIM_GUID_VCEK, guid_vlek[16] = SIM_GUID_VLEK;
        const char *dev = secure_getenv("CVM_SEV_GUEST_DEVICE");
        const char *out_report = NULL, *out_certs = NULL;
        unsigned long expect_errno = 0, expect_status = 0;
        bool single = false;
        static uint8_t resp[SIM_REPORT_RESP_SIZE];
        SimExtReportReq req = {};
        SimGuestRequestIoctl io;
        uint8_t *certs = NULL, *report = resp + SIM_REPORT_RESP_REPORT;
        uint64_t exitinfo2;
        int fd, r, err, c;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
                switch (c) {
                case 'r':
                        out_report = optarg;
                        break;
                case 'c':
                        out_certs = optarg;
                        break;
                case 'e':
                case 's':
                        if (parse_num(optarg, c == 'e' ? &expect_errno : &expect_status) < 0) {
                                fprintf(stderr, "sim-ioctl-probe: bad number '%s'\n", optarg);
                                return 2;
                        }
                        single = true;
                        break;
                default:
                        return 2;
                }
        if (!dev)
                dev = "/dev/sev-guest";
        fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "sim-ioctl-probe: open %s: %s\n", dev, strerror(errno));
                return 1;
        }
        for (size_t i = 0; i < sizeof(req.data.user_data); i++)
                req.data.user_data[i] = (uint8_t) i;

        if (single) {
                certs = calloc(1, SIM_CERTS_MAX);
                if (!certs)
                        return 1;
                req.certs_address = (uint64_t) (uintptr_t) certs;
                req.certs_len = SIM_CERTS_MAX;
                r = ext_report(fd, &req, resp, &exitinfo2, &err);
                printf("ret=%d errno=%d fw_error=0x%x vmm_error=0x%x status=0x%x\n", r,
                       r < 0 ? err : 0, (unsigned) (exitinfo2 & 0xffffffffU),
                       (unsigned) (exitinfo2 >> 32), r == 0 ? le32(resp) : 0);
                if (expect_errno != 0)
                        CHECK(r == -1 && err == (int) expect_errno, "expected errno %lu",
                              expect_errno);
                else
                        CHECK(r == 0 && le32(resp) == expect_status, "expected status 0x%lx",
                              expect_status);
                goto done;
        }

        /* msg_version 0: EINVAL, nothing copied back */
        io = (SimGuestRequestIoctl) { .msg_version = 0, .req_data = (uintptr_t) &req,
                                      .resp_data = (uintptr_t) resp };
        r = ioctl(fd, SIM_SNP_GET_REPORT, &io);
        CHECK(r == -1 && errno == EINVAL && io.exitinfo2 == 0,
              "msg_version 0: ret %d errno %d exitinfo2 0x%llx", r, errno,
              (unsigned long long) io.exitinfo2);

        /* certs_len not a multiple of 4096: EINVAL */
        certs = calloc(1, SIM_CERTS_MAX);
        if (!certs)
                return 1;
        req.certs_address = (uint64_t) (uintptr_t) certs;
        req.certs_len = 100;
        r = ext_report(fd, &req, resp, &exitinfo2, &err);
        CHECK(r == -1 && err == EINVAL, "certs_len 100: ret %d errno %d", r, err);

        /* one page: too small for VCEK + ASK + ARK */
        req.certs_len = SIM_PAGE_SIZE;
        r = ext_report(fd, &req, resp, &exitinfo2, &err);
        CHECK(r == -1 && err == EIO, "4096-byte buffer: ret %d errno %d (want EIO)", r, err);
        CHECK(exitinfo2 == (uint64_t) SIM_VMM_ERR_INVALID_LEN << SIM_VMM_ERR_SHIFT,
              "4096-byte buffer: exitinfo2 0x%llx (want vmm_error 1)",
              (unsigned long long) exitinfo2);
        CHECK(req.certs_len > SIM_PAGE_SIZE && req.certs_len <= SIM_CERTS_MAX &&
                      req.certs_len % SIM_PAGE_SIZE == 0,
              "required certs_len %u", req.certs_len);
        if (req.certs_len <= SIM_PAGE_SIZE || req.certs_len > SIM_CERTS_MAX)
                goto done;

        /* the retry with the size the host asked for */
        memset(resp, 0xaa, sizeof(resp));
        r = ext_report(fd, &req, resp, &exitinfo2, &err);
        CHECK(r == 0, "retry with %u bytes: ret %d errno %d exitinfo2 0x%llx", req.certs_len, r,
              err, (unsigned long long) exitinfo2);
        if (r != 0)
                goto done;
        CHECK(exitinfo2 == 0, "success left exitinfo2 0x%llx", (unsigned long long) exitinfo2);
        CHECK(le32(resp + SIM_REPORT_RESP_STATUS) == 0, "status 0x%x",
              le32(resp + SIM_REPORT_RESP_STATUS));
        CHECK(le32(resp + SIM_REPORT_RESP_REPORT_SIZE) == SIM_REPORT_SIZE, "report_size %u",
              le32(resp + SIM_REPORT_RESP_REPORT_SIZE));
        CHECK(memcmp(report + SIM_R_REPORT_DATA, req.data.user_data, 64) == 0,
              "REPORT_DATA differs from user_data");
        CHECK(le32(report + SIM_R_VMPL) == 0, "VMPL %u", le32(report + SIM_R_VMPL));
        CHECK(memcmp(certs, guid_vcek, 16) == 0 || memcmp(certs, guid_vlek, 16) == 0,
              "first certificate table entry is not the VCEK/VLEK");
        if (out_report && write_file(out_report, report, SIM_REPORT_SIZE) < 0)
                CHECK(false, "cannot write %s", out_report);
        if (out_certs && write_file(out_certs, certs, req.certs_len) < 0)
                CHECK(false, "cannot write %s", out_certs);

        /* plain SNP_GET_REPORT */
        memset(resp, 0, sizeof(resp));
        io = (SimGuestRequestIoctl) { .msg_version = 1, .req_data = (uintptr_t) &req.data,
                                      .resp_data = (uintptr_t) resp };
        r = ioctl(fd, SIM_SNP_GET_REPORT, &io);
        CHECK(r == 0 && le32(resp) == 0 && le32(resp + 4) == SIM_REPORT_SIZE,
              "SNP_GET_REPORT: ret %d errno %d status 0x%x", r, errno, le32(resp));
        CHECK(memcmp(report + SIM_R_REPORT_DATA, req.data.user_data, 64) == 0,
              "SNP_GET_REPORT: REPORT_DATA differs");

        /* an ioctl the simulator does not know */
        r = ioctl(fd, SIM_SNP_GET_DERIVED_KEY, &io);
        CHECK(r == -1 && errno == ENOTTY, "SNP_GET_DERIVED_KEY: ret %d errno %d", r, errno);
done:
        free(certs);
        close(fd);
        if (failures == 0)
                printf("sim-ioctl-probe: all checks passed\n");
        return failures == 0 ? 0 : 1;
}
