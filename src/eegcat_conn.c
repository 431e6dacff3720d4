/* eegcat_conn.c: eegcat's connection to eegd: frames in, resume on reconnect. */
#include "autoconfig.h"

#include <endian.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "eegcat_conn.h"
#include "eegcat_json.h"
#include "encode_bin.h"
#include "log.h"

/* The largest frame accepted (the README reader's limit). */
#define CONN_MAX_FRAME (1u << 24)
/* The longest text line skipped before the switch to frames. */
#define CONN_MAX_TEXT 65536
/* How long a one-shot command may wait for its reply, and a connect. */
#define CONN_REPLY_TIMEOUT_SEC 10
#define CONN_CONNECT_TIMEOUT_SEC 10
/* The most replies outstanding at once. */
#define CONN_MAX_PENDING 16

/* What a reply the daemon owes us answers. */
enum conn_pending {
	PEND_FORMAT,
	PEND_CHANNELS,
	PEND_DECIMATE,
	PEND_HELLO,
	PEND_SINCE,
	PEND_COMMAND,	/* the owner's one-shot command */
	PEND_REFRESH,	/* a hello after the board changed */
};

static const char *const conn_pending_names[] = {
	"format", "channels", "decimate", "hello", "since", "command",
	"hello",
};

/*
 * One connection.  The resume point (last_seq, last_run) is the last
 * sample handed to the owner; run and nch come from the latest header,
 * which on a reconnect may already be the new run's while the resume
 * point is still the old one.  pend[] lists the replies due, oldest
 * first; nsetup counts those that gate the stream (data frames before
 * the subscription is complete are dropped: "since" replays them).
 */
struct eegcat_conn {
	struct event_base *base;
	struct eegcat_addr addr;
	struct eegcat_conn_opts opts;
	struct eegcat_conn_cb cb;
	void *arg;
	struct bufferevent *bev;
	struct event *retry_ev;
	struct event *reply_ev;
	unsigned backoff_ms;
	int binary;
	int ready;
	int ever_ready;
	int stopped;
	enum conn_pending pend[CONN_MAX_PENDING];
	size_t npend;
	unsigned nsetup;
	int have_last;
	uint64_t last_seq;
	uint64_t last_run;
	uint64_t run;
	unsigned nch;
	char text_error[256];	/* a "# error" line seen before the switch */
	struct eegcat_header hdr;
	int64_t *times;
	float *vals;
	size_t cap;		/* samples the two buffers hold */
	struct eegcat_json json;
};

static void conn_connect(struct eegcat_conn *);
static void conn_event_cb(struct bufferevent *, short, void *);

/* Report a fatal error to the owner, once. */
static void
conn_fail(struct eegcat_conn *c, const char *msg)
{
	if (c->stopped)
		return;
	c->stopped = 1;
	c->cb.fail(c->arg, msg);
}

/* Resolve "HOST:PORT" or "[V6HOST]:PORT" into a. */
int
eegcat_conn_tcp_addr(const char *hostport, struct eegcat_addr *a, char *err,
    size_t errlen)
{
	char host[256];
	const char *port, *colon;
	struct addrinfo hints, *res;
	size_t hl;
	int r;

	if (hostport[0] == '[') {
		const char *close = strchr(hostport, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "bad address '%s' (want "
			    "[HOST]:PORT)", hostport);
			return -1;
		}
		hl = (size_t)(close - hostport - 1);
		port = close + 2;
		hostport++;
	} else {
		if ((colon = strrchr(hostport, ':')) == NULL ||
		    strchr(hostport, ':') != colon) {
			snprintf(err, errlen, "bad address '%s' (want "
			    "HOST:PORT, or [HOST]:PORT for IPv6)", hostport);
			return -1;
		}
		hl = (size_t)(colon - hostport);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof host || *port == '\0') {
		snprintf(err, errlen, "bad address '%s'", hostport);
		return -1;
	}
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s port %s: %s", host, port,
		    gai_strerror(r));
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	snprintf(a->name, sizeof a->name, "tcp:%s%s%s:%s",
	    res->ai_family == AF_INET6 ? "[" : "", host,
	    res->ai_family == AF_INET6 ? "]" : "", port);
	freeaddrinfo(res);
	return 0;
}

/* Fill a with a Unix socket path. */
int
eegcat_conn_unix_addr(const char *path, struct eegcat_addr *a, char *err,
    size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;

	if (strlen(path) >= sizeof sun->sun_path || path[0] == '\0') {
		snprintf(err, errlen, "bad Unix socket path '%s'", path);
		return -1;
	}
	memset(&a->ss, 0, sizeof a->ss);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	a->len = (socklen_t)sizeof *sun;
	snprintf(a->name, sizeof a->name, "%s", path);
	return 0;
}

/* Read a little-endian u16. */
static uint16_t
conn_le16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return le16toh(v);
}

/* Read a little-endian u32. */
static uint32_t
conn_le32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

/* Read a little-endian u64. */
static uint64_t
conn_le64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Read a little-endian f64. */
static double
conn_f64(const unsigned char *p)
{
	uint64_t u = conn_le64(p);
	double d;
	memcpy(&d, &u, 8);
	return d;
}

static void conn_send(struct eegcat_conn *, enum conn_pending, const char *,
    ...) __attribute__((format(printf, 3, 4)));

/* Queue a command line and the reply it is owed. */
static void
conn_send(struct eegcat_conn *c, enum conn_pending what, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;

	if (c->npend >= CONN_MAX_PENDING)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\n", 1);
	c->pend[c->npend++] = what;
	if (what < PEND_COMMAND)
		c->nsetup++;
}

/* The retry timer fired: connect again. */
static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_connect(arg);
}

/* The one-shot command got no reply in time. */
static void
conn_reply_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_fail(arg, "no reply from eegd");
}

/*
 * The connection failed or dropped (errnum, or 0 for EOF): close it and
 * reconnect after the back-off, or report a fatal error when this is the
 * first attempt or reconnection is off.
 */
static void
conn_lost(struct eegcat_conn *c, int errnum, const char *why)
{
	struct timeval tv;
	char msg[sizeof c->addr.name + sizeof c->text_error + 64];

	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->stopped)
		return;
	if (why == NULL)
		why = errnum ? strerror(errnum) : "connection closed";
	if (!c->ever_ready || !c->opts.reconnect) {
		if (c->text_error[0] != '\0')
			snprintf(msg, sizeof msg, "%s: %s", c->addr.name,
			    c->text_error);
		else
			snprintf(msg, sizeof msg, "%s %s: %s",
			    c->ever_ready ? "lost" : "cannot connect to",
			    c->addr.name, why);
		conn_fail(c, msg);
		return;
	}
	if (c->ready)
		log_notice("connection to %s lost (%s); reconnecting",
		    c->addr.name, why);
	else
		log_info("connecting to %s: %s; retrying in %u ms",
		    c->addr.name, why, c->backoff_ms);
	c->ready = 0;
	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	evtimer_add(c->retry_ev, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > EEGCAT_CONN_BACKOFF_MAX_MS)
		c->backoff_ms = EEGCAT_CONN_BACKOFF_MAX_MS;
}

/* Connected: send the setup commands. */
static void
conn_connected(struct eegcat_conn *c)
{
	struct timeval tv = { CONN_REPLY_TIMEOUT_SEC, 0 };

	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->binary = 0;
	c->ready = 0;
	c->npend = 0;
	c->nsetup = 0;
	c->text_error[0] = '\0';
	conn_send(c, PEND_FORMAT, "format binary");
	if (c->opts.stream) {
		if (c->opts.channels != NULL)
			conn_send(c, PEND_CHANNELS, "channels %s",
			    c->opts.channels);
		if (c->opts.decimate > 0)
			conn_send(c, PEND_DECIMATE, "decimate %u",
			    c->opts.decimate);
		conn_send(c, PEND_HELLO, "hello");
		if (c->have_last)
			conn_send(c, PEND_SINCE, "since %llu %016llx",
			    (unsigned long long)(c->last_seq + 1),
			    (unsigned long long)c->last_run);
	}
	if (c->opts.command != NULL) {
		conn_send(c, PEND_COMMAND, "%s", c->opts.command);
		evtimer_add(c->reply_ev, &tv);
	}
}

/* Every setup reply is in: the stream from here on is the one we want. */
static void
conn_ready(struct eegcat_conn *c)
{
	c->ready = 1;
	c->backoff_ms = EEGCAT_CONN_BACKOFF_MIN_MS;
	if (c->ever_ready && c->have_last)
		log_notice("reconnected to %s; resuming at seq %llu",
		    c->addr.name, (unsigned long long)(c->last_seq + 1));
	else if (c->ever_ready)
		log_notice("reconnected to %s", c->addr.name);
	else
		log_info("connected to %s", c->addr.name);
	c->ever_ready = 1;
}

/* Start a connection attempt. */
static void
conn_connect(struct eegcat_conn *c)
{
	struct timeval tv = { CONN_CONNECT_TIMEOUT_SEC, 0 };
	int fd, r;

	fd = socket(c->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		conn_lost(c, errno, NULL);
		return;
	}
	r = connect(fd, (struct sockaddr *)&c->addr.ss, c->addr.len);
	if (r == -1 && errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		conn_lost(c, saved, NULL);
		return;
	}
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		conn_lost(c, ENOMEM, NULL);
		return;
	}
	bufferevent_setcb(c->bev, NULL, NULL, conn_event_cb, c);
	if (r == -1) {
		/* In progress: BEV_EVENT_CONNECTED, or an error, follows. */
		bufferevent_set_timeouts(c->bev, NULL, &tv);
		if (bufferevent_socket_connect(c->bev, NULL, 0) == -1) {
			conn_lost(c, errno, NULL);
			return;
		}
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_event_cb(c->bev, BEV_EVENT_CONNECTED, c);
}

/* Decode a header frame. */
static int
conn_header(struct eegcat_conn *c, const unsigned char *b, size_t len)
{
	struct eegcat_header *h = &c->hdr;
	size_t off = 32, lo = 0;

	if (len < 32)
		return -1;
	h->protocol = conn_le16(b);
	h->nch = conn_le16(b + 2);
	h->decimation = conn_le32(b + 4);
	h->rate = conn_f64(b + 8);
	h->run = conn_le64(b + 16);
	h->range = conn_f64(b + 24);
	if (h->nch == 0 || h->nch > EEGCAT_CONN_MAX_CH)
		return -1;
	for (unsigned i = 0; i <= h->nch; i++) {
		size_t n;
		if (off >= len || (n = b[off]) > len - off - 1)
			return -1;
		if (memchr(b + off + 1, '\0', n) != NULL)
			return -1;
		if (i == h->nch) {
			memcpy(h->units, b + off + 1, n);
			h->units[n] = '\0';
		} else {
			if (i > 0)
				h->labels[lo++] = ',';
			memcpy(h->labels + lo, b + off + 1, n);
			lo += n;
		}
		off += 1 + n;
	}
	h->labels[lo] = '\0';
	c->run = h->run;
	c->nch = h->nch;
	if (!c->stopped)
		c->cb.header(c->arg, h, c->ready);
	if (c->ready && !c->stopped && c->bev != NULL)
		conn_send(c, PEND_REFRESH, "hello");
	return 0;
}

/* Parse a data frame's body (after the type byte) for nch channels. */
int
eegcat_conn_data_head(const unsigned char *b, size_t len, unsigned nch,
    struct eegcat_data *d)
{
	uint64_t need;

	if (len < 20)
		return -1;
	d->first = conn_le64(b);
	d->count = conn_le32(b + 8);
	d->step = conn_le32(b + 12);
	d->nch = conn_le16(b + 16);
	need = 20 + (uint64_t)d->count * 8 + (uint64_t)d->count * d->nch * 4;
	if (need != len || d->nch != nch || d->step == 0 || d->count == 0)
		return -1;
	return 0;
}

/* Copy a data frame's times and values out of its body. */
void
eegcat_conn_data_fill(const unsigned char *b, const struct eegcat_data *d,
    int64_t *times, float *vals)
{
	for (uint32_t i = 0; i < d->count; i++)
		times[i] = (int64_t)conn_le64(b + 20 + 8 * (size_t)i);
	b += 20 + 8 * (size_t)d->count;
	for (size_t i = 0; i < (size_t)d->count * d->nch; i++) {
		uint32_t u = conn_le32(b + 4 * i);
		memcpy(&vals[i], &u, 4);
	}
}

/* Decode a data frame and hand it over once the stream is ready. */
static int
conn_data(struct eegcat_conn *c, const unsigned char *b, size_t len)
{
	struct eegcat_data d;

	if (eegcat_conn_data_head(b, len, c->nch, &d) == -1)
		return -1;
	if (!c->ready)
		return 0;	/* before the subscription: since replays it */
	if (d.count > c->cap) {
		int64_t *t = realloc(c->times, d.count * sizeof *t);
		if (t == NULL)
			return -1;
		c->times = t;
		float *v = realloc(c->vals, (size_t)d.count *
		    EEGCAT_CONN_MAX_CH * sizeof *v);
		if (v == NULL)
			return -1;
		c->vals = v;
		c->cap = d.count;
	}
	eegcat_conn_data_fill(b, &d, c->times, c->vals);
	d.times = c->times;
	d.vals = c->vals;
	c->have_last = 1;
	c->last_seq = d.first + (uint64_t)(d.count - 1) * d.step;
	c->last_run = c->run;
	if (!c->stopped)
		c->cb.data(c->arg, &d);
	return 0;
}

/* A reply arrived: match it with the oldest command owed one. */
static void
conn_reply(struct eegcat_conn *c, int ok, const struct eegcat_json *o)
{
	const char *message = eegcat_json_str(o, "message");
	enum conn_pending what;
	char msg[512];

	if (message == NULL)
		message = ok ? "ok" : "error";
	if (c->npend == 0) {
		if (!ok)
			log_warnx("eegd says: %s", message);
		return;
	}
	what = c->pend[0];
	memmove(c->pend, c->pend + 1, (c->npend - 1) * sizeof c->pend[0]);
	c->npend--;
	if (what == PEND_COMMAND) {
		evtimer_del(c->reply_ev);
		c->cb.reply(c->arg, ok, message);
		return;
	}
	if (!ok) {
		snprintf(msg, sizeof msg, "%s: %s", conn_pending_names[what],
		    message);
		conn_fail(c, msg);
		return;
	}
	if (what < PEND_COMMAND && --c->nsetup == 0)
		conn_ready(c);
}

/* Decode an event frame: replies, hello, and the events for the owner. */
static int
conn_event(struct eegcat_conn *c, const unsigned char *b, size_t len)
{
	const char *json = (const char *)b, *cls;
	char err[128];

	if (eegcat_json_parse(&c->json, json, len, err, sizeof err) == -1) {
		log_warnx("bad event from eegd: %s", err);
		return 0;
	}
	if ((cls = eegcat_json_str(&c->json, "class")) == NULL)
		return 0;
	if (strcmp(cls, "ok") == 0 || strcmp(cls, "error") == 0)
		conn_reply(c, cls[0] == 'o', &c->json);
	else if (strcmp(cls, "hello") == 0)
		c->cb.hello(c->arg, json, len, &c->json);
	else if (strcmp(cls, "gap") != 0 || c->ready)
		c->cb.event(c->arg, json, len, &c->json);
	/* A gap before the subscription is complete: since covers it. */
	return 0;
}

/* Skip one text line sent before "format binary" took effect. */
static int
conn_text(struct eegcat_conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	char line[sizeof c->text_error + 8];
	size_t eol_len, n;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1)
		return evbuffer_get_length(in) > CONN_MAX_TEXT ? -1 : 1;
	n = (size_t)eol.pos < sizeof line - 1 ? (size_t)eol.pos :
	    sizeof line - 1;
	evbuffer_copyout(in, line, n);
	line[n] = '\0';
	evbuffer_drain(in, (size_t)eol.pos + eol_len);
	if (strncmp(line, "# error ", 8) == 0) {
		snprintf(c->text_error, sizeof c->text_error, "%s", line + 8);
		log_warnx("eegd says: %s", line + 8);
	}
	return 0;
}

/*
 * Take every complete frame from the input.  Before the switch, text
 * lines are skipped: their first four bytes are printable, while a
 * frame's length (< 2^24) has a zero fourth byte.
 */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct eegcat_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char h[5], *f;
	uint32_t len;
	int r;

	while (!c->stopped && c->bev != NULL) {
		size_t avail = evbuffer_get_length(in);
		if (avail < 5)
			return;
		evbuffer_copyout(in, h, 5);
		if (!c->binary) {
			if (h[3] == 0) {
				c->binary = 1;
				continue;
			}
			if ((r = conn_text(c, in)) == 1)
				return;
			if (r == -1)
				goto bad;
			continue;
		}
		len = conn_le32(h);
		if (len < 1 || len > CONN_MAX_FRAME)
			goto bad;
		if (avail < 4 + (size_t)len)
			return;
		if ((f = evbuffer_pullup(in, 4 + (ssize_t)len)) == NULL)
			goto bad;
		switch (h[4]) {
		case BIN_HEADER:
			r = conn_header(c, f + 5, len - 1);
			break;
		case BIN_DATA:
			r = conn_data(c, f + 5, len - 1);
			break;
		case BIN_EVENT:
			r = conn_event(c, f + 5, len - 1);
			break;
		default:
			r = -1;
		}
		if (r == -1)
			goto bad;
		if (c->bev != NULL)
			evbuffer_drain(in, 4 + (size_t)len);
	}
	return;
bad:
	log_warnx("%s: bad frame from eegd; reconnecting", c->addr.name);
	conn_lost(c, 0, "bad frame");
}

/* Connected, EOF, error or a connect timeout. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct eegcat_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
		conn_connected(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_lost(c, ETIMEDOUT, NULL);
	else if (what & BEV_EVENT_ERROR)
		conn_lost(c, errno ? errno : ECONNRESET, NULL);
	else
		conn_lost(c, 0, NULL);
}

/* Create a connection and start connecting. */
struct eegcat_conn *
eegcat_conn_new(struct event_base *base, const struct eegcat_addr *a,
    const struct eegcat_conn_opts *opts, const struct eegcat_conn_cb *cb,
    void *arg, char *err, size_t errlen)
{
	struct eegcat_conn *c;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base = base;
	c->addr = *a;
	c->opts = *opts;
	c->cb = *cb;
	c->arg = arg;
	c->backoff_ms = EEGCAT_CONN_BACKOFF_MIN_MS;
	c->retry_ev = evtimer_new(base, conn_retry_cb, c);
	c->reply_ev = evtimer_new(base, conn_reply_timeout_cb, c);
	if (c->retry_ev == NULL || c->reply_ev == NULL) {
		snprintf(err, errlen, "out of memory");
		eegcat_conn_free(c);
		return NULL;
	}
	conn_connect(c);
	return c;
}

/* Stop delivering: no callback is made after this returns. */
void
eegcat_conn_stop(struct eegcat_conn *c)
{
	c->stopped = 1;
}

/* Close the connection and free it. */
void
eegcat_conn_free(struct eegcat_conn *c)
{
	if (c == NULL)
		return;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->retry_ev != NULL)
		event_free(c->retry_ev);
	if (c->reply_ev != NULL)
		event_free(c->reply_ev);
	free(c->times);
	free(c->vals);
	free(c);
}
