"""Self-tests of tools/fake_homeserver.py over real HTTP.

A fake that accepts anything is a defect (seed 002): most tests here check
that something a real server rejects is rejected, with the real status
and errcode.
"""

import hashlib
import hmac
import http.client
import json
import socket
import tempfile
import threading
import time
import unittest

from fakes import FakeHomeserver, make_cert, q
from hs_case import C, SHARED_SECRET, HomeserverCase


class Strictness(HomeserverCase):
    def test_unknown_endpoint_is_unrecognized_400(self):
        _, tok = self.register("alice")
        res = self.call("GET", C + "/no_such_thing", token=tok)
        self.assertError(res, 400, "M_UNRECOGNIZED")
        # Unknown even without a token: the route is checked first.
        self.assertError(self.call("GET", "/_matrix/client/v3/nope"), 400,
                         "M_UNRECOGNIZED")

    def test_control_prefix_without_token_is_just_unknown(self):
        res = self.call("GET", "/_fake/requests")
        self.assertError(res, 400, "M_UNRECOGNIZED")
        res = self.call("GET", "/_fake/requests",
                        headers={"X-Fake-Control": "wrong"})
        self.assertError(res, 400, "M_UNRECOGNIZED")
        self.assertEqual(len(self.hs.requests(path="^/_fake/")), 2)

    def test_wrong_method_is_405(self):
        _, tok = self.register("alice")
        res = self.call("DELETE", C + "/account/whoami", token=tok)
        self.assertError(res, 405, "M_UNRECOGNIZED")
        res = self.call("GET", C + "/createRoom", token=tok)
        self.assertError(res, 405, "M_UNRECOGNIZED")

    def test_missing_and_unknown_token(self):
        self.assertError(self.call("GET", C + "/account/whoami"), 401,
                         "M_MISSING_TOKEN")
        res = self.call("GET", C + "/account/whoami", token="syt_bogus")
        self.assertError(res, 401, "M_UNKNOWN_TOKEN")
        self.assertIs(res.body["soft_logout"], False)
        self.assertError(self.call("POST", C + "/createRoom", {}), 401,
                         "M_MISSING_TOKEN")

    def test_malformed_json(self):
        _, tok = self.register("alice")
        res = self.call("POST", C + "/createRoom", "{not json", tok)
        self.assertError(res, 400, "M_NOT_JSON")
        res = self.call("POST", C + "/createRoom", "[1, 2]", tok)
        self.assertError(res, 400, "M_BAD_JSON")
        res = self.call("POST", C + "/createRoom", "", tok)
        self.assertError(res, 400, "M_NOT_JSON")
        res = self.call("POST", C + "/createRoom", {"preset": "nope"}, tok)
        self.assertError(res, 400, "M_INVALID_PARAM")
        res = self.call("POST", C + "/createRoom", {"room_version": "99"},
                        tok)
        self.assertError(res, 400, "M_UNSUPPORTED_ROOM_VERSION")

    def test_every_response_has_content_length_and_json_type(self):
        res = self.call("GET", "/_matrix/client/versions")
        self.assertEqual(int(res.headers["content-length"]), len(res.raw))
        self.assertEqual(res.headers["content-type"], "application/json")
        self.assertIn("v1.1", res.body["versions"])


class Registration(HomeserverCase):
    def test_user_interactive_flow_401_first(self):
        body = {"username": "bob", "password": "pw"}
        first = self.call("POST", C + "/register", body)
        self.assertEqual(first.status, 401)
        self.assertEqual(first.body["flows"], [{"stages": ["m.login.dummy"]}])
        self.assertIsInstance(first.body["session"], str)
        self.assertEqual(first.body["params"], {})
        self.assertEqual(self.hs.control("GET", "users")["users"], [])
        body["auth"] = {"type": "m.login.dummy",
                        "session": first.body["session"]}
        done = self.ok("POST", C + "/register", body)
        self.assertEqual(done["user_id"], "@bob:localhost")
        self.assertTrue(done["access_token"] and done["device_id"])

    def test_taken_name_is_checked_before_auth(self):
        self.register("bob")
        res = self.call("POST", C + "/register", {"username": "bob",
                                                  "password": "x"})
        self.assertError(res, 400, "M_USER_IN_USE")
        res = self.call("POST", C + "/register", {"username": "Bad Name!"})
        self.assertError(res, 400, "M_INVALID_USERNAME")

    def test_inhibit_login(self):
        first = self.call("POST", C + "/register", {"username": "c"})
        out = self.ok("POST", C + "/register", {
            "username": "c", "password": "p", "inhibit_login": True,
            "auth": {"type": "m.login.dummy",
                     "session": first.body["session"]}})
        self.assertEqual(set(out), {"user_id", "home_server"})

    def test_wrong_stage_gets_401_with_error(self):
        res = self.call("POST", C + "/register", {
            "username": "d", "auth": {"type": "m.login.password"}})
        self.assertEqual(res.status, 401)
        self.assertEqual(res.body["errcode"], "M_FORBIDDEN")
        self.assertIn("flows", res.body)

    def test_registration_token_flow(self):
        self.hs.configure(registration="token", registration_token="T0K")
        first = self.call("POST", C + "/register", {"username": "e"})
        self.assertEqual(first.body["flows"],
                         [{"stages": ["m.login.registration_token"]}])
        sess = first.body["session"]
        bad = self.call("POST", C + "/register", {"username": "e", "auth": {
            "type": "m.login.registration_token", "token": "nope",
            "session": sess}})
        self.assertEqual((bad.status, bad.body["errcode"]),
                         (401, "M_FORBIDDEN"))
        dummy = self.call("POST", C + "/register", {"username": "e", "auth": {
            "type": "m.login.dummy", "session": sess}})
        self.assertEqual(dummy.status, 401)
        self.ok("POST", C + "/register", {"username": "e", "auth": {
            "type": "m.login.registration_token", "token": "T0K",
            "session": sess}})

    def test_registration_disabled(self):
        self.hs.configure(registration="disabled")
        res = self.call("POST", C + "/register", {"username": "f"})
        self.assertError(res, 403, "M_FORBIDDEN")

    def test_shared_secret_registration(self):
        nonce = self.ok("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(SHARED_SECRET.encode(), b"\0".join(
            [nonce.encode(), b"bot", b"botpw", b"notadmin"]),
            hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": "bot", "password": "botpw",
                "admin": False, "mac": mac}
        out = self.ok("POST", "/_synapse/admin/v1/register", body)
        self.assertEqual(out["user_id"], "@bot:localhost")
        again = self.call("POST", "/_synapse/admin/v1/register", body)
        self.assertError(again, 400, "M_UNKNOWN")   # nonce used up
        nonce = self.ok("GET", "/_synapse/admin/v1/register")["nonce"]
        body.update(nonce=nonce, username="bot2", mac="00" * 20)
        self.assertError(self.call("POST", "/_synapse/admin/v1/register",
                                   body), 403, "M_FORBIDDEN")

    def test_non_synapse_server_has_no_admin_api(self):
        self.hs.configure(synapse_admin=False)
        res = self.call("GET", "/_synapse/admin/v1/register")
        self.assertError(res, 404, "M_UNRECOGNIZED")

    def test_admin_put_user(self):
        _, tok = self.register("pleb")
        res = self.call("PUT", "/_synapse/admin/v2/users/@x:localhost",
                        {"password": "p"}, tok)
        self.assertError(res, 403, "M_FORBIDDEN")
        admin = self.hs.human_register("root", admin=True)["access_token"]
        res = self.call("PUT", "/_synapse/admin/v2/users/%s"
                        % q("@x:localhost"),
                        {"password": "p", "displayname": "X"}, admin)
        self.assertEqual(res.status, 201)
        res = self.call("PUT", "/_synapse/admin/v2/users/%s"
                        % q("@x:localhost"), {"password": "p2"}, admin)
        self.assertEqual(res.status, 200)
        self.ok("POST", C + "/login", {"type": "m.login.password",
                                       "user": "x", "password": "p2"})


class Login(HomeserverCase):
    def test_login_whoami_logout(self):
        self.register("amy", "secret")
        bad = self.call("POST", C + "/login", {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "amy"},
            "password": "wrong"})
        self.assertError(bad, 403, "M_FORBIDDEN")
        out = self.ok("POST", C + "/login", {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "@amy:localhost"},
            "password": "secret"})
        tok = out["access_token"]
        who = self.ok("GET", C + "/account/whoami", token=tok)
        self.assertEqual(who, {"user_id": "@amy:localhost", "is_guest": False,
                               "device_id": out["device_id"]})
        self.ok("POST", C + "/logout", {}, tok)
        self.assertError(self.call("GET", C + "/account/whoami", token=tok),
                         401, "M_UNKNOWN_TOKEN")

    def test_unknown_login_type(self):
        res = self.call("POST", C + "/login", {"type": "m.login.magic"})
        self.assertError(res, 400, "M_UNKNOWN")


class Permissions(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.owner, self.otok = self.register("owner")
        self.person, self.ptok = self.register("person")
        self.room = self.create_room(self.otok, name="R", preset="private_chat")

    def test_send_by_non_member(self):
        res = self.send(self.ptok, self.room, "hi", "t0")
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertIn("not in room", res.body["error"])
        res = self.send(self.ptok, "!nowhere:localhost", "hi", "t0")
        self.assertError(res, 403, "M_FORBIDDEN")

    def test_invite_only_join_needs_invite(self):
        self.assertError(self.join(self.ptok, self.room), 403, "M_FORBIDDEN")
        self.ok("POST", C + "/rooms/%s/invite" % q(self.room),
                {"user_id": self.person}, self.otok)
        self.ok("POST", C + "/rooms/%s/join" % q(self.room), {}, self.ptok)
        self.assertEqual(self.send(self.ptok, self.room, "hi", "t1").status,
                         200)
        self.assertError(self.join(self.ptok, "!unknown:localhost"), 404,
                         "M_UNKNOWN")

    def test_state_change_without_power(self):
        path = C + "/rooms/%s/state/m.room.name" % q(self.room)
        self.assertError(self.call("PUT", path, {"name": "x"}, self.ptok),
                         403, "M_FORBIDDEN")
        self.invite(self.otok, self.room, self.person)
        self.join(self.ptok, self.room)
        res = self.call("PUT", path, {"name": "x"}, self.ptok)
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertIn("user_level (0) < send_level (50)", res.body["error"])
        self.ok("PUT", path, {"name": "y"}, self.otok)
        # Others' state keys are off limits too.
        res = self.call("PUT", C + "/rooms/%s/state/x.y/%s"
                        % (q(self.room), q(self.owner)), {}, self.ptok)
        self.assertError(res, 403, "M_FORBIDDEN")

    def test_power_override_and_space(self):
        space = self.create_room(self.otok, name="Letta Agents",
                                 creation_content={"type": "m.space"},
                                 power_level_content_override={
                                     "events_default": 100})
        self.invite(self.otok, space, self.person)
        self.join(self.ptok, space)
        self.assertError(self.send(self.ptok, space, "x", "t"), 403,
                         "M_FORBIDDEN")
        create = self.ok("GET", C + "/rooms/%s/state/m.room.create/"
                         % q(space), token=self.otok)
        self.assertEqual(create["type"], "m.space")
        self.assertEqual(create["room_version"], "9")

    def test_kick_needs_power(self):
        self.invite(self.otok, self.room, self.person)
        self.join(self.ptok, self.room)
        res = self.call("POST", C + "/rooms/%s/kick" % q(self.room),
                        {"user_id": self.owner}, self.ptok)
        self.assertError(res, 403, "M_FORBIDDEN")
        self.ok("POST", C + "/rooms/%s/kick" % q(self.room),
                {"user_id": self.person}, self.otok)
        self.assertError(self.send(self.ptok, self.room, "x", "t9"), 403,
                         "M_FORBIDDEN")

    def test_left_room_readable_until_forgotten(self):
        self.invite(self.otok, self.room, self.person)
        self.join(self.ptok, self.room)
        self.send(self.otok, self.room, "before", "a")
        self.ok("POST", C + "/rooms/%s/leave" % q(self.room), {}, self.ptok)
        self.send(self.otok, self.room, "after", "b")
        bodies = [e["content"].get("body") for e in
                  self.messages(self.ptok, self.room)["chunk"]]
        self.assertIn("before", bodies)
        self.assertNotIn("after", bodies)
        self.ok("GET", C + "/rooms/%s/state" % q(self.room), token=self.ptok)
        self.assertError(self.send(self.ptok, self.room, "x", "c"), 403,
                         "M_FORBIDDEN")
        self.ok("POST", C + "/rooms/%s/forget" % q(self.room), {}, self.ptok)
        res = self.call("GET", C + "/rooms/%s/state" % q(self.room),
                        token=self.ptok)
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertIn("room previews are disabled", res.body["error"])

    def test_forget_while_joined(self):
        res = self.call("POST", C + "/rooms/%s/forget" % q(self.room), {},
                        self.otok)
        self.assertError(res, 400, "M_UNKNOWN")

    def test_typing_for_someone_else(self):
        res = self.call("PUT", C + "/rooms/%s/typing/%s"
                        % (q(self.room), q(self.person)),
                        {"typing": True, "timeout": 1000}, self.otok)
        self.assertError(res, 403, "M_FORBIDDEN")

    def test_profile_of_someone_else(self):
        res = self.call("PUT", C + "/profile/%s/displayname" % q(self.person),
                        {"displayname": "x"}, self.otok)
        self.assertError(res, 403, "M_FORBIDDEN")


class Rooms(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.me, self.tok = self.register("agent")
        self.room = self.create_room(self.tok, name="Helpdesk", topic="IT",
                                     initial_state=[{
                                         "type": "org.example.marker",
                                         "state_key": "",
                                         "content": {"agent_id": "a1"}}])

    def test_transaction_ids_deduplicate(self):
        first = self.send(self.tok, self.room, "hi", "txn1").body["event_id"]
        again = self.send(self.tok, self.room, "hi", "txn1").body["event_id"]
        self.assertEqual(first, again)
        bodies = [e["content"]["body"] for e in
                  self.messages(self.tok, self.room)["chunk"]
                  if e["type"] == "m.room.message"]
        self.assertEqual(bodies, ["hi"])
        # Another access token is another transaction namespace.
        tok2 = self.ok("POST", C + "/login", {
            "type": "m.login.password", "user": "agent",
            "password": "pw-agent"})["access_token"]
        other = self.send(tok2, self.room, "hi", "txn1").body["event_id"]
        self.assertNotEqual(other, first)

    def test_state_read_write_and_dedup(self):
        marker = self.ok("GET", C + "/rooms/%s/state/org.example.marker/"
                         % q(self.room), token=self.tok)
        self.assertEqual(marker, {"agent_id": "a1"})
        res = self.call("GET", C + "/rooms/%s/state/m.room.tombstone/"
                        % q(self.room), token=self.tok)
        self.assertError(res, 404, "M_NOT_FOUND")
        path = C + "/rooms/%s/state/m.room.topic" % q(self.room)
        e1 = self.ok("PUT", path, {"topic": "new"}, self.tok)["event_id"]
        e2 = self.ok("PUT", path, {"topic": "new"}, self.tok)["event_id"]
        self.assertEqual(e1, e2)
        full = self.ok("GET", C + "/rooms/%s/state" % q(self.room),
                       token=self.tok)
        types = {e["type"] for e in full}
        self.assertTrue({"m.room.create", "m.room.member",
                         "m.room.power_levels", "m.room.join_rules",
                         "m.room.history_visibility", "m.room.name",
                         "m.room.topic", "org.example.marker"} <= types)
        self.assertTrue(all("room_id" in e and "event_id" in e for e in full))

    def test_messages_pagination(self):
        for i in range(5):
            self.send(self.tok, self.room, "m%d" % i, "p%d" % i)
        seen, token = [], None
        for _ in range(10):
            params = {"limit": 2, "filter": json.dumps(
                {"types": ["m.room.message"]})}
            if token:
                params["from"] = token
            page = self.messages(self.tok, self.room, **params)
            seen += [e["content"]["body"] for e in page["chunk"]]
            token = page.get("end")
            if not token:
                break
        self.assertEqual(seen, ["m4", "m3", "m2", "m1", "m0"])
        fwd = self.messages(self.tok, self.room, dir="f", limit=100)
        self.assertEqual(fwd["chunk"][0]["type"], "m.room.create")
        self.assertError(self.call("GET", C + "/rooms/%s/messages?dir=x"
                                   % q(self.room), token=self.tok), 400,
                         "M_INVALID_PARAM")

    def test_redact(self):
        eid = self.send(self.tok, self.room, "oops", "r1").body["event_id"]
        red = self.ok("PUT", C + "/rooms/%s/redact/%s/r2"
                      % (q(self.room), q(eid)), {"reason": "x"}, self.tok)
        ev = self.ok("GET", C + "/rooms/%s/event/%s" % (q(self.room), q(eid)),
                     token=self.tok)
        self.assertEqual(ev["content"], {})
        self.assertEqual(ev["unsigned"]["redacted_because"]["event_id"],
                         red["event_id"])

    def test_joined_rooms_members_profile(self):
        self.ok("PUT", C + "/profile/%s/displayname" % q(self.me),
                {"displayname": "Helpdesk Bot"}, self.tok)
        rooms = self.ok("GET", C + "/joined_rooms", token=self.tok)
        self.assertEqual(rooms["joined_rooms"], [self.room])
        members = self.ok("GET", C + "/rooms/%s/joined_members"
                          % q(self.room), token=self.tok)
        self.assertEqual(members["joined"][self.me]["display_name"],
                         "Helpdesk Bot")
        prof = self.ok("GET", C + "/profile/%s/displayname" % q(self.me))
        self.assertEqual(prof, {"displayname": "Helpdesk Bot"})

    def test_space_hierarchy(self):
        space = self.create_room(self.tok, name="Letta Agents",
                                 creation_content={"type": "m.space"})
        child = C + "/rooms/%s/state/m.space.child/%s" % (q(space),
                                                          q(self.room))
        self.ok("PUT", child, {"via": ["localhost"], "suggested": True},
                self.tok)
        path = "/_matrix/client/v1/rooms/%s/hierarchy" % q(space)
        rooms = self.ok("GET", path, token=self.tok)["rooms"]
        self.assertEqual([r["room_id"] for r in rooms], [space, self.room])
        self.assertEqual(rooms[0]["room_type"], "m.space")
        self.assertEqual(rooms[0]["children_state"][0]["state_key"],
                         self.room)
        self.assertEqual(rooms[1]["name"], "Helpdesk")
        self.ok("PUT", child, {}, self.tok)          # unlink
        rooms = self.ok("GET", path, token=self.tok)["rooms"]
        self.assertEqual([r["room_id"] for r in rooms], [space])
        _, other = self.register("stranger")
        self.assertError(self.call("GET", path, token=other), 403,
                         "M_FORBIDDEN")


class Sync(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.me, self.tok = self.register("bot")
        self.person, self.ptok = self.register("person")
        self.room = self.create_room(self.tok, name="R",
                                     invite=[self.person])

    def test_initial_then_incremental(self):
        first = self.sync(self.tok)
        room = first["rooms"]["join"][self.room]
        self.assertIn("prev_batch", room["timeline"])
        self.assertIn("limited", room["timeline"])
        self.assertEqual(room["summary"]["m.invited_member_count"], 1)
        since = first["next_batch"]
        nothing = self.sync(self.tok, since=since, timeout=0)
        self.assertNotIn("rooms", nothing)
        self.join(self.ptok, self.room)
        self.send(self.ptok, self.room, "hello", "h1")
        inc = self.sync(self.tok, since=since)
        events = inc["rooms"]["join"][self.room]["timeline"]["events"]
        self.assertEqual([e["type"] for e in events],
                         ["m.room.member", "m.room.message"])
        self.assertNotIn("room_id", events[1])
        self.assertIn(self.person, inc["device_lists"]["changed"])
        self.assertEqual(inc["presence"]["events"][0]["sender"], self.person)

    def test_invite_and_leave_sections(self):
        inv = self.sync(self.ptok)["rooms"]["invite"][self.room]
        types = {e["type"] for e in inv["invite_state"]["events"]}
        self.assertTrue({"m.room.create", "m.room.name",
                         "m.room.member"} <= types)
        since = self.sync(self.ptok)["next_batch"]
        self.join(self.ptok, self.room)
        joined = self.sync(self.ptok, since=since)
        state_types = {e["type"] for e in
                       joined["rooms"]["join"][self.room]["state"]["events"]}
        self.assertIn("m.room.create", state_types)  # newly joined: full
        since = joined["next_batch"]
        self.ok("POST", C + "/rooms/%s/leave" % q(self.room), {}, self.ptok)
        left = self.sync(self.ptok, since=since)
        self.assertIn(self.room, left["rooms"]["leave"])
        self.assertNotIn("leave", self.sync(self.ptok).get("rooms", {}))

    def test_limited_timeline_and_filters(self):
        for i in range(6):
            self.send(self.tok, self.room, "m%d" % i, "l%d" % i)
        filt = {"room": {"timeline": {"limit": 3},
                         "state": {"types": ["m.room.name"]}}}
        res = self.sync(self.tok, filter=json.dumps(filt))
        room = res["rooms"]["join"][self.room]
        self.assertEqual([e["content"]["body"] for e in
                          room["timeline"]["events"]], ["m3", "m4", "m5"])
        self.assertTrue(room["timeline"]["limited"])
        self.assertEqual([e["type"] for e in room["state"]["events"]],
                         ["m.room.name"])
        fid = self.ok("POST", C + "/user/%s/filter" % q(self.me),
                      {"room": {"timeline": {"limit": 0}}},
                      self.tok)["filter_id"]
        res = self.sync(self.tok, filter=fid)
        self.assertEqual(res["rooms"]["join"][self.room]["timeline"]
                         ["events"], [])
        self.assertError(self.call("GET", C + "/sync?filter=999",
                                   token=self.tok), 404, "M_NOT_FOUND")
        self.assertError(self.call("GET", C + "/sync?filter=%7Bbad",
                                   token=self.tok), 400, "M_NOT_JSON")
        self.assertError(self.call("POST", C + "/user/%s/filter"
                                   % q(self.person), {}, self.tok), 403,
                         "M_FORBIDDEN")

    def test_lazy_loaded_members(self):
        self.join(self.ptok, self.room)
        since = self.sync(self.tok)["next_batch"]
        self.send(self.ptok, self.room, "hi", "x")
        filt = {"room": {"state": {"lazy_load_members": True}}}
        res = self.sync(self.tok, filter=json.dumps(filt), since=since)
        state = res["rooms"]["join"][self.room]["state"]["events"]
        self.assertEqual([(e["type"], e["state_key"]) for e in state],
                         [("m.room.member", self.person)])
        # Initial sync, one timeline event: only its sender's membership.
        filt["room"]["timeline"] = {"limit": 1}
        full = self.sync(self.tok, filter=json.dumps(filt))
        members = [e["state_key"] for e in full["rooms"]["join"][self.room]
                   ["state"]["events"] if e["type"] == "m.room.member"]
        self.assertEqual(members, [self.person])

    def test_long_poll_returns_early_on_event(self):
        since = self.sync(self.tok)["next_batch"]
        self.join(self.ptok, self.room)
        since = self.sync(self.tok, since=since)["next_batch"]
        timer = threading.Timer(0.3, self.send,
                                (self.ptok, self.room, "wake", "w1"))
        start = time.monotonic()
        timer.start()
        res = self.sync(self.tok, since=since, timeout=10000)
        took = time.monotonic() - start
        timer.join()
        self.assertLess(took, 3.0)
        self.assertGreaterEqual(took, 0.25)
        events = res["rooms"]["join"][self.room]["timeline"]["events"]
        self.assertEqual(events[-1]["content"]["body"], "wake")

    def test_long_poll_times_out_empty(self):
        since = self.sync(self.tok)["next_batch"]
        start = time.monotonic()
        res = self.sync(self.tok, since=since, timeout=400)
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.38)
        self.assertLess(took, 2.0)
        self.assertNotIn("rooms", res)
        self.assertEqual(res["next_batch"], since)

    def test_long_poll_does_not_block_others(self):
        since = self.sync(self.tok)["next_batch"]
        results = {}
        t = threading.Thread(target=lambda: results.update(
            r=self.sync(self.tok, since=since, timeout=1500)))
        t.start()
        time.sleep(0.1)
        start = time.monotonic()
        self.ok("GET", C + "/joined_rooms", token=self.ptok)
        self.assertLess(time.monotonic() - start, 0.5)
        t.join()

    def test_typing_and_receipts_reach_sync(self):
        self.join(self.ptok, self.room)
        eid = self.send(self.ptok, self.room, "hi", "r").body["event_id"]
        since = self.sync(self.tok)["next_batch"]
        self.ok("PUT", C + "/rooms/%s/typing/%s" % (q(self.room), q(self.me)),
                {"typing": True, "timeout": 30000}, self.tok)
        self.ok("POST", C + "/rooms/%s/receipt/m.read/%s"
                % (q(self.room), q(eid)), {}, self.tok)
        res = self.sync(self.tok, since=since)
        eph = res["rooms"]["join"][self.room]["ephemeral"]["events"]
        kinds = {e["type"]: e["content"] for e in eph}
        self.assertEqual(kinds["m.typing"], {"user_ids": [self.me]})
        self.assertIn(self.me, kinds["m.receipt"][eid]["m.read"])
        self.assertEqual(res["rooms"]["join"][self.room]
                         ["unread_notifications"]["notification_count"], 0)

    def test_own_send_carries_transaction_id(self):
        since = self.sync(self.tok)["next_batch"]
        self.send(self.tok, self.room, "mine", "my-txn")
        ev = self.sync(self.tok, since=since)["rooms"]["join"][self.room][
            "timeline"]["events"][-1]
        self.assertEqual(ev["unsigned"]["transaction_id"], "my-txn")

    def test_foreign_since_token_rejected(self):
        res = self.call("GET", C + "/sync?since=s5_other", token=self.tok)
        self.assertError(res, 400, "M_UNKNOWN")


class RateLimit(HomeserverCase):
    def test_limit_exceeded_429(self):
        _, tok = self.register("fast")
        room = self.create_room(tok)
        self.hs.configure(rate_limit={"enabled": True, "per_second": 0.5,
                                      "burst": 2})
        self.assertEqual(self.send(tok, room, "1", "a").status, 200)
        self.assertEqual(self.send(tok, room, "2", "b").status, 200)
        res = self.send(tok, room, "3", "c")
        self.assertError(res, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(res.body["retry_after_ms"], 0)
        self.assertGreaterEqual(int(res.headers["retry-after"]), 1)
        # Retrying an accepted transaction is not a new action.
        self.assertEqual(self.send(tok, room, "1", "a").status, 200)


class Faults(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.me, self.tok = self.register("f")
        self.room = self.create_room(self.tok)
        self.send_path = "/rooms/.*/send/"

    def bodies(self):
        return [e["content"]["body"] for e in
                self.messages(self.tok, self.room)["chunk"]
                if e["type"] == "m.room.message"]

    def test_status_for_next_n_matching(self):
        self.hs.inject_fault("GET", "/account/whoami$", count=2, status=503)
        self.assertEqual(self.hs.faults()[0]["count"], 2)
        for _ in range(2):
            res = self.call("GET", C + "/account/whoami", token=self.tok)
            self.assertEqual(res.status, 503)
        self.ok("GET", C + "/joined_rooms", token=self.tok)  # not matching
        self.ok("GET", C + "/account/whoami", token=self.tok)
        self.assertEqual(self.hs.faults(), [])
        log = self.hs.requests("GET", "/account/whoami$")
        self.assertEqual([e["status"] for e in log], [503, 503, 200])
        self.assertIsNotNone(log[0]["fault"])
        self.assertIsNone(log[2]["fault"])

    def test_429_has_retry_after_both_ways(self):
        self.hs.inject_fault("PUT", self.send_path, status=429,
                             retry_after_ms=1500)
        res = self.send(self.tok, self.room, "x", "t1")
        self.assertError(res, 429, "M_LIMIT_EXCEEDED")
        self.assertEqual(res.body["retry_after_ms"], 1500)
        self.assertEqual(res.headers["retry-after"], "2")
        self.assertEqual(self.bodies(), [])     # refused: nothing sent
        self.assertEqual(self.send(self.tok, self.room, "x", "t1").status,
                         200)

    def test_custom_status_body(self):
        self.hs.inject_fault("*", "/joined_rooms", status=502,
                             body={"oops": True})
        res = self.call("GET", C + "/joined_rooms", token=self.tok)
        self.assertEqual((res.status, res.body), (502, {"oops": True}))

    def test_delay(self):
        self.hs.inject_fault("GET", "/joined_rooms", delay_ms=300)
        start = time.monotonic()
        self.ok("GET", C + "/joined_rooms", token=self.tok)
        self.assertGreaterEqual(time.monotonic() - start, 0.29)

    def test_drop_before_head_does_nothing(self):
        self.hs.inject_fault("PUT", self.send_path, drop="before_head")
        with self.assertRaises((http.client.RemoteDisconnected,
                                ConnectionResetError)):
            self.send(self.tok, self.room, "lost", "d1")
        self.assertEqual(self.bodies(), [])
        self.assertIsNone(self.hs.requests("PUT")[0]["status"])

    def test_drop_after_head_did_the_work(self):
        self.hs.inject_fault("PUT", self.send_path, drop="after_head")
        with self.assertRaises(http.client.IncompleteRead):
            self.send(self.tok, self.room, "done", "d2")
        self.assertEqual(self.bodies(), ["done"])
        # The client's retry with the same txn id must not duplicate.
        self.assertEqual(self.send(self.tok, self.room, "done", "d2").status,
                         200)
        self.assertEqual(self.bodies(), ["done"])

    def test_truncated_body(self):
        self.hs.inject_fault("GET", "/versions", truncate=True)
        with self.assertRaises(http.client.IncompleteRead):
            self.call("GET", "/_matrix/client/versions")
        self.ok("GET", "/_matrix/client/versions")

    def test_forever_and_clear(self):
        self.hs.inject_fault("GET", "/versions", count=-1, status=500)
        for _ in range(3):
            self.assertEqual(self.call("GET", "/_matrix/client/versions")
                             .status, 500)
        self.hs.clear_faults()
        self.ok("GET", "/_matrix/client/versions")

    def test_bad_fault_rule_rejected(self):
        from fakes import ControlError
        with self.assertRaises(ControlError):
            self.hs.inject_fault("GET", "(", status=500)
        with self.assertRaises(ControlError):
            self.hs.inject_fault("GET", "x")          # no action
        with self.assertRaises(ControlError):
            self.hs.inject_fault("GET", "x", drop="sideways")


class RequestLog(HomeserverCase):
    def test_log_masks_secrets_and_records_calls(self):
        self.hs.clear_requests()
        # The marker tests/run.sh looks for in all output: if masking
        # broke, a failure message would leak it and fail twice.
        self.call("POST", C + "/register", {"username": "z",
                                            "password": "s3cr3t-TEST-TOKEN"})
        self.call("GET", C + "/account/whoami?access_token=abc")
        self.call("GET", C + "/account/whoami", token="syt_secret")
        self.hs.rooms()                               # control: not logged
        log = self.hs.requests()
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in log],
                         [("POST", C + "/register", 401),
                          ("GET", C + "/account/whoami", 401),
                          ("GET", C + "/account/whoami", 401)])
        text = json.dumps(log)
        for secret in ("s3cr3t-TEST", "syt_secret", "abc\""):
            self.assertNotIn(secret, text)
        self.assertTrue(log[2]["headers"]["Authorization"]
                        .startswith("Bearer ***"))
        self.assertTrue(log[0]["body"]["password"].startswith("***"))
        self.assertLessEqual(log[0]["time"], log[1]["time"])
        self.assertEqual(len(self.hs.requests(since=log[1]["seq"])), 1)
        self.hs.clear_requests()
        self.assertEqual(self.hs.requests(), [])

    def test_log_names_the_user(self):
        me, tok = self.register("who")
        self.ok("GET", C + "/joined_rooms", token=tok)
        self.assertEqual(self.hs.requests("GET", "joined_rooms")[0]["user"],
                         me)


class Connections(HomeserverCase):
    fake_kwargs = {"keepalive_idle": 0.3}

    def test_keep_alive_reuses_the_connection(self):
        conn = self.hs.connection()
        from fakes import send_on
        a = send_on(conn, "GET", "/_matrix/client/versions")
        sock = conn.sock
        b = send_on(conn, "GET", "/_matrix/client/versions")
        self.assertEqual((a.status, b.status), (200, 200))
        self.assertIs(conn.sock, sock)
        conn.close()

    def test_idle_connection_closed(self):
        sock = socket.create_connection((self.hs.host, self.hs.port), 5)
        sock.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\n"
                     b"Host: x\r\n\r\n")
        first = read_response(sock)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"))
        time.sleep(0.7)
        sock.settimeout(2)
        self.assertEqual(sock.recv(100), b"")      # server closed: EOF
        sock.close()


def read_response(sock):
    """One whole Content-Length response from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def sent_entries(fake, method=None, path=None):
    """The log once every answer is stamped sent: the client may read an
    answer a moment before the fake's thread notes that it left."""
    deadline = time.monotonic() + 2
    while True:
        log = fake.requests(method, path)
        if all(e["t_sent"] is not None for e in log) or \
                time.monotonic() > deadline:
            return log
        time.sleep(0.01)


class BenchSupport(HomeserverCase):
    """What tests/bench/bench_bridge.py relies on: arrival and departure
    times in the log, what each /sync delivered, bulk acts."""

    def setUp(self):
        super().setUp()
        self.me, self.tok = self.register("bot")
        self.person = self.hs.human_register("person")["user_id"]
        self.room = self.create_room(self.tok, invite=[self.person])
        self.hs.human_join(self.person, self.room)

    def send_act(self, text):
        return {"as": self.person, "method": "PUT",
                "path": C + "/rooms/%s/send/m.room.message/%s"
                % (q(self.room), text), "body": {"msgtype": "m.text",
                                                 "body": text}}

    def test_log_times_arrival_and_departure(self):
        self.hs.clear_requests()
        self.ok("GET", C + "/joined_rooms", token=self.tok)
        entry = sent_entries(self.hs)[0]
        self.assertLessEqual(entry["t_recv"], entry["time"])
        self.assertLessEqual(entry["time"], entry["t_end"])
        self.assertLessEqual(entry["t_end"], entry["t_sent"])

    def test_sync_log_names_the_events_it_delivered(self):
        since = self.sync(self.tok)["next_batch"]
        eid = self.hs.human_send(self.person, self.room, "hello")
        self.hs.clear_requests()
        res = self.sync(self.tok, since=since)
        entry = self.hs.requests("GET", "/sync$")[0]
        self.assertEqual(entry["timeline_event_ids"], [eid])
        self.assertEqual(entry["next_batch"], res["next_batch"])
        self.sync(self.tok, since=res["next_batch"], timeout=0)
        self.assertEqual(self.hs.requests("GET", "/sync$")[1]
                         ["timeline_event_ids"], [])

    def test_acts_land_together_for_a_long_poll(self):
        since = self.sync(self.tok)["next_batch"]
        got = {}
        poll = threading.Thread(target=lambda: got.update(
            r=self.sync(self.tok, since=since, timeout=5000)))
        poll.start()
        time.sleep(0.2)
        acts = [self.send_act("m%d" % i) for i in range(50)]
        acts.append({"as": self.person, "method": "PUT",
                     "path": C + "/rooms/%s/send/m.room.message/x"
                     % q("!nowhere:localhost"), "body": {"body": "x"}})
        results = self.hs.control("POST", "acts", {"acts": acts})["results"]
        poll.join()
        self.assertEqual([r["status"] for r in results], [200] * 50 + [403])
        timeline = got["r"]["rooms"]["join"][self.room]["timeline"]
        # One answer after all fifty (its timeline keeps the last 10),
        # not an early one with the first message alone.
        self.assertEqual([e["content"]["body"] for e in timeline["events"]],
                         ["m%d" % i for i in range(40, 50)])
        self.assertTrue(timeline["limited"])

    def test_incremental_sync_names_only_rooms_that_changed(self):
        other = self.create_room(self.tok, invite=[self.person])
        self.hs.human_join(self.person, other)
        eid = self.hs.human_send(self.person, self.room, "hi")
        since = self.sync(self.tok)["next_batch"]
        self.hs.act(self.person, "POST", C + "/rooms/%s/receipt/m.read/%s"
                    % (q(self.room), q(eid)), {})
        res = self.sync(self.tok, since=since)
        self.assertEqual(list(res["rooms"]["join"]), [self.room])
        since = res["next_batch"]
        self.hs.act(self.person, "PUT", C + "/rooms/%s/typing/%s"
                    % (q(other), q(self.person)), {"typing": True,
                                                   "timeout": 5000})
        res = self.sync(self.tok, since=since)
        self.assertEqual(list(res["rooms"]["join"]), [other])
        self.assertNotIn("rooms", self.sync(self.tok, timeout=0,
                                            since=res["next_batch"]))

    def test_log_since_after_a_clear(self):
        self.ok("GET", C + "/joined_rooms", token=self.tok)
        self.hs.clear_requests()
        for _ in range(3):
            self.ok("GET", C + "/joined_rooms", token=self.tok)
        log = self.hs.requests()
        self.assertEqual(len(log), 3)
        self.assertEqual([e["seq"] for e in self.hs.requests(
            since=log[0]["seq"])], [log[1]["seq"], log[2]["seq"]])
        self.assertEqual(self.hs.requests(since=log[2]["seq"]), [])

    def test_acts_are_bounded_and_checked(self):
        from fakes import ControlError
        for body in ({"acts": []}, {"acts": "x"}, {},
                     {"acts": [{"method": "GET", "path": "/x"}]},
                     {"acts": [self.send_act("a")] * 10001}):
            with self.assertRaises(ControlError, msg=repr(body)[:80]):
                self.hs.control("POST", "acts", body)


class TLS(unittest.TestCase):
    def test_https_with_a_test_certificate(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_cert(tmp)
            with FakeHomeserver(tls=(cert, key)) as hs:
                self.assertTrue(hs.url.startswith("https://"))
                res = hs.http("GET", "/_matrix/client/versions")
                self.assertEqual(res.status, 200)
                hs.reset()                    # control works over TLS too
                self.assertEqual(len(hs.requests()), 0)


if __name__ == "__main__":
    unittest.main()
