"""Faults of the fake App Server's WebSocket frames.

A frame rule changes how the next matching frame the server sends goes
on the wire:
  type          regex (full match) on the frame's `type` (default ".*")
  message_type  regex on a stream_delta's delta.message_type (optional)
  conn          only on this connection (optional)
  skip          let this many matching frames pass first (default 0)
  count         frames it changes; -1 = forever (default 1)
  and one or more of:
  drop          true: end the TCP connection instead of sending it (no
                close frame: what a crash or a cut cable looks like)
  close         a close code (e.g. 1011), with optional "reason": a close
                frame instead of this frame
  delay_ms      wait before sending it
  fragment      N: send it as a fragmented message of N-byte frames
  split_writes  N: write its bytes N at a time, each write its own TCP
                segment ("write_delay_ms" between writes, default 0)
  invalid_utf8  true: a 0xFF byte in the middle of the text payload
(drop and close exclude the others but delay_ms.)

Actions (`act`) happen at once on a connection, after what is queued:
  ping   {"payload": text}: a ping frame (the client must answer it)
  close  {"code", "reason"}: a close frame from the server
  drop   {}: end the TCP connection without a close frame
  send   {"text" | "hex", "opcode" (default 1), "fragment",
          "split_writes", "write_delay_ms", "invalid_utf8"}: any message
"""

import re
import time

from . import ws
from .faults import FaultError, RuleTable

SHAPING = ("fragment", "split_writes", "invalid_utf8")
ENDING = ("drop", "close")
ACTIONS = ("ping", "close", "drop", "send")


def _count(rule, key, default, minimum):
    value = rule.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or \
            value < minimum:
        raise FaultError("%s must be an integer >= %d" % (key, minimum))
    return value


def validate(rule):
    if not isinstance(rule, dict):
        raise FaultError("a fault rule is an object")
    known = {"type", "message_type", "conn", "skip", "count",
             "delay_ms", "write_delay_ms", "reason"} | set(SHAPING) | \
        set(ENDING)
    unknown = set(rule) - known
    if unknown:
        raise FaultError("unknown keys %s" % sorted(unknown))
    out = dict(rule)
    try:
        out["_type"] = re.compile(rule.get("type", ".*"))
        out["_mtype"] = re.compile(rule["message_type"]) \
            if "message_type" in rule else None
    except re.error as exc:
        raise FaultError("bad regex: %s" % exc)
    out["skip"] = _count(rule, "skip", 0, 0)
    out["count"] = rule.get("count", 1)
    if out["count"] != -1:
        _count(rule, "count", 1, 1)
    ending = [k for k in ENDING if rule.get(k)]
    shaping = [k for k in SHAPING if rule.get(k)]
    if len(ending) > 1 or (ending and shaping):
        raise FaultError("drop and close exclude each other and the "
                         "shaping faults")
    if not ending and not shaping and not rule.get("delay_ms"):
        raise FaultError("a rule needs drop, close, delay_ms, fragment, "
                         "split_writes or invalid_utf8")
    for key in ("fragment", "split_writes"):
        if key in rule:
            _count(rule, key, 1, 1)
    for key in ("delay_ms", "write_delay_ms"):
        if key in rule:
            _count(rule, key, 0, 0)
    if "close" in rule and not (isinstance(rule["close"], int) and
                                ws.valid_close_code(rule["close"])):
        raise FaultError("close must be a valid close code")
    reason = rule.get("reason", "")
    if not isinstance(reason, str) or len(reason.encode("utf-8")) > 123:
        raise FaultError("a close reason is a text of 123 bytes at most")
    return out


class FrameFaults(RuleTable):
    """Frame rules: the first that matches an outgoing frame is used."""

    def __init__(self):
        super().__init__(validate)

    def _hits(self, rule, conn_id, frame, mtype):
        if rule.get("conn") not in (None, conn_id):
            return False
        if not rule["_type"].fullmatch(str(frame.get("type"))):
            return False
        if rule["_mtype"] is not None and \
                not rule["_mtype"].fullmatch(str(mtype)):
            return False
        if rule["skip"] > 0:
            rule["skip"] -= 1
            return False
        return True

    def take(self, conn_id, frame):
        """The rule for this outgoing frame (consuming it), or None."""
        mtype = None
        if isinstance(frame.get("delta"), dict):
            mtype = frame["delta"].get("message_type")
        return self._take(conn_id, frame, mtype)


def transmit(conn, payload, frame, rule, opcode=ws.OP_TEXT):
    """Send one message (JSON frame or raw payload) as the rule says,
    recording it first."""
    rule = rule or {}
    if rule.get("delay_ms"):
        time.sleep(rule["delay_ms"] / 1000.0)
    fault = rule or None
    kind = "text" if opcode == ws.OP_TEXT else "binary"
    if rule.get("drop") or "close" in rule:
        conn.hub.record.add(conn.id, "out", kind, frame=frame,
                            bytes=len(payload), fault=fault,
                            error="not sent: replaced by the fault")
        if rule.get("drop"):
            conn.drop("fault: drop", fault)
        else:
            conn.send_close(rule["close"], rule.get("reason", ""), fault)
        return
    if rule.get("invalid_utf8"):
        mid = len(payload) // 2
        payload = payload[:mid] + b"\xff" + payload[mid:]
    if rule.get("fragment"):
        data = b"".join(ws.encode_fragments(opcode, payload,
                                            rule["fragment"]))
    else:
        data = ws.encode_frame(opcode, payload)
    raw = None if frame is not None else \
        payload.decode("utf-8", "replace")[:4096]
    # Recorded before it is written (a client's answer to it comes after
    # it in the record), stamped once written: the record's `time` of a
    # frame sent is when its last byte went to the socket, as the HTTP
    # fakes' t_sent, not when the fake began to copy and mask it.
    entry = conn.hub.record.add(conn.id, "out", kind, frame=frame, raw=raw,
                                bytes=len(payload), fault=fault)
    piece = rule.get("split_writes")
    if not piece:
        conn.write(data)
        entry["time"] = time.monotonic()
        return
    delay = rule.get("write_delay_ms", 0) / 1000.0
    for i in range(0, len(data), piece):
        conn.write(data[i:i + piece])
        if i + piece >= len(data):
            entry["time"] = time.monotonic()
        if delay:
            time.sleep(delay)


def validate_act(action, args):
    if action not in ACTIONS:
        raise FaultError("action must be one of %s" % (ACTIONS,))
    if action == "ping" and not (
            isinstance(args.get("payload", ""), str) and
            len(args.get("payload", "").encode("utf-8")) <= 125):
        raise FaultError("a ping payload is a text of 125 bytes at most")
    if action == "close":
        code = args.get("code", 1000)
        if not isinstance(code, int) or not ws.valid_close_code(code):
            raise FaultError("close needs a valid code")
        reason = args.get("reason", "")
        if not isinstance(reason, str) or len(reason.encode("utf-8")) > 123:
            raise FaultError("a close reason is a text of 123 bytes at most")
    if action == "send":
        if ("text" in args) == ("hex" in args):
            raise FaultError("send needs text or hex")
        if "text" in args and not isinstance(args["text"], str):
            raise FaultError("text must be a string")
        bytes.fromhex(args.get("hex", ""))
        if args.get("opcode", ws.OP_TEXT) not in ws.DATA_OPS:
            raise FaultError("opcode must be 1 (text) or 2 (binary)")
        for key in ("fragment", "split_writes"):
            if key in args:
                _count(args, key, 1, 1)
        if "write_delay_ms" in args:
            _count(args, "write_delay_ms", 0, 0)


def act(conn, action, args):
    """Carry out an action on the writer thread of `conn`."""
    fault = dict(args, action=action)
    if action == "ping":
        payload = args.get("payload", "").encode("utf-8")
        conn.write(ws.encode_frame(ws.OP_PING, payload))
        conn.pings_sent += 1
        conn.hub.record.add(conn.id, "out", "ping", raw=payload.hex(),
                            bytes=len(payload), fault=fault)
    elif action == "close":
        conn.send_close(args.get("code", 1000), args.get("reason", ""),
                        fault)
    elif action == "drop":
        conn.drop("fault: drop", fault)
    else:
        payload = args["text"].encode("utf-8") if "text" in args else \
            bytes.fromhex(args["hex"])
        rule = {k: v for k, v in args.items()
                if k in SHAPING + ("write_delay_ms",)}
        transmit(conn, payload, None, dict(rule, action="send"),
                 args.get("opcode", ws.OP_TEXT))
