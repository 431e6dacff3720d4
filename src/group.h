/*
 * group.h: what a set of clients subscribes to: a channel subset and a
 * decimation factor.  The hub encodes each round once per group and format
 * in use, and every live client of the group gets the same bytes.
 *
 * Decimated output is computed from the hub's history (see decimate.h) and
 * aligned to seq % N == 0, so two clients of a group get identical samples
 * whenever they joined.  Events (gaps, board) are not delayed by the
 * filter: they go out in the round they happen.
 */
#ifndef EEGD_GROUP_H
#define EEGD_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "encode.h"
#include "encode_bin.h"
#include "sample.h"

struct evbuffer;
struct history;
struct decimator;
struct msg;
struct record;
struct shared;

/* A subscription shared by clients. */
struct group {
	TAILQ_ENTRY(group) entry;
	uint64_t mask;			/* channels, bit i = channel i+1 */
	unsigned n;			/* decimation factor, 1 = none */
	unsigned nsel;
	uint8_t chans[SAMPLE_MAX_CHANNELS];	/* selected, 0-based, ascending */
	struct decimator *dec;
	unsigned refs;			/* clients in the group */
	uint64_t next_out;		/* next output seq */
	uint64_t round_first;		/* next_out when the round began */
	uint64_t round_outputs;		/* outputs produced this round */
	int used[FMT_N];		/* formats encoded this round */
	struct evbuffer *buf[FMT_N];
	struct shared *sh[FMT_N];	/* this round's bytes, shared by clients */
	struct bin_builder *bin;
	struct record *scratch;
};

/* Make a group for channels mask and factor n, starting at next_seq. */
struct group *group_new(uint64_t mask, unsigned n, uint64_t next_seq);
/* Free a group. */
void group_free(struct group *g);
/* Start a round that encodes the formats marked in used[]. */
void group_round_begin(struct group *g, const int *used);
/* Take a sample (already in the history) into the round. */
void group_sample(struct group *g, const struct history *h,
    const struct record *r);
/* Take an event into the round, for every format in use. */
void group_msg(struct group *g, const struct msg *ev);
/* Finish the round (flush pending binary frames). */
void group_round_end(struct group *g);
/*
 * Encode outputs from *cursor up to end for one client, from the history,
 * with gap notices for what is missing or expired; stops after about
 * budget bytes.  Advances *cursor.
 */
void group_replay(struct group *g, const struct history *h, uint64_t *cursor,
    uint64_t end, enum encode_format fmt, struct evbuffer *out,
    size_t budget);
/* Return the first output seq at or after seq (a multiple of n). */
uint64_t group_align(const struct group *g, uint64_t seq);
/* Write the group's labels (comma-separated) from the board's labels. */
void group_labels(const struct group *g, const char *all, char *buf,
    size_t len);
/* Return the number of channels a mask selects out of nch. */
unsigned group_mask_count(uint64_t mask, unsigned nch);
/* Write one sample in a format, channels as given (nch values). */
void group_encode_sample(struct evbuffer *out, enum encode_format fmt,
    struct bin_builder *bin, uint32_t step, const struct record *r);

#endif
