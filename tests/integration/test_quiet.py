"""An agent may stay quiet (issue 21, part 3), as people in the room
notice it: an answer of <no-reply/> (or an empty one the agent chose)
posts nothing and leaves a read receipt on the question, also when the
answer streams slowly (nothing is ever PUT); a real failure still tells
the person. Under [bridge] respond = mention a room of more than two
members besides the agent answers only what mentions the agent (with
listen, the rest reaches the agent marked as not addressed to it, and its
answer is never posted); the room's org.lettamx.room_settings state event
overrides it; a small room answers everything."""

import time
import unittest
import urllib.parse

import lettamx
from bridge_env import BridgeEnv

NO_REPLY = {"mode": "text", "text": "<no-reply/>"}
MARK = "[not addressed to you; no answer is expected]"
SETTINGS = "org.lettamx.room_settings"


def q(s):
    return urllib.parse.quote(s, safe="")


class QuietTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        e = BridgeEnv(self, **kw)
        self.addCleanup(e.close)
        return e

    def puts(self, env, agent_id):
        """Every message the agent user sent (PUT send), any outcome."""
        au = env.agent_user(agent_id)
        return [r for r in env.hs.requests("PUT", "/send/")
                if r.get("user") == au]

    def receipts(self, env, agent_id, ev):
        au = env.agent_user(agent_id)
        return [r for r in env.hs.requests("POST", "/receipt/m.read/")
                if r.get("user") == au and r["path"].endswith(q(ev))]

    def withheld(self, env, ev, why):
        return env.wait(lambda: "event=answer_withheld" in env.d.output()
                        and ("event_id=%s why=%s" % (ev, why))
                        in env.d.output(), 30)

    def answered_after(self, env, a0, ev):
        """A later question is answered: the queue went past ev."""
        nxt = env.say(a0, "and this one?")
        return env.wait_answer(a0, nxt)


class NoReply(QuietTest):
    def test_no_reply_posts_nothing_and_leaves_a_receipt(self):
        env = self.env(scripts={0: {"turns": [NO_REPLY, {"mode": "echo"}]}})
        a0 = env.ids[0]
        ev = env.say(a0, "just so you know")
        self.withheld(env, ev, "no_reply")
        env.wait(lambda: self.receipts(env, a0, ev), 10)
        self.answered_after(env, a0, ev)
        self.assertEqual(env.answers(a0, ev), [])
        self.assertEqual(env.answers(a0, ev, msgtype="m.notice"), [])
        self.assertEqual(len(self.puts(env, a0)), 1)
        self.assertEqual(len(env.sends(a0)), 2)      # taken once
        self.assertNotIn("just so you know", env.d.output())

    def test_a_slow_streamed_no_reply_is_never_shown(self):
        env = self.env(bridge={"stream_after": "1s"}, scripts={0: dict(
            NO_REPLY, delay_ms=4000)})
        a0 = env.ids[0]
        ev = env.say(a0, "think about it")
        self.withheld(env, ev, "no_reply")
        time.sleep(1.5)
        self.assertEqual(self.puts(env, a0), [])
        self.assertTrue(self.receipts(env, a0, ev))

    def test_a_live_answer_still_shows_when_it_is_not_no_reply(self):
        env = self.env(bridge={"stream_after": "1s"}, scripts={0: {
            "mode": "messages", "stream_delay_ms": 1500, "messages": [
                {"type": "assistant", "text": "<b>first</b>"},
                {"type": "assistant", "text": "second"},
                {"type": "assistant", "text": "third"}]}})
        a0 = env.ids[0]
        ev = env.say(a0, "slowly")
        env.wait(lambda: [a for a in env.answers(a0, ev)
                          if a["content"]["body"].endswith("third")], 30)
        self.assertGreaterEqual(len(self.puts(env, a0)), 2)  # live + edit

    def test_an_empty_answer_the_agent_chose_posts_nothing(self):
        env = self.env(scripts={0: {"mode": "none",
                                    "stop_reason": "end_turn"}})
        a0 = env.ids[0]
        ev = env.say(a0, "nothing to add")
        self.withheld(env, ev, "empty")
        env.wait(lambda: self.receipts(env, a0, ev), 10)
        time.sleep(1)
        self.assertEqual(self.puts(env, a0), [])

    def test_a_failure_still_tells_the_person(self):
        env = self.env(scripts={0: {"mode": "none",
                                    "stop_reason": "max_steps"}})
        a0 = env.ids[0]
        ev = env.say(a0, "a hard one")
        n = env.wait_answer(a0, ev, msgtype="m.notice")
        self.assertIn("max_steps", n["content"]["body"])
        self.assertNotIn("answer_withheld", env.d.output())


class RespondMention(QuietTest):
    PEOPLE = ("alice", "bob")   # with the bot and the agent: 4 members

    def env(self, listen=False, people=PEOPLE, **kw):
        kw.setdefault("scripts", {0: {"mode": "echo", "prefix": "echo: "}})
        return super().env(people=people, bridge={
            "respond": "mention", "listen": "true" if listen else "false"},
            **kw)

    def test_only_mentions_are_answered_in_a_room_of_four(self):
        env = self.env()
        a0 = env.ids[0]
        au = env.agent_user(a0)
        plain = env.say(a0, "lunch at noon?", person="bob")
        by_pill = env.say(a0, "agent: what is 2+2?",
                          **{"m.mentions": {"user_ids": [au]}})
        env.wait_answer(a0, by_pill)
        by_id = env.say(a0, "%s what is 3+3?" % au)
        env.wait_answer(a0, by_id)
        by_link = env.say(a0, "agent: 4+4?", format="org.matrix.custom.html",
                          formatted_body='<a href="https://matrix.to/#/%s">'
                          'agent</a>: 4+4?' % q(au))
        env.wait_answer(a0, by_link)
        cmd = env.say(a0, "!help", person="bob")
        env.wait_answer(a0, cmd, msgtype="m.notice")
        self.assertEqual(env.answers(a0, plain), [])
        sent = " ".join(str(b) for b in env.sends(a0))
        self.assertNotIn("lunch at noon", sent)       # listen = false
        self.assertEqual(len(env.sends(a0)), 3)
        self.assertEqual(self.receipts(env, a0, plain), [])

    def test_listen_passes_the_rest_marked_and_never_answers(self):
        env = self.env(listen=True)
        a0 = env.ids[0]
        plain = env.say(a0, "lunch at noon?", person="bob")
        self.withheld(env, plain, "not_addressed")
        sent = env.sends(a0)
        self.assertEqual(len(sent), 1)
        text = sent[0]["messages"][0]["content"]
        self.assertTrue(text.startswith(MARK + "\n"), text)
        self.assertIn("lunch at noon?", text)
        env.wait(lambda: self.receipts(env, a0, plain), 10)
        asked = env.say(a0, "%s and you?" % env.agent_user(a0))
        env.wait_answer(a0, asked)
        self.assertEqual(env.answers(a0, plain), [])
        self.assertEqual(len(self.puts(env, a0)), 1)
        self.assertFalse(env.sends(a0)[1]["messages"][0]["content"]
                         .startswith(MARK))

    def test_room_settings_always_answers_everything(self):
        env = self.env()
        a0 = env.ids[0]
        room = env.room_of[a0]
        plain = env.say(a0, "first, unasked", person="bob")
        time.sleep(2)       # an answer would be there by now
        self.assertEqual(env.answers(a0, plain), [])
        st, _ = env.hs.act(env.bot, "PUT", "/_matrix/client/v3/rooms/%s/"
                           "state/%s/" % (q(room), SETTINGS),
                           {"respond": "always"})
        self.assertEqual(st, 200)
        env.wait(lambda: "event=room_settings room=%s" % room
                 in env.d.output(), 20)
        ev = env.say(a0, "now unasked too", person="bob")
        env.wait_answer(a0, ev)
        # an unknown value is ignored, with a line in the log
        env.hs.act(env.bot, "PUT", "/_matrix/client/v3/rooms/%s/state/%s/"
                   % (q(room), SETTINGS), {"respond": "sometimes"})
        env.wait(lambda: "event=room_settings_ignored" in env.d.output(), 20)
        ev2 = env.say(a0, "still answered", person="bob")
        env.wait_answer(a0, ev2)
        # the setting survives a restart (kept with the sync token)
        env.d.stop()
        env.start(first=False)
        ev3 = env.say(a0, "after a restart", person="bob")
        env.wait_answer(a0, ev3)

    def test_a_two_person_room_answers_everything(self):
        env = self.env(people=("alice",))
        a0 = env.ids[0]
        ev = env.say(a0, "no mention here")
        self.assertTrue(env.wait_answer(a0, ev))


if __name__ == "__main__":
    unittest.main()
