"""A running bridge against the fakes, for the bridge tests: agents with
rooms, a person (alice) in each room, and helpers that read the rooms as
that person sees them."""

import os
import time

import lettamx
from test_provision import Env

REPLY_TO = "org.lettamx.reply_to"


class BridgeEnv(Env):
    """Fakes, `n` agents provisioned by a running `lettamx run`, alice
    joined to every agent room, the first sync done."""

    def __init__(self, test, n=1, bridge=None, scripts=None, people=("alice",),
                 conf=None, start=True, letta=None, **env_kw):
        self.people = {}
        conf = dict(conf or {})
        conf.setdefault("bridge", {}).update(bridge or {})
        # Answers are read as they stream; shown live only in the tests
        # of live answers (they set stream_after themselves).
        conf["bridge"].setdefault("stream_after", "120s")
        hs_people = ["@%s:localhost" % p for p in people]
        conf.setdefault("matrix", {})["invite"] = ", ".join(hs_people)
        super().__init__(test, conf=conf, letta=letta, **env_kw)
        for p in people:
            self.people[p] = self.hs.human_register(p, displayname=p.title())
        self.ids = [self.letta.add_agent("agent %d" % i,
                                         script=(scripts or {}).get(i))["id"]
                    for i in range(n)]
        self.d = None
        if start:
            self.start()

    def uid(self, person):
        return self.people[person]["user_id"]

    def agent_user(self, agent_id):
        return "@letta_%s:%s" % (agent_id, self.hs.server_name)

    def start(self, first=True):
        self.d = lettamx.Daemon(["run"], self.conf)
        mark = self.d.output().count("event=live")
        self.wait(lambda: "event=live" in self.d.output(), 30)
        if first:
            self.room_of = {a: r[0] for a, r in self.markers().items()}
            for room in self.room_of.values():
                for p in self.people:
                    try:
                        self.hs.human_join(self.uid(p), room)
                    except Exception:
                        pass
            self.wait(lambda: "event=first_sync" in self.d.output(), 30)
        return mark

    def wait(self, what, timeout=30, step=0.05):
        deadline = time.monotonic() + timeout
        while True:
            got = what()
            if got:
                return got
            if self.d is not None and self.d.proc.poll() is not None:
                self.test.fail("lettamx exited:\n" + self.d.output()[-4000:])
            if time.monotonic() > deadline:
                if self.d is not None and os.environ.get("LETTAMX_DUMP"):
                    with open(os.environ["LETTAMX_DUMP"], "w") as f:
                        f.write(self.d.output())
                self.test.fail("timed out waiting; lettamx said:\n"
                               + (self.d.output()[-4000:] if self.d else ""))
            time.sleep(step)

    def say(self, agent_id, text, person="alice", **extra):
        return self.hs.human_send(self.uid(person), self.room_of[agent_id],
                                  text, **extra)

    def timeline(self, agent_id, person="alice", limit=1000):
        return self.hs.human_read(self.uid(person), self.room_of[agent_id],
                                  limit)

    def answers(self, agent_id, event_id=None, msgtype="m.text"):
        """Events of the agent user answering (event_id: that question),
        as a client shows them: an edited event with the content of its
        newest edit (m.new_content; its edits, in order, under
        "edits"), the edits themselves not listed."""
        au = self.agent_user(agent_id)
        events = [e for e in self.timeline(agent_id)
                  if e["type"] == "m.room.message" and e["sender"] == au]
        edits = {}
        for e in events:
            rel = e["content"].get("m.relates_to") or {}
            if rel.get("rel_type") == "m.replace":
                edits.setdefault(rel.get("event_id"), []).append(e)
        out = []
        for e in events:
            rel = e["content"].get("m.relates_to") or {}
            if rel.get("rel_type") == "m.replace":
                continue
            mine = edits.get(e["event_id"], [])
            shown = dict(e)
            if mine:
                last = mine[-1]["content"]
                shown["content"] = dict(last["m.new_content"],
                                        **{REPLY_TO: last.get(REPLY_TO)})
                if "m.relates_to" in e["content"]:
                    shown["content"]["m.relates_to"] = \
                        e["content"]["m.relates_to"]
            shown["edits"] = mine
            shown["original"] = e["content"]
            if shown["content"].get("msgtype") == msgtype and (
                    event_id is None or
                    shown["content"].get(REPLY_TO) == event_id):
                out.append(shown)
        return out

    def wait_answer(self, agent_id, event_id, timeout=30, msgtype="m.text"):
        return self.wait(lambda: self.answers(agent_id, event_id, msgtype),
                         timeout, 0.1)[0]

    def sends(self, agent_id):
        """Letta sends to agent_id (the fake's log): their bodies."""
        return [r["body"] for r in self.letta.requests(
            "POST", "^/v1/agents/%s/messages(/stream)?$" % agent_id)]

    def close(self):
        if self.d is not None:
            self.d.stop()
        super().close()
