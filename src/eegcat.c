/*
 * eegcat.c: eegcat(1), eegd's client: prints the stream as CSV or JSON
 * lines, records it to BDF+, or sends one marker.  The connection, the
 * output and the recorder are modules (eegcat_conn, eegcat_out,
 * eegcat_bdf); this file parses the command line and wires them up.
 */
#include "autoconfig.h"

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "eegcat_bdf.h"
#include "eegcat_conn.h"
#include "eegcat_json.h"
#ifdef HAVE_MQTT
#include "eegcat_mqtt.h"
#endif
#include "eegcat_out.h"
#include "listen.h"
#include "log.h"

#define EX_OK 0
#define EX_FAIL 1
#define EX_USAGE 64

/* The program's state, shared by the callbacks. */
struct eegcat {
	struct event_base *base;
	struct eegcat_conn *conn;
	struct eegcat_out *out;		/* printing, or NULL */
	struct eegcat_bdf *bdf;		/* recording, or NULL */
	uint64_t count;			/* samples taken so far */
	uint64_t limit;			/* --count, or 0 */
	int marking;			/* --marker: no reply yet is a failure */
	int exit_code;
	int done;
};

/* Print usage to fp. */
static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: eegcat [-hjVv] [--unix PATH | --tcp HOST:PORT] "
	    "[--channels SPEC]\n"
	    "              [--decimate N] [-n N] [-r FILE.bdf [--rotate MINUTES]]\n"
	    "       eegcat --mqtt HOST:PORT --topic PREFIX [-j] [-n N] "
	    "[-r FILE.bdf ...]\n"
	    "       eegcat [--unix PATH | --tcp HOST:PORT] -m TEXT\n"
	    "      --unix PATH          connect to this Unix socket\n"
	    "      --tcp HOST:PORT      connect over TCP ([HOST]:PORT for "
	    "IPv6)\n"
	    "  -j, --json               print JSON lines instead of CSV\n"
	    "      --channels SPEC      subscribe to channels (1,3,5-8 or "
	    "labels)\n"
	    "      --decimate N         lower the rate by N (filtered by "
	    "eegd)\n"
	    "  -n, --count N            exit after N samples\n"
	    "  -r, --record FILE.bdf    record BDF+ (and FILE.events.tsv)\n"
	    "      --rotate MINUTES     start a new file every MINUTES\n"
	    "      --annotation-signals N  annotation room per second "
	    "(default %d)\n"
	    "      --max-fill SECONDS   longest gap filled in a file "
	    "(default %d)\n"
	    "  -m, --marker TEXT        send a marker and exit\n"
	    "      --mqtt HOST:PORT     read through this MQTT broker\n"
	    "      --topic PREFIX       the daemon's topic_prefix\n"
	    "  -v, --verbose            more messages, repeatable\n"
	    "  -V, --version            print the version and exit\n"
	    "  -h, --help               print this help and exit\n",
	    EEGCAT_BDF_ANNOT_SIGNALS, EEGCAT_BDF_MAX_FILL);
}

/* Parse an unsigned number in [lo, hi]; -1 when it is not one. */
static int
parse_num(const char *s, unsigned long long lo, unsigned long long hi,
    unsigned long long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v < lo || *v > hi)
		return -1;
	return 0;
}

/* Stop the loop and exit with code. */
static void
finish(struct eegcat *st, int code)
{
	if (!st->done)
		st->exit_code = code;
	st->done = 1;
	if (st->conn != NULL)
		eegcat_conn_stop(st->conn);
	event_base_loopbreak(st->base);
}

/* Write the queued output; the reader going away ends eegcat quietly. */
static void
flush_out(struct eegcat *st)
{
	if (st->out == NULL || eegcat_out_flush(st->out) == 0)
		return;
	if (errno == EPIPE) {
		finish(st, EX_OK);
		return;
	}
	log_errx("standard output: %s", strerror(errno));
	finish(st, EX_FAIL);
}

/* A header frame: the stream description. */
static void
on_header(void *arg, const struct eegcat_header *h, int midstream)
{
	struct eegcat *st = arg;
	char err[512];

	if (st->bdf != NULL && eegcat_bdf_stream(st->bdf, h, err,
	    sizeof err) == -1) {
		log_errx("%s", err);
		finish(st, EX_FAIL);
		return;
	}
	if (st->out != NULL && midstream)
		eegcat_out_hold(st->out);
}

/* The hello object. */
static void
on_hello(void *arg, const char *json, size_t len,
    const struct eegcat_json *o)
{
	struct eegcat *st = arg;

	if (st->out != NULL) {
		eegcat_out_hello(st->out, json, len, o);
		flush_out(st);
	}
}

/* A data frame, up to the --count limit. */
static void
on_data(void *arg, const struct eegcat_data *d)
{
	struct eegcat *st = arg;
	size_t n = d->count;
	char err[512];

	if (st->limit > 0 && n > st->limit - st->count)
		n = (size_t)(st->limit - st->count);
	if (st->out != NULL) {
		eegcat_out_data(st->out, d, 0, n);
		flush_out(st);
	}
	for (size_t i = 0; st->bdf != NULL && i < n; i++) {
		if (eegcat_bdf_sample(st->bdf, d->first + i * d->step,
		    d->step, d->times[i], d->vals + i * d->nch, err,
		    sizeof err) == -1) {
			log_errx("%s", err);
			finish(st, EX_FAIL);
			return;
		}
	}
	st->count += n;
	if (st->limit > 0 && st->count >= st->limit)
		finish(st, EX_OK);
}

/* An event: printed, and markers and gaps go to the recording. */
static void
on_event(void *arg, const char *json, size_t len,
    const struct eegcat_json *o)
{
	struct eegcat *st = arg;
	const char *cls = eegcat_json_str(o, "class"), *s;
	uint64_t seq;
	int64_t t;
	char err[512];

	if (st->out != NULL) {
		eegcat_out_event(st->out, json, len, o);
		flush_out(st);
	}
	if (st->bdf == NULL || cls == NULL)
		return;
	if (strcmp(cls, "gap") == 0 && (s = eegcat_json_str(o, "reason")))
		eegcat_bdf_gap(st->bdf, s);
	if (strcmp(cls, "marker") == 0 && eegcat_json_u64(o, "seq", &seq) ==
	    0 && eegcat_json_time(o, "time", &t) == 0 &&
	    (s = eegcat_json_str(o, "text")) != NULL &&
	    eegcat_bdf_marker(st->bdf, seq, t, s, err, sizeof err) == -1) {
		log_errx("%s", err);
		finish(st, EX_FAIL);
	}
}

/* The reply to --marker. */
static void
on_reply(void *arg, int ok, const char *message)
{
	struct eegcat *st = arg;

	if (!ok)
		log_errx("%s", message);
	finish(st, ok ? EX_OK : EX_FAIL);
}

/* A fatal error from the connection. */
static void
on_fail(void *arg, const char *message)
{
	struct eegcat *st = arg;

	log_errx("%s", message);
	finish(st, EX_FAIL);
}

/* SIGINT, SIGTERM or SIGHUP: stop, closing the recording valid. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct eegcat *st = arg;

	log_info("signal %d: stopping", (int)sig);
	finish(st, st->marking ? EX_FAIL : EX_OK);
}

/* Parse the command line, connect, and run until done. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "unix", required_argument, NULL, 'U' },
		{ "tcp", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "channels", required_argument, NULL, 'C' },
		{ "decimate", required_argument, NULL, 'D' },
		{ "count", required_argument, NULL, 'n' },
		{ "record", required_argument, NULL, 'r' },
		{ "rotate", required_argument, NULL, 'R' },
		{ "annotation-signals", required_argument, NULL, 'A' },
		{ "max-fill", required_argument, NULL, 'F' },
		{ "marker", required_argument, NULL, 'm' },
		{ "mqtt", required_argument, NULL, 'Q' },
		{ "topic", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct event *sigev[3] = { NULL, NULL, NULL };
	struct eegcat_bdf_opts bo = { NULL, 0, EEGCAT_BDF_ANNOT_SIGNALS,
	    EEGCAT_BDF_MAX_FILL };
	struct eegcat_conn_cb cb = { on_header, on_hello, on_data, on_event,
	    on_reply, on_fail };
	struct eegcat_conn_opts co;
	struct eegcat_addr addr;
	struct eegcat st;
	const char *unix_path = NULL, *tcp = NULL, *env, *broker = NULL;
	const char *topic = NULL;
	char path[PATH_MAX], err[512], mline[COMMAND_MAX_LINE];
	unsigned long long v;
	int ch, json = 0, verbose = 0, rec_only = 0;

	memset(&st, 0, sizeof st);
	memset(&co, 0, sizeof co);
	co.stream = 1;
	co.reconnect = 1;
	log_init(LOG_LVL_NOTICE, "eegcat");
	while ((ch = getopt_long(argc, argv, "jn:r:m:vVh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'U': unix_path = optarg; break;
		case 'T': tcp = optarg; break;
		case 'j': json = 1; break;
		case 'C': co.channels = optarg; break;
		case 'D':
			if (parse_num(optarg, 1, 100000, &v) == -1)
				goto bad_num;
			co.decimate = (unsigned)v;
			break;
		case 'n':
			if (parse_num(optarg, 1, UINT64_MAX, &v) == -1)
				goto bad_num;
			st.limit = v;
			break;
		case 'r': bo.path = optarg; break;
		case 'R':
			if (parse_num(optarg, 1, 7 * 24 * 60, &v) == -1)
				goto bad_num;
			bo.rotate_sec = (unsigned)v * 60;
			rec_only = 1;
			break;
		case 'A':
			if (parse_num(optarg, 1, EEGCAT_BDF_ANNOT_SIGNALS_MAX,
			    &v) == -1)
				goto bad_num;
			bo.annot_signals = (unsigned)v;
			rec_only = 1;
			break;
		case 'F':
			if (parse_num(optarg, 0, 86400, &v) == -1)
				goto bad_num;
			bo.max_fill_sec = (unsigned)v;
			rec_only = 1;
			break;
		case 'm': co.command = optarg; break;
		case 'Q': broker = optarg; break;
		case 'P': topic = optarg; break;
		case 'v': verbose++; break;
		case 'V':
			printf("eegcat %s\n", PACKAGE_VERSION);
			return EX_OK;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
		continue;
bad_num:
		for (size_t i = 0; longopts[i].name != NULL; i++)
			if (longopts[i].val == ch)
				fprintf(stderr, "eegcat: --%s: bad number "
				    "'%s'\n", longopts[i].name, optarg);
		return EX_USAGE;
	}
	/* Through a broker: the whole stream as eegd publishes it. */
	if ((broker == NULL) != (topic == NULL) || (broker != NULL &&
	    (unix_path != NULL || tcp != NULL || co.command != NULL ||
	    co.channels != NULL || co.decimate))) {
		fprintf(stderr, "eegcat: --mqtt needs --topic, and takes no "
		    "--unix, --tcp, --marker, --channels or --decimate\n");
		return EX_USAGE;
	}
#ifndef HAVE_MQTT
	if (broker != NULL) {
		fprintf(stderr, "eegcat: built without MQTT support\n");
		return EX_USAGE;
	}
#endif
	if (optind < argc || (unix_path != NULL && tcp != NULL) ||
	    (co.command != NULL && (bo.path != NULL || json || st.limit ||
	    co.channels != NULL || co.decimate)) ||
	    (bo.path != NULL && json) ||
	    (rec_only && bo.path == NULL)) {
		usage(stderr);
		return EX_USAGE;
	}
	log_set_level(LOG_LVL_NOTICE + verbose);
	if (co.channels != NULL && strpbrk(co.channels, "\r\n") != NULL) {
		fprintf(stderr, "eegcat: --channels: line break in the spec\n");
		return EX_USAGE;
	}
	if (co.command != NULL) {
		if (strpbrk(co.command, "\r\n") != NULL) {
			command_check_marker(co.command, strlen(co.command),
			    err, sizeof err);
			log_errx("%s", err);
			return EX_FAIL;
		}
		if (snprintf(mline, sizeof mline, "marker %s", co.command) >=
		    (int)sizeof mline) {
			log_errx("marker text too long");
			return EX_FAIL;
		}
		co.command = mline;
		st.marking = 1;
		co.stream = 0;
		co.reconnect = 0;
	}
	/* Test-only: rotate every N seconds instead of minutes. */
	if (bo.path != NULL && (env = getenv("EEGCAT_ROTATE_SECONDS")) !=
	    NULL && *env != '\0') {
		if (parse_num(env, 1, 86400, &v) == -1) {
			fprintf(stderr, "eegcat: bad EEGCAT_ROTATE_SECONDS\n");
			return EX_USAGE;
		}
		bo.rotate_sec = (unsigned)v;
	}
	if (tcp != NULL) {
		if (eegcat_conn_tcp_addr(tcp, &addr, err, sizeof err) == -1) {
			fprintf(stderr, "eegcat: --tcp: %s\n", err);
			return EX_USAGE;
		}
	} else {
		if (unix_path == NULL) {
			listen_default_unix_path(path, sizeof path, 1, 0);
			unix_path = path;
		}
		if (eegcat_conn_unix_addr(unix_path, &addr, err,
		    sizeof err) == -1) {
			fprintf(stderr, "eegcat: --unix: %s\n", err);
			return EX_USAGE;
		}
	}
	if (bo.path != NULL &&
	    (st.bdf = eegcat_bdf_new(&bo, err, sizeof err)) == NULL) {
		fprintf(stderr, "eegcat: %s\n", err);
		return EX_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((st.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if (bo.path == NULL && co.command == NULL &&
	    (st.out = eegcat_out_new(STDOUT_FILENO, json)) == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < 3; i++) {
		sigev[i] = evsignal_new(st.base, sigs[i], on_signal, &st);
		if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) == -1)
			fatalx("cannot handle signal %d", sigs[i]);
	}
#ifdef HAVE_MQTT
	if (broker != NULL) {
		struct eegcat_mqtt *mq = eegcat_mqtt_new(st.base, broker, topic,
		    &cb, &st, err, sizeof err);
		if (mq == NULL) {
			log_errx("%s", err);
			st.exit_code = EX_FAIL;
		} else if (!st.done)
			event_base_dispatch(st.base);
		eegcat_mqtt_free(mq);
	} else
#endif
	{
		st.conn = eegcat_conn_new(st.base, &addr, &co, &cb, &st, err,
		    sizeof err);
		if (st.conn == NULL) {
			log_errx("%s", err);
			st.exit_code = EX_FAIL;
		} else if (!st.done)
			event_base_dispatch(st.base);
		eegcat_conn_free(st.conn);
	}
	if (st.bdf != NULL && eegcat_bdf_close(st.bdf, err, sizeof err) ==
	    -1) {
		log_errx("%s", err);
		st.exit_code = EX_FAIL;
	}
	eegcat_bdf_free(st.bdf);
	if (st.out != NULL && eegcat_out_flush(st.out) == -1 &&
	    errno != EPIPE && st.exit_code == EX_OK) {
		log_errx("standard output: %s", strerror(errno));
		st.exit_code = EX_FAIL;
	}
	eegcat_out_free(st.out);
	for (size_t i = 0; i < 3; i++)
		if (sigev[i] != NULL)
			event_free(sigev[i]);
	event_base_free(st.base);
	return st.exit_code;
}
