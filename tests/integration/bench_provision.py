"""Benchmark (not a test): provision N agents (default 100) against the
fakes, then run again; then N agents under Synapse's stock rate limits
(the fake's `synapse-defaults` profile) with a bot that is not a server
admin and with one that is; then 1,000 agents (BENCH_AS_AGENTS) as an
application service under the same limits. Prints `bench <name>:
<figure>` lines:

    /usr/bin/python3 tests/integration/bench_provision.py [N]

The rate-limited runs use the profile's `time_scale` (BENCH_SCALE,
default 0.05): every bucket refills 20 times as fast and tells lettamx
the true (shorter) wait, so lettamx waits what it is told, as always.
The figures at full speed are derived: the time lettamx spent waiting
(measured by lettamx: its summary line) scales by 1/time_scale, the rest
does not. The prediction for 1,000 agents is linear in the agents past
the stock bursts (ten joins, ten state events).

Wall time is dominated by the fake homeserver (Python, one thread per
connection); the CPU time of lettamx itself is printed next to it, and
the fake's own time per request as seen by a Python client for scale.
"""

import http.client
import json
import os
import re
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import HERE, Quiet  # noqa: E402,F401

import lettamx  # noqa: E402
from test_provision import Env  # noqa: E402



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


WAITED = re.compile(r"rate limits: ([0-9.]+) s waited \((\d+) answers 429\)")


def limited(n, admin, scale):
    """One run of n agents under synapse-defaults; the figures."""
    env = Env(Quiet(), bot_admin=admin,
              registration="admin-api" if admin else "dummy")
    try:
        env.hs.configure(rate_limit={"profile": "synapse-defaults",
                                     "time_scale": scale})
        env.agents(n)
        t0 = time.monotonic()
        res = lettamx.run(["provision"], env.conf, timeout=3600)
        wall = time.monotonic() - t0
        if res.returncode != 0 or " 0 failed" not in res.stdout:
            raise SystemExit(res.stdout + res.stderr)
        m = WAITED.search(res.stdout)
        waited, n429 = float(m.group(1)), int(m.group(2))
        log = env.hs.requests()
        # the plan's dry pass is Letta only: these are the run's
        real = wall - waited + waited / scale
        return wall, waited, n429, len(log), real
    finally:
        env.close()


def bench_limits(n):
    scale = float(os.environ.get("BENCH_SCALE", "0.05"))
    for admin in (False, True):
        name = "admin" if admin else "non_admin"
        wall, waited, n429, reqs, real = limited(n, admin, scale)
        burst = 0 if admin else 10
        per = real / max(1, n - burst) if not admin else real / n
        print("bench provision_%d_stock_limits_%s_bot: %.1f s wall at "
              "time_scale %.2f (%.1f s of it waiting, %d answers 429), "
              "%d Matrix requests; at full speed %.0f s wall, %.0f s "
              "waiting" % (n, name, wall, scale, waited, n429, reqs, real,
                           waited / scale))
        print("bench provision_1000_stock_limits_%s_bot_predicted: %.0f s "
              "(%.1f h)" % (name, per * (1000 - burst) + (
                  real - per * (n - burst) if not admin else 0),
                  (per * (1000 - burst)) / 3600.0))


def provision_rss(env):
    """lettamx provision under env: wall seconds, its peak RSS in KiB."""
    import subprocess
    import tempfile
    cmd = lettamx.command(lettamx.check_binary()[0]) + [
        "--config", env.conf, "provision"]
    # the log goes to a file: a pipe nobody reads while waiting would
    # fill and stop lettamx
    with tempfile.TemporaryFile() as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit("provision failed:\n" +
                             log.read()[-2000:].decode("utf-8", "replace"))
    return wall, ru.ru_maxrss


def bench_appservice(n):
    """n agents as the homeserver's application service, under the stock
    limits (which do not apply to it): no waiting, no 429, no login."""
    from test_appservice import AsEnv
    env = AsEnv(Quiet(), n=n, start=False, bot_cred=None)
    try:
        env.hs.configure(rate_limit={"profile": "synapse-defaults"})
        seq = env.last_seq()
        wall, rss = provision_rss(env)
        log = env.hs.requests(since=seq)
        n429 = sum(1 for e in log if e["status"] == 429)
        logins = sum(1 for e in log if e["path"].endswith("/login"))
        print("bench provision_%d_appservice: %.1f s wall under stock limits, "
              "%d answers 429, %d logins, %d Matrix requests (%.1f per "
              "agent), peak RSS %d KiB" % (n, wall, n429, logins, len(log),
                                           len(log) / n, rss))
    finally:
        env.close()


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
    bench_limits(n)
    bench_appservice(int(os.environ.get("BENCH_AS_AGENTS", "1000")))


if __name__ == "__main__":
    main()
