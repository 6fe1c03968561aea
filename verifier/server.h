/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* [io] `cvm-verifier serve`: the attestation service (libmicrohttpd). Returns an exit code. */
int serve_main(int argc, char **argv);
