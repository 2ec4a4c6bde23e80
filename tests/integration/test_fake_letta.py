"""Self-tests of tools/fake_letta.py over real HTTP."""

import http.client
import json
import threading
import time
import unittest

from fakes import FakeLetta, send_on

UA = {"User-Agent": "lettamx/0.1"}          # "legacy mode" client
MISSING = "agent-00000000-0000-4000-8000-000000000000"


class LettaCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.letta = FakeLetta(keepalive_idle=0.3).start()

    @classmethod
    def tearDownClass(cls):
        cls.letta.stop()

    def setUp(self):
        self.letta.reset()

    def call(self, method, path, body=None, headers=None):
        return self.letta.http(method, path, body, dict(UA, **(headers or {})))

    def ok(self, method, path, body=None, headers=None):
        res = self.call(method, path, body, headers)
        self.assertEqual(res.status, 200, repr(res))
        return res.body

    def send(self, agent_id, text="hello", **extra):
        body = dict({"messages": [{"role": "user", "content": text,
                                   "otid": "otid-1"}]}, **extra)
        return self.call("POST", "/v1/agents/%s/messages" % agent_id, body)

    def stream(self, agent_id, text="hello", path="/messages/stream",
               headers=None, **extra):
        body = dict({"messages": [{"role": "user", "content": text}]},
                    **extra)
        return self.call("POST", "/v1/agents/%s%s" % (agent_id, path), body,
                         headers)


def sse_events(raw):
    """[(event name or None, data string)] of a server-sent event body."""
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((event, "\n".join(data)))
    return out


class Routing(LettaCase):
    def test_health(self):
        self.assertEqual(self.ok("GET", "/v1/health/"),
                         {"version": "0.16.8", "status": "ok"})

    def test_unknown_path_and_wrong_method(self):
        res = self.call("GET", "/v1/nothing/")
        self.assertEqual((res.status, res.body), (404, {"detail": "Not Found"}))
        res = self.call("DELETE", "/v1/agents/")
        self.assertEqual((res.status, res.body),
                         (405, {"detail": "Method Not Allowed"}))
        self.assertIn("GET", res.headers["allow"])

    def test_slash_redirect(self):
        res = self.call("GET", "/v1/agents?limit=5")
        self.assertEqual(res.status, 307)
        self.assertTrue(res.headers["location"].endswith(
            "/v1/agents/?limit=5"))
        self.assertEqual(res.raw, b"")

    def test_control_prefix_is_not_for_clients(self):
        res = self.call("GET", "/_fake/agents")
        self.assertEqual(res.status, 404)
        self.assertEqual(len(self.letta.requests(path="^/_fake")), 1)

    def test_bad_user_id_header(self):
        res = self.call("GET", "/v1/agents/", headers={"user_id": "bob"})
        self.assertEqual(res.status, 400)
        self.assertIn("INVALID_ARGUMENT", res.body["detail"])


class Agents(LettaCase):
    def setUp(self):
        super().setUp()
        self.ids = [self.letta.add_agent("a%d" % i, tags=["t%d" % i])["id"]
                    for i in range(5)]

    def page(self, **query):
        import urllib.parse
        return self.ok("GET", "/v1/agents/?" + urllib.parse.urlencode(query))

    def test_bare_array_newest_first_by_default(self):
        body = self.ok("GET", "/v1/agents/")
        self.assertIsInstance(body, list)
        self.assertEqual([a["id"] for a in body], self.ids[::-1])

    def test_paging_with_after(self):
        seen, after = [], None
        for _ in range(5):
            query = {"limit": 2, "order": "asc"}
            if after:
                query["after"] = after
            page = self.page(**query)
            seen += [a["id"] for a in page]
            if len(page) < 2:
                break
            after = page[-1]["id"]
        self.assertEqual(seen, self.ids)
        self.assertEqual(self.page(limit=2, order="asc",
                                   after=self.ids[-1]), [])

    def test_unknown_cursor_gives_first_page_again(self):
        first = self.page(limit=2, order="asc")
        self.letta.delete_agent(first[-1]["id"])
        again = self.page(limit=2, order="asc", after=first[-1]["id"])
        self.assertEqual([a["id"] for a in again], self.ids[0:1] + self.ids[2:3])
        self.assertEqual(again[0]["id"], first[0]["id"])

    def test_bad_query_values(self):
        for query in ("limit=x", "limit=0", "order=sideways"):
            res = self.call("GET", "/v1/agents/?" + query)
            self.assertEqual(res.status, 422, query)
            self.assertIsInstance(res.body["detail"], str)

    def test_get_agent_and_errors(self):
        agent = self.ok("GET", "/v1/agents/" + self.ids[0])
        self.assertEqual(agent["name"], "a0")
        self.assertEqual(agent["tags"], ["t0"])      # legacy: all loaded
        res = self.call("GET", "/v1/agents/" + MISSING)
        self.assertEqual(res.status, 404)
        self.assertIn("not found", res.body["detail"])
        res = self.call("GET", "/v1/agents/agent-123")
        self.assertEqual(res.status, 422)
        self.assertIsInstance(res.body["detail"], str)
        self.assertIn("examples", res.body)

    def test_sdk_1_0_mode_leaves_tags_out_unless_included(self):
        bare = self.letta.http("GET", "/v1/agents/" + self.ids[0])  # no UA
        self.assertEqual(bare.body["tags"], [])
        inc = self.letta.http("GET", "/v1/agents/%s?include=agent.tags"
                              % self.ids[0])
        self.assertEqual(inc.body["tags"], ["t0"])

    def test_rename_delete_count(self):
        self.letta.rename_agent(self.ids[1], "renamed")
        names = [a["name"] for a in self.page(order="asc")]
        self.assertEqual(names[1], "renamed")
        self.letta.delete_agent(self.ids[2])
        self.assertEqual(self.ok("GET", "/v1/agents/count"), 4)
        self.assertEqual(self.page(name="renamed")[0]["id"], self.ids[1])


class Messages(LettaCase):
    def agent(self, script=None):
        return self.letta.add_agent("bot", script)["id"]

    def test_echo_and_history_with_otid(self):
        aid = self.agent()
        res = self.send(aid, "ping")
        self.assertEqual(res.status, 200)
        msgs = res.body["messages"]
        self.assertEqual([m["message_type"] for m in msgs],
                         ["assistant_message"])
        self.assertEqual(msgs[0]["content"], "ping")
        self.assertEqual(res.body["stop_reason"]["stop_reason"], "end_turn")
        hist = self.ok("GET", "/v1/agents/%s/messages?order=desc&limit=20"
                       % aid)
        self.assertEqual([m["message_type"] for m in hist],
                         ["assistant_message", "user_message"])
        self.assertEqual(hist[1]["otid"], "otid-1")

    def test_mixed_script(self):
        aid = self.agent({"mode": "messages", "messages": [
            {"type": "reasoning", "text": "thinking"},
            {"type": "assistant", "text": "part one"},
            {"type": "tool_call", "name": "web_search"},
            {"type": "tool_return", "text": "result"},
            {"type": "assistant", "text": "part two"}]})
        msgs = self.send(aid).body["messages"]
        self.assertEqual([m["message_type"] for m in msgs], [
            "reasoning_message", "assistant_message", "tool_call_message",
            "tool_return_message", "assistant_message"])
        self.assertEqual(msgs[0]["id"], msgs[1]["id"])   # same LLM step
        self.assertNotEqual(msgs[0]["otid"], msgs[1]["otid"])

    def test_no_assistant_message(self):
        aid = self.agent({"mode": "none", "stop_reason": "max_steps"})
        body = self.send(aid).body
        self.assertFalse(any(m["message_type"] == "assistant_message"
                             for m in body["messages"]))
        self.assertEqual(body["stop_reason"]["stop_reason"], "max_steps")

    def test_fixed_markdown_long(self):
        self.assertEqual(self.send(self.agent({"mode": "text", "text": "hi"}))
                         .body["messages"][0]["content"], "hi")
        md = self.send(self.agent({"mode": "markdown"})).body
        self.assertIn("```", md["messages"][0]["content"])
        long = self.send(self.agent({"mode": "long", "length": 50000})).body
        self.assertEqual(len(long["messages"][0]["content"]), 50000)

    def test_turns_and_error_script(self):
        aid = self.agent({"turns": [{"mode": "text", "text": "one"},
                                    {"mode": "error", "status": 500}]})
        self.assertEqual(self.send(aid).body["messages"][0]["content"], "one")
        res = self.send(aid)
        self.assertEqual(res.status, 500)
        self.assertEqual(res.body, {"detail": "An unknown error occurred"})
        self.assertEqual(self.send(aid).status, 500)  # last turn repeats

    def test_pending_approval_409(self):
        aid = self.agent({"turns": [{"mode": "approval"}, {"mode": "echo"}]})
        first = self.send(aid).body
        self.assertEqual(first["stop_reason"]["stop_reason"],
                         "requires_approval")
        res = self.send(aid)
        self.assertEqual(res.status, 409)
        self.assertEqual(res.body["detail"]["code"], "PENDING_APPROVAL")
        call_id = first["messages"][0]["tool_call"]["tool_call_id"]

        def answer(tool_call_id):
            return self.call("POST", "/v1/agents/%s/messages" % aid, {
                "messages": [{"type": "approval", "approvals": [{
                    "type": "approval", "tool_call_id": tool_call_id,
                    "approve": False, "reason": "no"}]}]})
        wrong = answer("x")
        self.assertEqual(wrong.status, 400)
        self.assertIn("Invalid tool call IDs", wrong.body["detail"])
        ok = answer(call_id)
        self.assertEqual(ok.status, 200)

    def test_request_validation(self):
        aid = self.agent()
        path = "/v1/agents/%s/messages" % aid
        for body, status in (
                ("{bad", 422),
                ({"messages": [], "input": "x"}, 422),
                ({}, 422),
                ({"messages": [{"role": "robot", "content": "x"}]}, 422),
                ({"messages": [{"role": "user", "content": ""}]}, 400),
                ({"input": "x", "stream_tokens": True}, 422)):
            res = self.call("POST", path, body)
            self.assertEqual(res.status, status, body)
            self.assertIn("detail", res.body)
        self.assertEqual(self.call("POST", path, {"input": "x"}).status, 200)
        self.assertEqual(self.send(MISSING).status, 404)

    def test_concurrent_sends_are_counted(self):
        aid = self.agent({"mode": "echo", "delay_ms": 300})
        threads = [threading.Thread(target=self.send, args=(aid,))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        info = self.letta.agent(aid)
        self.assertEqual((info["sends"], info["max_in_flight"]), (2, 2))


class Streaming(LettaCase):
    def test_stream_shape(self):
        aid = self.letta.add_agent("s")["id"]
        res = self.stream(aid, "streamed")
        self.assertEqual(res.status, 200)
        self.assertTrue(res.headers["content-type"].startswith(
            "text/event-stream"))
        self.assertEqual(res.headers.get("transfer-encoding"), "chunked")
        events = sse_events(res.raw)
        self.assertEqual(events[-1], (None, "[DONE]"))
        kinds = [json.loads(d)["message_type"] for _, d in events[:-1]]
        self.assertEqual(kinds, ["ping", "assistant_message", "stop_reason",
                                 "usage_statistics"])

    def test_token_streaming_deltas(self):
        aid = self.letta.add_agent("s", {"mode": "text",
                                         "text": "abcdefghijklmnopqrst"})["id"]
        res = self.stream(aid, stream_tokens=True, include_pings=False)
        parts = [json.loads(d) for _, d in sse_events(res.raw)[:-1]]
        deltas = [p for p in parts if p["message_type"] == "assistant_message"]
        self.assertGreater(len(deltas), 1)
        self.assertEqual("".join(p["content"] for p in deltas),
                         "abcdefghijklmnopqrst")
        self.assertEqual(len({p["otid"] for p in deltas}), 1)
        self.assertNotIn("ping", [p["message_type"] for p in parts])

    def test_stream_error_event(self):
        aid = self.letta.add_agent("s", {"mode": "echo",
                                         "stream_error": True})["id"]
        events = sse_events(self.stream(aid).raw)
        self.assertEqual(events[-1][0], "error")
        self.assertNotIn((None, "[DONE]"), events)

    def test_streaming_flag_depends_on_client_mode(self):
        aid = self.letta.add_agent("s")["id"]
        res = self.stream(aid, path="/messages", streaming=True)
        self.assertEqual(res.status, 422)            # legacy User-Agent
        res = self.letta.http("POST", "/v1/agents/%s/messages" % aid, {
            "input": "x", "streaming": True},
            {"X-Stainless-Package-Version": "1.12.1"})
        self.assertEqual(res.status, 200)
        self.assertEqual(sse_events(res.raw)[-1], (None, "[DONE]"))

    def test_truncated_stream(self):
        aid = self.letta.add_agent("s")["id"]
        self.letta.inject_fault("POST", "/messages/stream$", truncate=True)
        with self.assertRaises(http.client.IncompleteRead):
            self.stream(aid)


class Auth(LettaCase):
    def test_password_mode(self):
        self.letta.configure(password="pw")
        self.assertEqual(self.call("GET", "/v1/health/").status, 200)
        res = self.call("GET", "/v1/agents/")
        self.assertEqual((res.status, res.body), (401, {"detail":
                                                        "Unauthorized"}))
        bad = self.call("GET", "/v1/agents/",
                        headers={"Authorization": "Bearer nope"})
        self.assertEqual(bad.status, 401)
        good = self.call("GET", "/v1/agents/",
                         headers={"Authorization": "Bearer pw"})
        self.assertEqual(good.status, 200)
        old = self.call("GET", "/v1/agents/",
                        headers={"X-BARE-PASSWORD": "password pw"})
        self.assertEqual(old.status, 200)
        logged = self.letta.requests("GET", "/v1/agents/$")
        self.assertNotIn("Bearer pw", json.dumps(logged))
        self.assertNotIn("password pw", json.dumps(logged))


class LettaFaultsAndConnections(LettaCase):
    def test_status_drop_delay(self):
        aid = self.letta.add_agent("f")["id"]
        self.letta.inject_fault("POST", "/messages$", status=503,
                                body={"detail": "DB down"})
        res = self.send(aid)
        self.assertEqual((res.status, res.body), (503, {"detail": "DB down"}))
        self.assertEqual(self.letta.agent(aid)["sends"], 0)
        self.letta.inject_fault("POST", "/messages$", drop="after_head")
        with self.assertRaises(http.client.IncompleteRead):
            self.send(aid)
        self.assertEqual(self.letta.agent(aid)["sends"], 1)  # it answered
        self.letta.inject_fault("GET", "/v1/agents/$", drop="before_head")
        with self.assertRaises((http.client.RemoteDisconnected,
                                ConnectionResetError)):
            self.call("GET", "/v1/agents/")
        self.letta.inject_fault("GET", "/v1/health/$", delay_ms=250,
                                status=429, retry_after_ms=2000)
        start = time.monotonic()
        res = self.call("GET", "/v1/health/")
        self.assertGreaterEqual(time.monotonic() - start, 0.24)
        self.assertEqual((res.status, res.headers["retry-after"]),
                         (429, "2"))
        calls = self.letta.requests("POST", "/messages$")
        self.assertEqual([c["status"] for c in calls], [503, 200])

    def test_idle_keep_alive_closed(self):
        conn = self.letta.connection()
        self.assertEqual(send_on(conn, "GET", "/v1/health/").status, 200)
        time.sleep(0.6)
        sock = conn.sock
        sock.settimeout(2)
        self.assertEqual(sock.recv(10), b"")
        conn.close()


class BenchSupport(LettaCase):
    """What tests/bench/bench_bridge.py relies on: a delay per agent that
    holds up no other agent, and arrival/departure times in the log."""

    def agent(self, script):
        return self.letta.add_agent("bench", script)["id"]

    def test_slow_agent_does_not_hold_up_another(self):
        slow = self.agent({"mode": "echo", "delay_ms": 600})
        fast = self.agent({"mode": "echo"})
        self.letta.clear_requests()
        t = threading.Thread(target=self.send, args=(slow,))
        t.start()
        time.sleep(0.1)
        start = time.monotonic()
        self.assertEqual(self.send(fast).status, 200)
        self.assertLess(time.monotonic() - start, 0.4)
        t.join()
        from test_fake_homeserver import sent_entries
        by_agent = {e["path"].split("/")[3]: e
                    for e in sent_entries(self.letta, "POST")}
        s, f = by_agent[slow], by_agent[fast]
        self.assertGreaterEqual(s["t_sent"] - s["t_recv"], 0.6)
        self.assertLess(f["t_sent"], s["t_sent"])
        for e in (s, f):
            self.assertLessEqual(e["t_recv"], e["time"])
            self.assertLessEqual(e["t_end"], e["t_sent"])


if __name__ == "__main__":
    unittest.main()
