"""What the fake homeserver sends to its application service: event
transactions (from a background thread) and pings (in the asking request's
thread), each recorded, each open to faults.

Transactions, as Synapse's appservice scheduler: the events the service is
interested in queue up; one transaction is in flight at a time, made of
the queued events (up to `max_events`, Synapse's 100), numbered 1, 2, 3...
A 2xx answer completes it; anything else (another status, a refused or
broken connection, a timeout) keeps it: the same transaction, same id and
same body, is sent again after a back-off (`retry_ms`, doubling, at most
`retry_max_ms`), and events that come meanwhile wait for the next one.

  paths "v1"      PUT <url>/_matrix/app/v1/transactions/<txn>
                  Authorization: Bearer <hs_token>   (Synapse >= 1.81)
  paths "legacy"  PUT <url>/transactions/<txn>?access_token=<hs_token>
                  and no Authorization header        (Synapse 1.67)

A ping (POST <url>/_matrix/app/v1/ping, always v1 with the header, as
Synapse 1.84+ which added it) goes out from the client request that asked
for it, without the store's lock: the service may call the homeserver
while it answers.

Faults (`POST /_fake/appservice/faults`), consumed in order:
  kind      "transaction" (default), "ping" or "*"
  count     next N matching pushes (-1: forever; default 1)
  drop      "before_send": nothing reaches the service, the attempt fails
            as a refused connection; "after_send": the service gets the
            request and answers it, the fake drops the answer (a broken
            connection): the transaction is sent again, the service sees
            the same txn id twice
  delay_ms  wait this long before sending (alone or with drop)

The record (`GET /_fake/appservice/pushes`): one entry per attempt,
`seq`, `kind`, `txn_id`, `method`, `path` (the hs_token in a query
masked), `auth` ("header" or "query"), `attempt`, `event_ids`, `status`
(null when no answer), `error`, `fault`, `time`/`t_end` (monotonic).

Lock order: the store's lock, then this one; the thread never takes the
store's lock and never holds this one across a network call.
"""

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse

from . import faults as faultmod
from . import reqlog

USER_AGENT = "Synapse/1.67.0 (fake)"
KEEP_TXNS = 1000
DROPS = ("before_send", "after_send")
KINDS = ("transaction", "ping", "*")


def validate_fault(rule):
    if not isinstance(rule, dict):
        raise faultmod.FaultError("fault must be an object")
    out = dict(rule)
    unknown = set(rule) - {"kind", "count", "drop", "delay_ms"}
    if unknown:
        raise faultmod.FaultError("unknown keys %s" % sorted(unknown))
    out["kind"] = rule.get("kind", "transaction")
    if out["kind"] not in KINDS:
        raise faultmod.FaultError("kind must be one of %s" % (KINDS,))
    out["count"] = int(rule.get("count", 1))
    if "drop" in rule and rule["drop"] not in DROPS:
        raise faultmod.FaultError("drop must be one of %s" % (DROPS,))
    out["delay_ms"] = int(rule.get("delay_ms", 0))
    if not rule.get("drop") and not out["delay_ms"]:
        raise faultmod.FaultError("fault needs drop or delay_ms")
    return out


class PushFaults(faultmod.RuleTable):
    def __init__(self):
        super().__init__(validate_fault)

    def _hits(self, rule, kind):
        return rule["kind"] in ("*", kind)

    def take(self, kind):
        return self._take(kind)


class Txn:
    def __init__(self, txn_id, events):
        self.txn_id = txn_id
        self.event_ids = [eid for eid, _ in events]
        self.body = ('{"events":[%s]}' % ",".join(
            raw for _, raw in events)).encode()
        self.attempts = 0
        self.statuses = []          # per attempt: status or None
        self.last_error = None
        self.state = "pending"
        self.next_try = 0.0         # monotonic
        self.created = time.monotonic()
        self.delivered = None

    def describe(self):
        return {"txn_id": self.txn_id, "event_ids": self.event_ids,
                "events": len(self.event_ids), "attempts": self.attempts,
                "statuses": list(self.statuses),
                "last_status": self.statuses[-1] if self.statuses else None,
                "last_error": self.last_error, "state": self.state,
                "created": self.created, "delivered": self.delivered}


class Pusher:
    def __init__(self):
        self.cond = threading.Condition()
        self.faults = PushFaults()
        self.log = reqlog.RequestLog()
        self.thread = None
        self.generation = 0
        self.target = None          # (registration, options)
        self._forget()

    def _forget(self):
        self.queue = []             # (event_id, json text) not yet sent
        self.current = None
        self.next_txn_id = 1
        self.txns = {}              # txn id -> Txn, the last KEEP_TXNS

    # -- what the homeserver calls (store lock held) -------------------------
    def configure(self, reg, options, keep):
        """Push to `reg` from now on; `keep`: go on with the queue and the
        numbering (the same service, reloaded), else start afresh."""
        with self.cond:
            if not keep:
                self.generation += 1
                self._forget()
            elif self.current is not None:
                self.current.next_try = 0.0
            self.target = (reg, dict(options))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run,
                                               name="appservice-push",
                                               daemon=True)
                self.thread.start()
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.generation += 1
            self.target = None
            self._forget()
            self.cond.notify_all()

    def reset(self):
        self.stop()
        self.faults.clear()
        self.log.clear()

    def enqueue(self, event_id, raw):
        with self.cond:
            if self.target is None:
                return
            self.queue.append((event_id, raw))
            self.cond.notify_all()

    def describe(self):
        with self.cond:
            now = time.monotonic()
            cur = self.current
            return {
                "queued": [eid for eid, _ in self.queue],
                "in_flight": cur.describe() if cur else None,
                "next_try_in_ms": max(0, int((cur.next_try - now) * 1000))
                if cur else None,
                "next_txn_id": self.next_txn_id,
                "idle": cur is None and not self.queue,
                "transactions": [t.describe() for t in self.txns.values()]}

    # -- the delivery thread --------------------------------------------------
    def _run(self):
        while True:
            with self.cond:
                job = self._next_job()
            self._attempt(*job)

    def _next_job(self):
        """Wait (lock held) until a transaction is due; take it."""
        while True:
            target = self.target
            if target is not None and target[0].url:
                if self.current is None and self.queue:
                    self._new_txn(target[1]["max_events"])
                cur = self.current
                if cur is not None:
                    wait = cur.next_try - time.monotonic()
                    if wait <= 0:
                        cur.attempts += 1
                        return self.generation, target, cur, cur.attempts
                    self.cond.wait(wait)
                    continue
            self.cond.wait()

    def _new_txn(self, max_events):
        events, self.queue = self.queue[:max_events], \
            self.queue[max_events:]
        txn = Txn(self.next_txn_id, events)
        self.next_txn_id += 1
        self.current = txn
        self.txns[txn.txn_id] = txn
        while len(self.txns) > KEEP_TXNS:
            del self.txns[next(iter(self.txns))]

    def _attempt(self, generation, target, txn, attempt):
        reg, opts = target
        txn_id = str(txn.txn_id)
        if opts["paths"] == "legacy":
            path = "/transactions/%s?access_token=%s" % (
                urllib.parse.quote(txn_id),
                urllib.parse.quote(reg.hs_token, safe=""))
            headers, auth = {}, "query"
        else:
            path = "/_matrix/app/v1/transactions/" + \
                urllib.parse.quote(txn_id)
            headers, auth = {"Authorization": "Bearer " + reg.hs_token}, \
                "header"
        entry = {"kind": "transaction", "txn_id": txn.txn_id,
                 "attempt": attempt, "event_ids": txn.event_ids,
                 "auth": auth}
        status, _ = self.call(reg, opts, "PUT", path, headers, txn.body,
                              "transaction", entry,
                              lambda: self.generation == generation)
        with self.cond:
            if self.generation != generation or self.current is not txn:
                return          # reset, removed or replaced meanwhile
            txn.statuses.append(status)
            txn.last_error = entry.get("error")
            if status is not None and 200 <= status < 300 and \
                    not entry.get("error"):
                txn.state = "delivered"
                txn.delivered = time.monotonic()
                self.current = None
            else:
                backoff = opts["retry_ms"] * (2 ** (txn.attempts - 1))
                txn.next_try = time.monotonic() + min(
                    backoff, opts["retry_max_ms"]) / 1000.0
            self.cond.notify_all()

    # -- one HTTP exchange, recorded ------------------------------------------
    def call(self, reg, opts, method, path, headers, body, kind, entry,
             still_wanted=lambda: True):
        """Send one request to the service: (status, answer bytes), or
        (None, None) when no answer came (entry["error"] says why)."""
        rule = self.faults.take(kind)
        entry.update({"method": method, "url": reg.url,
                      "path": _masked(path), "fault": rule,
                      "time": time.monotonic()})
        status, answer = None, None
        if rule and rule.get("delay_ms"):
            time.sleep(rule["delay_ms"] / 1000.0)
        if rule and rule.get("drop") == "before_send":
            entry["error"] = "connection refused (fault drop before_send)"
        else:
            status, reason, answer, error = _exchange(
                reg.url, method, path, headers, body,
                opts["timeout_ms"] / 1000.0)
            entry["reason"] = reason
            if error:
                entry["error"] = error
                entry["timed_out"] = error.startswith("timeout")
            elif rule and rule.get("drop") == "after_send":
                entry["error"] = "answer %d dropped (fault drop after_send)" \
                    % status
                entry["status_dropped"] = status
                status, answer = None, None
        entry["status"] = status
        entry["answer"] = _text(answer)
        entry["t_end"] = time.monotonic()
        if still_wanted():
            self.log.add(entry)
        return status, answer

    def pushes(self, kind=None, since=0):
        return [e for e in self.log.since(since)
                if kind is None or e["kind"] == kind]


def _masked(path):
    base, sep, query = path.partition("?")
    if not sep:
        return path
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return base + "?" + "&".join(
        "%s=%s" % (k, reqlog.fingerprint(v) if k in reqlog.SECRET_KEYS
                   else v) for k, v in pairs)


def _text(answer, limit=2000):
    if answer is None:
        return None
    return answer[:limit].decode("utf-8", "replace")


def _exchange(url, method, path, headers, body, timeout):
    """(status, reason phrase, body, None), or (None, None, None, error
    text) when no answer came."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        # A test's service has a certificate made for the test.
        conn = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout,
            context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, port,
                                          timeout=timeout)
    hdrs = dict(headers, **{"Content-Type": "application/json",
                            "User-Agent": USER_AGENT})
    try:
        conn.request(method, parts.path.rstrip("/") + path, body=body,
                     headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.read(), None
    except socket.timeout:
        return None, None, None, "timeout after %d ms" % int(timeout * 1000)
    except (OSError, http.client.HTTPException) as exc:
        return None, None, None, "%s: %s" % (type(exc).__name__, exc)
    finally:
        conn.close()


def ping_body(txn_id):
    return json.dumps({"transaction_id": txn_id}).encode()
