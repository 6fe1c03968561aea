/* SPDX-License-Identifier: Apache-2.0 */
/* `cvm-verifier check token`: verify an MAA-style JWT offline and print its claims. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "common/cli-util.h"
#include "common/codec.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/http.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/log.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "snp/snp-report.h"
#include "snp/snp-verify.h"
#include "verifier/check.h"
#include "common/issuer-keys.h"
#include "verifier/tee-cert.h"

#define TRUST_ROOTS_MAX 16u

static void help(void) {
        printf("Usage: cvm-verifier check token JWT [OPTIONS]\n"
               "\n"
               "Verifies a JWT as MAA issues them (compact JWS, RS256, PS256, ES256 or ES384) and\n"
               "prints its claims. JWT is a file, or - for standard input.\n"
               "\n"
               "  --jwks FILE     the issuer's signing keys as a JWKS ({\"keys\": [...]}, as\n"
               "                  served at <issuer>/certs); the token's kid selects one\n"
               "  --key FILE      a PEM public key or certificate to verify with instead\n"
               "  --issuer URL    require this \"iss\" (one trailing '/' ignored). Without --jwks\n"
               "                  or --key, fetch the keys: URL/.well-known/openid-configuration\n"
               "                  must name URL as its issuer and a jwks_uri on the same origin\n"
               "                  (https://, or http:// to a loopback address only)\n"
               "  --at TIME       check nbf/exp/iat at TIME (RFC 3339), not now\n"
               "  --leeway SECS   clock skew tolerated on nbf/exp/iat (default 0)\n"
               "  --require-tee   the signing key must live in an SEV-SNP guest: its certificate\n"
               "                  (the key's x5c[0]) must carry that guest's attestation report,\n"
               "                  bound to the key, from a chain to AMD's roots, not debuggable\n"
               "  --measurement HEX  and the guest's launch MEASUREMENT must be HEX (96 digits)\n"
               "  --trust-root FILE  also trust this ARK (PEM or DER) for --require-tee;\n"
               "                  may be repeated\n"
               "  --json          print the header, the claims and the verdict as JSON\n"
               "\n"
               "Exit codes: 0 verified, 2 usage or unreadable file, 3 malformed token or keys,\n"
               "4 not verified (signature, unknown kid, issuer, expired, TEE evidence),\n"
               "6 keys not available (network).\n");
}

/* What a successful check prints first: alg, key, issuer and validity. */
static int ok_line(const Jws *j, const JwsKey *k, json_object *claims, char **ret) {
        json_object *v;
        const char *iss = NULL;
        char nbf[32] = "-", exp[32] = "-";

        if (json_object_object_get_ex(claims, "iss", &v))
                iss = json_object_get_string(v);
        if (json_object_object_get_ex(claims, "nbf", &v))
                format_rfc3339((time_t) json_object_get_int64(v), nbf, sizeof(nbf));
        if (json_object_object_get_ex(claims, "exp", &v))
                format_rfc3339((time_t) json_object_get_int64(v), exp, sizeof(exp));
        if (asprintf(ret, "verified: JWT %s signed by key %s, issuer %s, valid %s .. %s", j->alg,
                     k && k->kid ? k->kid : "(no kid)", iss ?: "(none)", nbf, exp) < 0)
                return -ENOMEM;
        return 0;
}

/* [io] AMD's roots and those of --trust-root. -ENOENT (logged) for an unreadable file. */
static int load_trust(char *const *roots, size_t n_roots, SnpTrust **ret, Diag *d) {
        _cleanup_(snp_trust_freep) SnpTrust *t = NULL;
        int r;

        r = snp_trust_new(/* builtin= */ true, &t);
        if (r < 0)
                return diag_set(d, r, "cannot load the compiled-in AMD roots");
        for (size_t i = 0; i < n_roots; i++) {
                _cleanup_(freep) uint8_t *buf = NULL;
                Diag inner = {};
                size_t size;

                r = load_file(roots[i], "trust root", &buf, &size, d);
                if (r < 0)
                        return r;
                r = snp_trust_add(t, buf, size, &inner);
                if (r < 0)
                        return diag_set(d, r, "--trust-root %s: %s", roots[i], inner.text);
        }
        *ret = TAKE_PTR(t);
        return 0;
}

int check_token_main(int argc, char **argv) {
        enum {
                ARG_JWKS = 0x100,
                ARG_KEY,
                ARG_ISSUER,
                ARG_AT,
                ARG_LEEWAY,
                ARG_JSON,
                ARG_REQUIRE_TEE,
                ARG_MEASUREMENT,
                ARG_TRUST_ROOT,
        };
        static const struct option options[] = {
                { "jwks", required_argument, NULL, ARG_JWKS },
                { "key", required_argument, NULL, ARG_KEY },
                { "issuer", required_argument, NULL, ARG_ISSUER },
                { "at", required_argument, NULL, ARG_AT },
                { "leeway", required_argument, NULL, ARG_LEEWAY },
                { "json", no_argument, NULL, ARG_JSON },
                { "require-tee", no_argument, NULL, ARG_REQUIRE_TEE },
                { "measurement", required_argument, NULL, ARG_MEASUREMENT },
                { "trust-root", required_argument, NULL, ARG_TRUST_ROOT },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object(), *claims = NULL;
        _cleanup_(json_object_putp) json_object *tee = NULL;
        _cleanup_(jws_key_set_freep) JwsKeySet *keys = NULL;
        _cleanup_(snp_trust_freep) SnpTrust *trust = NULL;
        _cleanup_(freep) uint8_t *token = NULL, *key_bytes = NULL;
        _cleanup_(freep) char *line = NULL, *jwks_uri = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        const char *path, *jwks_path = NULL, *key_path = NULL, *issuer = NULL;
        char *roots[TRUST_ROOTS_MAX];
        JwsVerifyOptions o = { .require_exp = true };
        uint8_t measurement[SNP_MEASUREMENT_SIZE];
        bool json = false, require_tee = false, pin = false, unavailable = false;
        const JwsKey *k = NULL;
        time_t at = time(NULL);
        size_t size, key_size, n_roots = 0;
        char at_text[32];
        Diag d = {};
        int c, r;

        if (!doc)
                return EXIT_INTERNAL;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_JWKS:
                        jwks_path = optarg;
                        break;
                case ARG_KEY:
                        key_path = optarg;
                        break;
                case ARG_ISSUER:
                        issuer = optarg;
                        break;
                case ARG_AT:
                        if (parse_rfc3339(optarg, &at) < 0) {
                                log_error("--at: '%s' is not an RFC 3339 time", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_LEEWAY:
                        if (safe_atou32(optarg, &o.leeway) < 0) {
                                log_error("--leeway: '%s' is not a number of seconds", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_REQUIRE_TEE:
                        require_tee = true;
                        break;
                case ARG_MEASUREMENT:
                        if (strlen(optarg) != 2 * SNP_MEASUREMENT_SIZE ||
                            hex_decode_exact(optarg, measurement, sizeof(measurement)) < 0) {
                                log_error("--measurement: need %u hex digits (the launch "
                                          "MEASUREMENT)", 2 * SNP_MEASUREMENT_SIZE);
                                return EXIT_USAGE;
                        }
                        pin = true;
                        break;
                case ARG_TRUST_ROOT:
                        if (n_roots >= ELEMENTSOF(roots)) {
                                log_error("--trust-root: at most %zu", ELEMENTSOF(roots));
                                return EXIT_USAGE;
                        }
                        roots[n_roots++] = optarg;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                log_error("check token: need exactly one JWT file (see --help)");
                return EXIT_USAGE;
        }
        path = argv[optind];
        if (jwks_path && key_path) {
                log_error("check token: --jwks and --key exclude each other");
                return EXIT_USAGE;
        }
        if (!jwks_path && !key_path) {
                if (!issuer) {
                        log_error("check token: need --jwks, --key or --issuer (see --help)");
                        return EXIT_USAGE;
                }
                /* Only the issuer the caller names is asked for keys, never one the token
                 * names (spec/maa.md §4). */
                if (!url_acceptable(issuer)) {
                        log_error("--issuer: '%s' is not an https:// URL (http:// only to "
                                  "127.0.0.1, localhost or [::1])", issuer);
                        return EXIT_USAGE;
                }
        }
        if ((pin || n_roots > 0) && !require_tee) {
                log_error("check token: --measurement and --trust-root need --require-tee");
                return EXIT_USAGE;
        }
        o.issuer = issuer;
        o.now = (int64_t) at;
        format_rfc3339(at, at_text, sizeof(at_text));
        if (json_add_string(doc, "at", at_text) < 0 ||
            json_add_bool(doc, "issuer_checked", issuer != NULL) < 0)
                return EXIT_INTERNAL;

        r = load_file(path, "token", &token, &size, &d);
        if (r < 0)
                goto verdict;
        /* A token saved by curl or echo ends with a newline; the JWS itself has no white space. */
        while (size > 0 && strchr(" \t\r\n", token[size - 1]))
                size--;
        r = jws_parse((const char *) token, size, &j, &d);
        if (r < 0)
                goto verdict;
        /* The header and claims are shown (with "verified": false) even when verification
         * fails, for diagnosis; a payload that is not a claims set fails in jws_verify. */
        if (json_add(doc, "header", json_object_get(j->header)) < 0)
                return EXIT_INTERNAL;
        if (jws_claims(j, &claims, NULL) >= 0 &&
            json_add(doc, "claims", json_object_get(claims)) < 0)
                return EXIT_INTERNAL;

        if (require_tee) {
                r = load_trust(roots, n_roots, &trust, &d);
                if (r < 0)
                        goto verdict;
        }

        if (!jwks_path && !key_path) {
                Diag inner = {};

                r = http_global_init();
                if (r >= 0)
                        r = issuer_keys_fetch(issuer, NULL, &keys, &jwks_uri, &inner);
                if (r < 0) {
                        unavailable = exit_code_from_errno(r) == EXIT_UNAVAILABLE ||
                                      r == -EPROTO;
                        r = diag_set(&d, r, "%s %s: %s",
                                     unavailable ? "cannot fetch the keys of" : "issuer", issuer,
                                     inner.text[0] ? inner.text : strerror(-r));
                        goto verdict;
                }
                if (json_add_string(doc, "jwks_uri", jwks_uri) < 0)
                        return EXIT_INTERNAL;
        } else {
                r = load_file(jwks_path ?: key_path, jwks_path ? "JWKS" : "key", &key_bytes,
                              &key_size, &d);
                if (r < 0)
                        goto verdict;
                if (jwks_path)
                        r = jws_key_set_from_jwks((const char *) key_bytes, key_size, &keys, &d);
                else
                        r = jws_key_set_from_pem(key_bytes, key_size, NULL, &keys, &d);
                if (r < 0) {
                        Diag inner = d;
                        d = (Diag) {};
                        r = diag_set(&d, r, "%s %s: %s", jwks_path ? "--jwks" : "--key",
                                     jwks_path ?: key_path, inner.text);
                        goto verdict;
                }
        }
        r = jws_verify_key(j, keys, &o, &k, &d);
        if (r >= 0 && require_tee) {
                SnpReport rep;

                r = tee_cert_verify_key(k, trust, at, pin ? measurement : NULL, &rep, &tee, &d);
                if (r == -ENOMEM)
                        return EXIT_INTERNAL;
                if (r < 0) {
                        /* Whatever is wrong with the evidence (missing, malformed, unbound,
                         * untrusted), the token is not what --require-tee asked for. */
                        if (!tee) {
                                tee = json_object_new_object();
                                if (!tee || json_add_string(tee, "reason", d.text) < 0)
                                        return EXIT_INTERNAL;
                        }
                        r = -EKEYREJECTED;
                } else {
                        char m[2 * SNP_MEASUREMENT_SIZE + 1];
                        _cleanup_(freep) char *first = NULL;

                        hex_encode_buf(rep.measurement, sizeof(rep.measurement), m);
                        if (ok_line(j, k, claims, &first) < 0 ||
                            asprintf(&line, "%s; key in an SEV-SNP guest (%s), measurement %s",
                                     first, snp_product_to_string(rep.product), m) < 0)
                                return EXIT_INTERNAL;
                }
                if (json_add_bool(tee, "verified", r >= 0) < 0 ||
                    json_add(doc, "tee", json_object_get(tee)) < 0)
                        return EXIT_INTERNAL;
        }
        if (r >= 0 && ((!line && ok_line(j, k, claims, &line) < 0) ||
                       (k && k->kid && json_add_string(doc, "kid", k->kid) < 0)))
                return EXIT_INTERNAL;
verdict:
        r = check_verdict(path, r, &d, json, doc, line);
        if (r == EXIT_OK && !json && json_print_flat(stdout, claims) < 0)
                return EXIT_INTERNAL;
        if (r != EXIT_OK && unavailable)
                return EXIT_UNAVAILABLE;
        return r;
}
