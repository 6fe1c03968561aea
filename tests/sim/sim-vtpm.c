/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/sim/sim-vtpm.h"
#include "common/codec.h"
#include "tests/sim/sim-eventlog.h"
#include "tests/sim/sim-hcl.h"
#include "tests/sim/sim-platform.h"
#include "tests/sim/sim-tpm.h"
#include "tests/sim/sim-util.h"

DEFINE_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free);
DEFINE_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);

static inline void openssl_freep(uint8_t **p) {
        OPENSSL_free(*p);
}

#define AUTH_SIZE              8 /* OpenHCL's platform indices use a u64 password */
#define DAY                    (24 * 60 * 60)
#define AKCA_DAYS              (25 * 365)
#define AKCERT_DAYS            (2 * 365)
#define AKCA_CN                "cvm-sim TEST AK CA - not Azure, do not trust"
#define TCG_KP_AIK_CERTIFICATE "2.23.133.8.3"

/* OpenHCL's AK template (openvmm tpm_lib ak_pub_template): RSA-2048, RSASSA-SHA256,
 * restricted signing, noDA, unique = 256 zero bytes. */
#define AK_ATTRIBUTES                                                                       \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
         TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |             \
         TPMA_OBJECT_SIGN_ENCRYPT)

/* OpenHCL's platform-created indices (tpm_lib nv_define_space): password read/write, owner read */
#define PLATFORM_NV_ATTRIBUTES                                                               \
        (TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD | TPMA_NV_PLATFORMCREATE | \
         TPMA_NV_NO_DA)
/* the guest's user-data index, as the guest (and OpenHCL for owner indices) defines it */
#define USER_NV_ATTRIBUTES \
        (TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD)

static int openssl_fail(const char *what) {
        unsigned long e = ERR_get_error();
        char buf[256] = "";

        if (e != 0)
                ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        sim_log("%s failed%s%s", what, e ? ": " : "", buf);
        return -EIO;
}

/* ---- the paravisor's secret ---- */

static int auth_load(const char *dir, bool create, uint8_t ret[static AUTH_SIZE], bool *ret_new) {
        _cleanup_(freep) uint8_t *text = NULL;
        char path[PATH_MAX], hex[2 * AUTH_SIZE + 2];
        size_t size;
        int r;

        r = sim_path_join(path, sizeof(path), dir, SIM_VTPM_AUTH);
        if (r < 0)
                return r;
        r = sim_read_file(path, 64, &text, &size);
        if (r >= 0 && size >= 2 * AUTH_SIZE)
                text[2 * AUTH_SIZE] = '\0'; /* the newline */
        if (r >= 0 && size >= 2 * AUTH_SIZE &&
            hex_decode_exact((const char *) text, ret, AUTH_SIZE) >= 0) {
                if (ret_new)
                        *ret_new = false;
                return 0;
        }
        if (!create)
                return sim_log_errno(r < 0 ? r : -EBADMSG, "Cannot read %s", path);
        if (RAND_bytes(ret, AUTH_SIZE) != 1)
                return -EIO;
        hex_encode_buf(ret, AUTH_SIZE, hex);
        hex[2 * AUTH_SIZE] = '\n';
        hex[2 * AUTH_SIZE + 1] = '\0';
        r = sim_write_file_atomic(path, hex, 2 * AUTH_SIZE + 1, 0600);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", path);
        if (ret_new)
                *ret_new = true;
        return 0;
}

/* ---- the AK ---- */

static int ak_ensure(int fd, TPM2B_PUBLIC *ret, bool *ret_new) {
        TPM2B_PUBLIC tmpl = {};
        TPMT_PUBLIC *t = &tmpl.publicArea;
        TPM2_HANDLE h;
        int r;

        t->type = TPM2_ALG_RSA;
        t->nameAlg = TPM2_ALG_SHA256;
        t->objectAttributes = AK_ATTRIBUTES;
        t->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        t->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
        t->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
        t->parameters.rsaDetail.keyBits = 2048;
        t->parameters.rsaDetail.exponent = 0; /* 65537 */
        t->unique.rsa.size = 256;             /* all zero */

        r = sim_tpm_read_public(fd, SIM_AK_HANDLE, ret);
        if (r >= 0) {
                if (ret->publicArea.type != TPM2_ALG_RSA ||
                    ret->publicArea.objectAttributes != AK_ATTRIBUTES)
                        sim_log("Warning: the object at 0x%08x is not an AK as OpenHCL makes it",
                                SIM_AK_HANDLE);
                *ret_new = false;
                return 0;
        }
        if (r != -ENOENT)
                return sim_log_errno(r, "Cannot read the AK at 0x%08x", SIM_AK_HANDLE);
        sim_log("Creating the AK (RSA-2048, endorsement hierarchy) at 0x%08x", SIM_AK_HANDLE);
        r = sim_tpm_create_primary(fd, TPM2_RH_ENDORSEMENT, &tmpl, &h, ret);
        if (r < 0)
                return sim_log_errno(r, "Cannot create the AK");
        r = sim_tpm_evict_control(fd, h, SIM_AK_HANDLE);
        /* swtpm has no resource manager: a transient object left loaded would stay */
        (void) sim_tpm_flush(fd, h);
        if (r < 0)
                return sim_log_errno(r, "Cannot persist the AK");
        *ret_new = true;
        return 0;
}

static int rsa_pkey_from_public(const TPM2B_PUBLIC *pub, EVP_PKEY **ret) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;
        const TPMT_PUBLIC *t = &pub->publicArea;
        uint32_t exponent = t->parameters.rsaDetail.exponent ?: 65537;

        if (t->type != TPM2_ALG_RSA || t->unique.rsa.size == 0)
                return -EBADMSG;
        n = BN_bin2bn(t->unique.rsa.buffer, t->unique.rsa.size, NULL);
        e = BN_new();
        if (!bld || !n || !e || BN_set_word(e, exponent) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
                return openssl_fail("Building the AK public key");
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, ret, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return openssl_fail("Building the AK public key");
        return 0;
}

static int write_pubkey(const char *dir, const char *name, EVP_PKEY *key) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        char path[PATH_MAX], *data = NULL;
        long n;
        int r;

        r = sim_path_join(path, sizeof(path), dir, name);
        if (r < 0)
                return r;
        if (!b || PEM_write_bio_PUBKEY(b, key) != 1)
                return openssl_fail("Encoding the AK public key");
        n = BIO_get_mem_data(b, &data);
        if (n <= 0 || !data)
                return -EIO;
        r = sim_write_file_atomic(path, data, (size_t) n, 0644);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", path);
        return 0;
}

/* ---- the test AK CA and the AK certificate ---- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        X509V3_CTX ctx;

        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
        if (!ext || X509_add_ext(x, ext, -1) != 1)
                return openssl_fail(value);
        return 0;
}

static X509_NAME *name_new(const char *cn) {
        X509_NAME *name = X509_NAME_new();

        if (!name ||
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                       (const unsigned char *) "cvm-sim test PKI", -1, -1,
                                       0) != 1 ||
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1,
                                       -1, 0) != 1) {
                X509_NAME_free(name);
                return NULL;
        }
        return name;
}

static X509 *cert_new(const char *subject_cn, X509 *issuer, long days, EVP_PKEY *pub) {
        _cleanup_(X509_NAME_freep) X509_NAME *subj = name_new(subject_cn);
        _cleanup_(BN_freep) BIGNUM *serial = BN_new();
        X509 *x = X509_new();

        /* a random positive 127-bit serial */
        if (!x || !subj || !serial ||
            BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
            X509_set_version(x, X509_VERSION_3) != 1 || X509_set_subject_name(x, subj) != 1 ||
            X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj) != 1 ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -DAY) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), (int) days, -DAY, NULL) ||
            X509_set_pubkey(x, pub) != 1) {
                X509_free(x);
                (void) openssl_fail(subject_cn);
                return NULL;
        }
        return x;
}

static int pem_file_write(const char *dir, const char *name, X509 *cert, EVP_PKEY *key,
                          mode_t mode) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        char path[PATH_MAX], *data = NULL;
        long n;
        int r;

        r = sim_path_join(path, sizeof(path), dir, name);
        if (r < 0)
                return r;
        if (!b || (cert && PEM_write_bio_X509(b, cert) != 1) ||
            (key && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1))
                return openssl_fail("PEM encoding");
        n = BIO_get_mem_data(b, &data);
        if (n <= 0 || !data)
                return -EIO;
        r = sim_write_file_atomic(path, data, (size_t) n, mode);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", path);
        return 0;
}

/* DIR/akca.pem + akca.key: made once (EC P-256, self-signed, clearly a test CA). */
static int akca_ensure(const char *dir, X509 **ret_cert, EVP_PKEY **ret_key, bool *ret_new) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        char pem[PATH_MAX], keyp[PATH_MAX];
        int r;

        if (sim_path_join(pem, sizeof(pem), dir, SIM_VTPM_AKCA_PEM) < 0 ||
            sim_path_join(keyp, sizeof(keyp), dir, SIM_VTPM_AKCA_KEY) < 0)
                return -ENAMETOOLONG;
        if (sim_file_exists(pem) && sim_file_exists(keyp)) {
                _cleanup_(BIO_freep) BIO *cb = BIO_new_file(pem, "r");
                _cleanup_(BIO_freep) BIO *kb = BIO_new_file(keyp, "r");

                if (!cb || !kb)
                        return sim_log_errno(-ENOENT, "Cannot open %s or %s", pem, keyp);
                x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
                key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
                if (!x || !key)
                        return openssl_fail("Reading the AK CA");
                *ret_new = false;
        } else {
                sim_log("Generating the test AK CA (EC P-256): %s", pem);
                key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                if (!key)
                        return openssl_fail("EC P-256 key generation");
                x = cert_new(AKCA_CN, NULL, AKCA_DAYS, key);
                if (!x)
                        return -EIO;
                if ((r = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) < 0 ||
                    (r = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0 ||
                    (r = add_ext(x, x, NID_subject_key_identifier, "hash")) < 0 ||
                    (r = add_ext(x, x, NID_netscape_comment,
                                 "cvm-sim test CA for vTPM AK certificates; not Azure's")) < 0)
                        return r;
                if (X509_sign(x, key, EVP_sha256()) <= 0)
                        return openssl_fail("Signing the AK CA");
                /* key first: a certificate without its key would look complete */
                r = pem_file_write(dir, SIM_VTPM_AKCA_KEY, NULL, key, 0600);
                if (r < 0)
                        return r;
                r = pem_file_write(dir, SIM_VTPM_AKCA_PEM, x, NULL, 0644);
                if (r < 0)
                        return r;
                *ret_new = true;
        }
        *ret_cert = TAKE_PTR(x);
        *ret_key = TAKE_PTR(key);
        return 0;
}

static int akcert_issue(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *ak, const char *vm_id,
                        uint8_t **ret_der, size_t *ret_size) {
        _cleanup_(X509_freep) X509 *x = NULL;
        uint8_t *der = NULL;
        int n, r;

        /* Azure names the AK certificate after the VM; the issuer here is our test CA. */
        x = cert_new(vm_id, ca, AKCERT_DAYS, ak);
        if (!x)
                return -EIO;
        if ((r = add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE")) < 0 ||
            (r = add_ext(x, ca, NID_key_usage, "critical,digitalSignature")) < 0 ||
            (r = add_ext(x, ca, NID_ext_key_usage, TCG_KP_AIK_CERTIFICATE)) < 0 ||
            (r = add_ext(x, ca, NID_subject_key_identifier, "hash")) < 0 ||
            (r = add_ext(x, ca, NID_authority_key_identifier, "keyid:always")) < 0)
                return r;
        if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
                return openssl_fail("Signing the AK certificate");
        n = i2d_X509(x, &der);
        if (n <= 0)
                return openssl_fail("Encoding the AK certificate");
        *ret_der = der;
        *ret_size = (size_t) n;
        return 0;
}

/* Whether NV 0x01C101D0 holds a certificate for ak issued by ca (read with owner auth). */
static bool akcert_current(int fd, X509 *ca, EVP_PKEY *ak) {
        _cleanup_(X509_freep) X509 *x = NULL;
        uint8_t buf[SIM_TPM_NV_INDEX_MAX];
        const uint8_t *p = buf;
        TPMS_NV_PUBLIC pub;

        if (sim_tpm_nv_read_public(fd, SIM_NV_AK_CERT, &pub) < 0 ||
            pub.attributes != (PLATFORM_NV_ATTRIBUTES | TPMA_NV_WRITTEN) ||
            pub.dataSize > sizeof(buf) ||
            sim_tpm_nv_read(fd, TPM2_RH_OWNER, NULL, 0, SIM_NV_AK_CERT, buf, pub.dataSize) < 0)
                return false;
        x = d2i_X509(NULL, &p, pub.dataSize); /* the zero padding after the DER is ignored */
        return x && EVP_PKEY_eq(X509_get0_pubkey(x), ak) == 1 &&
               X509_verify(x, X509_get0_pubkey(ca)) == 1 &&
               X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
}

/* (Re)defines a platform-created index of size bytes and fills it with data, zero-padded. */
static int platform_nv_write(int fd, const uint8_t auth[static AUTH_SIZE], TPM2_HANDLE index,
                             uint16_t size, const uint8_t *data, size_t data_size) {
        _cleanup_(freep) uint8_t *buf = NULL;
        int r;

        if (data_size > size)
                return -E2BIG;
        r = sim_tpm_nv_undefine(fd, TPM2_RH_PLATFORM, index);
        if (r < 0 && r != -ENOENT)
                return sim_log_errno(r, "Cannot undefine NV 0x%08x", index);
        r = sim_tpm_nv_define(fd, TPM2_RH_PLATFORM, auth, AUTH_SIZE, index, PLATFORM_NV_ATTRIBUTES,
                              size);
        if (r < 0)
                return sim_log_errno(r, "Cannot define NV 0x%08x", index);
        if (!data)
                return 0;
        buf = calloc(1, size);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, data, data_size);
        r = sim_tpm_nv_write(fd, index, auth, AUTH_SIZE, index, buf, size);
        if (r < 0)
                return sim_log_errno(r, "Cannot write NV 0x%08x", index);
        return 0;
}

static int akcert_ensure(int fd, const char *dir, const uint8_t auth[static AUTH_SIZE],
                         const TPM2B_PUBLIC *ak_pub, bool force) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL, *ca_key = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL;
        _cleanup_(openssl_freep) uint8_t *der = NULL;
        char vm_id[37];
        SimPlatform p;
        size_t der_size = 0;
        bool ca_new;
        int r;

        r = rsa_pkey_from_public(ak_pub, &ak);
        if (r < 0)
                return sim_log_errno(r, "The AK at 0x%08x is not an RSA key", SIM_AK_HANDLE);
        r = write_pubkey(dir, SIM_VTPM_AK_PUB, ak);
        if (r < 0)
                return r;
        r = akca_ensure(dir, &ca, &ca_key, &ca_new);
        if (r < 0)
                return r;
        if (!force && !ca_new && akcert_current(fd, ca, ak))
                return 0;
        r = sim_platform_load(dir, &p);
        if (r < 0)
                return r;
        sim_hcl_vm_unique_id(&p, vm_id);
        r = akcert_issue(ca, ca_key, ak, vm_id, &der, &der_size);
        if (r < 0)
                return r;
        /* Azure's AK certificate index is larger than the certificate and zero-padded (OpenHCL
         * write_to_nv_index); readers take the DER length from the certificate itself. */
        sim_log("Writing the AK certificate (%zu bytes DER) to NV 0x%08x", der_size,
                SIM_NV_AK_CERT);
        return platform_nv_write(fd, auth, SIM_NV_AK_CERT, SIM_TPM_NV_INDEX_MAX, der, der_size);
}

/* ---- measured boot ---- */

static int eventlog_load(const char *path, uint8_t **ret_buf, SimEventLog *ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        int r;

        r = sim_read_file(path, SIM_EVENTLOG_MAX_SIZE, &buf, &size);
        if (r < 0)
                return sim_log_errno(r, "Cannot read the event log %s", path);
        r = sim_eventlog_parse(buf, size, ret);
        if (r == -EPROTONOSUPPORT)
                return sim_log_errno(r, "%s is not a crypto-agile (TCG 2.0) event log", path);
        if (r < 0)
                return sim_log_errno(r, "%s: malformed event log", path);
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

static int measure(int fd, const SimEventLog *l) {
        size_t n = 0;

        for (size_t i = 0; i < l->n_events; i++) {
                const SimEvent *e = &l->events[i];
                TPML_DIGEST_VALUES d = {};
                int r;

                if (e->type == SIM_EV_NO_ACTION)
                        continue;
                if (e->n_digests == 0)
                        continue;
                if (e->n_digests > TPM2_NUM_PCR_BANKS)
                        return -E2BIG;
                d.count = e->n_digests;
                for (uint32_t j = 0; j < e->n_digests; j++) {
                        d.digests[j].hashAlg = e->digests[j].alg;
                        if (e->digests[j].size > sizeof(d.digests[j].digest))
                                return -EBADMSG;
                        memcpy(&d.digests[j].digest, e->digests[j].digest, e->digests[j].size);
                }
                r = sim_tpm_pcr_extend(fd, e->pcr, &d);
                if (r < 0)
                        return sim_log_errno(r, "Extending PCR %u (event %zu, type 0x%x) failed",
                                             e->pcr, i + 1, e->type);
                n++;
        }
        sim_log("Measured boot: %zu events extended", n);
        return 0;
}

/* The PCRs the firmware owns (0..15) against our own replay of the log, in every bank. */
static int measure_check(int fd, const SimEventLog *l) {
        for (uint32_t a = 0; a < l->n_algs; a++) {
                uint8_t want[SIM_EVENTLOG_PCRS][64];
                size_t size;
                int r;

                r = sim_eventlog_replay(l, l->algs[a].alg, want, &size);
                if (r == -EPROTONOSUPPORT)
                        continue;
                if (r < 0)
                        return r;
                for (uint32_t pcr = 0; pcr < 16; pcr++) {
                        uint8_t got[64];
                        size_t got_size;

                        r = sim_tpm_pcr_read(fd, l->algs[a].alg, pcr, got, &got_size);
                        if (r == -ENOENT)
                                break; /* bank not allocated in this swtpm */
                        if (r < 0)
                                return r;
                        if (got_size != size || memcmp(got, want[pcr], size) != 0)
                                return sim_log_errno(-EIO,
                                                     "PCR %u (bank 0x%04x) differs from the log's "
                                                     "replay",
                                                     pcr, l->algs[a].alg);
                }
        }
        return 0;
}

static int startup(uint16_t port, int *fd, uint8_t locality) {
        int r;

        if (locality != 0 && locality != 3)
                return sim_log_errno(-EPROTONOSUPPORT,
                                     "The event log starts at locality %u; only 0 and 3 can be "
                                     "simulated",
                                     locality);
        if (locality != 0) {
                r = sim_swtpm_ctrl(port + 1, SIM_SWTPM_CMD_SET_LOCALITY, &locality, 1);
                if (r < 0)
                        return r;
        }
        r = sim_tpm_startup(*fd, TPM2_SU_CLEAR);
        if (locality != 0) {
                uint8_t zero = 0;
                int q = sim_swtpm_ctrl(port + 1, SIM_SWTPM_CMD_SET_LOCALITY, &zero, 1);

                if (r >= 0 && q < 0)
                        r = q;
        }
        if (r == -EALREADY)
                return sim_log_errno(r, "The TPM was already started (swtpm must be fresh)");
        if (r < 0)
                return sim_log_errno(r, "TPM2_Startup failed");
        return 0;
}

int sim_vtpm_setup(const char *dir, const SimVtpmSetup *o) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) uint8_t *log_buf = NULL;
        _cleanup_(sim_eventlog_done) SimEventLog log = {};
        uint8_t auth[AUTH_SIZE];
        TPM2B_PUBLIC ak;
        bool ak_new, auth_new;
        int r;

        CLEANUP_ERASE(auth);
        if (o->eventlog) {
                r = eventlog_load(o->eventlog, &log_buf, &log);
                if (r < 0)
                        return r;
        }
        r = sim_tpm_connect(o->port, &fd);
        if (r < 0)
                return sim_log_errno(r, "Cannot connect to swtpm on port %u", o->port);
        r = startup(o->port, &fd, log.has_startup_locality ? log.startup_locality : 0);
        if (r < 0)
                return r;

        r = auth_load(dir, /* create= */ true, auth, &auth_new);
        if (r < 0)
                return r;
        r = ak_ensure(fd, &ak, &ak_new);
        if (r < 0)
                return r;
        r = akcert_ensure(fd, dir, auth, &ak, ak_new || auth_new);
        if (r < 0)
                return r;

        if (o->eventlog) {
                r = measure(fd, &log);
                if (r < 0)
                        return r;
                r = measure_check(fd, &log);
                if (r < 0)
                        return r;
        }

        if (o->azure) {
                TPMS_NV_PUBLIC pub;

                /* Redefined at every boot, as OpenHCL does; cvm-simd serve fills it. */
                r = platform_nv_write(fd, auth, SIM_NV_HCL_REPORT, SIM_HCL_NV_SIZE, NULL, 0);
                if (r < 0)
                        return r;
                r = sim_tpm_nv_read_public(fd, SIM_NV_HCL_USER_DATA, &pub);
                if (r == -ENOENT) {
                        r = sim_tpm_nv_define(fd, TPM2_RH_OWNER, NULL, 0, SIM_NV_HCL_USER_DATA,
                                              USER_NV_ATTRIBUTES, SIM_HCL_USER_DATA_SIZE);
                        if (r < 0)
                                return sim_log_errno(r, "Cannot define NV 0x%08x",
                                                     SIM_NV_HCL_USER_DATA);
                } else if (r < 0)
                        return r;
        } else {
                /* a trusted-launch VM: no HCL report */
                r = sim_tpm_nv_undefine(fd, TPM2_RH_PLATFORM, SIM_NV_HCL_REPORT);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return 0;
}

/* ---- the paravisor reacting to the guest ---- */

static bool secure_boot_from_log(const char *dir) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(sim_eventlog_done) SimEventLog log = {};
        char path[PATH_MAX];
        size_t size;

        if (sim_path_join(path, sizeof(path), dir, SIM_VTPM_EVENTLOG) < 0 ||
            sim_read_file(path, SIM_EVENTLOG_MAX_SIZE, &buf, &size) < 0 ||
            sim_eventlog_parse(buf, size, &log) < 0)
                return false;
        return sim_eventlog_secure_boot(&log) == 1;
}

static int user_data_read(int fd, uint8_t ret[static SIM_HCL_USER_DATA_SIZE]) {
        static const TPM2_HANDLE auths[] = {TPM2_RH_OWNER, SIM_NV_HCL_USER_DATA};
        TPMS_NV_PUBLIC pub;
        size_t n;
        int r;

        memset(ret, 0, SIM_HCL_USER_DATA_SIZE);
        r = sim_tpm_nv_read_public(fd, SIM_NV_HCL_USER_DATA, &pub);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!(pub.attributes & TPMA_NV_WRITTEN))
                return 0;
        /* the guest may have redefined it with another size: its first 64 bytes count */
        n = MIN((size_t) pub.dataSize, (size_t) SIM_HCL_USER_DATA_SIZE);
        /* owner auth (empty), as the guest reads it; then the index's own (empty) auth */
        for (size_t i = 0; i < ELEMENTSOF(auths); i++) {
                r = sim_tpm_nv_read(fd, auths[i], NULL, 0, SIM_NV_HCL_USER_DATA, ret, n);
                if (r >= 0)
                        return 0;
        }
        return r;
}

int sim_vtpm_hcl_refresh(int fd, const char *dir, const uint8_t report_id[static 32],
                         bool read_user_data) {
        uint8_t auth[AUTH_SIZE], report[SIM_HCL_NV_SIZE];
        SimHclClaims c = {};
        TPM2B_PUBLIC ak;
        SimPlatform p;
        int r;

        CLEANUP_ERASE(auth);
        r = sim_platform_load(dir, &p);
        if (r < 0)
                return r;
        r = auth_load(dir, /* create= */ false, auth, NULL);
        if (r < 0)
                return r;
        /* the AK as the TPM has it now, like OpenHCL's create_ak_pub() on an existing key */
        r = sim_tpm_read_public(fd, SIM_AK_HANDLE, &ak);
        if (r < 0)
                return sim_log_errno(r, "Cannot read the AK at 0x%08x", SIM_AK_HANDLE);
        if (ak.publicArea.type != TPM2_ALG_RSA || ak.publicArea.unique.rsa.size > sizeof(c.ak_n))
                return sim_log_errno(-EBADMSG, "The AK is not an RSA key");
        memcpy(c.ak_n, ak.publicArea.unique.rsa.buffer, ak.publicArea.unique.rsa.size);
        c.ak_n_size = ak.publicArea.unique.rsa.size;
        c.ak_e = ak.publicArea.parameters.rsaDetail.exponent ?: 65537;
        c.console_enabled = p.hcl_console_enabled;
        c.tpm_enabled = p.hcl_tpm_enabled;
        c.secure_boot = p.hcl_secure_boot == SIM_HCL_SECURE_BOOT_FROM_LOG
                                ? secure_boot_from_log(dir)
                                : p.hcl_secure_boot == 1;
        sim_hcl_vm_unique_id(&p, c.vm_unique_id);
        if (read_user_data) {
                r = user_data_read(fd, c.user_data);
                if (r < 0)
                        return sim_log_errno(r, "Cannot read NV 0x%08x", SIM_NV_HCL_USER_DATA);
        }
        r = sim_hcl_report_make(dir, &p, report_id, &c, report);
        if (r < 0)
                return r;
        r = sim_tpm_nv_write(fd, SIM_NV_HCL_REPORT, auth, AUTH_SIZE, SIM_NV_HCL_REPORT, report,
                             sizeof(report));
        if (r < 0)
                return sim_log_errno(r, "Cannot write the HCL report to NV 0x%08x",
                                     SIM_NV_HCL_REPORT);
        return 0;
}
