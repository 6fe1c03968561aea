/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* [io] `cvm-verifier check snp`: argv[0] is "snp". Returns an exit code. Logs its verdict. */
int check_snp_main(int argc, char **argv);
