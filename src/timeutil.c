/* timeutil.c: small helpers for timespec arithmetic and clocks. */
#include "autoconfig.h"

#include "timeutil.h"

/* Return CLOCK_REALTIME in microseconds. */
int64_t
timeutil_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Return CLOCK_MONOTONIC in microseconds. */
int64_t
timeutil_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Return a - b in nanoseconds. */
int64_t
timeutil_diff_ns(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)a->tv_sec - b->tv_sec) * 1000000000LL +
	    (a->tv_nsec - b->tv_nsec);
}

/* Return t + ns. */
struct timespec
timeutil_add_ns(const struct timespec *t, uint64_t ns)
{
	struct timespec r;
	uint64_t total = (uint64_t)t->tv_nsec + ns % 1000000000ULL;

	r.tv_sec = t->tv_sec + (time_t)(ns / 1000000000ULL) +
	    (time_t)(total / 1000000000ULL);
	r.tv_nsec = (long)(total % 1000000000ULL);
	return r;
}
