/* SPDX-License-Identifier: Apache-2.0 */
#include <curl/curl.h>
#include <strings.h>

#include "common/diag.h"
#include "common/http.h"
#include "common/macro.h"
#include "common/strutil.h"

#define HTTP_TIMEOUT_MS_DEFAULT 10000u
#define HTTP_BODY_MAX_DEFAULT (1024u * 1024u)

DEFINE_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

/* What the callbacks collect for one request. */
typedef struct Transfer {
        size_t max_body;
        uint8_t *body;
        size_t size, cap;
        unsigned retry_after;
        bool too_big; /* a Content-Length or the body itself went over max_body */
        bool oom;
} Transfer;

int http_global_init(void) {
        return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void http_response_done(HttpResponse *r) {
        if (!r)
                return;
        free(r->body);
        *r = (HttpResponse) {};
}

/* Appends a chunk of the body, refusing it before it is stored when the total would pass the
 * cap. Returning anything but n makes libcurl abort the transfer with CURLE_WRITE_ERROR. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Transfer *t = userdata;
        size_t n, need;

        if (__builtin_mul_overflow(size, nmemb, &n) || __builtin_add_overflow(t->size, n, &need) ||
            need > t->max_body) {
                t->too_big = true;
                return 0;
        }
        if (need + 1 > t->cap) {
                size_t cap = MAX(t->cap * 2, (size_t) 4096);
                uint8_t *p;

                cap = MIN(MAX(cap, need + 1), t->max_body + 1);
                p = realloc(t->body, cap);
                if (!p) {
                        t->oom = true;
                        return 0;
                }
                t->body = p;
                t->cap = cap;
        }
        memcpy(t->body + t->size, ptr, n);
        t->size = need;
        return n;
}

/* A header line's value when the line is "name: value", trimmed; NULL otherwise. Writes into
 * buf, so the header need not be NUL-terminated. */
static const char *header_value(const char *line, size_t n, const char *name, char *buf,
                                size_t buf_size) {
        size_t l = strlen(name);

        if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
                return NULL;
        line += l + 1;
        n -= l + 1;
        while (n > 0 && (*line == ' ' || *line == '\t')) {
                line++;
                n--;
        }
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' ' ||
                         line[n - 1] == '\t'))
                n--;
        if (n >= buf_size)
                return "";
        memcpy(buf, line, n);
        buf[n] = '\0';
        return buf;
}

/* Each header line of each response (a 1xx response has its own block; the status line starts
 * a new one): rejects an announced body over the cap before any of it arrives, and reads a
 * Retry-After in the delta-seconds form (the HTTP-date form is ignored). */
static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Transfer *t = userdata;
        size_t n = size * nmemb; /* libcurl: size is always 1 */
        const char *v;
        char buf[32];

        if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
                t->retry_after = 0;
                return n;
        }
        v = header_value(ptr, n, "Content-Length", buf, sizeof(buf));
        if (v) {
                uint64_t len;

                if (safe_atou64(v, &len) >= 0 && len > t->max_body) {
                        t->too_big = true;
                        return 0;
                }
                return n;
        }
        v = header_value(ptr, n, "Retry-After", buf, sizeof(buf));
        if (v) {
                uint32_t secs;

                t->retry_after = safe_atou32(v, &secs) >= 0 ? secs : 0;
        }
        return n;
}

static int errno_from_curl(CURLcode c, const Transfer *t, long os_errno) {
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
                        return (int) -os_errno;
                return -ECONNREFUSED;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_WRITE_ERROR:
        case CURLE_ABORTED_BY_CALLBACK:
                if (t->too_big)
                        return -EFBIG;
                if (t->oom)
                        return -ENOMEM;
                return -EIO;
        default:
                /* TLS (handshake, peer or host verification, CA file) and every protocol or
                 * transport failure after connecting. */
                return -EPROTO;
        }
}

static bool url_scheme_ok(const char *url) {
        return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

int http_request(const char *method, const char *url, const void *body, size_t body_size,
                 const HttpOptions *opts, HttpResponse *ret, Diag *d) {
        _cleanup_(curl_easy_cleanupp) CURL *c = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *hdrs = NULL;
        static const HttpOptions defaults = {};
        char errbuf[CURL_ERROR_SIZE] = "", ctype[128];
        Transfer t = {};
        long status = 0, os_errno = 0;
        CURLcode cc;
        int r;

        if (!opts)
                opts = &defaults;
        if (!method || !url || !ret || (body_size > 0 && !body))
                return -EINVAL;
        if (!url_scheme_ok(url))
                return diag_set(d, -EINVAL, "%s %s: only http:// and https:// URLs are allowed",
                                method, url);
        t.max_body = opts->max_body ?: HTTP_BODY_MAX_DEFAULT;

        c = curl_easy_init();
        if (!c)
                return -ENOMEM;

        /* Headers: the caller's, a Content-Type for a body, and no "Expect: 100-continue" (one
         * round trip, and one response block per request). */
        for (const char *const *h = opts->headers; h && *h; h++) {
                struct curl_slist *n = curl_slist_append(hdrs, *h);
                if (!n)
                        return -ENOMEM;
                hdrs = n;
        }
        if (body) {
                struct curl_slist *n;

                (void) snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                                opts->content_type ?: "application/json");
                n = curl_slist_append(hdrs, ctype);
                if (!n)
                        return -ENOMEM;
                hdrs = n;
                n = curl_slist_append(hdrs, "Expect:");
                if (!n)
                        return -ENOMEM;
                hdrs = n;
        }

        cc = curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the string forms */
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                                      (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
                                      (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        /* No redirects: every service we talk to answers at the URL it is configured with, and a
         * redirect would take the request (and its headers) somewhere nobody configured. A 3xx
         * comes back as a status for the caller to judge. */
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                                      (long) (opts->timeout_ms ?: HTTP_TIMEOUT_MS_DEFAULT));
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (cc == CURLE_OK && opts->ca_file)
                cc = curl_easy_setopt(c, CURLOPT_CAINFO, opts->ca_file);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
        /* libcurl's own check of Content-Length against the cap, besides ours. */
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) t.max_body);
        if (cc == CURLE_OK)
                cc = curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
        if (cc == CURLE_OK && hdrs)
                cc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        if (cc == CURLE_OK) {
                if (body) {
                        cc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                              (curl_off_t) body_size);
                        if (cc == CURLE_OK)
                                cc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                        if (cc == CURLE_OK && !streq(method, "POST"))
                                cc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
                } else if (streq(method, "GET"))
                        cc = curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
                else
                        cc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        if (cc != CURLE_OK)
                return diag_set(d, cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL,
                                "%s %s: cannot set up the request: %s", method, url,
                                curl_easy_strerror(cc));

        cc = curl_easy_perform(c);
        (void) curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        r = errno_from_curl(cc, &t, os_errno);
        if (r < 0) {
                free(t.body);
                if (r == -EFBIG)
                        return diag_set(d, r, "%s %s: response body larger than %zu bytes", method,
                                        url, t.max_body);
                return diag_set(d, r, "%s %s: %s", method, url,
                                errbuf[0] ? errbuf : curl_easy_strerror(cc));
        }
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (!t.body) {
                t.body = malloc(1);
                if (!t.body)
                        return -ENOMEM;
        }
        t.body[t.size] = '\0';
        *ret = (HttpResponse) {
                .status = status,
                .body = t.body,
                .size = t.size,
                .retry_after = t.retry_after,
        };
        return 0;
}
