/* SPDX-License-Identifier: Apache-2.0 */
/* `cvm-verifier check token`: verify an MAA-style JWT offline and print its claims. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "common/cli-util.h"
#include "common/diag.h"
#include "common/exit-code.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/log.h"
#include "common/strutil.h"
#include "common/time-util.h"
#include "verifier/check.h"

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
               "                  or --key the keys would come from URL/certs: not available yet\n"
               "  --at TIME       check nbf/exp/iat at TIME (RFC 3339), not now\n"
               "  --leeway SECS   clock skew tolerated on nbf/exp/iat (default 0)\n"
               "  --json          print the header, the claims and the verdict as JSON\n"
               "\n"
               "Exit codes: 0 verified, 2 usage or unreadable file, 3 malformed token or keys,\n"
               "4 not verified (signature, unknown kid, issuer, expired), 6 keys not available.\n");
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

int check_token_main(int argc, char **argv) {
        enum { ARG_JWKS = 0x100, ARG_KEY, ARG_ISSUER, ARG_AT, ARG_LEEWAY, ARG_JSON };
        static const struct option options[] = {
                { "jwks", required_argument, NULL, ARG_JWKS },
                { "key", required_argument, NULL, ARG_KEY },
                { "issuer", required_argument, NULL, ARG_ISSUER },
                { "at", required_argument, NULL, ARG_AT },
                { "leeway", required_argument, NULL, ARG_LEEWAY },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object(), *claims = NULL;
        _cleanup_(jws_key_set_freep) JwsKeySet *keys = NULL;
        _cleanup_(freep) uint8_t *token = NULL, *key_bytes = NULL;
        _cleanup_(freep) char *line = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        const char *path, *jwks_path = NULL, *key_path = NULL, *issuer = NULL;
        JwsVerifyOptions o = { .require_exp = true };
        const JwsKey *k = NULL;
        time_t at = time(NULL);
        bool json = false;
        size_t size, key_size;
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
                /* The full version fetches <issuer>/.well-known/openid-configuration and its
                 * jwks_uri (spec/maa.md §4) with the HTTP client that comes with the verifier
                 * service; until then only local keys work. */
                size_t len = strlen(issuer);

                if (len > 0 && issuer[len - 1] == '/')
                        len--;
                log_error("check token: fetching the keys from %.*s/certs needs the HTTP "
                          "client, which is not built yet: pass --jwks FILE or --key PEM",
                          (int) MIN(len, (size_t) INT_MAX), issuer);
                return EXIT_UNAVAILABLE;
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

        r = load_file(jwks_path ?: key_path, jwks_path ? "JWKS" : "key", &key_bytes, &key_size,
                      &d);
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
        r = jws_verify_key(j, keys, &o, &k, &d);
        if (r >= 0 && (ok_line(j, k, claims, &line) < 0 ||
                       (k && k->kid && json_add_string(doc, "kid", k->kid) < 0)))
                return EXIT_INTERNAL;
verdict:
        r = check_verdict(path, r, &d, json, doc, line);
        if (r == EXIT_OK && !json && json_print_flat(stdout, claims) < 0)
                return EXIT_INTERNAL;
        return r;
}
