/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the key release wire format, both ends. Every input is tried as
 *  1. the body of POST /keys/{name}/release (key_release_request_parse, the service's side): what
 *     parses has a non-empty target under the cap without NUL, a known enc, a printable nonce;
 *  2. a token's claims (key_release_find_kek): what is found is an RSA key with a kid string;
 *  3. the service's answer as the agent reads it (release_response_parse): what parses has a
 *     key_hsm with a kid, a known enc and a non-empty ciphertext;
 *  4. an error envelope (release_error_parse): code and message are printable and terminated.
 * Seeds: tests/fuzz/corpus/key-release/.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/rsa.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "keyrelease/release-response.h"
#include "tests/fuzz/fuzz.h"
#include "verifier/key-release.h"

#define FUZZ_ASSERT(x)            \
        do {                      \
                if (!(x))         \
                        abort();  \
        } while (0)

static void check_printable(const char *s) {
        for (; *s; s++)
                FUZZ_ASSERT(*s >= 0x20 && *s < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        KeyReleaseRequest req = {};
        KeyHsm *k = NULL;
        char *kid = NULL, code[64], message[256];
        Diag d = {};

        if (key_release_request_parse(text, size, &req, &d) >= 0) {
                FUZZ_ASSERT(req.target && req.target_size > 0 && req.target_size <= JWS_MAX_SIZE);
                FUZZ_ASSERT(strlen(req.target) == req.target_size);
                FUZZ_ASSERT(key_wrap_alg_to_string(req.enc) != NULL);
                if (req.nonce)
                        check_printable(req.nonce);
                key_release_request_done(&req);
        } else
                FUZZ_ASSERT(d.text[0] != '\0');

        {
                json_object *claims = NULL;
                EVP_PKEY *kek = NULL;

                if (json_parse_capped(text, size, 64 * 1024, 16, &claims) >= 0) {
                        if (key_release_find_kek(claims, &kek, &kid, NULL) >= 0) {
                                FUZZ_ASSERT(kek && EVP_PKEY_get_base_id(kek) == EVP_PKEY_RSA);
                                FUZZ_ASSERT(kid != NULL);
                                EVP_PKEY_free(kek);
                                free(kid);
                                kid = NULL;
                        }
                        json_object_put(claims);
                }
        }

        if (release_response_parse(text, size, &k, &kid, NULL) >= 0) {
                FUZZ_ASSERT(k && k->kid && k->kid[0] && k->ciphertext_size > 0);
                FUZZ_ASSERT(key_wrap_alg_to_string(k->alg) != NULL);
                key_hsm_free(k);
                free(kid);
        }

        if (release_error_parse(text, size, code, sizeof(code), message, sizeof(message)) >= 0) {
                check_printable(code);
                check_printable(message);
        } else
                FUZZ_ASSERT(code[0] == '\0' && message[0] == '\0');
        return 0;
}
