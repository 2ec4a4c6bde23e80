"""Matrix filters (event_filter / room_event_filter / sync_filter)."""

import json
import re

from .mx_store import MatrixError, bad_json, not_found

DEFAULT_TIMELINE_LIMIT = 10   # Synapse's default for /sync


def _glob(pattern):
    # Only "*" is special in Matrix type patterns.
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))


def type_match(patterns, etype):
    return any(_glob(p).fullmatch(etype) for p in patterns)


def event_ok(f, ev):
    """Whether an event passes an EventFilter / RoomEventFilter dict."""
    etype, sender = ev["type"], ev.get("sender")
    if "not_types" in f and type_match(f["not_types"], etype):
        return False
    if "types" in f and not type_match(f["types"], etype):
        return False
    if sender in f.get("not_senders", []):
        return False
    if "senders" in f and sender not in f["senders"]:
        return False
    return True


def room_ok(room_filter, room_id):
    if room_id in room_filter.get("not_rooms", []):
        return False
    return "rooms" not in room_filter or room_id in room_filter["rooms"]


def _load(text):
    try:
        value = json.loads(text)
    except ValueError:
        raise MatrixError(400, "M_NOT_JSON", "Invalid filter JSON")
    if not isinstance(value, dict):
        raise bad_json("Filter must be a JSON object")
    return value


def validate(value):
    """Reject filters a real server rejects (Synapse checks a schema)."""
    if not isinstance(value, dict):
        raise bad_json("Filter must be a JSON object")
    room = value.get("room", {})
    if not isinstance(room, dict):
        raise bad_json("'room' must be an object")
    for part in ("timeline", "state", "ephemeral", "account_data"):
        sub = room.get(part, {})
        if not isinstance(sub, dict):
            raise bad_json("'room.%s' must be an object" % part)
        limit = sub.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise bad_json("'limit' must be a non-negative integer")
        for key in ("types", "not_types", "senders", "not_senders"):
            if key in sub and not isinstance(sub[key], list):
                raise bad_json("'%s' must be a list" % key)


def parse_inline(text):
    """A RoomEventFilter given inline (e.g. /messages?filter=...)."""
    return _load(text) if text else {}


def resolve_sync_filter(ctx, value):
    """The sync filter named by ?filter=: inline JSON or an uploaded id."""
    if not value:
        return {}
    if value.startswith("{"):
        found = _load(value)
        validate(found)
        return found
    found = ctx.store.users[ctx.user_id].filters.get(value)
    if found is None:
        raise not_found("No such filter")
    return found


class SyncFilter:
    """The parts of a sync filter /sync applies."""

    def __init__(self, f):
        room = f.get("room", {})
        self.room = room
        self.timeline = room.get("timeline", {})
        self.state = room.get("state", {})
        self.ephemeral = room.get("ephemeral", {})
        self.presence = f.get("presence", {})
        self.limit = self.timeline.get("limit", DEFAULT_TIMELINE_LIMIT)
        self.lazy_members = bool(self.state.get("lazy_load_members"))
        self.include_leave = bool(room.get("include_leave"))

    def wants_room(self, room_id):
        return room_ok(self.room, room_id)

    def timeline_ok(self, ev):
        return event_ok(self.timeline, ev) and \
            room_ok(self.timeline, ev["room_id"])

    def state_ok(self, ev):
        if not event_ok(self.state, ev):
            return False
        # Lazy loading: members come with the senders that need them.
        return not (self.lazy_members and ev["type"] == "m.room.member")

    def ephemeral_ok(self, etype):
        return event_ok(self.ephemeral, {"type": etype})

    def presence_ok(self):
        return self.presence.get("types", None) != []
