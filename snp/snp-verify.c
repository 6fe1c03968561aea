/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/openssl-util.h"
#include "snp/snp-verify.h"

struct SnpTrust {
        STACK_OF(X509) *roots;
        STACK_OF(X509) *intermediates;
};

SnpTrust *snp_trust_free(SnpTrust *t) {
        if (!t)
                return NULL;
        sk_X509_pop_free(t->roots, X509_free);
        sk_X509_pop_free(t->intermediates, X509_free);
        free(t);
        return NULL;
}

void snp_trust_freep(SnpTrust **t) {
        *t = snp_trust_free(*t);
}

size_t snp_trust_n_roots(const SnpTrust *t) {
        return (size_t) sk_X509_num(t->roots);
}

static bool is_self_signed(X509 *x) {
        return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

static bool signed_by(X509 *x, X509 *issuer) {
        EVP_PKEY *k = X509_get0_pubkey(issuer);
        bool ok = k && X509_verify(x, k) == 1;

        ERR_clear_error();
        return ok;
}

static int trust_add_one(SnpTrust *t, X509 *x, Diag *d) {
        STACK_OF(X509) *sk;
        char cn[64];

        if (is_self_signed(x)) {
                if (!signed_by(x, x)) {
                        (void) x509_common_name(X509_get_subject_name(x), cn, sizeof(cn));
                        return diag_set(d, -EKEYREJECTED,
                                        "root certificate '%s': self-signature does not verify", cn);
                }
                sk = t->roots;
        } else
                sk = t->intermediates;
        if (!X509_up_ref(x))
                return -ENOMEM;
        if (!sk_X509_push(sk, x)) {
                X509_free(x);
                return -ENOMEM;
        }
        return 0;
}

int snp_trust_add(SnpTrust *t, const uint8_t *buf, size_t size, Diag *d) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        int r;

        r = x509_parse_bundle(buf, size, &sk);
        if (r < 0)
                return diag_set(d, r, "trusted root: not a PEM or DER certificate");
        for (int i = 0; i < sk_X509_num(sk); i++) {
                r = trust_add_one(t, sk_X509_value(sk, i), d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int snp_trust_new(bool builtin, SnpTrust **ret) {
        _cleanup_(snp_trust_freep) SnpTrust *t = NULL;
        const char *pem;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->roots = sk_X509_new_null();
        t->intermediates = sk_X509_new_null();
        if (!t->roots || !t->intermediates)
                return -ENOMEM;
        for (size_t i = 0; builtin && (pem = snp_builtin_cert_pem(i)); i++) {
                r = snp_trust_add(t, (const uint8_t *) pem, strlen(pem), NULL);
                if (r < 0)
                        return r == -ENOMEM ? r : -EBADMSG;
        }
        *ret = TAKE_PTR(t);
        return 0;
}

SnpEndorsement *snp_endorsement_free(SnpEndorsement *e) {
        if (!e)
                return NULL;
        EVP_PKEY_free(e->key);
        free(e);
        return NULL;
}

void snp_endorsement_freep(SnpEndorsement **e) {
        *e = snp_endorsement_free(*e);
}

static int asn1_to_time(const ASN1_TIME *a, time_t *ret) {
        struct tm tm;

        if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
                return -EBADMSG;
        *ret = (time_t) (timegm(&tm));
        return 0;
}

static int check_validity(X509 *x, const char *what, time_t at, Diag *d) {
        time_t nb, na;
        char cn[64], a[32], b[32];

        (void) x509_common_name(X509_get_subject_name(x), cn, sizeof(cn));
        if (asn1_to_time(X509_get0_notBefore(x), &nb) < 0 ||
            asn1_to_time(X509_get0_notAfter(x), &na) < 0)
                return diag_set(d, -EBADMSG, "%s certificate '%s': unreadable validity", what, cn);
        if (at < nb || at > na) {
                char at_s[32];
                struct tm tm;

                (void) strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&nb, &tm));
                (void) strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&na, &tm));
                (void) strftime(at_s, sizeof(at_s), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&at, &tm));
                return diag_set(d, -EKEYEXPIRED,
                                "%s certificate '%s' is valid %s to %s, not at %s", what, cn, a, b,
                                at_s);
        }
        return 0;
}

/* AMD signs ARK, ASK/ASVK and VCEK/VLEK with RSASSA-PSS (SHA-384, salt 48). */
static int check_sig_alg(X509 *x, const char *what, Diag *d) {
        char cn[64];

        if (X509_get_signature_nid(x) == NID_rsassaPss)
                return 0;
        (void) x509_common_name(X509_get_subject_name(x), cn, sizeof(cn));
        return diag_set(d, -EKEYREJECTED,
                        "%s certificate '%s' is signed with %s, AMD's chain uses RSASSA-PSS", what,
                        cn, OBJ_nid2sn(X509_get_signature_nid(x)));
}

/* The issuer of x among the certificates of sk whose subject matches x's issuer. */
static int find_issuer(X509 *x, STACK_OF(X509) *const sks[], size_t n_sks, bool want_root,
                       X509 **ret) {
        bool name_matched = false;

        for (size_t s = 0; s < n_sks; s++) {
                if (!sks[s])
                        continue;
                for (int i = 0; i < sk_X509_num(sks[s]); i++) {
                        X509 *c = sk_X509_value(sks[s], i);

                        if (is_self_signed(c) != want_root)
                                continue;
                        if (X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(x)) != 0)
                                continue;
                        name_matched = true;
                        if (signed_by(x, c)) {
                                *ret = c;
                                return 0;
                        }
                }
        }
        return name_matched ? -EKEYREJECTED : -ENOKEY;
}

#define AMD_OID_PREFIX "1.3.6.1.4.1.3704.1."

static int ext_integer(const ASN1_OCTET_STRING *v, uint8_t *ret) {
        const unsigned char *p = ASN1_STRING_get0_data(v);
        ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(v));
        long val;

        if (!i)
                return -EBADMSG;
        val = ASN1_INTEGER_get(i);
        ASN1_INTEGER_free(i);
        if (p != ASN1_STRING_get0_data(v) + ASN1_STRING_length(v) || val < 0 || val > 255)
                return -EBADMSG;
        *ret = (uint8_t) val;
        return 0;
}

static int ext_ia5(const ASN1_OCTET_STRING *v, char *buf, size_t size) {
        const unsigned char *p = ASN1_STRING_get0_data(v);
        ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, ASN1_STRING_length(v));
        int n;

        if (!s)
                return -EBADMSG;
        n = ASN1_STRING_length(s);
        if (n <= 0 || (size_t) n >= size || memchr(ASN1_STRING_get0_data(s), 0, (size_t) n)) {
                ASN1_IA5STRING_free(s);
                return -EBADMSG;
        }
        memcpy(buf, ASN1_STRING_get0_data(s), (size_t) n);
        buf[n] = '\0';
        ASN1_IA5STRING_free(s);
        return 0;
}

/* hwID is the raw CHIP_ID as the extension's value, without an inner OCTET STRING tag
 * (AMD doc 57230); tolerate the tagged form too. Milan/Genoa 64 bytes, Turin 8. */
static int ext_hwid(const ASN1_OCTET_STRING *v, uint8_t *ret, size_t *ret_size) {
        const uint8_t *p = ASN1_STRING_get0_data(v);
        size_t n = (size_t) ASN1_STRING_length(v);

        if ((n == 66 && p[0] == 0x04 && p[1] == 64) || (n == 10 && p[0] == 0x04 && p[1] == 8)) {
                p += 2;
                n -= 2;
        }
        /* The length is checked against the product once the chain says which it is. */
        if (n == 0 || n > 64)
                return -EBADMSG;
        memcpy(ret, p, n);
        *ret_size = n;
        return 0;
}

static int parse_amd_extensions(X509 *leaf, SnpEndorsement *e, Diag *d) {
        enum { BL, TEE, SNP, UCODE, FMC, NAME, HWID, CSP, _N };
        bool seen[_N] = {};
        uint8_t spl[5] = {};

        for (int i = 0; i < X509_get_ext_count(leaf); i++) {
                X509_EXTENSION *ext = X509_get_ext(leaf, i);
                const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
                char oid[80];
                const char *sub;
                int r = 0, which = -1;

                if (OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1) <= 0)
                        continue;
                if (strncmp(oid, AMD_OID_PREFIX, strlen(AMD_OID_PREFIX)) != 0)
                        continue;
                sub = oid + strlen(AMD_OID_PREFIX);
                if (streq(sub, "3.1"))
                        which = BL;
                else if (streq(sub, "3.2"))
                        which = TEE;
                else if (streq(sub, "3.3"))
                        which = SNP;
                else if (streq(sub, "3.8"))
                        which = UCODE;
                else if (streq(sub, "3.9"))
                        which = FMC;
                else if (streq(sub, "2"))
                        which = NAME;
                else if (streq(sub, "4"))
                        which = HWID;
                else if (streq(sub, "5"))
                        which = CSP;
                else
                        continue; /* structVersion, spl_4..spl_7: not needed */
                if (seen[which])
                        return diag_set(d, -EBADMSG, "endorsement certificate: extension %s twice",
                                        oid);
                seen[which] = true;
                if (which <= FMC)
                        r = ext_integer(v, &spl[which]);
                else if (which == NAME)
                        r = ext_ia5(v, e->product_name, sizeof(e->product_name));
                else if (which == HWID)
                        r = ext_hwid(v, e->hwid, &e->hwid_size);
                else
                        r = ext_ia5(v, e->csp_id, sizeof(e->csp_id));
                if (r < 0)
                        return diag_set(d, -EBADMSG,
                                        "endorsement certificate: extension %s is malformed", oid);
        }
        if (!seen[BL] || !seen[TEE] || !seen[SNP] || !seen[UCODE] || !seen[NAME])
                return diag_set(d, -EBADMSG,
                                "endorsement certificate: lacks productName or an SPL extension "
                                "(1.3.6.1.4.1.3704.1.2, .3.1-.3.3, .3.8)");
        if (e->vlek ? !seen[CSP] || seen[HWID] : !seen[HWID] || seen[CSP])
                return diag_set(d, -EBADMSG,
                                "endorsement certificate: a %s carries %s", e->vlek ? "VLEK" : "VCEK",
                                e->vlek ? "no cspId or a hwID" : "no hwID or a cspId");
        e->tcb = (SnpTcb) { .bootloader = spl[BL], .tee = spl[TEE], .snp = spl[SNP],
                            .microcode = spl[UCODE], .fmc = spl[FMC], .has_fmc = seen[FMC] };
        return 0;
}

static int check_crl(X509_CRL *crl, X509 *root, X509 *inter, time_t at, Diag *d) {
        X509_REVOKED *rev = NULL;
        EVP_PKEY *k = X509_get0_pubkey(root);
        const ASN1_TIME *next;
        time_t t;

        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(root)) != 0)
                return diag_set(d, -ENOKEY, "CRL: not issued by the chain's root");
        if (!k || X509_CRL_verify(crl, k) != 1) {
                ERR_clear_error();
                return diag_set(d, -EKEYREJECTED, "CRL: signature does not verify with the root");
        }
        if (asn1_to_time(X509_CRL_get0_lastUpdate(crl), &t) < 0 || t > at)
                return diag_set(d, -EKEYEXPIRED, "CRL: issued after the verification time");
        next = X509_CRL_get0_nextUpdate(crl);
        if (next && (asn1_to_time(next, &t) < 0 || t < at))
                return diag_set(d, -EKEYEXPIRED, "CRL: expired (nextUpdate before the "
                                "verification time)");
        /* The ARK's CRL lists the intermediates the ARK issued; the VCEK's issuer is the ASK, so
         * the VCEK's serial (0 for every VCEK) means nothing in this CRL and is not looked up. */
        if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(inter)) == 1) {
                char cn[64];
                (void) x509_common_name(X509_get_subject_name(inter), cn, sizeof(cn));
                return diag_set(d, -EKEYREVOKED, "certificate '%s' is revoked by the CRL", cn);
        }
        return 0;
}

int snp_endorsement_verify(const SnpTrust *t, X509 *leaf, STACK_OF(X509) *untrusted,
                           X509_CRL *crl, time_t at, SnpEndorsement **ret, Diag *d) {
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        STACK_OF(X509) *const inter_sources[] = { untrusted, t->intermediates };
        STACK_OF(X509) *const root_sources[] = { t->roots };
        char leaf_cn[64], inter_cn[64], root_cn[64], want[96];
        X509 *inter = NULL, *root = NULL;
        EVP_PKEY *pub;
        SnpProduct product;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        if (x509_common_name(X509_get_subject_name(leaf), leaf_cn, sizeof(leaf_cn)) < 0 ||
            (!streq(leaf_cn, "SEV-VCEK") && !streq(leaf_cn, "SEV-VLEK")))
                return diag_set(d, -ENOKEY,
                                "endorsement certificate: subject is '%s', not SEV-VCEK or SEV-VLEK",
                                leaf_cn);
        e->vlek = streq(leaf_cn, "SEV-VLEK");

        r = find_issuer(leaf, inter_sources, ELEMENTSOF(inter_sources), false, &inter);
        if (r < 0) {
                char issuer[64];
                (void) x509_common_name(X509_get_issuer_name(leaf), issuer, sizeof(issuer));
                return diag_set(d, r,
                                r == -EKEYREJECTED ? "%s certificate: signature does not verify "
                                                     "with the '%s' certificate"
                                                   : "%s certificate: issuer '%s' is not a known "
                                                     "ASK/ASVK (pass it with --certs)",
                                leaf_cn, issuer);
        }
        (void) x509_common_name(X509_get_subject_name(inter), inter_cn, sizeof(inter_cn));
        r = find_issuer(inter, root_sources, ELEMENTSOF(root_sources), true, &root);
        if (r < 0) {
                char issuer[64];
                (void) x509_common_name(X509_get_issuer_name(inter), issuer, sizeof(issuer));
                return diag_set(d, r,
                                r == -EKEYREJECTED ? "'%s' certificate: signature does not verify "
                                                     "with the trusted root '%s'"
                                                   : "'%s' certificate: issuer '%s' is not a "
                                                     "trusted root",
                                inter_cn, issuer);
        }
        (void) x509_common_name(X509_get_subject_name(root), root_cn, sizeof(root_cn));

        /* Names tie the chain to one product line: ARK-<P> -> SEV-<P> -> SEV-VCEK, or
         * ARK-<P> -> SEV-VLEK-<P> -> SEV-VLEK. */
        if (strncmp(root_cn, "ARK-", 4) != 0 ||
            (product = snp_product_from_string(root_cn + 4)) < 0 ||
            product == SNP_PRODUCT_UNKNOWN)
                return diag_set(d, -ENOKEY, "root '%s' does not name an AMD product line", root_cn);
        (void) snprintf(want, sizeof(want), "%s%s", e->vlek ? "SEV-VLEK-" : "SEV-", root_cn + 4);
        if (!streq(inter_cn, want))
                return diag_set(d, -ENOKEY, "%s issued by '%s', expected '%s'", leaf_cn, inter_cn,
                                want);
        e->product = product;

        r = check_sig_alg(root, "root", d);
        if (r >= 0)
                r = check_sig_alg(inter, "intermediate", d);
        if (r >= 0)
                r = check_sig_alg(leaf, "endorsement", d);
        if (r >= 0)
                r = check_validity(root, "root", at, d);
        if (r >= 0)
                r = check_validity(inter, "intermediate", at, d);
        if (r >= 0)
                r = check_validity(leaf, "endorsement", at, d);
        if (r >= 0 && crl)
                r = check_crl(crl, root, inter, at, d);
        if (r < 0)
                return r;

        r = parse_amd_extensions(leaf, e, d);
        if (r < 0)
                return r;
        if (snp_product_from_string(e->product_name) != product)
                return diag_set(d, -EXDEV, "%s productName '%s' does not match root '%s'", leaf_cn,
                                e->product_name, root_cn);
        if (product == SNP_PRODUCT_TURIN && !e->tcb.has_fmc)
                return diag_set(d, -EBADMSG, "Turin %s lacks the fmcSPL extension", leaf_cn);
        if (!e->vlek && e->hwid_size != (product == SNP_PRODUCT_TURIN ? 8u : 64u))
                return diag_set(d, -EBADMSG, "%s hwID is %zu bytes, %s uses %u", leaf_cn,
                                e->hwid_size, snp_product_to_string(product),
                                product == SNP_PRODUCT_TURIN ? 8 : 64);
        e->tcb_raw = snp_tcb_encode(&e->tcb, product);

        pub = X509_get0_pubkey(leaf);
        if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC || EVP_PKEY_get_bits(pub) != 384) {
                ERR_clear_error();
                return diag_set(d, -EBADMSG, "%s key is not an ECDSA P-384 key", leaf_cn);
        }
        if (!EVP_PKEY_up_ref(pub))
                return -ENOMEM;
        e->key = pub;
        (void) asn1_to_time(X509_get0_notBefore(leaf), &e->not_before);
        (void) asn1_to_time(X509_get0_notAfter(leaf), &e->not_after);
        (void) snprintf(e->chain[0], sizeof(e->chain[0]), "%s", leaf_cn);
        (void) snprintf(e->chain[1], sizeof(e->chain[1]), "%s", inter_cn);
        (void) snprintf(e->chain[2], sizeof(e->chain[2]), "%s", root_cn);
        *ret = TAKE_PTR(e);
        return 0;
}

/* R and S are 72-byte little-endian integers; build the DER ECDSA-Sig-Value OpenSSL expects. */
static int signature_to_der(const SnpReport *r, uint8_t **ret, size_t *ret_size) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
        BIGNUM *br, *bs;
        unsigned char *der = NULL;
        int n;

        if (!sig)
                return -ENOMEM;
        br = BN_lebin2bn(r->sig_r, 48, NULL);
        bs = BN_lebin2bn(r->sig_s, 48, NULL);
        if (!br || !bs || !ECDSA_SIG_set0(sig, br, bs)) {
                BN_free(br);
                BN_free(bs);
                return -ENOMEM;
        }
        n = i2d_ECDSA_SIG(sig, &der);
        if (n <= 0)
                return -ENOMEM;
        *ret = der;
        *ret_size = (size_t) n;
        return 0;
}

int snp_report_verify(const SnpEndorsement *e, const SnpReport *r, const uint8_t *raw,
                      size_t raw_size, Diag *d) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        uint8_t digest[SHA384_DIGEST_LENGTH];
        uint8_t *der = NULL;
        SnpSigningKey sk = snp_report_signing_key(r);
        const char *kind = e->vlek ? "VLEK" : "VCEK";
        SnpTcb tcb;
        size_t der_size;
        int k;

        if (!raw || raw_size != SNP_REPORT_SIZE)
                return diag_set(d, -EBADMSG, "SNP report: size is %zu bytes, expected %u",
                                raw_size, SNP_REPORT_SIZE);
        if (sk == SNP_SIGNING_KEY_NONE || (r->signer_info & SNP_SIGNER_MASK_CHIP_KEY))
                return diag_set(d, -EKEYREJECTED,
                                "SNP report: unsigned (signing key none or MASK_CHIP_KEY set)");
        if (sk != (e->vlek ? SNP_SIGNING_KEY_VLEK : SNP_SIGNING_KEY_VCEK))
                return diag_set(d, -EXDEV,
                                "SNP report: signing key at 0x048 is %u, but the certificate is a %s",
                                sk, kind);

        /* SIGNATURE (0x2A0) covers bytes 0x000..0x29F. */
        if (signature_to_der(r, &der, &der_size) < 0)
                return -ENOMEM;
        if (!SHA384(raw, SNP_REPORT_SIGNED_SIZE, digest)) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        ctx = EVP_PKEY_CTX_new(e->key, NULL);
        if (!ctx || EVP_PKEY_verify_init(ctx) <= 0) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        k = EVP_PKEY_verify(ctx, der, der_size, digest, sizeof(digest));
        OPENSSL_free(der);
        ERR_clear_error();
        if (k != 1)
                return diag_set(d, -EKEYREJECTED,
                                "SNP report: SIGNATURE at 0x2A0 does not verify with the %s", kind);

        if (r->product != SNP_PRODUCT_UNKNOWN && r->product != e->product)
                return diag_set(d, -EXDEV, "SNP report: CPU is %s, certificate chain is %s",
                                snp_product_to_string(r->product),
                                snp_product_to_string(e->product));
        snp_tcb_decode(r->reported_tcb, e->product, &tcb);
        if (tcb.bootloader != e->tcb.bootloader || tcb.tee != e->tcb.tee ||
            tcb.snp != e->tcb.snp || tcb.microcode != e->tcb.microcode ||
            (e->product == SNP_PRODUCT_TURIN && tcb.fmc != e->tcb.fmc))
                return diag_set(d, -EXDEV,
                                "SNP report: REPORTED_TCB at 0x180 (0x%016llx) differs from the "
                                "%s's SPLs (0x%016llx)",
                                (unsigned long long) r->reported_tcb, kind,
                                (unsigned long long) e->tcb_raw);
        /* CHIP_ID is all zero when the host set MASK_CHIP_ID: then there is nothing to compare
         * and the binding rests on the VCEK's signature alone. */
        if (!e->vlek && !memeqzero(r->chip_id, sizeof(r->chip_id)) &&
            (memcmp(r->chip_id, e->hwid, e->hwid_size) != 0 ||
             !memeqzero(r->chip_id + e->hwid_size, sizeof(r->chip_id) - e->hwid_size)))
                return diag_set(d, -EXDEV,
                                "SNP report: CHIP_ID at 0x1A0 differs from the VCEK's hwID");
        return 0;
}

int snp_kds_vcek_path(const SnpReport *r, char **ret) {
        char hwid[129];
        SnpTcb t;
        int n;

        if (r->product == SNP_PRODUCT_UNKNOWN)
                return -EINVAL;
        snp_tcb_decode(r->reported_tcb, r->product, &t);
        hex_encode_buf(r->chip_id, r->product == SNP_PRODUCT_TURIN ? 8 : 64, hwid);
        if (r->product == SNP_PRODUCT_TURIN)
                n = asprintf(ret, "/vcek/v1/Turin/%s?fmcSPL=%u&blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
                             hwid, t.fmc, t.bootloader, t.tee, t.snp, t.microcode);
        else
                n = asprintf(ret, "/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
                             snp_product_to_string(r->product), hwid, t.bootloader, t.tee, t.snp,
                             t.microcode);
        return n < 0 ? -ENOMEM : 0;
}
