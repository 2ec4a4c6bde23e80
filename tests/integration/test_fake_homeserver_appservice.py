"""Self-tests of the fake homeserver as the homeserver of one application
service (`[matrix] mode = appservice`): the registration (JSON and the
YAML lettamx writes), the as_token and masquerading, exclusive
namespaces, `m.login.application_service`, rate limits, transactions on
both path styles with their retries, the ping, the push record. A small
HTTP server in this file plays the application service; no lettamx."""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakes import ControlError, q
from hs_case import C, HomeserverCase

AS_TOKEN = "as-token-0123456789"
HS_TOKEN = "hs-token-9876543210"
AGENT_RE = "@agent_.*:localhost"

YAML = """\
# written by lettamx appservice registration
id: lettamx
url: "%s"
as_token: "%s"
hs_token: '%s'
sender_localpart: lettamx
rate_limited: false
namespaces:
  users:
  - exclusive: true
    regex: "@agent_.*:localhost"   # the agents
  aliases: []
  rooms: []
"""


def registration(service_url, **over):
    reg = {"id": "lettamx", "url": service_url, "as_token": AS_TOKEN,
           "hs_token": HS_TOKEN, "sender_localpart": "lettamx",
           "rate_limited": False,
           "namespaces": {"users": [{"exclusive": True, "regex": AGENT_RE}],
                          "aliases": [], "rooms": []}}
    reg.update(over)
    return reg


class ServiceStub:
    """The application service: records every request (with the times it
    came in and was answered) and answers from a per-kind script, 200 {}
    when the script is empty."""

    def __init__(self):
        self.cond = threading.Condition()
        self.seen = []
        self.script = {"transaction": [], "ping": []}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_PUT(self):
                stub._serve(self)

            do_POST = do_GET = do_PUT

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, kind, status, body=None):
        with self.cond:
            self.script[kind].append((status, {} if body is None else body))

    def _serve(self, handler):
        t_in = time.monotonic()
        raw = handler.rfile.read(int(handler.headers.get("Content-Length")
                                     or 0))
        parts = urllib.parse.urlsplit(handler.path)
        kind = "ping" if parts.path.endswith("/ping") else \
            "transaction" if "/transactions/" in parts.path else "other"
        with self.cond:
            script = self.script.get(kind) or []
            status, body = script.pop(0) if script else (200, {})
        time.sleep(0.02)        # overlapping pushes would show
        out = json.dumps(body).encode()
        # stamped before the answer goes: the fake may send the next
        # transaction the moment it has read this one
        t_out = time.monotonic()
        # recorded before the answer goes: whoever reads the answer (the
        # fake, then the test) finds the request in the record
        with self.cond:
            self.seen.append({
                "kind": kind, "method": handler.command,
                "path": parts.path,
                "query": urllib.parse.parse_qs(parts.query),
                "auth": handler.headers.get("Authorization"),
                "body": json.loads(raw) if raw else None,
                "status": status, "t_in": t_in, "t_out": t_out})
            self.cond.notify_all()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(out)))
        handler.end_headers()
        handler.wfile.write(out)

    def requests(self, kind="transaction"):
        with self.cond:
            return [r for r in self.seen if r["kind"] == kind]

    def wait(self, n, kind="transaction", timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([r for r in self.seen if r["kind"] == kind]) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
        return self.requests(kind)


class AppserviceCase(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.stub = ServiceStub()
        self.addCleanup(self.stub.stop)

    def load(self, **over):
        options = {k: over.pop(k) for k in list(over)
                   if k in ("paths", "ping", "retry_ms", "retry_max_ms",
                            "max_events", "timeout_ms")}
        return self.hs.appservice_load(registration(self.stub.url, **over),
                                       **options)

    def as_call(self, method, path, body=None, user_id=None, token=AS_TOKEN):
        if user_id is not None:
            path += ("&" if "?" in path else "?") + "user_id=" + q(user_id)
        return self.call(method, path, body, token)

    def as_register(self, username, **extra):
        body = dict({"type": "m.login.application_service",
                     "username": username, "inhibit_login": True}, **extra)
        return self.as_call("POST", C + "/register", body)

    def agent(self, name):
        res = self.as_register(name)
        self.assertEqual(res.status, 200, repr(res))
        return res.body["user_id"]

    def as_send(self, room, text, txn, user_id=None):
        return self.as_call("PUT", C + "/rooms/%s/send/m.room.message/%s"
                            % (q(room), txn),
                            {"msgtype": "m.text", "body": text}, user_id)

    def until(self, probe, timeout=10.0):
        """probe() once it is true (or its last value after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.02)

    def pushed_events(self):
        return [ev for r in self.stub.requests() if r["status"] == 200
                for ev in r["body"]["events"]]


class Registration(AppserviceCase):
    def test_json_registration_is_loaded_and_shown(self):
        state = self.load()
        self.assertEqual(state["registration"]["id"], "lettamx")
        self.assertEqual(state["sender"], "@lettamx:localhost")
        self.assertEqual((state["options"]["paths"], state["options"]["ping"],
                          state["rate_limited"]), ("v1", True, False))
        self.assertTrue(state["delivery"]["idle"])
        self.assertEqual(self.hs.appservice()["registration"]["url"],
                         self.stub.url)
        users = [u["user_id"] for u in self.hs.control("GET",
                                                       "users")["users"]]
        self.assertIn("@lettamx:localhost", users)   # the sender exists

    def test_yaml_registration_is_read_as_synapse_reads_it(self):
        state = self.hs.appservice_load(
            yaml=YAML % (self.stub.url, AS_TOKEN, HS_TOKEN), paths="legacy")
        self.assertEqual(state["registration"], registration(self.stub.url))
        self.assertEqual(state["options"]["paths"], "legacy")
        self.assertEqual(state["ignored_keys"], [])
        me = self.ok("GET", C + "/account/whoami", token=AS_TOKEN)
        self.assertEqual(me["user_id"], "@lettamx:localhost")

    def test_yaml_unknown_keys_are_ignored_and_a_string_bool_warned(self):
        text = (YAML % (self.stub.url, AS_TOKEN, HS_TOKEN)).replace(
            "rate_limited: false", 'rate_limited: "false"\nextra_key: 1')
        state = self.hs.appservice_load(yaml=text)
        self.assertEqual(state["ignored_keys"], ["extra_key"])
        # Synapse takes a non-boolean rate_limited as true
        self.assertTrue(state["rate_limited"])
        self.assertIn("rate_limited", state["warnings"][0])

    def test_bad_yaml_is_refused_with_the_line(self):
        good = YAML % (self.stub.url, AS_TOKEN, HS_TOKEN)
        bad = {
            'regex: "@agent_.*:localhost"': "regex: @agent_.*:localhost",
            "sender_localpart: lettamx":
                "sender_localpart: lettamx\nsender_localpart: again",
            "rate_limited: false": "rate_limited: no",
            "  aliases: []": "  aliases: [{regex: x}]",
            "  rooms: []": "  rooms: &r []",
            "id: lettamx": "id: |\n  lettamx",
            "  - exclusive: true": "\t- exclusive: true",
            "url: ": "url:",
        }
        for old, new in bad.items():
            text = good.replace(old, new, 1)
            self.assertNotEqual(text, good)
            with self.assertRaises(ControlError) as cm:
                self.hs.appservice_load(yaml=text)
            self.assertIn("-> 400", str(cm.exception))
            self.assertTrue("yaml line" in str(cm.exception) or
                            "url" in str(cm.exception), str(cm.exception))
        self.assertIsNone(self.hs.appservice()["registration"])

    def test_bad_registrations_are_refused(self):
        for over, word in (({"hs_token": None}, "hs_token"),
                           ({"url": 5}, "url"),
                           ({"namespaces": {"users": [{"regex": "@a"}]}},
                            "exclusive"),
                           ({"namespaces": {"users": [
                               {"regex": "(", "exclusive": True}]}}, "regex"),
                           ({"sender_localpart": "a b"}, "sender_localpart"),
                           ({"receive_ephemeral": True}, "ephemeral"),
                           ({"path": "legacy"}, "unknown keys")):
            with self.assertRaises(ControlError) as cm:
                self.load(**over)
            self.assertIn(word, str(cm.exception))
        with self.assertRaises(ControlError):
            self.load(paths="v2")
        self.assertIsNone(self.hs.appservice()["registration"])

    def test_removed_service_token_is_unknown(self):
        self.load()
        self.ok("GET", C + "/account/whoami", token=AS_TOKEN)
        self.assertEqual(self.hs.appservice_remove(), {"removed": True})
        res = self.call("GET", C + "/account/whoami", token=AS_TOKEN)
        self.assertError(res, 401, "M_UNKNOWN_TOKEN")


class Acting(AppserviceCase):
    def setUp(self):
        super().setUp()
        self.load(namespaces={"users": [
            {"exclusive": True, "regex": AGENT_RE},
            {"exclusive": False, "regex": "@shared_.*"}]})

    def whoami(self, user_id=None):
        return self.as_call("GET", C + "/account/whoami", user_id=user_id)

    def test_whoami_is_the_sender_without_a_device(self):
        me = self.whoami()
        self.assertEqual(me.status, 200)
        self.assertEqual(me.body, {"user_id": "@lettamx:localhost",
                                   "is_guest": False})
        self.assertEqual(self.whoami("@lettamx:localhost").body["user_id"],
                         "@lettamx:localhost")
        logged = self.hs.requests("GET", "/whoami")[-1]
        self.assertEqual((logged["user"], logged["appservice"]),
                         ("@lettamx:localhost", "lettamx"))

    def test_masquerading_as_a_registered_namespace_user(self):
        agent = self.agent("agent_a")
        self.assertEqual(self.whoami(agent).body["user_id"], agent)
        # non-exclusive namespaces count too (is_interested_in_user)
        shared = self.agent("shared_x")
        self.assertEqual(self.whoami(shared).body["user_id"], shared)
        # and it acts as that user: the room is the agent's
        res = self.as_call("POST", C + "/createRoom", {"name": "A"}, agent)
        self.assertEqual(res.status, 200)
        created = self.hs.room(res.body["room_id"])
        self.assertEqual(created["state"][0]["sender"], agent)

    def test_masquerading_outside_the_namespace_is_forbidden(self):
        human, _ = self.register("human")
        res = self.whoami(human)
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertEqual(res.body["error"],
                         "Application service cannot masquerade as this "
                         "user.")

    def test_masquerading_an_unregistered_user_is_forbidden(self):
        res = self.whoami("@agent_nobody:localhost")
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertEqual(res.body["error"],
                         "Application service has not registered this user")

    def test_user_id_is_ignored_for_other_tokens(self):
        human, tok = self.register("human")
        agent = self.agent("agent_a")
        res = self.call("GET", C + "/account/whoami?user_id=" + q(agent),
                        token=tok)
        self.assertEqual(res.body["user_id"], human)


class Registering(AppserviceCase):
    def setUp(self):
        super().setUp()
        self.load(namespaces={"users": [
            {"exclusive": True, "regex": AGENT_RE},
            {"exclusive": False, "regex": "@shared_.*"}]})

    def test_exclusive_names_are_refused_to_others_before_auth(self):
        for name in ("agent_x", "lettamx"):
            res = self.call("POST", C + "/register", {"username": name,
                                                      "password": "pw"})
            self.assertError(res, 400, "M_EXCLUSIVE")
            self.assertNotIn("session", res.body)
        avail = self.call("GET", C + "/register/available?username=agent_y")
        self.assertError(avail, 400, "M_EXCLUSIVE")
        # a name outside, or in a non-exclusive namespace, goes on to UIA
        for name in ("alice", "shared_bob"):
            res = self.call("POST", C + "/register", {"username": name,
                                                      "password": "pw"})
            self.assertEqual(res.status, 401, repr(res))

    def test_appservice_registration_makes_a_passwordless_user(self):
        res = self.as_register("agent_a")
        self.assertEqual((res.status, res.body),
                         (200, {"user_id": "@agent_a:localhost",
                                "home_server": "localhost"}))
        self.assertError(self.as_register("agent_a"), 400, "M_USER_IN_USE")
        self.assertError(self.as_register("lettamx"), 400, "M_USER_IN_USE")
        login = self.call("POST", C + "/login", {
            "type": "m.login.password", "password": "",
            "identifier": {"type": "m.id.user", "user": "agent_a"}})
        self.assertError(login, 403, "M_FORBIDDEN")
        admin = self.hs.human_register("root", admin=True)
        shown = self.ok("GET", "/_synapse/admin/v2/users/%s"
                        % q("@agent_a:localhost"),
                        token=admin["access_token"])
        self.assertEqual(shown["appservice_id"], "lettamx")

    def test_appservice_registration_outside_the_namespace_is_exclusive(self):
        res = self.as_register("bob")
        self.assertError(res, 400, "M_EXCLUSIVE")
        self.assertEqual(res.body["error"],
                         "Invalid user localpart for this application "
                         "service.")

    def test_appservice_registration_needs_the_as_token(self):
        body = {"type": "m.login.application_service", "username": "agent_a"}
        res = self.call("POST", C + "/register", body)
        self.assertError(res, 400, "M_UNKNOWN")
        _, tok = self.register("human")
        self.assertError(self.call("POST", C + "/register", body, tok),
                         401, "M_UNKNOWN_TOKEN")
        # a normal registration with any token is refused (Synapse)
        res = self.call("POST", C + "/register", {"username": "carol"}, tok)
        self.assertError(res, 400, "M_UNKNOWN")
        self.assertIn("access token should not be provided",
                      res.body["error"])

    def test_appservice_registration_ignores_disabled_registration(self):
        self.hs.configure(registration="disabled")
        self.assertError(self.call("POST", C + "/register", {
            "username": "dave"}), 403, "M_FORBIDDEN")
        self.assertEqual(self.as_register("agent_d").status, 200)

    def test_without_inhibit_login_a_token_is_issued(self):
        res = self.as_register("agent_t", inhibit_login=False)
        self.assertEqual(res.status, 200)
        me = self.ok("GET", C + "/account/whoami",
                     token=res.body["access_token"])
        self.assertEqual((me["user_id"], me["device_id"]),
                         ("@agent_t:localhost", res.body["device_id"]))


class RateLimits(AppserviceCase):
    def setUp(self):
        super().setUp()
        self.hs.configure(rate_limit={"profile": "synapse-defaults"})

    def burst(self, user_id, n=13, token=AS_TOKEN):
        room = self.hs.human_create_room(user_id, preset="public_chat")
        codes = []
        for i in range(n):
            path = C + "/rooms/%s/send/m.room.message/b%d" % (q(room), i)
            body = {"msgtype": "m.text", "body": str(i)}
            if token == AS_TOKEN:
                codes.append(self.as_call("PUT", path, body, user_id).status)
            else:
                codes.append(self.call("PUT", path, body, token).status)
        return codes

    def test_not_limited_when_rate_limited_false(self):
        self.load(rate_limited=False)
        agent = self.agent("agent_a")
        self.assertEqual(self.burst(agent), [200] * 13)
        # the limiter is on: a person's 11th quick message is refused
        human = self.hs.human_register("human")
        self.assertEqual(self.burst(human["user_id"],
                                     token=human["access_token"])[-3:],
                         [429] * 3)

    def test_limited_when_rate_limited_true_but_never_the_sender(self):
        self.load(rate_limited=True)
        agent = self.agent("agent_a")
        codes = self.burst(agent)
        self.assertEqual(codes[:10], [200] * 10)
        self.assertEqual(codes[10:], [429] * 3)
        # "The AS user itself is never rate limited" (messages)
        self.assertEqual(self.burst("@lettamx:localhost"), [200] * 13)


class Transactions(AppserviceCase):
    def scene(self):
        """A person's room, an agent invited, joining, and talk; a room
        without the service's users next to it."""
        self.agent_id = self.agent("agent_a")
        self.person = self.hs.human_register("person")["user_id"]
        self.room = self.hs.human_create_room(self.person, name="R")
        other = self.hs.human_create_room(self.person, name="private")
        self.hs.human_send(self.person, other, "not for the service")
        self.hs.human_invite(self.person, self.room, self.agent_id)
        res = self.as_call("POST", C + "/join/" + q(self.room), {},
                           self.agent_id)
        self.assertEqual(res.status, 200)
        self.sent = [self.hs.human_send(self.person, self.room, "m%d" % i)
                     for i in range(3)]
        reply = self.as_send(self.room, "answer", "a1", self.agent_id)
        self.sent.append(reply.body["event_id"])
        state = self.hs.appservice_wait_idle()
        self.assertTrue(state["delivery"]["idle"], state)

    def check_in_order(self):
        timeline = self.hs.room(self.room)["events"]
        invite = [e["event_id"] for e in timeline
                  if e["type"] == "m.room.member"
                  and e["state_key"] == self.agent_id][0]
        pushed = self.pushed_events()
        ids = [e["event_id"] for e in pushed]
        # from the invite on (state_key), nothing of the other room
        expected = [e["event_id"] for e in timeline]
        expected = expected[expected.index(invite):]
        self.assertEqual(ids, expected)
        self.assertEqual(ids[-4:], self.sent)
        txns = [int(r["path"].rsplit("/", 1)[1])
                for r in self.stub.requests()]
        self.assertEqual(txns, list(range(1, len(txns) + 1)))
        member = pushed[0]
        self.assertEqual((member["type"], member["state_key"],
                          member["content"]["membership"], member["room_id"]),
                         ("m.room.member", self.agent_id, "invite",
                          self.room))
        msg = pushed[-1]
        for key in ("event_id", "sender", "type", "content",
                    "origin_server_ts", "unsigned", "room_id"):
            self.assertIn(key, msg)
        self.assertEqual((msg["sender"], msg["content"]["body"]),
                         (self.agent_id, "answer"))   # its own events too
        self.assertNotIn("state_key", msg)
        return self.stub.requests()

    def test_v1_paths_with_the_token_in_the_header(self):
        self.load()
        self.scene()
        for req in self.check_in_order():
            self.assertEqual(req["method"], "PUT")
            self.assertRegex(req["path"], r"^/_matrix/app/v1/transactions/"
                             r"[0-9]+$")
            self.assertEqual(req["auth"], "Bearer " + HS_TOKEN)
            self.assertEqual(req["query"], {})

    def test_legacy_paths_with_the_token_in_the_query(self):
        self.load(paths="legacy")
        self.scene()
        for req in self.check_in_order():
            self.assertRegex(req["path"], r"^/transactions/[0-9]+$")
            self.assertEqual(req["query"], {"access_token": [HS_TOKEN]})
            self.assertIsNone(req["auth"])
        entry = self.hs.appservice_pushes()[0]
        self.assertNotIn(HS_TOKEN, json.dumps(entry))   # masked
        self.assertEqual(entry["auth"], "query")

    def test_the_bots_rooms_are_pushed(self):
        self.load()
        person = self.hs.human_register("person")["user_id"]
        room = self.as_call("POST", C + "/createRoom",
                            {"invite": [person]}).body["room_id"]
        self.hs.human_join(person, room)
        said = self.hs.human_send(person, room, "hello bot")
        self.hs.appservice_wait_idle()
        ids = [e["event_id"] for e in self.pushed_events()]
        self.assertIn(said, ids)
        self.assertEqual(len(ids), len(self.hs.room(room)["events"]))

    def test_one_transaction_at_a_time_and_events_batched_behind_it(self):
        self.load()
        agent = self.agent("agent_a")
        room = self.as_call("POST", C + "/createRoom", {}, agent)
        room = room.body["room_id"]
        self.hs.appservice_wait_idle()
        first_txns = len(self.stub.requests())
        self.hs.appservice_fault(delay_ms=800)
        self.as_send(room, "one", "t1", agent)
        self.until(lambda: self.hs.appservice()["delivery"]["in_flight"])
        for i in range(3):          # while "one" is in flight, delayed
            self.as_send(room, "more %d" % i, "u%d" % i, agent)
        self.hs.appservice_wait_idle()
        reqs = self.stub.requests()[first_txns:]
        bodies = [[e["content"]["body"] for e in r["body"]["events"]]
                  for r in reqs]
        self.assertEqual(bodies, [["one"], ["more 0", "more 1", "more 2"]])
        for before, after in zip(self.stub.requests(),
                                 self.stub.requests()[1:]):
            self.assertLessEqual(before["t_out"], after["t_in"])

    def test_a_500_is_retried_with_the_same_txn_and_events(self):
        self.load(retry_ms=100)
        agent = self.agent("agent_a")
        self.stub.answer("transaction", 500, {"errcode": "M_UNKNOWN"})
        self.stub.answer("transaction", 503)
        self.as_call("POST", C + "/createRoom", {"name": "x"}, agent)
        state = self.hs.appservice_wait_idle()
        reqs = self.stub.requests()
        self.assertEqual([r["status"] for r in reqs[:3]], [500, 503, 200])
        self.assertEqual(len({r["path"] for r in reqs[:3]}), 1)
        self.assertTrue(reqs[0]["path"].endswith("/transactions/1"))
        self.assertEqual(reqs[0]["body"], reqs[2]["body"])
        txn = state["delivery"]["transactions"][0]
        self.assertEqual((txn["txn_id"], txn["attempts"], txn["statuses"],
                          txn["state"]), (1, 3, [500, 503, 200], "delivered"))
        log = self.hs.appservice_pushes("transaction")
        self.assertEqual([(e["txn_id"], e["status"]) for e in log[:3]],
                         [(1, 500), (1, 503), (1, 200)])
        # back-off: 100 ms, then 200 ms
        self.assertGreaterEqual(log[2]["time"] - log[0]["t_end"], 0.28)

    def test_a_dropped_connection_is_retried_with_the_same_txn(self):
        self.load(retry_ms=50)
        agent = self.agent("agent_a")
        self.hs.appservice_fault(drop="before_send")
        self.hs.appservice_fault(drop="after_send")
        self.as_call("POST", C + "/createRoom", {}, agent)
        self.hs.appservice_wait_idle()
        log = self.hs.appservice_pushes()
        self.assertEqual([(e["txn_id"], e["status"]) for e in log[:3]],
                         [(1, None), (1, None), (1, 200)])
        self.assertIn("before_send", log[0]["error"])
        self.assertEqual(log[1]["status_dropped"], 200)
        # the service got txn 1 twice (the answer it gave was lost)
        paths = [r["path"] for r in self.stub.requests()]
        self.assertEqual(paths[:2], ["/_matrix/app/v1/transactions/1"] * 2)

    def test_a_service_that_is_down_gets_the_txn_when_it_is_back(self):
        self.stub.stop()
        self.load(retry_ms=50, retry_max_ms=100)
        agent = self.agent("agent_a")
        self.as_call("POST", C + "/createRoom", {}, agent)
        refused = self.until(lambda: self.hs.appservice_pushes()[1:] and
                             self.hs.appservice_pushes())
        self.assertGreaterEqual(len(refused), 2)
        self.assertEqual({(e["txn_id"], e["status"]) for e in refused},
                         {(1, None)})
        self.stub = ServiceStub()
        self.addCleanup(self.stub.stop)
        self.load(retry_ms=50, retry_max_ms=100)     # same id: kept
        self.hs.appservice_wait_idle()
        self.assertTrue(self.stub.requests()[0]["path"].endswith(
            "/transactions/1"))

    def test_removed_service_gets_nothing_more(self):
        self.load(retry_ms=100, retry_max_ms=100)
        agent = self.agent("agent_a")
        room = self.as_call("POST", C + "/createRoom", {}, agent)
        state = self.hs.appservice_wait_idle()
        txn = state["delivery"]["next_txn_id"]
        self.stub.answer("transaction", 500)
        self.as_send(room.body["room_id"], "pending", "p1", agent)
        self.stub.wait(txn)     # the 500: that txn waits for its retry
        self.assertEqual(self.hs.appservice()["delivery"]["in_flight"][
            "txn_id"], txn)
        self.hs.appservice_remove()
        seen = len(self.stub.requests())
        self.hs.act(agent, "PUT", C + "/rooms/%s/send/m.room.message/z"
                    % q(room.body["room_id"]),
                    {"msgtype": "m.text", "body": "late"})
        time.sleep(0.4)         # retries would have come by now
        self.assertEqual(len(self.stub.requests()), seen)
        self.assertIsNone(self.hs.appservice()["delivery"]["in_flight"])


class Ping(AppserviceCase):
    def ping(self, body=None, service_id="lettamx", token=AS_TOKEN):
        return self.call("POST", "/_matrix/client/v1/appservice/%s/ping"
                         % service_id,
                         {} if body is None else body, token)

    def test_ping_reaches_the_service_with_the_hs_token(self):
        self.load(paths="legacy")
        res = self.ping({"transaction_id": "p1"})
        self.assertEqual(res.status, 200, repr(res))
        self.assertIsInstance(res.body["duration_ms"], int)
        got = self.stub.requests("ping")
        self.assertEqual(len(got), 1)
        self.assertEqual((got[0]["method"], got[0]["path"], got[0]["auth"],
                          got[0]["body"]),
                         ("POST", "/_matrix/app/v1/ping",
                          "Bearer " + HS_TOKEN, {"transaction_id": "p1"}))
        self.assertEqual(self.ping().status, 200)
        self.assertEqual(self.stub.requests("ping")[1]["body"],
                         {"transaction_id": None})
        log = self.hs.appservice_pushes("ping")
        self.assertEqual([(e["txn_id"], e["status"]) for e in log],
                         [("p1", 200), (None, 200)])

    def test_a_failing_service_is_a_502(self):
        self.load()
        self.stub.answer("ping", 401, {"errcode": "M_UNKNOWN_TOKEN"})
        res = self.ping()
        self.assertError(res, 502, "M_BAD_STATUS")
        self.assertEqual(res.body["status"], 401)
        self.assertEqual(json.loads(res.body["body"]),
                         {"errcode": "M_UNKNOWN_TOKEN"})
        self.hs.appservice_fault(kind="ping", drop="before_send")
        self.assertError(self.ping(), 502, "M_CONNECTION_FAILED")
        self.stub.stop()
        self.assertError(self.ping(), 502, "M_CONNECTION_FAILED")

    def test_who_may_ping(self):
        self.load()
        _, tok = self.register("human")
        res = self.ping(token=tok)
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertIn("Only application services", res.body["error"])
        self.assertError(self.ping(service_id="other"), 403, "M_FORBIDDEN")
        self.assertError(self.ping(token=None), 401, "M_MISSING_TOKEN")
        self.assertError(self.call("POST", "/_matrix/client/v1/appservice/"
                                   "lettamx/ping", b"", AS_TOKEN),
                         400, "M_NOT_JSON")
        self.assertEqual(self.stub.requests("ping"), [])

    def test_older_servers_have_no_ping(self):
        self.assertError(self.ping(), 400, "M_UNRECOGNIZED")  # no service
        self.load(ping=False)
        self.assertError(self.ping(), 404, "M_UNRECOGNIZED")
        self.load(url=None)
        self.assertError(self.ping(), 400, "M_URL_NOT_SET")
        self.assertEqual(self.stub.requests("ping"), [])

    def test_ping_does_not_hold_the_homeserver(self):
        """The service may call the homeserver while it answers a ping."""
        self.load()
        self.hs.appservice_fault(kind="ping", delay_ms=500)
        done = []
        thread = threading.Thread(target=lambda: done.append(self.ping()))
        thread.start()
        time.sleep(0.1)
        start = time.monotonic()
        self.ok("GET", C + "/account/whoami", token=AS_TOKEN)
        self.assertLess(time.monotonic() - start, 0.3)
        thread.join(5)
        self.assertEqual(done[0].status, 200)
        self.assertGreaterEqual(done[0].body["duration_ms"], 450)
