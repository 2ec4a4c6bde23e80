"""Start, stop and drive the fake servers of tools/ from tests.

Each fake runs as a subprocess on a free loopback port (port 0, reported
through --port-file), with a random control token; the control interface
(/_fake/...) is wrapped here so tests read as intent: add_agent,
inject_fault, requests(method=..., path=...), human_send, ...
"""

import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(REPO, "tools")
START_TIMEOUT = 10.0


class ControlError(Exception):
    pass


class HTTPResult:
    """status, headers (lower-case dict) and body (parsed JSON if it is)."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = raw

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body)


def http_request(host, port, method, path, body=None, headers=None,
                 tls_context=None, timeout=30.0):
    """One request on a fresh connection. body: dict/list -> JSON,
    bytes/str -> sent as is."""
    if tls_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=tls_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        return send_on(conn, method, path, body, headers)
    finally:
        conn.close()


def send_on(conn, method, path, body=None, headers=None):
    """One request on an existing (keep-alive) connection."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    return HTTPResult(resp.status, headers, raw)


class FakeProcess:
    """A fake server subprocess; use as a context manager or start/stop."""

    script = None

    def __init__(self, *args, tls=None, keepalive_idle=None):
        self.args = list(args)
        self.tls = tls                   # (cert, key) or None
        self.keepalive_idle = keepalive_idle
        self.proc = None
        self.port = None
        self.tmp = None
        self.token = secrets.token_hex(16)

    # -- lifecycle ------------------------------------------------------
    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="fake-")
        port_file = os.path.join(self.tmp, "port")
        cmd = [sys.executable, os.path.join(TOOLS, self.script),
               "--port", "0", "--port-file", port_file,
               "--control-token", self.token] + self.args
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        if self.keepalive_idle is not None:
            cmd += ["--keepalive-idle", str(self.keepalive_idle)]
        self.log_path = os.path.join(self.tmp, "output.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.port = self._wait_port(port_file)
        return self

    def _wait_port(self, port_file):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start:\n%s"
                                   % (self.script, self.output()))
            if os.path.exists(port_file):
                with open(port_file) as f:
                    return int(f.read())
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("%s did not start in %.0f s"
                           % (self.script, START_TIMEOUT))

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- addresses ----------------------------------------------------------
    @property
    def host(self):
        return "127.0.0.1"

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                      self.port)

    def client_context(self):
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.tls[0])
        return ctx

    def connection(self, timeout=30.0):
        """A keep-alive connection to the fake (for direct API tests)."""
        if self.tls:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout,
                context=self.client_context())
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def http(self, method, path, body=None, headers=None, token=None,
             timeout=30.0):
        """A request as the program under test would make it (logged)."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        return http_request(self.host, self.port, method, path, body, hdrs,
                            self.client_context(), timeout)

    # -- control interface ----------------------------------------------------
    def control(self, method, path, body=None):
        res = http_request(self.host, self.port, method, "/_fake/" + path,
                           body, {"X-Fake-Control": self.token},
                           self.client_context())
        if res.status >= 400:
            raise ControlError("%s /_fake/%s -> %d %r"
                               % (method, path, res.status, res.body))
        return res.body

    def reset(self):
        return self.control("POST", "reset")

    def requests(self, method=None, path=None, since=0):
        """Logged requests; path is a regex searched in the request path."""
        query = {k: v for k, v in (("method", method), ("path", path),
                                   ("since", since)) if v}
        suffix = "?" + urllib.parse.urlencode(query) if query else ""
        return self.control("GET", "requests" + suffix)["requests"]

    def clear_requests(self):
        return self.control("DELETE", "requests")

    def inject_fault(self, method="*", path=".*", count=1, **action):
        """e.g. inject_fault("PUT", "/send/", status=429,
        retry_after_ms=1500) or drop="before_head", truncate=True,
        delay_ms=300."""
        rule = dict(action, method=method, path=path, count=count)
        return self.control("POST", "faults", rule)

    def faults(self):
        return self.control("GET", "faults")["faults"]

    def clear_faults(self):
        return self.control("DELETE", "faults")


class FakeHomeserver(FakeProcess):
    script = "fake_homeserver.py"

    def __init__(self, server_name="localhost", shared_secret=None,
                 registration=None, synapse_admin=True, **kw):
        args = ["--server-name", server_name]
        if shared_secret:
            args += ["--shared-secret", shared_secret]
        if registration:
            args += ["--registration", registration]
        if not synapse_admin:
            args += ["--no-synapse-admin"]
        super().__init__(*args, **kw)
        self.server_name = server_name

    def configure(self, **config):
        return self.control("POST", "config", config)

    def user_id(self, localpart):
        return "@%s:%s" % (localpart, self.server_name)

    # -- people ----------------------------------------------------------------
    def human_register(self, username, password=None, displayname=None,
                       admin=False):
        """Create an account directly; returns {user_id, access_token}."""
        body = {"username": username, "password": password or "pw-" +
                username, "admin": admin}
        if displayname:
            body["displayname"] = displayname
        return self.control("POST", "users", body)

    def act(self, user_id, method, path, body=None):
        """A real client-API request made by a person; (status, body)."""
        res = self.control("POST", "act", {"as": user_id, "method": method,
                                           "path": path, "body": body})
        return res["status"], res["body"]

    def _ok(self, user_id, method, path, body=None):
        status, out = self.act(user_id, method, path, body)
        if status != 200:
            raise ControlError("%s %s as %s -> %d %r"
                               % (method, path, user_id, status, out))
        return out

    def human_create_room(self, user_id, **body):
        return self._ok(user_id, "POST", "/_matrix/client/v3/createRoom",
                        body)["room_id"]

    def human_join(self, user_id, room_id):
        return self._ok(user_id, "POST", "/_matrix/client/v3/join/" +
                        q(room_id), {})

    def human_invite(self, user_id, room_id, invitee):
        return self._ok(user_id, "POST", "/_matrix/client/v3/rooms/%s/invite"
                        % q(room_id), {"user_id": invitee})

    def human_send(self, user_id, room_id, text, txn_id=None, **extra):
        txn_id = txn_id or secrets.token_hex(8)
        content = dict({"msgtype": "m.text", "body": text}, **extra)
        return self._ok(user_id, "PUT", "/_matrix/client/v3/rooms/%s/send/"
                        "m.room.message/%s" % (q(room_id), txn_id),
                        content)["event_id"]

    def human_read(self, user_id, room_id, limit=100):
        """The room's timeline as that person sees it, oldest first."""
        out = self._ok(user_id, "GET", "/_matrix/client/v3/rooms/%s/messages"
                       "?dir=b&limit=%d" % (q(room_id), limit))
        return list(reversed(out["chunk"]))

    def rooms(self):
        return self.control("GET", "rooms")["rooms"]

    def room(self, room_id):
        return self.control("GET", "rooms/" + q(room_id))

    def revoke_tokens(self, user_id):
        return self.control("POST", "tokens/revoke", {"user_id": user_id})

    # -- the application service (tools/fakes/mx_appservice.py) ---------------
    def appservice_load(self, registration=None, yaml=None, **options):
        """Load the one application service: a registration dict or its
        YAML text, plus options (paths, ping, retry_ms, retry_max_ms,
        max_events, timeout_ms). Returns the state (GET appservice)."""
        body = dict(registration or {}, **options)
        if yaml is not None:
            body["yaml"] = yaml
        return self.control("POST", "appservice", body)

    def appservice(self):
        return self.control("GET", "appservice")

    def appservice_remove(self):
        return self.control("DELETE", "appservice")

    def appservice_pushes(self, kind=None, since=0):
        """Every push attempt (kind "transaction" or "ping"), oldest
        first."""
        query = {k: v for k, v in (("kind", kind), ("since", since)) if v}
        suffix = "?" + urllib.parse.urlencode(query) if query else ""
        return self.control("GET", "appservice/pushes" + suffix)["pushes"]

    def appservice_fault(self, **rule):
        """e.g. appservice_fault(drop="before_send", count=2)."""
        return self.control("POST", "appservice/faults", rule)

    # -- the media repository (tools/fakes/mx_media.py) -----------------------
    def media_put(self, data, content_type="application/octet-stream",
                  uploader=None, filename=None, server_name=None,
                  media_id=None):
        """Put bytes into the media repository directly (no request
        logged); returns the entry with its `content_uri`."""
        import base64
        body = {"base64": base64.b64encode(data).decode("ascii"),
                "content_type": content_type}
        for key, value in (("uploader", uploader), ("filename", filename),
                           ("server_name", server_name),
                           ("media_id", media_id)):
            if value is not None:
                body[key] = value
        return self.control("POST", "media", body)

    def media(self):
        """Every piece of media held: mxc, content_type, size, sha256,
        uploader, upload_name, source, ... (no bytes)."""
        return self.control("GET", "media")["media"]

    def media_get(self, mxc):
        """One entry with its bytes as `data`."""
        server, media_id = mxc[len("mxc://"):].split("/", 1)
        entry = self.control("GET", "media/%s/%s" % (q(server),
                                                      q(media_id)))
        import base64
        entry["data"] = base64.b64decode(entry["base64"])
        return entry

    def media_bytes(self, mxc):
        """The bytes the fake holds for an mxc URI."""
        return self.media_get(mxc)["data"]

    def media_clear(self):
        return self.control("DELETE", "media")

    def upload(self, token, data, content_type=None, filename=None,
               user_id=None, version="v3"):
        """POST /_matrix/media/<version>/upload as a client would (logged);
        the HTTPResult."""
        query = {k: v for k, v in (("filename", filename),
                                   ("user_id", user_id)) if v is not None}
        path = "/_matrix/media/%s/upload" % version
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Content-Type": content_type} if content_type else {}
        return self.http("POST", path, data, headers, token)

    def download(self, mxc, token=None, authenticated=False, filename=None,
                 version="v3"):
        """GET the media of an mxc URI: /_matrix/media/<version>/download
        or, authenticated, /_matrix/client/v1/media/download; the
        HTTPResult (raw bytes in .raw)."""
        server, media_id = mxc[len("mxc://"):].split("/", 1)
        if authenticated:
            path = "/_matrix/client/v1/media/download/%s/%s" % (
                q(server), q(media_id))
        else:
            path = "/_matrix/media/%s/download/%s/%s" % (
                version, q(server), q(media_id))
        if filename is not None:
            path += "/" + q(filename)
        return self.http("GET", path, None, None, token)

    def appservice_wait_idle(self, timeout=10.0):
        """Wait until every queued event was delivered; the state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.appservice()
            if state["delivery"]["idle"] or time.monotonic() > deadline:
                return state
            time.sleep(0.05)


class AgentControl:
    """The agent calls of both fake Lettas' control interfaces."""

    def add_agent(self, name, script=None, **fields):
        body = dict(fields, name=name)
        if script is not None:
            body["script"] = script
        return self.control("POST", "agents", body)

    def rename_agent(self, agent_id, name):
        return self.control("PATCH", "agents/" + agent_id, {"name": name})

    def set_script(self, agent_id, script):
        return self.control("PATCH", "agents/" + agent_id,
                            {"script": script})

    def delete_agent(self, agent_id):
        return self.control("DELETE", "agents/" + agent_id)

    def agents(self):
        return self.control("GET", "agents")["agents"]


class FakeLetta(AgentControl, FakeProcess):
    script = "fake_letta.py"

    def __init__(self, password=None, **kw):
        args = ["--password", password] if password else []
        super().__init__(*args, **kw)

    def agent(self, agent_id):
        return self.control("GET", "agents/" + agent_id)

    def history(self, agent_id):
        return self.control("GET", "agents/%s/history" % agent_id)["messages"]

    def images(self, agent_id):
        """The pictures the agent got: [{otid, conversation, media_type,
        size, sha256}], oldest first (tools/fakes/letta_images.py)."""
        return self.control("GET", "agents/%s/images" % agent_id)["images"]

    def configure(self, **config):
        return self.control("POST", "config", config)


class FakeAppServer(AgentControl, FakeProcess):
    """tools/fake_app_server.py: Letta's App Server (WebSocket)."""
    script = "fake_app_server.py"

    def __init__(self, ws_token=None, **kw):
        args = ["--ws-token", ws_token] if ws_token else []
        super().__init__(*args, **kw)
        self.ws_token = ws_token

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def connect(self, **kw):
        """A wsclient.WSClient on /ws (with the token, if any)."""
        from wsclient import WSClient
        kw.setdefault("token", self.ws_token)
        return WSClient(self.ws_url, **kw)



    def history(self, agent_id, conversation_id="default"):
        return self.control("GET", "history?" + urllib.parse.urlencode(
            {"agent_id": agent_id, "conversation_id": conversation_id})
        )["messages"]

    def images(self, agent_id):
        """The pictures that reached the agent's model: [{client_message_id,
        conversation_id, media_type, size, sha256}], oldest first
        (tools/fakes/app_images.py)."""
        return self.control("GET", "images?" + urllib.parse.urlencode(
            {"agent_id": agent_id}))["images"]

    def frames(self, conn=None, dir=None, type=None, since=0, errors=False):
        """The frame record (see tools/fakes/app_record.py)."""
        query = {k: v for k, v in (("conn", conn), ("dir", dir),
                                   ("type", type), ("since", since)) if v}
        if errors:
            query["errors"] = "1"
        return self.control("GET", "frames?" + urllib.parse.urlencode(
            query))["frames"]

    def connections(self):
        return self.control("GET", "connections")["connections"]

    def runtimes(self):
        return self.control("GET", "runtimes")["runtimes"]

    def frame_fault(self, **rule):
        """e.g. frame_fault(type="stream_delta", skip=1, drop=True)."""
        return self.control("POST", "ws/faults", rule)

    def act(self, action, conn=None, **args):
        """ping, close, drop or send, at once (every open connection
        unless conn)."""
        body = dict(args, action=action)
        if conn:
            body["conn"] = conn
        return self.control("POST", "ws/act", body)

    def restart(self, down_ms=0):
        return self.control("POST", "restart", {"down_ms": down_ms})

    def configure(self, **config):
        return self.control("POST", "config", config)


def q(value):
    """Percent-encode one path segment (room ids, user ids, event ids)."""
    return urllib.parse.quote(value, safe="")


def make_cert(directory, name="localhost"):
    """A self-signed certificate for 127.0.0.1/localhost made with the
    openssl command; returns (cert_path, key_path). The certificate is
    its own CA, so clients pass it as the trust anchor."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=%s" % name, "-keyout", key, "-out", cert,
         "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % name],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key
