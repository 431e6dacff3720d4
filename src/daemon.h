/* daemon.h: the daemon's lifecycle: start-up, signals, reload, shutdown. */
#ifndef EEGD_DAEMON_H
#define EEGD_DAEMON_H

#include <stddef.h>

#include "config.h"

/* What main hands the daemon. */
struct daemon_opts {
	const char *config_path;	/* the INI file */
	int config_must_exist;		/* given with -c: absence is an error */
	const struct config_override *ov;	/* command-line settings */
	size_t nov;
	int verbose;			/* -v count: raises the log level */
};

/* Run until SIGTERM/SIGINT; returns the exit status. */
int daemon_run(const struct daemon_opts *opts);

#endif
