"""Pictures go to the agent (issue 21, part 2): an m.image a person sends
in an agent's room is downloaded from the homeserver (the authenticated
media path first, the old one when the server does not know it: Synapse
1.67), checked by its bytes, and sent beside the text as an image part;
one that is too big, not a picture, or encrypted reaches the agent as the
line naming it, and the person is told (not for encrypted ones: they are
described). At most [bridge] image_memory of pictures is held at once; a
turn with a picture waits for room in it.

Assertions come from what the fake Letta (REST) and the fake App Server
record of the pictures an agent got (their size and sha256), from the
fake homeserver's request log, and from the room as alice reads it."""

import hashlib
import os
import struct
import unittest
import zlib

import lettamx
from bridge_env import BridgeEnv
from fakes import FakeAppServer

V1 = r"^/_matrix/client/v1/media/download/"
LEGACY = r"^/_matrix/media/v3/download/"


def png(side, seed=0):
    """A real side x side RGB PNG, stored uncompressed (3 * side^2 bytes
    and a little more): its pixels from seed."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    row = bytes((seed + i) % 251 for i in range(3 * side))
    rows = b"".join(b"\0" + row for _ in range(side))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b""))


def sha(data):
    return hashlib.sha256(data).hexdigest()


class ImageTest(unittest.TestCase):
    app = False

    def env(self, bridge=None, authenticated=False, **kw):
        lettamx.require_binary(self)
        kw.setdefault("scripts", {0: {"mode": "echo", "prefix": "re: "}})
        if self.app:
            conf = kw.setdefault("conf", {})
            conf.setdefault("letta", {})["api"] = "app-server"
            kw["letta"] = FakeAppServer().start()
        e = BridgeEnv(self, bridge=bridge, start=False, **kw)
        self.addCleanup(e.close)
        e.hs.configure(media={"authenticated": authenticated})
        e.start()
        return e

    def send_image(self, env, agent, data, name="cat.png", caption=None,
                   declared=None, content_type="image/png"):
        """alice pastes data as an m.image; the event id."""
        up = env.hs.media_put(data, content_type, uploader=env.uid("alice"),
                              filename=name)
        content = {"msgtype": "m.image", "url": up["content_uri"],
                   "info": {"mimetype": content_type,
                            "size": len(data) if declared is None
                            else declared}}
        if declared is False:
            del content["info"]["size"]
        if caption:
            content["filename"] = name
        return env.say(agent, caption or name, **dict(content)), \
            up["content_uri"]

    def ask_png(self, env, side, seed, **kw):
        """alice pastes a side x side PNG in the first agent's room, the
        agent answers naming it: (agent, bytes, question, mxc, answer)."""
        a0 = env.ids[0]
        data = png(side, seed=seed)
        q, mxc = self.send_image(env, a0, data, **kw)
        ans = env.wait_answer(a0, q)["content"]["body"]
        # the echo agent names the picture it got, after the text
        self.assertIn("[image image/png %d bytes]" % len(data), ans)
        return a0, data, q, mxc, ans

    def refused(self, env, agent, q, words):
        """q's picture did not go: the agent read its line (the answer's
        body, returned), the person was told `words`, the agent got no
        picture."""
        ans = env.wait_answer(agent, q)["content"]["body"]
        self.assertNotIn("[image ", ans)
        note = env.wait(lambda: self.notices(env, agent, q), 20)
        self.assertIn(words, note[0])
        self.assertEqual(self.got(env, agent), [])
        return ans, note[0]

    def got(self, env, agent):
        return env.letta.images(agent)

    def notices(self, env, agent, q):
        return [a["content"]["body"]
                for a in env.answers(agent, q, msgtype="m.notice")]


class Pictures(ImageTest):
    def test_a_png_reaches_the_agent_with_its_caption(self):
        env = self.env()
        a0, data, q, mxc, ans = self.ask_png(env, 40, 3,
                                             caption="what is this?")
        self.assertIn("sent an image: cat.png", ans)
        self.assertIn("what is this?", ans)
        got = self.got(env, a0)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["sha256"], sha(data))
        self.assertEqual(got[0]["media_type"], "image/png")
        # Synapse 1.67 has no authenticated media: v1 first, then legacy
        server_id = mxc[len("mxc://"):]
        v1 = env.hs.requests("GET", V1)
        old = env.hs.requests("GET", LEGACY)
        self.assertEqual(len(v1), 1, v1)
        self.assertEqual(len(old), 1, old)
        self.assertTrue(old[0]["path"].endswith(server_id))
        self.assertEqual(self.notices(env, a0, q), [])

    def test_authenticated_media_is_used_when_the_server_has_it(self):
        env = self.env(authenticated=True)
        a0 = env.ids[0]
        data = png(16)
        q, _ = self.send_image(env, a0, data)
        env.wait_answer(a0, q)
        self.assertEqual(len(env.hs.requests("GET", V1)), 1)
        self.assertEqual(env.hs.requests("GET", LEGACY), [])
        self.assertEqual([g["sha256"] for g in self.got(env, a0)],
                         [sha(data)])

    def test_a_20_mb_picture_is_refused_with_a_notice(self):
        env = self.env()
        a0 = env.ids[0]
        big = png(2600)         # ~20 MB
        self.assertGreater(len(big), 20_000_000)
        q, _ = self.send_image(env, a0, big, name="huge.png")
        ans, note = self.refused(env, a0, q, "too big")
        self.assertIn("sent an image: huge.png", ans)
        self.assertIn("5.0 MB", note)
        # its declared size said enough: nothing was downloaded
        self.assertEqual(env.hs.requests("GET", "/download/"), [])

    def test_a_picture_bigger_than_it_said_is_cut_off_and_refused(self):
        env = self.env(bridge={"image_max_bytes": "200KB"})
        a0 = env.ids[0]
        big = png(300)          # 270 KB, said to be 10 KB
        q, _ = self.send_image(env, a0, big, declared=10_000)
        self.refused(env, a0, q, "bigger than the limit")

    def test_text_named_png_is_refused(self):
        env = self.env()
        a0 = env.ids[0]
        text = b"this is not a picture, only words\n" * 20
        q, _ = self.send_image(env, a0, text, name="notes.png")
        ans, _ = self.refused(env, a0, q, "not a PNG, JPEG, GIF or WebP")
        self.assertIn("sent an image: notes.png", ans)

    def test_encrypted_media_is_described_not_fetched(self):
        env = self.env()
        a0 = env.ids[0]
        q = env.say(a0, "secret.png", msgtype="m.image", file={
            "url": "mxc://localhost/Encrypted1", "v": "v2",
            "key": {"k": "x"}, "iv": "y", "hashes": {}})
        ans = env.wait_answer(a0, q)["content"]["body"]
        self.assertIn("end-to-end encrypted", ans)
        self.assertEqual(env.hs.requests("GET", "/download/"), [])
        self.assertEqual(self.got(env, a0), [])

    def test_a_failed_download_is_tried_again(self):
        env = self.env(authenticated=True)
        a0 = env.ids[0]
        data = png(20, seed=9)
        env.hs.inject_fault("GET", V1, count=1, status=502, body={
            "errcode": "M_UNKNOWN", "error": "upstream"})
        q, _ = self.send_image(env, a0, data)
        env.wait_answer(a0, q, 30)
        self.assertEqual(len(env.hs.requests("GET", V1)), 2)
        self.assertEqual([g["sha256"] for g in self.got(env, a0)],
                         [sha(data)])

    def test_a_missing_picture_is_told(self):
        env = self.env(authenticated=True)
        a0 = env.ids[0]
        q = env.say(a0, "gone.png", msgtype="m.image",
                    url="mxc://localhost/NoSuchMediaHere",
                    info={"mimetype": "image/png", "size": 100})
        _, note = self.refused(env, a0, q, "could not be downloaded")
        self.assertIn("HTTP 404", note)

    def test_pictures_wait_for_room_in_image_memory(self):
        # one picture of 300 KB costs ~760 KB: 1 MiB holds one at a time
        env = self.env(n=3, bridge={"image_max_bytes": "300KB",
                                    "image_memory": "1MiB"},
                       scripts={i: {"mode": "echo", "delay_ms": 400}
                                for i in range(3)})
        sent = []
        for i, a in enumerate(env.ids):
            data = png(150, seed=i)
            q, _ = self.send_image(env, a, data, declared=False)
            sent.append((a, q, data))
        for a, q, data in sent:
            env.wait_answer(a, q, 30)
            self.assertEqual([g["sha256"] for g in self.got(env, a)],
                             [sha(data)])
        self.assertIn("event=image_waits", env.d.output())

    def test_a_memory_too_small_for_the_largest_picture_is_said(self):
        # 5 MB costs ~11.7 MB over REST: 4 MiB holds about 1.7 MB
        env = self.env(bridge={"image_memory": "4MiB"})
        self.assertIn("event=config_adjusted key=image_max_bytes",
                      env.d.output())
        self.assertIn("raise it to", env.d.output())
        a0, data, _, _, _ = self.ask_png(env, 300, 1)   # 270 KB: passes
        self.assertEqual([g["sha256"] for g in self.got(env, a0)],
                         [sha(data)])

    def test_image_max_bytes_0_passes_no_picture(self):
        env = self.env(bridge={"image_max_bytes": "0"})
        a0 = env.ids[0]
        q, _ = self.send_image(env, a0, png(10))
        ans = env.wait_answer(a0, q)["content"]["body"]
        self.assertIn("sent an image: cat.png", ans)
        self.assertEqual(env.hs.requests("GET", "/download/"), [])
        self.assertEqual(self.got(env, a0), [])


class AppServerPictures(ImageTest):
    """The same over the App Server (the fake: it fails a whole turn on
    bytes that are no picture, as the real one does)."""
    app = True

    def test_a_png_reaches_the_agent(self):
        env = self.env()
        a0, data, _, _, ans = self.ask_png(env, 64, 5, caption="and this?")
        self.assertIn("and this?", ans)
        got = self.got(env, a0)
        self.assertEqual([g["sha256"] for g in got], [sha(data)])

    def test_a_big_png_goes_in_one_frame(self):
        # 4.3 MB: the frame is ~5.8 MB, past the queue's 256 KiB
        env = self.env()
        a0 = env.ids[0]
        data = png(1200, seed=7)
        self.assertGreater(len(data), 4_000_000)
        q, _ = self.send_image(env, a0, data)
        env.wait_answer(a0, q, 60)
        self.assertEqual([g["sha256"] for g in self.got(env, a0)],
                         [sha(data)])

    def test_text_named_png_never_reaches_the_server(self):
        env = self.env()
        a0 = env.ids[0]
        q, _ = self.send_image(env, a0, b"plain words " * 50,
                               name="fake.png")
        self.refused(env, a0, q, "not a PNG")


if __name__ == "__main__":
    unittest.main()
