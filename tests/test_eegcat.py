"""Integration: eegcat(1) against the real daemon.

CSV and JSON output equal the daemon's own lines; --channels, --decimate
and --marker; BDF+ recordings read back with MNE (values within one LSB of
the synthetic formula, marker and gap annotations, events.tsv); rotation
with no sample lost or duplicated; reconnection through a TCP proxy the
test can cut (no gap while the daemon stays up, an "expired" gap when the
outage outlasts the history window); and a daemon restart (a "restart"
gap).  MNE runs in Debian's /usr/bin/python3 (python3-mne); those tests
are skipped when it cannot import mne.
"""
import glob
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from eegdtest import (EEGD, FAST, SRCDIR, Daemon, parse_csv_sample,
                      parse_kv, synthetic_value, wait_for, main)

EEGCAT = os.environ.get("EEGCAT",
                        os.path.join(os.path.dirname(EEGD), "eegcat"))
MNE_PYTHON = "/usr/bin/python3"
RATE = 250
NCH = 4
RANGE = 10.0 * NCH + 1.0            # the synthetic board's range (eegd(8))
LSB = 2 * RANGE / 2 ** 24
ANNOT = 4                           # --annotation-signals in the tests
HEADER_BYTES = 256 * (1 + NCH + ANNOT)
RECORD_BYTES = NCH * RATE * 3 + ANNOT * 114

MNE_SCRIPT = r"""
import json, sys, warnings
import mne
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    raw = mne.io.read_raw_bdf(sys.argv[1], preload=True, verbose="warning")
json.dump({
    "n_times": int(raw.n_times),
    "sfreq": float(raw.info["sfreq"]),
    "ch_names": list(raw.ch_names),
    "units": dict(raw._orig_units),
    "annotations": [[float(a["onset"]), a["description"]]
                    for a in raw.annotations],
    "data": (raw.get_data() * 1e6).tolist(),
    "warnings": [str(w.message) for w in caught],
}, sys.stdout)
"""


def have_mne():
    try:
        r = subprocess.run([MNE_PYTHON, "-c", "import mne"],
                           capture_output=True, timeout=120)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HAVE_MNE = have_mne()
needs_mne = unittest.skipUnless(HAVE_MNE, "no MNE in " + MNE_PYTHON +
                                " (apt-get install python3-mne)")


def read_bdf(path):
    """Read a BDF file with MNE in Debian's python; return a dict."""
    r = subprocess.run([MNE_PYTHON, "-c", MNE_SCRIPT, path],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError("MNE could not read %s:\n%s" % (path, r.stderr))
    return json.loads(r.stdout)


def read_tsv(path):
    """Read an events.tsv: a list of (seq, time, kind, text)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "seq\ttime\tkind\ttext", lines[0]
    rows = []
    for line in lines[1:]:
        seq, t, kind, text = line.split("\t", 3)
        rows.append((int(seq), float(t), kind, text))
    return rows


def tsv_of(bdf):
    return bdf[:-4] + ".events.tsv"


def tsv_has(bdf, text):
    """Does the recording's events.tsv mention text yet?"""
    try:
        with open(tsv_of(bdf), encoding="utf-8") as f:
            return text in f.read()
    except OSError:
        return False


def recorded_seconds(path):
    """Whole data records in a BDF file being written (from its size)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    return max(0, size - HEADER_BYTES) // RECORD_BYTES


def run_eegcat(args, timeout=30, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([EEGCAT] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, env=e, **kw)


class Eegcat:
    """A running eegcat whose stdout lines and stderr lines are collected."""

    def __init__(self, args, env=None):
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e.update(env or {})
        self.out = []
        self.err = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([EEGCAT] + list(args),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=e)
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout,
                                                      self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr,
                                                      self.err), daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _read(self, stream, into):
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if into is self.err and os.environ.get("EEGD_TEST_VERBOSE"):
                print("  eegcat:", line, flush=True)
            with self.cond:
                into.append(line)
                self.cond.notify_all()

    def wait(self, which, pred, timeout=20.0, what="line"):
        """Wait for a line of out or err with pred(line); return it."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                lines = self.out if which == "out" else self.err
                for line in lines:
                    if pred(line):
                        return line
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and \
                        not any(t.is_alive() for t in self.threads):
                    raise AssertionError(
                        "eegcat: no %s; stderr:\n%s" %
                        (what, "\n".join(self.err)))
                self.cond.wait(min(left, 0.1))

    def samples(self):
        with self.cond:
            return [parse_csv_sample(l) for l in self.out
                    if l and not l.startswith("#")]

    def stop(self, sig=signal.SIGINT, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("eegcat did not exit after signal %d" % sig)
        for t in self.threads:
            t.join(5)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self.threads:
            t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Proxy:
    """A TCP proxy in front of the daemon that the test can cut.

    drop() closes every proxied connection; while down, connections are
    accepted and closed at once (eegcat sees EOF and backs off).
    """

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.down = False
        self.closed = False
        self.accepted = 0
        self.refused = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closed:
            r, _, _ = select.select([self.ls], [], [], 0.05)
            if not r or self.closed:
                continue
            try:
                a, _ = self.ls.accept()
            except OSError:
                continue
            with self.lock:
                if self.down:
                    self.refused += 1
                    a.close()
                    continue
            try:
                b = socket.create_connection(self.target, 5)
            except OSError:
                a.close()
                continue
            with self.lock:
                self.pairs.append((a, b))
                self.accepted += 1
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(src, dst),
                                 daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self, down=False):
        """Cut every connection; with down, refuse new ones until up()."""
        with self.lock:
            self.down = down
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def up(self):
        with self.lock:
            self.down = False

    def close(self):
        self.closed = True
        self.drop()
        self.thread.join(5)
        self.ls.close()


class OutputTest(unittest.TestCase):
    """eegcat's CSV and JSON lines are the daemon's, byte for byte."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--rate", str(RATE), "--channels", "8"])

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def direct_lines(self, c, last_seq, key):
        """Read a direct client's sample lines up to last_seq, by seq."""
        got = {}
        while True:
            line = c.readline()
            seq = key(line)
            if seq is not None:
                got[seq] = line
                if seq >= last_seq:
                    return got

    def test_csv_matches_daemon(self):
        with self.d.unix() as c:
            hello = c.readline()
            columns = c.readline()
            r = run_eegcat(["--unix", self.d.sock, "--count", "300"])
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.decode().splitlines()
            self.assertEqual(out[0], hello)
            self.assertEqual(out[1], columns)
            self.assertEqual(len(out), 302)
            seqs = [int(l.split(",")[0]) for l in out[2:]]
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 300)))
            direct = self.direct_lines(
                c, seqs[-1], lambda l: None if l.startswith("#")
                else int(l.split(",")[0]))
        for line, seq in zip(out[2:], seqs):
            self.assertEqual(line, direct[seq])

    def test_json_matches_daemon(self):
        with self.d.unix() as c:
            c.send("format json")
            hello = json.loads(c.wait_line(lambda l: '"class":"hello"' in l))
            r = run_eegcat(["--unix", self.d.sock, "--json", "-n", "200"])
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.decode().splitlines()
            self.assertEqual(json.loads(out[0]), hello)
            objs = [json.loads(l) for l in out[1:]]
            self.assertEqual(len(objs), 200)
            self.assertTrue(all(o["class"] == "sample" for o in objs))
            direct = self.direct_lines(
                c, objs[-1]["seq"], lambda l: json.loads(l)["seq"]
                if l.startswith('{"class":"sample"') else None)
        for line, o in zip(out[1:], objs):
            self.assertEqual(line, direct[o["seq"]])

    def test_channels_and_decimate_passed_through(self):
        with self.d.unix() as c:
            c.send("channels 2,ch4,6-7")
            c.send("decimate 5")
            c.wait_line(lambda l: l == "# ok decimate 5")
            hello = c.readline()
            columns = c.readline()
            self.assertIn("decimate=5", hello)
            r = run_eegcat(["--unix", self.d.sock, "--channels", "2,ch4,6-7",
                            "--decimate", "5", "--count", "60"])
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.decode().splitlines()
            self.assertEqual(out[0], hello)
            self.assertEqual(out[1], columns)
            self.assertEqual(columns, "# seq,time,ch2,ch4,ch6,ch7")
            seqs = [int(l.split(",")[0]) for l in out[2:]]
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 300, 5)))
            direct = self.direct_lines(
                c, seqs[-1], lambda l: None if l.startswith("#")
                else int(l.split(",")[0]))
        for line, seq in zip(out[2:], seqs):
            self.assertEqual(line, direct[seq])

    def test_bad_channels_exit_1(self):
        r = run_eegcat(["--unix", self.d.sock, "--channels", "99", "-n", "1"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"channels: channel out of range", r.stderr)

    def test_marker_reaches_other_clients(self):
        text = "stimulus A \u2713"
        with self.d.unix() as c, self.d.unix() as j, \
                Eegcat(["--unix", self.d.sock]) as e:
            j.send("format json")
            j.wait_class("hello")
            e.wait("out", lambda l: l and not l.startswith("#"),
                   what="a sample")
            r = run_eegcat(["--unix", self.d.sock, "--marker", text])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"")
            m = j.wait_class("marker")
            self.assertEqual(m["text"], text)
            line = c.wait_line(lambda l: l.startswith("# marker"))
            self.assertEqual(e.wait("out", lambda l: l.startswith("# marker"),
                                    what="the marker line"), line)
            self.assertEqual(parse_kv(line)[1]["seq"], str(m["seq"]))
            self.assertEqual(e.stop(), 0)

    def test_invalid_markers_exit_1(self):
        for text, msg in ((b"x" * 300, b"marker text too long"),
                          (b"\xff\xfe", b"not valid UTF-8"),
                          (b"a\nb", b"control character"),
                          (b"a\x01b", b"control character")):
            r = run_eegcat([b"--unix", self.d.sock.encode(), b"--marker",
                            text])
            self.assertEqual(r.returncode, 1, text)
            self.assertIn(msg, r.stderr, text)

    def test_reconnect_resumes_without_gap(self):
        """The connection drops twice; since resumes: every seq once."""
        proxy = Proxy(self.d.port)
        self.addCleanup(proxy.close)
        with Eegcat(["--tcp", "127.0.0.1:%d" % proxy.port]) as e:
            for n in (1, 2):
                have = len(e.samples())
                wait_for(lambda: len(e.samples()) > have + 100, 20,
                         "samples")
                proxy.drop()
                e.wait("err", lambda l: sum("reconnected" in x
                                            for x in e.err) >= n, 20,
                       "reconnection %d" % n)
            have = len(e.samples())
            wait_for(lambda: len(e.samples()) > have + 100, 20, "samples")
            self.assertEqual(e.stop(), 0)
            seqs = [s[0] for s in e.samples()]
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
            self.assertEqual([l for l in e.out if l.startswith("# gap")], [])
            self.assertEqual(sum(l.startswith("# hello") for l in e.out), 1)
            self.assertIn("resuming at seq", "\n".join(e.err))
            for seq, _, vals in e.samples()[::25]:
                for k, v in enumerate(vals, 1):
                    self.assertAlmostEqual(v, synthetic_value(1, RATE, seq,
                                                              k), delta=1e-4)

    def test_socket_search_and_tcp(self):
        r = run_eegcat(["-n", "5"], env={"EEGD_SOCKET": self.d.sock})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 7)
        r = run_eegcat(["--tcp", "127.0.0.1:%d" % self.d.port, "-n", "5"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 7)
        # IPv6 syntax; nothing listens there.
        r = run_eegcat(["--tcp", "[::1]:1", "-n", "5"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"cannot connect to tcp:[::1]:1", r.stderr)
        r = run_eegcat(["--unix", os.path.join(self.d.dir, "none.sock")])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"No such file", r.stderr)

    @unittest.skipUnless(os.path.exists("/usr/bin/mandoc"), "no mandoc")
    def test_man_page_lint(self):
        r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning",
                            os.path.join(SRCDIR, "man", "eegcat.1")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout + r.stderr, "")
        self.assertEqual(r.returncode, 0)

    def test_usage(self):
        r = run_eegcat(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"usage: eegcat", r.stdout)
        r = run_eegcat(["-V"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, rb"^eegcat \d+\.\d+")
        for args in (["--bogus"], ["--unix", "a", "--tcp", "b:1"],
                     ["--count", "0"], ["--decimate", "x"],
                     ["--record", "x.edf"], ["--rotate", "5"],
                     ["--max-fill", "5"], ["--annotation-signals", "65"],
                     ["--marker", "m", "--record", "x.bdf"],
                     ["--json", "--record", "x.bdf"], ["--tcp", "nocolon"],
                     ["extra"]):
            r = run_eegcat(args)
            self.assertEqual(r.returncode, 64, args)


class RecordTest(unittest.TestCase):
    """BDF+ recordings, read back with MNE."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eegcat-test-")

    def tearDown(self):
        for f in glob.glob(os.path.join(self.dir, "*")):
            os.unlink(f)
        os.rmdir(self.dir)

    def check_values(self, info, seq0, skip=()):
        """Sample i is seq0 + i; within one LSB, except indices in skip."""
        data = info["data"]
        for i in range(info["n_times"]):
            if i in skip:
                continue
            for k in range(NCH):
                want = synthetic_value(1, RATE, seq0 + i, k + 1)
                self.assertLessEqual(abs(data[k][i] - want), LSB,
                                     "sample %d ch%d" % (i, k + 1))

    def check_header(self, info):
        self.assertEqual(info["sfreq"], RATE)
        self.assertEqual(info["ch_names"], ["ch%d" % k for k in
                                            range(1, NCH + 1)])
        self.assertEqual(set(info["units"].values()), {"\u00b5V"})
        self.assertEqual(info["n_times"] % RATE, 0)

    @needs_mne
    def test_record_marker_and_gap(self):
        """30 s (8 s in the fast set) with a marker and a forced gap.

        The gap: eegcat reaches the daemon through a proxy, and the daemon
        keeps 1 s of history.  The proxy is cut and refuses connections
        until the daemon's history has moved past everything eegcat had;
        eegcat's "since" then gets a gap notice (reason=expired) for
        exactly the samples it missed.
        """
        seconds = 8 if FAST else 30
        path = os.path.join(self.dir, "rec.bdf")
        # 40 bytes end inside the "é" (bytes 39-40): the cut backs up.
        text = "x" * 39 + "\u00e9 and the rest of a long marker"
        with Daemon(["--rate", str(RATE), "--channels", str(NCH)],
                    config="[daemon]\nhistory_seconds = 1\n") as d:
            proxy = Proxy(d.port)
            self.addCleanup(proxy.close)
            with Eegcat(["--tcp", "127.0.0.1:%d" % proxy.port, "--record",
                         path, "--annotation-signals", str(ANNOT)]) as e:
                wait_for(lambda: recorded_seconds(path) >= 2, 20,
                         "2 s recorded")
                r = run_eegcat(["--unix", d.sock, "--marker", text])
                self.assertEqual(r.returncode, 0, r.stderr)
                wait_for(lambda: tsv_has(path, "\tmarker\t"),
                         10, "the marker in events.tsv")
                proxy.drop(down=True)
                cut = d.status()["produced"]
                wait_for(lambda: d.status()["history_oldest"] > cut + 10,
                         10, "the history to move past the cut")
                wait_for(lambda: proxy.refused >= 1, 10, "a refused retry")
                proxy.up()
                e.wait("err", lambda l: "(expired)" in l, 20, "the gap")
                wait_for(lambda: recorded_seconds(path) >= seconds,
                         seconds + 20, "%d s recorded" % seconds)
                self.assertEqual(e.stop(), 0)
        rows = read_tsv(tsv_of(path))
        kinds = [r[2] for r in rows]
        self.assertEqual(kinds, ["start", "marker", "gap", "end"])
        seq0 = rows[0][0]
        marker, gap, end = rows[1], rows[2], rows[3]
        self.assertEqual(marker[3], text)
        m = re.match(r"gap (\d+) samples \(expired\)$", gap[3])
        self.assertTrue(m, gap)
        nfill = int(m.group(1))
        self.assertGreater(nfill, 0)
        m = re.match(r"end of data(; (\d+) samples padded)?$", end[3])
        self.assertTrue(m, end)
        npad = int(m.group(2) or 0)

        info = read_bdf(path)
        self.check_header(info)
        self.assertGreaterEqual(info["n_times"], seconds * RATE)
        # Sample i is seq seq0 + i: the fill keeps time aligned.
        self.assertEqual(info["n_times"], end[0] - seq0 + 1 + npad)
        g = gap[0] - seq0
        self.check_values(info, seq0, skip=set(range(g, g + nfill)) |
                          set(range(info["n_times"] - npad,
                                    info["n_times"])))
        data = info["data"]
        for k in range(NCH):
            # The fill and the padding hold the last value.
            self.assertEqual(set(data[k][g:g + nfill]), {data[k][g - 1]})
            if npad:
                self.assertEqual(set(data[k][info["n_times"] - npad:]),
                                 {data[k][info["n_times"] - npad - 1]})
        ann = info["annotations"]
        cut = "x" * 39
        self.assertIn([round((marker[0] - seq0) / RATE, 4), cut],
                      [[round(o, 4), t] for o, t in ann])
        self.assertIn([g / RATE, gap[3]], ann)
        if npad:
            self.assertIn(end[3], [t for _, t in ann])

    @needs_mne
    def test_rotated_pair(self):
        """Test-only 2 s rotation: consecutive files share no sample and
        miss none; each new file starts on the boundary."""
        path = os.path.join(self.dir, "rot.bdf")
        with Daemon(["--rate", str(RATE), "--channels", str(NCH)]) as d, \
                Eegcat(["--unix", d.sock, "--record", path,
                        "--annotation-signals", str(ANNOT)],
                       env={"EEGCAT_ROTATE_SECONDS": "2"}) as e:
            wait_for(lambda: len(glob.glob(os.path.join(
                self.dir, "rot-*.bdf"))) >= 3, 20, "three files")
            self.assertEqual(e.stop(), 0)
        files = sorted(glob.glob(os.path.join(self.dir, "rot-*.bdf")))
        self.assertFalse(os.path.exists(path))
        for f in files:
            self.assertRegex(os.path.basename(f),
                             r"^rot-\d{8}-\d{6}\.bdf$")
        prev_end = None
        for i, f in enumerate(files):
            rows = read_tsv(tsv_of(f))
            self.assertEqual([r[2] for r in rows], ["start", "end"])
            start, end = rows[0], rows[-1]
            if prev_end is not None:
                self.assertEqual(start[0], prev_end[0] + 1, f)
                # On the boundary: at most one data record after it.
                secs = int(os.path.basename(f)[-6 - 4:-4])
                self.assertEqual(secs % 2, 0, f)
                self.assertLess(start[1] % 2, 1.0 + 1e-6, f)
            info = read_bdf(f)
            self.check_header(info)
            if i < len(files) - 1:
                self.assertEqual(end[3], "end of data")
                self.assertEqual(info["n_times"], end[0] - start[0] + 1)
                self.check_values(info, start[0])
            prev_end = end

    @needs_mne
    def test_drop_without_gap(self):
        """A dropped connection to a daemon that stays up: no gap."""
        path = os.path.join(self.dir, "drop.bdf")
        with Daemon(["--rate", str(RATE), "--channels", str(NCH)]) as d:
            proxy = Proxy(d.port)
            self.addCleanup(proxy.close)
            with Eegcat(["--tcp", "127.0.0.1:%d" % proxy.port, "--record",
                         path, "--annotation-signals", str(ANNOT)]) as e:
                for n in (1, 2):
                    wait_for(lambda: recorded_seconds(path) >= n, 20,
                             "%d s recorded" % n)
                    proxy.drop()
                    wait_for(lambda: proxy.accepted > n, 20, "a reconnect")
                wait_for(lambda: recorded_seconds(path) >= 3, 20,
                         "3 s recorded")
                self.assertEqual(e.stop(), 0)
                self.assertEqual(sum("reconnected" in l for l in e.err), 2)
        rows = read_tsv(tsv_of(path))
        self.assertEqual([r[2] for r in rows], ["start", "end"])
        info = read_bdf(path)
        m = re.match(r"end of data(; (\d+) samples padded)?$", rows[1][3])
        npad = int(m.group(2) or 0)
        self.assertEqual(info["n_times"], rows[1][0] - rows[0][0] + 1 + npad)
        self.check_values(info, rows[0][0],
                          skip=set(range(info["n_times"] - npad,
                                         info["n_times"])))
        self.assertEqual([t for _, t in info["annotations"]
                          if t.startswith("gap")], [])

    @needs_mne
    def test_sigkill_keeps_complete_records(self):
        """After SIGKILL: every complete second, and events.tsv."""
        path = os.path.join(self.dir, "kill.bdf")
        with Daemon(["--rate", str(RATE), "--channels", str(NCH)]) as d, \
                Eegcat(["--unix", d.sock, "--record", path,
                        "--annotation-signals", str(ANNOT)]) as e:
            wait_for(lambda: recorded_seconds(path) >= 1, 20, "1 s recorded")
            r = run_eegcat(["--unix", d.sock, "--marker", "before the kill"])
            self.assertEqual(r.returncode, 0, r.stderr)
            wait_for(lambda: tsv_has(path, "before the kill"),
                     10, "the marker in events.tsv")
            # Kill 3.6 s after the first sample, whatever is on disk: the
            # first 3 s must be there (EDFlib's stdio buffer is flushed
            # after each data record).
            t0 = read_tsv(tsv_of(path))[0][1]
            wait_for(lambda: time.time() >= t0 + 3.6, 20, "3.6 s to pass")
            e.proc.kill()
            e.proc.wait()
        rows = read_tsv(tsv_of(path))
        self.assertEqual([r[2] for r in rows], ["start", "marker"])
        with open(path, "rb") as f:
            self.assertEqual(f.read(256)[236:244], b"-1      ")
        info = read_bdf(path)
        self.assertGreaterEqual(info["n_times"], 3 * RATE)
        self.assertEqual(info["annotations"], [])
        self.assertTrue(any("does not match" in w for w in info["warnings"]),
                        info["warnings"])
        self.check_values(info, rows[0][0])

    def test_refusals(self):
        with Daemon(["--rate", str(RATE), "--channels", str(NCH)]) as d:
            # 250 / 3 Hz is not a whole number: BDF records are 1 s.
            r = run_eegcat(["--unix", d.sock, "--decimate", "3", "--record",
                            os.path.join(self.dir, "x.bdf")])
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"whole number", r.stderr)
            path = os.path.join(self.dir, "exists.bdf")
            with open(path, "w") as f:
                f.write("keep me")
            r = run_eegcat(["--unix", d.sock, "--record", path])
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"does not overwrite", r.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), "keep me")


class RestartTest(unittest.TestCase):
    def test_daemon_restart_gap(self):
        """The daemon restarts: eegcat reconnects, the recording gets a
        "restart" gap filled by time, and the CSV shows the gap and the
        new run's hello."""
        tmp = tempfile.mkdtemp(prefix="eegcat-restart-")
        sock = os.path.join(tmp, "eegd.sock")
        path = os.path.join(tmp, "restart.bdf")
        args = ["-l", "unix:" + sock, "--rate", str(RATE), "--channels",
                str(NCH)]
        d = Daemon(args, unix=False, tcp=False)
        try:
            with Eegcat(["--unix", sock, "--record", path,
                         "--annotation-signals", str(ANNOT)]) as rec, \
                    Eegcat(["--unix", sock]) as csv:
                wait_for(lambda: recorded_seconds(path) >= 1, 20,
                         "1 s recorded")
                hello1 = csv.wait("out", lambda l: l.startswith("# hello"))
                self.assertEqual(d.stop()[0], 0)
                d.close()
                t_down = time.time()
                d = Daemon(args, unix=False, tcp=False)
                line = rec.wait("err", lambda l: "(restart)" in l, 20,
                                "the restart gap")
                t_up = time.time()
                gap = csv.wait("out", lambda l: l.startswith("# gap"))
                self.assertEqual(parse_kv(gap)[1]["reason"], "restart")
                hello2 = csv.wait("out", lambda l: l.startswith("# hello")
                                  and l != hello1)
                self.assertNotEqual(parse_kv(hello1)[1]["run"],
                                    parse_kv(hello2)[1]["run"])
                wait_for(lambda: recorded_seconds(path) >= 4, 20,
                         "4 s recorded")
                self.assertEqual(rec.stop(), 0)
                self.assertEqual(csv.stop(), 0)
                seqs = [s[0] for s in csv.samples()]
                self.assertIn(0, seqs)   # the new run from its start
            rows = read_tsv(tsv_of(path))
            self.assertEqual([r[2] for r in rows], ["start", "gap", "end"])
            m = re.match(r"gap (\d+) samples \(restart\)$", rows[1][3])
            self.assertTrue(m, rows[1])
            nfill = int(m.group(1))
            # Filled by time: about as long as the daemon was away.
            self.assertGreater(nfill, 0)
            self.assertLess(nfill, (t_up - t_down + 10) * RATE)
            self.assertIn(rows[1][3], line)
            if HAVE_MNE:
                info = read_bdf(path)
                self.assertIn(rows[1][3], [t for _, t in info["annotations"]])
        finally:
            d.close()
            for f in glob.glob(os.path.join(tmp, "*")):
                os.unlink(f)
            os.rmdir(tmp)


if __name__ == "__main__":
    main()
