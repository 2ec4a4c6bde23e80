"""lettamx as the homeserver's application service (issue #22):
`[matrix] mode = appservice` against the fake homeserver loading the
registration that `lettamx appservice registration` writes. Events are
pushed to lettamx, agent users are registered by the service and acted
as through its token (no password, no login), transactions are taken
once, and the homeserver's token is checked."""

import http.client
import json
import os
import signal
import time
import unittest

import lettamx
from bridge_env import BridgeEnv
from test_run import free_port


class AsEnv(BridgeEnv):
    """A BridgeEnv whose lettamx is the fake homeserver's application
    service. `paths`: "v1" or "legacy" (Synapse before 1.81)."""

    def __init__(self, test, n=1, paths="v1", start=True, **kw):
        self.port = free_port()
        conf = kw.pop("conf", {})
        conf.setdefault("matrix", {})["mode"] = "appservice"
        conf.setdefault("appservice", {})["listen"] = \
            "127.0.0.1:%d" % self.port
        self.paths = paths
        super().__init__(test, n=n, conf=conf, start=False, **kw)
        self.register()
        if start:
            self.start()

    def register(self):
        out = os.path.join(self.work, "registration.yaml")
        res = lettamx.run(["appservice", "registration", "-o", out],
                          self.conf, test=self.test)
        self.test.assertEqual(res.returncode, 0, res.stderr)
        self.test.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        with open(out) as f:
            self.yaml = f.read()
        self.hs.appservice_load(yaml=self.yaml, paths=self.paths,
                                retry_ms=100, retry_max_ms=500)

    def token(self, name):
        for line in self.yaml.splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip().strip("'")
        raise KeyError(name)

    def start(self, first=True):
        self.d = lettamx.Daemon(["run"], self.conf)
        self.wait(lambda: "event=live" in self.d.output(), 60)
        if first:
            self.room_of = {a: r[0] for a, r in self.markers().items()}
            for room in self.room_of.values():
                for p in self.people:
                    self.hs.human_join(self.uid(p), room)

    def put(self, path, body, token=None, query=""):
        """A request to lettamx's listener as the homeserver makes it."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        c.request("PUT", path + query, json.dumps(body), headers)
        r = c.getresponse()
        out = r.status, json.loads(r.read() or b"{}")
        c.close()
        return out


class AppService(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        e = AsEnv(self, bot_cred=None, **kw)
        self.addCleanup(e.close)
        return e

    def test_provisioned_without_passwords_and_answered(self):
        env = self.env(n=2)
        # agent users: registered by the service, never logged in
        regs = env.hs.requests("POST", r"/register$")
        self.assertEqual(len(regs), 2)
        for r in regs:
            self.assertEqual(r["body"]["type"],
                             "m.login.application_service")
            self.assertTrue(r["body"]["inhibit_login"])
            self.assertNotIn("password", r["body"])
        self.assertEqual(env.hs.requests("POST", r"/login$"), [])
        # the agent users act through the service: user_id in the query
        names = env.hs.requests("PUT", r"/profile/.*/displayname$")
        self.assertEqual(len(names), 2)
        for r in names:
            self.assertIn(r["query"]["user_id"][0],
                          [env.agent_user(a) for a in env.ids])
        a0 = env.ids[0]
        q = env.say(a0, "hello service")
        ans = env.wait_answer(a0, q, 30)
        self.assertIn("hello service", ans["content"]["body"])
        self.assertEqual(ans["sender"], env.agent_user(a0))
        self.assertIn("event=appservice_ping ok=1", env.d.output())
        # no /sync long-poll (reconcile's one full-state sync is
        # timeout=0): events come pushed
        self.assertEqual([r for r in env.hs.requests("GET", r"/sync$")
                          if int(r["query"].get("timeout", ["0"])[0])], [])

    def test_a_picture_reaches_the_agent(self):
        """An m.image pushed in a transaction is downloaded as the
        service's bot (issue 21)."""
        from test_images import png, sha
        env = self.env()
        a0 = env.ids[0]
        data = png(24, seed=2)
        up = env.hs.media_put(data, "image/png", uploader=env.uid("alice"),
                              filename="x.png")
        q = env.say(a0, "x.png", msgtype="m.image", url=up["content_uri"],
                    info={"mimetype": "image/png", "size": len(data)})
        ans = env.wait_answer(a0, q, 30)
        self.assertIn("[image image/png %d bytes]" % len(data),
                      ans["content"]["body"])
        self.assertEqual([g["sha256"] for g in env.letta.images(a0)],
                         [sha(data)])

    def test_a_transaction_resent_is_taken_once(self):
        """The homeserver did not hear our 200 and sends the same
        transaction again: one answer."""
        env = self.env()
        a0 = env.ids[0]
        env.hs.appservice_wait_idle()
        env.hs.appservice_fault(kind="transaction", drop="after_send",
                                count=1)
        q = env.say(a0, "only once please")

        def tries():
            return [p for p in env.hs.appservice_pushes("transaction")
                    if q in p["event_ids"]]
        # lettamx answered both tries; the first answer was lost
        pushes = env.wait(lambda: len(tries()) >= 2 and tries(), 20)
        self.assertEqual(len({p["txn_id"] for p in pushes}), 1, pushes)
        self.assertEqual(pushes[-1]["status"], 200, pushes)
        env.wait_answer(a0, q, 30)
        time.sleep(1.5)
        self.assertEqual(len(env.answers(a0, q)), 1)
        self.assertIn("event=txn_again", env.d.output())

    def test_killed_after_taking_a_transaction_before_the_homeserver_heard(
            self):
        """lettamx took the transaction (committed) and answered, the
        homeserver did not hear it, and lettamx is killed: the restarted
        one recognises the resend by its id from the store."""
        env = self.env()
        a0 = env.ids[0]
        env.hs.appservice_wait_idle()
        # the resend waits 3 s: long enough to kill and restart first
        env.hs.appservice_load(yaml=env.yaml, paths=env.paths,
                               retry_ms=3000, retry_max_ms=3000)
        env.hs.appservice_fault(kind="transaction", drop="after_send",
                                count=1)
        q = env.say(a0, "taken before the kill")
        env.wait(lambda: [p for p in env.hs.appservice_pushes("transaction")
                          if q in p["event_ids"] and
                          p.get("status_dropped") == 200], 20)
        env.d.proc.send_signal(signal.SIGKILL)
        env.d.proc.wait()
        env.start(first=False)
        env.wait_answer(a0, q, 30)
        # the resend reaches the new process, which knows it from the store
        env.wait(lambda: "event=txn_again" in env.d.output(), 15)
        time.sleep(1.5)
        self.assertEqual(len(env.answers(a0, q)), 1)

    def test_the_registration_keeps_its_tokens_until_rotated(self):
        env = self.env(start=False)
        out = os.path.join(env.work, "again.yaml")
        res = lettamx.run(["appservice", "registration", "-o", out],
                          env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), env.yaml)
        self.assertIn("the same tokens", res.stderr)
        res = lettamx.run(["appservice", "registration", "-o", out,
                           "--rotate"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("must load this file again", res.stderr)
        with open(out) as f:
            rotated = f.read()
        self.assertNotEqual(rotated, env.yaml)
        self.assertNotIn(env.token("as_token"), rotated)
        # the tokens are not printed anywhere but the file
        self.assertNotIn(env.token("as_token"), res.stdout + res.stderr)
        # without -o: the registration on standard output, nothing else
        res = lettamx.run(["appservice", "registration"], env.conf,
                          test=self)
        self.assertEqual(res.stdout, rotated)

    def test_a_transaction_pushed_while_lettamx_is_down(self):
        """kill -9 before the transaction came: the homeserver's tries
        are refused until lettamx is back, then it is taken once (the
        other side of a crash, after the commit and before the 200, is
        the lost answer above)."""
        env = self.env()
        a0 = env.ids[0]
        env.hs.appservice_fault(kind="transaction", delay_ms=3000, count=1)
        q = env.say(a0, "across a crash")
        time.sleep(1)
        env.d.proc.send_signal(signal.SIGKILL)
        env.d.proc.wait()
        env.start(first=False)
        env.wait_answer(a0, q, 60)
        time.sleep(1.5)
        self.assertEqual(len(env.answers(a0, q)), 1)

    def test_the_homeservers_token_is_checked(self):
        env = self.env()
        hs_token = env.token("hs_token")
        ev = {"events": [{"room_id": env.room_of[env.ids[0]],
                          "type": "m.room.message", "event_id": "$forged",
                          "sender": env.uid("alice"),
                          "content": {"msgtype": "m.text",
                                      "body": "forged"}}]}
        st, body = env.put("/_matrix/app/v1/transactions/f1", ev)
        self.assertEqual((st, body["errcode"]), (401, "M_UNAUTHORIZED"))
        st, body = env.put("/_matrix/app/v1/transactions/f1", ev,
                           token="wrong")
        self.assertEqual((st, body["errcode"]), (403, "M_FORBIDDEN"))
        st, body = env.put("/transactions/f1", ev,
                           query="?access_token=wrong")
        self.assertEqual((st, body["errcode"]), (403, "M_FORBIDDEN"))
        time.sleep(1)
        self.assertEqual(env.sends(env.ids[0]), [])
        # the right one, the legacy way: taken
        st, body = env.put("/transactions/f2", ev,
                           query="?access_token=" + hs_token)
        self.assertEqual((st, body), (200, {}))
        env.wait(lambda: env.sends(env.ids[0]), 20)

    def test_the_users_and_rooms_queries(self):
        env = self.env()
        tok = env.token("hs_token")
        c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
        for path, want in (
                ("/_matrix/app/v1/users/" +
                 env.agent_user(env.ids[0]).replace("@", "%40")
                 .replace(":", "%3A"), 200),
                ("/_matrix/app/v1/users/%40letta_nobody%3Alocalhost", 404),
                ("/_matrix/app/v1/rooms/%23x%3Alocalhost", 404)):
            c.request("GET", path, headers={"Authorization":
                                            "Bearer " + tok})
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, want, path)
            c.close()

    def test_a_thousand_agents_under_stock_limits_without_a_429(self):
        env = self.env(n=1000, start=False)
        env.hs.configure(rate_limit={"profile": "synapse-defaults"})
        res = env.provision(timeout=900)
        self.assertIn(" 0 failed", res.stdout)
        log = env.hs.requests()
        self.assertEqual([r["path"] for r in log if r["status"] == 429], [])
        self.assertEqual(len(env.markers()), 1000)
        self.assertEqual([r for r in log if r["path"].endswith("/login")],
                         [])
        # no agent has a password or a token of its own in the store
        out = os.path.join(env.work, "agents.json")
        res = lettamx.run(["export-json", out, "--with-secrets"], env.conf,
                          test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(out) as f:
            rows = json.load(f)
        self.assertEqual(len(rows), 1000)
        self.assertEqual([r for r in rows.values() if
                          "matrix_password" in r], [])

    def dm(self, env, agent_id, person="alice", direct=True):
        """person starts a chat with the agent user: the room."""
        return env.hs.human_create_room(
            env.uid(person), invite=[env.agent_user(agent_id)],
            is_direct=direct, preset="trusted_private_chat")

    def joined(self, env, room, user):
        state = env.hs.room(room)["state"]
        return any(ev["type"] == "m.room.member" and
                   ev["state_key"] == user and
                   ev["content"].get("membership") == "join"
                   for ev in state)

    def test_a_direct_chat_with_an_agent_is_answered(self):
        env = self.env(n=2)
        a1 = env.ids[1]
        room = self.dm(env, a1)
        user = env.agent_user(a1)
        env.wait(lambda: self.joined(env, room, user), 20)
        env.room_of[a1] = room          # read this room from now on
        q = env.say(a1, "hello in private")
        ans = env.wait_answer(a1, q, 30)
        self.assertIn("hello in private", ans["content"]["body"])
        self.assertEqual(ans["sender"], user)
        # marked, as the agent user's room account data
        marks = env.hs.requests("PUT", r"/rooms/.*/account_data/"
                                       r"org\.lettamx\.dm$")
        self.assertEqual(len(marks), 1)
        self.assertEqual(marks[0]["body"]["agent_id"], a1)
        self.assertEqual(marks[0]["body"]["person"], env.uid("alice"))
        # the record survives a restart, and the agent answers there;
        # joined and marked, the chat costs that start no request
        env.d.stop()
        seq = env.last_seq()
        env.start(first=False)
        q = env.say(a1, "still there?")
        self.assertIn("still there?",
                      env.wait_answer(a1, q, 30)["content"]["body"])
        self.assertEqual(env.hs.requests("POST", r"/join/", since=seq), [])

    def test_a_restored_store_finds_the_direct_chat_by_its_mark(self):
        env = self.env()
        a0 = env.ids[0]
        env.wait(lambda: "event=dm_scanned" in env.d.output(), 20)
        env.d.stop()
        res = lettamx.run(["snapshot", "--reason", "before-dm"], env.conf,
                          test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        snap = res.stdout.split()[1].rstrip(":")
        env.start(first=False)
        room = self.dm(env, a0)
        env.wait(lambda: self.joined(env, room, env.agent_user(a0)), 20)
        env.wait(lambda: env.hs.requests("PUT", r"/account_data/"), 20)
        env.d.stop()
        # the store goes back to before the direct chat was made
        res = lettamx.run(["restore", snap], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        env.start(first=False)
        env.wait(lambda: "event=dm_found room=%s" % room in env.d.output(),
                 20)
        env.room_of[a0] = room
        q = env.say(a0, "do you remember me")
        self.assertIn("do you remember me",
                      env.wait_answer(a0, q, 30)["content"]["body"])

    def test_invites_from_others_or_not_direct_are_declined(self):
        env = self.env(people=("alice", "eve"),
                       bridge={"allow": "@alice:localhost"})
        a0 = env.ids[0]
        user = env.agent_user(a0)
        eve = self.dm(env, a0, person="eve")
        group = self.dm(env, a0, direct=False)

        def left(room):
            return any(ev["type"] == "m.room.member" and
                       ev["state_key"] == user and
                       ev["content"].get("membership") == "leave"
                       for ev in env.hs.room(room)["state"])
        env.wait(lambda: left(eve) and left(group), 20)
        reasons = [ev["content"].get("reason", "")
                   for room in (eve, group)
                   for ev in env.hs.room(room)["state"]
                   if ev["type"] == "m.room.member" and
                   ev["state_key"] == user]
        self.assertIn("you may not talk to this bridge's agents", reasons)
        self.assertIn("agents join direct chats only", reasons)
        self.assertFalse(self.joined(env, eve, user))

    def test_a_store_from_client_mode_is_taken_over(self):
        """Agents provisioned in client mode (passwords, logins), then the
        same store in appservice mode: the same users and rooms, acted as
        through the service's token, no login, and they answer."""
        lettamx.require_binary(self)
        env = BridgeEnv(self, n=1, start=False)
        self.addCleanup(env.close)
        env.provision()
        rooms = env.markers()
        with open(env.conf) as f:
            text = f.read()
        port = free_port()
        text = text.replace("[matrix]\n", "[matrix]\nmode = appservice\n", 1)
        text += "\n[appservice]\nlisten = 127.0.0.1:%d\n" % port
        with open(env.conf, "w") as f:
            f.write(text)
        out = os.path.join(env.work, "registration.yaml")
        res = lettamx.run(["appservice", "registration", "-o", out],
                          env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(out) as f:
            env.hs.appservice_load(yaml=f.read(), retry_ms=100,
                                   retry_max_ms=500)
        seq = env.last_seq()
        AsEnv.start(env)        # no /sync in appservice mode to wait for
        self.assertEqual(env.markers(), rooms)          # nothing new made
        self.assertEqual(env.hs.requests("POST", r"/login$", since=seq), [])
        a0 = env.ids[0]
        q = env.say(a0, "after the move")
        self.assertIn("after the move",
                      env.wait_answer(a0, q, 30)["content"]["body"])
        sends = env.hs.requests("PUT", r"/send/m\.room\.message/",
                                since=seq)
        self.assertTrue(any(r["query"].get("user_id") ==
                            [env.agent_user(a0)] for r in sends), sends)

    def test_legacy_paths(self):
        env = self.env(paths="legacy")
        a0 = env.ids[0]
        q = env.say(a0, "an older synapse")
        env.wait_answer(a0, q, 30)
        pushes = env.hs.appservice_pushes("transaction")
        self.assertTrue(pushes)
        self.assertTrue(all(p["path"].startswith("/transactions/")
                            for p in pushes), pushes)


if __name__ == "__main__":
    unittest.main()
