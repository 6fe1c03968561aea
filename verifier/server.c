/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] cvm-verifier serve: an MAA-compatible attestation service over libmicrohttpd.
 *
 * This is the development mode (`serve --dev`, in the manner of `vault server -dev`): plain HTTP
 * on loopback only, an ephemeral RS256 signing key, one tenant whose issuer is the listen URL, the
 * default policy (permit SEV-SNP guests that are not debuggable and whose evidence verified), and
 * extra trusted roots only from --trust-root. Endpoints: GET /health, GET /metrics,
 * GET /.well-known/openid-configuration, GET /certs, GET /nonce, POST /attest/SevSnpVm, and
 * POST /attest/AzureGuest (the token sealed to the evidence's TPM ephemeral key).
 */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <arpa/inet.h>
#include <pthread.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <systemd/sd-daemon.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/jwk.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/maa-policy.h"
#include "verifier/nonce-store.h"
#include "verifier/server.h"

#define BODY_MAX APPRAISE_BODY_MAX
#define TOKEN_LIFETIME_SEC (8 * 3600) /* MAA's: exp - iat = 28800 in every sample */
#define CONNECTION_TIMEOUT_SEC 10
#define NONCE_LIFETIME_USEC (UINT64_C(300) * 1000000) /* five minutes */

typedef struct Server {
        struct MHD_Daemon *mhd;
        pthread_mutex_t nonce_lock;
        NonceStore nonces;
        bool require_nonce;
        MaaPolicy *policy, *policy_azureguest;
        char *policy_hash, *policy_azureguest_hash;
        SnpTrust *trust;
        EVP_PKEY *key;
        char *x5c; /* the signing certificate, standard base64 DER, for the JWKS */
        char kid[64];
        char issuer[128];
        atomic_ulong requests, tokens, denied, rejected, malformed;
} Server;

typedef struct Request {
        char *body;
        size_t size;
        bool too_big;
} Request;

static int respond(struct MHD_Connection *c, unsigned status, const char *content_type,
                   const char *body, const char *error_code) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *) body,
                                                                 MHD_RESPMEM_MUST_COPY);
        int k;

        if (!r)
                return MHD_NO;
        (void) MHD_add_response_header(r, "Content-Type", content_type);
        if (error_code)
                (void) MHD_add_response_header(r, "x-ms-error-code", error_code);
        k = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return k;
}

static int respond_json(struct MHD_Connection *c, unsigned status, json_object *o) {
        return respond(c, status, "application/json",
                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), NULL);
}

/* MAA's error envelope: {"error": {"code", "message"}} and the x-ms-error-code header. */
static int respond_error(struct MHD_Connection *c, unsigned status, const char *code,
                         const char *message) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(),
                                                *e = json_object_new_object();

        if (!o || !e || json_add_string(e, "code", code) < 0 ||
            json_add_string(e, "message", message) < 0 || json_add(o, "error", json_object_get(e)) < 0)
                return MHD_NO;
        return respond(c, status, "application/json",
                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), code);
}

static int handle_openid(Server *s, struct MHD_Connection *c) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *arr;
        char url[192];

        (void) snprintf(url, sizeof(url), "%s/certs", s->issuer);
        if (!o || json_add_string(o, "issuer", s->issuer) < 0 ||
            json_add_string(o, "jwks_uri", url) < 0)
                return MHD_NO;
        arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("RS256"));
        json_add(o, "id_token_signing_alg_values_supported", arr);
        arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("token"));
        json_add(o, "response_types_supported", arr);
        arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("public"));
        json_add(o, "subject_types_supported", arr);
        return respond_json(c, MHD_HTTP_OK, o);
}

static int handle_certs(Server *s, struct MHD_Connection *c) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *keys = json_object_new_array(), *jwk = NULL;

        json_object *x5c = json_object_new_array();

        if (!o || !x5c || json_add(o, "keys", keys) < 0 || jwk_from_pkey(s->key, s->kid, &jwk) < 0 ||
            json_add_string(jwk, "use", "sig") < 0 || json_add_string(jwk, "alg", "RS256") < 0 ||
            json_object_array_add(x5c, json_object_new_string(s->x5c)) < 0 ||
            json_add(jwk, "x5c", x5c) < 0 || json_object_array_add(keys, jwk) < 0)
                return MHD_NO;
        return respond_json(c, MHD_HTTP_OK, o);
}

static int handle_metrics(Server *s, struct MHD_Connection *c) {
        char buf[1024];

        (void) snprintf(buf, sizeof(buf),
                        "# HELP cvm_verifier_requests_total HTTP requests.\n"
                        "# TYPE cvm_verifier_requests_total counter\n"
                        "cvm_verifier_requests_total %lu\n"
                        "# HELP cvm_verifier_verdicts_total Attestation verdicts by reason.\n"
                        "# TYPE cvm_verifier_verdicts_total counter\n"
                        "cvm_verifier_verdicts_total{verdict=\"token\"} %lu\n"
                        "cvm_verifier_verdicts_total{verdict=\"policy_denied\"} %lu\n"
                        "cvm_verifier_verdicts_total{verdict=\"verification_failed\"} %lu\n"
                        "cvm_verifier_verdicts_total{verdict=\"malformed\"} %lu\n",
                        atomic_load(&s->requests), atomic_load(&s->tokens), atomic_load(&s->denied),
                        atomic_load(&s->rejected), atomic_load(&s->malformed));
        return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, NULL);
}

/* The development tenant's default policy, in MAA's policy language: SEV-SNP guests that are not
 * debuggable (the chain and the signature verified before any policy runs). */
static const char dev_policy[] =
        "version=1.2;\n"
        "authorizationrules {\n"
        "    c:[type==\"x-ms-attestation-type\", value==\"sevsnpvm\"] &&\n"
        "    d:[type==\"x-ms-sevsnpvm-is-debuggable\", value==false] => permit();\n"
        "};\n"
        "issuancerules {\n"
        "    c:[type==\"x-ms-sevsnpvm-is-debuggable\"] => issue(type=\"is-debuggable\", value=c.value);\n"
        "};\n";

/* The development tenant's AzureGuest policy: the evidence verified as a whole (quote, PCRs, event
 * log, certified key, SNP chain and binding when there is one); permit what is an azurevm. */
static const char dev_policy_azureguest[] =
        "version=1.2;\n"
        "authorizationrules {\n"
        "    c:[type==\"x-ms-attestation-type\", value==\"azurevm\"] => permit();\n"
        "};\n";

static int issue_token(Server *s, json_object *claims, char **ret) {
        uint8_t jti[32];
        char jti_hex[65];
        time_t now = time(NULL);
        const char *payload;

        if (RAND_bytes(jti, sizeof(jti)) != 1)
                return -EIO;
        hex_encode_buf(jti, sizeof(jti), jti_hex);
        if (json_add_string(claims, "iss", s->issuer) < 0 ||
            json_add_int(claims, "iat", now) < 0 || json_add_int(claims, "nbf", now) < 0 ||
            json_add_int(claims, "exp", now + TOKEN_LIFETIME_SEC) < 0 ||
            json_add_string(claims, "jti", jti_hex) < 0)
                return -ENOMEM;
        payload = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        {
                char jku[192];
                (void) snprintf(jku, sizeof(jku), "%s/certs", s->issuer);
                return jws_sign("RS256", s->key, s->kid, jku, NULL, (const uint8_t *) payload,
                                strlen(payload), ret);
        }
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* GET /nonce: a random, single-use nonce, live for five minutes. */
static int handle_nonce(Server *s, struct MHD_Connection *c) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        uint8_t random[NONCE_BYTES];
        char text[NONCE_TEXT_SIZE];

        if (!o || RAND_bytes(random, sizeof(random)) != 1)
                return MHD_NO;
        pthread_mutex_lock(&s->nonce_lock);
        nonce_store_issue(&s->nonces, random, now_usec(), text);
        pthread_mutex_unlock(&s->nonce_lock);
        if (json_add_string(o, "nonce", text) < 0 ||
            json_add_int(o, "expires_in", NONCE_LIFETIME_USEC / 1000000) < 0)
                return MHD_NO;
        return respond_json(c, MHD_HTTP_OK, o);
}

/*
 * The sealed AzureGuest response (azure-cvm.md §6.2): the JWT encrypted with AES-256-GCM (AAD
 * "Transport Key") under a fresh key that is RSA-encrypted (RSAES-PKCS1-v1_5) to the evidence's
 * TpmEphemeralEncryptionKey, so only the attested VM's TPM can read its token.
 */
static int seal_token(json_object *claims, const char *token, char **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *p = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ek = NULL;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx = NULL;
        _cleanup_(freep) uint8_t *ct = NULL, *wrapped = NULL;
        _cleanup_(freep) char *s_key = NULL, *s_iv = NULL, *s_tag = NULL, *s_ct = NULL;
        EVP_CIPHER_CTX *cctx = NULL;
        uint8_t key[32], iv[12], tag[16];
        size_t n = strlen(token), wrapped_size = 0;
        json_object *rt, *keys;
        int len, fin, r = -ENOMEM;

        CLEANUP_ERASE(key);
        if (!json_object_object_get_ex(claims, "x-ms-runtime", &rt) ||
            !json_object_object_get_ex(rt, "keys", &keys) || json_object_array_length(keys) == 0 ||
            jwk_to_pkey(json_object_array_get_idx(keys, 0), &ek, NULL) < 0)
                return -ENOKEY;
        if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1)
                return -EIO;
        ct = malloc(n + 16);
        cctx = EVP_CIPHER_CTX_new();
        if (!ct || !cctx)
                goto out;
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
            EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, sizeof(iv), NULL) != 1 ||
            EVP_EncryptInit_ex(cctx, NULL, NULL, key, iv) != 1 ||
            EVP_EncryptUpdate(cctx, NULL, &len, (const uint8_t *) "Transport Key", 13) != 1 ||
            EVP_EncryptUpdate(cctx, ct, &len, (const uint8_t *) token, (int) n) != 1 ||
            EVP_EncryptFinal_ex(cctx, ct + len, &fin) != 1 ||
            EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag) != 1)
                goto out;
        pctx = EVP_PKEY_CTX_new(ek, NULL);
        if (!pctx || EVP_PKEY_encrypt_init(pctx) <= 0 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0 ||
            EVP_PKEY_encrypt(pctx, NULL, &wrapped_size, key, sizeof(key)) <= 0 ||
            !(wrapped = malloc(wrapped_size)) ||
            EVP_PKEY_encrypt(pctx, wrapped, &wrapped_size, key, sizeof(key)) <= 0)
                goto out;
        p = json_object_new_object();
        if (!o || !p || base64url_encode(wrapped, wrapped_size, &s_key) < 0 ||
            base64url_encode(iv, sizeof(iv), &s_iv) < 0 ||
            base64url_encode(tag, sizeof(tag), &s_tag) < 0 ||
            base64url_encode(ct, (size_t) (len + fin), &s_ct) < 0 ||
            json_add_string(o, "EncryptedInnerKey", s_key) < 0 ||
            json_add_string(p, "Iv", s_iv) < 0 || json_add_string(p, "Cipher", "AES") < 0 ||
            json_add_string(p, "BlockMode", "ChainingModeGCM") < 0 ||
            json_add_int(p, "KeySizeInBits", 256) < 0 ||
            json_add(o, "EncryptionParams", json_object_get(p)) < 0 ||
            json_add_string(o, "AuthenticationData", s_tag) < 0 ||
            json_add_string(o, "Jwt", s_ct) < 0)
                goto out;
        {
                const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
                r = base64url_encode(text, strlen(text), ret);
        }
out:
        EVP_CIPHER_CTX_free(cctx);
        return r;
}

static int handle_attest(Server *s, struct MHD_Connection *c, Request *req, bool azureguest) {
        _cleanup_(json_object_putp) json_object *claims = NULL, *o = NULL;
        _cleanup_(freep) char *token = NULL;
        char bound_nonce[APPRAISE_NONCE_MAX] = "";
        AppraiseContext ctx = { .trust = s->trust, .now = time(NULL), .bound_nonce = bound_nonce };
        const char *what = azureguest ? "AzureGuest" : "SevSnpVm";
        MaaVerdict verdict = {};
        Diag d = {};
        int r;

        r = (azureguest ? appraise_azureguest : appraise_sevsnpvm)(&ctx, req->body ?: "", req->size,
                                                                   &claims, &d);
        if (r == -ENOMEM || r == -EIO) {
                log_error_errno(r, "%s: internal error: %m", what);
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
                                     "internal error");
        }
        if (r < 0) {
                bool malformed = r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT;
                atomic_fetch_add(malformed ? &s->malformed : &s->rejected, 1);
                log_info("%s evidence rejected: %s", what, diag_text(&d, strerror(-r)));
                return respond_error(c, MHD_HTTP_BAD_REQUEST,
                                     malformed ? "InvalidParameter" : "InvalidEvidence",
                                     diag_text(&d, strerror(-r)));
        }
        if (s->require_nonce) {
                bool live;

                /* Only a nonce the signed evidence carries counts (runtime data under
                 * REPORT_DATA, or the quote's extraData): a nonce beside the evidence in the
                 * request would let old evidence be replayed with a fresh one. */
                pthread_mutex_lock(&s->nonce_lock);
                live = bound_nonce[0] && nonce_store_consume(&s->nonces, bound_nonce, now_usec());
                pthread_mutex_unlock(&s->nonce_lock);
                if (!live) {
                        atomic_fetch_add(&s->rejected, 1);
                        log_info("%s evidence rejected: no live nonce", what);
                        return respond_error(c, MHD_HTTP_BAD_REQUEST, "InvalidNonce",
                                             "the evidence does not carry a live nonce from GET "
                                             "/nonce in its signed data (runtime data \"nonce\", "
                                             "or the quote's extraData): unknown, used before, "
                                             "expired, or not bound");
                }
        }
        r = maa_policy_evaluate(azureguest ? s->policy_azureguest : s->policy, claims, now_usec(),
                                &verdict, &d);
        if (r < 0 || !verdict.permitted) {
                char reason[600];

                (void) snprintf(reason, sizeof(reason), "policy: %s",
                                r < 0 ? diag_text(&d, strerror(-r)) : verdict.reason);
                maa_verdict_done(&verdict);
                atomic_fetch_add(&s->denied, 1);
                log_info("%s evidence denied: %s", what, reason);
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "PolicyEvaluationError", reason);
        }
        /* The policy's issued claims join the service's; they never replace them. */
        {
                json_object_object_foreach(verdict.claims, key, val)
                        if (!json_object_object_get_ex(claims, key, NULL) &&
                            json_add(claims, key, json_object_get(val)) < 0) {
                                maa_verdict_done(&verdict);
                                return MHD_NO;
                        }
        }
        maa_verdict_done(&verdict);
        if (json_add_string(claims, "x-ms-policy-hash",
                            azureguest ? s->policy_azureguest_hash : s->policy_hash) < 0)
                return MHD_NO;
        r = issue_token(s, claims, &token);
        if (r < 0)
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
                                     "cannot sign the token");
        if (azureguest) {
                char *sealed = NULL;

                r = seal_token(claims, token, &sealed);
                if (r < 0) {
                        atomic_fetch_add(&s->rejected, 1);
                        return respond_error(c, MHD_HTTP_BAD_REQUEST, "InvalidEvidence",
                                             r == -ENOKEY ? "the evidence carries no "
                                             "TpmEphemeralEncryptionKey to seal the token to"
                                                          : "cannot seal the token");
                }
                free(token);
                token = sealed;
        }
        atomic_fetch_add(&s->tokens, 1);
        o = json_object_new_object();
        if (!o || json_add_string(o, "token", token) < 0)
                return MHD_NO;
        return respond_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
        Server *s = cls;
        Request *req = *con_cls;

        if (!req) {
                req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                atomic_fetch_add(&s->requests, 1);
                return MHD_YES;
        }
        if (*upload_size > 0) {
                /* Cap the body before anything parses it. */
                if (!req->too_big && req->size + *upload_size <= BODY_MAX) {
                        char *nb = realloc(req->body, req->size + *upload_size + 1);
                        if (!nb)
                                return MHD_NO;
                        req->body = nb;
                        memcpy(req->body + req->size, upload, *upload_size);
                        req->size += *upload_size;
                        req->body[req->size] = '\0';
                } else
                        req->too_big = true;
                *upload_size = 0;
                return MHD_YES;
        }
        if (req->too_big) {
                atomic_fetch_add(&s->malformed, 1);
                return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "RequestTooLarge",
                                     "request body larger than 1 MiB");
        }
        if (streq(method, "GET")) {
                if (streq(url, "/health"))
                        return respond(c, MHD_HTTP_OK, "application/json", "{\"status\":\"ok\"}", NULL);
                if (streq(url, "/metrics"))
                        return handle_metrics(s, c);
                if (streq(url, "/.well-known/openid-configuration"))
                        return handle_openid(s, c);
                if (streq(url, "/certs"))
                        return handle_certs(s, c);
                if (streq(url, "/nonce"))
                        return handle_nonce(s, c);
        } else if (streq(method, "POST")) {
                if (streq(url, "/attest/SevSnpVm"))
                        return handle_attest(s, c, req, false);
                if (streq(url, "/attest/AzureGuest"))
                        return handle_attest(s, c, req, true);
        }
        return respond_error(c, MHD_HTTP_NOT_FOUND, "NotFound", "no such endpoint");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
        Request *req = *con_cls;

        if (req) {
                free(req->body);
                free(req);
                *con_cls = NULL;
        }
}

/* A self-signed certificate for the signing key, published as the JWK's x5c as MAA does (its
 * TEE attestation extension comes with the non-development mode). */
static int make_certificate(Server *s) {
        _cleanup_(X509_freep) X509 *x = X509_new();
        X509_NAME *name;
        unsigned char *der = NULL;
        int n;

        if (!x || !X509_set_version(x, 2) ||
            !ASN1_INTEGER_set(X509_get_serialNumber(x), (long) time(NULL)) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) ||
            !X509_set_pubkey(x, s->key))
                return -ENOMEM;
        name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *) "cvm-verifier development signing key",
                                        -1, -1, 0) ||
            !X509_set_issuer_name(x, name) || X509_sign(x, s->key, EVP_sha256()) <= 0)
                return -ENOMEM;
        n = i2d_X509(x, &der);
        if (n <= 0)
                return -ENOMEM;
        s->x5c = malloc(4 * ((size_t) n + 2) / 3 + 1);
        if (!s->x5c) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        (void) EVP_EncodeBlock((unsigned char *) s->x5c, der, n);
        OPENSSL_free(der);
        return 0;
}

static int make_key(Server *s) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
        _cleanup_(freep) char *kid = NULL;
        int n;

        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0 ||
            EVP_PKEY_keygen(ctx, &s->key) <= 0)
                return -ENOMEM;
        /* kid: base64url SHA-256 of the SubjectPublicKeyInfo. */
        n = i2d_PUBKEY(s->key, &der);
        if (n <= 0 || !SHA256(der, (size_t) n, md) || base64url_encode(md, sizeof(md), &kid) < 0) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        OPENSSL_free(der);
        (void) snprintf(s->kid, sizeof(s->kid), "%s", kid);
        return make_certificate(s);
}

static void help(void) {
        printf("Usage: cvm-verifier serve --dev [--listen 127.0.0.1:PORT] [--trust-root FILE]...\n"
               "                            [--require-nonce] [--policy FILE]\n"
               "\n"
               "Runs the attestation service in development mode: plain HTTP on loopback only, an\n"
               "ephemeral signing key, the issuer is the listen URL, a default policy (SEV-SNP\n"
               "guests that are not debuggable), extra roots only from --trust-root. Prints the\n"
               "URL on stdout when ready; stops on SIGTERM or SIGINT. With --require-nonce, evidence\n"
               "must carry a nonce from GET /nonce (single use, five minutes). --policy replaces the\n"
               "default policy with one in MAA's policy language (compiled at start).\n");
}

int serve_main(int argc, char **argv) {
        enum { ARG_DEV = 0x100, ARG_LISTEN, ARG_TRUST_ROOT, ARG_REQUIRE_NONCE, ARG_POLICY };
        static const struct option options[] = {
                { "policy", required_argument, NULL, ARG_POLICY },
                { "dev", no_argument, NULL, ARG_DEV },
                { "require-nonce", no_argument, NULL, ARG_REQUIRE_NONCE },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "trust-root", required_argument, NULL, ARG_TRUST_ROOT },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        static Server s;
        const char *listen = "127.0.0.1:0", *policy_path = NULL;
        _cleanup_(freep) uint8_t *policy_text = NULL;
        size_t policy_size;
        const char *roots[16];
        size_t n_roots = 0;
        struct sockaddr_in addr = { .sin_family = AF_INET };
        const union MHD_DaemonInfo *info;
        bool dev = false;
        uint32_t port;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        sigset_t set;
        int c, r, sig;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_DEV:
                        dev = true;
                        break;
                case ARG_LISTEN:
                        listen = optarg;
                        break;
                case ARG_REQUIRE_NONCE:
                        s.require_nonce = true;
                        break;
                case ARG_POLICY:
                        policy_path = optarg;
                        break;
                case ARG_TRUST_ROOT:
                        if (n_roots >= ELEMENTSOF(roots))
                                return log_error("--trust-root: at most 16"), EXIT_USAGE;
                        roots[n_roots++] = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (!dev) {
                log_error("serve: only --dev exists so far (plain HTTP on loopback, ephemeral key)");
                return EXIT_USAGE;
        }
        {
                const char *colon = strrchr(listen, ':');
                char host[64];

                if (!colon || (size_t) (colon - listen) >= sizeof(host) ||
                    safe_atou32(colon + 1, &port) < 0 || port > 65535) {
                        log_error("--listen: '%s' is not HOST:PORT", listen);
                        return EXIT_USAGE;
                }
                memcpy(host, listen, (size_t) (colon - listen));
                host[colon - listen] = '\0';
                if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
                    (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
                        log_error("--listen: development mode listens on loopback (127.0.0.0/8) only");
                        return EXIT_USAGE;
                }
                addr.sin_port = htons((uint16_t) port);
        }

        pthread_mutex_init(&s.nonce_lock, NULL);
        nonce_store_init(&s.nonces, NONCE_LIFETIME_USEC);
        r = snp_trust_new(true, &s.trust);
        if (r < 0)
                return log_error_errno(r, "Cannot load AMD's roots: %m"), EXIT_INTERNAL;
        for (size_t i = 0; i < n_roots; i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t size;
                Diag d = {};

                r = read_full_file(roots[i], CERT_BUNDLE_MAX, &buf, &size);
                if (r < 0)
                        return log_error_errno(r, "Cannot read %s: %m", roots[i]), EXIT_USAGE;
                r = snp_trust_add(s.trust, buf, size, &d);
                if (r < 0)
                        return log_error("--trust-root %s: %s", roots[i], d.text), EXIT_MALFORMED;
        }
        /* The policy is compiled once, here, not per request. */
        if (policy_path) {
                r = read_full_file(policy_path, 64 * 1024, &policy_text, &policy_size);
                if (r < 0)
                        return log_error_errno(r, "Cannot read %s: %m", policy_path), EXIT_USAGE;
        } else {
                policy_text = (uint8_t *) strdup(dev_policy);
                if (!policy_text)
                        return EXIT_INTERNAL;
                policy_size = strlen(dev_policy);
        }
        {
                Diag d = {};
                r = maa_policy_compile((const char *) policy_text, policy_size, &s.policy, &d);
                if (r < 0)
                        return log_error("Policy %s: %s", policy_path ?: "(default)",
                                         diag_text(&d, strerror(-r))), EXIT_MALFORMED;
                r = maa_policy_hash((const char *) policy_text, policy_size, &s.policy_hash);
                if (r >= 0)
                        r = maa_policy_compile(dev_policy_azureguest, strlen(dev_policy_azureguest),
                                               &s.policy_azureguest, &d);
                if (r >= 0)
                        r = maa_policy_hash(dev_policy_azureguest, strlen(dev_policy_azureguest),
                                            &s.policy_azureguest_hash);
                if (r < 0)
                        return EXIT_INTERNAL;
        }
        if (make_key(&s) < 0)
                return log_error("Cannot make the signing key"), EXIT_INTERNAL;

        /* Signals are taken by sigwait() below, not by handlers; block them for MHD's threads. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        s.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, handler, &s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned) (cpus > 0 ? cpus : 1),
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT_SEC,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 64 * 1024,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                 MHD_OPTION_END);
        if (!s.mhd)
                return log_error("Cannot listen on %s", listen), EXIT_UNAVAILABLE;
        info = MHD_get_daemon_info(s.mhd, MHD_DAEMON_INFO_BIND_PORT);
        port = info ? info->port : port;
        {
                char ip[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
                (void) snprintf(s.issuer, sizeof(s.issuer), "http://%s:%u", ip, port);
        }
        log_warning("DEVELOPMENT MODE: plain HTTP, an ephemeral signing key, a permissive "
                    "default policy%s. Never use this to release real keys.",
                    n_roots ? ", and extra trusted roots" : "");
        printf("%s\n", s.issuer);
        fflush(stdout);
        (void) sd_notify(0, "READY=1");

        (void) sigwait(&set, &sig);
        (void) sd_notify(0, "STOPPING=1");
        MHD_stop_daemon(s.mhd);
        snp_trust_free(s.trust);
        EVP_PKEY_free(s.key);
        free(s.x5c);
        maa_policy_free(s.policy);
        maa_policy_free(s.policy_azureguest);
        free(s.policy_hash);
        free(s.policy_azureguest_hash);
        log_info("Stopped (signal %d): %lu requests, %lu tokens", sig, atomic_load(&s.requests),
                 atomic_load(&s.tokens));
        return EXIT_OK;
}
