/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* [io] `cvm-agent evidence`: argv[0] is "evidence". Returns an exit code. */
int evidence_main(int argc, char **argv);

/* [io] `cvm-agent unseal`: opens MAA's sealed AzureGuest token with the TPM ephemeral key. */
int unseal_main(int argc, char **argv);
