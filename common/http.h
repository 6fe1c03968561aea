/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct Diag;

/*
 * [io] A bounded HTTP client over libcurl: TLS verification always on (peer and host name), the
 * response body capped before it is stored, one overall deadline per request, no redirects to
 * other schemes, http:// and https:// only. Thread-safe after http_global_init().
 */

typedef struct HttpOptions {
        /* Overall deadline for the request in milliseconds (connect + transfer); 0 = 10 s. */
        unsigned timeout_ms;
        /* Largest response body accepted; a larger one fails with -EFBIG. 0 = 1 MiB. */
        size_t max_body;
        /* PEM CA bundle to verify TLS peers against; NULL = the system's. */
        const char *ca_file;
        /* Content-Type of a POST/PUT body; NULL = application/json. */
        const char *content_type;
        /* Extra request headers ("Name: value"), NULL-terminated; may be NULL. */
        const char *const *headers;
} HttpOptions;

typedef struct HttpResponse {
        long status;        /* HTTP status, 0 when none was received */
        uint8_t *body;      /* NUL-terminated (not counted in size); free with http_response_done */
        size_t size;
        unsigned retry_after; /* seconds from a Retry-After header (delta form), 0 if none */
} HttpResponse;

/* Once per process, before threads start (curl_global_init). Returns 0 or -EIO. */
int http_global_init(void);

/*
 * GET (body == NULL) or a request with `method` ("POST", "PUT") and the body. Returns 0 when a
 * response arrived, whatever its status (the caller judges the status), or:
 * -EINVAL bad URL or scheme, -ETIMEDOUT deadline, -ECONNREFUSED/-EHOSTUNREACH/-ENETUNREACH
 * connection, -EFBIG body over the cap, -EPROTO TLS or protocol failure, -ENOMEM.
 * The Diag names the URL and the reason (libcurl's error text).
 */
int http_request(const char *method, const char *url, const void *body, size_t body_size,
                 const HttpOptions *opts, HttpResponse *ret, struct Diag *d);

static inline int http_get(const char *url, const HttpOptions *opts, HttpResponse *ret,
                           struct Diag *d) {
        return http_request("GET", url, NULL, 0, opts, ret, d);
}

void http_response_done(HttpResponse *r);
