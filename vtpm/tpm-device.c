/* SPDX-License-Identifier: Apache-2.0 */
/* [io] The vTPM through tpm2-tss ESAPI. */
#include <stdio.h>
#include <time.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/diag.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "vtpm/tpm-device.h"

#define TPM_RETRIES 20
#define NV_CHUNK 1024u

struct TpmDevice {
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        ESYS_TR ephemeral;
        TPML_PCR_SELECTION ephemeral_sel;
};

static void esys_freep(void *p) {
        Esys_Free(*(void **) p);
}

/* TPM format-one codes carry parameter/handle numbers in the high bits; strip them to compare. */
static TSS2_RC rc_base(TSS2_RC rc) {
        if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
                return rc;
        if (rc & TPM2_RC_FMT1)
                return rc & (TPM2_RC_FMT1 | 0x3F);
        return rc;
}

static bool rc_transient(TSS2_RC rc) {
        TSS2_RC b = rc_base(rc);
        return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
               (b == TPM2_RC_RETRY || b == TPM2_RC_YIELDED || b == TPM2_RC_TESTING);
}

static int tpm_error(TSS2_RC rc, const char *cmd, uint32_t handle, Diag *d) {
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK, b = rc_base(rc);
        const char *text = Tss2_RC_Decode(rc);
        char h[24] = "";
        int err = -EIO;

        if (handle)
                (void) snprintf(h, sizeof(h), " on 0x%08x", handle);
        if (layer == TSS2_TCTI_RC_LAYER ||
            (rc & 0xFFFF) == TSS2_BASE_RC_IO_ERROR || (rc & 0xFFFF) == TSS2_BASE_RC_NO_CONNECTION)
                err = -ECONNREFUSED;
        else if (layer == TSS2_TPM_RC_LAYER) {
                if (b == (TPM2_RC_FMT1 | TPM2_RC_HANDLE) || b == TPM2_RC_REFERENCE_H0)
                        err = -ENOENT;
                else if (rc_transient(rc))
                        err = -EBUSY;
                else if (b == (TPM2_RC_FMT1 | TPM2_RC_POLICY_FAIL) ||
                         b == (TPM2_RC_FMT1 | TPM2_RC_PCR_CHANGED) || b == TPM2_RC_PCR_CHANGED)
                        err = -EPERM;
        }
        return diag_set(d, err, "TPM2_%s%s failed: 0x%x %s", cmd, h, rc, text ? text : "");
}

/* Runs a TPM command, retrying while the TPM says to come back later. */
#define TPM_CALL(rc, expr)                                                                 \
        do {                                                                               \
                for (int _try = 0;; _try++) {                                              \
                        (rc) = (expr);                                                     \
                        if (!rc_transient(rc) || _try >= TPM_RETRIES)                      \
                                break;                                                     \
                        (void) nanosleep(&(struct timespec) { .tv_nsec = 50000000 }, NULL); \
                }                                                                          \
        } while (0)

int tpm_device_open(const char *tcti, TpmDevice **ret, Diag *d) {
        TpmDevice *t;
        TSS2_RC rc;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->ephemeral = ESYS_TR_NONE;
        if (!tcti)
                tcti = TPM_TCTI_DEFAULT;
        /* tpm2-tss logs its own warnings to stderr (a missing NV index is one): we report
         * errors ourselves, once. TSS2_LOG set by the user still wins. */
        if (!secure_getenv("TSS2_LOG"))
                (void) setenv("TSS2_LOG", "all+none", 0);
        rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
        if (rc != TSS2_RC_SUCCESS) {
                free(t);
                return diag_set(d, -ENODEV, "no TPM at '%s' (%s): check the TCTI (CVM_TCTI) and "
                                "that /dev/tpmrm0 exists (tpm_crb/tpm_tis module)", tcti,
                                Tss2_RC_Decode(rc));
        }
        rc = Esys_Initialize(&t->esys, t->tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                Tss2_TctiLdr_Finalize(&t->tcti);
                free(t);
                return diag_set(d, -ENODEV, "cannot talk to the TPM at '%s': %s", tcti,
                                Tss2_RC_Decode(rc));
        }
        *ret = t;
        return 0;
}

TpmDevice *tpm_device_close(TpmDevice *t) {
        if (!t)
                return NULL;
        if (t->ephemeral != ESYS_TR_NONE)
                (void) Esys_FlushContext(t->esys, t->ephemeral);
        Esys_Finalize(&t->esys);
        Tss2_TctiLdr_Finalize(&t->tcti);
        free(t);
        return NULL;
}

void tpm_device_closep(TpmDevice **t) {
        *t = tpm_device_close(*t);
}

int tpm_device_banks(TpmDevice *t, uint16_t *ret_algs, size_t *ret_n, Diag *d) {
        _cleanup_(esys_freep) TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        size_t n = 0;
        TSS2_RC rc;

        TPM_CALL(rc, Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        TPM2_CAP_PCRS, 0, 1, &more, &cap));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "GetCapability(PCRS)", 0, d);
        for (UINT32 i = 0; i < cap->data.assignedPCR.count && n < TPM_MAX_BANKS; i++) {
                const TPMS_PCR_SELECTION *s = &cap->data.assignedPCR.pcrSelections[i];
                bool any = false;

                for (unsigned j = 0; j < s->sizeofSelect && j < sizeof(s->pcrSelect); j++)
                        any = any || s->pcrSelect[j];
                if (any && tpm_alg_digest_size(s->hash) > 0)
                        ret_algs[n++] = s->hash;
        }
        *ret_n = n;
        return 0;
}

static void selection_set(TPMS_PCR_SELECTION *s, uint16_t alg, uint32_t mask) {
        *s = (TPMS_PCR_SELECTION) { .hash = alg, .sizeofSelect = 3 };
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                if (mask & (UINT32_C(1) << i))
                        s->pcrSelect[i / 8] |= (uint8_t) (1u << (i % 8));
}

static void selection_from_set(const TpmPcrSet *set, TPML_PCR_SELECTION *ret) {
        *ret = (TPML_PCR_SELECTION) {};
        for (size_t b = 0; b < set->n_banks && b < TPM2_NUM_PCR_BANKS; b++)
                if (set->banks[b].mask)
                        selection_set(&ret->pcrSelections[ret->count++], set->banks[b].alg,
                                      set->banks[b].mask);
}

int tpm_device_pcr_read(TpmDevice *t, uint16_t alg, uint32_t mask, TpmPcrSet *set, Diag *d) {
        TpmPcrBank *bank = tpm_pcr_set_bank_add(set, alg);
        uint32_t want = mask;

        if (!bank)
                return diag_set(d, -EINVAL, "PCR bank 0x%04x is not supported", alg);
        while (want) {
                _cleanup_(esys_freep) TPML_PCR_SELECTION *out = NULL;
                _cleanup_(esys_freep) TPML_DIGEST *values = NULL;
                TPML_PCR_SELECTION in = { .count = 1 };
                UINT32 update;
                uint32_t got = 0;
                size_t k = 0;
                TSS2_RC rc;

                selection_set(&in.pcrSelections[0], alg, want);
                TPM_CALL(rc, Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
                                           &update, &out, &values));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_error(rc, "PCR_Read", 0, d);
                /* The TPM returns up to 8 digests, in ascending PCR order, and says which. */
                for (UINT32 s = 0; s < out->count; s++) {
                        const TPMS_PCR_SELECTION *o = &out->pcrSelections[s];
                        if (o->hash != alg)
                                continue;
                        for (unsigned i = 0; i < TPM_PCR_COUNT && i / 8 < o->sizeofSelect; i++) {
                                if (!((o->pcrSelect[i / 8] >> (i % 8)) & 1))
                                        continue;
                                if (k >= values->count || values->digests[k].size != bank->size)
                                        return diag_set(d, -EIO, "TPM2_PCR_Read: the TPM returned "
                                                        "fewer or odd-sized digests");
                                memcpy(bank->value[i], values->digests[k].buffer, bank->size);
                                bank->mask |= UINT32_C(1) << i;
                                got |= UINT32_C(1) << i;
                                k++;
                        }
                }
                if (!(got & want))
                        return diag_set(d, -EIO, "TPM2_PCR_Read: bank %s lacks PCRs 0x%06x",
                                        tpm_alg_hash_name(alg), want);
                want &= ~got;
        }
        return 0;
}

static int marshal_public(const TPM2B_PUBLIC *pub, uint8_t **ret, size_t *ret_size) {
        uint8_t buf[sizeof(TPM2B_PUBLIC) + 2];
        size_t off = 0;

        if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
                return -EIO;
        *ret = malloc(off);
        if (!*ret)
                return -ENOMEM;
        memcpy(*ret, buf, off);
        *ret_size = off;
        return 0;
}

static void ak_template(TpmAkType type, TPM2B_PUBLIC *ret) {
        const TPMA_OBJECT attrs = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                  TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                  TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;

        *ret = (TPM2B_PUBLIC) {};
        ret->publicArea.nameAlg = TPM2_ALG_SHA256;
        ret->publicArea.objectAttributes = attrs;
        if (type == TPM_AK_ECC_P256) {
                ret->publicArea.type = TPM2_ALG_ECC;
                ret->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
                ret->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
                ret->publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
                ret->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
                ret->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        } else {
                ret->publicArea.type = TPM2_ALG_RSA;
                ret->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
                ret->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
                ret->publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
                ret->publicArea.parameters.rsaDetail.keyBits = 2048;
        }
}

static int persistent_tr(TpmDevice *t, uint32_t handle, ESYS_TR *ret, Diag *d) {
        TSS2_RC rc;

        TPM_CALL(rc, Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, ret));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "ReadPublic", handle, d);
        return 0;
}

int tpm_device_ak(TpmDevice *t, uint32_t handle, bool create, TpmAkType type,
                  uint8_t **ret_public, size_t *ret_public_size, Diag *d) {
        _cleanup_(esys_freep) TPM2B_PUBLIC *pub = NULL;
        _cleanup_(esys_freep) TPM2B_NAME *name = NULL, *qname = NULL;
        ESYS_TR tr, primary, persisted;
        Diag probe = {};
        TSS2_RC rc;
        int r;

        r = persistent_tr(t, handle, &tr, &probe);
        if (r == -ENOENT && create) {
                _cleanup_(esys_freep) TPM2B_CREATION_DATA *cdata = NULL;
                _cleanup_(esys_freep) TPM2B_DIGEST *chash = NULL;
                _cleanup_(esys_freep) TPMT_TK_CREATION *ticket = NULL;
                TPM2B_SENSITIVE_CREATE sens = {};
                TPM2B_DATA outside = {};
                TPML_PCR_SELECTION none = {};
                TPM2B_PUBLIC tmpl;

                log_debug("no key at 0x%08x: creating an attestation key", handle);
                ak_template(type, &tmpl);
                TPM_CALL(rc, Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                                                ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                                                &outside, &none, &primary, &pub, &cdata, &chash,
                                                &ticket));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_error(rc, "CreatePrimary(endorsement, AK)", 0, d);
                Esys_Free(pub);
                pub = NULL;
                TPM_CALL(rc, Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, primary, ESYS_TR_PASSWORD,
                                               ESYS_TR_NONE, ESYS_TR_NONE, handle, &persisted));
                (void) Esys_FlushContext(t->esys, primary);
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_error(rc, "EvictControl", handle, d);
                tr = persisted;
        } else if (r < 0)
                return diag_set(d, r, "%s", probe.text);
        TPM_CALL(rc, Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                                     &name, &qname));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "ReadPublic", handle, d);
        if (!(pub->publicArea.objectAttributes & TPMA_OBJECT_RESTRICTED) ||
            !(pub->publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
                return diag_set(d, -EIO, "the key at 0x%08x is not a restricted signing key",
                                handle);
        return marshal_public(pub, ret_public, ret_public_size);
}

int tpm_device_quote(TpmDevice *t, uint32_t ak_handle, const TpmPcrSet *select,
                     const uint8_t *nonce, size_t nonce_size, uint8_t **ret_attest,
                     size_t *ret_attest_size, uint8_t **ret_sig, size_t *ret_sig_size, Diag *d) {
        _cleanup_(esys_freep) TPM2B_ATTEST *quoted = NULL;
        _cleanup_(esys_freep) TPMT_SIGNATURE *sig = NULL;
        _cleanup_(freep) uint8_t *attest = NULL, *sig_out = NULL;
        TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
        TPM2B_DATA qualifying = {};
        TPML_PCR_SELECTION sel;
        uint8_t sigbuf[sizeof(TPMT_SIGNATURE)];
        size_t off = 0;
        ESYS_TR ak;
        TSS2_RC rc;
        int r;

        if (nonce_size > sizeof(qualifying.buffer))
                return diag_set(d, -EINVAL, "quote: a nonce of %zu bytes, at most %zu", nonce_size,
                                sizeof(qualifying.buffer));
        qualifying.size = (UINT16) nonce_size;
        if (nonce_size)
                memcpy(qualifying.buffer, nonce, nonce_size);
        r = persistent_tr(t, ak_handle, &ak, d);
        if (r < 0)
                return r;
        selection_from_set(select, &sel);
        TPM_CALL(rc, Esys_Quote(t->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &qualifying, &scheme, &sel, &quoted, &sig));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "Quote", ak_handle, d);
        if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sigbuf, sizeof(sigbuf), &off) != TSS2_RC_SUCCESS)
                return -EIO;
        attest = malloc(quoted->size);
        sig_out = malloc(off);
        if (!attest || !sig_out)
                return -ENOMEM;
        memcpy(attest, quoted->attestationData, quoted->size);
        memcpy(sig_out, sigbuf, off);
        *ret_sig = TAKE_PTR(sig_out);
        *ret_sig_size = off;
        *ret_attest_size = quoted->size;
        *ret_attest = TAKE_PTR(attest);
        return 0;
}

int tpm_device_nv_read(TpmDevice *t, uint32_t index, uint8_t **ret, size_t *ret_size, Diag *d) {
        _cleanup_(esys_freep) TPM2B_NV_PUBLIC *pub = NULL;
        _cleanup_(esys_freep) TPM2B_NAME *name = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        ESYS_TR tr, auth;
        size_t size;
        TSS2_RC rc;
        int r;

        r = persistent_tr(t, index, &tr, d);
        if (r < 0)
                return r;
        TPM_CALL(rc, Esys_NV_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                                        &name));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "NV_ReadPublic", index, d);
        size = pub->nvPublic.dataSize;
        /* Who may read: the owner (OWNERREAD; Azure's indices are read this way, and the owner's
         * authorization is empty in a guest), else the index itself with an empty password. */
        if (pub->nvPublic.attributes & TPMA_NV_OWNERREAD)
                auth = ESYS_TR_RH_OWNER;
        else if (pub->nvPublic.attributes & TPMA_NV_AUTHREAD)
                auth = tr;
        else if (pub->nvPublic.attributes & TPMA_NV_PPREAD)
                auth = ESYS_TR_RH_PLATFORM;
        else
                return diag_set(d, -EACCES, "NV index 0x%08x cannot be read without a policy",
                                index);
        buf = malloc(size ? size : 1);
        if (!buf)
                return -ENOMEM;
        for (size_t off = 0; off < size;) {
                _cleanup_(esys_freep) TPM2B_MAX_NV_BUFFER *data = NULL;
                UINT16 chunk = (UINT16) MIN(size - off, (size_t) NV_CHUNK);

                TPM_CALL(rc, Esys_NV_Read(t->esys, auth, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                          ESYS_TR_NONE, chunk, (UINT16) off, &data));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_error(rc, "NV_Read", index, d);
                if (data->size != chunk)
                        return diag_set(d, -EIO, "TPM2_NV_Read on 0x%08x returned %u bytes, not %u",
                                        index, data->size, chunk);
                memcpy(buf + off, data->buffer, chunk);
                off += chunk;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int tpm_device_nv_write_user_data(TpmDevice *t, uint32_t index, const uint8_t data[64], Diag *d) {
        TPM2B_NV_PUBLIC info = {
                .nvPublic = {
                        .nvIndex = index,
                        .nameAlg = TPM2_ALG_SHA256,
                        .attributes = TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHWRITE |
                                      TPMA_NV_AUTHREAD,
                        .dataSize = 64,
                },
        };
        TPM2B_MAX_NV_BUFFER buf = { .size = 64 };
        TPM2B_AUTH empty = {};
        ESYS_TR tr;
        TSS2_RC rc;
        int r;

        r = persistent_tr(t, index, &tr, NULL);
        if (r >= 0) {
                _cleanup_(esys_freep) TPM2B_NV_PUBLIC *pub = NULL;
                _cleanup_(esys_freep) TPM2B_NAME *name = NULL;

                TPM_CALL(rc, Esys_NV_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
                                                ESYS_TR_NONE, &pub, &name));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_error(rc, "NV_ReadPublic", index, d);
                if (pub->nvPublic.dataSize != 64) {
                        TPM_CALL(rc, Esys_NV_UndefineSpace(t->esys, ESYS_TR_RH_OWNER, tr,
                                                           ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                                           ESYS_TR_NONE));
                        if (rc != TSS2_RC_SUCCESS)
                                return tpm_error(rc, "NV_UndefineSpace", index, d);
                        r = -ENOENT;
                }
        }
        if (r == -ENOENT) {
                TPM_CALL(rc, Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                                 ESYS_TR_NONE, ESYS_TR_NONE, &empty, &info, &tr));
                if (rc != TSS2_RC_SUCCESS)
                        return tpm_error(rc, "NV_DefineSpace", index, d);
        } else if (r < 0)
                return diag_set(d, r, "cannot look up NV index 0x%08x", index);
        memcpy(buf.buffer, data, 64);
        TPM_CALL(rc, Esys_NV_Write(t->esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &buf, 0));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "NV_Write", index, d);
        return 0;
}

/*
 * A policy (or trial) session that has run PolicyPCR over sel. With salt_key (not
 * ESYS_TR_NONE), the session is salted with that key and encrypts the command's first response
 * parameter (AES-128-CFB): what the TPM decrypts does not cross the interface to the TPM in the
 * clear.
 */
static int pcr_policy_session(TpmDevice *t, TPM2_SE type, const TPML_PCR_SELECTION *sel,
                              ESYS_TR salt_key, ESYS_TR *ret, Diag *d) {
        TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        TPM2B_DIGEST empty = {};
        ESYS_TR s;
        TSS2_RC rc;

        if (salt_key != ESYS_TR_NONE)
                sym = (TPMT_SYM_DEF) { .algorithm = TPM2_ALG_AES,
                                       .keyBits.aes = 128,
                                       .mode.aes = TPM2_ALG_CFB };
        TPM_CALL(rc, Esys_StartAuthSession(t->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym,
                                           TPM2_ALG_SHA256, &s));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "StartAuthSession", 0, d);
        if (salt_key != ESYS_TR_NONE) {
                rc = Esys_TRSess_SetAttributes(t->esys, s, TPMA_SESSION_ENCRYPT,
                                               TPMA_SESSION_ENCRYPT);
                if (rc != TSS2_RC_SUCCESS) {
                        (void) Esys_FlushContext(t->esys, s);
                        return tpm_error(rc, "TRSess_SetAttributes", 0, d);
                }
        }
        /* An empty pcrDigest: the TPM takes the PCRs' current values. */
        TPM_CALL(rc, Esys_PolicyPCR(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty,
                                    sel));
        if (rc != TSS2_RC_SUCCESS) {
                (void) Esys_FlushContext(t->esys, s);
                return tpm_error(rc, "PolicyPCR", 0, d);
        }
        *ret = s;
        return 0;
}

int tpm_device_ephemeral_key(TpmDevice *t, uint32_t ak_handle, const TpmPcrSet *select,
                             const uint8_t *nonce, size_t nonce_size, uint8_t **ret_public,
                             size_t *ret_public_size, uint8_t **ret_certify,
                             size_t *ret_certify_size, uint8_t **ret_sig, size_t *ret_sig_size,
                             Diag *d) {
        _cleanup_(esys_freep) TPM2B_DIGEST *policy = NULL;
        _cleanup_(esys_freep) TPM2B_PUBLIC *pub = NULL;
        _cleanup_(esys_freep) TPM2B_CREATION_DATA *cdata = NULL;
        _cleanup_(esys_freep) TPM2B_DIGEST *chash = NULL;
        _cleanup_(esys_freep) TPMT_TK_CREATION *ticket = NULL;
        _cleanup_(esys_freep) TPM2B_ATTEST *certify = NULL;
        _cleanup_(esys_freep) TPMT_SIGNATURE *sig = NULL;
        _cleanup_(freep) uint8_t *pub_bytes = NULL, *cert_bytes = NULL, *sig_out = NULL;
        TPM2B_SENSITIVE_CREATE sens = {};
        TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
        TPML_PCR_SELECTION sel, none = {};
        TPM2B_DATA outside = {}, qualifying = {};
        TPM2B_PUBLIC tmpl = {};
        uint8_t sigbuf[sizeof(TPMT_SIGNATURE)];
        size_t pub_size, off = 0;
        ESYS_TR trial, key, ak;
        TSS2_RC rc;
        int r;

        if (nonce_size > sizeof(qualifying.buffer))
                return -EINVAL;
        selection_from_set(select, &sel);
        r = pcr_policy_session(t, TPM2_SE_TRIAL, &sel, ESYS_TR_NONE, &trial, d);
        if (r < 0)
                return r;
        TPM_CALL(rc, Esys_PolicyGetDigest(t->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                          &policy));
        (void) Esys_FlushContext(t->esys, trial);
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "PolicyGetDigest", 0, d);

        /* azure-cvm.md §6.2: RSA-2048, decrypt, not restricted, fixedTPM|fixedParent|
         * sensitiveDataOrigin|noDA, no userWithAuth: the user role needs the PCR policy. */
        tmpl.publicArea.type = TPM2_ALG_RSA;
        tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
        tmpl.publicArea.objectAttributes = TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                                           TPMA_OBJECT_FIXEDPARENT |
                                           TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_NODA;
        tmpl.publicArea.authPolicy = *policy;
        tmpl.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        tmpl.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        tmpl.publicArea.parameters.rsaDetail.keyBits = 2048;
        TPM_CALL(rc, Esys_CreatePrimary(t->esys, ESYS_TR_RH_NULL, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                        ESYS_TR_NONE, &sens, &tmpl, &outside, &none, &key, &pub,
                                        &cdata, &chash, &ticket));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "CreatePrimary(null, ephemeral key)", 0, d);
        r = marshal_public(pub, &pub_bytes, &pub_size);
        if (r >= 0)
                r = persistent_tr(t, ak_handle, &ak, d);
        if (r < 0) {
                (void) Esys_FlushContext(t->esys, key);
                return r;
        }
        qualifying.size = (UINT16) nonce_size;
        if (nonce_size)
                memcpy(qualifying.buffer, nonce, nonce_size);
        /* Certify needs the ADMIN role of the key: its (empty) authValue, adminWithPolicy being
         * clear. */
        TPM_CALL(rc, Esys_Certify(t->esys, key, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  &qualifying, &scheme, &certify, &sig));
        if (rc != TSS2_RC_SUCCESS) {
                (void) Esys_FlushContext(t->esys, key);
                return tpm_error(rc, "Certify", ak_handle, d);
        }
        if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sigbuf, sizeof(sigbuf), &off) != TSS2_RC_SUCCESS ||
            !(cert_bytes = malloc(certify->size)) || !(sig_out = malloc(off))) {
                (void) Esys_FlushContext(t->esys, key);
                return -ENOMEM;
        }
        memcpy(cert_bytes, certify->attestationData, certify->size);
        memcpy(sig_out, sigbuf, off);
        *ret_sig = TAKE_PTR(sig_out);
        *ret_sig_size = off;
        if (t->ephemeral != ESYS_TR_NONE)
                (void) Esys_FlushContext(t->esys, t->ephemeral);
        t->ephemeral = key;
        t->ephemeral_sel = sel;
        *ret_public_size = pub_size;
        *ret_public = TAKE_PTR(pub_bytes);
        *ret_certify_size = certify->size;
        *ret_certify = TAKE_PTR(cert_bytes);
        return 0;
}

int tpm_device_decrypt(TpmDevice *t, uint16_t scheme, uint16_t hash, const uint8_t *in,
                       size_t in_size, Secret **ret, Diag *d) {
        _cleanup_(esys_freep) TPM2B_PUBLIC_KEY_RSA *msg = NULL;
        _cleanup_(secret_freep) Secret *s = NULL;
        TPM2B_PUBLIC_KEY_RSA cipher = {};
        TPMT_RSA_DECRYPT sch = { .scheme = scheme };
        TPM2B_DATA label = {};
        ESYS_TR session;
        TSS2_RC rc;
        int r;

        if (t->ephemeral == ESYS_TR_NONE)
                return diag_set(d, -ENOKEY, "no ephemeral key in this TPM session");
        if (in_size == 0 || in_size > sizeof(cipher.buffer))
                return diag_set(d, -EBADMSG, "ciphertext of %zu bytes", in_size);
        if (scheme == TPM2_ALG_OAEP)
                sch.details.oaep.hashAlg = hash;
        cipher.size = (UINT16) in_size;
        memcpy(cipher.buffer, in, in_size);
        /* Salted with the ephemeral key itself: the plaintext (an AES key) leaves the TPM
         * encrypted under the session. */
        r = pcr_policy_session(t, TPM2_SE_POLICY, &t->ephemeral_sel, t->ephemeral, &session, d);
        if (r < 0)
                return r;
        TPM_CALL(rc, Esys_RSA_Decrypt(t->esys, t->ephemeral, session, ESYS_TR_NONE, ESYS_TR_NONE,
                                      &cipher, &sch, &label, &msg));
        (void) Esys_FlushContext(t->esys, session);
        if (rc != TSS2_RC_SUCCESS) {
                Diag inner = {};
                r = tpm_error(rc, "RSA_Decrypt", 0, &inner);
                if (r == -EPERM)
                        return diag_set(d, r, "the TPM refuses to decrypt: a PCR in the key's "
                                        "PolicyPCR changed since the key was made (%s)", inner.text);
                return diag_set(d, r, "%s", inner.text);
        }
        r = secret_new(msg->size ? msg->size : 1, &s);
        if (r >= 0) {
                memcpy(s->data, msg->buffer, msg->size);
                s->size = msg->size;
        }
        explicit_bzero(msg->buffer, sizeof(msg->buffer));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int tpm_device_esys(TpmDevice *t, ESYS_CONTEXT **ret_esys, void *ret_tcti) {
        *ret_esys = t->esys;
        if (ret_tcti)
                *(TSS2_TCTI_CONTEXT **) ret_tcti = t->tcti;
        return 0;
}

/* TCG EK Credential Profile: PolicyA = TPM2_PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256 (the
 * L templates), and PolicyB with SHA-384 (the H-3 template, an OR of PolicyA and PolicyC). */
static const uint8_t ek_policy_a_sha256[32] = {
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d,
        0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64,
        0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};
static const uint8_t ek_policy_b_sha384[48] = {
        0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc,
        0xf5, 0xfd, 0x3a, 0x1a, 0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4,
        0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca, 0xcb, 0x47, 0xba, 0x09,
        0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
};

static int ek_template(TpmEkType type, TPM2B_PUBLIC *ret) {
        TPMT_PUBLIC *p = &ret->publicArea;

        *ret = (TPM2B_PUBLIC) {};
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                              TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                              TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
        p->authPolicy.size = sizeof(ek_policy_a_sha256);
        memcpy(p->authPolicy.buffer, ek_policy_a_sha256, sizeof(ek_policy_a_sha256));
        switch (type) {
        case TPM_EK_RSA_2048:
                /* L-1: the exponent 0 means 65537; unique is 256 zero bytes. */
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
                p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.rsaDetail.keyBits = 2048;
                p->parameters.rsaDetail.exponent = 0;
                p->unique.rsa.size = 256;
                return 0;
        case TPM_EK_ECC_P256:
                /* L-2: unique x and y are 32 zero bytes each. */
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.eccDetail.symmetric.keyBits.aes = 128;
                p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
                p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
                p->unique.ecc.x.size = 32;
                p->unique.ecc.y.size = 32;
                return 0;
        case TPM_EK_ECC_P384:
                /* H-3: SHA-384, userWithAuth, PolicyB, AES-256, empty unique. */
                p->type = TPM2_ALG_ECC;
                p->nameAlg = TPM2_ALG_SHA384;
                p->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
                p->authPolicy.size = sizeof(ek_policy_b_sha384);
                memcpy(p->authPolicy.buffer, ek_policy_b_sha384, sizeof(ek_policy_b_sha384));
                p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
                p->parameters.eccDetail.symmetric.keyBits.aes = 256;
                p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
                p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
                p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
                p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
                return 0;
        default:
                return -EINVAL;
        }
}

static const char *ek_type_name(TpmEkType type) {
        static const char *const names[_TPM_EK_TYPE_MAX] = {
                [TPM_EK_RSA_2048] = "RSA 2048 (L-1)",
                [TPM_EK_ECC_P256] = "ECC P-256 (L-2)",
                [TPM_EK_ECC_P384] = "ECC P-384 (H-3)",
        };
        return type >= 0 && type < _TPM_EK_TYPE_MAX ? names[type] : "unknown";
}

/* The EK as a transient object: the caller flushes *ret. */
static int ek_create(TpmDevice *t, TpmEkType type, ESYS_TR *ret, TPM2B_PUBLIC **ret_public,
                     Diag *d) {
        _cleanup_(esys_freep) TPM2B_CREATION_DATA *cdata = NULL;
        _cleanup_(esys_freep) TPM2B_DIGEST *chash = NULL;
        _cleanup_(esys_freep) TPMT_TK_CREATION *ticket = NULL;
        _cleanup_(esys_freep) TPM2B_PUBLIC *pub = NULL;
        TPM2B_SENSITIVE_CREATE sens = {};
        TPM2B_DATA outside = {};
        TPML_PCR_SELECTION none = {};
        TPM2B_PUBLIC tmpl;
        char what[64];
        TSS2_RC rc;

        if (ek_template(type, &tmpl) < 0)
                return diag_set(d, -EINVAL, "unknown EK type %d", (int) type);
        TPM_CALL(rc, Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                                        ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &none,
                                        ret, &pub, &cdata, &chash, &ticket));
        if (rc != TSS2_RC_SUCCESS) {
                (void) snprintf(what, sizeof(what), "CreatePrimary(endorsement, EK %s)",
                                ek_type_name(type));
                return tpm_error(rc, what, 0, d);
        }
        if (ret_public)
                *ret_public = TAKE_PTR(pub);
        return 0;
}

int tpm_device_ek(TpmDevice *t, TpmEkType type, uint8_t **ret_public, size_t *ret_size, Diag *d) {
        _cleanup_(esys_freep) TPM2B_PUBLIC *pub = NULL;
        ESYS_TR ek;
        int r;

        r = ek_create(t, type, &ek, &pub, d);
        if (r < 0)
                return r;
        (void) Esys_FlushContext(t->esys, ek);
        return marshal_public(pub, ret_public, ret_size);
}

int tpm_device_ek_certificate(TpmDevice *t, TpmEkType type, uint8_t **ret_der, size_t *ret_size,
                              Diag *d) {
        static const uint32_t index[_TPM_EK_TYPE_MAX] = {
                [TPM_EK_RSA_2048] = TPM_NV_EK_CERT_RSA,
                [TPM_EK_ECC_P256] = TPM_NV_EK_CERT_ECC,
                [TPM_EK_ECC_P384] = TPM_NV_EK_CERT_ECC_P384,
        };
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size, der_size;
        int r;

        if (type < 0 || type >= _TPM_EK_TYPE_MAX)
                return diag_set(d, -EINVAL, "unknown EK type %d", (int) type);
        r = tpm_device_nv_read(t, index[type], &buf, &size, d);
        if (r < 0)
                return r;
        /* The index may be larger than the certificate: zero padding follows it. */
        r = der_trim_padding(buf, size, &der_size);
        if (r < 0)
                return diag_set(d, r, "NV index 0x%08x (EK %s certificate) holds no DER "
                                "certificate", index[type], ek_type_name(type));
        *ret_size = der_size;
        *ret_der = TAKE_PTR(buf);
        return 0;
}

/* Whether the TPM is healthy (not in failure mode): TPM2_GetTestResult works in failure mode. */
static bool tpm_healthy(TpmDevice *t) {
        _cleanup_(esys_freep) TPM2B_MAX_BUFFER *data = NULL;
        TPM2_RC result = TPM2_RC_FAILURE;
        TSS2_RC rc;

        TPM_CALL(rc, Esys_GetTestResult(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &data,
                                        &result));
        return rc == TSS2_RC_SUCCESS && result == TPM2_RC_SUCCESS;
}

/* The activation's refusals that mean "not for this AK or this TPM", apart from the rest. */
static int activate_error(TpmDevice *t, TSS2_RC rc, uint32_t ak_handle, TpmEkType ek_type,
                          Diag *d) {
        TSS2_RC b = rc_base(rc);
        unsigned param = (rc & TPM2_RC_P) ? (unsigned) ((rc & TPM2_RC_N_MASK) >> 8) : 0;
        Diag inner = {};
        int r;

        r = tpm_error(rc, "ActivateCredential", ak_handle, &inner);
        if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
                return diag_set(d, r, "%s", inner.text);
        if (b == TPM2_RC_INTEGRITY)
                return diag_set(d, -EKEYREJECTED, "the credential is not for this AK/TPM: its "
                                "integrity check fails with the key at 0x%08x and the EK %s (made "
                                "for another key name or EK, or altered) (%s)", ak_handle,
                                ek_type_name(ek_type), inner.text);
        /* Parameter 2, the encrypted seed: it does not decrypt with this EK. */
        if (param == 2 && (b == TPM2_RC_VALUE || b == TPM2_RC_ECC_POINT || b == TPM2_RC_SIZE ||
                           b == TPM2_RC_NO_RESULT))
                return diag_set(d, -EKEYREJECTED, "the credential is not for this TPM: its seed "
                                "does not decrypt with the EK %s (%s)", ek_type_name(ek_type),
                                inner.text);
        /* libtpms answers TPM_RC_FAILURE, without a parameter, when OAEP decoding of the seed
         * fails; a TPM really in failure mode says so in TPM2_GetTestResult. */
        if (b == TPM2_RC_FAILURE && tpm_healthy(t))
                return diag_set(d, -EKEYREJECTED, "the credential is not for this TPM: its seed "
                                "does not decrypt with the EK %s (%s)", ek_type_name(ek_type),
                                inner.text);
        if (param == 1 && (b == TPM2_RC_SIZE || b == TPM2_RC_VALUE))
                return diag_set(d, -EBADMSG, "the credential blob is malformed (%s)",
                                inner.text);
        return diag_set(d, r, "%s", inner.text);
}

int tpm_device_activate_credential(TpmDevice *t, uint32_t ak_handle, TpmEkType ek_type,
                                   const uint8_t *credential_blob, size_t blob_size,
                                   const uint8_t *encrypted_secret, size_t secret_size,
                                   Secret **ret, Diag *d) {
        _cleanup_(esys_freep) TPM2B_PUBLIC *ek_pub = NULL;
        _cleanup_(esys_freep) TPM2B_DIGEST *cert_info = NULL;
        _cleanup_(secret_freep) Secret *s = NULL;
        TPM2B_ID_OBJECT blob = {};
        TPM2B_ENCRYPTED_SECRET wrapped = {};
        ESYS_TR ak, ek, session = ESYS_TR_NONE, ek_auth = ESYS_TR_PASSWORD;
        size_t off = 0;
        TSS2_RC rc;
        int r;

        if (!credential_blob ||
            Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential_blob, blob_size, &off, &blob) !=
                    TSS2_RC_SUCCESS ||
            off != blob_size)
                return diag_set(d, -EBADMSG, "credential blob: %zu bytes, not a TPM2B_ID_OBJECT",
                                blob_size);
        off = 0;
        if (!encrypted_secret ||
            Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(encrypted_secret, secret_size, &off,
                                                     &wrapped) != TSS2_RC_SUCCESS ||
            off != secret_size)
                return diag_set(d, -EBADMSG, "encrypted secret: %zu bytes, not a "
                                "TPM2B_ENCRYPTED_SECRET", secret_size);
        r = persistent_tr(t, ak_handle, &ak, d);
        if (r < 0)
                return r;
        r = ek_create(t, ek_type, &ek, &ek_pub, d);
        if (r < 0)
                return r;

        /* The EK's USER role: its policy (PolicySecret with the endorsement hierarchy's empty
         * password) unless the template allows the (empty) authValue. */
        if (!(ek_pub->publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH)) {
                _cleanup_(esys_freep) TPM2B_TIMEOUT *timeout = NULL;
                _cleanup_(esys_freep) TPMT_TK_AUTH *ticket = NULL;
                TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
                TPM2B_NONCE nonce_tpm = {};
                TPM2B_DIGEST cp_hash = {};
                TPM2B_NONCE policy_ref = {};

                TPM_CALL(rc, Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
                                                   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                                   TPM2_SE_POLICY, &sym,
                                                   ek_pub->publicArea.nameAlg, &session));
                if (rc != TSS2_RC_SUCCESS) {
                        (void) Esys_FlushContext(t->esys, ek);
                        return tpm_error(rc, "StartAuthSession", 0, d);
                }
                TPM_CALL(rc, Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, session,
                                               ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                               &nonce_tpm, &cp_hash, &policy_ref, 0, &timeout,
                                               &ticket));
                if (rc != TSS2_RC_SUCCESS) {
                        (void) Esys_FlushContext(t->esys, session);
                        (void) Esys_FlushContext(t->esys, ek);
                        return tpm_error(rc, "PolicySecret(endorsement)", 0, d);
                }
                ek_auth = session;
        }

        /* activateHandle (the AK) in the ADMIN role with its password, keyHandle (the EK) in the
         * USER role. ESAPI starts sessions with continueSession set: flush it ourselves (swtpm
         * holds three sessions, and nothing else would free them). */
        TPM_CALL(rc, Esys_ActivateCredential(t->esys, ak, ek, ESYS_TR_PASSWORD, ek_auth,
                                             ESYS_TR_NONE, &blob, &wrapped, &cert_info));
        if (session != ESYS_TR_NONE)
                (void) Esys_FlushContext(t->esys, session);
        (void) Esys_FlushContext(t->esys, ek);
        if (rc != TSS2_RC_SUCCESS)
                return activate_error(t, rc, ak_handle, ek_type, d);

        r = secret_new(cert_info->size ? cert_info->size : 1, &s);
        if (r >= 0) {
                memcpy(s->data, cert_info->buffer, cert_info->size);
                s->size = cert_info->size;
        }
        explicit_bzero(cert_info->buffer, sizeof(cert_info->buffer));
        if (r < 0)
                return r;
        log_debug("TPM2_ActivateCredential with the key at 0x%08x and the EK %s: %zu-byte secret",
                  ak_handle, ek_type_name(ek_type), s->size);
        *ret = TAKE_PTR(s);
        return 0;
}
