/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/openssl-util.h"

/* Untrusted PEM never gets to ask for a password on the terminal. */
int pem_no_password(char *buf, int size, int rwflag, void *u) {
        return -1;
}

static bool looks_like_pem(const uint8_t *buf, size_t size) {
        static const char tag[] = "-----BEGIN ";

        /* A PEM file may start with text; look for the armour anywhere in the first bytes. */
        for (size_t i = 0; i + sizeof(tag) - 1 <= size && i < 4096; i++)
                if (memcmp(buf + i, tag, sizeof(tag) - 1) == 0)
                        return true;
        return false;
}

int x509_parse_bundle(const uint8_t *buf, size_t size, STACK_OF(X509) **ret) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *sk = NULL;

        if (!buf || size == 0)
                return -EBADMSG;
        if (size > CERT_BUNDLE_MAX)
                return -E2BIG;
        sk = sk_X509_new_null();
        if (!sk)
                return -ENOMEM;

        if (looks_like_pem(buf, size)) {
                _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(buf, (int) size);
                X509 *x;

                if (!bio)
                        return -ENOMEM;
                while ((x = PEM_read_bio_X509(bio, NULL, pem_no_password, NULL))) {
                        if (!sk_X509_push(sk, x)) {
                                X509_free(x);
                                return -ENOMEM;
                        }
                }
                /* The loop ends with "no start line" at the end of input: not an error. */
                ERR_clear_error();
        } else {
                const unsigned char *p = buf;
                X509 *x = d2i_X509(NULL, &p, (long) size);

                if (!x) {
                        ERR_clear_error();
                        return -EBADMSG;
                }
                if ((size_t) (p - buf) != size || !sk_X509_push(sk, x)) {
                        X509_free(x);
                        return -EBADMSG;
                }
        }
        if (sk_X509_num(sk) == 0)
                return -EBADMSG;
        *ret = TAKE_PTR(sk);
        return 0;
}

int x509_crl_parse(const uint8_t *buf, size_t size, X509_CRL **ret) {
        X509_CRL *crl;

        if (!buf || size == 0)
                return -EBADMSG;
        if (size > CERT_BUNDLE_MAX)
                return -E2BIG;
        if (looks_like_pem(buf, size)) {
                _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(buf, (int) size);
                if (!bio)
                        return -ENOMEM;
                crl = PEM_read_bio_X509_CRL(bio, NULL, pem_no_password, NULL);
        } else {
                const unsigned char *p = buf;
                crl = d2i_X509_CRL(NULL, &p, (long) size);
                if (crl && (size_t) (p - buf) != size) {
                        X509_CRL_free(crl);
                        crl = NULL;
                }
        }
        if (!crl) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = crl;
        return 0;
}

int x509_common_name(const X509_NAME *name, char *buf, size_t buf_size) {
        int n;

        if (buf_size == 0)
                return -EINVAL;
        n = X509_NAME_get_text_by_NID((X509_NAME *) name, NID_commonName, buf, (int) buf_size);
        if (n < 0) {
                buf[0] = '\0';
                ERR_clear_error();
                return -ENOENT;
        }
        return 0;
}

int der_trim_padding(const uint8_t *buf, size_t size, size_t *ret) {
        size_t len, hdr;

        if (size < 2 || buf[0] != 0x30)
                return -EBADMSG;
        if (buf[1] < 0x80) {
                len = buf[1];
                hdr = 2;
        } else {
                size_t n = buf[1] & 0x7f;

                if (n == 0 || n > 3 || size < 2 + n)
                        return -EBADMSG;
                len = 0;
                for (size_t i = 0; i < n; i++)
                        len = len << 8 | buf[2 + i];
                hdr = 2 + n;
        }
        if (len > size - hdr || !memeqzero(buf + hdr + len, size - hdr - len))
                return -EBADMSG;
        *ret = hdr + len;
        return 0;
}

int x509_to_base64(X509 *x, char **ret) {
        unsigned char *der = NULL;
        char *b64;
        int n = i2d_X509(x, &der);

        if (n <= 0)
                return -ENOMEM;
        b64 = malloc(4 * (((size_t) n + 2) / 3) + 1);
        if (b64)
                (void) EVP_EncodeBlock((unsigned char *) b64, der, n);
        OPENSSL_free(der);
        if (!b64)
                return -ENOMEM;
        *ret = b64;
        return 0;
}
