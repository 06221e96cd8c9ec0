"""multi (14) and multiRead (22): atomic success, atomic failure with per-op results, kazoo's
transaction API, and the byte-level result layout."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat

import zkwire
from zkwire import Enc


def test_transaction_success(zk, root):
    zk.create(f"{root}/old", b"o")
    zk.create(f"{root}/upd", b"u")
    t = zk.transaction()
    t.create(f"{root}/new", b"n")
    t.set_data(f"{root}/upd", b"u2", version=0)
    t.delete(f"{root}/old", version=0)
    t.check(f"{root}/upd", 1)  # sees the set_data before it in the same multi
    results = t.commit()
    assert results[0] == f"{root}/new"
    assert isinstance(results[1], ZnodeStat) and results[1].version == 1
    assert results[2:] == [True, True]
    assert zk.get(f"{root}/new")[0] == b"n"
    assert zk.get(f"{root}/upd")[0] == b"u2"
    assert zk.exists(f"{root}/old") is None
    # one zxid for the whole multi
    assert zk.exists(f"{root}/new").czxid == zk.exists(f"{root}/upd").mzxid


def test_transaction_context_manager(zk, root):
    with zk.transaction() as t:
        t.create(f"{root}/a")
        t.create(f"{root}/a/b", b"nested")  # parent created earlier in the same multi
        t.create(f"{root}/s-", sequence=True)
    assert zk.get(f"{root}/a/b")[0] == b"nested"
    assert sorted(zk.get_children(root)) == ["a", "s-0000000001"]


def test_transaction_failure_is_atomic(zk, root):
    zk.create(f"{root}/exists", b"e")
    before = zk.exists(root)
    t = zk.transaction()
    t.create(f"{root}/x", b"x")
    t.set_data(f"{root}/exists", b"changed")
    t.create(f"{root}/exists")  # fails: NodeExists
    t.delete(f"{root}/exists")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, NodeExistsError,
                                          RuntimeInconsistency]
    assert zk.exists(f"{root}/x") is None
    data, st = zk.get(f"{root}/exists")
    assert data == b"e" and st.version == 0
    after = zk.exists(root)
    assert (after.cversion, after.numChildren, after.pzxid) == \
        (before.cversion, before.numChildren, before.pzxid)


@pytest.mark.parametrize("make_op,exc", [
    (lambda t, r: t.check(f"{r}/n", 5), BadVersionError),
    (lambda t, r: t.check(f"{r}/missing", -1), NoNodeError),
    (lambda t, r: t.delete(f"{r}/n", version=3), BadVersionError),
    (lambda t, r: t.delete(f"{r}/parent"), NotEmptyError),
    (lambda t, r: t.set_data(f"{r}/missing", b""), NoNodeError),
    (lambda t, r: t.create(f"{r}/missing/child"), NoNodeError),
])
def test_transaction_failure_codes(zk, root, make_op, exc):
    zk.create(f"{root}/n", b"n")
    zk.create(f"{root}/parent/child", makepath=True)
    t = zk.transaction()
    t.set_data(f"{root}/n", b"first")
    make_op(t, root)
    t.create(f"{root}/after")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, exc, RuntimeInconsistency]
    assert zk.get(f"{root}/n") [0] == b"n"
    assert zk.exists(f"{root}/after") is None


def test_multi_validates_against_earlier_ops(zk, root):
    """Later ops see earlier ops' effects: delete then create of the same path succeeds;
    create then create fails."""
    zk.create(f"{root}/p", b"1")
    t = zk.transaction()
    t.delete(f"{root}/p")
    t.create(f"{root}/p", b"2")
    assert t.commit() == [True, f"{root}/p"]
    assert zk.get(f"{root}/p")[0] == b"2"

    t = zk.transaction()
    t.create(f"{root}/q")
    t.create(f"{root}/q")
    assert [type(r) for r in t.commit()] == [RolledBackError, NodeExistsError]
    assert zk.exists(f"{root}/q") is None


# -- byte level ------------------------------------------------------------------------------
def _create(path, data=b"", flags=0):
    return zkwire.create_body(path, data, None, flags)


def test_raw_multi_results_layout(wire, root):
    c = wire()
    ops = [
        (zkwire.CREATE, _create(f"{root}/a", b"a")),
        (zkwire.CREATE2, _create(f"{root}/b", b"bb")),
        (zkwire.SET_DATA, Enc().ustring(f"{root}/a").buffer(b"a2").int(0).bytes()),
        (zkwire.CHECK, Enc().ustring(f"{root}/b").int(0).bytes()),
        (zkwire.DELETE, Enc().ustring(f"{root}/a").int(1).bytes()),
    ]
    rep, results = c.multi(ops)
    assert rep.err == 0
    assert results[0] == (zkwire.CREATE, 0, f"{root}/a")
    # create2 inside multi: ZooKeeper 3.8.0/3.8.1 answer with a plain create result (path only),
    # 3.8.2+ (ZOOKEEPER-4026) with create2 (path + Stat). Both are accepted.
    typ, err, res = results[1]
    assert err == 0
    if typ == zkwire.CREATE2:
        path, st = res
        assert path == f"{root}/b" and st.dataLength == 2 and st.czxid == rep.zxid
    else:
        assert (typ, res) == (zkwire.CREATE, f"{root}/b")
    typ, err, st = results[2]
    assert (typ, err) == (zkwire.SET_DATA, 0) and st.version == 1 and st.mzxid == rep.zxid
    assert results[3:] == [(zkwire.CHECK, 0, None), (zkwire.DELETE, 0, None)]


def test_raw_multi_failure_layout(wire, zk, root):
    zk.create(f"{root}/e")
    c = wire()
    ops = [
        (zkwire.CREATE, _create(f"{root}/x")),
        (zkwire.CREATE, _create(f"{root}/e")),  # NodeExists
        (zkwire.DELETE, Enc().ustring(f"{root}/e").int(-1).bytes()),
    ]
    rep, results = c.multi(ops)
    assert rep.err == 0  # the failure shows only in the results
    assert results == [(-1, 0, 0), (-1, zkwire.NODE_EXISTS, zkwire.NODE_EXISTS),
                       (-1, zkwire.RUNTIME_INCONSISTENCY, zkwire.RUNTIME_INCONSISTENCY)]
    assert zk.exists(f"{root}/x") is None and zk.exists(f"{root}/e") is not None


def test_raw_multi_container_and_ttl(wire, zk, root):
    c = wire()
    ops = [
        (zkwire.CREATE_CONTAINER, _create(f"{root}/cont", flags=zkwire.CONTAINER)),
        (zkwire.CREATE_TTL, zkwire.create_body(f"{root}/ttl", b"", None,
                                               zkwire.PERSISTENT_WITH_TTL, 60_000)),
    ]
    rep, results = c.multi(ops)
    assert rep.err == 0
    assert [r[1] for r in results] == [0, 0]
    for typ, _, res in results:
        assert typ == zkwire.CREATE2
        assert res[1].ephemeralOwner == 0
    assert [r[2][0] for r in results] == [f"{root}/cont", f"{root}/ttl"]


def test_raw_empty_multi(wire):
    c = wire()
    rep, results = c.multi([])
    assert rep.err == 0 and results == []


def test_raw_multi_read(wire, zk, root):
    zk.create(f"{root}/r", b"data")
    zk.create(f"{root}/r/k1")
    c = wire()
    ops = [
        (zkwire.GET_DATA, zkwire.path_watch(f"{root}/r")),
        (zkwire.GET_CHILDREN, zkwire.path_watch(f"{root}/r")),
        (zkwire.GET_DATA, zkwire.path_watch(f"{root}/missing")),
        (zkwire.GET_CHILDREN, zkwire.path_watch(root)),
    ]
    rep, results = c.multi(ops, op=zkwire.MULTI_READ)
    assert rep.err == 0
    typ, err, (data, st) = results[0]
    assert (typ, err, data, st.numChildren) == (zkwire.GET_DATA, 0, b"data", 1)
    assert results[1] == (zkwire.GET_CHILDREN, 0, ["k1"])
    assert results[2] == (-1, zkwire.NO_NODE, zkwire.NO_NODE)  # independent reads
    assert results[3] == (zkwire.GET_CHILDREN, 0, ["r"])


def test_raw_multi_mixing_read_and_write_is_rejected(wire, zk, root):
    c = wire()
    ops = [
        (zkwire.CREATE, _create(f"{root}/m")),
        (zkwire.GET_DATA, zkwire.path_watch(root)),
    ]
    rep, _ = c.multi(ops)
    assert rep.err == zkwire.MARSHALLING_ERROR
    assert zk.exists(f"{root}/m") is None
    assert c.exists(root)[0].err == 0  # connection kept
