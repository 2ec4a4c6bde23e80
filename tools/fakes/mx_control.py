"""Control interface of the fake homeserver (under /_fake/, token-gated).

  POST /_fake/config      {"registration": "dummy"|"token"|"disabled",
                           "registration_token", "shared_secret",
                           "synapse_admin": bool, "admin_login": bool,
                           "rate_limit": {"enabled", "per_second", "burst"}
                           or {"profile": "synapse-defaults", "header",
                           "time_scale"} (see mx_ratelimit),
                           "media": {"max_upload_size", "authenticated",
                           "freeze_legacy"} (merged; see mx_media)}
  POST /_fake/users       {"username", "password", "admin", "displayname"}
                          -> {"user_id", "access_token", "device_id"}
  GET  /_fake/users       all users (no passwords; with avatar_url)
  POST /_fake/tokens/revoke {"user_id"} -> invalidate all their tokens
  POST /_fake/act         {"as": user_id, "method", "path", "body"}
                          run one real client-API request as that user
                          (a person in the room); same checks, not
                          logged, not faulted, not rate limited
  GET  /_fake/rooms       room ids with name, type, members
  GET  /_fake/rooms/<id>  full state and every event of one room
  POST|GET|DELETE /_fake/appservice, GET|DELETE /_fake/appservice/pushes,
  POST|GET|DELETE /_fake/appservice/faults   (see mx_appservice)
  GET  /_fake/media       every piece of media held (no bytes) + config
  POST /_fake/media       {"base64" | "text", "content_type", "uploader",
                           "filename", "server_name", "media_id"}: put
                          bytes directly -> {"content_uri", ...}
  GET  /_fake/media/<server>/<id>   one, with its bytes ("base64")
  DELETE /_fake/media[/<server>/<id>]  forget all of them, or one
"""

import json
import urllib.parse

from . import mx_appservice, mx_media
from .mx_store import client_event
from .web import Request, Response

MAX_ACTS = 10000


def dispatch(app, req, sub):
    parts = sub.rstrip("/").split("/")
    key = (req.method, parts[0])
    body = json.loads(req.body) if req.body.strip() else {}
    if key == ("POST", "config"):
        return Response.json(200, set_config(app, body))
    if key == ("POST", "users"):
        return Response.json(200, add_user(app, body))
    if key == ("GET", "users"):
        return Response.json(200, list_users(app))
    if key == ("POST", "tokens") and parts[1:] == ["revoke"]:
        return Response.json(200, revoke(app, body["user_id"]))
    if key == ("POST", "act"):
        return act(app, body)
    if key == ("POST", "acts"):
        return Response.json(200, act_batch(app, body))
    if key == ("GET", "rooms") and len(parts) == 1:
        return Response.json(200, list_rooms(app))
    if key == ("GET", "rooms"):
        return room_dump(app, urllib.parse.unquote(parts[1]))
    if parts[0] == "appservice":
        return mx_appservice.control(app, req, parts, body)
    if parts[0] == "media":
        return mx_media.control(app, req, parts, body)
    return None


def set_config(app, body):
    with app.store.cond:
        rate = body.pop("rate_limit", None)
        media = body.pop("media", None)
        unknown = set(body) - set(app.config)
        if unknown:
            raise KeyError("unknown config keys %s" % sorted(unknown))
        if media is not None:
            mx_media.configure(app, media)   # checked before any change
        app.config.update(body)
        if rate is not None and "profile" in rate:
            app.limiter.configure(enabled=False)
            app.profile.configure(rate["profile"], rate.get("header", False),
                                  rate.get("time_scale", 1.0))
        elif rate is not None:
            app.profile.configure(None)
            app.limiter.configure(bool(rate.get("enabled", True)),
                                  rate.get("per_second", 0.2),
                                  rate.get("burst", 10))
        return dict(app.config, rate_limit=dict({
            "enabled": app.limiter.enabled,
            "per_second": app.limiter.per_second,
            "burst": app.limiter.burst}, **app.profile.describe()))


def add_user(app, body):
    store = app.store
    with store.cond:
        name = body["username"]
        if store.lookup_user(name) is not None:
            raise ValueError("user exists: %s" % name)
        user = store.add_user(name, body.get("password"),
                              bool(body.get("admin")))
        if body.get("displayname"):
            user.displayname = body["displayname"]
        token, device = store.new_token(user.user_id)
        app.human_tokens[user.user_id] = token
        return {"user_id": user.user_id, "access_token": token,
                "device_id": device}


def list_users(app):
    with app.store.cond:
        return {"users": [{"user_id": u.user_id, "admin": u.admin,
                           "displayname": u.displayname,
                           "avatar_url": u.avatar_url,
                           "deactivated": u.deactivated,
                           "tokens": sum(1 for t in app.store.tokens.values()
                                         if t[0] == u.user_id)}
                          for u in app.store.users.values()]}


def revoke(app, user_id):
    with app.store.cond:
        dead = [t for t, (u, _) in app.store.tokens.items() if u == user_id]
        for tok in dead:
            del app.store.tokens[tok]
        return {"revoked": len(dead)}


def _token_for(app, user_id):
    with app.store.cond:
        token = app.human_tokens.get(user_id)
        if token not in app.store.tokens:
            if user_id not in app.store.users:
                raise KeyError("no such user %s" % user_id)
            token, _ = app.store.new_token(user_id)
            app.human_tokens[user_id] = token
        return token


def act(app, body):
    token = _token_for(app, body["as"])
    payload = body.get("body")
    raw = b"" if payload is None else json.dumps(payload).encode()
    headers = {"Authorization": "Bearer " + token,
               "Content-Type": "application/json"}
    inner = Request(body.get("method", "GET").upper(), body["path"], headers,
                    raw)
    inner.control = True
    resp = app.handle(inner)
    try:
        parsed = json.loads(resp.body) if resp.body else None
    except ValueError:
        parsed = resp.body.decode("utf-8", "replace")
    return Response.json(200, {"status": resp.status, "body": parsed})


def act_batch(app, body):
    acts = body["acts"]
    if not isinstance(acts, list) or not 1 <= len(acts) <= MAX_ACTS:
        raise ValueError("acts must be a list of 1 to %d acts" % MAX_ACTS)
    for one in acts:
        if not isinstance(one, dict) or not isinstance(one.get("as"), str) \
                or not isinstance(one.get("path"), str):
            raise ValueError("each act needs \"as\" and \"path\"")
    results = []
    # The store's lock is re-entrant: holding it across the batch keeps
    # every long-poll asleep until all acts are in.
    with app.store.cond:
        for one in acts:
            results.append(json.loads(act(app, one).body))
    return {"results": results}


def list_rooms(app):
    with app.store.cond:
        out = []
        for room in app.store.rooms.values():
            out.append({"room_id": room.room_id,
                        "name": (room.state_content("m.room.name") or {})
                        .get("name"),
                        "type": room.room_type(),
                        "joined": sorted(room.members("join")),
                        "invited": sorted(room.members("invite"))})
        return {"rooms": out}


def room_dump(app, room_id):
    with app.store.cond:
        room = app.store.rooms.get(room_id)
        if room is None:
            return Response.json(404, {"error": "no such room"})
        return Response.json(200, {
            "room_id": room_id,
            "state": [client_event(e) for e in room.state.values()],
            "events": [client_event(e) for e in room.events]})
