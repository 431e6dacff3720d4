/*
 * mqtt_sub.c: bench-mqtt-sub, the MQTT subscribers of the benchmark: N
 * libmosquitto client connections in one process (one network thread
 * each, mosquitto_loop_start), all subscribed to PREFIX/data (batches of
 * binary data frames, see src/encode_bin.h), PREFIX/events and the
 * retained PREFIX/hello.
 *
 * Every connection's seq is checked for continuity, and gap events are
 * counted.  Latency of every sample at every connection, pooled:
 *   -T TIMES (the emulated Cyton): from the emulator's write of the packet
 *      (its write-time file, bench.h; the index is in channel 1) to the
 *      CLOCK_MONOTONIC time the message carrying the sample was delivered;
 *      packets written in the window that never arrived count as lost;
 *   otherwise (the synthetic board, whose sample time is its ideal sample
 *      time): CLOCK_REALTIME at delivery minus the sample's time.
 *
 * Once every connection has a sample it prints "ready NS" on stdout and
 * runs for WARM + MEASURE + TAIL seconds more; then it writes its summary
 * to OUT ("key value" lines, as bench-sub does, plus "lat P50 P99 MAX N
 * LOST" in ns).
 *
 * usage: bench-mqtt-sub -b HOST:PORT -t PREFIX -n N [-T TIMES]
 *        -W WARM -M MEASURE -X TAIL -o OUT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MS_MAX_CONNS 64
#define MS_MAX_ERRS 10
#define MS_KEEPALIVE 30

/* One client connection and its checks. */
struct ms_conn {
	struct ms *s;
	unsigned i;
	struct mosquitto *mosq;
	atomic_uint_fast64_t samples;	/* read by the main thread */
	atomic_int subscribed;
	int have_seq;
	uint64_t next_seq;
	uint64_t win_samples, seq_errors, gap_events, bad, win_bytes, msgs;
	uint64_t hello, disconnects;
	int64_t *arrival;		/* -T: delivery time per packet index */
	int64_t *lat;			/* otherwise: latencies in the window */
	size_t nlat, caplat;
};

/* The process. */
struct ms {
	struct ms_conn conns[MS_MAX_CONNS];
	unsigned n;
	int tagged;			/* -T given */
	char topic_data[256], topic_events[256], topic_hello[256];
	atomic_int_fast64_t win0, win1;	/* the window, CLOCK_MONOTONIC ns */
	int64_t real_off;		/* REALTIME - MONOTONIC, ns */
	pthread_mutex_t lock;		/* guards errs */
	char errs[MS_MAX_ERRS][160];
	unsigned nerrs;
};

/* Remember an error for the summary (the first few only). */
static void __attribute__((format(printf, 2, 3)))
ms_error(struct ms *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (s->nerrs < MS_MAX_ERRS) {
		va_start(ap, fmt);
		vsnprintf(s->errs[s->nerrs++], sizeof s->errs[0], fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Keep one latency (ns) of the window. */
static void
ms_lat_add(struct ms_conn *c, int64_t ns)
{
	if (c->nlat == c->caplat) {
		size_t cap = c->caplat ? c->caplat * 2 : 65536;
		int64_t *p = realloc(c->lat, cap * sizeof *p);
		if (p == NULL)
			return;
		c->lat = p;
		c->caplat = cap;
	}
	c->lat[c->nlat++] = ns;
}

/* Handle one data frame body, delivered at now (MONOTONIC) / real (ns). */
static void
ms_data(struct ms_conn *c, const uint8_t *body, size_t len, int64_t now,
    int64_t real)
{
	struct ms *s = c->s;
	uint64_t first, count, step, nch;
	int64_t w0 = atomic_load(&s->win0), w1 = atomic_load(&s->win1);

	if (len < 20) {
		c->bad++;
		return;
	}
	first = bench_le(body, 8);
	count = bench_le(body + 8, 4);
	step = bench_le(body + 12, 4);
	nch = bench_le(body + 16, 2);
	if (count == 0 || 20 + count * 8 + count * nch * 4 > len) {
		c->bad++;
		return;
	}
	if (c->have_seq && first != c->next_seq) {
		c->seq_errors++;
		ms_error(s, "conn %u: seq jump: expected %" PRIu64 ", got %"
		    PRIu64, c->i, c->next_seq, first);
	}
	c->have_seq = 1;
	c->next_seq = first + count * step;
	if (now >= w0 && now <= w1)
		c->win_samples += count;
	for (uint64_t k = 0; k < count; k++) {
		const uint8_t *tp = body + 20 + k * 8;
		if (s->tagged) {
			float v;
			int64_t idx;
			if (nch == 0)
				break;
			memcpy(&v, body + 20 + count * 8 + k * nch * 4,
			    sizeof v);
			idx = bench_index_from_uv(v);
			if (idx >= 0 && idx < BENCH_MAX_PKTS &&
			    c->arrival[idx] == 0)
				c->arrival[idx] = now;
		} else {
			int64_t t = (int64_t)bench_le(tp, 8) * 1000;
			int64_t mono = t - s->real_off;
			if (mono >= w0 && mono <= w1)
				ms_lat_add(c, real - t);
		}
	}
	atomic_fetch_add(&c->samples, count);
}

/* libmosquitto: a message arrived (the connection's network thread). */
static void
ms_on_message(struct mosquitto *mosq, void *obj,
    const struct mosquitto_message *m)
{
	struct ms_conn *c = obj;
	struct ms *s = c->s;
	int64_t now = bench_now_ns();
	struct timespec rt;
	const uint8_t *p = m->payload;
	size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0, o = 0;

	clock_gettime(CLOCK_REALTIME, &rt);
	c->msgs++;
	if (strcmp(m->topic, s->topic_hello) == 0) {
		if (len > 0 && p[0] == '{')
			c->hello++;
		return;
	}
	if (strcmp(m->topic, s->topic_events) == 0) {
		if (memmem(p, len, "\"class\":\"gap\"", 13) != NULL) {
			c->gap_events++;
			ms_error(s, "conn %u: gap event: %.100s", c->i,
			    (const char *)p);
		}
		return;
	}
	if (strcmp(m->topic, s->topic_data) != 0)
		return;
	if (now >= atomic_load(&s->win0) && now <= atomic_load(&s->win1))
		c->win_bytes += len;
	while (len - o >= 5) {
		uint64_t flen = bench_le(p + o, 4);
		unsigned kind = p[o + 4];

		if (flen < 1 || len - o - 4 < flen)
			break;
		if (kind == 2)
			ms_data(c, p + o + 5, flen - 1, now,
			    (int64_t)rt.tv_sec * BENCH_NS_PER_S + rt.tv_nsec);
		else if (kind == 3 && memmem(p + o + 5, flen - 1,
		    "\"class\":\"gap\"", 13) != NULL)
			c->gap_events++;
		else if (kind != 1 && kind != 3)
			c->bad++;
		o += 4 + flen;
	}
	if (o != len) {
		c->bad++;
		ms_error(s, "conn %u: %zu bytes of a data message left over",
		    c->i, len - o);
	}
}

/* libmosquitto: connected; subscribe. */
static void
ms_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct ms_conn *c = obj;
	struct ms *s = c->s;

	if (rc != 0) {
		ms_error(s, "conn %u: broker refused: %s", c->i,
		    mosquitto_connack_string(rc));
		return;
	}
	if (mosquitto_subscribe(mosq, NULL, s->topic_data, 0) !=
	    MOSQ_ERR_SUCCESS ||
	    mosquitto_subscribe(mosq, NULL, s->topic_events, 0) !=
	    MOSQ_ERR_SUCCESS ||
	    mosquitto_subscribe(mosq, NULL, s->topic_hello, 0) !=
	    MOSQ_ERR_SUCCESS)
		ms_error(s, "conn %u: subscribe failed", c->i);
	else
		atomic_store(&c->subscribed, 1);
}

/* libmosquitto: the connection went (counted unless we asked). */
static void
ms_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct ms_conn *c = obj;

	if (rc != 0) {
		c->disconnects++;
		ms_error(c->s, "conn %u: disconnected (%d)", c->i, rc);
	}
}

/* Pool the latencies of every connection; fills p50/p99/max, n, lost. */
static void
ms_latency(struct ms *s, const struct bench_times *times, FILE *fp)
{
	size_t n = 0, cap = 0, lost = 0;
	int64_t *v = NULL, w0 = atomic_load(&s->win0),
	    w1 = atomic_load(&s->win1);
	uint64_t npk = 0;

	if (s->tagged) {
		npk = times->packets < BENCH_MAX_PKTS ? times->packets :
		    BENCH_MAX_PKTS;
		cap = (size_t)npk * s->n + 1;
	} else
		for (unsigned i = 0; i < s->n; i++)
			cap += s->conns[i].nlat;
	if ((v = malloc((cap + 1) * sizeof *v)) == NULL) {
		fprintf(fp, "error out of memory for latencies\n");
		return;
	}
	for (unsigned i = 0; i < s->n; i++) {
		const struct ms_conn *c = &s->conns[i];
		if (!s->tagged) {
			memcpy(v + n, c->lat, c->nlat * sizeof *v);
			n += c->nlat;
			continue;
		}
		for (uint64_t k = 0; k < npk; k++) {
			int64_t w = times->t[0][k];
			if (w == 0 || w < w0 || w > w1)
				continue;
			if (c->arrival[k] == 0) {
				v[n++] = INT64_MAX;
				lost++;
			} else
				v[n++] = c->arrival[k] - w;
		}
	}
	if (n == 0) {
		fprintf(fp, "lat -1 -1 -1 0 0\n");
		free(v);
		return;
	}
	bench_sort(v, n);
	fprintf(fp, "lat %" PRId64 " %" PRId64 " %" PRId64 " %zu %zu\n",
	    bench_percentile(v, n, 50), bench_percentile(v, n, 99), v[n - 1],
	    n, lost);
	free(v);
}

/* Write the summary to path. */
static int
ms_report(struct ms *s, const char *path, const struct bench_times *times,
    int64_t ready)
{
	uint64_t wmin = UINT64_MAX, wmax = 0, errs = 0, gaps = 0, bad = 0;
	uint64_t wbytes = 0, hello = 0, disc = 0, smin = UINT64_MAX;
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	for (unsigned i = 0; i < s->n; i++) {
		struct ms_conn *c = &s->conns[i];
		uint64_t sm = atomic_load(&c->samples);
		wmin = c->win_samples < wmin ? c->win_samples : wmin;
		wmax = c->win_samples > wmax ? c->win_samples : wmax;
		smin = sm < smin ? sm : smin;
		errs += c->seq_errors;
		gaps += c->gap_events;
		bad += c->bad;
		wbytes += c->win_bytes;
		hello += c->hello > 0;
		disc += c->disconnects > 0;
	}
	fprintf(fp, "conns %u\nready %" PRId64 "\nwindow %" PRId64 " %" PRId64
	    "\n", s->n, ready, (int64_t)atomic_load(&s->win0),
	    (int64_t)atomic_load(&s->win1));
	fprintf(fp, "closed %" PRIu64 "\nsamples_min %" PRIu64
	    "\nwin_samples_min %" PRIu64 "\nwin_samples_max %" PRIu64 "\n",
	    disc, smin, wmin, wmax);
	fprintf(fp, "seq_errors %" PRIu64 "\ngap_lines %" PRIu64 "\nbad %"
	    PRIu64 "\nwin_bytes %" PRIu64 "\nhello %" PRIu64 "\n", errs, gaps,
	    bad, wbytes, hello);
	ms_latency(s, times, fp);
	for (unsigned e = 0; e < s->nerrs; e++)
		fprintf(fp, "error %s\n", s->errs[e]);
	return fclose(fp);
}

/* Parse the options, connect, measure, report. */
int
main(int argc, char **argv)
{
	static struct ms s;
	const char *broker = NULL, *prefix = NULL, *out = NULL, *tfile = NULL;
	struct bench_times *times = NULL;
	double warm = -1, measure = -1, tail = -1;
	char host[256];
	const char *colon;
	int ch, port, rc = 1;
	long n = 1;
	int64_t ready, end, deadline;
	struct timespec rt;

	while ((ch = getopt(argc, argv, "b:t:n:T:W:M:X:o:")) != -1) {
		switch (ch) {
		case 'b': broker = optarg; break;
		case 't': prefix = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'T': tfile = optarg; break;
		case 'W': warm = atof(optarg); break;
		case 'M': measure = atof(optarg); break;
		case 'X': tail = atof(optarg); break;
		case 'o': out = optarg; break;
		default:
			goto usage;
		}
	}
	if (broker == NULL || prefix == NULL || out == NULL || n < 1 ||
	    n > MS_MAX_CONNS || warm < 0 || measure <= 0 || tail < 0 ||
	    warm + measure + tail > 120 ||
	    (colon = strrchr(broker, ':')) == NULL ||
	    (size_t)(colon - broker) >= sizeof host ||
	    (port = atoi(colon + 1)) <= 0 || port > 65535)
		goto usage;
	memcpy(host, broker, (size_t)(colon - broker));
	host[colon - broker] = '\0';
	s.n = (unsigned)n;
	pthread_mutex_init(&s.lock, NULL);
	atomic_store(&s.win0, INT64_MAX);
	atomic_store(&s.win1, INT64_MAX);
	snprintf(s.topic_data, sizeof s.topic_data, "%s/data", prefix);
	snprintf(s.topic_events, sizeof s.topic_events, "%s/events", prefix);
	snprintf(s.topic_hello, sizeof s.topic_hello, "%s/hello", prefix);
	clock_gettime(CLOCK_REALTIME, &rt);
	s.real_off = (int64_t)rt.tv_sec * BENCH_NS_PER_S + rt.tv_nsec -
	    bench_now_ns();
	if (tfile != NULL) {
		int fd = open(tfile, O_RDONLY | O_CLOEXEC);
		void *p = fd == -1 ? MAP_FAILED : mmap(NULL, sizeof *times,
		    PROT_READ, MAP_SHARED, fd, 0);
		if (fd != -1)
			close(fd);
		if (p == MAP_FAILED) {
			perror(tfile);
			return 1;
		}
		times = p;
		s.tagged = 1;
	}
	mosquitto_lib_init();
	for (unsigned i = 0; i < s.n; i++) {
		struct ms_conn *c = &s.conns[i];
		char id[64];

		c->s = &s;
		c->i = i;
		if (s.tagged && (c->arrival = calloc(BENCH_MAX_PKTS,
		    sizeof *c->arrival)) == NULL)
			goto done;
		snprintf(id, sizeof id, "eegd-bench-%d-%u", (int)getpid(), i);
		if ((c->mosq = mosquitto_new(id, true, c)) == NULL) {
			perror("bench-mqtt-sub: mosquitto_new");
			goto done;
		}
		mosquitto_connect_callback_set(c->mosq, ms_on_connect);
		mosquitto_disconnect_callback_set(c->mosq, ms_on_disconnect);
		mosquitto_message_callback_set(c->mosq, ms_on_message);
		if ((ch = mosquitto_connect(c->mosq, host, port,
		    MS_KEEPALIVE)) != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "bench-mqtt-sub: connect %u to %s: "
			    "%s\n", i, broker, ch == MOSQ_ERR_ERRNO ?
			    strerror(errno) : mosquitto_strerror(ch));
			goto done;
		}
		if (mosquitto_loop_start(c->mosq) != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "bench-mqtt-sub: loop_start failed\n");
			goto done;
		}
	}
	/* Ready once every connection has a sample. */
	deadline = bench_now_ns() + 15 * BENCH_NS_PER_S;
	for (unsigned i = 0; i < s.n;) {
		if (atomic_load(&s.conns[i].samples) > 0) {
			i++;
			continue;
		}
		if (bench_now_ns() > deadline) {
			fprintf(stderr, "bench-mqtt-sub: connection %u has no "
			    "sample after 15 s (subscribed: %d)\n", i,
			    atomic_load(&s.conns[i].subscribed));
			goto done;
		}
		bench_sleep_until(bench_now_ns() + 5000000);
	}
	ready = bench_now_ns();
	atomic_store(&s.win0, ready + (int64_t)(warm * 1e9));
	atomic_store(&s.win1, atomic_load(&s.win0) + (int64_t)(measure * 1e9));
	end = atomic_load(&s.win1) + (int64_t)(tail * 1e9);
	printf("ready %" PRId64 "\n", ready);
	fflush(stdout);
	bench_sleep_until(end);
	for (unsigned i = 0; i < s.n; i++)
		mosquitto_disconnect(s.conns[i].mosq);
	for (unsigned i = 0; i < s.n; i++) {
		mosquitto_loop_stop(s.conns[i].mosq, false);
		mosquitto_destroy(s.conns[i].mosq);
		s.conns[i].mosq = NULL;
	}
	if (ms_report(&s, out, times, ready) == -1) {
		perror(out);
		goto done;
	}
	rc = 0;
done:
	for (unsigned i = 0; i < s.n; i++) {
		if (s.conns[i].mosq != NULL) {
			mosquitto_loop_stop(s.conns[i].mosq, true);
			mosquitto_destroy(s.conns[i].mosq);
		}
		free(s.conns[i].arrival);
		free(s.conns[i].lat);
	}
	mosquitto_lib_cleanup();
	return rc;
usage:
	fprintf(stderr, "usage: bench-mqtt-sub -b HOST:PORT -t PREFIX -n N "
	    "[-T TIMES] -W WARM -M MEASURE -X TAIL -o OUT\n");
	return 64;
}
