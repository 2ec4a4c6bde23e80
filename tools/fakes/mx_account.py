"""Accounts: versions, login/logout/whoami, registration with the
user-interactive flow, profiles, filters, and Synapse's admin APIs.

Every handler takes a mx_app.Ctx (store lock held) plus the decoded path
groups, and returns (status, body) or raises MatrixError.
"""

import hashlib
import hmac
import re
import secrets

from . import mx_appservice, mx_filter, mx_media
from .mx_store import (MatrixError, bad_json, forbidden, missing_param,
                       not_found, unknown)

# Recorded from Synapse 1.67 (transcript "versions").
VERSIONS = {
    "versions": ["r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0",
                 "r0.6.0", "r0.6.1", "v1.1", "v1.2"],
    "unstable_features": {
        "org.matrix.label_based_filtering": True,
        "org.matrix.e2e_cross_signing": True,
        "org.matrix.msc2432": True,
        "uk.half-shot.msc2666.mutual_rooms": True,
        "io.element.e2ee_forced.public": False,
        "io.element.e2ee_forced.private": False,
        "io.element.e2ee_forced.trusted_private": False,
        "org.matrix.msc3026.busy_presence": False,
        "org.matrix.msc2285.stable": True,
        "org.matrix.msc3827.stable": True,
        "org.matrix.msc2716": False,
        "org.matrix.msc3030": False,
        "org.matrix.msc3440.stable": True,
        "fi.mau.msc2815": False},
}
LOCALPART_RE = re.compile(r"[a-z0-9._=\-/]+")


def versions(ctx):
    return 200, mx_media.versions(ctx, VERSIONS)


def capabilities(ctx):
    return 200, {"capabilities": {
        "m.change_password": {"enabled": True},
        "m.room_versions": {"default": "9", "available": {
            v: "stable" for v in map(str, range(1, 11))}}}}


# -- login ------------------------------------------------------------------
def login_flows(ctx):
    return 200, {"flows": [{"type": "m.login.password"}]}


def _login_user_name(body):
    ident = body.get("identifier")
    if isinstance(ident, dict):
        if ident.get("type") != "m.id.user":
            raise unknown("Unknown login identifier type")
        return ident.get("user")
    return body.get("user")   # the deprecated top-level form


def login(ctx):
    body = ctx.json()
    if body.get("type") != "m.login.password":
        raise unknown("Unknown login type %s" % body.get("type"))
    name = _login_user_name(body)
    if not isinstance(name, str) or not isinstance(body.get("password"), str):
        raise missing_param("Missing parameter: user or password")
    ctx.ratelimit("login", name)
    user = ctx.store.lookup_user(name)
    if user is None or user.deactivated or user.password is None or \
            not hmac.compare_digest(user.password, body["password"]):
        raise forbidden("Invalid username or password")
    token, device = ctx.store.new_token(user.user_id, body.get("device_id"))
    ctx.req.log_extra["user"] = user.user_id
    tls = getattr(getattr(ctx.app, "server", None), "ssl_context", None)
    base = "%s://%s/" % ("https" if tls else "http",
                         ctx.req.header("Host", "localhost"))
    return 200, {"user_id": user.user_id, "access_token": token,
                 "home_server": ctx.store.server_name, "device_id": device,
                 "well_known": {"m.homeserver": {"base_url": base}}}


def logout(ctx):
    del ctx.store.tokens[ctx.token]
    return 200, {}


def logout_all(ctx):
    for tok, (uid, _) in list(ctx.store.tokens.items()):
        if uid == ctx.user_id:
            del ctx.store.tokens[tok]
    return 200, {}


def whoami(ctx):
    out = {"user_id": ctx.user_id, "is_guest": False}
    if ctx.device_id is not None:   # none for an admin-login token
        out["device_id"] = ctx.device_id
    return 200, out


# -- registration -------------------------------------------------------------
def _flows(config):
    mode = config["registration"]
    if mode == "token":
        return [{"stages": ["m.login.registration_token"]}]
    return [{"stages": ["m.login.dummy"]}]


def _uia_challenge(ctx, session, errcode=None, error=None):
    body = {"session": session, "flows": _flows(ctx.config), "params": {}}
    done = ctx.store.uia_sessions.get(session, [])
    if done:
        body["completed"] = list(done)
    if errcode:
        body.update({"errcode": errcode, "error": error})
    return 401, body


def _uia_stage_ok(ctx, auth):
    """Whether this auth dict completes the single configured stage."""
    kind = auth.get("type")
    mode = ctx.config["registration"]
    if mode == "dummy":
        return kind == "m.login.dummy"
    if mode == "token" and kind == "m.login.registration_token":
        return auth.get("token") == ctx.config.get("registration_token")
    return False


def _check_username(ctx, username):
    if not LOCALPART_RE.fullmatch(username):
        raise MatrixError(400, "M_INVALID_USERNAME",
                          "User ID can only contain characters a-z, 0-9, "
                          "or '=_-./'")
    # Synapse's check_username: an application service's exclusive
    # namespace before "in use".
    ctx.app.appservice.check_not_exclusive(ctx.store.user_id(username))
    if ctx.store.lookup_user(username) is not None:
        raise MatrixError(400, "M_USER_IN_USE", "User ID already taken.")


def register(ctx):
    if ctx.req.arg("kind", "user") != "user":
        raise MatrixError(403, "M_FORBIDDEN", "Guest access is disabled")
    body = ctx.json()
    if body.get("type") == mx_appservice.AS_TYPE:
        # Synapse forks off application services first: no enabled
        # check, no user-interactive auth, no name rules.
        return mx_appservice.register(ctx, body)
    if mx_appservice.has_token(ctx.req):
        raise unknown("An access token should not be provided on requests "
                      "to /register (except if type is "
                      "m.login.application_service)")
    if ctx.config["registration"] == "disabled":
        raise forbidden("Registration has been disabled")
    username = body.get("username")
    if username is None:
        username = str(len(ctx.store.users) + 1000)
    if not isinstance(username, str):
        raise bad_json("Invalid username")
    username = username.lower() if username.isascii() else username
    ctx.app.profile.register(ctx, made=False)
    # The spec: name checks come before user-interactive auth.
    _check_username(ctx, username)
    auth = body.get("auth")
    if not isinstance(auth, dict):
        session = secrets.token_urlsafe(18)
        ctx.store.uia_sessions[session] = []
        return _uia_challenge(ctx, session)
    session = auth.get("session") or secrets.token_urlsafe(18)
    if auth.get("session") and session not in ctx.store.uia_sessions:
        raise MatrixError(400, "M_UNKNOWN", "Unknown session ID: " + session)
    if not _uia_stage_ok(ctx, auth):
        ctx.store.uia_sessions.setdefault(session, [])
        return _uia_challenge(ctx, session, "M_FORBIDDEN",
                              "Invalid authentication")
    ctx.store.uia_sessions.pop(session, None)
    ctx.app.profile.register(ctx, made=True)
    return _create_account(ctx, username, body.get("password"), False,
                           bool(body.get("inhibit_login")),
                           body.get("device_id"))


def _create_account(ctx, localpart, password, admin, inhibit, device=None):
    user = ctx.store.add_user(localpart, password, admin)
    out = {"user_id": user.user_id, "home_server": ctx.store.server_name}
    if not inhibit:
        token, device_id = ctx.store.new_token(user.user_id, device)
        out.update({"access_token": token, "device_id": device_id})
    return 200, out


def available(ctx):
    username = ctx.req.arg("username")
    if not username:
        raise missing_param("Missing string query parameter 'username'")
    _check_username(ctx, username)
    return 200, {"available": True}


# -- profile ------------------------------------------------------------------
def _profile(user):
    out = {"displayname": user.displayname}
    if user.avatar_url:
        out["avatar_url"] = user.avatar_url
    return out


def get_profile(ctx, user_id):
    user = ctx.store.users.get(user_id)
    if user is None:
        raise not_found("Profile was not found")
    return 200, _profile(user)


def get_profile_field(ctx, user_id, field):
    user = ctx.store.users.get(user_id)
    if user is None:
        raise not_found("Profile was not found")
    value = getattr(user, field)
    return 200, ({field: value} if value is not None else {})


def set_profile_field(ctx, user_id, field):
    body = ctx.json()
    if user_id != ctx.user_id:
        raise forbidden("Cannot set another user's %s" % field)
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise MatrixError(400, "M_INVALID_PARAM", "%s must be a string"
                          % field)
    if value is not None and field == "avatar_url" and len(value) > 1000:
        # Any string: an mxc:// URI of media this server does not hold
        # passes (Synapse checks only with max_avatar_size or
        # allowed_avatar_mimetypes configured, and 1.67's defaults set
        # neither).
        raise unknown("Avatar URL is too long (max 1000)")
    if value is not None and field == "displayname" and len(value) > 256:
        raise MatrixError(400, "M_INVALID_PARAM", "%s is too long" % field)
    user = ctx.store.users[user_id]
    setattr(user, field, value)
    _propagate_profile(ctx, user)
    return 200, {}


def _propagate_profile(ctx, user):
    """Like Synapse: a profile change becomes a new member event in every
    room the user is joined to (clients see these in /sync)."""
    for room in ctx.store.rooms.values():
        if room.membership(user.user_id) != "join":
            continue
        content = {"membership": "join"}
        if user.displayname is not None:
            content["displayname"] = user.displayname
        if user.avatar_url:
            content["avatar_url"] = user.avatar_url
        ctx.store.add_event(room, "m.room.member", user.user_id, content,
                            user.user_id)


# -- filters --------------------------------------------------------------------
def post_filter(ctx, user_id):
    if user_id != ctx.user_id:
        raise forbidden("Can only create filters for your own user")
    body = ctx.json()
    mx_filter.validate(body)
    user = ctx.store.users[user_id]
    filter_id = str(len(user.filters))
    user.filters[filter_id] = body
    return 200, {"filter_id": filter_id}


def get_filter(ctx, user_id, filter_id):
    if user_id != ctx.user_id:
        raise forbidden("Cannot get filters for other users")
    found = ctx.store.users[user_id].filters.get(filter_id)
    if found is None:
        raise not_found("No such filter")
    return 200, found


# -- Synapse admin --------------------------------------------------------------
def admin_nonce(ctx):
    if not ctx.config.get("shared_secret"):
        raise unknown("Shared secret registration is not enabled")
    nonce = secrets.token_hex(64)
    ctx.store.nonces[nonce] = True
    return 200, {"nonce": nonce}


def _expected_mac(secret, body):
    msg = b"\x00".join([
        body["nonce"].encode(), body["username"].encode(),
        body["password"].encode(),
        b"admin" if body.get("admin") else b"notadmin"])
    if body.get("user_type"):
        msg += b"\x00" + body["user_type"].encode()
    return hmac.new(secret.encode(), msg, hashlib.sha1).hexdigest()


def admin_register(ctx):
    secret = ctx.config.get("shared_secret")
    if not secret:
        raise unknown("Shared secret registration is not enabled")
    body = ctx.json()
    for key in ("nonce", "username", "password", "mac"):
        if not isinstance(body.get(key), str):
            raise unknown("%s must be specified" % key)
    if not ctx.store.nonces.pop(body["nonce"], None):
        raise unknown("unrecognised nonce")
    if not hmac.compare_digest(_expected_mac(secret, body),
                               body["mac"].lower()):
        raise forbidden("HMAC incorrect")
    _check_username(ctx, body["username"])
    status, out = _create_account(ctx, body["username"], body["password"],
                                  bool(body.get("admin")), False)
    if body.get("displayname"):
        ctx.store.users[out["user_id"]].displayname = body["displayname"]
    return status, out


def _require_admin(ctx):
    if not ctx.store.users[ctx.user_id].admin:
        raise forbidden("You are not a server admin")


def _admin_user_json(user):
    # Synapse 1.67 answers with 0/1 for its flags (stock transcript #4).
    return {"name": user.user_id, "admin": int(user.admin),
            "deactivated": int(user.deactivated), "shadow_banned": 0,
            "displayname": user.displayname, "avatar_url": user.avatar_url,
            "user_type": None, "is_guest": 0, "threepids": [],
            "external_ids": [], "consent_version": None,
            "consent_server_notice_sent": None,
            "appservice_id": getattr(user, "appservice_id", None),
            "creation_ts": getattr(user, "creation_ts", 0)}


def admin_put_user(ctx, user_id):
    _require_admin(ctx)
    body = ctx.json()
    local, _, server = user_id[1:].partition(":")
    if not user_id.startswith("@") or server != ctx.store.server_name:
        raise MatrixError(400, "M_INVALID_PARAM",
                          "This endpoint can only be used with local users")
    user = ctx.store.users.get(user_id)
    status = 200
    if user is None:
        _check_username(ctx, local)
        user = ctx.store.add_user(local, body.get("password"))
        status = 201
    elif "password" in body:
        user.password = body["password"]
    if "admin" in body:
        user.admin = bool(body["admin"])
    if "deactivated" in body:
        user.deactivated = bool(body["deactivated"])
    if "displayname" in body:
        user.displayname = body["displayname"]
        _propagate_profile(ctx, user)
    return status, _admin_user_json(user)


def admin_get_user(ctx, user_id):
    _require_admin(ctx)
    user = ctx.store.users.get(user_id)
    if user is None:
        raise not_found("User not found")
    return 200, _admin_user_json(user)


def _room_data_owner(ctx, user_id, room_id):
    """Synapse: only the user itself, and only a valid room id."""
    if user_id != ctx.user_id:
        raise forbidden("Cannot add account data for other users.")
    if not room_id.startswith("!") or ":" not in room_id:
        raise MatrixError(400, "M_INVALID_PARAM",
                          "%r is not a valid room ID" % room_id)
    return ctx.store.users[user_id]


def put_room_account_data(ctx, user_id, room_id, data_type):
    """PUT /user/{userId}/rooms/{roomId}/account_data/{type}: a JSON
    object kept per user, room and type."""
    user = _room_data_owner(ctx, user_id, room_id)
    body = ctx.json()
    if not isinstance(body, dict):
        raise MatrixError(400, "M_BAD_JSON", "Content must be a JSON object")
    user.room_data[(room_id, data_type)] = body
    return 200, {}


def get_room_account_data(ctx, user_id, room_id, data_type):
    user = _room_data_owner(ctx, user_id, room_id)
    data = user.room_data.get((room_id, data_type))
    if data is None:
        raise not_found("Room account data not found")
    return 200, data
