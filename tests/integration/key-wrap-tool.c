/* SPDX-License-Identifier: Apache-2.0 */
/*
 * key-wrap-tool: wraps and unwraps files through keyrelease/key-wrap.h, for key-wrap-cross.sh,
 * which checks the results against an independent implementation (Python's cryptography).
 *
 *   key-wrap-tool wrap ENC KEY.pem IN OUT            OUT = the blob wrapping IN to KEY (a PEM
 *                                                    public or private RSA key)
 *   key-wrap-tool unwrap ENC KEY.pem IN OUT          OUT = the key in blob IN (KEY private)
 *   key-wrap-tool wrap-hsm ENC KID KEY.pem IN OUT    OUT = the key_hsm text for that blob
 *   key-wrap-tool unwrap-hsm KEY.pem IN OUT          the key in key_hsm text IN (enc from its
 *                                                    header)
 *
 * ENC is CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384. Test keys only: the
 * unwrapped key is written to a file. Exit 0; 2 usage; 3 malformed input; 4 a blob that does not
 * unwrap (one line on stderr); 1 anything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/diag.h"
#include "common/exit-code.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/openssl-util.h"
#include "common/secret.h"
#include "keyrelease/key-wrap.h"

#define FILE_MAX (256u * 1024u)

static int load_key(const char *path, bool private, EVP_PKEY **ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(BIO_freep) BIO *b = NULL;
        EVP_PKEY *k = NULL;
        size_t size;
        int r;

        r = read_full_file(path, FILE_MAX, &buf, &size);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        b = BIO_new_mem_buf(buf, (int) size);
        if (!b)
                return -ENOMEM;
        k = PEM_read_bio_PrivateKey(b, NULL, pem_no_password, NULL);
        if (!k && !private) {
                (void) BIO_reset(b);
                k = PEM_read_bio_PUBKEY(b, NULL, pem_no_password, NULL);
        }
        ERR_clear_error();
        if (!k) {
                log_error("%s: not a PEM %s key", path, private ? "private" : "public or private");
                return -EBADMSG;
        }
        *ret = k;
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

static int parse_enc(const char *s, KeyWrapAlg *ret) {
        KeyWrapAlg alg = key_wrap_alg_from_string(s);

        if (alg < 0) {
                log_error("Unknown enc '%s'", s);
                return -EINVAL;
        }
        *ret = alg;
        return 0;
}

/* wrap ENC KEY IN OUT, or wrap-hsm ENC KID KEY IN OUT (kid non-NULL). */
static int cmd_wrap(const char *enc, const char *kid, char **args) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(freep) uint8_t *in = NULL, *blob = NULL;
        _cleanup_(freep) char *text = NULL;
        size_t in_size, blob_size;
        KeyWrapAlg alg;
        Diag d = {};
        int r;

        if ((r = parse_enc(enc, &alg)) < 0 || (r = load_key(args[0], false, &key)) < 0 ||
            (r = load_bytes(args[1], &in, &in_size)) < 0)
                return r;
        r = key_wrap(alg, key, in, in_size, &blob, &blob_size, &d);
        explicit_bzero(in, in_size);
        if (r < 0)
                return log_error_errno(r, "Cannot wrap %s: %s", args[1],
                                       diag_text(&d, strerror(-r)));
        if (!kid)
                return save(args[2], blob, blob_size);
        r = key_hsm_build(alg, kid, blob, blob_size, &text);
        if (r < 0)
                return log_error_errno(r, "Cannot build key_hsm: %m");
        return save(args[2], text, strlen(text));
}

/* unwrap ENC KEY IN OUT, or unwrap-hsm KEY IN OUT (enc NULL). */
static int cmd_unwrap(const char *enc, char **args) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(key_hsm_freep) KeyHsm *hsm = NULL;
        _cleanup_(secret_freep) Secret *out = NULL;
        _cleanup_(freep) uint8_t *in = NULL;
        const uint8_t *blob;
        size_t in_size, blob_size;
        KeyWrapAlg alg;
        Diag d = {};
        int r;

        if ((enc && (r = parse_enc(enc, &alg)) < 0) || (r = load_key(args[0], true, &key)) < 0 ||
            (r = load_bytes(args[1], &in, &in_size)) < 0)
                return r;
        blob = in;
        blob_size = in_size;
        if (!enc) {
                /* The key_hsm text as it would sit in the JWK: trailing white space ignored. */
                while (in_size > 0 && strchr(" \t\r\n", in[in_size - 1]))
                        in_size--;
                r = key_hsm_parse((const char *) in, in_size, &hsm, &d);
                if (r < 0)
                        return log_error_errno(r, "%s: %s", args[1], diag_text(&d, strerror(-r)));
                alg = hsm->alg;
                blob = hsm->ciphertext;
                blob_size = hsm->ciphertext_size;
        }
        r = key_unwrap(alg, key, blob, blob_size, &out, &d);
        if (r < 0)
                return log_error_errno(r, "Cannot unwrap %s: %s", args[1],
                                       diag_text(&d, strerror(-r)));
        return save(args[2], out->data, out->size);
}

int main(int argc, char **argv) {
        const char *cmd = argc > 1 ? argv[1] : "";
        int n = argc - 2, r;

        log_setup("key-wrap-tool");
        if (streq(cmd, "wrap") && n == 4)
                r = cmd_wrap(argv[2], NULL, argv + 3);
        else if (streq(cmd, "unwrap") && n == 4)
                r = cmd_unwrap(argv[2], argv + 3);
        else if (streq(cmd, "wrap-hsm") && n == 5)
                r = cmd_wrap(argv[2], argv[3], argv + 4);
        else if (streq(cmd, "unwrap-hsm") && n == 3)
                r = cmd_unwrap(NULL, argv + 2);
        else {
                log_error("usage: see the comment at the top of tests/integration/key-wrap-tool.c");
                return EXIT_USAGE;
        }
        if (r >= 0)
                return EXIT_OK;
        r = exit_code_from_errno(r);
        return r == EXIT_USAGE || r == EXIT_MALFORMED || r == EXIT_VERIFY ? r : EXIT_INTERNAL;
}
