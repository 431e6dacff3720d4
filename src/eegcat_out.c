/* eegcat_out.c: eegcat's standard output, in the daemon's CSV or JSON lines. */
#include "autoconfig.h"

#include <errno.h>
#include <event2/buffer.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "eegcat_conn.h"
#include "eegcat_json.h"
#include "eegcat_out.h"
#include "encode.h"
#include "encode_csv.h"
#include "sample.h"

/*
 * An output.  Lines go to buf, or to held while a mid-stream header waits
 * for its hello (so the new hello comes before the samples it describes,
 * as it does for a CSV client of the daemon).  last_hello is the hello
 * printed last, so a reconnection to the same run prints none.
 */
struct eegcat_out {
	int fd;
	enum encode_format fmt;
	int holding;
	struct evbuffer *buf;
	struct evbuffer *held;
	char *last_hello;
	size_t last_hello_len;
	struct record *rec;	/* room for EEGCAT_CONN_MAX_CH values */
};

/* Create an output on fd. */
struct eegcat_out *
eegcat_out_new(int fd, int json)
{
	struct eegcat_out *o;

	if ((o = calloc(1, sizeof *o)) == NULL)
		return NULL;
	o->fd = fd;
	o->fmt = json ? FMT_JSON : FMT_CSV;
	o->buf = evbuffer_new();
	o->held = evbuffer_new();
	o->rec = calloc(1, record_size(EEGCAT_CONN_MAX_CH));
	if (o->buf == NULL || o->held == NULL || o->rec == NULL) {
		eegcat_out_free(o);
		return NULL;
	}
	return o;
}

/* Free an output. */
void
eegcat_out_free(struct eegcat_out *o)
{
	if (o == NULL)
		return;
	if (o->buf != NULL)
		evbuffer_free(o->buf);
	if (o->held != NULL)
		evbuffer_free(o->held);
	free(o->last_hello);
	free(o->rec);
	free(o);
}

/* Where lines go now. */
static struct evbuffer *
out_target(struct eegcat_out *o)
{
	return o->holding ? o->held : o->buf;
}

/* Hold the lines until the next hello. */
void
eegcat_out_hold(struct eegcat_out *o)
{
	o->holding = 1;
}

/* Render an event object in the output format. */
static void
out_object(struct eegcat_out *o, struct evbuffer *to, const char *json,
    size_t len, const struct eegcat_json *obj)
{
	struct msg m;

	if (o->fmt == FMT_JSON) {
		/* The event frame holds the very object a JSON client gets. */
		evbuffer_add(to, json, len);
		evbuffer_add(to, "\n", 1);
		return;
	}
	if (eegcat_json_to_msg(obj, &m) == 0)
		encode_msg(to, FMT_CSV, &m);
}

/* Print a hello unless it is the one printed last; ends a hold. */
void
eegcat_out_hello(struct eegcat_out *o, const char *json, size_t len,
    const struct eegcat_json *obj)
{
	const struct eegcat_json_field *labels;
	char *copy;

	if (o->last_hello == NULL || o->last_hello_len != len ||
	    memcmp(o->last_hello, json, len) != 0) {
		out_object(o, o->buf, json, len, obj);
		labels = eegcat_json_find(obj, "labels");
		if (o->fmt == FMT_CSV && labels != NULL &&
		    labels->type == EEGCAT_JSON_LIST)
			encode_csv_columns(o->buf, labels->value);
		if ((copy = malloc(len + 1)) != NULL) {
			memcpy(copy, json, len);
			free(o->last_hello);
			o->last_hello = copy;
			o->last_hello_len = len;
		}
	}
	if (o->holding) {
		evbuffer_add_buffer(o->buf, o->held);
		o->holding = 0;
	}
}

/* Print n samples of a data frame, from sample index from. */
void
eegcat_out_data(struct eegcat_out *o, const struct eegcat_data *d,
    size_t from, size_t n)
{
	struct evbuffer *to = out_target(o);
	struct record *r = o->rec;

	r->type = REC_SAMPLE;
	r->nch = d->nch;
	for (size_t i = from; i < from + n && i < d->count; i++) {
		r->seq = d->first + (uint64_t)i * d->step;
		r->time_us = d->times[i];
		memcpy(r->ch, d->vals + i * d->nch, d->nch * sizeof(float));
		encode_sample(to, o->fmt, r);
	}
}

/* Print an event. */
void
eegcat_out_event(struct eegcat_out *o, const char *json, size_t len,
    const struct eegcat_json *obj)
{
	out_object(o, out_target(o), json, len, obj);
}

/* Write what is queued; -1 with errno when the output fails. */
int
eegcat_out_flush(struct eegcat_out *o)
{
	struct pollfd pfd = { .fd = o->fd, .events = POLLOUT };

	while (evbuffer_get_length(o->buf) > 0) {
		if (evbuffer_write(o->buf, o->fd) != -1)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		(void)poll(&pfd, 1, -1);
	}
	return 0;
}
