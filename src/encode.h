/*
 * encode.h: what the encoders share.  A non-sample line (hello, status,
 * gap, ok, error, board, ...) is a `msg`: a class and a list of typed
 * fields.  encode_csv renders it as "# class key=value ...", encode_json as
 * {"class":...,"key":value,...}, so the two formats never disagree on what
 * an event says.
 */
#ifndef EEGD_ENCODE_H
#define EEGD_ENCODE_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct record;

/* Wire formats a client can choose. */
enum encode_format { FMT_CSV = 0, FMT_JSON, FMT_BINARY, FMT_N };

#define ENCODE_MAX_FIELDS 48

/* How a field's value is written. */
enum field_type {
	F_STR,		/* text; JSON string, CSV as is (control chars dropped) */
	F_U64,
	F_I64,
	F_TIME,		/* microseconds, written as seconds with 6 decimals */
	F_DBL3,		/* a double with 3 decimals */
	F_LIST,		/* comma-separated text; JSON array of strings */
	F_BOOL,
};

/* One field.  In CSV a bare field is written without its "key=". */
struct field {
	const char *key;
	enum field_type type;
	int bare;
	union {
		const char *s;
		uint64_t u;
		int64_t i;
		double d;
	} v;
};

/* A message: a class and its fields. */
struct msg {
	const char *cls;
	size_t n;
	struct field f[ENCODE_MAX_FIELDS];
};

/* Start an event of class cls. */
void encode_msg_init(struct msg *ev, const char *cls);
/* Append a text field. */
void encode_add_str(struct msg *ev, const char *key, const char *s, int bare);
/* Append an unsigned field. */
void encode_add_u64(struct msg *ev, const char *key, uint64_t v);
/* Append a signed field. */
void encode_add_i64(struct msg *ev, const char *key, int64_t v);
/* Append a time field (microseconds). */
void encode_add_time(struct msg *ev, const char *key, int64_t us);
/* Append a double field with 3 decimals. */
void encode_add_dbl(struct msg *ev, const char *key, double d);
/* Append a comma-separated list field. */
void encode_add_list(struct msg *ev, const char *key, const char *csv);
/* Append a boolean field. */
void encode_add_bool(struct msg *ev, const char *key, int b);

/* Write v with `decimals` decimals into buf (>= 32 bytes); returns length. */
size_t encode_fixed(char *buf, double v, int decimals);
/* Write a time in microseconds as seconds with 6 decimals; returns length. */
size_t encode_time(char *buf, int64_t us);

/* Render an event in the given format, with its newline. */
void encode_msg(struct evbuffer *out, enum encode_format fmt,
    const struct msg *ev);
/* Render one sample in the given format, with its newline. */
void encode_sample(struct evbuffer *out, enum encode_format fmt,
    const struct record *r);

/* Parse a format name; -1 when unknown. */
int encode_format_parse(const char *name);
/* Return a format's name. */
const char *encode_format_name(enum encode_format fmt);

#endif
