/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] cvm-verifier serve: an MAA-compatible attestation service over libmicrohttpd.
 *
 * Two ways to run it. `serve --config FILE`: the service as configured (verifier/cvm-verifier.conf
 * documents every key): listen addresses with TLS (or plain HTTP on loopback), signing keys from
 * files or systemd credentials with rotation, tenants with their own policies, issuers and
 * policy management. `serve --dev`, in the manner of `vault server -dev`: plain HTTP on loopback
 * only, an ephemeral RS256 signing key, one tenant whose issuer is the listen URL, the default
 * policies, extra trusted roots only from --trust-root, and policy management without
 * credentials.
 *
 * Tenants are chosen by URL path prefix (the tenant's Path=, "" for the root tenant): the tenant
 * at /t/contoso serves /t/contoso/attest/SevSnpVm, /t/contoso/certs, and so on, and its issuer is
 * PublicURL + Path unless Issuer= says otherwise. The longest matching prefix wins; /health and
 * /metrics are the service's own.
 *
 * Endpoints of a tenant: GET .well-known/openid-configuration, certs, nonce, policies/{type};
 * PUT policies/{type}; POST policies/{type}:reset, attest/SevSnpVm, attest/AzureGuest (the token
 * sealed to the evidence's TPM ephemeral key), and credential (this service's own, for trusted
 * launch: a credential for the AK encrypted to the certified EK; the quote that carries its
 * secret as nonce proves the AK lives in that TPM).
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <systemd/sd-daemon.h>

#include "common/codec.h"
#include "common/conf.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/jwk.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/secret-file.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "snp/snp-report.h"
#include "snp/snp-source.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/appraise-cache.h"
#include "verifier/config.h"
#include "verifier/endorsement-cache.h"
#include "common/issuer-keys.h"
#include "verifier/key-release.h"
#include "verifier/kds.h"
#include "verifier/keyring.h"
#include "verifier/master-key.h"
#include "verifier/maa-policy.h"
#include "verifier/nonce-store.h"
#include "verifier/policy-upload.h"
#include "verifier/reference.h"
#include "verifier/release-policy.h"
#include "verifier/server.h"
#include "verifier/tee-cert.h"
#include "vtpm/credential.h"
#include "keyrelease/key-store.h"
#include "common/secret.h"

#define BODY_MAX APPRAISE_BODY_MAX
#define NONCE_LIFETIME_USEC (UINT64_C(300) * 1000000) /* five minutes */
#define SECRET_FILE_MAX (64u * 1024u)
#define URL_MAX 256
/* Per connection, for headers and the read buffer: large enough that an AzureGuest body (about
 * 100 KiB with an event log) arrives in a few reads, not dozens interleaved with other
 * connections' work. Bodies themselves are kept outside it (Request.body, capped at BODY_MAX). */
#define CONNECTION_MEMORY ((size_t) 256 * 1024)

/* Latency histogram bounds (milliseconds) for /metrics. */
static const unsigned latency_bounds_ms[] = { 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000 };
#define N_BUCKETS (ELEMENTSOF(latency_bounds_ms) + 1)

typedef struct TenantPolicy {
        MaaPolicy *compiled;
        char *text;
        size_t size;
        char *hash;          /* x-ms-policy-hash */
        char *jws;           /* the policy as a JWS (as uploaded; unsigned for defaults) */
        json_object *signer; /* x-ms-policy-signer JWK, or NULL */
        bool is_default;
} TenantPolicy;

typedef struct Tenant {
        char name[65];
        char path[72];        /* URL prefix, "" for the root tenant */
        char issuer[URL_MAX];
        bool isolated, require_nonce;
        bool open_management; /* development mode: no credential for policy management */
        STACK_OF(X509) *policy_certs;
        uint8_t admin_hash[SHA256_DIGEST_LENGTH];
        bool has_admin;
        char *state_dir;      /* where uploaded policies are kept; NULL: not kept */
        ReferenceValues *reference; /* for x-ms-compliance-status; NULL: none */
        pthread_rwlock_t lock; /* guards policy[] */
        TenantPolicy policy[_POLICY_TYPE_MAX];
        TenantPolicy defaults[_POLICY_TYPE_MAX];
} Tenant;

typedef struct Server {
        struct MHD_Daemon *mhd[VCONF_LISTEN_MAX];
        size_t n_mhd;
        bool dev;
        pthread_mutex_t nonce_lock;
        NonceStore nonces;
        SnpTrust *trust;
        X509_STORE *ak_ca, *ek_ca;
        Kds *kds;                 /* VCEKs and CRLs the evidence does not carry; NULL in --dev */
        EndorsementCache *endorsements; /* verified SNP chains, by their bytes */
        FactCache *facts;               /* AK certificates seen with their AKs */
        KeyCache *key_cache;            /* AKs and encryption keys by their bytes */
        bool check_revocation;
        pthread_rwlock_t keys_lock; /* guards keys */
        KeyRing keys;
        bool ephemeral;
        int tee;              /* TEEAttestation=: -1 auto, 0 no, 1 yes */
        SnpSource snp_source; /* where this guest's own SNP report comes from */
        uint64_t rotate_every, publish_ahead;
        uint32_t leeway;
        Tenant tenants[VCONF_TENANTS_MAX];
        size_t n_tenants;
        /* Key release (NULL store: off). One store handle, used under store_lock. */
        KeyStore *store;
        pthread_mutex_t store_lock;
        char *public_url;        /* the keys' URLs: PUBLIC_URL/keys/NAME/VERSION */
        bool trust_tenants;
        IssuerKeyCache *issuers; /* external authorities; NULL: none */
        char *temp_state;        /* --dev without --state: removed at exit */
        atomic_ulong releases, release_refusals;
        atomic_ulong requests, tokens, denied, rejected, malformed, policy_updates;
        atomic_ulong latency[N_BUCKETS], latency_count, latency_sum_us;
} Server;

typedef struct Request {
        char *body;
        size_t size, capacity;
        bool too_big, attest;
        uint64_t start_usec;
} Request;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

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
                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE),
                       NULL);
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

static int respond_internal(struct MHD_Connection *c) {
        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", "internal error");
}

/* ---- signing keys ---- */

/*
 * The certificate of a signing key, published as the JWK's x5c as MAA does: self-signed, and,
 * when the service runs in an SEV-SNP guest (TEEAttestation=), carrying the guest's own report
 * with REPORT_DATA = SHA-512 of the key's SubjectPublicKeyInfo (verifier/tee-cert.h), so relying
 * parties can check that the key lives in that guest (`check token --require-tee`).
 */
static int signing_certificate(Server *s, EVP_PKEY *key, char **ret_x5c) {
        _cleanup_(tee_evidence_done) TeeEvidence ev = {};
        _cleanup_(X509_freep) X509 *x = NULL;
        bool have = false;
        Diag d = {};
        int r;

        if (s->tee != 0) {
                r = tee_cert_collect(key, &s->snp_source, &ev, &d);
                if (r >= 0)
                        have = true;
                else if (s->tee > 0) {
                        log_error("TEEAttestation=yes: cannot get this guest's SEV-SNP report: %s",
                                  diag_text(&d, strerror(-r)));
                        return r;
                } else
                        log_debug("No SEV-SNP report for the signing certificate: %s",
                                  diag_text(&d, strerror(-r)));
        }
        r = tee_cert_build(key, "cvm-verifier token signing key", 365, time(NULL),
                           have ? &ev : NULL, &x);
        if (r < 0)
                return r;
        if (have) {
                char hex[2 * SNP_MEASUREMENT_SIZE + 1] = "?";
                SnpReport rep;

                if (snp_report_parse(ev.report, ev.report_size, &rep, NULL) >= 0)
                        hex_encode_buf(rep.measurement, sizeof(rep.measurement), hex);
                log_info("The signing certificate carries this guest's SEV-SNP report "
                         "(measurement %s)", hex);
        }
        return x509_to_base64(x, ret_x5c);
}

static int generate_key(const char *alg, EVP_PKEY **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
        bool rsa = alg[0] == 'R' || alg[0] == 'P';

        ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0)
                return -ENOMEM;
        if (rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0
                : EVP_PKEY_CTX_set_group_name(ctx, streq(alg, "ES256") ? "P-256" : "P-384") <= 0)
                return -ENOMEM;
        if (EVP_PKEY_keygen(ctx, ret) <= 0)
                return -ENOMEM;
        return 0;
}

/* Adds a key with its certificate to the ring (taking pkey on success). */
static int ring_add(Server *s, EVP_PKEY *pkey, const char *alg, int64_t activate) {
        _cleanup_(freep) char *x5c = NULL;
        int r;

        r = signing_certificate(s, pkey, &x5c);
        if (r < 0)
                return r;
        r = keyring_add(&s->keys, pkey, alg, activate, x5c);
        if (r >= 0)
                x5c = NULL;
        return r;
}

/*
 * A secret from a file or a systemd credential (common/secret-file.h: "credential:NAME" reads
 * $CREDENTIALS_DIRECTORY/NAME; a file that others may read is refused), as a NUL-terminated
 * copy. Logs why it failed. The caller wipes and frees.
 */
static int read_secret(const char *spec, uint8_t **ret, size_t *ret_size) {
        _cleanup_(secret_freep) Secret *s = NULL;
        Diag d = {};
        uint8_t *buf;
        int r;

        r = secret_file_read(spec, SECRET_FILE_MAX, &s, &d);
        if (r < 0 && d.text[0])
                return log_error("%s", d.text), r;
        if (r < 0)
                return log_error_errno(r, "%s: %m", spec);
        buf = malloc(s->size + 1);
        if (!buf)
                return log_error_errno(-ENOMEM, "%s: %m", spec);
        memcpy(buf, s->data, s->size + 1);
        *ret = buf;
        *ret_size = s->size;
        return 0;
}

static void wipe_free(uint8_t *p, size_t size) {
        if (p) {
                OPENSSL_cleanse(p, size);
                free(p);
        }
}

static int load_private_key(const char *spec, EVP_PKEY **ret) {
        uint8_t *buf = NULL;
        size_t size = 0;
        BIO *bio;
        EVP_PKEY *k;
        int r;

        r = read_secret(spec, &buf, &size);
        if (r < 0)
                return r;
        bio = BIO_new_mem_buf(buf, (int) size);
        k = bio ? PEM_read_bio_PrivateKey(bio, NULL, pem_no_password, NULL) : NULL;
        BIO_free(bio);
        wipe_free(buf, size);
        if (!k) {
                log_error("%s: not a PEM private key (without a passphrase)", spec);
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

/* Ephemeral keys rotate themselves: the next key joins the ring publish_ahead before it signs;
 * retired keys leave it when their tokens have expired. Called about once a second. */
static void keys_maintain(Server *s) {
        int64_t now = time(NULL);

        pthread_rwlock_wrlock(&s->keys_lock);
        if (s->ephemeral && s->rotate_every) {
                int64_t next = keyring_newest(&s->keys) + (int64_t) s->rotate_every;

                if (next - (int64_t) s->publish_ahead <= now) {
                        EVP_PKEY *k = NULL;
                        const char *alg = s->keys.keys[s->keys.n - 1].alg;

                        if (generate_key(alg, &k) < 0 ||
                            ring_add(s, k, alg, next > now ? next : now) < 0) {
                                EVP_PKEY_free(k);
                                log_error("Cannot make the next signing key; the current one "
                                          "keeps signing");
                        } else
                                log_info("New signing key %s published; it signs from %+" PRId64
                                         " s", s->keys.keys[s->keys.n - 1].kid,
                                         s->keys.keys[s->keys.n - 1].activate - now);
                }
        }
        {
                size_t n = keyring_prune(&s->keys, now);
                if (n)
                        log_info("%zu retired signing key(s) unpublished: their tokens expired", n);
        }
        pthread_rwlock_unlock(&s->keys_lock);
}
/*
 * The sealed AzureGuest response (azure-cvm.md §6.2): the JWT encrypted with AES-256-GCM (AAD
 * "Transport Key") under a fresh key that is RSA-encrypted (RSAES-PKCS1-v1_5) to the evidence's
 * TpmEphemeralEncryptionKey (ek: the key appraisal certified, x-ms-runtime.keys[0]; NULL when
 * there is none: -ENOKEY), so only the attested VM's TPM can read its token.
 */
static int seal_token(EVP_PKEY *ek, const char *token, char **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx = NULL;
        _cleanup_(freep) uint8_t *ct = NULL, *wrapped = NULL;
        _cleanup_(freep) char *s_key = NULL, *s_iv = NULL, *s_tag = NULL, *s_ct = NULL,
                              *envelope = NULL;
        EVP_CIPHER_CTX *cctx = NULL;
        uint8_t key[32], iv[12], tag[16];
        size_t n = strlen(token), wrapped_size = 0;
        int len, fin, r = -ENOMEM;

        CLEANUP_ERASE(key);
        if (!ek)
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
        if (base64url_encode(wrapped, wrapped_size, &s_key) < 0 ||
            base64url_encode(iv, sizeof(iv), &s_iv) < 0 ||
            base64url_encode(tag, sizeof(tag), &s_tag) < 0 ||
            base64url_encode(ct, (size_t) (len + fin), &s_ct) < 0)
                goto out;
        /* The envelope as json-c writes it (plain): every value is base64url or a fixed word,
         * so there is nothing to escape, and the JWT need not be copied through json-c. */
        if (asprintf(&envelope,
                     "{\"EncryptedInnerKey\":\"%s\",\"EncryptionParams\":{\"Iv\":\"%s\","
                     "\"Cipher\":\"AES\",\"BlockMode\":\"ChainingModeGCM\",\"KeySizeInBits\":256},"
                     "\"AuthenticationData\":\"%s\",\"Jwt\":\"%s\"}",
                     s_key, s_iv, s_tag, s_ct) < 0) {
                envelope = NULL;
                goto out;
        }
        r = base64url_encode(envelope, strlen(envelope), ret);
out:
        EVP_CIPHER_CTX_free(cctx);
        return r;
}


/* ---- tokens ---- */

/* Signs claims as tenant t's token: iss, iat, nbf, exp, jti added; the active key signs. */
static int issue_token(Server *s, const Tenant *t, json_object *claims, char **ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        uint8_t jti[32];
        char jti_hex[65], kid[48], alg[8], jku[URL_MAX + 8];
        time_t now = time(NULL);
        const SigningKey *k;
        const char *payload;

        pthread_rwlock_rdlock(&s->keys_lock);
        k = keyring_signer(&s->keys, now);
        if (k) {
                key = k->pkey;
                EVP_PKEY_up_ref(key);
                memcpy(kid, k->kid, sizeof(kid));
                memcpy(alg, k->alg, sizeof(alg));
        }
        pthread_rwlock_unlock(&s->keys_lock);
        if (!key)
                return -ENOKEY;
        if (RAND_bytes(jti, sizeof(jti)) != 1)
                return -EIO;
        hex_encode_buf(jti, sizeof(jti), jti_hex);
        if (json_add_string(claims, "iss", t->issuer) < 0 ||
            json_add_int(claims, "iat", now) < 0 || json_add_int(claims, "nbf", now) < 0 ||
            json_add_int(claims, "exp", now + s->keys.token_lifetime) < 0 ||
            json_add_string(claims, "jti", jti_hex) < 0)
                return -ENOMEM;
        payload = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        (void) snprintf(jku, sizeof(jku), "%s/certs", t->issuer);
        return jws_sign(alg, key, kid, jku, NULL, (const uint8_t *) payload, strlen(payload), ret);
}

static int handle_openid(Server *s, const Tenant *t, struct MHD_Connection *c) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *algs = json_object_new_array(), *arr;
        char url[URL_MAX + 8];

        if (!o || !algs || json_add_string(o, "issuer", t->issuer) < 0)
                return MHD_NO;
        (void) snprintf(url, sizeof(url), "%s/certs", t->issuer);
        if (json_add_string(o, "jwks_uri", url) < 0 ||
            json_add(o, "id_token_signing_alg_values_supported", algs) < 0)
                return MHD_NO;
        pthread_rwlock_rdlock(&s->keys_lock);
        for (size_t i = 0; i < s->keys.n; i++) {
                bool seen = false;

                for (size_t j = 0; j < i; j++)
                        seen = seen || streq(s->keys.keys[j].alg, s->keys.keys[i].alg);
                if (!seen)
                        json_object_array_add(algs, json_object_new_string(s->keys.keys[i].alg));
        }
        pthread_rwlock_unlock(&s->keys_lock);
        arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("token"));
        json_object_array_add(arr, json_object_new_string("none"));
        json_add(o, "response_types_supported", arr);
        arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("public"));
        json_add(o, "subject_types_supported", arr);
        return respond_json(c, MHD_HTTP_OK, o);
}

/* The JWKS: every key published now, the one that will sign next included. */
static int handle_certs(Server *s, struct MHD_Connection *c) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *keys = json_object_new_array();
        int64_t now = time(NULL);
        int r = 0;

        if (!o || !keys || json_add(o, "keys", keys) < 0)
                return MHD_NO;
        pthread_rwlock_rdlock(&s->keys_lock);
        for (size_t i = 0; r >= 0 && i < s->keys.n; i++) {
                const SigningKey *k = &s->keys.keys[i];
                json_object *jwk = NULL, *x5c = json_object_new_array();

                if (!keyring_published(&s->keys, i, now)) {
                        json_object_put(x5c);
                        continue;
                }
                if (!x5c || jwk_from_pkey(k->pkey, k->kid, &jwk) < 0 ||
                    json_add_string(jwk, "use", "sig") < 0 || json_add_string(jwk, "alg", k->alg) < 0 ||
                    json_object_array_add(x5c, json_object_new_string(k->x5c)) < 0 ||
                    json_add(jwk, "x5c", x5c) < 0 || json_object_array_add(keys, jwk) < 0)
                        r = -ENOMEM;
        }
        pthread_rwlock_unlock(&s->keys_lock);
        if (r < 0)
                return MHD_NO;
        return respond_json(c, MHD_HTTP_OK, o);
}

static int handle_metrics(Server *s, struct MHD_Connection *c) {
        char buf[4096];
        size_t n = 0;
        unsigned long cum = 0;

#define PUT(...) n += (size_t) snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__)
        PUT("# HELP cvm_verifier_requests_total HTTP requests.\n"
            "# TYPE cvm_verifier_requests_total counter\n"
            "cvm_verifier_requests_total %lu\n"
            "# HELP cvm_verifier_verdicts_total Attestation verdicts by reason.\n"
            "# TYPE cvm_verifier_verdicts_total counter\n"
            "cvm_verifier_verdicts_total{verdict=\"token\"} %lu\n"
            "cvm_verifier_verdicts_total{verdict=\"policy_denied\"} %lu\n"
            "cvm_verifier_verdicts_total{verdict=\"verification_failed\"} %lu\n"
            "cvm_verifier_verdicts_total{verdict=\"malformed\"} %lu\n"
            "# HELP cvm_verifier_policy_updates_total Policies set or reset.\n"
            "# TYPE cvm_verifier_policy_updates_total counter\n"
            "cvm_verifier_policy_updates_total %lu\n",
            atomic_load(&s->requests), atomic_load(&s->tokens), atomic_load(&s->denied),
            atomic_load(&s->rejected), atomic_load(&s->malformed), atomic_load(&s->policy_updates));
        if (s->endorsements) {
                uint64_t hits, misses;

                endorsement_cache_stats(s->endorsements, &hits, &misses);
                PUT("# HELP cvm_verifier_endorsement_cache_total SEV-SNP chains found verified, or not.\n"
                    "# TYPE cvm_verifier_endorsement_cache_total counter\n"
                    "cvm_verifier_endorsement_cache_total{result=\"hit\"} %" PRIu64 "\n"
                    "cvm_verifier_endorsement_cache_total{result=\"miss\"} %" PRIu64 "\n",
                    hits, misses);
        }
        if (s->store)
                PUT("# HELP cvm_verifier_key_releases_total Key release requests by outcome.\n"
                    "# TYPE cvm_verifier_key_releases_total counter\n"
                    "cvm_verifier_key_releases_total{result=\"released\"} %lu\n"
                    "cvm_verifier_key_releases_total{result=\"refused\"} %lu\n",
                    atomic_load(&s->releases), atomic_load(&s->release_refusals));
        PUT("# HELP cvm_verifier_attest_duration_seconds Time to answer an attestation request.\n"
            "# TYPE cvm_verifier_attest_duration_seconds histogram\n");
        for (size_t i = 0; i < N_BUCKETS; i++) {
                cum += atomic_load(&s->latency[i]);
                if (i < ELEMENTSOF(latency_bounds_ms))
                        PUT("cvm_verifier_attest_duration_seconds_bucket{le=\"%g\"} %lu\n",
                            latency_bounds_ms[i] / 1000.0, cum);
                else
                        PUT("cvm_verifier_attest_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
        }
        PUT("cvm_verifier_attest_duration_seconds_sum %.6f\n"
            "cvm_verifier_attest_duration_seconds_count %lu\n",
            atomic_load(&s->latency_sum_us) / 1e6, atomic_load(&s->latency_count));
#undef PUT
        if (n >= sizeof(buf))
                return respond_internal(c);
        return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, NULL);
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

/* ---- policies ---- */

/* The development tenant's default SevSnpVm policy, in MAA's policy language: SEV-SNP guests
 * that are not debuggable (the chain and the signature verified before any policy runs). */
static const char default_policy_sevsnpvm[] =
        "version=1.2;\n"
        "authorizationrules {\n"
        "    c:[type==\"x-ms-attestation-type\", value==\"sevsnpvm\"] &&\n"
        "    d:[type==\"x-ms-sevsnpvm-is-debuggable\", value==false] => permit();\n"
        "};\n"
        "issuancerules {\n"
        "    c:[type==\"x-ms-sevsnpvm-is-debuggable\"] => issue(type=\"is-debuggable\", value=c.value);\n"
        "};\n";

/* The default AzureGuest policy: the evidence verified as a whole (quote, PCRs, event log,
 * certified key, and the AK vouched for by the SNP report, an AK CA or the EK); permit a
 * trusted-launch VM, and a confidential VM whose SNP guest is not debuggable (the SNP claims are
 * inside x-ms-isolation-tee). */
static const char default_policy_azureguest[] =
        "version=1.2;\n"
        "authorizationrules {\n"
        "    c:[type==\"x-ms-isolation-tee\"] => add(type=\"tee-is-debuggable\",\n"
        "        value=JsonToClaimValue(JmesPath(c.value, \"\\\"x-ms-sevsnpvm-is-debuggable\\\"\")));\n"
        "    c:[type==\"x-ms-attestation-type\", value==\"azurevm\"] &&\n"
        "    ![type==\"x-ms-isolation-tee\"] => permit();\n"
        "    c:[type==\"x-ms-attestation-type\", value==\"azurevm\"] &&\n"
        "    d:[type==\"tee-is-debuggable\", value==false] => permit();\n"
        "};\n";

static void tenant_policy_done(TenantPolicy *p) {
        maa_policy_free(p->compiled);
        free(p->text);
        free(p->hash);
        free(p->jws);
        json_object_put(p->signer);
        *p = (TenantPolicy) {};
}

/* Compiles text into a TenantPolicy; jws NULL makes the unsigned form. Diag on syntax errors. */
static int tenant_policy_make(const char *text, size_t size, const char *jws, X509 *signer,
                              bool is_default, TenantPolicy *ret, Diag *d) {
        TenantPolicy p = { .is_default = is_default };
        int r;

        r = maa_policy_compile(text, size, &p.compiled, d);
        if (r < 0)
                return r;
        p.text = strndup(text, size);
        p.size = size;
        if (!p.text || maa_policy_hash(text, size, &p.hash) < 0 ||
            (jws ? !(p.jws = strdup(jws)) : policy_upload_unsigned(text, size, &p.jws) < 0) ||
            (signer && policy_upload_signer_jwk(signer, &p.signer) < 0)) {
                tenant_policy_done(&p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static int policy_file(const Tenant *t, PolicyType type, char *buf, size_t size) {
        if (!t->state_dir)
                return -ENOENT;
        (void) snprintf(buf, size, "%s/%s.policy.jws", t->state_dir, policy_type_to_string(type));
        return 0;
}

static int mkdir_parents(const char *path, mode_t mode) {
        char buf[PATH_MAX];

        (void) snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* The Authorization header against the tenant's admin token (compared as SHA-256, in constant
 * time). Returns true when policy management may go ahead. */
static bool management_allowed(const Tenant *t, struct MHD_Connection *c, const char **why) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        uint8_t md[SHA256_DIGEST_LENGTH];

        if (t->open_management)
                return true;
        if (!t->has_admin) {
                if (t->isolated)
                        return true; /* the signature on the policy is the credential */
                *why = "policy management is disabled for this tenant (no AdminToken= configured)";
                return false;
        }
        if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
                *why = "policy management needs \"Authorization: Bearer <admin token>\"";
                return false;
        }
        (void) SHA256((const uint8_t *) h + 7, strlen(h + 7), md);
        if (CRYPTO_memcmp(md, t->admin_hash, sizeof(md)) != 0) {
                *why = "wrong admin token";
                return false;
        }
        return true;
}

/* The PolicyResult token (spec/maa.md §5.5). */
static int policy_result(Server *s, const Tenant *t, const char *result, const char *body,
                         size_t body_size, const TenantPolicy *p, struct MHD_Connection *c) {
        _cleanup_(json_object_putp) json_object *claims = json_object_new_object(), *o = NULL;
        _cleanup_(freep) char *token = NULL, *hash = NULL;
        uint8_t md[SHA256_DIGEST_LENGTH];

        if (!claims || (result && json_add_string(claims, "x-ms-policy-result", result) < 0))
                return MHD_NO;
        if (body) {
                (void) SHA256((const uint8_t *) body, body_size, md);
                if (base64url_encode(md, sizeof(md), &hash) < 0 ||
                    json_add_string(claims, "x-ms-policy-token-hash", hash) < 0)
                        return MHD_NO;
        }
        if (p && (json_add_string(claims, "x-ms-policy", p->jws) < 0 ||
                  json_add_string(claims, "x-ms-policy-hash", p->hash) < 0 ||
                  (p->signer && json_add(claims, "x-ms-policy-signer",
                                         json_object_get(p->signer)) < 0)))
                return MHD_NO;
        if (issue_token(s, t, claims, &token) < 0)
                return respond_internal(c);
        o = json_object_new_object();
        if (!o || json_add_string(o, "token", token) < 0)
                return MHD_NO;
        return respond_json(c, MHD_HTTP_OK, o);
}

static int handle_policy_get(Server *s, Tenant *t, PolicyType type, struct MHD_Connection *c) {
        int k;

        pthread_rwlock_rdlock(&t->lock);
        k = policy_result(s, t, NULL, NULL, 0, &t->policy[type], c);
        pthread_rwlock_unlock(&t->lock);
        return k;
}

/* PUT /policies/{type} (reset false) and POST /policies/{type}:reset. Nothing changes unless
 * the upload is authorised, verified, compiles, and (when kept) is on disk. */
static int handle_policy_set(Server *s, Tenant *t, PolicyType type, Request *req, bool reset,
                             struct MHD_Connection *c) {
        _cleanup_(policy_upload_done) PolicyUpload u = {};
        TenantPolicy p = {}, old;
        const char *why = NULL;
        char path[PATH_MAX];
        Diag d = {};
        int r;

        if (!management_allowed(t, c, &why)) {
                log_notice("Tenant %s: policy %s refused: %s", t->name, policy_type_to_string(type),
                           why);
                return respond_error(c, MHD_HTTP_FORBIDDEN, "Forbidden", why);
        }
        r = policy_upload_parse(req->body ?: "", req->size, t->isolated ? t->policy_certs : NULL,
                                reset, &u, &d);
        if (r == -EPERM)
                return respond_error(c, MHD_HTTP_FORBIDDEN, "PolicySignerNotTrusted",
                                     diag_text(&d, "policy not signed by a policy certificate"));
        if (r < 0)
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "InvalidPolicy",
                                     diag_text(&d, strerror(-r)));
        if (!reset) {
                r = tenant_policy_make(u.text, u.size, req->body, u.signer, false, &p, &d);
                if (r == -ENOMEM)
                        return respond_internal(c);
                if (r < 0) {
                        char msg[600];

                        (void) snprintf(msg, sizeof(msg), "policy: %s", diag_text(&d, strerror(-r)));
                        return respond_error(c, MHD_HTTP_BAD_REQUEST, "PolicyParsingError", msg);
                }
        }
        pthread_rwlock_wrlock(&t->lock);
        if (policy_file(t, type, path, sizeof(path)) >= 0) {
                r = reset ? (unlink(path) < 0 && errno != ENOENT ? -errno : 0)
                          : write_file_atomic(path, req->body, req->size);
                if (r < 0) {
                        pthread_rwlock_unlock(&t->lock);
                        tenant_policy_done(&p);
                        log_error_errno(r, "Tenant %s: cannot %s %s: %m", t->name,
                                        reset ? "remove" : "write", path);
                        return respond_internal(c);
                }
        }
        old = t->policy[type];
        if (reset) {
                const TenantPolicy *dp = &t->defaults[type];
                r = tenant_policy_make(dp->text, dp->size, dp->jws, NULL, true, &t->policy[type], &d);
                if (r < 0) {
                        pthread_rwlock_unlock(&t->lock);
                        return respond_internal(c);
                }
        } else
                t->policy[type] = p;
        tenant_policy_done(&old);
        atomic_fetch_add(&s->policy_updates, 1);
        log_notice("Tenant %s: %s policy %s (%s), x-ms-policy-hash %s", t->name,
                   policy_type_to_string(type), reset ? "reset to the default" : "updated",
                   u.signer ? "signed" : "unsigned", t->policy[type].hash);
        r = policy_result(s, t, reset ? "Removed" : "Updated", req->body ?: "", req->size,
                          &t->policy[type], c);
        pthread_rwlock_unlock(&t->lock);
        return r;
}

/* ---- attestation ---- */

/*
 * Credential activation (trusted launch): the secret of a credential made for an AK is
 * remembered, single use and five minutes like GET /nonce's, as SHA-256 over a label, the secret
 * and the AK's name, so that it only counts for the AK it was made for.
 */
static void activation_key(const uint8_t *secret, size_t secret_size, const uint8_t *name,
                           size_t name_size, uint8_t ret[static NONCE_BYTES]) {
        static const char label[] = "cvm-verifier credential activation";
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        uint8_t len[2] = { (uint8_t) (secret_size >> 8), (uint8_t) secret_size };

        if (!m || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(m, label, sizeof(label)) != 1 || EVP_DigestUpdate(m, len, 2) != 1 ||
            EVP_DigestUpdate(m, secret, secret_size) != 1 ||
            EVP_DigestUpdate(m, name, name_size) != 1 || EVP_DigestFinal_ex(m, ret, NULL) != 1)
                RAND_bytes(ret, NONCE_BYTES); /* matches nothing */
        EVP_MD_CTX_free(m);
}

static bool ak_activated(void *userdata, const uint8_t *name, size_t name_size,
                         const uint8_t *extra, size_t extra_size) {
        Server *s = userdata;
        uint8_t key[NONCE_BYTES];
        char text[NONCE_TEXT_SIZE];
        bool ok;

        activation_key(extra, extra_size, name, name_size, key);
        hex_encode_buf(key, sizeof(key), text);
        pthread_mutex_lock(&s->nonce_lock);
        ok = nonce_store_consume(&s->nonces, text, now_usec());
        pthread_mutex_unlock(&s->nonce_lock);
        return ok;
}

/* An AK vouched for by an activated credential was fresh by construction: the credential's
 * secret was made by this service for this AK, lived five minutes, and is used up. */
static bool vouched_by_activation(json_object *claims) {
        json_object *v;

        return json_object_object_get_ex(claims, "x-ms-azurevm-ak-vouched-by", &v) &&
               streq(json_object_get_string(v), "ek-chain");
}

/* POST /credential: a credential for the AK, encrypted to the certified EK (trusted launch). */
static int handle_credential(Server *s, Tenant *t, struct MHD_Connection *c, Request *req) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(freep) uint8_t *ek_public = NULL, *blob = NULL, *seed = NULL;
        _cleanup_(freep) char *blob_b64 = NULL, *seed_b64 = NULL;
        AppraiseContext ctx = { .now = time(NULL), .ek_ca = s->ek_ca };
        uint8_t secret[32], key[NONCE_BYTES];
        char text[NONCE_TEXT_SIZE];
        size_t ek_size, blob_size, seed_size;
        TPM2B_NAME name;
        Diag d = {};
        int r;

        CLEANUP_ERASE(secret);
        if (!s->ek_ca)
                return respond_error(c, MHD_HTTP_NOT_FOUND, "NotFound",
                                     "credential activation is not configured (no "
                                     "EKCertificateAuthority=)");
        r = appraise_credential_request(&ctx, req->body ?: "", req->size, &ek_public, &ek_size,
                                        &name, &d);
        if (r == -ENOMEM)
                return respond_internal(c);
        if (r < 0) {
                bool malformed = r == -EBADMSG || r == -E2BIG;

                atomic_fetch_add(malformed ? &s->malformed : &s->rejected, 1);
                log_info("Tenant %s: credential request refused: %s", t->name,
                         diag_text(&d, strerror(-r)));
                return respond_error(c, MHD_HTTP_BAD_REQUEST,
                                     malformed ? "InvalidParameter" : "InvalidEvidence",
                                     diag_text(&d, strerror(-r)));
        }
        if (RAND_bytes(secret, sizeof(secret)) != 1)
                return respond_internal(c);
        r = tpm_make_credential(ek_public, ek_size, name.name, name.size, secret, sizeof(secret),
                                &blob, &blob_size, &seed, &seed_size, &d);
        if (r == -ENOMEM)
                return respond_internal(c);
        if (r < 0)
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "InvalidEvidence",
                                     diag_text(&d, strerror(-r)));
        activation_key(secret, sizeof(secret), name.name, name.size, key);
        pthread_mutex_lock(&s->nonce_lock);
        nonce_store_issue(&s->nonces, key, now_usec(), text);
        pthread_mutex_unlock(&s->nonce_lock);
        o = json_object_new_object();
        if (!o || base64url_encode(blob, blob_size, &blob_b64) < 0 ||
            base64url_encode(seed, seed_size, &seed_b64) < 0 ||
            json_add_string(o, "CredentialBlob", blob_b64) < 0 ||
            json_add_string(o, "EncryptedSecret", seed_b64) < 0 ||
            json_add_int(o, "expires_in", NONCE_LIFETIME_USEC / 1000000) < 0)
                return MHD_NO;
        log_info("Tenant %s: credential made for an AK under a certified EK", t->name);
        return respond_json(c, MHD_HTTP_OK, o);
}

static int crl_lookup(void *userdata, int product, time_t now, uint8_t **ret, size_t *ret_size,
                      Diag *d) {
        int r = kds_get_crl(userdata, (SnpProduct) product, now, ret, ret_size, d);
        return r < 0 ? r : 0;
}

static int handle_attest(Server *s, Tenant *t, struct MHD_Connection *c, Request *req,
                         PolicyType type) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *enc_key = NULL;
        _cleanup_(freep) char *token = NULL, *answer = NULL;
        char bound_nonce[APPRAISE_NONCE_MAX] = "";
        AppraiseContext ctx = {
                .trust = s->trust,
                .now = time(NULL),
                .bound_nonce = bound_nonce,
                .ak_ca = s->ak_ca,
                .vcek_lookup = s->kds ? kds_vcek_lookup : NULL,
                .crl_lookup = s->kds && s->check_revocation ? crl_lookup : NULL,
                .lookup_userdata = s->kds,
                .endorsements = s->endorsements,
                .facts = s->facts,
                .keys = s->key_cache,
                .enc_key = &enc_key,
                .ek_ca = s->ek_ca,
                .ak_activated = s->ek_ca ? ak_activated : NULL,
                .activation_userdata = s,
        };
        bool azureguest = type == POLICY_AZUREGUEST;
        const char *what = policy_type_to_string(type);
        MaaVerdict verdict = {};
        Diag d = {};
        int r;

        req->attest = true;
        /* The event log as the "events" claim only when the policy or the reference values
         * read it. */
        pthread_rwlock_rdlock(&t->lock);
        ctx.skip_events = !maa_policy_reads_claim(t->policy[type].compiled, "events") &&
                          !t->reference;
        pthread_rwlock_unlock(&t->lock);
        r = (azureguest ? appraise_azureguest : appraise_sevsnpvm)(&ctx, req->body ?: "", req->size,
                                                                   &claims, &d);
        if (r == -ENOMEM || r == -EIO) {
                log_error_errno(r, "%s: internal error: %m", what);
                return respond_internal(c);
        }
        if (r == -EAGAIN) {
                log_warning("Tenant %s: %s evidence not appraised now: %s", t->name, what,
                            diag_text(&d, "an endorsement lookup failed"));
                return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable",
                                     diag_text(&d, "try again later"));
        }
        if (r < 0) {
                bool malformed = r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT;
                atomic_fetch_add(malformed ? &s->malformed : &s->rejected, 1);
                log_info("Tenant %s: %s evidence rejected: %s", t->name, what,
                         diag_text(&d, strerror(-r)));
                return respond_error(c, MHD_HTTP_BAD_REQUEST,
                                     malformed ? "InvalidParameter" : "InvalidEvidence",
                                     diag_text(&d, strerror(-r)));
        }
        if (t->reference) {
                char why[200];

                r = reference_values_apply(t->reference, claims, why, sizeof(why));
                if (r < 0)
                        return respond_internal(c);
                if (why[0])
                        log_info("Tenant %s: %s evidence not compliant with the reference values: "
                                 "%s", t->name, what, why);
        }
        if (t->require_nonce && !vouched_by_activation(claims)) {
                bool live;

                /* Only a nonce the signed evidence carries counts (runtime data under
                 * REPORT_DATA, or the quote's extraData): a nonce beside the evidence in the
                 * request would let old evidence be replayed with a fresh one. */
                pthread_mutex_lock(&s->nonce_lock);
                live = bound_nonce[0] && nonce_store_consume(&s->nonces, bound_nonce, now_usec());
                pthread_mutex_unlock(&s->nonce_lock);
                if (!live) {
                        atomic_fetch_add(&s->rejected, 1);
                        log_info("Tenant %s: %s evidence rejected: no live nonce", t->name, what);
                        return respond_error(c, MHD_HTTP_BAD_REQUEST, "InvalidNonce",
                                             "the evidence does not carry a live nonce from GET "
                                             "/nonce in its signed data (runtime data \"nonce\", "
                                             "or the quote's extraData): unknown, used before, "
                                             "expired, or not bound");
                }
        }
        pthread_rwlock_rdlock(&t->lock);
        r = maa_policy_evaluate(t->policy[type].compiled, claims, now_usec(), &verdict, &d);
        if (r >= 0 && verdict.permitted &&
            json_add_string(claims, "x-ms-policy-hash", t->policy[type].hash) < 0)
                r = -ENOMEM;
        pthread_rwlock_unlock(&t->lock);
        if (r < 0 || !verdict.permitted) {
                char reason[600];

                (void) snprintf(reason, sizeof(reason), "policy: %s",
                                r < 0 ? diag_text(&d, strerror(-r)) : verdict.reason);
                maa_verdict_done(&verdict);
                atomic_fetch_add(&s->denied, 1);
                log_info("Tenant %s: %s evidence denied: %s", t->name, what, reason);
                return respond_error(c, MHD_HTTP_BAD_REQUEST, "PolicyEvaluationError", reason);
        }
        /* Claims only the policy sees (the PCR values, the event log) stay out of the token. */
        appraise_strip_incoming(claims);
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
        r = issue_token(s, t, claims, &token);
        if (r < 0) {
                log_error_errno(r, "Tenant %s: cannot sign the token: %m", t->name);
                return respond_internal(c);
        }
        if (azureguest) {
                char *sealed = NULL;

                r = seal_token(enc_key, token, &sealed);
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
        /* {"token": ...} as json-c writes it: a JWS or base64url has nothing to escape. */
        if (asprintf(&answer, "{\"token\":\"%s\"}", token) < 0) {
                answer = NULL;
                return MHD_NO;
        }
        return respond(c, MHD_HTTP_OK, "application/json", answer, NULL);
}

/* ---- key release ---- */

/* Key Vault's error envelope, as MAA's with an innererror when there is more to say. */
static int respond_kv_error(struct MHD_Connection *c, unsigned status, const char *code,
                            const char *inner, const char *message) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *e = json_object_new_object(), *ie;

        if (!o || json_add(o, "error", e) < 0 || json_add_string(e, "code", code) < 0 ||
            json_add_string(e, "message", message) < 0)
                return MHD_NO;
        if (inner) {
                ie = json_object_new_object();
                if (json_add(e, "innererror", ie) < 0 || json_add_string(ie, "code", inner) < 0)
                        return MHD_NO;
        }
        return respond(c, status, "application/json",
                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), code);
}

static void peer_name(struct MHD_Connection *c, char *buf, size_t size) {
        const union MHD_ConnectionInfo *info =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = info ? info->client_addr : NULL;

        (void) snprintf(buf, size, "unknown peer");
        if (sa && sa->sa_family == AF_INET)
                (void) inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, size);
        else if (sa && sa->sa_family == AF_INET6)
                (void) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf,
                                 size);
}

/* The keys this service publishes now, as a set to verify its own tokens with. */
static int own_keys(Server *s, JwsKeySet **ret) {
        _cleanup_(jws_key_set_freep) JwsKeySet *set = NULL;
        int64_t now = time(NULL);
        int r;

        r = jws_key_set_new(&set);
        if (r < 0)
                return r;
        pthread_rwlock_rdlock(&s->keys_lock);
        for (size_t i = 0; r >= 0 && i < s->keys.n; i++)
                if (keyring_published(&s->keys, i, now))
                        r = jws_key_set_add(set, s->keys.keys[i].pkey, s->keys.keys[i].kid, NULL,
                                            NULL);
        pthread_rwlock_unlock(&s->keys_lock);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(set);
        return 0;
}

/*
 * Verifies the release target: a token of one of this service's tenants (TrustTenants=) or of a
 * TrustedIssuer=. *ret_claims its verified claims. -EXDEV for an issuer not trusted, the
 * jws_verify errors otherwise; the Diag says which.
 */
static int release_token_verify(Server *s, const KeyReleaseRequest *req, json_object **ret_claims,
                                char *issuer, size_t issuer_size, Diag *d) {
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(json_object_putp) json_object *claims = NULL;
        JwsVerifyOptions o = { .now = time(NULL), .leeway = s->leeway, .require_exp = true };
        json_object *v;
        bool own = false;
        int r;

        r = jws_parse(req->target, req->target_size, &j, d);
        if (r < 0)
                return r;
        r = jws_claims(j, &claims, d);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(claims, "iss", &v) || !json_object_is_type(v, json_type_string))
                return diag_set(d, -EXDEV, "the token has no issuer");
        (void) snprintf(issuer, issuer_size, "%s", json_object_get_string(v));
        o.issuer = issuer;
        for (size_t i = 0; s->trust_tenants && i < s->n_tenants; i++)
                own = own || url_same(s->tenants[i].issuer, issuer);
        if (own) {
                _cleanup_(jws_key_set_freep) JwsKeySet *keys = NULL;

                r = own_keys(s, &keys);
                if (r < 0)
                        return r;
                r = jws_verify(j, keys, &o, d);
        } else if (issuer_key_cache_trusts(s->issuers, issuer))
                r = issuer_key_cache_verify(s->issuers, j, &o, (uint64_t) o.now, d);
        else
                return diag_set(d, -EXDEV, "the token's issuer %.200s is not trusted for key "
                                "release", issuer);
        if (r < 0)
                return r;
        *ret_claims = TAKE_PTR(claims);
        return 0;
}

/* Parses "NAME/release" or "NAME/VERSION/release" (after "/keys/"). */
static bool release_path(const char *p, char *name, size_t name_size, char *version,
                         size_t version_size) {
        const char *slash = strchr(p, '/'), *rest;
        size_t n;

        if (!slash || (n = (size_t) (slash - p)) == 0 || n >= name_size)
                return false;
        memcpy(name, p, n);
        name[n] = '\0';
        version[0] = '\0';
        rest = slash + 1;
        if (streq(rest, "release"))
                return true;
        slash = strchr(rest, '/');
        if (!slash || !streq(slash + 1, "release") || (n = (size_t) (slash - rest)) == 0 ||
            n >= version_size)
                return false;
        memcpy(version, rest, n);
        version[n] = '\0';
        return true;
}

typedef struct ReleaseOutcome {
        unsigned status;
        const char *code, *inner;
        char message[512];
} ReleaseOutcome;

static int refuse(ReleaseOutcome *out, unsigned status, const char *code, const char *inner,
                  const char *fmt, ...) _printf_(5, 6);
static int refuse(ReleaseOutcome *out, unsigned status, const char *code, const char *inner,
                  const char *fmt, ...) {
        va_list ap;

        out->status = status;
        out->code = code;
        out->inner = inner;
        va_start(ap, fmt);
        (void) vsnprintf(out->message, sizeof(out->message), fmt, ap);
        va_end(ap);
        return -EPERM;
}

/*
 * The decision and the answer, under the store lock: the key's policy and material are read,
 * the policy is evaluated on the verified claims, and the key is wrapped to the token's key.
 * Returns 0 with *ret_payload, or -EPERM with *out saying why (an internal error is a 500).
 */
static int release_decide(Server *s, const char *name, const char *version,
                          const KeyReleaseRequest *req, json_object *claims, const char *issuer,
                          json_object **ret_payload, char *ret_version, ReleaseOutcome *out) {
        _cleanup_(freep) char *policy_text = NULL, *kek_kid = NULL, *url = NULL;
        _cleanup_(release_policy_freep) ReleasePolicy *policy = NULL;
        _cleanup_(key_info_freep) KeyInfo *info = NULL;
        _cleanup_(secret_freep) Secret *material = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *kek = NULL;
        char current[KEY_STORE_VERSION_SIZE + 1];
        const char *use_version;
        uint64_t created = 0;
        ReleaseVerdict verdict = {};
        KeyType type;
        bool exportable;
        Diag d = {};
        int r;

        r = key_store_get_policy(s->store, name, &policy_text, &exportable, current, &d);
        if (r == -ENOENT)
                return refuse(out, MHD_HTTP_NOT_FOUND, "KeyNotFound", NULL,
                              "A key with (name/id) %s was not found in this key vault", name);
        if (r == -ENODATA)
                return refuse(out, MHD_HTTP_FORBIDDEN, "Forbidden", "KeyNotExportable",
                              "The key %s has no release policy: it is never released", name);
        if (r < 0)
                return refuse(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL,
                              "key store: %s", diag_text(&d, strerror(-r)));
        if (!exportable)
                return refuse(out, MHD_HTTP_FORBIDDEN, "Forbidden", "KeyNotExportable",
                              "The key %s is not exportable", name);
        use_version = version[0] ? version : current;
        (void) snprintf(ret_version, KEY_STORE_VERSION_SIZE + 1, "%s", use_version);
        r = release_policy_parse(policy_text, strlen(policy_text), &policy, &d);
        if (r < 0)
                return refuse(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL,
                              "the release policy of %s does not parse: %s", name,
                              diag_text(&d, strerror(-r)));
        r = release_policy_evaluate(policy, issuer, claims, &verdict, &d);
        if (r < 0 || !verdict.released)
                return refuse(out, MHD_HTTP_FORBIDDEN, "Forbidden", "AccessDenied",
                              "Target environment attestation statement does not satisfy the "
                              "release policy of %s: %s", name,
                              r < 0 ? diag_text(&d, strerror(-r)) : verdict.reason);
        r = key_release_find_kek(claims, &kek, &kek_kid, &d);
        if (r < 0)
                return refuse(out, MHD_HTTP_BAD_REQUEST, "BadParameter", "NoEncryptionKey",
                              "%s", diag_text(&d, strerror(-r)));
        r = key_store_get_material(s->store, name, use_version, &material, &type, &d);
        if (r == -ENOENT)
                return refuse(out, MHD_HTTP_NOT_FOUND, "KeyNotFound", NULL,
                              "A key with (name/id) %s/%s was not found in this key vault", name,
                              use_version);
        if (r == -EPERM)
                return refuse(out, MHD_HTTP_FORBIDDEN, "Forbidden", "KeyDisabled",
                              "The key %s/%s is disabled", name, use_version);
        if (r < 0)
                return refuse(out, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL,
                              "key store: %s", diag_text(&d, strerror(-r)));
        if (key_store_show(s->store, name, &info, NULL) >= 0)
                for (size_t i = 0; i < info->n_versions; i++)
                        if (streq(info->versions[i].version, use_version))
                                created = info->versions[i].created_usec;
        if (asprintf(&url, "%s/keys/%s/%s", s->public_url, name, use_version) < 0)
                return -ENOMEM;
        {
                KeyReleaseKey k = {
                        .url = url,
                        .type = type,
                        .material = material,
                        .created_usec = created,
                        .policy = policy_text,
                        .policy_immutable = info && info->policy_immutable,
                };
                r = key_release_payload(req, &k, kek, kek_kid, ret_payload, &d);
        }
        if (r < 0)
                return refuse(out, r == -ENOMEM || r == -EIO ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                                             : MHD_HTTP_BAD_REQUEST,
                              r == -ENOMEM || r == -EIO ? "InternalError" : "BadParameter",
                              NULL, "cannot wrap the key to the token's key: %s",
                              diag_text(&d, strerror(-r)));
        return 0;
}

static int handle_key_release(Server *s, struct MHD_Connection *c, Request *req,
                              const char *path) {
        _cleanup_(json_object_putp) json_object *claims = NULL, *payload = NULL;
        _cleanup_(key_release_request_done) KeyReleaseRequest kr = {};
        _cleanup_(freep) char *jws = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        char name[KEY_STORE_NAME_MAX + 2], version[KEY_STORE_VERSION_SIZE + 2];
        char who[INET6_ADDRSTRLEN + 300], issuer[URL_MAX] = "", kid[48], alg[8];
        char used_version[KEY_STORE_VERSION_SIZE + 1] = "";
        const char *jti = NULL;
        ReleaseOutcome out = {};
        json_object *v;
        Diag d = {};
        int r;

        if (!release_path(path, name, sizeof(name), version, sizeof(version)) ||
            !key_store_name_valid(name))
                return respond_kv_error(c, MHD_HTTP_NOT_FOUND, "NotFound", NULL,
                                        "no such endpoint: POST /keys/{name}[/{version}]/release");
        if (!s->public_url)
                return respond_kv_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable",
                                        NULL, "starting");
        peer_name(c, who, sizeof(who));
        r = key_release_request_parse(req->body ?: "", req->size, &kr, &d);
        if (r < 0) {
                refuse(&out, MHD_HTTP_BAD_REQUEST, "BadParameter", NULL, "%s",
                       diag_text(&d, strerror(-r)));
                goto refused;
        }
        r = release_token_verify(s, &kr, &claims, issuer, sizeof(issuer), &d);
        if (r == -ENOMEM)
                return respond_internal(c);
        if (r < 0) {
                refuse(&out, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
                       r == -EXDEV ? "UntrustedIssuer" : r == -EKEYEXPIRED ? "TokenExpired"
                                                                          : "InvalidToken",
                       "The target token is not accepted: %s", diag_text(&d, strerror(-r)));
                goto refused;
        }
        if (json_object_object_get_ex(claims, "jti", &v) && json_object_is_type(v, json_type_string))
                jti = json_object_get_string(v);
        (void) snprintf(who + strlen(who), sizeof(who) - strlen(who), " (token of %s)", issuer);

        pthread_mutex_lock(&s->store_lock);
        r = release_decide(s, name, version, &kr, claims, issuer, &payload, used_version, &out);
        if (r < 0) {
                Diag ad = {};
                if (key_store_audit_append(s->store, who, name, used_version[0] ? used_version : NULL,
                                           jti, false, out.message, &ad) < 0)
                        log_warning("Key release audit: cannot record a refusal: %s",
                                    diag_text(&ad, "key store error"));
                pthread_mutex_unlock(&s->store_lock);
                if (r == -ENOMEM)
                        return respond_internal(c);
                goto refused_logged;
        }
        /* The answer is signed by this service's signing key, with its certificate, as Key
         * Vault signs with its own. The audit entry comes first: a release that cannot be
         * recorded does not happen. */
        r = key_store_audit_append(s->store, who, name, used_version, jti, true, "released", &d);
        pthread_mutex_unlock(&s->store_lock);
        if (r < 0) {
                log_error("Key release of %s refused: cannot record it in the audit: %s", name,
                          diag_text(&d, strerror(-r)));
                return respond_internal(c);
        }
        {
                _cleanup_(json_object_putp) json_object *extra = json_object_new_object(),
                                                        *x5c = json_object_new_array();
                const SigningKey *k;
                const char *text;

                pthread_rwlock_rdlock(&s->keys_lock);
                k = keyring_signer(&s->keys, time(NULL));
                if (k) {
                        key = k->pkey;
                        EVP_PKEY_up_ref(key);
                        memcpy(kid, k->kid, sizeof(kid));
                        memcpy(alg, k->alg, sizeof(alg));
                        if (x5c)
                                json_object_array_add(x5c, json_object_new_string(k->x5c));
                }
                pthread_rwlock_unlock(&s->keys_lock);
                if (!key || !extra || json_add(extra, "x5c", json_object_get(x5c)) < 0)
                        return respond_internal(c);
                text = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN |
                                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
                r = jws_sign(alg, key, kid, NULL, extra, (const uint8_t *) text, strlen(text),
                             &jws);
                if (r < 0)
                        return respond_internal(c);
        }
        atomic_fetch_add(&s->releases, 1);
        log_info("Key %s/%s released to %s (token %s)", name, used_version, who, jti ?: "without jti");
        {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();
                if (!o || json_add_string(o, "value", jws) < 0)
                        return MHD_NO;
                return respond_json(c, MHD_HTTP_OK, o);
        }

refused:
        pthread_mutex_lock(&s->store_lock);
        {
                Diag ad = {};
                if (key_store_audit_append(s->store, who, name, NULL, jti, false, out.message,
                                           &ad) < 0)
                        log_warning("Key release audit: cannot record a refusal: %s",
                                    diag_text(&ad, "key store error"));
        }
        pthread_mutex_unlock(&s->store_lock);
refused_logged:
        atomic_fetch_add(&s->release_refusals, 1);
        log_info("Key release of %s to %s refused (%u): %s", name, who, out.status, out.message);
        return respond_kv_error(c, out.status, out.code, out.inner, out.message);
}

/* ---- routing ---- */

/* The tenant whose path prefix is the longest that matches url; *rest gets what follows it. */
static Tenant *route(Server *s, const char *url, const char **rest) {
        Tenant *best = NULL;
        size_t best_len = 0;

        for (size_t i = 0; i < s->n_tenants; i++) {
                Tenant *t = &s->tenants[i];
                size_t n = strlen(t->path);

                if (strncmp(url, t->path, n) == 0 && (url[n] == '/' || url[n] == '\0') &&
                    (!best || n > best_len)) {
                        best = t;
                        best_len = n;
                }
        }
        if (best)
                *rest = url + best_len;
        return best;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
        Server *s = cls;
        Request *req = *con_cls;
        const char *rest = NULL, *p;
        Tenant *t;
        int type;

        if (!req) {
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
                uint64_t n;

                req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                /* One allocation for a body whose length is announced (and allowed). */
                if (cl && safe_atou64(cl, &n) >= 0 && n > 0 && n <= BODY_MAX) {
                        req->body = malloc((size_t) n + 1);
                        req->capacity = req->body ? (size_t) n : 0;
                        if (req->body)
                                req->body[0] = '\0';
                }
                req->start_usec = now_usec();
                *con_cls = req;
                atomic_fetch_add(&s->requests, 1);
                return MHD_YES;
        }
        if (*upload_size > 0) {
                /* Cap the body before anything parses it. */
                if (!req->too_big && req->size + *upload_size <= BODY_MAX) {
                        if (req->size + *upload_size > req->capacity) {
                                size_t cap = MAX(req->size + *upload_size, 2 * req->capacity);
                                char *nb = realloc(req->body, MIN(cap, (size_t) BODY_MAX) + 1);

                                if (!nb)
                                        return MHD_NO;
                                req->body = nb;
                                req->capacity = MIN(cap, (size_t) BODY_MAX);
                        }
                        memcpy(req->body + req->size, upload, *upload_size);
                        req->size += *upload_size;
                        req->body[req->size] = '\0';
                } else
                        req->too_big = true;
                *upload_size = 0;
                return MHD_YES;
        }
        if (req->too_big) {
                /* A verdict only for an attestation request, like the others counted there. */
                if (streq(method, "POST") && strstr(url, "/attest/"))
                        atomic_fetch_add(&s->malformed, 1);
                return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "RequestTooLarge",
                                     "request body larger than 1 MiB");
        }
        if (streq(method, "GET") && streq(url, "/health"))
                return respond(c, MHD_HTTP_OK, "application/json", "{\"status\":\"ok\"}", NULL);
        if (streq(method, "GET") && streq(url, "/metrics"))
                return handle_metrics(s, c);
        if (s->store && (p = startswith(url, "/keys/"))) {
                if (streq(method, "POST"))
                        return handle_key_release(s, c, req, p);
                return respond_kv_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed", NULL,
                                        "keys are released with POST; they are managed with "
                                        "`cvm-verifier key`");
        }
        t = route(s, url, &rest);
        if (!t)
                return respond_error(c, MHD_HTTP_NOT_FOUND, "NotFound", "no such tenant");
        if (streq(method, "GET")) {
                if (streq(rest, "/.well-known/openid-configuration"))
                        return handle_openid(s, t, c);
                if (streq(rest, "/certs"))
                        return handle_certs(s, c);
                if (streq(rest, "/nonce"))
                        return handle_nonce(s, c);
                if ((p = startswith(rest, "/policies/")) && (type = policy_type_from_string(p)) >= 0)
                        return handle_policy_get(s, t, type, c);
        } else if (streq(method, "POST")) {
                if ((p = startswith(rest, "/attest/")) && (type = policy_type_from_string(p)) >= 0)
                        return handle_attest(s, t, c, req, type);
                if (streq(rest, "/credential"))
                        return handle_credential(s, t, c, req);
                if ((p = startswith(rest, "/policies/")) && endswith(p, ":reset")) {
                        char name[32];
                        size_t n = strlen(p) - 6;

                        if (n < sizeof(name)) {
                                memcpy(name, p, n);
                                name[n] = '\0';
                                if ((type = policy_type_from_string(name)) >= 0)
                                        return handle_policy_set(s, t, type, req, true, c);
                        }
                }
        } else if (streq(method, "PUT")) {
                if ((p = startswith(rest, "/policies/")) && (type = policy_type_from_string(p)) >= 0)
                        return handle_policy_set(s, t, type, req, false, c);
        }
        return respond_error(c, MHD_HTTP_NOT_FOUND, "NotFound", "no such endpoint");
}

/* Answers go out as soon as they are written: with Nagle's algorithm, the last part of a
 * response can wait for the client's delayed acknowledgement (40 ms on Linux). */
static void connection_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe) {
        const union MHD_ConnectionInfo *info;
        int one = 1;

        if (toe != MHD_CONNECTION_NOTIFY_STARTED)
                return;
        info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info)
                (void) setsockopt(info->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
        Server *s = cls;
        Request *req = *con_cls;

        if (!req)
                return;
        if (req->attest) {
                uint64_t us = now_usec() - req->start_usec;
                size_t i = 0;

                while (i < ELEMENTSOF(latency_bounds_ms) && us > latency_bounds_ms[i] * 1000ull)
                        i++;
                atomic_fetch_add(&s->latency[i], 1);
                atomic_fetch_add(&s->latency_count, 1);
                atomic_fetch_add(&s->latency_sum_us, us);
        }
        free(req->body);
        free(req);
        *con_cls = NULL;
}

/* ---- setup ---- */

static int read_file_or_die(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        int r = read_full_file(path, max, ret, ret_size);

        if (r < 0)
                log_error_errno(r, "Cannot read %s: %m", path);
        return r;
}

static int tenant_setup(Server *s, Tenant *t, const TenantConfig *tc, const char *public_url,
                        const char *state_root) {
        Diag d = {};
        int r;

        (void) snprintf(t->name, sizeof(t->name), "%s", tc->name);
        (void) snprintf(t->path, sizeof(t->path), "%s", tc->path);
        if (tc->issuer)
                (void) snprintf(t->issuer, sizeof(t->issuer), "%s", tc->issuer);
        else
                (void) snprintf(t->issuer, sizeof(t->issuer), "%s%s", public_url, tc->path);
        /* One trailing slash is not part of an issuer (MAA's have none). */
        if (endswith(t->issuer, "/"))
                t->issuer[strlen(t->issuer) - 1] = '\0';
        t->isolated = tc->isolated;
        t->require_nonce = tc->require_nonce;
        pthread_rwlock_init(&t->lock, NULL);
        if (tc->policy_certs) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t size;

                r = read_file_or_die(tc->policy_certs, CERT_BUNDLE_MAX, &buf, &size);
                if (r < 0)
                        return EXIT_USAGE;
                if (x509_parse_bundle(buf, size, &t->policy_certs) < 0)
                        return log_error("Tenant %s: %s holds no certificates", t->name,
                                         tc->policy_certs), EXIT_MALFORMED;
        }
        if (tc->admin_token) {
                uint8_t *buf = NULL;
                size_t size = 0;

                r = read_secret(tc->admin_token, &buf, &size);
                if (r < 0)
                        return EXIT_USAGE;
                while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r'))
                        size--;
                if (size < 16) {
                        wipe_free(buf, size);
                        return log_error("Tenant %s: the admin token in %s is shorter than 16 "
                                         "characters", t->name, tc->admin_token), EXIT_USAGE;
                }
                (void) SHA256(buf, size, t->admin_hash);
                wipe_free(buf, size);
                t->has_admin = true;
        }
        if (tc->reference_values) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t size;

                if (read_file_or_die(tc->reference_values, REFERENCE_VALUES_MAX, &buf, &size) < 0)
                        return EXIT_USAGE;
                r = reference_values_parse((const char *) buf, size, &t->reference, &d);
                if (r < 0)
                        return log_error("Tenant %s: %s: %s", t->name, tc->reference_values,
                                         diag_text(&d, strerror(-r))), EXIT_MALFORMED;
        }
        for (int type = 0; type < _POLICY_TYPE_MAX; type++) {
                _cleanup_(freep) uint8_t *text = NULL;
                const char *builtin = type == POLICY_SEVSNPVM ? default_policy_sevsnpvm
                                                              : default_policy_azureguest;
                size_t size;

                if (tc->policy[type]) {
                        if (read_file_or_die(tc->policy[type], MAA_POLICY_SIZE_MAX, &text, &size) < 0)
                                return EXIT_USAGE;
                } else {
                        text = (uint8_t *) strdup(builtin);
                        if (!text)
                                return EXIT_INTERNAL;
                        size = strlen(builtin);
                }
                /* Compiled once, here, not per request. */
                r = tenant_policy_make((const char *) text, size, NULL, NULL, true,
                                       &t->defaults[type], &d);
                if (r < 0)
                        return log_error("Tenant %s: policy %s: %s", t->name,
                                         tc->policy[type] ?: "(built in)",
                                         diag_text(&d, strerror(-r))), EXIT_MALFORMED;
                if (tenant_policy_make((const char *) text, size, NULL, NULL, true,
                                       &t->policy[type], &d) < 0)
                        return EXIT_INTERNAL;
        }
        if (state_root) {
                char dir[PATH_MAX];

                (void) snprintf(dir, sizeof(dir), "%s/tenants/%s", state_root, t->name);
                r = mkdir_parents(dir, 0700);
                if (r < 0)
                        return log_error_errno(r, "Cannot create %s: %m", dir), EXIT_UNAVAILABLE;
                t->state_dir = strdup(dir);
                if (!t->state_dir)
                        return EXIT_INTERNAL;
                /* Policies uploaded before a restart: checked again as if uploaded now. */
                for (int type = 0; type < _POLICY_TYPE_MAX; type++) {
                        _cleanup_(freep) uint8_t *body = NULL;
                        _cleanup_(policy_upload_done) PolicyUpload u = {};
                        char path[PATH_MAX];
                        size_t size;
                        TenantPolicy p;

                        (void) policy_file(t, type, path, sizeof(path));
                        r = read_full_file(path, POLICY_UPLOAD_MAX, &body, &size);
                        if (r == -ENOENT)
                                continue;
                        if (r < 0)
                                return log_error_errno(r, "Cannot read %s: %m", path), EXIT_UNAVAILABLE;
                        r = policy_upload_parse((const char *) body, size,
                                                t->isolated ? t->policy_certs : NULL, false, &u, &d);
                        if (r >= 0)
                                r = tenant_policy_make(u.text, u.size, (const char *) body, u.signer,
                                                       false, &p, &d);
                        if (r < 0)
                                return log_error("%s: %s (reset it, or remove the file)", path,
                                                 diag_text(&d, strerror(-r))), EXIT_MALFORMED;
                        tenant_policy_done(&t->policy[type]);
                        t->policy[type] = p;
                        log_info("Tenant %s: %s policy from %s", t->name,
                                 policy_type_to_string(type), path);
                }
        }
        (void) s;
        return EXIT_OK;
}

static int load_ca_store(char *const *files, size_t n, const char *what, X509_STORE **store) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
                size_t size;

                if (read_file_or_die(files[i], CERT_BUNDLE_MAX, &buf, &size) < 0)
                        return EXIT_USAGE;
                if (x509_parse_bundle(buf, size, &certs) < 0)
                        return log_error("%s %s: no certificates", what, files[i]), EXIT_MALFORMED;
                if (!*store && !(*store = X509_STORE_new()))
                        return EXIT_INTERNAL;
                for (int j = 0; j < sk_X509_num(certs); j++)
                        if (!X509_STORE_add_cert(*store, sk_X509_value(certs, j)))
                                return EXIT_INTERNAL;
        }
        return EXIT_OK;
}

static int trust_setup(Server *s, char *const *roots, size_t n_roots, char *const *ak_ca,
                       size_t n_ak_ca) {
        int r = snp_trust_new(true, &s->trust);

        if (r < 0)
                return log_error_errno(r, "Cannot load AMD's roots: %m"), EXIT_INTERNAL;
        for (size_t i = 0; i < n_roots; i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t size;
                Diag d = {};

                if (read_file_or_die(roots[i], CERT_BUNDLE_MAX, &buf, &size) < 0)
                        return EXIT_USAGE;
                r = snp_trust_add(s->trust, buf, size, &d);
                if (r < 0)
                        return log_error("Trust root %s: %s", roots[i], d.text), EXIT_MALFORMED;
        }
        return load_ca_store(ak_ca, n_ak_ca, "AK CA", &s->ak_ca);
}

typedef struct Listen {
        struct sockaddr_storage addr;
        bool v6, loopback;
} Listen;

/* "HOST:PORT" (IPv4) or "[HOST]:PORT" (IPv6). */
static int parse_listen(const char *spec, Listen *ret) {
        const char *colon = strrchr(spec, ':');
        char host[INET6_ADDRSTRLEN + 2];
        uint32_t port;
        size_t n;

        if (!colon || safe_atou32(colon + 1, &port) < 0 || port > 65535)
                return -EINVAL;
        n = (size_t) (colon - spec);
        if (n >= sizeof(host))
                return -EINVAL;
        memcpy(host, spec, n);
        host[n] = '\0';
        *ret = (Listen) {};
        if (host[0] == '[') {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ret->addr;

                if (n < 3 || host[n - 1] != ']')
                        return -EINVAL;
                host[n - 1] = '\0';
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
                        return -EINVAL;
                ret->v6 = true;
                ret->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) &ret->addr;

                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                ret->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        }
        return 0;
}

static int start_daemon(Server *s, const Listen *l, unsigned threads, unsigned timeout,
                        const char *tls_cert, const char *tls_key, uint16_t *ret_port) {
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                         (l->v6 ? MHD_USE_IPv6 : 0) | (tls_cert ? MHD_USE_TLS : 0);
        struct MHD_OptionItem tls[] = {
                { tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *) tls_cert },
                { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *) tls_key },
                { MHD_OPTION_END, 0, NULL },
        };
        const union MHD_DaemonInfo *info;
        struct MHD_Daemon *d;

        d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &l->addr,
                             MHD_OPTION_THREAD_POOL_SIZE, threads,
                             MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                             MHD_OPTION_NOTIFY_CONNECTION, connection_notify, s,
                             MHD_OPTION_ARRAY, tls,
                             MHD_OPTION_END);
        if (!d)
                return -EADDRNOTAVAIL;
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        *ret_port = info ? info->port : 0;
        s->mhd[s->n_mhd++] = d;
        return 0;
}

static void format_url(const Listen *l, uint16_t port, bool tls, char *buf, size_t size) {
        char ip[INET6_ADDRSTRLEN];

        if (l->v6) {
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) &l->addr)->sin6_addr, ip,
                          sizeof(ip));
                (void) snprintf(buf, size, "%s://[%s]:%u", tls ? "https" : "http", ip, port);
        } else {
                inet_ntop(AF_INET, &((const struct sockaddr_in *) &l->addr)->sin_addr, ip, sizeof(ip));
                (void) snprintf(buf, size, "%s://%s:%u", tls ? "https" : "http", ip, port);
        }
}

/* Removes the temporary key store of --dev without --state. */
static void temp_state_remove(const char *dir) {
        static const char *const files[] = { "keys.db", "keys.db-wal", "keys.db-shm",
                                             "keys.db-journal", "master.key" };
        char p[PATH_MAX];

        if (!dir)
                return;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                (void) snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
                (void) unlink(p);
        }
        (void) rmdir(dir);
}

static void server_free(Server *s) {
        for (size_t i = 0; i < s->n_mhd; i++)
                MHD_stop_daemon(s->mhd[i]);
        s->n_mhd = 0;
        snp_trust_free(s->trust);
        X509_STORE_free(s->ak_ca);
        X509_STORE_free(s->ek_ca);
        kds_free(s->kds);
        endorsement_cache_free(s->endorsements);
        fact_cache_free(s->facts);
        key_cache_free(s->key_cache);
        keyring_done(&s->keys);
        key_store_close(s->store);
        s->store = NULL;
        issuer_key_cache_free(s->issuers);
        free(s->public_url);
        temp_state_remove(s->temp_state);
        free(s->temp_state);
        for (size_t i = 0; i < s->n_tenants; i++) {
                Tenant *t = &s->tenants[i];

                for (int j = 0; j < _POLICY_TYPE_MAX; j++) {
                        tenant_policy_done(&t->policy[j]);
                        tenant_policy_done(&t->defaults[j]);
                }
                sk_X509_pop_free(t->policy_certs, X509_free);
                reference_values_free(t->reference);
                free(t->state_dir);
                pthread_rwlock_destroy(&t->lock);
        }
}

/* Waits for SIGTERM/SIGINT, pinging the watchdog and maintaining the keys meanwhile. */
static int run(Server *s) {
        uint64_t watchdog_usec = 0, last_ping = 0;
        struct timespec tick = { .tv_sec = 1 };
        sigset_t set;
        int sig;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        if (sd_watchdog_enabled(false, &watchdog_usec) > 0 && watchdog_usec / 2 < 1000000) {
                tick.tv_sec = 0;
                tick.tv_nsec = (long) (watchdog_usec / 2 * 1000);
        }
        (void) sd_notify(0, "READY=1\nSTATUS=Serving");
        for (;;) {
                sig = sigtimedwait(&set, NULL, &tick);
                if (sig > 0)
                        break;
                keys_maintain(s);
                if (watchdog_usec && now_usec() - last_ping >= watchdog_usec / 2) {
                        (void) sd_notify(0, "WATCHDOG=1");
                        last_ping = now_usec();
                }
        }
        (void) sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        /* MHD_stop_daemon lets requests in progress finish. */
        log_info("Stopping (signal %d): %lu requests, %lu tokens", sig, atomic_load(&s->requests),
                 atomic_load(&s->tokens));
        return EXIT_OK;
}

static void block_signals(void) {
        sigset_t set;

        /* Signals are taken by sigtimedwait() in run(), not by handlers; block them for MHD's
         * threads, which inherit the mask. */
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void server_init(Server *s) {
        /* A verified chain is trusted again for an hour at most (then verified anew, with the
         * CRL then in force); 256 chains cover a fleet's VCEKs at a few TCB versions. */
        if (endorsement_cache_new(256, 3600, &s->endorsements) < 0)
                s->endorsements = NULL; /* every chain is verified every time */
        if (fact_cache_new(1024, &s->facts) < 0)
                s->facts = NULL;
        if (key_cache_new(4096, &s->key_cache) < 0)
                s->key_cache = NULL;
        pthread_mutex_init(&s->nonce_lock, NULL);
        pthread_mutex_init(&s->store_lock, NULL);
        pthread_rwlock_init(&s->keys_lock, NULL);
        nonce_store_init(&s->nonces, NONCE_LIFETIME_USEC);
}

/* The CPUs this process may run on (its affinity, as taskset or systemd's CPUAffinity= set
 * it), else those online: more worker threads than that only take turns on the same CPUs. */
static unsigned cpu_count(void) {
        cpu_set_t set;
        long n;

        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
                return (unsigned) CPU_COUNT(&set);
        n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (unsigned) n : 1;
}

/*
 * Key release from the store in store_dir (created with its master key on first start when
 * create is set: --dev), trusting this service's own tenants (trust_tenants) and the issuers
 * given. Logs; returns an exit code.
 */
static int key_release_setup(Server *s, const char *store_dir, const char *master_spec,
                             bool create, bool trust_tenants, char *const *issuers,
                             size_t n_issuers, unsigned refresh) {
        _cleanup_(secret_freep) Secret *master = NULL;
        Diag d = {};
        int r;

        if (create) {
                r = mkdir_parents(store_dir, 0700);
                if (r < 0) {
                        log_error_errno(r, "Cannot make the key store folder %s: %m", store_dir);
                        return EXIT_UNAVAILABLE;
                }
        }
        r = master_key_load(master_spec, store_dir, create, &master, &d);
        if (r < 0) {
                log_error("Key release: cannot load the master key: %s", diag_text(&d, strerror(-r)));
                return r == -ENOMEM ? EXIT_INTERNAL : EXIT_USAGE;
        }
        if (r > 0)
                log_warning("Key release: made a new master key in %s: a master key kept beside "
                            "the store protects nothing at rest (use MasterKey=credential:NAME)",
                            store_dir);
        r = key_store_open(store_dir, master, &s->store, &d);
        if (r < 0) {
                log_error("Key release: cannot open the key store in %s: %s", store_dir,
                          diag_text(&d, strerror(-r)));
                return r == -EKEYREJECTED ? EXIT_VERIFY : r == -ENOMEM ? EXIT_INTERNAL
                                                                       : EXIT_UNAVAILABLE;
        }
        r = issuer_key_cache_new(issuers, n_issuers, refresh, NULL, &s->issuers, &d);
        if (r < 0) {
                log_error("[KeyRelease] TrustedIssuer=: %s", diag_text(&d, strerror(-r)));
                return r == -ENOMEM ? EXIT_INTERNAL : EXIT_USAGE;
        }
        s->trust_tenants = trust_tenants;
        log_info("Key release at /keys/{name}/release from %s (trusting %s%s%zu other "
                 "issuer%s)", store_dir, trust_tenants ? "this service's tenants" : "",
                 trust_tenants ? " and " : "", n_issuers, n_issuers == 1 ? "" : "s");
        return EXIT_OK;
}

static int serve_config(const char *path) {
        static Server s;
        _cleanup_(freep) uint8_t *text = NULL;
        _cleanup_(freep) char *tls_cert = NULL;
        uint8_t *tls_key = NULL;
        size_t size, tls_key_size = 0;
        VerifierConfig c;
        Listen listens[VCONF_LISTEN_MAX];
        char public_url[URL_MAX] = "";
        bool tls;
        Diag d = {};
        int r;

        if (read_file_or_die(path, CONF_SIZE_MAX, &text, &size) < 0)
                return EXIT_USAGE;
        r = verifier_config_parse((const char *) text, size, path, &c, &d);
        if (r < 0)
                return log_error("%s", diag_text(&d, strerror(-r))), r == -ENOMEM ? EXIT_INTERNAL
                                                                                 : EXIT_USAGE;
        tls = c.tls_certificate;
        for (size_t i = 0; i < c.n_listen; i++) {
                if (parse_listen(c.listen[i], &listens[i]) < 0) {
                        log_error("%s: [Service] Listen=%s is not ADDRESS:PORT", path, c.listen[i]);
                        r = EXIT_USAGE;
                        goto out;
                }
                if (!tls && !listens[i].loopback) {
                        log_error("%s: [Service] Listen=%s: plain HTTP is served on loopback only; "
                                  "configure TLSCertificate= and TLSKey=", path, c.listen[i]);
                        r = EXIT_USAGE;
                        goto out;
                }
        }
        server_init(&s);
        s.keys.token_lifetime = (int64_t) c.token_lifetime;
        s.rotate_every = c.rotate_every;
        s.publish_ahead = c.publish_ahead;
        s.tee = c.tee;
        s.snp_source = (SnpSource) {
                .kind = SNP_SOURCE_AUTO,
                .tsm_report_dir = secure_getenv("CVM_TSM_REPORT_DIR"),
                .sev_guest_path = secure_getenv("CVM_SEV_GUEST_DEVICE"),
        };
        s.leeway = c.leeway;
        r = trust_setup(&s, c.trust_roots, c.n_trust_roots, c.ak_ca, c.n_ak_ca);
        if (r != EXIT_OK)
                goto out;
        s.check_revocation = c.check_revocation;
        {
                KdsConfig kc = {
                        .url = c.kds_url,
                        .cache_dir = c.vcek_cache,
                        .timeout_ms = c.kds_timeout * 1000,
                };

                if (http_global_init() < 0) {
                        r = EXIT_INTERNAL;
                        goto out;
                }
                r = kds_new(&kc, &s.kds, &d);
                if (r < 0) {
                        log_error("%s: [SNP]: %s", path, diag_text(&d, strerror(-r)));
                        r = EXIT_USAGE;
                        goto out;
                }
                if (!c.kds_url)
                        log_info("KDS: offline, VCEKs and CRLs from %s only", c.vcek_cache);
        }
        r = load_ca_store(c.ek_ca, c.n_ek_ca, "EK CA", &s.ek_ca);
        if (r != EXIT_OK)
                goto out;
        for (size_t i = 0; i < c.n_keys; i++) {
                EVP_PKEY *k = NULL;

                if (streq(c.keys[i].key, "ephemeral")) {
                        s.ephemeral = true;
                        r = generate_key(c.keys[i].alg, &k);
                } else
                        r = load_private_key(c.keys[i].key, &k);
                if (r < 0) {
                        r = r == -EBADMSG ? EXIT_MALFORMED : EXIT_USAGE;
                        goto out;
                }
                r = ring_add(&s, k, c.keys[i].alg,
                             c.keys[i].activate ? c.keys[i].activate : (int64_t) i);
                if (r < 0) {
                        EVP_PKEY_free(k);
                        log_error("%s: [SigningKey] #%zu (%s): %s", path, i + 1, c.keys[i].key,
                                  r == -EINVAL  ? "the key does not fit its Algorithm="
                                  : r == -EEXIST ? "the same key or activation time twice"
                                                 : strerror(-r));
                        r = EXIT_USAGE;
                        goto out;
                }
        }
        if (!keyring_signer(&s.keys, time(NULL)))
                log_warning("%s: no signing key is active yet; tokens are refused until one is",
                            path);
        if (tls) {
                uint8_t *buf = NULL;

                if (read_file_or_die(c.tls_certificate, CERT_BUNDLE_MAX, &buf, &size) < 0) {
                        r = EXIT_USAGE;
                        goto out;
                }
                tls_cert = (char *) buf;
                if (read_secret(c.tls_key, &tls_key, &tls_key_size) < 0) {
                        r = EXIT_USAGE;
                        goto out;
                }
                if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
                        log_error("This libmicrohttpd has no TLS support");
                        r = EXIT_UNAVAILABLE;
                        goto out;
                }
        }
        if (c.key_release) {
                _cleanup_(freep) char *store = NULL;

                if (!c.key_store && asprintf(&store, "%s/keys", c.state_directory) < 0) {
                        r = EXIT_INTERNAL;
                        goto out;
                }
                r = key_release_setup(&s, c.key_store ?: store, c.master_key, false,
                                      c.trust_tenants, c.trusted_issuers, c.n_trusted_issuers,
                                      c.issuer_refresh);
                if (r != EXIT_OK)
                        goto out;
        }
        block_signals();
        for (size_t i = 0; i < c.n_listen; i++) {
                uint16_t port;

                r = start_daemon(&s, &listens[i], c.threads ?: cpu_count(), c.request_timeout,
                                 tls_cert, (const char *) tls_key, &port);
                if (r < 0) {
                        log_error("Cannot listen on %s%s", c.listen[i],
                                  tls ? " (or the TLS certificate and key do not go together)" : "");
                        r = EXIT_UNAVAILABLE;
                        goto out;
                }
                {
                        char u[URL_MAX];

                        format_url(&listens[i], port, tls, u, sizeof(u));
                        if (i == 0)
                                memcpy(public_url, u, sizeof(public_url));
                        log_info("Listening on %s (%s)", u, tls ? "TLS" : "plain HTTP, loopback");
                }
        }
        wipe_free(tls_key, tls_key_size);
        tls_key = NULL;
        for (size_t i = 0; i < c.n_tenants; i++) {
                r = tenant_setup(&s, &s.tenants[s.n_tenants++], &c.tenants[i],
                                 c.public_url ?: public_url, c.state_directory);
                if (r != EXIT_OK)
                        goto out;
                log_info("Tenant %s at %s/ (issuer %s, %s mode%s)", s.tenants[i].name,
                         s.tenants[i].path, s.tenants[i].issuer,
                         s.tenants[i].isolated ? "isolated" : "default",
                         s.tenants[i].require_nonce ? ", nonce required" : "");
        }
        if (s.store && !(s.public_url = strdup(c.public_url ?: public_url))) {
                r = EXIT_INTERNAL;
                goto out;
        }
        printf("%s\n", c.public_url ?: public_url);
        fflush(stdout);
        r = run(&s);
out:
        wipe_free(tls_key, tls_key_size);
        server_free(&s);
        verifier_config_done(&c);
        return r;
}

static void help(void) {
        printf("Usage: cvm-verifier serve --config FILE\n"
               "       cvm-verifier serve --dev [--listen 127.0.0.1:PORT] [--trust-root FILE]...\n"
               "                                [--require-nonce] [--policy FILE] [--state DIR]\n"
               "\n"
               "Runs the attestation service. With --config, as FILE says (see cvm-verifier.conf:\n"
               "listen addresses, TLS, signing keys, tenants, policies). With --dev, in development\n"
               "mode: plain HTTP on loopback only, an ephemeral signing key, the issuer is the\n"
               "listen URL, the default policies (SEV-SNP guests that are not debuggable), extra\n"
               "roots only from --trust-root, policy management without credentials.\n"
               "--require-nonce: evidence must carry a nonce from GET /nonce (single use, five\n"
               "minutes). --policy: the SevSnpVm policy, in MAA's policy language.\n"
               "--state DIR: release keys from the key store in DIR (made on first start, with\n"
               "DIR/master.key; keys are managed with `cvm-verifier key ... --state DIR`);\n"
               "without it, from a fresh temporary store removed at exit.\n"
               "Prints the URL on stdout when ready; stops on SIGTERM or SIGINT.\n");
}

static int serve_dev(const char *listen, char *const *roots, size_t n_roots, bool require_nonce,
                     const char *policy_path, const char *state) {
        static Server s;
        TenantConfig tc = {
                .name = (char *) "default",
                .path = (char *) "",
                .require_nonce = require_nonce,
                .policy = { [POLICY_SEVSNPVM] = (char *) policy_path },
        };
        char url[URL_MAX];
        uint16_t port;
        Listen l;
        EVP_PKEY *k = NULL;
        int r;

        if (parse_listen(listen, &l) < 0) {
                log_error("--listen: '%s' is not HOST:PORT", listen);
                return EXIT_USAGE;
        }
        if (!l.loopback) {
                log_error("--listen: development mode listens on loopback only");
                return EXIT_USAGE;
        }
        server_init(&s);
        s.dev = true;
        s.tee = -1;
        s.snp_source = (SnpSource) {
                .kind = SNP_SOURCE_AUTO,
                .tsm_report_dir = secure_getenv("CVM_TSM_REPORT_DIR"),
                .sev_guest_path = secure_getenv("CVM_SEV_GUEST_DEVICE"),
        };
        s.keys.token_lifetime = 8 * 3600; /* MAA's: exp - iat = 28800 in every sample */
        r = trust_setup(&s, roots, n_roots, NULL, 0);
        if (r != EXIT_OK)
                goto out;
        if (generate_key("RS256", &k) < 0 || ring_add(&s, k, "RS256", 0) < 0) {
                EVP_PKEY_free(k);
                log_error("Cannot make the signing key");
                r = EXIT_INTERNAL;
                goto out;
        }
        /* Key release from --state DIR, or from a fresh store removed at exit. */
        if (!state) {
                char tmpl[PATH_MAX];

                (void) snprintf(tmpl, sizeof(tmpl), "%s/cvm-verifier-dev.XXXXXX",
                                secure_getenv("TMPDIR") ?: "/tmp");
                if (!mkdtemp(tmpl) || !(s.temp_state = strdup(tmpl))) {
                        log_error("Cannot make a temporary key store: %m");
                        r = EXIT_INTERNAL;
                        goto out;
                }
                state = s.temp_state;
        }
        r = key_release_setup(&s, state, NULL, true, true, NULL, 0, 60);
        if (r != EXIT_OK)
                goto out;
        block_signals();
        if (start_daemon(&s, &l, cpu_count(), 10, NULL, NULL, &port) < 0) {
                log_error("Cannot listen on %s", listen);
                r = EXIT_UNAVAILABLE;
                goto out;
        }
        format_url(&l, port, false, url, sizeof(url));
        r = tenant_setup(&s, &s.tenants[s.n_tenants++], &tc, url, NULL);
        if (r != EXIT_OK)
                goto out;
        s.tenants[0].open_management = true;
        if (!(s.public_url = strdup(url))) {
                r = EXIT_INTERNAL;
                goto out;
        }
        log_warning("DEVELOPMENT MODE: plain HTTP, an ephemeral signing key, default policies, "
                    "policy management without credentials%s. Never use this to release real "
                    "keys.", n_roots ? ", and extra trusted roots" : "");
        printf("%s\n", url);
        fflush(stdout);
        r = run(&s);
out:
        server_free(&s);
        return r;
}

int serve_main(int argc, char **argv) {
        enum { ARG_DEV = 0x100, ARG_LISTEN, ARG_TRUST_ROOT, ARG_REQUIRE_NONCE, ARG_POLICY,
               ARG_CONFIG, ARG_STATE };
        static const struct option options[] = {
                { "config", required_argument, NULL, ARG_CONFIG },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "dev", no_argument, NULL, ARG_DEV },
                { "require-nonce", no_argument, NULL, ARG_REQUIRE_NONCE },
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "trust-root", required_argument, NULL, ARG_TRUST_ROOT },
                { "state", required_argument, NULL, ARG_STATE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *listen = "127.0.0.1:0", *policy_path = NULL, *config = NULL, *state = NULL;
        char *roots[16];
        size_t n_roots = 0;
        bool dev = false, require_nonce = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CONFIG:
                        config = optarg;
                        break;
                case ARG_DEV:
                        dev = true;
                        break;
                case ARG_LISTEN:
                        listen = optarg;
                        break;
                case ARG_REQUIRE_NONCE:
                        require_nonce = true;
                        break;
                case ARG_POLICY:
                        policy_path = optarg;
                        break;
                case ARG_STATE:
                        state = optarg;
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
        if (optind < argc)
                return log_error("serve: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
        if (dev == !!config) {
                log_error("serve: give --config FILE, or --dev for the development mode");
                return EXIT_USAGE;
        }
        if (config) {
                if (n_roots || require_nonce || policy_path || state)
                        return log_error("serve --config: --trust-root, --require-nonce, --policy "
                                         "and --state are for --dev; the configuration file has "
                                         "TrustRoot=, RequireNonce=, Policy.*= and "
                                         "[KeyRelease] Store="), EXIT_USAGE;
                return serve_config(config);
        }
        return serve_dev(listen, roots, n_roots, require_nonce, policy_path, state);
}
