"""A thread is its own Letta conversation (issue 21, part 1), over the
REST API: the room's main timeline stays the agent's default
conversation, each thread gets one conversation, made once, found again
after a crash or a lost store, started over by !reset in the thread.
Assertions come from the fake Letta's conversations (what the agent
holds) and request log, and from the room as a person reads it."""

import os
import shutil
import signal
import time
import unittest

import lettamx
from bridge_env import BridgeEnv

CREATE = r"^/v1/conversations/$"               # a fault's path (no query)
MADE = r"^/v1/conversations/(\?|$)"            # the log's (with it)
CONV = "org.lettamx.conversation"
MARK = "org.lettamx.thread"


def in_thread(root):
    return {"m.relates_to": {"rel_type": "m.thread", "event_id": root,
                             "is_falling_back": True,
                             "m.in_reply_to": {"event_id": root}}}


class ThreadTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        kw.setdefault("scripts", {0: {"mode": "echo", "prefix": "re: "}})
        e = BridgeEnv(self, **kw)
        self.addCleanup(e.close)
        return e

    def convs(self, env, agent):
        """The agent's conversations at the fake: {summary: entry}; the
        default one under None. Two with one summary fail the test."""
        got = env.letta.control("GET", "conversations?agent_id=" + agent)
        summaries = [c["summary"] for c in got["conversations"]]
        self.assertEqual(len(summaries), len(set(summaries)),
                         "a conversation made twice: %r" % summaries)
        return {c["summary"]: c for c in got["conversations"]}

    def history_text(self, env, conv_id):
        msgs = env.letta.control("GET", "conversations/%s/history"
                                 % conv_id)["messages"]
        return " ".join(str(m.get("content", "")) for m in msgs)

    def key(self, env, agent, root):
        return "Matrix thread %s in %s" % (root, env.room_of[agent])

    def root(self, env, agent, text="a root"):
        """A main-timeline question, answered: a thread's root."""
        ev = env.say(agent, text)
        env.wait_answer(agent, ev)
        return ev

    def ask_thread(self, env, agent, root, text):
        q = env.say(agent, text, **in_thread(root))
        return q, env.wait_answer(agent, q)["content"]


class Conversations(ThreadTest):
    def test_two_threads_and_the_main_timeline_are_three_conversations(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "first root")
        r2 = self.root(env, a0, "second root")
        _, c1 = self.ask_thread(env, a0, r1, "alpha in one")
        _, c2 = self.ask_thread(env, a0, r2, "beta in two")
        _, c3 = self.ask_thread(env, a0, r1, "gamma in one")
        for c, root in ((c1, r1), (c2, r2), (c3, r1)):
            self.assertEqual(c["m.relates_to"]["event_id"], root)
            self.assertEqual(c["m.relates_to"]["rel_type"], "m.thread")
        self.assertIn("gamma in one", c3["body"])
        convs = self.convs(env, a0)
        self.assertEqual(len(convs), 3, convs)
        one = convs[self.key(env, a0, r1)]
        two = convs[self.key(env, a0, r2)]
        self.assertEqual((one["sends"], two["sends"]), (2, 1))
        self.assertEqual(convs[None]["sends"], 2)       # the two roots
        # each history holds its own words only
        h1 = self.history_text(env, one["id"])
        self.assertIn("alpha in one", h1)
        self.assertIn("gamma in one", h1)
        self.assertNotIn("beta in two", h1)
        self.assertNotIn("first root", h1)
        self.assertNotIn("alpha", self.history_text(env, two["id"]))
        # one create per thread, and the sends went to their paths
        self.assertEqual(len(env.letta.requests("POST", MADE)), 2)
        self.assertEqual(len(env.letta.requests(
            "POST", "^/v1/conversations/%s/messages$" % one["id"])), 2)

    def test_threads_shared_keeps_one_conversation(self):
        env = self.env(bridge={"threads": "shared"})
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        _, c = self.ask_thread(env, a0, r1, "in the thread")
        self.assertEqual(c["m.relates_to"]["event_id"], r1)
        self.assertEqual(len(self.convs(env, a0)), 1)
        self.assertEqual(env.letta.requests("POST", MADE), [])
        self.assertEqual(self.convs(env, a0)[None]["sends"], 2)

    def test_status_in_a_thread_names_its_conversation(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        s = env.say(a0, "!status", **in_thread(r1))
        body = env.wait_answer(a0, s, msgtype="m.notice")["content"]["body"]
        self.assertIn("Conversation: none yet", body)
        self.ask_thread(env, a0, r1, "now it has one")
        conv = self.convs(env, a0)[self.key(env, a0, r1)]["id"]
        s = env.say(a0, "!status", **in_thread(r1))
        body = env.wait_answer(a0, s, msgtype="m.notice")["content"]["body"]
        self.assertIn("Conversation: %s (this thread's own)" % conv, body)
        s = env.say(a0, "!status")
        body = env.wait_answer(a0, s, msgtype="m.notice")["content"]["body"]
        self.assertIn("Conversation: the agent's default one", body)

    def test_reset_in_a_thread_starts_only_that_thread_over(self):
        env = self.env(bridge={"admins": "@alice:localhost"})
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        self.ask_thread(env, a0, r1, "before the reset")
        old = self.convs(env, a0)[self.key(env, a0, r1)]["id"]
        env.say(a0, "!reset", **in_thread(r1))
        ok = env.say(a0, "!reset confirm", **in_thread(r1))
        body = env.wait_answer(a0, ok, msgtype="m.notice")["content"]["body"]
        self.assertIn("this thread now talks to the agent in a new "
                      "conversation", body)
        self.assertEqual(env.letta.requests("PATCH", "/reset-messages"), [])
        _, c = self.ask_thread(env, a0, r1, "after the reset")
        convs = self.convs(env, a0)
        self.assertEqual(len(convs), 3, convs)
        new = [v for k, v in convs.items() if k and "since" in k][0]
        self.assertNotEqual(new["id"], old)
        self.assertIn("after the reset", self.history_text(env, new["id"]))
        self.assertNotIn("after the reset", self.history_text(env, old))
        # the main timeline still talks in the default conversation
        m = self.root(env, a0, "main again")
        self.assertEqual(self.convs(env, a0)[None]["sends"], 2)

    def test_a_letta_without_conversations_answers_in_the_room(self):
        env = self.env()
        a0 = env.ids[0]
        env.letta.inject_fault("GET", CREATE, count=-1, status=404,
                               body={"detail": "Not Found"})
        r1 = self.root(env, a0, "a root")
        q = env.say(a0, "in the thread", **in_thread(r1))
        c = env.wait_answer(a0, q)["content"]
        self.assertEqual(c["m.relates_to"]["event_id"], r1)
        notes = env.answers(a0, q, msgtype="m.notice")
        self.assertIn("cannot keep a thread apart", notes[0]["content"]["body"])
        self.assertEqual(self.convs(env, a0)[None]["sends"], 2)
        self.assertEqual(env.letta.requests("POST", MADE), [])


MAIN_SEND = r"^/v1/agents/[^/]+/messages"
THREAD_SEND = r"^/v1/conversations/[^/]+/messages"


class Lanes(ThreadTest):
    """Turns in different conversations of one agent run at once; one
    turn per conversation at a time (each thread has a lane of its own
    in its room)."""

    def slow(self, env, agent, ms):
        env.letta.set_script(agent, {"mode": "echo", "prefix": "re: ",
                                     "delay_ms": ms})

    def test_a_thread_is_answered_while_the_main_timeline_works(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        self.slow(env, a0, 3000)
        qm = env.say(a0, "a slow main question")
        env.wait(lambda: env.letta.requests("POST", MAIN_SEND + ".*")[1:])
        qt = env.say(a0, "a thread question", **in_thread(r1))
        env.wait_answer(a0, qt)
        env.wait_answer(a0, qm)
        main = env.letta.requests("POST", MAIN_SEND)[-1]
        thread = env.letta.requests("POST", THREAD_SEND)[-1]
        # the thread's question reached Letta while the main timeline's
        # turn was still running there
        self.assertLess(thread["t_recv"], main["t_sent"])
        self.assertEqual(len(env.answers(a0, qm)), 1)
        self.assertEqual(len(env.answers(a0, qt)), 1)

    def test_two_questions_of_one_thread_go_one_after_the_other(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        self.ask_thread(env, a0, r1, "made")      # the conversation
        self.slow(env, a0, 1500)
        q1 = env.say(a0, "first of two", **in_thread(r1))
        q2 = env.say(a0, "second of two", **in_thread(r1))
        env.wait_answer(a0, q2, 30)
        env.wait_answer(a0, q1, 30)
        sends = env.letta.requests("POST", THREAD_SEND)[-2:]
        self.assertGreaterEqual(sends[1]["t_recv"], sends[0]["t_sent"])
        bodies = [a["content"]["body"] for a in env.answers(a0)]
        self.assertLess(next(i for i, b in enumerate(bodies)
                             if "first of two" in b),
                        next(i for i, b in enumerate(bodies)
                             if "second of two" in b))

    def test_cancel_stops_the_threads_turn_too(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        self.ask_thread(env, a0, r1, "made")
        self.slow(env, a0, 20000)
        env.say(a0, "slow main")
        qt = env.say(a0, "slow thread", **in_thread(r1))
        env.wait(lambda: len(env.letta.requests("POST", THREAD_SEND)) >= 2)
        c = env.say(a0, "!cancel")
        env.wait_answer(a0, c, 20, msgtype="m.notice")
        self.slow(env, a0, 0)
        q = env.say(a0, "after the cancel", **in_thread(r1))
        self.assertIn("after the cancel", env.wait_answer(a0, q, 30)[
            "content"]["body"])
        self.assertEqual(env.answers(a0, qt), [])


class Crashes(ThreadTest):
    def test_a_lost_create_answer_makes_no_second_conversation(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        # the server makes it, its answer is lost on the way
        env.letta.inject_fault("POST", CREATE, drop="after_head")
        self.ask_thread(env, a0, r1, "first in the thread")
        convs = self.convs(env, a0)
        self.assertEqual(len(convs), 2, convs)
        self.assertEqual(convs[self.key(env, a0, r1)]["sends"], 1)

    def test_kill_9_between_the_create_and_the_store_makes_one(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        seq = env.letta.requests()[-1]["seq"]
        # made at the server, the answer cut: lettamx waits to try again
        env.letta.inject_fault("POST", CREATE, truncate=True)
        q = env.say(a0, "asked before the crash", **in_thread(r1))
        env.wait(lambda: env.letta.requests("POST", MADE, since=seq))
        env.d.stop(signal.SIGKILL)
        self.assertEqual(len(self.convs(env, a0)), 2)
        env.start(first=False)
        c = env.wait_answer(a0, q)["content"]
        self.assertIn("asked before the crash", c["body"])
        convs = self.convs(env, a0)
        self.assertEqual(len(convs), 2, convs)
        self.assertEqual(convs[self.key(env, a0, r1)]["sends"], 1)
        self.assertEqual(len(env.answers(a0, q)), 1)

    def test_a_lost_store_finds_the_threads_conversation_again(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        self.ask_thread(env, a0, r1, "before the loss")
        env.d.stop()
        shutil.rmtree(os.path.join(env.work, "store"))
        env.start(first=False)
        env.wait(lambda: "event=first_sync" in env.d.output(), 30)
        _, c = self.ask_thread(env, a0, r1, "after the loss")
        convs = self.convs(env, a0)
        self.assertEqual(len(convs), 2, convs)
        conv = convs[self.key(env, a0, r1)]
        self.assertEqual(conv["sends"], 2)
        self.assertIn("before the loss", self.history_text(env, conv["id"]))
        self.assertEqual(len(env.letta.requests("POST", MADE)), 1)


class Marks(ThreadTest):
    """The room keeps each thread's conversation (issue 21, part 1): its
    answers name it, the bot's mark holds the newest, and reconcile
    rebuilds the mappings from the marks after a lost store."""

    def mark(self, env, agent, root):
        """The conversation the bot's mark of thread root names, or None."""
        room = env.hs.room(env.room_of[agent])
        for ev in room.get("state", []):
            if ev["type"] == MARK and ev.get("state_key") == root and \
                    ev["sender"] == env.bot:
                return ev["content"].get("conversation")
        return None

    def test_an_answer_in_a_thread_names_its_conversation(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        _, c = self.ask_thread(env, a0, r1, "in the thread")
        conv = self.convs(env, a0)[self.key(env, a0, r1)]["id"]
        self.assertEqual(c.get(CONV), conv)
        # the main timeline talks in the agent's default: nothing named
        self.assertNotIn(CONV, env.answers(a0, r1)[0]["content"])
        env.wait(lambda: self.mark(env, a0, r1) == conv)

    def test_a_mark_refused_for_pacing_is_posted_after_the_wait(self):
        env = self.env()
        a0 = env.ids[0]
        r1 = self.root(env, a0, "a root")
        env.hs.inject_fault("PUT", "/state/" + MARK + "/", count=2,
                            status=429, body={"errcode": "M_LIMIT_EXCEEDED",
                                              "retry_after_ms": 300})
        self.ask_thread(env, a0, r1, "in the thread")
        conv = self.convs(env, a0)[self.key(env, a0, r1)]["id"]
        env.wait(lambda: self.mark(env, a0, r1) == conv)
        puts = env.hs.requests("PUT", "/state/" + MARK + "/")
        self.assertEqual(len(puts), 3, puts)
        self.assertIn("event=thread_marked", env.d.output())

    def test_a_lost_store_keeps_each_threads_conversation_and_reset(self):
        env = self.env(bridge={"admins": "@alice:localhost"})
        a0 = env.ids[0]
        r1 = self.root(env, a0, "first root")
        r2 = self.root(env, a0, "second root")
        self.ask_thread(env, a0, r1, "one before")
        self.ask_thread(env, a0, r2, "two before")
        env.say(a0, "!reset", **in_thread(r2))
        ok = env.say(a0, "!reset confirm", **in_thread(r2))
        note = env.wait_answer(a0, ok, msgtype="m.notice")["content"]
        convs = self.convs(env, a0)
        one = convs[self.key(env, a0, r1)]["id"]
        old = convs[self.key(env, a0, r2)]["id"]
        new = [v for k, v in convs.items() if k and "since" in k][0]["id"]
        self.assertEqual(note.get(CONV), new)   # the notice names the new
        env.wait(lambda: self.mark(env, a0, r2) == new)
        env.wait(lambda: self.mark(env, a0, r1) == one)
        env.d.stop()
        shutil.rmtree(os.path.join(env.work, "store"))
        seq = env.letta.requests()[-1]["seq"]
        env.start(first=False)
        env.wait(lambda: "event=first_sync" in env.d.output(), 30)
        self.assertIn(" threads=2 ", env.d.output())
        _, c1 = self.ask_thread(env, a0, r1, "one after")
        _, c2 = self.ask_thread(env, a0, r2, "two after")
        self.assertEqual((c1.get(CONV), c2.get(CONV)), (one, new))
        self.assertIn("one after", self.history_text(env, one))
        self.assertIn("two after", self.history_text(env, new))
        self.assertNotIn("two after", self.history_text(env, old))
        # the mappings came back whole: nothing looked for, nothing made
        self.assertEqual(len(self.convs(env, a0)), 4)
        self.assertEqual(env.letta.requests(None, r"^/v1/conversations/?"
                                            r"(\?|$)", since=seq), [])


if __name__ == "__main__":
    unittest.main()
