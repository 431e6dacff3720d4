/* board_synthetic.c: the deterministic synthetic board. */
#include "autoconfig.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board.h"
#include "board_synthetic.h"
#include "sample.h"
#include "timeutil.h"

#define SYNTH_NOISE_UV 1.0
#define SYNTH_MAX_PER_READ 4096

/*
 * The generator's state.  Sample i (counted from start) is due at
 * t0_mono + offset(i) and stamped t0_real + offset(i), so pacing never
 * drifts however late a wake-up is.
 */
struct synthetic {
	struct board b;
	uint64_t seed;
	unsigned block;		/* samples produced per wake-up */
	int started;		/* first read() seen: t0 and n0 are set */
	struct timespec t0_mono;
	int64_t t0_real_us;
	uint64_t i;		/* samples produced since start */
};

/* Return the uniform [0,1) noise draw for (seed, seq, channel k). */
double
board_synthetic_uniform(uint64_t seed, uint64_t seq, unsigned k)
{
	uint64_t z = seed + seq * 0x9E3779B97F4A7C15ULL +
	    (uint64_t)k * 0xD1B54A32D192ED03ULL;

	/* splitmix64's finaliser. */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

/* Return the value in uV of channel k (1-based) for seq. */
double
board_synthetic_value(uint64_t seed, unsigned rate, uint64_t seq, unsigned k)
{
	/* Reduce the phase exactly before converting, so long runs keep it. */
	uint64_t cyc = (seq * 2 * k) % rate;
	double ph = 2.0 * M_PI * (double)cyc / (double)rate;

	return 10.0 * k * sin(ph) +
	    SYNTH_NOISE_UV * (2.0 * board_synthetic_uniform(seed, seq, k) - 1.0);
}

/* Return nanoseconds from the first sample to sample i at rate Hz. */
uint64_t
board_synthetic_offset_ns(uint64_t i, unsigned rate)
{
	return (i / rate) * 1000000000ULL + (i % rate) * 1000000000ULL / rate;
}

/* Start: nothing to open; the clock starts at the first read. */
static int
synthetic_start(struct board *b, char *err, size_t errlen)
{
	struct synthetic *s = (struct synthetic *)b;

	s->started = 0;
	return 0;
}

/* Produce every sample now due, then sleep until the next block is due. */
static int
synthetic_read(struct board *b, struct board_sink *sink, char *err,
    size_t errlen)
{
	struct synthetic *s = (struct synthetic *)b;
	unsigned rate = b->desc.rate, nch = b->desc.channels;
	struct timespec now, wake;
	uint64_t due, n;

	if (!s->started) {
		clock_gettime(CLOCK_MONOTONIC, &s->t0_mono);
		s->t0_real_us = timeutil_realtime_us();
		s->i = 0;
		s->started = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Samples whose deadline has passed: offset(i) <= now - t0. */
	{
		uint64_t el = (uint64_t)timeutil_diff_ns(&now, &s->t0_mono);
		due = (el / 1000000000ULL) * rate +
		    ((el % 1000000000ULL) * rate) / 1000000000ULL + 1;
	}
	for (n = 0; s->i < due && n < SYNTH_MAX_PER_READ; n++, s->i++) {
		struct record *r = sink->scratch(sink);
		uint64_t seq = sink->next_seq;
		int64_t t = s->t0_real_us +
		    (int64_t)(board_synthetic_offset_ns(s->i, rate) / 1000);

		r->type = REC_SAMPLE;
		r->nch = nch;
		r->time_us = r->time_raw_us = t;
		r->aux_footer = 0;
		r->has_accel = 0;
		for (unsigned k = 1; k <= nch; k++)
			r->ch[k - 1] = (float)board_synthetic_value(s->seed,
			    rate, seq, k);
		sink->sample(sink, r);
	}
	if (s->i < due)
		return 0;	/* behind: come back at once */
	/* Sleep until the last sample of the next block is due, <= 100 ms. */
	wake = timeutil_add_ns(&s->t0_mono,
	    board_synthetic_offset_ns(s->i + s->block - 1, rate));
	{
		struct timespec cap = timeutil_add_ns(&now, 100000000ULL);
		if (timeutil_diff_ns(&wake, &cap) > 0)
			wake = cap;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) ==
	    EINTR)
		;
	return 0;
}

/* The synthetic board takes no commands. */
static int
synthetic_command(struct board *b, const char *cmd, char *err, size_t errlen)
{
	snprintf(err, errlen, "the synthetic board takes no commands");
	return -1;
}

/* Stop: nothing to close. */
static void
synthetic_stop(struct board *b)
{
}

/* Free the board. */
static void
synthetic_free(struct board *b)
{
	free(b);
}

static const struct board_ops synthetic_ops = {
	.name = "synthetic",
	.start = synthetic_start,
	.read = synthetic_read,
	.command = synthetic_command,
	.stop = synthetic_stop,
	.free = synthetic_free,
};

/* Create a synthetic board of rate Hz and channels channels. */
struct board *
board_synthetic_new(unsigned rate, unsigned channels, uint64_t seed)
{
	struct synthetic *s;
	size_t off = 0;

	if (rate == 0 || channels == 0 || channels > SAMPLE_MAX_CHANNELS) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->b.ops = &synthetic_ops;
	s->seed = seed;
	/* Above 1 kHz, wake about once a millisecond for a block. */
	s->block = rate > 1000 ? rate / 1000 : 1;
	snprintf(s->b.desc.name, sizeof s->b.desc.name, "synthetic");
	s->b.desc.rate = rate;
	s->b.desc.channels = channels;
	s->b.desc.max_channels = channels;
	/* The largest amplitude plus the noise. */
	s->b.desc.range_uv = 10.0 * channels + SYNTH_NOISE_UV;
	for (unsigned k = 1; k <= channels; k++)
		off += (size_t)snprintf(s->b.desc.labels + off,
		    sizeof s->b.desc.labels - off, "%sch%u", k > 1 ? "," : "", k);
	return &s->b;
}
