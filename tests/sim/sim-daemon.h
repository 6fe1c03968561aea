/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/sim/sim-firmware.h"

struct fuse;

/* State shared by the two front ends of cvm-simd (configfs-tsm over FUSE, ioctl socket). */
typedef struct SimDaemon {
        const char *dir;         /* absolute DIR */
        uint8_t report_id[32];   /* REPORT_ID: random per daemon start */
        pthread_mutex_t fw_lock; /* one firmware request at a time, like the driver's mutex */
} SimDaemon;

/* sim_fw_request() under the daemon's lock; logs a simulator failure and maps it to EIO. */
void sim_daemon_request(SimDaemon *d, const SimFwRequest *req, SimFwResult *ret);

/*
 * configfs-tsm (Linux drivers/virt/coco/tsm.c semantics) as a FUSE file system whose root plays
 * .../tsm/report. Mounts at mountpoint; -errno on failure (logged).
 */
int sim_tsmfs_mount(SimDaemon *d, const char *mountpoint, struct fuse **ret);
/* Serves requests until SIGTERM/SIGINT/SIGHUP or unmount, then unmounts and frees. */
int sim_tsmfs_run(struct fuse *f);
/* Unmounts and frees without serving (start-up failed after the mount). */
void sim_tsmfs_unmount(struct fuse *f);

/* The /dev/sev-guest back end: listens on path, serves requests on a thread. Logs failures. */
int sim_sockd_start(SimDaemon *d, const char *path);

/*
 * The TPM proxy in front of swtpm (sim-tpmproxy.c): listens on two consecutive random loopback
 * ports (commands, control) and forwards to swtpm's upstream_port and upstream_port + 1, on
 * threads. With azure it writes the boot-time HCL report first, and refreshes it whenever the
 * guest writes NV 0x01400002. *ret_port is the command port. Logs failures.
 */
int sim_tpmproxy_start(SimDaemon *d, uint16_t upstream_port, bool azure, uint16_t *ret_port);

/*
 * The interposer both TPM proxies share: sends one complete TPM command to swtpm on upstream and
 * reads its response into resp; with azure, a successful TPM2_NV_Write to NV 0x01400002 makes it
 * rewrite NV 0x01400001 (sim_vtpm_hcl_refresh() on the same connection, under d->fw_lock) before
 * it returns. A failed refresh is logged and does not fail the command. -errno if swtpm did not
 * answer.
 */
int sim_tpmproxy_forward(SimDaemon *d, bool azure, int upstream, const uint8_t *cmd,
                         size_t cmd_size, uint8_t *resp, size_t resp_max, size_t *ret_size);

/*
 * The same paravisor in front of the swtpm QEMU uses (sim-qemutpm.c): listens on the unix socket
 * listen_path for QEMU's `-tpmdev emulator` chardev, one connection at a time, forwards its
 * control channel to swtpm's control socket swtpm_ctrl_path and, when QEMU hands over the data
 * channel (CMD_SET_DATAFD), gives swtpm a socketpair end instead and relays the TPM commands
 * through sim_tpmproxy_forward(). Runs until SIGTERM, SIGINT or SIGHUP; 0 then, -errno if it
 * could not start (logged).
 */
int sim_qemutpm_run(SimDaemon *d, const char *listen_path, const char *swtpm_ctrl_path,
                    bool azure);
