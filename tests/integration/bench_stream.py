"""Benchmark (not a test): edits per streamed answer (issue 12). Prints
`bench <name>: <figure>` lines.

    /usr/bin/python3 tests/integration/bench_stream.py [ROOMS]

For each case, ROOMS agents (default 5) answer one question each at the
same time, streaming; lettamx runs with the default [bridge] stream
settings (shown live after 3 s, at most one edit a second, 20 edits):

  steady_10s   ten steps, one a second (the issue's 10 s answer);
  fast_10s     forty steps, one every 250 ms (more news than edits);
  limited_10s  the 10 s answer with a tight message rate limit on the
               fake homeserver (0.5 messages/s per user, burst 3: the
               agent users get 429s; Synapse's stock 0.2/s with a burst
               of 10 is not reached by one answer's edits);
  quick_1s     two steps 500 ms apart (no edit expected).

For each: edits per answer (median and max, the final edit included),
the smallest gap between two edits of one answer, when the first message
showed (median seconds after the turn reached Letta), the 429s the edits met, and
whether every answer ended equal to the agent's whole text.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import HERE, Quiet  # noqa: E402,F401

from bridge_env import REPLY_TO, BridgeEnv  # noqa: E402



def steps(n, gap_ms):
    return {"mode": "messages", "stream_delay_ms": gap_ms,
            "messages": [{"type": "assistant", "text": "step %d" % (i + 1)}
                         for i in range(n)]}


def full(n):
    return "\n\n".join("step %d" % (i + 1) for i in range(n))


CASES = [("steady_10s", 10, 1000, False), ("fast_10s", 40, 250, False),
         ("limited_10s", 10, 1000, True), ("quick_1s", 2, 500, False)]


def run_case(name, nsteps, gap, limited, rooms):
    env = BridgeEnv(Quiet(), n=rooms, bridge={"stream_after": "3s"},
                    scripts={i: steps(nsteps, gap) for i in range(rooms)})
    try:
        if limited:
            env.hs.configure(rate_limit={"enabled": True, "per_second": 0.5,
                                         "burst": 3})
        asked = {}
        for a in env.ids:
            asked[a] = env.say(a, "go")
        want = full(nsteps)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(any(x["content"]["body"] == want
                       for x in env.answers(a, asked[a])) for a in env.ids):
                break
            time.sleep(0.2)
        time.sleep(1.5)
        puts = env.hs.requests("PUT", "/send/m.room.message/")
        # when each turn reached Letta (both fakes log CLOCK_MONOTONIC)
        t_ask = {a: min(r["time"] for r in env.letta.requests(
            "POST", "^/v1/agents/%s/messages" % a)) for a in env.ids}
        edits, gaps, firsts, ok = [], [], [], 0
        refused = 0
        for a in env.ids:
            au = env.agent_user(a)
            mine = sorted([r for r in puts if r.get("user") == au],
                          key=lambda r: r["time"])
            refused += sum(1 for r in mine if r["status"] == 429)
            good = [r for r in mine if r["status"] == 200 and
                    r["body"].get(REPLY_TO) == asked[a]]
            ed = [r for r in good if (r["body"].get("m.relates_to") or {})
                  .get("rel_type") == "m.replace"]
            first = [r for r in good if "m.relates_to" not in r["body"]]
            edits.append(len(ed))
            gaps += [b["time"] - p["time"] for p, b in zip(ed, ed[1:])]
            if first:
                firsts.append(first[0]["time"] - t_ask[a])
            shown = env.answers(a, asked[a])
            ok += len(shown) == 1 and shown[0]["content"]["body"] == want
        print("bench stream_edits_%s: %s edits per answer (max %d) over %d "
              "answers of %d steps %d ms apart; smallest gap between edits "
              "%s s; first message %.2f s after the turn reached Letta (median); %d edits refused "
              "with 429; %d/%d answers ended whole"
              % (name, statistics.median(edits), max(edits), rooms, nsteps,
                 gap, "%.2f" % min(gaps) if gaps else "-",
                 statistics.median(firsts) if firsts else 0.0, refused, ok,
                 rooms))
    finally:
        env.close()


def main():
    rooms = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for case in CASES:
        run_case(*case, rooms=rooms)


if __name__ == "__main__":
    main()
