/*
 * client.h: one subscriber connection.
 *
 * A client reads command lines and receives the hub's shared, once-encoded
 * batches.  Output is capped at client_max_buffer bytes, checked before
 * anything is queued.  A client is never freed inside its own callbacks:
 * client_close marks it dead and the hub frees it later.
 */
#ifndef EEGD_CLIENT_H
#define EEGD_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct hub;
struct bufferevent;
struct shared;
struct msg;
struct group;

/* A connection. */
struct client {
	TAILQ_ENTRY(client) entry;
	struct hub *hub;
	uint64_t id;		/* unique in this run */
	struct bufferevent *bev;
	int fd;
	int kind;		/* LISTEN_UNIX or LISTEN_TCP */
	int format;		/* enum encode_format */
	char peer[64];
	int dead;		/* closed: waiting to be freed */
	int closing;		/* flushing its output, then close */
	int reading_paused;	/* output over the cap: commands wait */
	struct group *group;	/* what it subscribes to */
	int live;		/* takes its group's shared bytes each round */
	uint64_t cursor;	/* not live: next output seq it is owed */
	int paused;		/* pause: nothing is queued for it */
	uint64_t pause_seq;	/* the first output seq it skipped */
	int may_command;	/* may send board commands */
	struct evbuffer *pending;	/* coalescing: rounds not yet written */
	int64_t next_flush_us;	/* coalescing: when its next write is due */
	int skipping;		/* slow: data dropped until output drains */
	uint64_t skip_first;	/* first seq not delivered */
	uint64_t skip_end;	/* seq after the last one not delivered */
};

/* A block of encoded bytes shared by reference among clients. */
struct shared {
	size_t refs;
	size_t len;
	char data[];
};

/* Create a client for fd; NULL on error (fd is closed). */
struct client *client_new(struct hub *h, int fd, int kind, const char *peer);
/* Free a client and close its socket. */
void client_free(struct client *c);
/* Send the greeting for the client's format (hello, column header). */
void client_greet(struct client *c);
/*
 * Deliver one round: data/len are the shared bytes of the client's format
 * (copied into *sh on first need), covering seqs [first, end) with
 * nsamples samples.  Applies the cap and slow-client policy.  With
 * coalesce_us > 0 the bytes wait (by reference) until the client's next
 * write is due, then everything pending goes out in one write.
 */
void client_deliver(struct client *c, const char *data, size_t len,
    struct shared **sh, uint64_t first, uint64_t end, uint64_t nsamples,
    int64_t now_us, unsigned coalesce_us);
/* Write what is pending if its time has come; returns 1 if some remains. */
int client_flush_due(struct client *c, int64_t now_us, unsigned coalesce_us);
/* Queue one event line for this client only. */
void client_send_msg(struct client *c, const struct msg *ev);
/* Close: stop I/O and let the hub free it. */
void client_close(struct client *c);
/* Stop reading and close once the output is flushed. */
void client_finish(struct client *c);
/* A board command this client sent finished: reply ok or error. */
void client_board_result(struct client *c, int ok, const char *msg);
/* Drop a reference to a shared block. */
void client_shared_unref(struct shared *sh);

#endif
