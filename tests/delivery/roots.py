"""Minimal roots for the delivery tests: a busybox system and the FROM
scratch tree, entered with chroot, against the fakes on loopback.

The fakes run outside the root on 127.0.0.1 (a chroot shares the network
namespace), so the daemon inside reaches them as it would reach a real
homeserver and Letta. Building a root needs root (mknod, chown, mount,
chroot); CI runs as root.
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from fakes import FakeHomeserver, FakeLetta  # noqa: E402

UID = 10001           # the unprivileged user in both roots
BUSYBOX = "/bin/busybox"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MARKER = "org.lettamx.agent"
PATH = "/bin:/sbin:/usr/bin:/usr/sbin"
# Devices a container runtime or a booted system provides.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("random", 1, 8),
           ("urandom", 1, 9))


def binary():
    return os.environ.get("LETTAMX_BIN") or os.path.join(
        REPO, "build", "x86_64", "lettamx")


def why_not(need_busybox=False):
    """Why this machine cannot run the root tests, or None."""
    if os.geteuid() != 0:
        return "needs root (mknod, chown, chroot; CI runs as root)"
    if not shutil.which("chroot"):
        return "no chroot command"
    if need_busybox and not os.access(BUSYBOX, os.X_OK):
        return "no %s (Debian package busybox-static)" % BUSYBOX
    return None


def wait_for(cond, timeout=30.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return cond()


def proc_ids(pid):
    """{'Uid': [...], 'Gid': [...]} of a running process."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                out[key] = [int(v) for v in value.split()]
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not running any more
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Fakes:
    """A fake homeserver with the bot's account and a fake Letta with
    agents; what the daemon did is read from their state."""

    def __init__(self, agents=2):
        self.hs = FakeHomeserver().start()
        self.letta = FakeLetta().start()
        self.bot = self.hs.human_register("lettamx", password="bot-pw")
        # a person invited to every agent room, to talk to the agents
        self.person = self.hs.human_register("alice")["user_id"]
        self.agent_ids = [self.letta.add_agent("agent %d" % i)["id"]
                          for i in range(agents)]

    def config(self, bot_token_file):
        return ("# written by tests/delivery\n"
                "[matrix]\nhomeserver_url = %s\nserver_name = %s\n"
                "bot_user = %s\nbot_token_file = %s\nregistration = dummy\n"
                "invite = %s\n"
                "\n[letta]\nbase_url = %s\ndiscovery_interval = 10s\n"
                "\n[store]\npath = /var/lib/lettamx\n"
                % (self.hs.url, self.hs.server_name, self.bot["user_id"],
                   bot_token_file, self.person, self.letta.url))

    def markers(self):
        """agent id -> room ids that carry its marker."""
        out = {}
        for r in self.hs.rooms():
            room = r if "state" in r else self.hs.room(r["room_id"])
            for ev in room.get("state", []):
                if ev["type"] == MARKER and "agent_id" in ev["content"]:
                    out.setdefault(ev["content"]["agent_id"], []).append(
                        room["room_id"])
        return out

    def provisioned(self):
        m = self.markers()
        return all(len(m.get(a, [])) == 1 for a in self.agent_ids)

    def stop(self):
        self.hs.stop()
        self.letta.stop()


class Root:
    """A directory to chroot into; removed (and unmounted) at close."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o755)     # it is /, for every user inside
        self.mounts = []

    def path(self, *parts):
        return os.path.join(self.dir, *[p.lstrip("/") for p in parts])

    def mkdir(self, *dirs, mode=0o755):
        for d in dirs:
            os.makedirs(self.path(d), exist_ok=True)
            os.chmod(self.path(d), mode)

    def write(self, name, text, mode=0o644, owner=None):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        if owner is not None:
            os.chown(p, owner, owner)
        return p

    def devices(self):
        self.mkdir("/dev")
        for name, major, minor in DEVICES:
            p = self.path("dev", name)
            if not os.path.exists(p):
                os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
                os.chmod(p, 0o666)

    def mount_proc(self):
        self.mkdir("/proc")
        subprocess.run(["mount", "-t", "proc", "proc", self.path("proc")],
                       check=True)
        self.mounts.append(self.path("proc"))

    def run(self, argv, env=None, timeout=60, user=None):
        """argv inside the root (as root, or as uid:gid user)."""
        cmd = ["chroot"]
        if user:
            cmd += ["--userspec=%s" % user, "--groups=%s" % user.split(":")[1]]
        cmd += [self.dir] + list(argv)
        return subprocess.run(cmd, env=dict(env or {}, PATH=PATH),
                              capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, argv, env=None, user=None, **kw):
        cmd = ["chroot"]
        if user:
            cmd += ["--userspec=%s" % user, "--groups=%s" % user.split(":")[1]]
        return subprocess.Popen(cmd + [self.dir] + list(argv),
                                env=dict(env or {}, PATH=PATH), **kw)

    def read(self, name):
        try:
            with open(self.path(name), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], check=False)
        self.mounts = []
        shutil.rmtree(self.dir, ignore_errors=True)


class Syslogd:
    """busybox syslogd inside a root, writing /var/log/messages."""

    def __init__(self, root):
        self.root = root
        self.proc = None

    def start(self):
        sock = self.root.path("dev", "log")
        if os.path.exists(sock):
            os.unlink(sock)
        self.proc = self.root.popen(["/bin/busybox", "syslogd", "-n", "-O",
                                     "/var/log/messages"],
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        if not wait_for(lambda: os.path.exists(sock), 10):
            raise RuntimeError("syslogd made no /dev/log")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
