"""Shared helpers for eegd's integration tests (Python standard library only).

Daemon starts the real eegd binary ($EEGD) on temporary sockets and waits
for its "listening on" log lines; Client speaks the line protocol.  Every
wait is on a condition with a deadline, never a bare sleep.
"""
import json
import math
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

EEGD = os.environ.get("EEGD", os.path.join(os.path.dirname(__file__), "..", "src", "eegd"))
SRCDIR = os.environ.get("EEGD_SRCDIR", os.path.join(os.path.dirname(__file__), ".."))
# Sanitizer builds set EEGD_TEST_FAST=1: real-time and timing checks are skipped.
FAST = os.environ.get("EEGD_TEST_FAST", "") not in ("", "0")
# EEGD_TEST_WRAPPER="valgrind --leak-check=full --error-exitcode=1 ..." runs
# the daemon under that command; close() then stops it with SIGTERM and
# fails the test unless it exits 0 (so leaks and errors fail the test).
WRAPPER = shlex.split(os.environ.get("EEGD_TEST_WRAPPER", ""))


def wait_for(pred, timeout=10.0, what="condition", interval=0.01):
    """Poll pred() until it returns a true value; fail after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def splitmix_u(seed, seq, k):
    """The synthetic board's uniform [0,1) draw, as eegd(8) documents it."""
    m = (1 << 64) - 1
    z = (seed + seq * 0x9E3779B97F4A7C15 + k * 0xD1B54A32D192ED03) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    return (z >> 11) * 2.0 ** -53


def synthetic_value(seed, rate, seq, k):
    """Channel k (1-based) of sample seq, in uV (eegd(8), SYNTHETIC BOARD)."""
    ph = 2.0 * math.pi * ((seq * 2 * k) % rate) / rate
    return 10.0 * k * math.sin(ph) + (2.0 * splitmix_u(seed, seq, k) - 1.0)


class Daemon:
    """A running eegd with a private config, Unix socket and TCP port."""

    def __init__(self, args=(), config="", tcp=True, unix=True, env=None,
                 wait=True, preexec_fn=None):
        self.dir = tempfile.mkdtemp(prefix="eegd-test-")
        self.sock = os.path.join(self.dir, "eegd.sock")
        self.conf = os.path.join(self.dir, "eegd.conf")
        with open(self.conf, "w") as f:
            f.write(config)
        cmd = WRAPPER + [EEGD, "-c", self.conf]
        if unix:
            cmd += ["-l", "unix:" + self.sock]
        if tcp:
            cmd += ["-l", "tcp:127.0.0.1:0"]
        cmd += list(args)
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e.pop("NOTIFY_SOCKET", None)
        e.update(env or {})
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=e,
                                     preexec_fn=preexec_fn)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        self.port = None
        if wait:
            self.wait_log("running:", timeout=60 if WRAPPER else 10)
            # The synthetic board streams at once: wait for the hub to
            # have said so, so no client sees that event mid-test.
            if "cyton" not in cmd and "cyton" not in config:
                self.wait_log(": streaming", timeout=60 if WRAPPER else 10)
            if tcp:
                line = self.wait_log("listening on tcp:127.0.0.1:")
                self.port = int(line.rsplit(":", 1)[1])

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if os.environ.get("EEGD_TEST_VERBOSE"):
                print("  eegd:", line, flush=True)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_log(self, text, timeout=10.0, start=0):
        """Wait for a stderr line containing text; return the line."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if text in line:
                        return line
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 not self.reader.is_alive()):
                    raise AssertionError("no log line %r; log:\n%s" %
                                         (text, "\n".join(self.lines)))
                self.cond.wait(min(left, 0.1))

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def unix(self):
        return Client.unix(self.sock)

    def tcp(self):
        return Client.tcp("127.0.0.1", self.port)

    def status(self):
        """Ask a fresh JSON client for status; return the dict."""
        with self.unix() as c:
            c.send("format json")
            c.send("status")
            return c.wait_class("status")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal the daemon and wait; return (exit code, seconds taken)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("eegd did not exit within %.1f s" % timeout)
        return rc, time.monotonic() - t0

    def close(self):
        rc = None
        if WRAPPER and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        elif WRAPPER:
            rc = self.proc.returncode
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if WRAPPER and rc != 0:
            raise AssertionError("eegd under %s exited %s; log:\n%s" %
                                 (WRAPPER[0], rc, self.log_text()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client:
    """A protocol client with a line buffer."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.eof = False

    @classmethod
    def unix(cls, path, timeout=10.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        return cls(s)

    @classmethod
    def tcp(cls, host, port, timeout=10.0):
        s = socket.create_connection((host, port), timeout)
        return cls(s)

    def send(self, line):
        self.s.sendall(line.encode() + b"\n")

    def readline(self, timeout=10.0):
        """Return the next line (str, without newline); None at EOF."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for a line")
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            try:
                data = self.s.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                if not self.buf:
                    return None
                line, self.buf = self.buf, b""
                return line.decode()
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def lines(self, timeout=10.0):
        """Yield lines until EOF."""
        while True:
            line = self.readline(timeout)
            if line is None:
                return
            yield line

    def wait_line(self, pred, timeout=10.0, what="line"):
        """Read until pred(line) is true; return that line."""
        end = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.01, end - time.monotonic()))
            if line is None:
                raise AssertionError("EOF while waiting for %s" % what)
            if pred(line):
                return line
            if time.monotonic() > end:
                raise AssertionError("timed out waiting for %s" % what)

    def wait_class(self, cls, timeout=10.0):
        """JSON mode: read until an object of class cls; return it."""
        line = self.wait_line(lambda l: l.startswith("{") and
                              json.loads(l).get("class") == cls,
                              timeout, "class " + cls)
        return json.loads(line)

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_csv_sample(line):
    """Split a CSV sample line into (seq, time, [values])."""
    parts = line.split(",")
    return int(parts[0]), float(parts[1]), [float(v) for v in parts[2:]]


def parse_kv(line):
    """Parse '# class k=v k=v' into (class, dict)."""
    words = line[2:].split(" ")
    kv = {}
    for w in words[1:]:
        if "=" in w:
            k, v = w.split("=", 1)
            kv[k] = v
    return words[0], kv


def main():
    unittest.main(verbosity=2)
