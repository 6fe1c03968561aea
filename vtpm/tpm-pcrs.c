/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/strutil.h"
#include "vtpm/tpm-pcrs.h"

#define PCR_JSON_MAX (1024u * 1024u)

static const struct {
        uint16_t alg;
        uint16_t size;
        const char *name;
} hash_algs[] = {
        { TPM_ALG_SHA1, 20, "sha1" },
        { TPM_ALG_SHA256, 32, "sha256" },
        { TPM_ALG_SHA384, 48, "sha384" },
        { TPM_ALG_SHA512, 64, "sha512" },
        { TPM_ALG_SM3_256, 32, "sm3_256" },
};

uint16_t tpm_alg_digest_size(uint16_t alg) {
        for (size_t i = 0; i < ELEMENTSOF(hash_algs); i++)
                if (hash_algs[i].alg == alg)
                        return hash_algs[i].size;
        return 0;
}

const char *tpm_alg_hash_name(uint16_t alg) {
        for (size_t i = 0; i < ELEMENTSOF(hash_algs); i++)
                if (hash_algs[i].alg == alg)
                        return hash_algs[i].name;
        return NULL;
}

uint16_t tpm_alg_from_name(const char *name) {
        char norm[16];
        size_t n = 0;

        /* "SHA-256", "sha256", "SHA256" */
        for (const char *p = name; *p && n < sizeof(norm) - 1; p++)
                if (*p != '-')
                        norm[n++] = *p;
        norm[n] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(hash_algs); i++)
                if (strcasecmp(norm, hash_algs[i].name) == 0)
                        return hash_algs[i].alg;
        return 0;
}

const EVP_MD *tpm_alg_to_evp(uint16_t alg) {
        switch (alg) {
        case TPM_ALG_SHA1:
                return EVP_sha1();
        case TPM_ALG_SHA256:
                return EVP_sha256();
        case TPM_ALG_SHA384:
                return EVP_sha384();
        case TPM_ALG_SHA512:
                return EVP_sha512();
        default:
                return NULL;
        }
}

const TpmPcrBank *tpm_pcr_set_bank(const TpmPcrSet *set, uint16_t alg) {
        for (size_t i = 0; i < set->n_banks; i++)
                if (set->banks[i].alg == alg)
                        return &set->banks[i];
        return NULL;
}

TpmPcrBank *tpm_pcr_set_bank_add(TpmPcrSet *set, uint16_t alg) {
        TpmPcrBank *b = (TpmPcrBank *) tpm_pcr_set_bank(set, alg);

        if (b)
                return b;
        if (set->n_banks >= TPM_MAX_BANKS || tpm_alg_digest_size(alg) == 0)
                return NULL;
        b = &set->banks[set->n_banks++];
        *b = (TpmPcrBank) { .alg = alg, .size = tpm_alg_digest_size(alg) };
        return b;
}

static uint16_t alg_for_size(size_t size) {
        switch (size) {
        case 20:
                return TPM_ALG_SHA1;
        case 32:
                return TPM_ALG_SHA256;
        case 48:
                return TPM_ALG_SHA384;
        case 64:
                return TPM_ALG_SHA512;
        default:
                return 0;
        }
}

/* Stores one digest given as hex (or base64 when b64) for PCR index under bank alg (0: infer). */
static int add_value(TpmPcrSet *set, uint16_t alg, uint32_t index, json_object *v, bool b64,
                     const char *where, Diag *d) {
        _cleanup_(freep) uint8_t *digest = NULL;
        const char *s = json_object_get_string(v);
        TpmPcrBank *bank;
        size_t n;
        int r;

        if (!json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "PCR values: %s is not a string", where);
        r = b64 ? base64url_decode(s, strlen(s), TPM_DIGEST_MAX, &digest, &n)
                : hex_decode(s, strlen(s), TPM_DIGEST_MAX, &digest, &n);
        if (r < 0)
                return diag_set(d, -EBADMSG, "PCR values: %s is not a %s digest", where,
                                b64 ? "base64" : "hex");
        if (index >= TPM_PCR_COUNT)
                return diag_set(d, -EBADMSG, "PCR values: %s: PCR %u is out of range 0..23", where,
                                index);
        if (alg == 0)
                alg = alg_for_size(n);
        if (alg == 0 || tpm_alg_digest_size(alg) != n)
                return diag_set(d, -EBADMSG, "PCR values: %s: a %zu-byte digest does not fit %s",
                                where, n, alg ? tpm_alg_hash_name(alg) : "any bank");
        bank = tpm_pcr_set_bank_add(set, alg);
        if (!bank)
                return diag_set(d, -EBADMSG, "PCR values: too many banks");
        if (bank->mask & (UINT32_C(1) << index))
                return diag_set(d, -EBADMSG, "PCR values: PCR %u of %s given twice", index,
                                tpm_alg_hash_name(alg));
        memcpy(bank->value[index], digest, n);
        bank->mask |= UINT32_C(1) << index;
        return 0;
}

static int parse_bank(TpmPcrSet *set, uint16_t alg, json_object *o, const char *bank_name,
                      Diag *d) {
        char where[96];
        int r;

        if (json_object_is_type(o, json_type_array)) {
                size_t n = json_object_array_length(o);

                if (n > TPM_PCR_COUNT)
                        return diag_set(d, -EBADMSG, "PCR values: %s has %zu entries, at most 24",
                                        bank_name, n);
                for (size_t i = 0; i < n; i++) {
                        json_object *e = json_object_array_get_idx(o, i), *idx, *dig;

                        /* MAA's forms: {"Index": n, "Digest": base64}, and the "pcrs" claim's
                         * {"Index": n, "Digests": {"SHA1": hex, "SHA256": hex}} (maa.md). */
                        if (json_object_is_type(e, json_type_object) &&
                            json_object_object_get_ex(e, "Index", &idx) &&
                            (json_object_object_get_ex(e, "Digest", &dig) ||
                             json_object_object_get_ex(e, "Digests", &dig))) {
                                int64_t k = json_object_get_int64(idx);
                                (void) snprintf(where, sizeof(where), "%s[%zu]", bank_name, i);
                                if (!json_object_is_type(idx, json_type_int) || k < 0 || k > 23)
                                        return diag_set(d, -EBADMSG, "PCR values: %s: bad Index",
                                                        where);
                                if (!json_object_object_get_ex(e, "Digests", NULL)) {
                                        r = add_value(set, alg, (uint32_t) k, dig, true, where, d);
                                        if (r < 0)
                                                return r;
                                        continue;
                                }
                                if (!json_object_is_type(dig, json_type_object))
                                        return diag_set(d, -EBADMSG,
                                                        "PCR values: %s: Digests is not an object",
                                                        where);
                                json_object_object_foreach(dig, dk, dv) {
                                        uint16_t da = tpm_alg_from_name(dk);
                                        char w2[160];

                                        (void) snprintf(w2, sizeof(w2), "%s.Digests.%.16s", where,
                                                        dk);
                                        if (da == 0 || (alg != 0 && da != alg))
                                                return diag_set(d, -EBADMSG,
                                                                "PCR values: %s: not a bank name%s",
                                                                w2, alg ? " here" : "");
                                        r = add_value(set, da, (uint32_t) k, dv, false, w2, d);
                                        if (r < 0)
                                                return r;
                                }
                                continue;
                        }
                        (void) snprintf(where, sizeof(where), "%s[%zu]", bank_name, i);
                        r = add_value(set, alg, (uint32_t) i, e, false, where, d);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_object_is_type(o, json_type_object))
                return diag_set(d, -EBADMSG, "PCR values: %s is neither an object nor an array",
                                bank_name);
        json_object_object_foreach(o, key, val) {
                uint32_t idx;

                (void) snprintf(where, sizeof(where), "%s[\"%.32s\"]", bank_name, key);
                if (safe_atou32(key, &idx) < 0)
                        return diag_set(d, -EBADMSG, "PCR values: %s: key is not a PCR index",
                                        where);
                r = add_value(set, alg, idx, val, false, where, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int tpm_pcrs_from_json(const char *text, size_t size, TpmPcrSet *ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        TpmPcrSet set = {};
        bool named = false;
        int r;

        r = json_parse_capped(text, size, PCR_JSON_MAX, 8, &o);
        if (r < 0)
                return diag_set(d, r == -E2BIG ? -E2BIG : -EBADMSG,
                                r == -E2BIG ? "PCR values: larger than 1 MiB"
                                            : "PCR values: not valid JSON");
        /* MAA's "pcrs" claim value: {"PCRs": [{"Index", "Digests"}, ...]}. */
        if (json_object_is_type(o, json_type_object) && json_object_object_length(o) == 1) {
                json_object *pcrs;

                if (json_object_object_get_ex(o, "PCRs", &pcrs) &&
                    json_object_is_type(pcrs, json_type_array)) {
                        r = parse_bank(&set, 0, pcrs, "PCRs", d);
                        if (r < 0)
                                return r;
                        goto done;
                }
        }
        /* Bank names as keys? Then every key must be one. */
        if (json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, val) {
                        (void) val;
                        if (tpm_alg_from_name(key) != 0)
                                named = true;
                }
        }
        if (named) {
                json_object_object_foreach(o, key, val) {
                        uint16_t alg = tpm_alg_from_name(key);
                        if (alg == 0)
                                return diag_set(d, -EBADMSG,
                                                "PCR values: '%.32s' is not a bank name", key);
                        r = parse_bank(&set, alg, val, key, d);
                        if (r < 0)
                                return r;
                }
        } else {
                r = parse_bank(&set, 0, o, "PCRs", d);
                if (r < 0)
                        return r;
        }
done:
        if (set.n_banks == 0)
                return diag_set(d, -EBADMSG, "PCR values: none given");
        *ret = set;
        return 0;
}

int tpm_pcrs_to_json(const TpmPcrSet *set, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();

        if (!o)
                return -ENOMEM;
        for (size_t b = 0; b < set->n_banks; b++) {
                const TpmPcrBank *bank = &set->banks[b];
                json_object *bo = json_object_new_object();

                if (json_add(o, tpm_alg_hash_name(bank->alg), bo) < 0)
                        return -ENOMEM;
                for (uint32_t i = 0; i < TPM_PCR_COUNT; i++) {
                        char key[4];
                        if (!(bank->mask & (UINT32_C(1) << i)))
                                continue;
                        (void) snprintf(key, sizeof(key), "%u", i);
                        if (json_add_hex(bo, key, bank->value[i], bank->size) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int tpm_pcr_mask_parse(const char *s, uint32_t *ret) {
        uint32_t mask = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        while (*p) {
                char num[8];
                uint32_t a, b;
                size_t n = strspn(p, "0123456789");

                if (n == 0 || n >= sizeof(num))
                        return -EINVAL;
                memcpy(num, p, n);
                num[n] = '\0';
                if (safe_atou32(num, &a) < 0)
                        return -EINVAL;
                p += n;
                b = a;
                if (*p == '-') {
                        p++;
                        n = strspn(p, "0123456789");
                        if (n == 0 || n >= sizeof(num))
                                return -EINVAL;
                        memcpy(num, p, n);
                        num[n] = '\0';
                        if (safe_atou32(num, &b) < 0)
                                return -EINVAL;
                        p += n;
                }
                if (a > b || b >= TPM_PCR_COUNT)
                        return -EINVAL;
                for (uint32_t i = a; i <= b; i++)
                        mask |= UINT32_C(1) << i;
                if (*p == ',')
                        p++;
                else if (*p)
                        return -EINVAL;
        }
        *ret = mask;
        return 0;
}
