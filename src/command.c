/* command.c: one client command line to a parsed command or an error. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "encode.h"

static const char *const command_names[] = {
	[CMD_NONE] = "",
	[CMD_FORMAT] = "format",
	[CMD_STATUS] = "status",
	[CMD_HELP] = "help",
	[CMD_HELLO] = "hello",
	[CMD_QUIT] = "quit",
};

/* Return the name of a command type. */
const char *
command_name(enum command_type t)
{
	return (size_t)t < sizeof command_names / sizeof *command_names ?
	    command_names[t] : "?";
}

/* Return the one-line help text listing every command. */
const char *
command_help(void)
{
	return "format csv|json,status,hello [VERSION],help,quit";
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

/* Parse one line into cmd; -1 with a message in err. */
int
command_parse(const char *line, size_t len, struct command *cmd, char *err,
    size_t errlen)
{
	const char *p = line, *end = line + len, *w, *a, *x;
	size_t wl, al, xl;
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
	if (wl == 0) {
		cmd->type = CMD_NONE;
		return 0;
	}
	al = command_word(&p, end, &a);
	xl = command_word(&p, end, &x);
	if (command_is(w, wl, "format")) {
		char name[16];
		if (al == 0 || al >= sizeof name || xl != 0)
			goto usage;
		memcpy(name, a, al);
		name[al] = '\0';
		if ((cmd->format = encode_format_parse(name)) == -1)
			goto usage;
		cmd->type = CMD_FORMAT;
	} else if (command_is(w, wl, "hello")) {
		if (xl != 0)
			goto usage;
		if (al != 0) {
			unsigned v = 0;
			for (size_t i = 0; i < al; i++) {
				if (a[i] < '0' || a[i] > '9' || v > 100000)
					goto usage;
				v = v * 10 + (unsigned)(a[i] - '0');
			}
			cmd->version = v;
		}
		cmd->type = CMD_HELLO;
	} else if (command_is(w, wl, "status") || command_is(w, wl, "help") ||
	    command_is(w, wl, "quit")) {
		if (al != 0)
			goto usage;
		cmd->type = w[0] == 's' ? CMD_STATUS : w[0] == 'h' ? CMD_HELP :
		    CMD_QUIT;
	} else {
		command_echo(echo, sizeof echo, w, wl);
		snprintf(err, errlen, "unknown command '%s' (try help)", echo);
		return -1;
	}
	return 0;
usage:
	command_echo(echo, sizeof echo, w, wl);
	if (command_is(w, wl, "format"))
		snprintf(err, errlen, "usage: format csv|json");
	else if (command_is(w, wl, "hello"))
		snprintf(err, errlen, "usage: hello [VERSION]");
	else
		snprintf(err, errlen, "usage: %s (no arguments)", echo);
	return -1;
}
