"""Recovering from a lost store as README tells a person to (issue 20).

Provision 5 agents, delete the store directory (the master secret stays),
then follow "Recovering from a lost store" with only what a real
deployment configures: a bot password (or a bot that registration =
shared-secret made), no bot_token_file.

- `lettamx reconcile --dry-run` and `lettamx reconcile` get the bot's
  token as `lettamx run` does at its gate (one login), the dry run
  writing nothing on the server but that login and nothing in the store
  but the token it got;
- `lettamx provision --dry-run` does not say it would create what the
  real run then finds by its markers.
"""

import json
import os
import shutil

import lettamx
from test_provision import ProvisionTest, write_secret

LOGIN = "/login$"


class LostStore(ProvisionTest):
    def lost(self, n=5, **kw):
        env = self.env(**kw)
        ids = env.agents(n)
        env.provision()
        shutil.rmtree(os.path.join(env.work, "store"))
        return env, ids

    def run_ok(self, env, *args):
        res = lettamx.run(list(args), env.conf, timeout=120, test=self)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        return res

    def status(self, env):
        res = self.run_ok(env, "status", "--json")
        return {a["agent_id"]: a for a in json.loads(res.stdout)}

    def space_line(self, env):
        return self.run_ok(env, "status").stdout.splitlines()[0]

    def writes(self, env, seq):
        return [(e["method"], e["path"]) for e in env.hs.requests(since=seq)
                if e["method"] != "GET"]

    def bot_logins(self, env, seq):
        local = env.bot[1:].split(":")[0]
        return [e for e in env.hs.requests("POST", LOGIN, since=seq)
                if e["body"]["identifier"]["user"] == local]

    def shared_secret_env(self):
        work = lettamx.Workdir()
        path = write_secret(work.__enter__(), "shared", "s3cret-shared")
        self.addCleanup(work.__exit__, None, None, None)
        return dict(registration="shared-secret", bot_cred=None,
                    hs_kw={"shared_secret": "s3cret-shared"},
                    conf={"matrix": {"shared_secret_file": path}})

    def dry_then_real(self, env, ids):
        seq = env.last_seq()
        res = self.run_ok(env, "reconcile", "--dry-run")
        self.assertIn("5 restored", res.stdout)
        self.assertIn("dry run: the changes above were not written",
                      res.stdout)
        self.assertIn("logged in as `lettamx run` does", res.stdout)
        self.assertIn("the one thing this dry run writes", res.stdout)
        # on the server: the bot's login, nothing else
        self.assertEqual(self.writes(env, seq),
                         [("POST", "/_matrix/client/v3/login")])
        self.assertEqual(len(self.bot_logins(env, seq)), 1)
        # in the store: the token, no agent, no Space, no snapshot
        self.assertEqual(self.status(env), {})
        self.assertEqual(self.space_line(env), "Space: none yet")
        snaps = os.path.join(env.work, "store", "snapshots")
        self.assertEqual(os.listdir(snaps) if os.path.isdir(snaps) else [],
                         [])
        # the real one reuses that token: no second login
        seq = env.last_seq()
        res = self.run_ok(env, "reconcile")
        self.assertIn("5 restored", res.stdout)
        self.assertNotIn("logged in", res.stdout)
        self.assertEqual(self.writes(env, seq), [])
        self.assertEqual(sorted(self.status(env)), sorted(ids))
        # and provisioning then creates nothing
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests("POST", "/createRoom$",
                                         since=seq), [])
        self.check_one_each(env, ids)

    def test_reconcile_with_a_bot_password_only(self):
        env, ids = self.lost(bot_cred="password")
        self.dry_then_real(env, ids)

    def test_reconcile_with_a_shared_secret_bot(self):
        env, ids = self.lost(**self.shared_secret_env())
        self.dry_then_real(env, ids)

    def test_reconcile_without_dry_run_logs_in_once(self):
        env, ids = self.lost(bot_cred="password")
        seq = env.last_seq()
        res = self.run_ok(env, "reconcile", "--json")
        rep = json.loads(res.stdout)
        self.assertEqual((rep["restored"], rep["bot_login"]), (5, True))
        self.assertEqual(self.writes(env, seq),
                         [("POST", "/_matrix/client/v3/login")])
        self.assertEqual(sorted(self.status(env)), sorted(ids))

    def test_dry_run_creates_no_bot(self):
        """A shared-secret bot that does not exist: the dry run only
        tries to log it in, and says why it cannot."""
        env = self.env(**self.shared_secret_env())
        seq = env.last_seq()
        res = lettamx.run(["reconcile", "--dry-run"], env.conf, test=self)
        self.assertEqual(res.returncode, 2, res.stdout + res.stderr)
        self.assertIn("cannot log in", res.stderr)
        self.assertNotIn(env.bot, env.users())
        self.assertEqual(self.writes(env, seq),
                         [("POST", "/_matrix/client/v3/login")])

    def test_a_refused_stored_token_costs_one_login(self):
        env, ids = self.lost(bot_cred="password")
        self.run_ok(env, "reconcile")
        env.hs.revoke_tokens(env.bot)
        seq = env.last_seq()
        res = self.run_ok(env, "reconcile")
        self.assertIn("logged in", res.stdout)
        self.assertEqual(len(self.bot_logins(env, seq)), 1)

    def test_provision_dry_run_says_rooms_are_looked_up(self):
        env, ids = self.lost()
        seq = env.last_seq()
        res = self.run_ok(env, "provision", "--dry-run")
        self.assertEqual(env.hs.requests(since=seq), [])
        out = res.stdout
        self.assertIn("5 not in the store: each one's room is looked up "
                      "by its marker before anything is created", out)
        self.assertIn("would create 0 users and 0 rooms", out)
        self.assertIn("the Space is not in the store: it is looked up by "
                      "its marker before one is created", out)
        self.assertNotIn("create the Space", out)
        for agent in ids:
            self.assertIn("(%s): not in the store: its room is looked up "
                          "by its marker" % agent, out)
        # and the real run does find them all
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests("POST", "/createRoom$",
                                         since=seq), [])
        self.check_one_each(env, ids)
