/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/evp.h>

#include "common/byte-reader.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "vtpm/hcl-report.h"

#define HCL_CLAIMS_MAX_DEPTH 16

const char *hcl_report_type_to_string(uint32_t t) {
        switch (t) {
        case HCL_REPORT_TYPE_VBS:
                return "vbs";
        case HCL_REPORT_TYPE_SNP:
                return "snp";
        case HCL_REPORT_TYPE_TVM:
                return "tvm";
        case HCL_REPORT_TYPE_TDX:
                return "tdx";
        default:
                return "invalid";
        }
}

static const EVP_MD *hash_md(uint32_t hash_type) {
        switch (hash_type) {
        case 1:
                return EVP_sha256();
        case 2:
                return EVP_sha384();
        case 3:
                return EVP_sha512();
        default:
                return NULL;
        }
}

int hcl_report_parse(const uint8_t *buf, size_t size, HclReport *ret, Diag *d) {
        HclReport h = {};
        ByteReader r;
        uint8_t sig[4];

        if (!buf || size > HCL_REPORT_MAX_SIZE)
                return diag_set(d, -EBADMSG, "HCL report: %zu bytes, at most %u", size,
                                HCL_REPORT_MAX_SIZE);
        r = br_init(buf, size);
        if (!br_copy(&r, sig, 4) || memcmp(sig, "HCLA", 4) != 0)
                return diag_set(d, -EBADMSG, "HCL report: signature at 0x000 is not \"HCLA\"");
        if (!br_u32le(&r, &h.version) || !br_u32le(&r, &h.report_size) ||
            !br_u32le(&r, &h.request_type) || !br_u32le(&r, &h.status) || !br_skip(&r, 12))
                return diag_set(d, -EBADMSG, "HCL report: header cut short");
        if (!br_bytes(&r, &h.hw_report, HCL_HW_REPORT_SIZE))
                return diag_set(d, -EBADMSG, "HCL report: %zu bytes, too short for the hardware "
                                "report at 0x020", size);
        if (!br_u32le(&r, &h.data_size) || !br_u32le(&r, &h.data_version) ||
            !br_u32le(&r, &h.report_type) || !br_u32le(&r, &h.hash_type) ||
            !br_u32le(&r, &h.runtime_data_size))
                return diag_set(d, -EBADMSG, "HCL report: request data at 0x4c0 cut short");
        if (h.report_type != HCL_REPORT_TYPE_SNP && h.report_type != HCL_REPORT_TYPE_TDX &&
            h.report_type != HCL_REPORT_TYPE_TVM)
                return diag_set(d, -EPROTONOSUPPORT, "HCL report: report_type at 0x4c8 is %u",
                                h.report_type);
        if (!hash_md(h.hash_type))
                return diag_set(d, -EPROTONOSUPPORT,
                                "HCL report: report_data_hash_type at 0x4cc is %u", h.hash_type);
        if (h.runtime_data_size == 0 || h.runtime_data_size > br_left(&r))
                return diag_set(d, -EBADMSG, "HCL report: variable_data_size at 0x4d0 is %u, but "
                                "%zu bytes follow", h.runtime_data_size, br_left(&r));
        h.runtime_data_offset = HCL_RUNTIME_DATA_OFFSET;
        h.runtime_data = r.p;
        if (h.runtime_data[0] != '{')
                return diag_set(d, -EBADMSG, "HCL report: runtime claims at 0x4d4 do not start "
                                "with '{'");
        *ret = h;
        return 0;
}

int hcl_report_check_binding(const HclReport *h, const uint8_t report_data[64], Diag *d) {
        const EVP_MD *md = hash_md(h->hash_type);
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned n;

        if (!md || !EVP_Digest(h->runtime_data, h->runtime_data_size, digest, &n, md, NULL))
                return -ENOMEM;
        if (memcmp(digest, report_data, n) != 0)
                return diag_set(d, -EXDEV, "HCL report: REPORT_DATA does not carry the %s of the "
                                "runtime claims", EVP_MD_get0_name(md));
        if (!memeqzero(report_data + n, 64 - n))
                return diag_set(d, -EXDEV, "HCL report: REPORT_DATA has bytes set after the hash");
        return 0;
}

int hcl_runtime_claims(const HclReport *h, json_object **ret, Diag *d) {
        int r = json_parse_capped((const char *) h->runtime_data, h->runtime_data_size,
                                  HCL_REPORT_MAX_SIZE, HCL_CLAIMS_MAX_DEPTH, ret);
        if (r < 0)
                return diag_set(d, -EBADMSG, "HCL report: runtime claims at 0x4d4 are not valid JSON");
        if (!json_object_is_type(*ret, json_type_object)) {
                json_object_put(*ret);
                *ret = NULL;
                return diag_set(d, -EBADMSG, "HCL report: runtime claims are not a JSON object");
        }
        return 0;
}

int hcl_claims_key(json_object *claims, const char *kid, EVP_PKEY **ret, Diag *d) {
        json_object *keys;
        size_t n;

        if (!json_object_object_get_ex(claims, "keys", &keys) ||
            !json_object_is_type(keys, json_type_array))
                return diag_set(d, -ENOKEY, "runtime claims: no \"keys\" array");
        n = json_object_array_length(keys);
        for (size_t i = 0; i < n; i++) {
                json_object *k = json_object_array_get_idx(keys, i), *v;

                if (json_object_object_get_ex(k, "kid", &v) &&
                    json_object_is_type(v, json_type_string) &&
                    streq(json_object_get_string(v), kid))
                        return jwk_to_pkey(k, ret, d);
        }
        return diag_set(d, -ENOKEY, "runtime claims: no key \"%s\"", kid);
}

int hcl_report_to_json(const HclReport *h, json_object *claims, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *v;

        if (!o || json_add_int(o, "version", h->version) < 0 ||
            json_add_int(o, "request_type", h->request_type) < 0 ||
            json_add_int(o, "status", h->status) < 0 ||
            json_add_string(o, "report_type", hcl_report_type_to_string(h->report_type)) < 0 ||
            json_add_int(o, "report_data_hash_type", h->hash_type) < 0 ||
            json_add_int(o, "runtime_data_size", h->runtime_data_size) < 0)
                return -ENOMEM;
        if (claims) {
                if (json_object_object_get_ex(claims, "vm-configuration", &v) &&
                    json_add(o, "vm-configuration", json_object_get(v)) < 0)
                        return -ENOMEM;
                if (json_object_object_get_ex(claims, "user-data", &v) &&
                    json_add(o, "user-data", json_object_get(v)) < 0)
                        return -ENOMEM;
                if (json_object_object_get_ex(claims, "keys", &v) &&
                    json_add(o, "keys", json_object_get(v)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}
