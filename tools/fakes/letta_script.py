"""What a fake Letta agent answers: a per-agent script turned into
LettaMessage objects, as /messages returns them and /messages/stream
streams them.

A script is a JSON object; "mode" picks the shape of the answer:
  echo      one assistant message repeating the user's text
            ("prefix" is put in front; default "")
  text      one assistant message with "text"
  messages  "messages": a list of {"type": "assistant"|"reasoning"|
            "hidden_reasoning"|"tool_call"|"tool_return", ...} in order
            (assistant: "text"; reasoning: "text"; tool_call: "name",
            "arguments"; tool_return: "text", "status")
  markdown  one assistant message of Markdown (lists, code, a table, links)
  long      one assistant message of "length" characters (default 20000)
  none      no assistant message: a reasoning message and the given
            "stop_reason" (default "max_steps")
  error     the send fails with "status" and "body" (default 500 and
            {"detail": "An unknown error occurred"})
  approval  the agent pauses for approval of "tool_name" (default
            delete_everything) with "tool_args" (a JSON string, default
            "{}"): later sends get 409 until an approval item answers it;
            the answer runs (or not) the tool: "tool_result",
            "after_approve", "after_deny" (see letta_runs.py)
Common keys: "stop_reason" (default "end_turn"), "delay_ms" (time before
the first message, cancellable), "stream_delay_ms" (gap before each
message), "ping_interval_ms" (keep-alive pings while quiet, default 20000),
"stream_error" (streams end with an error event, no [DONE]),
"stream_cut_after" (int N >= 0: a streamed body breaks right after its
N-th message event, pings not counted, each stream_tokens delta counted:
the connection closes mid-body with no stop_reason and no [DONE], while
the run goes on into the history and GET /v1/runs/{id}; see
letta_runs.py), "stream_garbage_after" (int N: an event that is not JSON right after
the N-th message event), "input_after_ms" (the user's message enters the history
this long after the send, not at once: a run in flight whose input the
history does not show yet; GET /v1/runs/?active=true lists it).
"turns": [script, ...] uses one script per send, the last one repeating.
"""

import datetime
import json
import uuid

from . import letta_images

MARKDOWN = (
    "# Result\n\nHere is **what I did**:\n\n1. Checked the *VPN* logs\n"
    "2. Reset the token\n\n- item with `code`\n- [a link](https://example."
    "org/x?a=1&b=2)\n\n```python\nprint(\"<hello>\")\n```\n\n"
    "| col | val |\n|-----|-----|\n| a | 1 |\n\n> quoted & <escaped>\n")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0).isoformat()


def new_id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4())


def pick_turn(script, turn_index):
    turns = script.get("turns")
    if not turns:
        return script
    merged = dict(script)
    merged.pop("turns")
    merged.update(turns[min(turn_index, len(turns) - 1)])
    return merged


def user_text(messages):
    """The text of the user messages of a request, joined by newlines."""
    parts = []
    for msg in messages:
        content = msg.get("content", msg.get("text"))
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            # a picture as letta_images.mention says it, on its own line
            parts.extend(p.get("text", "") if p.get("type") == "text" else
                         letta_images.mention(p) for p in content
                         if isinstance(p, dict) and
                         p.get("type") in ("text", "image"))
    return "\n".join(parts)


def long_text(length):
    para = ("This is a long answer from a fake agent, written to check "
            "that big replies survive the whole path intact. ")
    out, n = [], 0
    while n < length:
        chunk = "Paragraph %d. %s\n\n" % (len(out) + 1, para * 3)
        out.append(chunk)
        n += len(chunk)
    return "".join(out)[:length]


def _steps(script, text_in):
    """The (kind, fields) list a script turns into."""
    mode = script.get("mode", "echo")
    if mode == "echo":
        return [("assistant", {"text": script.get("prefix", "") + text_in})]
    if mode == "text":
        return [("assistant", {"text": script["text"]})]
    if mode == "markdown":
        return [("assistant", {"text": MARKDOWN})]
    if mode == "long":
        return [("assistant", {"text": long_text(script.get("length",
                                                              20000))})]
    if mode == "none":
        return [("reasoning", {"text": "I ran out of steps."})]
    if mode == "approval":
        return [("approval", {"name": script.get("tool_name",
                                                 "delete_everything"),
                              "arguments": script.get("tool_args", "{}")})]
    if mode == "messages":
        return [(m["type"], m) for m in script["messages"]]
    raise ValueError("unknown script mode %r" % mode)


def _base(msg_type, step_id, run_id, agent_msg_id):
    return {"id": agent_msg_id, "date": now_iso(), "name": None,
            "message_type": msg_type, "otid": str(uuid.uuid4()),
            "sender_id": None, "step_id": step_id, "is_err": None,
            "seq_id": None, "run_id": run_id}


def _message(kind, fields, step_id, run_id, msg_id):
    if kind == "assistant":
        m = _base("assistant_message", step_id, run_id, msg_id)
        m["content"] = fields.get("text", "")
    elif kind == "reasoning":
        m = _base("reasoning_message", step_id, run_id, msg_id)
        m.update(source="reasoner_model", reasoning=fields.get("text", ""),
                 signature=None)
    elif kind == "hidden_reasoning":
        m = _base("hidden_reasoning_message", step_id, run_id, msg_id)
        m.update(state="redacted", hidden_reasoning=None)
    elif kind in ("tool_call", "approval"):
        call = {"name": fields.get("name", "web_search"),
                "arguments": fields.get("arguments", "{\"q\": \"x\"}"),
                "tool_call_id": "call_" + uuid.uuid4().hex[:12]}
        mtype = "tool_call_message" if kind == "tool_call" \
            else "approval_request_message"
        m = _base(mtype, step_id, run_id, msg_id)
        m.update(tool_call=call, tool_calls=[call])
    elif kind == "tool_return":
        m = _base("tool_return_message", step_id, run_id, msg_id)
        m.update(tool_return=fields.get("text", "ok"),
                 status=fields.get("status", "success"),
                 tool_call_id=fields.get("tool_call_id", "call_x"),
                 stdout=None, stderr=None,
                 tool_returns=None)
    else:
        raise ValueError("unknown message type %r" % kind)
    return m


def build_reply(script, text_in):
    """(messages, stop_reason) for one send."""
    run_id = new_id("run")
    cut = script.get("stream_cut_after")
    if cut is not None and (type(cut) is not int or cut < 0):
        raise ValueError("stream_cut_after must be an int >= 0, not %r"
                         % (cut,))
    steps = _steps(script, text_in)
    out, step_id, msg_id = [], new_id("step"), new_id("message")
    for kind, fields in steps:
        if kind in ("tool_return",):
            # A tool result starts a new LLM step: new step and message id.
            step_id, msg_id = new_id("step"), new_id("message")
        out.append(_message(kind, fields, step_id, run_id, msg_id))
    stop = script.get("stop_reason")
    if stop is None:
        stop = {"none": "max_steps", "approval": "requires_approval"}.get(
            script.get("mode"), "end_turn")
    return out, stop, run_id


def usage(step_count=1):
    return {"message_type": "usage_statistics", "completion_tokens": 42,
            "prompt_tokens": 1234, "total_tokens": 1276,
            "step_count": step_count, "run_ids": None,
            "cached_input_tokens": None, "cache_write_tokens": None,
            "reasoning_tokens": None, "context_tokens": 1276}


def sse(obj, event=None):
    data = obj if isinstance(obj, str) else json.dumps(
        obj, separators=(",", ":"))
    head = ("event: %s\n" % event) if event else ""
    return ("%sdata: %s\n\n" % (head, data)).encode()


def stream_pieces(messages, stop, run_id, script, req_body):
    """The SSE body as (delay_seconds, bytes) pieces."""
    gap = script.get("stream_delay_ms", 0) / 1000.0
    pieces = []
    if req_body.get("include_pings", True):
        pieces.append((0, sse({"id": new_id("ping"), "date": now_iso(),
                               "message_type": "ping", "run_id": run_id,
                               "seq_id": None})))
    chunk = int(script.get("token_chunk", 8))
    for msg in messages:
        if req_body.get("stream_tokens") and \
                msg["message_type"] == "assistant_message":
            text = msg["content"]
            for i in range(0, max(len(text), 1), chunk):
                pieces.append((gap, sse(dict(msg, content=text[i:i + chunk]))))
        else:
            pieces.append((gap, sse(msg)))
    if script.get("stream_error"):
        pieces.append((gap, sse({"message_type": "stop_reason",
                                 "stop_reason": "llm_api_error"})))
        pieces.append((0, sse({"message_type": "error_message",
                               "run_id": run_id, "error_type": "llm_error",
                               "message": "An error occurred with the LLM "
                               "request.", "detail": "fake"}, "error")))
        return pieces
    pieces.append((gap, sse({"message_type": "stop_reason",
                             "stop_reason": stop})))
    pieces.append((0, sse(usage())))
    pieces.append((0, sse("[DONE]")))
    return pieces
