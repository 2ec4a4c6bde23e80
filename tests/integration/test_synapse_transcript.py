"""Replay the recorded Synapse 1.67 transcript against the fake.

data/synapse-transcript-1.67.json holds 46 real request/response pairs
(copied from shared/reference/synapse/). Each request is replayed in
order, with the ids the real server chose (rooms, events, nonces, sync
tokens) replaced by the ones the fake chose, and the answer must match:
the same status, the same errcode, every key the real server sent (at
any depth), and the same identities (an event id the real server
repeated must be repeated by the fake too, e.g. the same txn id twice).
"""

import hashlib
import hmac
import json
import os
import re
import unittest
import urllib.parse

from fakes import q
from hs_case import SHARED_SECRET, HomeserverCase

TRANSCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "data", "synapse-transcript-1.67.json")

# Who sent each request (the transcript redacts tokens, not identities;
# read off the labels, error texts and event senders).
ACTORS = {
    10: "agent", 12: "bogus", 13: "agent", 14: "agent", 15: "agent",
    16: "bot", 17: "agent", 18: "bot", 19: "bot", 20: "bot", 21: "person",
    22: "bot", 23: "bot", 24: "bot", 25: "bot", 26: "bot", 27: "bot",
    28: "bot", 29: "person", 30: "person", 31: "bot", 32: "person",
    33: "agent", 34: "agent", 35: "agent", 36: "agent", 37: "agent",
    38: "person", 39: "bot", 40: "bot", 41: "agent", 42: "bot", 43: "bot",
    44: "bot", 45: "bot",
}
# Real values the fake may not repeat, each with the reason.
IGNORED_KEYS = {
    # Synapse reports its own caps of one-time keys; we have no E2EE.
    "org.matrix.msc2732.device_unused_fallback_key_types",
}
# Strings that legitimately differ run to run; every other string value
# must be equal (bodies, memberships, types, names, join rules ...).
VOLATILE_KEYS = {"access_token", "device_id", "error", "base_url",
                 "session"}
ID_RE = re.compile(r"^(![A-Za-z]+:|\$[A-Za-z0-9_\-]{43}$|s\d+_|t\d+-)")
NONCE_RE = re.compile(r"^[0-9a-f]{128}$")


def is_id(value):
    return isinstance(value, str) and bool(ID_RE.match(value) or
                                           NONCE_RE.match(value))


class Replay:
    """Maps the real server's ids to the fake's and checks shapes."""

    def __init__(self):
        self.ids = {}
        self.problems = []

    # -- requests -----------------------------------------------------------
    def subst(self, text):
        for theirs, ours in sorted(self.ids.items(),
                                   key=lambda kv: -len(kv[0])):
            text = text.replace(theirs, ours)
            text = text.replace(urllib.parse.quote(theirs, safe=""),
                                urllib.parse.quote(ours, safe=""))
        return text

    def subst_json(self, value):
        if isinstance(value, str):
            return self.subst(value)
        if isinstance(value, list):
            return [self.subst_json(v) for v in value]
        if isinstance(value, dict):
            return {self.subst(k): self.subst_json(v)
                    for k, v in value.items()}
        return value

    # -- responses -------------------------------------------------------------
    def learn(self, where, theirs, ours):
        if theirs in self.ids:
            if self.ids[theirs] != ours:
                self.problems.append("%s: real server repeated %s, the fake "
                                     "gave %s not %s" % (
                                         where, theirs, ours,
                                         self.ids[theirs]))
        else:
            self.ids[theirs] = ours

    def compare(self, where, theirs, ours, parent=""):
        if isinstance(theirs, dict):
            if not isinstance(ours, dict):
                return self._bad(where, "object expected, got %r" % (ours,))
            for key, value in theirs.items():
                if key in IGNORED_KEYS:
                    continue
                ours_key = self.ids.get(key, key)
                if ours_key not in ours:
                    if is_id(key):
                        continue   # an id-keyed entry we cannot map yet
                    self._bad(where, "missing key %r" % key)
                    continue
                self.compare("%s.%s" % (where, key), value, ours[ours_key],
                             key)
                if isinstance(value, str) and key not in VOLATILE_KEYS \
                        and not is_id(value) and value != ours[ours_key]:
                    self._bad("%s.%s" % (where, key), "%r, real %r"
                              % (ours[ours_key], value))
        elif isinstance(theirs, list):
            self._compare_list(where, theirs, ours, parent)
        elif is_id(theirs):
            if not isinstance(ours, str):
                return self._bad(where, "id expected, got %r" % (ours,))
            self.learn(where, theirs, ours)
        elif theirs is None or isinstance(theirs, bool):
            if type(ours) is not type(theirs):
                self._bad(where, "%r expected, got %r" % (theirs, ours))
        elif isinstance(theirs, (int, float)):
            if not isinstance(ours, (int, float)) or isinstance(ours, bool):
                self._bad(where, "number expected, got %r" % (ours,))
        elif not isinstance(ours, str):
            self._bad(where, "string expected, got %r" % (ours,))

    def _compare_list(self, where, theirs, ours, parent):
        if not isinstance(ours, list):
            return self._bad(where, "array expected, got %r" % (ours,))
        if len(theirs) != len(ours):
            self._bad(where, "%d items expected, got %d"
                      % (len(theirs), len(ours)))
        if theirs and isinstance(theirs[0], dict) and "type" in theirs[0] \
                and (parent in ("events", "") and where.endswith(
                    ("state.events", "response"))):
            # State arrays come in no particular order: pair by key.
            key = lambda e: (e.get("type"), self._mapped(e.get("state_key")))
            theirs = sorted(theirs, key=key)
            ours = sorted(ours, key=lambda e: (e.get("type"),
                                               e.get("state_key")))
        elif theirs and all(isinstance(t, str) for t in theirs):
            mapped = sorted(self._mapped(t) for t in theirs)
            if mapped == sorted(ours):
                return
            theirs, ours = sorted(theirs), sorted(ours)
        for i, (a, b) in enumerate(zip(theirs, ours)):
            self.compare("%s[%d]" % (where, i), a, b)

    def _mapped(self, value):
        return self.ids.get(value, value) if isinstance(value, str) else ""

    def _bad(self, where, what):
        self.problems.append("%s: %s" % (where, what))


class SynapseTranscript(HomeserverCase):
    def test_replay_matches_the_real_server(self):
        with open(TRANSCRIPT) as f:
            exchanges = json.load(f)["exchanges"]
        replay, tokens = Replay(), {"bogus": "syt_bogus"}
        for i, ex in enumerate(exchanges):
            res = self._replay_one(replay, tokens, i, ex)
            where = "#%d %s" % (i, ex["label"])
            if res.status != ex["status"]:
                replay.problems.append("%s: status %d, real %d (%r)" % (
                    where, res.status, ex["status"], res.body))
                continue
            if isinstance(ex["response"], dict) and "errcode" in \
                    ex["response"]:
                if res.body.get("errcode") != ex["response"]["errcode"]:
                    replay.problems.append("%s: errcode %r, real %r" % (
                        where, res.body.get("errcode"),
                        ex["response"]["errcode"]))
                continue
            replay.compare(where + " response", ex["response"], res.body)
            self._remember_token(tokens, ex, res)
        self.assertEqual(replay.problems, [],
                         "\n" + "\n".join(replay.problems))

    def _replay_one(self, replay, tokens, i, ex):
        path = replay.subst(ex["path"])
        body = ex["request"]
        if isinstance(body, (dict, list)):
            body = replay.subst_json(body)
            if ex["path"] == "/_synapse/admin/v1/register" and \
                    ex["method"] == "POST":
                body["mac"] = mac(body)
        token = tokens.get(ACTORS.get(i)) if ex["auth"] else None
        if ex["auth"] and token is None:
            self.fail("#%d: no token for actor %r" % (i, ACTORS.get(i)))
        return self.call(ex["method"], path, body, token)

    @staticmethod
    def _remember_token(tokens, ex, res):
        if isinstance(res.body, dict) and "access_token" in res.body:
            local = res.body["user_id"][1:].split("_")[0]
            tokens.setdefault(local, res.body["access_token"])



STOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                     "synapse-transcript-1.67-stock.json")
# Who sent each request of the stock transcript (labels, error texts).
STOCK_ACTORS = {
    4: "bot", 5: "plain", 6: "plain", 7: "bot", 8: "bot", 9: "bot",
    11: "plain", 12: "plain", 13: "bot", 14: "bot", 15: "plain",
    18: "owner", 19: "owner", 20: "owner", 21: "owner", 22: "owner",
    25: "bot", 26: "bot", 27: "bot", 28: "bot", 29: "out", 30: "person",
    31: "person", 32: "person", 33: "bot", 34: "person", 35: "bot",
    36: "bot", 37: "bot", 38: "person", 39: "person", 40: "person",
    41: "person", 42: "person", 43: "person", 44: "person", 45: "person",
    46: "person", 47: "bot", 48: "person", 49: "person", 50: "bot",
    51: "bot", 52: "person", 53: "person",
}
# Replayed here: #0-#32, rate limits, the admin API and restricted joins.
# The rest (the bridge's /sync shapes, sizes, tombstones) is the bridge's
# to replay: the recording does not say how much time passed before it.
STOCK_LIMITS_UNTIL = 33
# Before #34 the recorder took a sync token it did not record; #35 uses
# it as `since`.
STOCK_SINCE_BEFORE = {34: "s1107_11_0_1_1_1_1_61_0"}
# A request the recorder made and did not record: the 3rd quick login
# (#24) is refused 4.5 s short of the next token, 1.4 s less than a full
# token of rc_login (0.17/s): one login of that account came before #23.
STOCK_UNRECORDED = {23: 23}
BIG_RE = re.compile(r"^<(\d+) bytes of '(.)'>$")
QUICK_RE = re.compile(r"^(.*) -> 429 after (\d+) accepted$")
ROOM_IN_PATH = re.compile(r"(?:join/|m\.space\.child/)(%21[A-Za-z]+%3A"
                          r"localhost)")


class SynapseStockTranscript(HomeserverCase):
    """The stock-limits transcript against the fake's synapse-defaults
    profile: the same requests get the same answers, including which
    quick request is the first 429 (its `retry_after_ms` within 35 % of
    the real one), the override's effect, the admin login and restricted
    joins."""

    def setUp(self):
        super().setUp()
        self.hs.configure(rate_limit={"profile": "synapse-defaults"})
        self.replay, self.tokens = Replay(), {}
        self.pool, self.prev = [], {}

    def test_replay_matches_the_real_server(self):
        with open(STOCK) as f:
            exchanges = json.load(f)["exchanges"]
        for i, ex in enumerate(exchanges):
            if i == STOCK_LIMITS_UNTIL:
                break
            if i in STOCK_SINCE_BEFORE:
                self._take_since(STOCK_SINCE_BEFORE[i])
            if i in STOCK_UNRECORDED:
                self._send(i, exchanges[STOCK_UNRECORDED[i]])
            if "method" not in ex:
                self._summary(ex)
                continue
            self._quick(i, ex, exchanges)
            self._check(i, ex, self._send(i, ex))
            self.prev[ex["label"]] = (i, ex)
        problems = self.replay.problems
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    # -- one exchange ------------------------------------------------------
    def _send(self, i, ex, fresh_room=False):
        path = ex["path"]
        m = ROOM_IN_PATH.search(path)
        if m:
            real = urllib.parse.unquote(m.group(1))
            if fresh_room or real not in self.replay.ids:
                ours = self._free_room()
                if not fresh_room:
                    self.replay.ids[real] = ours
                path = path.replace(m.group(1), q(ours))
        body = ex["request"]
        if isinstance(body, dict):
            body = self.replay.subst_json(self._expand(body))
            if ex["path"] == "/_synapse/admin/v1/register":
                body["nonce"] = self.ok("GET", ex["path"])["nonce"]
                body["mac"] = mac(body)
        token = None
        if ex["auth"]:
            token = self.tokens.get(STOCK_ACTORS.get(i))
            self.assertIsNotNone(token, "#%d: no token for %r"
                                 % (i, STOCK_ACTORS.get(i)))
        res = self.call(ex["method"], self.replay.subst(path), body, token)
        if res.status == 200 and ex["path"].endswith("/createRoom") and \
                i < STOCK_LIMITS_UNTIL and ex["label"].startswith("exempt"):
            self.pool.append(res.body["room_id"])
        return res

    def _check(self, i, ex, res):
        where = "#%d %s" % (i, ex["label"])
        problems = self.replay.problems
        if res.status != ex["status"]:
            problems.append("%s: status %d, real %d (%r)"
                            % (where, res.status, ex["status"], res.body))
            return
        real = ex["response"]
        if isinstance(real, dict) and "errcode" in real:
            if res.body.get("errcode") != real["errcode"]:
                problems.append("%s: errcode %r, real %r" % (
                    where, res.body.get("errcode"), real["errcode"]))
            if "retry_after_ms" in real:
                self._check_wait(where, real, res)
            return
        self.replay.compare(where + " response", real, res.body)
        if isinstance(res.body, dict) and "access_token" in res.body:
            local = res.body["user_id"][1:].split("_")[0]
            self.tokens.setdefault(local, res.body["access_token"])

    def _check_wait(self, where, real, res):
        ours, theirs = res.body.get("retry_after_ms"), real["retry_after_ms"]
        # The real value depends on timing the recording does not hold
        # (the 1.4 s above): within 35 %.
        if not isinstance(ours, int) or not \
                0.65 * theirs <= ours <= 1.35 * theirs:
            self.replay.problems.append("%s: retry_after_ms %r, real %d"
                                        % (where, ours, theirs))
        if "retry-after" in res.headers:
            self.replay.problems.append("%s: Synapse 1.67 sends no "
                                        "Retry-After header" % where)

    # -- what the transcript only summarises -----------------------------
    def _quick(self, i, ex, exchanges):
        """"X -> 429 after N accepted": N - 1 more X (the first was
        recorded), each accepted, before this one."""
        m = QUICK_RE.match(ex["label"])
        if not m:
            return
        first_i, first = self.prev[m.group(1)]
        for k in range(int(m.group(2)) - 1):
            res = self._send(first_i, first, fresh_room=True)
            if res.status != 200:
                self.replay.problems.append("#%d: quick %s %d: %d %r" % (
                    i, first["label"], k + 2, res.status, res.body))

    def _summary(self, ex):
        """{"label": "summary: ...", "accepted", "tried"}: the exchange
        before it, made `tried` times in all."""
        i, first = max(self.prev.values(), key=lambda v: v[0])
        accepted = 1
        for _ in range(ex["tried"] - 1):
            res = self._send(i, first, fresh_room=True)
            accepted += res.status == 200
        if accepted != ex["accepted"]:
            self.replay.problems.append("%s: %d of %d accepted, real %d"
                                        % (ex["label"], accepted,
                                           ex["tried"], ex["accepted"]))

    def _free_room(self):
        used = set(self.replay.ids.values())
        for room in self.pool:
            if room not in used and room not in self._handed:
                self._handed.add(room)
                return room
        self._handed = set(used)     # all handed out: go round again
        return self.pool[0]

    _handed = set()

    def _take_since(self, real):
        out = self.sync(self.tokens["bot"], timeout=0)
        self.replay.ids[real] = out["next_batch"]

    @staticmethod
    def _expand(body):
        out = {}
        for key, value in body.items():
            m = BIG_RE.match(value) if isinstance(value, str) else None
            out[key] = m.group(2) * int(m.group(1)) if m else value
        return out


def mac(body):
    msg = b"\0".join([body["nonce"].encode(), body["username"].encode(),
                      body["password"].encode(),
                      b"admin" if body.get("admin") else b"notadmin"])
    return hmac.new(SHARED_SECRET.encode(), msg, hashlib.sha1).hexdigest()


if __name__ == "__main__":
    unittest.main()
