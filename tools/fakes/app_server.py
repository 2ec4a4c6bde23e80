"""HTTP side of the fake App Server (letta.js 0.32.18, app-server.ts).

Plain requests: a request with an Origin header is 403 (empty body);
GET /readyz and /healthz are 200 "ok\\n" (text/plain); /app-server-info
is the app_server_info_response with request_id "http-info" (401
{"error": ...} without the bearer token when --ws-token is set); every
other path, /v1/... included, is 404 with an empty body. The method does
not matter, as in the real handler, and every answer is chunked, as
Node writes one after writeHead().

A request with `Connection: upgrade` and an `Upgrade` header is an
upgrade: path /ws or / (else 404 Not Found), no `channel` query (426),
the bearer token when set (401 with the reason as status text), no Origin
without a token (403), then ws's own checks (405/400, text/html) and the
101. The connection then belongs to app_conn.
"""

import json
import secrets
import socket
import struct
import time
import urllib.parse

from . import app_commands
from . import app_control
from . import app_faults
from . import reqlog
from . import ws
from .app_conn import Connection
from .app_hub import Hub
from .app_record import FrameRecord
from .web import App, Handler, Response


def bearer_error(headers, token):
    """authorizeUpgrade with a capability token: None or the reason."""
    if token is None:
        return None
    raw = headers.get("Authorization")
    if raw is None:
        return "missing websocket bearer token"
    scheme, sep, rest = raw.partition(" ")
    if not sep or scheme.lower() != "bearer" or not rest.strip():
        return "invalid authorization header"
    if rest.strip() != token:
        return "invalid websocket bearer token"
    return None


def wants_upgrade(headers):
    tokens = [t.strip().lower()
              for t in headers.get("Connection", "").split(",")]
    return "upgrade" in tokens and headers.get("Upgrade") is not None


class AppHandler(Handler):
    """web.Handler, plus WebSocket upgrades and Node's plain headers."""

    def send_response(self, code, message=None):
        # Node sends no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _dispatch(self):
        app = self.server.app
        control = self.path.startswith("/_fake/") and secrets.compare_digest(
            self.headers.get("X-Fake-Control", "").encode("utf-8",
                                                          "replace"),
            self.server.control_token.encode())
        if control:
            super()._dispatch()
        elif app.hub.is_down():
            self._reset()
        elif wants_upgrade(self.headers):
            self._upgrade(app)
        else:
            super()._dispatch()

    def _reset(self):
        """Refuse as a stopped server would (RST)."""
        self.close_connection = True
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))

    def _upgrade(self, app):
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        entry = {"method": self.command, "path": parts.path,
                 "query": reqlog.mask_query(query),
                 "headers": {k: reqlog.mask_header(k, v)
                             for k, v in self.headers.items()},
                 "body": None, "time": time.monotonic(),
                 "t_recv": getattr(self, "_t_recv", None), "fault": None}
        answer = self._refusal(app, parts.path, query)
        self.close_connection = True
        entry["status"] = 101 if answer is None else \
            int(answer.split(b" ", 2)[1])
        entry["t_end"] = entry["t_sent"] = time.monotonic()
        self.server.log.add(entry)
        if answer is not None:
            self.wfile.write(answer)
            self.wfile.flush()
            return
        key = self.headers["Sec-WebSocket-Key"]
        protocols = self.headers.get("Sec-WebSocket-Protocol")
        self.request.settimeout(None)
        # Known to the hub before the client can know it is open; what is
        # sent to it waits for the writer, which starts after the 101.
        conn = Connection(app.hub, self.request, self.rfile,
                          app.hub.new_ordinal(), {
                              k: reqlog.mask_header(k, v)
                              for k, v in self.headers.items()})
        app.hub.add_connection(conn)
        self.wfile.write(ws.upgrade_response(
            key, ws.first_protocol(protocols) if protocols else None))
        self.wfile.flush()
        conn.serve()

    def _refusal(self, app, path, query):
        """The bytes refusing this upgrade, or None to accept it."""
        if path not in ("/ws", "/"):
            return ws.reject_upgrade(404, "Not Found")
        if "channel" in query:
            return ws.reject_upgrade(426, "Upgrade Required")
        reason = bearer_error(self.headers, app.ws_token)
        if reason:
            return ws.reject_upgrade(401, reason)
        if self.headers.get("Origin") is not None and app.ws_token is None:
            return ws.reject_upgrade(403, "Forbidden")
        bad = ws.handshake_error(self.command, self.headers)
        if bad:
            return ws.abort_handshake(*bad)
        return None


def node_answer(status, body=b"", content_type=None):
    """writeHead(status, headers) then end(body): chunked."""
    headers = [("content-type", content_type)] if content_type else []
    return Response(status, headers=headers,
                    stream=[(0, body)] if body else [])


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


class AppServerApp(App):
    name = "fake_app_server"
    server_header = ""
    handler_class = AppHandler

    def __init__(self, ws_token=None):
        self.base_token = ws_token
        self.record = FrameRecord()
        self.frame_faults = app_faults.FrameFaults()
        self.hub = Hub(self.record, self.frame_faults)
        self.ws_token = ws_token

    def reset(self):
        self.hub.reset()
        self.record.clear()
        self.frame_faults.clear()
        self.ws_token = self.base_token

    def handle(self, req):
        if req.header("Origin"):
            return node_answer(403)
        if req.path in ("/readyz", "/healthz"):
            return node_answer(200, b"ok\n", "text/plain")
        if req.path == "/app-server-info":
            reason = bearer_error(req.headers, self.ws_token)
            if reason:
                return node_answer(401, dumps({"error": reason}),
                                   "application/json")
            return node_answer(200, dumps(app_commands.info("http-info")),
                               "application/json")
        return node_answer(404)

    def control(self, req, sub):
        return app_control.dispatch(self, req, sub)
