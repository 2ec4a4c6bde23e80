"""One WebSocket connection to the fake App Server, after the upgrade.

The handler's thread reads the client's frames (`serve`); a writer
thread sends what the hub queues, in order, through the frame faults
(`app_faults.transmit`); a heartbeat thread pings like the real server
(every 30 s; a socket that left 3 pings unanswered is terminated).
Closing follows ws@8: a client's close frame is echoed and the TCP
connection ended; a protocol error is answered with a close frame with
ws's code and the end of the TCP connection; a close the server starts
waits for the client's close frame. The socket is destroyed 30 s after
a close frame was sent in any case.
"""

import json
import queue
import socket
import threading
import traceback
import uuid

from . import app_commands
from . import app_faults
from . import ws
from .app_store import now_iso

CLOSE_TIMEOUT = 30.0


def dumps(obj):
    """JSON.stringify: compact, non-ASCII kept as UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Connection:
    def __init__(self, hub, sock, rfile, ordinal, headers):
        self.hub = hub
        self.sock = sock
        self.rfile = rfile
        self.ordinal = ordinal
        self.id = "app-server-%d" % ordinal
        self.headers = headers
        self.state = "open"           # open, closing, closed
        self.event_seq = 0
        self.out = queue.Queue()
        self.unanswered = 0
        self.pings_sent = 0
        self.pongs = []               # payloads (hex) of the pongs received
        self.close_info = None        # (code, reason, by)
        self.closed = threading.Event()
        self.last_device = {}         # scope key -> device_status last sent

    @property
    def open(self):
        return self.state == "open"

    def info(self):
        return {"id": self.id, "state": self.state,
                "headers": self.headers, "event_seq": self.event_seq,
                "pings_sent": self.pings_sent, "pongs": list(self.pongs),
                "unanswered_pings": self.unanswered,
                "close": None if self.close_info is None else dict(zip(
                    ("code", "reason", "by"), self.close_info))}

    # -- queueing (any thread; the hub's lock may be held) --------------------
    def send(self, obj):
        """A frame without envelope (responses, input_accepted)."""
        if self.state == "open":
            self.out.put(("json", obj))

    def send_event(self, scope, message):
        """A runtime frame, enveloped with this connection's event_seq."""
        if self.state != "open":
            return
        self.event_seq += 1
        frame = dict(message)
        frame.update(runtime=dict(scope), event_seq=self.event_seq,
                     emitted_at=now_iso(),
                     idempotency_key="%s:%d:%s" % (message["type"],
                                                   self.event_seq,
                                                   uuid.uuid4()))
        self.out.put(("json", frame))

    def act(self, action, **args):
        """An immediate fault, after what is queued: ping, close, drop,
        send (see app_faults.ACTIONS)."""
        self.out.put(("act", action, args))

    # -- reading (the handler's thread) ---------------------------------------
    def serve(self):
        threading.Thread(target=self._writer, daemon=True).start()
        threading.Thread(target=self._heartbeat, daemon=True).start()
        reader = ws.FrameReader(self.rfile)
        try:
            while True:
                try:
                    event = reader.next_event()
                except ws.ProtocolError as err:
                    self.hub.record.add(self.id, "in", "error",
                                        error="%d %s" % (err.code,
                                                         err.reason))
                    self.out.put(("close", err.code, "", None, True))
                    reader = _Discard(self.rfile)
                    continue
                self._on_event(event, reader.t_event)
        except ws.Closed:
            pass
        finally:
            self._finish()

    def _on_event(self, event, t_recv):
        """One event the reader read; t_recv: when its bytes came (the
        record's `time`: what a latency is measured to)."""
        kind = event[0]
        if kind == "message":
            name = "text" if event[1] == ws.OP_TEXT else "binary"
            if self.state != "open":
                self._record_in(name, event[2], t_recv, "ignored: closing")
            else:
                app_commands.dispatch(self.hub, self, name, event[2],
                                      t_recv)
        elif kind == "ping":
            if self.hub.config["answer_pings"]:
                self._record_in("ping", event[1], t_recv)
                self.out.put(("pong", event[1]))
            else:
                self._record_in("ping", event[1], t_recv,
                                "not answered (answer_pings is off)")
        elif kind == "pong":
            self.unanswered = 0
            self.pongs.append(event[1].hex())
            self._record_in("pong", event[1], t_recv)
        else:
            _, code, reason = event
            self.hub.record.add(self.id, "in", "close", raw=reason,
                                bytes=0 if code is None else
                                2 + len(reason.encode("utf-8")), code=code,
                                time=t_recv)
            if self.state == "open":
                self.close_info = (1005 if code is None else code, reason,
                                   "client")
                self.state = "closing"     # nothing more is sent but this
                self.out.put(("echo_close", code, reason))
            else:
                self._end()

    def _record_in(self, kind, data, t_recv, error=None):
        raw = data.decode("utf-8", "replace") if kind == "text" else \
            data.hex()
        self.hub.record.add(self.id, "in", kind, raw=raw, bytes=len(data),
                            error=error, time=t_recv)

    # -- writing (the writer thread) ------------------------------------------
    def _writer(self):
        while True:
            item = self.out.get()
            if item is None or self.state == "closed":
                return
            try:
                self._write_item(item)
            except OSError:
                self._destroy()
            except Exception:          # a bug in the fake: loud, not stuck
                traceback.print_exc()
                self._destroy()

    def _write_item(self, item):
        kind = item[0]
        if kind == "json":
            frame = item[1]
            rule = self.hub.faults.take(self.id, frame)
            app_faults.transmit(self, dumps(frame).encode("utf-8"), frame,
                                rule)
        elif kind in ("ping", "pong"):
            payload = item[1]
            self.write(ws.encode_frame(ws.OP_PING if kind == "ping"
                                       else ws.OP_PONG, payload))
            if kind == "ping":
                self.pings_sent += 1
            self.hub.record.add(self.id, "out", kind, raw=payload.hex(),
                                bytes=len(payload),
                                fault=item[2] if kind == "ping" else None)
        elif kind == "close":
            self.send_close(*item[1:])
        elif kind == "echo_close":
            payload = ws.close_payload(item[1], item[2])
            self.hub.record.add(self.id, "out", "close", raw=item[2],
                                bytes=len(payload), code=item[1])
            self.write(ws.encode_frame(ws.OP_CLOSE, payload))
            self._end()
        elif kind == "act":
            app_faults.act(self, item[1], item[2])

    def write(self, data):
        self.sock.sendall(data)

    def send_close(self, code, reason, fault, failing=False):
        """A close frame from the server. After a protocol error
        (`failing`) ws ends the TCP connection at once; otherwise it
        waits for the client's close frame."""
        if self.state != "open":
            return
        self.close_info = (code, reason, "server")
        self.state = "closing"         # before the client can answer
        payload = ws.close_payload(code, reason)
        self.hub.record.add(self.id, "out", "close", raw=reason,
                            bytes=len(payload), code=code, fault=fault)
        self.write(ws.encode_frame(ws.OP_CLOSE, payload))
        if failing:
            self._end()
        else:
            self._later(self._destroy)

    def drop(self, why, fault=None):
        """Gone at once, without a close frame (terminate(), a crash)."""
        self.hub.record.add(self.id, "out", "drop", error=why, fault=fault)
        if self.close_info is None:
            self.close_info = (1006, "", why)
        self._destroy()

    def _end(self):
        """socket.end(): our side is done; the client closes its side."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._later(self._destroy)

    def _destroy(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _later(self, func):
        timer = threading.Timer(CLOSE_TIMEOUT, func)
        timer.daemon = True
        timer.start()

    def _finish(self):
        """The TCP connection ended: tell the hub (once), and the record
        unless a restart or reset had cut it."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._destroy()
        self.out.put(None)
        code, reason, by = self.close_info or (1006, "", "client (no "
                                               "close frame)")
        if self.hub.connection_closed(self):
            self.hub.record.add(self.id, "conn", "closed", code=code,
                                reason=reason, by=by)
        self.closed.set()

    # -- heartbeat ------------------------------------------------------------
    def _heartbeat(self):
        while not self.closed.wait(self.hub.config["heartbeat_ms"] / 1000.0):
            if self.state != "open":
                continue
            limit = max(1, -(-self.hub.config["pong_timeout_ms"] //
                             self.hub.config["heartbeat_ms"]))
            if self.unanswered >= limit:
                self.drop("terminated: %d pings unanswered"
                          % self.unanswered)
                return
            self.unanswered += 1
            self.out.put(("ping", b"", None))


class _Discard:
    """After a protocol error ws parses no more frames: what the client
    still sends is read and thrown away until it closes."""

    def __init__(self, rfile):
        self.rfile = rfile

    def next_event(self):
        while True:
            try:
                chunk = self.rfile.read1(65536)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                raise ws.Closed()
