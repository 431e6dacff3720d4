/* eegcat_mqtt.c: eegcat reads the stream through an MQTT broker. */
#include "autoconfig.h"

#include <endian.h>
#include <event2/event.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eegcat_conn.h"
#include "eegcat_json.h"
#include "eegcat_mqtt.h"
#include "encode_bin.h"
#include "log.h"

#define MQTT_TICK_MS 50
#define MQTT_KEEPALIVE 30

/*
 * The subscription.  Data frames are ignored until the retained hello has
 * given the stream description (the header a socket client gets first).
 */
struct eegcat_mqtt {
	struct event_base *base;
	struct mosquitto *mosq;
	struct event *sock_ev;		/* libmosquitto's socket is readable */
	struct event *tick_ev;		/* writes, keepalive, reconnect */
	const struct eegcat_conn_cb *cb;
	void *arg;
	char host[256];
	int port;
	char topic_hello[256], topic_data[256], topic_events[256];
	int connected, have_header;
	unsigned backoff_ms;
	int64_t retry_at;		/* ticks until the next connect */
	struct eegcat_header header;
	struct eegcat_json json;
	int64_t *times;
	float *vals;
};

static void mqtt_arm_socket(struct eegcat_mqtt *);

/* Fill the header from the hello object; -1 when it lacks a field. */
static int
mqtt_header_from_hello(struct eegcat_mqtt *m, const struct eegcat_json *o)
{
	const struct eegcat_json_field *f;
	const char *run = eegcat_json_str(o, "run"), *units;
	uint64_t nch, dec = 1;

	memset(&m->header, 0, sizeof m->header);
	if (eegcat_json_u64(o, "channels", &nch) == -1 || nch == 0 ||
	    nch > EEGCAT_CONN_MAX_CH || run == NULL ||
	    (f = eegcat_json_find(o, "labels")) == NULL ||
	    f->type != EEGCAT_JSON_LIST)
		return -1;
	(void)eegcat_json_u64(o, "decimate", &dec);
	m->header.protocol = 1;
	m->header.nch = (unsigned)nch;
	m->header.decimation = (unsigned)dec;
	m->header.run = strtoull(run, NULL, 16);
	if ((f = eegcat_json_find(o, "rate")) != NULL)
		m->header.rate = strtod(f->value, NULL);
	if ((f = eegcat_json_find(o, "range")) != NULL)
		m->header.range = strtod(f->value, NULL);
	f = eegcat_json_find(o, "labels");
	snprintf(m->header.labels, sizeof m->header.labels, "%s", f->value);
	units = eegcat_json_str(o, "units");
	snprintf(m->header.units, sizeof m->header.units, "%s",
	    units ? units : "uV");
	return 0;
}

/* Decode the data frames of one payload into the data callback. */
static void
mqtt_data(struct eegcat_mqtt *m, const unsigned char *p, size_t len)
{
	size_t off = 0;

	if (len > 0 && p[0] == '{') {
		m->cb->fail(m->arg, "the broker carries JSON data: eegcat "
		    "--mqtt needs the daemon's mqtt_format = binary");
		return;
	}
	while (off + 5 <= len) {
		uint32_t flen;
		struct eegcat_data d;

		memcpy(&flen, p + off, 4);
		flen = le32toh(flen);
		if (flen < 1 || off + 4 + flen > len || p[off + 4] != BIN_DATA ||
		    eegcat_conn_data_head(p + off + 5, flen - 1, m->header.nch,
		    &d) == -1 || d.count > BIN_MAX_RUN)
			break;
		eegcat_conn_data_fill(p + off + 5, &d, m->times, m->vals);
		d.times = m->times;
		d.vals = m->vals;
		m->cb->data(m->arg, &d);
		off += 4 + flen;
	}
}

/* A message on one of our topics. */
static void
mqtt_on_message(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *msg)
{
	struct eegcat_mqtt *m = arg;
	char err[128];

	if (msg->payloadlen <= 0)
		return;
	if (strcmp(msg->topic, m->topic_hello) == 0) {
		if (eegcat_json_parse(&m->json, msg->payload,
		    (size_t)msg->payloadlen, err, sizeof err) == -1 ||
		    mqtt_header_from_hello(m, &m->json) == -1) {
			log_warnx("mqtt: bad hello on %s", msg->topic);
			return;
		}
		m->cb->header(m->arg, &m->header, m->have_header);
		m->have_header = 1;
		m->cb->hello(m->arg, msg->payload, (size_t)msg->payloadlen,
		    &m->json);
	} else if (strcmp(msg->topic, m->topic_data) == 0) {
		if (m->have_header)
			mqtt_data(m, msg->payload, (size_t)msg->payloadlen);
	} else if (strcmp(msg->topic, m->topic_events) == 0) {
		if (eegcat_json_parse(&m->json, msg->payload,
		    (size_t)msg->payloadlen, err, sizeof err) == 0)
			m->cb->event(m->arg, msg->payload,
			    (size_t)msg->payloadlen, &m->json);
	}
}

/* Connected: subscribe (again) to the three topics. */
static void
mqtt_on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct eegcat_mqtt *m = arg;

	if (rc != 0) {
		log_warnx("mqtt: the broker refused: %s",
		    mosquitto_connack_string(rc));
		return;
	}
	log_info("mqtt: connected to %s:%d", m->host, m->port);
	mosquitto_subscribe(mosq, NULL, m->topic_hello, 1);
	mosquitto_subscribe(mosq, NULL, m->topic_data, 1);
	mosquitto_subscribe(mosq, NULL, m->topic_events, 1);
}

/* The socket is readable. */
static void
mqtt_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct eegcat_mqtt *m = arg;

	if (mosquitto_loop_read(m->mosq, 1) != MOSQ_ERR_SUCCESS) {
		log_warnx("mqtt: connection lost; reconnecting");
		m->connected = 0;
		event_del(m->sock_ev);
		m->retry_at = m->backoff_ms / MQTT_TICK_MS;
	}
}

/* Watch libmosquitto's current socket. */
static void
mqtt_arm_socket(struct eegcat_mqtt *m)
{
	int fd = mosquitto_socket(m->mosq);

	if (m->sock_ev != NULL)
		event_free(m->sock_ev);
	m->sock_ev = event_new(m->base, fd, EV_READ | EV_PERSIST, mqtt_sock_cb,
	    m);
	if (m->sock_ev != NULL)
		event_add(m->sock_ev, NULL);
}

/* Every tick: connect when due, write what is queued, keep alive. */
static void
mqtt_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct eegcat_mqtt *m = arg;

	if (!m->connected) {
		if (m->retry_at-- > 0)
			return;
		if (mosquitto_connect(m->mosq, m->host, m->port,
		    MQTT_KEEPALIVE) != MOSQ_ERR_SUCCESS) {
			m->backoff_ms = m->backoff_ms * 2 > 5000 ? 5000 :
			    m->backoff_ms * 2;
			m->retry_at = m->backoff_ms / MQTT_TICK_MS;
			return;
		}
		m->connected = 1;
		m->backoff_ms = 100;
		mqtt_arm_socket(m);
	}
	if (mosquitto_want_write(m->mosq))
		mosquitto_loop_write(m->mosq, 1);
	if (mosquitto_loop_misc(m->mosq) != MOSQ_ERR_SUCCESS) {
		m->connected = 0;
		if (m->sock_ev != NULL)
			event_del(m->sock_ev);
	}
}

/* Subscribe under prefix at broker; NULL with err. */
struct eegcat_mqtt *
eegcat_mqtt_new(struct event_base *base, const char *broker,
    const char *prefix, const struct eegcat_conn_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct eegcat_mqtt *m;
	const char *colon = strrchr(broker, ':');
	struct timeval tv = { 0, MQTT_TICK_MS * 1000 };
	size_t hl;

	if (colon == NULL || (hl = (size_t)(colon - broker)) == 0 ||
	    hl >= 256 || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535) {
		snprintf(err, errlen, "--mqtt: want HOST:PORT, not '%s'",
		    broker);
		return NULL;
	}
	if ((m = calloc(1, sizeof *m)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(m->host, broker, hl);
	if (m->host[0] == '[' && m->host[hl - 1] == ']') {
		memmove(m->host, m->host + 1, hl - 2);
		m->host[hl - 2] = '\0';
	}
	m->port = atoi(colon + 1);
	m->base = base;
	m->cb = cb;
	m->arg = arg;
	m->backoff_ms = 100;
	snprintf(m->topic_hello, sizeof m->topic_hello, "%s/hello", prefix);
	snprintf(m->topic_data, sizeof m->topic_data, "%s/data", prefix);
	snprintf(m->topic_events, sizeof m->topic_events, "%s/events", prefix);
	m->times = calloc(BIN_MAX_RUN, sizeof *m->times);
	m->vals = calloc((size_t)BIN_MAX_RUN * EEGCAT_CONN_MAX_CH,
	    sizeof *m->vals);
	mosquitto_lib_init();
	m->mosq = mosquitto_new(NULL, true, m);
	m->tick_ev = event_new(base, -1, EV_PERSIST, mqtt_tick_cb, m);
	if (m->times == NULL || m->vals == NULL || m->mosq == NULL ||
	    m->tick_ev == NULL || event_add(m->tick_ev, &tv) == -1) {
		snprintf(err, errlen, "cannot set up MQTT");
		eegcat_mqtt_free(m);
		return NULL;
	}
	mosquitto_connect_callback_set(m->mosq, mqtt_on_connect);
	mosquitto_message_callback_set(m->mosq, mqtt_on_message);
	mqtt_tick_cb(-1, 0, m);	/* connect now */
	return m;
}

/* Disconnect and free. */
void
eegcat_mqtt_free(struct eegcat_mqtt *m)
{
	if (m == NULL)
		return;
	if (m->sock_ev != NULL)
		event_free(m->sock_ev);
	if (m->tick_ev != NULL)
		event_free(m->tick_ev);
	if (m->mosq != NULL) {
		if (m->connected)
			mosquitto_disconnect(m->mosq);
		mosquitto_destroy(m->mosq);
		mosquitto_lib_cleanup();
	}
	free(m->times);
	free(m->vals);
	free(m);
}
