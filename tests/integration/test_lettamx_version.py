"""The plumbing: the runner finds and runs the real binary.

Until the bridge exists this is the only test of lettamx itself; it also
proves the config writer and both fakes start and stop around a run.
"""

import os
import re
import unittest

import lettamx
from fakes import FakeHomeserver, FakeLetta


class LettamxVersion(unittest.TestCase):
    def test_version_names_its_libraries(self):
        lettamx.require_binary(self)
        res = lettamx.run(["version"], timeout=10, test=self)
        self.assertEqual(res.returncode, 0, "lettamx version failed:\n%s%s"
                         % (res.stdout, res.stderr))
        out = res.stdout + res.stderr
        self.assertRegex(out, re.compile(r"^lettamx\b", re.M))
        for lib in ("mbedTLS", "LMDB", "jsmn", "md4c"):
            self.assertIn(lib, out, "version output lacks %s" % lib)

    def test_version_next_to_the_fakes(self):
        """Fakes up, a config written, the binary run, all torn down."""
        lettamx.require_binary(self)
        with FakeHomeserver() as hs, FakeLetta() as letta, \
                lettamx.Workdir() as work:
            conf = lettamx.write_config(work, lettamx.default_config(
                work, hs, letta, letta_token="secret-token"))
            with open(conf) as f:
                text = f.read()
            self.assertIn("homeserver_url = %s" % hs.url, text)
            self.assertIn("[letta]", text)
            res = lettamx.run(["version"], timeout=10, test=self)
            self.assertEqual(res.returncode, 0)
            # lettamx version must not talk to anyone.
            self.assertEqual(hs.requests(), [])
            self.assertEqual(letta.requests(), [])
            self.assertTrue(os.path.exists(conf))
        self.assertIsNotNone(hs.proc.poll(), "fake homeserver still running")
        self.assertIsNotNone(letta.proc.poll(), "fake letta still running")


class ConfigWriter(unittest.TestCase):
    def test_config_text(self):
        text = lettamx.config_text({
            "matrix": {"homeserver_url": "http://x", "verify_tls": True,
                       "skip": None},
            "store": {"path": "/tmp/s", "list": ["a", "b"]}})
        self.assertIn("[matrix]\nhomeserver_url = http://x\n"
                      "verify_tls = true\n", text)
        self.assertNotIn("skip", text)
        self.assertIn("list = a, b", text)


if __name__ == "__main__":
    unittest.main()
