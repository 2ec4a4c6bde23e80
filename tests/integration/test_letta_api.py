"""Two Letta APIs (issue #19, the control plane): `[letta] api`, the
start-up gate's detection, and discovery over the App Server.

The real binary runs against the fake homeserver and the fake REST Letta
or the fake App Server (tools/fake_app_server.py), and against the real
App Server of Letta Code (tests/integration/appserver_env.py; that class
is skipped with the reason when node >= 20 or the package is missing).
Assertions come from the fakes' state and logs, the daemon's log lines
and the exit statuses.
"""

import json
import os
import signal
import unittest

import lettamx
from appserver_env import AppServerEnv, skip_reason
from fakes import FakeAppServer, FakeHomeserver
from test_provision import Env, ProvisionTest, write_secret

REAL_SKIP = skip_reason()
VERSION_LINE = "letta_code_version=0.32.18 protocol_version=1"


class AppEnv(Env):
    """A fake homeserver with the bot, and a config whose Letta is an App
    Server: `app` (a FakeAppServer, stopped with the env, or the real
    one's stand-in)."""

    def __init__(self, test, app, base_url=None, conf=None, token=None):
        self.test = test
        self.hs = FakeHomeserver().start()
        self.letta = app
        self._work = lettamx.Workdir()
        self.work = self._work.__enter__()
        self.bot = self.hs.user_id("lettamx")
        sections = lettamx.default_config(self.work, self.hs)
        bot = self.hs.human_register("lettamx", password="bot-pw")
        sections["matrix"].update({
            "bot_user": self.bot, "registration": "dummy",
            "bot_token_file": write_secret(self.work, "bot_token_file",
                                           bot["access_token"])})
        sections["store"]["master_secret_file"] = os.path.join(
            self.work, "master.secret")
        sections["letta"] = {"base_url": base_url or app.url}
        if token:
            sections["letta"]["token_file"] = write_secret(
                self.work, "letta.token", token)
        for section, values in (conf or {}).items():
            sections.setdefault(section, {}).update(values)
        self.conf = lettamx.write_config(self.work, sections)

    def run(self, *args, timeout=120):
        return lettamx.run(list(args), self.conf, timeout=timeout,
                           test=self.test)

    def status(self):
        res = self.run("status", "--json")
        self.test.assertEqual(res.returncode, 0, res.stderr)
        return {a["agent_id"]: a for a in json.loads(res.stdout)}

    def run_daemon(self):
        d = lettamx.Daemon(["run"], self.conf)
        self.test.addCleanup(d.stop)
        return d

    def notices(self, agent):
        room = self.markers()[agent][0]
        return [m for m in self.hs.human_read(self.bot, room)
                if m["content"].get("msgtype") == "m.notice"]


class Base(ProvisionTest):
    def fake_app(self, **kw):
        lettamx.require_binary(self)
        return FakeAppServer(**kw).start()

    def app_env(self, app=None, **kw):
        env = AppEnv(self, app or self.fake_app(), **kw)
        self.addCleanup(env.close)
        return env

    def lists(self, app):
        """The agent_list queries lettamx sent, in order."""
        return [f["frame"].get("query") for f in app.frames(dir="in")
                if f.get("type") == "agent_list"]


def config_check(test, letta, **env):
    """`lettamx config check` with [letta] `letta` (a dict)."""
    with lettamx.Workdir() as work:
        conf = lettamx.write_config(work, {
            "matrix": {"homeserver_url": "http://127.0.0.1:8008",
                       "server_name": "localhost"},
            "letta": letta, "store": {"path": os.path.join(work, "s")}})
        return lettamx.run(["config", "check"], conf, timeout=10, test=test,
                           env=dict(os.environ, **env))


class ConfigCheck(unittest.TestCase):
    """What `config check` says of the Letta API and the tool mode."""

    def check(self, letta, code=0):
        res = config_check(self, letta)
        self.assertEqual(res.returncode, code, res.stdout + res.stderr)
        return res

    def test_which_api_and_why(self):
        res = self.check({"base_url": "ws://127.0.0.1:4500/ws"})
        self.assertIn("# letta api: app-server ([letta] base_url is a "
                      "WebSocket URL)", res.stdout)
        res = self.check({"base_url": "http://127.0.0.1:4500",
                          "api": "app-server"})
        self.assertIn("# letta api: app-server ([letta] api = app-server)",
                      res.stdout)
        res = self.check({"base_url": "https://api.letta.com",
                          "api": "rest"})
        self.assertIn("# letta api: rest ([letta] api = rest)", res.stdout)
        res = self.check({"base_url": "http://127.0.0.1:8283"})
        self.assertIn("# letta api: decided at start: GET /app-server-info, "
                      "then GET /v1/health/", res.stdout)
        self.assertIn("api = auto  # default", res.stdout)
        self.assertIn("tool_mode = strict  # default", res.stdout)
        self.assertNotIn("warning", res.stderr)

    def test_a_ws_url_is_no_rest_server(self):
        res = self.check({"base_url": "ws://127.0.0.1:4500/ws",
                          "api": "rest"}, code=2)
        self.assertIn("[letta] base_url: 'ws://127.0.0.1:4500/ws' is a "
                      "WebSocket URL", res.stderr)
        self.assertIn("api = rest", res.stderr)
        res = self.check({"base_url": "ftp://127.0.0.1:4500/"}, code=2)
        self.assertIn("is not an http(s):// or ws(s):// URL", res.stderr)

    def test_tool_modes_that_run_tools_unasked_are_named(self):
        for mode, words in (("unrestricted", "run every tool call without "
                                             "asking anyone"),
                            ("standard", "deems harmless"),
                            ("acceptEdits", "edit files")):
            with self.subTest(mode=mode):
                res = self.check({"base_url": "ws://127.0.0.1:4500/ws",
                                  "tool_mode": mode})
                self.assertIn("warning: [letta] tool_mode = %s" % mode,
                              res.stderr)
                self.assertIn(words, res.stderr)
                self.assertIn("a shell among them", res.stderr)
        # REST agents' tools are not the App Server's: nothing to say
        res = self.check({"base_url": "http://127.0.0.1:8283",
                          "api": "rest", "tool_mode": "unrestricted"})
        self.assertEqual(res.stderr, "")


class GateFakeAppServer(Base):
    """The start-up gate against the fake App Server."""

    def test_auto_finds_the_app_server_and_provisions(self):
        env = self.app_env()
        ids = [env.letta.add_agent("agent %d" % i)["id"] for i in range(3)]
        d = env.run_daemon()
        d.wait_until(lambda: "event=live" in d.output())
        line = [x for x in d.output().splitlines()
                if "event=letta_ok" in x][0]
        self.assertIn("api=app-server url=ws://127.0.0.1:%d/ws "
                      % env.letta.port + VERSION_LINE, line)
        self.check_one_each(env, ids)
        paths = [e["path"] for e in env.letta.requests()]
        self.assertEqual(paths[0], "/app-server-info")
        self.assertNotIn("/v1/health/", paths)
        self.assertEqual(d.stop(), 0, d.output())

    def test_a_ws_url_and_a_token(self):
        app = self.fake_app(ws_token="app-secret")
        env = self.app_env(app, base_url=app.ws_url, token="app-secret",
                           conf={"letta": {"api": "app-server"}})
        ids = [app.add_agent("agent %d" % i)["id"] for i in range(2)]
        res = env.run("provision")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.check_one_each(env, ids)
        for path in ("^/app-server-info$", "^/ws$"):
            got = app.requests("GET", path)
            self.assertTrue(got, path)
            for e in got:
                self.assertTrue(e["headers"]["Authorization"].startswith(
                    "Bearer ***"), e)

    def test_a_wrong_token_is_a_configuration_error(self):
        app = self.fake_app(ws_token="app-secret")
        env = self.app_env(app, token="not-it")
        app.add_agent("agent")
        res = env.run("provision")
        self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
        self.assertIn("refused our token (HTTP 401)", res.stderr)
        res = env.run("run", timeout=30)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("refused our token", res.stderr)
        self.assertEqual(env.hs.requests("POST", "/createRoom$"), [])

    def test_an_unknown_protocol_version_stops(self):
        env = self.app_env()
        env.letta.add_agent("agent")
        self.assertEqual(env.run("provision").returncode, 0)
        env.letta.add_agent("another")
        lists, seq = len(self.lists(env.letta)), env.last_seq()
        env.letta.inject_fault(
            "GET", "^/app-server-info$", count=-1, status=200,
            body={"type": "app_server_info_response", "success": True,
                  "letta_code_version": "9.9.9", "protocol_version": 2})
        for cmd in (["run"], ["provision"], ["check"]):
            with self.subTest(cmd=cmd):
                res = env.run(*cmd, timeout=30)
                self.assertEqual(res.returncode, 2, res.stderr)
                self.assertIn("speaks protocol_version 2 (Letta Code "
                              "9.9.9); this lettamx knows protocol_version "
                              "1 only", res.stderr)
        self.assertEqual(env.writes(since=seq), [])
        self.assertEqual(len(self.lists(env.letta)), lists)

    def test_waits_naming_both_tries(self):
        env = self.app_env()
        ids = [env.letta.add_agent("agent")["id"]]
        env.letta.inject_fault("GET", "^/app-server-info$", count=1,
                               status=503)
        d = env.run_daemon()
        d.wait_until(lambda: "event=live" in d.output(), timeout=30)
        wait = [x for x in d.output().splitlines()
                if 'event=waiting for="letta"' in x][0]
        url = env.letta.url
        self.assertIn("Letta answers neither as an App Server (GET %s/app-"
                      "server-info: HTTP 503) nor as a REST server (GET "
                      "%s/v1/health/: HTTP 404)" % (url, url), wait)
        self.assertIn('event=ready for="letta"', d.output())
        self.check_one_each(env, ids)
        self.assertEqual(d.stop(), 0, d.output())


class GateRest(Base):
    """The same gate finds a REST Letta (the fake one)."""

    def rest_env(self, api=None):
        lettamx.require_binary(self)
        env = Env(self, conf={"letta": {"api": api}} if api else None)
        self.addCleanup(env.close)
        return env

    def test_auto_finds_rest(self):
        env = self.rest_env()
        ids = env.agents(2)
        d = lettamx.Daemon(["run"], env.conf)
        self.addCleanup(d.stop)
        d.wait_until(lambda: "event=live" in d.output())
        self.assertIn("event=letta_ok api=rest url=%s" % env.letta.url,
                      d.output())
        paths = [e["path"] for e in env.letta.requests()]
        self.assertEqual(paths[:2], ["/app-server-info", "/v1/health/"])
        self.assertEqual(d.stop(), 0, d.output())
        res = lettamx.run(["check"], env.conf, timeout=60, test=self)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual(len(ids), 2)

    def test_api_rest_asks_only_rest(self):
        env = self.rest_env(api="rest")
        env.agents(1)
        d = lettamx.Daemon(["run"], env.conf)
        self.addCleanup(d.stop)
        d.wait_until(lambda: "event=live" in d.output())
        self.assertEqual(d.stop(), 0, d.output())
        res = lettamx.run(["provision"], env.conf, timeout=60, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(env.letta.requests("GET", "^/app-server-info"), [])

    def test_api_app_server_does_not_take_rest(self):
        env = self.rest_env(api="app-server")
        env.agents(1)
        res = lettamx.run(["provision"], env.conf, timeout=60, test=self)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("the App Server does not answer: GET %s/app-server-"
                      "info: HTTP 404" % env.letta.url, res.stderr)
        self.assertEqual(env.letta.requests("GET", "^/v1/health/"), [])


class DiscoveryFakeAppServer(Base):
    """Provisioning from the App Server's agents (the fake one)."""

    def test_more_than_a_page_of_agents_all_found(self):
        env = self.app_env()
        ids = [env.letta.add_agent("agent %02d" % i)["id"]
               for i in range(60)]
        res = env.run("provision")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("[60/60]", res.stdout)
        self.check_one_each(env, ids)
        # two pages of 50 after the last id, then the first page again
        qs = self.lists(env.letta)
        self.assertEqual(len(qs), 6, qs)       # the dry run, the run
        self.assertEqual(qs[0], {"limit": 50})
        self.assertEqual(qs[1]["limit"], 50)
        self.assertIn(qs[1]["after"], ids)
        self.assertEqual(qs[2], {"limit": 50})
        seq = env.last_seq()
        res = env.run("check")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("healthy: 60 agents", res.stdout)
        self.assertEqual(env.writes(since=seq), [])

    def test_rename_delete_grace_and_unlink(self):
        env = self.app_env(conf={"letta": {"delete_grace": "0s"}})
        ids = [env.letta.add_agent("agent %d" % i)["id"] for i in range(3)]
        res = env.run("provision")
        self.assertEqual(res.returncode, 0, res.stderr)
        env.letta.control("PATCH", "agents/" + ids[0], {"name": "helpdesk"})
        env.letta.delete_agent(ids[2])
        res = env.run("check")
        self.assertEqual(res.returncode, 1, res.stdout)
        self.assertIn(ids[2], res.stdout)
        self.assertIn("no longer exists", res.stdout)
        res = env.run("provision")          # renamed; marked deleted
        self.assertEqual(res.returncode, 0, res.stderr)
        uid = "@letta_%s:%s" % (ids[0], env.hs.server_name)
        self.assertEqual(env.displaynames()[uid], "helpdesk")
        room = env.hs.room(env.markers()[ids[0]][0])
        self.assertEqual(env.state(room, "m.room.name")["name"], "helpdesk")
        self.assertEqual(env.status()[ids[2]]["state"], "deleted (grace)")
        res = env.run("provision")          # past the grace: unlinked
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(env.status()[ids[2]]["state"], "deleted, unlinked")
        space = env.spaces()[0]
        gone = env.markers()[ids[2]][0]
        self.assertEqual(env.state(space, "m.space.child", gone), {})
        self.assertEqual(len(env.notices(ids[2])), 1)

    def test_empty_or_failed_listing_deletes_nothing(self):
        env = self.app_env(conf={"letta": {"delete_grace": "0s"}})
        ids = [env.letta.add_agent("agent %d" % i)["id"] for i in range(2)]
        self.assertEqual(env.run("provision").returncode, 0)
        seq = env.last_seq()
        # the answer to the listing never comes: the socket is closed
        env.letta.frame_fault(type="agent_list_response", close=1011,
                              reason="backend down", count=1)
        res = env.run("provision")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("listing the Letta agents failed: the App Server at "
                      "%s ended the listing (1011: backend down)"
                      % env.letta.ws_url, res.stderr)
        for agent in ids:
            env.letta.delete_agent(agent)
        for _ in range(2):                  # empty: nothing is gone
            res = env.run("provision")
            self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(env.writes(since=seq), [])
        self.assertEqual([a["state"] for a in env.status().values()],
                         ["ok", "ok"])

    def test_the_daemon_discovers_every_interval(self):
        env = self.app_env(conf={"letta": {"discovery_interval": "10s"}})
        ids = [env.letta.add_agent("agent %d" % i)["id"] for i in range(2)]
        d = env.run_daemon()
        d.wait_until(lambda: "event=live" in d.output())
        late = env.letta.add_agent("late")["id"]
        env.letta.control("PATCH", "agents/" + ids[0], {"name": "renamed"})
        env.letta.delete_agent(ids[1])
        uid = "@letta_%s:%s" % (ids[0], env.hs.server_name)
        d.wait_until(lambda: late in env.markers() and
                     env.displaynames()[uid] == "renamed", timeout=30)
        d.wait_until(lambda: "marked_deleted=1" in d.output())
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.output())
        self.check_one_each(env, ids + [late])
        self.assertEqual(env.status()[ids[1]]["state"], "deleted (grace)")


class RealStandIn:
    """The real App Server as AppEnv's `app`: the class owns it."""

    def __init__(self, real):
        self.real = real
        self.port = real.port
        self.url = "http://127.0.0.1:%d" % real.port
        self.ws_url = real.ws_url

    def stop(self):
        pass


@unittest.skipIf(REAL_SKIP is not None, REAL_SKIP or "")
class RealAppServer(Base):
    """The same against Letta Code's real App Server (one per class)."""

    real = None
    COUNT = 55          # more than its default page (20) and ours (50)

    @classmethod
    def setUpClass(cls):
        cls.real = AppServerEnv().start()
        cls.s = cls.real.session()
        cls.ids = [cls.s.agent_create("real %02d" % i)["id"]
                   for i in range(cls.COUNT)]

    @classmethod
    def tearDownClass(cls):
        if cls.real:
            cls.s.close()
            cls.real.stop()

    def real_env(self, **kw):
        lettamx.require_binary(self)
        return self.app_env(RealStandIn(self.real), **kw)

    def test_gate_and_every_agent_found(self):
        env = self.real_env()
        d = env.run_daemon()
        d.wait_until(lambda: "event=live" in d.output(), timeout=60)
        line = [x for x in d.output().splitlines()
                if "event=letta_ok" in x][0]
        self.assertIn("api=app-server url=%s " % self.real.ws_url +
                      VERSION_LINE, line)
        self.check_one_each(env, self.ids)
        # its pages of 50 after the last id, then the first page again
        self.assertIn("pages=2 complete=1", d.output())
        self.assertEqual(d.stop(), 0, d.output())

    def test_rename_and_delete_follow(self):
        env = self.real_env(base_url=self.real.ws_url,
                            conf={"letta": {"delete_grace": "0s"}})
        mine = [self.s.agent_create("mine %d" % i)["id"] for i in range(2)]
        res = env.run("provision")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.check_one_each(env, self.ids + mine)
        self.assertTrue(self.s.agent_rename(mine[0], "renamed")["success"])
        self.assertTrue(self.s.agent_delete(mine[1])["success"])
        res = env.run("provision")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        uid = "@letta_%s:%s" % (mine[0], env.hs.server_name)
        self.assertEqual(env.displaynames()[uid], "renamed")
        self.assertEqual(env.status()[mine[1]]["state"], "deleted (grace)")
        res = env.run("provision")
        self.assertEqual(env.status()[mine[1]]["state"], "deleted, unlinked")
        self.assertEqual(len(env.notices(mine[1])), 1)
        res = env.run("check")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)


if __name__ == "__main__":
    unittest.main()
