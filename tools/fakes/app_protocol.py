"""Inbound frames of the App Server, checked as letta.js 0.32.18 does
(src/websocket/listener/protocol-inbound.ts, parseServerMessage).

The real server answers nothing to a frame that is not JSON, has an
unknown `type` or misses a required field: it drops the frame silently.
The one exception is an `input` with a valid `runtime` and a bad payload,
which is answered with a `loop_error` stream delta (`reason` here). The
fake does the same and says in its record why it dropped a frame.

`parse(data)` returns a Parsed: `frame` (the JSON value, None when it
is not JSON), `command` (the frame, when the real server would act on
it), `reason` (an input's protocol violation),
`scope` (the runtime scope the connection subscribes to, as the real
listener subscribes a connection to any frame carrying a `runtime`) and
`error` (for the record: why it was dropped or what the fake lacks).
"""

import json

# Commands the fake answers.
HANDLED = {"app_server_info", "agent_list", "agent_retrieve", "agent_create",
           "agent_update", "agent_delete", "conversation_list",
           "conversation_retrieve", "conversation_create",
           "conversation_messages_list", "runtime_start", "input",
           "abort_message", "sync", "resume_queue"}

# Commands the real server also parses (WsProtocolCommand); the fake
# drops them and records that it does not implement them.
UNSUPPORTED = {
    "message", "change_device_state", "teleport_probe", "teleport_request",
    "teleport_failed", "runtime_external_tools_update",
    "external_tool_call_response", "terminal_spawn", "terminal_input",
    "terminal_resize", "terminal_kill", "search_files", "grep_in_files",
    "list_in_directory", "get_tree", "read_file", "write_file",
    "watch_file", "unwatch_file", "edit_file", "file_ops", "list_memory",
    "memory_history", "memory_file_at_ref", "memory_commit_diff",
    "read_memory_file", "write_memory_file", "delete_memory_file",
    "enable_memfs", "list_models", "list_connect_providers",
    "connect_provider", "disconnect_provider", "chatgpt_usage_read",
    "update_model", "update_toolset", "cron_list", "cron_add", "cron_get",
    "cron_runs", "cron_trigger", "cron_pause", "cron_resume", "cron_update",
    "cron_delete", "cron_delete_all", "skill_enable", "skill_disable",
    "create_agent", "conversation_update", "conversation_recompile",
    "conversation_fork", "conversation_compact",
    "set_boot_working_directory", "get_cwd_map", "get_experiments",
    "set_experiment", "get_reflection_settings", "set_reflection_settings",
    "channels_list", "channel_accounts_list", "channel_account_create",
    "channel_account_update", "channel_account_bind",
    "channel_account_unbind", "channel_account_delete",
    "channel_account_start", "channel_account_stop", "channel_get_config",
    "channel_set_config", "channel_start", "channel_stop",
    "channel_pairings_list", "channel_pairing_bind", "channel_routes_list",
    "channel_targets_list", "channel_target_bind", "channel_route_remove",
    "channel_route_update", "execute_command", "remove_queue_item",
    "launch_subagent", "monitor_stop", "search_branches",
    "checkout_branch", "secret_list", "secret_apply"}

# Lifecycle frames the listener reads and ignores.
LIFECYCLE = {"pong", "listener_ready"}

MODES = ("standard", "acceptEdits", "unrestricted", "strict")
SKILL_SOURCES = ("bundled", "global", "agent", "project")
# runtime_start fields the fake does not model.
RUNTIME_START_UNSUPPORTED = ("create_agent", "execution_settings",
                             "workspace_sandbox", "teleport_id",
                             "external_tools")


class Parsed:
    def __init__(self, command=None, reason=None, scope=None, error=None):
        self.frame = None
        self.command = command
        self.reason = reason
        self.scope = scope
        self.error = error


def is_str(v):
    return isinstance(v, str)


def is_obj(v):
    return isinstance(v, dict)


def is_str_list(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def opt(obj, key, check):
    """JavaScript's `obj.key === undefined || check(obj.key)`: a JSON
    null is a value, not an absent key."""
    return key not in obj or check(obj[key])


def is_bool(v):
    return isinstance(v, bool)


def runtime_scope_ok(v):
    """isRuntimeScope: agent_id null or a non-empty string, a non-empty
    conversation_id."""
    return is_obj(v) and "agent_id" in v and \
        (v["agent_id"] is None or (is_str(v["agent_id"]) and v["agent_id"]))\
        and is_str(v.get("conversation_id")) and bool(v["conversation_id"])


def approval_body_ok(p):
    """isValidApprovalResponseBody."""
    if not is_str(p.get("request_id")):
        return False
    if "error" in p:
        return is_str(p["error"])
    d = p.get("decision")
    if not is_obj(d) or not d:
        return False
    if d.get("behavior") == "allow":
        return opt(d, "message", is_str) and \
            (d.get("updated_input") is None or
             isinstance(d["updated_input"], (dict, list))) \
            and opt(d, "selected_permission_suggestion_ids", is_str_list)
    if d.get("behavior") == "deny":
        return is_str(d.get("message"))
    return False


def toolset_ok(v):
    return is_obj(v) and ("include" not in v or is_str_list(v["include"]))\
        and ("base" not in v or
             v["base"] in ("auto", "letta", "none", "default", "codex"))


CREATE_MESSAGE_CHECKS = (
    ("image_failure_mode", lambda v: v in ("strict", "drop"),
     "Protocol violation: input.payload.image_failure_mode must be strict "
     "or drop"),
    ("client_tool_allowlist", is_str_list,
     "Protocol violation: input.payload.client_tool_allowlist must be "
     "string[]"),
    ("client_toolset", toolset_ok,
     "Protocol violation: input.payload.client_toolset must contain an "
     "optional valid base and string[] include"),
    ("exclude_interactive_tools", is_bool,
     "Protocol violation: input.payload.exclude_interactive_tools must be "
     "boolean"),
    ("external_tool_scope_ids", is_str_list,
     "Protocol violation: input.payload.external_tool_scope_ids must be "
     "string[]"))


def input_violation(c):
    """getInvalidInputReason for an input with a valid runtime: None when
    the input is well formed."""
    p = c.get("payload")
    if not is_obj(p):
        return "Protocol violation: input.payload must be an object"
    kind = p.get("kind")
    if kind == "create_message":
        if not isinstance(p.get("messages"), list):
            return ("Protocol violation: input.kind=create_message "
                    "requires payload.messages[]")
        for key, check, reason in CREATE_MESSAGE_CHECKS:
            if key in p and not check(p[key]):
                return reason
        return None
    if kind == "approval_response":
        if not approval_body_ok(p):
            return ("Protocol violation: input.kind=approval_response "
                    "requires payload.request_id and either "
                    "payload.decision or payload.error")
        return None
    if kind == "teleport_continue":
        return None
    return "Unsupported input payload kind: %s" % js_string(kind)


def js_string(v):
    """String(v) as JavaScript writes it."""
    if v is None:
        return "undefined"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return "[object Object]" if isinstance(v, dict) else \
            ",".join(js_string(x) for x in v)
    return str(v)


def runtime_start_error(c):
    """isRuntimeStartCommand, for the fields the fake models."""
    checks = (
        ("agent_id", is_str), ("conversation_id", is_str),
        ("create_conversation",
         lambda v: is_obj(v) and opt(v, "body", is_obj)),
        ("conversation_source_tags", is_str_list),
        ("mode", lambda v: v in MODES),
        ("skill_sources",
         lambda v: isinstance(v, list) and all(s in SKILL_SOURCES
                                               for s in v)),
        ("preserve_skill_sources", is_bool),
        ("client_info", lambda v: is_obj(v) and is_str(v.get("name")) and
         opt(v, "title", is_str) and opt(v, "version", is_str)),
        ("recover_approvals", is_bool), ("force_device_status", is_bool),
        ("wait_for_replay", is_bool))
    for key, check in checks:
        if key in c and not check(c[key]):
            return "bad %s" % key
    if "cwd" in c and c["cwd"] is not None and not is_str(c["cwd"]):
        return "bad cwd"
    return None


def request_id_ok(c):
    return is_str(c.get("request_id"))


def structural_error(c):
    """Why the real server would not recognise this frame as its type
    (None when it would)."""
    t = c.get("type")
    if t == "app_server_info":
        return None if is_str(c.get("request_id")) and c["request_id"] \
            else "request_id must be a non-empty string"
    if t in ("agent_list", "conversation_list"):
        return None if request_id_ok(c) and opt(c, "query", is_obj) \
            else "needs request_id and an optional object query"
    if t in ("agent_create", "conversation_create"):
        return None if request_id_ok(c) and is_obj(c.get("body")) \
            else "needs request_id and an object body"
    if t == "agent_update":
        return None if request_id_ok(c) and is_str(c.get("agent_id")) and \
            is_obj(c.get("body")) else "needs request_id, agent_id, body"
    if t in ("agent_delete", "agent_retrieve"):
        return None if request_id_ok(c) and is_str(c.get("agent_id")) \
            else "needs request_id and agent_id"
    if t == "conversation_retrieve":
        return None if request_id_ok(c) and is_str(c.get("conversation_id"))\
            else "needs request_id and conversation_id"
    if t == "conversation_messages_list":
        return None if request_id_ok(c) and \
            is_str(c.get("conversation_id")) and opt(c, "query", is_obj)\
            else "needs request_id, conversation_id, optional object query"
    if t == "runtime_start":
        return "needs request_id" if not request_id_ok(c) else \
            runtime_start_error(c)
    if t in ("abort_message", "sync", "resume_queue"):
        return scoped_error(c)
    return None


def scoped_error(c):
    if not runtime_scope_ok(c.get("runtime")):
        return "needs a valid runtime"
    if not opt(c, "request_id", is_str):
        return "request_id must be a string"
    t = c["type"]
    if t == "abort_message" and c.get("run_id") is not None and \
            not is_str(c["run_id"]):
        return "run_id must be a string or null"
    if t == "sync":
        for key in ("recover_approvals", "resume_interrupted_turn",
                    "force_device_status"):
            if not opt(c, key, is_bool):
                return "%s must be a boolean" % key
    return None


def parsed_scope(c):
    """getParsedRuntimeScope: the scope a frame subscribes its connection
    to (any frame with a runtime whose agent_id is null or a string)."""
    rt = c.get("runtime")
    if not is_obj(rt):
        return None
    agent = rt.get("agent_id")
    if agent is not None and not is_str(agent):
        return None
    if "agent_id" not in rt:
        return None
    conv = rt.get("conversation_id")
    return (agent, conv if is_str(conv) else "default")


def parse(data):
    try:
        c = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return Parsed(error="malformed JSON: dropped")
    parsed = classify(c)
    parsed.frame = c
    return parsed


def classify(c):
    if not is_obj(c):
        return Parsed(error="not a JSON object: dropped")
    t = c.get("type")
    if t in LIFECYCLE:
        return Parsed()
    if t == "input":
        return parse_input(c)
    if t in UNSUPPORTED:
        return Parsed(error="unsupported by the fake: %s" % t)
    if t not in HANDLED:
        return Parsed(error="unknown type %r: dropped" % (t,))
    bad = structural_error(c)
    if bad:
        return Parsed(error="invalid %s (%s): dropped" % (t, bad))
    if t == "runtime_start":
        extra = [k for k in RUNTIME_START_UNSUPPORTED if k in c]
        if extra:
            return Parsed(error="unsupported by the fake: runtime_start "
                          "with %s" % ", ".join(extra))
    return Parsed(command=c, scope=parsed_scope(c))


def parse_input(c):
    if not runtime_scope_ok(c.get("runtime")):
        return Parsed(error="invalid input (runtime): dropped")
    rid = c.get("request_id")
    scope = parsed_scope(c)
    if rid is not None and not (is_str(rid) and rid):
        # isInputCommand fails; getInvalidInputReason passes: the payload
        # decides whether a loop_error comes.
        reason = input_violation(c)
        if reason is None:
            return Parsed(error="invalid input (request_id): dropped")
        return Parsed(reason=reason, scope=scope, error=reason)
    reason = input_violation(c)
    if reason is not None:
        return Parsed(reason=reason, scope=scope, error=reason)
    if c["payload"]["kind"] == "teleport_continue":
        return Parsed(error="unsupported by the fake: teleport_continue")
    return Parsed(command=c, scope=scope)
