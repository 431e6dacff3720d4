/* timeutil.h: small helpers for timespec arithmetic and clocks. */
#ifndef EEGD_TIMEUTIL_H
#define EEGD_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Return CLOCK_REALTIME in microseconds. */
int64_t timeutil_realtime_us(void);
/* Return CLOCK_MONOTONIC in microseconds. */
int64_t timeutil_monotonic_us(void);
/* Return a - b in nanoseconds. */
int64_t timeutil_diff_ns(const struct timespec *a, const struct timespec *b);
/* Return t + ns. */
struct timespec timeutil_add_ns(const struct timespec *t, uint64_t ns);

#endif
