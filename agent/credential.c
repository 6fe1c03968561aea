/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [io] Credential activation for trusted launch: `cvm-agent credential-request` writes what the
 * verifier's POST /credential needs (the EK certificate, the EK and the AK public areas), and
 * credential_activate() (used by `cvm-agent evidence --credential FILE`) recovers the secret of
 * the verifier's answer inside the TPM, to be quoted as the nonce: only the TPM holding that EK
 * and that AK can.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/strutil.h"
#include "vtpm/tpm-device.h"

#define CREDENTIAL_RESPONSE_MAX (64u * 1024u)

int ek_type_from_string(const char *s) {
        if (streq(s, "rsa"))
                return TPM_EK_RSA_2048;
        if (streq(s, "ecc-p256"))
                return TPM_EK_ECC_P256;
        if (streq(s, "ecc-p384"))
                return TPM_EK_ECC_P384;
        return -EINVAL;
}

static int add_b64(json_object *o, const char *key, const uint8_t *p, size_t n) {
        _cleanup_(freep) char *s = NULL;

        if (base64url_encode(p, n, &s) < 0)
                return -ENOMEM;
        return json_add_string(o, key, s);
}

static void help(void) {
        printf("Usage: cvm-agent credential-request [--ak-handle H] [--ak-type ecc|rsa]\n"
               "                                    [--ek rsa|ecc-p256|ecc-p384] [--out FILE]\n"
               "\n"
               "Writes the body of the verifier's POST /credential: the TPM's EK certificate and\n"
               "EK public area (recreated from the TCG template of --ek, default rsa), and the\n"
               "AK's public area (persistent at --ak-handle, default 0x81000003, created when\n"
               "absent). The answer goes to `cvm-agent evidence --credential FILE --ek TYPE`,\n"
               "which activates it in the TPM and quotes with its secret as the nonce.\n");
}

int credential_request_main(int argc, char **argv) {
        enum { ARG_AK_HANDLE = 0x100, ARG_AK_TYPE, ARG_EK, ARG_OUT };
        static const struct option options[] = {
                { "ak-handle", required_argument, NULL, ARG_AK_HANDLE },
                { "ak-type", required_argument, NULL, ARG_AK_TYPE },
                { "ek", required_argument, NULL, ARG_EK },
                { "out", required_argument, NULL, ARG_OUT },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(tpm_device_closep) TpmDevice *t = NULL;
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_(freep) uint8_t *ak_pub = NULL, *ek_pub = NULL, *ek_cert = NULL;
        size_t ak_size, ek_size, cert_size;
        uint32_t ak_handle = TPM_AK_HANDLE_AZURE;
        TpmAkType ak_type = TPM_AK_ECC_P256;
        TpmEkType ek_type = TPM_EK_RSA_2048;
        const char *out = "-", *text;
        Diag d = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_AK_HANDLE:
                        if (safe_atou32(optarg, &ak_handle) < 0 || (ak_handle >> 24) != 0x81)
                                return log_error("--ak-handle: '%s' is not a persistent handle "
                                                 "0x81xxxxxx", optarg), EXIT_USAGE;
                        break;
                case ARG_AK_TYPE:
                        if (!streq(optarg, "ecc") && !streq(optarg, "rsa"))
                                return log_error("--ak-type: ecc or rsa"), EXIT_USAGE;
                        ak_type = streq(optarg, "rsa") ? TPM_AK_RSA_2048 : TPM_AK_ECC_P256;
                        break;
                case ARG_EK:
                        r = ek_type_from_string(optarg);
                        if (r < 0)
                                return log_error("--ek: rsa, ecc-p256 or ecc-p384"), EXIT_USAGE;
                        ek_type = r;
                        break;
                case ARG_OUT:
                        out = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind != argc)
                return log_error("credential-request: unexpected argument '%s'", argv[optind]),
                       EXIT_USAGE;
        if (!o)
                return EXIT_INTERNAL;
        r = tpm_device_open(secure_getenv("CVM_TCTI"), &t, &d);
        if (r >= 0)
                r = tpm_device_ak(t, ak_handle, true, ak_type, &ak_pub, &ak_size, &d);
        if (r >= 0)
                r = tpm_device_ek(t, ek_type, &ek_pub, &ek_size, &d);
        if (r >= 0)
                r = tpm_device_ek_certificate(t, ek_type, &ek_cert, &cert_size, &d);
        if (r < 0) {
                log_error_errno(r, "Cannot read the TPM's EK, its certificate or the AK: %s",
                                diag_text(&d, strerror(-r)));
                return exit_code_from_errno(r);
        }
        if (add_b64(o, "EkCert", ek_cert, cert_size) < 0 || add_b64(o, "EkPub", ek_pub, ek_size) < 0 ||
            add_b64(o, "AikPub", ak_pub, ak_size) < 0)
                return EXIT_INTERNAL;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        r = write_file_atomic(out, text, strlen(text));
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", out), EXIT_INTERNAL;
        return EXIT_OK;
}

int credential_activate(TpmDevice *t, uint32_t ak_handle, int ek_type, const char *path,
                        uint8_t nonce[static 64], size_t *ret_nonce_size, Diag *d) {
        _cleanup_(freep) uint8_t *buf = NULL, *blob = NULL, *seed = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(secret_freep) Secret *secret = NULL;
        size_t size, blob_size, seed_size;
        json_object *b, *e;
        int r;

        r = read_full_file(path, CREDENTIAL_RESPONSE_MAX, &buf, &size);
        if (r < 0)
                return diag_set(d, r, "%s: %s", path, strerror(-r));
        if (json_parse_capped((const char *) buf, size, CREDENTIAL_RESPONSE_MAX, 4, &o) < 0 ||
            !json_object_object_get_ex(o, "CredentialBlob", &b) ||
            !json_object_object_get_ex(o, "EncryptedSecret", &e) ||
            !json_object_is_type(b, json_type_string) || !json_object_is_type(e, json_type_string) ||
            base64url_decode(json_object_get_string(b), json_object_get_string_len(b), 4096, &blob,
                             &blob_size) < 0 ||
            base64url_decode(json_object_get_string(e), json_object_get_string_len(e), 4096, &seed,
                             &seed_size) < 0)
                return diag_set(d, -EBADMSG, "%s: not the verifier's credential (JSON with "
                                "base64 CredentialBlob and EncryptedSecret)", path);
        r = tpm_device_activate_credential(t, ak_handle, (TpmEkType) ek_type, blob, blob_size,
                                           seed, seed_size, &secret, d);
        if (r < 0)
                return r;
        if (secret->size == 0 || secret->size > 64)
                return diag_set(d, -EBADMSG, "the credential's secret has %zu bytes", secret->size);
        memcpy(nonce, secret->data, secret->size);
        *ret_nonce_size = secret->size;
        return 0;
}
