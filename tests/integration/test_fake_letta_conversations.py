"""Self-tests of the fake Letta's conversations (tools/fakes/letta_conv.py):
several histories on one agent, as letta 0.16.8's /v1/conversations/
routes serve them."""

import json
import re
import threading
import time
import unittest

from letta_case import UA, FakeLettaCase

CONV_RE = re.compile(r"conv-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                     r"[89ab][0-9a-f]{3}-[0-9a-f]{12}")
MISSING = "conv-00000000-0000-4000-8000-000000000000"


def sse_events(raw):
    """The data of each SSE event of a body: parsed JSON or "[DONE]"."""
    out = []
    for block in raw.decode().split("\n\n"):
        data = [line[6:] for line in block.split("\n")
                if line.startswith("data: ")]
        if data:
            text = "\n".join(data)
            out.append(text if text == "[DONE]" else json.loads(text))
    return out


def kinds(events):
    return [e if e == "[DONE]" else e["message_type"] for e in events]


class ConvCase(FakeLettaCase):
    def create(self, agent_id, summary=None):
        body = {} if summary is None else {"summary": summary}
        res = self.call("POST", "/v1/conversations/?agent_id=" + agent_id,
                        body)
        self.assertEqual(res.status, 200, res)
        return res.body["id"]

    def send(self, conv_id, text="hello", **extra):
        body = dict({"messages": [{"role": "user", "content": text}]},
                    **extra)
        return self.call("POST", "/v1/conversations/%s/messages" % conv_id,
                         body)

    def history(self, conv_id, query="?order=asc"):
        res = self.call("GET", "/v1/conversations/%s/messages%s"
                        % (conv_id, query))
        self.assertEqual(res.status, 200, res)
        return res.body

    def texts(self, messages):
        return [m.get("content") for m in messages
                if m["message_type"] in ("user_message", "assistant_message")]

    def listing(self, query):
        res = self.call("GET", "/v1/conversations/" + query)
        self.assertEqual(res.status, 200, res)
        return res.body

    def control_list(self, agent_id=None):
        suffix = "?agent_id=" + agent_id if agent_id else ""
        return self.letta.control("GET", "conversations" + suffix)[
            "conversations"]


class CreateListGet(ConvCase):
    def test_create_and_get(self):
        aid = self.letta.add_agent("a")["id"]
        res = self.call("POST", "/v1/conversations/?agent_id=" + aid,
                        {"summary": "Thread $ev1"})
        self.assertEqual(res.status, 200)
        conv = res.body
        self.assertTrue(CONV_RE.fullmatch(conv["id"]), conv["id"])
        self.assertEqual(conv["agent_id"], aid)
        self.assertEqual(conv["summary"], "Thread $ev1")
        self.assertIsNone(conv["last_message_at"])
        for key in ("created_at", "updated_at", "created_by_id",
                    "in_context_message_ids", "isolated_block_ids",
                    "model", "model_settings"):
            self.assertIn(key, conv)
        got = self.call("GET", "/v1/conversations/" + conv["id"])
        self.assertEqual(got.status, 200)
        self.assertEqual(got.body["summary"], "Thread $ev1")
        # The conversation starts with its compiled system message.
        first = self.history(conv["id"])
        self.assertEqual(kinds(first), ["system_message"])
        self.assertEqual(got.body["in_context_message_ids"],
                         [first[0]["id"]])
        # No body at all is fine: summary null.
        bare = self.call("POST", "/v1/conversations/?agent_id=" + aid)
        self.assertEqual(bare.status, 200)
        self.assertIsNone(bare.body["summary"])

    def test_list_per_agent_order_limit_after(self):
        a = self.letta.add_agent("a")["id"]
        b = self.letta.add_agent("b")["id"]
        c1, c2, c3 = (self.create(a, "s%d" % i) for i in (1, 2, 3))
        other = self.create(b, "other")
        ids = [c["id"] for c in self.listing("?agent_id=" + a)]
        self.assertEqual(ids, [c3, c2, c1])             # newest first
        ids = [c["id"] for c in self.listing("?agent_id=%s&order=asc" % a)]
        self.assertEqual(ids, [c1, c2, c3])
        ids = [c["id"] for c in self.listing("?agent_id=%s&limit=2" % a)]
        self.assertEqual(ids, [c3, c2])
        ids = [c["id"] for c in self.listing("?agent_id=%s&after=%s"
                                             % (a, c2))]
        self.assertEqual(ids, [c1])
        everyone = [c["id"] for c in self.listing("")]
        self.assertEqual(sorted(everyone), sorted([c1, c2, c3, other]))
        self.assertEqual(self.listing("?agent_id=" + b)[0]["summary"],
                         "other")

    def test_order_by_last_message_at_puts_nulls_last(self):
        a = self.letta.add_agent("a")["id"]
        c1, c2, c3 = (self.create(a) for _ in range(3))
        self.assertEqual(self.send(c1, streaming=False).status, 200)
        ids = [c["id"] for c in self.listing(
            "?agent_id=%s&order_by=last_message_at" % a)]
        self.assertEqual(ids[0], c1)
        self.assertEqual(sorted(ids[1:]), sorted([c2, c3]))

    def test_control_lists_default_and_conversations(self):
        a = self.letta.add_agent("a")["id"]
        b = self.letta.add_agent("b")["id"]
        c1 = self.create(a, "one")
        self.create(a, "two")
        self.create(b, "elsewhere")
        self.assertEqual(self.send(c1, streaming=False).status, 200)
        mine = self.control_list(a)
        self.assertEqual(len(mine), 3)                  # default + two
        self.assertEqual([c["summary"] for c in mine], [None, "one", "two"])
        self.assertEqual(mine[0]["id"], "default")
        self.assertEqual(mine[0]["messages"], 0)
        self.assertEqual(mine[1]["messages"], 3)    # system, user, reply
        self.assertEqual(mine[1]["sends"], 1)
        self.assertEqual(len(self.control_list()), 5)
        made = self.letta.control("POST", "conversations",
                                  {"agent_id": a, "summary": "seeded"})
        self.assertEqual(self.call("GET", "/v1/conversations/" +
                                   made["id"]).body["summary"], "seeded")
        self.assertEqual(self.letta.control(
            "GET", "conversations/%s/history" % c1)["messages"][1]
            ["content"], "hello")
        self.letta.delete_agent(a)
        self.assertEqual(len(self.control_list()), 2)

    def test_update_and_delete(self):
        a = self.letta.add_agent("a")["id"]
        c = self.create(a, "old")
        res = self.call("PATCH", "/v1/conversations/" + c, {"summary": "new"})
        self.assertEqual(res.status, 200)
        self.assertEqual(res.body["summary"], "new")
        self.assertEqual(self.call("DELETE", "/v1/conversations/" + c).status,
                         200)
        self.assertEqual(self.call("GET", "/v1/conversations/" + c).status,
                         404)
        self.assertEqual(self.listing("?agent_id=" + a), [])


class Errors(ConvCase):
    def test_unknown_conversation_is_404(self):
        a = self.letta.add_agent("a")["id"]
        self.create(a)
        for method, path in (
                ("GET", "/v1/conversations/" + MISSING),
                ("POST", "/v1/conversations/%s/cancel" % MISSING),
                ("GET", "/v1/conversations/?after=" + MISSING)):
            res = self.call(method, path)
            self.assertEqual(res.status, 404, (method, path, res))
            self.assertIn("not found", res.body["detail"])
        res = self.send(MISSING)
        self.assertEqual(res.status, 404)
        self.assertIn("not found", res.body["detail"])
        # As on the real server, listing an unknown one's messages is [].
        self.assertEqual(self.history(MISSING), [])

    def test_validation(self):
        a = self.letta.add_agent("a")["id"]
        c = self.create(a)
        res = self.call("POST", "/v1/conversations/", {"summary": "x"})
        self.assertEqual(res.status, 422)
        self.assertIsInstance(res.body["detail"], str)
        self.assertIn("agent_id", res.body["detail"])
        res = self.call("POST", "/v1/conversations/?agent_id=agent-"
                        "00000000-0000-4000-8000-000000000000", {})
        self.assertEqual(res.status, 404)
        self.assertEqual(res.body, {"detail": "Agent not found"})
        res = self.call("GET", "/v1/conversations/not-a-conv")
        self.assertEqual(res.status, 422)
        self.assertEqual(res.body["examples"],
                         ["conv-123e4567-e89b-42d3-8456-426614174000"])
        res = self.send(c, messages=[])
        self.assertEqual(res.status, 422)
        self.assertEqual(res.body, {"detail": "Messages must not be empty"})
        res = self.call("POST", "/v1/conversations/%s/messages" % c,
                        "{not json")
        self.assertEqual(res.status, 422)
        res = self.send(c, input="both")
        self.assertEqual(res.status, 422)
        res = self.call("GET", "/v1/conversations/?order=sideways")
        self.assertEqual(res.status, 422)
        res = self.call("GET", "/v1/conversations/%s/nothing" % c)
        self.assertEqual(res.status, 404)
        self.assertEqual(res.body, {"detail": "Not Found"})
        # Nothing got into the history on the way.
        self.assertEqual(kinds(self.history(c)), ["system_message"])


class SummarySearch(ConvCase):
    """summary_search is SQL LIKE '%s%' (SQLAlchemy `contains`)."""

    def setUp(self):
        super().setUp()
        self.a = self.letta.add_agent("a")["id"]
        for s in ("Thread $abc:hs", "thread $ABC:hs", "axb", "a_b",
                  "100% sure", None):
            self.create(self.a, s)

    def found(self, needle):
        from urllib.parse import quote
        return sorted(c["summary"] for c in self.listing(
            "?agent_id=%s&summary_search=%s" % (self.a, quote(needle))))

    def test_postgres_case_sensitive_substring_with_wildcards(self):
        self.assertEqual(self.found("Thread"), ["Thread $abc:hs"])
        self.assertEqual(self.found("$abc"), ["Thread $abc:hs"])
        self.assertEqual(self.found("read $"), ["Thread $abc:hs",
                                                "thread $ABC:hs"])
        self.assertEqual(self.found("a_b"), ["a_b", "axb"])   # _ any char
        self.assertEqual(self.found("a\\_b"), ["a_b"])       # escaped
        self.assertEqual(self.found("T%hs"), ["Thread $abc:hs"])
        self.assertEqual(self.found("nothing"), [])
        # An empty search is no filter at all (null summaries included).
        self.assertEqual(len(self.listing("?agent_id=%s&summary_search="
                                          % self.a)), 6)

    def test_sqlite_is_ascii_case_insensitive(self):
        self.letta.configure(database="sqlite")
        self.assertEqual(self.found("thread $abc"), ["Thread $abc:hs",
                                                     "thread $ABC:hs"])
        self.assertEqual(self.found("a\\_b"), [])           # no escape


class Messages(ConvCase):
    def test_streams_by_default_into_its_own_history(self):
        a = self.letta.add_agent("a")["id"]
        c1, c2 = self.create(a, "one"), self.create(a, "two")
        res = self.call("POST", "/v1/conversations/%s/messages" % c1,
                        {"messages": [{"role": "user", "content": "q1",
                                       "otid": "otid-1", "name": "Ann",
                                       "sender_id": "@ann:hs"}]})
        self.assertEqual(res.status, 200)
        self.assertTrue(res.headers["content-type"].startswith(
            "text/event-stream"))
        events = sse_events(res.raw)
        self.assertEqual(kinds(events), ["ping", "assistant_message",
                                         "stop_reason", "usage_statistics",
                                         "[DONE]"])
        self.assertEqual(events[1]["content"], "q1")
        hist = self.history(c1)
        self.assertEqual(self.texts(hist), ["q1", "q1"])
        user = hist[1]
        self.assertEqual((user["otid"], user["name"], user["sender_id"]),
                         ("otid-1", "Ann", "@ann:hs"))
        self.assertEqual(self.texts(self.history(c2)), [])
        default = self.call("GET", "/v1/agents/%s/messages?conversation_id="
                            "default" % a).body
        self.assertEqual(default, [])
        self.assertEqual(self.letta.history(a), [])
        got = self.call("GET", "/v1/conversations/" + c1).body
        self.assertIsNotNone(got["last_message_at"])

    def test_plain_send_and_the_default_history_stay_apart(self):
        a = self.letta.add_agent("a", {"mode": "echo", "prefix": "re: "})["id"]
        c = self.create(a)
        res = self.send(c, "in thread", streaming=False)
        self.assertEqual(res.status, 200)
        self.assertEqual([m["content"] for m in res.body["messages"]],
                         ["re: in thread"])
        self.assertEqual(res.body["stop_reason"]["stop_reason"], "end_turn")
        room = self.call("POST", "/v1/agents/%s/messages" % a,
                         {"input": "in room"})
        self.assertEqual(room.status, 200)
        self.assertEqual(self.texts(self.history(c)),
                         ["in thread", "re: in thread"])
        self.assertEqual(self.texts(self.letta.history(a)),
                         ["in room", "re: in room"])
        default = self.call("GET", "/v1/agents/%s/messages?order=asc&"
                            "conversation_id=default" % a).body
        self.assertEqual(self.texts(default), ["in room", "re: in room"])
        only = self.call("GET", "/v1/agents/%s/messages?order=asc&"
                         "conversation_id=%s" % (a, c)).body
        self.assertEqual(self.texts(only), ["in thread", "re: in thread"])
        # Unfiltered, the real server lists all the agent's messages.
        every = self.call("GET", "/v1/agents/%s/messages?order=asc" % a).body
        self.assertEqual(self.texts(every), ["in thread", "re: in thread",
                                             "in room", "re: in room"])

    def test_runs_carry_the_conversation_when_streamed(self):
        a = self.letta.add_agent("a")["id"]
        c = self.create(a)
        streamed = sse_events(self.send(c).raw)[1]["run_id"]
        plain = self.send(c, streaming=False).body["messages"][0]["run_id"]
        run = self.call("GET", "/v1/runs/" + streamed).body
        self.assertEqual(run["conversation_id"], c)
        self.assertEqual(run["agent_id"], a)
        self.assertEqual(run["metadata"]["run_type"],
                         "send_conversation_message")
        # The router's non-streaming path makes its Run without it.
        self.assertIsNone(self.call("GET", "/v1/runs/" + plain)
                          .body["conversation_id"])

    def test_message_paging(self):
        a = self.letta.add_agent("a")["id"]
        c = self.create(a)
        for text in ("one", "two", "three"):
            self.send(c, text, streaming=False)
        asc = self.history(c)
        self.assertEqual(len(asc), 7)
        newest = self.history(c, "?limit=2")       # desc by default
        self.assertEqual([m["message_type"] for m in newest],
                         ["assistant_message", "user_message"])
        self.assertEqual(self.texts(newest), ["three", "three"])
        after = self.history(c, "?order=asc&after=" + asc[4]["id"])
        self.assertEqual(self.texts(after), ["three", "three"])
        before = self.history(c, "?order=asc&before=" + asc[3]["id"])
        self.assertEqual(self.texts(before), ["one", "one"])

    def test_approval_waits_in_its_conversation_only(self):
        a = self.letta.add_agent("a", {"mode": "approval"})["id"]
        c1, c2 = self.create(a), self.create(a)
        self.assertEqual(self.send(c1, streaming=False).status, 200)
        self.assertEqual(self.send(c1, streaming=False).status, 409)
        self.letta.set_script(a, {"mode": "echo"})
        self.assertEqual(self.send(c2, "free", streaming=False).status, 200)
        room = self.call("POST", "/v1/agents/%s/messages" % a,
                         {"input": "room"})
        self.assertEqual(room.status, 200)


class CancelAndBusy(ConvCase):
    def slow(self, **extra):
        return dict({"mode": "text", "text": "late", "delay_ms": 1500},
                    **extra)

    def background(self, conv_id, out, **extra):
        def go():
            out.append(self.send(conv_id, **extra))
        t = threading.Thread(target=go)
        t.start()
        return t

    def wait_in_flight(self, conv_id, n=1):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if [c for c in self.control_list() if c["id"] == conv_id
                    and c["in_flight"] == n]:
                return
            time.sleep(0.02)
        self.fail("no send in flight in " + conv_id)

    def test_cancel_only_that_conversations_run(self):
        a = self.letta.add_agent("a", self.slow())["id"]
        c1, c2 = self.create(a), self.create(a)
        res = self.call("POST", "/v1/conversations/%s/cancel" % c2)
        self.assertEqual(res.status, 409)
        self.assertEqual(res.body["detail"], "CONFLICT: No active runs to "
                         "cancel for conversation %s" % c2)
        out1, out2 = [], []
        t1 = self.background(c1, out1)
        t2 = self.background(c2, out2)
        self.wait_in_flight(c1)
        self.wait_in_flight(c2)
        active = self.call("GET", "/v1/runs/?agent_id=%s&active=true" % a)
        self.assertEqual(len(active.body), 2)
        res = self.call("POST", "/v1/conversations/%s/cancel" % c1)
        self.assertEqual(res.status, 200)
        self.assertEqual(list(res.body.values()), ["cancelled"])
        t1.join(5)
        t2.join(5)
        stops = [e["stop_reason"] for e in sse_events(out1[0].raw)
                 if e != "[DONE]" and e["message_type"] == "stop_reason"]
        self.assertEqual(stops, ["cancelled"])
        self.assertEqual(self.texts(self.history(c1)), ["hello"])
        self.assertEqual(self.texts(self.history(c2)), ["hello", "late"])
        run = self.call("GET", "/v1/runs/" + list(res.body)[0]).body
        self.assertEqual(run["status"], "cancelled")

    def test_a_plain_sends_run_is_not_the_conversations(self):
        a = self.letta.add_agent("a", self.slow())["id"]
        c = self.create(a)
        out = []
        t = self.background(c, out, streaming=False)
        self.wait_in_flight(c)
        res = self.call("POST", "/v1/conversations/%s/cancel" % c)
        self.assertEqual(res.status, 409)       # as the real router
        res = self.call("POST", "/v1/agents/%s/messages/cancel" % a)
        self.assertEqual(res.status, 200)
        t.join(5)
        self.assertEqual(out[0].body["stop_reason"]["stop_reason"],
                         "cancelled")

    def test_busy_409_only_with_redis(self):
        a = self.letta.add_agent("a", self.slow(delay_ms=800))["id"]
        c = self.create(a)
        out = []
        t = self.background(c, out)
        self.wait_in_flight(c)
        second = self.send(c, "again")          # redis off: runs too
        self.assertEqual(second.status, 200)
        t.join(5)
        self.assertEqual([x for x in self.control_list(a) if x["id"] == c][0]
                         ["max_in_flight"], 2)
        self.letta.configure(redis=True)
        out = []
        t = self.background(c, out)
        self.wait_in_flight(c)
        busy = self.send(c, "again")
        self.assertEqual(busy.status, 409)
        self.assertTrue(busy.body["detail"].startswith(
            "CONFLICT: Cannot send a new message: Another request"))
        self.assertIn("this conversation", busy.body["detail"])
        active = self.call("GET", "/v1/runs/?agent_id=%s&active=true" % a)
        self.assertEqual(busy.body["run_id"], active.body[0]["id"])
        # A plain send takes no lock on the real server; another
        # conversation is never blocked.
        self.assertEqual(self.send(c, "plain", streaming=False).status, 200)
        self.assertEqual(self.send(self.create(a), "other").status, 200)
        t.join(5)
        self.assertEqual(out[0].status, 200)
        self.assertEqual(self.send(c, "after").status, 200)

    def test_two_conversations_run_at_once(self):
        a = self.letta.add_agent("a", self.slow(delay_ms=1000))["id"]
        self.letta.configure(redis=True)
        c1, c2 = self.create(a), self.create(a)
        outs = [[], []]
        t0 = time.monotonic()
        threads = [self.background(c, o) for c, o in zip((c1, c2), outs)]
        for t in threads:
            t.join(10)
        took = time.monotonic() - t0
        self.assertEqual([o[0].status for o in outs], [200, 200])
        self.assertLess(took, 1.8)              # side by side, not 2 s
        self.assertEqual(self.letta.agent(a)["max_in_flight"], 2)
        for c in (c1, c2):
            self.assertEqual(self.texts(self.history(c)), ["hello", "late"])


class Faults(ConvCase):
    def test_fault_on_the_conversation_path(self):
        a = self.letta.add_agent("a")["id"]
        c = self.create(a)
        self.letta.inject_fault("POST", r"^/v1/conversations/[^/]+/messages$",
                                status=503, body={"detail": "overloaded"},
                                retry_after_ms=2000)
        res = self.send(c)
        self.assertEqual(res.status, 503)
        self.assertEqual(res.body, {"detail": "overloaded"})
        self.assertEqual(res.headers.get("retry-after"), "2")
        self.assertEqual(self.texts(self.history(c)), [])   # not processed
        self.assertEqual(self.send(c).status, 200)           # one use only
        self.letta.inject_fault("POST", r"/v1/conversations/", truncate=True)
        with self.assertRaises(Exception):
            self.call("POST", "/v1/conversations/?agent_id=" + a,
                      {"summary": "lost answer"})
        # The server did the work; the answer got lost.
        self.assertIn("lost answer", [x["summary"] for x in
                                      self.control_list(a)])
        logged = self.letta.requests("POST", r"^/v1/conversations/")
        self.assertEqual([e["status"] for e in logged], [200, 503, 200, 200])
        self.assertEqual(logged[1]["fault"]["status"], 503)


if __name__ == "__main__":
    unittest.main()
