/*
 * eegcat_conn.h: eegcat's connection to eegd.  Connects over a Unix or
 * TCP socket, switches to the binary format, subscribes (channels,
 * decimate, hello) and decodes the frames into callbacks.  When the
 * connection drops it reconnects with back-off and resumes with
 * "since LASTSEQ+1 RUN", so a daemon that stays up causes no gap.
 */
#ifndef EEGD_EEGCAT_CONN_H
#define EEGD_EEGCAT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct eegcat_conn;
struct eegcat_json;

/* The first reconnection delay, and the most it doubles to. */
#define EEGCAT_CONN_BACKOFF_MIN_MS 100
#define EEGCAT_CONN_BACKOFF_MAX_MS 5000
/* The most channels a frame may carry. */
#define EEGCAT_CONN_MAX_CH 64

/* A resolved address to connect to, and its name for messages. */
struct eegcat_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char name[300];
};

/* The stream description of a header frame (see encode_bin.h). */
struct eegcat_header {
	unsigned protocol;
	unsigned nch;
	unsigned decimation;
	double rate;		/* Hz, after decimation */
	uint64_t run;
	double range;		/* values lie within +-range */
	char labels[EEGCAT_CONN_MAX_CH * 256];	/* comma-separated */
	char units[256];
};

/* A decoded data frame: count samples, seq i is first + i * step. */
struct eegcat_data {
	uint64_t first;
	uint32_t count;
	uint32_t step;
	unsigned nch;
	const int64_t *times;	/* count times, microseconds */
	const float *vals;	/* count x nch values, sample-major */
};

/* What to ask for once connected. */
struct eegcat_conn_opts {
	int stream;		/* subscribe: channels, decimate, hello, since */
	const char *channels;	/* channel spec, or NULL for all */
	unsigned decimate;	/* factor, or 0 to leave it */
	int reconnect;		/* reconnect when the connection drops */
	const char *command;	/* one command line to send, or NULL */
};

/*
 * The owner's callbacks; arg is the owner's.  midstream says a header
 * came after the subscription was complete (the board changed); a hello
 * object follows it.  ok/message is the reply to opts.command.  fail
 * reports an error that ends the program (exit 1).
 */
struct eegcat_conn_cb {
	void (*header)(void *arg, const struct eegcat_header *h,
	    int midstream);
	void (*hello)(void *arg, const char *json, size_t len,
	    const struct eegcat_json *o);
	void (*data)(void *arg, const struct eegcat_data *d);
	void (*event)(void *arg, const char *json, size_t len,
	    const struct eegcat_json *o);
	void (*reply)(void *arg, int ok, const char *message);
	void (*fail)(void *arg, const char *message);
};

/*
 * Parse a data frame's body (what follows the type byte) of len bytes for
 * nch channels into d (first, count, step, nch); -1 when malformed.
 */
int eegcat_conn_data_head(const unsigned char *b, size_t len, unsigned nch,
    struct eegcat_data *d);
/* Copy the body's times (d->count) and values (d->count x d->nch) out. */
void eegcat_conn_data_fill(const unsigned char *b, const struct eegcat_data *d,
    int64_t *times, float *vals);

/*
 * Resolve "HOST:PORT" or "[V6HOST]:PORT" into a.  Returns 0, or -1 with
 * a message in err.
 */
int eegcat_conn_tcp_addr(const char *hostport, struct eegcat_addr *a,
    char *err, size_t errlen);
/* Fill a with a Unix socket path; -1 with err when it is too long. */
int eegcat_conn_unix_addr(const char *path, struct eegcat_addr *a, char *err,
    size_t errlen);
/* Create a connection and start connecting; NULL with err on failure. */
struct eegcat_conn *eegcat_conn_new(struct event_base *base,
    const struct eegcat_addr *a, const struct eegcat_conn_opts *opts,
    const struct eegcat_conn_cb *cb, void *arg, char *err, size_t errlen);
/* Stop delivering: no callback is made after this returns. */
void eegcat_conn_stop(struct eegcat_conn *c);
/* Close the connection and free it. */
void eegcat_conn_free(struct eegcat_conn *c);

#endif
