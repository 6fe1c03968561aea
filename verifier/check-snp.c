/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "common/cli-util.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/http.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/time-util.h"
#include "snp/snp-certs.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/check.h"
#include "verifier/kds.h"
#include "vtpm/hcl-report.h"

/* Largest input file: an Azure HCL report is 2600 bytes, certificate bundles a few KiB. */
#define INPUT_MAX (256u * 1024u)

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
               "  --vcek-cache DIR  without a VCEK from --cert/--certs, take it from this AMD KDS\n"
               "                  cache (DIR/vcek/<Product>/<hwid>/<tcb>.der)\n"
               "  --kds URL       fetch what the cache lacks from AMD KDS at URL\n"
               "                  (https://kdsintf.amd.com) and keep it there; also the CRL\n"
               "                  (DIR/crl/<Product>.der) unless --crl or the table has one\n"
               "  --no-kds-crl    with --kds, do not fetch the CRL (revocation unchecked)\n"
               "  --allow-stale-crl  if the CRL has expired and KDS cannot refresh it, verify\n"
               "                  without it (revocation unchecked) instead of failing\n"
               "  --json          print the parsed report and the verdict as JSON\n");
}

/* KDS lookups, for `check snp` alone (the other commands do not take these options). */
typedef struct KdsUse {
        Kds *kds;             /* NULL: no VCEK cache */
        bool crl;             /* take the CRL from the cache/KDS when none was given */
        bool allow_stale_crl;
        bool failed;          /* set when the failure came from the cache or KDS */
} KdsUse;

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
int load_file(const char *path, const char *what, uint8_t **ret, size_t *ret_size,
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

/* Certificates as a GHCB certificate table (binary) or a PEM bundle (or one DER certificate). */
static int load_certs_bytes(const uint8_t *buf, size_t size, const char *label, Inputs *in,
                            Diag *d) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        Diag table_diag = {};
        SnpCertTable t;
        int r;

        if (memmem(buf, size, "-----BEGIN", 10) || (size > 0 && buf[0] == 0x30)) {
                r = x509_parse_bundle(buf, size, &sk);
                if (r < 0)
                        return diag_set(d, -EBADMSG, "%s: not a certificate table or a PEM/DER "
                                        "certificate", label);
                return push_all(in->certs, sk);
        }
        r = snp_cert_table_parse(buf, size, &t, &table_diag);
        if (r < 0)
                return diag_set(d, r, "%s: %s", label, table_diag.text);
        for (size_t i = 0; i < t.n_entries; i++) {
                const SnpCertEntry *e = &t.entries[i];

                if (e->kind == SNP_CERT_CRL) {
                        if (!in->crl && x509_crl_parse(e->data, e->size, &in->crl) < 0)
                                return diag_set(d, -EBADMSG, "%s: entry %zu (CRL) does not parse",
                                                label, i);
                        continue;
                }
                if (e->kind == SNP_CERT_UNKNOWN)
                        continue;
                r = x509_parse_bundle(e->data, e->size, &sk);
                if (r < 0)
                        return diag_set(d, -EBADMSG, "%s: entry %zu (%s) is not a DER certificate",
                                        label, i, snp_cert_kind_to_string(e->kind));
                r = push_all(in->certs, sk);
                sk_X509_pop_free(sk, X509_free);
                sk = NULL;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_certs(const char *path, Inputs *in, Diag *d) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) char *label = NULL;
        size_t size;
        int r;

        r = load_file(path, "certificates", &buf, &size, d);
        if (r < 0)
                return r;
        if (asprintf(&label, "--certs %s", path) < 0)
                return -ENOMEM;
        return load_certs_bytes(buf, size, label, in, d);
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

/* The VCEK for rep from the cache or KDS. A failure sets ku->failed; "not there" becomes
 * -ENOKEY (no key to verify with), as -ENOENT means an unreadable input file here. */
static int kds_leaf(KdsUse *ku, const SnpReport *rep, X509 **ret, Diag *d) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        _cleanup_(freep) uint8_t *der = NULL;
        size_t size;
        int r;

        r = kds_get_vcek(ku->kds, rep, &der, &size, d);
        if (r < 0) {
                ku->failed = true;
                return r == -ENOENT ? -ENOKEY : r;
        }
        r = x509_parse_bundle(der, size, &sk);
        if (r < 0)
                return diag_set(d, -EBADMSG, "VCEK from the KDS cache does not parse");
        *ret = sk_X509_shift(sk);
        return 0;
}

/* The CRL of product from the cache or KDS: 0 with *ret, 1 (logged) when it has expired and
 * the operator allowed verifying without it, -errno (ku->failed set) otherwise. */
static int kds_crl(KdsUse *ku, SnpProduct product, X509_CRL **ret, Diag *d) {
        _cleanup_(freep) uint8_t *der = NULL;
        size_t size;
        int r;

        r = kds_get_crl(ku->kds, product, time(NULL), &der, &size, d);
        if (r < 0) {
                ku->failed = true;
                return r == -ENOENT ? -ENOKEY : r;
        }
        if (r == KDS_CRL_STALE) {
                if (!ku->allow_stale_crl) { /* not reached: the client fails instead */
                        ku->failed = true;
                        return diag_set(d, -EKEYEXPIRED, "the %s CRL has expired",
                                        snp_product_to_string(product));
                }
                log_warning("The %s CRL has expired and KDS cannot refresh it: verifying "
                            "without it (--allow-stale-crl), revocation not checked",
                            snp_product_to_string(product));
                return 1;
        }
        if (x509_crl_parse(der, size, ret) < 0)
                return diag_set(d, -EBADMSG, "CRL from the KDS cache does not parse");
        return 0;
}

static int check_verify(const SnpCheckOptions *o, KdsUse *ku, const uint8_t *report,
                        size_t size, json_object *doc, SnpReport *ret_report,
                        SnpEndorsement **ret_endorsement, Diag *d) {
        _cleanup_(snp_trust_freep) SnpTrust *trust = NULL;
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        json_object *j = NULL;
        Inputs in = {};
        SnpReport rep;
        int r;

        r = snp_report_parse(report, size, &rep, d);
        if (r < 0)
                return r;
        if (snp_report_to_json(&rep, &j) < 0 || json_add(doc, "report", j) < 0)
                return -ENOMEM;
        if (ret_report)
                *ret_report = rep;

        r = snp_trust_new(true, &trust);
        if (r < 0)
                return diag_set(d, r, "cannot load the compiled-in AMD roots");
        for (size_t i = 0; i < o->n_roots; i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                Diag root_diag = {};
                size_t root_size;

                r = load_file(o->roots[i], "root", &buf, &root_size, d);
                if (r < 0)
                        return r;
                r = snp_trust_add(trust, buf, root_size, &root_diag);
                if (r < 0)
                        return diag_set(d, r, "--root %s: %s", o->roots[i], root_diag.text);
        }

        in.certs = sk_X509_new_null();
        if (!in.certs)
                return -ENOMEM;
        if (o->certs_path) {
                r = load_certs(o->certs_path, &in, d);
                if (r < 0)
                        goto out;
        }
        if (o->certs_data) {
                r = load_certs_bytes(o->certs_data, o->certs_size, "the evidence's certificates",
                                     &in, d);
                if (r < 0)
                        goto out;
        }
        if (o->cert_path) {
                _cleanup_(freep) uint8_t *buf = NULL;
                _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
                size_t cert_size;

                r = load_file(o->cert_path, "certificate", &buf, &cert_size, d);
                if (r < 0)
                        goto out;
                r = x509_parse_bundle(buf, cert_size, &sk);
                if (r < 0) {
                        r = diag_set(d, -EBADMSG, "--cert %s: not a PEM or DER certificate",
                                     o->cert_path);
                        goto out;
                }
                in.leaf = sk_X509_shift(sk);
                r = push_all(in.certs, sk);
                if (r < 0)
                        goto out;
        } else if (!find_leaf(in.certs) && ku && ku->kds) {
                r = kds_leaf(ku, &rep, &in.leaf, d);
                if (r < 0)
                        goto out;
        } else {
                X509 *leaf = find_leaf(in.certs);
                if (!leaf || !X509_up_ref(leaf)) {
                        r = diag_set(d, -ENOKEY, "no VCEK or VLEK: pass --cert, or --certs with a "
                                     "table or chain that holds one (AMD KDS path: see the "
                                     "report's chip id and TCB)");
                        goto out;
                }
                in.leaf = leaf;
        }
        if (o->crl_path) {
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t crl_size;

                X509_CRL_free(in.crl);
                in.crl = NULL;
                r = load_file(o->crl_path, "CRL", &buf, &crl_size, d);
                if (r < 0)
                        goto out;
                r = x509_crl_parse(buf, crl_size, &in.crl);
                if (r < 0) {
                        r = diag_set(d, -EBADMSG, "--crl %s: not a DER or PEM CRL", o->crl_path);
                        goto out;
                }
        }

        r = snp_endorsement_verify(trust, in.leaf, in.certs, in.crl, o->at, &e, d);
        /* The CRL from the cache or KDS is per product line, which the verified chain names:
         * fetch it for that chain, then verify again with it. */
        if (r >= 0 && !in.crl && ku && ku->kds && ku->crl) {
                r = kds_crl(ku, e->product, &in.crl, d);
                if (r == 0) {
                        e = snp_endorsement_free(e);
                        r = snp_endorsement_verify(trust, in.leaf, in.certs, in.crl, o->at, &e, d);
                } else if (r > 0)
                        r = 0;
        }
        if (r >= 0) {
                if (endorsement_to_json(e, &j) < 0 || json_add(doc, "endorsement", j) < 0)
                        r = -ENOMEM;
                else
                        r = snp_report_verify(e, &rep, report, size, d);
        }
        if (r >= 0 && ret_endorsement)
                *ret_endorsement = TAKE_PTR(e);
out:
        inputs_done(&in);
        return r;
}

int snp_check_verify(const SnpCheckOptions *o, const uint8_t *report, size_t size,
                     json_object *doc, SnpReport *ret_report, SnpEndorsement **ret_endorsement,
                     Diag *d) {
        return check_verify(o, /* ku= */ NULL, report, size, doc, ret_report, ret_endorsement, d);
}

/* Exit code for a failure of snp_check_verify: usage, malformed input, or failed verification. */
int snp_check_exit_code(int r) {
        int ret = exit_code_from_errno(r);

        if (r == -ENOENT)
                return EXIT_USAGE; /* unreadable input file, already logged */
        if (ret != EXIT_MALFORMED && ret != EXIT_INTERNAL)
                return EXIT_VERIFY;
        return ret;
}

/* A failure of the KDS cache or client: no such key, or KDS could not answer (try later). */
static int kds_exit_code(int r) {
        if (r == -ENOKEY || r == -EKEYEXPIRED || r == -EINVAL)
                return EXIT_VERIFY;
        if (r == -EBADMSG)
                return EXIT_MALFORMED;
        if (r == -ENOMEM)
                return EXIT_INTERNAL;
        return EXIT_UNAVAILABLE;
}

int check_snp_main(int argc, char **argv) {
        enum {
                ARG_JSON = SNP_ARG_MAX,
                ARG_KDS,
                ARG_VCEK_CACHE,
                ARG_NO_KDS_CRL,
                ARG_ALLOW_STALE_CRL,
        };
        static const struct option options[] = {
                SNP_CHECK_GETOPT,
                { "json", no_argument, NULL, ARG_JSON },
                { "kds", required_argument, NULL, ARG_KDS },
                { "vcek-cache", required_argument, NULL, ARG_VCEK_CACHE },
                { "no-kds-crl", no_argument, NULL, ARG_NO_KDS_CRL },
                { "allow-stale-crl", no_argument, NULL, ARG_ALLOW_STALE_CRL },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(snp_endorsement_freep) SnpEndorsement *e = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_(freep) uint8_t *raw = NULL;
        _cleanup_(kds_freep) Kds *kds = NULL;
        SnpCheckOptions o = { .at = time(NULL) };
        KdsConfig kc = {};
        KdsUse ku = { .crl = true };
        const uint8_t *report_bytes;
        const char *report_path;
        bool json = false, hcl = false;
        size_t raw_size;
        SnpReport rep;
        Diag d = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = snp_check_option(&o, c, optarg);
                if (r > 0)
                        continue;
                if (r < 0)
                        return EXIT_USAGE;
                switch (c) {
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_KDS:
                        kc.url = optarg;
                        break;
                case ARG_VCEK_CACHE:
                        kc.cache_dir = optarg;
                        break;
                case ARG_NO_KDS_CRL:
                        ku.crl = false;
                        break;
                case ARG_ALLOW_STALE_CRL:
                        kc.allow_stale_crl = ku.allow_stale_crl = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        }
        if (optind + 1 != argc) {
                log_error("check snp: need exactly one REPORT file (see --help)");
                return EXIT_USAGE;
        }
        report_path = argv[optind];
        if (kc.url && !kc.cache_dir) {
                log_error("check snp: --kds needs --vcek-cache DIR to keep what it fetches");
                return EXIT_USAGE;
        }
        if (kc.cache_dir) {
                r = kds_new(&kc, &kds, &d);
                if (r < 0) {
                        log_error("check snp: %s", diag_text(&d, strerror(-r)));
                        return EXIT_USAGE;
                }
                if (kc.url && http_global_init() < 0) {
                        log_error("check snp: cannot initialise libcurl");
                        return EXIT_INTERNAL;
                }
                ku.kds = kds;
                /* Offline (cache only), a CRL is taken only from --crl or the table. */
                ku.crl = ku.crl && kc.url;
        }

        doc = json_object_new_object();
        if (!doc)
                return EXIT_INTERNAL;
        r = load_file(report_path, "report", &raw, &raw_size, &d);
        if (r < 0)
                goto verdict;
        report_bytes = raw;
        /* An Azure HCL report ("HCLA" header) carries the SNP report at 0x20, and after it a
         * request-data header whose report_type (file offset 0x4C8) says which TEE wrote it. */
        if (raw_size >= 4 && memcmp(raw, "HCLA", 4) == 0) {
                HclReport h;

                r = hcl_report_parse(raw, raw_size, &h, &d);
                if (r < 0)
                        goto verdict;
                if (h.report_type != HCL_REPORT_TYPE_SNP) {
                        r = diag_set(&d, -EBADMSG, "HCL report: report_type at 0x4c8 is %u (%s), "
                                     "not 2 (SEV-SNP)", h.report_type,
                                     hcl_report_type_to_string(h.report_type));
                        goto verdict;
                }
                report_bytes = h.hw_report;
                raw_size = HCL_HW_REPORT_SIZE;
                hcl = true;
                if (json_add_string(doc, "container", "azure-hcl-report") < 0)
                        return EXIT_INTERNAL;
        }
        r = check_verify(&o, &ku, report_bytes, raw_size, doc, &rep, &e, &d);
verdict:
        if (r == -ENOENT)
                return EXIT_USAGE;
        if (r < 0 && !d.text[0])
                diag_set(&d, r, "%s", strerror(-r));
        if (json) {
                if (json_add_bool(doc, "verified", r >= 0) < 0 ||
                    (r < 0 && json_add_string(doc, "reason", d.text) < 0) ||
                    json_print(stdout, doc) < 0)
                        return EXIT_INTERNAL;
        } else if (r >= 0)
                printf("verified: %s SNP report version %u%s, signed by %s <- %s <- %s\n",
                       snp_product_to_string(e->product), rep.version,
                       hcl ? " (in an Azure HCL report)" : "", e->chain[0], e->chain[1],
                       e->chain[2]);
        if (r < 0) {
                log_error("%s: not verified: %s", report_path, d.text);
                if (ku.failed)
                        return kds_exit_code(r);
                return snp_check_exit_code(r);
        }
        return EXIT_OK;
}

/* Options shared by the commands that verify an SNP report: 1 if c was one, 0 if not, -1 bad. */
int snp_check_option(SnpCheckOptions *o, int c, const char *arg) {
        switch (c) {
        case SNP_ARG_CERT:
                o->cert_path = arg;
                return 1;
        case SNP_ARG_CERTS:
                o->certs_path = arg;
                return 1;
        case SNP_ARG_CRL:
                o->crl_path = arg;
                return 1;
        case SNP_ARG_ROOT:
                if (o->n_roots >= ELEMENTSOF(o->roots)) {
                        log_error("--root: at most %zu", ELEMENTSOF(o->roots));
                        return -1;
                }
                o->roots[o->n_roots++] = arg;
                return 1;
        case SNP_ARG_AT:
                if (parse_rfc3339(arg, &o->at) < 0) {
                        log_error("--at: '%s' is not an RFC 3339 time", arg);
                        return -1;
                }
                return 1;
        default:
                return 0;
        }
}
