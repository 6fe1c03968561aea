/* SPDX-License-Identifier: Apache-2.0 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/openssl-util.h"

DEFINE_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);

#define JWK_MAX_BYTES 2048u /* 16384-bit modulus */

/* A base64url member of o as a BIGNUM-sized byte string. */
static int member_b64(json_object *o, const char *name, uint8_t **ret, size_t *ret_size, Diag *d) {
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "JWK: no \"%s\" string", name);
        s = json_object_get_string(v);
        if (base64url_decode(s, strlen(s), JWK_MAX_BYTES, ret, ret_size) < 0 || *ret_size == 0)
                return diag_set(d, -EBADMSG, "JWK: \"%s\" is not base64url (or too long)", name);
        return 0;
}

static int pkey_fromdata(const char *type, OSSL_PARAM *params, EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

        if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, ret, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
                ERR_clear_error();
                return -EBADMSG;
        }
        return 0;
}

static int rsa_from_jwk(json_object *jwk, EVP_PKEY **ret, Diag *d) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(freep) uint8_t *n = NULL, *e = NULL;
        _cleanup_(BN_freep) BIGNUM *bn = NULL, *be = NULL;
        size_t n_size, e_size;
        int r;

        r = member_b64(jwk, "n", &n, &n_size, d);
        if (r < 0)
                return r;
        r = member_b64(jwk, "e", &e, &e_size, d);
        if (r < 0)
                return r;
        bn = BN_bin2bn(n, (int) n_size, NULL);
        be = BN_bin2bn(e, (int) e_size, NULL);
        if (!bld || !bn || !be || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
            !(params = OSSL_PARAM_BLD_to_param(bld)))
                return -ENOMEM;
        if (BN_num_bits(bn) < 1024 || BN_is_one(be) || !BN_is_odd(be))
                return diag_set(d, -EBADMSG, "JWK: RSA key of %d bits or with a bad exponent",
                                BN_num_bits(bn));
        r = pkey_fromdata("RSA", params, ret);
        return r < 0 ? diag_set(d, r, "JWK: not a valid RSA key") : 0;
}

static int ec_from_jwk(json_object *jwk, EVP_PKEY **ret, Diag *d) {
        static const struct {
                const char *crv, *group;
                size_t size;
        } curves[] = { { "P-256", "prime256v1", 32 }, { "P-384", "secp384r1", 48 },
                       { "P-521", "secp521r1", 66 } };
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
        _cleanup_(freep) uint8_t *x = NULL, *y = NULL, *point = NULL;
        size_t x_size, y_size, ci;
        json_object *v;
        const char *crv;
        int r;

        if (!json_object_object_get_ex(jwk, "crv", &v) || !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "JWK: EC key without \"crv\"");
        crv = json_object_get_string(v);
        for (ci = 0; ci < ELEMENTSOF(curves); ci++)
                if (streq(crv, curves[ci].crv))
                        break;
        if (ci == ELEMENTSOF(curves))
                return diag_set(d, -EPROTONOSUPPORT, "JWK: curve '%.16s' is not supported", crv);
        r = member_b64(jwk, "x", &x, &x_size, d);
        if (r >= 0)
                r = member_b64(jwk, "y", &y, &y_size, d);
        if (r < 0)
                return r;
        if (x_size != curves[ci].size || y_size != curves[ci].size)
                return diag_set(d, -EBADMSG, "JWK: coordinates are not %zu bytes", curves[ci].size);
        point = malloc(1 + 2 * curves[ci].size);
        if (!point || !bld)
                return -ENOMEM;
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, x, x_size);
        memcpy(point + 1 + x_size, y, y_size);
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[ci].group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                              1 + 2 * curves[ci].size) ||
            !(params = OSSL_PARAM_BLD_to_param(bld)))
                return -ENOMEM;
        r = pkey_fromdata("EC", params, ret);
        return r < 0 ? diag_set(d, r, "JWK: not a point on %s", crv) : 0;
}

int jwk_to_pkey(json_object *jwk, EVP_PKEY **ret, Diag *d) {
        json_object *kty;
        const char *s;

        if (!jwk || !json_object_is_type(jwk, json_type_object))
                return diag_set(d, -EBADMSG, "JWK: not an object");
        if (!json_object_object_get_ex(jwk, "kty", &kty) ||
            !json_object_is_type(kty, json_type_string))
                return diag_set(d, -EBADMSG, "JWK: no \"kty\"");
        s = json_object_get_string(kty);
        if (streq(s, "RSA"))
                return rsa_from_jwk(jwk, ret, d);
        if (streq(s, "EC"))
                return ec_from_jwk(jwk, ret, d);
        return diag_set(d, -EPROTONOSUPPORT, "JWK: kty '%.16s' is not supported", s);
}

static int add_bn_b64(json_object *o, const char *name, const BIGNUM *bn, size_t pad_to) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) char *s = NULL;
        size_t n = MAX((size_t) BN_num_bytes(bn), pad_to);

        buf = malloc(n ? n : 1);
        if (!buf || BN_bn2binpad(bn, buf, (int) n) < 0 || base64url_encode(buf, n, &s) < 0)
                return -ENOMEM;
        return json_add_string(o, name, s);
}

int jwk_from_pkey(EVP_PKEY *key, const char *kid, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(BN_freep) BIGNUM *a = NULL, *b = NULL;
        int r;

        if (!o)
                return -ENOMEM;
        if (kid && json_add_string(o, "kid", kid) < 0)
                return -ENOMEM;
        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_RSA:
                if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a) ||
                    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b))
                        return -ENOMEM;
                r = json_add_string(o, "kty", "RSA");
                if (r >= 0)
                        r = add_bn_b64(o, "n", a, 0);
                if (r >= 0)
                        r = add_bn_b64(o, "e", b, 0);
                break;
        case EVP_PKEY_EC: {
                char group[32];
                const char *crv;
                size_t size;

                if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                    sizeof(group), NULL))
                        return -EPROTONOSUPPORT;
                if (streq(group, "prime256v1"))
                        crv = "P-256", size = 32;
                else if (streq(group, "secp384r1"))
                        crv = "P-384", size = 48;
                else if (streq(group, "secp521r1"))
                        crv = "P-521", size = 66;
                else
                        return -EPROTONOSUPPORT;
                if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a) ||
                    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b))
                        return -ENOMEM;
                r = json_add_string(o, "kty", "EC");
                if (r >= 0)
                        r = json_add_string(o, "crv", crv);
                if (r >= 0)
                        r = add_bn_b64(o, "x", a, size);
                if (r >= 0)
                        r = add_bn_b64(o, "y", b, size);
                break;
        }
        default:
                return -EPROTONOSUPPORT;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int pkey_equal(EVP_PKEY *a, EVP_PKEY *b) {
        int k = a && b && EVP_PKEY_eq(a, b) == 1;

        ERR_clear_error();
        return k;
}
