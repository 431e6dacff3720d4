/* check_dejitter.c: unit tests for the arrival-time dejitter fit. */
#include "autoconfig.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "dejitter.h"

#define T0_US 5000000000.0	/* an arbitrary monotonic origin */

/*
 * A simulated link.  Sample i is taken at T0 + i * period, the period
 * drifted by ppm.  With burst_ms > 0 the bridge flushes its buffer at
 * intervals of burst_ms +- jitter (the latency timer beating against the
 * board clock), and a sample arrives at the first flush after it was
 * taken; otherwise at once.  Each read then adds a host delay:
 * exponential with mean 100 us, plus 2-5 ms one read in a hundred.
 */
struct sim {
	uint64_t rng;
	double period;		/* us */
	double burst;		/* us, 0 for none */
	double jitter;		/* fraction of burst */
	double flush;		/* next flush, us */
	double delay;		/* this flush's host delay */
};

/* Return a uniform [0,1) draw. */
static double
sim_u(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return (double)(s->rng >> 11) * 0x1.0p-53;
}

/* Set up a link at rate Hz drifted by ppm with bursts of burst_ms. */
static void
sim_init(struct sim *s, uint64_t seed, double rate, double ppm,
    double burst_ms, double jitter)
{
	s->rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	s->period = 1e6 / rate / (1 + ppm * 1e-6);
	s->burst = burst_ms * 1000;
	s->jitter = jitter;
	s->flush = T0_US + sim_u(s) * s->burst;
	s->delay = 0;
}

/* Return the true time of sample i. */
static double
sim_true(const struct sim *s, uint64_t i)
{
	return T0_US + (double)i * s->period;
}

/* Return the host delay of one read. */
static double
sim_delay(struct sim *s)
{
	double d = -log(1 - sim_u(s)) * 100;

	if (sim_u(s) < 0.01)
		d += 2000 + 3000 * sim_u(s);
	return d;
}

/* Return the arrival time of sample i (samples must come in order). */
static int64_t
sim_arrival(struct sim *s, uint64_t i)
{
	double t = sim_true(s, i);

	if (s->burst <= 0)
		return llround(t + sim_delay(s));
	while (s->flush < t) {
		s->flush += s->burst * (1 + s->jitter * (2 * sim_u(s) - 1));
		s->delay = sim_delay(s);
	}
	return llround(s->flush + s->delay);
}

/*
 * Run n samples from index i0 through d; return the largest error after
 * the first warm samples, asserting monotonic output.
 */
static double
run(struct dejitter *d, struct sim *s, uint64_t i0, uint64_t n, uint64_t warm,
    int64_t *last)
{
	double worst = 0;

	for (uint64_t i = i0; i < i0 + n; i++) {
		int64_t a = sim_arrival(s, i), t = dejitter_update(d, i, a);
		double e = (double)t - sim_true(s, i);

		if (*last != 0)
			ck_assert_int_gt(t, *last);
		*last = t;
		if (i - i0 >= warm && fabs(e) > worst)
			worst = fabs(e);
	}
	return worst;
}

START_TEST(test_clean)
{
	struct dejitter d;
	int64_t t;

	dejitter_init(&d, 250);
	ck_assert_double_eq_tol(dejitter_rate(&d), 250, 1e-9);
	for (uint64_t i = 0; i < 5000; i++) {
		t = dejitter_update(&d, i, 1000000 + (int64_t)i * 4000);
		ck_assert_int_eq(t, 1000000 + (int64_t)i * 4000);
	}
	ck_assert_double_eq_tol(dejitter_rate(&d), 250, 1e-6);
	ck_assert_double_eq_tol(dejitter_ppm(&d), 0, 1e-3);
	ck_assert_uint_eq(d.resets, 0);
}
END_TEST

/* Drift cases: ppm for loop index _i. */
static const double drifts[] = { 0, 100, -100, 37, -63 };

START_TEST(test_bursts_with_drift)
{
	double ppm = drifts[_i % 5];
	struct dejitter d;
	struct sim s;
	int64_t last = 0;
	double worst;

	dejitter_init(&d, 250);
	sim_init(&s, 1 + (uint64_t)_i, 250, ppm, 16, 0.25);
	/* 60 s in 16 ms bursts: within 1 ms after 2 s. */
	worst = run(&d, &s, 0, 60 * 250, 2 * 250, &last);
	ck_assert_msg(worst < 1000, "ppm %g: error %.0f us", ppm, worst);
	ck_assert_msg(fabs(dejitter_ppm(&d) - ppm) < 5, "ppm %g: estimate %.2f",
	    ppm, dejitter_ppm(&d));
	ck_assert_double_eq_tol(dejitter_rate(&d), 250 * (1 + ppm * 1e-6),
	    250 * 5e-6);
	ck_assert_uint_eq(d.resets, 0);
}
END_TEST

START_TEST(test_daisy_rate)
{
	struct dejitter d;
	struct sim s;
	int64_t last = 0;
	double worst;

	/* 125 Hz frames, delivered with the odd packet of each pair. */
	dejitter_init(&d, 125);
	sim_init(&s, 99, 125, -100, 16, 0.25);
	worst = run(&d, &s, 0, 60 * 125, 2 * 125, &last);
	ck_assert_msg(worst < 1000, "error %.0f us", worst);
	ck_assert_msg(fabs(dejitter_ppm(&d) + 100) < 5, "estimate %.2f",
	    dejitter_ppm(&d));
}
END_TEST

START_TEST(test_ftdi_chunks)
{
	struct dejitter d;
	struct sim s;
	int64_t last = 0;
	double worst;

	/* 62-byte USB packets every 7.5 ms, no extra burst jitter. */
	dejitter_init(&d, 250);
	sim_init(&s, 7, 250, 80, 62.0 / 8.25, 0);
	worst = run(&d, &s, 0, 30 * 250, 2 * 250, &last);
	ck_assert_msg(worst < 1000, "error %.0f us", worst);
}
END_TEST

START_TEST(test_index_gaps)
{
	struct dejitter d;
	struct sim s;
	int64_t last = 0;
	double worst = 0, w;
	uint64_t i = 0;

	dejitter_init(&d, 250);
	sim_init(&s, 3, 250, 100, 16, 0.25);
	/* Runs of 1000 samples with 1, 37 and 400 lost between them. */
	static const uint64_t lost[] = { 1, 37, 400, 0 };
	for (unsigned k = 0; k < 4; k++) {
		w = run(&d, &s, i, 1000, k == 0 ? 500 : 0, &last);
		if (w > worst)
			worst = w;
		i += 1000 + lost[k];
	}
	ck_assert_msg(worst < 1000, "error %.0f us", worst);
	ck_assert_uint_eq(d.resets, 0);
	ck_assert_msg(fabs(dejitter_ppm(&d) - 100) < 15, "estimate %.2f",
	    dejitter_ppm(&d));
}
END_TEST

START_TEST(test_rebase_keeps_rate)
{
	struct dejitter d;
	struct sim s, s2;
	int64_t last = 0;
	double worst, ppm;

	dejitter_init(&d, 250);
	sim_init(&s, 11, 250, -90, 16, 0.25);
	run(&d, &s, 0, 60 * 250, 0, &last);
	ppm = dejitter_ppm(&d);
	ck_assert_msg(fabs(ppm + 90) < 5, "estimate %.2f", ppm);
	/*
	 * The board restarts its stream: same clock, new phase, a 13 ms
	 * pause, the index starts again.  The rate is kept across it.
	 */
	sim_init(&s2, 12, 250, -90, 16, 0.25);
	s2.flush = s.flush;
	dejitter_rebase(&d);
	ck_assert_double_eq_tol(dejitter_ppm(&d), ppm, 1e-9);
	{
		/* Move the second stream after the first. */
		double shift = sim_true(&s, 60 * 250) + 13000 - T0_US;
		int64_t prev = last;

		for (uint64_t i = 0; i < 30 * 250; i++) {
			double tt = sim_true(&s2, i) + shift;
			int64_t a = llround(tt + 50 * sim_u(&s2)), t;

			t = dejitter_update(&d, i, a);
			ck_assert_int_gt(t, prev);
			prev = t;
			if (i > 250)
				ck_assert_msg(fabs((double)t - tt) < 1000,
				    "i %llu error %.0f", (unsigned long long)i,
				    (double)t - tt);
		}
	}
	worst = fabs(dejitter_ppm(&d) + 90);
	ck_assert_msg(worst < 5, "estimate %.2f", dejitter_ppm(&d));
	/* A reset forgets the rate. */
	dejitter_reset(&d);
	ck_assert_double_eq_tol(dejitter_ppm(&d), 0, 1e-9);
}
END_TEST

START_TEST(test_phantom_and_missed_gaps)
{
	struct dejitter d;
	struct sim s;
	int64_t last = 0, t;
	uint64_t resets;
	double worst;

	dejitter_init(&d, 250);
	sim_init(&s, 5, 250, 50, 16, 0.25);
	run(&d, &s, 0, 20 * 250, 0, &last);
	ck_assert_uint_eq(d.resets, 0);
	/*
	 * A phantom gap: the index jumps 256 ahead of the clock.  Arrivals
	 * are then a second early for the line: the fit starts again at
	 * once, and the output stays monotonic.
	 */
	{
		uint64_t i;

		for (i = 20 * 250; i < 40 * 250; i++) {
			int64_t a = sim_arrival(&s, i);

			t = dejitter_update(&d, i + 256, a);
			ck_assert_int_gt(t, last);
			last = t;
			if (i >= 22 * 250)
				ck_assert_msg(fabs((double)t - sim_true(&s, i))
				    < 1000, "error %.0f",
				    (double)t - sim_true(&s, i));
		}
	}
	ck_assert_uint_eq(d.resets, 1);
	resets = d.resets;
	/*
	 * A missed gap: 256 samples vanish but the index does not move,
	 * so arrivals run a second late.  After a few blocks the fit starts
	 * again.
	 */
	{
		uint64_t i;

		for (i = 40 * 250; i < 60 * 250; i++) {
			int64_t a = sim_arrival(&s, i + 512);

			t = dejitter_update(&d, i + 256, a);
			ck_assert_int_gt(t, last);
			last = t;
			if (i >= 44 * 250)
				ck_assert_msg(fabs((double)t - sim_true(&s,
				    i + 512)) < 1000, "error %.0f",
				    (double)t - sim_true(&s, i + 512));
		}
	}
	ck_assert_uint_eq(d.resets, resets + 1);
	/* A host stall of 300 ms (data buffered, none lost) is no reset. */
	{
		uint64_t i;
		int64_t stall_end = llround(sim_true(&s, 60 * 250 + 512 + 75));

		for (i = 60 * 250; i < 70 * 250; i++) {
			int64_t a = sim_arrival(&s, i + 512);

			if (i < 60 * 250 + 75 && a < stall_end)
				a = stall_end;
			t = dejitter_update(&d, i + 256, a);
			ck_assert_int_gt(t, last);
			last = t;
		}
	}
	ck_assert_uint_eq(d.resets, resets + 1);
	worst = fabs(dejitter_ppm(&d) - 50);
	ck_assert_msg(worst < 20, "estimate %.2f", dejitter_ppm(&d));
}
END_TEST

START_TEST(test_index_backwards)
{
	struct dejitter d;
	int64_t t1 = 0, t2;

	dejitter_init(&d, 250);
	for (uint64_t i = 100; i < 200; i++)
		t1 = dejitter_update(&d, i, 1000000 + (int64_t)i * 4000);
	/* The index restarting is a new epoch; the output stays monotonic. */
	t2 = dejitter_update(&d, 0, 1000000 + 200 * 4000);
	ck_assert_int_gt(t2, t1);
	ck_assert_int_eq(t2, 1000000 + 200 * 4000);
	t2 = dejitter_update(&d, 1, 1000000 + 201 * 4000);
	ck_assert_int_eq(t2, 1000000 + 201 * 4000);
}
END_TEST

/* Return the dejitter test suite. */
static Suite *
dejitter_suite(void)
{
	Suite *s = suite_create("dejitter");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_clean);
	tcase_add_loop_test(tc, test_bursts_with_drift, 0, 10);
	tcase_add_test(tc, test_daisy_rate);
	tcase_add_test(tc, test_ftdi_chunks);
	tcase_add_test(tc, test_index_gaps);
	tcase_add_test(tc, test_rebase_keeps_rate);
	tcase_add_test(tc, test_phantom_and_missed_gaps);
	tcase_add_test(tc, test_index_backwards);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; exit non-zero on failure. */
int
main(void)
{
	SRunner *sr = srunner_create(dejitter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
