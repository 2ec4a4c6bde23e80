"""Self-tests of the fake homeserver's media repository (mx_media):
uploads (raw bytes, the size limits as Synapse 1.67 applies them, an
application service masquerading), downloads on the unauthenticated
(1.67) and authenticated (client v1, `media.authenticated`) paths with
Synapse's headers and errors, the control interface (put, list, get),
faults on downloads, and avatars pointing at media the server does not
hold. No lettamx."""

import hashlib
import http.client
import json
import socket
import time

from fakes import ControlError, q
from hs_case import C, HomeserverCase

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00"
       b"\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc"
       b"\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00"
       b"IEND\xaeB`\x82")
V3 = "/_matrix/media/v3"
V1 = "/_matrix/client/v1/media"
AS_TOKEN = "as-token-media-0123"
REQUEST_FLOOR = 200 * 65536      # Synapse's smallest request body limit


def media_path(mxc):
    server, media_id = mxc[len("mxc://"):].split("/", 1)
    return "%s/%s" % (q(server), q(media_id))


class MediaCase(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.me, self.tok = self.register("alice")

    def upload(self, data=PNG, content_type="image/png", filename=None,
               token=None, **kw):
        res = self.hs.upload(token or self.tok, data, content_type, filename,
                             **kw)
        self.assertEqual(res.status, 200, repr(res))
        return res.body["content_uri"]

    def raw(self, method, path, body=None, headers=None):
        """(status, headers, bytes, error) on a fresh connection: a body
        cut short comes back as what arrived plus the error."""
        conn = self.hs.connection(timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            try:
                return resp.status, hdrs, resp.read(), None
            except http.client.IncompleteRead as exc:
                return resp.status, hdrs, exc.partial, exc
        finally:
            conn.close()

    def socket_request(self, head, body=b""):
        """Bytes on a bare socket (what http.client will not send); the
        status line and the JSON body of the answer."""
        sock = socket.create_connection(("127.0.0.1", self.hs.port), 10)
        try:
            sock.sendall(head.encode("latin-1") + body)
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        head_raw, _, payload = data.partition(b"\r\n\r\n")
        return head_raw.split(b"\r\n")[0].decode(), json.loads(payload)


class UploadDownload(MediaCase):
    def test_upload_then_download_on_both_paths(self):
        mxc = self.upload(PNG, "image/png", "cat.png")
        self.assertRegex(mxc, r"^mxc://localhost/[A-Za-z]{24}$")
        # r0 uploads too, and every version serves every upload.
        other = self.upload(b"second", "application/pdf", version="r0")
        for version in ("v3", "r0", "v1"):
            res = self.hs.download(mxc, version=version)
            self.assertEqual(res.status, 200, version)
            self.assertEqual(res.raw, PNG)
            self.assertEqual(res.headers["content-type"], "image/png")
            self.assertEqual(res.headers["content-length"], str(len(PNG)))
            self.assertEqual(res.headers["content-disposition"],
                             "inline; filename=cat.png")
        # Synapse 1.67: no file name, no Content-Disposition.
        res = self.hs.download(other)
        self.assertEqual((res.status, res.raw), (200, b"second"))
        self.assertNotIn("content-disposition", res.headers)
        # The /{fileName} variant names the file (not a token: filename*).
        res = self.hs.download(mxc, filename="a cat.png")
        self.assertEqual(res.raw, PNG)
        self.assertEqual(res.headers["content-disposition"],
                         "inline; filename*=utf-8''a%20cat.png")
        # The authenticated path, once the server has it.
        self.hs.configure(media={"authenticated": True})
        res = self.hs.download(mxc, self.tok, authenticated=True)
        self.assertEqual((res.status, res.raw), (200, PNG))
        self.assertEqual(res.headers["content-length"], str(len(PNG)))
        self.assertEqual(res.headers["content-disposition"],
                         "inline; filename=cat.png")
        res = self.hs.download(other, self.tok, authenticated=True,
                               filename="doc.pdf")
        self.assertEqual(res.raw, b"second")
        self.assertEqual(res.headers["content-disposition"],
                         "attachment; filename=doc.pdf")
        self.assertEqual(self.hs.download(mxc).raw, PNG)    # still there

    def test_stored_content_type_and_text_charset(self):
        plain = self.upload(b"hello", "text/plain")
        bare = self.hs.upload(self.tok, b"\x00\x01")   # no Content-Type
        self.assertEqual(bare.status, 200)
        res = self.hs.download(plain)
        self.assertEqual(res.headers["content-type"],
                         "text/plain; charset=UTF-8")
        res = self.hs.download(bare.body["content_uri"])
        self.assertEqual(res.headers["content-type"],
                         "application/octet-stream")
        self.assertEqual(res.raw, b"\x00\x01")
        kinds = {m["mxc"]: m["content_type"] for m in self.hs.media()}
        self.assertEqual(kinds, {plain: "text/plain",
                                 bare.body["content_uri"]:
                                 "application/octet-stream"})

    def test_upload_needs_a_token(self):
        res = self.hs.http("POST", V3 + "/upload", PNG,
                           {"Content-Type": "image/png"})
        self.assertError(res, 401, "M_MISSING_TOKEN")
        res = self.hs.upload("syt_bogus", PNG, "image/png")
        self.assertError(res, 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(self.hs.media(), [])
        # Downloads need none on the 1.67 paths.
        mxc = self.upload()
        self.assertEqual(self.hs.download(mxc).status, 200)

    def test_too_large(self):
        config = self.hs.configure(media={"max_upload_size": 1000})
        self.assertEqual(config["media"]["max_upload_size"], 1000)
        self.assertEqual(self.ok("GET", V3 + "/config", token=self.tok),
                         {"m.upload.size": 1000})
        self.upload(b"x" * 1000)
        res = self.hs.upload(self.tok, b"x" * 1001, "image/png")
        self.assertError(res, 413, "M_TOO_LARGE")
        self.assertEqual(res.body["error"], "Upload request body is too large")
        self.assertEqual([m["size"] for m in self.hs.media()], [1000])
        # The default is Synapse's 50M.
        self.hs.reset()
        self.me, self.tok = self.register("alice")
        self.assertEqual(self.ok("GET", V3 + "/config", token=self.tok),
                         {"m.upload.size": 50 * 1024 * 1024})
        for bad in ({"max_upload_size": -1}, {"max_upload_size": "1k"},
                    {"authenticated": "yes"}, {"size": 1},
                    {"freeze_legacy": True}):
            with self.assertRaises(ControlError, msg=repr(bad)):
                self.hs.configure(media=bad)

    def test_body_over_the_request_limit_resets_the_connection(self):
        # Synapse 1.67 reads a body only up to max(13,107,200,
        # max_upload_size) bytes, then aborts: no answer at all.
        self.hs.configure(media={"max_upload_size": 1000})
        self.hs.clear_requests()
        conn = self.hs.connection(timeout=20)
        try:
            with self.assertRaises(ConnectionError):
                conn.request("POST", V3 + "/upload",
                             body=b"y" * (REQUEST_FLOOR + 1),
                             headers={"Authorization": "Bearer " + self.tok,
                                      "Content-Type": "image/png"})
                conn.getresponse().read()
        finally:
            conn.close()
        entry, = self.hs.requests("POST", "/upload")
        self.assertIsNone(entry["status"])
        self.assertIn("connection reset", entry["aborted"])
        self.assertEqual(entry["body"]["size"], REQUEST_FLOOR + 1)
        self.assertEqual(self.hs.media(), [])
        # Just under the limit: read, and refused with the 413.
        res = self.hs.upload(self.tok, b"y" * REQUEST_FLOOR, "image/png")
        self.assertError(res, 413, "M_TOO_LARGE")

    def test_content_length_is_required_and_zero_is_an_upload(self):
        auth = "Authorization: Bearer %s\r\n" % self.tok
        status, body = self.socket_request(
            "POST %s/upload HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n"
            "\r\n" % (V3, auth))
        self.assertIn(" 400 ", status)
        self.assertEqual(body, {"errcode": "M_UNKNOWN", "error":
                                "Request must specify a Content-Length"})
        status, body = self.socket_request(
            "POST %s/upload HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: "
            "chunked\r\nConnection: close\r\n\r\n" % (V3, auth),
            b"3\r\nabc\r\n0\r\n\r\n")
        self.assertIn(" 400 ", status)
        self.assertEqual(body["error"],
                         "Request must specify a Content-Length")
        self.assertEqual(self.hs.media(), [])
        mxc = self.upload(b"")          # Content-Length: 0 is a file
        res = self.hs.download(mxc)
        self.assertEqual((res.status, res.raw,
                          res.headers["content-length"]), (200, b"", "0"))

    def test_filename_must_be_utf8(self):
        res = self.hs.http("POST", V3 + "/upload?filename=%FF.png", PNG,
                           {"Content-Type": "image/png"}, self.tok)
        self.assertError(res, 400, "M_UNKNOWN")
        self.assertEqual(res.body["error"],
                         "Invalid UTF-8 filename parameter: b'\\xff.png'")
        mxc = self.upload(filename="\u00e9t\u00e9.png")
        self.assertEqual(self.hs.download(mxc).headers["content-disposition"],
                         "inline; filename*=utf-8''%C3%A9t%C3%A9.png")

    def test_upload_is_logged_as_a_summary(self):
        self.hs.clear_requests()
        mxc = self.upload(PNG, "image/png", "cat.png")
        entry, = self.hs.requests("POST", "/upload")
        self.assertEqual(entry["body"], {
            "size": len(PNG), "content_type": "image/png",
            "sha256": hashlib.sha256(PNG).hexdigest()})
        self.assertEqual((entry["user"], entry["mxc"], entry["status"]),
                         (self.me, mxc, 200))
        self.assertEqual(entry["query"], {"filename": ["cat.png"]})
        self.hs.download(mxc)
        self.assertEqual(self.hs.requests("GET", "/download/")[0]["mxc"], mxc)
        # A fault that keeps the upload from the server logs it alike.
        self.hs.inject_fault("POST", "/upload", status=500)
        self.assertEqual(self.hs.upload(self.tok, b"\xff\xfe{", "x/y")
                         .status, 500)
        entry = self.hs.requests("POST", "/upload")[-1]
        self.assertEqual(entry["body"]["size"], 3)
        self.assertIsNotNone(entry["fault"])
        self.assertEqual(len(self.hs.media()), 1)


class Switches(MediaCase):
    def test_authenticated_switch(self):
        mxc = self.upload()
        path = V1 + "/download/" + media_path(mxc)
        # Synapse 1.67: no such endpoint, whatever the method or token.
        for method, token in (("GET", self.tok), ("GET", None),
                              ("POST", self.tok)):
            res = self.call(method, path, token=token)
            self.assertError(res, 400, "M_UNRECOGNIZED")
            self.assertEqual(res.body["error"], "Unrecognized request")
        self.assertError(self.call("GET", V1 + "/config", token=self.tok),
                         400, "M_UNRECOGNIZED")
        versions = self.ok("GET", "/_matrix/client/versions")["versions"]
        self.assertNotIn("v1.11", versions)
        self.hs.configure(media={"authenticated": True})
        self.assertError(self.call("GET", path), 401, "M_MISSING_TOKEN")
        self.assertError(self.call("GET", path, token="syt_bogus"), 401,
                         "M_UNKNOWN_TOKEN")
        res = self.call("GET", path, token=self.tok)
        self.assertEqual((res.status, res.raw), (200, PNG))
        self.assertEqual(self.ok("GET", V1 + "/config", token=self.tok),
                         {"m.upload.size": 50 * 1024 * 1024})
        versions = self.ok("GET", "/_matrix/client/versions")["versions"]
        self.assertIn("v1.11", versions)
        self.assertEqual(self.hs.download(mxc).raw, PNG)  # legacy still
        # Frozen: what is stored from now on is only served with a token.
        self.hs.configure(media={"freeze_legacy": True})
        fresh = self.upload(b"fresh")
        self.assertEqual(self.hs.download(mxc).raw, PNG)
        res = self.hs.download(fresh)
        self.assertError(res, 404, "M_NOT_FOUND")
        self.assertEqual(res.body["error"], "Not found")
        self.assertEqual(self.hs.download(fresh, self.tok,
                                          authenticated=True).raw, b"fresh")
        self.hs.configure(media={"freeze_legacy": False})
        self.assertEqual(self.hs.download(fresh).raw, b"fresh")
        self.hs.configure(media={"authenticated": False})
        self.assertError(self.call("GET", path, token=self.tok), 400,
                         "M_UNRECOGNIZED")

    def test_large_download_on_both_paths(self):
        """20 MB (a picture far over image_max_bytes) is stored and served
        whole, with its Content-Length first (what a client checks before
        it reads on), on the legacy path and, switched on, the
        authenticated one; Synapse 1.67 (the switch off) answers the
        authenticated path 400 M_UNRECOGNIZED, which tells a client to use
        the legacy one (src/matrix/mx_media.c)."""
        data = PNG + bytes(20 * 1024 * 1024)
        mxc = self.upload(data)
        digest = hashlib.sha256(data).hexdigest()
        v1 = V1 + "/download/" + media_path(mxc)
        self.assertError(self.call("GET", v1, token=self.tok), 400,
                         "M_UNRECOGNIZED")
        self.hs.configure(media={"authenticated": True})
        for path, token in ((V3 + "/download/" + media_path(mxc), None),
                            (v1, self.tok)):
            headers = {"Authorization": "Bearer " + token} if token else {}
            status, hdrs, body, err = self.raw("GET", path, headers=headers)
            self.assertEqual((status, err), (200, None), path)
            self.assertEqual(hdrs["content-length"], str(len(data)))
            self.assertEqual(hdrs["content-type"], "image/png")
            self.assertEqual(hashlib.sha256(body).hexdigest(), digest)

    def test_unknown_media(self):
        res = self.call("GET", V3 + "/download/localhost/nothingHere")
        self.assertError(res, 404, "M_NOT_FOUND")
        self.assertEqual(res.body["error"],
                         "Not found [b'localhost', b'nothingHere']")
        res = self.call("GET", V3 + "/download/localhost/nothingHere/x.png")
        self.assertEqual(res.body["error"],
                         "Not found [b'localhost', b'nothingHere', b'x.png']")
        # Another server: no federation here, as an unreachable remote.
        res = self.call("GET", V3 + "/download/matrix.org/abc")
        self.assertError(res, 502, "M_UNKNOWN")
        self.assertEqual(res.body["error"], "Failed to fetch remote media")
        res = self.call("GET", V3 + "/download/matrix.org/abc"
                        "?allow_remote=false")
        self.assertError(res, 404, "M_NOT_FOUND")
        res = self.call("GET", V3 + "/download/matrix.org/abc"
                        "?allow_remote=maybe")
        self.assertError(res, 400, "M_INVALID_PARAM")
        # Malformed: Synapse's parse_media_id.
        for bad in ("/download/bad_host!/abc", "/download/localhost",
                    "/download"):
            res = self.call("GET", V3 + bad)
            self.assertError(res, 404, "M_UNKNOWN")
            self.assertTrue(res.body["error"].startswith(
                "Invalid media id token"), res.body)
        self.hs.configure(media={"authenticated": True})
        res = self.call("GET", V1 + "/download/localhost/nothingHere",
                        token=self.tok)
        self.assertError(res, 404, "M_NOT_FOUND")
        res = self.call("GET", V1 + "/download/matrix.org/abc",
                        token=self.tok)
        self.assertError(res, 502, "M_UNKNOWN")

    def test_media_resources_refuse_other_methods_with_400(self):
        mxc = self.upload()
        for method, path in (("GET", V3 + "/upload"),
                             ("PUT", V3 + "/upload/localhost/abc"),
                             ("POST", V3 + "/download/" + media_path(mxc)),
                             ("DELETE", V3 + "/config")):
            res = self.call(method, path, token=self.tok)
            self.assertError(res, 400, "M_UNRECOGNIZED")
        # The client API's servlets still say 405.
        self.assertError(self.call("DELETE", C + "/account/whoami",
                                   token=self.tok), 405, "M_UNRECOGNIZED")


class Appservice(MediaCase):
    def load(self):
        self.hs.appservice_load({
            "id": "bridge", "url": None, "as_token": AS_TOKEN,
            "hs_token": "hs-token-media", "sender_localpart": "bridge",
            "rate_limited": False,
            "namespaces": {"users": [{"exclusive": True,
                                      "regex": "@agent_.*:localhost"}],
                           "aliases": [], "rooms": []}})
        res = self.call("POST", C + "/register",
                        {"type": "m.login.application_service",
                         "username": "agent_one", "inhibit_login": True},
                        AS_TOKEN)
        self.assertEqual(res.status, 200, repr(res))
        return res.body["user_id"]

    def test_masquerading_upload(self):
        agent = self.load()
        self.hs.clear_requests()
        mxc = self.upload(PNG, "image/png", "avatar.png", token=AS_TOKEN,
                          user_id=agent)
        sender = self.upload(b"logo", "image/png", token=AS_TOKEN)
        uploaders = {m["mxc"]: m["uploader"] for m in self.hs.media()}
        self.assertEqual(uploaders, {mxc: agent, sender:
                                     "@bridge:localhost"})
        entry = self.hs.requests("POST", "/upload")[0]
        self.assertEqual((entry["user"], entry["appservice"]),
                         (agent, "bridge"))
        self.assertEqual(self.hs.download(mxc).raw, PNG)
        # Only users of its namespaces, and only registered ones.
        res = self.hs.upload(AS_TOKEN, PNG, "image/png", user_id=self.me)
        self.assertError(res, 403, "M_FORBIDDEN")
        res = self.hs.upload(AS_TOKEN, PNG, "image/png",
                             user_id="@agent_two:localhost")
        self.assertError(res, 403, "M_FORBIDDEN")
        self.assertEqual(len(self.hs.media()), 2)


class Control(MediaCase):
    def test_control_put_backs_an_image_event(self):
        self.hs.clear_requests()
        put = self.hs.media_put(PNG, "image/png", uploader=self.me,
                                filename="cat.png")
        mxc = put["content_uri"]
        self.assertEqual((put["size"], put["sha256"], put["source"]),
                         (len(PNG), hashlib.sha256(PNG).hexdigest(),
                          "control"))
        self.assertEqual(self.hs.requests(), [])      # not a request
        room = self.create_room(self.tok)
        self.hs.human_send(self.me, room, "cat.png", msgtype="m.image",
                           url=mxc, info={"mimetype": "image/png",
                                          "size": len(PNG)})
        event = self.hs.human_read(self.me, room)[-1]
        self.assertEqual(event["content"]["url"], mxc)
        res = self.hs.download(event["content"]["url"])
        self.assertEqual((res.status, res.raw), (200, PNG))
        listed, = self.hs.media()
        self.assertEqual((listed["mxc"], listed["uploader"],
                          listed["content_type"], listed["size"]),
                         (mxc, self.me, "image/png", len(PNG)))
        self.assertNotIn("base64", listed)
        self.assertEqual(self.hs.media_get(mxc)["data"], PNG)
        self.assertEqual(self.hs.media_bytes(mxc), PNG)

    def test_control_put_remote_media_and_forget(self):
        put = self.hs.media_put(b"remote bytes", "image/jpeg",
                                server_name="matrix.org",
                                media_id="remoteCat")
        self.assertEqual(put["content_uri"], "mxc://matrix.org/remoteCat")
        res = self.hs.download(put["content_uri"])
        self.assertEqual((res.status, res.raw), (200, b"remote bytes"))
        with self.assertRaises(ControlError):       # taken
            self.hs.media_put(b"x", server_name="matrix.org",
                              media_id="remoteCat")
        for bad in ({"base64": "not base64!"}, {"text": "a", "base64": ""},
                    {"text": "a", "colour": "red"}, {}):
            with self.assertRaises(ControlError, msg=repr(bad)):
                self.hs.control("POST", "media", bad)
        self.hs.control("DELETE", "media/matrix.org/remoteCat")
        self.assertError(self.hs.download(put["content_uri"]), 502,
                         "M_UNKNOWN")
        local = self.hs.media_put(b"x")["content_uri"]
        self.hs.reset()
        self.assertEqual(self.hs.media(), [])
        self.assertError(self.hs.download(local), 404, "M_NOT_FOUND")


class Faults(MediaCase):
    def test_truncated_download(self):
        data = bytes(range(256)) * 40           # 10,240 bytes
        mxc = self.upload(data, "application/octet-stream")
        path = V3 + "/download/" + media_path(mxc)
        self.hs.inject_fault("GET", "/download/", truncate=True)
        status, headers, got, error = self.raw("GET", path)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-length"], str(len(data)))
        self.assertIsInstance(error, http.client.IncompleteRead)
        self.assertEqual(got, data[:len(data) // 2])
        entry = self.hs.requests("GET", "/download/")[-1]
        self.assertTrue(entry["fault"]["truncate"])
        self.assertEqual(entry["status"], 200)
        status, _, got, error = self.raw("GET", path)   # consumed
        self.assertEqual((status, got, error), (200, data, None))

    def test_download_status_delay_and_drop(self):
        mxc = self.upload()
        path = V3 + "/download/" + media_path(mxc)
        self.hs.inject_fault("GET", "/download/", status=503)
        self.assertEqual(self.raw("GET", path)[0], 503)
        self.hs.inject_fault("GET", "/download/", delay_ms=300)
        started = time.monotonic()
        status, _, got, _ = self.raw("GET", path)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual((status, got), (200, PNG))
        self.hs.inject_fault("GET", "/download/", drop="before_head")
        with self.assertRaises(ConnectionError):
            self.raw("GET", path)
        self.hs.inject_fault("GET", "/download/", drop="after_head")
        status, headers, got, error = self.raw("GET", path)
        self.assertEqual((status, headers["content-length"], got),
                         (200, str(len(PNG)), b""))
        self.assertIsNotNone(error)
        self.hs.configure(media={"authenticated": True})
        self.hs.inject_fault("GET", V1 + "/download/", truncate=True)
        status, _, got, error = self.call_v1(mxc)
        self.assertEqual((status, got), (200, PNG[:len(PNG) // 2]))
        self.assertIsNotNone(error)

    def call_v1(self, mxc):
        return self.raw("GET", V1 + "/download/" + media_path(mxc),
                        headers={"Authorization": "Bearer " + self.tok})


class Avatars(MediaCase):
    def test_avatars_may_name_media_the_server_does_not_hold(self):
        path = C + "/profile/%s/avatar_url" % q(self.me)
        self.ok("PUT", path, {"avatar_url": "mxc://localhost/notHeld"},
                self.tok)
        self.assertEqual(self.ok("GET", path)["avatar_url"],
                         "mxc://localhost/notHeld")
        users = {u["user_id"]: u for u in self.hs.control("GET", "users")
                 ["users"]}
        self.assertEqual(users[self.me]["avatar_url"],
                         "mxc://localhost/notHeld")
        room = self.create_room(self.tok)
        self.ok("PUT", C + "/rooms/%s/state/m.room.avatar/" % q(room),
                {"url": "mxc://elsewhere.org/notHeldEither"}, self.tok)
        state = self.ok("GET", C + "/rooms/%s/state/m.room.avatar"
                        % q(room), token=self.tok)
        self.assertEqual(state["url"], "mxc://elsewhere.org/notHeldEither")
        self.assertEqual(self.hs.media(), [])
        # Synapse's limit is 1,000 characters.
        long_url = "mxc://localhost/" + "a" * (1000 - 16)
        self.ok("PUT", path, {"avatar_url": long_url}, self.tok)
        res = self.call("PUT", path, {"avatar_url": long_url + "a"},
                        self.tok)
        self.assertError(res, 400, "M_UNKNOWN")
        self.assertEqual(res.body["error"],
                         "Avatar URL is too long (max 1000)")
