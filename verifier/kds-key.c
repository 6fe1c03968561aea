/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/openssl-util.h"
#include "verifier/kds-key.h"

static bool product_known(SnpProduct p) {
        return p > SNP_PRODUCT_UNKNOWN && p < _SNP_PRODUCT_MAX;
}

int kds_key_from_report(const SnpReport *r, KdsKey *ret, Diag *d) {
        KdsKey k = { .product = r->product };

        if (!product_known(r->product))
                return diag_set(d, -EINVAL, "report: unknown product line, no KDS URL for its "
                                "VCEK");
        if (snp_report_signing_key(r) != SNP_SIGNING_KEY_VCEK)
                return diag_set(d, -ENOKEY, "report: signed by a %s, not a VCEK; KDS serves VCEKs "
                                "only", snp_report_signing_key(r) == SNP_SIGNING_KEY_VLEK ?
                                "VLEK" : "key other than the VCEK");
        k.hwid_size = r->product == SNP_PRODUCT_TURIN ? 8 : 64;
        /* MASK_CHIP_KEY zeroes CHIP_ID; without it there is nothing to ask KDS for. */
        if ((r->signer_info & SNP_SIGNER_MASK_CHIP_KEY) || memeqzero(r->chip_id, k.hwid_size))
                return diag_set(d, -ENOKEY, "report: CHIP_ID (0x1a0) is masked, no KDS URL for "
                                "its VCEK");
        memcpy(k.hwid, r->chip_id, k.hwid_size);
        k.tcb = r->reported_tcb;
        *ret = k;
        return 0;
}

int kds_key_cache_path(const KdsKey *k, char **ret) {
        char hwid[129];

        if (!product_known(k->product) || k->hwid_size == 0 || k->hwid_size > sizeof(k->hwid))
                return -EINVAL;
        hex_encode_buf(k->hwid, k->hwid_size, hwid);
        if (asprintf(ret, "vcek/%s/%s/%016" PRIx64 ".der", snp_product_to_string(k->product),
                     hwid, k->tcb) < 0)
                return -ENOMEM;
        return 0;
}

int kds_crl_cache_path(SnpProduct p, char **ret) {
        if (!product_known(p))
                return -EINVAL;
        return asprintf(ret, "crl/%s.der", snp_product_to_string(p)) < 0 ? -ENOMEM : 0;
}

int kds_crl_url_path(SnpProduct p, char **ret) {
        if (!product_known(p))
                return -EINVAL;
        return asprintf(ret, "/vcek/v1/%s/crl", snp_product_to_string(p)) < 0 ? -ENOMEM : 0;
}

/* The value of the one extension with this OID: -ENOENT when absent, -EBADMSG when repeated. */
static int find_ext(X509 *x, const char *oid, const ASN1_OCTET_STRING **ret) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
        int i;

        if (!obj)
                return -ENOMEM;
        i = X509_get_ext_by_OBJ(x, obj, -1);
        if (i < 0)
                return -ENOENT;
        if (X509_get_ext_by_OBJ(x, obj, i) >= 0)
                return -EBADMSG;
        *ret = X509_EXTENSION_get_data(X509_get_ext(x, i));
        return 0;
}

/* An SPL extension: a DER INTEGER 0..255 filling the whole value. */
static int spl_value(X509 *x, const char *oid, uint8_t *ret) {
        const ASN1_OCTET_STRING *v;
        const unsigned char *p, *end;
        ASN1_INTEGER *i;
        uint64_t val;
        int r;

        r = find_ext(x, oid, &v);
        if (r < 0)
                return r;
        p = ASN1_STRING_get0_data(v);
        end = p + ASN1_STRING_length(v);
        i = d2i_ASN1_INTEGER(NULL, &p, end - p);
        if (!i) {
                ERR_clear_error();
                return -EBADMSG;
        }
        r = ASN1_INTEGER_get_uint64(&val, i);
        ASN1_INTEGER_free(i);
        if (r != 1 || p != end || val > 255) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = (uint8_t) val;
        return 0;
}

#define AMD_OID(sub) "1.3.6.1.4.1.3704.1." sub

int kds_vcek_check(const uint8_t *der, size_t size, const KdsKey *k, Diag *d) {
        _cleanup_(X509_freep) X509 *x = NULL;
        const unsigned char *p = der;
        const ASN1_OCTET_STRING *v;
        const uint8_t *hw;
        size_t hw_size;
        char cn[64];
        SnpTcb want;
        int r;

        if (!product_known(k->product))
                return -EINVAL;
        if (size == 0 || size > CERT_BUNDLE_MAX)
                return diag_set(d, -EBADMSG, "VCEK: %zu bytes, not a DER certificate", size);
        x = d2i_X509(NULL, &p, (long) size);
        if (!x || p != der + size) {
                ERR_clear_error();
                return diag_set(d, -EBADMSG, "VCEK: not exactly one DER certificate");
        }
        if (x509_common_name(X509_get_subject_name(x), cn, sizeof(cn)) < 0 ||
            !streq(cn, "SEV-VCEK"))
                return diag_set(d, -EXDEV, "VCEK: subject is '%s', not SEV-VCEK", cn);

        /* hwID (.4): the raw CHIP_ID bytes, or (tolerated) wrapped in an OCTET STRING. */
        r = find_ext(x, AMD_OID("4"), &v);
        if (r < 0)
                return r == -ENOMEM ? r : diag_set(d, -EBADMSG, "VCEK: %s hwID extension "
                                                   "(1.3.6.1.4.1.3704.1.4)",
                                                   r == -ENOENT ? "no" : "repeated");
        hw = ASN1_STRING_get0_data(v);
        hw_size = (size_t) ASN1_STRING_length(v);
        if (hw_size == k->hwid_size + 2 && hw[0] == 0x04 && hw[1] == k->hwid_size) {
                hw += 2;
                hw_size -= 2;
        }
        if (hw_size != k->hwid_size || memcmp(hw, k->hwid, hw_size) != 0)
                return diag_set(d, -EXDEV, "VCEK: hwID is not this chip's CHIP_ID");

        snp_tcb_decode(k->tcb, k->product, &want);
        const struct {
                const char *oid, *name;
                uint8_t want;
        } spls[] = {
                { AMD_OID("3.1"), "blSPL", want.bootloader },
                { AMD_OID("3.2"), "teeSPL", want.tee },
                { AMD_OID("3.3"), "snpSPL", want.snp },
                { AMD_OID("3.8"), "ucodeSPL", want.microcode },
                { AMD_OID("3.9"), "fmcSPL", want.fmc },
        };
        for (size_t i = 0; i < ELEMENTSOF(spls); i++) {
                uint8_t got;

                if (streq(spls[i].name, "fmcSPL") && k->product != SNP_PRODUCT_TURIN)
                        continue;
                r = spl_value(x, spls[i].oid, &got);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return diag_set(d, -EBADMSG, "VCEK: %s extension (%s) %s", spls[i].name,
                                        spls[i].oid, r == -ENOENT ? "missing" : "malformed");
                if (got != spls[i].want)
                        return diag_set(d, -EXDEV, "VCEK: %s is %u, the TCB asks for %u",
                                        spls[i].name, got, spls[i].want);
        }
        return 0;
}

int kds_crl_check(const uint8_t *der, size_t size, SnpProduct p, time_t now,
                  time_t *ret_next_update, Diag *d) {
        _cleanup_(X509_CRL_freep) X509_CRL *crl = NULL;
        const unsigned char *q = der;
        const ASN1_TIME *next;
        char cn[64], want[32];
        struct tm tm;
        time_t t;

        if (!product_known(p))
                return -EINVAL;
        if (size == 0 || size > CERT_BUNDLE_MAX)
                return diag_set(d, -EBADMSG, "CRL: %zu bytes, not a DER CRL", size);
        crl = d2i_X509_CRL(NULL, &q, (long) size);
        if (!crl || q != der + size) {
                ERR_clear_error();
                return diag_set(d, -EBADMSG, "CRL: not exactly one DER CRL");
        }
        (void) snprintf(want, sizeof(want), "ARK-%s", snp_product_to_string(p));
        if (x509_common_name(X509_CRL_get_issuer(crl), cn, sizeof(cn)) < 0 || !streq(cn, want))
                return diag_set(d, -EXDEV, "CRL: issued by '%s', not %s", cn, want);
        next = X509_CRL_get0_nextUpdate(crl);
        if (!next || ASN1_TIME_to_tm(next, &tm) != 1) {
                ERR_clear_error();
                return diag_set(d, -EBADMSG, "CRL: no readable nextUpdate, so no way to tell "
                                "when it goes stale");
        }
        t = timegm(&tm);
        if (ret_next_update)
                *ret_next_update = t;
        return t < now ? 1 : 0;
}
