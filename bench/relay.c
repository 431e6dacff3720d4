/*
 * relay.c: bench-relay, the floor the benchmark holds eegd against.
 *
 * The simplest relay that does the job, in the naive design: one poll
 * loop reads the Cyton pty, cuts 33-byte packets, formats each sample as
 * the same CSV line eegd sends ("seq,time,ch1,...,ch8"), and send()s it to
 * every client in turn: one blocking send per sample per client, no
 * buffering, no coalescing.  It does the Cyton handshake itself ('s',
 * drain, 'v', read to "$$$", 'b'), like eegd.  It logs "listening on
 * ADDR" on stderr, as eegd does.
 *
 * usage: bench-relay -d PTY -l tcp:HOST:PORT|unix:PATH... [-T MAX_SECONDS]
 * It exits on SIGTERM, SIGINT or after MAX_SECONDS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <unistd.h>

#include "bench.h"
#include "cyton_parse.h"
#include "timeutil.h"

#define RELAY_MAX_LISTEN 4
#define RELAY_MAX_CLIENTS 8000

/* The relay: the pty, listeners, clients and the seq counter. */
struct relay {
	int pty;
	int lfd[RELAY_MAX_LISTEN];
	unsigned nl;
	int *clients;
	unsigned nclients;
	uint64_t seq;
	int have_counter;
	uint8_t counter;
	uint64_t sent, dropped_clients;
	struct bench_scan scan;
};

/* Read from the pty until "$$$" or ms pass; 0 when found. */
static int
relay_read_reply(struct relay *r, int ms)
{
	char buf[1024];
	size_t n = 0;
	int64_t end = bench_now_ns() + (int64_t)ms * 1000000;

	while (bench_now_ns() < end) {
		struct pollfd pfd = { .fd = r->pty, .events = POLLIN };
		ssize_t k;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((k = read(r->pty, buf + n, sizeof buf - 1 - n)) <= 0)
			continue;
		n += (size_t)k;
		buf[n] = '\0';
		if (memmem(buf, n, "$$$", 3) != NULL)
			return 0;
		if (n > sizeof buf / 2) {
			memmove(buf, buf + n - 2, 2);
			n = 2;
		}
	}
	return -1;
}

/* Drop whatever arrives until the line is quiet for 50 ms (at most 500). */
static void
relay_drain(struct relay *r)
{
	char buf[512];
	int64_t end = bench_now_ns() + 500000000;

	while (bench_now_ns() < end) {
		struct pollfd pfd = { .fd = r->pty, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			return;
		if (read(r->pty, buf, sizeof buf) <= 0)
			return;
	}
}

/* Open the pty raw and do the Cyton handshake; -1 on failure. */
static int
relay_board_start(struct relay *r, const char *path)
{
	if ((r->pty = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) == -1 || bench_tty_raw(r->pty) == -1)
		return -1;
	(void)tcflush(r->pty, TCIOFLUSH);
	if (bench_write_all(r->pty, "s", 1, 1000) == -1)
		return -1;
	relay_drain(r);
	if (bench_write_all(r->pty, "v", 1, 1000) == -1 ||
	    relay_read_reply(r, 3000) == -1) {
		fprintf(stderr, "bench-relay: no reply ending in $$$\n");
		return -1;
	}
	return bench_write_all(r->pty, "b", 1, 1000);
}

/* Append v with 4 decimals, as eegd's CSV does; returns the length. */
static size_t
relay_fixed4(char *buf, double v)
{
	uint64_t m;
	int neg = v < 0;

	m = (uint64_t)((neg ? -v : v) * 10000 + 0.5);
	return (size_t)snprintf(buf, 32, "%s%" PRIu64 ".%04" PRIu64,
	    neg && m != 0 ? "-" : "", m / 10000, m % 10000);
}

/* Send one line to every client; a client that fails is dropped. */
static void
relay_fan_out(struct relay *r, const char *line, size_t len)
{
	for (unsigned i = 0; i < r->nclients;) {
		ssize_t n = send(r->clients[i], line, len, MSG_NOSIGNAL);
		if (n == (ssize_t)len) {
			r->sent++;
			i++;
			continue;
		}
		/* Blocking send: anything short is an error: drop it. */
		close(r->clients[i]);
		r->clients[i] = r->clients[--r->nclients];
		r->dropped_clients++;
	}
}

/* One packet: number it, format the CSV line and fan it out. */
static void
relay_packet(void *arg, const uint8_t *p)
{
	struct relay *r = arg;
	char line[256];
	size_t n;
	int64_t t = timeutil_realtime_us();

	/* The counter byte tells how many packets the link lost. */
	if (r->have_counter)
		r->seq += (uint8_t)(p[1] - r->counter - 1);
	r->have_counter = 1;
	r->counter = p[1];
	n = (size_t)snprintf(line, 64, "%" PRIu64 ",%" PRId64 ".%06" PRId64,
	    r->seq++, t / 1000000, t % 1000000);
	for (unsigned ch = 0; ch < 8; ch++) {
		line[n++] = ',';
		n += relay_fixed4(line + n, cyton_parse_int24(p + 2 + 3 * ch) *
		    BENCH_UV_PER_COUNT);
	}
	line[n++] = '\n';
	relay_fan_out(r, line, n);
}

/* Accept clients (blocking sockets), each greeted with the column header. */
static void
relay_accept(struct relay *r, int lfd)
{
	static const char hdr[] =
	    "# seq,time,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8\n";

	for (int k = 0; k < 64; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd == -1)
			return;
		/* Blocking, but never forever: a stuck client is dropped. */
		struct timeval tv = { 2, 0 };
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (r->nclients >= RELAY_MAX_CLIENTS || send(fd, hdr,
		    sizeof hdr - 1, MSG_NOSIGNAL) != sizeof hdr - 1) {
			close(fd);
			continue;
		}
		r->clients[r->nclients++] = fd;
	}
}

/* Parse the options, start the board, relay until told to stop. */
int
main(int argc, char **argv)
{
	static struct relay r;
	struct pollfd pfd[RELAY_MAX_LISTEN + 2];
	const char *device = NULL;
	char name[256];
	double max_s = 300;
	sigset_t ss;
	int ch, sfd;
	int64_t end;

	while ((ch = getopt(argc, argv, "d:l:T:")) != -1) {
		switch (ch) {
		case 'd': device = optarg; break;
		case 'l':
			if (r.nl >= RELAY_MAX_LISTEN)
				goto usage;
			if ((r.lfd[r.nl] = bench_listen(optarg, name,
			    sizeof name)) == -1) {
				fprintf(stderr, "bench-relay: %s: %s\n", optarg,
				    strerror(errno));
				return 1;
			}
			(void)fcntl(r.lfd[r.nl], F_SETFL, O_NONBLOCK);
			fprintf(stderr, "bench-relay: listening on %s\n", name);
			r.nl++;
			break;
		case 'T': max_s = atof(optarg); break;
		default:
			goto usage;
		}
	}
	if (device == NULL || r.nl == 0)
		goto usage;
	if (bench_raise_nofile(RELAY_MAX_CLIENTS + 64) == -1)
		perror("bench-relay: RLIMIT_NOFILE");
	if ((r.clients = calloc(RELAY_MAX_CLIENTS, sizeof *r.clients)) == NULL)
		return 1;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if ((sfd = signalfd(-1, &ss, SFD_CLOEXEC)) == -1)
		return 1;
	if (relay_board_start(&r, device) == -1) {
		fprintf(stderr, "bench-relay: %s: cannot start the board\n",
		    device);
		return 1;
	}
	end = bench_now_ns() + (int64_t)(max_s * 1e9);
	while (bench_now_ns() < end) {
		unsigned np = 0;

		pfd[np++] = (struct pollfd){ .fd = r.pty, .events = POLLIN };
		pfd[np++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (unsigned i = 0; i < r.nl; i++)
			pfd[np++] = (struct pollfd){ .fd = r.lfd[i],
			    .events = POLLIN };
		if (poll(pfd, np, 100) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN) {
			uint8_t buf[4096];
			ssize_t n = read(r.pty, buf, sizeof buf);
			if (n > 0)
				bench_scan_feed(&r.scan, buf, (size_t)n,
				    relay_packet, &r);
		}
		for (unsigned i = 0; i < r.nl; i++)
			if (pfd[2 + i].revents & POLLIN)
				relay_accept(&r, r.lfd[i]);
	}
	(void)bench_write_all(r.pty, "s", 1, 200);
	fprintf(stderr, "bench-relay: %" PRIu64 " samples, %" PRIu64
	    " sends, %" PRIu64 " clients dropped\n", r.seq, r.sent,
	    r.dropped_clients);
	return 0;
usage:
	fprintf(stderr, "usage: bench-relay -d PTY -l ADDR... "
	    "[-T MAX_SECONDS]\n");
	return 64;
}
