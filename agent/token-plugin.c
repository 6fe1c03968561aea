/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] libcryptsetup-token-cvm-agent.so: libcryptsetup's external token plugin for tokens of
 * type "cvm-agent", so that `cryptsetup open --token-type cvm-agent` and systemd-cryptsetup
 * (crypttab's token-type=cvm-agent, token-only) unlock through the same code as
 * `cvm-agent unlock`: the token's JSON (agent/luks-token.h) says where to attest and which key
 * to ask for; agent/unlock-key.c attests, gets the key and unwraps it in the TPM; the key is the
 * keyslot's passphrase, handed to libcryptsetup, which wipes it with cryptsetup_token_buffer_free.
 *
 * Local settings come from the environment the caller runs in, as for the agent: CVM_TCTI (the
 * TPM), CVM_EVENTLOG, CVM_VCEK_CHAIN (an SEV-SNP proof's VCEK chain). Messages go through
 * crypt_log, so cryptsetup and systemd-cryptsetup show them.
 *
 * libcryptsetup 2.6 loads plugins only from its own directory (Debian:
 * /usr/lib/x86_64-linux-gnu/cryptsetup); the build installs it there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcryptsetup.h>

#include "agent/luks-token.h"
#include "agent/unlock-key.h"
#include "common/diag.h"
#include "common/secret.h"

#define PLUGIN_VERSION PACKAGE_VERSION

/* The plugin's entry points (libcryptsetup.h, "Token handler plugin"). Only these are exported
 * (agent/token-plugin.sym). */
const char *cryptsetup_token_version(void);
int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
                          void *usrptr);
int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin,
                              size_t pin_size, char **buffer, size_t *buffer_len, void *usrptr);
void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len);
int cryptsetup_token_validate(struct crypt_device *cd, const char *json);
void cryptsetup_token_dump(struct crypt_device *cd, const char *json);

const char *cryptsetup_token_version(void) {
        return PLUGIN_VERSION;
}

int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer, size_t *buffer_len,
                          void *usrptr) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        _cleanup_(secret_freep) Secret *key = NULL;
        UnlockSource src = {};
        UnlockReport rep;
        const char *json = NULL;
        char *copy;
        Diag d = {};
        int r;

        (void) usrptr;
        r = crypt_token_json_get(cd, token, &json);
        if (r < 0)
                return r;
        r = luks_token_parse(json, strlen(json), &t, &d);
        if (r < 0) {
                crypt_logf(cd, CRYPT_LOG_ERROR, "cvm-agent token %d: %s\n", token,
                           diag_text(&d, strerror(-r)));
                return -EINVAL;
        }
        for (size_t i = 0; i < t->n_verifiers; i++)
                src.verifiers[src.n_verifiers++] = t->verifiers[i];
        src.key_url = t->key_url;
        src.pcr_mask = t->pcr_mask;
        src.enc = t->enc;
        r = unlock_fetch_key(&src, &key, &rep, &d);
        if (r < 0) {
                crypt_logf(cd, CRYPT_LOG_ERROR, "cvm-agent token %d: cannot get the key: %s\n",
                           token, diag_text(&d, strerror(-r)));
                /* -ENOENT: libcryptsetup goes on to the next token or way in; it is not a
                 * wrong passphrase (-EPERM). */
                return -ENOENT;
        }
        crypt_logf(cd, CRYPT_LOG_VERBOSE, "cvm-agent token %d: key released after attesting at "
                   "%s\n", token, rep.verifier ?: "?");
        /* libcryptsetup takes a malloc'ed buffer and gives it back to
         * cryptsetup_token_buffer_free, which wipes it. */
        copy = malloc(key->size);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, key->data, key->size);
        *buffer = copy;
        *buffer_len = key->size;
        return 0;
}

/* No PIN: a PIN-less open is the only way. */
int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin,
                              size_t pin_size, char **buffer, size_t *buffer_len, void *usrptr) {
        (void) pin;
        (void) pin_size;
        return cryptsetup_token_open(cd, token, buffer, buffer_len, usrptr);
}

void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len) {
        if (!buffer)
                return;
        explicit_bzero(buffer, buffer_len);
        free(buffer);
}

int cryptsetup_token_validate(struct crypt_device *cd, const char *json) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        Diag d = {};
        int r;

        r = luks_token_parse(json, strlen(json), &t, &d);
        if (r < 0) {
                crypt_logf(cd, CRYPT_LOG_ERROR, "cvm-agent token: %s\n", diag_text(&d, strerror(-r)));
                return -EINVAL;
        }
        return 0;
}

void cryptsetup_token_dump(struct crypt_device *cd, const char *json) {
        _cleanup_(luks_token_freep) LuksToken *t = NULL;
        _cleanup_(freep) char *text = NULL;
        Diag d = {};

        if (luks_token_parse(json, strlen(json), &t, &d) < 0) {
                crypt_logf(cd, CRYPT_LOG_NORMAL, "\tinvalid cvm-agent token: %s\n",
                           diag_text(&d, "malformed"));
                return;
        }
        if (luks_token_dump(t, &text) < 0)
                return;
        crypt_log(cd, CRYPT_LOG_NORMAL, text);
}
