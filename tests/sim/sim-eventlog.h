/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The simulator's own reader of crypto-agile TCG event logs (TCG PC Client PFP; tpm.md section 3),
 * written apart from the project's vtpm/ parser so that each checks the other. Used to "boot"
 * swtpm: every event's digests are extended into its PCR. Pure; never logs.
 */

#define SIM_EVENTLOG_MAX_SIZE   (16U * 1024 * 1024)
#define SIM_EVENTLOG_MAX_EVENTS 65536U
#define SIM_EVENTLOG_MAX_ALGS   8U
#define SIM_EVENTLOG_PCRS       24U

#define SIM_EV_NO_ACTION                  0x3U
#define SIM_EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001U

typedef struct SimEvDigest {
        uint16_t alg;          /* TPM_ALG_ID */
        uint16_t size;         /* from the Spec ID event's table */
        const uint8_t *digest; /* points into the log */
} SimEvDigest;

typedef struct SimEvent {
        uint32_t pcr, type;
        uint32_t n_digests;
        SimEvDigest digests[SIM_EVENTLOG_MAX_ALGS];
        const uint8_t *data; /* points into the log */
        uint32_t data_size;
} SimEvent;

typedef struct SimEventLog {
        uint32_t n_algs;
        struct {
                uint16_t alg, size;
        } algs[SIM_EVENTLOG_MAX_ALGS];
        bool has_startup_locality; /* an EV_NO_ACTION "StartupLocality" event on PCR 0 */
        uint8_t startup_locality;
        SimEvent *events; /* after the Spec ID header, EV_NO_ACTION included */
        size_t n_events;
} SimEventLog;

/*
 * Parses a crypto-agile log: a SHA-1-format first event carrying "Spec ID Event03", then
 * TCG_PCR_EVENT2 records until the end (trailing zero padding is accepted). Every size is checked
 * against what is left; a digest algorithm missing from the Spec ID table, a PCR index above 23 on
 * an event that is extended, or a short record is -EBADMSG; a SHA-1-only (TPM 1.2) log is
 * -EPROTONOSUPPORT. The events point into buf, which must outlive the result.
 */
int sim_eventlog_parse(const uint8_t *buf, size_t size, SimEventLog *ret);
void sim_eventlog_done(SimEventLog *l);

/* The value of the SecureBoot variable as measured (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7):
 * 1 or 0, or -ENOENT if the log does not measure it. */
int sim_eventlog_secure_boot(const SimEventLog *l);

/*
 * Replays the log for one bank: PCR 0..23 start at zero (PCR 0 at the startup locality), and
 * every event but EV_NO_ACTION extends its PCR with its digest for alg. -ENOENT if the log has no
 * such bank. ret[i] holds *ret_size bytes.
 */
int sim_eventlog_replay(const SimEventLog *l, uint16_t alg, uint8_t ret[SIM_EVENTLOG_PCRS][64],
                        size_t *ret_size);
