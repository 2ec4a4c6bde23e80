"""The conversation as a person sees it (issue 12): formatted answers,
long answers in parts, threads and replies. Assertions come from the
room as the person reads it and from the fakes' request logs."""

import json
import re
import time
import unittest

import lettamx
from bridge_env import REPLY_TO, BridgeEnv

AGENT_MD = (
    "# Plan\n\nSome **bold** and a [link](https://example.org/a?b=1&c=2) "
    "and a [bad one](javascript:alert(1)).\n\n"
    "1. first\n2. second\n\n- dot\n- dash\n\n"
    "```python\nprint(\"<hi>\")\n```\n\n"
    "| col | val |\n|-----|-----|\n| a | 1 |\n\n"
    "<script>alert('x')</script>\n\n"
    "<img src=x onerror=alert(1)>\n")

TAGS_OK = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "strong", "em", "del",
           "code", "pre", "ul", "ol", "li", "a", "blockquote", "hr", "br",
           "table", "thead", "tbody", "tr", "th", "td"}


class ConvTest(unittest.TestCase):
    def env(self, **kw):
        lettamx.require_binary(self)
        e = BridgeEnv(self, **kw)
        self.addCleanup(e.close)
        return e


class Formatting(ConvTest):
    def test_markdown_arrives_as_safe_html_with_the_plain_body(self):
        env = self.env(n=2, scripts={0: {"mode": "text", "text": AGENT_MD},
                                     1: {"mode": "text",
                                         "text": "just words"}})
        a0, a1 = env.ids
        ev = env.say(a0, "plan please")
        c = env.wait_answer(a0, ev)["content"]
        self.assertEqual(c["format"], "org.matrix.custom.html")
        self.assertEqual(c["body"], AGENT_MD.rstrip("\n"))
        html = c["formatted_body"]
        self.assertIn("<h1>Plan</h1>", html)
        self.assertIn("<strong>bold</strong>", html)
        self.assertIn('<a href="https://example.org/a?b=1&amp;c=2">link</a>',
                      html)
        self.assertNotIn("javascript", html)
        self.assertIn("<ol>", html)
        self.assertIn("<ul>", html)
        self.assertIn('<code class="language-python">', html)
        self.assertIn("&lt;hi&gt;", html)
        self.assertIn("<table>", html)
        self.assertIn("<td>a</td>", html)
        # raw HTML never passes through as HTML
        self.assertNotIn("<script", html)
        self.assertNotIn("<img", html)
        self.assertIn("&lt;script&gt;", html)
        tags = set(t.lower() for t in re.findall(r"</?([a-zA-Z0-9]+)", html))
        self.assertLessEqual(tags, TAGS_OK, tags - TAGS_OK)
        # a plain answer: the body alone
        ev = env.say(a1, "hi")
        c = env.wait_answer(a1, ev)["content"]
        self.assertEqual(c["body"], "just words")
        self.assertNotIn("formatted_body", c)
        self.assertNotIn("format", c)


class LongAnswers(ConvTest):
    def test_a_200k_answer_arrives_in_ordered_parts_never_inside_code(self):
        code = "```c\n" + "".join("int v%d = %d;\n" % (i, i)
                                   for i in range(400)) + "```\n\n"
        paras = "".join("Paragraph %d. %s\n\n" % (i, "word " * 60)
                        for i in range(1, 600))
        text = code + paras + code + paras[:20000]
        self.assertGreater(len(text), 200000)
        env = self.env(n=1, bridge={"split_bytes": 30000},
                       scripts={0: {"mode": "text", "text": text}})
        a0 = env.ids[0]
        ev = env.say(a0, "tell me everything")
        env.wait(lambda: len(env.answers(a0, ev)) >= 7, 60)
        env.wait(lambda: "".join(p["content"]["body"] for p in
                                 env.answers(a0, ev)).count("Paragraph 599.")
                 >= 1 and env.answers(a0, ev)[-1]["content"]["body"]
                 .rstrip().endswith(paras[:20000].rstrip()[-30:]), 60)
        parts = env.answers(a0, ev)
        for p in parts:
            size = len(json.dumps(p["content"], ensure_ascii=False).encode())
            self.assertLessEqual(size, 30000)
            body = p["content"]["body"]
            # no part opens or closes a code block it does not also hold
            self.assertEqual(body.count("```") % 2, 0, body[:200])
            self.assertEqual(p["content"][REPLY_TO], ev)
        # in order, all of it
        nums = [int(n) for n in re.findall(
            r"Paragraph (\d+)\.", "".join(p["content"]["body"]
                                          for p in parts))]
        want = list(range(1, 600)) + [n for n in range(1, 600)
                                      if "Paragraph %d." % n
                                      in paras[:20000]]
        self.assertEqual(nums, want)
        joined = "\n\n".join(p["content"]["body"] for p in parts)
        self.assertEqual(joined.count("int v399 = 399;"), 2)
        # each transaction id used once
        txns = [p["content"]["org.lettamx.txn"] for p in parts]
        self.assertEqual(len(set(txns)), len(txns))


class Threads(ConvTest):
    def test_thread_question_gets_a_thread_answer(self):
        env = self.env(n=1, scripts={0: {"mode": "echo", "prefix": "re: "}})
        a0 = env.ids[0]
        root = env.say(a0, "a root message")
        env.wait_answer(a0, root)
        q = env.say(a0, "in the thread", **{"m.relates_to": {
            "rel_type": "m.thread", "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root}}})
        c = env.wait_answer(a0, q)["content"]
        rel = c["m.relates_to"]
        self.assertEqual(rel["rel_type"], "m.thread")
        self.assertEqual(rel["event_id"], root)
        self.assertIs(rel["is_falling_back"], True)
        self.assertEqual(rel["m.in_reply_to"], {"event_id": q})
        self.assertIn("in the thread", c["body"])
        # the root's own answer was in the main timeline, plainly
        c = env.answers(a0, root)[0]["content"]
        self.assertNotIn("m.relates_to", c)

    def test_reply_style_reply_answers_as_a_rich_reply(self):
        env = self.env(n=1, bridge={"reply_style": "reply"},
                       scripts={0: {"mode": "echo"}})
        a0 = env.ids[0]
        q = env.say(a0, "main timeline")
        c = env.wait_answer(a0, q)["content"]
        self.assertEqual(c["m.relates_to"], {"m.in_reply_to":
                                             {"event_id": q}})


class Commands(ConvTest):
    def test_help_and_unknown_never_reach_the_agent(self):
        env = self.env(n=1, scripts={0: {"mode": "echo"}})
        a0 = env.ids[0]
        h = env.say(a0, "!help")
        c = env.wait_answer(a0, h, msgtype="m.notice")["content"]
        self.assertIn("!cancel", c["body"])
        self.assertNotIn("!reset", c["body"])      # not an admin
        u = env.say(a0, "!frobnicate now")
        c = env.wait_answer(a0, u, msgtype="m.notice")["content"]
        self.assertIn("!help", c["body"])
        self.assertEqual(c["body"].count("\n"), 0)
        s = env.say(a0, "!status")
        c = env.wait_answer(a0, s, msgtype="m.notice")["content"]
        self.assertIn(a0, c["body"])
        self.assertIn("Waiting messages: 0", c["body"])
        ev = env.say(a0, "a real question")
        env.wait_answer(a0, ev)
        sends = env.sends(a0)
        self.assertEqual(len(sends), 1)
        self.assertNotIn("!", json.dumps(sends))

    def test_cancel_during_a_long_turn(self):
        env = self.env(n=1, scripts={0: {"mode": "echo", "delay_ms": 8000}})
        a0 = env.ids[0]
        au = env.agent_user(a0)
        first = env.say(a0, "think long")
        second = env.say(a0, "and then this")
        env.wait(lambda: env.letta.agent(a0)["in_flight"] == 1, 20)
        s = env.say(a0, "!status")
        c = env.wait_answer(a0, s, 10, msgtype="m.notice")["content"]
        self.assertIn("Waiting messages: 1", c["body"])
        self.assertIn("running for", c["body"])
        cx = env.say(a0, "!cancel")
        env.wait_answer(a0, cx, 5, msgtype="m.notice")
        env.wait(lambda: env.letta.agent(a0)["cancels"] == 1, 5)
        env.wait(lambda: [r for r in env.hs.requests("PUT", "/typing/")
                          if r["user"] == au][-1]["body"]["typing"] is False,
                 5)
        time.sleep(9)
        # the queue is empty: the second question never went to the agent,
        # and the cancelled turn left no answer
        self.assertEqual(len(env.sends(a0)), 1)
        self.assertEqual(env.answers(a0, first), [])
        self.assertEqual(env.answers(a0, second), [])
        ev = env.say(a0, "after the cancel")
        env.wait_answer(a0, ev, 20)

    def test_typing_stops_when_a_turn_fails(self):
        # a refused turn (400) and a broken one told after its tries:
        # the person reads why, and the agent is not left typing
        env = self.env(n=2, bridge={"letta_timeout": "2s"}, scripts={
            0: {"mode": "error", "status": 400, "delay_ms": 1500,
                "body": {"detail": "no such model"}},
            1: {"mode": "messages", "stream_delay_ms": 800,
                "stream_error": True, "messages": [
                    {"type": "reasoning", "text": "hmm"}]}})
        for a in env.ids:
            au = env.agent_user(a)
            ev = env.say(a, "hello")
            n = env.wait_answer(a, ev, 30, msgtype="m.notice")["content"]
            self.assertNotIn("{", n["body"])
            env.wait(lambda: [r["body"]["typing"] for r in
                              env.hs.requests("PUT", "/typing/")
                              if r.get("user") == au][-1:] == [False], 10)
            ons = [r for r in env.hs.requests("PUT", "/typing/")
                   if r.get("user") == au and r["body"]["typing"]]
            self.assertTrue(ons, "typing was never shown")

    def test_reset_only_for_admins_and_only_confirmed(self):
        env = self.env(n=1, people=("alice", "bob"),
                       bridge={"admins": "@bob:localhost"},
                       scripts={0: {"mode": "echo"}})
        a0 = env.ids[0]
        r = env.say(a0, "!reset")
        c = env.wait_answer(a0, r, msgtype="m.notice")["content"]
        self.assertEqual(env.letta.requests("PATCH", "/reset-messages"), [])
        self.assertTrue(c["body"])
        r = env.say(a0, "!reset confirm", person="bob")
        env.wait_answer(a0, r, msgtype="m.notice")
        self.assertEqual(env.letta.requests("PATCH", "/reset-messages"), [])
        r = env.say(a0, "!reset", person="bob")
        env.wait_answer(a0, r, msgtype="m.notice")
        r = env.say(a0, "!reset confirm", person="bob")
        env.wait_answer(a0, r, msgtype="m.notice")
        env.wait(lambda: env.letta.agent(a0)["resets"] == 1, 10)


if __name__ == "__main__":
    unittest.main()
