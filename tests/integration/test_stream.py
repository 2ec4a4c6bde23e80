"""Streamed answers as a person sees them (issue 12, item 4): a slow
answer shows up after stream_after as one message, edited as the agent
goes on (at most once a second, 20 edits at most, the newest text
winning), its last edit the whole answer; a quick one is posted once; a
stream that breaks off ends with the whole answer from the history and
the turn sent to Letta once. Assertions come from the room as the person
reads it and from the fakes' request logs."""

import signal
import time
import unittest

import lettamx
from bridge_env import REPLY_TO, BridgeEnv


def steps(n, gap_ms, word="step", **extra):
    """A script of n assistant messages, one every gap_ms."""
    return dict({"mode": "messages", "stream_delay_ms": gap_ms,
                 "messages": [{"type": "assistant",
                               "text": "%s %d" % (word, i + 1)}
                              for i in range(n)]}, **extra)


def full(n, word="step"):
    return "\n\n".join("%s %d" % (word, i + 1) for i in range(n))


LIVE = {"stream_after": "3s"}


class StreamTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        kw.setdefault("bridge", {})
        for k, v in LIVE.items():
            kw["bridge"].setdefault(k, v)
        e = BridgeEnv(self, **kw)
        self.addCleanup(e.close)
        return e

    def edit_puts(self, env, agent_id):
        """The agent user's PUTs of edits (m.replace), in order."""
        au = env.agent_user(agent_id)
        return sorted([r for r in env.hs.requests("PUT", "/send/m.room.message/")
                       if r.get("user") == au and r["status"] == 200 and
                       (r["body"].get("m.relates_to") or {}).get("rel_type")
                       == "m.replace"], key=lambda r: r["time"])

    def first_put(self, env, agent_id, ev):
        """The agent user's first message for question ev, as sent."""
        au = env.agent_user(agent_id)
        return sorted([r for r in env.hs.requests("PUT", "/send/m.room.message/")
                       if r.get("user") == au and r["status"] == 200 and
                       r["body"].get(REPLY_TO) == ev and
                       (r["body"].get("m.relates_to") or {}).get(
                           "rel_type") != "m.replace"],
                      key=lambda r: r["time"])[0]

    def wait_final(self, env, agent_id, ev, text, timeout=40):
        return env.wait(lambda: [a for a in env.answers(agent_id, ev)
                                 if a["content"]["body"] == text], timeout,
                        0.1)[0]


class Live(StreamTest):
    def test_a_ten_second_answer_is_one_message_and_a_few_edits(self):
        env = self.env(n=1, scripts={0: steps(10, 1000)})
        a0 = env.ids[0]
        ev = env.say(a0, "take your time")
        ans = self.wait_final(env, a0, ev, full(10))
        time.sleep(1.5)
        answers = env.answers(a0, ev)
        self.assertEqual(len(answers), 1, answers)
        # the first message came before the answer was complete
        first = self.first_put(env, a0, ev)["body"]["body"]
        self.assertNotEqual(first, full(10))
        self.assertTrue(full(10).startswith(first), first)
        edits = self.edit_puts(env, a0)
        self.assertGreaterEqual(len(edits), 2)
        self.assertLessEqual(len(edits), 10)
        for prev, nxt in zip(edits, edits[1:]):
            self.assertGreaterEqual(nxt["time"] - prev["time"], 1.0)
        last = edits[-1]["body"]
        self.assertEqual(last["m.new_content"]["body"], full(10))
        self.assertEqual(last["m.relates_to"]["event_id"],
                         ans["event_id"])
        self.assertEqual(last["body"], "* " + full(10))
        # an intermediate text grew step by step, never went back
        shown = [e["body"]["m.new_content"]["body"] for e in edits]
        for a, b in zip(shown, shown[1:]):
            self.assertTrue(b.startswith(a.rstrip(" …")), (a, b))
        self.assertEqual(len(env.sends(a0)), 1)
        self.assertIn("event=answer_live", env.d.output())

    def test_a_one_second_answer_is_posted_once_with_no_edit(self):
        env = self.env(n=1, scripts={0: steps(2, 500)})
        a0 = env.ids[0]
        ev = env.say(a0, "quick")
        self.wait_final(env, a0, ev, full(2))
        time.sleep(2)
        self.assertEqual(self.edit_puts(env, a0), [])
        self.assertEqual(len(env.answers(a0, ev)), 1)
        self.assertEqual(self.first_put(env, a0, ev)["body"]["body"], full(2))

    def test_markdown_final_edit_carries_the_html(self):
        md = ["# Title", "Some **bold** text.", "```python\nprint(1)\n```"]
        script = {"mode": "messages", "stream_delay_ms": 1500,
                  "messages": [{"type": "assistant", "text": t} for t in md]}
        env = self.env(n=1, scripts={0: script})
        a0 = env.ids[0]
        ev = env.say(a0, "format it")
        ans = self.wait_final(env, a0, ev, "\n\n".join(md))
        c = ans["content"]
        self.assertEqual(c["format"], "org.matrix.custom.html")
        self.assertIn("<h1>Title</h1>", c["formatted_body"])
        self.assertIn('<code class="language-python">', c["formatted_body"])

    def test_tools_are_shown_compactly_while_the_agent_works(self):
        script = {"mode": "messages", "stream_delay_ms": 1200, "messages": [
            {"type": "assistant", "text": "Let me look."},
            {"type": "tool_call", "name": "web_search",
             "arguments": "{\"q\": \"x\"}"},
            {"type": "tool_return", "text": "ok"},
            {"type": "assistant", "text": "Found it."}]}
        env = self.env(n=1, scripts={0: script})
        a0 = env.ids[0]
        ev = env.say(a0, "search")
        self.wait_final(env, a0, ev, "Let me look.\n\nFound it.")
        bodies = [self.first_put(env, a0, ev)["body"]["body"]] + [
            e["body"]["m.new_content"]["body"]
            for e in self.edit_puts(env, a0)]
        self.assertTrue(any("`web_search`" in b for b in bodies), bodies)
        self.assertNotIn("web_search", bodies[-1])

    def test_show_tools_off_never_names_a_tool(self):
        script = {"mode": "messages", "stream_delay_ms": 1200, "messages": [
            {"type": "tool_call", "name": "web_search", "arguments": "{}"},
            {"type": "tool_return", "text": "ok"},
            {"type": "assistant", "text": "Done."}]}
        env = self.env(n=1, scripts={0: script},
                       bridge={"show_tools": "off"})
        a0 = env.ids[0]
        ev = env.say(a0, "search")
        self.wait_final(env, a0, ev, "Done.")
        puts = [r["body"] for r in env.hs.requests("PUT", "/send/")
                if r["user"] == env.agent_user(a0)]
        self.assertNotIn("web_search", repr(puts))


    def test_a_live_answer_in_a_thread_stays_in_the_thread(self):
        env = self.env(n=1, scripts={0: {"turns": [
            {"mode": "text", "text": "root answer"}, steps(6, 1000)]}})
        a0 = env.ids[0]
        root = env.say(a0, "a root message")
        env.wait_answer(a0, root)
        q = env.say(a0, "slowly, in the thread", **{"m.relates_to": {
            "rel_type": "m.thread", "event_id": root,
            "is_falling_back": True, "m.in_reply_to": {"event_id": root}}})
        ans = self.wait_final(env, a0, q, full(6))
        first = self.first_put(env, a0, q)["body"]
        self.assertEqual(first["m.relates_to"]["rel_type"], "m.thread")
        self.assertEqual(first["m.relates_to"]["event_id"], root)
        self.assertEqual(ans["content"]["m.relates_to"]["rel_type"],
                         "m.thread")
        edits = self.edit_puts(env, a0)
        self.assertTrue(edits)
        for e in edits:
            # an edit names only the message it replaces
            self.assertEqual(e["body"]["m.relates_to"],
                             {"rel_type": "m.replace",
                              "event_id": ans["event_id"]})
            self.assertNotIn("m.relates_to", e["body"]["m.new_content"])


class Limits(StreamTest):
    def test_edits_refused_with_429_are_replaced_not_queued(self):
        env = self.env(n=1, scripts={0: steps(12, 700)})
        a0 = env.ids[0]
        ev = env.say(a0, "go")
        env.wait(lambda: env.answers(a0, ev), 20, 0.1)
        # the agent user is limited now: three edits refused
        env.hs.inject_fault("PUT", "/send/m.room.message/", count=3,
                            status=429, retry_after_ms=2500,
                            body={"errcode": "M_LIMIT_EXCEEDED",
                                  "error": "Too Many Requests",
                                  "retry_after_ms": 2500})
        self.wait_final(env, a0, ev, full(12))
        edits = self.edit_puts(env, a0)
        refused = [r for r in env.hs.requests("PUT", "/send/m.room.message/")
                   if r["status"] == 429]
        self.assertEqual(len(refused), 3)
        # fewer edits than steps, the refused ones never sent again as
        # they were: every accepted edit shows more than the one before
        self.assertLess(len(edits), 12)
        shown = [e["body"]["m.new_content"]["body"] for e in edits]
        self.assertEqual(len(shown), len(set(shown)))
        self.assertEqual(shown[-1], full(12))

    def test_a_long_live_answer_never_makes_an_edit_too_large(self):
        # three steps of ~10 KB of Markdown: an edit holds its text and
        # HTML twice; none may go over the homeserver's 64 KB (413)
        para = "Some **bold** & <tag> \"quoted\" text. " * 250
        texts = ["Part %d. %s" % (i + 1, para) for i in range(3)]
        script = {"mode": "messages", "stream_delay_ms": 1500,
                  "messages": [{"type": "assistant", "text": t}
                               for t in texts]}
        env = self.env(n=1, scripts={0: script},
                       bridge={"stream_after": "1s"})
        a0 = env.ids[0]
        ev = env.say(a0, "write a lot")
        whole = "\n\n".join(t.rstrip() for t in texts)
        env.wait(lambda: len(env.answers(a0, ev)) == 3, 40)
        time.sleep(2)
        puts = env.hs.requests("PUT", "/send/m.room.message/")
        self.assertEqual([p["status"] for p in puts if p["status"] != 200],
                         [])
        edits = self.edit_puts(env, a0)
        self.assertGreaterEqual(len(edits), 1)
        # past what an edit shows, more text changes nothing shown: no
        # edit repeats the one before
        shown = [e["body"]["m.new_content"]["body"] for e in edits]
        for a, b in zip(shown, shown[1:]):
            self.assertNotEqual(a, b)
        body = "\n\n".join(a["content"]["body"]
                           for a in env.answers(a0, ev))
        self.assertEqual(body, whole)

    def test_at_most_twenty_edits(self):
        env = self.env(n=1, scripts={0: steps(40, 600)})
        a0 = env.ids[0]
        ev = env.say(a0, "a long one")
        self.wait_final(env, a0, ev, full(40), 60)
        time.sleep(1)
        edits = self.edit_puts(env, a0)
        self.assertLessEqual(len(edits), 20)
        self.assertEqual(edits[-1]["body"]["m.new_content"]["body"],
                         full(40))


class Broken(StreamTest):
    def test_a_stream_cut_after_three_steps_ends_with_the_whole_answer(self):
        env = self.env(n=1, scripts={0: steps(6, 1000,
                                              stream_cut_after=3)})
        a0 = env.ids[0]
        ev = env.say(a0, "survive the cut")
        self.wait_final(env, a0, ev, full(6), 40)
        time.sleep(1)
        self.assertEqual(len(env.sends(a0)), 1, "the turn ran twice")
        self.assertEqual(len(env.answers(a0, ev)), 1)
        self.assertIn("event=stream_broken", env.d.output())
        self.assertTrue(env.letta.requests("GET", "^/v1/runs/"))
        self.assertTrue(env.letta.requests("GET", "/v1/agents/%s/messages"
                                           % a0))

    def test_an_unreadable_event_ends_with_the_whole_answer(self):
        env = self.env(n=1, scripts={0: steps(6, 1000,
                                              stream_garbage_after=3)})
        a0 = env.ids[0]
        ev = env.say(a0, "survive the garbage")
        # the stream goes on after the bad event (the live message keeps
        # growing), but its answer is taken from the history
        env.wait(lambda: env.letta.requests(
            "GET", "/v1/agents/%s/messages" % a0), 40, 0.1)
        self.wait_final(env, a0, ev, full(6), 20)
        time.sleep(1.5)
        self.assertEqual(len(env.sends(a0)), 1, "the turn ran twice")
        ans = env.answers(a0, ev)
        self.assertEqual(len(ans), 1)
        self.assertEqual(ans[0]["content"]["body"], full(6))
        self.assertIn("event=stream_event_unreadable", env.d.output())

    def test_kill_9_mid_answer_the_final_edit_still_lands(self):
        env = self.env(n=1, scripts={0: steps(8, 1000)})
        a0 = env.ids[0]
        ev = env.say(a0, "long")
        env.wait(lambda: self.edit_puts(env, a0), 20, 0.1)
        env.d.stop(signal.SIGKILL)
        env.start(first=False)
        ans = self.wait_final(env, a0, ev, full(8), 60)
        time.sleep(1)
        self.assertEqual(len(env.answers(a0, ev)), 1, env.answers(a0, ev))
        self.assertEqual(len(env.sends(a0)), 1)
        self.assertEqual(self.edit_puts(env, a0)[-1]["body"]["m.relates_to"]
                         ["event_id"], ans["event_id"])

    def test_cancel_ends_the_live_message_and_typing(self):
        env = self.env(n=1, scripts={0: steps(30, 2000)})
        a0 = env.ids[0]
        au = env.agent_user(a0)
        ev = env.say(a0, "a very long one")
        env.wait(lambda: env.answers(a0, ev), 20, 0.1)
        time.sleep(2.5)
        st = env.say(a0, "!status")
        c = env.wait_answer(a0, st, 10, msgtype="m.notice")["content"]
        self.assertRegex(c["body"], r"running for \d+ s, shown live "
                                    r"\(\d+ edits? so far\)")
        cx = env.say(a0, "!cancel")
        env.wait_answer(a0, cx, 10, msgtype="m.notice")
        env.wait(lambda: env.letta.agent(a0)["cancels"] == 1, 5)
        shown = env.wait(lambda: env.answers(a0, ev, msgtype="m.notice"),
                         10)[0]
        self.assertIn("stopped", shown["content"]["body"])
        env.wait(lambda: [r for r in env.hs.requests("PUT", "/typing/")
                          if r["user"] == au][-1]["body"]["typing"] is False,
                 5)
        nxt = env.say(a0, "and now?")
        env.wait(lambda: len(env.sends(a0)) == 2, 20)
        self.assertEqual(env.sends(a0)[1]["messages"][0]["content"].count(
            "and now?"), 1)
        self.assertEqual(env.answers(a0, nxt), [])


class ExactlyOnceLive(StreamTest):
    """LIVE_KILLS=40 LIVE_SEED=n runs it longer (make test-long)."""

    def test_kill_9_while_answers_are_live(self):
        import os
        import random
        rnd = random.Random(int(os.environ.get("LIVE_SEED", "7")))
        kills = int(os.environ.get("LIVE_KILLS", "4"))
        # three questions a round, ~3 s each: the queue must hold them
        env = self.env(n=2, bridge={"stream_after": "1s",
                                    "queue_limit": 3 * kills + 3},
                       scripts={i: steps(3, 700) for i in range(2)})
        sent = {a: [] for a in env.ids}
        for k in range(kills):
            for i in range(3):
                a = env.ids[rnd.randrange(2)]
                sent[a].append(env.say(a, "q%d.%d" % (k, i)))
            time.sleep(rnd.uniform(1.0, 3.0))
            env.d.stop(signal.SIGKILL)
            env.start(first=False)
        for a in env.ids:
            for ev in sent[a]:
                self.wait_final(env, a, ev, full(3), 60 + 4 * kills)
        time.sleep(1.5)
        for a in env.ids:
            by_q = {}
            for e in env.answers(a):
                by_q.setdefault(e["content"][REPLY_TO], []).append(e)
            for ev in sent[a]:
                self.assertEqual(len(by_q.get(ev, [])), 1, (a, ev))
                self.assertEqual(by_q[ev][0]["content"]["body"], full(3))
            otids = [s["messages"][0]["otid"] for s in env.sends(a)]
            self.assertEqual(len(otids), len(set(otids)), "a turn ran twice")


if __name__ == "__main__":
    unittest.main()
