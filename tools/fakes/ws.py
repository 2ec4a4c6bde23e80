"""Server side of RFC 6455 WebSocket framing, as the `ws` npm package
(version 8, the App Server's) does it.

Handshake checks in ws's order (`handshake_error`), the 101 answer, the
two ways a refused upgrade is answered (`abort_handshake`: ws's text/html
body; `reject_upgrade`: the App Server's own empty answer), frame
encoding (server frames are never masked) and a strict frame reader that
raises `ProtocolError` with the close code ws uses: 1002 for framing
errors, 1007 for invalid UTF-8, 1009 for a message over the size limit.
"""

import base64
import hashlib
import http.client
import re
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY_RE = re.compile(r"[+/0-9A-Za-z]{22}==")
MAX_PAYLOAD = 100 * 1024 * 1024        # ws's default maxPayload

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
DATA_OPS = (OP_TEXT, OP_BINARY)
CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)


class ProtocolError(Exception):
    """The peer broke the protocol; `code` is the close code to send."""

    def __init__(self, code, reason):
        super().__init__("%d %s" % (code, reason))
        self.code = code
        self.reason = reason


class Closed(Exception):
    """The TCP connection ended (EOF or error) without a close frame."""


def accept_key(key):
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_close_code(code):
    """ws's isValidStatusCode."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or \
        3000 <= code <= 4999


def handshake_error(method, headers):
    """ws's WebSocketServer.handleUpgrade checks: None, or (status,
    message, extra headers) for abort_handshake."""
    if method != "GET":
        return 405, "Invalid HTTP method", {}
    upgrade = headers.get("Upgrade")
    if upgrade is None or upgrade.lower() != "websocket":
        return 400, "Invalid Upgrade header", {}
    key = headers.get("Sec-WebSocket-Key")
    if key is None or not KEY_RE.fullmatch(key):
        return 400, "Missing or invalid Sec-WebSocket-Key header", {}
    if headers.get("Sec-WebSocket-Version") not in ("13", "8"):
        return (400, "Missing or invalid Sec-WebSocket-Version header",
                {"Sec-WebSocket-Version": "13, 8"})
    protocols = headers.get("Sec-WebSocket-Protocol")
    if protocols is not None and first_protocol(protocols) is None:
        return 400, "Invalid Sec-WebSocket-Protocol header", {}
    return None


def first_protocol(value):
    """The first of a Sec-WebSocket-Protocol list (ws picks it when no
    handleProtocols is set), or None when the list is malformed."""
    names = [p.strip() for p in value.split(",")]
    token = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
    if not names or not all(token.fullmatch(n) for n in names) or \
            len(set(names)) != len(names):
        return None
    return names[0]


def upgrade_response(key, protocol=None):
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
             "Connection: Upgrade",
             "Sec-WebSocket-Accept: %s" % accept_key(key)]
    if protocol:
        lines.append("Sec-WebSocket-Protocol: %s" % protocol)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def abort_handshake(status, message, extra=None):
    """ws's abortHandshake: a text/html answer whose body is the message."""
    body = message.encode("utf-8")
    headers = {"Connection": "close", "Content-Type": "text/html",
               "Content-Length": str(len(body))}
    headers.update(extra or {})
    head = "HTTP/1.1 %d %s\r\n" % (status, http.client.responses[status])
    head += "".join("%s: %s\r\n" % kv for kv in headers.items())
    return (head + "\r\n").encode("latin-1") + body


def reject_upgrade(status, message):
    """The App Server's rejectUpgrade: the message is the reason phrase."""
    return ("HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0"
            "\r\n\r\n" % (status, message)).encode("utf-8")


def encode_frame(opcode, payload=b"", fin=True):
    head = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head.append(n)
    elif n < 65536:
        head.append(126)
        head += struct.pack("!H", n)
    else:
        head.append(127)
        head += struct.pack("!Q", n)
    return bytes(head) + payload


def encode_fragments(opcode, payload, size):
    """One message as frames of at most `size` payload bytes each."""
    pieces = [payload[i:i + size] for i in range(0, len(payload), size)] \
        or [b""]
    out = []
    for i, piece in enumerate(pieces):
        out.append(encode_frame(opcode if i == 0 else OP_CONT, piece,
                                fin=(i == len(pieces) - 1)))
    return out


def close_payload(code=None, reason=""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")


def valid_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class FrameReader:
    """Reads a client's frames from a buffered binary stream (`read1`)
    and yields events: ("message", opcode, payload), ("ping", payload),
    ("pong", payload), ("close", code or None, reason). Raises
    ProtocolError as ws would fail the connection, Closed at EOF.

    `t_event` is when the event's first byte was read from the stream
    (monotonic; a message in fragments: its first fragment's): when it
    arrived, before any decoding, as the HTTP fakes' t_recv."""

    def __init__(self, stream, max_payload=MAX_PAYLOAD):
        self.stream = stream
        self.max_payload = max_payload
        self.buf = bytearray()
        self.t_read = None           # when the newest bytes were read
        self.t_event = None
        self.frag_op = None          # opcode of a message in fragments
        self.frag_parts = []
        self.frag_len = 0
        self.frag_t = None

    def _need(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.stream.read1(65536)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                raise Closed()
            self.t_read = time.monotonic()
            self.buf += chunk

    def _take(self, n):
        self._need(n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _header(self):
        b0, b1 = self._take(2)
        if b0 & 0x30:
            raise ProtocolError(1002, "RSV2 and RSV3 must be clear")
        if b0 & 0x40:
            raise ProtocolError(1002, "RSV1 must be clear")
        fin, opcode, length = bool(b0 & 0x80), b0 & 0x0F, b1 & 0x7F
        if opcode == OP_CONT:
            if self.frag_op is None:
                raise ProtocolError(1002, "invalid opcode 0")
        elif opcode in DATA_OPS:
            if self.frag_op is not None:
                raise ProtocolError(1002, "invalid opcode %d" % opcode)
        elif opcode in CONTROL_OPS:
            if not fin:
                raise ProtocolError(1002, "FIN must be set")
            if length > 125 or (opcode == OP_CLOSE and length == 1):
                raise ProtocolError(1002, "invalid payload length %d"
                                    % length)
        else:
            raise ProtocolError(1002, "invalid opcode %d" % opcode)
        if not b1 & 0x80:
            raise ProtocolError(1002, "MASK must be set")
        if length == 126:
            length = struct.unpack("!H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8))[0]
            if length > 2 ** 53 - 1:
                raise ProtocolError(1009, "Unsupported WebSocket frame: "
                                    "payload length > 2^53 - 1")
        return fin, opcode, length

    def next_event(self):
        while True:
            # What is left in the buffer came with the newest read (a
            # read is only made for bytes still missing).
            self._need(1)
            t_frame = self.t_read
            fin, opcode, length = self._header()
            if opcode not in CONTROL_OPS and length:
                if self.frag_len + length > self.max_payload:
                    raise ProtocolError(1009, "Max payload size exceeded")
            key = self._take(4)
            payload = self._unmask(self._take(length), key)
            if opcode in CONTROL_OPS:
                self.t_event = t_frame
                return self._control(opcode, payload)
            if opcode != OP_CONT:
                self.frag_t = t_frame
            event = self._data(fin, opcode, payload)
            if event is not None:
                self.t_event = self.frag_t
                return event

    @staticmethod
    def _unmask(data, key):
        if not data:
            return data
        mask = (key * (len(data) // 4 + 1))[:len(data)]
        return (int.from_bytes(data, "big") ^
                int.from_bytes(mask, "big")).to_bytes(len(data), "big")

    def _control(self, opcode, payload):
        if opcode == OP_PING:
            return ("ping", payload)
        if opcode == OP_PONG:
            return ("pong", payload)
        if not payload:
            return ("close", None, "")
        code = struct.unpack("!H", payload[:2])[0]
        if not valid_close_code(code):
            raise ProtocolError(1002, "invalid status code %d" % code)
        if not valid_utf8(payload[2:]):
            raise ProtocolError(1007, "invalid UTF-8 sequence")
        return ("close", code, payload[2:].decode("utf-8"))

    def _data(self, fin, opcode, payload):
        if opcode != OP_CONT:
            self.frag_op = opcode
        self.frag_parts.append(payload)
        self.frag_len += len(payload)
        if not fin:
            return None
        op, data = self.frag_op, b"".join(self.frag_parts)
        self.frag_op, self.frag_parts, self.frag_len = None, [], 0
        if op == OP_TEXT and not valid_utf8(data):
            raise ProtocolError(1007, "invalid UTF-8 sequence")
        return ("message", op, data)
