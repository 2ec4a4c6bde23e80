"""/sync: initial and incremental syncs, long-poll, filters, joined /
invited / left rooms, limited timelines and opaque next_batch tokens.

The response carries what a real Synapse 1.67 sends and minimal fakes
forget (transcript): prev_batch, limited, unsigned, summary,
unread_notifications, presence and device_lists for new members, and it
leaves out empty sections the way Synapse does (no "rooms" at all when
nothing happened), so parsers meet real shapes.
"""

import time

from . import mx_filter
from .mx_rooms import visible
from .mx_store import client_event, invalid_param, stripped, unknown

INVITE_STATE_TYPES = ("m.room.create", "m.room.join_rules", "m.room.name",
                      "m.room.topic", "m.room.canonical_alias",
                      "m.room.avatar", "m.room.encryption")


def sync(ctx):
    f = mx_filter.SyncFilter(
        mx_filter.resolve_sync_filter(ctx, ctx.req.arg("filter")))
    since = None
    if ctx.req.arg("since"):
        since = ctx.store.parse_token(ctx.req.arg("since"))
        if since is None:
            raise unknown("Invalid stream token")
    full_state = ctx.req.arg("full_state", "false") == "true"
    try:
        timeout = max(0, int(ctx.req.arg("timeout", "0")))
    except ValueError:
        raise invalid_param("Query parameter \"timeout\" must be an integer")
    deadline = time.monotonic() + timeout / 1000.0
    ctx.store.last_sync[ctx.user_id] = time.monotonic()
    while True:
        body, has_data = build(ctx, f, since, full_state)
        left = deadline - time.monotonic()
        # The spec: full_state=true ignores the timeout.
        if has_data or since is None or full_state or left <= 0:
            _note_in_log(ctx, body)
            return 200, body
        ctx.store.cond.wait(left)   # releases the lock while waiting


def _note_in_log(ctx, body):
    """What this answer carried, for benchmarks that time an event from
    the /sync answer that delivered it (the log entry's t_sent)."""
    rooms = body.get("rooms", {}).get("join", {})
    ctx.req.log_extra["next_batch"] = body["next_batch"]
    ctx.req.log_extra["timeline_event_ids"] = [
        ev["event_id"] for entry in rooms.values()
        for ev in entry["timeline"]["events"]]


def build(ctx, f, since, full_state):
    store, me = ctx.store, ctx.user_id
    joins, invites, leaves = {}, {}, {}
    rooms = list(store.rooms.values()) if since is None or full_state \
        else store.rooms_changed_since(since)
    for room in rooms:
        if not f.wants_room(room.room_id):
            continue
        membership = room.membership(me)
        if membership is None:
            continue
        mev = room.state[("m.room.member", me)]
        fresh = since is None or mev["_pos"] > since
        if membership == "join" and not (fresh or full_state) and \
                not _changed_since(room, since):
            continue   # nothing to say (the same answer, found cheaply)
        if membership == "join":
            entry = joined_entry(ctx, f, room, since, full_state, fresh)
            if entry:
                joins[room.room_id] = entry
        elif membership == "invite" and fresh:
            invites[room.room_id] = invite_entry(room, me)
        elif membership in ("leave", "ban") and me not in room.forgotten:
            if (since is None and f.include_leave) or \
                    (since is not None and fresh):
                leaves[room.room_id] = left_entry(ctx, f, room, since,
                                                  mev["_pos"])
    out = {"next_batch": store.sync_token(),
           "device_one_time_keys_count": {"signed_curve25519": 0},
           "org.matrix.msc2732.device_unused_fallback_key_types": [],
           "device_unused_fallback_key_types": []}
    rooms = {k: v for k, v in (("join", joins), ("invite", invites),
                               ("leave", leaves)) if v}
    if rooms:
        out["rooms"] = rooms
    if since is not None:
        _add_presence_and_devices(ctx, f, out, joins, since)
    return out, bool(rooms)


def _changed_since(room, since):
    """Whether anything a joined member's incremental sync shows (events,
    typing, receipts) happened in the room after `since`. Skipping the
    others keeps a long-poll over a thousand quiet rooms cheap."""
    if room.events and room.events[-1]["_pos"] > since:
        return True
    if room.typing_pos > since:
        return True
    return any(pos > since for _, _, pos in room.receipts.values())


def _timeline(ctx, f, room, since, upto):
    """(events, limited, position just before the first event)."""
    cands = [e for e in room.events
             if (since is None or e["_pos"] > since) and e["_pos"] <= upto
             and visible(room, ctx.user_id, e) and f.timeline_ok(e)]
    events = cands[-f.limit:] if f.limit > 0 else []
    limited = len(cands) > len(events)
    start = events[0]["_pos"] - 1 if events else upto
    return events, limited, start


def _state(ctx, f, room, since, start, full, timeline, end_state):
    """State at the start of the timeline: all of it, or what changed."""
    at_start = room.state_at(start)
    evs = [e for e in at_start.values()
           if (full or e["_pos"] > since) and f.state_ok(e)]
    if f.lazy_members:
        have = {e["event_id"] for e in evs}
        for sender in sorted({e["sender"] for e in timeline}):
            member = end_state.get(("m.room.member", sender))
            if member and member["event_id"] not in have and \
                    mx_filter.event_ok(f.state, member):
                evs.append(member)
    return sorted(evs, key=lambda e: e["_pos"])


def _batch(ctx, f, room, since, full, upto):
    events, limited, start = _timeline(ctx, f, room, since, upto)
    end_state = room.state if upto == ctx.store.pos else room.state_at(upto)
    state = _state(ctx, f, room, since, start, full, events, end_state)
    timeline = {"events": [client_event(e, False, token=ctx.token,
                                        reader=ctx.user_id, bundle=limited)
                           for e in events],
                "prev_batch": ctx.store.sync_token(start),
                "limited": limited}
    return timeline, [client_event(e, False) for e in state], bool(events)


def joined_entry(ctx, f, room, since, full_state, fresh):
    full = since is None or full_state or fresh
    timeline, state, has_events = _batch(ctx, f, room, since, full,
                                         ctx.store.pos)
    ephemeral = _ephemeral(ctx, f, room, since)
    if not (full or has_events or state or ephemeral):
        return None
    return {"timeline": timeline, "state": {"events": state},
            "account_data": {"events": []},
            "ephemeral": {"events": ephemeral},
            "unread_notifications": {
                "notification_count": _unread(room, ctx.user_id),
                "highlight_count": 0},
            "summary": _summary(room, ctx.user_id)}


def left_entry(ctx, f, room, since, leave_pos):
    timeline, state, _ = _batch(ctx, f, room, since, since is None,
                                leave_pos)
    return {"timeline": timeline, "state": {"events": state},
            "account_data": {"events": []}}


def invite_entry(room, me):
    events = [stripped(room.state[(t, "")]) for t in INVITE_STATE_TYPES
              if (t, "") in room.state]
    invite = room.state[("m.room.member", me)]
    inviter = room.state.get(("m.room.member", invite["sender"]))
    if inviter is not None:
        events.append(stripped(inviter))
    events.append(dict(stripped(invite), event_id=invite["event_id"],
                       origin_server_ts=invite["origin_server_ts"]))
    return {"invite_state": {"events": events}}


def _ephemeral(ctx, f, room, since):
    out = []
    now = time.monotonic()
    if f.ephemeral_ok("m.typing") and (
            (since is None and room.typing) or
            (since is not None and room.typing_pos > since)):
        users = sorted(u for u, exp in room.typing.items() if exp > now)
        out.append({"type": "m.typing", "content": {"user_ids": users}})
    if f.ephemeral_ok("m.receipt"):
        content = {}
        for (user, rtype), (eid, ts, pos) in room.receipts.items():
            if rtype == "m.fully_read" or (since is not None and pos <= since):
                continue
            if rtype == "m.read.private" and user != ctx.user_id:
                continue
            content.setdefault(eid, {}).setdefault(rtype, {})[user] = \
                {"ts": ts}
        if content:
            out.append({"type": "m.receipt", "content": content})
    return out


def _unread(room, me):
    """Messages from others after my read receipt (or my join)."""
    start = 0
    for rtype in ("m.read", "m.read.private"):
        found = room.receipts.get((me, rtype))
        if found and found[0] in room.by_id:
            start = max(start, room.by_id[found[0]]["_pos"])
    if start == 0:
        history = room.member_history.get(me, [])
        start = history[-1][0] if history else 0
    return sum(1 for e in room.events
               if e["_pos"] > start and e["sender"] != me
               and e["type"] in ("m.room.message", "m.room.encrypted"))


def _summary(room, me):
    joined, invited = room.members("join"), room.members("invite")
    out = {"m.joined_member_count": len(joined),
           "m.invited_member_count": len(invited)}
    if room.state_content("m.room.name") is None:
        out["m.heroes"] = sorted(u for u in joined + invited if u != me)[:5]
    return out


def _add_presence_and_devices(ctx, f, out, joins, since):
    """A real server also reports presence of people who spoke and device
    list changes of people who joined: noise a client must tolerate."""
    speakers, joiners = set(), set()
    for entry in joins.values():
        for ev in entry["timeline"]["events"] + entry["state"]["events"]:
            if ev["sender"] != ctx.user_id:
                speakers.add(ev["sender"])
            if ev["type"] == "m.room.member" and \
                    ev["content"].get("membership") == "join" and \
                    ev["state_key"] != ctx.user_id:
                joiners.add(ev["state_key"])
    if speakers and f.presence_ok():
        out["presence"] = {"events": [_presence(ctx.store, u)
                                      for u in sorted(speakers)]}
    if joiners:
        out["device_lists"] = {"changed": sorted(joiners), "left": []}


def _presence(store, user):
    """Online while the user syncs (within a minute), else offline: people
    acted by tests never sync, as in the transcript."""
    last = store.last_sync.get(user)
    now = time.monotonic()
    if last is not None and now - last < 60:
        return {"type": "m.presence", "sender": user,
                "content": {"presence": "online", "currently_active": True,
                            "last_active_ago": int((now - last) * 1000)}}
    return {"type": "m.presence", "sender": user,
            "content": {"presence": "offline", "last_active_ago": 13}}
