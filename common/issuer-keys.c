/* SPDX-License-Identifier: Apache-2.0 */
/* [io] The signing keys of token issuers (common/issuer-keys.h). */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/diag.h"
#include "common/http.h"
#include "common/json-util.h"
#include "common/jws.h"
#include "common/strutil.h"
#include "common/issuer-keys.h"

/* The length of url without one trailing '/'. */
size_t url_trimmed_len(const char *url) {
        size_t n = strlen(url);

        return n > 0 && url[n - 1] == '/' ? n - 1 : n;
}

bool url_same(const char *a, const char *b) {
        size_t n = url_trimmed_len(a);

        return n == url_trimmed_len(b) && strncmp(a, b, n) == 0;
}

/* The origin of an http(s) URL, "scheme://authority", as an offset into url: the scheme and
 * authority are compared case-insensitively by url_same_origin. -EINVAL for anything else. */
static int url_origin_len(const char *url, size_t *ret) {
        const char *rest;

        if (strncasecmp(url, "https://", 8) == 0)
                rest = url + 8;
        else if (strncasecmp(url, "http://", 7) == 0)
                rest = url + 7;
        else
                return -EINVAL;
        *ret = (size_t) (rest - url) + strcspn(rest, "/?#");
        if (*ret == (size_t) (rest - url))
                return -EINVAL; /* no host */
        return 0;
}

bool url_same_origin(const char *a, const char *b) {
        size_t na, nb;

        return url_origin_len(a, &na) >= 0 && url_origin_len(b, &nb) >= 0 && na == nb &&
               strncasecmp(a, b, na) == 0;
}

/* Plain http is accepted for a loopback issuer only (tests, a verifier on the same host): the
 * keys that decide what a token is worth must not travel where anyone can change them. */
bool url_acceptable(const char *url) {
        static const char *const loopback[] = { "127.0.0.1", "localhost", "[::1]" };
        size_t n, host_len;
        const char *host;

        if (url_origin_len(url, &n) < 0)
                return false;
        if (strncasecmp(url, "https://", 8) == 0)
                return true;
        host = url + 7;
        host_len = strcspn(host, "/?#");
        for (size_t i = 0; i < ELEMENTSOF(loopback); i++) {
                size_t l = strlen(loopback[i]);

                if (host_len >= l && strncasecmp(host, loopback[i], l) == 0 &&
                    (host_len == l || host[l] == ':'))
                        return true;
        }
        return false;
}

/* [io] GET url into *ret (NUL-terminated), requiring status 200. Network failures and other
 * statuses are -EHOSTUNREACH & co. (exit 6), with a Diag naming the URL. */
static int fetch(const char *url, const char *ca_file, size_t max_size, HttpResponse *ret,
                 Diag *d) {
        HttpOptions o = {
                .timeout_ms = ISSUER_FETCH_TIMEOUT_MS,
                .max_body = max_size,
                .ca_file = ca_file,
        };
        HttpResponse resp = {};
        int r;

        r = http_get(url, &o, &resp, d);
        if (r < 0)
                return r;
        if (resp.status != 200) {
                r = diag_set(d, -EIO, "GET %s: HTTP status %ld", url, resp.status);
                http_response_done(&resp);
                return r;
        }
        *ret = resp;
        return 0;
}

/*
 * [io] The issuer's keys over the network (spec/maa.md §4): its OpenID metadata must name it as
 * "issuer" and a "jwks_uri" on its own origin, whose JWKS is then parsed. -EIO & co. (network,
 * exit 6), -EBADMSG (malformed metadata or JWKS), -EXDEV (metadata of another issuer, keys on
 * another origin).
 */
int issuer_keys_fetch(const char *issuer, const char *ca_file, JwsKeySet **ret,
                      char **ret_jwks_uri, Diag *d) {
        _cleanup_(json_object_putp) json_object *meta = NULL;
        _cleanup_(freep) char *url = NULL, *jwks_uri = NULL;
        HttpResponse resp = {};
        json_object *v;
        const char *s;
        Diag inner = {};
        int r;

        if (asprintf(&url, "%.*s/.well-known/openid-configuration",
                     (int) MIN(url_trimmed_len(issuer), (size_t) INT_MAX), issuer) < 0)
                return -ENOMEM;
        r = fetch(url, ca_file, ISSUER_OIDC_MAX_SIZE, &resp, d);
        if (r == -EFBIG)
                return diag_set(d, -EBADMSG, "%s: larger than %u bytes", url, ISSUER_OIDC_MAX_SIZE);
        if (r < 0)
                return r;
        r = json_parse_capped((const char *) resp.body, resp.size, ISSUER_OIDC_MAX_SIZE, 16, &meta);
        http_response_done(&resp);
        if (r < 0 || !json_object_is_type(meta, json_type_object))
                return diag_set(d, -EBADMSG, "%s: not a JSON object", url);
        if (!json_object_object_get_ex(meta, "issuer", &v) ||
            !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "%s: no \"issuer\" string", url);
        s = json_object_get_string(v);
        if (!url_same(s, issuer))
                return diag_set(d, -EXDEV, "%s names issuer %s, expected %s", url, s, issuer);
        if (!json_object_object_get_ex(meta, "jwks_uri", &v) ||
            !json_object_is_type(v, json_type_string))
                return diag_set(d, -EBADMSG, "%s: no \"jwks_uri\" string", url);
        s = json_object_get_string(v);
        if (!url_same_origin(s, issuer))
                return diag_set(d, -EXDEV, "%s: jwks_uri %s is not on the issuer's origin", url,
                                s);
        jwks_uri = strdup(s);
        if (!jwks_uri)
                return -ENOMEM;

        r = fetch(jwks_uri, ca_file, JWKS_MAX_SIZE, &resp, d);
        if (r == -EFBIG)
                return diag_set(d, -E2BIG, "%s: larger than %u bytes", jwks_uri, JWKS_MAX_SIZE);
        if (r < 0)
                return r;
        r = jws_key_set_from_jwks((const char *) resp.body, resp.size, ret, &inner);
        http_response_done(&resp);
        if (r < 0)
                return diag_set(d, r, "%s: %s", jwks_uri, inner.text);
        *ret_jwks_uri = TAKE_PTR(jwks_uri);
        return 0;
}


typedef struct IssuerKeys {
        char *issuer;
        pthread_mutex_t lock; /* guards keys and fetched_sec; held while fetching */
        JwsKeySet *keys;      /* NULL until a fetch succeeded */
        uint64_t fetched_sec; /* last fetch attempt, successful or not */
        bool tried;
} IssuerKeys;

struct IssuerKeyCache {
        IssuerKeys *issuers;
        size_t n;
        unsigned refresh_sec;
        char *ca_file; /* NULL: the system's roots */
};

IssuerKeyCache *issuer_key_cache_free(IssuerKeyCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++) {
                free(c->issuers[i].issuer);
                jws_key_set_free(c->issuers[i].keys);
                pthread_mutex_destroy(&c->issuers[i].lock);
        }
        free(c->issuers);
        free(c->ca_file);
        free(c);
        return NULL;
}

int issuer_key_cache_new(char *const *issuers, size_t n, unsigned refresh_sec,
                         const char *ca_file, IssuerKeyCache **ret, Diag *d) {
        _cleanup_(issuer_key_cache_freep) IssuerKeyCache *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->refresh_sec = refresh_sec;
        if (ca_file && !(c->ca_file = strdup(ca_file)))
                return -ENOMEM;
        if (n > 0 && !(c->issuers = calloc(n, sizeof(*c->issuers))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (!url_acceptable(issuers[i]))
                        return diag_set(d, -EINVAL, "issuer %s: not an https:// URL (http:// only "
                                        "to 127.0.0.1, localhost or [::1])", issuers[i]);
                c->issuers[i].issuer = strdup(issuers[i]);
                if (!c->issuers[i].issuer)
                        return -ENOMEM;
                (void) pthread_mutex_init(&c->issuers[i].lock, NULL);
                c->n++;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static IssuerKeys *find(const IssuerKeyCache *c, const char *iss) {
        for (size_t i = 0; c && iss && i < c->n; i++)
                if (url_same(c->issuers[i].issuer, iss))
                        return &c->issuers[i];
        return NULL;
}

bool issuer_key_cache_trusts(const IssuerKeyCache *c, const char *iss) {
        return find(c, iss) != NULL;
}

int issuer_key_cache_verify(IssuerKeyCache *c, const Jws *j, const JwsVerifyOptions *o,
                            uint64_t now_sec, Diag *d) {
        IssuerKeys *ik = find(c, o ? o->issuer : NULL);
        Diag fetch_diag = {};
        int r, fetch_r = 0;

        if (!ik)
                return diag_set(d, -EXDEV, "issuer %s is not trusted", o && o->issuer ? o->issuer : "(none)");
        pthread_mutex_lock(&ik->lock);
        /* Fetch when there are no keys, or the token's kid is not among them; either at most
         * once per refresh interval. */
        if ((!ik->keys || (j->kid && !jws_key_set_find(ik->keys, j->kid))) &&
            (!ik->tried || now_sec >= ik->fetched_sec + c->refresh_sec || now_sec < ik->fetched_sec)) {
                JwsKeySet *fresh = NULL;
                _cleanup_(freep) char *uri = NULL;

                ik->tried = true;
                ik->fetched_sec = now_sec;
                fetch_r = issuer_keys_fetch(ik->issuer, c->ca_file, &fresh, &uri, &fetch_diag);
                if (fetch_r >= 0) {
                        jws_key_set_free(ik->keys);
                        ik->keys = fresh;
                }
        }
        if (!ik->keys) {
                pthread_mutex_unlock(&ik->lock);
                if (fetch_r < 0)
                        return diag_set(d, fetch_r, "keys of %s: %s", o->issuer,
                                        diag_text(&fetch_diag, strerror(-fetch_r)));
                return diag_set(d, -ENOKEY, "keys of %s: none yet (next fetch within %u s)",
                                o->issuer, c->refresh_sec);
        }
        r = jws_verify(j, ik->keys, o, d);
        pthread_mutex_unlock(&ik->lock);
        return r;
}
