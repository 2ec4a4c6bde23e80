"""Fault injection: make the next N matching requests misbehave.

A rule is a JSON object:
  method      "GET"/"PUT"/... or "*" (default "*")
  path        regex searched in the raw path, query excluded (default ".*")
  count       how many matching requests it hits; -1 = forever (default 1)
  one action:
    status    int, with optional "body" (JSON value) and "headers" (dict);
              "retry_after_ms" adds the Matrix 429 fields and Retry-After;
              "raw_body_hex" sends those bytes as the body instead
    drop      "before_head" (close without answering) or "after_head"
              (send the real status line and headers, then close)
    truncate  true: send the real head with the full Content-Length and
              only half of the body, then close
  delay_ms    sleep this long before answering (alone or with an action)
  process     whether the request still reaches the fake's state; default
              false for status/drop before_head, true for after_head and
              truncate (the server did the work, the answer got lost)
  probability hit a matching request only with this chance (0 < p <= 1;
              default 1), drawn from a generator seeded with "seed"
              (default 0), so a run is reproducible; a request the rule
              lets pass goes on to the next rules
"""

import random
import re
import threading

DROP_MODES = ("before_head", "after_head")


class FaultError(ValueError):
    pass


def validate(rule):
    """Normalise a rule dict or raise FaultError with the reason."""
    if not isinstance(rule, dict):
        raise FaultError("fault must be an object")
    out = dict(rule)
    out["method"] = str(rule.get("method", "*")).upper()
    try:
        out["_re"] = re.compile(rule.get("path", ".*"))
    except re.error as exc:
        raise FaultError("bad path regex: %s" % exc)
    out["count"] = int(rule.get("count", 1))
    actions = [k for k in ("status", "drop", "truncate") if rule.get(k)]
    if len(actions) > 1:
        raise FaultError("at most one of status/drop/truncate")
    if not actions and not rule.get("delay_ms"):
        raise FaultError("fault needs status, drop, truncate or delay_ms")
    if "drop" in rule and rule["drop"] not in DROP_MODES:
        raise FaultError("drop must be one of %s" % (DROP_MODES,))
    out["delay_ms"] = int(rule.get("delay_ms", 0))
    _probability(rule, out)
    if "process" not in rule:
        out["process"] = (not actions or rule.get("drop") == "after_head"
                          or bool(rule.get("truncate")))
    return out


def _probability(rule, out):
    """The optional chance of a hit, with its own seeded generator."""
    if "probability" not in rule:
        return
    try:
        p = float(rule["probability"])
    except (TypeError, ValueError):
        raise FaultError("probability must be a number")
    if not 0 < p <= 1:
        raise FaultError("probability must be in (0, 1]")
    out["probability"] = p
    out["_rng"] = random.Random(int(rule.get("seed", 0)))


def describe(rule):
    """The rule as JSON (without the compiled regex)."""
    return {k: v for k, v in rule.items() if not k.startswith("_")}


class RuleTable:
    """Ordered rules, checked by `validate` when added; take() consumes
    one use of the first rule that matches (a subclass says what matches
    in `_hits`). Shared by the HTTP faults here and the WebSocket frame
    faults of the fake App Server."""

    def __init__(self, validate_rule):
        self._validate = validate_rule
        self._lock = threading.Lock()
        self._rules = []

    def add(self, rule):
        rule = self._validate(rule)
        with self._lock:
            self._rules.append(rule)
        return describe(rule)

    def clear(self):
        with self._lock:
            self._rules = []

    def list(self):
        with self._lock:
            return [describe(r) for r in self._rules]

    def _take(self, *what):
        with self._lock:
            for rule in self._rules:
                if not self._hits(rule, *what):
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                    if rule["count"] == 0:
                        self._rules.remove(rule)
                return describe(rule)
        return None


class FaultTable(RuleTable):
    """HTTP faults: the first rule that matches a request is consumed."""

    def __init__(self):
        super().__init__(validate)

    def _hits(self, rule, method, path):
        if rule["method"] not in ("*", method):
            return False
        if not rule["_re"].search(path):
            return False
        return "_rng" not in rule or \
            rule["_rng"].random() < rule["probability"]

    def take(self, method, path):
        """Return the matching rule (consuming one use) or None."""
        return self._take(method, path)
