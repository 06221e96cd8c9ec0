"""A replicated ensemble of one target for the black-box suite: n servers on 127.0.0.1, each
with its own dataDir (holding `myid`) and a zoo.cfg naming every member as
`server.N=127.0.0.1:quorumPort:electionPort`.

Members are conftest `Server`s, so herd runs as `$HERD_BIN server zoo.cfg` and ZooKeeper as
`java ... QuorumPeerMain zoo.cfg`, exactly as in the single-server suite. A member only answers
`srvr` with a `Mode:` line once it is in a quorum, so processes are started first and waited
for afterwards. Roles are read from `srvr` (`Mode: leader` / `Mode: follower`) and follower
counts from the leader's `mntr` (`zk_learners`, `zk_synced_followers`; ZooKeeper 3.8 prints
them on the leader only).

Only one ensemble runs at a time: starting one stops (keeping its data) any other still
running, so a 3-node and a 5-node ensemble never compete for the 2 cores. The health fixture
of a suspended ensemble starts it again on its old dataDirs.
"""

import re
import subprocess
import time

import pytest

import conftest
from conftest import Server, ServerError, START_TIMEOUT, _targets, free_port

TICK_MS = 500
ENSEMBLE_CFG = {
    "tickTime": str(TICK_MS),
    "initLimit": "10",
    "syncLimit": "5",
    # Sessions of 1 s (2 ticks, ZooKeeper's default minimum) up to 30 s.
    "minSessionTimeout": "1000",
    "maxSessionTimeout": "30000",
}
# Per-target additions. A follower more than ZooKeeper's 500 kept committed proposals behind
# would still get a DIFF, read from the on-disk txn log while that log is small next to the
# snapshot; snapshotSizeFactor < 0 (ZooKeeper turns unknown zoo.cfg keys into the system
# property zookeeper.<key>) turns that off, so such a follower gets a SNAP.
TARGET_CFG = {
    "zookeeper": {"snapshotSizeFactor": "-1"},
    "herd": {},
}
# Roles a member reports in `srvr` once it serves clients as part of a quorum.
SERVING_MODES = ("leader", "follower")
STABLE_TIMEOUT = 30.0  # a new leader must be elected (and followers synced) within this
REJOIN_TIMEOUT = 30.0  # a restarted member must be serving again within this

_RUNNING_ENSEMBLES = []  # at most one entry: the ensemble whose processes are up


class Member(Server):
    """One member of an ensemble: a Server whose zoo.cfg names all peers and whose dataDir
    holds `myid`. It is spawned without waiting; the Ensemble waits for the quorum."""

    def __init__(self, target, workdir, myid, ports):
        super().__init__(target, workdir)
        self.myid = myid
        self.port, self.quorum_port, self.election_port = ports
        self.peers = []  # every Member of the ensemble, self included
        self.downed = False  # stopped or killed on purpose (not a crash to report)

    def __repr__(self):
        return f"<{self.target} member {self.myid} {self.hosts} {self.workdir}>"

    def config(self):
        cfg = super().config()
        cfg.update(ENSEMBLE_CFG)
        cfg.update(TARGET_CFG[self.target])
        for p in self.peers:
            cfg[f"server.{p.myid}"] = f"{p.host}:{p.quorum_port}:{p.election_port}"
        return cfg

    def spawn(self):
        """Starts the process and returns at once (see Ensemble.wait_serving)."""
        if self.running():
            raise ServerError(f"{self} already running")
        self.downed = False
        (self.data_dir / "myid").write_text(f"{self.myid}\n")
        self.write_cfg()
        cmd = self.command()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if self not in conftest._LIVE:  # failure reports dump the logs of everything in _LIVE
            conftest._LIVE.append(self)

    def start(self, timeout=START_TIMEOUT):
        raise ServerError("start members through their Ensemble")

    def stop(self):
        self.downed = True
        super().stop()

    def kill9(self):
        self.downed = True
        super().kill9()

    def mode(self):
        """The `Mode:` of `srvr` (leader, follower, ...), or None when the process is down,
        does not answer, or is not serving (no quorum)."""
        if not self.running():
            return None
        try:
            out = self.four_letter("srvr", timeout=2.0)
        except OSError:
            return None
        m = re.search(r"^Mode:\s*(\S+)", out, re.M)
        return m.group(1) if m else None

    def mntr(self):
        """`mntr` as a dict of key -> value string (lines are `key<TAB>value`)."""
        out = self.four_letter("mntr", timeout=5.0)
        stats = {}
        for line in out.splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2:
                stats[parts[0]] = parts[1].strip()
        return stats


def _distinct_free_ports(count):
    """`count` currently free ports, pairwise distinct (the kernel may hand out a port again
    once the probing socket is closed)."""
    ports = []
    while len(ports) < count:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


class Ensemble:
    """n members of one target. Members are addressed by index 0..n-1 (myid = index + 1)."""

    def __init__(self, target, n, workdir):
        self.target = target
        self.n = n
        self.workdir = workdir
        ports = _distinct_free_ports(3 * n)
        self.members = [Member(target, workdir / f"m{i + 1}", i + 1, ports[3 * i:3 * i + 3])
                        for i in range(n)]
        for m in self.members:
            m.peers = self.members

    def __repr__(self):
        return f"<{self.target} ensemble of {self.n} in {self.workdir}>"

    # -- addresses ---------------------------------------------------------------------------
    @property
    def hosts(self):
        """Connect string naming every member, for a client that may use any of them."""
        return self.hosts_of(range(self.n))

    def hosts_of(self, indices):
        return ",".join(self.members[i].hosts for i in indices)

    # -- lifecycle ---------------------------------------------------------------------------
    def running(self):
        return [i for i, m in enumerate(self.members) if m.running()]

    def start_all(self, timeout=START_TIMEOUT):
        """Starts every member not running (after stopping any other running ensemble) and
        waits until all serve with exactly one leader."""
        for other in list(_RUNNING_ENSEMBLES):
            if other is not self:
                other.stop_all()
        for m in self.members:
            if not m.running():
                m.spawn()
        if self not in _RUNNING_ENSEMBLES:
            _RUNNING_ENSEMBLES.append(self)
        return self.wait_stable(timeout)

    def start(self, i, timeout=REJOIN_TIMEOUT):
        """Starts member i again (same ports and dataDir) and waits until it serves as part
        of the quorum; returns its mode."""
        self.members[i].spawn()
        self.wait_serving([i], timeout)
        return self.members[i].mode()

    def kill9(self, i):
        """Crashes member i: SIGKILL, nothing flushed."""
        self.members[i].kill9()

    def stop(self, i):
        self.members[i].stop()

    def heal(self):
        """Brings back every member a test left down; if the ensemble does not settle, restarts
        all members on their dataDirs. Returns the leader's index."""
        try:
            return self.start_all(timeout=REJOIN_TIMEOUT)
        except pytest.fail.Exception:
            self.stop_all()
            return self.start_all()

    def stop_all(self):
        for m in self.members:
            m.stop()
            if m in conftest._LIVE:
                conftest._LIVE.remove(m)
        if self in _RUNNING_ENSEMBLES:
            _RUNNING_ENSEMBLES.remove(self)

    # -- roles -------------------------------------------------------------------------------
    def modes(self):
        """Mode of every member (None if down or not serving)."""
        return [m.mode() for m in self.members]

    def describe(self):
        """One line per member: its mode, or why it has none (down, srvr text)."""
        lines = []
        for m in self.members:
            if not m.running():
                state = "down"
            else:
                try:
                    out = m.four_letter("srvr", timeout=2.0)
                    mode = re.search(r"^Mode:\s*(\S+)", out, re.M)
                    state = mode.group(1) if mode else f"srvr says {out.strip()[:120]!r}"
                except OSError as e:
                    state = f"srvr failed: {e}"
            lines.append(f"  member {m.myid} ({m.hosts}): {state}")
        return "\n".join(lines)

    def log_tails(self, lines=60):
        return "\n".join(f"----- {m} log -----\n{m.log_tail(lines)}" for m in self.members)

    def _check_alive(self, indices):
        """Fails at once on a member that crashed, or that runs standalone although its
        zoo.cfg names the whole ensemble."""
        for i in indices:
            m = self.members[i]
            if not m.downed and m.proc is not None and m.proc.poll() is not None:
                pytest.fail(f"{m} exited with {m.proc.returncode}:\n{m.log_tail(80)}",
                            pytrace=False)

    def _check_modes(self, modes):
        lone = [i for i, md in modes.items() if md == "standalone"]
        if lone:
            pytest.fail(f"{self}: members {[i + 1 for i in lone]} (myid) report "
                        f"Mode: standalone although zoo.cfg "
                        f"names {self.n} servers", pytrace=False)

    def wait_serving(self, indices, timeout=START_TIMEOUT):
        """Waits until every member in `indices` reports leader or follower."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(indices)
            modes = {i: self.members[i].mode() for i in indices}
            self._check_modes(modes)
            if all(md in SERVING_MODES for md in modes.values()):
                return modes
            if time.monotonic() > deadline:
                pytest.fail(f"{self}: members {[i + 1 for i in indices]} (myid) not serving "
                            f"within {timeout}s:\n{self.describe()}", pytrace=False)
            time.sleep(0.1)

    def wait_stable(self, timeout=STABLE_TIMEOUT):
        """Waits until every running member serves and exactly one of them leads; returns
        the leader's index."""
        deadline = time.monotonic() + timeout
        while True:
            up = self.running()
            self._check_alive(range(self.n))
            modes = {i: self.members[i].mode() for i in up}
            self._check_modes(modes)
            leaders = [i for i, md in modes.items() if md == "leader"]
            if (up and len(leaders) == 1
                    and all(md in SERVING_MODES for md in modes.values())):
                return leaders[0]
            if time.monotonic() > deadline:
                pytest.fail(f"{self}: no stable quorum (every running member serving, one "
                            f"leader) within {timeout}s:\n{self.describe()}", pytrace=False)
            time.sleep(0.1)

    def leader(self):
        """Index of the one running member whose srvr says `Mode: leader` (asserted unique)."""
        modes = {i: self.members[i].mode() for i in self.running()}
        leaders = [i for i, md in modes.items() if md == "leader"]
        assert len(leaders) == 1, f"expected exactly one leader, modes {modes}"
        return leaders[0]

    def followers(self):
        """Indices of the running members other than the leader (asserted to be followers)."""
        lead = self.leader()
        modes = {i: self.members[i].mode() for i in self.running() if i != lead}
        assert all(md == "follower" for md in modes.values()), f"modes {modes}"
        return sorted(modes)

    def mntr(self, i):
        return self.members[i].mntr()


# -- fixtures ----------------------------------------------------------------------------------
def parametrize_ensembles(metafunc):
    """Call from a test module's pytest_generate_tests: runs every test using `ensemble3` or
    `ensemble5` once per target, as conftest does for `server`."""
    for name in ("ensemble3", "ensemble5"):
        if name in metafunc.fixturenames:
            targets = _targets(metafunc.config)
            metafunc.parametrize(name, targets, indirect=True, scope="module", ids=targets)


def _make_ensemble(request, tmp_path_factory, n):
    target = request.param
    ens = Ensemble(target, n, tmp_path_factory.mktemp(f"{target}-ens{n}"))
    failure = None
    try:
        ens.start_all()
    except BaseException as e:
        failure = f"{e}\n{ens.log_tails()}"
        ens.stop_all()
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    return ens


@pytest.fixture(scope="module")
def ensemble3(request, tmp_path_factory):
    """A 3-member ensemble of one target (parametrized by parametrize_ensembles)."""
    ens = _make_ensemble(request, tmp_path_factory, 3)
    yield ens
    ens.stop_all()


@pytest.fixture(scope="module")
def ensemble5(request, tmp_path_factory):
    """A 5-member ensemble of one target (parametrized by parametrize_ensembles)."""
    ens = _make_ensemble(request, tmp_path_factory, 5)
    yield ens
    ens.stop_all()
