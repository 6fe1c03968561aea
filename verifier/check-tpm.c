/* SPDX-License-Identifier: Apache-2.0 */
/* `cvm-verifier check quote` and `cvm-verifier check hcl`. */
#include <getopt.h>
#include <openssl/pem.h>
#include <stdio.h>

#include "common/cli-util.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "snp/snp-verify.h"
#include "verifier/check.h"
#include "vtpm/hcl-report.h"
#include "vtpm/tpm-attest.h"
#include "vtpm/tpm-pcrs.h"

int load_pcrs(const char *path, TpmPcrSet *ret, Diag *d) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        int r;

        r = load_file(path, "PCR values", &buf, &size, d);
        if (r < 0)
                return r;
        return tpm_pcrs_from_json((const char *) buf, size, ret, d);
}

/* Prints the verdict and returns the exit code: the same shape for every check command. */
int check_verdict(const char *what, int r, Diag *d, bool json, json_object *doc,
                  const char *ok_line) {
        if (r == -ENOENT)
                return EXIT_USAGE;
        if (r < 0 && !d->text[0])
                diag_set(d, r, "%s", strerror(-r));
        if (json) {
                if (json_add_bool(doc, "verified", r >= 0) < 0 ||
                    (r < 0 && json_add_string(doc, "reason", d->text) < 0) ||
                    json_print(stdout, doc) < 0)
                        return EXIT_INTERNAL;
        } else if (r >= 0 && ok_line)
                printf("%s\n", ok_line);
        if (r < 0) {
                log_error("%s: not verified: %s", what, d->text);
                return snp_check_exit_code(r);
        }
        return EXIT_OK;
}

static void quote_help(void) {
        printf("Usage: cvm-verifier check quote --quote ATTEST --sig SIG --ak PUB [OPTIONS]\n"
               "\n"
               "Verifies a TPM 2.0 quote: the TPMS_ATTEST's signature by the AK, the nonce in\n"
               "extraData and the PCR digest.\n"
               "\n"
               "  --quote FILE    the marshalled TPMS_ATTEST\n"
               "  --sig FILE      a TPMT_SIGNATURE, or the bare RSA signature bytes\n"
               "  --ak FILE       the AK: PEM or DER public key, TPMT_PUBLIC, TPM2B_PUBLIC, or JWK\n"
               "  --pcrs FILE     PCR values (JSON): {\"0\": hex, ...}, [hex, ...], or under bank\n"
               "                  names {\"sha256\": ...}; checked against the quote's pcrDigest\n"
               "  --nonce HEX     the expected extraData\n"
               "  --json          print the parsed quote and the verdict as JSON\n");
}

int check_quote_main(int argc, char **argv) {
        enum { ARG_QUOTE = 0x100, ARG_SIG, ARG_AK, ARG_PCRS, ARG_NONCE, ARG_JSON };
        static const struct option options[] = {
                { "quote", required_argument, NULL, ARG_QUOTE },
                { "sig", required_argument, NULL, ARG_SIG },
                { "ak", required_argument, NULL, ARG_AK },
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "nonce", required_argument, NULL, ARG_NONCE },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
        _cleanup_(freep) uint8_t *quote = NULL, *sig_bytes = NULL, *ak_bytes = NULL, *nonce = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        const char *quote_path = NULL, *sig_path = NULL, *ak_path = NULL, *pcrs_path = NULL;
        size_t quote_size, sig_size, ak_size, nonce_size = 0;
        TpmQuoteExpect expect = {};
        TPMT_PUBLIC ak_public;
        TPMT_SIGNATURE sig;
        TPMS_ATTEST attest;
        TpmPcrSet pcrs;
        bool json = false, has_public = false, bare;
        json_object *j;
        uint16_t bare_hash = TPM_ALG_SHA256;
        Diag d = {};
        int c, r;

        if (!doc)
                return EXIT_INTERNAL;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_QUOTE:
                        quote_path = optarg;
                        break;
                case ARG_SIG:
                        sig_path = optarg;
                        break;
                case ARG_AK:
                        ak_path = optarg;
                        break;
                case ARG_PCRS:
                        pcrs_path = optarg;
                        break;
                case ARG_NONCE:
                        free(nonce);
                        nonce = NULL;
                        if (hex_decode(optarg, strlen(optarg), 64, &nonce, &nonce_size) < 0) {
                                log_error("--nonce: need up to 128 hex digits");
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'h':
                        quote_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (!quote_path || !sig_path || !ak_path || optind != argc) {
                log_error("check quote: need --quote, --sig and --ak (see --help)");
                return EXIT_USAGE;
        }

        r = load_file(quote_path, "quote", &quote, &quote_size, &d);
        if (r >= 0)
                r = load_file(sig_path, "signature", &sig_bytes, &sig_size, &d);
        if (r >= 0)
                r = load_file(ak_path, "AK", &ak_bytes, &ak_size, &d);
        if (r >= 0)
                r = tpm_ak_load(ak_bytes, ak_size, &ak, &ak_public, &has_public, &d);
        if (r >= 0 && has_public && ak_public.type == TPM2_ALG_RSA &&
            ak_public.parameters.rsaDetail.scheme.scheme != TPM2_ALG_NULL)
                bare_hash = ak_public.parameters.rsaDetail.scheme.details.anySig.hashAlg;
        if (r >= 0)
                r = tpm_signature_parse(sig_bytes, sig_size, ak, bare_hash, &sig, &bare, &d);
        if (r >= 0 && pcrs_path) {
                r = load_pcrs(pcrs_path, &pcrs, &d);
                expect.pcrs = &pcrs;
        }
        if (r >= 0) {
                expect.nonce = nonce;
                expect.nonce_size = nonce_size;
                r = tpm_quote_verify(ak, quote, quote_size, &sig, &expect, &attest, &d);
        }
        if (r >= 0) {
                if (tpm_attest_to_json(&attest, &j) < 0 || json_add(doc, "quote", j) < 0 ||
                    json_add_bool(doc, "nonce_checked", nonce != NULL) < 0 ||
                    json_add_bool(doc, "pcrs_checked", pcrs_path != NULL) < 0)
                        return EXIT_INTERNAL;
        }
        return check_verdict(quote_path, r, &d, json, doc,
                             pcrs_path ? "verified: quote signed by the AK over the given PCRs"
                                       : "verified: quote signed by the AK (PCR values not "
                                         "checked: pass --pcrs)");
}

static void hcl_help(void) {
        printf("Usage: cvm-verifier check hcl HCL [OPTIONS]\n"
               "\n"
               "Parses an Azure HCL report (vTPM NV 0x01400001), checks that its hardware report's\n"
               "REPORT_DATA binds the runtime claims, and with a certificate verifies the SNP\n"
               "report too. Prints the AK (HCLAkPub) and the VM configuration.\n"
               "\n"
               "  --cert, --certs, --crl, --root, --at   as for check snp\n"
               "  --ak-out FILE   write HCLAkPub as PEM to FILE\n"
               "  --json          print everything as JSON\n");
}

int check_hcl_main(int argc, char **argv) {
        enum { ARG_AK_OUT = SNP_ARG_MAX, ARG_JSON };
        static const struct option options[] = {
                SNP_CHECK_GETOPT,
                { "ak-out", required_argument, NULL, ARG_AK_OUT },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object(), *claims = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
        _cleanup_(freep) uint8_t *raw = NULL;
        SnpCheckOptions o = { .at = time(NULL) };
        const char *path, *ak_out = NULL;
        bool json = false, snp_checked = false;
        size_t size;
        HclReport h;
        json_object *j;
        Diag d = {};
        int c, r;

        if (!doc)
                return EXIT_INTERNAL;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = snp_check_option(&o, c, optarg);
                if (r > 0)
                        continue;
                if (r < 0)
                        return EXIT_USAGE;
                switch (c) {
                case ARG_AK_OUT:
                        ak_out = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'h':
                        hcl_help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        }
        if (optind + 1 != argc) {
                log_error("check hcl: need exactly one HCL report file (see --help)");
                return EXIT_USAGE;
        }
        path = argv[optind];

        r = load_file(path, "HCL report", &raw, &size, &d);
        if (r >= 0)
                r = hcl_report_parse(raw, size, &h, &d);
        if (r >= 0 && h.report_type != HCL_REPORT_TYPE_SNP)
                r = diag_set(&d, -EPROTONOSUPPORT, "HCL report: report_type at 0x4c8 is %u (%s); "
                             "only SEV-SNP is supported", h.report_type,
                             hcl_report_type_to_string(h.report_type));
        if (r >= 0)
                r = hcl_runtime_claims(&h, &claims, &d);
        if (r >= 0) {
                if (hcl_report_to_json(&h, claims, &j) < 0 || json_add(doc, "hcl", j) < 0)
                        return EXIT_INTERNAL;
                r = hcl_claims_key(claims, "HCLAkPub", &ak, &d);
        }
        if (r >= 0 && (o.cert_path || o.certs_path)) {
                r = snp_check_verify(&o, h.hw_report, HCL_HW_REPORT_SIZE, doc, NULL, &e, &d);
                snp_checked = r >= 0;
        } else if (r >= 0) {
                /* Without a certificate: parse only, and say so. */
                SnpReport rep;
                r = snp_report_parse(h.hw_report, HCL_HW_REPORT_SIZE, &rep, &d);
                if (r >= 0 && (snp_report_to_json(&rep, &j) < 0 || json_add(doc, "report", j) < 0))
                        return EXIT_INTERNAL;
        }
        if (r >= 0)
                r = hcl_report_check_binding(&h, h.hw_report + 0x50, &d);
        if (r >= 0) {
                if (jwk_from_pkey(ak, "HCLAkPub", &j) < 0 || json_add(doc, "ak", j) < 0 ||
                    json_add_bool(doc, "binding_checked", true) < 0 ||
                    json_add_bool(doc, "snp_signature_checked", snp_checked) < 0)
                        return EXIT_INTERNAL;
                if (ak_out) {
                        _cleanup_(BIO_freep) BIO *bio = BIO_new_file(ak_out, "w");
                        if (!bio || !PEM_write_bio_PUBKEY(bio, ak)) {
                                log_error("Cannot write %s", ak_out);
                                return EXIT_INTERNAL;
                        }
                }
        }
        return check_verdict(path, r, &d, json, doc,
                             snp_checked ? "verified: SNP report signed by AMD, runtime claims "
                                           "bound by REPORT_DATA"
                                         : "verified: runtime claims bound by REPORT_DATA (SNP "
                                           "signature not checked: pass --cert or --certs)");
}
