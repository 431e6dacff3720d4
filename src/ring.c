/* ring.c: SPSC ring on C11 atomics with an empty→non-empty eventfd wake-up. */
#include "autoconfig.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ring.h"

/*
 * head is private to the producer and tail to the consumer; count is the
 * only shared word (see ring.h for the wake-up protocol).  Keep it on its
 * own cache line so the two sides don't false-share.
 */
struct ring {
	unsigned char *slots;
	size_t mask;
	size_t item_size;	/* the caller's size: what ring_push copies */
	size_t stride;		/* item_size rounded up to 8: slot spacing */
	int efd;
	_Alignas(64) size_t head;	/* producer: next slot to write */
	_Alignas(64) size_t tail;	/* consumer: next slot to read */
	_Alignas(64) atomic_size_t count;
};

/* Create a ring of at least min_items items of item_size bytes; NULL on error. */
struct ring *
ring_new(size_t min_items, size_t item_size)
{
	struct ring *r;
	size_t cap = 2;

	if (item_size == 0 || min_items > ((size_t)1 << 30)) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < min_items)
		cap <<= 1;
	if ((r = aligned_alloc(64, sizeof *r)) == NULL)
		return NULL;
	memset(r, 0, sizeof *r);
	r->item_size = item_size;
	r->stride = (item_size + 7) & ~(size_t)7;
	r->mask = cap - 1;
	if ((r->slots = calloc(cap, r->stride)) == NULL)
		goto fail;
	if ((r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	atomic_init(&r->count, 0);
	return r;
fail:;
	int saved = errno;
	free(r->slots);
	free(r);
	errno = saved;
	return NULL;
}

/* Free a ring and close its eventfd. */
void
ring_free(struct ring *r)
{
	if (r == NULL)
		return;
	close(r->efd);
	free(r->slots);
	free(r);
}

/* Return the eventfd the consumer waits on. */
int
ring_fd(const struct ring *r)
{
	return r->efd;
}

/* Return the capacity in items. */
size_t
ring_capacity(const struct ring *r)
{
	return r->mask + 1;
}

/* Return the item size in bytes. */
size_t
ring_item_size(const struct ring *r)
{
	return r->item_size;
}

/* Producer: return the next free slot, or NULL when the ring is full. */
void *
ring_reserve(struct ring *r)
{
	if (atomic_load_explicit(&r->count, memory_order_acquire) > r->mask)
		return NULL;
	return r->slots + (r->head & r->mask) * r->stride;
}

/* Producer: publish the reserved slot; wakes the consumer on empty→non-empty. */
void
ring_commit(struct ring *r)
{
	uint64_t one = 1;

	r->head++;
	if (atomic_fetch_add_explicit(&r->count, 1, memory_order_acq_rel) == 0) {
		/* EAGAIN means the counter is already non-zero: awake. */
		while (write(r->efd, &one, sizeof one) == -1 && errno == EINTR)
			;
	}
}

/* Producer: copy one item in; false when full. */
bool
ring_push(struct ring *r, const void *item)
{
	void *slot = ring_reserve(r);

	if (slot == NULL)
		return false;
	memcpy(slot, item, r->item_size);
	ring_commit(r);
	return true;
}

/* Consumer: clear the eventfd after it became readable. */
void
ring_clear_wakeup(struct ring *r)
{
	uint64_t v;

	while (read(r->efd, &v, sizeof v) == -1 && errno == EINTR)
		;
}

/* Consumer: return how many items are ready to read. */
size_t
ring_peek(struct ring *r)
{
	return atomic_load_explicit(&r->count, memory_order_acquire);
}

/* Consumer: return the i-th ready item. */
const void *
ring_item(const struct ring *r, size_t i)
{
	return r->slots + ((r->tail + i) & r->mask) * r->stride;
}

/* Consumer: release n items; returns how many are still ready after that. */
size_t
ring_release(struct ring *r, size_t n)
{
	r->tail += n;
	return atomic_fetch_sub_explicit(&r->count, n, memory_order_acq_rel) - n;
}
