"""The fake homeserver: route table, auth, JSON bodies, rate limiting and
its control interface. Endpoint logic lives in mx_account, mx_rooms and
mx_sync, the application service in mx_appservice, the media repository
in mx_media; the order of checks follows Synapse (route, then token,
then body), so a wrong path fails with M_UNRECOGNIZED before anything
else.
"""

import json
import math
import time

from . import (mx_account, mx_appservice, mx_media, mx_ratelimit,
               mx_room_admin, mx_rooms, mx_sync)
from .mx_store import MatrixError, Store, bad_json
from .web import App, NoRoute, Response, Router

C = r"/_matrix/client/(?:r0|v3)"   # Synapse serves both for these
ROOM = C + r"/rooms/([^/]+)"
MEDIA = mx_media.MEDIA               # /_matrix/media/(v1|r0|v3)

# (method, regex, handler, needs_token, rate-limited action)
ROUTES = [
    ("GET", r"/_matrix/client/versions", mx_account.versions, False, None),
    ("GET", C + r"/login", mx_account.login_flows, False, None),
    ("POST", C + r"/login", mx_account.login, False, "login"),
    ("POST", C + r"/logout", mx_account.logout, True, None),
    ("POST", C + r"/logout/all", mx_account.logout_all, True, None),
    ("GET", C + r"/account/whoami", mx_account.whoami, True, None),
    ("POST", C + r"/register", mx_account.register, False, "register"),
    ("GET", C + r"/register/available", mx_account.available, False, None),
    ("GET", C + r"/capabilities", mx_account.capabilities, True, None),
    ("GET", C + r"/profile/([^/]+)", mx_account.get_profile, False, None),
    ("GET", C + r"/profile/([^/]+)/(displayname|avatar_url)",
     mx_account.get_profile_field, False, None),
    ("PUT", C + r"/profile/([^/]+)/(displayname|avatar_url)",
     mx_account.set_profile_field, True, "action"),
    ("POST", C + r"/user/([^/]+)/filter", mx_account.post_filter, True, None),
    ("PUT", C + r"/user/([^/]+)/rooms/([^/]+)/account_data/([^/]+)",
     mx_account.put_room_account_data, True, None),
    ("GET", C + r"/user/([^/]+)/rooms/([^/]+)/account_data/([^/]+)",
     mx_account.get_room_account_data, True, None),
    ("GET", C + r"/user/([^/]+)/filter/([^/]+)", mx_account.get_filter,
     True, None),
    ("GET", r"/_synapse/admin/v1/register", mx_account.admin_nonce, False,
     None),
    ("POST", r"/_synapse/admin/v1/register", mx_account.admin_register,
     False, None),
    ("PUT", r"/_synapse/admin/v2/users/([^/]+)", mx_account.admin_put_user,
     True, None),
    ("GET", r"/_synapse/admin/v2/users/([^/]+)", mx_account.admin_get_user,
     True, None),
    ("POST", C + r"/createRoom", mx_rooms.create_room, True, "action"),
    ("GET", C + r"/joined_rooms", mx_rooms.joined_rooms, True, None),
    ("POST", C + r"/join/([^/]+)", mx_rooms.join, True, "action"),
    ("POST", ROOM + r"/join", mx_rooms.join, True, "action"),
    ("POST", ROOM + r"/leave", mx_rooms.leave, True, "action"),
    ("POST", ROOM + r"/forget", mx_rooms.forget, True, None),
    ("POST", ROOM + r"/invite", mx_rooms.invite, True, "action"),
    ("POST", ROOM + r"/kick", mx_rooms.kick, True, "action"),
    ("GET", ROOM + r"/state", mx_rooms.get_full_state, True, None),
    ("GET", ROOM + r"/state/([^/]+)/?", mx_rooms.get_state, True, None),
    ("GET", ROOM + r"/state/([^/]+)/([^/]*)", mx_rooms.get_state, True, None),
    ("PUT", ROOM + r"/state/([^/]+)/?", mx_rooms.put_state, True, "action"),
    ("PUT", ROOM + r"/state/([^/]+)/([^/]*)", mx_rooms.put_state, True,
     "action"),
    # send/redact rate-limit inside, after the transaction-id cache, so a
    # retried transaction is never refused (as in Synapse).
    ("PUT", ROOM + r"/send/([^/]+)/([^/]+)", mx_rooms.send, True, None),
    ("PUT", ROOM + r"/redact/([^/]+)/([^/]+)", mx_rooms.redact, True, None),
    ("GET", ROOM + r"/event/([^/]+)", mx_rooms.get_event, True, None),
    ("GET", ROOM + r"/joined_members", mx_rooms.joined_members, True, None),
    ("GET", ROOM + r"/members", mx_rooms.members, True, None),
    ("GET", ROOM + r"/messages", mx_rooms.messages, True, None),
    ("PUT", ROOM + r"/typing/([^/]+)", mx_rooms.typing, True, None),
    ("POST", ROOM + r"/receipt/([^/]+)/([^/]+)", mx_rooms.receipt, True,
     None),
    ("POST", ROOM + r"/read_markers", mx_rooms.read_markers, True, None),
    ("GET", r"/_matrix/client/v1/rooms/([^/]+)/hierarchy",
     mx_rooms.hierarchy, True, None),
    ("GET", C + r"/sync", mx_sync.sync, True, None),
    ("GET", r"/_synapse/admin/v1/users/([^/]+)/override_ratelimit",
     mx_ratelimit.override_get, True, None),
    ("POST", r"/_synapse/admin/v1/users/([^/]+)/override_ratelimit",
     mx_ratelimit.override_set, True, None),
    ("DELETE", r"/_synapse/admin/v1/users/([^/]+)/override_ratelimit",
     mx_ratelimit.override_delete, True, None),
    ("POST", r"/_synapse/admin/v1/users/([^/]+)/login",
     mx_ratelimit.admin_login, True, None),
    ("DELETE", r"/_synapse/admin/v1/rooms/([^/]+)",
     mx_room_admin.delete_room, True, None),
    # Authenticated inside: without an application service (or with
    # `ping: false`) the endpoint does not exist, token or not.
    ("POST", r"/_matrix/client/v1/appservice/([^/]*)/ping",
     mx_appservice.ping, False, None),
    # The media repository (mx_media): 1.67's resources are leaves, so
    # anything under upload/ and download/ reaches them; the client v1
    # paths exist only with config media.authenticated.
    ("POST", MEDIA + r"/upload(?:/.*)?", mx_media.upload, True, None),
    ("GET", MEDIA + r"/download(/.*)?", mx_media.legacy_download, False,
     None),
    ("GET", MEDIA + r"/config(?:/.*)?", mx_media.media_config, True, None),
    ("GET", mx_media.MEDIA_V1 + r"/download/([^/]*)/([^/]*)(?:/([^/]*))?",
     mx_media.v1_download, True, None),
    ("GET", mx_media.MEDIA_V1 + r"/config", mx_media.media_config, True,
     None),
]

# The bucket of the synapse-defaults profile each "action" route takes
# (mx_ratelimit); None: that route is limited inside its handler, or not
# at all (leave, kick).
PROFILE_KIND = {
    mx_rooms.join: "join", mx_rooms.create_room: "create",
    mx_rooms.invite: None, mx_rooms.leave: None, mx_rooms.kick: None,
}


class RateLimiter:
    """Token bucket per (user, kind), like Synapse's rc_* settings."""

    def __init__(self):
        self.configure(enabled=False)

    def configure(self, enabled, per_second=0.2, burst=10):
        self.enabled = enabled
        self.per_second = float(per_second)
        self.burst = float(burst)
        self.buckets = {}

    def check(self, key):
        """None when allowed, else milliseconds until the next token."""
        if not self.enabled:
            return None
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.per_second)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            return None
        self.buckets[key] = (tokens, now)
        return int(math.ceil((1 - tokens) / self.per_second * 1000))


def limit_exceeded(retry_ms):
    return MatrixError(429, "M_LIMIT_EXCEEDED", "Too Many Requests",
                       headers=[("Retry-After",
                                 str(int(math.ceil(retry_ms / 1000.0))))],
                       retry_after_ms=retry_ms)


class Ctx:
    """What a handler gets: the request, the store, and who is asking."""

    def __init__(self, app, req):
        self.app = app
        self.req = req
        self.store = app.store
        self.config = app.config
        self.user_id = None
        self.token = None
        self.device_id = None
        self.appservice = None      # the Registration, for the as_token

    def json(self, allow_empty=False):
        """The body as a JSON object, or the error Synapse gives."""
        raw = self.req.body
        if not raw.strip() and allow_empty:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise MatrixError(400, "M_NOT_JSON", "Content not JSON.")
        if not isinstance(value, dict):
            raise bad_json("Content must be a JSON object.")
        return value

    def ratelimit(self, kind, key=None):
        if mx_ratelimit.exempt(self, "message" if kind == "action"
                               else kind):
            return  # people acted by the test, an unlimited service
        profile = self.app.profile
        if profile.enabled:
            if kind == "login":
                user = self.store.lookup_user(key)
                profile.login(self, user.user_id if user else key)
            else:
                profile.action(self, "message")
            return
        retry = self.app.limiter.check((kind, key or self.user_id))
        if retry is not None:
            raise limit_exceeded(retry)


class HomeserverApp(App):
    name = "fake_homeserver"
    server_header = "Synapse/1.67.0 (fake)"
    handler_class = mx_media.MediaHandler   # raw upload bodies

    def __init__(self, server_name, config=None):
        self.store = Store(server_name)
        self.limiter = RateLimiter()
        self.profile = mx_ratelimit.Profile()
        self.router = Router()
        for method, pattern, func, needs_token, limit in ROUTES:
            self.router.add(method, pattern,
                            (func, needs_token, limit))
        self.appservice = mx_appservice.Appservice(self)
        self.store.on_event = self.appservice.on_event
        self.media = mx_media.MediaRepo(self)
        self.base_config = dict(config or {})
        self.config = {}
        self.reset()

    def reset(self):
        with self.store.cond:
            self.store.reset()
            self.human_tokens = {}
            self.config = {"registration": "dummy",
                           "registration_token": None,
                           "shared_secret": None, "synapse_admin": True,
                           "admin_login": True,
                           "media": mx_media.default_config()}
            self.config.update(self.base_config)
            self.limiter.configure(enabled=False)
            self.profile.configure(None)
            self.profile.overrides = {}
            self.appservice.reset()
            self.media.reset()
            self.store.cond.notify_all()

    # -- the client-server API -----------------------------------------
    def handle(self, req):
        ctx = Ctx(self, req)
        try:
            with self.store.cond:
                result = self._route(ctx)
            if isinstance(result, mx_appservice.Later):
                result = result.run()   # a call out, without the lock
            return result
        except MatrixError as err:
            if err.status == 429:       # what the client was told
                req.log_extra["retry_after_ms"] = err.extra.get(
                    "retry_after_ms")
            return err.response()

    def _route(self, ctx):
        req = ctx.req
        if req.path.startswith("/_synapse/") and \
                not self.config["synapse_admin"]:
            # Look like a non-Synapse server: the admin API does not exist.
            raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
        mx_media.precheck(self, req)
        try:
            (func, needs_token, limit), args = self.router.resolve(
                req.method, req.path)
        except NoRoute as nr:
            # Synapse 1.67's media resources answer a method they lack
            # with 400, the servlets with 405.
            if nr.path_known and not mx_media.is_leaf_path(req.path):
                raise MatrixError(405, "M_UNRECOGNIZED",
                                  "Unrecognized request")
            raise MatrixError(400, "M_UNRECOGNIZED", "Unrecognized request")
        if needs_token:
            self.authenticate(ctx)
        if limit == "action" and self.profile.enabled:
            kind = PROFILE_KIND.get(func, "message")
            if kind:
                self.profile.action(ctx, kind)
        elif limit == "action":
            ctx.ratelimit("action")
        result = func(ctx, *args)
        if isinstance(result, (Response, mx_appservice.Later)):
            return result
        status, body = result
        return Response.json(status, body)

    def authenticate(self, ctx):
        req = ctx.req
        auth = req.header("Authorization", "")
        token = None
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
        elif req.arg("access_token"):
            token = req.arg("access_token")
        if not token:
            raise MatrixError(401, "M_MISSING_TOKEN", "Missing access token")
        if self.appservice.authenticate(ctx, token):
            return
        found = self.store.tokens.get(token)
        user = self.store.users.get(found[0]) if found else None
        if not found or user is None or user.deactivated:
            raise MatrixError(401, "M_UNKNOWN_TOKEN",
                              "Invalid access token passed.",
                              soft_logout=False)
        ctx.user_id, ctx.device_id = found
        ctx.token = token
        req.log_extra["user"] = ctx.user_id

    def fault_response(self, rule):
        status = rule["status"]
        headers = list((rule.get("headers") or {}).items())
        if "body" in rule:
            return Response.json(status, rule["body"], headers)
        if status == 429 or "retry_after_ms" in rule:
            ms = int(rule.get("retry_after_ms", 1000))
            err = limit_exceeded(ms)
            err.status = status
            return err.response()
        return Response.json(status, {"errcode": "M_UNKNOWN",
                                      "error": "Injected fault"}, headers)

    # -- control interface ----------------------------------------------
    def control(self, req, sub):
        from . import mx_control
        return mx_control.dispatch(self, req, sub)
