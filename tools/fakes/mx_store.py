"""In-memory state of the fake homeserver: users, tokens, rooms, events.

All access happens under Store.cond (a Condition around one lock): the
server is multi-threaded, and /sync long-polls wait on the same condition
that every state change notifies.
"""

import bisect
import secrets
import string
import threading
import time

from .web import Response

SUPPORTED_ROOM_VERSIONS = [str(v) for v in range(1, 11)]
DEFAULT_ROOM_VERSION = "9"  # what Synapse 1.67 created (see transcript)


class MatrixError(Exception):
    """An error in the spec's shape: {"errcode", "error", ...extra}."""

    def __init__(self, status, errcode, error, headers=None, **extra):
        super().__init__(error)
        self.status = status
        self.errcode = errcode
        self.error = error
        self.extra = extra
        self.headers = headers or []

    def response(self):
        body = {"errcode": self.errcode, "error": self.error}
        body.update(self.extra)
        return Response.json(self.status, body, self.headers)


def forbidden(msg):
    return MatrixError(403, "M_FORBIDDEN", msg)


def not_found(msg="Event not found."):
    return MatrixError(404, "M_NOT_FOUND", msg)


def bad_json(msg):
    return MatrixError(400, "M_BAD_JSON", msg)


def missing_param(msg):
    return MatrixError(400, "M_MISSING_PARAM", msg)


def invalid_param(msg):
    return MatrixError(400, "M_INVALID_PARAM", msg)


def unknown(msg, status=400):
    return MatrixError(status, "M_UNKNOWN", msg)


def now_ms():
    return int(time.time() * 1000)


def random_id(n, alphabet=string.ascii_letters):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_event_id():
    # Room versions >= 4: "$" + 43 characters of url-safe base64.
    return "$" + secrets.token_urlsafe(32)[:43]


def default_power_levels(creator):
    """Synapse's defaults for a new room, as in the recorded transcript."""
    return {
        "users": {creator: 100}, "users_default": 0,
        "events": {"m.room.name": 50, "m.room.power_levels": 100,
                   "m.room.history_visibility": 100,
                   "m.room.canonical_alias": 50, "m.room.avatar": 50,
                   "m.room.tombstone": 100, "m.room.server_acl": 100,
                   "m.room.encryption": 100},
        "events_default": 0, "state_default": 50, "ban": 50, "kick": 50,
        "redact": 50, "invite": 0, "historical": 100,
    }


class User:
    def __init__(self, user_id, password, admin=False):
        self.user_id = user_id
        self.localpart = user_id[1:].split(":", 1)[0]
        self.password = password
        self.admin = admin
        self.displayname = self.localpart
        self.avatar_url = None
        self.deactivated = False
        self.filters = {}
        self.room_data = {}        # (room_id, type) -> room account data
        self.creation_ts = int(time.time())


class Room:
    def __init__(self, room_id, version):
        self.room_id = room_id
        self.version = version
        self.events = []           # every event, in stream order
        self.by_id = {}
        self.state = {}            # (type, state_key) -> current event
        self.member_history = {}   # user -> [(pos, membership)]
        self.forgotten = set()
        self.typing = {}           # user -> expiry (monotonic seconds)
        self.typing_pos = 0
        self.receipts = {}         # (user, type) -> (event_id, ts, pos)

    def state_content(self, etype, key=""):
        ev = self.state.get((etype, key))
        return ev["content"] if ev else None

    def membership(self, user):
        ev = self.state.get(("m.room.member", user))
        return ev["content"].get("membership") if ev else None

    def membership_at(self, user, pos):
        result = None
        for p, membership in self.member_history.get(user, []):
            if p > pos:
                break
            result = membership
        return result

    def members(self, membership="join"):
        return [k for (t, k), ev in self.state.items()
                if t == "m.room.member"
                and ev["content"].get("membership") == membership]

    def state_at(self, pos):
        """State as it was right after stream position `pos`."""
        state = {}
        for ev in self.events:
            if ev["_pos"] > pos:
                break
            if "state_key" in ev:
                state[(ev["type"], ev["state_key"])] = ev
        return state

    def power_levels(self):
        content = self.state_content("m.room.power_levels")
        if content is not None:
            return content
        create = self.state_content("m.room.create") or {}
        # Before a power_levels event exists only the creator has power.
        return {"users": {create.get("creator", ""): 100}, "users_default": 0,
                "events_default": 0, "state_default": 0}

    def user_level(self, user):
        pl = self.power_levels()
        return int(pl.get("users", {}).get(user, pl.get("users_default", 0)))

    def level_for(self, etype, is_state):
        pl = self.power_levels()
        default = pl.get("state_default", 50) if is_state \
            else pl.get("events_default", 0)
        return int(pl.get("events", {}).get(etype, default))

    def join_rule(self):
        return (self.state_content("m.room.join_rules") or {}).get(
            "join_rule", "invite")

    def history_visibility(self):
        return (self.state_content("m.room.history_visibility") or {}).get(
            "history_visibility", "shared")

    def room_type(self):
        return (self.state_content("m.room.create") or {}).get("type")


class Store:
    """Everything the homeserver knows. Hold `cond` while touching it."""

    def __init__(self, server_name):
        self.server_name = server_name
        self.cond = threading.Condition()
        self.instance = random_id(6, string.ascii_lowercase)
        self.on_event = None   # called (lock held) with each new event
        self.reset()

    def reset(self):
        self.users = {}
        self.tokens = {}       # access token -> (user_id, device_id)
        self.rooms = {}
        self.pos = 1
        self.txns = {}         # (token, path) -> event_id
        self.uia_sessions = {}
        self.nonces = {}
        self.last_sync = {}    # user -> monotonic time of the last /sync
        self.change_pos = []   # ascending stream positions that changed
        self.change_room = []  # ... a room: its id (rooms_changed_since)
        self.blocked_rooms = set()  # Delete Room API with block=true

    # -- stream tokens (opaque to clients) -------------------------------
    def next_pos(self, room=None):
        """The next stream position; `room` is the room it changes."""
        self.pos += 1
        if room is not None:
            self.change_pos.append(self.pos)
            self.change_room.append(room.room_id)
        return self.pos

    def rooms_changed_since(self, pos):
        """Rooms with an event, typing or receipt after `pos`: what an
        incremental /sync looks at (not all rooms, on every wake-up)."""
        start = bisect.bisect_right(self.change_pos, pos)
        return [self.rooms[r] for r in dict.fromkeys(self.change_room[start:])
                if r in self.rooms]

    def sync_token(self, pos=None):
        return "s%d_%s" % (self.pos if pos is None else pos, self.instance)

    def page_token(self, pos):
        return "t%d_%s" % (pos, self.instance)

    def parse_token(self, token):
        """Position of a token we issued (s... or t...), else None."""
        if not token or token[0] not in "st":
            return None
        num, _, inst = token[1:].partition("_")
        if inst != self.instance or not num.isdigit():
            return None
        pos = int(num)
        return pos if pos <= self.pos else None

    # -- users and tokens ----------------------------------------------
    def user_id(self, localpart):
        return "@%s:%s" % (localpart, self.server_name)

    def add_user(self, localpart, password, admin=False):
        user = User(self.user_id(localpart), password, admin)
        self.users[user.user_id] = user
        return user

    def new_token(self, user_id, device_id=None):
        """device_id False: a token without a device (admin login)."""
        token = "syt_" + secrets.token_urlsafe(24)
        if device_id is False:
            device_id = None
        else:
            device_id = device_id or random_id(10, string.ascii_uppercase)
        self.tokens[token] = (user_id, device_id)
        return token, device_id

    def lookup_user(self, name):
        """A user by full id or by localpart, or None."""
        if name.startswith("@"):
            return self.users.get(name)
        return self.users.get(self.user_id(name))

    # -- events --------------------------------------------------------
    def add_event(self, room, etype, sender, content, state_key=None,
                  txn=None, redacts=None):
        ev = {"type": etype, "sender": sender, "content": content,
              "origin_server_ts": now_ms(), "event_id": new_event_id(),
              "room_id": room.room_id, "_pos": self.next_pos(room),
              "_txn": txn}
        if redacts:
            ev["redacts"] = redacts
        if state_key is not None:
            ev["state_key"] = state_key
            prev = room.state.get((etype, state_key))
            ev["_prev"] = prev
            room.state[(etype, state_key)] = ev
            if etype == "m.room.member":
                room.member_history.setdefault(state_key, []).append(
                    (ev["_pos"], content.get("membership")))
        room.events.append(ev)
        room.by_id[ev["event_id"]] = ev
        note_relation(room, ev)
        if self.on_event is not None:
            self.on_event(room, ev)     # the application service's push
        self.cond.notify_all()
        return ev

    def new_room(self, version):
        room_id = "!%s:%s" % (random_id(18), self.server_name)
        room = Room(room_id, version)
        self.rooms[room_id] = room
        return room


def client_event(ev, with_room_id=True, legacy=False, token=None,
                 reader=None, bundle=True):
    """An event as the client-server API shows it.

    with_room_id: /messages, /state, /event (sync leaves it out).
    legacy: the deprecated top-level user_id/age (and, for state events,
           prev_content/replaces_state) Synapse 1.67 still sent.
    token: the access token of the reader; its own sends carry
           unsigned.transaction_id, as on a real server.
    reader: user id of the reader, for the thread aggregation.
    bundle: add the bundled m.relations (and serve an edit's new
           content); /sync does only for a limited timeline, as Synapse
           1.67 (TimelineBatch.bundled_aggregations): in a gapless one
           the original shows as sent and its edit follows as its own
           event (transcript-1.67-stock.json #47).
    """
    age = max(0, now_ms() - ev["origin_server_ts"])
    out = {k: v for k, v in ev.items() if not k.startswith("_")}
    if not with_room_id:
        out.pop("room_id", None)
    unsigned = {"age": age}
    prev = ev.get("_prev")
    if prev is not None:
        unsigned["replaces_state"] = prev["event_id"]
        unsigned["prev_content"] = prev["content"]
        unsigned["prev_sender"] = prev["sender"]
    if ev.get("_redacted_because"):
        unsigned["redacted_because"] = client_event(
            ev["_redacted_because"], with_room_id)
    if token is not None and ev.get("_txn") and ev["_txn"][0] == token:
        unsigned["transaction_id"] = ev["_txn"][1]
    relations = _bundled_relations(ev, with_room_id, reader) if bundle \
        else None
    if relations:
        unsigned["m.relations"] = relations
        edit = ev["_relations"]["m.replace"][-1:] if "m.replace" in \
            ev["_relations"] else []
        if edit and isinstance(edit[0]["content"].get("m.new_content"),
                               dict):
            # Synapse 1.67 served the edited content in place of the
            # original (server-side edit application, dropped later),
            # keeping the original's own relation (a thread, a reply).
            content = dict(edit[0]["content"]["m.new_content"])
            content.pop("m.relates_to", None)
            if "m.relates_to" in ev["content"]:
                content["m.relates_to"] = ev["content"]["m.relates_to"]
            out["content"] = content
    out["unsigned"] = unsigned
    if legacy:
        out["user_id"] = ev["sender"]
        out["age"] = age
        for key in ("replaces_state", "prev_content"):
            if key in unsigned:
                out[key] = unsigned[key]
    return out


def note_relation(room, ev):
    """Index m.replace / m.thread relations on their target event."""
    rel = ev["content"].get("m.relates_to")
    if not isinstance(rel, dict) or rel.get("rel_type") not in (
            "m.replace", "m.thread"):
        return
    target = room.by_id.get(rel.get("event_id"))
    if target is None:
        return
    if rel["rel_type"] == "m.replace" and target["sender"] != ev["sender"]:
        return  # only the original sender may edit
    target.setdefault("_relations", {}).setdefault(
        rel["rel_type"], []).append(ev)


def _bundled_relations(ev, with_room_id, reader):
    rels = ev.get("_relations")
    if not rels:
        return None
    out = {}
    if rels.get("m.replace"):
        last = rels["m.replace"][-1]
        out["m.replace"] = {"event_id": last["event_id"],
                            "origin_server_ts": last["origin_server_ts"],
                            "sender": last["sender"]}
    if rels.get("m.thread"):
        thread = rels["m.thread"]
        out["m.thread"] = {
            "latest_event": client_event(thread[-1], with_room_id,
                                         legacy=with_room_id),
            "count": len(thread),
            "current_user_participated": reader is not None and (
                reader == ev["sender"] or
                any(t["sender"] == reader for t in thread))}
    return out


def stripped(ev):
    return {"type": ev["type"], "state_key": ev["state_key"],
            "content": ev["content"], "sender": ev["sender"]}
