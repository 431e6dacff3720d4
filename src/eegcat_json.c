/* eegcat_json.c: the flat JSON objects eegd emits, parsed back to a msg. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eegcat_json.h"
#include "encode.h"

/*
 * The parser's cursor: the input, and the output buffer the decoded keys
 * and values are written to.  err is set by the first failure only.
 */
struct json_parser {
	const char *p, *end;
	char *out, *out_end;
	char *err;
	size_t errlen;
	int failed;
};

static int json_fail(struct json_parser *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first error, with the offset it happened at. */
static int
json_fail(struct json_parser *jp, const char *start, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	if (jp->failed)
		return -1;
	jp->failed = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(jp->err, jp->errlen, "%s at byte %zu", msg,
	    (size_t)(jp->p - start));
	return -1;
}

/* Skip JSON white space. */
static void
json_ws(struct json_parser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
	    *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

/* Append one byte to the output; -1 when it is full. */
static int
json_put(struct json_parser *jp, char c)
{
	if (jp->out >= jp->out_end)
		return -1;
	*jp->out++ = c;
	return 0;
}

/* Read four hex digits at p; -1 when they are not. */
static long
json_hex4(const char *p, const char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Append a code point as UTF-8. */
static int
json_put_utf8(struct json_parser *jp, unsigned long cp)
{
	int r = 0;

	if (cp < 0x80)
		return json_put(jp, (char)cp);
	if (cp < 0x800) {
		r |= json_put(jp, (char)(0xC0 | (cp >> 6)));
	} else if (cp < 0x10000) {
		r |= json_put(jp, (char)(0xE0 | (cp >> 12)));
		r |= json_put(jp, (char)(0x80 | ((cp >> 6) & 0x3F)));
	} else {
		r |= json_put(jp, (char)(0xF0 | (cp >> 18)));
		r |= json_put(jp, (char)(0x80 | ((cp >> 12) & 0x3F)));
		r |= json_put(jp, (char)(0x80 | ((cp >> 6) & 0x3F)));
	}
	r |= json_put(jp, (char)(0x80 | (cp & 0x3F)));
	return r;
}

/*
 * Decode the string at the cursor (which is on its opening quote) into
 * the output, without a terminator.  stop, when not NUL, is a byte the
 * decoded text may not contain (the list separator).
 */
static int
json_string(struct json_parser *jp, const char *start, char stop)
{
	jp->p++;
	for (;;) {
		unsigned char c;
		long u, lo;

		if (jp->p >= jp->end)
			return json_fail(jp, start, "unterminated string");
		c = (unsigned char)*jp->p;
		if (c == '"') {
			jp->p++;
			return 0;
		}
		if (c < 0x20)
			return json_fail(jp, start,
			    "control character in a string");
		if (stop != '\0' && c == (unsigned char)stop)
			return json_fail(jp, start, "'%c' in a list item",
			    stop);
		if (c != '\\') {
			if (json_put(jp, (char)c) == -1)
				return json_fail(jp, start, "object too long");
			jp->p++;
			continue;
		}
		if (jp->end - jp->p < 2)
			return json_fail(jp, start, "unterminated string");
		c = (unsigned char)jp->p[1];
		jp->p += 2;
		switch (c) {
		case '"': case '\\': case '/':
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			if ((u = json_hex4(jp->p, jp->end)) == -1)
				return json_fail(jp, start, "bad \\u escape");
			jp->p += 4;
			if (u >= 0xDC00 && u <= 0xDFFF)
				return json_fail(jp, start, "lone low surrogate");
			if (u >= 0xD800 && u <= 0xDBFF) {
				if (jp->end - jp->p < 6 || jp->p[0] != '\\' ||
				    jp->p[1] != 'u' || (lo = json_hex4(jp->p + 2,
				    jp->end)) < 0xDC00 || lo > 0xDFFF)
					return json_fail(jp, start,
					    "lone high surrogate");
				jp->p += 6;
				u = 0x10000 + ((u - 0xD800) << 10) +
				    (lo - 0xDC00);
			}
			if (u == 0)
				return json_fail(jp, start, "NUL in a string");
			if (stop != '\0' && u == (unsigned char)stop)
				return json_fail(jp, start,
				    "'%c' in a list item", stop);
			if (json_put_utf8(jp, (unsigned long)u) == -1)
				return json_fail(jp, start, "object too long");
			continue;
		default:
			return json_fail(jp, start, "bad escape \\%c", c);
		}
		if (stop != '\0' && c == (unsigned char)stop)
			return json_fail(jp, start, "'%c' in a list item", stop);
		if (json_put(jp, (char)c) == -1)
			return json_fail(jp, start, "object too long");
	}
}

/* Copy the number at the cursor, checking the JSON number grammar. */
static int
json_number(struct json_parser *jp, const char *start)
{
	const char *p = jp->p, *digits;

	if (p < jp->end && *p == '-')
		p++;
	if (p >= jp->end || *p < '0' || *p > '9')
		return json_fail(jp, start, "bad value");
	if (*p == '0')
		p++;
	else
		while (p < jp->end && *p >= '0' && *p <= '9')
			p++;
	if (p < jp->end && *p == '.') {
		digits = ++p;
		while (p < jp->end && *p >= '0' && *p <= '9')
			p++;
		if (p == digits)
			return json_fail(jp, start, "bad number");
	}
	if (p < jp->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < jp->end && (*p == '+' || *p == '-'))
			p++;
		digits = p;
		while (p < jp->end && *p >= '0' && *p <= '9')
			p++;
		if (p == digits)
			return json_fail(jp, start, "bad number");
	}
	while (jp->p < p)
		if (json_put(jp, *jp->p++) == -1)
			return json_fail(jp, start, "object too long");
	return 0;
}

/* Match a literal word (true, false, null) at the cursor and copy it. */
static int
json_word(struct json_parser *jp, const char *start, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0)
		return json_fail(jp, start, "bad value");
	jp->p += n;
	for (size_t i = 0; i < n; i++)
		if (json_put(jp, word[i]) == -1)
			return json_fail(jp, start, "object too long");
	return 0;
}

/* Parse an array of strings, joining the items with ','. */
static int
json_list(struct json_parser *jp, const char *start, size_t *nitems)
{
	*nitems = 0;
	jp->p++;
	json_ws(jp);
	if (jp->p < jp->end && *jp->p == ']') {
		jp->p++;
		return 0;
	}
	for (;;) {
		json_ws(jp);
		if (jp->p >= jp->end || *jp->p != '"')
			return json_fail(jp, start,
			    "only arrays of strings are supported");
		if (*nitems > 0 && json_put(jp, ',') == -1)
			return json_fail(jp, start, "object too long");
		if (json_string(jp, start, ',') == -1)
			return -1;
		(*nitems)++;
		json_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == ']') {
			jp->p++;
			return 0;
		}
		return json_fail(jp, start, "expected ',' or ']'");
	}
}

/* Parse one value into the output and fill the field's type. */
static int
json_value(struct json_parser *jp, const char *start,
    struct eegcat_json_field *f)
{
	f->nitems = 0;
	if (jp->p >= jp->end)
		return json_fail(jp, start, "missing value");
	switch (*jp->p) {
	case '"':
		f->type = EEGCAT_JSON_STRING;
		return json_string(jp, start, '\0');
	case '[':
		f->type = EEGCAT_JSON_LIST;
		return json_list(jp, start, &f->nitems);
	case 't':
		f->type = EEGCAT_JSON_BOOL;
		return json_word(jp, start, "true");
	case 'f':
		f->type = EEGCAT_JSON_BOOL;
		return json_word(jp, start, "false");
	case 'n':
		f->type = EEGCAT_JSON_NULL;
		return json_word(jp, start, "null");
	case '{':
		return json_fail(jp, start, "nested objects are not supported");
	default:
		f->type = EEGCAT_JSON_NUMBER;
		return json_number(jp, start);
	}
}

/* Parse one object of len bytes; 0, or -1 with a message in err. */
int
eegcat_json_parse(struct eegcat_json *o, const char *text, size_t len,
    char *err, size_t errlen)
{
	struct json_parser jp;
	struct eegcat_json_field *f;

	o->n = 0;
	memset(&jp, 0, sizeof jp);
	jp.p = text;
	jp.end = text + len;
	jp.out = o->buf;
	jp.out_end = o->buf + sizeof o->buf;
	jp.err = err;
	jp.errlen = errlen;
	if (len > EEGCAT_JSON_MAX)
		return json_fail(&jp, text, "object longer than %d bytes",
		    EEGCAT_JSON_MAX);
	json_ws(&jp);
	if (jp.p >= jp.end || *jp.p != '{')
		return json_fail(&jp, text, "expected '{'");
	jp.p++;
	json_ws(&jp);
	if (jp.p < jp.end && *jp.p == '}') {
		jp.p++;
		goto done;
	}
	for (;;) {
		json_ws(&jp);
		if (o->n >= EEGCAT_JSON_MAX_FIELDS)
			return json_fail(&jp, text, "more than %d fields",
			    EEGCAT_JSON_MAX_FIELDS);
		f = &o->f[o->n];
		if (jp.p >= jp.end || *jp.p != '"')
			return json_fail(&jp, text, "expected a key");
		f->key = jp.out;
		if (json_string(&jp, text, '\0') == -1)
			return -1;
		if (json_put(&jp, '\0') == -1)
			return json_fail(&jp, text, "object too long");
		json_ws(&jp);
		if (jp.p >= jp.end || *jp.p != ':')
			return json_fail(&jp, text, "expected ':'");
		jp.p++;
		json_ws(&jp);
		f->value = jp.out;
		if (json_value(&jp, text, f) == -1)
			return -1;
		if (json_put(&jp, '\0') == -1)
			return json_fail(&jp, text, "object too long");
		o->n++;
		json_ws(&jp);
		if (jp.p < jp.end && *jp.p == ',') {
			jp.p++;
			continue;
		}
		if (jp.p < jp.end && *jp.p == '}') {
			jp.p++;
			break;
		}
		return json_fail(&jp, text, "expected ',' or '}'");
	}
done:
	json_ws(&jp);
	if (jp.p != jp.end)
		return json_fail(&jp, text, "text after the object");
	return 0;
}

/* Return the first field named key, or NULL. */
const struct eegcat_json_field *
eegcat_json_find(const struct eegcat_json *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->f[i].key, key) == 0)
			return &o->f[i];
	return NULL;
}

/* Return the text of the string field key, or NULL. */
const char *
eegcat_json_str(const struct eegcat_json *o, const char *key)
{
	const struct eegcat_json_field *f = eegcat_json_find(o, key);

	return f != NULL && f->type == EEGCAT_JSON_STRING ? f->value : NULL;
}

/* Parse a run of decimal digits into *v; -1 on overflow or none. */
static int
json_digits(const char *s, const char **endp, uint64_t *v)
{
	const char *p = s;

	*v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (*v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(*p - '0');
	}
	*endp = p;
	return p == s ? -1 : 0;
}

/* Read the non-negative integer field key into *v. */
int
eegcat_json_u64(const struct eegcat_json *o, const char *key, uint64_t *v)
{
	const struct eegcat_json_field *f = eegcat_json_find(o, key);
	const char *end;

	if (f == NULL || f->type != EEGCAT_JSON_NUMBER ||
	    json_digits(f->value, &end, v) == -1 || *end != '\0')
		return -1;
	return 0;
}

/*
 * Parse "[-]S[.F]" with at most 6 decimals as microseconds; the number of
 * decimals goes to *decimals.  -1 when s is not of that form.
 */
static int
json_parse_us(const char *s, int64_t *us, int *decimals)
{
	const char *p = s, *end;
	uint64_t ip, frac = 0;
	int neg = 0, nd = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (json_digits(p, &end, &ip) == -1 || ip > INT64_MAX / 1000000 - 1)
		return -1;
	p = end;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++nd > 6)
				return -1;
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (nd == 0)
			return -1;
	}
	if (*p != '\0')
		return -1;
	for (int i = nd; i < 6; i++)
		frac *= 10;
	*us = (int64_t)(ip * 1000000 + frac);
	if (neg)
		*us = -*us;
	*decimals = nd;
	return 0;
}

/* Read the number field key as exact microseconds. */
int
eegcat_json_time(const struct eegcat_json *o, const char *key, int64_t *us)
{
	const struct eegcat_json_field *f = eegcat_json_find(o, key);
	int nd;

	if (f == NULL || f->type != EEGCAT_JSON_NUMBER)
		return -1;
	return json_parse_us(f->value, us, &nd);
}

/* Is key a field that CSV writes bare in replies of class cls? */
static int
json_bare(const char *cls, const char *key)
{
	if (strcmp(cls, "ok") == 0)
		return strcmp(key, "command") == 0 || strcmp(key, "arg") == 0;
	if (strcmp(cls, "error") == 0)
		return strcmp(key, "message") == 0;
	return 0;
}

/* Add one number field, typed by how the daemon writes it. */
static void
json_add_number(struct msg *m, const struct eegcat_json_field *f)
{
	const char *s = f->value, *end;
	int64_t us;
	uint64_t v;
	int nd;

	if (json_digits(s, &end, &v) == 0 && *end == '\0') {
		encode_add_u64(m, f->key, v);
		return;
	}
	if (s[0] == '-' && json_digits(s + 1, &end, &v) == 0 &&
	    *end == '\0' && v <= (uint64_t)INT64_MAX) {
		encode_add_i64(m, f->key, -(int64_t)v);
		return;
	}
	if (json_parse_us(s, &us, &nd) == 0 && nd == 6) {
		encode_add_time(m, f->key, us);
		return;
	}
	/* 3 decimals (encode_fixed); anything else comes out that way too. */
	encode_add_dbl(m, f->key, strtod(s, NULL));
}

/* Rebuild the daemon's message from o; -1 without a string "class". */
int
eegcat_json_to_msg(const struct eegcat_json *o, struct msg *m)
{
	const char *cls = eegcat_json_str(o, "class");
	int seen_class = 0;

	if (cls == NULL)
		return -1;
	encode_msg_init(m, cls);
	for (size_t i = 0; i < o->n; i++) {
		const struct eegcat_json_field *f = &o->f[i];
		if (!seen_class && f->value == cls) {
			seen_class = 1;
			continue;
		}
		switch (f->type) {
		case EEGCAT_JSON_STRING:
			encode_add_str(m, f->key, f->value,
			    json_bare(cls, f->key));
			break;
		case EEGCAT_JSON_NUMBER:
			json_add_number(m, f);
			break;
		case EEGCAT_JSON_LIST:
			encode_add_list(m, f->key, f->value);
			break;
		case EEGCAT_JSON_BOOL:
			encode_add_bool(m, f->key, f->value[0] == 't');
			break;
		case EEGCAT_JSON_NULL:
			break;
		}
	}
	return 0;
}
