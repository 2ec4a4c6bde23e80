"""Synapse's rate limits as a profile, and the admin API that lifts them.

The profile `synapse-defaults` has the buckets of Synapse 1.67 with no
`rc_*` settings, as measured in shared/reference/synapse/
transcript-1.67-stock.json:

  join           rc_joins.local       0.1/s, burst 10, per user
  message        rc_message           0.2/s, burst 10, per user: sends,
                                      state events, profile changes,
                                      redactions; createRoom needs one
                                      token and takes two (the room and
                                      its creator's join: 8 m.space.child
                                      pass after a Space was made, and a
                                      refused createRoom is told ~5 s)
  login_account  rc_login.account     0.17/s, burst 3, per account
  login_address  rc_login.address     0.17/s, burst 3, per address (the
                                      recording's 3rd quick login is
                                      refused 1.4 s short of a full token:
                                      one earlier login went unrecorded)
  invite_room    rc_invites.per_room  0.3/s, burst 10
  invite_user    rc_invites.per_user  0.003/s, burst 5, per invited user
  invite_issuer  rc_invites.per_issuer 0.3/s, burst 10
  register       rc_registration      0.17/s, burst 3, per address (checked
                                      on every /register, counted when an
                                      account is made)

A refused request takes no token (as Synapse). The answer is Synapse
1.67's: 429 {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
"retry_after_ms": N} and no Retry-After header (`header: true` adds one,
in whole seconds rounded up, as newer servers send).

`time_scale` (default 1) runs the buckets' clock faster: with 0.1 every
bucket refills ten times as fast and `retry_after_ms` says the (ten times
shorter) real time until the next token, so a client is always told the
truth about the fake it talks to and a request sooner than told is still
refused. Only the speed changes, not the shape: benchmarks scale their
waiting time back with it.

An application service (mx_appservice) with `rate_limited: false` is
never limited in what it does with its as_token (Ratelimiter.can_do_action
skips a requester whose service is not rate limited); with `true` it is,
but its sender's messages never are (RequestRatelimiter: "The AS user
itself is never rate limited", whatever token it uses). Registration has
no requester: an application service's registrations are checked against
the address's bucket and never counted, as on Synapse.

override_ratelimit (admin API): {"messages_per_second": 0,
"burst_count": 0} lifts every limit of requests that user makes (joins,
messages, invites), as in the transcript; other values replace their rate
and burst. Limits of requests made before login (logins, registration)
have no requester and stay, as in Synapse.
"""

import math
import time

from .mx_store import MatrixError

PROFILES = {
    "synapse-defaults": {
        "join": (0.1, 10),
        "message": (0.2, 10),
        "login_account": (0.17, 3),
        "login_address": (0.17, 3),
        "invite_room": (0.3, 10),
        "invite_user": (0.003, 5),
        "invite_issuer": (0.3, 10),
        "register": (0.17, 3),
    },
}
ADDRESS = "127.0.0.1"   # every client of the fake comes from loopback


def exempt(ctx, kind):
    """Whether a request is not limited at all: people acted by the test
    (control), anything an application service with `rate_limited: false`
    does, and its sender's messages (`kind` "message")."""
    if getattr(ctx.req, "control", False):
        return True
    service = getattr(ctx, "appservice", None)
    if service is not None and not service.rate_limited:
        return True
    return kind == "message" and ctx.app.appservice.is_sender(ctx.user_id)


def limit_exceeded(retry_ms, header):
    headers = []
    if header:
        headers = [("Retry-After", str(int(math.ceil(retry_ms / 1000.0))))]
    return MatrixError(429, "M_LIMIT_EXCEEDED", "Too Many Requests",
                       headers=headers, retry_after_ms=retry_ms)


class Profile:
    """Token buckets per (kind, key) with Synapse's default settings."""

    def __init__(self):
        self.configure(None)
        self.overrides = {}     # user -> (per_second, burst)

    def configure(self, name, header=False, time_scale=1.0):
        if name is not None and name not in PROFILES:
            raise KeyError("unknown rate-limit profile %r" % name)
        time_scale = float(time_scale)
        if not 0 < time_scale <= 1:
            raise ValueError("time_scale must be in (0, 1]")
        self.name = name
        self.header = bool(header)
        self.scale = time_scale
        self.buckets = {}

    @property
    def enabled(self):
        return self.name is not None

    def describe(self):
        return {"profile": self.name, "header": self.header,
                "time_scale": self.scale}

    def _setting(self, kind, requester):
        rate, burst = PROFILES[self.name][kind]
        over = self.overrides.get(requester) if requester else None
        if over is not None:
            if over == (0, 0):
                return None         # lifted
            rate, burst = over
        return rate / self.scale, float(burst)

    def _tokens(self, kind, key, setting, now):
        rate, burst = setting
        tokens, last = self.buckets.get((kind, key), (burst, now))
        return min(burst, tokens + (now - last) * rate)

    def check(self, kind, key, requester=None, cost=1, update=True,
              need=None):
        """Take `cost` tokens of (kind, key) (at most down to 0) when
        `need` (default: cost) are there, or raise the 429."""
        if not self.enabled:
            return
        setting = self._setting(kind, requester)
        if setting is None:
            return
        now = time.monotonic()
        tokens = self._tokens(kind, key, setting, now)
        need = cost if need is None else need
        if tokens >= need:
            if update:
                self.buckets[(kind, key)] = (max(0.0, tokens - cost), now)
            return
        self.buckets[(kind, key)] = (tokens, now)
        wait = (need - tokens) / setting[0]
        raise limit_exceeded(int(math.ceil(wait * 1000)), self.header)

    # -- what the routes take ----------------------------------------------
    def action(self, ctx, kind):
        """A per-user action of the client API (see mx_app.LIMITS)."""
        if not self.enabled or exempt(ctx, "message" if kind == "create"
                                      else kind):
            return
        if kind == "create":
            self.check("message", ctx.user_id, ctx.user_id, cost=2, need=1)
        else:
            self.check(kind, ctx.user_id, ctx.user_id)

    def login(self, ctx, user_id):
        if getattr(ctx.req, "control", False) or not self.enabled:
            return
        self.check("login_address", ADDRESS)
        self.check("login_account", user_id)

    def register(self, ctx, made):
        """Checked on every /register; counted when an account is made."""
        if getattr(ctx.req, "control", False) or not self.enabled:
            return
        self.check("register", ADDRESS, update=made)

    def room_invites(self, ctx, n):
        """createRoom's `invite` list: Synapse checks the issuer's bucket
        could take them all (without taking them) and refuses more than
        that with a 400; the invites themselves are not limited."""
        if not self.enabled or not n or exempt(ctx, "invite"):
            return
        try:
            self.check("invite_issuer", ctx.user_id, ctx.user_id, cost=n,
                       update=False)
        except MatrixError:
            raise MatrixError(400, "M_UNKNOWN",
                              "Cannot invite so many users at once")

    def invite(self, ctx, room_id, target):
        if not self.enabled or exempt(ctx, "invite"):
            return
        me = ctx.user_id
        self.check("invite_issuer", me, me)
        self.check("invite_room", room_id, me)
        self.check("invite_user", target, me)


# -- the admin API ---------------------------------------------------------
def _admin_target(ctx, user_id):
    from .mx_account import _require_admin
    _require_admin(ctx)
    local, _, server = user_id[1:].partition(":")
    if not user_id.startswith("@") or server != ctx.store.server_name:
        raise MatrixError(400, "M_UNKNOWN", "Can only look up local users")
    if user_id not in ctx.store.users:
        raise MatrixError(404, "M_NOT_FOUND", "User not found")
    return user_id


def override_get(ctx, user_id):
    user_id = _admin_target(ctx, user_id)
    over = ctx.app.profile.overrides.get(user_id)
    if over is None:
        return 200, {}
    return 200, {"messages_per_second": over[0], "burst_count": over[1]}


def override_set(ctx, user_id):
    user_id = _admin_target(ctx, user_id)
    body = ctx.json(allow_empty=True)
    values = []
    for key in ("messages_per_second", "burst_count"):
        value = body.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) \
                or value < 0:
            raise MatrixError(400, "M_INVALID_PARAM",
                              "%r parameter must be a positive int" % key)
        values.append(value)
    ctx.app.profile.overrides[user_id] = tuple(values)
    return 200, {"messages_per_second": values[0],
                 "burst_count": values[1]}


def override_delete(ctx, user_id):
    user_id = _admin_target(ctx, user_id)
    ctx.app.profile.overrides.pop(user_id, None)
    return 200, {}


def admin_login(ctx, user_id):
    """POST /_synapse/admin/v1/users/<id>/login: a token for that user,
    no device, no login limit. `admin_login: false` makes it unknown."""
    if not ctx.config.get("admin_login", True):
        raise MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request")
    user_id = _admin_target(ctx, user_id)
    body = ctx.json(allow_empty=True)
    until = body.get("valid_until_ms")
    if until is not None and not isinstance(until, int):
        raise MatrixError(400, "M_INVALID_PARAM",
                          "'valid_until_ms' parameter must be an int")
    if user_id == ctx.user_id:
        raise MatrixError(400, "M_UNKNOWN",
                          "Cannot use admin API to login as self")
    token, _ = ctx.store.new_token(user_id, device_id=False)
    ctx.req.log_extra["as_user"] = user_id
    return 200, {"access_token": token}
