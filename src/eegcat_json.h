/*
 * eegcat_json.h: a parser for the flat JSON objects eegd emits (events,
 * replies, hello), and their conversion back to a struct msg so that
 * eegcat renders them with the daemon's own encoders.  Pure and bounded:
 * no allocation, no I/O, so it is unit-tested on its own.
 *
 * Values may be strings, numbers, true, false, null and arrays of
 * strings; nested objects and other arrays are refused.
 */
#ifndef EEGD_EEGCAT_JSON_H
#define EEGD_EEGCAT_JSON_H

#include <stddef.h>
#include <stdint.h>

struct msg;

/* The longest object accepted, in bytes (the daemon's line limit). */
#define EEGCAT_JSON_MAX 16384
/* The most fields an object may have. */
#define EEGCAT_JSON_MAX_FIELDS 32

/* What a value is. */
enum eegcat_json_type {
	EEGCAT_JSON_STRING = 0,	/* value: the decoded UTF-8 text */
	EEGCAT_JSON_NUMBER,	/* value: the number's text, as written */
	EEGCAT_JSON_LIST,	/* value: the decoded items joined by ',' */
	EEGCAT_JSON_BOOL,	/* value: "true" or "false" */
	EEGCAT_JSON_NULL,	/* value: "null" */
};

/* One key and its value; both NUL-terminated, pointing into the object. */
struct eegcat_json_field {
	const char *key;
	enum eegcat_json_type type;
	const char *value;
	size_t nitems;		/* LIST: number of items */
};

/*
 * A parsed object.  The fields point into buf, so they live as long as
 * the object does.
 */
struct eegcat_json {
	size_t n;
	struct eegcat_json_field f[EEGCAT_JSON_MAX_FIELDS];
	char buf[EEGCAT_JSON_MAX + 2 * EEGCAT_JSON_MAX_FIELDS + 2];
};

/*
 * Parse one object of len bytes (surrounding white space allowed).
 * Returns 0 and fills o, or -1 with a one-line message in err.
 */
int eegcat_json_parse(struct eegcat_json *o, const char *text, size_t len,
    char *err, size_t errlen);
/* Return the first field named key, or NULL. */
const struct eegcat_json_field *eegcat_json_find(const struct eegcat_json *o,
    const char *key);
/* Return the text of the string field key, or NULL when absent or not one. */
const char *eegcat_json_str(const struct eegcat_json *o, const char *key);
/* Read the non-negative integer field key into *v; -1 when absent or not one. */
int eegcat_json_u64(const struct eegcat_json *o, const char *key,
    uint64_t *v);
/*
 * Read the number field key, seconds with at most 6 decimals, as exact
 * microseconds into *us; -1 when absent or not such a number.
 */
int eegcat_json_time(const struct eegcat_json *o, const char *key,
    int64_t *us);
/*
 * Rebuild the daemon's message from o: the class from "class", then each
 * other field typed so that encode_msg renders it as the daemon does
 * (integers, 6-decimal times, 3-decimal numbers, text, lists, booleans;
 * the reply fields CSV writes bare are marked bare).  The message points
 * into o.  Returns -1 when o has no string "class".
 */
int eegcat_json_to_msg(const struct eegcat_json *o, struct msg *m);

#endif
