/* config.c: INI (libinih) and command-line settings into struct config. */
#include "autoconfig.h"

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "sample.h"
#ifdef HAVE_MQTT
#include <mosquitto.h>
#endif

/* Fill a config with the built-in defaults. */
void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->log_level = LOG_LVL_NOTICE;
	cfg->max_clients = 1024;
	cfg->client_max_buffer = 1024 * 1024;
	cfg->slow_client = SLOW_DROP;
	cfg->max_coalesce_ms = 16;
	cfg->history_seconds = 10;
	snprintf(cfg->board_type, sizeof cfg->board_type, "synthetic");
	cfg->rate = 250;
	cfg->channels = 8;
	cfg->seed = 1;
	snprintf(cfg->device, sizeof cfg->device, "auto");
	snprintf(cfg->mqtt.host, sizeof cfg->mqtt.host, "127.0.0.1");
	cfg->mqtt.port = 1883;
	cfg->mqtt.batch_ms = 40;
}

/* Parse yes/no (also true/false, on/off, 1/0); -1 when neither. */
static int
parse_bool(const char *s)
{
	if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") ||
	    !strcasecmp(s, "on") || !strcmp(s, "1"))
		return 1;
	if (!strcasecmp(s, "no") || !strcasecmp(s, "false") ||
	    !strcasecmp(s, "off") || !strcmp(s, "0"))
		return 0;
	return -1;
}

/* Parse "24,24,..." (1 to 16 gains from 1 2 4 6 8 12 24); one applies to all. */
static int
parse_gains(const char *s, uint8_t *gain)
{
	uint8_t g[16];
	unsigned n = 0;
	const char *p = s;

	while (*p != '\0') {
		char *end;
		unsigned long v;
		while (*p == ' ')
			p++;
		if (n == 16 || *p < '0' || *p > '9')
			return -1;
		v = strtoul(p, &end, 10);
		if (v != 1 && v != 2 && v != 4 && v != 6 && v != 8 && v != 12 &&
		    v != 24)
			return -1;
		g[n++] = (uint8_t)v;
		p = end;
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			if (*p == '\0')
				return -1;
		} else if (*p != '\0')
			return -1;
	}
	if (n == 0)
		return -1;
	for (unsigned i = 0; i < 16; i++)
		gain[i] = n == 1 ? g[0] : i < n ? g[i] : 0;
	return 0;
}

/* Parse an unsigned decimal in [min, max]; -1 when not. */
static int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (*s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parse a byte size with an optional K, M or G (binary) suffix. */
static int
parse_size(const char *s, size_t *out)
{
	char buf[32], *end;
	size_t len = strlen(s);
	unsigned long long v, mul = 1;

	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len + 1);
	switch (buf[len - 1]) {
	case 'k': case 'K': mul = 1ULL << 10; buf[--len] = '\0'; break;
	case 'm': case 'M': mul = 1ULL << 20; buf[--len] = '\0'; break;
	case 'g': case 'G': mul = 1ULL << 30; buf[--len] = '\0'; break;
	}
	if (len == 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v > (1ULL << 40) / mul)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

/* Parse "unix:PATH" or "tcp:HOST:PORT" ("tcp:[::1]:7447" for IPv6). */
int
config_parse_listen(const char *s, struct listen_addr *la, char *err,
    size_t errlen)
{
	unsigned long long port;
	const char *p, *colon;
	size_t hl;

	memset(la, 0, sizeof *la);
	if (strncmp(s, "unix:", 5) == 0) {
		la->kind = LISTEN_UNIX;
		if (s[5] == '\0' || strlen(s + 5) >= sizeof la->path) {
			snprintf(err, errlen, "bad unix socket path in '%s'", s);
			return -1;
		}
		strcpy(la->path, s + 5);
		return 0;
	}
	if (strncmp(s, "tcp:", 4) != 0) {
		snprintf(err, errlen,
		    "bad listen address '%s' (want unix:PATH or tcp:HOST:PORT)", s);
		return -1;
	}
	la->kind = LISTEN_TCP;
	p = s + 4;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		p++;
		hl = (size_t)(close - p);
		colon = close + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			goto bad;
		hl = (size_t)(colon - p);
		if (memchr(p, ':', hl) != NULL)
			goto bad;	/* bare IPv6 needs brackets */
	}
	if (hl == 0 || hl >= sizeof la->host)
		goto bad;
	memcpy(la->host, p, hl);
	la->host[hl] = '\0';
	/* Numeric addresses only: IPv4, or IPv6 (in brackets). */
	{
		unsigned char addr[16];
		char bare[sizeof la->host];
		int v6 = strchr(la->host, ':') != NULL;
		/* A scoped IPv6 address (fe80::1%eth0): check the address. */
		snprintf(bare, sizeof bare, "%s", la->host);
		if (v6)
			bare[strcspn(bare, "%")] = '\0';
		if (inet_pton(v6 ? AF_INET6 : AF_INET, bare, addr) != 1 ||
		    v6 != (s[4] == '['))
			goto bad;
	}
	if (parse_uint(colon + 1, 0, 65535, &port) == -1)
		goto bad;
	la->port = (unsigned)port;
	return 0;
bad:
	snprintf(err, errlen, "bad tcp address '%s' (want tcp:HOST:PORT with a "
	    "numeric host, [IPv6] in brackets)", s);
	return -1;
}

/* Format a listen address back to its unix:/tcp: form. */
void
config_format_listen(const struct listen_addr *la, char *buf, size_t len)
{
	if (la->kind == LISTEN_UNIX)
		snprintf(buf, len, "unix:%s", la->path);
	else if (strchr(la->host, ':') != NULL)
		snprintf(buf, len, "tcp:[%s]:%u", la->host, la->port);
	else
		snprintf(buf, len, "tcp:%s:%u", la->host, la->port);
}

/* Apply one [daemon] key. */
static int
config_set_daemon(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	unsigned long long v;
	int lvl;

	if (strcmp(key, "listen") == 0) {
		if (cfg->nlisten >= CONFIG_MAX_LISTEN) {
			snprintf(err, errlen, "too many listen lines (max %d)",
			    CONFIG_MAX_LISTEN);
			return -1;
		}
		if (config_parse_listen(value, &cfg->listen[cfg->nlisten], err,
		    errlen) == -1)
			return -1;
		cfg->nlisten++;
	} else if (strcmp(key, "log_level") == 0) {
		if ((lvl = log_level_parse(value)) == -1)
			goto bad;
		cfg->log_level = lvl;
	} else if (strcmp(key, "max_clients") == 0) {
		if (parse_uint(value, 1, 1000000, &v) == -1)
			goto bad;
		cfg->max_clients = (unsigned)v;
	} else if (strcmp(key, "client_max_buffer") == 0) {
		size_t sz;
		if (parse_size(value, &sz) == -1 || sz < 4096)
			goto bad;
		cfg->client_max_buffer = sz;
	} else if (strcmp(key, "slow_client") == 0) {
		if (strcmp(value, "drop") == 0)
			cfg->slow_client = SLOW_DROP;
		else if (strcmp(value, "disconnect") == 0)
			cfg->slow_client = SLOW_DISCONNECT;
		else
			goto bad;
	} else if (strcmp(key, "history_seconds") == 0) {
		if (parse_uint(value, 1, 3600, &v) == -1)
			goto bad;
		cfg->history_seconds = (unsigned)v;
	} else if (strcmp(key, "max_coalesce_ms") == 0) {
		if (parse_uint(value, 0, 1000, &v) == -1)
			goto bad;
		cfg->max_coalesce_ms = (unsigned)v;
	} else {
		snprintf(err, errlen, "unknown key '%s' in [daemon]", key);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad value '%s' for %s", value, key);
	return -1;
}

/* Apply one [board] key. */
static int
config_set_board(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	unsigned long long v;

	int b;

	if (strcmp(key, "type") == 0) {
		if (strcmp(value, "synthetic") != 0 && strcmp(value, "cyton") != 0)
			goto bad;
		snprintf(cfg->board_type, sizeof cfg->board_type, "%s", value);
	} else if (strcmp(key, "device") == 0) {
		if (*value == '\0' || strlen(value) >= sizeof cfg->device ||
		    (strcmp(value, "auto") != 0 && *value != '/'))
			goto bad;
		snprintf(cfg->device, sizeof cfg->device, "%s", value);
	} else if (strcmp(key, "gain") == 0) {
		if (parse_gains(value, cfg->gain) == -1)
			goto bad;
	} else if (strcmp(key, "fallback") == 0) {
		if (strcmp(value, "synthetic") == 0)
			cfg->fallback_synthetic = 1;
		else if (strcmp(value, "none") == 0)
			cfg->fallback_synthetic = 0;
		else
			goto bad;
	} else if (strcmp(key, "board_commands_tcp") == 0) {
		if ((b = parse_bool(value)) == -1)
			goto bad;
		cfg->board_commands_tcp = b;
	} else if (strcmp(key, "rate") == 0) {
		if (parse_uint(value, 1, 100000, &v) == -1)
			goto bad;
		cfg->rate = (unsigned)v;
	} else if (strcmp(key, "channels") == 0) {
		if (parse_uint(value, 1, SAMPLE_MAX_CHANNELS, &v) == -1)
			goto bad;
		cfg->channels = (unsigned)v;
	} else if (strcmp(key, "seed") == 0) {
		if (parse_uint(value, 0, UINT64_MAX, &v) == -1)
			goto bad;
		cfg->seed = v;
	} else {
		snprintf(err, errlen, "unknown key '%s' in [board]", key);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad value '%s' for %s", value, key);
	return -1;
}

/* Copy a path-like value into a fixed buffer; -1 when empty or too long. */
static int
set_string(char *dst, size_t len, const char *value)
{
	if (*value == '\0' || strlen(value) >= len)
		return -1;
	snprintf(dst, len, "%s", value);
	return 0;
}

/* Apply one [mqtt] key. */
static int
config_set_mqtt(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct mqtt_config *m = &cfg->mqtt;
	unsigned long long v;

#ifndef HAVE_MQTT
	snprintf(err, errlen, "[mqtt]: eegd was built without MQTT support "
	    "(configure --with-mqtt=yes, libmosquitto-dev)");
	return -1;
#endif
	m->enabled = 1;
	if (strcmp(key, "broker") == 0) {
		const char *colon = strrchr(value, ':');
		if (*value == '/') {
#if defined(HAVE_MQTT) && LIBMOSQUITTO_VERSION_NUMBER < 2001000
			snprintf(err, errlen, "broker %s: a Unix socket broker "
			    "needs libmosquitto 2.1 or later; this build has %d.%d",
			    value, LIBMOSQUITTO_MAJOR, LIBMOSQUITTO_MINOR);
			return -1;
#endif
			if (set_string(m->host, sizeof m->host, value) == -1)
				goto bad;
			m->port = 0;
		} else {
			char host[256];
			size_t hl;
			if (colon == NULL || (hl = (size_t)(colon - value)) == 0 ||
			    hl >= sizeof host ||
			    parse_uint(colon + 1, 1, 65535, &v) == -1)
				goto bad;
			memcpy(host, value, hl);
			host[hl] = '\0';
			if (host[0] == '[' && host[hl - 1] == ']') {
				memmove(host, host + 1, hl - 2);
				host[hl - 2] = '\0';
			}
			snprintf(m->host, sizeof m->host, "%s", host);
			m->port = (unsigned)v;
		}
	} else if (strcmp(key, "topic_prefix") == 0) {
		if (set_string(m->topic_prefix, sizeof m->topic_prefix, value) ==
		    -1 || strpbrk(value, "#+") != NULL ||
		    value[strlen(value) - 1] == '/')
			goto bad;
	} else if (strcmp(key, "qos") == 0) {
		if (parse_uint(value, 0, 2, &v) == -1)
			goto bad;
		m->qos = (int)v;
	} else if (strcmp(key, "client_id") == 0) {
		if (set_string(m->client_id, sizeof m->client_id, value) == -1)
			goto bad;
	} else if (strcmp(key, "username") == 0) {
		if (set_string(m->username, sizeof m->username, value) == -1)
			goto bad;
	} else if (strcmp(key, "password_file") == 0) {
		if (set_string(m->password_file, sizeof m->password_file,
		    value) == -1)
			goto bad;
	} else if (strcmp(key, "cafile") == 0) {
		if (set_string(m->cafile, sizeof m->cafile, value) == -1)
			goto bad;
	} else if (strcmp(key, "certfile") == 0) {
		if (set_string(m->certfile, sizeof m->certfile, value) == -1)
			goto bad;
	} else if (strcmp(key, "keyfile") == 0) {
		if (set_string(m->keyfile, sizeof m->keyfile, value) == -1)
			goto bad;
	} else if (strcmp(key, "batch_ms") == 0) {
		if (parse_uint(value, 1, 10000, &v) == -1)
			goto bad;
		m->batch_ms = (unsigned)v;
	} else if (strcmp(key, "mqtt_format") == 0) {
		if (strcmp(value, "json") == 0)
			m->json = 1;
		else if (strcmp(value, "binary") == 0)
			m->json = 0;
		else
			goto bad;
	} else {
		snprintf(err, errlen, "unknown key '%s' in [mqtt]", key);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad value '%s' for %s", value, key);
	return -1;
}

/* Apply one section/key/value; -1 with a message in err when invalid. */
int
config_set(struct config *cfg, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	if (strcmp(section, "daemon") == 0)
		return config_set_daemon(cfg, key, value, err, errlen);
	if (strcmp(section, "board") == 0)
		return config_set_board(cfg, key, value, err, errlen);
	if (strcmp(section, "mqtt") == 0)
		return config_set_mqtt(cfg, key, value, err, errlen);
	if (*section == '\0')
		snprintf(err, errlen, "key '%s' outside any section", key);
	else
		snprintf(err, errlen, "unknown section [%s]", section);
	return -1;
}

/* State of one file parse: libinih calls back per key, we count lines. */
struct config_parse {
	struct config *cfg;
	FILE *fp;
	const char *path;
	int line;		/* line number of the line last read */
	int err_line;		/* first error's line, 0 when none */
	int too_long;		/* the line last read was truncated */
	char err[256];
};

/* Record the first error of a parse. */
static void
config_parse_error(struct config_parse *p, const char *msg)
{
	if (p->err_line != 0)
		return;
	p->err_line = p->line;
	snprintf(p->err, sizeof p->err, "%s", msg);
}

/* libinih reader: one whole line per call, so line numbers stay exact. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	int c, n = 0;

	if (num < 2)
		return NULL;
	p->too_long = 0;
	for (;;) {
		c = getc(p->fp);
		if (c == EOF) {
			if (n == 0)
				return NULL;
			break;
		}
		if (c == '\n')
			break;
		if (n < num - 2)
			str[n++] = (char)c;
		else
			p->too_long = 1;
	}
	str[n++] = '\n';
	str[n] = '\0';
	p->line++;
	/*
	 * Indentation means nothing here (libinih would take an indented line
	 * as the continuation of the previous value): strip it.
	 */
	{
		size_t lead = strspn(str, " \t");
		if (lead > 0) {
			memmove(str, str + lead, (size_t)n + 1 - lead);
			n -= (int)lead;
		}
	}
	if (p->too_long)
		config_parse_error(p, "line too long");
	if (memchr(str, 0, (size_t)n) != NULL)
		config_parse_error(p, "NUL byte in line");
	/* An empty unknown section never reaches the handler: check here. */
	{
		const char *s = str;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[') {
			const char *e = strchr(s, ']');
			size_t l = e ? (size_t)(e - s - 1) : 0;
			if (e == NULL)
				config_parse_error(p, "section line without ']'");
			else if (l == 4 && strncmp(s + 1, "mqtt", 4) == 0) {
#ifdef HAVE_MQTT
				p->cfg->mqtt.enabled = 1;
#else
				config_parse_error(p, "[mqtt]: eegd was built "
				    "without MQTT support (configure "
				    "--with-mqtt=yes, libmosquitto-dev)");
#endif
			} else if (!((l == 6 && strncmp(s + 1, "daemon", 6) == 0) ||
			    (l == 5 && strncmp(s + 1, "board", 5) == 0))) {
				char msg[128];
				snprintf(msg, sizeof msg, "unknown section [%.*s]",
				    (int)(l > 64 ? 64 : l), s + 1);
				config_parse_error(p, msg);
			}
		}
	}
	return str;
}

/* libinih handler: one key. */
static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parse *p = user;
	char err[256];

	if (config_set(p->cfg, section, name, value, err, sizeof err) == -1) {
		config_parse_error(p, err);
		return 0;
	}
	return 1;
}

/* Load defaults, then the file, then the overrides. */
int
config_load(struct config *cfg, const char *path, int must_exist,
    const struct config_override *ov, size_t nov, char *err, size_t errlen)
{
	struct config_parse p;
	struct config tmp;
	int rc;

	config_defaults(&tmp);
	memset(&p, 0, sizeof p);
	p.cfg = &tmp;
	p.path = path;
	if (path != NULL && (p.fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT || must_exist) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (p.fp != NULL) {
		struct stat st;
		if (fstat(fileno(p.fp), &st) == -1 || S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: is a directory", path);
			fclose(p.fp);
			return -1;
		}
		rc = ini_parse_stream(config_reader, &p, config_handler, &p);
		if (ferror(p.fp) && p.err_line == 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			fclose(p.fp);
			return -1;
		}
		fclose(p.fp);
		if (p.err_line == 0 && rc != 0) {
			p.err_line = rc > 0 ? rc : p.line;
			snprintf(p.err, sizeof p.err, "syntax error");
		}
		if (p.err_line != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, p.err_line, p.err);
			return -1;
		}
	}
	for (size_t i = 0, cleared = 0; i < nov; i++) {
		char msg[256];
		/* Listens on the command line replace the file's. */
		if (strcmp(ov[i].key, "listen") == 0 && !cleared) {
			tmp.nlisten = 0;
			cleared = 1;
		}
		if (config_set(&tmp, ov[i].section, ov[i].key, ov[i].value, msg,
		    sizeof msg) == -1) {
			snprintf(err, errlen, "command line: %s", msg);
			return -1;
		}
	}
	*cfg = tmp;
	return 0;
}
