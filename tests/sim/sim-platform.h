/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The simulated platform: what the host configured at launch, what the firmware reports, and the
 * failures to inject. It lives in DIR/platform.conf (key=value lines, '#' comments), which the
 * daemon re-reads on every request so tests can change it while the daemon runs.
 */

#define SIM_PLATFORM_CONF "platform.conf"
#define SIM_CSP_ID_MAX 128

typedef enum SimProduct {
        SIM_PRODUCT_MILAN,
        SIM_PRODUCT_GENOA,
        SIM_PRODUCT_TURIN,
        _SIM_PRODUCT_MAX,
        _SIM_PRODUCT_INVALID = -EINVAL,
} SimProduct;

typedef struct SimPlatform {
        SimProduct product;
        uint32_t report_version;  /* 2, 3, 4 (laid out as 3) or 5 */
        uint32_t signing_key;     /* 0 VCEK, 1 VLEK */
        uint64_t policy;
        uint32_t guest_svn;
        uint8_t family_id[16];
        uint8_t image_id[16];
        uint8_t measurement[48];
        uint8_t host_data[32];
        uint8_t id_key_digest[48];
        uint8_t author_key_digest[48];
        bool author_key_en;
        uint8_t report_id_ma[32];
        uint8_t chip_id[64];
        bool mask_chip_id;        /* host masked CHIP_ID: the report carries zeros */
        uint64_t platform_info;
        uint64_t current_tcb;
        uint64_t reported_tcb;
        uint64_t committed_tcb;
        uint64_t launch_tcb;
        uint64_t launch_mit_vector;  /* v5 */
        uint64_t current_mit_vector; /* v5 */
        uint32_t cpuid_fam;
        uint32_t cpuid_mod;
        uint32_t cpuid_step;
        uint32_t fw_major, fw_minor, fw_build;
        uint32_t vmpl_floor;
        bool certs;               /* the host supplies a certificate table */
        char product_name[32];    /* VCEK productName1 (at PKI creation) */
        char csp_id[SIM_CSP_ID_MAX]; /* VLEK cspId (at PKI creation) */
        /* failure injection */
        uint32_t fail_fw_status;  /* MSG_REPORT_RSP status */
        int fail_errno;           /* positive errno the driver returns */
        uint32_t fail_fw_error;   /* fw_error with fail_errno=EIO */
        uint32_t fail_vmm_error;  /* host error: 1 INVALID_LEN, 2 BUSY (-> ETIMEDOUT), ... */
        uint32_t cert_pages;      /* force the host's table to need this many pages */
        /* Azure paravisor runtime claims (cvm-sim up --azure) */
        uint32_t hcl_secure_boot; /* 0, 1, or SIM_HCL_SECURE_BOOT_FROM_LOG */
        bool hcl_console_enabled;
        bool hcl_tpm_enabled;
        char hcl_vm_unique_id[37]; /* empty: derived from chip_id */
} SimPlatform;

#define SIM_HCL_SECURE_BOOT_FROM_LOG 2

const char *sim_product_to_string(SimProduct p); /* "milan", ... */
SimProduct sim_product_from_string(const char *s);
const char *sim_product_line(SimProduct p);      /* "Milan", ... (AMD names, KDS paths) */

/* Built-in defaults for a product; chip_id is zero (the PKI step makes a random one). */
void sim_platform_defaults(SimProduct product, SimPlatform *ret);

/*
 * Parses platform.conf text: product first, then defaults for it, then every key. Unknown keys
 * and bad values are -EINVAL, with a message naming the line in err (may be NULL).
 */
int sim_platform_parse(const char *text, SimPlatform *ret, char *err, size_t err_size);
/* Reads DIR/platform.conf; logs what is wrong with it. */
int sim_platform_load(const char *dir, SimPlatform *ret);
/* Writes every key with its value, commented, as a fresh DIR/platform.conf. */
int sim_platform_write(const char *dir, const SimPlatform *p);
/* Edits DIR/platform.conf: each assignment is "key=value"; validates everything first. */
int sim_platform_set(const char *dir, char *const *assignments, size_t n);
/* Prints the effective value of every key. */
void sim_platform_dump(const SimPlatform *p, FILE *f);

/* TCB_VERSION components in the product's layout (spec section 4). */
typedef struct SimTcbParts {
        uint8_t fmc, bl, tee, snp, ucode; /* fmc: Turin only */
        uint8_t spl4, spl5, spl6, spl7;   /* reserved bytes (spl4: Milan/Genoa only) */
} SimTcbParts;
void sim_tcb_split(SimProduct product, uint64_t tcb, SimTcbParts *ret);
