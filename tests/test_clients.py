"""Integration: many clients, a client that never reads, bad input."""
import json
import os
import socket
import threading
import time
import unittest

from eegdtest import Client, Daemon, parse_kv, wait_for, main


class Reader(threading.Thread):
    """A well-behaved CSV reader that records seqs and any '#' lines."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.c = client
        self.seqs = []
        self.events = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                line = self.c.readline(timeout=10)
                if line is None:
                    self.error = "EOF"
                    return
                if line.startswith("#"):
                    self.events.append(line)
                else:
                    self.seqs.append(int(line.split(",", 1)[0]))
        except Exception as e:  # reported by the test
            self.error = repr(e)

    def assert_continuous(self, test):
        test.assertIsNone(self.error)
        test.assertGreater(len(self.seqs), 0)
        test.assertEqual(self.seqs, list(range(self.seqs[0],
                                               self.seqs[0] + len(self.seqs))))
        for e in self.events:
            test.assertFalse(e.startswith("# gap"), e)


def stalled_client(path):
    """Connect with a small receive buffer and never read."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(path)
    return s


class SlowClientTest(unittest.TestCase):
    def test_stalled_client_never_delays_readers(self):
        """20 readers miss nothing while one client never reads."""
        conf = "[daemon]\nclient_max_buffer = 64K\nslow_client = drop\n"
        with Daemon(["--rate", "1000", "--channels", "32"], config=conf) as d:
            readers = [Reader(d.unix() if i % 2 else d.tcp())
                       for i in range(20)]
            for r in readers:
                r.start()
            stalled = stalled_client(d.sock)
            wait_for(lambda: d.status()["dropped_slow_client"] > 0,
                     timeout=30, what="the stalled client to be dropping")
            # Keep streaming a while longer with the client still stalled.
            mark = max(len(r.seqs) for r in readers)
            wait_for(lambda: min(len(r.seqs) for r in readers) > mark + 1000,
                     timeout=20, what="readers to advance")
            st = d.status()
            self.assertEqual(st["dropped_ring_overflow"], 0)
            for r in readers:
                r.stop.set()
            for r in readers:
                r.join(15)
                r.assert_continuous(self)
            # Now the stalled client reads: it gets what was queued, one
            # gap notice for what it missed, then the live stream.
            c = Client(stalled)
            last = None
            gap = None
            while True:
                line = c.readline(timeout=10)
                if line.startswith("# gap"):
                    gap = parse_kv(line)[1]
                    break
                if not line.startswith("#"):
                    seq = int(line.split(",", 1)[0])
                    if last is not None:
                        self.assertEqual(seq, last + 1)
                    last = seq
            self.assertEqual(gap["reason"], "slow_client")
            self.assertEqual(int(gap["seq"]), last + 1)
            nxt = int(c.wait_line(lambda l: not l.startswith("#")).split(",")[0])
            self.assertEqual(nxt, int(gap["seq"]) + int(gap["count"]))
            c.close()
            for r in readers:
                r.c.close()
            self.assertEqual(d.stop()[0], 0)

    def test_disconnect_policy(self):
        conf = "[daemon]\nclient_max_buffer = 16K\nslow_client = disconnect\n"
        with Daemon(["--rate", "1000", "--channels", "32"], config=conf) as d:
            c = Client(stalled_client(d.sock))
            d.wait_log("disconnecting", timeout=30)
            lines = list(c.lines())
            self.assertTrue(lines[-1].startswith("# error too slow"), lines[-1])
            c.close()


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--rate", "200"], config="[daemon]\nmax_clients = 3\n")

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def test_max_clients_refusal(self):
        cs = [self.d.unix() for _ in range(3)]
        for c in cs:
            self.assertTrue(c.readline().startswith("# hello"))
        with self.d.unix() as extra:
            self.assertEqual(list(extra.lines()),
                             ["# error too many clients (max_clients=3)"])
        cs[0].close()
        # Once a slot is free, a new client gets in.
        def admitted():
            with self.d.unix() as c:
                line = c.readline()
                return line is not None and line.startswith("# hello")
        wait_for(admitted, what="a free slot")
        for c in cs[1:]:
            c.close()


class CommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--rate", "200"])

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def sample_after(self, c):
        return c.wait_line(lambda l: not l.startswith("#"))

    def test_unknown_command_keeps_stream(self):
        with self.d.unix() as c:
            c.send("bogus stuff")
            err = c.wait_line(lambda l: l.startswith("# error"))
            self.assertEqual(err, "# error unknown command 'bogus' (try help)")
            self.sample_after(c)
            c.send("format xml")
            self.assertEqual(c.wait_line(lambda l: l.startswith("# error")),
                             "# error usage: format csv|json|binary")
            self.sample_after(c)

    def test_json_error_and_help(self):
        with self.d.unix() as c:
            c.send("format json")
            c.wait_class("hello")
            c.send("status now")
            e = c.wait_class("error")
            self.assertIn("message", e)
            c.send("help")
            h = c.wait_class("help")
            self.assertIn("quit", h["commands"])
            self.assertEqual(c.wait_class("ok")["command"], "help")

    def test_line_too_long_disconnects(self):
        with self.d.unix() as c:
            c.s.sendall(b"a" * 2000 + b"\n")
            lines = list(c.lines())
            self.assertTrue(lines[-1].startswith("# error line too long"),
                            lines[-1])

    def test_quit(self):
        with self.d.tcp() as c:
            c.send("quit")
            lines = list(c.lines())
            self.assertEqual(lines[-1], "# ok quit")

    def test_garbage_bytes(self):
        """Random bytes and NULs get errors; the stream goes on."""
        with self.d.unix() as c:
            c.s.sendall(os.urandom(300).replace(b"\n", b"x") + b"\n" +
                        b"\0\0\0\n" + b"\xff\xfe\n")
            errs = 0
            while errs < 3:
                if c.readline().startswith("# error"):
                    errs += 1
            self.sample_after(c)

    def test_half_closed_client_keeps_receiving(self):
        with self.d.unix() as c:
            c.send("format json")
            c.s.shutdown(socket.SHUT_WR)
            c.wait_class("hello")
            seqs = [c.wait_class("sample")["seq"] for _ in range(50)]
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 50)))

    def test_carriage_return_and_empty_lines(self):
        with self.d.unix() as c:
            c.s.sendall(b"\r\n\nstatus\r\n")
            st = c.wait_line(lambda l: l.startswith("# status"))
            self.assertIn("board=synthetic", st)
            self.assertEqual(c.wait_line(lambda l: l.startswith("# ok")),
                             "# ok status")


if __name__ == "__main__":
    main()
