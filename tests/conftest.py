"""Fixtures for the black-box suite: real ZooKeeper-compatible servers driven by real clients.

Every test that uses the `server` fixture (directly or through `zk`, `root`, `wire`, ...) runs
once per target. Targets come from `--target a,b` or $HERD_TEST_TARGETS (default
"herd,zookeeper"):

* zookeeper: Apache ZooKeeper 3.8 from Debian, `java ... QuorumPeerMain zoo.cfg`;
* herd: `$HERD_BIN server zoo.cfg` (default <repo>/target/release/herd).

Servers are module-scoped (one per test module and target), each with a fresh dataDir and a
free 127.0.0.1 port; tests isolate themselves under a unique root path (`root` fixture). A
missing tool (java, herd binary, kazoo, ...) fails the test; nothing is skipped.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ZK_JAR = "/usr/share/java/zookeeper.jar"
# zookeeper.jar's manifest Class-Path already names its runtime dependencies (jute, netty,
# metrics-core, snappy, jetty, jackson, commons-*, slf4j-api); slf4j-simple gives it a log sink.
ZK_CLASSPATH = [ZK_JAR, "/usr/share/java/slf4j-simple.jar"]
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
KNOWN_TARGETS = ("herd", "zookeeper")

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SESSION_TIMEOUT = 10.0
TEST_TIMEOUT = 120  # seconds, per test call

_LIVE = []  # every started Server not yet stopped for good, for failure logs and atexit


def herd_bin():
    return Path(os.environ.get("HERD_BIN") or REPO / "target" / "release" / "herd").resolve()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.05, msg="condition"):
    """Polls pred() until it returns a truthy value; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {msg}")
        time.sleep(interval)


def require_file(path, what):
    if not Path(path).exists():
        pytest.fail(f"{what} not found at {path}; run scripts/install-test-deps.sh")


class ServerError(Exception):
    pass


class Server:
    """One server process of a target, with its own dataDir, zoo.cfg and log file."""

    def __init__(self, target, workdir, whitelist="*", extra_cfg=None):
        if target not in KNOWN_TARGETS:
            raise ServerError(f"unknown target {target!r}; known: {', '.join(KNOWN_TARGETS)}")
        self.target = target
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.cfg_path = self.workdir / "zoo.cfg"
        self.log_path = self.workdir / "server.log"
        self.whitelist = whitelist
        self.extra_cfg = dict(extra_cfg or {})
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc = None
        self._log = None

    @property
    def hosts(self):
        return f"{self.host}:{self.port}"

    def __repr__(self):
        return f"<{self.target} server {self.hosts} {self.workdir}>"

    def config(self):
        cfg = {
            "tickTime": "2000",
            "initLimit": "10",
            "syncLimit": "5",
            "dataDir": str(self.data_dir),
            "clientPort": str(self.port),
            "clientPortAddress": self.host,
            "4lw.commands.whitelist": self.whitelist,
            "extendedTypesEnabled": "true",
            "admin.enableServer": "false",
        }
        cfg.update(self.extra_cfg)
        return cfg

    def write_cfg(self):
        self.cfg_path.write_text("".join(f"{k}={v}\n" for k, v in self.config().items()))

    def command(self):
        if self.target == "zookeeper":
            java = shutil.which("java")
            if java is None:
                raise ServerError("java not found on PATH; run scripts/install-test-deps.sh")
            for jar in ZK_CLASSPATH:
                if not Path(jar).exists():
                    raise ServerError(f"{jar} not found; run scripts/install-test-deps.sh")
            return [
                java, "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                f"-Dzookeeper.4lw.commands.whitelist={self.whitelist}",
                "-Dzookeeper.extendedTypesEnabled=true",
                "-Dzookeeper.admin.enableServer=false",
                "-cp", ":".join(ZK_CLASSPATH), ZK_MAIN, str(self.cfg_path),
            ]
        exe = herd_bin()
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            raise ServerError(
                f"herd binary not found at {exe} (set HERD_BIN or run "
                f"`cargo build --release -p shell-std`)")
        return [str(exe), "server", str(self.cfg_path)]

    # -- lifecycle ---------------------------------------------------------------------------
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        """Starts the process and waits until `ruok` answers `imok`. On the first start a port
        clash (another process took the port meanwhile) is retried with a new port."""
        if self.running():
            raise ServerError(f"{self} already running")
        first = not self.log_path.exists()
        for attempt in range(3):
            try:
                self._spawn_and_wait(timeout)
                break
            except ServerError as e:
                if first and attempt < 2 and "Address already in use" in self.log_tail(60):
                    self.port = free_port()
                    continue
                raise
        if self not in _LIVE:
            _LIVE.append(self)
        return self

    def _spawn_and_wait(self, timeout):
        self.write_cfg()
        cmd = self.command()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._close_log()
                raise ServerError(f"{self} exited with {rc} during start-up:\n{self.log_tail(80)}")
            try:
                # ruok only says the listener is up (ZooKeeper answers imok before its
                # request pipeline runs); srvr (always whitelisted) says it is serving.
                if (self.four_letter("ruok", timeout=2.0) == "imok"
                        and "Mode:" in self.four_letter("srvr", timeout=2.0)):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._terminate(signal.SIGKILL)
                raise ServerError(f"{self} did not answer ruok within {timeout}s:\n"
                                  f"{self.log_tail(80)}")
            time.sleep(0.05)

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def _terminate(self, sig):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_log()

    def stop(self):
        """Graceful stop (SIGTERM, then SIGKILL after STOP_TIMEOUT)."""
        self._terminate(signal.SIGTERM)

    def kill9(self):
        """Crash the server: SIGKILL, no chance to flush anything."""
        self._terminate(signal.SIGKILL)

    def restart(self):
        """Stop and start again on the same port and dataDir."""
        self.stop()
        return self.start()

    def shutdown(self):
        self.stop()
        if self in _LIVE:
            _LIVE.remove(self)

    # -- introspection -----------------------------------------------------------------------
    def four_letter(self, word, timeout=5.0):
        """Sends a four-letter word on a fresh connection and returns the whole answer."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(word.encode("ascii"))
            chunks = []
            deadline = time.monotonic() + timeout
            while True:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    break
                if not d:
                    break
                chunks.append(d)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{word}: connection not closed within {timeout}s")
            return b"".join(chunks).decode("utf-8", "replace")

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, lines=200, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except OSError:
            return "(no log)"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


@atexit.register
def _kill_leftovers():
    for s in list(_LIVE):
        try:
            s._terminate(signal.SIGKILL)
        except Exception:
            pass


# -- pytest plumbing ---------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--target", action="store", default=None,
                     help="comma-separated targets to test: herd,zookeeper "
                          "(default $HERD_TEST_TARGETS or 'herd,zookeeper')")


def _targets(config):
    raw = config.getoption("--target") or os.environ.get("HERD_TEST_TARGETS") or "herd,zookeeper"
    targets = [t.strip() for t in raw.split(",") if t.strip()]
    bad = [t for t in targets if t not in KNOWN_TARGETS]
    if bad or not targets:
        raise pytest.UsageError(f"unknown target(s) {bad}; known: {', '.join(KNOWN_TARGETS)}")
    return targets


def pytest_generate_tests(metafunc):
    if "server" in metafunc.fixturenames:
        targets = _targets(metafunc.config)
        metafunc.parametrize("server", targets, indirect=True, scope="module", ids=targets)


def pytest_runtest_setup(item):
    item._herd_log_offsets = {id(s): s.log_size() for s in _LIVE}


class CallTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CallTimeout(f"test exceeded the {TEST_TIMEOUT}s per-test limit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Backstop for hangs: every wait in the suite is bounded, but a test that still blocks
    (e.g. a server that never replies to a synchronous client call) is failed after
    TEST_TIMEOUT seconds instead of stalling the run."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("call", "setup"):
        offsets = getattr(item, "_herd_log_offsets", {})
        for s in list(_LIVE):
            rep.sections.append((f"{s.target} server log {s.log_path}",
                                 s.log_tail(200, since=offsets.get(id(s), 0))))


def start_server(target, workdir, **kw):
    """Starts a Server or fails the test with its log."""
    s = Server(target, workdir, **kw)
    try:
        return s.start()
    except ServerError as e:
        s.shutdown()
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """The module's server for one target (parametrized by pytest_generate_tests)."""
    target = request.param
    workdir = tmp_path_factory.mktemp(f"{target}-{request.module.__name__}")
    s = start_server(target, workdir)
    yield s
    s.shutdown()


@pytest.fixture
def server_factory(server, tmp_path_factory):
    """Starts extra servers of the same target (e.g. a fresh tree, another 4lw whitelist)."""
    started = []

    def make(**kw):
        s = start_server(server.target, tmp_path_factory.mktemp(f"{server.target}-extra"), **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.shutdown()


def _kazoo():
    try:
        import kazoo.client  # noqa: F401
    except ImportError as e:
        pytest.fail(f"kazoo not importable ({e}); run scripts/install-test-deps.sh", pytrace=False)
    return kazoo.client.KazooClient


def new_client(hosts, timeout=SESSION_TIMEOUT, **kw):
    KazooClient = _kazoo()
    c = KazooClient(hosts=hosts, timeout=timeout,
                    connection_retry=dict(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0),
                    **kw)
    c.start(timeout=15)
    return c


def _close_client(c):
    try:
        c.stop()
    finally:
        c.close()


@pytest.fixture
def zk_factory(server):
    """Makes extra kazoo clients connected to the server; all closed at teardown."""
    clients = []

    def make(**kw):
        c = new_client(kw.pop("hosts", server.hosts), **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        try:
            _close_client(c)
        except Exception:  # a client of a dead server; the next test gets fresh ones
            pass


@pytest.fixture
def zk(zk_factory):
    return zk_factory()


@pytest.fixture
def root(zk):
    """A unique, freshly created persistent root for the test: /t-<uuid>."""
    path = f"/t-{uuid.uuid4().hex}"
    zk.create(path)
    return path


@pytest.fixture
def wire(server):
    """Factory of raw protocol connections (tests/zkwire.py); all closed at teardown."""
    import zkwire

    conns = []

    def make(handshake=True, **kw):
        c = zkwire.Conn(server.host, server.port)
        conns.append(c)
        if handshake:
            c.handshake(**kw)
        return c

    yield make
    for c in conns:
        c.close()
