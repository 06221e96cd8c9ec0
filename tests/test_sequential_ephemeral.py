"""Sequential naming, ephemeral lifetime (close and expiry), getEphemerals, container and TTL
creation."""

import threading
import time

import pytest
from kazoo.exceptions import NoChildrenForEphemeralsError, NodeExistsError
from kazoo.protocol.states import EventType

import zkwire

EXPIRY_TIMEOUT_MS = 4000  # the minimum session timeout with tickTime=2000 (2 * tickTime)


def seq(n):
    return f"{n:010d}"


def test_sequential_names_share_parent_counter(zk, root):
    assert zk.create(f"{root}/s-", sequence=True) == f"{root}/s-{seq(0)}"
    assert zk.create(f"{root}/s-", sequence=True) == f"{root}/s-{seq(1)}"
    zk.create(f"{root}/plain")  # a non-sequential create advances the same counter
    assert zk.create(f"{root}/s-", sequence=True) == f"{root}/s-{seq(3)}"
    # another prefix under the same parent: same counter
    assert zk.create(f"{root}/t-", b"d", sequence=True) == f"{root}/t-{seq(4)}"
    # deletes do not move the counter back
    zk.delete(f"{root}/s-{seq(3)}")
    assert zk.create(f"{root}/s-", sequence=True) == f"{root}/s-{seq(5)}"
    # a failed create changes nothing
    with pytest.raises(NodeExistsError):
        zk.create(f"{root}/plain")
    assert zk.create(f"{root}/s-", sequence=True) == f"{root}/s-{seq(6)}"
    # the counter is per parent
    zk.create(f"{root}/sub")
    assert zk.create(f"{root}/sub/x", sequence=True) == f"{root}/sub/x{seq(0)}"
    # 8 creates (s-0 s-1 plain s-3 t-4 s-5 s-6 sub), 7 children present (s-3 deleted):
    # visible cversion = creates + deletes = 2*8 - 7 = 9
    st = zk.exists(root)
    assert st.numChildren == 7
    assert st.cversion == 9


def test_sequential_with_empty_prefix(zk, root):
    zk.create(f"{root}/q")
    assert zk.create(f"{root}/q/", sequence=True) == f"{root}/q/{seq(0)}"
    assert zk.create(f"{root}/q/", sequence=True) == f"{root}/q/{seq(1)}"
    assert sorted(zk.get_children(f"{root}/q")) == [seq(0), seq(1)]


def test_ephemeral_sequential(zk, root):
    a = zk.create(f"{root}/e-", ephemeral=True, sequence=True)
    b = zk.create(f"{root}/e-", ephemeral=True, sequence=True)
    assert (a, b) == (f"{root}/e-{seq(0)}", f"{root}/e-{seq(1)}")
    assert zk.exists(a).ephemeralOwner == zk.client_id[0]


def test_sequential_concurrent_unique(zk_factory, root):
    clients = [zk_factory() for _ in range(3)]
    names, errors = [], []
    lock = threading.Lock()

    def worker(c):
        try:
            for _ in range(20):
                n = c.create(f"{root}/c-", sequence=True)
                with lock:
                    names.append(n)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(names) == [f"{root}/c-{seq(i)}" for i in range(60)]


def test_no_children_for_ephemerals(zk, root):
    zk.create(f"{root}/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{root}/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{root}/eph/child", ephemeral=True, sequence=True)
    assert zk.get_children(f"{root}/eph") == []


def test_ephemeral_removed_on_close(zk_factory, root):
    owner = zk_factory()
    watcher = zk_factory()
    p = f"{root}/eph"
    owner.create(p, b"x", ephemeral=True)
    owner.create(f"{root}/eph2", ephemeral=True)
    deleted = threading.Event()

    def on_event(ev):
        if ev.type == EventType.DELETED:
            deleted.set()

    assert watcher.exists(p, watch=on_event) is not None
    owner.stop()
    assert deleted.wait(10), "no NodeDeleted event after the owner closed its session"
    assert watcher.exists(p) is None
    assert watcher.exists(f"{root}/eph2") is None
    assert watcher.get_children(root) == []


def test_ephemeral_removed_on_expiry(server, zk, root):
    """The owner vanishes without closing its session: its ephemerals stay until the session
    expires (between timeout and timeout + tickTime later), then go, with a NodeDeleted event."""
    c = zkwire.connect(server.host, server.port, timeout_ms=EXPIRY_TIMEOUT_MS)
    assert c.session.timeout == EXPIRY_TIMEOUT_MS
    p = f"{root}/expiring"
    rep = c.create(p, b"x", flags=zkwire.EPHEMERAL)
    assert rep.err == 0
    deleted = threading.Event()
    zk.exists(p, watch=lambda ev: ev.type == EventType.DELETED and deleted.set())
    c.close()  # no closeSession, no pings from now on
    t0 = time.monotonic()
    time.sleep(1.0)
    assert zk.exists(p) is not None, "ephemeral removed on disconnect, before expiry"
    assert deleted.wait(EXPIRY_TIMEOUT_MS / 1000 + 2 + 10), "session never expired"
    elapsed = time.monotonic() - t0
    assert zk.exists(p) is None
    assert elapsed >= EXPIRY_TIMEOUT_MS / 1000 - 1.0

    # the expired session cannot be resumed: the server answers with the invalid response
    r = zkwire.Conn(server.host, server.port)
    try:
        s = r.handshake(timeout_ms=EXPIRY_TIMEOUT_MS, session_id=c.session.session_id,
                        passwd=c.session.passwd)
        assert s.timeout == 0 and s.session_id == 0
        r.expect_closed(timeout=10)
    finally:
        r.close()


def test_session_survives_reconnect(server, zk, root):
    """Dropping the TCP connection is not closing the session: a reconnect with the same id
    and password keeps the ephemerals."""
    c = zkwire.connect(server.host, server.port, timeout_ms=10000)
    p = f"{root}/keep"
    assert c.create(p, flags=zkwire.EPHEMERAL).err == 0
    sid, pw = c.session.session_id, c.session.passwd
    c.close()
    c2 = zkwire.Conn(server.host, server.port)
    try:
        s = c2.handshake(timeout_ms=10000, session_id=sid, passwd=pw, last_zxid=c.last_zxid)
        assert s.session_id == sid and s.timeout > 0
        rep, st = c2.exists(p)
        assert rep.err == 0 and st.ephemeralOwner == sid
        assert c2.close_session().err == 0
        c2.expect_closed(timeout=10)
    finally:
        c2.close()
    assert zk.exists(p) is None


def test_get_ephemerals(server, wire, zk, root):
    c = wire()
    for p in ("e1", "e2", "sub/e3"):
        if p.startswith("sub/"):
            zk.create(f"{root}/sub")
        assert c.create(f"{root}/{p}", flags=zkwire.EPHEMERAL).err == 0
    assert c.create(f"{root}/persistent").err == 0
    zk.create(f"{root}/other-session", ephemeral=True)

    rep, eph = c.get_ephemerals(root)
    assert rep.err == 0
    assert sorted(eph) == [f"{root}/e1", f"{root}/e2", f"{root}/sub/e3"]
    # plain string prefix match, not a path match
    rep, eph = c.get_ephemerals(f"{root}/e")
    assert sorted(eph) == [f"{root}/e1", f"{root}/e2"]
    rep, eph = c.get_ephemerals("/")
    assert sorted(eph) == [f"{root}/e1", f"{root}/e2", f"{root}/sub/e3"]
    rep, eph = c.get_ephemerals(f"{root}/nothing-here")
    assert rep.err == 0 and eph == []
    # the other session sees only its own
    other = wire()
    rep, eph = other.get_ephemerals(root)
    assert rep.err == 0 and eph == []


def test_create_container(wire, zk, root):
    c = wire()
    p = f"{root}/container"
    rep = c.create(p, b"c", flags=zkwire.CONTAINER, op=zkwire.CREATE_CONTAINER)
    assert rep.err == 0
    path, st = c.create_result(rep)
    assert path == p
    assert st is not None and st.ephemeralOwner == 0 and st.dataLength == 1
    assert zk.get(p)[0] == b"c"
    # containers take children (unlike ephemerals)
    zk.create(f"{p}/child")
    assert zk.get_children(p) == ["child"]
    assert zk.exists(p).ephemeralOwner == 0


def test_create_ttl(wire, zk, root):
    c = wire()
    p = f"{root}/ttl"
    rep = c.create(p, b"t", flags=zkwire.PERSISTENT_WITH_TTL, op=zkwire.CREATE_TTL, ttl=60_000)
    assert rep.err == 0
    path, st = c.create_result(rep)
    assert path == p and st.ephemeralOwner == 0
    assert zk.exists(p).ephemeralOwner == 0
    zk.create(f"{p}/child")

    rep = c.create(f"{root}/ttls-", flags=zkwire.PERSISTENT_SEQUENTIAL_WITH_TTL,
                   op=zkwire.CREATE_TTL, ttl=60_000)
    assert rep.err == 0
    assert c.create_result(rep)[0].startswith(f"{root}/ttls-")
    assert len(c.create_result(rep)[0]) == len(f"{root}/ttls-") + 10


@pytest.mark.parametrize("flags,ttl", [
    (zkwire.PERSISTENT_WITH_TTL, 0),
    (zkwire.PERSISTENT_WITH_TTL, -5),
    (zkwire.PERSISTENT_WITH_TTL, 1 << 40),
    (zkwire.PERSISTENT, 1000),  # a non-TTL mode with a TTL
    (9, -1),  # unknown create mode
])
def test_create_ttl_bad_arguments(wire, zk, root, flags, ttl):
    c = wire()
    rep = c.create(f"{root}/bad", flags=flags, op=zkwire.CREATE_TTL, ttl=ttl)
    assert rep.err == zkwire.BAD_ARGUMENTS
    assert zk.exists(f"{root}/bad") is None
    # connection still usable
    assert c.exists(root)[0].err == 0
