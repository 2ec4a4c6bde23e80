"""What the fake App Server does with the frames about one conversation:
`input` (create_message, approval_response), `abort_message`, `sync`,
`resume_queue`, and a connection's end (letta.js 0.32.18,
message-router.ts, inbound-dispatch.ts, queue.ts, approval.ts).

- An input whose conversation is idle starts a turn ("started"); while a
  turn runs, waits for approval, inputs wait or an interruption is still
  to be told, it is queued ("queued") and the queued inputs of one
  connection run as one turn when the conversation is free (or join the
  run after a pending approval). The acknowledgement (`input_accepted`) comes only
  for an input with a request_id.
- A client_message_id the live runtime remembers is only acknowledged
  again, with the disposition it had.
- An approval is answered by a connection it was sent to.
- abort_message cancels the turn or the pending approval and parks the
  queue (a new input or resume_queue releases it).
All functions are called with the hub's lock held, or take it.
"""

import threading
import uuid

from . import app_images
from . import app_status
from .app_runtime import Turn
from .app_store import now_iso
from .app_turn import TurnRunner, dequeued_messages


def ack(conn, cmd, accepted, error=None, disposition=None):
    if cmd.get("request_id") is None:
        return
    frame = {"type": "input_accepted", "request_id": cmd["request_id"],
             "runtime": cmd["runtime"], "accepted": accepted}
    if disposition:
        frame["disposition"] = disposition
    if error:
        frame["error"] = error
    conn.send(frame)


def loop_error(hub, rt, message):
    hub.emit(rt, {"type": "stream_delta", "delta": {
        "id": "lifecycle-%s" % uuid.uuid4(), "date": now_iso(),
        "message_type": "loop_error", "message": message,
        "stop_reason": "error", "is_terminal": False}})


def invalid_input(hub, key, reason):
    """An input the real server calls a protocol violation."""
    with hub.lock:
        rt = hub.runtime(key)
        loop_error(hub, rt, reason)
        hub.evict_if_idle(rt)


def content_error(messages):
    """How the real turn fails on a message content it cannot read (a
    JavaScript TypeError), None when every content is a string or a list
    of parts, "unsupported" for what the fake cannot tell."""
    for m in messages:
        if "content" not in m:
            return "Cannot read properties of undefined (reading 'flatMap')"
        content = m["content"]
        if isinstance(content, str):
            continue
        if isinstance(content, (int, float, bool, dict)):
            return "content.flatMap is not a function"
        if not isinstance(content, list) or not all(
                isinstance(p, dict) and (
                    (p.get("type") == "text" and isinstance(p.get("text"),
                                                            str)) or
                    (p.get("type") == "image" and
                     isinstance(p.get("source"), dict)))
                for p in content):
            return "unsupported"
    return None


def on_input(hub, conn, cmd, key):
    """Returns an error for the record when the fake cannot model it."""
    payload = cmd["payload"]
    with hub.lock:
        rt = hub.runtime(key)
        try:
            if payload["kind"] == "approval_response":
                done = answer_approval(hub, rt, conn, payload)
                ack(conn, cmd, done, None if done else
                    "Approval request is no longer pending")
                return None
            return create_message(hub, rt, conn, cmd)
        finally:
            hub.evict_if_idle(rt)


def create_message(hub, rt, conn, cmd):
    messages = cmd["payload"]["messages"]
    if not all(isinstance(m, dict) for m in messages):
        return "unsupported by the fake: a message that is not an object"
    if any(m.get("type") == "approval" for m in messages):
        loop_error(hub, rt, "Protocol violation: approval payloads are not "
                   "allowed in input.kind=create_message. Use "
                   "input.kind=approval_response.")
        ack(conn, cmd, False, "Approval payloads require approval_response")
        return None
    with_content = [m for m in messages if "content" in m]
    broken = content_error(messages)
    if broken == "unsupported":
        return "unsupported by the fake: a message content that is not " \
            "a string or a list of text and image parts"
    odd = app_images.unsupported(messages)
    if odd:
        return "unsupported by the fake: %s" % odd
    if (broken or not with_content) and not rt.idle():
        return "unsupported by the fake: an input without user content " \
            "while the conversation is busy"
    stamped = [dict(m, otid=m.get("client_message_id") or str(uuid.uuid4()))
               if "content" in m and not m.get("otid") else m
               for m in messages]
    cmid = with_content[0].get("client_message_id") if with_content \
        else None
    known = rt.disposition(cmid)
    if known:
        ack(conn, cmd, True, disposition=known)
    elif rt.idle():
        rt.remember(cmid, "started")
        ack(conn, cmd, True, disposition="started")
        start_turn(hub, rt, conn.id, stamped,
                   "batch-direct-%s" % uuid.uuid4(), fail=broken,
                   image_mode=cmd["payload"].get("image_failure_mode",
                                                 "strict"))
    else:
        item, dropped = rt.enqueue(conn.id, stamped)
        rt.remember(cmid, "queued")
        ack(conn, cmd, True, disposition="queued")
        hub.queue_update(rt, [(dropped, "cancelled")] if dropped else [])
        pump(hub, rt)
    return None


# -- turns ------------------------------------------------------------------
def start_turn(hub, rt, conn_id, messages, turn_id, dequeued=(),
               fail=None, image_mode="strict"):
    turn = Turn(turn_id, conn_id, messages, dequeued, fail, image_mode)
    rt.turn = turn
    rt.active_conn = conn_id
    runner = TurnRunner(hub, rt, turn, turn_over)
    threading.Thread(target=runner.run, daemon=True).start()


def turn_over(hub, rt, turn):
    """The turn's thread ends (it cleared rt.turn when it finished): the
    queue's state after a batch or an abort, then the next batch."""
    if rt.turn is turn:
        rt.turn = None
        rt.active_conn = None
    if not hub.live(rt):
        return
    if turn.dequeued or (rt.queue_paused and rt.queue):
        hub.queue_update(rt)
    if turn.dequeued:
        hub.loop_status(rt)
    pump(hub, rt)
    hub.evict_if_idle(rt)


def pump(hub, rt):
    """drainQueuedMessages: the next batch of queued inputs becomes a
    turn when the conversation is free."""
    if rt.turn is not None or rt.approval is not None:
        return
    batch_id, items = rt.take_batch()
    if not items:
        return
    messages = dequeued_messages(hub, rt, items)
    hub.queue_update(rt)
    hub.loop_status(rt)
    start_turn(hub, rt, items[0].conn_id, messages, batch_id, items)


# -- approvals --------------------------------------------------------------
def answer_approval(hub, rt, conn, payload):
    """resolvePendingApprovalResolver: True when it answered one."""
    for cand in [rt] + [r for r in hub.runtimes.values() if r is not rt]:
        ap = cand.approval
        if ap is not None and ap.request_id == payload["request_id"] and \
                conn.id in ap.conn_ids and \
                not (cand.turn and cand.turn.cancelled.is_set()):
            ap.answer = payload
            cand.approval = None
            ap.done.set()
            hub.loop_status(cand)
            hub.device_status(cand)
            return True
    return False


# -- abort, sync, resume ------------------------------------------------------
def abort(hub, conn, cmd, key):
    with hub.lock:
        rt = hub.runtime(key)
        turn = rt.turn
        if cmd.get("run_id") and cmd["run_id"] != rt.run_id:
            aborted = False
        elif turn is None and rt.approval is None:
            aborted = False
        else:
            aborted = True
            rt.queue_paused = True
            rt.interrupted = []
            run_id = rt.run_id
            if turn is not None:
                turn.cancel()
            hub.loop_status(rt, "WAITING_ON_INPUT")
            hub.device_status(rt)
            if rt.approval is not None:
                deny_now(hub, rt, "Interrupted by user")
                hub.loop_status(rt)
                hub.device_status(rt)
            delta = {"id": "lifecycle-%s" % uuid.uuid4(), "date": now_iso(),
                     "message_type": "status"}
            if run_id:
                delta["run_id"] = run_id
            delta.update(message="Interrupted", level="warning")
            hub.emit(rt, {"type": "stream_delta", "delta": delta})
        if cmd.get("request_id") is not None:
            conn.send({"type": "abort_message_response",
                       "request_id": cmd["request_id"],
                       "runtime": cmd["runtime"], "aborted": aborted,
                       "success": True})
        hub.evict_if_idle(rt)


def deny_now(hub, rt, text):
    """The pending approval is gone: its tool call is answered with an
    error in the history at once."""
    call_id = rt.approval.frame["request"]["tool_call_id"]
    rt.approval.done.set()
    rt.approval = None
    hub.store.add_tool_result(hub.store.conv_key(rt.conv_id, rt.agent_id),
                              call_id, True, text)


def replay(hub, conn, rt, force):
    """replaySubscribedConnectionState: the pending approval and the
    conversation's state frames, to this connection only."""
    ap = rt.approval
    if ap is not None:
        ap.conn_ids.add(conn.id)
        hub.emit_to([conn], rt.key, ap.frame)
    hub.device_status(rt, [conn], force=force)
    for message in (
            {"type": "update_loop_status",
             "loop_status": hub.loop_snapshot(rt)},
            {"type": "update_queue",
             "queue": app_status.queue_snapshot(rt), "removed": []},
            {"type": "update_subagent_state", "subagents": []}):
        hub.emit_to([conn], rt.key, message)


def after_replay(hub, conn, rt):
    """The device status the real server sends again once its warm-up
    after a replay is done."""
    hub.device_status(rt, [conn])


def sync(hub, conn, cmd, key):
    with hub.lock:
        rt = hub.runtime(key)
        replay(hub, conn, rt, cmd.get("force_device_status") is True)
        if cmd.get("request_id") is not None:
            conn.send({"type": "sync_response",
                       "request_id": cmd["request_id"],
                       "runtime": cmd["runtime"], "success": True})
        after_replay(hub, conn, rt)
        hub.evict_if_idle(rt)


def resume_queue(hub, conn, cmd, key):
    with hub.lock:
        rt = hub.runtime(key)
        resumed = len(rt.queue) if rt.queue_paused else 0
        if resumed:
            rt.queue_paused = False
            hub.queue_update(rt)
            pump(hub, rt)
        if cmd.get("request_id") is not None:
            conn.send({"type": "resume_queue_response",
                       "request_id": cmd["request_id"],
                       "runtime": cmd["runtime"], "resumed": resumed,
                       "success": True})
        hub.evict_if_idle(rt)


def connection_gone(hub, rt, conn_id):
    """cleanupListenerConnection for one conversation runtime. A turn
    cancelled while it waited for an approval leaves its tool call to be
    denied with the next input."""
    if rt.turn is not None and rt.active_conn == conn_id:
        if hub.subscribers(rt.key):
            rt.active_conn = None
        else:
            rt.turn.cancel()
            if rt.approval is not None:
                rt.interrupted = [rt.approval.frame["request"]
                                  ["tool_call_id"]]
                rt.approval.done.set()
                rt.approval = None
    gone = rt.drop_items_of(conn_id)
    if gone:
        hub.queue_update(rt, [(item, "cancelled") for item in gone])
    if rt.approval is not None:
        rt.approval.conn_ids.discard(conn_id)
    hub.evict_if_idle(rt)
