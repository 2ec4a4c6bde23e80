"""The request log that tests assert on, with secrets masked.

Secrets are replaced by a short fingerprint (not the value) so a test can
still tell two tokens apart, or check that the same token was reused,
without the log ever holding a credential.
"""

import bisect
import hashlib
import re
import threading

# JSON keys whose values are credentials wherever they appear in a body.
SECRET_KEYS = {"password", "new_password", "access_token", "refresh_token",
               "token", "mac", "registration_shared_secret"}
SECRET_HEADERS = {"authorization", "x-bare-password", "x-fake-control",
                  "cookie"}


def fingerprint(secret):
    """A stable, non-reversible stand-in for a secret: '***<8 hex>'."""
    digest = hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
    return "***" + digest[:8]


def mask_header(name, value):
    if name.lower() not in SECRET_HEADERS:
        return value
    # Keep the scheme ("Bearer") so tests can check how auth was sent.
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "password"):
        return scheme + " " + fingerprint(rest)
    return fingerprint(value)


def mask_json(value):
    """Copy of a parsed JSON value with every secret-named key masked."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in SECRET_KEYS and isinstance(item, str):
                out[key] = fingerprint(item)
            else:
                out[key] = mask_json(item)
        return out
    if isinstance(value, list):
        return [mask_json(item) for item in value]
    return value


def mask_query(query):
    return {k: [fingerprint(v) if k in SECRET_KEYS else v for v in vals]
            for k, vals in query.items()}


class RequestLog:
    """Thread-safe append-only list of request records, clearable by tests."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._seqs = []        # seq of each entry, for bisect
        self._seq = 0

    def add(self, entry):
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            self._seqs.append(self._seq)
            return entry

    def clear(self):
        with self._lock:
            self._entries = []
            self._seqs = []

    def since(self, since):
        """The entries after seq `since`, in order."""
        with self._lock:
            # seq grows along the list: start past `since` (benchmarks
            # poll a long log for what is new).
            start = bisect.bisect_right(self._seqs, since)
            return self._entries[start:]

    def query(self, method=None, path=None, since=0):
        """Entries matching an exact method and a path regex (re.search)."""
        pattern = re.compile(path) if path else None
        entries = self.since(since)
        return [e for e in entries
                if e["seq"] > since
                and (method is None or e["method"] == method.upper())
                and (pattern is None or pattern.search(e["path"]))]
