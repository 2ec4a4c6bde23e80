"""The shared state of the fake App Server and how frames reach clients.

One lock guards everything: the store (agents, conversations,
histories), the live conversation runtimes, the connections and their
subscriptions, the per-conversation permission modes and working
directories. Runtime frames go to every open connection subscribed to
their conversation (the real ToSubscribers routing); a connection
subscribes by starting a runtime or by sending any frame that carries a
`runtime`. When a connection closes, the turn it started is cancelled
unless another connection is subscribed to that conversation, its queued
inputs are dropped, and it stops owning pending approvals.
"""

import collections
import threading
import time

from . import app_inputs
from . import app_status
from .app_runtime import ConvRuntime
from .app_store import Store

DEFAULT_CONFIG = {"heartbeat_ms": 30000, "pong_timeout_ms": 90000,
                  "answer_pings": True}
MAX_RUN_CORRELATIONS = 32


def scope_key(agent_id, conv_id):
    return (agent_id, conv_id or "default")


class Hub:
    def __init__(self, record, faults):
        self.lock = threading.RLock()
        self.record = record
        self.faults = faults
        self.conns = {}
        self.next_conn = 0
        self.down_until = 0.0
        self.reset()

    def reset(self):
        """Forget everything (the control interface's reset)."""
        with self.lock:
            conns, self.conns = list(self.conns.values()), {}
            for conn in conns:
                conn.drop("reset")
            self.store = Store()
            self.scripts = {}          # agent id -> script
            self.turn_counts = {}      # agent id -> turns run
            self.images = {}           # agent id -> pictures it got
            self.config = dict(DEFAULT_CONFIG)
            self._forget_runtimes()
            self.modes = {}            # scope key -> permission mode
            self.cwds = {}             # scope key -> working directory
            self.tools_loaded = False
            self.down_until = 0.0
            self.next_conn = 0

    def _forget_runtimes(self):
        """Turns in flight stop (their frames go nowhere: their runtimes
        are no longer live)."""
        for rt in getattr(self, "runtimes", {}).values():
            if rt.turn is not None:
                rt.turn.cancel()
        self.runtimes = {}
        self.subs = {}                 # scope key -> {conn id}
        self.correlations = {}         # scope key -> {run id: [cm ids]}

    def restart(self, down_ms):
        """A server restart: every connection is cut, turns die, runtimes,
        subscriptions, queues and approvals are forgotten; agents,
        conversations, histories (less answers never finished) and the
        permission modes stay. For down_ms new connections are reset."""
        with self.lock:
            conns = list(self.conns.values())
            self.conns = {}
            self._forget_runtimes()
            self.store.drop_unsettled()
            self.down_until = time.monotonic() + down_ms / 1000.0
            self.record.add(None, "conn", "restart", raw="down %d ms"
                            % down_ms)
        for conn in conns:
            conn.drop("restart")

    def is_down(self):
        return time.monotonic() < self.down_until

    # -- connections ----------------------------------------------------------
    def new_ordinal(self):
        """The next connection's number (its id is app-server-N)."""
        with self.lock:
            self.next_conn += 1
            return self.next_conn - 1

    def add_connection(self, conn):
        with self.lock:
            self.conns[conn.id] = conn
        self.record.add(conn.id, "conn", "open", headers=conn.headers)

    def subscribe(self, conn, key):
        with self.lock:
            if self.conns.get(conn.id) is conn and conn.open:
                self.subs.setdefault(key, set()).add(conn.id)

    def subscribers(self, key):
        with self.lock:
            conns = [self.conns[c] for c in self.subs.get(key, ())
                     if c in self.conns and self.conns[c].open]
            return sorted(conns, key=lambda c: c.ordinal)

    def connection_closed(self, conn):
        """The connection ended: False when a restart or a reset had
        already forgotten it."""
        with self.lock:
            if self.conns.get(conn.id) is not conn:
                return False
            del self.conns[conn.id]
            for ids in self.subs.values():
                ids.discard(conn.id)
            for rt in list(self.runtimes.values()):
                app_inputs.connection_gone(self, rt, conn.id)
            return True

    # -- runtimes -------------------------------------------------------------
    def runtime(self, key):
        rt = self.runtimes.get(key)
        if rt is None:
            rt = self.runtimes[key] = ConvRuntime(*key)
        return rt

    def evict_if_idle(self, rt):
        if rt.idle() and self.runtimes.get(rt.key) is rt:
            del self.runtimes[rt.key]

    def live(self, rt):
        return self.runtimes.get(rt.key) is rt

    def mode(self, key):
        return self.modes.get(key, "unrestricted")

    def correlate(self, key, run_id, client_message_ids):
        """The run that consumed these client_message_ids (the last 32
        runs of a conversation are kept)."""
        if not client_message_ids:
            return
        runs = self.correlations.setdefault(key, collections.OrderedDict())
        runs[run_id] = list(client_message_ids)
        while len(runs) > MAX_RUN_CORRELATIONS:
            runs.popitem(last=False)

    # -- frames ---------------------------------------------------------------
    def emit(self, rt, message):
        """A runtime frame to the subscribers of rt's conversation."""
        with self.lock:
            if not self.live(rt):
                return
            for conn in self.subscribers(rt.key):
                conn.send_event(rt.scope, message)

    def emit_to(self, conns, key, message):
        with self.lock:
            for conn in conns:
                conn.send_event({"agent_id": key[0],
                                 "conversation_id": key[1]}, message)

    def loop_snapshot(self, rt):
        return app_status.loop_status(rt, self.correlations.get(rt.key))

    def loop_status(self, rt, status=None):
        if status is not None:
            rt.loop = status
        self.emit(rt, {"type": "update_loop_status",
                       "loop_status": self.loop_snapshot(rt)})

    def device_status(self, rt, conns=None, force=True):
        """update_device_status to the subscribers (or to `conns`, only
        where it changed unless forced)."""
        with self.lock:
            status = app_status.device_status(
                rt.agent_id, rt if self.live(rt) else None,
                self.mode(rt.key), self.cwds.get(rt.key), self.tools_loaded)
            targets = self.subscribers(rt.key) if conns is None else conns
            for conn in targets:
                if not force and conn.last_device.get(rt.key) == status:
                    continue
                conn.last_device[rt.key] = status
                conn.send_event(rt.scope, {"type": "update_device_status",
                                           "device_status": status})

    def queue_update(self, rt, removed=(), conns=None):
        message = {"type": "update_queue",
                   "queue": app_status.queue_snapshot(rt),
                   "removed": [{"client_message_id": i.client_message_id,
                                "disposition": d} for i, d in removed]}
        if conns is None:
            self.emit(rt, message)
        else:
            self.emit_to(conns, rt.key, message)
