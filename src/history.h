/*
 * history.h: the hub's window of recent samples, indexed by seq, plus the
 * gaps that fall inside it.  Pure; owned by the event loop.
 *
 * Slots are addressed by seq modulo a power-of-two capacity, so a lookup
 * is one index and one check.  A seq that never arrived (a gap) has no
 * slot; history_gap_find() says why it is missing.
 */
#ifndef EEGD_HISTORY_H
#define EEGD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct record;
struct history;

/* Create a window of at least min_samples records of nch channels. */
struct history *history_new(size_t min_samples, unsigned nch);
/* Free the window. */
void history_free(struct history *h);
/* Return the capacity in samples. */
size_t history_capacity(const struct history *h);
/* Store a sample (seqs must not go backwards). */
void history_put(struct history *h, const struct record *r);
/* Note that count samples from seq will never arrive, for reason. */
void history_gap(struct history *h, uint64_t seq, uint64_t count,
    unsigned reason);
/* Return the sample with this seq, or NULL when missing or expired. */
const struct record *history_get(const struct history *h, uint64_t seq);
/* Return the oldest seq still kept (== history_end when empty). */
uint64_t history_oldest(const struct history *h);
/* Return the seq after the newest one stored or announced missing. */
uint64_t history_end(const struct history *h);
/*
 * For a missing seq, find the recorded gap holding it: returns 1 and sets
 * [*start, *end) and *reason, or 0 when none is known.
 */
int history_gap_find(const struct history *h, uint64_t seq, uint64_t *start,
    uint64_t *end, unsigned *reason);
/* Return the newest kept sample at or before seq, or NULL. */
const struct record *history_at_or_before(const struct history *h,
    uint64_t seq);

#endif
