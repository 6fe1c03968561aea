/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the TPM 2.0 structures a verifier takes from the attester, unmarshalled by tss2-mu.
 * The input is given to every parser, since each must fill it exactly:
 *  - tpm_attest_parse (TPMS_ATTEST), then tpm_attest_to_json and tpm_quote_selection;
 *  - tpm_public_parse (TPMT_PUBLIC or TPM2B_PUBLIC), then tpm_public_to_pkey and tpm_public_name;
 *  - tpm_signature_parse with a fixed RSA-2048 key (so 256 bytes are also taken as a bare
 *    RSASSA signature, as Azure's quote.sig) and a fixed P-256 key, then tpm_signature_verify
 *    of the signature over the input itself (which cannot verify; it exercises the ECDSA
 *    R/S-to-DER conversion and the RSA paddings on hostile sizes);
 *  - tpm_ak_load (PEM or DER SubjectPublicKeyInfo, TPM public area or JWK).
 * The keys are made once per process.
 */
#include <openssl/err.h>

#include "common/diag.h"
#include "common/json-util.h"
#include "common/openssl-util.h"
#include "vtpm/tpm-attest.h"
#include "tests/fuzz/fuzz.h"

static EVP_PKEY *rsa_key;
static EVP_PKEY *ec_key;

static void fuzz_init(void) {
        static bool done;

        if (done)
                return;
        done = true;
        rsa_key = EVP_RSA_gen(2048);
        ec_key = EVP_EC_gen("P-256");
        if (!rsa_key || !ec_key)
                abort();
}

static void try_attest(const uint8_t *data, size_t size) {
        _cleanup_(json_object_putp) json_object *j = NULL;
        TPMS_ATTEST a;
        TpmPcrSet sel;
        Diag diag = {};

        if (tpm_attest_parse(data, size, &a, &diag) < 0) {
                fuzz_consume(strlen(diag.text));
                return;
        }
        if (a.magic != TPM2_GENERATED_VALUE)
                abort();
        tpm_quote_selection(&a, &sel);
        if (sel.n_banks > TPM_MAX_BANKS)
                abort();
        for (size_t b = 0; b < sel.n_banks; b++)
                if (sel.banks[b].mask >= (UINT32_C(1) << TPM_PCR_COUNT))
                        abort();
        if (tpm_attest_to_json(&a, &j) >= 0)
                fuzz_consume(strlen(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN)));
}

static void try_public(const uint8_t *data, size_t size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        TPMT_PUBLIC pub;
        TPM2B_NAME name;
        Diag diag = {};

        if (tpm_public_parse(data, size, &pub, &diag) < 0) {
                fuzz_consume(strlen(diag.text));
                return;
        }
        if (tpm_public_to_pkey(&pub, &k) >= 0) {
                if (!k)
                        abort();
                fuzz_consume((uint64_t) EVP_PKEY_get_bits(k));
        }
        ERR_clear_error();
        if (tpm_public_name(&pub, &name) >= 0) {
                if (name.size != 2 + tpm_alg_digest_size(pub.nameAlg) ||
                    name.name[0] != (uint8_t) (pub.nameAlg >> 8) ||
                    name.name[1] != (uint8_t) pub.nameAlg)
                        abort();
                fuzz_consume(name.name[name.size - 1]);
        }
}

static void try_signature(const uint8_t *data, size_t size, EVP_PKEY *key) {
        TPMT_SIGNATURE sig;
        bool bare = false;
        Diag diag = {};

        if (tpm_signature_parse(data, size, key, TPM_ALG_SHA256, &sig, &bare, &diag) < 0) {
                fuzz_consume(strlen(diag.text));
                return;
        }
        if (bare && (key != rsa_key || size != 256 || sig.sigAlg != TPM2_ALG_RSASSA ||
                     sig.signature.rsassa.sig.size != 256))
                abort();
        diag = (Diag) {};
        (void) tpm_signature_verify(key, &sig, data, size, &diag);
        fuzz_consume(strlen(diag.text));
        ERR_clear_error();
}

static void try_ak(const uint8_t *data, size_t size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        TPMT_PUBLIC pub;
        bool has_public = false;
        Diag diag = {};

        if (tpm_ak_load(data, size, &k, &pub, &has_public, &diag) >= 0) {
                if (!k)
                        abort();
                fuzz_consume((uint64_t) EVP_PKEY_get_bits(k) + has_public);
        }
        fuzz_consume(strlen(diag.text));
        ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_init();
        try_attest(data, size);
        try_public(data, size);
        try_signature(data, size, rsa_key);
        try_signature(data, size, ec_key);
        try_ak(data, size);
        return 0;
}
