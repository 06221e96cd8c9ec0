"""Replication: a 3-member (and a 5-member) ensemble of one target, driven by kazoo clients
pinned to single members or spread over all of them. Roles come from `srvr`/`mntr`; every
consistency check reads through `sync` on the server being checked. Members are crashed with
kill -9 and restarted on their dataDir; every wait is bounded.

The 3-member ensemble is shared by the module: the `ens` fixture brings every member back up
(and waits for one leader) before each test, so a test that kills members leaves no trace.
"""

import os
import queue
import signal
import subprocess
import threading
import time
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, KazooState

import zkwire
from conftest import new_client, wait_until
from ensemble import (SERVING_MODES, STABLE_TIMEOUT, ensemble3, ensemble5,  # noqa: F401
                      parametrize_ensembles)

SESSION_TIMEOUT = 10.0  # long enough for a client to ride through a leader election
EVENT_TIMEOUT = 10.0
ACK_TIMEOUT = 30.0  # one acknowledged operation, quorum stable
# ZooKeeper's leader treats `sync` as a plain read (its CommitProcessor has matchSyncs=false),
# so a write acknowledged through a follower can become visible on the leader a moment later
# even after a sync there. Reads on the leader are retried for this long; on a follower the
# first read after a sync must already see every write acknowledged before it.
LEADER_LAG = 5.0
SNAP_WRITES = 1200  # > ZooKeeper's 500 committed proposals kept for DIFF


def pytest_generate_tests(metafunc):
    parametrize_ensembles(metafunc)


@pytest.fixture
def ens(ensemble3):
    """The module's 3-member ensemble with every member up and exactly one leader."""
    ensemble3.heal()
    return ensemble3


@pytest.fixture
def ens5(ensemble5):
    ensemble5.heal()
    return ensemble5


@pytest.fixture
def clients():
    """Makes kazoo clients (`make(hosts, **kw)`); all stopped at teardown."""
    made = []

    def make(hosts, timeout=SESSION_TIMEOUT, **kw):
        c = new_client(hosts, timeout=timeout, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:  # a client of a dead member; nothing left to clean up
            pass


def pinned(ens, clients):
    """One client per member, each connected to that member only."""
    return [clients(m.hosts) for m in ens.members]


def new_root(zk):
    path = f"/ens-{uuid.uuid4().hex}"
    zk.create(path)
    return path


def lag_of(e, i):
    """How long reads on member i may lag after a sync (see LEADER_LAG)."""
    return LEADER_LAG if e.members[i].mode() == "leader" else 0.0


def settle(zk, path, read, ok, lag=0.0):
    """Syncs zk's member, then returns read() (None for a missing node); retried while not
    ok(value) for up to `lag` seconds."""
    zk.sync(path)
    deadline = time.monotonic() + lag
    while True:
        try:
            v = read()
        except NoNodeError:
            v = None
        if ok(v) or time.monotonic() >= deadline:
            return v
        time.sleep(0.05)


def synced_get(zk, path, lag=0.0, want=None):
    """(data, stat) after a sync, or None if the node is missing; with a lag, retried until
    the node exists (with data `want` if given)."""
    return settle(zk, path, lambda: zk.get(path),
                  lambda v: v is not None and (want is None or v[0] == want), lag)


def synced_children(zk, path, lag=0.0, want=None):
    """Child names after a sync; with a lag, retried until they equal `want`."""
    return settle(zk, path, lambda: set(zk.get_children(path)),
                  lambda v: want is None or v == want, lag)


def get_all(zk, paths, timeout=ACK_TIMEOUT):
    """Data of every path (pipelined reads); a missing node maps to None."""
    pending = [(p, zk.get_async(p)) for p in paths]
    out = {}
    for p, r in pending:
        try:
            out[p] = r.get(timeout=timeout)[0]
        except NoNodeError:
            out[p] = None
    return out


def seq_of(path):
    return int(path[-10:])


# -- 1. roles ----------------------------------------------------------------------------------
def check_roles(e):
    modes = e.modes()
    assert sorted(modes) == ["follower"] * (e.n - 1) + ["leader"], modes
    lead = e.leader()
    assert e.followers() == [i for i in range(e.n) if i != lead]
    want = str(e.n - 1)
    # Only the leader reports these (ZooKeeper 3.8 names its learner count zk_learners, the
    # old zk_followers); a follower counts as synced once it has finished syncing.
    wait_until(lambda: (e.mntr(lead).get("zk_learners"),
                        e.mntr(lead).get("zk_synced_followers")) == (want, want),
               timeout=10.0, msg=f"leader mntr zk_learners = zk_synced_followers = {want}")
    st = e.mntr(lead)
    assert st.get("zk_server_state") == "leader", st
    for f in e.followers():
        assert e.mntr(f).get("zk_server_state") == "follower"


def test_one_leader_rest_followers(ens):
    check_roles(ens)


# -- 2. replication of writes ------------------------------------------------------------------
def test_write_anywhere_read_everywhere(ens, clients):
    cs = pinned(ens, clients)
    root = new_root(cs[0])

    for w in range(ens.n):
        path = f"{root}/from{w}"
        cs[w].create(path, f"v{w}".encode())
        stats = []
        for r in range(ens.n):
            got = synced_get(cs[r], path, lag_of(ens, r), want=f"v{w}".encode())
            assert got is not None and got[0] == f"v{w}".encode(), (w, r, got)
            st = got[1]
            stats.append((st.czxid, st.mzxid, st.version, st.ephemeralOwner))
        assert len(set(stats)) == 1, f"members disagree on the stat of {path}: {stats}"

    # through a follower, read on the leader
    lead, fol = ens.leader(), ens.followers()[0]
    cs[fol].set(f"{root}/from0", b"changed")
    data, st = synced_get(cs[lead], f"{root}/from0", LEADER_LAG, want=b"changed")
    assert (data, st.version) == (b"changed", 1)

    # children created through one member are listed by all
    cs[fol].create(f"{root}/dir")
    want = {f"c{k}" for k in range(10)}
    for name in sorted(want):
        cs[fol].create(f"{root}/dir/{name}", name.encode())
    for r in range(ens.n):
        assert synced_children(cs[r], f"{root}/dir", lag_of(ens, r), want) == want, r
        assert cs[r].exists(f"{root}/dir").numChildren == len(want)


# -- 3. watches across members -----------------------------------------------------------------
def next_event(q, what, timeout=EVENT_TIMEOUT):
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no {what} event within {timeout:.1f}s")


def test_watches_fire_across_members(ens, clients):
    cs = pinned(ens, clients)
    root = new_root(cs[0])
    lead = ens.leader()
    f0, f1 = ens.followers()
    fired = queue.Queue()

    # (writer, watcher): follower -> other follower, leader -> follower, follower -> leader
    for k, (a, b) in enumerate([(f0, f1), (lead, f0), (f1, lead)]):
        node, parent = f"{root}/n{k}", f"{root}/p{k}"
        cs[a].create(node, b"0")
        cs[a].create(parent)
        assert synced_get(cs[b], parent, lag_of(ens, b)) is not None
        cs[b].get(node, watch=fired.put)
        cs[b].get_children(parent, watch=fired.put)
        assert cs[b].exists(f"{root}/later{k}", watch=fired.put) is None

        cs[a].set(node, b"1")
        ev = next_event(fired, "data")
        assert (ev.type, ev.path) == (EventType.CHANGED, node)

        cs[a].create(f"{parent}/child")
        ev = next_event(fired, "child")
        assert (ev.type, ev.path) == (EventType.CHILD, parent)

        cs[a].create(f"{root}/later{k}")
        ev = next_event(fired, "exists")
        assert (ev.type, ev.path) == (EventType.CREATED, f"{root}/later{k}")

        cs[b].get(node, watch=fired.put)
        cs[a].delete(node)
        ev = next_event(fired, "delete")
        assert (ev.type, ev.path) == (EventType.DELETED, node)

    # watches are one-shot: the changes above fired each exactly once
    cs[f0].set(f"{root}/later0", b"x")
    cs[f0].create(f"{root}/p0/child2")
    for c in cs:
        c.sync(root)
    time.sleep(0.3)
    assert fired.empty(), f"unexpected event {fired.get_nowait()}"


# -- 5. sequential nodes -----------------------------------------------------------------------
def test_sequential_names_unique_and_increasing(ens, clients):
    cs = pinned(ens, clients)
    root = new_root(cs[0])
    parent = f"{root}/q"
    cs[0].create(parent)

    # one after another, round robin over the members
    names = [cs[k % ens.n].create(f"{parent}/n-", b"", sequence=True) for k in range(30)]
    assert [seq_of(p) for p in names] == list(range(30)), names

    # concurrently through every member
    per_thread = 20
    results = [[] for _ in cs]
    errors = []

    def burst(c, out):
        try:
            for _ in range(per_thread):
                out.append(c.create(f"{parent}/n-", b"", sequence=True))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=burst, args=(c, out), daemon=True)
               for c, out in zip(cs, results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60.0)
    assert not any(t.is_alive() for t in threads), "sequential creates did not finish"
    assert not errors, errors
    for out in results:
        seqs = [seq_of(p) for p in out]
        assert seqs == sorted(set(seqs)), f"one client's names not increasing: {out}"
    created = sorted(seq_of(p) for out in results for p in out)
    assert created == list(range(30, 30 + per_thread * ens.n)), created

    want = {p.rsplit("/", 1)[1] for p in names} | {p.rsplit("/", 1)[1]
                                                    for out in results for p in out}
    for i, c in enumerate(cs):
        assert synced_children(c, parent, lag_of(ens, i), want) == want, i


# -- 4. a session moving between members -------------------------------------------------------
def test_session_moves_between_members(ens, clients):
    f_a, f_b = ens.followers()
    lead = ens.leader()
    zk_a = clients(ens.members[f_a].hosts)
    root = new_root(zk_a)
    eph = f"{root}/eph"
    zk_a.create(eph, b"mine", ephemeral=True)
    sid, passwd = zk_a.client_id

    # A dies; the client that was pinned to it is gone without closing its session
    ens.kill9(f_a)
    zk_a.stop()
    zk_b = clients(ens.members[f_b].hosts, client_id=(sid, passwd))
    assert zk_b.client_id[0] == sid, "the session was not resumed on B"
    got = synced_get(zk_b, eph)
    assert got is not None, "the moved session's ephemeral is missing on B"
    assert (got[0], got[1].ephemeralOwner) == (b"mine", sid)
    # the session is usable for writes through B
    zk_b.set(eph, b"moved")
    zk_b.create(f"{root}/eph2", ephemeral=True)

    assert ens.start(f_a) == "follower"
    others = {i: clients(ens.members[i].hosts) for i in (lead, f_a)}
    for i, c in others.items():
        assert synced_children(c, root, lag_of(ens, i), {"eph", "eph2"}) == {"eph", "eph2"}, i
        data, st = c.get(eph)
        assert (data, st.ephemeralOwner) == (b"moved", sid), i
        assert c.exists(f"{root}/eph2").ephemeralOwner == sid, i

    zk_b.stop()  # closeSession: its ephemerals go, everywhere
    for i, c in others.items():
        assert synced_children(c, root, lag_of(ens, i), set()) == set(), i
    other_b = clients(ens.members[f_b].hosts)
    assert synced_children(other_b, root) == set()


# -- 8a. expiry of a vanished client's session -------------------------------------------------
def test_ephemerals_of_vanished_client_expire_everywhere(ens, clients):
    cs = pinned(ens, clients)
    root = new_root(cs[0])
    owner = ens.followers()[0]
    m = ens.members[owner]
    fired = queue.Queue()
    raw = zkwire.connect(m.host, m.port, timeout_ms=4000)
    try:
        sess = raw.session
        assert 0 < sess.timeout <= 4000
        rep = raw.create(f"{root}/e", b"x", flags=zkwire.EPHEMERAL)
        assert rep.err == 0, rep
        for i, c in enumerate(cs):
            assert synced_children(c, root, lag_of(ens, i), {"e"}) == {"e"}, i
            st = c.exists(f"{root}/e", watch=fired.put)
            assert st is not None and st.ephemeralOwner == sess.session_id
        raw.ping()  # the session is alive up to here
    finally:
        raw.close()  # no closeSession: the client just vanished

    deadline = time.monotonic() + sess.timeout / 1000 + 10.0
    for _ in cs:
        ev = next_event(fired, "ephemeral deleted", max(0.1, deadline - time.monotonic()))
        assert (ev.type, ev.path) == (EventType.DELETED, f"{root}/e")
    for c in cs:
        assert synced_children(c, root) == set()

    # the expired session cannot be resumed, on any member
    for mm in ens.members:
        with zkwire.Conn(mm.host, mm.port) as again:
            s = again.handshake(timeout_ms=2000, session_id=sess.session_id,
                                passwd=sess.passwd)
            assert s.timeout <= 0, f"expired session resumed on {mm}: {s}"


# -- 6. leader crash under write load ----------------------------------------------------------
class Writer(threading.Thread):
    """One client, sequential writes: create w<i>, then set the counter to i. Records every
    acknowledged create and the highest acknowledged counter value; an operation that fails
    or times out is of unknown outcome and skipped."""

    MAX_WRITES = 20000
    MAX_SECONDS = 100.0

    def __init__(self, zk, root):
        super().__init__(daemon=True)
        self.zk, self.root = zk, root
        self.acked = []
        self.attempted = 0
        self.last_set = -1
        self.errors = 0
        self.halt = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.MAX_SECONDS
        for i in range(self.MAX_WRITES):
            if self.halt.is_set() or time.monotonic() > deadline:
                return
            self.attempted = i + 1
            try:
                self.zk.create_async(f"{self.root}/w{i:06d}", str(i).encode()).get(timeout=10)
                self.acked.append(i)
                self.zk.set_async(f"{self.root}/counter", str(i).encode()).get(timeout=10)
                self.last_set = i
            except Exception:
                self.errors += 1
                time.sleep(0.02)

    def acked_count(self):
        return len(self.acked)


def check_has_writes(zk, root, acked, attempted, last_set, who, lag):
    def written():
        return {int(n[1:]) for n in zk.get_children(root) if n.startswith("w")}

    have = settle(zk, root, written, lambda v: set(acked) <= v, lag)
    missing = set(acked) - have
    assert not missing, f"{who} lost {len(missing)} acknowledged writes, e.g. {sorted(missing)[:5]}"
    assert max(have, default=-1) < attempted, f"{who} has writes never attempted"
    data = get_all(zk, [f"{root}/w{i:06d}" for i in acked])
    bad = [p for p, d in data.items() if d != str(int(p[-6:])).encode()]
    assert not bad, f"{who} has wrong data in {bad[:5]}"
    counter = settle(zk, root, lambda: int(zk.get(f"{root}/counter")[0]),
                     lambda v: v is not None and v >= last_set, lag)
    assert last_set <= counter < attempted, (who, counter, last_set, attempted)


def test_leader_kill9_under_write_load(ens, clients):
    root = new_root(clients(ens.hosts))
    writer_zk = clients(ens.hosts)
    writer_zk.create(f"{root}/counter", b"-1")
    w = Writer(writer_zk, root)
    w.start()
    try:
        wait_until(lambda: w.acked_count() >= 100, timeout=30.0, msg="100 writes before the kill")
        old = ens.leader()
        ens.kill9(old)
        new = ens.wait_stable(STABLE_TIMEOUT)
        assert new != old
        base = w.acked_count()
        wait_until(lambda: w.acked_count() >= base + 100, timeout=30.0,
                   msg="writes to resume after the election")
    finally:
        w.halt.set()
        w.join(30.0)
    assert not w.is_alive(), "writer did not stop"
    acked, attempted, last_set = list(w.acked), w.attempted, w.last_set

    for i in ens.running():
        c = clients(ens.members[i].hosts)
        check_has_writes(c, root, acked, attempted, last_set, f"survivor {i}", lag_of(ens, i))

    assert ens.start(old) == "follower"
    assert ens.leader() == new
    c = clients(ens.members[old].hosts)
    check_has_writes(c, root, acked, attempted, last_set, f"restarted ex-leader {old}", 0.0)


# -- 7. a follower far behind catches up by snapshot -------------------------------------------
def test_follower_catches_up_after_many_writes(ens, clients):
    lead = ens.leader()
    victim, other = ens.followers()
    zk = clients(ens.hosts_of([lead, other]))
    root = new_root(zk)
    zk.create(f"{root}/before", b"b")
    zk.sync(root)
    ens.kill9(victim)

    pending = [zk.create_async(f"{root}/n{i:05d}", str(i).encode()) for i in range(SNAP_WRITES)]
    for r in pending:
        r.get(timeout=ACK_TIMEOUT)
    pending = [zk.set_async(f"{root}/n{i:05d}", b"set") for i in range(0, SNAP_WRITES, 10)]
    pending += [zk.delete_async(f"{root}/n{i:05d}") for i in range(5, SNAP_WRITES, 10)]
    for r in pending:
        r.get(timeout=ACK_TIMEOUT)
    expected = {"before": b"b"}
    for i in range(SNAP_WRITES):
        if i % 10 != 5:
            expected[f"n{i:05d}"] = b"set" if i % 10 == 0 else str(i).encode()

    assert ens.start(victim) == "follower"
    c = clients(ens.members[victim].hosts)
    assert synced_children(c, root) == set(expected)
    data = get_all(c, [f"{root}/{k}" for k in expected])
    wrong = [p for p, d in data.items() if d != expected[p.rsplit("/", 1)[1]]]
    assert not wrong, f"caught-up follower serves wrong data for {wrong[:5]}"
    assert c.exists(f"{root}/n00000").version == 1
    # and it serves writes again, seen by the leader
    c.create(f"{root}/after", b"a")
    got = synced_get(clients(ens.members[lead].hosts), f"{root}/after", LEADER_LAG, b"a")
    assert got is not None and got[0] == b"a"


# -- 9. recipes across a leader crash ----------------------------------------------------------
def test_recipes_survive_leader_restart(ens, clients):
    c1, c2 = clients(ens.hosts), clients(ens.hosts)
    root = new_root(c1)
    sid1, sid2 = c1.client_id[0], c2.client_id[0]

    lock1, lock2 = c1.Lock(f"{root}/lock", "c1"), c2.Lock(f"{root}/lock", "c2")
    assert lock1.acquire(timeout=EVENT_TIMEOUT)
    got2 = threading.Event()
    threading.Thread(target=lambda: lock2.acquire(timeout=90) and got2.set(),
                     daemon=True).start()
    wait_until(lambda: lock1.contenders() == ["c1", "c2"], timeout=EVENT_TIMEOUT,
               msg="second lock contender")

    led, release1 = {"c1": threading.Event(), "c2": threading.Event()}, threading.Event()
    el1, el2 = c1.Election(f"{root}/el", "c1"), c2.Election(f"{root}/el", "c2")

    def lead1():
        led["c1"].set()
        release1.wait(90)

    threading.Thread(target=el1.run, args=(lead1,), daemon=True).start()
    assert led["c1"].wait(EVENT_TIMEOUT)
    threading.Thread(target=el2.run, args=(led["c2"].set,), daemon=True).start()
    wait_until(lambda: el1.contenders() == ["c1", "c2"], timeout=EVENT_TIMEOUT,
               msg="second election contender")

    old = ens.leader()
    ens.kill9(old)
    ens.wait_stable(STABLE_TIMEOUT)

    # the holders keep their sessions, so nothing moved while the leader was gone
    assert not got2.is_set() and not led["c2"].is_set()
    assert lock1.release()
    assert got2.wait(30.0), "lock not handed over after the leader crash"
    release1.set()
    assert led["c2"].wait(30.0), "leadership not handed over after the leader crash"
    wait_until(lambda: c1.state == KazooState.CONNECTED and c2.state == KazooState.CONNECTED,
               timeout=30.0, msg="clients reconnected")
    assert (c1.client_id[0], c2.client_id[0]) == (sid1, sid2), "a session expired"

    assert ens.start(old) == "follower"
    assert lock2.release()
    assert lock1.acquire(timeout=30.0)
    assert lock1.contenders() == ["c1"]
    lock1.release()


# -- 8b. a 5-member ensemble: majority needed --------------------------------------------------
def write_fails(zk, path, timeout=15.0):
    """True if a create neither succeeds nor hangs beyond `timeout` (a timeout counts as
    failed: the write was not acknowledged)."""
    try:
        zk.create_async(path).get(timeout=timeout)
    except Exception:
        return True
    return False


def test_five_members_need_a_majority(ens5, clients):
    e = ens5
    check_roles(e)
    lead, fols = e.leader(), e.followers()

    # 2 of 5 down (the leader among them): the other 3 elect a leader and take writes
    e.kill9(lead)
    e.kill9(fols[0])
    new_lead = e.wait_stable(STABLE_TIMEOUT)
    survivors = e.running()
    assert len(survivors) == 3 and new_lead in survivors
    zk = clients(e.hosts_of(survivors))
    root = new_root(zk)
    for k in range(10):
        zk.create(f"{root}/k{k}", b"v")
    want = {f"k{k}" for k in range(10)}
    for i in survivors:
        assert synced_children(clients(e.members[i].hosts), root, lag_of(e, i), want) == want

    # 3 of 5 down: the last 2 (leader and a follower) neither acknowledge writes nor serve
    remaining = [new_lead] + [i for i in survivors if i != new_lead][:1]
    victim = [i for i in survivors if i not in remaining][0]
    pair = clients(e.hosts_of(remaining))
    pair.create(f"{root}/pair-ok")
    e.kill9(victim)
    assert write_fails(pair, f"{root}/no-quorum"), "a write was acknowledged by 2 of 5 members"
    wait_until(lambda: all(e.members[i].mode() not in SERVING_MODES for i in remaining),
               timeout=20.0, msg="the two remaining members to stop serving")
    lonely = KazooClient(hosts=e.hosts_of(remaining), timeout=SESSION_TIMEOUT)
    try:
        with pytest.raises(Exception):
            lonely.start(timeout=3.0)
    finally:
        lonely.stop()
        lonely.close()

    # one member back: a majority again, writes go through
    e.start(fols[0])
    e.wait_stable(STABLE_TIMEOUT)
    zk3 = clients(e.hosts_of(e.running()))
    zk3.create(f"{root}/again", b"a")
    for i in e.running():
        got = synced_get(clients(e.members[i].hosts), f"{root}/again", lag_of(e, i), b"a")
        assert got is not None and got[0] == b"a", i


def test_paused_leader_is_replaced_and_catches_up(ens, clients):
    """SIGSTOP of the leader (a GC pause, a frozen VM): the others elect a leader among
    themselves and take writes; once resumed, the old leader serves again as a follower with
    every write, and nothing it held while paused was acknowledged."""
    e = ens
    lead = e.leader()
    others = [i for i in range(e.n) if i != lead]
    zk = clients(e.hosts_of(others))
    root = new_root(zk)
    proc = e.members[lead].proc
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: sorted(e.members[i].mode() or "" for i in others) == ["follower", "leader"],
                   timeout=STABLE_TIMEOUT, msg="the two other members to elect a leader")
        want = set()
        for k in range(20):
            zk.create(f"{root}/k{k}", b"v")
            want.add(f"k{k}")
        for i in others:
            assert synced_children(clients(e.members[i].hosts), root, lag_of(e, i), want) == want
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    wait_until(lambda: e.members[lead].mode() == "follower", timeout=STABLE_TIMEOUT,
               msg="the resumed leader to serve as a follower")
    old = clients(e.members[lead].hosts)
    assert synced_children(old, root, 0.0, want) == want
    # Exactly one leader again.
    assert e.wait_stable() in others


@pytest.mark.parametrize("myid", ["", "abc", "0"])
def test_member_with_a_bad_myid_refuses_to_start(ens, myid):
    """A member whose dataDir/myid is empty or not a server id exits at once with an error
    naming it, rather than joining with a wrong identity."""
    e = ens
    i = e.followers()[0]
    m = e.members[i]
    e.stop(i)
    (m.data_dir / "myid").write_text(myid)
    m.write_cfg()
    p = subprocess.run(m.command(), cwd=m.workdir, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    assert p.returncode != 0, out[-2000:]
    assert "myid" in out or "serverid" in out, out[-2000:]
