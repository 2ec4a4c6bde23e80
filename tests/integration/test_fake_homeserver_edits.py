"""Self-tests of the fake homeserver for what streamed answers meet
(issue 12): edits (`m.replace`) shown as Synapse 1.67 shows them, the
65,536-byte event limit (413 M_TOO_LARGE) and the message rate limit on
edits. Kept apart from test_fake_homeserver.py, which is near the
1,000-line bound; the cases follow transcript-1.67-stock.json #41, #47,
#48, #49 and transcript-1.67.json #38, #39."""

import json

from fakes import q
from hs_case import C, HomeserverCase


class EditCase(HomeserverCase):
    def setUp(self):
        super().setUp()
        self.me, self.tok = self.register("bot")
        self.person, self.ptok = self.register("person")
        self.room = self.create_room(self.tok, name="R",
                                     invite=[self.person])
        self.join(self.ptok, self.room)

    def put(self, token, content, txn, etype="m.room.message"):
        return self.call("PUT", C + "/rooms/%s/send/%s/%s"
                         % (q(self.room), etype, txn), content, token)

    def edit(self, token, target, text, txn, **extra):
        new = dict({"msgtype": "m.text", "body": text}, **extra)
        return self.put(token, dict(new, body="* " + text, **{
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": target}}),
            txn)


class Edits(EditCase):
    def test_sync_shows_the_original_as_sent_and_the_edit_after_it(self):
        since = self.sync(self.tok)["next_batch"]
        first = self.send(self.ptok, self.room, "What is the VPN address?",
                          "p1").body["event_id"]
        res = self.edit(self.ptok, first, "What is the VPN host?", "p4")
        self.assertEqual(res.status, 200)
        edit_id = res.body["event_id"]
        self.assertNotEqual(edit_id, first)        # an event of its own
        timeline = self.sync(self.tok, since=since)["rooms"]["join"][
            self.room]["timeline"]
        self.assertFalse(timeline["limited"])
        evs = {e["event_id"]: e for e in timeline["events"]}
        # Synapse 1.67 bundles nothing in a gapless /sync timeline
        # (stock #47): the original as sent, the edit as sent.
        self.assertEqual(evs[first]["content"],
                         {"msgtype": "m.text",
                          "body": "What is the VPN address?"})
        self.assertNotIn("m.relations", evs[first]["unsigned"])
        self.assertEqual(evs[edit_id]["content"]["m.relates_to"],
                         {"rel_type": "m.replace", "event_id": first})
        self.assertEqual(evs[edit_id]["content"]["body"],
                         "* What is the VPN host?")
        self.assertEqual([e["event_id"] for e in timeline["events"]][-2:],
                         [first, edit_id])

    def test_messages_serve_the_edit_with_its_bundle(self):
        first = self.send(self.ptok, self.room, "typo", "p1").body["event_id"]
        edit_id = self.edit(self.ptok, first, "fixed", "p2").body["event_id"]
        chunk = self.messages(self.tok, self.room, limit=5)["chunk"]
        evs = {e["event_id"]: e for e in chunk}
        # transcript-1.67.json #39: the original with the new content and
        # the edit named in unsigned.m.relations; the edit as sent.
        self.assertEqual(evs[first]["content"], {"msgtype": "m.text",
                                                 "body": "fixed"})
        bundle = evs[first]["unsigned"]["m.relations"]["m.replace"]
        self.assertEqual((bundle["event_id"], bundle["sender"]),
                         (edit_id, self.person))
        self.assertEqual(bundle["origin_server_ts"],
                         evs[edit_id]["origin_server_ts"])
        self.assertEqual(evs[edit_id]["content"]["body"], "* fixed")
        self.assertEqual(chunk[0]["event_id"], edit_id)    # newest first

    def test_a_limited_sync_bundles_the_latest_edit(self):
        for i in range(3):
            self.send(self.tok, self.room, "filler %d" % i, "f%d" % i)
        answer = self.send(self.tok, self.room, "Thinking...",
                           "a1").body["event_id"]
        for n, text in enumerate(["Part one", "Part one and two"]):
            self.assertEqual(self.edit(self.tok, answer, text, "e%d" % n,
                                       format="org.matrix.custom.html",
                                       formatted_body="<p>%s</p>" % text)
                             .status, 200)
        filt = {"room": {"timeline": {"limit": 3}}}
        timeline = self.sync(self.tok, filter=json.dumps(filt))["rooms"][
            "join"][self.room]["timeline"]
        self.assertTrue(timeline["limited"])
        evs = {e["event_id"]: e for e in timeline["events"]}
        self.assertEqual(evs[answer]["content"]["body"], "Part one and two")
        self.assertIn("m.replace", evs[answer]["unsigned"]["m.relations"])
        # the agent's own edits carry its transaction ids
        txns = [e["unsigned"].get("transaction_id")
                for e in timeline["events"]]
        self.assertEqual(txns, ["a1", "e0", "e1"])

    def test_an_edit_of_someone_elses_message_is_not_applied(self):
        first = self.send(self.ptok, self.room, "mine", "p1").body["event_id"]
        self.assertEqual(self.edit(self.tok, first, "yours", "b1").status,
                         200)                      # stored, not applied
        evs = {e["event_id"]: e for e in
               self.messages(self.tok, self.room)["chunk"]}
        self.assertEqual(evs[first]["content"]["body"], "mine")
        self.assertNotIn("m.relations", evs[first]["unsigned"])


class TooLarge(EditCase):
    def test_over_65536_bytes_is_413_and_60000_pass(self):
        big = self.put(self.tok, {"msgtype": "m.text", "body": "x" * 70000},
                       "big")
        self.assertError(big, 413, "M_TOO_LARGE")
        self.assertEqual(big.body["error"], "event too large")
        ok = self.put(self.tok, {"msgtype": "m.text", "body": "y" * 60000},
                      "big2")
        self.assertEqual(ok.status, 200)
        bodies = [e["content"].get("body", "")[:1] for e in
                  self.messages(self.tok, self.room)["chunk"]
                  if e["type"] == "m.room.message"]
        self.assertEqual(bodies, ["y"])            # nothing of the 413
        # a refused transaction is not remembered: the same txn id with
        # a smaller body is a new event
        again = self.put(self.tok, {"msgtype": "m.text", "body": "z"}, "big")
        self.assertEqual(again.status, 200)
        self.assertNotEqual(again.body["event_id"], ok.body["event_id"])

    def test_an_edit_carries_the_text_twice(self):
        answer = self.send(self.tok, self.room, "...",
                           "a1").body["event_id"]
        # 35,000 bytes fit in a message, but an edit holds them in `body`
        # and in `m.new_content`: 70,000 bytes.
        self.assertEqual(self.put(self.tok, {"msgtype": "m.text",
                                             "body": "w" * 35000},
                                  "one").status, 200)
        self.assertError(self.edit(self.tok, answer, "w" * 35000, "e1"),
                         413, "M_TOO_LARGE")
        self.assertEqual(self.edit(self.tok, answer, "w" * 30000,
                                   "e2").status, 200)

    def test_bytes_counted_as_utf8_not_as_sent(self):
        # 22,000 euro signs: 66,000 bytes of UTF-8 (the request, with
        # \\u20ac escapes, is 132,000), 20,000 of them: 60,000 bytes.
        self.assertError(self.put(self.tok, {"msgtype": "m.text",
                                             "body": "\u20ac" * 22000},
                                  "e1"), 413, "M_TOO_LARGE")
        self.assertEqual(self.put(self.tok, {"msgtype": "m.text",
                                             "body": "\u20ac" * 20000},
                                  "e2").status, 200)

    def test_state_events_have_the_limit_too(self):
        res = self.call("PUT", C + "/rooms/%s/state/org.example.big/"
                        % q(self.room), {"v": "s" * 70000}, self.tok)
        self.assertError(res, 413, "M_TOO_LARGE")


class EditRateLimit(EditCase):
    def test_edits_spend_the_message_bucket(self):
        answer = self.send(self.tok, self.room, "...", "a1").body["event_id"]
        self.hs.configure(rate_limit={"enabled": True, "per_second": 0.5,
                                      "burst": 2})
        self.assertEqual(self.edit(self.tok, answer, "one", "e1").status,
                         200)
        self.assertEqual(self.edit(self.tok, answer, "two", "e2").status,
                         200)
        res = self.edit(self.tok, answer, "three", "e3")
        self.assertError(res, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(res.body["retry_after_ms"], 0)
        # a retried edit (same txn) is answered from the cache
        self.assertEqual(self.edit(self.tok, answer, "two", "e2").status,
                         200)

    def test_synapse_defaults_refuse_the_eleventh_quick_send(self):
        self.hs.configure(rate_limit={"profile": "synapse-defaults"})
        answer = self.send(self.tok, self.room, "...", "a1").body["event_id"]
        codes = [self.edit(self.tok, answer, "v%d" % i, "e%d" % i).status
                 for i in range(10)]
        self.assertEqual(codes, [200] * 9 + [429])    # burst 10
        res = self.edit(self.tok, answer, "later", "e99")
        self.assertError(res, 429, "M_LIMIT_EXCEEDED")
        # rc_message: 0.2/s, so about 5 s until the next token
        self.assertTrue(3000 < res.body["retry_after_ms"] <= 5000,
                        res.body)
        self.assertNotIn("retry-after", res.headers)  # as Synapse 1.67
        logged = self.hs.requests(method="PUT", path="/send/")
        self.assertEqual(logged[-1]["status"], 429)
