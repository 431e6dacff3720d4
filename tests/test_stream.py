"""Integration: samples flow over Unix and TCP, continuous and exact."""
import json
import time
import unittest

from eegdtest import (Daemon, FAST, parse_csv_sample, parse_kv,
                      synthetic_value, wait_for, main)

RATE = 1000
SEED = 7


class StreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--rate", str(RATE), "--channels", "8"],
                       config="[board]\nseed = %d\n" % SEED)

    @classmethod
    def tearDownClass(cls):
        rc, _ = cls.d.stop()
        cls.d.close()
        assert rc == 0, rc

    def check_samples(self, samples, nch=8, rate=RATE, seed=SEED):
        """Assert continuous seq, exact values and exact spacing."""
        for (s0, t0, _), (s1, t1, _) in zip(samples, samples[1:]):
            self.assertEqual(s1, s0 + 1)
            self.assertEqual(round((t1 - t0) * 1e6), round(1e6 / rate))
        for seq, _, vals in samples:
            self.assertEqual(len(vals), nch)
            for k, v in enumerate(vals, 1):
                self.assertAlmostEqual(v, synthetic_value(seed, rate, seq, k),
                                       delta=2e-4, msg="seq %d ch %d" % (seq, k))

    def test_unix_csv(self):
        with self.d.unix() as c:
            hello = c.readline()
            cls, kv = parse_kv(hello)
            self.assertEqual(cls, "hello")
            self.assertEqual(kv["board"], "synthetic")
            self.assertEqual(kv["rate"], str(RATE))
            self.assertEqual(kv["channels"], "8")
            self.assertEqual(kv["units"], "uV")
            self.assertEqual(len(kv["run"]), 16)
            self.assertEqual(c.readline(),
                             "# seq,time,ch1,ch2,ch3,ch4,ch5,ch6,ch7,ch8")
            samples = []
            while len(samples) < 1500:
                line = c.readline()
                self.assertFalse(line.startswith("#"), line)
                samples.append(parse_csv_sample(line))
            self.check_samples(samples)

    def test_tcp_json(self):
        with self.d.tcp() as c:
            c.send("format json")
            ok = c.wait_class("ok")
            self.assertEqual(ok, {"class": "ok", "command": "format",
                                  "arg": "json"})
            hello = json.loads(c.readline())
            self.assertEqual(hello["class"], "hello")
            self.assertEqual(hello["labels"], ["ch%d" % k for k in range(1, 9)])
            self.assertEqual(hello["protocol"], 1)
            samples = []
            while len(samples) < 1500:
                o = json.loads(c.readline())
                self.assertEqual(o["class"], "sample")
                self.assertEqual(set(o), {"class", "seq", "time", "ch"})
                samples.append((o["seq"], o["time"], o["ch"]))
            self.check_samples(samples)

    def test_csv_line_shape(self):
        """A sample line is exactly seq,time(6 decimals),values(4 decimals)."""
        with self.d.unix() as c:
            line = c.wait_line(lambda l: not l.startswith("#"))
            parts = line.split(",")
            self.assertEqual(len(parts), 10)
            self.assertTrue(parts[0].isdigit())
            self.assertEqual(len(parts[1].split(".")[1]), 6)
            for v in parts[2:]:
                self.assertEqual(len(v.split(".")[1]), 4, line)

    def test_format_switch_keeps_continuity(self):
        with self.d.unix() as c:
            seqs = []
            for fmt in ("json", "csv", "json"):
                n = 0
                c.send("format " + fmt)
                while n < 200:
                    line = c.readline()
                    if line.startswith("{"):
                        o = json.loads(line)
                        if o["class"] == "sample":
                            seqs.append(o["seq"])
                            n += fmt == "json"
                        else:
                            self.assertIn(o["class"], ("ok", "hello"))
                    elif line.startswith("#"):
                        self.assertTrue(line.split(" ")[1] in
                                        ("ok", "hello", "seq,time,ch1,ch2,ch3,"
                                         "ch4,ch5,ch6,ch7,ch8"), line)
                    else:
                        seqs.append(int(line.split(",")[0]))
                        n += fmt == "csv"
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))

    def test_status(self):
        st = self.d.status()
        self.assertEqual(st["board"], "synthetic")
        self.assertEqual(st["state"], "streaming")
        self.assertEqual(st["rate"], RATE)
        self.assertEqual(st["channels"], 8)
        self.assertGreaterEqual(st["clients"], 1)
        self.assertGreater(st["produced"], 0)
        self.assertEqual(st["dropped_ring_overflow"], 0)
        for key in ("uptime", "delivered", "gaps", "dropped_slow_client"):
            self.assertIn(key, st)


class HighRateTest(unittest.TestCase):
    def test_16k_32ch(self):
        """16 kHz x 32 channels over JSON: continuous and exact."""
        with Daemon(["--rate", "16000", "--channels", "32"]) as d, \
                d.unix() as c:
            c.send("format json")
            c.wait_class("hello")
            samples = []
            while len(samples) < 16000:
                o = json.loads(c.readline())
                if o["class"] == "sample":
                    samples.append((o["seq"], o["ch"]))
            self.assertEqual([s for s, _ in samples],
                             list(range(samples[0][0],
                                        samples[0][0] + len(samples))))
            for seq, ch in samples[::997]:
                self.assertEqual(len(ch), 32)
                for k in (1, 17, 32):
                    self.assertAlmostEqual(ch[k - 1],
                                           synthetic_value(1, 16000, seq, k),
                                           delta=2e-4)
            self.assertEqual(d.status()["dropped_ring_overflow"], 0)

    def test_one_hz_one_channel(self):
        with Daemon(["--rate", "1", "--channels", "1"]) as d, d.unix() as c:
            self.assertIn("channels=1", c.readline())
            self.assertEqual(c.readline(), "# seq,time,ch1")
            s0 = parse_csv_sample(c.readline(timeout=5))
            s1 = parse_csv_sample(c.readline(timeout=5))
            self.assertEqual(s1[0], s0[0] + 1)
            self.assertAlmostEqual(s1[1] - s0[1], 1.0, delta=1e-6)


@unittest.skipIf(FAST, "real-time test: plain build only")
class PacingTest(unittest.TestCase):
    def test_60s_at_250hz_never_drifts(self):
        """After 60 s at 250 Hz, 15000 +- 1 samples have been produced.

        Arrival times carry scheduling jitter but never arrive early, so
        the lower envelope of (arrival - seq/rate) over the first and the
        last second shows the generator's drift without the jitter.
        """
        with Daemon(["--rate", "250", "--channels", "2"]) as d, d.unix() as c:
            c.readline()
            c.readline()
            first = None
            early, late = [], []
            while True:
                line = c.readline()
                now = time.monotonic()
                seq = int(line.split(",")[0])
                if first is None:
                    first = seq
                n = seq - first
                offs = now - n / 250.0
                if n < 250:
                    early.append(offs)
                elif 14750 <= n < 15000:
                    late.append(offs)
                if n >= 14999:
                    break
            drift = min(late) - min(early)
            self.assertLess(abs(drift), 1 / 250.0,
                            "drift %.6f s over 60 s" % drift)


if __name__ == "__main__":
    main()
