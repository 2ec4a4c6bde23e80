"""Self-tests of the fake App Server's pictures (tools/fakes/app_images.py)
against what the real one does (test_appserver_images.py): an input's
text and image parts, the bytes the agent got, and the whole turn failed
at once, the question not kept, on bytes that are no picture."""

import base64
import hashlib
import unittest

from test_fake_app_server import AppCase, deltas, text_of

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4z8DAAMIM/"
    "4EAAB/uBfsL2WiLAAAAAElFTkSuQmCC")
UNSUPPORTED = "Failed to prepare image for model: Input buffer contains " \
    "unsupported image format"


def content(text, data, media_type="image/png", b64=None):
    return [{"type": "text", "text": text},
            {"type": "image", "source": {
                "type": "base64", "media_type": media_type,
                "data": b64 if b64 is not None else
                base64.b64encode(data).decode()}}]


class Images(AppCase):
    def ask(self, c, agent_id, msg_content, cmid, **payload):
        c.send({"type": "input", "request_id": "in-" + cmid,
                "runtime": {"agent_id": agent_id,
                            "conversation_id": "default"},
                "payload": dict({"kind": "create_message", "messages": [
                    {"role": "user", "content": msg_content,
                     "client_message_id": cmid}]}, **payload)})
        return c.until("turn_finished")

    def user_otids(self, agent_id):
        return [m.get("otid") for m in self.fake.history(agent_id)
                if m["message_type"] == "user_message"]

    def test_png_reaches_the_agent(self):
        a = self.agent()
        c = self.client()
        c.start(a)
        frames = self.ask(c, a, content("[Ann] look", PNG), "cm-png")
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")
        self.assertEqual(text_of(frames), "You said: [Ann] look\n"
                         "[image image/png %d bytes]" % len(PNG))
        self.assertEqual(self.fake.images(a), [{
            "client_message_id": "cm-png", "conversation_id": "default",
            "media_type": "image/png", "size": len(PNG),
            "sha256": hashlib.sha256(PNG).hexdigest()}])
        self.assertEqual(self.user_otids(a), ["cm-png"])
        # the history keeps the picture whole, as the real server's does
        user = [m for m in self.fake.history(a)
                if m["message_type"] == "user_message"][0]
        self.assertEqual(user["content"][-1]["source"]["data"],
                         base64.b64encode(PNG).decode())

    def test_big_picture(self):
        """A 20 MB picture in one frame (ws's maxPayload is 100 MiB)."""
        a = self.agent()
        c = self.client()
        c.start(a)
        data = PNG + bytes(20 * 1024 * 1024)
        frames = self.ask(c, a, content("big", data), "cm-big")
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")
        got = self.fake.images(a)[0]
        self.assertEqual((got["size"], got["sha256"]),
                         (len(data), hashlib.sha256(data).hexdigest()))

    def test_not_a_picture_fails_the_turn(self):
        a = self.agent()
        c = self.client()
        c.start(a)
        for cmid, part in (("cm-text", content("x", b"hello, no picture")),
                           ("cm-b64", content("x", None, b64="not base64!"))):
            frames = self.ask(c, a, part, cmid)
            accepted = [f for f in frames if f["type"] == "input_accepted"]
            self.assertEqual(accepted[0]["disposition"], "started")
            done = frames[-1]
            self.assertEqual((done["stop_reason"], done.get("error")),
                             ("error", UNSUPPORTED))
            self.assertNotIn("run_id", done)
            loops = [f["loop_status"]["status"] for f in frames
                     if f["type"] == "update_loop_status"]
            loops = loops[loops.index("SENDING_API_REQUEST"):]
            self.assertEqual(loops, ["SENDING_API_REQUEST",
                                     "WAITING_FOR_API_RESPONSE",
                                     "WAITING_ON_INPUT"])
            err = c.wait("stream_delta", lambda f: f["delta"].get(
                "message_type") == "loop_error")
            self.assertEqual(err["delta"]["message"], UNSUPPORTED)
            self.assertTrue(err["delta"]["is_terminal"])
            self.assertEqual(deltas(frames, "assistant_message"), [])
        self.assertEqual(self.fake.images(a), [])
        self.assertEqual(self.user_otids(a), [])
        # the runtime goes on
        frames = self.ask(c, a, "[Ann] still there?", "cm-after")
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")
        self.assertEqual(self.user_otids(a), ["cm-after"])

    def test_drop_mode_leaves_the_picture_out(self):
        a = self.agent()
        c = self.client()
        c.start(a)
        frames = self.ask(c, a, content("x", b"no picture"), "cm-drop",
                          image_failure_mode="drop")
        self.assertEqual(frames[-1]["stop_reason"], "end_turn")
        self.assertEqual(text_of(frames), "You said: x")
        self.assertEqual(self.fake.images(a), [])

    def test_what_the_fake_cannot_tell_is_an_error(self):
        a = self.agent()
        c = self.client()
        c.start(a)
        self.ask(c, a, "hi", "cm-1")
        c.send({"type": "input", "request_id": "in-svg",
                "runtime": {"agent_id": a, "conversation_id": "default"},
                "payload": {"kind": "create_message", "messages": [
                    {"role": "user", "content": content(
                        "x", b"<svg/>", "image/svg+xml")}]}})
        c.quiet(0.3)
        errors = self.fake.frames(errors=True)
        self.assertTrue(any("image/svg+xml" in str(e) for e in errors),
                        errors)


if __name__ == "__main__":
    unittest.main()
