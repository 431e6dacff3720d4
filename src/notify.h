/*
 * notify.h: the systemd service manager protocol (sd_notify): READY,
 * STATUS, WATCHDOG, RELOADING and STOPPING.  Every call is a no-op when
 * NOTIFY_SOCKET is unset, so a plain foreground run is unchanged.
 *
 * The watchdog runs on the event loop at half of WATCHDOG_USEC and pings
 * only while the reader's heartbeat moves, so a hung loop or a hung reader
 * both stop the pings and let systemd restart the service.  The reader
 * beats on every pass, retry waits included: a lost board is not a hang.
 */
#ifndef EEGD_NOTIFY_H
#define EEGD_NOTIFY_H

#include <stdatomic.h>
#include <stdint.h>

struct event_base;
struct notify;

/*
 * Start the notifier: heartbeat is the reader's counter, status_fn builds
 * the one-line STATUS text.  Returns NULL only on allocation failure.
 */
struct notify *notify_new(struct event_base *base,
    atomic_uint_fast64_t *heartbeat,
    void (*status_fn)(void *, char *, size_t), void *arg);
/* Stop the timers and free the notifier. */
void notify_free(struct notify *n);
/* Send READY=1 with the current STATUS. */
void notify_ready(struct notify *n);
/* Send RELOADING=1 with MONOTONIC_USEC. */
void notify_reloading(struct notify *n);
/* Send STOPPING=1. */
void notify_stopping(struct notify *n);
/* Re-check the STATUS text now (still at most once a second). */
void notify_status_changed(struct notify *n);

#endif
