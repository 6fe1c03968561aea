/* SPDX-License-Identifier: Apache-2.0 */
/* [io] Attest, get the token, release and unwrap the key (agent/unlock-key.h). */
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>
#include <tss2/tss2_tpm2_types.h>

#include "agent/agent-conf.h"
#include "agent/agent.h"
#include "agent/failover.h"
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

static uint64_t boottime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* The verifier's nonce (GET /nonce: {"nonce": 64 hex digits}), or 32 random bytes when it has
 * none to give (404, another shape). Network failures are returned: the verifier is down. */
static int get_nonce(const char *verifier, const HttpOptions *ho, uint8_t nonce[static 64],
                     size_t *ret_size, long *ret_status, Diag *d) {
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
                *ret_status = resp.status;
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

/*
 * One attestation at one verifier: *ret the token, *ret_doc the evidence it was for. *ret_remote
 * says whether a failure was the verifier's (no answer, or an HTTP status: *ret_status, 0 when
 * none came) rather than this machine's (the TPM, the evidence, the unseal).
 */
static int attest_one(TpmDevice *t, const UnlockSource *s, const char *verifier,
                      const HttpOptions *ho, char **ret, json_object **ret_doc,
                      TpmPcrSet *ret_pcrs, bool *ret_remote, long *ret_status,
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

        *ret_remote = false;
        *ret_status = 0;
        progress(s, UNLOCK_STEP_EVIDENCE, verifier, t);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = get_nonce(verifier, ho, nonce, &nonce_size, ret_status, d);
        if (r < 0) {
                *ret_remote = r != -ENOMEM;
                return r;
        }
        {
                EvidenceParams p = {
                        .mask = s->pcr_mask,
                        .eventlog = s->eventlog ?: secure_getenv("CVM_EVENTLOG") ?: EVENTLOG_DEFAULT,
                        .ak_handle = TPM_AK_HANDLE_AZURE,
                        .ak_type = TPM_AK_RSA_2048,
                        .isolation = s->isolation ?: "auto",
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
                *ret_remote = r != -ENOMEM;
                return r;
        }
        if (resp.status != 200) {
                *ret_remote = true;
                *ret_status = resp.status;
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
        *ret_doc = TAKE_PTR(doc);
        *ret_pcrs = values;
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

void unlock_source_from_config(UnlockSource *s, const AgentConfig *c) {
        static const char *const isolation[_AGENT_SNP_SOURCE_MAX] = {
                [AGENT_SNP_SOURCE_AUTO] = "auto",
                [AGENT_SNP_SOURCE_TSM] = "snp",
                [AGENT_SNP_SOURCE_SEV_GUEST] = "snp",
                [AGENT_SNP_SOURCE_AZURE] = "azure",
                [AGENT_SNP_SOURCE_NONE] = "none",
        };

        /* The environment names a TPM, log or chain for tests and debugging: it wins. */
        s->tcti = secure_getenv("CVM_TCTI") ?: c->tcti;
        if (!s->pcr_mask)
                s->pcr_mask = c->pcr_mask;
        s->eventlog = secure_getenv("CVM_EVENTLOG") ?: c->eventlog;
        if (c->snp_source >= 0 && c->snp_source < _AGENT_SNP_SOURCE_MAX)
                s->isolation = isolation[c->snp_source];
        s->vcek_chain = secure_getenv("CVM_VCEK_CHAIN") ?: c->vcek_chain;
        s->ca_file = c->ca_file;
        s->timeout_ms = (unsigned) MIN(c->timeout_usec / 1000, (uint64_t) UINT_MAX);
        s->backoff_usec = c->backoff_usec;
        s->backoff_max_usec = c->backoff_max_usec;
        s->retry_after_usec = c->retry_after_usec;
}

void attest_result_done(AttestResult *r) {
        if (!r)
                return;
        free(r->token);
        json_object_put(r->claims);
        free(r->eventlog);
        *r = (AttestResult) {};
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / 1000000),
                               .tv_nsec = (long) (usec % 1000000) * 1000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Step 1 with failover on t. */
static int attest_failover(TpmDevice *t, const UnlockSource *s, AttestResult *ret,
                           UnlockReport *report, Diag *d) {
        Failover local = {};
        Failover *f = s->health;
        FailoverRun run = {
                .deadline_usec = s->deadline_usec,
                .timeout_usec = (uint64_t) (s->timeout_ms ?: 10000) * 1000,
                .backoff_usec = s->backoff_usec ?: UINT64_C(1000000),
                .backoff_max_usec = s->backoff_max_usec ?: UINT64_C(30000000),
                .max_rounds = s->deadline_usec ? s->max_rounds : (s->max_rounds ?: 1),
                .jitter = FAILOVER_JITTER_FULL,
        };
        uint64_t retry_after = s->retry_after_usec ?: UINT64_C(60000000);
        Diag last = {};
        int r = -EHOSTUNREACH;
        bool tried = false;

        if (!f) {
                r = failover_init(&local, s->verifiers, s->n_verifiers);
                if (r < 0)
                        return diag_set(d, r, "bad verifier list");
                f = &local;
        }
        for (;;) {
                _cleanup_(json_object_putp) json_object *doc = NULL;
                _cleanup_(freep) char *token = NULL;
                uint64_t rnd = 0;
                FailoverOutcome outcome;
                FailoverStep step;
                TpmPcrSet pcrs = {};
                bool remote;
                long status;
                Diag vd = {};
                HttpOptions ho = { .ca_file = s->ca_file };
                const char *url;

                (void) RAND_bytes((uint8_t *) &rnd, sizeof(rnd));
                step = failover_run_next(&run, f, boottime_usec(), rnd);
                if (step.action == FAILOVER_GIVE_UP)
                        break;
                if (step.action == FAILOVER_WAIT) {
                        progress(s, UNLOCK_STEP_BACKOFF, NULL, t);
                        sleep_usec(step.wait_usec);
                        continue;
                }
                url = f->endpoints[step.endpoint].url;
                ho.timeout_ms = (unsigned) MAX(step.timeout_usec / 1000, (uint64_t) 1);
                tried = true;
                r = attest_one(t, s, url, &ho, &token, &doc, &pcrs, &remote, &status, report, &vd);
                if (!remote) {
                        /* A failure of this machine: no verifier will do better. */
                        if (r < 0) {
                                if (d)
                                        *d = vd;
                                return r;
                        }
                }
                /* failover_classify takes the transport's result: 0 once a status came. */
                outcome = r >= 0 ? FAILOVER_SUCCESS : failover_classify(status ? 0 : r, status);
                (void) failover_record(f, step.endpoint, outcome, boottime_usec(), retry_after,
                                       r < 0 ? vd.text : NULL);
                if (r >= 0) {
                        json_object *v;
                        size_t n = 0;

                        for (size_t i = 0; i < s->n_verifiers; i++)
                                if (streq(s->verifiers[i], url))
                                        n = i;
                        report->verifier = s->verifiers[n];
                        *ret = (AttestResult) { .verifier = n, .pcrs = pcrs };
                        if (json_object_object_get_ex(doc, "eventlog", &v) &&
                            base64url_decode(json_object_get_string(v),
                                             (size_t) json_object_get_string_len(v), SIZE_MAX,
                                             &ret->eventlog, &ret->eventlog_size) < 0)
                                return -ENOMEM;
                        ret->token = TAKE_PTR(token);
                        {
                                _cleanup_(jws_freep) Jws *j = NULL;
                                if (jws_parse(ret->token, strlen(ret->token), &j, NULL) >= 0)
                                        (void) jws_claims(j, &ret->claims, NULL);
                        }
                        return 0;
                }
                if (outcome != FAILOVER_FAILURE) {
                        /* The verifier's verdict: final. */
                        if (d)
                                *d = vd;
                        return r;
                }
                last = vd;
        }
        if (d)
                *d = last;
        if (!tried)
                return diag_set(d, -ETIMEDOUT, "no time left to ask a verifier");
        return diag_prefix(d, r, "no verifier answered (%zu tried%s); the last",
                           s->n_verifiers, s->deadline_usec ? " until the deadline" : "");
}

int unlock_attest(const UnlockSource *s, TpmDevice *t, AttestResult *ret, UnlockReport *report,
                  Diag *d) {
        _cleanup_(tpm_device_closep) TpmDevice *own = NULL;
        int r;

        *report = (UnlockReport) {};
        if (s->n_verifiers == 0)
                return diag_set(d, -EINVAL, "no verifier");
        if (!t) {
                r = tpm_device_open(s->tcti ?: secure_getenv("CVM_TCTI"), &own, d);
                if (r < 0)
                        return diag_prefix(d, r == -ENOMEM ? r : -ENODEV, "cannot open the TPM");
                t = own;
        }
        r = attest_failover(t, s, ret, report, d);
        if (r >= 0)
                token_jti(ret->token, report->token_jti, sizeof(report->token_jti));
        return r;
}

int unlock_fetch_key(const UnlockSource *s, Secret **ret, UnlockReport *report, Diag *d) {
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        _cleanup_(key_hsm_freep) KeyHsm *k = NULL;
        _cleanup_(attest_result_done) AttestResult a = {};
        HttpOptions ho = { .timeout_ms = s->timeout_ms ?: 10000, .ca_file = s->ca_file };
        struct timespec t0;
        int r;

        *report = (UnlockReport) {};
        if (s->n_verifiers == 0 || !s->key_url)
                return diag_set(d, -EINVAL, "no verifier or no key URL");
        r = tpm_device_open(s->tcti ?: secure_getenv("CVM_TCTI"), &t, d);
        if (r < 0)
                return diag_prefix(d, r == -ENOMEM ? r : -ENODEV, "cannot open the TPM");
        r = unlock_attest(s, t, &a, report, d);
        if (r < 0)
                return r;

        progress(s, UNLOCK_STEP_RELEASE, s->key_url, t);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = release(s, a.token, &ho, &k, d);
        if (r < 0)
                return r;
        report->release_ms = ms_since(&t0);
        progress(s, UNLOCK_STEP_UNWRAP, NULL, t);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = unwrap(t, k, ret, d);
        report->unwrap_ms = ms_since(&t0);
        return r;
}
