/*
 * board_synthetic.h: a deterministic generator paced on absolute deadlines.
 *
 * Channel k (1-based) of the sample with sequence number seq is
 *   A_k * sin(2*pi * f_k * seq / rate) + N * (2u - 1)
 * with A_k = 10*k uV, f_k = 2*k Hz, N = 1 uV and u in [0,1) from a
 * counter-based PRNG of (seed, seq, k), so any sample can be recomputed
 * from its seq alone (see eegd(8), SYNTHETIC BOARD).
 */
#ifndef EEGD_BOARD_SYNTHETIC_H
#define EEGD_BOARD_SYNTHETIC_H

#include <stdint.h>

struct board;

/* Create a synthetic board of rate Hz and channels channels. */
struct board *board_synthetic_new(unsigned rate, unsigned channels,
    uint64_t seed);
/* Return the uniform [0,1) noise draw for (seed, seq, channel k). */
double board_synthetic_uniform(uint64_t seed, uint64_t seq, unsigned k);
/* Return the value in uV of channel k (1-based) for seq. */
double board_synthetic_value(uint64_t seed, unsigned rate, uint64_t seq,
    unsigned k);
/* Return nanoseconds from the first sample to sample i at rate Hz. */
uint64_t board_synthetic_offset_ns(uint64_t i, unsigned rate);

#endif
