"""One fake Letta per test class, reset before each test: the base of the
fake Letta's own tests (conversations, runs, images)."""

import unittest

from fakes import FakeLetta

UA = {"User-Agent": "lettamx/0.1", "Content-Type": "application/json"}


class FakeLettaCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.letta = FakeLetta(keepalive_idle=2).start()

    @classmethod
    def tearDownClass(cls):
        cls.letta.stop()

    def setUp(self):
        self.letta.reset()

    def call(self, method, path, body=None):
        """A request as lettamx makes it (its user agent, JSON)."""
        return self.letta.http(method, path, body, dict(UA))
