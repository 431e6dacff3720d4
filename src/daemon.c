/*
 * daemon.c: the daemon's lifecycle.
 *
 * Start-up: config → event base → ring → board and reader → hub →
 * listeners → signals → start the reader → loop.
 * Shutdown (SIGTERM/SIGINT): stop accepting, stop and join the reader,
 * deliver what is left in the ring, flush the clients for at most
 * DAEMON_FLUSH_MS, then free everything in reverse order.
 */
#include "autoconfig.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "board.h"
#include "board_cyton.h"
#include "board_synthetic.h"
#include "daemon.h"
#include "hub.h"
#include "listen.h"
#include "command.h"
#include "encode.h"
#include "log.h"
#ifdef HAVE_MQTT
#include "mqtt.h"
#endif
#include "notify.h"
#include "reader.h"
#include "ring.h"

/* How long shutdown waits for clients to take their last bytes. */
#define DAEMON_FLUSH_MS 500
/* The ring holds this many seconds of samples (at least RING_MIN). */
#define DAEMON_RING_SECONDS 2
#define DAEMON_RING_MIN 4096
/* Descriptors kept for everything but clients (listeners, board, ...). */
#define DAEMON_FD_RESERVE 32

/* Everything the daemon owns, in start-up order. */
struct daemon {
	const struct daemon_opts *opts;
	struct config cfg;
	struct event_base *base;
	struct ring *ring;
	struct reader *reader;
	struct hub *hub;
	struct listeners *ls;
	struct notify *notify;
	struct event *ev_tick;		/* once a second: MQTT retained state */
	struct event *ev_term, *ev_int, *ev_hup;
	struct event *ev_flush;		/* shutdown: polls for clients gone */
	int64_t flush_deadline_ms;
	int stopping;
};

/* Make the board the config asks for. */
static struct board *
daemon_board_new(const struct config *cfg, char *err, size_t errlen)
{
	struct board *b = NULL;

	if (strcmp(cfg->board_type, "synthetic") == 0)
		b = board_synthetic_new(cfg->rate, cfg->channels, cfg->seed);
	else if (strcmp(cfg->board_type, "cyton") == 0)
		b = board_cyton_new(cfg->device, cfg->gain);
	else {
		snprintf(err, errlen, "unknown board type '%s'", cfg->board_type);
		return NULL;
	}
	if (b == NULL)
		snprintf(err, errlen, "board %s: %s", cfg->board_type,
		    strerror(errno));
	return b;
}

/*
 * Raise the soft descriptor limit to the hard one, and warn when
 * max_clients cannot fit: the extra clients would wait in the backlog
 * (accept backs off) instead of getting the refusal line.
 */
static void
daemon_raise_nofile(const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)cfg->max_clients + DAEMON_FD_RESERVE > rl.rlim_cur)
		log_warnx("max_clients %u does not fit the descriptor limit "
		    "%llu (with %d in reserve): past %llu clients, new ones "
		    "wait instead of being refused", cfg->max_clients,
		    (unsigned long long)rl.rlim_cur, DAEMON_FD_RESERVE,
		    (unsigned long long)(rl.rlim_cur > DAEMON_FD_RESERVE ?
		    rl.rlim_cur - DAEMON_FD_RESERVE : 0));
}

/* Shutdown: leave the loop once every client is gone or time is up. */
static void
daemon_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, 20 * 1000 };

	if (hub_nclients(d->hub) == 0 || (d->flush_deadline_ms -= 20) <= 0) {
		event_base_loopbreak(d->base);
		return;
	}
	evtimer_add(d->ev_flush, &tv);
}

/* SIGTERM or SIGINT: begin the shutdown sequence. */
static void
daemon_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	if (d->stopping) {
		log_notice("second signal: exiting now");
		event_base_loopbreak(d->base);
		return;
	}
	d->stopping = 1;
	log_notice("signal %d: shutting down", (int)sig);
	notify_stopping(d->notify);
	listen_close(d->ls);
	d->ls = NULL;
	reader_stop(d->reader);
	hub_drain(d->hub);
	hub_shutdown_clients(d->hub);
	d->flush_deadline_ms = DAEMON_FLUSH_MS;
	daemon_flush_cb(-1, 0, d);
}

/* SIGHUP: reload the config file; keep the clients. */
static void
daemon_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct config cfg;
	char err[512];

	notify_reloading(d->notify);
	if (config_load(&cfg, d->opts->config_path, d->opts->config_must_exist,
	    d->opts->ov, d->opts->nov, err, sizeof err) == -1) {
		log_errx("reload failed, keeping the old config: %s", err);
		notify_ready(d->notify);
		return;
	}
	/*
	 * Only these take effect on reload; for everything else the running
	 * values stay, and a change is reported each time.
	 */
	d->cfg.log_level = cfg.log_level;
	d->cfg.max_clients = cfg.max_clients;
	d->cfg.client_max_buffer = cfg.client_max_buffer;
	d->cfg.slow_client = cfg.slow_client;
	d->cfg.max_coalesce_ms = cfg.max_coalesce_ms;
	d->cfg.board_commands_tcp = cfg.board_commands_tcp;
	if (memcmp(&cfg, &d->cfg, sizeof cfg) != 0)
		log_notice("reload: changes to listen, history_seconds, [board] "
		    "(but board_commands_tcp) and [mqtt] need a restart");
	log_set_level(d->cfg.log_level + d->opts->verbose);
	hub_set_config(d->hub, &d->cfg);
	log_notice("reloaded %s", d->opts->config_path);
	notify_ready(d->notify);
}

/* Build the one-line STATUS text for systemd. */
static void
daemon_status_text(void *arg, char *buf, size_t len)
{
	struct daemon *d = arg;
	struct hub *h = d->hub;
	uint64_t lost = 0;

	for (int i = 0; i < GAP_NREASONS; i++)
		if (i != GAP_SLOW_CLIENT)
			lost += h->stats.lost[i];
	snprintf(buf, len, "board %s: %s, %u Hz, %u clients, %llu samples "
	    "lost, %llu slow-client drops", h->desc.name,
	    sample_board_state_name(h->board_state), h->desc.rate,
	    h->nclients, (unsigned long long)lost,
	    (unsigned long long)h->stats.lost[GAP_SLOW_CLIENT]);
}

#ifdef HAVE_MQTT
/* A marker arrived through the broker: check it like the command. */
static void
daemon_mqtt_marker(void *arg, const char *text, size_t len)
{
	struct daemon *d = arg;
	char err[128];

	if (command_check_marker(text, len, err, sizeof err) == -1) {
		log_warnx("mqtt: ignoring a marker: %s", err);
		return;
	}
	hub_marker(d->hub, text, len);
}

/* Once a second: give the bridge the current hello and status. */
static void
daemon_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct evbuffer *tmp;
	char labels[sizeof d->hub->desc.labels], status[256], hello[4096];
	struct msg ev;
	size_t n;

	if (d->hub->mqtt == NULL || (tmp = evbuffer_new()) == NULL)
		return;
	hub_hello_msg(d->hub, NULL, &ev, labels, sizeof labels);
	encode_msg(tmp, FMT_JSON, &ev);
	n = evbuffer_remove(tmp, hello, sizeof hello - 1);
	hello[n > 0 ? n - 1 : 0] = '\0';	/* drop the newline */
	evbuffer_free(tmp);
	daemon_status_text(d, status, sizeof status);
	mqtt_set_retained(d->hub->mqtt, hello, status);
}
#endif

/* Free whatever was set up, in reverse order. */
static void
daemon_free(struct daemon *d)
{
	notify_free(d->notify);
	listen_close(d->ls);
	if (d->reader != NULL)
		reader_stop(d->reader);
#ifdef HAVE_MQTT
	if (d->hub != NULL && d->hub->mqtt != NULL) {
		mqtt_free(d->hub->mqtt);
		d->hub->mqtt = NULL;
	}
#endif
	if (d->ev_tick != NULL)
		event_free(d->ev_tick);
	hub_free(d->hub);
	reader_free(d->reader);
	ring_free(d->ring);
	if (d->ev_term != NULL)
		event_free(d->ev_term);
	if (d->ev_int != NULL)
		event_free(d->ev_int);
	if (d->ev_hup != NULL)
		event_free(d->ev_hup);
	if (d->ev_flush != NULL)
		event_free(d->ev_flush);
	if (d->base != NULL)
		event_base_free(d->base);
	libevent_global_shutdown();
}

/* Run until SIGTERM/SIGINT; returns the exit status. */
int
daemon_run(const struct daemon_opts *opts)
{
	struct daemon d;
	struct board *board, *fallback = NULL;
	char err[512];
	unsigned nch, rate;
	size_t cap;

	memset(&d, 0, sizeof d);
	d.opts = opts;
	if (config_load(&d.cfg, opts->config_path, opts->config_must_exist,
	    opts->ov, opts->nov, err, sizeof err) == -1) {
		log_errx("%s", err);
		return 78;	/* EX_CONFIG */
	}
	log_set_level(d.cfg.log_level + opts->verbose);
	signal(SIGPIPE, SIG_IGN);
	daemon_raise_nofile(&d.cfg);

	if ((d.base = event_base_new()) == NULL) {
		log_errx("cannot create the event base");
		goto fail;
	}
	if ((board = daemon_board_new(&d.cfg, err, sizeof err)) == NULL) {
		log_errx("%s", err);
		goto fail;
	}
	if (d.cfg.fallback_synthetic && strcmp(d.cfg.board_type, "synthetic"))
		fallback = board_synthetic_new(d.cfg.rate, d.cfg.channels,
		    d.cfg.seed);
	/* Ring slots fit the most channels either board can have. */
	nch = board->desc.max_channels;
	rate = board->desc.rate;
	if (fallback != NULL) {
		if (fallback->desc.max_channels > nch)
			nch = fallback->desc.max_channels;
		if (fallback->desc.rate > rate)
			rate = fallback->desc.rate;
	}
	cap = (size_t)rate * DAEMON_RING_SECONDS;
	if (cap < DAEMON_RING_MIN)
		cap = DAEMON_RING_MIN;
	d.ring = ring_new(cap, record_size(nch));
	if (d.ring == NULL || (d.reader = reader_new(board, d.ring)) == NULL) {
		log_warn("cannot create the ring");
		board->ops->free(board);
		if (fallback != NULL)
			fallback->ops->free(fallback);
		goto fail;
	}
	if (fallback != NULL)
		reader_set_fallback(d.reader, fallback);
	if ((d.hub = hub_new(d.base, d.ring, d.reader, &d.cfg, rate)) == NULL) {
		log_errx("cannot create the hub");
		goto fail;
	}
#ifdef HAVE_MQTT
	if (d.cfg.mqtt.enabled) {
		struct timeval sec = { 1, 0 };
		d.hub->mqtt = mqtt_new(d.base, &d.cfg.mqtt, nch, rate,
		    daemon_mqtt_marker, &d, err, sizeof err);
		if (d.hub->mqtt == NULL) {
			log_errx("%s", err);
			goto fail;
		}
		d.ev_tick = event_new(d.base, -1, EV_PERSIST, daemon_tick_cb,
		    &d);
		if (d.ev_tick == NULL || event_add(d.ev_tick, &sec) == -1)
			goto fail;
		daemon_tick_cb(-1, 0, &d);
	}
#endif
	if ((d.ls = listen_open(d.base, d.hub, &d.cfg, err, sizeof err)) ==
	    NULL) {
		log_errx("%s", err);
		goto fail;
	}
	d.ev_term = evsignal_new(d.base, SIGTERM, daemon_stop_cb, &d);
	d.ev_int = evsignal_new(d.base, SIGINT, daemon_stop_cb, &d);
	d.ev_hup = evsignal_new(d.base, SIGHUP, daemon_reload_cb, &d);
	d.ev_flush = evtimer_new(d.base, daemon_flush_cb, &d);
	if (d.ev_term == NULL || d.ev_int == NULL || d.ev_hup == NULL ||
	    d.ev_flush == NULL || evsignal_add(d.ev_term, NULL) == -1 ||
	    evsignal_add(d.ev_int, NULL) == -1 ||
	    evsignal_add(d.ev_hup, NULL) == -1) {
		log_errx("cannot set up signals");
		goto fail;
	}
	if (reader_start(d.reader) == -1) {
		log_warn("cannot start the reader thread");
		goto fail;
	}
	d.notify = notify_new(d.base, &reader_stats(d.reader)->heartbeat,
	    daemon_status_text, &d);
	if (d.notify == NULL) {
		log_errx("out of memory");
		goto fail;
	}
	/* Listeners are bound and the reader runs: ready, board or not. */
	notify_ready(d.notify);
	log_notice("eegd %s running: board %s, %u Hz, %u channels",
	    PACKAGE_VERSION, d.cfg.board_type, d.cfg.rate, d.cfg.channels);
	event_base_dispatch(d.base);
	log_notice("stopped");
	daemon_free(&d);
	return 0;
fail:
	daemon_free(&d);
	return 1;
}
