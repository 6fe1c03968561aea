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

static int pcr_policy_session(TpmDevice *t, TPM2_SE type, const TPML_PCR_SELECTION *sel,
                              ESYS_TR *ret, Diag *d) {
        TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        TPM2B_DIGEST empty = {};
        ESYS_TR s;
        TSS2_RC rc;

        TPM_CALL(rc, Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym,
                                           TPM2_ALG_SHA256, &s));
        if (rc != TSS2_RC_SUCCESS)
                return tpm_error(rc, "StartAuthSession", 0, d);
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
        r = pcr_policy_session(t, TPM2_SE_TRIAL, &sel, &trial, d);
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
        r = pcr_policy_session(t, TPM2_SE_POLICY, &t->ephemeral_sel, &session, d);
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
