/*
 * fuzz_config.c: libFuzzer target for the config parser.
 *
 * An input starting with a NUL byte is a list of command-line overrides,
 * "section\0key\0value\0section\0key\0value...", applied by config_load()
 * with no file (config_set() with any bytes the INI parser would never
 * hand it).  Any other input is a config file: it is written to a memfd
 * and loaded as /proc/self/fd/N.
 *
 * On success every setting must lie in its documented range (eegd.conf(5))
 * and every string must be terminated inside its array; each listen
 * address must survive config_format_listen() and config_parse_listen()
 * unchanged (but see KNOWN below).  On failure the message must be terminated, and a file's
 * must start with "path:".
 */
#define _GNU_SOURCE
#include "autoconfig.h"

#include "fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "sample.h"



#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)
#define MAX_OV 8

/* Check a loaded config against eegd.conf(5). */
static void
check_config(const struct config *c)
{
	CHECK(c->nlisten <= CONFIG_MAX_LISTEN, "nlisten %zu", c->nlisten);
	for (size_t i = 0; i < c->nlisten; i++) {
		const struct listen_addr *la = &c->listen[i];
		struct listen_addr back;
		char text[256], err[256];

		CHECK(la->kind == LISTEN_UNIX || la->kind == LISTEN_TCP,
		    "kind %d", (int)la->kind);
		CHECK(TERMINATED(la->path) && TERMINATED(la->host), "listen");
		if (la->kind == LISTEN_UNIX)
			CHECK(la->path[0] != '\0', "empty unix path");
		else
			CHECK(la->host[0] != '\0' && la->port <= 65535,
			    "tcp %s %u", la->host, la->port);
		/* Finding F1 (fixed): only numeric hosts, so every address
		 * formats to text that parses back. */
		CHECK(la->kind != LISTEN_TCP || strpbrk(la->host, "[]") == NULL,
		    "host '%s'", la->host);
		config_format_listen(la, text, sizeof text);
		CHECK(config_parse_listen(text, &back, err, sizeof err) == 0,
		    "'%s' does not parse back: %s", text, err);
		CHECK(back.kind == la->kind && strcmp(back.path, la->path) == 0 &&
		    strcmp(back.host, la->host) == 0 && back.port == la->port,
		    "'%s' parses back differently", text);
	}
	CHECK(c->log_level >= LOG_LVL_ERR && c->log_level <= LOG_LVL_DEBUG,
	    "log_level %d", c->log_level);
	CHECK(c->max_clients >= 1 && c->max_clients <= 1000000,
	    "max_clients %u", c->max_clients);
	CHECK(c->client_max_buffer >= 4096 &&
	    c->client_max_buffer <= (size_t)1 << 40, "client_max_buffer %zu",
	    c->client_max_buffer);
	CHECK(c->slow_client == SLOW_DROP || c->slow_client == SLOW_DISCONNECT,
	    "slow_client");
	CHECK(c->max_coalesce_ms <= 1000, "max_coalesce_ms");
	CHECK(c->history_seconds >= 1 && c->history_seconds <= 3600,
	    "history_seconds");
	CHECK(TERMINATED(c->board_type) && (!strcmp(c->board_type, "synthetic") ||
	    !strcmp(c->board_type, "cyton")), "type");
	CHECK(c->rate >= 1 && c->rate <= 100000, "rate %u", c->rate);
	CHECK(c->channels >= 1 && c->channels <= SAMPLE_MAX_CHANNELS,
	    "channels %u", c->channels);
	CHECK(TERMINATED(c->device) && (!strcmp(c->device, "auto") ||
	    c->device[0] == '/'), "device");
	for (unsigned i = 0; i < 16; i++) {
		unsigned g = c->gain[i];
		CHECK(g == 0 || g == 1 || g == 2 || g == 4 || g == 6 || g == 8 ||
		    g == 12 || g == 24, "gain[%u] %u", i, g);
	}
	CHECK(c->fallback_synthetic == 0 || c->fallback_synthetic == 1,
	    "fallback");
	CHECK(c->board_commands_tcp == 0 || c->board_commands_tcp == 1,
	    "board_commands_tcp");
}

/* Load the input as a file through a memfd. */
static void
fuzz_file(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct config cfg;
	char err[512];

	if (fd == -1) {
		fd = memfd_create("fuzz-config", MFD_CLOEXEC);
		CHECK(fd != -1, "memfd_create");
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size, "pwrite");
	memset(err, 'E', sizeof err);
	if (config_load(&cfg, path, 1, NULL, 0, err, sizeof err) == 0)
		check_config(&cfg);
	else {
		CHECK(TERMINATED(err), "error text not terminated");
		CHECK(strncmp(err, path, strlen(path)) == 0 &&
		    err[strlen(path)] == ':', "error '%s' without the path",
		    err);
	}
}

/* Apply the input as command-line overrides. */
static void
fuzz_overrides(const uint8_t *data, size_t size)
{
	struct config_override ov[MAX_OV];
	struct config cfg;
	char *buf = malloc(size + 1), *p, *end, err[512];
	size_t nov = 0;

	CHECK(buf != NULL, "malloc");
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	end = buf + size;
	while (nov < MAX_OV && p < end) {
		const char *f[3];
		for (int k = 0; k < 3; k++) {
			f[k] = p;
			p += strlen(p);
			if (p < end)
				p++;
		}
		ov[nov].section = f[0];
		ov[nov].key = f[1];
		ov[nov].value = f[2];
		nov++;
	}
	memset(err, 'E', sizeof err);
	if (config_load(&cfg, NULL, 0, ov, nov, err, sizeof err) == 0)
		check_config(&cfg);
	else
		CHECK(TERMINATED(err) && strncmp(err, "command line: ", 14) == 0,
		    "error text");
	free(buf);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == '\0')
		fuzz_overrides(data + 1, size - 1);
	else
		fuzz_file(data, size);
	return 0;
}
