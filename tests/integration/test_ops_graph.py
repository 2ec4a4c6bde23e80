"""check's room-graph checks (1, 2, 6, 7) and dedupe, over the
reconcile's one-request graph read, against the fake homeserver (issue
13); seed 000's incident replayed.
"""

import json
import os
from urllib.parse import quote

import lettamx
from test_provision import ProvisionTest

MARKER = "org.lettamx.agent"
CS = "/_matrix/client/v3"


def q(s):
    return quote(s, safe="")


class GraphTest(ProvisionTest):
    def lx(self, env, *args):
        return lettamx.run(list(args), env.conf, timeout=120, test=self)

    def check(self, env, code):
        res = self.lx(env, "check")
        self.assertEqual(res.returncode, code, res.stdout + res.stderr)
        return res.stdout

    def status(self, env):
        res = self.lx(env, "status", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        return {a["agent_id"]: a for a in json.loads(res.stdout)}

    def user(self, env, aid):
        return "@letta_%s:%s" % (aid, env.hs.server_name)

    def provisioned(self, n=3):
        env = self.env()
        ids = env.agents(n)
        env.provision()
        return env, ids

    def lines(self, out, check):
        return [l for l in out.splitlines()
                if l.startswith("problem [%s]" % check)]


class GraphChecks(GraphTest):
    def test_healthy_with_the_graph_in_one_request(self):
        env, ids = self.provisioned(5)
        seq = env.last_seq()
        out = self.check(env, 0)
        self.assertIn("healthy: 5 agents", out)
        syncs = env.hs.requests("GET", "/sync$", since=seq)
        self.assertEqual(len(syncs), 1)
        # one sync, one whoami per agent: no request per room
        self.assertEqual(len(env.hs.requests(since=seq)), 1 + 5)

    def test_1_the_bot_left_a_room(self):
        env, ids = self.provisioned()
        room = self.status(env)[ids[1]]["room"]
        env.hs._ok(env.bot, "POST", CS + "/rooms/%s/leave" % q(room), {})
        bad = self.lines(self.check(env, 1), "1")
        self.assertEqual(len(bad), 1, bad)
        self.assertIn(ids[1], bad[0])
        self.assertIn("stale mapping", bad[0])
        self.assertIn("fix: lettamx reconcile", bad[0])

    def test_1_the_agent_user_left_its_room(self):
        env, ids = self.provisioned()
        room = self.status(env)[ids[2]]["room"]
        env.hs._ok(self.user(env, ids[2]), "POST",
                   CS + "/rooms/%s/leave" % q(room), {})
        bad = self.lines(self.check(env, 1), "1")
        self.assertEqual(len(bad), 1, bad)
        self.assertIn("its user %s is not joined" % self.user(env, ids[2]),
                      bad[0])

    def test_2_the_bot_left_the_space(self):
        env, ids = self.provisioned()
        space = env.spaces()[0]["room_id"]
        env.hs._ok(env.bot, "POST", CS + "/rooms/%s/leave" % q(space), {})
        bad = self.lines(self.check(env, 1), "2")
        self.assertTrue(any("the bot is not joined to the Space" in l and
                            "fix: lettamx provision" in l for l in bad), bad)

    def test_6_the_store_records_another_space(self):
        env, ids = self.provisioned()
        old = env.spaces()[0]
        mark = env.state(old, "org.lettamx.space")
        new = env.hs._ok(env.bot, "POST", CS + "/createRoom", {
            "creation_content": {"type": "m.space"}, "initial_state": [
                {"type": "org.lettamx.space", "state_key": "",
                 "content": mark}]})["room_id"]
        env.hs._ok(env.bot, "POST", CS + "/rooms/%s/leave" %
                   q(old["room_id"]), {})
        out = self.check(env, 1)
        bad = self.lines(out, "6")
        self.assertEqual(len(bad), 1, out)
        self.assertIn("'%s' but the server's is %s" % (old["room_id"], new),
                      bad[0])
        self.assertIn("fix: lettamx reconcile", bad[0])

    def test_7_marker_and_links(self):
        env, ids = self.provisioned()
        st = self.status(env)
        space = env.spaces()[0]["room_id"]
        # a room whose marker names another agent (sent by the bot)
        env.hs._ok(env.bot, "PUT", CS + "/rooms/%s/state/%s/" % (
            q(st[ids[0]]["room"]), MARKER), {"agent_id": ids[1], "v": 1})
        # a room unlinked from the Space
        env.hs._ok(env.bot, "PUT", CS + "/rooms/%s/state/m.space.child/%s"
                   % (q(space), q(st[ids[2]]["room"])), {})
        out = self.check(env, 1)
        bad = self.lines(out, "7")
        self.assertEqual(len(bad), 2, out)
        self.assertTrue(any(ids[0] in l and "the marker of its room" in l
                            for l in bad), bad)
        self.assertTrue(any(ids[2] in l and "child missing" in l and
                            "fix: lettamx provision" in l for l in bad), bad)


class Dedupe(GraphTest):
    def duplicate(self, env, aid, name):
        """A second room for agent aid, as a crashed older bridge left it:
        made by the agent user with our marker, the bot joined, linked."""
        user = self.user(env, aid)
        space = env.spaces()[0]["room_id"]
        room = env.hs._ok(user, "POST", CS + "/createRoom", {
            "name": name, "preset": "private_chat",
            "invite": [env.bot, "@alice:%s" % env.hs.server_name],
            "initial_state": [{"type": MARKER, "state_key": "",
                               "content": {"agent_id": aid, "v": 1}}]
        })["room_id"]
        env.hs._ok(env.bot, "POST", CS + "/join/%s" % q(room), {})
        env.hs._ok("@alice:%s" % env.hs.server_name, "POST",
                   CS + "/join/%s" % q(room), {})
        env.hs._ok(env.bot, "PUT", CS + "/rooms/%s/state/m.space.child/%s"
                   % (q(space), q(room)), {"via": [env.hs.server_name]})
        return room

    def test_seed_000_replayed(self):
        env = self.env()
        env.hs.human_register("alice")
        ids = env.agents(30)
        env.provision()
        before = self.status(env)
        dups = {aid: self.duplicate(env, aid, "dup of %s" % aid)
                for aid in ids[:10]}
        # two mappings point at a room the bot has left (seed 000's
        # stale mappings): their only room that counts is the duplicate
        for aid in ids[:2]:
            env.hs._ok(env.bot, "POST", CS + "/rooms/%s/leave" %
                       q(before[aid]["room"]), {})
        self.assertEqual(self.lx(env, "check").returncode, 1)
        dry = self.lx(env, "dedupe", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stdout + dry.stderr)
        self.assertIn("10 agents to fix", dry.stdout)
        self.assertEqual(self.status(env), before)
        res = self.lx(env, "dedupe")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        # the snapshot it made holds the mapping before the change
        snaps = os.path.join(env.work, "store", "snapshots")
        name = [l.split()[1] for l in res.stdout.splitlines()
                if l.startswith("snapshot ")][0]
        with open(os.path.join(snaps, name + ".json")) as f:
            self.assertEqual(json.load(f)["reason"], "dedupe")
        res2 = self.lx(env, "restore", name, "--dry-run")
        self.assertEqual(res2.returncode, 0, res2.stderr)
        after = self.status(env)
        for aid in ids:
            keep = dups[aid] if aid in ids[:2] else before[aid]["room"]
            self.assertEqual(after[aid]["room"], keep, aid)
        # tombstones in the folded duplicates, pointing at the keeper
        for aid in ids[2:10]:
            room = env.hs.room(dups[aid])
            tomb = env.state(room, "m.room.tombstone")
            self.assertEqual(tomb["replacement_room"], before[aid]["room"])
            self.assertNotIn(env.bot, [r for r in env.hs.rooms()
                                       if r["room_id"] == dups[aid]][0]
                             ["joined"])
            kept = [r for r in env.hs.rooms()
                    if r["room_id"] == before[aid]["room"]][0]
            self.assertIn("@alice:%s" % env.hs.server_name,
                          kept["invited"] + kept["joined"])
        # no agent points at a room the bot left
        joined = {r["room_id"] for r in env.hs.rooms()
                  if env.bot in r["joined"]}
        for aid in ids:
            self.assertIn(after[aid]["room"], joined, aid)
        self.assertIn("healthy: 30 agents", res.stdout)
        self.assertEqual(self.lx(env, "check").returncode, 0)
        # the snapshot really is the state before: restore it and compare
        self.assertEqual(self.lx(env, "restore", name).returncode, 0)
        self.assertEqual(self.status(env), before)
