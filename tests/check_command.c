/*
 * check_command.c: unit tests for the command-line parser (src/command.h):
 * every command and its arguments, usage and unknown-command errors, CR,
 * empty, over-long and NUL-bearing lines, channel specs and marker text.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "decimate.h"
#include "encode.h"

static struct command cmd;
static char err[256];

/* Parse the C string line and insist that it parses as type. */
static void
parse_ok(const char *line, enum command_type type)
{
	err[0] = '\0';
	memset(&cmd, 0xA5, sizeof cmd);
	ck_assert_msg(command_parse(line, strlen(line), &cmd, err,
	    sizeof err) == 0, "'%s' failed: %s", line, err);
	ck_assert_msg(cmd.type == type, "'%s' parsed as %d, want %d", line,
	    (int)cmd.type, (int)type);
}

/* Parse len bytes of line and insist on the error msg. */
static void
parse_bad_len(const char *line, size_t len, const char *msg)
{
	err[0] = '\0';
	ck_assert_int_eq(command_parse(line, len, &cmd, err, sizeof err), -1);
	ck_assert_str_eq(err, msg);
}

/* Parse the C string line and insist on the error msg. */
static void
parse_bad(const char *line, const char *msg)
{
	parse_bad_len(line, strlen(line), msg);
}

/* Insist that cmd.text is exactly want. */
static void
check_text(const char *want)
{
	ck_assert_ptr_nonnull(cmd.text);
	ck_assert_uint_eq(cmd.textlen, strlen(want));
	ck_assert_mem_eq(cmd.text, want, cmd.textlen);
}

/* Resolve spec against labels; insist that it gives mask. */
static void
channels_ok(const char *spec, const char *labels, unsigned nch,
    uint64_t want)
{
	uint64_t mask = 0;

	err[0] = '\0';
	ck_assert_msg(command_channels(spec, strlen(spec), labels, nch, &mask,
	    err, sizeof err) == 0, "'%s' failed: %s", spec, err);
	ck_assert_msg(mask == want, "'%s' gave %#llx, want %#llx", spec,
	    (unsigned long long)mask, (unsigned long long)want);
}

/* Resolve spec against labels; insist on the error msg. */
static void
channels_bad(const char *spec, const char *labels, unsigned nch,
    const char *msg)
{
	uint64_t mask = 0;

	err[0] = '\0';
	ck_assert_int_eq(command_channels(spec, strlen(spec), labels, nch,
	    &mask, err, sizeof err), -1);
	ck_assert_str_eq(err, msg);
}

/* Check len bytes of marker text; insist on the error msg (NULL: none). */
static void
marker_check(const char *text, size_t len, const char *msg)
{
	int rc;

	err[0] = '\0';
	rc = command_check_marker(text, len, err, sizeof err);
	if (msg == NULL)
		ck_assert_msg(rc == 0, "marker check failed: %s", err);
	else {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(err, msg);
	}
}

/* The argument-less commands parse, with blanks around them. */
START_TEST(test_simple_commands)
{
	parse_ok("status", CMD_STATUS);
	parse_ok("help", CMD_HELP);
	parse_ok("quit", CMD_QUIT);
	parse_ok("hello", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 0);
	parse_ok("pause", CMD_PAUSE);
	parse_ok("resume", CMD_RESUME);
	/* Blanks around the words are fine. */
	parse_ok("  status  ", CMD_STATUS);
	parse_ok("\tquit\t", CMD_QUIT);
}
END_TEST

/* format takes exactly one known format name. */
START_TEST(test_format)
{
	parse_ok("format csv", CMD_FORMAT);
	ck_assert_int_eq(cmd.format, FMT_CSV);
	parse_ok("format json", CMD_FORMAT);
	ck_assert_int_eq(cmd.format, FMT_JSON);
	parse_ok("format \t json ", CMD_FORMAT);
	ck_assert_int_eq(cmd.format, FMT_JSON);
	parse_ok("  format\tcsv", CMD_FORMAT);
	ck_assert_int_eq(cmd.format, FMT_CSV);
	parse_ok("format binary", CMD_FORMAT);
	ck_assert_int_eq(cmd.format, FMT_BINARY);

	parse_bad("format", "usage: format csv|json|binary");
	parse_bad("format ", "usage: format csv|json|binary");
	parse_bad("format xml", "usage: format csv|json|binary");
	parse_bad("format CSV", "usage: format csv|json|binary");
	parse_bad("format csv json", "usage: format csv|json|binary");
	parse_bad("format jsonjsonjsonjsonjson",
	    "usage: format csv|json|binary");
}
END_TEST

/* hello takes an optional decimal version, bounded. */
START_TEST(test_hello)
{
	parse_ok("hello 1", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 1);
	parse_ok("hello 0", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 0);
	parse_ok("hello 42", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 42);
	parse_ok("hello   2  ", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 2);
	parse_ok("hello 1000000", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 1000000);

	parse_bad("hello x", "usage: hello [VERSION]");
	parse_bad("hello 1x", "usage: hello [VERSION]");
	parse_bad("hello -1", "usage: hello [VERSION]");
	parse_bad("hello +1", "usage: hello [VERSION]");
	parse_bad("hello 1.0", "usage: hello [VERSION]");
	parse_bad("hello 1 2", "usage: hello [VERSION]");
	/* Too big to be a version: refused, never wrapped around. */
	parse_bad("hello 1000001", "usage: hello [VERSION]");
	parse_bad("hello 99999999999999999999", "usage: hello [VERSION]");
	parse_bad("hello 4294967297", "usage: hello [VERSION]");
	parse_bad("hello 18446744073709551617", "usage: hello [VERSION]");
}
END_TEST

/* Commands without arguments refuse one. */
START_TEST(test_no_argument_commands)
{
	parse_bad("status now", "usage: status");
	parse_bad("help me", "usage: help");
	parse_bad("quit 1", "usage: quit");
	parse_bad("  quit  now  please", "usage: quit");
	parse_bad("pause 5", "usage: pause");
	parse_bad("resume all", "usage: resume");
}
END_TEST

/* An unknown word is echoed, cut and made printable. */
START_TEST(test_unknown_command)
{
	char line[200], want[200];

	parse_bad("foo", "unknown command 'foo' (try help)");
	parse_bad("foo bar baz", "unknown command 'foo' (try help)");
	/* Commands are case-sensitive and whole words. */
	parse_bad("QUIT", "unknown command 'QUIT' (try help)");
	parse_bad("stat", "unknown command 'stat' (try help)");
	parse_bad("statuses", "unknown command 'statuses' (try help)");
	parse_bad("formatcsv", "unknown command 'formatcsv' (try help)");
	/* Unprintable bytes are echoed as '?'. */
	parse_bad("qu\x01it", "unknown command 'qu?it' (try help)");
	parse_bad("\x1b[2Jx", "unknown command '?[2Jx' (try help)");
	parse_bad("caf\xc3\xa9", "unknown command 'caf?" "?' (try help)");
	/* A long word is echoed cut to 32 bytes and "...". */
	memset(line, 'a', 100);
	line[100] = '\0';
	snprintf(want, sizeof want,
	    "unknown command '%.32s...' (try help)", line);
	parse_bad(line, want);
	line[32] = '\0';
	snprintf(want, sizeof want, "unknown command '%.32s' (try help)", line);
	parse_bad(line, want);
}
END_TEST

/* One trailing CR is a line end; other CRs are bytes. */
START_TEST(test_trailing_cr)
{
	parse_ok("quit\r", CMD_QUIT);
	parse_ok("status \r", CMD_STATUS);
	parse_ok("format json\r", CMD_FORMAT);
	ck_assert_int_eq(cmd.format, FMT_JSON);
	parse_ok("hello 1\r", CMD_HELLO);
	ck_assert_uint_eq(cmd.version, 1);
	parse_ok("\r", CMD_NONE);
	/* Only the one trailing CR is a line end; others are bytes. */
	parse_bad("quit\r\r", "unknown command 'quit?' (try help)");
	parse_bad("qu\rit", "unknown command 'qu?it' (try help)");
}
END_TEST

/* An empty or blank line is CMD_NONE, not an error. */
START_TEST(test_empty_line)
{
	err[0] = '\0';
	memset(&cmd, 0xA5, sizeof cmd);
	ck_assert_int_eq(command_parse("", 0, &cmd, err, sizeof err), 0);
	ck_assert_int_eq(cmd.type, CMD_NONE);
	parse_ok("   ", CMD_NONE);
	parse_ok(" \t \t", CMD_NONE);
	/* The length counts, not the NUL: a zero-length view of text. */
	ck_assert_int_eq(command_parse("quit", 0, &cmd, err, sizeof err), 0);
	ck_assert_int_eq(cmd.type, CMD_NONE);
	/* And a prefix view parses as the prefix. */
	ck_assert_int_eq(command_parse("quitter", 4, &cmd, err, sizeof err),
	    0);
	ck_assert_int_eq(cmd.type, CMD_QUIT);
}
END_TEST

/* Lines over COMMAND_MAX_LINE are refused whatever they hold. */
START_TEST(test_long_line)
{
	static char line[COMMAND_MAX_LINE + 64];

	/* Exactly the maximum: parsed. */
	memset(line, ' ', sizeof line);
	memcpy(line, "status", 6);
	ck_assert_int_eq(command_parse(line, COMMAND_MAX_LINE, &cmd, err,
	    sizeof err), 0);
	ck_assert_int_eq(cmd.type, CMD_STATUS);
	/* One byte more: refused, even when it is all blanks. */
	parse_bad_len(line, COMMAND_MAX_LINE + 1,
	    "line too long (max 1024 bytes)");
	memset(line, ' ', sizeof line);
	parse_bad_len(line, COMMAND_MAX_LINE + 1,
	    "line too long (max 1024 bytes)");
	memset(line, 'x', sizeof line);
	parse_bad_len(line, sizeof line, "line too long (max 1024 bytes)");
}
END_TEST

/* A NUL byte anywhere before the CR is refused. */
START_TEST(test_nul_byte)
{
	parse_bad_len("qu\0it", 5, "NUL byte in command");
	parse_bad_len("quit\0", 5, "NUL byte in command");
	parse_bad_len("\0", 1, "NUL byte in command");
	parse_bad_len("format\0json", 11, "NUL byte in command");
	parse_bad_len("quit\0\r", 6, "NUL byte in command");
}
END_TEST

/* Errors are cut to a short buffer and stay terminated. */
START_TEST(test_small_err_buffer)
{
	char small[8];

	/* The message is cut to the buffer, always terminated. */
	memset(small, 'Z', sizeof small);
	ck_assert_int_eq(command_parse("nope", 4, &cmd, small, sizeof small),
	    -1);
	ck_assert_str_eq(small, "unknown");
}
END_TEST

/* Names map both ways and the help text lists every command. */
START_TEST(test_names_and_help)
{
	const char *h = command_help(), *p;
	int seen[CMD_BOARD + 1];

	ck_assert_str_eq(command_name(CMD_NONE), "");
	ck_assert_str_eq(command_name(CMD_FORMAT), "format");
	ck_assert_str_eq(command_name(CMD_STATUS), "status");
	ck_assert_str_eq(command_name(CMD_HELP), "help");
	ck_assert_str_eq(command_name(CMD_HELLO), "hello");
	ck_assert_str_eq(command_name(CMD_QUIT), "quit");
	ck_assert_str_eq(command_name(CMD_CHANNELS), "channels");
	ck_assert_str_eq(command_name(CMD_DECIMATE), "decimate");
	ck_assert_str_eq(command_name(CMD_SINCE), "since");
	ck_assert_str_eq(command_name(CMD_HISTORY), "history");
	ck_assert_str_eq(command_name(CMD_MARKER), "marker");
	ck_assert_str_eq(command_name(CMD_PAUSE), "pause");
	ck_assert_str_eq(command_name(CMD_RESUME), "resume");
	ck_assert_str_eq(command_name(CMD_BOARD), "board");
	ck_assert_str_eq(command_name((enum command_type)99), "?");

	/*
	 * The help text lists each command once, comma-separated, each
	 * entry starting with the command's name.
	 */
	memset(seen, 0, sizeof seen);
	for (p = h; *p != '\0';) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p), wl;
		int found = 0;
		wl = strcspn(p, " ,");
		for (int t = CMD_FORMAT; t <= CMD_BOARD; t++) {
			const char *name = command_name((enum command_type)t);
			if (strlen(name) == wl && memcmp(p, name, wl) == 0) {
				seen[t]++;
				found = 1;
			}
		}
		ck_assert_msg(found, "help entry '%.*s' names no command",
		    (int)l, p);
		p = c ? c + 1 : p + l;
	}
	for (int t = CMD_FORMAT; t <= CMD_BOARD; t++)
		ck_assert_msg(seen[t] == 1, "help lists '%s' %d times",
		    command_name((enum command_type)t), seen[t]);
}
END_TEST

/* channels takes one spec word, kept as a pointer into the line. */
START_TEST(test_channels_command)
{
	static const char line[] = "channels 1,3,5-8";

	parse_ok(line, CMD_CHANNELS);
	check_text("1,3,5-8");
	/* The text points into the line itself. */
	ck_assert_ptr_eq(cmd.text, line + 9);
	parse_ok("channels all\r", CMD_CHANNELS);
	check_text("all");
	parse_ok("  channels\tFp1,O2 ", CMD_CHANNELS);
	check_text("Fp1,O2");
	parse_bad("channels",
	    "usage: channels all|LIST (e.g. 1,3,5-8 or labels)");
	parse_bad("channels 1 2",
	    "usage: channels all|LIST (e.g. 1,3,5-8 or labels)");
}
END_TEST

/* Channel specs resolve indices, ranges and labels to a mask. */
START_TEST(test_channels_spec)
{
	static const char *const usage =
	    "usage: channels all|LIST (e.g. 1,3,5-8 or labels)";
	static const char labels[] = "Fp1,Fp2,C3,C4,P3,P4,O1,O2";

	channels_ok("all", labels, 8, 0xff);
	channels_ok("all", NULL, 64, UINT64_MAX);
	channels_ok("all", NULL, 1, 0x1);
	channels_ok("1", labels, 8, 0x1);
	channels_ok("8", labels, 8, 0x80);
	channels_ok("1,3,5-8", labels, 8, 0xf5);
	channels_ok("2-2", labels, 8, 0x2);
	channels_ok("3,1,3", labels, 8, 0x5);
	channels_ok("Fp2,C4", labels, 8, 0xa);
	channels_ok("O2,1-2", labels, 8, 0x83);
	channels_ok("1-64", NULL, 64, UINT64_MAX);
	channels_ok("64", NULL, 64, 1ULL << 63);
	/* A label with a dash is still a label. */
	channels_ok("A-B", "ch1,A-B", 2, 0x2);
	/* Labels past nch do not count. */
	channels_bad("O2", labels, 4,
	    "no channel 'O2' (channels are 1-4 or their labels)");

	channels_bad("0", labels, 8, "channel out of range (1-8)");
	channels_bad("9", labels, 8, "channel out of range (1-8)");
	channels_bad("1-9", labels, 8, "channel out of range (1-8)");
	channels_bad("1-18446744073709551615", labels, 8,
	    "channel out of range (1-8)");
	channels_bad("X1", labels, 8,
	    "no channel 'X1' (channels are 1-8 or their labels)");
	channels_bad("fp1", labels, 8,
	    "no channel 'fp1' (channels are 1-8 or their labels)");
	channels_bad("3-1", labels, 8, usage);
	channels_bad("", labels, 8, usage);
	channels_bad("1,", labels, 8, usage);
	channels_bad(",1", labels, 8, usage);
	channels_bad("1,,2", labels, 8, usage);
}
END_TEST

/* decimate takes a factor in 1..DECIMATE_MAX. */
START_TEST(test_decimate)
{
	char line[64];

	parse_ok("decimate 1", CMD_DECIMATE);
	ck_assert_uint_eq(cmd.n, 1);
	parse_ok("decimate 4", CMD_DECIMATE);
	ck_assert_uint_eq(cmd.n, 4);
	snprintf(line, sizeof line, "decimate %d", DECIMATE_MAX);
	parse_ok(line, CMD_DECIMATE);
	ck_assert_uint_eq(cmd.n, DECIMATE_MAX);
	snprintf(line, sizeof line, "decimate %d", DECIMATE_MAX + 1);
	parse_bad(line, "usage: decimate N (1..1024)");
	parse_bad("decimate", "usage: decimate N (1..1024)");
	parse_bad("decimate 0", "usage: decimate N (1..1024)");
	parse_bad("decimate -2", "usage: decimate N (1..1024)");
	parse_bad("decimate 2x", "usage: decimate N (1..1024)");
	parse_bad("decimate 2 3", "usage: decimate N (1..1024)");
	parse_bad("decimate 4294967300", "usage: decimate N (1..1024)");
}
END_TEST

/* since takes a decimal seq and an optional hex run id. */
START_TEST(test_since)
{
	parse_ok("since 0", CMD_SINCE);
	ck_assert_uint_eq(cmd.seq, 0);
	ck_assert_int_eq(cmd.has_run, 0);
	parse_ok("since 12345", CMD_SINCE);
	ck_assert_uint_eq(cmd.seq, 12345);
	ck_assert_int_eq(cmd.has_run, 0);
	parse_ok("since 18446744073709551615", CMD_SINCE);
	ck_assert_uint_eq(cmd.seq, UINT64_MAX);
	parse_ok("since 7 DEADbeef01", CMD_SINCE);
	ck_assert_uint_eq(cmd.seq, 7);
	ck_assert_int_eq(cmd.has_run, 1);
	ck_assert_uint_eq(cmd.run, 0xdeadbeef01ULL);
	parse_ok("since 7 ffffffffffffffff\r", CMD_SINCE);
	ck_assert_uint_eq(cmd.run, UINT64_MAX);
	parse_ok("since 7 0", CMD_SINCE);
	ck_assert_int_eq(cmd.has_run, 1);
	ck_assert_uint_eq(cmd.run, 0);

	parse_bad("since", "usage: since SEQ [RUN]");
	parse_bad("since x", "usage: since SEQ [RUN]");
	parse_bad("since -1", "usage: since SEQ [RUN]");
	parse_bad("since 18446744073709551616", "usage: since SEQ [RUN]");
	parse_bad("since 1 xyz", "usage: since SEQ [RUN]");
	parse_bad("since 1 0x12", "usage: since SEQ [RUN]");
	parse_bad("since 1 10000000000000000", "usage: since SEQ [RUN]");
	parse_bad("since 1 2 3", "usage: since SEQ [RUN]");
}
END_TEST

/* history takes plain non-negative decimal seconds, bounded. */
START_TEST(test_history)
{
	parse_ok("history 10", CMD_HISTORY);
	ck_assert_double_eq(cmd.seconds, 10.0);
	parse_ok("history 2.5", CMD_HISTORY);
	ck_assert_double_eq(cmd.seconds, 2.5);
	parse_ok("history .5", CMD_HISTORY);
	ck_assert_double_eq(cmd.seconds, 0.5);
	parse_ok("history 0", CMD_HISTORY);
	ck_assert_double_eq(cmd.seconds, 0.0);
	parse_ok("history 86400", CMD_HISTORY);
	ck_assert_double_eq(cmd.seconds, 86400.0);

	parse_bad("history", "usage: history SECONDS");
	parse_bad("history 86400.5", "usage: history SECONDS");
	parse_bad("history -1", "usage: history SECONDS");
	parse_bad("history 1e3", "usage: history SECONDS");
	parse_bad("history inf", "usage: history SECONDS");
	parse_bad("history nan", "usage: history SECONDS");
	parse_bad("history .", "usage: history SECONDS");
	parse_bad("history 1.2.3", "usage: history SECONDS");
	parse_bad("history 1 2", "usage: history SECONDS");
}
END_TEST

/* marker takes the rest of the line, checked as text. */
START_TEST(test_marker)
{
	static const char line[] = "marker eyes closed";
	char big[400];
	int n;

	parse_ok(line, CMD_MARKER);
	check_text("eyes closed");
	ck_assert_ptr_eq(cmd.text, line + 7);
	/* The text is the rest of the line after one blank, kept as is. */
	parse_ok("marker  two  spaces ", CMD_MARKER);
	check_text(" two  spaces ");
	parse_ok("marker\tx", CMD_MARKER);
	check_text("x");
	parse_ok("marker stimulus 3\r", CMD_MARKER);
	check_text("stimulus 3");
	parse_ok("marker caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    CMD_MARKER);
	check_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");

	parse_bad("marker", "usage: marker TEXT");
	parse_bad("marker ", "usage: marker TEXT");
	parse_bad("marker\r", "usage: marker TEXT");
	parse_bad("markerx", "unknown command 'markerx' (try help)");
	parse_bad("marker a\x01z",
	    "marker text has a control character (byte 1)");
	parse_bad("marker a\tb",
	    "marker text has a control character (byte 1)");
	parse_bad("marker \xff", "marker text is not valid UTF-8 (byte 0)");

	/* Up to COMMAND_MAX_MARKER bytes of text. */
	n = snprintf(big, sizeof big, "marker ");
	memset(big + n, 'm', COMMAND_MAX_MARKER);
	big[n + COMMAND_MAX_MARKER] = '\0';
	parse_ok(big, CMD_MARKER);
	ck_assert_uint_eq(cmd.textlen, COMMAND_MAX_MARKER);
	big[n + COMMAND_MAX_MARKER] = 'm';
	big[n + COMMAND_MAX_MARKER + 1] = '\0';
	parse_bad(big, "marker text too long (257 bytes, max 256)");
}
END_TEST

/* Marker text must be valid UTF-8 without control characters. */
START_TEST(test_marker_text)
{
	marker_check("ok", 2, NULL);
	marker_check("\xc2\xb5", 2, NULL);			/* U+00B5 */
	marker_check("\xc2\xa0", 2, NULL);			/* U+00A0 */
	marker_check("\xe2\x80\xa8", 3, NULL);		/* U+2028 */
	marker_check("\xef\xbf\xbd", 3, NULL);		/* U+FFFD */
	marker_check("\xf4\x8f\xbf\xbf", 4, NULL);		/* U+10FFFF */
	marker_check("", 0, "usage: marker TEXT");
	marker_check("a\x7f", 2,
	    "marker text has a control character (byte 1)");
	marker_check("\xc2\x80", 2,
	    "marker text has a control character (byte 0)");	/* C1 */
	marker_check("ab\xc2\x9f", 4,
	    "marker text has a control character (byte 2)");
	marker_check("\xc0\xaf", 2, "marker text is not valid UTF-8 (byte 0)");
	marker_check("\xc1\xbf", 2, "marker text is not valid UTF-8 (byte 0)");
	marker_check("x\xe0\x80\xaf", 4,
	    "marker text is not valid UTF-8 (byte 1)");	/* overlong */
	marker_check("\xed\xa0\x80", 3,
	    "marker text is not valid UTF-8 (byte 0)");	/* surrogate */
	marker_check("\xf4\x90\x80\x80", 4,
	    "marker text is not valid UTF-8 (byte 0)");	/* > U+10FFFF */
	marker_check("\xf5\x80\x80\x80", 4,
	    "marker text is not valid UTF-8 (byte 0)");
	marker_check("ab\xe2\x82", 4,
	    "marker text is not valid UTF-8 (byte 2)");	/* cut short */
	marker_check("\x80", 1, "marker text is not valid UTF-8 (byte 0)");
	marker_check("\xe2\x28\xa1", 3,
	    "marker text is not valid UTF-8 (byte 0)");
	/* The length counts, not a NUL. */
	marker_check("ab\x01", 2, NULL);
}
END_TEST

/* board takes the rest of the line, up to COMMAND_MAX_BOARD bytes. */
START_TEST(test_board)
{
	char big[128];
	int n;

	parse_ok("board b", CMD_BOARD);
	check_text("b");
	parse_ok("board x1060110X\r", CMD_BOARD);
	check_text("x1060110X");
	parse_ok("board ~4 v", CMD_BOARD);
	check_text("~4 v");
	parse_bad("board", "usage: board CMD");
	parse_bad("board ", "usage: board CMD");
	n = snprintf(big, sizeof big, "board ");
	memset(big + n, 'c', COMMAND_MAX_BOARD);
	big[n + COMMAND_MAX_BOARD] = '\0';
	parse_ok(big, CMD_BOARD);
	ck_assert_uint_eq(cmd.textlen, COMMAND_MAX_BOARD);
	big[n + COMMAND_MAX_BOARD] = 'c';
	big[n + COMMAND_MAX_BOARD + 1] = '\0';
	parse_bad(big, "usage: board CMD");
}
END_TEST

/* A usage error leaves CMD_NONE in the command. */
START_TEST(test_error_resets_type)
{
	/* A failed parse never leaves a command for the caller to run. */
	ck_assert_int_eq(command_parse("decimate 0", 10, &cmd, err,
	    sizeof err), -1);
	ck_assert_int_eq(cmd.type, CMD_NONE);
	ck_assert_int_eq(command_parse("quit now", 8, &cmd, err, sizeof err),
	    -1);
	ck_assert_int_eq(cmd.type, CMD_NONE);
}
END_TEST

/* The command parser's test suite. */
static Suite *
command_suite(void)
{
	Suite *s = suite_create("command");
	TCase *tc;

	tc = tcase_create("commands");
	tcase_add_test(tc, test_simple_commands);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_hello);
	tcase_add_test(tc, test_no_argument_commands);
	tcase_add_test(tc, test_names_and_help);
	tcase_add_test(tc, test_channels_command);
	tcase_add_test(tc, test_channels_spec);
	tcase_add_test(tc, test_decimate);
	tcase_add_test(tc, test_since);
	tcase_add_test(tc, test_history);
	tcase_add_test(tc, test_marker);
	tcase_add_test(tc, test_marker_text);
	tcase_add_test(tc, test_board);
	tcase_add_test(tc, test_error_resets_type);
	suite_add_tcase(s, tc);

	tc = tcase_create("lines");
	tcase_add_test(tc, test_unknown_command);
	tcase_add_test(tc, test_trailing_cr);
	tcase_add_test(tc, test_empty_line);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_small_err_buffer);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the command suite; exit status is non-zero when a test failed. */
int
main(void)
{
	SRunner *sr = srunner_create(command_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
