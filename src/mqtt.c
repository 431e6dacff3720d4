/* mqtt.c: the broker bridge: a thread running libmosquitto, fed by rings. */
#include "autoconfig.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "encode.h"
#include "encode_bin.h"
#include "encode_json.h"
#include "command.h"
#include "log.h"
#include "mqtt.h"
#include "ring.h"
#include "sample.h"
#include "timeutil.h"

#define MQTT_EVENT_LEN 1024	/* an event's JSON, with its length */
#define MQTT_EVENTS 256
#define MQTT_MARKERS 16
#define MQTT_KEEPALIVE 10

/* An event on its way to the thread: JSON text. */
struct mqtt_event_item {
	uint32_t len;
	char json[MQTT_EVENT_LEN - 4];
};

/*
 * The bridge.  Loop side: samples, events (rings, producer), the marker
 * event, the retained payloads (under lock).  Thread side: everything
 * about libmosquitto, the batch and its pending gap.
 */
struct mqtt {
	struct mqtt_config cfg;
	struct ring *samples;
	struct ring *events;
	pthread_t thread;
	atomic_bool stop;
	/* Loop → thread: retained payloads, replaced whole. */
	pthread_mutex_t lock;
	char hello[4096];
	char status[256];
	int retained_dirty;
	/* Thread → loop: markers. */
	char markers[MQTT_MARKERS][COMMAND_MAX_MARKER + 1];
	size_t nmarkers;
	int marker_fd;
	struct event *marker_ev;
	mqtt_marker_fn on_marker;
	void *arg;
	/* Counters: written by either side with atomics. */
	atomic_uint_fast64_t published, unpublished, reconnects;
	atomic_int connected;
	atomic_int pending;		/* batches libmosquitto still holds */
	/* Thread only. */
	struct mosquitto *mosq;
	char topic[5][216];		/* hello, status, data, events, marker */
	struct evbuffer *batch;
	uint64_t batch_first;
	uint64_t batch_count;
	uint64_t next_seq;		/* the seq after the last one batched */
	int have_seq;
	uint64_t gap_seq, gap_count;	/* dropped, to announce */
	struct bin_builder *bin;
	int64_t batch_start_us;
	char password[256];
};

enum { T_HELLO, T_STATUS, T_DATA, T_EVENTS, T_MARKER };

/* Thread: the broker accepted the connection. */
static void
mqtt_on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;

	if (rc != 0) {
		log_warnx("mqtt: broker refused the connection: %s",
		    mosquitto_connack_string(rc));
		return;
	}
	atomic_store(&m->connected, 1);
	log_notice("mqtt: connected to %s:%u", m->cfg.host, m->cfg.port);
	mosquitto_subscribe(mosq, NULL, m->topic[T_MARKER], 1);
	pthread_mutex_lock(&m->lock);
	m->retained_dirty = 1;
	pthread_mutex_unlock(&m->lock);
}

/* Thread: the connection ended. */
static void
mqtt_on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;

	if (atomic_exchange(&m->connected, 0))
		log_warnx("mqtt: disconnected from the broker (%s)",
		    mosquitto_strerror(rc));
}

/* Thread: libmosquitto sent (QoS 0) or delivered (QoS > 0) a message. */
static void
mqtt_on_publish(struct mosquitto *mosq, void *arg, int mid)
{
	struct mqtt *m = arg;

	if (atomic_load(&m->pending) > 0)
		atomic_fetch_sub(&m->pending, 1);
}

/* Thread: a message on <prefix>/marker: hand it to the loop. */
static void
mqtt_on_message(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *msg)
{
	struct mqtt *m = arg;
	uint64_t one = 1;

	if (msg->payloadlen <= 0 || msg->payloadlen > COMMAND_MAX_MARKER) {
		log_warnx("mqtt: ignoring a marker of %d bytes (1 to %d)",
		    msg->payloadlen, COMMAND_MAX_MARKER);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (m->nmarkers < MQTT_MARKERS) {
		memcpy(m->markers[m->nmarkers], msg->payload,
		    (size_t)msg->payloadlen);
		m->markers[m->nmarkers][msg->payloadlen] = '\0';
		m->nmarkers++;
	}
	pthread_mutex_unlock(&m->lock);
	(void)write(m->marker_fd, &one, sizeof one);
}

/* Loop: markers arrived from the broker. */
static void
mqtt_marker_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt *m = arg;
	char texts[MQTT_MARKERS][COMMAND_MAX_MARKER + 1];
	size_t n;
	uint64_t v;

	(void)read(m->marker_fd, &v, sizeof v);
	pthread_mutex_lock(&m->lock);
	n = m->nmarkers;
	memcpy(texts, m->markers, sizeof texts);
	m->nmarkers = 0;
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < n; i++)
		m->on_marker(m->arg, texts[i], strlen(texts[i]));
}

/* Thread: publish; returns 0 when libmosquitto took it. */
static int
mqtt_publish(struct mqtt *m, int topic, const void *data, size_t len,
    int qos, int retain)
{
	int rc;

	if (!atomic_load(&m->connected))
		return -1;
	rc = mosquitto_publish(m->mosq, NULL, m->topic[topic], (int)len, data,
	    qos, retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_debug("mqtt: publish %s: %s", m->topic[topic],
		    mosquitto_strerror(rc));
		return -1;
	}
	atomic_fetch_add(&m->pending, 1);
	return 0;
}

/* Thread: count samples [first, first+count) as not published. */
static void
mqtt_drop(struct mqtt *m, uint64_t first, uint64_t count)
{
	if (count == 0)
		return;
	if (m->gap_count == 0)
		m->gap_seq = first;
	m->gap_count = first + count - m->gap_seq;
	atomic_fetch_add(&m->unpublished, count);
}

/* Thread: announce dropped samples before the next published batch. */
static int
mqtt_announce_gap(struct mqtt *m)
{
	char json[160];
	int n;

	if (m->gap_count == 0)
		return 0;
	n = snprintf(json, sizeof json, "{\"class\":\"gap\",\"seq\":%llu,"
	    "\"count\":%llu,\"reason\":\"mqtt\"}",
	    (unsigned long long)m->gap_seq, (unsigned long long)m->gap_count);
	if (mqtt_publish(m, T_EVENTS, json, (size_t)n, 1, 0) == -1)
		return -1;
	m->gap_count = 0;
	return 0;
}

/* Thread: publish the batch (or drop it, counted). */
static void
mqtt_flush(struct mqtt *m)
{
	size_t len;

	if (m->batch_count == 0)
		return;
	if (!m->cfg.json)
		encode_bin_flush(m->bin, m->batch);
	len = evbuffer_get_length(m->batch);
	if (!atomic_load(&m->connected) ||
	    atomic_load(&m->pending) >= MQTT_MAX_PENDING ||
	    mqtt_announce_gap(m) == -1 ||
	    mqtt_publish(m, T_DATA, evbuffer_pullup(m->batch, -1), len,
	    m->cfg.qos, 0) == -1)
		mqtt_drop(m, m->batch_first, m->batch_count);
	else
		atomic_fetch_add(&m->published, m->batch_count);
	evbuffer_drain(m->batch, len);
	encode_bin_init(m->bin);
	m->batch_count = 0;
}

/* Thread: take queued samples and events; publish when a batch is due. */
static void
mqtt_take(struct mqtt *m)
{
	size_t n;

	while ((n = ring_peek(m->events)) > 0) {
		for (size_t i = 0; i < n; i++) {
			const struct mqtt_event_item *e = ring_item(m->events, i);
			(void)mqtt_publish(m, T_EVENTS, e->json, e->len, 1, 0);
		}
		ring_release(m->events, n);
	}
	while ((n = ring_peek(m->samples)) > 0) {
		for (size_t i = 0; i < n; i++) {
			const struct record *r = ring_item(m->samples, i);
			if (r->type == REC_GAP) {
				/* Lost before eegd had them: not ours to count. */
				mqtt_flush(m);
				m->next_seq = r->seq + r->count;
				m->have_seq = 1;
				continue;
			}
			if (m->have_seq && r->seq > m->next_seq) {
				/* The loop could not queue these: say so. */
				mqtt_flush(m);
				mqtt_drop(m, m->next_seq, r->seq - m->next_seq);
			}
			if (m->batch_count == 0) {
				m->batch_first = r->seq;
				m->batch_start_us = timeutil_monotonic_us();
			}
			if (m->cfg.json)
				encode_sample(m->batch, FMT_JSON, r);
			else
				encode_bin_add(m->bin, m->batch, r->seq, 1,
				    r->time_us, r->ch, r->nch);
			m->batch_count++;
			m->next_seq = r->seq + 1;
			m->have_seq = 1;
		}
		ring_release(m->samples, n);
	}
	if (m->batch_count > 0 && timeutil_monotonic_us() - m->batch_start_us >=
	    (int64_t)m->cfg.batch_ms * 1000)
		mqtt_flush(m);
}

/* Thread: publish hello and status when they changed (retained). */
static void
mqtt_retained(struct mqtt *m)
{
	char hello[sizeof m->hello], status[sizeof m->status];

	if (!atomic_load(&m->connected))
		return;
	pthread_mutex_lock(&m->lock);
	if (!m->retained_dirty) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	memcpy(hello, m->hello, sizeof hello);
	memcpy(status, m->status, sizeof status);
	m->retained_dirty = 0;
	pthread_mutex_unlock(&m->lock);
	if (hello[0] != '\0')
		(void)mqtt_publish(m, T_HELLO, hello, strlen(hello), 1, 1);
	if (status[0] != '\0')
		(void)mqtt_publish(m, T_STATUS, status, strlen(status), 1, 1);
}

/* Thread: connect or reconnect; 0 on success. */
static int
mqtt_connect(struct mqtt *m, int first)
{
	int rc = first ? mosquitto_connect(m->mosq, m->cfg.host,
	    (int)m->cfg.port, MQTT_KEEPALIVE) : mosquitto_reconnect(m->mosq);

	if (rc != MOSQ_ERR_SUCCESS) {
		log_debug("mqtt: connect %s:%u: %s", m->cfg.host, m->cfg.port,
		    rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
		return -1;
	}
	return 0;
}

/* The thread: keep a connection, move queued data to the broker. */
static void *
mqtt_main(void *arg)
{
	struct mqtt *m = arg;
	unsigned backoff = 100;
	int64_t retry_at = 0;
	int ever = 0, socket_up = 0;

	while (!atomic_load(&m->stop)) {
		if (!socket_up && timeutil_monotonic_us() >= retry_at) {
			if (mqtt_connect(m, !ever) == 0) {
				if (ever)
					atomic_fetch_add(&m->reconnects, 1);
				ever = 1;
				socket_up = 1;
				backoff = 100;
			} else {
				retry_at = timeutil_monotonic_us() +
				    (int64_t)backoff * 1000;
				backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			}
		}
		if (socket_up) {
			int rc = mosquitto_loop(m->mosq, 10, 1);
			if (rc != MOSQ_ERR_SUCCESS) {
				socket_up = 0;
				atomic_store(&m->connected, 0);
				/* What libmosquitto still held is gone. */
				atomic_store(&m->pending, 0);
				retry_at = timeutil_monotonic_us() +
				    (int64_t)backoff * 1000;
			}
		} else {
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		}
		mqtt_retained(m);
		mqtt_take(m);
	}
	/* A clean goodbye: the will only fires on an unclean one. */
	if (atomic_load(&m->connected)) {
		mqtt_flush(m);
		(void)mqtt_publish(m, T_STATUS, "offline", 7, 1, 1);
		for (int i = 0; i < 20 && atomic_load(&m->pending) > 0; i++)
			mosquitto_loop(m->mosq, 10, 1);
		mosquitto_disconnect(m->mosq);
	}
	return NULL;
}

/* Read the first line of a password file. */
static int
mqtt_read_password(const char *path, char *buf, size_t len, char *err,
    size_t errlen)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL || fgets(buf, (int)len, fp) == NULL) {
		snprintf(err, errlen, "mqtt: password_file %s: %s", path,
		    fp ? "empty" : strerror(errno));
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

/* Start the bridge thread. */
struct mqtt *
mqtt_new(struct event_base *base, const struct mqtt_config *cfg,
    unsigned nch, unsigned rate, mqtt_marker_fn on_marker, void *arg,
    char *err, size_t errlen)
{
	static const char *const names[] = { "hello", "status", "data",
	    "events", "marker" };
	char host[128] = "localhost", prefix[200];
	struct mqtt *m;
	sigset_t all, old;
	size_t cap = (size_t)rate * MQTT_RING_SECONDS;

	/* (config.c refuses a Unix socket broker where libmosquitto can't.) */
	if ((m = calloc(1, sizeof *m)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	m->on_marker = on_marker;
	m->arg = arg;
	m->marker_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	gethostname(host, sizeof host - 1);
	if (m->cfg.topic_prefix[0] == '\0')
		snprintf(m->cfg.topic_prefix, sizeof m->cfg.topic_prefix,
		    "eegd/%s", host);
	if (m->cfg.client_id[0] == '\0')
		snprintf(m->cfg.client_id, sizeof m->cfg.client_id,
		    "eegd-%.40s-%d", host, (int)getpid());
	snprintf(prefix, sizeof prefix, "%s", m->cfg.topic_prefix);
	for (int i = 0; i < 5; i++)
		snprintf(m->topic[i], sizeof m->topic[i], "%s/%s", prefix,
		    names[i]);
	if (cap < 4096)
		cap = 4096;
	m->samples = ring_new(cap, record_size(nch));
	m->events = ring_new(MQTT_EVENTS, sizeof(struct mqtt_event_item));
	m->batch = evbuffer_new();
	m->bin = malloc(sizeof *m->bin);
	m->marker_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->samples == NULL || m->events == NULL || m->batch == NULL ||
	    m->bin == NULL || m->marker_fd == -1) {
		snprintf(err, errlen, "mqtt: out of memory");
		goto fail;
	}
	encode_bin_init(m->bin);
	m->marker_ev = event_new(base, m->marker_fd, EV_READ | EV_PERSIST,
	    mqtt_marker_cb, m);
	if (m->marker_ev == NULL || event_add(m->marker_ev, NULL) == -1) {
		snprintf(err, errlen, "mqtt: cannot watch markers");
		goto fail;
	}
	mosquitto_lib_init();
	if ((m->mosq = mosquitto_new(m->cfg.client_id, true, m)) == NULL) {
		snprintf(err, errlen, "mqtt: %s", strerror(errno));
		goto fail;
	}
	mosquitto_connect_callback_set(m->mosq, mqtt_on_connect);
	mosquitto_disconnect_callback_set(m->mosq, mqtt_on_disconnect);
	mosquitto_publish_callback_set(m->mosq, mqtt_on_publish);
	mosquitto_message_callback_set(m->mosq, mqtt_on_message);
	mosquitto_will_set(m->mosq, m->topic[T_STATUS], 7, "offline", 1, true);
	if (m->cfg.username[0] != '\0') {
		if (m->cfg.password_file[0] != '\0' &&
		    mqtt_read_password(m->cfg.password_file, m->password,
		    sizeof m->password, err, errlen) == -1)
			goto fail;
		mosquitto_username_pw_set(m->mosq, m->cfg.username,
		    m->cfg.password_file[0] ? m->password : NULL);
	}
	if (m->cfg.cafile[0] != '\0' && mosquitto_tls_set(m->mosq,
	    m->cfg.cafile, NULL, m->cfg.certfile[0] ? m->cfg.certfile : NULL,
	    m->cfg.keyfile[0] ? m->cfg.keyfile : NULL, NULL) !=
	    MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "mqtt: TLS setup failed (cafile, "
		    "certfile, keyfile)");
		goto fail;
	}
	atomic_init(&m->stop, false);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&m->thread, NULL, mqtt_main, m) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		snprintf(err, errlen, "mqtt: cannot start the thread");
		goto fail;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_notice("mqtt: publishing to %s:%u under %s/", m->cfg.host,
	    m->cfg.port, prefix);
	return m;
fail:
	if (m->mosq != NULL) {
		mosquitto_destroy(m->mosq);
		mosquitto_lib_cleanup();
	}
	if (m->marker_ev != NULL)
		event_free(m->marker_ev);
	if (m->marker_fd != -1)
		close(m->marker_fd);
	ring_free(m->samples);
	ring_free(m->events);
	if (m->batch != NULL)
		evbuffer_free(m->batch);
	free(m->bin);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

/* Stop the thread and free the bridge. */
void
mqtt_free(struct mqtt *m)
{
	if (m == NULL)
		return;
	atomic_store(&m->stop, true);
	pthread_join(m->thread, NULL);
	mosquitto_destroy(m->mosq);
	mosquitto_lib_cleanup();
	event_free(m->marker_ev);
	close(m->marker_fd);
	ring_free(m->samples);
	ring_free(m->events);
	evbuffer_free(m->batch);
	free(m->bin);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Loop: queue a sample; counted as unpublished when the ring is full. */
void
mqtt_sample(struct mqtt *m, const struct record *r)
{
	/* A refused sample shows as a jump in seq, which the thread counts. */
	(void)ring_push(m->samples, r);
}

/* Loop: count samples from seq will never come (not an MQTT loss). */
void
mqtt_gap(struct mqtt *m, uint64_t seq, uint64_t count)
{
	struct record *r = ring_reserve(m->samples);

	if (r == NULL)
		return;	/* then the thread counts the jump as its own */
	memset(r, 0, sizeof *r);
	r->type = REC_GAP;
	r->seq = seq;
	r->count = count;
	ring_commit(m->samples);
}

/* Loop: queue an event for <prefix>/events. */
void
mqtt_event(struct mqtt *m, const struct msg *ev)
{
	struct mqtt_event_item *e = ring_reserve(m->events);
	struct evbuffer *tmp;
	size_t n;

	if (e == NULL || (tmp = evbuffer_new()) == NULL)
		return;
	encode_json_msg(tmp, ev);
	n = evbuffer_get_length(tmp) - 1;	/* no newline */
	if (n > sizeof e->json)
		n = sizeof e->json;
	evbuffer_remove(tmp, e->json, n);
	e->len = (uint32_t)n;
	evbuffer_free(tmp);
	ring_commit(m->events);
}

/* Loop: set the retained hello (JSON) and status (text) payloads. */
void
mqtt_set_retained(struct mqtt *m, const char *hello, const char *status)
{
	pthread_mutex_lock(&m->lock);
	if (hello != NULL && strcmp(hello, m->hello) != 0) {
		snprintf(m->hello, sizeof m->hello, "%s", hello);
		m->retained_dirty = 1;
	}
	if (status != NULL && strcmp(status, m->status) != 0) {
		snprintf(m->status, sizeof m->status, "%s", status);
		m->retained_dirty = 1;
	}
	pthread_mutex_unlock(&m->lock);
}

/* Loop: read the counters. */
void
mqtt_get_stats(struct mqtt *m, struct mqtt_stats *st)
{
	st->connected = atomic_load(&m->connected);
	st->published = atomic_load(&m->published);
	st->unpublished = atomic_load(&m->unpublished);
	st->reconnects = atomic_load(&m->reconnects);
}
