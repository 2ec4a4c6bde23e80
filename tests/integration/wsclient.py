"""A minimal blocking RFC 6455 WebSocket client for tests (stdlib only).

    ws = WSClient("ws://127.0.0.1:4500/ws", token=None, timeout=10)
    ws.send_json({"type": "app_server_info", "request_id": "r1"})
    frame = ws.recv_json(timeout=5)       # parsed JSON, or raises Timeout
    ws.close()

- handshake: checks the 101 status and Sec-WebSocket-Accept; optional
  `Authorization: Bearer <token>` and extra headers;
- sends masked text frames; `send_raw(bytes)` writes bytes as they are
  (use `frame()` to build a frame with any opcode / fin / mask / payload)
  for fault tests;
- receives: reassembles fragmented messages, answers pings with pongs,
  answers a close with a close (then `ConnectionClosed` with its code);
- `recv_json` / `recv_until(pred)` / `drain()` for tests.
"""

import base64
import hashlib
import json
import os
import select
import socket
import struct
import time
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class HandshakeError(Exception):
    def __init__(self, status, headers, body):
        super().__init__("websocket handshake failed: %s" % status)
        self.status = status
        self.headers = headers
        self.body = body


class ConnectionClosed(Exception):
    def __init__(self, code=None, reason=""):
        super().__init__("websocket closed: code=%s reason=%r"
                         % (code, reason))
        self.code = code
        self.reason = reason


class Timeout(Exception):
    pass


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One frame's bytes (client frames are masked unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    head = bytearray([(0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return bytes(head) + key + body


class WSClient:
    def __init__(self, url, token=None, headers=None, timeout=10.0,
                 subprotocols=None):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "ws":
            raise ValueError("only ws:// is supported: %s" % url)
        self.url = url
        self.host = u.hostname
        self.port = u.port or 80
        self.path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.sock = socket.create_connection((self.host, self.port),
                                             timeout=timeout)
        self.buf = b""
        self.closed = False
        self.close_code = None
        self.close_reason = ""
        self.pings = 0          # pings received (and answered)
        self._handshake(token, headers or {}, timeout, subprotocols)

    # -- handshake -------------------------------------------------------

    def _handshake(self, token, headers, timeout, subprotocols):
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % self.path,
                 "Host: %s:%d" % (self.host, self.port),
                 "Upgrade: websocket",
                 "Connection: Upgrade",
                 "Sec-WebSocket-Key: %s" % key,
                 "Sec-WebSocket-Version: 13"]
        if token:
            lines.append("Authorization: Bearer %s" % token)
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: %s"
                         % ", ".join(subprotocols))
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *hlines = head.decode("latin-1").split("\r\n")
        self.response_headers = {}
        for h in hlines:
            k, _, v = h.partition(":")
            self.response_headers[k.strip().lower()] = v.strip()
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() \
            else 0
        if status != 101:
            body = self.buf
            n = int(self.response_headers.get("content-length", "0") or 0)
            try:
                while len(body) < n:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
            self.sock.close()
            self.closed = True
            raise HandshakeError(status, self.response_headers, body)
        want = base64.b64encode(hashlib.sha1(
            (key + GUID).encode()).digest()).decode()
        got = self.response_headers.get("sec-websocket-accept")
        if got != want:
            self.sock.close()
            self.closed = True
            raise HandshakeError("bad Sec-WebSocket-Accept %r" % got,
                                 self.response_headers, b"")
        self.subprotocol = self.response_headers.get("sec-websocket-protocol")

    # -- low level -------------------------------------------------------

    def _fill(self, deadline):
        """Read more bytes into self.buf; Timeout at the deadline,
        ConnectionClosed at EOF."""
        left = deadline - time.monotonic() if deadline is not None else None
        if left is not None and left <= 0:
            raise Timeout("no data before the deadline")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise Timeout("no data before the deadline")
        try:
            chunk = self.sock.recv(65536)
        except OSError as e:
            self.closed = True
            raise ConnectionClosed(None, str(e))
        if not chunk:
            self.closed = True
            raise ConnectionClosed(self.close_code, "EOF")
        self.buf += chunk

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)

    def _read_frame(self, deadline):
        """(fin, opcode, payload) of the next frame. A partial frame stays
        buffered when the deadline passes."""
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        if b1 & 0x80:
            self._need(off + 4 + n, deadline)
            key = self.buf[off:off + 4]
            off += 4
            payload = bytes(b ^ key[i & 3]
                            for i, b in enumerate(self.buf[off:off + n]))
        else:
            self._need(off + n, deadline)
            payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def send_raw(self, data):
        """Write bytes as they are (a hand-made frame, garbage, ...)."""
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", fin=True):
        self.sock.sendall(frame(opcode, payload, fin=fin))

    # -- messages --------------------------------------------------------

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode("utf-8"))

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def recv_message(self, timeout=10.0):
        """The next whole data message as (opcode, bytes). Answers pings;
        a close frame is answered and raises ConnectionClosed."""
        deadline = time.monotonic() + timeout if timeout is not None \
            else None
        parts, first_op = [], None
        while True:
            fin, op, payload = self._read_frame(deadline)
            if op == OP_PING:
                self.pings += 1
                if not self.closed:
                    try:
                        self.send_frame(OP_PONG, payload)
                    except OSError:
                        pass
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] \
                    if len(payload) >= 2 else None
                reason = payload[2:].decode("utf-8", "replace")
                self.close_code, self.close_reason = code, reason
                if not self.closed:
                    try:
                        self.send_frame(OP_CLOSE, payload[:2])
                    except OSError:
                        pass
                self.closed = True
                raise ConnectionClosed(code, reason)
            if op in (OP_TEXT, OP_BINARY):
                first_op, parts = op, [payload]
            elif op == OP_CONT:
                parts.append(payload)
            if fin and first_op is not None:
                return first_op, b"".join(parts)

    def recv_json(self, timeout=10.0):
        """The next message, parsed as JSON. Raises Timeout."""
        _, data = self.recv_message(timeout)
        return json.loads(data.decode("utf-8"))

    def recv_until(self, pred, timeout=10.0, keep=None):
        """Messages until pred(msg) is true; returns that message. Every
        message read (the match too) is appended to `keep` if given."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no matching message within %.1fs" % timeout)
            msg = self.recv_json(left)
            if keep is not None:
                keep.append(msg)
            if pred(msg):
                return msg

    def drain(self, quiet=0.5, limit=30.0):
        """All messages until none came for `quiet` seconds."""
        out, end = [], time.monotonic() + limit
        while time.monotonic() < end:
            try:
                out.append(self.recv_json(quiet))
            except Timeout:
                break
        return out

    def close(self, code=1000, reason="", wait=2.0):
        """Close handshake: send a close, wait for the server's, then
        close the socket."""
        if not self.closed:
            try:
                self.send_frame(OP_CLOSE, struct.pack("!H", code)
                                + reason.encode("utf-8"))
                end = time.monotonic() + wait
                while time.monotonic() < end:
                    self.recv_message(end - time.monotonic())
            except (ConnectionClosed, Timeout, OSError):
                pass
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drop the TCP connection without a close frame."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
