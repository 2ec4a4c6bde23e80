"""After a lost store, no login storm (issue 10, item 5).

Provision, lose the store (the master secret stays), let `lettamx
reconcile` rebuild the mappings from the room graph, provision again: the
records say everything is done, so no agent user logs in and no room is
made; the number of requests does not grow with the agents. An agent
that must act (a rename) costs exactly one login, its own: through the
admin login API when the bot is a server admin, else a password login.
"""

import os
import shutil

import lettamx
from test_provision import ProvisionTest

LOGINS = "/login$"      # password logins and the admin login API


class LostStore(ProvisionTest):
    def lose_store_and_reconcile(self, env):
        shutil.rmtree(os.path.join(env.work, "store"))
        res = lettamx.run(["reconcile"], env.conf, test=self)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def quiet_after_reconcile(self, n, **kw):
        env = self.env(**kw)
        ids = env.agents(n)
        env.provision()
        self.lose_store_and_reconcile(env)
        seq = env.last_seq()
        env.provision()
        log = env.hs.requests(since=seq)
        self.assertEqual([e for e in log if e["path"].endswith("/login")],
                         [])
        self.assertEqual(env.hs.requests("POST", "/createRoom$",
                                         since=seq), [])
        self.assertEqual(env.hs.requests("POST", "/register$", since=seq),
                         [])
        self.check_one_each(env, ids)
        return env, ids, len(log)

    def test_no_login_and_the_same_requests_for_5_and_25_agents(self):
        _, _, few = self.quiet_after_reconcile(5)
        _, _, many = self.quiet_after_reconcile(25)
        self.assertEqual(few, many)
        self.assertLessEqual(many, 3)   # the bot's override, the Space's
        #                                 marker read once: not per agent

    def test_a_rename_costs_that_agent_one_password_login(self):
        env, ids, _ = self.quiet_after_reconcile(6)
        env.letta.rename_agent(ids[2], "helpdesk")
        seq = env.last_seq()
        env.provision()
        logins = env.hs.requests("POST", LOGINS, since=seq)
        self.assertEqual(len(logins), 1)
        self.assertEqual(logins[0]["path"], "/_matrix/client/v3/login")
        self.assertEqual(logins[0]["body"]["identifier"]["user"],
                         "letta_" + ids[2])
        room = env.hs.room(env.markers()[ids[2]][0])
        self.assertEqual(env.state(room, "m.room.name")["name"], "helpdesk")
        seq = env.last_seq()
        env.provision()
        self.assertEqual(env.hs.requests(since=seq), [])

    def test_a_rename_costs_one_admin_login_with_an_admin_bot(self):
        env, ids, _ = self.quiet_after_reconcile(
            6, bot_admin=True, registration="admin-api")
        env.letta.rename_agent(ids[4], "helpdesk")
        seq = env.last_seq()
        env.provision()
        logins = env.hs.requests("POST", LOGINS, since=seq)
        self.assertEqual([e["path"] for e in logins],
                         ["/_synapse/admin/v1/users/%%40letta_%s%%3A"
                          "localhost/login" % ids[4]])
