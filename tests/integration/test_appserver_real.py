"""What a bridge relies on, established against the real Letta App Server.

The npm package @letta-ai/letta-code@0.32.18 (`tools/appserver-install.sh`)
runs offline as `letta server --backend local --listen ws://127.0.0.1:0`
with tools/fake_model.py as its OpenAI-compatible model. One server per
class (it takes a few seconds to start), a fresh agent per test. Each
test asserts what the server really does, so a fake App Server can be
checked against the same facts; /tmp/appserver-protocol.md (see the
report) is the prose version. Every test is skipped, with the reason of
appserver_env.skip_reason(), when node >= 20 or the package is missing.
About 55 s in all (the keepalive test needs 31 s of server uptime).
"""

import json
import re
import time
import unittest
import uuid

from appserver_env import (AppServerEnv, Session, MODEL_HANDLE, http_get,
                           person_text, skip_reason, text_of)
from wsclient import (ConnectionClosed, HandshakeError, OP_BINARY, OP_CONT,
                      OP_PING, OP_PONG, OP_TEXT, Timeout, WSClient, frame)

SKIP = skip_reason()

AGENT_ID = re.compile(r"^agent-local-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                      r"[0-9a-f]{4}-[0-9a-f]{12}$")


def slow_text(secs):
    """fake_model.py's answer to `SLOW secs`."""
    n = max(2, int(secs * 2))
    return "Slow answer " + " ".join("part %d." % (i + 1) for i in range(n))


def is_assistant_delta(f):
    return f.get("type") == "stream_delta" and \
        f["delta"].get("message_type") == "assistant_message"


def history(s, agent_id):
    """(message_type, otid, text) of the default conversation, oldest
    first; user text without the <system-reminder> blocks."""
    out = []
    for m in reversed(s.messages(agent_id, limit=100)["messages"]):
        mt = m["message_type"]
        if mt == "user_message":
            text = person_text(m)
        elif mt == "tool_return_message":
            text = m.get("tool_return")
        elif mt == "approval_request_message":
            text = (m.get("tool_call") or {}).get("name")
        else:
            text = text_of(m)
        out.append((mt, m.get("otid"), text))
    return out


@unittest.skipIf(SKIP is not None, SKIP or "")
class AppServerRealTest(unittest.TestCase):
    env = None

    @classmethod
    def setUpClass(cls):
        cls.env = AppServerEnv().start()
        cls.started_at = time.monotonic()
        # An idle connection that only answers pings (test_z).
        cls.keeper = cls.env.connect()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "keeper", None):
            cls.keeper.close()
        if cls.env:
            cls.env.stop()

    def setUp(self):
        self.sessions = []

    def tearDown(self):
        for s in self.sessions:
            try:
                s.close()
            except OSError:
                pass

    def session(self):
        s = self.env.session()
        self.sessions.append(s)
        return s

    def new_agent(self, s, prefix="t"):
        agent = s.agent_create("%s-%s" % (prefix, uuid.uuid4().hex[:8]))
        return agent["id"]

    def started(self, mode=None, prefix="t"):
        """(session, agent id) with a runtime on its default conversation."""
        s = self.session()
        aid = self.new_agent(s, prefix)
        s.runtime_start(aid, mode=mode)
        s.drain(0.2)
        return s, aid

    def turn(self, s, aid, text, cmid=None, timeout=60):
        """Send text; (frames of the turn, its turn_finished)."""
        m = s.mark()
        s.send_text(aid, text, cmid)
        done = s.wait_turn(timeout=timeout)
        s.drain(0.2)
        return s.frames_since(m), done

    def idle_state(self, aid):
        """A new connection's view: the runtime_start replay (response,
        last loop status, last device status)."""
        s = self.session()
        m = s.mark()
        r = s.runtime_start(aid)
        s.drain(0.3)
        loops = s.frames_since(m, "update_loop_status")
        devs = s.frames_since(m, "update_device_status")
        return s, r, loops[-1]["loop_status"], devs[-1]["device_status"]

    def wait_idle(self, aid, limit=20.0):
        """Poll with sync on a fresh connection until the loop waits on
        input; returns that session and the loop status."""
        s = self.session()
        end = time.monotonic() + limit
        while True:
            m = s.mark()
            s.request({"type": "sync", "runtime": Session.runtime(aid)})
            loops = s.frames_since(m, "update_loop_status")
            if loops and loops[-1]["loop_status"]["status"] == \
                    "WAITING_ON_INPUT":
                return s, loops[-1]["loop_status"]
            if time.monotonic() > end:
                self.fail("loop never idle: %s" % loops)
            time.sleep(0.3)

    # -- a. app_server_info --------------------------------------------

    def test_a_app_server_info_http_and_frame(self):
        st, hdr, body = http_get(self.env.port, "/app-server-info")
        self.assertEqual(st, 200)
        self.assertEqual(hdr["content-type"], "application/json")
        info = json.loads(body)
        self.assertEqual(info["type"], "app_server_info_response")
        self.assertEqual(info["request_id"], "http-info")
        self.assertEqual(info["letta_code_version"], "0.32.18")
        self.assertEqual(info["protocol_version"], 1)
        self.assertEqual(info["backend"], "local")
        self.assertIs(info["success"], True)
        self.assertIs(info["capabilities"]["runtime_start"], True)
        self.assertIs(info["capabilities"]["agent_management"], True)
        for path in ("/readyz", "/healthz"):
            st, hdr, body = http_get(self.env.port, path)
            self.assertEqual((st, body), (200, b"ok\n"), path)
            self.assertEqual(hdr["content-type"], "text/plain")
        st, _, body = http_get(self.env.port, "/v1/agents/")
        self.assertEqual((st, body), (404, b""))
        # An Origin header is refused on HTTP too.
        st, _, _ = http_get(self.env.port, "/app-server-info",
                            headers={"Origin": "http://example.invalid"})
        self.assertEqual(st, 403)

        s = self.session()
        r = s.app_server_info()
        for key in ("letta_code_version", "protocol_version", "backend",
                    "capabilities", "success"):
            self.assertEqual(r[key], info[key], key)
        self.assertEqual(r["letta_code_version"], "0.32.18")
        self.assertEqual(r["protocol_version"], 1)

    def test_a_handshake(self):
        """/ws and / upgrade; no subprotocol unless offered (then the first
        is echoed); other paths 404; Origin 403; an Authorization header is
        ignored without --ws-auth."""
        w = WSClient(self.env.ws_url, token="ignored-without-ws-auth")
        self.assertIsNone(w.subprotocol)
        self.assertNotIn("sec-websocket-extensions", w.response_headers)
        w.close()
        self.assertEqual(w.close_code, 1000)
        w = WSClient("ws://127.0.0.1:%d/" % self.env.port,
                     subprotocols=["letta", "other"])
        self.assertEqual(w.subprotocol, "letta")
        w.send_json({"type": "app_server_info", "request_id": "root"})
        self.assertEqual(w.recv_json(10)["request_id"], "root")
        w.close()
        with self.assertRaises(HandshakeError) as cm:
            WSClient("ws://127.0.0.1:%d/socket" % self.env.port)
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(HandshakeError) as cm:
            WSClient(self.env.ws_url,
                     headers={"Origin": "http://example.invalid"})
        self.assertEqual(cm.exception.status, 403)
        with self.assertRaises(HandshakeError) as cm:
            WSClient(self.env.ws_url + "?channel=control")
        self.assertEqual(cm.exception.status, 426)

    # -- b. agents -----------------------------------------------------

    def test_b_agent_list_paging(self):
        s = self.session()
        prefix = "page-%s" % uuid.uuid4().hex[:8]
        ids = []
        for i in range(23):
            ids.append(s.agent_create("%s-%02d" % (prefix, i))["id"])
            time.sleep(0.002)       # distinct creation times
        for aid in ids:
            self.assertRegex(aid, AGENT_ID)
        newest_first = list(reversed(ids))
        # Default page: 20, most recently created/used first.
        page = s.agent_list(query_text=prefix)
        self.assertEqual([a["id"] for a in page], newest_first[:20])
        self.assertEqual(len(s.agent_list()), 20)      # no query at all
        a = page[0]
        for key in ("id", "name", "model", "description", "tags",
                    "last_run_completion"):
            self.assertIn(key, a)
        self.assertEqual(a["model"], MODEL_HANDLE)
        # `after` = the last id of a page gives the next page.
        p1 = s.agent_list(query_text=prefix, limit=10)
        p2 = s.agent_list(query_text=prefix, limit=10, after=p1[-1]["id"])
        p3 = s.agent_list(query_text=prefix, limit=10, after=p2[-1]["id"])
        self.assertEqual([x["id"] for x in p1 + p2 + p3], newest_first)
        self.assertEqual(len(p3), 3)
        # An unknown cursor gives the first page again.
        p = s.agent_list(query_text=prefix, limit=5,
                         after="agent-local-%s" % uuid.uuid4())
        self.assertEqual([x["id"] for x in p], newest_first[:5])
        # `before`, `order` and `name` are not supported (ignored).
        for q in ({"before": newest_first[10]}, {"order": "asc"},
                  {"name": "%s-03" % prefix}):
            p = s.agent_list(query_text=prefix, limit=5, **q)
            self.assertEqual([x["id"] for x in p], newest_first[:5], q)
        # query_text: case-insensitive substring of name/id/description.
        p = s.agent_list(query_text=("%s-07" % prefix).upper())
        self.assertEqual([x["id"] for x in p], [ids[7]])
        # A turn moves the agent to the front (last_run_completion).
        oldest = ids[0]
        s.runtime_start(oldest)
        self.turn(s, oldest, "bump")
        p = s.agent_list(query_text=prefix, limit=3)
        self.assertEqual([x["id"] for x in p],
                         [oldest] + newest_first[:2])
        # rename and delete
        r = s.agent_rename(ids[5], prefix + "-renamed")
        self.assertTrue(r["success"])
        self.assertEqual(r["agent"]["name"], prefix + "-renamed")
        r = s.agent_delete(ids[5])
        self.assertEqual((r["success"], r["agent_id"]), (True, ids[5]))
        left = s.agent_list(query_text=prefix, limit=100)
        self.assertNotIn(ids[5], [x["id"] for x in left])
        self.assertEqual(len(left), 22)
        for aid in ids:
            if aid != ids[5]:
                s.agent_delete(aid)

    # -- c. approvals --------------------------------------------------

    def test_c_strict_allow_runs_the_tool(self):
        s, aid = self.started(mode="strict")
        devs = [f for f in s.frames if f["type"] == "update_device_status"]
        self.assertEqual(devs[-1]["device_status"]["current_permission_mode"],
                         "strict")
        m = s.mark()
        s.send_text(aid, "RUN_TOOL echo allowed-ran", "cm-c1")
        cr = s.wait_for("control_request", timeout=30)
        self.assertEqual(cr["request"]["subtype"], "can_use_tool")
        self.assertEqual(cr["request"]["tool_name"], "Bash")
        self.assertEqual(cr["request"]["input"]["command"], "echo allowed-ran")
        call_id = cr["request"]["tool_call_id"]
        self.assertEqual(cr["request_id"], "perm-" + call_id)
        self.assertEqual(cr["runtime"], Session.runtime(aid))
        self.assertEqual((cr["agent_id"], cr["conversation_id"]),
                         (aid, "default"))
        # What came before it: the approval request, a requires_approval
        # stop (not the end of the turn), WAITING_ON_APPROVAL.
        before = s.frames_since(m)
        kinds = [f["delta"]["message_type"] for f in before
                 if f["type"] == "stream_delta"]
        self.assertIn("approval_request_message", kinds)
        stops = [f["delta"]["stop_reason"] for f in before
                 if f["type"] == "stream_delta" and
                 f["delta"]["message_type"] == "stop_reason"]
        self.assertEqual(stops, ["requires_approval"])
        self.assertEqual(s.frames_since(m, "turn_finished"), [])
        loop = s.wait_for("update_loop_status", lambda f: f["loop_status"][
            "status"] == "WAITING_ON_APPROVAL", since=m)
        self.assertEqual(loop["loop_status"]["client_message_ids_by_run_id"][
            cr_run(before)], ["cm-c1"])
        dev = s.wait_for("update_device_status", lambda f: f[
            "device_status"]["pending_control_requests"], timeout=10, since=m)
        self.assertEqual(dev["device_status"]["pending_control_requests"][0][
            "request_id"], cr["request_id"])

        m = s.mark()
        s.approve(aid, cr["request_id"], allow=True)
        acc = s.wait_for("input_accepted", timeout=10)
        self.assertIs(acc["accepted"], True)
        self.assertNotIn("disposition", acc)
        done = s.wait_turn()
        self.assertEqual(done["stop_reason"], "end_turn")
        after = s.frames_since(m)
        returns = [f["delta"] for f in after if f["type"] == "stream_delta"
                   and f["delta"]["message_type"] == "tool_return_message"]
        self.assertTrue(returns)
        self.assertEqual(returns[-1]["status"], "success")
        self.assertEqual(returns[-1]["tool_return"].strip(), "allowed-ran")
        text = "".join(text_of(f["delta"]) for f in after
                       if is_assistant_delta(f))
        self.assertEqual(text, "Tool result: allowed-ran")
        reqs = [r for r in self.env.model_requests()
                if "allowed-ran" in r.get("user_text", "")]
        self.assertEqual(len(reqs), 2)   # the call, then the answer
        self.assertEqual([r["tool_results"] for r in reqs][1][0].strip(),
                         "allowed-ran")

    def test_c_strict_deny_finishes_the_turn(self):
        s, aid = self.started(mode="strict")
        s.mark()
        s.send_text(aid, "RUN_TOOL echo denied-ran", "cm-c2")
        cr = s.wait_for("control_request", timeout=30)
        m = s.mark()
        s.approve(aid, cr["request_id"], allow=False,
                  message="not on my watch")
        done = s.wait_turn()
        self.assertEqual(done["stop_reason"], "end_turn")
        after = s.frames_since(m)
        returns = [f["delta"] for f in after if f["type"] == "stream_delta"
                   and f["delta"]["message_type"] == "tool_return_message"]
        self.assertEqual(len(returns), 1)
        self.assertEqual(returns[0]["status"], "error")
        self.assertEqual(returns[0]["tool_return"], "not on my watch")
        reqs = [r for r in self.env.model_requests()
                if "denied-ran" in r.get("user_text", "")]
        self.assertEqual(len(reqs), 2)
        self.assertEqual(reqs[1]["tool_results"], ["not on my watch"])
        text = "".join(text_of(f["delta"]) for f in after
                       if is_assistant_delta(f))
        self.assertEqual(text, "Tool result: not on my watch")
        # A second answer to the same request is refused.
        m = s.mark()
        s.approve(aid, cr["request_id"], allow=True)
        acc = s.wait_for("input_accepted", timeout=10)
        self.assertIs(acc["accepted"], False)
        self.assertEqual(acc["error"], "Approval request is no longer pending")

    def test_c_no_mode_runs_tools_unasked(self):
        s, aid = self.started(mode=None)
        devs = [f for f in s.frames if f["type"] == "update_device_status"]
        self.assertEqual(devs[-1]["device_status"]["current_permission_mode"],
                         "unrestricted")
        frames, done = self.turn(s, aid, "RUN_TOOL echo unasked-ran", "cm-c3")
        self.assertEqual(done["stop_reason"], "end_turn")
        self.assertEqual([f for f in frames if f["type"] == "control_request"],
                         [])
        returns = [f["delta"] for f in frames if f["type"] == "stream_delta"
                   and f["delta"]["message_type"] == "tool_return_message"]
        self.assertEqual(returns[-1]["tool_return"].strip(), "unasked-ran")
        # Several tool steps in one turn (fake_model STEPS n).
        frames, done = self.turn(s, aid, "STEPS 3", "cm-c4")
        self.assertEqual(done["stop_reason"], "end_turn")
        outs = [f["delta"]["tool_return"].strip() for f in frames
                if f["type"] == "stream_delta" and
                f["delta"]["message_type"] == "tool_return_message"
                and f["delta"]["id"].startswith("synthetic-tool-return-")
                and not f["delta"]["id"].startswith(
                    "synthetic-tool-return-stream-")]
        self.assertEqual(outs, ["step-1", "step-2", "step-3"])
        text = "".join(text_of(f["delta"]) for f in frames
                       if is_assistant_delta(f))
        self.assertEqual(text, "Done after 3 steps.")
        runs = {f["run_id"] for f in frames if f["type"] == "turn_finished"}
        self.assertEqual(len(runs), 1)

    def test_c_standard_mode_runs_echo_unasked(self):
        s, aid = self.started(mode="standard")
        frames, done = self.turn(s, aid, "RUN_TOOL echo standard-ran")
        self.assertEqual(done["stop_reason"], "end_turn")
        self.assertEqual([f for f in frames if f["type"] == "control_request"],
                         [])

    # -- d. client_message_id ------------------------------------------

    def test_d_client_message_id_is_otid(self):
        s, aid = self.started()
        cmid = "cm-d-%s" % uuid.uuid4().hex
        frames, done = self.turn(s, aid, "remember me", cmid)
        run_id = done["run_id"]
        self.assertRegex(run_id, r"^local-run-\d+$")
        loops = [f["loop_status"] for f in frames
                 if f["type"] == "update_loop_status"]
        self.assertEqual(loops[-1]["status"], "WAITING_ON_INPUT")
        self.assertEqual(loops[-1]["client_message_ids_by_run_id"][run_id],
                         [cmid])
        self.assertIn(cmid, [i for l in loops for v in l.get(
            "client_message_ids_by_run_id", {}).values() for i in v])
        msgs = s.messages(aid)
        self.assertTrue(msgs["success"])
        users = [m for m in msgs["messages"]
                 if m["message_type"] == "user_message"]
        self.assertEqual(len(users), 1)
        self.assertEqual(users[0]["otid"], cmid)
        self.assertEqual(person_text(users[0]), "remember me")
        # The App Server's <system-reminder> parts come first, the
        # person's text last.
        self.assertIn("<system-reminder>", users[0]["content"][0]["text"])
        self.assertEqual(users[0]["content"][-1],
                         {"type": "text", "text": "remember me"})
        # Newest first; next_before is the oldest id of the page.
        self.assertEqual([m["message_type"] for m in msgs["messages"]],
                         ["assistant_message", "user_message"])
        self.assertEqual(msgs["next_before"], msgs["messages"][-1]["id"])
        self.assertIs(msgs["has_more"], False)
        # The default conversation needs query.agent_id.
        r = s.request({"type": "conversation_messages_list",
                       "conversation_id": "default", "query": {}})
        self.assertIs(r["success"], False)
        self.assertEqual(r["error"], "Agent agent-local-default not found")
        # A new connection sees the same in update_loop_status.
        _, _, loop, dev = self.idle_state(aid)
        self.assertEqual(loop["client_message_ids_by_run_id"][run_id], [cmid])
        self.assertIs(dev["is_processing"], False)

    def test_d_history_paging(self):
        s, aid = self.started()
        for i in range(3):
            self.turn(s, aid, "msg %d" % i, "cm-p%d" % i)
        p1 = s.messages(aid, limit=4)
        self.assertEqual(len(p1["messages"]), 4)
        self.assertIs(p1["has_more"], True)
        p2 = s.messages(aid, limit=4, before=p1["next_before"])
        self.assertEqual(len(p2["messages"]), 2)
        self.assertIs(p2["has_more"], False)
        texts = [person_text(m) if m["message_type"] == "user_message"
                 else text_of(m) for m in p1["messages"] + p2["messages"]]
        self.assertEqual(texts, ["You said: msg 2", "msg 2", "You said: msg 1",
                                 "msg 1", "You said: msg 0", "msg 0"])
        asc = s.messages(aid, limit=2, order="asc")
        self.assertEqual([person_text(m) for m in asc["messages"]][:1],
                         ["msg 0"])

    # -- e. resend -----------------------------------------------------

    def test_e_resend_after_finish_runs_again(self):
        s, aid = self.started()
        _, first = self.turn(s, aid, "say it once", "cm-e1")
        _, second = self.turn(s, aid, "say it once", "cm-e1")
        self.assertNotEqual(first["run_id"], second["run_id"])
        self.assertEqual(second["stop_reason"], "end_turn")
        h = history(s, aid)
        self.assertEqual(h, [("user_message", "cm-e1", "say it once"),
                             ("assistant_message", None,
                              "You said: say it once")] * 2)
        # And from another connection too.
        s2 = self.session()
        _, third = self.turn(s2, aid, "say it once", "cm-e1")
        self.assertEqual(third["stop_reason"], "end_turn")
        self.assertEqual(len(history(s, aid)), 6)

    # -- f. the starting connection goes away mid-turn -----------------

    def _close_mid_turn(self, how):
        s, aid = self.started()
        s.mark()
        s.send_text(aid, "SLOW 4", "cm-f1")
        s.wait_for(None, is_assistant_delta, timeout=30)
        t_closed = time.monotonic()
        if how == "close":
            s.close()
        else:
            s.abort()
        # A new connection that sends nothing hears nothing.
        w = self.env.connect()
        try:
            with self.assertRaises(Timeout):
                w.recv_json(1.0)
        finally:
            w.close()
        s2, loop = self.wait_idle(aid)
        idle_after = time.monotonic() - t_closed
        self.assertLess(idle_after, 3.5)        # before the answer's end
        self.assertEqual(loop["active_run_ids"], [])
        # Past the time the whole answer would have taken: still cut.
        time.sleep(max(0, 4.5 - (time.monotonic() - t_closed)))
        h = history(s2, aid)
        self.assertEqual(h[0], ("user_message", "cm-f1", "SLOW 4"))
        self.assertEqual(len(h), 2, h)
        self.assertEqual(h[1][0], "assistant_message")
        self.assertTrue(h[1][2])
        self.assertIn(h[1][2], slow_text(4))
        self.assertNotEqual(h[1][2], slow_text(4))
        # A new connection learns the conversation is idle from the
        # runtime_start replay.
        s3, r, loop, dev = self.idle_state(aid)
        self.assertEqual(loop["status"], "WAITING_ON_INPUT")
        self.assertIn(["cm-f1"],
                      list(loop["client_message_ids_by_run_id"].values()))
        self.assertIs(dev["is_processing"], False)
        # The next turn: the model gets the question AND the cut-off
        # answer as context (as the history holds them).
        _, done = self.turn(s3, aid, "after the cut", "cm-f2")
        self.assertEqual(done["stop_reason"], "end_turn")
        req = self.env.model_requests()[-1]
        self.assertEqual(req["user_text"], "after the cut")
        roles = [(m["role"], person_text(m) if m["role"] == "user" else
                  text_of(m)) for m in req["body"]["messages"][1:]]
        self.assertEqual(roles, [("user", "SLOW 4"), ("assistant", h[1][2]),
                                 ("user", "after the cut")])
        return s2

    def test_f_close_mid_turn_cancels(self):
        s2 = self._close_mid_turn("close")
        # The sync that subscribed while the cancel was under way may get
        # the turn's end: turn_finished stop_reason cancelled.
        for f in s2.frames_since(0, "turn_finished"):
            self.assertEqual(f["stop_reason"], "cancelled")

    def test_f_tcp_drop_mid_turn_cancels(self):
        s2 = self._close_mid_turn("drop")
        for f in s2.frames_since(0, "turn_finished"):
            self.assertEqual(f["stop_reason"], "cancelled")

    def test_f_second_subscriber_keeps_the_turn(self):
        """Another connection subscribed to the conversation (sync) keeps
        the turn alive when the starter goes."""
        s, aid = self.started()
        watcher = self.session()
        watcher.request({"type": "sync", "runtime": Session.runtime(aid)})
        s.mark()
        watcher.mark()
        s.send_text(aid, "SLOW 3", "cm-f3")
        s.wait_for(None, is_assistant_delta, timeout=30)
        s.close()
        done = watcher.wait_turn(timeout=30)
        self.assertEqual(done["stop_reason"], "end_turn")
        text = "".join(text_of(f["delta"]) for f in watcher.frames_since(0)
                       if is_assistant_delta(f))
        self.assertIn(text, slow_text(3))
        self.assertEqual(history(watcher, aid)[-1],
                         ("assistant_message", None, slow_text(3)))

    # -- g. inputs while a turn runs ------------------------------------

    def test_g_inputs_during_a_turn_are_queued_and_merged(self):
        s, aid = self.started()
        m = s.mark()
        s.send_text(aid, "SLOW 2", "cm-g1", request_id="in-g1")
        s.wait_for(None, is_assistant_delta, timeout=30)
        s.send_text(aid, "second", "cm-g2", request_id="in-g2")
        s.send_text(aid, "third", "cm-g3", request_id="in-g3")
        first = s.wait_turn()
        second = s.wait_turn()
        s.drain(0.5)
        frames = s.frames_since(m)
        acc = {f["request_id"]: f.get("disposition") for f in frames
               if f["type"] == "input_accepted"}
        self.assertEqual(acc, {"in-g1": "started", "in-g2": "queued",
                               "in-g3": "queued"})
        queues = [[q["client_message_id"] for q in f["queue"]]
                  for f in frames if f["type"] == "update_queue"]
        self.assertIn(["cm-g2", "cm-g3"], queues)
        removed = [r for f in frames if f["type"] == "update_queue"
                   for r in f["removed"]]
        self.assertEqual(removed, [
            {"client_message_id": "cm-g2", "disposition": "dequeued"},
            {"client_message_id": "cm-g3", "disposition": "dequeued"}])
        self.assertEqual(len(s.frames_since(m, "turn_finished")), 2)
        loops = s.frames_since(m, "update_loop_status")
        self.assertEqual(loops[-1]["loop_status"][
            "client_message_ids_by_run_id"][second["run_id"]],
            ["cm-g2", "cm-g3"])
        self.assertNotEqual(first["run_id"], second["run_id"])
        # One model call for both, one answer; two user messages kept.
        req = self.env.model_requests()[-1]
        self.assertEqual(req["user_text"], "second\nthird")
        self.assertEqual(history(s, aid)[2:], [
            ("user_message", "cm-g2", "second"),
            ("user_message", "cm-g3", "third"),
            ("assistant_message", None, "You said: second\nthird")])

    def test_g_queued_inputs_of_a_closed_connection_are_dropped(self):
        s, aid = self.started()
        s.mark()
        s.send_text(aid, "SLOW 3", "cm-q1")
        s.wait_for(None, is_assistant_delta, timeout=30)
        s.send_text(aid, "queued then orphaned", "cm-q2")
        acc = s.wait_for("input_accepted", lambda f: f.get(
            "disposition") == "queued", timeout=10)
        self.assertIs(acc["accepted"], True)
        s.close()
        s2, loop = self.wait_idle(aid)
        time.sleep(3.5)
        h = history(s2, aid)
        self.assertEqual([x[:2] for x in h], [
            ("user_message", "cm-q1"), ("assistant_message", None)])
        self.assertNotIn("queued then orphaned",
                         [r.get("user_text") for r in
                          self.env.model_requests()])
        _, _, loop, _ = self.idle_state(aid)
        self.assertEqual(loop["status"], "WAITING_ON_INPUT")

    # -- reconnect: runtime_start and sync replays ----------------------

    def test_r_replays_after_reconnect(self):
        s, aid = self.started(mode="strict")
        self.turn(s, aid, "before the reconnect", "cm-r1")
        s.close()
        s2 = self.session()
        # sync: loop, queue, subagents, then sync_response (device status
        # only when it changed for this socket, or with force).
        m = s2.mark()
        s2.request({"type": "sync", "runtime": Session.runtime(aid)})
        kinds = [f["type"] for f in s2.frames_since(m)]
        self.assertEqual(kinds[-4:], ["update_loop_status", "update_queue",
                                      "update_subagent_state",
                                      "sync_response"])
        m = s2.mark()
        s2.request({"type": "sync", "runtime": Session.runtime(aid),
                    "force_device_status": True})
        kinds = [f["type"] for f in s2.frames_since(m)]
        self.assertIn("update_device_status", kinds)
        dev = s2.frames_since(m, "update_device_status")[-1]["device_status"]
        # The mode is kept per conversation across connections.
        self.assertEqual(dev["current_permission_mode"], "strict")
        # runtime_start with wait_for_replay: the replay, then the answer.
        m = s2.mark()
        r = s2.runtime_start(aid, mode="strict", wait_for_replay=True)
        s2.drain(0.3)
        kinds = [f["type"] for f in s2.frames_since(m)]
        i = kinds.index("runtime_start_response")
        self.assertEqual(kinds[:i], ["update_device_status",
                                     "update_loop_status", "update_queue",
                                     "update_subagent_state"])
        self.assertEqual(r["runtime"], Session.runtime(aid))
        self.assertEqual(r["created"], {"agent": False,
                                        "conversation": False})
        self.assertEqual((r["conversation"]["id"],
                          r["conversation"]["agent_id"]), ("default", aid))
        self.assertEqual(r["agent"]["id"], aid)
        loop = s2.frames_since(m, "update_loop_status")[-1]["loop_status"]
        self.assertEqual(loop["status"], "WAITING_ON_INPUT")
        self.assertIn(["cm-r1"],
                      list(loop["client_message_ids_by_run_id"].values()))
        # runtime_start without mode keeps the conversation's mode.
        m = s2.mark()
        s2.runtime_start(aid)
        s2.drain(0.3)
        dev = s2.frames_since(m, "update_device_status")[-1]["device_status"]
        self.assertEqual(dev["current_permission_mode"], "strict")
        # Without runtime_start or sync, an input alone subscribes.
        s3 = self.session()
        frames, done = self.turn(s3, aid, "no runtime_start here")
        self.assertEqual(done["stop_reason"], "end_turn")
        self.assertEqual(frames[0]["type"], "input_accepted")

    def test_r_conversations(self):
        s = self.session()
        aid = self.new_agent(s)
        r = s.request({"type": "conversation_create",
                       "body": {"agent_id": aid, "summary": "!room:hs"}})
        self.assertTrue(r["success"])
        cid = r["conversation"]["id"]
        self.assertRegex(cid, r"^local-conv-\d+$")
        r = s.request({"type": "conversation_list",
                       "query": {"agent_id": aid}})
        self.assertEqual([c["id"] for c in r["conversations"]], [cid])
        r = s.request({"type": "conversation_list",
                       "query": {"agent_id": aid, "summary_search": "ROOM"}})
        self.assertEqual([c["id"] for c in r["conversations"]], [cid])
        s.runtime_start(aid, conversation_id=cid)
        s.mark()
        s.send_text(aid, "in a conversation", "cm-cv1", conversation_id=cid)
        done = s.wait_turn()
        self.assertEqual(done["runtime"], {"agent_id": aid,
                                           "conversation_id": cid})
        msgs = s.messages(aid, conversation_id=cid)
        self.assertEqual([m_.get("otid") for m_ in msgs["messages"]],
                         [None, "cm-cv1"])
        # The default conversation is separate and never listed.
        self.assertEqual(s.messages(aid)["messages"], [])
        r = s.request({"type": "conversation_list",
                       "query": {"agent_id": aid}})
        self.assertNotIn("default", [c["id"] for c in r["conversations"]])

    # -- h. pending approval and reconnect ------------------------------

    def test_h_pending_approval_does_not_survive_reconnect(self):
        s, aid = self.started(mode="strict")
        s.mark()
        s.send_text(aid, "RUN_TOOL echo h-ran", "cm-h1")
        cr = s.wait_for("control_request", timeout=30)
        s.close()
        time.sleep(0.5)
        s2, r, loop, dev = self.idle_state(aid)
        self.assertEqual(loop["status"], "WAITING_ON_INPUT")
        self.assertEqual(loop["active_run_ids"], [])
        self.assertEqual(dev["pending_control_requests"], [])
        self.assertEqual(s2.frames_since(0, "control_request"), [])
        self.assertEqual(s2.frames_since(0, "turn_finished"), [])
        m = s2.mark()
        s2.request({"type": "sync", "runtime": Session.runtime(aid)})
        s2.drain(0.5)
        self.assertEqual(s2.frames_since(m, "control_request"), [])
        self.assertEqual(history(s2, aid), [
            ("user_message", "cm-h1", "RUN_TOOL echo h-ran"),
            ("approval_request_message", None, "Bash")])
        # Answering it now is refused.
        s2.mark()
        s2.approve(aid, cr["request_id"], allow=True)
        acc = s2.wait_for("input_accepted", timeout=10)
        self.assertIs(acc["accepted"], False)
        self.assertEqual(acc["error"], "Approval request is no longer pending")
        # The next message closes the dangling call as interrupted; the
        # tool never ran.
        _, done = self.turn(s2, aid, "moving on", "cm-h2")
        self.assertEqual(done["stop_reason"], "end_turn")
        h = history(s2, aid)
        self.assertEqual(h[2][0], "tool_return_message")
        self.assertEqual(h[2][2], "User interrupted the stream")
        self.assertEqual(h[-2:], [("user_message", "cm-h2", "moving on"),
                                  ("assistant_message", None,
                                   "You said: moving on")])
        self.assertFalse([x for x in h if x[0] == "tool_return_message"
                          and "h-ran" in (x[2] or "")])

    # -- i. abort ------------------------------------------------------

    def test_i_abort_cancels_a_slow_turn(self):
        s, aid = self.started()
        m = s.mark()
        s.send_text(aid, "SLOW 5", "cm-i1")
        first = s.wait_for(None, is_assistant_delta, timeout=30)
        time.sleep(0.8)
        t0 = time.monotonic()
        s.send({"type": "abort_message", "request_id": "ab-1",
                "runtime": Session.runtime(aid)})
        resp = s.wait_for("abort_message_response", timeout=10)
        done = s.wait_turn(timeout=10)
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertEqual((resp["aborted"], resp["success"]), (True, True))
        self.assertEqual(resp["runtime"], Session.runtime(aid))
        self.assertEqual(done["stop_reason"], "cancelled")
        self.assertEqual(done["run_id"], first["delta"]["run_id"])
        status = [f["delta"] for f in s.frames_since(m)
                  if f["type"] == "stream_delta" and
                  f["delta"]["message_type"] == "status"]
        self.assertEqual([(d["message"], d["level"]) for d in status],
                         [("Interrupted", "warning")])
        s.drain(0.5)
        loops = s.frames_since(m, "update_loop_status")
        self.assertEqual(loops[-1]["loop_status"]["status"],
                         "WAITING_ON_INPUT")
        # No more text after the abort.
        time.sleep(max(0, 5.5 - (time.monotonic() - t0)))
        s.drain(0.3)
        after = [f for f in s.frames_since(m) if is_assistant_delta(f)
                 and f["event_seq"] > done["event_seq"]]
        self.assertEqual(after, [])
        # The model call is not cut: the App Server keeps its HTTP request
        # open and the model answers to the end (tokens are still spent).
        req = [r for r in self.env.model_requests()
               if r.get("user_text") == "SLOW 5"][-1]
        self.assertEqual((req["finished"], req["client_gone"]),
                         (True, False))
        h = history(s, aid)
        self.assertEqual(h[0], ("user_message", "cm-i1", "SLOW 5"))
        self.assertEqual(len(h), 2, h)
        self.assertIn(h[1][2], slow_text(5))
        self.assertNotEqual(h[1][2], slow_text(5))
        # Nothing to abort: aborted false, success true.
        r = s.request({"type": "abort_message",
                       "runtime": Session.runtime(aid)})
        self.assertEqual((r["aborted"], r["success"]), (False, True))

    # -- j. stream shapes ----------------------------------------------

    def test_j_stream_delta_and_turn_finished_shape(self):
        s, aid = self.started()
        frames, done = self.turn(s, aid, "SLOW 2", "cm-j1")
        deltas = [f for f in frames if is_assistant_delta(f)]
        self.assertGreaterEqual(len(deltas), 3)
        self.assertEqual(len({f["delta"]["id"] for f in deltas}), 1)
        seqs = [f["delta"]["seq_id"] for f in deltas]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(seqs[0], 1)
        for f in deltas:
            d = f["delta"]
            self.assertEqual(f["runtime"], Session.runtime(aid))
            self.assertEqual(d["run_id"], done["run_id"])
            self.assertEqual(d["type"], "message")
            self.assertEqual((d["agent_id"], d["conversation_id"]),
                             (aid, "default"))
            self.assertEqual(len(d["content"]), 1)
            self.assertEqual(d["content"][0]["type"], "text")
            for key in ("event_seq", "emitted_at", "idempotency_key"):
                self.assertIn(key, f)
        self.assertEqual("".join(text_of(f["delta"]) for f in deltas),
                         slow_text(2))
        evs = [f["event_seq"] for f in frames if "event_seq" in f]
        self.assertEqual(evs, sorted(evs))
        self.assertEqual(len(evs), len(set(evs)))
        kinds = [f["delta"]["message_type"] for f in frames
                 if f["type"] == "stream_delta"]
        self.assertEqual(kinds[-2:], ["usage_statistics", "stop_reason"])
        stop = [f["delta"] for f in frames if f["type"] == "stream_delta"
                and f["delta"]["message_type"] == "stop_reason"][0]
        self.assertEqual(stop["stop_reason"], "end_turn")
        self.assertEqual(set(done), {"type", "turn_id", "stop_reason",
                                     "run_id", "runtime", "event_seq",
                                     "emitted_at", "idempotency_key"})
        self.assertRegex(done["turn_id"], r"^batch-")
        self.assertTrue(done["idempotency_key"].startswith(
            "turn_finished:%d:" % done["event_seq"]))
        # turn_finished comes after the idle loop status.
        order = [f["type"] for f in frames]
        last_loop = max(i for i, t in enumerate(order)
                        if t == "update_loop_status")
        self.assertLess(last_loop, order.index("turn_finished"))
        # input_accepted started comes before any of the turn's deltas here
        self.assertEqual(frames[0]["type"], "input_accepted")
        # Markdown passes through untouched.
        frames, _ = self.turn(s, aid, "MARKDOWN please")
        text = "".join(text_of(f["delta"]) for f in frames
                       if is_assistant_delta(f))
        self.assertIn("**bold**", text)
        self.assertIn("```python\n", text)
        self.assertIn("\n- first item\n", text)

    # -- k. garbage ----------------------------------------------------

    def test_k_unknown_and_malformed_frames_are_ignored(self):
        s = self.session()
        ws = s.ws
        ws.send_json({"type": "no_such_frame", "request_id": "k1"})
        ws.send_text("{not json")
        ws.send_text("[1, 2, 3]")
        ws.send_json({"request_id": "k2"})
        ws.send_frame(OP_BINARY, b"\x00\x01binary")
        ws.send_frame(OP_BINARY, json.dumps(
            {"type": "app_server_info", "request_id": "k-bin"}).encode())
        got = s.drain(1.0)
        # A binary frame holding a command is treated like text.
        self.assertEqual([f.get("request_id") for f in got], ["k-bin"])
        self.assertEqual(s.app_server_info()["type"],
                         "app_server_info_response")
        # A fragmented message is reassembled; a ping in the middle of it
        # is answered.
        ws.send_raw(frame(OP_TEXT, '{"type":"app_server_info","request_id"'
                          ':"fr', fin=False) + frame(OP_PING, b"mid") +
                    frame(OP_CONT, 'ag"}', fin=True))
        fin, op, payload = ws._read_frame(time.monotonic() + 5)
        self.assertEqual((op, payload), (OP_PONG, b"mid"))
        self.assertEqual(ws.recv_json(5)["request_id"], "frag")
        # An input the server cannot take: a loop_error delta, no close.
        aid = self.new_agent(s)
        s.mark()
        s.send({"type": "input", "request_id": "k3",
                "runtime": Session.runtime(aid),
                "payload": {"kind": "approval_response"}})
        err = s.wait_for("stream_delta", timeout=10)
        self.assertEqual(err["delta"]["message_type"], "loop_error")
        self.assertEqual(err["delta"]["stop_reason"], "error")
        self.assertIs(err["delta"]["is_terminal"], False)
        self.assertTrue(err["delta"]["message"].startswith(
            "Protocol violation: input.kind=approval_response requires"))
        # An unknown agent: runtime_start fails; an input is accepted and
        # its turn ends with stop_reason error.
        bad = "agent-local-%s" % uuid.uuid4()
        r = s.request({"type": "runtime_start", "agent_id": bad,
                       "conversation_id": "default"})
        self.assertIs(r["success"], False)
        self.assertEqual(r["error"], "Agent %s not found" % bad)
        s.mark()
        s.send_text(bad, "anyone?")
        done = s.wait_turn(timeout=20)
        self.assertEqual(done["stop_reason"], "error")
        self.assertEqual(done["error"], "Agent %s not found" % bad)

    def test_k_protocol_errors_close_the_socket(self):
        cases = [
            ("unmasked", frame(OP_TEXT, '{"type":"app_server_info"}',
                               mask=False), 1002),
            ("bad utf-8", frame(OP_TEXT, b"\xff\xfe"), 1007),
            ("reserved opcode", frame(0x3, b"x"), 1002),
            ("rsv bit", frame(OP_TEXT, b"{}", rsv=4), 1002),
            ("continuation first", frame(OP_CONT, b"{}"), 1002),
        ]
        for name, data, code in cases:
            w = self.env.connect()
            try:
                w.send_raw(data)
                with self.assertRaises(ConnectionClosed, msg=name) as cm:
                    w.recv_json(5)
                self.assertEqual(cm.exception.code, code, name)
            finally:
                w.close()
        # A client close gets the close echoed with 1000.
        w = self.env.connect()
        w.close()
        self.assertEqual(w.close_code, 1000)

    # -- z. keepalive (last: needs 30 s of server uptime) ---------------

    def test_z_server_pings_idle_connections(self):
        """The server pings every connection every 30 s (one timer from
        its start); an idle client that answers stays connected."""
        wait = self.started_at + 31.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        k = self.keeper
        with self.assertRaises(Timeout):
            k.recv_json(1.0)        # reads (and answers) the pings
        self.assertGreaterEqual(k.pings, 1)
        k.send_json({"type": "app_server_info", "request_id": "alive"})
        self.assertEqual(k.recv_json(10)["request_id"], "alive")


@unittest.skipIf(SKIP is not None, SKIP or "")
class AppServerRealRestartTest(unittest.TestCase):
    """What survives a restart of the App Server (same HOME/backend dir)."""

    def test_restart(self):
        env = AppServerEnv().start()
        self.addCleanup(env.stop)
        s = env.session()
        aid = s.agent_create("restart-%s" % uuid.uuid4().hex[:8])["id"]
        s.runtime_start(aid, mode="strict")
        m = s.mark()
        s.send_text(aid, "before the restart", "cm-x1")
        before = s.wait_turn()
        port = env.port
        env.restart_server()
        self.assertEqual(env.port, port)
        # The old connection ends without a close frame (TCP EOF).
        with self.assertRaises(ConnectionClosed) as cm:
            end = time.monotonic() + 5
            while time.monotonic() < end:
                s.ws.recv_json(end - time.monotonic())
        self.assertIsNone(cm.exception.code)
        self.assertEqual(cm.exception.reason, "EOF")
        s2 = env.session()
        self.assertIn(aid, [a["id"] for a in s2.agent_list()])
        self.assertEqual(history(s2, aid), [
            ("user_message", "cm-x1", "before the restart"),
            ("assistant_message", None, "You said: before the restart")])
        m = s2.mark()
        s2.runtime_start(aid)
        s2.drain(0.3)
        loop = s2.frames_since(m, "update_loop_status")[-1]["loop_status"]
        dev = s2.frames_since(m, "update_device_status")[-1]["device_status"]
        self.assertEqual(loop["status"], "WAITING_ON_INPUT")
        self.assertEqual(loop.get("client_message_ids_by_run_id", {}), {})
        # The same client_message_id again: a second turn.
        m = s2.mark()
        s2.send_text(aid, "before the restart", "cm-x1")
        after = s2.wait_turn()
        self.assertEqual(after["stop_reason"], "end_turn")
        self.assertEqual(len(history(s2, aid)), 4)
        # The mode survives the restart: runtime_start without mode keeps
        # the conversation's last mode.
        self.assertEqual(dev["current_permission_mode"], "strict")
        # Run ids start again at local-run-1: not unique across restarts.
        self.assertEqual((before["run_id"], after["run_id"]),
                         ("local-run-1", "local-run-1"))


def cr_run(frames):
    """The run id of the approval request among frames."""
    for f in frames:
        if f["type"] == "stream_delta" and f["delta"].get(
                "message_type") == "approval_request_message":
            return f["delta"]["run_id"]
    return None


if __name__ == "__main__":
    unittest.main()
