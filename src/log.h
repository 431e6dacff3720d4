/* log.h: leveled logging to stderr, with journald <N> prefixes under systemd. */
#ifndef EEGD_LOG_H
#define EEGD_LOG_H

#include <stdarg.h>

/* Levels, from the syslog priorities journald understands. */
enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Set up logging: the threshold level and the program name. */
void log_init(int level, const char *progname);
/* Change the threshold level (on reload or -v). */
void log_set_level(int level);
/* Return the current threshold level. */
int log_get_level(void);
/* Parse a level name (error, warning, notice, info, debug); -1 when unknown. */
int log_level_parse(const char *name);
/* Return the name of a level. */
const char *log_level_name(int level);

/* Log a warning with the text of errno appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log a warning. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log an error (priority err) without errno. */
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log a notice: something a user should see in the default log. */
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log an informational message. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log a debugging message. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log an error with errno text and exit(1); for start-up only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Log an error and exit(1); for start-up only. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
