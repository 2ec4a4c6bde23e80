#!/usr/bin/env python3
"""Delivery tests: the busybox root with the init script, the FROM scratch
tree; the native static binary entered with chroot, against the fakes.

    tests/delivery/run_delivery.py [--lettamx build/x86_64/lettamx] [-k PATTERN] [-v]

One line per test; the last line is `delivery: N passed, M failed[, K
skipped]`. They need root (CI runs as root) and skip, saying so, without.
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from run import LineResult  # noqa: E402  (tests/integration/run.py)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lettamx", default=None)
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.lettamx:
        os.environ["LETTAMX_BIN"] = os.path.abspath(args.lettamx)
    loader = unittest.TestLoader()
    if args.k:
        loader.testNamePatterns = ["*%s*" % p for p in args.k]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = LineResult(sys.stdout, args.verbose)
    suite.run(result)
    for label, items in (("FAIL", result.failures),
                         ("ERROR", result.errors)):
        for test, text in items:
            print("\n==== %s: %s\n%s" % (label, test.id(), text))
    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    line = "delivery: %d passed, %d failed" % (result.passed, failed)
    if result.skipped:
        line += ", %d skipped" % len(result.skipped)
    print("\n" + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
