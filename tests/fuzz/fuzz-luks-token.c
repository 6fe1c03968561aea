/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the JSON of a LUKS2 "cvm-agent" token (agent/luks-token.c), untrusted because a
 * header can come from anywhere. Every input is tried two ways:
 *  1. as token JSON (luks_token_parse): a refusal has no output, one of the documented errnos
 *     and a one-line printable Diag; what parses has every member in range, builds back
 *     (luks_token_build) into text under the cap that parses to the same token, dumps to
 *     printable lines, and gives a release URL;
 *  2. as a URL (the input up to its first NUL, at most 2 KiB): luks_token_add_verifier and
 *     luks_token_set_key, with and without a key name; what they accept must build into a
 *     token that parses back with the same URLs.
 */
#include <stdio.h>

#include "agent/luks-token.h"
#include "common/diag.h"
#include "common/strutil.h"
#include "tests/fuzz/fuzz.h"

static void check_diag(const Diag *d) {
        if (!d->text[0])
                abort();
        for (const char *p = d->text; *p; p++)
                if (*p < 0x20 || *p >= 0x7f)
                        abort();
}

static void check_printable(const char *s, bool lines) {
        for (; *s; s++)
                if ((*s < 0x20 || *s >= 0x7f) && !(lines && (*s == '\n' || *s == '\t')))
                        abort();
}

static bool same(const LuksToken *a, const LuksToken *b) {
        if (a->keyslot != b->keyslot || a->n_verifiers != b->n_verifiers ||
            !streq(a->key_url, b->key_url) || !streq(a->key_name, b->key_name) ||
            !streq_ptr(a->key_version, b->key_version) || a->pcr_bank != b->pcr_bank ||
            a->pcr_mask != b->pcr_mask || a->enc != b->enc)
                return false;
        for (size_t i = 0; i < a->n_verifiers; i++)
                if (!streq(a->verifiers[i], b->verifiers[i]))
                        return false;
        return true;
}

/* Builds t, parses the text back and checks it is t again. */
static void round_trip(const LuksToken *t) {
        _cleanup_(luks_token_freep) LuksToken *again = NULL;
        _cleanup_(freep) char *json = NULL, *dump = NULL, *url = NULL;
        char pcrs[LUKS_TOKEN_PCRS_TEXT_MAX];
        Diag d = {};

        if (luks_token_build(t, &json, &d) < 0 || strlen(json) > LUKS_TOKEN_JSON_MAX)
                abort();
        if (luks_token_parse(json, strlen(json), &again, &d) < 0 || !same(t, again))
                abort();
        if (luks_token_dump(t, &dump) < 0)
                abort();
        check_printable(dump, true);
        if (luks_token_release_url(t, &url) < 0 || !endswith(url, "/release"))
                abort();
        check_printable(luks_token_pcrs_to_string(t, pcrs), false);
        fuzz_consume(strlen(dump) + strlen(url));
}

static void try_json(const uint8_t *data, size_t size) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        Diag d = {};
        int r;

        r = luks_token_parse((const char *) data, size, &t, &d);
        if (r < 0) {
                if (t)
                        abort();
                if (r == -ENOMEM)
                        return;
                if (r != -E2BIG && r != -EBADMSG && r != -EMEDIUMTYPE && r != -EPROTONOSUPPORT)
                        abort();
                check_diag(&d);
                return;
        }
        if (!t || t->keyslot < 0 || t->keyslot > LUKS_TOKEN_KEYSLOT_MAX || t->n_verifiers == 0 ||
            t->n_verifiers > LUKS_TOKEN_VERIFIERS_MAX || !t->key_url || !t->key_name ||
            t->pcr_mask == 0 || (t->pcr_mask >> LUKS_TOKEN_PCR_COUNT) != 0 ||
            !key_wrap_alg_to_string(t->enc))
                abort();
        for (size_t i = 0; i < t->n_verifiers; i++)
                if (strlen(t->verifiers[i]) > LUKS_TOKEN_URL_MAX)
                        abort();
        round_trip(t);
}

/* A token around what the URL functions accepted, so that it can be built. */
static void fill(LuksToken *t) {
        Diag d = {};

        if (t->n_verifiers == 0 && luks_token_add_verifier(t, "https://v.example", &d) < 0)
                abort();
        if (!t->key_url && luks_token_set_key(t, "https://kv.example", "k", &d) < 0)
                abort();
        t->keyslot = 3;
        t->pcr_mask = 1u << 7;
}

static void try_url(const uint8_t *data, size_t size) {
        _cleanup_(freep) char *s = NULL;
        const char *names[] = {NULL, "disk", "keys"};
        size_t n = strnlen((const char *) data, MIN(size, (size_t) 2048));

        s = strndup((const char *) data, n);
        if (!s)
                return;

        {
                _cleanup_(luks_token_freep) LuksToken *t = NULL;
                Diag d = {};

                if (luks_token_new(&t) < 0)
                        return;
                if (luks_token_add_verifier(t, s, &d) == 0) {
                        if (t->n_verifiers != 1 || !streq(t->verifiers[0], s))
                                abort();
                        fill(t);
                        round_trip(t);
                } else
                        check_diag(&d);
        }
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(luks_token_freep) LuksToken *t = NULL;
                Diag d = {};

                if (luks_token_new(&t) < 0)
                        return;
                if (luks_token_set_key(t, s, names[i], &d) == 0) {
                        if (!t->key_url || !t->key_name ||
                            (names[i] && !streq(t->key_name, names[i])))
                                abort();
                        fill(t);
                        round_trip(t);
                } else if (t->key_url)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t empty[1];

        if (!data)
                data = empty;
        try_json(data, size);
        try_url(data, size);
        return 0;
}
