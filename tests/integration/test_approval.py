"""Tool approvals from the room (issue 12, item 5): an agent paused on a
tool call (the fake's `approval` script) is shown to the person with the
tool and its arguments; `!approve` / `!deny [reason]` answer it through
the room's turn; the answer comes as usual. Assertions come from the
room as the person reads it and from the fake Letta's request log."""

import json
import signal
import time
import unittest

import lettamx
from bridge_env import REPLY_TO, BridgeEnv

ARGS = json.dumps({"path": "/srv/old-logs", "recursive": True})
SCRIPT = {"mode": "approval", "tool_name": "delete_files",
          "tool_args": ARGS}


def approval_items(sends):
    """The approval items of the fake's logged send bodies."""
    return [m for b in sends for m in b["messages"]
            if m.get("type") == "approval"]


class ApprovalTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        # alice may answer tool calls ([bridge] approvers)
        kw.setdefault("bridge", {}).setdefault("approvers",
                                               "@alice:localhost")
        e = BridgeEnv(self, **kw)
        self.addCleanup(e.close)
        return e

    def ask(self, env, a0, text="clean up the old logs"):
        """A question the agent answers by asking for approval; returns
        the question's event id and the notice."""
        q = env.say(a0, text)
        note = env.wait_answer(a0, q, msgtype="m.notice")["content"]
        env.wait(lambda: env.letta.agent(a0)["pending_approval"], 10)
        return q, note

    def pending_call(self, env, a0):
        hist = env.letta.history(a0)
        reqs = [m for m in hist
                if m["message_type"] == "approval_request_message"]
        return reqs[-1]["tool_call"]["tool_call_id"]


class RoundTrip(ApprovalTest):
    def test_ask_then_approve(self):
        env = self.env(n=1, scripts={0: SCRIPT})
        a0 = env.ids[0]
        au = env.agent_user(a0)
        q, note = self.ask(env, a0)
        body = note["body"]
        self.assertIn('"delete_files"', body)
        self.assertIn("/srv/old-logs", body)
        self.assertIn("!approve", body)
        self.assertIn("!deny [reason]", body)
        self.assertEqual(env.answers(a0, q), [])     # no m.text for it
        st = env.say(a0, "!status")
        c = env.wait_answer(a0, st, msgtype="m.notice")["content"]
        self.assertIn('Waiting for approval: the tool "delete_files"',
                      c["body"])
        call = self.pending_call(env, a0)
        ap = env.say(a0, "!approve")
        ans = env.wait_answer(a0, ap, 20)
        self.assertEqual(ans["sender"], au)
        self.assertIn("Done: I ran delete_files", ans["content"]["body"])
        # the command's own notice, and no question in the main turn
        env.wait_answer(a0, ap, 5, msgtype="m.notice")
        items = approval_items(env.sends(a0))
        self.assertEqual(len(items), 1, items)
        self.assertEqual(items[0]["approvals"], [
            {"type": "approval", "tool_call_id": call, "approve": True}])
        self.assertFalse(env.letta.agent(a0)["pending_approval"])
        self.assertEqual(len(env.sends(a0)), 2)
        # typing was on for the approval turn and is off at the end
        env.wait(lambda: [r for r in env.hs.requests("PUT", "/typing/")
                          if r["user"] == au][-1]["body"]["typing"] is False,
                 5)
        # answered: a second !approve finds nothing and asks Letta nothing
        again = env.say(a0, "!approve")
        c = env.wait_answer(a0, again, msgtype="m.notice")["content"]
        self.assertIn("No tool is waiting for approval", c["body"])
        time.sleep(0.5)
        self.assertEqual(len(env.sends(a0)), 2)

    def test_ask_then_deny_with_a_reason(self):
        env = self.env(n=1, scripts={0: SCRIPT})
        a0 = env.ids[0]
        self.ask(env, a0)
        call = self.pending_call(env, a0)
        d = env.say(a0, "!deny because no")
        ans = env.wait_answer(a0, d, 20)
        self.assertIn("I did not run delete_files", ans["content"]["body"])
        self.assertIn("(You said: because no)", ans["content"]["body"])
        items = approval_items(env.sends(a0))
        self.assertEqual(items, [{"type": "approval", "approvals": [
            {"type": "approval", "tool_call_id": call, "approve": False,
             "reason": "because no"}]}])

    def test_approve_with_nothing_pending_asks_letta_nothing(self):
        env = self.env(n=1, scripts={0: {"mode": "echo"}})
        a0 = env.ids[0]
        ap = env.say(a0, "!approve")
        c = env.wait_answer(a0, ap, msgtype="m.notice")["content"]
        self.assertIn("No tool is waiting for approval", c["body"])
        dn = env.say(a0, "!deny not now")
        env.wait_answer(a0, dn, msgtype="m.notice")
        time.sleep(0.5)
        self.assertEqual(env.sends(a0), [])
        self.assertEqual(env.answers(a0), [])


class Who(ApprovalTest):
    """Tools may run on the Letta host: only [bridge] approvers (else the
    admins) may answer a tool call; a person who may not is told so, and
    nothing reaches Letta."""

    def refused(self, env, a0, command, person, words):
        """`command` from `person` is refused with `words`; nothing went
        to Letta."""
        ap = env.say(a0, command, person=person)
        c = env.wait_answer(a0, ap, msgtype="m.notice")["content"]
        self.assertIn(words, c["body"])
        time.sleep(0.5)
        self.assertEqual(approval_items(env.sends(a0)), [])

    def test_a_person_who_may_not_approve_is_told_and_nothing_is_sent(self):
        env = self.env(n=1, scripts={0: SCRIPT}, people=("alice", "bob"))
        a0 = env.ids[0]
        self.ask(env, a0)
        self.refused(env, a0, "!approve", "bob",
                     "Only the people named in the bridge's approvers")
        self.assertTrue(env.letta.agent(a0)["pending_approval"])
        # alice may: the call is still there for her
        ap = env.say(a0, "!approve")
        env.wait_answer(a0, ap, 20)
        self.assertEqual(len(approval_items(env.sends(a0))), 1)

    def test_with_no_approvers_and_no_admins_nobody_may(self):
        env = self.env(n=1, scripts={0: SCRIPT},
                       bridge={"approvers": "", "admins": ""})
        a0 = env.ids[0]
        self.ask(env, a0)
        self.refused(env, a0, "!deny no", "alice",
                     "Nobody may answer tool calls here")

    def test_the_admins_approve_when_no_approvers_are_named(self):
        env = self.env(n=1, scripts={0: SCRIPT}, people=("alice", "bob"),
                       bridge={"approvers": "", "admins": "@bob:localhost"})
        a0 = env.ids[0]
        self.ask(env, a0)
        self.refused(env, a0, "!approve", "alice", "Only the people named")
        ap = env.say(a0, "!approve", person="bob")
        env.wait_answer(a0, ap, 20)
        self.assertEqual(len(approval_items(env.sends(a0))), 1)


class Paused(ApprovalTest):
    def test_a_message_while_paused_names_the_waiting_tool(self):
        env = self.env(n=1, scripts={0: SCRIPT})
        a0 = env.ids[0]
        self.ask(env, a0)
        m = env.say(a0, "are you there?")
        c = env.wait_answer(a0, m, msgtype="m.notice")["content"]
        self.assertIn('"delete_files"', c["body"])
        self.assertIn("!approve", c["body"])
        self.assertNotIn("{", c["body"])            # plain words, no JSON
        self.assertEqual(env.answers(a0, m), [])
        # still pending: the approval works after the refused message
        call = self.pending_call(env, a0)
        ap = env.say(a0, "!approve")
        env.wait_answer(a0, ap, 20)
        self.assertEqual(approval_items(env.sends(a0))[0]["approvals"][0]
                         ["tool_call_id"], call)

    def test_a_pause_the_bridge_did_not_see_is_found_in_the_history(self):
        env = self.env(n=1, scripts={0: SCRIPT})
        a0 = env.ids[0]
        # someone else (the web UI) talks to the agent, which pauses
        res = env.letta.http("POST", "/v1/agents/%s/messages" % a0, {
            "messages": [{"role": "user", "content": "from the web"}]})
        self.assertEqual(res.status, 200, res.body)
        call = self.pending_call(env, a0)
        m = env.say(a0, "hello?")
        c = env.wait_answer(a0, m, msgtype="m.notice")["content"]
        self.assertIn('"delete_files"', c["body"])
        self.assertIn("approval_found", env.d.output())
        ap = env.say(a0, "!approve")
        ans = env.wait_answer(a0, ap, 20)
        self.assertIn("Done: I ran delete_files", ans["content"]["body"])
        self.assertEqual(approval_items(env.sends(a0))[0]["approvals"],
                         [{"type": "approval", "tool_call_id": call,
                           "approve": True}])

    def test_an_approval_letta_no_longer_waits_for_is_told_plainly(self):
        env = self.env(n=1, scripts={0: SCRIPT})
        a0 = env.ids[0]
        self.ask(env, a0)
        # the agent's history is reset behind the bridge's back (the
        # web UI, say): the bridge still holds the call, Letta does not
        res = env.letta.http("PATCH", "/v1/agents/%s/reset-messages" % a0,
                             {"add_default_initial_messages": False})
        self.assertEqual(res.status, 200, res.body)
        self.assertFalse(env.letta.agent(a0)["pending_approval"])
        ap = env.say(a0, "!approve")
        c = env.wait(lambda: [e for e in env.answers(a0, ap, "m.notice")
                              if "no longer waiting" in e["content"]["body"]],
                     20)[0]["content"]
        self.assertNotIn("{", c["body"])
        self.assertNotIn("awaiting", c["body"])     # not Letta's words
        self.assertEqual(env.answers(a0, ap), [])
        self.assertEqual(len(approval_items(env.sends(a0))), 1)


class Restart(ApprovalTest):
    def test_kill_9_between_the_request_and_approve(self):
        env = self.env(n=1, scripts={0: SCRIPT})
        a0 = env.ids[0]
        self.ask(env, a0)
        call = self.pending_call(env, a0)
        env.d.stop(signal.SIGKILL)
        env.d = None
        env.start(first=False)
        ap = env.say(a0, "!approve")
        ans = env.wait_answer(a0, ap, 30)
        self.assertIn("Done: I ran delete_files", ans["content"]["body"])
        items = approval_items(env.sends(a0))
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["approvals"][0]["tool_call_id"], call)
        self.assertIs(items[0]["approvals"][0]["approve"], True)


    def test_kill_9_while_the_approval_runs_is_not_sent_again(self):
        env = self.env(n=1, scripts={0: dict(SCRIPT, delay_ms=2500)})
        a0 = env.ids[0]
        self.ask(env, a0)
        ap = env.say(a0, "!approve")
        env.wait(lambda: env.letta.agent(a0)["in_flight"] == 1, 10)
        env.d.stop(signal.SIGKILL)
        env.d = None
        env.start(first=False)
        ans = env.wait_answer(a0, ap, 30)
        self.assertIn("Done: I ran delete_files", ans["content"]["body"])
        # found in the history by its approval response, never re-sent
        self.assertEqual(len(approval_items(env.sends(a0))), 1)
        self.assertIn("event=turn_recovered", env.d.output())
        self.assertEqual([e for e in env.answers(a0, ap, "m.notice")
                          if "no longer waiting" in e["content"]["body"]],
                         [])


if __name__ == "__main__":
    unittest.main()
