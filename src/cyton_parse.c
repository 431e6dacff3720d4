/* cyton_parse.c: OpenBCI Cyton packets to samples and gaps, without I/O. */
#include "autoconfig.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "cyton_parse.h"
#include "dejitter.h"
#include "sample.h"

#define CYTON_HEADER 0xA0
#define CYTON_VREF 4.5
#define CYTON_FULL_SCALE 8388607.0	/* 2^23 - 1 */
#define CYTON_G_PER_COUNT (0.002 / 16)
#define CYTON_STEP_US 1000		/* realtime offset change = a step */

/* ADS1299 gains by the x...X GAIN digit '0'..'6'. */
static const unsigned cyton_gains[] = { 1, 2, 4, 6, 8, 12, 24 };

/* x...X channel characters, channels 1..16 in order. */
static const char cyton_chan_chars[] = "12345678QWERTYUI";
/* Channel off and on characters, channels 1..16 in order. */
static const char cyton_off_chars[] = "12345678qwertyui";
static const char cyton_on_chars[] = "!@#$%^&*QWERTYUI";
/* Test signal commands. */
static const char cyton_test_chars[] = "0-=p[]";

/* Return the sign-extended 24-bit big-endian value at b. */
int32_t
cyton_parse_int24(const uint8_t *b)
{
	uint32_t v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];

	if (v & 0x800000)
		v |= 0xFF000000;
	return (int32_t)v;
}

/* Return the 16-bit big-endian value at b. */
static int16_t
cyton_parse_int16(const uint8_t *b)
{
	return (int16_t)(uint16_t)((unsigned)b[0] << 8 | b[1]);
}

/* Return counts in uV at a gain. */
double
cyton_parse_uv(int32_t counts, unsigned gain)
{
	return (double)counts * CYTON_VREF / CYTON_FULL_SCALE /
	    (double)(gain ? gain : CYTON_GAIN_DEFAULT) * 1e6;
}

/* Return the packets missing for a counter jump of m0 after elapsed_us. */
uint64_t
cyton_parse_missing(unsigned m0, int64_t elapsed_us, double rate)
{
	double est, slack, turns;

	if (elapsed_us <= 0 || !(rate > 0))
		return m0;
	/* Packets the time says are missing; cap absurd values. */
	est = (double)elapsed_us * rate / 1e6 - 1;
	if (est > 1e12)
		est = 1e12;
	slack = CYTON_GAP_SLACK_US * rate / 1e6;
	turns = floor((est - m0 + slack) / 256);
	if (turns <= 0)
		return m0;
	return m0 + 256 * (uint64_t)turns;
}

/* Set channel ch's (0-based) gain: 1, 2, 4, 6, 8, 12 or 24; -1 if not. */
int
cyton_parse_set_gain(struct cyton_parse *p, unsigned ch, unsigned gain)
{
	size_t i;

	if (ch >= CYTON_MAX_CHANNELS)
		return -1;
	for (i = 0; i < sizeof cyton_gains / sizeof cyton_gains[0]; i++)
		if (cyton_gains[i] == gain)
			break;
	if (i == sizeof cyton_gains / sizeof cyton_gains[0])
		return -1;
	p->gain[ch] = (uint8_t)gain;
	p->uv[ch] = cyton_parse_uv(1, gain);
	return 0;
}

/* Return channel ch's (0-based) gain. */
unsigned
cyton_parse_gain(const struct cyton_parse *p, unsigned ch)
{
	return ch < CYTON_MAX_CHANNELS ? p->gain[ch] : 0;
}

/* Reset every gain to 24, as 'd' and 'v' do. */
void
cyton_parse_reset_gains(struct cyton_parse *p)
{
	for (unsigned ch = 0; ch < CYTON_MAX_CHANNELS; ch++)
		cyton_parse_set_gain(p, ch, CYTON_GAIN_DEFAULT);
}

/* Initialise for a Cyton (daisy 0, 8 channels) or Cyton+Daisy (16). */
void
cyton_parse_init(struct cyton_parse *p, int daisy)
{
	memset(p, 0, sizeof *p);
	p->daisy = daisy != 0;
	p->nch = p->daisy ? CYTON_MAX_CHANNELS : CYTON_CHANNELS;
	cyton_parse_reset_gains(p);
	dejitter_init(&p->dj, p->daisy ? CYTON_RATE / 2.0 : CYTON_RATE);
}

/* Forget the stream position: the next packet is a stream's first. */
static void
cyton_parse_new_stream(struct cyton_parse *p)
{
	p->have_pkt = 0;
	p->have_half = 0;
	dejitter_rebase(&p->dj);
}

/* A stream (re)starts ('b' sent): forget partial bytes and counters. */
void
cyton_parse_start(struct cyton_parse *p)
{
	p->len = 0;
	p->synced = 0;
	p->dirty = 0;
	p->restart_window = 0;
	p->accel_have = 0;
	cyton_parse_new_stream(p);
}

/* Arm the restart detector (the board restarts its counter soon). */
void
cyton_parse_expect_restart(struct cyton_parse *p)
{
	p->restart_window = CYTON_RESTART_WINDOW;
}

/* Return the 0-based channel of an x...X channel character, or -1. */
static int
cyton_parse_chan(char c)
{
	const char *s = c ? strchr(cyton_chan_chars, c) : NULL;

	return s ? (int)(s - cyton_chan_chars) : -1;
}

/* Apply what the firmware does with a command string sent while streaming. */
int
cyton_parse_command(struct cyton_parse *p, const char *cmd, size_t len)
{
	int armed = 0;

	for (size_t i = 0; i < len; i++) {
		char c = cmd[i];
		size_t k;
		int ch;

		switch (c) {
		case 'x':
			/* The firmware waits up to 1 s for the rest: ignore. */
			if (len - i < 9)
				return armed;
			/* An early X aborts; so does a 9th character not X. */
			for (k = 1; k < 8 && cmd[i + k] != 'X'; k++)
				;
			if (k < 8 || cmd[i + 8] != 'X') {
				i += k;
				continue;
			}
			if ((ch = cyton_parse_chan(cmd[i + 1])) < 0)
				ch = 0;
			if (cmd[i + 3] >= '0' && cmd[i + 3] <= '6')
				cyton_parse_set_gain(p, (unsigned)ch,
				    cyton_gains[cmd[i + 3] - '0']);
			else
				cyton_parse_set_gain(p, (unsigned)ch,
				    CYTON_GAIN_DEFAULT);
			i += 8;
			armed = 1;
			break;
		case 'z':
			/* Lead-off settings: z CH P N Z. */
			if (len - i < 5)
				return armed;
			i += 4;
			armed = 1;
			break;
		case 'd':
			cyton_parse_reset_gains(p);
			armed = 1;
			break;
		case 'v':
			cyton_parse_reset_gains(p);
			break;
		case 'b':
			armed = 1;
			break;
		case '~':
			i++;
			armed = 1;
			break;
		case '/':
		case '`':
		case (char)0xF0:
			i++;		/* one argument character */
			break;
		default:
			if (c != '\0' && (strchr(cyton_off_chars, c) ||
			    strchr(cyton_on_chars, c) ||
			    strchr(cyton_test_chars, c)))
				armed = 1;
			break;
		}
	}
	if (armed)
		cyton_parse_expect_restart(p);
	return armed;
}

/* Check one x...X command at cmd (9 characters); -1 with err if bad. */
static int
cyton_parse_check_x(const struct cyton_parse *p, const char *cmd, size_t len,
    char *err, size_t errlen)
{
	static const char *const what[] = { "channel", "power", "gain",
	    "input type", "bias", "SRB2", "SRB1" };
	static const char *const ok[] = { NULL, "01", "0123456", "01234567",
	    "01", "01", "01" };
	int ch;

	if (len < 9 || cmd[8] != 'X') {
		snprintf(err, errlen, "x command must be x, 7 settings, X "
		    "(9 characters)");
		return -1;
	}
	if ((ch = cyton_parse_chan(cmd[1])) < 0 ||
	    (ch >= CYTON_CHANNELS && !p->daisy)) {
		snprintf(err, errlen, "x command: bad channel '%c'%s", cmd[1],
		    ch >= CYTON_CHANNELS ? " (no Daisy)" : "");
		return -1;
	}
	for (int k = 1; k < 7; k++) {
		if (cmd[k + 1] == '\0' || !strchr(ok[k], cmd[k + 1])) {
			snprintf(err, errlen, "x command: bad %s '%c'",
			    what[k], cmd[k + 1]);
			return -1;
		}
	}
	return 0;
}

/* Check a client's board command against the allow-list. */
int
cyton_parse_command_check(const struct cyton_parse *p, const char *cmd,
    size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "empty board command");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)cmd[i];
		const char *s;

		if (c == 'x') {
			if (cyton_parse_check_x(p, cmd + i, len - i, err,
			    errlen) == -1)
				return -1;
			i += 8;
			continue;
		}
		if (c == '`') {
			if (i + 1 >= len) {
				snprintf(err, errlen, "marker ` needs a "
				    "character");
				return -1;
			}
			i++;
			continue;
		}
		if (c == 'd' || (c != '\0' && strchr(cyton_test_chars, c)))
			continue;
		if (c != '\0' && ((s = strchr(cyton_off_chars, c)) != NULL ||
		    (s = strchr(cyton_on_chars, c)) != NULL)) {
			int n = (int)(strchr(cyton_off_chars, c) != NULL ?
			    s - cyton_off_chars : s - cyton_on_chars);

			if (n >= CYTON_CHANNELS && !p->daisy) {
				snprintf(err, errlen, "channel %d needs a "
				    "Daisy", n + 1);
				return -1;
			}
			continue;
		}
		switch (c) {
		case 'b':
		case 's':
		case 'v':
			snprintf(err, errlen, "'%c' is refused: the daemon "
			    "owns streaming", c);
			break;
		case '~':
		case 'c':
		case 'C':
		case '/':
			snprintf(err, errlen, "'%c' is refused: it changes the "
			    "rate, channel count or board mode", c);
			break;
		case '<':
		case '>':
			snprintf(err, errlen, "'%c' is refused: time stamps "
			    "change the packet format", c);
			break;
		case 0xF0:
			snprintf(err, errlen, "baud rate commands are refused");
			break;
		default:
			if (c >= 0x20 && c < 0x7F)
				snprintf(err, errlen, "'%c' is not an allowed "
				    "board command", c);
			else
				snprintf(err, errlen, "byte 0x%02X is not an "
				    "allowed board command", c);
			break;
		}
		return -1;
	}
	return 0;
}

/* Track the realtime - monotonic offset; note steps. */
static void
cyton_parse_clock(struct cyton_parse *p, int64_t mono_us, int64_t real_us)
{
	int64_t off = real_us - mono_us;

	if (p->have_off && (off - p->off_us > CYTON_STEP_US ||
	    p->off_us - off > CYTON_STEP_US)) {
		p->stats.clock_steps++;
		p->stepped = 1;
	}
	p->have_off = 1;
	p->off_us = off;
}

/* Update the held accelerometer reading from packet q. */
static void
cyton_parse_accel(struct cyton_parse *p, const uint8_t *q)
{
	unsigned axis;

	switch (q[32]) {
	case 0xC0:
		if (q[26] | q[27] | q[28] | q[29] | q[30] | q[31]) {
			for (axis = 0; axis < 3; axis++)
				p->accel[axis] = cyton_parse_int16(q + 26 +
				    2 * axis);
			p->accel_have = 7;
		}
		break;
	case 0xC3:
	case 0xC4:
		if ((axis = q[1] % 10) >= 7) {
			p->accel[axis - 7] = cyton_parse_int16(q + 26);
			p->accel_have |= 1u << (axis - 7);
		}
		break;
	default:
		p->accel_have = 0;
		break;
	}
}

/*
 * Emit one sample: a gap first if samples are missing, then the record.
 * lo holds channels 1-8 (and the footer), hi channels 9-16 or NULL.
 */
static void
cyton_parse_emit(struct cyton_parse *p, const uint8_t *lo, const uint8_t *hi,
    uint64_t missing, int64_t mono_us, int64_t real_us,
    struct board_sink *sink)
{
	struct record *r;
	int64_t t;

	if (missing > 0) {
		sink->gap(sink, missing, p->dirty ? GAP_BAD_PACKET :
		    GAP_BOARD_LOSS);
		p->stats.gaps++;
		p->stats.lost += missing;
	}
	cyton_parse_clock(p, mono_us, real_us);
	t = dejitter_update(&p->dj, p->sample, p->bound_us) + p->off_us;
	if (p->have_time && !p->stepped && t <= p->last_time_us)
		t = p->last_time_us + 1;
	p->stepped = 0;
	p->have_time = 1;
	p->last_time_us = t;

	r = sink->scratch(sink);
	r->type = REC_SAMPLE;
	r->nch = p->nch;
	r->count = 0;
	r->reason = 0;
	r->time_us = t;
	r->time_raw_us = real_us;
	r->aux_footer = lo[32];
	memcpy(r->aux_raw, lo + 26, sizeof r->aux_raw);
	r->has_accel = p->accel_have == 7;
	for (unsigned a = 0; a < 3; a++)
		r->accel[a] = r->has_accel ?
		    (float)(p->accel[a] * CYTON_G_PER_COUNT) : 0.0f;
	for (unsigned k = 0; k < CYTON_CHANNELS; k++)
		r->ch[k] = (float)(cyton_parse_int24(lo + 2 + 3 * k) * p->uv[k]);
	if (hi != NULL)
		for (unsigned k = 0; k < CYTON_CHANNELS; k++)
			r->ch[CYTON_CHANNELS + k] = (float)(cyton_parse_int24(
			    hi + 2 + 3 * k) * p->uv[CYTON_CHANNELS + k]);
	p->dirty = 0;
	p->stats.samples++;
	sink->sample(sink, r);
}

/* Number packet q, merge Daisy halves, and emit what is complete. */
static size_t
cyton_parse_packet(struct cyton_parse *p, const uint8_t *q, int64_t mono_us,
    int64_t real_us, struct board_sink *sink)
{
	unsigned counter = q[1];
	uint64_t n = counter, f;
	int first = 0;

	p->stats.packets++;
	if (p->have_pkt) {
		unsigned m0 = (counter - (unsigned)(p->pkt + 1)) & 0xFF;
		int64_t el = mono_us - p->pkt_us;
		uint64_t m;

		/* Counter 0 after a jump: a restart, armed or too quick. */
		if (counter == 0 && m0 != 0 && (p->restart_window > 0 ||
		    (double)el * CYTON_RATE / 1e6 - 1 +
		    CYTON_GAP_SLACK_US * CYTON_RATE / 1e6 < m0)) {
			p->stats.restarts++;
			cyton_parse_new_stream(p);
		} else {
			m = cyton_parse_missing(m0, el, CYTON_RATE);
			if (m >= 256)
				p->stats.long_gaps++;
			p->stats.packets_lost += m;
			n = p->pkt + 1 + m;
		}
	}
	if (p->restart_window > 0)
		p->restart_window--;
	if (!p->have_pkt) {
		p->have_pkt = 1;
		first = 1;
	}
	p->pkt = n;
	p->pkt_us = mono_us;
	cyton_parse_accel(p, q);

	if (!p->daisy) {
		uint64_t missing = first ? 0 : n - p->sample - 1;

		p->sample = n;
		cyton_parse_emit(p, q, NULL, missing, mono_us, real_us, sink);
		return 1;
	}

	/* Daisy: even n and odd n + 1 are frame n / 2. */
	f = n >> 1;
	if (first) {
		/* Invalid (no average yet); its frame is consumed. */
		p->sample = f;
		return 0;
	}
	if ((n & 1) == 0) {
		if (p->have_half)
			p->stats.unpaired++;
		memcpy(p->half, q, CYTON_PACKET_LEN);
		p->half_pkt = n;
		p->have_half = 1;
		return 0;
	}
	if (f <= p->sample)
		return 0;	/* the partner of an ignored first packet */
	if (p->have_half && p->half_pkt == n - 1) {
		uint64_t missing = f - p->sample - 1;

		p->have_half = 0;
		p->sample = f;
		cyton_parse_emit(p, q, p->half, missing, mono_us, real_us,
		    sink);
		return 1;
	}
	p->stats.unpaired++;
	if (p->have_half) {
		p->stats.unpaired++;
		p->have_half = 0;
	}
	return 0;
}

/* Return 1 if a packet starts at buf[o], 0 if not, -1 if more bytes decide. */
static int
cyton_parse_frames(const struct cyton_parse *p, size_t o)
{
	const uint8_t *q = p->buf + o;

	if (q[0] != CYTON_HEADER || (q[32] & 0xF0) != 0xC0)
		return 0;
	/* The expected counter confirms it; else the next header must. */
	if (p->have_pkt && q[1] == (uint8_t)(p->pkt + 1))
		return 1;
	if (p->len - o < CYTON_PACKET_LEN + 1)
		return -1;
	return q[CYTON_PACKET_LEN] == CYTON_HEADER;
}

/*
 * Return the latest time packet o can have been sampled at: its arrival,
 * but also a period before each whole packet's worth of bytes read after
 * it at mono_us (rest of them not yet in the buffer).  Bursts thus give
 * the dejitter a bound for every packet, not only the last.
 */
static int64_t
cyton_parse_bound(const struct cyton_parse *p, size_t o, size_t rest,
    int64_t mono_us)
{
	size_t after = p->len - o - CYTON_PACKET_LEN + rest;
	double period = 1e6 / dejitter_rate(&p->dj) / (p->daisy ? 2 : 1);
	int64_t t = mono_us - (int64_t)((double)(after / CYTON_PACKET_LEN) *
	    period);

	return t < p->mono[o + 32] ? t : p->mono[o + 32];
}

/* Take every packet the buffer holds; slide one byte past anything else. */
static size_t
cyton_parse_scan(struct cyton_parse *p, size_t rest, int64_t mono_us,
    struct board_sink *sink)
{
	size_t o = 0, emitted = 0;
	int ok;

	while (p->len - o >= CYTON_PACKET_LEN &&
	    (ok = cyton_parse_frames(p, o)) != -1) {
		if (ok) {
			/* A packet arrived with its last byte. */
			p->bound_us = cyton_parse_bound(p, o, rest, mono_us);
			emitted += cyton_parse_packet(p, p->buf + o,
			    p->mono[o + 32], p->real[o + 32], sink);
			o += CYTON_PACKET_LEN;
			p->synced = 1;
			continue;
		}
		if (p->synced)
			p->stats.bad_packets++;
		p->synced = 0;
		p->dirty = 1;
		p->stats.bytes_discarded++;
		o++;
	}
	p->len -= o;
	memmove(p->buf, p->buf + o, p->len);
	memmove(p->mono, p->mono + o, p->len * sizeof p->mono[0]);
	memmove(p->real, p->real + o, p->len * sizeof p->real[0]);
	return emitted;
}

/* Feed len bytes read at mono_us and real_us; emit to sink. */
size_t
cyton_parse_feed(struct cyton_parse *p, const uint8_t *buf, size_t len,
    int64_t mono_us, int64_t real_us, struct board_sink *sink)
{
	size_t emitted = 0;

	while (len > 0) {
		size_t n = CYTON_BUF_LEN - p->len;

		if (n > len)
			n = len;
		memcpy(p->buf + p->len, buf, n);
		for (size_t i = p->len; i < p->len + n; i++) {
			p->mono[i] = mono_us;
			p->real[i] = real_us;
		}
		p->len += n;
		buf += n;
		len -= n;
		emitted += cyton_parse_scan(p, len, mono_us, sink);
	}
	return emitted;
}
