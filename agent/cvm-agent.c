/* SPDX-License-Identifier: Apache-2.0 */
/* cvm-agent: the guest side. This file is the command line; the work is in the libraries. */
#include <getopt.h>
#include <stdio.h>

#include "agent/agent.h"
#include "common/cli-util.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "snp/snp-certs.h"
#include "snp/snp-report.h"
#include "snp/snp-source.h"

static void help(void) {
        printf("Usage: cvm-agent COMMAND [OPTIONS]\n"
               "\n"
               "Commands:\n"
               "  report     Fetch an SEV-SNP attestation report from the firmware and print it\n"
               "  evidence   Collect vTPM quote, PCRs, event log, keys and SNP/HCL report as JSON\n"
               "  unseal     Open a sealed AzureGuest token with this boot's TPM ephemeral key\n"
               "  credential-request  The verifier's POST /credential body (EK and AK, trusted launch)\n"
               "  enroll     Add a LUKS2 keyslot opened by a key released to this VM when it attests\n"
               "  unlock     Attest, get the key, unwrap it in the TPM and open the LUKS2 volume\n"
               "  monitor    Integrity monitoring: attest again every interval, alert on drift\n"
               "  attest-now One monitoring cycle now, each step printed with its time\n"
               "  status     The last attestation's verdict, drift, open alerts, unlocked volumes\n"
               "\n"
               "report options:\n"
               "  --vmpl N             VMPL to request (default 0)\n"
               "  --report-data HEX    up to 64 bytes for REPORT_DATA, zero-padded (default zeros)\n"
               "  --source SRC         auto (default), tsm (configfs-tsm) or sev-guest\n"
               "  --certs              also ask for the host's certificate table\n"
               "  --out FILE           write the raw 1184-byte report to FILE ('-': stdout)\n"
               "  --certs-out FILE     write the raw certificate table to FILE (implies --certs)\n"
               "  --json               print JSON instead of text\n"
               "\n"
               "Environment: CVM_TSM_REPORT_DIR (default %s), CVM_SEV_GUEST_DEVICE\n"
               "(default %s), CVM_LOG_LEVEL=debug.\n"
               "Exit codes: 0 ok, 1 internal, 2 usage, 3 malformed, 4 verification failed,\n"
               "5 policy denied, 6 unavailable.\n",
               SNP_TSM_REPORT_DIR_DEFAULT, SNP_SEV_GUEST_DEVICE_DEFAULT);
}

static int cmd_report(int argc, char **argv) {
        enum { ARG_VMPL = 0x100, ARG_REPORT_DATA, ARG_SOURCE, ARG_OUT, ARG_CERTS, ARG_CERTS_OUT,
               ARG_JSON };
        static const struct option options[] = {
                { "vmpl", required_argument, NULL, ARG_VMPL },
                { "report-data", required_argument, NULL, ARG_REPORT_DATA },
                { "source", required_argument, NULL, ARG_SOURCE },
                { "out", required_argument, NULL, ARG_OUT },
                { "certs", no_argument, NULL, ARG_CERTS },
                { "certs-out", required_argument, NULL, ARG_CERTS_OUT },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_(freep) uint8_t *rd_buf = NULL;
        SnpSource src = {
                .kind = SNP_SOURCE_AUTO,
                .tsm_report_dir = secure_getenv("CVM_TSM_REPORT_DIR"),
                .sev_guest_path = secure_getenv("CVM_SEV_GUEST_DEVICE"),
        };
        const char *out = NULL, *certs_out = NULL;
        uint8_t report_data[64] = {};
        bool json = false, want_certs = false;
        SnpEvidence ev = {};
        SnpReport rep;
        Diag d = {};
        uint32_t vmpl = 0;
        size_t rd_size;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_VMPL:
                        if (safe_atou32(optarg, &vmpl) < 0 || vmpl > 3) {
                                log_error("--vmpl: '%s' is not a VMPL (0 to 3)", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_REPORT_DATA:
                        r = hex_decode(optarg, strlen(optarg), 64, &rd_buf, &rd_size);
                        if (r < 0) {
                                log_error("--report-data: need up to 128 hex digits (64 bytes)");
                                return EXIT_USAGE;
                        }
                        memcpy(report_data, rd_buf, rd_size);
                        break;
                case ARG_SOURCE:
                        r = snp_source_kind_from_string(optarg);
                        if (r < 0) {
                                log_error("--source: '%s' is not auto, tsm or sev-guest", optarg);
                                return EXIT_USAGE;
                        }
                        src.kind = r;
                        break;
                case ARG_OUT:
                        out = optarg;
                        break;
                case ARG_CERTS:
                        want_certs = true;
                        break;
                case ARG_CERTS_OUT:
                        certs_out = optarg;
                        want_certs = true;
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
        if (optind < argc) {
                log_error("report: unexpected argument '%s'", argv[optind]);
                return EXIT_USAGE;
        }

        r = snp_source_get_report(&src, report_data, vmpl, want_certs, &ev, &d);
        if (r < 0) {
                log_error_errno(r, "Cannot get an SNP report: %s", diag_text(&d, strerror(-r)));
                return exit_code_from_errno(r);
        }
        log_debug("got a %zu-byte report and a %zu-byte certificate table from %s",
                  ev.report_size, ev.certs_size, snp_source_kind_to_string(ev.source));

        r = snp_report_parse(ev.report, ev.report_size, &rep, &d);
        if (r < 0) {
                log_error_errno(r, "The firmware's report is malformed: %s", diag_text(&d, ""));
                snp_evidence_done(&ev);
                return EXIT_MALFORMED;
        }
        if (memcmp(rep.report_data, report_data, 64) != 0 || rep.vmpl != vmpl) {
                log_error("The firmware's report carries other REPORT_DATA or VMPL than asked for");
                snp_evidence_done(&ev);
                return EXIT_VERIFY;
        }
        if (out && (r = write_file_atomic(out, ev.report, ev.report_size)) < 0) {
                log_error_errno(r, "Cannot write %s: %m", out);
                snp_evidence_done(&ev);
                return EXIT_INTERNAL;
        }
        if (certs_out && (r = write_file_atomic(certs_out, ev.certs ?: (uint8_t *) "",
                                                ev.certs_size)) < 0) {
                log_error_errno(r, "Cannot write %s: %m", certs_out);
                snp_evidence_done(&ev);
                return EXIT_INTERNAL;
        }
        if (out && streq(out, "-")) {
                snp_evidence_done(&ev);
                return EXIT_OK;
        }

        r = snp_report_to_json(&rep, &doc);
        if (r >= 0)
                r = json_add_string(doc, "source", snp_source_kind_to_string(ev.source));
        if (r >= 0 && want_certs) {
                SnpCertTable t;
                json_object *arr = json_object_new_array();

                r = json_add(doc, "certificates", arr);
                if (r >= 0 && snp_cert_table_parse(ev.certs, ev.certs_size, &t, &d) < 0)
                        log_warning("The host's certificate table is malformed: %s", d.text);
                else
                        for (size_t i = 0; r >= 0 && i < t.n_entries; i++) {
                                json_object *e = json_object_new_object();
                                r = json_object_array_add(arr, e) < 0 ? -ENOMEM : 0;
                                if (r >= 0)
                                        r = json_add_string(e, "kind",
                                                            snp_cert_kind_to_string(t.entries[i].kind));
                                if (r >= 0)
                                        r = json_add_int(e, "size", t.entries[i].size);
                        }
        }
        snp_evidence_done(&ev);
        if (r < 0)
                return log_error_errno(r, "Out of memory"), EXIT_INTERNAL;
        r = json ? json_print(stdout, doc) : json_print_flat(stdout, doc);
        return r < 0 ? EXIT_INTERNAL : EXIT_OK;
}

int main(int argc, char **argv) {
        const char *cmd;

        log_setup("cvm-agent");
        /* No core dumps or ptrace of the agent: it will hold keys. */
        (void) secret_harden_process();
        if (argc < 2) {
                help();
                return EXIT_USAGE;
        }
        cmd = argv[1];
        if (streq(cmd, "-h") || streq(cmd, "--help") || streq(cmd, "help")) {
                help();
                return EXIT_OK;
        }
        if (streq(cmd, "--version")) {
                printf("cvm-agent %s\n", PACKAGE_VERSION);
                return EXIT_OK;
        }
        if (streq(cmd, "report"))
                return cmd_report(argc - 1, argv + 1);
        if (streq(cmd, "evidence"))
                return evidence_main(argc - 1, argv + 1);
        if (streq(cmd, "unseal"))
                return unseal_main(argc - 1, argv + 1);
        if (streq(cmd, "credential-request"))
                return credential_request_main(argc - 1, argv + 1);
        if (streq(cmd, "enroll"))
                return enroll_main(argc - 1, argv + 1);
        if (streq(cmd, "unlock"))
                return unlock_main(argc - 1, argv + 1);
        if (streq(cmd, "monitor"))
                return monitor_main(argc - 1, argv + 1);
        if (streq(cmd, "attest-now"))
                return attest_now_main(argc - 1, argv + 1);
        if (streq(cmd, "status"))
                return status_main(argc - 1, argv + 1);
        log_error("Unknown command '%s' (see cvm-agent --help)", cmd);
        return EXIT_USAGE;
}
