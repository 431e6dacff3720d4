/*
 * serial.h: the board's serial port.  Opens with libserialport (115200 8N1,
 * no flow control) and falls back to plain termios where libserialport
 * cannot open the path (a pseudo-terminal: socat, ser2net, emulators).
 * Reads and writes go through the fd with poll(), so both paths behave the
 * same.  Runs in the reader thread only.
 */
#ifndef EEGD_SERIAL_H
#define EEGD_SERIAL_H

#include <stddef.h>
#include <sys/types.h>

struct serial;

/* How a port was opened, for logs and status. */
enum serial_how { SERIAL_LIBSERIALPORT, SERIAL_TERMIOS };

/*
 * Open path (symlinks resolved first) at baud; NULL with err.  On an FTDI
 * device, also set the latency timer to 1 ms, or warn how to.
 */
struct serial *serial_open(const char *path, unsigned baud, char *err,
    size_t errlen);
/* Close the port. */
void serial_close(struct serial *s);
/* Return how the port was opened. */
enum serial_how serial_how(const struct serial *s);
/* Return the resolved device path. */
const char *serial_path(const struct serial *s);
/*
 * Read up to len bytes, waiting at most timeout_ms; returns the count, 0
 * on timeout, -1 with err when the device failed or went away.
 */
ssize_t serial_read(struct serial *s, void *buf, size_t len,
    unsigned timeout_ms, char *err, size_t errlen);
/* Write all of buf within timeout_ms; -1 with err. */
int serial_write(struct serial *s, const void *buf, size_t len,
    unsigned timeout_ms, char *err, size_t errlen);
/*
 * Find the OpenBCI dongle (USB 0403:6015) among the serial ports; -1 with
 * err naming what was found when there is none or more than one.
 */
int serial_find_dongle(char *path, size_t len, char *err, size_t errlen);

#endif
