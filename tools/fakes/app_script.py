"""What a fake App Server agent answers: a per-agent script (JSON).

  mode          "echo" (default): "You said: <the user's text>" ("prefix"
                replaces "You said: "; the texts of inputs merged into one
                turn are joined by newlines); "text": "text"; "long":
                "length" characters (digits 0-9 repeated); "tool": a tool
                call (see below); "error": the model fails ("error": the
                message, default "The model provider returned an error")
  chunks        the answer's stream chunks, as a list of strings (default:
                the text cut in "chunk_count" pieces at spaces, 3)
  reasoning     a reasoning message before the answer
  delay_ms      time before the model answers (after the turn started)
  chunk_delay_ms  time between two chunks
  stop_reason   the run's stop reason (default "end_turn"; "error" mode:
                "llm_api_error"); any other than end_turn ends the turn
                with an error and a loop_error, as the real loop does
  tool          {"name" (default "Bash"), "args" (object, default
                {"command": "echo fake"}), "destructive" (asks for
                approval in standard mode too; default false), "result"
                (what the tool returns, default "ok"), "id"}: in strict
                mode every call waits for a can_use_tool approval, in
                standard and acceptEdits mode a destructive one does, in
                unrestricted mode none; "text" is said before the call
  after_allow   the answer after the tool ran (default "Tool result:
                <result>")
  after_deny    the answer after a denial (default "Denied: <message>")
  turns         a list of scripts, one per turn, the last repeating
"""

import uuid

from . import app_images

KEYS = {"mode", "prefix", "text", "length", "chunks", "chunk_count",
        "reasoning", "delay_ms", "chunk_delay_ms", "stop_reason", "tool",
        "after_allow", "after_deny", "error", "turns"}
MODES = ("echo", "text", "long", "tool", "error")
TOOL_KEYS = {"name", "args", "destructive", "result", "id"}


def validate(script):
    """The script, checked (ValueError with the reason)."""
    if not isinstance(script, dict):
        raise ValueError("a script is an object")
    unknown = set(script) - KEYS
    if unknown:
        raise ValueError("unknown script keys %s" % sorted(unknown))
    if script.get("mode", "echo") not in MODES:
        raise ValueError("mode must be one of %s" % (MODES,))
    for key in ("delay_ms", "chunk_delay_ms", "length", "chunk_count"):
        value = script.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or \
                value < 0:
            raise ValueError("%s must be an integer >= 0" % key)
    chunks = script.get("chunks")
    if chunks is not None and (not isinstance(chunks, list) or not all(
            isinstance(c, str) for c in chunks)):
        raise ValueError("chunks must be a list of strings")
    tool = script.get("tool", {})
    if not isinstance(tool, dict) or set(tool) - TOOL_KEYS or \
            not isinstance(tool.get("args", {}), dict):
        raise ValueError("tool: an object with %s, args an object"
                         % sorted(TOOL_KEYS))
    turns = script.get("turns")
    if turns is not None:
        if not isinstance(turns, list) or not turns:
            raise ValueError("turns must be a non-empty list")
        for turn in turns:
            validate(turn)
    return script


def for_turn(script, index):
    """The script of the agent's index-th turn (0-based)."""
    turns = script.get("turns")
    if not turns:
        return script
    merged = {k: v for k, v in script.items() if k != "turns"}
    merged.update(turns[min(index, len(turns) - 1)])
    return merged


def user_text(messages):
    """The text parts of the user messages of a turn, one per line (a
    picture as app_images.mention says it)."""
    lines = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            lines.append(content)
        elif isinstance(content, list):
            for p in content:
                if isinstance(p, dict) and p.get("type") == "text" and \
                        isinstance(p.get("text"), str):
                    lines.append(p["text"])
                elif app_images.mention(p):
                    lines.append(app_images.mention(p))
    return "\n".join(lines)


def answer(script, text):
    """The assistant text of a turn (before any tool call)."""
    mode = script.get("mode", "echo")
    if mode == "echo":
        return script.get("prefix", "You said: ") + text
    if mode == "long":
        digits = "0123456789" * (script.get("length", 0) // 10 + 1)
        return digits[:script.get("length", 0)]
    return script.get("text", "")


def chunks(script, text):
    """The stream chunks of an answer: given, or cut at spaces."""
    if script.get("chunks") is not None:
        return list(script["chunks"])
    if not text:
        return []
    count = max(1, script.get("chunk_count", 3))
    words = text.split(" ")
    per = -(-len(words) // count)
    out = []
    for i in range(0, len(words), per):
        piece = " ".join(words[i:i + per])
        out.append(piece + (" " if i + per < len(words) else ""))
    return out


def tool_call(script):
    tool = script.get("tool", {})
    return {"id": tool.get("id") or "call_%s" % uuid.uuid4().hex[:24],
            "name": tool.get("name", "Bash"),
            "args": tool.get("args", {"command": "echo fake"}),
            "destructive": bool(tool.get("destructive")),
            "result": str(tool.get("result", "ok"))}


def needs_approval(mode, call):
    """Which permission modes ask before a tool runs (the real server
    asks for every tool in strict mode and for a destructive shell
    command in standard mode; in unrestricted mode it never asks)."""
    if mode == "strict":
        return True
    if mode in ("standard", "acceptEdits"):
        return call["destructive"]
    return False


def after_tool(script, allowed, result_or_message):
    if allowed:
        return script.get("after_allow", "Tool result: %s"
                          % result_or_message)
    return script.get("after_deny", "Denied: %s" % result_or_message)
