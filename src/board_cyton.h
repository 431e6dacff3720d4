/*
 * board_cyton.h: the OpenBCI Cyton and Cyton+Daisy on a serial port.
 *
 * start() opens the port (serial.h), stops any stream ('s'), drains,
 * soft-resets ('v') and reads the reply up to "$$$" (a Daisy shows as an
 * "On Daisy" line; "Failure: Communications timeout" means the board is off
 * or out of range), then starts streaming ('b').  read() feeds what
 * arrives to the parser (cyton_parse.h), which emits samples with
 * dejittered times; a read error, EOF or 2 s without a packet is a lost
 * board.  When the board is found again, the time it was away becomes a
 * gap (reason board_lost).
 */
#ifndef EEGD_BOARD_CYTON_H
#define EEGD_BOARD_CYTON_H

#include <stdint.h>

struct board;

/* How long a streaming board may send nothing before it is lost. */
#define CYTON_STALL_MS 2000
/* How long the handshake waits for "$$$". */
#define CYTON_HANDSHAKE_MS 3000

/*
 * Create a Cyton board on device (a path, or "auto" to find the dongle),
 * with per-channel gains (16 entries, 0 = default 24).
 */
struct board *board_cyton_new(const char *device, const uint8_t *gains);

#endif
