/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unlock-pcr-change: the key of a volume when a PCR moves between the attestation and the
 * unwrap, through the agent's own unlock path (agent/unlock-key.h): as the unwrap begins, PCR
 * EXTEND is extended in the very TPM context that attested (Esys_PCR_Extend), as a boot
 * component measured late would. The key service still releases (the token was good), but the
 * TPM must refuse to unwrap.
 *
 *   unlock-pcr-change VERIFIER KEY_URL PCRS EXTEND    PCRS as "0-7", EXTEND one PCR of them
 *   unlock-pcr-change VERIFIER KEY_URL PCRS -         no change: the key must come out
 *
 * Environment as for the agent (CVM_TCTI, CVM_EVENTLOG, CVM_VCEK_CHAIN). Prints the outcome on
 * one line. Exit 0 when the outcome is the expected one (-ESTALE with a change, a key without),
 * 1 otherwise, 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include <tss2/tss2_esys.h>

#include "agent/unlock-key.h"
#include "common/diag.h"
#include "common/http.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "vtpm/tpm-device.h"
#include "vtpm/tpm-pcrs.h"

typedef struct Change {
        int pcr; /* -1: none */
        int rc;  /* of the extend */
} Change;

static void extend_before_unwrap(UnlockStep step, const char *url, TpmDevice *t, void *userdata) {
        Change *c = userdata;
        ESYS_CONTEXT *esys;
        TPML_DIGEST_VALUES v = { .count = 1 };

        (void) url;
        if (step != UNLOCK_STEP_UNWRAP || c->pcr < 0)
                return;
        v.digests[0].hashAlg = TPM2_ALG_SHA256;
        memset(v.digests[0].digest.sha256, 0x42, sizeof(v.digests[0].digest.sha256));
        if (tpm_device_esys(t, &esys, NULL) < 0) {
                c->rc = -1;
                return;
        }
        c->rc = (int) Esys_PCR_Extend(esys, ESYS_TR_PCR0 + (ESYS_TR) c->pcr, ESYS_TR_PASSWORD,
                                      ESYS_TR_NONE, ESYS_TR_NONE, &v);
}

int main(int argc, char **argv) {
        _cleanup_(secret_freep) Secret *key = NULL;
        Change change = { .pcr = -1 };
        UnlockSource s = { .n_verifiers = 1, .enc = KEY_WRAP_RSA_AES_256 };
        UnlockReport rep;
        uint32_t v;
        Diag d = {};
        int r;

        if (argc != 5 || tpm_pcr_mask_parse(argv[3], &s.pcr_mask) < 0) {
                fprintf(stderr, "usage: unlock-pcr-change VERIFIER KEY_URL PCRS EXTEND|-\n");
                return 2;
        }
        if (!streq(argv[4], "-")) {
                if (safe_atou32(argv[4], &v) < 0 || v > 23 || !(s.pcr_mask & (UINT32_C(1) << v))) {
                        fprintf(stderr, "EXTEND must be one of PCRS\n");
                        return 2;
                }
                change.pcr = (int) v;
        }
        s.verifiers[0] = argv[1];
        s.key_url = argv[2];
        s.progress = extend_before_unwrap;
        s.userdata = &change;
        if (http_global_init() < 0)
                return 1;
        r = unlock_fetch_key(&s, &key, &rep, &d);
        if (change.pcr >= 0) {
                if (change.rc != 0) {
                        printf("the PCR extend failed (0x%x)\n", (unsigned) change.rc);
                        return 1;
                }
                printf("PCR %d extended before the unwrap: %s (%s)\n", change.pcr,
                       r == -ESTALE ? "refused" : r < 0 ? "failed otherwise" : "KEY RELEASED",
                       r < 0 ? diag_text(&d, strerror(-r)) : "the TPM unwrapped");
                return r == -ESTALE ? 0 : 1;
        }
        printf("no change: %s (%s)\n", r >= 0 ? "key unwrapped" : "failed",
               r < 0 ? diag_text(&d, strerror(-r)) : "ok");
        return r >= 0 && key->size == 32 ? 0 : 1;
}
