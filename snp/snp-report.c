/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/byte-reader.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "snp/snp-report.h"

/*
 * Field-by-field parse. Offsets are those of the SEV-SNP Firmware ABI's ATTESTATION_REPORT
 * (AMD doc 56860) as mirrored in go-sev-guest abi/abi.go and virtee/sev snp.rs; comments name
 * each field as the ABI does.
 */

#define READ_OR_FAIL(ok, name, off)                                                          \
        do {                                                                                 \
                if (!(ok))                                                                   \
                        return diag_set(d, -EBADMSG, "SNP report: cannot read %s at 0x%03x", \
                                        (name), (unsigned) (off));                           \
        } while (0)

#define ZERO_OR_FAIL(r, n, name, off)                                                         \
        do {                                                                                  \
                if (!br_zero((r), (n)))                                                       \
                        return diag_set(d, -EBADMSG,                                          \
                                        "SNP report: reserved bytes %s at 0x%03x..0x%03x "  \
                                        "are not zero (version %u)",                          \
                                        (name), (unsigned) (off), (unsigned) ((off) + (n) - 1), \
                                        rep.version);                                         \
        } while (0)

/* Zen 3 (family 0x19) models 0x00..0x0F are Milan; 0x10..0x1F and 0xA0..0xAF Genoa; Zen 5
 * (family 0x1A) models 0x00..0x11 Turin (virtee/sev ranges; go-sev-guest knows 0x01, 0x11, 0x02). */
SnpProduct snp_product_from_cpuid(uint8_t family, uint8_t model) {
        if (family == 0x19) {
                if (model <= 0x0F)
                        return SNP_PRODUCT_MILAN;
                if ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF))
                        return SNP_PRODUCT_GENOA;
        } else if (family == 0x1A && model <= 0x11)
                return SNP_PRODUCT_TURIN;
        return SNP_PRODUCT_UNKNOWN;
}

static SnpProduct product_guess(const SnpReport *r) {
        SnpProduct p;

        if (r->version >= 3) {
                p = snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
                if (p != SNP_PRODUCT_UNKNOWN)
                        return p;
        }
        /* v2 has no CPUID. Turin's CHIP_ID is 8 bytes followed by zeros; Milan's and Genoa's use
         * all 64 (both share one TCB layout, so which of the two does not matter for decoding).
         * A masked (all-zero) CHIP_ID tells nothing: the certificate decides later. */
        if (memeqzero(r->chip_id, sizeof(r->chip_id)))
                return SNP_PRODUCT_UNKNOWN;
        if (memeqzero(r->chip_id + 8, sizeof(r->chip_id) - 8))
                return SNP_PRODUCT_TURIN;
        return SNP_PRODUCT_UNKNOWN;
}

int snp_report_parse(const uint8_t *buf, size_t size, SnpReport *ret, struct Diag *d) {
        SnpReport rep = {};
        ByteReader r;

        if (!buf || size != SNP_REPORT_SIZE)
                return diag_set(d, -EBADMSG, "SNP report: size is %zu bytes, expected %u",
                                buf ? size : 0, SNP_REPORT_SIZE);
        r = br_init(buf, size);

        READ_OR_FAIL(br_u32le(&r, &rep.version), "VERSION", 0x000);
        if (rep.version < 1 || rep.version > 5)
                return diag_set(d, -EPROTONOSUPPORT,
                                "SNP report: VERSION at 0x000 is %u, supported are 1 to 5",
                                rep.version);
        READ_OR_FAIL(br_u32le(&r, &rep.guest_svn), "GUEST_SVN", 0x004);
        READ_OR_FAIL(br_u64le(&r, &rep.policy), "POLICY", 0x008);
        if (!(rep.policy & SNP_POLICY_RESERVED_1))
                return diag_set(d, -EBADMSG,
                                "SNP report: POLICY at 0x008 is 0x%llx, reserved bit 17 must be 1",
                                (unsigned long long) rep.policy);
        if (rep.policy & SNP_POLICY_MBZ_MASK)
                return diag_set(d, -EBADMSG,
                                "SNP report: POLICY at 0x008 is 0x%llx, reserved bits 63:26 must be 0",
                                (unsigned long long) rep.policy);
        READ_OR_FAIL(br_copy(&r, rep.family_id, 16), "FAMILY_ID", 0x010);
        READ_OR_FAIL(br_copy(&r, rep.image_id, 16), "IMAGE_ID", 0x020);
        READ_OR_FAIL(br_u32le(&r, &rep.vmpl), "VMPL", 0x030);
        READ_OR_FAIL(br_u32le(&r, &rep.signature_algo), "SIGNATURE_ALGO", 0x034);
        if (rep.signature_algo != 1)
                return diag_set(d, -EBADMSG,
                                "SNP report: SIGNATURE_ALGO at 0x034 is %u, only 1 (ECDSA P-384 "
                                "with SHA-384) is defined", rep.signature_algo);
        READ_OR_FAIL(br_u64le(&r, &rep.current_tcb), "CURRENT_TCB", 0x038);
        READ_OR_FAIL(br_u64le(&r, &rep.platform_info), "PLATFORM_INFO", 0x040);
        READ_OR_FAIL(br_u32le(&r, &rep.signer_info), "signer info", 0x048);
        if (rep.signer_info & SNP_SIGNER_MBZ_MASK)
                return diag_set(d, -EBADMSG,
                                "SNP report: signer info at 0x048 is 0x%x, bits 31:5 must be 0",
                                rep.signer_info);
        ZERO_OR_FAIL(&r, 4, "after signer info", 0x04C);
        READ_OR_FAIL(br_copy(&r, rep.report_data, 64), "REPORT_DATA", 0x050);
        READ_OR_FAIL(br_copy(&r, rep.measurement, 48), "MEASUREMENT", 0x090);
        READ_OR_FAIL(br_copy(&r, rep.host_data, 32), "HOST_DATA", 0x0C0);
        READ_OR_FAIL(br_copy(&r, rep.id_key_digest, 48), "ID_KEY_DIGEST", 0x0E0);
        READ_OR_FAIL(br_copy(&r, rep.author_key_digest, 48), "AUTHOR_KEY_DIGEST", 0x110);
        READ_OR_FAIL(br_copy(&r, rep.report_id, 32), "REPORT_ID", 0x140);
        READ_OR_FAIL(br_copy(&r, rep.report_id_ma, 32), "REPORT_ID_MA", 0x160);
        READ_OR_FAIL(br_u64le(&r, &rep.reported_tcb), "REPORTED_TCB", 0x180);
        if (rep.version >= 3) {
                READ_OR_FAIL(br_u8(&r, &rep.cpuid_fam_id), "CPUID_FAM_ID", 0x188);
                READ_OR_FAIL(br_u8(&r, &rep.cpuid_mod_id), "CPUID_MOD_ID", 0x189);
                READ_OR_FAIL(br_u8(&r, &rep.cpuid_step), "CPUID_STEP", 0x18A);
                ZERO_OR_FAIL(&r, 21, "after CPUID_STEP", 0x18B);
        } else
                ZERO_OR_FAIL(&r, 24, "after REPORTED_TCB", 0x188);
        READ_OR_FAIL(br_copy(&r, rep.chip_id, 64), "CHIP_ID", 0x1A0);
        READ_OR_FAIL(br_u64le(&r, &rep.committed_tcb), "COMMITTED_TCB", 0x1E0);
        READ_OR_FAIL(br_u8(&r, &rep.current_build), "CURRENT_BUILD", 0x1E8);
        READ_OR_FAIL(br_u8(&r, &rep.current_minor), "CURRENT_MINOR", 0x1E9);
        READ_OR_FAIL(br_u8(&r, &rep.current_major), "CURRENT_MAJOR", 0x1EA);
        ZERO_OR_FAIL(&r, 1, "after CURRENT_MAJOR", 0x1EB);
        READ_OR_FAIL(br_u8(&r, &rep.committed_build), "COMMITTED_BUILD", 0x1EC);
        READ_OR_FAIL(br_u8(&r, &rep.committed_minor), "COMMITTED_MINOR", 0x1ED);
        READ_OR_FAIL(br_u8(&r, &rep.committed_major), "COMMITTED_MAJOR", 0x1EE);
        ZERO_OR_FAIL(&r, 1, "after COMMITTED_MAJOR", 0x1EF);
        READ_OR_FAIL(br_u64le(&r, &rep.launch_tcb), "LAUNCH_TCB", 0x1F0);
        if (rep.version >= 5) {
                READ_OR_FAIL(br_u64le(&r, &rep.launch_mit_vector), "LAUNCH_MIT_VECTOR", 0x1F8);
                READ_OR_FAIL(br_u64le(&r, &rep.current_mit_vector), "CURRENT_MIT_VECTOR", 0x200);
                ZERO_OR_FAIL(&r, 152, "after CURRENT_MIT_VECTOR", 0x208);
        } else
                ZERO_OR_FAIL(&r, 168, "after LAUNCH_TCB", 0x1F8);
        /* SIGNATURE: R and S are 72-byte little-endian fields of which P-384 uses the low 48. */
        READ_OR_FAIL(br_copy(&r, rep.sig_r, 72), "SIGNATURE R", 0x2A0);
        READ_OR_FAIL(br_copy(&r, rep.sig_s, 72), "SIGNATURE S", 0x2E8);
        if (!memeqzero(rep.sig_r + 48, 24))
                return diag_set(d, -EBADMSG,
                                "SNP report: SIGNATURE R at 0x2A0 has bytes set above the 48 that "
                                "P-384 uses (0x2D0..0x2E7)");
        if (!memeqzero(rep.sig_s + 48, 24))
                return diag_set(d, -EBADMSG,
                                "SNP report: SIGNATURE S at 0x2E8 has bytes set above the 48 that "
                                "P-384 uses (0x318..0x32F)");
        ZERO_OR_FAIL(&r, 368, "after SIGNATURE S", 0x330);
        if (br_left(&r) != 0)
                return diag_set(d, -EBADMSG, "SNP report: %zu trailing bytes", br_left(&r));

        rep.product = product_guess(&rep);
        *ret = rep;
        return 0;
}

void snp_tcb_decode(uint64_t raw, SnpProduct product, SnpTcb *ret) {
        uint8_t b[8];

        for (size_t i = 0; i < 8; i++)
                b[i] = (uint8_t) (raw >> (8 * i));
        if (product == SNP_PRODUCT_TURIN)
                *ret = (SnpTcb) { .fmc = b[0], .bootloader = b[1], .tee = b[2], .snp = b[3],
                                  .microcode = b[7], .has_fmc = true };
        else
                *ret = (SnpTcb) { .bootloader = b[0], .tee = b[1], .snp = b[6], .microcode = b[7] };
}

uint64_t snp_tcb_encode(const SnpTcb *t, SnpProduct product) {
        if (product == SNP_PRODUCT_TURIN)
                return (uint64_t) t->fmc | (uint64_t) t->bootloader << 8 | (uint64_t) t->tee << 16 |
                       (uint64_t) t->snp << 24 | (uint64_t) t->microcode << 56;
        return (uint64_t) t->bootloader | (uint64_t) t->tee << 8 | (uint64_t) t->snp << 48 |
               (uint64_t) t->microcode << 56;
}

static const char *const product_names[_SNP_PRODUCT_MAX] = {
        [SNP_PRODUCT_UNKNOWN] = "unknown",
        [SNP_PRODUCT_MILAN] = "Milan",
        [SNP_PRODUCT_GENOA] = "Genoa",
        [SNP_PRODUCT_TURIN] = "Turin",
};

const char *snp_product_to_string(SnpProduct p) {
        if (p < 0 || p >= _SNP_PRODUCT_MAX)
                return "unknown";
        return product_names[p];
}

SnpProduct snp_product_from_string(const char *s) {
        if (!s)
                return _SNP_PRODUCT_INVALID;
        for (SnpProduct p = SNP_PRODUCT_MILAN; p < _SNP_PRODUCT_MAX; p++) {
                size_t n = strlen(product_names[p]);
                /* "Milan", "milan", "Milan-B0", "Genoa-B2" */
                if (strncasecmp(s, product_names[p], n) == 0 && (s[n] == '\0' || s[n] == '-'))
                        return p;
        }
        return _SNP_PRODUCT_INVALID;
}

/* Builds {name: bool} for the set of named bits, plus "raw". */
typedef struct BitName {
        unsigned bit;
        const char *name;
} BitName;

static int bits_to_json(uint64_t v, const BitName *names, size_t n, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = json_add_bool(o, names[i].name, (v >> names[i].bit) & 1);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int tcb_to_json(uint64_t raw, SnpProduct p, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char hex[19];
        SnpTcb t;

        if (!o)
                return -ENOMEM;
        snp_tcb_decode(raw, p, &t);
        (void) snprintf(hex, sizeof(hex), "%016llx", (unsigned long long) raw);
        if (json_add_string(o, "raw", hex) < 0 ||
            (t.has_fmc && json_add_int(o, "fmc", t.fmc) < 0) ||
            json_add_int(o, "bootloader", t.bootloader) < 0 || json_add_int(o, "tee", t.tee) < 0 ||
            json_add_int(o, "snp", t.snp) < 0 || json_add_int(o, "microcode", t.microcode) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int snp_report_to_json(const SnpReport *rep, json_object **ret) {
        static const BitName policy_bits[] = {
                { 16, "smt" },           { 18, "migrate_ma" },      { 19, "debug" },
                { 20, "single_socket" }, { 21, "cxl_allow" },       { 22, "mem_aes_256_xts" },
                { 23, "rapl_dis" },      { 24, "ciphertext_hiding" }, { 25, "page_swap_disable" },
        };
        static const BitName platform_bits[] = {
                { 0, "smt_enabled" },       { 1, "tsme_enabled" },
                { 2, "ecc_enabled" },       { 3, "rapl_disabled" },
                { 4, "ciphertext_hiding_enabled" }, { 5, "alias_check_complete" },
                { 7, "tio_enabled" },
        };
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *sub = NULL;
        SnpTcb reported;
        char fw[32];
        int r;

        if (!o)
                return -ENOMEM;
        snp_tcb_decode(rep->reported_tcb, rep->product, &reported);

#define ADD(expr)                       \
        do {                            \
                r = (expr);             \
                if (r < 0)              \
                        return r;       \
        } while (0)
        ADD(json_add_int(o, "version", rep->version));
        ADD(json_add_string(o, "product", snp_product_to_string(rep->product)));
        /* Claims as MAA names them (x-ms-sevsnpvm-*), from REPORTED_TCB for the SVNs. */
        ADD(json_add_hex(o, "x-ms-sevsnpvm-authorkeydigest", rep->author_key_digest, 48));
        ADD(json_add_int(o, "x-ms-sevsnpvm-bootloader-svn", reported.bootloader));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-familyId", rep->family_id, 16));
        ADD(json_add_int(o, "x-ms-sevsnpvm-guestsvn", rep->guest_svn));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-hostdata", rep->host_data, 32));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-idkeydigest", rep->id_key_digest, 48));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-imageId", rep->image_id, 16));
        ADD(json_add_bool(o, "x-ms-sevsnpvm-is-debuggable", rep->policy & SNP_POLICY_DEBUG));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-launchmeasurement", rep->measurement, 48));
        ADD(json_add_int(o, "x-ms-sevsnpvm-microcode-svn", reported.microcode));
        ADD(json_add_bool(o, "x-ms-sevsnpvm-migration-allowed",
                          rep->policy & SNP_POLICY_MIGRATE_MA));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-reportdata", rep->report_data, 64));
        ADD(json_add_hex(o, "x-ms-sevsnpvm-reportid", rep->report_id, 32));
        ADD(json_add_bool(o, "x-ms-sevsnpvm-smt-allowed", rep->policy & SNP_POLICY_SMT));
        ADD(json_add_int(o, "x-ms-sevsnpvm-snpfw-svn", reported.snp));
        ADD(json_add_int(o, "x-ms-sevsnpvm-tee-svn", reported.tee));
        ADD(json_add_int(o, "x-ms-sevsnpvm-vmpl", rep->vmpl));
        /* Everything else under the ABI's names. */
        ADD(json_add_int(o, "policy", (int64_t) rep->policy));
        ADD(bits_to_json(rep->policy, policy_bits, ELEMENTSOF(policy_bits), &sub));
        ADD(json_add_int(sub, "abi_major", (rep->policy >> 8) & 0xff));
        ADD(json_add_int(sub, "abi_minor", rep->policy & 0xff));
        ADD(json_add(o, "policy_bits", sub));
        ADD(json_add_int(o, "platform_info", (int64_t) rep->platform_info));
        ADD(bits_to_json(rep->platform_info, platform_bits, ELEMENTSOF(platform_bits), &sub));
        ADD(json_add(o, "platform_info_bits", sub));
        ADD(json_add_int(o, "signature_algo", rep->signature_algo));
        ADD(json_add_bool(o, "author_key_en", rep->signer_info & SNP_SIGNER_AUTHOR_KEY_EN));
        ADD(json_add_bool(o, "mask_chip_key", rep->signer_info & SNP_SIGNER_MASK_CHIP_KEY));
        switch (snp_report_signing_key(rep)) {
        case SNP_SIGNING_KEY_VCEK:
                ADD(json_add_string(o, "signing_key", "vcek"));
                break;
        case SNP_SIGNING_KEY_VLEK:
                ADD(json_add_string(o, "signing_key", "vlek"));
                break;
        case SNP_SIGNING_KEY_NONE:
                ADD(json_add_string(o, "signing_key", "none"));
                break;
        default:
                ADD(json_add_int(o, "signing_key", snp_report_signing_key(rep)));
        }
        ADD(json_add_hex(o, "report_id_ma", rep->report_id_ma, 32));
        ADD(json_add_hex(o, "chip_id", rep->chip_id, 64));
        ADD(tcb_to_json(rep->current_tcb, rep->product, &sub));
        ADD(json_add(o, "current_tcb", sub));
        ADD(tcb_to_json(rep->reported_tcb, rep->product, &sub));
        ADD(json_add(o, "reported_tcb", sub));
        ADD(tcb_to_json(rep->committed_tcb, rep->product, &sub));
        ADD(json_add(o, "committed_tcb", sub));
        ADD(tcb_to_json(rep->launch_tcb, rep->product, &sub));
        ADD(json_add(o, "launch_tcb", sub));
        if (rep->version >= 3) {
                ADD(json_add_int(o, "cpuid_fam_id", rep->cpuid_fam_id));
                ADD(json_add_int(o, "cpuid_mod_id", rep->cpuid_mod_id));
                ADD(json_add_int(o, "cpuid_step", rep->cpuid_step));
        }
        (void) snprintf(fw, sizeof(fw), "%u.%u.%u", rep->current_major, rep->current_minor,
                        rep->current_build);
        ADD(json_add_string(o, "current_firmware", fw));
        (void) snprintf(fw, sizeof(fw), "%u.%u.%u", rep->committed_major, rep->committed_minor,
                        rep->committed_build);
        ADD(json_add_string(o, "committed_firmware", fw));
        if (rep->version >= 5) {
                ADD(json_add_int(o, "launch_mit_vector", (int64_t) rep->launch_mit_vector));
                ADD(json_add_int(o, "current_mit_vector", (int64_t) rep->current_mit_vector));
        }
#undef ADD
        *ret = TAKE_PTR(o);
        return 0;
}
