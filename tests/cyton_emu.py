#!/usr/bin/env python3
"""cyton_emu.py: an OpenBCI Cyton / Cyton+Daisy emulator on a pseudo-terminal.

The emulator opens a pty, prints "PTY /dev/pts/N" on stdout (flushed) and,
with --link PATH, points a symlink at the slave.  It then behaves like the
Cyton firmware v3 behind its USB dongle (see ../shared/docs/cyton.md):

  s          stop streaming (no reply)
  v          soft reset: stop, gains to 24, reply the firmware text, "$$$"
  b          start streaming (counter from 0; restarts if streaming)
  d          defaults; idle: "updating channel settings to default$$$"
  x...X      channel settings; idle: "Success: Channel set for N$$$"
             (short: "Failure: too few chars$$$"; 9th not X:
             "Failure: Err: 9th char not X$$$")
  others     accepted silently; ` ~ / 0xF0 take one argument, z...Z four
  while streaming, x...X, d, z...Z, ~N, channel on/off (1-8 qwertyui
  !@#$%^&* QWERTYUI) and test signals (0 - = p [ ]) restart the stream
  as the firmware does: counter back to 0 after a pause (--restart-pause).

Streaming: 33-byte packets at 250 Hz on absolute deadlines of the board's
own clock (drifted by --drift), faster with --rate or --rate-multiplier.
A multi-character command must complete within 1 s.

Values.  Packet i (the global index: every packet generated since the
emulator started, across stops, restarts and faults) carries, for channel
k (1-based; 1-8 on a Cyton, 9-16 in the even Daisy packets):

    counts(i, k) = ((i * 40503 + k * 1000003) mod 16777213) - 8388606

which covers both signs and nearly the full 24-bit range;
uV = counts * 4.5 / (2^23 - 1) / gain * 1e6 (gain 24 unless changed).
The stream describes itself: index_of(c, k) recovers i from channel k's
counts (as a float32 uV value keeps them exactly), so a test can check a
sample without knowing where the stream started.
Footer C0.  Packets with i % 10 == 9 carry the accelerometer
accel(i) = (100 + (i // 10) % 1000, -(200 + (i // 10) % 1000), 8000)
counts (x 0.002 / 16 g; Z = 1 g); the others carry zeros, as the firmware
does.  Import this file to use counts(), uv() and accel() in tests.

Daisy (--daisy): the counter restarts at 0 on every stream start; odd
counters carry channels 1-8, even counters channels 9-16.  The first
packet of a stream (counter 0) has no valid average: it carries zeros.
A merged frame's channels 1-8 come from odd packet i and channels 9-16
from even packet i - 1.

Faults (I is a global packet index; lists may be comma-separated, and
options repeated):
  --drop N@I         drop N packets from I (the counter moves on)
  --garbage N@I      write N garbage bytes (never 0xA0) before packet I
  --bad-footer I     send packet I with footer 0x00
  --fragment         write each packet in 1-4 pieces ~100 us apart
  --burst MS         deliver in bursts every MS ms +- --burst-jitter
                     (default 25 %), like the FTDI latency timer beating
                     against the board clock; 0 jitter is phase-locked,
                     which no dejitter can undo
  --board-off        answer every command "Failure: Communications
                     timeout - Device failed to poll Host$$$", no data
  --stall S@I        send nothing for S seconds from packet I; the board
                     keeps sampling, so those packets are lost (a radio
                     dropout)
  --unplug I         close the pty at packet I (the board keeps
                     streaming; its packets are lost); --replug-after S
                     opens a new pty S seconds later and moves --link
  --drift PPM        the board clock runs PPM parts per million fast
  --silent           answer nothing, send nothing
SIGUSR1 toggles unplug/replug at any time.  stdout gets "PTY path" on
every (re)plug and "UNPLUGGED" on every unplug.

--log PATH writes one line per packet generated, in index order:
    index counter t_true_ns t_written_ns flags
t_true_ns is the packet's sample time on the board clock, expressed in
CLOCK_MONOTONIC ns; t_written_ns is CLOCK_MONOTONIC when its last byte
was written (-1 if never).  flags: ok, drop, stall, unplugged, overflow,
badfooter, invalid (Daisy first packet), garbage=N, restart (the first
packet after a stream start or restart).  Header lines start with '#'
and give realtime_minus_monotonic_ns, to compare with CLOCK_REALTIME.
"""

import argparse
import collections
import errno
import os
import random
import select
import signal
import struct
import sys
import time
import tty

RATE = 250
PACKET_LEN = 33
FULL_SCALE = 8388607            # 2^23 - 1
COUNTS_MOD = 16777213           # counts() modulus; 40503 is invertible
QUEUE_MAX = 65536               # bytes queued before packets are dropped

V_REPLY = ("OpenBCI V3 8-16 channel\n"
           "On Board ADS1299 Device ID: 0x3E\n"
           "{daisy}"
           "LIS3DH Device ID: 0x33\n"
           "Firmware: v3.1.2\n"
           "$$$")
V_DAISY = "On Daisy ADS1299 Device ID: 0x3E\n"
BOARD_OFF = "Failure: Communications timeout - Device failed to poll Host$$$"
D_REPLY = "updating channel settings to default$$$"
X_REPLY = "Success: Channel set for {}$$$"
X_SHORT = "Failure: too few chars$$$"
X_NOT_X = "Failure: Err: 9th char not X$$$"

CHAN_CHARS = "12345678QWERTYUI"
RESTARTERS = set("12345678qwertyui!@#$%^&*QWERTYUI0-=p[]")


def counts(i, k):
    """Return the counts of channel k (1-based) in packet i."""
    return (i * 40503 + k * 1000003) % 16777213 - 8388606


def index_of(c, k=1):
    """Return the packet index i (mod 16777213) whose channel k has counts c."""
    m = COUNTS_MOD
    return (c + 8388606 - k * 1000003) * pow(40503, -1, m) % m


def uv(c, gain=24):
    """Return counts c in microvolts at a gain."""
    return c * 4.5 / FULL_SCALE / gain * 1e6


def accel(i):
    """Return the accelerometer counts (x, y, z) in packet i."""
    if i % 10 != 9:
        return (0, 0, 0)
    j = i // 10
    return (100 + j % 1000, -(200 + j % 1000), 8000)


def packet(i, counter, high=False, footer=0xC0, invalid=False):
    """Return packet i's 33 bytes: channels 9-16 if high, zeros if invalid."""
    b = bytearray((0xA0, counter & 0xFF))
    for k in range(9, 17) if high else range(1, 9):
        v = 0 if invalid else counts(i, k) & 0xFFFFFF
        b += v.to_bytes(3, "big")
    b += struct.pack(">hhh", *accel(i))
    b.append(footer)
    return bytes(b)


def mono_ns():
    """Return CLOCK_MONOTONIC in ns."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def parse_at(text):
    """Parse 'N@I[,N@I...]' into [(N, I), ...] (N may be a float)."""
    out = []
    for part in text.split(","):
        n, sep, i = part.partition("@")
        if not sep:
            raise argparse.ArgumentTypeError("expected N@I, got %r" % part)
        out.append((float(n) if "." in n else int(n), int(i)))
    return out


def parse_list(text):
    """Parse 'I[,I...]' into [I, ...]."""
    return [int(x) for x in text.split(",")]


def flat(lists):
    """Flatten a list of lists (argparse append of lists)."""
    return [x for sub in (lists or []) for x in sub]


class Chunk:
    """Bytes to write no earlier than at_ns; entries resolve when done."""

    def __init__(self, data, at_ns, entries=()):
        self.data = data
        self.at_ns = at_ns
        self.entries = list(entries)


class Emulator:
    """The board, the dongle and the pty."""

    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        rate = (args.rate or RATE) * args.rate_multiplier
        self.period_ns = 1e9 / rate / (1 + args.drift * 1e-6)
        self.drops = {}
        for n, i in flat(args.drop):
            for j in range(i, i + n):
                self.drops[j] = True
        self.garbage = {i: n for n, i in flat(args.garbage)}
        self.bad_footer = set(flat(args.bad_footer))
        self.stalls = {i: s for s, i in flat(args.stall)}
        self.unplugs = set(flat(args.unplug))
        self.stall_until = 0
        # Streaming state.
        self.streaming = False
        self.stream_n = 0           # packets since the stream started
        self.t_start = 0            # ns: the stream's first deadline
        self.i = 0                  # global packet index
        # Command parsing.
        self.multi = None           # pending multi-char command text
        self.multi_need = 0
        self.multi_deadline = 0
        # Output.
        self.queue = collections.deque()
        self.queued = 0
        self.burst = []             # packets held for the next flush
        self.burst_entries = []
        self.next_flush = 0
        self.log_entries = collections.deque()
        self.log = None
        # The pty.
        self.master = -1
        self.slave = -1
        self.plugged = False
        self.replug_at = None
        self.running = True
        self.toggle = False

    # --- the pty -----------------------------------------------------

    def plug(self):
        """Open a new pty, point the link at it and announce it."""
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        path = os.ttyname(self.slave)
        if self.a.link:
            tmp = self.a.link + ".tmp%d" % os.getpid()
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(path, tmp)
            os.replace(tmp, self.a.link)
        self.plugged = True
        self.replug_at = None
        self.say("PTY " + path)

    def unplug(self):
        """Close the pty (the device vanishes); queued bytes are lost."""
        if not self.plugged:
            return
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self.slave = -1
        self.plugged = False
        if self.a.link:
            try:
                os.unlink(self.a.link)
            except FileNotFoundError:
                pass
        for c in self.queue:
            for e in c.entries:
                e["flags"].append("unplugged")
                e["done"] = True
        self.queue.clear()
        self.queued = 0
        for e in self.burst_entries:
            e["flags"].append("unplugged")
            e["done"] = True
        self.burst = []
        self.burst_entries = []
        self.multi = None
        self.say("UNPLUGGED")
        if self.a.replug_after is not None:
            self.replug_at = mono_ns() + int(self.a.replug_after * 1e9)

    def say(self, line):
        """Print a status line on stdout."""
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    # --- output ------------------------------------------------------

    def reply(self, text, delay_ns=0):
        """Queue a text reply."""
        if self.a.silent or not self.plugged:
            return
        data = text.encode()
        self.queue.append(Chunk(data, mono_ns() + delay_ns))
        self.queued += len(data)

    def write_ready(self, now):
        """Write queued chunks that are due; return when blocked."""
        while self.queue and self.queue[0].at_ns <= now and self.plugged:
            c = self.queue[0]
            try:
                n = os.write(self.master, c.data)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EIO, errno.EAGAIN):
                    return
                raise
            self.queued -= n
            if n < len(c.data):
                c.data = c.data[n:]
                return
            self.queue.popleft()
            t = mono_ns()
            for e in c.entries:
                e["written"] = t
                e["done"] = True

    def emit(self, data, t_true, entry):
        """Send one packet's bytes (after any garbage) toward the pty."""
        if self.queued + len(data) > QUEUE_MAX:
            entry["flags"].append("overflow")
            entry["done"] = True
            return
        if self.a.burst:
            self.burst.append(data)
            self.burst_entries.append(entry)
            return
        if self.a.fragment:
            pieces = []
            rest = data
            n = self.rng.randint(1, 4)
            for _ in range(n - 1):
                if len(rest) < 2:
                    break
                cut = self.rng.randint(1, len(rest) - 1)
                pieces.append(rest[:cut])
                rest = rest[cut:]
            pieces.append(rest)
            for j, p in enumerate(pieces):
                last = j == len(pieces) - 1
                self.queue.append(Chunk(p, t_true + j * 100000,
                                        [entry] if last else []))
        else:
            self.queue.append(Chunk(data, t_true, [entry]))
        self.queued += len(data)

    def flush_burst(self, now):
        """Deliver the held burst as one write; schedule the next one."""
        if self.burst:
            data = b"".join(self.burst)
            self.queue.append(Chunk(data, now, self.burst_entries))
            self.queued += len(data)
            self.burst = []
            self.burst_entries = []
        j = self.a.burst_jitter
        self.next_flush += int(self.a.burst * 1e6 *
                               (1 + j * (2 * self.rng.random() - 1)))
        if self.next_flush <= now:
            self.next_flush = now + int(self.a.burst * 1e6)

    # --- streaming ---------------------------------------------------

    def start_stream(self, now, pause_ns=0):
        """Start (or restart) the stream: counter 0 after pause_ns."""
        self.streaming = True
        self.stream_n = 0
        self.t_start = now + pause_ns
        if self.a.burst and self.next_flush == 0:
            self.next_flush = now + int(self.rng.random() *
                                        self.a.burst * 1e6)

    def due(self, n):
        """Return the deadline of stream packet n."""
        return self.t_start + int(n * self.period_ns)

    def generate(self, now):
        """Generate every packet whose deadline has passed."""
        while self.streaming and self.due(self.stream_n) <= now:
            n, i = self.stream_n, self.i
            t = self.due(n)
            counter = n & 0xFF
            high = self.a.daisy and counter % 2 == 0
            invalid = self.a.daisy and n == 0
            entry = {"i": i, "counter": counter, "true": t, "written": -1,
                     "flags": [], "done": False}
            if n == 0:
                entry["flags"].append("restart")
            if invalid:
                entry["flags"].append("invalid")
            self.log_entries.append(entry)
            self.stream_n += 1
            self.i += 1
            if i in self.unplugs and self.plugged:
                self.unplug()
            if i in self.stalls:
                self.stall_until = max(self.stall_until,
                                       t + int(self.stalls[i] * 1e9))
            footer = 0xC0
            if i in self.bad_footer:
                footer = 0x00
                entry["flags"].append("badfooter")
            if not self.plugged:
                entry["flags"].append("unplugged")
            elif t < self.stall_until:
                entry["flags"].append("stall")
            elif i in self.drops:
                entry["flags"].append("drop")
            else:
                g = b""
                if i in self.garbage:
                    g = bytes(b if b != 0xA0 else 0x5A for b in
                              (self.rng.randrange(256)
                               for _ in range(self.garbage[i])))
                    entry["flags"].append("garbage=%d" % len(g))
                self.emit(g + packet(i, counter, high, footer, invalid), t,
                          entry)
                continue
            entry["done"] = True

    def write_log(self):
        """Write resolved log entries, in index order."""
        while self.log_entries and self.log_entries[0]["done"]:
            e = self.log_entries.popleft()
            if self.log:
                flags = [f for f in e["flags"]]
                if e["written"] >= 0 and not any(
                        f in ("drop", "stall", "unplugged", "overflow")
                        for f in flags):
                    flags.insert(0, "ok")
                self.log.write("%d %d %d %d %s\n" % (
                    e["i"], e["counter"], e["true"], e["written"],
                    ",".join(flags) or "-"))

    # --- commands ----------------------------------------------------

    def command(self, cmd, now):
        """Act on one complete command (a character or x...X and kin)."""
        a = self.a
        if a.silent:
            return
        if a.board_off:
            self.reply(BOARD_OFF)
            return
        c = cmd[0]
        restart = False
        if c == "s":
            self.streaming = False
        elif c == "b":
            self.start_stream(now)
        elif c == "v":
            self.streaming = False
            self.reply(V_REPLY.format(daisy=V_DAISY if a.daisy else ""),
                       int(a.reset_delay * 1e6))
        elif c == "d":
            if self.streaming:
                restart = True
            else:
                self.reply(D_REPLY)
        elif c == "x":
            if "X" in cmd[1:8]:
                if not self.streaming:
                    self.reply(X_SHORT)
            elif cmd[8] != "X":
                if not self.streaming:
                    self.reply(X_NOT_X)
            elif self.streaming:
                restart = True
            else:
                ch = CHAN_CHARS.find(cmd[1])
                self.reply(X_REPLY.format(ch + 1 if ch >= 0 else 1))
        elif c in "z~":
            restart = self.streaming
        elif c in RESTARTERS:
            restart = self.streaming
        if restart:
            self.start_stream(now, int(a.restart_pause * 1e6))

    def feed(self, data, now):
        """Parse command bytes, including multi-character commands."""
        for byte in data:
            ch = chr(byte)
            if self.multi is not None and now > self.multi_deadline:
                self.multi = None           # timed out: start afresh
            if self.multi is not None:
                self.multi += ch
                # An early X aborts a channel command, as in the firmware.
                if (self.multi[0] == "x" and ch == "X") or \
                        len(self.multi) >= self.multi_need:
                    cmd, self.multi = self.multi, None
                    if cmd[0] == "x" and len(cmd) < 9:
                        cmd = cmd + "?" * (9 - len(cmd))
                    self.command(cmd, now)
                continue
            if ch in "xz`~/" or byte == 0xF0:
                self.multi = ch
                self.multi_need = {"x": 9, "z": 5}.get(ch, 2)
                self.multi_deadline = now + 1000000000
                continue
            self.command(ch, now)

    # --- the loop ----------------------------------------------------

    def run(self):
        """Serve until SIGTERM or SIGINT."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGUSR1, self.on_usr1)
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        if self.a.log:
            self.log = open(self.a.log, "w", buffering=1)
            r0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
            m = mono_ns()
            r1 = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.log.write("# cyton_emu rate=%g multiplier=%g daisy=%d "
                           "drift_ppm=%g\n" % (self.a.rate or RATE,
                                               self.a.rate_multiplier,
                                               self.a.daisy, self.a.drift))
            self.log.write("# realtime_minus_monotonic_ns=%d\n" %
                           ((r0 + r1) // 2 - m))
            self.log.write("# index counter t_true_ns t_written_ns flags\n")
        self.plug()
        try:
            while self.running:
                now = mono_ns()
                if self.toggle:
                    self.toggle = False
                    if self.plugged:
                        self.unplug()
                    else:
                        self.plug()
                if self.replug_at is not None and now >= self.replug_at:
                    self.plug()
                self.generate(now)
                if self.a.burst and self.next_flush and \
                        now >= self.next_flush:
                    self.flush_burst(now)
                self.write_ready(now)
                self.write_log()
                self.wait(wake_r)
        finally:
            self.write_log()
            if self.log:
                self.log.close()
            if self.a.link and self.plugged:
                try:
                    os.unlink(self.a.link)
                except FileNotFoundError:
                    pass

    def wait(self, wake_r):
        """Sleep until the next deadline, a command, or a signal."""
        now = mono_ns()
        times = []
        if self.streaming:
            times.append(self.due(self.stream_n))
        if self.a.burst and self.next_flush and self.burst:
            times.append(self.next_flush)
        blocked = False
        if self.queue and self.plugged:
            if self.queue[0].at_ns <= now:
                blocked = True
            else:
                times.append(self.queue[0].at_ns)
        if self.replug_at is not None:
            times.append(self.replug_at)
        timeout = max(0, min(times) - now) / 1e9 if times else 1.0
        rfds = [wake_r] + ([self.master] if self.plugged else [])
        wfds = [self.master] if blocked else []
        r, _, _ = select.select(rfds, wfds, [], min(timeout, 1.0))
        if wake_r in r:
            try:
                os.read(wake_r, 512)
            except BlockingIOError:
                pass
        if self.plugged and self.master in r:
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, InterruptedError):
                data = b""
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            if data:
                self.feed(data, mono_ns())

    def on_usr1(self, signum, frame):
        """SIGUSR1: toggle unplug/replug (acted on in the loop)."""
        self.toggle = True

    def on_term(self, signum, frame):
        """SIGTERM, SIGINT: leave the loop."""
        self.running = False


def main(argv=None):
    """Parse the command line and run the emulator."""
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--link", metavar="PATH",
                   help="make PATH a symlink to the pty slave")
    p.add_argument("--daisy", action="store_true",
                   help="emulate a Cyton with a Daisy (16 channels)")
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="packet rate (default 250)")
    p.add_argument("--rate-multiplier", type=float, default=1.0,
                   metavar="M", help="run M times faster than --rate")
    p.add_argument("--drift", type=float, default=0.0, metavar="PPM",
                   help="board clock runs PPM ppm fast (negative: slow)")
    p.add_argument("--log", metavar="PATH",
                   help="write per-packet times and faults to PATH")
    p.add_argument("--seed", type=int, default=1,
                   help="seed for fragment sizes, bursts and garbage")
    p.add_argument("--drop", type=parse_at, action="append",
                   metavar="N@I", help="drop N packets from index I")
    p.add_argument("--garbage", type=parse_at, action="append",
                   metavar="N@I", help="N garbage bytes before packet I")
    p.add_argument("--bad-footer", type=parse_list, action="append",
                   metavar="I", help="send packet I with footer 0x00")
    p.add_argument("--fragment", action="store_true",
                   help="write packets in small pieces")
    p.add_argument("--burst", type=float, default=0.0, metavar="MS",
                   help="deliver in bursts every MS ms")
    p.add_argument("--burst-jitter", type=float, default=0.25,
                   metavar="F", help="burst interval jitter (fraction)")
    p.add_argument("--board-off", action="store_true",
                   help="dongle without board: fail every command")
    p.add_argument("--stall", type=parse_at, action="append",
                   metavar="S@I", help="send nothing for S s from packet I")
    p.add_argument("--unplug", type=parse_list, action="append",
                   metavar="I", help="close the pty at packet I")
    p.add_argument("--replug-after", type=float, default=None,
                   metavar="S", help="reopen a pty S s after an unplug")
    p.add_argument("--silent", action="store_true",
                   help="answer nothing, send nothing")
    p.add_argument("--reset-delay", type=float, default=0.0, metavar="MS",
                   help="delay before the 'v' reply (real boards: ~600)")
    p.add_argument("--restart-pause", type=float, default=10.0,
                   metavar="MS", help="pause of a firmware stream restart")
    args = p.parse_args(argv)
    if args.rate_multiplier <= 0 or (args.rate is not None and
                                     args.rate <= 0):
        p.error("rates must be positive")
    Emulator(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
