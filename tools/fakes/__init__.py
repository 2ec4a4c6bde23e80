"""Strict, stateful test doubles for lettamx (Python 3 standard library only).

`web` is the HTTP/1.1 server shared by both fakes (request log, faults,
control interface); `mx_*` is the Matrix homeserver; `letta_*` is Letta.
"""
