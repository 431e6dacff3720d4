/* board_cyton.c: the OpenBCI Cyton/Daisy session: handshake, read, commands. */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "board_cyton.h"
#include "cyton_parse.h"
#include "log.h"
#include "sample.h"
#include "serial.h"
#include "timeutil.h"

#define CYTON_BAUD 115200
#define CYTON_REPLY_MAX 4096

/*
 * The session.  The parser lives as long as the board, so counters and
 * the gains set by clients survive a reconnect.  lost_mono_us is when the
 * last sample before a loss arrived; after a reconnect the first read
 * turns the time away into a board_lost gap.
 */
struct cyton {
	struct board b;
	char device[PATH_MAX];
	uint8_t gains[CYTON_MAX_CHANNELS];
	struct serial *port;
	struct cyton_parse parse;
	int parsed;			/* parse was initialised */
	int daisy;
	int64_t last_data_us;		/* monotonic: the last sample */
	int ever_streamed;
	int pending_lost;		/* announce the time away on next data */
	int64_t lost_mono_us;
	int64_t stop_sent_us;		/* 's' of the last handshake */
	int64_t start_sent_us;		/* 'b' of the last handshake */
	uint64_t seen_samples;		/* parse.stats.samples at last check */
};

/* Read until "$$$" or the deadline; returns 0 with the reply in buf. */
static int
cyton_read_reply(struct cyton *c, char *buf, size_t len, unsigned ms,
    char *err, size_t errlen)
{
	int64_t end = timeutil_monotonic_us() + (int64_t)ms * 1000;
	size_t n = 0;

	buf[0] = '\0';
	while (timeutil_monotonic_us() < end) {
		ssize_t r = serial_read(c->port, buf + n, len - 1 - n, 100, err,
		    errlen);
		if (r < 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		/* The reply may hold NULs: look for $$$ in the bytes. */
		for (size_t i = 0; i + 2 < n; i++)
			if (buf[i] == '$' && buf[i + 1] == '$' && buf[i + 2] == '$')
				return 0;
		if (n >= len - 1) {
			memmove(buf, buf + n / 2, n - n / 2);
			n -= n / 2;
		}
	}
	snprintf(err, errlen, "no answer ending in $$$ within %u ms (is this "
	    "an OpenBCI dongle?)", ms);
	return -1;
}

/* Read and drop whatever arrives until the line is quiet for 50 ms. */
static int
cyton_drain(struct cyton *c, char *err, size_t errlen)
{
	char buf[512];
	int64_t end = timeutil_monotonic_us() + 500000;

	while (timeutil_monotonic_us() < end) {
		ssize_t r = serial_read(c->port, buf, sizeof buf, 50, err,
		    errlen);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
	}
	return 0;
}

/* Pick out "Firmware: ..." from a reset reply. */
static void
cyton_firmware(const char *reply, char *out, size_t len)
{
	const char *p = strstr(reply, "Firmware:");
	size_t n = 0;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += 9;
	while (*p == ' ')
		p++;
	while (p[n] != '\0' && p[n] != '\n' && p[n] != '\r' && p[n] != '$' &&
	    n + 1 < len && (unsigned char)p[n] >= 0x20 &&
	    (unsigned char)p[n] < 0x7f)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

/*
 * Send x...X for every channel whose wanted gain is not the default 24
 * (the board is idle: each gets a reply ending in $$$), and track it.
 */
static int
cyton_set_gains(struct cyton *c, char *err, size_t errlen)
{
	static const char chans[] = "12345678QWERTYUI";
	static const unsigned codes[] = { 1, 2, 4, 6, 8, 12, 24 };
	char cmd[10], reply[256];
	unsigned nch = c->daisy ? 16 : 8;

	for (unsigned i = 0; i < nch; i++) {
		unsigned g = c->gains[i], code = 6;
		if (g == 0 || g == CYTON_GAIN_DEFAULT)
			continue;
		for (unsigned k = 0; k < 7; k++)
			if (codes[k] == g)
				code = k;
		/* Power on, the gain, normal input, in BIAS, SRB2 on, SRB1 off. */
		snprintf(cmd, sizeof cmd, "x%c0%u0110X", chans[i], code);
		if (serial_write(c->port, cmd, 9, 1000, err, errlen) == -1 ||
		    cyton_read_reply(c, reply, sizeof reply, 1000, err,
		    errlen) == -1)
			return -1;
		cyton_parse_command(&c->parse, cmd, 9);
	}
	return 0;
}

/* Fill the description for a Cyton or a Cyton+Daisy. */
static void
cyton_describe(struct cyton *c)
{
	struct board_desc *d = &c->b.desc;
	size_t off = 0;

	snprintf(d->name, sizeof d->name, c->daisy ? "cyton-daisy" : "cyton");
	d->rate = c->daisy ? CYTON_RATE / 2 : CYTON_RATE;
	d->channels = c->daisy ? 16 : 8;
	d->max_channels = CYTON_MAX_CHANNELS;
	/* Full scale of the ADS1299 at the smallest gain in use: 4.5 V / gain. */
	d->range_uv = 0;
	for (unsigned i = 0; i < d->channels; i++) {
		unsigned g = cyton_parse_gain(&c->parse, i);
		double r = 4.5e6 / (g ? g : CYTON_GAIN_DEFAULT);
		if (r > d->range_uv)
			d->range_uv = r;
	}
	d->labels[0] = '\0';
	for (unsigned k = 1; k <= d->channels; k++)
		off += (size_t)snprintf(d->labels + off, sizeof d->labels - off,
		    "%sch%u", k > 1 ? "," : "", k);
}

/* Open, handshake and start streaming; -1 with err. */
static int
cyton_start(struct board *b, char *err, size_t errlen)
{
	struct cyton *c = (struct cyton *)b;
	char path[PATH_MAX], reply[CYTON_REPLY_MAX];
	const char *dev = c->device;
	int daisy;

	if (strcmp(dev, "auto") == 0) {
		if (serial_find_dongle(path, sizeof path, err, errlen) == -1)
			return -1;
		dev = path;
	}
	if ((c->port = serial_open(dev, CYTON_BAUD, err, errlen)) == NULL)
		return -1;
	/* Stop a stream left running, drop its bytes, reset, read to $$$. */
	c->stop_sent_us = timeutil_monotonic_us();
	if (serial_write(c->port, "s", 1, 1000, err, errlen) == -1 ||
	    cyton_drain(c, err, errlen) == -1 ||
	    serial_write(c->port, "v", 1, 1000, err, errlen) == -1 ||
	    cyton_read_reply(c, reply, sizeof reply, CYTON_HANDSHAKE_MS, err,
	    errlen) == -1)
		goto fail;
	if (strstr(reply, "Failure: Communications timeout") != NULL) {
		snprintf(err, errlen, "board off or out of range: the dongle "
		    "answered \"Failure: Communications timeout\" (switch the "
		    "board on, bring it closer, check the radio channel)");
		goto fail;
	}
	daisy = strstr(reply, "On Daisy") != NULL;
	cyton_firmware(reply, c->b.desc.firmware, sizeof c->b.desc.firmware);
	/*
	 * Keep the parser (its totals and rate estimate) across reconnects;
	 * start afresh only when the board changed shape.
	 */
	if (!c->parsed || daisy != c->daisy) {
		/* A new shape starts a new parser; the totals carry on. */
		struct cyton_stats keep = c->parse.stats;
		cyton_parse_init(&c->parse, daisy);
		if (c->parsed)
			c->parse.stats = keep;
	}
	c->daisy = daisy;
	c->parsed = 1;
	/* 'v' reset the board's gains to 24: set the wanted ones again. */
	cyton_parse_reset_gains(&c->parse);
	if (cyton_set_gains(c, err, errlen) == -1)
		goto fail;
	cyton_describe(c);
	log_notice("board %s on %s: firmware %s, %u channels at %u Hz",
	    c->b.desc.name, serial_path(c->port),
	    c->b.desc.firmware[0] ? c->b.desc.firmware : "unknown",
	    c->b.desc.channels, c->b.desc.rate);
	cyton_parse_start(&c->parse);
	if (serial_write(c->port, "b", 1, 1000, err, errlen) == -1)
		goto fail;
	c->last_data_us = c->start_sent_us = timeutil_monotonic_us();
	c->seen_samples = c->parse.stats.samples;
	if (c->ever_streamed)
		atomic_fetch_add(&c->b.counters.reconnects, 1);
	return 0;
fail:
	serial_close(c->port);
	c->port = NULL;
	return -1;
}

/* Copy the parser's counters where the loop can read them. */
static void
cyton_publish(struct cyton *c)
{
	struct board_counters *k = &c->b.counters;
	const struct cyton_stats *st = &c->parse.stats;

	atomic_store_explicit(&k->bytes_discarded, st->bytes_discarded,
	    memory_order_relaxed);
	atomic_store_explicit(&k->bad_packets, st->bad_packets,
	    memory_order_relaxed);
	atomic_store_explicit(&k->unpaired, st->unpaired, memory_order_relaxed);
	atomic_store_explicit(&k->restarts, st->restarts, memory_order_relaxed);
	atomic_store_explicit(&k->rate_mhz, (uint64_t)(dejitter_rate(
	    &c->parse.dj) * 1000 + 0.5), memory_order_relaxed);
}

/* Read for up to 100 ms and feed the parser; -1 when the board is lost. */
static int
cyton_read(struct board *b, struct board_sink *sink, char *err, size_t errlen)
{
	struct cyton *c = (struct cyton *)b;
	uint8_t buf[4096];
	ssize_t n;
	int64_t now;

	n = serial_read(c->port, buf, sizeof buf, 100, err, errlen);
	if (n < 0)
		goto lost;
	now = timeutil_monotonic_us();
	if (n > 0) {
		if (c->pending_lost) {
			/*
			 * The time away, in samples, minus the one arriving;
			 * the board sampled nothing between 's' and 'b' of
			 * the handshake, so that time is not counted.
			 */
			int64_t us = now - c->lost_mono_us;
			if (c->stop_sent_us > c->lost_mono_us &&
			    c->start_sent_us >= c->stop_sent_us)
				us -= c->start_sent_us - c->stop_sent_us;
			double away = (double)us / 1e6 * c->b.desc.rate;
			uint64_t missing = away > 1.5 ? (uint64_t)(away - 0.5) : 0;
			c->pending_lost = 0;
			if (missing > 0)
				sink->gap(sink, missing, GAP_BOARD_LOST);
		}
		cyton_parse_feed(&c->parse, buf, (size_t)n, now,
		    timeutil_realtime_us(), sink);
		if (c->parse.stats.samples != c->seen_samples) {
			c->seen_samples = c->parse.stats.samples;
			c->last_data_us = now;
			c->ever_streamed = 1;
		}
		cyton_publish(c);
	}
	if (now - c->last_data_us > (int64_t)CYTON_STALL_MS * 1000) {
		snprintf(err, errlen, "no packet for %d ms", CYTON_STALL_MS);
		goto lost;
	}
	return 0;
lost:
	if (c->ever_streamed && !c->pending_lost) {
		c->pending_lost = 1;
		c->lost_mono_us = c->last_data_us;
	}
	return -1;
}

/* Send a client's board command, after the allow-list check. */
static int
cyton_command(struct board *b, const char *cmd, char *err, size_t errlen)
{
	struct cyton *c = (struct cyton *)b;
	size_t len = strlen(cmd);

	if (c->port == NULL) {
		snprintf(err, errlen, "the board is not connected");
		return -1;
	}
	if (cyton_parse_command_check(&c->parse, cmd, len, err, errlen) == -1)
		return -1;
	if (serial_write(c->port, cmd, len, 1000, err, errlen) == -1)
		return -1;
	cyton_parse_command(&c->parse, cmd, len);
	/* Keep gains set by clients across a reconnect. */
	for (unsigned i = 0; i < CYTON_MAX_CHANNELS; i++)
		c->gains[i] = (uint8_t)cyton_parse_gain(&c->parse, i);
	log_info("board command sent: %s", cmd);
	return 0;
}

/* Stop streaming (best effort) and close the port. */
static void
cyton_stop(struct board *b)
{
	struct cyton *c = (struct cyton *)b;
	char err[64];

	if (c->port == NULL)
		return;
	(void)serial_write(c->port, "s", 1, 200, err, sizeof err);
	serial_close(c->port);
	c->port = NULL;
}

/* Free the board. */
static void
cyton_free(struct board *b)
{
	cyton_stop(b);
	free(b);
}

static const struct board_ops cyton_ops = {
	.name = "cyton",
	.start = cyton_start,
	.read = cyton_read,
	.command = cyton_command,
	.stop = cyton_stop,
	.free = cyton_free,
};

/* Create a Cyton board on device with per-channel gains. */
struct board *
board_cyton_new(const char *device, const uint8_t *gains)
{
	struct cyton *c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->b.ops = &cyton_ops;
	snprintf(c->device, sizeof c->device, "%s", device);
	for (unsigned i = 0; i < CYTON_MAX_CHANNELS; i++)
		c->gains[i] = gains != NULL ? gains[i] : 0;
	cyton_parse_init(&c->parse, 0);
	cyton_describe(c);
	return &c->b;
}
