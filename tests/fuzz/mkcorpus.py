#!/usr/bin/env python3
"""Write the fuzzers' seed corpora under tests/fuzz/corpus/<target>/.

Run from anywhere; the output is committed, so this only needs running
again when the seeds change.  The Cyton seeds start with the 4-byte
harness header (fuzz_cyton_parse.c): largest chunk - 1, action density,
seed (2 bytes).
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def counts(i, k):
    return ((i * 40503 + k * 1000003) % 16777213) - 8388606


def packet(i, counter, footer=0xC0, aux=b"\0" * 6):
    b = bytearray([0xA0, counter & 0xFF])
    for k in range(1, 9):
        b += (counts(i, k) & 0xFFFFFF).to_bytes(3, "big")
    b += aux
    b.append(footer)
    return bytes(b)


def accel(i):
    if i % 10 != 9:
        return b"\0" * 6
    v = (100 + (i // 10) % 1000, -(200 + (i // 10) % 1000), 8000)
    return b"".join(x.to_bytes(2, "big", signed=True) for x in v)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def cyton():
    hdr = bytes([32, 0, 0, 1])          # whole packets, no actions
    s = b"".join(packet(i, i, aux=accel(i)) for i in range(24))
    write("cyton_parse", "valid_24", hdr + s)
    # Counter wrap, a loss of 10, a loss of a whole turn's worth of time.
    s = b"".join(packet(i, i) for i in range(250, 262))
    s += b"".join(packet(i, i) for i in range(272, 280))
    write("cyton_parse", "wrap_and_loss", hdr + s)
    # Garbage before and between packets (never 0xA0), then resync.
    g = bytes((7 * j + 3) % 0xA0 for j in range(17))
    s = g + packet(0, 0) + packet(1, 1) + g[:5] + packet(2, 2) + \
        packet(3, 3) + packet(4, 4) + g + packet(5, 5) + packet(6, 6)
    write("cyton_parse", "garbage", hdr + s)
    # A bad footer and a false 0xA0 inside garbage.
    s = packet(0, 0) + packet(1, 1)[:-1] + b"\x00" + packet(2, 2) + \
        b"\xA0\x03\x01" + packet(3, 3) + packet(4, 4) + packet(5, 5)
    write("cyton_parse", "bad_footer", hdr + s)
    # Other footers: C1 (digital), C3/C4 (accel per axis), C5, CF.
    s = b"".join(packet(i, i, footer=f, aux=bytes(range(i, i + 6)))
                 for i, f in enumerate([0xC1, 0xC3, 0xC4, 0xC3, 0xC4, 0xC3,
                                        0xC4, 0xC3, 0xC4, 0xC3, 0xC5, 0xCF,
                                        0xC0]))
    write("cyton_parse", "footers", hdr + s)
    # Daisy-like: 0..31, with the odd/even pairing broken once.
    s = b"".join(packet(i, i) for i in range(32) if i != 11)
    write("cyton_parse", "daisy_missing_half", hdr + s)
    # Byte by byte with actions (restarts, commands, clock steps) enabled.
    s = b"".join(packet(i, i) for i in range(20)) + \
        b"".join(packet(i, i - 20) for i in range(20, 40))
    write("cyton_parse", "bytewise_actions", bytes([0, 24, 0x12, 0x34]) + s)
    # Exact-accounting scripts (byte 1 = 0xFF): packets (op 0/1), drops
    # (op 2: (b >> 2) % 8 + 1, or 300 for b >> 2 = 63), garbage (op 3).
    write("cyton_parse", "exact_mixed", bytes([32, 0xFF, 0, 7]) +
          bytes([0, 0, 0, 1, 2 | 4 << 2, 0, 0, 3 | 9 << 2, 0, 0,
                 2 | 1 << 2, 3 | 2 << 2, 0, 0, 0, 2 | 63 << 2, 0, 0, 0]))
    write("cyton_parse", "exact_bytewise", bytes([0, 0xFF, 1, 2]) +
          bytes([0, 0, 3, 0, 2, 0, 0, 3 | 5 << 2, 2 | 7 << 2, 0, 0]))
    write("cyton_parse", "x_commands",
          bytes([40, 200, 0x55, 0xAA]) + b"x1060110Xx2160110XdQ!0-" +
          b"".join(packet(i, i) for i in range(8)))


def command():
    for i, line in enumerate([
            b"format json", b"format binary", b"status\r", b"hello 1",
            b"channels 1,3,5-8", b"channels Fp1,O2,ch16", b"channels all",
            b"decimate 4", b"since 123 deadbeef01234567", b"history 2.5",
            "marker st\u00e4rt \u2713 \U0001F600".encode(), b"pause",
            b"resume", b"board x1060110X", b"board `a", b"quit", b"help",
            b"marker \xed\xa0\x80", b"marker \xc2\x85"]):
        write("command", "cmd_%02d" % i, line)


def config():
    src = os.path.join(HERE, "..", "..")
    for name, path in [("good", "tests/data/good.conf"),
                       ("shipped", "etc/eegd.conf")]:
        with open(os.path.join(src, path), "rb") as f:
            write("config", name, f.read())
    write("config", "small",
          b"[daemon]\nlisten = unix:/tmp/x.sock\nlisten = tcp:[::1]:0\n"
          b"max_clients = 500\nclient_max_buffer = 64K\n"
          b"[board]\ntype = cyton\ndevice = /dev/ttyUSB0\ngain = 24\n")
    write("config", "errors", b"[daemon]\n  max_clients = lots\n[nope]\n")
    write("config", "overrides",
          b"\0daemon\0listen\0tcp:[::1]:7447\0board\0gain\0 24, 12,8\0"
          b"board\0seed\018446744073709551615")


if __name__ == "__main__":
    cyton()
    command()
    config()
