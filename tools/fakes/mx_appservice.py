"""One application service on the fake homeserver, as Synapse treats it.

The registration (loaded by `POST /_fake/appservice`, as Synapse loads
its app_service_config_files) is checked as Synapse's load_appservices
checks it; then, as Synapse (synapse/api/auth.py, handlers/register.py,
appservice/__init__.py):

- a request whose access token is the `as_token` acts as the sender
  (@<sender_localpart>:<server>), or with `?user_id=` as that user if
  the service is interested in it (any users namespace, exclusive or not:
  else 403 "Application service cannot masquerade as this user.") and it
  exists (else 403 "Application service has not registered this user");
  no device;
- `POST /register` `{"type": "m.login.application_service", "username"}`
  with the as_token: a user the service is interested in (else 400
  M_EXCLUSIVE "Invalid user localpart for this application service."), no
  password (so it can never log in), no name checks ("carte blanche"),
  registration enabled or not; a token and device unless `inhibit_login`
  (as Synapse 1.67). Anyone else registering a name in an exclusive
  namespace (or the sender's): 400 M_EXCLUSIVE "This user ID is reserved
  by an application service." (also `register/available` and the admin
  APIs that make users);
- rate limits: nothing the service does (as_token) is limited with
  `rate_limited: false`; with true (the default) everything is, except
  that the sender's own messages are never limited (RequestRatelimiter);
- events: every event stored in a room whose id is in the rooms namespace,
  sent by a user the service is interested in, a membership event whose
  state_key is one, or in a room one of them is joined to (the sender
  included) is pushed (mx_as_push), in Synapse 1.67's client format
  (legacy top-level `user_id`, `age`; no bundled relations, no
  transaction_id); its own events too;
- `POST /_matrix/client/v1/appservice/<id>/ping` (Synapse 1.84+, option
  `ping`): the fake pings the service and answers {"duration_ms"} or 502
  M_BAD_STATUS (+ status, body) / M_CONNECTION_FAILED, 504
  M_CONNECTION_TIMEOUT, 400 M_URL_NOT_SET when `url` is null.

The sender's account is made when the registration is loaded (registering
it again is then M_USER_IN_USE). Aliases do not exist on this fake, so an
aliases namespace never matches anything.
"""

import hmac
import json
import re
import time
import urllib.parse

from . import mx_as_push, mx_as_yaml
from .mx_store import MatrixError, client_event, forbidden, unknown
from .web import Response

REG_KEYS = ("id", "url", "as_token", "hs_token", "sender_localpart",
            "namespaces", "rate_limited", "protocols", "receive_ephemeral",
            "de.sorunome.msc2409.push_ephemeral")
NAMESPACES = ("users", "aliases", "rooms")
OPTIONS = {"paths": "v1", "ping": True, "retry_ms": 200,
           "retry_max_ms": 2000, "max_events": 100, "timeout_ms": 5000}
AS_TYPE = "m.login.application_service"


class Registration:
    """A checked registration; the regexes match as Synapse's do
    (re.match: anchored at the start only)."""

    def __init__(self, data, server_name, warnings):
        self.raw = data
        self.id = data["id"]
        url = data["url"]
        self.url = url.rstrip("/") if isinstance(url, str) else None
        self.as_token = data["as_token"]
        self.hs_token = data["hs_token"]
        self.sender_localpart = data["sender_localpart"]
        self.sender = "@%s:%s" % (self.sender_localpart, server_name)
        rate = data.get("rate_limited")
        if "rate_limited" in data and not isinstance(rate, bool):
            warnings.append("rate_limited is %r, not a boolean: Synapse "
                            "takes that as true" % (rate,))
        self.rate_limited = rate if isinstance(rate, bool) else True
        self.namespaces = {ns: [(re.compile(e["regex"]), e["exclusive"])
                                for e in data["namespaces"].get(ns) or []]
                           for ns in NAMESPACES}

    def _first(self, ns, value):
        for regex, exclusive in self.namespaces[ns]:
            if regex.match(value):
                return exclusive
        return None

    def interested_in_user(self, user_id):
        return user_id == self.sender or \
            self._first("users", user_id) is not None

    def exclusive_user(self, user_id):
        return user_id == self.sender or bool(self._first("users", user_id))

    def interested_in_event(self, room, ev):
        if self._first("rooms", room.room_id) is not None:
            return True
        if self.interested_in_user(ev["sender"]):
            return True
        if ev["type"] == "m.room.member" and \
                self.interested_in_user(ev.get("state_key", "")):
            return True
        return any(self.interested_in_user(u) for u in room.members("join"))

    def owns_token(self, token):
        return hmac.compare_digest(token.encode("utf-8", "replace"),
                                   self.as_token.encode("utf-8", "replace"))


def check_registration(data, strict_keys):
    """Synapse's checks of a registration (config/appservice.py), as
    ValueError; returns (the registration, the keys it ignores). Unknown
    keys are refused with `strict_keys` (the JSON form, where a typo in an
    option would otherwise pass unseen)."""
    if not isinstance(data, dict):
        raise ValueError("the registration must be an object")
    ignored = []
    for key in data:
        if key not in REG_KEYS:
            ignored.append(key)
    for field in ("id", "as_token", "hs_token", "sender_localpart"):
        if not isinstance(data.get(field), str):
            raise ValueError("Required string field: '%s'" % field)
    if "url" not in data or not (data["url"] is None or
                                 isinstance(data["url"], str)):
        raise ValueError("Required string field or explicit null: 'url'")
    url = data["url"]
    if isinstance(url, str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http(s)://host[:port][/path], "
                             "got %r" % url)
    if "|" in data["id"]:
        raise ValueError("application service ID cannot contain '|' "
                         "character")
    local = data["sender_localpart"]
    if not local or urllib.parse.quote(local) != local:
        raise ValueError("sender_localpart needs characters which are not "
                         "URL encoded.")
    if not data["as_token"] or not data["hs_token"]:
        raise ValueError("as_token and hs_token may not be empty")
    namespaces = data.get("namespaces")
    if not isinstance(namespaces, dict):
        raise ValueError("Requires 'namespaces' object.")
    for ns, entries in namespaces.items():
        if ns not in NAMESPACES:
            ignored.append("namespaces." + ns)
            continue
        _check_namespace(ns, entries)
    protocols = data.get("protocols")
    if protocols is not None and (not isinstance(protocols, list) or not
                                  all(isinstance(p, str) for p in protocols)):
        raise ValueError("Expected 'protocols' to be a list of strings")
    for key in ("receive_ephemeral", "de.sorunome.msc2409.push_ephemeral"):
        if data.get(key):
            raise ValueError("%s: ephemeral events are not faked" % key)
    if strict_keys and ignored:
        raise ValueError("unknown keys %s (registration keys: %s; options: "
                         "%s, yaml)" % (sorted(ignored), ", ".join(REG_KEYS),
                                        ", ".join(OPTIONS)))
    return data, ignored


def _check_namespace(ns, entries):
    if entries is None:
        return
    if not isinstance(entries, list):
        raise ValueError("Bad namespace value for '%s'" % ns)
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("Expected namespace entry in %s to be an "
                             "object, but got %r" % (ns, entry))
        if not isinstance(entry.get("regex"), str):
            raise ValueError("Missing/bad type 'regex' key in %r" % entry)
        if not isinstance(entry.get("exclusive"), bool):
            raise ValueError("Missing/bad type 'exclusive' key in %r"
                             % entry)
        try:
            re.compile(entry["regex"])
        except re.error as exc:
            raise ValueError("bad regex %r in %s: %s"
                             % (entry["regex"], ns, exc))


def check_options(body):
    opts = dict(OPTIONS)
    for key in OPTIONS:
        if key in body:
            opts[key] = body.pop(key)
    if opts["paths"] not in ("v1", "legacy"):
        raise ValueError("paths must be \"v1\" or \"legacy\"")
    if not isinstance(opts["ping"], bool):
        raise ValueError("ping must be true or false")
    for key in ("retry_ms", "retry_max_ms", "max_events", "timeout_ms"):
        if not isinstance(opts[key], int) or isinstance(opts[key], bool) \
                or opts[key] < 1:
            raise ValueError("%s must be a positive integer" % key)
    return opts


class Appservice:
    """The registration, its options and its pusher; state is changed with
    the store's lock held (then the pusher's)."""

    def __init__(self, app):
        self.app = app
        self.pusher = mx_as_push.Pusher()
        self.reg = None
        self.options = dict(OPTIONS)
        self.loaded = {}

    def reset(self):
        self.reg = None
        self.options = dict(OPTIONS)
        self.loaded = {}
        self.pusher.reset()

    # -- the store's hook: every new event ----------------------------------
    def on_event(self, room, ev):
        reg = self.reg
        if reg is None or reg.url is None or \
                not reg.interested_in_event(room, ev):
            return
        shown = client_event(ev, legacy=True, bundle=False)
        self.pusher.enqueue(ev["event_id"], json.dumps(
            shown, separators=(",", ":")))

    # -- who is asking --------------------------------------------------------
    def authenticate(self, ctx, token):
        """True when `token` is the as_token (ctx then acts as the sender
        or the masqueraded user); raises Synapse's 403s."""
        reg = self.reg
        if reg is None or not reg.owns_token(token):
            return False
        user_id = ctx.req.arg("user_id")
        if user_id is None or user_id == reg.sender:
            user_id = reg.sender
        elif not reg.interested_in_user(user_id):
            raise forbidden("Application service cannot masquerade as this "
                            "user.")
        elif user_id not in ctx.store.users:
            raise forbidden("Application service has not registered this "
                            "user")
        ctx.user_id, ctx.device_id, ctx.token = user_id, None, token
        ctx.appservice = reg
        ctx.req.log_extra["user"] = user_id
        ctx.req.log_extra["appservice"] = reg.id
        return True

    def is_sender(self, user_id):
        return self.reg is not None and user_id == self.reg.sender

    def check_not_exclusive(self, user_id):
        """For every registration that is not the service's own."""
        if self.reg is not None and self.reg.exclusive_user(user_id):
            raise MatrixError(400, "M_EXCLUSIVE", "This user ID is reserved "
                              "by an application service.")

    # -- control --------------------------------------------------------------
    def load(self, body):
        body = dict(body)
        opts = check_options(body)
        warnings = []
        if "yaml" in body:
            text = body.pop("yaml")
            if body:
                raise ValueError("give the registration as yaml or as "
                                 "JSON keys, not both (also: %s)"
                                 % sorted(body))
            data, ignored = check_registration(mx_as_yaml.parse(text),
                                               strict_keys=False)
        else:
            data, ignored = check_registration(body, strict_keys=True)
        store = self.app.store
        with store.cond:
            reg = Registration(data, store.server_name, warnings)
            old = self.reg
            keep = old is not None and old.id == reg.id
            self.reg, self.options = reg, opts
            self.loaded = {"ignored_keys": ignored, "warnings": warnings}
            if store.lookup_user(reg.sender) is None:
                user = store.add_user(reg.sender_localpart, None)
                user.appservice_id = reg.id
            self.pusher.configure(reg, opts, keep)
            return self.describe()

    def remove(self):
        with self.app.store.cond:
            found = self.reg is not None
            self.reg = None
            self.options = dict(OPTIONS)
            self.loaded = {}
            self.pusher.stop()
            return {"removed": found}

    def describe(self):
        with self.app.store.cond:
            reg = self.reg
            if reg is None:
                return {"registration": None, "delivery":
                        self.pusher.describe()}
            return dict({"registration": reg.raw, "options": self.options,
                         "sender": reg.sender,
                         "rate_limited": reg.rate_limited,
                         "delivery": self.pusher.describe()}, **self.loaded)


# -- the client-server API ----------------------------------------------------
def has_token(req):
    return bool(req.header("Authorization")) or "access_token" in req.query


def register(ctx, body):
    """POST /register with type m.login.application_service (before the
    registration-enabled check and the user-interactive auth)."""
    if not has_token(ctx.req):
        raise unknown("Appservice token must be provided when using a type "
                      "of m.login.application_service")
    auth = ctx.req.header("Authorization", "")
    token = auth[7:].strip() if auth.startswith("Bearer ") else \
        ctx.req.arg("access_token", "")
    reg = ctx.app.appservice.reg
    if reg is None or not reg.owns_token(token):
        raise MatrixError(401, "M_UNKNOWN_TOKEN",
                          "Invalid access token passed.", soft_logout=False)
    ctx.req.log_extra["appservice"] = reg.id
    # Synapse 1.67 took the AS API's "user" before "username".
    username = body.get("user", body.get("username"))
    if not isinstance(username, str):
        raise unknown("Desired Username is missing or not a string")
    ctx.app.profile.register(ctx, made=False)
    user_id = ctx.store.user_id(username)
    if not reg.interested_in_user(user_id):
        raise MatrixError(400, "M_EXCLUSIVE", "Invalid user localpart for "
                          "this application service.")
    if ctx.store.lookup_user(user_id) is not None:
        raise MatrixError(400, "M_USER_IN_USE", "User ID already taken.")
    user = ctx.store.add_user(username, None)
    if reg.exclusive_user(user_id):
        user.appservice_id = reg.id
    ctx.req.log_extra["user"] = user_id
    out = {"user_id": user_id, "home_server": ctx.store.server_name}
    if not body.get("inhibit_login"):
        token, device = ctx.store.new_token(user_id, body.get("device_id"))
        out.update({"access_token": token, "device_id": device})
    return 200, out


def ping(ctx, appservice_id):
    """POST /_matrix/client/v1/appservice/<id>/ping: checked with the
    store's lock held; the call out to the service runs after it is
    released (Later)."""
    service = ctx.app.appservice
    if service.reg is None:
        raise MatrixError(400, "M_UNRECOGNIZED", "Unrecognized request")
    if not service.options["ping"]:
        raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
    ctx.app.authenticate(ctx)
    reg = getattr(ctx, "appservice", None)
    if reg is None:
        raise forbidden("Only application services can use the "
                        "/appservice/ping endpoint")
    if reg.id != appservice_id:
        raise forbidden("Mismatching application service ID in path")
    if reg.url is None:
        raise MatrixError(400, "M_URL_NOT_SET", "The application service "
                          "does not have a URL set")
    body = ctx.json()
    txn_id = body.get("transaction_id")
    opts = dict(service.options)
    return Later(lambda: _ping(service.pusher, reg, opts, txn_id))


def _ping(pusher, reg, opts, txn_id):
    entry = {"kind": "ping", "txn_id": txn_id, "auth": "header"}
    start = time.monotonic()
    status, answer = pusher.call(
        reg, opts, "POST", "/_matrix/app/v1/ping",
        {"Authorization": "Bearer " + reg.hs_token},
        mx_as_push.ping_body(txn_id), "ping", entry)
    duration = time.monotonic() - start
    if status is not None and 200 <= status < 300:
        return 200, {"duration_ms": int(duration * 1000)}
    if status is not None:
        extra = {"status": status}
        try:
            extra["body"] = answer.decode("utf-8")
        except UnicodeDecodeError:
            pass
        err = MatrixError(502, "M_BAD_STATUS", "HTTP %d %s"
                          % (status, entry.get("reason") or ""))
        err.extra.update(extra)     # "status" is also MatrixError's own
        raise err
    if entry.get("timed_out"):
        raise MatrixError(504, "M_CONNECTION_TIMEOUT", "Timed out")
    raise MatrixError(502, "M_CONNECTION_FAILED", entry.get("error") or
                      "connection failed")


class Later:
    """A handler's result to compute once the store's lock is released
    (mx_app.HomeserverApp.handle): a call out to the service."""

    def __init__(self, func):
        self.func = func

    def run(self):
        status, body = self.func()
        return Response.json(status, body)


# -- control: /_fake/appservice[/pushes|/faults] ------------------------------
def control(app, req, parts, body):
    service = app.appservice
    pusher = service.pusher
    sub = parts[1:]
    method = req.method
    if sub == [] and method == "POST":
        return Response.json(200, service.load(body))
    if sub == [] and method == "GET":
        return Response.json(200, service.describe())
    if sub == [] and method == "DELETE":
        return Response.json(200, service.remove())
    if sub == ["pushes"] and method == "GET":
        kind = req.arg("kind")
        return Response.json(200, {"pushes": pusher.pushes(
            kind, int(req.arg("since", "0")))})
    if sub == ["pushes"] and method == "DELETE":
        pusher.log.clear()
        return Response.json(200, {})
    if sub == ["faults"] and method == "POST":
        try:
            return Response.json(200, pusher.faults.add(body))
        except mx_as_push.faultmod.FaultError as exc:
            return Response.json(400, {"error": str(exc)})
    if sub == ["faults"] and method == "GET":
        return Response.json(200, {"faults": pusher.faults.list()})
    if sub == ["faults"] and method == "DELETE":
        pusher.faults.clear()
        return Response.json(200, {})
    return None
