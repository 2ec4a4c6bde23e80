"""Shared base for tests that talk to one fake homeserver over HTTP."""

import unittest

from fakes import FakeHomeserver, q

C = "/_matrix/client/v3"
SHARED_SECRET = "it-shared-secret"


class HomeserverCase(unittest.TestCase):
    """One fake per class, reset before each test (fast and isolated)."""

    fake_kwargs = {}

    @classmethod
    def setUpClass(cls):
        kwargs = dict({"shared_secret": SHARED_SECRET}, **cls.fake_kwargs)
        cls.hs = FakeHomeserver(**kwargs).start()

    @classmethod
    def tearDownClass(cls):
        cls.hs.stop()

    def setUp(self):
        self.hs.reset()

    # -- helpers -------------------------------------------------------
    def call(self, method, path, body=None, token=None, headers=None,
             timeout=30.0):
        return self.hs.http(method, path, body, headers, token, timeout)

    def ok(self, method, path, body=None, token=None):
        res = self.call(method, path, body, token)
        self.assertEqual(res.status, 200, "%s %s -> %r" % (method, path, res))
        return res.body

    def assertError(self, res, status, errcode):
        self.assertEqual((res.status, res.body.get("errcode")),
                         (status, errcode), repr(res))
        self.assertIsInstance(res.body.get("error"), str)

    def register(self, name, password=None):
        """Register through the real API (401 first, then dummy)."""
        body = {"username": name, "password": password or "pw-" + name}
        first = self.call("POST", C + "/register", body)
        self.assertEqual(first.status, 401)
        body["auth"] = {"type": "m.login.dummy",
                        "session": first.body["session"]}
        out = self.ok("POST", C + "/register", body)
        return out["user_id"], out["access_token"]

    def create_room(self, token, **body):
        return self.ok("POST", C + "/createRoom", body, token)["room_id"]

    def send(self, token, room_id, text, txn):
        return self.call("PUT", C + "/rooms/%s/send/m.room.message/%s"
                         % (q(room_id), txn),
                         {"msgtype": "m.text", "body": text}, token)

    def join(self, token, room_id):
        return self.call("POST", C + "/join/" + q(room_id), {}, token)

    def invite(self, token, room_id, user_id):
        return self.call("POST", C + "/rooms/%s/invite" % q(room_id),
                         {"user_id": user_id}, token)

    def sync(self, token, **params):
        import urllib.parse
        path = C + "/sync"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        return self.ok("GET", path, None, token)

    def messages(self, token, room_id, **params):
        import urllib.parse
        params.setdefault("dir", "b")
        return self.ok("GET", C + "/rooms/%s/messages?%s"
                       % (q(room_id), urllib.parse.urlencode(params)),
                       None, token)
