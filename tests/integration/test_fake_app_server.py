"""Self-tests of tools/fake_app_server.py over real HTTP and WebSocket:
its strictness, its record, paging, the turn behaviours and every fault.
The expectations are the real App Server's (letta-code 0.32.18) as read
in its code and seen in shared/reference/letta-app-server/frames*.jsonl.
"""

import base64
import json
import os
import socket
import struct
import time
import unittest

from fakes import FakeAppServer
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                      OP_TEXT, ConnectionClosed, HandshakeError, Timeout,
                      WSClient, frame)

RUNTIME_TYPES = {"update_device_status", "update_loop_status", "update_queue",
                 "update_subagent_state", "stream_delta", "turn_finished",
                 "control_request"}


class Client:
    """A WebSocket to the fake with a buffer of frames not yet looked at."""

    def __init__(self, fake, **kw):
        self.ws = fake.connect(**kw)
        self.pending = []
        self.n = 0

    def send(self, obj):
        self.ws.send_json(obj)

    def wait(self, type_=None, pred=None, timeout=5.0):
        def ok(f):
            return (type_ is None or f.get("type") == type_) and \
                (pred is None or pred(f))
        for f in self.pending:
            if ok(f):
                self.pending.remove(f)
                return f
        end = time.monotonic() + timeout
        while True:
            f = self.ws.recv_json(max(0.01, end - time.monotonic()))
            if ok(f):
                return f
            self.pending.append(f)

    def until(self, type_, pred=None, timeout=5.0):
        """Every frame (buffered first) up to the matching one, which is
        last; they are consumed."""
        out = []
        while True:
            f = self.pending.pop(0) if self.pending else \
                self.ws.recv_json(timeout)
            out.append(f)
            if f.get("type") == type_ and (pred is None or pred(f)):
                return out

    def quiet(self, seconds=0.3):
        """What came (buffered and new) until nothing did for `seconds`."""
        out, self.pending = self.pending, []
        out += self.ws.drain(seconds)
        return out

    def request(self, cmd, **fields):
        self.n += 1
        rid = "r%d" % self.n
        self.send(dict(fields, type=cmd, request_id=rid))
        return self.wait(cmd + "_response",
                         lambda f: f.get("request_id") == rid)

    def start(self, agent_id, conversation_id="default", **extra):
        res = self.request("runtime_start", agent_id=agent_id,
                           conversation_id=conversation_id, **extra)
        assert res["success"], res
        return res

    def say(self, agent_id, text, cmid=None, conv="default", rid=True):
        msg = {"role": "user", "content": text}
        if cmid:
            msg["client_message_id"] = cmid
        cmd = {"type": "input", "runtime": {"agent_id": agent_id,
                                            "conversation_id": conv},
               "payload": {"kind": "create_message", "messages": [msg]}}
        if rid:
            self.n += 1
            cmd["request_id"] = "in%d" % self.n
        self.send(cmd)
        return cmd.get("request_id")

    def close(self):
        self.ws.close()


def deltas(frames, message_type=None):
    return [f["delta"] for f in frames if f["type"] == "stream_delta" and
            (message_type is None or f["delta"]["message_type"] ==
             message_type)]


def text_of(frames):
    return "".join(d["content"][0]["text"]
                   for d in deltas(frames, "assistant_message"))


def raw_http(port, data, timeout=5.0):
    """Send raw request bytes; the answer (head and Content-Length or
    chunked body, or what came until the server closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            head, sep, body = out.partition(b"\r\n\r\n")
            lengths = [int(h.split(b":")[1]) for h in head.split(b"\r\n")
                       if h.lower().startswith(b"content-length:")]
            if sep and ((lengths and len(body) >= lengths[0]) or
                        body.endswith(b"0\r\n\r\n")):
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def upgrade_request(path="/ws", method="GET", **headers):
    lines = {"Host": "127.0.0.1", "Upgrade": "websocket",
             "Connection": "Upgrade",
             "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
             "Sec-WebSocket-Version": "13"}
    lines.update({k.replace("_", "-"): v for k, v in headers.items()})
    text = "%s %s HTTP/1.1\r\n" % (method, path) + "".join(
        "%s: %s\r\n" % (k, v) for k, v in lines.items()
        if v is not None) + "\r\n"
    return text.encode()


class AppCase(unittest.TestCase):
    token = None

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeAppServer(ws_token=cls.token).start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.ws.abort()
            except OSError:
                pass

    def client(self, **kw):
        c = Client(self.fake, **kw)
        self.clients.append(c)
        return c

    def agent(self, name="bot", script=None, **fields):
        return self.fake.add_agent(name, script, **fields)["id"]

    def wait_for(self, check, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            got = check()
            if got or time.monotonic() > end:
                return got
            time.sleep(0.02)

    def turn(self, c, agent_id, text="hi", cmid=None, conv="default"):
        c.say(agent_id, text, cmid, conv)
        return c.until("turn_finished")


class HTTP(AppCase):
    def get(self, path, headers=None, method="GET"):
        return self.fake.http(method, path, headers=headers)

    def test_probes_and_info(self):
        for path in ("/readyz", "/healthz"):
            res = self.get(path)
            self.assertEqual((res.status, res.raw), (200, b"ok\n"))
            self.assertEqual(res.headers["content-type"], "text/plain")
        self.assertEqual(self.get("/readyz", method="POST").status, 200)
        info = self.get("/app-server-info")
        self.assertEqual(info.status, 200)
        self.assertEqual(info.body["request_id"], "http-info")
        self.assertEqual(info.body["protocol_version"], 1)
        self.assertNotIn("server", info.headers)

    def test_every_v1_path_is_404(self):
        for path in ("/v1/agents/", "/v1/health/", "/v1/runs/",
                     "/v1/conversations/", "/ws", "/nothing"):
            res = self.get(path)
            self.assertEqual((res.status, res.raw), (404, b""), path)
            self.assertEqual(res.headers["transfer-encoding"], "chunked")

    def test_origin_is_403(self):
        for path in ("/readyz", "/app-server-info", "/v1/agents/"):
            res = self.get(path, {"Origin": "http://evil.example"})
            self.assertEqual((res.status, res.raw), (403, b""), path)

    def test_control_prefix_is_not_for_clients(self):
        self.assertEqual(self.get("/_fake/agents").status, 404)
        self.assertEqual(len(self.fake.requests(path="^/_fake")), 1)


class Handshake(AppCase):
    def answer(self, **kw):
        return raw_http(self.fake.port, upgrade_request(**kw))

    def test_good_handshake_and_subprotocol(self):
        ws = WSClient(self.fake.ws_url, subprotocols=["letta", "other"])
        self.assertEqual(ws.subprotocol, "letta")
        ws.close()
        ws = WSClient("ws://127.0.0.1:%d/" % self.fake.port)
        ws.close()
        log = self.fake.requests(path="^/ws$")
        self.assertEqual(log[0]["status"], 101)

    def test_bad_handshakes(self):
        cases = [
            (dict(Sec_WebSocket_Key=None), b"400 Bad Request",
             b"Missing or invalid Sec-WebSocket-Key header"),
            (dict(Sec_WebSocket_Key="short"), b"400 Bad Request",
             b"Missing or invalid Sec-WebSocket-Key header"),
            (dict(Sec_WebSocket_Version="12"), b"400 Bad Request",
             b"Sec-WebSocket-Version: 13, 8"),
            (dict(Upgrade="h2c"), b"400 Bad Request",
             b"Invalid Upgrade header"),
            (dict(method="POST"), b"405 Method Not Allowed",
             b"Invalid HTTP method"),
            (dict(path="/elsewhere"), b"404 Not Found", b"Content-Length: 0"),
            (dict(path="/ws?channel=stream"), b"426 Upgrade Required", b""),
            (dict(Origin="http://evil.example"), b"403 Forbidden", b""),
            (dict(Sec_WebSocket_Protocol="a,,b"), b"400 Bad Request",
             b"Invalid Sec-WebSocket-Protocol header")]
        for kw, status, text in cases:
            got = self.answer(**kw)
            self.assertIn(status, got.split(b"\r\n")[0], kw)
            self.assertIn(text, got, kw)
        plain = self.answer(Connection="keep-alive")
        self.assertTrue(plain.startswith(b"HTTP/1.1 404"), plain)
        self.assertEqual(self.fake.connections(), [])

    def test_ws_abort_handshake_body(self):
        got = self.answer(Sec_WebSocket_Key=None)
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Type: text/html", head)
        self.assertEqual(body, b"Missing or invalid Sec-WebSocket-Key header")


class Auth(AppCase):
    token = "s3cret-token"

    def test_bearer_required(self):
        for headers, reason in (
                ({}, b"401 missing websocket bearer token"),
                ({"Authorization": "Bearer wrong"},
                 b"401 invalid websocket bearer token"),
                ({"Authorization": "Basic abc"},
                 b"401 invalid authorization header")):
            with self.assertRaises(HandshakeError) as cm:
                WSClient(self.fake.ws_url, headers=headers)
            self.assertEqual(cm.exception.status, 401)
            got = raw_http(self.fake.port, upgrade_request(**{
                k.replace("-", "_"): v for k, v in headers.items()}))
            self.assertTrue(got.startswith(b"HTTP/1.1 " + reason), got)
        c = self.client(headers={"Origin": "app://native"})
        self.assertTrue(c.request("app_server_info")["success"])
        info = self.fake.http("GET", "/app-server-info")
        self.assertEqual(info.status, 401)
        self.assertEqual(info.body, {"error": "missing websocket bearer "
                                              "token"})
        ok = self.fake.http("GET", "/app-server-info", token=self.token)
        self.assertEqual(ok.status, 200)
        opened = self.fake.frames(dir="conn", type=None)
        auth = opened[0]["headers"]["Authorization"]
        self.assertTrue(auth.startswith("Bearer ***"), auth)


class Strictness(AppCase):
    def test_unknown_malformed_and_incomplete_frames_are_dropped(self):
        c = self.client()
        c.send({"type": "no_such_command", "request_id": "x"})
        c.ws.send_text("{not json")
        c.send({"type": "agent_list"})                 # no request_id
        c.send({"type": "agent_list", "request_id": "q", "query": None})
        c.send({"type": "list_models", "request_id": "m"})
        c.send({"type": "pong"})
        c.send(["an", "array"])
        self.assertEqual(c.quiet(), [])
        errors = [f["error"] for f in self.fake.frames(dir="in",
                                                       errors=True)]
        self.assertEqual(len(errors), 6, errors)
        self.assertIn("unknown type 'no_such_command'", errors[0])
        self.assertIn("malformed JSON", errors[1])
        self.assertIn("invalid agent_list", errors[2])
        self.assertIn("invalid agent_list", errors[3])
        self.assertIn("unsupported by the fake: list_models", errors[4])
        self.assertIn("not a JSON object", errors[5])

    def test_bad_input_payload_is_a_loop_error(self):
        a = self.agent()
        c = self.client()
        rt = {"agent_id": a, "conversation_id": "default"}
        c.send({"type": "input", "request_id": "i1", "runtime": rt,
                "payload": {"kind": "approval_response", "request_id": 5}})
        d = c.wait("stream_delta")["delta"]
        self.assertEqual(d["message_type"], "loop_error")
        self.assertEqual(d["message"], "Protocol violation: input.kind="
                         "approval_response requires payload.request_id "
                         "and either payload.decision or payload.error")
        self.assertFalse(d["is_terminal"])
        self.assertTrue(d["id"].startswith("lifecycle-"))
        c.send({"type": "input", "runtime": rt,
                "payload": {"kind": "telepathy"}})
        d = c.wait("stream_delta")["delta"]
        self.assertEqual(d["message"], "Unsupported input payload kind: "
                                       "telepathy")
        c.send({"type": "input", "request_id": "i2", "runtime": rt,
                "payload": {"kind": "create_message", "messages": [
                    {"type": "approval", "approvals": []}]}})
        d = c.wait("stream_delta")["delta"]
        self.assertIn("approval payloads are not allowed", d["message"])
        acc = c.wait("input_accepted")
        self.assertEqual((acc["accepted"], acc["error"]),
                         (False, "Approval payloads require "
                                 "approval_response"))
        c.send({"type": "input", "request_id": "i3",
                "runtime": {"agent_id": "", "conversation_id": "default"},
                "payload": {"kind": "create_message", "messages": []}})
        self.assertEqual(c.quiet(), [])
        self.assertEqual(self.fake.runtimes(), [])

    def test_binary_frames_are_read_as_json(self):
        c = self.client()
        c.ws.send_frame(OP_BINARY, json.dumps(
            {"type": "app_server_info", "request_id": "b"}).encode())
        self.assertEqual(c.wait("app_server_info_response")["request_id"],
                         "b")

    def protocol_error(self, data, code):
        c = self.client()
        c.ws.send_raw(data)
        with self.assertRaises(ConnectionClosed) as cm:
            c.ws.recv_message(5)
        self.assertEqual(cm.exception.code, code)
        with self.assertRaises(ConnectionClosed):   # then the server's FIN
            c.ws.recv_message(5)
        return self.fake.frames(dir="in", errors=True)[-1]["error"]

    def test_protocol_errors_close_as_ws_does(self):
        self.assertIn("MASK must be set",
                      self.protocol_error(frame(OP_TEXT, "{}", mask=False),
                                          1002))
        self.assertIn("RSV1", self.protocol_error(
            frame(OP_TEXT, "{}", rsv=4), 1002))
        self.assertIn("invalid opcode 0", self.protocol_error(
            frame(OP_CONT, "x"), 1002))
        self.assertIn("invalid opcode 3", self.protocol_error(
            frame(3, "x"), 1002))
        self.assertIn("FIN must be set", self.protocol_error(
            frame(OP_PING, "x", fin=False), 1002))
        self.assertIn("invalid payload length", self.protocol_error(
            frame(OP_PING, "x" * 126), 1002))
        self.assertIn("invalid UTF-8", self.protocol_error(
            frame(OP_TEXT, b'{"a":"\xff"}'), 1007))
        self.assertIn("invalid UTF-8", self.protocol_error(
            frame(OP_TEXT, b"\xc3", fin=False) + frame(OP_CONT, b"("),
            1007))
        self.assertIn("invalid status code", self.protocol_error(
            frame(OP_CLOSE, struct.pack("!H", 1005)), 1002))

    def test_ping_pong_and_close_echo(self):
        c = self.client()
        c.ws.send_frame(OP_PING, b"hello")
        # the pong is not a data message: read the raw frame
        fin, op, payload = c.ws._read_frame(time.monotonic() + 5)
        self.assertEqual((op, payload), (OP_PONG, b"hello"))
        c.ws.send_frame(OP_CLOSE, struct.pack("!H", 4001) + b"bye")
        fin, op, payload = c.ws._read_frame(time.monotonic() + 5)
        self.assertEqual((op, payload), (OP_CLOSE,
                                         struct.pack("!H", 4001) + b"bye"))
        with self.assertRaises(ConnectionClosed):   # the server's FIN
            c.ws._read_frame(time.monotonic() + 5)
        c.ws.abort()
        closed = self.wait_for(lambda: self.fake.frames(dir="conn")[1:])[0]
        self.assertEqual((closed["code"], closed["by"]), (4001, "client"))

    def test_fragmented_client_message_is_joined(self):
        c = self.client()
        text = json.dumps({"type": "app_server_info", "request_id": "f"})
        c.ws.send_raw(frame(OP_TEXT, text[:5], fin=False) +
                      frame(OP_PING, "mid") +
                      frame(OP_CONT, text[5:], fin=True))
        self.assertEqual(c.wait("app_server_info_response")["request_id"],
                         "f")


class Record(AppCase):
    def test_frames_in_and_out_in_order(self):
        c = self.client()
        c.request("app_server_info")
        c.request("agent_list")
        frames = self.fake.frames()
        self.assertEqual([(f["dir"], f["kind"], f["type"]) for f in frames],
                         [("conn", "open", None),
                          ("in", "text", "app_server_info"),
                          ("out", "text", "app_server_info_response"),
                          ("in", "text", "agent_list"),
                          ("out", "text", "agent_list_response")])
        seqs = [f["seq"] for f in frames]
        self.assertEqual(seqs, sorted(seqs))
        conn = frames[0]["conn"]
        self.assertEqual(conn, "app-server-0")
        self.assertEqual(frames[1]["frame"]["request_id"], "r1")
        since = self.fake.frames(since=frames[2]["seq"])
        self.assertEqual(len(since), 2)
        self.assertEqual(len(self.fake.frames(type="agent_list")), 1)
        self.assertEqual(self.fake.frames(errors=True), [])
        self.fake.control("DELETE", "frames")
        self.assertEqual(self.fake.frames(), [])

    def test_times_are_when_the_bytes_came_and_went(self):
        """A frame in is stamped when its first byte came, not once it was
        whole and parsed; a frame out once its last byte was written (as
        the HTTP fakes' t_recv and t_sent), and recorded before the
        answer to it."""
        c = self.client()
        data = frame(OP_TEXT, json.dumps({"type": "app_server_info",
                                          "request_id": "slow"}).encode())
        # the answer goes out in pieces 50 ms apart: ~0.4 s of writing
        self.fake.frame_fault(type="app_server_info_response",
                              split_writes=40, write_delay_ms=50)
        t0 = time.monotonic()
        c.ws.send_raw(data[:5])
        time.sleep(0.3)
        c.ws.send_raw(data[5:])
        c.wait("app_server_info_response")
        got = self.fake.frames(dir="in", type="app_server_info")[0]
        self.assertGreaterEqual(got["time"], t0)
        self.assertLess(got["time"], t0 + 0.2)

        def written():
            out = self.fake.frames(dir="out")[0]
            return out if out["time"] - got["time"] >= 0.6 else None
        out = self.wait_for(written)
        self.assertIsNotNone(out, self.fake.frames(dir="out"))
        self.assertGreater(out["seq"], got["seq"])


class Agents(AppCase):
    def test_create_update_delete_and_errors(self):
        c = self.client()
        res = c.request("agent_create", body={"name": "one"})
        agent = res["agent"]
        self.assertTrue(agent["id"].startswith("agent-local-"))
        self.assertEqual(list(agent), [
            "id", "name", "description", "system", "tools", "tags", "model",
            "model_settings", "message_ids", "in_context_message_ids",
            "last_run_completion", "llm_config"])
        self.assertEqual(agent["tags"], ["git-memory-enabled"])
        res = c.request("agent_update", agent_id=agent["id"],
                        body={"name": "renamed"})
        self.assertEqual(res["agent"]["name"], "renamed")
        self.assertEqual(c.request("agent_retrieve", agent_id=agent["id"])
                         ["agent"]["name"], "renamed")
        missing = "agent-local-00000000-0000-4000-8000-000000000000"
        for cmd, extra, empty in (
                ("agent_update", {"body": {}}, {"agent": None}),
                ("agent_delete", {}, {"agent_id": missing}),
                ("agent_retrieve", {}, {"agent": None})):
            res = c.request(cmd, agent_id=missing, **extra)
            self.assertFalse(res["success"])
            self.assertEqual(res["error"], "Agent %s not found" % missing)
            for k, v in empty.items():
                self.assertEqual(res[k], v)
        res = c.request("agent_delete", agent_id=agent["id"])
        self.assertEqual((res["success"], res["agent_id"]),
                         (True, agent["id"]))
        self.assertEqual(c.request("agent_list")["agents"], [])

    def test_list_pages_most_recently_used_first(self):
        ids = [self.agent("a%02d" % i) for i in range(25)]
        c = self.client()
        first = c.request("agent_list")["agents"]
        self.assertEqual(len(first), 20)       # the default page
        self.assertEqual([a["id"] for a in first], ids[::-1][:20])
        second = c.request("agent_list", query={"after": first[-1]["id"],
                                                "limit": 20})["agents"]
        self.assertEqual([a["id"] for a in second], ids[::-1][20:])
        again = c.request("agent_list", query={"after": "agent-local-x",
                                               "limit": 3})["agents"]
        self.assertEqual([a["id"] for a in again], ids[::-1][:3])
        # a turn in an agent's default conversation makes it the most
        # recently used; one in another conversation does not
        c.start(ids[0])
        self.turn(c, ids[0])
        conv = c.request("conversation_create",
                         body={"agent_id": ids[1]})["conversation"]
        c.start(ids[1], conv["id"])
        self.turn(c, ids[1], conv=conv["id"])
        top = c.request("agent_list", query={"limit": 2})["agents"]
        self.assertEqual([a["id"] for a in top], [ids[0], ids[24]])

    def test_list_filters(self):
        a = self.agent("alpha", tags=["x", "y"])
        self.agent("beta", tags=["x"])
        c = self.client()
        got = c.request("agent_list", query={"tags": ["x", "y"]})["agents"]
        self.assertEqual([g["id"] for g in got], [a])
        got = c.request("agent_list", query={"query_text": "ALPH"})["agents"]
        self.assertEqual([g["id"] for g in got], [a])


class Conversations(AppCase):
    def test_create_and_list_never_default(self):
        a = self.agent()
        c = self.client()
        made = [c.request("conversation_create",
                          body={"agent_id": a, "summary": "room %d" % i})
                ["conversation"] for i in range(22)]
        self.assertEqual([m["id"] for m in made[:2]],
                         ["local-conv-1", "local-conv-2"])
        self.assertEqual(list(made[0]), [
            "id", "agent_id", "archived", "archived_at", "created_at",
            "updated_at", "last_message_at", "summary",
            "in_context_message_ids"])
        listed = c.request("conversation_list", query={"agent_id": a})
        convs = listed["conversations"]
        self.assertEqual(len(convs), 20)
        self.assertNotIn("default", [x["id"] for x in convs])
        found = c.request("conversation_list",
                          query={"summary_search": "room 21"})
        self.assertEqual([x["id"] for x in found["conversations"]],
                         ["local-conv-22"])
        hidden = c.request("conversation_create",
                           body={"agent_id": a, "hidden": True})
        hid = hidden["conversation"]["id"]
        ids = [x["id"] for x in c.request("conversation_list", query={
            "limit": 100})["conversations"]]
        self.assertNotIn(hid, ids)
        ids = [x["id"] for x in c.request("conversation_list", query={
            "limit": 100, "include_hidden": True})["conversations"]]
        self.assertIn(hid, ids)
        res = c.request("conversation_create", body={})
        self.assertEqual(res["error"], "Agent agent-local-default not found")
        got = c.request("conversation_retrieve",
                        conversation_id=made[0]["id"])
        self.assertEqual(got["conversation"], made[0])
        res = c.request("conversation_retrieve", conversation_id="default")
        self.assertEqual((res["conversation"], res["error"]),
                         (None, "Conversation default not found"))

    def test_messages_paging(self):
        a = self.agent()
        c = self.client()
        c.start(a)
        for i in range(3):
            self.turn(c, a, "q%d" % i, "cm-%d" % i)
        page = c.request("conversation_messages_list",
                         conversation_id="default",
                         query={"agent_id": a, "limit": 4})
        self.assertEqual([m["message_type"] for m in page["messages"]],
                         ["assistant_message", "user_message"] * 2)
        self.assertEqual(page["next_before"], page["messages"][-1]["id"])
        self.assertTrue(page["has_more"])
        self.assertEqual(page["messages"][1]["otid"], "cm-2")
        rest = c.request("conversation_messages_list",
                         conversation_id="default",
                         query={"agent_id": a, "limit": 4,
                                "before": page["next_before"]})
        self.assertEqual(len(rest["messages"]), 2)
        self.assertFalse(rest["has_more"])
        self.assertEqual(rest["messages"][1]["otid"], "cm-0")
        # only the conversation's first message carries the reminders
        first = rest["messages"][1]["content"]
        self.assertTrue(first[0]["text"].startswith("<system-reminder>"))
        self.assertEqual(first[-1], {"type": "text", "text": "q0"})
        self.assertEqual(page["messages"][1]["content"],
                         [{"type": "text", "text": "q2"}])
        asc = c.request("conversation_messages_list",
                        conversation_id="default",
                        query={"agent_id": a, "order": "asc", "limit": 2})
        self.assertEqual(asc["messages"][0]["otid"], "cm-0")
        self.assertEqual(asc["next_before"], asc["messages"][0]["id"])
        self.assertFalse(asc["has_more"])    # nothing before the oldest
        whole = c.request("conversation_messages_list",
                          conversation_id="default", query={"agent_id": a})
        self.assertEqual(len(whole["messages"]), 6)
        self.assertFalse(whole["has_more"])

    def test_messages_errors(self):
        a = self.agent()
        c = self.client()
        res = c.request("conversation_messages_list",
                        conversation_id="default")
        self.assertEqual(res["error"], "Agent agent-local-default not found")
        self.assertEqual((res["messages"], res["next_before"],
                          res["has_more"]), ([], None, False))
        res = c.request("conversation_messages_list",
                        conversation_id="local-conv-99",
                        query={"agent_id": a})
        self.assertEqual(res["error"], "Conversation local-conv-99 not "
                                       "found")


class RuntimeStart(AppCase):
    def test_default_conversation_and_replay_after_response(self):
        a = self.agent()
        c = self.client()
        c.send({"type": "runtime_start", "request_id": "s1", "agent_id": a,
                "conversation_id": "default", "mode": "strict"})
        frames = c.quiet()
        self.assertEqual([f["type"] for f in frames], [
            "runtime_start_response", "update_device_status",
            "update_loop_status", "update_queue", "update_subagent_state",
            "update_device_status"])
        res = frames[0]
        self.assertEqual(res["runtime"], {"agent_id": a,
                                          "conversation_id": "default"})
        self.assertEqual(res["created"], {"agent": False,
                                          "conversation": False})
        self.assertEqual(res["conversation"]["id"], "default")
        self.assertEqual(frames[1]["device_status"]
                         ["current_permission_mode"], "strict")
        self.assertEqual([f["event_seq"] for f in frames[1:]],
                         [1, 2, 3, 4, 5])
        self.assertEqual(frames[1]["idempotency_key"].split(":")[:2],
                         ["update_device_status", "1"])

    def test_wait_for_replay_and_created_conversation(self):
        a = self.agent()
        c = self.client()
        c.send({"type": "runtime_start", "request_id": "s1", "agent_id": a,
                "create_conversation": {"body": {"summary": "matrix"}},
                "wait_for_replay": True})
        frames = c.quiet()
        self.assertEqual([f["type"] for f in frames], [
            "update_device_status", "update_loop_status", "update_queue",
            "update_subagent_state", "runtime_start_response",
            "update_device_status"])
        res = frames[4]
        self.assertEqual(res["created"], {"agent": False,
                                          "conversation": True})
        self.assertEqual(res["conversation"]["summary"], "matrix")
        self.assertEqual(frames[0]["device_status"]
                         ["current_permission_mode"], "unrestricted")
        # an agent alone makes a new conversation too
        again = c.request("runtime_start", agent_id=a)
        self.assertEqual(again["conversation"]["id"], "local-conv-2")
        self.assertTrue(again["created"]["conversation"])

    def test_errors(self):
        a = self.agent()
        b = self.agent("other")
        c = self.client()
        conv = c.request("conversation_create",
                         body={"agent_id": b})["conversation"]["id"]
        missing = "agent-local-00000000-0000-4000-8000-000000000000"
        for fields, error in (
                ({"agent_id": missing, "conversation_id": "default"},
                 "Agent %s not found" % missing),
                ({"agent_id": a, "conversation_id": conv},
                 "Conversation %s belongs to %s, not %s" % (conv, b, a)),
                ({"agent_id": a, "conversation_id": "local-conv-404"},
                 "Conversation local-conv-404 not found"),
                ({}, "runtime_start requires an agent or conversation"),
                ({"agent_id": "", "conversation_id": "default"},
                 "runtime_start agent_id must be a non-empty string"),
                ({"agent_id": a, "conversation_id": "x",
                  "create_conversation": {}},
                 "runtime_start conversation_id cannot be combined with "
                 "create_conversation")):
            res = c.request("runtime_start", **fields)
            self.assertFalse(res["success"], fields)
            self.assertEqual(res["error"], error)
            self.assertIsNone(res["runtime"])
        c.send({"type": "runtime_start", "request_id": "bad",
                "agent_id": a, "mode": "yolo"})
        self.assertEqual(c.quiet(), [])

    def test_mode_stays_with_the_conversation(self):
        a = self.agent()
        c = self.client()
        c.start(a, mode="strict")
        c.quiet()
        c.start(a)
        frames = c.quiet()
        self.assertEqual(frames[0]["device_status"]
                         ["current_permission_mode"], "strict")


class Turns(AppCase):
    def test_echo_turn_frames(self):
        a = self.agent()
        c = self.client()
        c.start(a)
        c.quiet()
        rid = c.say(a, "hello there friend", "cm-1")
        frames = c.until("turn_finished")
        self.assertEqual(frames[0], {
            "type": "input_accepted", "request_id": rid,
            "runtime": {"agent_id": a, "conversation_id": "default"},
            "accepted": True, "disposition": "started"})
        loops = [f["loop_status"]["status"] for f in frames
                 if f["type"] == "update_loop_status"]
        self.assertEqual(loops, ["SENDING_API_REQUEST",
                                 "WAITING_FOR_API_RESPONSE",
                                 "PROCESSING_API_RESPONSE",
                                 "PROCESSING_API_RESPONSE",
                                 "WAITING_ON_INPUT"])
        chunks = deltas(frames, "assistant_message")
        self.assertGreater(len(chunks), 1)
        self.assertEqual(len({d["id"] for d in chunks}), 1)
        self.assertEqual(text_of(frames), "You said: hello there friend")
        self.assertEqual([d["seq_id"] for d in deltas(frames)],
                         list(range(1, len(deltas(frames)) + 1)))
        stop = deltas(frames, "stop_reason")[0]
        self.assertEqual(stop["stop_reason"], "end_turn")
        done = frames[-1]
        self.assertEqual(done["stop_reason"], "end_turn")
        self.assertTrue(done["turn_id"].startswith("batch-direct-"))
        self.assertEqual(done["run_id"], chunks[0]["run_id"])
        run = [f for f in frames if f["type"] == "update_loop_status"][3]
        self.assertEqual(run["loop_status"]["client_message_ids_by_run_id"],
                         {done["run_id"]: ["cm-1"]})
        seqs = [f["event_seq"] for f in frames[1:]]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))))
        for f in frames:
            envelope = {"runtime", "event_seq", "emitted_at",
                        "idempotency_key"}
            if f["type"] in RUNTIME_TYPES:
                self.assertLessEqual(envelope, set(f), f["type"])
                self.assertEqual(list(f)[-4:], ["runtime", "event_seq",
                                                "emitted_at",
                                                "idempotency_key"])
            else:
                self.assertFalse(envelope & set(f) - {"runtime"})
        hist = self.fake.history(a)
        self.assertEqual([m["message_type"] for m in hist],
                         ["user_message", "assistant_message"])
        self.assertEqual(hist[0]["otid"], "cm-1")
        self.assertEqual(hist[1]["id"], chunks[0]["id"])

    def test_inputs_while_a_turn_runs_are_queued_and_merged(self):
        a = self.agent(script={"delay_ms": 400})
        c = self.client()
        c.start(a)
        c.quiet()
        c.say(a, "one", "cm-1")
        self.assertEqual(c.wait("input_accepted")["disposition"], "started")
        c.say(a, "two", "cm-2")
        c.say(a, "three", "cm-3")
        for _ in range(2):
            self.assertEqual(c.wait("input_accepted")["disposition"],
                             "queued")
        first = c.until("turn_finished")
        second = c.until("turn_finished")
        users = deltas(second, "user_message")
        self.assertEqual([u["otid"] for u in users], ["cm-2", "cm-3"])
        self.assertEqual(text_of(second), "You said: two\nthree")
        self.assertTrue(second[-1]["turn_id"].startswith("batch-"))
        queues = [f for f in first + second if f["type"] == "update_queue"]
        self.assertEqual(queues[-1]["removed"], [
            {"client_message_id": "cm-2", "disposition": "dequeued"},
            {"client_message_id": "cm-3", "disposition": "dequeued"}])
        self.assertEqual(len(deltas(second, "stop_reason")), 1)
        self.assertEqual(self.fake.agents()[0]["turns"], 2)

    def test_resend_of_a_finished_id_runs_again(self):
        a = self.agent(script={"delay_ms": 300})
        c = self.client()
        c.start(a)
        c.say(a, "once", "cm-1")
        c.say(a, "once", "cm-1")            # while it runs: acknowledged
        accs = [c.wait("input_accepted"), c.wait("input_accepted")]
        self.assertEqual([x["disposition"] for x in accs],
                         ["started", "started"])
        c.until("turn_finished")
        later = [f["type"] for f in c.quiet(0.2)]
        self.assertEqual(later, ["update_device_status"])
        self.turn(c, a, "once", "cm-1")      # finished: a second turn
        hist = self.fake.history(a)
        self.assertEqual([m["otid"] for m in hist
                          if m["message_type"] == "user_message"],
                         ["cm-1", "cm-1"])

    def test_closing_mid_turn_cancels_it(self):
        a = self.agent(script={"chunks": ["part one, ", "part two"],
                               "chunk_delay_ms": 400})
        c = self.client()
        c.start(a)
        c.say(a, "question", "cm-1")
        c.wait("stream_delta", lambda f: f["delta"]["message_type"] ==
               "assistant_message")
        c.ws.abort()
        self.assertTrue(self.wait_for(lambda: not self.fake.runtimes()))
        time.sleep(0.5)
        hist = self.fake.history(a)
        self.assertEqual([m["message_type"] for m in hist],
                         ["user_message", "assistant_message"])
        self.assertEqual(hist[1]["content"][0]["text"], "part one, ")
        closed = self.fake.frames(type="turn_finished")
        self.assertEqual(closed, [])           # nobody was listening

    def test_another_subscriber_keeps_the_turn(self):
        a = self.agent(script={"chunks": ["part one, ", "part two"],
                               "chunk_delay_ms": 300})
        c1, c2 = self.client(), self.client()
        c1.start(a)
        c2.start(a)
        c1.say(a, "question", "cm-1")
        c2.wait("stream_delta", lambda f: f["delta"]["message_type"] ==
                "assistant_message")
        c1.ws.abort()
        frames = c2.until("turn_finished")
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")
        self.assertEqual(self.fake.history(a)[1]["content"][0]["text"],
                         "part one, part two")

    def test_scripted_error_stop_reason_and_reasoning(self):
        a = self.agent(script={"turns": [
            {"mode": "error", "error": "provider down"},
            {"mode": "text", "text": "partial", "stop_reason": "max_steps"},
            {"mode": "text", "text": "fine", "reasoning": "hmm"}]})
        c = self.client()
        c.start(a)
        frames = self.turn(c, a)
        self.assertEqual((frames[-1]["stop_reason"], frames[-1]["error"]),
                         ("llm_api_error", "provider down"))
        err = c.wait("stream_delta")["delta"]
        self.assertEqual((err["message_type"], err["is_terminal"]),
                         ("loop_error", True))
        frames = self.turn(c, a)
        self.assertEqual(frames[-1]["stop_reason"], "max_steps")
        self.assertEqual(frames[-1]["error"], "Unexpected stop reason: "
                                              "max_steps")
        c.wait("stream_delta")
        frames = self.turn(c, a)
        reasoning = deltas(frames, "reasoning_message")[0]
        answer = deltas(frames, "assistant_message")[0]
        self.assertEqual(reasoning["reasoning"], "hmm")
        self.assertTrue(answer["id"].endswith(":assistant:1"))
        types = [m["message_type"] for m in self.fake.history(a)]
        self.assertEqual(types[-2:], ["reasoning_message",
                                      "assistant_message"])

    def test_turn_errors(self):
        a = self.agent()
        c = self.client()
        frames = self.turn(c, a, conv="local-conv-99")
        self.assertEqual([f["type"] for f in frames], [
            "input_accepted", "update_loop_status", "update_device_status",
            "update_loop_status", "update_device_status", "turn_finished"])
        self.assertEqual(frames[-1]["error"],
                         "Conversation local-conv-99 not found")
        rt = {"agent_id": a, "conversation_id": "default"}
        for message, error in (
                ({"role": "user", "content": 5},
                 "content.flatMap is not a function"),
                ({"role": "user"}, "Cannot read properties of undefined "
                                   "(reading 'flatMap')")):
            c.send({"type": "input", "request_id": "e", "runtime": rt,
                    "payload": {"kind": "create_message",
                                "messages": [message]}})
            done = c.until("turn_finished")[-1]
            self.assertEqual((done["stop_reason"], done["error"]),
                             ("error", error))
            self.assertNotIn("run_id", done)
        self.assertEqual(self.fake.history(a), [])

    def test_runs_remember_their_client_message_ids(self):
        a = self.agent()
        c = self.client()
        first = self.turn(c, a, "one", "cm-1")
        second = self.turn(c, a, "two", "cm-2")
        self.assertEqual(self.fake.agents()[0]["tags"],
                         ["git-memory-enabled", "origin:letta-code"])
        loop = [f for f in second if f["type"] == "update_loop_status"][-1]
        self.assertEqual(loop["loop_status"]["client_message_ids_by_run_id"],
                         {first[-1]["run_id"]: ["cm-1"],
                          second[-1]["run_id"]: ["cm-2"]})
        empty = {"type": "input", "request_id": "e", "runtime": {
            "agent_id": a, "conversation_id": "default"},
            "payload": {"kind": "create_message", "messages": []}}
        c.send(empty)
        self.assertEqual(c.until("turn_finished")[-1]["stop_reason"],
                         "end_turn")

    def test_a_conversation_answers_to_any_agent(self):
        a, b = self.agent("a"), self.agent("b")
        c = self.client()
        conv = c.request("conversation_create",
                         body={"agent_id": b})["conversation"]["id"]
        self.turn(c, a, "hi", "cm-1", conv=conv)
        self.assertEqual([m["otid"] for m in self.fake.history(b, conv)
                          if m["message_type"] == "user_message"], ["cm-1"])

    def test_unknown_agent_turn_fails(self):
        missing = "agent-local-00000000-0000-4000-8000-000000000000"
        c = self.client()
        frames = self.turn(c, missing)
        self.assertEqual(frames[-1]["stop_reason"], "error")
        self.assertEqual(frames[-1]["error"], "Agent %s not found" % missing)


class Approvals(AppCase):
    TOOL = {"mode": "tool", "tool": {"name": "Bash", "args": {
        "command": "rm -rf /tmp/x"}, "destructive": True,
        "result": "removed", "id": "call_1"}}

    def ask(self, c, a, mode="strict"):
        c.start(a, mode=mode)
        c.quiet()
        c.say(a, "do it", "cm-1")
        return c.until("control_request")

    def test_strict_asks_and_deny_finishes(self):
        a = self.agent(script=self.TOOL)
        c = self.client()
        frames = self.ask(c, a)
        req = frames[-1]
        self.assertEqual(req["request_id"], "perm-call_1")
        self.assertEqual(req["request"], {
            "subtype": "can_use_tool", "tool_name": "Bash",
            "input": {"command": "rm -rf /tmp/x"}, "tool_call_id": "call_1",
            "permission_suggestions": [{
                "id": "save-default", "text": "Yes, and don't ask again "
                "for 'rm' commands in this project"}],
            "blocked_path": None})
        self.assertEqual(deltas(frames, "stop_reason")[0]["stop_reason"],
                         "requires_approval")
        cls = deltas(frames, "approval_classification_end")[0]
        self.assertEqual(cls["user_input_tool_call_ids"], ["call_1"])
        dev = c.wait("update_device_status")["device_status"]
        self.assertEqual(dev["pending_control_requests"][0]["request_id"],
                         "perm-call_1")
        c.send({"type": "input", "request_id": "ap",
                "runtime": {"agent_id": a, "conversation_id": "default"},
                "payload": {"kind": "approval_response",
                            "request_id": "perm-call_1",
                            "decision": {"behavior": "deny",
                                         "message": "not today"}}})
        rest = c.until("turn_finished")
        acc = [f for f in rest if f["type"] == "input_accepted"][0]
        self.assertEqual((acc["accepted"], acc.get("disposition")),
                         (True, None))
        ret = deltas(rest, "tool_return_message")[0]
        self.assertEqual((ret["status"], ret["tool_return"]),
                         ("error", "not today"))
        self.assertEqual(text_of(rest), "Denied: not today")
        self.assertEqual(rest[-1]["stop_reason"], "end_turn")
        types = [m["message_type"] for m in self.fake.history(a)]
        self.assertEqual(types, ["user_message", "approval_request_message",
                                 "tool_return_message", "assistant_message"])

    def test_allow_runs_the_tool(self):
        a = self.agent(script=self.TOOL)
        c = self.client()
        self.ask(c, a, mode="standard")     # destructive: standard asks
        c.send({"type": "input",
                "runtime": {"agent_id": a, "conversation_id": "default"},
                "payload": {"kind": "approval_response",
                            "request_id": "perm-call_1",
                            "decision": {"behavior": "allow"}}})
        rest = c.until("turn_finished")
        kinds = [d["message_type"] for d in deltas(rest)]
        self.assertIn("client_tool_start", kinds)
        self.assertEqual(text_of(rest), "Tool result: removed")
        runs = {d.get("run_id") for d in deltas(rest, "assistant_message")}
        self.assertEqual(runs, {rest[-1]["run_id"]})

    def test_unrestricted_never_asks(self):
        a = self.agent(script=self.TOOL)
        c = self.client()
        c.start(a, mode="unrestricted")
        frames = self.turn(c, a)
        self.assertEqual([f for f in frames
                          if f["type"] == "control_request"], [])
        cls = deltas(frames, "approval_classification_end")[0]
        self.assertEqual(cls["auto_allowed_tool_call_ids"], ["call_1"])
        self.assertEqual(text_of(frames), "Tool result: removed")

    def test_answer_to_nothing_pending(self):
        a = self.agent()
        c = self.client()
        c.send({"type": "input", "request_id": "ap",
                "runtime": {"agent_id": a, "conversation_id": "default"},
                "payload": {"kind": "approval_response",
                            "request_id": "perm-nope",
                            "decision": {"behavior": "allow"}}})
        acc = c.wait("input_accepted")
        self.assertEqual((acc["accepted"], acc["error"]),
                         (False, "Approval request is no longer pending"))

    def test_pending_approval_dropped_when_its_connection_closes(self):
        a = self.agent(script=self.TOOL)
        c = self.client()
        self.ask(c, a)
        c.ws.abort()
        self.assertTrue(self.wait_for(lambda: self.fake.runtimes() and
                                      self.fake.runtimes()[0]["turn"]
                                      is None))
        c2 = self.client()
        c2.start(a)
        frames = c2.quiet()
        self.assertEqual([f for f in frames
                          if f["type"] == "control_request"], [])
        loop = [f for f in frames if f["type"] == "update_loop_status"][0]
        self.assertEqual(loop["loop_status"]["status"], "WAITING_ON_INPUT")
        self.assertEqual(self.fake.history(a)[-1]["message_type"],
                         "approval_request_message")
        # the next input is queued behind the interruption; its turn
        # first denies the dropped call and says the stream was cut
        self.fake.set_script(a, {})
        c2.say(a, "after", "cm-2")
        self.assertEqual(c2.wait("input_accepted")["disposition"], "queued")
        c2.until("turn_finished")
        hist = self.fake.history(a)
        self.assertEqual([m["message_type"] for m in hist[2:]], [
            "tool_return_message", "user_message", "user_message",
            "assistant_message"])
        self.assertEqual((hist[2]["status"], hist[2]["tool_return"]),
                         ("error", "User interrupted the stream"))
        self.assertEqual(hist[3]["content"], [{
            "type": "text", "text": "<system-reminder>The user interrupted "
            "the active stream.</system-reminder>\n"}])
        self.assertEqual(hist[4]["otid"], "cm-2")

    def test_input_during_an_approval_joins_the_next_run(self):
        a = self.agent(script=self.TOOL)
        c = self.client()
        self.ask(c, a)
        c.say(a, "meanwhile", "cm-2")
        self.assertEqual(c.wait("input_accepted")["disposition"], "queued")
        c.send({"type": "input",
                "runtime": {"agent_id": a, "conversation_id": "default"},
                "payload": {"kind": "approval_response",
                            "request_id": "perm-call_1",
                            "decision": {"behavior": "allow"}}})
        rest = c.until("turn_finished")
        self.assertEqual([d["otid"] for d in deltas(rest, "user_message")],
                         ["cm-2"])
        self.assertEqual(text_of(rest), "You said: meanwhile")
        self.assertEqual(rest[-1]["turn_id"], "batch-1")
        loops = [f["loop_status"] for f in rest
                 if f["type"] == "update_loop_status"]
        self.assertEqual(loops[-1]["client_message_ids_by_run_id"]
                         [rest[-1]["run_id"]], ["cm-1", "cm-2"])
        types = [m["message_type"] for m in self.fake.history(a)]
        self.assertEqual(types, ["user_message", "approval_request_message",
                                 "tool_return_message", "user_message",
                                 "assistant_message"])

    def test_abort_during_an_approval(self):
        a = self.agent(script=self.TOOL)
        c = self.client()
        self.ask(c, a)
        res = c.request("abort_message",
                        runtime={"agent_id": a, "conversation_id": "default"})
        self.assertTrue(res["aborted"])
        c.until("turn_finished")
        ret = self.fake.history(a)[-1]
        self.assertEqual((ret["status"], ret["tool_return"]),
                         ("error", "Interrupted by user"))

    def test_sync_replays_a_pending_approval_to_a_new_subscriber(self):
        a = self.agent(script=self.TOOL)
        c1, c2 = self.client(), self.client()
        self.ask(c1, a)
        c2.send({"type": "sync", "request_id": "s",
                 "runtime": {"agent_id": a, "conversation_id": "default"}})
        got = c2.until("sync_response")
        self.assertEqual(got[0]["type"], "control_request")
        self.assertEqual(got[-1], {"type": "sync_response",
                                   "request_id": "s", "runtime": {
                                       "agent_id": a,
                                       "conversation_id": "default"},
                                   "success": True})
        c1.ws.abort()                        # c2 is subscribed: lives on
        time.sleep(0.2)
        c2.send({"type": "input",
                 "runtime": {"agent_id": a, "conversation_id": "default"},
                 "payload": {"kind": "approval_response",
                             "request_id": "perm-call_1",
                             "decision": {"behavior": "allow"}}})
        self.assertEqual(c2.until("turn_finished")[-1]["stop_reason"],
                         "end_turn")


class Abort(AppCase):
    def test_abort_cancels_and_parks_the_queue(self):
        a = self.agent(script={"delay_ms": 300})
        c = self.client()
        c.start(a)
        c.say(a, "first", "cm-1")
        c.wait("update_loop_status", lambda f: f["loop_status"]["status"]
               == "WAITING_FOR_API_RESPONSE")
        c.say(a, "second", "cm-2")
        c.wait("input_accepted", lambda f: f["disposition"] == "queued")
        c.quiet(0.1)
        c.send({"type": "abort_message", "request_id": "ab",
                "runtime": {"agent_id": a, "conversation_id": "default"}})
        frames = c.until("turn_finished")
        self.assertEqual([f["type"] for f in frames], [
            "update_loop_status", "update_device_status", "stream_delta",
            "abort_message_response", "turn_finished"])
        self.assertEqual(frames[0]["loop_status"]["status"],
                         "WAITING_ON_INPUT")
        self.assertEqual(frames[2]["delta"]["message"], "Interrupted")
        self.assertEqual((frames[3]["aborted"], frames[3]["success"]),
                         (True, True))
        self.assertEqual(frames[-1]["stop_reason"], "cancelled")
        self.assertNotIn("run_id", frames[-1])     # no model call yet
        after = c.quiet()
        self.assertEqual([f["type"] for f in after],
                         ["update_device_status", "update_queue"])
        self.assertTrue(after[1]["queue"][0]["paused"])
        rt = self.fake.runtimes()[0]
        self.assertTrue(rt["queue_paused"])
        c.say(a, "third", "cm-3")          # releases the parked input
        frames = c.until("turn_finished")
        self.assertEqual(frames[0]["disposition"], "queued")
        self.assertEqual(text_of(frames), "You said: second\nthird")
        users = [m for m in self.fake.history(a)
                 if m["message_type"] == "user_message"]
        self.assertIn("interrupted the active stream",
                      users[1]["content"][0]["text"])
        self.assertEqual([u["otid"] for u in users[2:]], ["cm-2", "cm-3"])
        res = c.request("abort_message",
                        runtime={"agent_id": a, "conversation_id": "default"})
        self.assertFalse(res["aborted"])

    def test_resume_queue(self):
        a = self.agent(script={"delay_ms": 300})
        c = self.client()
        rt = {"agent_id": a, "conversation_id": "default"}
        c.say(a, "first")
        c.say(a, "parked", "cm-2")
        c.wait("input_accepted", lambda f: f["disposition"] == "queued")
        c.request("abort_message", runtime=rt)
        c.until("turn_finished")
        res = c.request("resume_queue", runtime=rt)
        self.assertEqual((res["resumed"], res["success"]), (1, True))
        frames = c.until("turn_finished")
        self.assertEqual(text_of(frames), "You said: parked")
        self.assertEqual(c.request("resume_queue", runtime=rt)["resumed"], 0)

    def test_abort_with_another_run_id_does_nothing(self):
        a = self.agent(script={"delay_ms": 300})
        c = self.client()
        c.start(a)
        c.say(a, "q")
        res = c.request("abort_message", run_id="local-run-999",
                        runtime={"agent_id": a, "conversation_id": "default"})
        self.assertFalse(res["aborted"])
        self.assertEqual(c.until("turn_finished")[-1]["stop_reason"],
                         "end_turn")


class Faults(AppCase):
    def started(self, script=None):
        a = self.agent(script=script)
        c = self.client()
        c.start(a)
        c.quiet()
        return a, c

    def test_drop_mid_turn(self):
        a, c = self.started()
        self.fake.frame_fault(type="stream_delta", skip=1, drop=True)
        c.say(a, "hello")
        with self.assertRaises(ConnectionClosed) as cm:
            while True:
                c.ws.recv_json(5)
        self.assertIsNone(cm.exception.code)     # no close frame
        drop = self.fake.frames(dir="out", errors=True)[0]
        self.assertEqual(drop["type"], "stream_delta")

    def test_split_writes_byte_by_byte(self):
        a, c = self.started()
        self.fake.frame_fault(type="turn_finished", split_writes=1)
        frames = self.turn(c, a)
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")
        rec = self.fake.frames(type="turn_finished")[0]
        self.assertEqual(rec["fault"]["split_writes"], 1)

    def test_one_megabyte_message_whole_and_fragmented(self):
        a, c = self.started({"mode": "long", "length": 1 << 20})
        frames = self.turn(c, a)
        self.assertEqual(len(text_of(frames)), 1 << 20)
        self.fake.frame_fault(type="stream_delta",
                              message_type="assistant_message",
                              fragment=65536)
        frames = self.turn(c, a)
        self.assertEqual(len(text_of(frames)), 1 << 20)
        rec = self.fake.frames(type="stream_delta", dir="out")
        self.assertTrue(any(r["fault"] for r in rec))
        self.assertTrue(any(r["bytes"] > 1 << 20 for r in rec))

    def test_fragmented_frame_on_the_wire(self):
        c = self.client()
        self.fake.frame_fault(type="agent_list_response", fragment=7)
        c.send({"type": "agent_list", "request_id": "x"})
        ops, data = [], b""
        while True:
            fin, op, payload = c.ws._read_frame(time.monotonic() + 5)
            ops.append(op)
            data += payload
            if fin:
                break
        self.assertEqual(ops[0], OP_TEXT)
        self.assertTrue(len(ops) > 2 and set(ops[1:]) == {OP_CONT})
        self.assertEqual(json.loads(data)["type"], "agent_list_response")

    def test_invalid_utf8_text_frame(self):
        c = self.client()
        self.fake.frame_fault(type="agent_list_response", invalid_utf8=True)
        c.send({"type": "agent_list", "request_id": "x"})
        op, data = c.ws.recv_message(5)
        self.assertEqual(op, OP_TEXT)
        self.assertIn(b"\xff", data)
        with self.assertRaises(UnicodeDecodeError):
            data.decode("utf-8")

    def test_close_with_1011(self):
        a, c = self.started()
        self.fake.frame_fault(type="stream_delta", close=1011,
                              reason="internal error")
        c.say(a, "hello")
        with self.assertRaises(ConnectionClosed) as cm:
            while True:
                c.ws.recv_json(5)
        self.assertEqual((cm.exception.code, cm.exception.reason),
                         (1011, "internal error"))
        c.ws.abort()
        closed = self.wait_for(lambda: [f for f in self.fake.frames(
            dir="conn") if f["kind"] == "closed"])
        self.assertEqual((closed[0]["code"], closed[0]["by"]),
                         (1011, "server"))

    def test_act_close_drop_send(self):
        c = self.client()
        self.fake.act("send", text='{"type":"surprise"}', split_writes=3)
        self.assertEqual(c.ws.recv_json(5), {"type": "surprise"})
        self.fake.act("send", hex="7b2278223aff7d")
        op, data = c.ws.recv_message(5)
        self.assertEqual(data, b'{"x":\xff}')
        self.fake.act("close", code=4000, reason="bye")
        with self.assertRaises(ConnectionClosed) as cm:
            c.ws.recv_message(5)
        self.assertEqual(cm.exception.code, 4000)
        c2 = self.client()
        self.fake.act("drop")
        with self.assertRaises(ConnectionClosed):
            c2.ws.recv_message(5)

    def test_ping_the_client_must_answer(self):
        c = self.client()
        res = self.fake.act("ping", payload="are-you-there")
        self.assertEqual(len(res["conns"]), 1)
        with self.assertRaises(Timeout):
            c.ws.recv_message(0.3)          # reads the ping, pongs it
        self.assertEqual(c.ws.pings, 1)
        conn = self.wait_for(lambda: [x for x in self.fake.connections()
                                      if x["pongs"]])
        self.assertEqual(conn[0]["pongs"], ["are-you-there".encode().hex()])

    def test_heartbeat_terminates_a_silent_client(self):
        self.fake.configure(heartbeat_ms=100, pong_timeout_ms=300)
        c = self.client()
        time.sleep(0.7)                      # never reads: never pongs
        closed = self.wait_for(lambda: [f for f in self.fake.frames(
            dir="conn") if f["kind"] == "closed"])
        self.assertIn("3 pings unanswered", closed[0]["by"])
        pings = [f for f in self.fake.frames(dir="out")
                 if f["kind"] == "ping"]
        self.assertEqual(len(pings), 3)
        with self.assertRaises(ConnectionClosed):
            while True:
                c.ws.recv_message(2)
        c2 = self.client()                   # one that reads stays
        end = time.monotonic() + 0.7
        while time.monotonic() < end:
            try:
                c2.ws.recv_message(0.1)
            except Timeout:
                pass
        self.assertGreaterEqual(c2.ws.pings, 3)
        self.assertEqual([x["state"] for x in self.fake.connections()],
                         ["open"])

    def test_no_pong_for_the_clients_ping(self):
        self.fake.configure(answer_pings=False)
        c = self.client()
        c.ws.send_frame(OP_PING, b"hello?")
        with self.assertRaises(Timeout):
            c.ws._read_frame(time.monotonic() + 0.4)
        rec = self.fake.frames(dir="in", errors=True)
        self.assertEqual(rec[0]["kind"], "ping")

    def test_restart(self):
        a, c = self.started({"delay_ms": 300})
        c.say(a, "lost", "cm-1")
        c.wait("input_accepted")
        conv = c.request("conversation_create",
                         body={"agent_id": a})["conversation"]["id"]
        self.fake.restart(down_ms=300)
        with self.assertRaises(ConnectionClosed):
            while True:
                c.ws.recv_message(5)
        self.assertEqual(self.fake.runtimes(), [])
        with self.assertRaises((ConnectionClosed, HandshakeError, OSError)):
            self.client()
        time.sleep(0.35)
        c2 = self.client()
        self.assertEqual([x["id"] for x in c2.request("agent_list")
                          ["agents"]], [a])
        listed = c2.request("conversation_list")["conversations"]
        self.assertEqual([x["id"] for x in listed], [conv])
        hist = self.fake.history(a)
        self.assertEqual([m["message_type"] for m in hist],
                         ["user_message"])    # the answer never came
        self.assertEqual(self.fake.connections()[0]["id"], "app-server-1")
        frames = self.turn(c2, a, "again", "cm-1")
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")

    def test_slow_turn(self):
        a, c = self.started({"delay_ms": 500, "chunk_delay_ms": 100})
        t0 = time.monotonic()
        frames = self.turn(c, a, "slow down please")
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.65)
        self.assertEqual(text_of(frames), "You said: slow down please")

    def test_bad_rules_are_refused(self):
        from fakes import ControlError
        for rule in ({}, {"drop": True, "fragment": 3}, {"close": 1005},
                     {"fragment": 0}, {"nonsense": 1}):
            with self.assertRaises(ControlError):
                self.fake.frame_fault(**rule)
        with self.assertRaises(ControlError):
            self.fake.act("explode")


if __name__ == "__main__":
    unittest.main()
