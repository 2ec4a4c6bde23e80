"""Self-tests of the fake Letta for streamed answers (issue 12): the Run
object of GET /v1/runs/{id}, the `stream_cut_after` script key (a body
that breaks mid-answer while the run goes on), and step / token
streaming of a many-step answer on its timeline."""

import datetime
import http.client
import json
import time

from fakes import send_on
from test_fake_letta_runs import UA, RunsCase, StreamReader

# Every key of letta-openapi.json's `Run` (additionalProperties: false).
RUN_KEYS = {"id", "status", "created_at", "completed_at", "agent_id",
            "conversation_id", "base_template_id", "background", "metadata",
            "request_config", "stop_reason", "callback_url",
            "callback_sent_at", "callback_status_code", "callback_error",
            "ttft_ns", "total_duration_ns"}
SDK_1_0 = dict(UA, **{"X-Stainless-Package-Version": "1.12.1"})


class RawStream:
    """A streamed send read chunk by chunk: [(t, event, data)] and whether
    the body ended cleanly (its terminating chunk) or broke (the
    connection closed mid-body). http.client's readline() cannot tell the
    two apart; read1() raises IncompleteRead on a break."""

    def __init__(self, letta, agent_id, body, path="/messages/stream",
                 headers=UA):
        self.conn = http.client.HTTPConnection(letta.host, letta.port,
                                               timeout=30)
        self.t0 = time.monotonic()
        self.conn.request("POST", "/v1/agents/%s%s" % (agent_id, path),
                          body=json.dumps(body).encode(), headers=headers)
        self.resp = self.conn.getresponse()

    def read_all(self):
        buf, events, clean = b"", [], True
        while True:
            try:
                chunk = self.resp.read1(65536)
            except http.client.IncompleteRead:
                clean = False
                break
            if not chunk:
                break
            t = time.monotonic() - self.t0
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                events.append(self._event(t, block.decode()))
        self.conn.close()
        return events, clean

    @staticmethod
    def _event(t, block):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        text = "\n".join(data)
        return t, event, text if text == "[DONE]" else json.loads(text)


def kinds(events):
    return [e[2] if e[2] == "[DONE]" else e[2]["message_type"]
            for e in events]


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class StreamCase(RunsCase):
    def run_of(self, run_id):
        return self.call("GET", "/v1/runs/%s" % run_id)

    def wait_over(self, run_id, limit=10.0):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            body = self.run_of(run_id).body
            if body["status"] != "running":
                return body
            time.sleep(0.1)
        self.fail("run %s still running after %.0f s" % (run_id, limit))


class RunObject(StreamCase):
    def test_a_streamed_run_in_flight_then_over(self):
        aid = self.letta.add_agent("r", self.steps(3, 300))["id"]
        s = StreamReader(self.letta, aid, {"input": "x"})
        run_id = s.next()[2]["run_id"]
        res = self.run_of(run_id)
        self.assertEqual(res.status, 200)
        run = res.body
        self.assertEqual(set(run), RUN_KEYS)
        self.assertEqual((run["id"], run["status"], run["agent_id"]),
                         (run_id, "running", aid))
        self.assertIsNone(run["stop_reason"])
        self.assertIsNone(run["completed_at"])
        self.assertIs(run["background"], False)
        self.assertEqual(run["metadata"], {"run_type":
                                           "send_message_streaming"})
        self.assertIsNotNone(when(run["created_at"]).tzinfo)
        s.rest()
        s.close()
        over = self.run_of(run_id).body
        self.assertEqual((over["status"], over["stop_reason"]),
                         ("completed", "end_turn"))
        took = when(over["completed_at"]) - when(over["created_at"])
        self.assertGreater(took.total_seconds(), 0.85)   # 3 x 300 ms
        self.assertEqual(over["created_at"], run["created_at"])
        self.assertGreater(over["total_duration_ns"], 850 * 10 ** 6)
        # the answer and the run name each other
        said = [m for m in self.letta.history(aid)
                if m["message_type"] == "assistant_message"]
        self.assertEqual({m["run_id"] for m in said}, {run_id})

    def test_a_plain_send_is_a_run_too(self):
        aid = self.letta.add_agent("r", {"mode": "text", "text": "hi"})["id"]
        res = self.send(aid)
        run_id = res.body["messages"][0]["run_id"]
        run = self.run_of(run_id).body
        self.assertEqual((run["status"], run["stop_reason"],
                          run["metadata"]["run_type"]),
                         ("completed", "end_turn", "send_message"))
        self.assertIsNotNone(run["completed_at"])

    def test_final_status_follows_the_stop_reason(self):
        cases = [({"mode": "none"}, "completed", "max_steps"),
                 ({"mode": "approval"}, "completed", "requires_approval"),
                 ({"mode": "echo", "stream_error": True}, "failed",
                  "llm_api_error"),
                 ({"mode": "echo", "stop_reason": "invalid_tool_call"},
                  "failed", "invalid_tool_call")]
        for script, status, stop in cases:
            aid = self.letta.add_agent("r", script)["id"]
            s = StreamReader(self.letta, aid, {"input": "x"})
            run_id = s.next()[2]["run_id"]
            s.rest()
            s.close()
            run = self.run_of(run_id).body
            self.assertEqual((run["status"], run["stop_reason"]),
                             (status, stop), script)

    def test_a_cancelled_run(self):
        aid = self.letta.add_agent("r", self.steps(30, 1000))["id"]
        s = StreamReader(self.letta, aid, {"input": "x"})
        run_id = s.next()[2]["run_id"]
        self.assertEqual(self.cancel(aid).body, {run_id: "cancelled"})
        s.rest()
        s.close()
        run = self.run_of(run_id).body
        self.assertEqual((run["status"], run["stop_reason"]),
                         ("cancelled", "cancelled"))
        self.assertLess((when(run["completed_at"]) -
                         when(run["created_at"])).total_seconds(), 2)

    def test_background_flag_is_the_requests(self):
        aid = self.letta.add_agent("r")["id"]
        s = StreamReader(self.letta, aid, {"input": "x", "background": True})
        run_id = s.next()[2]["run_id"]
        s.rest()
        s.close()
        self.assertIs(self.run_of(run_id).body["background"], True)

    def test_unknown_run_auth_and_log(self):
        res = self.run_of("run-00000000-0000-4000-8000-000000000000")
        self.assertEqual((res.status, res.body), (404, {
            "detail": "Run run-00000000-0000-4000-8000-000000000000 not "
                      "found"}))
        self.assertEqual(self.run_of("nonsense").status, 404)
        self.assertEqual(self.call("POST", "/v1/runs/run-1").status, 405)
        aid = self.letta.add_agent("r")["id"]
        run_id = self.send(aid).body["messages"][0]["run_id"]
        self.letta.configure(password="pw")
        self.assertEqual(self.run_of(run_id).status, 401)
        good = self.letta.http("GET", "/v1/runs/%s" % run_id, None,
                               dict(UA, Authorization="Bearer pw"))
        self.assertEqual((good.status, good.body["id"]), (200, run_id))
        logged = self.letta.requests(method="GET", path="^/v1/runs/")
        self.assertEqual([r["status"] for r in logged],
                         [404, 404, 401, 200])
        self.assertEqual(logged[-1]["path"], "/v1/runs/%s" % run_id)

    def test_finished_runs_kept_up_to_a_bound(self):
        aid = self.letta.add_agent("r", {"mode": "text", "text": "k"})["id"]
        conn = self.letta.connection()
        ids = []
        for i in range(1001):
            res = send_on(conn, "POST", "/v1/agents/%s/messages" % aid,
                          {"input": "n%d" % i}, UA)
            ids.append(json.loads(res.raw)["messages"][0]["run_id"])
        conn.close()
        self.assertEqual(self.run_of(ids[0]).status, 404)   # the oldest
        for rid in (ids[1], ids[-1]):
            self.assertEqual(self.run_of(rid).body["status"], "completed")

    def test_reset_forgets_runs(self):
        aid = self.letta.add_agent("r")["id"]
        run_id = self.send(aid).body["messages"][0]["run_id"]
        self.letta.reset()
        self.assertEqual(self.run_of(run_id).status, 404)


class StreamCut(StreamCase):
    def test_cut_after_three_of_ten_steps_the_run_goes_on(self):
        aid = self.letta.add_agent("c", self.steps(
            10, 200, stream_cut_after=3))["id"]
        s = RawStream(self.letta, aid, {"input": "ten steps"})
        events, clean = s.read_all()
        t_end = time.monotonic() - s.t0
        self.assertFalse(clean)                    # no terminating chunk
        self.assertEqual(kinds(events), ["ping"] + ["assistant_message"] * 3)
        self.assertEqual([e[2]["content"] for e in events[1:]],
                         ["step 0", "step 1", "step 2"])
        self.assertLess(t_end, 0.75)               # at once, not at step 3
        run_id = events[0][2]["run_id"]
        self.assertEqual(self.run_of(run_id).body["status"], "running")
        self.assertEqual(self.letta.agent(aid)["in_flight"], 1)
        run = self.wait_over(run_id)
        self.assertEqual((run["status"], run["stop_reason"]),
                         ("completed", "end_turn"))
        texts = [m.get("content") for m in self.letta.history(aid)]
        self.assertEqual(texts, ["ten steps"] +
                         ["step %d" % i for i in range(10)])
        info = self.letta.agent(aid)
        self.assertEqual((info["sends"], info["in_flight"]), (1, 0))

    def test_cut_on_messages_with_streaming_true(self):
        aid = self.letta.add_agent("c", self.steps(
            4, 100, stream_cut_after=1))["id"]
        conn = http.client.HTTPConnection(self.letta.host, self.letta.port,
                                          timeout=10)
        conn.request("POST", "/v1/agents/%s/messages" % aid, body=json.dumps(
            {"input": "x", "streaming": True}).encode(), headers=SDK_1_0)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        with self.assertRaises(http.client.IncompleteRead) as cm:
            resp.read()
        conn.close()
        body = cm.exception.partial.decode()
        self.assertIn('"content":"step 0"', body)
        self.assertNotIn("step 1", body)
        self.assertNotIn("stop_reason", body)
        self.assertNotIn("[DONE]", body)

    def test_with_tokens_each_delta_counts(self):
        aid = self.letta.add_agent("c", {
            "mode": "text", "text": "abcdefghijklmnopqrstuvwx",
            "stream_cut_after": 2, "stream_delay_ms": 50})["id"]
        events, clean = RawStream(self.letta, aid, {
            "input": "x", "stream_tokens": True}).read_all()
        self.assertFalse(clean)
        self.assertEqual([e[2]["content"] for e in events[1:]],
                         ["abcdefgh", "ijklmnop"])
        time.sleep(0.3)
        said = [m["content"] for m in self.letta.history(aid)
                if m["message_type"] == "assistant_message"]
        self.assertEqual(said, ["abcdefghijklmnopqrstuvwx"])

    def test_cut_at_zero_and_past_the_end(self):
        aid = self.letta.add_agent("c", self.steps(
            2, 50, stream_cut_after=0))["id"]
        events, clean = RawStream(self.letta, aid, {"input": "x"}).read_all()
        self.assertEqual((kinds(events), clean), (["ping"], False))
        events, clean = RawStream(self.letta, aid, {
            "input": "x", "include_pings": False}).read_all()
        self.assertEqual((events, clean), ([], False))
        self.letta.set_script(aid, self.steps(2, 50, stream_cut_after=99))
        events, clean = RawStream(self.letta, aid, {"input": "x"}).read_all()
        # past the end: every message, then the break before stop_reason
        self.assertEqual((kinds(events), clean),
                         (["ping", "assistant_message", "assistant_message"],
                          False))

    def test_plain_send_ignores_the_cut(self):
        aid = self.letta.add_agent("c", self.steps(
            3, 50, stream_cut_after=1))["id"]
        res = self.send(aid)
        self.assertEqual([m["content"] for m in res.body["messages"]],
                         ["step 0", "step 1", "step 2"])

    def test_without_the_key_the_stream_ends_cleanly(self):
        aid = self.letta.add_agent("c", self.steps(2, 50))["id"]
        events, clean = RawStream(self.letta, aid, {"input": "x"}).read_all()
        self.assertTrue(clean)
        self.assertEqual(kinds(events)[-3:], ["stop_reason",
                                              "usage_statistics", "[DONE]"])


class ManySteps(StreamCase):
    def test_ten_second_answer_one_step_every_second(self):
        aid = self.letta.add_agent("m", self.steps(10, 1000))["id"]
        events, clean = RawStream(self.letta, aid,
                                  {"input": "slow"}).read_all()
        self.assertTrue(clean)
        said = [e for e in events if e[2] != "[DONE]" and
                e[2]["message_type"] == "assistant_message"]
        # step streaming: each step one complete message, its own otid
        self.assertEqual([e[2]["content"] for e in said],
                         ["step %d" % i for i in range(10)])
        self.assertEqual(len({e[2]["otid"] for e in said}), 10)
        gaps = [b[0] - a[0] for a, b in zip(said, said[1:])]
        self.assertTrue(all(0.9 < g < 1.3 for g in gaps), gaps)
        self.assertTrue(0.9 < said[0][0] < 1.3, said[0][0])
        self.assertTrue(9.5 < said[-1][0] < 11, said[-1][0])
        self.assertEqual(kinds(events), ["ping"] + ["assistant_message"] *
                         10 + ["stop_reason", "usage_statistics", "[DONE]"])

    def test_token_deltas_append_per_message(self):
        texts = ["The first step, said.", "A second one follows.",
                 "And the third ends it."]
        aid = self.letta.add_agent("m", {
            "mode": "messages", "stream_delay_ms": 20, "token_chunk": 5,
            "messages": [{"type": "reasoning", "text": "thinking"}] +
            [{"type": "assistant", "text": t} for t in texts]})["id"]
        events, clean = RawStream(self.letta, aid, {
            "input": "x", "stream_tokens": True}).read_all()
        self.assertTrue(clean)
        deltas = [e[2] for e in events if e[2] != "[DONE]" and
                  e[2]["message_type"] == "assistant_message"]
        self.assertGreater(len(deltas), len(texts) * 3)
        joined, order = {}, []
        for d in deltas:
            if d["otid"] not in joined:
                order.append(d["otid"])
            joined[d["otid"]] = joined.get(d["otid"], "") + d["content"]
        self.assertEqual([joined[o] for o in order], texts)
        self.assertTrue(all(len(d["content"]) <= 5 for d in deltas))
        said = [m["content"] for m in self.letta.history(aid)
                if m["message_type"] == "assistant_message"]
        self.assertEqual(said, texts)               # whole in the history
