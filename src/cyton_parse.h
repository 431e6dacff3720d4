/*
 * cyton_parse.h: OpenBCI Cyton (and Cyton+Daisy) bytes to samples, no I/O.
 *
 * Feed the bytes read from the serial port, in chunks of any size, with
 * the time they were read; the parser emits samples and gaps through a
 * board_sink (board.h).  See ../shared/docs/cyton.md for the protocol.
 *
 * Framing.  A packet is 33 bytes: 0xA0, an 8-bit sample counter, 8 x 24-bit
 * big-endian channels, 6 aux bytes, a footer 0xC0..0xCF.  A packet is
 * accepted only with 0xA0 at its start and a 0xCX footer; otherwise the
 * parser slides one byte and counts it in bytes_discarded.  A candidate
 * must also carry the expected counter (the previous one + 1) or be
 * followed by another 0xA0, so that a 0xA0 inside garbage or corrupted
 * data does not frame a false packet.  So the first packet of a stream,
 * and a packet after a loss, is emitted when the next byte arrives (with
 * its own arrival time, that of its last byte).  bad_packets counts the
 * times sync was lost at a packet boundary.  The buffer is bounded.
 *
 * Loss.  The counter wraps at 256, so a jump of m0 = (counter - expected)
 * mod 256 may hide whole turns.  cyton_parse_missing() adds the turns the
 * arrival time implies (see there).  Lost samples become one
 * sink->gap(count, reason) just before the next sample: reason
 * GAP_BAD_PACKET when bytes were discarded since the previous sample
 * (corruption), GAP_BOARD_LOSS otherwise.
 *
 * Daisy.  The firmware alternates packets at 250 Hz: an odd counter
 * carries channels 1-8, an even counter channels 9-16.  Even packet n and
 * odd packet n + 1 make one 16-channel frame at 125 Hz, committed on the
 * odd packet only when odd - 1 == even; any other half is dropped and
 * counted in unpaired.  seq then counts frames, and a frame missing
 * either half is a gap of one.  A frame's footer and aux bytes are the
 * odd packet's.
 *
 * Stream start.  Call cyton_parse_start() after sending 'b'.  The firmware
 * restarts its counter at 0 on every stream start; with a Daisy the first
 * packet (counter 0) carries no valid average, so it is ignored and its
 * odd partner is dropped silently (not counted as unpaired).  The
 * firmware also restarts its stream (counter 0, a pause of a few ms) when
 * it gets x...X, d, a channel on/off or a test-signal command while
 * streaming: cyton_parse_command() arms a detector so that counter 0 in
 * the next 64 packets counts as a restart, not as a loss.  A jump to
 * counter 0 in much less time than the jump implies is also taken as an
 * (unannounced) restart.  A restart is no gap.
 *
 * Values.  Channel: sign-extended 24-bit counts x 4.5 / (2^23 - 1) / gain
 * x 1e6 uV, gain per channel (default 24; x...X sets it, d and v reset it).
 * Footer C0: the accelerometer, 3 x int16 big-endian x 0.002 / 16 g; the
 * firmware sends a reading in about one packet in ten and zeros between,
 * so the last non-zero reading is held and has_accel says one is held.
 * C3/C4: bytes 26-27 are accel axis X, Y, Z when counter % 10 is 7, 8, 9
 * (held per axis; has_accel once all three are known).  Other footers
 * (C1 analog/digital/marker, C2, C5/C6 time sync with aux, C7-CF) carry
 * no accelerometer: has_accel is 0 and the hold is cleared.  Every record
 * carries aux_footer and the 6 raw aux_raw bytes as received.
 *
 * Times.  Each feed passes CLOCK_MONOTONIC and CLOCK_REALTIME readings
 * taken at the read.  time_raw_us is the realtime arrival.  time_us is a
 * dejittered time (dejitter.h) fitted on the monotonic clock against the
 * sample number (frames with a Daisy), then moved to realtime by the
 * packet's realtime - monotonic offset.  So loss estimates and the fit
 * never see realtime steps (NTP); time_us is monotonic except across a
 * realtime step of more than 1 ms, which it follows.  The fit gets, for
 * each packet, the latest time it can have been sampled: its arrival, less
 * one (estimated) packet period per whole packet of bytes read with or
 * after it in the same read, since those were sent later.
 *
 * Record order.  For each sample the parser calls sink->gap() first when
 * samples were lost, then sink->scratch(), fills it, and sink->sample():
 * the reader's gap() reuses the scratch record.
 */
#ifndef EEGD_CYTON_PARSE_H
#define EEGD_CYTON_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "dejitter.h"

#define CYTON_PACKET_LEN 33
#define CYTON_CHANNELS 8		/* per packet */
#define CYTON_MAX_CHANNELS 16		/* with a Daisy */
#define CYTON_RATE 250			/* packets per second */
#define CYTON_GAIN_DEFAULT 24
#define CYTON_BUF_LEN (2 * CYTON_PACKET_LEN)
#define CYTON_RESTART_WINDOW 64		/* packets a restart is expected in */
#define CYTON_GAP_SLACK_US 128000	/* see cyton_parse_missing() */

struct board_sink;

/* Totals since cyton_parse_init(); the names follow the status counters. */
struct cyton_stats {
	uint64_t packets;		/* packets accepted */
	uint64_t samples;		/* samples (Daisy: frames) emitted */
	uint64_t bytes_discarded;	/* bytes skipped to find a packet */
	uint64_t bad_packets;		/* sync lost at a packet boundary */
	uint64_t packets_lost;		/* packets missing by the counter */
	uint64_t gaps;			/* gaps emitted */
	uint64_t lost;			/* samples (Daisy: frames) in gaps */
	uint64_t long_gaps;		/* gaps of >= 256 packets, from time */
	uint64_t unpaired;		/* Daisy halves dropped */
	uint64_t restarts;		/* counter restarts taken as no loss */
	uint64_t clock_steps;		/* realtime steps of more than 1 ms */
};

/*
 * The parser.  Packet numbers are the counter extended to 64 bits: the
 * first packet of a stream gets its counter, later ones the previous
 * number + 1 + missing.  Samples are numbered by packet (frames: packet
 * / 2), which is also the index the dejitter fits.  Read stats and dj
 * (for dejitter_rate()); treat the other fields as private.
 */
struct cyton_parse {
	int daisy;
	unsigned nch;			/* 8 or 16 */
	uint8_t gain[CYTON_MAX_CHANNELS];
	double uv[CYTON_MAX_CHANNELS];	/* uV per count */
	uint8_t buf[CYTON_BUF_LEN];	/* bytes not yet framed */
	int64_t mono[CYTON_BUF_LEN];	/* each byte's arrival */
	int64_t real[CYTON_BUF_LEN];
	size_t len;
	int synced;			/* the last bytes were a good packet */
	int dirty;			/* bytes discarded since last sample */
	int have_pkt;			/* a packet was accepted this stream */
	uint64_t pkt;			/* the last packet's number */
	int64_t pkt_us;			/* its arrival, monotonic */
	int64_t bound_us;		/* latest it can have been sampled */
	uint64_t sample;		/* the last sample's (frame's) number */
	int have_half;			/* Daisy: an even half is waiting */
	uint64_t half_pkt;
	uint8_t half[CYTON_PACKET_LEN];
	unsigned restart_window;	/* packets left to expect counter 0 */
	int16_t accel[3];		/* held reading, counts */
	unsigned accel_have;		/* axes held, bit per axis */
	struct dejitter dj;
	int have_off;
	int64_t off_us;			/* realtime - monotonic */
	int stepped;			/* realtime stepped: no clamp */
	int have_time;
	int64_t last_time_us;
	struct cyton_stats stats;
};

/* Initialise for a Cyton (daisy 0, 8 channels) or Cyton+Daisy (16). */
void cyton_parse_init(struct cyton_parse *p, int daisy);
/* A stream (re)starts ('b' sent): forget partial bytes and counters. */
void cyton_parse_start(struct cyton_parse *p);
/* Arm the restart detector (the board restarts its counter soon). */
void cyton_parse_expect_restart(struct cyton_parse *p);

/* Set channel ch's (0-based) gain: 1, 2, 4, 6, 8, 12 or 24; -1 if not. */
int cyton_parse_set_gain(struct cyton_parse *p, unsigned ch, unsigned gain);
/* Return channel ch's (0-based) gain. */
unsigned cyton_parse_gain(const struct cyton_parse *p, unsigned ch);
/* Reset every gain to 24, as 'd' and 'v' do. */
void cyton_parse_reset_gains(struct cyton_parse *p);
/*
 * Apply what the firmware does with a command string sent while
 * streaming: x...X sets a gain (firmware rules: a bad gain digit means
 * 24, an unknown channel character channel 1, a short or unlatched
 * command nothing), d and v reset the gains, and commands that make the
 * firmware restart its stream (x...X, d, z...Z, channel on/off, test
 * signals, ~N, b) arm the restart detector.  Return 1 if it was armed.
 */
int cyton_parse_command(struct cyton_parse *p, const char *cmd, size_t len);
/*
 * Check a client's board command against the allow-list: x...X (well
 * formed; channels 9-16 only with a Daisy), d, channel on/off, test
 * signals, and ` with its marker character, in any sequence.  Return 0,
 * or -1 with the reason in err.
 */
int cyton_parse_command_check(const struct cyton_parse *p, const char *cmd,
    size_t len, char *err, size_t errlen);

/*
 * Feed len bytes read at mono_us (CLOCK_MONOTONIC) and real_us
 * (CLOCK_REALTIME); emit gaps and samples to sink.  Return the number of
 * samples emitted.
 */
size_t cyton_parse_feed(struct cyton_parse *p, const uint8_t *buf, size_t len,
    int64_t mono_us, int64_t real_us, struct board_sink *sink);

/* Return the sign-extended 24-bit big-endian value at b. */
int32_t cyton_parse_int24(const uint8_t *b);
/* Return counts in uV at a gain. */
double cyton_parse_uv(int32_t counts, unsigned gain);
/*
 * Return the packets missing between two packets whose counters differ
 * by m0 + 1 (mod 256), given elapsed_us between their arrivals at rate
 * packets per second: m0 + 256 k, with k the whole turns the time
 * implies.  Delays are never negative and at most a burst, so the time
 * overestimates by at most the newer packet's delay: k = floor((time
 * estimate - m0 + slack) / 256), slack = CYTON_GAP_SLACK_US (32 packets).
 * A host stall of more than about 0.9 s while data stays buffered (no
 * loss) is thus taken as a loss; the board is declared lost after 2 s
 * anyway.
 */
uint64_t cyton_parse_missing(unsigned m0, int64_t elapsed_us, double rate);

#endif
