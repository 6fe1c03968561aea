/* SPDX-License-Identifier: Apache-2.0 */
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/appraise-cache.h"
#include "verifier/endorsement-cache.h"
#include "vtpm/credential.h"
#include "vtpm/eventlog.h"
#include "vtpm/hcl-report.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-pcrs.h"

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
        if (!json_object_is_type(t, json_type_string)) {
                free(*ret);
                *ret = NULL;
                return diag_set(d, -EBADMSG, "request: %s.dataType is not a string", key);
        }
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

/* The SNP "report" document ({"SnpReport", "VcekCertChain"}, maa.md §2.2, azure-cvm.md §6.1):
 * the report parsed, its VCEK or VLEK chained to ctx->trust at ctx->now, its signature verified. */
/* Maps an endorsement lookup's failure: nothing to be had is the evidence's problem, anything
 * else the service's (tell the client to come back). */
static int lookup_error(int r, bool evidence_side, const char *what, Diag *d) {
        if (r == -ENOMEM)
                return r;
        if (evidence_side && (r == -ENOENT || r == -EBADMSG))
                return diag_set(d, -ENOKEY, "%s: none to be had", what);
        return diag_set(d, -EAGAIN, "%s: not available now (%s)", what, strerror(-r));
}

/* The CRL in force for product (ctx->crl_lookup), parsed, and its SHA-256. */
static int crl_for(const AppraiseContext *ctx, SnpProduct product, X509_CRL **ret,
                   uint8_t hash[static 32], Diag *d) {
        _cleanup_(freep) uint8_t *der = NULL;
        size_t size;
        int r;

        r = ctx->crl_lookup(ctx->lookup_userdata, product, ctx->now, &der, &size, d);
        if (r < 0)
                return lookup_error(r, false, "AMD's CRL for this product", d);
        if (x509_crl_parse(der, size, ret) < 0)
                return diag_set(d, -EAGAIN, "AMD's CRL for this product: malformed");
        (void) SHA256(der, size, hash);
        return 0;
}

/* Version 2 reports do not name their product; the VCEK's issuer (the ASK or ASVK:
 * "SEV-Milan", "SEV-VLEK-Genoa", ...) does, and the chain check holds it to that. */
static SnpProduct product_of(const SnpReport *rep, X509 *leaf) {
        char cn[64];

        if (rep->product != SNP_PRODUCT_UNKNOWN ||
            x509_common_name(X509_get_issuer_name(leaf), cn, sizeof(cn)) < 0)
                return rep->product;
        return strstr(cn, "Milan")   ? SNP_PRODUCT_MILAN
               : strstr(cn, "Genoa") ? SNP_PRODUCT_GENOA
               : strstr(cn, "Turin") ? SNP_PRODUCT_TURIN
                                     : SNP_PRODUCT_UNKNOWN;
}

static int snp_proof_verify(const AppraiseContext *ctx, json_object *report_doc, SnpReport *ret,
                            Diag *d) {
        _cleanup_(freep) uint8_t *report = NULL, *chain = NULL, *looked_up = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(X509_freep) X509 *fetched = NULL;
        _cleanup_(X509_CRL_freep) X509_CRL *crl = NULL;
        uint8_t key[ENDORSEMENT_CACHE_KEY_SIZE], crl_hash[32], cached_crl_hash[32];
        size_t report_size, chain_size = 0, looked_up_size = 0;
        bool cached_has_crl = false;
        X509 *leaf = NULL;
        SnpReport rep;
        int r;

        r = member_b64(report_doc, "SnpReport", 4096, &report, &report_size, d);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(report_doc, "VcekCertChain", NULL) || !ctx->vcek_lookup) {
                r = member_b64(report_doc, "VcekCertChain", CERT_BUNDLE_MAX, &chain, &chain_size, d);
                if (r < 0)
                        return r;
        }
        r = snp_report_parse(report, report_size, &rep, d);
        if (r < 0)
                return r;
        if (!chain) {
                r = ctx->vcek_lookup(ctx->lookup_userdata, &rep, &looked_up, &looked_up_size, d);
                if (r < 0)
                        return lookup_error(r, true, "the report's VCEK (not in the evidence)", d);
        }

        /* A chain verified before: only the report's signature is left to check (and that the
         * CRL in force is the one the chain was checked against). */
        if (ctx->endorsements) {
                endorsement_cache_key(chain ?: looked_up, chain ? chain_size : looked_up_size, key);
                if (endorsement_cache_get(ctx->endorsements, key, ctx->now, &e, &cached_has_crl,
                                          cached_crl_hash) >= 0) {
                        if (ctx->crl_lookup) {
                                r = crl_for(ctx, e->product, &crl, crl_hash, d);
                                if (r < 0)
                                        return r;
                                if (!cached_has_crl || memcmp(crl_hash, cached_crl_hash, 32) != 0)
                                        e = snp_endorsement_free(e); /* a new CRL: verify again */
                        }
                        if (e)
                                goto report;
                }
        }

        if (chain && x509_parse_bundle(chain, chain_size, &certs) < 0)
                return diag_set(d, -EBADMSG, "request: VcekCertChain is not PEM certificates");
        for (int i = 0; certs && i < sk_X509_num(certs) && !leaf; i++) {
                char cn[64];
                X509 *x = sk_X509_value(certs, i);
                if (x509_common_name(X509_get_subject_name(x), cn, sizeof(cn)) >= 0 &&
                    (streq(cn, "SEV-VCEK") || streq(cn, "SEV-VLEK")))
                        leaf = x;
        }
        if (looked_up) {
                const unsigned char *p = looked_up;

                fetched = d2i_X509(NULL, &p, (long) looked_up_size);
                if (!fetched)
                        return diag_set(d, -ENOKEY, "the report's VCEK: not a certificate");
                leaf = fetched;
        }
        if (!leaf)
                return diag_set(d, -ENOKEY, "request: VcekCertChain holds no VCEK or VLEK");
        if (ctx->crl_lookup && !crl) {
                r = crl_for(ctx, product_of(&rep, leaf), &crl, crl_hash, d);
                if (r < 0)
                        return r;
        }
        r = snp_endorsement_verify(ctx->trust, leaf, certs, crl, ctx->now, &e, d);
        if (r < 0)
                return r;
        if (ctx->endorsements &&
            endorsement_cache_put(ctx->endorsements, key, crl ? crl_hash : NULL, ctx->now, e) < 0)
                return -ENOMEM;
report:
        r = snp_report_verify(e, &rep, report, report_size, d);
        if (r < 0)
                return r;
        *ret = rep;
        return 0;
}

/* SHA-256 of data is REPORT_DATA[0, 32) and REPORT_DATA[32, 64) is zero (maa.md §2.1). */
static int report_data_check(const SnpReport *rep, const uint8_t *data, size_t size,
                             const char *what, Diag *d) {
        uint8_t digest[32];

        if (!EVP_Digest(data, size, digest, NULL, EVP_sha256(), NULL))
                return -ENOMEM;
        if (memcmp(digest, rep->report_data, 32) != 0 || !memeqzero(rep->report_data + 32, 32))
                return diag_set(d, -EXDEV, "%s: its SHA-256 is not REPORT_DATA", what);
        return 0;
}

/* Every x-ms-sevsnpvm-* claim of rep into claims (snp_report_to_json carries MAA's names). */
static int snp_claims_add(const SnpReport *rep, json_object *claims) {
        _cleanup_(json_object_putp) json_object *rj = NULL;

        if (snp_report_to_json(rep, &rj) < 0)
                return -ENOMEM;
        json_object_object_foreach(rj, key, val)
                if (strncmp(key, "x-ms-sevsnpvm-", 14) == 0 &&
                    json_add(claims, key, json_object_get(val)) < 0)
                        return -ENOMEM;
        return 0;
}

int appraise_sevsnpvm(const AppraiseContext *ctx, const char *body, size_t size,
                      json_object **ret_claims, Diag *d) {
        _cleanup_(json_object_putp) json_object *req = NULL, *report_doc = NULL, *claims = NULL,
                                                *rt_json = NULL, *it_json = NULL;
        _cleanup_(freep) uint8_t *report_json = NULL, *rt = NULL, *it = NULL;
        size_t report_json_size, rt_size = 0, it_size = 0;
        uint8_t digest[32];
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
        r = snp_proof_verify(ctx, report_doc, &rep, d);
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
                r = report_data_check(&rep, rt, rt_size, "runtimeData", d);
                if (r < 0)
                        return r;
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
        if (!claims || snp_claims_add(&rep, claims) < 0)
                return -ENOMEM;
        /* A nonce inside the runtime data is covered by REPORT_DATA: the only one that proves
         * freshness (the request's top-level "nonce" is copied into the token, not bound). */
        if (ctx->bound_nonce) {
                json_object *bn;
                ctx->bound_nonce[0] = '\0';
                if (rt_json && json_object_object_get_ex(rt_json, "nonce", &bn) &&
                    json_object_is_type(bn, json_type_string) &&
                    strlen(json_object_get_string(bn)) < APPRAISE_NONCE_MAX)
                        (void) snprintf(ctx->bound_nonce, APPRAISE_NONCE_MAX, "%s",
                                        json_object_get_string(bn));
        }
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

/* ---- Shared TPM checks (also what `check evidence` does) ---- */

int appraise_quoted_pcrs(const TPMS_ATTEST *attest, const TpmPcrSet *pcrs, TpmPcrSet *ret) {
        TpmPcrSet quoted;

        tpm_quote_selection(attest, &quoted);
        for (size_t b = 0; b < quoted.n_banks; b++) {
                const TpmPcrBank *src = tpm_pcr_set_bank(pcrs, quoted.banks[b].alg);
                uint32_t m = quoted.banks[b].mask;

                if (!src)
                        return -EXDEV;
                quoted.banks[b] = *src;
                quoted.banks[b].mask = m;
        }
        *ret = quoted;
        return 0;
}

int appraise_eventlog_check(const EventLog *log, const TpmPcrSet *quoted,
                            json_object **ret_verdicts, Diag *d) {
        _cleanup_(json_object_putp) json_object *verdicts = NULL;
        TpmPcrBank replays[TPM_MAX_BANKS];
        int replayed[TPM_MAX_BANKS];
        bool compare = ret_verdicts != NULL;
        int n = 0;

        /* Each quoted bank replayed once. eventlog_compare (which replays again, and knows the
         * Exit Boot Services workaround) is asked only for verdicts, or when a replayed PCR
         * differs from its quoted value or a replay failed for a reason of ours: otherwise it
         * would find no mismatch, since it compares the same replays with the same values. */
        for (size_t b = 0; b < quoted->n_banks; b++) {
                const TpmPcrBank *q = &quoted->banks[b];

                replayed[b] = eventlog_replay(log, q->alg, &replays[b]);
                if (replayed[b] < 0) {
                        if (replayed[b] != -ENOENT && replayed[b] != -EOPNOTSUPP &&
                            replayed[b] != -ENODATA)
                                compare = true;
                        continue;
                }
                for (unsigned i = 0; i < TPM_PCR_COUNT; i++)
                        if ((q->mask & replays[b].mask & (UINT32_C(1) << i)) &&
                            memcmp(replays[b].value[i], q->value[i], q->size) != 0)
                                compare = true;
        }
        if (compare) {
                n = eventlog_compare(log, quoted, &verdicts);
                if (n < 0)
                        return diag_set(d, n, "event log: cannot compare with the quoted PCRs");
        }
        /* A quoted PCR the firmware log never extends must still hold its reset value (zero; all
         * 0xFF for the DRTM PCRs 17..22): otherwise something extended it that the log does not
         * explain. */
        for (size_t b = 0; b < quoted->n_banks; b++) {
                const TpmPcrBank *q = &quoted->banks[b], *replay = &replays[b];

                /* Fail closed: a log that cannot be replayed in the quoted bank explains
                 * nothing, and nothing may be derived from it (secure boot state, ...). */
                if (replayed[b] < 0)
                        return diag_set(d, -EXDEV, "event log: no %s digests to replay, so it "
                                        "cannot explain the quoted PCRs",
                                        tpm_alg_hash_name(q->alg) ?: "quoted-bank");
                for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
                        bool reset, ff = true, in_log = replay->mask & (UINT32_C(1) << i);

                        if (!(q->mask & (UINT32_C(1) << i)))
                                continue;
                        if (in_log) {
                                if (n > 0 && memcmp(replay->value[i], q->value[i], q->size) != 0)
                                        return diag_set(d, -EXDEV, "%s PCR %u differs from the "
                                                        "event log's replay",
                                                        tpm_alg_hash_name(q->alg), i);
                                continue;
                        }
                        /* The replay holds the reset value of a PCR it never extends. */
                        reset = memcmp(q->value[i], replay->value[i], q->size) == 0;
                        for (size_t j = 0; j < q->size; j++)
                                ff = ff && q->value[i][j] == 0xFF;
                        if (!reset && !(ff && i >= 17 && i <= 22))
                                return diag_set(d, -EXDEV, "%s PCR %u was extended, but the event "
                                                "log has no events for it",
                                                tpm_alg_hash_name(q->alg), i);
                }
        }
        if (n > 0)
                return diag_set(d, -EXDEV, "%d quoted PCRs differ from the event log's replay", n);
        if (ret_verdicts)
                *ret_verdicts = TAKE_PTR(verdicts);
        return 0;
}

/* The checks of appraise_certified_key on a key already decoded from its TPM public area. */
static int certified_key_check(EVP_PKEY *ak, const TPMT_PUBLIC *tpub, const uint8_t *info,
                               size_t info_size, const uint8_t *sig_bytes, size_t sig_size,
                               const uint8_t *nonce, size_t nonce_size,
                               const TpmPcrSet *policy_pcrs, Diag *d) {
        TPMT_SIGNATURE sig;
        TPMS_ATTEST a;
        TPM2B_NAME name;
        bool bare;
        int r;

        r = tpm_signature_parse(sig_bytes, sig_size, ak, TPM_ALG_SHA256, &sig, &bare, d);
        if (r >= 0)
                r = tpm_attest_parse(info, info_size, &a, d);
        if (r < 0)
                return r;
        if (a.type != TPM2_ST_ATTEST_CERTIFY)
                return diag_set(d, -EBADMSG, "encryption key: its certify info is not a "
                                "TPM_ST_ATTEST_CERTIFY");
        r = tpm_signature_verify(ak, &sig, info, info_size, d);
        if (r < 0)
                return diag_set(d, r, "encryption key: its certification is not signed by the AK");
        if (tpm_public_name(tpub, &name) < 0)
                return diag_set(d, -EBADMSG, "encryption key: cannot compute its name");
        if (name.size != a.attested.certify.name.size ||
            memcmp(name.name, a.attested.certify.name.name, name.size) != 0)
                return diag_set(d, -EXDEV, "encryption key: the AK certified another key");
        if (nonce && (a.extraData.size != nonce_size ||
                      memcmp(a.extraData.buffer, nonce, nonce_size) != 0))
                return diag_set(d, -ESTALE, "encryption key: certified with another nonce");
        if (tpub->type != TPM2_ALG_RSA ||
            (tpub->objectAttributes & (TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED)) ||
            !(tpub->objectAttributes & TPMA_OBJECT_DECRYPT) ||
            !(tpub->objectAttributes & TPMA_OBJECT_FIXEDTPM) ||
            (tpub->objectAttributes & TPMA_OBJECT_USERWITHAUTH) || tpub->authPolicy.size == 0)
                return diag_set(d, -EXDEV, "encryption key: not a fixedTPM decrypt-only key "
                                "bound to a policy");
        /* Its policy must be PolicyPCR over exactly the quoted PCRs and values: then the TPM
         * decrypts only while the attested state holds. */
        {
                uint8_t want[TPM_DIGEST_MAX];
                size_t want_size;

                if (tpm_policy_pcr_digest(tpub->nameAlg, policy_pcrs, want, &want_size) < 0)
                        return diag_set(d, -EXDEV, "encryption key: unsupported nameAlg");
                if (want_size != tpub->authPolicy.size ||
                    memcmp(want, tpub->authPolicy.buffer, want_size) != 0)
                        return diag_set(d, -EXDEV, "encryption key: its authPolicy is not "
                                        "PolicyPCR over the quoted PCRs");
        }
        return 0;
}

/* An encryption key's TPM public area decoded (tpm_ak_load: only a TPM public area will do). */
static int certified_key_load(const uint8_t *pub, size_t pub_size, EVP_PKEY **ret_key,
                              TPMT_PUBLIC *ret_public, Diag *d) {
        bool has;
        int r;

        r = tpm_ak_load(pub, pub_size, ret_key, ret_public, &has, d);
        if (r >= 0 && !has) {
                EVP_PKEY_free(*ret_key);
                *ret_key = NULL;
                r = diag_set(d, -EBADMSG, "encryption key: not a TPM public area");
        }
        return r;
}

int appraise_certified_key(EVP_PKEY *ak, const uint8_t *pub, size_t pub_size, const uint8_t *info,
                           size_t info_size, const uint8_t *sig_bytes, size_t sig_size,
                           const uint8_t *nonce, size_t nonce_size, const TpmPcrSet *policy_pcrs,
                           EVP_PKEY **ret_key, Diag *d) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        TPMT_PUBLIC tpub;
        int r;

        r = certified_key_load(pub, pub_size, &key, &tpub, d);
        if (r >= 0)
                r = certified_key_check(ak, &tpub, info, info_size, sig_bytes, sig_size, nonce,
                                        nonce_size, policy_pcrs, d);
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* ---- POST /attest/AzureGuest ---- */

#define ATTESTATION_INFO_MAX (APPRAISE_BODY_MAX)
#define RUNTIME_CLAIMS_MAX (64u * 1024u)

/* A standard base64 (or base64url) string member: -ENOENT when absent. */
static int opt_b64(json_object *o, const char *where, const char *key, size_t max, uint8_t **ret,
                   size_t *ret_size, Diag *d) {
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "%s%s is not a string", where, key);
        s = json_object_get_string(v);
        if (base64url_decode(s, strlen(s), max, ret, ret_size) < 0)
                return diag_set(d, -EBADMSG, "%s%s is not base64 (or too large)",
                                where, key);
        return 0;
}

static int need_b64(json_object *o, const char *where, const char *key, size_t max,
                    uint8_t **ret, size_t *ret_size, Diag *d) {
        int r = opt_b64(o, where, key, max, ret, ret_size, d);
        return r == -ENOENT ? diag_set(d, -EBADMSG, "%s%s is missing", where, key)
                            : r;
}

/* OSType, OSDistro, OSBuild: base64 of text; the claim is the text (absent when the member is). */
static int os_text_claim(json_object *info, const char *key, json_object *claims,
                         const char *claim, char **ret_text, Diag *d) {
        _cleanup_(freep) uint8_t *t = NULL;
        size_t n;
        int r;

        r = opt_b64(info, "AttestationInfo: ", key, 1024, &t, &n, d);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (memchr(t, 0, n))
                return diag_set(d, -EBADMSG, "AttestationInfo: %s is not text", key);
        if (json_add_string(claims, claim, (const char *) t) < 0)
                return -ENOMEM;
        if (ret_text)
                *ret_text = (char *) TAKE_PTR(t);
        return 0;
}

/* OSVersionMajor/Minor: a number, or a decimal string (the Python client). */
static int os_number_claim(json_object *info, const char *key, json_object *claims,
                           const char *claim, Diag *d) {
        json_object *v;
        uint32_t u;

        if (!json_object_object_get_ex(info, key, &v))
                return 0;
        if (json_object_is_type(v, json_type_int)) {
                int64_t i = json_object_get_int64(v);
                if (i < 0 || i > UINT32_MAX)
                        return diag_set(d, -EBADMSG, "AttestationInfo: %s is out of range", key);
                u = (uint32_t) i;
        } else if (!json_object_is_type(v, json_type_string) ||
                   safe_atou32(json_object_get_string(v), &u) < 0)
                return diag_set(d, -EBADMSG, "AttestationInfo: %s is not a number", key);
        return json_add_int(claims, claim, u);
}

/* `secureboot` from the replayed (so authenticated) log: the last EV_EFI_VARIABLE_DRIVER_CONFIG
 * event on PCR 7 measuring SecureBoot (EFI global variable) with one byte of data. Absent when
 * the log has no such event. */

/* IsolationInfo of Type SevSnp: the SNP chain, REPORT_DATA = SHA-256(RunTimeData), HCLAkPub in
 * the runtime claims = the AK. Adds x-ms-isolation-tee. */
static int isolation_sevsnp(const AppraiseContext *ctx, json_object *iso, EVP_PKEY *ak,
                            const uint8_t *ak_bytes, size_t ak_size, json_object *claims,
                            Diag *d) {
        _cleanup_(json_object_putp) json_object *proof_doc = NULL, *rt_json = NULL, *tee = NULL;
        _cleanup_(freep) uint8_t *proof = NULL, *rt = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *hcl_ak = NULL;
        uint8_t fact[32];
        size_t proof_size, rt_size;
        json_object *ev;
        SnpReport rep;
        int r;

        if (!json_object_object_get_ex(iso, "Evidence", &ev) ||
            !json_object_is_type(ev, json_type_object))
                return diag_set(d, -EBADMSG, "AttestationInfo: IsolationInfo.Evidence is missing "
                                "or not an object");
        r = need_b64(ev, "AttestationInfo: IsolationInfo.Evidence.", "Proof", REPORT_JSON_MAX, &proof, &proof_size, d);
        if (r >= 0)
                r = need_b64(ev, "AttestationInfo: IsolationInfo.Evidence.", "RunTimeData", RUNTIME_CLAIMS_MAX, &rt,
                             &rt_size, d);
        if (r < 0)
                return r;
        if (json_parse_capped((const char *) proof, proof_size, REPORT_JSON_MAX, 8, &proof_doc) < 0 ||
            !json_object_is_type(proof_doc, json_type_object))
                return diag_set(d, -EBADMSG, "AttestationInfo: IsolationInfo.Evidence.Proof does "
                                "not decode to a JSON object");
        r = snp_proof_verify(ctx, proof_doc, &rep, d);
        if (r >= 0)
                r = report_data_check(&rep, rt, rt_size, "IsolationInfo.Evidence.RunTimeData", d);
        if (r < 0)
                return r;
        if (json_parse_capped((const char *) rt, rt_size, RUNTIME_CLAIMS_MAX, 8, &rt_json) < 0 ||
            !json_object_is_type(rt_json, json_type_object))
                return diag_set(d, -EBADMSG, "AttestationInfo: IsolationInfo.Evidence.RunTimeData "
                                "is not a JSON object");
        /* That these runtime claims name this AikPub is a fact about the two byte strings:
         * decoding the JWK and comparing keys is done once for them. */
        if (ctx->facts)
                fact_cache_key("RunTimeData HCLAkPub is AikPub", rt, rt_size, ak_bytes, ak_size,
                               fact);
        if (!ctx->facts || !fact_cache_has(ctx->facts, fact)) {
                r = hcl_claims_key(rt_json, "HCLAkPub", &hcl_ak, d);
                if (r < 0)
                        return r;
                if (!pkey_equal(hcl_ak, ak))
                        return diag_set(d, -EXDEV, "the AK in the runtime claims (HCLAkPub) is "
                                        "not the AK that signed the quote");
                if (ctx->facts)
                        fact_cache_add(ctx->facts, fact);
        }
        tee = json_object_new_object();
        if (!tee || snp_claims_add(&rep, tee) < 0 ||
            json_add_string(tee, "x-ms-attestation-type", "sevsnpvm") < 0 ||
            json_add(tee, "x-ms-runtime", TAKE_PTR(rt_json)) < 0 ||
            json_add(claims, "x-ms-isolation-tee", TAKE_PTR(tee)) < 0)
                return -ENOMEM;
        return 0;
}

/* TpmInfo's AikCert (optional): DER, certifying the AK. Its issuer is not checked here. */
void appraise_strip_incoming(json_object *claims) {
        json_object_object_del(claims, "pcrs");
        json_object_object_del(claims, "events");
}

/* Standard base64 without padding (MAA's ProcessedData.VariableData: "AQ" for 0x01). */
static int b64_nopad(const uint8_t *p, size_t n, json_object *o, const char *key) {
        _cleanup_(freep) char *s = malloc(4 * ((n + 2) / 3) + 1);
        size_t len;

        if (!s)
                return -ENOMEM;
        (void) EVP_EncodeBlock((unsigned char *) s, p, (int) n);
        len = strlen(s);
        while (len > 0 && s[len - 1] == '=')
                s[--len] = '\0';
        return json_add_string(o, key, s);
}

/* "pcrs" for the policy: {"PCRs": [{"Index", "Digests": {"SHA1"?, "SHA256"?}}]} of the quoted
 * PCRs, lowercase hex (the form MAA's TPM policies query with JmesPath). */
static int pcrs_claim(const TpmPcrSet *quoted, json_object *claims) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *arr = json_object_new_array();

        if (!o || !arr || json_add(o, "PCRs", arr) < 0)
                return -ENOMEM;
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
                json_object *e = NULL, *dg = NULL;

                for (size_t b = 0; b < quoted->n_banks; b++) {
                        const TpmPcrBank *bank = &quoted->banks[b];
                        const char *name = bank->alg == TPM_ALG_SHA1     ? "SHA1"
                                           : bank->alg == TPM_ALG_SHA256 ? "SHA256"
                                           : bank->alg == TPM_ALG_SHA384 ? "SHA384"
                                                                         : NULL;

                        if (!name || !(bank->mask & (UINT32_C(1) << i)))
                                continue;
                        if (!e) {
                                e = json_object_new_object();
                                dg = json_object_new_object();
                                if (!e || !dg || json_object_array_add(arr, e) < 0 ||
                                    json_add_int(e, "Index", i) < 0 || json_add(e, "Digests", dg) < 0)
                                        return -ENOMEM;
                        }
                        if (json_add_hex(dg, name, bank->value[i], bank->size) < 0)
                                return -ENOMEM;
                }
        }
        return json_add(claims, "pcrs", TAKE_PTR(o));
}

/* A UEFI_VARIABLE_DATA (GUID, UINT64 name length in characters, UINT64 data length, UTF-16LE
 * name, data), or false when the event data is not exactly one. */
typedef struct EfiVariable {
        const uint8_t *guid; /* 16 bytes, EFI_GUID byte order */
        char name[128];      /* ASCII of the name; other characters as '?' */
        const uint8_t *data;
        size_t data_size;
} EfiVariable;

static bool efi_variable(const TcgEvent *e, EfiVariable *ret) {
        uint64_t nl = 0, dl = 0;

        if (e->data_size < 32)
                return false;
        for (int b = 0; b < 8; b++) {
                nl |= (uint64_t) e->data[16 + b] << (8 * b);
                dl |= (uint64_t) e->data[24 + b] << (8 * b);
        }
        if (nl >= sizeof(ret->name) || dl > e->data_size || 32 + 2 * nl + dl != e->data_size)
                return false;
        ret->guid = e->data;
        for (uint64_t c = 0; c < nl; c++) {
                uint16_t u = (uint16_t) (e->data[32 + 2 * c] | e->data[33 + 2 * c] << 8);
                ret->name[c] = u >= 0x20 && u < 0x7f ? (char) u : '?';
        }
        ret->name[nl] = '\0';
        ret->data = e->data + 32 + 2 * nl;
        ret->data_size = (size_t) dl;
        return true;
}

static void guid_format(const uint8_t g[16], char out[37]) {
        (void) snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11],
                        g[12], g[13], g[14], g[15]);
}

/*
 * From the event log, in one pass over the parsed events (no decoding beyond what is needed):
 *  - "secureboot": the SecureBoot variable (EFI global GUID) measured into PCR 7, its last value
 *    (absent when the log has none);
 *  - "events" for the policy, in the shape MAA gives its parsed TCG log: {"Events": [{"EventSeq",
 *    "PcrIndex", "EventTypeString", "Digests": {"SHA256": hex, ...}, "ProcessedData":
 *    {"VariableGuid" (uppercase), "UnicodeName", "VariableData" (base64)} for EFI variable
 *    events}]}.
 */
static int eventlog_claims(const EventLog *log, bool with_events, json_object *claims) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *arr = json_object_new_array_ext((int) log->n_events);
        int secureboot = -1;

        if (!o || !arr || json_add(o, "Events", arr) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < log->n_events; i++) {
                if (!with_events) {
                        /* Only the SecureBoot variable is wanted. */
                        const TcgEvent *e = &log->events[i];
                        EfiVariable var;
                        char guid[37];

                        if (e->type == EV_EFI_VARIABLE_DRIVER_CONFIG && e->pcr == 7 &&
                            efi_variable(e, &var) && streq(var.name, "SecureBoot") &&
                            var.data_size == 1) {
                                guid_format(var.guid, guid);
                                if (streq(guid, "8BE4DF61-93CA-11D2-AA0D-00E098032B8C"))
                                        secureboot = var.data[0] != 0;
                        }
                        continue;
                }
                const TcgEvent *e = &log->events[i];
                json_object *n = json_object_new_object(), *dg;
                const char *type = eventlog_type_to_string(e->type);
                char type_buf[16];
                EfiVariable var;

                if (!n || json_object_array_add(arr, n) < 0)
                        return -ENOMEM;
                if (!type) {
                        (void) snprintf(type_buf, sizeof(type_buf), "0x%08x", e->type);
                        type = type_buf;
                }
                dg = json_object_new_object();
                if (json_add_int(n, "EventSeq", (int64_t) i) < 0 ||
                    json_add_int(n, "PcrIndex", e->pcr) < 0 ||
                    json_add_string(n, "EventTypeString", type) < 0 || !dg ||
                    json_add(n, "Digests", dg) < 0)
                        return -ENOMEM;
                for (size_t k = 0; k < e->n_digests; k++) {
                        const char *name = e->digests[k].alg == TPM_ALG_SHA1     ? "SHA1"
                                           : e->digests[k].alg == TPM_ALG_SHA256 ? "SHA256"
                                           : e->digests[k].alg == TPM_ALG_SHA384 ? "SHA384"
                                           : e->digests[k].alg == TPM_ALG_SHA512 ? "SHA512"
                                                                                 : NULL;
                        if (name && json_add_hex(dg, name, e->digests[k].digest, e->digests[k].size) < 0)
                                return -ENOMEM;
                }
                if ((e->type != EV_EFI_VARIABLE_DRIVER_CONFIG && e->type != EV_EFI_VARIABLE_BOOT &&
                     e->type != EV_EFI_VARIABLE_AUTHORITY && e->type != EV_EFI_VARIABLE_BOOT2) ||
                    !efi_variable(e, &var))
                        continue;
                {
                        json_object *pd = json_object_new_object();
                        char guid[37];

                        guid_format(var.guid, guid);
                        if (!pd || json_add(n, "ProcessedData", pd) < 0 ||
                            json_add_string(pd, "VariableGuid", guid) < 0 ||
                            json_add_string(pd, "UnicodeName", var.name) < 0 ||
                            b64_nopad(var.data, var.data_size, pd, "VariableData") < 0)
                                return -ENOMEM;
                        if (e->type == EV_EFI_VARIABLE_DRIVER_CONFIG && e->pcr == 7 &&
                            streq(var.name, "SecureBoot") && var.data_size == 1 &&
                            streq(guid, "8BE4DF61-93CA-11D2-AA0D-00E098032B8C"))
                                secureboot = var.data[0] != 0;
                }
        }
        if (secureboot >= 0 && json_add_bool(claims, "secureboot", secureboot) < 0)
                return -ENOMEM;
        return with_events ? json_add(claims, "events", TAKE_PTR(o)) : 0;
}

/* Verifies leaf (with untrusted intermediates) against store at now; the reason in *ret_error. */
static bool chain_verifies(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted, time_t now,
                           int *ret_error) {
        X509_STORE_CTX *sc = X509_STORE_CTX_new();
        int ok = 0;

        *ret_error = X509_V_ERR_OUT_OF_MEM;
        if (!sc)
                return false;
        if (X509_STORE_CTX_init(sc, store, leaf, untrusted)) {
                X509_STORE_CTX_set_time(sc, 0, now);
                ok = X509_verify_cert(sc);
                *ret_error = X509_STORE_CTX_get_error(sc);
        }
        X509_STORE_CTX_free(sc);
        return ok == 1;
}

/* Trusted launch: the AK is vouched for by AikCert chaining to a configured AK CA, or by a
 * credential activated for it (the quote's extraData). *ret_by says which. */
static int ak_vouch_trusted_launch(const AppraiseContext *ctx, json_object *tpm,
                                   const TPMT_PUBLIC *ak_public, const TPMS_ATTEST *attest,
                                   const char **ret_by, Diag *d) {
        _cleanup_(freep) uint8_t *der = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        char why[160] = "";
        size_t size;
        int r, err;

        if (ctx->ak_ca) {
                r = opt_b64(tpm, "AttestationInfo: TpmInfo.", "AikCert", 64 * 1024, &der, &size, d);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == -ENOENT)
                        (void) snprintf(why, sizeof(why), "no TpmInfo.AikCert");
                else if (x509_parse_bundle(der, size, &certs) < 0)
                        return diag_set(d, -EBADMSG, "AttestationInfo: TpmInfo.AikCert is not a "
                                        "certificate");
                else if (chain_verifies(ctx->ak_ca, sk_X509_value(certs, 0), certs, ctx->now, &err)) {
                        *ret_by = "ak-ca";
                        return 0;
                } else
                        (void) snprintf(why, sizeof(why), "TpmInfo.AikCert does not chain to a "
                                        "configured AK certificate authority: %s",
                                        X509_verify_cert_error_string(err));
        }
        if (ctx->ak_activated && ak_public) {
                TPM2B_NAME name;

                if (tpm_public_name(ak_public, &name) < 0)
                        return -ENOMEM;
                if (attest->extraData.size > 0 &&
                    ctx->ak_activated(ctx->activation_userdata, name.name, name.size,
                                      attest->extraData.buffer, attest->extraData.size)) {
                        *ret_by = "ek-chain";
                        return 0;
                }
                if (!why[0] || !ctx->ak_ca)
                        (void) snprintf(why, sizeof(why), "the quote's nonce is not the secret of "
                                        "a live credential activated for this AK");
        }
        if (!ctx->ak_ca && !ctx->ak_activated)
                return diag_set(d, -ENOKEY, "TrustedLaunch: nothing vouches for the AK (no AK "
                                "certificate authority or EK certificate authority is configured, "
                                "and there is no SEV-SNP report)");
        if (!ctx->ak_ca && !ak_public)
                return diag_set(d, -ENOKEY, "TrustedLaunch: credential activation needs AikPub "
                                "as a TPM2B_PUBLIC (its name)");
        return diag_set(d, -ENOKEY, "TrustedLaunch: nothing vouches for the AK: %s", why);
}

int appraise_credential_request(const AppraiseContext *ctx, const char *body, size_t size,
                                uint8_t **ret_ek_public, size_t *ret_ek_size, TPM2B_NAME *ret_ak_name,
                                Diag *d) {
        _cleanup_(json_object_putp) json_object *req = NULL;
        _cleanup_(freep) uint8_t *cert_bytes = NULL, *ek_bytes = NULL, *ak_bytes = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *certs = NULL;
        size_t cert_size, ek_size, ak_size;
        int r, err;

        if (size > APPRAISE_BODY_MAX)
                return diag_set(d, -E2BIG, "request: %zu bytes, at most %u", size, APPRAISE_BODY_MAX);
        if (json_parse_capped(body, size, APPRAISE_BODY_MAX, 8, &req) < 0 ||
            !json_object_is_type(req, json_type_object))
                return diag_set(d, -EBADMSG, "request: not a JSON object");
        r = need_b64(req, "request: ", "EkCert", 64 * 1024, &cert_bytes, &cert_size, d);
        if (r >= 0)
                r = need_b64(req, "request: ", "EkPub", TPM_PUBLIC_MAX_SIZE, &ek_bytes, &ek_size, d);
        if (r >= 0)
                r = need_b64(req, "request: ", "AikPub", TPM_PUBLIC_MAX_SIZE, &ak_bytes, &ak_size, d);
        if (r < 0)
                return r;
        if (x509_parse_bundle(cert_bytes, cert_size, &certs) < 0)
                return diag_set(d, -EBADMSG, "request: EkCert is not a certificate");
        if (!ctx->ek_ca)
                return diag_set(d, -ENOKEY, "no EK certificate authority is configured");
        if (!chain_verifies(ctx->ek_ca, sk_X509_value(certs, 0), certs, ctx->now, &err))
                return diag_set(d, -ENOKEY, "EkCert does not chain to a configured EK certificate "
                                "authority: %s", X509_verify_cert_error_string(err));
        r = tpm_ek_public_matches_certificate(ek_bytes, ek_size, sk_X509_value(certs, 0));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, r == -EBADMSG ? -EBADMSG : -EXDEV, "request: EkPub is not an "
                                "EK public area we can use (%s)", strerror(-r));
        if (r == 0)
                return diag_set(d, -EXDEV, "EkPub is not the key EkCert certifies");
        r = tpm_ak_public_check(ak_bytes, ak_size, ret_ak_name, d);
        if (r < 0)
                return diag_set(d, -EXDEV, "AikPub is not a restricted, fixedTPM, fixedParent "
                                "signing key");
        *ret_ek_public = TAKE_PTR(ek_bytes);
        *ret_ek_size = ek_size;
        return 0;
}

static int aik_cert_check(const AppraiseContext *ctx, json_object *tpm, EVP_PKEY *ak,
                          const uint8_t *ak_bytes, size_t ak_size, Diag *d) {
        _cleanup_(freep) uint8_t *der = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *cert = NULL;
        uint8_t key[32];
        size_t der_size;
        int r;

        r = opt_b64(tpm, "AttestationInfo: TpmInfo.", "AikCert", 64 * 1024, &der, &der_size, d);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        /* Parsing a certificate costs more than the quote's signature (OpenSSL 3.0 builds a
         * decoder for its key): once this certificate was seen with this AK, that is enough. */
        if (ctx->facts) {
                fact_cache_key("AikCert certifies AikPub", der, der_size, ak_bytes, ak_size, key);
                if (fact_cache_has(ctx->facts, key))
                        return 0;
        }
        if (x509_parse_bundle(der, der_size, &cert) < 0 || sk_X509_num(cert) < 1)
                return diag_set(d, -EBADMSG, "AttestationInfo: TpmInfo.AikCert is not a certificate");
        if (!pkey_equal(X509_get0_pubkey(sk_X509_value(cert, 0)), ak))
                return diag_set(d, -EXDEV, "TpmInfo.AikCert certifies another key than AikPub");
        if (ctx->facts)
                fact_cache_add(ctx->facts, key);
        return 0;
}

/* TpmInfo's EncKey* (optional, all or none): certified by the AK; adds x-ms-runtime.keys, and
 * gives the key in *ret_key (left NULL when there is none). The key's decoding and its JWK come
 * from ctx->keys when these bytes were seen before; its certification is checked every time. */
static int enc_key_claim(const AppraiseContext *ctx, json_object *tpm, EVP_PKEY *ak,
                         const TpmPcrSet *quoted, json_object *runtime, EVP_PKEY **ret_key,
                         Diag *d) {
        _cleanup_(freep) uint8_t *pub = NULL, *info = NULL, *sig = NULL;
        _cleanup_(cached_key_done) CachedKey k = {};
        _cleanup_(json_object_putp) json_object *keys = NULL;
        uint8_t cache_key[KEY_CACHE_KEY_SIZE];
        size_t pub_size, info_size, sig_size;
        bool cached = false;
        json_object *ops;
        int r;

        r = opt_b64(tpm, "AttestationInfo: TpmInfo.", "EncKeyPub", TPM_PUBLIC_MAX_SIZE, &pub, &pub_size, d);
        if (r == -ENOENT) {
                if (json_object_object_get_ex(tpm, "EncKeyCertifyInfo", NULL) ||
                    json_object_object_get_ex(tpm, "EncKeyCertifyInfoSignature", NULL))
                        return diag_set(d, -EBADMSG, "AttestationInfo: TpmInfo.EncKeyPub is "
                                        "missing but its certification is there");
                return 0;
        }
        if (r >= 0)
                r = need_b64(tpm, "AttestationInfo: TpmInfo.", "EncKeyCertifyInfo", TPM_ATTEST_MAX_SIZE, &info,
                             &info_size, d);
        if (r >= 0)
                r = need_b64(tpm, "AttestationInfo: TpmInfo.", "EncKeyCertifyInfoSignature", TPM_SIGNATURE_MAX_SIZE,
                             &sig, &sig_size, d);
        if (r >= 0 && ctx->keys) {
                key_cache_key("EncKeyPub", pub, pub_size, cache_key);
                if (key_cache_get(ctx->keys, cache_key, &k) >= 0) {
                        cached = k.jwk != NULL;
                        if (!cached)
                                cached_key_done(&k);
                }
        }
        if (r >= 0 && !cached)
                r = certified_key_load(pub, pub_size, &k.key, &k.public_area, d);
        if (r >= 0)
                r = certified_key_check(ak, &k.public_area, info, info_size, sig, sig_size,
                                        /* nonce= */ NULL, 0, quoted, d);
        if (r < 0)
                return r;
        if (!cached) {
                if (jwk_from_pkey(k.key, "TpmEphemeralEncryptionKey", &k.jwk) < 0)
                        return -ENOMEM;
                k.has_public = true;
                /* Failing to remember it only costs time next time. */
                if (ctx->keys)
                        (void) key_cache_put(ctx->keys, cache_key, &k);
        }
        keys = json_object_new_array();
        ops = json_object_new_array();
        if (!keys || !ops || json_object_array_add(ops, json_object_new_string("encrypt")) < 0) {
                json_object_put(ops);
                return -ENOMEM;
        }
        if (json_add(k.jwk, "key_ops", ops) < 0 || json_object_array_add(keys, k.jwk) < 0)
                return -ENOMEM;
        k.jwk = NULL; /* keys has it */
        r = json_add(runtime, "keys", TAKE_PTR(keys));
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(k.key);
        return 0;
}

/* ClientPayload: an object of base64 strings, kept as sent; its "nonce", decoded, is `nonce`. */
static int client_payload_claims(json_object *info, json_object *runtime, json_object *claims,
                                 Diag *d) {
        json_object *cp;

        if (!json_object_object_get_ex(info, "ClientPayload", &cp))
                return 0;
        if (!json_object_is_type(cp, json_type_object))
                return diag_set(d, -EBADMSG, "AttestationInfo: ClientPayload is not an object");
        json_object_object_foreach(cp, key, val) {
                _cleanup_(freep) uint8_t *t = NULL;
                size_t n;

                if (!json_object_is_type(val, json_type_string))
                        return diag_set(d, -EBADMSG, "AttestationInfo: ClientPayload.%.64s is not "
                                        "a string", key);
                if (!streq(key, "nonce"))
                        continue;
                if (opt_b64(cp, "AttestationInfo: ClientPayload.", "nonce", 1024, &t, &n, d) < 0 || memchr(t, 0, n))
                        return diag_set(d, -EBADMSG, "AttestationInfo: ClientPayload.nonce is not "
                                        "base64 of a short string");
                if (json_add_string(claims, "nonce", (const char *) t) < 0)
                        return -ENOMEM;
        }
        return json_add(runtime, "client-payload", json_object_get(cp));
}

/* AikPub decoded (tpm_ak_load), from ctx->keys when these bytes were decoded before. */
static int ak_load(const AppraiseContext *ctx, const uint8_t *bytes, size_t size, EVP_PKEY **ret,
                   TPMT_PUBLIC *ret_public, bool *ret_has_public, Diag *d) {
        _cleanup_(cached_key_done) CachedKey k = {};
        uint8_t key[KEY_CACHE_KEY_SIZE];
        int r = -ENOENT;

        if (ctx->keys) {
                key_cache_key("AikPub", bytes, size, key);
                r = key_cache_get(ctx->keys, key, &k);
        }
        if (!ctx->keys || r < 0) {
                r = tpm_ak_load(bytes, size, &k.key, &k.public_area, &k.has_public, d);
                if (r < 0)
                        return r;
                /* Failing to remember it only costs time next time. */
                if (ctx->keys)
                        (void) key_cache_put(ctx->keys, key, &k);
        }
        *ret = TAKE_PTR(k.key);
        *ret_public = k.public_area;
        *ret_has_public = k.has_public;
        return 0;
}

static const char *skip_json_ws(const char *p, const char *end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
                p++;
        return p;
}

/*
 * The request body as clients send it, {"AttestationInfo": "<base64>"} (or "attestationInfo")
 * with white space anywhere JSON allows it, decoded straight from the body: the document is one
 * string of about 100 KiB, and building it as a JSON string costs a copy and a pass for nothing.
 * A string that decodes holds only base64 characters, so no escapes, and is exactly the value
 * json-c would give; anything else (escapes, other members, bad base64, trailing bytes, a NUL)
 * returns false, with *ret untouched, and the body goes through json_parse_capped as before, which
 * judges it and names what is wrong. Never takes a body that path refuses.
 */
static bool attestation_info_direct(const char *body, size_t size, uint8_t **ret,
                                    size_t *ret_size) {
        const char *p = body, *end = body + size, *value, *q;

        p = skip_json_ws(p, end);
        if (end - p < 19 || *p != '{')
                return false;
        p = skip_json_ws(p + 1, end);
        if (end - p < 18 || (memcmp(p, "\"AttestationInfo\"", 17) != 0 &&
                             memcmp(p, "\"attestationInfo\"", 17) != 0))
                return false;
        p = skip_json_ws(p + 17, end);
        if (p >= end || *p != ':')
                return false;
        p = skip_json_ws(p + 1, end);
        if (p >= end || *p != '"')
                return false;
        value = p + 1;
        q = memchr(value, '"', (size_t) (end - value));
        if (!q)
                return false;
        p = skip_json_ws(q + 1, end);
        if (p >= end || *p != '}' || skip_json_ws(p + 1, end) != end)
                return false;
        return base64url_decode(value, (size_t) (q - value), ATTESTATION_INFO_MAX, ret, ret_size) >=
               0;
}

int appraise_azureguest(const AppraiseContext *ctx, const char *body, size_t size,
                        json_object **ret_claims, Diag *d) {
        _cleanup_(json_object_putp) json_object *req = NULL, *info = NULL, *claims = NULL,
                                                *runtime = NULL, *pcr_list = NULL;
        _cleanup_(freep) uint8_t *info_json = NULL, *ak_bytes = NULL, *quote = NULL,
                                 *sig_bytes = NULL, *log_bytes = NULL;
        _cleanup_(freep) char *os_type = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL, *enc_key = NULL;
        _cleanup_(eventlog_freep) EventLog *log = NULL;
        size_t info_size, ak_size, quote_size, sig_size, log_size;
        json_object *tpm, *pcrs_obj, *iso, *v;
        TpmPcrSet pcrs, quoted;
        const TpmPcrBank *bank;
        TPMT_PUBLIC ak_public;
        TPMT_SIGNATURE sig;
        TPMS_ATTEST attest;
        bool has_public, bare;
        const char *type;
        int r;

        if (size > APPRAISE_BODY_MAX)
                return diag_set(d, -E2BIG, "request: %zu bytes, at most %u", size,
                                APPRAISE_BODY_MAX);
        if (!attestation_info_direct(body, size, &info_json, &info_size)) {
                if (json_parse_capped(body, size, APPRAISE_BODY_MAX, 32, &req) < 0 ||
                    !json_object_is_type(req, json_type_object))
                        return diag_set(d, -EBADMSG, "request: not a JSON object");
                r = member_b64(req, json_object_object_get_ex(req, "AttestationInfo", NULL)
                                            ? "AttestationInfo" : "attestationInfo",
                               ATTESTATION_INFO_MAX, &info_json, &info_size, d);
                if (r < 0)
                        return r;
        }
        if (json_parse_capped((const char *) info_json, info_size, ATTESTATION_INFO_MAX, 16,
                              &info) < 0 || !json_object_is_type(info, json_type_object))
                return diag_set(d, -EBADMSG, "request: AttestationInfo does not decode to a JSON "
                                "object");
        if (!json_object_object_get_ex(info, "TpmInfo", &tpm) ||
            !json_object_is_type(tpm, json_type_object))
                return diag_set(d, -EBADMSG, "AttestationInfo: TpmInfo is missing or not an object");

        /* The quote: signed by the AK over the given PCRs (Azure's carry no nonce). */
        r = need_b64(tpm, "AttestationInfo: TpmInfo.", "AikPub", TPM_PUBLIC_MAX_SIZE, &ak_bytes, &ak_size, d);
        if (r >= 0)
                r = ak_load(ctx, ak_bytes, ak_size, &ak, &ak_public, &has_public, d);
        if (r >= 0)
                r = need_b64(tpm, "AttestationInfo: TpmInfo.", "PcrQuote", TPM_ATTEST_MAX_SIZE, &quote, &quote_size, d);
        if (r >= 0)
                r = need_b64(tpm, "AttestationInfo: TpmInfo.", "PcrSignature", TPM_SIGNATURE_MAX_SIZE, &sig_bytes,
                             &sig_size, d);
        if (r >= 0)
                r = tpm_signature_parse(sig_bytes, sig_size, ak, TPM_ALG_SHA256, &sig, &bare, d);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(tpm, "PCRs", &pcrs_obj) ||
            !json_object_is_type(pcrs_obj, json_type_array))
                return diag_set(d, -EBADMSG, "AttestationInfo: TpmInfo.PCRs is missing or not an "
                                "array");
        {
                const char *s = json_object_to_json_string_ext(pcrs_obj, JSON_C_TO_STRING_PLAIN);
                r = tpm_pcrs_from_json(s, strlen(s), &pcrs, d);
                if (r < 0)
                        return r;
        }
        {
                TpmQuoteExpect e = { .pcrs = &pcrs };
                r = tpm_quote_verify(ak, quote, quote_size, &sig, &e, &attest, d);
                if (r < 0)
                        return r;
        }
        /* The quote's extraData is signed by the AK: a nonce there proves freshness. */
        if (ctx->bound_nonce) {
                ctx->bound_nonce[0] = '\0';
                if (attest.extraData.size > 0 && 2u * attest.extraData.size < APPRAISE_NONCE_MAX)
                        hex_encode_buf(attest.extraData.buffer, attest.extraData.size,
                                       ctx->bound_nonce);
        }
        if (appraise_quoted_pcrs(&attest, &pcrs, &quoted) < 0)
                return diag_set(d, -EXDEV, "TpmInfo.PCRs do not cover the quoted selection");
        r = aik_cert_check(ctx, tpm, ak, ak_bytes, ak_size, d);
        if (r < 0)
                return r;

        claims = json_object_new_object();
        runtime = json_object_new_object();
        pcr_list = json_object_new_array();
        if (!claims || !runtime || !pcr_list)
                return -ENOMEM;
        bank = tpm_pcr_set_bank(&quoted, TPM_ALG_SHA256);
        for (unsigned i = 0; bank && i < TPM_PCR_COUNT; i++)
                if ((bank->mask & (UINT32_C(1) << i)) &&
                    json_object_array_add(pcr_list, json_object_new_int((int) i)) < 0)
                        return -ENOMEM;

        /* The event log (optional): must replay to the quoted PCRs. */
        r = opt_b64(info, "AttestationInfo: ", "TcgLogs", EVENTLOG_MAX_SIZE, &log_bytes, &log_size, d);
        if (r >= 0) {
                r = eventlog_parse(log_bytes, log_size, &log, d);
                if (r >= 0)
                        r = appraise_eventlog_check(log, &quoted, /* ret_verdicts= */ NULL, d);
                if (r >= 0)
                        r = eventlog_claims(log, !ctx->skip_events, claims);
                if (r < 0)
                        return r;
        } else if (r != -ENOENT)
                return r;

        r = enc_key_claim(ctx, tpm, ak, &quoted, runtime, &enc_key, d);
        if (r >= 0)
                r = client_payload_claims(info, runtime, claims, d);
        if (r < 0)
                return r;

        /* The isolation evidence. */
        if (!json_object_object_get_ex(info, "IsolationInfo", &iso) ||
            !json_object_is_type(iso, json_type_object) ||
            !json_object_object_get_ex(iso, "Type", &v) || !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "AttestationInfo: IsolationInfo.Type is missing");
        type = json_object_get_string(v);
        if (strcasecmp(type, "SevSnp") == 0) {
                r = isolation_sevsnp(ctx, iso, ak, ak_bytes, ak_size, claims, d);
                if (r >= 0 && json_add_string(claims, "x-ms-azurevm-ak-vouched-by",
                                              "sevsnp-report") < 0)
                        r = -ENOMEM;
        } else if (strcasecmp(type, "TrustedLaunch") == 0) {
                const char *by = NULL;

                r = ak_vouch_trusted_launch(ctx, tpm, has_public ? &ak_public : NULL, &attest, &by, d);
                if (r >= 0 && json_add_string(claims, "x-ms-azurevm-ak-vouched-by", by) < 0)
                        r = -ENOMEM;
        } else
                r = diag_set(d, -EPROTONOSUPPORT, "AttestationInfo: IsolationInfo.Type '%.32s' is "
                             "not supported", type);
        if (r < 0)
                return r;
        r = pcrs_claim(&quoted, claims);
        if (r < 0)
                return r;

        /* OS information, as the client states it (not attested). */
        if (json_object_object_get_ex(info, "AttestationProtocolVersion", &v)) {
                if (!json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "AttestationInfo: AttestationProtocolVersion "
                                        "is not a string");
                if (json_add(claims, "x-ms-azurevm-attestation-protocol-ver", json_object_get(v)) < 0)
                        return -ENOMEM;
        }
        r = os_text_claim(info, "OSType", claims, "x-ms-azurevm-ostype", &os_type, d);
        if (r >= 0)
                r = os_text_claim(info, "OSDistro", claims, "x-ms-azurevm-osdistro", NULL, d);
        if (r >= 0)
                r = os_text_claim(info, "OSBuild", claims, "x-ms-azurevm-osbuild", NULL, d);
        if (r >= 0)
                r = os_number_claim(info, "OSVersionMajor", claims, "x-ms-azurevm-osversion-major", d);
        if (r >= 0)
                r = os_number_claim(info, "OSVersionMinor", claims, "x-ms-azurevm-osversion-minor", d);
        if (r < 0)
                return r;
        if (os_type && json_add_bool(claims, "x-ms-azurevm-is-windows",
                                     strcasecmp(os_type, "Windows") == 0) < 0)
                return -ENOMEM;

        if (json_add_string(claims, "x-ms-attestation-type", "azurevm") < 0 ||
            json_add_string(claims, "x-ms-ver", "1.0") < 0 ||
            json_add(claims, "x-ms-azurevm-attested-pcrs", TAKE_PTR(pcr_list)) < 0 ||
            json_add(claims, "x-ms-runtime", TAKE_PTR(runtime)) < 0)
                return -ENOMEM;
        if (ctx->enc_key)
                *ctx->enc_key = TAKE_PTR(enc_key);
        *ret_claims = TAKE_PTR(claims);
        return 0;
}
