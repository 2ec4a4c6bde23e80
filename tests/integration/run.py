#!/usr/bin/env python3
"""Integration test runner: the real lettamx binary against the fakes.

    tests/integration/run.py --lettamx build/x86_64/lettamx [-k PATTERN] [-v]

Discovers tests/integration/test_*.py (unittest), prints one line per test
and, as the very last line, `integration: N passed, M failed[, K skipped]`.
Errors count as failures. Exit status 1 if anything failed.
Standard library only; make calls it with /usr/bin/python3 when present
(the Debian interpreter that has python3-matrix-nio).
"""

import argparse
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class LineResult(unittest.TestResult):
    """One line per test: `name ... ok (0.12s)` / FAIL / ERROR / skip."""

    def __init__(self, out, verbose):
        super().__init__()
        self.out = out
        self.verbose = verbose
        self.passed = 0
        self.started = 0.0

    def _line(self, test, word):
        took = time.monotonic() - self.started
        self.out.write("%s ... %s (%.2fs)\n" % (test.id(), word, took))
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self.started = time.monotonic()
        if self.verbose:
            self.out.write("%s ...\n" % test.id())
            self.out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "skip: %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "ok (expected failure)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(test, "FAIL (unexpected success)")


def load(patterns):
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p
                                   for p in patterns]
    return loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)


def report(result, out):
    for label, items in (("FAIL", result.failures),
                         ("ERROR", result.errors),
                         ("UNEXPECTED SUCCESS",
                          [(t, "") for t in result.unexpectedSuccesses])):
        for test, text in items:
            out.write("\n==== %s: %s\n%s" % (label, test.id(), text))
    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    line = "integration: %d passed, %d failed" % (result.passed, failed)
    if result.skipped:
        line += ", %d skipped" % len(result.skipped)
    out.write("\n" + line + "\n")
    out.flush()
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--lettamx", required=True,
                        help="path to the lettamx binary under test")
    parser.add_argument("-k", action="append", default=[],
                        help="only tests whose name matches (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--run", default="",
                        help="emulator prefix for a cross build's binary "
                             "(e.g. 'qemu-arm -cpu arm1176')")
    args = parser.parse_args(argv)
    os.environ["LETTAMX_BIN"] = os.path.abspath(args.lettamx)
    os.environ["LETTAMX_RUN"] = args.run
    sys.path.insert(0, HERE)
    out = sys.stdout
    try:
        suite = load(args.k)
    except Exception:  # an import error in a test module is a failure
        traceback.print_exc()
        out.write("integration: 0 passed, 1 failed\n")
        return 1
    result = LineResult(out, args.verbose)
    suite.run(result)
    return 1 if report(result, out) else 0


if __name__ == "__main__":
    sys.exit(main())
