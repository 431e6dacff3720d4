/* hub.c: drains the ring, announces gaps, encodes once, fans out. */
#include "autoconfig.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "hub.h"
#include "log.h"
#include "reader.h"
#include "ring.h"
#include "timeutil.h"

/* Coalescing thresholds: round cost as a share of the round interval. */
#define HUB_LOAD_HIGH 0.5
#define HUB_LOAD_LOW 0.2
#define HUB_COALESCE_MIN_US 1000

/* Return a random 64-bit run id. */
static uint64_t
hub_random_id(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd == -1 || read(fd, &v, sizeof v) != sizeof v)
		v = (uint64_t)timeutil_realtime_us() ^
		    ((uint64_t)getpid() << 32);
	if (fd != -1)
		close(fd);
	return v;
}

/* Fill a hello message (the stream description). */
void
hub_hello_msg(struct hub *h, struct msg *ev)
{
	encode_msg_init(ev, "hello");
	encode_add_str(ev, "version", PACKAGE_VERSION, 0);
	encode_add_u64(ev, "protocol", 1);
	encode_add_str(ev, "run", h->run, 0);
	encode_add_str(ev, "board", h->desc.name, 0);
	encode_add_u64(ev, "rate", h->desc.rate);
	encode_add_u64(ev, "channels", h->desc.channels);
	encode_add_list(ev, "labels", h->desc.labels);
	encode_add_str(ev, "units", "uV", 0);
	if (h->desc.firmware[0] != '\0')
		encode_add_str(ev, "firmware", h->desc.firmware, 0);
}

/* Fill a status message. */
void
hub_status_msg(struct hub *h, struct msg *ev)
{
	struct reader_stats *rs = reader_stats(h->reader);

	encode_msg_init(ev, "status");
	encode_add_str(ev, "board", h->desc.name, 0);
	encode_add_str(ev, "state", sample_board_state_name(h->board_state), 0);
	encode_add_u64(ev, "rate", h->desc.rate);
	encode_add_u64(ev, "channels", h->desc.channels);
	encode_add_dbl(ev, "uptime",
	    (double)(timeutil_monotonic_us() - h->start_us) / 1e6);
	encode_add_u64(ev, "clients", h->nclients);
	encode_add_u64(ev, "produced", atomic_load(&rs->produced));
	encode_add_u64(ev, "delivered", h->stats.delivered);
	encode_add_u64(ev, "gaps", h->stats.gaps);
	encode_add_u64(ev, "dropped_ring_overflow",
	    h->stats.lost[GAP_RING_OVERFLOW]);
	encode_add_u64(ev, "dropped_slow_client",
	    h->stats.lost[GAP_SLOW_CLIENT]);
	encode_add_u64(ev, "coalesce_us", h->coalesce_us);
	encode_add_str(ev, "run", h->run, 0);
}

/* Encode a message into the batch buffer of every format. */
static void
hub_batch_msg(struct hub *h, const struct msg *ev)
{
	for (int f = 0; f < FMT_N; f++)
		encode_msg(h->batch[f], f, ev);
}

/* Announce count samples from seq as lost for reason. */
static void
hub_gap(struct hub *h, uint64_t seq, uint64_t count, unsigned reason)
{
	struct msg ev;

	if (count == 0)
		return;
	h->stats.gaps++;
	if (reason < GAP_NREASONS)
		h->stats.lost[reason] += count;
	log_info("gap: %llu samples from seq %llu (%s)",
	    (unsigned long long)count, (unsigned long long)seq,
	    sample_gap_reason_name(reason));
	encode_msg_init(&ev, "gap");
	encode_add_u64(&ev, "seq", seq);
	encode_add_u64(&ev, "count", count);
	encode_add_str(&ev, "reason", sample_gap_reason_name(reason), 0);
	hub_batch_msg(h, &ev);
}

/* Take one record from the ring into this round's batch. */
static void
hub_record(struct hub *h, const struct record *rec, const int *used,
    uint64_t *nsamples)
{
	struct msg ev;

	/* Anything the reader could not push shows as a jump in seq. */
	if (rec->type != REC_BOARD && rec->seq > h->next_seq)
		hub_gap(h, h->next_seq, rec->seq - h->next_seq,
		    GAP_RING_OVERFLOW);
	switch (rec->type) {
	case REC_SAMPLE:
		if (rec->seq < h->next_seq)
			return;	/* impossible: seq never goes back */
		for (int f = 0; f < FMT_N; f++)
			if (used[f])
				encode_sample(h->batch[f], f, rec);
		h->next_seq = rec->seq + 1;
		h->stats.delivered++;
		(*nsamples)++;
		break;
	case REC_GAP:
		hub_gap(h, rec->seq, rec->count, rec->reason);
		h->next_seq = rec->seq + rec->count;
		break;
	case REC_BOARD:
		h->board_state = (int)rec->reason;
		reader_get_desc(h->reader, &h->desc);
		encode_msg_init(&ev, "board");
		encode_add_str(&ev, "state",
		    sample_board_state_name(rec->reason), 0);
		encode_add_str(&ev, "board", h->desc.name, 0);
		encode_add_u64(&ev, "seq", rec->seq);
		hub_batch_msg(h, &ev);
		log_notice("board %s: %s", h->desc.name,
		    sample_board_state_name(rec->reason));
		break;
	}
}

/* Adapt the coalescing delay to the cost of the round just done. */
static void
hub_adapt(struct hub *h, int64_t round_start, int64_t round_end)
{
	int64_t interval = round_start - h->last_round_us;
	double cost = (double)(round_end - round_start), l;
	unsigned max_us = h->cfg.max_coalesce_ms * 1000;

	h->last_round_us = round_start;
	if (interval <= 0)
		interval = 1;
	l = cost / (double)interval;
	h->load = 0.8 * h->load + 0.2 * (l > 4 ? 4 : l);
	if (h->load > HUB_LOAD_HIGH && h->coalesce_us < max_us) {
		h->coalesce_us = h->coalesce_us == 0 ? HUB_COALESCE_MIN_US :
		    h->coalesce_us * 2;
		if (h->coalesce_us > max_us)
			h->coalesce_us = max_us;
		h->load = (HUB_LOAD_HIGH + HUB_LOAD_LOW) / 2;
		log_debug("coalescing: %u us", h->coalesce_us);
	} else if (h->load < HUB_LOAD_LOW && h->coalesce_us > 0) {
		h->coalesce_us /= 2;
		if (h->coalesce_us < HUB_COALESCE_MIN_US)
			h->coalesce_us = 0;
		h->load = (HUB_LOAD_HIGH + HUB_LOAD_LOW) / 2;
		log_debug("coalescing: %u us", h->coalesce_us);
	}
	if (h->coalesce_us > max_us)
		h->coalesce_us = max_us;
}

/* Drain the ring and fan out now. */
void
hub_drain(struct hub *h)
{
	struct client *c, *tmp;
	int used[FMT_N] = { 0 };
	uint64_t first = h->next_seq, nsamples = 0;
	struct shared *sh[FMT_N] = { NULL };
	const char *data[FMT_N];
	size_t len[FMT_N];
	int64_t t0;
	size_t n;

	TAILQ_FOREACH(c, &h->clients, entry)
		if (!c->dead)
			used[c->format] = 1;
	for (int f = 0; f < FMT_N; f++)
		evbuffer_drain(h->batch[f], evbuffer_get_length(h->batch[f]));
	while ((n = ring_peek(h->ring)) > 0) {
		for (size_t i = 0; i < n; i++)
			hub_record(h, ring_item(h->ring, i), used, &nsamples);
		if (ring_release(h->ring, n) == 0)
			break;
	}
	if (first == h->next_seq && nsamples == 0 &&
	    evbuffer_get_length(h->batch[FMT_CSV]) == 0)
		return;
	t0 = timeutil_monotonic_us();
	for (int f = 0; f < FMT_N; f++) {
		len[f] = evbuffer_get_length(h->batch[f]);
		data[f] = len[f] ? (const char *)evbuffer_pullup(h->batch[f],
		    -1) : NULL;
	}
	TAILQ_FOREACH_SAFE(c, &h->clients, entry, tmp)
		client_deliver(c, data[c->format], len[c->format],
		    &sh[c->format], first, h->next_seq, nsamples);
	for (int f = 0; f < FMT_N; f++)
		if (sh[f] != NULL)
			client_shared_unref(sh[f]);
	if (nsamples > 0)
		hub_adapt(h, t0, timeutil_monotonic_us());
}

/* The reader woke us: drain now, or after the coalescing delay. */
static void
hub_ring_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	struct timeval tv;

	ring_clear_wakeup(h->ring);
	if (h->coalesce_us == 0) {
		hub_drain(h);
		return;
	}
	if (!evtimer_pending(h->flush_ev, NULL)) {
		tv.tv_sec = 0;
		tv.tv_usec = h->coalesce_us;
		evtimer_add(h->flush_ev, &tv);
	}
}

/* The coalescing delay ran out. */
static void
hub_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	hub_drain(arg);
}

/* Free every client marked dead. */
static void
hub_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	struct client *c, *tmp;

	TAILQ_FOREACH_SAFE(c, &h->clients, entry, tmp) {
		if (!c->dead)
			continue;
		TAILQ_REMOVE(&h->clients, c, entry);
		h->nclients--;
		log_debug("client %s: closed", c->peer);
		client_free(c);
	}
}

/* Mark a client closed and schedule its free outside callbacks. */
void
hub_client_closed(struct hub *h, struct client *c)
{
	event_active(h->reap_ev, EV_TIMEOUT, 0);
}

/* Create the hub on base, draining ring fed by reader. */
struct hub *
hub_new(struct event_base *base, struct ring *ring, struct reader *reader,
    const struct config *cfg)
{
	struct hub *h;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	h->base = base;
	h->ring = ring;
	h->reader = reader;
	h->cfg = *cfg;
	TAILQ_INIT(&h->clients);
	h->run_id = hub_random_id();
	snprintf(h->run, sizeof h->run, "%016llx",
	    (unsigned long long)h->run_id);
	reader_get_desc(reader, &h->desc);
	h->board_state = BOARD_RETRYING;
	h->start_us = h->last_round_us = timeutil_monotonic_us();
	for (int f = 0; f < FMT_N; f++)
		if ((h->batch[f] = evbuffer_new()) == NULL)
			goto fail;
	h->ring_ev = event_new(base, ring_fd(ring), EV_READ | EV_PERSIST,
	    hub_ring_cb, h);
	h->flush_ev = evtimer_new(base, hub_flush_cb, h);
	h->reap_ev = event_new(base, -1, 0, hub_reap_cb, h);
	if (h->ring_ev == NULL || h->flush_ev == NULL || h->reap_ev == NULL ||
	    event_add(h->ring_ev, NULL) == -1)
		goto fail;
	return h;
fail:
	hub_free(h);
	return NULL;
}

/* Close every client and free the hub. */
void
hub_free(struct hub *h)
{
	struct client *c, *tmp;

	if (h == NULL)
		return;
	TAILQ_FOREACH_SAFE(c, &h->clients, entry, tmp) {
		TAILQ_REMOVE(&h->clients, c, entry);
		client_free(c);
	}
	if (h->ring_ev != NULL)
		event_free(h->ring_ev);
	if (h->flush_ev != NULL)
		event_free(h->flush_ev);
	if (h->reap_ev != NULL)
		event_free(h->reap_ev);
	for (int f = 0; f < FMT_N; f++)
		if (h->batch[f] != NULL)
			evbuffer_free(h->batch[f]);
	free(h);
}

/* Apply a reloaded config (log level, caps, policy, limits). */
void
hub_set_config(struct hub *h, const struct config *cfg)
{
	h->cfg = *cfg;
	if (h->coalesce_us > cfg->max_coalesce_ms * 1000)
		h->coalesce_us = cfg->max_coalesce_ms * 1000;
}

/* Take a new connection; kind is LISTEN_UNIX or LISTEN_TCP. */
void
hub_accept(struct hub *h, int fd, int kind, const char *peer)
{
	struct client *c;

	if (h->nclients >= h->cfg.max_clients) {
		char line[128];
		int n = snprintf(line, sizeof line,
		    "# error too many clients (max_clients=%u)\n",
		    h->cfg.max_clients);
		h->stats.refused++;
		log_info("refused %s: max_clients %u reached", peer,
		    h->cfg.max_clients);
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	if ((c = client_new(h, fd, kind, peer)) == NULL) {
		log_warn("client %s", peer);
		return;
	}
	TAILQ_INSERT_TAIL(&h->clients, c, entry);
	h->nclients++;
	h->stats.accepted++;
	log_debug("client %s: connected", peer);
	client_greet(c);
}

/* Stop reading from clients and start flushing them for shutdown. */
void
hub_shutdown_clients(struct hub *h)
{
	struct client *c, *tmp;

	TAILQ_FOREACH_SAFE(c, &h->clients, entry, tmp)
		client_finish(c);
}

/* Return the number of connected clients. */
unsigned
hub_nclients(const struct hub *h)
{
	return h->nclients;
}
