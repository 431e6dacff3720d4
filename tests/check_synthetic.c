/*
 * check_synthetic.c: unit tests for the synthetic board
 * (src/board_synthetic.h): the documented signal formula against an
 * independent re-implementation, pinned values, the deadline offsets, and
 * the board driven through its ops with a fake sink.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "board_synthetic.h"
#include "sample.h"

/* The most samples a fake sink keeps. */
#define SINK_MAX 8192

/* The independent splitmix64 finaliser (Steele, Lea and Flood). */
static uint64_t
ref_mix(uint64_t z)
{
	z ^= z >> 30;
	z *= UINT64_C(0xBF58476D1CE4E5B9);
	z ^= z >> 27;
	z *= UINT64_C(0x94D049BB133111EB);
	z ^= z >> 31;
	return z;
}

/* The reference noise draw: the top 53 bits of the mixed counter. */
static double
ref_uniform(uint64_t seed, uint64_t seq, unsigned k)
{
	uint64_t ctr = seed + UINT64_C(0x9E3779B97F4A7C15) * seq +
	    UINT64_C(0xD1B54A32D192ED03) * k;

	return ldexp((double)(ref_mix(ctr) >> 11), -53);
}

/*
 * The reference value: A_k sin(2 pi f_k seq / rate) + N (2u - 1) with
 * A_k = 10k uV, f_k = 2k Hz, N = 1 uV.  The phase is reduced in 128 bits
 * first, so it is exact for any seq.
 */
static double
ref_value(uint64_t seed, unsigned rate, uint64_t seq, unsigned k)
{
	unsigned __int128 cyc = (unsigned __int128)seq * (2u * k) % rate;
	double ph = 2.0 * M_PI * (double)cyc / (double)rate;

	return 10.0 * k * sin(ph) + 1.0 * (2.0 * ref_uniform(seed, seq, k) -
	    1.0);
}

/* The reference offset: floor(i * 1e9 / rate), in 128 bits. */
static uint64_t
ref_offset_ns(uint64_t i, unsigned rate)
{
	return (uint64_t)((unsigned __int128)i * 1000000000u / rate);
}

/* Return CLOCK_MONOTONIC in microseconds. */
static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Return CLOCK_REALTIME in microseconds. */
static int64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One sample as the fake sink saw it. */
struct got {
	uint64_t seq;
	int64_t time_us, time_raw_us;
	int64_t arrived_us;	/* CLOCK_REALTIME when sample() ran */
	uint32_t type, nch;
	uint8_t aux_footer, has_accel;
	float ch[SAMPLE_MAX_CHANNELS];
};

/*
 * A board_sink that records what it is given.  The reader assigns seq in
 * sample(); so does this sink.  sink is first so the callbacks can cast.
 */
struct fake_sink {
	struct board_sink sink;
	_Alignas(8) unsigned char scratch[sizeof(struct record) +
	    SAMPLE_MAX_CHANNELS * sizeof(float) + 8];
	size_t n;
	uint64_t gaps;
	struct got got[SINK_MAX];
};

/* Fake sink: record one sample and give it the next seq. */
static void
fake_sample(struct board_sink *bs, struct record *r)
{
	struct fake_sink *fs = (struct fake_sink *)bs;
	struct got *g;

	ck_assert_ptr_eq(r, (struct record *)fs->scratch);
	ck_assert_uint_lt(fs->n, SINK_MAX);
	ck_assert_uint_le(r->nch, SAMPLE_MAX_CHANNELS);
	g = &fs->got[fs->n++];
	g->seq = bs->next_seq++;
	g->time_us = r->time_us;
	g->time_raw_us = r->time_raw_us;
	g->arrived_us = real_us();
	g->type = r->type;
	g->nch = r->nch;
	g->aux_footer = r->aux_footer;
	g->has_accel = r->has_accel;
	memcpy(g->ch, r->ch, r->nch * sizeof(float));
}

/* Fake sink: count gaps (the synthetic board should send none). */
static void
fake_gap(struct board_sink *bs, uint64_t count, unsigned reason)
{
	((struct fake_sink *)bs)->gaps += count;
}

/* Fake sink: hand out the scratch record, dirtied to catch unset fields. */
static struct record *
fake_scratch(struct board_sink *bs)
{
	struct fake_sink *fs = (struct fake_sink *)bs;

	memset(fs->scratch, 0x5A, sizeof fs->scratch);
	return (struct record *)fs->scratch;
}

/* Return a new fake sink whose first seq is first_seq. */
static struct fake_sink *
fake_sink_new(uint64_t first_seq)
{
	struct fake_sink *fs = calloc(1, sizeof *fs);

	ck_assert_ptr_nonnull(fs);
	fs->sink.next_seq = first_seq;
	fs->sink.sample = fake_sample;
	fs->sink.gap = fake_gap;
	fs->sink.scratch = fake_scratch;
	return fs;
}

/* Call b's read() until seconds have passed; insist each read succeeds. */
static void
drive(struct board *b, struct fake_sink *fs, double seconds)
{
	int64_t start = mono_us(), end = start + (int64_t)(seconds * 1e6);
	char err[256];

	while (mono_us() < end) {
		int64_t t = mono_us();
		err[0] = '\0';
		ck_assert_msg(b->ops->read(b, &fs->sink, err, sizeof err) == 0,
		    "read: %s", err);
		/* A read blocks for at most about 100 ms. */
		ck_assert_int_lt(mono_us() - t, 150000);
	}
}

/*
 * Insist that the n samples from index from on are consecutive from
 * first_seq, stamped t0 + offset(i), with the board's values for seed and
 * rate, and never delivered before the time they are stamped with.
 */
static void
check_samples(const struct fake_sink *fs, size_t from, size_t n,
    uint64_t first_seq, int64_t t0, unsigned rate, unsigned nch,
    uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		const struct got *g = &fs->got[from + i];
		int64_t off = (int64_t)(ref_offset_ns(i, rate) / 1000);

		ck_assert_uint_eq(g->seq, first_seq + i);
		ck_assert_uint_eq(g->type, REC_SAMPLE);
		ck_assert_uint_eq(g->nch, nch);
		ck_assert_uint_eq(g->aux_footer, 0);
		ck_assert_uint_eq(g->has_accel, 0);
		ck_assert_int_eq(g->time_us, t0 + off);
		ck_assert_int_eq(g->time_raw_us, g->time_us);
		/*
		 * Paced on deadlines: sample i is not produced before its
		 * stamp (t0 is read just after the monotonic start, hence
		 * the slack).
		 */
		ck_assert_msg(g->arrived_us >= g->time_us - 2000,
		    "sample %zu early: delivered %lld us before its time", i,
		    (long long)(g->time_us - g->arrived_us));
		for (unsigned k = 1; k <= nch; k++) {
			float want = (float)board_synthetic_value(seed, rate,
			    g->seq, k);
			ck_assert_msg(g->ch[k - 1] == want,
			    "seq %llu ch%u = %.9g, want %.9g",
			    (unsigned long long)g->seq, k, g->ch[k - 1], want);
			ck_assert_float_eq_tol(g->ch[k - 1],
			    ref_value(seed, rate, g->seq, k), 1e-4);
		}
	}
}

/* Noise draws pinned to independently computed doubles. */
START_TEST(test_uniform_pinned)
{
	/* Computed independently (Python, arbitrary precision integers). */
	ck_assert(board_synthetic_uniform(1, 0, 1) == 0x1.165f5566e4958p-1);
	ck_assert(board_synthetic_uniform(1, 1, 1) == 0x1.81e2fc603fe18p-2);
	ck_assert(board_synthetic_uniform(42, 1000, 3) ==
	    0x1.5ea91953acc5cp-3);
	ck_assert(board_synthetic_uniform(0, 0, 0) == 0.0);
	ck_assert(board_synthetic_uniform(7, 123456789, 8) ==
	    0x1.5d0e6c8ba58eap-2);
	ck_assert(board_synthetic_uniform(UINT64_MAX, 5, 64) ==
	    0x1.a1e39fecf3cacp-1);
}
END_TEST

/* Channel values pinned for a few (seed, rate, seq, k). */
START_TEST(test_value_pinned)
{
	/* Phase 0: the value is the noise alone, exactly. */
	ck_assert(board_synthetic_value(1, 250, 0, 1) == 0.08739217531236498);
	ck_assert(board_synthetic_value(42, 250, 1000, 3) ==
	    -0.6575580637625598);
	ck_assert(board_synthetic_value(1, 250, 1000000000000ULL, 2) ==
	    -0.6825568112229587);
	/* Elsewhere, to libm's precision. */
	ck_assert_double_eq_tol(board_synthetic_value(1, 250, 1, 1),
	    0.2561280713519203, 1e-12);
	ck_assert_double_eq_tol(board_synthetic_value(7, 1000, 123456789, 8),
	    -56.530246912476656, 1e-12);
}
END_TEST

/* Values match the documented formula over a grid. */
START_TEST(test_value_matches_formula)
{
	static const unsigned rates[] = { 1, 3, 250, 500, 1000, 16000, 100000 };
	static const uint64_t seeds[] = { 0, 1, 42, UINT64_MAX };

	for (size_t r = 0; r < sizeof rates / sizeof *rates; r++)
		for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++)
			for (uint64_t seq = 0; seq < 600; seq += 7)
				for (unsigned k = 1; k <= SAMPLE_MAX_CHANNELS;
				    k += 9) {
					double v = board_synthetic_value(
					    seeds[s], rates[r], seq, k);
					double u = board_synthetic_uniform(
					    seeds[s], seq, k);
					ck_assert(u == ref_uniform(seeds[s],
					    seq, k));
					ck_assert(u >= 0.0 && u < 1.0);
					ck_assert_double_eq_tol(v,
					    ref_value(seeds[s], rates[r], seq,
					    k), 1e-9);
					/* Within A_k + N of zero. */
					ck_assert(fabs(v) <= 10.0 * k + 1.0);
				}
	/* Far into a run the phase is still exact. */
	for (uint64_t seq = 1000000000000ULL; seq < 1000000000000ULL + 500;
	    seq += 13)
		for (unsigned k = 1; k <= 8; k++)
			ck_assert_double_eq_tol(board_synthetic_value(9, 250,
			    seq, k), ref_value(9, 250, seq, k), 1e-9);
}
END_TEST

/* The signal part has the documented amplitude, frequency and period. */
START_TEST(test_value_signal)
{
	/*
	 * Channel 1 at 250 Hz is 10 uV at 2 Hz: a quarter period (31.25
	 * samples) is not whole, but seq 125 is half a period: sin = 0.
	 * Noise-free, the peak near seq 31 is close to 10 uV.
	 */
	double noise;

	noise = 2.0 * board_synthetic_uniform(5, 125, 1) - 1.0;
	ck_assert_double_eq_tol(board_synthetic_value(5, 250, 125, 1), noise,
	    1e-9);
	noise = 2.0 * board_synthetic_uniform(5, 31, 1) - 1.0;
	ck_assert_double_eq_tol(board_synthetic_value(5, 250, 31, 1) - noise,
	    10.0 * sin(2.0 * M_PI * 62.0 / 250.0), 1e-9);
	/* Channel 3 is 30 uV at 6 Hz. */
	noise = 2.0 * board_synthetic_uniform(5, 10, 3) - 1.0;
	ck_assert_double_eq_tol(board_synthetic_value(5, 250, 10, 3) - noise,
	    30.0 * sin(2.0 * M_PI * 60.0 / 250.0), 1e-9);
	/* Whole periods later the signal part repeats exactly. */
	for (unsigned k = 1; k <= 8; k++) {
		double a = board_synthetic_value(5, 250, 17, k) -
		    (2.0 * board_synthetic_uniform(5, 17, k) - 1.0);
		double b = board_synthetic_value(5, 250, 17 + 250 * 1000, k) -
		    (2.0 * board_synthetic_uniform(5, 17 + 250 * 1000, k) -
		    1.0);
		ck_assert_double_eq_tol(a, b, 1e-9);
	}
}
END_TEST

/* Values are repeatable and the noise depends on seed, seq and k. */
START_TEST(test_determinism)
{
	double a[64], b[64];
	int differ = 0;

	for (unsigned i = 0; i < 64; i++)
		a[i] = board_synthetic_value(1234, 500, 1000 + i, 1 + i % 8);
	for (unsigned i = 0; i < 64; i++)
		b[i] = board_synthetic_value(1234, 500, 1000 + i, 1 + i % 8);
	ck_assert_mem_eq(a, b, sizeof a);
	/* The noise depends on each of seed, seq and channel. */
	for (unsigned i = 0; i < 64; i++)
		differ += board_synthetic_uniform(1234, 1000 + i, 1) !=
		    board_synthetic_uniform(1235, 1000 + i, 1);
	ck_assert_int_eq(differ, 64);
	ck_assert(board_synthetic_uniform(1, 2, 3) !=
	    board_synthetic_uniform(1, 3, 3));
	ck_assert(board_synthetic_uniform(1, 2, 3) !=
	    board_synthetic_uniform(1, 2, 4));
}
END_TEST

/* Deadline offsets, exact and without overflow. */
START_TEST(test_offset)
{
	ck_assert_uint_eq(board_synthetic_offset_ns(0, 250), 0);
	ck_assert_uint_eq(board_synthetic_offset_ns(1, 250), 4000000);
	ck_assert_uint_eq(board_synthetic_offset_ns(15000, 250),
	    60ULL * 1000000000ULL);
	ck_assert_uint_eq(board_synthetic_offset_ns(1, 1000), 1000000);
	ck_assert_uint_eq(board_synthetic_offset_ns(1, 3), 333333333);
	ck_assert_uint_eq(board_synthetic_offset_ns(2, 3), 666666666);
	ck_assert_uint_eq(board_synthetic_offset_ns(3, 3), 1000000000);
	ck_assert_uint_eq(board_synthetic_offset_ns(1, 100000), 10000);
	/* 126 years at 250 Hz: i * 1e9 alone would overflow 64 bits. */
	ck_assert_uint_eq(board_synthetic_offset_ns(1000000000000ULL, 250),
	    4000000000000000000ULL);
	ck_assert_uint_eq(board_synthetic_offset_ns(1000000000001ULL, 250),
	    4000000000004000000ULL);
	ck_assert_uint_eq(board_synthetic_offset_ns(10000000000ULL + 1, 3),
	    ref_offset_ns(10000000000ULL + 1, 3));
	ck_assert_uint_eq(board_synthetic_offset_ns(1000000000000007ULL,
	    100000), ref_offset_ns(1000000000000007ULL, 100000));
}
END_TEST

/* Offsets equal floor(i * 1e9 / rate) and are evenly spaced. */
START_TEST(test_offset_reference)
{
	static const unsigned rates[] = { 1, 3, 7, 250, 256, 1000, 16000,
	    100000 };

	for (size_t r = 0; r < sizeof rates / sizeof *rates; r++) {
		uint64_t prev = 0;
		for (uint64_t i = 0; i < 3000; i++) {
			uint64_t o = board_synthetic_offset_ns(i, rates[r]);
			ck_assert_uint_eq(o, ref_offset_ns(i, rates[r]));
			/* Never more than 1 ns from the exact spacing. */
			if (i > 0) {
				uint64_t d = o - prev;
				ck_assert_uint_ge(d, 1000000000u / rates[r]);
				ck_assert_uint_le(d,
				    1000000000u / rates[r] + 1);
			}
			prev = o;
		}
		for (uint64_t i = 5000000000ULL; i < 5000000000ULL + 100; i++)
			ck_assert_uint_eq(board_synthetic_offset_ns(i,
			    rates[r]), ref_offset_ns(i, rates[r]));
	}
}
END_TEST

/* Creation checks its arguments and fills the description. */
START_TEST(test_new_and_desc)
{
	struct board *b;
	char err[256];

	errno = 0;
	ck_assert_ptr_null(board_synthetic_new(0, 8, 1));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(board_synthetic_new(250, 0, 1));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(board_synthetic_new(250, SAMPLE_MAX_CHANNELS + 1,
	    1));
	ck_assert_int_eq(errno, EINVAL);

	b = board_synthetic_new(250, 4, 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(b->ops);
	ck_assert_str_eq(b->ops->name, "synthetic");
	ck_assert_str_eq(b->desc.name, "synthetic");
	ck_assert_uint_eq(b->desc.rate, 250);
	ck_assert_uint_eq(b->desc.channels, 4);
	ck_assert_uint_eq(b->desc.max_channels, 4);
	ck_assert_str_eq(b->desc.labels, "ch1,ch2,ch3,ch4");
	ck_assert_str_eq(b->desc.firmware, "");
	err[0] = '\0';
	ck_assert_int_eq(b->ops->command(b, "b", err, sizeof err), -1);
	ck_assert_str_eq(err, "the synthetic board takes no commands");
	b->ops->free(b);

	b = board_synthetic_new(100000, SAMPLE_MAX_CHANNELS, 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->desc.channels, SAMPLE_MAX_CHANNELS);
	ck_assert_int_eq(strncmp(b->desc.labels, "ch1,ch2,", 8), 0);
	ck_assert_str_eq(b->desc.labels + strlen(b->desc.labels) - 10,
	    ",ch63,ch64");
	b->ops->free(b);
}
END_TEST

/* Driven through its ops at 1 kHz, the board paces and stamps exactly. */
START_TEST(test_drive_1000hz)
{
	struct board *b = board_synthetic_new(1000, 4, 7);
	struct fake_sink *fs = fake_sink_new(1000);
	char err[256];
	int64_t before = real_us();

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->ops->start(b, err, sizeof err), 0);
	drive(b, fs, 0.3);
	/* About 300 samples: due at 0, 1, ..., 300 ms. */
	ck_assert_msg(fs->n >= 280 && fs->n <= 320, "%zu samples", fs->n);
	ck_assert_uint_eq(fs->gaps, 0);
	ck_assert_uint_eq(fs->sink.next_seq, 1000 + fs->n);
	/* Stamped with the real time at start. */
	ck_assert_int_ge(fs->got[0].time_us, before - 1000);
	ck_assert_int_le(fs->got[0].time_us, before + 500000);
	check_samples(fs, 0, fs->n, 1000, fs->got[0].time_us, 1000, 4, 7);

	/* Stopped and started again: seq goes on, the clock restarts. */
	{
		size_t n1 = fs->n;
		int64_t restart = real_us();
		b->ops->stop(b);
		ck_assert_int_eq(b->ops->start(b, err, sizeof err), 0);
		drive(b, fs, 0.05);
		ck_assert_uint_gt(fs->n, n1 + 30);
		ck_assert_int_ge(fs->got[n1].time_us, restart - 1000);
		check_samples(fs, n1, fs->n - n1, 1000 + n1,
		    fs->got[n1].time_us, 1000, 4, 7);
	}
	b->ops->stop(b);
	b->ops->free(b);
	free(fs);
}
END_TEST

/* Driven above 1 kHz, blocks keep the spacing exact. */
START_TEST(test_drive_4000hz)
{
	/* Above 1 kHz the board wakes for blocks; spacing stays exact. */
	struct board *b = board_synthetic_new(4000, 2, 99);
	struct fake_sink *fs = fake_sink_new(0);
	char err[256];

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->ops->start(b, err, sizeof err), 0);
	drive(b, fs, 0.1);
	ck_assert_msg(fs->n >= 360 && fs->n <= 440, "%zu samples", fs->n);
	ck_assert_uint_eq(fs->gaps, 0);
	check_samples(fs, 0, fs->n, 0, fs->got[0].time_us, 4000, 2, 99);
	ck_assert_int_eq(fs->got[4].time_us - fs->got[0].time_us, 1000);
	b->ops->stop(b);
	b->ops->free(b);
	free(fs);
}
END_TEST

/* The synthetic board's test suite. */
static Suite *
synthetic_suite(void)
{
	Suite *s = suite_create("synthetic");
	TCase *tc;

	tc = tcase_create("generator");
	tcase_add_test(tc, test_uniform_pinned);
	tcase_add_test(tc, test_value_pinned);
	tcase_add_test(tc, test_value_matches_formula);
	tcase_add_test(tc, test_value_signal);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_offset);
	tcase_add_test(tc, test_offset_reference);
	suite_add_tcase(s, tc);

	tc = tcase_create("board");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_new_and_desc);
	tcase_add_test(tc, test_drive_1000hz);
	tcase_add_test(tc, test_drive_4000hz);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the synthetic suite; exit status is non-zero when a test failed. */
int
main(void)
{
	SRunner *sr = srunner_create(synthetic_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
