/*
 * fuzz_cyton_parse.c: libFuzzer target for the Cyton packet parser.
 *
 * Input layout (see tests/fuzz/README.md):
 *	byte 0	largest chunk, minus one (chunks are 1..byte0+1 bytes)
 *	byte 1	how often, out of 256 chunks, the harness does something
 *		else between two feeds (restart, board command, gain, a time
 *		jump, a realtime step); 0 never
 *	byte 2-3 seed of the generator that picks chunk sizes and actions
 *	rest	the byte stream, fed to cyton_parse_feed in those chunks
 * Inputs shorter than 4 bytes are fed whole with the defaults.
 *
 * Byte 1 = 0xFF selects the exact-accounting mode instead (structured()):
 * the rest is a script of good packets, dropped packets and garbage runs
 * (never 0xA0), turned into a stream that arrives at the board's pace, and
 * the Cyton parser must report exactly what was injected: packets lost =
 * samples in gaps = packets dropped, bytes_discarded = garbage bytes, each
 * gap's reason bad_packet exactly when garbage came since the previous
 * sample, bad_packets = the garbage runs after a packet.
 *
 * Every input runs twice, through a Cyton and a Cyton+Daisy parser.  The
 * sink checks the parser's contract (board.h, cyton_parse.h) and aborts on
 * the first broken invariant:
 *   - sample() gets the scratch record, with nch = 8 or 16, a footer
 *     0xC0..0xCF, finite values within the ADC's range at gain 1;
 *   - a gap has count > 0 and reason board_loss or bad_packet, comes just
 *     before a sample, never two in a row;
 *   - within one stream, sample number = previous + 1 + the gap before it;
 *   - stats.samples/gaps/lost equal what the sink saw, and the feed's
 *     return values add up to the samples;
 *   - Cyton: samples lost = packets lost;
 *   - every byte fed is accounted for exactly once: 33 x packets +
 *     bytes_discarded + bytes still buffered + bytes forgotten by a
 *     restart (cyton_parse_start);
 *   - time_us increases unless the realtime clock stepped.
 */
#include "autoconfig.h"

#include "fuzz.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "cyton_parse.h"
#include "sample.h"


#define T0_MONO 1000000000LL
#define T0_REAL 1700000000000000LL
/* The largest |uV|: full scale at gain 1, with the -2^23 end. */
#define MAX_UV (8388608.0 * 4.5 / 8388607.0 * 1e6 * 1.000001)
#define MAX_G (32768.0 * 0.002 / 16 * 1.000001)


/* The checking sink: assigns seq like the reader and counts everything. */
struct fsink {
	struct board_sink sink;
	struct cyton_parse *p;
	struct record *scratch;
	size_t scratch_size;
	int scratch_out;	/* scratch() was called, sample() not yet */
	uint64_t nsamples, ngaps, lost;
	uint64_t pending_gap;	/* a gap() waiting for its sample */
	uint64_t by_reason[GAP_NREASONS];	/* samples in gaps, per reason */
	int have_prev;
	uint64_t prev_sample;	/* p->sample at the previous sample() */
	uint64_t prev_epoch;	/* restarts + harness starts then */
	uint64_t starts;	/* cyton_parse_start() calls by the harness */
	int64_t prev_time;
	uint64_t prev_steps;
};

/* Sink: a sample, checked against the contract. */
static void
fs_sample(struct board_sink *sink, struct record *r)
{
	struct fsink *f = (struct fsink *)sink;
	struct cyton_parse *p = f->p;
	uint64_t epoch = p->stats.restarts + f->starts;

	CHECK(r == f->scratch, "sample() not given the scratch record");
	CHECK(f->scratch_out, "sample() without scratch()");
	f->scratch_out = 0;
	CHECK(r->type == REC_SAMPLE, "type %u", r->type);
	CHECK(r->nch == p->nch && (r->nch == 8 || r->nch == 16), "nch %u",
	    r->nch);
	CHECK(r->aux_footer >= 0xC0 && r->aux_footer <= 0xCF, "footer 0x%02X",
	    r->aux_footer);
	CHECK(r->has_accel <= 1, "has_accel %u", r->has_accel);
	for (unsigned k = 0; k < r->nch; k++)
		CHECK(isfinite(r->ch[k]) && fabs(r->ch[k]) <= MAX_UV,
		    "ch%u = %g", k + 1, (double)r->ch[k]);
	for (unsigned a = 0; a < 3; a++)
		CHECK(isfinite(r->accel[a]) && fabs(r->accel[a]) <= MAX_G &&
		    (r->has_accel || r->accel[a] == 0.0f), "accel %g",
		    (double)r->accel[a]);
	f->nsamples++;
	CHECK(p->stats.samples == f->nsamples, "stats.samples %llu, saw %llu",
	    (unsigned long long)p->stats.samples,
	    (unsigned long long)f->nsamples);
	CHECK(p->stats.gaps == f->ngaps && p->stats.lost == f->lost,
	    "stats gaps %llu lost %llu, saw %llu %llu",
	    (unsigned long long)p->stats.gaps, (unsigned long long)p->stats.lost,
	    (unsigned long long)f->ngaps, (unsigned long long)f->lost);
	if (f->have_prev && epoch == f->prev_epoch)
		CHECK(p->sample == f->prev_sample + 1 + f->pending_gap,
		    "sample %llu after %llu with a gap of %llu",
		    (unsigned long long)p->sample,
		    (unsigned long long)f->prev_sample,
		    (unsigned long long)f->pending_gap);
	if (f->have_prev && p->stats.clock_steps == f->prev_steps)
		CHECK(r->time_us > f->prev_time, "time_us %lld after %lld",
		    (long long)r->time_us, (long long)f->prev_time);
	r->seq = sink->next_seq++;
	f->have_prev = 1;
	f->prev_sample = p->sample;
	f->prev_epoch = epoch;
	f->prev_time = r->time_us;
	f->prev_steps = p->stats.clock_steps;
	f->pending_gap = 0;
	/* Scribble, as the ring copy would not care but a reuse would. */
	memset(r, 0xA5, f->scratch_size);
}

/* Sink: a gap; scribbles over the scratch record like the reader. */
static void
fs_gap(struct board_sink *sink, uint64_t count, unsigned reason)
{
	struct fsink *f = (struct fsink *)sink;

	CHECK(count > 0, "gap of 0");
	CHECK(reason == GAP_BOARD_LOSS || reason == GAP_BAD_PACKET,
	    "reason %u", reason);
	CHECK(f->pending_gap == 0, "two gaps without a sample between");
	CHECK(!f->scratch_out, "gap() between scratch() and sample()");
	CHECK(f->lost + count >= f->lost, "lost overflows");
	f->pending_gap = count;
	f->ngaps++;
	f->lost += count;
	f->by_reason[reason] += count;
	sink->next_seq += count;
	memset(f->scratch, 0, sizeof *f->scratch);
}

/* Sink: the scratch record, exactly big enough for the parser's channels. */
static struct record *
fs_scratch(struct board_sink *sink)
{
	struct fsink *f = (struct fsink *)sink;

	CHECK(!f->scratch_out, "scratch() twice");
	f->scratch_out = 1;
	return f->scratch;
}

/* A small generator for chunk sizes and actions (xorshift64*). */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Run the whole stream through one parser. */
static void
run(const uint8_t *data, size_t size, int daisy)
{
	struct cyton_parse *p = malloc(sizeof *p);
	struct fsink f;
	unsigned maxchunk = 33, density = 0;
	uint64_t seed = 0x9E3779B97F4A7C15ULL, emitted = 0, fed = 0,
	    forgotten = 0;
	int64_t mono = T0_MONO, off = T0_REAL - T0_MONO;
	size_t i = 0;

	CHECK(p != NULL, "malloc");
	if (size >= 4) {
		maxchunk = data[0] + 1u;
		density = data[1];
		seed ^= (uint64_t)data[2] << 8 | data[3];
		data += 4;
		size -= 4;
	}
	cyton_parse_init(p, daisy);
	memset(&f, 0, sizeof f);
	f.p = p;
	f.sink.sample = fs_sample;
	f.sink.gap = fs_gap;
	f.sink.scratch = fs_scratch;
	f.scratch_size = sizeof(struct record) + p->nch * sizeof(float);
	f.scratch = malloc(f.scratch_size);
	CHECK(f.scratch != NULL, "malloc");
	cyton_parse_start(p);

	while (i < size) {
		size_t n = (size_t)(rnd(&seed) % maxchunk) + 1;
		uint64_t before = f.nsamples, got;

		if (density != 0 && rnd(&seed) % 256 < density) {
			uint64_t r = rnd(&seed);
			size_t cl = (size_t)(r >> 8) % 13;
			char cmd[13], err[96];

			if (cl > size - i)
				cl = size - i;
			memcpy(cmd, data + i, cl);
			switch (r % 8) {
			case 0:
				forgotten += p->len;
				f.starts++;
				cyton_parse_start(p);
				break;
			case 1:
				cyton_parse_expect_restart(p);
				break;
			case 2:
				cyton_parse_command(p, cmd, cl);
				break;
			case 3:
				if (cyton_parse_command_check(p, cmd, cl, err,
				    sizeof err) == -1)
					CHECK(memchr(err, '\0', sizeof err) &&
					    err[0] != '\0', "no error text");
				break;
			case 4:	/* the host stalls, or the board goes quiet */
				mono += (int64_t)((r >> 16) % 20000000);
				break;
			case 5:	/* NTP steps the realtime clock */
				off += (int64_t)((r >> 16) % 20000001) - 10000000;
				break;
			case 6: {
				unsigned ch = (unsigned)(r >> 16) % 20;
				unsigned g = (unsigned)(r >> 24) % 30;
				int ok = cyton_parse_set_gain(p, ch, g);
				int valid = ch < 16 && (g == 1 || g == 2 ||
				    g == 4 || g == 6 || g == 8 || g == 12 ||
				    g == 24);
				CHECK(ok == (valid ? 0 : -1), "set_gain(%u, %u) "
				    "= %d", ch, g, ok);
				if (valid)
					CHECK(cyton_parse_gain(p, ch) == g,
					    "gain");
				break;
			}
			default:
				cyton_parse_reset_gains(p);
				break;
			}
		}
		if (n > size - i)
			n = size - i;
		/* About 121 us a byte at 250 Hz; any delay from 0 to twice. */
		mono += (int64_t)(n * 121 * (rnd(&seed) % 201) / 100);
		got = cyton_parse_feed(p, data + i, n, mono, mono + off,
		    &f.sink);
		i += n;
		fed += n;
		emitted += got;
		CHECK(got == f.nsamples - before, "feed returned %llu, emitted "
		    "%llu", (unsigned long long)got,
		    (unsigned long long)(f.nsamples - before));
		CHECK(f.pending_gap == 0, "a gap not followed by its sample");
		CHECK(!f.scratch_out, "scratch() without sample()");
		CHECK(p->len <= CYTON_BUF_LEN, "len %zu", p->len);
		CHECK(fed == CYTON_PACKET_LEN * p->stats.packets +
		    p->stats.bytes_discarded + p->len + forgotten,
		    "bytes: fed %llu, packets %llu, discarded %llu, held %zu, "
		    "forgotten %llu", (unsigned long long)fed,
		    (unsigned long long)p->stats.packets,
		    (unsigned long long)p->stats.bytes_discarded, p->len,
		    (unsigned long long)forgotten);
		if (!daisy)
			CHECK(p->stats.lost == p->stats.packets_lost,
			    "lost %llu, packets lost %llu",
			    (unsigned long long)p->stats.lost,
			    (unsigned long long)p->stats.packets_lost);
	}
	CHECK(emitted == p->stats.samples, "emitted");
	CHECK(f.sink.next_seq == f.nsamples + f.lost, "seq");
	if (daisy)
		CHECK(p->stats.samples <= p->stats.packets / 2 + 1, "frames %llu "
		    "from %llu packets", (unsigned long long)p->stats.samples,
		    (unsigned long long)p->stats.packets);
	else
		CHECK(p->stats.samples == p->stats.packets, "samples %llu, "
		    "packets %llu", (unsigned long long)p->stats.samples,
		    (unsigned long long)p->stats.packets);
	free(f.scratch);
	free(p);
}

/* Build test packet i with counter c (the emulator's values). */
static void
mkpkt(uint8_t *q, uint64_t i, unsigned c)
{
	q[0] = 0xA0;
	q[1] = (uint8_t)c;
	for (unsigned k = 0; k < 8; k++) {
		uint32_t v = (uint32_t)(((i * 40503 + (k + 1) * 1000003) %
		    16777213) - 8388606) & 0xFFFFFF;
		q[2 + 3 * k] = (uint8_t)(v >> 16);
		q[3 + 3 * k] = (uint8_t)(v >> 8);
		q[4 + 3 * k] = (uint8_t)v;
	}
	memset(q + 26, 0, 6);
	q[32] = 0xC0;
}

/*
 * The exact-accounting mode.  Each script byte b is an op: b & 3 = 0 or 1
 * a good packet; 2 drop (b >> 2) % 8 + 1 packets, or 300 when b >> 2 is
 * 63 (more than one turn of the counter); 3 a garbage run of (b >> 2) + 1
 * bytes.  A packet that does not carry the expected counter (the first,
 * or one after a drop) is only framed when another packet follows, so
 * the script makes the next op a packet then; two good packets end every
 * stream so that everything before them is framed.  Packets arrive at
 * 4 ms steps of the board clock plus 0-20 ms of delay, in chunks of
 * 1..maxchunk bytes that never span drops of more than 8 packets.
 */
static void
structured(const uint8_t *data, size_t size)
{
	struct cyton_parse *p = malloc(sizeof *p);
	uint8_t *s = malloc(size * 64 + 4 * CYTON_PACKET_LEN);
	int64_t *t = malloc((size * 64 + 4 * CYTON_PACKET_LEN) * sizeof *t);
	uint8_t *brk = calloc(size * 64 + 4 * CYTON_PACKET_LEN, 1);
	uint64_t seed = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)data[2] << 8 |
	    data[3]);
	uint64_t idx = 0, good = 0, dropped = 0, garbage = 0, runs = 0;
	uint64_t want_gaps = 0, want_bad = 0, want_loss = 0;
	uint64_t pend_drop = 0;
	int pend_dirty = 0, force = 1, after_pkt = 0, in_run = 0;
	unsigned maxchunk = data[0] + 1u;
	size_t len = 0;
	struct fsink f;
	int64_t mono = T0_MONO, tnow;

	CHECK(p && s && t && brk, "malloc");
	data += 4;
	size -= 4;
	for (size_t j = 0; j <= size + 1; j++) {
		unsigned b = j < size ? data[j] : 0, op = b & 3;

		if (j >= size || force)
			op = 0;
		tnow = T0_MONO + (int64_t)idx * 4000;
		if (op <= 1) {
			/* A packet that had a drop or garbage before it. */
			if (pend_drop > 0) {
				want_gaps++;
				if (pend_dirty)
					want_bad += pend_drop;
				else
					want_loss += pend_drop;
			}
			force = pend_drop > 0 || good == 0;
			pend_drop = 0;
			pend_dirty = 0;
			mkpkt(s + len, idx, (unsigned)(idx & 0xFF));
			for (size_t k = 0; k < CYTON_PACKET_LEN; k++)
				t[len + k] = tnow;
			len += CYTON_PACKET_LEN;
			idx++;
			good++;
			after_pkt = 1;
			in_run = 0;
			if (j >= size && !force)
				break;
		} else if (op == 2) {
			uint64_t n = (b >> 2) == 63 ? 300 : (b >> 2) % 8 + 1;
			idx += n;
			dropped += n;
			pend_drop += n;
			if (pend_drop > 8 && len > 0)
				brk[len - 1] = 1;	/* end a chunk here */
		} else {
			size_t n = (b >> 2) + 1;
			for (size_t k = 0; k < n; k++) {
				uint8_t g = (uint8_t)rnd(&seed);
				s[len] = g == 0xA0 ? 0x5A : g;
				t[len++] = tnow;
			}
			garbage += n;
			pend_dirty = 1;
			if (after_pkt && !in_run)
				runs++;
			in_run = 1;
		}
	}

	cyton_parse_init(p, 0);
	memset(&f, 0, sizeof f);
	f.p = p;
	f.sink.sample = fs_sample;
	f.sink.gap = fs_gap;
	f.sink.scratch = fs_scratch;
	f.scratch_size = sizeof(struct record) + p->nch * sizeof(float);
	f.scratch = malloc(f.scratch_size);
	CHECK(f.scratch != NULL, "malloc");
	cyton_parse_start(p);
	for (size_t i = 0; i < len; ) {
		size_t n = (size_t)(rnd(&seed) % maxchunk) + 1, k;
		int64_t at;

		if (n > len - i)
			n = len - i;
		for (k = i; k < i + n - 1 && !brk[k]; k++)
			;
		n = k - i + 1;
		at = t[i + n - 1] + (int64_t)(rnd(&seed) % 20001);
		if (at > mono)
			mono = at;
		cyton_parse_feed(p, s + i, n, mono, mono - T0_MONO + T0_REAL,
		    &f.sink);
		i += n;
	}
	CHECK(p->stats.packets == good && f.nsamples == good,
	    "packets %llu samples %llu, sent %llu",
	    (unsigned long long)p->stats.packets,
	    (unsigned long long)f.nsamples, (unsigned long long)good);
	CHECK(p->stats.packets_lost == dropped && f.lost == dropped,
	    "packets lost %llu, in gaps %llu, dropped %llu",
	    (unsigned long long)p->stats.packets_lost,
	    (unsigned long long)f.lost, (unsigned long long)dropped);
	CHECK(p->stats.bytes_discarded == garbage, "discarded %llu, garbage "
	    "%llu", (unsigned long long)p->stats.bytes_discarded,
	    (unsigned long long)garbage);
	CHECK(p->stats.bad_packets == runs, "bad_packets %llu, garbage runs "
	    "%llu", (unsigned long long)p->stats.bad_packets,
	    (unsigned long long)runs);
	CHECK(f.ngaps == want_gaps && f.by_reason[GAP_BOARD_LOSS] == want_loss &&
	    f.by_reason[GAP_BAD_PACKET] == want_bad,
	    "gaps %llu (loss %llu, bad %llu), want %llu (%llu, %llu)",
	    (unsigned long long)f.ngaps,
	    (unsigned long long)f.by_reason[GAP_BOARD_LOSS],
	    (unsigned long long)f.by_reason[GAP_BAD_PACKET],
	    (unsigned long long)want_gaps, (unsigned long long)want_loss,
	    (unsigned long long)want_bad);
	CHECK(p->stats.restarts == 0, "restarts %llu",
	    (unsigned long long)p->stats.restarts);
	free(f.scratch);
	free(brk);
	free(t);
	free(s);
	free(p);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 4 && data[1] == 0xFF) {
		structured(data, size);
		return 0;
	}
	run(data, size, 0);
	run(data, size, 1);
	return 0;
}
