/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct Diag;
struct json_object;

/*
 * The Microsoft Azure Attestation policy language (../shared/spec/maa.md §5), versions 1.0, 1.1
 * and 1.2: a policy is compiled once (maa_policy_compile) and evaluated many times against
 * incoming claims (maa_policy_evaluate). All of it is pure: no I/O, no logging.
 *
 * Grammar accepted (whitespace, `// ...` and block comments anywhere between tokens):
 *   policy    := 'version' '=' 1 '.' (0|1|2) ';' [config] auth [issuance]
 *   config    := 'configurationrules' '{' rule* '}' ';'         (1.1+; only issueproperty
 *                                                                 with literal values)
 *   auth      := 'authorizationrules' '{' rule* '}' ';'         (permit, deny, add)
 *   issuance  := 'issuancerules' '{' rule* '}' ';'              (add, issue, issueproperty)
 *   rule      := [cond ('&&' cond)*] '=>' action [';']
 *   cond      := [ident ':'] '[' prop (',' prop)* ']'  |  '!' '[' prop (',' prop)* ']' (1.2+)
 *   prop      := ('type'|'value'|'issuer'|'valueType') op expr
 *   op        := '==' | '=' | '!=' | '<' | '<=' | '>' | '>='   (ordering: integers only)
 *   action    := 'permit' '(' ')' | 'deny' '(' ')'
 *              | ('add'|'issue'|'issueproperty') '(' claim ')'
 *   claim     := 'claim' '=' ident | 'claim' '(' fields ')' | fields
 *   fields    := 'type' '=' expr ',' 'value' '=' expr   (either order)
 *   expr      := 'true' | 'false' | integer (decimal, 0x hex, leading '-') | "string"
 *              | ident '.' ('type'|'value'|'issuer'|'valueType')
 *              | function '(' [expr (',' expr)*] ')'                      (1.2+)
 *   function  := JmesPath | JsonToClaimValue | IsSubsetOf | AppendString | NegateBool
 *              | ContainsOnlyValue
 * Strings take the escapes \" and \\ (any other backslash is kept as is).
 *
 * JmesPath supports: identifiers (bare and "quoted"), sub-expressions `a.b`, indexes `[n]` and
 * `[-n]`, list projections `[*]`, object projections `*`, flatten `[]`, filters
 * `[? cond]`, pipes `|`, `@`, comparisons == != < <= > >=, `&&`, `||`, `!`, parentheses,
 * `literal` JSON and 'raw' strings, and the functions length, contains, starts_with,
 * ends_with, not_null, to_string and equals_ignore_case (MAA's extension). Not supported (a
 * syntax error): slices, multi-select lists and hashes, expression references.
 */

/* Caps, enforced before parsing or while evaluating (-E2BIG, or -EBADMSG for nesting). */
#define MAA_POLICY_SIZE_MAX   (64u * 1024u)        /* policy text */
#define MAA_POLICY_DEPTH_MAX  32u                  /* nesting of ( [ { in the policy */
#define MAA_POLICY_CLAIMS_MAX 16384u               /* claims in one evaluation */
#define MAA_POLICY_STRING_MAX (4u * 1024u * 1024u) /* one string or JSON text claim value */

typedef enum MaaPolicyVersion {
        MAA_POLICY_VERSION_1_0,
        MAA_POLICY_VERSION_1_1,
        MAA_POLICY_VERSION_1_2,
        _MAA_POLICY_VERSION_MAX,
        _MAA_POLICY_VERSION_INVALID = -EINVAL,
} MaaPolicyVersion;

typedef struct MaaPolicy MaaPolicy;

typedef struct MaaVerdict {
        bool permitted;
        unsigned permit_line; /* line of the first permit() that ran, 0 if none did */
        unsigned deny_line;   /* line of the deny() that ran, 0 if none did */
        char reason[160];     /* one line: which rule decided, or that none permitted */
        /* The outgoing (token) claims: type -> value, or an array of values when a type was
         * issued more than once. NULL unless permitted. Owned. */
        struct json_object *claims;
        /* Property claims: the configurationrules, then issueproperty() claims of the issuance
         * rules (a later value for the same type replaces an earlier one). Never NULL. Owned. */
        struct json_object *properties;
} MaaVerdict;

/*
 * Compiles policy text of exactly size bytes (not necessarily NUL-terminated; UTF-8, no NUL
 * bytes). Input over MAA_POLICY_SIZE_MAX is refused with -E2BIG and nesting deeper than
 * MAA_POLICY_DEPTH_MAX with -EBADMSG, both before parsing. Syntax errors give -EBADMSG and a
 * Diag "line L, column C: expected X, found Y" (columns count bytes, from 1); a version other
 * than 1.0, 1.1, 1.2 gives -EPROTONOSUPPORT. JmesPath queries written as string literals are
 * compiled here too. On success *ret is a new policy (maa_policy_free()); untouched on failure.
 * Pure; never logs.
 */
int maa_policy_compile(const char *text, size_t size, MaaPolicy **ret, struct Diag *d);

/* Frees p (NULL is fine); returns NULL. */
MaaPolicy *maa_policy_free(MaaPolicy *p);
static inline void maa_policy_freep(MaaPolicy **p) {
        if (*p)
                maa_policy_free(*p);
}

MaaPolicyVersion maa_policy_version(const MaaPolicy *p);
/* "1.0", "1.1", "1.2", or NULL. */
const char *maa_policy_version_to_string(MaaPolicyVersion v);

/* The configurationrules' properties, type -> value (e.g. {"require_valid_aik_cert": false}),
 * an empty object when there are none. Borrowed: valid while p lives; do not modify. */
struct json_object *maa_policy_configuration(const MaaPolicy *p);

/*
 * Evaluates p over incoming_claims, a JSON object whose keys are claim types, all with issuer
 * "AttestationService". Values become claims as follows: true/false -> Boolean; integers ->
 * Integer; strings -> String; an array of strings, integers, booleans (and nulls, skipped) ->
 * one claim per element; anything else (objects such as "pcrs" or "x-ms-isolation-tee",
 * arrays holding objects, fractions) -> one String claim holding the JSON text, which
 * JmesPath() and JsonToClaimValue() read; null -> no claim. The claim "pcrs" is read-only:
 * values derived from it cannot be issued (-EPERM).
 *
 * Authorization rules run in order; add() extends the claim set for later rules. A deny() that
 * runs ends evaluation with permitted = false; otherwise permitted is true if some permit() ran
 * ("no permit means no token"). Only then do the issuance rules run, producing claims and
 * properties. now_usec is accepted for the policy-evaluation convention; the language has no
 * time functions.
 *
 * Returns 0 with *ret filled for every outcome of the policy (free with maa_verdict_done()).
 * Returns -errno with a Diag naming the rule's line when the policy cannot be evaluated on these
 * claims: -EBADMSG (a function got a value of the wrong type, e.g. JsonToClaimValue of an object;
 * invalid JSON text), -EPERM (issuing a read-only value), -E2BIG (caps), -EINVAL (incoming claims
 * not an object), -ENOMEM; *ret untouched then. A compiled policy is not modified, so it may be
 * evaluated from several threads at once. Pure; never logs.
 */
int maa_policy_evaluate(const MaaPolicy *p, struct json_object *incoming_claims, uint64_t now_usec,
                        MaaVerdict *ret, struct Diag *d);

/* Whether some condition of p can match an incoming claim of this type (false only when every
 * condition names its type with type == "literal" and none names this one): a claim the policy
 * cannot read need not be computed. */
bool maa_policy_reads_claim(const MaaPolicy *p, const char *type);

/* Releases what a verdict owns and zeroes it. */
void maa_verdict_done(MaaVerdict *v);

/*
 * The x-ms-policy-hash claim for policy text (spec §3.1):
 * BASE64URL(SHA-256(UTF-8(BASE64URL(UTF-8(text))))), base64url without padding, over exactly
 * the size bytes given (the policy text as uploaded, before JWS wrapping). The formula is the
 * spec's; it is not checked against a token whose policy text we hold. *ret is a new string.
 * -ENOMEM only. Pure.
 */
int maa_policy_hash(const char *text, size_t size, char **ret);
