/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/macro.h"

DEFINE_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_CLEANUP_FUNC(X509_CRL *, X509_CRL_free);
DEFINE_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free);
DEFINE_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_CLEANUP_FUNC(ASN1_TIME *, ASN1_TIME_free);
DEFINE_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);

static inline void sk_X509_pop_freep(STACK_OF(X509) **sk) {
        if (*sk)
                sk_X509_pop_free(*sk, X509_free);
}

/* A pem_password_cb that refuses: untrusted PEM must not prompt on the terminal. */
int pem_no_password(char *buf, int size, int rwflag, void *u);

/* Largest certificate bundle we parse (a VCEK + ASK + ARK in PEM is about 6.5 KiB). */
#define CERT_BUNDLE_MAX (256u * 1024u)

/*
 * Parses one or more certificates: a PEM bundle (any number of CERTIFICATE blocks; other blocks
 * are skipped) or a single DER certificate. Rejects input over CERT_BUNDLE_MAX (-E2BIG),
 * anything that is neither (-EBADMSG), and DER with trailing bytes (-EBADMSG). On success
 * *ret is a new stack with at least one certificate. Pure; never logs above debug.
 */
int x509_parse_bundle(const uint8_t *buf, size_t size, STACK_OF(X509) **ret);
/* The size of the DER element at the start of buf when everything after it is zero padding (as in
 * NV indices sized larger than the certificate they hold); -EBADMSG otherwise. Pure. */
int der_trim_padding(const uint8_t *buf, size_t size, size_t *ret);
/* Parses one DER or PEM CRL. */
int x509_crl_parse(const uint8_t *buf, size_t size, X509_CRL **ret);
/* The DER of x in standard base64 (as JWK "x5c" holds certificates), a new string. -ENOMEM. */
int x509_to_base64(X509 *x, char **ret);
/* The subject commonName into buf (truncated to buf_size-1); -ENOENT if there is none. */
int x509_common_name(const X509_NAME *name, char *buf, size_t buf_size);
