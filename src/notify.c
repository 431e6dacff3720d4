/* notify.c: sd_notify READY/STATUS/WATCHDOG/RELOADING/STOPPING. */
#include "autoconfig.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "timeutil.h"

/* How often the STATUS text is re-checked, and its rate limit. */
#define NOTIFY_STATUS_MS 1000

/*
 * The notifier.  last_beat is the reader heartbeat seen at the previous
 * watchdog tick; status holds the text last sent, so STATUS is sent only
 * when it changes.
 */
struct notify {
	int enabled;			/* NOTIFY_SOCKET is set */
	atomic_uint_fast64_t *heartbeat;
	uint64_t last_beat;
	int stalled;			/* the last tick saw no progress */
	struct event *watchdog_ev;
	struct event *status_ev;
	uint64_t watchdog_usec;
	int64_t status_sent_us;
	void (*status_fn)(void *, char *, size_t);
	void *arg;
	char status[256];
};

/* Send STATUS= when the text changed and a second has passed. */
static void
notify_send_status(struct notify *n, int force)
{
	char text[256];
	int64_t now = timeutil_monotonic_us();

	n->status_fn(n->arg, text, sizeof text);
	if (!force && (strcmp(text, n->status) == 0 ||
	    now - n->status_sent_us < NOTIFY_STATUS_MS * 1000))
		return;
	snprintf(n->status, sizeof n->status, "%s", text);
	n->status_sent_us = now;
	sd_notifyf(0, "STATUS=%s", text);
}

/* Periodic: re-check STATUS. */
static void
notify_status_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_send_status(arg, 0);
}

/* Half the watchdog interval: ping if the reader made progress. */
static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	uint64_t beat = atomic_load(n->heartbeat);

	if (beat != n->last_beat) {
		n->last_beat = beat;
		sd_notify(0, "WATCHDOG=1");
		if (n->stalled)
			log_notice("watchdog: the reader thread is progressing "
			    "again");
		n->stalled = 0;
	} else if (!n->stalled) {
		n->stalled = 1;
		log_warnx("watchdog: the reader thread made no progress in "
		    "%llu ms; not pinging", (unsigned long long)
		    (n->watchdog_usec / 2000));
	}
}

/* Start the notifier. */
struct notify *
notify_new(struct event_base *base, atomic_uint_fast64_t *heartbeat,
    void (*status_fn)(void *, char *, size_t), void *arg)
{
	struct notify *n;
	struct timeval tv;
	const char *sock = getenv("NOTIFY_SOCKET");

	if ((n = calloc(1, sizeof *n)) == NULL)
		return NULL;
	n->enabled = sock != NULL && *sock != '\0';
	n->heartbeat = heartbeat;
	n->status_fn = status_fn;
	n->arg = arg;
	if (!n->enabled)
		return n;
	n->status_ev = event_new(base, -1, EV_PERSIST, notify_status_cb, n);
	tv.tv_sec = NOTIFY_STATUS_MS / 1000;
	tv.tv_usec = (NOTIFY_STATUS_MS % 1000) * 1000;
	if (n->status_ev != NULL)
		event_add(n->status_ev, &tv);
	if (sd_watchdog_enabled(0, &n->watchdog_usec) > 0 &&
	    n->watchdog_usec > 0) {
		uint64_t half = n->watchdog_usec / 2;
		n->last_beat = atomic_load(heartbeat) - 1;	/* first tick pings */
		n->watchdog_ev = event_new(base, -1, EV_PERSIST,
		    notify_watchdog_cb, n);
		tv.tv_sec = (time_t)(half / 1000000);
		tv.tv_usec = (suseconds_t)(half % 1000000);
		if (n->watchdog_ev != NULL)
			event_add(n->watchdog_ev, &tv);
		log_info("watchdog: pinging every %llu ms while the reader "
		    "makes progress", (unsigned long long)(half / 1000));
	}
	return n;
}

/* Stop the timers and free the notifier. */
void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->status_ev != NULL)
		event_free(n->status_ev);
	if (n->watchdog_ev != NULL)
		event_free(n->watchdog_ev);
	free(n);
}

/* Send READY=1 with the current STATUS. */
void
notify_ready(struct notify *n)
{
	char text[256];

	if (!n->enabled)
		return;
	n->status_fn(n->arg, text, sizeof text);
	snprintf(n->status, sizeof n->status, "%s", text);
	n->status_sent_us = timeutil_monotonic_us();
	sd_notifyf(0, "READY=1\nSTATUS=%s", text);
	if (n->watchdog_ev != NULL)
		notify_watchdog_cb(-1, 0, n);
}

/* Send RELOADING=1 with MONOTONIC_USEC. */
void
notify_reloading(struct notify *n)
{
	if (n->enabled)
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld",
		    (long long)timeutil_monotonic_us());
}

/* Send STOPPING=1. */
void
notify_stopping(struct notify *n)
{
	if (n->enabled)
		sd_notify(0, "STOPPING=1");
}

/* Re-check the STATUS text now (still at most once a second). */
void
notify_status_changed(struct notify *n)
{
	if (n->enabled)
		notify_send_status(n, 0);
}
