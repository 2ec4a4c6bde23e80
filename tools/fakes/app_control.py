"""Control interface of the fake App Server (under /_fake/, token-gated;
the shared health, requests, faults and reset are web.control_common's).

  GET    /_fake/frames?conn=&dir=in|out|conn&type=&since=&errors=1
  DELETE /_fake/frames
  GET    /_fake/connections            ids, headers, state, event_seq,
                                       pings sent, pongs, close
  GET    /_fake/runtimes               live conversation runtimes
  GET    /_fake/modes                  permission mode per conversation
  POST   /_fake/agents                 {"name", "id"?, "model"?,
                                        "description"?, "tags"?, "script"?}
  GET    /_fake/agents                 with script and turns run
  GET|PATCH|DELETE /_fake/agents/<id>  PATCH: name, description, tags,
                                       script
  GET    /_fake/history?agent_id=A&conversation_id=C (default "default")
  GET    /_fake/images?agent_id=A      the pictures that reached A's model,
                                       oldest first: {"images":
                                       [{client_message_id,
                                       conversation_id, media_type, size,
                                       sha256}]} (app_images.py)
  POST   /_fake/ws/faults (rule) / GET / DELETE     frame faults
  POST   /_fake/ws/act {"conn"?, "action", ...}     at once, on one or
                                                    every open connection
  POST   /_fake/restart {"down_ms"?}
  POST   /_fake/config {"heartbeat_ms", "pong_timeout_ms", "answer_pings",
                        "ws_token"}
"""

import json

from . import app_faults
from . import app_script
from .app_store import NotFound, project
from .web import Response

CONFIG_TYPES = {"heartbeat_ms": int, "pong_timeout_ms": int,
                "answer_pings": bool}


def ok(body):
    return Response.json(200, body)


def bad(message):
    return Response.json(400, {"error": message})


def dispatch(app, req, sub):
    parts = [p for p in sub.split("/") if p]
    body = json.loads(req.body) if req.body.strip() else {}
    m = req.method
    hub = app.hub
    if parts == ["frames"] and m == "GET":
        since = int(req.arg("since", "0"))
        return ok({"frames": app.record.query(
            req.arg("conn"), req.arg("dir"), req.arg("type"), since,
            req.arg("errors") == "1")})
    if parts == ["frames"] and m == "DELETE":
        app.record.clear()
        return ok({})
    if parts == ["connections"] and m == "GET":
        with hub.lock:
            conns = list(hub.conns.values())
        return ok({"connections": [c.info() for c in conns]})
    if parts == ["runtimes"] and m == "GET":
        with hub.lock:
            return ok({"runtimes": [runtime_info(rt)
                                    for rt in hub.runtimes.values()]})
    if parts == ["modes"] and m == "GET":
        with hub.lock:
            return ok({"modes": [{"agent_id": k[0], "conversation_id": k[1],
                                  "mode": v} for k, v in hub.modes.items()]})
    if parts and parts[0] == "agents":
        return agents(hub, m, parts[1:], body)
    if parts == ["history"] and m == "GET":
        return history(hub, req.arg("agent_id"),
                       req.arg("conversation_id", "default"))
    if parts == ["images"] and m == "GET":
        with hub.lock:
            return ok({"images": list(hub.images.get(req.arg("agent_id"),
                                                     []))})
    if parts[:2] == ["ws", "faults"]:
        return frame_faults(app, m, body)
    if parts == ["ws", "act"] and m == "POST":
        return act(hub, body)
    if parts == ["restart"] and m == "POST":
        hub.restart(int(body.get("down_ms", 0)))
        return ok({})
    if parts == ["config"] and m == "POST":
        return config(app, body)
    return None


def runtime_info(rt):
    return {"agent_id": rt.agent_id, "conversation_id": rt.conv_id,
            "loop": rt.loop, "run_id": rt.run_id,
            "turn": None if rt.turn is None else
            {"id": rt.turn.id, "conn": rt.turn.conn_id},
            "active_conn": rt.active_conn,
            "queue": [{"id": i.id, "client_message_id": i.client_message_id,
                       "conn": i.conn_id} for i in rt.queue],
            "queue_paused": rt.queue_paused,
            "approval": None if rt.approval is None else
            {"request_id": rt.approval.request_id,
             "conns": sorted(rt.approval.conn_ids)},
            "dispositions": dict(rt.dispositions)}


def agent_info(hub, rec):
    out = hub.store.agent_json(rec)
    out["script"] = hub.scripts.get(rec["id"], {})
    out["turns"] = hub.turn_counts.get(rec["id"], 0)
    return out


def agents(hub, method, rest, body):
    with hub.lock:
        if not rest and method == "POST":
            script = app_script.validate(body.get("script", {}))
            if body.get("id") in hub.store.agents:
                return bad("agent exists: %s" % body["id"])
            fields = {k: v for k, v in body.items()
                      if k not in ("script", "id")}
            rec = hub.store.create_agent(fields, body.get("id"))
            hub.scripts[rec["id"]] = script
            return ok(agent_info(hub, rec))
        if not rest and method == "GET":
            return ok({"agents": [agent_info(hub, rec)
                                  for rec in hub.store.agents.values()]})
        if len(rest) != 1:
            return None
        try:
            rec = hub.store.agent(rest[0])
        except NotFound as exc:
            return Response.json(404, {"error": str(exc)})
        if method == "GET":
            return ok(agent_info(hub, rec))
        if method == "DELETE":
            hub.store.delete_agent(rec["id"])
            hub.scripts.pop(rec["id"], None)
            return ok({})
        if method == "PATCH":
            if "script" in body:
                hub.scripts[rec["id"]] = app_script.validate(body["script"])
            hub.store.update_agent(rec["id"], {k: v for k, v in body.items()
                                               if k != "script"})
            return ok(agent_info(hub, rec))
    return None


def history(hub, agent_id, conv_id):
    with hub.lock:
        conv = hub.store.find_conversation(conv_id, agent_id)
        if conv is None or (agent_id and conv["agent_id"] != agent_id):
            return Response.json(404, {"error": "no such conversation"})
        key = hub.store.conv_key(conv["id"], conv["agent_id"])
        messages = [p for msg in hub.store.history[key]
                    for p in project(msg, conv["agent_id"], conv["id"])]
        return ok({"messages": messages})


def frame_faults(app, method, body):
    if method == "POST":
        try:
            return ok(app.frame_faults.add(body))
        except app_faults.FaultError as exc:
            return bad(str(exc))
    if method == "GET":
        return ok({"faults": app.frame_faults.list()})
    if method == "DELETE":
        app.frame_faults.clear()
        return ok({})
    return None


def act(hub, body):
    args = dict(body)
    action = args.pop("action", None)
    target = args.pop("conn", None)
    try:
        app_faults.validate_act(action, args)
    except (app_faults.FaultError, ValueError) as exc:
        return bad(str(exc))
    with hub.lock:
        conns = [c for c in hub.conns.values() if c.open and
                 (target is None or c.id == target)]
    if target is not None and not conns:
        return Response.json(404, {"error": "no open connection %s"
                                   % target})
    for conn in conns:
        conn.act(action, **args)
    return ok({"conns": [c.id for c in conns]})


def config(app, body):
    hub = app.hub
    with hub.lock:
        for key, value in body.items():
            if key == "ws_token":
                if value is not None and not isinstance(value, str):
                    return bad("ws_token must be a string or null")
                app.ws_token = value
            elif key in CONFIG_TYPES and type(value) is CONFIG_TYPES[key] \
                    and (key == "answer_pings" or value > 0):
                hub.config[key] = value
            else:
                return bad("bad config %s=%r" % (key, value))
        return ok(dict(hub.config, ws_token_set=app.ws_token is not None))
