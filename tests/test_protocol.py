"""Integration: protocol v1 (since, history, channels, decimate, binary,
markers, pause/resume)."""
import json
import math
import os
import re
import socket
import struct
import unittest

from eegdtest import (SRCDIR, Client, Daemon, parse_csv_sample, parse_kv,
                      synthetic_value, wait_for, main)

RATE = 1000


def taps(n):
    """The decimation filter, as eegd-protocol(7) documents it."""
    m = (55 * n + 1) // 2
    L = 2 * m + 1
    fc = 0.45 / n
    h = []
    for i in range(L):
        k = i - m
        x = 2 * math.pi * i / (L - 1)
        w = 0.42 - 0.5 * math.cos(x) + 0.08 * math.cos(2 * x)
        s = 2 * fc if k == 0 else math.sin(2 * math.pi * fc * k) / (math.pi * k)
        h.append(w * s)
    total = sum(h)
    return m, [v / total for v in h]


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def load_binary_reader():
    """Exec the Python reader printed in README.md; return its namespace."""
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    m = re.search(r"```python\n(# eegd binary reader\n.*?)```", text, re.S)
    assert m, "README.md has no '# eegd binary reader' block"
    ns = {}
    exec(m.group(1), ns)
    return ns


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--rate", str(RATE), "--channels", "32"])

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def json_client(self):
        c = self.d.unix()
        c.send("format json")
        c.wait_class("hello")
        return c

    def samples(self, c, n):
        out = []
        while len(out) < n:
            line = c.readline()
            if line.startswith("{"):
                o = json.loads(line)
                if o["class"] == "sample":
                    out.append(o)
        return out

    def test_resume_with_since(self):
        """Disconnect, reconnect with since: the union is the full range."""
        with self.json_client() as c:
            first = self.samples(c, 500)
        last = first[-1]["seq"]
        # The stream goes on while the client is away.
        wait_for(lambda: self.d.status()["delivered"] > last + 300,
                 what="the stream to move on")
        with self.json_client() as c:
            c.send("since %d" % (last + 1))
            ok = c.wait_class("ok")
            self.assertEqual(ok, {"class": "ok", "command": "since",
                                  "arg": str(last + 1)})
            again = self.samples(c, 800)
        seqs = [o["seq"] for o in first] + [o["seq"] for o in again]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        for o in again[::50]:
            self.assertAlmostEqual(o["ch"][0],
                                   synthetic_value(1, RATE, o["seq"], 1),
                                   delta=2e-4)

    def test_since_csv_reply_and_future(self):
        with self.d.unix() as c:
            s0 = int(c.wait_line(lambda l: not l.startswith("#")).split(",")[0])
            target = s0 + 700
            c.send("since %d" % target)
            self.assertEqual(c.wait_line(lambda l: l.startswith("# ok")),
                             "# ok since %d" % target)
            line = c.wait_line(lambda l: not l.startswith("#"))
            self.assertEqual(int(line.split(",")[0]), target)

    def test_since_other_run(self):
        with self.json_client() as c:
            c.send("since 5 0123456789abcdef")
            c.wait_class("ok")
            gap = c.wait_class("gap")
            self.assertEqual(gap["reason"], "restart")
            s = c.wait_class("sample")
            self.assertEqual(s["seq"], gap["count"])

    def test_history_replays_last_seconds(self):
        with self.json_client() as c:
            now = self.samples(c, 1)[0]["seq"]
            c.send("history 0.5")
            self.assertEqual(c.wait_class("ok")["arg"], "0.5")
            s = c.wait_class("sample")
            self.assertLessEqual(s["seq"], now - 490)
            rest = self.samples(c, 600)
            seqs = [s["seq"]] + [o["seq"] for o in rest]
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))

    def test_channels_subset_exact(self):
        with self.d.unix() as c:
            c.send("channels 2,5-7,ch32")
            self.assertEqual(c.wait_line(lambda l: l.startswith("# ok")),
                             "# ok channels 2,5-7,ch32")
            hello = parse_kv(c.readline())[1]
            self.assertEqual(hello["channels"], "5")
            self.assertEqual(hello["labels"], "ch2,ch5,ch6,ch7,ch32")
            self.assertEqual(c.readline(), "# seq,time,ch2,ch5,ch6,ch7,ch32")
            for _ in range(300):
                seq, _, vals = parse_csv_sample(c.readline())
                for k, v in zip((2, 5, 6, 7, 32), vals):
                    self.assertAlmostEqual(v, synthetic_value(1, RATE, seq, k),
                                           delta=2e-4)
            c.send("channels all")
            c.wait_line(lambda l: l.startswith("# seq,time,ch1,ch2,ch3"))

    def test_bad_arguments_keep_stream(self):
        with self.json_client() as c:
            for cmd in ("channels 0", "channels 40", "channels x9",
                        "decimate 0", "decimate 5000", "since abc",
                        "history -1", "hello 9", "format yaml"):
                c.send(cmd)
                e = c.wait_class("error")
                self.assertTrue(e["message"], cmd)
                c.wait_class("sample")

    def test_decimation_exact_and_antialiased(self):
        n = 10
        m, h = taps(n)
        with self.json_client() as c:
            c.send("channels 5,30")
            c.send("decimate %d" % n)
            c.wait_line(lambda l: '"command":"decimate"' in l)
            hello = c.wait_class("hello")
            self.assertEqual(hello["rate"], RATE // n)
            self.assertEqual(hello["decimate"], n)
            out = self.samples(c, 200)
        seqs = [o["seq"] for o in out]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + n * len(seqs), n)))
        self.assertEqual(seqs[0] % n, 0)
        # Exact values: the documented filter over the float32 inputs.
        for o in out[:: 37]:
            s = o["seq"]
            if s < m:
                continue
            for k, got in zip((5, 30), o["ch"]):
                want = sum(h[i] * f32(synthetic_value(1, RATE, s + m - i, k))
                           for i in range(len(h)))
                self.assertAlmostEqual(got, want, delta=3e-4)
        # ch5 is a 10 Hz tone of 50 uV: passed.  ch30 is 60 Hz, above the
        # new Nyquist frequency (50 Hz): at least 40 dB down.
        rms = [math.sqrt(sum(o["ch"][i] ** 2 for o in out) / len(out))
               for i in (0, 1)]
        self.assertAlmostEqual(rms[0], 50 / math.sqrt(2), delta=0.5)
        self.assertLess(rms[1], 300 / math.sqrt(2) / 100)

    def test_marker_reaches_every_format(self):
        csv_c = self.d.unix()
        json_c = self.json_client()
        bin_c = self.d.tcp()
        reader = load_binary_reader()
        bin_c.send("format binary")
        frames = reader["frames"](bin_c.s)
        # Wait for the binary header before marking.
        next(f for f in frames if f[0] == "header")
        with self.d.unix() as m:
            m.send("marker stimulus A ✓")
            self.assertEqual(m.wait_line(lambda l: l.startswith("# ok")),
                             "# ok marker")
        line = csv_c.wait_line(lambda l: l.startswith("# marker"))
        self.assertRegex(line, r"^# marker seq=\d+ time=\d+\.\d{6} "
                               r"text=stimulus A ✓$")
        j = json_c.wait_class("marker")
        self.assertEqual(j["text"], "stimulus A ✓")
        self.assertEqual(j["seq"], int(parse_kv(line)[1]["seq"]))
        ev = next(f for f in frames if f[0] == "event" and
                  f[1]["class"] == "marker")
        self.assertEqual(ev[1], j)
        for c in (csv_c, json_c, bin_c):
            c.close()

    def test_bad_markers(self):
        with self.d.unix() as c:
            for raw in (b"marker a\x01b", b"marker \xff\xfe",
                        b"marker " + b"x" * 257, b"marker \xc0\xaf",
                        b"marker \xed\xa0\x80"):
                c.s.sendall(raw + b"\n")
                self.assertTrue(c.wait_line(
                    lambda l: l.startswith("# error")).startswith(
                        "# error marker text"), raw)
            c.wait_line(lambda l: not l.startswith("#"))

    def test_pause_resume(self):
        with self.json_client() as c:
            before = self.samples(c, 100)[-1]["seq"]
            c.send("pause")
            c.wait_class("ok")
            # Whatever was queued before the pause still arrives; then none.
            wait_for(lambda: self.d.status()["delivered"] > before + 500,
                     what="time to pass")
            c.send("resume")
            seen = []
            while True:
                o = json.loads(c.readline())
                if o["class"] == "sample":
                    seen.append(o["seq"])
                if o["class"] == "gap":
                    break
            self.assertEqual(o["reason"], "paused")
            self.assertEqual(o["seq"], (seen[-1] if seen else before) + 1)
            nxt = c.wait_class("sample")["seq"]
            self.assertEqual(nxt, o["seq"] + o["count"])

    def test_binary_frames(self):
        reader = load_binary_reader()
        with self.d.tcp() as c:
            c.send("channels 1-4")
            c.send("format binary")
            frames = reader["frames"](c.s)
            kinds = []
            got = []
            for kind, body in frames:
                kinds.append(kind)
                if kind == "header":
                    self.assertEqual(body["channels"], 4)
                    self.assertEqual(body["labels"], ["ch1", "ch2", "ch3", "ch4"])
                    self.assertEqual(body["rate"], RATE)
                    self.assertEqual(body["units"], "uV")
                elif kind == "data":
                    for seq, t, vals in body:
                        got.append(seq)
                        for k, v in enumerate(vals, 1):
                            self.assertAlmostEqual(
                                v, synthetic_value(1, RATE, seq, k), delta=1e-4)
                if len(got) > 2000:
                    break
            self.assertIn("event", kinds)  # the ok reply
            self.assertEqual(got, list(range(got[0], got[0] + len(got))))


class ExpiryTest(unittest.TestCase):
    def test_since_older_than_window(self):
        with Daemon(["--rate", "500"],
                    config="[daemon]\nhistory_seconds = 1\n") as d:
            wait_for(lambda: d.status()["history_oldest"] > 100,
                     what="the window to slide")
            with d.unix() as c:
                c.send("format json")
                c.send("since 3")
                c.wait_class("ok")
                gap = c.wait_class("gap")
                self.assertEqual(gap["reason"], "expired")
                self.assertEqual(gap["seq"], 3)
                s = c.wait_class("sample")
                self.assertEqual(s["seq"], gap["seq"] + gap["count"])


if __name__ == "__main__":
    main()
