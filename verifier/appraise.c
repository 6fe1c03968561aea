/* SPDX-License-Identifier: Apache-2.0 */
#include <strings.h>

#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"

#define REPORT_JSON_MAX (64u * 1024u)
#define DATA_MAX (256u * 1024u)

/* A base64url string member, decoded. */
static int member_b64(json_object *o, const char *key, size_t max, uint8_t **ret, size_t *ret_size,
                      Diag *d) {
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "request: \"%s\" is missing or not a string", key);
        s = json_object_get_string(v);
        if (base64url_decode(s, strlen(s), max, ret, ret_size) < 0)
                return diag_set(d, -EBADMSG, "request: \"%s\" is not base64url (or too large)", key);
        return 0;
}

/* RuntimeData / InitTimeData: {"data": base64url, "dataType": "Binary" | "JSON"}. */
static int member_data(json_object *o, const char *key, uint8_t **ret, size_t *ret_size,
                       json_object **ret_json, Diag *d) {
        json_object *v, *t;
        const char *type;
        int r;

        *ret_json = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_object))
                return diag_set(d, -EBADMSG, "request: \"%s\" is not an object", key);
        r = member_b64(v, "data", DATA_MAX, ret, ret_size, d);
        if (r < 0)
                return diag_set(d, r, "request: %s.data is missing or not base64url", key);
        if (!json_object_object_get_ex(v, "dataType", &t))
                return 0; /* Binary */
        type = json_object_get_string(t);
        if (strcasecmp(type, "JSON") == 0) {
                if (json_parse_capped((const char *) *ret, *ret_size, DATA_MAX, 32, ret_json) < 0) {
                        free(*ret);
                        *ret = NULL;
                        return diag_set(d, -EBADMSG, "request: %s.data is not valid JSON although "
                                        "dataType is JSON", key);
                }
        } else if (strcasecmp(type, "Binary") != 0) {
                free(*ret);
                *ret = NULL;
                return diag_set(d, -EBADMSG, "request: %s.dataType is '%.16s', not Binary or JSON",
                                key, type);
        }
        return 0;
}

int appraise_sevsnpvm(const AppraiseContext *ctx, const char *body, size_t size,
                      json_object **ret_claims, Diag *d) {
        _cleanup_(json_object_putp) json_object *req = NULL, *report_doc = NULL, *claims = NULL,
                                                *rt_json = NULL, *it_json = NULL, *rj = NULL;
        _cleanup_(freep) uint8_t *report_json = NULL, *report = NULL, *chain = NULL, *rt = NULL,
                                 *it = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        size_t report_json_size, report_size, chain_size, rt_size = 0, it_size = 0;
        uint8_t digest[32];
        X509 *leaf = NULL;
        json_object *v;
        SnpReport rep;
        int r;

        if (size > APPRAISE_BODY_MAX)
                return diag_set(d, -E2BIG, "request: %zu bytes, at most %u", size,
                                APPRAISE_BODY_MAX);
        if (json_parse_capped(body, size, APPRAISE_BODY_MAX, 32, &req) < 0 ||
            !json_object_is_type(req, json_type_object))
                return diag_set(d, -EBADMSG, "request: not a JSON object");
        r = member_b64(req, "report", REPORT_JSON_MAX, &report_json, &report_json_size, d);
        if (r < 0)
                return r;
        if (json_parse_capped((const char *) report_json, report_json_size, REPORT_JSON_MAX, 8,
                              &report_doc) < 0)
                return diag_set(d, -EBADMSG, "request: \"report\" does not decode to JSON");
        r = member_b64(report_doc, "SnpReport", 4096, &report, &report_size, d);
        if (r >= 0)
                r = member_b64(report_doc, "VcekCertChain", CERT_BUNDLE_MAX, &chain, &chain_size, d);
        if (r < 0)
                return r;
        r = snp_report_parse(report, report_size, &rep, d);
        if (r < 0)
                return r;
        if (x509_parse_bundle(chain, chain_size, &certs) < 0)
                return diag_set(d, -EBADMSG, "request: VcekCertChain is not PEM certificates");
        for (int i = 0; i < sk_X509_num(certs) && !leaf; i++) {
                char cn[64];
                X509 *x = sk_X509_value(certs, i);
                if (x509_common_name(X509_get_subject_name(x), cn, sizeof(cn)) >= 0 &&
                    (streq(cn, "SEV-VCEK") || streq(cn, "SEV-VLEK")))
                        leaf = x;
        }
        if (!leaf)
                return diag_set(d, -ENOKEY, "request: VcekCertChain holds no VCEK or VLEK");
        r = snp_endorsement_verify(ctx->trust, leaf, certs, NULL, ctx->now, &e, d);
        if (r >= 0)
                r = snp_report_verify(e, &rep, report, report_size, d);
        if (r < 0)
                return r;

        /* Runtime data: SHA-256 of it is REPORT_DATA (32 bytes, then zeros), maa.md §2.1. */
        r = member_data(req, "runtimeData", &rt, &rt_size, &rt_json, d);
        if (r == -ENOENT) {
                if (!memeqzero(rep.report_data, 64))
                        return diag_set(d, -EXDEV, "request: no runtimeData, but REPORT_DATA is set");
        } else if (r < 0)
                return r;
        else {
                if (!EVP_Digest(rt, rt_size, digest, NULL, EVP_sha256(), NULL))
                        return -ENOMEM;
                if (memcmp(digest, rep.report_data, 32) != 0 || !memeqzero(rep.report_data + 32, 32))
                        return diag_set(d, -EXDEV, "runtimeData: its SHA-256 is not REPORT_DATA");
        }
        r = member_data(req, "initTimeData", &it, &it_size, &it_json, d);
        if (r >= 0) {
                if (!EVP_Digest(it, it_size, digest, NULL, EVP_sha256(), NULL))
                        return -ENOMEM;
                if (memcmp(digest, rep.host_data, 32) != 0)
                        return diag_set(d, -EXDEV, "initTimeData: its SHA-256 is not HOST_DATA");
        } else if (r != -ENOENT)
                return r;

        /* The claims: MAA's names for the report fields (snp_report_to_json carries them). */
        claims = json_object_new_object();
        if (!claims || snp_report_to_json(&rep, &rj) < 0)
                return -ENOMEM;
        json_object_object_foreach(rj, key, val)
                if (strncmp(key, "x-ms-sevsnpvm-", 14) == 0 &&
                    json_add(claims, key, json_object_get(val)) < 0)
                        return -ENOMEM;
        if (json_add_string(claims, "x-ms-attestation-type", "sevsnpvm") < 0 ||
            json_add_string(claims, "x-ms-ver", "1.0") < 0 ||
            (rt_json && json_add(claims, "x-ms-runtime", TAKE_PTR(rt_json)) < 0) ||
            (it_json && json_add(claims, "x-ms-inittime", TAKE_PTR(it_json)) < 0))
                return -ENOMEM;
        if (json_object_object_get_ex(req, "nonce", &v)) {
                if (!json_object_is_type(v, json_type_string) ||
                    strlen(json_object_get_string(v)) > 1024)
                        return diag_set(d, -EBADMSG, "request: \"nonce\" is not a short string");
                if (json_add(claims, "nonce", json_object_get(v)) < 0)
                        return -ENOMEM;
        }
        *ret_claims = TAKE_PTR(claims);
        return 0;
}
