/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;

/* [io] Where an SNP report comes from inside the guest. */
typedef enum SnpSourceKind {
        SNP_SOURCE_AUTO,      /* configfs-tsm, then /dev/sev-guest */
        SNP_SOURCE_TSM,       /* configfs-tsm report (Linux 6.7+) */
        SNP_SOURCE_SEV_GUEST, /* /dev/sev-guest ioctls (sev-guest module) */
        _SNP_SOURCE_MAX,
} SnpSourceKind;

#define SNP_TSM_REPORT_DIR_DEFAULT "/sys/kernel/config/tsm/report"
#define SNP_SEV_GUEST_DEVICE_DEFAULT "/dev/sev-guest"

typedef struct SnpSource {
        SnpSourceKind kind;
        const char *tsm_report_dir; /* NULL: SNP_TSM_REPORT_DIR_DEFAULT */
        const char *sev_guest_path; /* NULL: SNP_SEV_GUEST_DEVICE_DEFAULT */
} SnpSource;

typedef struct SnpEvidence {
        uint8_t *report;  /* raw ATTESTATION_REPORT */
        size_t report_size;
        uint8_t *certs;   /* certificate table, NULL if the host supplied none */
        size_t certs_size;
        SnpSourceKind source;
} SnpEvidence;

void snp_evidence_done(SnpEvidence *e);

/*
 * Asks the firmware for a report with REPORT_DATA = report_data at VMPL vmpl, and, when
 * want_certs, the host's certificate table (configfs-tsm auxblob, or SNP_GET_EXT_REPORT with the
 * "buffer too small" retry). Does not parse the report. Errors: -ENODEV/-ENOENT no such interface
 * (the Diag names the kernel module or version needed), -EBUSY configfs-tsm generation changed
 * under us (a concurrent writer) or the kernel's own EBUSY, -EIO firmware or host error (the Diag
 * decodes fw_error and vmm_error), -ETIMEDOUT host busy, -ENOTTY VMPCK wiped. Logs at debug only.
 */
int snp_source_get_report(const SnpSource *s, const uint8_t report_data[64], uint32_t vmpl,
                          bool want_certs, SnpEvidence *ret, struct Diag *d);

const char *snp_source_kind_to_string(SnpSourceKind k);
/* "auto", "tsm", "sev-guest"; -EINVAL otherwise. */
int snp_source_kind_from_string(const char *s);
/* The name of a SEV firmware status code (fw_error), or NULL. */
const char *snp_fw_error_to_string(uint32_t code);
