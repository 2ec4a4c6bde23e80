"""Rooms: create, state, send (with transaction ids), redact, membership,
members, messages, typing, receipts and the space hierarchy.

Permission checks follow what a real server enforces: only joined members
send; state and membership changes need the power level; invite-only
rooms need an invite; a user who left can read up to their leave and
nothing after forgetting (errors worded as Synapse 1.67 words them).
"""

import json
import time

from .mx_store import (DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS,
                       MatrixError, bad_json, client_event,
                       default_power_levels, forbidden, invalid_param,
                       missing_param, not_found, now_ms, stripped,
                       unknown)
from . import mx_filter

PRESETS = {
    "private_chat": ("invite", "shared", "can_join"),
    "trusted_private_chat": ("invite", "shared", "can_join"),
    "public_chat": ("public", "shared", "forbidden"),
}
# Content keys that survive a redaction (room versions 1-10).
REDACT_KEEP = {
    "m.room.member": ("membership",),
    "m.room.create": ("creator",),
    "m.room.join_rules": ("join_rule",),
    "m.room.power_levels": ("ban", "events", "events_default", "kick",
                            "redact", "state_default", "users",
                            "users_default"),
    "m.room.history_visibility": ("history_visibility",),
}
RECEIPT_TYPES = ("m.read", "m.read.private", "m.fully_read")
MAX_PDU_SIZE = 65536      # Synapse's limit on an event as it is signed


# -- shared checks ---------------------------------------------------------------
def not_in_room(user, room_id):
    return forbidden("User %s not in room %s" % (user, room_id))


def joined_room(ctx, room_id):
    """The room, if the caller is joined to it; else Synapse's 403."""
    room = ctx.store.rooms.get(room_id)
    if room is None or room.membership(ctx.user_id) != "join":
        raise not_in_room(ctx.user_id, room_id)
    return room


def check_event_size(ctx, room_id, etype, content, state_key=None):
    """Synapse refuses an event whose PDU in canonical JSON (UTF-8,
    sorted keys, no spaces) is over 65,536 bytes: 413 M_TOO_LARGE "event
    too large" (transcript-1.67-stock.json #48: 70,000 bytes of body
    refused, 60,000 taken). The PDU is the content plus an envelope of
    ids, hashes and a signature, measured here with their real sizes."""
    eid, ts = "$" + "x" * 43, now_ms()
    server = ctx.store.server_name
    pdu = {"auth_events": [eid] * 3, "content": content, "depth": 1000,
           "hashes": {"sha256": "x" * 43}, "origin": server,
           "origin_server_ts": ts, "prev_events": [eid], "room_id": room_id,
           "sender": ctx.user_id, "type": etype,
           "signatures": {server: {"ed25519:a_xxxx": "x" * 86}},
           "unsigned": {"age_ts": ts}}
    if state_key is not None:
        pdu["state_key"] = state_key
    raw = json.dumps(pdu, ensure_ascii=False, separators=(",", ":"),
                     sort_keys=True).encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PDU_SIZE:
        raise MatrixError(413, "M_TOO_LARGE", "event too large")


def readable_upto(ctx, room_id):
    """(room, last readable stream position) for the caller, or 403.

    Joined: everything. Left or kicked and not forgotten: up to the leave.
    World-readable rooms: everything. Otherwise nothing."""
    room = ctx.store.rooms.get(room_id)
    if room is not None:
        membership = room.membership(ctx.user_id)
        if membership == "join" or room.history_visibility() == \
                "world_readable":
            return room, ctx.store.pos
        if membership in ("leave", "ban") and \
                ctx.user_id not in room.forgotten:
            return room, room.state[("m.room.member", ctx.user_id)]["_pos"]
    raise forbidden("User %s not in room %s, and room previews are disabled"
                    % (ctx.user_id, room_id))


def visible(room, user, ev):
    """History visibility, evaluated with the room's current setting."""
    hv = room.history_visibility()
    if hv in ("shared", "world_readable"):
        return True
    at = room.membership_at(user, ev["_pos"])
    return at == "join" or (hv == "invited" and at == "invite")


def check_level(room, user, etype, is_state):
    need = room.level_for(etype, is_state)
    have = room.user_level(user)
    if have < need:
        raise forbidden("You don't have permission to post that to the "
                        "room. user_level (%d) < send_level (%d)"
                        % (have, need))


def member_content(ctx, user_id, membership, reason=None):
    content = {"membership": membership}
    user = ctx.store.users.get(user_id)
    if user is not None and user.displayname is not None:
        content["displayname"] = user.displayname
    if user is not None and user.avatar_url:
        content["avatar_url"] = user.avatar_url
    if reason:
        content["reason"] = reason
    return content


def valid_user_id(value):
    return (isinstance(value, str) and value.startswith("@")
            and ":" in value and len(value) <= 255)


# -- createRoom --------------------------------------------------------------------
def _create_params(body):
    preset = body.get("preset")
    if preset is None:
        preset = "public_chat" if body.get("visibility") == "public" \
            else "private_chat"
    if preset not in PRESETS:
        raise invalid_param("Invalid preset: %s" % preset)
    version = body.get("room_version", DEFAULT_ROOM_VERSION)
    if version not in SUPPORTED_ROOM_VERSIONS:
        raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION",
                          "Your homeserver does not support the features "
                          "required to interact with this room")
    invites = body.get("invite", [])
    if not isinstance(invites, list) or \
            not all(valid_user_id(u) for u in invites):
        raise invalid_param("Invalid user_id in invite")
    initial = body.get("initial_state", [])
    if not isinstance(initial, list) or not all(
            isinstance(e, dict) and isinstance(e.get("type"), str)
            and isinstance(e.get("content"), dict) for e in initial):
        raise bad_json("initial_state must be a list of state events")
    for key in ("creation_content", "power_level_content_override"):
        if not isinstance(body.get(key, {}), dict):
            raise bad_json("%s must be an object" % key)
    for key in ("name", "topic"):
        if key in body and not isinstance(body[key], str):
            raise bad_json("%s must be a string" % key)
    return preset, version, invites, initial


def create_room(ctx):
    body = ctx.json()
    preset, version, invites, initial = _create_params(body)
    ctx.app.profile.room_invites(ctx, len(invites))
    store, me = ctx.store, ctx.user_id
    room = store.new_room(version)
    create = dict(body.get("creation_content", {}))
    create.update({"creator": me, "room_version": version})
    store.add_event(room, "m.room.create", me, create, "")
    store.add_event(room, "m.room.member", me, member_content(ctx, me, "join"),
                    me)
    levels = default_power_levels(me)
    if preset == "trusted_private_chat":
        levels["users"].update({u: 100 for u in invites})
    levels.update(body.get("power_level_content_override", {}))
    store.add_event(room, "m.room.power_levels", me, levels, "")
    given = {(e["type"], e.get("state_key", "")) for e in initial}
    join_rule, history, guest = PRESETS[preset]
    for etype, key, value in (("m.room.join_rules", "join_rule", join_rule),
                              ("m.room.history_visibility",
                               "history_visibility", history),
                              ("m.room.guest_access", "guest_access", guest)):
        if (etype, "") not in given:
            store.add_event(room, etype, me, {key: value}, "")
    for ev in initial:
        if ev["type"] == "m.room.name" and "name" in body:
            continue
        if ev["type"] == "m.room.topic" and "topic" in body:
            continue
        store.add_event(room, ev["type"], me, ev["content"],
                        ev.get("state_key", ""))
    if "name" in body:
        store.add_event(room, "m.room.name", me, {"name": body["name"]}, "")
    if "topic" in body:
        store.add_event(room, "m.room.topic", me, {"topic": body["topic"]}, "")
    for user in invites:
        content = member_content(ctx, user, "invite")
        if body.get("is_direct"):
            content["is_direct"] = True
        store.add_event(room, "m.room.member", me, content, user)
    return 200, {"room_id": room.room_id}


# -- state ---------------------------------------------------------------------------
def get_full_state(ctx, room_id):
    room, upto = readable_upto(ctx, room_id)
    state = room.state_at(upto)
    return 200, [client_event(ev, legacy=True) for ev in state.values()]


def get_state(ctx, room_id, etype, key=""):
    room, upto = readable_upto(ctx, room_id)
    ev = room.state_at(upto).get((etype, key or ""))
    if ev is None:
        raise not_found("Event not found.")
    if ctx.req.arg("format") == "event":
        return 200, client_event(ev, legacy=True)
    return 200, ev["content"]


def put_state(ctx, room_id, etype, key=""):
    key = key or ""
    body = ctx.json()
    check_event_size(ctx, room_id, etype, body, key)
    room = joined_room(ctx, room_id)
    me = ctx.user_id
    if etype == "m.room.create":
        raise forbidden("Cannot change the m.room.create event")
    if etype == "m.room.member":
        return _member_via_state(ctx, room, key, body)
    if key.startswith("@") and key != me:
        raise forbidden("You are not allowed to set others state")
    check_level(room, me, etype, True)
    if etype == "m.room.power_levels":
        _check_power_change(room, me, body)
    current = room.state.get((etype, key))
    if current is not None and current["sender"] == me and \
            current["content"] == body:
        # Synapse de-duplicates an identical state event: no new event.
        return 200, {"event_id": current["event_id"]}
    ev = ctx.store.add_event(room, etype, me, body, key)
    return 200, {"event_id": ev["event_id"]}


def _check_power_change(room, me, content):
    mine = room.user_level(me)
    users = content.get("users", {})
    if not isinstance(users, dict):
        raise bad_json("users must be an object")
    old = room.power_levels().get("users", {})
    for user, level in users.items():
        if not isinstance(level, int):
            raise bad_json("power levels must be integers")
        if old.get(user) != level and (level > mine or (
                user != me and old.get(user, 0) >= mine)):
            raise forbidden("You don't have permission to change the "
                            "power level of %s" % user)


def _member_via_state(ctx, room, key, body):
    """Only a profile refresh of one's own join goes through /state."""
    if key != ctx.user_id or body.get("membership") != "join":
        raise forbidden("Use the membership endpoints to change membership")
    ev = ctx.store.add_event(room, "m.room.member", ctx.user_id, body, key)
    return 200, {"event_id": ev["event_id"]}


# -- sending ---------------------------------------------------------------------------
def _cached_txn(ctx):
    """Transactions are per access token and request path, like Synapse:
    the same PUT again gives the same event id and no second event."""
    return ctx.store.txns.get((ctx.token, ctx.req.path))


def send(ctx, room_id, etype, txn_id):
    cached = _cached_txn(ctx)
    if cached is not None:
        return 200, {"event_id": cached}
    ctx.ratelimit("action")
    body = ctx.json()
    check_event_size(ctx, room_id, etype, body)
    room = joined_room(ctx, room_id)
    check_level(room, ctx.user_id, etype, False)
    ev = ctx.store.add_event(room, etype, ctx.user_id, body,
                             txn=(ctx.token, txn_id))
    ctx.store.txns[(ctx.token, ctx.req.path)] = ev["event_id"]
    return 200, {"event_id": ev["event_id"]}


def redact(ctx, room_id, event_id, txn_id):
    cached = _cached_txn(ctx)
    if cached is not None:
        return 200, {"event_id": cached}
    ctx.ratelimit("action")
    body = ctx.json(allow_empty=True)
    room = joined_room(ctx, room_id)
    target = room.by_id.get(event_id)
    if target is None or target["sender"] != ctx.user_id:
        need, have = room.power_levels().get("redact", 50), \
            room.user_level(ctx.user_id)
        if have < need:
            raise forbidden("You don't have permission to redact events")
    check_level(room, ctx.user_id, "m.room.redaction", False)
    ev = ctx.store.add_event(room, "m.room.redaction", ctx.user_id, body,
                             txn=(ctx.token, txn_id), redacts=event_id)
    if target is not None:
        keep = REDACT_KEEP.get(target["type"], ())
        target["content"] = {k: v for k, v in target["content"].items()
                             if k in keep}
        target["_redacted_because"] = ev
    ctx.store.txns[(ctx.token, ctx.req.path)] = ev["event_id"]
    return 200, {"event_id": ev["event_id"]}


def get_event(ctx, room_id, event_id):
    room, upto = readable_upto(ctx, room_id)
    ev = room.by_id.get(event_id)
    if ev is None or ev["_pos"] > upto or not visible(room, ctx.user_id, ev):
        raise not_found("Could not find event %s" % event_id)
    return 200, client_event(ev, legacy=True, token=ctx.token,
                             reader=ctx.user_id)


# -- membership --------------------------------------------------------------------------
RESTRICTED_VERSIONS = {"8", "9", "10"}


def restricted_ok(store, room, user=None):
    """A restricted room (versions 8+): whether `user` is joined to one
    of the rooms its `allow` list names. None when the rule does not
    apply (an older room version: then it is an invite-only room)."""
    if room.version not in RESTRICTED_VERSIONS:
        return None
    rules = (room.state_content("m.room.join_rules") or {}).get("allow")
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict) or \
                rule.get("type") != "m.room_membership":
            continue
        other = store.rooms.get(rule.get("room_id"))
        if other is not None and user and other.membership(user) == "join":
            return True
    return False


def _target_user(body):
    user = body.get("user_id")
    if user is None:
        raise missing_param("Missing user_id key.")
    if not valid_user_id(user):
        raise invalid_param("Invalid user_id")
    return user


def invite(ctx, room_id):
    body = ctx.json()
    target = _target_user(body)
    room = joined_room(ctx, room_id)
    pl = room.power_levels()
    if room.user_level(ctx.user_id) < int(pl.get("invite", 0)):
        raise forbidden("You don't have permission to invite users")
    current = room.membership(target)
    if current == "join":
        raise forbidden("%s is already in the room." % target)
    if current == "ban":
        raise forbidden("%s is banned from the room" % target)
    ctx.app.profile.invite(ctx, room_id, target)
    ctx.store.add_event(room, "m.room.member", ctx.user_id,
                        member_content(ctx, target, "invite",
                                       body.get("reason")), target)
    return 200, {}


def join(ctx, room_id):
    body = ctx.json(allow_empty=True)
    if room_id.startswith("#"):
        raise not_found("Room alias %s not found" % room_id)
    if room_id in ctx.store.blocked_rooms:
        raise forbidden("This room has been blocked on this server")
    room = ctx.store.rooms.get(room_id)
    if room is None:
        raise MatrixError(404, "M_UNKNOWN", "No known servers")
    current = room.membership(ctx.user_id)
    if current == "join":
        return 200, {"room_id": room_id}
    if current == "ban":
        raise forbidden("You are banned from this room")
    if room.join_rule() == "restricted" and current != "invite" and \
            restricted_ok(ctx.store, room) is not None:
        if not restricted_ok(ctx.store, room, ctx.user_id):
            raise forbidden("You do not belong to any of the required "
                            "rooms/spaces to join this room.")
    elif room.join_rule() != "public" and current != "invite":
        raise forbidden("You are not invited to this room.")
    room.forgotten.discard(ctx.user_id)
    content = member_content(ctx, ctx.user_id, "join", body.get("reason"))
    if room.join_rule() == "restricted" and current != "invite":
        # As Synapse: a member who may invite vouches for the join.
        content["join_authorised_via_users_server"] = _authoriser(room)
    ctx.store.add_event(room, "m.room.member", ctx.user_id, content,
                        ctx.user_id)
    return 200, {"room_id": room_id}


def _authoriser(room):
    need = int(room.power_levels().get("invite", 0))
    for user in sorted(room.members("join"), key=room.user_level,
                       reverse=True):
        if room.user_level(user) >= need:
            return user
    return None


def leave(ctx, room_id):
    body = ctx.json(allow_empty=True)
    room = ctx.store.rooms.get(room_id)
    current = room.membership(ctx.user_id) if room else None
    if current not in ("join", "invite"):
        raise not_in_room(ctx.user_id, room_id)
    ctx.store.add_event(room, "m.room.member", ctx.user_id,
                        {"membership": "leave", **(
                            {"reason": body["reason"]}
                            if body.get("reason") else {})}, ctx.user_id)
    return 200, {}


def forget(ctx, room_id):
    ctx.json(allow_empty=True)
    room = ctx.store.rooms.get(room_id)
    current = room.membership(ctx.user_id) if room else None
    if current in ("join", "invite"):
        raise unknown("User %s is in room %s" % (ctx.user_id, room_id))
    if room is not None and current is not None:
        room.forgotten.add(ctx.user_id)
    return 200, {}


def kick(ctx, room_id):
    body = ctx.json()
    target = _target_user(body)
    room = joined_room(ctx, room_id)
    if room.membership(target) not in ("join", "invite"):
        raise forbidden("The target user is not in the room")
    mine, theirs = room.user_level(ctx.user_id), room.user_level(target)
    need = int(room.power_levels().get("kick", 50))
    if target != ctx.user_id and (mine < need or mine <= theirs):
        raise forbidden("You don't have permission to kick this user")
    content = {"membership": "leave"}
    if body.get("reason"):
        content["reason"] = body["reason"]
    ctx.store.add_event(room, "m.room.member", ctx.user_id, content, target)
    return 200, {}


# -- reading ----------------------------------------------------------------------------
def joined_rooms(ctx):
    return 200, {"joined_rooms": [
        r.room_id for r in ctx.store.rooms.values()
        if r.membership(ctx.user_id) == "join"]}


def joined_members(ctx, room_id):
    room = joined_room(ctx, room_id)
    out = {}
    for user in room.members("join"):
        content = room.state[("m.room.member", user)]["content"]
        out[user] = {"avatar_url": content.get("avatar_url"),
                     "display_name": content.get("displayname")}
    return 200, {"joined": out}


def members(ctx, room_id):
    room, upto = readable_upto(ctx, room_id)
    want, unwanted = ctx.req.arg("membership"), ctx.req.arg("not_membership")
    chunk = []
    for (etype, _), ev in room.state_at(upto).items():
        if etype != "m.room.member":
            continue
        m = ev["content"].get("membership")
        if (want and m != want) or (unwanted and m == unwanted):
            continue
        chunk.append(client_event(ev, legacy=True))
    return 200, {"chunk": chunk}


def _pagination(ctx, upto):
    direction = ctx.req.arg("dir", "f")
    if direction not in ("f", "b"):
        raise invalid_param("Query parameter \"dir\" must be one of "
                            "['b', 'f']")
    try:
        limit = min(int(ctx.req.arg("limit", "10")), 1000)
    except ValueError:
        raise invalid_param("Query parameter \"limit\" must be an integer")
    start = ctx.req.arg("from")
    if not start or start == "END":
        # Synapse treats an empty `from` (what matrix-nio sends for "the
        # newest") and the legacy "END" as absent.
        pos = upto if direction == "b" else 0
    else:
        pos = ctx.store.parse_token(start)
        if pos is None:
            raise unknown("Invalid pagination token")
    end = ctx.req.arg("to")
    end_pos = ctx.store.parse_token(end) if end else None
    return direction, max(limit, 0), pos, end_pos


def messages(ctx, room_id):
    room, upto = readable_upto(ctx, room_id)
    direction, limit, pos, end_pos = _pagination(ctx, upto)
    filt = mx_filter.parse_inline(ctx.req.arg("filter"))
    evs = [e for e in room.events if e["_pos"] <= upto
           and visible(room, ctx.user_id, e)
           and mx_filter.event_ok(filt, e)]
    if direction == "b":
        evs = [e for e in reversed(evs) if e["_pos"] <= pos
               and (end_pos is None or e["_pos"] > end_pos)]
    else:
        evs = [e for e in evs if e["_pos"] > pos
               and (end_pos is None or e["_pos"] <= end_pos)]
    page, more = evs[:limit], len(evs) > limit
    out = {"chunk": [client_event(e, legacy=True, token=ctx.token,
                                  reader=ctx.user_id)
                     for e in page],
           "start": ctx.store.page_token(pos)}
    if page and more:
        last = page[-1]["_pos"]
        out["end"] = ctx.store.page_token(last - 1 if direction == "b"
                                          else last)
    if filt.get("lazy_load_members"):
        senders = {e["sender"] for e in page}
        state = room.state_at(upto)
        out["state"] = [client_event(state[("m.room.member", s)], legacy=True)
                        for s in sorted(senders)
                        if ("m.room.member", s) in state]
    return 200, out


# -- ephemeral -------------------------------------------------------------------------------
def typing(ctx, room_id, user_id):
    if user_id != ctx.user_id:
        raise forbidden("Cannot set another user's typing state")
    body = ctx.json()
    if not isinstance(body.get("typing"), bool):
        raise bad_json("Missing or invalid 'typing'")
    timeout = body.get("timeout", 30000)
    if body["typing"] and not isinstance(timeout, int):
        raise bad_json("Missing or invalid 'timeout'")
    room = joined_room(ctx, room_id)
    if body["typing"]:
        room.typing[user_id] = time.monotonic() + min(timeout, 120000) / 1000.0
    else:
        room.typing.pop(user_id, None)
    room.typing_pos = ctx.store.next_pos(room)
    ctx.store.cond.notify_all()
    return 200, {}


def receipt(ctx, room_id, rtype, event_id):
    ctx.json(allow_empty=True)
    if rtype not in RECEIPT_TYPES:
        raise invalid_param("Receipt type must be 'm.read', 'm.read.private' "
                            "or 'm.fully_read'")
    room = joined_room(ctx, room_id)
    _set_receipt(ctx, room, rtype, event_id)
    return 200, {}


def read_markers(ctx, room_id):
    """POST /read_markers: the fully-read marker and receipts at once."""
    body = ctx.json()
    room = joined_room(ctx, room_id)
    for rtype in RECEIPT_TYPES:
        if rtype in body:
            if not isinstance(body[rtype], str):
                raise bad_json("%s must be an event id" % rtype)
            _set_receipt(ctx, room, rtype, body[rtype])
    return 200, {}


def _set_receipt(ctx, room, rtype, event_id):
    room.receipts[(ctx.user_id, rtype)] = (event_id, now_ms(),
                                           ctx.store.next_pos(room))
    ctx.store.cond.notify_all()


# -- spaces -------------------------------------------------------------------------------------
def _accessible(room, user, store=None):
    return (room.membership(user) in ("join", "invite")
            or room.join_rule() == "public"
            or room.history_visibility() == "world_readable"
            or (store is not None and room.join_rule() == "restricted"
                and bool(restricted_ok(store, room, user))))


def _children(room):
    """m.space.child events with a non-empty `via` (empty = unlinked)."""
    out = []
    for (etype, key), ev in sorted(room.state.items()):
        via = ev["content"].get("via")
        if etype == "m.space.child" and isinstance(via, list) and via:
            out.append(ev)
    return out


def _summary(room):
    entry = {"room_id": room.room_id,
             "num_joined_members": len(room.members("join")),
             "join_rule": room.join_rule(),
             "world_readable": room.history_visibility() == "world_readable",
             "guest_can_join": (room.state_content("m.room.guest_access")
                                or {}).get("guest_access") == "can_join"}
    for etype, key, field in (("m.room.name", "name", "name"),
                              ("m.room.topic", "topic", "topic"),
                              ("m.room.avatar", "url", "avatar_url"),
                              ("m.room.canonical_alias", "alias",
                               "canonical_alias")):
        value = (room.state_content(etype) or {}).get(key)
        if value:
            entry[field] = value
    if room.room_type():
        entry["room_type"] = room.room_type()
    entry["children_state"] = [
        dict(stripped(ev), origin_server_ts=ev["origin_server_ts"],
             room_id=room.room_id) for ev in _children(room)]
    return entry


def _hierarchy_args(ctx):
    try:
        limit = int(ctx.req.arg("limit", "50"))
        depth = int(ctx.req.arg("max_depth", "100"))
        offset = int(ctx.req.arg("from", "0"))
    except ValueError:
        raise invalid_param("Invalid limit, max_depth or from")
    if limit < 1 or depth < 0:
        raise invalid_param("Invalid limit or max_depth")
    suggested = ctx.req.arg("suggested_only", "false") == "true"
    return limit, depth, offset, suggested


def hierarchy(ctx, room_id):
    limit, depth, offset, suggested = _hierarchy_args(ctx)
    root = ctx.store.rooms.get(room_id)
    if root is None or not _accessible(root, ctx.user_id):
        raise forbidden("User %s not in room %s, and room previews are "
                        "disabled" % (ctx.user_id, room_id))
    found, queue, seen = [], [(root, 0)], {room_id}
    while queue:
        room, level = queue.pop(0)
        found.append(_summary(room))
        if level >= depth:
            continue
        for ev in _children(room):
            child = ctx.store.rooms.get(ev["state_key"])
            if child is None or ev["state_key"] in seen:
                continue
            if suggested and not ev["content"].get("suggested"):
                continue
            seen.add(child.room_id)
            if _accessible(child, ctx.user_id, ctx.store):
                queue.append((child, level + 1))
    out = {"rooms": found[offset:offset + limit]}
    if offset + limit < len(found):
        out["next_batch"] = str(offset + limit)
    return 200, out

