"""Integration: units, socket activation and the sd_notify protocol."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from eegdtest import EEGD, SRCDIR, Client, Daemon, wait_for, main

BUILDDIR = os.environ.get("EEGD_BUILDDIR", os.path.join(SRCDIR))
ANALYZE = shutil.which("systemd-analyze")
ACTIVATE = shutil.which("systemd-socket-activate")


def unit_dir():
    """Copy the built units into a temp dir, ExecStart at the built binary."""
    d = tempfile.mkdtemp(prefix="eegd-units-")
    for name in ("eegd.service", "eegd@.service"):
        with open(os.path.join(BUILDDIR, "systemd", name)) as f:
            text = f.read()
        text = re.sub(r"ExecStart=\S+", "ExecStart=" + os.path.abspath(EEGD),
                      text)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    for name in ("eegd.socket", "eegd@.socket"):
        shutil.copy(os.path.join(SRCDIR, "systemd", name), d)
    return d


@unittest.skipIf(ANALYZE is None, "systemd-analyze not installed")
class UnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = unit_dir()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def analyze(self, *args):
        return subprocess.run([ANALYZE] + list(args), cwd=self.dir,
                              capture_output=True, text=True, timeout=60)

    def test_verify_clean(self):
        for units in (["./eegd.service", "./eegd.socket"],
                      ["./eegd@rig1.service", "./eegd@rig1.socket"]):
            r = self.analyze("verify", "--man=no", *units)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout + r.stderr, "")

    def test_security_score(self):
        for unit in ("./eegd.service", "./eegd@rig1.service"):
            r = self.analyze("security", "--offline=yes", unit)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)",
                          r.stdout + r.stderr)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)

    def test_required_settings(self):
        with open(os.path.join(self.dir, "eegd.service")) as f:
            text = f.read()
        for want in ("Type=notify", "WatchdogSec=", "Restart=on-failure",
                     "RuntimeDirectory=eegd\n", "RuntimeDirectoryPreserve=yes",
                     "SupplementaryGroups=dialout", "CapabilityBoundingSet=\n",
                     "SystemCallFilter=@system-service", "DevicePolicy=closed",
                     "MemoryDenyWriteExecute=yes", "ProtectSystem=strict"):
            self.assertIn(want, text)
        with open(os.path.join(self.dir, "eegd@.service")) as f:
            self.assertIn("RuntimeDirectory=eegd/%i\n", f.read())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipIf(ACTIVATE is None, "systemd-socket-activate not installed")
class SocketActivationTest(unittest.TestCase):
    def activate(self, fdname):
        tmp = tempfile.mkdtemp(prefix="eegd-sa-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "act.sock")
        port = free_port()
        conf = os.path.join(tmp, "eegd.conf")
        with open(conf, "w") as f:
            # Listen lines are ignored when sockets are passed in.
            f.write("[daemon]\nlisten = unix:%s/unused.sock\n" % tmp)
        cmd = [ACTIVATE, "-l", path, "-l", "127.0.0.1:%d" % port]
        if fdname:
            cmd.append("--fdname=" + fdname)
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if var in os.environ:
                cmd += ["-E", var]
        cmd += [EEGD, "-c", conf, "--rate", "500"]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        wait_for(lambda: os.path.exists(path), what="the activation socket")
        return p, path, port, tmp

    def check_flow(self, client):
        with client as c:
            self.assertTrue(c.readline(timeout=15).startswith("# hello"))
            self.assertTrue(c.readline().startswith("# seq,time"))
            seqs = []
            while len(seqs) < 100:
                line = c.readline()
                if not line.startswith("#"):  # a board event may come first
                    seqs.append(int(line.split(",")[0]))
            self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 100)))

    def run_case(self, fdname):
        p, path, port, tmp = self.activate(fdname)
        # The first connection starts eegd, which adopts both fds.
        self.check_flow(Client.unix(path, timeout=15))
        self.check_flow(Client.tcp("127.0.0.1", port, timeout=15))
        self.assertFalse(os.path.exists(os.path.join(tmp, "unused.sock")))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10), 0)
        err = p.stderr.read().decode()
        p.stderr.close()
        self.assertIn("socket activation: adopting", err)
        self.assertIn("ignoring the 1 configured listen", err)

    def test_named_fds(self):
        self.run_case("eegd:eegd")

    def test_unnamed_fds(self):
        self.run_case(None)


class Notifications:
    """A test-owned NOTIFY_SOCKET that collects sd_notify datagrams."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="eegd-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.s.settimeout(0.05)
        self.msgs = []

    def poll(self):
        while True:
            try:
                data = self.s.recv(4096)
            except (socket.timeout, BlockingIOError):
                return
            self.msgs.append((time.monotonic(), data.decode()))

    def wait(self, text, timeout=10, since=0.0):
        def seen():
            self.poll()
            return [m for t, m in self.msgs if t >= since and text in m]
        return wait_for(seen, timeout, "notification " + text)

    def close(self):
        self.s.close()
        shutil.rmtree(self.dir)


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.n = Notifications()
        self.addCleanup(self.n.close)

    def test_lifecycle_messages(self):
        env = {"NOTIFY_SOCKET": self.n.path, "WATCHDOG_USEC": "200000"}
        with Daemon(["--rate", "250"], env=env) as d:
            ready = self.n.wait("READY=1")[0]
            self.assertIn("STATUS=board synthetic", ready)
            self.assertGreaterEqual(len(self.n.wait("WATCHDOG=1")), 1)
            t = time.monotonic()
            wait_for(lambda: len(self.n.wait("WATCHDOG=1", since=t)) >= 5,
                     what="regular watchdog pings")
            # A client connects: STATUS follows within about a second.
            c = d.unix()
            st = self.n.wait("1 clients", timeout=5)
            self.assertTrue(st[0].startswith("STATUS="), st)
            t = time.monotonic()
            d.proc.send_signal(signal.SIGHUP)
            rel = self.n.wait("RELOADING=1", since=t)[0]
            self.assertRegex(rel, r"MONOTONIC_USEC=\d+")
            self.n.wait("READY=1", since=t)
            t = time.monotonic()
            rc, _ = d.stop()
            self.assertEqual(rc, 0)
            self.n.wait("STOPPING=1", since=t)
            c.close()

    def test_hung_reader_stops_the_watchdog(self):
        env = {"NOTIFY_SOCKET": self.n.path, "WATCHDOG_USEC": "200000",
               "EEGD_TEST_HANG_READER": "100"}
        with Daemon(["--rate", "250"], env=env) as d:
            self.n.wait("WATCHDOG=1")
            d.wait_log("test hook: the reader thread hangs now")
            self.n.poll()
            before = len(self.n.msgs)
            t = time.monotonic()
            # The loop is alive (it logs the missed progress) ...
            d.wait_log("watchdog: the reader thread made no progress")
            wait_for(lambda: time.monotonic() > t + 1.0, what="1 s")
            self.n.poll()
            pings = [m for m in self.n.msgs[before:] if "WATCHDOG=1" in m]
            # ... but it stops pinging (one ping may have been in flight
            # when the hang began); 1 s is ten ping intervals.
            self.assertLessEqual(len(pings), 1, pings)
            self.assertEqual(d.stop()[0], 0)

    def test_no_notify_socket_is_quiet(self):
        with Daemon(["--rate", "100"]) as d:
            with d.unix() as c:
                self.assertTrue(c.readline().startswith("# hello"))
            self.assertNotIn("watchdog", d.log_text())


if __name__ == "__main__":
    main()
