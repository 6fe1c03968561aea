/* SPDX-License-Identifier: Apache-2.0 */
/* The known-good reference kept across boots, and the measurements it is made of
 * (agent/state.h). [io] */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "agent/drift.h"
#include "agent/state.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "vtpm/eventlog.h"
#include "vtpm/tpm-device.h"
#include "vtpm/tpm-pcrs.h"

const char *state_reference_dir(const char *reference_dir, const char *state_dir) {
        return reference_dir ?: state_dir ?: STATE_REFERENCE_DIR_DEFAULT;
}

int state_reference_save(const char *dir, const DriftBaseline *b) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(closep) int dfd = -EBADF;
        int r;

        r = drift_baseline_to_json(b, &text);
        if (r < 0)
                return r;
        r = state_dir_ensure(dir);
        if (r < 0)
                return r;
        r = state_write_file(dir, STATE_FILE_REFERENCE, text, strlen(text));
        if (r < 0)
                return r;
        /* It must survive a reboot that follows at once: the rename too. */
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
}

int state_reference_load(const char *dir, DriftBaseline **ret, Diag *d) {
        return state_baseline_file_load(dir, STATE_FILE_REFERENCE, ret, d);
}

int state_measurements_read(const char *tcti, const char *eventlog_path, TpmPcrSet *ret,
                            uint8_t **ret_log, size_t *ret_log_size, Diag *d) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        uint16_t banks[TPM_MAX_BANKS];
        TpmPcrSet pcrs = {};
        size_t n_banks = 0;
        int r;

        r = tpm_device_open(tcti, &t, d);
        if (r >= 0)
                r = tpm_device_banks(t, banks, &n_banks, d);
        for (size_t i = 0; r >= 0 && i < n_banks; i++)
                r = tpm_device_pcr_read(t, banks[i], UINT32_C(0xffffff), &pcrs, d);
        if (r < 0)
                return r;
        r = read_full_file(eventlog_path, EVENTLOG_MAX_SIZE, ret_log, ret_log_size);
        if (r < 0) {
                log_debug("no event log at %s: %s", eventlog_path, strerror(-r));
                *ret_log = NULL;
                *ret_log_size = 0;
        }
        *ret = pcrs;
        return 0;
}

int state_reference_record(const char *dir, DriftSource source, int64_t time, const TpmPcrSet *pcrs,
                           const uint8_t *eventlog, size_t eventlog_size, Diag *d) {
        _cleanup_(drift_baseline_freep) DriftBaseline *now = NULL, *old = NULL;
        Diag ignored = {};
        int r;

        r = drift_baseline_new(source, time, pcrs, eventlog, eventlog_size, &now, d);
        if (r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT) {
                log_debug("The event log does not parse (%s): the reference keeps the PCRs only",
                          diag_text(d, strerror(-r)));
                *d = (Diag){};
                r = drift_baseline_new(source, time, pcrs, NULL, 0, &now, d);
        }
        if (r < 0)
                return r;
        r = state_reference_load(dir, &old, &ignored);
        if (r >= 0 && drift_baseline_same(old, now))
                return 0;
        if (r == -EPROTONOSUPPORT || r == -ENOMEM)
                return diag_set(d, r, "%s", diag_text(&ignored, strerror(-r)));
        if (r < 0 && r != -ENOENT)
                log_debug("Replacing the unusable known-good reference: %s",
                          diag_text(&ignored, strerror(-r)));
        r = state_reference_save(dir, now);
        if (r < 0)
                return diag_set(d, r, "%s/%s: %s", dir, STATE_FILE_REFERENCE, strerror(-r));
        return 1;
}
