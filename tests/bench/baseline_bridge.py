"""The baseline `make bench` compares lettamx with: the smallest bridge a
Python user of the seeds' stack (matrix-nio and aiohttp, from Debian)
would write. Not a test, not a strawman: what a competent user writes in
an afternoon.

    /usr/bin/python3 tests/bench/baseline_bridge.py --homeserver URL \
        --user @bot:example.org --password-file F --letta URL \
        [--letta-token-file F]

One bot logs in and syncs. A room belongs to the agent its
`org.lettamx.agent` state event names (read from the first, full-state
sync, and from later state changes). Each person's m.text goes to that
agent (POST /v1/agents/{id}/messages); the agent's assistant messages go
back into the room, sent by the bot. History from before the start is
not answered. One turn at a time per room (an asyncio.Lock), any number
of rooms at once.

What it leaves out, as such a bridge does: a reply is sent as the bot
(not as the agent's own user), no typing or read receipts, no retries,
nothing persisted (a restart skips what arrived while it was down).
"""

import argparse
import asyncio
import collections
import sys

import aiohttp
import nio

MARKER = "org.lettamx.agent"


class Bridge:
    def __init__(self, args):
        self.args = args
        self.client = nio.AsyncClient(args.homeserver, args.user)
        self.agent_of = {}                      # room id -> agent id
        self.locks = collections.defaultdict(asyncio.Lock)
        self.tasks = set()
        headers = {}
        if args.letta_token_file:
            headers["Authorization"] = "Bearer " + read_secret(
                args.letta_token_file)
        # aiohttp's default pool (100 connections) would make the 101st
        # slow agent wait for another's turn; a bridge for many agents
        # lifts it.
        self.letta = aiohttp.ClientSession(
            base_url=args.letta, headers=headers,
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=300))

    async def run(self):
        resp = await self.client.login(read_secret(self.args.password_file))
        if not isinstance(resp, nio.LoginResponse):
            sys.exit("baseline: login failed: %s" % resp)
        first = await self.client.sync(timeout=0, full_state=True)
        if not isinstance(first, nio.SyncResponse):
            sys.exit("baseline: first sync failed: %s" % first)
        for room_id, info in first.rooms.join.items():
            for ev in info.state + info.timeline.events:
                self.note_marker(room_id, ev)
        print("baseline: %d agent rooms" % len(self.agent_of), flush=True)
        self.client.add_event_callback(self.on_message, nio.RoomMessageText)
        self.client.add_event_callback(self.on_state, nio.UnknownEvent)
        await self.client.sync_forever(timeout=30000)

    def note_marker(self, room_id, ev):
        src = ev.source
        if src.get("type") == MARKER and src.get("state_key") == "":
            agent = src.get("content", {}).get("agent_id")
            if isinstance(agent, str):
                self.agent_of[room_id] = agent

    async def on_state(self, room, ev):
        self.note_marker(room.room_id, ev)

    async def on_message(self, room, ev):
        if ev.sender == self.client.user_id:
            return
        agent = self.agent_of.get(room.room_id)
        if agent is None:
            return
        # Answer in the background: a slow agent must not hold up sync.
        task = asyncio.create_task(self.answer(room.room_id, agent, ev))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def answer(self, room_id, agent, ev):
        async with self.locks[room_id]:
            try:
                reply = await self.ask(agent, ev)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                reply = "Sorry, the agent could not answer (%s)." % exc
            await self.client.room_send(room_id, "m.room.message", {
                "msgtype": "m.text", "body": reply})

    async def ask(self, agent, ev):
        body = {"messages": [{"role": "user", "content": ev.body,
                              "name": ev.sender}]}
        async with self.letta.post("/v1/agents/%s/messages" % agent,
                                   json=body) as resp:
            resp.raise_for_status()
            data = await resp.json()
        texts = [m.get("content") for m in data.get("messages", [])
                 if m.get("message_type") == "assistant_message"]
        return "\n\n".join(t for t in texts if isinstance(t, str)) or \
            "(no answer: %s)" % data.get("stop_reason", {}).get("stop_reason")

    async def close(self):
        await self.letta.close()
        await self.client.close()


def read_secret(path):
    with open(path) as f:
        return f.read().strip()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--letta", required=True)
    parser.add_argument("--letta-token-file")
    bridge = Bridge(parser.parse_args())
    try:
        await bridge.run()
    finally:
        await bridge.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
