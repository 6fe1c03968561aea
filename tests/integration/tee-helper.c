/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tee-helper: plays the part of a verifier service for tee-token.sh, through the same API the
 * service uses (verifier/tee-cert.h): a signing key, its SEV-SNP report from the (simulated)
 * firmware, the certificate carrying it, the JWKS that publishes it, and tokens signed with it.
 *
 *   tee-helper key OUT.pem rsa|ec                    a new private key
 *   tee-helper collect KEY.pem REPORT VCEK [ASK]     a report bound to KEY (tee_cert_collect,
 *                                                    firmware from $CVM_TSM_REPORT_DIR or
 *                                                    $CVM_SEV_GUEST_DEVICE), its VCEK and ASK
 *   tee-helper cert KEY.pem OUT.pem [REPORT VCEK [ASK]]
 *                                                    a certificate for KEY with the evidence
 *                                                    (collected for KEY when not given)
 *   tee-helper cert-plain KEY.pem OUT.pem            one without it
 *   tee-helper jwks CERT.pem KID OUT.json            {"keys": [JWK of CERT's key + x5c [CERT]]}
 *   tee-helper sign KEY.pem KID ISS OUT.jwt          a JWT {iss, iat, nbf, exp: now + 1 h}
 *
 * Exit 0, 1 on any failure (one line on stderr), 2 usage, 6 no SNP firmware.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/jws.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "snp/snp-source.h"
#include "verifier/tee-cert.h"

#define FILE_MAX (256u * 1024u)

static int load_key(const char *path, EVP_PKEY **ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(BIO_freep) BIO *b = NULL;
        size_t size;
        int r;

        r = read_full_file(path, FILE_MAX, &buf, &size);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        b = BIO_new_mem_buf(buf, (int) size);
        *ret = b ? PEM_read_bio_PrivateKey(b, NULL, pem_no_password, NULL) : NULL;
        if (!*ret) {
                log_error("%s: not a PEM private key", path);
                return -EBADMSG;
        }
        return 0;
}

static int load_bytes(const char *path, uint8_t **ret, size_t *ret_size) {
        int r = read_full_file(path, FILE_MAX, ret, ret_size);

        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        return 0;
}

static int save(const char *path, const void *p, size_t n) {
        int r = write_file_atomic(path, p, n);

        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", path);
        return 0;
}

static int save_bio(const char *path, BIO *b) {
        char *data;
        long n = BIO_get_mem_data(b, &data);

        return save(path, data, (size_t) n);
}

static int cmd_key(const char *out, const char *type) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());

        k = streq(type, "rsa") ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
        if (!k || !b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
                return log_error("cannot make a %s key", type), -ENOMEM;
        return save_bio(out, b);
}

static int collect(EVP_PKEY *key, TeeEvidence *ret) {
        SnpSource src = {
                .kind = SNP_SOURCE_AUTO,
                .tsm_report_dir = secure_getenv("CVM_TSM_REPORT_DIR"),
                .sev_guest_path = secure_getenv("CVM_SEV_GUEST_DEVICE"),
        };
        Diag d = {};
        int r;

        r = tee_cert_collect(key, &src, ret, &d);
        if (r < 0)
                return log_error_errno(r, "collect: %s", diag_text(&d, "failed: %m"));
        return 0;
}

static int cmd_collect(char **argv, int argc) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(tee_evidence_done) TeeEvidence ev = {};
        int r;

        r = load_key(argv[0], &key);
        if (r < 0)
                return r;
        r = collect(key, &ev);
        if (r < 0)
                return r;
        if (!ev.vcek)
                return log_error("collect: the host supplied no VCEK"), -ENOKEY;
        r = save(argv[1], ev.report, ev.report_size);
        if (r >= 0)
                r = save(argv[2], ev.vcek, ev.vcek_size);
        if (r >= 0 && argc > 3) {
                if (!ev.ask)
                        return log_error("collect: the host supplied no ASK"), -ENOKEY;
                r = save(argv[3], ev.ask, ev.ask_size);
        }
        return r;
}

static int cmd_cert(char **argv, int argc, bool plain) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(tee_evidence_done) TeeEvidence ev = {};
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        int r;

        r = load_key(argv[0], &key);
        if (r < 0)
                return r;
        if (argc > 2) {
                r = load_bytes(argv[2], &ev.report, &ev.report_size);
                if (r >= 0 && argc > 3)
                        r = load_bytes(argv[3], &ev.vcek, &ev.vcek_size);
                if (r >= 0 && argc > 4)
                        r = load_bytes(argv[4], &ev.ask, &ev.ask_size);
        } else if (!plain)
                r = collect(key, &ev);
        if (r < 0)
                return r;
        r = tee_cert_build(key, "tee-helper token signing", 30, time(NULL), plain ? NULL : &ev,
                           &x);
        if (r < 0)
                return log_error_errno(r, "cert: cannot build the certificate: %m");
        if (!b || !PEM_write_bio_X509(b, x))
                return -ENOMEM;
        return save_bio(argv[1], b);
}

static int cmd_jwks(char **argv) {
        _cleanup_(json_object_putp) json_object *jwks = json_object_new_object(), *jwk = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;
        _cleanup_(freep) uint8_t *pem = NULL;
        _cleanup_(freep) char *b64 = NULL;
        json_object *keys = json_object_new_array(), *x5c = json_object_new_array();
        uint8_t *der = NULL;
        const char *text;
        size_t size;
        int r, n;

        if (!jwks || json_add(jwks, "keys", keys) < 0)
                return -ENOMEM;
        r = load_bytes(argv[0], &pem, &size);
        if (r < 0)
                return r;
        if (x509_parse_bundle(pem, size, &sk) < 0)
                return log_error("%s: not a certificate", argv[0]), -EBADMSG;
        r = jwk_from_pkey(X509_get0_pubkey(sk_X509_value(sk, 0)), argv[1], &jwk);
        if (r < 0)
                return log_error_errno(r, "jwks: %m");
        n = i2d_X509(sk_X509_value(sk, 0), &der);
        if (n <= 0)
                return -ENOMEM;
        /* x5c is standard base64 (RFC 7517 §4.7), not base64url. */
        b64 = malloc(4 * (((size_t) n + 2) / 3) + 1);
        if (!b64) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        EVP_EncodeBlock((unsigned char *) b64, der, n);
        OPENSSL_free(der);
        if (json_object_array_add(x5c, json_object_new_string(b64)) < 0 ||
            json_add(jwk, "x5c", x5c) < 0 || json_add_string(jwk, "use", "sig") < 0 ||
            json_object_array_add(keys, json_object_get(jwk)) < 0)
                return -ENOMEM;
        text = json_object_to_json_string_ext(jwks, JSON_C_TO_STRING_PLAIN);
        return save(argv[2], text, strlen(text));
}

static int cmd_sign(char **argv) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(json_object_putp) json_object *claims = json_object_new_object();
        _cleanup_(freep) char *jwt = NULL;
        int64_t now = (int64_t) time(NULL);
        const char *payload;
        int r;

        r = load_key(argv[0], &key);
        if (r < 0)
                return r;
        if (!claims || json_add_string(claims, "iss", argv[2]) < 0 ||
            json_add_int(claims, "iat", now - 10) < 0 ||
            json_add_int(claims, "nbf", now - 10) < 0 ||
            json_add_int(claims, "exp", now + 3600) < 0 ||
            json_add_string(claims, "x-ms-attestation-type", "sevsnpvm") < 0)
                return -ENOMEM;
        payload = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN);
        r = jws_sign(EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "RS256" : "ES256", key, argv[1],
                     NULL, NULL, (const uint8_t *) payload, strlen(payload), &jwt);
        if (r < 0)
                return log_error_errno(r, "sign: %m");
        return save(argv[3], jwt, strlen(jwt));
}

int main(int argc, char **argv) {
        const char *cmd = argc > 1 ? argv[1] : "";
        int n = argc - 2, r;

        log_setup("tee-helper");
        if (streq(cmd, "key") && n == 2)
                r = cmd_key(argv[2], argv[3]);
        else if (streq(cmd, "collect") && (n == 3 || n == 4))
                r = cmd_collect(argv + 2, n);
        else if (streq(cmd, "cert") && n >= 2 && n <= 5)
                r = cmd_cert(argv + 2, n, false);
        else if (streq(cmd, "cert-plain") && n == 2)
                r = cmd_cert(argv + 2, n, true);
        else if (streq(cmd, "jwks") && n == 3)
                r = cmd_jwks(argv + 2);
        else if (streq(cmd, "sign") && n == 4)
                r = cmd_sign(argv + 2);
        else {
                log_error("usage: see the comment at the top of tests/integration/tee-helper.c");
                return EXIT_USAGE;
        }
        if (r >= 0)
                return EXIT_OK;
        return exit_code_from_errno(r) == EXIT_UNAVAILABLE ? EXIT_UNAVAILABLE : EXIT_INTERNAL;
}
