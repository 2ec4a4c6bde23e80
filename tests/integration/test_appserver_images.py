"""Pictures in an `input`, established against the real Letta App Server
(npm @letta-ai/letta-code@0.32.18 with sharp@0.34.5 beside it,
tools/appserver-install.sh), in the style of test_appserver_real.py.

An input's user message may carry a list of a text part and
{"type":"image","source":{"type":"base64","media_type","data"}} (what
letta_app_input_message_img writes). Every picture goes through sharp
(package/image-resize-worker.js) before the model sees it; bytes that are
no picture fail the whole turn. Skipped, with the reason, when node, the
package or sharp is missing.
"""

import base64
import os
import struct
import unittest
import zlib

from appserver_env import AppServerEnv, person_text, sharp_missing, text_of

SKIP = sharp_missing()
# tests/imgfx.h imgfx_png (2x2) and imgfx_gif (1x1)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4z8DAAMIM/"
    "4EAAB/uBfsL2WiLAAAAAElFTkSuQmCC")
GIF = base64.b64decode(
    "R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
PLACEHOLDER = "(image omitted: model does not support images)"


def noise_png(side):
    """A real side x side RGB PNG of random pixels, stored uncompressed
    (about 3 * side * side bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + os.urandom(3 * side) for _ in range(side))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


def content(text, data, media_type="image/png"):
    return [{"type": "text", "text": text},
            {"type": "image", "source": {
                "type": "base64", "media_type": media_type,
                "data": base64.b64encode(data).decode()}}]


@unittest.skipIf(SKIP is not None, SKIP or "")
class AppServerImages(unittest.TestCase):
    env = None

    @classmethod
    def setUpClass(cls):
        cls.env = AppServerEnv().start()

    @classmethod
    def tearDownClass(cls):
        if cls.env:
            cls.env.stop()

    def setUp(self):
        self.s = self.env.session()
        self.aid = self.s.agent_create()["id"]
        self.assertTrue(self.s.runtime_start(
            self.aid, mode="strict")["success"])

    def tearDown(self):
        self.s.close()

    def ask(self, msg_content, cmid, **payload):
        """Sends one input; returns (turn_finished, frames of the turn)."""
        mark = self.s.mark()
        self.s.send({"type": "input", "request_id": "in-" + cmid,
                     "runtime": self.s.runtime(self.aid),
                     "payload": dict({"kind": "create_message", "messages": [
                         {"role": "user", "content": msg_content,
                          "client_message_id": cmid}]}, **payload)})
        done = self.s.wait_turn(timeout=60, since=mark)
        return done, self.s.frames_since(mark)

    def said(self, frames):
        return "".join(text_of(f["delta"]) for f in frames
                       if f.get("type") == "stream_delta" and
                       f["delta"].get("message_type") == "assistant_message")

    def user_messages(self):
        return {m.get("otid"): m for m in self.s.messages(
            self.aid, limit=50)["messages"]
            if m["message_type"] == "user_message"}

    def test_png_is_taken(self):
        """A PNG passes sharp; the turn ends normally. The fake model is
        an openai-compatible one, which the server takes for text only:
        it puts a placeholder where the picture was (a vision model gets
        the picture)."""
        done, frames = self.ask(content("[Ann] look", PNG), "cm-png")
        accepted = [f for f in frames if f.get("type") == "input_accepted"]
        self.assertEqual(accepted[0]["disposition"], "started")
        self.assertEqual(done["stop_reason"], "end_turn", done)
        self.assertIn("[Ann] look", self.said(frames))
        self.assertIn(PLACEHOLDER, self.said(frames))
        self.assertIn("cm-png", self.user_messages())

    def test_big_png_is_taken(self):
        """4.3 MB (a 5.8 MB frame): under the 5 MB the server keeps a
        picture at, so it passes as it is."""
        data = noise_png(1200)
        self.assertGreater(len(data), 4 * 1024 * 1024)
        done, _ = self.ask(content("[Ann] big", data), "cm-big")
        self.assertEqual(done["stop_reason"], "end_turn", done)
        # the history keeps the picture whole: a conversation_messages_
        # list answer naming it is bigger than the picture's base64
        # (5.8 MB here, over lettamx's LIM_WS_MSG of 4 MiB)
        part = self.user_messages()["cm-big"]["content"][-1]
        self.assertEqual(part["source"]["data"],
                         base64.b64encode(data).decode())

    def test_gif_is_taken(self):
        done, _ = self.ask(content("[Ann] a gif", GIF, "image/gif"),
                           "cm-gif")
        self.assertEqual(done["stop_reason"], "end_turn", done)

    def test_not_an_image_fails_the_turn(self):
        """Text bytes called image/png: sharp refuses them, the whole
        turn fails at once (no run), and the question is not kept."""
        done, frames = self.ask(content("[Ann] look", b"hello, not a "
                                        b"picture at all"), "cm-bad")
        self.assertEqual(done["stop_reason"], "error", done)
        self.assertEqual(done["error"], "Failed to prepare image for "
                         "model: Input buffer contains unsupported image "
                         "format")
        self.assertIsNone(done.get("run_id"))
        self.assertEqual(self.said(frames), "")
        # a loop_error delta with the same words follows the turn_finished
        err = self.s.wait_for("stream_delta", lambda f: f["delta"].get(
            "message_type") == "loop_error", timeout=10)
        self.assertEqual(err["delta"]["message"], done["error"])
        self.assertTrue(err["delta"]["is_terminal"])
        self.assertNotIn("cm-bad", self.user_messages())
        # the runtime goes on: the next question is answered
        done, frames = self.ask("[Ann] still there?", "cm-after")
        self.assertEqual(done["stop_reason"], "end_turn", done)
        self.assertEqual(person_text(self.user_messages()["cm-after"]),
                         "[Ann] still there?")

    def test_drop_mode_leaves_the_picture_out(self):
        """image_failure_mode "drop" (lettamx does not send it): the
        turn goes on without the picture."""
        done, frames = self.ask(content("[Ann] drop", b"no picture"),
                                "cm-drop", image_failure_mode="drop")
        self.assertEqual(done["stop_reason"], "end_turn", done)
        self.assertIn("[Ann] drop", self.said(frames))
        self.assertNotIn(PLACEHOLDER, self.said(frames))


if __name__ == "__main__":
    unittest.main()
