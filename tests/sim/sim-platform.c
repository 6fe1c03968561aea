/* SPDX-License-Identifier: Apache-2.0 */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>

#include "tests/sim/sim-platform.h"
#include "common/codec.h"
#include "common/strutil.h"
#include "tests/sim/sim-util.h"

#define CONF_MAX (64 * 1024)

typedef struct ProductInfo {
        const char *id;       /* platform.conf spelling */
        const char *line;     /* AMD product line: ARK-<line>, KDS paths */
        const char *vcek_name; /* VCEK productName1, as on AMD's current certificates */
        uint8_t fam, mod, step; /* CPUID(1) family/model/stepping, spec section 4 */
        uint64_t tcb;         /* default TCB: distinct SPLs so a layout mix-up shows */
        uint8_t fw_major, fw_minor, fw_build;
        uint32_t report_version;
} ProductInfo;

static const ProductInfo products[_SIM_PRODUCT_MAX] = {
        /* Milan/Genoa TCB: byte 0 BL, 1 TEE, 6 SNP, 7 ucode. */
        [SIM_PRODUCT_MILAN] = { "milan", "Milan", "Milan-B0", 0x19, 0x01, 0x00,
                                UINT64_C(0xd516000000000104), 1, 55, 21, 3 },
        [SIM_PRODUCT_GENOA] = { "genoa", "Genoa", "Genoa", 0x19, 0x11, 0x00,
                                UINT64_C(0x5415000000000109), 1, 55, 40, 3 },
        /* Turin TCB: byte 0 FMC, 1 BL, 2 TEE, 3 SNP, 7 ucode. */
        [SIM_PRODUCT_TURIN] = { "turin", "Turin", "Turin", 0x1a, 0x02, 0x00,
                                UINT64_C(0x5c00000004030201), 1, 58, 1, 5 },
};

const char *sim_product_to_string(SimProduct p) {
        if (p < 0 || p >= _SIM_PRODUCT_MAX)
                return NULL;
        return products[p].id;
}

const char *sim_product_line(SimProduct p) {
        if (p < 0 || p >= _SIM_PRODUCT_MAX)
                return NULL;
        return products[p].line;
}

SimProduct sim_product_from_string(const char *s) {
        for (SimProduct p = 0; p < _SIM_PRODUCT_MAX; p++)
                if (strcasecmp(s, products[p].id) == 0)
                        return p;
        return _SIM_PRODUCT_INVALID;
}

void sim_platform_defaults(SimProduct product, SimPlatform *ret) {
        static const char measurement[] = "cvm-sim measurement (not a real launch digest).";
        const ProductInfo *info = &products[product];
        static_assert(sizeof(measurement) == 48, "measurement default is 48 bytes with its NUL");

        *ret = (SimPlatform) {
                .product = product,
                .report_version = info->report_version,
                .signing_key = 0,
                .policy = UINT64_C(0x30000), /* SMT allowed, bit 17 (must be one) */
                .platform_info = 0x1,        /* SMT_EN */
                .current_tcb = info->tcb,
                .reported_tcb = info->tcb,
                .committed_tcb = info->tcb,
                .launch_tcb = info->tcb,
                .cpuid_fam = info->fam,
                .cpuid_mod = info->mod,
                .cpuid_step = info->step,
                .fw_major = info->fw_major,
                .fw_minor = info->fw_minor,
                .fw_build = info->fw_build,
                .certs = true,
                .hcl_secure_boot = SIM_HCL_SECURE_BOOT_FROM_LOG,
                .hcl_console_enabled = true,
                .hcl_tpm_enabled = true,
        };
        memcpy(ret->measurement, measurement, sizeof(ret->measurement));
        memset(ret->report_id_ma, 0xff, sizeof(ret->report_id_ma));
        snprintf(ret->product_name, sizeof(ret->product_name), "%s", info->vcek_name);
        snprintf(ret->csp_id, sizeof(ret->csp_id), "CN=cvm-sim.invalid");
}

void sim_tcb_split(SimProduct product, uint64_t tcb, SimTcbParts *ret) {
        uint8_t b[8];

        sim_put_le64(b, tcb);
        if (product == SIM_PRODUCT_TURIN)
                *ret = (SimTcbParts) { .fmc = b[0], .bl = b[1], .tee = b[2], .snp = b[3],
                                       .spl5 = b[4], .spl6 = b[5], .spl7 = b[6], .ucode = b[7] };
        else
                *ret = (SimTcbParts) { .bl = b[0], .tee = b[1], .spl4 = b[2], .spl5 = b[3],
                                       .spl6 = b[4], .spl7 = b[5], .snp = b[6], .ucode = b[7] };
}

/* ---- platform.conf keys ---- */

typedef enum KeyType {
        KEY_PRODUCT,
        KEY_U32,
        KEY_U64,
        KEY_BOOL,
        KEY_BYTES,
        KEY_ERRNO,
        KEY_STRING,
} KeyType;

typedef struct ConfKey {
        const char *name;
        KeyType type;
        size_t offset;
        size_t size;
        uint64_t min, max; /* KEY_U32 */
        const char *help;
} ConfKey;

#define FIELD(f) offsetof(SimPlatform, f), sizeof(((SimPlatform *) NULL)->f)

static const ConfKey conf_keys[] = {
        { "product", KEY_PRODUCT, FIELD(product), 0, 0,
          "milan, genoa or turin (fixed when the PKI is made)" },
        { "report_version", KEY_U32, FIELD(report_version), 2, 5,
          "ATTESTATION_REPORT VERSION: 2 (no CPUID), 3, 4 (as 3), 5 (mitigation vectors)" },
        { "signing_key", KEY_U32, FIELD(signing_key), 0, 1,
          "0: sign with the VCEK, 1: with the VLEK (needs the VLEK chain: up --vlek)" },
        { "policy", KEY_U64, FIELD(policy), 0, 0, "guest POLICY (bit 17 must be one)" },
        { "guest_svn", KEY_U32, FIELD(guest_svn), 0, UINT32_MAX, "GUEST_SVN" },
        { "family_id", KEY_BYTES, FIELD(family_id), 0, 0, "FAMILY_ID, 16 bytes hex" },
        { "image_id", KEY_BYTES, FIELD(image_id), 0, 0, "IMAGE_ID, 16 bytes hex" },
        { "measurement", KEY_BYTES, FIELD(measurement), 0, 0, "MEASUREMENT, 48 bytes hex" },
        { "host_data", KEY_BYTES, FIELD(host_data), 0, 0, "HOST_DATA, 32 bytes hex" },
        { "id_key_digest", KEY_BYTES, FIELD(id_key_digest), 0, 0,
          "ID_KEY_DIGEST, 48 bytes hex" },
        { "author_key_digest", KEY_BYTES, FIELD(author_key_digest), 0, 0,
          "AUTHOR_KEY_DIGEST, 48 bytes hex" },
        { "author_key_en", KEY_BOOL, FIELD(author_key_en), 0, 1, "signer info bit 0" },
        { "report_id_ma", KEY_BYTES, FIELD(report_id_ma), 0, 0,
          "REPORT_ID_MA, 32 bytes hex (all ff: no migration agent)" },
        { "chip_id", KEY_BYTES, FIELD(chip_id), 0, 0,
          "CHIP_ID, 64 bytes hex (Turin: 8 bytes then zeros); the VCEK hwID" },
        { "mask_chip_id", KEY_BOOL, FIELD(mask_chip_id), 0, 1,
          "1: the host masks CHIP_ID (the report carries zeros)" },
        { "platform_info", KEY_U64, FIELD(platform_info), 0, 0, "PLATFORM_INFO" },
        { "current_tcb", KEY_U64, FIELD(current_tcb), 0, 0, "CURRENT_TCB (TCB_VERSION u64)" },
        { "reported_tcb", KEY_U64, FIELD(reported_tcb), 0, 0,
          "REPORTED_TCB; the VCEK's SPL extensions were made from it" },
        { "committed_tcb", KEY_U64, FIELD(committed_tcb), 0, 0, "COMMITTED_TCB" },
        { "launch_tcb", KEY_U64, FIELD(launch_tcb), 0, 0, "LAUNCH_TCB" },
        { "launch_mit_vector", KEY_U64, FIELD(launch_mit_vector), 0, 0,
          "LAUNCH_MIT_VECTOR (report v5)" },
        { "current_mit_vector", KEY_U64, FIELD(current_mit_vector), 0, 0,
          "CURRENT_MIT_VECTOR (report v5)" },
        { "cpuid_fam", KEY_U32, FIELD(cpuid_fam), 0, 255, "CPUID_FAM_ID (report v3+)" },
        { "cpuid_mod", KEY_U32, FIELD(cpuid_mod), 0, 255, "CPUID_MOD_ID (report v3+)" },
        { "cpuid_step", KEY_U32, FIELD(cpuid_step), 0, 255, "CPUID_STEP (report v3+)" },
        { "fw_major", KEY_U32, FIELD(fw_major), 0, 255, "CURRENT_/COMMITTED_MAJOR" },
        { "fw_minor", KEY_U32, FIELD(fw_minor), 0, 255, "CURRENT_/COMMITTED_MINOR" },
        { "fw_build", KEY_U32, FIELD(fw_build), 0, 255, "CURRENT_/COMMITTED_BUILD" },
        { "vmpl_floor", KEY_U32, FIELD(vmpl_floor), 0, 3,
          "VMPL the guest kernel runs at: privlevel_floor, lowest VMPL a report may ask for" },
        { "certs", KEY_BOOL, FIELD(certs), 0, 1,
          "1: the host supplies a certificate table (VCEK, ASK, ARK)" },
        { "product_name", KEY_STRING, FIELD(product_name), 0, 0,
          "VCEK productName1 extension (used when the VCEK is made)" },
        { "csp_id", KEY_STRING, FIELD(csp_id), 0, 0,
          "VLEK cspId extension (used when the VLEK is made)" },
        { "fail_fw_status", KEY_U32, FIELD(fail_fw_status), 0, UINT32_MAX,
          "non-zero: MSG_REPORT_RSP status (ioctl succeeds with it; configfs read fails)" },
        { "fail_errno", KEY_ERRNO, FIELD(fail_errno), 0, 0,
          "0, or the errno the driver returns: EIO, EBUSY, ENOTTY, ETIMEDOUT, ..." },
        { "fail_fw_error", KEY_U32, FIELD(fail_fw_error), 0, UINT32_MAX,
          "fw_error (exitinfo2 bits 31:0) with fail_errno=EIO" },
        { "fail_vmm_error", KEY_U32, FIELD(fail_vmm_error), 0, UINT32_MAX,
          "host vmm_error: 1 INVALID_LEN (EIO), 2 BUSY (ETIMEDOUT), other (EIO)" },
        { "cert_pages", KEY_U32, FIELD(cert_pages), 0, 1024,
          "0, or force the host's table to need this many 4 KiB pages" },
        { "hcl_secure_boot", KEY_U32, FIELD(hcl_secure_boot), 0, 2,
          "Azure runtime claim secure-boot: 0 false, 1 true, 2 as the event log's SecureBoot "
          "variable says" },
        { "hcl_console_enabled", KEY_BOOL, FIELD(hcl_console_enabled), 0, 1,
          "Azure runtime claim console-enabled" },
        { "hcl_tpm_enabled", KEY_BOOL, FIELD(hcl_tpm_enabled), 0, 1,
          "Azure runtime claim tpm-enabled" },
        { "hcl_vm_unique_id", KEY_STRING, FIELD(hcl_vm_unique_id), 0, 0,
          "Azure runtime claim vmUniqueId (a GUID); empty: derived from chip_id" },
};

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        { "EIO", EIO },       { "EBUSY", EBUSY },   { "ENOTTY", ENOTTY },
        { "ETIMEDOUT", ETIMEDOUT }, { "EINVAL", EINVAL }, { "ENXIO", ENXIO },
        { "EAGAIN", EAGAIN }, { "EFAULT", EFAULT }, { "ENODEV", ENODEV },
        { "EPERM", EPERM },   { "EACCES", EACCES }, { "ENOMEM", ENOMEM },
};

static const ConfKey *conf_key_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++)
                if (streq(conf_keys[i].name, name))
                        return &conf_keys[i];
        return NULL;
}

static int errno_from_string(const char *s, int *ret) {
        uint32_t v;

        if (streq(s, "none")) {
                *ret = 0;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (strcasecmp(s, errno_names[i].name) == 0) {
                        *ret = errno_names[i].value;
                        return 0;
                }
        if (safe_atou32(s, &v) < 0 || v > 4095)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static const char *errno_to_name(int e) {
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (errno_names[i].value == e)
                        return errno_names[i].name;
        return NULL;
}

static int conf_key_apply(const ConfKey *k, const char *value, SimPlatform *p) {
        uint8_t *field = (uint8_t *) p + k->offset;
        uint64_t v64;
        uint32_t v32;
        int r;

        switch (k->type) {
        case KEY_PRODUCT: {
                SimProduct prod = sim_product_from_string(value);

                if (prod < 0)
                        return -EINVAL;
                p->product = prod;
                return 0;
        }
        case KEY_U32:
                r = safe_atou32(value, &v32);
                if (r < 0)
                        return r;
                if (v32 < k->min || v32 > k->max)
                        return -ERANGE;
                memcpy(field, &v32, sizeof(v32));
                return 0;
        case KEY_U64:
                r = safe_atou64(value, &v64);
                if (r < 0)
                        return r;
                memcpy(field, &v64, sizeof(v64));
                return 0;
        case KEY_BOOL: {
                bool b;

                if (streq(value, "1") || streq(value, "yes") || streq(value, "true"))
                        b = true;
                else if (streq(value, "0") || streq(value, "no") || streq(value, "false"))
                        b = false;
                else
                        return -EINVAL;
                memcpy(field, &b, sizeof(b));
                return 0;
        }
        case KEY_BYTES:
                return hex_decode_exact(value, field, k->size);
        case KEY_ERRNO: {
                int e;

                r = errno_from_string(value, &e);
                if (r < 0)
                        return r;
                memcpy(field, &e, sizeof(e));
                return 0;
        }
        case KEY_STRING:
                if (strlen(value) >= k->size)
                        return -ERANGE;
                memset(field, 0, k->size);
                memcpy(field, value, strlen(value));
                return 0;
        }
        return -EINVAL;
}

static void conf_key_format(const ConfKey *k, const SimPlatform *p, char *out, size_t size) {
        const uint8_t *field = (const uint8_t *) p + k->offset;

        switch (k->type) {
        case KEY_PRODUCT:
                snprintf(out, size, "%s", sim_product_to_string(p->product));
                return;
        case KEY_U32: {
                uint32_t v;

                memcpy(&v, field, sizeof(v));
                snprintf(out, size, "%" PRIu32, v);
                return;
        }
        case KEY_U64: {
                uint64_t v;

                memcpy(&v, field, sizeof(v));
                snprintf(out, size, "0x%016" PRIx64, v);
                return;
        }
        case KEY_BOOL: {
                bool b;

                memcpy(&b, field, sizeof(b));
                snprintf(out, size, "%d", b ? 1 : 0);
                return;
        }
        case KEY_BYTES:
                if (size > 2 * k->size)
                        hex_encode_buf(field, k->size, out);
                return;
        case KEY_ERRNO: {
                int e;
                const char *name;

                memcpy(&e, field, sizeof(e));
                name = errno_to_name(e);
                if (e == 0)
                        snprintf(out, size, "0");
                else if (name)
                        snprintf(out, size, "%s", name);
                else
                        snprintf(out, size, "%d", e);
                return;
        }
        case KEY_STRING:
                snprintf(out, size, "%s", (const char *) field);
                return;
        }
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
                *--e = '\0';
        return s;
}

static void set_err(char *err, size_t err_size, const char *fmt, ...) _printf_(3, 4);
static void set_err(char *err, size_t err_size, const char *fmt, ...) {
        va_list ap;

        if (!err || err_size == 0)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
}

/* Splits "key = value" (in place); false for blank and comment lines. */
static bool split_assignment(char *line, char **ret_key, char **ret_value) {
        char *s = strip(line), *eq;

        if (*s == '\0' || *s == '#')
                return false;
        eq = strchr(s, '=');
        if (!eq) {
                *ret_key = s;
                *ret_value = NULL;
                return true;
        }
        *eq = '\0';
        *ret_key = strip(s);
        *ret_value = strip(eq + 1);
        return true;
}

int sim_platform_parse(const char *text, SimPlatform *ret, char *err, size_t err_size) {
        _cleanup_(freep) char *copy = NULL;
        SimProduct product = SIM_PRODUCT_MILAN;
        SimPlatform p;

        /* Pass 1: the product decides the defaults. */
        for (int pass = 0; pass < 2; pass++) {
                unsigned lineno = 0;
                char *line, *next;

                free(copy);
                copy = strdup(text);
                if (!copy)
                        return -ENOMEM;
                if (pass == 1)
                        sim_platform_defaults(product, &p);
                for (line = copy; line; line = next) {
                        const ConfKey *k;
                        char *key, *value;
                        int r;

                        next = strchr(line, '\n');
                        if (next)
                                *next++ = '\0';
                        lineno++;
                        if (!split_assignment(line, &key, &value))
                                continue;
                        if (!value) {
                                set_err(err, err_size, "line %u: expected key=value", lineno);
                                return -EINVAL;
                        }
                        k = conf_key_find(key);
                        if (!k) {
                                set_err(err, err_size, "line %u: unknown key '%s'", lineno, key);
                                return -EINVAL;
                        }
                        if (pass == 0) {
                                if (k->type == KEY_PRODUCT) {
                                        product = sim_product_from_string(value);
                                        if (product < 0) {
                                                set_err(err, err_size,
                                                        "line %u: unknown product '%s'", lineno,
                                                        value);
                                                return -EINVAL;
                                        }
                                }
                                continue;
                        }
                        r = conf_key_apply(k, value, &p);
                        if (r < 0) {
                                set_err(err, err_size, "line %u: bad value for %s: '%s'", lineno,
                                        key, value);
                                return -EINVAL;
                        }
                }
        }
        *ret = p;
        return 0;
}

int sim_platform_load(const char *dir, SimPlatform *ret) {
        _cleanup_(freep) uint8_t *text = NULL;
        char path[PATH_MAX], err[256] = "";
        size_t size;
        int r;

        r = sim_path_join(path, sizeof(path), dir, SIM_PLATFORM_CONF);
        if (r < 0)
                return r;
        r = sim_read_file(path, CONF_MAX, &text, &size);
        if (r < 0)
                return sim_log_errno(r, "Cannot read %s", path);
        if (memchr(text, 0, size))
                return sim_log_errno(-EINVAL, "%s contains a NUL byte", path);
        r = sim_platform_parse((const char *) text, ret, err, sizeof(err));
        if (r < 0)
                return sim_log_errno(r, "%s: %s", path, err);
        return 0;
}

/* Appends to a growing text buffer (capped at CONF_MAX). */
typedef struct TextBuf {
        char *p;
        size_t n, cap;
} TextBuf;

static int text_append(TextBuf *t, const char *fmt, ...) _printf_(2, 3);
static int text_append(TextBuf *t, const char *fmt, ...) {
        va_list ap;
        int n;

        for (;;) {
                size_t avail = t->cap - t->n;

                va_start(ap, fmt);
                n = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? avail : 0, fmt, ap);
                va_end(ap);
                if (n < 0)
                        return -EINVAL;
                if (t->p && (size_t) n < avail) {
                        t->n += (size_t) n;
                        return 0;
                }
                size_t cap = MAX(t->cap * 2, t->n + (size_t) n + 256);
                if (cap > CONF_MAX)
                        return -EFBIG;
                char *np = realloc(t->p, cap);
                if (!np)
                        return -ENOMEM;
                t->p = np;
                t->cap = cap;
        }
}

static int platform_format(const SimPlatform *p, TextBuf *t) {
        char value[256];
        int r;

        r = text_append(t,
                        "# cvm-sim platform: the simulated SEV-SNP host and firmware.\n"
                        "# Re-read by cvm-simd on every request; edit with: cvm-sim set --dir DIR "
                        "key=value\n"
                        "# Byte strings are hex without 0x; integers decimal or 0x-hex.\n");
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
                conf_key_format(&conf_keys[i], p, value, sizeof(value));
                r = text_append(t, "\n# %s\n%s=%s\n", conf_keys[i].help, conf_keys[i].name,
                                value);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sim_platform_write(const char *dir, const SimPlatform *p) {
        _cleanup_(freep) char *buf = NULL;
        TextBuf t = {};
        char path[PATH_MAX];
        int r;

        r = sim_path_join(path, sizeof(path), dir, SIM_PLATFORM_CONF);
        if (r < 0)
                return r;
        r = platform_format(p, &t);
        buf = t.p;
        if (r < 0)
                return r;
        return sim_write_file_atomic(path, t.p, t.n, 0644);
}

void sim_platform_dump(const SimPlatform *p, FILE *f) {
        char value[256];

        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
                conf_key_format(&conf_keys[i], p, value, sizeof(value));
                fprintf(f, "%s=%s\n", conf_keys[i].name, value);
        }
}

int sim_platform_set(const char *dir, char *const *assignments, size_t n) {
        _cleanup_(freep) uint8_t *old = NULL;
        _cleanup_(freep) char *newtext = NULL, *copy = NULL;
        _cleanup_(freep) bool *done = NULL;
        char path[PATH_MAX], err[256] = "";
        TextBuf t = {};
        SimPlatform scratch;
        size_t old_size;
        char *line, *next;
        int r;

        r = sim_path_join(path, sizeof(path), dir, SIM_PLATFORM_CONF);
        if (r < 0)
                return r;
        r = sim_read_file(path, CONF_MAX, &old, &old_size);
        if (r < 0)
                return sim_log_errno(r, "Cannot read %s", path);
        if (memchr(old, 0, old_size))
                return sim_log_errno(-EINVAL, "%s contains a NUL byte", path);

        /* Check each assignment on its own first, for a precise message. */
        sim_platform_defaults(SIM_PRODUCT_MILAN, &scratch);
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(assignments[i], '=');
                char key[64];
                const ConfKey *k;

                if (!eq || eq == assignments[i] || (size_t) (eq - assignments[i]) >= sizeof(key))
                        return sim_log_errno(-EINVAL, "Expected key=value, got '%s'",
                                             assignments[i]);
                memcpy(key, assignments[i], (size_t) (eq - assignments[i]));
                key[eq - assignments[i]] = '\0';
                k = conf_key_find(key);
                if (!k)
                        return sim_log_errno(-EINVAL, "Unknown platform.conf key '%s'", key);
                if (conf_key_apply(k, eq + 1, &scratch) < 0)
                        return sim_log_errno(-EINVAL, "Bad value for %s: '%s'", key, eq + 1);
        }

        done = calloc(n ? n : 1, sizeof(bool));
        copy = strdup((const char *) old);
        if (!done || !copy)
                return -ENOMEM;
        for (line = copy; line && *line; line = next) {
                char *key, *value;
                ssize_t match = -1;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                {
                        _cleanup_(freep) char *dup = strdup(line);

                        if (!dup)
                                return -ENOMEM;
                        if (split_assignment(dup, &key, &value))
                                for (size_t i = 0; i < n; i++) {
                                        size_t kl = strlen(key);

                                        if (strncmp(assignments[i], key, kl) == 0 &&
                                            assignments[i][kl] == '=')
                                                match = (ssize_t) i; /* the last one wins */
                                }
                }
                if (match >= 0) {
                        /* Drop later duplicates of a key already rewritten. */
                        if (!done[match])
                                r = text_append(&t, "%s\n", assignments[match]);
                        done[match] = true;
                } else
                        r = text_append(&t, "%s\n", line);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                bool later = false;

                if (done[i])
                        continue;
                /* Only the last assignment of a key that was not in the file is appended. */
                for (size_t j = i + 1; j < n; j++) {
                        const char *eq = strchr(assignments[i], '=');

                        if (strncmp(assignments[i], assignments[j],
                                    (size_t) (eq - assignments[i]) + 1) == 0)
                                later = true;
                }
                if (later)
                        continue;
                r = text_append(&t, "%s\n", assignments[i]);
                if (r < 0)
                        goto fail;
        }
        newtext = t.p;
        t.p = NULL;
        if (!newtext)
                newtext = strdup("");
        if (!newtext)
                return -ENOMEM;

        r = sim_platform_parse(newtext, &scratch, err, sizeof(err));
        if (r < 0)
                return sim_log_errno(r, "%s would be invalid: %s", path, err);
        r = sim_write_file_atomic(path, newtext, strlen(newtext), 0644);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", path);
        return 0;
fail:
        free(t.p);
        return r;
}
