#!/usr/bin/env python3
"""An OpenAI-compatible model stub for Letta's App Server (letta-code).

    python3 tools/fake_model.py --port 0 [--port-file F] [--model-id ID]
        [--control-token T] [--log FILE] [-v]

Prints "fake_model listening on http://127.0.0.1:PORT" and runs until
SIGTERM/SIGINT. Binds 127.0.0.1 only. Standard library only.

Routes: `GET /v1/models`, `POST /v1/chat/completions` (JSON, or SSE with
`"stream": true`; usage in the last chunk when `stream_options.
include_usage`), anything else 404 `{"error": {...}}` as OpenAI answers.

The answer is scripted by what the person wrote: the user messages at the
end of the conversation (after the last assistant or tool message), with
every `<system-reminder>...</system-reminder>` block the App Server wraps
around them removed, joined by newlines. Keywords (first match wins):

    RUN_TOOL [command]  a call of the agent's shell tool `Bash`
                        ({"command": ..., "description": ...}; default
                        command `echo run-tool-ok`); after its result the
                        answer is "Tool result: <first line of output>"
    STEPS n             n `Bash` calls one after the other (`echo step-i`),
                        then "Done after n steps." (the App Server's loop
                        ends a turn at the first answer without a tool
                        call, so steps need tool calls)
    SLOW [s]            "Slow answer part 1. part 2. ..." streamed in
                        2*s chunks over s seconds (default 5); a plain
                        request waits s seconds
    MARKDOWN            a list, **bold** and a fenced code block
    (anything else)     "You said: <text>"

Control (only with `X-Fake-Control: <token>`, printed when not given):
`GET /_fake/requests` (the log: seq, time, path, body, user_text,
script, stream, finished (the whole answer was written), client_gone,
t_end), `DELETE /_fake/requests`, `GET /_fake/health`. `--log FILE`
appends every log entry as one JSON line as well.
"""

import argparse
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import web  # noqa: E402
import uuid

REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)

MARKDOWN_TEXT = (
    "Here is **bold** text and a list:\n\n"
    "- first item\n"
    "- second item with `inline code`\n"
    "- third item\n\n"
    "```python\n"
    "def hello():\n"
    "    return \"world\"\n"
    "```\n\n"
    "That is all."
)


class Log:
    def __init__(self, path=None):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0
        self.path = path

    def add(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.entries.append(entry)
            return entry

    def done(self, entry):
        if self.path:
            with self.lock, open(self.path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def list(self):
        with self.lock:
            return [dict(e) for e in self.entries]

    def clear(self):
        with self.lock:
            self.entries = []


def content_text(content):
    """The text of a message's content (string or list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("text",
                                                           "input_text"):
            out.append(part.get("text", ""))
        elif isinstance(part, str):
            out.append(part)
    return "\n".join(out)


def person_text(text):
    """What the person wrote: the text without <system-reminder> blocks."""
    return REMINDER.sub("", text).strip()


def trailing(messages):
    """(the user texts after the last assistant/tool message, the tool
    results after the last user message, number of tool results since
    the last user message)."""
    users, tools = [], []
    i = len(messages) - 1
    while i >= 0 and messages[i].get("role") == "tool":
        tools.insert(0, content_text(messages[i].get("content")))
        i -= 1
    if tools:
        # count every tool result since the last user message
        n = 0
        j = i
        while j >= 0 and messages[j].get("role") != "user":
            if messages[j].get("role") == "tool":
                n += 1
            j -= 1
        k = j
        while k >= 0 and messages[k].get("role") == "user":
            users.insert(0, person_text(content_text(
                messages[k].get("content"))))
            k -= 1
        return users, tools, n + len(tools)
    while i >= 0 and messages[i].get("role") == "user":
        users.insert(0, person_text(content_text(
            messages[i].get("content"))))
        i -= 1
    return users, [], 0


def plan(messages, tool_names):
    """(script name, reply) where reply is ("text", str, slow_seconds)
    or ("tool", name, arguments_dict)."""
    users, tools, n_results = trailing(messages)
    text = "\n".join(u for u in users if u)
    shell = "Bash" if "Bash" in tool_names or not tool_names else None
    if shell is None:
        for name in tool_names:
            if name.lower() in ("bash", "shell", "run_shell_command",
                                "shell_command"):
                shell = name
                break
    m = re.search(r"\bSTEPS\s+(\d+)", text)
    if m:
        total = max(1, int(m.group(1)))
        if n_results < total and shell:
            i = n_results + 1
            return "STEPS", ("tool", shell, {
                "command": "echo step-%d" % i,
                "description": "step %d of %d" % (i, total)})
        return "STEPS", ("text", "Done after %d steps." % total, 0)
    m = re.search(r"\bRUN_TOOL\b[ \t]*([^\n]*)", text)
    if m:
        if tools:
            first = (tools[-1].strip().splitlines() or [""])[0]
            return "RUN_TOOL", ("text", "Tool result: %s" % first, 0)
        if shell:
            cmd = m.group(1).strip() or "echo run-tool-ok"
            return "RUN_TOOL", ("tool", shell, {
                "command": cmd, "description": "fake_model RUN_TOOL"})
        return "RUN_TOOL", ("text", "No shell tool offered.", 0)
    m = re.search(r"\bSLOW\b(?:\s+(\d+(?:\.\d+)?))?", text)
    if m:
        secs = float(m.group(1)) if m.group(1) else 5.0
        n = max(2, int(secs * 2))
        body = "Slow answer " + " ".join("part %d." % (i + 1)
                                         for i in range(n))
        return "SLOW", ("text", body, secs)
    if "MARKDOWN" in text:
        return "MARKDOWN", ("text", MARKDOWN_TEXT, 0)
    if tools:
        first = (tools[-1].strip().splitlines() or [""])[0]
        return "echo", ("text", "Tool result: %s" % first, 0)
    return "echo", ("text", "You said: %s" % text, 0)


def chunks_of(text, n):
    """text cut into n pieces at spaces (as near equal as possible)."""
    words = text.split(" ")
    n = max(1, min(n, len(words)))
    per = len(words) / n
    out, start = [], 0
    for i in range(n):
        end = len(words) if i == n - 1 else int(round((i + 1) * per))
        piece = " ".join(words[start:end])
        out.append(piece + ("" if i == n - 1 else " "))
        start = end
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_model/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_model: " + fmt % args + "\n")

    # -- helpers ---------------------------------------------------------

    def _send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _control(self):
        return self.path.startswith("/_fake/") and \
            self.headers.get("X-Fake-Control") == self.server.token

    def _not_found(self):
        self._send_json(404, {"error": {
            "message": "Unknown request URL: %s %s"
                       % (self.command, self.path),
            "type": "invalid_request_error", "code": "unknown_url"}})

    # -- routes ----------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if self._control():
            if path == "/_fake/requests":
                return self._send_json(200, self.server.log.list())
            if path == "/_fake/health":
                return self._send_json(200, {"ok": True})
            return self._not_found()
        entry = self.server.log.add({"time": time.monotonic(),
                                     "method": "GET", "path": path})
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0,
                 "owned_by": "fake_model"} for m in self.server.models]})
            entry["status"] = 200
        else:
            self._not_found()
            entry["status"] = 404
        entry["t_end"] = time.monotonic()
        self.server.log.done(entry)

    def do_DELETE(self):
        if self._control() and self.path == "/_fake/requests":
            self.server.log.clear()
            return self._send_json(200, {"ok": True})
        self._body()
        self._not_found()

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        body = self._body()
        entry = self.server.log.add({"time": time.monotonic(),
                                     "method": "POST", "path": path,
                                     "body": body})
        try:
            if path in ("/v1/chat/completions", "/chat/completions"):
                self._chat(body, entry)
            else:
                self._not_found()
                entry["status"] = 404
        finally:
            entry["t_end"] = time.monotonic()
            self.server.log.done(entry)

    def _chat(self, body, entry):
        if not isinstance(body, dict) or not isinstance(
                body.get("messages"), list):
            entry["status"] = 400
            return self._send_json(400, {"error": {
                "message": "'messages' is required",
                "type": "invalid_request_error", "code": None}})
        tool_names = [(t.get("function") or {}).get("name")
                      for t in body.get("tools") or []
                      if isinstance(t, dict)]
        users, tools, _ = trailing(body["messages"])
        script, reply = plan(body["messages"], tool_names)
        entry.update({"user_text": "\n".join(u for u in users if u),
                      "tool_results": tools, "script": script,
                      "stream": bool(body.get("stream")),
                      "tools": tool_names, "finished": False,
                      "client_gone": False})
        model = body.get("model") or self.server.models[0]
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        prompt_tokens = sum(len(content_text(m.get("content")).split())
                            for m in body["messages"])
        if reply[0] == "tool":
            call = {"id": "call_" + uuid.uuid4().hex[:12],
                    "type": "function",
                    "function": {"name": reply[1],
                                 "arguments": json.dumps(reply[2])}}
            entry["reply"] = {"tool_call": call}
            text, secs, finish = None, 0, "tool_calls"
        else:
            call, text, secs, finish = None, reply[1], reply[2], "stop"
            entry["reply"] = {"text": text}
        completion_tokens = len((text or "").split()) + (5 if call else 0)
        usage = {"prompt_tokens": prompt_tokens,
                 "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        entry["status"] = 200
        if not body.get("stream"):
            if secs:
                time.sleep(secs)
            msg = {"role": "assistant", "content": text}
            if call:
                msg["tool_calls"] = [call]
            try:
                self._send_json(200, {
                    "id": cid, "object": "chat.completion",
                    "created": created, "model": model,
                    "choices": [{"index": 0, "message": msg,
                                 "finish_reason": finish}],
                    "usage": usage})
                entry["finished"] = True
            except OSError:
                entry["client_gone"] = True
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(delta, finish_reason=None, with_usage=False):
            obj = {"id": cid, "object": "chat.completion.chunk",
                   "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta,
                                "finish_reason": finish_reason}]}
            if with_usage:
                obj["choices"] = []
                obj["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(obj).encode()
                             + b"\n\n")
            self.wfile.flush()

        try:
            event({"role": "assistant", "content": ""})
            if call:
                event({"tool_calls": [{"index": 0, "id": call["id"],
                                       "type": "function",
                                       "function": {"name": reply[1],
                                                    "arguments": ""}}]})
                event({"tool_calls": [{"index": 0, "function": {
                    "arguments": call["function"]["arguments"]}}]})
            else:
                n = max(2, int(secs * 2)) if secs else 3
                pieces = chunks_of(text, n)
                gap = secs / len(pieces) if secs else 0
                for piece in pieces:
                    if gap:
                        time.sleep(gap)
                    event({"content": piece})
            event({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                event({}, None, with_usage=True)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            entry["finished"] = True
        except OSError:
            entry["client_gone"] = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--model-id", action="append", default=[],
                        help="model id(s) to list (default fake-model)")
    parser.add_argument("--control-token")
    parser.add_argument("--log", help="append each request as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    server = Server(("127.0.0.1", args.port), Handler)
    server.verbose = args.verbose
    server.models = args.model_id or ["fake-model"]
    server.token = args.control_token or secrets.token_hex(16)
    server.log = Log(args.log)
    web.run_server(server, "fake_model", "http", args, server.token)

if __name__ == "__main__":
    main()
