/*
 * ring.h: a bounded single-producer, single-consumer queue of fixed-size
 * items, on C11 atomics, with an eventfd wake-up.
 *
 * Ownership: the reader thread is the only producer (ring_reserve,
 * ring_commit); the event loop is the only consumer (ring_peek, ring_item,
 * ring_release).  They share nothing else here but `count`.
 *
 * Wake-up protocol: `count` is updated only with read-modify-write.  The
 * producer writes the eventfd only when its fetch_add saw 0 (the ring went
 * from empty to non-empty).  The consumer takes everything visible and
 * fetch_subs what it took; a non-zero result means more arrived meanwhile,
 * and since the producer saw non-zero it sent no wake-up, so the consumer
 * loops.  Neither order of the two RMWs can strand an item.
 */
#ifndef EEGD_RING_H
#define EEGD_RING_H

#include <stdbool.h>
#include <stddef.h>

struct ring;

/* Create a ring of at least min_items items of item_size bytes; NULL on error. */
struct ring *ring_new(size_t min_items, size_t item_size);
/* Free a ring and close its eventfd. */
void ring_free(struct ring *r);
/* Return the eventfd the consumer waits on (readable after a wake-up). */
int ring_fd(const struct ring *r);
/* Return the capacity in items (a power of two). */
size_t ring_capacity(const struct ring *r);
/* Return the item size in bytes. */
size_t ring_item_size(const struct ring *r);

/* Producer: return the next free slot, or NULL when the ring is full. */
void *ring_reserve(struct ring *r);
/* Producer: publish the reserved slot; wakes the consumer on empty→non-empty. */
void ring_commit(struct ring *r);
/* Producer: copy one item in; false (and nothing written) when full. */
bool ring_push(struct ring *r, const void *item);

/* Consumer: clear the eventfd after it became readable. */
void ring_clear_wakeup(struct ring *r);
/* Consumer: return how many items are ready to read. */
size_t ring_peek(struct ring *r);
/* Consumer: return the i-th ready item (i < ring_peek()). */
const void *ring_item(const struct ring *r, size_t i);
/* Consumer: release n items; returns how many are still ready after that. */
size_t ring_release(struct ring *r, size_t n);

#endif
