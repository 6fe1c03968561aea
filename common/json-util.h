/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "common/macro.h"

DEFINE_CLEANUP_FUNC(json_object *, json_object_put);

#define JSON_DEFAULT_MAX_SIZE (1024u * 1024u)
#define JSON_DEFAULT_MAX_DEPTH 32

/*
 * Parses untrusted JSON text of exactly size bytes, strictly (RFC 8259: no comments, no trailing
 * garbage), refusing input larger than max_size (-E2BIG, before any parsing) or nested deeper
 * than max_depth, and NUL bytes inside the text (-EBADMSG). Pure.
 */
int json_parse_capped(const char *text, size_t size, size_t max_size, int max_depth,
                      json_object **ret);

/*
 * json_parse_capped's fast path on its own, for tests and fuzzing: 1 with *ret set when the text
 * is in the subset it parses (objects, arrays, strings of printable ASCII without escapes, short
 * integers, true/false/null, nested less deeply than max_depth allows), giving the tree json-c
 * gives; 0, *ret untouched, when it leaves the text to json-c, malformed or not (it never refuses
 * anything itself). No caps: the caller checks size and NUL bytes first. Pure.
 */
int json_parse_fast(const char *text, size_t size, int max_depth, json_object **ret);
/* json_parse_capped without the fast path: json-c's strict tokener alone, with the same caps and
 * refusals (the reference the fast path is fuzzed against). Pure. */
int json_parse_jsonc(const char *text, size_t size, size_t max_size, int max_depth,
                     json_object **ret);

/* Helpers for building output documents; each returns -ENOMEM on allocation failure. */
int json_add_string(json_object *o, const char *key, const char *value);
int json_add_int(json_object *o, const char *key, int64_t value);
int json_add_bool(json_object *o, const char *key, bool value);
int json_add_hex(json_object *o, const char *key, const void *p, size_t n);
/* Appends value to the array a, taking ownership of value even on failure; a NULL value (a
 * failed allocation) is -ENOMEM. */
int json_array_append(json_object *a, json_object *value);
/* Adds value under key, taking ownership of value even on failure. */
int json_add(json_object *o, const char *key, json_object *value);

/*
 * Duplicate members. json-c keeps the last of two members of one name where another reader may
 * keep the first, so parsers of untrusted documents that must mean one thing refuse them: count
 * the members each object of the text spells out (json_member_counts), then walk json-c's parse
 * of the same text beside the counts (json_members_unique): an object with fewer members than
 * its text named held a duplicate.
 */
typedef struct JsonMemberCounts {
        size_t *counts;  /* members named in the text, one per object in document order */
        size_t n;        /* objects */
        bool nul_escape; /* a string holds the escape "\u0000" */
} JsonMemberCounts;

/* One pass over text[0, size), tolerant of malformed JSON (the parser judges that). -EBADMSG
 * when objects and arrays nest deeper than max_depth, -E2BIG for more than max_objects objects,
 * -ENOMEM. *ret filled only on success (json_member_counts_done). Pure. */
int json_member_counts(const char *text, size_t size, size_t max_depth, size_t max_objects,
                       JsonMemberCounts *ret);
void json_member_counts_done(JsonMemberCounts *c);
/* Walks o (json-c's parse of the counted text) in document order from object *next (start at
 * 0), comparing each object's member count with the text's. Returns NULL when they all agree
 * and every counted object was seen, else the first object that folded a duplicate (o itself
 * when the counts ran out). Pure. */
json_object *json_members_unique(json_object *o, const JsonMemberCounts *c, size_t *next);

/*
 * For strict readers of documents another process wrote: parses size bytes of text (at most
 * max_size, -E2BIG before parsing) nested at most max_depth objects and arrays deep into a JSON
 * object *ret, refusing anything that is not exactly one object, an object holding a member
 * twice, a string holding "\u0000" and more than JSON_STRICT_OBJECTS_MAX objects (-EBADMSG).
 * -ENOMEM. Pure.
 */
#define JSON_STRICT_OBJECTS_MAX 100000u
int json_parse_object_strict(const char *text, size_t size, size_t max_size, int max_depth,
                             json_object **ret);
/* NULL when every member of o is named in names[0, n), else the first member that is not. Pure. */
const char *json_unknown_member(json_object *o, const char *const *names, size_t n);
/*
 * A versioned document another process wrote (the agent's state files): json_parse_object_strict
 * (-E2BIG: "WHAT: N bytes, at most M"; -EBADMSG: "WHAT: not one JSON object, or a member twice"),
 * no member outside names[0, n) ("WHAT: unknown member ..."), and a "version" that is a positive
 * integer (-EBADMSG) equal to version (-EPROTONOSUPPORT: "WHAT: version V (this agent reads W)").
 * The Diag names what failed; *ret filled only on success. -ENOMEM. Pure.
 */
struct Diag;
int json_parse_versioned(const char *text, size_t size, size_t max_size, int max_depth,
                         const char *what, const char *const *names, size_t n, int64_t version,
                         json_object **ret, struct Diag *d);
