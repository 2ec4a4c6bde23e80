"""Self-tests of the fake Letta REST server's pictures
(tools/fakes/letta_images.py): a content list of a text part and an
image part on the agent and conversation routes, checked as the real
server's models check it, and what the agent got, down to the bytes."""

import base64
import hashlib
import unittest

from letta_case import UA, FakeLettaCase

# tests/imgfx.h imgfx_png: a real 2x2 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4z8DAAMIM/"
    "4EAAB/uBfsL2WiLAAAAAElFTkSuQmCC")


def parts(text, data, media_type="image/png", **source):
    src = dict({"type": "base64", "media_type": media_type,
                "data": base64.b64encode(data).decode()}, **source)
    return [{"type": "text", "text": text},
            {"type": "image", "source": src}]


class ImageCase(FakeLettaCase):
    def setUp(self):
        super().setUp()
        self.aid = self.letta.add_agent("pic")["id"]

    def send(self, content, path=None, otid="otid-1"):
        body = {"messages": [{"role": "user", "content": content,
                              "otid": otid}]}
        return self.letta.http("POST", path or "/v1/agents/%s/messages"
                               % self.aid, body, UA)

    def test_agent_gets_the_bytes(self):
        res = self.send(parts("[Ann] look", PNG))
        self.assertEqual(res.status, 200, res)
        said = [m["content"] for m in res.body["messages"]
                if m["message_type"] == "assistant_message"]
        self.assertEqual(said, ["[Ann] look\n[image image/png %d bytes]"
                                % len(PNG)])
        self.assertEqual(self.letta.images(self.aid), [{
            "otid": "otid-1", "conversation": "default",
            "media_type": "image/png", "size": len(PNG),
            "sha256": hashlib.sha256(PNG).hexdigest()}])
        self.assertEqual(self.letta.agent(self.aid)["images"], 1)
        # the history keeps the message as sent
        user = [m for m in self.letta.history(self.aid)
                if m["message_type"] == "user_message"]
        self.assertEqual(user[0]["content"][1]["source"]["data"],
                         base64.b64encode(PNG).decode())

    def test_conversation_route(self):
        res = self.letta.http("POST", "/v1/conversations/?agent_id="
                              + self.aid, {}, UA)
        cid = res.body["id"]
        res = self.send(parts("in a thread", PNG), otid="otid-2",
                        path="/v1/conversations/%s/messages" % cid)
        self.assertEqual(res.status, 200, res)
        got = self.letta.images(self.aid)
        self.assertEqual([(g["conversation"], g["size"]) for g in got],
                         [(cid, len(PNG))])

    def test_big_picture(self):
        """20 MB of bytes: the fake takes them and counts them right."""
        data = PNG + bytes(20 * 1024 * 1024)
        res = self.send(parts("big", data))
        self.assertEqual(res.status, 200, res)
        got = self.letta.images(self.aid)[0]
        self.assertEqual((got["size"], got["sha256"]),
                         (len(data), hashlib.sha256(data).hexdigest()))

    def test_refused(self):
        good = parts("x", PNG)
        cases = [
            ([{"type": "audio", "data": "x"}], 422, "does not match"),
            (["just a string"], 422, "valid dictionary"),
            ([{"type": "text"}], 422, "Field required"),
            ([good[0], {"type": "image"}], 422, "Field required"),
            ([good[0], {"type": "image", "source": {"type": "file"}}],
             422, "'url', 'base64', 'letta'"),
            ([good[0], {"type": "image", "source": {
                "type": "base64", "data": "AAAA"}}], 422, "media_type"),
            (parts("x", PNG)[:1] + [{"type": "image", "source": {
                "type": "base64", "media_type": "image/png",
                "data": "not base64!"}}], 400, "Invalid base64"),
        ]
        for content, status, words in cases:
            res = self.send(content)
            self.assertEqual(res.status, status, (content, res))
            self.assertIn(words, str(res.body["detail"]), content)
        self.assertEqual(self.letta.images(self.aid), [])
        self.assertEqual(self.letta.agent(self.aid)["sends"], 0)

    def test_text_parts_only_unchanged(self):
        res = self.send([{"type": "text", "text": "a"},
                         {"type": "text", "text": "b"}])
        said = [m["content"] for m in res.body["messages"]
                if m["message_type"] == "assistant_message"]
        self.assertEqual(said, ["a\nb"])
        self.assertEqual(self.letta.images(self.aid), [])


if __name__ == "__main__":
    unittest.main()
