/* serial.c: libserialport open with a termios fallback, FTDI latency. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <libserialport.h>
#include <limits.h>
#include <linux/serial.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "serial.h"
#include "timeutil.h"

#define OPENBCI_VID 0x0403
#define OPENBCI_PID 0x6015

/* An open port: the libserialport handle (if that path was taken) and fd. */
struct serial {
	struct sp_port *port;	/* NULL when opened with termios */
	int fd;
	enum serial_how how;
	char path[PATH_MAX];
};

/* Return how the port was opened. */
enum serial_how
serial_how(const struct serial *s)
{
	return s->how;
}

/* Return the resolved device path. */
const char *
serial_path(const struct serial *s)
{
	return s->path;
}

/* Map a baud rate to a termios speed; B0 when unsupported. */
static speed_t
serial_speed(unsigned baud)
{
	switch (baud) {
	case 9600: return B9600;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 921600: return B921600;
	}
	return B0;
}

/* Open with libserialport; -1 with err (the caller may fall back). */
static int
serial_open_sp(struct serial *s, unsigned baud, char *err, size_t errlen)
{
	struct sp_port *port = NULL;
	char *msg;

	if (sp_get_port_by_name(s->path, &port) != SP_OK)
		goto fail;
	if (sp_open(port, SP_MODE_READ_WRITE) != SP_OK)
		goto fail;
	if (sp_set_baudrate(port, (int)baud) != SP_OK ||
	    sp_set_bits(port, 8) != SP_OK ||
	    sp_set_parity(port, SP_PARITY_NONE) != SP_OK ||
	    sp_set_stopbits(port, 1) != SP_OK ||
	    sp_set_flowcontrol(port, SP_FLOWCONTROL_NONE) != SP_OK ||
	    sp_get_port_handle(port, &s->fd) != SP_OK) {
		sp_close(port);
		goto fail;
	}
	s->port = port;
	s->how = SERIAL_LIBSERIALPORT;
	return 0;
fail:
	msg = sp_last_error_message();
	snprintf(err, errlen, "libserialport: %s", msg ? msg : "failed");
	if (msg)
		sp_free_error_message(msg);
	if (port != NULL)
		sp_free_port(port);
	return -1;
}

/* Open with plain termios: raw, 8N1, no flow control. */
static int
serial_open_termios(struct serial *s, unsigned baud, char *err, size_t errlen)
{
	struct termios tio;
	speed_t sp = serial_speed(baud);

	s->fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s->fd == -1) {
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		return -1;
	}
	if (tcgetattr(s->fd, &tio) == -1) {
		snprintf(err, errlen, "%s: not a terminal: %s", s->path,
		    strerror(errno));
		close(s->fd);
		return -1;
	}
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
	tio.c_iflag &= ~(IXON | IXOFF | IXANY);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (sp != B0) {
		cfsetispeed(&tio, sp);
		cfsetospeed(&tio, sp);
	}
	if (tcsetattr(s->fd, TCSANOW, &tio) == -1) {
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		close(s->fd);
		return -1;
	}
	tcflush(s->fd, TCIOFLUSH);
	s->how = SERIAL_TERMIOS;
	return 0;
}

/* On an FTDI device, set the latency timer to 1 ms, or say how to. */
static void
serial_ftdi_latency(struct serial *s)
{
	char sysfs[PATH_MAX], tmp[PATH_MAX], buf[16];
	struct serial_struct ss;
	int fd, cur = -1;
	ssize_t n;

	snprintf(tmp, sizeof tmp, "%s", s->path);
	snprintf(sysfs, sizeof sysfs,
	    "/sys/bus/usb-serial/devices/%s/latency_timer", basename(tmp));
	if ((fd = open(sysfs, O_RDONLY | O_CLOEXEC)) == -1)
		return;	/* not an FTDI (or no sysfs): nothing to do */
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		cur = atoi(buf);
	}
	if (cur == 1)
		return;
	if ((fd = open(sysfs, O_WRONLY | O_CLOEXEC)) != -1) {
		n = write(fd, "1", 1);
		close(fd);
		if (n == 1) {
			log_info("%s: FTDI latency timer set to 1 ms", s->path);
			return;
		}
	}
	if (ioctl(s->fd, TIOCGSERIAL, &ss) == 0) {
		ss.flags |= ASYNC_LOW_LATENCY;
		if (ioctl(s->fd, TIOCSSERIAL, &ss) == 0) {
			log_info("%s: FTDI low-latency mode set", s->path);
			return;
		}
	}
	log_warnx("%s: the FTDI latency timer is %d ms and cannot be changed "
	    "(not permitted), so samples arrive in %d ms bursts; install "
	    "60-openbci.rules (make install) or run: echo 1 | sudo tee %s",
	    s->path, cur, cur, sysfs);
}

/* Open path at baud; NULL with err. */
struct serial *
serial_open(const char *path, unsigned baud, char *err, size_t errlen)
{
	struct serial *s;
	char sperr[256];

	if ((s = calloc(1, sizeof *s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = -1;
	/* sp_get_port_by_name fails on symlinks such as /dev/openbci. */
	if (realpath(path, s->path) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(s);
		return NULL;
	}
	if (serial_open_sp(s, baud, sperr, sizeof sperr) == 0) {
		log_info("%s: opened with libserialport", s->path);
	} else if (serial_open_termios(s, baud, err, errlen) == 0) {
		log_notice("%s: libserialport could not open it (%s); opened "
		    "with termios instead (a pty?)", s->path, sperr);
	} else {
		free(s);
		return NULL;
	}
	serial_ftdi_latency(s);
	return s;
}

/* Close the port. */
void
serial_close(struct serial *s)
{
	if (s == NULL)
		return;
	if (s->port != NULL) {
		sp_close(s->port);
		sp_free_port(s->port);
	} else if (s->fd != -1)
		close(s->fd);
	free(s);
}

/* Read up to len bytes within timeout_ms; 0 on timeout, -1 when gone. */
ssize_t
serial_read(struct serial *s, void *buf, size_t len, unsigned timeout_ms,
    char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	ssize_t n;
	int rc;

	rc = poll(&pfd, 1, (int)timeout_ms);
	if (rc == -1) {
		if (errno == EINTR)
			return 0;
		snprintf(err, errlen, "poll: %s", strerror(errno));
		return -1;
	}
	if (rc == 0)
		return 0;
	n = read(s->fd, buf, len);
	if (n > 0)
		return n;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 0 || (pfd.revents & (POLLHUP | POLLERR)))
		snprintf(err, errlen, "device closed (unplugged?)");
	else
		snprintf(err, errlen, "read: %s", strerror(errno));
	return -1;
}

/* Write all of buf within timeout_ms; -1 with err. */
int
serial_write(struct serial *s, const void *buf, size_t len,
    unsigned timeout_ms, char *err, size_t errlen)
{
	const char *p = buf;
	int64_t end = timeutil_monotonic_us() + (int64_t)timeout_ms * 1000;

	while (len > 0) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
		int64_t left = (end - timeutil_monotonic_us()) / 1000;
		ssize_t n;

		if (left <= 0) {
			snprintf(err, errlen, "write timed out");
			return -1;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = write(s->fd, p, len);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			snprintf(err, errlen, "write: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Find the OpenBCI dongle (USB 0403:6015); -1 with err naming what was found. */
int
serial_find_dongle(char *path, size_t len, char *err, size_t errlen)
{
	struct sp_port **ports = NULL;
	char seen[512] = "", match[512] = "";
	size_t so = 0, mo = 0;
	int nmatch = 0;

	if (sp_list_ports(&ports) != SP_OK) {
		snprintf(err, errlen, "cannot list serial ports");
		return -1;
	}
	for (int i = 0; ports[i] != NULL; i++) {
		int vid = -1, pid = -1;
		const char *name = sp_get_port_name(ports[i]);
		if (sp_get_port_transport(ports[i]) == SP_TRANSPORT_USB)
			sp_get_port_usb_vid_pid(ports[i], &vid, &pid);
		if (so < sizeof seen)
			so += (size_t)snprintf(seen + so, sizeof seen - so,
			    "%s%s (%04x:%04x)", so ? ", " : "", name,
			    vid < 0 ? 0 : vid, pid < 0 ? 0 : pid);
		if (vid == OPENBCI_VID && pid == OPENBCI_PID) {
			nmatch++;
			if (mo < sizeof match)
				mo += (size_t)snprintf(match + mo,
				    sizeof match - mo, "%s%s", mo ? ", " : "",
				    name);
			if (nmatch == 1)
				snprintf(path, len, "%s", name);
		}
	}
	sp_free_port_list(ports);
	if (nmatch == 1)
		return 0;
	if (nmatch == 0)
		snprintf(err, errlen, "no OpenBCI dongle (USB 0403:6015) found; "
		    "serial ports: %s", so ? seen : "none");
	else
		snprintf(err, errlen, "%d OpenBCI dongles found (%s); choose one "
		    "with --device", nmatch, match);
	return -1;
}
