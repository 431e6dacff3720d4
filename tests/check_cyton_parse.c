/* check_cyton_parse.c: unit tests for the Cyton packet parser. */
#include "autoconfig.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "cyton_parse.h"
#include "sample.h"

#define CAP_MAX 8192
#define T0_MONO 1000000000LL		/* an arbitrary monotonic origin */
#define T0_REAL 1700000000000000LL	/* an arbitrary realtime origin */

/*
 * A capturing sink.  Like the reader, it assigns seq and its gap()
 * reuses the scratch record (it scribbles over it), so a parser that
 * fills the scratch before announcing a gap fails the value checks.
 * Every event (sample or gap) is copied into ev[] in order.
 */
struct cap {
	struct board_sink sink;
	struct record *scratch;
	unsigned char *ev;	/* CAP_MAX records of record_size(16) */
	size_t n;		/* events */
	size_t nsamples;
	size_t ngaps;
};

/* Return event i. */
static struct record *
cap_ev(struct cap *c, size_t i)
{
	return (struct record *)(c->ev + i * record_size(CYTON_MAX_CHANNELS));
}

/* Return the i-th sample event, skipping gaps. */
static struct record *
cap_sample(struct cap *c, size_t i)
{
	for (size_t k = 0; k < c->n; k++)
		if (cap_ev(c, k)->type == REC_SAMPLE && i-- == 0)
			return cap_ev(c, k);
	ck_abort_msg("no sample %zu", i);
	return NULL;
}

/* Return the i-th gap event. */
static struct record *
cap_gap(struct cap *c, size_t i)
{
	for (size_t k = 0; k < c->n; k++)
		if (cap_ev(c, k)->type == REC_GAP && i-- == 0)
			return cap_ev(c, k);
	ck_abort_msg("no gap %zu", i);
	return NULL;
}

/* Sink: copy a sample and give it its seq. */
static void
cap_sample_cb(struct board_sink *sink, struct record *r)
{
	struct cap *c = (struct cap *)sink;

	ck_assert_ptr_eq(r, c->scratch);
	ck_assert_uint_lt(c->n, CAP_MAX);
	r->type = REC_SAMPLE;
	r->seq = sink->next_seq++;
	memcpy(cap_ev(c, c->n++), r, record_size(CYTON_MAX_CHANNELS));
	c->nsamples++;
}

/* Sink: record a gap, clobbering the scratch record as the reader does. */
static void
cap_gap_cb(struct board_sink *sink, uint64_t count, unsigned reason)
{
	struct cap *c = (struct cap *)sink;
	struct record *g;

	ck_assert_uint_gt(count, 0);
	ck_assert_uint_lt(c->n, CAP_MAX);
	memset(c->scratch, 0xFF, record_size(CYTON_MAX_CHANNELS));
	g = cap_ev(c, c->n++);
	memset(g, 0, sizeof *g);
	g->type = REC_GAP;
	g->seq = sink->next_seq;
	g->count = count;
	g->reason = reason;
	sink->next_seq += count;
	c->ngaps++;
}

/* Sink: the scratch record. */
static struct record *
cap_scratch_cb(struct board_sink *sink)
{
	return ((struct cap *)sink)->scratch;
}

/* Make a capturing sink. */
static void
cap_init(struct cap *c)
{
	memset(c, 0, sizeof *c);
	c->sink.sample = cap_sample_cb;
	c->sink.gap = cap_gap_cb;
	c->sink.scratch = cap_scratch_cb;
	c->scratch = calloc(1, record_size(SAMPLE_MAX_CHANNELS));
	c->ev = calloc(CAP_MAX, record_size(CYTON_MAX_CHANNELS));
	ck_assert_ptr_nonnull(c->scratch);
	ck_assert_ptr_nonnull(c->ev);
}

/* Free a capturing sink. */
static void
cap_free(struct cap *c)
{
	free(c->scratch);
	free(c->ev);
}

/* Return the test counts of channel k (0-based) in packet i: both signs. */
static int32_t
test_counts(uint64_t i, unsigned k)
{
	return (int32_t)((i * 40503 + k * 1000003) % 16777213) - 8388606;
}

/* Build packet i with counter, footer, test counts and aux bytes. */
static void
mkpkt(uint8_t *q, uint64_t i, unsigned counter, uint8_t footer,
    const uint8_t *aux)
{
	q[0] = 0xA0;
	q[1] = (uint8_t)counter;
	for (unsigned k = 0; k < 8; k++) {
		uint32_t v = (uint32_t)test_counts(i, k) & 0xFFFFFF;

		q[2 + 3 * k] = (uint8_t)(v >> 16);
		q[3 + 3 * k] = (uint8_t)(v >> 8);
		q[4 + 3 * k] = (uint8_t)v;
	}
	if (aux != NULL)
		memcpy(q + 26, aux, 6);
	else
		memset(q + 26, 0, 6);
	q[32] = footer;
}

/* Build a packet with explicit channel counts. */
static void
mkpkt_counts(uint8_t *q, unsigned counter, const int32_t *counts)
{
	mkpkt(q, 0, counter, 0xC0, NULL);
	for (unsigned k = 0; k < 8; k++) {
		uint32_t v = (uint32_t)counts[k] & 0xFFFFFF;

		q[2 + 3 * k] = (uint8_t)(v >> 16);
		q[3 + 3 * k] = (uint8_t)(v >> 8);
		q[4 + 3 * k] = (uint8_t)v;
	}
}

/* Return the uV of counts at gain, computed independently. */
static double
ref_uv(int32_t counts, unsigned gain)
{
	return counts * (4.5 / 8388607.0) / gain * 1000000.0;
}

/* Assert a float channel value equals the reference to 1e-6 relative. */
static void
assert_uv(float got, double want)
{
	double tol = fabs(want) * 1e-6 + 1e-9;

	ck_assert_msg(fabs(got - want) <= tol, "got %.9g want %.9g", got,
	    want);
}

/* Feed one packet arriving at mono (and realtime mono + offset). */
static size_t
feed_at(struct cyton_parse *p, struct cap *c, const uint8_t *b, size_t n,
    int64_t mono)
{
	return cyton_parse_feed(p, b, n, mono, mono - T0_MONO + T0_REAL,
	    &c->sink);
}

/* Feed packets i0.. with counters from c0, one every 4 ms from t. */
static void
feed_run(struct cyton_parse *p, struct cap *c, uint64_t i0, unsigned c0,
    unsigned n, int64_t *t)
{
	uint8_t q[CYTON_PACKET_LEN];

	for (unsigned j = 0; j < n; j++) {
		mkpkt(q, i0 + j, (c0 + j) & 0xFF, 0xC0, NULL);
		feed_at(p, c, q, sizeof q, *t);
		*t += 4000;
	}
}

START_TEST(test_int24_and_scale)
{
	static const uint8_t b[][3] = { { 0x7F, 0xFF, 0xFF },
	    { 0x80, 0x00, 0x00 }, { 0x00, 0x00, 0x01 }, { 0xFF, 0xFF, 0xFF },
	    { 0x00, 0x00, 0x00 }, { 0x80, 0x00, 0x01 } };
	static const int32_t want[] = { 8388607, -8388608, 1, -1, 0,
	    -8388607 };
	static const unsigned gains[] = { 1, 2, 4, 6, 8, 12, 24 };

	for (unsigned i = 0; i < 6; i++)
		ck_assert_int_eq(cyton_parse_int24(b[i]), want[i]);
	/* Full scale at gain 24 is 4.5 V / 24 = 187500 uV exactly. */
	ck_assert_double_eq_tol(cyton_parse_uv(8388607, 24), 187500.0, 1e-9);
	ck_assert_double_eq_tol(cyton_parse_uv(1, 24), 0.02235174445530706,
	    1e-15);
	ck_assert_double_eq_tol(cyton_parse_uv(-1, 24), -0.02235174445530706,
	    1e-15);
	ck_assert_double_eq_tol(cyton_parse_uv(-8388608, 24),
	    -187500.02235174446, 1e-8);
	for (unsigned g = 0; g < 7; g++)
		for (unsigned i = 0; i < 6; i++)
			ck_assert_double_eq_tol(cyton_parse_uv(want[i],
			    gains[g]), ref_uv(want[i], gains[g]),
			    fabs(ref_uv(want[i], gains[g])) * 1e-12 + 1e-15);
}
END_TEST

START_TEST(test_values_per_channel_gain)
{
	static const int32_t counts[8] = { 8388607, -8388608, 1, -1, 0, 12345,
	    -54321, 0x123456 };
	static const unsigned gains[8] = { 1, 2, 4, 6, 8, 12, 24, 24 };
	struct cyton_parse p;
	struct cap c;
	uint8_t q[2 * CYTON_PACKET_LEN];
	struct record *r;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	for (unsigned k = 0; k < 8; k++)
		ck_assert_int_eq(cyton_parse_set_gain(&p, k, gains[k]), 0);
	ck_assert_int_eq(cyton_parse_set_gain(&p, 0, 3), -1);
	ck_assert_int_eq(cyton_parse_set_gain(&p, 16, 24), -1);
	ck_assert_uint_eq(cyton_parse_gain(&p, 0), 1);
	mkpkt_counts(q, 0, counts);
	mkpkt_counts(q + CYTON_PACKET_LEN, 1, counts);
	ck_assert_uint_eq(feed_at(&p, &c, q, sizeof q, T0_MONO), 2);
	for (unsigned s = 0; s < 2; s++) {
		r = cap_sample(&c, s);
		ck_assert_uint_eq(r->nch, 8);
		ck_assert_uint_eq(r->seq, s);
		for (unsigned k = 0; k < 8; k++)
			assert_uv(r->ch[k], ref_uv(counts[k], gains[k]));
	}
	ck_assert_uint_eq(p.stats.packets, 2);
	ck_assert_uint_eq(p.stats.bytes_discarded, 0);
	cap_free(&c);
}
END_TEST

START_TEST(test_resync_garbage)
{
	static const uint8_t junk[] = { 0x00, 0x11, 0xC0, 0x24, 0x24, 0x24,
	    0x0A };
	struct cyton_parse p;
	struct cap c;
	uint8_t q[CYTON_PACKET_LEN];
	int64_t t = T0_MONO;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	/* Handshake text before the first packet is skipped, no bad packet. */
	feed_at(&p, &c, (const uint8_t *)"$$$", 3, t);
	feed_run(&p, &c, 0, 0, 5, &t);
	feed_at(&p, &c, junk, sizeof junk, t);
	feed_run(&p, &c, 5, 5, 5, &t);
	ck_assert_uint_eq(c.nsamples, 10);
	ck_assert_uint_eq(c.ngaps, 0);
	ck_assert_uint_eq(p.stats.bytes_discarded, 3 + sizeof junk);
	ck_assert_uint_eq(p.stats.bad_packets, 1);
	for (unsigned s = 0; s < 10; s++) {
		struct record *r = cap_sample(&c, s);

		ck_assert_uint_eq(r->seq, s);
		for (unsigned k = 0; k < 8; k++)
			assert_uv(r->ch[k], ref_uv(test_counts(s, k), 24));
	}
	/* A lone 0xA0 in the junk: still exactly its length discarded. */
	q[0] = 0xA0;
	feed_at(&p, &c, q, 1, t);
	feed_at(&p, &c, junk, sizeof junk, t);
	feed_run(&p, &c, 10, 10, 3, &t);
	ck_assert_uint_eq(c.nsamples, 13);
	ck_assert_uint_eq(p.stats.bytes_discarded, 3 + 2 * sizeof junk + 1);
	ck_assert_uint_eq(p.stats.bad_packets, 2);
	cap_free(&c);
}
END_TEST

START_TEST(test_bad_footer)
{
	struct cyton_parse p;
	struct cap c;
	uint8_t q[CYTON_PACKET_LEN];
	int64_t t = T0_MONO;
	struct record *g;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	feed_run(&p, &c, 0, 0, 5, &t);
	mkpkt(q, 5, 5, 0x00, NULL);
	feed_at(&p, &c, q, sizeof q, t);
	t += 4000;
	feed_run(&p, &c, 6, 6, 4, &t);
	ck_assert_uint_eq(c.nsamples, 9);
	ck_assert_uint_eq(c.ngaps, 1);
	g = cap_gap(&c, 0);
	ck_assert_uint_eq(g->seq, 5);
	ck_assert_uint_eq(g->count, 1);
	ck_assert_uint_eq(g->reason, GAP_BAD_PACKET);
	ck_assert_uint_eq(cap_sample(&c, 5)->seq, 6);
	assert_uv(cap_sample(&c, 5)->ch[3], ref_uv(test_counts(6, 3), 24));
	ck_assert_uint_eq(p.stats.bytes_discarded, 33);
	ck_assert_uint_eq(p.stats.bad_packets, 1);
	ck_assert_uint_eq(p.stats.packets_lost, 1);
	ck_assert_uint_eq(p.stats.lost, 1);
	/* Every footer C0..CF frames a packet; D0 does not. */
	feed_run(&p, &c, 10, 10, 1, &t);
	for (unsigned f = 0xC1; f <= 0xCF; f++) {
		mkpkt(q, f, (11 + f - 0xC1) & 0xFF, (uint8_t)f, NULL);
		feed_at(&p, &c, q, sizeof q, t);
		t += 4000;
	}
	ck_assert_uint_eq(c.nsamples, 10 + 15);
	ck_assert_uint_eq(c.ngaps, 1);
	cap_free(&c);
}
END_TEST

/* Build a stream with garbage, a bad footer and drops into buf. */
static size_t
mkstream(uint8_t *buf, size_t cap, int daisy)
{
	size_t n = 0;
	uint64_t i;

	for (i = 0; i < 600 && n + 40 < cap; i++) {
		uint8_t aux[6] = { (uint8_t)i, 0, 0, 0, 0, (uint8_t)(i >> 8) };

		if (i == 17 || i == 300 || i == 301 || (daisy && i == 451))
			continue;	/* dropped */
		if (i == 40 || i == 41) {
			buf[n++] = 0x42;
			buf[n++] = 0xA0;
			buf[n++] = 0x00;
		}
		mkpkt(buf + n, i, i & 0xFF, i == 77 ? 0x12 : 0xC0,
		    i % 10 == 3 ? aux : NULL);
		n += CYTON_PACKET_LEN;
	}
	return n;
}

/* Assert two captures hold the same events, times aside. */
static void
assert_same(struct cap *a, struct cap *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		struct record *x = cap_ev(a, i), *y = cap_ev(b, i);

		ck_assert_uint_eq(x->type, y->type);
		ck_assert_uint_eq(x->seq, y->seq);
		ck_assert_uint_eq(x->count, y->count);
		ck_assert_uint_eq(x->reason, y->reason);
		if (x->type != REC_SAMPLE)
			continue;
		ck_assert_uint_eq(x->nch, y->nch);
		ck_assert_uint_eq(x->aux_footer, y->aux_footer);
		ck_assert_mem_eq(x->aux_raw, y->aux_raw, 6);
		ck_assert_uint_eq(x->has_accel, y->has_accel);
		ck_assert_mem_eq(x->ch, y->ch, x->nch * sizeof(float));
	}
}

START_TEST(test_fragmented_feeds)
{
	static uint8_t s[40000];
	int daisy = _i;
	size_t n = mkstream(s, sizeof s, daisy), off;
	struct cyton_parse p1, p2, p3;
	struct cap c1, c2, c3;
	uint64_t rng = 12345;

	cap_init(&c1);
	cap_init(&c2);
	cap_init(&c3);
	cyton_parse_init(&p1, daisy);
	cyton_parse_init(&p2, daisy);
	cyton_parse_init(&p3, daisy);
	feed_at(&p1, &c1, s, n, T0_MONO);
	for (off = 0; off < n; off++)
		feed_at(&p2, &c2, s + off, 1, T0_MONO);
	for (off = 0; off < n;) {
		size_t k;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		k = 1 + (rng >> 33) % 97;
		if (k > n - off)
			k = n - off;
		feed_at(&p3, &c3, s + off, k, T0_MONO);
		off += k;
	}
	assert_same(&c1, &c2);
	assert_same(&c1, &c3);
	ck_assert_mem_eq(&p1.stats, &p2.stats, sizeof p1.stats);
	ck_assert_mem_eq(&p1.stats, &p3.stats, sizeof p1.stats);
	ck_assert_uint_eq(p1.stats.bytes_discarded, 6 + 33);
	ck_assert_uint_eq(p1.stats.bad_packets, 3);
	ck_assert_uint_gt(c1.nsamples, 200);
	cap_free(&c1);
	cap_free(&c2);
	cap_free(&c3);
}
END_TEST

START_TEST(test_counter_wrap_and_loss)
{
	struct cyton_parse p;
	struct cap c;
	uint8_t q[CYTON_PACKET_LEN];
	int64_t t = T0_MONO;
	struct record *g;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	feed_run(&p, &c, 250, 250, 12, &t);	/* 250..255, 0..5 */
	ck_assert_uint_eq(c.nsamples, 12);
	ck_assert_uint_eq(c.ngaps, 0);
	/* Counters 6, 7 lost: 8 follows 5 after 3 ticks. */
	t += 2 * 4000;
	feed_run(&p, &c, 264, 8, 1, &t);
	/* A packet after a jump waits for the next header to confirm it. */
	ck_assert_uint_eq(c.nsamples, 12);
	ck_assert_uint_eq(c.ngaps, 0);
	ck_assert_uint_eq(p.len, CYTON_PACKET_LEN);
	feed_at(&p, &c, (const uint8_t *)"\xA0", 1, t);
	ck_assert_uint_eq(c.ngaps, 1);
	g = cap_gap(&c, 0);
	ck_assert_uint_eq(g->seq, 12);
	ck_assert_uint_eq(g->count, 2);
	ck_assert_uint_eq(g->reason, GAP_BOARD_LOSS);
	ck_assert_uint_eq(cap_sample(&c, 12)->seq, 14);
	/* A loss across the wrap: 254 then 3 (255, 0, 1, 2 lost). */
	feed_run(&p, &c, 265, 9, 246, &t);	/* 9..254 */
	t += 4 * 4000;
	mkpkt(q, 515, 3, 0xC0, NULL);
	feed_at(&p, &c, q, sizeof q, t);
	mkpkt(q, 516, 4, 0xC0, NULL);
	feed_at(&p, &c, q, sizeof q, t + 4000);
	ck_assert_uint_eq(c.ngaps, 2);
	g = cap_gap(&c, 1);
	ck_assert_uint_eq(g->count, 4);
	ck_assert_uint_eq(p.stats.packets_lost, 6);
	ck_assert_uint_eq(p.stats.lost, 6);
	ck_assert_uint_eq(p.stats.gaps, 2);
	ck_assert_uint_eq(p.stats.long_gaps, 0);
	cap_free(&c);
}
END_TEST

START_TEST(test_missing_helper)
{
	/* Exact multiples of the period, then with delays either way. */
	ck_assert_uint_eq(cyton_parse_missing(9, 10 * 4000, 250), 9);
	ck_assert_uint_eq(cyton_parse_missing(9, 266 * 4000, 250), 265);
	ck_assert_uint_eq(cyton_parse_missing(9, 266 * 4000 + 16000, 250),
	    265);
	ck_assert_uint_eq(cyton_parse_missing(9, 266 * 4000 - 16000, 250),
	    265);
	ck_assert_uint_eq(cyton_parse_missing(9, 522 * 4000, 250), 521);
	ck_assert_uint_eq(cyton_parse_missing(0, 257 * 4000, 250), 256);
	ck_assert_uint_eq(cyton_parse_missing(255, 256 * 4000, 250), 255);
	/* Same read, no time: only the counter counts. */
	ck_assert_uint_eq(cyton_parse_missing(200, 0, 250), 200);
	ck_assert_uint_eq(cyton_parse_missing(0, -5, 250), 0);
	/* A 0.8 s host stall with nothing lost is no loss. */
	ck_assert_uint_eq(cyton_parse_missing(0, 800000, 250), 0);
}
END_TEST

START_TEST(test_long_gap_from_time)
{
	struct cyton_parse p;
	struct cap c;
	int64_t t = T0_MONO;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	feed_run(&p, &c, 0, 0, 11, &t);		/* 0..10 */
	/* 375 packets lost (a 1.5 s radio dropout): 11..385. */
	t += 375 * 4000;
	feed_run(&p, &c, 386, 386 & 0xFF, 5, &t);
	ck_assert_uint_eq(c.ngaps, 1);
	ck_assert_uint_eq(cap_gap(&c, 0)->count, 375);
	ck_assert_uint_eq(cap_gap(&c, 0)->seq, 11);
	ck_assert_uint_eq(cap_sample(&c, 11)->seq, 386);
	ck_assert_uint_eq(p.stats.long_gaps, 1);
	ck_assert_uint_eq(p.stats.lost, 375);
	cap_free(&c);
}
END_TEST

/* Feed Daisy packets i with counter i & 0xFF, skipping those in skip[]. */
static void
feed_daisy(struct cyton_parse *p, struct cap *c, uint64_t from, uint64_t to,
    const uint64_t *skip, size_t nskip, int64_t *t)
{
	uint8_t q[CYTON_PACKET_LEN];

	for (uint64_t i = from; i < to; i++, *t += 4000) {
		size_t k;

		for (k = 0; k < nskip && skip[k] != i; k++)
			;
		if (k < nskip)
			continue;
		mkpkt(q, i, i & 0xFF, 0xC0, NULL);
		feed_at(p, c, q, sizeof q, *t);
	}
}

START_TEST(test_daisy_merge)
{
	static const uint64_t skip[] = { 7, 10 };
	struct cyton_parse p;
	struct cap c;
	int64_t t = T0_MONO;
	struct record *r;

	cap_init(&c);
	cyton_parse_init(&p, 1);
	/*
	 * 0 (even, invalid) and its partner 1 are dropped silently; frames
	 * (2,3) (4,5); 7 lost: 6 unpaired, frame 3 lost; (8,9); 10 lost:
	 * 11 unpaired, frame 5 lost; (12,13) ... (18,19).
	 */
	feed_daisy(&p, &c, 0, 20, skip, 2, &t);
	ck_assert_uint_eq(c.nsamples, 7);
	ck_assert_uint_eq(p.stats.unpaired, 2);
	ck_assert_uint_eq(c.ngaps, 2);
	ck_assert_uint_eq(cap_gap(&c, 0)->seq, 2);
	ck_assert_uint_eq(cap_gap(&c, 0)->count, 1);
	ck_assert_uint_eq(cap_gap(&c, 0)->reason, GAP_BOARD_LOSS);
	ck_assert_uint_eq(cap_gap(&c, 1)->seq, 4);
	ck_assert_uint_eq(cap_gap(&c, 1)->count, 1);
	ck_assert_uint_eq(p.stats.lost, 2);
	/* Frame seq 0 is packets 2 (ch 9-16) and 3 (ch 1-8). */
	r = cap_sample(&c, 0);
	ck_assert_uint_eq(r->seq, 0);
	ck_assert_uint_eq(r->nch, 16);
	for (unsigned k = 0; k < 8; k++) {
		assert_uv(r->ch[k], ref_uv(test_counts(3, k), 24));
		assert_uv(r->ch[8 + k], ref_uv(test_counts(2, k), 24));
	}
	r = cap_sample(&c, 2);
	ck_assert_uint_eq(r->seq, 3);
	assert_uv(r->ch[0], ref_uv(test_counts(9, 0), 24));
	assert_uv(r->ch[15], ref_uv(test_counts(8, 7), 24));
	/* Across the counter wrap, frames stay continuous. */
	feed_daisy(&p, &c, 20, 300, NULL, 0, &t);
	ck_assert_uint_eq(c.nsamples, 7 + 140);
	ck_assert_uint_eq(c.ngaps, 2);
	ck_assert_uint_eq(cap_sample(&c, 7 + 139)->seq, 148);
	/* A lost even half: the odd one is unpaired, one frame lost. */
	{
		static const uint64_t skip2[] = { 302 };

		feed_daisy(&p, &c, 300, 310, skip2, 1, &t);
	}
	ck_assert_uint_eq(p.stats.unpaired, 3);
	ck_assert_uint_eq(c.ngaps, 3);
	ck_assert_uint_eq(cap_gap(&c, 2)->count, 1);
	/* Daisy gains apply to channels 9-16. */
	ck_assert_int_eq(cyton_parse_set_gain(&p, 15, 2), 0);
	feed_daisy(&p, &c, 310, 312, NULL, 0, &t);
	r = cap_sample(&c, c.nsamples - 1);
	assert_uv(r->ch[15], ref_uv(test_counts(310, 7), 2));
	assert_uv(r->ch[7], ref_uv(test_counts(311, 7), 24));
	cap_free(&c);
}
END_TEST

START_TEST(test_daisy_odd_first)
{
	struct cyton_parse p;
	struct cap c;
	int64_t t = T0_MONO;

	cap_init(&c);
	cyton_parse_init(&p, 1);
	/* Joining mid-stream on an odd packet: it is ignored, no unpaired. */
	feed_daisy(&p, &c, 5, 12, NULL, 0, &t);
	ck_assert_uint_eq(c.nsamples, 3);	/* (6,7) (8,9) (10,11) */
	ck_assert_uint_eq(c.ngaps, 0);
	ck_assert_uint_eq(p.stats.unpaired, 0);
	cap_free(&c);
}
END_TEST

START_TEST(test_accel_hold)
{
	static const uint8_t a1[6] = { 0x03, 0xE8, 0xFC, 0x18, 0x1F, 0x40 };
	static const uint8_t a2[6] = { 0x00, 0x08, 0x00, 0x00, 0x00, 0x00 };
	struct cyton_parse p;
	struct cap c;
	uint8_t q[CYTON_PACKET_LEN];
	int64_t t = T0_MONO;
	struct record *r;
	unsigned i;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	/*
	 * 0: C0 zeros; 1: C0 1000, -1000, 8000 counts; 2-9: C0 zeros;
	 * 10: C0 8, 0, 0; 11: C1 with a1; 12: C0 zeros; 13-29: C3 with
	 * one axis (counter % 10 + 1) in bytes 26-27.
	 */
	for (i = 0; i < 31; i++) {
		uint8_t ax[6] = { 0x00, (uint8_t)(i % 10 + 1), 0x12, 0x34,
		    0x56, 0x78 };

		if (i == 1)
			mkpkt(q, i, i, 0xC0, a1);
		else if (i == 10)
			mkpkt(q, i, i, 0xC0, a2);
		else if (i == 11)
			mkpkt(q, i, i, 0xC1, a1);
		else if (i >= 13)
			mkpkt(q, i, i, 0xC3, ax);
		else
			mkpkt(q, i, i, 0xC0, NULL);
		feed_at(&p, &c, q, sizeof q, t += 4000);
	}
	ck_assert_uint_eq(c.nsamples, 31);
	ck_assert_uint_eq(cap_sample(&c, 0)->has_accel, 0);
	for (unsigned s = 1; s < 10; s++) {
		r = cap_sample(&c, s);
		ck_assert_uint_eq(r->has_accel, 1);
		ck_assert_float_eq(r->accel[0], 0.125f);
		ck_assert_float_eq(r->accel[1], -0.125f);
		ck_assert_float_eq(r->accel[2], 1.0f);
		ck_assert_uint_eq(r->aux_footer, 0xC0);
	}
	ck_assert_mem_eq(cap_sample(&c, 1)->aux_raw, a1, 6);
	/* A new reading with two zero axes is still a reading. */
	r = cap_sample(&c, 10);
	ck_assert_float_eq(r->accel[0], 0.001f);
	ck_assert_float_eq(r->accel[1], 0.0f);
	ck_assert_float_eq(r->accel[2], 0.0f);
	/* A non-accel footer clears the hold; raw aux goes through. */
	r = cap_sample(&c, 11);
	ck_assert_uint_eq(r->has_accel, 0);
	ck_assert_float_eq(r->accel[0], 0.0f);
	ck_assert_uint_eq(r->aux_footer, 0xC1);
	ck_assert_mem_eq(r->aux_raw, a1, 6);
	ck_assert_uint_eq(cap_sample(&c, 12)->has_accel, 0);
	/* C3: axes come on counters ending 7, 8, 9. */
	ck_assert_uint_eq(cap_sample(&c, 16)->has_accel, 0);
	ck_assert_uint_eq(cap_sample(&c, 18)->has_accel, 0);
	for (unsigned s = 19; s < 31; s++) {
		r = cap_sample(&c, s);
		ck_assert_uint_eq(r->has_accel, 1);
		ck_assert_uint_eq(r->aux_footer, 0xC3);
	}
	r = cap_sample(&c, 19);
	ck_assert_float_eq(r->accel[0], (float)(8 * 0.002 / 16));
	ck_assert_float_eq(r->accel[1], (float)(9 * 0.002 / 16));
	ck_assert_float_eq(r->accel[2], (float)(10 * 0.002 / 16));
	r = cap_sample(&c, 27);		/* X updated at 27 */
	ck_assert_float_eq(r->accel[0], (float)(8 * 0.002 / 16));
	cap_free(&c);
}
END_TEST

START_TEST(test_gain_commands)
{
	struct cyton_parse p;
	struct cap c;
	uint8_t q[CYTON_PACKET_LEN];
	int64_t t = T0_MONO;

	cap_init(&c);
	cyton_parse_init(&p, 1);
	ck_assert_int_eq(cyton_parse_command(&p, "x1060110X", 9), 1);
	ck_assert_uint_eq(cyton_parse_gain(&p, 0), 24);
	ck_assert_int_eq(cyton_parse_command(&p, "x2030110X", 9), 1);
	ck_assert_uint_eq(cyton_parse_gain(&p, 1), 6);
	ck_assert_int_eq(cyton_parse_command(&p, "xQ000000X", 9), 1);
	ck_assert_uint_eq(cyton_parse_gain(&p, 8), 1);
	ck_assert_int_eq(cyton_parse_command(&p, "x8010000XxI050000X", 18),
	    1);
	ck_assert_uint_eq(cyton_parse_gain(&p, 7), 2);
	ck_assert_uint_eq(cyton_parse_gain(&p, 15), 12);
	/* Firmware rules: a gain digit out of range means 24. */
	ck_assert_int_eq(cyton_parse_command(&p, "x2090110X", 9), 1);
	ck_assert_uint_eq(cyton_parse_gain(&p, 1), 24);
	/* Short, unlatched or incomplete commands change nothing. */
	cyton_parse_command(&p, "x3020110X", 9);
	ck_assert_uint_eq(cyton_parse_gain(&p, 2), 4);
	ck_assert_int_eq(cyton_parse_command(&p, "x30X", 4), 0);
	ck_assert_int_eq(cyton_parse_command(&p, "x3000110Y", 9), 0);
	ck_assert_int_eq(cyton_parse_command(&p, "x30001", 6), 0);
	ck_assert_uint_eq(cyton_parse_gain(&p, 2), 4);
	/* A marker's character is not a command. */
	ck_assert_int_eq(cyton_parse_command(&p, "`d", 2), 0);
	ck_assert_uint_eq(cyton_parse_gain(&p, 2), 4);
	ck_assert_int_eq(cyton_parse_command(&p, "1", 1), 1);
	/* d resets every gain to 24. */
	ck_assert_int_eq(cyton_parse_command(&p, "d", 1), 1);
	for (unsigned k = 0; k < 16; k++)
		ck_assert_uint_eq(cyton_parse_gain(&p, k), 24);
	cyton_parse_command(&p, "x5000000X", 9);
	ck_assert_int_eq(cyton_parse_command(&p, "v", 1), 0);
	ck_assert_uint_eq(cyton_parse_gain(&p, 4), 24);
	/* The scale follows: channel 5 at gain 1 in a frame. */
	cyton_parse_command(&p, "x5000000X", 9);
	for (unsigned i = 0; i < 4; i++) {
		mkpkt(q, i, i, 0xC0, NULL);
		feed_at(&p, &c, q, sizeof q, t += 4000);
	}
	ck_assert_uint_eq(c.nsamples, 1);
	assert_uv(cap_sample(&c, 0)->ch[4], ref_uv(test_counts(3, 4), 1));
	assert_uv(cap_sample(&c, 0)->ch[5], ref_uv(test_counts(3, 5), 24));
	cyton_parse_reset_gains(&p);
	ck_assert_uint_eq(cyton_parse_gain(&p, 4), 24);
	cap_free(&c);
}
END_TEST

START_TEST(test_command_check)
{
	static const char *const ok8[] = { "x1060110X", "x8161111X", "d",
	    "1", "8", "!", "*", "0", "-", "=", "p", "[", "]", "`a", "`x",
	    "x1060110Xx2060110X", "d1!" };
	static const char *const bad8[] = { "b", "s", "v", "~6", "c", "C",
	    "/2", "<", ">", "\xF0\x06", "x1070110X", "x1060110", "x9060110X",
	    "xQ060110X", "x1260110X", "x1080110X", "x1061110Y", "q", "Q", "`",
	    "", "?", "V", "z110Z", "x1060110Xb" };
	static const char *const ok16[] = { "xQ060110X", "xI060110X", "q",
	    "i", "Q", "I" };
	struct cyton_parse p8, p16;
	char err[128];

	cyton_parse_init(&p8, 0);
	cyton_parse_init(&p16, 1);
	for (size_t i = 0; i < sizeof ok8 / sizeof ok8[0]; i++) {
		ck_assert_msg(cyton_parse_command_check(&p8, ok8[i],
		    strlen(ok8[i]), err, sizeof err) == 0, "%s: %s", ok8[i],
		    err);
		ck_assert_int_eq(cyton_parse_command_check(&p16, ok8[i],
		    strlen(ok8[i]), err, sizeof err), 0);
	}
	for (size_t i = 0; i < sizeof bad8 / sizeof bad8[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(cyton_parse_command_check(&p8, bad8[i],
		    strlen(bad8[i]), err, sizeof err) == -1, "%s accepted",
		    bad8[i]);
		ck_assert_msg(err[0] != '\0', "%s: no reason", bad8[i]);
	}
	for (size_t i = 0; i < sizeof ok16 / sizeof ok16[0]; i++)
		ck_assert_msg(cyton_parse_command_check(&p16, ok16[i],
		    strlen(ok16[i]), err, sizeof err) == 0, "%s: %s", ok16[i],
		    err);
	ck_assert_int_eq(cyton_parse_command_check(&p8, "b", 1, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "'b' is refused: the daemon owns streaming");
}
END_TEST

START_TEST(test_restart)
{
	int daisy = _i;
	struct cyton_parse p;
	struct cap c;
	int64_t t = T0_MONO;
	size_t before;

	cap_init(&c);
	cyton_parse_init(&p, daisy);
	feed_daisy(&p, &c, 0, 100, NULL, 0, &t);
	before = c.nsamples;
	/* An x command while streaming: the firmware restarts at 0. */
	ck_assert_int_eq(cyton_parse_command(&p, "x1060110X", 9), 1);
	feed_daisy(&p, &c, 100, 102, NULL, 0, &t);
	t += 12000;	/* the restart pauses a few ms */
	{
		uint8_t q[CYTON_PACKET_LEN];

		for (unsigned j = 0; j < 50; j++, t += 4000) {
			mkpkt(q, 1000 + j, j, 0xC0, NULL);
			feed_at(&p, &c, q, sizeof q, t);
		}
	}
	ck_assert_uint_eq(c.ngaps, 0);
	ck_assert_uint_eq(p.stats.restarts, 1);
	ck_assert_uint_eq(p.stats.unpaired, 0);
	if (daisy)
		ck_assert_uint_eq(c.nsamples, before + 1 + 24);
	else
		ck_assert_uint_eq(c.nsamples, before + 2 + 50);
	/* An unannounced restart: counter 0 right after 49 is no loss. */
	{
		uint8_t q[CYTON_PACKET_LEN];

		for (unsigned j = 0; j < 30; j++, t += 4000) {
			mkpkt(q, 2000 + j, j, 0xC0, NULL);
			feed_at(&p, &c, q, sizeof q, t);
		}
	}
	ck_assert_uint_eq(c.ngaps, 0);
	ck_assert_uint_eq(p.stats.restarts, 2);
	/* But counter 0 after the time 206 packets take is a loss. */
	{
		uint8_t q[CYTON_PACKET_LEN];

		t += 226 * 4000;
		for (unsigned j = 0; j < 10; j++, t += 4000) {
			mkpkt(q, 3000 + j, j, 0xC0, NULL);
			feed_at(&p, &c, q, sizeof q, t);
		}
	}
	ck_assert_uint_eq(c.ngaps, 1);
	ck_assert_uint_eq(p.stats.restarts, 2);
	ck_assert_uint_eq(p.stats.packets_lost, 226);
	ck_assert_uint_eq(cap_gap(&c, 0)->count, daisy ? 113 : 226);
	cap_free(&c);
}
END_TEST

START_TEST(test_times)
{
	struct cyton_parse p;
	struct cap c;
	int64_t t = T0_MONO;
	uint8_t q[CYTON_PACKET_LEN];
	int64_t prev = 0;

	cap_init(&c);
	cyton_parse_init(&p, 0);
	/* Packets every 4 ms delivered in 16 ms bursts. */
	for (unsigned i = 0; i < 1000; i++) {
		int64_t due = T0_MONO + (int64_t)i * 4000;
		int64_t at = T0_MONO + ((int64_t)i / 4 + 1) * 16000;

		mkpkt(q, i, i & 0xFF, 0xC0, NULL);
		cyton_parse_feed(&p, q, sizeof q, at, at - T0_MONO + T0_REAL,
		    &c.sink);
		(void)due;
	}
	for (unsigned s = 0; s < 1000; s++) {
		struct record *r = cap_sample(&c, s);
		int64_t at = T0_MONO + ((int64_t)s / 4 + 1) * 16000;

		ck_assert_int_eq(r->time_raw_us, at - T0_MONO + T0_REAL);
		ck_assert_int_gt(r->time_us, prev);
		/* Monotonic first: early in a burst it may pass arrival. */
		if (s >= 8)
			ck_assert_int_le(r->time_us, r->time_raw_us);
		prev = r->time_us;
		/* The line runs 4 ms apart however the bursts fall. */
		if (s >= 500) {
			int64_t d = r->time_us - cap_sample(&c, s - 1)->time_us;

			ck_assert_int_ge(d, 3990);
			ck_assert_int_le(d, 4010);
		}
	}
	ck_assert_double_eq_tol(dejitter_rate(&p.dj), 250.0, 0.01);
	/* A realtime step of an hour moves time_us, not the fit. */
	t = T0_MONO + 250 * 16000 + 4000;
	mkpkt(q, 1000, 1000 & 0xFF, 0xC0, NULL);
	cyton_parse_feed(&p, q, sizeof q, t,
	    t - T0_MONO + T0_REAL - 3600000000LL, &c.sink);
	ck_assert_uint_eq(p.stats.clock_steps, 1);
	ck_assert_uint_eq(c.ngaps, 0);
	ck_assert_int_lt(cap_sample(&c, 1000)->time_us,
	    cap_sample(&c, 999)->time_us - 3599000000LL);
	cap_free(&c);
}
END_TEST

START_TEST(test_fuzz)
{
	static uint8_t s[65536];
	struct cyton_parse p;
	struct cap c;
	uint64_t rng = 0x9E3779B97F4A7C15ULL + (uint64_t)_i, total = 0;
	int64_t t = T0_MONO;

	cap_init(&c);
	cyton_parse_init(&p, _i & 1);
	for (unsigned round = 0; round < 40; round++) {
		size_t n = 0, off;

		/* Packets, some mangled, with random bytes between. */
		while (n + 64 < sizeof s) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			if (rng % 4 == 0) {
				s[n++] = (uint8_t)(rng >> 24);
				continue;
			}
			mkpkt(s + n, rng >> 40, (unsigned)(rng >> 16),
			    (uint8_t)(0xC0 | (rng >> 8 & 0x0F)), NULL);
			if (rng % 13 == 0)
				s[n + (rng >> 32) % 33] = (uint8_t)rng;
			n += CYTON_PACKET_LEN;
		}
		for (off = 0; off < n;) {
			size_t k = 1 + (size_t)((rng >> 20) % 200);

			rng = rng * 6364136223846793005ULL + 1;
			if (k > n - off)
				k = n - off;
			t += (int64_t)(rng >> 50);
			feed_at(&p, &c, s + off, k, t);
			off += k;
			if (c.n > CAP_MAX - 2000)
				c.n = 0;
		}
		total += n;
	}
	ck_assert_uint_eq(p.stats.bytes_discarded +
	    CYTON_PACKET_LEN * p.stats.packets + p.len, total);
	cap_free(&c);
}
END_TEST

/* Return the parser's test suite. */
static Suite *
cyton_parse_suite(void)
{
	Suite *s = suite_create("cyton_parse");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_int24_and_scale);
	tcase_add_test(tc, test_values_per_channel_gain);
	tcase_add_test(tc, test_resync_garbage);
	tcase_add_test(tc, test_bad_footer);
	tcase_add_loop_test(tc, test_fragmented_feeds, 0, 2);
	tcase_add_test(tc, test_counter_wrap_and_loss);
	tcase_add_test(tc, test_missing_helper);
	tcase_add_test(tc, test_long_gap_from_time);
	tcase_add_test(tc, test_daisy_merge);
	tcase_add_test(tc, test_daisy_odd_first);
	tcase_add_test(tc, test_accel_hold);
	tcase_add_test(tc, test_gain_commands);
	tcase_add_test(tc, test_command_check);
	tcase_add_loop_test(tc, test_restart, 0, 2);
	tcase_add_test(tc, test_times);
	tcase_add_loop_test(tc, test_fuzz, 0, 4);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; exit non-zero on failure. */
int
main(void)
{
	SRunner *sr = srunner_create(cyton_parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
