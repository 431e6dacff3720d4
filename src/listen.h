/*
 * listen.h: TCP and Unix listeners.  Binds the configured addresses (or
 * the defaults), replaces stale Unix sockets, and backs off when accept
 * runs out of file descriptors.  Accepted sockets go to hub_accept().
 */
#ifndef EEGD_LISTEN_H
#define EEGD_LISTEN_H

#include <stddef.h>

#include "config.h"

struct event_base;
struct hub;
struct listeners;

/* The default port for TCP. */
#define LISTEN_DEFAULT_PORT 7447

/*
 * Find the default Unix socket path: $EEGD_SOCKET when use_env, else
 * /run/eegd/eegd.sock when /run/eegd is writable, else
 * $XDG_RUNTIME_DIR/eegd.sock, else /tmp/eegd-$UID/eegd.sock.
 * for_server creates /tmp/eegd-$UID (0700) when it is chosen.
 */
void listen_default_unix_path(char *buf, size_t len, int use_env,
    int for_server);
/* Bind every address of cfg (or the defaults); NULL with err on failure. */
struct listeners *listen_open(struct event_base *base, struct hub *hub,
    const struct config *cfg, char *err, size_t errlen);
/* Stop accepting, close the sockets and remove the Unix socket files. */
void listen_close(struct listeners *l);

#endif
