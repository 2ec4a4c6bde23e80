"""lettamx reconcile against the fakes (issue 10: the daemon's boot).

The store is a cache of the room graph the homeserver keeps: lose it,
restore an old snapshot, plant the cases the rules name (a room not
linked in the Space, two rooms claiming one agent, a kicked bot, a
tombstone, a forged copied marker, a deleted Space), and reconcile must
bring back what the graph says, with one /sync whatever the number of
rooms, no room made, no login, nothing written on the server, and
nothing changed by a second run. Assertions come from the fakes' state
and request logs and from `status --json`, never from lettamx's word
alone.
"""

import glob
import json
import os
import shutil
import time
import unittest

import lettamx
from fakes import FakeHomeserver, make_cert, q
from test_provision import MARKER, Env, ProvisionTest

C = "/_matrix/client/v3"


class ReconcileTest(ProvisionTest):
    def reconcile(self, env, *args, code=0):
        res = lettamx.run(["reconcile", "--json"] + list(args), env.conf,
                          timeout=120, test=self)
        self.assertEqual(res.returncode, code, res.stdout + res.stderr)
        return json.loads(res.stdout) if code == 0 else res

    def status(self, env):
        res = lettamx.run(["status", "--json"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        return {a["agent_id"]: a for a in json.loads(res.stdout)}

    def lose_store(self, env):
        shutil.rmtree(os.path.join(env.work, "store"))

    def agent_user(self, env, agent):
        return "@letta_%s:%s" % (agent, env.hs.server_name)

    def space_id(self, env):
        spaces = env.spaces()
        self.assertEqual(len(spaces), 1)
        return spaces[0]["room_id"]

    def no_server_change(self, env, seq):
        """Reconcile only reads: GETs, no createRoom, no login."""
        log = env.hs.requests(since=seq)
        self.assertEqual([e for e in log if e["method"] != "GET"], [])
        return log


class LostStore(ReconcileTest):
    def test_lost_store_all_back_one_sync_for_20_and_200(self):
        env = self.env()
        counts = {}
        ids = []
        for n in (20, 200):
            ids += env.agents(n - len(ids), prefix="batch%d" % n)
            env.provision(timeout=600)
            before = self.status(env)
            self.assertEqual(len(before), n)
            self.lose_store(env)
            seq = env.last_seq()
            rep = self.reconcile(env)
            log = self.no_server_change(env, seq)
            self.assertEqual(env.hs.requests(path="/createRoom",
                                             since=seq), [])
            self.assertEqual(env.hs.requests(path="/login", since=seq), [])
            counts[n] = len(log)
            self.assertEqual(rep["requests"], len(log))
            self.assertEqual(rep["restored"], n, rep)
            self.assertEqual((rep["repaired"], rep["conflicts"],
                              rep["forged"], rep["stale"]), (0, 0, 0, 0))
            self.assertEqual(rep["space"], "found")
            self.assertEqual(rep["space_id"], self.space_id(env))
            self.assertEqual(rep["rooms"], n + 1)
            after = self.status(env)
            self.assertEqual({a: r["room"] for a, r in after.items()},
                             {a: r["room"] for a, r in before.items()})
            for a in after.values():
                self.assertTrue(a["linked"], a)
            # one sync: whoami + /sync, whatever the number of rooms
            syncs = [e for e in log if "/sync" in e["path"]]
            self.assertEqual(len(syncs), 1)
        self.assertEqual(counts[20], counts[200])
        self.assertEqual(counts[20], 2)
        # a second reconcile changes nothing, and takes no snapshot
        snaps = os.path.join(env.work, "store", "snapshots", "*.json")
        n_snaps = len(glob.glob(snaps))
        data = os.path.join(env.work, "store", "data.mdb")
        with open(data, "rb") as f:
            before_bytes = f.read()
        seq = env.last_seq()
        rep = self.reconcile(env)
        self.assertFalse(rep["changed"], rep)
        self.assertEqual(rep["snapshot"], "")
        self.assertEqual(len(glob.glob(snaps)), n_snaps)
        with open(data, "rb") as f:
            self.assertEqual(f.read(), before_bytes)
        self.assertEqual((rep["kept"], rep["restored"], rep["repaired"]),
                         (200, 0, 0))
        self.no_server_change(env, seq)
        # provisioning afterwards makes nothing new
        seq = env.last_seq()
        env.provision(timeout=600)
        self.assertEqual(env.hs.requests(path="/createRoom", since=seq), [])
        self.check_one_each(env, ids)

    def test_the_sync_is_filtered_full_state_without_timeline(self):
        env = self.env()
        env.agents(2)
        env.provision()
        seq = env.last_seq()
        self.reconcile(env)
        sync = [e for e in env.hs.requests(since=seq)
                if "/sync" in e["path"]][0]
        query = sync["query"]
        self.assertEqual(query["full_state"], ["true"])
        self.assertEqual(query["timeout"], ["0"])
        filt = json.loads(query["filter"][0])      # inline: no upload
        self.assertEqual(env.hs.requests(path="/filter", since=seq), [])
        room = filt["room"]
        self.assertEqual(room["timeline"]["limit"], 0)
        self.assertFalse(room["state"]["lazy_load_members"])
        self.assertEqual(set(room["state"]["types"]), {
            "m.room.create", "m.space.child", "m.space.parent", MARKER,
            "org.lettamx.space", "m.room.member", "m.room.name",
            "m.room.tombstone", "m.room.avatar", "org.lettamx.thread"})

    def test_dry_run_writes_nothing(self):
        env = self.env()
        env.agents(3)
        env.provision()
        self.lose_store(env)
        res = lettamx.run(["reconcile", "--dry-run"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("would restore", res.stdout)
        self.assertIn("dry run", res.stdout)
        rep = self.reconcile(env, "--dry-run")
        self.assertEqual(rep["restored"], 3)
        self.assertEqual(self.status(env), {})
        rep = self.reconcile(env)
        self.assertEqual(rep["restored"], 3)
        self.assertTrue(rep["snapshot"])

    def test_thread_marks_are_reported_and_put_back(self):
        env = self.env()
        agent = env.agents(1)[0]
        env.provision()
        room = env.markers()[agent][0]
        for root, conv in (("$t1", "conv-one"), ("$t2", "conv-two")):
            st, out = env.hs.act(env.bot, "PUT", C + "/rooms/%s/state/"
                                 "org.lettamx.thread/%s" % (q(room), q(root)),
                                 {"conversation": conv, "v": 1})
            self.assertEqual(st, 200, out)
        self.lose_store(env)
        res = lettamx.run(["reconcile", "--dry-run"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("thread conversations 2 restored", res.stdout)
        self.assertIn("would restore: room %s thread $t2 conversation "
                      "conv-two" % room, res.stdout)
        self.assertEqual(self.reconcile(env)["threads_restored"], 2)
        self.assertEqual(self.reconcile(env)["threads_restored"], 0)

    def test_old_snapshot_restored_brings_the_newer_agents_back(self):
        env = self.env()
        first = env.agents(5, prefix="old")
        env.provision()
        newer = env.agents(10, prefix="new")
        env.provision()
        snaps = sorted(glob.glob(os.path.join(env.work, "store",
                                              "snapshots", "*.mdb")))
        # the newest snapshot is the one provisioning took before adding
        # the 10: it holds the first 5 only
        data = os.path.join(env.work, "store", "data.mdb")
        shutil.copyfile(snaps[-1], data)
        self.assertEqual(set(self.status(env)), set(first))
        seq = env.last_seq()
        rep = self.reconcile(env)
        self.no_server_change(env, seq)
        self.assertEqual((rep["restored"], rep["kept"]), (10, 5), rep)
        self.assertEqual(set(self.status(env)), set(first + newer))
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests(path="/createRoom", since=seq), [])
        self.check_one_each(env, first + newer)


class Planted(ReconcileTest):
    def plant(self, env):
        """Six agents, then one planted case each. Returns the names."""
        ids = env.agents(6)
        env.provision()
        st = self.status(env)
        room = {a: st[a]["room"] for a in ids}
        space = self.space_id(env)
        hs, bot = env.hs, env.bot
        # 0: its room is no longer linked in the Space
        hs._ok(bot, "PUT", "%s/rooms/%s/state/m.space.child/%s"
               % (C, q(space), q(room[ids[0]])), {})
        # 1: a second room claiming it, made by its own user, bot joined
        u1 = self.agent_user(env, ids[1])
        dup = hs.human_create_room(u1, preset="private_chat",
                                   invite=[bot], initial_state=[{
                                       "type": MARKER, "state_key": "",
                                       "content": {"agent_id": ids[1],
                                                   "v": 1}}])
        hs.human_join(bot, dup)
        # 2: the bot kicked out of its room (its power lowered first: it
        # is at 100 like the agent user, who cannot kick an equal)
        r2 = room[ids[2]]
        pl = hs.room(r2)
        pl = [e for e in pl["state"] if e["type"] == "m.room.power_levels"]
        content = dict(pl[0]["content"])
        content["users"] = dict(content["users"], **{bot: 0})
        hs._ok(bot, "PUT", "%s/rooms/%s/state/m.room.power_levels/"
               % (C, q(r2)), content)
        hs._ok(self.agent_user(env, ids[2]), "POST", "%s/rooms/%s/kick"
               % (C, q(room[ids[2]])), {"user_id": bot, "reason": "bye"})
        # 3: its room tombstoned
        hs._ok(self.agent_user(env, ids[3]), "PUT",
               "%s/rooms/%s/state/m.room.tombstone/" % (C, q(room[ids[3]])),
               {"body": "moved", "replacement_room": "!new:localhost"})
        # 4: someone else copies its marker into a room and invites the bot
        mallory = hs.human_register("mallory")["user_id"]
        forged = hs.human_create_room(mallory, preset="private_chat",
                                      invite=[bot], initial_state=[{
                                          "type": MARKER, "state_key": "",
                                          "content": {"agent_id": ids[4],
                                                      "v": 1}}])
        hs.human_join(bot, forged)
        return ids, room, space, dup, forged

    def test_each_case_has_its_outcome_and_a_line(self):
        env = self.env()
        ids, room, space, dup, forged = self.plant(env)
        seq = env.last_seq()
        rep = self.reconcile(env)
        self.no_server_change(env, seq)
        lines = "\n".join(rep["findings"])
        # 0: kept, the flag says "not linked" so provisioning links it
        self.assertIn("repaired: agent %s room %s" % (ids[0], room[ids[0]]),
                      lines)
        # 1: conflict, the locally mapped room kept, the other left alone
        self.assertEqual(rep["conflicts"], 1)
        self.assertIn("conflict: agent %s" % ids[1], lines)
        self.assertIn("keeping %s (mapped locally)" % room[ids[1]], lines)
        self.assertIn(dup, lines)
        # 2, 3: stale, no other room: cleared for provisioning
        self.assertIn("stale: agent %s room %s: the bot was kicked by %s"
                      % (ids[2], room[ids[2]], self.agent_user(env, ids[2])),
                      lines)
        self.assertIn("stale: agent %s room %s: tombstoned (replaced by "
                      "!new:localhost)" % (ids[3], room[ids[3]]), lines)
        self.assertEqual(rep["stale"], 2)
        # 4: forged, never mapped; the agent keeps its own room
        self.assertEqual(rep["forged"], 1)
        self.assertIn("forged: room %s claims agent %s" % (forged, ids[4]),
                      lines)
        st = self.status(env)
        self.assertFalse(st[ids[0]]["linked"])
        self.assertEqual(st[ids[0]]["room"], room[ids[0]])
        self.assertEqual(st[ids[1]]["room"], room[ids[1]])
        self.assertEqual(st[ids[2]]["room"], "")
        self.assertEqual(st[ids[3]]["room"], "")
        self.assertEqual(st[ids[4]]["room"], room[ids[4]])
        self.assertEqual(st[ids[5]]["room"], room[ids[5]])
        self.assertEqual((rep["kept"], rep["repaired"]), (3, 1))
        # nothing deleted on the server: both rooms of agent 1 are there
        self.assertEqual(sorted(env.markers()[ids[1]]),
                         sorted([room[ids[1]], dup]))
        # a second reconcile changes nothing
        rep2 = self.reconcile(env)
        self.assertFalse(rep2["changed"], rep2)
        self.assertEqual(rep2["stale"], 0)
        self.assertEqual(self.status(env), st)

    def test_provisioning_repairs_the_kicked_bot_without_a_room(self):
        env = self.env()
        ids, room, space, dup, forged = self.plant(env)
        self.reconcile(env)
        seq = env.last_seq()
        env.provision()
        # no room made but for agent 3, whose only room was replaced (a
        # tombstone: see the next test)
        made = [e.get("user") for e in env.hs.requests(path="/createRoom",
                                                        since=seq)]
        self.assertEqual(made, [self.agent_user(env, ids[3])])
        # the agent user found its room by its marker and let the bot in
        st = self.status(env)
        self.assertEqual(st[ids[2]]["room"], room[ids[2]])
        r2 = env.hs.room(room[ids[2]])
        self.assertEqual(env.state(r2, "m.room.member", env.bot)
                         ["membership"], "join")
        rep = self.reconcile(env)
        self.assertIn("repaired: agent %s room %s: no longer stale"
                      % (ids[2], room[ids[2]]), "\n".join(rep["findings"]))
        self.assertFalse(self.reconcile(env)["changed"])

    def test_provisioning_does_not_adopt_a_tombstoned_room_again(self):
        """A record flagged RECON_F_STALE is not mapped back to a room
        with a tombstone: provisioning's marker search skips replaced
        rooms (the h-ratelimit branch)."""
        env = self.env()
        ids, room, space, dup, forged = self.plant(env)
        self.reconcile(env)
        env.provision()
        self.assertNotEqual(self.status(env)[ids[3]]["room"], room[ids[3]])

    def test_lost_store_keeper_is_the_linked_then_the_oldest(self):
        env = self.env()
        ids, room, space, dup, forged = self.plant(env)
        self.lose_store(env)
        rep = self.reconcile(env)
        lines = "\n".join(rep["findings"])
        # no local mapping: the room linked in the Space wins
        self.assertIn("keeping %s (linked in the Space)" % room[ids[1]],
                      lines)
        st = self.status(env)
        self.assertEqual(st[ids[1]]["room"], room[ids[1]])
        self.assertNotIn(ids[2], st)        # kicked: no room of it seen
        self.assertNotIn(ids[3], st)        # tombstoned
        self.assertEqual(st[ids[4]]["room"], room[ids[4]])
        # agent 0 (unlinked) now has two unlinked rivals? no: one room
        self.assertEqual(st[ids[0]]["room"], room[ids[0]])
        self.assertFalse(st[ids[0]]["linked"])
        # unlink agent 1's own room too: then the oldest wins
        env.hs._ok(env.bot, "PUT", "%s/rooms/%s/state/m.space.child/%s"
                   % (C, q(space), q(room[ids[1]])), {})
        self.lose_store(env)
        rep = self.reconcile(env)
        self.assertIn("keeping %s (the oldest)" % room[ids[1]],
                      "\n".join(rep["findings"]))

    def test_stored_space_deleted(self):
        env = self.env()
        ids = env.agents(3)
        env.provision()
        space = self.space_id(env)
        admin = env.hs.human_register("admin", admin=True)["user_id"]
        status, out = env.hs.act(admin, "DELETE",
                                 "/_synapse/admin/v1/rooms/" + q(space),
                                 {"purge": True})
        self.assertEqual(status, 200, out)
        self.assertIn(env.bot, out["kicked_users"])
        seq = env.last_seq()
        rep = self.reconcile(env)
        self.no_server_change(env, seq)
        self.assertEqual(rep["space"], "gone")
        self.assertIn("the stored Space %s is gone" % space,
                      "\n".join(rep["findings"]))
        st = self.status(env)
        self.assertEqual([a["linked"] for a in st.values()], [False] * 3)
        self.assertFalse(self.reconcile(env)["changed"])
        # provisioning then makes a new Space and links every room again
        seq = env.last_seq()
        env.provision()
        self.assertEqual(len(env.hs.requests("POST", "/createRoom$",
                                             since=seq)), 1)
        self.check_one_each(env, ids)
        self.assertNotEqual(self.space_id(env), space)
        self.assertEqual([a["linked"] for a in self.status(env).values()],
                         [True] * 3)


class Refusals(ReconcileTest):
    def test_whoami_naming_another_user_exits_2(self):
        other = self.hs_other = None
        env = self.env()
        env.agents(1)
        env.provision()
        other = env.hs.human_register("someone")["access_token"]
        path = os.path.join(env.work, "bot_token_file")
        with open(path, "w") as f:
            f.write(other + "\n")
        res = self.reconcile(env, code=2)
        last = res.stderr.strip().splitlines()[-1]
        self.assertIn("@someone:localhost", last)
        self.assertIn(env.bot, last)

    def test_no_homeserver_names_the_cause(self):
        env = self.env()
        env.agents(1)
        env.provision()
        port = env.hs.port
        env.hs.stop()
        env.hs.proc = None
        t0 = time.monotonic()
        res = lettamx.run(["reconcile"], env.conf, timeout=300, test=self)
        self.assertEqual(res.returncode, 1)
        last = res.stderr.strip().splitlines()[-1]
        self.assertIn("connection refused at 127.0.0.1:%d" % port, last)
        self.assertLess(time.monotonic() - t0, 30)


class Causes(unittest.TestCase):
    """Item 4: the last line of a failed command names the first cause."""

    def env(self, **kw):
        lettamx.require_binary(self)
        e = Env(self, **kw)
        self.addCleanup(e.close)
        return e

    def test_untrusted_certificate_ends_provision_at_once(self):
        tmp = lettamx.Workdir()
        d = tmp.__enter__()
        self.addCleanup(tmp.__exit__, None, None, None)
        env = self.env(hs_kw={"tls": make_cert(d)})
        env.agents(1)
        t0 = time.monotonic()
        res = lettamx.run(["provision"], env.conf, timeout=120, test=self)
        took = time.monotonic() - t0
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        last = res.stderr.strip().splitlines()[-1]
        self.assertIn("is not trusted", last)
        self.assertIn("127.0.0.1:%d" % env.hs.port, last)
        self.assertIn("ca_file", last)
        self.assertLess(took, 10, "retried instead of failing at once")
        res = lettamx.run(["reconcile"], env.conf, timeout=120, test=self)
        self.assertEqual(res.returncode, 1)
        self.assertIn("is not trusted", res.stderr.strip().splitlines()[-1])

    def test_untrusted_certificate_run_waits_saying_why(self):
        tmp = lettamx.Workdir()
        d = tmp.__enter__()
        self.addCleanup(tmp.__exit__, None, None, None)
        env = self.env(hs_kw={"tls": make_cert(d)})
        daemon = lettamx.Daemon(["run"], env.conf)
        self.addCleanup(daemon.stop)
        deadline = time.monotonic() + 20
        while "event=waiting" not in daemon.output():
            self.assertIsNone(daemon.proc.poll(), daemon.output())
            self.assertLess(time.monotonic(), deadline, daemon.output())
            time.sleep(0.05)
        line = [x for x in daemon.output().splitlines()
                if "event=waiting" in x][0]
        self.assertIn("is not trusted", line)
        self.assertIn("ca_file", line)
        self.assertEqual(daemon.stop(), 0)

    def test_letta_refused_is_named(self):
        env = self.env()
        port = env.letta.port
        env.letta.stop()
        env.letta.proc = None
        res = lettamx.run(["provision"], env.conf, timeout=120, test=self)
        self.assertEqual(res.returncode, 1)
        last = res.stderr.strip().splitlines()[-1]
        self.assertIn("connection refused at 127.0.0.1:%d" % port, last)
        self.assertNotIn("closed by peer", res.stderr)

    def test_http_status_and_errcode(self):
        env = self.env()
        env.agents(1)
        env.hs.revoke_tokens(env.bot)
        res = lettamx.run(["reconcile"], env.conf, timeout=60, test=self)
        self.assertEqual(res.returncode, 2)
        self.assertIn("M_UNKNOWN_TOKEN", res.stderr.strip().splitlines()[-1])


if __name__ == "__main__":
    unittest.main()


class RunBoot(ReconcileTest):
    """`run` reconciles at boot, before provisioning."""

    def boot_after_lost_store(self, n=200):
        env = self.env()
        ids = env.agents(n)
        env.provision(timeout=600)
        before = {a: s["room"] for a, s in self.status(env).items()}
        self.lose_store(env)
        seq = env.last_seq()
        d = lettamx.Daemon(["run"], env.conf)
        self.addCleanup(d.stop)
        deadline = time.monotonic() + 120
        while "event=live" not in d.output():
            self.assertIsNone(d.proc.poll(), d.output())
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.05)
        out = d.output()
        self.assertEqual(d.stop(), 0, out)
        return env, ids, before, seq, out

    def test_run_after_a_lost_store_brings_200_back_without_a_room(self):
        env, ids, before, seq, out = self.boot_after_lost_store()
        line = [x for x in out.splitlines() if "event=reconciled" in x]
        self.assertEqual(len(line), 1, out)
        self.assertIn("restored=200 ", line[0])
        self.assertIn("requests=2 ", line[0])
        # reconcile ran before provisioning: every write (a login too)
        # came after its one /sync
        # (the bridge's own long-poll starts after "live": not counted)
        syncs = [e["seq"] for e in env.hs.requests(path="/sync$",
                                                   since=seq)
                 if str(e["query"].get("full_state")) in ("true",
                                                          "['true']")]
        self.assertEqual(len(syncs), 1)
        later = [e["seq"] for e in env.writes(since=seq)]
        self.assertTrue(all(s > syncs[0] for s in later), later[:5])
        self.assertEqual(env.hs.requests(path="/createRoom", since=seq), [])
        self.assertEqual(before, {a: s["room"]
                                  for a, s in self.status(env).items()})
        self.check_one_each(env, ids)

    def test_run_after_a_lost_store_logs_no_agent_in(self):
        """Provisioning logs an agent user in only when it must act (the
        h-ratelimit branch): the first provisioning run after a lost store
        logs in no agent whose record reconcile restored without a
        token."""
        env, ids, before, seq, out = self.boot_after_lost_store(n=20)
        self.assertEqual(env.hs.requests(path="/login", since=seq), [])


class FakeGraph(ReconcileTest):
    """The fake answers reconcile's /sync and the room admin API as
    Synapse 1.67 does (transcript: timeline limit 0 gives no events,
    `limited: true` and prev_batch = next_batch)."""

    FILTER = {"room": {"timeline": {"limit": 0},
                       "state": {"types": [
                           "m.room.create", "m.space.child",
                           "m.space.parent", MARKER, "org.lettamx.space",
                           "m.room.member", "m.room.name",
                           "m.room.tombstone", "m.room.avatar"],
                           "lazy_load_members": False},
                       "include_leave": True},
              "presence": {"types": []}}

    def sync(self, hs, user, filt):
        import urllib.parse
        status, body = hs.act(user, "GET", "%s/sync?full_state=true&timeout=0"
                              "&filter=%s" % (C, urllib.parse.quote(
                                  json.dumps(filt))))
        self.assertEqual(status, 200, body)
        return body

    def test_filtered_full_state_sync(self):
        env = self.env()
        ids = env.agents(2)
        env.provision()
        st = self.status(env)
        gone = st[ids[1]]["room"]
        env.hs._ok(env.bot, "POST", "%s/rooms/%s/leave" % (C, q(gone)), {})
        body = self.sync(env.hs, env.bot, self.FILTER)
        self.assertNotIn("presence", body)
        joined, left = body["rooms"]["join"], body["rooms"]["leave"]
        self.assertEqual(set(left), {gone})
        self.assertEqual(len(joined), 2)        # the Space and one room
        for rid, room in list(joined.items()) + list(left.items()):
            tl = room["timeline"]
            self.assertEqual(tl["events"], [])
            self.assertTrue(tl["limited"])
            types = {e["type"] for e in room["state"]["events"]}
            self.assertLessEqual(types, set(self.FILTER["room"]["state"]
                                            ["types"]))
            self.assertIn("m.room.create", types)
        room = joined[st[ids[0]]["room"]]
        self.assertEqual(room["timeline"]["prev_batch"], body["next_batch"])
        members = {e["state_key"]: e["content"]["membership"]
                   for e in room["state"]["events"]
                   if e["type"] == "m.room.member"}
        self.assertEqual(members[env.bot], "join")
        self.assertEqual(members[self.agent_user(env, ids[0])], "join")
        leave = [e for e in left[gone]["state"]["events"]
                 if e["type"] == "m.room.member" and
                 e["state_key"] == env.bot]
        self.assertEqual(leave[0]["content"]["membership"], "leave")
        # lazy members on, as in the transcript's filter: no members with
        # an empty timeline; without include_leave: no left room
        lazy = json.loads(json.dumps(self.FILTER))
        lazy["room"]["state"]["lazy_load_members"] = True
        del lazy["room"]["include_leave"]
        body = self.sync(env.hs, env.bot, lazy)
        self.assertNotIn("leave", body["rooms"])
        for room in body["rooms"]["join"].values():
            self.assertNotIn("m.room.member",
                             {e["type"] for e in room["state"]["events"]})

    def test_delete_room_admin_api(self):
        env = self.env()
        env.agents(2)
        env.provision()
        st = list(self.status(env).values())
        r0, r1 = st[0]["room"], st[1]["room"]
        admin = env.hs.human_register("admin", admin=True)["user_id"]
        path = "/_synapse/admin/v1/rooms/"
        status, out = env.hs.act(env.bot, "DELETE", path + q(r0), {})
        self.assertEqual((status, out["errcode"], out["error"]),
                         (403, "M_FORBIDDEN", "You are not a server admin"))
        status, out = env.hs.act(admin, "DELETE", path + q("nonsense"), {})
        self.assertEqual((status, out["errcode"]), (400, "M_INVALID_PARAM"))
        status, out = env.hs.act(admin, "DELETE", path + q("!no:localhost"),
                                 {})
        self.assertEqual(status, 400)
        status, out = env.hs.act(admin, "DELETE", path + q(r0),
                                 {"purge": "yes"})
        self.assertEqual((status, out["errcode"]), (400, "M_BAD_JSON"))
        # purge=false: everyone leaves and forgets, the room stays, blocked
        status, out = env.hs.act(admin, "DELETE", path + q(r0),
                                 {"purge": False, "block": True})
        self.assertEqual(status, 200, out)
        self.assertEqual(set(out), {"kicked_users", "failed_to_kick_users",
                                    "local_aliases", "new_room_id"})
        self.assertIn(env.bot, out["kicked_users"])
        self.assertIsNotNone(env.hs.room(r0).get("room_id"))
        status, out = env.hs.act(env.bot, "POST", "%s/join/%s" % (C, q(r0)),
                                 {})
        self.assertEqual(status, 403)
        # purge (the default): gone from the server and from every sync
        status, out = env.hs.act(admin, "DELETE", path + q(r1), {})
        self.assertEqual(status, 200, out)
        self.assertNotIn(r1, [r["room_id"] for r in env.hs.rooms()])
        body = self.sync(env.hs, env.bot, self.FILTER)
        rooms = body.get("rooms", {})
        for section in ("join", "leave", "invite"):
            self.assertNotIn(r1, rooms.get(section, {}))
            self.assertNotIn(r0, rooms.get(section, {}))
