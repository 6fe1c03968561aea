/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * The vTPM side of the simulator: what Azure's paravisor and the VM's firmware do to the guest's
 * TPM before the guest looks at it, played against a fresh swtpm.
 *
 *   - TPM2_Startup(CLEAR) at the locality the event log's StartupLocality event names (0 or 3);
 *   - the AK as OpenHCL provisions it (a primary key in the endorsement hierarchy from OpenHCL's
 *     AK template, persisted at 0x81000003), made once per swtpm state;
 *   - a test AK CA (DIR/akca.pem, akca.key) and the AK certificate it issues, as DER zero-padded
 *     in the platform-created NV index 0x01C101D0 (re-issued when the AK or the CA changed);
 *   - the measured boot: every event of the log extended into its PCR in every bank, then the
 *     PCRs read back and compared with the simulator's own replay of the log;
 *   - with azure: the platform-created NV 0x01400001 (2048 bytes, written by cvm-simd serve) and
 *     the guest's NV 0x01400002 (64 bytes, owner-defined, empty auth).
 *
 * The platform-created indices carry a random 8-byte auth value, the paravisor's secret, kept in
 * DIR/paravisor.auth (0600): the guest reads them with owner auth but cannot write them.
 * Functions return 0 or -errno and log what failed.
 */

#define SIM_VTPM_EVENTLOG "eventlog.bin"
#define SIM_VTPM_AKCA_PEM "akca.pem"
#define SIM_VTPM_AKCA_KEY "akca.key"
#define SIM_VTPM_AK_PUB   "ak.pub.pem"
#define SIM_VTPM_AUTH     "paravisor.auth"

typedef struct SimVtpmSetup {
        uint16_t port;        /* swtpm command port; its control port is port + 1 */
        const char *eventlog; /* the log to boot with; NULL: none (PCRs stay at reset values) */
        bool azure;           /* define the HCL report indices */
} SimVtpmSetup;

/* Everything above, on a swtpm that has not been started yet (-EALREADY if it has). */
int sim_vtpm_setup(const char *dir, const SimVtpmSetup *o);

/*
 * Writes a fresh HCL report into NV 0x01400001 over fd (a connection to swtpm): claims from DIR's
 * platform.conf, the AK read from the TPM, user-data from NV 0x01400002 (zeros if !read_user_data
 * or the index is missing), a new SNP report from the simulated firmware.
 */
int sim_vtpm_hcl_refresh(int fd, const char *dir, const uint8_t report_id[static 32],
                         bool read_user_data);
