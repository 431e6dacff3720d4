/* command.c: one client command line to a parsed command or an error. */
#include "autoconfig.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "decimate.h"
#include "encode.h"
#include "sample.h"

/* The longest history request, in seconds (the window bounds it anyway). */
#define COMMAND_MAX_SECONDS 86400.0

static const char *const command_names[] = {
	[CMD_NONE] = "",
	[CMD_FORMAT] = "format",
	[CMD_STATUS] = "status",
	[CMD_HELP] = "help",
	[CMD_HELLO] = "hello",
	[CMD_QUIT] = "quit",
	[CMD_CHANNELS] = "channels",
	[CMD_DECIMATE] = "decimate",
	[CMD_SINCE] = "since",
	[CMD_HISTORY] = "history",
	[CMD_MARKER] = "marker",
	[CMD_PAUSE] = "pause",
	[CMD_RESUME] = "resume",
	[CMD_BOARD] = "board",
};

/* Usage text per command, shown on a bad argument. */
static const char *const command_usage[] = {
	[CMD_FORMAT] = "format csv|json|binary",
	[CMD_STATUS] = "status",
	[CMD_HELP] = "help",
	[CMD_HELLO] = "hello [VERSION]",
	[CMD_QUIT] = "quit",
	[CMD_CHANNELS] = "channels all|LIST (e.g. 1,3,5-8 or labels)",
	[CMD_DECIMATE] = "decimate N (1..1024)",
	[CMD_SINCE] = "since SEQ [RUN]",
	[CMD_HISTORY] = "history SECONDS",
	[CMD_MARKER] = "marker TEXT",
	[CMD_PAUSE] = "pause",
	[CMD_RESUME] = "resume",
	[CMD_BOARD] = "board CMD",
};

#define NCOMMANDS (sizeof command_names / sizeof *command_names)

/* Return the name of a command type. */
const char *
command_name(enum command_type t)
{
	return (size_t)t < NCOMMANDS ? command_names[t] : "?";
}

/* Return the help text: every command, comma-separated. */
const char *
command_help(void)
{
	return "format csv|json|binary,status,hello [VERSION],channels all|LIST,"
	    "decimate N,since SEQ [RUN],history SECONDS,marker TEXT,pause,"
	    "resume,board CMD,help,quit";
}

/* Copy at most 32 printable ASCII bytes of s for an error message. */
static void
command_echo(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 4 < dstlen && n < 32; i++)
		dst[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (len > 32 && n + 4 < dstlen) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

/* Split the next space-separated word off [*p, end); returns its length. */
static size_t
command_word(const char **p, const char *end, const char **word)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	*word = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*p = s;
	return (size_t)(s - *word);
}

/* True when the word [w, w+len) equals s. */
static int
command_is(const char *w, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(w, s, len) == 0;
}

/* Parse a decimal u64 word; -1 when not one. */
static int
command_u64(const char *w, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(w[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(w[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parse a hex u64 word of 1..16 digits; -1 when not one. */
static int
command_hex64(const char *w, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 16)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = w[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* Parse a non-negative decimal number of seconds; -1 when not one. */
static int
command_seconds(const char *w, size_t len, double *out)
{
	char buf[32], *end;
	double v;

	if (len == 0 || len >= sizeof buf)
		return -1;
	for (size_t i = 0; i < len; i++)
		if ((w[i] < '0' || w[i] > '9') && w[i] != '.')
			return -1;
	memcpy(buf, w, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 ||
	    v > COMMAND_MAX_SECONDS)
		return -1;
	*out = v;
	return 0;
}

/* Check marker text: valid UTF-8, no control characters; -1 with err. */
int
command_check_marker(const char *text, size_t len, char *err, size_t errlen)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	if (len == 0) {
		snprintf(err, errlen, "usage: marker TEXT");
		return -1;
	}
	if (len > COMMAND_MAX_MARKER) {
		snprintf(err, errlen, "marker text too long (%zu bytes, max %d)",
		    len, COMMAND_MAX_MARKER);
		return -1;
	}
	while (i < len) {
		unsigned c = s[i], n, cp;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				goto control;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else
			goto bad;
		for (unsigned k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong, surrogate or out-of-range forms. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		if (cp >= 0x80 && cp <= 0x9f)
			goto control;
		i += n + 1;
	}
	return 0;
bad:
	snprintf(err, errlen, "marker text is not valid UTF-8 (byte %zu)", i);
	return -1;
control:
	snprintf(err, errlen, "marker text has a control character (byte %zu)",
	    i);
	return -1;
}

/* Find a label among the comma-separated labels; its 0-based index or -1. */
static int
command_label(const char *w, size_t len, const char *labels, unsigned nch)
{
	const char *p = labels;

	for (unsigned i = 0; i < nch && p != NULL && *p != '\0'; i++) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == len && memcmp(p, w, len) == 0)
			return (int)i;
		p = c ? c + 1 : NULL;
	}
	return -1;
}

/* Resolve a channel spec against the board's channels. */
int
command_channels(const char *spec, size_t len, const char *labels,
    unsigned nch, uint64_t *mask, char *err, size_t errlen)
{
	const char *p = spec, *end = spec + len;
	uint64_t m = 0;
	char echo[40];

	if (nch > 64)
		nch = 64;
	if (len == 3 && memcmp(spec, "all", 3) == 0) {
		*mask = nch >= 64 ? UINT64_MAX : (1ULL << nch) - 1;
		return 0;
	}
	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c ? c : end, *dash;
		size_t l = (size_t)(e - p);
		uint64_t a, b;
		int idx;

		dash = memchr(p, '-', l);
		if (l == 0)
			goto bad;
		if (command_u64(p, l, &a) == 0)
			b = a;
		else if (dash != NULL && command_u64(p, (size_t)(dash - p), &a) ==
		    0 && command_u64(dash + 1, (size_t)(e - dash - 1), &b) == 0) {
			if (b < a)
				goto bad;
		} else if ((idx = command_label(p, l, labels, nch)) >= 0)
			a = b = (uint64_t)idx + 1;
		else {
			command_echo(echo, sizeof echo, p, l);
			snprintf(err, errlen, "no channel '%s' (channels are "
			    "1-%u or their labels)", echo, nch);
			return -1;
		}
		if (a < 1 || b > nch) {
			snprintf(err, errlen, "channel out of range (1-%u)", nch);
			return -1;
		}
		for (uint64_t i = a; i <= b; i++)
			m |= 1ULL << (i - 1);
		p = c ? c + 1 : end;
		if (c != NULL && p == end)
			goto bad;
	}
	if (m == 0)
		goto bad;
	*mask = m;
	return 0;
bad:
	snprintf(err, errlen, "usage: %s", command_usage[CMD_CHANNELS]);
	return -1;
}

/* Parse one line into cmd; -1 with a message in err. */
int
command_parse(const char *line, size_t len, struct command *cmd, char *err,
    size_t errlen)
{
	const char *p = line, *end = line + len, *w, *a, *x, *y;
	size_t wl, al, xl, yl;
	enum command_type t = CMD_NONE;
	char echo[40];

	memset(cmd, 0, sizeof *cmd);
	if (len > COMMAND_MAX_LINE) {
		snprintf(err, errlen, "line too long (max %d bytes)",
		    COMMAND_MAX_LINE);
		return -1;
	}
	if (len > 0 && line[len - 1] == '\r')
		end--;
	if (memchr(line, '\0', (size_t)(end - line)) != NULL) {
		snprintf(err, errlen, "NUL byte in command");
		return -1;
	}
	wl = command_word(&p, end, &w);
	if (wl == 0)
		return 0;
	for (size_t i = 1; i < NCOMMANDS; i++)
		if (command_is(w, wl, command_names[i]))
			t = (enum command_type)i;
	if (t == CMD_NONE) {
		command_echo(echo, sizeof echo, w, wl);
		snprintf(err, errlen, "unknown command '%s' (try help)", echo);
		return -1;
	}
	cmd->type = t;
	/* Commands taking free text: the rest of the line after one space. */
	if (t == CMD_MARKER || t == CMD_BOARD) {
		const char *rest = p < end ? p + 1 : end;
		if (p >= end || (*p != ' ' && *p != '\t') || rest >= end)
			goto usage;
		cmd->text = rest;
		cmd->textlen = (size_t)(end - rest);
		if (t == CMD_MARKER)
			return command_check_marker(cmd->text, cmd->textlen, err,
			    errlen);
		if (cmd->textlen > COMMAND_MAX_BOARD)
			goto usage;
		return 0;
	}
	al = command_word(&p, end, &a);
	xl = command_word(&p, end, &x);
	yl = command_word(&p, end, &y);
	switch (t) {
	case CMD_FORMAT: {
		char name[16];
		if (al == 0 || al >= sizeof name || xl != 0)
			goto usage;
		memcpy(name, a, al);
		name[al] = '\0';
		if ((cmd->format = encode_format_parse(name)) == -1)
			goto usage;
		break;
	}
	case CMD_HELLO: {
		uint64_t v;
		if (xl != 0)
			goto usage;
		if (al != 0) {
			if (command_u64(a, al, &v) == -1 || v > 1000000)
				goto usage;
			cmd->version = (unsigned)v;
		}
		break;
	}
	case CMD_CHANNELS:
		if (al == 0 || xl != 0)
			goto usage;
		cmd->text = a;
		cmd->textlen = al;
		break;
	case CMD_DECIMATE: {
		uint64_t v;
		if (al == 0 || xl != 0 || command_u64(a, al, &v) == -1 ||
		    v < 1 || v > DECIMATE_MAX)
			goto usage;
		cmd->n = (unsigned)v;
		break;
	}
	case CMD_SINCE:
		if (al == 0 || yl != 0 || command_u64(a, al, &cmd->seq) == -1)
			goto usage;
		if (xl != 0) {
			if (command_hex64(x, xl, &cmd->run) == -1)
				goto usage;
			cmd->has_run = 1;
		}
		break;
	case CMD_HISTORY:
		if (al == 0 || xl != 0 ||
		    command_seconds(a, al, &cmd->seconds) == -1)
			goto usage;
		break;
	default:	/* status, help, quit, pause, resume: no arguments */
		if (al != 0)
			goto usage;
		break;
	}
	return 0;
usage:
	cmd->type = CMD_NONE;
	snprintf(err, errlen, "usage: %s", command_usage[t]);
	return -1;
}
