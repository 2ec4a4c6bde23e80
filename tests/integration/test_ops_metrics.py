"""[http] listen in `lettamx run`: /metrics read by a strict Prometheus
text-format reader (written here), /healthz, 404 for anything else; and
the operator tools beside a running daemon (issue 13).
"""

import http.client
import math
import os
import re
import signal
import time

import lettamx
from test_provision import ProvisionTest
from test_run import RunEnv, free_port
from gen_legacy_json import generate

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(Exception):
    pass


def parse_labels(text, line):
    out, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        if not LABEL.match(name) or name in out:
            raise PromError("line %d: bad label %r" % (line, name))
        if text[eq + 1:eq + 2] != '"':
            raise PromError("line %d: unquoted label value" % line)
        j, val = eq + 2, []
        while True:
            if j >= len(text):
                raise PromError("line %d: unterminated value" % line)
            c = text[j]
            if c == "\\":
                nxt = text[j + 1:j + 2]
                if nxt not in ("\\", '"', "n"):
                    raise PromError("line %d: bad escape" % line)
                val.append("\n" if nxt == "n" else nxt)
                j += 2
                continue
            if c == '"':
                break
            val.append(c)
            j += 1
        out[name] = "".join(val)
        i = j + 1
        if i < len(text):
            if text[i] != ",":
                raise PromError("line %d: expected ','" % line)
            i += 1
    return out


def parse_value(s, line):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf"))
    if not re.match(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$", s):
        raise PromError("line %d: bad value %r" % (line, s))
    return float(s)


def parse_prom(text):
    """Strict text format 0.0.4: returns {(name, frozenset(labels)): v}
    and {family: type}; raises PromError on anything irregular."""
    if not text.endswith("\n"):
        raise PromError("no final newline")
    samples, types, family, ftype, done = {}, {}, None, None, set()
    for n, l in enumerate(text[:-1].split("\n"), 1):
        if l.startswith("# HELP "):
            continue
        if l.startswith("# TYPE "):
            parts = l[7:].split(" ")
            if len(parts) != 2 or not NAME.match(parts[0]) or \
                    parts[1] not in TYPES:
                raise PromError("line %d: bad TYPE" % n)
            if parts[0] in types:
                raise PromError("line %d: family twice" % n)
            if family:
                done.add(family)
            family, ftype = parts
            types[family] = ftype
            continue
        if not l or l.startswith("#"):
            raise PromError("line %d: stray line %r" % (n, l))
        m = re.match(r"([^{ ]+)(\{(.*)\})? (\S+)$", l)
        if not m or not NAME.match(m.group(1)):
            raise PromError("line %d: bad sample %r" % (n, l))
        name = m.group(1)
        labels = parse_labels(m.group(3) or "", n)
        value = parse_value(m.group(4), n)
        suffixes = ("_bucket", "_sum", "_count") \
            if ftype == "histogram" else ()
        if family is None or not (name == family or any(
                name == family + s for s in suffixes)):
            raise PromError("line %d: %s outside its family" % (n, name))
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise PromError("line %d: duplicate series" % n)
        samples[key] = value
    for fam, t in types.items():
        if t != "histogram":
            continue
        buckets = sorted((float(dict(k[1])["le"].replace("Inf", "inf")), v)
                         for k, v in samples.items()
                         if k[0] == fam + "_bucket")
        counts = [v for _, v in buckets]
        if not buckets or not math.isinf(buckets[-1][0]) or \
                counts != sorted(counts) or \
                samples.get((fam + "_count", frozenset())) != counts[-1]:
            raise PromError("histogram %s is not cumulative" % fam)
    return samples, types


def get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, r.getheader("Content-Type"), body


class Reader(ProvisionTest):
    def test_the_reader_refuses_irregular_text(self):
        for bad in ("x 1\n", "# TYPE x counter\nx 1", "# TYPE x gauge\n"
                    "x{a=b} 1\n", "# TYPE x gauge\nx 1\nx 1\n",
                    "# TYPE x gauge\ny 1\n", "# TYPE h histogram\n"
                    "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                    "h_count 1\n"):
            with self.assertRaises(PromError):
                parse_prom(bad)


class Metrics(ProvisionTest):
    def run_env(self, **kw):
        lettamx.require_binary(self)
        e = RunEnv(self, **kw)
        self.addCleanup(e.close)
        return e

    def live(self, env):
        d = env.daemon()
        self.addCleanup(d.stop)
        deadline = time.monotonic() + 25
        while "event=live" not in d.output():
            self.assertIsNone(d.proc.poll(), d.output())
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.05)
        return d

    def test_metrics_and_healthz_served_by_run(self):
        port = free_port()
        env = self.run_env(conf={"http": {"listen": "127.0.0.1:%d" % port}})
        env.agents(2)
        env.provision()
        d = self.live(env)
        status, ctype, body = get(port, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"))
        samples, types = parse_prom(body)
        self.assertEqual(types["lettamx_letta_turn_seconds"], "histogram")
        self.assertEqual(samples[("lettamx_messages_received_total",
                                  frozenset())], 0)
        self.assertGreater(samples[("lettamx_store_size_bytes",
                                    frozenset())], 0)
        self.assertEqual(samples[("lettamx_agents",
                                  frozenset({("state", "ok")}))], 2)
        self.assertEqual(samples[("lettamx_queue_depth",
                                  frozenset({("queue", "inbox")}))], 0)
        age = samples[("lettamx_last_snapshot_age_seconds", frozenset())]
        self.assertTrue(0 <= age < 60, age)     # the boot snapshot
        # healthy once the bridge's sync loop has synced (it calls
        # metrics_sync_ok; before, "no sync ... has succeeded")
        deadline = time.monotonic() + 15
        while get(port, "/healthz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.1)
        for path, method in (("/", "GET"), ("/metrics", "POST"),
                             ("/healthz/x", "GET")):
            self.assertEqual(get(port, path, method)[0], 404)
        self.assertEqual(d.stop(), 0, d.output())

    def test_healthz_turns_503_when_the_homeserver_stops_answering(self):
        port = free_port()
        env = self.run_env(conf={"http": {"listen": "127.0.0.1:%d" % port},
                                 "bridge": {"sync_timeout": "1s"}})
        env.agents(1)
        env.provision()
        d = self.live(env)
        deadline = time.monotonic() + 15
        while get(port, "/healthz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.1)
        env.hs.stop()
        # two long-poll periods (2 s) without a good sync: unhealthy,
        # with the reason in the body
        deadline = time.monotonic() + 15
        while True:
            status, _, body = get(port, "/healthz")
            if status == 503:
                break
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.2)
        self.assertIn("sync", body)
        self.assertIsNone(d.proc.poll(), d.output())
        self.assertEqual(d.stop(), 0, d.output())

    def test_a_remote_listen_address_is_refused(self):
        env = self.run_env(conf={"http": {"listen": "0.0.0.0:%d" %
                                          free_port()}})
        res = lettamx.run(["run"], env.conf, test=self)
        self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
        self.assertIn("allow_remote", res.stderr)


class BesideRun(ProvisionTest):
    def test_tools_beside_a_running_daemon(self):
        lettamx.require_binary(self)
        env = RunEnv(self)
        self.addCleanup(env.close)
        env.agents(2)
        env.provision()
        path = os.path.join(env.work, "x.json")
        with open(path, "w") as f:
            import json
            json.dump(generate(3, server=env.hs.server_name), f)
        d = env.daemon()
        self.addCleanup(d.stop)
        deadline = time.monotonic() + 25
        while "event=live" not in d.output():
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.05)
        data = os.path.join(env.work, "store", "data.mdb")
        # The live daemon may commit at any moment (a sync token, a
        # metrics flush; late on a slow emulated board), so it is held
        # still while the tools try: any change to the bytes is theirs.
        # Stopped, it still owns the store's lock, which is what the
        # tools must see.
        d.proc.send_signal(signal.SIGSTOP)
        try:
            with open(data, "rb") as f:
                before = f.read()
            for args in (["import-json", path], ["reset", "--local-only"]):
                res = lettamx.run(args, env.conf, test=self)
                self.assertEqual(res.returncode, 1, res.stderr)
                self.assertIn("pid %d" % d.proc.pid, res.stderr)
            with open(data, "rb") as f:
                self.assertEqual(f.read(), before)
        finally:
            d.proc.send_signal(signal.SIGCONT)
        res = lettamx.run(["snapshot", "--reason", "beside-run"], env.conf,
                          test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        res = lettamx.run(["check"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual(d.stop(), 0)

    def test_reset_local_only_then_run_creates_nothing(self):
        lettamx.require_binary(self)
        env = RunEnv(self)
        self.addCleanup(env.close)
        ids = env.agents(3)
        env.provision()
        rooms = sorted(r["room_id"] for r in env.hs.rooms())
        res = lettamx.run(["reset", "--local-only"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        seq = env.last_seq()
        d = env.daemon()
        self.addCleanup(d.stop)
        deadline = time.monotonic() + 25
        while "event=live" not in d.output():
            self.assertIsNone(d.proc.poll(), d.output())
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.05)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sorted(r["room_id"] for r in env.hs.rooms()), rooms)
        self.assertEqual(env.hs.requests("POST", "/createRoom$", since=seq),
                         [])
        self.check_one_each(env, ids)
        res = lettamx.run(["check"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
