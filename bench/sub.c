/*
 * sub.c: bench-sub, the benchmark's subscribers: one epoll process with N
 * connections to eegd or to the floor relay.
 *
 * Every connection's seq is checked for continuity and its gap notices are
 * counted.  The first and the last connection are tagged: for each sample
 * they record the packet index (from channel 1, see bench.h) and the
 * CLOCK_MONOTONIC time of the recv() that completed it, and the kernel's
 * arrival time of those bytes (SO_TIMESTAMPNS): the gap between the two is
 * this process's own delay, reported so the harness can show it is not the
 * bottleneck.  With -d the
 * process also reads the emulator's floor pty directly and records its
 * packets the same way: that is the harness's own floor.  With -S one more
 * connection, to SLOWADDR and made first, never reads (SO_RCVBUF 4 KiB).
 *
 * Once every connection has a sample it prints "ready NS" on stdout and
 * runs for WARM + MEASURE + TAIL seconds more; then it writes its summary
 * to OUT ("key value" lines, then "tag T INDEX NS" lines).
 *
 * usage: bench-sub -c ADDR -n N [-f csv|binary] [-d PTY] [-S SLOWADDR]
 *        -W WARM -M MEASURE -X TAIL -o OUT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cyton_parse.h"
#include "timeutil.h"

#define SUB_MAX_CONNS 8000
#define SUB_BATCH 64
#define SUB_CSV_BUF (16 * 1024)
#define SUB_BIN_BUF (512 * 1024)
#define SUB_NTAGS 3		/* first connection, last, direct pty */
#define SUB_TAG_CAP (1 << 17)
#define SUB_MAX_ERRS 10

/*
 * One tagged stream: packet index and arrival time per sample; kt is when
 * the kernel queued the bytes on the socket (SO_TIMESTAMPNS), so t - kt is
 * the time this process itself took to get to them.
 */
struct sub_tag {
	int64_t *idx;
	int64_t *t;
	int64_t *kt;
	size_t n;
};

/* One connection and its continuity checks. */
struct sub_conn {
	int fd;
	unsigned tags;			/* bit i: record into tag i */
	int text;			/* binary: text lines may still come */
	int closed;
	int have_seq;
	uint64_t next_seq;
	uint64_t samples, win_samples, seq_errors, gap_lines, bad;
	uint64_t bytes, win_bytes, recvs;
	size_t len, cap;
	uint8_t *buf;
};

/* The process: connections, tags, the window and the totals. */
struct sub {
	struct sub_conn *conns;
	unsigned n;
	int binary;
	int ep;				/* every connection, and ep_tag */
	int ep_tag;			/* the tagged ones and the floor pty */
	int direct_fd;
	struct bench_scan scan;
	struct sub_tag tag[SUB_NTAGS];
	int64_t win0, win1;		/* the measurement window, ns */
	int64_t now;			/* time of the current recv */
	int64_t now_k;			/* its kernel arrival time, or now */
	int64_t real_off;		/* REALTIME - MONOTONIC, ns */
	char errs[SUB_MAX_ERRS][128];
	unsigned nerrs;
};

/* Remember a continuity error for the summary (the first few only). */
static void
sub_error(struct sub *s, unsigned i, const char *what, uint64_t want,
    uint64_t got)
{
	if (s->nerrs < SUB_MAX_ERRS)
		snprintf(s->errs[s->nerrs++], sizeof s->errs[0],
		    "conn %u: %s: expected seq %" PRIu64 ", got %" PRIu64, i,
		    what, want, got);
}

/* Record one sample's index and arrival time in each tag of mask. */
static void
sub_record(struct sub *s, unsigned mask, int64_t idx)
{
	for (unsigned i = 0; i < SUB_NTAGS; i++) {
		struct sub_tag *g = &s->tag[i];
		if (!(mask & (1u << i)) || g->n >= SUB_TAG_CAP)
			continue;
		g->idx[g->n] = idx;
		g->t[g->n] = s->now;
		g->kt[g->n] = s->now_k;
		g->n++;
	}
}

/* Count samples [first, first + count*step) and check they continue. */
static void
sub_seq(struct sub *s, unsigned i, uint64_t first, uint64_t count,
    uint64_t step)
{
	struct sub_conn *c = &s->conns[i];

	if (c->have_seq && first != c->next_seq) {
		c->seq_errors++;
		sub_error(s, i, "seq jump", c->next_seq, first);
	}
	c->have_seq = 1;
	c->next_seq = first + count * step;
	c->samples += count;
	if (s->now >= s->win0 && s->now <= s->win1)
		c->win_samples += count;
}

/* Handle one CSV line (without its newline). */
static void
sub_csv_line(struct sub *s, unsigned i, const char *p, size_t len)
{
	struct sub_conn *c = &s->conns[i];
	char tmp[64], *end;
	const char *q, *lim = p + len;
	uint64_t seq = 0;
	size_t k;

	if (len == 0)
		return;
	if (p[0] == '#') {
		if (len >= 5 && memcmp(p, "# gap", 5) == 0) {
			c->gap_lines++;
			sub_error(s, i, "gap notice", c->next_seq, c->next_seq);
		}
		return;
	}
	for (q = p; q < lim && *q >= '0' && *q <= '9'; q++)
		seq = seq * 10 + (uint64_t)(*q - '0');
	if (q == p || q >= lim || *q != ',') {
		c->bad++;
		return;
	}
	sub_seq(s, i, seq, 1, 1);
	if (c->tags == 0)
		return;
	/* Skip the time; channel 1 holds the packet index. */
	if ((q = memchr(q + 1, ',', (size_t)(lim - q - 1))) == NULL) {
		c->bad++;
		return;
	}
	q++;
	for (k = 0; q + k < lim && q[k] != ',' && k + 1 < sizeof tmp; k++)
		tmp[k] = q[k];
	tmp[k] = '\0';
	double uv = strtod(tmp, &end);
	if (end == tmp) {
		c->bad++;
		return;
	}
	sub_record(s, c->tags, bench_index_from_uv(uv));
}

/* Take every whole line in the buffer; returns bytes used. */
static size_t
sub_csv(struct sub *s, unsigned i, const uint8_t *b, size_t len)
{
	size_t o = 0;
	const uint8_t *nl;

	while (o < len && (nl = memchr(b + o, '\n', len - o)) != NULL) {
		sub_csv_line(s, i, (const char *)b + o,
		    (size_t)(nl - (b + o)));
		o = (size_t)(nl - b) + 1;
	}
	return o;
}

/* Handle one binary data frame body. */
static void
sub_bin_data(struct sub *s, unsigned i, const uint8_t *body, size_t len)
{
	struct sub_conn *c = &s->conns[i];
	uint64_t first, count, step, nch;

	if (len < 20) {
		c->bad++;
		return;
	}
	first = bench_le(body, 8);
	count = bench_le(body + 8, 4);
	step = bench_le(body + 12, 4);
	nch = bench_le(body + 16, 2);
	if (20 + count * 8 + count * nch * 4 > len) {
		c->bad++;
		return;
	}
	sub_seq(s, i, first, count, step);
	if (c->tags == 0 || nch == 0)
		return;
	for (uint64_t k = 0; k < count; k++) {
		float v;
		memcpy(&v, body + 20 + count * 8 + k * nch * 4, sizeof v);
		sub_record(s, c->tags, bench_index_from_uv(v));
	}
}

/* Take every whole frame (or text line before them); returns bytes used. */
static size_t
sub_bin(struct sub *s, unsigned i, const uint8_t *b, size_t len)
{
	struct sub_conn *c = &s->conns[i];
	size_t o = 0;

	while (len - o >= 5) {
		uint64_t flen = bench_le(b + o, 4);
		unsigned kind = b[o + 4];

		if (kind < 1 || kind > 3 || flen > (1u << 24) || flen < 1) {
			/* Text sent before "format binary" took effect. */
			const uint8_t *nl = memchr(b + o, '\n', len - o);
			if (!c->text) {
				c->bad++;
				sub_error(s, i, "bad frame", 0, flen);
				return len;	/* lost sync: drop it all */
			}
			if (nl == NULL)
				break;
			sub_csv_line(s, i, (const char *)b + o,
			    (size_t)(nl - (b + o)));
			o = (size_t)(nl - b) + 1;
			continue;
		}
		if (len - o < 4 + flen)
			break;
		c->text = 0;
		if (kind == 2)
			sub_bin_data(s, i, b + o + 5, flen - 1);
		else if (kind == 3 && memmem(b + o + 5, flen - 1,
		    "\"class\":\"gap\"", 13) != NULL) {
			c->gap_lines++;
			sub_error(s, i, "gap event", c->next_seq, c->next_seq);
		}
		o += 4 + flen;
	}
	return o;
}

/* Read what connection i has; returns -1 once it is closed. */
static int
sub_read(struct sub *s, unsigned i)
{
	struct sub_conn *c = &s->conns[i];
	ssize_t n;
	size_t used;

	if (c->len == c->cap) {
		c->bad++;	/* a line or frame larger than the buffer */
		c->len = 0;
	}
	if (c->tags != 0) {
		/* Tagged: also ask when the kernel queued the bytes. */
		union {
			char buf[CMSG_SPACE(sizeof(struct timespec))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { c->buf + c->len, c->cap - c->len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
		struct cmsghdr *cm;

		n = recvmsg(c->fd, &mh, 0);
		s->now = s->now_k = bench_now_ns();
		for (cm = CMSG_FIRSTHDR(&mh); n > 0 && cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(cm), sizeof ts);
				s->now_k = (int64_t)ts.tv_sec * BENCH_NS_PER_S +
				    ts.tv_nsec - s->real_off;
			}
	} else {
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		s->now = s->now_k = bench_now_ns();
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		c->closed = 1;
		epoll_ctl(c->tags ? s->ep_tag : s->ep, EPOLL_CTL_DEL, c->fd,
		    NULL);
		return -1;
	}
	c->recvs++;
	c->bytes += (uint64_t)n;
	if (s->now >= s->win0 && s->now <= s->win1)
		c->win_bytes += (uint64_t)n;
	c->len += (size_t)n;
	used = s->binary ? sub_bin(s, i, c->buf, c->len) :
	    sub_csv(s, i, c->buf, c->len);
	if (used > c->len)
		used = c->len;
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	return 0;
}

/* A packet read straight from the floor pty. */
static void
sub_direct_packet(void *arg, const uint8_t *p)
{
	sub_record(arg, 1u << 2, cyton_parse_int24(p + 2));
}

/* Read the floor pty. */
static void
sub_read_direct(struct sub *s)
{
	uint8_t buf[4096];
	ssize_t n = read(s->direct_fd, buf, sizeof buf);

	s->now = s->now_k = bench_now_ns();
	if (n > 0)
		bench_scan_feed(&s->scan, buf, (size_t)n, sub_direct_packet, s);
}

#define SUB_ID_DIRECT UINT32_MAX
#define SUB_ID_TAGS (UINT32_MAX - 1)

/* Handle what the tagged connections and the floor pty have, now. */
static void
sub_poll_tags(struct sub *s)
{
	struct epoll_event ev[4];
	int n = epoll_wait(s->ep_tag, ev, 4, 0);

	for (int k = 0; k < n; k++) {
		if (ev[k].data.u32 == SUB_ID_DIRECT)
			sub_read_direct(s);
		else
			(void)sub_read(s, ev[k].data.u32);
	}
}

/*
 * Wait up to ms for events and handle them.  The tagged connections are
 * served first and again every few others, so a batch of 1,000 ready
 * sockets does not add its own processing time to the figures.
 */
static void
sub_poll(struct sub *s, int ms)
{
	struct epoll_event ev[512];
	int n = epoll_wait(s->ep, ev, 512, ms);

	if (n > 0)
		sub_poll_tags(s);
	for (int k = 0; k < n; k++) {
		uint32_t id = ev[k].data.u32;
		if (id == SUB_ID_TAGS)
			continue;	/* served above and below */
		(void)sub_read(s, id);
		if (k % 8 == 7)
			sub_poll_tags(s);
	}
}

/* Connect connection i; -1 on failure. */
static int
sub_connect(struct sub *s, unsigned i, const char *addr)
{
	struct sub_conn *c = &s->conns[i];
	struct epoll_event ev = { .events = EPOLLIN };
	static const char fmt[] = "format binary\n";

	c->fd = bench_connect(addr, 0);
	if (c->fd == -1)
		return -1;
	if (c->tags != 0) {
		int one = 1;
		(void)setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one,
		    sizeof one);
	}
	if (s->binary && bench_write_all(c->fd, fmt, sizeof fmt - 1, 1000) ==
	    -1)
		return -1;
	(void)fcntl(c->fd, F_SETFL, O_NONBLOCK);
	c->cap = s->binary ? SUB_BIN_BUF : SUB_CSV_BUF;
	c->text = 1;
	if ((c->buf = malloc(c->cap)) == NULL)
		return -1;
	ev.data.u32 = i;
	return epoll_ctl(c->tags ? s->ep_tag : s->ep, EPOLL_CTL_ADD, c->fd,
	    &ev);
}

/* Poll until every connection below n has bytes (or samples); 0 if so. */
static int
sub_wait_all(struct sub *s, unsigned n, int samples, int64_t deadline)
{
	unsigned i = 0;

	while (bench_now_ns() < deadline) {
		for (; i < n; i++)
			if (samples ? s->conns[i].samples == 0 :
			    s->conns[i].bytes == 0)
				break;
		if (i == n)
			return 0;
		sub_poll(s, 10);
	}
	return -1;
}

/* Open the floor pty for direct reading, dropping what it holds. */
static int
sub_open_direct(struct sub *s, const char *path)
{
	struct epoll_event ev = { .events = EPOLLIN };

	s->direct_fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s->direct_fd == -1)
		return -1;
	(void)tcflush(s->direct_fd, TCIFLUSH);
	ev.data.u32 = SUB_ID_DIRECT;
	return epoll_ctl(s->ep_tag, EPOLL_CTL_ADD, s->direct_fd, &ev);
}

/* Write the summary and the tags to path. */
static int
sub_report(struct sub *s, const char *path, int64_t ready, int slow_fd)
{
	uint64_t smin = UINT64_MAX, smax = 0, wmin = UINT64_MAX, wmax = 0;
	uint64_t errs = 0, gaps = 0, bad = 0, wbytes = 0, bytes = 0;
	uint64_t recvs = 0, wsamples = 0;
	unsigned closed = 0;
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	for (unsigned i = 0; i < s->n; i++) {
		struct sub_conn *c = &s->conns[i];
		smin = c->samples < smin ? c->samples : smin;
		smax = c->samples > smax ? c->samples : smax;
		wmin = c->win_samples < wmin ? c->win_samples : wmin;
		wmax = c->win_samples > wmax ? c->win_samples : wmax;
		errs += c->seq_errors;
		gaps += c->gap_lines;
		bad += c->bad;
		bytes += c->bytes;
		wbytes += c->win_bytes;
		wsamples += c->win_samples;
		recvs += c->recvs;
		closed += (unsigned)c->closed;
	}
	fprintf(fp, "conns %u\nready %" PRId64 "\nwindow %" PRId64 " %"
	    PRId64 "\n", s->n, ready, s->win0, s->win1);
	fprintf(fp, "closed %u\nsamples_min %" PRIu64 "\nsamples_max %"
	    PRIu64 "\n", closed, smin, smax);
	fprintf(fp, "win_samples_min %" PRIu64 "\nwin_samples_max %" PRIu64
	    "\nwin_samples %" PRIu64 "\n", wmin, wmax, wsamples);
	fprintf(fp, "seq_errors %" PRIu64 "\ngap_lines %" PRIu64
	    "\nbad %" PRIu64 "\n", errs, gaps, bad);
	fprintf(fp, "bytes %" PRIu64 "\nwin_bytes %" PRIu64 "\nrecvs %"
	    PRIu64 "\n", bytes, wbytes, recvs);
	fprintf(fp, "slow %d\ndirect_discarded %" PRIu64 "\n", slow_fd != -1,
	    s->scan.discarded);
	for (unsigned e = 0; e < s->nerrs; e++)
		fprintf(fp, "error %s\n", s->errs[e]);
	for (unsigned g = 0; g < SUB_NTAGS; g++)
		for (size_t k = 0; k < s->tag[g].n; k++)
			fprintf(fp, "tag %u %" PRId64 " %" PRId64 " %" PRId64
			    "\n", g, s->tag[g].idx[k], s->tag[g].t[k],
			    s->tag[g].kt[k]);
	return fclose(fp);
}

/* Parse the options, connect, measure, report. */
int
main(int argc, char **argv)
{
	static struct sub s;
	const char *addr = NULL, *direct = NULL, *out = NULL, *slow = NULL;
	double warm = -1, measure = -1, tail = -1;
	int ch, slow_fd = -1;
	long n = 1;
	int64_t ready, end;

	while ((ch = getopt(argc, argv, "c:n:f:d:S:W:M:X:o:")) != -1) {
		switch (ch) {
		case 'c': addr = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'f': s.binary = strcmp(optarg, "binary") == 0; break;
		case 'd': direct = optarg; break;
		case 'S': slow = optarg; break;
		case 'W': warm = atof(optarg); break;
		case 'M': measure = atof(optarg); break;
		case 'X': tail = atof(optarg); break;
		case 'o': out = optarg; break;
		default:
			goto usage;
		}
	}
	if (addr == NULL || out == NULL || n < 1 || n > SUB_MAX_CONNS ||
	    warm < 0 || measure <= 0 || tail < 0 || warm + measure + tail > 120)
		goto usage;
	s.n = (unsigned)n;
	s.direct_fd = -1;
	if (bench_raise_nofile((unsigned long)n + 64) == -1) {
		perror("bench-sub: RLIMIT_NOFILE");
		return 1;
	}
	s.conns = calloc(s.n, sizeof *s.conns);
	for (unsigned g = 0; g < SUB_NTAGS; g++) {
		s.tag[g].idx = malloc(SUB_TAG_CAP * sizeof(int64_t));
		s.tag[g].t = malloc(SUB_TAG_CAP * sizeof(int64_t));
		s.tag[g].kt = malloc(SUB_TAG_CAP * sizeof(int64_t));
		if (s.tag[g].idx == NULL || s.tag[g].t == NULL ||
		    s.tag[g].kt == NULL)
			return 1;
	}
	if (s.conns == NULL || (s.ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (s.ep_tag = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return 1;
	{
		struct epoll_event ev = { .events = EPOLLIN,
		    .data.u32 = SUB_ID_TAGS };
		if (epoll_ctl(s.ep, EPOLL_CTL_ADD, s.ep_tag, &ev) == -1)
			return 1;
	}
	s.win0 = s.win1 = INT64_MAX;
	{
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		s.real_off = (int64_t)rt.tv_sec * BENCH_NS_PER_S + rt.tv_nsec -
		    bench_now_ns();
	}
	s.conns[0].tags |= 1u << 0;
	s.conns[s.n - 1].tags |= 1u << 1;
	if (direct != NULL && sub_open_direct(&s, direct) == -1) {
		perror(direct);
		return 1;
	}
	if (slow && (slow_fd = bench_connect(slow, 4096)) == -1) {
		perror("bench-sub: slow client");
		return 1;
	}
	/* Connect in batches, each accepted (greeted) before the next. */
	for (unsigned i = 0; i < s.n; i += SUB_BATCH) {
		unsigned lim = i + SUB_BATCH < s.n ? i + SUB_BATCH : s.n;
		for (unsigned j = i; j < lim; j++)
			if (sub_connect(&s, j, addr) == -1) {
				fprintf(stderr, "bench-sub: connect %u to %s: "
				    "%s\n", j, addr, strerror(errno));
				return 1;
			}
		if (sub_wait_all(&s, lim, 0, bench_now_ns() + 5 *
		    BENCH_NS_PER_S) == -1)
			fprintf(stderr, "bench-sub: some of connections "
			    "%u..%u not greeted within 5 s\n", i, lim - 1);
	}
	if (sub_wait_all(&s, s.n, 1, bench_now_ns() + 10 * BENCH_NS_PER_S) ==
	    -1)
		fprintf(stderr, "bench-sub: not every connection has a sample "
		    "after 10 s\n");
	ready = bench_now_ns();
	s.win0 = ready + (int64_t)(warm * 1e9);
	s.win1 = s.win0 + (int64_t)(measure * 1e9);
	end = s.win1 + (int64_t)(tail * 1e9);
	printf("ready %" PRId64 "\n", ready);
	fflush(stdout);
	for (int64_t now; (now = bench_now_ns()) < end;)
		sub_poll(&s, (int)((end - now) / 1000000) + 1);
	if (sub_report(&s, out, ready, slow_fd) == -1) {
		perror(out);
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: bench-sub -c ADDR -n N [-f csv|binary] "
	    "[-d PTY] [-S SLOWADDR] -W WARM -M MEASURE -X TAIL -o OUT\n");
	return 64;
}
