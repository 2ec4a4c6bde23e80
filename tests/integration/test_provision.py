"""lettamx provision / status against the fakes (issue: Provisioning).

Each test starts a fresh fake homeserver and fake Letta, makes the bot
account directly, writes a config and runs the real binary. Assertions
come from the fakes' state and request logs, never from lettamx's own
word.
"""

import json
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

import lettamx
from fakes import FakeHomeserver, FakeLetta

def q(value):
    return urllib.parse.quote(value, safe="")


MARKER = "org.lettamx.agent"
SPACE = "org.lettamx.space"


def write_secret(workdir, name, value):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


class Env:
    """Fakes, a bot, a work directory and a config for one test."""

    def __init__(self, test, registration="dummy", hs_kw=None, conf=None,
                 bot_admin=False, bot_cred="token", letta_password=None,
                 letta_token=None, letta=None):
        self.test = test
        self.hs = FakeHomeserver(**(hs_kw or {})).start()
        # letta: a started Letta of the caller's (the fake App Server),
        # stopped with the env; else the fake REST Letta
        self.letta = letta or FakeLetta(password=letta_password).start()
        self._work = lettamx.Workdir()
        self.work = self._work.__enter__()
        self.bot = self.hs.user_id("lettamx")
        sections = lettamx.default_config(self.work, self.hs, self.letta,
                                          letta_token=letta_token)
        sections["matrix"].update({"bot_user": self.bot,
                                   "registration": registration})
        # outside the store: a test may lose the store, not the secret
        sections["store"]["master_secret_file"] = os.path.join(
            self.work, "master.secret")
        if bot_cred:
            bot = self.hs.human_register("lettamx", password="bot-pw",
                                         admin=bot_admin)
            key = "bot_%s_file" % bot_cred
            value = bot["access_token"] if bot_cred == "token" else "bot-pw"
            sections["matrix"][key] = write_secret(self.work, key, value)
        for section, values in (conf or {}).items():
            sections.setdefault(section, {}).update(values)
        self.conf = lettamx.write_config(self.work, sections)

    def close(self):
        self.hs.stop()
        self.letta.stop()
        self._work.__exit__(None, None, None)

    def agents(self, n, prefix="agent"):
        return [self.letta.add_agent("%s %d" % (prefix, i),
                                     description="does %d" % i)["id"]
                for i in range(n)]

    def provision(self, *args, timeout=120, ok=True):
        res = lettamx.run(["provision"] + list(args), self.conf,
                          timeout=timeout, test=self.test)
        if ok:
            self.test.assertEqual(res.returncode, 0, "provision failed:\n"
                                  + res.stdout + res.stderr)
        return res

    def daemon(self, *args):
        return lettamx.Daemon(["provision"] + list(args), self.conf)

    # -- what the homeserver holds --------------------------------------
    def rooms(self):
        return [self.hs.room(r["room_id"]) if "state" not in r else r
                for r in self.hs.rooms()]

    def state(self, room, etype, key=""):
        for ev in room.get("state", []):
            if ev["type"] == etype and ev.get("state_key", "") == key:
                return ev["content"]
        return None

    def markers(self):
        """agent id -> [room ids carrying its marker]"""
        out = {}
        for room in self.rooms():
            m = self.state(room, MARKER)
            if m and "agent_id" in m:
                out.setdefault(m["agent_id"], []).append(room["room_id"])
        return out

    def spaces(self):
        return [r for r in self.rooms() if self.state(r, SPACE) is not None]

    def users(self):
        return [u["user_id"] for u in self.hs.control("GET", "users")["users"]]

    def displaynames(self):
        return {u["user_id"]: u["displayname"]
                for u in self.hs.control("GET", "users")["users"]}

    def writes(self, since=0):
        return [e for e in self.hs.requests(since=since)
                if e["method"] != "GET"]

    def last_seq(self):
        log = self.hs.requests()
        return log[-1]["seq"] if log else 0


class ProvisionTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        e = Env(self, **kw)
        self.addCleanup(e.close)
        return e

    def check_one_each(self, env, ids):
        marks = env.markers()
        users = env.users()
        for agent in ids:
            self.assertEqual(len(marks.get(agent, [])), 1,
                             "agent %s has rooms %r" % (agent,
                                                        marks.get(agent)))
            uid = "@letta_%s:%s" % (agent, env.hs.server_name)
            self.assertEqual(users.count(uid), 1, uid)
        self.assertEqual(len(env.spaces()), 1)


class Provision(ProvisionTest):
    def test_fifty_agents_then_a_quiet_second_run(self):
        env = self.env()
        ids = env.agents(50)
        res = env.provision()
        self.assertIn("[50/50]", res.stdout)
        self.check_one_each(env, ids)
        space = env.spaces()[0]
        children = [ev for ev in space["state"]
                    if ev["type"] == "m.space.child" and ev["content"]]
        self.assertEqual(len(children), 50)
        marks = env.markers()
        names = env.displaynames()
        for i, agent in enumerate(ids):
            room = env.hs.room(marks[agent][0])
            self.assertEqual(env.state(room, "m.room.name")["name"],
                             "agent %d" % i)
            self.assertEqual(env.state(room, "m.space.parent",
                                       space["room_id"])["via"],
                             [env.hs.server_name])
            members = env.state(room, "m.room.member", env.bot)
            self.assertEqual(members["membership"], "join")
            self.assertIsNone(env.state(room, "m.room.encryption"))
            uid = "@letta_%s:%s" % (agent, env.hs.server_name)
            self.assertEqual(names[uid], "agent %d" % i)
            self.assertEqual(env.state(room, "m.room.topic")["topic"],
                             "does %d" % i)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.writes(since=seq), [])
        self.assertEqual(env.hs.requests(path="/login$", since=seq), [])
        self.assertEqual(env.hs.requests(since=seq), [])

    def test_rename_follows(self):
        env = self.env()
        ids = env.agents(2)
        env.provision()
        env.letta.rename_agent(ids[1], "helpdesk")
        seq = env.last_seq()
        env.provision()
        room = env.hs.room(env.markers()[ids[1]][0])
        self.assertEqual(env.state(room, "m.room.name")["name"], "helpdesk")
        writes = [(e["method"], e["path"]) for e in env.writes(since=seq)]
        self.assertEqual(len(writes), 2, writes)
        status = json.loads(lettamx.run(["status", "--json"], env.conf,
                                        test=self).stdout)
        self.assertIn("helpdesk", [a["agent"] for a in status])

    def test_429_on_room_creation_waits_as_told(self):
        env = self.env()
        ids = env.agents(2)
        env.hs.inject_fault("POST", "/createRoom$", count=1, status=429,
                            retry_after_ms=1500)
        t0 = time.monotonic()
        env.provision()
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        self.check_one_each(env, ids)
        creates = env.hs.requests("POST", "/createRoom$")
        self.assertEqual([e["status"] for e in creates], [429, 200, 200, 200])
        gap = creates[1]["time"] - creates[0]["t_end"]
        self.assertGreaterEqual(gap, 1.4)

    def test_unknown_token_logs_in_once(self):
        env = self.env()
        ids = env.agents(1)
        env.provision()
        uid = "@letta_%s:%s" % (ids[0], env.hs.server_name)
        env.hs.revoke_tokens(uid)
        env.letta.rename_agent(ids[0], "renamed")
        seq = env.last_seq()
        env.provision()
        self.assertEqual(len(env.hs.requests("POST", "/login$", since=seq)),
                         1)
        seq = env.last_seq()
        env.letta.rename_agent(ids[0], "again")
        env.provision()
        self.assertEqual(env.hs.requests("POST", "/login$", since=seq), [])

    def test_status_before_any_run_says_what_to_do(self):
        env = self.env()
        env.agents(1)
        res = lettamx.run(["status"], env.conf, test=self)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("nothing provisioned yet", res.stderr)
        self.assertIn("lettamx provision", res.stderr)
        self.assertEqual(env.hs.requests(), [])

    def test_dry_run_changes_nothing(self):
        env = self.env()
        env.agents(3)
        res = env.provision("--dry-run")
        # nothing in the store: the real run looks each room up by its
        # marker before it makes one (test_recovery.py)
        self.assertIn("3 not in the store: each one's room is looked up",
                      res.stdout)
        self.assertEqual(env.hs.requests(), [])
        self.assertEqual(env.rooms(), [])


class CrashSafety(ProvisionTest):
    # (point, the request done, how many of them, the next request: held
    # by a long delay while lettamx is killed)
    POINTS = [
        ("register", "POST", "/register", 1, "PUT", "/displayname$"),
        ("createRoom", "POST", "/createRoom$", 2, "PUT",
         "/state/m.space.child/"),
        ("space link", "PUT", "/state/m.space.child/", 1, "POST", "/join/"),
    ]

    def test_kill_at_each_point(self):
        for name, dm, dp, count, hm, hp in self.POINTS:
            with self.subTest(point=name):
                env = self.env()
                ids = env.agents(1)
                env.hs.inject_fault(hm, hp, count=1, delay_ms=20000)
                d = env.daemon()
                deadline = time.monotonic() + 30
                while len(env.hs.requests(dm, dp)) < count:
                    self.assertLess(time.monotonic(), deadline, d.output())
                    time.sleep(0.02)
                time.sleep(0.3)     # now waiting on the held request
                d.stop(signal.SIGKILL)
                self.assertEqual(d.proc.returncode, -signal.SIGKILL)
                env.hs.clear_faults()
                env.provision()
                self.check_one_each(env, ids)
                seq = env.last_seq()
                env.provision()
                self.assertEqual(env.writes(since=seq), [])

    def test_sigterm_stops_at_once_and_says_so(self):
        env = self.env()
        ids = env.agents(2)
        env.hs.inject_fault("PUT", "/displayname$", count=-1, delay_ms=5000)
        d = env.daemon()
        deadline = time.monotonic() + 30
        while not env.hs.requests("POST", "/register"):
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.02)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 1, d.output())
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("interrupted", d.output())
        env.hs.clear_faults()
        env.provision()
        self.check_one_each(env, ids)

    def test_lost_create_answer(self):
        env = self.env()
        ids = env.agents(2)
        # the homeserver makes the room, the answer never arrives
        env.hs.inject_fault("POST", "/createRoom$", count=2,
                            drop="after_head")
        env.provision()
        self.check_one_each(env, ids)


class Deletion(ProvisionTest):
    def test_delete_grace_unlink_and_return(self):
        env = self.env(conf={"letta": {"delete_grace": "0s"}})
        ids = env.agents(3)
        env.provision()
        gone = env.letta.agent(ids[2])
        env.letta.delete_agent(ids[2])
        env.provision()                 # marked deleted
        env.provision()                 # past the grace: unlinked
        space = env.spaces()[0]
        room = env.markers()[ids[2]][0]
        self.assertEqual(env.state(space, "m.space.child", room), {})
        notices = [m for m in env.hs.human_read(env.bot, room)
                   if m["content"].get("msgtype") == "m.notice"]
        self.assertEqual(len(notices), 1)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.writes(since=seq), [])
        env.letta.add_agent(gone["name"], id=ids[2])    # it comes back
        env.provision()
        space = env.spaces()[0]
        self.assertEqual(env.state(space, "m.space.child", room)["via"],
                         [env.hs.server_name])
        self.check_one_each(env, ids)

    def test_return_within_grace_loses_nothing(self):
        env = self.env()
        ids = env.agents(2)
        env.provision()
        gone = env.letta.agent(ids[1])
        env.letta.delete_agent(ids[1])
        env.provision()
        seq = env.last_seq()
        env.letta.add_agent(gone["name"], id=ids[1])
        env.provision()
        self.assertEqual(env.writes(since=seq), [])
        self.check_one_each(env, ids)

    def test_empty_and_failed_listings_delete_nothing(self):
        env = self.env(conf={"letta": {"delete_grace": "0s"}})
        ids = env.agents(2)
        env.provision()
        for agent in ids:
            env.letta.delete_agent(agent)
        seq = env.last_seq()
        env.provision()
        env.provision()
        self.assertEqual(env.writes(since=seq), [])
        env.letta.inject_fault("GET", "/v1/agents/$", count=-1, status=500,
                               body={"detail": "db down"})
        res = env.provision(ok=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("Letta", res.stderr)
        self.assertEqual(env.writes(since=seq), [])
        status = json.loads(lettamx.run(["status", "--json"], env.conf,
                                        test=self).stdout)
        self.assertEqual([a["state"] for a in status], ["ok", "ok"])


class Watch(ProvisionTest):
    def wait_for(self, what, d, timeout=25):
        deadline = time.monotonic() + timeout
        while not what():
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.1)

    def test_periodic_discovery(self):
        env = self.env(conf={"letta": {"discovery_interval": "10s"}})
        ids = env.agents(2)
        d = env.daemon("--watch")
        self.addCleanup(d.stop)
        self.wait_for(lambda: len(env.markers()) == 2, d)
        time.sleep(0.5)
        seq = env.last_seq()
        env.letta.rename_agent(ids[0], "renamed")
        late = env.letta.add_agent("late")["id"]
        uid = "@letta_%s:%s" % (ids[0], env.hs.server_name)
        self.wait_for(lambda: late in env.markers() and
                      env.displaynames()[uid] == "renamed", d)
        self.assertLess(len(env.hs.requests(since=seq)), 12)
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.output())
        self.check_one_each(env, ids + [late])

    def test_sighup_reopens_the_log_and_goes_on(self):
        env = self.env(conf={"letta": {"discovery_interval": "10s"}})
        ids = env.agents(1)
        d = env.daemon("--watch")
        self.addCleanup(d.stop)
        self.wait_for(lambda: len(env.markers()) == 1, d)
        for _ in range(2):
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
        self.wait_for(lambda: d.output().count("event=log_reopened") == 2,
                      d)
        self.assertIsNone(d.proc.poll(), d.output())
        # still watching: a new agent is picked up after the SIGHUPs
        late = env.letta.add_agent("late")["id"]
        self.wait_for(lambda: late in env.markers(), d)
        self.assertIsNone(d.proc.poll(), d.output())
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.output())
        self.check_one_each(env, ids + [late])


class Letta(ProvisionTest):
    def test_bearer_token_and_a_wrong_one(self):
        env = self.env(letta_password="letta-pw", letta_token="letta-pw")
        ids = env.agents(2)
        env.provision()
        self.check_one_each(env, ids)
        lists = env.letta.requests("GET", "/v1/agents/$")
        self.assertTrue(lists)
        for e in lists:
            self.assertTrue(e["headers"].get("User-Agent"))
            self.assertTrue(e["headers"]["Authorization"].startswith(
                "Bearer ***"))
        env.letta.configure(password="changed")
        res = env.provision(ok=False)
        self.assertEqual(res.returncode, 2)
        self.assertIn("refused our credentials", res.stderr)

    def test_sleeptime_and_tags(self):
        env = self.env(conf={"letta": {"tags_include": "matrix, chat",
                                       "tags_exclude": "private"}})
        a = env.letta.add_agent("a", tags=["matrix"])["id"]
        b = env.letta.add_agent("b", tags=["chat", "other"])["id"]
        env.letta.add_agent("c", tags=["matrix", "private"])
        env.letta.add_agent("d", tags=[])
        env.letta.add_agent("a-sleeptime", tags=["matrix"],
                            agent_type="sleeptime_agent")
        env.provision()
        self.assertEqual(sorted(env.markers()), sorted([a, b]))
        self.check_one_each(env, [a, b])


class Bot(ProvisionTest):
    def test_password_login_once_then_the_stored_token(self):
        env = self.env(bot_cred="password")
        ids = env.agents(2)
        env.provision()
        self.check_one_each(env, ids)
        self.assertEqual(len(env.hs.requests("POST", "/login$")), 1)
        # the bot's token (as every agent's) is sealed at rest
        with open(os.path.join(env.work, "store", "data.mdb"), "rb") as f:
            self.assertFalse(b"syt_" in f.read(),
                             "a Matrix token in clear in the store file")
        seq = env.last_seq()
        env.letta.rename_agent(ids[0], "x")
        env.provision()
        self.assertEqual(env.hs.requests("POST", "/login$", since=seq), [])
        env.hs.revoke_tokens(env.bot)
        env.letta.add_agent("late")
        res = env.provision(ok=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("refused the bot's access token", res.stderr)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(len(env.hs.requests("POST", "/login$", since=seq)),
                         1)

    def test_shared_secret_creates_the_bot(self):
        work = lettamx.Workdir()
        path = write_secret(work.__enter__(), "shared", "s3cret-shared")
        self.addCleanup(work.__exit__, None, None, None)
        env = self.env(registration="shared-secret", bot_cred=None,
                       hs_kw={"shared_secret": "s3cret-shared"},
                       conf={"matrix": {"shared_secret_file": path}})
        ids = env.agents(2)
        env.provision()
        self.check_one_each(env, ids)
        self.assertIn(env.bot, env.users())
        # a lost store costs a login, not the bot
        seq = env.last_seq()
        import shutil
        shutil.rmtree(os.path.join(env.work, "store"))
        os.makedirs(os.path.join(env.work, "store"))
        env.provision()
        self.assertEqual(len(env.hs.requests("POST", "/login$", since=seq)),
                         3)     # the bot and both agents
        self.check_one_each(env, ids)


class Modes(ProvisionTest):
    def secret_file(self, value):
        work = lettamx.Workdir()
        path = write_secret(work.__enter__(), "secret", value)
        self.addCleanup(work.__exit__, None, None, None)
        return path

    def run_mode(self, registration, hs_config=None, **kw):
        env = self.env(registration=registration, **kw)
        if hs_config:
            env.hs.configure(**hs_config)
        ids = env.agents(3)
        env.provision()
        self.check_one_each(env, ids)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests(since=seq), [])
        return env

    def test_dummy(self):
        env = self.run_mode("dummy")
        regs = [e for e in env.hs.requests("POST", "/register$")
                if e["status"] == 200]
        self.assertEqual(len(regs), 3)
        for e in regs:
            self.assertEqual(e["body"]["auth"]["type"], "m.login.dummy")
        # the admin API only for the bot's own limits, refused (not an
        # admin), once: the answer is kept
        synapse = env.hs.requests(path="/_synapse/")
        self.assertEqual([(e["path"], e["status"]) for e in synapse],
                         [("/_synapse/admin/v1/users/%s/override_ratelimit"
                           % q(env.bot), 403)])

    def test_token(self):
        path = self.secret_file("let-me-in")
        env = self.run_mode("token",
                            hs_config={"registration": "token",
                                       "registration_token": "let-me-in"},
                            conf={"matrix": {"registration_token_file":
                                             path}})
        # as Synapse wants it: a session first, then the token in it
        by_user = {}
        for e in env.hs.requests("POST", "/register$"):
            by_user.setdefault(e["body"]["username"], []).append(e)
        self.assertEqual(len(by_user), 3)
        for first, second in by_user.values():
            self.assertEqual((first["status"], second["status"]), (401, 200))
            self.assertNotIn("auth", first["body"])
            self.assertEqual(second["body"]["auth"]["type"],
                             "m.login.registration_token")
            self.assertTrue(second["body"]["auth"]["session"])

    def test_shared_secret(self):
        path = self.secret_file("s3cret-shared")
        env = self.run_mode("shared-secret",
                            hs_kw={"shared_secret": "s3cret-shared"},
                            conf={"matrix": {"shared_secret_file": path}})
        made = [e for e in env.hs.requests("POST",
                                           "/_synapse/admin/v1/register$")
                if e["status"] == 200]
        self.assertEqual(len(made), 3)
        self.assertEqual(
            env.hs.requests("POST", "/_matrix/client/.*/register$"), [])

    def test_admin_api(self):
        env = self.run_mode("admin-api", bot_admin=True)
        self.assertEqual(len(env.hs.requests("PUT", "/_synapse/admin/v2/")),
                         3)

    def test_unsupported_modes_fail_clearly(self):
        token = self.secret_file("some-token")
        cases = [
            ("dummy", {"registration": "token"}, {}, "registration = token"),
            ("token", {}, {"registration_token_file": token},
             "registration = dummy"),
            ("shared-secret", {"synapse_admin": False},
             {"shared_secret_file": token}, "Synapse"),
            ("admin-api", {}, {}, "not a server admin"),
        ]
        for mode, hs_kw, conf, text in cases:
            with self.subTest(mode=mode):
                env = self.env(registration=mode, hs_kw=hs_kw,
                               conf={"matrix": conf})
                env.agents(8)
                res = env.provision(ok=False)
                self.assertEqual(res.returncode, 2, res.stderr)
                self.assertIn(text, res.stderr)
                # stopped at the first refusal: at most one try in each
                # of the 4 lanes already under way, no retry, no loop
                creates = env.hs.requests(path="register|/v2/users/")
                self.assertLessEqual(len(creates), 4, creates)

if __name__ == "__main__":
    unittest.main()
