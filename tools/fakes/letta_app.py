"""The fake Letta REST server (shared/reference/letta-api.md, 0.16.8).

Answers as FastAPI/uvicorn do: trailing-slash collection routes with 307
redirects from the other form, {"detail": ...} errors, 422 with a
*string* detail for validation, 404 {"detail": "Not Found"} for unknown
paths, 405 for a wrong method, optional password (Bearer or
X-BARE-PASSWORD) with the health route exempt, bare JSON arrays for
lists, and the cursor quirk: an unknown `after`/`before` id silently gives
the first page again.
"""

import collections
import datetime
import json
import re
import threading
import time
import uuid

from . import letta_conv
from . import letta_images
from . import letta_runs
from . import letta_script as script_mod
from .web import App, NoRoute, Response, Router

AGENT_ID_RE = re.compile(r"agent-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                         r"[89ab][0-9a-f]{3}-[0-9a-f]{12}")
USER_ID_RE = re.compile(r"user-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                        r"[0-9a-f]{4}-[0-9a-f]{12}")
EXEMPT = {"/v1/health", "/v1/health/", "/v1/ready", "/v1/ready/"}
A = r"/v1/agents/([^/]+)"


class HTTPError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or []


def validation_error(loc, msg, value, examples=False):
    """Letta's 422: the pydantic error list as a Python repr STRING.
    `examples`: True for the agent id example, or the list to show."""
    detail = "[{'type': 'value_error', 'loc': %r, 'msg': %r, 'input': %r}]" \
        % (loc, msg, value)
    body = {"trace_id": "", "detail": detail}
    if examples:
        body["examples"] = examples if isinstance(examples, list) else \
            ["agent-123e4567-e89b-42d3-8456-426614174000"]
    return HTTPError(422, body)


def iso_now(offset_s=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Agent:
    def __init__(self, agent_id, name, created_at, **kw):
        self.id = agent_id
        self.name = name
        self.created_at = created_at
        self.updated_at = created_at
        self.description = kw.get("description")
        self.tags = list(kw.get("tags", []))
        self.agent_type = kw.get("agent_type", "letta_v1_agent")
        self.metadata = kw.get("metadata")
        self.script = kw.get("script") or {"mode": "echo"}
        self.history = []             # the default conversation
        self.timeline = []            # every message of all its histories
        self.sends = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.pending_approval = None
        self.last_stop_reason = None
        self.pending_call = None      # tool_call_id awaiting approval
        self.cancels = 0
        self.resets = 0
        self.images = []              # pictures it got (letta_images)

    def json(self, with_tags, legacy):
        out = {"id": self.id, "name": self.name,
               "description": self.description,
               "agent_type": self.agent_type,
               "tags": list(self.tags) if with_tags else [],
               "model": "openai/gpt-4.1", "metadata": self.metadata,
               "hidden": None, "last_stop_reason": self.last_stop_reason,
               "created_at": self.created_at, "updated_at": self.updated_at,
               "system": "You are a helpful agent.", "blocks": [],
               "tools": [], "identities": [],
               "llm_config": {"model": "gpt-4.1", "model_endpoint_type":
                              "openai", "context_window": 128000}}
        if legacy:
            # Legacy mode loads every relationship: big objects, as real.
            out["memory"] = {"blocks": [{"label": "persona", "value":
                                         "I am %s. " % self.name * 20}]}
            out["tools"] = [{"name": "send_message", "source_code":
                             "def send_message(message):\n    return None\n"
                             * 10}]
        return out


def is_sdk_1_0(req):
    """letta-api.md §2: 1.0 mode if the Stainless header is present, the
    User-Agent is absent, or it is a 1.x letta client."""
    if req.header("X-Stainless-Package-Version"):
        return True
    ua = req.header("User-Agent")
    return ua is None or bool(re.match(r"(@letta-ai/)?letta-client/1\.", ua))


class LettaApp(App):
    name = "fake_letta"
    server_header = "uvicorn"

    def __init__(self, password=None, version="0.16.8"):
        self.lock = threading.Lock()
        self.base = {"password": password, "version": version}
        self.router = Router()
        for method, pattern, func in (
                ("GET", r"/v1/health/", self.health),
                ("GET", r"/v1/agents/", self.list_agents),
                ("GET", r"/v1/agents/count", self.count_agents),
                ("GET", A, self.get_agent),
                ("GET", A + r"/messages", self.list_messages),
                ("POST", A + r"/messages", self.send_message),
                ("POST", A + r"/messages/stream", self.stream_message),
                ("POST", A + r"/messages/cancel", self.cancel_message),
                ("PATCH", A + r"/reset-messages", self.reset_messages),
                ("GET", r"/v1/runs/([^/]+)", self.get_run),
                ("GET", r"/v1/runs/", self.list_runs)) + \
                letta_conv.routes(self):
            self.router.add(method, pattern, func)
        self.reset()

    def reset(self):
        with self.lock:
            self.agents = {}
            self.runs = {}
            self.runs_over = collections.OrderedDict()   # finished runs
            self.conversations = collections.OrderedDict()
            self.config = dict(self.base, redis=False, database="postgresql")
            self.clock = 0

    # -- plumbing --------------------------------------------------------
    def handle(self, req):
        try:
            self._check_auth(req)
            self._check_user_header(req)
            try:
                func, args = self.router.resolve(req.method, req.path)
            except NoRoute as nr:
                return self._no_route(req, nr)
            return func(req, *args)
        except HTTPError as err:
            return Response.json(err.status, err.body, err.headers)

    def _no_route(self, req, nr):
        if nr.path_known:
            return Response.json(405, {"detail": "Method Not Allowed"},
                                 [("Allow", ", ".join(nr.allowed))])
        other = req.path[:-1] if req.path.endswith("/") else req.path + "/"
        try:
            self.router.resolve(req.method, other)
        except NoRoute:
            return Response.json(404, {"detail": "Not Found"})
        # FastAPI's redirect_slashes: 307 to the other spelling.
        host = req.header("Host", "127.0.0.1")
        query = "&".join("%s=%s" % (k, v) for k, vs in req.query.items()
                         for v in vs)
        location = "http://%s%s%s" % (host, other, "?" + query if query
                                      else "")
        return Response(307, b"", [("Location", location)])

    def _check_auth(self, req):
        pw = self.config["password"]
        if not pw or req.path in EXEMPT:
            return
        if req.header("Authorization", "") == "Bearer " + pw or \
                req.header("X-BARE-PASSWORD", "") == "password " + pw:
            return
        raise HTTPError(401, {"detail": "Unauthorized"})

    def _check_user_header(self, req):
        uid = req.header("user_id")
        if uid is not None and not USER_ID_RE.fullmatch(uid):
            raise HTTPError(400, {"detail": "INVALID_ARGUMENT: Invalid user "
                                  "ID format: %s" % uid})

    def fault_response(self, rule):
        headers = list((rule.get("headers") or {}).items())
        body = rule.get("body", {"detail": "Injected fault"})
        if "retry_after_ms" in rule:
            headers.append(("Retry-After",
                            str(-(-int(rule["retry_after_ms"]) // 1000))))
        return Response.json(rule["status"], body, headers)

    def _agent(self, agent_id):
        """The agent (caller holds self.lock), or Letta's 422/404."""
        if not AGENT_ID_RE.fullmatch(agent_id):
            raise validation_error(("path", "agent_id"), "String should match "
                                   "pattern '%s'" % AGENT_ID_RE.pattern,
                                   agent_id, examples=True)
        agent = self.agents.get(agent_id)
        if agent is None:
            raise HTTPError(404, {"detail": "Agent with ID %s not found"
                                  % agent_id})
        return agent

    # -- health and agents -----------------------------------------------
    def health(self, req):
        return Response.json(200, {"version": self.config["version"],
                                   "status": "ok"})

    def _int_arg(self, req, name, default, minimum=None):
        raw = req.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise validation_error(("query", name), "Input should be a valid "
                                   "integer", raw)
        if minimum is not None and value < minimum:
            raise validation_error(("query", name), "Input should be greater "
                                   "than or equal to %d" % minimum, raw)
        return value

    def _filtered(self, req):
        order = req.arg("order", "desc")
        if order not in ("asc", "desc"):
            raise validation_error(("query", "order"), "Input should be "
                                   "'asc' or 'desc'", order)
        order_by = req.arg("order_by", "created_at")
        if order_by not in ("created_at", "updated_at",
                            "last_run_completion"):
            raise validation_error(("query", "order_by"), "bad order_by",
                                   order_by)
        key = "updated_at" if order_by == "updated_at" else "created_at"
        agents = sorted(self.agents.values(),
                        key=lambda a: (getattr(a, key), a.id),
                        reverse=(order == "desc"))
        name, text = req.arg("name"), req.arg("query_text")
        tags = req.query.get("tags", [])
        match_all = req.arg("match_all_tags", "false") == "true"
        return [a for a in agents
                if (name is None or a.name == name)
                and (text is None or text.lower() in a.name.lower())
                and (not tags or (all if match_all else any)(
                    t in a.tags for t in tags))]

    def _wants_tags(self, req):
        return (not is_sdk_1_0(req)
                or "agent.tags" in req.query.get("include", [])
                or "tags" in req.query.get("include_relationships", []))

    def list_agents(self, req):
        limit = self._int_arg(req, "limit", 50, 1)
        with self.lock:
            agents = self._filtered(req)
            ids = [a.id for a in agents]
            after, before = req.arg("after"), req.arg("before")
            # Unknown cursor ids are dropped silently: page 1 again.
            if after in ids:
                agents = agents[ids.index(after) + 1:][:limit]
            elif before in ids:
                agents = agents[:ids.index(before)][-limit:]
            else:
                agents = agents[:limit]
            legacy = not is_sdk_1_0(req) and \
                "include_relationships" not in req.query
            body = [a.json(self._wants_tags(req), legacy) for a in agents]
        return Response.json(200, body)

    def count_agents(self, req):
        with self.lock:
            return Response.json(200, len(self._filtered(req)))

    def get_agent(self, req, agent_id):
        with self.lock:
            agent = self._agent(agent_id)
            legacy = not is_sdk_1_0(req) and \
                "include_relationships" not in req.query
            return Response.json(200, agent.json(self._wants_tags(req),
                                                 legacy))

    def list_messages(self, req, agent_id):
        limit = self._int_arg(req, "limit", 100, 1)
        order = req.arg("order", "desc")
        if order not in ("asc", "desc"):
            raise validation_error(("query", "order"), "Input should be "
                                   "'asc' or 'desc'", order)
        with self.lock:
            agent = self._agent(agent_id)
            letta_runs.settle(self, agent)
            msgs = list(letta_conv.agent_messages(
                self, agent, req.arg("conversation_id")))
        if order == "desc":
            msgs.reverse()
        after = req.arg("after")
        keys = [m["id"] for m in msgs]
        if after in keys:
            # Reasoning and reply of one step share an id: skip them all.
            msgs = msgs[len(keys) - keys[::-1].index(after):]
        return Response.json(200, msgs[:limit])

    # -- sending -----------------------------------------------------------------
    def _json_body(self, req):
        try:
            body = json.loads(req.body)
        except ValueError:
            raise validation_error(("body",), "JSON decode error",
                                   req.body.decode("utf-8", "replace")[:80])
        if not isinstance(body, dict):
            raise validation_error(("body",), "Input should be a valid "
                                   "dictionary", body)
        return body

    def _body_messages(self, body):
        """The send's messages (`input` is one user message)."""
        has_msgs, has_input = "messages" in body, "input" in body
        if has_msgs == has_input:
            raise HTTPError(422, {"detail": "Exactly one of 'messages' or "
                                  "'input' must be provided"})
        return body["messages"] if has_msgs else \
            [{"role": "user", "content": body["input"]}]

    def _parse_send(self, req, forced_stream):
        body = self._json_body(req)
        msgs = self._body_messages(body)
        self._validate_messages(msgs)
        streaming = forced_stream or bool(body.get("streaming"))
        if not streaming and (body.get("stream_tokens") or
                              body.get("include_pings") is False or
                              body.get("background")):
            raise HTTPError(422, {"detail": "stream_tokens, include_pings "
                                  "and background need streaming=true"})
        if body.get("streaming") and not forced_stream and \
                not is_sdk_1_0(req):
            raise HTTPError(422, {"detail": "streaming=true is only "
                                  "supported by the 1.0 SDK; use "
                                  "/messages/stream"})
        return body, msgs, streaming

    def _validate_messages(self, msgs):
        if not isinstance(msgs, list) or not msgs:
            raise validation_error(("body", "messages"), "Input should be a "
                                   "non-empty list", msgs)
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                raise validation_error(("body", "messages", i), "Input should"
                                       " be a valid dictionary", m)
            if m.get("type") in ("approval", "tool_return"):
                continue
            if m.get("role") not in ("user", "system", "assistant"):
                raise validation_error(("body", "messages", i, "role"),
                                       "Input should be 'user', 'system' or "
                                       "'assistant'", m.get("role"))
            content = m.get("content")
            if content is None:
                raise validation_error(("body", "messages", i, "content"),
                                       "Field required", None)
            if content in ("", []):
                raise HTTPError(400, {"detail": "Message content is empty or "
                                      "invalid"})
            letta_images.check_content(i, content)

    def _begin_turn(self, agent_id, msgs, conv=None, streaming=False):
        """Record the user's input; return the script for this turn.
        `conv`: the conversation sent to (None: the default history)."""
        with self.lock:
            agent = self._agent(agent_id)
            lane = conv or agent
            letta_runs.settle(self, agent)
            self._check_busy(agent, conv, streaming)
            try:
                answer = letta_runs.approval_answer(lane, msgs)
            except letta_runs.ApprovalError as err:
                raise HTTPError(err.status, err.body)
            if lane.pending_approval and answer is None:
                raise HTTPError(409, {"detail": {
                    "code": "PENDING_APPROVAL",
                    "message": "CONFLICT: Cannot send a new message: The "
                               "agent is waiting for approval on a tool call.",
                    "pending_request_id": lane.pending_approval}})
            turn = script_mod.pick_turn(agent.script, agent.sends)
            if answer is not None:
                turn = letta_runs.answer_turn(turn, answer, lane.pending_call)
                letta_runs.record(agent, lane,
                                  [self._approval_response(msgs[0])])
            lane.pending_approval = lane.pending_call = None
            self._count_send(agent, conv, streaming)
            inputs = [self._user_message(m) for m in msgs
                      if m.get("type") not in ("approval", "tool_return")]
            agent.images += letta_images.pictures(
                msgs, conv.id if conv is not None else "default")
            if not turn.get("input_after_ms"):
                letta_runs.record(agent, lane, inputs)
                inputs = []
            return turn, inputs

    def _count_send(self, agent, conv, streaming):
        for lane in (agent, conv) if conv is not None else (agent,):
            lane.sends += 1
            lane.in_flight += 1
            lane.max_in_flight = max(lane.max_in_flight, lane.in_flight)
        if conv is not None and streaming:
            conv.streams += 1

    def _check_busy(self, agent, conv, streaming):
        """With "busy_409" in the agent's script, a send to the default
        history while another runs there is refused as Letta does for a
        busy conversation (with Redis): 409 and a string detail. Without
        it, concurrent sends run (undefined on a real server;
        max_in_flight shows them). A conversation's lock: letta_conv."""
        if conv is not None:
            letta_conv.check_busy(self, conv, streaming)
            return
        others = sum(c.in_flight for c in self.conversations.values()
                     if c.agent_id == agent.id)
        if agent.script.get("busy_409") and agent.in_flight > others:
            raise HTTPError(409, {
                "detail": "CONFLICT: Cannot send a new message: Another "
                          "request is currently being processed for this "
                          "agent.", "run_id": script_mod.new_id("run")})

    def _approval_response(self, item):
        return {"id": script_mod.new_id("message"),
                "date": script_mod.now_iso(), "name": None,
                "message_type": "approval_response_message",
                "otid": item.get("otid") or str(uuid.uuid4()),
                "sender_id": None, "step_id": None, "is_err": None,
                "seq_id": None, "run_id": None,
                "approvals": item.get("approvals")}

    def _user_message(self, m):
        content = m.get("content")
        return {"id": script_mod.new_id("message"),
                "date": script_mod.now_iso(), "name": m.get("name"),
                "message_type": "%s_message" % m.get("role", "user"),
                "otid": m.get("otid") or str(uuid.uuid4()),
                "sender_id": m.get("sender_id"), "step_id": None,
                "is_err": None, "seq_id": None, "run_id": None,
                "content": content}

    def _end_turn(self, agent_id, conv, streaming):
        """A turn that failed before its run started."""
        with self.lock:
            agent = self.agents.get(agent_id)
            if agent is None:   # deleted while it was thinking
                return
            agent.in_flight -= 1
            agent.last_stop_reason = "error"
            if conv is not None:
                conv.in_flight -= 1
                conv.streams -= 1 if streaming else 0

    def _run_turn(self, req, agent_id, forced_stream):
        body, msgs, streaming = self._parse_send(req, forced_stream)
        return self._start_turn(agent_id, body, msgs, streaming)

    def _start_turn(self, agent_id, body, msgs, streaming, conv=None):
        """Begins a turn and its run -> (body, turn, run, streaming)."""
        turn, inputs = self._begin_turn(agent_id, msgs, conv, streaming)
        try:
            if turn.get("mode") == "error":
                if turn.get("delay_ms"):
                    time.sleep(turn["delay_ms"] / 1000.0)
                raise HTTPError(turn.get("status", 500), turn.get(
                    "body", {"detail": "An unknown error occurred"}))
            text = script_mod.user_text(
                [m for m in msgs if m.get("role") == "user"])
            messages, stop, _ = script_mod.build_reply(turn, text)
        except BaseException:
            self._end_turn(agent_id, conv, streaming)
            raise
        with self.lock:
            agent = self.agents.get(agent_id)
            if agent is None:
                raise HTTPError(404, {"detail": "Agent with ID %s not found"
                                      % agent_id})
            run = letta_runs.start(self, agent, turn, messages, stop, body,
                                   streaming, inputs, conv)
        return body, turn, run, streaming

    def answer(self, body, turn, run, streaming):
        """The SSE stream of a run, or its LettaResponse once it is over."""
        if streaming:
            return self._sse(body, turn, run)
        messages, stop = letta_runs.wait_run(self, run)
        return Response.json(200, {
            "messages": messages,
            "stop_reason": {"message_type": "stop_reason",
                            "stop_reason": stop},
            "usage": script_mod.usage(), "logprobs": None, "turns": None})

    def send_message(self, req, agent_id):
        return self.answer(*self._run_turn(req, agent_id, False))

    def stream_message(self, req, agent_id):
        body, turn, run, _ = self._run_turn(req, agent_id, True)
        return self._sse(body, turn, run)

    def _sse(self, body, turn, run):
        pieces = letta_runs.RunStream(self, run, turn, body)
        return Response(200, headers=[
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache")], stream=pieces)

    # -- cancel and reset (letta_runs.py) -------------------------------------
    def cancel_message(self, req, agent_id):
        if not AGENT_ID_RE.fullmatch(agent_id):
            self._agent(agent_id)            # the 422 for a malformed id
        try:
            body = letta_runs.check_cancel_body(req.body)
        except ValueError as exc:
            raise validation_error(("body",), str(exc),
                                   req.body.decode("utf-8", "replace")[:80])
        status, answer = letta_runs.cancel(self, agent_id, body)
        return Response.json(status, answer)

    def reset_messages(self, req, agent_id):
        try:
            body = letta_runs.check_reset_body(req.body)
        except ValueError as exc:
            raise validation_error(("body",), str(exc),
                                   req.body.decode("utf-8", "replace")[:80])
        with self.lock:
            agent = self._agent(agent_id)
            letta_runs.reset(self, agent, body)
            legacy = not is_sdk_1_0(req) and \
                "include_relationships" not in req.query
            return Response.json(200, agent.json(self._wants_tags(req),
                                                 legacy))

    def get_run(self, req, run_id):
        with self.lock:
            status, body = letta_runs.get_run(self, run_id)
        return Response.json(status, body)

    def list_runs(self, req):
        """GET /v1/runs/: agent_id, active, limit and order as the real
        server reads them (letta-api.md section 7); a bad value is 422."""
        limit = self._int_arg(req, "limit", 100, 1)
        if limit > 1000:
            raise validation_error(("query", "limit"), "Input should be "
                                   "less than or equal to 1000", limit)
        order = req.arg("order", "desc")
        if order not in ("asc", "desc"):
            raise validation_error(("query", "order"), "Input should be "
                                   "'asc' or 'desc'", order)
        active = req.arg("active", "false")
        if active not in ("true", "false"):
            raise validation_error(("query", "active"), "Input should be a "
                                   "valid boolean", active)
        with self.lock:
            runs = letta_runs.list_runs(self, req.arg("agent_id"),
                                        active == "true")
        if order == "desc":
            runs.reverse()
        return Response.json(200, runs[:limit])

    # -- control -------------------------------------------------------------------
    def control(self, req, sub):
        from . import letta_control
        return letta_control.dispatch(self, req, sub)
