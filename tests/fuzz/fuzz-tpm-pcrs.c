/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: PCR values given as untrusted JSON text (tpm_pcrs_from_json: index objects,
 * arrays, bank names, MAA's {"Index", "Digest(s)"} forms). What parses must survive a round trip
 * through tpm_pcrs_to_json unchanged. Short inputs are also tried as a PCR list ("0-7,11").
 */
#include <stdio.h>

#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "vtpm/tpm-pcrs.h"
#include "tests/fuzz/fuzz.h"

static void check_set(const TpmPcrSet *s) {
        if (s->n_banks == 0 || s->n_banks > TPM_MAX_BANKS)
                abort();
        for (size_t b = 0; b < s->n_banks; b++) {
                const TpmPcrBank *bank = &s->banks[b];

                if (bank->mask == 0 || bank->mask >= (UINT32_C(1) << TPM_PCR_COUNT) ||
                    bank->size == 0 || bank->size != tpm_alg_digest_size(bank->alg) ||
                    !tpm_alg_hash_name(bank->alg))
                        abort();
                for (size_t c = 0; c < b; c++)
                        if (s->banks[c].alg == bank->alg)
                                abort();
        }
}

static void check_round_trip(const TpmPcrSet *s) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        TpmPcrSet again;
        const char *text;
        Diag diag = {};

        if (tpm_pcrs_to_json(s, &j) < 0)
                return;
        text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
        if (!text)
                return;
        if (tpm_pcrs_from_json(text, strlen(text), &again, &diag) < 0 ||
            again.n_banks != s->n_banks)
                abort();
        for (size_t b = 0; b < s->n_banks; b++) {
                const TpmPcrBank *x = &s->banks[b], *y = &again.banks[b];

                if (x->alg != y->alg || x->size != y->size || x->mask != y->mask)
                        abort();
                for (uint32_t i = 0; i < TPM_PCR_COUNT; i++)
                        if ((x->mask & (UINT32_C(1) << i)) &&
                            memcmp(x->value[i], y->value[i], x->size) != 0)
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        TpmPcrSet set;
        Diag diag = {};
        char list[64];
        uint32_t mask;

        if (tpm_pcrs_from_json((const char *) data, size, &set, &diag) >= 0) {
                check_set(&set);
                check_round_trip(&set);
        }
        fuzz_consume(strlen(diag.text));

        if (size < sizeof(list)) {
                memcpy(list, data, size);
                list[size] = '\0';
                if (tpm_pcr_mask_parse(list, &mask) >= 0 &&
                    (mask == 0 || mask >= (UINT32_C(1) << TPM_PCR_COUNT)))
                        abort();
        }
        return 0;
}
