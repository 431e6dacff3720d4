/*
 * mqtt.h: the broker bridge (optional, --with-mqtt).
 *
 * Design: one MQTT thread runs libmosquitto's loop (mosquitto_loop) and is
 * fed by the hub through bounded SPSC rings, like the reader: one of
 * samples and one of events.  The event loop only pushes into the rings
 * and never waits on the broker; the MQTT thread never touches the hub.
 * Markers published to <prefix>/marker come back to the loop through a
 * small mutex-guarded queue and an eventfd.
 *
 * Topics: <prefix>/hello (retained, the JSON hello), <prefix>/status
 * (retained, the STATUS line; the last will sets it to "offline"),
 * <prefix>/data (batches every batch_ms: binary data frames, or JSON
 * lines with mqtt_format = json), <prefix>/events (gaps, markers, board
 * lost/found as JSON), <prefix>/marker (subscribed: becomes a marker).
 *
 * Bounds: the sample ring holds MQTT_RING_SECONDS of samples, and at most
 * MQTT_MAX_PENDING batches may wait in libmosquitto.  Beyond that, or
 * while the broker is down, samples are dropped and counted; the next
 * batch published is preceded by a gap event (reason "mqtt") covering them
 * exactly, and status shows the total as mqtt_unpublished.
 */
#ifndef EEGD_MQTT_H
#define EEGD_MQTT_H

#include <stddef.h>
#include <stdint.h>

#define MQTT_RING_SECONDS 2
#define MQTT_MAX_PENDING 64

struct event_base;
struct mqtt_config;
struct record;
struct msg;
struct mqtt;

/* What the bridge reports for status. */
struct mqtt_stats {
	int connected;
	uint64_t published;	/* samples handed to the broker */
	uint64_t unpublished;	/* samples dropped (broker down or slow) */
	uint64_t reconnects;
};

/* A marker text arrived on <prefix>/marker. */
typedef void (*mqtt_marker_fn)(void *arg, const char *text, size_t len);

/*
 * Start the bridge thread for samples of up to nch channels at rate Hz;
 * NULL with err on failure.
 */
struct mqtt *mqtt_new(struct event_base *base, const struct mqtt_config *cfg,
    unsigned nch, unsigned rate, mqtt_marker_fn on_marker, void *arg,
    char *err, size_t errlen);
/* Stop the thread (publishing "offline"), and free the bridge. */
void mqtt_free(struct mqtt *m);
/* Loop: queue a sample; counted as unpublished when the ring is full. */
void mqtt_sample(struct mqtt *m, const struct record *r);
/* Loop: count samples from seq will never come (not an MQTT loss). */
void mqtt_gap(struct mqtt *m, uint64_t seq, uint64_t count);
/* Loop: queue an event (gap, marker, board) for <prefix>/events. */
void mqtt_event(struct mqtt *m, const struct msg *ev);
/* Loop: set the retained hello (JSON) and status (text) payloads. */
void mqtt_set_retained(struct mqtt *m, const char *hello, const char *status);
/* Loop: read the counters. */
void mqtt_get_stats(struct mqtt *m, struct mqtt_stats *st);

#endif
