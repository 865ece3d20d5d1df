/* Small jansson helpers shared by the files that read and write JSON. */
#ifndef HEARTH_JSON_H
#define HEARTH_JSON_H

#include <jansson.h>

#include "util.h"

/* A JSON string for S, or null when S is NULL. */
static inline json_t *json_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A malloc'd copy of V when it is a string, else NULL. */
static inline char *json_strdup_or_null(const json_t *v)
{
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

#endif
