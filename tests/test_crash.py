"""Durability: every acknowledged write survives kill -9 and a restart on the same dataDir;
sessions (and so their ephemerals) survive a restart if the client comes back in time."""

import threading
import time

from kazoo.protocol.states import KazooState

BATCH = 1500
ACK_TIMEOUT = 90.0


def fire_creates(zk, root, start, count, acked, lock):
    """Pipelines `count` async creates; each success is added to `acked` when its reply
    arrives."""
    results = []
    for i in range(start, start + count):
        path = f"{root}/n{i:06d}"
        r = zk.create_async(path, f"v{i}".encode())

        def done(res, path=path):
            if res.successful():
                with lock:
                    acked.add(path)

        r.rawlink(done)
        results.append(r)
    return results


def wait_connected(zk, timeout=60.0):
    deadline = time.monotonic() + timeout
    while zk.state != KazooState.CONNECTED:
        assert time.monotonic() < deadline, f"client not reconnected after {timeout}s: {zk.state}"
        time.sleep(0.05)


def test_acknowledged_creates_survive_kill9(server, zk, zk_factory, root):
    acked, lock = set(), threading.Lock()

    # a batch fully acknowledged before the crash
    first = fire_creates(zk, root, 0, BATCH, acked, lock)
    for r in first:
        r.get(timeout=ACK_TIMEOUT)
    assert len(acked) == BATCH

    # a second batch still in flight when the server dies
    fire_creates(zk, root, BATCH, BATCH, acked, lock)
    deadline = time.monotonic() + ACK_TIMEOUT
    while True:
        with lock:
            n = len(acked)
        if n >= BATCH + 50 or time.monotonic() > deadline:
            break
        time.sleep(0.001)
    server.kill9()
    with lock:
        acked_at_crash = set(acked)
    assert len(acked_at_crash) > BATCH

    server.start()
    check = zk_factory()
    children = {f"{root}/{c}" for c in check.get_children(root)}
    missing = acked_at_crash - children
    assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {sorted(missing)[:5]}"
    for p in sorted(acked_at_crash)[:: max(1, len(acked_at_crash) // 50)]:
        i = int(p.rsplit("n", 1)[1])
        assert check.get(p)[0] == f"v{i}".encode()
    # nothing but our creates exists under root
    assert all(c.rsplit("/", 1)[1].startswith("n") for c in children)


def test_acknowledged_updates_and_deletes_survive_kill9(server, zk, zk_factory, root):
    zk.create(f"{root}/counter", b"0")
    for i in range(20):
        zk.create(f"{root}/d{i}")
    for i in range(1, 101):
        zk.set(f"{root}/counter", str(i).encode())
    for i in range(0, 20, 2):
        zk.delete(f"{root}/d{i}")
    st = zk.exists(root)
    server.kill9()
    server.start()
    c = zk_factory()
    data, cst = c.get(f"{root}/counter")
    assert data == b"100" and cst.version == 100
    assert sorted(c.get_children(root)) == sorted(["counter"] + [f"d{i}" for i in range(1, 20, 2)])
    st2 = c.exists(root)
    assert (st2.cversion, st2.numChildren, st2.pzxid) == (st.cversion, st.numChildren, st.pzxid)
    # the sequence counter continues from the restored parent state
    name = c.create(f"{root}/s-", sequence=True)
    assert name == f"{root}/s-{21:010d}"  # 21 creates (counter, d0..d19) happened before


def test_session_and_ephemeral_survive_restart(server, zk_factory, root):
    owner = zk_factory()
    sid = owner.client_id[0]
    owner.create(f"{root}/eph", b"e", ephemeral=True)
    server.kill9()
    server.start()
    wait_connected(owner)
    assert owner.client_id[0] == sid  # same session, not a new one
    st = owner.exists(f"{root}/eph")
    assert st is not None and st.ephemeralOwner == sid
    owner.stop()
    other = zk_factory()
    assert other.exists(f"{root}/eph") is None


def test_graceful_restart_keeps_data(server, zk, zk_factory, root):
    zk.create(f"{root}/persist", b"p", makepath=True)
    zk.create(f"{root}/persist/child", b"c")
    server.restart()
    c = zk_factory()
    assert c.get(f"{root}/persist")[0] == b"p"
    assert c.get_children(f"{root}/persist") == ["child"]
    wait_connected(zk)
    assert zk.get(f"{root}/persist/child")[0] == b"c"
