"""Agents, conversations and their histories, as the App Server's local
backend keeps them (letta.js 0.32.18, src/backend/local/local-store.ts
with strict agent and conversation access).

Ids: `agent-local-<uuid>`, `local-conv-N`, `local-run-N`, history
messages `ui-msg-N`, stream chunks `letta-msg-N` (one counter each, for
the whole server, never reset by a restart). A history is a list of
local messages (user, assistant, tool result) projected on reading into
the Letta messages `conversation_messages_list` returns. Callers hold
the hub's lock.
"""

import datetime
import uuid

DEFAULT_AGENT_ID = "agent-local-default"
DEFAULT_MODEL = "openai-compatible/fake-model"
MEMFS_TAG = "git-memory-enabled"
MESSAGE_PAGE = 50              # conversation_messages_list default limit
LIST_PAGE = 20                 # agent_list, conversation_list default


class NotFound(Exception):
    """LocalBackendNotFoundError: the message is the client's error."""

    def __init__(self, resource, ident):
        super().__init__("%s %s not found" % (resource, ident))


def now_iso():
    """new Date().toISOString()."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond //
                                                         1000)


def js_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cursor(query, key):
    v = query.get(key)
    return v if isinstance(v, str) and v else None


def text_content(content):
    """userContentToStoredContent: a string becomes one text part."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(p) for p in content]


class Store:
    def __init__(self):
        self.agents = {}           # id -> record, in creation order
        self.convs = {}            # key -> conversation record
        self.history = {}          # key -> [local message]
        self.seq = {"conv": 0, "ui": 0, "letta": 0, "run": 0}
        self.last_stamp = ""

    def stamp(self):
        """The time of a stored change, a millisecond after the previous
        one at least (so "most recently used" never ties)."""
        t = now_iso()
        if t <= self.last_stamp:
            t = shift_iso(self.last_stamp, 1)
        self.last_stamp = t
        return t

    def next_id(self, kind):
        self.seq[kind] += 1
        prefix = {"conv": "local-conv-", "ui": "ui-msg-",
                  "letta": "letta-msg-", "run": "local-run-"}[kind]
        return "%s%d" % (prefix, self.seq[kind])

    # -- agents -------------------------------------------------------------
    def agent(self, agent_id):
        rec = self.agents.get(agent_id)
        if rec is None:
            raise NotFound("Agent", agent_id)
        return rec

    def create_agent(self, body, agent_id=None):
        tags = list(body["tags"]) if is_str_list(body.get("tags")) else []
        if MEMFS_TAG not in tags:
            tags.append(MEMFS_TAG)
        model = body.get("model") if isinstance(body.get("model"), str) \
            and body["model"] else DEFAULT_MODEL
        rec = {"id": agent_id or "agent-local-%s" % uuid.uuid4(),
               "name": body["name"] if isinstance(body.get("name"), str)
               and body["name"] else "Letta Code",
               "description": body["description"]
               if isinstance(body.get("description"), str) else None,
               "system": body["system"]
               if isinstance(body.get("system"), str) else "",
               "tags": tags, "model": model,
               "model_settings": model_settings(model)}
        if isinstance(body.get("hidden"), bool):
            rec["hidden"] = body["hidden"]
        self.agents[rec["id"]] = rec
        self._new_conv(("default", rec["id"]), "default", rec["id"], {})
        return rec

    def update_agent(self, agent_id, body):
        rec = self.agent(agent_id)
        for key in ("name", "system"):
            if isinstance(body.get(key), str):
                rec[key] = body[key]
        if "description" in body and (body["description"] is None or
                                      isinstance(body["description"], str)):
            rec["description"] = body["description"]
        if is_str_list(body.get("tags")):
            rec["tags"] = list(body["tags"])
        if isinstance(body.get("model"), str) and body["model"]:
            rec["model"] = body["model"]
            rec["model_settings"] = model_settings(body["model"])
        if isinstance(body.get("hidden"), bool):
            rec["hidden"] = body["hidden"]
        return rec

    def delete_agent(self, agent_id):
        self.agent(agent_id)
        del self.agents[agent_id]
        for key in [k for k, c in self.convs.items()
                    if c["agent_id"] == agent_id]:
            del self.convs[key]
            del self.history[key]

    def agent_json(self, rec):
        default = self.convs[("default", rec["id"])]
        ids = list(default["in_context_message_ids"])
        out = {"id": rec["id"], "name": rec["name"],
               "description": rec["description"], "system": rec["system"],
               "tools": [], "tags": list(rec["tags"]), "model": rec["model"],
               "model_settings": dict(rec["model_settings"])}
        if "hidden" in rec:
            out["hidden"] = rec["hidden"]
        out["message_ids"] = ids
        out["in_context_message_ids"] = list(ids)
        last = default["last_message_at"] or default["updated_at"]
        if last:
            out["last_run_completion"] = last
        provider, _, name = rec["model"].partition("/")
        out["llm_config"] = {
            "model": name or provider, "model_endpoint_type": provider,
            "model_endpoint": "https://example.invalid/v1",
            "context_window": rec["model_settings"]["context_window_limit"],
            "max_tokens": rec["model_settings"]["max_tokens"]}
        return out

    def list_agents(self, query):
        """listAgents: query_text, tags (all), after, limit (20); most
        recently used first (the default conversation's last message,
        else its update time). An unknown `after` gives the first page."""
        agents = [self.agent_json(a) for a in self.agents.values()
                  if not a.get("hidden")]
        tags = query.get("tags") if is_str_list(query.get("tags")) else []
        if tags:
            agents = [a for a in agents if all(t in a["tags"] for t in tags)]
        text = query.get("query_text")
        if isinstance(text, str) and text:
            text = text.lower()
            agents = [a for a in agents if text in "\n".join(
                v for v in (a["name"], a["description"], a["id"],
                            a["model"]) if isinstance(v, str)).lower()]
        agents.sort(key=lambda a: a.get("last_run_completion") or "",
                    reverse=True)
        ids = [a["id"] for a in agents]
        after = cursor(query, "after")
        if after in ids:
            agents = agents[ids.index(after) + 1:]
        limit = query["limit"] if js_number(query.get("limit")) \
            else LIST_PAGE
        return js_slice(agents, limit)

    # -- conversations --------------------------------------------------------
    def _new_conv(self, key, conv_id, agent_id, body):
        now = self.stamp()
        conv = {"id": conv_id, "agent_id": agent_id, "archived": False,
                "archived_at": None, "created_at": now, "updated_at": now,
                "last_message_at": None,
                "summary": body.get("summary")
                if isinstance(body.get("summary"), str) else None,
                "in_context_message_ids": []}
        if isinstance(body.get("model"), str):
            conv["model"] = body["model"]
        if isinstance(body.get("hidden"), bool):
            conv["hidden"] = body["hidden"]
        if is_str_list(body.get("tags")):
            conv["tags"] = list(body["tags"])
        self.convs[key] = conv
        self.history[key] = []
        return conv

    @staticmethod
    def conv_key(conv_id, agent_id):
        return ("default", agent_id) if conv_id == "default" else \
            ("conv", conv_id)

    def create_conversation(self, body):
        agent_id = body.get("agent_id") if body.get("agent_id") is not None \
            else DEFAULT_AGENT_ID
        self.agent(agent_id)
        conv_id = self.next_id("conv")
        return self._new_conv(("conv", conv_id), conv_id, agent_id, body)

    def find_conversation(self, conv_id, agent_id=None):
        """findConversation: a named conversation is found whatever agent
        is given; `default` needs the agent (else the server's default
        agent, which a strict local backend does not have)."""
        if conv_id == "default":
            return self.convs.get(("default", agent_id or DEFAULT_AGENT_ID))
        return self.convs.get(("conv", conv_id))

    def conversation(self, conv_id, agent_id=None):
        conv = self.find_conversation(conv_id, agent_id)
        if conv is None:
            raise NotFound("Conversation", conv_id)
        return conv

    def list_conversations(self, query):
        agent = query.get("agent_id") if isinstance(query.get("agent_id"),
                                                    str) else None
        search = query.get("summary_search")
        search = search.strip().lower() if isinstance(search, str) and \
            search else None
        convs = [c for c in self.convs.values()
                 if c["id"] != "default"
                 and (query.get("include_hidden") is True
                      or not c.get("hidden"))
                 and (not agent or c["agent_id"] == agent)
                 and (not search or search in c["id"].lower()
                      or search in (c["summary"] or "").lower())]
        convs.sort(key=lambda c: c["last_message_at"] or c["updated_at"]
                   or c["created_at"] or "", reverse=True)
        ids = [c["id"] for c in convs]
        after = cursor(query, "after")
        if after in ids:
            convs = convs[ids.index(after) + 1:]
        limit = query["limit"] if js_number(query.get("limit")) \
            else LIST_PAGE
        return [dict(c) for c in js_slice(convs, limit)]

    # -- history --------------------------------------------------------------
    def append(self, key, message):
        """Add a local message; the conversation was used just now."""
        conv = self.convs.get(key)
        if conv is None:           # deleted while a turn ran
            return message
        self.history[key].append(message)
        conv["in_context_message_ids"].append(message["id"])
        conv["last_message_at"] = conv["updated_at"] = message["date"]
        return message

    def add_tool_result(self, key, call_id, is_error, text):
        return self.append(key, {"id": self.next_id("ui"),
                                 "role": "toolResult", "date": self.stamp(),
                                 "tool_call_id": call_id,
                                 "is_error": is_error, "text": text})

    def drop_unsettled(self):
        """After a restart: an answer never finished by a stop_reason was
        not written to disk (persistPendingAssistantMessage)."""
        for key, msgs in self.history.items():
            keep = [m for m in msgs if m["role"] != "assistant"
                    or m.get("settled")]
            gone = {m["id"] for m in msgs} - {m["id"] for m in keep}
            self.history[key] = keep
            ids = self.convs[key]["in_context_message_ids"]
            ids[:] = [i for i in ids if i not in gone]

    def messages_for(self, conv_id, query):
        """listConversationMessages of the local backend."""
        agent_id = query.get("agent_id")
        if agent_id is None:
            conv = self.find_conversation(conv_id)
            agent_id = DEFAULT_AGENT_ID if conv_id == "default" or \
                conv is None else conv["agent_id"]
        if agent_id not in self.agents:
            raise NotFound("Agent", agent_id)
        conv = self.conversation(conv_id, agent_id)
        key = self.conv_key(conv["id"], conv["agent_id"])
        items = []
        for msg in self.history[key]:
            items.extend(project(msg, conv["agent_id"], conv["id"]))
        return list_options(items, query)

    def message_page(self, conv_id, query):
        """listConversationMessagePage: (messages, next_before, has_more)
        with the real server's limit (50), order (desc) and probe."""
        limit = query.get("limit")
        if limit is None:
            limit = MESSAGE_PAGE
        if not js_number(limit):
            raise ValueError("query.limit")
        items = self.messages_for(conv_id, query)
        page = js_slice(items, limit)
        oldest = (page[0] if query.get("order") == "asc" else page[-1]) \
            if page else None
        next_before = oldest["id"] if oldest else None
        if not next_before or len(page) < limit:
            return page, next_before, False
        if len(items) > limit:
            return page, next_before, True
        probe = dict(query, before=next_before, order="desc", limit=1)
        probe.pop("after", None)
        return page, next_before, bool(self.messages_for(conv_id, probe))


def list_options(items, query):
    """applyListOptions: types, before/after cursors (ignored when
    unknown), order (desc unless "asc"), limit (a positive number)."""
    types = query.get("include_return_message_types")
    if isinstance(types, list):
        wanted = {t for t in types if isinstance(t, str) and t}
        if wanted:
            items = [m for m in items if m["message_type"] in wanted]
    ids = [m["id"] for m in items]
    before = cursor(query, "before")
    if before in ids:
        items = items[:ids.index(before)]
    ids = [m["id"] for m in items]
    after = cursor(query, "after")
    if after in ids:
        items = items[ids.index(after) + 1:]
    if query.get("order") != "asc":
        items = items[::-1]
    limit = query.get("limit")
    if js_number(limit) and limit > 0:
        items = js_slice(items, limit)
    return items


def js_slice(items, limit):
    """Array.prototype.slice(0, limit) for a numeric limit."""
    return items[:int(limit)] if limit >= 0 else items[:len(items) +
                                                        int(limit)]


def is_str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def model_settings(model):
    return {"provider_type": model.partition("/")[0],
            "context_window_limit": 128000, "max_tokens": 32000}


def project(msg, agent_id, conv_id):
    """projectLocalMessageToStoredMessages (dates a millisecond apart)."""
    def head(ident, message_type, **fields):
        out = {"id": ident, "date": msg["date"], "agent_id": agent_id,
               "conversation_id": conv_id, "message_type": message_type}
        out.update(fields)
        return out
    if msg["role"] == "user":
        out = head(msg["id"], "user_message", role="user",
                   content=text_content(msg["content"]))
        if msg.get("otid"):
            out["otid"] = msg["otid"]
        return [out]
    if msg["role"] == "toolResult":
        return [head(msg["id"], "tool_return_message",
                     tool_call_id=msg["tool_call_id"],
                     status="error" if msg["is_error"] else "success",
                     tool_return=msg["text"])]
    out = []
    for index, part in enumerate(msg["parts"]):
        if part["kind"] == "reasoning":
            out.append(head("%s:reasoning:%d" % (msg["id"], index),
                            "reasoning_message", reasoning=part["text"]))
        elif part["kind"] == "tool":
            out.append(head("%s:tool:%s:request" % (msg["id"], part["id"]),
                            "approval_request_message",
                            tool_call={"tool_call_id": part["id"],
                                       "name": part["name"],
                                       "arguments": part["arguments"]}))
        elif part["text"]:
            ident = msg["id"] if not out else \
                "%s:assistant:%d" % (msg["id"], index)
            out.append(head(ident, "assistant_message", role="assistant",
                            content=[{"type": "text", "text": part["text"]}]))
    for i, m in enumerate(out):
        if i:
            m["date"] = shift_iso(m["date"], i)
    return out


def shift_iso(value, ms):
    t = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ") + \
        datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond //
                                                         1000)
