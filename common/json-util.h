/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

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

/* Helpers for building output documents; each returns -ENOMEM on allocation failure. */
int json_add_string(json_object *o, const char *key, const char *value);
int json_add_int(json_object *o, const char *key, int64_t value);
int json_add_bool(json_object *o, const char *key, bool value);
int json_add_hex(json_object *o, const char *key, const void *p, size_t n);
/* Adds value under key, taking ownership of value even on failure. */
int json_add(json_object *o, const char *key, json_object *value);
