"""Synapse's Delete Room admin API (version 1, synchronous):

  DELETE /_synapse/admin/v1/rooms/<room_id>
      {"block": bool, "purge": bool (default true), "force_purge": bool,
       "new_room_user_id": ..., "room_name": ..., "message": ...}
  -> {"kicked_users": [...], "failed_to_kick_users": [],
      "local_aliases": [], "new_room_id": null}

As Synapse 1.67 does it: a server admin's token only ("You are not a
server admin"), a JSON object body, a legal room id; every local member
(joined or invited) leaves as themselves and forgets the room, then with
`purge` the room is gone from the server: no client of any member sees it
again, not even in a /sync with include_leave. `block` refuses later
joins. Moving people to a new room (new_room_user_id) is not faked: it is
refused, so a test cannot believe it happened.
"""

from .mx_account import _require_admin
from .mx_store import MatrixError, bad_json


def _bool(body, key, default):
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad_json("Param '%s' must be a boolean, if given" % key)
    return value


def delete_room(ctx, room_id):
    _require_admin(ctx)
    body = ctx.json()
    block = _bool(body, "block", False)
    purge = _bool(body, "purge", True)
    _bool(body, "force_purge", False)
    if body.get("new_room_user_id") is not None:
        raise MatrixError(400, "M_UNRECOGNIZED",
                          "new_room_user_id is not supported by the fake")
    if not room_id.startswith("!") or ":" not in room_id:
        raise MatrixError(400, "M_INVALID_PARAM",
                          "%s is not a legal room ID" % room_id)
    room = ctx.store.rooms.get(room_id)
    if room is None:
        if block:
            ctx.store.blocked_rooms.add(room_id)
            return 200, _result([])
        raise MatrixError(400, "M_UNKNOWN", "Unknown room id %s" % room_id)
    kicked = []
    for user in sorted(room.members("join") + room.members("invite")):
        ctx.store.add_event(room, "m.room.member", user,
                            {"membership": "leave"}, user)
        room.forgotten.add(user)
        kicked.append(user)
    if block:
        ctx.store.blocked_rooms.add(room_id)
    if purge:
        del ctx.store.rooms[room_id]
    ctx.store.cond.notify_all()
    return 200, _result(kicked)


def _result(kicked):
    return {"kicked_users": kicked, "failed_to_kick_users": [],
            "local_aliases": [], "new_room_id": None}

