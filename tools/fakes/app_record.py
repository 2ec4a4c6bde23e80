"""The record of the fake App Server: every WebSocket frame received and
sent, and every connection's opening and end, in order.

An entry: `seq`, `time` (monotonic seconds: a frame received, when its
first byte was read from the socket, before it is decoded or checked; a
data frame sent, when its last byte was written to the socket; as the
HTTP fakes' t_recv and t_sent), `conn` (connection id, app-server-N),
`dir` and `kind`:
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

import time

from . import reqlog


class FrameRecord(reqlog.RequestLog):
    """The frames, in order (the request log's store: seq, clear, what is
    new since a seq)."""

    def add(self, conn, direction, kind, **fields):
        entry = {"seq": 0, "time": time.monotonic(), "conn": conn,
                 "dir": direction, "kind": kind, "type": None,
                 "frame": None, "raw": None, "bytes": None, "error": None,
                 "fault": None}
        entry.update(fields)
        if isinstance(entry["frame"], dict):
            entry["type"] = entry["frame"].get("type")
            entry["frame"] = reqlog.mask_json(entry["frame"])
        return super().add(entry)

    def query(self, conn=None, direction=None, type_=None, since=0,
              errors=False):
        return [e for e in self.since(since)
                if (conn is None or e["conn"] == conn)
                and (direction is None or e["dir"] == direction)
                and (type_ is None or e["type"] == type_)
                and (not errors or e["error"] is not None)]
