/*
 * eegcat_mqtt.h: eegcat's other source: an MQTT broker that eegd publishes
 * to (eegd(8), MQTT).  Subscribes to PREFIX/hello (retained), PREFIX/data
 * (binary data frames) and PREFIX/events, and hands them to the same
 * callbacks as a socket connection.  libmosquitto's socket is driven from
 * eegcat's event loop; the connection is retried with back-off.
 */
#ifndef EEGD_EEGCAT_MQTT_H
#define EEGD_EEGCAT_MQTT_H

#include <stddef.h>

struct event_base;
struct eegcat_conn_cb;
struct eegcat_mqtt;

/*
 * Subscribe under prefix at broker ("HOST:PORT", numeric host); NULL with
 * a message in err.
 */
struct eegcat_mqtt *eegcat_mqtt_new(struct event_base *base,
    const char *broker, const char *prefix, const struct eegcat_conn_cb *cb,
    void *arg, char *err, size_t errlen);
/* Disconnect and free. */
void eegcat_mqtt_free(struct eegcat_mqtt *m);

#endif
