"""Integration: the MQTT bridge against a real Mosquitto broker."""
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from eegdtest import Daemon, FAST, synthetic_value, wait_for, main

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SUB = shutil.which("mosquitto_sub")
PUB = shutil.which("mosquitto_pub")
HAVE = os.path.exists(MOSQUITTO) and SUB and PUB


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """A private mosquitto on a loopback port, restartable."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="eegd-mqtt-")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            # Stay the current user (as root, mosquitto would switch to
            # "mosquitto" and fail to save its database in our temp dir).
            f.write("user %s\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                    "persistence true\npersistence_location %s/\n"
                    "queue_qos0_messages true\nmax_queued_messages 100000\n"
                    % (pwd.getpwuid(os.getuid()).pw_name, self.port,
                       self.dir))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        wait_for(up, what="mosquitto to listen")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Subscriber(threading.Thread):
    """mosquitto_sub on a topic filter: collects (topic, payload bytes)."""

    def __init__(self, port, topic, persistent_id=None):
        super().__init__(daemon=True)
        cmd = [SUB, "-p", str(port), "-t", topic, "-q", "1", "-F", "%t %x"]
        if persistent_id:
            cmd += ["-c", "-i", persistent_id]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.msgs = []
        self.lock = threading.Lock()
        self.start()

    def run(self):
        for line in self.proc.stdout:
            topic, _, hexdata = line.decode().rstrip("\n").partition(" ")
            with self.lock:
                self.msgs.append((topic, bytes.fromhex(hexdata)))

    def get(self, suffix):
        with self.lock:
            return [p for t, p in self.msgs if t.endswith("/" + suffix)]

    def close(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.proc.stdout.close()


def data_samples(payload):
    """Decode one data payload (binary data frames) to (seq, time, vals)."""
    out = []
    off = 0
    while off < len(payload):
        length, kind = struct.unpack_from("<IB", payload, off)
        body = payload[off + 5:off + 4 + length]
        off += 4 + length
        assert kind == 2, kind
        first, count, step, nch = struct.unpack_from("<QIIH", body)
        times = struct.unpack_from("<%dq" % count, body, 20)
        vals = struct.unpack_from("<%df" % (count * nch), body, 20 + 8 * count)
        for i in range(count):
            out.append((first + i * step, times[i],
                        vals[i * nch:(i + 1) * nch]))
    return out


@unittest.skipIf(not HAVE, "mosquitto not installed")
class MqttTest(unittest.TestCase):
    def setUp(self):
        self.broker = Broker()
        self.addCleanup(self.broker.close)
        self.prefix = "eegd/test%d" % os.getpid()

    def daemon(self, extra="", rate=250):
        conf = ("[mqtt]\nbroker = 127.0.0.1:%d\ntopic_prefix = %s\n"
                "batch_ms = 40\n%s" % (self.broker.port, self.prefix, extra))
        d = Daemon(["--rate", str(rate), "--channels", "4"], config=conf)
        self.addCleanup(d.close)
        d.wait_log("mqtt: connected")
        return d

    def retained(self, name):
        r = subprocess.run([SUB, "-p", str(self.broker.port), "-C", "1",
                            "-W", "5", "-t", "%s/%s" % (self.prefix, name)],
                           capture_output=True, timeout=10)
        return r.stdout.decode().rstrip("\n")

    def test_retained_hello_and_status_and_will(self):
        d = self.daemon()
        hello = json.loads(self.retained("hello"))
        self.assertEqual(hello["class"], "hello")
        self.assertEqual(hello["channels"], 4)
        self.assertEqual(hello["rate"], 250)
        wait_for(lambda: self.retained("status").startswith(
            "board synthetic: streaming"), what="retained status")
        # The last will: an unclean end sets status to offline.
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        wait_for(lambda: self.retained("status") == "offline",
                 what="the last will")

    def test_data_is_continuous_and_exact(self):
        sub = Subscriber(self.broker.port, self.prefix + "/data")
        self.addCleanup(sub.close)
        d = self.daemon(rate=500)
        wait_for(lambda: sum(len(data_samples(p)) for p in sub.get("data"))
                 > 1000, what="1000 samples through the broker")
        samples = [s for p in sub.get("data") for s in data_samples(p)]
        seqs = [s[0] for s in samples]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        for seq, t, vals in samples[::17]:
            for k, v in enumerate(vals, 1):
                self.assertAlmostEqual(v, synthetic_value(1, 500, seq, k),
                                       delta=1e-4)
        st = d.status()
        self.assertTrue(st["mqtt_connected"])
        self.assertGreater(st["mqtt_published"], 0)
        self.assertEqual(st["mqtt_unpublished"], 0)

    def test_json_format(self):
        sub = Subscriber(self.broker.port, self.prefix + "/data")
        self.addCleanup(sub.close)
        self.daemon("mqtt_format = json\n")
        wait_for(lambda: len(sub.get("data")) >= 3, what="JSON batches")
        lines = [json.loads(l) for p in sub.get("data")
                 for l in p.decode().splitlines()]
        seqs = [o["seq"] for o in lines]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        self.assertEqual(lines[0]["class"], "sample")

    def test_marker_from_broker_reaches_clients(self):
        d = self.daemon()
        with d.unix() as c:
            c.readline()
            # Markers are not retained: publish until one gets through
            # (the daemon's subscription may still be on its way).
            def marked():
                subprocess.run([PUB, "-p", str(self.broker.port), "-t",
                                self.prefix + "/marker", "-m", "via broker"],
                               timeout=5)
                try:
                    return c.wait_line(lambda l: l.startswith("# marker"),
                                       timeout=0.5)
                except AssertionError:
                    return None
            line = wait_for(marked, what="the marker")
            self.assertTrue(line.endswith("text=via broker"), line)

    @unittest.skipIf(FAST, "real-time test: plain build only")
    def test_broker_restart_exact_gap(self):
        # A persistent QoS 1 subscriber keeps its session across the
        # broker's restart (persistence on), so it sees everything.
        sub = Subscriber(self.broker.port, self.prefix + "/#",
                         persistent_id="eegd-test-sub")
        self.addCleanup(sub.close)
        d = self.daemon("qos = 1\n", rate=250)
        local = d.unix()
        self.addCleanup(local.close)
        wait_for(lambda: len(sub.get("data")) >= 5, what="data")
        self.broker.stop()
        d.wait_log("mqtt: disconnected")
        # Local clients are unaffected while the broker is away.
        first = int(local.wait_line(lambda l: not l.startswith("#"))
                    .split(",")[0])
        seqs = [first] + [int(local.readline().split(",")[0])
                          for _ in range(250)]
        self.assertEqual(seqs, list(range(first, first + 251)))
        self.broker.start()
        wait_for(lambda: d.status()["mqtt_connected"], timeout=15,
                 what="reconnection")
        wait_for(lambda: any(b'"reason":"mqtt"' in p
                             for p in sub.get("events")), timeout=15,
                 what="the gap event")
        gap = next(json.loads(p) for p in sub.get("events")
                   if b'"reason":"mqtt"' in p)
        wait_for(lambda: any(s[0] >= gap["seq"] + gap["count"]
                             for p in sub.get("data")
                             for s in data_samples(p)), what="data again")
        samples = sorted({s[0] for p in sub.get("data")
                          for s in data_samples(p)})
        missing = [x for x in range(samples[0], samples[-1] + 1)
                   if x not in set(samples)]
        # Exactly the announced samples are missing, and status agrees.
        self.assertEqual(missing, list(range(gap["seq"],
                                             gap["seq"] + gap["count"])))
        self.assertEqual(d.status()["mqtt_unpublished"], gap["count"])
        self.assertEqual(d.status()["mqtt_reconnects"], 1)


@unittest.skipIf(not HAVE, "mosquitto not installed")
class EegcatMqttTest(unittest.TestCase):
    def test_eegcat_through_the_broker(self):
        broker = Broker()
        self.addCleanup(broker.close)
        prefix = "eegd/cat%d" % os.getpid()
        conf = ("[mqtt]\nbroker = 127.0.0.1:%d\ntopic_prefix = %s\n"
                % (broker.port, prefix))
        d = Daemon(["--rate", "250", "--channels", "3"], config=conf)
        self.addCleanup(d.close)
        d.wait_log("mqtt: connected")
        eegcat = os.environ.get("EEGCAT", os.path.join(
            os.path.dirname(os.environ.get("EEGD", "")), "eegcat"))
        r = subprocess.run([eegcat, "--mqtt", "127.0.0.1:%d" % broker.port,
                            "--topic", prefix, "--count", "300"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("# hello"), lines[0])
        self.assertIn("channels=3", lines[0])
        self.assertEqual(lines[1], "# seq,time,ch1,ch2,ch3")
        rows = [l.split(",") for l in lines[2:] if not l.startswith("#")]
        self.assertEqual(len(rows), 300)
        seqs = [int(x[0]) for x in rows]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 300)))
        for row in rows[::29]:
            for k in (1, 2, 3):
                self.assertAlmostEqual(
                    float(row[k + 1]),
                    synthetic_value(1, 250, int(row[0]), k), delta=2e-4)

    def test_eegcat_mqtt_usage(self):
        eegcat = os.environ.get("EEGCAT", os.path.join(
            os.path.dirname(os.environ.get("EEGD", "")), "eegcat"))
        r = subprocess.run([eegcat, "--mqtt", "127.0.0.1:1", "--channels",
                            "1"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 64)


@unittest.skipIf(not HAVE, "mosquitto not installed")
class MqttConfigTest(unittest.TestCase):
    def test_bad_values(self):
        from eegdtest import EEGD
        for text in ("[mqtt]\nqos = 3\n", "[mqtt]\nbroker = nowhere\n",
                     "[mqtt]\ntopic_prefix = a/#\n", "[mqtt]\nflavour = x\n"):
            with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
                f.write(text)
                f.flush()
                r = subprocess.run([EEGD, "-t", "-c", f.name],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 78, text)
                self.assertIn(f.name + ":2:", r.stderr)


if __name__ == "__main__":
    main()
