/*
 * decimate.h: anti-aliasing low-pass FIR and downsampling by N.  Pure.
 *
 * The filter is a Blackman-windowed sinc of L = 2M + 1 taps with
 * M = ceil(27.5 N) and cutoff (-6 dB) fc = 0.45 / N cycles per input
 * sample, i.e. 0.45 x the output rate (90 % of the new Nyquist frequency),
 * normalised to unit gain at DC.  Its transition band runs from about
 * 0.40 to 0.50 of the output rate, so everything above the new Nyquist
 * frequency is attenuated by more than 70 dB.  The filter is centred
 * (zero phase): the output with seq s is
 *   y[s] = sum_{i=0}^{L-1} h[i] * x[s + M - i]
 * for s a multiple of N, so it keeps the seq and time of the input sample
 * at its position and is delayed by M input samples.  Missing inputs (gaps,
 * the start of the stream) take the nearest earlier kept sample, or the
 * nearest later one when there is none.
 */
#ifndef EEGD_DECIMATE_H
#define EEGD_DECIMATE_H

#include <stddef.h>
#include <stdint.h>

#define DECIMATE_MAX 1024

struct history;
struct decimator;

/* Create the filter for factor n (2..DECIMATE_MAX); NULL on error. */
struct decimator *decimate_new(unsigned n);
/* Free the filter. */
void decimate_free(struct decimator *d);
/* Return M, the half-length: output s needs inputs up to s + M. */
unsigned decimate_half(const struct decimator *d);
/* Return the number of taps L = 2M + 1. */
unsigned decimate_taps(const struct decimator *d);
/* Return tap i (0 <= i < L). */
double decimate_tap(const struct decimator *d, unsigned i);
/*
 * Compute output s for the channels in chans[0..nsel) (0-based indices)
 * from the history into out[]; -1 when the history holds no sample at all.
 */
int decimate_at(const struct decimator *d, const struct history *h,
    uint64_t s, const uint8_t *chans, unsigned nsel, float *out);

#endif
