/* client.c: one subscriber connection: commands in, shared batches out. */
#include "autoconfig.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "command.h"
#include "encode.h"
#include "encode_bin.h"
#include "encode_csv.h"
#include "group.h"
#include "history.h"
#include "hub.h"
#include "log.h"
#include "reader.h"
#include "timeutil.h"

/* The read high-water mark: input is processed in lines of at most 1 KiB. */
#define CLIENT_READ_HIGH (4 * COMMAND_MAX_LINE)
/* How long a closing client may take to take its last bytes. */
#define CLIENT_CLOSE_TIMEOUT_SEC 2

static void client_read_cb(struct bufferevent *, void *);
static void client_write_cb(struct bufferevent *, void *);
static void client_event_cb(struct bufferevent *, short, void *);

/* Drop a reference to a shared block. */
void
client_shared_unref(struct shared *sh)
{
	if (--sh->refs == 0)
		free(sh);
}

/* evbuffer cleanup: the bytes of a shared block were sent or dropped. */
static void
client_shared_cleanup(const void *data, size_t len, void *arg)
{
	client_shared_unref(arg);
}

/* Create a client for fd; NULL on error (fd is closed). */
struct client *
client_new(struct hub *h, int fd, int kind, const char *peer)
{
	struct client *c;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		close(fd);
		return NULL;
	}
	c->bev = bufferevent_socket_new(h->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return NULL;
	}
	c->hub = h;
	c->fd = fd;
	c->kind = kind;
	c->format = FMT_CSV;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
	    client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CLIENT_READ_HIGH);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	/* Spread coalesced writes: each client gets its own phase. */
	c->next_flush_us = timeutil_monotonic_us() + (int64_t)(
	    ((uint64_t)fd * 2654435761u) % 16384);
	return c;
}

/* Free a client and close its socket. */
void
client_free(struct client *c)
{
	if (c->pending != NULL)
		evbuffer_free(c->pending);
	bufferevent_free(c->bev);
	free(c);
}

/* Close: stop I/O and let the hub free it. */
void
client_close(struct client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	hub_client_closed(c->hub, c);
}

/* Stop reading and close once the output is flushed. */
void
client_finish(struct client *c)
{
	struct timeval tv = { CLIENT_CLOSE_TIMEOUT_SEC, 0 };

	if (c->dead)
		return;
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		client_close(c);
		return;
	}
	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

/* Queue one message line for this client only. */
void
client_send_msg(struct client *c, const struct msg *ev)
{
	struct evbuffer *out;

	if (c->dead)
		return;
	out = bufferevent_get_output(c->bev);
	/* Rounds waiting for a coalesced write go first: order is kept. */
	if (c->pending != NULL && evbuffer_get_length(c->pending) > 0)
		evbuffer_add_buffer(out, c->pending);
	encode_msg(out, c->format, ev);
}

/* Send an ok reply naming the command. */
static void
client_ok(struct client *c, const char *what, const char *arg)
{
	struct msg ev;

	encode_msg_init(&ev, "ok");
	encode_add_str(&ev, "command", what, 1);
	if (arg != NULL)
		encode_add_str(&ev, "arg", arg, 1);
	client_send_msg(c, &ev);
}

/* Send an error reply. */
static void
client_error(struct client *c, const char *message)
{
	struct msg ev;

	encode_msg_init(&ev, "error");
	encode_add_str(&ev, "message", message, 1);
	client_send_msg(c, &ev);
}

/* Send the greeting for the client's format (hello, column header). */
void
client_greet(struct client *c)
{
	struct hub *h = c->hub;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char labels[sizeof h->desc.labels];
	struct msg ev;

	hub_hello_msg(h, c->group, &ev, labels, sizeof labels);
	if (c->format == FMT_BINARY) {
		encode_bin_header(out, c->group->nsel, c->group->n,
		    (double)h->desc.rate / c->group->n, h->run_id,
		    h->desc.range_uv, labels, "uV");
		return;
	}
	client_send_msg(c, &ev);
	if (c->format == FMT_CSV)
		encode_csv_columns(out, labels);
}

/* A board command this client sent finished: reply ok or error. */
void
client_board_result(struct client *c, int ok, const char *msg)
{
	char err[128];

	if (ok) {
		client_ok(c, "board", NULL);
		return;
	}
	snprintf(err, sizeof err, "board: %s", msg);
	client_error(c, err);
}

/*
 * May this peer send board commands?  On the Unix socket: uid 0, the
 * daemon's uid, or primary gid the daemon's gid.  Over TCP only with
 * board_commands_tcp = yes.
 */
static int
client_may_command(struct client *c, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (c->kind == LISTEN_TCP) {
		if (c->hub->cfg.board_commands_tcp)
			return 1;
		snprintf(err, errlen, "board commands over TCP are disabled "
		    "(board_commands_tcp = no)");
		return 0;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		snprintf(err, errlen, "cannot check the peer's credentials");
		return 0;
	}
	if (cred.uid == 0 || cred.uid == geteuid() || cred.gid == getegid())
		return 1;
	snprintf(err, errlen, "permission denied: board commands need uid 0, "
	    "the daemon's user or its group");
	return 0;
}

/* Queue a board command for the reader thread; it replies later. */
static void
client_board_command(struct client *c, const struct command *cmd)
{
	char text[COMMAND_MAX_BOARD + 1], err[160];

	if (!client_may_command(c, err, sizeof err)) {
		client_error(c, err);
		return;
	}
	memcpy(text, cmd->text, cmd->textlen);
	text[cmd->textlen] = '\0';
	if (memchr(cmd->text, '\0', cmd->textlen) != NULL) {
		client_error(c, "board: NUL in command");
		return;
	}
	if (reader_submit(c->hub->reader, c->id, text) == -1)
		client_error(c, "board: too many commands queued; try again");
}

/* Change the client's subscription; replies and greets anew. */
static void
client_resubscribe(struct client *c, uint64_t mask, unsigned n,
    const char *what, const char *arg)
{
	if (hub_subscribe(c->hub, c, mask, n) == -1) {
		client_error(c, "out of memory");
		return;
	}
	client_ok(c, what, arg);
	client_greet(c);
}

/* Carry out one parsed command. */
static void
client_command(struct client *c, const struct command *cmd)
{
	struct hub *h = c->hub;
	struct group *g = c->group;
	char buf[64], err[160], labels[sizeof h->desc.labels];
	uint64_t mask;
	struct msg ev;

	switch (cmd->type) {
	case CMD_NONE:
		break;
	case CMD_FORMAT:
		c->format = cmd->format;
		client_ok(c, "format", encode_format_name(cmd->format));
		client_greet(c);
		break;
	case CMD_STATUS:
		hub_status_msg(h, &ev);
		client_send_msg(c, &ev);
		client_ok(c, "status", NULL);
		break;
	case CMD_HELLO:
		if (cmd->version > 1) {
			snprintf(err, sizeof err, "protocol version %u is not "
			    "supported (this is version 1)", cmd->version);
			client_error(c, err);
			break;
		}
		hub_hello_msg(h, c->group, &ev, labels, sizeof labels);
		client_send_msg(c, &ev);
		client_ok(c, "hello", NULL);
		break;
	case CMD_HELP:
		encode_msg_init(&ev, "help");
		encode_add_list(&ev, "commands", command_help());
		client_send_msg(c, &ev);
		client_ok(c, "help", NULL);
		break;
	case CMD_QUIT:
		client_ok(c, "quit", NULL);
		client_finish(c);
		break;
	case CMD_CHANNELS:
		if (command_channels(cmd->text, cmd->textlen, h->desc.labels,
		    h->desc.channels, &mask, err, sizeof err) == -1) {
			client_error(c, err);
			break;
		}
		snprintf(buf, sizeof buf, "%.*s", (int)(cmd->textlen > 60 ? 60 :
		    cmd->textlen), cmd->text);
		client_resubscribe(c, mask, g->n, "channels", buf);
		break;
	case CMD_DECIMATE: {
		/* The filter reads the history window: it must fit there. */
		size_t taps = 2 * ((55 * (size_t)cmd->n + 1) / 2) + 1;
		size_t have = (size_t)h->cfg.history_seconds * h->desc.rate;
		if (cmd->n > 1 && (taps > have || cmd->n > h->desc.rate)) {
			snprintf(err, sizeof err, "decimate %u needs a filter of "
			    "%zu samples; the history holds %zu "
			    "(history_seconds)", cmd->n, taps, have);
			client_error(c, err);
			break;
		}
		snprintf(buf, sizeof buf, "%u", cmd->n);
		client_resubscribe(c, g->mask, cmd->n, "decimate", buf);
		break;
	}
	case CMD_SINCE:
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)cmd->seq);
		client_ok(c, "since", buf);
		c->live = 0;
		c->paused = 0;
		if (cmd->has_run && cmd->run != h->run_id) {
			/* Another run's seqs mean nothing here: from the oldest. */
			uint64_t oldest = group_align(g, history_oldest(
			    h->history));
			encode_msg_init(&ev, "gap");
			encode_add_u64(&ev, "seq", 0);
			encode_add_u64(&ev, "count", oldest);
			encode_add_str(&ev, "reason", "restart", 0);
			client_send_msg(c, &ev);
			c->cursor = oldest;
		} else
			c->cursor = group_align(g, cmd->seq);
		hub_catch_up(h, c);
		break;
	case CMD_HISTORY: {
		uint64_t back = (uint64_t)(cmd->seconds * h->desc.rate + 0.5);
		snprintf(buf, sizeof buf, "%g", cmd->seconds);
		client_ok(c, "history", buf);
		c->live = 0;
		c->paused = 0;
		c->cursor = group_align(g, h->next_seq > back ?
		    h->next_seq - back : 0);
		hub_catch_up(h, c);
		break;
	}
	case CMD_MARKER:
		hub_marker(h, cmd->text, cmd->textlen);
		client_ok(c, "marker", NULL);
		break;
	case CMD_PAUSE:
		if (!c->paused) {
			c->paused = 1;
			c->pause_seq = c->live ? g->next_out : c->cursor;
		}
		client_ok(c, "pause", NULL);
		break;
	case CMD_RESUME:
		client_ok(c, "resume", NULL);
		if (c->paused) {
			c->paused = 0;
			if (g->next_out > c->pause_seq) {
				encode_msg_init(&ev, "gap");
				encode_add_u64(&ev, "seq", c->pause_seq);
				encode_add_u64(&ev, "count",
				    g->next_out - c->pause_seq);
				encode_add_str(&ev, "reason", "paused", 0);
				client_send_msg(c, &ev);
			}
			c->live = 1;
			c->cursor = g->next_out;
		}
		break;
	case CMD_BOARD:
		client_board_command(c, cmd);
		break;
	}
}

/* Process every complete line in the input, unless output is over the cap. */
static void
client_process_input(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char line[COMMAND_MAX_LINE + 2], err[128];
	struct evbuffer_ptr eol;
	struct command cmd;
	size_t eol_len;

	while (!c->dead && !c->closing && evbuffer_get_length(in) > 0) {
		if (evbuffer_get_length(out) > c->hub->cfg.client_max_buffer) {
			/* Replies would pile up: wait for the client to read. */
			c->reading_paused = 1;
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos == -1 ?
		    evbuffer_get_length(in) > COMMAND_MAX_LINE :
		    (size_t)eol.pos > COMMAND_MAX_LINE) {
			snprintf(err, sizeof err,
			    "line too long (max %d bytes); closing",
			    COMMAND_MAX_LINE);
			log_info("client %s: %s", c->peer, err);
			client_error(c, err);
			client_finish(c);
			return;
		}
		if (eol.pos == -1)
			return;	/* wait for the rest of the line */
		evbuffer_remove(in, line, (size_t)eol.pos);
		evbuffer_drain(in, eol_len);
		if (command_parse(line, (size_t)eol.pos, &cmd, err,
		    sizeof err) == -1)
			client_error(c, err);
		else
			client_command(c, &cmd);
	}
}

/* Input arrived. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	client_process_input(arg);
}

/* Output drained to empty. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->dead)
		return;
	if (c->closing) {
		client_close(c);
		return;
	}
	if (c->reading_paused) {
		c->reading_paused = 0;
		bufferevent_enable(c->bev, EV_READ);
		client_process_input(c);
	}
	/* Replaying history: the next piece, now that there is room. */
	if (!c->live)
		hub_catch_up(c->hub, c);
}

/* EOF, error or timeout. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (c->dead)
		return;
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    !c->closing) {
		/* Half-closed: the client said all it will say; keep sending. */
		bufferevent_disable(c->bev, EV_READ);
		client_process_input(c);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		log_debug("client %s: %s", c->peer, strerror(errno));
	client_close(c);
}

/* Append bytes of a shared block by reference, making the block if needed. */
static void
client_add_shared(struct evbuffer *out, const char *data, size_t len,
    size_t off, struct shared **sh)
{
	if (*sh == NULL) {
		if ((*sh = malloc(sizeof **sh + len)) == NULL) {
			evbuffer_add(out, data + off, len - off);
			return;
		}
		(*sh)->refs = 1;	/* the hub's own, dropped after the round */
		(*sh)->len = len;
		memcpy((*sh)->data, data, len);
	}
	(*sh)->refs++;
	if (evbuffer_add_reference(out, (*sh)->data + off, len - off,
	    client_shared_cleanup, *sh) == -1)
		(*sh)->refs--;
}

/*
 * Send src to the client: with nothing queued, in one sendmsg of its
 * chain (the shared blocks it references, no copy); what the socket does
 * not take, and everything when output is already queued, moves to the
 * bufferevent's output.  src is left empty.
 */
static void
client_write_now(struct client *c, struct evbuffer *src)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec v[64];
	struct iovec iov[64];
	struct msghdr mh;
	ssize_t n;
	int nv;

	if (evbuffer_get_length(out) == 0 &&
	    (nv = evbuffer_peek(src, -1, NULL, v, 64)) > 0) {
		if (nv > 64)
			nv = 64;
		for (int i = 0; i < nv; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)nv;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			log_debug("client %s: send: %s", c->peer,
			    strerror(errno));
			evbuffer_drain(src, evbuffer_get_length(src));
			client_close(c);
			return;
		}
		if (n > 0)
			evbuffer_drain(src, (size_t)n);
	}
	evbuffer_add_buffer(out, src);
}

/* Write what is pending; set the next time a write is due. */
static void
client_flush(struct client *c, int64_t now_us, unsigned coalesce_us)
{
	if (c->pending != NULL && evbuffer_get_length(c->pending) > 0)
		client_write_now(c, c->pending);
	if (coalesce_us > 0) {
		c->next_flush_us += coalesce_us;
		if (c->next_flush_us <= now_us)
			c->next_flush_us = now_us + coalesce_us;
	}
}

/* Write what is pending if its time has come; returns 1 if some remains. */
int
client_flush_due(struct client *c, int64_t now_us, unsigned coalesce_us)
{
	if (c->dead || c->pending == NULL ||
	    evbuffer_get_length(c->pending) == 0)
		return 0;
	if (coalesce_us == 0 || now_us >= c->next_flush_us) {
		client_flush(c, now_us, coalesce_us);
		return 0;
	}
	return 1;
}

/* Deliver one round of shared bytes, applying the cap and the slow policy. */
void
client_deliver(struct client *c, const char *data, size_t len,
    struct shared **sh, uint64_t first, uint64_t end, uint64_t nsamples,
    int64_t now_us, unsigned coalesce_us)
{
	struct evbuffer *out;
	size_t olen, plen, off = 0;
	ssize_t n;

	if (c->dead || c->closing || len == 0)
		return;
	out = bufferevent_get_output(c->bev);
	plen = c->pending != NULL ? evbuffer_get_length(c->pending) : 0;
	olen = evbuffer_get_length(out) + plen;
	if (c->skipping) {
		if (olen > 0) {
			c->skip_end = end;
			c->hub->stats.lost[GAP_SLOW_CLIENT] += nsamples;
			return;
		}
		/* Caught up: say what was skipped, then go on. */
		struct msg ev;
		c->skipping = 0;
		encode_msg_init(&ev, "gap");
		encode_add_u64(&ev, "seq", c->skip_first);
		encode_add_u64(&ev, "count", c->skip_end - c->skip_first);
		encode_add_str(&ev, "reason", "slow_client", 0);
		client_send_msg(c, &ev);
		olen = evbuffer_get_length(out);
	}
	if (olen + len > c->hub->cfg.client_max_buffer) {
		if (c->hub->cfg.slow_client == SLOW_DISCONNECT) {
			char msg[128];
			snprintf(msg, sizeof msg, "too slow: output over "
			    "client_max_buffer (%zu bytes); disconnecting",
			    c->hub->cfg.client_max_buffer);
			log_notice("client %s: %s", c->peer, msg);
			if (plen > 0)
				evbuffer_add_buffer(out, c->pending);
			client_error(c, msg);
			client_finish(c);
			return;
		}
		if (!c->skipping)
			log_notice("client %s: slow, dropping from seq %llu",
			    c->peer, (unsigned long long)first);
		if (plen > 0)	/* what is already queued still goes out */
			evbuffer_add_buffer(out, c->pending);
		c->skipping = 1;
		c->skip_first = first;
		c->skip_end = end;
		c->hub->stats.lost[GAP_SLOW_CLIENT] += nsamples;
		return;
	}
	if (coalesce_us > 0 && now_us < c->next_flush_us) {
		/* Not due yet: keep it, by reference, for the next write. */
		if (c->pending == NULL && (c->pending = evbuffer_new()) == NULL) {
			client_add_shared(out, data, len, 0, sh);
			return;
		}
		client_add_shared(c->pending, data, len, 0, sh);
		return;
	}
	if (plen > 0) {
		/* Due, with earlier rounds waiting: all of it in one write. */
		client_add_shared(c->pending, data, len, 0, sh);
		client_flush(c, now_us, coalesce_us);
		return;
	}
	if (coalesce_us > 0)
		client_flush(c, now_us, coalesce_us);
	if (evbuffer_get_length(out) == 0) {
		/* Fast path: nothing queued, write the shared bytes now. */
		n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)len)
			return;
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				log_debug("client %s: send: %s", c->peer,
				    strerror(errno));
				client_close(c);
				return;
			}
			n = 0;
		}
		off = (size_t)n;
	}
	client_add_shared(out, data, len, off, sh);
}
