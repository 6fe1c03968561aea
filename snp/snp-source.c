/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] Getting a report from the guest's firmware: configfs-tsm (Documentation/ABI/testing/
 * configfs-tsm) and /dev/sev-guest (include/uapi/linux/sev-guest.h). Only open/mkdir/read/write/
 * ioctl here; nothing is parsed beyond the kernel's response header.
 */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/byte-reader.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/strutil.h"
#include "snp/snp-certs.h"
#include "snp/snp-report.h"
#include "snp/snp-source.h"

/* Caps on what we read back from the kernel. */
#define TSM_OUTBLOB_MAX 8192u
#define TSM_AUXBLOB_MAX (64u * 1024u)
#define TSM_ATTR_MAX 64u

void snp_evidence_done(SnpEvidence *e) {
        if (!e)
                return;
        free(e->report);
        free(e->certs);
        *e = (SnpEvidence) {};
}

static const char *const source_names[_SNP_SOURCE_MAX] = {
        [SNP_SOURCE_AUTO] = "auto",
        [SNP_SOURCE_TSM] = "tsm",
        [SNP_SOURCE_SEV_GUEST] = "sev-guest",
};

const char *snp_source_kind_to_string(SnpSourceKind k) {
        return k < _SNP_SOURCE_MAX ? source_names[k] : "invalid";
}

int snp_source_kind_from_string(const char *s) {
        for (int k = 0; k < _SNP_SOURCE_MAX; k++)
                if (streq(s, source_names[k]))
                        return k;
        return -EINVAL;
}

/* SEV firmware status codes (SEV-SNP ABI; Linux include/uapi/linux/psp-sev.h after the fix that
 * numbered every entry explicitly). */
const char *snp_fw_error_to_string(uint32_t code) {
        static const char *const names[] = {
                [0x00] = "SUCCESS",              [0x01] = "INVALID_PLATFORM_STATE",
                [0x02] = "INVALID_GUEST_STATE",  [0x03] = "INVALID_CONFIG",
                [0x04] = "INVALID_LENGTH",       [0x05] = "ALREADY_OWNED",
                [0x06] = "INVALID_CERTIFICATE",  [0x07] = "POLICY_FAILURE",
                [0x08] = "INACTIVE",             [0x09] = "INVALID_ADDRESS",
                [0x0A] = "BAD_SIGNATURE",        [0x0B] = "BAD_MEASUREMENT",
                [0x0C] = "ASID_OWNED",           [0x0D] = "INVALID_ASID",
                [0x0E] = "WBINVD_REQUIRED",      [0x0F] = "DFFLUSH_REQUIRED",
                [0x10] = "INVALID_GUEST",        [0x11] = "INVALID_COMMAND",
                [0x12] = "ACTIVE",               [0x13] = "HWERROR_PLATFORM",
                [0x14] = "HWERROR_UNSAFE",       [0x15] = "UNSUPPORTED",
                [0x16] = "INVALID_PARAM",        [0x17] = "RESOURCE_LIMIT",
                [0x18] = "SECURE_DATA_INVALID",  [0x19] = "INVALID_PAGE_SIZE",
                [0x1A] = "INVALID_PAGE_STATE",   [0x1B] = "INVALID_MDATA_ENTRY",
                [0x1C] = "INVALID_PAGE_OWNER",   [0x1D] = "AEAD_OFLOW",
                [0x1F] = "RB_MODE_EXITED",       [0x20] = "RMP_INIT_REQUIRED",
                [0x21] = "BAD_SVN",              [0x22] = "BAD_VERSION",
                [0x23] = "SHUTDOWN_REQUIRED",    [0x24] = "UPDATE_FAILED",
                [0x25] = "RESTORE_REQUIRED",     [0x26] = "RMP_INITIALIZATION_FAILED",
                [0x27] = "INVALID_KEY",          [0x28] = "SHUTDOWN_INCOMPLETE",
                [0x30] = "INCORRECT_BUFFER_LENGTH", [0x31] = "EXPAND_BUFFER_LENGTH_REQUEST",
                [0x32] = "SPDM_REQUEST",         [0x33] = "SPDM_ERROR",
        };
        return code < ELEMENTSOF(names) ? names[code] : NULL;
}

/* ---- configfs-tsm ---------------------------------------------------------------------- */

static int tsm_read(int dirfd, const char *name, size_t max, uint8_t **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max, ret, ret_size);
}

static int tsm_read_u64(int dirfd, const char *name, uint64_t *ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t n;
        int r;

        r = tsm_read(dirfd, name, TSM_ATTR_MAX, &buf, &n);
        if (r < 0)
                return r;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return safe_atou64((const char *) buf, ret);
}

static int tsm_write(int dirfd, const char *name, const void *data, size_t size) {
        _cleanup_(closep) int fd = -EBADF;
        ssize_t n;

        fd = openat(dirfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* configfs binary attributes take the whole value in one write. */
        n = write(fd, data, size);
        if (n < 0)
                return -errno;
        if ((size_t) n != size)
                return -EIO;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

static int tsm_get_report(const char *dir, const uint8_t rd[64], uint32_t vmpl, bool want_certs,
                          SnpEvidence *ret, Diag *d) {
        _cleanup_(closep) int dirfd = -EBADF;
        _cleanup_(freep) uint8_t *provider = NULL, *out = NULL, *aux = NULL;
        _cleanup_(freep) char *entry = NULL;
        uint64_t gen0, gen1, floor_level = 0, writes = 0;
        size_t provider_size, out_size = 0, aux_size = 0;
        char vmpl_s[16];
        int r;

        if (asprintf(&entry, "%s/cvm-agent-%d-%08x", dir, (int) getpid(),
                     (unsigned) arc4random()) < 0)
                return -ENOMEM;
        if (mkdir(entry, 0700) < 0) {
                r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return diag_set(d, -ENODEV,
                                        "configfs-tsm: %s does not exist: it needs Linux 6.7 or "
                                        "later with CONFIG_TSM_REPORTS, the sev-guest module, and "
                                        "configfs mounted on /sys/kernel/config", dir);
                return diag_set(d, r, "configfs-tsm: cannot create %s: %s", entry, strerror(-r));
        }
        dirfd = open(entry, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                r = diag_set(d, -errno, "configfs-tsm: cannot open %s: %m", entry);
                goto out;
        }

        r = tsm_read(dirfd, "provider", TSM_ATTR_MAX, &provider, &provider_size);
        if (r < 0) {
                diag_set(d, r, "configfs-tsm: cannot read %s/provider: %s", entry, strerror(-r));
                goto out;
        }
        if (!streq((char *) provider, "sev_guest\n") && !streq((char *) provider, "sev_guest")) {
                r = diag_set(d, -ENODEV, "configfs-tsm: provider is '%.*s', not sev_guest",
                             (int) strcspn((char *) provider, "\n"), (char *) provider);
                goto out;
        }
        r = tsm_read_u64(dirfd, "generation", &gen0);
        if (r < 0) {
                diag_set(d, r, "configfs-tsm: cannot read %s/generation", entry);
                goto out;
        }
        if (tsm_read_u64(dirfd, "privlevel_floor", &floor_level) >= 0 && vmpl < floor_level) {
                r = diag_set(d, -EINVAL, "configfs-tsm: VMPL %u is below privlevel_floor %" PRIu64
                             " (the VMPL this guest runs at)", vmpl, floor_level);
                goto out;
        }
        if (vmpl != floor_level) {
                (void) snprintf(vmpl_s, sizeof(vmpl_s), "%u", vmpl);
                r = tsm_write(dirfd, "privlevel", vmpl_s, strlen(vmpl_s));
                if (r < 0) {
                        diag_set(d, r, "configfs-tsm: writing privlevel %u: %s", vmpl, strerror(-r));
                        goto out;
                }
                writes++;
        }
        r = tsm_write(dirfd, "inblob", rd, 64);
        if (r < 0) {
                diag_set(d, r, "configfs-tsm: writing inblob: %s", strerror(-r));
                goto out;
        }
        writes++;
        r = tsm_read(dirfd, "outblob", TSM_OUTBLOB_MAX, &out, &out_size);
        if (r < 0) {
                /* sev_report_new(): EINVAL for INVALID_PARAM/INVALID_KEY, ENXIO for other
                 * firmware errors, EIO from the transport. */
                diag_set(d, r == -EINVAL ? -EIO : r,
                         "configfs-tsm: reading outblob failed: %s%s", strerror(-r),
                         r == -EINVAL ? " (firmware refused: bad VMPL or key)"
                         : r == -ENXIO ? " (firmware returned an error status)" : "");
                r = r == -EINVAL ? -EIO : r;
                goto out;
        }
        if (out_size == 0) {
                r = diag_set(d, -EIO, "configfs-tsm: outblob is empty");
                goto out;
        }
        if (want_certs) {
                r = tsm_read(dirfd, "auxblob", TSM_AUXBLOB_MAX, &aux, &aux_size);
                if (r < 0) {
                        diag_set(d, r, "configfs-tsm: reading auxblob failed: %s", strerror(-r));
                        goto out;
                }
        }
        r = tsm_read_u64(dirfd, "generation", &gen1);
        if (r < 0) {
                diag_set(d, r, "configfs-tsm: cannot read %s/generation", entry);
                goto out;
        }
        /* Every write bumps the generation; anything more means another writer raced us and
         * the report may carry their REPORT_DATA. */
        if (gen1 != gen0 + writes) {
                r = diag_set(d, -EBUSY,
                             "configfs-tsm: generation went from %" PRIu64 " to %" PRIu64
                             " across our %" PRIu64 " write(s): another writer used %s",
                             gen0, gen1, writes, entry);
                goto out;
        }
        *ret = (SnpEvidence) {
                .report = TAKE_PTR(out),
                .report_size = out_size,
                .certs = aux_size > 0 ? TAKE_PTR(aux) : NULL,
                .certs_size = aux_size,
                .source = SNP_SOURCE_TSM,
        };
        r = 0;
out:
        dirfd = -EBADF;
        if (rmdir(entry) < 0)
                log_debug("configfs-tsm: rmdir %s: %m", entry);
        return r;
}

/* ---- /dev/sev-guest ---------------------------------------------------------------------- */

/* Mirrors of include/uapi/linux/sev-guest.h, sizes asserted. */
struct snp_report_req {
        uint8_t user_data[64];
        uint32_t vmpl;
        uint8_t rsvd[28];
};
static_assert(sizeof(struct snp_report_req) == 96, "snp_report_req");

#define SNP_REPORT_RESP_SIZE 4000u
struct snp_report_resp {
        uint8_t data[SNP_REPORT_RESP_SIZE];
};

struct snp_guest_request_ioctl {
        uint8_t msg_version;
        uint64_t req_data;
        uint64_t resp_data;
        union {
                uint64_t exitinfo2;
                struct {
                        uint32_t fw_error;
                        uint32_t vmm_error;
                };
        };
};
static_assert(sizeof(struct snp_guest_request_ioctl) == 32, "snp_guest_request_ioctl");

struct snp_ext_report_req {
        struct snp_report_req data;
        uint64_t certs_address;
        uint32_t certs_len;
};
static_assert(sizeof(struct snp_ext_report_req) == 112, "snp_ext_report_req");

#define SNP_GET_REPORT _IOWR('S', 0x0, struct snp_guest_request_ioctl)
#define SNP_GET_EXT_REPORT _IOWR('S', 0x2, struct snp_guest_request_ioctl)
static_assert(SNP_GET_REPORT == 0xC0205300, "SNP_GET_REPORT");
static_assert(SNP_GET_EXT_REPORT == 0xC0205302, "SNP_GET_EXT_REPORT");

#define SNP_GUEST_VMM_ERR_INVALID_LEN 1u
#define SNP_GUEST_VMM_ERR_BUSY 2u
#define SEV_FW_BLOB_MAX_SIZE 0x4000u
#define PAGE_SIZE_4K 4096u

static int sev_guest_error(const char *path, const char *op, int err,
                           const struct snp_guest_request_ioctl *g, Diag *d) {
        const char *fw = snp_fw_error_to_string(g->fw_error);

        switch (err) {
        case -EIO:
                if (g->vmm_error == SNP_GUEST_VMM_ERR_BUSY)
                        return diag_set(d, -EAGAIN, "%s: %s: the host is busy (vmm_error 2)", path,
                                        op);
                if (g->vmm_error != 0)
                        return diag_set(d, -EIO, "%s: %s: the host failed the request "
                                        "(vmm_error 0x%x%s)", path, op, g->vmm_error,
                                        g->vmm_error == 0x80000000u ? ", generic" : "");
                return diag_set(d, -EIO, "%s: %s: firmware error 0x%02x (%s)", path, op,
                                g->fw_error, fw ? fw : "unknown");
        case -ETIMEDOUT:
                return diag_set(d, -ETIMEDOUT,
                                "%s: %s: the host stayed busy for 60 s (driver gave up)", path, op);
        case -ENOTTY:
                return diag_set(d, -ENOTTY,
                                "%s: %s: ENOTTY: not an SEV guest device, or the VMPCK was wiped "
                                "after an earlier failure (reboot, or reload sev-guest with "
                                "another vmpck_id)", path, op);
        case -EBUSY:
                return diag_set(d, -EBUSY, "%s: %s: device busy", path, op);
        case -EINVAL:
                return diag_set(d, -EINVAL, "%s: %s: the driver rejected the request (bad VMPL "
                                "or buffer)", path, op);
        default:
                return diag_set(d, err, "%s: %s: %s", path, op, strerror(-err));
        }
}

/* The certificate buffer handed to the driver: page-aligned anonymous memory. */
typedef struct CertsBuffer {
        uint8_t *p;
        size_t size;
} CertsBuffer;

static void certs_buffer_done(CertsBuffer *b) {
        if (b->p)
                (void) munmap(b->p, b->size);
        *b = (CertsBuffer) {};
}

static int certs_buffer_alloc(CertsBuffer *b, size_t size) {
        void *p;

        certs_buffer_done(b);
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        *b = (CertsBuffer) { .p = p, .size = size };
        return 0;
}

/* MSG_REPORT_RSP: status, report_size, 24 reserved bytes, report. The ioctl succeeds with a
 * firmware error in status, so check it. */
static int parse_report_resp(const struct snp_report_resp *resp, const char *path, const char *op,
                             uint8_t **ret, size_t *ret_size, Diag *d) {
        ByteReader br = br_init(resp->data, sizeof(resp->data));
        uint32_t status, report_size;
        uint8_t *report;

        if (!br_u32le(&br, &status) || !br_u32le(&br, &report_size) || !br_skip(&br, 24))
                return -EIO;
        if (status != 0) {
                const char *fw = snp_fw_error_to_string(status);
                return diag_set(d, -EIO, "%s: %s: firmware status 0x%02x (%s)%s", path, op, status,
                                fw ? fw : "unknown",
                                status == 0x16 ? ": the VMPL is below the guest's own" : "");
        }
        if (report_size == 0 || report_size > br_left(&br))
                return diag_set(d, -EIO, "%s: %s: report_size %u does not fit the %u-byte response",
                                path, op, report_size, SNP_REPORT_RESP_SIZE);
        report = malloc(report_size);
        if (!report || !br_copy(&br, report, report_size)) {
                free(report);
                return -ENOMEM;
        }
        *ret = report;
        *ret_size = report_size;
        return 0;
}

static int sev_guest_get_report(const char *path, const uint8_t rd[64], uint32_t vmpl,
                                bool want_certs, SnpEvidence *ret, Diag *d) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) struct snp_report_resp *resp = NULL;
        _cleanup_(certs_buffer_done) CertsBuffer certs = {};
        _cleanup_(freep) uint8_t *report = NULL, *table = NULL;
        size_t table_size = 0;
        /* Two pages hold a VCEK, ASK and ARK (about 4.5 KiB); a host that needs more says so and
         * we retry once with what it asks for. */
        size_t want_size = 2 * PAGE_SIZE_4K, report_size = 0;
        struct snp_ext_report_req ext = {};
        struct snp_guest_request_ioctl g;
        const char *op = want_certs ? "SNP_GET_EXT_REPORT" : "SNP_GET_REPORT";
        int r;

        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT || r == -ENODEV || r == -ENXIO)
                        return diag_set(d, -ENODEV,
                                        "%s does not exist: load the sev-guest module "
                                        "(modprobe sev-guest; Linux 5.19 or later, in an SEV-SNP "
                                        "guest)", path);
                return diag_set(d, r, "cannot open %s: %s", path, strerror(-r));
        }
        resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        memcpy(ext.data.user_data, rd, 64);
        ext.data.vmpl = vmpl;

        for (unsigned attempt = 0;; attempt++) {
                if (want_certs) {
                        r = certs_buffer_alloc(&certs, want_size);
                        if (r < 0)
                                return r;
                        ext.certs_address = (uint64_t) (uintptr_t) certs.p;
                        ext.certs_len = (uint32_t) certs.size;
                }
                g = (struct snp_guest_request_ioctl) {
                        .msg_version = 1,
                        .req_data = want_certs ? (uint64_t) (uintptr_t) &ext
                                               : (uint64_t) (uintptr_t) &ext.data,
                        .resp_data = (uint64_t) (uintptr_t) resp,
                };
                if (ioctl(fd, want_certs ? SNP_GET_EXT_REPORT : SNP_GET_REPORT, &g) == 0)
                        break;
                r = -errno;
                if (!(want_certs && r == -EIO && g.vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN))
                        return sev_guest_error(path, op, r, &g, d);
                /* Certificate buffer too small: the driver wrote the size the host needs into
                 * certs_len (spec §1.5). It takes page multiples up to 16 KiB. */
                if (attempt > 0 || ext.certs_len <= certs.size ||
                    ext.certs_len > SEV_FW_BLOB_MAX_SIZE || ext.certs_len % PAGE_SIZE_4K != 0)
                        return diag_set(d, -EIO, "%s: %s: the host's certificate table needs %u "
                                        "bytes, more than the driver can pass (%u)", path, op,
                                        ext.certs_len, SEV_FW_BLOB_MAX_SIZE);
                log_debug("%s: certificate table needs %u bytes, retrying", path, ext.certs_len);
                want_size = ext.certs_len;
        }

        r = parse_report_resp(resp, path, op, &report, &report_size, d);
        if (r < 0)
                return r;
        /* The driver zero-fills the buffer: a table that starts with a zero entry is empty. */
        if (want_certs && !memeqzero(certs.p, SNP_CERT_ENTRY_SIZE)) {
                table = malloc(certs.size);
                if (!table)
                        return -ENOMEM;
                memcpy(table, certs.p, certs.size);
                table_size = certs.size;
        }
        *ret = (SnpEvidence) {
                .report = TAKE_PTR(report),
                .report_size = report_size,
                .certs = TAKE_PTR(table),
                .certs_size = table_size,
                .source = SNP_SOURCE_SEV_GUEST,
        };
        return 0;
}

int snp_source_get_report(const SnpSource *s, const uint8_t report_data[64], uint32_t vmpl,
                          bool want_certs, SnpEvidence *ret, Diag *d) {
        const char *tsm = s->tsm_report_dir ?: SNP_TSM_REPORT_DIR_DEFAULT;
        const char *dev = s->sev_guest_path ?: SNP_SEV_GUEST_DEVICE_DEFAULT;
        Diag tsm_diag = {}, dev_diag = {};
        int r;

        if (vmpl > 3)
                return diag_set(d, -EINVAL, "VMPL %u is out of range 0..3", vmpl);
        switch (s->kind) {
        case SNP_SOURCE_TSM:
                return tsm_get_report(tsm, report_data, vmpl, want_certs, ret, d);
        case SNP_SOURCE_SEV_GUEST:
                return sev_guest_get_report(dev, report_data, vmpl, want_certs, ret, d);
        case SNP_SOURCE_AUTO:
                r = tsm_get_report(tsm, report_data, vmpl, want_certs, ret, &tsm_diag);
                if (r != -ENODEV)
                        return r < 0 ? diag_set(d, r, "%s", tsm_diag.text) : r;
                log_debug("%s; trying %s", tsm_diag.text, dev);
                r = sev_guest_get_report(dev, report_data, vmpl, want_certs, ret, &dev_diag);
                if (r == -ENODEV)
                        return diag_set(d, -ENODEV, "no SEV-SNP report interface: %s; %s",
                                        tsm_diag.text, dev_diag.text);
                return r < 0 ? diag_set(d, r, "%s", dev_diag.text) : r;
        default:
                return -EINVAL;
        }
}
