/* reader.c: the reader thread: runs a board and pushes records to the ring. */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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
#define READER_QUEUE 16

/* A board command on its way to the board, or its result on the way back. */
struct reader_cmd {
	uint64_t client_id;
	int ok;
	char text[64];		/* the command, then the error message */
};

struct reader {
	struct board_sink sink;	/* first: the board's callbacks get it */
	struct board *board;	/* the running board */
	struct board *primary;	/* the configured board */
	struct board *fallback;	/* run when primary can't start at first */
	pthread_mutex_t cmd_lock;	/* guards the two queues below */
	struct reader_cmd cmds[READER_QUEUE];
	size_t ncmds;
	struct reader_cmd results[READER_QUEUE];
	size_t nresults;
	int result_fd;		/* eventfd: results are ready */
	struct ring *ring;
	struct record *scratch;	/* the board fills samples here */
	struct record *evrec;	/* gaps and board events, never a sample */
	int announce;		/* a started board: say so at its first sample */
	int announce_state;	/* BOARD_STREAMING or BOARD_FALLBACK */
	char last_error[256];	/* why the board last failed, under desc_lock */
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

static void reader_set_state(struct reader *, enum board_state);

/* Sink: give a sample its seq and push it. */
static void
reader_sink_sample(struct board_sink *sink, struct record *rec)
{
	struct reader *r = (struct reader *)sink;

	/* A (re)started board is announced with the seq of its first sample,
	 * after any gap for the time it was away. */
	if (r->announce) {
		r->announce = 0;
		reader_set_state(r, r->announce_state);
	}
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
	struct record *rec = r->evrec;

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
	struct record *rec = r->evrec;

	if (atomic_exchange(&r->stats.state, st) == (int)st)
		return;
	memset(rec, 0, sizeof *rec);
	rec->type = REC_BOARD;
	rec->seq = r->sink.next_seq;
	rec->reason = st;
	(void)reader_push(r, rec);
}

static void reader_run_commands(struct reader *, int);

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
		reader_run_commands(r, 0);
	}
	return !atomic_load(&r->stop);
}

/* Carry out queued board commands and post their results. */
static void
reader_run_commands(struct reader *r, int connected)
{
	struct reader_cmd todo[READER_QUEUE];
	size_t n;
	uint64_t one = 1;

	pthread_mutex_lock(&r->cmd_lock);
	/* Take no more than there is room to answer: every command gets one. */
	n = r->ncmds;
	if (n > READER_QUEUE - r->nresults)
		n = READER_QUEUE - r->nresults;
	memcpy(todo, r->cmds, n * sizeof *todo);
	memmove(r->cmds, r->cmds + n, (r->ncmds - n) * sizeof *r->cmds);
	r->ncmds -= n;
	pthread_mutex_unlock(&r->cmd_lock);
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char err[64] = "";
		struct board *b = r->board;
		if (!connected)
			snprintf(err, sizeof err, "the board is not connected");
		todo[i].ok = connected && b->ops->command(b, todo[i].text, err,
		    sizeof err) == 0;
		snprintf(todo[i].text, sizeof todo[i].text, "%s", err);
	}
	pthread_mutex_lock(&r->cmd_lock);
	for (size_t i = 0; i < n && r->nresults < READER_QUEUE; i++)
		r->results[r->nresults++] = todo[i];
	pthread_mutex_unlock(&r->cmd_lock);
	while (write(r->result_fd, &one, sizeof one) == -1 && errno == EINTR)
		;
}

/* The thread: start the board, read until lost, retry with backoff. */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct board *b = r->board;
	unsigned backoff = 250;
	int streamed = 0;
	char err[256];

	while (!atomic_load(&r->stop)) {
		atomic_fetch_add(&r->stats.heartbeat, 1);
		reader_run_commands(r, 0);
		if (b->ops->start(b, err, sizeof err) == -1) {
			if (!streamed && r->fallback != NULL) {
				log_errx("board %s: %s", b->ops->name, err);
				log_errx("*** FALLBACK: no board found; running "
				    "the synthetic board instead (fallback = "
				    "synthetic). This is NOT real EEG. ***");
				pthread_mutex_lock(&r->desc_lock);
				r->board = b = r->fallback;
				pthread_mutex_unlock(&r->desc_lock);
				r->fallback = NULL;
				continue;
			}
			log_warnx("board %s: %s; retrying in %u ms",
			    b->ops->name, err, backoff);
			pthread_mutex_lock(&r->desc_lock);
			snprintf(r->last_error, sizeof r->last_error, "%s", err);
			pthread_mutex_unlock(&r->desc_lock);
			reader_set_state(r, BOARD_RETRYING);
			if (!reader_wait(r, backoff))
				break;
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		backoff = 250;
		streamed = 1;
		pthread_mutex_lock(&r->desc_lock);
		r->desc = b->desc;
		pthread_mutex_unlock(&r->desc_lock);
		log_info("board %s: streaming at %u Hz, %u channels",
		    b->desc.name, b->desc.rate, b->desc.channels);
		pthread_mutex_lock(&r->desc_lock);
		r->last_error[0] = '\0';
		pthread_mutex_unlock(&r->desc_lock);
		r->announce = 1;
		r->announce_state = b == r->primary ? BOARD_STREAMING :
		    BOARD_FALLBACK;
		while (!atomic_load(&r->stop)) {
			atomic_fetch_add(&r->stats.heartbeat, 1);
			if (b->ops->read(b, &r->sink, err, sizeof err) == -1) {
				log_warnx("board %s lost: %s", b->ops->name, err);
				pthread_mutex_lock(&r->desc_lock);
				snprintf(r->last_error, sizeof r->last_error,
				    "%s", err);
				pthread_mutex_unlock(&r->desc_lock);
				reader_set_state(r, BOARD_LOST);
				break;
			}
			reader_run_commands(r, 1);
		}
		b->ops->stop(b);
	}
	return NULL;
}

/* Run fallback when the board cannot be started at start-up. */
void
reader_set_fallback(struct reader *r, struct board *fallback)
{
	r->fallback = fallback;
}

/* Return the running board's counters. */
struct board_counters *
reader_counters(struct reader *r)
{
	struct board *b;

	pthread_mutex_lock(&r->desc_lock);
	b = r->board;
	pthread_mutex_unlock(&r->desc_lock);
	return &b->counters;
}

/* Loop → reader: queue a board command; -1 when full. */
int
reader_submit(struct reader *r, uint64_t client_id, const char *cmd)
{
	int rc = -1;

	pthread_mutex_lock(&r->cmd_lock);
	if (r->ncmds < READER_QUEUE) {
		struct reader_cmd *c = &r->cmds[r->ncmds++];
		c->client_id = client_id;
		c->ok = 0;
		snprintf(c->text, sizeof c->text, "%s", cmd);
		rc = 0;
	}
	pthread_mutex_unlock(&r->cmd_lock);
	return rc;
}

/* Return the eventfd that is readable when command results are ready. */
int
reader_results_fd(struct reader *r)
{
	return r->result_fd;
}

/* Loop: take one command result; 0 when there was none. */
int
reader_take_result(struct reader *r, uint64_t *client_id, int *ok, char *msg,
    size_t len)
{
	int got = 0;
	uint64_t v;

	pthread_mutex_lock(&r->cmd_lock);
	if (r->nresults > 0) {
		*client_id = r->results[0].client_id;
		*ok = r->results[0].ok;
		snprintf(msg, len, "%s", r->results[0].text);
		memmove(r->results, r->results + 1,
		    --r->nresults * sizeof *r->results);
		got = 1;
	} else
		while (read(r->result_fd, &v, sizeof v) == -1 &&
		    errno == EINTR)
			;
	pthread_mutex_unlock(&r->cmd_lock);
	return got;
}

/* Create a reader for board (taking ownership) feeding ring. */
struct reader *
reader_new(struct board *board, struct ring *ring)
{
	struct reader *r;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->evrec = calloc(1, record_size(SAMPLE_MAX_CHANNELS));
	if (r->evrec == NULL ||
	    (r->scratch = calloc(1, record_size(SAMPLE_MAX_CHANNELS))) ==
	    NULL) {
		free(r->evrec);
		free(r);
		return NULL;
	}
	r->board = r->primary = board;
	r->ring = ring;
	if ((r->result_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(r->scratch);
		free(r->evrec);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->cmd_lock, NULL);
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
	if (r->board != r->primary)
		r->board->ops->free(r->board);
	r->primary->ops->free(r->primary);
	if (r->fallback != NULL)
		r->fallback->ops->free(r->fallback);
	close(r->result_fd);
	pthread_mutex_destroy(&r->desc_lock);
	pthread_mutex_destroy(&r->cmd_lock);
	free(r->scratch);
	free(r->evrec);
	free(r);
}

/* Return the shared counters. */
struct reader_stats *
reader_stats(struct reader *r)
{
	return &r->stats;
}

/* Copy out why the board last failed ("" while it runs). */
void
reader_get_error(struct reader *r, char *buf, size_t len)
{
	pthread_mutex_lock(&r->desc_lock);
	snprintf(buf, len, "%s", r->last_error);
	pthread_mutex_unlock(&r->desc_lock);
}

/* Copy out the board's description. */
void
reader_get_desc(struct reader *r, struct board_desc *out)
{
	pthread_mutex_lock(&r->desc_lock);
	*out = r->desc;
	pthread_mutex_unlock(&r->desc_lock);
}
