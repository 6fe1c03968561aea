/* SPDX-License-Identifier: Apache-2.0 */
/* Key Vault's release request and answer (verifier/key-release.h). Pure. */
#include <string.h>

#include <json-c/json.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "verifier/key-release.h"
#include "verifier/release-policy.h"

void key_release_request_done(KeyReleaseRequest *r) {
        if (!r)
                return;
        free(r->target);
        free(r->nonce);
        *r = (KeyReleaseRequest) {};
}

static bool printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
                        return false;
        return true;
}

int key_release_request_parse(const char *body, size_t size, KeyReleaseRequest *ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        KeyReleaseRequest req = { .enc = KEY_WRAP_CKM_RSA_AES };
        json_object *v;
        const char *s;
        int r;

        if (size > KEY_RELEASE_BODY_MAX)
                return diag_set(d, -E2BIG, "request body: larger than %u bytes", KEY_RELEASE_BODY_MAX);
        r = json_parse_capped(body, size, KEY_RELEASE_BODY_MAX, 4, &o);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_object_is_type(o, json_type_object))
                return diag_set(d, -EBADMSG, "request body: not a JSON object");
        if (!json_object_object_get_ex(o, "target", &v) || !json_object_is_type(v, json_type_string) ||
            json_object_get_string_len(v) == 0)
                return diag_set(d, -EBADMSG, "request body: \"target\" (the attestation token) is "
                                "missing or not a non-empty string");
        if ((size_t) json_object_get_string_len(v) > JWS_MAX_SIZE)
                return diag_set(d, -E2BIG, "request body: \"target\" is larger than %u bytes",
                                JWS_MAX_SIZE);
        if (json_object_object_get_ex(o, "enc", &v)) {
                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "request body: \"enc\" is not a string");
                s = json_object_get_string(v);
                if (key_wrap_alg_from_string(s) < 0)
                        return diag_set(d, -EPROTONOSUPPORT, "request body: \"enc\" %.64s is not "
                                        "CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or "
                                        "RSA_AES_KEY_WRAP_384", s);
                req.enc = key_wrap_alg_from_string(s);
        }
        if (json_object_object_get_ex(o, "nonce", &v)) {
                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "request body: \"nonce\" is not a string");
                s = json_object_get_string(v);
                if (strlen(s) > KEY_RELEASE_NONCE_MAX || !printable(s))
                        return diag_set(d, -EBADMSG, "request body: \"nonce\" is not printable "
                                        "ASCII of at most %u bytes", KEY_RELEASE_NONCE_MAX);
                req.nonce = strdup(s);
                if (!req.nonce)
                        return -ENOMEM;
        }
        json_object_object_get_ex(o, "target", &v);
        req.target_size = (size_t) json_object_get_string_len(v);
        req.target = strndup(json_object_get_string(v), req.target_size);
        if (!req.target || strlen(req.target) != req.target_size) {
                bool nul = req.target;

                key_release_request_done(&req);
                return nul ? diag_set(d, -EBADMSG, "request body: \"target\" holds a NUL") : -ENOMEM;
        }
        *ret = req;
        return 0;
}

static bool array_has_string(json_object *a, const char *s) {
        if (!json_object_is_type(a, json_type_array))
                return false;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *e = json_object_array_get_idx(a, i);
                if (json_object_is_type(e, json_type_string) && streq(json_object_get_string(e), s))
                        return true;
        }
        return false;
}

int key_release_find_kek(json_object *claims, EVP_PKEY **ret, char **ret_kid, Diag *d) {
        json_object *rt, *keys, *v;
        size_t n;

        if (!json_object_object_get_ex(claims, "x-ms-runtime", &rt) ||
            !json_object_object_get_ex(rt, "keys", &keys) ||
            !json_object_is_type(keys, json_type_array))
                return diag_set(d, -ENOKEY, "the token has no x-ms-runtime.keys to wrap the key to");
        n = json_object_array_length(keys);
        for (size_t i = 0; i < n; i++) {
                json_object *k = json_object_array_get_idx(keys, i);
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
                const char *kid = "";
                bool enc = false;
                Diag inner = {};
                char *kid_copy;
                int r;

                if (!json_object_is_type(k, json_type_object))
                        continue;
                if (json_object_object_get_ex(k, "key_ops", &v))
                        enc = array_has_string(v, "encrypt");
                if (json_object_object_get_ex(k, "use", &v) && json_object_is_type(v, json_type_string))
                        enc = enc || streq(json_object_get_string(v), "enc");
                if (!enc)
                        continue;
                /* The first key for encryption is the one (Key Vault's rule): a later one is
                 * never taken instead, whatever is wrong with the first. */
                if (!json_object_object_get_ex(k, "kty", &v) || !json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "x-ms-runtime.keys[%zu]: no \"kty\"", i);
                if (!streq(json_object_get_string(v), "RSA"))
                        return diag_set(d, -EPROTONOSUPPORT, "x-ms-runtime.keys[%zu]: kty %.16s, not "
                                        "RSA: the release wraps with RSA-OAEP", i,
                                        json_object_get_string(v));
                r = jwk_to_pkey(k, &pkey, &inner);
                if (r < 0)
                        return diag_set(d, r, "x-ms-runtime.keys[%zu]: %s", i,
                                        diag_text(&inner, "not a usable RSA key"));
                if (json_object_object_get_ex(k, "kid", &v) && json_object_is_type(v, json_type_string))
                        kid = json_object_get_string(v);
                kid_copy = strdup(kid);
                if (!kid_copy)
                        return -ENOMEM;
                *ret = TAKE_PTR(pkey);
                *ret_kid = kid_copy;
                return 0;
        }
        return diag_set(d, -ENOKEY, "the token's x-ms-runtime.keys has no key for encryption");
}

/* Key Vault's kty and key_ops for the key types of the store. */
static const char *kty_of(KeyType t) {
        switch (t) {
        case KEY_TYPE_RSA_2048:
        case KEY_TYPE_RSA_3072:
        case KEY_TYPE_RSA_4096:
                return "RSA-HSM";
        case KEY_TYPE_EC_P256:
        case KEY_TYPE_EC_P384:
                return "EC-HSM";
        case KEY_TYPE_OCT_256:
                return "oct-HSM";
        default:
                return NULL;
        }
}

static int add_key_ops(json_object *jwk, KeyType t) {
        static const char *const rsa[] = { "encrypt", "decrypt", "sign", "verify", "wrapKey",
                                           "unwrapKey", NULL };
        static const char *const ec[] = { "sign", "verify", NULL };
        static const char *const oct[] = { "encrypt", "decrypt", "wrapKey", "unwrapKey", NULL };
        const char *const *ops = t == KEY_TYPE_OCT_256 ? oct : (t == KEY_TYPE_EC_P256 || t == KEY_TYPE_EC_P384) ? ec : rsa;
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && ops[i]; i++)
                if (json_object_array_add(a, json_object_new_string(ops[i])) < 0)
                        break;
        return json_add(jwk, "key_ops", a);
}

/* The released JWK's kty, key_ops and public members. */
static int released_jwk(const KeyReleaseKey *k, json_object **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *jwk = NULL;
        const char *kty = kty_of(k->type);

        if (!kty)
                return diag_set(d, -EINVAL, "unknown key type %d", (int) k->type);
        if (k->type == KEY_TYPE_OCT_256) {
                jwk = json_object_new_object();
                if (!jwk)
                        return -ENOMEM;
        } else {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
                const unsigned char *p = k->material->data;

                pkey = d2i_AutoPrivateKey(NULL, &p, (long) k->material->size);
                if (!pkey)
                        return diag_set(d, -EBADMSG, "the key's material is not PKCS#8");
                if (jwk_from_pkey(pkey, NULL, &jwk) < 0)
                        return -ENOMEM;
                /* jwk_from_pkey gives the public kty ("RSA", "EC"); Key Vault's names the HSM. */
                json_object_object_del(jwk, "kty");
        }
        if (json_add_string(jwk, "kid", k->url) < 0 || json_add_string(jwk, "kty", kty) < 0 ||
            add_key_ops(jwk, k->type) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(jwk);
        return 0;
}

/* The release_policy "data" member: the policy text in base64url, or, for a policy stored in
 * Key Vault's own form ({"data": base64url, ...}, release-policy.h), its "data" as it is. */
static int policy_data_of(const char *text, char **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *v;
        size_t n = text ? strlen(text) : 0;

        if (n > 0 && json_parse_capped(text, n, RELEASE_POLICY_SIZE_MAX * 2, 8, &o) >= 0 &&
            json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "data", &v) &&
            json_object_is_type(v, json_type_string)) {
                *ret = strdup(json_object_get_string(v));
                return *ret ? 0 : -ENOMEM;
        }
        return base64url_encode(text ?: "", n, ret) < 0 ? -ENOMEM : 0;
}

int key_release_payload(const KeyReleaseRequest *req, const KeyReleaseKey *k, EVP_PKEY *kek,
                        const char *kek_kid, json_object **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *payload = json_object_new_object(), *jwk = NULL;
        _cleanup_(freep) uint8_t *blob = NULL;
        _cleanup_(freep) char *key_hsm = NULL, *policy_data = NULL;
        json_object *request = json_object_new_object(), *response = json_object_new_object(),
                    *key = json_object_new_object(), *attrs = json_object_new_object(),
                    *policy = json_object_new_object();
        int64_t created = (int64_t) (k->created_usec / 1000000);
        size_t blob_size;
        int r;

        if (!payload || json_add(payload, "request", request) < 0 ||
            json_add(payload, "response", response) < 0 || json_add(response, "key", key) < 0 ||
            json_add(key, "attributes", attrs) < 0 ||
            json_add(key, "tags", json_object_new_object()) < 0 ||
            json_add(key, "release_policy", policy) < 0)
                return -ENOMEM;
        if (json_add_string(request, "api-version", KEY_RELEASE_API_VERSION) < 0 ||
            json_add_string(request, "enc", key_wrap_alg_to_string(req->enc)) < 0 ||
            json_add_string(request, "kid", k->url) < 0 ||
            (req->nonce && json_add_string(request, "nonce", req->nonce) < 0))
                return -ENOMEM;

        r = released_jwk(k, &jwk, d);
        if (r < 0)
                return r;
        r = key_wrap(req->enc, kek, k->material->data, k->material->size, &blob, &blob_size, d);
        if (r < 0)
                return r;
        r = key_hsm_build(req->enc, kek_kid && *kek_kid ? kek_kid : "TpmEphemeralEncryptionKey",
                          blob, blob_size, &key_hsm);
        if (r < 0)
                return diag_set(d, r, "cannot build key_hsm");
        if (json_add_string(jwk, "key_hsm", key_hsm) < 0 ||
            json_add(key, "key", json_object_get(jwk)) < 0)
                return -ENOMEM;

        if (json_add_bool(attrs, "enabled", true) < 0 || json_add_int(attrs, "created", created) < 0 ||
            json_add_int(attrs, "updated", created) < 0 ||
            json_add_string(attrs, "recoveryLevel", "Purgeable") < 0 ||
            json_add_bool(attrs, "exportable", true) < 0)
                return -ENOMEM;
        r = policy_data_of(k->policy, &policy_data);
        if (r < 0)
                return r;
        if (json_add_string(policy, "contentType", "application/json; charset=utf-8") < 0 ||
            json_add_string(policy, "data", policy_data) < 0 ||
            json_add_bool(policy, "immutable", k->policy_immutable) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(payload);
        return 0;
}
