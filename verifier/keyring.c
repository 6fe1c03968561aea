/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/macro.h"
#include "verifier/keyring.h"

int keyring_kid(EVP_PKEY *pkey, char kid[48]) {
        unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
        _cleanup_(freep) char *text = NULL;
        int n = i2d_PUBKEY(pkey, &der);

        if (n <= 0)
                return -ENOMEM;
        (void) SHA256(der, (size_t) n, md);
        OPENSSL_free(der);
        if (base64url_encode(md, sizeof(md), &text) < 0)
                return -ENOMEM;
        (void) snprintf(kid, 48, "%s", text);
        return 0;
}

static bool alg_fits(EVP_PKEY *pkey, const char *alg) {
        char group[32] = "";

        if (streq(alg, "RS256") || streq(alg, "PS256"))
                return EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= 2048;
        if (!EVP_PKEY_is_a(pkey, "EC") ||
            !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL))
                return false;
        if (streq(alg, "ES256"))
                return streq(group, "prime256v1") || streq(group, "P-256");
        if (streq(alg, "ES384"))
                return streq(group, "secp384r1") || streq(group, "P-384");
        return false;
}

int keyring_add(KeyRing *k, EVP_PKEY *pkey, const char *alg, int64_t activate, char *x5c) {
        SigningKey n = { .pkey = pkey, .x5c = x5c, .activate = activate };
        size_t at;

        if (!alg_fits(pkey, alg))
                return -EINVAL;
        if (k->n >= KEYRING_MAX)
                return -E2BIG;
        if (keyring_kid(pkey, n.kid) < 0)
                return -ENOMEM;
        (void) snprintf(n.alg, sizeof(n.alg), "%s", alg);
        for (size_t i = 0; i < k->n; i++)
                if (k->keys[i].activate == activate || streq(k->keys[i].kid, n.kid))
                        return -EEXIST;
        for (at = k->n; at > 0 && k->keys[at - 1].activate > activate; at--)
                k->keys[at] = k->keys[at - 1];
        k->keys[at] = n;
        k->n++;
        return 0;
}

const SigningKey *keyring_signer(const KeyRing *k, int64_t now) {
        const SigningKey *s = NULL;

        for (size_t i = 0; i < k->n && k->keys[i].activate <= now; i++)
                s = &k->keys[i];
        return s;
}

bool keyring_published(const KeyRing *k, size_t i, int64_t now) {
        if (i >= k->n)
                return false;
        if (i + 1 == k->n)
                return true;
        /* Retired when the next key activated; its tokens live token_lifetime longer. */
        return now < k->keys[i + 1].activate + k->token_lifetime;
}

size_t keyring_prune(KeyRing *k, int64_t now) {
        size_t dropped = 0;

        /* Only a key before the current signer can be gone for good. */
        while (k->n > 1 && !keyring_published(k, 0, now)) {
                EVP_PKEY_free(k->keys[0].pkey);
                free(k->keys[0].x5c);
                memmove(&k->keys[0], &k->keys[1], (k->n - 1) * sizeof(k->keys[0]));
                k->n--;
                dropped++;
        }
        return dropped;
}

int64_t keyring_newest(const KeyRing *k) {
        return k->n ? k->keys[k->n - 1].activate : 0;
}

void keyring_done(KeyRing *k) {
        for (size_t i = 0; i < k->n; i++) {
                EVP_PKEY_free(k->keys[i].pkey);
                free(k->keys[i].x5c);
        }
        k->n = 0;
}
