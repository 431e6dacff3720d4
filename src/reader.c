/* reader.c: the reader thread: runs a board and pushes records to the ring. */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "reader.h"
#include "ring.h"
#include "sample.h"

/*
 * The reader.  sink is handed to the board; scratch is the record the
 * board fills before sink.sample() pushes it.  A sample the full ring
 * refuses still takes its seq, so the hub sees the jump and announces it
 * as ring_overflow.
 */
struct reader {
	struct board_sink sink;	/* first: the board's callbacks get it */
	struct board *board;
	struct ring *ring;
	struct record *scratch;
	pthread_t thread;
	int running;
	atomic_bool stop;
	pthread_mutex_t desc_lock;
	struct board_desc desc;
	struct reader_stats stats;
	uint64_t hang_after;	/* test hook: hang after this many samples */
};

/* Push one record, counting it as dropped when the ring is full. */
static int
reader_push(struct reader *r, const struct record *rec)
{
	if (ring_push(r->ring, rec))
		return 0;
	return -1;
}

/* Sink: give a sample its seq and push it. */
static void
reader_sink_sample(struct board_sink *sink, struct record *rec)
{
	struct reader *r = (struct reader *)sink;

	rec->type = REC_SAMPLE;
	rec->seq = sink->next_seq++;
	atomic_fetch_add_explicit(&r->stats.produced, 1, memory_order_relaxed);
	if (r->hang_after != 0 && sink->next_seq >= r->hang_after) {
		/* EEGD_TEST_HANG_READER: act hung, no heartbeat, until stop. */
		log_warnx("test hook: the reader thread hangs now");
		while (!atomic_load(&r->stop)) {
			struct timespec ts = { 0, 10000000L };
			nanosleep(&ts, NULL);
		}
	}
	if (reader_push(r, rec) == -1)
		atomic_fetch_add_explicit(&r->stats.ring_dropped, 1,
		    memory_order_relaxed);
}

/* Sink: advance seq over samples that will never arrive, and say why. */
static void
reader_sink_gap(struct board_sink *sink, uint64_t count, unsigned reason)
{
	struct reader *r = (struct reader *)sink;
	struct record *rec = r->scratch;

	if (count == 0)
		return;
	memset(rec, 0, sizeof *rec);
	rec->type = REC_GAP;
	rec->seq = sink->next_seq;
	rec->count = count;
	rec->reason = reason;
	sink->next_seq += count;
	/* If the ring is full the hub still sees the jump (as overflow). */
	(void)reader_push(r, rec);
}

/* Sink: the scratch record. */
static struct record *
reader_sink_scratch(struct board_sink *sink)
{
	return ((struct reader *)sink)->scratch;
}

/* Tell the hub the board changed state. */
static void
reader_set_state(struct reader *r, enum board_state st)
{
	struct record *rec = r->scratch;

	if (atomic_exchange(&r->stats.state, st) == (int)st)
		return;
	memset(rec, 0, sizeof *rec);
	rec->type = REC_BOARD;
	rec->seq = r->sink.next_seq;
	rec->reason = st;
	(void)reader_push(r, rec);
}

/* Sleep ms milliseconds in slices, beating the heartbeat; false if stopped. */
static int
reader_wait(struct reader *r, unsigned ms)
{
	while (ms > 0 && !atomic_load(&r->stop)) {
		unsigned slice = ms > 100 ? 100 : ms;
		struct timespec ts = { 0, (long)slice * 1000000L };
		nanosleep(&ts, NULL);
		ms -= slice;
		atomic_fetch_add(&r->stats.heartbeat, 1);
	}
	return !atomic_load(&r->stop);
}

/* The thread: start the board, read until lost, retry with backoff. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct board *b = r->board;
	unsigned backoff = 250;
	char err[256];

	while (!atomic_load(&r->stop)) {
		atomic_fetch_add(&r->stats.heartbeat, 1);
		if (b->ops->start(b, err, sizeof err) == -1) {
			log_warnx("board %s: %s; retrying in %u ms",
			    b->ops->name, err, backoff);
			reader_set_state(r, BOARD_RETRYING);
			if (!reader_wait(r, backoff))
				break;
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		backoff = 250;
		pthread_mutex_lock(&r->desc_lock);
		r->desc = b->desc;
		pthread_mutex_unlock(&r->desc_lock);
		log_info("board %s: streaming at %u Hz, %u channels",
		    b->desc.name, b->desc.rate, b->desc.channels);
		reader_set_state(r, BOARD_STREAMING);
		while (!atomic_load(&r->stop)) {
			atomic_fetch_add(&r->stats.heartbeat, 1);
			if (b->ops->read(b, &r->sink, err, sizeof err) == -1) {
				log_warnx("board %s lost: %s", b->ops->name, err);
				reader_set_state(r, BOARD_LOST);
				break;
			}
		}
		b->ops->stop(b);
	}
	return NULL;
}

/* Create a reader for board (taking ownership) feeding ring. */
struct reader *
reader_new(struct board *board, struct ring *ring)
{
	struct reader *r;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	if ((r->scratch = calloc(1, record_size(SAMPLE_MAX_CHANNELS))) ==
	    NULL) {
		free(r);
		return NULL;
	}
	r->board = board;
	r->ring = ring;
	r->sink.sample = reader_sink_sample;
	r->sink.gap = reader_sink_gap;
	r->sink.scratch = reader_sink_scratch;
	pthread_mutex_init(&r->desc_lock, NULL);
	/* A test-only hook: see ENVIRONMENT in eegd(8). */
	if (getenv("EEGD_TEST_HANG_READER") != NULL)
		r->hang_after = strtoull(getenv("EEGD_TEST_HANG_READER"), NULL,
		    10);
	r->desc = board->desc;
	atomic_init(&r->stop, false);
	atomic_init(&r->stats.state, BOARD_RETRYING);
	return r;
}

/* Start the thread; -1 on error. */
int
reader_start(struct reader *r)
{
	sigset_t all, old;
	int rc;

	/* Signals belong to the event loop: block them in the reader. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, reader_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	r->running = 1;
	return 0;
}

/* Ask the thread to stop, and join it. */
void
reader_stop(struct reader *r)
{
	if (!r->running)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	r->running = 0;
}

/* Free the reader and its board (after reader_stop). */
void
reader_free(struct reader *r)
{
	if (r == NULL)
		return;
	reader_stop(r);
	r->board->ops->free(r->board);
	pthread_mutex_destroy(&r->desc_lock);
	free(r->scratch);
	free(r);
}

/* Return the shared counters. */
struct reader_stats *
reader_stats(struct reader *r)
{
	return &r->stats;
}

/* Copy out the board's description. */
void
reader_get_desc(struct reader *r, struct board_desc *out)
{
	pthread_mutex_lock(&r->desc_lock);
	*out = r->desc;
	pthread_mutex_unlock(&r->desc_lock);
}
