/* history.c: the hub's window of recent samples and the gaps among them. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "sample.h"

#define HISTORY_GAPS 1024

/* A gap inside the window: [seq, seq + count) for reason. */
struct history_gap {
	uint64_t seq, count;
	unsigned reason;
};

/*
 * The window.  end is the seq after the newest one seen (stored or
 * missing); the window holds seqs in [end - capacity, end).  Gaps are a
 * small ring of the most recent HISTORY_GAPS gaps.
 */
struct history {
	unsigned char *slots;
	size_t stride;
	size_t mask;
	uint64_t end;
	uint64_t first;		/* the first seq ever stored */
	int any;		/* a sample was stored */
	struct history_gap gaps[HISTORY_GAPS];
	size_t ngaps, gap_head;
};

/* Create a window of at least min_samples records of nch channels. */
struct history *
history_new(size_t min_samples, unsigned nch)
{
	struct history *h;
	size_t cap = 16;

	while (cap < min_samples)
		cap <<= 1;
	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	h->stride = record_size(nch);
	h->mask = cap - 1;
	if ((h->slots = calloc(cap, h->stride)) == NULL) {
		free(h);
		return NULL;
	}
	/* No slot matches until written: mark every slot empty. */
	for (size_t i = 0; i < cap; i++)
		((struct record *)(h->slots + i * h->stride))->seq = UINT64_MAX;
	return h;
}

/* Free the window. */
void
history_free(struct history *h)
{
	if (h == NULL)
		return;
	free(h->slots);
	free(h);
}

/* Return the capacity in samples. */
size_t
history_capacity(const struct history *h)
{
	return h->mask + 1;
}

/* Store a sample. */
void
history_put(struct history *h, const struct record *r)
{
	struct record *slot = (struct record *)(h->slots +
	    (r->seq & h->mask) * h->stride);
	size_t n = record_size(r->nch);

	if (n > h->stride)
		n = h->stride;
	memcpy(slot, r, n);
	if (slot->nch > (h->stride - sizeof *slot) / sizeof(float))
		slot->nch = (uint32_t)((h->stride - sizeof *slot) /
		    sizeof(float));
	if (!h->any) {
		h->any = 1;
		h->first = r->seq;
	}
	if (r->seq + 1 > h->end)
		h->end = r->seq + 1;
}

/* Note that count samples from seq will never arrive, for reason. */
void
history_gap(struct history *h, uint64_t seq, uint64_t count, unsigned reason)
{
	struct history_gap *g;

	if (count == 0)
		return;
	g = &h->gaps[h->gap_head];
	g->seq = seq;
	g->count = count;
	g->reason = reason;
	h->gap_head = (h->gap_head + 1) % HISTORY_GAPS;
	if (h->ngaps < HISTORY_GAPS)
		h->ngaps++;
	if (seq + count > h->end)
		h->end = seq + count;
}

/* Return the oldest seq still kept. */
uint64_t
history_oldest(const struct history *h)
{
	uint64_t cap = h->mask + 1;
	uint64_t lo = h->end > cap ? h->end - cap : 0;

	if (!h->any)
		return h->end;
	return lo > h->first ? lo : h->first;
}

/* Return the seq after the newest one stored or announced missing. */
uint64_t
history_end(const struct history *h)
{
	return h->end;
}

/* Return the sample with this seq, or NULL when missing or expired. */
const struct record *
history_get(const struct history *h, uint64_t seq)
{
	const struct record *slot;

	if (seq >= h->end || seq < history_oldest(h))
		return NULL;
	slot = (const struct record *)(h->slots + (seq & h->mask) * h->stride);
	return slot->seq == seq ? slot : NULL;
}

/* Find the gap holding a missing seq: 1 with its bounds and reason. */
int
history_gap_find(const struct history *h, uint64_t seq, uint64_t *start,
    uint64_t *end, unsigned *reason)
{
	for (size_t i = 0; i < h->ngaps; i++) {
		size_t k = (h->gap_head + HISTORY_GAPS - 1 - i) % HISTORY_GAPS;
		const struct history_gap *g = &h->gaps[k];
		if (seq >= g->seq && seq < g->seq + g->count) {
			*start = g->seq;
			*end = g->seq + g->count;
			*reason = g->reason;
			return 1;
		}
	}
	return 0;
}

/* Return the newest kept sample at or before seq, or NULL. */
const struct record *
history_at_or_before(const struct history *h, uint64_t seq)
{
	uint64_t lo = history_oldest(h), gs, ge;
	const struct record *r;
	unsigned reason;

	if (h->end == 0)
		return NULL;
	if (seq >= h->end)
		seq = h->end - 1;
	/* Bounded: a known gap is skipped in one step. */
	for (int tries = 0; tries < 64 && seq >= lo; tries++) {
		if ((r = history_get(h, seq)) != NULL)
			return r;
		if (history_gap_find(h, seq, &gs, &ge, &reason))
			seq = gs;
		if (seq == 0)
			break;
		seq--;
	}
	return NULL;
}
