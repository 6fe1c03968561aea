/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct Diag;
struct json_object;

/*
 * Key Vault Secure Key Release policies (../shared/spec/skr.md §3): a policy is parsed once
 * (release_policy_parse) and decides many times whether a verified token's claims release a key
 * (release_policy_evaluate). All of it is pure: no I/O, no logging.
 *
 * Grammar accepted (JSON, RFC 8259 strict; member names are case-sensitive):
 *   policy     := {"version": "1.0.0", "anyOf": [authority, ...]}
 *   authority  := {"authority": URL, "allOf": [condition, ...]}
 *               | {"authority": URL, "anyOf": [condition, ...]}
 *   condition  := {"allOf": [condition, ...]} | {"anyOf": [condition, ...]}
 *               | {"claim": NAME, OPERATOR: value}
 *   OPERATOR   := equals | notEquals | less | lessOrEquals | greater | greaterOrEquals | exists
 *   value      := JSON string | number | true | false     (never null, an object or an array)
 * Every array is non-empty. Unknown members, duplicate members, wrong types and "\u0000" in any
 * string are refused. Also accepted: the release_policy object Key Vault keeps on a key (§3.1),
 * {"contentType": "application/json; charset=utf-8", "data": base64url(policy), "immutable": bool}
 * (contentType and immutable optional), told apart by its "data" member. A leading UTF-8 byte
 * order mark is skipped in both.
 *
 * Semantics (the reasons for each choice are in release-policy.c):
 *  - The policy holds when some entry of the top-level anyOf whose authority matches the token's
 *    issuer has its conditions hold. Authorities match ignoring one trailing '/' on either side
 *    and the case of the scheme and the host; the rest (port, path) compares exactly. A policy's
 *    authority must be an absolute URL (scheme://host...) of printable ASCII without userinfo,
 *    query or fragment.
 *  - NAME walks nested objects at each '.' ("x-ms-isolation-tee.x-ms-attestation-type"); a name
 *    cannot address a claim whose own name holds a dot. A claim that is absent, JSON null, or
 *    whose path crosses a non-object makes its condition false, whatever the operator.
 *  - equals / notEquals compare a claim of the value's type: strings byte for byte (case
 *    matters), numbers by value (7 == 7.0), booleans; the policy strings "true" and "false" also
 *    compare with a boolean claim. Any other pairing of types, and array or object claims, make
 *    the condition false, notEquals included.
 *  - less, lessOrEquals, greater, greaterOrEquals take a number in the policy and hold only for a
 *    number claim ordered so against it. Numbers compare exactly (integers up to 64 bits and
 *    doubles); a number json-c cannot hold (an integer at or beyond INT64_MIN or UINT64_MAX,
 *    which it clamps, or a fraction that overflows double) compares with nothing, and is
 *    refused in a policy.
 *  - exists takes true: the claim is present. "exists": false is refused (-EPROTONOSUPPORT):
 *    an absent claim never satisfies a condition (§3.3 rule 4).
 */

/* Caps, enforced before parsing (-E2BIG; nesting: -EBADMSG) or while compiling (-E2BIG). */
#define RELEASE_POLICY_SIZE_MAX        (64u * 1024u) /* policy text, and the decoded "data" */
#define RELEASE_POLICY_DEPTH_MAX       8u            /* nested allOf/anyOf below an authority */
#define RELEASE_POLICY_AUTHORITIES_MAX 256u          /* entries of the top-level anyOf */
#define RELEASE_POLICY_CONDITIONS_MAX  1024u         /* allOf, anyOf and claim conditions in all */
#define RELEASE_POLICY_CLAIM_MAX       256u          /* bytes of a claim name */
#define RELEASE_POLICY_SEGMENTS_MAX    16u           /* dot-separated parts of a claim name */
#define RELEASE_POLICY_VALUE_MAX       4096u         /* bytes of a string value */
#define RELEASE_POLICY_AUTHORITY_MAX   512u          /* bytes of an authority URL */

typedef struct ReleasePolicy ReleasePolicy;

typedef struct ReleaseVerdict {
        bool released;
        /* One line of printable ASCII: which authority entry matched and "released", or which
         * condition failed at which path ("anyOf[1].allOf[0]: claim x-ms-attestation-type is
         * \"azurevm\", not equals \"sevsnpvm\""), or that no authority matched. */
        char reason[256];
} ReleaseVerdict;

/*
 * Parses a release policy of exactly size bytes (not necessarily NUL-terminated), in either form
 * above. Input over RELEASE_POLICY_SIZE_MAX, more objects than the caps allow, more authorities
 * or conditions than the caps: -E2BIG. Malformed JSON, nesting deeper than the caps, unknown or
 * duplicate members, wrong types, empty arrays, a bad claim name or authority URL: -EBADMSG. A
 * version other than "1.0.0", an operator not listed above, an unsupported contentType or
 * "exists": false: -EPROTONOSUPPORT. Every refusal fills d naming the JSON path
 * ("anyOf[1].allOf[0].claim: not a string"; inside the decoded "data" of the key's form the path
 * starts "data:"). -ENOMEM. On success *ret is a new policy (release_policy_free()); untouched
 * on failure. Pure; never logs.
 */
int release_policy_parse(const char *text, size_t size, ReleasePolicy **ret, struct Diag *d);

/* Frees p (NULL is fine); returns NULL. */
ReleasePolicy *release_policy_free(ReleasePolicy *p);
static inline void release_policy_freep(ReleasePolicy **p) {
        if (*p)
                release_policy_free(*p);
}

/*
 * Decides whether p releases a key to a token issued by authority (the verified token's "iss";
 * NULL when it has none) with claims (its verified payload, a JSON object). Every outcome is a
 * verdict: 0 with *ret filled, released or not, with the reason. A token without an issuer or
 * claims that are not a JSON object are simply not released. -EINVAL (Diag set, *ret untouched)
 * only for a NULL p or ret. p is never modified, nor are the claims (json-c's cached string
 * forms included), so one policy may be evaluated from several threads at once. Pure; never
 * logs.
 */
int release_policy_evaluate(const ReleasePolicy *p, const char *authority,
                            struct json_object *claims, ReleaseVerdict *ret, struct Diag *d);

/* Whether some authority entry of p matches authority (as release_policy_evaluate matches). */
bool release_policy_names_authority(const ReleasePolicy *p, const char *authority);

/*
 * Whether two authority URLs name the same authority: equal once one trailing '/' is dropped
 * from each and the scheme and host (up to the first '/' after "://") are lowercased. Strings
 * longer than RELEASE_POLICY_AUTHORITY_MAX, empty ones ("" or "/") and NULL never match. Pure.
 */
bool release_policy_authority_equal(const char *a, const char *b);
