"""The record of the fake App Server: every WebSocket frame received and
sent, and every connection's opening and end, in order.

An entry: `seq`, `time` (monotonic seconds), `conn` (connection id,
app-server-N), `dir` and `kind`:
  in    text, binary (a data message), ping, pong, close (its `code`; the
        reason in `raw`), error (a framing error: `error` says which)
  out   text, binary, ping, pong, close (`code`), drop (the TCP
        connection cut without a close frame: `error` says why)
  conn  open (`headers`, secrets masked), closed (`code`, `reason`, `by`:
        client, server, or why it was cut), restart
and `type` (the JSON frame's `type`), `frame` (the parsed JSON object,
secrets masked), `raw` (the text when it is not a JSON object, hex for
pings, pongs and binary garbage), `bytes` (payload length), `error` (why
the fake dropped or refused it, or what it does not model; null when all
went as on the real server) and `fault` (the injected fault that changed
it, else null).
"""

import bisect
import threading
import time

from . import reqlog


class FrameRecord:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._seqs = []
        self._seq = 0

    def add(self, conn, direction, kind, **fields):
        entry = {"seq": 0, "time": time.monotonic(), "conn": conn,
                 "dir": direction, "kind": kind, "type": None,
                 "frame": None, "raw": None, "bytes": None, "error": None,
                 "fault": None}
        entry.update(fields)
        if isinstance(entry["frame"], dict):
            entry["type"] = entry["frame"].get("type")
            entry["frame"] = reqlog.mask_json(entry["frame"])
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            self._seqs.append(self._seq)
        return entry

    def clear(self):
        with self._lock:
            self._entries, self._seqs = [], []

    def query(self, conn=None, direction=None, type_=None, since=0,
              errors=False):
        with self._lock:
            start = bisect.bisect_right(self._seqs, since)
            entries = self._entries[start:]
        return [e for e in entries
                if (conn is None or e["conn"] == conn)
                and (direction is None or e["dir"] == direction)
                and (type_ is None or e["type"] == type_)
                and (not errors or e["error"] is not None)]
