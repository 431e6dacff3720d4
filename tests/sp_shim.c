/*
 * sp_shim.c: an LD_PRELOAD shim that lets libserialport 0.1.1 open a pty.
 *
 * libserialport's sp_open() reads the modem control lines (TIOCMGET) and
 * its configuration code sets RTS/DTR (TIOCMBIS, TIOCMBIC); a pseudo-
 * terminal answers those ioctls with ENOTTY, so sp_open() fails.  This
 * shim passes every ioctl to the C library and turns ENOTTY from the
 * TIOCM* requests into success (TIOCMGET reports DTR and RTS up), which
 * is what a USB-serial adapter would answer.  Everything else is left
 * alone, so the rest of the open, configure and read path is the real
 * one.  The first time it steps in, it says so on stderr.
 *
 * Used by tests/test_cyton.py (LibserialportPtyTest) together with a
 * tmpfs over /sys/class/tty in a private mount namespace, so that
 * sp_get_port_by_name() finds /sys/class/tty/pts/N.  Build:
 *	cc -shared -fPIC -o sp_shim.so sp_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);

static int said;

/* Say once on stderr that the shim stepped in. */
static void
sp_shim_say(void)
{
	static const char msg[] = "sp_shim: TIOCM* ENOTTY turned into "
	    "success\n";

	if (said)
		return;
	said = 1;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		return;
}

int
ioctl(int fd, unsigned long req, ...)
{
	static ioctl_fn real;
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (real == NULL &&
	    (real = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = real(fd, req, arg);
	if (rc == -1 && errno == ENOTTY && (req == TIOCMGET ||
	    req == TIOCMSET || req == TIOCMBIS || req == TIOCMBIC)) {
		if (req == TIOCMGET && arg != NULL)
			*(int *)arg = TIOCM_DTR | TIOCM_RTS;
		sp_shim_say();
		errno = 0;
		return 0;
	}
	return rc;
}
