/* decimate.c: anti-aliasing windowed-sinc FIR and downsampling. */
#include "autoconfig.h"

#include <math.h>
#include <stdlib.h>

#include "decimate.h"
#include "history.h"
#include "sample.h"

/* The filter: n, half-length M and the taps h[0..2M]. */
struct decimator {
	unsigned n;
	unsigned half;
	unsigned taps;
	double *h;
	const struct record **in;	/* scratch: the inputs of one output */
};

/* Create the filter for factor n; NULL on error. */
struct decimator *
decimate_new(unsigned n)
{
	struct decimator *d;
	double fc, sum = 0;

	if (n < 2 || n > DECIMATE_MAX)
		return NULL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->n = n;
	d->half = (55 * n + 1) / 2;
	d->taps = 2 * d->half + 1;
	d->h = calloc(d->taps, sizeof *d->h);
	d->in = calloc(d->taps, sizeof *d->in);
	if (d->h == NULL || d->in == NULL) {
		decimate_free(d);
		return NULL;
	}
	fc = 0.45 / n;
	for (unsigned i = 0; i < d->taps; i++) {
		double k = (double)i - d->half;
		double x = 2.0 * M_PI * i / (d->taps - 1);
		double w = 0.42 - 0.5 * cos(x) + 0.08 * cos(2 * x);
		double s = k == 0 ? 2 * fc : sin(2 * M_PI * fc * k) / (M_PI * k);
		d->h[i] = w * s;
		sum += d->h[i];
	}
	for (unsigned i = 0; i < d->taps; i++)
		d->h[i] /= sum;
	return d;
}

/* Free the filter. */
void
decimate_free(struct decimator *d)
{
	if (d == NULL)
		return;
	free(d->h);
	free(d->in);
	free(d);
}

/* Return M. */
unsigned
decimate_half(const struct decimator *d)
{
	return d->half;
}

/* Return L. */
unsigned
decimate_taps(const struct decimator *d)
{
	return d->taps;
}

/* Return tap i. */
double
decimate_tap(const struct decimator *d, unsigned i)
{
	return i < d->taps ? d->h[i] : 0.0;
}

/* Compute output s for the chosen channels from the history. */
int
decimate_at(const struct decimator *d, const struct history *h, uint64_t s,
    const uint8_t *chans, unsigned nsel, float *out)
{
	const struct record *last = NULL, *r;
	int64_t lo = (int64_t)s - d->half;

	/* Gather inputs x[s-M .. s+M], holding the last kept sample. */
	for (unsigned j = 0; j < d->taps; j++) {
		int64_t seq = lo + j;
		r = seq >= 0 ? history_get(h, (uint64_t)seq) : NULL;
		if (r == NULL && last == NULL && seq >= 0)
			r = history_at_or_before(h, (uint64_t)seq);
		if (r != NULL)
			last = r;
		d->in[j] = last;
	}
	/* Leading holes with nothing before them take the first kept one. */
	if (last == NULL)
		return -1;
	for (unsigned j = d->taps; j-- > 0;)
		if (d->in[j] != NULL)
			last = d->in[j];
		else
			d->in[j] = last;
	for (unsigned c = 0; c < nsel; c++) {
		double acc = 0;
		/* y[s] = sum h[i] x[s + M - i]: x index j = 2M - i. */
		for (unsigned i = 0; i < d->taps; i++) {
			const struct record *x = d->in[d->taps - 1 - i];
			acc += d->h[i] * (chans[c] < x->nch ? x->ch[chans[c]] : 0);
		}
		out[c] = (float)acc;
	}
	return 0;
}
