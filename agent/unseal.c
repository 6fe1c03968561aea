/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cvm-agent unseal`: opens the sealed token of MAA's AzureGuest response with the TPM. The
 * ephemeral key is a primary key of the NULL hierarchy made from a fixed template and the current
 * PCRs' policy, so in the same boot it is the same key the evidence carried: the TPM decrypts the
 * inner AES key (RSAES) only while those PCRs hold, and AES-256-GCM (AAD "Transport Key") gives
 * the JWT. The AES key lives in a Secret and is wiped.
 */
#include <getopt.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "agent/agent.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "vtpm/evidence.h"
#include "vtpm/tpm-device.h"

#define RESPONSE_MAX (1024u * 1024u)

static void help(void) {
        printf("Usage: cvm-agent unseal [--in FILE] [--pcrs LIST] [--ak-handle H]\n"
               "\n"
               "Reads MAA's AzureGuest response ({\"token\": sealed}) from FILE or stdin, and prints\n"
               "the token, decrypted with this boot's TPM ephemeral key (the PCRs must be those\n"
               "the evidence was collected over; default %s).\n", EVIDENCE_PCRS_DEFAULT);
}

static int b64_member(json_object *o, const char *key, size_t max, uint8_t **ret, size_t *ret_size,
                      Diag *d) {
        json_object *v;
        const char *s;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "sealed token: \"%s\" is missing", key);
        s = json_object_get_string(v);
        if (base64url_decode(s, strlen(s), max, ret, ret_size) < 0)
                return diag_set(d, -EBADMSG, "sealed token: \"%s\" is not base64", key);
        return 0;
}

int unseal_token(TpmDevice *t, const uint8_t *raw, size_t raw_size, char **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *resp = NULL, *sealed = NULL;
        _cleanup_(secret_freep) Secret *key = NULL;
        _cleanup_(freep) uint8_t *inner = NULL, *wrapped = NULL, *iv = NULL, *tag = NULL,
                                 *ct = NULL, *pt = NULL;
        size_t inner_size, wrapped_size, iv_size, tag_size, ct_size;
        EVP_CIPHER_CTX *cctx;
        json_object *tok, *params;
        int r, len, fin;

        if (json_parse_capped((const char *) raw, raw_size, RESPONSE_MAX, 8, &resp) < 0 ||
            !json_object_object_get_ex(resp, "token", &tok) ||
            !json_object_is_type(tok, json_type_string) ||
            base64url_decode(json_object_get_string(tok), strlen(json_object_get_string(tok)),
                             RESPONSE_MAX, &inner, &inner_size) < 0 ||
            json_parse_capped((const char *) inner, inner_size, RESPONSE_MAX, 8, &sealed) < 0 ||
            !json_object_object_get_ex(sealed, "EncryptionParams", &params))
                return diag_set(d, -EBADMSG, "the response is not a sealed AzureGuest token");
        r = b64_member(sealed, "EncryptedInnerKey", 1024, &wrapped, &wrapped_size, d);
        if (r >= 0)
                r = b64_member(params, "Iv", 64, &iv, &iv_size, d);
        if (r >= 0)
                r = b64_member(sealed, "AuthenticationData", 64, &tag, &tag_size, d);
        if (r >= 0)
                r = b64_member(sealed, "Jwt", RESPONSE_MAX, &ct, &ct_size, d);
        if (r < 0)
                return r;
        if (iv_size != 12 || tag_size != 16)
                return diag_set(d, -EBADMSG, "sealed token: bad IV or tag size");
        r = tpm_device_decrypt(t, TPM2_ALG_RSAES, TPM2_ALG_NULL, wrapped, wrapped_size, &key, d);
        if (r < 0)
                return r;
        if (key->size != 32)
                return diag_set(d, -EKEYREJECTED, "the inner key is %zu bytes, not 32", key->size);

        pt = malloc(ct_size + 1);
        cctx = EVP_CIPHER_CTX_new();
        if (!pt || !cctx) {
                EVP_CIPHER_CTX_free(cctx);
                return -ENOMEM;
        }
        r = EVP_DecryptInit_ex(cctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
            EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
            EVP_DecryptInit_ex(cctx, NULL, NULL, key->data, iv) == 1 &&
            EVP_DecryptUpdate(cctx, NULL, &len, (const uint8_t *) "Transport Key", 13) == 1 &&
            EVP_DecryptUpdate(cctx, pt, &len, ct, (int) ct_size) == 1 &&
            EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
            EVP_DecryptFinal_ex(cctx, pt + len, &fin) == 1;
        EVP_CIPHER_CTX_free(cctx);
        if (!r)
                return diag_set(d, -EKEYREJECTED, "the sealed token does not authenticate (AES-GCM)");
        pt[len + fin] = '\0';
        if (strlen((char *) pt) != (size_t) (len + fin))
                return diag_set(d, -EBADMSG, "the unsealed token holds a NUL");
        *ret = (char *) TAKE_PTR(pt);
        return 0;
}

int unseal_main(int argc, char **argv) {
        enum { ARG_IN = 0x100, ARG_PCRS, ARG_AK_HANDLE };
        static const struct option options[] = {
                { "in", required_argument, NULL, ARG_IN },
                { "pcrs", required_argument, NULL, ARG_PCRS },
                { "ak-handle", required_argument, NULL, ARG_AK_HANDLE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        _cleanup_(freep) uint8_t *raw = NULL, *pub = NULL, *info = NULL, *sig = NULL;
        _cleanup_(freep) char *jwt = NULL;
        size_t raw_size, pub_size, info_size, sig_size;
        const char *in = "-";
        uint32_t mask, ak_handle = TPM_AK_HANDLE_AZURE;
        TpmPcrSet sel = {};
        int c, r;
        Diag d = {};

        (void) tpm_pcr_mask_parse(EVIDENCE_PCRS_DEFAULT, &mask);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_IN:
                        in = optarg;
                        break;
                case ARG_PCRS:
                        if (tpm_pcr_mask_parse(optarg, &mask) < 0)
                                return log_error("--pcrs: not a PCR list"), EXIT_USAGE;
                        break;
                case ARG_AK_HANDLE:
                        if (safe_atou32(optarg, &ak_handle) < 0)
                                return log_error("--ak-handle: not a handle"), EXIT_USAGE;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }

        r = read_full_file(in, RESPONSE_MAX, &raw, &raw_size);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", in), EXIT_USAGE;
        r = tpm_device_open(secure_getenv("CVM_TCTI"), &t, &d);
        if (r >= 0) {
                tpm_pcr_set_bank_add(&sel, TPM_ALG_SHA256)->mask = mask;
                r = tpm_device_ephemeral_key(t, ak_handle, &sel, NULL, 0, &pub, &pub_size, &info,
                                             &info_size, &sig, &sig_size, &d);
        }
        if (r >= 0)
                r = unseal_token(t, raw, raw_size, &jwt, &d);
        if (r == -EIO || r == -EPERM)
                /* The key made now is not the one the token was sealed to: its PCR policy differs
                 * (a PCR moved since the evidence) or this is another boot. */
                return log_error("Cannot unseal: this TPM's ephemeral key is not the one the token "
                                 "was sealed to: the PCRs changed since the evidence was taken, or "
                                 "the VM rebooted (%s)", diag_text(&d, strerror(-r))),
                       EXIT_VERIFY;
        if (r == -EBADMSG)
                return log_error("%s", diag_text(&d, "malformed sealed token")), EXIT_MALFORMED;
        if (r < 0)
                return log_error_errno(r, "Cannot unseal: %s", diag_text(&d, strerror(-r))),
                       exit_code_from_errno(r);
        printf("%s\n", jwt);
        return EXIT_OK;
}
