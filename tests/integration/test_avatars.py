"""Avatars (issue #22): each agent user and its room get a picture,
uploaded once and kept; the operator's from [matrix] avatar_dir,
otherwise one lettamx draws from the agent id; a changed file goes up
again at the next run; `avatars = none` uploads nothing."""

import hashlib
import os
import struct
import unittest
import zlib

import lettamx
from test_provision import Env

PNG = b"\x89PNG\r\n\x1a\n"


def chunks(data):
    """The chunks of a PNG, each CRC checked: [(type, data)]."""
    out, at = [], 8
    while at < len(data):
        n = struct.unpack(">I", data[at:at + 4])[0]
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        crc = struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0]
        assert crc == zlib.crc32(kind + body) & 0xffffffff, kind
        out.append((kind, body))
        at += 12 + n
    return out


def tiny_png(colour):
    """A 1 x 1 PNG of another colour each time (a picture an operator
    puts in avatar_dir)."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    raw = zlib.compress(b"\x00" + bytes(colour))
    return (PNG + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0,
                                            0, 0)) +
            chunk(b"IDAT", raw) + chunk(b"IEND", b""))


class Avatars(unittest.TestCase):
    def env(self, n=2, **matrix):
        lettamx.require_binary(self)
        e = Env(self, conf={"matrix": matrix} if matrix else None)
        self.addCleanup(e.close)
        self.ids = e.agents(n)
        return e

    def uploads(self, env, since=0):
        return env.hs.requests("POST", r"/_matrix/media/v3/upload$",
                               since=since)

    def media(self, env):
        return {m["mxc"]: m for m in env.hs.control("GET", "media")["media"]}

    def test_drawn_avatars_for_user_and_room_uploaded_once(self):
        env = self.env()
        env.provision()
        ups = self.uploads(env)
        self.assertEqual(len(ups), 2)
        media = self.media(env)
        users = {u["user_id"]: u for u in
                 env.hs.control("GET", "users")["users"]}
        for agent in self.ids:
            user = "@letta_%s:localhost" % agent
            mxc = users[user]["avatar_url"]
            self.assertIn(mxc, media)
            self.assertEqual(media[mxc]["content_type"], "image/png")
            self.assertEqual(media[mxc]["uploader"], user)
            room = env.hs.room(env.markers()[agent][0])
            self.assertEqual(env.state(room, "m.room.avatar")["url"], mxc)
        # each agent its own picture, a PNG a decoder takes
        self.assertEqual(len({m["sha256"] for m in media.values()}), 2)
        data = env.hs.media_bytes(list(media)[0])
        self.assertTrue(data.startswith(PNG))
        kinds = [k for k, _ in chunks(data)]
        self.assertEqual(kinds, [b"IHDR", b"PLTE", b"IDAT", b"IEND"])
        idat = dict(chunks(data))[b"IDAT"]
        self.assertEqual(len(zlib.decompress(idat)), 64 * 9)
        # a second run uploads nothing
        seq = env.last_seq()
        env.provision()
        self.assertEqual(self.uploads(env, since=seq), [])

    def test_the_operators_picture_and_a_changed_one(self):
        env = self.env(n=1)
        d = os.path.join(env.work, "avatars")
        os.mkdir(d)
        path = os.path.join(d, "agent 0.png")
        pic = tiny_png((200, 10, 10))
        with open(path, "wb") as f:
            f.write(pic)
        self.reconf(env, avatar_dir=d)
        env.provision()
        media = list(self.media(env).values())
        self.assertEqual([m["sha256"] for m in media],
                         [hashlib.sha256(pic).hexdigest()])
        pic2 = tiny_png((10, 200, 10))
        with open(path, "wb") as f:
            f.write(pic2)
        seq = env.last_seq()
        env.provision()
        ups = self.uploads(env, since=seq)
        self.assertEqual(len(ups), 1)
        self.assertIn(hashlib.sha256(pic2).hexdigest(),
                      [m["sha256"] for m in self.media(env).values()])

    def test_a_file_that_is_no_picture_gives_a_drawn_one(self):
        env = self.env(n=1)
        d = os.path.join(env.work, "avatars")
        os.mkdir(d)
        with open(os.path.join(d, "agent 0.png"), "wb") as f:
            f.write(b"GIF89a not a png")
        self.reconf(env, avatar_dir=d)
        res = env.provision()
        self.assertIn("not a PNG or JPEG", res.stderr + res.stdout)
        media = list(self.media(env).values())
        self.assertEqual(len(media), 1)
        self.assertEqual(media[0]["content_type"], "image/png")

    def test_none_uploads_nothing(self):
        env = self.env(avatars="none")
        env.provision()
        self.assertEqual(self.uploads(env), [])

    def reconf(self, env, **matrix):
        with open(env.conf) as f:
            text = f.read()
        extra = "".join("%s = %s\n" % kv for kv in matrix.items())
        text = text.replace("[matrix]\n", "[matrix]\n" + extra, 1)
        with open(env.conf, "w") as f:
            f.write(text)


if __name__ == "__main__":
    unittest.main()
