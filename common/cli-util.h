/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdio.h>

struct json_object;

/*
 * [io] Output helpers shared by the two programs. json_print writes o pretty-printed with a
 * trailing newline; json_print_flat writes "key: value" lines, nested objects as "a.b: value",
 * for humans. Both return -errno on write errors.
 */
int json_print(FILE *f, struct json_object *o);
int json_print_flat(FILE *f, struct json_object *o);
