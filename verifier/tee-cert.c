/* SPDX-License-Identifier: Apache-2.0 */
/* TEE evidence in a token-signing certificate (pure part; tee-cert-collect.c asks the firmware). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/tee-cert.h"

/* The extension's value (see tee-cert.h). OpenSSL's templates do the DER both ways. */
typedef struct SNP_TEE_EVIDENCE {
        ASN1_INTEGER *version;
        ASN1_OCTET_STRING *report;
        X509 *vcek;
        STACK_OF(X509) *intermediates;
} SNP_TEE_EVIDENCE;

ASN1_SEQUENCE(SNP_TEE_EVIDENCE) = {
        ASN1_SIMPLE(SNP_TEE_EVIDENCE, version, ASN1_INTEGER),
        ASN1_SIMPLE(SNP_TEE_EVIDENCE, report, ASN1_OCTET_STRING),
        ASN1_EXP_OPT(SNP_TEE_EVIDENCE, vcek, X509, 0),
        ASN1_EXP_SEQUENCE_OF_OPT(SNP_TEE_EVIDENCE, intermediates, X509, 1),
} static_ASN1_SEQUENCE_END(SNP_TEE_EVIDENCE)

IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SNP_TEE_EVIDENCE)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(SNP_TEE_EVIDENCE)
DEFINE_CLEANUP_FUNC(SNP_TEE_EVIDENCE *, SNP_TEE_EVIDENCE_free);
DEFINE_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);

/* Five minutes of clock skew between the signer and its relying parties. */
#define NOT_BEFORE_SLACK_SEC 300

void tee_evidence_done(TeeEvidence *e) {
        if (!e)
                return;
        free(e->report);
        free(e->vcek);
        free(e->ask);
        *e = (TeeEvidence) {};
}

int tee_cert_report_data(EVP_PKEY *key, uint8_t ret[static 64]) {
        uint8_t *der = NULL;
        int n, ok;

        if (!key)
                return -EINVAL;
        n = i2d_PUBKEY(key, &der);
        if (n <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        ok = EVP_Digest(der, (size_t) n, ret, NULL, EVP_sha512(), NULL);
        OPENSSL_free(der);
        if (!ok) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

static int tee_oid(ASN1_OBJECT **ret) {
        ASN1_OBJECT *o = OBJ_txt2obj(TEE_CERT_OID, /* no_name= */ 1);

        if (!o) {
                ERR_clear_error();
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

/* One DER certificate of exactly size bytes. */
static int x509_from_der(const uint8_t *buf, size_t size, X509 **ret) {
        const uint8_t *p = buf;
        X509 *x;

        if (size == 0 || size > CERT_BUNDLE_MAX)
                return -EBADMSG;
        x = d2i_X509(NULL, &p, (long) size);
        if (!x || p != buf + size) {
                X509_free(x);
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = x;
        return 0;
}

/* The DER extension value for ev. */
static int evidence_encode(const TeeEvidence *ev, ASN1_OCTET_STRING **ret) {
        _cleanup_(SNP_TEE_EVIDENCE_freep) SNP_TEE_EVIDENCE *e = SNP_TEE_EVIDENCE_new();
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *value = NULL;
        uint8_t *der = NULL;
        int n, r;

        if (!e)
                return -ENOMEM;
        if (!ev->report || ev->report_size != SNP_REPORT_SIZE)
                return -EINVAL;
        if (!ASN1_INTEGER_set(e->version, TEE_CERT_VERSION) ||
            !ASN1_OCTET_STRING_set(e->report, ev->report, (int) ev->report_size))
                return -ENOMEM;
        if (ev->vcek) {
                r = x509_from_der(ev->vcek, ev->vcek_size, &e->vcek);
                if (r < 0)
                        return r;
        }
        if (ev->ask) {
                X509 *ask;

                e->intermediates = sk_X509_new_null();
                if (!e->intermediates)
                        return -ENOMEM;
                r = x509_from_der(ev->ask, ev->ask_size, &ask);
                if (r < 0)
                        return r;
                if (!sk_X509_push(e->intermediates, ask)) {
                        X509_free(ask);
                        return -ENOMEM;
                }
        }
        n = i2d_SNP_TEE_EVIDENCE(e, &der);
        if (n <= 0) {
                ERR_clear_error();
                return -ENOMEM;
        }
        value = ASN1_OCTET_STRING_new();
        if (!value || !ASN1_OCTET_STRING_set(value, der, n)) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        OPENSSL_free(der);
        *ret = TAKE_PTR(value);
        return 0;
}

/* Adds a standard extension from its OpenSSL configuration text. */
static int add_ext(X509 *x, int nid, const char *value) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        X509V3_CTX ctx;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext || !X509_add_ext(x, ext, -1)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

int tee_cert_build(EVP_PKEY *key, const char *common_name, int lifetime_days, time_t now,
                   const TeeEvidence *ev, X509 **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(BN_freep) BIGNUM *serial = NULL;
        uint8_t serial_bytes[16];
        X509_NAME *name;
        int r;

        if (!key || !common_name || !ret || lifetime_days < 1 || lifetime_days > 3650)
                return -EINVAL;
        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA && EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
                return -EPROTONOSUPPORT;

        x = X509_new();
        if (!x)
                return -ENOMEM;
        /* A positive serial of at most 128 bits: clear the top bit so DER needs no sign byte
         * beyond the 16. */
        if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        serial_bytes[0] &= 0x7f;
        serial_bytes[0] |= 0x01 << 6; /* never a short (or zero) serial */
        serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), NULL);
        if (!serial || !X509_set_version(x, X509_VERSION_3) ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) ||
            !X509_time_adj_ex(X509_getm_notBefore(x), 0, -NOT_BEFORE_SLACK_SEC, &now) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), lifetime_days, 0, &now) ||
            !X509_set_pubkey(x, key)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                        (const unsigned char *) common_name, -1, -1, 0) ||
            !X509_set_issuer_name(x, name)) {
                ERR_clear_error();
                return -EINVAL;
        }
        r = add_ext(x, NID_basic_constraints, "critical,CA:FALSE");
        if (r < 0)
                return r;
        r = add_ext(x, NID_key_usage, "critical,digitalSignature");
        if (r < 0)
                return r;
        if (ev) {
                _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *value = NULL;
                _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = NULL;
                _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;

                r = evidence_encode(ev, &value);
                if (r < 0)
                        return r;
                r = tee_oid(&oid);
                if (r < 0)
                        return r;
                ext = X509_EXTENSION_create_by_OBJ(NULL, oid, /* crit= */ 0, value);
                if (!ext || !X509_add_ext(x, ext, -1)) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
        }
        if (X509_sign(x, key, EVP_sha256()) <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        *ret = TAKE_PTR(x);
        return 0;
}

/* The extension's value, decoded; -ENOMSG when cert has none. */
static int evidence_decode(X509 *cert, SNP_TEE_EVIDENCE **ret, Diag *d) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = NULL;
        SNP_TEE_EVIDENCE *e;
        const ASN1_OCTET_STRING *value;
        const uint8_t *p, *start;
        int i, r, n;
        long version;

        r = tee_oid(&oid);
        if (r < 0)
                return r;
        i = X509_get_ext_by_OBJ(cert, oid, -1);
        if (i < 0)
                return diag_set(d, -ENOMSG, "no TEE evidence in the signing certificate (no "
                                "extension %s)", TEE_CERT_OID);
        if (X509_get_ext_by_OBJ(cert, oid, i) >= 0)
                return diag_set(d, -EBADMSG, "TEE evidence: the extension appears twice");
        value = X509_EXTENSION_get_data(X509_get_ext(cert, i));
        n = value ? ASN1_STRING_length(value) : 0;
        if (n <= 0 || (size_t) n > TEE_CERT_EXT_MAX_SIZE)
                return diag_set(d, -EBADMSG, "TEE evidence: the extension is empty or larger "
                                "than %u bytes", TEE_CERT_EXT_MAX_SIZE);
        start = p = ASN1_STRING_get0_data(value);
        e = d2i_SNP_TEE_EVIDENCE(NULL, &p, n);
        if (!e || p != start + n) {
                SNP_TEE_EVIDENCE_free(e);
                ERR_clear_error();
                return diag_set(d, -EBADMSG, "TEE evidence: the extension is not an "
                                "SnpTeeEvidence DER structure");
        }
        version = ASN1_INTEGER_get(e->version);
        if (version != TEE_CERT_VERSION) {
                SNP_TEE_EVIDENCE_free(e);
                ERR_clear_error();
                return diag_set(d, -EPROTONOSUPPORT, "TEE evidence: version %ld, expected %d",
                                version, TEE_CERT_VERSION);
        }
        if (ASN1_STRING_length(e->report) != (int) SNP_REPORT_SIZE) {
                n = ASN1_STRING_length(e->report);
                SNP_TEE_EVIDENCE_free(e);
                return diag_set(d, -EBADMSG, "TEE evidence: the report is %d bytes, not %u", n,
                                SNP_REPORT_SIZE);
        }
        *ret = e;
        return 0;
}

static int tcb_to_json(uint64_t raw, SnpProduct product, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char hex[19];
        SnpTcb t;

        snp_tcb_decode(raw, product, &t);
        (void) snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long) raw);
        if (!o || json_add_string(o, "raw", hex) < 0 ||
            json_add_int(o, "bootloader", t.bootloader) < 0 || json_add_int(o, "tee", t.tee) < 0 ||
            json_add_int(o, "snp", t.snp) < 0 || json_add_int(o, "microcode", t.microcode) < 0 ||
            (t.has_fmc && json_add_int(o, "fmc", t.fmc) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int policy_to_json(uint64_t policy, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char hex[19];

        (void) snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long) policy);
        if (!o || json_add_string(o, "raw", hex) < 0 ||
            json_add_bool(o, "debug", policy & SNP_POLICY_DEBUG) < 0 ||
            json_add_bool(o, "smt", policy & SNP_POLICY_SMT) < 0 ||
            json_add_bool(o, "migrate_ma", policy & SNP_POLICY_MIGRATE_MA) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int summary_to_json(const SnpReport *rep, const SnpEndorsement *e, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *sub = NULL, *chain;

        if (!o || json_add_string(o, "type", "sevsnpvm") < 0 ||
            json_add_string(o, "product", snp_product_to_string(e->product)) < 0 ||
            json_add_int(o, "report_version", rep->version) < 0 ||
            json_add_hex(o, "measurement", rep->measurement, sizeof(rep->measurement)) < 0 ||
            json_add_hex(o, "chip_id", rep->chip_id, sizeof(rep->chip_id)) < 0 ||
            json_add_int(o, "vmpl", rep->vmpl) < 0 ||
            json_add_hex(o, "host_data", rep->host_data, sizeof(rep->host_data)) < 0 ||
            json_add_hex(o, "report_data", rep->report_data, sizeof(rep->report_data)) < 0)
                return -ENOMEM;
        if (policy_to_json(rep->policy, &sub) < 0 || json_add(o, "policy", sub) < 0)
                return -ENOMEM;
        if (tcb_to_json(rep->reported_tcb, e->product, &sub) < 0 || json_add(o, "tcb", sub) < 0)
                return -ENOMEM;
        chain = json_object_new_array();
        if (json_add_string(o, "signer", e->vlek ? "vlek" : "vcek") < 0 ||
            json_add(o, "chain", chain) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(e->chain); i++)
                if (json_object_array_add(chain, json_object_new_string(e->chain[i])) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int tee_cert_verify(X509 *cert, const SnpTrust *trust, time_t now, const uint8_t *measurement,
                    SnpReport *ret_report, json_object **ret_json, Diag *d) {
        _cleanup_(SNP_TEE_EVIDENCE_freep) SNP_TEE_EVIDENCE *ev = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        const uint8_t *raw;
        uint8_t want[SNP_REPORT_DATA_SIZE];
        Diag inner = {};
        SnpReport rep;
        EVP_PKEY *pub;
        int r;

        if (!cert || !trust)
                return -EINVAL;
        r = evidence_decode(cert, &ev, d);
        if (r < 0)
                return r;
        raw = ASN1_STRING_get0_data(ev->report);
        r = snp_report_parse(raw, SNP_REPORT_SIZE, &rep, &inner);
        if (r < 0)
                return diag_set(d, r, "TEE evidence: %s", inner.text);

        if (!ev->vcek)
                return diag_set(d, -ENOKEY, "TEE evidence: no VCEK or VLEK to verify the report "
                                "with");
        r = snp_endorsement_verify(trust, ev->vcek, ev->intermediates, /* crl= */ NULL, now, &e,
                                   &inner);
        if (r < 0)
                return diag_set(d, r, "TEE evidence: the report's signing key: %s", inner.text);
        r = snp_report_verify(e, &rep, raw, SNP_REPORT_SIZE, &inner);
        if (r < 0)
                /* -EXDEV here is a report that does not fit its VCEK: a chain failure, not the
                 * key binding the caller's -EXDEV means. */
                return diag_set(d, r == -ENOMEM ? r : -EKEYREJECTED, "TEE evidence: %s",
                                inner.text);

        pub = X509_get0_pubkey(cert);
        if (!pub) {
                ERR_clear_error();
                return diag_set(d, -EBADMSG, "TEE evidence: the certificate has no usable "
                                "public key");
        }
        r = tee_cert_report_data(pub, want);
        if (r < 0)
                return r;
        if (CRYPTO_memcmp(want, rep.report_data, sizeof(want)) != 0)
                return diag_set(d, -EXDEV, "TEE evidence: the report is not bound to the signing "
                                "key (REPORT_DATA is not SHA-512 of the certificate's public key)");
        if (rep.policy & SNP_POLICY_DEBUG)
                return diag_set(d, -EPERM, "TEE evidence: the guest policy allows debugging "
                                "(POLICY.DEBUG set): its keys are open to the host");
        if (measurement && CRYPTO_memcmp(measurement, rep.measurement,
                                         SNP_MEASUREMENT_SIZE) != 0) {
                char w[2 * SNP_MEASUREMENT_SIZE + 1], g[2 * SNP_MEASUREMENT_SIZE + 1];

                hex_encode_buf(measurement, SNP_MEASUREMENT_SIZE, w);
                hex_encode_buf(rep.measurement, SNP_MEASUREMENT_SIZE, g);
                return diag_set(d, -EXDEV, "TEE evidence: measurement differs: want %s, got %s",
                                w, g);
        }

        if (ret_json && summary_to_json(&rep, e, &j) < 0)
                return -ENOMEM;
        if (ret_report)
                *ret_report = rep;
        if (ret_json)
                *ret_json = TAKE_PTR(j);
        return 0;
}

int tee_cert_verify_key(const JwsKey *k, const SnpTrust *trust, time_t now,
                        const uint8_t *measurement, SnpReport *ret_report, json_object **ret_json,
                        Diag *d) {
        X509 *leaf;

        if (!k)
                return -EINVAL;
        if (!k->x5c || sk_X509_num(k->x5c) < 1)
                return diag_set(d, -ENOMSG, "no TEE evidence: the signing key%s%s has no "
                                "certificate (x5c)", k->kid ? " " : "", k->kid ?: "");
        leaf = sk_X509_value(k->x5c, 0);
        if (!pkey_equal(X509_get0_pubkey(leaf), k->pkey))
                return diag_set(d, -EXDEV, "the signing key's certificate (x5c[0]) is for "
                                "another key");
        return tee_cert_verify(leaf, trust, now, measurement, ret_report, ret_json, d);
}
