/* encode_bin.c: length-prefixed little-endian frames. */
#include "autoconfig.h"

#include <endian.h>
#include <event2/buffer.h>
#include <string.h>

#include "encode.h"
#include "encode_bin.h"
#include "encode_json.h"

/* Append a little-endian u16/u32/u64 to p; return the new end. */
static unsigned char *
put16(unsigned char *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
	return p + 2;
}

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static unsigned char *
put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
	return p + 8;
}

/* Start an empty builder. */
void
encode_bin_init(struct bin_builder *b)
{
	b->count = 0;
}

/* Write the pending data frame, if any. */
void
encode_bin_flush(struct bin_builder *b, struct evbuffer *out)
{
	unsigned char hdr[4 + 1 + 8 + 4 + 4 + 2 + 2], *p = hdr;
	size_t nv = (size_t)b->count * b->nch;
	uint32_t len = 1 + 8 + 4 + 4 + 2 + 2 + b->count * 8 + (uint32_t)nv * 4;

	if (b->count == 0)
		return;
	p = put32(p, len);
	*p++ = BIN_DATA;
	p = put64(p, b->first);
	p = put32(p, b->count);
	p = put32(p, b->step);
	p = put16(p, b->nch);
	p = put16(p, 0);
	evbuffer_add(out, hdr, (size_t)(p - hdr));
#if __BYTE_ORDER == __LITTLE_ENDIAN
	evbuffer_add(out, b->times, b->count * 8);
	evbuffer_add(out, b->vals, nv * 4);
#else
	for (uint32_t i = 0; i < b->count; i++) {
		unsigned char t[8];
		put64(t, (uint64_t)b->times[i]);
		evbuffer_add(out, t, 8);
	}
	for (size_t i = 0; i < nv; i++) {
		uint32_t u;
		unsigned char t[4];
		memcpy(&u, &b->vals[i], 4);
		put32(t, u);
		evbuffer_add(out, t, 4);
	}
#endif
	b->count = 0;
}

/* Add a sample; flushes first when it doesn't continue the run. */
void
encode_bin_add(struct bin_builder *b, struct evbuffer *out, uint64_t seq,
    uint32_t step, int64_t time_us, const float *vals, unsigned nch)
{
	if (nch > 64)
		nch = 64;
	if (b->count > 0 && (b->count == BIN_MAX_RUN || b->nch != nch ||
	    b->step != step || seq != b->first + (uint64_t)b->count * step))
		encode_bin_flush(b, out);
	if (b->count == 0) {
		b->first = seq;
		b->step = step;
		b->nch = (uint16_t)nch;
	}
	b->times[b->count] = time_us;
	memcpy(&b->vals[(size_t)b->count * nch], vals, nch * sizeof(float));
	b->count++;
}

/* Append an event frame holding the message as JSON. */
void
encode_bin_msg(struct evbuffer *out, const struct msg *ev)
{
	struct evbuffer *tmp = evbuffer_new();
	unsigned char hdr[5], *p = hdr;
	size_t n;

	if (tmp == NULL)
		return;
	encode_json_msg(tmp, ev);
	n = evbuffer_get_length(tmp) - 1;	/* without the newline */
	p = put32(p, (uint32_t)n + 1);
	*p = BIN_EVENT;
	evbuffer_add(out, hdr, 5);
	evbuffer_remove_buffer(tmp, out, n);
	evbuffer_free(tmp);
}

/* Append a header frame. */
void
encode_bin_header(struct evbuffer *out, unsigned nch, unsigned decimation,
    double rate, uint64_t run, double range, const char *labels,
    const char *units)
{
	unsigned char buf[64 + 64 * 256], *p = buf + 5;
	const char *s = labels;
	uint64_t r;

	p = put16(p, 1);
	p = put16(p, (uint16_t)nch);
	p = put32(p, decimation);
	memcpy(&r, &rate, 8);
	p = put64(p, r);
	p = put64(p, run);
	memcpy(&r, &range, 8);
	p = put64(p, r);
	for (unsigned i = 0; i < nch; i++) {
		const char *c = strchr(s, ',');
		size_t l = c ? (size_t)(c - s) : strlen(s);
		if (l > 255)
			l = 255;
		*p++ = (unsigned char)l;
		memcpy(p, s, l);
		p += l;
		s = c ? c + 1 : s + l;
	}
	*p++ = (unsigned char)strlen(units);
	memcpy(p, units, strlen(units));
	p += strlen(units);
	put32(buf, (uint32_t)(p - buf - 4));
	buf[4] = BIN_HEADER;
	evbuffer_add(out, buf, (size_t)(p - buf));
}
