"""One turn of a fake App Server agent, on its own thread: the frames the
real listener emits for a turn (letta.js 0.32.18, turn.ts; the order is
the one recorded from the real server), paced by the agent's script
(app_script.py):

    update_loop_status SENDING_API_REQUEST, update_device_status,
    [a turn of queued inputs: update_queue with them "dequeued"],
    update_loop_status WAITING_FOR_API_RESPONSE, (delay_ms),
    update_loop_status PROCESSING_API_RESPONSE (twice: without, then with
    the run), stream_delta reasoning / assistant_message chunks (one id),
    [a tool call: app_tool.py], usage_statistics, stop_reason,
    update_loop_status WAITING_ON_INPUT, update_device_status,
    turn_finished, update_device_status.

A turn that fails (an unknown agent, a content the server cannot read)
goes from SENDING_API_REQUEST to turn_finished stop_reason "error" with
its `error`, then a terminal loop_error; one whose picture sharp cannot
read (app_images.py) passes WAITING_FOR_API_RESPONSE first, and keeps
no question. A cancelled turn (abort_message,
or its connection closed with no other subscriber) ends with just
turn_finished stop_reason "cancelled". The history gets the user messages
when the turn starts and the answer chunk by chunk, so a turn cut short
keeps the question and the answer so far.
"""

import uuid

from . import app_images
from . import app_script
from . import app_store
from . import app_tool
from .app_store import NotFound, now_iso

REMINDERS = (
    "<system-reminder>\nThis is an automated message providing context "
    "about the user's environment.\nThis conversation is now connected to "
    "a Letta Code execution environment.\n</system-reminder>",
    "<system-reminder> This is an automated message providing information "
    "about you.\n- **Agent ID**: {agent}\n- **Conversation ID**: {conv}\n"
    "- **Agent name**: {name}\n- **Agent description**: {description}\n"
    "</system-reminder>",
    "<system-reminder>\nMCP servers with available tools: None\n"
    "</system-reminder>")
INTERRUPTED = "<system-reminder>The user interrupted the active stream." \
    "</system-reminder>\n"
DENIED_AFTER_INTERRUPT = "User interrupted the stream"
ORIGIN_TAG = "origin:letta-code"     # an agent that ran a turn has it


class Cancelled(Exception):
    pass


def dequeued_messages(hub, rt, items):
    """The messages of queue items taken for a turn, each user message
    echoed as a user_message stream delta (emitDequeuedUserMessage)."""
    messages = [m for item in items for m in item.messages]
    for m in messages:
        if "content" in m and m.get("role", "user") == "user":
            hub.emit(rt, {"type": "stream_delta", "delta": {
                "type": "message", "id": "user-msg-%s" % uuid.uuid4(),
                "date": now_iso(), "message_type": "user_message",
                "content": visible(m["content"]), "otid": m["otid"]}})
    return messages


def visible(content):
    """The user's content without system reminders (as echoed)."""
    if isinstance(content, str):
        return content
    return [p for p in content if not (
        p.get("type") == "text" and p["text"].strip().startswith(
            "<system-reminder>") and
        p["text"].strip().endswith("</system-reminder>"))]


class TurnRunner:
    def __init__(self, hub, rt, turn, on_over):
        self.hub = hub
        self.rt = rt
        self.turn = turn
        self.on_over = on_over          # called (under the lock) at the end
        self.script = {}
        self.run_id = None
        self.seq = 0
        self.answer_msg = None

    @property
    def key(self):
        return self.hub.store.conv_key(self.rt.conv_id, self.rt.agent_id)

    # -- plumbing -------------------------------------------------------------
    def emit(self, message):
        self.hub.emit(self.rt, message)

    def wait(self, ms):
        if self.turn.cancelled.wait(ms / 1000.0):
            raise Cancelled()

    def check(self):
        if self.turn.cancelled.is_set():
            raise Cancelled()

    def take_queued(self):
        """Inputs queued during an approval join the turn's next run:
        (their messages, the queue items); the turn takes the batch id."""
        rt = self.rt
        if not rt.queue or rt.queue_paused:
            return [], []
        batch_id, items = rt.take_batch()
        self.turn.id = batch_id
        merged = dequeued_messages(self.hub, rt, items)
        self.turn.messages.extend(merged)
        return merged, items

    def base(self, ident):
        return {"id": ident, "date": now_iso(),
                "agent_id": self.rt.agent_id,
                "conversation_id": self.rt.conv_id}

    def message_delta(self, body):
        """A Letta message of the current run (with its seq_id)."""
        self.seq += 1
        body.update(run_id=self.run_id, seq_id=self.seq, type="message")
        self.emit({"type": "stream_delta", "delta": body})

    def lifecycle_delta(self, message_type, **fields):
        delta = {"id": "lifecycle-%s" % uuid.uuid4(), "date": now_iso(),
                 "message_type": message_type}
        if self.run_id:
            delta["run_id"] = self.run_id
        delta.update(fields)
        self.emit({"type": "stream_delta", "delta": delta})

    def loop(self, status):
        self.hub.loop_status(self.rt, status)

    def user_text(self):
        return app_script.user_text([m for m in self.turn.messages
                                     if m.get("role", "user") == "user"])

    # -- the turn -------------------------------------------------------------
    def run(self):
        try:
            self._run()
        except Cancelled:
            with self.hub.lock:
                self.finish("cancelled")
        finally:
            with self.hub.lock:
                self.on_over(self.hub, self.rt, self.turn)

    def _run(self):
        hub, rt = self.hub, self.rt
        with hub.lock:
            count = hub.turn_counts.get(rt.agent_id, 0)
            hub.turn_counts[rt.agent_id] = count + 1
            self.script = app_script.for_turn(
                hub.scripts.get(rt.agent_id, {}), count)
            self.loop("SENDING_API_REQUEST")
            hub.device_status(rt)
            try:
                agent = hub.store.agent(rt.agent_id)
                hub.store.conversation(rt.conv_id, rt.agent_id)
            except NotFound as exc:
                self.finish("error", str(exc))
                return
            if ORIGIN_TAG not in agent["tags"]:
                agent["tags"].append(ORIGIN_TAG)
            if self.turn.fail:
                self.finish("error", self.turn.fail)
                return
            if self.turn.dequeued:
                hub.queue_update(rt, [(i, "dequeued")
                                      for i in self.turn.dequeued])
            # the pictures go through sharp before the model request;
            # one it cannot read fails the turn, the question not kept
            bad = app_images.failure(self.turn.messages,
                                     self.turn.image_mode)
            if bad:
                self.loop("WAITING_FOR_API_RESPONSE")
                self.finish("error", bad)
                return
            hub.images.setdefault(rt.agent_id, []).extend(
                app_images.received(self.turn.messages, rt.conv_id))
            self.store_inputs(agent, self.turn.messages)
            self.loop("WAITING_FOR_API_RESPONSE")
        script = self.script
        self.wait(script.get("delay_ms", 0))
        self.start_run()
        if script.get("mode") == "error":
            stop = script.get("stop_reason", "llm_api_error")
            with hub.lock:
                self.stop_reason(stop)
                self.finish(stop, script.get(
                    "error", "The model provider returned an error"))
            return
        if script.get("reasoning"):
            self.stream_reasoning(script["reasoning"])
        self.stream_text(app_script.answer(script, self.user_text()))
        if script.get("mode") == "tool":
            app_tool.step(self)
        with hub.lock:
            self.usage()
            stop = script.get("stop_reason", "end_turn")
            self.stop_reason(stop)
            if stop == "end_turn":
                self.finish(stop)
            else:
                self.finish(stop, "Unexpected stop reason: %s" % stop)

    def store_inputs(self, agent, messages):
        """The turn's user messages enter the history (the conversation's
        first one with the server's reminders; after an interruption the
        denials and the interruption notice come first)."""
        store, rt = self.hub.store, self.rt
        if rt.interrupted is not None:
            for call_id in rt.interrupted:
                self.store_tool_result(call_id, True, DENIED_AFTER_INTERRUPT)
            store.append(self.key, {
                "id": store.next_id("ui"), "role": "user",
                "date": store.stamp(), "otid": str(uuid.uuid4()),
                "content": [{"type": "text", "text": INTERRUPTED}]})
            rt.interrupted = None
        first = not store.history.get(self.key)
        for m in messages:
            if "content" not in m:
                continue
            content = app_store.text_content(m["content"])
            if first:
                content = [{"type": "text", "text": r.format(
                    agent=agent["id"], conv=rt.conv_id, name=agent["name"],
                    description=agent["description"] or "(no description)"
                )} for r in REMINDERS] + content
                first = False
            store.append(self.key, {"id": store.next_id("ui"),
                                    "role": "user", "date": store.stamp(),
                                    "content": content,
                                    "otid": m.get("otid")})

    def store_tool_result(self, call_id, is_error, text):
        self.hub.store.add_tool_result(self.key, call_id, is_error, text)

    def start_run(self):
        """A model request: a new run, correlated with the turn's
        client_message_ids."""
        with self.hub.lock:
            self.loop("PROCESSING_API_RESPONSE")
            self.run_id = self.hub.store.next_id("run")
            self.seq = 0
            self.answer_msg = None
            self.rt.run_id = self.run_id
            self.hub.correlate(self.rt.key, self.run_id, [
                m["client_message_id"] for m in self.turn.messages
                if m.get("client_message_id")])
            self.loop("PROCESSING_API_RESPONSE")

    # -- the answer -----------------------------------------------------------
    def assistant(self):
        """The local assistant message of this run (made on first use)."""
        if self.answer_msg is None:
            store = self.hub.store
            self.answer_msg = store.append(self.key, {
                "id": store.next_id("ui"), "role": "assistant",
                "date": store.stamp(), "parts": []})
        return self.answer_msg

    def stream_reasoning(self, text):
        with self.hub.lock:
            msg = self.assistant()
            msg["parts"].append({"kind": "reasoning", "text": text})
            self.hub.store.next_id("letta")
            self.message_delta(dict(
                self.base("%s:reasoning:%d" % (msg["id"],
                                               len(msg["parts"]) - 1)),
                message_type="reasoning_message", reasoning=text))

    def stream_text(self, text):
        for i, chunk in enumerate(app_script.chunks(self.script, text)):
            if i:
                self.wait(self.script.get("chunk_delay_ms", 0))
            with self.hub.lock:
                self.check()
                msg = self.assistant()
                if not msg["parts"] or msg["parts"][-1]["kind"] != "text":
                    msg["parts"].append({"kind": "text", "text": ""})
                part = len(msg["parts"]) - 1
                msg["parts"][part]["text"] += chunk
                self.hub.store.next_id("letta")
                ident = msg["id"] if part == 0 else \
                    "%s:assistant:%d" % (msg["id"], part)
                self.message_delta(dict(
                    self.base(ident), message_type="assistant_message",
                    content=[{"type": "text", "text": chunk}]))

    def usage(self):
        prompt = max(1, len(self.user_text().split()))
        done = sum(len(p.get("text", "").split())
                   for p in (self.answer_msg or {"parts": []})["parts"])
        self.message_delta(dict(
            self.base(self.hub.store.next_id("letta")),
            message_type="usage_statistics", prompt_tokens=prompt,
            completion_tokens=done, total_tokens=prompt + done,
            cached_input_tokens=0, cache_write_tokens=0, reasoning_tokens=0,
            context_tokens=prompt + done))

    def stop_reason(self, reason):
        """The run's stop_reason; the answer so far is now on disk (it
        survives a restart)."""
        if self.answer_msg is not None:
            self.answer_msg["settled"] = True
        self.seq += 1
        self.emit({"type": "stream_delta", "delta": {
            "message_type": "stop_reason", "stop_reason": reason,
            "run_id": self.run_id, "seq_id": self.seq, "type": "message"}})

    # -- the end --------------------------------------------------------------
    def finish(self, stop_reason, error=None):
        """finishListenerTurn (caller holds the lock)."""
        hub, rt = self.hub, self.rt
        if rt.approval is not None:     # killed by a restart
            app_tool.forget_approval(self)
        hub.tools_loaded = True
        if rt.turn is self.turn:
            rt.turn = None
            rt.active_conn = None
        rt.run_id = None
        rt.executing = []
        if stop_reason == "cancelled":      # whoever cancelled said so
            rt.loop = "WAITING_ON_INPUT"
        else:
            self.loop("WAITING_ON_INPUT")
            hub.device_status(rt)
        frame = {"type": "turn_finished", "turn_id": self.turn.id,
                 "stop_reason": stop_reason}
        if self.run_id:
            frame["run_id"] = self.run_id
        if error:
            frame["error"] = error
        self.emit(frame)
        if error:
            self.lifecycle_delta("loop_error", message=error,
                                 stop_reason=stop_reason, is_terminal=True)
        hub.device_status(rt)
