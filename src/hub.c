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

#include <event2/bufferevent.h>

#include "client.h"
#include "command.h"
#include "group.h"
#include "history.h"
#ifdef HAVE_MQTT
#include "mqtt.h"
#endif
#include "hub.h"
#include "log.h"
#include "reader.h"
#include "ring.h"
#include "timeutil.h"

/*
 * Coalescing thresholds: round cost as a share of the round interval.
 * Measured with 1,000 TCP subscribers at 250 Hz (bench/eegd-bench): an
 * 8 ms interval costs about half a core with a last-subscriber p99 of
 * about 9 ms (a round then costs ~60 % of its 4 ms); 16 ms costs a third
 * of a core but nearly 20 ms.  0.75 lets the hub settle at 8 ms there;
 * the gap down to 0.25 keeps it from flapping.  Above 4 ms the interval
 * moves in 4 ms steps (8, 12, 16), not doublings.
 */
#define HUB_LOAD_HIGH 0.75
#define HUB_LOAD_LOW 0.25
#define HUB_COALESCE_STEP_US 4000
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

/* Fill a hello message describing the stream as client c sees it. */
void
hub_hello_msg(struct hub *h, const struct group *g, struct msg *ev,
    char *labels, size_t labelslen)
{
	unsigned n = g ? g->n : 1;
	double rate = (double)h->desc.rate / n;

	if (g != NULL)
		group_labels(g, h->desc.labels, labels, labelslen);
	else
		snprintf(labels, labelslen, "%s", h->desc.labels);
	encode_msg_init(ev, "hello");
	encode_add_str(ev, "version", PACKAGE_VERSION, 0);
	encode_add_u64(ev, "protocol", 1);
	encode_add_str(ev, "run", h->run, 0);
	encode_add_str(ev, "board", h->desc.name, 0);
	if (n == 1 || h->desc.rate % n == 0)
		encode_add_u64(ev, "rate", h->desc.rate / n);
	else
		encode_add_dbl(ev, "rate", rate);
	encode_add_u64(ev, "channels", g ? g->nsel : h->desc.channels);
	encode_add_list(ev, "labels", labels);
	encode_add_str(ev, "units", "uV", 0);
	encode_add_dbl(ev, "range", h->desc.range_uv);
	encode_add_u64(ev, "decimate", n);
	if (h->desc.firmware[0] != '\0')
		encode_add_str(ev, "firmware", h->desc.firmware, 0);
	encode_add_str(ev, "daisy", strcmp(h->desc.name, "cyton-daisy") == 0 ?
	    "yes" : "no", 0);
	if (h->board_state == BOARD_FALLBACK)
		encode_add_str(ev, "fallback", "synthetic", 0);
	reader_get_error(h->reader, h->board_error, sizeof h->board_error);
	if (h->board_error[0] != '\0')
		encode_add_str(ev, "error", h->board_error, 0);
}

/* Fill a status message. */
void
hub_status_msg(struct hub *h, struct msg *ev)
{
	struct reader_stats *rs = reader_stats(h->reader);
	struct board_counters *k = reader_counters(h->reader);
	uint64_t mhz;

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
	encode_add_u64(ev, "lost_board_loss", h->stats.lost[GAP_BOARD_LOSS]);
	encode_add_u64(ev, "lost_bad_packet", h->stats.lost[GAP_BAD_PACKET]);
	encode_add_u64(ev, "lost_board_lost", h->stats.lost[GAP_BOARD_LOST]);
	encode_add_u64(ev, "bytes_discarded",
	    atomic_load_explicit(&k->bytes_discarded, memory_order_relaxed));
	encode_add_u64(ev, "bad_packets",
	    atomic_load_explicit(&k->bad_packets, memory_order_relaxed));
	encode_add_u64(ev, "unpaired",
	    atomic_load_explicit(&k->unpaired, memory_order_relaxed));
	encode_add_u64(ev, "restarts",
	    atomic_load_explicit(&k->restarts, memory_order_relaxed));
	encode_add_u64(ev, "reconnects",
	    atomic_load_explicit(&k->reconnects, memory_order_relaxed));
	if ((mhz = atomic_load_explicit(&k->rate_mhz, memory_order_relaxed)))
		encode_add_dbl(ev, "rate_estimate", (double)mhz / 1000);
	if (h->desc.firmware[0] != '\0')
		encode_add_str(ev, "firmware", h->desc.firmware, 0);
	encode_add_str(ev, "daisy", strcmp(h->desc.name, "cyton-daisy") == 0 ?
	    "yes" : "no", 0);
	encode_add_u64(ev, "markers", h->stats.markers);
#ifdef HAVE_MQTT
	if (h->mqtt != NULL) {
		struct mqtt_stats ms;
		mqtt_get_stats(h->mqtt, &ms);
		encode_add_bool(ev, "mqtt_connected", ms.connected);
		encode_add_u64(ev, "mqtt_published", ms.published);
		encode_add_u64(ev, "mqtt_unpublished", ms.unpublished);
		encode_add_u64(ev, "mqtt_reconnects", ms.reconnects);
	}
#endif
	encode_add_u64(ev, "history_oldest", history_oldest(h->history));
	encode_add_u64(ev, "coalesce_us", h->coalesce_us);
	reader_get_error(h->reader, h->board_error, sizeof h->board_error);
	if (h->board_error[0] != '\0')
		encode_add_str(ev, "error", h->board_error, 0);
	encode_add_str(ev, "run", h->run, 0);
}

/* Put a message into this round of every group. */
static void
hub_batch_msg(struct hub *h, const struct msg *ev)
{
	struct group *g;

	TAILQ_FOREACH(g, &h->groups, entry)
		group_msg(g, ev);
}

/* Announce count samples from seq as lost for reason. */
static void
hub_gap(struct hub *h, uint64_t seq, uint64_t count, unsigned reason)
{
	struct msg ev;

	if (count == 0)
		return;
	h->stats.gaps++;
	history_gap(h->history, seq, count, reason);
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
#ifdef HAVE_MQTT
	if (h->mqtt != NULL) {
		mqtt_gap(h->mqtt, seq, count);
		mqtt_event(h->mqtt, &ev);
	}
#endif
}

/*
 * The board now has other channels or another rate (a Daisy was found, or
 * the fallback runs): clients of "all channels" follow, and every client
 * gets a new description.
 */
static void
hub_board_changed(struct hub *h, uint64_t old_all)
{
	struct client *c;

	TAILQ_FOREACH(c, &h->clients, entry) {
		if (c->dead)
			continue;
		if (c->group->mask == old_all || c->group->mask &
		    ~hub_all_channels(h)) {
			/* Same place in the stream, new view: catch up to it. */
			uint64_t at = c->live ? c->group->next_out : c->cursor;
			int paused = c->paused;
			if (hub_subscribe(h, c, hub_all_channels(h),
			    c->group->n) == 0) {
				c->cursor = group_align(c->group, at);
				c->live = 0;
				c->paused = paused;
			}
		}
		client_greet(c);
	}
}

/* Take one record from the ring into this round. */
static void
hub_record(struct hub *h, const struct record *rec, struct msg *board_ev,
    int *have_board_ev)
{
	struct group *g;
	struct msg ev;

	/* Anything the reader could not push shows as a jump in seq. */
	if (rec->type != REC_BOARD && rec->seq > h->next_seq)
		hub_gap(h, h->next_seq, rec->seq - h->next_seq,
		    GAP_RING_OVERFLOW);
	switch (rec->type) {
	case REC_SAMPLE:
		if (rec->seq < h->next_seq)
			return;	/* impossible: seq never goes back */
		history_put(h->history, rec);
		h->next_seq = rec->seq + 1;
		h->stats.delivered++;
		TAILQ_FOREACH(g, &h->groups, entry)
			group_sample(g, h->history, rec);
#ifdef HAVE_MQTT
		if (h->mqtt != NULL)
			mqtt_sample(h->mqtt, rec);
#endif
		break;
	case REC_GAP:
		hub_gap(h, rec->seq, rec->count, rec->reason);
		h->next_seq = rec->seq + rec->count;
		break;
	case REC_BOARD: {
		uint64_t old_all = hub_all_channels(h);
		struct board_desc old = h->desc;
		h->board_state = (int)rec->reason;
		reader_get_desc(h->reader, &h->desc);
		if (hub_all_channels(h) != old_all || h->desc.rate != old.rate ||
		    strcmp(h->desc.name, old.name) != 0 ||
		    strcmp(h->desc.firmware, old.firmware) != 0)
			hub_board_changed(h, old_all);
		encode_msg_init(&ev, "board");
		/* CSV: "# board lost board=... seq=..." */
		encode_add_str(&ev, "state",
		    sample_board_state_name(rec->reason), 1);
		encode_add_str(&ev, "board", h->desc.name, 0);
		encode_add_u64(&ev, "seq", rec->seq);
		if (h->desc.firmware[0] != '\0')
			encode_add_str(&ev, "firmware", h->desc.firmware, 0);
		hub_batch_msg(h, &ev);
#ifdef HAVE_MQTT
		if (h->mqtt != NULL)
			mqtt_event(h->mqtt, &ev);
#endif
		*board_ev = ev;
		*have_board_ev = 1;
		log_notice("board %s: %s", h->desc.name,
		    sample_board_state_name(rec->reason));
		break;
	}
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
		    h->coalesce_us < HUB_COALESCE_STEP_US ? h->coalesce_us * 2 :
		    h->coalesce_us + HUB_COALESCE_STEP_US;
		if (h->coalesce_us > max_us)
			h->coalesce_us = max_us;
		h->load = (HUB_LOAD_HIGH + HUB_LOAD_LOW) / 2;
		log_debug("coalescing: %u us", h->coalesce_us);
	} else if (h->load < HUB_LOAD_LOW && h->coalesce_us > 0) {
		h->coalesce_us = h->coalesce_us > 2 * HUB_COALESCE_STEP_US ?
		    h->coalesce_us - HUB_COALESCE_STEP_US : h->coalesce_us / 2;
		if (h->coalesce_us < HUB_COALESCE_MIN_US)
			h->coalesce_us = 0;
		h->load = (HUB_LOAD_HIGH + HUB_LOAD_LOW) / 2;
		log_debug("coalescing: %u us", h->coalesce_us);
	}
	if (h->coalesce_us > max_us)
		h->coalesce_us = max_us;
}

/* Send a not-live client what it is owed from the history. */
void
hub_catch_up(struct hub *h, struct client *c)
{
	struct group *g = c->group;
	struct evbuffer *out;
	size_t olen, budget = h->cfg.client_max_buffer / 2;

	if (c->live || c->paused || c->dead || c->closing)
		return;
	out = bufferevent_get_output(c->bev);
	olen = evbuffer_get_length(out);
	if (olen >= budget)
		return;	/* the write callback brings us back */
	if (c->cursor < g->next_out)
		group_replay(g, h->history, &c->cursor, g->next_out, c->format,
		    out, budget - olen);
	if (c->cursor == g->next_out)
		c->live = 1;
}

/* Drain the ring and fan out now. */
void
hub_drain(struct hub *h)
{
	struct client *c, *tmp;
	struct group *g, *gtmp;
	struct msg board_ev;
	int have_board_ev = 0, waiting = 0;
	int64_t t0;
	size_t n;
	uint64_t nrec = 0;

	/* Formats each group encodes this round: those of its live clients. */
	TAILQ_FOREACH(g, &h->groups, entry) {
		int used[FMT_N] = { 0 };
		TAILQ_FOREACH(c, &h->clients, entry)
			if (c->group == g && c->live && !c->paused && !c->dead)
				used[c->format] = 1;
		group_round_begin(g, used);
	}
	while ((n = ring_peek(h->ring)) > 0) {
		for (size_t i = 0; i < n; i++)
			hub_record(h, ring_item(h->ring, i), &board_ev,
			    &have_board_ev);
		nrec += n;
		if (ring_release(h->ring, n) == 0)
			break;
	}
	if (nrec == 0)
		return;
	t0 = timeutil_monotonic_us();
	TAILQ_FOREACH(g, &h->groups, entry)
		group_round_end(g);
	TAILQ_FOREACH_SAFE(c, &h->clients, entry, tmp) {
		g = c->group;
		if (c->dead || c->closing || c->paused)
			continue;
		if (!c->live) {
			/* Board news reaches a catching-up client at once. */
			if (have_board_ev)
				client_send_msg(c, &board_ev);
			hub_catch_up(h, c);
			continue;
		}
		struct evbuffer *b = g->buf[c->format];
		size_t len = evbuffer_get_length(b);
		client_deliver(c, len ? (const char *)evbuffer_pullup(b, -1) :
		    NULL, len, &g->sh[c->format], g->round_first, g->next_out,
		    g->round_outputs, t0, h->coalesce_us);
		if (c->pending != NULL && evbuffer_get_length(c->pending) > 0)
			waiting = 1;
	}
	TAILQ_FOREACH_SAFE(g, &h->groups, entry, gtmp)
		for (int f = 0; f < FMT_N; f++)
			if (g->sh[f] != NULL) {
				client_shared_unref(g->sh[f]);
				g->sh[f] = NULL;
			}
	hub_adapt(h, t0, timeutil_monotonic_us());
	/* Rounds drive coalesced writes; the timer covers quiet streams. */
	if (waiting && !evtimer_pending(h->flush_ev, NULL)) {
		struct timeval tv = { 0, h->coalesce_us ? h->coalesce_us : 1000 };
		evtimer_add(h->flush_ev, &tv);
	}
}

/* Return the mask of every channel of the board. */
uint64_t
hub_all_channels(const struct hub *h)
{
	unsigned nch = h->desc.channels;

	return nch >= 64 ? UINT64_MAX : (1ULL << nch) - 1;
}

/* Move a client to the group for (mask, n); -1 on allocation failure. */
int
hub_subscribe(struct hub *h, struct client *c, uint64_t mask, unsigned n)
{
	struct group *g;

	TAILQ_FOREACH(g, &h->groups, entry)
		if (g->mask == mask && g->n == n)
			break;
	if (g == NULL) {
		if ((g = group_new(mask, n, h->next_seq)) == NULL)
			return -1;
		TAILQ_INSERT_TAIL(&h->groups, g, entry);
	}
	g->refs++;
	hub_unsubscribe(h, c);
	c->group = g;
	/* The new view starts where its group stands now. */
	c->cursor = g->next_out;
	c->live = 1;
	return 0;
}

/* Release a client's group. */
void
hub_unsubscribe(struct hub *h, struct client *c)
{
	struct group *g = c->group;

	if (g == NULL)
		return;
	c->group = NULL;
	if (--g->refs == 0) {
		TAILQ_REMOVE(&h->groups, g, entry);
		group_free(g);
	}
}

/* Stamp a marker now and broadcast it to every client. */
void
hub_marker(struct hub *h, const char *text, size_t len)
{
	char buf[COMMAND_MAX_MARKER + 1];
	struct client *c;
	struct msg ev;
	uint64_t seq = h->next_seq ? h->next_seq - 1 : 0;

	if (len > COMMAND_MAX_MARKER)
		len = COMMAND_MAX_MARKER;
	memcpy(buf, text, len);
	buf[len] = '\0';
	encode_msg_init(&ev, "marker");
	encode_add_u64(&ev, "seq", seq);
	encode_add_time(&ev, "time", timeutil_realtime_us());
	encode_add_str(&ev, "text", buf, 0);
	h->stats.markers++;
	log_info("marker at seq %llu: %s", (unsigned long long)seq, buf);
	TAILQ_FOREACH(c, &h->clients, entry)
		client_send_msg(c, &ev);
#ifdef HAVE_MQTT
	if (h->mqtt != NULL)
		mqtt_event(h->mqtt, &ev);
#endif
}

/* The reader woke us: take everything queued. */
static void
hub_ring_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;

	ring_clear_wakeup(h->ring);
	hub_drain(h);
}

/* No round came in time: write what is due for coalescing clients. */
static void
hub_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	struct client *c, *tmp;
	int64_t now = timeutil_monotonic_us();
	int waiting = 0;

	TAILQ_FOREACH_SAFE(c, &h->clients, entry, tmp)
		waiting |= client_flush_due(c, now, h->coalesce_us);
	if (waiting) {
		struct timeval tv = { 0, h->coalesce_us ? h->coalesce_us / 4 :
		    1000 };
		evtimer_add(h->flush_ev, &tv);
	}
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
		hub_unsubscribe(h, c);
		client_free(c);
	}
}

/* Board command results: reply to the clients that asked. */
static void
hub_result_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hub *h = arg;
	struct client *c;
	uint64_t id;
	char msg[64];
	int ok;

	while (reader_take_result(h->reader, &id, &ok, msg, sizeof msg)) {
		TAILQ_FOREACH(c, &h->clients, entry)
			if (c->id == id)
				break;
		if (c == NULL)
			continue;	/* gone meanwhile */
		client_board_result(c, ok, msg);
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
    const struct config *cfg, unsigned max_rate)
{
	struct hub *h;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	h->base = base;
	h->ring = ring;
	h->reader = reader;
	h->cfg = *cfg;
	TAILQ_INIT(&h->clients);
	TAILQ_INIT(&h->groups);
	h->run_id = hub_random_id();
	snprintf(h->run, sizeof h->run, "%016llx",
	    (unsigned long long)h->run_id);
	reader_get_desc(reader, &h->desc);
	h->board_state = BOARD_RETRYING;
	h->start_us = h->last_round_us = timeutil_monotonic_us();
	/* The history's slots hold as many channels as the ring's. */
	h->history = history_new((size_t)cfg->history_seconds * max_rate,
	    (unsigned)((ring_item_size(ring) - sizeof(struct record)) /
	    sizeof(float)));
	if (h->history == NULL)
		goto fail;
	h->ring_ev = event_new(base, ring_fd(ring), EV_READ | EV_PERSIST,
	    hub_ring_cb, h);
	h->flush_ev = evtimer_new(base, hub_flush_cb, h);
	h->reap_ev = event_new(base, -1, 0, hub_reap_cb, h);
	h->result_ev = event_new(base, reader_results_fd(reader),
	    EV_READ | EV_PERSIST, hub_result_cb, h);
	if (h->ring_ev == NULL || h->flush_ev == NULL || h->reap_ev == NULL ||
	    h->result_ev == NULL || event_add(h->ring_ev, NULL) == -1 ||
	    event_add(h->result_ev, NULL) == -1)
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
		hub_unsubscribe(h, c);
		client_free(c);
	}
	if (h->ring_ev != NULL)
		event_free(h->ring_ev);
	if (h->flush_ev != NULL)
		event_free(h->flush_ev);
	if (h->reap_ev != NULL)
		event_free(h->reap_ev);
	if (h->result_ev != NULL)
		event_free(h->result_ev);
	history_free(h->history);
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
	if (hub_subscribe(h, c, hub_all_channels(h), 1) == -1) {
		log_warn("client %s", peer);
		client_free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&h->clients, c, entry);
	h->nclients++;
	c->id = ++h->stats.accepted;
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
