/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cvm-verifier serve --config` driven over HTTP with libcurl. verifier-http.sh sets the stage
 * (the simulated VMs, the configuration, the running service) and passes paths and the URL;
 * every assertion is made here, in TAP ("ok N - ..."). Exit 0 pass, 1 fail, 77 skip, 99 setup
 * error.
 *
 * What is checked: the OpenID metadata and /certs (the configured key, nothing else); the real
 * Azure HCL reports of the vectors posted to /attest/SevSnpVm give tokens that verify against
 * /certs and whose x-ms-sevsnpvm-* claims equal the report's fields, computed here from the
 * parsed report, under the claim names real MAA tokens carry; AzureGuest evidence from the
 * simulated Azure CVM and from a trusted-launch VM gives sealed tokens that `cvm-agent unseal`
 * opens; policy management with the admin token (PUT, GET, :reset, refusals, a syntax error);
 * the nonce tenant (a bound nonce once, then a replay); tampered, foreign, oversized and
 * malformed evidence; and /metrics counting all of it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/openssl-util.h"
#include "common/strutil.h"
#include "snp/snp-report.h"

#define EXIT_SKIP 77
#define EXIT_SETUP 99

#define RESPONSE_MAX (4u * 1024u * 1024u)
#define FILE_MAX (1024u * 1024u)
#define TOKEN_LIFETIME 28800 /* the default TokenLifetime= (8 h), as MAA's */
#define LEEWAY 120

/* HCL report layout (azure-cvm.md §3): the SNP report at 0x20, the runtime data's size at
 * 0x4D0 and the runtime data (JSON) from 0x4D4. */
#define HCL_REPORT_OFFSET 0x20u
#define HCL_RUNTIME_SIZE_OFFSET 0x4D0u
#define HCL_RUNTIME_OFFSET 0x4D4u

/* ATTESTATION_REPORT 0x090 MEASUREMENT: a byte of it is flipped to tamper with a report. */
#define SNP_MEASUREMENT_OFFSET 0x90u

/* The real Azure HCL reports that come with the VCEK that signed them (vectors README §3.1). */
static const struct {
        const char *hcl, *vcek;
} hcl_vectors[] = {
        { "hcl-report.bin", "vcek.pem" },
        { "evidence-genoa.hcl-report.bin", "evidence-genoa.vcek.pem" },
        { "evidence-v0.hcl-report.bin", "evidence-v0.vcek.pem" },
        { "evidence-v1.hcl-report.bin", "evidence-v1.vcek.pem" },
        { "evidence-v2.hcl-report.bin", "evidence-v2.vcek.pem" },
};
#define HCL_VECTORS_DIR "azure/trustee-az-snp-vtpm"

/* Real MAA tokens whose claim names are the reference (their signatures are not checked). */
static const char *const maa_token_dirs[] = { "azure/maa-tokens", "azure/cvm-guest-attestation" };

/* Claim names the service issues on purpose although the real MAA tokens of the vectors do not
 * carry them. */
static const char *const project_claims[] = {
        "nonce",                      /* MAA's copy of the request's nonce (spec/maa.md §3.1); the
                                       * vector tokens were requested without one */
        "is-debuggable",              /* issued by the default SevSnpVm policy */
        "x-ms-azurevm-ak-vouched-by", /* what vouched for the AK: "sevsnp-report" or "ak-ca" */
};

/* The policies uploaded: one that permits nothing these guests have, and one that does not
 * parse (a call without its closing parenthesis; the error is at line 4, column 1). */
static const char deny_policy[] =
        "version=1.2;\n"
        "authorizationrules {\n"
        "    c:[type==\"x-ms-sevsnpvm-launchmeasurement\", value==\"00\"] => permit();\n"
        "};\n";
static const char broken_policy[] =
        "version=1.2;\n"
        "authorizationrules {\n"
        "    => permit(\n"
        "};\n";

static struct {
        const char *url, *vectors, *workdir, *agent, *vcek_chain, *signing_key, *admin_token,
                *state_dir, *tl_evidence, *tl_tcti;
} arg;

/* ---- TAP ---- */

static unsigned n_tests, n_failed;

static const char *excerpt(const char *s) {
        static char buf[401];
        size_t i;

        if (!s)
                return "(none)";
        for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
                buf[i] = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
        buf[i] = '\0';
        return buf;
}

_printf_(3, 4) static bool tap(bool ok, const char *desc, const char *fmt, ...) {
        n_tests++;
        printf("%sok %u - %s\n", ok ? "" : "not ", n_tests, desc);
        if (!ok) {
                va_list ap;

                n_failed++;
                printf("#   ");
                va_start(ap, fmt);
                vprintf(fmt, ap);
                va_end(ap);
                printf("\n");
        }
        fflush(stdout);
        return ok;
}

/* A case that finds a known bug of the service: reported, not failed, until it is fixed. */
static void tap_known_bug(const char *desc, const char *bug) {
        n_tests++;
        printf("ok %u - %s # SKIP bug: %s\n", n_tests, desc, bug);
        fflush(stdout);
}

_printf_(1, 2) static _Noreturn void setup_error(const char *fmt, ...) {
        va_list ap;

        printf("# setup error: ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        exit(EXIT_SETUP);
}

/* ---- JSON and codec helpers ---- */

static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;

        if (!o || !json_object_is_type(o, json_type_object))
                return NULL;
        (void) json_object_object_get_ex(o, key, &v);
        return v;
}

static const char *member_str(json_object *o, const char *key) {
        json_object *v = member(o, key);

        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool member_str_eq(json_object *o, const char *key, const char *want) {
        return streq_ptr(member_str(o, key), want);
}

static const char *json_text(json_object *o) {
        return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE)
                 : "(none)";
}

/* A string member decoded from base64url (or base64). */
static int member_b64(json_object *o, const char *key, size_t max, uint8_t **ret,
                      size_t *ret_size) {
        const char *s = member_str(o, key);

        if (!s)
                return -ENOENT;
        return base64url_decode(s, strlen(s), max, ret, ret_size);
}

/* A string member that is base64url of JSON, parsed. */
static int member_b64_json(json_object *o, const char *key, json_object **ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        int r;

        r = member_b64(o, key, FILE_MAX, &buf, &size);
        if (r < 0)
                return r;
        return json_parse_capped((const char *) buf, size, FILE_MAX, 32, ret);
}

static char *b64url(const void *p, size_t n) {
        char *s = NULL;

        if (base64url_encode(p, n, &s) < 0)
                setup_error("out of memory");
        return s;
}

static char *b64url_str(const char *s) {
        return b64url(s, strlen(s));
}

/* MAA's x-ms-policy-hash: BASE64URL(SHA-256(BASE64URL(policy text))) (spec/maa.md §3.1). */
static char *policy_hash(const char *text) {
        _cleanup_(freep) char *inner = b64url_str(text);
        uint8_t md[SHA256_DIGEST_LENGTH];

        (void) SHA256((const uint8_t *) inner, strlen(inner), md);
        return b64url(md, sizeof(md));
}

static char *sha256_b64url(const void *p, size_t n) {
        uint8_t md[SHA256_DIGEST_LENGTH];

        (void) SHA256(p, n, md);
        return b64url(md, sizeof(md));
}

static void read_file_or_die(const char *path, uint8_t **ret, size_t *ret_size) {
        int r = read_full_file(path, FILE_MAX, ret, ret_size);

        if (r < 0)
                setup_error("cannot read %s: %s", path, strerror(-r));
}

static void write_file_or_die(const char *path, const void *p, size_t n) {
        int r = write_file_atomic(path, p, n);

        if (r < 0)
                setup_error("cannot write %s: %s", path, strerror(-r));
}

static char *path_join(const char *dir, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                setup_error("out of memory");
        return p;
}

/* ---- HTTP ---- */

typedef struct Response {
        long status;            /* 0: no HTTP response (transport error in body) */
        char *body;             /* NUL-terminated */
        size_t size;
        char error_code[64];    /* x-ms-error-code */
        char content_type[96];
        json_object *json;      /* the body, when it is JSON */
} Response;

static void response_done(Response *r) {
        free(r->body);
        json_object_put(r->json);
        *r = (Response) {};
}

static unsigned n_requests;

static size_t on_body(char *p, size_t size, size_t n, void *userdata) {
        Response *r = userdata;
        size_t add = size * n;
        char *b;

        /* Cap what the service may make us hold, as curl's own "toobig". */
        if (add > RESPONSE_MAX || r->size + add > RESPONSE_MAX)
                return 0;
        b = realloc(r->body, r->size + add + 1);
        if (!b)
                return 0;
        memcpy(b + r->size, p, add);
        r->size += add;
        b[r->size] = '\0';
        r->body = b;
        return add;
}

static void header_value(const char *line, size_t len, const char *name, char *buf,
                         size_t buf_size) {
        size_t n = strlen(name), i, j;

        if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
                return;
        for (i = n + 1; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
                ;
        for (j = len; j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' ');
             j--)
                ;
        (void) snprintf(buf, buf_size, "%.*s", (int) (j - i), line + i);
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
        Response *r = userdata;
        size_t len = size * n;

        header_value(p, len, "x-ms-error-code", r->error_code, sizeof(r->error_code));
        header_value(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
        return len;
}

/* One request in flight: the handle, its headers, where the answer goes. */
typedef struct Request {
        CURL *c;
        struct curl_slist *headers;
        char url[1024];
        char error[CURL_ERROR_SIZE];
        const char *method, *path;
        Response r;
} Request;

static void request_done(Request *q) {
        curl_easy_cleanup(q->c);
        curl_slist_free_all(q->headers);
        response_done(&q->r);
        *q = (Request) {};
}

/* method on the service's URL + path, with an optional bearer token and body (not copied: it
 * must outlive the request). */
static void request_setup(Request *q, const char *method, const char *path, const char *bearer,
                          const char *content_type, const void *body, size_t body_size) {
        char header[512];

        *q = (Request) { .c = curl_easy_init(), .method = method, .path = path };
        if (!q->c)
                setup_error("curl_easy_init failed");
        (void) snprintf(q->url, sizeof(q->url), "%s%s", arg.url, path);
        (void) curl_easy_setopt(q->c, CURLOPT_URL, q->url);
        (void) curl_easy_setopt(q->c, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(q->c, CURLOPT_TIMEOUT, 120L);
        (void) curl_easy_setopt(q->c, CURLOPT_ERRORBUFFER, q->error);
        (void) curl_easy_setopt(q->c, CURLOPT_WRITEFUNCTION, on_body);
        (void) curl_easy_setopt(q->c, CURLOPT_WRITEDATA, &q->r);
        (void) curl_easy_setopt(q->c, CURLOPT_HEADERFUNCTION, on_header);
        (void) curl_easy_setopt(q->c, CURLOPT_HEADERDATA, &q->r);
        /* No "Expect: 100-continue" round trip for the large bodies. */
        q->headers = curl_slist_append(q->headers, "Expect:");
        if (content_type) {
                (void) snprintf(header, sizeof(header), "Content-Type: %s", content_type);
                q->headers = curl_slist_append(q->headers, header);
        }
        if (bearer) {
                (void) snprintf(header, sizeof(header), "Authorization: Bearer %s", bearer);
                q->headers = curl_slist_append(q->headers, header);
        }
        if (!q->headers)
                setup_error("out of memory");
        (void) curl_easy_setopt(q->c, CURLOPT_HTTPHEADER, q->headers);
        if (body) {
                (void) curl_easy_setopt(q->c, CURLOPT_POSTFIELDS, body);
                (void) curl_easy_setopt(q->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_size);
        }
        if (!streq(method, body ? "POST" : "GET"))
                (void) curl_easy_setopt(q->c, CURLOPT_CUSTOMREQUEST, method);
        n_requests++;
}

/* Moves the answer to *ret (status 0 and the curl error as body when there was none). */
static void request_finish(Request *q, CURLcode cc, Response *ret) {
        Response r = q->r;

        q->r = (Response) {};
        if (cc != CURLE_OK) {
                response_done(&r);
                if (asprintf(&r.body, "%s %s: %s", q->method, q->path,
                             q->error[0] ? q->error : curl_easy_strerror(cc)) < 0)
                        r.body = NULL;
        } else {
                (void) curl_easy_getinfo(q->c, CURLINFO_RESPONSE_CODE, &r.status);
                if (r.body && startswith(r.content_type, "application/json") &&
                    json_parse_capped(r.body, r.size, RESPONSE_MAX, 64, &r.json) < 0)
                        r.json = NULL;
        }
        request_done(q);
        *ret = r;
}

static void http(const char *method, const char *path, const char *bearer,
                 const char *content_type, const void *body, size_t body_size, Response *ret) {
        Request q;

        request_setup(&q, method, path, bearer, content_type, body, body_size);
        request_finish(&q, curl_easy_perform(q.c), ret);
}

static void http_get(const char *path, Response *ret) {
        http("GET", path, NULL, NULL, NULL, 0, ret);
}

/* Verdicts as the service counts them in /metrics, from the responses to attest requests. */
static struct {
        unsigned long token, policy_denied, verification_failed, malformed, appraised;
} seen;

static void seen_count(const Response *r) {
        if (r->status == 413) {
                /* Refused before the evidence is looked at: no latency sample. */
                seen.malformed++;
                return;
        }
        if (r->status != 0)
                seen.appraised++;
        if (r->status == 200)
                seen.token++;
        else if (streq(r->error_code, "PolicyEvaluationError"))
                seen.policy_denied++;
        else if (streq(r->error_code, "InvalidEvidence") || streq(r->error_code, "InvalidNonce"))
                seen.verification_failed++;
        else if (streq(r->error_code, "InvalidParameter"))
                seen.malformed++;
}

static void attest(const char *path, const void *body, size_t size, Response *ret) {
        http("POST", path, NULL, "application/json", body, size, ret);
        seen_count(ret);
}

/* The same attest request twice at once, on two connections (curl's multi interface). */
static void attest_twice(const char *path, const void *body, size_t size, Response ret[2]) {
        CURLM *m = curl_multi_init();
        Request q[2];
        int running = 0;
        CURLMsg *msg;
        int left;

        if (!m)
                setup_error("curl_multi_init failed");
        for (size_t i = 0; i < 2; i++) {
                request_setup(&q[i], "POST", path, NULL, "application/json", body, size);
                /* Both connections are opened at once rather than one reused after the other. */
                (void) curl_easy_setopt(q[i].c, CURLOPT_FRESH_CONNECT, 1L);
                if (curl_multi_add_handle(m, q[i].c) != CURLM_OK)
                        setup_error("curl_multi_add_handle failed");
                ret[i] = (Response) {};
        }
        do {
                if (curl_multi_perform(m, &running) != CURLM_OK ||
                    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
                        setup_error("curl_multi_perform failed");
        } while (running > 0);
        while ((msg = curl_multi_info_read(m, &left))) {
                /* msg does not survive curl_multi_remove_handle(). */
                CURL *c = msg->easy_handle;
                CURLcode cc = msg->data.result;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                for (size_t i = 0; i < 2; i++)
                        if (q[i].c && q[i].c == c) {
                                (void) curl_multi_remove_handle(m, c);
                                request_finish(&q[i], cc, &ret[i]);
                                seen_count(&ret[i]);
                        }
        }
        for (size_t i = 0; i < 2; i++)
                if (q[i].c) {
                        (void) curl_multi_remove_handle(m, q[i].c);
                        request_done(&q[i]);
                }
        curl_multi_cleanup(m);
}

/* The MAA error answer: status, {"error": {"code", "message"}} with the message holding
 * fragment (when given), and the x-ms-error-code header equal to the code. */
static bool expect_error(const char *desc, const Response *r, long status, const char *code,
                         const char *fragment) {
        json_object *e = member(r->json, "error");
        const char *c = member_str(e, "code"), *m = member_str(e, "message");

        return tap(r->status == status && streq_ptr(c, code) && streq(r->error_code, code) && m &&
                           (!fragment || strstr(m, fragment)),
                   desc,
                   "status %ld (want %ld), x-ms-error-code '%s' (want %s, message with '%s'): %s",
                   r->status, status, r->error_code, code, fragment ?: "", excerpt(r->body));
}

/* ---- tokens ---- */

static JwsKeySet *keys;   /* from /certs */
static char certs_kid[128];

/*
 * A token of the service: signature against /certs, "iss", nbf/exp now, MAA's header (RS256, the
 * published kid, jku = issuer/certs, typ JWT), exp - iat the token lifetime, a hex jti.
 * *ret_claims gets the claims; why says what is wrong.
 */
static int token_verify(const char *token, const char *issuer, json_object **ret_claims,
                        char *why, size_t why_size) {
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(json_object_putp) json_object *claims = NULL;
        JwsVerifyOptions o = {
                .issuer = issuer,
                .now = time(NULL),
                .leeway = LEEWAY,
                .require_exp = true,
        };
        char jku[1024];
        json_object *iat, *exp, *nbf;
        const char *jti;
        Diag d = {};
        int r;

        if (!token)
                return snprintf(why, why_size, "no token"), -EBADMSG;
        r = jws_parse(token, strlen(token), &j, &d);
        if (r >= 0)
                r = jws_verify(j, keys, &o, &d);
        if (r >= 0)
                r = jws_claims(j, &claims, &d);
        if (r < 0)
                return snprintf(why, why_size, "%s", diag_text(&d, strerror(-r))), r;
        (void) snprintf(jku, sizeof(jku), "%s/certs", issuer);
        if (!streq(j->alg, "RS256") || !streq_ptr(j->kid, certs_kid) || !streq_ptr(j->typ, "JWT") ||
            !member_str_eq(j->header, "jku", jku))
                return snprintf(why, why_size, "header %s", json_text(j->header)), -EBADMSG;
        iat = member(claims, "iat");
        exp = member(claims, "exp");
        nbf = member(claims, "nbf");
        jti = member_str(claims, "jti");
        if (!iat || !exp || !nbf ||
            json_object_get_int64(exp) - json_object_get_int64(iat) != TOKEN_LIFETIME ||
            json_object_get_int64(nbf) != json_object_get_int64(iat) || !jti || strlen(jti) != 64 ||
            strspn(jti, "0123456789abcdef") != 64)
                return snprintf(why, why_size, "iat/nbf/exp/jti: %s", excerpt(json_text(claims))),
                       -EBADMSG;
        *ret_claims = TAKE_PTR(claims);
        return 0;
}

/* ---- claim names and SNP claims ---- */

static json_object *maa_names; /* names in real MAA tokens (keys of an object) */

static void add_names(json_object *claims) {
        if (!claims)
                return;
        json_object_object_foreach(claims, key, val) {
                (void) val;
                if (json_object_object_add(maa_names, key, NULL) < 0)
                        setup_error("out of memory");
        }
}

/* The claim names of the real MAA tokens: top level and inside x-ms-isolation-tee. */
static void maa_names_load(void) {
        unsigned n_tokens = 0;

        maa_names = json_object_new_object();
        if (!maa_names)
                setup_error("out of memory");
        for (size_t i = 0; i < ELEMENTSOF(maa_token_dirs); i++) {
                _cleanup_(freep) char *dir = path_join(arg.vectors, maa_token_dirs[i]);
                DIR *dh = opendir(dir);
                struct dirent *de;

                if (!dh)
                        setup_error("cannot open %s: %m", dir);
                while ((de = readdir(dh))) {
                        _cleanup_(freep) char *path = NULL;
                        _cleanup_(freep) uint8_t *buf = NULL;
                        _cleanup_(jws_freep) Jws *j = NULL;
                        _cleanup_(json_object_putp) json_object *claims = NULL;
                        size_t size;

                        if (!endswith(de->d_name, ".jwt"))
                                continue;
                        path = path_join(dir, de->d_name);
                        read_file_or_die(path, &buf, &size);
                        while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r'))
                                size--;
                        if (jws_parse((const char *) buf, size, &j, NULL) < 0 ||
                            jws_claims(j, &claims, NULL) < 0)
                                setup_error("%s is not a JWT", path);
                        add_names(claims);
                        add_names(member(claims, "x-ms-isolation-tee"));
                        n_tokens++;
                }
                closedir(dh);
        }
        if (n_tokens < 3)
                setup_error("only %u MAA tokens in the vectors", n_tokens);
}

/* Appends "word " to the list in buf (truncated when full). */
static void words_add(char *buf, size_t size, size_t *n, const char *word) {
        if (*n < size)
                *n += (size_t) snprintf(buf + *n, size - *n, "%s ", word);
}

static bool is_project_claim(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(project_claims); i++)
                if (streq(project_claims[i], name))
                        return true;
        return false;
}

/* Names in claims (top level, and inside x-ms-isolation-tee) that real MAA tokens do not carry
 * and the project does not add on purpose, listed into buf; false when there are any. */
static bool names_known(json_object *claims, char *buf, size_t buf_size) {
        json_object *tee = member(claims, "x-ms-isolation-tee");
        json_object *levels[] = { claims, tee };
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                if (!levels[i])
                        continue;
                json_object_object_foreach(levels[i], key, val) {
                        (void) val;
                        if (!json_object_object_get_ex(maa_names, key, NULL) &&
                            !is_project_claim(key))
                                words_add(buf, buf_size, &n, key);
                }
        }
        return buf[0] == '\0';
}

static void add_hex(json_object *o, const char *key, const void *p, size_t n) {
        if (json_add_hex(o, key, p, n) < 0)
                setup_error("out of memory");
}

static void add_int(json_object *o, const char *key, int64_t v) {
        if (json_add_int(o, key, v) < 0)
                setup_error("out of memory");
}

static void add_bool(json_object *o, const char *key, bool v) {
        if (json_add_bool(o, key, v) < 0)
                setup_error("out of memory");
}

/*
 * The x-ms-sevsnpvm-* claims of a report as spec/maa.md §3.2 defines them, computed here from the
 * parsed fields (not with the service's own mapping): lowercase hex of the byte fields, the
 * POLICY bits, and the SVNs of REPORTED_TCB (Milan/Genoa: bootloader byte 0, TEE byte 1, SNP
 * byte 6, microcode byte 7; Turin: FMC byte 0, then bootloader, TEE, SNP, and microcode byte 7).
 */
static json_object *snp_expected(const SnpReport *rep) {
        json_object *o = json_object_new_object();
        uint64_t t = rep->reported_tcb;
        bool turin = rep->product == SNP_PRODUCT_TURIN;

        if (!o)
                setup_error("out of memory");
        add_hex(o, "x-ms-sevsnpvm-launchmeasurement", rep->measurement, sizeof(rep->measurement));
        add_hex(o, "x-ms-sevsnpvm-reportdata", rep->report_data, sizeof(rep->report_data));
        add_hex(o, "x-ms-sevsnpvm-hostdata", rep->host_data, sizeof(rep->host_data));
        add_hex(o, "x-ms-sevsnpvm-idkeydigest", rep->id_key_digest, sizeof(rep->id_key_digest));
        add_hex(o, "x-ms-sevsnpvm-authorkeydigest", rep->author_key_digest,
                sizeof(rep->author_key_digest));
        add_hex(o, "x-ms-sevsnpvm-familyId", rep->family_id, sizeof(rep->family_id));
        add_hex(o, "x-ms-sevsnpvm-imageId", rep->image_id, sizeof(rep->image_id));
        add_hex(o, "x-ms-sevsnpvm-reportid", rep->report_id, sizeof(rep->report_id));
        add_int(o, "x-ms-sevsnpvm-vmpl", rep->vmpl);
        add_int(o, "x-ms-sevsnpvm-guestsvn", rep->guest_svn);
        add_bool(o, "x-ms-sevsnpvm-is-debuggable", rep->policy & (UINT64_C(1) << 19));
        add_bool(o, "x-ms-sevsnpvm-migration-allowed", rep->policy & (UINT64_C(1) << 18));
        add_bool(o, "x-ms-sevsnpvm-smt-allowed", rep->policy & (UINT64_C(1) << 16));
        add_int(o, "x-ms-sevsnpvm-bootloader-svn", (t >> (turin ? 8 : 0)) & 0xff);
        add_int(o, "x-ms-sevsnpvm-tee-svn", (t >> (turin ? 16 : 8)) & 0xff);
        add_int(o, "x-ms-sevsnpvm-snpfw-svn", (t >> (turin ? 24 : 48)) & 0xff);
        add_int(o, "x-ms-sevsnpvm-microcode-svn", (t >> 56) & 0xff);
        return o;
}

/* Every x-ms-sevsnpvm-* claim in claims equals the report's, and there are no others. */
static bool snp_claims_match(json_object *claims, const SnpReport *rep, char *why,
                             size_t why_size) {
        _cleanup_(json_object_putp) json_object *want = snp_expected(rep);

        json_object_object_foreach(want, key, val) {
                json_object *got = member(claims, key);

                if (!got || !json_object_equal(got, val)) {
                        (void) snprintf(why, why_size, "%s: token %s, report %s", key,
                                        got ? json_object_to_json_string(got) : "(missing)",
                                        json_object_to_json_string(val));
                        return false;
                }
        }
        json_object_object_foreach(claims, key2, val2) {
                (void) val2;
                if (startswith(key2, "x-ms-sevsnpvm-") && !member(want, key2)) {
                        (void) snprintf(why, why_size, "%s: not a report field", key2);
                        return false;
                }
        }
        return true;
}

/* ---- evidence ---- */

typedef struct HclVector {
        char name[64];
        uint8_t report[SNP_REPORT_SIZE];
        SnpReport rep;
        char *runtime;      /* the runtime data (JSON text) */
        size_t runtime_size;
        uint8_t *vcek;      /* PEM */
        size_t vcek_size;
} HclVector;

static HclVector hcl[ELEMENTSOF(hcl_vectors)];

static void hcl_load(size_t i, HclVector *v) {
        _cleanup_(freep) char *dir = path_join(arg.vectors, HCL_VECTORS_DIR), *p = NULL, *q = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        uint32_t rt_size;
        size_t size;
        Diag d = {};

        p = path_join(dir, hcl_vectors[i].hcl);
        q = path_join(dir, hcl_vectors[i].vcek);
        read_file_or_die(p, &buf, &size);
        read_file_or_die(q, &v->vcek, &v->vcek_size);
        if (size < HCL_RUNTIME_OFFSET)
                setup_error("%s: %zu bytes, too short for an HCL report", p, size);
        rt_size = (uint32_t) buf[HCL_RUNTIME_SIZE_OFFSET] |
                  (uint32_t) buf[HCL_RUNTIME_SIZE_OFFSET + 1] << 8 |
                  (uint32_t) buf[HCL_RUNTIME_SIZE_OFFSET + 2] << 16 |
                  (uint32_t) buf[HCL_RUNTIME_SIZE_OFFSET + 3] << 24;
        if (rt_size == 0 || rt_size > size - HCL_RUNTIME_OFFSET)
                setup_error("%s: runtime data size %u does not fit", p, rt_size);
        memcpy(v->report, buf + HCL_REPORT_OFFSET, SNP_REPORT_SIZE);
        if (snp_report_parse(v->report, SNP_REPORT_SIZE, &v->rep, &d) < 0)
                setup_error("%s: %s", p, d.text);
        v->runtime = strndup((const char *) buf + HCL_RUNTIME_OFFSET, rt_size);
        if (!v->runtime)
                setup_error("out of memory");
        v->runtime_size = rt_size;
        (void) snprintf(v->name, sizeof(v->name), "%s", hcl_vectors[i].hcl);
}

/*
 * The body of POST /attest/SevSnpVm as Azure's client builds it from an HCL report: the report
 * and the VCEK chain, base64url JSON in "report"; the runtime data as JSON; a nonce. report may
 * differ from v's (tampering); runtime NULL means v's.
 */
static char *sevsnpvm_body(const HclVector *v, const uint8_t *report, const char *runtime,
                           const char *nonce) {
        _cleanup_(json_object_putp) json_object *inner = json_object_new_object(),
                                                *body = json_object_new_object(),
                                                *rt = json_object_new_object();
        _cleanup_(freep) char *s_report = b64url(report ?: v->report, SNP_REPORT_SIZE),
                              *s_vcek = b64url(v->vcek, v->vcek_size), *s_inner = NULL,
                              *s_rt = runtime ? b64url_str(runtime)
                                              : b64url(v->runtime, v->runtime_size);
        char *ret;

        if (!inner || !body || !rt || json_add_string(inner, "SnpReport", s_report) < 0 ||
            json_add_string(inner, "VcekCertChain", s_vcek) < 0)
                setup_error("out of memory");
        s_inner = b64url_str(json_object_to_json_string_ext(inner, JSON_C_TO_STRING_PLAIN));
        if (json_add_string(body, "report", s_inner) < 0 || json_add_string(rt, "data", s_rt) < 0 ||
            json_add_string(rt, "dataType", "JSON") < 0 ||
            json_add(body, "runtimeData", json_object_get(rt)) < 0 ||
            (nonce && json_add_string(body, "nonce", nonce) < 0))
                setup_error("out of memory");
        ret = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
        if (!ret)
                setup_error("out of memory");
        return ret;
}

/* AzureGuest evidence as cvm-agent wrote it, with what the token should say about it. */
typedef struct Evidence {
        char *body;
        size_t size;
        json_object *info;    /* AttestationInfo, decoded */
        bool snp;             /* IsolationInfo.Type SevSnp */
        SnpReport rep;
        json_object *runtime; /* IsolationInfo.Evidence.RunTimeData, parsed */
        char *nonce;          /* ClientPayload.nonce, decoded */
} Evidence;

static void evidence_done(Evidence *e) {
        free(e->body);
        json_object_put(e->info);
        json_object_put(e->runtime);
        free(e->nonce);
        *e = (Evidence) {};
}

static void evidence_load(const char *path, Evidence *ret) {
        _cleanup_(json_object_putp) json_object *body = NULL, *proof = NULL;
        _cleanup_(freep) uint8_t *report = NULL, *nonce = NULL;
        Evidence e = {};
        json_object *iso, *ev;
        size_t size;
        Diag d = {};

        read_file_or_die(path, (uint8_t **) &e.body, &e.size);
        if (json_parse_capped(e.body, e.size, FILE_MAX, 32, &body) < 0 ||
            member_b64_json(body, "AttestationInfo", &e.info) < 0)
                setup_error("%s: not an AzureGuest request", path);
        iso = member(e.info, "IsolationInfo");
        e.snp = member_str_eq(iso, "Type", "SevSnp");
        if (e.snp) {
                ev = member(iso, "Evidence");
                if (member_b64_json(ev, "Proof", &proof) < 0 ||
                    member_b64(proof, "SnpReport", 4096, &report, &size) < 0 ||
                    snp_report_parse(report, size, &e.rep, &d) < 0 ||
                    member_b64_json(ev, "RunTimeData", &e.runtime) < 0)
                        setup_error("%s: IsolationInfo.Evidence: %s", path,
                                    diag_text(&d, "malformed"));
        }
        if (member_b64(member(e.info, "ClientPayload"), "nonce", 1024, &nonce, &size) < 0 ||
            !(e.nonce = strndup((const char *) nonce, size)))
                setup_error("%s: no ClientPayload.nonce", path);
        *ret = e;
}

/* ---- child processes: cvm-agent ---- */

extern char **environ;

/* Runs argv with stdout to out_path (when given) and CVM_TCTI set to tcti (when given); returns
 * its exit status, or -1. stderr goes to the test log. */
static int run(char *const argv[], const char *tcti, const char *out_path) {
        _cleanup_(freep) char **envp = NULL;
        _cleanup_(freep) char *tcti_var = NULL;
        size_t n = 0, k = 0;
        int status;
        pid_t pid;

        while (environ[n])
                n++;
        envp = calloc(n + 2, sizeof(char *));
        if (!envp || (tcti && asprintf(&tcti_var, "CVM_TCTI=%s", tcti) < 0))
                setup_error("out of memory");
        for (size_t i = 0; i < n; i++)
                if (!tcti || !startswith(environ[i], "CVM_TCTI="))
                        envp[k++] = environ[i];
        if (tcti)
                envp[k++] = tcti_var;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                if (out_path) {
                        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
                                _exit(127);
                }
                execve(argv[0], argv, envp);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

/* `cvm-agent evidence --format maa` on the simulated Azure CVM into workdir/name. */
static char *agent_evidence(const char *name, const char *extra1, const char *extra2,
                            const char *extra3, const char *extra4) {
        char *out = path_join(arg.workdir, name);
        char *argv[] = { (char *) arg.agent, (char *) "evidence", (char *) "--format",
                         (char *) "maa", (char *) "--vcek-chain", (char *) arg.vcek_chain,
                         (char *) "--out", out, (char *) extra1, (char *) extra2,
                         (char *) extra3, (char *) extra4, NULL };
        int r = run(argv, NULL, NULL);

        if (r != 0)
                setup_error("cvm-agent evidence (%s) exited %d", name, r);
        return out;
}

/* `cvm-agent unseal` of an AzureGuest response: the JWT, or NULL. */
static char *agent_unseal(const Response *resp, const char *name, const char *tcti) {
        _cleanup_(freep) char *in = path_join(arg.workdir, name), *out = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        char *argv[] = { (char *) arg.agent, (char *) "unseal", (char *) "--in", in, NULL };
        size_t size;

        if (asprintf(&out, "%s.jwt", in) < 0)
                setup_error("out of memory");
        write_file_or_die(in, resp->body ?: "", resp->size);
        if (run(argv, tcti, out) != 0 || read_full_file(out, FILE_MAX, &buf, &size) < 0)
                return NULL;
        while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r'))
                buf[--size] = '\0';
        return (char *) TAKE_PTR(buf);
}

/* ---- the cases ---- */

static char *issuer_root, *issuer_nonce;
/* x-ms-policy-hash of the SevSnpVm and AzureGuest policies in force at start */
static char *default_hash, *azureguest_hash;

static void test_metadata(void) {
        _cleanup_(freep) uint8_t *pem = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *signing = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        Response r = {}, r2 = {};
        const JwsKey *k;
        json_object *algs, *jwk;
        size_t size;
        Diag d = {};
        bool ok;
        char want[1100];

        http_get("/health", &r);
        tap(r.status == 200 && member_str_eq(r.json, "status", "ok"), "GET /health: 200 ok",
            "status %ld: %s", r.status, excerpt(r.body));
        response_done(&r);

        http_get("/.well-known/openid-configuration", &r);
        algs = member(r.json, "id_token_signing_alg_values_supported");
        (void) snprintf(want, sizeof(want), "%s/certs", issuer_root);
        tap(r.status == 200 && member_str_eq(r.json, "issuer", issuer_root) &&
                    member_str_eq(r.json, "jwks_uri", want) && algs &&
                    json_object_array_length(algs) == 1 &&
                    streq(json_object_get_string(json_object_array_get_idx(algs, 0)), "RS256"),
            "OpenID metadata of the root tenant: issuer, jwks_uri, RS256",
            "status %ld: %s", r.status, excerpt(r.body));
        response_done(&r);

        http_get("/t/nonce/.well-known/openid-configuration", &r);
        (void) snprintf(want, sizeof(want), "%s/certs", issuer_nonce);
        tap(r.status == 200 && member_str_eq(r.json, "issuer", issuer_nonce) &&
                    member_str_eq(r.json, "jwks_uri", want),
            "OpenID metadata of /t/nonce: issuer and jwks_uri under its path", "status %ld: %s",
            r.status, excerpt(r.body));
        response_done(&r);

        /* /certs: exactly the configured key, with its kid and a certificate for it. */
        http_get("/certs", &r);
        if (r.status != 200 || !r.body ||
            jws_key_set_from_jwks(r.body, r.size, &keys, &d) < 0)
                setup_error("GET /certs: status %ld, %s: %s", r.status, d.text, excerpt(r.body));
        read_file_or_die(arg.signing_key, &pem, &size);
        bio = BIO_new_mem_buf(pem, (int) size);
        signing = bio ? PEM_read_bio_PrivateKey(bio, NULL, pem_no_password, NULL) : NULL;
        if (!signing)
                setup_error("%s: not a PEM private key", arg.signing_key);
        k = jws_key_set_get(keys, 0);
        jwk = json_object_array_get_idx(member(r.json, "keys"), 0);
        ok = jws_key_set_size(keys) == 1 && k && k->kid && EVP_PKEY_eq(k->pkey, signing) == 1 &&
             k->x5c && sk_X509_num(k->x5c) == 1 &&
             EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(k->x5c, 0)), signing) == 1 &&
             member_str_eq(jwk, "use", "sig") && member_str_eq(jwk, "alg", "RS256");
        tap(ok, "GET /certs: the configured signing key alone, with kid, use, alg and its x5c",
            "%zu keys: %s", jws_key_set_size(keys), excerpt(r.body));
        if (k && k->kid)
                (void) snprintf(certs_kid, sizeof(certs_kid), "%s", k->kid);

        http_get("/t/nonce/certs", &r2);
        tap(r2.status == 200 && r.json && r2.json && json_object_equal(r.json, r2.json),
            "GET /t/nonce/certs: the same key set", "status %ld: %s", r2.status,
            excerpt(r2.body));
        response_done(&r);
        response_done(&r2);

        http_get("/no/such/thing", &r);
        expect_error("GET an unknown path: 404 NotFound", &r, 404, "NotFound", NULL);
        response_done(&r);
}

/* The x-ms-sevsnpvm-* names computed here are exactly the ones real MAA tokens carry. */
static void test_claim_names(void) {
        _cleanup_(json_object_putp) json_object *want = snp_expected(&hcl[0].rep);
        char missing[1024] = "", extra[1024] = "";
        size_t n = 0, m = 0;

        json_object_object_foreach(maa_names, key, val) {
                (void) val;
                if (startswith(key, "x-ms-sevsnpvm-") && !member(want, key))
                        words_add(missing, sizeof(missing), &n, key);
        }
        json_object_object_foreach(want, key2, val2) {
                (void) val2;
                if (!json_object_object_get_ex(maa_names, key2, NULL))
                        words_add(extra, sizeof(extra), &m, key2);
        }
        tap(!missing[0] && !extra[0],
            "the x-ms-sevsnpvm-* claims compared are those of the real MAA tokens",
            "in MAA's tokens but not compared: %s; compared but not in MAA's: %s", missing, extra);
}

/* GET /policies/{type} on a tenant: the PolicyResult token's x-ms-policy-hash, checked against
 * the hash of the policy it carries (x-ms-policy, an unsigned JWS of the text). */
static char *policy_get(const char *tenant, const char *type, const char *issuer, char *why,
                        size_t why_size) {
        _cleanup_(json_object_putp) json_object *claims = NULL, *payload = NULL;
        _cleanup_(jws_freep) Jws *j = NULL;
        _cleanup_(freep) uint8_t *text = NULL;
        _cleanup_(freep) char *computed = NULL, *path = NULL;
        const char *hash, *policy;
        Response r = {};
        size_t size;
        char *ret;

        if (asprintf(&path, "%s/policies/%s", tenant, type) < 0)
                setup_error("out of memory");
        http_get(path, &r);
        if (r.status != 200 ||
            token_verify(member_str(r.json, "token"), issuer, &claims, why, why_size) < 0) {
                if (r.status != 200)
                        (void) snprintf(why, why_size, "status %ld: %s", r.status, excerpt(r.body));
                response_done(&r);
                return NULL;
        }
        response_done(&r);
        hash = member_str(claims, "x-ms-policy-hash");
        policy = member_str(claims, "x-ms-policy");
        if (!hash || !policy || jws_parse(policy, strlen(policy), &j, NULL) < 0 ||
            !streq(j->alg, "none") ||
            json_parse_capped((const char *) j->payload, j->payload_size, FILE_MAX, 8,
                              &payload) < 0 ||
            member_b64(payload, "AttestationPolicy", FILE_MAX, &text, &size) < 0) {
                (void) snprintf(why, why_size, "claims %s", excerpt(json_text(claims)));
                return NULL;
        }
        computed = policy_hash((const char *) text);
        if (!streq(computed, hash)) {
                (void) snprintf(why, why_size, "x-ms-policy-hash %s, but the policy's hash is %s",
                                hash, computed);
                return NULL;
        }
        ret = strdup(hash);
        if (!ret)
                setup_error("out of memory");
        return ret;
}

/* "NAME: what" for the cases of one vector. */
static const char *vdesc(const HclVector *v, const char *what) {
        static char buf[256];

        (void) snprintf(buf, sizeof(buf), "%.63s: %s", v->name, what);
        return buf;
}

static void test_sevsnpvm(void) {
        for (size_t i = 0; i < ELEMENTSOF(hcl); i++) {
                _cleanup_(json_object_putp) json_object *claims = NULL, *rt = NULL;
                _cleanup_(freep) char *body = NULL;
                HclVector *v = &hcl[i];
                char why[1024] = "", nonce[80];
                json_object *dbg;
                Response r = {};
                int k;

                (void) snprintf(nonce, sizeof(nonce), "nonce-%zu-%.63s", i, v->name);
                body = sevsnpvm_body(v, NULL, NULL, nonce);
                attest("/attest/SevSnpVm", body, strlen(body), &r);
                if (!tap(r.status == 200 && member_str(r.json, "token"),
                         vdesc(v, "POST /attest/SevSnpVm: 200 with a token"), "status %ld: %s",
                         r.status, excerpt(r.body))) {
                        response_done(&r);
                        continue;
                }
                k = token_verify(member_str(r.json, "token"), issuer_root, &claims, why,
                                 sizeof(why));
                response_done(&r);
                if (!tap(k >= 0,
                         vdesc(v, "the token verifies against /certs (RS256, kid, jku, iss, 8 h)"),
                         "%s", why))
                        continue;
                tap(snp_claims_match(claims, &v->rep, why, sizeof(why)),
                    vdesc(v, "every x-ms-sevsnpvm-* claim equals the report's field"), "%s", why);
                tap(names_known(claims, why, sizeof(why)),
                    vdesc(v, "claim names are real MAA names (or the project's own)"),
                    "unknown claims: %s", why);
                if (json_parse_capped(v->runtime, v->runtime_size, FILE_MAX, 32, &rt) < 0)
                        setup_error("%s: the runtime data is not JSON", v->name);
                dbg = member(claims, "is-debuggable");
                tap(member_str_eq(claims, "x-ms-attestation-type", "sevsnpvm") &&
                            member_str_eq(claims, "x-ms-ver", "1.0") &&
                            json_object_equal(member(claims, "x-ms-runtime"), rt) &&
                            member_str_eq(claims, "nonce", nonce) &&
                            json_object_is_type(dbg, json_type_boolean) &&
                            !json_object_get_boolean(dbg) &&
                            member_str_eq(claims, "x-ms-policy-hash", default_hash) &&
                            !member(claims, "pcrs") && !member(claims, "events"),
                    vdesc(v, "sevsnpvm, x-ms-ver, x-ms-runtime = the runtime data, nonce, "
                             "is-debuggable false, the policy's hash"),
                    "claims %s", excerpt(json_text(claims)));
        }
}

/* The sealed AzureGuest answer: base64url of {EncryptedInnerKey, EncryptionParams {Iv, Cipher,
 * BlockMode, KeySizeInBits}, AuthenticationData, Jwt} (azure-cvm.md §6.2), no JWT in the clear. */
static bool sealed_ok(const Response *r, char *why, size_t why_size) {
        _cleanup_(json_object_putp) json_object *env = NULL;
        _cleanup_(freep) uint8_t *key = NULL, *iv = NULL, *tag = NULL, *ct = NULL;
        size_t key_size = 0, iv_size = 0, tag_size = 0, ct_size = 0;
        json_object *params;

        if (member_b64_json(r->json, "token", &env) < 0)
                return snprintf(why, why_size, "token is not base64url JSON: %s", excerpt(r->body)),
                       false;
        params = member(env, "EncryptionParams");
        if (member_b64(env, "EncryptedInnerKey", 4096, &key, &key_size) < 0 ||
            member_b64(params, "Iv", 64, &iv, &iv_size) < 0 ||
            member_b64(env, "AuthenticationData", 64, &tag, &tag_size) < 0 ||
            member_b64(env, "Jwt", FILE_MAX, &ct, &ct_size) < 0 || key_size != 256 ||
            iv_size != 12 || tag_size != 16 || ct_size < 100 ||
            !member_str_eq(params, "Cipher", "AES") ||
            !member_str_eq(params, "BlockMode", "ChainingModeGCM") ||
            json_object_get_int(member(params, "KeySizeInBits")) != 256 ||
            memmem(ct, ct_size, "eyJ", 3))
                return snprintf(why, why_size, "envelope %s", excerpt(json_text(env))), false;
        return true;
}

/* PCR indices of the evidence's TpmInfo.PcrSet as a JSON array. */
static json_object *evidence_pcrs(const Evidence *e) {
        return member(member(e->info, "TpmInfo"), "PcrSet");
}

static void test_azureguest(void) {
        _cleanup_(evidence_done) Evidence e = {};
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(freep) char *path = agent_evidence("azure-evidence.json", NULL, NULL, NULL, NULL),
                              *token = NULL;
        json_object *tee;
        char why[1024] = "";
        Response r = {};
        int k;

        evidence_load(path, &e);
        tap(e.snp, "cvm-agent evidence on the simulated Azure CVM: SevSnp isolation evidence",
            "IsolationInfo %s", excerpt(json_text(member(e.info, "IsolationInfo"))));
        attest("/attest/AzureGuest", e.body, e.size, &r);
        if (!tap(r.status == 200, "AzureGuest (SevSnp): POST /attest/AzureGuest: 200",
                 "status %ld: %s", r.status, excerpt(r.body))) {
                response_done(&r);
                return;
        }
        tap(sealed_ok(&r, why, sizeof(why)),
            "AzureGuest (SevSnp): the token is sealed (RSA-2048 inner key, AES-256-GCM, no JWT in "
            "the clear)", "%s", why);
        token = agent_unseal(&r, "azure-response.json", NULL);
        response_done(&r);
        if (!tap(token, "AzureGuest (SevSnp): cvm-agent unseal opens it with the TPM",
                 "unseal failed (see its message above)"))
                return;
        k = token_verify(token, issuer_root, &claims, why, sizeof(why));
        if (!tap(k >= 0, "AzureGuest (SevSnp): the token verifies against /certs", "%s", why))
                return;
        tee = member(claims, "x-ms-isolation-tee");
        tap(member_str_eq(claims, "x-ms-attestation-type", "azurevm") &&
                    member_str_eq(claims, "x-ms-azurevm-ak-vouched-by", "sevsnp-report") &&
                    json_object_equal(member(claims, "x-ms-azurevm-attested-pcrs"),
                                      evidence_pcrs(&e)) &&
                    member_str_eq(claims, "nonce", e.nonce) &&
                    member_str_eq(json_object_array_get_idx(
                                          member(member(claims, "x-ms-runtime"), "keys"), 0),
                                  "kid", "TpmEphemeralEncryptionKey") &&
                    member_str_eq(claims, "x-ms-policy-hash", azureguest_hash) &&
                    !member(claims, "pcrs") && !member(claims, "events"),
            "AzureGuest (SevSnp): azurevm, vouched by the SNP report, the quoted PCRs, the nonce, "
            "the ephemeral key, the AzureGuest policy's hash; no policy-only claims",
            "claims %s", excerpt(json_text(claims)));
        tap(tee && member_str_eq(tee, "x-ms-attestation-type", "sevsnpvm") &&
                    snp_claims_match(tee, &e.rep, why, sizeof(why)) &&
                    json_object_equal(member(tee, "x-ms-runtime"), e.runtime),
            "AzureGuest (SevSnp): x-ms-isolation-tee holds the report's fields and its runtime "
            "claims", "%s; x-ms-isolation-tee %s", why, excerpt(json_text(tee)));
        tap(names_known(claims, why, sizeof(why)),
            "AzureGuest (SevSnp): claim names are real MAA names (or the project's own)",
            "unknown claims: %s", why);
}

static void test_trusted_launch(void) {
        _cleanup_(evidence_done) Evidence e = {}, u = {};
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(freep) char *token = NULL, *path = NULL;
        char why[1024] = "";
        Response r = {};
        int k;

        evidence_load(arg.tl_evidence, &e);
        attest("/attest/AzureGuest", e.body, e.size, &r);
        if (!tap(r.status == 200 && !e.snp,
                 "trusted launch: POST /attest/AzureGuest with an AK certificate from the "
                 "configured AK CA: 200", "status %ld: %s", r.status, excerpt(r.body))) {
                response_done(&r);
        } else {
                token = agent_unseal(&r, "tl-response.json", arg.tl_tcti);
                response_done(&r);
                k = token ? token_verify(token, issuer_root, &claims, why, sizeof(why)) : -EIO;
                if (!token)
                        (void) snprintf(why, sizeof(why), "cvm-agent unseal failed");
                if (tap(k >= 0, "trusted launch: the sealed token opens and verifies", "%s", why))
                        tap(member_str_eq(claims, "x-ms-attestation-type", "azurevm") &&
                                    member_str_eq(claims, "x-ms-azurevm-ak-vouched-by", "ak-ca") &&
                                    !member(claims, "x-ms-isolation-tee") &&
                                    member_str_eq(claims, "nonce", e.nonce) &&
                                    names_known(claims, why, sizeof(why)),
                            "trusted launch: azurevm, x-ms-azurevm-ak-vouched-by ak-ca, no "
                            "isolation TEE, known claim names",
                            "%s claims %s", why, excerpt(json_text(claims)));
        }

        /* The Azure CVM's AK certificate is from its own AK CA, which is not configured. */
        path = agent_evidence("unvouched-evidence.json", "--isolation", "none", NULL, NULL);
        evidence_load(path, &u);
        attest("/attest/AzureGuest", u.body, u.size, &r);
        expect_error("trusted launch with an AK certificate from another CA: 400 InvalidEvidence",
                     &r, 400, "InvalidEvidence", "AikCert does not chain");
        response_done(&r);
}

/* The root tenant's AdminToken= (the file's text without its line end). */
static const char *admin_token(void) {
        static char *token;
        uint8_t *buf;
        size_t size;

        if (!token) {
                read_file_or_die(arg.admin_token, &buf, &size);
                while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r'))
                        buf[--size] = '\0';
                token = (char *) buf;
        }
        return token;
}

static char *policy_upload(const char *text) {
        _cleanup_(json_object_putp) json_object *payload = json_object_new_object();
        _cleanup_(freep) char *header = b64url_str("{\"alg\":\"none\"}"),
                              *policy = b64url_str(text), *p = NULL;
        char *ret;

        if (!payload || json_add_string(payload, "AttestationPolicy", policy) < 0)
                setup_error("out of memory");
        p = b64url_str(json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN));
        if (asprintf(&ret, "%s.%s.", header, p) < 0)
                setup_error("out of memory");
        return ret;
}

/* A PolicyResult token (spec/maa.md §5.5) answering body: its result and hashes. */
static bool policy_result_ok(const Response *r, const char *result, const char *body,
                             const char *hash, char *why, size_t why_size) {
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(freep) char *token_hash = sha256_b64url(body, strlen(body));

        if (r->status != 200)
                return snprintf(why, why_size, "status %ld: %s", r->status, excerpt(r->body)),
                       false;
        if (token_verify(member_str(r->json, "token"), issuer_root, &claims, why, why_size) < 0)
                return false;
        if (!member_str_eq(claims, "x-ms-policy-result", result) ||
            !member_str_eq(claims, "x-ms-policy-token-hash", token_hash) ||
            !member_str_eq(claims, "x-ms-policy-hash", hash))
                return snprintf(why, why_size, "claims %s", excerpt(json_text(claims))), false;
        return true;
}

static bool state_file_is(const char *want) {
        _cleanup_(freep) char *path = path_join(arg.state_dir, "tenants/root/SevSnpVm.policy.jws");
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t size;
        int r = read_full_file(path, FILE_MAX, &buf, &size);

        if (!want)
                return r == -ENOENT;
        return r >= 0 && size == strlen(want) && memcmp(buf, want, size) == 0;
}

static void test_policies(void) {
        _cleanup_(freep) char *none_header = b64url_str("{\"alg\":\"none\"}"),
                              *deny = policy_upload(deny_policy),
                              *broken = policy_upload(broken_policy), *reset = NULL,
                              *deny_hash = policy_hash(deny_policy),
                              *body = sevsnpvm_body(&hcl[0], NULL, NULL, NULL);
        char why[1024] = "", *h;
        Response r = {};

        /* A reset carries an unsigned JWS with an empty payload. */
        if (asprintf(&reset, "%s..", none_header) < 0)
                setup_error("out of memory");

        http("PUT", "/policies/SevSnpVm", NULL, "text/plain", deny, strlen(deny), &r);
        expect_error("PUT /policies/SevSnpVm without a bearer token: 403", &r, 403, "Forbidden",
                     "Bearer");
        response_done(&r);
        http("PUT", "/policies/SevSnpVm", "not-the-admin-token-0123456789", "text/plain", deny,
             strlen(deny), &r);
        expect_error("PUT /policies/SevSnpVm with a wrong bearer token: 403", &r, 403, "Forbidden",
                     "wrong admin token");
        response_done(&r);
        http("POST", "/policies/SevSnpVm:reset", "not-the-admin-token-0123456789", "text/plain",
             reset, strlen(reset), &r);
        expect_error("POST /policies/SevSnpVm:reset with a wrong bearer token: 403", &r, 403,
                     "Forbidden", "wrong admin token");
        response_done(&r);
        h = policy_get("", "SevSnpVm", issuer_root, why, sizeof(why));
        tap(h && streq(h, default_hash) && state_file_is(NULL),
            "after the refused uploads the policy in force is unchanged", "x-ms-policy-hash %s, "
            "want %s; %s", h ?: "(none)", default_hash, why);
        free(h);

        http("PUT", "/policies/SevSnpVm", admin_token(), "text/plain", deny, strlen(deny), &r);
        tap(policy_result_ok(&r, "Updated", deny, deny_hash, why, sizeof(why)),
            "PUT a denying policy with the admin token: 200, PolicyResult Updated with the "
            "upload's and the policy's hashes", "%s", why);
        response_done(&r);
        h = policy_get("", "SevSnpVm", issuer_root, why, sizeof(why));
        tap(h && streq(h, deny_hash) && state_file_is(deny),
            "GET /policies/SevSnpVm: the uploaded policy, kept in the state directory",
            "x-ms-policy-hash %s, want %s; %s", h ?: "(none)", deny_hash, why);
        free(h);
        h = policy_get("/t/nonce", "SevSnpVm", issuer_nonce, why, sizeof(why));
        tap(h && streq(h, default_hash), "the /t/nonce tenant keeps its own policy",
            "x-ms-policy-hash %s, want %s; %s", h ?: "(none)", default_hash, why);
        free(h);

        attest("/attest/SevSnpVm", body, strlen(body), &r);
        expect_error("attest under the denying policy: 400 PolicyEvaluationError", &r, 400,
                     "PolicyEvaluationError", "policy: ");
        response_done(&r);

        http("PUT", "/policies/SevSnpVm", admin_token(), "text/plain", broken, strlen(broken), &r);
        expect_error("PUT a policy with a syntax error: 400 PolicyParsingError at line 4, "
                     "column 1", &r, 400, "PolicyParsingError", "line 4, column 1");
        response_done(&r);
        h = policy_get("", "SevSnpVm", issuer_root, why, sizeof(why));
        tap(h && streq(h, deny_hash) && state_file_is(deny),
            "after the syntax error the policy in force is unchanged",
            "x-ms-policy-hash %s, want %s; %s", h ?: "(none)", deny_hash, why);
        free(h);
        attest("/attest/SevSnpVm", body, strlen(body), &r);
        expect_error("and it still denies: 400 PolicyEvaluationError", &r, 400,
                     "PolicyEvaluationError", NULL);
        response_done(&r);

        http("PUT", "/policies/SevSnpVm", admin_token(), "text/plain", "not a JWS", 9, &r);
        expect_error("PUT a body that is not a JWS: 400 InvalidPolicy", &r, 400, "InvalidPolicy",
                     "JWS");
        response_done(&r);

        http("POST", "/policies/SevSnpVm:reset", admin_token(), "text/plain", reset,
             strlen(reset), &r);
        tap(policy_result_ok(&r, "Removed", reset, default_hash, why, sizeof(why)),
            "POST /policies/SevSnpVm:reset with the admin token: 200, PolicyResult Removed",
            "%s", why);
        response_done(&r);
        h = policy_get("", "SevSnpVm", issuer_root, why, sizeof(why));
        tap(h && streq(h, default_hash) && state_file_is(NULL),
            "after the reset: the default policy, no file in the state directory",
            "x-ms-policy-hash %s, want %s; %s", h ?: "(none)", default_hash, why);
        free(h);
        attest("/attest/SevSnpVm", body, strlen(body), &r);
        tap(r.status == 200 && member_str(r.json, "token"), "after the reset attest works again",
            "status %ld: %s", r.status, excerpt(r.body));
        response_done(&r);
}

/* The /t/nonce tenant has no AdminToken=: its policies cannot be managed at all. */
static void test_nonce_tenant_policies(void) {
        _cleanup_(freep) char *deny = policy_upload(deny_policy), *h = NULL;
        char why[1024] = "";
        Response r = {};

        http("PUT", "/t/nonce/policies/SevSnpVm", admin_token(), "text/plain", deny,
             strlen(deny), &r);
        expect_error("PUT /t/nonce/policies/SevSnpVm (no AdminToken= there), even with the root's "
                     "token: 403", &r, 403, "Forbidden", "disabled");
        response_done(&r);
        h = policy_get("/t/nonce", "SevSnpVm", issuer_nonce, why, sizeof(why));
        tap(h && streq(h, default_hash), "/t/nonce: its policy is unchanged",
            "x-ms-policy-hash %s, want %s; %s", h ?: "(none)", default_hash, why);
}

static void test_nonce_tenant(void) {
        _cleanup_(evidence_done) Evidence e = {}, plain = {};
        _cleanup_(json_object_putp) json_object *claims = NULL;
        _cleanup_(freep) char *path = NULL, *token = NULL, *plain_path = NULL, *body = NULL;
        const char *s;
        char why[1024] = "", nonce[65] = "";
        Response r = {}, n = {};
        bool ok;
        int k;

        http_get("/t/nonce/nonce", &n);
        s = member_str(n.json, "nonce");
        ok = n.status == 200 && s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64 &&
             json_object_get_int(member(n.json, "expires_in")) == 300;
        if (ok)
                memcpy(nonce, s, sizeof(nonce));
        tap(ok, "GET /t/nonce/nonce: 32 random bytes in hex, live five minutes", "status %ld: %s",
            n.status, excerpt(n.body));
        response_done(&n);
        if (!ok)
                return;
        path = agent_evidence("nonce-evidence.json", "--nonce", nonce, NULL, NULL);
        evidence_load(path, &e);
        attest("/t/nonce/attest/AzureGuest", e.body, e.size, &r);
        tap(r.status == 200, "/t/nonce: evidence whose quote carries the nonce: 200",
            "status %ld: %s", r.status, excerpt(r.body));
        if (r.status == 200) {
                token = agent_unseal(&r, "nonce-response.json", NULL);
                k = token ? token_verify(token, issuer_nonce, &claims, why, sizeof(why)) : -EIO;
                if (!token)
                        (void) snprintf(why, sizeof(why), "cvm-agent unseal failed");
                tap(k >= 0 && member_str_eq(claims, "nonce", nonce),
                    "/t/nonce: the token is the tenant's (its issuer) and carries the nonce",
                    "%s claims %s", why, excerpt(json_text(claims)));
        }
        response_done(&r);

        attest("/t/nonce/attest/AzureGuest", e.body, e.size, &r);
        expect_error("/t/nonce: the same evidence again (a replayed nonce): 400 InvalidNonce", &r,
                     400, "InvalidNonce", "used before");
        response_done(&r);

        plain_path = agent_evidence("plain-evidence.json", NULL, NULL, NULL, NULL);
        evidence_load(plain_path, &plain);
        attest("/t/nonce/attest/AzureGuest", plain.body, plain.size, &r);
        expect_error("/t/nonce: evidence with a nonce the service never issued: 400 InvalidNonce",
                     &r, 400, "InvalidNonce", "live nonce");
        response_done(&r);

        /* One nonce, two requests at once: the nonce is spent exactly once. */
        {
                _cleanup_(evidence_done) Evidence twice = {};
                _cleanup_(freep) char *twice_path = NULL;
                Response t[2] = {};
                const char *nonce2;
                bool one;

                http_get("/t/nonce/nonce", &n);
                nonce2 = member_str(n.json, "nonce");
                if (!nonce2)
                        setup_error("GET /t/nonce/nonce: %s", excerpt(n.body));
                twice_path = agent_evidence("twice-evidence.json", "--nonce", nonce2, NULL, NULL);
                evidence_load(twice_path, &twice);
                attest_twice("/t/nonce/attest/AzureGuest", twice.body, twice.size, t);
                one = (t[0].status == 200 && t[1].status == 400 &&
                       streq(t[1].error_code, "InvalidNonce")) ||
                      (t[1].status == 200 && t[0].status == 400 &&
                       streq(t[0].error_code, "InvalidNonce"));
                tap(one, "/t/nonce: the same evidence twice at once: one 200, one InvalidNonce",
                    "statuses %ld %s / %ld %s", t[0].status, t[0].error_code, t[1].status,
                    t[1].error_code);
                response_done(&n);
                response_done(&t[0]);
                response_done(&t[1]);
        }

        /* A live nonce beside old evidence, not inside its signed data, proves nothing. */
        http_get("/t/nonce/nonce", &n);
        body = sevsnpvm_body(&hcl[0], NULL, NULL, member_str(n.json, "nonce"));
        attest("/t/nonce/attest/SevSnpVm", body, strlen(body), &r);
        expect_error("/t/nonce: a live nonce outside the signed data: 400 InvalidNonce", &r, 400,
                     "InvalidNonce", "not bound");
        response_done(&r);
        response_done(&n);
}

static void test_bad_evidence(void) {
        _cleanup_(evidence_done) Evidence e = {}, other = {};
        _cleanup_(json_object_putp) json_object *body_json = NULL;
        _cleanup_(freep) char *body = NULL, *runtime = NULL, *path = NULL, *other_path = NULL,
                              *info = NULL, *big = NULL;
        uint8_t report[SNP_REPORT_SIZE];
        Response r = {};
        json_object *ti, *other_ak;
        size_t big_size = 2u * 1024u * 1024u;

        /* A byte of MEASUREMENT flipped: the report's signature no longer holds. */
        memcpy(report, hcl[0].report, sizeof(report));
        report[SNP_MEASUREMENT_OFFSET] ^= 0x01;
        body = sevsnpvm_body(&hcl[0], report, NULL, NULL);
        attest("/attest/SevSnpVm", body, strlen(body), &r);
        expect_error("a report with a flipped MEASUREMENT byte: 400 InvalidEvidence, its signature "
                     "does not verify", &r, 400, "InvalidEvidence",
                     "does not verify with the VCEK");
        response_done(&r);
        free(body);

        /* The runtime data edited: its hash is no longer REPORT_DATA. */
        runtime = strndup(hcl[0].runtime, hcl[0].runtime_size);
        if (!runtime || !strstr(runtime, "\"keys\""))
                setup_error("%s: no \"keys\" in the runtime data", hcl[0].name);
        strstr(runtime, "\"keys\"")[1] = 'K';
        body = sevsnpvm_body(&hcl[0], NULL, runtime, NULL);
        attest("/attest/SevSnpVm", body, strlen(body), &r);
        expect_error("edited runtime data: 400 InvalidEvidence naming REPORT_DATA", &r, 400,
                     "InvalidEvidence", "REPORT_DATA");
        response_done(&r);

        /* The quote of the Azure CVM's AK presented with another AK (RSA-2048 as the first, at
         * another handle of the same TPM). */
        path = agent_evidence("ak1-evidence.json", NULL, NULL, NULL, NULL);
        other_path = agent_evidence("ak2-evidence.json", "--ak-handle", "0x81000011", "--ak-type",
                                    "rsa");
        evidence_load(path, &e);
        evidence_load(other_path, &other);
        ti = member(e.info, "TpmInfo");
        other_ak = member(member(other.info, "TpmInfo"), "AikPub");
        if (!ti || !other_ak || json_object_equal(member(ti, "AikPub"), other_ak))
                setup_error("the second AK is not another key");
        if (json_add(ti, "AikPub", json_object_get(other_ak)) < 0)
                setup_error("out of memory");
        json_object_object_del(ti, "AikCert");
        info = b64url_str(json_object_to_json_string_ext(e.info, JSON_C_TO_STRING_PLAIN));
        body_json = json_object_new_object();
        if (!body_json || json_add_string(body_json, "AttestationInfo", info) < 0)
                setup_error("out of memory");
        free(body);
        body = strdup(json_object_to_json_string_ext(body_json, JSON_C_TO_STRING_PLAIN));
        if (!body)
                setup_error("out of memory");
        attest("/attest/AzureGuest", body, strlen(body), &r);
        expect_error("a quote presented with another AK: 400 InvalidEvidence, the signature does "
                     "not verify", &r, 400, "InvalidEvidence", "does not verify with the AK");
        response_done(&r);

        big = malloc(big_size);
        if (!big)
                setup_error("out of memory");
        memset(big, 'a', big_size);
        attest("/attest/SevSnpVm", big, big_size, &r);
        expect_error("a 2 MiB body: 413 RequestTooLarge", &r, 413, "RequestTooLarge", "1 MiB");
        response_done(&r);

        attest("/attest/SevSnpVm", "{\"report\": ", 11, &r);
        expect_error("malformed JSON to /attest/SevSnpVm: 400 InvalidParameter", &r, 400,
                     "InvalidParameter", "not a JSON object");
        response_done(&r);
        attest("/attest/AzureGuest", "{\"AttestationInfo\": [}", 22, &r);
        expect_error("malformed JSON to /attest/AzureGuest: 400 InvalidParameter", &r, 400,
                     "InvalidParameter", "not a JSON object");
        response_done(&r);
        attest("/attest/SevSnpVm", "{\"runtimeData\": {}}", 19, &r);
        expect_error("a SevSnpVm body without \"report\": 400 InvalidParameter naming it", &r, 400,
                     "InvalidParameter", "\"report\"");
        response_done(&r);

        http("POST", "/attest/SgxEnclave", NULL, "application/json", "{}", 2, &r);
        expect_error("POST /attest/SgxEnclave (not served): 404 NotFound", &r, 404, "NotFound",
                     NULL);
        response_done(&r);
}

/* The value of the metric line that starts with name (labels included) followed by a space. */
static bool metric(const char *text, const char *name, double *ret) {
        size_t n = strlen(name);

        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, name, n) == 0 && l[n] == ' ') {
                        char buf[64], *end;
                        size_t len = strcspn(l + n + 1, "\n");

                        if (len == 0 || len >= sizeof(buf))
                                return false;
                        memcpy(buf, l + n + 1, len);
                        buf[len] = '\0';
                        *ret = strtod(buf, &end);
                        return *end == '\0';
                }
        return false;
}

static void test_metrics(void) {
        static const char *const bounds[] = { "0.001", "0.002", "0.005", "0.01", "0.02", "0.05",
                                              "0.1", "0.25", "0.5", "1", "5", "+Inf" };
        double v[5], count = -1, sum = -1, last = 0, b = 0;
        char name[128];
        bool ok = true;
        Response r = {};

        http_get("/metrics", &r);
        ok = r.status == 200 && r.body &&
             metric(r.body, "cvm_verifier_verdicts_total{verdict=\"token\"}", &v[0]) &&
             metric(r.body, "cvm_verifier_verdicts_total{verdict=\"policy_denied\"}", &v[1]) &&
             metric(r.body, "cvm_verifier_verdicts_total{verdict=\"verification_failed\"}",
                    &v[2]) &&
             metric(r.body, "cvm_verifier_verdicts_total{verdict=\"malformed\"}", &v[3]) &&
             metric(r.body, "cvm_verifier_requests_total", &v[4]);
        tap(ok && v[0] == seen.token && v[1] == seen.policy_denied &&
                    v[2] == seen.verification_failed && v[3] == seen.malformed &&
                    v[4] == n_requests,
            "/metrics: the verdict counters and the request count match what was answered",
            "want token %lu, policy_denied %lu, verification_failed %lu, malformed %lu, "
            "requests %u: %s", seen.token, seen.policy_denied, seen.verification_failed,
            seen.malformed, n_requests, excerpt(r.body));

        ok = r.body && metric(r.body, "cvm_verifier_attest_duration_seconds_count", &count) &&
             metric(r.body, "cvm_verifier_attest_duration_seconds_sum", &sum) && sum > 0;
        for (size_t i = 0; ok && i < ELEMENTSOF(bounds); i++) {
                (void) snprintf(name, sizeof(name),
                                "cvm_verifier_attest_duration_seconds_bucket{le=\"%s\"}",
                                bounds[i]);
                ok = metric(r.body, name, &b) && b >= last;
                last = b;
        }
        tap(ok && last == count && count == seen.appraised,
            "/metrics: the latency histogram is cumulative and counts every appraised request",
            "count %g, +Inf %g, want %lu: %s", count, last, seen.appraised, excerpt(r.body));
        response_done(&r);

        http_get("/health", &r);
        tap(r.status == 200, "the service is still up after all of it", "status %ld", r.status);
        response_done(&r);
}

/* A body over the cap sent to policy management is refused, and it is no attestation: the
 * verdict counters ("Attestation verdicts by reason") must not move. */
static void test_oversized_policy(void) {
        _cleanup_(freep) char *big = NULL;
        size_t big_size = 2u * 1024u * 1024u;
        const char *desc = "a 2 MiB policy upload is not counted as an attestation verdict";
        double v = -1;
        Response r = {};

        big = malloc(big_size);
        if (!big)
                setup_error("out of memory");
        memset(big, 'a', big_size);
        http("PUT", "/policies/SevSnpVm", admin_token(), "text/plain", big, big_size,
             &r);
        expect_error("PUT /policies/SevSnpVm with a 2 MiB body: 413 RequestTooLarge", &r, 413,
                     "RequestTooLarge", NULL);
        response_done(&r);

        http_get("/metrics", &r);
        if (!r.body || !metric(r.body, "cvm_verifier_verdicts_total{verdict=\"malformed\"}", &v))
                tap(false, desc, "status %ld: %s", r.status, excerpt(r.body));
        else if (v == seen.malformed + 1)
                tap_known_bug(desc, "verifier/server.c handler() counts every 413, on any "
                                    "endpoint, as verdict=\"malformed\"");
        else
                tap(v == seen.malformed, desc, "malformed %g, want %lu", v, seen.malformed);
        response_done(&r);
}

static void help(void) {
        printf("Usage: test-verifier-http --url URL --vectors DIR --workdir DIR --agent PATH\n"
               "         --vcek-chain FILE --signing-key FILE --admin-token FILE --state-dir DIR\n"
               "         --tl-evidence FILE --tl-tcti TCTI\n"
               "Run by verifier-http.sh, which starts the service and the simulated VMs.\n");
}

static int parse_argv(int argc, char **argv) {
        static const struct option options[] = {
                { "url", required_argument, NULL, 'u' },
                { "vectors", required_argument, NULL, 'V' },
                { "workdir", required_argument, NULL, 'w' },
                { "agent", required_argument, NULL, 'a' },
                { "vcek-chain", required_argument, NULL, 'c' },
                { "signing-key", required_argument, NULL, 'k' },
                { "admin-token", required_argument, NULL, 't' },
                { "state-dir", required_argument, NULL, 's' },
                { "tl-evidence", required_argument, NULL, 'e' },
                { "tl-tcti", required_argument, NULL, 'T' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'u': arg.url = optarg; break;
                case 'V': arg.vectors = optarg; break;
                case 'w': arg.workdir = optarg; break;
                case 'a': arg.agent = optarg; break;
                case 'c': arg.vcek_chain = optarg; break;
                case 'k': arg.signing_key = optarg; break;
                case 't': arg.admin_token = optarg; break;
                case 's': arg.state_dir = optarg; break;
                case 'e': arg.tl_evidence = optarg; break;
                case 'T': arg.tl_tcti = optarg; break;
                case 'h':
                        help();
                        exit(0);
                default:
                        return -EINVAL;
                }
        if (optind != argc || !arg.url || !arg.vectors || !arg.workdir || !arg.agent ||
            !arg.vcek_chain || !arg.signing_key || !arg.admin_token || !arg.state_dir ||
            !arg.tl_evidence || !arg.tl_tcti)
                return -EINVAL;
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_(freep) char *vdir = NULL;
        struct stat st;
        char why[1024] = "";

        if (parse_argv(argc, argv) < 0) {
                help();
                return EXIT_SETUP;
        }
        vdir = path_join(arg.vectors, HCL_VECTORS_DIR);
        if (stat(vdir, &st) < 0) {
                printf("# skip: no vectors at %s\n", arg.vectors);
                return EXIT_SKIP;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                setup_error("curl_global_init failed");
        if (asprintf(&issuer_root, "%s", arg.url) < 0 ||
            asprintf(&issuer_nonce, "%s/t/nonce", arg.url) < 0)
                setup_error("out of memory");
        for (size_t i = 0; i < ELEMENTSOF(hcl); i++)
                hcl_load(i, &hcl[i]);
        maa_names_load();

        test_metadata();
        test_claim_names();
        default_hash = policy_get("", "SevSnpVm", issuer_root, why, sizeof(why));
        if (!tap(default_hash, "GET /policies/SevSnpVm: a PolicyResult token whose "
                               "x-ms-policy-hash is the hash of the policy it carries", "%s", why))
                setup_error("no policy hash to compare with");
        azureguest_hash = policy_get("", "AzureGuest", issuer_root, why, sizeof(why));
        if (!tap(azureguest_hash, "GET /policies/AzureGuest: the same for the AzureGuest policy",
                 "%s", why))
                setup_error("no policy hash to compare with");
        test_sevsnpvm();
        test_azureguest();
        test_trusted_launch();
        test_policies();
        test_nonce_tenant_policies();
        test_nonce_tenant();
        test_bad_evidence();
        test_metrics();
        test_oversized_policy();

        printf("1..%u\n# %u passed, %u failed\n", n_tests, n_tests - n_failed, n_failed);
        for (size_t i = 0; i < ELEMENTSOF(hcl); i++) {
                free(hcl[i].runtime);
                free(hcl[i].vcek);
        }
        jws_key_set_free(keys);
        json_object_put(maa_names);
        free(issuer_root);
        free(issuer_nonce);
        free(default_hash);
        free(azureguest_hash);
        curl_global_cleanup();
        return n_failed ? 1 : 0;
}
