"""A conversation runtime of the fake App Server: what the real listener
keeps in memory for one (agent, conversation) while it has work
(letta.js 0.32.18, conversation-runtime.ts): the turn in flight, the
input queue, the pending approval, the loop status and the
client_message_id dispositions it remembers.

A runtime is created on demand and dropped as soon as it is idle (no
turn, no queue, no pending approval, no interruption to report), as
evictConversationRuntimeIfIdle does after every turn: its dispositions go
with it, which is why a client_message_id resent after its turn finished
runs a second turn, while one resent while its turn runs (or waits in the
queue) is only acknowledged again. After an abort (or a connection lost
while an approval was pending) `interrupted` holds the tool calls to
deny: the next input is queued and its turn first tells the model the
stream was interrupted. Plain state; the hub holds its lock around it.
"""

import collections
import threading
import uuid

from .app_store import now_iso

MAX_DISPOSITIONS = 4096
MAX_QUEUE = 100


class QueueItem:
    def __init__(self, ident, conn_id, messages):
        self.id = ident
        self.conn_id = conn_id
        self.messages = messages
        first = next(m for m in messages if "content" in m)
        self.content = first["content"]
        self.client_message_id = first.get("client_message_id") or \
            "cm-submit-%s" % uuid.uuid4()
        self.enqueued_at = now_iso()


class Approval:
    """A can_use_tool control_request waiting for an answer from one of
    the connections it was sent to."""

    def __init__(self, request_id, frame, conn_ids):
        self.request_id = request_id
        self.frame = frame
        self.conn_ids = set(conn_ids)
        self.answer = None            # the approval_response payload
        self.done = threading.Event()


class Turn:
    def __init__(self, turn_id, conn_id, messages, dequeued=(), fail=None,
                 image_mode="strict"):
        self.id = turn_id
        self.conn_id = conn_id
        self.messages = messages
        self.dequeued = list(dequeued)   # queue items this turn took
        self.fail = fail                 # the error it fails with at once
        self.image_mode = image_mode     # image_failure_mode (app_images)
        self.cancelled = threading.Event()

    def cancel(self):
        self.cancelled.set()


class ConvRuntime:
    def __init__(self, agent_id, conv_id):
        self.agent_id = agent_id
        self.conv_id = conv_id
        self.key = (agent_id, conv_id)
        self.dispositions = collections.OrderedDict()
        self.queue = []
        self.queue_paused = False
        self.next_item = 0
        self.next_batch = 0
        self.turn = None
        self.active_conn = None
        self.approval = None
        self.interrupted = None          # [tool call ids to deny] or None
        self.loop = "WAITING_ON_INPUT"
        self.run_id = None
        self.executing = []

    @property
    def scope(self):
        return {"agent_id": self.agent_id, "conversation_id": self.conv_id}

    def idle(self):
        return self.turn is None and not self.queue and \
            self.approval is None and self.interrupted is None

    # -- dispositions -------------------------------------------------------
    def disposition(self, client_message_id):
        if not client_message_id:
            return None
        found = self.dispositions.pop(client_message_id, None)
        if found:
            self.dispositions[client_message_id] = found
        return found

    def remember(self, client_message_id, disposition):
        if not client_message_id:
            return
        self.dispositions.pop(client_message_id, None)
        self.dispositions[client_message_id] = disposition
        if len(self.dispositions) > MAX_DISPOSITIONS:
            self.dispositions.popitem(last=False)

    # -- queue ---------------------------------------------------------------
    def enqueue(self, conn_id, messages):
        """Returns (item, dropped item or None): a full queue drops its
        oldest item."""
        self.queue_paused = False
        dropped = self.queue.pop(0) if len(self.queue) >= MAX_QUEUE else None
        self.next_item += 1
        item = QueueItem("q-%d" % self.next_item, conn_id, messages)
        self.queue.append(item)
        return item, dropped

    def take_batch(self):
        """consumeQueuedTurn: the leading items sent on one connection,
        merged into one turn. Returns (batch id, items)."""
        if not self.queue or self.queue_paused:
            return None, []
        conn = self.queue[0].conn_id
        n = 0
        while n < len(self.queue) and self.queue[n].conn_id == conn:
            n += 1
        items, self.queue = self.queue[:n], self.queue[n:]
        self.next_batch += 1
        return "batch-%d" % self.next_batch, items

    def drop_items_of(self, conn_id):
        gone = [i for i in self.queue if i.conn_id == conn_id]
        self.queue = [i for i in self.queue if i.conn_id != conn_id]
        return gone
