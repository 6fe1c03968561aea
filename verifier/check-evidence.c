/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cvm-verifier check evidence FILE`: everything in a `cvm-agent evidence` document verified
 * together: the quote (AK signature, nonce, PCR digest), the event log's replay against the quoted
 * PCRs, the ephemeral key's certification by the AK, and the isolation evidence: the SNP chain,
 * the runtime claims' binding to REPORT_DATA, and the AK in the runtime claims being the AK that
 * signed the quote.
 */
#include <getopt.h>
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>

#include "common/cli-util.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/check.h"
#include "vtpm/eventlog.h"
#include "vtpm/evidence.h"
#include "vtpm/hcl-report.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-pcrs.h"

static void help(void) {
        printf("Usage: cvm-verifier check evidence FILE [OPTIONS]\n"
               "\n"
               "Verifies what `cvm-agent evidence` wrote, all of it together.\n"
               "\n"
               "  --nonce HEX     the nonce the evidence must carry (default: the document's own,\n"
               "                  which proves consistency, not freshness)\n"
               "  --ak-ca FILE    trusted-launch: the CA (PEM) that must have issued the AK\n"
               "                  certificate\n"
               "  --cert, --certs, --crl, --root, --at   for the SNP report, as for check snp\n"
               "  --json          print the checks and the verdict as JSON\n");
}

/* A base64url member (capped), or -ENOENT when absent. */
static int get_b64(json_object *o, const char *key, size_t max, uint8_t **ret, size_t *ret_size,
                   Diag *d) {
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "evidence: \"%s\" is not a string", key);
        s = json_object_get_string(v);
        if (base64url_decode(s, strlen(s), max, ret, ret_size) < 0)
                return diag_set(d, -EBADMSG, "evidence: \"%s\" is not base64url (or too large)",
                                key);
        return 0;
}

static int need_b64(json_object *o, const char *key, size_t max, uint8_t **ret, size_t *ret_size,
                    Diag *d) {
        int r = get_b64(o, key, max, ret, ret_size, d);
        return r == -ENOENT ? diag_set(d, -EBADMSG, "evidence: \"%s\" is missing", key) : r;
}

typedef struct Ctx {
        json_object *doc, *report;
        EVP_PKEY *ak;
        uint8_t nonce[64];
        size_t nonce_size;
        const TpmPcrSet *quoted; /* the quoted PCRs with their values */
} Ctx;

/* The ephemeral key: TPM2_Certify by the AK over its name, with our nonce. */
static int check_encryption_key(Ctx *c, json_object *tpm, Diag *d) {
        _cleanup_(freep) uint8_t *pub = NULL, *info = NULL, *sig_bytes = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        size_t pub_size, info_size, sig_size;
        json_object *enc, *jwk;
        int r;

        if (!json_object_object_get_ex(tpm, "encryption_key", &enc))
                return diag_set(d, -EBADMSG, "evidence: tpm.encryption_key is missing");
        r = need_b64(enc, "public", TPM_PUBLIC_MAX_SIZE, &pub, &pub_size, d);
        if (r >= 0)
                r = need_b64(enc, "certify_info", TPM_ATTEST_MAX_SIZE, &info, &info_size, d);
        if (r >= 0)
                r = need_b64(enc, "certify_signature", TPM_SIGNATURE_MAX_SIZE, &sig_bytes, &sig_size, d);
        if (r >= 0)
                r = appraise_certified_key(c->ak, pub, pub_size, info, info_size, sig_bytes, sig_size,
                                           c->nonce, c->nonce_size, c->quoted, &key, d);
        if (r < 0)
                return r;
        if (jwk_from_pkey(key, EVIDENCE_KID_ENC_KEY, &jwk) < 0 ||
            json_add(c->report, "encryption_key", jwk) < 0)
                return -ENOMEM;
        return 0;
}

static int check_eventlog(Ctx *c, const TpmPcrSet *quoted, Diag *d) {
        _cleanup_(eventlog_freep) EventLog *log = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        json_object *verdicts = NULL;
        size_t size;
        int r;

        r = get_b64(c->doc, "eventlog", EVENTLOG_MAX_SIZE, &buf, &size, d);
        if (r == -ENOENT)
                return json_add_string(c->report, "eventlog", "absent: PCRs not explained");
        if (r < 0)
                return r;
        r = eventlog_parse(buf, size, &log, d);
        if (r < 0)
                return r;
        r = appraise_eventlog_check(log, quoted, &verdicts, d);
        if (verdicts && json_add(c->report, "eventlog", verdicts) < 0)
                return -ENOMEM;
        return r;
}

static int check_azure(Ctx *c, const SnpCheckOptions *o, Diag *d) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *hcl_ak = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        uint8_t want[64] = {};
        json_object *ud, *j;
        HclReport h;
        size_t size;
        int r;

        r = need_b64(c->doc, "hcl_report", HCL_REPORT_MAX_SIZE, &buf, &size, d);
        if (r >= 0)
                r = hcl_report_parse(buf, size, &h, d);
        if (r >= 0 && h.report_type != HCL_REPORT_TYPE_SNP)
                r = diag_set(d, -EPROTONOSUPPORT, "HCL report: report_type %u is not SEV-SNP",
                             h.report_type);
        if (r >= 0)
                r = snp_check_verify(o, h.hw_report, HCL_HW_REPORT_SIZE, c->report, NULL, &e, d);
        if (r >= 0)
                r = hcl_report_check_binding(&h, h.hw_report + 0x50, d);
        if (r >= 0)
                r = hcl_runtime_claims(&h, &claims, d);
        if (r >= 0)
                r = hcl_claims_key(claims, "HCLAkPub", &hcl_ak, d);
        if (r < 0)
                return r;
        if (!pkey_equal(hcl_ak, c->ak))
                return diag_set(d, -EXDEV, "the AK in the HCL report's runtime claims (HCLAkPub) "
                                "is not the AK that signed the quote");
        /* The report must be the fresh one made for our nonce (user-data, NV 0x01400002). */
        memcpy(want, c->nonce, c->nonce_size);
        {
                char hex[129];
                hex_encode_buf(want, 64, hex);
                if (!json_object_object_get_ex(claims, "user-data", &ud) ||
                    !json_object_is_type(ud, json_type_string) ||
                    strcasecmp(json_object_get_string(ud), hex) != 0)
                        return diag_set(d, -ESTALE, "HCL report: user-data is not the nonce: a "
                                        "stale report");
        }
        if (hcl_report_to_json(&h, claims, &j) < 0 || json_add(c->report, "hcl", j) < 0)
                return -ENOMEM;
        return 0;
}

static int check_snp(Ctx *c, const SnpCheckOptions *o_in, Diag *d) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *claims_ak = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(freep) uint8_t *report = NULL, *certs = NULL, *rd = NULL;
        SnpCheckOptions o = *o_in;
        size_t report_size, certs_size = 0, rd_size;
        uint8_t digest[32];
        char nonce_hex[129];
        json_object *snp, *v;
        SnpReport rep;
        int r;

        if (!json_object_object_get_ex(c->doc, "snp", &snp))
                return diag_set(d, -EBADMSG, "evidence: \"snp\" is missing");
        r = need_b64(snp, "report", 4096, &report, &report_size, d);
        if (r >= 0)
                r = need_b64(snp, "runtime_data", 64 * 1024, &rd, &rd_size, d);
        if (r >= 0) {
                r = get_b64(snp, "certificates", 64 * 1024, &certs, &certs_size, d);
                if (r == -ENOENT)
                        r = 0;
        }
        if (r < 0)
                return r;
        o.certs_data = certs;
        o.certs_size = certs_size;
        r = snp_check_verify(&o, report, report_size, c->report, &rep, &e, d);
        if (r < 0)
                return r;
        if (!EVP_Digest(rd, rd_size, digest, NULL, EVP_sha256(), NULL))
                return -ENOMEM;
        if (memcmp(rep.report_data, digest, 32) != 0 || !memeqzero(rep.report_data + 32, 32))
                return diag_set(d, -EXDEV, "SNP report: REPORT_DATA is not the SHA-256 of the "
                                "runtime claims");
        if (json_parse_capped((const char *) rd, rd_size, 64 * 1024, 8, &claims) < 0)
                return diag_set(d, -EBADMSG, "runtime claims: not valid JSON");
        r = hcl_claims_key(claims, EVIDENCE_KID_AK, &claims_ak, d);
        if (r < 0)
                return r;
        if (!pkey_equal(claims_ak, c->ak))
                return diag_set(d, -EXDEV, "the AK in the runtime claims is not the AK that "
                                "signed the quote");
        hex_encode_buf(c->nonce, c->nonce_size, nonce_hex);
        if (!json_object_object_get_ex(claims, "nonce", &v) ||
            !json_object_is_type(v, json_type_string) ||
            strcasecmp(json_object_get_string(v), nonce_hex) != 0)
                return diag_set(d, -ESTALE, "runtime claims: nonce is not the expected one");
        return 0;
}

static int check_ak_cert(Ctx *c, json_object *tpm, const char *ca_path, Diag *d) {
        _cleanup_(freep) uint8_t *der = NULL, *ca = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *cert = NULL, *cas = NULL;
        size_t der_size, ca_size;
        EVP_PKEY *k;
        int r;

        r = get_b64(tpm, "ak_certificate", 64 * 1024, &der, &der_size, d);
        if (r == -ENOENT && !ca_path)
                return json_add_string(c->report, "ak_vouched_by", "nothing (no AK certificate)");
        if (r == -ENOENT)
                return diag_set(d, -ENOKEY, "--ak-ca given, but the evidence has no AK certificate");
        if (r < 0)
                return r;
        if (x509_parse_bundle(der, der_size, &cert) < 0)
                return diag_set(d, -EBADMSG, "AK certificate: not DER");
        k = X509_get0_pubkey(sk_X509_value(cert, 0));
        if (!pkey_equal(k, c->ak))
                return diag_set(d, -EXDEV, "AK certificate: certifies another key");
        if (!ca_path)
                return json_add_string(c->report, "ak_vouched_by",
                                       "an AK certificate whose issuer was not checked (--ak-ca)");
        r = load_file(ca_path, "AK CA", &ca, &ca_size, d);
        if (r < 0)
                return r;
        if (x509_parse_bundle(ca, ca_size, &cas) < 0)
                return diag_set(d, -EBADMSG, "--ak-ca %s: not a certificate", ca_path);
        for (int i = 0; i < sk_X509_num(cas); i++) {
                EVP_PKEY *ck = X509_get0_pubkey(sk_X509_value(cas, i));
                if (ck && X509_verify(sk_X509_value(cert, 0), ck) == 1)
                        return json_add_string(c->report, "ak_vouched_by", "the AK CA");
        }
        return diag_set(d, -ENOKEY, "AK certificate: not issued by the AK CA");
}

int check_evidence_main(int argc, char **argv) {
        enum { ARG_NONCE = SNP_ARG_MAX, ARG_AK_CA, ARG_JSON };
        static const struct option options[] = {
                SNP_CHECK_GETOPT,
                { "nonce", required_argument, NULL, ARG_NONCE },
                { "ak-ca", required_argument, NULL, ARG_AK_CA },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(json_object_putp) json_object *doc = NULL, *report = json_object_new_object();
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        _cleanup_(freep) uint8_t *raw = NULL, *ak_bytes = NULL, *quote = NULL, *sig_bytes = NULL,
                                 *want_nonce = NULL;
        SnpCheckOptions o = { .at = time(NULL) };
        const char *path, *ak_ca = NULL, *platform = NULL;
        size_t raw_size, ak_size, quote_size, sig_size, want_size = 0;
        json_object *tpm, *pcrs_obj, *v;
        TpmPcrSet pcrs, quoted = {};
        TPMT_PUBLIC ak_public;
        TPMT_SIGNATURE sig;
        TPMS_ATTEST attest;
        bool json = false, has_public, bare;
        Ctx c = {};
        Diag d = {};
        int ch, r;

        if (!report)
                return EXIT_INTERNAL;
        while ((ch = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = snp_check_option(&o, ch, optarg);
                if (r > 0)
                        continue;
                if (r < 0)
                        return EXIT_USAGE;
                switch (ch) {
                case ARG_NONCE:
                        free(want_nonce);
                        want_nonce = NULL;
                        if (hex_decode(optarg, strlen(optarg), 64, &want_nonce, &want_size) < 0) {
                                log_error("--nonce: need up to 128 hex digits");
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_AK_CA:
                        ak_ca = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        }
        if (optind + 1 != argc) {
                log_error("check evidence: need exactly one FILE (see --help)");
                return EXIT_USAGE;
        }
        path = argv[optind];

        r = load_file(path, "evidence", &raw, &raw_size, &d);
        if (r >= 0 && json_parse_capped((const char *) raw, raw_size, EVIDENCE_MAX_SIZE, 32, &doc) < 0)
                r = diag_set(&d, -EBADMSG, "evidence: not valid JSON");
        if (r >= 0 && (!json_object_object_get_ex(doc, "version", &v) ||
                       json_object_get_int(v) != EVIDENCE_VERSION))
                r = diag_set(&d, -EPROTONOSUPPORT, "evidence: \"version\" is not %d",
                             EVIDENCE_VERSION);
        if (r >= 0 && json_object_object_get_ex(doc, "platform", &v))
                platform = json_object_get_string(v);
        if (r >= 0 && !platform)
                r = diag_set(&d, -EBADMSG, "evidence: \"platform\" is missing");
        if (r >= 0 && !json_object_object_get_ex(doc, "tpm", &tpm))
                r = diag_set(&d, -EBADMSG, "evidence: \"tpm\" is missing");
        c.doc = doc;
        c.report = report;
        /* The nonce: the caller's, or the document's own. */
        if (r >= 0) {
                const char *n = json_object_object_get_ex(doc, "nonce", &v) ? json_object_get_string(v) : NULL;
                _cleanup_(freep) uint8_t *nb = NULL;
                size_t nn;

                if (!n || hex_decode(n, strlen(n), 64, &nb, &nn) < 0)
                        r = diag_set(&d, -EBADMSG, "evidence: \"nonce\" is not hex");
                else if (want_nonce && (nn != want_size || memcmp(nb, want_nonce, nn) != 0))
                        r = diag_set(&d, -ESTALE, "evidence: nonce %s is not the expected one", n);
                else {
                        memcpy(c.nonce, nb, nn);
                        c.nonce_size = nn;
                }
        }
        if (r >= 0)
                r = need_b64(tpm, "ak_public", TPM_PUBLIC_MAX_SIZE, &ak_bytes, &ak_size, &d);
        if (r >= 0)
                r = tpm_ak_load(ak_bytes, ak_size, &ak, &ak_public, &has_public, &d);
        c.ak = ak;
        if (r >= 0)
                r = need_b64(tpm, "quote", TPM_ATTEST_MAX_SIZE, &quote, &quote_size, &d);
        if (r >= 0)
                r = need_b64(tpm, "quote_signature", TPM_SIGNATURE_MAX_SIZE, &sig_bytes, &sig_size, &d);
        if (r >= 0)
                r = tpm_signature_parse(sig_bytes, sig_size, ak, TPM_ALG_SHA256, &sig, &bare, &d);
        if (r >= 0) {
                if (!json_object_object_get_ex(tpm, "pcrs", &pcrs_obj))
                        r = diag_set(&d, -EBADMSG, "evidence: tpm.pcrs is missing");
                else {
                        const char *s = json_object_to_json_string_ext(pcrs_obj, JSON_C_TO_STRING_PLAIN);
                        r = tpm_pcrs_from_json(s, strlen(s), &pcrs, &d);
                }
        }
        if (r >= 0) {
                TpmQuoteExpect e = { .nonce = c.nonce, .nonce_size = c.nonce_size, .pcrs = &pcrs };
                r = tpm_quote_verify(ak, quote, quote_size, &sig, &e, &attest, &d);
        }
        /* The quoted PCRs (and only those) are authenticated: compare the log with them. */
        if (r >= 0) {
                r = appraise_quoted_pcrs(&attest, &pcrs, &quoted);
                c.quoted = &quoted;
                if (r >= 0 && json_add_bool(report, "quote", true) < 0)
                        return EXIT_INTERNAL;
                if (r >= 0)
                        r = check_encryption_key(&c, tpm, &d);
        }
        if (r >= 0)
                r = check_eventlog(&c, &quoted, &d);
        if (r >= 0) {
                if (streq(platform, "azure-sevsnp"))
                        r = check_azure(&c, &o, &d);
                else if (streq(platform, "sevsnp"))
                        r = check_snp(&c, &o, &d);
                else if (!streq(platform, "trusted-launch"))
                        r = diag_set(&d, -EPROTONOSUPPORT, "evidence: platform '%s' is unknown",
                                     platform);
        }
        if (r >= 0)
                r = check_ak_cert(&c, tpm, ak_ca, &d);
        if (r >= 0 && (json_add_string(report, "platform", platform) < 0 ||
                       json_add_bool(report, "nonce_from_caller", want_nonce != NULL) < 0))
                return EXIT_INTERNAL;
        {
                char ok[160];
                (void) snprintf(ok, sizeof(ok), "verified: %s evidence: quote, PCRs%s, encryption "
                                "key%s", platform ? platform : "?",
                                json_object_object_get_ex(doc, "eventlog", &v) ? ", event log" : "",
                                platform && !streq(platform, "trusted-launch")
                                        ? ", SNP report and its binding to the AK" : "");
                return check_verdict(path, r, &d, json, report, ok);
        }
}
