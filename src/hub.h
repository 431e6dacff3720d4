/*
 * hub.h: the event loop's side of the pipeline.
 *
 * The hub drains the ring when the reader wakes it (or when the coalescing
 * timer fires), keeps the history window, turns sequence jumps into gap
 * notices, encodes each round once per group (channel subset and
 * decimation) and format in use, and hands the same bytes to every live
 * client of that group and format.  A client that is not live (it asked
 * for `since` or `history`) catches up from the history window, encoded
 * for it alone, then joins its group's shared bytes.  The hub owns the
 * client and group lists.  Everything here runs on the loop.
 *
 * Adaptive coalescing: the hub times each fan-out round.  While a round
 * costs less than a quarter of the time between rounds, every batch goes
 * out to every client at once.  When it costs more than 75 %, the hub sets a
 * coalescing interval (1, 2, 4, 8, 12, 16 ms ... up to max_coalesce_ms, and
 * back down as the cost falls): each client then writes at most once per
 * interval, everything pending in one write, and the clients' write times
 * are spread over the interval (each has its own phase), so a round
 * serves only the clients that are due and no client waits longer than
 * the interval plus its share of a round.  Pending bytes are references
 * to the shared, once-encoded blocks, never copies.
 */
#ifndef EEGD_HUB_H
#define EEGD_HUB_H

#include <stdint.h>
#include <sys/queue.h>

/* glibc's sys/queue.h lacks the BSD _SAFE iterator. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                      \
	for ((var) = TAILQ_FIRST(head);                                 \
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);      \
	    (var) = (tvar))
#endif

#include "board.h"
#include "config.h"
#include "encode.h"
#include "sample.h"

struct event_base;
struct ring;
struct reader;
struct client;
struct event;
struct evbuffer;
struct group;
struct history;
struct msg;

/* Totals the hub keeps for status. */
struct hub_stats {
	uint64_t delivered;		/* samples taken from the ring */
	uint64_t gaps;			/* gap notices broadcast */
	uint64_t lost[GAP_NREASONS];	/* samples per gap reason */
	uint64_t accepted;		/* connections accepted */
	uint64_t refused;		/* connections refused (max_clients) */
	uint64_t markers;		/* markers broadcast */
};

#define HUB_ROUND_EVENTS 16

/* The hub. */
struct hub {
	struct event_base *base;
	struct ring *ring;
	struct reader *reader;
	struct config cfg;		/* the loop's copy, replaced on reload */
	TAILQ_HEAD(, client) clients;
	TAILQ_HEAD(, group) groups;
	unsigned nclients;
	struct history *history;
	struct event *ring_ev;		/* the ring's eventfd is readable */
	struct event *flush_ev;		/* coalescing timer */
	struct event *reap_ev;		/* frees closed clients */
	struct event *result_ev;	/* board command results are ready */
	uint64_t next_seq;		/* the seq the hub expects next */
	uint64_t run_id;
	char run[17];			/* run_id in hex */
	struct board_desc desc;		/* the board as last reported */
	char board_error[256];		/* scratch for hello/status */
	int board_state;		/* enum board_state */
	int64_t start_us;		/* CLOCK_MONOTONIC at start */
	unsigned coalesce_us;		/* current coalescing delay */
	int64_t last_round_us;		/* start of the last fan-out round */
	double load;			/* EWMA of round cost / round interval */
	struct hub_stats stats;
	struct mqtt *mqtt;		/* the broker bridge, or NULL */
};

/* Create the hub on base, draining ring fed by reader. */
struct hub *hub_new(struct event_base *base, struct ring *ring,
    struct reader *reader, const struct config *cfg, unsigned max_rate);
/* Close every client and free the hub. */
void hub_free(struct hub *h);
/* Apply a reloaded config (log level, caps, policy, limits). */
void hub_set_config(struct hub *h, const struct config *cfg);
/* Take a new connection; kind is LISTEN_UNIX or LISTEN_TCP. */
void hub_accept(struct hub *h, int fd, int kind, const char *peer);
/* Drain the ring and fan out now. */
void hub_drain(struct hub *h);
/* Stop reading from clients and start flushing them for shutdown. */
void hub_shutdown_clients(struct hub *h);
/* Return the number of connected clients. */
unsigned hub_nclients(const struct hub *h);
/* Fill a hello message for group g's view (NULL: the whole stream). */
void hub_hello_msg(struct hub *h, const struct group *g, struct msg *ev,
    char *labels, size_t labelslen);
/* Fill a status message. */
void hub_status_msg(struct hub *h, struct msg *ev);
/* Mark a client closed and schedule its free outside callbacks. */
void hub_client_closed(struct hub *h, struct client *c);
/* Move a client to the group for (mask, n); -1 on allocation failure. */
int hub_subscribe(struct hub *h, struct client *c, uint64_t mask, unsigned n);
/* Release a client's group. */
void hub_unsubscribe(struct hub *h, struct client *c);
/* Send a not-live client what it is owed from the history. */
void hub_catch_up(struct hub *h, struct client *c);
/* Stamp a marker now and broadcast it to every client. */
void hub_marker(struct hub *h, const char *text, size_t len);
/* Return the mask of every channel of the board. */
uint64_t hub_all_channels(const struct hub *h);

#endif
