/* SPDX-License-Identifier: Apache-2.0 */
/* [io] Attest, get the token, release and unwrap the key (agent/unlock-key.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/rand.h>
#include <tss2/tss2_tpm2_types.h>

#include "agent/agent.h"
#include "agent/unlock-key.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/http.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "keyrelease/release-response.h"
#include "vtpm/evidence.h"
#include "vtpm/tpm-device.h"
#include "vtpm/tpm-pcrs.h"

/* The ephemeral key is RSA-2048 (tpm_device_ephemeral_key): the RSA part of a blob wrapped to
 * it is 256 bytes. */
#define EPHEMERAL_KEY_BYTES 256u
#define ATTEST_RESPONSE_MAX (1024u * 1024u)
#define NONCE_RESPONSE_MAX  4096u

static double ms_since(const struct timespec *a) {
        struct timespec b;

        (void) clock_gettime(CLOCK_MONOTONIC, &b);
        return (double) (b.tv_sec - a->tv_sec) * 1e3 + (double) (b.tv_nsec - a->tv_nsec) / 1e6;
}

static void progress(const UnlockSource *s, UnlockStep step, const char *url, TpmDevice *t) {
        if (s->progress)
                s->progress(step, url, t, s->userdata);
}

static void url_join(char *buf, size_t size, const char *base, const char *path) {
        size_t n = strlen(base);

        while (n > 0 && base[n - 1] == '/')
                n--;
        (void) snprintf(buf, size, "%.*s%s", (int) n, base, path);
}

/* A network failure or a 5xx: the next verifier may do better. */
static bool transient(int r, long status) {
        return r < 0 ? r != -ENOMEM && r != -EINVAL : status >= 500;
}

/* The verifier's nonce (GET /nonce: {"nonce": 64 hex digits}), or 32 random bytes when it has
 * none to give (404, another shape). Network failures are returned: the verifier is down. */
static int get_nonce(const char *verifier, const HttpOptions *ho, uint8_t nonce[static 64],
                     size_t *ret_size, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        HttpResponse resp = {};
        char url[1100];
        json_object *v;
        int r;

        url_join(url, sizeof(url), verifier, "/nonce");
        r = http_get(url, &(HttpOptions) { .timeout_ms = ho->timeout_ms, .ca_file = ho->ca_file,
                                           .max_body = NONCE_RESPONSE_MAX },
                     &resp, d);
        if (r < 0 && r != -EFBIG)
                return r;
        if (r >= 0 && resp.status >= 500) {
                r = diag_set(d, -EIO, "GET %s: HTTP status %ld", url, resp.status);
                http_response_done(&resp);
                return r;
        }
        if (r >= 0 && resp.status == 200 &&
            json_parse_capped((const char *) resp.body, resp.size, NONCE_RESPONSE_MAX, 4, &o) >= 0 &&
            json_object_object_get_ex(o, "nonce", &v) && json_object_is_type(v, json_type_string) &&
            json_object_get_string_len(v) == 64 &&
            hex_decode_exact(json_object_get_string(v), nonce, 32) >= 0) {
                http_response_done(&resp);
                *ret_size = 32;
                return 0;
        }
        http_response_done(&resp);
        if (RAND_bytes(nonce, 32) != 1)
                return -EIO;
        *ret_size = 32;
        return 0;
}

/* The verdict of a 4xx from the verifier: MAA's error envelope names it. */
static int attest_refused(const char *url, const HttpResponse *resp, Diag *d) {
        char code[64], message[400];

        (void) release_error_parse((const char *) resp->body, resp->size, code, sizeof(code),
                                   message, sizeof(message));
        return diag_set(d, streq(code, "PolicyEvaluationError") ? -EACCES : -EKEYREJECTED,
                        "%s: HTTP %ld %s: %s", url, resp->status, code[0] ? code : "refused",
                        message[0] ? message : "(no message)");
}

/* One attestation at one verifier: *ret the token. */
static int attest_one(TpmDevice *t, const UnlockSource *s, const char *verifier,
                      const HttpOptions *ho, char **ret, bool *ret_transient,
                      UnlockReport *report, Diag *d) {
        _cleanup_(json_object_putp) json_object *doc = NULL, *body = NULL;
        uint8_t nonce[64] = {};
        size_t nonce_size = 0;
        TpmPcrSet quoted = {}, values = {};
        HttpResponse resp = {};
        struct timespec t0;
        const char *text;
        char url[1100];
        int r;

        *ret_transient = false;
        progress(s, UNLOCK_STEP_EVIDENCE, verifier, t);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = get_nonce(verifier, ho, nonce, &nonce_size, d);
        if (r < 0) {
                *ret_transient = transient(r, 0);
                return r;
        }
        {
                EvidenceParams p = {
                        .mask = s->pcr_mask,
                        .eventlog = s->eventlog ?: secure_getenv("CVM_EVENTLOG") ?: EVENTLOG_DEFAULT,
                        .ak_handle = TPM_AK_HANDLE_AZURE,
                        .ak_type = TPM_AK_RSA_2048,
                        .isolation = "auto",
                        .nonce = nonce,
                        .nonce_size = nonce_size,
                };

                r = evidence_collect(t, &p, &doc, &quoted, &values, d);
                if (r < 0)
                        return r;
        }
        r = evidence_maa_request(doc, &quoted, &values,
                                 s->vcek_chain ?: secure_getenv("CVM_VCEK_CHAIN"), &body, d);
        if (r < 0)
                return r;
        report->evidence_ms += ms_since(&t0);

        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        url_join(url, sizeof(url), verifier, "/attest/AzureGuest");
        progress(s, UNLOCK_STEP_ATTEST, url, t);
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        r = http_request("POST", url, text, strlen(text),
                         &(HttpOptions) { .timeout_ms = ho->timeout_ms, .ca_file = ho->ca_file,
                                          .max_body = ATTEST_RESPONSE_MAX },
                         &resp, d);
        if (r < 0) {
                *ret_transient = transient(r, 0);
                return r;
        }
        if (resp.status != 200) {
                *ret_transient = transient(0, resp.status);
                r = resp.status >= 400 && resp.status < 500
                            ? attest_refused(url, &resp, d)
                            : diag_set(d, -EIO, "%s: HTTP status %ld", url, resp.status);
                http_response_done(&resp);
                return r;
        }
        r = unseal_token(t, resp.body, resp.size, ret, d);
        http_response_done(&resp);
        if (r == -EPERM || r == -EIO)
                return diag_prefix(d, -ESTALE, "the PCRs changed while attesting");
        if (r < 0)
                return r;
        report->attest_ms += ms_since(&t0);
        return 0;
}

static void token_jti(const char *token, char *buf, size_t size) {
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(json_object_putp) json_object *claims = NULL;
        json_object *v;

        buf[0] = '\0';
        if (jws_parse(token, strlen(token), &j, NULL) >= 0 && jws_claims(j, &claims, NULL) >= 0 &&
            json_object_object_get_ex(claims, "jti", &v) && json_object_is_type(v, json_type_string))
                (void) snprintf(buf, size, "%s", json_object_get_string(v));
}

/* POST KEY_URL/release and the key_hsm of the answer. */
static int release(const UnlockSource *s, const char *token, const HttpOptions *ho,
                   KeyHsm **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *body = json_object_new_object();
        HttpResponse resp = {};
        const char *text;
        char url[1100];
        int r;

        if (!body || json_add_string(body, "target", token) < 0 ||
            json_add_string(body, "enc", key_wrap_alg_to_string(s->enc)) < 0)
                return -ENOMEM;
        url_join(url, sizeof(url), s->key_url, "/release");
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        r = http_request("POST", url, text, strlen(text),
                         &(HttpOptions) { .timeout_ms = ho->timeout_ms, .ca_file = ho->ca_file,
                                          .max_body = RELEASE_RESPONSE_MAX },
                         &resp, d);
        if (r == -EFBIG)
                return diag_set(d, -EBADMSG, "%s: the answer is larger than %u bytes", url,
                                RELEASE_RESPONSE_MAX);
        if (r < 0)
                return r;
        if (resp.status != 200) {
                char code[64], message[400];

                (void) release_error_parse((const char *) resp.body, resp.size, code, sizeof(code),
                                           message, sizeof(message));
                r = resp.status == 403   ? -EACCES
                    : resp.status == 401 ? -EKEYREJECTED
                    : resp.status == 404 ? -ENOENT
                    : resp.status >= 500 ? -EIO
                                         : -EKEYREJECTED;
                r = diag_set(d, r, "%s: HTTP %ld %s: %s", url, resp.status,
                             code[0] ? code : "refused", message[0] ? message : "(no message)");
                http_response_done(&resp);
                return r;
        }
        {
                Diag inner = {};

                r = release_response_parse((const char *) resp.body, resp.size, ret, NULL, &inner);
                http_response_done(&resp);
                if (r < 0)
                        return diag_set(d, r, "%s: %s", url, diag_text(&inner, "malformed answer"));
        }
        if ((*ret)->alg != s->enc) {
                *ret = key_hsm_free(*ret);
                return diag_set(d, -EBADMSG, "%s: the key is wrapped with another enc than asked",
                                url);
        }
        return 0;
}

/* The RSA part in the TPM, the AES part with OpenSSL. */
static int unwrap(TpmDevice *t, const KeyHsm *k, Secret **ret, Diag *d) {
        _cleanup_(secret_freep) Secret *aes = NULL;
        const uint8_t *rsa_part, *kwp;
        size_t kwp_size;
        int r;

        r = key_unwrap_split(k->alg, EPHEMERAL_KEY_BYTES, k->ciphertext, k->ciphertext_size,
                             &rsa_part, &kwp, &kwp_size, d);
        if (r < 0)
                return r;
        r = tpm_device_decrypt(t, TPM2_ALG_OAEP, key_wrap_alg_tpm_hash(k->alg), rsa_part,
                               EPHEMERAL_KEY_BYTES, &aes, d);
        if (r == -EPERM)
                return diag_prefix(d, -ESTALE, "the TPM refused to unwrap: the PCRs changed "
                                   "since the attestation");
        if (r < 0)
                return r;
        if (aes->size != KEY_WRAP_AES_KEY_SIZE)
                return diag_set(d, -EKEYREJECTED, "the wrapped AES key is %zu bytes, not %u",
                                aes->size, KEY_WRAP_AES_KEY_SIZE);
        return key_unwrap_aes(aes->data, kwp, kwp_size, ret, d);
}

int unlock_fetch_key(const UnlockSource *s, Secret **ret, UnlockReport *report, Diag *d) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
        _cleanup_(freep) char *token = NULL;
        HttpOptions ho = { .timeout_ms = s->timeout_ms ?: 10000, .ca_file = s->ca_file };
        struct timespec t0;
        int r = -EINVAL;

        *report = (UnlockReport) {};
        if (s->n_verifiers == 0 || !s->key_url)
                return diag_set(d, -EINVAL, "no verifier or no key URL");
        r = tpm_device_open(s->tcti ?: secure_getenv("CVM_TCTI"), &t, d);
        if (r < 0)
                return diag_prefix(d, r == -ENOMEM ? r : -ENODEV, "cannot open the TPM");
        for (size_t i = 0; i < s->n_verifiers; i++) {
                bool next = false;
                Diag vd = {};

                r = attest_one(t, s, s->verifiers[i], &ho, &token, &next, report, &vd);
                if (r >= 0) {
                        report->verifier = s->verifiers[i];
                        break;
                }
                /* A verdict is final; a verifier out of reach passes the turn to the next. The
                 * message is the last verifier's, with how many were tried. */
                if (!next || i + 1 == s->n_verifiers) {
                        if (d)
                                *d = vd;
                        if (next && s->n_verifiers > 1)
                                return diag_prefix(d, r, "none of the %zu verifiers answered; "
                                                   "the last", s->n_verifiers);
                        return r;
                }
        }
        token_jti(token, report->token_jti, sizeof(report->token_jti));

        progress(s, UNLOCK_STEP_RELEASE, s->key_url, t);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = release(s, token, &ho, &k, d);
        if (r < 0)
                return r;
        report->release_ms = ms_since(&t0);
        progress(s, UNLOCK_STEP_UNWRAP, NULL, t);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = unwrap(t, k, ret, d);
        report->unwrap_ms = ms_since(&t0);
        return r;
}
