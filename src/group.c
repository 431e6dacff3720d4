/* group.c: channel subsets and decimation, encoded once per group. */
#include "autoconfig.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "decimate.h"
#include "encode.h"
#include "encode_bin.h"
#include "group.h"
#include "history.h"
#include "sample.h"

/* Return the first output seq at or after seq (a multiple of n). */
uint64_t
group_align(const struct group *g, uint64_t seq)
{
	return (seq + g->n - 1) / g->n * g->n;
}

/* Return the number of channels a mask selects out of nch. */
unsigned
group_mask_count(uint64_t mask, unsigned nch)
{
	unsigned c = 0;

	for (unsigned i = 0; i < nch && i < 64; i++)
		c += (mask >> i) & 1;
	return c;
}

/* Make a group for channels mask and factor n, starting at next_seq. */
struct group *
group_new(uint64_t mask, unsigned n, uint64_t next_seq)
{
	struct group *g;

	if ((g = calloc(1, sizeof *g)) == NULL)
		return NULL;
	g->mask = mask;
	g->n = n ? n : 1;
	for (unsigned i = 0; i < SAMPLE_MAX_CHANNELS; i++)
		if (mask >> i & 1)
			g->chans[g->nsel++] = (uint8_t)i;
	if (g->n > 1 && (g->dec = decimate_new(g->n)) == NULL)
		goto fail;
	for (int f = 0; f < FMT_N; f++)
		if ((g->buf[f] = evbuffer_new()) == NULL)
			goto fail;
	g->bin = malloc(sizeof *g->bin);
	g->scratch = calloc(1, record_size(SAMPLE_MAX_CHANNELS));
	if (g->bin == NULL || g->scratch == NULL)
		goto fail;
	encode_bin_init(g->bin);
	/* Decimated output lags by M: start where the filter can reach. */
	if (g->dec != NULL) {
		uint64_t m = decimate_half(g->dec);
		g->next_out = group_align(g, next_seq > m ? next_seq - m : 0);
	} else
		g->next_out = next_seq;
	return g;
fail:
	group_free(g);
	return NULL;
}

/* Free a group. */
void
group_free(struct group *g)
{
	if (g == NULL)
		return;
	for (int f = 0; f < FMT_N; f++)
		if (g->buf[f] != NULL)
			evbuffer_free(g->buf[f]);
	decimate_free(g->dec);
	free(g->bin);
	free(g->scratch);
	free(g);
}

/* Start a round that encodes the formats marked in used[]. */
void
group_round_begin(struct group *g, const int *used)
{
	for (int f = 0; f < FMT_N; f++) {
		g->used[f] = used[f];
		evbuffer_drain(g->buf[f], evbuffer_get_length(g->buf[f]));
	}
	g->round_first = g->next_out;
	g->round_outputs = 0;
	encode_bin_init(g->bin);
}

/* Write one sample in a format, channels as given (nch values). */
void
group_encode_sample(struct evbuffer *out, enum encode_format fmt,
    struct bin_builder *bin, uint32_t step, const struct record *r)
{
	if (fmt == FMT_BINARY)
		encode_bin_add(bin, out, r->seq, step, r->time_us, r->ch, r->nch);
	else
		encode_sample(out, fmt, r);
}

/* Fill the scratch record with output seq s; NULL when s is missing. */
static const struct record *
group_output(struct group *g, const struct history *h, uint64_t s)
{
	const struct record *in = history_get(h, s);
	struct record *o = g->scratch;

	if (in == NULL)
		return NULL;
	if (g->n == 1 && g->nsel == in->nch &&
	    (in->nch >= 64 || g->mask >> in->nch == 0))
		return in;	/* every channel, no filter: as is */
	memcpy(o, in, sizeof *o);
	o->nch = g->nsel;
	if (g->dec != NULL) {
		/* A filtered value carries no aux data of its own. */
		o->aux_footer = 0;
		o->has_accel = 0;
		o->time_raw_us = o->time_us;
		decimate_at(g->dec, h, s, g->chans, g->nsel, o->ch);
	} else
		for (unsigned c = 0; c < g->nsel; c++)
			o->ch[c] = g->chans[c] < in->nch ? in->ch[g->chans[c]] :
			    0.0f;
	return o;
}

/* Encode one output into every format used this round. */
static void
group_emit(struct group *g, const struct record *o)
{
	for (int f = 0; f < FMT_N; f++)
		if (g->used[f])
			group_encode_sample(g->buf[f], f, g->bin, g->n, o);
	g->round_outputs++;
}

/* Take a sample (already in the history) into the round. */
void
group_sample(struct group *g, const struct history *h, const struct record *r)
{
	const struct record *o;
	uint64_t m;

	if (g->dec == NULL) {
		if (r->seq < g->next_out)
			return;
		if ((o = group_output(g, h, r->seq)) != NULL)
			group_emit(g, o);
		g->next_out = r->seq + 1;
		return;
	}
	/* Every output whose inputs up to s + M have arrived. */
	m = decimate_half(g->dec);
	for (int guard = 0; g->next_out + m <= r->seq && guard < 4096;
	    guard++) {
		uint64_t s = g->next_out, gs, ge;
		unsigned reason;
		if ((o = group_output(g, h, s)) != NULL) {
			group_emit(g, o);
			g->next_out = s + g->n;
		} else if (history_gap_find(h, s, &gs, &ge, &reason))
			g->next_out = group_align(g, ge);	/* skip the gap */
		else
			g->next_out = s + g->n;
	}
}

/* Take an event into the round, for every format in use. */
void
group_msg(struct group *g, const struct msg *ev)
{
	for (int f = 0; f < FMT_N; f++) {
		if (!g->used[f])
			continue;
		if (f == FMT_BINARY) {
			encode_bin_flush(g->bin, g->buf[f]);
			encode_bin_msg(g->buf[f], ev);
		} else
			encode_msg(g->buf[f], f, ev);
	}
}

/* Finish the round (flush pending binary frames). */
void
group_round_end(struct group *g)
{
	if (g->used[FMT_BINARY])
		encode_bin_flush(g->bin, g->buf[FMT_BINARY]);
}

/* Write a gap notice for one client. */
static void
group_gap_notice(struct evbuffer *out, enum encode_format fmt,
    struct bin_builder *bin, uint64_t seq, uint64_t count, unsigned reason)
{
	struct msg ev;

	encode_msg_init(&ev, "gap");
	encode_add_u64(&ev, "seq", seq);
	encode_add_u64(&ev, "count", count);
	encode_add_str(&ev, "reason", sample_gap_reason_name(reason), 0);
	if (fmt == FMT_BINARY) {
		encode_bin_flush(bin, out);
		encode_bin_msg(out, &ev);
	} else
		encode_msg(out, fmt, &ev);
}

/* Encode outputs from *cursor up to end for one client, from the history. */
void
group_replay(struct group *g, const struct history *h, uint64_t *cursor,
    uint64_t end, enum encode_format fmt, struct evbuffer *out, size_t budget)
{
	struct bin_builder *bin = malloc(sizeof *bin);
	size_t start = evbuffer_get_length(out);
	uint64_t s = group_align(g, *cursor), oldest = history_oldest(h);

	if (bin == NULL)
		return;
	encode_bin_init(bin);
	if (s < oldest && s < end) {
		uint64_t to = group_align(g, oldest);
		group_gap_notice(out, fmt, bin, s, to - s, GAP_EXPIRED);
		s = to;
	}
	while (s < end && evbuffer_get_length(out) - start < budget) {
		const struct record *o = group_output(g, h, s);
		uint64_t gs, ge;
		unsigned reason;
		if (o != NULL) {
			group_encode_sample(out, fmt, bin, g->n, o);
			s += g->n;
			continue;
		}
		if (history_gap_find(h, s, &gs, &ge, &reason)) {
			uint64_t to = group_align(g, ge);
			group_gap_notice(out, fmt, bin, s, to - s, reason);
			s = to;
		} else
			s += g->n;	/* cannot happen: every hole is a gap */
	}
	if (fmt == FMT_BINARY)
		encode_bin_flush(bin, out);
	free(bin);
	*cursor = s;
}

/* Write the group's labels (comma-separated) from the board's labels. */
void
group_labels(const struct group *g, const char *all, char *buf, size_t len)
{
	size_t o = 0;
	unsigned idx = 0, sel = 0;
	const char *p = all;

	buf[0] = '\0';
	while (*p != '\0' && sel < g->nsel) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (idx == g->chans[sel]) {
			if (o + l + 2 < len) {
				if (sel > 0)
					buf[o++] = ',';
				memcpy(buf + o, p, l);
				o += l;
				buf[o] = '\0';
			}
			sel++;
		}
		idx++;
		if (c == NULL)
			break;
		p = c + 1;
	}
}
