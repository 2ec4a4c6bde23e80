"""Control interface of the fake Letta (under /_fake/, token-gated).

  POST   /_fake/agents        {"name", "id"?, "description", "tags",
                               "agent_type", "script", "metadata"}
  GET    /_fake/agents        all agents with send counters, the highest
                              number of concurrent sends seen, cancel and
                              reset counts and the pending approval
  PATCH  /_fake/agents/<id>   {"name"?, "description"?, "tags"?, "script"?}
  DELETE /_fake/agents/<id>
  GET    /_fake/agents/<id>/history   every message of its default history
  GET    /_fake/agents/<id>/images    the pictures it got, oldest first:
                              {"images": [{"otid", "conversation",
                              "media_type", "size", "sha256"}]}
                              (letta_images.py)
  GET    /_fake/conversations[?agent_id=]  each agent's "default" history
                              and its conversations: summary, message
                              count, sends, in_flight (letta_conv.py)
  POST   /_fake/conversations {"agent_id", "summary"?, "id"?, "created_at"?}
  GET    /_fake/conversations/<id>/history  every message it holds
  POST   /_fake/config        {"password": str|null, "version": str,
                               "redis": bool (conversation lock, default
                               false), "database": "postgresql"|"sqlite"
                               (summary_search matching)}
"""

import json
import uuid

from . import letta_conv
from . import letta_runs
from .letta_app import Agent, iso_now
from .web import Response


def dispatch(app, req, sub):
    parts = [p for p in sub.split("/") if p]
    body = json.loads(req.body) if req.body.strip() else {}
    if parts == ["agents"] and req.method == "POST":
        return Response.json(200, add_agent(app, body))
    if parts == ["agents"] and req.method == "GET":
        return Response.json(200, list_agents(app))
    if len(parts) == 2 and parts[0] == "agents":
        return one_agent(app, req.method, parts[1], body)
    if len(parts) == 3 and parts[0] == "agents" and parts[2] == "history":
        with app.lock:
            agent = app.agents.get(parts[1])
            if agent is None:
                return Response.json(404, {"error": "no such agent"})
            letta_runs.settle(app, agent)
            return Response.json(200, {"messages": list(agent.history)})
    if len(parts) == 3 and parts[0] == "agents" and parts[2] == "images":
        with app.lock:
            agent = app.agents.get(parts[1])
            if agent is None:
                return Response.json(404, {"error": "no such agent"})
            return Response.json(200, {"images": list(agent.images)})
    if parts and parts[0] == "conversations":
        return letta_conv.control(app, req, parts, body)
    if parts == ["config"] and req.method == "POST":
        with app.lock:
            unknown = set(body) - set(app.config)
            if unknown:
                raise KeyError("unknown config keys %s" % sorted(unknown))
            app.config.update(body)
            return Response.json(200, app.config)
    return None


def add_agent(app, body):
    with app.lock:
        agent_id = body.get("id") or "agent-%s" % uuid.uuid4()
        if agent_id in app.agents:
            raise ValueError("agent exists: %s" % agent_id)
        # Distinct, increasing creation times keep the list order stable.
        app.clock += 1
        created = body.get("created_at") or iso_now(app.clock * 0.001)
        agent = Agent(agent_id, body.get("name", "agent %d" % app.clock),
                      created, **{k: body[k] for k in (
                          "description", "tags", "agent_type", "script",
                          "metadata") if k in body})
        app.agents[agent_id] = agent
        return summary(agent)


def summary(agent):
    return {"id": agent.id, "name": agent.name, "tags": agent.tags,
            "description": agent.description, "script": agent.script,
            "created_at": agent.created_at, "updated_at": agent.updated_at,
            "sends": agent.sends, "in_flight": agent.in_flight,
            "max_in_flight": agent.max_in_flight,
            "history_len": len(agent.history),
            "cancels": agent.cancels, "resets": agent.resets,
            "images": len(agent.images),
            "pending_approval": agent.pending_approval}


def list_agents(app):
    with app.lock:
        letta_runs.settle_all(app)
        return {"agents": [summary(a) for a in app.agents.values()]}


def one_agent(app, method, agent_id, body):
    with app.lock:
        agent = app.agents.get(agent_id)
        if agent is None:
            return Response.json(404, {"error": "no such agent"})
        letta_runs.settle(app, agent)
        if method == "DELETE":
            del app.agents[agent_id]
            letta_conv.forget_agent(app, agent_id)
            return Response.json(200, {})
        if method == "GET":
            return Response.json(200, summary(agent))
        if method != "PATCH":
            return None
        for key in ("name", "description", "tags", "script", "metadata"):
            if key in body:
                setattr(agent, key, body[key])
        app.clock += 1
        agent.updated_at = iso_now(app.clock * 0.001)
        return Response.json(200, summary(agent))
