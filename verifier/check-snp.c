/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "common/cli-util.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/time-util.h"
#include "snp/snp-certs.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/check.h"

/* Largest input file: an Azure HCL report is 2600 bytes, certificate bundles a few KiB. */
#define INPUT_MAX (256u * 1024u)
#define HCL_REPORT_OFFSET 0x20u
/* IGVM_REQUEST_DATA.report_type follows the 0x4A0-byte hardware report slot (azure-cvm.md). */
#define HCL_REPORT_TYPE_OFFSET (HCL_REPORT_OFFSET + SNP_REPORT_SIZE + 8u)
#define HCL_REPORT_TYPE_SNP 2u

static void help(void) {
        printf("Usage: cvm-verifier check snp REPORT [OPTIONS]\n"
               "\n"
               "Verifies an SEV-SNP attestation report (raw 1184 bytes, or the report inside an\n"
               "Azure HCL report) against its VCEK or VLEK and AMD's roots.\n"
               "\n"
               "  --cert FILE     the VCEK or VLEK (PEM or DER)\n"
               "  --certs FILE    a certificate table (as from the extended report) or a PEM\n"
               "                  chain (VCEK, ASK, ARK in any order); supplies --cert if absent\n"
               "  --crl FILE      an ARK-signed CRL (DER or PEM) to check the ASK/ASVK against\n"
               "  --root FILE     also trust this ARK (PEM or DER); may be repeated\n"
               "  --at TIME       check certificate validity at TIME (RFC 3339), not now\n"
               "  --json          print the parsed report and the verdict as JSON\n");
}

typedef struct Inputs {
        STACK_OF(X509) *certs; /* everything from --cert and --certs */
        X509 *leaf;
        X509_CRL *crl;
} Inputs;

static void inputs_done(Inputs *in) {
        sk_X509_pop_free(in->certs, X509_free);
        X509_free(in->leaf);
        X509_CRL_free(in->crl);
}

/* -EFBIG (with a Diag) for a file over the cap: malformed input, exit 3. -ENOENT (logged) for a
 * file that cannot be read: a usage error, exit 2. */
static int load_file(const char *path, const char *what, uint8_t **ret, size_t *ret_size,
                     Diag *d) {
        int r = read_full_file(path, INPUT_MAX, ret, ret_size);

        if (r == -EFBIG)
                return diag_set(d, -EFBIG, "%s %s: larger than %u bytes", what, path, INPUT_MAX);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s %s: %m", what, path), -ENOENT;
        return 0;
}

static int push_all(STACK_OF(X509) *dst, STACK_OF(X509) *src) {
        while (sk_X509_num(src) > 0) {
                X509 *x = sk_X509_shift(src);
                if (!sk_X509_push(dst, x)) {
                        X509_free(x);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* --certs: a GHCB certificate table (binary) or a PEM bundle. */
static int load_certs(const char *path, Inputs *in, Diag *d) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        Diag table_diag = {};
        SnpCertTable t;
        size_t size;
        int r;

        r = load_file(path, "certificates", &buf, &size, d);
        if (r < 0)
                return r;
        if (memmem(buf, size, "-----BEGIN", 10) || (size > 0 && buf[0] == 0x30)) {
                r = x509_parse_bundle(buf, size, &sk);
                if (r < 0)
                        return diag_set(d, -EBADMSG, "--certs %s: not a certificate table or a "
                                        "PEM/DER certificate", path);
                return push_all(in->certs, sk);
        }
        r = snp_cert_table_parse(buf, size, &t, &table_diag);
        if (r < 0)
                return diag_set(d, r, "--certs %s: %s", path, table_diag.text);
        for (size_t i = 0; i < t.n_entries; i++) {
                const SnpCertEntry *e = &t.entries[i];

                if (e->kind == SNP_CERT_CRL) {
                        if (!in->crl && x509_crl_parse(e->data, e->size, &in->crl) < 0)
                                return diag_set(d, -EBADMSG, "--certs %s: entry %zu (CRL) does not "
                                                "parse", path, i);
                        continue;
                }
                if (e->kind == SNP_CERT_UNKNOWN)
                        continue;
                r = x509_parse_bundle(e->data, e->size, &sk);
                if (r < 0)
                        return diag_set(d, -EBADMSG, "--certs %s: entry %zu (%s) is not a DER "
                                        "certificate", path, i, snp_cert_kind_to_string(e->kind));
                r = push_all(in->certs, sk);
                sk_X509_pop_free(sk, X509_free);
                sk = NULL;
                if (r < 0)
                        return r;
        }
        return 0;
}

static X509 *find_leaf(STACK_OF(X509) *sk) {
        for (int i = 0; i < sk_X509_num(sk); i++) {
                X509 *x = sk_X509_value(sk, i);
                char cn[64];

                if (x509_common_name(X509_get_subject_name(x), cn, sizeof(cn)) >= 0 &&
                    (streq(cn, "SEV-VCEK") || streq(cn, "SEV-VLEK")))
                        return x;
        }
        return NULL;
}

static int endorsement_to_json(const SnpEndorsement *e, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *chain = json_object_new_array();
        char nb[32], na[32];

        if (!o || json_add(o, "chain", chain) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(e->chain); i++)
                if (json_object_array_add(chain, json_object_new_string(e->chain[i])) < 0)
                        return -ENOMEM;
        format_rfc3339(e->not_before, nb, sizeof(nb));
        format_rfc3339(e->not_after, na, sizeof(na));
        if (json_add_string(o, "kind", e->vlek ? "vlek" : "vcek") < 0 ||
            json_add_string(o, "product", snp_product_to_string(e->product)) < 0 ||
            json_add_string(o, "product_name", e->product_name) < 0 ||
            (e->vlek ? json_add_string(o, "csp_id", e->csp_id)
                     : json_add_hex(o, "hwid", e->hwid, e->hwid_size)) < 0 ||
            json_add_string(o, "not_before", nb) < 0 || json_add_string(o, "not_after", na) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int check_snp_main(int argc, char **argv) {
        enum { ARG_CERT = 0x100, ARG_CERTS, ARG_CRL, ARG_ROOT, ARG_AT, ARG_JSON };
        static const struct option options[] = {
                { "cert", required_argument, NULL, ARG_CERT },
                { "certs", required_argument, NULL, ARG_CERTS },
                { "crl", required_argument, NULL, ARG_CRL },
                { "root", required_argument, NULL, ARG_ROOT },
                { "at", required_argument, NULL, ARG_AT },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(snp_trust_freep) SnpTrust *trust = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_(freep) uint8_t *raw = NULL;
        const char *cert_path = NULL, *certs_path = NULL, *crl_path = NULL, *report_path;
        const char *roots[16];
        size_t n_roots = 0, raw_size;
        const uint8_t *report_bytes;
        bool json = false, hcl = false;
        Inputs in = {};
        SnpReport rep;
        time_t at = time(NULL);
        Diag d = {};
        int c, r, ret;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_CERT:
                        cert_path = optarg;
                        break;
                case ARG_CERTS:
                        certs_path = optarg;
                        break;
                case ARG_CRL:
                        crl_path = optarg;
                        break;
                case ARG_ROOT:
                        if (n_roots >= ELEMENTSOF(roots)) {
                                log_error("--root: at most %zu", ELEMENTSOF(roots));
                                return EXIT_USAGE;
                        }
                        roots[n_roots++] = optarg;
                        break;
                case ARG_AT:
                        if (parse_rfc3339(optarg, &at) < 0) {
                                log_error("--at: '%s' is not an RFC 3339 time", optarg);
                                return EXIT_USAGE;
                        }
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
        if (optind + 1 != argc) {
                log_error("check snp: need exactly one REPORT file (see --help)");
                return EXIT_USAGE;
        }
        report_path = argv[optind];

        doc = json_object_new_object();
        if (!doc)
                return EXIT_INTERNAL;
        r = load_file(report_path, "report", &raw, &raw_size, &d);
        if (r == -ENOENT)
                return EXIT_USAGE;
        if (r < 0) {
                ret = EXIT_MALFORMED;
                goto verdict;
        }
        report_bytes = raw;
        /* An Azure HCL report ("HCLA" header) carries the SNP report at 0x20, and after it a
         * request-data header whose report_type (file offset 0x4C8) says which TEE wrote it. */
        if (raw_size >= 4 && memcmp(raw, "HCLA", 4) == 0) {
                uint32_t type;

                if (raw_size < HCL_REPORT_TYPE_OFFSET + 4) {
                        r = diag_set(&d, -EBADMSG, "HCL report: %zu bytes, too short to hold an SNP "
                                     "report", raw_size);
                        ret = EXIT_MALFORMED;
                        goto verdict;
                }
                type = (uint32_t) raw[HCL_REPORT_TYPE_OFFSET] |
                       (uint32_t) raw[HCL_REPORT_TYPE_OFFSET + 1] << 8 |
                       (uint32_t) raw[HCL_REPORT_TYPE_OFFSET + 2] << 16 |
                       (uint32_t) raw[HCL_REPORT_TYPE_OFFSET + 3] << 24;
                if (type != HCL_REPORT_TYPE_SNP) {
                        r = diag_set(&d, -EBADMSG, "HCL report: report_type at 0x4c8 is %u%s, not "
                                     "2 (SEV-SNP)", type, type == 4 ? " (TDX)" : "");
                        ret = EXIT_MALFORMED;
                        goto verdict;
                }
                report_bytes = raw + HCL_REPORT_OFFSET;
                raw_size = SNP_REPORT_SIZE;
                hcl = true;
        }

        r = snp_report_parse(report_bytes, raw_size, &rep, &d);
        if (r < 0) {
                ret = EXIT_MALFORMED;
                goto verdict;
        }
        {
                json_object *rj = NULL;
                if (snp_report_to_json(&rep, &rj) < 0 || json_add(doc, "report", rj) < 0)
                        return EXIT_INTERNAL;
                if (hcl && json_add_string(doc, "container", "azure-hcl-report") < 0)
                        return EXIT_INTERNAL;
        }

        r = snp_trust_new(true, &trust);
        if (r < 0)
                return log_error_errno(r, "Cannot load the compiled-in AMD roots: %m"), EXIT_INTERNAL;
        for (size_t i = 0; i < n_roots; i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                Diag root_diag = {};
                size_t size;

                r = load_file(roots[i], "root", &buf, &size, &d);
                if (r == -ENOENT)
                        return EXIT_USAGE;
                if (r < 0)
                        goto verdict_in;
                r = snp_trust_add(trust, buf, size, &root_diag);
                if (r < 0) {
                        diag_set(&d, r, "--root %s: %s", roots[i], root_diag.text);
                        goto verdict_in;
                }
        }

        in.certs = sk_X509_new_null();
        if (!in.certs)
                return EXIT_INTERNAL;
        if (certs_path) {
                r = load_certs(certs_path, &in, &d);
                if (r == -ENOENT) { /* unreadable file, already said why */
                        inputs_done(&in);
                        return EXIT_USAGE;
                }
                if (r < 0)
                        goto verdict_in;
        }
        if (cert_path) {
                _cleanup_(freep) uint8_t *buf = NULL;
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
                size_t size;

                r = load_file(cert_path, "certificate", &buf, &size, &d);
                if (r == -ENOENT) {
                        inputs_done(&in);
                        return EXIT_USAGE;
                }
                if (r < 0)
                        goto verdict_in;
                r = x509_parse_bundle(buf, size, &sk);
                if (r < 0) {
                        r = diag_set(&d, -EBADMSG, "--cert %s: not a PEM or DER certificate",
                                     cert_path);
                        goto verdict_in;
                }
                in.leaf = sk_X509_shift(sk);
                r = push_all(in.certs, sk);
                if (r < 0)
                        goto verdict_in;
        } else {
                X509 *leaf = find_leaf(in.certs);
                if (!leaf || !X509_up_ref(leaf)) {
                        r = diag_set(&d, -ENOKEY, "no VCEK or VLEK: pass --cert, or --certs with a "
                                     "table or chain that holds one (AMD KDS path: see the "
                                     "report's chip id and TCB)");
                        goto verdict_in;
                }
                in.leaf = leaf;
        }
        if (crl_path) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t size;

                X509_CRL_free(in.crl);
                in.crl = NULL;
                r = load_file(crl_path, "CRL", &buf, &size, &d);
                if (r == -ENOENT) {
                        inputs_done(&in);
                        return EXIT_USAGE;
                }
                if (r < 0)
                        goto verdict_in;
                r = x509_crl_parse(buf, size, &in.crl);
                if (r < 0) {
                        r = diag_set(&d, -EBADMSG, "--crl %s: not a DER or PEM CRL", crl_path);
                        goto verdict_in;
                }
        }

        r = snp_endorsement_verify(trust, in.leaf, in.certs, in.crl, at, &e, &d);
        if (r >= 0)
                r = snp_report_verify(e, &rep, report_bytes, raw_size, &d);
        if (r >= 0 || e) {
                json_object *ej = NULL;
                if (e && (endorsement_to_json(e, &ej) < 0 || json_add(doc, "endorsement", ej) < 0)) {
                        inputs_done(&in);
                        return EXIT_INTERNAL;
                }
        }
verdict_in:
        inputs_done(&in);
        ret = r < 0 ? exit_code_from_errno(r) : EXIT_OK;
        /* Anything that is not malformed input and not success is a failed verification. */
        if (r < 0 && ret != EXIT_MALFORMED && ret != EXIT_INTERNAL)
                ret = EXIT_VERIFY;
verdict:
        if (r < 0 && !d.text[0])
                diag_set(&d, r, "%s", strerror(-r));
        if (json) {
                if (json_add_bool(doc, "verified", r >= 0) < 0 ||
                    (r < 0 && json_add_string(doc, "reason", d.text) < 0) ||
                    json_print(stdout, doc) < 0)
                        return EXIT_INTERNAL;
        } else if (r >= 0)
                printf("verified: %s SNP report version %u, signed by %s <- %s <- %s\n",
                       snp_product_to_string(e->product), rep.version, e->chain[0], e->chain[1],
                       e->chain[2]);
        if (r < 0)
                log_error("%s: not verified: %s", report_path, d.text);
        return ret;
}
