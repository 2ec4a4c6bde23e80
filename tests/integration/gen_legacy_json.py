#!/usr/bin/env python3
"""Writes a real-shaped agent_user_mappings.json of the Python bridge.

    gen_legacy_json.py [-n 67] [--server matrix.example.org] [--seed 1]
                       [--duplicate-room] [--duplicate-user]
                       [--unknown-field] [--truncate N] [-o FILE]

The shape is the bridge's own (json.dump(mappings, f, indent=2) of a dict
of AgentUserMapping dataclasses, keyed by agent id; see seeds 000/001):
agent_id, agent_name, matrix_user_id (@agent_<uuid with underscores>),
matrix_password, created (bool), room_id (or null), room_created (bool),
invitation_status ({user: "joined" | "invited" | "failed"} or null). Some
agents have no room yet, names carry non-ASCII letters (escaped by
json.dump), and the order is the insertion order, not sorted.
"""

import argparse
import json
import random
import string
import sys
import uuid

NAMES = ["Meridian", "Ops helper", "Führer des Wissens", "Café bot",
         "Research Δ", "Scribe", "Support (EU)", "Nøkken", "Planner",
         "日本語エージェント", "Archivist", "Dev \"quoted\" agent"]


def entry(rnd, server, i):
    aid = "agent-%s" % uuid.UUID(int=rnd.getrandbits(128), version=4)
    localpart = "agent_" + aid[len("agent-"):].replace("-", "_")
    has_room = i % 11 != 5          # a few agents never got their room
    room = ("!%s:%s" % ("".join(rnd.choice(string.ascii_letters)
                                for _ in range(18)), server)
            if has_room else None)
    invites = None
    if has_room:
        invites = {"@admin:%s" % server: rnd.choice(["joined", "invited"]),
                   "@letta:%s" % server: "joined"}
    return aid, {
        "agent_id": aid,
        "agent_name": "%s %d" % (NAMES[i % len(NAMES)], i),
        "matrix_user_id": "@%s:%s" % (localpart, server),
        "matrix_password": "".join(rnd.choice(string.ascii_letters +
                                              string.digits)
                                   for _ in range(24)),
        "created": True,
        "room_id": room,
        "room_created": has_room,
        "invitation_status": invites,
    }


def for_agents(agents, server, rooms=None, passwords=None):
    """The file as the legacy bridge left it for existing agents:
    agents [(id, name)], rooms {id: room id} (None: no room yet),
    passwords {id: password}."""
    rnd = random.Random(7)
    out = {}
    for i, (aid, name) in enumerate(agents):
        _, m = entry(rnd, server, i)
        m.update(agent_id=aid, agent_name=name,
                 matrix_user_id="@agent_%s:%s" % (
                     aid[len("agent-"):].replace("-", "_"), server))
        if passwords and aid in passwords:
            m["matrix_password"] = passwords[aid]
        room = (rooms or {}).get(aid)
        m["room_id"], m["room_created"] = room, room is not None
        out[aid] = m
    return out


def generate(n=67, server="matrix.example.org", seed=1, duplicate_room=False,
             duplicate_user=False, unknown_field=False):
    rnd = random.Random(seed)
    mappings = {}
    for i in range(n):
        aid, m = entry(rnd, server, i)
        mappings[aid] = m
    ids = list(mappings)
    if duplicate_room:              # a crashed cleanup left two claims
        mappings[ids[7]]["room_id"] = mappings[ids[3]]["room_id"]
        mappings[ids[7]]["room_created"] = True
    if duplicate_user:
        mappings[ids[9]]["matrix_user_id"] = mappings[ids[2]]["matrix_user_id"]
    if unknown_field:
        mappings[ids[0]]["last_seen"] = "2025-11-18T04:37:01"
    return mappings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=67)
    ap.add_argument("--server", default="matrix.example.org")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duplicate-room", action="store_true")
    ap.add_argument("--duplicate-user", action="store_true")
    ap.add_argument("--unknown-field", action="store_true")
    ap.add_argument("--truncate", type=int, default=0,
                    help="keep only the first N bytes")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    text = json.dumps(generate(a.n, a.server, a.seed, a.duplicate_room,
                               a.duplicate_user, a.unknown_field), indent=2)
    if a.truncate:
        text = text[:a.truncate]
    out = open(a.output, "w") if a.output else sys.stdout
    out.write(text)
    if a.output:
        out.close()


if __name__ == "__main__":
    main()
