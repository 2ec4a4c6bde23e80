"""lettamx run: a gap the bridge could not wholly catch up is told to the
room. While lettamx is stopped, messages come into an agent room; the
next /sync is limited and the gap is fetched with /messages. When that
stops short (more than LIM_SYNC_CATCHUP = 1,000 events, the homeserver
refusing the history, an unreadable event), the room gets one notice from
the agent user, never a second one for the same gap, and the newest
messages are still answered."""

import secrets
import signal
import unittest
import urllib.request

from bridge_env import REPLY_TO
from fakes import q
from test_bridge import BridgeTest
from test_run import free_port

BOUND_WORDS = "than it catches up on (1,000)"
HISTORY_WORDS = "the homeserver did not give it the older ones"
UNREADABLE_WORDS = "that it could not read"
PAGES = "/rooms/.*/messages$"     # the catch-up's (and the outbox check's)


class CatchUp(BridgeTest):
    def notices(self, env, a, words):
        """The agent user's notices in a's room that say `words`."""
        return [e for e in env.answers(a, msgtype="m.notice")
                if words in e["content"]["body"]]

    def send_acts(self, env, a, texts, msgtype="m.text"):
        """Messages from alice, in one batch of the fake (the long-polls
        sleep until all are in); their event ids, oldest first."""
        if not texts:
            return []
        room = q(env.room_of[a])
        acts = [{"as": env.uid("alice"), "method": "PUT",
                 "path": "/_matrix/client/v3/rooms/%s/send/m.room.message/"
                         "%s-%d" % (room, secrets.token_hex(8), i),
                 "body": {"msgtype": msgtype, "body": t}}
                for i, t in enumerate(texts)]
        res = env.hs.control("POST", "acts", {"acts": acts})["results"]
        self.assertEqual([r["status"] for r in res], [200] * len(acts))
        return [r["body"]["event_id"] for r in res]

    def away(self, env, a, lost, filler, newest):
        """While stopped: `lost` questions, then `filler` notices from
        alice (not for the agent, but fetched), then `newest` questions.
        Returns (lost ids, newest ids)."""
        self.assertEqual(env.d.stop(signal.SIGTERM), 0, env.d.output())
        env.d = None
        old = self.send_acts(env, a, ["lost %d" % i for i in range(lost)])
        self.send_acts(env, a, ["filler %d" % i for i in range(filler)],
                       "m.notice")
        new = self.send_acts(env, a, ["newest %d" % i
                                      for i in range(newest)])
        return old, new

    def small_gap(self):
        """A stopped bridge with one agent room and a gap of 2 questions,
        60 notices and 2 questions: (env, agent, lost ids, newest ids)."""
        env = self.env(n=1)
        a0 = env.ids[0]
        return (env, a0) + self.away(env, a0, 2, 60, 2)

    def told_once(self, env, a, lost, newest, words):
        """Starts lettamx after the gap: the newest questions answered,
        the lost ones not, one notice that says `words`; returns it."""
        env.start(first=False)
        for ev in newest:
            env.wait_answer(a, ev, 60)
        told = env.wait(lambda: self.notices(env, a, words), 30)
        self.assertEqual(len(told), 1, told)
        self.assertEqual(told[0]["sender"], env.agent_user(a))
        for ev in lost:
            self.assertEqual(env.answers(a, ev), [])
        return told[0]

    def metric(self, port, name):
        body = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def test_a_gap_over_the_bound_is_told_once_across_kills(self):
        port = free_port()
        env = self.env(n=1, conf={"http": {"listen": "127.0.0.1:%d" % port}})
        a0 = env.ids[0]
        room = env.room_of[a0]
        # 3 questions, 1,060 notices, 2 questions: the sync's 50 and
        # 1,000 from /messages reach back to filler 15, not to "lost"
        lost, newest = self.away(env, a0, 3, 1060, 2)
        # 1. killed in the middle of the catch-up (pages slowed down):
        # nothing of it was stored, the next start does it all again
        env.hs.inject_fault("GET", PAGES, count=-1,
                            delay_ms=300)
        env.start(first=False)
        pages = "/rooms/%s/messages" % q(room)
        env.wait(lambda: len(env.hs.requests("GET", pages)) >= 5, 30)
        env.d.stop(signal.SIGKILL)
        self.assertNotIn("event=catch_up_incomplete", env.d.output())
        env.d = None
        env.hs.clear_faults()
        self.assertEqual(self.notices(env, a0, BOUND_WORDS), [])
        # 2. killed with the notice stored but not yet posted (every post
        # of the agent user refused): it is posted after the restart
        env.hs.inject_fault("PUT", "/send/m.room.message/", count=-1,
                            status=500, body={"errcode": "M_UNKNOWN"})
        env.start(first=False)
        env.wait(lambda: [r for r in env.hs.requests("PUT", "/send/")
                          if r["status"] == 500 and BOUND_WORDS in
                          str(r.get("body"))], 60)
        # counted once it is stored (the count is not kept across runs)
        self.assertEqual(self.metric(
            port, 'lettamx_catch_up_incomplete_total{reason="bound"}'), 1)
        env.d.stop(signal.SIGKILL)
        env.d = None
        env.hs.clear_faults()
        notice = self.told_once(env, a0, lost, newest, BOUND_WORDS)
        self.assertNotIn("m.relates_to", notice["original"])
        self.assertNotIn(REPLY_TO, notice["original"])
        self.assertIn("Send again anything it should answer.",
                      notice["content"]["body"])
        # the notice comes before the answers to the newest questions
        order = [e["event_id"] for e in env.answers(a0, msgtype="m.notice")
                 + env.answers(a0)]
        firsts = [e["event_id"] for e in env.timeline(a0)
                  if e["event_id"] in order]
        self.assertEqual(firsts[0], notice["event_id"])
        self.assertEqual(len(env.sends(a0)), len(newest))
        # 3. a plain restart: the gap is behind the stored token
        self.assertEqual(env.d.stop(signal.SIGTERM), 0, env.d.output())
        env.d = None
        env.start(first=False)
        ev = env.say(a0, "after the restart")
        env.wait_answer(a0, ev, 30)
        self.assertEqual(len(self.notices(env, a0, BOUND_WORDS)), 1)
        self.assertNotIn("event=catch_up_incomplete", env.d.output())

    def test_history_the_homeserver_refuses_is_told(self):
        env, a0, lost, newest = self.small_gap()
        # one 500 is tried again; the 403 that follows is final (the
        # requests after it, the agent user's reading back of the room
        # before it posts, are answered)
        env.hs.inject_fault("GET", PAGES, count=1,
                            status=500, body={"errcode": "M_UNKNOWN"})
        env.hs.inject_fault("GET", PAGES, count=1,
                            status=403, body={"errcode": "M_FORBIDDEN",
                                              "error": "history not "
                                              "visible"})
        self.told_once(env, a0, lost, newest, HISTORY_WORDS)
        pages = env.hs.requests("GET", PAGES)
        # the catch-up's pages (back to the stored token): given up at
        # the 403, not tried again
        gap = [p["status"] for p in pages if "to" in p["query"]]
        self.assertEqual(gap, [500, 403])
        self.assertIn("event=catch_up_refused", env.d.output())

    def test_an_unreadable_page_is_told(self):
        env, a0, lost, newest = self.small_gap()
        # a page of 50 that cannot be read, then the same as a page of
        # one event: given up there
        env.hs.inject_fault("GET", PAGES, count=2,
                            status=200, raw_body_hex="7b226368756e6b22")
        self.told_once(env, a0, lost, newest, UNREADABLE_WORDS)
        self.assertIn("event=catch_up_page_unreadable", env.d.output())

    def test_a_gap_caught_up_whole_is_not_told(self):
        env = self.env(n=1, bridge={"queue_limit": 200})
        a0 = env.ids[0]
        old, new = self.away(env, a0, 60, 0, 0)
        # one 500: tried again, then the history comes
        env.hs.inject_fault("GET", PAGES, count=1,
                            status=500, body={"errcode": "M_UNKNOWN"})
        env.start(first=False)
        for ev in old:
            env.wait_answer(a0, ev, 60)
        self.assertEqual(env.answers(a0, msgtype="m.notice"), [])
        self.assertNotIn("event=catch_up_incomplete", env.d.output())


if __name__ == "__main__":
    unittest.main()
