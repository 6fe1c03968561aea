/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;
struct json_object;

/* ATTESTATION_REPORT (SEV-SNP Firmware ABI, table "ATTESTATION_REPORT Structure"). */
#define SNP_REPORT_SIZE 0x4A0u        /* 1184 bytes in every version */
#define SNP_REPORT_SIGNED_SIZE 0x2A0u /* bytes 0x000..0x29F are signed */
#define SNP_REPORT_DATA_SIZE 64u
#define SNP_MEASUREMENT_SIZE 48u
#define SNP_CHIP_ID_SIZE 64u
#define SNP_SIG_COMPONENT_SIZE 72u    /* R and S: little-endian, low 48 bytes significant */

/* POLICY (0x008) bits. */
#define SNP_POLICY_SMT (UINT64_C(1) << 16)
#define SNP_POLICY_RESERVED_1 (UINT64_C(1) << 17) /* must be 1 */
#define SNP_POLICY_MIGRATE_MA (UINT64_C(1) << 18)
#define SNP_POLICY_DEBUG (UINT64_C(1) << 19)
#define SNP_POLICY_SINGLE_SOCKET (UINT64_C(1) << 20)
#define SNP_POLICY_CXL_ALLOW (UINT64_C(1) << 21)
#define SNP_POLICY_MEM_AES_256_XTS (UINT64_C(1) << 22)
#define SNP_POLICY_RAPL_DIS (UINT64_C(1) << 23)
#define SNP_POLICY_CIPHERTEXT_HIDING (UINT64_C(1) << 24)
#define SNP_POLICY_PAGE_SWAP_DISABLE (UINT64_C(1) << 25)
#define SNP_POLICY_MBZ_MASK (~UINT64_C(0) << 26)

/* Signer info (0x048). */
#define SNP_SIGNER_AUTHOR_KEY_EN (1u << 0)
#define SNP_SIGNER_MASK_CHIP_KEY (1u << 1)
#define SNP_SIGNER_SIGNING_KEY_SHIFT 2
#define SNP_SIGNER_SIGNING_KEY_MASK (7u << 2)
#define SNP_SIGNER_MBZ_MASK (~UINT32_C(0) << 5)

typedef enum SnpSigningKey {
        SNP_SIGNING_KEY_VCEK = 0,
        SNP_SIGNING_KEY_VLEK = 1,
        SNP_SIGNING_KEY_NONE = 7,
} SnpSigningKey;

typedef enum SnpProduct {
        SNP_PRODUCT_UNKNOWN,
        SNP_PRODUCT_MILAN,
        SNP_PRODUCT_GENOA,
        SNP_PRODUCT_TURIN,
        _SNP_PRODUCT_MAX,
        _SNP_PRODUCT_INVALID = -EINVAL,
} SnpProduct;

/* A TCB_VERSION decoded for one product's layout. has_fmc only on Turin. */
typedef struct SnpTcb {
        uint8_t fmc;
        uint8_t bootloader;
        uint8_t tee;
        uint8_t snp;
        uint8_t microcode;
        bool has_fmc;
} SnpTcb;

/* Every field of the report, host byte order; byte arrays exactly as on the wire. */
typedef struct SnpReport {
        uint32_t version;            /* 0x000 */
        uint32_t guest_svn;          /* 0x004 */
        uint64_t policy;             /* 0x008 */
        uint8_t family_id[16];       /* 0x010 */
        uint8_t image_id[16];        /* 0x020 */
        uint32_t vmpl;               /* 0x030 */
        uint32_t signature_algo;     /* 0x034: 1 = ECDSA P-384 with SHA-384 */
        uint64_t current_tcb;        /* 0x038 */
        uint64_t platform_info;      /* 0x040 */
        uint32_t signer_info;        /* 0x048 */
        uint8_t report_data[64];     /* 0x050 */
        uint8_t measurement[48];     /* 0x090 */
        uint8_t host_data[32];       /* 0x0C0 */
        uint8_t id_key_digest[48];   /* 0x0E0 */
        uint8_t author_key_digest[48]; /* 0x110 */
        uint8_t report_id[32];       /* 0x140 */
        uint8_t report_id_ma[32];    /* 0x160 */
        uint64_t reported_tcb;       /* 0x180 */
        uint8_t cpuid_fam_id;        /* 0x188, v3+ */
        uint8_t cpuid_mod_id;        /* 0x189, v3+ */
        uint8_t cpuid_step;          /* 0x18A, v3+ */
        uint8_t chip_id[64];         /* 0x1A0 */
        uint64_t committed_tcb;      /* 0x1E0 */
        uint8_t current_build;       /* 0x1E8 */
        uint8_t current_minor;       /* 0x1E9 */
        uint8_t current_major;       /* 0x1EA */
        uint8_t committed_build;     /* 0x1EC */
        uint8_t committed_minor;     /* 0x1ED */
        uint8_t committed_major;     /* 0x1EE */
        uint64_t launch_tcb;         /* 0x1F0 */
        uint64_t launch_mit_vector;  /* 0x1F8, v5 */
        uint64_t current_mit_vector; /* 0x200, v5 */
        uint8_t sig_r[72];           /* 0x2A0, little-endian */
        uint8_t sig_s[72];           /* 0x2E8, little-endian */

        /* Derived while parsing. */
        SnpProduct product;          /* from CPUID (v3+), else a CHIP_ID heuristic, else UNKNOWN */
} SnpReport;

/*
 * Parses a raw ATTESTATION_REPORT of exactly SNP_REPORT_SIZE bytes, field by field through a
 * ByteReader. Accepts versions 2, 3, 4 (laid out as 3) and 5, and version 1 (laid out as 2: the
 * early Azure platform firmware). Rejects a wrong size, an unknown version, POLICY bit 17 clear
 * or a reserved policy bit set, a reserved byte that is not zero for that version, and an
 * unknown signature algorithm, each with -EBADMSG (-EPROTONOSUPPORT for the version) and a Diag
 * naming the field and its offset. *ret is written only on success. Pure.
 */
int snp_report_parse(const uint8_t *buf, size_t size, SnpReport *ret, struct Diag *d);

/* Decodes a TCB_VERSION for product's layout (Turin: FMC first; others: Milan/Genoa layout). */
void snp_tcb_decode(uint64_t raw, SnpProduct product, SnpTcb *ret);
/* Returns the raw TCB_VERSION for tcb in product's layout. */
uint64_t snp_tcb_encode(const SnpTcb *tcb, SnpProduct product);

/* "Milan", "Genoa", "Turin" or "unknown"; and back (case-insensitive, "Milan-B0" accepted). */
const char *snp_product_to_string(SnpProduct p);
SnpProduct snp_product_from_string(const char *s);
/* Product from CPUID family/model (report v3+); SNP_PRODUCT_UNKNOWN if not recognised. */
SnpProduct snp_product_from_cpuid(uint8_t family, uint8_t model);

static inline SnpSigningKey snp_report_signing_key(const SnpReport *r) {
        return (SnpSigningKey) ((r->signer_info & SNP_SIGNER_SIGNING_KEY_MASK) >>
                                SNP_SIGNER_SIGNING_KEY_SHIFT);
}

/*
 * Every field as JSON, named as MAA names the claims where a claim exists
 * (x-ms-sevsnpvm-launchmeasurement, ...) and snake_case otherwise, with the policy and
 * platform-info bits decoded by name and each TCB decoded for the report's product.
 * -ENOMEM only. Pure.
 */
int snp_report_to_json(const SnpReport *r, struct json_object **ret);
