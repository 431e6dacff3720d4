/*
 * command.h: one client command line to a parsed command or an error.
 * Pure and bounded, so it is unit-tested and fuzzed on its own.
 */
#ifndef EEGD_COMMAND_H
#define EEGD_COMMAND_H

#include <stddef.h>

#define COMMAND_MAX_LINE 1024

/* The commands of the line protocol (eegd-protocol(7)). */
enum command_type {
	CMD_NONE = 0,	/* an empty line: ignored */
	CMD_FORMAT,
	CMD_STATUS,
	CMD_HELP,
	CMD_HELLO,
	CMD_QUIT,
};

/* A parsed command. */
struct command {
	enum command_type type;
	int format;		/* CMD_FORMAT: enum encode_format */
	unsigned version;	/* CMD_HELLO: requested version, 0 if none */
};

/*
 * Parse one line (without its newline; a trailing CR is ignored).  Returns
 * 0 and fills cmd, or -1 with a one-line message in err.
 */
int command_parse(const char *line, size_t len, struct command *cmd,
    char *err, size_t errlen);
/* Return the name of a command type. */
const char *command_name(enum command_type t);
/* Return the one-line help text listing every command. */
const char *command_help(void);

#endif
