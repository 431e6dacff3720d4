/*
 * reader.h: the reader thread, which owns the board.
 *
 * Ownership: the reader thread owns the board and is the ring's only
 * producer.  The event loop owns everything else.  They share the ring,
 * the atomics in struct reader_stats, and struct board_desc, which is
 * guarded by the reader's mutex (reader_get_desc copies it out).
 */
#ifndef EEGD_READER_H
#define EEGD_READER_H

#include <stdatomic.h>
#include <stdint.h>

#include "board.h"

struct ring;
struct reader;

/* Counters the reader publishes; the loop only reads them. */
struct reader_stats {
	atomic_uint_fast64_t heartbeat;		/* bumped on every loop pass */
	atomic_uint_fast64_t produced;		/* samples read from the board */
	atomic_uint_fast64_t ring_dropped;	/* samples the full ring refused */
	atomic_int state;			/* enum board_state */
};

/* Create a reader for board (taking ownership) feeding ring. */
struct reader *reader_new(struct board *board, struct ring *ring);
/* Start the thread; -1 on error. */
int reader_start(struct reader *r);
/* Ask the thread to stop, and join it. */
void reader_stop(struct reader *r);
/* Free the reader and its board (after reader_stop). */
void reader_free(struct reader *r);
/* Return the shared counters. */
struct reader_stats *reader_stats(struct reader *r);
/* Copy out the board's description. */
void reader_get_desc(struct reader *r, struct board_desc *out);

#endif
