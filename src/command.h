/*
 * command.h: one client command line to a parsed command or an error.
 * Pure and bounded, so it is unit-tested and fuzzed on its own.
 */
#ifndef EEGD_COMMAND_H
#define EEGD_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#define COMMAND_MAX_LINE 1024
#define COMMAND_MAX_MARKER 256
#define COMMAND_MAX_BOARD 32

/* The commands of the line protocol (eegd-protocol(7)). */
enum command_type {
	CMD_NONE = 0,	/* an empty line: ignored */
	CMD_FORMAT,
	CMD_STATUS,
	CMD_HELP,
	CMD_HELLO,
	CMD_QUIT,
	CMD_CHANNELS,
	CMD_DECIMATE,
	CMD_SINCE,
	CMD_HISTORY,
	CMD_MARKER,
	CMD_PAUSE,
	CMD_RESUME,
	CMD_BOARD,
};

/*
 * A parsed command.  text points into the parsed line (marker text,
 * channel spec, board command) and is valid while the line is.
 */
struct command {
	enum command_type type;
	int format;		/* FORMAT: enum encode_format */
	unsigned version;	/* HELLO: requested version, 0 if none */
	unsigned n;		/* DECIMATE: factor */
	uint64_t seq;		/* SINCE */
	int has_run;		/* SINCE: a run id was given */
	uint64_t run;		/* SINCE: the run id */
	double seconds;		/* HISTORY */
	const char *text;	/* MARKER, CHANNELS, BOARD */
	size_t textlen;
};

/*
 * Parse one line (without its newline; a trailing CR is ignored).  Returns
 * 0 and fills cmd, or -1 with a one-line message in err.
 */
int command_parse(const char *line, size_t len, struct command *cmd,
    char *err, size_t errlen);
/*
 * Resolve a channel spec ("all", or a comma list of 1-based indices,
 * ranges a-b and labels) against nch channels labelled by the
 * comma-separated labels; sets *mask (bit i = channel i+1) or -1 with err.
 */
int command_channels(const char *spec, size_t len, const char *labels,
    unsigned nch, uint64_t *mask, char *err, size_t errlen);
/* Check marker text: valid UTF-8, no control characters; -1 with err. */
int command_check_marker(const char *text, size_t len, char *err,
    size_t errlen);
/* Return the name of a command type. */
const char *command_name(enum command_type t);
/* Return the help text: every command, comma-separated. */
const char *command_help(void);

#endif
