"""The state frames of a conversation (`update_device_status`,
`update_loop_status`, `update_queue`, `update_subagent_state` payloads),
built from a conversation runtime as the App Server builds them
(letta.js 0.32.18, protocol-outbound.ts). The constant parts are those
recorded from the real server (shared/reference/letta-app-server).
"""

import os

CONNECTION_NAME = "fake-app-server"
TOOLSETS = [
    {"id": "auto", "display_name": "Auto", "label": "Auto",
     "description": "Auto-select based on the model", "is_featured": True},
    {"id": "letta", "display_name": "Letta", "label": "Letta toolset",
     "description": "Experimental unified toolset for every model",
     "is_featured": True},
    {"id": "none", "display_name": "None", "label": "None",
     "description": "Empty built-in preset; keeps connected tools",
     "is_featured": True},
    {"id": "default", "display_name": "Claude", "label": "Claude toolset",
     "description": "Optimized for Anthropic models, recommended for all "
     "non-OpenAI models", "is_featured": True},
    {"id": "codex", "display_name": "Codex", "label": "Codex toolset",
     "description": "Optimized for GPT/Codex models", "is_featured": True}]
EXPERIMENTS = [
    ("artifacts", "artifacts", "Expose Letta Code Desktop artifact creation "
     "tools and artifact UI surfaces.", "LETTA_ARTIFACTS"),
    ("conversation_titles", "conversation titles", "Generate AI "
     "conversation titles automatically when possible.", None),
    ("desktop_conversation_bootstrap", "conversation bootstrap", "Inject "
     "lightweight prior-conversation context into the first turn of "
     "brand-new Letta Code conversations.", None),
    ("diffs", "diffs", "Open browser-based worktree diff previews powered "
     "by Diffs from Pierre.", None),
    ("reflection_arena", "reflection arena", "Run blind A/B comparisons "
     "between reflection models on the same transcript sample.",
     "LETTA_REFLECTION_ARENA"),
    ("tui_cron", "TUI cron scheduler", "Fire scheduled tasks from the CLI "
     "when the desktop app isn't running.", None)]
LOADED_TOOLS = ["AskUserQuestion", "Bash", "Monitor", "EnterWorktree",
                "ExitWorktree", "SetWorkingDirectory", "Edit", "TaskStop",
                "memory", "Read", "Skill", "Workflow", "Agent",
                "SendAgentMessage", "TaskCreate", "TaskGet", "TaskList",
                "TaskUpdate", "Write"]
SUPPORTED_COMMANDS = ["clear", "clear-messages", "doctor", "dream",
                      "reflect", "reflection", "init", "compact", "reload",
                      "context-limit", "channels", "upgrade-letta-code",
                      "toolset", "secret", "monitor_stop"]
BOOT_DIR = os.getcwd()


def experiments():
    out = []
    for ident, label, description, env in EXPERIMENTS:
        item = {"id": ident, "label": label, "description": description}
        if env:
            item["envVar"] = env
        item.update(enabled=False, source="default", override=None)
        out.append(item)
    return out


def device_status(agent_id, rt, mode, cwd, tools_loaded):
    """`rt` is None when the conversation has no live runtime (idle)."""
    pending = []
    if rt and rt.approval is not None:
        pending = [{"request_id": rt.approval.request_id,
                    "request": rt.approval.frame["request"]}]
    workdir = cwd or BOOT_DIR
    return {
        "current_connection_id": "app-server",
        "connection_name": CONNECTION_NAME, "is_online": True,
        "is_processing": bool(rt and rt.turn is not None),
        "current_permission_mode": mode,
        "current_working_directory": workdir, "git_context": None,
        "letta_code_version": None,
        "current_toolset": "default" if tools_loaded else None,
        "current_toolset_preference": "auto",
        "available_toolsets": [dict(t) for t in TOOLSETS],
        "current_loaded_tools": list(LOADED_TOOLS) if tools_loaded else [],
        "current_available_skills": [], "background_processes": [],
        "pending_control_requests": pending, "experiments": experiments(),
        "memory_directory": os.path.join(BOOT_DIR, "state", "memfs",
                                         agent_id, "memory")
        if agent_id else None,
        "cwd_revision": 0, "should_doctor": False,
        "supported_commands": list(SUPPORTED_COMMANDS),
        "reflection_settings": {
            "agent_id": agent_id, "trigger": "step-count", "step_count": 25,
            "merge": "auto", "merge_instructions": ""} if agent_id else None}


def loop_status(rt, correlations):
    """`correlations`: run id -> client_message_ids, the conversation's
    recent runs (kept by the listener, beyond the runtime's life)."""
    out = {"status": rt.loop, "active_run_ids":
           [rt.run_id] if rt.run_id else []}
    if correlations:
        out["client_message_ids_by_run_id"] = {
            run: list(ids) for run, ids in correlations.items()}
    out["executing_tool_call_ids"] = list(rt.executing) \
        if rt.loop == "EXECUTING_CLIENT_SIDE_TOOL" else []
    return out


def queue_snapshot(rt):
    out = []
    for item in rt.queue:
        entry = {"id": item.id, "client_message_id": item.client_message_id,
                 "kind": "message", "source": "user",
                 "content": item.content, "enqueued_at": item.enqueued_at}
        if rt.queue_paused:
            entry["paused"] = True
        out.append(entry)
    return out
