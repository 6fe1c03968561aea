/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cvm-agent evidence`: everything the verifier needs, in one JSON document (vtpm/evidence.h
 * describes it): the vTPM's quote over the PCRs with the caller's nonce, PCR values, the AK, the
 * event log, the ephemeral encryption key and its certification, and the isolation evidence (the
 * Azure HCL report from NV 0x01400001, or an SNP report binding our own runtime claims).
 */
#include <getopt.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agent/agent.h"
#include "common/cli-util.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "snp/snp-source.h"
#include "vtpm/eventlog.h"
#include "vtpm/evidence.h"
#include "vtpm/hcl-report.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-device.h"


static void help(void) {
        printf("Usage: cvm-agent evidence [OPTIONS]\n"
               "\n"
               "Collects attestation evidence from the vTPM (and the SEV-SNP firmware, or the\n"
               "Azure paravisor's HCL report) into one JSON document.\n"
               "\n"
               "  --pcrs LIST       PCRs to quote (default %s)\n"
               "  --nonce HEX       up to 64 bytes for the quote and the reports (default random)\n"
               "  --eventlog FILE   the TCG event log (default $CVM_EVENTLOG or\n"
               "                    %s)\n"
               "  --ak-handle H     the AK's persistent handle (default 0x%08x; created if absent)\n"
               "  --ak-type T       the type of an AK created here: ecc (P-256, default) or rsa\n"
               "  --isolation WHAT  auto (default), azure (HCL report), snp, or none\n"
               "  --format F        cvm (default: the document below) or maa (the body of MAA's\n"
               "                    POST /attest/AzureGuest, {\"AttestationInfo\": ...})\n"
               "  --vcek-chain FILE with --format maa: the VCEK, ASK and ARK (PEM) for the SNP\n"
               "                    proof (on Azure from IMDS THIM; the simulator writes one)\n"
               "  --credential FILE the verifier's answer to POST /credential (see `cvm-agent\n"
               "                    credential-request`): activated in the TPM, its secret is\n"
               "                    the nonce, which vouches for the AK of a trusted-launch VM\n"
               "  --ek TYPE         the EK the credential was made for: rsa (default), ecc-p256,\n"
               "                    ecc-p384\n"
               "  --out FILE        write the document to FILE (default: stdout)\n"
               "  --json            print the document on stdout (the default without --out)\n"
               "\n"
               "Environment: CVM_TCTI (default %s), and those of `cvm-agent report`.\n",
               EVIDENCE_PCRS_DEFAULT, EVENTLOG_DEFAULT, TPM_AK_HANDLE_AZURE, TPM_TCTI_DEFAULT);
}

static int add_b64(json_object *o, const char *key, const uint8_t *p, size_t n) {
        _cleanup_(freep) char *s = NULL;

        if (base64url_encode(p, n, &s) < 0)
                return -ENOMEM;
        return json_add_string(o, key, s);
}

/* Waits for the paravisor to put our user data into a fresh HCL report (azure-cvm.md §2: the
 * report is regenerated after the write; tools wait up to a few seconds). */
static int read_hcl_report(TpmDevice *t, const uint8_t user_data[64], uint8_t **ret,
                           size_t *ret_size, Diag *d) {
        char want[129];

        hex_encode_buf(user_data, 64, want);
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(json_object_putp) json_object *claims = NULL;
                _cleanup_(freep) uint8_t *buf = NULL;
                json_object *ud;
                HclReport h;
                size_t size;
                int r;

                r = tpm_device_nv_read(t, TPM_NV_HCL_REPORT, &buf, &size, d);
                if (r < 0)
                        return r;
                if (hcl_report_parse(buf, size, &h, d) >= 0 && hcl_runtime_claims(&h, &claims, NULL) >= 0 &&
                    json_object_object_get_ex(claims, "user-data", &ud) &&
                    json_object_is_type(ud, json_type_string) &&
                    strcasecmp(json_object_get_string(ud), want) == 0) {
                        *ret = TAKE_PTR(buf);
                        *ret_size = size;
                        return 0;
                }
                if (attempt >= 50)
                        return diag_set(d, -ETIMEDOUT, "the HCL report in NV 0x%08x did not take "
                                        "our user data within 5 s", TPM_NV_HCL_REPORT);
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100000000 }, NULL);
        }
}

/* Our own runtime claims for an SNP report outside Azure: the AK and the ephemeral key as JWKs
 * and the nonce; REPORT_DATA = SHA-256 of exactly these bytes. */
static int make_runtime_claims(const uint8_t *ak_pub, size_t ak_size, const uint8_t *ek_pub,
                               size_t ek_size, const char *nonce_hex, char **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL, *ek = NULL;
        json_object *keys = json_object_new_array(), *jwk = NULL;
        TPMT_PUBLIC pub;
        bool has;
        int r;

        if (!o || json_add(o, "keys", keys) < 0)
                return -ENOMEM;
        r = tpm_ak_load(ak_pub, ak_size, &ak, &pub, &has, d);
        if (r >= 0)
                r = tpm_ak_load(ek_pub, ek_size, &ek, &pub, &has, d);
        if (r < 0)
                return r;
        if (jwk_from_pkey(ak, EVIDENCE_KID_AK, &jwk) < 0 || json_object_array_add(keys, jwk) < 0)
                return -ENOMEM;
        if (jwk_from_pkey(ek, EVIDENCE_KID_ENC_KEY, &jwk) < 0 ||
            json_object_array_add(keys, jwk) < 0 || json_add_string(o, "nonce", nonce_hex) < 0)
                return -ENOMEM;
        *ret = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        return *ret ? 0 : -ENOMEM;
}

static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;

        (void) json_object_object_get_ex(o, key, &v);
        return v;
}

static int add_b64_text(json_object *o, const char *key, const char *text) {
        return add_b64(o, key, (const uint8_t *) text, strlen(text));
}

/*
 * The same evidence as MAA's AttestationInfo (azure-cvm.md §6.2), wrapped as the body of
 * POST /attest/AzureGuest. Binary members are base64url (MAA's clients send standard base64 in
 * TpmInfo; our verifier takes either). The SNP proof needs the VCEK chain from the caller.
 */
int evidence_maa_request(json_object *doc, const TpmPcrSet *quoted, const TpmPcrSet *values,
                         const char *vcek_chain_path, json_object **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *info = json_object_new_object(),
                                                *body = json_object_new_object();
        json_object *tpm = member(doc, "tpm"), *enc = member(tpm, "encryption_key");
        json_object *ti = json_object_new_object(), *iso = json_object_new_object(), *v;
        json_object *pcrs = json_object_new_array(), *set = json_object_new_array(), *cp;
        const TpmPcrBank *sel = &quoted->banks[0], *bank = tpm_pcr_set_bank(values, sel->alg);
        const char *platform = json_object_get_string(member(doc, "platform"));
        int r;

        if (!info || !body || !ti || !iso || !pcrs || !set || json_add(info, "TpmInfo", ti) < 0 ||
            json_add(info, "IsolationInfo", iso) < 0 ||
            json_add_string(info, "AttestationProtocolVersion", "2.0") < 0 ||
            add_b64_text(info, "OSType", "Linux") < 0)
                return -ENOMEM;
        if ((v = member(doc, "eventlog")) && json_add(info, "TcgLogs", json_object_get(v)) < 0)
                return -ENOMEM;
        cp = json_object_new_object();
        if (json_add(info, "ClientPayload", cp) < 0 ||
            add_b64_text(cp, "nonce", json_object_get_string(member(doc, "nonce"))) < 0)
                return -ENOMEM;
        if (json_add(ti, "AikPub", json_object_get(member(tpm, "ak_public"))) < 0 ||
            json_add(ti, "PcrQuote", json_object_get(member(tpm, "quote"))) < 0 ||
            json_add(ti, "PcrSignature", json_object_get(member(tpm, "quote_signature"))) < 0 ||
            json_add(ti, "EncKeyPub", json_object_get(member(enc, "public"))) < 0 ||
            json_add(ti, "EncKeyCertifyInfo", json_object_get(member(enc, "certify_info"))) < 0 ||
            json_add(ti, "EncKeyCertifyInfoSignature",
                     json_object_get(member(enc, "certify_signature"))) < 0 ||
            json_add(ti, "PcrSet", set) < 0 || json_add(ti, "PCRs", pcrs) < 0 ||
            ((v = member(tpm, "ak_certificate")) && json_add(ti, "AikCert", json_object_get(v)) < 0))
                return -ENOMEM;
        if (!bank)
                return -EINVAL;
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
                json_object *e;
                if (!(sel->mask & (UINT32_C(1) << i)))
                        continue;
                e = json_object_new_object();
                if (json_object_array_add(set, json_object_new_int((int) i)) < 0 ||
                    json_object_array_add(pcrs, e) < 0 || json_add_int(e, "Index", i) < 0 ||
                    add_b64(e, "Digest", bank->value[i], bank->size) < 0)
                        return -ENOMEM;
        }

        if (streq(platform, "trusted-launch")) {
                if (json_add_string(iso, "Type", "TrustedLaunch") < 0)
                        return -ENOMEM;
        } else {
                _cleanup_(freep) uint8_t *hcl = NULL, *report = NULL, *rt = NULL, *chain = NULL;
                _cleanup_(json_object_putp) json_object *proof = json_object_new_object();
                json_object *ev = json_object_new_object();
                size_t hcl_size, report_size, rt_size, chain_size;
                const char *s;

                if (!vcek_chain_path)
                        return diag_set(d, -EINVAL, "--format maa needs --vcek-chain for the SNP proof");
                r = read_full_file(vcek_chain_path, 64 * 1024, &chain, &chain_size);
                if (r < 0)
                        return diag_set(d, r, "cannot read %s", vcek_chain_path);
                if (streq(platform, "azure-sevsnp")) {
                        HclReport h;
                        s = json_object_get_string(member(doc, "hcl_report"));
                        if (base64url_decode(s, strlen(s), HCL_REPORT_MAX_SIZE, &hcl, &hcl_size) < 0 ||
                            hcl_report_parse(hcl, hcl_size, &h, d) < 0)
                                return -EBADMSG;
                        report = malloc(HCL_HW_REPORT_SIZE);
                        rt = malloc(h.runtime_data_size);
                        if (!report || !rt)
                                return -ENOMEM;
                        memcpy(report, h.hw_report, HCL_HW_REPORT_SIZE);
                        memcpy(rt, h.runtime_data, h.runtime_data_size);
                        report_size = HCL_HW_REPORT_SIZE;
                        rt_size = h.runtime_data_size;
                } else {
                        json_object *snp = member(doc, "snp");
                        s = json_object_get_string(member(snp, "report"));
                        if (base64url_decode(s, strlen(s), 4096, &report, &report_size) < 0)
                                return -EBADMSG;
                        s = json_object_get_string(member(snp, "runtime_data"));
                        if (base64url_decode(s, strlen(s), 64 * 1024, &rt, &rt_size) < 0)
                                return -EBADMSG;
                }
                if (!proof || !ev || add_b64(proof, "SnpReport", report, report_size) < 0 ||
                    add_b64(proof, "VcekCertChain", chain, chain_size) < 0 ||
                    json_add_string(iso, "Type", "SevSnp") < 0 || json_add(iso, "Evidence", ev) < 0 ||
                    add_b64_text(ev, "Proof", json_object_to_json_string_ext(proof, JSON_C_TO_STRING_PLAIN)) < 0 ||
                    add_b64(ev, "RunTimeData", rt, rt_size) < 0)
                        return -ENOMEM;
        }
        if (add_b64_text(body, "AttestationInfo",
                         json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(body);
        return 0;
}

/* The AK certificate in NV is the platform's AK's: keep it only when it certifies our AK. */
static bool ak_cert_matches(const uint8_t *der, size_t der_size, const uint8_t *ak_pub,
                            size_t ak_size) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *cert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        TPMT_PUBLIC pub;
        bool has;

        if (x509_parse_bundle(der, der_size, &cert) < 0 ||
            tpm_ak_load(ak_pub, ak_size, &ak, &pub, &has, NULL) < 0)
                return false;
        if (!pkey_equal(X509_get0_pubkey(sk_X509_value(cert, 0)), ak)) {
                log_debug("the AK certificate in NV 0x%08x is for another key", TPM_NV_AK_CERT_AZURE);
                return false;
        }
        return true;
}

int evidence_collect(TpmDevice *t, const EvidenceParams *p, json_object **ret_doc,
                     TpmPcrSet *ret_quote_sel, TpmPcrSet *ret_pcrs, Diag *d) {
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
        _cleanup_(freep) uint8_t *ak_pub = NULL, *quote = NULL, *sig = NULL, *ek_pub = NULL,
                                 *certify = NULL, *certify_sig = NULL, *log = NULL, *hcl = NULL,
                                 *ak_cert = NULL, *ek_cert = NULL;
        _cleanup_(freep) char *claims = NULL;
        const char *platform, *isolation = p->isolation ?: "auto";
        size_t ak_size, quote_size, sig_size, ek_size, certify_size, certify_sig_size,
               log_size = 0, hcl_size = 0, ak_cert_size, ek_cert_size;
        char nonce_hex[129];
        json_object *tpm, *pcrs_json, *enc;
        uint16_t banks[TPM_MAX_BANKS];
        size_t n_banks;
        TpmPcrSet pcrs = {}, quote_sel = {};
        int r;

        if (!doc)
                return -ENOMEM;
        if (p->nonce_size == 0 || p->nonce_size > 64)
                return diag_set(d, -EINVAL, "the nonce must be 1 to 64 bytes");
        r = tpm_device_ak(t, p->ak_handle, true, p->ak_type, &ak_pub, &ak_size, d);
        if (r < 0)
                return diag_prefix(d, r, "cannot get the attestation key");
        hex_encode_buf(p->nonce, p->nonce_size, nonce_hex);
        r = tpm_device_banks(t, banks, &n_banks, d);
        if (r < 0)
                return diag_prefix(d, r, "cannot list the PCR banks");
        for (size_t i = 0; i < n_banks; i++) {
                r = tpm_device_pcr_read(t, banks[i], p->mask, &pcrs, d);
                if (r < 0)
                        return diag_prefix(d, r, "cannot read the PCRs");
        }
        /* The quote covers the SHA-256 bank (as Azure's does), else the first bank there is. */
        {
                const TpmPcrBank *b = tpm_pcr_set_bank(&pcrs, TPM_ALG_SHA256) ?: &pcrs.banks[0];
                if (pcrs.n_banks == 0)
                        return diag_set(d, -EIO, "the TPM has no PCR banks");
                TpmPcrBank *q = tpm_pcr_set_bank_add(&quote_sel, b->alg);
                q->mask = p->mask;
        }
        r = tpm_device_ephemeral_key(t, p->ak_handle, &quote_sel, p->nonce, p->nonce_size, &ek_pub,
                                     &ek_size, &certify, &certify_size, &certify_sig,
                                     &certify_sig_size, d);
        if (r < 0)
                return diag_prefix(d, r, "cannot make the ephemeral encryption key");

        /* Isolation evidence. */
        platform = "trusted-launch";
        if (!streq(isolation, "none") && !streq(isolation, "snp")) {
                uint8_t user_data[64] = {};
                Diag probe = {};

                memcpy(user_data, p->nonce, p->nonce_size);
                r = tpm_device_nv_write_user_data(t, TPM_NV_HCL_USER_DATA, user_data, &probe);
                if (r >= 0)
                        r = read_hcl_report(t, user_data, &hcl, &hcl_size, &probe);
                if (r >= 0)
                        platform = "azure-sevsnp";
                else if (streq(isolation, "azure") || r != -ENOENT) {
                        *d = probe;
                        return diag_prefix(d, r, "cannot get the HCL report");
                } else
                        log_debug("no HCL report: %s", probe.text);
        }
        if (!hcl && !streq(isolation, "none") && !streq(isolation, "azure")) {
                SnpSource src = {
                        .kind = SNP_SOURCE_AUTO,
                        .tsm_report_dir = secure_getenv("CVM_TSM_REPORT_DIR"),
                        .sev_guest_path = secure_getenv("CVM_SEV_GUEST_DEVICE"),
                };
                uint8_t rd[64] = {};
                SnpEvidence ev = {};
                Diag probe = {};

                r = make_runtime_claims(ak_pub, ak_size, ek_pub, ek_size, nonce_hex, &claims, d);
                if (r < 0)
                        return diag_prefix(d, r, "cannot build the runtime claims");
                if (!EVP_Digest(claims, strlen(claims), rd, NULL, EVP_sha256(), NULL))
                        return -EIO;
                r = snp_source_get_report(&src, rd, 0, true, &ev, &probe);
                if (r >= 0) {
                        json_object *snp = json_object_new_object();
                        platform = "sevsnp";
                        r = json_add(doc, "snp", snp) < 0 ||
                            add_b64(snp, "report", ev.report, ev.report_size) < 0 ||
                            (ev.certs && add_b64(snp, "certificates", ev.certs, ev.certs_size) < 0) ||
                            add_b64(snp, "runtime_data", (const uint8_t *) claims, strlen(claims)) < 0;
                        snp_evidence_done(&ev);
                        if (r)
                                return -ENOMEM;
                } else if (streq(isolation, "snp") || r != -ENODEV) {
                        *d = probe;
                        return diag_prefix(d, r, "cannot get an SNP report");
                } else
                        log_debug("no SNP report: %s", probe.text);
        }

        r = tpm_device_quote(t, p->ak_handle, &quote_sel, p->nonce, p->nonce_size, &quote,
                             &quote_size, &sig, &sig_size, d);
        if (r < 0)
                return diag_prefix(d, r, "cannot quote");
        /* Optional parts. */
        /* Certificates in NV indices are zero-padded to the index's size: keep the DER. */
        if (tpm_device_nv_read(t, TPM_NV_AK_CERT_AZURE, &ak_cert, &ak_cert_size, NULL) < 0 ||
            der_trim_padding(ak_cert, ak_cert_size, &ak_cert_size) < 0 ||
            !ak_cert_matches(ak_cert, ak_cert_size, ak_pub, ak_size)) {
                free(ak_cert);
                ak_cert = NULL;
        }
        if ((tpm_device_nv_read(t, TPM_NV_EK_CERT_RSA, &ek_cert, &ek_cert_size, NULL) < 0 &&
             tpm_device_nv_read(t, TPM_NV_EK_CERT_ECC, &ek_cert, &ek_cert_size, NULL) < 0) ||
            der_trim_padding(ek_cert, ek_cert_size, &ek_cert_size) < 0) {
                free(ek_cert);
                ek_cert = NULL;
        }
        r = read_full_file(p->eventlog, EVENTLOG_MAX_SIZE, &log, &log_size);
        if (r < 0) {
                log_warning("No event log at %s (%s): the verifier cannot explain the PCRs",
                            p->eventlog, strerror(-r));
                log = NULL;
        }

        tpm = json_object_new_object();
        enc = json_object_new_object();
        if (json_add_int(doc, "version", EVIDENCE_VERSION) < 0 ||
            json_add_string(doc, "platform", platform) < 0 ||
            json_add_string(doc, "nonce", nonce_hex) < 0 || json_add(doc, "tpm", tpm) < 0 ||
            add_b64(tpm, "ak_public", ak_pub, ak_size) < 0 ||
            add_b64(tpm, "quote", quote, quote_size) < 0 ||
            add_b64(tpm, "quote_signature", sig, sig_size) < 0 ||
            tpm_pcrs_to_json(&pcrs, &pcrs_json) < 0 || json_add(tpm, "pcrs", pcrs_json) < 0 ||
            json_add(tpm, "encryption_key", enc) < 0 || add_b64(enc, "public", ek_pub, ek_size) < 0 ||
            add_b64(enc, "certify_info", certify, certify_size) < 0 ||
            add_b64(enc, "certify_signature", certify_sig, certify_sig_size) < 0 ||
            (ak_cert && add_b64(tpm, "ak_certificate", ak_cert, ak_cert_size) < 0) ||
            (ek_cert && add_b64(tpm, "ek_certificate", ek_cert, ek_cert_size) < 0) ||
            (log && add_b64(doc, "eventlog", log, log_size) < 0) ||
            (hcl && add_b64(doc, "hcl_report", hcl, hcl_size) < 0))
                return -ENOMEM;
        *ret_doc = TAKE_PTR(doc);
        if (ret_quote_sel)
                *ret_quote_sel = quote_sel;
        if (ret_pcrs)
                *ret_pcrs = pcrs;
        return 0;
}

int evidence_main(int argc, char **argv) {
        enum { ARG_PCRS = 0x100, ARG_NONCE, ARG_EVENTLOG, ARG_AK_HANDLE, ARG_AK_TYPE, ARG_ISOLATION,
               ARG_OUT, ARG_JSON, ARG_FORMAT, ARG_VCEK_CHAIN, ARG_CREDENTIAL, ARG_EK };
        static const struct option options[] = {
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "nonce", required_argument, NULL, ARG_NONCE },
                { "eventlog", required_argument, NULL, ARG_EVENTLOG },
                { "ak-handle", required_argument, NULL, ARG_AK_HANDLE },
                { "ak-type", required_argument, NULL, ARG_AK_TYPE },
                { "isolation", required_argument, NULL, ARG_ISOLATION },
                { "out", required_argument, NULL, ARG_OUT },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "vcek-chain", required_argument, NULL, ARG_VCEK_CHAIN },
                { "credential", required_argument, NULL, ARG_CREDENTIAL },
                { "ek", required_argument, NULL, ARG_EK },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        const char *eventlog = secure_getenv("CVM_EVENTLOG") ?: EVENTLOG_DEFAULT;
        const char *out = NULL, *isolation = "auto", *platform, *vcek_chain_path = NULL,
                   *credential = NULL;
        int ek_type = TPM_EK_RSA_2048;
        bool maa = false;
        uint8_t nonce[64] = {};
        size_t nonce_size = 32;
        uint32_t mask, ak_handle = TPM_AK_HANDLE_AZURE;
        TpmAkType ak_type = TPM_AK_ECC_P256;
        bool random_nonce = true;
        char nonce_hex[129];
        TpmPcrSet pcrs = {}, quote_sel = {};
        Diag d = {};
        int c, r;

        (void) tpm_pcr_mask_parse(EVIDENCE_PCRS_DEFAULT, &mask);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_PCRS:
                        if (tpm_pcr_mask_parse(optarg, &mask) < 0) {
                                log_error("--pcrs: '%s' is not a PCR list like 0-7,11", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_NONCE: {
                        _cleanup_(freep) uint8_t *b = NULL;
                        if (hex_decode(optarg, strlen(optarg), 64, &b, &nonce_size) < 0 ||
                            nonce_size == 0) {
                                log_error("--nonce: need 1 to 64 bytes of hex");
                                return EXIT_USAGE;
                        }
                        memcpy(nonce, b, nonce_size);
                        random_nonce = false;
                        break;
                }
                case ARG_EVENTLOG:
                        eventlog = optarg;
                        break;
                case ARG_AK_HANDLE:
                        if (safe_atou32(optarg, &ak_handle) < 0 || (ak_handle >> 24) != 0x81) {
                                log_error("--ak-handle: '%s' is not a persistent handle 0x81xxxxxx",
                                          optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_AK_TYPE:
                        if (streq(optarg, "ecc"))
                                ak_type = TPM_AK_ECC_P256;
                        else if (streq(optarg, "rsa"))
                                ak_type = TPM_AK_RSA_2048;
                        else {
                                log_error("--ak-type: ecc or rsa");
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_ISOLATION:
                        if (!streq(optarg, "auto") && !streq(optarg, "azure") &&
                            !streq(optarg, "snp") && !streq(optarg, "none")) {
                                log_error("--isolation: auto, azure, snp or none");
                                return EXIT_USAGE;
                        }
                        isolation = optarg;
                        break;
                case ARG_OUT:
                        out = optarg;
                        break;
                case ARG_FORMAT:
                        if (!streq(optarg, "cvm") && !streq(optarg, "maa")) {
                                log_error("--format: cvm or maa");
                                return EXIT_USAGE;
                        }
                        maa = streq(optarg, "maa");
                        break;
                case ARG_VCEK_CHAIN:
                        vcek_chain_path = optarg;
                        break;
                case ARG_CREDENTIAL:
                        credential = optarg;
                        break;
                case ARG_EK:
                        ek_type = ek_type_from_string(optarg);
                        if (ek_type < 0) {
                                log_error("--ek: rsa, ecc-p256 or ecc-p384");
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_JSON:
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind != argc) {
                log_error("evidence: unexpected argument '%s'", argv[optind]);
                return EXIT_USAGE;
        }
        if (credential && !random_nonce) {
                log_error("--credential and --nonce: the credential's secret is the nonce");
                return EXIT_USAGE;
        }
        if (random_nonce && !credential && RAND_bytes(nonce, (int) nonce_size) != 1)
                return log_error("Cannot make a nonce"), EXIT_INTERNAL;

        r = tpm_device_open(secure_getenv("CVM_TCTI"), &t, &d);
        if (r < 0)
                return log_error_errno(r, "Cannot open the TPM: %s", diag_text(&d, strerror(-r))),
                       exit_code_from_errno(r);
        if (credential) {
                _cleanup_(freep) uint8_t *ak_pub = NULL;
                size_t ak_size;

                r = tpm_device_ak(t, ak_handle, true, ak_type, &ak_pub, &ak_size, &d);
                if (r >= 0)
                        r = credential_activate(t, ak_handle, ek_type, credential, nonce,
                                                &nonce_size, &d);
                if (r < 0)
                        return log_error_errno(r, "Cannot activate the verifier's credential: %s",
                                               diag_text(&d, strerror(-r))),
                               exit_code_from_errno(r);
        }
        {
                EvidenceParams p = {
                        .mask = mask,
                        .eventlog = eventlog,
                        .ak_handle = ak_handle,
                        .ak_type = ak_type,
                        .isolation = isolation,
                        .nonce = nonce,
                        .nonce_size = nonce_size,
                };

                r = evidence_collect(t, &p, &doc, &quote_sel, &pcrs, &d);
                if (r < 0)
                        return log_error_errno(r, "Cannot collect the evidence: %s",
                                               diag_text(&d, strerror(-r))),
                               exit_code_from_errno(r);
        }
        platform = json_object_get_string(json_object_object_get(doc, "platform"));
        hex_encode_buf(nonce, nonce_size, nonce_hex);
        if (maa) {
                json_object *body = NULL;

                r = evidence_maa_request(doc, &quote_sel, &pcrs, vcek_chain_path, &body, &d);
                if (r < 0) {
                        log_error_errno(r, "Cannot build the AzureGuest request: %s",
                                        diag_text(&d, strerror(-r)));
                        return exit_code_from_errno(r);
                }
                json_object_put(doc);
                doc = body;
        }
        if (out) {
                const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY);
                r = write_file_atomic(out, s, strlen(s));
                if (r < 0)
                        return log_error_errno(r, "Cannot write %s: %m", out), EXIT_INTERNAL;
                log_info("Evidence (%s, nonce %s) written to %s", platform, nonce_hex, out);
                return EXIT_OK;
        }
        return json_print(stdout, doc) < 0 ? EXIT_INTERNAL : EXIT_OK;
}
