/*
 * board.h: the interface every board driver implements.
 *
 * A board lives entirely in the reader thread.  The reader calls start()
 * until it succeeds, then read() in a loop; read() blocks for at most about
 * 100 ms so the reader can notice a stop request and beat its heartbeat.
 * Samples and gaps leave the board through a board_sink, which the reader
 * implements: the board never sees the ring or seq numbers.
 */
#ifndef EEGD_BOARD_H
#define EEGD_BOARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sample.h"

struct board;
struct record;

/* Where a board sends what it reads (implemented by the reader). */
struct board_sink {
	uint64_t next_seq;	/* the seq the next sample will get (read-only) */
	/* Deliver one sample; the sink assigns its seq. */
	void (*sample)(struct board_sink *, struct record *);
	/* Announce count samples that will never arrive, for reason. */
	void (*gap)(struct board_sink *, uint64_t count, unsigned reason);
	/* Return a scratch record with room for every channel. */
	struct record *(*scratch)(struct board_sink *);
};

/* What a driver provides; every function runs in the reader thread. */
struct board_ops {
	const char *name;
	/* Open the device, handshake, start streaming; -1 with err on failure. */
	int (*start)(struct board *, char *err, size_t errlen);
	/* Read for at most ~100 ms and emit to the sink; -1 with err when lost. */
	int (*read)(struct board *, struct board_sink *, char *err, size_t errlen);
	/* Send a command to the board; -1 with err when refused or failed. */
	int (*command)(struct board *, const char *cmd, char *err, size_t errlen);
	/* Stop streaming and close the device; start() may be called again. */
	void (*stop)(struct board *);
	/* Free the board. */
	void (*free)(struct board *);
};

/* Static facts a board reports once started (read by the hub via reader). */
struct board_desc {
	char name[32];		/* "synthetic", "cyton", "cyton-daisy" */
	unsigned rate;		/* samples per second */
	unsigned channels;
	unsigned max_channels;	/* the most channels this board can have */
	double range_uv;	/* values lie within +-range_uv */
	char labels[512];	/* comma-separated labels */
	char firmware[64];	/* firmware text, or "" */
};

/*
 * Counters a board keeps for status.  The reader thread writes them; the
 * loop reads them (relaxed atomics, no other sharing).
 */
struct board_counters {
	atomic_uint_fast64_t bytes_discarded;	/* skipped to find packets */
	atomic_uint_fast64_t bad_packets;	/* sync lost at a boundary */
	atomic_uint_fast64_t unpaired;		/* Daisy halves dropped */
	atomic_uint_fast64_t restarts;		/* counter restarts, no loss */
	atomic_uint_fast64_t reconnects;	/* the board was found again */
	atomic_uint_fast64_t rate_mhz;		/* estimated true rate, mHz */
};

/* The common part of every board; drivers embed it first. */
struct board {
	const struct board_ops *ops;
	struct board_desc desc;
	struct board_counters counters;
};

#endif
