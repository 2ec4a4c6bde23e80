#!/usr/bin/env python3
"""make demo: lettamx between a fake homeserver and a fake Letta.

Starts both fakes (standard library only, tools/), gives the fake Letta
three agents, runs the real `lettamx run`, writes a question as a person
(alice) in the helpdesk agent's room and prints the room as alice sees
it: who said what, in order. Then stops everything.

    python3 tests/demo/demo.py --lettamx build/x86_64/lettamx
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import lettamx  # noqa: E402
from fakes import FakeHomeserver, FakeLetta  # noqa: E402

AGENTS = [
    ("helpdesk", "Answers IT questions", {"mode": "messages", "delay_ms": 800,
     "messages": [
         {"type": "reasoning", "text": "The user wants a VPN reset."},
         {"type": "tool_call", "name": "reset_vpn_token",
          "arguments": "{\"user\": \"alice\"}"},
         {"type": "tool_return", "text": "ok"},
         {"type": "assistant", "text": "Done: your VPN token was reset. "
          "The new one is in your mailbox."}]}),
    ("librarian", "Finds papers", {"mode": "echo",
                                   "prefix": "Looking for: "}),
    ("poet", "Writes short poems", {"mode": "text",
                                    "text": "Roses are red, tokens are new."}),
]
QUESTION = "Hi! Can you reset my VPN token?"


def wait(what, timeout, daemon):
    deadline = time.monotonic() + timeout
    while not what():
        if daemon.proc.poll() is not None or time.monotonic() > deadline:
            sys.stderr.write(daemon.output())
            raise SystemExit("demo: lettamx did not get there")
        time.sleep(0.1)


def secret(work, name, value):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lettamx", required=True)
    args = ap.parse_args()
    os.environ["LETTAMX_BIN"] = os.path.abspath(args.lettamx)
    with FakeHomeserver() as hs, FakeLetta() as letta, \
            lettamx.Workdir() as work:
        bot = hs.human_register("lettamx", password="bot-pw")
        alice = hs.human_register("alice", displayname="Alice")["user_id"]
        for name, desc, script in AGENTS:
            letta.add_agent(name, description=desc, script=script)
        conf = lettamx.default_config(work, hs, letta)
        conf["matrix"].update({
            "bot_user": bot["user_id"], "registration": "dummy",
            "bot_token_file": secret(work, "bot.token", bot["access_token"]),
            "invite": alice})
        conf["log"] = {"level": "warn"}
        path = lettamx.write_config(work, conf)
        print("fake homeserver %s, fake Letta %s with %d agents"
              % (hs.url, letta.url, len(AGENTS)))
        print("starting: lettamx run -c %s" % path)
        d = lettamx.Daemon(["run"], path)
        try:
            rooms = {}

            def provisioned():
                for room in hs.rooms():
                    full = hs.room(room["room_id"])
                    for ev in full.get("state", []):
                        if ev["type"] == "org.lettamx.agent":
                            rooms[full["room_id"]] = ev["content"]
                return len(rooms) >= len(AGENTS)
            wait(provisioned, 30, d)
            by_name = {}
            users = {u["user_id"]: u.get("displayname") or u["user_id"]
                     for u in hs.control("GET", "users")["users"]}
            for room_id in rooms:
                hs.human_join(alice, room_id)
                for ev in hs.room(room_id).get("state", []):
                    if ev["type"] == "m.room.name":
                        by_name[ev["content"]["name"]] = room_id
            room = by_name["helpdesk"]
            # the bridge's first sync is over when it long-polls with a
            # token: what was in the rooms before is history
            wait(lambda: any("since" in r["query"] for r in
                             hs.requests("GET", "/sync$")), 30, d)
            print("alice writes in the helpdesk room (%s)" % room)
            ev = hs.human_send(alice, room, QUESTION)

            def answered():
                return [e for e in hs.human_read(alice, room)
                        if e["content"].get("org.lettamx.reply_to") == ev]
            wait(answered, 30, d)
            time.sleep(0.3)
            print()
            print("--- the helpdesk room, as Alice sees it ---")
            for e in hs.human_read(alice, room):
                if e["type"] != "m.room.message":
                    continue
                who = users.get(e["sender"], e["sender"])
                print("%-10s %s" % (who + ":", e["content"]["body"]))
            print("-------------------------------------------")
            status = d.stop()
            print("lettamx stopped (exit status %d)" % status)
            return 0 if status == 0 else 1
        finally:
            d.stop()


if __name__ == "__main__":
    sys.exit(main())
