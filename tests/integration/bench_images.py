"""Benchmark (not a test): the memory pictures take (issue 21). Prints
`bench <name>: <figure>` lines.

    /usr/bin/python3 tests/integration/bench_images.py [PICTURES] [ROOMS]
        [--letta rest|app-server|both]

PICTURES (default 100) pictures of 5 MB (real PNGs of 4,993,xxx bytes,
each one different) are put into the fake homeserver's media repository,
then alice sends them all at once as m.image events, spread over ROOMS
agent rooms (default 20), against a running `lettamx run` with the
default [bridge] image_max_bytes (5MB) and image_memory (32MiB); the
agents are instant echo agents of the fake Letta (REST) or the fake App
Server. Then:

  peak RSS     lettamx's VmHWM once every picture is answered, beside
               its idle VmRSS before the first picture and the issue's
               bound: idle + image_memory + 4 MiB;
  delivered    pictures whose bytes reached their agent (the fake's
               record of each picture: its sha256) out of PICTURES;
  time         from the first send to the last answer.
"""

import hashlib
import os
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import Quiet  # noqa: E402

from bridge_env import BridgeEnv  # noqa: E402
from fakes import FakeAppServer  # noqa: E402

CAP_KIB = 32 * 1024             # [bridge] image_memory's default
SLACK_KIB = 4 * 1024


def png_5mb(seed):
    """A real 1290 x 1290 RGB PNG, stored: 4,993,xxx bytes (under the
    5,000,000 of image_max_bytes' default), its pixels from seed."""
    side = 1290

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    row = b"\0" + bytes((seed * 7 + i) % 251 for i in range(3 * side))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * side, 0)) +
            chunk(b"IEND", b""))


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def run(api, pictures, rooms):
    kw = {}
    if api == "app-server":
        kw = {"letta": FakeAppServer().start(),
              "conf": {"letta": {"api": "app-server"}}}
    env = BridgeEnv(Quiet(), n=rooms, **kw)
    try:
        data = [png_5mb(i) for i in range(pictures)]
        assert all(len(d) <= 5_000_000 for d in data)
        ups = [env.hs.media_put(d, "image/png", uploader=env.uid("alice"),
                                filename="p%d.png" % i)
               for i, d in enumerate(data)]
        time.sleep(2.0)         # the first sync's work is over
        pid = env.d.proc.pid
        idle = status_kib(pid, "VmRSS")
        idle_hwm = status_kib(pid, "VmHWM")
        asked = []
        t0 = time.monotonic()
        for i, (d, up) in enumerate(zip(data, ups)):
            a = env.ids[i % rooms]
            q = env.say(a, "p%d.png" % i, msgtype="m.image",
                        url=up["content_uri"],
                        info={"mimetype": "image/png", "size": len(d)})
            asked.append((a, q, hashlib.sha256(d).hexdigest()))
        deadline = time.monotonic() + 600
        left = list(asked)
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = [x for x in left if not env.answers(x[0], x[1])]
        took = time.monotonic() - t0
        peak = status_kib(pid, "VmHWM")
        got = set()
        for a in env.ids:
            for g in env.letta.images(a):
                got.add((a, g["sha256"]))
        delivered = sum(1 for a, _, h in asked if (a, h) in got)
        waits = env.d.output().count("event=image_waits")
        return idle, idle_hwm, peak, delivered, took, waits
    finally:
        env.close()


def main(argv):
    pictures, rooms, apis = 100, 20, ["rest", "app-server"]
    args = list(argv)
    if "--letta" in args:
        k = args.index("--letta")
        choice = args[k + 1]
        apis = ["rest", "app-server"] if choice == "both" else [choice]
        del args[k:k + 2]
    if args:
        pictures = int(args[0])
    if len(args) > 1:
        rooms = int(args[1])
    for api in apis:
        name = "images_%s_%dx5MB" % ("rest" if api == "rest" else "app",
                                     pictures)
        try:
            idle, idle_hwm, peak, delivered, took, waits = run(
                api, pictures, rooms)
        except Exception as e:  # noqa: BLE001 - a bench reports, goes on
            print("bench %s: not measured (%s)" % (name, str(e)[:300]))
            continue
        bound = idle + CAP_KIB + SLACK_KIB
        print("bench %s_peak_rss: %d KiB peak (idle %d KiB, peak before "
              "the pictures %d KiB; bound idle + image_memory 32 MiB + "
              "4 MiB = %d KiB: %s)" % (name, peak, idle, idle_hwm, bound,
                                       "met" if peak <= bound else
                                       "NOT met"))
        print("bench %s_delivered: %d of %d pictures reached their agent "
              "byte for byte in %.1f s (%.2f pictures/s; turns that waited "
              "for picture memory: %d)" % (name, delivered, pictures, took,
                                           pictures / took, waits))


if __name__ == "__main__":
    main(sys.argv[1:])
