"""Self-tests of the fake Letta's runs (tools/fakes/letta_runs.py): the
streaming timeline, cancel, reset-messages and the approval round trip."""

import http.client
import json
import threading
import time
import unittest

from letta_case import UA, FakeLettaCase

MISSING = "agent-00000000-0000-4000-8000-000000000000"


class StreamReader:
    """Reads an SSE response as it arrives: [(t, event, data)]."""

    def __init__(self, letta, agent_id, body, path="/messages/stream"):
        self.conn = http.client.HTTPConnection(letta.host, letta.port,
                                               timeout=30)
        self.t0 = time.monotonic()
        self.conn.request("POST", "/v1/agents/%s%s" % (agent_id, path),
                          body=json.dumps(body).encode(), headers=UA)
        self.resp = self.conn.getresponse()
        self.t_head = time.monotonic() - self.t0
        self.events = []
        self._event = None

    def next(self):
        """The next event (event name, parsed data), or None at the end."""
        data = []
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                self._event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                text = "\n".join(data)
                ev = (time.monotonic() - self.t0, self._event,
                      text if text == "[DONE]" else json.loads(text))
                self._event = None
                self.events.append(ev)
                return ev

    def rest(self):
        while self.next() is not None:
            pass
        return self.events

    def close(self):
        self.conn.close()


class RunsCase(FakeLettaCase):
    def send(self, aid, text="hello"):
        return self.call("POST", "/v1/agents/%s/messages" % aid,
                         {"messages": [{"role": "user", "content": text}]})

    def cancel(self, aid, body=None):
        return self.call("POST", "/v1/agents/%s/messages/cancel" % aid, body)

    def steps(self, n, gap_ms, **extra):
        return dict({"mode": "messages", "stream_delay_ms": gap_ms,
                     "messages": [{"type": "assistant", "text": "step %d" % i}
                                  for i in range(n)]}, **extra)


class Timeline(RunsCase):
    def test_head_and_ping_come_at_once_then_steps_on_time(self):
        aid = self.letta.add_agent("t", self.steps(3, 300,
                                                   delay_ms=400))["id"]
        s = StreamReader(self.letta, aid, {"input": "x"})
        self.assertEqual(s.resp.status, 200)
        self.assertLess(s.t_head, 0.3)             # not after the delay
        first = s.next()
        self.assertEqual(first[2]["message_type"], "ping")
        self.assertLess(first[0], 0.3)
        events = s.rest()
        s.close()
        steps = [e for e in events if e[2] != "[DONE]" and
                 e[2]["message_type"] == "assistant_message"]
        self.assertEqual([e[2]["content"] for e in steps],
                         ["step 0", "step 1", "step 2"])
        self.assertGreater(steps[0][0], 0.65)      # 400 + 300 ms
        self.assertGreater(steps[2][0] - steps[0][0], 0.55)
        self.assertEqual(events[-1][2], "[DONE]")

    def test_keepalive_pings_while_quiet(self):
        aid = self.letta.add_agent("t", {"mode": "text", "text": "late",
                                         "delay_ms": 1000,
                                         "ping_interval_ms": 200})["id"]
        s = StreamReader(self.letta, aid, {"input": "x"})
        events = s.rest()
        s.close()
        kinds = [e[2] if e[2] == "[DONE]" else e[2]["message_type"]
                 for e in events]
        self.assertGreaterEqual(kinds.count("ping"), 4)
        self.assertEqual(kinds[-4:], ["assistant_message", "stop_reason",
                                      "usage_statistics", "[DONE]"])
        none = StreamReader(self.letta, aid, {"input": "x",
                                              "include_pings": False})
        self.assertNotIn("ping", [e[2] if e[2] == "[DONE]" else
                                  e[2]["message_type"] for e in none.rest()])
        none.close()

    def test_history_fills_on_time_even_when_the_client_leaves(self):
        aid = self.letta.add_agent("t", self.steps(3, 300))["id"]
        s = StreamReader(self.letta, aid, {"input": "q"})
        s.next()                                   # ping
        s.next()                                   # step 0
        s.close()                                  # the stream breaks
        info = self.letta.agent(aid)
        self.assertEqual(info["in_flight"], 1)     # the run goes on
        texts = [m.get("content") for m in self.letta.history(aid)]
        self.assertNotIn("step 2", texts)
        time.sleep(1.2)
        texts = [m.get("content") for m in self.letta.history(aid)]
        self.assertEqual(texts, ["q", "step 0", "step 1", "step 2"])
        self.assertEqual(self.letta.agent(aid)["in_flight"], 0)
        self.assertEqual(self.letta.agent(aid)["sends"], 1)

    def test_streamed_run_counts_as_in_flight(self):
        aid = self.letta.add_agent("t", self.steps(2, 300))["id"]
        a = StreamReader(self.letta, aid, {"input": "1"})
        b = StreamReader(self.letta, aid, {"input": "2"})
        a.rest(), b.rest()
        a.close(), b.close()
        self.assertEqual(self.letta.agent(aid)["max_in_flight"], 2)


class Cancel(RunsCase):
    def test_cancel_a_streamed_turn(self):
        aid = self.letta.add_agent("t", self.steps(60, 1000))["id"]
        s = StreamReader(self.letta, aid, {"input": "long job"})
        s.next()
        s.next()                                   # step 0 after 1 s
        res = self.cancel(aid)
        self.assertEqual(res.status, 200)
        self.assertEqual(list(res.body.values()), ["cancelled"])
        run_id = list(res.body)[0]
        self.assertTrue(run_id.startswith("run-"))
        t = time.monotonic()
        events = s.rest()
        s.close()
        self.assertLess(time.monotonic() - t, 0.5)
        self.assertEqual(events[-2][2], {"message_type": "stop_reason",
                                         "stop_reason": "cancelled"})
        self.assertEqual(events[-1][2], "[DONE]")
        self.assertEqual(events[1][2]["run_id"], run_id)
        time.sleep(1.1)
        texts = [m.get("content") for m in self.letta.history(aid)]
        self.assertEqual(texts, ["long job", "step 0"])   # nothing after
        info = self.letta.agent(aid)
        self.assertEqual((info["in_flight"], info["cancels"]), (0, 1))
        got = self.call("GET", "/v1/agents/%s" % aid).body
        self.assertEqual(got["last_stop_reason"], "cancelled")
        self.assertEqual(self.cancel(aid).status, 409)    # nothing left

    def test_cancel_a_plain_send_while_it_thinks(self):
        aid = self.letta.add_agent("t", {"mode": "text", "text": "slow",
                                         "delay_ms": 30000})["id"]
        out = {}
        th = threading.Thread(target=lambda: out.update(r=self.send(aid)))
        th.start()
        time.sleep(0.3)
        self.assertEqual(self.cancel(aid, {"run_ids": None}).status, 200)
        th.join(5)
        self.assertFalse(th.is_alive())
        self.assertEqual(out["r"].status, 200)
        self.assertEqual(out["r"].body["messages"], [])
        self.assertEqual(out["r"].body["stop_reason"]["stop_reason"],
                         "cancelled")

    def test_nothing_to_cancel_and_validation(self):
        aid = self.letta.add_agent("t")["id"]
        res = self.cancel(aid)
        self.assertEqual(res.status, 409)
        self.assertEqual(res.body, {"detail": "CONFLICT: No active runs to "
                                    "cancel for agent %s" % aid})
        self.assertEqual(self.cancel(MISSING).status, 409)
        self.assertEqual(self.cancel("agent-bad").status, 422)
        self.assertEqual(self.cancel(aid, {"run_ids": "run-1"}).status, 422)
        self.assertEqual(self.call("POST", "/v1/agents/%s/messages/cancel"
                                   % aid, "[1]").status, 422)
        self.assertEqual(self.cancel(aid, {"run_ids": []}).status, 409)
        self.assertEqual(self.call("GET", "/v1/agents/%s/messages/cancel"
                                   % aid).status, 405)

    def test_cancel_by_run_id(self):
        aid = self.letta.add_agent("t", self.steps(5, 500))["id"]
        s = StreamReader(self.letta, aid, {"input": "x"})
        ping = s.next()[2]
        res = self.cancel(aid, {"run_ids": ["run-unknown", ping["run_id"]]})
        self.assertEqual(res.body, {"run-unknown": "failed",
                                    ping["run_id"]: "cancelled"})
        s.rest()
        s.close()
        logged = self.letta.requests(method="POST", path="/cancel$")
        self.assertEqual([r["body"] for r in logged],
                         [{"run_ids": ["run-unknown", ping["run_id"]]}])


class Reset(RunsCase):
    def test_reset_messages(self):
        aid = self.letta.add_agent("t")["id"]
        self.send(aid, "one")
        self.assertEqual(len(self.letta.history(aid)), 2)
        path = "/v1/agents/%s/reset-messages" % aid
        res = self.call("PATCH", path, {"add_default_initial_messages":
                                        False})
        self.assertEqual(res.status, 200)
        self.assertEqual(res.body["id"], aid)
        self.assertEqual(self.letta.history(aid), [])
        self.assertEqual(self.call("GET", "/v1/agents/%s/messages" % aid).body,
                         [])
        res = self.call("PATCH", path, {"add_default_initial_messages": True})
        self.assertEqual(len(self.letta.history(aid)), 1)
        self.assertEqual(self.letta.agent(aid)["resets"], 2)

    def test_reset_validation(self):
        aid = self.letta.add_agent("t")["id"]
        path = "/v1/agents/%s/reset-messages" % aid
        self.assertEqual(self.call("PATCH", path).status, 422)   # body needed
        self.assertEqual(self.call("PATCH", path, {
            "add_default_initial_messages": "yes"}).status, 422)
        self.assertEqual(self.call("POST", path, {}).status, 405)
        self.assertEqual(self.call("PATCH", "/v1/agents/%s/reset-messages"
                                   % MISSING, {}).status, 404)
        self.assertEqual(self.letta.agent(aid)["resets"], 0)

    def test_reset_clears_a_pending_approval(self):
        aid = self.letta.add_agent("t", {"turns": [{"mode": "approval"},
                                                   {"mode": "echo"}]})["id"]
        self.send(aid)
        self.assertEqual(self.send(aid).status, 409)
        self.call("PATCH", "/v1/agents/%s/reset-messages" % aid, {})
        self.assertEqual(self.send(aid, "again").status, 200)


class Approval(RunsCase):
    def approve(self, aid, call_id, approve, reason=None, stream=False):
        item = {"type": "approval", "tool_call_id": call_id,
                "approve": approve}
        if reason is not None:
            item["reason"] = reason
        body = {"messages": [{"type": "approval", "approvals": [item]}]}
        if stream:
            s = StreamReader(self.letta, aid, body)
            events = s.rest()
            s.close()
            return events
        return self.call("POST", "/v1/agents/%s/messages" % aid, body)

    def pause(self):
        aid = self.letta.add_agent("t", {
            "mode": "approval", "tool_name": "drop_table",
            "tool_args": "{\"table\": \"users\"}", "tool_result": "dropped",
            "after_approve": "The table is gone."})["id"]
        first = self.send(aid).body
        self.assertEqual(first["stop_reason"]["stop_reason"],
                         "requires_approval")
        req = first["messages"][0]
        self.assertEqual(req["message_type"], "approval_request_message")
        self.assertEqual(req["tool_call"]["name"], "drop_table")
        self.assertEqual(req["tool_call"]["arguments"],
                         "{\"table\": \"users\"}")
        self.assertEqual(req["tool_calls"], [req["tool_call"]])
        res = self.send(aid, "are you there?")
        self.assertEqual(res.status, 409)
        self.assertEqual(res.body["detail"]["pending_request_id"], req["id"])
        return aid, req["tool_call"]["tool_call_id"]

    def test_approve(self):
        aid, call_id = self.pause()
        res = self.approve(aid, call_id, True)
        self.assertEqual(res.status, 200)
        kinds = [m["message_type"] for m in res.body["messages"]]
        self.assertEqual(kinds, ["tool_return_message", "assistant_message"])
        self.assertEqual(res.body["messages"][0]["tool_call_id"], call_id)
        self.assertEqual(res.body["messages"][0]["status"], "success")
        self.assertEqual(res.body["messages"][1]["content"],
                         "The table is gone.")
        self.assertEqual(res.body["stop_reason"]["stop_reason"], "end_turn")
        # answered: the agent takes messages again, and pauses again on
        # its next tool use (the script is `approval`)
        self.assertEqual(self.send(aid).body["stop_reason"]["stop_reason"],
                         "requires_approval")
        kinds = [m["message_type"] for m in self.letta.history(aid)]
        self.assertIn("approval_response_message", kinds)

    def test_deny_with_reason_streamed(self):
        aid, call_id = self.pause()
        events = self.approve(aid, call_id, False, "not on a Friday",
                              stream=True)
        msgs = [e[2] for e in events if e[2] != "[DONE]"]
        ret = [m for m in msgs if m["message_type"] == "tool_return_message"]
        self.assertEqual(ret[0]["status"], "error")
        self.assertIn("denied", ret[0]["tool_return"])
        said = [m["content"] for m in msgs
                if m["message_type"] == "assistant_message"]
        self.assertIn("not on a Friday", said[0])
        self.assertEqual(events[-1][2], "[DONE]")

    def test_wrong_answers(self):
        aid = self.letta.add_agent("t", {"mode": "echo"})["id"]
        res = self.approve(aid, "call_x", True)
        self.assertEqual(res.status, 400)
        self.assertIn("No tool call is currently awaiting approval",
                      res.body["detail"])
        aid, call_id = self.pause()
        res = self.approve(aid, "call_other", True)
        self.assertEqual(res.status, 400)
        self.assertIn("Invalid tool call IDs", res.body["detail"])
        res = self.call("POST", "/v1/agents/%s/messages" % aid, {
            "messages": [{"type": "approval", "approvals": [{
                "type": "approval", "tool_call_id": call_id,
                "approve": "yes"}]}]})
        self.assertEqual(res.status, 422)
        # still pending after the refused answers
        self.assertEqual(self.send(aid).status, 409)
        self.assertEqual(self.approve(aid, call_id, False).status, 200)


class ListRuns(RunsCase):
    def runs(self, query):
        return self.call("GET", "/v1/runs/?" + query)

    def test_active_runs_of_one_agent(self):
        aid = self.letta.add_agent("t", self.steps(2, 400))["id"]
        other = self.letta.add_agent("u", self.steps(2, 400))["id"]
        s = StreamReader(self.letta, aid, {"input": "q"})
        s.next()
        res = self.runs("agent_id=%s&active=true&limit=5" % aid)
        self.assertEqual(res.status, 200)
        self.assertEqual([(r["agent_id"], r["status"]) for r in res.body],
                         [(aid, "running")])
        self.assertEqual(self.runs("agent_id=%s&active=true" % other).body,
                         [])
        s.rest()
        s.close()
        self.assertEqual(self.runs("agent_id=%s&active=true" % aid).body, [])
        done = self.runs("agent_id=%s" % aid).body
        self.assertEqual([r["status"] for r in done], ["completed"])

    def test_bad_values_are_refused(self):
        for query in ("active=yes", "limit=0", "limit=1001", "order=up"):
            self.assertEqual(self.runs(query).status, 422, query)



class ScriptKeys(RunsCase):
    def test_stream_garbage_after_puts_one_bad_event_in(self):
        aid = self.letta.add_agent("t", self.steps(
            3, 50, stream_garbage_after=1))["id"]
        conn = http.client.HTTPConnection(self.letta.host, self.letta.port,
                                          timeout=30)
        conn.request("POST", "/v1/agents/%s/messages/stream" % aid,
                     body=json.dumps({"input": "q"}).encode(), headers=UA)
        events = conn.getresponse().read().decode().split("\n\n")
        conn.close()
        bad = [i for i, e in enumerate(events) if e.endswith('"cut')]
        self.assertEqual(len(bad), 1)
        self.assertIn('"step 0"', events[bad[0] - 1])   # after the 1st
        self.assertIn('"step 1"', events[bad[0] + 1])   # then on as planned
        self.assertEqual(events[-2], "data: [DONE]")

    def test_input_after_ms_holds_the_question_back(self):
        aid = self.letta.add_agent("t", {"mode": "text", "text": "late",
                                         "delay_ms": 200,
                                         "input_after_ms": 800})["id"]
        s = StreamReader(self.letta, aid, {"input": "q"})
        s.next()                                   # ping
        time.sleep(0.4)
        self.assertEqual(self.letta.history(aid), [])
        self.assertEqual(len(self.call("GET", "/v1/runs/?agent_id=%s&"
                                       "active=true" % aid).body), 1)
        s.rest()
        s.close()
        texts = [m.get("content") for m in self.letta.history(aid)]
        self.assertEqual(texts, ["q", "late"])


if __name__ == "__main__":
    unittest.main()
