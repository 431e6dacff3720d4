"""Man pages: mandoc lint is clean, and the pages name what the code has.

Lints man/eegd.8, man/eegd.conf.5, man/eegd-protocol.7 and man/eegcat.1
with `mandoc -T lint -W warning` (skipped when mandoc is not installed),
then checks cheaply that every long option of `eegd --help` is in eegd(8),
every key the config parser accepts is in eegd.conf(5), and every command,
gap reason and status field is in eegd-protocol(7).
"""
import os
import re
import shutil
import subprocess
import unittest

from eegdtest import EEGD, SRCDIR, main

MAN = os.path.join(SRCDIR, "man")
PAGES = ["eegd.8", "eegd.conf.5", "eegd-protocol.7", "eegcat.1"]


def read(*parts):
    with open(os.path.join(SRCDIR, *parts), encoding="utf-8") as f:
        return f.read()


def page(name):
    """The page's mdoc source, with \\- written as a plain hyphen."""
    return read("man", name).replace("\\-", "-")


def c_function(src, name):
    """The body of the C function `name` in src (from its name to the
    closing brace at the start of a line)."""
    m = re.search(r"^%s\(.*?^\}" % re.escape(name), src, re.S | re.M)
    if m is None:
        raise AssertionError("function %s not found" % name)
    return m.group(0)


class LintTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("mandoc") is None:
            self.skipTest("mandoc is not installed")

    def lint(self, name):
        path = os.path.join(MAN, name)
        if not os.path.exists(path):
            self.skipTest("%s does not exist yet" % name)
        r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", path],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.stdout + r.stderr, "",
                         "mandoc -T lint -W warning %s" % name)

    def test_eegd_8(self):
        self.lint("eegd.8")

    def test_eegd_conf_5(self):
        self.lint("eegd.conf.5")

    def test_eegd_protocol_7(self):
        self.lint("eegd-protocol.7")

    def test_eegcat_1(self):
        self.lint("eegcat.1")


class ConsistencyTest(unittest.TestCase):
    def test_long_options_in_eegd_8(self):
        r = subprocess.run([EEGD, "--help"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        opts = set(re.findall(r"--([a-z][a-z-]*)", r.stdout))
        self.assertGreaterEqual(len(opts), 8, r.stdout)
        src = page("eegd.8")
        missing = sorted(o for o in opts
                         if not re.search(r"Fl -%s\b" % re.escape(o), src))
        self.assertEqual(missing, [], "long options missing from eegd.8")

    def test_config_keys_in_eegd_conf_5(self):
        config_c = read("src", "config.c")
        keys = {}
        for section in ("daemon", "board", "mqtt"):
            body = c_function(config_c, "config_set_" + section)
            keys[section] = set(re.findall(r'strcmp\(key, "(\w+)"\)', body))
            self.assertTrue(keys[section], "no keys found for [%s]" % section)
        self.assertGreaterEqual(sum(len(k) for k in keys.values()), 20)
        # The example config must not name a key the parser lacks.
        example = set(re.findall(r"^;?\s*(\w+)\s*=", read("etc", "eegd.conf"),
                                 re.M))
        self.assertLessEqual(example, set().union(*keys.values()))
        src = page("eegd.conf.5")
        for section, names in keys.items():
            self.assertIn(".Ss The [%s] section" % section, src)
            missing = sorted(k for k in names
                             if not re.search(r"(?m)^\.It .*\bCm %s\b" % k,
                                              src))
            self.assertEqual(missing, [],
                             "[%s] keys missing from eegd.conf.5" % section)

    def test_commands_in_eegd_protocol_7(self):
        table = re.search(r"command_names\[\] = \{(.*?)\};",
                          read("src", "command.c"), re.S)
        self.assertIsNotNone(table, "command_names not found")
        names = [n for n in re.findall(r'\] = "(\w*)"', table.group(1)) if n]
        self.assertGreaterEqual(len(names), 13)
        src = page("eegd-protocol.7")
        missing = [n for n in names
                   if not re.search(r"^\.It Cm %s\b" % n, src, re.M)]
        self.assertEqual(missing, [], "commands missing from eegd-protocol.7")

    def test_events_in_eegd_protocol_7(self):
        src = page("eegd-protocol.7")
        reasons = re.findall(r'\] = "(\w+)"', read("src", "sample.c"))
        self.assertIn("ring_overflow", reasons)
        mqtt_c = os.path.join(SRCDIR, "src", "mqtt.c")
        if os.path.exists(mqtt_c):
            reasons += re.findall(r'\\"reason\\":\\"(\w+)\\"', read("src",
                                                                 "mqtt.c"))
        missing = [r for r in reasons
                   if not re.search(r"^\.It Cm %s\b" % r, src, re.M)]
        self.assertEqual(missing, [], "gap reasons missing")
        status = c_function(read("src", "hub.c"), "hub_status_msg")
        fields = re.findall(r'encode_add_\w+\(ev, "(\w+)"', status)
        self.assertGreaterEqual(len(fields), 20)
        missing = [f for f in fields
                   if not re.search(r"^\.It Va %s\b" % f, src, re.M)]
        self.assertEqual(missing, [], "status fields missing")
        for cls in ("hello", "sample", "gap", "status", "ok", "error", "help",
                    "board", "marker"):
            self.assertRegex(src, r"(?m)^\.It Cm %s$" % cls)


if __name__ == "__main__":
    main()
