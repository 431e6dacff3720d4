/* bench.c: clocks, packet scanning, sockets and percentiles for the bench. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Return CLOCK_MONOTONIC in nanoseconds. */
int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * BENCH_NS_PER_S + ts.tv_nsec;
}

/* Sleep until the CLOCK_MONOTONIC time t (ns), on an absolute deadline. */
void
bench_sleep_until(int64_t t)
{
	struct timespec ts;

	if (t <= 0)
		return;
	ts.tv_sec = (time_t)(t / BENCH_NS_PER_S);
	ts.tv_nsec = (long)(t % BENCH_NS_PER_S);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

/* Return the little-endian unsigned of n (<= 8) bytes at p. */
uint64_t
bench_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned k = n; k-- > 0;)
		v = v << 8 | p[k];
	return v;
}

/* Return the packet index tagged in a channel-1 value in uV. */
int64_t
bench_index_from_uv(double uv)
{
	return llround(uv / BENCH_UV_PER_COUNT);
}

/* Feed bytes; calls fn for every whole packet; returns packets found. */
size_t
bench_scan_feed(struct bench_scan *s, const uint8_t *in, size_t n,
    void (*fn)(void *, const uint8_t *), void *arg)
{
	size_t found = 0, o;

	while (n > 0) {
		size_t take = sizeof s->buf - s->len;

		if (take > n)
			take = n;
		memcpy(s->buf + s->len, in, take);
		s->len += take;
		in += take;
		n -= take;
		/* A packet: 0xA0 at o and a 0xCX footer 32 bytes on. */
		for (o = 0; s->len - o >= BENCH_PACKET;) {
			if (s->buf[o] == BENCH_HEADER &&
			    (s->buf[o + 32] & 0xF0) == 0xC0) {
				fn(arg, s->buf + o);
				found++;
				o += BENCH_PACKET;
			} else {
				s->discarded++;
				o++;
			}
		}
		memmove(s->buf, s->buf + o, s->len - o);
		s->len -= o;
	}
	return found;
}

/* Put a terminal in raw 8N1 mode; -1 on error. */
int
bench_tty_raw(int fd)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) == -1)
		return -1;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	return tcsetattr(fd, TCSANOW, &tio);
}

/* Write all of buf to a blocking or non-blocking fd within ms; -1 if not. */
int
bench_write_all(int fd, const void *buf, size_t len, int ms)
{
	const char *p = buf;
	int64_t end = bench_now_ns() + (int64_t)ms * 1000000;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		int64_t left = end - bench_now_ns();
		if (left <= 0)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		(void)poll(&pfd, 1, (int)(left / 1000000) + 1);
	}
	return 0;
}

/* Split tcp:HOST:PORT; returns 0 with host and port filled. */
static int
bench_split_tcp(const char *addr, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon = strrchr(addr + 4, ':');
	size_t hl;

	if (colon == NULL)
		return -1;
	hl = (size_t)(colon - (addr + 4));
	if (hl >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, addr + 4, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

/* Fill a Unix socket address from unix:PATH; -1 if too long. */
static int
bench_unix_addr(const char *addr, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(addr + 5) >= sizeof sun->sun_path)
		return -1;
	snprintf(sun->sun_path, sizeof sun->sun_path, "%s", addr + 5);
	return 0;
}

/* Connect to tcp:HOST:PORT or unix:PATH; rcvbuf > 0 sets SO_RCVBUF first. */
int
bench_connect(const char *addr, int rcvbuf)
{
	char host[256], port[32];
	struct addrinfo hints, *res = NULL;
	struct sockaddr_un sun;
	int fd = -1;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (bench_unix_addr(addr, &sun) == -1 ||
		    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		if (rcvbuf > 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			    sizeof rcvbuf);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
			goto fail;
		return fd;
	}
	if (strncmp(addr, "tcp:", 4) != 0 ||
	    bench_split_tcp(addr, host, sizeof host, port, sizeof port) == -1)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	if (rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof rcvbuf);
	if (connect(fd, res->ai_addr, res->ai_addrlen) == -1)
		goto fail;
	freeaddrinfo(res);
	return fd;
fail:;
	int saved = errno;
	if (fd != -1)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	errno = saved;
	return -1;
}

/* Listen on tcp:HOST:PORT or unix:PATH; writes the bound name; -1 on error. */
int
bench_listen(const char *addr, char *name, size_t namelen)
{
	char host[256], port[32], h[NI_MAXHOST], p[NI_MAXSERV];
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	socklen_t sl = sizeof ss;
	int fd = -1, one = 1;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (bench_unix_addr(addr, &sun) == -1 ||
		    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return -1;
		(void)unlink(sun.sun_path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
		    listen(fd, 4096) == -1)
			goto fail;
		snprintf(name, namelen, "%s", addr);
		return fd;
	}
	if (strncmp(addr, "tcp:", 4) != 0 ||
	    bench_split_tcp(addr, host, sizeof host, port, sizeof port) == -1)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 4096) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		goto fail;
	freeaddrinfo(res);
	snprintf(name, namelen, "tcp:%s:%s", h, p);
	return fd;
fail:;
	int saved = errno;
	if (fd != -1)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	errno = saved;
	return -1;
}

/* Raise RLIMIT_NOFILE to at least n; -1 if the hard limit forbids it. */
int
bench_raise_nofile(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= n)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) {
		/* Raising the hard limit needs CAP_SYS_RESOURCE. */
		struct rlimit want = { n, n };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		errno = EPERM;
		return -1;
	}
	rl.rlim_cur = n;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* qsort comparator for int64_t. */
static int
bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sort n values ascending. */
void
bench_sort(int64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, bench_cmp_i64);
}

/* Return the p-th percentile (nearest rank) of n sorted values. */
int64_t
bench_percentile(const int64_t *sorted, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}
