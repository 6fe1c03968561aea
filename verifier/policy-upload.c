/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/jws.h"
#include "common/macro.h"
#include "common/openssl-util.h"
#include "verifier/maa-policy.h"
#include "verifier/policy-upload.h"

void policy_upload_done(PolicyUpload *u) {
        free(u->text);
        X509_free(u->signer);
        *u = (PolicyUpload) {};
}

/* The header's x5c[0] as a certificate. */
static int header_signer(const Jws *j, X509 **ret, Diag *d) {
        _cleanup_(freep) uint8_t *der = NULL;
        const unsigned char *p;
        json_object *x5c, *first;
        size_t size;
        X509 *x;

        if (!json_object_object_get_ex(j->header, "x5c", &x5c) ||
            !json_object_is_type(x5c, json_type_array) || json_object_array_length(x5c) < 1 ||
            json_object_array_length(x5c) > JWS_X5C_MAX)
                return diag_set(d, -EBADMSG, "policy: a signed policy needs the signing "
                                "certificate in the header's x5c");
        first = json_object_array_get_idx(x5c, 0);
        if (!json_object_is_type(first, json_type_string) ||
            base64url_decode(json_object_get_string(first), json_object_get_string_len(first),
                             64 * 1024, &der, &size) < 0)
                return diag_set(d, -EBADMSG, "policy: header x5c[0] is not base64");
        p = der;
        x = d2i_X509(NULL, &p, (long) size);
        if (!x || p != der + size) {
                X509_free(x);
                return diag_set(d, -EBADMSG, "policy: header x5c[0] is not a DER certificate");
        }
        *ret = x;
        return 0;
}

int policy_upload_parse(const char *body, size_t size, STACK_OF(X509) *signers, bool reset,
                        PolicyUpload *ret, Diag *d) {
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(X509_freep) X509 *signer = NULL;
        _cleanup_(json_object_putp) json_object *payload = NULL;
        _cleanup_(freep) uint8_t *text = NULL;
        size_t text_size = 0;
        json_object *v;
        int r;

        if (size > POLICY_UPLOAD_MAX)
                return diag_set(d, -E2BIG, "policy: %zu bytes, at most %u", size, POLICY_UPLOAD_MAX);
        if (size > 0 && body[size - 1] == '\n')
                size--;
        if (size > 0 && body[size - 1] == '\r')
                size--;
        r = jws_parse(body, size, &j, d);
        if (r < 0)
                return r == -E2BIG ? r : diag_set(d, -EBADMSG, "policy: not a JWS");
        if (streq(j->alg, "none")) {
                if (j->signature_size != 0)
                        return diag_set(d, -EBADMSG, "policy: alg none with a signature");
                if (signers)
                        return diag_set(d, -EPERM, "policy: this tenant is in isolated mode; "
                                        "the policy must be signed with one of its "
                                        "policy-signing certificates");
        } else {
                _cleanup_(jws_key_set_freep) JwsKeySet *keys = NULL;
                JwsVerifyOptions o = { .allow_non_jwt = true };
                bool known = false;

                r = header_signer(j, &signer, d);
                if (r < 0)
                        return r;
                r = jws_key_set_new(&keys);
                if (r >= 0)
                        r = jws_key_set_add(keys, X509_get0_pubkey(signer), NULL, NULL, d);
                if (r >= 0)
                        r = jws_verify(j, keys, &o, d);
                if (r < 0)
                        return r == -ENOMEM ? r : diag_set(d, -EKEYREJECTED, "policy: signature "
                                                           "does not verify with x5c[0]");
                for (int i = 0; signers && i < sk_X509_num(signers); i++)
                        known = known || X509_cmp(sk_X509_value(signers, i), signer) == 0;
                if (signers && !known) {
                        char cn[128] = "?";

                        (void) x509_common_name(X509_get_subject_name(signer), cn, sizeof(cn));
                        return diag_set(d, -EPERM, "policy: signed by \"%s\", which is not one of "
                                        "this tenant's policy-signing certificates", cn);
                }
        }

        if (j->payload_size == 0 || (j->payload_size == 2 && memcmp(j->payload, "{}", 2) == 0)) {
                if (!reset)
                        return diag_set(d, -EBADMSG, "policy: empty payload (to remove a policy "
                                        "use POST /policies/{type}:reset)");
        } else {
                if (reset)
                        return diag_set(d, -EBADMSG, "policy: a reset carries an empty payload");
                if (json_parse_capped((const char *) j->payload, j->payload_size,
                                      POLICY_UPLOAD_MAX, 4, &payload) < 0 ||
                    !json_object_is_type(payload, json_type_object))
                        return diag_set(d, -EBADMSG, "policy: payload is not a JSON object");
                if (!json_object_object_get_ex(payload, "AttestationPolicy", &v) ||
                    !json_object_is_type(v, json_type_string))
                        return diag_set(d, -EBADMSG, "policy: payload has no AttestationPolicy "
                                        "string");
                if (base64url_decode(json_object_get_string(v), json_object_get_string_len(v),
                                     MAA_POLICY_SIZE_MAX, &text, &text_size) < 0)
                        return diag_set(d, -EBADMSG, "policy: AttestationPolicy is not base64url "
                                        "(or over %u bytes)", MAA_POLICY_SIZE_MAX);
                if (text_size == 0 || memchr(text, '\0', text_size))
                        return diag_set(d, -EBADMSG, "policy: AttestationPolicy is empty or "
                                        "holds a NUL byte");
        }
        *ret = (PolicyUpload) {
                .text = (char *) TAKE_PTR(text),
                .size = text_size,
                .signer = TAKE_PTR(signer),
        };
        return 0;
}

int policy_upload_unsigned(const char *text, size_t size, char **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(freep) char *b64 = NULL, *payload_b64 = NULL, *header_b64 = NULL;
        const char *payload, header[] = "{\"alg\":\"none\"}";
        char *s;

        if (!o || base64url_encode(text, size, &b64) < 0 ||
            json_add_string(o, "AttestationPolicy", b64) < 0)
                return -ENOMEM;
        payload = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (base64url_encode(header, strlen(header), &header_b64) < 0 ||
            base64url_encode(payload, strlen(payload), &payload_b64) < 0 ||
            asprintf(&s, "%s.%s.", header_b64, payload_b64) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int policy_upload_signer_jwk(X509 *signer, json_object **ret) {
        _cleanup_(json_object_putp) json_object *jwk = NULL;
        _cleanup_(freep) char *b64 = NULL;
        json_object *x5c;

        if (jwk_from_pkey(X509_get0_pubkey(signer), NULL, &jwk) < 0 || x509_to_base64(signer, &b64) < 0)
                return -ENOMEM;
        x5c = json_object_new_array();
        if (!x5c || json_add(jwk, "x5c", x5c) < 0 ||
            json_object_array_add(x5c, json_object_new_string(b64)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(jwk);
        return 0;
}
