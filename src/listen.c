/* listen.c: TCP and Unix listeners, stale sockets, EMFILE back-off. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "hub.h"
#include "listen.h"
#include "log.h"
#include "timeutil.h"

/* How long accept pauses after running out of file descriptors. */
#define LISTEN_BACKOFF_MS 250
#define LISTEN_MAX 32

/* One bound socket. */
struct listener {
	struct listeners *owner;
	struct evconnlistener *lev;
	struct event *backoff;	/* re-enables lev after EMFILE */
	int kind;
	char name[160];		/* unix:PATH or tcp:HOST:PORT as bound */
	char path[108];		/* unix: the file to remove at exit */
	int paused;		/* accept ran out of descriptors */
	uint64_t pauses;
	int64_t warned_us;	/* last warning, to keep the log quiet */
};

/* Every listener of the daemon. */
struct listeners {
	struct hub *hub;
	size_t n;
	struct listener l[LISTEN_MAX];
};

/* Find the default Unix socket path. */
void
listen_default_unix_path(char *buf, size_t len, int use_env, int for_server)
{
	const char *env, *xdg;
	char dir[96];

	if (use_env && (env = getenv("EEGD_SOCKET")) != NULL && *env != '\0') {
		snprintf(buf, len, "%s", env);
		return;
	}
	if (access("/run/eegd", W_OK | X_OK) == 0) {
		snprintf(buf, len, "/run/eegd/eegd.sock");
		return;
	}
	if ((xdg = getenv("XDG_RUNTIME_DIR")) != NULL && *xdg == '/' &&
	    access(xdg, W_OK | X_OK) == 0 && strlen(xdg) < 90) {
		snprintf(buf, len, "%s/eegd.sock", xdg);
		return;
	}
	snprintf(dir, sizeof dir, "/tmp/eegd-%u", (unsigned)getuid());
	if (for_server) {
		struct stat st;
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			log_warn("mkdir %s", dir);
		/* Someone else's directory there would be a trap: refuse it. */
		if (lstat(dir, &st) == 0 && (!S_ISDIR(st.st_mode) ||
		    st.st_uid != getuid() || (st.st_mode & 022) != 0)) {
			log_warnx("%s is not a directory owned by uid %u and "
			    "closed to others; not using it", dir,
			    (unsigned)getuid());
			snprintf(buf, len, "%s", "");
			return;
		}
	}
	snprintf(buf, len, "%s/eegd.sock", dir);
}

/* A connection arrived. */
static void
listen_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	char peer[64];

	if (l->paused) {
		log_notice("%s: accepting again", l->name);
		l->paused = 0;
	}

	if (sa->sa_family == AF_UNIX)
		snprintf(peer, sizeof peer, "unix#%d", (int)fd);
	else {
		char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
		getnameinfo(sa, (socklen_t)salen, host, sizeof host, port,
		    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(peer, sizeof peer, "%s:%s", host, port);
	}
	hub_accept(l->owner->hub, fd, l->kind, peer);
}

/* The back-off ran out: accept again. */
static void
listen_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	evconnlistener_enable(l->lev);
}

/* accept failed: on EMFILE/ENFILE pause instead of spinning. */
static void
listen_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, LISTEN_BACKOFF_MS * 1000 };

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		int64_t now = timeutil_monotonic_us();
		/* Warn once, then at most once a minute with a count. */
		l->pauses++;
		if (!l->paused || now - l->warned_us > 60000000) {
			log_warnx("%s: accept: %s; pausing %d ms (%llu pauses "
			    "so far)", l->name, strerror(err), LISTEN_BACKOFF_MS,
			    (unsigned long long)l->pauses);
			l->warned_us = now;
		}
		l->paused = 1;
		evconnlistener_disable(lev);
		evtimer_add(l->backoff, &tv);
		return;
	}
	log_warnx("%s: accept: %s", l->name, strerror(err));
}

/* Bind a Unix socket at path, replacing a stale file; -1 with err. */
static int
listen_bind_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, rc;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "unix:%s: path too long", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	/* Another eegd answering here is an error; a dead socket is stale. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
		snprintf(err, errlen, "unix:%s: another eegd is already "
		    "listening there", path);
		close(fd);
		return -1;
	}
	{
		int cerr = errno;
		struct stat st;
		/* Only ever remove a socket: never a file someone named. */
		if (cerr != ENOENT && lstat(path, &st) == 0 &&
		    !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "unix:%s: exists and is not a "
			    "socket", path);
			close(fd);
			return -1;
		}
		if (cerr == ECONNREFUSED) {
			log_notice("removing stale socket %s", path);
			unlink(path);
		}
	}
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	old = umask(0117);	/* 0660 from the start */
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		goto fail;
	}
	if (chmod(path, 0660) == -1)
		log_warn("chmod %s", path);
	return fd;
fail:
	snprintf(err, errlen, "unix:%s: %s", path, strerror(errno));
	return -1;
}

/* Return true when a numeric address is a loopback address. */
static int
listen_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
		    >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

/* Bind a TCP socket; -1 with err.  name gets the bound address. */
static int
listen_bind_tcp(const struct listen_addr *la, char *name, size_t namelen,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char port[8], host[INET6_ADDRSTRLEN];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(port, sizeof port, "%u", la->port);
	if ((rc = getaddrinfo(la->host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "tcp:%s:%u: %s (use a numeric address)",
		    la->host, la->port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		goto fail;
	if (!listen_is_loopback(res->ai_addr))
		log_warnx("listening on non-loopback address %s: anyone who "
		    "can reach it can subscribe", la->host);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port,
	    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
	if (strchr(host, ':') != NULL)
		snprintf(name, namelen, "tcp:[%s]:%s", host, port);
	else
		snprintf(name, namelen, "tcp:%s:%s", host, port);
	freeaddrinfo(res);
	return fd;
fail:
	snprintf(err, errlen, "tcp:%s:%u: %s", la->host, la->port,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

/* Wrap a bound socket in an evconnlistener. */
static int
listen_add(struct listeners *ls, struct event_base *base, int fd, int kind,
    const char *name, const char *path, char *err, size_t errlen)
{
	struct listener *l;

	if (ls->n >= LISTEN_MAX) {
		snprintf(err, errlen, "too many listeners");
		close(fd);
		return -1;
	}
	l = &ls->l[ls->n];
	memset(l, 0, sizeof *l);
	l->owner = ls;
	l->kind = kind;
	snprintf(l->name, sizeof l->name, "%s", name);
	if (path != NULL)
		snprintf(l->path, sizeof l->path, "%s", path);
	evutil_make_socket_nonblocking(fd);
	l->lev = evconnlistener_new(base, listen_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE, 128, fd);
	l->backoff = evtimer_new(base, listen_backoff_cb, l);
	if (l->lev == NULL || l->backoff == NULL) {
		snprintf(err, errlen, "%s: cannot listen", name);
		if (l->lev == NULL)
			close(fd);
		else
			evconnlistener_free(l->lev);
		if (l->backoff != NULL)
			event_free(l->backoff);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, listen_error_cb);
	ls->n++;
	log_notice("listening on %s", name);
	return 0;
}

/* Adopt the sockets systemd passed; returns how many, -1 with err. */
static int
listen_adopt(struct listeners *ls, struct event_base *base, char *err,
    size_t errlen)
{
	char **names = NULL, name[160];
	int n, adopted = 0;

	if ((n = sd_listen_fds_with_names(1, &names)) <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i, kind;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;

		/* Any fd name is fine: socket units name every fd alike. */
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
			kind = LISTEN_UNIX;
			memset(&ss, 0, sizeof ss);
			getsockname(fd, (struct sockaddr *)&ss, &sl);
			snprintf(name, sizeof name, "unix:%s", sun->sun_path);
		} else if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) >
		    0) {
			char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
			kind = LISTEN_TCP;
			getsockname(fd, (struct sockaddr *)&ss, &sl);
			getnameinfo((struct sockaddr *)&ss, sl, host,
			    sizeof host, port, sizeof port,
			    NI_NUMERICHOST | NI_NUMERICSERV);
			snprintf(name, sizeof name, strchr(host, ':') ?
			    "tcp:[%s]:%s" : "tcp:%s:%s", host, port);
			if (!listen_is_loopback((struct sockaddr *)&ss))
				log_warnx("listening on non-loopback address "
				    "%s: anyone who can reach it can subscribe",
				    host);
		} else {
			log_warnx("socket activation: fd %d (%s) is not a "
			    "listening stream socket; ignored", fd,
			    names && names[i] ? names[i] : "?");
			close(fd);
			continue;
		}
		log_notice("socket activation: adopting fd %d (%s)", fd,
		    names && names[i] ? names[i] : "?");
		/* systemd owns the socket file: no path, so no unlink. */
		if (listen_add(ls, base, fd, kind, name, NULL, err, errlen) ==
		    -1) {
			adopted = -1;
			break;
		}
		adopted++;
	}
	if (names != NULL) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return adopted;
}

/* Bind every address of cfg (or the defaults); NULL with err on failure. */
struct listeners *
listen_open(struct event_base *base, struct hub *hub, const struct config *cfg,
    char *err, size_t errlen)
{
	struct listen_addr defaults[3];
	const struct listen_addr *addrs = cfg->listen;
	size_t n = cfg->nlisten;
	struct listeners *ls;
	char name[160];

	if ((ls = calloc(1, sizeof *ls)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ls->hub = hub;
	switch (listen_adopt(ls, base, err, errlen)) {
	case -1:
		goto fail;
	case 0:
		break;
	default:
		/* Socket activation replaces every listen line. */
		if (cfg->nlisten > 0)
			log_notice("socket activation: ignoring the %zu "
			    "configured listen address(es)", cfg->nlisten);
		return ls;
	}
	if (n == 0) {
		memset(defaults, 0, sizeof defaults);
		defaults[0].kind = LISTEN_UNIX;
		listen_default_unix_path(defaults[0].path,
		    sizeof defaults[0].path, 0, 1);
		if (defaults[0].path[0] == '\0') {
			snprintf(err, errlen, "no safe place for the Unix "
			    "socket; give one with -l unix:PATH");
			goto fail;
		}
		defaults[1].kind = LISTEN_TCP;
		snprintf(defaults[1].host, sizeof defaults[1].host, "127.0.0.1");
		defaults[1].port = LISTEN_DEFAULT_PORT;
		defaults[2].kind = LISTEN_TCP;
		snprintf(defaults[2].host, sizeof defaults[2].host, "::1");
		defaults[2].port = LISTEN_DEFAULT_PORT;
		addrs = defaults;
		n = 3;
	}
	for (size_t i = 0; i < n; i++) {
		const struct listen_addr *la = &addrs[i];
		int fd;
		if (la->kind == LISTEN_UNIX) {
			if ((fd = listen_bind_unix(la->path, err, errlen)) == -1)
				goto fail;
			snprintf(name, sizeof name, "unix:%s", la->path);
			if (listen_add(ls, base, fd, LISTEN_UNIX, name,
			    la->path, err, errlen) == -1)
				goto fail;
			continue;
		}
		if ((fd = listen_bind_tcp(la, name, sizeof name, err,
		    errlen)) == -1) {
			/* A host without IPv6 still gets the IPv4 default. */
			if (cfg->nlisten == 0 && i == 2) {
				log_warnx("%s; skipped", err);
				continue;
			}
			goto fail;
		}
		if (listen_add(ls, base, fd, LISTEN_TCP, name, NULL, err,
		    errlen) == -1)
			goto fail;
	}
	return ls;
fail:
	listen_close(ls);
	return NULL;
}

/* Stop accepting, close the sockets and remove the Unix socket files. */
void
listen_close(struct listeners *ls)
{
	if (ls == NULL)
		return;
	for (size_t i = 0; i < ls->n; i++) {
		evconnlistener_free(ls->l[i].lev);
		event_free(ls->l[i].backoff);
		if (ls->l[i].path[0] != '\0')
			unlink(ls->l[i].path);
	}
	free(ls);
}
