/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz targets: the attestation request bodies the service appraises (verifier/appraise.c). Built
 * twice from this file: appraise-azureguest (FUZZ_APPRAISE_AZUREGUEST, appraise_azureguest) and
 * appraise-sevsnpvm (appraise_sevsnpvm).
 *
 * Reach. Everything past the first signature check runs only for evidence that verifies, so the
 * context trusts, besides AMD's compiled-in roots, the test ARK-Milan of the simulator that made
 * the AzureGuest seeds (tests/sim, `cvm-sim up --tpm --azure`), and for trusted launch its test
 * AK CA. Both are public test certificates with no key anywhere but that one simulator directory;
 * nothing outside this harness trusts them. The time is fixed at 2027-01-01, inside the validity
 * of the simulator's VCEK and of the real Azure VCEKs the SevSnpVm seeds carry.
 *
 * Encoding. The service takes nested documents as base64url text: AttestationInfo, and inside it
 * IsolationInfo.Evidence.Proof and .RunTimeData; SevSnpVm's "report" and runtimeData.data.
 * Mutating base64 text rarely yields an inner document that parses, so a seed may hold such a
 * member decoded, as a JSON object or array, and the harness encodes it before appraisal (an
 * AzureGuest seed may also be the AttestationInfo document itself: a top-level TpmInfo). Every
 * input is appraised as it is, and once more in that encoded form when the rule changed it.
 *
 * Checks besides the sanitizers': an appraisal that succeeds returns a claims object whose
 * x-ms-attestation-type is the expected one and that serialises; one that fails returns no
 * claims and never -ENOMEM or -EIO (the service answers those with 500: hostile input must not
 * look like an internal error), nor a positive value; a bound nonce is NUL-terminated inside
 * APPRAISE_NONCE_MAX. Then the same appraisal with the service's key and fact caches, twice (the
 * second from them), must give the same result, claims, refusal text and bound nonce, and the
 * encryption key handed out for sealing must be x-ms-runtime.keys[0].
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/jwk.h"
#include "common/openssl-util.h"
#include "snp/snp-verify.h"
#include "verifier/appraise.h"
#include "verifier/appraise-cache.h"
#include "verifier/endorsement-cache.h"
#include "tests/fuzz/fuzz.h"

/* 2027-01-01T00:00:00Z. */
#define FUZZ_APPRAISE_TIME ((time_t) 1798761600)
#define FUZZ_JSON_DEPTH    32

#ifdef FUZZ_APPRAISE_AZUREGUEST
#define APPRAISE         appraise_azureguest
#define ATTESTATION_TYPE "azurevm"
#else
#define APPRAISE         appraise_sevsnpvm
#define ATTESTATION_TYPE "sevsnpvm"
#endif

/* The simulator's test root (tests/sim: CN=ARK-Milan, RSA-4096, self-signed with RSASSA-PSS),
 * that the AzureGuest seeds' VCEK chain ends in. */
static const char sim_ark_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIGWzCCBA+gAwIBAgIDAQAAMEEGCSqGSIb3DQEBCjA0oA8wDQYJYIZIAWUDBAIC\n"
        "BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMDB7MRQwEgYDVQQL\n"
        "DAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDASBgNVBAcMC1NhbnRhIENsYXJh\n"
        "MQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5jZWQgTWljcm8gRGV2aWNlczES\n"
        "MBAGA1UEAwwJQVJLLU1pbGFuMCAXDTI2MTEyNzIzNDUwMFoYDzIwNTExMTIxMjM0\n"
        "NTAwWjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDASBgNV\n"
        "BAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5jZWQg\n"
        "TWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLU1pbGFuMIICIjANBgkqhkiG9w0B\n"
        "AQEFAAOCAg8AMIICCgKCAgEAvJg/wEjlh5D6BKWVco05qUtu4FK1BOdazHREmfXO\n"
        "r9yXUsdT/id/Mr2hjB/MHwFcASe3c2Yxbw2MK6XF1XHFLJYDulAzLCbLLWiqPjRG\n"
        "JxZ7DV8dN9GK88RrZwQGBAuNFDM2yBL2C6TBu4Ci5opPeUlZT7e5o3BjX4iimENX\n"
        "XRrRVRwCLZqJYOoXE0v0kUbtaYVMRNaKGu/umw/I8euFcq9jBHWk4jLCnAJGNc8R\n"
        "tleDL+2+e93URHL8qELbmBcDXuDzkkP+q9bx4SpTQUcnP5cEtQKsvZCBOcE820ZN\n"
        "Pk2SARvUh8HFaayTnQMxWPwyG5rM4VBRmKPKmlfuGfl7u8NcoHk91SR3wg2s1ucj\n"
        "kPDzpPYaLJP1ZeLcgdWWfRtqrOVgv35LD5pix8xLIaIJQ1K2D/DysgShSjoNJ1vQ\n"
        "p/EDKjED9JLDGxH5q3obLgGwNw7V9/ok317YK0uipVJ45huzUQMNlNxl+jT1je5h\n"
        "Jh+RRwYyrltR4SNOiqJeizizmIk+s//dvDKj+yRU2xZ/AYHVHhKrye5v9XF9Wx4G\n"
        "y4H71loOgStHuG0qFyTyRd1qCsA0yOjxwXUyKgswTn9OsWtCSur0gb8WHNHCAv3H\n"
        "ht9ByDoDct/bR6BaW8k5gkdrpVjWE00BQfTM4MVzCJ6KWrJzARJxXAxC+DsIUzlg\n"
        "jEUCAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSXt3Wa53kx77WX\n"
        "LUjt4gKKEQ3S/jAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuGKWh0\n"
        "dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvTWlsYW4vY3JsMEEGCSqGSIb3\n"
        "DQEBCjA0oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUD\n"
        "BAICBQCiAwIBMAOCAgEAjyFyvdOMqLTqBuHBqvU1GitHbs2BWfetpy0oUuHVJWuT\n"
        "7yotf6RRfuwBOetWXEuhnourQ+zmbt1ir40c0YqvJ2OPygRXWsuQdnZ1unYdUoSO\n"
        "mBIzl59yM2o2n9HW6Qdk/rSPhs9BiXBncz4I819n9+jtnZAv7OQSDulVC0pnfQmB\n"
        "r1fbKLjLR7bsG7IhaxPUUs2dhOaZTxLkil7n7Z/gWAjIUhf6NPBMOCdzwQQJaxWU\n"
        "ZnoaTrokvqEcqIvH6RGiHiq6Gg9wRSIxkXfP+WcgjJgaPQoPh2aSvRLLZhUxrCY8\n"
        "nxdwbAX/hb2Z40ChIezyqhuIN+QWAbvt+YOYbSf6nJ7TvCuMvT2q9Dc/8RAd7C3A\n"
        "IQoYPSpGCLLPrjB6C0KtuZq+YZlQLa8EK/iUHj5/TE8cj+RrOwE/QK4q8Slvo3RW\n"
        "wul1xIExTTUk+srMKK+QRcZQags+uWR0xG0adtrQ34nbwINQPZnbPlcaDu+s0WH2\n"
        "GUJ3tEGYoTQon87EvcOGirAMlpF8q+ilW4fw3nEhD5XbuJ1X8sh1vCG0RsQNu0iX\n"
        "+dh0vw7c39ssmbgt2E24wrfBnpBnZPTyCChWWVQO0bHY33NBiaOG7vs7rH7g3hMY\n"
        "4B84ZpAhMHw2r9lOQfd2NmEhdM4EanVotIsbTTnd8pKn/4iI3PhLoW9AdFsFoqI=\n"
        "-----END CERTIFICATE-----\n";

/* The simulator's test AK CA ("cvm-sim TEST AK CA - not Azure, do not trust", P-256), that
 * issued the AK certificate in the trusted-launch seeds. */
static const char sim_akca_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIICMTCCAdegAwIBAgIQMlz0uXXTHHP40T3BCCvnHDAKBggqhkjOPQQDAjBSMRkw\n"
        "FwYDVQQKDBBjdm0tc2ltIHRlc3QgUEtJMTUwMwYDVQQDDCxjdm0tc2ltIFRFU1Qg\n"
        "QUsgQ0EgLSBub3QgQXp1cmUsIGRvIG5vdCB0cnVzdDAgFw0yNjExMjcyMzQ1MDZa\n"
        "GA8yMDUxMTEyMTIzNDUwNlowUjEZMBcGA1UECgwQY3ZtLXNpbSB0ZXN0IFBLSTE1\n"
        "MDMGA1UEAwwsY3ZtLXNpbSBURVNUIEFLIENBIC0gbm90IEF6dXJlLCBkbyBub3Qg\n"
        "dHJ1c3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATur1bFdpovseljGycXbxfl\n"
        "nnH1zVTdltn9CzrRd+/1QMX5gK3SF5xli1/f7+fmUox94ybVrqgYbaTSTUjHK+5A\n"
        "o4GMMIGJMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMB0GA1Ud\n"
        "DgQWBBQFntixnCTrr4ZJ0p1BtSISyXqGOzBEBglghkgBhvhCAQ0ENxY1Y3ZtLXNp\n"
        "bSB0ZXN0IENBIGZvciB2VFBNIEFLIGNlcnRpZmljYXRlczsgbm90IEF6dXJlJ3Mw\n"
        "CgYIKoZIzj0EAwIDSAAwRQIgPQpaAKjkArzbm3Bcow7TIM6ZiPFYrLJZayr41j/d\n"
        "/3MCIQC3eevhJi/kyfZiybr2QWoXim+KPg/1VZsCOuWhEJzWXg==\n"
        "-----END CERTIFICATE-----\n";

static SnpTrust *trust;
static X509_STORE *ak_ca;
static KeyCache *keys;
static FactCache *facts;

static void fuzz_init(void) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *akca = NULL;
        Diag d = {};

        if (trust)
                return;
        if (snp_trust_new(true, &trust) < 0 ||
            snp_trust_add(trust, (const uint8_t *) sim_ark_pem, strlen(sim_ark_pem), &d) < 0 ||
            x509_parse_bundle((const uint8_t *) sim_akca_pem, strlen(sim_akca_pem), &akca) < 0 ||
            sk_X509_num(akca) != 1)
                abort();
        ak_ca = X509_STORE_new();
        if (!ak_ca || X509_STORE_add_cert(ak_ca, sk_X509_value(akca, 0)) != 1)
                abort();
        if (key_cache_new(64, &keys) < 0 || fact_cache_new(64, &facts) < 0)
                abort();
}

/* The same appraisal with the service's caches (shared by every input, so they fill as the
 * fuzzer runs): twice, so that the second answers from them. Both must give exactly what the
 * appraisal without caches gave, refusal text included; and AzureGuest's encryption key, handed
 * out for sealing, must be the one in x-ms-runtime.keys[0] (none when there is none, nothing on
 * failure). */
static void appraise_cached(const char *body, size_t size, int want, const char *want_claims,
                            const char *want_diag, const char *want_bound) {
        for (int round = 0; round < 2; round++) {
                _cleanup_(json_object_putp) json_object *claims = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *ek = NULL;
                char bound[APPRAISE_NONCE_MAX];
                AppraiseContext ctx = {.trust = trust,
                                       .now = FUZZ_APPRAISE_TIME,
                                       .bound_nonce = bound,
                                       .ak_ca = ak_ca,
                                       .facts = facts,
                                       .keys = keys,
                                       .enc_key = &ek};
                Diag d = {};
                int r;

                memset(bound, 'x', sizeof(bound));
                r = APPRAISE(&ctx, body, size, &claims, &d);
                if (r != want || !streq(d.text, want_diag))
                        abort();
                if (r < 0) {
                        if (claims || ek)
                                abort();
                        ERR_clear_error();
                        continue;
                }
                if (!streq(json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN),
                           want_claims) ||
                    !streq(bound, want_bound))
                        abort();
#ifdef FUZZ_APPRAISE_AZUREGUEST
                json_object *rt, *jwks;

                if (json_object_object_get_ex(claims, "x-ms-runtime", &rt) &&
                    json_object_object_get_ex(rt, "keys", &jwks)) {
                        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;

                        if (!ek || jwk_to_pkey(json_object_array_get_idx(jwks, 0), &k, NULL) < 0 ||
                            !pkey_equal(k, ek))
                                abort();
                } else if (ek)
                        abort();
#endif
                ERR_clear_error();
        }
}

static void appraise_one(const char *body, size_t size) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(freep) char *text = NULL;
        char bound[APPRAISE_NONCE_MAX];
        AppraiseContext ctx = {
                .trust = trust, .now = FUZZ_APPRAISE_TIME, .bound_nonce = bound, .ak_ca = ak_ca};
        json_object *t;
        Diag d = {};
        int r;

        memset(bound, 'x', sizeof(bound));
        r = APPRAISE(&ctx, body, size, &claims, &d);
        fuzz_consume(strlen(d.text));
        if (r > 0 || r == -ENOMEM || r == -EIO)
                abort();
        if (r < 0) {
                if (claims)
                        abort();
                ERR_clear_error();
                appraise_cached(body, size, r, NULL, d.text, NULL);
                return;
        }
        if (!claims || !json_object_is_type(claims, json_type_object) ||
            !json_object_object_get_ex(claims, "x-ms-attestation-type", &t) ||
            !json_object_is_type(t, json_type_string) ||
            !streq(json_object_get_string(t), ATTESTATION_TYPE) ||
            !memchr(bound, '\0', sizeof(bound)))
                abort();
        text = strdup(json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN));
        if (!text)
                abort();
        ERR_clear_error();
        appraise_cached(body, size, r, text, d.text, bound);
}

static bool encoded_member(const char *key) {
        static const char *const names[] = {"AttestationInfo", "attestationInfo", "Proof",
                                            "RunTimeData",     "report",          "data"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(key, names[i]))
                        return true;
        return false;
}

/* Replaces, depth first, every encoded member that holds an object or array with base64url of
 * its JSON text. Returns how many it replaced, or -ENOMEM. */
static int encode_nested(json_object *o) {
        int n = 0, k;

        if (json_object_is_type(o, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        k = encode_nested(json_object_array_get_idx(o, i));
                        if (k < 0)
                                return k;
                        n += k;
                }
                return n;
        }
        if (!json_object_is_type(o, json_type_object))
                return 0;
        json_object_object_foreach(o, key, val) {
                _cleanup_(freep) char *b64 = NULL;
                const char *text;

                k = encode_nested(val);
                if (k < 0)
                        return k;
                n += k;
                if (!encoded_member(key) || (!json_object_is_type(val, json_type_object) &&
                                             !json_object_is_type(val, json_type_array)))
                        continue;
                text = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
                /* Replacing the value of a key that exists keeps the table as it is, so the
                 * iteration goes on safely. */
                if (!text || base64url_encode(text, strlen(text), &b64) < 0 ||
                    json_add_string(o, key, b64) < 0)
                        return -ENOMEM;
                n++;
        }
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const char *text;
        int n;

        fuzz_init();
        appraise_one((const char *) data, size);

        if (json_parse_capped((const char *) data, size, APPRAISE_BODY_MAX, FUZZ_JSON_DEPTH, &o) <
                    0 ||
            !json_object_is_type(o, json_type_object))
                return 0;
#ifdef FUZZ_APPRAISE_AZUREGUEST
        /* The AttestationInfo document itself: wrap it as the request does. */
        if (json_object_object_get_ex(o, "TpmInfo", NULL)) {
                json_object *body = json_object_new_object();

                if (!body || json_add(body, "AttestationInfo", TAKE_PTR(o)) < 0) {
                        json_object_put(body);
                        return 0;
                }
                o = body;
        }
#endif
        n = encode_nested(o);
        if (n <= 0)
                return 0;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (text)
                appraise_one(text, strlen(text));
        return 0;
}
