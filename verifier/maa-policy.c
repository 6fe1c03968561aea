/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MAA policy language (../shared/spec/maa.md §5, MicrosoftDocs claim-rule-grammar.md,
 * claim-rule-functions.md, policy-version-1-2.md): a lexer and recursive-descent parser into a
 * rule tree, a JmesPath subset compiled to a Pratt-parsed AST (the same binding powers as the
 * JMESPath reference implementation), and an evaluator over a claim set.
 *
 * Semantics chosen where the documents are loose (see maa-policy.h for the rest):
 *  - An identifier names the *set* of claims its condition matched ("the claim/s that satisfy
 *    the condition"), so c.value is a set when several claims matched; the action runs once per
 *    rule, as the IsSubsetOf example of claim-rule-functions.md requires. A property condition
 *    against a set holds when it holds for some element (for != : for every element).
 *  - A value that is a set, when given to add()/issue(), adds one claim per element (the
 *    JsonToClaimValue array example); an empty value (JSON null) adds nothing.
 *  - add(claim=c) / issue(claim=c) add copies with issuer "AttestationPolicy" (unconfirmed).
 *  - Authorization: every rule runs in order until a deny() runs; deny wins over permit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/codec.h"
#include "common/diag.h"
#include "common/json-util.h"
#include "verifier/maa-policy.h"

#define ISSUER_SERVICE "AttestationService"
#define ISSUER_POLICY  "AttestationPolicy"

/* Evaluation caps beyond the public ones. */
#define EVAL_BYTES_MAX      (64u * 1024u * 1024u) /* all strings made by one evaluation */
#define JSON_TEXT_DEPTH_MAX 64                    /* JSON text parsed from claim values */
#define JP_QUERY_MAX        (16u * 1024u)
#define JP_DEPTH_MAX        64u
#define JP_STEPS_MAX        (1u << 22)

static int array_grow(void **p, size_t *n_alloc, size_t need, size_t size) {
        size_t n, bytes;
        void *q;

        if (need <= *n_alloc)
                return 0;
        n = MAX(need, MAX(*n_alloc * 2, (size_t) 4));
        if (__builtin_mul_overflow(n, size, &bytes))
                return -ENOMEM;
        q = realloc(*p, bytes);
        if (!q)
                return -ENOMEM;
        *p = q;
        *n_alloc = n;
        return 0;
}
#define GROW(array, n_alloc, need) \
        array_grow((void **) &(array), &(n_alloc), (need), sizeof(*(array)))

/*
 * JSON text of exactly len bytes followed by a NUL (json-c needs that NUL to finish a top-level
 * number or literal). JSON null gives 0 and *ret = NULL. Strict; no NUL bytes inside.
 */
static int json_text_parse(const char *s, size_t len, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t end;
        int r = 0;

        if (len > MAA_POLICY_STRING_MAX)
                return -E2BIG;
        if (memchr(s, '\0', len))
                return -EBADMSG;
        tok = json_tokener_new_ex(JSON_TEXT_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, s, (int) len + 1);
        if (json_tokener_get_error(tok) != json_tokener_success)
                r = -EBADMSG;
        else
                for (end = json_tokener_get_parse_end(tok); end < len; end++)
                        if (!strchr(" \t\r\n", s[end])) {
                                r = -EBADMSG;
                                break;
                        }
        json_tokener_free(tok);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

static const char *json_text(json_object *o, size_t *ret_len) {
        const char *s;

        if (!o) {
                *ret_len = 4;
                return "null";
        }
        s = json_object_to_json_string_length(
                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, ret_len);
        if (!s)
                *ret_len = 0;
        return s;
}

static bool json_is_number(json_object *o) {
        return json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double);
}

/* JMESPath equality: numbers by value (1 == 1.0), everything else structurally. */
static bool json_equal(json_object *a, json_object *b, unsigned depth) {
        size_t n;

        if (!a || !b)
                return !a && !b;
        if (depth > JSON_TEXT_DEPTH_MAX + JP_DEPTH_MAX)
                return false;
        if (json_is_number(a) && json_is_number(b)) {
                if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int))
                        return json_object_get_int64(a) == json_object_get_int64(b) &&
                               json_object_get_uint64(a) == json_object_get_uint64(b);
                return json_object_get_double(a) == json_object_get_double(b);
        }
        if (json_object_get_type(a) != json_object_get_type(b))
                return false;
        switch (json_object_get_type(a)) {
        case json_type_boolean:
                return json_object_get_boolean(a) == json_object_get_boolean(b);
        case json_type_string:
                return json_object_get_string_len(a) == json_object_get_string_len(b) &&
                       memcmp(json_object_get_string(a), json_object_get_string(b),
                              (size_t) json_object_get_string_len(a)) == 0;
        case json_type_array:
                n = json_object_array_length(a);
                if (n != json_object_array_length(b))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (!json_equal(json_object_array_get_idx(a, i),
                                        json_object_array_get_idx(b, i), depth + 1))
                                return false;
                return true;
        case json_type_object: {
                json_object *v;

                if (json_object_object_length(a) != json_object_object_length(b))
                        return false;
                json_object_object_foreach(a, key, val) {
                        if (!json_object_object_get_ex(b, key, &v) ||
                            !json_equal(val, v, depth + 1))
                                return false;
                }
                return true;
        }
        default:
                return false;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* JmesPath: tokens, AST, parser                                                               */

typedef enum JpTokKind {
        JT_EOF,
        JT_IDENT,
        JT_QIDENT,
        JT_NUMBER,
        JT_LITERAL,
        JT_RAW,
        JT_DOT,
        JT_STAR,
        JT_AT,
        JT_LBRACKET,
        JT_RBRACKET,
        JT_FILTER,
        JT_FLATTEN,
        JT_LPAREN,
        JT_RPAREN,
        JT_COMMA,
        JT_COLON,
        JT_PIPE,
        JT_OR,
        JT_AND,
        JT_NOT,
        JT_EQ,
        JT_NE,
        JT_LT,
        JT_LE,
        JT_GT,
        JT_GE,
        JT_LBRACE,
        JT_RBRACE,
        JT_EXPREF,
        _JT_MAX,
} JpTokKind;

/* Binding powers of the JMESPath reference parser (jmespath.py Parser.BINDING_POWER). */
static const uint8_t jp_bp[_JT_MAX] = {
        [JT_PIPE] = 1,      [JT_OR] = 2,      [JT_AND] = 3,  [JT_EQ] = 5,   [JT_NE] = 5,
        [JT_LT] = 5,        [JT_LE] = 5,      [JT_GT] = 5,   [JT_GE] = 5,   [JT_FLATTEN] = 9,
        [JT_STAR] = 20,     [JT_FILTER] = 21, [JT_DOT] = 40, [JT_NOT] = 45, [JT_LBRACE] = 50,
        [JT_LBRACKET] = 55, [JT_LPAREN] = 60,
};
#define JP_PROJECTION_STOP 10

typedef struct JpTok {
        JpTokKind kind;
        size_t off;
        char *str;        /* JT_IDENT, JT_QIDENT */
        json_object *lit; /* JT_LITERAL, JT_RAW */
        int64_t num;      /* JT_NUMBER */
} JpTok;

typedef enum JpKind {
        JN_CURRENT,
        JN_FIELD,
        JN_INDEX,
        JN_LITERAL,
        JN_SUBEXPR, /* also index expressions and pipes: evaluate a, then b on its result */
        JN_PROJECTION,
        JN_VALUE_PROJECTION,
        JN_FILTER_PROJECTION,
        JN_FLATTEN,
        JN_OR,
        JN_AND,
        JN_NOT,
        JN_CMP,
        JN_FUNCTION,
} JpKind;

typedef enum JpFunc {
        JF_LENGTH,
        JF_CONTAINS,
        JF_STARTS_WITH,
        JF_ENDS_WITH,
        JF_EQUALS_IGNORE_CASE,
        JF_NOT_NULL,
        JF_TO_STRING,
        _JF_MAX,
} JpFunc;

static const struct {
        const char *name;
        unsigned min_args, max_args;
} jp_funcs[_JF_MAX] = {
        [JF_LENGTH] = {"length", 1, 1},
        [JF_CONTAINS] = {"contains", 2, 2},
        [JF_STARTS_WITH] = {"starts_with", 2, 2},
        [JF_ENDS_WITH] = {"ends_with", 2, 2},
        [JF_EQUALS_IGNORE_CASE] = {"equals_ignore_case", 2, 2},
        [JF_NOT_NULL] = {"not_null", 1, 16},
        [JF_TO_STRING] = {"to_string", 1, 1},
};

typedef struct JpNode {
        JpKind kind;
        unsigned depth;
        JpTokKind op;     /* JN_CMP */
        JpFunc func;      /* JN_FUNCTION */
        char *name;       /* JN_FIELD */
        bool quoted;      /* JN_FIELD from a quoted identifier */
        int64_t index;    /* JN_INDEX */
        json_object *lit; /* JN_LITERAL; never handed out, only deep copies */
        struct JpNode *a, *b, *cond;
        struct JpNode **args;
        size_t n_args;
} JpNode;

static JpNode *jp_node_free(JpNode *n) {
        if (!n)
                return NULL;
        free(n->name);
        json_object_put(n->lit);
        jp_node_free(n->a);
        jp_node_free(n->b);
        jp_node_free(n->cond);
        for (size_t i = 0; i < n->n_args; i++)
                jp_node_free(n->args[i]);
        free(n->args);
        free(n);
        return NULL;
}
DEFINE_CLEANUP_FUNC(JpNode *, jp_node_free);

typedef struct JpParser {
        const char *q;
        size_t len;
        JpTok *toks;
        size_t n_toks, n_alloc, pos;
        unsigned depth;
        size_t err_off;
        char err[128];
} JpParser;

static void jp_parser_done(JpParser *p) {
        for (size_t i = 0; i < p->n_toks; i++) {
                free(p->toks[i].str);
                json_object_put(p->toks[i].lit);
        }
        free(p->toks);
}

_printf_(3, 4) static int jp_error(JpParser *p, size_t off, const char *fmt, ...) {
        va_list ap;

        if (!p->err[0]) {
                va_start(ap, fmt);
                (void) vsnprintf(p->err, sizeof(p->err), fmt, ap);
                va_end(ap);
                p->err_off = off;
        }
        return -EBADMSG;
}

static bool is_ident_start(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}
static bool is_ident_char(char c) {
        return is_ident_start(c) || is_digit(c);
}

/* The text between delimiters at q[start..end) with "\<delim>" (and, for raw strings, "\\")
 * unescaped; other backslashes stay. */
static char *jp_unescape(const char *s, size_t n, char delim, bool raw, size_t *ret_len) {
        char *out = malloc(n + 1);
        size_t k = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 1 < n && (s[i + 1] == delim || (raw && s[i + 1] == '\\')))
                        i++;
                out[k++] = s[i];
        }
        out[k] = '\0';
        *ret_len = k;
        return out;
}

/* Position of the closing delimiter from q[i] (just after the opening one), skipping
 * backslash escapes; len if there is none. */
static size_t jp_find_close(const char *q, size_t len, size_t i, char delim) {
        for (; i < len; i++) {
                if (q[i] == '\\' && i + 1 < len)
                        i++;
                else if (q[i] == delim)
                        return i;
        }
        return len;
}

static int jp_lex(JpParser *p) {
        const char *q = p->q;
        size_t i = 0, len = p->len;
        int r;

        for (;;) {
                JpTok t = {};
                size_t start, end;

                while (i < len && q[i] && strchr(" \t\r\n", q[i]))
                        i++;
                r = GROW(p->toks, p->n_alloc, p->n_toks + 1);
                if (r < 0)
                        return r;
                t.off = i;
                if (i >= len) {
                        t.kind = JT_EOF;
                        p->toks[p->n_toks++] = t;
                        return 0;
                }
                char c = q[i], c1 = i + 1 < len ? q[i + 1] : '\0';
                if (is_ident_start(c)) {
                        start = i;
                        while (i < len && is_ident_char(q[i]))
                                i++;
                        t.kind = JT_IDENT;
                        t.str = strndup(q + start, i - start);
                        if (!t.str)
                                return -ENOMEM;
                } else if (c == '"') {
                        json_object *o = NULL;

                        end = jp_find_close(q, len, i + 1, '"');
                        if (end >= len)
                                return jp_error(p, i, "unterminated quoted identifier");
                        _cleanup_(freep) char *buf = strndup(q + i, end + 1 - i);
                        if (!buf)
                                return -ENOMEM;
                        r = json_text_parse(buf, end + 1 - i, &o);
                        if (r < 0 || !json_object_is_type(o, json_type_string) ||
                            strlen(json_object_get_string(o)) !=
                                    (size_t) json_object_get_string_len(o)) {
                                json_object_put(o);
                                return r == -ENOMEM ? r
                                                    : jp_error(p, i, "invalid quoted identifier");
                        }
                        t.kind = JT_QIDENT;
                        t.str = strdup(json_object_get_string(o));
                        json_object_put(o);
                        if (!t.str)
                                return -ENOMEM;
                        i = end + 1;
                } else if (c == '`' || c == '\'') {
                        size_t n;

                        end = jp_find_close(q, len, i + 1, c);
                        if (end >= len)
                                return jp_error(p, i, "unterminated %s",
                                                c == '`' ? "literal" : "raw string");
                        _cleanup_(freep) char *buf =
                                jp_unescape(q + i + 1, end - i - 1, c, c == '\'', &n);
                        if (!buf)
                                return -ENOMEM;
                        if (c == '`') {
                                r = json_text_parse(buf, n, &t.lit);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0)
                                        return jp_error(p, i, "invalid JSON literal");
                                t.kind = JT_LITERAL;
                        } else {
                                t.lit = json_object_new_string_len(buf, (int) n);
                                if (!t.lit)
                                        return -ENOMEM;
                                t.kind = JT_RAW;
                        }
                        i = end + 1;
                } else if (is_digit(c) || (c == '-' && is_digit(c1))) {
                        bool neg = c == '-';
                        uint64_t v = 0;

                        if (neg)
                                i++;
                        for (; i < len && is_digit(q[i]); i++)
                                if (__builtin_mul_overflow(v, 10, &v) ||
                                    __builtin_add_overflow(v, (uint64_t) (q[i] - '0'), &v) ||
                                    v > (uint64_t) INT64_MAX)
                                        return jp_error(p, t.off, "number out of range");
                        t.kind = JT_NUMBER;
                        t.num = neg ? -(int64_t) v : (int64_t) v;
                } else {
                        static const struct {
                                const char *s;
                                JpTokKind kind;
                        } punct[] = {
                                {"[?", JT_FILTER},  {"[]", JT_FLATTEN}, {"||", JT_OR},
                                {"&&", JT_AND},     {"!=", JT_NE},      {"==", JT_EQ},
                                {"<=", JT_LE},      {">=", JT_GE},      {"[", JT_LBRACKET},
                                {"]", JT_RBRACKET}, {".", JT_DOT},      {"*", JT_STAR},
                                {"@", JT_AT},       {"(", JT_LPAREN},   {")", JT_RPAREN},
                                {",", JT_COMMA},    {":", JT_COLON},    {"|", JT_PIPE},
                                {"!", JT_NOT},      {"<", JT_LT},       {">", JT_GT},
                                {"{", JT_LBRACE},   {"}", JT_RBRACE},   {"&", JT_EXPREF},
                        };
                        size_t k;

                        for (k = 0; k < ELEMENTSOF(punct); k++) {
                                size_t n = strlen(punct[k].s);
                                if (n <= len - i && memcmp(q + i, punct[k].s, n) == 0) {
                                        t.kind = punct[k].kind;
                                        i += n;
                                        break;
                                }
                        }
                        if (k == ELEMENTSOF(punct))
                                return jp_error(p, i, "unexpected character");
                }
                p->toks[p->n_toks++] = t;
        }
}

static const JpTok *jp_cur(const JpParser *p) {
        return &p->toks[p->pos];
}
static JpTokKind jp_kind(const JpParser *p, size_t ahead) {
        return p->pos + ahead < p->n_toks ? p->toks[p->pos + ahead].kind : JT_EOF;
}
static void jp_advance(JpParser *p) {
        if (p->toks[p->pos].kind != JT_EOF)
                p->pos++;
}
static int jp_expect(JpParser *p, JpTokKind kind, const char *what) {
        if (jp_kind(p, 0) != kind)
                return jp_error(p, jp_cur(p)->off, "expected %s", what);
        jp_advance(p);
        return 0;
}

/* A new node owning a and b (freed on failure too). */
static int jp_node(JpParser *p, JpKind kind, JpNode *a, JpNode *b, JpNode **ret) {
        JpNode *n;
        unsigned depth = MAX(a ? a->depth : 0, b ? b->depth : 0) + 1;

        if (depth > JP_DEPTH_MAX) {
                jp_node_free(a);
                jp_node_free(b);
                return jp_error(p, jp_cur(p)->off, "query nested too deeply");
        }
        n = calloc(1, sizeof(*n));
        if (!n) {
                jp_node_free(a);
                jp_node_free(b);
                return -ENOMEM;
        }
        n->kind = kind;
        n->a = a;
        n->b = b;
        n->depth = depth;
        *ret = n;
        return 0;
}

static int jp_expression(JpParser *p, unsigned bp, JpNode **ret);

static int jp_dot_rhs(JpParser *p, unsigned bp, JpNode **ret) {
        switch (jp_kind(p, 0)) {
        case JT_IDENT:
        case JT_QIDENT:
        case JT_STAR:
                return jp_expression(p, bp, ret);
        case JT_LBRACKET:
        case JT_LBRACE:
                return jp_error(p, jp_cur(p)->off, "multi-select is not supported");
        default:
                return jp_error(p, jp_cur(p)->off, "expected an identifier after '.'");
        }
}

static int jp_projection_rhs(JpParser *p, unsigned bp, JpNode **ret) {
        JpTokKind k = jp_kind(p, 0);

        if (jp_bp[k] < JP_PROJECTION_STOP)
                return jp_node(p, JN_CURRENT, NULL, NULL, ret);
        if (k == JT_LBRACKET || k == JT_FILTER)
                return jp_expression(p, bp, ret);
        if (k == JT_DOT) {
                jp_advance(p);
                return jp_dot_rhs(p, bp, ret);
        }
        return jp_error(p, jp_cur(p)->off, "expected '.', '[' or '[?'");
}

/* After '[' with a number current: [n] */
static int jp_index(JpParser *p, JpNode **ret) {
        int64_t v = jp_cur(p)->num;
        int r;

        if (jp_kind(p, 1) == JT_COLON)
                return jp_error(p, jp_cur(p)->off, "slices are not supported");
        jp_advance(p);
        r = jp_expect(p, JT_RBRACKET, "']'");
        if (r < 0)
                return r;
        r = jp_node(p, JN_INDEX, NULL, NULL, ret);
        if (r < 0)
                return r;
        (*ret)->index = v;
        return 0;
}

/* Projection kinds own left and right; the filter also cond. */
static int jp_projection(JpParser *p, JpKind kind, JpNode *left, JpNode *right, JpNode *cond,
                         JpNode **ret) {
        int r;

        if (cond && cond->depth + 1 > JP_DEPTH_MAX) {
                jp_node_free(left);
                jp_node_free(right);
                jp_node_free(cond);
                return jp_error(p, jp_cur(p)->off, "query nested too deeply");
        }
        r = jp_node(p, kind, left, right, ret);
        if (r < 0) {
                jp_node_free(cond);
                return r;
        }
        (*ret)->cond = cond;
        return 0;
}

static int jp_filter(JpParser *p, JpNode *left, JpNode **ret) {
        _cleanup_(jp_node_freep) JpNode *cond = NULL, *right = NULL;
        int r;

        r = jp_expression(p, 0, &cond);
        if (r >= 0)
                r = jp_expect(p, JT_RBRACKET, "']'");
        if (r >= 0) {
                if (jp_kind(p, 0) == JT_FLATTEN)
                        r = jp_node(p, JN_CURRENT, NULL, NULL, &right);
                else
                        r = jp_projection_rhs(p, jp_bp[JT_FILTER], &right);
        }
        if (r < 0) {
                jp_node_free(left);
                return r;
        }
        return jp_projection(p, JN_FILTER_PROJECTION, left, TAKE_PTR(right), TAKE_PTR(cond), ret);
}

static int jp_nud(JpParser *p, JpNode **ret) {
        JpTok *t = &p->toks[p->pos];
        JpNode *left = NULL, *right = NULL;
        int r;

        jp_advance(p);
        switch (t->kind) {
        case JT_LITERAL:
        case JT_RAW:
                r = jp_node(p, JN_LITERAL, NULL, NULL, ret);
                if (r < 0)
                        return r;
                (*ret)->lit = TAKE_PTR(t->lit);
                return 0;
        case JT_IDENT:
        case JT_QIDENT:
                if (t->kind == JT_QIDENT && jp_kind(p, 0) == JT_LPAREN)
                        return jp_error(p, t->off, "a quoted identifier is not a function");
                r = jp_node(p, JN_FIELD, NULL, NULL, ret);
                if (r < 0)
                        return r;
                (*ret)->name = TAKE_PTR(t->str);
                (*ret)->quoted = t->kind == JT_QIDENT;
                return 0;
        case JT_STAR:
                r = jp_node(p, JN_CURRENT, NULL, NULL, &left);
                if (r < 0)
                        return r;
                if (jp_kind(p, 0) == JT_RBRACKET)
                        r = jp_node(p, JN_CURRENT, NULL, NULL, &right);
                else
                        r = jp_projection_rhs(p, jp_bp[JT_STAR], &right);
                if (r < 0) {
                        jp_node_free(left);
                        return r;
                }
                return jp_projection(p, JN_VALUE_PROJECTION, left, right, NULL, ret);
        case JT_FILTER:
                r = jp_node(p, JN_CURRENT, NULL, NULL, &left);
                if (r < 0)
                        return r;
                return jp_filter(p, left, ret);
        case JT_LPAREN:
                r = jp_expression(p, 0, &left);
                if (r < 0)
                        return r;
                r = jp_expect(p, JT_RPAREN, "')'");
                if (r < 0) {
                        jp_node_free(left);
                        return r;
                }
                *ret = left;
                return 0;
        case JT_FLATTEN:
                r = jp_node(p, JN_CURRENT, NULL, NULL, &left);
                if (r >= 0)
                        r = jp_node(p, JN_FLATTEN, left, NULL, &left);
                if (r < 0)
                        return r;
                r = jp_projection_rhs(p, jp_bp[JT_FLATTEN], &right);
                if (r < 0) {
                        jp_node_free(left);
                        return r;
                }
                return jp_projection(p, JN_PROJECTION, left, right, NULL, ret);
        case JT_NOT:
                r = jp_expression(p, jp_bp[JT_NOT], &left);
                if (r < 0)
                        return r;
                return jp_node(p, JN_NOT, left, NULL, ret);
        case JT_LBRACKET:
                if (jp_kind(p, 0) == JT_NUMBER) {
                        r = jp_node(p, JN_CURRENT, NULL, NULL, &left);
                        if (r < 0)
                                return r;
                        r = jp_index(p, &right);
                        if (r < 0) {
                                jp_node_free(left);
                                return r;
                        }
                        return jp_node(p, JN_SUBEXPR, left, right, ret);
                }
                if (jp_kind(p, 0) == JT_COLON)
                        return jp_error(p, jp_cur(p)->off, "slices are not supported");
                if (jp_kind(p, 0) == JT_STAR && jp_kind(p, 1) == JT_RBRACKET) {
                        jp_advance(p);
                        jp_advance(p);
                        r = jp_node(p, JN_CURRENT, NULL, NULL, &left);
                        if (r < 0)
                                return r;
                        r = jp_projection_rhs(p, jp_bp[JT_STAR], &right);
                        if (r < 0) {
                                jp_node_free(left);
                                return r;
                        }
                        return jp_projection(p, JN_PROJECTION, left, right, NULL, ret);
                }
                return jp_error(p, t->off, "multi-select lists are not supported");
        case JT_AT:
                return jp_node(p, JN_CURRENT, NULL, NULL, ret);
        case JT_LBRACE:
                return jp_error(p, t->off, "multi-select hashes are not supported");
        case JT_EXPREF:
                return jp_error(p, t->off, "expression references are not supported");
        default:
                return jp_error(p, t->off, "expected an expression");
        }
}

static int jp_function(JpParser *p, JpNode *left, JpNode **ret) {
        _cleanup_(jp_node_freep) JpNode *fn = left;
        /* the name, before the '(' just consumed */
        size_t off = p->pos >= 2 ? p->toks[p->pos - 2].off : 0;
        JpFunc f;
        int r;

        if (fn->kind != JN_FIELD || fn->quoted)
                return jp_error(p, off, "expected a function name before '('");
        for (f = 0; f < _JF_MAX; f++)
                if (streq(fn->name, jp_funcs[f].name))
                        break;
        if (f == _JF_MAX)
                return jp_error(p, off, "unknown function %.40s()", fn->name);
        free(TAKE_PTR(fn->name));
        fn->kind = JN_FUNCTION;
        fn->func = f;
        while (jp_kind(p, 0) != JT_RPAREN) {
                JpNode *arg = NULL;

                if (fn->n_args > 0) {
                        r = jp_expect(p, JT_COMMA, "',' or ')'");
                        if (r < 0)
                                return r;
                }
                if (fn->n_args >= jp_funcs[f].max_args)
                        return jp_error(p, jp_cur(p)->off, "too many arguments to %s()",
                                        jp_funcs[f].name);
                r = jp_expression(p, 0, &arg);
                if (r < 0)
                        return r;
                if (arg->depth + 1 > JP_DEPTH_MAX) {
                        jp_node_free(arg);
                        return jp_error(p, off, "query nested too deeply");
                }
                JpNode **a = reallocarray(fn->args, fn->n_args + 1, sizeof(*a));
                if (!a) {
                        jp_node_free(arg);
                        return -ENOMEM;
                }
                fn->args = a;
                fn->args[fn->n_args++] = arg;
                fn->depth = MAX(fn->depth, arg->depth + 1);
        }
        jp_advance(p);
        if (fn->n_args < jp_funcs[f].min_args)
                return jp_error(p, off, "too few arguments to %s()", jp_funcs[f].name);
        *ret = TAKE_PTR(fn);
        return 0;
}

/* Consumes left (freed on failure). */
static int jp_led(JpParser *p, JpTokKind kind, JpNode *left, JpNode **ret) {
        JpNode *right = NULL;
        int r;

        switch (kind) {
        case JT_DOT:
                if (jp_kind(p, 0) != JT_STAR) {
                        r = jp_dot_rhs(p, jp_bp[JT_DOT], &right);
                        if (r < 0)
                                break;
                        return jp_node(p, JN_SUBEXPR, left, right, ret);
                }
                jp_advance(p);
                r = jp_projection_rhs(p, jp_bp[JT_DOT], &right);
                if (r < 0)
                        break;
                return jp_projection(p, JN_VALUE_PROJECTION, left, right, NULL, ret);
        case JT_PIPE:
        case JT_OR:
        case JT_AND:
                r = jp_expression(p, jp_bp[kind], &right);
                if (r < 0)
                        break;
                return jp_node(p,
                               kind == JT_PIPE ? JN_SUBEXPR
                               : kind == JT_OR ? JN_OR
                                               : JN_AND,
                               left, right, ret);
        case JT_LPAREN:
                return jp_function(p, left, ret);
        case JT_FILTER:
                return jp_filter(p, left, ret);
        case JT_FLATTEN:
                r = jp_node(p, JN_FLATTEN, left, NULL, &left);
                if (r < 0)
                        return r;
                r = jp_projection_rhs(p, jp_bp[JT_FLATTEN], &right);
                if (r < 0)
                        break;
                return jp_projection(p, JN_PROJECTION, left, right, NULL, ret);
        case JT_LBRACKET:
                if (jp_kind(p, 0) == JT_NUMBER) {
                        r = jp_index(p, &right);
                        if (r < 0)
                                break;
                        return jp_node(p, JN_SUBEXPR, left, right, ret);
                }
                if (jp_kind(p, 0) == JT_COLON) {
                        r = jp_error(p, jp_cur(p)->off, "slices are not supported");
                        break;
                }
                r = jp_expect(p, JT_STAR, "a number, ':' or '*'");
                if (r >= 0)
                        r = jp_expect(p, JT_RBRACKET, "']'");
                if (r >= 0)
                        r = jp_projection_rhs(p, jp_bp[JT_STAR], &right);
                if (r < 0)
                        break;
                return jp_projection(p, JN_PROJECTION, left, right, NULL, ret);
        case JT_EQ:
        case JT_NE:
        case JT_LT:
        case JT_LE:
        case JT_GT:
        case JT_GE:
                r = jp_expression(p, jp_bp[kind], &right);
                if (r < 0)
                        break;
                r = jp_node(p, JN_CMP, left, right, ret);
                if (r < 0)
                        return r;
                (*ret)->op = kind;
                return 0;
        default:
                r = jp_error(p, jp_cur(p)->off, "unexpected token");
                break;
        }
        jp_node_free(left);
        return r;
}

static int jp_expression(JpParser *p, unsigned bp, JpNode **ret) {
        JpNode *left = NULL;
        int r;

        if (++p->depth > JP_DEPTH_MAX)
                return jp_error(p, jp_cur(p)->off, "query nested too deeply");
        r = jp_nud(p, &left);
        while (r >= 0 && bp < jp_bp[jp_kind(p, 0)]) {
                JpTokKind k = jp_kind(p, 0);

                jp_advance(p);
                r = jp_led(p, k, left, &left);
        }
        p->depth--;
        if (r < 0)
                return r;
        *ret = left;
        return 0;
}

/* Compiles a query; on a syntax error -EBADMSG with err/err_off describing it. */
static int jp_compile(const char *q, size_t len, JpNode **ret, char *err, size_t err_size,
                      size_t *ret_err_off) {
        JpParser p = {.q = q, .len = len};
        JpNode *n = NULL;
        int r;

        if (len > JP_QUERY_MAX) {
                (void) snprintf(err, err_size, "query longer than %u bytes", JP_QUERY_MAX);
                *ret_err_off = 0;
                return -E2BIG;
        }
        if (memchr(q, '\0', len)) {
                (void) snprintf(err, err_size, "NUL byte in query");
                *ret_err_off = 0;
                return -EBADMSG;
        }
        r = jp_lex(&p);
        if (r >= 0 && p.toks[0].kind == JT_EOF)
                r = jp_error(&p, 0, "empty query");
        if (r >= 0)
                r = jp_expression(&p, 0, &n);
        if (r >= 0 && jp_kind(&p, 0) != JT_EOF) {
                n = jp_node_free(n);
                r = jp_error(&p, jp_cur(&p)->off, "unexpected token after expression");
        }
        if (r < 0) {
                (void) snprintf(err, err_size, "%s", p.err[0] ? p.err : "out of memory");
                *ret_err_off = p.err_off;
        } else
                *ret = n;
        jp_parser_done(&p);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* JmesPath: evaluation                                                                        */

typedef struct JpCtx {
        uint64_t steps;
        const char *err;
} JpCtx;

static bool jp_truthy(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                return false;
        case json_type_boolean:
                return json_object_get_boolean(o);
        case json_type_string:
                return json_object_get_string_len(o) > 0;
        case json_type_array:
                return json_object_array_length(o) > 0;
        case json_type_object:
                return json_object_object_length(o) > 0;
        default:
                return true;
        }
}

static int jp_type_error(JpCtx *ctx, const char *what) {
        ctx->err = what;
        return -EBADMSG;
}

static int jp_array_add(json_object *arr, json_object *v) {
        if (json_object_array_add(arr, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int jp_eval(const JpNode *n, json_object *cur, JpCtx *ctx, json_object **ret);

static int jp_call(const JpNode *n, json_object *cur, JpCtx *ctx, json_object **ret) {
        json_object *args[16] = {};
        json_object *res = NULL;
        const char *s0, *s1;
        size_t l0, l1;
        int r = 0;

        for (size_t i = 0; i < n->n_args && i < ELEMENTSOF(args); i++) {
                r = jp_eval(n->args[i], cur, ctx, &args[i]);
                if (r < 0)
                        goto finish;
        }
        switch (n->func) {
        case JF_LENGTH:
                if (json_object_is_type(args[0], json_type_string)) {
                        int64_t count = 0;
                        s0 = json_object_get_string(args[0]);
                        l0 = (size_t) json_object_get_string_len(args[0]);
                        for (size_t i = 0; i < l0; i++)
                                if (((uint8_t) s0[i] & 0xC0) != 0x80)
                                        count++;
                        res = json_object_new_int64(count);
                } else if (json_object_is_type(args[0], json_type_array))
                        res = json_object_new_int64((int64_t) json_object_array_length(args[0]));
                else if (json_object_is_type(args[0], json_type_object))
                        res = json_object_new_int64(json_object_object_length(args[0]));
                else {
                        r = jp_type_error(ctx, "length() takes a string, array or object");
                        goto finish;
                }
                break;
        case JF_CONTAINS:
                if (json_object_is_type(args[0], json_type_array)) {
                        bool found = false;
                        for (size_t i = 0; i < json_object_array_length(args[0]) && !found; i++)
                                found = json_equal(json_object_array_get_idx(args[0], i), args[1],
                                                   0);
                        res = json_object_new_boolean(found);
                } else if (json_object_is_type(args[0], json_type_string) &&
                           json_object_is_type(args[1], json_type_string)) {
                        s0 = json_object_get_string(args[0]);
                        l0 = (size_t) json_object_get_string_len(args[0]);
                        s1 = json_object_get_string(args[1]);
                        l1 = (size_t) json_object_get_string_len(args[1]);
                        res = json_object_new_boolean(l1 == 0 || memmem(s0, l0, s1, l1));
                } else {
                        r = jp_type_error(ctx, "contains() takes an array or two strings");
                        goto finish;
                }
                break;
        case JF_STARTS_WITH:
        case JF_ENDS_WITH:
        case JF_EQUALS_IGNORE_CASE:
                if (!json_object_is_type(args[0], json_type_string) ||
                    !json_object_is_type(args[1], json_type_string)) {
                        if (n->func == JF_EQUALS_IGNORE_CASE) {
                                /* MAA's extension; lenient (unconfirmed): not strings, not equal */
                                res = json_object_new_boolean(false);
                                break;
                        }
                        r = jp_type_error(ctx, "starts_with()/ends_with() take strings");
                        goto finish;
                }
                s0 = json_object_get_string(args[0]);
                l0 = (size_t) json_object_get_string_len(args[0]);
                s1 = json_object_get_string(args[1]);
                l1 = (size_t) json_object_get_string_len(args[1]);
                if (n->func == JF_STARTS_WITH)
                        res = json_object_new_boolean(l1 <= l0 && memcmp(s0, s1, l1) == 0);
                else if (n->func == JF_ENDS_WITH)
                        res = json_object_new_boolean(l1 <= l0 &&
                                                      memcmp(s0 + l0 - l1, s1, l1) == 0);
                else
                        res = json_object_new_boolean(l0 == l1 && strncasecmp(s0, s1, l0) == 0);
                break;
        case JF_NOT_NULL:
                for (size_t i = 0; i < n->n_args; i++)
                        if (args[i]) {
                                *ret = TAKE_PTR(args[i]);
                                goto finish;
                        }
                *ret = NULL;
                goto finish;
        case JF_TO_STRING:
                if (json_object_is_type(args[0], json_type_string)) {
                        *ret = TAKE_PTR(args[0]);
                        goto finish;
                }
                s0 = json_text(args[0], &l0);
                if (!s0) {
                        r = -ENOMEM;
                        goto finish;
                }
                res = json_object_new_string_len(s0, (int) l0);
                break;
        default:
                r = -EINVAL;
                goto finish;
        }
        if (!res)
                r = -ENOMEM;
        else
                *ret = res;
finish:
        for (size_t i = 0; i < ELEMENTSOF(args); i++)
                json_object_put(args[i]);
        return r;
}

static int jp_eval(const JpNode *n, json_object *cur, JpCtx *ctx, json_object **ret) {
        _cleanup_(json_object_putp) json_object *base = NULL, *out = NULL;
        json_object *v = NULL;
        int r;

        if (++ctx->steps > JP_STEPS_MAX) {
                ctx->err = "query takes too many steps";
                return -E2BIG;
        }
        switch (n->kind) {
        case JN_CURRENT:
                *ret = json_object_get(cur);
                return 0;
        case JN_FIELD:
                if (json_object_is_type(cur, json_type_object) &&
                    json_object_object_get_ex(cur, n->name, &v))
                        *ret = json_object_get(v);
                else
                        *ret = NULL;
                return 0;
        case JN_INDEX: {
                int64_t len, i = n->index;

                *ret = NULL;
                if (!json_object_is_type(cur, json_type_array))
                        return 0;
                len = (int64_t) json_object_array_length(cur);
                if (i < 0)
                        i += len;
                if (i >= 0 && i < len)
                        *ret = json_object_get(json_object_array_get_idx(cur, (size_t) i));
                return 0;
        }
        case JN_LITERAL:
                /* A copy: the compiled policy is never modified, not even a reference count. */
                *ret = NULL;
                if (n->lit && json_object_deep_copy(n->lit, ret, NULL) < 0)
                        return -ENOMEM;
                return 0;
        case JN_SUBEXPR:
                r = jp_eval(n->a, cur, ctx, &base);
                if (r < 0)
                        return r;
                return jp_eval(n->b, base, ctx, ret);
        case JN_PROJECTION:
        case JN_FILTER_PROJECTION:
        case JN_VALUE_PROJECTION: {
                size_t len;

                r = jp_eval(n->a, cur, ctx, &base);
                if (r < 0)
                        return r;
                *ret = NULL;
                if (n->kind == JN_VALUE_PROJECTION) {
                        /* object values, as an array */
                        if (!json_object_is_type(base, json_type_object))
                                return 0;
                        json_object *vals = json_object_new_array();
                        if (!vals)
                                return -ENOMEM;
                        json_object_object_foreach(base, key, val) {
                                (void) key;
                                r = jp_array_add(vals, json_object_get(val));
                                if (r < 0) {
                                        json_object_put(vals);
                                        return r;
                                }
                        }
                        json_object_put(base);
                        base = vals;
                } else if (!json_object_is_type(base, json_type_array))
                        return 0;
                out = json_object_new_array();
                if (!out)
                        return -ENOMEM;
                len = json_object_array_length(base);
                for (size_t i = 0; i < len; i++) {
                        json_object *elem = json_object_array_get_idx(base, i);

                        if (++ctx->steps > JP_STEPS_MAX) {
                                ctx->err = "query takes too many steps";
                                return -E2BIG;
                        }
                        if (n->cond) {
                                json_object *c = NULL;
                                bool t;

                                r = jp_eval(n->cond, elem, ctx, &c);
                                if (r < 0)
                                        return r;
                                t = jp_truthy(c);
                                json_object_put(c);
                                if (!t)
                                        continue;
                        }
                        r = jp_eval(n->b, elem, ctx, &v);
                        if (r < 0)
                                return r;
                        if (v) {
                                r = jp_array_add(out, v);
                                if (r < 0)
                                        return r;
                        }
                }
                *ret = TAKE_PTR(out);
                return 0;
        }
        case JN_FLATTEN: {
                size_t len;

                r = jp_eval(n->a, cur, ctx, &base);
                if (r < 0)
                        return r;
                *ret = NULL;
                if (!json_object_is_type(base, json_type_array))
                        return 0;
                out = json_object_new_array();
                if (!out)
                        return -ENOMEM;
                len = json_object_array_length(base);
                for (size_t i = 0; i < len; i++) {
                        json_object *elem = json_object_array_get_idx(base, i);

                        if (json_object_is_type(elem, json_type_array)) {
                                for (size_t k = 0; k < json_object_array_length(elem); k++) {
                                        if (++ctx->steps > JP_STEPS_MAX) {
                                                ctx->err = "query takes too many steps";
                                                return -E2BIG;
                                        }
                                        r = jp_array_add(
                                                out, json_object_get(
                                                             json_object_array_get_idx(elem, k)));
                                        if (r < 0)
                                                return r;
                                }
                        } else {
                                r = jp_array_add(out, json_object_get(elem));
                                if (r < 0)
                                        return r;
                        }
                }
                *ret = TAKE_PTR(out);
                return 0;
        }
        case JN_OR:
        case JN_AND:
                r = jp_eval(n->a, cur, ctx, &base);
                if (r < 0)
                        return r;
                if (jp_truthy(base) == (n->kind == JN_OR)) {
                        *ret = TAKE_PTR(base);
                        return 0;
                }
                return jp_eval(n->b, cur, ctx, ret);
        case JN_NOT:
                r = jp_eval(n->a, cur, ctx, &base);
                if (r < 0)
                        return r;
                *ret = json_object_new_boolean(!jp_truthy(base));
                return *ret ? 0 : -ENOMEM;
        case JN_CMP: {
                bool b;

                r = jp_eval(n->a, cur, ctx, &base);
                if (r < 0)
                        return r;
                r = jp_eval(n->b, cur, ctx, &out);
                if (r < 0)
                        return r;
                if (n->op == JT_EQ || n->op == JT_NE)
                        b = json_equal(base, out, 0) == (n->op == JT_EQ);
                else if (json_is_number(base) && json_is_number(out)) {
                        double x = json_object_get_double(base), y = json_object_get_double(out);
                        b = n->op == JT_LT   ? x < y
                            : n->op == JT_LE ? x <= y
                            : n->op == JT_GT ? x > y
                                             : x >= y;
                        if (json_object_is_type(base, json_type_int) &&
                            json_object_is_type(out, json_type_int)) {
                                int64_t a = json_object_get_int64(base),
                                        c = json_object_get_int64(out);
                                b = n->op == JT_LT   ? a < c
                                    : n->op == JT_LE ? a <= c
                                    : n->op == JT_GT ? a > c
                                                     : a >= c;
                        }
                } else {
                        *ret = NULL; /* ordering of non-numbers is null */
                        return 0;
                }
                *ret = json_object_new_boolean(b);
                return *ret ? 0 : -ENOMEM;
        }
        case JN_FUNCTION:
                return jp_call(n, cur, ctx, ret);
        }
        return -EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Claim values                                                                                */

/* A reference-counted string; json caches its parse when it holds JSON text. */
typedef struct MaaStr {
        unsigned n_ref;
        int json_state; /* 0 not parsed yet, 1 json is its parse (NULL: JSON null), -1 not JSON */
        json_object *json;
        size_t len;
        char text[]; /* NUL-terminated */
} MaaStr;

static MaaStr *str_unref(MaaStr *s) {
        if (s && --s->n_ref == 0) {
                json_object_put(s->json);
                free(s);
        }
        return NULL;
}
static MaaStr *str_ref(MaaStr *s) {
        s->n_ref++;
        return s;
}

typedef enum ValueKind {
        VALUE_EMPTY,
        VALUE_BOOL,
        VALUE_INT,
        VALUE_STRING,
        VALUE_SET,
} ValueKind;

typedef struct Value {
        ValueKind kind;
        bool read_only;
        bool b;
        int64_t i;
        MaaStr *s;
        struct Value *items; /* VALUE_SET: scalars */
        size_t n_items;
} Value;

static void value_done(Value *v) {
        str_unref(v->s);
        for (size_t i = 0; i < v->n_items; i++)
                value_done(&v->items[i]);
        free(v->items);
        *v = (Value){};
}

static int value_copy(const Value *src, Value *ret) {
        Value v = *src;

        v.items = NULL;
        v.n_items = 0;
        if (v.s)
                str_ref(v.s);
        if (src->n_items > 0) {
                v.items = calloc(src->n_items, sizeof(Value));
                if (!v.items) {
                        str_unref(v.s);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < src->n_items; i++) {
                        v.items[i] = src->items[i];
                        if (v.items[i].s)
                                str_ref(v.items[i].s);
                }
                v.n_items = src->n_items;
        }
        *ret = v;
        return 0;
}

static const char *value_type_name(ValueKind k) {
        return k == VALUE_BOOL ? "Boolean" : k == VALUE_INT ? "Integer" : "String";
}

/* A borrowed view of one scalar, for comparisons. */
typedef struct Scalar {
        ValueKind kind;
        bool b;
        int64_t i;
        const char *s;
        size_t len;
} Scalar;

static Scalar scalar_of(const Value *v) {
        return (Scalar){.kind = v->kind,
                        .b = v->b,
                        .i = v->i,
                        .s = v->s ? v->s->text : NULL,
                        .len = v->s ? v->s->len : 0};
}
static Scalar scalar_str(const char *s, size_t len) {
        return (Scalar){.kind = VALUE_STRING, .s = s, .len = len};
}

static bool scalar_equal(const Scalar *a, const Scalar *b) {
        if (a->kind != b->kind)
                return false;
        switch (a->kind) {
        case VALUE_BOOL:
                return a->b == b->b;
        case VALUE_INT:
                return a->i == b->i;
        case VALUE_STRING:
                return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
        default:
                return false;
        }
}

typedef enum Op {
        OP_EQ,
        OP_NE,
        OP_LT,
        OP_LE,
        OP_GT,
        OP_GE,
} Op;

static bool scalar_cmp(const Scalar *a, Op op, const Scalar *b) {
        switch (op) {
        case OP_EQ:
                return scalar_equal(a, b);
        case OP_NE:
                return !scalar_equal(a, b);
        default:
                if (a->kind != VALUE_INT || b->kind != VALUE_INT)
                        return false;
                return op == OP_LT   ? a->i < b->i
                       : op == OP_LE ? a->i <= b->i
                       : op == OP_GT ? a->i > b->i
                                     : a->i >= b->i;
        }
}

/* lhs op rhs where rhs may be a set (some element; for != every element) or empty (false). */
static bool value_cmp(const Scalar *lhs, Op op, const Value *rhs) {
        Scalar s;

        if (rhs->kind == VALUE_EMPTY)
                return false;
        if (rhs->kind != VALUE_SET) {
                s = scalar_of(rhs);
                return scalar_cmp(lhs, op, &s);
        }
        if (rhs->n_items == 0)
                return false;
        for (size_t i = 0; i < rhs->n_items; i++) {
                s = scalar_of(&rhs->items[i]);
                if (op == OP_NE ? !scalar_cmp(lhs, OP_NE, &s) : scalar_cmp(lhs, op, &s))
                        return op != OP_NE;
        }
        return op == OP_NE;
}

/* ------------------------------------------------------------------------------------------ */
/* The compiled policy                                                                         */

typedef enum ExprKind {
        EXPR_BOOL,
        EXPR_INT,
        EXPR_STRING,
        EXPR_PROPERTY,
        EXPR_CALL,
} ExprKind;

typedef enum ClaimProp {
        PROP_TYPE,
        PROP_VALUE,
        PROP_ISSUER,
        PROP_VALUE_TYPE,
        _PROP_MAX,
} ClaimProp;

static const char *const prop_names[_PROP_MAX] = {
        [PROP_TYPE] = "type",
        [PROP_VALUE] = "value",
        [PROP_ISSUER] = "issuer",
        [PROP_VALUE_TYPE] = "valueType",
};

typedef enum Func {
        FUNC_JMESPATH,
        FUNC_JSON_TO_CLAIM_VALUE,
        FUNC_IS_SUBSET_OF,
        FUNC_APPEND_STRING,
        FUNC_NEGATE_BOOL,
        FUNC_CONTAINS_ONLY_VALUE,
        _FUNC_MAX,
} Func;

static const struct {
        const char *name;
        unsigned n_args;
} funcs[_FUNC_MAX] = {
        [FUNC_JMESPATH] = {"JmesPath", 2},
        [FUNC_JSON_TO_CLAIM_VALUE] = {"JsonToClaimValue", 1},
        [FUNC_IS_SUBSET_OF] = {"IsSubsetOf", 2},
        [FUNC_APPEND_STRING] = {"AppendString", 2},
        [FUNC_NEGATE_BOOL] = {"NegateBool", 1},
        [FUNC_CONTAINS_ONLY_VALUE] = {"ContainsOnlyValue", 2},
};

typedef struct Expr {
        ExprKind kind;
        unsigned line, column;
        bool b;
        int64_t i;
        char *s; /* EXPR_STRING, NUL-terminated, no NUL inside */
        size_t len;
        size_t ident; /* EXPR_PROPERTY: index of the condition in the rule */
        ClaimProp prop;
        Func func;
        struct Expr **args;
        size_t n_args;
        JpNode *query; /* FUNC_JMESPATH with a literal query: compiled */
} Expr;

static Expr *expr_free(Expr *e) {
        if (!e)
                return NULL;
        free(e->s);
        for (size_t i = 0; i < e->n_args; i++)
                expr_free(e->args[i]);
        free(e->args);
        jp_node_free(e->query);
        free(e);
        return NULL;
}
DEFINE_CLEANUP_FUNC(Expr *, expr_free);

typedef struct PropCond {
        ClaimProp prop;
        Op op;
        Expr *rhs;
} PropCond;

typedef struct Cond {
        bool negated;
        char *ident;
        PropCond *props;
        size_t n_props, n_props_alloc;
} Cond;

typedef enum ActionKind {
        ACTION_PERMIT,
        ACTION_DENY,
        ACTION_ADD,
        ACTION_ISSUE,
        ACTION_ISSUEPROPERTY,
        _ACTION_MAX,
} ActionKind;

static const char *const action_names[_ACTION_MAX] = {
        [ACTION_PERMIT] = "permit",
        [ACTION_DENY] = "deny",
        [ACTION_ADD] = "add",
        [ACTION_ISSUE] = "issue",
        [ACTION_ISSUEPROPERTY] = "issueproperty",
};

typedef struct Rule {
        unsigned line, column;
        Cond *conds;
        size_t n_conds, n_conds_alloc;
        ActionKind action;
        bool has_claim_ref;
        size_t claim_ref; /* claim=c: the condition index */
        Expr *type, *value;
} Rule;

typedef struct RuleList {
        Rule *rules;
        size_t n, n_alloc;
} RuleList;

struct MaaPolicy {
        MaaPolicyVersion version;
        RuleList authorization, issuance;
        json_object *configuration;
        /* The claim types its conditions can match, when every condition names its type with
         * type == "literal" (sorted; then other incoming claims are never loaded: no rule could
         * see them). all_types: some condition may match a claim of any type. */
        char **types;
        size_t n_types, n_types_alloc;
        bool all_types;
};

static void rule_done(Rule *r) {
        for (size_t i = 0; i < r->n_conds; i++) {
                Cond *c = &r->conds[i];

                free(c->ident);
                for (size_t k = 0; k < c->n_props; k++)
                        expr_free(c->props[k].rhs);
                free(c->props);
        }
        free(r->conds);
        expr_free(r->type);
        expr_free(r->value);
        *r = (Rule){};
}

static void rule_list_done(RuleList *l) {
        for (size_t i = 0; i < l->n; i++)
                rule_done(&l->rules[i]);
        free(l->rules);
        *l = (RuleList){};
}

MaaPolicy *maa_policy_free(MaaPolicy *p) {
        if (!p)
                return NULL;
        rule_list_done(&p->authorization);
        rule_list_done(&p->issuance);
        json_object_put(p->configuration);
        for (size_t i = 0; i < p->n_types; i++)
                free(p->types[i]);
        free(p->types);
        free(p);
        return NULL;
}

MaaPolicyVersion maa_policy_version(const MaaPolicy *p) {
        return p ? p->version : _MAA_POLICY_VERSION_INVALID;
}

const char *maa_policy_version_to_string(MaaPolicyVersion v) {
        static const char *const names[_MAA_POLICY_VERSION_MAX] = {
                [MAA_POLICY_VERSION_1_0] = "1.0",
                [MAA_POLICY_VERSION_1_1] = "1.1",
                [MAA_POLICY_VERSION_1_2] = "1.2",
        };
        return v >= 0 && v < _MAA_POLICY_VERSION_MAX ? names[v] : NULL;
}

json_object *maa_policy_configuration(const MaaPolicy *p) {
        return p->configuration;
}

/* ------------------------------------------------------------------------------------------ */
/* Policy lexer                                                                                */

typedef enum TokKind {
        T_EOF,
        T_IDENT,
        T_NUMBER,
        T_STRING,
        T_LBRACE,
        T_RBRACE,
        T_LBRACKET,
        T_RBRACKET,
        T_LPAREN,
        T_RPAREN,
        T_SEMI,
        T_COMMA,
        T_COLON,
        T_DOT,
        T_NOT,
        T_ASSIGN,
        T_EQ,
        T_NE,
        T_LT,
        T_LE,
        T_GT,
        T_GE,
        T_AND,
        T_ARROW,
} TokKind;

typedef struct Tok {
        TokKind kind;
        unsigned line, column;
        const char *p; /* the token's text */
        size_t len;
        int64_t num;
} Tok;

typedef struct Lexer {
        const char *text;
        size_t size, i;
        unsigned line, column;
        Diag *d;
} Lexer;

static void lex_step(Lexer *l) {
        if (l->text[l->i] == '\n') {
                l->line++;
                l->column = 1;
        } else
                l->column++;
        l->i++;
}

static int lex_error(unsigned line, unsigned column, Diag *d, const char *what) {
        return diag_set(d, -EBADMSG, "line %u, column %u: %s", line, column, what);
}

/* Skips white space and comments. */
static int lex_skip(Lexer *l) {
        while (l->i < l->size) {
                char c = l->text[l->i], c1 = l->i + 1 < l->size ? l->text[l->i + 1] : '\0';

                if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                        lex_step(l);
                else if (c == '/' && c1 == '/') {
                        while (l->i < l->size && l->text[l->i] != '\n')
                                lex_step(l);
                } else if (c == '/' && c1 == '*') {
                        unsigned line = l->line, column = l->column;

                        lex_step(l);
                        lex_step(l);
                        for (;;) {
                                if (l->i + 1 >= l->size)
                                        return lex_error(line, column, l->d,
                                                         "expected '*/' to end this comment");
                                if (l->text[l->i] == '*' && l->text[l->i + 1] == '/')
                                        break;
                                lex_step(l);
                        }
                        lex_step(l);
                        lex_step(l);
                } else
                        break;
        }
        return 0;
}

static int lex_next(Lexer *l, Tok *t) {
        static const struct {
                const char *s;
                TokKind kind;
        } punct[] = {
                {"=>", T_ARROW},   {"==", T_EQ},      {"!=", T_NE},    {"<=", T_LE},
                {">=", T_GE},      {"&&", T_AND},     {"{", T_LBRACE}, {"}", T_RBRACE},
                {"[", T_LBRACKET}, {"]", T_RBRACKET}, {"(", T_LPAREN}, {")", T_RPAREN},
                {";", T_SEMI},     {",", T_COMMA},    {":", T_COLON},  {".", T_DOT},
                {"!", T_NOT},      {"=", T_ASSIGN},   {"<", T_LT},     {">", T_GT},
        };
        const char *s = l->text;
        size_t start;
        int r;

        r = lex_skip(l);
        if (r < 0)
                return r;
        *t = (Tok){.line = l->line, .column = l->column, .p = s + l->i};
        start = l->i;
        if (l->i >= l->size) {
                t->kind = T_EOF;
                return 0;
        }
        char c = s[l->i], c1 = l->i + 1 < l->size ? s[l->i + 1] : '\0';
        if (is_ident_start(c)) {
                while (l->i < l->size && is_ident_char(s[l->i]))
                        lex_step(l);
                t->kind = T_IDENT;
        } else if (is_digit(c) || (c == '-' && is_digit(c1))) {
                bool neg = c == '-', hex;
                uint64_t v = 0, limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;

                if (neg)
                        lex_step(l);
                hex = s[l->i] == '0' && l->i + 1 < l->size &&
                      (s[l->i + 1] == 'x' || s[l->i + 1] == 'X');
                if (hex) {
                        lex_step(l);
                        lex_step(l);
                }
                size_t digits = 0;
                for (; l->i < l->size; lex_step(l), digits++) {
                        char d = s[l->i];
                        unsigned dv;

                        if (is_digit(d))
                                dv = (unsigned) (d - '0');
                        else if (hex && d >= 'a' && d <= 'f')
                                dv = (unsigned) (d - 'a' + 10);
                        else if (hex && d >= 'A' && d <= 'F')
                                dv = (unsigned) (d - 'A' + 10);
                        else
                                break;
                        if (__builtin_mul_overflow(v, hex ? 16 : 10, &v) ||
                            __builtin_add_overflow(v, dv, &v) || v > limit)
                                return lex_error(t->line, t->column, l->d, "integer out of range");
                }
                if (digits == 0 || (l->i < l->size && is_ident_char(s[l->i])))
                        return lex_error(t->line, t->column, l->d, "expected an integer");
                t->kind = T_NUMBER;
                t->num = neg ? (int64_t) (0 - v) : (int64_t) v;
        } else if (c == '"') {
                lex_step(l);
                for (;;) {
                        if (l->i >= l->size)
                                return lex_error(t->line, t->column, l->d,
                                                 "expected '\"' to end this string");
                        if (s[l->i] == '"')
                                break;
                        if (s[l->i] == '\\' && l->i + 1 < l->size)
                                lex_step(l);
                        lex_step(l);
                }
                lex_step(l);
                t->kind = T_STRING;
        } else {
                size_t k;

                for (k = 0; k < ELEMENTSOF(punct); k++) {
                        size_t n = strlen(punct[k].s);
                        if (n <= l->size - l->i && memcmp(s + l->i, punct[k].s, n) == 0)
                                break;
                }
                if (k == ELEMENTSOF(punct))
                        return diag_set(l->d, -EBADMSG,
                                        "line %u, column %u: expected a token, found '%c' (0x%02x)",
                                        t->line, t->column, (c >= 0x20 && c < 0x7f) ? c : '?',
                                        (uint8_t) c);
                for (size_t n = strlen(punct[k].s); n > 0; n--)
                        lex_step(l);
                t->kind = punct[k].kind;
        }
        t->len = l->i - start;
        return 0;
}

/* UTF-8 (RFC 3629: no overlongs, surrogates or code points past U+10FFFF), no NUL; the first
 * offending byte in *ret_bad. */
static bool utf8_valid(const uint8_t *s, size_t n, size_t *ret_bad) {
        size_t i = 0;

        while (i < n) {
                uint8_t c = s[i];
                size_t need;
                uint32_t cp, min;

                if (c == 0)
                        goto bad;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xC2 && c <= 0xDF)
                        need = 1, cp = c & 0x1F, min = 0x80;
                else if (c >= 0xE0 && c <= 0xEF)
                        need = 2, cp = c & 0x0F, min = 0x800;
                else if (c >= 0xF0 && c <= 0xF4)
                        need = 3, cp = c & 0x07, min = 0x10000;
                else
                        goto bad;
                if (n - i <= need)
                        goto bad;
                for (size_t k = 1; k <= need; k++) {
                        if ((s[i + k] & 0xC0) != 0x80)
                                goto bad;
                        cp = (cp << 6) | (s[i + k] & 0x3F);
                }
                if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        goto bad;
                i += need + 1;
        }
        return true;
bad:
        *ret_bad = i;
        return false;
}

/* Refuses nesting of ( [ { deeper than MAA_POLICY_DEPTH_MAX before any parsing. */
static int check_input(const char *text, size_t size, Diag *d) {
        Lexer l = {.text = text, .size = size, .line = 1, .column = 1, .d = d};
        unsigned depth = 0;
        size_t bad;

        if (!utf8_valid((const uint8_t *) text, size, &bad)) {
                while (l.i < bad)
                        lex_step(&l);
                return diag_set(d, -EBADMSG, "line %u, column %u: %s", l.line, l.column,
                                text[bad] ? "invalid UTF-8" : "NUL byte");
        }
        while (l.i < size) {
                char c = text[l.i], c1 = l.i + 1 < size ? text[l.i + 1] : '\0';

                if (c == '"') {
                        lex_step(&l);
                        while (l.i < size && text[l.i] != '"') {
                                if (text[l.i] == '\\' && l.i + 1 < size)
                                        lex_step(&l);
                                lex_step(&l);
                        }
                } else if (c == '/' && (c1 == '/' || c1 == '*')) {
                        int r = lex_skip(&l);
                        if (r < 0)
                                return r;
                        continue;
                } else if (c == '(' || c == '[' || c == '{') {
                        if (++depth > MAA_POLICY_DEPTH_MAX)
                                return diag_set(d, -EBADMSG,
                                                "line %u, column %u: nesting deeper than %u",
                                                l.line, l.column, MAA_POLICY_DEPTH_MAX);
                } else if ((c == ')' || c == ']' || c == '}') && depth > 0)
                        depth--;
                if (l.i < size)
                        lex_step(&l);
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Policy parser                                                                               */

typedef enum Section {
        SECTION_CONFIGURATION,
        SECTION_AUTHORIZATION,
        SECTION_ISSUANCE,
        _SECTION_MAX,
} Section;

static const char *const section_names[_SECTION_MAX] = {
        [SECTION_CONFIGURATION] = "configurationrules",
        [SECTION_AUTHORIZATION] = "authorizationrules",
        [SECTION_ISSUANCE] = "issuancerules",
};

typedef struct Parser {
        Tok *toks;
        size_t n_toks, pos;
        MaaPolicyVersion version;
        Diag *d;
} Parser;

static const Tok *cur(const Parser *p) {
        return &p->toks[p->pos];
}
static const Tok *peek(const Parser *p, size_t ahead) {
        return &p->toks[MIN(p->pos + ahead, p->n_toks - 1)];
}
static const Tok *advance(Parser *p) {
        const Tok *t = cur(p);

        if (t->kind != T_EOF)
                p->pos++;
        return t;
}
static bool tok_is(const Tok *t, const char *word) {
        return t->kind == T_IDENT && t->len == strlen(word) && memcmp(t->p, word, t->len) == 0;
}

static int expected(Parser *p, const char *what) {
        const Tok *t = cur(p);

        if (t->kind == T_EOF)
                return diag_set(p->d, -EBADMSG,
                                "line %u, column %u: expected %s, found end of input", t->line,
                                t->column, what);
        return diag_set(p->d, -EBADMSG, "line %u, column %u: expected %s, found '%.*s'", t->line,
                        t->column, what, (int) MIN(t->len, (size_t) 32), t->p);
}

static int error_at(Parser *p, const Tok *t, int error, const char *what) {
        return diag_set(p->d, error, "line %u, column %u: %s", t->line, t->column, what);
}

static int expect(Parser *p, TokKind kind, const char *what) {
        if (cur(p)->kind != kind)
                return expected(p, what);
        advance(p);
        return 0;
}
static int expect_word(Parser *p, const char *word, const char *what) {
        if (!tok_is(cur(p), word))
                return expected(p, what);
        advance(p);
        return 0;
}

/* The contents of a string token, with \" and \\ unescaped. */
static char *string_decode(const Tok *t, size_t *ret_len) {
        char *out = malloc(t->len);
        size_t k = 0;

        if (!out)
                return NULL;
        for (size_t i = 1; i + 1 < t->len; i++) {
                if (t->p[i] == '\\' && i + 2 < t->len &&
                    (t->p[i + 1] == '"' || t->p[i + 1] == '\\'))
                        i++;
                out[k++] = t->p[i];
        }
        out[k] = '\0';
        *ret_len = k;
        return out;
}

static int require_version(Parser *p, const Tok *t, MaaPolicyVersion min, const char *what) {
        if (p->version >= min)
                return 0;
        return diag_set(p->d, -EBADMSG, "line %u, column %u: %s needs policy version %s or later",
                        t->line, t->column, what, maa_policy_version_to_string(min));
}

static bool find_ident(const Tok *t, const Cond *conds, size_t n, size_t *ret) {
        for (size_t i = 0; i < n; i++)
                if (conds[i].ident && strlen(conds[i].ident) == t->len &&
                    memcmp(conds[i].ident, t->p, t->len) == 0) {
                        *ret = i;
                        return true;
                }
        return false;
}

/* The condition index of identifier t among conds[0..n), or -EBADMSG with a Diag. */
static int resolve_ident(Parser *p, const Tok *t, const Cond *conds, size_t n, size_t *ret) {
        if (find_ident(t, conds, n, ret))
                return 0;
        return diag_set(p->d, -EBADMSG,
                        "line %u, column %u: unknown claim identifier '%.*s' (identifiers name "
                        "an earlier condition of the same rule)",
                        t->line, t->column, (int) MIN(t->len, (size_t) 32), t->p);
}

static int parse_expr(Parser *p, const Cond *scope, size_t n_scope, unsigned depth, Expr **ret);

static int parse_call(Parser *p, const Cond *scope, size_t n_scope, unsigned depth, Expr *e) {
        const Tok *name = advance(p);
        Func f;
        int r;

        for (f = 0; f < _FUNC_MAX; f++)
                if (tok_is(name, funcs[f].name))
                        break;
        if (f == _FUNC_MAX)
                return diag_set(p->d, -EBADMSG,
                                "line %u, column %u: expected a function (JmesPath, "
                                "JsonToClaimValue, IsSubsetOf, AppendString, NegateBool, "
                                "ContainsOnlyValue), found '%.*s'",
                                name->line, name->column, (int) MIN(name->len, (size_t) 32),
                                name->p);
        r = require_version(p, name, MAA_POLICY_VERSION_1_2, "a function call");
        if (r < 0)
                return r;
        e->kind = EXPR_CALL;
        e->func = f;
        advance(p); /* ( */
        e->args = calloc(funcs[f].n_args, sizeof(Expr *));
        if (!e->args)
                return -ENOMEM;
        for (unsigned i = 0; i < funcs[f].n_args; i++) {
                if (i > 0) {
                        r = expect(p, T_COMMA, "','");
                        if (r < 0)
                                return r;
                }
                r = parse_expr(p, scope, n_scope, depth + 1, &e->args[i]);
                if (r < 0)
                        return r;
                e->n_args++;
        }
        r = expect(p, T_RPAREN,
                   funcs[f].n_args == 1 ? "')' (one argument)" : "')' (two arguments)");
        if (r < 0)
                return r;

        if (f == FUNC_JMESPATH && e->args[1]->kind == EXPR_STRING) {
                const Expr *q = e->args[1];
                char err[128];
                size_t off;

                r = jp_compile(q->s, q->len, &e->query, err, sizeof(err), &off);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return diag_set(p->d, -EBADMSG,
                                        "line %u, column %u: JmesPath query offset %zu: %s",
                                        q->line, q->column, off, err);
        }
        return 0;
}

static int parse_expr(Parser *p, const Cond *scope, size_t n_scope, unsigned depth, Expr **ret) {
        _cleanup_(expr_freep) Expr *e = NULL;
        const Tok *t = cur(p);
        int r;

        if (depth > MAA_POLICY_DEPTH_MAX)
                return error_at(p, t, -EBADMSG, "expression nested too deeply");
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->line = t->line;
        e->column = t->column;
        if (tok_is(t, "true") || tok_is(t, "false")) {
                e->kind = EXPR_BOOL;
                e->b = tok_is(t, "true");
                advance(p);
        } else if (t->kind == T_NUMBER) {
                e->kind = EXPR_INT;
                e->i = t->num;
                advance(p);
        } else if (t->kind == T_STRING) {
                e->kind = EXPR_STRING;
                e->s = string_decode(t, &e->len);
                if (!e->s)
                        return -ENOMEM;
                advance(p);
        } else if (t->kind == T_IDENT && peek(p, 1)->kind == T_LPAREN) {
                r = parse_call(p, scope, n_scope, depth, e);
                if (r < 0)
                        return r;
        } else if (t->kind == T_IDENT && peek(p, 1)->kind == T_DOT) {
                ClaimProp prop;

                r = resolve_ident(p, t, scope, n_scope, &e->ident);
                if (r < 0)
                        return r;
                advance(p);
                advance(p);
                for (prop = 0; prop < _PROP_MAX; prop++)
                        if (tok_is(cur(p), prop_names[prop]))
                                break;
                if (prop == _PROP_MAX)
                        return expected(p, "'type', 'value', 'issuer' or 'valueType'");
                advance(p);
                e->kind = EXPR_PROPERTY;
                e->prop = prop;
        } else
                return expected(p, "a value (true, false, an integer, a string, "
                                   "identifier.property or a function call)");
        *ret = TAKE_PTR(e);
        return 0;
}

static int parse_op(Parser *p, Op *ret) {
        switch (cur(p)->kind) {
        case T_EQ:
        case T_ASSIGN: /* samples write type="x"; read as == (spec §5.3, unconfirmed) */
                *ret = OP_EQ;
                break;
        case T_NE:
                *ret = OP_NE;
                break;
        case T_LT:
                *ret = OP_LT;
                break;
        case T_LE:
                *ret = OP_LE;
                break;
        case T_GT:
                *ret = OP_GT;
                break;
        case T_GE:
                *ret = OP_GE;
                break;
        default:
                return expected(p, "'==', '!=', '<', '<=', '>' or '>='");
        }
        advance(p);
        return 0;
}

/* One condition into rule->conds[rule->n_conds] (already zeroed and counted). */
static int parse_cond(Parser *p, Rule *rule, Cond *c) {
        const Tok *t = cur(p);
        size_t index = (size_t) (c - rule->conds);
        int r;

        if (t->kind == T_NOT) {
                r = require_version(p, t, MAA_POLICY_VERSION_1_2, "'!' before a condition");
                if (r < 0)
                        return r;
                c->negated = true;
                advance(p);
        } else if (t->kind == T_IDENT && peek(p, 1)->kind == T_COLON) {
                size_t dummy;

                if (find_ident(t, rule->conds, index, &dummy))
                        return diag_set(p->d, -EBADMSG,
                                        "line %u, column %u: identifier '%.*s' is already bound "
                                        "in this rule",
                                        t->line, t->column, (int) MIN(t->len, (size_t) 32), t->p);
                c->ident = strndup(t->p, t->len);
                if (!c->ident)
                        return -ENOMEM;
                advance(p);
                advance(p);
        }
        r = expect(p, T_LBRACKET, c->negated ? "'['" : "'[', an identifier and ':', or '=>'");
        if (r < 0)
                return r;
        for (;;) {
                PropCond *pc;
                const Tok *pt = cur(p);
                ClaimProp prop;

                for (prop = 0; prop < _PROP_MAX; prop++)
                        if (tok_is(pt, prop_names[prop]))
                                break;
                if (prop == _PROP_MAX)
                        return expected(p, "'type', 'value', 'issuer' or 'valueType'");
                advance(p);
                r = GROW(c->props, c->n_props_alloc, c->n_props + 1);
                if (r < 0)
                        return r;
                pc = &c->props[c->n_props++];
                *pc = (PropCond){.prop = prop};
                const Tok *opt = cur(p);
                r = parse_op(p, &pc->op);
                if (r < 0)
                        return r;
                r = parse_expr(p, rule->conds, index, 0, &pc->rhs);
                if (r < 0)
                        return r;
                if (pc->op != OP_EQ && pc->op != OP_NE &&
                    (prop != PROP_VALUE || pc->rhs->kind == EXPR_STRING ||
                     pc->rhs->kind == EXPR_BOOL))
                        return error_at(p, opt, -EBADMSG,
                                        "'<', '<=', '>' and '>=' compare integer values only");
                if (cur(p)->kind == T_COMMA) {
                        advance(p);
                        continue;
                }
                return expect(p, T_RBRACKET, "',' or ']'");
        }
}

/* type=expr, value=expr in either order, each once. */
static int parse_claim_fields(Parser *p, Rule *rule) {
        for (unsigned n = 0; n < 2; n++) {
                Expr **slot;

                if (n > 0) {
                        int r = expect(p, T_COMMA, "','");
                        if (r < 0)
                                return r;
                }
                if (tok_is(cur(p), "type") && !rule->type)
                        slot = &rule->type;
                else if (tok_is(cur(p), "value") && !rule->value)
                        slot = &rule->value;
                else
                        return expected(p, rule->type    ? "'value'"
                                           : rule->value ? "'type'"
                                                         : "'type' or 'value'");
                advance(p);
                int r = expect(p, T_ASSIGN, "'='");
                if (r < 0)
                        return r;
                r = parse_expr(p, rule->conds, rule->n_conds, 0, slot);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_action(Parser *p, Section section, Rule *rule) {
        const Tok *t = cur(p);
        ActionKind a;
        int r;

        for (a = 0; a < _ACTION_MAX; a++)
                if (tok_is(t, action_names[a]))
                        break;
        if (a == _ACTION_MAX)
                return expected(p, "an action (permit, deny, add, issue or issueproperty)");
        if ((section == SECTION_CONFIGURATION && a != ACTION_ISSUEPROPERTY) ||
            (section == SECTION_AUTHORIZATION && a != ACTION_PERMIT && a != ACTION_DENY &&
             a != ACTION_ADD) ||
            (section == SECTION_ISSUANCE && (a == ACTION_PERMIT || a == ACTION_DENY)))
                return diag_set(p->d, -EBADMSG, "line %u, column %u: %s() is not allowed in %s",
                                t->line, t->column, action_names[a], section_names[section]);
        rule->action = a;
        advance(p);
        r = expect(p, T_LPAREN, "'('");
        if (r < 0)
                return r;
        if (a == ACTION_PERMIT || a == ACTION_DENY)
                return expect(p, T_RPAREN, "')'");

        if (tok_is(cur(p), "claim") && peek(p, 1)->kind == T_ASSIGN) {
                advance(p);
                advance(p);
                if (cur(p)->kind != T_IDENT)
                        return expected(p, "a claim identifier");
                r = resolve_ident(p, cur(p), rule->conds, rule->n_conds, &rule->claim_ref);
                if (r < 0)
                        return r;
                rule->has_claim_ref = true;
                advance(p);
        } else if (tok_is(cur(p), "claim") && peek(p, 1)->kind == T_LPAREN) {
                advance(p);
                advance(p);
                r = parse_claim_fields(p, rule);
                if (r < 0)
                        return r;
                r = expect(p, T_RPAREN, "')'");
                if (r < 0)
                        return r;
        } else {
                r = parse_claim_fields(p, rule);
                if (r < 0)
                        return r;
        }
        return expect(p, T_RPAREN, "')'");
}

static int parse_rule(Parser *p, Section section, Rule *rule) {
        const Tok *t = cur(p);
        int r;

        rule->line = t->line;
        rule->column = t->column;
        if (t->kind != T_ARROW)
                for (;;) {
                        r = GROW(rule->conds, rule->n_conds_alloc, rule->n_conds + 1);
                        if (r < 0)
                                return r;
                        rule->conds[rule->n_conds] = (Cond){};
                        rule->n_conds++;
                        r = parse_cond(p, rule, &rule->conds[rule->n_conds - 1]);
                        if (r < 0)
                                return r;
                        if (cur(p)->kind != T_AND)
                                break;
                        advance(p);
                }
        r = expect(p, T_ARROW, rule->n_conds > 0 ? "'&&' or '=>'" : "'=>'");
        if (r < 0)
                return r;
        r = parse_action(p, section, rule);
        if (r < 0)
                return r;
        if (cur(p)->kind == T_SEMI) /* optional: the author-sign-policy.md sample omits it */
                advance(p);
        return 0;
}

/* configurationrules: "=> issueproperty(type="name", value=literal)" only, kept as JSON. */
static int config_rule_apply(Parser *p, const Rule *rule, json_object *config) {
        json_object *v;

        if (rule->n_conds > 0 || rule->has_claim_ref || rule->type->kind != EXPR_STRING ||
            rule->value->kind == EXPR_PROPERTY || rule->value->kind == EXPR_CALL ||
            rule->type->len == 0 || strlen(rule->type->s) != rule->type->len)
                return diag_set(p->d, -EBADMSG,
                                "line %u, column %u: configurationrules take only "
                                "'=> issueproperty(type=\"name\", value=literal);'",
                                rule->line, rule->column);
        switch (rule->value->kind) {
        case EXPR_BOOL:
                v = json_object_new_boolean(rule->value->b);
                break;
        case EXPR_INT:
                v = json_object_new_int64(rule->value->i);
                break;
        default:
                v = json_object_new_string_len(rule->value->s, (int) rule->value->len);
                break;
        }
        return json_add(config, rule->type->s, v);
}

static int parse_section(Parser *p, Section section, MaaPolicy *policy) {
        RuleList *list = section == SECTION_AUTHORIZATION ? &policy->authorization
                         : section == SECTION_ISSUANCE    ? &policy->issuance
                                                          : NULL;
        int r;

        advance(p); /* the section name */
        r = expect(p, T_LBRACE, "'{'");
        if (r < 0)
                return r;
        while (cur(p)->kind != T_RBRACE) {
                _cleanup_(rule_done) Rule rule = {};
                TokKind k = cur(p)->kind;

                if (k != T_ARROW && k != T_LBRACKET && k != T_NOT &&
                    !(k == T_IDENT && peek(p, 1)->kind == T_COLON))
                        return expected(p,
                                        "a rule ('[', '!', an identifier and ':', or '=>') or '}'");
                r = parse_rule(p, section, &rule);
                if (r < 0)
                        return r;
                if (!list) {
                        r = config_rule_apply(p, &rule, policy->configuration);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = GROW(list->rules, list->n_alloc, list->n + 1);
                if (r < 0)
                        return r;
                list->rules[list->n++] = rule;
                rule = (Rule){};
        }
        advance(p);
        return expect(p, T_SEMI, "';' after '}'");
}

static int parse_version(Parser *p) {
        const Tok *major, *minor;
        int r;

        r = expect_word(p, "version", "'version'");
        if (r >= 0)
                r = expect(p, T_ASSIGN, "'='");
        if (r < 0)
                return r;
        major = cur(p);
        r = expect(p, T_NUMBER, "a version such as 1.2");
        if (r >= 0)
                r = expect(p, T_DOT, "'.' in the version");
        if (r < 0)
                return r;
        minor = cur(p);
        r = expect(p, T_NUMBER, "a minor version");
        if (r < 0)
                return r;
        if (major->len != 1 || major->num != 1 || minor->len != 1 || minor->num < 0 ||
            minor->num > 2)
                return diag_set(p->d, -EPROTONOSUPPORT,
                                "line %u, column %u: unsupported policy version %.*s.%.*s "
                                "(1.0, 1.1 and 1.2 are)",
                                major->line, major->column, (int) MIN(major->len, (size_t) 10),
                                major->p, (int) MIN(minor->len, (size_t) 10), minor->p);
        p->version = (MaaPolicyVersion) minor->num;
        return expect(p, T_SEMI, "';' after the version");
}

static int parse_policy(Parser *p, MaaPolicy *policy) {
        Section next = SECTION_CONFIGURATION;
        bool seen_auth = false;
        int r;

        r = parse_version(p);
        if (r < 0)
                return r;
        while (cur(p)->kind != T_EOF) {
                Section s;

                for (s = next; s < _SECTION_MAX; s++)
                        if (tok_is(cur(p), section_names[s]))
                                break;
                if (s == _SECTION_MAX)
                        return expected(p, next == SECTION_CONFIGURATION
                                                   ? "'configurationrules' or 'authorizationrules'"
                                           : next == SECTION_AUTHORIZATION ? "'authorizationrules'"
                                           : next == SECTION_ISSUANCE      ? "'issuancerules'"
                                                                           : "end of input");
                if (s > SECTION_AUTHORIZATION && !seen_auth)
                        return expected(p, "'authorizationrules'");
                if (s == SECTION_CONFIGURATION) {
                        r = require_version(p, cur(p), MAA_POLICY_VERSION_1_1,
                                            "configurationrules");
                        if (r < 0)
                                return r;
                }
                seen_auth = seen_auth || s == SECTION_AUTHORIZATION;
                r = parse_section(p, s, policy);
                if (r < 0)
                        return r;
                next = s + 1;
        }
        if (!seen_auth)
                return expected(p, "'authorizationrules'");
        return 0;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Fills p->types (or sets p->all_types): see struct MaaPolicy. */
static int policy_collect_types(MaaPolicy *p) {
        const RuleList *lists[] = { &p->authorization, &p->issuance };

        for (size_t l = 0; l < ELEMENTSOF(lists) && !p->all_types; l++)
                for (size_t i = 0; i < lists[l]->n && !p->all_types; i++) {
                        const Rule *rule = &lists[l]->rules[i];

                        for (size_t c = 0; c < rule->n_conds && !p->all_types; c++) {
                                const Cond *cond = &rule->conds[c];
                                const char *type = NULL;

                                for (size_t k = 0; k < cond->n_props && !type; k++)
                                        if (cond->props[k].prop == PROP_TYPE &&
                                            cond->props[k].op == OP_EQ &&
                                            cond->props[k].rhs->kind == EXPR_STRING)
                                                type = cond->props[k].rhs->s;
                                if (!type) {
                                        p->all_types = true;
                                        break;
                                }
                                if (GROW(p->types, p->n_types_alloc, p->n_types + 1) < 0)
                                        return -ENOMEM;
                                p->types[p->n_types] = strdup(type);
                                if (!p->types[p->n_types])
                                        return -ENOMEM;
                                p->n_types++;
                        }
                }
        if (p->n_types > 1)
                qsort(p->types, p->n_types, sizeof(char *), cmp_strp);
        return 0;
}

/* Whether a condition of p could match a claim of this type. */
static bool policy_sees_type(const MaaPolicy *p, const char *type) {
        return p->all_types ||
               (p->n_types > 0 &&
                bsearch(&type, p->types, p->n_types, sizeof(char *), cmp_strp) != NULL);
}

bool maa_policy_reads_claim(const MaaPolicy *p, const char *type) {
        return !p || policy_sees_type(p, type);
}

int maa_policy_compile(const char *text, size_t size, MaaPolicy **ret, Diag *d) {
        _cleanup_(maa_policy_freep) MaaPolicy *policy = NULL;
        _cleanup_(freep) Tok *toks = NULL;
        Lexer l = {.text = text, .size = size, .line = 1, .column = 1, .d = d};
        size_t n_toks = 0, n_alloc = 0;
        Parser p = {.d = d};
        int r;

        if (!text) {
                if (size > 0)
                        return -EINVAL;
                text = "";
        }
        l.text = text;
        if (size > MAA_POLICY_SIZE_MAX)
                return diag_set(d, -E2BIG, "policy of %zu bytes exceeds the %u-byte limit", size,
                                MAA_POLICY_SIZE_MAX);
        r = check_input(text, size, d);
        if (r < 0)
                return r;
        /* A UTF-8 byte order mark, as editors on Windows write it. */
        if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
                l.i = 3;
        for (;;) {
                r = GROW(toks, n_alloc, n_toks + 1);
                if (r < 0)
                        return r;
                r = lex_next(&l, &toks[n_toks]);
                if (r < 0)
                        return r;
                if (toks[n_toks++].kind == T_EOF)
                        break;
        }

        policy = calloc(1, sizeof(*policy));
        if (!policy)
                return -ENOMEM;
        policy->configuration = json_object_new_object();
        if (!policy->configuration)
                return -ENOMEM;
        p.toks = toks;
        p.n_toks = n_toks;
        r = parse_policy(&p, policy);
        if (r < 0)
                return r;
        policy->version = p.version;
        r = policy_collect_types(policy);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(policy);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Evaluation                                                                                  */

typedef struct Claim {
        MaaStr *type;
        Value value; /* a scalar */
        const char *issuer;
} Claim;

typedef struct ClaimList {
        Claim *claims;
        size_t n, n_alloc;
} ClaimList;

typedef struct Eval {
        ClaimList incoming, outgoing, properties;
        size_t bytes;
        Diag *d;
} Eval;

static void claim_list_done(ClaimList *l) {
        for (size_t i = 0; i < l->n; i++) {
                str_unref(l->claims[i].type);
                value_done(&l->claims[i].value);
        }
        free(l->claims);
        *l = (ClaimList){};
}

static void eval_done(Eval *e) {
        claim_list_done(&e->incoming);
        claim_list_done(&e->outgoing);
        claim_list_done(&e->properties);
}

static int str_new(Eval *e, const char *s, size_t len, MaaStr **ret) {
        MaaStr *m;

        if (len > MAA_POLICY_STRING_MAX || e->bytes + len > EVAL_BYTES_MAX)
                return -E2BIG;
        m = malloc(sizeof(MaaStr) + len + 1);
        if (!m)
                return -ENOMEM;
        *m = (MaaStr){.n_ref = 1, .len = len};
        memcpy(m->text, s, len);
        m->text[len] = '\0';
        e->bytes += len;
        *ret = m;
        return 0;
}

/* A string holding the JSON text of o (NULL: null), with o cached as its parse. */
static int str_from_json(Eval *e, json_object *o, MaaStr **ret) {
        const char *s;
        size_t len;
        int r;

        s = json_text(o, &len);
        if (!s)
                return -ENOMEM;
        r = str_new(e, s, len, ret);
        if (r < 0)
                return r;
        (*ret)->json = json_object_get(o);
        (*ret)->json_state = 1;
        return 0;
}

/* The parse of a string holding JSON text (borrowed; NULL for JSON null). */
static int str_json(MaaStr *s, json_object **ret) {
        int r;

        if (s->json_state == 0) {
                r = json_text_parse(s->text, s->len, &s->json);
                if (r == -ENOMEM)
                        return r;
                s->json_state = r < 0 ? -1 : 1;
        }
        if (s->json_state < 0)
                return -EBADMSG;
        *ret = s->json;
        return 0;
}

static int claim_add(ClaimList *l, MaaStr *type, const Value *value, const char *issuer) {
        Claim *c;
        int r;

        if (l->n >= MAA_POLICY_CLAIMS_MAX)
                return -E2BIG;
        r = GROW(l->claims, l->n_alloc, l->n + 1);
        if (r < 0)
                return r;
        c = &l->claims[l->n];
        *c = (Claim){.issuer = issuer};
        r = value_copy(value, &c->value);
        if (r < 0)
                return r;
        c->type = str_ref(type);
        l->n++;
        return 0;
}

static bool json_is_primitive(json_object *o) {
        return json_object_is_type(o, json_type_boolean) || json_object_is_type(o, json_type_int) ||
               json_object_is_type(o, json_type_string) || json_object_is_type(o, json_type_null);
}

/* One JSON boolean, integer or string to a scalar claim value; -EBADMSG for anything else. */
static int value_from_json_primitive(Eval *e, json_object *o, Value *ret) {
        int r;

        switch (json_object_get_type(o)) {
        case json_type_boolean:
                *ret = (Value){.kind = VALUE_BOOL, .b = json_object_get_boolean(o)};
                return 0;
        case json_type_int:
                *ret = (Value){.kind = VALUE_INT, .i = json_object_get_int64(o)};
                return 0;
        case json_type_string:
                *ret = (Value){.kind = VALUE_STRING};
                r = str_new(e, json_object_get_string(o), (size_t) json_object_get_string_len(o),
                            &ret->s);
                return r;
        default:
                return -EBADMSG;
        }
}

static bool type_is_read_only(const char *type) {
        /* policy-version-1-2.md: "PCRS are only read-only and thus cannot be used with issue" */
        return streq(type, "pcrs");
}

static int claims_load(Eval *e, const MaaPolicy *p, json_object *incoming) {
        int r;

        json_object_object_foreach(incoming, key, val) {
                _cleanup_(value_done) Value v = {};
                MaaStr *type = NULL;
                bool ro = type_is_read_only(key);

                r = 0;
                /* A claim no condition can match is never seen: not loading it changes nothing
                 * (and spares turning an object such as the event log into JSON text). */
                if (!val || !policy_sees_type(p, key))
                        continue;
                r = str_new(e, key, strlen(key), &type);
                if (r < 0)
                        return r;
                if (json_object_is_type(val, json_type_array)) {
                        size_t n = json_object_array_length(val);
                        bool primitive = true;

                        for (size_t i = 0; i < n && primitive; i++)
                                primitive = json_is_primitive(json_object_array_get_idx(val, i));
                        for (size_t i = 0; primitive && i < n && r >= 0; i++) {
                                json_object *elem = json_object_array_get_idx(val, i);
                                _cleanup_(value_done) Value ev = {};

                                if (!elem)
                                        continue;
                                r = value_from_json_primitive(e, elem, &ev);
                                ev.read_only = ro;
                                if (r >= 0)
                                        r = claim_add(&e->incoming, type, &ev, ISSUER_SERVICE);
                        }
                        if (primitive) {
                                str_unref(type);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                }
                if (json_object_is_type(val, json_type_array) ||
                    json_object_is_type(val, json_type_object) ||
                    json_object_is_type(val, json_type_double)) {
                        v.kind = VALUE_STRING;
                        r = str_from_json(e, val, &v.s);
                } else
                        r = value_from_json_primitive(e, val, &v);
                v.read_only = ro;
                if (r >= 0)
                        r = claim_add(&e->incoming, type, &v, ISSUER_SERVICE);
                str_unref(type);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The claims a rule's conditions matched, by index into e->incoming. */
typedef struct Binding {
        size_t *idx;
        size_t n, n_alloc;
} Binding;

typedef struct RuleCtx {
        Eval *e;
        const Rule *rule;
        Binding *bindings;
} RuleCtx;

static int eval_error(RuleCtx *c, const Expr *x, int error, const char *fmt, ...) _printf_(4, 5);
static int eval_error(RuleCtx *c, const Expr *x, int error, const char *fmt, ...) {
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return diag_set(c->e->d, error, "line %u, column %u: %s", x ? x->line : c->rule->line,
                        x ? x->column : c->rule->column, msg);
}

/* The one value of v (a scalar, or a set of one), or NULL. */
static const Value *value_single(const Value *v) {
        if (v->kind == VALUE_SET)
                return v->n_items == 1 ? &v->items[0] : NULL;
        return v->kind == VALUE_EMPTY ? NULL : v;
}

static int expr_eval(RuleCtx *c, const Expr *x, Value *ret);

static int string_arg(RuleCtx *c, const Expr *x, const Value *v, const char *fn, unsigned n,
                      const Value **ret) {
        const Value *s = value_single(v);

        if (!s || s->kind != VALUE_STRING)
                return eval_error(c, x, -EBADMSG, "%s(): argument %u is not a single string", fn,
                                  n);
        *ret = s;
        return 0;
}

/* JSON value to a claim value (claim-rule-functions.md, JsonToClaimValue). */
static int json_to_claim_value(RuleCtx *c, const Expr *x, json_object *o, bool ro, Value *ret) {
        _cleanup_(value_done) Value v = {};
        int r;

        switch (json_object_get_type(o)) {
        case json_type_null:
                *ret = (Value){.kind = VALUE_EMPTY};
                return 0;
        case json_type_double: {
                double d = json_object_get_double(o);

                if (d != d || d < -9.2e18 || d > 9.2e18 || (double) (int64_t) d != d)
                        return eval_error(c, x, -EBADMSG, "JsonToClaimValue(): a fraction");
                *ret = (Value){.kind = VALUE_INT, .i = (int64_t) d, .read_only = ro};
                return 0;
        }
        case json_type_object:
                return eval_error(c, x, -EBADMSG, "JsonToClaimValue(): a JSON object");
        case json_type_array: {
                size_t n = json_object_array_length(o);

                if (n > MAA_POLICY_CLAIMS_MAX)
                        return eval_error(c, x, -E2BIG, "JsonToClaimValue(): array too long");
                v.kind = VALUE_SET;
                v.read_only = ro;
                v.items = calloc(MAX(n, (size_t) 1), sizeof(Value));
                if (!v.items)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        json_object *elem = json_object_array_get_idx(o, i);

                        if (!elem)
                                continue;
                        if (json_object_is_type(elem, json_type_double)) {
                                r = json_to_claim_value(c, x, elem, ro, &v.items[v.n_items]);
                                if (r < 0)
                                        return r;
                                v.n_items++;
                                continue;
                        }
                        if (!json_is_primitive(elem))
                                return eval_error(c, x, -EBADMSG,
                                                  "JsonToClaimValue(): an array holding "
                                                  "objects or arrays");
                        r = value_from_json_primitive(c->e, elem, &v.items[v.n_items]);
                        if (r < 0)
                                return r;
                        v.items[v.n_items++].read_only = ro;
                }
                *ret = v;
                v = (Value){};
                return 0;
        }
        default:
                r = value_from_json_primitive(c->e, o, ret);
                if (r < 0)
                        return r;
                ret->read_only = ro;
                return 0;
        }
}

/* Elements of v as a list of scalars: a set's items, one scalar, or nothing. */
static const Value *value_elems(const Value *v, size_t *ret_n) {
        if (v->kind == VALUE_SET) {
                *ret_n = v->n_items;
                return v->items;
        }
        *ret_n = v->kind == VALUE_EMPTY ? 0 : 1;
        return v;
}

static bool value_contains(const Value *set, const Value *x) {
        size_t n;
        const Value *items = value_elems(set, &n);
        Scalar sx = scalar_of(x);

        for (size_t i = 0; i < n; i++) {
                Scalar si = scalar_of(&items[i]);
                if (scalar_equal(&si, &sx))
                        return true;
        }
        return false;
}

static int call_eval(RuleCtx *c, const Expr *x, Value *ret) {
        _cleanup_(value_done) Value a = {}, b = {};
        const Value *sa = NULL, *sb = NULL;
        const char *fn = funcs[x->func].name;
        int r;

        r = expr_eval(c, x->args[0], &a);
        if (r < 0)
                return r;
        if (x->n_args > 1 && !(x->func == FUNC_JMESPATH && x->query)) {
                r = expr_eval(c, x->args[1], &b);
                if (r < 0)
                        return r;
        }

        switch (x->func) {
        case FUNC_JMESPATH: {
                _cleanup_(jp_node_freep) JpNode *compiled = NULL;
                _cleanup_(json_object_putp) json_object *res = NULL;
                const JpNode *q = x->query;
                json_object *doc;
                JpCtx ctx = {};
                bool ro;

                r = string_arg(c, x, &a, fn, 1, &sa);
                if (r < 0)
                        return r;
                ro = sa->read_only;
                if (!q) {
                        char err[128];
                        size_t off;

                        r = string_arg(c, x, &b, fn, 2, &sb);
                        if (r < 0)
                                return r;
                        ro = ro || sb->read_only;
                        r = jp_compile(sb->s->text, sb->s->len, &compiled, err, sizeof(err), &off);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return eval_error(c, x, r, "JmesPath(): query offset %zu: %s", off,
                                                  err);
                        q = compiled;
                }
                r = str_json(sa->s, &doc);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return eval_error(c, x, r, "JmesPath(): argument 1 is not JSON text");
                r = jp_eval(q, doc, &ctx, &res);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return eval_error(c, x, r, "JmesPath(): %s",
                                          ctx.err ? ctx.err : "evaluation failed");
                *ret = (Value){.kind = VALUE_STRING, .read_only = ro};
                r = str_from_json(c->e, res, &ret->s);
                if (r == -E2BIG)
                        return eval_error(c, x, r, "JmesPath(): result too large");
                return r;
        }
        case FUNC_JSON_TO_CLAIM_VALUE: {
                json_object *doc;

                r = string_arg(c, x, &a, fn, 1, &sa);
                if (r < 0)
                        return r;
                r = str_json(sa->s, &doc);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return eval_error(c, x, r, "JsonToClaimValue(): argument is not JSON text");
                return json_to_claim_value(c, x, doc, sa->read_only, ret);
        }
        case FUNC_IS_SUBSET_OF: {
                size_t n;
                const Value *items = value_elems(&a, &n);
                bool subset = true;

                for (size_t i = 0; i < n && subset; i++)
                        subset = value_contains(&b, &items[i]);
                *ret = (Value){.kind = VALUE_BOOL, .b = subset};
                return 0;
        }
        case FUNC_APPEND_STRING: {
                _cleanup_(freep) char *buf = NULL;
                size_t len;

                r = string_arg(c, x, &a, fn, 1, &sa);
                if (r >= 0)
                        r = string_arg(c, x, &b, fn, 2, &sb);
                if (r < 0)
                        return r;
                len = sa->s->len + sb->s->len;
                if (len > MAA_POLICY_STRING_MAX)
                        return eval_error(c, x, -E2BIG, "AppendString(): result too long");
                buf = malloc(len + 1);
                if (!buf)
                        return -ENOMEM;
                memcpy(buf, sa->s->text, sa->s->len);
                memcpy(buf + sa->s->len, sb->s->text, sb->s->len);
                *ret = (Value){.kind = VALUE_STRING, .read_only = sa->read_only || sb->read_only};
                r = str_new(c->e, buf, len, &ret->s);
                if (r == -E2BIG)
                        return eval_error(c, x, r,
                                          "AppendString(): evaluation makes too much text");
                return r;
        }
        case FUNC_NEGATE_BOOL:
                sa = value_single(&a);
                if (!sa || sa->kind != VALUE_BOOL)
                        return eval_error(c, x, -EBADMSG, "NegateBool(): not a single Boolean");
                *ret = (Value){.kind = VALUE_BOOL, .b = !sa->b, .read_only = sa->read_only};
                return 0;
        case FUNC_CONTAINS_ONLY_VALUE: {
                size_t n;
                const Value *items = value_elems(&a, &n);
                bool only = n > 0;

                sb = value_single(&b);
                if (!sb)
                        return eval_error(c, x, -EBADMSG,
                                          "ContainsOnlyValue(): argument 2 is not a single value");
                for (size_t i = 0; i < n && only; i++) {
                        Scalar si = scalar_of(&items[i]), sv = scalar_of(sb);
                        only = scalar_equal(&si, &sv);
                }
                *ret = (Value){.kind = VALUE_BOOL, .b = only};
                return 0;
        }
        default:
                return -EINVAL;
        }
}

/* The property prop of claim cl as a (new) value. */
static int claim_prop(Eval *e, const Claim *cl, ClaimProp prop, Value *ret) {
        const char *s;

        switch (prop) {
        case PROP_VALUE:
                return value_copy(&cl->value, ret);
        case PROP_TYPE:
                *ret = (Value){.kind = VALUE_STRING, .s = str_ref(cl->type)};
                return 0;
        default:
                s = prop == PROP_ISSUER ? cl->issuer : value_type_name(cl->value.kind);
                *ret = (Value){.kind = VALUE_STRING};
                return str_new(e, s, strlen(s), &ret->s);
        }
}

static int expr_eval(RuleCtx *c, const Expr *x, Value *ret) {
        const Binding *b;
        int r;

        switch (x->kind) {
        case EXPR_BOOL:
                *ret = (Value){.kind = VALUE_BOOL, .b = x->b};
                return 0;
        case EXPR_INT:
                *ret = (Value){.kind = VALUE_INT, .i = x->i};
                return 0;
        case EXPR_STRING:
                *ret = (Value){.kind = VALUE_STRING};
                r = str_new(c->e, x->s, x->len, &ret->s);
                if (r == -E2BIG)
                        return eval_error(c, x, r, "evaluation makes too much text");
                return r;
        case EXPR_PROPERTY:
                b = &c->bindings[x->ident];
                if (b->n == 1)
                        return claim_prop(c->e, &c->e->incoming.claims[b->idx[0]], x->prop, ret);
                {
                        _cleanup_(value_done) Value set = {.kind = VALUE_SET};

                        set.items = calloc(MAX(b->n, (size_t) 1), sizeof(Value));
                        if (!set.items)
                                return -ENOMEM;
                        for (size_t i = 0; i < b->n; i++) {
                                r = claim_prop(c->e, &c->e->incoming.claims[b->idx[i]], x->prop,
                                               &set.items[i]);
                                if (r < 0)
                                        return r;
                                set.n_items++;
                                set.read_only = set.read_only || set.items[i].read_only;
                        }
                        *ret = set;
                        set = (Value){};
                        return 0;
                }
        case EXPR_CALL:
                return call_eval(c, x, ret);
        }
        return -EINVAL;
}

static bool claim_matches(const Claim *cl, const Cond *cond, const Value *rhs) {
        for (size_t k = 0; k < cond->n_props; k++) {
                const PropCond *pc = &cond->props[k];
                const char *s;
                Scalar lhs;

                switch (pc->prop) {
                case PROP_TYPE:
                        lhs = scalar_str(cl->type->text, cl->type->len);
                        break;
                case PROP_VALUE:
                        lhs = scalar_of(&cl->value);
                        break;
                default:
                        s = pc->prop == PROP_ISSUER ? cl->issuer : value_type_name(cl->value.kind);
                        lhs = scalar_str(s, strlen(s));
                        break;
                }
                if (!value_cmp(&lhs, pc->op, &rhs[k]))
                        return false;
        }
        return true;
}

/* Adds one claim (type, scalar value) as the rule's action says. */
static int emit(RuleCtx *c, const Value *type, const Value *value) {
        Eval *e = c->e;
        int r;

        if (value->kind == VALUE_EMPTY)
                return 0; /* an empty claim: a no-op (claim-rule-functions.md, JSON null) */
        if ((c->rule->action == ACTION_ISSUE || c->rule->action == ACTION_ISSUEPROPERTY) &&
            (value->read_only || type->read_only))
                return eval_error(c, NULL, -EPERM,
                                  "%s() of a value derived from a read-only claim (pcrs)",
                                  action_names[c->rule->action]);
        r = claim_add(&e->incoming, type->s, value, ISSUER_POLICY);
        if (r >= 0 && c->rule->action == ACTION_ISSUE)
                r = claim_add(&e->outgoing, type->s, value, ISSUER_POLICY);
        if (r >= 0 && c->rule->action == ACTION_ISSUEPROPERTY)
                r = claim_add(&e->properties, type->s, value, ISSUER_POLICY);
        if (r == -E2BIG)
                return eval_error(c, NULL, r, "more than %u claims", MAA_POLICY_CLAIMS_MAX);
        return r;
}

static int action_run(RuleCtx *c) {
        const Rule *rule = c->rule;
        _cleanup_(value_done) Value type = {}, value = {};
        const Value *t;
        size_t n;
        int r;

        if (rule->action == ACTION_PERMIT || rule->action == ACTION_DENY)
                return 0;
        if (rule->has_claim_ref) {
                const Binding *b = &c->bindings[rule->claim_ref];

                for (size_t i = 0; i < b->n; i++) {
                        _cleanup_(value_done) Value tv = {}, vv = {};
                        const Claim *cl = &c->e->incoming.claims[b->idx[i]];

                        tv = (Value){.kind = VALUE_STRING, .s = str_ref(cl->type)};
                        r = value_copy(&cl->value, &vv);
                        if (r >= 0)
                                r = emit(c, &tv, &vv);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        r = expr_eval(c, rule->type, &type);
        if (r < 0)
                return r;
        t = value_single(&type);
        if (!t || t->kind != VALUE_STRING || t->s->len == 0 || strlen(t->s->text) != t->s->len)
                return eval_error(c, rule->type, -EBADMSG,
                                  "the claim type is not a single non-empty string");
        r = expr_eval(c, rule->value, &value);
        if (r < 0)
                return r;
        const Value *items = value_elems(&value, &n);
        for (size_t i = 0; i < n; i++) {
                r = emit(c, t, &items[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Runs one rule: *ret_fired tells whether its conditions held (and its action ran). */
static int rule_run(Eval *e, const Rule *rule, bool *ret_fired) {
        _cleanup_(freep) Binding *bindings = NULL;
        RuleCtx c = {.e = e, .rule = rule};
        bool fired = true;
        int r = 0;

        bindings = calloc(MAX(rule->n_conds, (size_t) 1), sizeof(Binding));
        if (!bindings)
                return -ENOMEM;
        c.bindings = bindings;
        for (size_t i = 0; i < rule->n_conds && fired && r >= 0; i++) {
                const Cond *cond = &rule->conds[i];
                Value *rhs = calloc(cond->n_props, sizeof(Value));
                size_t n_rhs = 0;

                if (!rhs) {
                        r = -ENOMEM;
                        break;
                }
                for (; n_rhs < cond->n_props && r >= 0; n_rhs++)
                        r = expr_eval(&c, cond->props[n_rhs].rhs, &rhs[n_rhs]);
                for (size_t k = 0; k < e->incoming.n && r >= 0; k++) {
                        if (!claim_matches(&e->incoming.claims[k], cond, rhs))
                                continue;
                        if (cond->negated || !cond->ident) {
                                /* existence is all that matters */
                                bindings[i].n = 1;
                                break;
                        }
                        r = GROW(bindings[i].idx, bindings[i].n_alloc, bindings[i].n + 1);
                        if (r >= 0)
                                bindings[i].idx[bindings[i].n++] = k;
                }
                fired = cond->negated ? bindings[i].n == 0 : bindings[i].n > 0;
                for (size_t k = 0; k < n_rhs; k++)
                        value_done(&rhs[k]);
                free(rhs);
        }
        if (r >= 0 && fired)
                r = action_run(&c);
        for (size_t i = 0; i < rule->n_conds; i++)
                free(bindings[i].idx);
        if (r < 0)
                return r;
        *ret_fired = fired;
        return 0;
}

static json_object *value_to_json(const Value *v) {
        switch (v->kind) {
        case VALUE_BOOL:
                return json_object_new_boolean(v->b);
        case VALUE_INT:
                return json_object_new_int64(v->i);
        default:
                return json_object_new_string_len(v->s->text, (int) v->s->len);
        }
}

/* type -> value; a type seen again becomes an array (multi) or is replaced (!multi). */
static int claims_to_json(const ClaimList *l, bool multi, json_object *o) {
        int r;

        for (size_t i = 0; i < l->n; i++) {
                const char *key = l->claims[i].type->text;
                json_object *v = value_to_json(&l->claims[i].value), *old, *arr;

                if (!v)
                        return -ENOMEM;
                if (!multi || !json_object_object_get_ex(o, key, &old)) {
                        r = json_add(o, key, v);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!json_object_is_type(old, json_type_array)) {
                        arr = json_object_new_array();
                        if (!arr || json_object_array_add(arr, json_object_get(old)) < 0) {
                                json_object_put(arr);
                                json_object_put(v);
                                return -ENOMEM;
                        }
                        r = json_add(o, key, arr);
                        if (r < 0) {
                                json_object_put(v);
                                return r;
                        }
                        old = arr;
                }
                if (json_object_array_add(old, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        return 0;
}

void maa_verdict_done(MaaVerdict *v) {
        if (!v)
                return;
        json_object_put(v->claims);
        json_object_put(v->properties);
        *v = (MaaVerdict){};
}

int maa_policy_evaluate(const MaaPolicy *p, json_object *incoming_claims, uint64_t now_usec,
                        MaaVerdict *ret, Diag *d) {
        _cleanup_(eval_done) Eval e = {.d = d};
        _cleanup_(maa_verdict_done) MaaVerdict v = {};
        bool fired;
        int r;

        (void) now_usec; /* the language has no time functions */
        if (!p || !ret)
                return -EINVAL;
        if (!json_object_is_type(incoming_claims, json_type_object))
                return diag_set(d, -EINVAL, "incoming claims: not a JSON object");
        r = claims_load(&e, p, incoming_claims);
        if (r < 0)
                return diag_set(d, r, "incoming claims: %s",
                                r == -E2BIG ? "too many claims or too much text" : "cannot load");

        for (size_t i = 0; i < p->authorization.n; i++) {
                const Rule *rule = &p->authorization.rules[i];

                r = rule_run(&e, rule, &fired);
                if (r < 0)
                        return r;
                if (!fired)
                        continue;
                if (rule->action == ACTION_DENY) {
                        v.permitted = false;
                        v.deny_line = rule->line;
                        break;
                }
                if (rule->action == ACTION_PERMIT && !v.permitted) {
                        v.permitted = true;
                        v.permit_line = rule->line;
                }
        }
        if (v.deny_line > 0)
                (void) snprintf(v.reason, sizeof(v.reason),
                                "deny() in authorizationrules at line %u", v.deny_line);
        else if (!v.permitted)
                (void) snprintf(v.reason, sizeof(v.reason),
                                "no authorization rule ran permit() (%zu rules)",
                                p->authorization.n);
        else
                (void) snprintf(v.reason, sizeof(v.reason),
                                "permit() in authorizationrules at line %u", v.permit_line);

        if (v.permitted)
                for (size_t i = 0; i < p->issuance.n; i++) {
                        r = rule_run(&e, &p->issuance.rules[i], &fired);
                        if (r < 0)
                                return r;
                }

        if (json_object_deep_copy(p->configuration, &v.properties, NULL) < 0)
                return -ENOMEM;
        r = claims_to_json(&e.properties, /* multi= */ false, v.properties);
        if (r < 0)
                return r;
        if (v.permitted) {
                v.claims = json_object_new_object();
                if (!v.claims)
                        return -ENOMEM;
                r = claims_to_json(&e.outgoing, /* multi= */ true, v.claims);
                if (r < 0)
                        return r;
        }
        *ret = v;
        v = (MaaVerdict){};
        return 0;
}

int maa_policy_hash(const char *text, size_t size, char **ret) {
        _cleanup_(freep) char *b64 = NULL;
        uint8_t md[32];
        unsigned md_len = 0;
        int r;

        r = base64url_encode(text, size, &b64);
        if (r < 0)
                return r;
        if (EVP_Digest(b64, strlen(b64), md, &md_len, EVP_sha256(), NULL) != 1 ||
            md_len != sizeof(md))
                return -ENOMEM;
        return base64url_encode(md, sizeof(md), ret);
}
