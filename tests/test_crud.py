"""Basic znode CRUD through kazoo: create/get/set/delete/exists/get_children, versions and the
usual error codes, null vs empty data, the ~1 MiB data limit."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)

import zkwire

JUTE_MAXBUFFER = 0xFFFFF  # 1,048,575: ZooKeeper's default frame limit


def test_create_get_set_delete(zk, root):
    p = f"{root}/node"
    assert zk.create(p, b"hello") == p
    data, stat = zk.get(p)
    assert data == b"hello"
    assert stat.version == 0 and stat.dataLength == 5

    stat = zk.set(p, b"world!")
    assert stat.version == 1 and stat.dataLength == 6
    assert zk.get(p)[0] == b"world!"

    assert zk.exists(p) is not None
    zk.delete(p)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.get(p)


def test_get_children(zk, root):
    assert zk.get_children(root) == []
    names = [f"c{i}" for i in range(10)]
    for n in names:
        zk.create(f"{root}/{n}", n.encode())
    assert sorted(zk.get_children(root)) == names
    children, stat = zk.get_children(root, include_data=True)
    assert sorted(children) == names
    assert stat.numChildren == 10
    zk.delete(f"{root}/c3")
    assert sorted(zk.get_children(root)) == [n for n in names if n != "c3"]
    with pytest.raises(NoNodeError):
        zk.get_children(f"{root}/missing")


def test_versions_and_bad_version(zk, root):
    p = f"{root}/v"
    zk.create(p, b"0")
    for i in range(1, 4):
        assert zk.set(p, str(i).encode(), version=i - 1).version == i
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=1)
    with pytest.raises(BadVersionError):
        zk.delete(p, version=7)
    assert zk.get(p)[0] == b"3"
    # -1 matches any version
    assert zk.set(p, b"any", version=-1).version == 4
    zk.delete(p, version=4)
    assert zk.exists(p) is None


def test_no_node_errors(zk, root):
    with pytest.raises(NoNodeError):
        zk.create(f"{root}/missing/child")
    with pytest.raises(NoNodeError):
        zk.set(f"{root}/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(f"{root}/missing")
    assert zk.exists(f"{root}/missing") is None


def test_node_exists(zk, root):
    p = f"{root}/dup"
    zk.create(p, b"first")
    with pytest.raises(NodeExistsError):
        zk.create(p, b"second")
    assert zk.get(p)[0] == b"first"
    with pytest.raises(NodeExistsError):
        zk.create("/")


def test_not_empty(zk, root):
    zk.create(f"{root}/parent/child", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(f"{root}/parent")
    zk.delete(f"{root}/parent/child")
    zk.delete(f"{root}/parent")
    assert zk.exists(f"{root}/parent") is None


def test_recursive_delete(zk, root):
    for p in ("a/b/c", "a/b/d", "a/e"):
        zk.create(f"{root}/{p}", makepath=True)
    zk.delete(f"{root}/a", recursive=True)
    assert zk.get_children(root) == []


def test_null_vs_empty_data(zk, root, wire):
    zk.create(f"{root}/empty", b"")
    zk.create(f"{root}/null", None)
    data, stat = zk.get(f"{root}/empty")
    assert data == b"" and stat.dataLength == 0
    data, stat = zk.get(f"{root}/null")
    assert data is None and stat.dataLength == 0

    # byte-level: buffer length 0 vs -1 on the wire
    c = wire()
    rep, data, stat = c.get_data(f"{root}/empty")
    assert rep.err == 0 and data == b""
    rep, data, stat = c.get_data(f"{root}/null")
    assert rep.err == 0 and data is None and stat.dataLength == 0

    # setData back to null and to empty
    zk.set(f"{root}/empty", None)
    assert zk.get(f"{root}/empty")[0] is None
    zk.set(f"{root}/null", b"")
    assert zk.get(f"{root}/null")[0] == b""


def test_binary_data_roundtrip(zk, root):
    blob = bytes(range(256)) * 4
    zk.create(f"{root}/bin", blob)
    assert zk.get(f"{root}/bin")[0] == blob


def test_large_data_accepted(zk, root):
    """Data of jute.maxbuffer minus a small overhead fits in one request frame."""
    size = JUTE_MAXBUFFER - 1024
    blob = bytes(i % 251 for i in range(size))
    p = f"{root}/big"
    zk.create(p, blob)
    data, stat = zk.get(p)
    assert stat.dataLength == size
    assert data == blob
    zk.set(p, blob[::-1])
    assert zk.get(p)[0] == blob[::-1]


def test_data_over_maxbuffer_rejected(zk, root, server):
    """A request frame over jute.maxbuffer closes the connection; nothing is created, and the
    client (and any other) can go on."""
    p = f"{root}/toobig"
    with pytest.raises(ConnectionLoss):
        zk.create(p, b"x" * (JUTE_MAXBUFFER + 1))
    # kazoo reconnects on its own; the node must not exist
    assert zk.exists(p) is None
    zk.create(p, b"small")
    assert zk.get(p)[0] == b"small"

    # the same with a raw connection: closed, no reply
    c = zkwire.connect(server.host, server.port)
    try:
        c.send_request(zkwire.SET_DATA, zkwire.Enc().ustring(p).buffer(b"y" * (JUTE_MAXBUFFER + 1))
                       .int(-1).bytes())
        assert c.expect_closed(timeout=10) == []
    finally:
        c.close()
    assert zk.get(p)[0] == b"small"


def test_create_makepath(zk, root):
    p = f"{root}/x/y/z"
    assert zk.create(p, b"leaf", makepath=True) == p
    assert zk.get(p)[0] == b"leaf"
    assert zk.get(f"{root}/x")[0] == b""
    assert zk.get_children(f"{root}/x") == ["y"]
    # makepath on an existing parent chain just creates the leaf
    zk.create(f"{root}/x/y/w", makepath=True)
    assert sorted(zk.get_children(f"{root}/x/y")) == ["w", "z"]
    zk.ensure_path(f"{root}/x/y/z")  # existing: no error


def test_unicode_names(zk, root):
    p = f"{root}/Grüße-日本"
    zk.create(p, "wert".encode())
    assert zk.get_children(root) == ["Grüße-日本"]
    assert zk.get(p)[0] == b"wert"
