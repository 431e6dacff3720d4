/*
 * fuzz_command.c: libFuzzer target for the client command parser.
 *
 * The input is one command line, in a buffer of exactly its size (so ASan
 * sees any read past it).  It goes through command_parse(); a channels
 * command's spec then goes through command_channels() against boards of
 * 1, 8, 16 and 64 channels; the raw input also goes through
 * command_channels() and command_check_marker(), the latter compared with
 * a reference UTF-8 checker written here from RFC 3629.  Every error text
 * must fit its buffer, be NUL-terminated and be printable ASCII (it is
 * sent to the client as is); error buffers are sized from the input so
 * truncation is exercised too.
 */
#include "autoconfig.h"

#include "fuzz.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "decimate.h"
#include "encode.h"



/* Labels of the boards the channel specs are resolved against. */
static const char labels8[] = "Fp1,Fp2,C3,C4,P7,P8,O1,O2";
static const char labels16[] = "ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8,ch9,ch10,"
    "ch11,ch12,ch13,ch14,ch15,ch16";

/* An error text must be a short printable line inside its buffer. */
static void
check_err(const char *err, size_t errlen)
{
	const char *nul = memchr(err, '\0', errlen);

	CHECK(nul != NULL, "error text not NUL-terminated");
	CHECK(errlen < 2 || nul > err, "empty error text");
	for (const char *s = err; s < nul; s++)
		CHECK(*s >= 0x20 && *s < 0x7f, "byte 0x%02X in error text",
		    (unsigned char)*s);
}

/* Reference: valid UTF-8 with no C0, DEL or C1 control; 1 if fine. */
static int
ref_marker_ok(const unsigned char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > COMMAND_MAX_MARKER)
		return 0;
	while (i < len) {
		unsigned c = s[i], need, cp, min;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3; cp = c & 0x07; min = 0x10000;
		} else
			return 0;
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* Resolve spec against a board of nch channels and check the result. */
static void
channels(const char *spec, size_t len, const char *labels, unsigned nch,
    size_t errlen)
{
	char *err = malloc(errlen);
	uint64_t mask = 0xDEADBEEF, all = nch >= 64 ? UINT64_MAX :
	    (1ULL << nch) - 1;

	CHECK(err != NULL, "malloc");
	memset(err, 'E', errlen);
	if (command_channels(spec, len, labels, nch, &mask, err, errlen) == 0) {
		CHECK(mask != 0, "empty mask");
		CHECK((mask & ~all) == 0, "mask %llx beyond %u channels",
		    (unsigned long long)mask, nch);
	} else if (errlen > 0)
		check_err(err, errlen);
	free(err);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1);
	size_t errlen = size > 0 ? 1 + data[0] % 160 : 128;
	char *err = malloc(errlen);
	struct command cmd;
	int rc, want;

	CHECK(line != NULL && err != NULL, "malloc");
	memcpy(line, data, size);
	memset(err, 'E', errlen);

	rc = command_parse(line, size, &cmd, err, errlen);
	if (rc == -1) {
		check_err(err, errlen);
		CHECK(cmd.type == CMD_NONE || cmd.type == CMD_MARKER,
		    "failed parse left type %d", cmd.type);
	} else {
		CHECK(rc == 0, "rc %d", rc);
		CHECK(size <= COMMAND_MAX_LINE, "a %zu-byte line accepted", size);
		CHECK(memchr(line, '\0', size > 0 && line[size - 1] == '\r' ?
		    size - 1 : size) == NULL, "NUL accepted");
		CHECK((unsigned)cmd.type <= CMD_BOARD, "type %d", cmd.type);
		CHECK(command_name(cmd.type) != NULL, "name");
		if (cmd.text != NULL)
			CHECK(cmd.text >= line && cmd.text + cmd.textlen <=
			    line + size, "text outside the line");
		switch (cmd.type) {
		case CMD_FORMAT:
			CHECK(cmd.format >= 0 && cmd.format < FMT_N,
			    "format %d", cmd.format);
			break;
		case CMD_DECIMATE:
			CHECK(cmd.n >= 1 && cmd.n <= DECIMATE_MAX, "n %u",
			    cmd.n);
			break;
		case CMD_HISTORY:
			CHECK(isfinite(cmd.seconds) && cmd.seconds >= 0 &&
			    cmd.seconds <= 86400, "seconds %g", cmd.seconds);
			break;
		case CMD_MARKER:
			CHECK(cmd.textlen >= 1 &&
			    cmd.textlen <= COMMAND_MAX_MARKER, "marker %zu",
			    cmd.textlen);
			CHECK(ref_marker_ok((const unsigned char *)cmd.text,
			    cmd.textlen), "bad marker text accepted");
			break;
		case CMD_BOARD:
			CHECK(cmd.textlen >= 1 &&
			    cmd.textlen <= COMMAND_MAX_BOARD, "board %zu",
			    cmd.textlen);
			break;
		case CMD_CHANNELS:
			CHECK(cmd.textlen >= 1, "channels");
			channels(cmd.text, cmd.textlen, labels8, 8, errlen);
			channels(cmd.text, cmd.textlen, labels16, 16, errlen);
			channels(cmd.text, cmd.textlen, "", 1, errlen);
			channels(cmd.text, cmd.textlen, "", 64, errlen);
			break;
		default:
			break;
		}
	}

	/* The raw bytes as a channel spec and as marker text. */
	channels(line, size, labels8, 8, errlen);
	channels(line, size, labels16, 16, errlen);
	memset(err, 'E', errlen);
	rc = command_check_marker(line, size, err, errlen);
	want = ref_marker_ok((const unsigned char *)line, size) ? 0 : -1;
	CHECK(rc == want, "command_check_marker says %d, the reference %d",
	    rc, want);
	if (rc == -1)
		check_err(err, errlen);
	free(err);
	free(line);
	return 0;
}
