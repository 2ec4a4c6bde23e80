"""Run the real lettamx binary from integration tests.

The binary comes from run.py --lettamx (exported as LETTAMX_BIN). A
missing binary is a test failure with a clear message, never a skip: a
suite that skips when nothing was built proves nothing.
"""

import os
import shlex
import signal
import subprocess
import tempfile
import time

from fakes import REPO

DEFAULT_BIN = os.path.join(REPO, "build", "x86_64", "lettamx")


def binary():
    return os.environ.get("LETTAMX_BIN") or DEFAULT_BIN


def command(path):
    """The command that runs the binary: LETTAMX_RUN (run.py --run, e.g.
    "qemu-arm -cpu arm1176" for a cross build) goes before it."""
    return shlex.split(os.environ.get("LETTAMX_RUN", "")) + [path]


def check_binary():
    """Return the binary's path, or an explanation of why it is unusable."""
    path = binary()
    if not os.path.isfile(path):
        return None, ("lettamx binary not found at %s (build it with make, "
                      "or pass run.py --lettamx PATH)" % path)
    if not os.access(path, os.X_OK):
        return None, "lettamx binary at %s is not executable" % path
    return path, None


def require_binary(test):
    path, why = check_binary()
    if path is None:
        test.fail(why)
    return path


def config_text(sections):
    """{"matrix": {"homeserver_url": ...}, ...} -> INI-like text.

    [section] headers, `key = value` lines; booleans as true/false, lists
    joined by commas, None values left out."""
    lines = ["# written by tests/integration/lettamx.py"]
    for section, values in sections.items():
        lines.append("")
        lines.append("[%s]" % section)
        for key, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value)
            lines.append("%s = %s" % (key, value))
    return "\n".join(lines) + "\n"


def default_config(workdir, homeserver=None, letta=None, letta_token=None):
    """A config for one test: fakes' URLs, a store in the temp dir."""
    token_file = None
    if letta_token is not None:
        token_file = os.path.join(workdir, "letta.token")
        with open(token_file, "w") as f:
            f.write(letta_token + "\n")
        os.chmod(token_file, 0o600)
    sections = {"store": {"path": os.path.join(workdir, "store")}}
    if homeserver is not None:
        sections["matrix"] = {"homeserver_url": homeserver.url,
                              "server_name": homeserver.server_name}
    if letta is not None:
        sections["letta"] = {"base_url": letta.url, "token_file": token_file}
    return sections


def write_config(workdir, sections):
    path = os.path.join(workdir, "lettamx.conf")
    with open(path, "w") as f:
        f.write(config_text(sections))
    return path


class Workdir:
    """A temporary directory removed afterwards (context manager)."""

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="lettamx-it-")
        return self._tmp.name

    def __exit__(self, *exc):
        self._tmp.cleanup()


def run(args, config_path=None, timeout=30, env=None, test=None):
    """Run `lettamx [--config PATH] ARGS...` to completion.

    Returns subprocess.CompletedProcess (text mode). A timeout kills the
    process and raises subprocess.TimeoutExpired."""
    path = require_binary(test) if test else check_binary()[0]
    if path is None:
        raise FileNotFoundError(check_binary()[1])
    cmd = command(path)
    if config_path:
        cmd += ["--config", config_path]
    cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, env=env)


class Daemon:
    """lettamx running in the background (for the bridge tests to come)."""

    def __init__(self, args, config_path=None, env=None):
        path, why = check_binary()
        if path is None:
            raise FileNotFoundError(why)
        cmd = command(path) + (["--config", config_path]
                               if config_path else [])
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd + list(args), stdout=self.out,
                                     stderr=subprocess.STDOUT, env=env)

    def output(self):
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def wait_until(self, what, timeout=25):
        """Polls what() until it is true; AssertionError (a test failure,
        with the daemon's output) when the daemon ends or `timeout`
        seconds pass first."""
        deadline = time.monotonic() + timeout
        while not what():
            if self.proc.poll() is not None:
                raise AssertionError("lettamx ended (status %s):\n%s"
                                     % (self.proc.returncode, self.output()))
            if time.monotonic() > deadline:
                raise AssertionError("not so within %s s:\n%s"
                                     % (timeout, self.output()))
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal, wait; returns the exit status. Kills after timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
