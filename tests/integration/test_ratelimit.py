"""Real homeservers' rate limits (issue 9), against the fake's
`synapse-defaults` profile: Synapse 1.67's stock buckets, answering as
Synapse does (retry_after_ms in the body, no header).

The profile runs at `time_scale` 0.1 here (every bucket refills ten times
as fast and says so: `retry_after_ms` is the real time to the next token
of this fake), so a test of 30 agents takes seconds, not minutes; the
order and the number of 429s are the same as at full speed. Every wait is
checked against what the server told lettamx, from the request log.
"""

import json
import os
import re
import shutil
import threading
import time

import lettamx
from test_provision import Env, ProvisionTest, write_secret

SCALE = 0.1
PROFILE = {"profile": "synapse-defaults", "time_scale": SCALE}
ADMIN = "/_synapse/admin/v1/users/"


def bucket_key(entry):
    """Which of the fake's buckets a logged request takes (None: none)."""
    method, path, user = entry["method"], entry["path"], entry.get("user")
    if method == "POST" and re.search(r"/register$", path):
        return ("register",)
    if method == "POST" and re.search(r"/client/v3/login$", path):
        return ("login",)
    if path.startswith("/_synapse/") or method == "GET":
        return None
    if re.search(r"/join(/|$)", path):
        return ("join", user)
    if re.search(r"/(leave|kick|forget)$", path):
        return None
    return ("message", user)


IN_FLIGHT = 0.02


def same(a, b):
    """The same request sent again (a retry), by method, path, sender
    and body."""
    return (a["method"], a["path"], a.get("user"),
            json.dumps(a["body"], sort_keys=True)) == \
        (b["method"], b["path"], b.get("user"),
         json.dumps(b["body"], sort_keys=True))


class Limits(ProvisionTest):
    def limited_env(self, n, header=False, **kw):
        env = self.env(**kw)
        env.hs.configure(rate_limit=dict(PROFILE, header=header))
        return env, env.agents(n)

    def assert_waits_honoured(self, env):
        """After each 429: the same request again, not before the time the
        server said; and no other request of that bucket either, but for
        those already on their way (one per lane, sent before lettamx
        read the 429: within IN_FLIGHT of it)."""
        log = env.hs.requests()
        told = [e for e in log if e["status"] == 429]
        for e in told:
            key, until = bucket_key(e), e["t_end"] + \
                e["retry_after_ms"] / 1000.0
            later = [x for x in log if x["seq"] > e["seq"]
                     and bucket_key(x) == key]
            again = [x for x in later if same(x, e)]
            self.assertTrue(again, "never retried: %r" % e["path"])
            self.assertGreaterEqual(again[0]["time"], until,
                                    "retried %.3f s early (told %d ms)" % (
                                        until - again[0]["time"],
                                        e["retry_after_ms"]))
            early = [x for x in later if e["t_end"] + IN_FLIGHT <
                     x["time"] < until]
            self.assertEqual(early, [], "bucket %r used %.3f s before the "
                             "told %d ms ended" % (
                                 key, (until - early[0]["time"])
                                 if early else 0, e["retry_after_ms"]))
            self.assertLessEqual(len([x for x in later if x["time"] <
                                      e["t_end"] + IN_FLIGHT]), 3)
        return told

    def test_thirty_agents_non_admin_bot_no_failure(self):
        env, ids = self.limited_env(30)
        res = env.provision(timeout=600)
        self.check_one_each(env, ids)
        self.assertIn(" 0 failed", res.stdout)
        told = self.assert_waits_honoured(env)
        # stock limits do bite: registrations, the bot's joins and links
        self.assertGreater(len(told), 10)
        # and while one bucket waits, the others go on
        log = env.hs.requests()
        joins = [e for e in told if bucket_key(e)[0] == "join"]
        self.assertTrue(joins)
        during = [x for e in joins for x in log
                  if e["t_end"] < x["time"] < e["t_end"] +
                  e["retry_after_ms"] / 1000.0 and x["status"] == 200
                  and bucket_key(x) != bucket_key(e)]
        self.assertTrue(during, "nothing else was done while the bot's "
                        "joins were limited")
        self.assertRegex(res.stdout, r"rate limits: \d+\.\d s waited "
                         r"\(%d answers 429\), not lifted \(the bot is not "
                         r"a server admin\)" % len(told))
        space = env.spaces()[0]
        links = [ev for ev in space["state"]
                 if ev["type"] == "m.space.child" and ev["content"]]
        self.assertEqual(len(links), 30)
        for agent in ids:
            room = env.hs.room(env.markers()[agent][0])
            self.assertEqual(env.state(room, "m.room.member",
                                       env.bot)["membership"], "join")
        # the non-admin bot asked once; the answer is kept
        overrides = env.hs.requests("POST", ADMIN + ".*/override_ratelimit")
        self.assertEqual([e["status"] for e in overrides], [403])
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests(since=seq), [])
        status = lettamx.run(["status"], env.conf, test=self).stdout
        self.assertIn("Rate limits: not lifted: the bot is not a server "
                      "admin", status)

    def test_header_too_the_larger_wins(self):
        env, ids = self.limited_env(12, header=True)
        env.provision(timeout=600)
        self.check_one_each(env, ids)
        log = env.hs.requests()
        for e in [x for x in log if x["status"] == 429]:
            # the header says whole seconds (rounded up, at least the
            # body's ms): the larger is what lettamx waits
            e["retry_after_ms"] = max(e["retry_after_ms"], 1000 * -(
                -e["retry_after_ms"] // 1000))
        self.assert_waits_honoured(env)

    def test_everything_refused_for_a_minute_then_recovers(self):
        env = self.env()
        ids = env.agents(3)
        env.hs.inject_fault("*", "^/_matrix/client/", count=-1, status=429,
                            retry_after_ms=4000)
        t0 = time.monotonic()
        timer = threading.Timer(60.0, env.hs.clear_faults)
        timer.start()
        self.addCleanup(timer.cancel)
        res = env.provision(timeout=240)
        self.assertGreaterEqual(time.monotonic() - t0, 60.0)
        self.check_one_each(env, ids)
        self.assertIn(" 0 failed", res.stdout)
        refused = [e for e in env.hs.requests() if e["status"] == 429]
        self.assertGreater(len(refused), 10)

    def test_deadline_ends_a_one_off_run(self):
        env = self.env(conf={"matrix": {"provision_deadline": "3s"}})
        env.agents(2)
        env.hs.inject_fault("*", "^/_matrix/client/", count=-1, status=429,
                            retry_after_ms=60000)
        t0 = time.monotonic()
        res = env.provision(ok=False, timeout=60)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(res.returncode, 1)
        self.assertIn("deadline", res.stderr)


class AdminBot(ProvisionTest):
    def test_hundred_agents_one_429_at_most_then_silence(self):
        env = self.env(bot_admin=True, registration="admin-api")
        env.hs.configure(rate_limit=PROFILE)
        ids = env.agents(100)
        res = env.provision(timeout=600)
        self.check_one_each(env, ids)
        log = env.hs.requests()
        per_user = {}
        for e in log:
            if e["status"] == 429:
                per_user[e.get("user")] = per_user.get(e.get("user"), 0) + 1
        self.assertTrue(all(n <= 1 for n in per_user.values()), per_user)
        # limits lifted for the bot and each agent user, once
        lifted = [e["path"] for e in env.hs.requests(
            "POST", ADMIN + ".*/override_ratelimit") if e["status"] == 200]
        self.assertEqual(len(lifted), 101)
        # tokens from the admin login API, no password login at all
        self.assertEqual(len([e for e in env.hs.requests(
            "POST", ADMIN + ".*/login$") if e["status"] == 200]), 100)
        self.assertEqual(env.hs.requests("POST", "/client/v3/login$"), [])
        self.assertIn("rate limits: ", res.stdout)
        self.assertIn("lifted for the bot and its users", res.stdout)
        self.assertIn("100 admin logins, 0 password logins", res.stdout)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests(since=seq), [])
        status = lettamx.run(["status"], env.conf, test=self).stdout
        self.assertIn("Rate limits: lifted", status)

    def test_admin_login_absent_falls_back_to_password(self):
        env = self.env(bot_admin=True, registration="admin-api")
        env.hs.configure(rate_limit=PROFILE, admin_login=False)
        ids = env.agents(5)
        res = env.provision(timeout=300)
        self.check_one_each(env, ids)
        tried = env.hs.requests("POST", ADMIN + ".*/login$")
        self.assertEqual([e["status"] for e in tried], [404])
        logins = env.hs.requests("POST", "/client/v3/login$")
        self.assertEqual(len([e for e in logins if e["status"] == 200]), 5)
        self.assertIn("0 admin logins, 5 password logins", res.stdout)

    def test_override_off_asks_nothing(self):
        env = self.env(bot_admin=True,
                       conf={"matrix": {"rate_limit_override": "off"}})
        ids = env.agents(3)
        env.provision()
        self.check_one_each(env, ids)
        self.assertEqual(env.hs.requests(path="override_ratelimit"), [])
        status = lettamx.run(["status"], env.conf, test=self).stdout
        self.assertIn("rate_limit_override = off", status)


class Lifted(ProvisionTest):
    def test_shared_secret_makes_an_admin_bot_that_lifts_limits(self):
        work = lettamx.Workdir()
        path = write_secret(work.__enter__(), "shared", "s3cret-shared")
        self.addCleanup(work.__exit__, None, None, None)
        env = self.env(registration="shared-secret", bot_cred=None,
                       hs_kw={"shared_secret": "s3cret-shared"},
                       conf={"matrix": {"shared_secret_file": path}})
        env.hs.configure(rate_limit=PROFILE)
        ids = env.agents(3)
        env.provision()
        self.check_one_each(env, ids)
        users = {u["user_id"]: u for u in
                 env.hs.control("GET", "users")["users"]}
        self.assertTrue(users[env.bot]["admin"])
        lifted = [e for e in env.hs.requests(
            "POST", ADMIN + ".*/override_ratelimit") if e["status"] == 200]
        self.assertEqual(len(lifted), 4)


class SpaceAccess(ProvisionTest):
    def test_people_invited_to_the_space_only(self):
        env = self.env(conf={"matrix": {"access": "space",
                                        "invite": "@alice:localhost"}})
        alice = env.hs.human_register("alice")["user_id"]
        carol = env.hs.human_register("carol")["user_id"]
        ids = env.agents(3)
        env.provision()
        self.check_one_each(env, ids)
        space = env.spaces()[0]
        self.assertEqual(env.state(space, "m.room.member",
                                   alice)["membership"], "invite")
        invites = [e for e in env.hs.requests("POST", "/createRoom$")
                   if alice in e["body"].get("invite", [])]
        self.assertEqual(len(invites), 1)       # the Space's only
        for agent in ids:
            room = env.hs.room(env.markers()[agent][0])
            rule = env.state(room, "m.room.join_rules")
            self.assertEqual(rule["join_rule"], "restricted")
            self.assertEqual(rule["allow"], [{"type": "m.room_membership",
                                              "room_id": space["room_id"]}])
            self.assertIsNone(env.state(room, "m.room.member", alice))
            status, _ = env.hs.act(carol, "POST",
                                   "/_matrix/client/v3/join/" +
                                   q(room["room_id"]), {})
            self.assertEqual(status, 403)
        env.hs.human_join(alice, space["room_id"])
        for agent in ids:
            env.hs.human_join(alice, env.markers()[agent][0])


class SpaceMarker(ProvisionTest):
    def test_marker_names_this_installation(self):
        env = self.env()
        env.agents(1)
        env.provision()
        space = env.spaces()[0]
        mark = env.state(space, "org.lettamx.space")
        self.assertEqual(set(mark), {"v", "install", "bot"})
        self.assertEqual(mark["bot"], env.bot)
        self.assertRegex(mark["install"], "^[0-9a-f]{16}$")
        sender = [ev["sender"] for ev in space["state"]
                  if ev["type"] == "org.lettamx.space"]
        self.assertEqual(sender, [env.bot])

    def test_older_space_gets_the_fields_once(self):
        env = self.env()
        ids = env.agents(1)
        env.provision()
        space = env.spaces()[0]["room_id"]
        # as an earlier version left it
        env.hs.act(env.bot, "PUT", "/_matrix/client/v3/rooms/%s/state/"
                   "org.lettamx.space/" % q(space), {"v": 1})
        store = os.path.join(env.work, "store")
        shutil.rmtree(store)           # the marker's record goes too
        env.provision()
        self.check_one_each(env, ids)
        self.assertEqual(env.spaces()[0]["room_id"], space)
        mark = env.state(env.hs.room(space), "org.lettamx.space")
        self.assertEqual(mark["bot"], env.bot)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests(since=seq), [])

    def test_another_installations_space_is_never_adopted(self):
        env = self.env()
        ids = env.agents(1)
        other = env.hs.human_create_room(
            env.bot, name="Letta Agents", creation_content={"type":
                                                            "m.space"},
            initial_state=[{"type": "org.lettamx.space", "state_key": "",
                            "content": {"v": 1, "install":
                                        "ffffffffffffffff",
                                        "bot": env.bot}}])
        forged = env.hs.human_register("mallory")["user_id"]
        fake = env.hs.human_create_room(
            forged, name="Letta Agents", invite=[env.bot],
            creation_content={"type": "m.space"},
            initial_state=[{"type": "org.lettamx.space", "state_key": "",
                            "content": {"v": 1}}])
        env.hs.human_join(env.bot, fake)
        env.provision()
        self.assertEqual(len(env.markers()[ids[0]]), 1)
        ours = [r["room_id"] for r in env.spaces()
                if r["room_id"] not in (other, fake)]
        self.assertEqual(len(ours), 1)
        room = env.hs.room(env.markers()[ids[0]][0])
        self.assertIsNotNone(env.state(room, "m.space.parent", ours[0]))


def q(value):
    import urllib.parse
    return urllib.parse.quote(value, safe="")


del Env
