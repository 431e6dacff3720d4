/*
 * config.h: the daemon's configuration, from the INI file and the command
 * line.  Pure: parsing touches no global state, so the tests and the fuzzer
 * drive it directly.
 */
#ifndef EEGD_CONFIG_H
#define EEGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/eegd/eegd.conf"
#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_OVERRIDES 32

/* A listen address: unix:PATH or tcp:HOST:PORT. */
struct listen_addr {
	enum { LISTEN_UNIX, LISTEN_TCP } kind;
	char path[108];		/* unix: socket path */
	char host[64];		/* tcp: numeric host, without brackets */
	unsigned port;		/* tcp: 0 means any free port */
};

/* What to do with a client whose output cap is reached. */
enum slow_policy { SLOW_DROP, SLOW_DISCONNECT };

/* One setting given on the command line, applied over the file. */
struct config_override {
	const char *section, *key, *value;
};

/* The [mqtt] section: the broker bridge (mqtt.h). */
struct mqtt_config {
	int enabled;			/* the file has an [mqtt] section */
	char host[256];			/* broker host (numeric), or a path */
	unsigned port;			/* 0: host is a Unix socket path */
	char topic_prefix[192];		/* default eegd/<hostname> */
	int qos;			/* for data: 0, 1 or 2 */
	char client_id[64];		/* default eegd-<hostname>-<pid> */
	char username[64];
	char password_file[256];
	char cafile[256], certfile[256], keyfile[256];
	unsigned batch_ms;		/* data batching interval */
	int json;			/* mqtt_format = json (else binary) */
};

/* Every setting; see eegd.conf(5). */
struct config {
	/* [daemon] */
	struct listen_addr listen[CONFIG_MAX_LISTEN];
	size_t nlisten;		/* 0: the built-in defaults */
	int log_level;
	unsigned max_clients;
	size_t client_max_buffer;
	enum slow_policy slow_client;
	unsigned max_coalesce_ms;
	unsigned history_seconds;
	/* [board] */
	char board_type[16];		/* synthetic or cyton */
	unsigned rate;			/* synthetic only */
	unsigned channels;		/* synthetic only */
	uint64_t seed;			/* synthetic only */
	char device[256];		/* cyton: a path or "auto" */
	uint8_t gain[16];		/* cyton: per channel, 0 = 24 */
	int fallback_synthetic;		/* run synthetic when no board */
	int board_commands_tcp;		/* allow board commands over TCP */
	/* [mqtt] */
	struct mqtt_config mqtt;
};

/* Fill a config with the built-in defaults. */
void config_defaults(struct config *cfg);
/* Apply one section/key/value; -1 with a message in err when invalid. */
int config_set(struct config *cfg, const char *section, const char *key,
    const char *value, char *err, size_t errlen);
/*
 * Load defaults, then the file at path (skipped when it is absent and
 * must_exist is 0), then the overrides; -1 with "file:line: message" in err.
 */
int config_load(struct config *cfg, const char *path, int must_exist,
    const struct config_override *ov, size_t nov, char *err, size_t errlen);
/* Parse "unix:PATH" or "tcp:HOST:PORT" ("tcp:[::1]:7447" for IPv6). */
int config_parse_listen(const char *s, struct listen_addr *la, char *err,
    size_t errlen);
/* Format a listen address back to its unix:/tcp: form. */
void config_format_listen(const struct listen_addr *la, char *buf, size_t len);

#endif
