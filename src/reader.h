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
/* Copy out why the board last failed to start or was lost ("" if it runs). */
void reader_get_error(struct reader *r, char *buf, size_t len);
/* Return the running board's counters (atomics; see board.h). */
struct board_counters *reader_counters(struct reader *r);
/*
 * Run fallback (taking ownership) when the board cannot be started at
 * start-up.  Call before reader_start.
 */
void reader_set_fallback(struct reader *r, struct board *fallback);

/* Loop → reader: queue a board command for the board; -1 when full. */
int reader_submit(struct reader *r, uint64_t client_id, const char *cmd);
/* Return the eventfd that is readable when command results are ready. */
int reader_results_fd(struct reader *r);
/* Loop: take one command result; 0 when there was none. */
int reader_take_result(struct reader *r, uint64_t *client_id, int *ok,
    char *msg, size_t len);

#endif
