/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tests/sim/sim-pki.h"
#include "tests/sim/sim-util.h"

DEFINE_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);
DEFINE_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_CLEANUP_FUNC(ASN1_IA5STRING *, ASN1_IA5STRING_free);
DEFINE_CLEANUP_FUNC(BIO *, BIO_free);

static inline void openssl_freep(uint8_t **p) {
        OPENSSL_free(*p);
}

#define AMD_OID "1.3.6.1.4.1.3704.1"
#define DAY (24 * 60 * 60)
#define CA_DAYS (25 * 365)
#define LEAF_DAYS (7 * 365)

typedef struct PkiFiles {
        const char *pem, *der, *key;
} PkiFiles;

static const PkiFiles ark_files = { SIM_PKI_ARK_PEM, SIM_PKI_ARK_DER, SIM_PKI_ARK_KEY };
static const PkiFiles ask_files = { SIM_PKI_ASK_PEM, SIM_PKI_ASK_DER, SIM_PKI_ASK_KEY };
static const PkiFiles asvk_files = { SIM_PKI_ASVK_PEM, SIM_PKI_ASVK_DER, SIM_PKI_ASVK_KEY };
static const PkiFiles vcek_files = { SIM_PKI_VCEK_PEM, SIM_PKI_VCEK_DER, SIM_PKI_VCEK_KEY };
static const PkiFiles vlek_files = { SIM_PKI_VLEK_PEM, SIM_PKI_VLEK_DER, SIM_PKI_VLEK_KEY };

static int openssl_fail(const char *what) {
        unsigned long e = ERR_get_error();
        char buf[256] = "";

        if (e != 0)
                ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        sim_log("%s failed%s%s", what, e ? ": " : "", buf);
        return -EIO;
}

static bool files_present(const char *dir, const PkiFiles *f) {
        char pem[PATH_MAX], key[PATH_MAX], der[PATH_MAX];

        return sim_path_join(pem, sizeof(pem), dir, f->pem) >= 0 &&
               sim_path_join(key, sizeof(key), dir, f->key) >= 0 &&
               sim_path_join(der, sizeof(der), dir, f->der) >= 0 && sim_file_exists(pem) &&
               sim_file_exists(key) && sim_file_exists(der);
}

static int load_pair(const char *dir, const PkiFiles *f, X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_(BIO_freep) BIO *cb = NULL, *kb = NULL;
        char pem[PATH_MAX], key[PATH_MAX];
        X509 *cert;
        EVP_PKEY *pkey;

        if (sim_path_join(pem, sizeof(pem), dir, f->pem) < 0 ||
            sim_path_join(key, sizeof(key), dir, f->key) < 0)
                return -ENAMETOOLONG;
        cb = BIO_new_file(pem, "r");
        kb = BIO_new_file(key, "r");
        if (!cb || !kb)
                return sim_log_errno(-ENOENT, "Cannot open %s or %s", pem, key);
        cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        if (!cert)
                return openssl_fail(pem);
        pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
        if (!pkey) {
                X509_free(cert);
                return openssl_fail(key);
        }
        *ret_cert = cert;
        *ret_key = pkey;
        return 0;
}

static int bio_to_file(BIO *b, const char *dir, const char *name, mode_t mode) {
        char path[PATH_MAX];
        char *data = NULL;
        long n;
        int r;

        r = sim_path_join(path, sizeof(path), dir, name);
        if (r < 0)
                return r;
        n = BIO_get_mem_data(b, &data);
        if (n < 0 || !data)
                return -EIO;
        r = sim_write_file_atomic(path, data, (size_t) n, mode);
        if (r < 0)
                return sim_log_errno(r, "Cannot write %s", path);
        return 0;
}

static int save_pair(const char *dir, const PkiFiles *f, X509 *cert, EVP_PKEY *key) {
        _cleanup_(BIO_freep) BIO *pem = BIO_new(BIO_s_mem());
        _cleanup_(BIO_freep) BIO *der = BIO_new(BIO_s_mem());
        _cleanup_(BIO_freep) BIO *kb = BIO_new(BIO_s_mem());
        int r;

        if (!pem || !der || !kb)
                return -ENOMEM;
        if (PEM_write_bio_X509(pem, cert) != 1 || i2d_X509_bio(der, cert) != 1 ||
            PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1)
                return openssl_fail("Encoding a certificate or key");
        /* Key first: a certificate without its key would look complete to files_present(). */
        r = bio_to_file(kb, dir, f->key, 0600);
        if (r < 0)
                return r;
        r = bio_to_file(der, dir, f->der, 0644);
        if (r < 0)
                return r;
        return bio_to_file(pem, dir, f->pem, 0644);
}

static int write_chain(const char *dir, const char *name, X509 *ca, X509 *root) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());

        if (!b)
                return -ENOMEM;
        if (PEM_write_bio_X509(b, ca) != 1 || PEM_write_bio_X509(b, root) != 1)
                return openssl_fail("Encoding the certificate chain");
        return bio_to_file(b, dir, name, 0644);
}

/* AMD's names: OU, C, L, ST, O, CN in this order, UTF8String (C PrintableString). */
static X509_NAME *amd_name(const char *cn) {
        static const char *const fields[][2] = {
                { "OU", "Engineering" }, { "C", "US" }, { "L", "Santa Clara" },
                { "ST", "CA" },          { "O", "Advanced Micro Devices" },
        };
        X509_NAME *name = X509_NAME_new();

        if (!name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (X509_NAME_add_entry_by_txt(name, fields[i][0], MBSTRING_UTF8,
                                               (const unsigned char *) fields[i][1], -1, -1,
                                               0) != 1)
                        goto fail;
        if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1,
                                       -1, 0) != 1)
                goto fail;
        return name;
fail:
        X509_NAME_free(name);
        return NULL;
}

static int sign_pss(X509 *x, EVP_PKEY *issuer_key) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;

        if (!mctx)
                return -ENOMEM;
        if (EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, issuer_key) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) != 1 || X509_sign_ctx(x, mctx) <= 0)
                return openssl_fail("RSASSA-PSS signing");
        return 0;
}

static int add_ext_conf(X509 *x, X509 *issuer, int nid, const char *value) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        X509V3_CTX ctx;

        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
        if (!ext || X509_add_ext(x, ext, -1) != 1)
                return openssl_fail(value);
        return 0;
}

/* An extension whose extnValue OCTET STRING holds content as is (DER of a value, or raw). */
static int add_ext_raw(X509 *x, const char *oid, const uint8_t *content, size_t size) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;

        if (!obj || !os || size > INT_MAX || ASN1_OCTET_STRING_set(os, content, (int) size) != 1)
                return openssl_fail(oid);
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        if (!ext || X509_add_ext(x, ext, -1) != 1)
                return openssl_fail(oid);
        return 0;
}

static int add_ext_int(X509 *x, const char *oid, long v) {
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *i = ASN1_INTEGER_new();
        _cleanup_(openssl_freep) uint8_t *der = NULL;
        int n;

        if (!i || ASN1_INTEGER_set(i, v) != 1)
                return openssl_fail(oid);
        n = i2d_ASN1_INTEGER(i, &der);
        if (n <= 0)
                return openssl_fail(oid);
        return add_ext_raw(x, oid, der, (size_t) n);
}

static int add_ext_ia5(X509 *x, const char *oid, const char *s) {
        _cleanup_(ASN1_IA5STRING_freep) ASN1_IA5STRING *str = ASN1_IA5STRING_new();
        _cleanup_(openssl_freep) uint8_t *der = NULL;
        int n;

        if (!str || ASN1_STRING_set(str, s, -1) != 1)
                return openssl_fail(oid);
        n = i2d_ASN1_IA5STRING(str, &der);
        if (n <= 0)
                return openssl_fail(oid);
        return add_ext_raw(x, oid, der, (size_t) n);
}

/* The common skeleton: version 3, serial, names, validity, public key. */
static X509 *cert_new(long serial, const char *subject_cn, X509 *issuer, const char *issuer_cn,
                      long days, EVP_PKEY *pub) {
        _cleanup_(X509_NAME_freep) X509_NAME *subj = amd_name(subject_cn);
        _cleanup_(X509_NAME_freep) X509_NAME *iss = NULL;
        X509 *x = X509_new();

        if (!x || !subj)
                goto fail;
        if (issuer) {
                if (X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1)
                        goto fail;
        } else {
                iss = amd_name(issuer_cn);
                if (!iss || X509_set_issuer_name(x, iss) != 1)
                        goto fail;
        }
        if (X509_set_version(x, X509_VERSION_3) != 1 ||
            ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
            X509_set_subject_name(x, subj) != 1 ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -DAY) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), (int) days, -DAY, NULL) ||
            X509_set_pubkey(x, pub) != 1)
                goto fail;
        return x;
fail:
        X509_free(x);
        (void) openssl_fail(subject_cn);
        return NULL;
}

static long product_serial_base(SimProduct product) {
        /* AMD numbers ARK-Milan 0x010000, ARK-Genoa 0x020000, ARK-Turin 0x030000 */
        return (long) (product + 1) << 16;
}

static int make_ark(const char *dir, SimProduct product, X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        char cn[64], crl[128];
        int r;

        snprintf(cn, sizeof(cn), "ARK-%s", sim_product_line(product));
        snprintf(crl, sizeof(crl), "URI:https://kdsintf.amd.com/vcek/v1/%s/crl",
                 sim_product_line(product));
        sim_log("Generating %s (RSA-4096), this takes a few seconds", cn);
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
        if (!key)
                return openssl_fail("RSA-4096 key generation");
        x = cert_new(product_serial_base(product), cn, NULL, cn, CA_DAYS, key);
        if (!x)
                return -EIO;
        /* self-signed: the issuer for key identifiers is the certificate itself */
        if ((r = add_ext_conf(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0 ||
            (r = add_ext_conf(x, x, NID_subject_key_identifier, "hash")) < 0 ||
            (r = add_ext_conf(x, x, NID_basic_constraints, "critical,CA:TRUE")) < 0 ||
            (r = add_ext_conf(x, x, NID_crl_distribution_points, crl)) < 0 ||
            (r = sign_pss(x, key)) < 0 || (r = save_pair(dir, &ark_files, x, key)) < 0)
                return r;
        *ret_cert = TAKE_PTR(x);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* ASK (vlek false) or ASVK (vlek true), signed by the ARK. */
static int make_ask(const char *dir, SimProduct product, bool vlek, X509 *ark, EVP_PKEY *ark_key,
                    X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        const char *line = sim_product_line(product);
        char cn[64], crl[128];
        int r;

        snprintf(cn, sizeof(cn), vlek ? "SEV-VLEK-%s" : "SEV-%s", line);
        snprintf(crl, sizeof(crl), "URI:https://kdsintf.amd.com/%s/v1/%s/crl",
                 vlek ? "vlek" : "vcek", line);
        sim_log("Generating %s (RSA-4096), this takes a few seconds", cn);
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 4096);
        if (!key)
                return openssl_fail("RSA-4096 key generation");
        /* AMD: SEV-Milan 0x010001, SEV-VLEK-Milan 0x010101 */
        x = cert_new(product_serial_base(product) | (vlek ? 0x101 : 0x1), cn, ark, NULL, CA_DAYS,
                     key);
        if (!x)
                return -EIO;
        if ((r = add_ext_conf(x, ark, NID_subject_key_identifier, "hash")) < 0 ||
            (r = add_ext_conf(x, ark, NID_authority_key_identifier, "keyid:always")) < 0 ||
            (r = add_ext_conf(x, ark, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) < 0 ||
            (r = add_ext_conf(x, ark, NID_key_usage, "critical,keyCertSign")) < 0 ||
            (r = add_ext_conf(x, ark, NID_crl_distribution_points, crl)) < 0 ||
            (r = sign_pss(x, ark_key)) < 0 ||
            (r = save_pair(dir, vlek ? &asvk_files : &ask_files, x, key)) < 0)
                return r;
        *ret_cert = TAKE_PTR(x);
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* VCEK (vlek false) or VLEK (vlek true), signed by the ASK / ASVK. */
static int make_leaf(const char *dir, const SimPlatform *p, bool vlek, X509 *ask,
                     EVP_PKEY *ask_key) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        const bool turin = p->product == SIM_PRODUCT_TURIN;
        SimTcbParts t;
        int r;

        sim_log("Generating %s (EC P-384) for %s, reported TCB 0x%016llx", vlek ? "VLEK" : "VCEK",
                sim_product_line(p->product), (unsigned long long) p->reported_tcb);
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        if (!key)
                return openssl_fail("EC P-384 key generation");
        /* AMD's VCEKs and VLEKs carry serial number 0 */
        x = cert_new(0, vlek ? "SEV-VLEK" : "SEV-VCEK", ask, NULL, LEAF_DAYS, key);
        if (!x)
                return -EIO;

        /*
         * Extensions in the order AMD's certificates list them (see shared/vectors/snp): Milan and
         * Genoa .1 .2 .3.1 .3.2 .3.4-.3.7 .3.3 .3.8 .4; Turin .1 .2 .3.9 .3.1 .3.2 .3.3 .3.5-.3.7
         * .3.8 .4 (no spl_4). SPL values come from REPORTED_TCB in the product's layout.
         */
        sim_tcb_split(p->product, p->reported_tcb, &t);
        if ((r = add_ext_int(x, AMD_OID ".1", turin ? 1 : 0)) < 0 ||
            (r = add_ext_ia5(x, AMD_OID ".2",
                             vlek ? sim_product_line(p->product) : p->product_name)) < 0)
                return r;
        if (turin) {
                if ((r = add_ext_int(x, AMD_OID ".3.9", t.fmc)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.1", t.bl)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.2", t.tee)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.3", t.snp)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.5", t.spl5)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.6", t.spl6)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.7", t.spl7)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.8", t.ucode)) < 0)
                        return r;
        } else {
                if ((r = add_ext_int(x, AMD_OID ".3.1", t.bl)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.2", t.tee)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.4", t.spl4)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.5", t.spl5)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.6", t.spl6)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.7", t.spl7)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.3", t.snp)) < 0 ||
                    (r = add_ext_int(x, AMD_OID ".3.8", t.ucode)) < 0)
                        return r;
        }
        if (vlek)
                r = add_ext_ia5(x, AMD_OID ".5", p->csp_id);
        else
                /* hwID: the raw CHIP_ID bytes, no inner OCTET STRING tag (Turin: 8 bytes) */
                r = add_ext_raw(x, AMD_OID ".4", p->chip_id, turin ? 8 : sizeof(p->chip_id));
        if (r < 0)
                return r;
        r = sign_pss(x, ask_key);
        if (r < 0)
                return r;
        return save_pair(dir, vlek ? &vlek_files : &vcek_files, x, key);
}

int sim_pki_ensure(const char *dir, const SimPlatform *p, bool vlek, bool reissue_leaf) {
        _cleanup_(X509_freep) X509 *ark = NULL, *ask = NULL, *asvk = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ark_key = NULL, *ask_key = NULL, *asvk_key = NULL;
        bool ark_new = false, ask_new = false, asvk_new = false;
        char path[PATH_MAX];
        int r;

        if (files_present(dir, &ark_files))
                r = load_pair(dir, &ark_files, &ark, &ark_key);
        else {
                r = make_ark(dir, p->product, &ark, &ark_key);
                ark_new = true;
        }
        if (r < 0)
                return r;

        if (!ark_new && files_present(dir, &ask_files))
                r = load_pair(dir, &ask_files, &ask, &ask_key);
        else {
                r = make_ask(dir, p->product, false, ark, ark_key, &ask, &ask_key);
                ask_new = true;
        }
        if (r < 0)
                return r;
        r = sim_path_join(path, sizeof(path), dir, SIM_PKI_CERT_CHAIN);
        if (r < 0)
                return r;
        if (ask_new || !sim_file_exists(path)) {
                r = write_chain(dir, SIM_PKI_CERT_CHAIN, ask, ark);
                if (r < 0)
                        return r;
        }
        if (ask_new || reissue_leaf || !files_present(dir, &vcek_files)) {
                r = make_leaf(dir, p, false, ask, ask_key);
                if (r < 0)
                        return r;
        }

        if (!vlek)
                return 0;
        if (!ark_new && files_present(dir, &asvk_files))
                r = load_pair(dir, &asvk_files, &asvk, &asvk_key);
        else {
                r = make_ask(dir, p->product, true, ark, ark_key, &asvk, &asvk_key);
                asvk_new = true;
        }
        if (r < 0)
                return r;
        r = sim_path_join(path, sizeof(path), dir, SIM_PKI_VLEK_CERT_CHAIN);
        if (r < 0)
                return r;
        if (asvk_new || !sim_file_exists(path)) {
                r = write_chain(dir, SIM_PKI_VLEK_CERT_CHAIN, asvk, ark);
                if (r < 0)
                        return r;
        }
        if (asvk_new || reissue_leaf || !files_present(dir, &vlek_files)) {
                r = make_leaf(dir, p, true, asvk, asvk_key);
                if (r < 0)
                        return r;
        }
        return 0;
}
