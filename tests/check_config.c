/*
 * check_config.c: unit tests for the configuration (src/config.h):
 * defaults, the fixture files in tests/data/, "file:line: message" errors
 * from generated bad files, listen addresses, sizes and overrides.
 *
 * Fixtures are found under $EEGD_SRCDIR/tests/data (make check sets it),
 * else ./tests/data.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

/* A temporary directory for generated files, made per test. */
static char tmpdir[PATH_MAX];
/* The path of the last generated file. */
static char tmpfile_path[PATH_MAX + 16];
static struct config cfg;
static char err[512];

/* Fixture: a fresh temporary directory and a zeroed config. */
static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/check_config.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	tmpfile_path[0] = '\0';
	memset(&cfg, 0, sizeof cfg);
	err[0] = '\0';
}

/* Fixture: remove the generated file and the directory. */
static void
teardown(void)
{
	if (tmpfile_path[0] != '\0')
		unlink(tmpfile_path);
	rmdir(tmpdir);
}

/* Return the path of fixture file name under tests/data. */
static const char *
fixture(const char *name)
{
	static char path[PATH_MAX];
	const char *dir = getenv("EEGD_SRCDIR");

	snprintf(path, sizeof path, "%s/tests/data/%s",
	    dir != NULL && *dir != '\0' ? dir : ".", name);
	return path;
}

/* Write text to a new file in the temporary directory; return its path. */
static const char *
write_file(const char *text)
{
	FILE *fp;

	if (tmpfile_path[0] != '\0')
		unlink(tmpfile_path);
	snprintf(tmpfile_path, sizeof tmpfile_path, "%s/test.conf", tmpdir);
	fp = fopen(tmpfile_path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
	ck_assert_int_eq(fclose(fp), 0);
	return tmpfile_path;
}

/* Load text as a file and insist on the error "PATH:line: msg". */
static void
check_bad_file(const char *text, int line, const char *msg)
{
	const char *path = write_file(text);
	char want[1024];

	snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
	err[0] = '\0';
	ck_assert_int_eq(config_load(&cfg, path, 1, NULL, 0, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, want);
}

/* Load text as a file and insist that it loads. */
static void
check_good_file(const char *text)
{
	const char *path = write_file(text);

	err[0] = '\0';
	ck_assert_msg(config_load(&cfg, path, 1, NULL, 0, err, sizeof err) == 0,
	    "config_load failed: %s", err);
}

/* Insist that config_set(section, key, value) fails with msg. */
static void
check_set_bad(const char *section, const char *key, const char *value,
    const char *msg)
{
	struct config c;

	config_defaults(&c);
	err[0] = '\0';
	ck_assert_int_eq(config_set(&c, section, key, value, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, msg);
}

/* Insist that value is a bad value for [section] key. */
static void
check_bad_value(const char *section, const char *key, const char *value)
{
	char msg[256];

	snprintf(msg, sizeof msg, "bad value '%s' for %s", value, key);
	check_set_bad(section, key, value, msg);
}

/* Return client_max_buffer after setting it to value (which must be good). */
static size_t
set_size(const char *value)
{
	struct config c;

	config_defaults(&c);
	ck_assert_msg(config_set(&c, "daemon", "client_max_buffer", value, err,
	    sizeof err) == 0, "client_max_buffer = %s: %s", value, err);
	return c.client_max_buffer;
}

/* Insist that config_parse_listen(s) fails with msg. */
static void
check_listen_bad(const char *s, const char *msg)
{
	struct listen_addr la;

	err[0] = '\0';
	ck_assert_int_eq(config_parse_listen(s, &la, err, sizeof err), -1);
	ck_assert_str_eq(err, msg);
}

/* Insist that config_parse_listen(s) fails as a bad tcp address. */
static void
check_tcp_bad(const char *s)
{
	char msg[256];

	snprintf(msg, sizeof msg, "bad tcp address '%s' (want tcp:HOST:PORT "
	    "with a numeric host, [IPv6] in brackets)", s);
	check_listen_bad(s, msg);
}

/* Insist on the built-in defaults. */
static void
check_defaults(const struct config *c)
{
	ck_assert_uint_eq(c->nlisten, 0);
	ck_assert_int_eq(c->log_level, LOG_LVL_NOTICE);
	ck_assert_uint_eq(c->max_clients, 1024);
	ck_assert_uint_eq(c->client_max_buffer, 1024 * 1024);
	ck_assert_int_eq(c->slow_client, SLOW_DROP);
	ck_assert_uint_eq(c->max_coalesce_ms, 16);
	ck_assert_uint_eq(c->history_seconds, 10);
	ck_assert_str_eq(c->board_type, "synthetic");
	ck_assert_uint_eq(c->rate, 250);
	ck_assert_uint_eq(c->channels, 8);
	ck_assert_uint_eq(c->seed, 1);
	ck_assert_str_eq(c->device, "auto");
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(c->gain[i], 0);
	ck_assert_int_eq(c->fallback_synthetic, 0);
	ck_assert_int_eq(c->board_commands_tcp, 0);
}

/* Insist that c holds what tests/data/good.conf says. */
static void
check_good_conf(const struct config *c)
{
	ck_assert_uint_eq(c->nlisten, 3);
	ck_assert_int_eq(c->listen[0].kind, LISTEN_UNIX);
	ck_assert_str_eq(c->listen[0].path, "/run/eegd/test.sock");
	ck_assert_int_eq(c->listen[1].kind, LISTEN_TCP);
	ck_assert_str_eq(c->listen[1].host, "127.0.0.1");
	ck_assert_uint_eq(c->listen[1].port, 7447);
	ck_assert_int_eq(c->listen[2].kind, LISTEN_TCP);
	ck_assert_str_eq(c->listen[2].host, "::1");
	ck_assert_uint_eq(c->listen[2].port, 7448);
	ck_assert_int_eq(c->log_level, LOG_LVL_DEBUG);
	ck_assert_uint_eq(c->max_clients, 10);
	ck_assert_uint_eq(c->client_max_buffer, 2 * 1024 * 1024);
	ck_assert_int_eq(c->slow_client, SLOW_DISCONNECT);
	ck_assert_uint_eq(c->max_coalesce_ms, 5);
	ck_assert_uint_eq(c->history_seconds, 30);
	ck_assert_str_eq(c->board_type, "synthetic");
	ck_assert_uint_eq(c->rate, 500);
	ck_assert_uint_eq(c->channels, 16);
	ck_assert_uint_eq(c->seed, UINT64_MAX);
	ck_assert_str_eq(c->device, "/dev/ttyUSB0");
	ck_assert_uint_eq(c->gain[0], 24);
	ck_assert_uint_eq(c->gain[1], 12);
	ck_assert_uint_eq(c->gain[2], 8);
	for (int i = 3; i < 16; i++)
		ck_assert_uint_eq(c->gain[i], 0);
	ck_assert_int_eq(c->fallback_synthetic, 1);
	ck_assert_int_eq(c->board_commands_tcp, 1);
}

/* The built-in defaults, and config_load without a file. */
START_TEST(test_defaults)
{
	memset(&cfg, 0xA5, sizeof cfg);
	config_defaults(&cfg);
	check_defaults(&cfg);

	/* No file at all: the defaults. */
	memset(&cfg, 0xA5, sizeof cfg);
	ck_assert_int_eq(config_load(&cfg, NULL, 0, NULL, 0, err, sizeof err),
	    0);
	check_defaults(&cfg);
}
END_TEST

/* tests/data/good.conf sets every key. */
START_TEST(test_good_file)
{
	ck_assert_msg(config_load(&cfg, fixture("good.conf"), 1, NULL, 0, err,
	    sizeof err) == 0, "%s", err);
	check_good_conf(&cfg);
}
END_TEST

/* An empty file gives the defaults. */
START_TEST(test_empty_file)
{
	ck_assert_msg(config_load(&cfg, fixture("empty.conf"), 1, NULL, 0, err,
	    sizeof err) == 0, "%s", err);
	check_defaults(&cfg);
}
END_TEST

/* Comments, CRLF, repeated sections and long-ish lines load. */
START_TEST(test_generated_good_files)
{
	/* Comments and blank lines only. */
	check_good_file("# nothing\n; here\n\n");
	check_defaults(&cfg);
	/* Sections with no keys, no final newline. */
	check_good_file("[daemon]\n[board]");
	check_defaults(&cfg);
	/* CRLF line ends, spaces around '=', a last line without '\n'. */
	check_good_file("[board]\r\nrate=1000\r\nchannels   =   4\r\n"
	    "[daemon]\r\nslow_client = drop");
	ck_assert_uint_eq(cfg.rate, 1000);
	ck_assert_uint_eq(cfg.channels, 4);
	ck_assert_int_eq(cfg.slow_client, SLOW_DROP);
	/* Sections may repeat; the last value wins. */
	check_good_file("[board]\nrate = 100\n[daemon]\nmax_clients = 3\n"
	    "[board]\nrate = 200\n");
	ck_assert_uint_eq(cfg.rate, 200);
	ck_assert_uint_eq(cfg.max_clients, 3);
	/* A long line below the limit is fine. */
	{
		char text[256];
		memset(text, 0, sizeof text);
		text[0] = '#';
		memset(text + 1, 'x', 150);
		text[151] = '\n';
		check_good_file(text);
	}
}
END_TEST

/* Each listen line adds an address, up to CONFIG_MAX_LISTEN. */
START_TEST(test_repeated_listen)
{
	char text[4096];
	size_t n = 0;

	/* Every listen line adds an address, up to CONFIG_MAX_LISTEN. */
	n += (size_t)snprintf(text + n, sizeof text - n, "[daemon]\n");
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
		n += (size_t)snprintf(text + n, sizeof text - n,
		    "listen = tcp:127.0.0.1:%d\n", 7000 + i);
	check_good_file(text);
	ck_assert_uint_eq(cfg.nlisten, CONFIG_MAX_LISTEN);
	for (int i = 0; i < CONFIG_MAX_LISTEN; i++) {
		ck_assert_int_eq(cfg.listen[i].kind, LISTEN_TCP);
		ck_assert_uint_eq(cfg.listen[i].port, 7000 + (unsigned)i);
	}
	/* One more is an error on its line. */
	snprintf(text + n, sizeof text - n,
	    "listen = unix:/tmp/one-too-many\n");
	check_bad_file(text, CONFIG_MAX_LISTEN + 2,
	    "too many listen lines (max 16)");
}
END_TEST

/* Unknown sections fail on their line, even without keys. */
START_TEST(test_bad_unknown_section)
{
	check_bad_file("[daemon]\nmax_clients = 5\n\n[bogus]\nkey = 1\n", 4,
	    "unknown section [bogus]");
	/* An unknown section with no keys at all is still an error. */
	check_bad_file("[daemon]\nmax_clients = 5\n[bogus]\n", 3,
	    "unknown section [bogus]");
	check_bad_file("[bogus]", 1, "unknown section [bogus]");
	check_bad_file("# c\n[board]\n[Daemon]\n", 3,
	    "unknown section [Daemon]");
	check_bad_file("[daemon]\n[daemons]\n", 2, "unknown section [daemons]");
	check_bad_file("[]\n", 1, "unknown section []");
	check_bad_file("[daemon\nmax_clients = 5\n", 1,
	    "section line without ']'");
}
END_TEST

/* Unknown keys fail on their line. */
START_TEST(test_bad_unknown_key)
{
	check_bad_file("[board]\nrate = 250\ncolour = red\n", 3,
	    "unknown key 'colour' in [board]");
	check_bad_file("[daemon]\n\n\nlisten_on = tcp:1.2.3.4:5\n", 4,
	    "unknown key 'listen_on' in [daemon]");
	/* Keys are case-sensitive. */
	check_bad_file("[board]\nRate = 250\n", 2,
	    "unknown key 'Rate' in [board]");
}
END_TEST

/* Bad values fail on their line; the first error wins. */
START_TEST(test_bad_value_in_file)
{
	check_bad_file("[daemon]\nmax_clients = 0\n", 2,
	    "bad value '0' for max_clients");
	check_bad_file("[board]\nrate = 250\nchannels = 65\n", 3,
	    "bad value '65' for channels");
	check_bad_file("[daemon]\nlisten = udp:1.2.3.4:5\n", 2,
	    "bad listen address 'udp:1.2.3.4:5' (want unix:PATH or "
	    "tcp:HOST:PORT)");
	check_bad_file("[daemon]\nlisten = tcp:1.2.3.4\n", 2,
	    "bad tcp address 'tcp:1.2.3.4' (want tcp:HOST:PORT with a "
	    "numeric host, [IPv6] in brackets)");
	/* The first error wins. */
	check_bad_file("[daemon]\nlog_level = loud\n[board]\nrate = 0\n", 2,
	    "bad value 'loud' for log_level");
}
END_TEST

/* A key before any section fails on its line. */
START_TEST(test_bad_key_outside_section)
{
	check_bad_file("listen = unix:/tmp/x.sock\n[daemon]\n", 1,
	    "key 'listen' outside any section");
	check_bad_file("# comment\n\nrate = 250\n", 3,
	    "key 'rate' outside any section");
}
END_TEST

/* A line that is not a key, section or comment fails. */
START_TEST(test_bad_syntax)
{
	check_bad_file("[daemon]\nmax_clients 5\n", 2, "syntax error");
}
END_TEST

/* A line longer than libinih takes fails on its line. */
START_TEST(test_bad_line_too_long)
{
	static char text[8192];
	size_t n;

	n = (size_t)snprintf(text, sizeof text, "[daemon]\nmax_clients = 5\n#");
	memset(text + n, 'x', 5000);
	n += 5000;
	snprintf(text + n, sizeof text - n, "\n[board]\nrate = 250\n");
	check_bad_file(text, 3, "line too long");

	/* A too-long value line: the tail must not be read as a new line. */
	n = (size_t)snprintf(text, sizeof text, "[board]\nseed = 1");
	memset(text + n, '0', 5000);
	n += 5000;
	snprintf(text + n, sizeof text - n, "\nrate = 250\n");
	check_bad_file(text, 2, "line too long");
}
END_TEST

/* A NUL byte in a line fails on its line. */
START_TEST(test_bad_nul_byte)
{
	const char *path;
	FILE *fp;
	static const char text[] = "[daemon]\nmax_clients = 5\0junk\n";
	char want[1024];

	path = write_file("");
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, fp),
	    sizeof text - 1);
	ck_assert_int_eq(fclose(fp), 0);
	snprintf(want, sizeof want, "%s:2: NUL byte in line", path);
	ck_assert_int_eq(config_load(&cfg, path, 1, NULL, 0, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, want);
}
END_TEST

/* A failed load leaves the caller's config untouched. */
START_TEST(test_error_leaves_config)
{
	struct config before;

	config_defaults(&cfg);
	cfg.rate = 12345;
	memcpy(&before, &cfg, sizeof before);
	check_bad_file("[board]\nrate = 100\nchannels = 0\n", 3,
	    "bad value '0' for channels");
	ck_assert_mem_eq(&cfg, &before, sizeof cfg);
}
END_TEST

/* A missing file is the defaults unless it must exist. */
START_TEST(test_missing_file)
{
	char path[PATH_MAX + 32], want[PATH_MAX + 64];

	snprintf(path, sizeof path, "%s/no-such.conf", tmpdir);
	memset(&cfg, 0xA5, sizeof cfg);
	ck_assert_int_eq(config_load(&cfg, path, 0, NULL, 0, err, sizeof err),
	    0);
	check_defaults(&cfg);

	snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
	ck_assert_int_eq(config_load(&cfg, path, 1, NULL, 0, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, want);
}
END_TEST

/* A path that cannot be read as a file is an error. */
START_TEST(test_unreadable_file)
{
	/* A directory is not a config file, even when must_exist is 0. */
	ck_assert_int_eq(config_load(&cfg, tmpdir, 0, NULL, 0, err, sizeof err),
	    -1);
	ck_assert_int_eq(strncmp(err, tmpdir, strlen(tmpdir)), 0);
}
END_TEST

/* config_set accepts each key's range and names bad values. */
START_TEST(test_set_values)
{
	struct config c;

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "daemon", "log_level", "ERROR", err,
	    sizeof err), 0);
	ck_assert_int_eq(c.log_level, LOG_LVL_ERR);
	ck_assert_int_eq(config_set(&c, "daemon", "log_level", "warning", err,
	    sizeof err), 0);
	ck_assert_int_eq(c.log_level, LOG_LVL_WARNING);
	ck_assert_int_eq(config_set(&c, "daemon", "max_clients", "1000000",
	    err, sizeof err), 0);
	ck_assert_uint_eq(c.max_clients, 1000000);
	ck_assert_int_eq(config_set(&c, "daemon", "max_coalesce_ms", "0", err,
	    sizeof err), 0);
	ck_assert_uint_eq(c.max_coalesce_ms, 0);
	ck_assert_int_eq(config_set(&c, "daemon", "history_seconds", "3600",
	    err, sizeof err), 0);
	ck_assert_uint_eq(c.history_seconds, 3600);
	ck_assert_int_eq(config_set(&c, "daemon", "slow_client", "disconnect",
	    err, sizeof err), 0);
	ck_assert_int_eq(c.slow_client, SLOW_DISCONNECT);
	ck_assert_int_eq(config_set(&c, "board", "rate", "100000", err,
	    sizeof err), 0);
	ck_assert_uint_eq(c.rate, 100000);
	ck_assert_int_eq(config_set(&c, "board", "channels", "64", err,
	    sizeof err), 0);
	ck_assert_uint_eq(c.channels, 64);
	ck_assert_int_eq(config_set(&c, "board", "seed", "0", err, sizeof err),
	    0);
	ck_assert_uint_eq(c.seed, 0);

	check_bad_value("daemon", "log_level", "loud");
	check_bad_value("daemon", "log_level", "");
	check_bad_value("daemon", "max_clients", "0");
	check_bad_value("daemon", "max_clients", "1000001");
	check_bad_value("daemon", "max_clients", "-1");
	check_bad_value("daemon", "max_clients", "+5");
	check_bad_value("daemon", "max_clients", "5x");
	check_bad_value("daemon", "max_clients", "");
	check_bad_value("daemon", "max_coalesce_ms", "1001");
	check_bad_value("daemon", "history_seconds", "0");
	check_bad_value("daemon", "history_seconds", "3601");
	check_bad_value("daemon", "slow_client", "maybe");
	check_bad_value("daemon", "slow_client", "Drop");
	check_bad_value("board", "type", "openbci");
	check_bad_value("board", "type", "Cyton");
	check_bad_value("board", "type", "");
	check_bad_value("board", "rate", "0");
	check_bad_value("board", "rate", "100001");
	check_bad_value("board", "rate", "abc");
	check_bad_value("board", "channels", "0");
	check_bad_value("board", "channels", "65");
	check_bad_value("board", "seed", "-1");
	check_bad_value("board", "seed", "18446744073709551616");
	check_bad_value("board", "device", "");
	check_bad_value("board", "device", "ttyUSB0");
	check_bad_value("board", "device", "AUTO");
	check_bad_value("board", "fallback", "yes");
	check_bad_value("board", "fallback", "");
	check_bad_value("board", "board_commands_tcp", "2");
	check_bad_value("board", "board_commands_tcp", "maybe");
	check_bad_value("board", "board_commands_tcp", "");
	check_set_bad("daemon", "rate", "250",
	    "unknown key 'rate' in [daemon]");
	check_set_bad("board", "listen", "unix:/x",
	    "unknown key 'listen' in [board]");
	check_set_bad("bogus", "k", "v", "unknown section [bogus]");
	check_set_bad("", "rate", "250", "key 'rate' outside any section");
}
END_TEST

/* The [board] keys of the Cyton and the fallback. */
START_TEST(test_board_keys)
{
	static const char *const yes[] = { "yes", "YES", "true", "on", "1" };
	static const char *const no[] = { "no", "False", "off", "0" };
	struct config c;
	char path[300];

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "board", "type", "cyton", err,
	    sizeof err), 0);
	ck_assert_str_eq(c.board_type, "cyton");
	ck_assert_int_eq(config_set(&c, "board", "type", "synthetic", err,
	    sizeof err), 0);
	ck_assert_str_eq(c.board_type, "synthetic");

	ck_assert_int_eq(config_set(&c, "board", "device", "/dev/ttyUSB0", err,
	    sizeof err), 0);
	ck_assert_str_eq(c.device, "/dev/ttyUSB0");
	ck_assert_int_eq(config_set(&c, "board", "device", "auto", err,
	    sizeof err), 0);
	ck_assert_str_eq(c.device, "auto");
	/* The longest path that fits, then one byte more. */
	memset(path, 0, sizeof path);
	path[0] = '/';
	memset(path + 1, 'd', sizeof c.device - 2);
	ck_assert_int_eq(config_set(&c, "board", "device", path, err,
	    sizeof err), 0);
	ck_assert_uint_eq(strlen(c.device), sizeof c.device - 1);
	path[sizeof c.device - 1] = 'd';
	ck_assert_int_eq(config_set(&c, "board", "device", path, err,
	    sizeof err), -1);

	ck_assert_int_eq(config_set(&c, "board", "fallback", "synthetic", err,
	    sizeof err), 0);
	ck_assert_int_eq(c.fallback_synthetic, 1);
	ck_assert_int_eq(config_set(&c, "board", "fallback", "none", err,
	    sizeof err), 0);
	ck_assert_int_eq(c.fallback_synthetic, 0);

	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		c.board_commands_tcp = 0;
		ck_assert_int_eq(config_set(&c, "board", "board_commands_tcp",
		    yes[i], err, sizeof err), 0);
		ck_assert_int_eq(c.board_commands_tcp, 1);
	}
	for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
		c.board_commands_tcp = 1;
		ck_assert_int_eq(config_set(&c, "board", "board_commands_tcp",
		    no[i], err, sizeof err), 0);
		ck_assert_int_eq(c.board_commands_tcp, 0);
	}
}
END_TEST

/* gain takes 1 to 16 ADS1299 gains; a single one applies to all. */
START_TEST(test_gains)
{
	static const uint8_t valid[] = { 1, 2, 4, 6, 8, 12, 24 };
	struct config c;
	char v[128];
	size_t n = 0;

	config_defaults(&c);
	for (size_t i = 0; i < sizeof valid; i++) {
		snprintf(v, sizeof v, "%u", valid[i]);
		ck_assert_int_eq(config_set(&c, "board", "gain", v, err,
		    sizeof err), 0);
		for (int k = 0; k < 16; k++)
			ck_assert_uint_eq(c.gain[k], valid[i]);
	}
	ck_assert_int_eq(config_set(&c, "board", "gain", "1,2, 4 ,6,8,12,24",
	    err, sizeof err), 0);
	for (size_t k = 0; k < 16; k++)
		ck_assert_uint_eq(c.gain[k], k < sizeof valid ? valid[k] : 0);
	/* Sixteen gains, one per channel. */
	for (int k = 0; k < 16; k++)
		n += (size_t)snprintf(v + n, sizeof v - n, "%s%u",
		    k > 0 ? "," : "", valid[k % 7]);
	ck_assert_int_eq(config_set(&c, "board", "gain", v, err, sizeof err),
	    0);
	for (int k = 0; k < 16; k++)
		ck_assert_uint_eq(c.gain[k], valid[k % 7]);
	/* Seventeen are too many. */
	snprintf(v + n, sizeof v - n, ",24");
	check_bad_value("board", "gain", v);

	check_bad_value("board", "gain", "");
	check_bad_value("board", "gain", " ");
	check_bad_value("board", "gain", "0");
	check_bad_value("board", "gain", "3");
	check_bad_value("board", "gain", "48");
	check_bad_value("board", "gain", "-24");
	check_bad_value("board", "gain", "24,");
	check_bad_value("board", "gain", ",24");
	check_bad_value("board", "gain", "24,,24");
	check_bad_value("board", "gain", "24 24");
	check_bad_value("board", "gain", "24x");
	check_bad_value("board", "gain", "x");
	check_bad_value("board", "gain", "18446744073709551640");
}
END_TEST

/* client_max_buffer takes K, M and G binary suffixes. */
START_TEST(test_size_suffixes)
{
	ck_assert_uint_eq(set_size("4096"), 4096);
	ck_assert_uint_eq(set_size("65536"), 65536);
	ck_assert_uint_eq(set_size("4K"), 4096);
	ck_assert_uint_eq(set_size("4k"), 4096);
	ck_assert_uint_eq(set_size("64K"), 65536);
	ck_assert_uint_eq(set_size("2M"), 2 * 1024 * 1024);
	ck_assert_uint_eq(set_size("2m"), 2 * 1024 * 1024);
	ck_assert_uint_eq(set_size("1G"), 1024 * 1024 * 1024);
	ck_assert_uint_eq(set_size("3g"), 3ULL << 30);
	ck_assert_uint_eq(set_size("1024G"), 1ULL << 40);

	check_bad_value("daemon", "client_max_buffer", "4095");
	check_bad_value("daemon", "client_max_buffer", "3K");
	check_bad_value("daemon", "client_max_buffer", "0");
	check_bad_value("daemon", "client_max_buffer", "1025G");
	check_bad_value("daemon", "client_max_buffer", "1T");
	check_bad_value("daemon", "client_max_buffer", "4KB");
	check_bad_value("daemon", "client_max_buffer", "K");
	check_bad_value("daemon", "client_max_buffer", "");
	check_bad_value("daemon", "client_max_buffer", "-1M");
	check_bad_value("daemon", "client_max_buffer", "1.5M");
	check_bad_value("daemon", "client_max_buffer", "0x1000");
	check_bad_value("daemon", "client_max_buffer", " 4K");
	check_bad_value("daemon", "client_max_buffer",
	    "99999999999999999999999999999999999");
}
END_TEST

/* Listen addresses parse, format back and fail precisely. */
START_TEST(test_listen_parse)
{
	struct listen_addr la;
	char out[256];
	char path[200];

	ck_assert_int_eq(config_parse_listen("unix:/run/eegd.sock", &la, err,
	    sizeof err), 0);
	ck_assert_int_eq(la.kind, LISTEN_UNIX);
	ck_assert_str_eq(la.path, "/run/eegd.sock");
	config_format_listen(&la, out, sizeof out);
	ck_assert_str_eq(out, "unix:/run/eegd.sock");

	ck_assert_int_eq(config_parse_listen("unix:rel/x.sock", &la, err,
	    sizeof err), 0);
	ck_assert_str_eq(la.path, "rel/x.sock");

	ck_assert_int_eq(config_parse_listen("tcp:127.0.0.1:7447", &la, err,
	    sizeof err), 0);
	ck_assert_int_eq(la.kind, LISTEN_TCP);
	ck_assert_str_eq(la.host, "127.0.0.1");
	ck_assert_uint_eq(la.port, 7447);
	config_format_listen(&la, out, sizeof out);
	ck_assert_str_eq(out, "tcp:127.0.0.1:7447");

	ck_assert_int_eq(config_parse_listen("tcp:[::1]:7447", &la, err,
	    sizeof err), 0);
	ck_assert_int_eq(la.kind, LISTEN_TCP);
	ck_assert_str_eq(la.host, "::1");
	ck_assert_uint_eq(la.port, 7447);
	config_format_listen(&la, out, sizeof out);
	ck_assert_str_eq(out, "tcp:[::1]:7447");

	ck_assert_int_eq(config_parse_listen("tcp:[fe80::1%eth0]:1", &la, err,
	    sizeof err), 0);
	ck_assert_str_eq(la.host, "fe80::1%eth0");
	ck_assert_uint_eq(la.port, 1);

	ck_assert_int_eq(config_parse_listen("tcp:0.0.0.0:0", &la, err,
	    sizeof err), 0);
	ck_assert_str_eq(la.host, "0.0.0.0");
	ck_assert_uint_eq(la.port, 0);
	ck_assert_int_eq(config_parse_listen("tcp:127.0.0.1:65535", &la, err,
	    sizeof err), 0);
	ck_assert_uint_eq(la.port, 65535);
	/* Names are refused: -t must catch what bind would refuse. */
	check_tcp_bad("tcp:localhost:7447");
	check_tcp_bad("tcp:1.2.3.4.5:0");
	check_tcp_bad("tcp:[[x]:0");
	check_tcp_bad("tcp:::1:7447");

	/* The longest unix path that fits, and one byte more. */
	memset(path, 0, sizeof path);
	memcpy(path, "unix:", 5);
	memset(path + 5, 'p', sizeof la.path - 1);
	ck_assert_int_eq(config_parse_listen(path, &la, err, sizeof err), 0);
	ck_assert_uint_eq(strlen(la.path), sizeof la.path - 1);
	path[5 + sizeof la.path - 1] = 'p';
	snprintf(out, sizeof out, "bad unix socket path in '%s'", path);
	check_listen_bad(path, out);

	check_listen_bad("unix:", "bad unix socket path in 'unix:'");
	check_listen_bad("udp:1.2.3.4:5", "bad listen address 'udp:1.2.3.4:5' "
	    "(want unix:PATH or tcp:HOST:PORT)");
	check_listen_bad("", "bad listen address '' "
	    "(want unix:PATH or tcp:HOST:PORT)");
	check_listen_bad("/run/eegd.sock", "bad listen address "
	    "'/run/eegd.sock' (want unix:PATH or tcp:HOST:PORT)");
	check_tcp_bad("tcp:");
	check_tcp_bad("tcp:127.0.0.1");
	check_tcp_bad("tcp:127.0.0.1:");
	check_tcp_bad("tcp::7447");
	check_tcp_bad("tcp:127.0.0.1:65536");
	check_tcp_bad("tcp:127.0.0.1:-1");
	check_tcp_bad("tcp:127.0.0.1:+1");
	check_tcp_bad("tcp:127.0.0.1:80x");
	check_tcp_bad("tcp:::1:7447");
	check_tcp_bad("tcp:[::1]7447");
	check_tcp_bad("tcp:[::1:7447");
	check_tcp_bad("tcp:[::1]:");
	check_tcp_bad("tcp:[]:7447");
	check_tcp_bad("tcp:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1");	/* 64-byte host */
}
END_TEST

/* Command-line overrides apply last; their listens replace the file's. */
START_TEST(test_overrides)
{
	static const struct config_override ov[] = {
		{ "board", "rate", "1000" },
		{ "daemon", "listen", "tcp:0.0.0.0:9000" },
		{ "daemon", "listen", "unix:/tmp/b.sock" },
		{ "daemon", "max_clients", "7" },
	};
	static const struct config_override keep[] = {
		{ "board", "channels", "2" },
	};
	static const struct config_override bad[] = {
		{ "board", "rate", "fast" },
	};
	static const struct config_override badsec[] = {
		{ "nosuch", "host", "x" },
	};

	/* Command-line listens replace the file's; other keys override. */
	ck_assert_msg(config_load(&cfg, fixture("good.conf"), 1, ov, 4, err,
	    sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nlisten, 2);
	ck_assert_int_eq(cfg.listen[0].kind, LISTEN_TCP);
	ck_assert_str_eq(cfg.listen[0].host, "0.0.0.0");
	ck_assert_uint_eq(cfg.listen[0].port, 9000);
	ck_assert_int_eq(cfg.listen[1].kind, LISTEN_UNIX);
	ck_assert_str_eq(cfg.listen[1].path, "/tmp/b.sock");
	ck_assert_uint_eq(cfg.rate, 1000);
	ck_assert_uint_eq(cfg.max_clients, 7);
	ck_assert_uint_eq(cfg.channels, 16);
	ck_assert_uint_eq(cfg.client_max_buffer, 2 * 1024 * 1024);

	/* Without a listen override the file's listens stay. */
	ck_assert_msg(config_load(&cfg, fixture("good.conf"), 1, keep, 1, err,
	    sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nlisten, 3);
	ck_assert_uint_eq(cfg.channels, 2);
	ck_assert_uint_eq(cfg.rate, 500);

	/* Overrides apply without a file too. */
	ck_assert_int_eq(config_load(&cfg, NULL, 0, ov, 4, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.nlisten, 2);
	ck_assert_uint_eq(cfg.rate, 1000);
	ck_assert_uint_eq(cfg.channels, 8);

	ck_assert_int_eq(config_load(&cfg, NULL, 0, bad, 1, err, sizeof err),
	    -1);
	ck_assert_str_eq(err, "command line: bad value 'fast' for rate");
	ck_assert_int_eq(config_load(&cfg, NULL, 0, badsec, 1, err,
	    sizeof err), -1);
	ck_assert_str_eq(err, "command line: unknown section [nosuch]");
}
END_TEST

/* The configuration's test suite. */
static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_set_values);
	tcase_add_test(tc, test_board_keys);
	tcase_add_test(tc, test_gains);
	tcase_add_test(tc, test_size_suffixes);
	tcase_add_test(tc, test_listen_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_generated_good_files);
	tcase_add_test(tc, test_repeated_listen);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_overrides);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_unknown_section);
	tcase_add_test(tc, test_bad_unknown_key);
	tcase_add_test(tc, test_bad_value_in_file);
	tcase_add_test(tc, test_bad_key_outside_section);
	tcase_add_test(tc, test_bad_syntax);
	tcase_add_test(tc, test_bad_line_too_long);
	tcase_add_test(tc, test_bad_nul_byte);
	tcase_add_test(tc, test_error_leaves_config);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the config suite; exit status is non-zero when a test failed. */
int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
