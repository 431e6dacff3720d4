/*
 * bench.h: what the benchmark's programs share: clocks, the Cyton packet
 * layout and its index tag, the emulator's write-time file, sockets and
 * percentiles.
 *
 * The emulator tags every packet with its index k: channel 1 carries k as
 * 24-bit counts, so a subscriber recovers k from the microvolts eegd sends
 * (k = round(uV / BENCH_UV_PER_COUNT)) and looks up when the packet's last
 * byte was written.  All times are CLOCK_MONOTONIC nanoseconds, which every
 * process on the machine shares.
 */
#ifndef EEGD_BENCH_H
#define EEGD_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_PACKET 33
#define BENCH_HEADER 0xA0
/* eegd's scale at the default gain 24: 4.5 V / (2^23 - 1) / 24, in uV. */
#define BENCH_UV_PER_COUNT (4.5 / 8388607.0 / 24.0 * 1e6)
/* Packet indexes the write-time file holds (262 s at 250 Hz). */
#define BENCH_MAX_PKTS 65536
#define BENCH_TIMES_MAGIC 0x31454d4954424545ULL	/* "EEBTIME1" */
#define BENCH_NS_PER_S 1000000000LL

/*
 * The emulator's write-time file, mapped shared by the emulator (writer)
 * and the harness (reader).  t[p][k] is when packet k's last byte went
 * into pty p (0 the board's, 1 the harness floor's), or 0 if it was not
 * written in full.
 */
struct bench_times {
	uint64_t magic;
	uint64_t packets;		/* indexes generated so far */
	uint64_t late;			/* ticks more than a period late */
	uint64_t drops[2];		/* packets not written in full */
	int64_t t[2][BENCH_MAX_PKTS];
};

/* A Cyton packet scanner: keeps a partial packet between reads. */
struct bench_scan {
	uint8_t buf[8192];
	size_t len;
	uint64_t discarded;		/* bytes skipped to resync */
};

/* Return CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);
/* Sleep until the CLOCK_MONOTONIC time t (ns), on an absolute deadline. */
void bench_sleep_until(int64_t t);
/* Return the packet index tagged in a channel-1 value in uV. */
int64_t bench_index_from_uv(double uv);
/* Feed bytes; calls fn for every whole packet; returns packets found. */
size_t bench_scan_feed(struct bench_scan *s, const uint8_t *in, size_t n,
    void (*fn)(void *, const uint8_t *), void *arg);
/* Put a terminal in raw 8N1 mode; -1 on error. */
int bench_tty_raw(int fd);
/* Write all of buf to a blocking or non-blocking fd within ms; -1 if not. */
int bench_write_all(int fd, const void *buf, size_t len, int ms);
/* Connect to tcp:HOST:PORT or unix:PATH; rcvbuf > 0 sets SO_RCVBUF first. */
int bench_connect(const char *addr, int rcvbuf);
/* Listen on tcp:HOST:PORT or unix:PATH; writes the bound name; -1 on error. */
int bench_listen(const char *addr, char *name, size_t namelen);
/* Raise RLIMIT_NOFILE to at least n; -1 if that is not allowed. */
int bench_raise_nofile(unsigned long n);
/* Sort n values ascending. */
void bench_sort(int64_t *v, size_t n);
/* Return the p-th percentile (nearest rank) of n sorted values. */
int64_t bench_percentile(const int64_t *sorted, size_t n, double p);

/* Return the little-endian unsigned of n (<= 8) bytes at p. */
uint64_t bench_le(const uint8_t *p, unsigned n);

#endif
