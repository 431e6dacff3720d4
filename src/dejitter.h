/*
 * dejitter.h: smooth sample times fitted to bursty arrival times.
 *
 * A board takes samples on its own clock at a steady rate, but they reach
 * the host late by a delay that varies and is never negative: USB-serial
 * bridges deliver in bursts (an FTDI chip holds bytes for up to its 16 ms
 * latency timer) and the reader thread wakes late.  So
 *
 *	arrival(i) = t0 + i * period + delay(i),	delay(i) >= 0,
 *
 * and the true times lie on the lower envelope of the arrivals.  A
 * least-squares line through all arrivals would sit about the mean delay
 * (several ms) late; the envelope is much closer to the truth.
 *
 * Method (a lower-envelope line fit with drift tracking):
 * - Samples are grouped in blocks of about 400 ms.  Each block keeps its
 *   envelope point: its arrival with the least delay once the current
 *   slope is removed.
 * - The last DEJITTER_WINDOW envelope points (about 50 s) are fitted by
 *   least squares.  Points far above the line (host stalls) are dropped
 *   and the fit is redone.  The slope is blended with a prior (the
 *   nominal period, +-300 ppm) by inverse variance, so a short window
 *   cannot produce a wild rate; after about 10 s the data dominate.
 * - The line is then lowered onto the lowest envelope point.  Between
 *   fits, any arrival below the line lowers it at once.
 * - A sample's time is the line at its index, but never later than its
 *   own arrival, and always at least 1 us after the previous output
 *   (monotonic wins when the two conflict, early in a fit).
 * - The slope is the estimated true period (drift tracking), reported as
 *   a rate by dejitter_rate().
 * - Gaps in the index need nothing special: the line is in the index.
 *   An index that does not increase, an arrival more than 20 ms before
 *   the line, or envelope points more than 5 ms above it for four blocks
 *   running mean the index no longer matches the clock (a missed or
 *   phantom gap, a board restart): the fit starts again from there,
 *   keeping the rate (dejitter_rebase), and counts it in resets.
 * - A new fit knows only its first arrivals: with bursts its first
 *   outputs can be late by up to the delay of the best arrival so far
 *   (with 16 ms bursts, about 1-4 ms for the first 50-100 ms).
 *
 * Accuracy (tests/check_dejitter.c): with 16 ms bursts (+-25 %), host
 * delays and +-100 ppm drift, within 0.5 ms of the true times after 2 s
 * and the rate within 5 ppm after 60 s.  A burst timer phase-locked to
 * the sample clock leaves a constant offset that no fit can see.
 *
 * All times are microseconds on one clock of the caller's choice, which
 * should be monotonic (CLOCK_MONOTONIC).  No I/O, no allocation.
 */
#ifndef EEGD_DEJITTER_H
#define EEGD_DEJITTER_H

#include <stdint.h>

#define DEJITTER_WINDOW 128	/* envelope points kept (blocks) */

/* One envelope point, relative to the epoch origin. */
struct dejitter_point {
	double x;		/* sample index */
	double y;		/* arrival, us */
};

/*
 * The fitter.  An epoch starts at the first sample after init or a reset;
 * x and y are relative to its origin (x0, y0) so doubles keep full
 * precision.  The line is t = b + s * x.  last_out survives resets so the
 * output stays monotonic.  Treat the fields as private.
 */
struct dejitter {
	double nominal;		/* nominal period, us per sample */
	double prior;		/* slope prior, us per sample */
	double prior_sd;	/* its standard deviation */
	unsigned block_len;	/* samples per envelope block */
	int started;		/* an epoch is running */
	uint64_t x0;		/* epoch origin: index */
	int64_t y0;		/* epoch origin: arrival */
	uint64_t last_index;
	unsigned nblock;	/* samples in the current block */
	struct dejitter_point bmin;	/* its envelope point so far */
	double bmin_r;		/* bmin.y - s * bmin.x */
	struct dejitter_point pts[DEJITTER_WINDOW];
	unsigned npts;		/* envelope points held */
	unsigned head;		/* next slot in pts */
	double b;		/* line intercept, us */
	double s;		/* line slope, us per sample */
	double s_sd;		/* slope standard deviation */
	unsigned late;		/* blocks running far above the line */
	int have_out;
	int64_t last_out;
	uint64_t resets;	/* automatic restarts of the fit */
};

/* Initialise for a nominal rate in samples per second. */
void dejitter_init(struct dejitter *d, double rate_hz);
/* Forget the fit and the rate; the output stays monotonic. */
void dejitter_reset(struct dejitter *d);
/* Start a new fit but keep the rate estimate (same clock, new phase). */
void dejitter_rebase(struct dejitter *d);
/* Feed sample index's arrival time; return its dejittered time. */
int64_t dejitter_update(struct dejitter *d, uint64_t index, int64_t arrival_us);
/* Return the estimated true rate in samples per second. */
double dejitter_rate(const struct dejitter *d);
/* Return the estimated rate's offset from nominal, in ppm. */
double dejitter_ppm(const struct dejitter *d);

#endif
