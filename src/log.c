/* log.c: leveled logging to stderr, with journald <N> prefixes under systemd. */
#include "autoconfig.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static atomic_int log_level = LOG_LVL_NOTICE;
static const char *log_progname = "eegd";
static int log_journal;

static const char *const log_names[] = {
	[LOG_LVL_ERR] = "error",
	[LOG_LVL_WARNING] = "warning",
	[LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* Set up logging: the threshold level and the program name. */
void
log_init(int level, const char *progname)
{
	atomic_store(&log_level, level);
	if (progname != NULL)
		log_progname = progname;
	/* journald sets JOURNAL_STREAM when stderr is connected to it. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

/* Change the threshold level (on reload or -v). */
void
log_set_level(int level)
{
	if (level < LOG_LVL_ERR)
		level = LOG_LVL_ERR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	atomic_store(&log_level, level);
}

/* Return the current threshold level. */
int
log_get_level(void)
{
	return atomic_load(&log_level);
}

/* Parse a level name (error, warning, notice, info, debug); -1 when unknown. */
int
log_level_parse(const char *name)
{
	for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++)
		if (strcasecmp(name, log_names[i]) == 0)
			return i;
	return -1;
}

/* Return the name of a level. */
const char *
log_level_name(int level)
{
	if (level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
		return "?";
	return log_names[level];
}

static void log_vlog(int, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

/* Format one message and write it to stderr in a single call. */
static void
log_vlog(int level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], line[1200];
	int n;

	if (level > atomic_load(&log_level))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal)
		n = snprintf(line, sizeof line, "<%d>%s%s%s\n", level, msg,
		    errnum ? ": " : "", errnum ? strerror(errnum) : "");
	else
		n = snprintf(line, sizeof line, "%s: %s: %s%s%s\n",
		    log_progname, log_names[level], msg, errnum ? ": " : "",
		    errnum ? strerror(errnum) : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	fwrite(line, 1, (size_t)n, stderr);
}

#define LOG_FN(name, level, witherr)                                  \
	void name(const char *fmt, ...)                               \
	{                                                             \
		int saved = errno;                                    \
		va_list ap;                                           \
		va_start(ap, fmt);                                    \
		log_vlog(level, (witherr) ? saved : 0, fmt, ap);      \
		va_end(ap);                                           \
		errno = saved;                                        \
	}

/* Log a warning with the text of errno appended. */
LOG_FN(log_warn, LOG_LVL_WARNING, 1)
/* Log a warning. */
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
/* Log an error without errno. */
LOG_FN(log_errx, LOG_LVL_ERR, 0)
/* Log a notice. */
LOG_FN(log_notice, LOG_LVL_NOTICE, 0)
/* Log an informational message. */
LOG_FN(log_info, LOG_LVL_INFO, 0)
/* Log a debugging message. */
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

/* Log an error with errno text and exit(1); for start-up only. */
void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit(1); for start-up only. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
