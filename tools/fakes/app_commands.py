"""Every frame a client sends to the fake App Server: recorded, checked
(app_protocol), then answered as letta.js 0.32.18 answers it
(commands/agents-conversations.ts, commands/runtime-start.ts,
message-router.ts). Management commands answer `<type>_response` with
`success` and, on failure, the backend's error text ("Agent <id> not
found"); the frames about a conversation go to app_inputs.
"""

from . import app_inputs
from . import app_protocol
from .app_hub import scope_key
from .app_store import NotFound, now_iso

VERSION = "0.32.18"


def info(request_id):
    """app_server_info_response (also the body of GET /app-server-info,
    with request_id "http-info")."""
    return {"type": "app_server_info_response", "request_id": request_id,
            "success": True, "backend": "local",
            "letta_code_version": VERSION, "protocol_version": 1,
            "capabilities": {
                "agent_management": True, "conversation_management": True,
                "memory_management": True, "runtime_start": True,
                "launch_subagent": True, "runtime_workspace_sandbox": True,
                "runtime_external_tools_update": True,
                "structured_outputs": False, "split_channels": False}}


class StartError(Exception):
    pass


def dispatch(hub, conn, kind, data, t_recv):
    """One data message from `conn` (the reader thread) whose bytes came
    at t_recv (monotonic): the record's `time`, stamped before the
    decoding and checks below, as the HTTP fakes stamp t_recv."""
    parsed = app_protocol.parse(data)
    frame = parsed.frame
    if isinstance(frame, dict):
        raw = None
    elif kind == "text":
        raw = data.decode("utf-8", "replace")[:4096]
    else:
        raw = data[:4096].hex()
    entry = hub.record.add(conn.id, "in", kind,
                           frame=frame if isinstance(frame, dict) else None,
                           raw=raw, bytes=len(data), error=parsed.error,
                           time=t_recv)
    if parsed.scope is not None:
        hub.subscribe(conn, scope_key(*parsed.scope))
    if parsed.reason is not None:
        app_inputs.invalid_input(hub, scope_key(*parsed.scope),
                                 parsed.reason)
        return
    cmd = parsed.command
    if cmd is None:
        return
    error = HANDLERS[cmd["type"]](hub, conn, cmd)
    if error:
        entry["error"] = error


def respond(conn, cmd, **fields):
    frame = {"type": cmd["type"] + "_response",
             "request_id": cmd["request_id"]}
    frame.update(fields)
    conn.send(frame)


def fail(conn, cmd, exc, **empty):
    respond(conn, cmd, success=False, error=str(exc), **empty)


# -- agents and conversations -------------------------------------------------
def app_server_info(hub, conn, cmd):
    conn.send(info(cmd["request_id"]))


def agent_list(hub, conn, cmd):
    with hub.lock:
        agents = hub.store.list_agents(cmd.get("query") or {})
    respond(conn, cmd, success=True, agents=agents)


def agent_retrieve(hub, conn, cmd):
    with hub.lock:
        try:
            agent = hub.store.agent_json(hub.store.agent(cmd["agent_id"]))
        except NotFound as exc:
            return fail(conn, cmd, exc, agent=None)
    respond(conn, cmd, success=True, agent=agent)


def agent_create(hub, conn, cmd):
    with hub.lock:
        agent = hub.store.agent_json(hub.store.create_agent(cmd["body"]))
    respond(conn, cmd, success=True, agent=agent)


def agent_update(hub, conn, cmd):
    with hub.lock:
        try:
            rec = hub.store.update_agent(cmd["agent_id"], cmd["body"])
        except NotFound as exc:
            return fail(conn, cmd, exc, agent=None)
        agent = hub.store.agent_json(rec)
    respond(conn, cmd, success=True, agent=agent)


def agent_delete(hub, conn, cmd):
    with hub.lock:
        try:
            hub.store.delete_agent(cmd["agent_id"])
        except NotFound as exc:
            return fail(conn, cmd, exc, agent_id=cmd["agent_id"])
    respond(conn, cmd, success=True, agent_id=cmd["agent_id"])


def conversation_list(hub, conn, cmd):
    with hub.lock:
        convs = hub.store.list_conversations(cmd.get("query") or {})
    respond(conn, cmd, success=True, conversations=convs)


def conversation_retrieve(hub, conn, cmd):
    with hub.lock:
        try:
            conv = dict(hub.store.conversation(cmd["conversation_id"]))
        except NotFound as exc:
            return fail(conn, cmd, exc, conversation=None)
    respond(conn, cmd, success=True, conversation=conv)


def conversation_create(hub, conn, cmd):
    with hub.lock:
        try:
            conv = dict(hub.store.create_conversation(cmd["body"]))
        except NotFound as exc:
            return fail(conn, cmd, exc, conversation=None)
    respond(conn, cmd, success=True, conversation=conv)


def conversation_messages_list(hub, conn, cmd):
    query = cmd.get("query") or {}
    with hub.lock:
        try:
            page, before, more = hub.store.message_page(
                cmd["conversation_id"], query)
        except NotFound as exc:
            return fail(conn, cmd, exc, messages=[], next_before=None,
                        has_more=False)
        except ValueError:
            return "unsupported by the fake: a query.limit that is not " \
                "a number"
    respond(conn, cmd, success=True, messages=page, next_before=before,
            has_more=more)


# -- runtime_start ------------------------------------------------------------
def check_shape(cmd):
    """validateRuntimeStartShape."""
    for key in ("agent_id", "conversation_id"):
        if key in cmd and not cmd[key]:
            raise StartError("runtime_start %s must be a non-empty string"
                             % key)
    if not cmd.get("agent_id") and not cmd.get("conversation_id") and \
            "create_conversation" not in cmd:
        raise StartError("runtime_start requires an agent or conversation")
    if cmd.get("conversation_id") and "create_conversation" in cmd:
        raise StartError("runtime_start conversation_id cannot be "
                         "combined with create_conversation")


def default_conversation(agent_id):
    """buildDefaultConversation: made anew for every runtime_start."""
    now = now_iso()
    return {"id": "default", "agent_id": agent_id, "archived": False,
            "archived_at": None, "created_at": now, "updated_at": now,
            "last_message_at": None, "summary": None,
            "in_context_message_ids": []}


def resolve_conversation(store, cmd, agent, created):
    conv_id = cmd.get("conversation_id")
    if conv_id == "default":
        if agent is None:
            raise StartError("Agent-free runtimes require a persisted "
                             "conversation")
        return default_conversation(agent["id"])
    if conv_id:
        conv = store.conversation(conv_id)
        if agent is None:
            raise StartError("Conversation %s is agent-backed; provide "
                             "agent_id" % conv["id"])
        if conv["agent_id"] != agent["id"]:
            raise StartError("Conversation %s belongs to %s, not %s"
                             % (conv["id"], conv["agent_id"], agent["id"]))
        return dict(conv)
    if agent is None:
        raise StartError("Agent-free conversation creation requires "
                         "body.model and body.system")
    body = dict((cmd.get("create_conversation") or {}).get("body") or {},
                agent_id=agent["id"])
    created["conversation"] = True
    return dict(store.create_conversation(body))


def add_source_tags(store, cmd, conv):
    tags = cmd.get("conversation_source_tags")
    if conv["id"] == "default" or not tags:
        return conv
    rec = store.conversation(conv["id"])
    rec["tags"] = list(rec.get("tags", [])) + [
        t for t in tags if t not in rec.get("tags", [])]
    return dict(rec)


def runtime_start(hub, conn, cmd):
    created = {"agent": False, "conversation": False}
    agent = conv = None
    with hub.lock:
        store = hub.store
        try:
            check_shape(cmd)
            if cmd.get("agent_id"):
                agent = store.agent_json(store.agent(cmd["agent_id"]))
            if not cmd.get("agent_id") and "create_conversation" in cmd:
                body = cmd["create_conversation"].get("body") or {}
                if isinstance(body.get("model"), str) and body["model"] \
                        and isinstance(body.get("system"), str):
                    return "unsupported by the fake: an agent-free runtime"
            conv = resolve_conversation(store, cmd, agent, created)
            conv = add_source_tags(store, cmd, conv)
        except (StartError, NotFound) as exc:
            respond(conn, cmd, success=False, runtime=None, agent=agent,
                    conversation=conv, created=created, error=str(exc))
            return None
        key = scope_key(agent["id"], conv["id"])
        if "mode" in cmd:
            hub.modes[key] = cmd["mode"]
        if "cwd" in cmd:
            hub.cwds[key] = cmd["cwd"]
        rt = hub.runtime(key)
        hub.subscribe(conn, key)
        force = cmd.get("force_device_status") is not False
        if cmd.get("wait_for_replay"):
            app_inputs.replay(hub, conn, rt, force)
        respond(conn, cmd, success=True, runtime=dict(rt.scope),
                agent=agent, conversation=conv, created=created)
        if not cmd.get("wait_for_replay"):
            app_inputs.replay(hub, conn, rt, force)
        app_inputs.after_replay(hub, conn, rt)
        hub.evict_if_idle(rt)
    return None


# -- the conversation's frames ------------------------------------------------
def conversation_frame(func):
    def handler(hub, conn, cmd):
        rt = cmd["runtime"]
        if rt["agent_id"] is None:
            return "unsupported by the fake: an agent-free runtime"
        return func(hub, conn, cmd, scope_key(rt["agent_id"],
                                              rt["conversation_id"]))
    return handler


HANDLERS = {
    "app_server_info": app_server_info, "agent_list": agent_list,
    "agent_retrieve": agent_retrieve, "agent_create": agent_create,
    "agent_update": agent_update, "agent_delete": agent_delete,
    "conversation_list": conversation_list,
    "conversation_retrieve": conversation_retrieve,
    "conversation_create": conversation_create,
    "conversation_messages_list": conversation_messages_list,
    "runtime_start": runtime_start,
    "input": conversation_frame(app_inputs.on_input),
    "abort_message": conversation_frame(app_inputs.abort),
    "sync": conversation_frame(app_inputs.sync),
    "resume_queue": conversation_frame(app_inputs.resume_queue)}
