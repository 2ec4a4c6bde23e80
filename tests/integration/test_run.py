"""lettamx run: the daemon's boot (issue: lettamx run, part 1).

The start-up gate waits for a homeserver and a Letta that are not up
yet, refuses a bot token that names another user, provisions, and the
daemon ends cleanly on SIGTERM; assertions come from the fakes' logs,
the exit status and the files the daemon leaves.
"""

import os
import signal
import socket
import time

import lettamx
from fakes import FakeHomeserver
from test_provision import Env, ProvisionTest


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RunEnv(Env):
    def daemon(self, *args):
        return lettamx.Daemon(["run"] + list(args), self.conf)


class Run(ProvisionTest):
    def run_env(self, **kw):
        lettamx.require_binary(self)
        e = RunEnv(self, **kw)
        self.addCleanup(e.close)
        return e

    def wait_for(self, what, d, timeout=25):
        deadline = time.monotonic() + timeout
        while not what():
            self.assertIsNone(d.proc.poll(), d.output())
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.05)

    def test_boots_provisions_and_stops_on_sigterm(self):
        env = self.run_env()
        ids = env.agents(3)
        pid_file = os.path.join(env.work, "lettamx.pid")
        d = env.daemon("--pid-file", pid_file)
        self.addCleanup(d.stop)
        self.wait_for(lambda: "event=live" in d.output(), d)
        self.check_one_each(env, ids)
        with open(pid_file) as f:
            self.assertEqual(int(f.read()), d.proc.pid)
        # the gate asked each of them, in order, before provisioning
        paths = [e["path"] for e in env.hs.requests()]
        self.assertTrue(paths[0].startswith("/_matrix/client/versions"),
                        paths[:3])
        self.assertTrue(any(p.endswith("/account/whoami") for p in paths))
        self.assertTrue(env.letta.requests("GET", "^/v1/health/$"))
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.output())
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertFalse(os.path.exists(pid_file))
        self.assertIn("event=stopped", d.output())

    def test_second_boot_snapshots_and_makes_no_write(self):
        env = self.run_env()
        ids = env.agents(2)
        env.provision()
        seq = env.last_seq()
        d = env.daemon()
        self.addCleanup(d.stop)
        self.wait_for(lambda: "event=live" in d.output(), d)
        self.assertIn("reason=boot", d.output())
        # the bridge uploads its sync filter once (a filter changes no
        # room, user or mapping); nothing else is written
        self.assertEqual([w for w in env.writes(since=seq)
                          if not w["path"].endswith("/filter")], [])
        self.assertEqual(env.hs.requests(path="/login$", since=seq), [])
        self.assertEqual(d.stop(), 0, d.output())
        self.check_one_each(env, ids)

    def test_waits_for_a_homeserver_that_is_not_up_yet(self):
        env = self.run_env(bot_cred="password")
        ids = env.agents(1)
        port = free_port()
        conf = open(env.conf).read().replace(env.hs.url,
                                             "http://127.0.0.1:%d" % port)
        with open(env.conf, "w") as f:
            f.write(conf)
        d = env.daemon()
        self.addCleanup(d.stop)
        self.wait_for(lambda: 'for="homeserver"' in d.output(), d)
        self.assertIn("event=waiting", d.output())
        # the homeserver comes up on that port with the bot in it
        late = FakeHomeserver()
        late.args += ["--port", str(port)]
        late.start()
        self.addCleanup(late.stop)
        late.human_register("lettamx", password="bot-pw")
        self.wait_for(lambda: "event=live" in d.output(), d, timeout=30)
        self.assertIn('event=ready for="homeserver"', d.output())
        self.assertEqual(d.stop(), 0, d.output())
        self.assertTrue(late.requests("POST", "/createRoom$"))

    def test_waits_for_letta(self):
        env = self.run_env()
        env.agents(1)
        env.letta.inject_fault("GET", "^/v1/health/$", count=1, status=503)
        d = env.daemon()
        self.addCleanup(d.stop)
        self.wait_for(lambda: "event=live" in d.output(), d, timeout=30)
        self.assertIn('for="letta"', d.output())
        self.assertEqual(len(env.letta.requests("GET", "^/v1/health/$")), 2)
        self.assertEqual(d.stop(), 0, d.output())

    def test_a_token_of_another_user_exits_2(self):
        env = self.run_env()
        env.agents(1)
        conf = open(env.conf).read().replace(
            "bot_user = " + env.bot,
            "bot_user = " + env.hs.user_id("someoneelse"))
        with open(env.conf, "w") as f:
            f.write(conf)
        res = lettamx.run(["run"], env.conf, timeout=30, test=self)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn(env.bot, res.stderr)
        self.assertIn(env.hs.user_id("someoneelse"), res.stderr)
        self.assertEqual(env.hs.requests("POST", "/createRoom$"), [])

    def test_sighup_reopens_the_log(self):
        env = self.run_env()
        env.agents(1)
        d = env.daemon()
        self.addCleanup(d.stop)
        self.wait_for(lambda: "event=live" in d.output(), d)
        d.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: "event=log_reopened" in d.output(), d)
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.stop(), 0, d.output())

    def test_bad_usage_exits_2(self):
        res = lettamx.run(["run", "--pid-file"], timeout=10, test=self)
        self.assertEqual(res.returncode, 2)
        self.assertIn("usage: lettamx run", res.stderr)
