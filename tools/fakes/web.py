"""HTTP/1.1 server core shared by the fakes.

One thread per connection (ThreadingHTTPServer), keep-alive with an idle
timeout, Content-Length on every non-streamed answer, optional TLS.
Every request a client under test makes is logged and may be hit by an
injected fault; requests to the control interface (/_fake/..., carrying
the X-Fake-Control token) are neither logged nor faulted, and without the
token /_fake/ is just another unknown path, so it can never be an
accidental success for the program under test.
"""

import argparse
import json
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import faults as faultmod
from . import reqlog

CONTROL_PREFIX = "/_fake/"
MAX_BODY = 64 * 1024 * 1024


class Request:
    """One parsed request as the apps see it."""

    def __init__(self, method, target, headers, body):
        self.method = method
        parts = urllib.parse.urlsplit(target)
        self.path = parts.path
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.log_extra = {}   # apps add e.g. the authenticated user here

    def arg(self, name, default=None):
        """First value of a query parameter."""
        vals = self.query.get(name)
        return vals[0] if vals else default

    def header(self, name, default=None):
        return self.headers.get(name, default)


class Response:
    """status + headers + body bytes, or a chunked stream of
    (delay_seconds, bytes) pieces (server-sent events)."""

    def __init__(self, status, body=b"", headers=None, stream=None):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        self.stream = stream

    @classmethod
    def json(cls, status, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        hdrs = [("Content-Type", "application/json")] + list(headers or [])
        return cls(status, body, hdrs)


class NoRoute(Exception):
    """No route: path_known tells a wrong method from an unknown path."""

    def __init__(self, path_known, allowed=()):
        super().__init__("no route")
        self.path_known = path_known
        self.allowed = allowed


class Router:
    """Routes by method and full-match regex on the raw (encoded) path;
    captured groups are percent-decoded before the handler sees them."""

    def __init__(self):
        self._routes = []

    def add(self, method, pattern, func):
        self._routes.append((method, re.compile(pattern), func))

    def resolve(self, method, path):
        allowed = []
        for m, regex, func in self._routes:
            match = regex.fullmatch(path)
            if not match:
                continue
            if m == method:
                args = [urllib.parse.unquote(g) if g is not None else None
                        for g in match.groups()]
                return func, args
            allowed.append(m)
        raise NoRoute(bool(allowed), allowed)


class App:
    """Interface the fakes implement (documented here, overridden there)."""

    name = "fake"
    server_header = "fake"

    def handle(self, req):
        raise NotImplementedError

    def control(self, req, subpath):
        """Answer /_fake/<subpath>; return a Response or None (404)."""
        return None

    def fault_response(self, rule):
        return Response.json(rule["status"], rule.get("body", {}))

    def reset(self):
        pass


def read_chunked(rfile):
    """Read a chunked request body (lettamx may stream request bodies)."""
    out = bytearray()
    while True:
        line = rfile.readline(1024)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        if len(out) + size > MAX_BODY:
            raise ValueError("body too large")
        out += rfile.read(size)
        rfile.readline(1024)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake"
    sys_version = ""
    timeout = 60  # replaced per server: idle keep-alive close

    # -- connection set-up --------------------------------------------
    def setup(self):
        # Head and body go out in two writes; with Nagle on, the second
        # waits for the client's delayed ACK (~40 ms a request), which
        # would make every exchange look slow.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = self.server.ssl_context
        if ctx is not None:
            # Handshake here, in the connection's thread, so a silent
            # client cannot stall accept() for everyone else.
            self.request.settimeout(10)
            self.request = ctx.wrap_socket(self.request, server_side=True)
        super().setup()

    def version_string(self):
        return self.server.app.server_header

    def parse_request(self):
        # Called as soon as the request line is in: the log's t_recv,
        # the moment the request arrived (before headers and body).
        self._t_recv = time.monotonic()
        return super().parse_request()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.server.app.name, fmt % args))

    # Every method goes through one dispatcher.
    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- request ------------------------------------------------------
    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _dispatch(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(Response(400, b"bad request body\n"), None)
            return
        req = Request(self.command, self.path, self.headers, body)
        if self._is_control(req):
            self._write(self._control(req), None)
            return
        self._serve_logged(req)

    def _is_control(self, req):
        token = req.header("X-Fake-Control")
        return (req.path.startswith(CONTROL_PREFIX) and token is not None
                and secrets.compare_digest(
                    token.encode("utf-8", "replace"),
                    self.server.control_token.encode()))

    def _serve_logged(self, req):
        entry = self._log_entry(req)
        rule = self.server.faults.take(req.method, req.path)
        if rule and rule.get("delay_ms"):
            time.sleep(rule["delay_ms"] / 1000.0)
        resp = None
        if rule is None or rule.get("process"):
            resp = self._run_app(req)
        if rule and rule.get("status"):
            resp = self._fault_response(rule)
        entry.update(req.log_extra)
        entry["status"] = resp.status if resp else None
        entry["fault"] = rule
        entry["t_end"] = time.monotonic()
        entry["t_sent"] = None   # the key exists before readers see it
        self.server.log.add(entry)
        self._write(resp, rule)
        # When the last byte of the answer was handed to the socket: the
        # moment the answer left (benchmarks measure from here).
        entry["t_sent"] = time.monotonic()

    def _fault_response(self, rule):
        """The app's answer for a status fault, or raw bytes given in
        hex ("raw_body_hex": what no JSON encoder would write, such as
        invalid UTF-8) with a JSON content type."""
        if "raw_body_hex" in rule:
            return Response(rule["status"], bytes.fromhex(rule["raw_body_hex"]),
                            [("Content-Type", "application/json")])
        return self.server.app.fault_response(rule)

    def _run_app(self, req):
        try:
            return self.server.app.handle(req)
        except Exception:  # a bug in the fake: make it loud, not silent
            traceback.print_exc()
            return Response.json(500, {"errcode": "M_UNKNOWN",
                                       "error": "fake crashed",
                                       "detail": "fake crashed"})

    def _log_entry(self, req):
        body = req.body
        try:
            parsed = json.loads(body) if body else None
            shown = reqlog.mask_json(parsed)
        except ValueError:
            shown = body.decode("utf-8", "replace")
        headers = {k: reqlog.mask_header(k, v) for k, v in req.headers.items()}
        return {"method": req.method, "path": req.path,
                "query": reqlog.mask_query(req.query), "headers": headers,
                "body": shown, "time": time.monotonic(),
                "t_recv": getattr(self, "_t_recv", None)}

    def _control(self, req):
        try:
            resp = control_common(self.server, req)
            if resp is None:
                sub = req.path[len(CONTROL_PREFIX):]
                resp = self.server.app.control(req, sub)
            return resp or Response.json(404, {"error": "no such control"})
        except (ValueError, KeyError, TypeError) as exc:
            return Response.json(400, {"error": "%s: %s" %
                                       (type(exc).__name__, exc)})

    # -- response -----------------------------------------------------
    def _write(self, resp, rule):
        try:
            if rule and rule.get("drop") == "before_head":
                self._abort()
            elif resp.stream is not None:
                self._write_stream(resp, rule)
            else:
                self._write_plain(resp, rule)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                socket.timeout):
            self.close_connection = True

    def _head(self, resp, length=None):
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _write_plain(self, resp, rule):
        body = resp.body if self.command != "HEAD" else b""
        if rule and rule.get("drop") == "after_head":
            self._head(resp, len(body))
            self._abort()
        elif rule and rule.get("truncate"):
            claimed = max(len(body), 16)
            self._head(resp, claimed)
            self.wfile.write(body[:len(body) // 2])
            self._abort()
        else:
            self._head(resp, len(body))
            self.wfile.write(body)

    def _write_stream(self, resp, rule):
        resp.headers.append(("Transfer-Encoding", "chunked"))
        self._head(resp)
        if rule and rule.get("drop") == "after_head":
            self._abort()
            return
        pieces = resp.stream
        if rule and rule.get("truncate"):
            pieces = pieces[:max(1, len(pieces) // 2)]
        for delay, data in pieces:
            if delay:
                time.sleep(delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        # A stream may end itself mid-body (the fake Letta's
        # stream_cut_after): no terminating chunk, the connection closes.
        if (rule and rule.get("truncate")) or getattr(pieces, "aborted",
                                                      False):
            self._abort()
            return
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self):
        """Close the connection now, mid-exchange."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def control_common(server, req):
    """Control endpoints both fakes share: request log, faults, reset."""
    sub = req.path[len(CONTROL_PREFIX):].rstrip("/")
    m = req.method
    if sub == "health" and m == "GET":
        return Response.json(200, {"ok": True, "app": server.app.name})
    if sub == "requests" and m == "GET":
        entries = server.log.query(req.arg("method"), req.arg("path"),
                                   int(req.arg("since", "0")))
        return Response.json(200, {"requests": entries})
    if sub == "requests" and m == "DELETE":
        server.log.clear()
        return Response.json(200, {})
    if sub == "faults" and m == "POST":
        try:
            return Response.json(200, server.faults.add(json.loads(req.body)))
        except faultmod.FaultError as exc:
            return Response.json(400, {"error": str(exc)})
    if sub == "faults" and m == "GET":
        return Response.json(200, {"faults": server.faults.list()})
    if sub == "faults" and m == "DELETE":
        server.faults.clear()
        return Response.json(200, {})
    if sub == "reset" and m == "POST":
        server.faults.clear()
        server.log.clear()
        server.app.reset()
        return Response.json(200, {})
    return None


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a client that
    # opens hundreds of connections at once (a 1 s retransmit each).
    request_queue_size = 1024

    def __init__(self, addr, app, control_token, idle, ssl_context=None,
                 verbose=False):
        # An app may bring its own Handler subclass (the App Server's
        # answers WebSocket upgrades itself).
        base = getattr(app, "handler_class", Handler)
        handler = type("BoundHandler", (base,), {"timeout": idle})
        super().__init__(addr, handler)
        self.app = app
        self.control_token = control_token
        self.ssl_context = ssl_context
        self.verbose = verbose
        self.log = reqlog.RequestLog()
        self.faults = faultmod.FaultTable()


def common_args(parser, default_idle):
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--control-token",
                        help="X-Fake-Control value (default: random, printed)")
    parser.add_argument("--keepalive-idle", type=float, default=default_idle,
                        help="close idle keep-alive connections after N s")
    parser.add_argument("-v", "--verbose", action="store_true")


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)  # atomic: readers never see half a number


def serve(app, args):
    """Run until SIGTERM/SIGINT, printing where we listen."""
    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    token = args.control_token or secrets.token_hex(16)
    server = FakeServer((args.host, args.port), app, token,
                        args.keepalive_idle, ctx, args.verbose)
    app.server = server
    run_server(server, app.name, "https" if ctx else "http", args, token)


def run_server(server, name, scheme, args, token):
    """Says where `server` listens (and the control token when none was
    given), writes --port-file, and serves until SIGTERM/SIGINT."""
    port = server.server_address[1]
    print("%s listening on %s://%s:%d" % (name, scheme,
                                         server.server_address[0], port),
          flush=True)
    if not args.control_token:
        print("control token %s" % token, flush=True)
    if args.port_file:
        write_port_file(args.port_file, port)

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()


def make_parser(description, default_idle):
    parser = argparse.ArgumentParser(description=description)
    common_args(parser, default_idle)
    return parser

