/* sample.c: names for the enums in sample.h. */
#include "autoconfig.h"

#include "sample.h"

static const char *const gap_names[GAP_NREASONS] = {
	[GAP_RING_OVERFLOW] = "ring_overflow",
	[GAP_SLOW_CLIENT] = "slow_client",
	[GAP_BOARD_LOSS] = "board_loss",
	[GAP_BAD_PACKET] = "bad_packet",
	[GAP_BOARD_LOST] = "board_lost",
	[GAP_RESTART] = "restart",
	[GAP_PAUSED] = "paused",
	[GAP_EXPIRED] = "expired",
};

/* Return the protocol name of a gap reason. */
const char *
sample_gap_reason_name(unsigned reason)
{
	return reason < GAP_NREASONS ? gap_names[reason] : "unknown";
}

/* Return the protocol name of a board state. */
const char *
sample_board_state_name(unsigned state)
{
	switch (state) {
	case BOARD_STREAMING:
		return "streaming";
	case BOARD_LOST:
		return "lost";
	case BOARD_RETRYING:
		return "retrying";
	case BOARD_FALLBACK:
		return "fallback";
	}
	return "unknown";
}
