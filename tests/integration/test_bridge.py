"""lettamx run, part 2: the bridge (issue 11). A person writes in an
agent's room, the agent answers there, once. Assertions come from the
fakes' state and request logs."""

import signal
import time
import unittest

import lettamx
from bridge_env import REPLY_TO, BridgeEnv
from fakes import q


class BridgeTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        e = BridgeEnv(self, **kw)
        self.addCleanup(e.close)
        return e


class RoundTrip(BridgeTest):
    def test_question_reaches_the_agent_and_the_answer_comes_back(self):
        env = self.env(n=2, scripts={0: {"mode": "echo",
                                         "prefix": "you said: "}})
        a0, a1 = env.ids
        ev = env.say(a0, "Can you reset my VPN token?")
        ans = env.wait_answer(a0, ev)
        # the right agent, with the speaker in the text, otid, name, id
        sends = env.sends(a0)
        self.assertEqual(len(sends), 1, sends)
        msg = sends[0]["messages"][0]
        self.assertEqual(msg["content"], "[Alice (@alice:localhost)] "
                         "Can you reset my VPN token?")
        self.assertEqual(msg["sender_id"], "@alice:localhost")
        self.assertEqual(msg["name"], "alice")
        self.assertRegex(msg["otid"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}"
                         r"-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(sends[0]["max_steps"], 20)
        self.assertEqual(env.sends(a1), [])
        # the answer: the agent user, m.text, naming the question
        self.assertEqual(ans["sender"], env.agent_user(a0))
        self.assertEqual(ans["content"]["body"], "you said: " + msg["content"])
        self.assertEqual(ans["content"][REPLY_TO], ev)
        # receipt on the question and typing on then off, as the agent
        au = env.agent_user(a0)
        room = env.room_of[a0]
        rec = env.hs.requests("POST", "/receipt/m.read/")
        self.assertTrue([r for r in rec if r["user"] == au and q(ev) in
                         r["path"]], rec)
        typing = [r["body"]["typing"] for r in
                  env.hs.requests("PUT", "/typing/") if r["user"] == au]
        self.assertEqual(typing[0], True)
        env.wait(lambda: [r["body"]["typing"] for r in
                          env.hs.requests("PUT", "/typing/")
                          if r["user"] == au][-1] is False, 10)
        self.assertEqual(env.d.stop(signal.SIGTERM), 0, env.d.output())

    def test_history_before_the_first_start_is_not_answered(self):
        env = self.env(n=1, start=False)
        a0 = env.ids[0]
        env.provision()
        room = env.markers()[a0][0]
        env.hs.human_join(env.uid("alice"), room)
        old = env.hs.human_send(env.uid("alice"), room, "before any start")
        env.start()
        ev = env.say(a0, "after the start")
        env.wait_answer(a0, ev)
        time.sleep(0.5)
        self.assertEqual(env.answers(a0, old), [])
        self.assertEqual(len(env.sends(a0)), 1)


if __name__ == "__main__":
    unittest.main()
