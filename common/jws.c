/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h> /* isfinite */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "common/time-util.h"

/* Nesting allowed in a JWS header (flat in practice) and a JWKS document (keys[i].x5c[j]). */
#define JWS_HEADER_DEPTH 8
#define JWKS_DEPTH 8
/* Largest DER certificate in an x5c (MAA's carry an SGX quote extension: about 10 KiB). */
#define X5C_CERT_MAX (64u * 1024u)
/* RSA moduli we accept for signatures, in bits. */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

typedef enum KeyKind {
        KEY_RSA,
        KEY_P256,
        KEY_P384,
        _KEY_KIND_MAX,
        _KEY_KIND_INVALID = -EINVAL,
} KeyKind;

static const char *const key_kind_name[_KEY_KIND_MAX] = {
        [KEY_RSA] = "RSA",
        [KEY_P256] = "EC P-256",
        [KEY_P384] = "EC P-384",
};

typedef struct JwsAlg {
        const char *name;
        KeyKind kind;
        const char *md;
        bool pss;
        size_t ec_size; /* bytes of R and of S */
} JwsAlg;

/* RFC 7518 §3.1. The only algorithms we ever sign or verify with. */
static const JwsAlg jws_algs[] = {
        { "RS256", KEY_RSA, "SHA256", false, 0 },
        { "PS256", KEY_RSA, "SHA256", true, 0 },
        { "ES256", KEY_P256, "SHA256", false, 32 },
        { "ES384", KEY_P384, "SHA384", false, 48 },
};

/* Registered header names (RFC 7515 §4.1): "crit" must not list them. */
static const char *const registered_headers[] = {
        "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
};

struct JwsKeySet {
        JwsKey keys[JWS_KEYS_MAX];
        size_t n_keys;
};

static const JwsAlg *alg_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(jws_algs); i++)
                if (streq(jws_algs[i].name, name))
                        return &jws_algs[i];
        return NULL;
}

/* Untrusted text for a one-line Diag: printable ASCII only, cut at 64 characters. */
static const char *printable(const char *s, char buf[static 72]) {
        size_t i;

        if (!s)
                return "(none)";
        for (i = 0; s[i] && i < 64; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        if (s[i])
                buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
        buf[i] = '\0';
        return buf;
}

static KeyKind key_kind(EVP_PKEY *k) {
        char group[32];

        switch (EVP_PKEY_get_base_id(k)) {
        case EVP_PKEY_RSA: {
                int bits = EVP_PKEY_get_bits(k);
                return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS ? KEY_RSA : _KEY_KIND_INVALID;
        }
        case EVP_PKEY_EC:
                if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                    sizeof(group), NULL)) {
                        ERR_clear_error();
                        return _KEY_KIND_INVALID;
                }
                if (streq(group, "prime256v1"))
                        return KEY_P256;
                if (streq(group, "secp384r1"))
                        return KEY_P384;
                return _KEY_KIND_INVALID;
        default:
                return _KEY_KIND_INVALID;
        }
}

/* Sets up ctx for alg with key, for signing or verifying. */
static int digest_init(EVP_MD_CTX *ctx, const JwsAlg *a, EVP_PKEY *key, bool sign) {
        EVP_PKEY_CTX *pctx = NULL;

        if ((sign ? EVP_DigestSignInit_ex(ctx, &pctx, a->md, NULL, NULL, key, NULL)
                  : EVP_DigestVerifyInit_ex(ctx, &pctx, a->md, NULL, NULL, key, NULL)) <= 0)
                return -EINVAL;
        if (a->kind != KEY_RSA)
                return 0;
        if (!a->pss)
                return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 ? 0 : -EINVAL;
        /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash. */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, a->md, NULL) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0)
                return -EINVAL;
        return 0;
}

/* 1 if sig is a valid signature of msg under key with alg, 0 if not, -ENOMEM. */
static int signature_check(const JwsAlg *a, EVP_PKEY *key, const void *msg, size_t msg_size,
                           const uint8_t *sig, size_t sig_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
        _cleanup_(freep) uint8_t *der = NULL;
        const uint8_t *s = sig;
        size_t s_size = sig_size;
        int k;

        if (!ctx)
                return -ENOMEM;
        if (a->kind == KEY_RSA) {
                /* RFC 7518 §3.3: the signature is exactly as long as the modulus. */
                if (sig_size != (size_t) EVP_PKEY_get_size(key))
                        return 0;
        } else {
                BIGNUM *r, *sv;
                int der_size;

                /* RFC 7518 §3.4: R || S, each exactly the group's size; never DER. */
                if (sig_size != 2 * a->ec_size)
                        return 0;
                es = ECDSA_SIG_new();
                r = BN_bin2bn(sig, (int) a->ec_size, NULL);
                sv = BN_bin2bn(sig + a->ec_size, (int) a->ec_size, NULL);
                if (!es || !r || !sv || !ECDSA_SIG_set0(es, r, sv)) {
                        BN_free(r);
                        BN_free(sv);
                        return -ENOMEM;
                }
                der_size = i2d_ECDSA_SIG(es, &der);
                if (der_size <= 0)
                        return -ENOMEM;
                s = der;
                s_size = (size_t) der_size;
        }
        if (digest_init(ctx, a, key, false) < 0) {
                ERR_clear_error();
                return 0;
        }
        k = EVP_DigestVerify(ctx, s, s_size, msg, msg_size);
        ERR_clear_error();
        return k == 1;
}

Jws *jws_free(Jws *j) {
        if (!j)
                return NULL;
        json_object_put(j->header);
        free(j->payload);
        free(j->signature);
        free(j->signing_input);
        free(j);
        return NULL;
}

static bool is_base64url(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                        return false;
        }
        return true;
}

/* One part of a compact JWS: strict base64url (RFC 7515 §2: no padding, URL alphabet only). */
static int part_decode(const char *s, size_t n, const char *what, uint8_t **ret, size_t *ret_size,
                       Diag *d) {
        if (!is_base64url(s, n) || base64url_decode(s, n, JWS_MAX_SIZE, ret, ret_size) < 0)
                return diag_set(d, -EBADMSG, "JWS %s: not base64url", what);
        return 0;
}

/* An optional string member of o: NULL when absent, -EBADMSG when not a string. */
static int optional_string(json_object *o, const char *name, const char **ret) {
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, name, &v))
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        return 0;
}

int jws_parse(const char *compact, size_t size, Jws **ret, Diag *d) {
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(freep) uint8_t *header_text = NULL;
        const char *dot1, *dot2, *hp, *pp, *sp;
        size_t header_size, hn, pn, sn;
        json_object *v;

        if (size > JWS_MAX_SIZE)
                return diag_set(d, -E2BIG, "JWS: %zu bytes, more than %u", size, JWS_MAX_SIZE);
        if (!compact)
                return diag_set(d, -EBADMSG, "JWS: empty");
        dot1 = memchr(compact, '.', size);
        dot2 = dot1 ? memchr(dot1 + 1, '.', size - (size_t) (dot1 + 1 - compact)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', size - (size_t) (dot2 + 1 - compact)))
                return diag_set(d, -EBADMSG, "JWS: not three base64url parts separated by '.'");
        hp = compact, hn = (size_t) (dot1 - compact);
        pp = dot1 + 1, pn = (size_t) (dot2 - pp);
        sp = dot2 + 1, sn = size - (size_t) (sp - compact);
        if (hn == 0)
                return diag_set(d, -EBADMSG, "JWS: empty header part");

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        if (part_decode(hp, hn, "header", &header_text, &header_size, d) < 0 ||
            part_decode(pp, pn, "payload", &j->payload, &j->payload_size, d) < 0 ||
            part_decode(sp, sn, "signature", &j->signature, &j->signature_size, d) < 0)
                return -EBADMSG;
        if (json_parse_capped((const char *) header_text, header_size, JWS_MAX_SIZE,
                              JWS_HEADER_DEPTH, &j->header) < 0 ||
            !json_object_is_type(j->header, json_type_object))
                return diag_set(d, -EBADMSG, "JWS header: not a JSON object");
        if (optional_string(j->header, "alg", &j->alg) < 0 || !j->alg)
                return diag_set(d, -EBADMSG, "JWS header: no \"alg\" string");
        if (optional_string(j->header, "kid", &j->kid) < 0)
                return diag_set(d, -EBADMSG, "JWS header: \"kid\" is not a string");
        if (optional_string(j->header, "typ", &j->typ) < 0)
                return diag_set(d, -EBADMSG, "JWS header: \"typ\" is not a string");
        /* RFC 7797 unencoded payloads change what is signed: not supported. */
        if (json_object_object_get_ex(j->header, "b64", &v) &&
            !(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v)))
                return diag_set(d, -EPROTONOSUPPORT, "JWS header: \"b64\": false (RFC 7797) is "
                                "not supported");

        j->signing_input_size = (size_t) (dot2 - compact);
        j->signing_input = strndup(compact, j->signing_input_size);
        if (!j->signing_input)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

int jws_claims(const Jws *j, json_object **ret, Diag *d) {
        json_object *o = NULL;

        if (json_parse_capped((const char *) j->payload, j->payload_size, JWS_MAX_SIZE,
                              JSON_DEFAULT_MAX_DEPTH, &o) < 0 ||
            !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return diag_set(d, -EBADMSG, "JWT payload: not a JSON object");
        }
        *ret = o;
        return 0;
}

/* Key sets. */

static void jws_key_done(JwsKey *k) {
        free(k->kid);
        free(k->alg);
        EVP_PKEY_free(k->pkey);
        sk_X509_pop_free(k->x5c, X509_free);
        *k = (JwsKey) {};
}

int jws_key_set_new(JwsKeySet **ret) {
        JwsKeySet *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

JwsKeySet *jws_key_set_free(JwsKeySet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_keys; i++)
                jws_key_done(&s->keys[i]);
        free(s);
        return NULL;
}

size_t jws_key_set_size(const JwsKeySet *s) {
        return s ? s->n_keys : 0;
}

const JwsKey *jws_key_set_get(const JwsKeySet *s, size_t i) {
        return s && i < s->n_keys ? &s->keys[i] : NULL;
}

const JwsKey *jws_key_set_find(const JwsKeySet *s, const char *kid) {
        for (size_t i = 0; kid && s && i < s->n_keys; i++)
                if (streq_ptr(s->keys[i].kid, kid))
                        return &s->keys[i];
        return NULL;
}

static int key_set_add_full(JwsKeySet *s, EVP_PKEY *pkey, const char *kid, const char *alg,
                            STACK_OF(X509) *x5c, Diag *d) {
        _cleanup_(freep) char *kid_copy = NULL, *alg_copy = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = NULL;
        char buf[72];

        if (!pkey)
                return -EINVAL;
        if (key_kind(pkey) < 0)
                return diag_set(d, -EPROTONOSUPPORT, "key %s: not RSA (%d-%d bits), EC P-256 or "
                                "EC P-384", printable(kid, buf), RSA_MIN_BITS, RSA_MAX_BITS);
        if (kid && jws_key_set_find(s, kid))
                return diag_set(d, -EEXIST, "key %s: a second key with this kid",
                                printable(kid, buf));
        if (s->n_keys >= JWS_KEYS_MAX)
                return diag_set(d, -E2BIG, "more than %u keys", JWS_KEYS_MAX);
        if ((kid && !(kid_copy = strdup(kid))) || (alg && !(alg_copy = strdup(alg))))
                return -ENOMEM;
        if (x5c) {
                chain = X509_chain_up_ref(x5c);
                if (!chain)
                        return -ENOMEM;
        }
        if (!EVP_PKEY_up_ref(pkey))
                return -ENOMEM;
        s->keys[s->n_keys++] = (JwsKey) {
                .kid = TAKE_PTR(kid_copy),
                .alg = TAKE_PTR(alg_copy),
                .pkey = pkey,
                .x5c = TAKE_PTR(chain),
        };
        return 0;
}

int jws_key_set_add(JwsKeySet *s, EVP_PKEY *pkey, const char *kid, STACK_OF(X509) *x5c,
                    Diag *d) {
        return key_set_add_full(s, pkey, kid, NULL, x5c, d);
}

/* A JWK's "x5c": 1..JWS_X5C_MAX standard base64 DER certificates (RFC 7517 §4.7). */
static int x5c_parse(json_object *arr, STACK_OF(X509) **ret, Diag *d) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        size_t n;

        if (!json_object_is_type(arr, json_type_array))
                return diag_set(d, -EBADMSG, "\"x5c\" is not an array");
        n = json_object_array_length(arr);
        if (n == 0 || n > JWS_X5C_MAX)
                return diag_set(d, -EBADMSG, "\"x5c\" has %zu certificates (need 1 to %u)", n,
                                JWS_X5C_MAX);
        sk = sk_X509_new_null();
        if (!sk)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(arr, i);
                _cleanup_(freep) uint8_t *der = NULL;
                _cleanup_(X509_freep) X509 *x = NULL;
                const unsigned char *p;
                const char *b64;
                size_t der_size;

                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "x5c[%zu] is not a string", i);
                b64 = json_object_get_string(v);
                if (base64url_decode(b64, strlen(b64), X5C_CERT_MAX, &der, &der_size) < 0)
                        return diag_set(d, -EBADMSG, "x5c[%zu] is not base64 (or over %u bytes)",
                                        i, X5C_CERT_MAX);
                p = der;
                x = d2i_X509(NULL, &p, (long) der_size);
                if (!x || p != der + der_size) {
                        ERR_clear_error();
                        return diag_set(d, -EBADMSG, "x5c[%zu] is not a DER certificate", i);
                }
                if (!sk_X509_push(sk, x))
                        return -ENOMEM;
                x = NULL;
        }
        *ret = TAKE_PTR(sk);
        return 0;
}

/* Adds keys[i] of a JWKS. Returns 1 when the key was skipped (why, in *skip), 0 when added. */
static int jwks_add_key(JwsKeySet *s, json_object *jwk, size_t i, Diag *skip, Diag *d) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *x5c = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL, *leaf_key = NULL;
        const char *kty, *kid, *use, *alg;
        json_object *v;
        Diag inner = {};
        char buf[72];
        bool has_params;
        int r;

        if (!json_object_is_type(jwk, json_type_object))
                return diag_set(d, -EBADMSG, "JWKS: keys[%zu] is not an object", i);
        if (optional_string(jwk, "kty", &kty) < 0 || !kty)
                return diag_set(d, -EBADMSG, "JWKS: keys[%zu] has no \"kty\" string", i);
        if (optional_string(jwk, "kid", &kid) < 0 || optional_string(jwk, "use", &use) < 0 ||
            optional_string(jwk, "alg", &alg) < 0)
                return diag_set(d, -EBADMSG, "JWKS: keys[%zu]: \"kid\", \"use\" or \"alg\" is "
                                "not a string", i);
        if (use && !streq(use, "sig"))
                return diag_set(skip, 1, "keys[%zu] has \"use\": \"%s\"", i, printable(use, buf));
        if (alg && !alg_find(alg))
                return diag_set(skip, 1, "keys[%zu] is for alg %s", i, printable(alg, buf));
        if (!streq(kty, "RSA") && !streq(kty, "EC"))
                return diag_set(skip, 1, "keys[%zu] has kty %s", i, printable(kty, buf));

        if (json_object_object_get_ex(jwk, "x5c", &v)) {
                r = x5c_parse(v, &x5c, &inner);
                if (r < 0)
                        return diag_set(d, r, "JWKS: keys[%zu]: %s", i, inner.text);
                leaf_key = X509_get_pubkey(sk_X509_value(x5c, 0));
                if (!leaf_key) {
                        ERR_clear_error();
                        return diag_set(skip, 1, "keys[%zu]: x5c[0] has a key OpenSSL cannot "
                                        "decode", i);
                }
                if (EVP_PKEY_get_base_id(leaf_key) !=
                    (streq(kty, "RSA") ? EVP_PKEY_RSA : EVP_PKEY_EC))
                        return diag_set(d, -EBADMSG, "JWKS: keys[%zu]: x5c[0] does not hold a "
                                        "%s key", i, kty);
        }
        has_params = json_object_object_get_ex(jwk, streq(kty, "RSA") ? "n" : "x", NULL);
        if (has_params || !leaf_key) {
                r = jwk_to_pkey(jwk, &pkey, &inner);
                if (r == -EPROTONOSUPPORT)
                        return diag_set(skip, 1, "keys[%zu]: %s", i, inner.text);
                if (r < 0)
                        return diag_set(d, r, "JWKS: keys[%zu]: %s", i, inner.text);
                if (leaf_key && !pkey_equal(pkey, leaf_key))
                        return diag_set(d, -EBADMSG, "JWKS: keys[%zu]: x5c[0] holds another key "
                                        "than the JWK's own parameters", i);
        } else
                pkey = TAKE_PTR(leaf_key);

        r = key_set_add_full(s, pkey, kid, alg, x5c, &inner);
        if (r == -EPROTONOSUPPORT)
                return diag_set(skip, 1, "keys[%zu]: %s", i, inner.text);
        if (r == -EEXIST)
                return diag_set(d, -EBADMSG, "JWKS: keys[%zu]: %s", i, inner.text);
        if (r < 0)
                return diag_set(d, r, "JWKS: keys[%zu]: %s", i, inner.text);
        return 0;
}

int jws_key_set_from_jwks(const char *text, size_t size, JwsKeySet **ret, Diag *d) {
        _cleanup_(jws_key_set_freep) JwsKeySet *s = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        json_object *keys;
        Diag skip = {};
        size_t n;
        int r;

        if (size > JWKS_MAX_SIZE)
                return diag_set(d, -E2BIG, "JWKS: %zu bytes, more than %u", size, JWKS_MAX_SIZE);
        r = json_parse_capped(text, size, JWKS_MAX_SIZE, JWKS_DEPTH, &doc);
        if (r < 0)
                return diag_set(d, -EBADMSG, "JWKS: not JSON (or nested deeper than %d)",
                                JWKS_DEPTH);
        if (!json_object_is_type(doc, json_type_object) ||
            !json_object_object_get_ex(doc, "keys", &keys) ||
            !json_object_is_type(keys, json_type_array))
                return diag_set(d, -EBADMSG, "JWKS: no \"keys\" array");
        n = json_object_array_length(keys);
        if (n > JWS_KEYS_MAX)
                return diag_set(d, -E2BIG, "JWKS: %zu keys, more than %u", n, JWS_KEYS_MAX);
        r = jws_key_set_new(&s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = jwks_add_key(s, json_object_array_get_idx(keys, i), i, &skip, d);
                if (r < 0)
                        return r;
        }
        if (s->n_keys == 0)
                return diag_set(d, -ENOKEY, "JWKS: no usable signing key%s%s%s",
                                skip.text[0] ? " (" : "", skip.text, skip.text[0] ? ")" : "");
        *ret = TAKE_PTR(s);
        return 0;
}

/* An "ENCRYPTED" PEM block would otherwise make OpenSSL prompt on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *userdata) {
        return -1;
}

int jws_key_set_from_pem(const uint8_t *buf, size_t size, const char *kid, JwsKeySet **ret,
                         Diag *d) {
        _cleanup_(jws_key_set_freep) JwsKeySet *s = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        int r;

        if (size > JWKS_MAX_SIZE)
                return diag_set(d, -E2BIG, "PEM: %zu bytes, more than %u", size, JWKS_MAX_SIZE);
        if (memmem(buf, size, "-----BEGIN CERTIFICATE-----", 27)) {
                if (x509_parse_bundle(buf, size, &certs) < 0)
                        return diag_set(d, -EBADMSG, "PEM: certificates that do not parse");
                pkey = X509_get_pubkey(sk_X509_value(certs, 0));
        } else {
                bio = BIO_new_mem_buf(buf, (int) size);
                if (!bio)
                        return -ENOMEM;
                pkey = PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
        }
        ERR_clear_error();
        if (!pkey)
                return diag_set(d, -EBADMSG, "PEM: no PUBLIC KEY or CERTIFICATE block that parses");
        r = jws_key_set_new(&s);
        if (r < 0)
                return r;
        r = key_set_add_full(s, pkey, kid, NULL, certs, d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

/* Verification. */

static bool alg_allowed(const char *alg, const char *const *allow) {
        if (!allow)
                return true; /* all of jws_algs */
        for (size_t i = 0; allow[i]; i++)
                if (streq(allow[i], alg))
                        return true;
        return false;
}

static int check_crit(const Jws *j, Diag *d) {
        json_object *crit;
        size_t n;
        char buf[72];

        if (!json_object_object_get_ex(j->header, "crit", &crit))
                return 0;
        /* RFC 7515 §4.1.11: a non-empty array of names, none of them registered ones. */
        if (!json_object_is_type(crit, json_type_array) ||
            (n = json_object_array_length(crit)) == 0)
                return diag_set(d, -EBADMSG, "JWS header: \"crit\" is not a non-empty array");
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(crit, i);
                const char *name;

                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "JWS header: crit[%zu] is not a string", i);
                name = json_object_get_string(v);
                for (size_t k = 0; k < ELEMENTSOF(registered_headers); k++)
                        if (streq(name, registered_headers[k]))
                                return diag_set(d, -EBADMSG, "JWS header: \"crit\" lists the "
                                                "registered header \"%s\"", name);
                if (!json_object_object_get_ex(j->header, name, NULL))
                        return diag_set(d, -EBADMSG, "JWS header: \"crit\" lists \"%s\", which "
                                        "is not in the header", printable(name, buf));
        }
        /* We implement no extension: whatever is critical, we do not understand. */
        return diag_set(d, -EPROTONOSUPPORT, "JWS header: critical extension \"%s\" is not "
                        "understood", printable(json_object_get_string(
                                               json_object_array_get_idx(crit, 0)), buf));
}

/* Selects candidate keys by kid and checks the signature. */
static int verify_signature(const Jws *j, const JwsAlg *a, const JwsKeySet *keys,
                            const JwsKey **ret_key, Diag *d) {
        const JwsKey *mismatch = NULL;
        bool exact = false, kidless = false;
        size_t n_tried = 0;
        char b1[72], b2[72];

        for (size_t i = 0; i < jws_key_set_size(keys); i++) {
                if (j->kid && streq_ptr(keys->keys[i].kid, j->kid))
                        exact = true;
                if (!keys->keys[i].kid)
                        kidless = true;
        }
        if (jws_key_set_size(keys) == 0)
                return diag_set(d, -ENOKEY, "no verification key");
        if (j->kid && !exact && !kidless)
                return diag_set(d, -ENOKEY, "no key with kid %s among %zu key%s",
                                printable(j->kid, b1), jws_key_set_size(keys),
                                jws_key_set_size(keys) == 1 ? "" : "s");

        for (size_t i = 0; i < jws_key_set_size(keys); i++) {
                const JwsKey *k = &keys->keys[i];
                int r;

                /* With a kid in the header: the key with that kid if the set has one, else the
                 * kid-less keys. Without: every key. */
                if (j->kid && (exact ? !streq_ptr(k->kid, j->kid) : k->kid != NULL))
                        continue;
                if (key_kind(k->pkey) != a->kind || (k->alg && !streq(k->alg, a->name))) {
                        if (!mismatch)
                                mismatch = k;
                        continue;
                }
                n_tried++;
                r = signature_check(a, k->pkey, j->signing_input, j->signing_input_size,
                                    j->signature, j->signature_size);
                if (r < 0)
                        return r;
                if (r > 0) {
                        if (ret_key)
                                *ret_key = k;
                        return 0;
                }
        }
        if (n_tried == 0 && mismatch) {
                KeyKind kk = key_kind(mismatch->pkey);
                if (mismatch->alg && !streq(mismatch->alg, a->name))
                        return diag_set(d, -EKEYREJECTED, "alg %s, but key %s is for %s only",
                                        a->name, printable(mismatch->kid, b1),
                                        printable(mismatch->alg, b2));
                return diag_set(d, -EKEYREJECTED, "alg %s needs an %s key, but key %s is %s",
                                a->name, key_kind_name[a->kind], printable(mismatch->kid, b1),
                                kk >= 0 ? key_kind_name[kk] : "another type");
        }
        if (n_tried == 1 && j->kid && exact)
                return diag_set(d, -EKEYREJECTED, "%s signature does not verify with key %s",
                                a->name, printable(j->kid, b1));
        return diag_set(d, -EKEYREJECTED, "%s signature does not verify with %s", a->name,
                        n_tried == 1 ? "the key" : "any key");
}

/* A NumericDate claim (RFC 7519 §2): integer or finite number of seconds. */
static int claim_time(json_object *claims, const char *name, bool *ret_has, int64_t *ret,
                      Diag *d) {
        json_object *v;
        double f;

        *ret_has = false;
        if (!json_object_object_get_ex(claims, name, &v))
                return 0;
        if (json_object_is_type(v, json_type_int)) {
                *ret = json_object_get_int64(v);
        } else if (json_object_is_type(v, json_type_double)) {
                f = json_object_get_double(v);
                if (!isfinite(f) || f < -9.2e18 || f > 9.2e18)
                        return diag_set(d, -EBADMSG, "JWT claim \"%s\" is out of range", name);
                /* Rounded down (no libm here): a fractional nbf of 1.5 is not valid at 1. */
                *ret = (int64_t) f;
                if ((double) *ret > f)
                        (*ret)--;
        } else
                return diag_set(d, -EBADMSG, "JWT claim \"%s\" is not a number", name);
        *ret_has = true;
        return 0;
}

static bool issuer_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);

        if (la > 0 && a[la - 1] == '/')
                la--;
        if (lb > 0 && b[lb - 1] == '/')
                lb--;
        return la == lb && memcmp(a, b, la) == 0;
}

static int64_t add_sat(int64_t a, int64_t b) {
        int64_t s;

        if (__builtin_add_overflow(a, b, &s))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return s;
}

static int check_claims(const Jws *j, const JwsVerifyOptions *o, Diag *d) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        bool has_nbf, has_exp, has_iat;
        int64_t nbf, exp, iat, lo, hi;
        const char *iss;
        char b1[72], b2[72], t1[32], t2[32];
        Diag inner = {};
        int r;

        r = jws_claims(j, &claims, &inner);
        if (r < 0) {
                if (o->allow_non_jwt && !o->issuer && !o->require_exp)
                        return 0; /* a plain JWS: no claims to check */
                return diag_set(d, r, "%s", inner.text);
        }
        if (optional_string(claims, "iss", &iss) < 0)
                return diag_set(d, -EBADMSG, "JWT claim \"iss\" is not a string");
        if (o->issuer && (!iss || !issuer_equal(iss, o->issuer)))
                return diag_set(d, -EXDEV, "issuer is %s, expected %s", printable(iss, b1),
                                printable(o->issuer, b2));

        r = claim_time(claims, "nbf", &has_nbf, &nbf, d);
        if (r >= 0)
                r = claim_time(claims, "exp", &has_exp, &exp, d);
        if (r >= 0)
                r = claim_time(claims, "iat", &has_iat, &iat, d);
        if (r < 0)
                return r;
        if (o->require_exp && !has_exp)
                return diag_set(d, -EBADMSG, "JWT has no \"exp\" claim");
        lo = add_sat(o->now, -(int64_t) o->leeway);
        hi = add_sat(o->now, (int64_t) o->leeway);
        format_rfc3339((time_t) o->now, t2, sizeof(t2));
        if (has_nbf && nbf > hi) {
                format_rfc3339((time_t) nbf, t1, sizeof(t1));
                return diag_set(d, -EKEYEXPIRED, "token not valid before %s (nbf), now %s", t1,
                                t2);
        }
        if (has_exp && lo >= exp) {
                format_rfc3339((time_t) exp, t1, sizeof(t1));
                return diag_set(d, -EKEYEXPIRED, "token expired at %s (exp), now %s", t1, t2);
        }
        if (has_iat && iat > hi) {
                format_rfc3339((time_t) iat, t1, sizeof(t1));
                return diag_set(d, -EKEYEXPIRED, "token issued in the future, at %s (iat), "
                                "now %s", t1, t2);
        }
        return 0;
}

int jws_verify_key(const Jws *j, const JwsKeySet *keys, const JwsVerifyOptions *o,
                   const JwsKey **ret_key, Diag *d) {
        const JwsKey *k = NULL;
        const JwsAlg *a;
        char buf[72];
        int r;

        if (!j || !o)
                return -EINVAL;
        /* Never trust a key the token brings along (jwk, jku, x5c, x5u): only those in keys. */
        a = alg_find(j->alg);
        if (streq(j->alg, "none"))
                return diag_set(d, -EKEYREJECTED, "alg \"none\" (an unsigned token) is never "
                                "accepted");
        if (!a)
                return diag_set(d, -EKEYREJECTED, "alg %s is not accepted (only RS256, PS256, "
                                "ES256, ES384; never HMAC)", printable(j->alg, buf));
        if (!alg_allowed(a->name, o->algs))
                return diag_set(d, -EKEYREJECTED, "alg %s is not in the allowed list", a->name);
        r = check_crit(j, d);
        if (r < 0)
                return r;
        r = verify_signature(j, a, keys, &k, d);
        if (r < 0)
                return r;
        r = check_claims(j, o, d);
        if (r < 0)
                return r;
        if (ret_key)
                *ret_key = k;
        return 0;
}

int jws_verify(const Jws *j, const JwsKeySet *keys, const JwsVerifyOptions *o, Diag *d) {
        return jws_verify_key(j, keys, o, NULL, d);
}

/* Signing. */

int jws_header_maa(const char *alg, const char *jku, const char *kid, json_object **ret) {
        _cleanup_(json_object_putp) json_object *h = json_object_new_object();

        if (!h || json_add_string(h, "alg", alg ?: "RS256") < 0 ||
            (jku && json_add_string(h, "jku", jku) < 0) ||
            (kid && json_add_string(h, "kid", kid) < 0) || json_add_string(h, "typ", "JWT") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(h);
        return 0;
}

/* ECDSA's DER signature as JWS's R || S, each padded to size bytes. */
static int ecdsa_der_to_raw(const uint8_t *der, size_t der_size, size_t size, uint8_t *out) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
        const unsigned char *p = der;
        const BIGNUM *r, *s;

        es = d2i_ECDSA_SIG(NULL, &p, (long) der_size);
        if (!es)
                return -EINVAL;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2binpad(r, out, (int) size) < 0 || BN_bn2binpad(s, out + size, (int) size) < 0)
                return -EINVAL;
        return 0;
}

int jws_sign(const char *alg, EVP_PKEY *key, const char *kid, const char *jku,
             json_object *extra_header, const uint8_t *payload, size_t payload_size,
             char **ret_compact) {
        _cleanup_(json_object_putp) json_object *h = NULL;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        _cleanup_(freep) char *h64 = NULL, *p64 = NULL, *s64 = NULL, *out = NULL;
        _cleanup_(freep) uint8_t *sig = NULL, *raw = NULL;
        const JwsAlg *a;
        const char *htext;
        size_t hn, pn, sn, sig_size = 0, n;
        int r;

        if (!key || !ret_compact || (!payload && payload_size > 0))
                return -EINVAL;
        a = alg_find(alg ?: "RS256");
        if (!a)
                return -EPROTONOSUPPORT;
        if (key_kind(key) != a->kind)
                return -EINVAL;
        r = jws_header_maa(a->name, jku, kid, &h);
        if (r < 0)
                return r;
        if (extra_header) {
                if (!json_object_is_type(extra_header, json_type_object))
                        return -EINVAL;
                json_object_object_foreach(extra_header, name, value) {
                        if (streq(name, "alg") || streq(name, "kid") || streq(name, "jku"))
                                return -EINVAL;
                        if (json_object_object_add(h, name, json_object_get(value)) < 0) {
                                json_object_put(value);
                                return -ENOMEM;
                        }
                }
        }
        /* MAA writes "/" unescaped ("kid": "J0p.../fLe..."): so do we. */
        htext = json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!htext)
                return -ENOMEM;
        r = base64url_encode(htext, strlen(htext), &h64);
        if (r >= 0)
                r = base64url_encode(payload ?: (const uint8_t *) "", payload_size, &p64);
        if (r < 0)
                return r;
        hn = strlen(h64), pn = strlen(p64);
        out = malloc(hn + 1 + pn + 1);
        if (!out)
                return -ENOMEM;
        memcpy(out, h64, hn);
        out[hn] = '.';
        memcpy(out + hn + 1, p64, pn);
        out[hn + 1 + pn] = '\0';

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        /* The key fits the alg (checked above): a failure here is a public key or a broken
         * one. */
        if (digest_init(ctx, a, key, true) < 0 ||
            EVP_DigestSign(ctx, NULL, &sig_size, (const uint8_t *) out, hn + 1 + pn) <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        sig = malloc(sig_size);
        if (!sig)
                return -ENOMEM;
        if (EVP_DigestSign(ctx, sig, &sig_size, (const uint8_t *) out, hn + 1 + pn) <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        if (a->kind != KEY_RSA) {
                raw = malloc(2 * a->ec_size);
                if (!raw)
                        return -ENOMEM;
                r = ecdsa_der_to_raw(sig, sig_size, a->ec_size, raw);
                if (r < 0)
                        return r;
                free(sig);
                sig = TAKE_PTR(raw);
                sig_size = 2 * a->ec_size;
        }
        r = base64url_encode(sig, sig_size, &s64);
        if (r < 0)
                return r;
        sn = strlen(s64);
        n = hn + 1 + pn + 1 + sn + 1;
        {
                char *grown = realloc(out, n);
                if (!grown)
                        return -ENOMEM;
                out = grown;
        }
        out[hn + 1 + pn] = '.';
        memcpy(out + hn + 1 + pn + 1, s64, sn + 1);
        *ret_compact = TAKE_PTR(out);
        return 0;
}
