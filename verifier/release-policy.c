/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key Vault Secure Key Release policies (../shared/spec/skr.md §3.1–§3.3): a strict compiler from
 * the policy JSON into a condition tree that owns no json-c state, and an evaluator that walks the
 * tree over a token's claims without allocating or writing anything but the verdict.
 *
 * Where the documents leave a choice, the narrower reading is taken (a key released by mistake
 * cannot be called back; one withheld by mistake costs a policy edit):
 *  - Operators: the current grammar lists equals, notEquals, less, lessOrEquals, greater,
 *    greaterOrEquals and exists; the older text only equals, and the service's support for the
 *    others is unconfirmed (§3.2). All seven are implemented with the meanings below.
 *  - Strings compare byte for byte. The grammar is modelled on Azure Policy, whose comparisons
 *    ignore case, but nothing says Key Vault's do; case-sensitive releases to fewer tokens.
 *  - Types are not converted, with one exception: published SEV-SNP release policies pin
 *    x-ms-sevsnpvm-is-debuggable with "equals": "false" against MAA's boolean claim, and their
 *    meaning is unambiguous, so the policy strings "true" and "false" (lowercase, exactly)
 *    compare with boolean claims. Numbers written as strings ("0" against vmpl 0) do not match.
 *  - Every other type mismatch, an array or object claim, and an absent claim make a condition
 *    false, notEquals included: otherwise {"notEquals": true} would hold for a claim the token
 *    carries as the string "true", or for one it leaves out (§3.3 rule 4).
 *  - Ordering operators are numeric only (the grammar gives no order on strings or booleans).
 *    Integers and fractions compare exactly, without rounding through double.
 *  - "exists": true holds for a present claim; "exists": false is refused at parse time, since
 *    an absent claim makes any condition false (§3.3 rule 4) and such a condition could never
 *    hold.
 *  - Claim names split at every '.' (§3.2); the whole name is never tried as one key, so a token
 *    cannot make "a.b" mean something else by carrying a top-level claim spelled "a.b".
 *  - Authorities: tokens say "https://x" where policies often say "https://x/" (§3.2, the
 *    vectors mix both), so one trailing '/' is ignored. The scheme and host are compared without
 *    regard to case (RFC 3986 §3.1, §3.2.2: they name the same server whatever the case), the
 *    rest exactly. The policy's authority must be an absolute URL without userinfo, query or
 *    fragment, so it cannot be written to look like one issuer and match another.
 *  - A duplicated JSON member is refused, as is "\u0000" in a string: json-c keeps the last of
 *    two duplicates where another reader may keep the first, and would cut names at a NUL.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "verifier/release-policy.h"

#define POLICY_VERSION "1.0.0"
#define CONTENT_TYPE   "application/json; charset=utf-8"

/*
 * JSON nesting of the deepest valid policy: the root object, its anyOf, an authority object,
 * then an array and an object for each level of allOf/anyOf.
 */
#define JSON_DEPTH_MAX (3u + 2u * RELEASE_POLICY_DEPTH_MAX)
/* Objects a valid policy can hold: the root, the authorities and the conditions. */
#define JSON_OBJECTS_MAX (1u + RELEASE_POLICY_AUTHORITIES_MAX + RELEASE_POLICY_CONDITIONS_MAX)
/* Room for a JSON path ("anyOf[255].allOf[1023].anyOf[...]...") at the deepest nesting. */
#define PATH_MAX_LEN 256u

typedef enum RpOp {
        RP_OP_EQUALS,
        RP_OP_NOT_EQUALS,
        RP_OP_LESS,
        RP_OP_LESS_OR_EQUALS,
        RP_OP_GREATER,
        RP_OP_GREATER_OR_EQUALS,
        RP_OP_EXISTS,
        _RP_OP_MAX,
        _RP_OP_INVALID = -EINVAL,
} RpOp;

static const char *const op_names[_RP_OP_MAX] = {
        [RP_OP_EQUALS] = "equals",   [RP_OP_NOT_EQUALS] = "notEquals",
        [RP_OP_LESS] = "less",       [RP_OP_LESS_OR_EQUALS] = "lessOrEquals",
        [RP_OP_GREATER] = "greater", [RP_OP_GREATER_OR_EQUALS] = "greaterOrEquals",
        [RP_OP_EXISTS] = "exists",
};

static RpOp op_from_string(const char *s) {
        for (size_t i = 0; i < _RP_OP_MAX; i++)
                if (streq(s, op_names[i]))
                        return (RpOp) i;
        return _RP_OP_INVALID;
}

static bool op_is_ordering(RpOp op) {
        return op == RP_OP_LESS || op == RP_OP_LESS_OR_EQUALS || op == RP_OP_GREATER ||
               op == RP_OP_GREATER_OR_EQUALS;
}

typedef enum RpNumKind {
        RP_NUM_INT,    /* int64_t */
        RP_NUM_UINT,   /* uint64_t above INT64_MAX */
        RP_NUM_DOUBLE, /* a JSON number with a fraction or an exponent */
} RpNumKind;

typedef struct RpNumber {
        RpNumKind kind;
        int64_t i;
        uint64_t u;
        double d;
} RpNumber;

typedef enum RpType {
        RP_TYPE_STRING,
        RP_TYPE_NUMBER,
        RP_TYPE_BOOLEAN,
        RP_TYPE_OBJECT, /* claims only */
        RP_TYPE_ARRAY,  /* claims only */
        RP_TYPE_RANGE,  /* a number json-c could not hold: compares with nothing */
        _RP_TYPE_MAX,
} RpType;

static const char *const type_names[_RP_TYPE_MAX] = {
        [RP_TYPE_STRING] = "a string",   [RP_TYPE_NUMBER] = "a number",
        [RP_TYPE_BOOLEAN] = "a boolean", [RP_TYPE_OBJECT] = "an object",
        [RP_TYPE_ARRAY] = "an array",    [RP_TYPE_RANGE] = "a number out of range",
};

/* A policy value (owning s) or a claim value (borrowing s from the claims). */
typedef struct RpValue {
        RpType type;
        const char *s;
        size_t s_len;
        bool b;
        RpNumber num;
} RpValue;

typedef enum RpNodeKind {
        RP_NODE_ALL_OF,
        RP_NODE_ANY_OF,
        RP_NODE_CLAIM,
} RpNodeKind;

typedef struct RpNode {
        RpNodeKind kind;
        char *path; /* "anyOf[1].allOf[0]", for reasons */
        /* RP_NODE_ALL_OF, RP_NODE_ANY_OF */
        struct RpNode **children;
        size_t n_children;
        /* RP_NODE_CLAIM */
        char *claim;     /* as written, for reasons */
        char **segments; /* claim split at '.' */
        size_t n_segments;
        RpOp op;
        RpValue value;
        char *value_s; /* owns value.s */
} RpNode;

typedef struct RpAuthority {
        char *authority;  /* as written */
        char *normalized; /* see authority_normalize() */
        RpNode *root;
} RpAuthority;

struct ReleasePolicy {
        RpAuthority *authorities;
        size_t n_authorities;
};

static RpNode *node_free(RpNode *n) {
        if (!n)
                return NULL;
        free(n->path);
        for (size_t i = 0; i < n->n_children; i++)
                node_free(n->children[i]);
        free(n->children);
        free(n->claim);
        for (size_t i = 0; i < n->n_segments; i++)
                free(n->segments[i]);
        free(n->segments);
        free(n->value_s);
        free(n);
        return NULL;
}
DEFINE_CLEANUP_FUNC(RpNode *, node_free);

ReleasePolicy *release_policy_free(ReleasePolicy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_authorities; i++) {
                free(p->authorities[i].authority);
                free(p->authorities[i].normalized);
                node_free(p->authorities[i].root);
        }
        free(p->authorities);
        free(p);
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Text for reasons and diagnostics: untrusted bytes never reach them unescaped.               */

/* s[0, n) as printable ASCII in buf: other bytes become '?', and more than max characters end
 * in "...". Returns buf. */
static const char *printable(const char *s, size_t n, size_t max, char *buf, size_t size) {
        size_t k = 0;

        if (size == 0)
                return buf;
        for (size_t i = 0; i < n && k + 1 < size; i++) {
                if (i == max) {
                        for (size_t j = 0; j < 3 && k + 1 < size; j++)
                                buf[k++] = '.';
                        break;
                }
                buf[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        }
        buf[k] = '\0';
        return buf;
}

#define PRINTABLE_MAX 48u
#define PRINTABLE_BUF (PRINTABLE_MAX + 4u)

static const char *printable_str(const char *s, char buf[static PRINTABLE_BUF]) {
        return printable(s, strlen(s), PRINTABLE_MAX, buf, PRINTABLE_BUF);
}

/* A scalar as it would appear in JSON (strings quoted and made printable). */
static const char *value_format(const RpValue *v, char *buf, size_t size) {
        char p[PRINTABLE_BUF];

        switch (v->type) {
        case RP_TYPE_STRING:
                (void) snprintf(buf, size, "\"%s\"",
                                printable(v->s, v->s_len, PRINTABLE_MAX, p, sizeof(p)));
                break;
        case RP_TYPE_NUMBER:
                if (v->num.kind == RP_NUM_INT)
                        (void) snprintf(buf, size, "%" PRId64, v->num.i);
                else if (v->num.kind == RP_NUM_UINT)
                        (void) snprintf(buf, size, "%" PRIu64, v->num.u);
                else
                        (void) snprintf(buf, size, "%.17g", v->num.d);
                break;
        case RP_TYPE_BOOLEAN:
                (void) snprintf(buf, size, "%s", v->b ? "true" : "false");
                break;
        default:
                (void) snprintf(buf, size, "%s", type_names[v->type]);
                break;
        }
        return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                      */

/*
 * False for a number json-c could not hold exactly: it clamps integers beyond the range of
 * int64_t and uint64_t to their ends without a word, and turns fractions beyond double's into
 * ±inf. So INT64_MIN and UINT64_MAX are taken for clamped (the one legitimate value each stands
 * for is no loss), and a claim of 1e30 written as an integer cannot pass for UINT64_MAX.
 */
static bool number_from_json(json_object *o, RpNumber *ret) {
        if (json_object_is_type(o, json_type_double)) {
                *ret = (RpNumber){.kind = RP_NUM_DOUBLE, .d = json_object_get_double(o)};
                return isfinite(ret->d);
        }
        /* json-c keeps integers above INT64_MAX as uint64_t; get_int64 clamps those. */
        *ret = (RpNumber){.kind = RP_NUM_INT, .i = json_object_get_int64(o)};
        if (ret->i == INT64_MAX && json_object_get_uint64(o) > (uint64_t) INT64_MAX)
                *ret = (RpNumber){.kind = RP_NUM_UINT, .u = json_object_get_uint64(o)};
        return !(ret->kind == RP_NUM_INT && ret->i == INT64_MIN) &&
               !(ret->kind == RP_NUM_UINT && ret->u == UINT64_MAX);
}

/*
 * The claim or policy value o as an RpValue borrowing o's string. Reads only: no json-c call
 * here serialises (json_object_get_string on a non-string would cache text inside o, a write
 * another thread could race). NULL (JSON null) gives false.
 */
static bool value_from_json(json_object *o, RpValue *ret) {
        switch (json_object_get_type(o)) {
        case json_type_string:
                *ret = (RpValue){.type = RP_TYPE_STRING,
                                 .s = json_object_get_string(o),
                                 .s_len = (size_t) json_object_get_string_len(o)};
                return true;
        case json_type_int:
        case json_type_double:
                *ret = (RpValue){.type = RP_TYPE_NUMBER};
                if (!number_from_json(o, &ret->num))
                        ret->type = RP_TYPE_RANGE;
                return true;
        case json_type_boolean:
                *ret = (RpValue){.type = RP_TYPE_BOOLEAN, .b = json_object_get_boolean(o)};
                return true;
        case json_type_object:
                *ret = (RpValue){.type = RP_TYPE_OBJECT};
                return true;
        case json_type_array:
                *ret = (RpValue){.type = RP_TYPE_ARRAY};
                return true;
        default:
                return false;
        }
}

typedef enum RpOrder {
        RP_ORDER_LESS = -1,
        RP_ORDER_EQUAL = 0,
        RP_ORDER_GREATER = 1,
        RP_ORDER_NONE = 2, /* NaN */
} RpOrder;

#define ORDER(a, b) ((a) < (b) ? RP_ORDER_LESS : (a) > (b) ? RP_ORDER_GREATER : RP_ORDER_EQUAL)

/* An integer (int64_t i, or uint64_t u when is_u) against a double, exactly: the double's
 * integer part (exact in either integer type within range) decides first, then its fraction. */
static RpOrder order_int_double(bool is_u, int64_t i, uint64_t u, double d) {
        uint64_t tu;

        if (isnan(d))
                return RP_ORDER_NONE;
        /* Beyond the integer types' range the double decides alone (±inf included). */
        if (d >= 0x1p64)
                return RP_ORDER_LESS;
        if (d < -0x1p63)
                return RP_ORDER_GREATER;
        if (d < 0) {
                int64_t ti = (int64_t) d; /* toward zero */

                if (is_u)
                        return RP_ORDER_GREATER;
                if (i != ti)
                        return ORDER(i, ti);
                return ORDER(0.0, d - (double) ti);
        }
        tu = (uint64_t) d;
        if (!is_u && i < 0)
                return RP_ORDER_LESS;
        if (!is_u)
                u = (uint64_t) i;
        if (u != tu)
                return ORDER(u, tu);
        return ORDER(0.0, d - (double) tu);
}

/* a against b: -1, 0, 1, or RP_ORDER_NONE. */
static RpOrder number_order(const RpNumber *a, const RpNumber *b) {
        if (a->kind == RP_NUM_DOUBLE && b->kind == RP_NUM_DOUBLE) {
                if (isnan(a->d) || isnan(b->d))
                        return RP_ORDER_NONE;
                return ORDER(a->d, b->d);
        }
        if (a->kind == RP_NUM_DOUBLE) {
                RpOrder o = number_order(b, a);
                return o == RP_ORDER_NONE ? o : (RpOrder) -o;
        }
        if (b->kind == RP_NUM_DOUBLE)
                return order_int_double(a->kind == RP_NUM_UINT, a->i, a->u, b->d);
        if (a->kind == RP_NUM_UINT && b->kind == RP_NUM_UINT)
                return ORDER(a->u, b->u);
        if (a->kind == RP_NUM_UINT)
                return RP_ORDER_GREATER; /* b is an int64_t */
        if (b->kind == RP_NUM_UINT)
                return RP_ORDER_LESS;
        return ORDER(a->i, b->i);
}

/*
 * Whether claim value c equals policy value v: 1 equal, 0 different, -1 not comparable (types
 * differ, other than the policy strings "true"/"false" against a boolean, or c is an array or
 * object, or a NaN).
 */
static int value_equal(const RpValue *v, const RpValue *c) {
        if (v->type == RP_TYPE_STRING && c->type == RP_TYPE_BOOLEAN) {
                if (v->s_len == 4 && memcmp(v->s, "true", 4) == 0)
                        return c->b;
                if (v->s_len == 5 && memcmp(v->s, "false", 5) == 0)
                        return !c->b;
                return -1;
        }
        if (v->type != c->type)
                return -1;
        switch (v->type) {
        case RP_TYPE_STRING:
                return v->s_len == c->s_len && memcmp(v->s, c->s, v->s_len) == 0;
        case RP_TYPE_BOOLEAN:
                return v->b == c->b;
        case RP_TYPE_NUMBER: {
                RpOrder o = number_order(&c->num, &v->num);
                return o == RP_ORDER_NONE ? -1 : o == RP_ORDER_EQUAL;
        }
        default:
                return -1;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Authorities                                                                                 */

/*
 * s with the scheme and host lowercased (ASCII) and one trailing '/' dropped, into out (at
 * least RELEASE_POLICY_AUTHORITY_MAX + 1 bytes). Without "://" only the trailing '/' goes.
 * False when s is longer than RELEASE_POLICY_AUTHORITY_MAX.
 */
static bool authority_normalize(const char *s, char *out) {
        size_t n = strnlen(s, RELEASE_POLICY_AUTHORITY_MAX + 1);
        const char *sep;
        size_t host_end = 0;

        if (n > RELEASE_POLICY_AUTHORITY_MAX)
                return false;
        memcpy(out, s, n);
        out[n] = '\0';
        sep = strstr(out, "://");
        if (sep) {
                const char *slash = strchr(sep + 3, '/');

                host_end = slash ? (size_t) (slash - out) : n;
        }
        for (size_t i = 0; i < host_end; i++)
                if (out[i] >= 'A' && out[i] <= 'Z')
                        out[i] = (char) (out[i] - 'A' + 'a');
        if (n > 0 && out[n - 1] == '/')
                out[n - 1] = '\0';
        return true;
}

bool release_policy_authority_equal(const char *a, const char *b) {
        char na[RELEASE_POLICY_AUTHORITY_MAX + 1], nb[RELEASE_POLICY_AUTHORITY_MAX + 1];

        if (!a || !b)
                return false;
        return authority_normalize(a, na) && authority_normalize(b, nb) && na[0] != '\0' &&
               streq(na, nb);
}

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Why s[0, n) is not an acceptable authority URL, or NULL. */
static const char *authority_check(const char *s, size_t n) {
        size_t i = 0, host;

        if (n == 0)
                return "empty";
        if (n > RELEASE_POLICY_AUTHORITY_MAX)
                return "too long";
        for (size_t k = 0; k < n; k++)
                if (s[k] <= 0x20 || s[k] >= 0x7f)
                        return "holds a space, a control or a non-ASCII character";
        if (!is_alpha(s[0]))
                return "not an absolute URL (scheme://host...)";
        while (i < n && (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || strchr("+-.", s[i])))
                i++;
        if (n - i < 3 || memcmp(s + i, "://", 3) != 0)
                return "not an absolute URL (scheme://host...)";
        host = i + 3;
        if (host == n || s[host] == '/' || s[host] == ':')
                return "has no host";
        for (size_t k = host; k < n && s[k] != '/'; k++)
                if (s[k] == '@')
                        return "has userinfo (user@host)";
        if (memchr(s, '?', n) || memchr(s, '#', n))
                return "has a query or a fragment";
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Before parsing: caps, duplicates, NULs                                                      */

/*
 * The caps before json-c sees the text (nesting deeper than JSON_DEPTH_MAX, more than
 * JSON_OBJECTS_MAX objects, a "\u0000" escape), and the members each object spells out, which
 * check_duplicates() compares with what json-c kept.
 */
static int scan_text(const char *t, size_t n, const char *prefix, JsonMemberCounts *ret, Diag *d) {
        int r;

        r = json_member_counts(t, n, JSON_DEPTH_MAX, JSON_OBJECTS_MAX, ret);
        if (r == -EBADMSG)
                return diag_set(d, r, "%spolicy: nested deeper than %u levels of allOf/anyOf",
                                prefix, RELEASE_POLICY_DEPTH_MAX);
        if (r == -E2BIG)
                return diag_set(d, r, "%spolicy: more than %u objects", prefix, JSON_OBJECTS_MAX);
        if (r < 0)
                return r;
        if (ret->nul_escape) {
                json_member_counts_done(ret);
                return diag_set(d, -EBADMSG, "%spolicy: a string holds \\u0000", prefix);
        }
        return 0;
}

/* Appends "[i]" or ".name" (or "name" at the root) to path into buf. The caps on nesting keep
 * paths far shorter than PATH_MAX_LEN; were one longer, it would only be cut. */
static const char *path_index(const char *path, size_t i, char buf[static PATH_MAX_LEN]) {
        if (snprintf(buf, PATH_MAX_LEN, "%s[%zu]", path, i) < 0)
                buf[0] = '\0';
        return buf;
}
static const char *path_member(const char *path, const char *name, char buf[static PATH_MAX_LEN]) {
        char p[PRINTABLE_BUF];

        if (snprintf(buf, PATH_MAX_LEN, "%s%s%s", path, path[0] ? "." : "",
                     printable_str(name, p)) < 0)
                buf[0] = '\0';
        return buf;
}

/* Walks o in document order beside the scan's counts; a smaller count means json-c folded a
 * duplicate member. */
static int check_duplicates(json_object *o, const JsonMemberCounts *s, size_t *next,
                            const char *path, const char *prefix, Diag *d) {
        char sub[PATH_MAX_LEN];
        int r;

        if (json_object_is_type(o, json_type_object)) {
                if (*next >= s->n || s->counts[*next] != (size_t) json_object_object_length(o))
                        return diag_set(d, -EBADMSG, "%s%s: a member appears twice", prefix,
                                        path[0] ? path : "policy");
                (*next)++;
                json_object_object_foreach(o, k, v) {
                        r = check_duplicates(v, s, next, path_member(path, k, sub), prefix, d);
                        if (r < 0)
                                return r;
                }
        } else if (json_object_is_type(o, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(o); i++) {
                        r = check_duplicates(json_object_array_get_idx(o, i), s, next,
                                             path_index(path, i, sub), prefix, d);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Compiling                                                                                   */

typedef struct Compiler {
        const char *prefix; /* "" or "data: " */
        size_t n_conditions;
        Diag *d;
} Compiler;

_printf_(4, 5) static int fail(Compiler *c, int error, const char *path, const char *fmt, ...) {
        char msg[384];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return diag_set(c->d, error, "%s%s: %s", c->prefix, path[0] ? path : "policy", msg);
}

static const char *json_type_text(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_int:
        case json_type_double:
                return "a number";
        case json_type_string:
                return "a string";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        default:
                return "unknown";
        }
}

/* A string member without NUL of at most max bytes: 0 and *ret borrowed, or a Diag. */
static int get_string(Compiler *c, json_object *o, const char *path, size_t max, const char **ret,
                      size_t *ret_len) {
        size_t len;

        if (!json_object_is_type(o, json_type_string))
                return fail(c, -EBADMSG, path, "not a string but %s", json_type_text(o));
        len = (size_t) json_object_get_string_len(o);
        if (len > max)
                return fail(c, -EBADMSG, path, "longer than %zu bytes", max);
        if (strlen(json_object_get_string(o)) != len)
                return fail(c, -EBADMSG, path, "holds a NUL");
        *ret = json_object_get_string(o);
        *ret_len = len;
        return 0;
}

static int compile_list(Compiler *c, json_object *array, RpNodeKind kind, const char *node_path,
                        unsigned depth, RpNode **ret);

static int compile_claim(Compiler *c, json_object *o, RpNode *n) {
        char sub[PATH_MAX_LEN], p[PRINTABLE_BUF];
        const char *op_key = NULL, *name;
        json_object *value = NULL, *v;
        size_t len, start = 0;
        int r;

        json_object_object_get_ex(o, "claim", &v);
        r = get_string(c, v, path_member(n->path, "claim", sub), RELEASE_POLICY_CLAIM_MAX, &name,
                       &len);
        if (r < 0)
                return r;
        if (len == 0)
                return fail(c, -EBADMSG, sub, "empty");

        json_object_object_foreach(o, key, val) {
                RpOp op;

                if (streq(key, "claim"))
                        continue;
                if (streq(key, "allOf") || streq(key, "anyOf") || streq(key, "authority"))
                        return fail(c, -EBADMSG, n->path, "\"%s\" beside \"claim\"", key);
                op = op_from_string(key);
                if (op < 0)
                        return fail(c, -EPROTONOSUPPORT, n->path,
                                    "operator \"%s\" is not supported", printable_str(key, p));
                if (op_key)
                        return fail(c, -EBADMSG, n->path, "two operators, \"%s\" and \"%s\"",
                                    op_key, op_names[op]);
                op_key = op_names[op];
                n->op = op;
                value = val;
        }
        if (!op_key)
                return fail(c, -EBADMSG, n->path, "a claim condition without an operator");

        /* The claim name, split at each '.'. */
        n->claim = strdup(name);
        n->segments = calloc(RELEASE_POLICY_SEGMENTS_MAX, sizeof(char *));
        if (!n->claim || !n->segments)
                return -ENOMEM;
        for (size_t i = 0; i <= len; i++) {
                if (i < len && name[i] != '.')
                        continue;
                if (i == start)
                        return fail(c, -EBADMSG, sub, "\"%s\" has an empty part between dots",
                                    printable_str(name, p));
                if (n->n_segments >= RELEASE_POLICY_SEGMENTS_MAX)
                        return fail(c, -EBADMSG, sub, "more than %u dot-separated parts",
                                    RELEASE_POLICY_SEGMENTS_MAX);
                n->segments[n->n_segments] = strndup(name + start, i - start);
                if (!n->segments[n->n_segments])
                        return -ENOMEM;
                n->n_segments++;
                start = i + 1;
        }

        /* The value: a scalar of the type the operator takes (§3.2). */
        path_member(n->path, op_key, sub);
        if (!value || json_object_is_type(value, json_type_object) ||
            json_object_is_type(value, json_type_array))
                return fail(c, -EBADMSG, sub, "%s is not a value (a string, number, true or false)",
                            json_type_text(value));
        if (n->op == RP_OP_EXISTS) {
                if (!json_object_is_type(value, json_type_boolean))
                        return fail(c, -EBADMSG, sub, "not true but %s", json_type_text(value));
                if (!json_object_get_boolean(value))
                        return fail(c, -EPROTONOSUPPORT, sub,
                                    "false is not supported: an "
                                    "absent claim never satisfies a condition");
                n->value = (RpValue){.type = RP_TYPE_BOOLEAN, .b = true};
                return 0;
        }
        if (op_is_ordering(n->op) && !json_object_is_type(value, json_type_int) &&
            !json_object_is_type(value, json_type_double))
                return fail(c, -EBADMSG, sub, "%s, but ordering compares numbers only",
                            json_type_text(value));
        if (json_object_is_type(value, json_type_string)) {
                const char *str;

                r = get_string(c, value, sub, RELEASE_POLICY_VALUE_MAX, &str, &len);
                if (r < 0)
                        return r;
                n->value_s = strndup(str, len);
                if (!n->value_s)
                        return -ENOMEM;
                n->value = (RpValue){.type = RP_TYPE_STRING, .s = n->value_s, .s_len = len};
                return 0;
        }
        if (!value_from_json(value, &n->value))
                return -EINVAL; /* not reached: every other type was refused above */
        if (n->value.type == RP_TYPE_RANGE)
                return fail(c, -EBADMSG, sub, "a number out of range");
        return 0;
}

static int compile_condition(Compiler *c, json_object *o, const char *path, unsigned depth,
                             RpNode **ret) {
        json_object *all = NULL, *any = NULL;
        char sub[PATH_MAX_LEN];
        bool has_all, has_any;

        if (!json_object_is_type(o, json_type_object))
                return fail(c, -EBADMSG, path, "a condition must be an object, not %s",
                            json_type_text(o));
        if (json_object_object_get_ex(o, "claim", NULL)) {
                _cleanup_(node_freep) RpNode *n = NULL;
                int r;

                if (++c->n_conditions > RELEASE_POLICY_CONDITIONS_MAX)
                        return fail(c, -E2BIG, path, "more than %u conditions in the policy",
                                    RELEASE_POLICY_CONDITIONS_MAX);
                n = calloc(1, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                n->kind = RP_NODE_CLAIM;
                n->path = strdup(path);
                if (!n->path)
                        return -ENOMEM;
                r = compile_claim(c, o, n);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(n);
                return 0;
        }

        has_all = json_object_object_get_ex(o, "allOf", &all);
        has_any = json_object_object_get_ex(o, "anyOf", &any);
        json_object_object_foreach(o, key, val) {
                (void) val;
                if (!streq(key, "allOf") && !streq(key, "anyOf"))
                        return fail(c, -EBADMSG, path_member(path, key, sub), "unknown member");
        }
        if (has_all && has_any)
                return fail(c, -EBADMSG, path, "both allOf and anyOf; a condition takes one");
        if (!has_all && !has_any)
                return fail(c, -EBADMSG, path, "neither a claim condition nor allOf/anyOf");
        return compile_list(c, has_all ? all : any, has_all ? RP_NODE_ALL_OF : RP_NODE_ANY_OF, path,
                            depth + 1, ret);
}

/* The node for {"allOf"|"anyOf": array} at node_path, nested depth levels below its authority. */
static int compile_list(Compiler *c, json_object *array, RpNodeKind kind, const char *node_path,
                        unsigned depth, RpNode **ret) {
        _cleanup_(node_freep) RpNode *n = NULL;
        char list_path[PATH_MAX_LEN], sub[PATH_MAX_LEN];
        size_t count;
        int r;

        path_member(node_path, kind == RP_NODE_ALL_OF ? "allOf" : "anyOf", list_path);
        if (depth > RELEASE_POLICY_DEPTH_MAX)
                return fail(c, -EBADMSG, list_path, "allOf/anyOf nested deeper than %u levels",
                            RELEASE_POLICY_DEPTH_MAX);
        if (!json_object_is_type(array, json_type_array))
                return fail(c, -EBADMSG, list_path, "not an array but %s", json_type_text(array));
        count = json_object_array_length(array);
        if (count == 0)
                return fail(c, -EBADMSG, list_path, "empty; at least one condition is required");
        if (++c->n_conditions > RELEASE_POLICY_CONDITIONS_MAX)
                return fail(c, -E2BIG, list_path, "more than %u conditions in the policy",
                            RELEASE_POLICY_CONDITIONS_MAX);

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->kind = kind;
        n->path = strdup(node_path[0] ? node_path : "policy");
        n->children = calloc(count, sizeof(RpNode *));
        if (!n->path || !n->children)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                r = compile_condition(c, json_object_array_get_idx(array, i),
                                      path_index(list_path, i, sub), depth, &n->children[i]);
                if (r < 0)
                        return r;
                n->n_children++;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int compile_authority(Compiler *c, json_object *o, const char *path, RpAuthority *ret) {
        char sub[PATH_MAX_LEN], norm[RELEASE_POLICY_AUTHORITY_MAX + 1];
        json_object *v, *all = NULL, *any = NULL;
        const char *s, *why;
        bool has_all, has_any;
        size_t len;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return fail(c, -EBADMSG, path, "an authority entry must be an object, not %s",
                            json_type_text(o));
        json_object_object_foreach(o, key, val) {
                (void) val;
                if (!streq(key, "authority") && !streq(key, "allOf") && !streq(key, "anyOf"))
                        return fail(c, -EBADMSG, path_member(path, key, sub), "unknown member");
        }
        path_member(path, "authority", sub);
        if (!json_object_object_get_ex(o, "authority", &v))
                return fail(c, -EBADMSG, sub, "missing");
        r = get_string(c, v, sub, RELEASE_POLICY_AUTHORITY_MAX, &s, &len);
        if (r < 0)
                return r;
        why = authority_check(s, len);
        if (why)
                return fail(c, -EBADMSG, sub, "%s", why);

        has_all = json_object_object_get_ex(o, "allOf", &all);
        has_any = json_object_object_get_ex(o, "anyOf", &any);
        if (has_all && has_any)
                return fail(c, -EBADMSG, path, "both allOf and anyOf; an authority takes one");
        if (!has_all && !has_any)
                return fail(c, -EBADMSG, path, "neither allOf nor anyOf");

        if (!authority_normalize(s, norm))
                return -EINVAL; /* not reached: the length was checked */
        ret->authority = strdup(s);
        ret->normalized = strdup(norm);
        if (!ret->authority || !ret->normalized)
                return -ENOMEM;
        return compile_list(c, has_all ? all : any, has_all ? RP_NODE_ALL_OF : RP_NODE_ANY_OF, path,
                            1, &ret->root);
}

static int compile_policy(Compiler *c, json_object *doc, ReleasePolicy **ret) {
        _cleanup_(release_policy_freep) ReleasePolicy *p = NULL;
        char sub[PATH_MAX_LEN], pv[PRINTABLE_BUF];
        json_object *v, *any;
        const char *s;
        size_t len, count;
        int r;

        if (!json_object_is_type(doc, json_type_object))
                return fail(c, -EBADMSG, "", "not a JSON object but %s", json_type_text(doc));
        /* The version first: a later version may well bring members this one does not know. */
        if (!json_object_object_get_ex(doc, "version", &v))
                return fail(c, -EBADMSG, "version", "missing");
        r = get_string(c, v, "version", 64, &s, &len);
        if (r < 0)
                return r;
        if (!streq(s, POLICY_VERSION))
                return fail(c, -EPROTONOSUPPORT, "version",
                            "\"%s\" is not supported (only \"" POLICY_VERSION "\")",
                            printable(s, len, PRINTABLE_MAX, pv, sizeof(pv)));
        json_object_object_foreach(doc, key, val) {
                (void) val;
                if (streq(key, "allOf"))
                        return fail(c, -EBADMSG, "allOf",
                                    "not allowed at the top level, which "
                                    "is an anyOf of authorities");
                if (!streq(key, "version") && !streq(key, "anyOf"))
                        return fail(c, -EBADMSG, path_member("", key, sub), "unknown member");
        }
        if (!json_object_object_get_ex(doc, "anyOf", &any))
                return fail(c, -EBADMSG, "anyOf", "missing");
        if (!json_object_is_type(any, json_type_array))
                return fail(c, -EBADMSG, "anyOf", "not an array but %s", json_type_text(any));
        count = json_object_array_length(any);
        if (count == 0)
                return fail(c, -EBADMSG, "anyOf", "empty; at least one authority is required");
        if (count > RELEASE_POLICY_AUTHORITIES_MAX)
                return fail(c, -E2BIG, "anyOf", "more than %u authorities",
                            RELEASE_POLICY_AUTHORITIES_MAX);

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->authorities = calloc(count, sizeof(RpAuthority));
        if (!p->authorities)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                p->n_authorities++; /* so that a half-built entry is freed too */
                r = compile_authority(c, json_object_array_get_idx(any, i),
                                      path_index("anyOf", i, sub), &p->authorities[i]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* Parses text as JSON under the caps, with no duplicate members. */
static int parse_json(const char *text, size_t size, const char *prefix, json_object **ret,
                      Diag *d) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_(json_member_counts_done) JsonMemberCounts scan = {};
        size_t next = 0;
        int r;

        /* A byte order mark, as editors on Windows write one. */
        if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
                text += 3;
                size -= 3;
        }
        if (size > RELEASE_POLICY_SIZE_MAX)
                return diag_set(d, -E2BIG, "%spolicy: %zu bytes, at most %u", prefix, size,
                                RELEASE_POLICY_SIZE_MAX);
        r = scan_text(text, size, prefix, &scan, d);
        if (r < 0)
                return r;
        r = json_parse_capped(text, size, RELEASE_POLICY_SIZE_MAX, JSON_DEPTH_MAX + 1, &doc);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return diag_set(d, -EBADMSG, "%spolicy: not valid JSON (RFC 8259, strict)", prefix);
        r = check_duplicates(doc, &scan, &next, "", prefix, d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(doc);
        return 0;
}

/* The key's release_policy object (§3.1): checks it and decodes "data" into a new buffer. */
static int unwrap_key_form(json_object *doc, uint8_t **ret, size_t *ret_size, Diag *d) {
        Compiler c = {.prefix = "", .d = d};
        char p[PRINTABLE_BUF], sub[PATH_MAX_LEN];
        const char *s;
        json_object *v;
        size_t len;
        int r;

        json_object_object_foreach(doc, key, val) {
                (void) val;
                if (!streq(key, "contentType") && !streq(key, "data") && !streq(key, "immutable"))
                        return fail(&c, -EBADMSG, path_member("", key, sub),
                                    "unknown member "
                                    "(a key's release_policy has contentType, data, immutable)");
        }
        if (json_object_object_get_ex(doc, "contentType", &v)) {
                r = get_string(&c, v, "contentType", 128, &s, &len);
                if (r < 0)
                        return r;
                if (strcasecmp(s, CONTENT_TYPE) != 0)
                        return fail(&c, -EPROTONOSUPPORT, "contentType",
                                    "\"%s\" is not supported (only \"" CONTENT_TYPE "\")",
                                    printable(s, len, PRINTABLE_MAX, p, sizeof(p)));
        }
        if (json_object_object_get_ex(doc, "immutable", &v) &&
            !json_object_is_type(v, json_type_boolean))
                return fail(&c, -EBADMSG, "immutable", "not a boolean but %s", json_type_text(v));
        json_object_object_get_ex(doc, "data", &v);
        r = get_string(&c, v, "data", 2 * RELEASE_POLICY_SIZE_MAX, &s, &len);
        if (r < 0)
                return r;
        r = base64url_decode(s, len, RELEASE_POLICY_SIZE_MAX, ret, ret_size);
        if (r == -E2BIG)
                return fail(&c, r, "data", "decodes to more than %u bytes",
                            RELEASE_POLICY_SIZE_MAX);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(&c, -EBADMSG, "data", "not base64url");
        return 0;
}

int release_policy_parse(const char *text, size_t size, ReleasePolicy **ret, Diag *d) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        Compiler c = {.prefix = "", .d = d};
        int r;

        if (!ret || (!text && size > 0))
                return diag_set(d, -EINVAL, "release policy: invalid arguments");
        if (size == 0)
                return diag_set(d, -EBADMSG, "policy: empty");
        r = parse_json(text, size, "", &doc, d);
        if (r < 0)
                return r;
        if (json_object_is_type(doc, json_type_object) &&
            json_object_object_get_ex(doc, "data", NULL)) {
                _cleanup_(freep) uint8_t *inner = NULL;
                size_t inner_size;

                r = unwrap_key_form(doc, &inner, &inner_size, d);
                if (r < 0)
                        return r;
                json_object_put(TAKE_PTR(doc));
                c.prefix = "data: ";
                if (inner_size == 0)
                        return fail(&c, -EBADMSG, "", "empty");
                r = parse_json((const char *) inner, inner_size, c.prefix, &doc, d);
                if (r < 0)
                        return r;
        }
        return compile_policy(&c, doc, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Evaluation: reads p and the claims, writes only the verdict                                 */

_printf_(3, 4) static bool why_set(char *why, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(why, size, fmt, ap);
        va_end(ap);
        return false;
}

/* The claim n names, or NULL when it is absent, null, or its path crosses a non-object. */
static json_object *claim_lookup(json_object *claims, const RpNode *n) {
        json_object *o = claims;

        for (size_t i = 0; i < n->n_segments; i++) {
                json_object *v;

                if (!json_object_is_type(o, json_type_object) ||
                    !json_object_object_get_ex(o, n->segments[i], &v))
                        return NULL;
                o = v;
        }
        return o;
}

static bool op_holds(RpOp op, RpOrder o) {
        switch (op) {
        case RP_OP_LESS:
                return o == RP_ORDER_LESS;
        case RP_OP_LESS_OR_EQUALS:
                return o == RP_ORDER_LESS || o == RP_ORDER_EQUAL;
        case RP_OP_GREATER:
                return o == RP_ORDER_GREATER;
        case RP_OP_GREATER_OR_EQUALS:
                return o == RP_ORDER_GREATER || o == RP_ORDER_EQUAL;
        default:
                return false;
        }
}

static bool eval_claim(const RpNode *n, json_object *claims, char *why, size_t size) {
        char name[PRINTABLE_BUF], have[PRINTABLE_BUF + 8], want[PRINTABLE_BUF + 8];
        json_object *o;
        RpValue c;
        bool holds;

        printable_str(n->claim, name);
        o = claim_lookup(claims, n);
        if (!o || !value_from_json(o, &c))
                return why_set(why, size, "%s: claim %s is missing", n->path, name);
        if (n->op == RP_OP_EXISTS)
                return true;
        value_format(&c, have, sizeof(have));
        value_format(&n->value, want, sizeof(want));
        if (op_is_ordering(n->op)) {
                RpOrder order = c.type == RP_TYPE_NUMBER ? number_order(&c.num, &n->value.num)
                                                         : RP_ORDER_NONE;
                if (order == RP_ORDER_NONE)
                        return why_set(why, size, "%s: claim %s is %s, not a number %s can order",
                                       n->path, name, type_names[c.type], op_names[n->op]);
                holds = op_holds(n->op, order);
        } else {
                int eq = value_equal(&n->value, &c);

                if (eq < 0)
                        return why_set(why, size,
                                       "%s: claim %s is %s, which %s %s cannot compare with",
                                       n->path, name, type_names[c.type], op_names[n->op], want);
                holds = n->op == RP_OP_EQUALS ? eq : !eq;
        }
        if (!holds)
                return why_set(why, size, "%s: claim %s is %s, not %s %s", n->path, name, have,
                               op_names[n->op], want);
        return true;
}

static bool eval_node(const RpNode *n, json_object *claims, char *why, size_t size) {
        char first[sizeof(((ReleaseVerdict *) NULL)->reason)];

        switch (n->kind) {
        case RP_NODE_CLAIM:
                return eval_claim(n, claims, why, size);
        case RP_NODE_ALL_OF:
                for (size_t i = 0; i < n->n_children; i++)
                        if (!eval_node(n->children[i], claims, why, size))
                                return false;
                return true;
        case RP_NODE_ANY_OF:
                first[0] = '\0';
                for (size_t i = 0; i < n->n_children; i++)
                        if (eval_node(n->children[i], claims, i == 0 ? first : why,
                                      i == 0 ? sizeof(first) : size))
                                return true;
                return why_set(why, size,
                               "%s: no condition of its anyOf holds (%zu tried; first: %s)",
                               n->path, n->n_children, first);
        }
        return why_set(why, size, "%s: unknown condition", n->path);
}

bool release_policy_names_authority(const ReleasePolicy *p, const char *authority) {
        char norm[RELEASE_POLICY_AUTHORITY_MAX + 1];

        if (!p || !authority || !authority_normalize(authority, norm))
                return false;
        for (size_t i = 0; i < p->n_authorities; i++)
                if (streq(p->authorities[i].normalized, norm))
                        return true;
        return false;
}

int release_policy_evaluate(const ReleasePolicy *p, const char *authority, json_object *claims,
                            ReleaseVerdict *ret, Diag *d) {
        char norm[RELEASE_POLICY_AUTHORITY_MAX + 1], iss[PRINTABLE_BUF];
        ReleaseVerdict v = {};
        size_t matched = 0;

        if (!p || !ret)
                return diag_set(d, -EINVAL, "release policy: invalid arguments");

        if (!authority)
                (void) why_set(v.reason, sizeof(v.reason), "the token has no issuer");
        else if (!json_object_is_type(claims, json_type_object))
                (void) why_set(v.reason, sizeof(v.reason),
                               "the token's claims are not a JSON object");
        else if (!authority_normalize(authority, norm))
                (void) why_set(v.reason, sizeof(v.reason),
                               "the token's issuer is longer than %u bytes",
                               RELEASE_POLICY_AUTHORITY_MAX);
        else {
                char why[sizeof(v.reason)];

                for (size_t i = 0; i < p->n_authorities; i++) {
                        const RpAuthority *a = &p->authorities[i];

                        if (!streq(a->normalized, norm))
                                continue;
                        /* The first matching entry's failure explains best; later ones may
                         * still release. */
                        if (eval_node(a->root, claims, matched == 0 ? v.reason : why,
                                      sizeof(why))) {
                                v.released = true;
                                (void) snprintf(v.reason, sizeof(v.reason),
                                                "released by anyOf[%zu] (authority %s)", i,
                                                a->authority);
                                break;
                        }
                        matched++;
                }
                if (matched == 0 && !v.released)
                        (void) why_set(v.reason, sizeof(v.reason),
                                       "no authority of the policy "
                                       "matches the token's issuer \"%s\"",
                                       printable_str(authority, iss));
        }
        *ret = v;
        return 0;
}
