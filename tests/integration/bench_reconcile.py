"""Benchmark (not a test): reconcile after a lost store with N agent
rooms (default 1,000) against the fakes. Prints `bench <name>: <figure>`
lines: reconcile's wall time, its requests, the /sync answer's size and
lettamx's own peak RSS (wait4 on that one process, not the fakes).

    /usr/bin/python3 tests/integration/bench_reconcile.py [N]

The rooms are made by lettamx provision (the real marker, Space link and
memberships), then the store is deleted and `lettamx reconcile --json`
is timed.
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import HERE, Quiet  # noqa: E402,F401

import lettamx  # noqa: E402
from test_provision import Env  # noqa: E402



def measured(args, conf):
    """(stdout, wall s, peak RSS KiB, exit status, CPU s) of one run.

    The peak comes from /usr/bin/time (GNU time's %M of its child): a
    child forked straight from this Python process would report the
    parent's pages it held before exec."""
    cmd = [lettamx.binary(), "--config", conf] + args
    rss_file = os.path.join(os.path.dirname(conf), "rss")
    if not os.access("/usr/bin/time", os.X_OK):
        raise SystemExit("bench reconcile: /usr/bin/time (GNU time) is "
                         "needed to read lettamx's own peak RSS")
    t0 = time.monotonic()
    res = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o",
                          rss_file]
                         + cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    with open(rss_file) as f:
        rss, user, system = f.read().split()[-3:]
    return (res.stdout, wall, int(rss), res.returncode,
            float(user) + float(system))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    env = Env(Quiet())
    try:
        env.agents(n)
        res = lettamx.run(["provision"], env.conf, timeout=1800)
        if res.returncode != 0:
            raise SystemExit(res.stdout + res.stderr)
        shutil.rmtree(os.path.join(env.work, "store"))
        seq = env.last_seq()
        out, wall, rss, code, cpu = measured(["reconcile", "--json"],
                                             env.conf)
        if code != 0:
            raise SystemExit("reconcile failed: %r" % out)
        rep = json.loads(out)
        if rep["restored"] != n:
            raise SystemExit("restored %d of %d" % (rep["restored"], n))
        log = env.hs.requests(since=seq)
        sync = [e for e in log if "/sync" in e["path"]]
        print("bench reconcile_%d: %.2f s wall (%d ms by its own clock, "
              "%.2f s lettamx CPU; the rest is the Python fake building "
              "the /sync), %d requests (%d /sync), %d mappings restored, "
              "peak RSS %.1f MiB" % (n, wall, rep["ms"], cpu, len(log),
                                     len(sync), rep["restored"],
                                     rss / 1024.0))
        base = measured(["version"], env.conf)[2]
        st = measured(["status"], env.conf)[2]
        print("bench reconcile_%d_rss_context: `lettamx version` %.1f MiB, "
              "`lettamx status` over the same %d agents %.1f MiB"
              % (n, base / 1024.0, n, st / 1024.0))
        seq = env.last_seq()
        out, wall, rss, code, cpu = measured(["reconcile", "--json"],
                                             env.conf)
        rep = json.loads(out)
        print("bench reconcile_%d_again: %.2f s wall, %d requests, "
              "changed=%s, peak RSS %.1f MiB"
              % (n, wall, len(env.hs.requests(since=seq)), rep["changed"],
                 rss / 1024.0))
    finally:
        env.close()


if __name__ == "__main__":
    main()
