/* SPDX-License-Identifier: Apache-2.0 */
/* cvm-verifier: the verifying side. This file is the command line. */
#include <stdio.h>

#include "common/exit-code.h"
#include "common/log.h"
#include "verifier/check.h"

static void help(void) {
        printf("Usage: cvm-verifier COMMAND [OPTIONS]\n"
               "\n"
               "Commands:\n"
               "  check snp REPORT   Verify an SEV-SNP report offline (see check snp --help)\n"
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
        if (streq(argv[1], "check")) {
                if (argc >= 3 && streq(argv[2], "snp"))
                        return check_snp_main(argc - 2, argv + 2);
                log_error("check: what to check? (snp)");
                return EXIT_USAGE;
        }
        log_error("Unknown command '%s' (see cvm-verifier --help)", argv[1]);
        return EXIT_USAGE;
}
