"""Benchmark (not a test): provision N agents (default 100) against the
fakes, then run again. Prints `bench <name>: <figure>` lines:

    /usr/bin/python3 tests/integration/bench_provision.py [N]

Wall time is dominated by the fake homeserver (Python, one thread per
connection); the CPU time of lettamx itself is printed next to it, and
the fake's own time per request as seen by a Python client for scale.
"""

import http.client
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("LETTAMX_BIN", os.path.join(
    HERE, "..", "..", "build", "x86_64", "lettamx"))

import lettamx  # noqa: E402
from test_provision import Env  # noqa: E402


class Quiet:
    def assertEqual(self, a, b, msg=None):
        if a != b:
            raise AssertionError(msg)

    def fail(self, msg):
        raise AssertionError(msg)


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(env, *args):
    c0, t0 = cpu(), time.monotonic()
    res = lettamx.run(["provision"] + list(args), env.conf, timeout=600)
    if res.returncode != 0:
        raise SystemExit(res.stdout + res.stderr)
    return time.monotonic() - t0, cpu() - c0


def fake_baseline(env, n=50):
    token = env.hs.human_register("bench")["access_token"]
    conn = http.client.HTTPConnection(env.hs.host, env.hs.port)
    path = "/_matrix/client/v3/profile/%40bench%3Alocalhost/displayname"
    hdr = {"Authorization": "Bearer " + token,
           "Content-Type": "application/json"}
    t0 = time.monotonic()
    for _ in range(n):
        conn.request("PUT", path, json.dumps({"displayname": "b"}), hdr)
        conn.getresponse().read()
    return (time.monotonic() - t0) / n * 1000


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    env = Env(Quiet())
    try:
        env.agents(n)
        wall, cpu_s = timed(env)
        log = env.hs.requests()
        writes = sum(1 for e in log if e["method"] != "GET")
        print("bench provision_%d: %.2f s wall, %.2f s lettamx CPU, %d Matrix "
              "requests (%d writes), %d Letta requests (plan + run)"
              % (n, wall, cpu_s, len(log), writes,
                 len(env.letta.requests())))
        seq, lreq = env.last_seq(), len(env.letta.requests())
        wall, cpu_s = timed(env)
        print("bench provision_%d_again: %.2f s wall, %.2f s CPU, %d Matrix "
              "requests, %d Letta requests"
              % (n, wall, cpu_s, len(env.hs.requests(since=seq)),
                 len(env.letta.requests()) - lreq))
        print("bench fake_homeserver_put: %.1f ms per request from a Python "
              "client (the fake's floor)" % fake_baseline(env))
    finally:
        env.close()


if __name__ == "__main__":
    main()
