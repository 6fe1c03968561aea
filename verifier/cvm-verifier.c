/* SPDX-License-Identifier: Apache-2.0 */
/* cvm-verifier: the verifying side. This file is the command line. */
#include <stdio.h>

#include "common/exit-code.h"
#include "common/log.h"
#include "verifier/check.h"
#include "verifier/key-admin.h"
#include "verifier/server.h"

static void help(void) {
        printf("Usage: cvm-verifier COMMAND [OPTIONS]\n"
               "\n"
               "Commands:\n"
               "  serve --config F   Run the attestation service as F configures it\n"
               "  serve --dev        Run it in development mode (loopback, ephemeral key)\n"
               "  check snp REPORT   Verify an SEV-SNP report offline (see check snp --help)\n"
               "  check eventlog LOG Parse and replay a TCG event log, compare with PCRs\n"
               "  check quote ...    Verify a TPM quote (signature, nonce, PCR digest)\n"
               "  check hcl HCL      Verify an Azure HCL report (binding, SNP report, AK)\n"
               "  check evidence F   Verify what `cvm-agent evidence` wrote, all together\n"
               "  check token JWT    Verify an MAA-style JWT (JWKS, PEM key or the issuer's keys),\n"
               "                     optionally that its signer runs in an SEV-SNP guest\n"
               "  key create|import|list|show|set-policy|rotate|audit --state DIR ...\n"
               "                     Administer the key release service's key store\n"
               "                     (see key --help)\n"
               "\n"
               "Exit codes: 0 ok, 1 internal, 2 usage, 3 malformed, 4 verification failed,\n"
               "5 policy denied, 6 unavailable.\n");
}

int main(int argc, char **argv) {
        log_setup("cvm-verifier");
        if (argc < 2) {
                help();
                return EXIT_USAGE;
        }
        if (streq(argv[1], "-h") || streq(argv[1], "--help") || streq(argv[1], "help")) {
                help();
                return EXIT_OK;
        }
        if (streq(argv[1], "--version")) {
                printf("cvm-verifier %s\n", PACKAGE_VERSION);
                return EXIT_OK;
        }
        if (streq(argv[1], "serve"))
                return serve_main(argc - 1, argv + 1);
        if (streq(argv[1], "key"))
                return key_admin_main(argc - 1, argv + 1);
        if (streq(argv[1], "check")) {
                if (argc >= 3 && streq(argv[2], "snp"))
                        return check_snp_main(argc - 2, argv + 2);
                if (argc >= 3 && streq(argv[2], "eventlog"))
                        return check_eventlog_main(argc - 2, argv + 2);
                if (argc >= 3 && streq(argv[2], "quote"))
                        return check_quote_main(argc - 2, argv + 2);
                if (argc >= 3 && streq(argv[2], "hcl"))
                        return check_hcl_main(argc - 2, argv + 2);
                if (argc >= 3 && streq(argv[2], "evidence"))
                        return check_evidence_main(argc - 2, argv + 2);
                if (argc >= 3 && streq(argv[2], "token"))
                        return check_token_main(argc - 2, argv + 2);
                log_error("check: what to check? (snp, eventlog, quote, hcl, evidence, token)");
                return EXIT_USAGE;
        }
        log_error("Unknown command '%s' (see cvm-verifier --help)", argv[1]);
        return EXIT_USAGE;
}
