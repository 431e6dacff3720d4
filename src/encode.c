/* encode.c: events, number formatting and format dispatch. */
#include "autoconfig.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "encode_bin.h"
#include "encode_csv.h"
#include "encode_json.h"

static const char *const format_names[FMT_N] = { "csv", "json", "binary" };

/* Start an event of class cls. */
void
encode_msg_init(struct msg *ev, const char *cls)
{
	ev->cls = cls;
	ev->n = 0;
}

/* Append a field slot, or NULL when the event is full. */
static struct field *
encode_add(struct msg *ev, const char *key, enum field_type t)
{
	struct field *f;

	if (ev->n >= ENCODE_MAX_FIELDS)
		return NULL;
	f = &ev->f[ev->n++];
	f->key = key;
	f->type = t;
	f->bare = 0;
	return f;
}

/* Append a text field. */
void
encode_add_str(struct msg *ev, const char *key, const char *s, int bare)
{
	struct field *f = encode_add(ev, key, F_STR);
	if (f != NULL) {
		f->v.s = s;
		f->bare = bare;
	}
}

/* Append an unsigned field. */
void
encode_add_u64(struct msg *ev, const char *key, uint64_t v)
{
	struct field *f = encode_add(ev, key, F_U64);
	if (f != NULL)
		f->v.u = v;
}

/* Append a signed field. */
void
encode_add_i64(struct msg *ev, const char *key, int64_t v)
{
	struct field *f = encode_add(ev, key, F_I64);
	if (f != NULL)
		f->v.i = v;
}

/* Append a time field (microseconds). */
void
encode_add_time(struct msg *ev, const char *key, int64_t us)
{
	struct field *f = encode_add(ev, key, F_TIME);
	if (f != NULL)
		f->v.i = us;
}

/* Append a double field with 3 decimals. */
void
encode_add_dbl(struct msg *ev, const char *key, double d)
{
	struct field *f = encode_add(ev, key, F_DBL3);
	if (f != NULL)
		f->v.d = d;
}

/* Append a comma-separated list field. */
void
encode_add_list(struct msg *ev, const char *key, const char *csv)
{
	struct field *f = encode_add(ev, key, F_LIST);
	if (f != NULL)
		f->v.s = csv;
}

/* Append a boolean field. */
void
encode_add_bool(struct msg *ev, const char *key, int b)
{
	struct field *f = encode_add(ev, key, F_BOOL);
	if (f != NULL)
		f->v.u = b != 0;
}

/* Write an unsigned integer in decimal; returns length. */
static size_t
encode_uint(char *buf, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/*
 * Write v with `decimals` decimals (0..6) into buf (>= 32 bytes); returns
 * the length.  Values are rounded half away from zero; a value that
 * rounds to zero is written without a sign.  A non-finite value is
 * written as 0, and one too large for exact fixed point (|v| * 10^d >=
 * 2^53) in exponent form, which always fits.
 */
size_t
encode_fixed(char *buf, double v, int decimals)
{
	static const double pow10[] = { 1, 10, 100, 1000, 10000, 100000,
	    1000000 };
	double scaled;
	uint64_t m, ip, fp, div = 1;
	size_t n = 0;
	int neg = v < 0, len;

	if (decimals < 0)
		decimals = 0;
	if (decimals > 6)
		decimals = 6;
	if (!isfinite(v))
		v = 0;
	scaled = fabs(v) * pow10[decimals] + 0.5;
	if (scaled >= 9007199254740992.0) {
		len = snprintf(buf, 32, "%.6e", v);
		return len < 0 ? 0 : (size_t)len > 31 ? 31 : (size_t)len;
	}
	m = (uint64_t)scaled;
	for (int i = 0; i < decimals; i++)
		div *= 10;
	ip = m / div;
	fp = m % div;
	if (neg && m != 0)
		buf[n++] = '-';
	n += encode_uint(buf + n, ip);
	if (decimals > 0) {
		buf[n++] = '.';
		for (int i = decimals - 1; i >= 0; i--) {
			buf[n + (size_t)i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		n += (size_t)decimals;
	}
	return n;
}

/* Write a time in microseconds as seconds with 6 decimals; returns length. */
size_t
encode_time(char *buf, int64_t us)
{
	size_t n = 0;
	uint64_t a;

	if (us < 0) {
		buf[n++] = '-';
		a = (uint64_t)(-(us + 1)) + 1;
	} else
		a = (uint64_t)us;
	n += encode_uint(buf + n, a / 1000000);
	buf[n++] = '.';
	for (int i = 5; i >= 0; i--) {
		buf[n + (size_t)i] = (char)('0' + a % 10);
		a /= 10;
	}
	return n + 6;
}

/* Render an event in the given format, with its newline. */
void
encode_msg(struct evbuffer *out, enum encode_format fmt,
    const struct msg *ev)
{
	if (fmt == FMT_JSON)
		encode_json_msg(out, ev);
	else if (fmt == FMT_BINARY)
		encode_bin_msg(out, ev);
	else
		encode_csv_msg(out, ev);
}

/* Render one sample as a text line (binary goes through encode_bin). */
void
encode_sample(struct evbuffer *out, enum encode_format fmt,
    const struct record *r)
{
	if (fmt == FMT_JSON)
		encode_json_sample(out, r);
	else
		encode_csv_sample(out, r);
}

/* Parse a format name; -1 when unknown. */
int
encode_format_parse(const char *name)
{
	for (int i = 0; i < FMT_N; i++)
		if (strcmp(name, format_names[i]) == 0)
			return i;
	return -1;
}

/* Return a format's name. */
const char *
encode_format_name(enum encode_format fmt)
{
	return fmt < FMT_N ? format_names[fmt] : "?";
}
