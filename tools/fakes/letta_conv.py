"""Conversations of the fake Letta: several histories on one agent
(letta-api.md section 8), as letta 0.16.8 serves them
(letta/server/rest_api/routers/v1/conversations.py,
letta/services/conversation_manager.py, letta/services/streaming_service.py).

  POST /v1/conversations/?agent_id=A   body {"summary"?, "model"?, ...}
       (optional) -> 200 Conversation; no agent_id: 422; unknown agent:
       404 {"detail": "Agent not found"}; a "model" without "/": 400.
  GET  /v1/conversations/[?agent_id=&limit=50&after=&summary_search=
       &order=desc&order_by=created_at] -> bare array of Conversations
       (all agents' when agent_id is absent). summary_search is the
       server's `ConversationModel.summary.contains(s)`: SQL LIKE
       '%s%', so on PostgreSQL case-sensitive, with `%` and `_` as
       wildcards and `\\` escaping them; config "database": "sqlite"
       makes it as SQLite does (ASCII case-insensitive, `\\` literal).
       A summary of null never matches; an empty search matches all.
       An `after` id that does not exist is 404 (created_at and
       last_message_at orders; ignored for last_run_completion).
  GET  /v1/conversations/{id} -> the Conversation, with its
       in_context_message_ids; a malformed id: 422; unknown: 404.
       PATCH (body {"summary"?, "model"?, "last_message_at"?}) -> the
       Conversation; DELETE -> 200 null, then 404 everywhere.
  GET  /v1/conversations/{id}/messages[?limit=100&order=desc&after=
       &before=&include_return_message_types=] -> bare array of that
       history. A new conversation starts with a system_message. As on
       the real server an unknown (well-formed) id answers [] (no
       existence check) and the cursors are positions: `after` = later
       than that message, `before` = earlier, whatever the order.
  POST /v1/conversations/{id}/messages  the /v1/agents/{id}/messages
       body; "streaming" defaults to TRUE (SSE as /messages/stream),
       false -> the JSON LettaResponse. "messages": [] is 422 "Messages
       must not be empty". Sets last_message_at. The agent's script
       plays as for the agent routes (one `turns` sequence per agent).
  POST /v1/conversations/{id}/cancel -> 200 {run_id: "cancelled"} for
       the conversation's active runs, 409 {"detail": "CONFLICT: No
       active runs to cancel for conversation <id>"} when none.
Agent-direct mode: the path id `default` with agent_id (body for a send,
query otherwise), or an agent id, means the agent's default history.

Runs: a streamed send's Run carries conversation_id; a plain one
(streaming false) does not, exactly as the real router creates it, so the
conversation's cancel does not find it (the agent's cancel does). Both
have metadata.run_type "send_conversation_message".

Busy: with config "redis": true (a server with Redis), a streamed send
to a conversation whose streamed send is still running is 409
{"detail": "CONFLICT: Cannot send a new message: Another request
(run_id=R) is currently being processed for this conversation. Please
wait for it to complete.", "run_id": R}. Plain sends neither take nor
check that lock, as on the real server. Default "redis": false: sends
run side by side. Sends to different conversations always do.
"""

import re
import time
import uuid

from . import letta_app as base
from . import letta_runs
from . import letta_script as script_mod
from .web import Response

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
CONV_ID_RE = re.compile(r"conv-" + UUID4)
CONV_OR_DEFAULT_RE = re.compile(r"default|conv-%s|agent-%s" % (UUID4, UUID4))
CONV_EXAMPLE = ["conv-123e4567-e89b-42d3-8456-426614174000"]
ACTOR = "user-00000000-0000-4000-8000-000000000000"
ORDER_BY = ("created_at", "last_run_completion", "last_message_at")
C = r"/v1/conversations/([^/]+)"


class Conversation:
    """One history of an agent, with its own approval and counters."""

    def __init__(self, conv_id, agent_id, summary, created_at, model=None):
        self.id = conv_id
        self.agent_id = agent_id
        self.summary = summary
        self.model = model
        self.created_at = self.updated_at = created_at
        self.last_message_at = None
        self.history = []
        self.pending_approval = self.pending_call = None
        self.sends = self.in_flight = self.max_in_flight = 0
        self.streams = 0          # streamed sends in flight: Redis's lock
        self.cancels = 0

    def json(self, with_ids=False):
        ids = list(dict.fromkeys(m["id"] for m in self.history)) \
            if with_ids else []
        return {"created_by_id": ACTOR, "last_updated_by_id": ACTOR,
                "created_at": self.created_at,
                "updated_at": self.updated_at, "id": self.id,
                "agent_id": self.agent_id, "summary": self.summary,
                "in_context_message_ids": ids, "isolated_block_ids": [],
                "model": self.model, "model_settings": None,
                "last_message_at": self.last_message_at}


def routes(app):
    return (
        ("POST", r"/v1/conversations/", lambda req: create(app, req)),
        ("GET", r"/v1/conversations/", lambda req: list_all(app, req)),
        ("GET", C, lambda req, cid: retrieve(app, req, cid)),
        ("PATCH", C, lambda req, cid: update(app, req, cid)),
        ("DELETE", C, lambda req, cid: delete(app, req, cid)),
        ("GET", C + r"/messages", lambda req, cid: messages(app, req, cid)),
        ("POST", C + r"/messages", lambda req, cid: send(app, req, cid)),
        ("POST", C + r"/cancel", lambda req, cid: cancel(app, req, cid)))


# -- helpers -----------------------------------------------------------

def _check_id(cid, pattern=CONV_ID_RE):
    if not pattern.fullmatch(cid):
        raise base.validation_error(
            ("path", "conversation_id"), "String should match pattern "
            "'^(%s)$'" % pattern.pattern, cid, examples=CONV_EXAMPLE)


def _find(app, cid):
    """The conversation (caller holds app.lock) or the server's 404."""
    conv = app.conversations.get(cid)
    if conv is None:
        raise base.HTTPError(404, {"detail": "Conversation not found with "
                                   "id='['%s']', is_deleted=False" % cid})
    return conv


def _direct_agent(cid, agent_id):
    """Agent-direct mode: the agent whose default history is meant."""
    if cid == "default" and agent_id:
        return agent_id
    return cid if cid.startswith("agent-") else None


def _order(req):
    order = req.arg("order", "desc")
    if order not in ("asc", "desc"):
        raise base.validation_error(("query", "order"), "Input should be "
                                    "'asc' or 'desc'", order)
    return order


def like_contains(text, needle, database="postgresql"):
    """SQLAlchemy's `column.contains(needle)`: LIKE '%' || needle || '%'
    without autoescape. PostgreSQL: case-sensitive, `\\` escapes the next
    character. SQLite: ASCII letters match either case, no escape."""
    out, i = [], 0
    while i < len(needle):
        ch = needle[i]
        if ch == "\\" and database != "sqlite" and i + 1 < len(needle):
            out.append(re.escape(needle[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_"
                   else re.escape(ch))
        i += 1
    flags = re.S | (re.I | re.A if database == "sqlite" else 0)
    return re.search("".join(out), text, flags) is not None


def system_message():
    return {"id": script_mod.new_id("message"), "date": script_mod.now_iso(),
            "name": None, "message_type": "system_message",
            "otid": str(uuid.uuid4()), "sender_id": None, "step_id": None,
            "is_err": None, "seq_id": None, "run_id": None,
            "content": "You are a helpful agent."}


def add(app, agent, summary=None, model=None, conv_id=None,
        created_at=None):
    """A new conversation of `agent` (caller holds app.lock): its history
    starts with the compiled system message, as the server saves it."""
    app.clock += 1
    conv = Conversation(conv_id or "conv-%s" % uuid.uuid4(), agent.id,
                        summary, created_at or base.iso_now(app.clock * 1e-3),
                        model)
    if conv.id in app.conversations:
        raise ValueError("conversation exists: %s" % conv.id)
    app.conversations[conv.id] = conv
    letta_runs.record(agent, conv, [system_message()])
    return conv


def agent_messages(app, agent, conversation_id):
    """GET /v1/agents/{id}/messages?conversation_id=: absent -> all the
    agent's messages (its conversations' too, as the real server's
    message_manager.list_messages), "default" -> the default history,
    else that conversation's."""
    if conversation_id is None:
        return agent.timeline
    if conversation_id == "default":
        return agent.history
    conv = app.conversations.get(conversation_id)
    return conv.history if conv and conv.agent_id == agent.id else []


# -- create, list, retrieve ------------------------------------------------

def _create_body(app, req):
    if not req.body.strip():
        return {}
    body = app._json_body(req)
    if body.get("summary") is not None and \
            not isinstance(body["summary"], str):
        raise base.validation_error(("body", "summary"), "Input should be "
                                    "a valid string", body["summary"])
    model = body.get("model")
    if model and ("/" not in model or not all(model.split("/", 1))):
        raise base.HTTPError(400, {"detail": "INVALID_ARGUMENT: The model "
                                   "handle should be in the format "
                                   "provider/model-name"})
    return body


def create(app, req):
    agent_id = req.arg("agent_id")
    if agent_id is None:
        raise base.validation_error(("query", "agent_id"), "Field required",
                                    None)
    body = _create_body(app, req)
    with app.lock:
        agent = app.agents.get(agent_id)
        if agent is None:
            raise base.HTTPError(404, {"detail": "Agent not found"})
        conv = add(app, agent, body.get("summary"), body.get("model"))
        return Response.json(200, conv.json())


def _last_run_completion(app, conv):
    ends = [r.wall0 + (r.cancelled_at if r.cancelled.is_set() else r.end_t)
            - r.t0 for r in app.runs_over.values()
            if r.conversation_id == conv.id]
    return max(ends) if ends else None


def _sorted(app, convs, order_by, asc):
    """In the server's order: the field (nulls last), then the id."""
    if order_by == "created_at":
        return sorted(convs, key=lambda c: (c.created_at, c.id),
                      reverse=not asc)
    value = (lambda c: c.last_message_at) if order_by == "last_message_at" \
        else (lambda c: _last_run_completion(app, c))
    keyed = [(value(c), c) for c in convs]
    known = sorted([k for k in keyed if k[0] is not None],
                   key=lambda k: (k[0], k[1].id), reverse=not asc)
    nulls = sorted([k for k in keyed if k[0] is None],
                   key=lambda k: k[1].id, reverse=not asc)
    return [c for _, c in known + nulls]


def list_all(app, req):
    limit = app._int_arg(req, "limit", 50)
    asc = _order(req) == "asc"
    order_by = req.arg("order_by", "created_at")
    if order_by not in ORDER_BY:
        raise base.validation_error(("query", "order_by"), "Input should be"
                                    " 'created_at', 'last_run_completion' "
                                    "or 'last_message_at'", order_by)
    agent_id, after = req.arg("agent_id"), req.arg("after")
    search = req.arg("summary_search")
    db = app.config.get("database", "postgresql")
    with app.lock:
        letta_runs.settle_all(app)
        ordered = _sorted(app, list(app.conversations.values()), order_by,
                          asc)
        if after:
            if after in app.conversations:
                ordered = ordered[ordered.index(app.conversations[after])
                                  + 1:]
            elif order_by != "last_run_completion":
                _find(app, after)
        out = [c for c in ordered
               if (agent_id is None or c.agent_id == agent_id)
               and (not search or (c.summary is not None and
                                   like_contains(c.summary, search, db)))]
        if limit < 0:         # LIMIT -1: the database refuses it
            raise base.HTTPError(500, {"detail": "An unknown error "
                                       "occurred"})
        return Response.json(200, [c.json() for c in out[:limit]])


def retrieve(app, req, cid):
    _check_id(cid)
    with app.lock:
        return Response.json(200, _find(app, cid).json(with_ids=True))


def update(app, req, cid):
    """PATCH: UpdateConversation (summary, model, last_message_at; a
    body is required); the fields sent replace the stored ones."""
    _check_id(cid)
    if not req.body.strip():
        raise base.validation_error(("body",), "Field required", None)
    body = _create_body(app, req)
    with app.lock:
        conv = _find(app, cid)
        for key in ("summary", "model", "last_message_at"):
            if key in body:
                setattr(conv, key, body[key])
        conv.updated_at = base.iso_now()
        return Response.json(200, conv.json(with_ids=True))


def delete(app, req, cid):
    """DELETE: a soft delete; the conversation is gone from the list and
    its routes (404), its messages stay in the agent's timeline."""
    _check_id(cid)
    with app.lock:
        _find(app, cid)
        del app.conversations[cid]
        return Response.json(200, None)


# -- messages ------------------------------------------------------------

def messages(app, req, cid):
    _check_id(cid, CONV_OR_DEFAULT_RE)
    limit = app._int_arg(req, "limit", 100)
    desc = _order(req) == "desc"
    direct = _direct_agent(cid, req.arg("agent_id"))
    with app.lock:
        if direct:
            agent = app._agent(direct)
            letta_runs.settle(app, agent)
            history = list(agent.history)
        else:
            conv = app.conversations.get(cid)
            if conv is not None and conv.agent_id in app.agents:
                letta_runs.settle(app, app.agents[conv.agent_id])
            history = list(conv.history) if conv else []
    ids = [m["id"] for m in history]
    after, before = req.arg("after"), req.arg("before")
    # Cursors are positions (one step's messages share an id here).
    lo = len(ids) - ids[::-1].index(after) if after in ids else 0
    hi = ids.index(before) if before in ids else len(ids)
    out = history[lo:hi]
    types = req.query.get("include_return_message_types")
    if types:
        out = [m for m in out if m["message_type"] in types]
    if desc:
        out.reverse()
    return Response.json(200, out[:max(limit, 0)])


def _send_body(app, req):
    body = app._json_body(req)
    msgs = app._body_messages(body)
    streaming = body.get("streaming", True)
    if not isinstance(streaming, bool):
        raise base.validation_error(("body", "streaming"), "Input should be "
                                    "a valid boolean", streaming)
    if msgs == []:
        raise base.HTTPError(422, {"detail": "Messages must not be empty"})
    app._validate_messages(msgs)
    return body, msgs, streaming


def send(app, req, cid):
    _check_id(cid, CONV_OR_DEFAULT_RE)
    body, msgs, streaming = _send_body(app, req)
    direct = _direct_agent(cid, body.get("agent_id"))
    if direct:
        return app.answer(*app._start_turn(direct, body, msgs, streaming))
    with app.lock:
        conv = _find(app, cid)
        conv.last_message_at = conv.updated_at = base.iso_now()
    return app.answer(*app._start_turn(conv.agent_id, body, msgs,
                                       streaming, conv))


def check_busy(app, conv, streaming):
    """Redis's conversation lock (caller holds app.lock): a streamed send
    while another streamed send of the conversation runs is 409."""
    if not (app.config.get("redis") and streaming and conv.streams > 0):
        return
    holder = [r.id for r in app.runs.values()
              if r.conv is conv and r.streaming and r.active()]
    if not holder:        # the holder is still starting: no run id yet
        raise base.HTTPError(409, {"detail": "CONFLICT: Cannot send a new "
                                   "message: Another request is currently "
                                   "being processed for this conversation."
                                   " Please wait for the current request "
                                   "to complete."})
    raise base.HTTPError(409, {
        "detail": "CONFLICT: Cannot send a new message: Another request "
                  "(run_id=%s) is currently being processed for this "
                  "conversation. Please wait for it to complete." % holder[0],
        "run_id": holder[0]})


def cancel(app, req, cid):
    _check_id(cid, CONV_OR_DEFAULT_RE)
    direct = _direct_agent(cid, req.arg("agent_id"))
    if direct:
        status, answer = letta_runs.cancel(app, direct, None)
        return Response.json(status, answer)
    with app.lock:
        conv = _find(app, cid)
        agent = app.agents.get(conv.agent_id)
        if agent is not None:
            letta_runs.settle(app, agent)
        conv.cancels += 1
        active = [r for r in app.runs.values()
                  if r.conversation_id == cid and r.active()]
        if not active:
            return Response.json(409, {"detail": "CONFLICT: No active runs "
                                       "to cancel for conversation %s" % cid})
        now = time.monotonic()
        for run in active:
            run.cancelled_at = now
            run.cancelled.set()
        if agent is not None:
            letta_runs.settle(app, agent)
        return Response.json(200, {r.id: "cancelled" for r in active})


# -- control (/_fake/conversations) -------------------------------------------

def summary(conv):
    return {"id": conv.id, "agent_id": conv.agent_id,
            "summary": conv.summary, "messages": len(conv.history),
            "sends": conv.sends, "in_flight": conv.in_flight,
            "max_in_flight": conv.max_in_flight, "cancels": conv.cancels,
            "pending_approval": conv.pending_approval,
            "created_at": conv.created_at,
            "last_message_at": conv.last_message_at}


def _default_summary(app, agent):
    others = [c for c in app.conversations.values()
              if c.agent_id == agent.id]
    return {"id": "default", "agent_id": agent.id, "summary": None,
            "messages": len(agent.history),
            "sends": agent.sends - sum(c.sends for c in others),
            "in_flight": agent.in_flight - sum(c.in_flight for c in others),
            "pending_approval": agent.pending_approval}


def control(app, req, parts, body):
    """GET conversations[?agent_id=], POST conversations {agent_id,
    summary?, id?, created_at?}, GET conversations/<id>/history."""
    if parts == ["conversations"] and req.method == "GET":
        agent_id = req.arg("agent_id")
        with app.lock:
            letta_runs.settle_all(app)
            out = []
            for agent in app.agents.values():
                if agent_id in (None, agent.id):
                    out.append(_default_summary(app, agent))
                    out += [summary(c) for c in app.conversations.values()
                            if c.agent_id == agent.id]
            return Response.json(200, {"conversations": out})
    if parts == ["conversations"] and req.method == "POST":
        with app.lock:
            agent = app.agents.get(body.get("agent_id"))
            if agent is None:
                return Response.json(404, {"error": "no such agent"})
            return Response.json(200, summary(add(
                app, agent, body.get("summary"), None, body.get("id"),
                body.get("created_at"))))
    if len(parts) == 3 and parts[0] == "conversations" and \
            parts[2] == "history" and req.method == "GET":
        with app.lock:
            conv = app.conversations.get(parts[1])
            if conv is None:
                return Response.json(404, {"error": "no such conversation"})
            letta_runs.settle(app, app.agents[conv.agent_id])
            return Response.json(200, {"messages": list(conv.history)})
    return None


def forget_agent(app, agent_id):
    """The agent is gone: so are its conversations (caller holds lock)."""
    for cid in [c.id for c in app.conversations.values()
                if c.agent_id == agent_id]:
        del app.conversations[cid]
