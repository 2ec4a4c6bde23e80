"""Operator tools against the fakes (issue 13): import-json / export-json,
snapshots, check, reset, and one writer at a time.

Assertions come from the store as other commands read it (status, export),
the snapshot files and the fakes' state, never from the tool's own word.
"""

import json
import os
import stat
import subprocess
import sys
import time
import unittest

import lettamx
from gen_legacy_json import for_agents, generate
from test_provision import Env

HERE = os.path.dirname(os.path.abspath(__file__))


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def line_col(text):
    """1-based line and column (characters) of the end of text."""
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


class OpsTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        e = Env(self, **kw)
        self.addCleanup(e.close)
        return e

    def lx(self, env, *args, timeout=60):
        return lettamx.run(list(args), env.conf, timeout=timeout, test=self)

    def ok(self, env, *args):
        res = self.lx(env, *args)
        self.assertEqual(res.returncode, 0, "%r failed:\n%s%s" % (
            args, res.stdout, res.stderr))
        return res

    def status(self, env):
        res = self.ok(env, "status", "--json")
        return {a["agent_id"]: a for a in json.loads(res.stdout)}

    def store_file(self, env):
        return os.path.join(env.work, "store", "data.mdb")

    def snapdir(self, env):
        return os.path.join(env.work, "store", "snapshots")

    def manifests(self, env):
        d = self.snapdir(env)
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            if name.endswith(".json") and not name.startswith("."):
                with open(os.path.join(d, name)) as f:
                    out.append((name[:-5], json.load(f)))
        return sorted(out, key=lambda m: m[1]["seq"])


class ImportJson(OpsTest):
    def test_67_agents_imported_sealed_verified_and_snapshotted(self):
        env = self.env()
        legacy = generate(67, server=env.hs.server_name, unknown_field=True)
        path = os.path.join(env.work, "agent_user_mappings.json")
        write_json(path, legacy)
        dry = self.ok(env, "import-json", path, "--dry-run")
        self.assertIn("67 new", dry.stdout)
        self.assertFalse(os.path.exists(self.store_file(env)))
        res = self.ok(env, "import-json", path)
        self.assertIn("unknown field 'last_seen'", res.stderr)
        got = self.status(env)
        self.assertEqual(set(got), set(legacy))
        for aid, m in legacy.items():
            self.assertEqual(got[aid]["matrix_user"], m["matrix_user_id"])
            self.assertEqual(got[aid]["room"], m["room_id"] or "")
            self.assertEqual(got[aid]["agent"], m["agent_name"])
        # passwords are sealed at rest like ours
        with open(self.store_file(env), "rb") as f:
            data = f.read()
        for m in legacy.values():
            self.assertNotIn(m["matrix_password"].encode(), data)
        # the snapshot it made holds the state before: an empty store
        snaps = self.manifests(env)
        self.assertEqual(snaps[-1][1]["reason"], "import-json")
        self.assertEqual(snaps[-1][1]["counts"]["agents"], 0)
        res = self.lx(env, "import-json", path, "--verify")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("agree (67 agents)", res.stdout)
        # a difference makes --verify fail and names it
        first = next(iter(legacy))
        legacy[first]["room_id"] = "!other:" + env.hs.server_name
        write_json(path, legacy)
        res = self.lx(env, "import-json", path, "--verify")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(first, res.stdout)
        self.assertIn("room_id differs", res.stdout)

    def test_duplicate_room_is_refused_and_nothing_is_written(self):
        env = self.env()
        legacy = generate(20, server=env.hs.server_name, duplicate_room=True)
        ids = list(legacy)
        path = os.path.join(env.work, "dup.json")
        write_json(path, legacy)
        res = self.lx(env, "import-json", path)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(legacy[ids[3]]["room_id"], res.stderr)
        self.assertIn(ids[3], res.stderr)
        self.assertIn(ids[7], res.stderr)
        self.assertIn("nothing was written", res.stderr)
        self.assertFalse(os.path.exists(self.store_file(env)))
        self.assertEqual(self.manifests(env), [])

    def test_duplicate_user_is_refused(self):
        env = self.env()
        legacy = generate(12, server=env.hs.server_name, duplicate_user=True)
        path = os.path.join(env.work, "dup.json")
        write_json(path, legacy)
        res = self.lx(env, "import-json", path)
        self.assertEqual(res.returncode, 1)
        self.assertIn("user %s is claimed by both" %
                      legacy[list(legacy)[2]]["matrix_user_id"], res.stderr)
        self.assertFalse(os.path.exists(self.store_file(env)))

    def test_truncated_json_names_line_and_column(self):
        env = self.env()
        text = json.dumps(generate(10, server=env.hs.server_name), indent=2)
        for cut in (1234, 2000, len(text) - 2):
            part = text[:cut]
            path = os.path.join(env.work, "cut.json")
            with open(path, "w") as f:
                f.write(part)
            res = self.lx(env, "import-json", path)
            self.assertEqual(res.returncode, 1)
            line, col = line_col(part)      # the end: it stops early
            self.assertIn("line %d, column %d" % (line, col), res.stderr)
            self.assertFalse(os.path.exists(self.store_file(env)))

    def test_syntax_error_in_the_middle_names_its_place(self):
        env = self.env()
        text = json.dumps(generate(5, server=env.hs.server_name), indent=2)
        at = text.index('"created": true', 900)
        bad = text[:at] + '"created": tru,' + text[at + len('"created": true,'):]
        path = os.path.join(env.work, "bad.json")
        with open(path, "w") as f:
            f.write(bad)
        res = self.lx(env, "import-json", path)
        self.assertEqual(res.returncode, 1)
        line, col = line_col(bad[:at + len('"created": tru')])
        self.assertIn("line %d, column %d" % (line, col), res.stderr)

    def test_export_import_round_trip_is_identical(self):
        env = self.env()
        legacy = generate(67, server=env.hs.server_name)
        path = os.path.join(env.work, "in.json")
        write_json(path, legacy)
        self.ok(env, "import-json", path)
        out1 = os.path.join(env.work, "out1.json")
        self.ok(env, "export-json", out1, "--with-secrets")
        self.assertEqual(stat.S_IMODE(os.stat(out1).st_mode), 0o600)
        with open(out1) as f:
            exported = json.load(f)
        self.assertEqual(set(exported), set(legacy))
        for aid, m in legacy.items():
            for key in ("agent_id", "agent_name", "matrix_user_id",
                        "matrix_password", "room_id", "room_created"):
                self.assertEqual(exported[aid][key], m[key], key)
        # into a second, fresh installation
        env2 = self.env()
        self.ok(env2, "import-json", out1)
        out2 = os.path.join(env2.work, "out2.json")
        self.ok(env2, "export-json", out2, "--with-secrets")
        with open(out1, "rb") as a, open(out2, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(self.lx(env2, "import-json", path,
                                 "--verify").returncode, 0)
        # without --with-secrets: no password, to stdout
        res = self.ok(env, "export-json")
        plain = json.loads(res.stdout)
        self.assertEqual(len(plain), 67)
        self.assertTrue(all("matrix_password" not in m
                            for m in plain.values()))
        self.assertEqual(self.lx(env, "export-json", "--with-secrets")
                         .returncode, 2)


class ImportThenProvision(OpsTest):
    def test_imported_then_run_makes_nothing_new(self):
        self.imported_then(lambda env: self.run_until_live(env))

    def run_until_live(self, env):
        d = lettamx.Daemon(["run"], env.conf)
        self.addCleanup(d.stop)
        deadline = time.monotonic() + 30
        while "event=live" not in d.output():
            self.assertIsNone(d.proc.poll(), d.output())
            self.assertLess(time.monotonic(), deadline, d.output())
            time.sleep(0.05)
        self.assertEqual(d.stop(), 0, d.output())

    def test_imported_users_and_rooms_are_kept(self):
        self.imported_then(lambda env: env.provision())

    def imported_then(self, start):
        """After import-json, provisioning logs the legacy users in with
        their imported passwords and keeps their rooms: no new user, no
        new room for those agents."""
        env = self.env()
        ids = env.agents(5)
        names = {a["id"]: a["name"] for a in env.letta.agents()}
        rooms, passwords = {}, {}
        for aid in ids[:4]:
            local = "agent_" + aid[len("agent-"):].replace("-", "_")
            passwords[aid] = "legacy-" + aid[-8:]
            user = env.hs.human_register(local, password=passwords[aid])
            rooms[aid] = env.hs.human_create_room(
                user["user_id"], name=names[aid], preset="private_chat")
        legacy = for_agents([(a, names[a]) for a in ids[:4]],
                            env.hs.server_name, rooms, passwords)
        path = os.path.join(env.work, "agent_user_mappings.json")
        write_json(path, legacy)
        res = self.ok(env, "import-json", path)
        self.assertIn("adopted 4 legacy rooms", res.stdout)
        users = sorted(env.users())
        seq = env.last_seq()
        start(env)
        creates = [e["body"]["name"] for e in
                   env.hs.requests("POST", "/createRoom$", since=seq)
                   if "creation_content" not in e["body"]]  # not the Space
        self.assertEqual(creates, [names[ids[4]]])  # the fifth agent only
        made = sorted(set(env.users()) - set(users))
        self.assertEqual(made, ["@letta_%s:%s" % (ids[4],
                                                  env.hs.server_name)])
        got = self.status(env)
        for aid in ids[:4]:
            self.assertEqual(got[aid]["room"], rooms[aid])
            self.assertEqual(got[aid]["matrix_user"],
                             legacy[aid]["matrix_user_id"])
            self.assertEqual(got[aid]["state"], "ok", got[aid])
        # import-json logged each legacy user in once and adopted its
        # room (our marker, the bot joined); the start logs in no one
        self.assertEqual(len(env.hs.requests("POST", "/login$")), 4)
        self.assertEqual(env.hs.requests("POST", "/login$", since=seq), [])
        for aid in ids[:4]:
            room = env.hs.room(rooms[aid])
            self.assertEqual(env.state(room, "org.lettamx.agent")
                             ["agent_id"], aid)
            self.assertEqual(env.state(room, "m.room.member", env.bot)
                             ["membership"], "join")
        self.assertEqual(self.lx(env, "import-json", path,
                                 "--verify").returncode, 1)  # the fifth


class Snapshots(OpsTest):
    def test_snapshot_list_and_restore(self):
        env = self.env()
        ids = env.agents(3)
        env.provision()
        res = self.ok(env, "snapshot", "--reason", "before-test")
        name = res.stdout.split()[1].rstrip(":")
        listing = self.ok(env, "snapshots").stdout
        self.assertIn(name, listing)
        row = [l for l in listing.splitlines() if l.startswith(name)][0]
        self.assertIn("before-test", row)
        self.assertTrue(row.rstrip().endswith("yes"), row)
        # change the store, then restore the snapshot
        legacy = generate(2, server=env.hs.server_name, seed=9)
        path = os.path.join(env.work, "more.json")
        write_json(path, legacy)
        self.ok(env, "import-json", path)
        self.assertEqual(len(self.status(env)), 5)
        dry = self.ok(env, "restore", name, "--dry-run")
        self.assertIn("would restore", dry.stdout)
        self.assertEqual(len(self.status(env)), 5)
        res = self.ok(env, "restore", name)
        self.assertIn("lettamx reconcile", res.stdout)
        self.assertEqual(set(self.status(env)), set(ids))
        self.assertEqual(self.manifests(env)[-1][1]["reason"],
                         "pre-restore")

    def test_a_damaged_snapshot_is_not_verified_nor_restored(self):
        env = self.env()
        env.agents(2)
        env.provision()
        name = self.ok(env, "snapshot").stdout.split()[1].rstrip(":")
        mdb = os.path.join(self.snapdir(env), name + ".mdb")
        with open(mdb, "r+b") as f:
            f.seek(5000)
            f.write(b"\xff" * 16)
        row = [l for l in self.ok(env, "snapshots").stdout.splitlines()
               if l.startswith(name)][0]
        self.assertIn("NO:", row)
        before = self.status(env)
        res = self.lx(env, "restore", name)
        self.assertEqual(res.returncode, 1)
        self.assertIn("nothing was changed", res.stderr)
        self.assertEqual(self.status(env), before)


class Check(OpsTest):
    def provisioned(self, n=3):
        env = self.env()
        ids = env.agents(n)
        env.provision()
        return env, ids

    def check(self, env, *args, code):
        res = self.lx(env, "check", *args)
        self.assertEqual(res.returncode, code, res.stdout + res.stderr)
        return res

    def test_healthy_online_and_offline(self):
        env, ids = self.provisioned()
        res = self.check(env, code=0)
        self.assertIn("healthy: 3 agents", res.stdout)
        self.check(env, "--offline", code=0)
        out = json.loads(self.check(env, "--json", code=0).stdout)
        self.assertTrue(out["healthy"])
        self.assertEqual(out["problems"], [])

    def test_8_no_snapshot(self):
        env, ids = self.provisioned()
        for name, _ in self.manifests(env):
            for ext in (".json", ".mdb"):
                os.unlink(os.path.join(self.snapdir(env), name + ext))
        res = self.check(env, "--offline", code=1)
        self.assertIn("problem [8]", res.stdout)
        self.assertIn("fix: lettamx snapshot", res.stdout)
        out = json.loads(self.check(env, "--offline", "--json",
                                    code=1).stdout)
        self.assertFalse(out["healthy"])
        self.assertEqual([(p["check"], p["fix"]) for p in out["problems"]],
                         [("8", "lettamx snapshot")])
        self.ok(env, "snapshot")
        self.check(env, "--offline", code=0)

    def test_8_backup_taken_after_the_change(self):
        # seed 000: the "backup" holds the changed state; its manifest
        # says it was taken before the change
        env, ids = self.provisioned()
        name = self.ok(env, "snapshot").stdout.split()[1].rstrip(":")
        path = os.path.join(self.snapdir(env), name + ".json")
        with open(path) as f:
            m = json.load(f)
        m["created"] -= 3600 * 1000
        with open(path, "w") as f:
            json.dump(m, f)
        res = self.check(env, "--offline", code=1)
        self.assertIn("problem [8] %s" % name, res.stdout)
        self.assertIn("taken after the change", res.stdout)
        self.assertIn("fix: lettamx snapshot", res.stdout)

    def test_8_damaged_newest_snapshot(self):
        env, ids = self.provisioned()
        name = self.ok(env, "snapshot").stdout.split()[1].rstrip(":")
        with open(os.path.join(self.snapdir(env), name + ".mdb"), "ab") as f:
            f.write(b"x")
        res = self.check(env, "--offline", code=1)
        self.assertIn("does not verify", res.stdout)

    def test_5_store_that_does_not_open(self):
        env, ids = self.provisioned()
        with open(self.store_file(env), "r+b") as f:
            f.write(b"\0" * 8192)
        res = self.check(env, "--offline", code=1)
        self.assertIn("problem [5] the store", res.stdout)
        self.assertIn("fix: lettamx restore", res.stdout)

    def test_no_store_could_not_check(self):
        env = self.env()
        self.check(env, code=2)

    def test_letta_agent_without_mapping_and_mapping_without_agent(self):
        env, ids = self.provisioned()
        new = env.letta.add_agent("newcomer")["id"]
        env.letta.delete_agent(ids[0])
        res = self.check(env, code=1)
        lines = res.stdout.splitlines()
        self.assertTrue(any(new in l and "no mapping" in l and
                            "fix: lettamx provision" in l for l in lines),
                        res.stdout)
        self.assertTrue(any(ids[0] in l and "no longer exists" in l and
                            "fix: lettamx provision" in l for l in lines),
                        res.stdout)
        self.check(env, "--offline", code=0)

    def test_a_revoked_agent_token(self):
        env, ids = self.provisioned()
        uid = "@letta_%s:%s" % (ids[1], env.hs.server_name)
        env.hs.revoke_tokens(uid)
        res = self.check(env, code=1)
        bad = [l for l in res.stdout.splitlines() if "problem [token]" in l]
        self.assertEqual(len(bad), 1, res.stdout)
        self.assertIn(ids[1], bad[0])
        self.assertIn("fix: lettamx provision", bad[0])
        whoami = env.hs.requests("GET", "/account/whoami$")
        self.assertEqual(len(whoami), 3)

    def test_homeserver_down_could_not_check(self):
        env, ids = self.provisioned()
        env.hs.stop()
        res = self.check(env, code=2)
        self.assertIn("could not check", res.stderr)


class Reset(OpsTest):
    def test_local_only_then_provision_creates_nothing(self):
        env = self.env()
        ids = env.agents(4)
        env.provision()
        rooms = sorted(r["room_id"] for r in env.hs.rooms())
        users = sorted(env.users())
        dry = self.ok(env, "reset", "--local-only", "--dry-run")
        self.assertIn("nothing was changed", dry.stdout)
        self.assertTrue(os.path.exists(self.store_file(env)))
        res = self.ok(env, "reset", "--local-only")
        self.assertFalse(os.path.exists(self.store_file(env)))
        self.assertTrue(os.path.exists(os.path.join(env.work,
                                                    "master.secret")))
        snaps = self.manifests(env)
        self.assertEqual(snaps[-1][1]["reason"], "reset")
        self.assertEqual(snaps[-1][1]["counts"]["agents"], 4)
        self.assertIn("rebuilds the store from them", res.stdout)
        self.assertIn(env.spaces()[0]["room_id"], res.stdout)
        seq = env.last_seq()
        env.provision()
        self.assertEqual(sorted(r["room_id"] for r in env.hs.rooms()), rooms)
        self.assertEqual(sorted(env.users()), users)
        self.assertEqual(env.hs.requests("POST", "/createRoom$", since=seq),
                         [])
        got = self.status(env)
        self.assertEqual(set(got), set(ids))
        self.assertTrue(all(a["state"] == "ok" for a in got.values()), got)

    def test_leave_rooms_needs_yes_and_leaves_everything(self):
        env = self.env()
        ids = env.agents(3)
        env.provision()
        res = self.lx(env, "reset", "--leave-rooms")
        self.assertEqual(res.returncode, 2)
        self.assertIn("--yes", res.stderr)
        dry = self.ok(env, "reset", "--leave-rooms", "--dry-run")
        self.assertIn("would make the bot and 3 agent users leave",
                      dry.stdout)
        self.assertEqual(env.hs.requests("POST", "/leave$"), [])
        res = self.ok(env, "reset", "--leave-rooms", "--yes")
        self.assertIn("What the Matrix API cannot do", res.stdout)
        for room in env.hs.rooms():
            self.assertNotIn(env.bot, room["joined"], room)
            for aid in ids:
                self.assertNotIn("@letta_%s:%s" % (aid, env.hs.server_name),
                                 room["joined"])
        self.assertEqual(len(env.hs.requests("POST", "/leave$")), 7)
        self.assertEqual(len(env.hs.requests("POST", "/forget$")), 7)
        self.assertFalse(os.path.exists(self.store_file(env)))


    def test_leave_rooms_that_fails_keeps_the_store(self):
        env = self.env()
        ids = env.agents(2)
        env.provision()
        env.hs.revoke_tokens("@letta_%s:%s" % (ids[0], env.hs.server_name))
        res = self.lx(env, "reset", "--leave-rooms", "--yes")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("the store is kept", res.stderr)
        self.assertTrue(os.path.exists(self.store_file(env)))
        self.assertEqual(set(self.status(env)), set(ids))


class OneWriter(OpsTest):
    def test_mutating_commands_refused_beside_a_writer(self):
        env = self.env(conf={"letta": {"discovery_interval": "1h"}})
        ids = env.agents(2)
        env.provision()
        snap = self.ok(env, "snapshot").stdout.split()[1].rstrip(":")
        legacy = generate(3, server=env.hs.server_name, seed=4)
        path = os.path.join(env.work, "x.json")
        write_json(path, legacy)
        with env.daemon("--watch") as d:
            deadline = time.monotonic() + 20
            lock = os.path.join(env.work, "store", "lettamx.lock")
            while time.monotonic() < deadline:
                with open(lock) as f:
                    if f.read().strip() == str(d.proc.pid):
                        break
                time.sleep(0.1)
            before = self.status(env)
            with open(self.store_file(env), "rb") as f:
                data = f.read()
            for args in (["import-json", path], ["reset", "--local-only"],
                         ["restore", snap],
                         ["reset", "--leave-rooms", "--yes"],
                         ["provision"]):
                res = self.lx(env, *args)
                self.assertEqual(res.returncode, 1, "%r: %s%s" % (
                    args, res.stdout, res.stderr))
                self.assertIn("pid %d" % d.proc.pid, res.stderr, args)
                self.assertIn("stop it first", res.stderr, args)
            self.assertEqual(self.status(env), before)
            with open(self.store_file(env), "rb") as f:
                self.assertEqual(f.read(), data)
            self.assertEqual(env.hs.requests("POST", "/leave$"), [])
            # the read-only commands work beside it
            res = self.ok(env, "snapshot", "--reason", "beside")
            self.assertIn("verified", res.stdout)
            self.ok(env, "snapshots")
            self.ok(env, "check", "--offline")
            self.ok(env, "export-json")
            self.ok(env, "import-json", path, "--dry-run")
            self.assertEqual(self.lx(env, "import-json", path,
                                     "--verify").returncode, 1)


if __name__ == "__main__":
    unittest.main()
