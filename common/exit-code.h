/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Exit codes shared by every command of cvm-agent and cvm-verifier (README "Exit codes"). */
enum {
        EXIT_OK = 0,
        EXIT_INTERNAL = 1,    /* unexpected internal error */
        EXIT_USAGE = 2,       /* bad command line */
        EXIT_MALFORMED = 3,   /* input is malformed (parse error, wrong size, bad encoding) */
        EXIT_VERIFY = 4,      /* verification failed: signature, certificate, chain, binding */
        EXIT_POLICY = 5,      /* policy denied */
        EXIT_UNAVAILABLE = 6, /* device, TPM, server or network unavailable */
};

/* Maps a negative errno from the libraries to the exit code above. */
int exit_code_from_errno(int r);
