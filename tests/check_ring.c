/*
 * check_ring.c: unit tests for the SPSC ring (src/ring.h): capacity,
 * ordering, wrap-around, the ring_release result, the empty→non-empty
 * eventfd protocol, and a two-thread stress test that fails on a lost
 * wake-up.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring.h"

/* Items in the stress test; EEGD_RING_STRESS_ITEMS overrides it. */
#define STRESS_ITEMS 2000000ULL
/* The stress test gives up (and fails) after this many seconds. */
#define STRESS_MAX_SECONDS 60
/* How long the consumer waits for a wake-up before calling it lost. */
#define STRESS_POLL_MS 2000

static struct ring *r;

/* Fixture: a ring of 8 uint64_t items. */
static void
setup(void)
{
	r = ring_new(8, sizeof(uint64_t));
	ck_assert_ptr_nonnull(r);
}

/* Fixture: free the ring. */
static void
teardown(void)
{
	ring_free(r);
	r = NULL;
}

/* Return 1 when fd is readable right now, 0 when not. */
static int
fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc;

	while ((rc = poll(&pfd, 1, 0)) == -1 && errno == EINTR)
		;
	ck_assert_int_ne(rc, -1);
	return rc == 1 && (pfd.revents & POLLIN) != 0;
}

/* Push v and insist that it fits. */
static void
push_u64(uint64_t v)
{
	ck_assert_msg(ring_push(r, &v), "push of %llu failed",
	    (unsigned long long)v);
}

/* Return the i-th ready item as a uint64_t. */
static uint64_t
item_u64(size_t i)
{
	uint64_t v;

	memcpy(&v, ring_item(r, i), sizeof v);
	return v;
}

/* Return monotonic time in seconds. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Capacities round up to a power of two, at least 2. */
START_TEST(test_capacity_rounding)
{
	static const struct {
		size_t min, cap;
	} cases[] = {
		{ 0, 2 }, { 1, 2 }, { 2, 2 }, { 3, 4 }, { 4, 4 }, { 5, 8 },
		{ 1000, 1024 }, { 1024, 1024 }, { 1025, 2048 },
		{ 65536, 65536 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct ring *x = ring_new(cases[i].min, 8);
		ck_assert_ptr_nonnull(x);
		ck_assert_uint_eq(ring_capacity(x), cases[i].cap);
		ck_assert_uint_eq(ring_peek(x), 0);
		ck_assert_int_ge(ring_fd(x), 0);
		ring_free(x);
	}
}
END_TEST

/* Item sizes, and the arguments ring_new refuses. */
START_TEST(test_item_size)
{
	struct ring *x;

	x = ring_new(4, 3);
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_ge(ring_item_size(x), 3);
	ring_free(x);
	x = ring_new(4, 16);
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(ring_item_size(x), 16);
	ring_free(x);

	errno = 0;
	ck_assert_ptr_null(ring_new(4, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ring_new(((size_t)1 << 30) + 1, 8));
	ck_assert_int_eq(errno, EINVAL);
	ring_free(NULL);
}
END_TEST

/* Pushes succeed until full, then fail without writing. */
START_TEST(test_push_until_full)
{
	uint64_t v = 99;

	ck_assert_uint_eq(ring_capacity(r), 8);
	for (uint64_t i = 0; i < 8; i++) {
		ck_assert_ptr_nonnull(ring_reserve(r));
		push_u64(i);
		ck_assert_uint_eq(ring_peek(r), i + 1);
	}
	ck_assert_ptr_null(ring_reserve(r));
	ck_assert(!ring_push(r, &v));
	ck_assert_uint_eq(ring_peek(r), 8);
	/* The refused push wrote nothing: the items are unchanged. */
	for (size_t i = 0; i < 8; i++)
		ck_assert_uint_eq(item_u64(i), i);
	/* One slot freed: exactly one more push fits. */
	ck_assert_uint_eq(ring_release(r, 1), 7);
	push_u64(8);
	ck_assert(!ring_push(r, &v));
	for (size_t i = 0; i < 8; i++)
		ck_assert_uint_eq(item_u64(i), i + 1);
}
END_TEST

/* Items come out in order; peeking consumes nothing. */
START_TEST(test_peek_item_release_order)
{
	for (uint64_t i = 0; i < 5; i++)
		push_u64(100 + i);
	ck_assert_uint_eq(ring_peek(r), 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(item_u64(i), 100 + i);
	/* Peeking consumes nothing. */
	ck_assert_uint_eq(ring_peek(r), 5);
	ck_assert_uint_eq(item_u64(0), 100);

	ck_assert_uint_eq(ring_release(r, 2), 3);
	ck_assert_uint_eq(ring_peek(r), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_uint_eq(item_u64(i), 102 + i);
	ck_assert_uint_eq(ring_release(r, 0), 3);
	ck_assert_uint_eq(ring_release(r, 3), 0);
	ck_assert_uint_eq(ring_peek(r), 0);
}
END_TEST

/* reserve/commit publish a slot only on commit. */
START_TEST(test_reserve_commit)
{
	uint64_t *slot;

	slot = ring_reserve(r);
	ck_assert_ptr_nonnull(slot);
	/* Reserving twice without a commit returns the same slot. */
	ck_assert_ptr_eq(ring_reserve(r), slot);
	*slot = 4242;
	ck_assert_uint_eq(ring_peek(r), 0);
	ring_commit(r);
	ck_assert_uint_eq(ring_peek(r), 1);
	ck_assert_uint_eq(item_u64(0), 4242);
	ck_assert_ptr_ne(ring_reserve(r), slot);
}
END_TEST

/* Order holds across many laps of uneven batches. */
START_TEST(test_wrap_around)
{
	uint64_t next_in = 0, next_out = 0;

	/* Uneven batches walk head and tail around the ring many times. */
	for (int round = 0; round < 200; round++) {
		size_t in = 1 + (size_t)(round * 7) % 8, out;
		for (size_t i = 0; i < in && ring_push(r, &next_in); i++)
			next_in++;
		ck_assert_uint_eq(ring_peek(r), next_in - next_out);
		out = 1 + (size_t)(round * 5) % ring_peek(r);
		for (size_t i = 0; i < ring_peek(r); i++)
			ck_assert_uint_eq(item_u64(i), next_out + i);
		ck_assert_uint_eq(ring_release(r, out),
		    next_in - next_out - out);
		next_out += out;
	}
	ck_assert_uint_gt(next_out, 8 * 20);
}
END_TEST

/* ring_release reports items that arrived during the drain. */
START_TEST(test_release_reports_new_items)
{
	size_t n;

	push_u64(1);
	push_u64(2);
	n = ring_peek(r);
	ck_assert_uint_eq(n, 2);
	/* The producer adds one while the consumer works on the first two. */
	push_u64(3);
	ck_assert_uint_eq(ring_release(r, n), 1);
	ck_assert_uint_eq(ring_peek(r), 1);
	ck_assert_uint_eq(item_u64(0), 3);
	ck_assert_uint_eq(ring_release(r, 1), 0);
}
END_TEST

/* ring_push reads only item_size bytes of the caller's item. */
START_TEST(test_push_copies_item_size_bytes)
{
	/*
	 * An item of a size that is not a multiple of 8, in a heap block of
	 * exactly that size: ring_push must read only item_size bytes.
	 */
	struct ring *x = ring_new(4, 12);
	unsigned char *item = malloc(12);

	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(item);
	for (int i = 0; i < 12; i++)
		item[i] = (unsigned char)(0xA0 + i);
	ck_assert(ring_push(x, item));
	ck_assert_uint_eq(ring_peek(x), 1);
	ck_assert_mem_eq(ring_item(x, 0), item, 12);
	free(item);
	ring_free(x);
}
END_TEST

/* The eventfd fires only on the empty to non-empty transition. */
START_TEST(test_eventfd_transitions)
{
	int fd = ring_fd(r);

	/* A new ring has no wake-up pending. */
	ck_assert(!fd_readable(fd));
	/* Clearing with nothing pending does not block. */
	ring_clear_wakeup(r);
	ck_assert(!fd_readable(fd));

	/* empty→non-empty: readable. */
	push_u64(1);
	ck_assert(fd_readable(fd));
	ring_clear_wakeup(r);
	ck_assert(!fd_readable(fd));

	/* Still non-empty: no new wake-up. */
	push_u64(2);
	ck_assert(!fd_readable(fd));
	push_u64(3);
	ck_assert(!fd_readable(fd));

	/* Partial release keeps it non-empty: still no wake-up. */
	ck_assert_uint_eq(ring_release(r, 1), 2);
	push_u64(4);
	ck_assert(!fd_readable(fd));

	/* Drained: the next push wakes again. */
	ck_assert_uint_eq(ring_release(r, ring_peek(r)), 0);
	ck_assert(!fd_readable(fd));
	push_u64(5);
	ck_assert(fd_readable(fd));
	ring_clear_wakeup(r);
	ck_assert(!fd_readable(fd));
	ck_assert_uint_eq(ring_peek(r), 1);
	ck_assert_uint_eq(item_u64(0), 5);

	/* A wake-up left uncleared stays readable and is cleared once. */
	ck_assert_uint_eq(ring_release(r, 1), 0);
	push_u64(6);
	ck_assert_uint_eq(ring_release(r, 1), 0);
	push_u64(7);
	ck_assert(fd_readable(fd));
	ring_clear_wakeup(r);
	ck_assert(!fd_readable(fd));
}
END_TEST

/* Shared state of the stress test. */
struct stress {
	struct ring *ring;
	uint64_t n;		/* items the producer sends */
	atomic_int stop;	/* the consumer gave up: producer, stop */
	uint64_t full;		/* producer: pushes refused as full */
};

/* Stress producer: push 0..n-1 in order, yielding while the ring is full. */
static void *
stress_producer(void *arg)
{
	struct stress *st = arg;
	uint64_t v = 0;

	while (v < st->n) {
		if (ring_push(st->ring, &v)) {
			v++;
			continue;
		}
		st->full++;
		if (atomic_load(&st->stop))
			break;
		sched_yield();
	}
	return NULL;
}

/* Return the stress test's item count (EEGD_RING_STRESS_ITEMS overrides). */
static uint64_t
stress_items(void)
{
	const char *s = getenv("EEGD_RING_STRESS_ITEMS");
	unsigned long long v;

	if (s != NULL && (v = strtoull(s, NULL, 10)) > 0)
		return v;
	return STRESS_ITEMS;
}

/* Two threads, millions of items: all arrive in order, no wake-up lost. */
START_TEST(test_stress_two_threads)
{
	struct stress st;
	pthread_t tid;
	uint64_t expected = 0, wakeups = 0, loops = 0;
	double t0 = now_s();
	char fail[256] = "";
	int fd;

	memset(&st, 0, sizeof st);
	/* A small ring, so it runs both empty and full often. */
	st.ring = ring_new(256, sizeof(uint64_t));
	ck_assert_ptr_nonnull(st.ring);
	st.n = stress_items();
	atomic_init(&st.stop, 0);
	fd = ring_fd(st.ring);
	ck_assert_int_eq(pthread_create(&tid, NULL, stress_producer, &st), 0);

	/*
	 * The consumer is the event loop's protocol: wait on the eventfd only,
	 * clear it, then take everything and loop while ring_release says
	 * more arrived meanwhile (the producer sent no wake-up for those).
	 * A lost wake-up strands items with no eventfd write to come, so the
	 * poll times out.  Races need two CPUs to show: on one CPU a broken
	 * ring_commit (waking on a plain load) was not caught, on two it
	 * failed every run.
	 */
	while (expected < st.n && fail[0] == '\0') {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		size_t left;
		int rc = poll(&pfd, 1, STRESS_POLL_MS);

		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1) {
			snprintf(fail, sizeof fail, "poll: %s",
			    strerror(errno));
			break;
		}
		if (rc == 0) {
			snprintf(fail, sizeof fail, "lost wake-up: no wake-up "
			    "for %d ms with %zu items ready, %llu of %llu "
			    "received", STRESS_POLL_MS, ring_peek(st.ring),
			    (unsigned long long)expected,
			    (unsigned long long)st.n);
			break;
		}
		if (now_s() - t0 > STRESS_MAX_SECONDS) {
			snprintf(fail, sizeof fail, "too slow: %llu of %llu "
			    "items in %d s", (unsigned long long)expected,
			    (unsigned long long)st.n, STRESS_MAX_SECONDS);
			break;
		}
		wakeups++;
		ring_clear_wakeup(st.ring);
		do {
			size_t n = ring_peek(st.ring);
			loops++;
			for (size_t i = 0; i < n; i++) {
				uint64_t v;
				memcpy(&v, ring_item(st.ring, i), sizeof v);
				if (v != expected && fail[0] == '\0')
					snprintf(fail, sizeof fail, "got %llu, "
					    "expected %llu",
					    (unsigned long long)v,
					    (unsigned long long)expected);
				expected++;
			}
			left = ring_release(st.ring, n);
		} while (left != 0 && fail[0] == '\0');
	}
	/* Stop and join the producer before asserting, so nothing leaks. */
	atomic_store(&st.stop, 1);
	pthread_join(tid, NULL);
	if (fail[0] == '\0' && ring_peek(st.ring) != 0)
		snprintf(fail, sizeof fail, "%zu unexpected items after the "
		    "last one", ring_peek(st.ring));
	ring_free(st.ring);
	ck_assert_msg(fail[0] == '\0', "%s", fail);
	ck_assert_uint_eq(expected, st.n);
	if (getenv("EEGD_RING_STRESS_VERBOSE") != NULL)
		fprintf(stderr, "stress: %llu items, %llu wake-ups, %llu "
		    "drain loops, %llu full, %.2f s\n",
		    (unsigned long long)st.n, (unsigned long long)wakeups,
		    (unsigned long long)loops, (unsigned long long)st.full,
		    now_s() - t0);
}
END_TEST

/* The ring's test suite. */
static Suite *
ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_capacity_rounding);
	tcase_add_test(tc, test_item_size);
	tcase_add_test(tc, test_push_until_full);
	tcase_add_test(tc, test_peek_item_release_order);
	tcase_add_test(tc, test_reserve_commit);
	tcase_add_test(tc, test_wrap_around);
	tcase_add_test(tc, test_release_reports_new_items);
	tcase_add_test(tc, test_push_copies_item_size_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("eventfd");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_eventfd_transitions);
	suite_add_tcase(s, tc);

	tc = tcase_create("stress");
	tcase_set_timeout(tc, STRESS_MAX_SECONDS + 30);
	tcase_add_test(tc, test_stress_two_threads);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the ring suite; exit status is non-zero when a test failed. */
int
main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
