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
