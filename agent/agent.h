/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* [io] `cvm-agent evidence`: argv[0] is "evidence". Returns an exit code. */
int evidence_main(int argc, char **argv);

/* [io] `cvm-agent unseal`: opens MAA's sealed AzureGuest token with the TPM ephemeral key. */
int unseal_main(int argc, char **argv);

/* [io] `cvm-agent credential-request`: the body of the verifier's POST /credential. */
int credential_request_main(int argc, char **argv);

struct Diag;
struct TpmDevice;
/* "rsa", "ecc-p256", "ecc-p384" to a TpmEkType; -EINVAL otherwise. */
int ek_type_from_string(const char *s);
/* [io] Activates the verifier's answer to POST /credential (a JSON file) for the AK at ak_handle
 * against the EK of ek_type; its secret (the nonce to quote with) into nonce. */
int credential_activate(struct TpmDevice *t, uint32_t ak_handle, int ek_type, const char *path,
                        uint8_t nonce[static 64], size_t *ret_nonce_size, struct Diag *d);
