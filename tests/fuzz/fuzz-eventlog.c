/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the TCG firmware event log (eventlog_parse), then everything done with a parsed
 * log: replay into every bank the Spec ID header declares, the JSON dump (which decodes EFI
 * variables, device paths, GPT headers, UKI events and the rest of the event data), and the
 * comparison with quoted PCRs. The quoted set is the replay itself with one PCR flipped and
 * every other PCR selected too, so the comparison must report exactly one mismatch.
 */
#include <stdio.h>

#include <json-c/json.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "vtpm/eventlog.h"
#include "tests/fuzz/fuzz.h"

static const uint16_t known_algs[] = {
        TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384, TPM_ALG_SHA512, TPM_ALG_SM3_256,
};

static bool inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size) {
        return p && p >= data && (size_t) (p - data) <= size && n <= size - (size_t) (p - data);
}

/* Every pointer the parser hands out lies inside the input: read every byte it promised. */
static void check_event(const EventLog *log, size_t i, const uint8_t *data, size_t size) {
        const TcgEvent *e = &log->events[i];
        uint64_t sum = 0;

        if (e->n_digests == 0 || e->n_digests > TPM_MAX_BANKS || e->offset >= log->size ||
            (e->type != EV_NO_ACTION && e->pcr >= TPM_PCR_COUNT) ||
            (e->data_size > 0 && !inside(e->data, e->data_size, data, size)))
                abort();
        for (size_t k = 0; k < e->n_digests; k++) {
                const TcgEventDigest *dg = &e->digests[k];

                if (dg->size == 0 || dg->size > TPM_DIGEST_MAX ||
                    !inside(dg->digest, dg->size, data, size))
                        abort();
                for (uint16_t b = 0; b < dg->size; b++)
                        sum += dg->digest[b];
        }
        for (uint32_t b = 0; b < e->data_size; b++)
                sum += e->data[b];
        fuzz_consume(sum);
        if (eventlog_type_to_string(e->type))
                fuzz_consume(strlen(eventlog_type_to_string(e->type)));
}

/* Picks a PCR to flip from the replayed banks, starting at a place the input decides. */
static bool pick_flip(const TpmPcrSet *set, const uint8_t *data, size_t size, size_t *ret_bank,
                      uint32_t *ret_pcr) {
        size_t b0 = size % set->n_banks;
        uint32_t p0 = data[size - 1] % TPM_PCR_COUNT;

        for (size_t b = 0; b < set->n_banks; b++) {
                const TpmPcrBank *bank = &set->banks[(b0 + b) % set->n_banks];

                for (uint32_t p = 0; p < TPM_PCR_COUNT; p++)
                        if (bank->mask & (UINT32_C(1) << ((p0 + p) % TPM_PCR_COUNT))) {
                                *ret_bank = (b0 + b) % set->n_banks;
                                *ret_pcr = (p0 + p) % TPM_PCR_COUNT;
                                return true;
                        }
        }
        return false;
}

static void check_verdict(json_object *verdicts, const TpmPcrBank *bank, uint32_t pcr) {
        json_object *bo, *v, *match;
        char key[4];

        (void) snprintf(key, sizeof(key), "%u", pcr);
        if (!json_object_object_get_ex(verdicts, tpm_alg_hash_name(bank->alg), &bo) ||
            !json_object_object_get_ex(bo, key, &v) ||
            !json_object_object_get_ex(v, "match", &match) || json_object_get_boolean(match))
                abort();
}

static void compare_flipped(const EventLog *log, TpmPcrSet *set, const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *verdicts = NULL;
        size_t flip_bank = 0;
        uint32_t flip_pcr = 0;
        bool flipped = false;
        int r;

        if (set->n_banks > 0)
                flipped = pick_flip(set, data, size, &flip_bank, &flip_pcr);
        if (flipped)
                set->banks[flip_bank].value[flip_pcr][size % set->banks[flip_bank].size] ^= 0x01;
        /* Quote every PCR: those the log never extends are listed as not in the log. */
        for (size_t b = 0; b < set->n_banks; b++)
                set->banks[b].mask = (UINT32_C(1) << TPM_PCR_COUNT) - 1;

        r = eventlog_compare(log, set, &verdicts);
        if (r == -ENOMEM)
                return;
        if (r != (flipped ? 1 : 0) || !verdicts)
                abort();
        if (flipped)
                check_verdict(verdicts, &set->banks[flip_bank], flip_pcr);
        fuzz_consume(strlen(json_object_to_json_string_ext(verdicts, JSON_C_TO_STRING_PLAIN)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(eventlog_freep) EventLog *log = NULL;
        _cleanup_(json_object_putp) json_object *j = NULL;
        TpmPcrSet set = {};
        Diag diag = {};
        int r;

        r = eventlog_parse(data, size, &log, &diag);
        fuzz_consume(strlen(diag.text));
        if (r < 0)
                return 0;

        if (!log || log->n_events == 0 || !log->events || log->n_algs == 0 ||
            log->n_algs > TPM_MAX_BANKS || log->size + log->padding != size ||
            !memeqzero(data + log->size, log->padding) ||
            (log->vendor_info_size > 0 &&
             !inside(log->vendor_info, log->vendor_info_size, data, size)))
                abort();
        for (size_t i = 0; i < log->n_events; i++)
                check_event(log, i, data, size);

        /* Replay every declared bank; keep those that replay as the "quoted" PCRs. */
        for (size_t i = 0; i < log->n_algs; i++) {
                TpmPcrBank bank, *b;

                r = eventlog_replay(log, log->algs[i].alg, &bank);
                if (r == -EOPNOTSUPP || r == -ENODATA || r == -ENOMEM)
                        continue;
                if (r < 0 || bank.alg != log->algs[i].alg || bank.size != log->algs[i].size ||
                    bank.mask >= (UINT32_C(1) << TPM_PCR_COUNT))
                        abort();
                b = tpm_pcr_set_bank_add(&set, bank.alg);
                if (!b)
                        abort();
                *b = bank;
        }
        /* A bank the header does not declare is refused. */
        for (size_t i = 0; i < ELEMENTSOF(known_algs); i++) {
                bool declared = false;
                TpmPcrBank bank;

                for (size_t k = 0; k < log->n_algs; k++)
                        declared = declared || log->algs[k].alg == known_algs[i];
                if (!declared && eventlog_replay(log, known_algs[i], &bank) != -ENOENT)
                        abort();
        }

        if (eventlog_to_json(log, &j) >= 0)
                fuzz_consume(strlen(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN)));

        compare_flipped(log, &set, data, size);
        return 0;
}
