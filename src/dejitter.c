/* dejitter.c: a lower-envelope line fit of arrival time against sample index. */
#include "autoconfig.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dejitter.h"

#define DEJITTER_BLOCK_US 400000.0	/* envelope block length */
#define DEJITTER_PRIOR_PPM 300.0	/* slope prior sd, from nominal */
#define DEJITTER_REBASE_PPM 2.0		/* least prior sd kept by a rebase */
#define DEJITTER_NOISE_US 500.0		/* point noise assumed from 2 points */
#define DEJITTER_FLOOR_US 20.0		/* least point noise assumed */
#define DEJITTER_OUTLIER_US 300.0	/* least outlier threshold */
#define DEJITTER_EARLY_US 20000.0	/* arrival this far before: refit */
#define DEJITTER_LATE_US 5000.0		/* block this far above the line... */
#define DEJITTER_LATE_BLOCKS 4		/* ...this many times running: refit */

/* Set the prior to the nominal period and forget the epoch. */
static void
dejitter_clear(struct dejitter *d)
{
	d->started = 0;
	d->nblock = 0;
	d->npts = 0;
	d->head = 0;
	d->late = 0;
	d->b = 0;
	d->s = d->prior;
	d->s_sd = d->prior_sd;
}

/* Initialise for a nominal rate in samples per second. */
void
dejitter_init(struct dejitter *d, double rate_hz)
{
	memset(d, 0, sizeof *d);
	if (!(rate_hz > 0))
		rate_hz = 250;
	d->nominal = 1e6 / rate_hz;
	d->prior = d->nominal;
	d->prior_sd = d->nominal * DEJITTER_PRIOR_PPM * 1e-6;
	d->block_len = (unsigned)lround(DEJITTER_BLOCK_US / d->nominal);
	if (d->block_len < 4)
		d->block_len = 4;
	dejitter_clear(d);
}

/* Forget the fit and the rate; the output stays monotonic. */
void
dejitter_reset(struct dejitter *d)
{
	d->prior = d->nominal;
	d->prior_sd = d->nominal * DEJITTER_PRIOR_PPM * 1e-6;
	dejitter_clear(d);
}

/* Start a new fit but keep the rate estimate (same clock, new phase). */
void
dejitter_rebase(struct dejitter *d)
{
	double floor_sd = d->nominal * DEJITTER_REBASE_PPM * 1e-6;
	double max_sd = d->nominal * DEJITTER_PRIOR_PPM * 1e-6;

	d->prior = d->s;
	d->prior_sd = d->s_sd < floor_sd ? floor_sd :
	    d->s_sd > max_sd ? max_sd : d->s_sd;
	dejitter_clear(d);
}

/* Return the median of v[0..n-1], sorting v in place (n is small). */
static double
dejitter_median(double *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		double t = v[i];
		unsigned j = i;

		for (; j > 0 && v[j - 1] > t; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Fit a slope to the points marked in use, blended with the prior. */
static double
dejitter_slope(struct dejitter *d, const int *use, double *xm, double *ym)
{
	double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, ss = 0, ls, var, wl, wp;

	for (unsigned i = 0; i < d->npts; i++) {
		if (!use[i])
			continue;
		n++;
		sx += d->pts[i].x;
		sy += d->pts[i].y;
	}
	if (n == 0) {
		*xm = *ym = 0;
		d->s_sd = d->prior_sd;
		return d->prior;
	}
	*xm = sx / n;
	*ym = sy / n;
	for (unsigned i = 0; i < d->npts; i++) {
		double dx = d->pts[i].x - *xm, dy = d->pts[i].y - *ym;

		if (!use[i])
			continue;
		sxx += dx * dx;
		sxy += dx * dy;
	}
	if (n < 2 || sxx <= 0) {
		d->s_sd = d->prior_sd;
		return d->prior;
	}
	ls = sxy / sxx;
	if (n > 2) {
		for (unsigned i = 0; i < d->npts; i++) {
			double r;

			if (!use[i])
				continue;
			r = d->pts[i].y - *ym - ls * (d->pts[i].x - *xm);
			ss += r * r;
		}
		var = ss / (n - 2);
	} else
		var = DEJITTER_NOISE_US * DEJITTER_NOISE_US;
	if (var < DEJITTER_FLOOR_US * DEJITTER_FLOOR_US)
		var = DEJITTER_FLOOR_US * DEJITTER_FLOOR_US;
	wl = sxx / var;
	wp = 1 / (d->prior_sd * d->prior_sd);
	d->s_sd = sqrt(1 / (wl + wp));
	return (ls * wl + d->prior * wp) / (wl + wp);
}

/* Refit the line to the envelope points, dropping points far above it. */
static void
dejitter_fit(struct dejitter *d)
{
	int use[DEJITTER_WINDOW] = { 0 };
	double r[DEJITTER_WINDOW], tmp[DEJITTER_WINDOW];
	double xm, ym, s, med, mad, thr, b;
	unsigned n = d->npts, kept = 0;

	for (unsigned i = 0; i < n; i++)
		use[i] = 1;
	s = dejitter_slope(d, use, &xm, &ym);
	if (n >= 3) {
		for (unsigned i = 0; i < n; i++) {
			r[i] = d->pts[i].y - ym - s * (d->pts[i].x - xm);
			tmp[i] = r[i];
		}
		med = dejitter_median(tmp, n);
		for (unsigned i = 0; i < n; i++)
			tmp[i] = fabs(r[i] - med);
		mad = dejitter_median(tmp, n) * 1.4826;
		thr = med + (4 * mad > DEJITTER_OUTLIER_US ? 4 * mad :
		    DEJITTER_OUTLIER_US);
		for (unsigned i = 0; i < n; i++)
			if ((use[i] = r[i] <= thr))
				kept++;
		if (kept < n && kept >= 2)
			s = dejitter_slope(d, use, &xm, &ym);
		else
			for (unsigned i = 0; i < n; i++)
				use[i] = 1;
	}
	/* Lower the line onto the envelope. */
	b = INFINITY;
	for (unsigned i = 0; i < n; i++)
		if (use[i] && d->pts[i].y - s * d->pts[i].x < b)
			b = d->pts[i].y - s * d->pts[i].x;
	d->s = s;
	if (n > 0)
		d->b = b;
}

/* Close the current block: store its envelope point and refit. */
static void
dejitter_close_block(struct dejitter *d)
{
	double above = d->bmin.y - (d->b + d->s * d->bmin.x);

	d->late = above > DEJITTER_LATE_US ? d->late + 1 : 0;
	d->pts[d->head] = d->bmin;
	d->head = (d->head + 1) % DEJITTER_WINDOW;
	if (d->npts < DEJITTER_WINDOW)
		d->npts++;
	d->nblock = 0;
	dejitter_fit(d);
}

/* Feed sample index's arrival time; return its dejittered time. */
int64_t
dejitter_update(struct dejitter *d, uint64_t index, int64_t arrival_us)
{
	double x, y, t;
	int64_t out;

	if (d->started && index <= d->last_index)
		dejitter_rebase(d);
	if (d->started) {
		x = (double)(index - d->x0);
		y = (double)(arrival_us - d->y0);
		if (y < d->b + d->s * x - DEJITTER_EARLY_US) {
			d->resets++;
			dejitter_rebase(d);
		}
	}
	if (!d->started) {
		d->started = 1;
		d->x0 = index;
		d->y0 = arrival_us;
		d->b = 0;
	}
	d->last_index = index;
	x = (double)(index - d->x0);
	y = (double)(arrival_us - d->y0);

	/* Track the block's envelope point, and lower the line at once. */
	if (d->nblock == 0 || y - d->s * x < d->bmin_r) {
		d->bmin.x = x;
		d->bmin.y = y;
		d->bmin_r = y - d->s * x;
	}
	if (y < d->b + d->s * x)
		d->b = y - d->s * x;
	if (++d->nblock >= d->block_len)
		dejitter_close_block(d);

	t = d->b + d->s * x;
	if (t > y)
		t = y;
	out = d->y0 + llround(t);
	if (d->have_out && out <= d->last_out)
		out = d->last_out + 1;
	d->have_out = 1;
	d->last_out = out;

	if (d->late >= DEJITTER_LATE_BLOCKS) {
		d->resets++;
		dejitter_rebase(d);
	}
	return out;
}

/* Return the estimated true rate in samples per second. */
double
dejitter_rate(const struct dejitter *d)
{
	return d->s > 0 ? 1e6 / d->s : 1e6 / d->nominal;
}

/* Return the estimated rate's offset from nominal, in ppm. */
double
dejitter_ppm(const struct dejitter *d)
{
	return (dejitter_rate(d) * d->nominal / 1e6 - 1) * 1e6;
}
