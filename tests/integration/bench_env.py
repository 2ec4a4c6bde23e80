"""What the benchmarks share: the binary to drive (LETTAMX_BIN, else the
native build) and a stand-in for the TestCase the test environments
report to (a failed step raises, with lettamx's last words)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ.setdefault("LETTAMX_BIN", os.path.join(
    HERE, "..", "..", "build", "x86_64", "lettamx"))


class Quiet:
    def assertEqual(self, a, b, msg=None):
        if a != b:
            raise AssertionError(msg)

    def fail(self, msg):
        raise AssertionError(msg[-2000:])
