"""A tool call in a fake App Server turn (letta.js 0.32.18,
approval-stop handling; frames as recorded from the real server):

    stream_delta approval_request_message, usage_statistics, stop_reason
    requires_approval, approval_classification_end; in a permission mode
    that asks (app_script.needs_approval): update_loop_status
    WAITING_ON_APPROVAL, control_request (can_use_tool, request_id
    "perm-<tool_call_id>") to every subscriber, update_loop_status,
    update_device_status with the pending request, and the wait for an
    approval_response; then update_loop_status EXECUTING_CLIENT_SIDE_TOOL
    and, allowed: client_tool_start, tool_return_message (streamed),
    client_tool_end success, tool_return_message; denied: client_tool_end
    error and a tool_return_message with the denial; then a second run
    with the answer after the tool.

Inputs queued while the approval was pending join that second run: they
are dequeued (echoed as user_message deltas), the turn takes the batch's
id, and the answer is the one the script gives to them.
"""

import json
import uuid

from . import app_script
from .app_runtime import Approval
from .app_store import now_iso

STALE_DENIAL = (
    "The agent harness automatically closed this stale pending tool call "
    "to recover from a client/server state desync: the server was still "
    "waiting on a result for it, but the harness had no matching tool "
    "execution in flight and no result was ever recorded. It was not "
    "denied by the user or a permissions policy. Re-issue the tool call "
    "if you still need it.")


def js_json(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def step(runner):
    """The tool call of runner's turn, up to the answer after it."""
    hub, rt = runner.hub, runner.rt
    call = app_script.tool_call(runner.script)
    arguments = js_json(call["args"])
    with hub.lock:
        msg = runner.assistant()
        msg["parts"].append({"kind": "tool", "id": call["id"],
                             "name": call["name"], "arguments": arguments})
        delta_id = hub.store.next_id("letta")
        runner.message_delta(dict(
            runner.base(delta_id), message_type="approval_request_message",
            tool_call={"tool_call_id": call["id"], "name": call["name"],
                       "arguments": arguments}))
        runner.usage()
        runner.stop_reason("requires_approval")
        asks = app_script.needs_approval(hub.mode(rt.key), call)
        runner.lifecycle_delta(
            "approval_classification_end",
            auto_allowed_tool_call_ids=[] if asks else [call["id"]],
            auto_denied_tool_call_ids=[],
            user_input_tool_call_ids=[call["id"]] if asks else [])
        approval = ask(runner, call) if asks else None
    allowed, said = True, call["result"]
    if approval is not None:
        while not approval.done.wait(0.05):
            runner.check()
        runner.check()
        allowed, said = decision(approval.answer)
        if allowed:
            said = call["result"]
    with hub.lock:
        run_tool(runner, call, delta_id, allowed, said)
        merged, items = runner.take_queued()
        runner.loop("SENDING_API_REQUEST")
        runner.loop("WAITING_FOR_API_RESPONSE")
        if merged:
            hub.queue_update(rt, [(i, "dequeued") for i in items])
            runner.store_inputs(hub.store.agent(rt.agent_id), merged)
    runner.wait(runner.script.get("delay_ms", 0))
    runner.start_run()
    if merged:
        text = app_script.answer(dict(runner.script, mode="echo"),
                                 app_script.user_text(merged))
    else:
        text = app_script.after_tool(runner.script, allowed, said)
    runner.stream_text(text)


def ask(runner, call):
    """A can_use_tool control_request to the subscribers."""
    hub, rt = runner.hub, runner.rt
    runner.loop("WAITING_ON_APPROVAL")
    request_id = "perm-%s" % call["id"]
    frame = {"type": "control_request", "request_id": request_id,
             "request": {"subtype": "can_use_tool",
                         "tool_name": call["name"], "input": call["args"],
                         "tool_call_id": call["id"],
                         "permission_suggestions": suggestions(call),
                         "blocked_path": None},
             "agent_id": rt.agent_id, "conversation_id": rt.conv_id}
    conns = hub.subscribers(rt.key)
    rt.approval = Approval(request_id, frame, [c.id for c in conns])
    hub.emit_to(conns, rt.key, frame)
    runner.loop("WAITING_ON_APPROVAL")
    hub.device_status(rt)
    return rt.approval


def run_tool(runner, call, delta_id, allowed, said):
    rt = runner.rt
    rt.executing = [call["id"]] if allowed else []
    runner.loop("EXECUTING_CLIENT_SIDE_TOOL")
    status = "success" if allowed else "error"
    if allowed:
        runner.lifecycle_delta("client_tool_start", id=delta_id,
                               tool_call_id=call["id"],
                               tool_name=call["name"],
                               tool_args=js_json(call["args"]))
        tool_return(runner, "synthetic-tool-return-stream-%s" % call["id"],
                    call, status, said, stdout=True)
    runner.lifecycle_delta("client_tool_end", id=delta_id,
                           tool_call_id=call["id"], status=status)
    tool_return(runner, "synthetic-tool-return-%s" % uuid.uuid4(), call,
                status, said)
    rt.executing = []
    runner.store_tool_result(call["id"], not allowed, said)


def tool_return(runner, ident, call, status, text, stdout=False):
    entry = {"tool_call_id": call["id"], "status": status,
             "tool_return": text}
    if stdout:
        entry["stdout"] = [text]
    runner.emit({"type": "stream_delta", "delta": {
        "type": "message", "message_type": "tool_return_message",
        "id": ident, "date": now_iso(), "run_id": runner.run_id,
        "status": status, "tool_call_id": call["id"], "tool_return": text,
        "tool_returns": [entry]}})


def decision(answer):
    """(allowed, the denial) of an approval_response payload."""
    if "error" in answer:
        return False, answer["error"]
    d = answer["decision"]
    if d["behavior"] == "allow":
        return True, None
    return False, d["message"]


def suggestions(call):
    command = call["args"].get("command")
    if call["name"] != "Bash" or not isinstance(command, str) or \
            not command.split():
        return []
    return [{"id": "save-default", "text": "Yes, and don't ask again for "
             "'%s' commands in this project" % command.split()[0]}]


def forget_approval(runner):
    """A restart killed the turn while its approval was pending: the
    server's stale-approval recovery closes the tool call."""
    rt = runner.rt
    call_id = rt.approval.frame["request"]["tool_call_id"]
    rt.approval.done.set()
    rt.approval = None
    runner.store_tool_result(call_id, True, STALE_DENIAL)
