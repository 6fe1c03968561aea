/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tests/sim/sim-firmware.h"
#include "tests/sim/sim-pki.h"
#include "tests/sim/sim-util.h"

DEFINE_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_CLEANUP_FUNC(BIO *, BIO_free);

#define CERT_MAX (64 * 1024)

void sim_report_build(const SimPlatform *p, const uint8_t report_data[static 64], uint32_t vmpl,
                      const uint8_t report_id[static 32], uint8_t report[static SIM_REPORT_SIZE]) {
        uint32_t signer = 0;

        /* Every byte not written below is reserved (or the signature) and stays zero. */
        memset(report, 0, SIM_REPORT_SIZE);
        sim_put_le32(report + SIM_R_VERSION, p->report_version);
        sim_put_le32(report + SIM_R_GUEST_SVN, p->guest_svn);
        sim_put_le64(report + SIM_R_POLICY, p->policy);
        memcpy(report + SIM_R_FAMILY_ID, p->family_id, sizeof(p->family_id));
        memcpy(report + SIM_R_IMAGE_ID, p->image_id, sizeof(p->image_id));
        sim_put_le32(report + SIM_R_VMPL, vmpl);
        sim_put_le32(report + SIM_R_SIGNATURE_ALGO, SIM_SIGNATURE_ALGO_ECDSA_P384_SHA384);
        sim_put_le64(report + SIM_R_CURRENT_TCB, p->current_tcb);
        sim_put_le64(report + SIM_R_PLATFORM_INFO, p->platform_info);
        /* 0x048: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY (0), bits 4:2 SIGNING_KEY */
        if (p->author_key_en)
                signer |= 1U;
        signer |= (p->signing_key & 0x7U) << 2;
        sim_put_le32(report + SIM_R_SIGNER_INFO, signer);
        memcpy(report + SIM_R_REPORT_DATA, report_data, 64);
        memcpy(report + SIM_R_MEASUREMENT, p->measurement, sizeof(p->measurement));
        memcpy(report + SIM_R_HOST_DATA, p->host_data, sizeof(p->host_data));
        memcpy(report + SIM_R_ID_KEY_DIGEST, p->id_key_digest, sizeof(p->id_key_digest));
        memcpy(report + SIM_R_AUTHOR_KEY_DIGEST, p->author_key_digest,
               sizeof(p->author_key_digest));
        memcpy(report + SIM_R_REPORT_ID, report_id, 32);
        memcpy(report + SIM_R_REPORT_ID_MA, p->report_id_ma, sizeof(p->report_id_ma));
        sim_put_le64(report + SIM_R_REPORTED_TCB, p->reported_tcb);
        if (p->report_version >= 3) {
                /* v2 keeps 0x188..0x19F reserved */
                report[SIM_R_CPUID_FAM_ID] = (uint8_t) p->cpuid_fam;
                report[SIM_R_CPUID_MOD_ID] = (uint8_t) p->cpuid_mod;
                report[SIM_R_CPUID_STEP] = (uint8_t) p->cpuid_step;
        }
        if (!p->mask_chip_id)
                memcpy(report + SIM_R_CHIP_ID, p->chip_id, sizeof(p->chip_id));
        sim_put_le64(report + SIM_R_COMMITTED_TCB, p->committed_tcb);
        report[SIM_R_CURRENT_BUILD] = (uint8_t) p->fw_build;
        report[SIM_R_CURRENT_MINOR] = (uint8_t) p->fw_minor;
        report[SIM_R_CURRENT_MAJOR] = (uint8_t) p->fw_major;
        report[SIM_R_COMMITTED_BUILD] = (uint8_t) p->fw_build;
        report[SIM_R_COMMITTED_MINOR] = (uint8_t) p->fw_minor;
        report[SIM_R_COMMITTED_MAJOR] = (uint8_t) p->fw_major;
        sim_put_le64(report + SIM_R_LAUNCH_TCB, p->launch_tcb);
        if (p->report_version >= 5) {
                /* v2/v3 keep 0x1F8..0x29F reserved */
                sim_put_le64(report + SIM_R_LAUNCH_MIT_VECTOR, p->launch_mit_vector);
                sim_put_le64(report + SIM_R_CURRENT_MIT_VECTOR, p->current_mit_vector);
        }
}

static int report_sign(EVP_PKEY *key, uint8_t report[static SIM_REPORT_SIZE]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        const BIGNUM *r = NULL, *s = NULL;
        uint8_t der[256];
        const uint8_t *q = der;
        size_t der_size = sizeof(der);

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, der, &der_size, report, SIM_REPORT_SIGNED_SIZE) != 1)
                return -EIO;
        sig = d2i_ECDSA_SIG(NULL, &q, (long) der_size);
        if (!sig)
                return -EIO;
        ECDSA_SIG_get0(sig, &r, &s);
        /* SIGNATURE: R at 0x2A0, S at 0x2E8, each a 72-byte little-endian integer */
        if (BN_bn2lebinpad(r, report + SIM_R_SIG_R, SIM_SIG_COMPONENT_SIZE) < 0 ||
            BN_bn2lebinpad(s, report + SIM_R_SIG_S, SIM_SIG_COMPONENT_SIZE) < 0)
                return -EIO;
        return 0;
}

static int signing_key_load(const char *dir, const SimPlatform *p, EVP_PKEY **ret) {
        _cleanup_(BIO_freep) BIO *bio = NULL;
        char path[PATH_MAX];
        EVP_PKEY *key;
        int r;

        r = sim_path_join(path, sizeof(path), dir,
                          p->signing_key == 1 ? SIM_PKI_VLEK_KEY : SIM_PKI_VCEK_KEY);
        if (r < 0)
                return r;
        bio = BIO_new_file(path, "r");
        if (!bio)
                return sim_log_errno(-ENOENT, "Cannot open %s (%s chain not created?)", path,
                                     p->signing_key == 1 ? "VLEK" : "VCEK");
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!key)
                return sim_log_errno(-EBADMSG, "Cannot read the private key in %s", path);
        if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_bits(key) != 384) {
                EVP_PKEY_free(key);
                return sim_log_errno(-EBADMSG, "%s is not an EC P-384 key", path);
        }
        *ret = key;
        return 0;
}

int sim_report_make(const char *dir, const SimPlatform *p, const uint8_t report_data[static 64],
                    uint32_t vmpl, const uint8_t report_id[static 32],
                    uint8_t report[static SIM_REPORT_SIZE]) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        r = signing_key_load(dir, p, &key);
        if (r < 0)
                return r;
        sim_report_build(p, report_data, vmpl, report_id, report);
        r = report_sign(key, report);
        if (r < 0)
                return sim_log_errno(r, "Signing the report failed");
        return 0;
}

int sim_cert_table_build(const char *dir, const SimPlatform *p, uint8_t **ret, size_t *ret_size) {
        static const uint8_t guid_vcek[16] = SIM_GUID_VCEK, guid_vlek[16] = SIM_GUID_VLEK,
                             guid_ask[16] = SIM_GUID_ASK, guid_ark[16] = SIM_GUID_ARK;
        const bool vlek = p->signing_key == 1;
        const struct {
                const uint8_t *guid;
                const char *file;
        } entries[] = {
                { vlek ? guid_vlek : guid_vcek, vlek ? SIM_PKI_VLEK_DER : SIM_PKI_VCEK_DER },
                { guid_ask, vlek ? SIM_PKI_ASVK_DER : SIM_PKI_ASK_DER }, /* ASVK uses ASK's GUID */
                { guid_ark, SIM_PKI_ARK_DER },
        };
        uint8_t *blob[ELEMENTSOF(entries)] = {};
        size_t blob_size[ELEMENTSOF(entries)] = {};
        size_t header = (ELEMENTSOF(entries) + 1) * SIM_CERT_ENTRY_SIZE, total = header, off;
        uint8_t *table = NULL;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                char path[PATH_MAX];

                r = sim_path_join(path, sizeof(path), dir, entries[i].file);
                if (r < 0)
                        goto out;
                r = sim_read_file(path, CERT_MAX, &blob[i], &blob_size[i]);
                if (r < 0) {
                        sim_log_errno(r, "Cannot read %s", path);
                        goto out;
                }
                total += blob_size[i];
        }
        table = calloc(1, total);
        if (!table) {
                r = -ENOMEM;
                goto out;
        }
        off = header;
        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                uint8_t *e = table + i * SIM_CERT_ENTRY_SIZE;

                memcpy(e, entries[i].guid, 16);
                sim_put_le32(e + 16, (uint32_t) off);
                sim_put_le32(e + 20, (uint32_t) blob_size[i]);
                memcpy(table + off, blob[i], blob_size[i]);
                off += blob_size[i];
        }
        /* the entry after the last one stays all zero: the terminator */
        *ret = table;
        *ret_size = total;
out:
        for (size_t i = 0; i < ELEMENTSOF(entries); i++)
                free(blob[i]);
        return r;
}

void sim_fw_result_done(SimFwResult *r) {
        free(r->certs);
        r->certs = NULL;
        r->certs_size = 0;
}

static void fw_fail(SimFwResult *ret, int error, uint64_t exitinfo2) {
        ret->error = error;
        ret->exitinfo2 = exitinfo2;
}

int sim_fw_request(const char *dir, const uint8_t report_id[static 32], const SimFwRequest *req,
                   SimFwResult *ret) {
        _cleanup_(freep) uint8_t *table = NULL;
        const bool want_certs = req->extended && req->certs_len > 0;
        uint32_t status = 0;
        size_t table_size = 0;
        SimPlatform p;
        int r;

        *ret = (SimFwResult) {};
        r = sim_platform_load(dir, &p);
        if (r < 0)
                return r;

        /* Injected driver errors, as the sev-guest driver reports them. */
        if (p.fail_errno != 0) {
                uint64_t info = 0;

                if (p.fail_errno == EIO)
                        info = p.fail_fw_error; /* fw_error; 0 leaves the user's copy alone */
                else if (p.fail_errno == ETIMEDOUT)
                        info = (uint64_t) SIM_VMM_ERR_BUSY << SIM_VMM_ERR_SHIFT;
                /* ENOTTY (VMPCK wiped) and others fail before exitinfo2 is touched */
                fw_fail(ret, p.fail_errno, info);
                return 0;
        }

        /* The host's certificate table, and its "buffer too small" answer. */
        if (want_certs && p.certs) {
                size_t pages;

                r = sim_cert_table_build(dir, &p, &table, &table_size);
                if (r < 0)
                        return r;
                pages = MAX((table_size + SIM_PAGE_SIZE - 1) / SIM_PAGE_SIZE, p.cert_pages);
                if (pages * SIM_PAGE_SIZE > req->certs_len) {
                        /* The driver re-issues a plain request, then returns -EIO with
                         * exitinfo2 = vmm_error 1 and the required size in certs_len. */
                        fw_fail(ret, EIO,
                                (uint64_t) SIM_VMM_ERR_INVALID_LEN << SIM_VMM_ERR_SHIFT);
                        ret->certs_len = (uint32_t) (pages * SIM_PAGE_SIZE);
                        return 0;
                }
        }
        if (p.fail_vmm_error != 0) {
                if (p.fail_vmm_error == SIM_VMM_ERR_BUSY)
                        /* the driver retries for 60 s, then gives up */
                        fw_fail(ret, ETIMEDOUT,
                                (uint64_t) SIM_VMM_ERR_BUSY << SIM_VMM_ERR_SHIFT);
                else
                        fw_fail(ret, EIO, (uint64_t) p.fail_vmm_error << SIM_VMM_ERR_SHIFT);
                if (p.fail_vmm_error == SIM_VMM_ERR_INVALID_LEN && want_certs)
                        ret->certs_len = (uint32_t) MAX(req->certs_len + SIM_PAGE_SIZE,
                                                        p.cert_pages * SIM_PAGE_SIZE);
                return 0;
        }

        /* The firmware: status in MSG_REPORT_RSP; the guest request itself succeeds. */
        if (p.fail_fw_status != 0)
                status = p.fail_fw_status;
        else if (req->vmpl > 3 || req->vmpl < p.vmpl_floor)
                status = SIM_FW_INVALID_PARAM; /* VMPL above the caller's privilege */
        sim_put_le32(ret->resp + SIM_REPORT_RESP_STATUS, status);
        if (status == 0) {
                r = sim_report_make(dir, &p, req->report_data, req->vmpl, report_id,
                                    ret->resp + SIM_REPORT_RESP_REPORT);
                if (r < 0)
                        return r;
                sim_put_le32(ret->resp + SIM_REPORT_RESP_REPORT_SIZE, SIM_REPORT_SIZE);
        }
        if (want_certs) {
                ret->certs = TAKE_PTR(table);
                ret->certs_size = table_size;
        }
        return 0;
}
