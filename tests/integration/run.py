#!/usr/bin/env python3
"""Integration test runner: the real lettamx binary against the fakes.

    tests/integration/run.py --lettamx build/x86_64/lettamx [-k PATTERN] [-v]
                             [-j JOBS]

Discovers tests/integration/test_*.py (unittest), prints one line per test
and, as the very last line, `integration: N passed, M failed[, K skipped]`.
Errors count as failures. Exit status 1 if anything failed.
With -j JOBS (default: $LETTAMX_TEST_JOBS, else 1) the test classes are
dealt to JOBS child runs side by side: most of a test's time is spent
waiting on the agents' scripted delays, so two at once take about half
the time. Each test has its own fakes, ports and store.
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


def class_ids(suite):
    """The test ids of a suite, grouped by class (a class keeps its
    setUpClass fakes, so it stays in one child), in discovery order."""
    groups = {}
    stack = [suite]
    while stack:
        item = stack.pop(0)
        if isinstance(item, unittest.TestSuite):
            stack[0:0] = list(item)
        elif type(item).__name__ in ("_FailedTest", "ModuleImportFailure"):
            groups.setdefault(item.id(), []).append(item.id())
        else:
            cls = item.id().rsplit(".", 1)[0]
            groups.setdefault(cls, []).append(item.id())
    return list(groups.values())


def run_parallel(args, suite, jobs, out):
    """Deals the classes to `jobs` children (round robin), streams their
    lines, adds up their closing lines."""
    import re
    import subprocess
    import tempfile
    import threading
    groups = class_ids(suite)
    shares = [[] for _ in range(jobs)]
    for i, g in enumerate(groups):
        shares[i % jobs].extend(g)
    lock = threading.Lock()
    totals = [0, 0, 0]
    details = []
    closing = re.compile(r"^integration: (\d+) passed, (\d+) failed"
                         r"(?:, (\d+) skipped)?$")

    def child(ids):
        with tempfile.NamedTemporaryFile("w", suffix=".ids",
                                         delete=False) as f:
            f.write("\n".join(ids) + "\n")
            listing = f.name
        cmd = [sys.executable, os.path.abspath(__file__), "--lettamx",
               args.lettamx, "--run", args.run, "--ids", listing]
        if args.verbose:
            cmd.append("-v")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        mine, last, in_detail = [], None, False
        for line in proc.stdout:
            m = closing.match(line.rstrip("\n"))
            if m:
                last = m
                continue
            if line.startswith("\n==== ") or line.startswith("==== "):
                in_detail = True
            if in_detail:
                mine.append(line)
                continue
            if not line.strip():
                continue        # the blank line before a child's summary
            with lock:
                out.write(line)
                out.flush()
        proc.wait()
        os.unlink(listing)
        with lock:
            details.extend(mine)
            if last is None:
                totals[1] += 1
                details.append("\n==== ERROR: a child run ended without "
                               "its summary (exit %d)\n" % proc.returncode)
            else:
                totals[0] += int(last.group(1))
                totals[1] += int(last.group(2))
                totals[2] += int(last.group(3) or 0)

    threads = [threading.Thread(target=child, args=(ids,))
               for ids in shares if ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.write("".join(details))
    line = "integration: %d passed, %d failed" % (totals[0], totals[1])
    if totals[2]:
        line += ", %d skipped" % totals[2]
    out.write("\n" + line + "\n")
    out.flush()
    return 1 if totals[1] else 0


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
    parser.add_argument("-j", "--jobs", type=int,
                        default=int(os.environ.get("LETTAMX_TEST_JOBS", "1")),
                        help="test classes run side by side in this many "
                             "child runs (default $LETTAMX_TEST_JOBS or 1)")
    parser.add_argument("--ids", help=argparse.SUPPRESS)   # a child's share
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("-j needs at least 1")
    os.environ["LETTAMX_BIN"] = os.path.abspath(args.lettamx)
    os.environ["LETTAMX_RUN"] = args.run
    sys.path.insert(0, HERE)
    out = sys.stdout
    try:
        if args.ids:
            with open(args.ids) as f:
                ids = [line.strip() for line in f if line.strip()]
            suite = unittest.TestLoader().loadTestsFromNames(ids)
        else:
            suite = load(args.k)
    except Exception:  # an import error in a test module is a failure
        traceback.print_exc()
        out.write("integration: 0 passed, 1 failed\n")
        return 1
    if args.jobs > 1 and not args.ids:
        return run_parallel(args, suite, args.jobs, out)
    result = LineResult(out, args.verbose)
    suite.run(result)
    return 1 if report(result, out) else 0


if __name__ == "__main__":
    sys.exit(main())
