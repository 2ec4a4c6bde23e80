"""Runs of the fake Letta: a turn in flight, on a schedule, cancellable.

A send starts a Run. Its messages are emitted on a timeline fixed at the
start (script keys `delay_ms`: before the first message, `stream_delay_ms`:
before each message; `ping_interval_ms`: keep-alive pings while nothing
else goes out, 20 s as on the real server). A message becomes visible in
the agent's history at its time whether or not a client still reads the
stream: a real run goes on when the client disconnects (letta-api.md
section 11), so a bridge whose stream broke finds the whole answer in
history once the run is over. The run is in flight (counted in
`in_flight`, cancellable) until its last message.

`POST /v1/agents/{id}/messages/cancel` (body optional: {"run_ids": [..] |
null}) cancels the agent's active runs: 200 {run_id: "cancelled"}, or 409
{"detail": "CONFLICT: No active runs to cancel for agent <id>"} when there
is none (NoActiveRunsToCancelError). A cancelled run emits no more
messages; its stream ends with stop_reason `cancelled` and [DONE]; a
non-streamed send returns what was emitted with stop_reason `cancelled`.

`GET /v1/runs/{run_id}` answers the Run (letta-api.md section 7): id,
status (`running` while in flight, then `completed`, `failed` or
`cancelled`), agent_id, stop_reason (null while running), created_at,
completed_at, background, metadata {"run_type": "send_message" |
"send_message_streaming"}, request_config and the other schema fields.
Finished runs keep their final state (the last RUNS_KEPT of them); an
unknown id is 404 {"detail": "Run <id> not found"}.

Script key `stream_garbage_after` (int N >= 0): right after the N-th
message event comes one event whose data is not JSON (a message cut
short); the stream then goes on as planned.

Script key `stream_cut_after` (int N >= 0): a streamed body ends right
after its N-th message event (pings not counted; with stream_tokens each
delta is one event): the connection is closed mid-body (no terminating
chunk), with no stop_reason and no [DONE]. The run itself goes on and
fills the history on its own timeline, as a real run does when its
client goes away. N at or above the number of message events cuts the
body after its last message, before the stop_reason. Plain (JSON) sends
ignore it.

A run belongs to the agent's default history or to one of its
conversations (`Run.conv`, letta_conv.py): it fills that history, and
every message also goes to the agent's timeline (all its histories in
order). The agent's `in_flight` counts the runs of all its histories.

`PATCH /v1/agents/{id}/reset-messages` (body required:
{"add_default_initial_messages": bool}) empties the history (and a
pending approval) and answers the AgentState.

Approvals (letta-api.md section 5): an `approval` script pauses the agent
on an approval_request_message; a later send must be exactly one
{"type": "approval", "approvals": [{"type": "approval", "tool_call_id",
"approve", "reason"?}]} item naming the pending call (else 400 "Invalid
tool call IDs ..."); an approval with nothing pending is 400 "Cannot
process approval response: No tool call is currently awaiting approval".
The answer is a tool_return_message (success, or error "request to call
tool denied") and an assistant message (script keys `after_approve`,
`after_deny`; the reason is quoted).
"""

import collections
import datetime
import json
import threading
import time
import uuid

from . import letta_script as script_mod

PING_INTERVAL_MS = 20000
RUNS_KEPT = 1000      # finished runs GET /v1/runs/{id} still knows
# stop_reason -> the final Run status (letta-api.md section 5)
COMPLETED_STOPS = ("end_turn", "max_steps", "tool_rule", "requires_approval")


class Run:
    def __init__(self, agent_id, streaming, conv=None):
        self.id = script_mod.new_id("run")
        self.agent_id = agent_id
        self.streaming = streaming
        # The conversation whose history the run fills (None: the agent's
        # default history). Like the real server, only a streamed send
        # records it on the Run: the router's non-streaming path creates
        # its Run without conversation_id (letta_conv.py).
        self.conv = conv
        self.conversation_id = conv.id if conv is not None and streaming \
            else None
        self.run_type = "send_conversation_message" if conv is not None \
            else "send_message_streaming" if streaming else "send_message"
        self.t0 = time.monotonic()
        self.cancelled = threading.Event()
        self.cancelled_at = None
        self.schedule = []        # [(monotonic time, message)]
        self.stop = None
        self.end_t = self.t0
        self.final = False        # history and counters updated
        self.wall0 = time.time()  # created_at, completed_at
        self.background = False
        self.run_stop = None      # the Run's stop_reason once it is over
        self.request = {}         # the send, for request_config

    def active(self, now=None):
        return not self.final and not self.cancelled.is_set()


def timeline(turn, messages, body):
    """[(seconds after the start, kind, payload)]: the stream's events."""
    delay = turn.get("delay_ms", 0) / 1000.0
    gap = turn.get("stream_delay_ms", 0) / 1000.0
    chunk = int(turn.get("token_chunk", 8))
    t, out = delay, []
    for msg in messages:
        if body.get("stream_tokens") and \
                msg["message_type"] == "assistant_message":
            text = msg["content"]
            for i in range(0, max(len(text), 1), chunk):
                t += gap
                out.append((t, "delta", dict(msg, content=text[i:i + chunk])))
            out[-1] = (t, "message_last", out[-1][2], msg)
        else:
            t += gap
            out.append((t, "message", msg))
    return out, t + gap


def start(app, agent, turn, messages, stop, body, streaming, inputs=(),
          conv=None):
    """Registers a run of these messages (caller holds app.lock).
    `inputs`: the user's messages when script key `input_after_ms` holds
    them back: they enter the history that long after the start (as a
    server that writes the input with the turn's first step), and
    nothing of the answer comes before them. `conv`: the conversation
    the run belongs to (None: the agent's default history)."""
    run = Run(agent.id, streaming, conv)
    for m in messages:
        m["run_id"] = run.id
    events, t_stop = timeline(turn, messages, body)
    t_in = run.t0 + turn.get("input_after_ms", 0) / 1000.0
    for m in inputs:
        run.schedule.append((t_in, m))
    floor = t_in if inputs else run.t0
    for ev in events:
        if ev[1] == "message":
            run.schedule.append((max(floor, run.t0 + ev[0]), ev[2]))
        elif ev[1] == "message_last":
            run.schedule.append((max(floor, run.t0 + ev[0]), ev[3]))
    run.stop = stop
    run.end_t = max(floor, run.t0 + t_stop)
    run.events = [(max(floor - run.t0, ev[0]),) + tuple(ev[1:])
                  for ev in events]
    run.background = bool(body.get("background")) if streaming else False
    run.request = body
    # A stream that ends with an error event is a failed run.
    run.run_stop = "llm_api_error" if streaming and \
        turn.get("stream_error") else stop
    app.runs[run.id] = run
    return run


def settle(app, agent, now=None):
    """Moves what the agent's runs emitted by now into its history and
    ends the runs that are over (caller holds app.lock)."""
    now = time.monotonic() if now is None else now
    for run in [r for r in app.runs.values() if r.agent_id == agent.id]:
        if run.final:
            continue
        limit = run.cancelled_at if run.cancelled.is_set() else now
        due = [m for t, m in run.schedule if t <= limit]
        run.schedule = [(t, m) for t, m in run.schedule if t > limit]
        record(agent, run.conv or agent, due)
        if run.cancelled.is_set() or now >= run.end_t:
            run.final = True
            run.schedule = []
            agent.in_flight -= 1
            if run.conv is not None:
                run.conv.in_flight -= 1
                run.conv.streams -= 1 if run.streaming else 0
            agent.last_stop_reason = "cancelled" if run.cancelled.is_set() \
                else run.stop
            del app.runs[run.id]      # over: nothing to settle or cancel
            _keep_finished(app, run)


def _keep_finished(app, run):
    """GET /v1/runs/{id} still answers for a run that is over."""
    app.runs_over[run.id] = run
    while len(app.runs_over) > RUNS_KEPT:
        app.runs_over.popitem(last=False)


def record(agent, lane, messages):
    """Appends messages to a history: `lane` is the agent itself (its
    default history) or one of its conversations. The agent's timeline
    keeps every message of all its histories in order, as the real
    server's unfiltered GET /v1/agents/{id}/messages lists them."""
    for m in messages:
        lane.history.append(m)
        agent.timeline.append(m)
        if m["message_type"] == "approval_request_message":
            lane.pending_approval = m["id"]
            lane.pending_call = m["tool_call"]["tool_call_id"]


def settle_all(app):
    for agent in list(app.agents.values()):
        settle(app, agent)


def _iso(wall):
    return datetime.datetime.fromtimestamp(
        wall, datetime.timezone.utc).isoformat()


def run_json(run, now):
    """The Run object (letta-openapi.json `Run`) as of `now`."""
    over = run.final or run.cancelled.is_set() or now >= run.end_t
    end = run.cancelled_at if run.cancelled.is_set() else run.end_t
    if not over:
        status, stop = "running", None
    elif run.cancelled.is_set():
        status, stop = "cancelled", "cancelled"
    else:
        stop = run.run_stop
        status = "completed" if stop in COMPLETED_STOPS else "failed"
    body = run.request
    return {
        "id": run.id, "status": status, "agent_id": run.agent_id,
        "created_at": _iso(run.wall0),
        "completed_at": _iso(run.wall0 + end - run.t0) if over else None,
        "conversation_id": run.conversation_id, "base_template_id": None,
        "background": run.background,
        "metadata": {"run_type": run.run_type},
        "request_config": {
            "use_assistant_message": body.get("use_assistant_message", True),
            "assistant_message_tool_name": body.get(
                "assistant_message_tool_name", "send_message"),
            "assistant_message_tool_kwarg": body.get(
                "assistant_message_tool_kwarg", "message"),
            "include_return_message_types": body.get(
                "include_return_message_types")},
        "stop_reason": stop, "callback_url": None, "callback_sent_at": None,
        "callback_status_code": None, "callback_error": None,
        "ttft_ns": None,
        "total_duration_ns": int((end - run.t0) * 1e9) if over else None}


def get_run(app, run_id):
    """GET /v1/runs/{run_id} -> (status, body); settles the run's agent
    first so the answer and the history agree (caller holds app.lock)."""
    run = app.runs.get(run_id)
    if run is not None and run.agent_id in app.agents:
        settle(app, app.agents[run.agent_id])
    run = app.runs.get(run_id) or app.runs_over.get(run_id)
    if run is None:
        return 404, {"detail": "Run %s not found" % run_id}
    return 200, run_json(run, time.monotonic())


def list_runs(app, agent_id, active):
    """GET /v1/runs/ -> the Runs oldest first, of one agent if given,
    only those in flight if `active` (caller holds app.lock)."""
    now = time.monotonic()
    for agent in list(app.agents.values()):
        if agent_id is None or agent.id == agent_id:
            settle(app, agent, now)
    runs = list(app.runs.values())
    if not active:
        runs = list(app.runs_over.values()) + runs
    runs = [r for r in runs if agent_id is None or r.agent_id == agent_id]
    runs.sort(key=lambda r: r.t0)
    return [run_json(r, now) for r in runs]


def wait_run(app, run):
    """A non-streamed send: waits for the run's end or its cancellation,
    then returns (messages emitted, stop_reason)."""
    run.cancelled.wait(max(0.0, run.end_t - time.monotonic()))
    with app.lock:
        agent = app.agents.get(run.agent_id)
        if agent is not None:
            settle(app, agent, max(time.monotonic(), run.end_t)
                   if not run.cancelled.is_set() else None)
        lane = run.conv or agent
        emitted = [m for m in (lane.history if agent else [])
                   if m.get("run_id") == run.id]
    stop = "cancelled" if run.cancelled.is_set() else run.stop
    return emitted, stop


class RunStream:
    """The SSE body of a streamed run: an iterable of (delay, bytes) as
    web.py writes them. Waits on the run's clock itself; pings while
    quiet; ends early when the run is cancelled. len() and slicing (the
    `truncate` fault keeps the first half) count the planned events."""

    def __init__(self, app, run, turn, body, limit=None):
        self.app, self.run, self.turn, self.body = app, run, turn, body
        self.limit = limit
        self.cut = turn.get("stream_cut_after")
        self.aborted = False      # web.py closes the connection mid-body
        self.planned = self._planned()
        if self.cut is not None:
            head = 1 if body.get("include_pings", True) else 0
            self.planned = self.planned[:head + min(self.cut,
                                                    len(run.events))]

    def _planned(self):
        r, out = self.run, []
        if self.body.get("include_pings", True):
            out.append((0.0, self._ping()))
        for ev in r.events:
            out.append((ev[0], script_mod.sse(ev[2])))
        bad = self.turn.get("stream_garbage_after")
        if bad is not None:
            # one event that is not JSON (a message cut short), then the
            # stream goes on as planned
            at = (1 if self.body.get("include_pings", True) else 0) + \
                min(int(bad), len(r.events))
            out.insert(at, (out[at - 1][0] if at else 0.0,
                            b'data: {"message_type":"assistant_message",'
                            b'"content":"cut\n\n'))
        t_stop = r.end_t - r.t0
        if self.turn.get("stream_error"):
            out.append((t_stop, script_mod.sse({
                "message_type": "stop_reason",
                "stop_reason": "llm_api_error"})))
            out.append((t_stop, script_mod.sse({
                "message_type": "error_message", "run_id": r.id,
                "error_type": "llm_error", "message": "An error occurred "
                "with the LLM request.", "detail": "fake"}, "error")))
            return out
        out.append((t_stop, script_mod.sse({"message_type": "stop_reason",
                                            "stop_reason": r.stop})))
        out.append((t_stop, script_mod.sse(script_mod.usage())))
        out.append((t_stop, script_mod.sse("[DONE]")))
        return out

    def _ping(self):
        return script_mod.sse({"id": script_mod.new_id("ping"),
                               "date": script_mod.now_iso(),
                               "message_type": "ping", "run_id": self.run.id,
                               "seq_id": None})

    def __len__(self):
        return len(self.planned)

    def __getitem__(self, sl):
        if not isinstance(sl, slice) or sl.start or sl.step:
            raise TypeError("only [:n] slices")
        return RunStream(self.app, self.run, self.turn, self.body, sl.stop)

    def __iter__(self):
        pings = self.body.get("include_pings", True)
        interval = self.turn.get("ping_interval_ms", PING_INTERVAL_MS) / 1e3
        r = self.run
        next_ping = r.t0 + interval
        for t, data in self.planned[:self.limit]:
            due = r.t0 + t
            while True:
                if r.cancelled.is_set():
                    yield 0, script_mod.sse({"message_type": "stop_reason",
                                             "stop_reason": "cancelled"})
                    yield 0, script_mod.sse("[DONE]")
                    return
                now = time.monotonic()
                if now >= due:
                    break
                wake = min(due, next_ping) if pings else due
                if r.cancelled.wait(max(0.0, wake - now)):
                    continue
                if pings and time.monotonic() >= next_ping and \
                        time.monotonic() < due:
                    next_ping += interval
                    yield 0, self._ping()
            next_ping = max(next_ping, time.monotonic() + interval)
            yield 0, data
        # stream_cut_after: the body breaks here; the run goes on.
        self.aborted = self.cut is not None


# -- cancel, reset, approvals -------------------------------------------

def cancel(app, agent_id, body):
    """POST /v1/agents/{id}/messages/cancel -> (status, body)."""
    run_ids = body.get("run_ids") if body else None
    with app.lock:
        agent = app.agents.get(agent_id)
        if agent is not None:
            settle(app, agent)
            agent.cancels += 1
        active = {r.id: r for r in app.runs.values()
                  if r.agent_id == agent_id and r.active()}
        wanted = list(active) if run_ids is None else list(run_ids)
        if not wanted:
            return 409, {"detail": "CONFLICT: No active runs to cancel for "
                                   "agent %s" % agent_id}
        results = {}
        now = time.monotonic()
        for rid in wanted:
            run = active.get(rid)
            if run is None:
                results[rid] = "failed"
                continue
            run.cancelled_at = now
            run.cancelled.set()
            results[rid] = "cancelled"
        if agent is not None:
            settle(app, agent)
    return 200, results


def check_cancel_body(raw):
    """The optional CancelAgentRunRequest body; None when empty."""
    if not raw.strip():
        return None
    body = json.loads(raw)        # ValueError -> the caller's 422
    if not isinstance(body, dict):
        raise ValueError("Input should be a valid dictionary")
    ids = body.get("run_ids")
    if ids is not None and (not isinstance(ids, list) or not all(
            isinstance(i, str) for i in ids)):
        raise ValueError("run_ids: Input should be a valid list of strings")
    return body


def check_reset_body(raw):
    if not raw.strip():
        raise ValueError("Field required")
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("Input should be a valid dictionary")
    flag = body.get("add_default_initial_messages", False)
    if not isinstance(flag, bool):
        raise ValueError("add_default_initial_messages: Input should be a "
                         "valid boolean")
    return body


def reset(app, agent, body):
    """Empties the agent's history (caller holds app.lock)."""
    settle(app, agent)
    gone = set(map(id, agent.history))
    agent.timeline = [m for m in agent.timeline if id(m) not in gone]
    agent.history = []
    agent.pending_approval = None
    agent.pending_call = None
    agent.resets += 1
    if body.get("add_default_initial_messages"):
        record(agent, agent, [{
            "id": script_mod.new_id("message"), "date": script_mod.now_iso(),
            "name": None, "message_type": "assistant_message",
            "otid": str(uuid.uuid4()), "sender_id": None, "step_id": None,
            "is_err": None, "seq_id": None, "run_id": None,
            "content": "More human than human is our motto."}])


class ApprovalError(Exception):
    def __init__(self, status, body):
        super().__init__(str(body))
        self.status, self.body = status, body


def approval_answer(agent, msgs):
    """For a send carrying approval items: checks them against the
    pending call and returns the turn that answers it, or None for a send
    without approval items (caller holds the lock)."""
    items = [m for m in msgs if m.get("type") == "approval"]
    if not items:
        return None
    if len(msgs) != 1:
        if agent.pending_approval:
            return None           # the caller's 409 PENDING_APPROVAL
        raise ApprovalError(400, {"detail": "Cannot process approval "
                                  "response: No tool call is currently "
                                  "awaiting approval. Please send a regular "
                                  "message to interact with the agent."})
    item = items[0]
    if not agent.pending_approval:
        raise ApprovalError(400, {"detail": "Cannot process approval "
                                  "response: No tool call is currently "
                                  "awaiting approval. Please send a regular "
                                  "message to interact with the agent."})
    answers = item.get("approvals")
    if answers is None and "approve" in item:      # deprecated form
        answers = [{"type": "approval", "tool_call_id": agent.pending_call,
                    "approve": item["approve"], "reason": item.get("reason")}
                   ] if item.get("approval_request_id") == \
            agent.pending_approval else []
    if not isinstance(answers, list) or not all(
            isinstance(a, dict) and isinstance(a.get("approve"), bool)
            for a in answers):
        raise ApprovalError(422, {"detail": "approvals: Input should be a "
                                  "list of approval objects with 'approve'"})
    got = [a.get("tool_call_id") for a in answers]
    if got != [agent.pending_call]:
        raise ApprovalError(400, {"detail": "Invalid tool call IDs. Expected "
                                  "'%r', got '%r'" % ([agent.pending_call],
                                                      got)})
    return answers[0]


def answer_turn(script, answer, call_id):
    """The script of the turn after an approval answer."""
    name = script.get("tool_name", "delete_everything")
    if answer["approve"]:
        ret = {"type": "tool_return", "status": "success",
               "text": script.get("tool_result", "ok"),
               "tool_call_id": call_id}
        text = script.get("after_approve", "Done: I ran %s." % name)
    else:
        reason = answer.get("reason") or ""
        ret = {"type": "tool_return", "status": "error",
               "text": "Error: request to call tool denied. User reason: %s"
                       % reason, "tool_call_id": call_id}
        text = script.get("after_deny", "Understood: I did not run %s." %
                          name)
        if reason:
            text += " (You said: %s)" % reason
    return {"mode": "messages", "messages": [ret, {"type": "assistant",
                                                   "text": text}],
            "delay_ms": script.get("delay_ms", 0),
            "stream_delay_ms": script.get("stream_delay_ms", 0)}
