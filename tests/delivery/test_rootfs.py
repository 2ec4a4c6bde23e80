"""The FROM scratch tree (`make rootfs`): what is in it, its size, and
`lettamx run` started from it as the container would start it (chroot to
the tree, uid 10001, the configuration completed through the environment,
the secret mounted as a file) against the fakes on loopback.
"""

import hashlib
import os
import signal
import subprocess
import tempfile
import unittest

from roots import REPO, UID, Fakes, Root, alive, proc_ids, wait_for, why_not

BUDGET = 2 * 1024 * 1024        # beside the CA bundle
TREE = [                        # (path, mode, uid)
    ("etc", 0o755, 0), ("etc/group", 0o644, 0),
    ("etc/lettamx.conf", 0o644, 0), ("etc/passwd", 0o644, 0),
    ("etc/ssl", 0o755, 0), ("etc/ssl/certs", 0o755, 0),
    ("etc/ssl/certs/ca-certificates.crt", 0o644, 0),
    ("usr", 0o755, 0), ("usr/bin", 0o755, 0),
    ("usr/bin/lettamx", 0o755, 0),
    ("var", 0o755, 0), ("var/lib", 0o755, 0),
    ("var/lib/lettamx", 0o700, UID),
]


def tarball():
    return os.path.join(REPO, "build", "x86_64", "rootfs.tar")


def make_rootfs():
    subprocess.run(["make", "-s", "-C", REPO, "rootfs"], check=True,
                   stdout=subprocess.DEVNULL)
    return tarball()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Rootfs(unittest.TestCase):
    def setUp(self):
        why = why_not()
        if why:
            self.skipTest(why)
        self.tar = make_rootfs()
        self.root = Root("lettamx-rootfs-")
        self.addCleanup(self.root.close)
        subprocess.run(["tar", "-xf", self.tar, "--numeric-owner",
                        "-C", self.root.dir], check=True)

    def test_tree_owners_and_size(self):
        got = []
        for dirpath, dirs, files in os.walk(self.root.dir):
            for name in dirs + files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                got.append((os.path.relpath(p, self.root.dir),
                            st.st_mode & 0o7777, st.st_uid))
        self.assertEqual(sorted(got), sorted(TREE))
        with open(self.root.path("etc/passwd")) as f:
            users = {line.split(":")[0]: line.split(":") for line in f}
        self.assertEqual(users["lettamx"][2:4], [str(UID), str(UID)])
        self.assertEqual(sha256(self.root.path("usr/bin/lettamx")),
                         sha256(os.path.join(REPO, "build", "x86_64",
                                             "lettamx")))
        files = [os.path.join(d, f) for d, _, fs in os.walk(self.root.dir)
                 for f in fs]
        total = sum(os.path.getsize(f) for f in files)
        ca = os.path.getsize(self.root.path(
            "etc/ssl/certs/ca-certificates.crt"))
        # the figure itself: make bench (bench rootfs_tree)
        self.assertLessEqual(total - ca, BUDGET)

    def test_the_containerfile_builds_this_tree(self):
        # No container engine runs here: check that the Containerfile
        # copies exactly the tree's top directories from the context
        # (build/<board>/rootfs/, the tar's contents), runs as the tree's
        # user, keeps the store as the volume and starts the binary.
        path = os.path.join(REPO, "board", "common", "container",
                            "Containerfile")
        with open(path) as f:
            lines = [l.split() for l in f if l.strip() and
                     not l.startswith("#")]
        self.assertEqual(lines[0], ["FROM", "scratch"])
        copied = set()
        for words in lines:
            if words[0] == "COPY":
                src = words[-2]
                self.assertTrue(os.path.isdir(self.root.path(src)), src)
                copied.add(src.rstrip("/"))
                if src.startswith("var/lib/lettamx"):
                    self.assertIn("--chown=%d:%d" % (UID, UID), words)
        context = os.path.join(os.path.dirname(self.tar), "rootfs")
        self.assertEqual(sorted(os.listdir(context)),
                         sorted(os.listdir(self.root.dir)))
        top = {c.split("/")[0] for c in copied}
        self.assertEqual(top, set(os.listdir(self.root.dir)))
        words = {w[0]: w[1:] for w in lines}
        self.assertEqual(words["USER"], ["%d:%d" % (UID, UID)])
        self.assertEqual(words["VOLUME"], ['["/var/lib/lettamx"]'])
        self.assertEqual(words["ENTRYPOINT"], ['["/usr/bin/lettamx"]'])
        self.assertTrue(os.access(self.root.path("usr/bin/lettamx"),
                                  os.X_OK))

    def test_the_tar_is_the_same_every_time(self):
        first = sha256(self.tar)
        os.unlink(self.tar)
        self.assertEqual(sha256(make_rootfs()), first)

    def test_run_from_the_tree(self):
        fakes = Fakes()
        self.addCleanup(fakes.stop)
        root = self.root
        root.devices()              # what a container runtime provides
        root.mkdir("/run/secrets")
        root.write("/run/secrets/bot.token", fakes.bot["access_token"] +
                   "\n", mode=0o400, owner=UID)
        env = {"LETTAMX_MATRIX_HOMESERVER_URL": fakes.hs.url,
               "LETTAMX_MATRIX_SERVER_NAME": fakes.hs.server_name,
               "LETTAMX_MATRIX_BOT_USER": fakes.bot["user_id"],
               "LETTAMX_MATRIX_BOT_TOKEN_FILE": "/run/secrets/bot.token",
               "LETTAMX_MATRIX_REGISTRATION": "dummy",
               "LETTAMX_LETTA_BASE_URL": fakes.letta.url}
        out = tempfile.TemporaryFile()
        proc = root.popen(["/usr/bin/lettamx", "run", "-c",
                           "/etc/lettamx.conf"], env=env,
                          user="%d:%d" % (UID, UID), stdout=out,
                          stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        def output():
            out.seek(0)
            return out.read().decode("utf-8", "replace")

        self.assertTrue(wait_for(fakes.provisioned, 60),
                        "not provisioned: %r\n%s" % (fakes.markers(),
                                                     output()))
        pid = self.daemon_pid(proc)
        self.assertEqual(proc_ids(pid)["Uid"], [UID] * 4)
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "event=log_reopened" in output(),
                                 15), output())
        self.assertIsNone(proc.poll(), output())
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(15), 0, output())
        self.assertIn("event=stopped", output())
        self.assertFalse(alive(pid))
        for name in ("data.mdb", "master.secret"):
            st = os.stat(root.path("/var/lib/lettamx", name))
            self.assertEqual(st.st_uid, UID, name)

    def daemon_pid(self, proc):
        """chroot execs the daemon: its pid is the one started."""
        with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
            self.assertTrue(f.read().startswith(b"/usr/bin/lettamx\0"))
        return proc.pid


if __name__ == "__main__":
    unittest.main()
