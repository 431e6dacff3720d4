/*
 * sample.h: the record that flows from a board to the clients.
 *
 * One struct carries every kind of record through the ring, so the ring has
 * a fixed stride: a sample, a gap (samples that will never arrive), or a
 * board state change. A record is followed in memory by its channel values.
 */
#ifndef EEGD_SAMPLE_H
#define EEGD_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLE_MAX_CHANNELS 64

/* What a record is. */
enum record_type {
	REC_SAMPLE = 0,	/* a sample: seq, times, channel values */
	REC_GAP = 1,	/* count samples from seq on will never arrive */
	REC_BOARD = 2,	/* the board changed state (reason = board_state) */
};

/* Why samples were lost; the names are the protocol's "reason" values. */
enum gap_reason {
	GAP_RING_OVERFLOW = 0,
	GAP_SLOW_CLIENT,
	GAP_BOARD_LOSS,
	GAP_BAD_PACKET,
	GAP_BOARD_LOST,
	GAP_RESTART,
	GAP_PAUSED,
	GAP_EXPIRED,
	GAP_NREASONS
};

/* States a board reports through REC_BOARD records. */
enum board_state {
	BOARD_STREAMING = 0,	/* found and streaming */
	BOARD_LOST,		/* lost: read error, EOF, stall */
	BOARD_RETRYING,		/* not found yet, retrying */
	BOARD_FALLBACK,		/* running the synthetic fallback */
};

/*
 * A record.  seq counts board samples from 0 at daemon start and never goes
 * backwards.  Times are CLOCK_REALTIME in microseconds: time_us is the
 * acquisition time clients see (dejittered for real boards), time_raw_us the
 * host arrival time.  aux_footer is the Cyton footer byte (0 when none).
 */
struct record {
	uint32_t type;		/* enum record_type */
	uint32_t nch;		/* channel values that follow */
	uint64_t seq;		/* sample seq; first missing seq for a gap */
	uint64_t count;		/* gap: number of samples missing */
	int64_t time_us;
	int64_t time_raw_us;
	uint32_t reason;	/* gap: enum gap_reason; board: enum board_state */
	uint8_t aux_footer;	/* Cyton footer 0xC0..0xCF, 0 for none */
	uint8_t has_accel;	/* accel[] holds a reading */
	uint8_t aux_raw[6];	/* Cyton aux bytes as received */
	float accel[3];		/* accelerometer, g */
	float ch[];		/* channel values, µV */
};

/* Return the size in bytes of a record with nch channels. */
static inline size_t
record_size(unsigned nch)
{
	size_t s = sizeof(struct record) + nch * sizeof(float);
	return (s + 7) & ~(size_t)7;
}

/* Return the protocol name of a gap reason. */
const char *sample_gap_reason_name(unsigned reason);
/* Return the protocol name of a board state. */
const char *sample_board_state_name(unsigned state);

#endif
