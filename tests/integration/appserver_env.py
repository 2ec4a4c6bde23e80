"""Run Letta's real App Server (npm @letta-ai/letta-code) offline for tests.

    reason = skip_reason()            # None, or why it cannot run here
    env = AppServerEnv().start()      # fake_model.py + `letta server`
    s = env.session()                 # a Session on ws://127.0.0.1:P/ws
    agent = s.agent_create("name")    # model openai-compatible/fake-model
    s.runtime_start(agent["id"], mode="strict")
    s.send_text(agent["id"], "hello", client_message_id="cm-1")
    done = s.wait_for("turn_finished")
    env.stop()

The server is installed by `tools/appserver-install.sh` into
build/appserver (or $LETTAMX_APPSERVER_DIR). Each AppServerEnv has a fresh
temporary HOME and LETTA_LOCAL_BACKEND_DIR, runs `letta --backend local
connect openai-compatible --base-url <fake_model>/v1` once, then `letta
server --backend local --listen ws://127.0.0.1:0` (the port it picked is
read from its "Listening on ws://..." line) as a child of this process
(it exits when orphaned), and waits for GET /readyz and /app-server-info.
The temporary directory (server.out, model.jsonl: every model request)
is removed at stop() unless $LETTAMX_KEEP_APPSERVER_TMP is set.
Standard library only.
"""

import atexit
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from wsclient import WSClient, Timeout  # noqa: E402

FAKE_MODEL = os.path.join(REPO, "tools", "fake_model.py")
MODEL_ID = "fake-model"
MODEL_HANDLE = "openai-compatible/" + MODEL_ID
START_TIMEOUT = 60.0


def appserver_dir():
    return os.environ.get("LETTAMX_APPSERVER_DIR") or os.path.join(
        REPO, "build", "appserver")


def letta_js():
    return os.path.join(appserver_dir(), "package", "letta.js")


def node_major():
    """The major version of `node` on PATH, or None."""
    node = shutil.which("node")
    if not node:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True,
                             text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"v?(\d+)\.", out)
    return int(m.group(1)) if m else None


def skip_reason():
    """Why the real App Server cannot run here, or None. With
    LETTAMX_REQUIRE_APPSERVER=1 (CI) it never skips: a missing install
    then fails each test that needs it, with the reason (start())."""
    if os.environ.get("LETTAMX_REQUIRE_APPSERVER") == "1":
        return None
    return missing()


def missing():
    """What the real App Server lacks here, or None."""
    major = node_major()
    if major is None or major < 20:
        return "node >= 20 not found"
    if not os.path.isfile(letta_js()) or not os.path.isfile(os.path.join(
            appserver_dir(), "node_modules", "ws", "package.json")):
        return "App Server not installed (tools/appserver-install.sh)"
    return None


def sharp_missing():
    """Why the App Server here cannot prepare pictures (its
    image-resize-worker.js needs sharp's native part beside the package,
    tools/appserver-install.sh), or None. Without it every turn that
    carries a picture fails."""
    reason = missing()
    if reason:
        return reason
    node = shutil.which("node")
    try:
        ok = subprocess.run([node, "-e", 'require("sharp")'],
                            cwd=appserver_dir(), capture_output=True,
                            timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return None if ok else ("sharp not installed beside the App Server "
                            "(tools/appserver-install.sh)")


def http_get(port, path, headers=None, timeout=10.0):
    """(status, headers dict lower-case, body bytes) of one GET."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return (r.status, {k.lower(): v for k, v in r.getheaders()},
                r.read())
    finally:
        conn.close()


class AppServerError(Exception):
    pass


class AppServerEnv:
    """A fake model and a real App Server in a fresh temporary HOME."""

    def __init__(self, model_id=MODEL_ID, verbose=False):
        self.model_id = model_id
        self.verbose = verbose
        self.tmp = None
        self.model_proc = None
        self.server_proc = None
        self.model_port = None
        self.port = None
        self.token = uuid.uuid4().hex

    # -- lifecycle -------------------------------------------------------

    def start(self):
        reason = missing()
        if reason:
            raise AppServerError(reason)
        self.tmp = tempfile.mkdtemp(prefix="lettamx-appserver-")
        atexit.register(self.stop)      # even if a test script crashes
        for d in ("home", "backend", "work"):
            os.makedirs(os.path.join(self.tmp, d))
        try:
            self._start_model()
            self._connect_provider()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def env(self):
        e = dict(os.environ)
        e.update({
            "HOME": os.path.join(self.tmp, "home"),
            "LETTA_LOCAL_BACKEND_DIR": os.path.join(self.tmp, "backend"),
            "LETTA_CODE_TELEM": "0",
            "DO_NOT_TRACK": "1",
            "DISABLE_AUTOUPDATER": "1",
            "NO_COLOR": "1",
        })
        for k in ("LETTA_API_KEY", "LETTA_BASE_URL", "XDG_CONFIG_HOME",
                  "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            e.pop(k, None)
        return e

    def _start_model(self):
        port_file = os.path.join(self.tmp, "model.port")
        self.model_log = open(os.path.join(self.tmp, "model.out"), "w")
        self.model_proc = subprocess.Popen(
            [sys.executable, FAKE_MODEL, "--port", "0", "--port-file",
             port_file, "--model-id", self.model_id, "--control-token",
             self.token, "--log", os.path.join(self.tmp, "model.jsonl")],
            stdout=self.model_log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.model_port = int(txt)
                    return
            if self.model_proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AppServerError("fake_model did not start: %s"
                             % self._tail("model.out"))

    def _connect_provider(self):
        out = subprocess.run(
            ["node", letta_js(), "--backend", "local", "connect",
             "openai-compatible", "--base-url",
             "http://127.0.0.1:%d/v1" % self.model_port],
            env=self.env(), cwd=os.path.join(self.tmp, "work"),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=START_TIMEOUT)
        if out.returncode != 0:
            raise AppServerError("letta connect failed (%d): %s %s"
                                 % (out.returncode, out.stdout, out.stderr))

    def _start_server(self, port=0):
        self.server_out = os.path.join(self.tmp, "server.out")
        self.server_log = open(self.server_out, "a")
        self.server_log.write("--- start\n")
        self.server_log.flush()
        self.port = None
        self.server_proc = subprocess.Popen(
            ["node", letta_js(), "server", "--backend", "local", "--listen",
             "ws://127.0.0.1:%d" % port],
            env=self.env(), cwd=os.path.join(self.tmp, "work"),
            stdin=subprocess.DEVNULL, stdout=self.server_log,
            stderr=subprocess.STDOUT)
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.server_proc.poll() is not None:
                raise AppServerError("letta server exited (%s): %s"
                                     % (self.server_proc.returncode,
                                        self._tail("server.out")))
            if self.port is None:
                out = self._tail("server.out", 20000)
                m = re.search(r"Listening on ws://127\.0\.0\.1:(\d+)",
                              out[out.rfind("--- start"):])
                if m:
                    self.port = int(m.group(1))
            if self.port is not None:
                try:
                    st, _, _ = http_get(self.port, "/readyz", timeout=2)
                    if st == 200:
                        st, _, body = http_get(self.port, "/app-server-info",
                                               timeout=5)
                        if st == 200:
                            self.info = json.loads(body)
                            return
                except (OSError, ValueError):
                    pass
            time.sleep(0.1)
        raise AppServerError("letta server not ready within %ds: %s"
                             % (START_TIMEOUT, self._tail("server.out")))

    def _tail(self, name, n=2000):
        if not self.tmp:
            return ""
        try:
            with open(os.path.join(self.tmp, name), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def server_output(self):
        return self._tail("server.out", 100000)

    def restart_server(self, same_port=True):
        """SIGTERM the App Server and start it again on the same HOME and
        backend directory (and port, unless same_port is false)."""
        port = self.port if same_port else 0
        self.stop_server()
        self._start_server(port)

    def stop_server(self):
        proc, self.server_proc = self.server_proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if getattr(self, "server_log", None):
            self.server_log.close()
            self.server_log = None

    def stop(self):
        for proc in (self.server_proc, self.model_proc):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for f in (getattr(self, "server_log", None),
                  getattr(self, "model_log", None)):
            if f:
                f.close()
        if self.tmp and not os.environ.get("LETTAMX_KEEP_APPSERVER_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.server_proc = self.model_proc = None
        self.server_log = self.model_log = None
        self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- access ----------------------------------------------------------

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    @property
    def workdir(self):
        return os.path.join(self.tmp, "work")

    def connect(self, **kw):
        """A bare WSClient on /ws."""
        return WSClient(self.ws_url, **kw)

    def session(self, **kw):
        return Session(self.connect(**kw))

    def model_requests(self, path="/v1/chat/completions"):
        """The fake model's request log (chat completions by default)."""
        st, _, body = http_get(self.model_port, "/_fake/requests",
                               headers={"X-Fake-Control": self.token})
        if st != 200:
            raise AppServerError("fake_model log: %d" % st)
        return [e for e in json.loads(body)
                if path is None or e.get("path") == path]


class Session:
    """A WebSocket to the App Server with request/response helpers. Every
    frame read is kept in self.frames (in order). Call mark() before an
    action, then wait_for() the frames it causes."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []
        self.used = set()       # id() of frames wait_for returned
        self.cursor = 0         # wait_for looks at frames from here
        self.n = 0

    def close(self):
        self.ws.close()

    def abort(self):
        self.ws.abort()

    def rid(self, prefix="r"):
        self.n += 1
        return "%s-%d-%s" % (prefix, self.n, uuid.uuid4().hex[:6])

    def send(self, obj):
        self.ws.send_json(obj)

    def _read(self, timeout):
        f = self.ws.recv_json(timeout)
        self.frames.append(f)
        return f

    def wait_for(self, type_=None, pred=None, timeout=30.0, since=None):
        """The first frame of type `type_` (and matching pred) read after
        the last mark() (or index `since`) that no wait_for returned yet:
        from those already read or, failing that, read from the socket."""
        def ok(f):
            return (type_ is None or f.get("type") == type_) and \
                (pred is None or pred(f))
        start = self.cursor if since is None else since
        for f in self.frames[start:]:
            if id(f) not in self.used and ok(f):
                self.used.add(id(f))
                return f
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout("no %s frame within %.1fs (last: %s)"
                              % (type_, timeout,
                                 [x.get("type") for x in self.frames[-8:]]))
            f = self._read(left)
            if ok(f):
                self.used.add(id(f))
                return f

    def drain(self, quiet=0.5, limit=30.0):
        """Read until quiet; returns the frames read."""
        out, end = [], time.monotonic() + limit
        while time.monotonic() < end:
            try:
                out.append(self._read(quiet))
            except Timeout:
                break
        return out

    def mark(self):
        """From now on: wait_for() ignores the frames read so far. Returns
        the index for frames_since()."""
        self.cursor = len(self.frames)
        return self.cursor

    def frames_since(self, mark, type_=None):
        return [f for f in self.frames[mark:]
                if type_ is None or f.get("type") == type_]

    def request(self, obj, timeout=30.0):
        """Send a command with a request_id; its *_response."""
        obj = dict(obj)
        obj.setdefault("request_id", self.rid(obj["type"][:6]))
        rid = obj["request_id"]
        self.send(obj)
        return self.wait_for(None, lambda f: f.get("request_id") == rid and
                             f.get("type") != "control_request",
                             timeout)

    # -- agents ----------------------------------------------------------

    def app_server_info(self):
        return self.request({"type": "app_server_info"})

    def agent_create(self, name=None, model=MODEL_HANDLE, **body):
        body.update({"name": name or "test-" + uuid.uuid4().hex[:8],
                     "model": model})
        r = self.request({"type": "agent_create", "body": body})
        if not r.get("success"):
            raise AppServerError("agent_create: %s" % r)
        return r["agent"]

    def agent_list(self, **query):
        r = self.request({"type": "agent_list", "query": query}
                         if query else {"type": "agent_list"})
        if not r.get("success"):
            raise AppServerError("agent_list: %s" % r)
        return r["agents"]

    def agent_rename(self, agent_id, name):
        return self.request({"type": "agent_update", "agent_id": agent_id,
                             "body": {"name": name}})

    def agent_delete(self, agent_id):
        return self.request({"type": "agent_delete", "agent_id": agent_id})

    # -- conversations ---------------------------------------------------

    def runtime_start(self, agent_id, conversation_id="default", mode=None,
                      **extra):
        cmd = {"type": "runtime_start", "agent_id": agent_id,
               "conversation_id": conversation_id}
        if mode is not None:
            cmd["mode"] = mode
        cmd.update(extra)
        r = self.request(cmd, timeout=60)
        if not r.get("success"):
            raise AppServerError("runtime_start: %s" % r)
        return r

    @staticmethod
    def runtime(agent_id, conversation_id="default"):
        return {"agent_id": agent_id, "conversation_id": conversation_id}

    def send_text(self, agent_id, text, client_message_id=None,
                  conversation_id="default", request_id=None):
        """An `input` create_message; returns its request_id (the
        input_accepted may come late: wait_for it)."""
        msg = {"role": "user", "content": text}
        if client_message_id is not None:
            msg["client_message_id"] = client_message_id
        rid = request_id or self.rid("in")
        self.send({"type": "input", "request_id": rid,
                   "runtime": self.runtime(agent_id, conversation_id),
                   "payload": {"kind": "create_message",
                               "messages": [msg]}})
        return rid

    def approve(self, agent_id, request_id, allow=True, message=None,
                conversation_id="default"):
        decision = {"behavior": "allow" if allow else "deny"}
        if message is not None or not allow:
            decision["message"] = message or "denied by test"
        self.send({"type": "input", "request_id": self.rid("ap"),
                   "runtime": self.runtime(agent_id, conversation_id),
                   "payload": {"kind": "approval_response",
                               "request_id": request_id,
                               "decision": decision}})

    def messages(self, agent_id, conversation_id="default", **query):
        """conversation_messages_list (the default conversation needs
        query.agent_id)."""
        if conversation_id == "default":
            query.setdefault("agent_id", agent_id)
        r = self.request({"type": "conversation_messages_list",
                          "conversation_id": conversation_id,
                          "query": query})
        if not r.get("success"):
            raise AppServerError("conversation_messages_list: %s" % r)
        return r

    def conversations(self, agent_id, **query):
        """conversation_list of agent_id's conversations."""
        query["agent_id"] = agent_id
        r = self.request({"type": "conversation_list", "query": query})
        if not r.get("success"):
            raise AppServerError("conversation_list: %s" % r)
        return r["conversations"]

    def wait_turn(self, timeout=60.0, pred=None, since=None):
        return self.wait_for("turn_finished", pred, timeout, since)


def text_of(message):
    """The text of a message or delta (content string or parts)."""
    c = message.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


def person_text(message):
    """A user message's text without the App Server's <system-reminder>
    blocks."""
    return re.sub(r"<system-reminder>.*?</system-reminder>", "",
                  text_of(message), flags=re.S).strip()
