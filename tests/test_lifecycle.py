"""Integration: start-up, signals, reload, config checking, sockets."""
import os
import signal
import socket
import subprocess
import tempfile
import unittest

from eegdtest import EEGD, Client, Daemon, FAST, wait_for, main


def run(args, timeout=10):
    return subprocess.run([EEGD] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


class ShutdownTest(unittest.TestCase):
    def check_exit(self, sig):
        with Daemon(["--rate", "1000", "--channels", "32"]) as d:
            readers = [d.unix() for _ in range(5)]
            stalled = []
            for _ in range(3):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(d.sock)
                stalled.append(s)
            for r in readers:
                r.readline()
            wait_for(lambda: d.status()["clients"] >= 9, what="clients")
            rc, took = d.stop(sig)
            self.assertEqual(rc, 0)
            if not FAST:
                self.assertLess(took, 1.0)
            self.assertFalse(os.path.exists(d.sock), "socket file left behind")
            self.assertIn("stopped", d.log_text())
            for c in readers:
                c.close()
            for s in stalled:
                s.close()

    def test_sigterm_within_one_second(self):
        self.check_exit(signal.SIGTERM)

    def test_sigint_within_one_second(self):
        self.check_exit(signal.SIGINT)


class ConfigCheckTest(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".conf")
        os.write(fd, text.encode())
        os.close(fd)
        self.addCleanup(os.unlink, path)
        return path

    def test_valid(self):
        path = self.write("[daemon]\nlisten = unix:/tmp/x.sock\n"
                          "max_clients = 10\n[board]\nrate = 500\n")
        r = run(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_shipped_config_is_valid(self):
        path = os.path.join(os.environ.get("EEGD_SRCDIR", "."), "etc",
                            "eegd.conf")
        r = run(["--test-config", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_invalid(self):
        cases = [
            ("[daemon]\n\nmax_clients = lots\n", ":3: bad value 'lots' for max_clients"),
            ("[board]\nrate = 250\ncolour = red\n", ":3: unknown key 'colour' in [board]"),
            ("[nope]\n", ":1: unknown section [nope]"),
            ("rate = 5\n", ":1: key 'rate' outside any section"),
            ("[daemon]\nlisten = udp:1.2.3.4:5\n", ":2: bad listen address"),
        ]
        for text, want in cases:
            path = self.write(text)
            r = run(["-t", "-c", path])
            self.assertEqual(r.returncode, 78, text)
            self.assertIn(path + want, r.stderr)

    def test_missing_explicit_file(self):
        r = run(["-t", "-c", "/nonexistent/eegd.conf"])
        self.assertEqual(r.returncode, 78)
        self.assertIn("/nonexistent/eegd.conf", r.stderr)

    def test_bad_flag_value(self):
        r = run(["-t", "-c", "/dev/null", "--rate", "0"])
        self.assertEqual(r.returncode, 78)
        r = run(["--no-such-flag"])
        self.assertEqual(r.returncode, 64)

    def test_version_and_help(self):
        r = run(["-V"])
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("eegd "))
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("--listen", r.stdout)


class ReloadTest(unittest.TestCase):
    def test_sighup_applies_and_keeps_clients(self):
        with Daemon(["--rate", "500"], config="[daemon]\nlog_level = notice\n") as d:
            c = d.unix()
            c.readline()
            c.readline()
            first = int(c.readline().split(",")[0])
            with open(d.conf, "w") as f:
                f.write("[daemon]\nlog_level = debug\nmax_clients = 7\n")
            n = len(d.lines)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log("reloaded", start=n)
            # The new level is in force: a connection is now logged.
            d.unix().close()
            d.wait_log("connected", start=n)
            # A broken file is refused and the old config stays.
            with open(d.conf, "w") as f:
                f.write("[daemon]\nmax_clients = -1\n")
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log("reload failed", start=n)
            self.assertIsNone(d.proc.poll())
            # The first client saw no interruption.
            seqs = [first] + [int(c.readline().split(",")[0]) for _ in range(300)]
            self.assertEqual(seqs, list(range(first, first + 301)))
            c.close()
            self.assertEqual(d.stop()[0], 0)


class SocketTest(unittest.TestCase):
    def test_stale_socket_is_replaced(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.close()  # leaves a dead socket file behind
            with Daemon(["-l", "unix:" + path], unix=False, tcp=False) as d:
                d.wait_log("removing stale socket")
                with Client.unix(path) as c:
                    self.assertTrue(c.readline().startswith("# hello"))
                mode = os.stat(path).st_mode & 0o777
                self.assertEqual(mode, 0o660)

    def test_never_removes_a_regular_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notes.txt")
            with open(path, "w") as f:
                f.write("precious\n")
            r = run(["-c", "/dev/null", "-l", "unix:" + path])
            self.assertEqual(r.returncode, 1)
            self.assertIn("exists and is not a socket", r.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), "precious\n")

    def test_second_daemon_refuses_live_socket(self):
        with Daemon(tcp=False) as d:
            r = run(["-c", d.conf, "-l", "unix:" + d.sock])
            self.assertEqual(r.returncode, 1)
            self.assertIn("another eegd is already listening", r.stderr)
            # The first one still serves.
            with d.unix() as c:
                self.assertTrue(c.readline().startswith("# hello"))

    def test_port_zero_is_logged(self):
        with Daemon(unix=False) as d:
            self.assertGreater(d.port, 0)
            with d.tcp() as c:
                self.assertTrue(c.readline().startswith("# hello"))

    def test_non_loopback_warns(self):
        with Daemon(["-l", "tcp:0.0.0.0:0"], unix=False, tcp=False) as d:
            d.wait_log("non-loopback address 0.0.0.0")


if __name__ == "__main__":
    main()
