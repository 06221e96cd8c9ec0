"""Edge cases beyond the other modules, each checked against ZooKeeper 3.8 first: odd paths on
every op, reserved nodes, sequence numbering, version -1/-2, multi corner cases, watch-mode
mixes, setWatches on a live session, ACL and auth oddities, handshake variants, 4lw corners
(trace mask, hash, dump, conf, cons), custom session-timeout bounds and quota statistics.

Where herd is known to answer differently the test carries a strict xfail for the herd target
only (`herd_differs`), so it starts passing, and must then lose its mark, once herd is fixed."""

import base64
import hashlib
import os
import re
import socket
import struct
import subprocess
import time
import uuid

import pytest

import zkwire
from conftest import ZKCLI, require_file
from zkwire import (
    EV_CHILDREN_CHANGED,
    EV_CREATED,
    EV_DATA_CHANGED,
    EV_DELETED,
    Enc,
    path_watch,
    request_header,
)

ZK_DEFAULT_TRACE_MASK = 306  # ZooTrace's default mask (0x132), what gtmk answers at start-up


def herd_differs(request, server, reason):
    """Marks the running test as a known herd difference (strict xfail, herd target only)."""
    if server.target == "herd":
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=f"herd differs: {reason}"))


def evs(events):
    return [(e.type, e.path) for e in events]


def get_acl(c, path):
    rep = c.call(zkwire.GET_ACL, Enc().ustring(path).bytes())
    if rep.err:
        return rep.err, None, None
    d = zkwire.Dec(rep.body)
    return 0, d.acls(), d.stat()


def set_acl(c, path, acl, version=-1):
    body = Enc().ustring(path)
    body = (body.int(-1) if acl is None else body.acls(acl)).int(version).bytes()
    return c.call(zkwire.SET_ACL, body).err


def sync(c, path):
    return c.call(zkwire.SYNC, Enc().ustring(path).bytes())


def digest_id(user, password):
    h = base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()
    return f"{user}:{h}"


def raw_4lw(server, data, timeout=5.0):
    """Sends raw bytes on a fresh connection; returns everything read until the server closes
    it (or b"<open>" appended if it is still open after `timeout`)."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out + b"<open>"
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                return out + b"<open>"
            except ConnectionResetError:
                return out
            if not d:
                return out
            out += d


# -- paths -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/a\0b", "/zookeeper\0", "\0"], ids=["mid", "trailing", "only"])
def test_nul_in_read_paths(wire, path):
    """exists checks for NUL (BadArguments); the other reads just look the path up (NoNode);
    sync echoes any path."""
    c = wire()
    assert c.exists(path)[0].err == zkwire.BAD_ARGUMENTS
    assert c.get_data(path)[0].err == zkwire.NO_NODE
    assert c.get_children(path)[0].err == zkwire.NO_NODE
    assert c.call(zkwire.GET_CHILDREN2, path_watch(path)).err == zkwire.NO_NODE
    assert get_acl(c, path)[0] == zkwire.NO_NODE
    assert c.get_all_children_number(path)[0].err == zkwire.NO_NODE
    rep = sync(c, path)
    assert rep.err == 0 and zkwire.Dec(rep.body).ustring() == path
    assert c.ping().err == 0


def test_empty_path_reads_the_root(wire):
    """The empty string names the root for reads; every write on it is BadArguments."""
    c = wire()
    rep, st = c.exists("")
    assert rep.err == 0 and st.numChildren >= 1
    rep, data, _ = c.get_data("")
    assert rep.err == 0 and data == b""
    rep, kids = c.get_children("")
    assert rep.err == 0 and "zookeeper" in kids
    assert get_acl(c, "")[0] == 0
    assert c.get_all_children_number("")[0].err == 0
    assert c.create("").err == zkwire.BAD_ARGUMENTS
    assert c.delete("").err == zkwire.BAD_ARGUMENTS
    assert c.set_data("", b"x")[0].err == zkwire.BAD_ARGUMENTS
    rep = sync(c, "")
    assert rep.err == 0 and zkwire.Dec(rep.body).ustring() == ""


def test_relative_paths(wire):
    c = wire()
    assert c.exists("zookeeper")[0].err == zkwire.NO_NODE
    assert c.get_data("zookeeper")[0].err == zkwire.NO_NODE
    assert c.get_children("zookeeper")[0].err == zkwire.NO_NODE
    assert c.delete("zookeeper").err == zkwire.BAD_ARGUMENTS
    assert c.set_data("zookeeper", b"")[0].err == zkwire.BAD_ARGUMENTS
    assert sync(c, "zookeeper").err == 0


@pytest.mark.parametrize("suffix", ["/x/", "//x", "/.", "/..", "/x/.", "/./x", "/\u0001",
                                    "/\U0001F600", "/\ue000", "/nope/"])
def test_malformed_paths_on_writes(wire, zk, root, suffix):
    """setData and setACL validate the path (BadArguments) even when it cannot exist; delete
    looks the parent up first (NoNode); exists is a plain lookup (NoNode)."""
    zk.create(f"{root}/x")
    c = wire()
    p = root + suffix
    assert c.set_data(p, b"v")[0].err == zkwire.BAD_ARGUMENTS
    assert c.delete(p).err == zkwire.NO_NODE
    assert set_acl(c, p, zkwire.OPEN_ACL_UNSAFE) == zkwire.BAD_ARGUMENTS
    assert c.exists(p)[0].err == zkwire.NO_NODE
    assert zk.get_children(root) == ["x"]


def test_nul_on_writes(wire, zk, root):
    zk.create(f"{root}/x")
    c = wire()
    p = f"{root}/x\0"
    assert c.set_data(p, b"v")[0].err == zkwire.BAD_ARGUMENTS
    assert c.delete(p).err == zkwire.BAD_ARGUMENTS
    assert set_acl(c, p, zkwire.OPEN_ACL_UNSAFE) == zkwire.BAD_ARGUMENTS
    assert c.create(p).err == zkwire.BAD_ARGUMENTS
    assert zk.get_children(root) == ["x"]


# -- reserved nodes ----------------------------------------------------------------------------
def test_writes_on_reserved_nodes(wire, zk):
    """Under /zookeeper and /zookeeper/quota ordinary creates work; /zookeeper/config is
    read-only for world (NoAuth); `/` cannot be deleted whatever the version."""
    c = wire()
    tag = uuid.uuid4().hex
    for parent in ("/zookeeper", "/zookeeper/quota"):
        p = f"{parent}/edge-{tag}"
        assert c.create(p).err == 0
        assert c.delete(p).err == 0
    assert c.create(f"/zookeeper/config/edge-{tag}").err == zkwire.NO_AUTH
    assert c.delete("/").err == zkwire.BAD_ARGUMENTS
    assert c.delete("/", 5).err == zkwire.BAD_ARGUMENTS
    assert c.set_data("/zookeeper/config", b"x")[0].err == zkwire.NO_AUTH
    assert set_acl(c, "/zookeeper/config", zkwire.OPEN_ACL_UNSAFE) == zkwire.NO_AUTH
    assert c.create("/zookeeper").err == zkwire.NODE_EXISTS
    assert c.create("/zookeeper/quota").err == zkwire.NODE_EXISTS


def test_get_acl_of_root_and_reserved_nodes(wire):
    c = wire()
    err, acl, st = get_acl(c, "/")
    assert (err, acl) == (0, [(31, "world", "anyone")])
    assert (st.czxid, st.version, st.aversion, st.ephemeralOwner) == (0, 0, 0, 0)
    err, acl, st = get_acl(c, "/zookeeper/config")
    assert (err, acl) == (0, [(1, "world", "anyone")])
    assert (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion,
            st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid) == \
        (0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0)
    err, acl, st = get_acl(c, "/zookeeper/quota")
    assert (err, acl, st.aversion) == (0, [(31, "world", "anyone")], 0)


def test_set_data_on_root(wire, zk):
    c = wire()
    before = c.exists("/")[1]
    rep, st = c.set_data("/", b"rootdata")
    try:
        assert rep.err == 0 and st.version == before.version + 1 and st.dataLength == 8
        assert c.get_data("/")[1] == b"rootdata"
    finally:
        c.set_data("/", b"")


# -- sequential and ephemeral ------------------------------------------------------------------
def test_sequence_numbers_follow_parent_cversion(wire, zk, root):
    """The suffix is the parent's cversion: non-sequential creates and deletes advance it; the
    prefix may be empty, '.', '..'; a sequential path below a missing parent is NoNode."""
    c = wire()
    for n in ("a", "b", "c"):
        assert c.create(f"{root}/{n}").err == 0
    assert c.delete(f"{root}/b").err == 0

    def seq(path, flags=zkwire.PERSISTENT_SEQUENTIAL):
        rep = c.create(path, flags=flags)
        return rep.err if rep.err else c.create_result(rep)[0]

    # 3 creates and a delete: the suffix is 3 (ZooKeeper 3.8 takes the parent's cversion as
    # left by the creates; the delete's increment does not count here)
    assert seq(f"{root}/s-") == f"{root}/s-0000000003"
    assert seq(f"{root}/") == f"{root}/0000000004"
    assert seq(f"{root}/x/") == zkwire.NO_NODE
    assert seq(f"{root}/s-/") == zkwire.NO_NODE
    assert seq(f"{root}//") == zkwire.NO_NODE
    assert seq(f"{root}/.") == f"{root}/.0000000005"
    assert seq(f"{root}/..") == f"{root}/..0000000006"
    assert seq(f"{root}/\0") == zkwire.BAD_ARGUMENTS
    assert seq(f"{root}/e-", zkwire.EPHEMERAL_SEQUENTIAL) == f"{root}/e-0000000007"
    st = zk.exists(root)
    assert (st.cversion, st.numChildren) == (9, 7)


def test_fresh_tree_counts_and_root_sequence(server_factory):
    """A fresh tree has 3 nodes below / (zookeeper, config, quota). `/` reports cversion -1, yet
    its first sequential child is numbered 0."""
    fresh = server_factory()
    c = zkwire.connect(fresh.host, fresh.port)
    try:
        assert c.get_all_children_number("/")[1] == 3
        assert c.get_all_children_number("/zookeeper")[1] == 2
        assert c.exists("/")[1].cversion == -1
        rep = c.create("/s-", flags=zkwire.PERSISTENT_SEQUENTIAL)
        assert rep.err == 0 and c.create_result(rep)[0] == "/s-0000000000"
        rep = c.create("/s-", flags=zkwire.PERSISTENT_SEQUENTIAL)
        assert c.create_result(rep)[0] == "/s-0000000001"
        assert c.get_all_children_number("/")[1] == 5
        assert c.exists("/")[1].cversion == 1
    finally:
        c.close()


@pytest.mark.parametrize("flags,op", [
    (zkwire.PERSISTENT, zkwire.CREATE),
    (zkwire.EPHEMERAL, zkwire.CREATE),
    (zkwire.PERSISTENT_SEQUENTIAL, zkwire.CREATE),
    (zkwire.EPHEMERAL_SEQUENTIAL, zkwire.CREATE),
    (zkwire.CONTAINER, zkwire.CREATE_CONTAINER),
    (zkwire.PERSISTENT_WITH_TTL, zkwire.CREATE_TTL),
], ids=["persistent", "ephemeral", "seq", "eph-seq", "container", "ttl"])
def test_no_children_for_ephemerals_every_mode(wire, zk, root, flags, op):
    c = wire()
    assert c.create(f"{root}/e", flags=zkwire.EPHEMERAL).err == 0
    rep = c.create(f"{root}/e/k", flags=flags, op=op, ttl=1000 if op == zkwire.CREATE_TTL else None)
    assert rep.err == zkwire.NO_CHILDREN_FOR_EPHEMERALS
    assert c.create(f"{root}/e/k/deeper").err == zkwire.NO_NODE
    assert zk.get_children(f"{root}/e") == []


def test_no_children_for_ephemerals_in_multi(wire, zk, root):
    c = wire()
    assert c.create(f"{root}/e", flags=zkwire.EPHEMERAL).err == 0
    rep, res = c.multi([(zkwire.CREATE, zkwire.create_body(f"{root}/e/m",
                                                           flags=zkwire.PERSISTENT_SEQUENTIAL))])
    assert rep.err == 0 and res == [(-1, -108, -108)]
    rep, res = c.multi([(zkwire.CREATE, zkwire.create_body(f"{root}/e2", flags=zkwire.EPHEMERAL)),
                        (zkwire.CREATE, zkwire.create_body(f"{root}/e2/c"))])
    assert res == [(-1, 0, 0), (-1, -108, -108)]
    assert zk.get_children(root) == ["e"]


def test_ephemeral_owner_and_close_from_other_client(server, wire, zk, root):
    c = wire()
    assert c.create(f"{root}/eph", flags=zkwire.EPHEMERAL).err == 0
    assert zk.exists(f"{root}/eph").ephemeralOwner == c.session.session_id
    assert c.close_session().err == 0
    c.expect_closed(timeout=10)
    assert zk.exists(f"{root}/eph") is None
    other = wire()
    assert other.exists(f"{root}/eph")[0].err == zkwire.NO_NODE
    assert other.get_ephemerals(root)[1] == []


# -- versions ----------------------------------------------------------------------------------
def test_version_minus_one_only_is_wildcard(wire, root):
    c = wire()
    assert c.set_data(root, b"x", -2)[0].err == zkwire.BAD_VERSION
    assert c.set_data(root, b"x", 0)[0].err == 0
    assert c.set_data(root, b"x", 0)[0].err == zkwire.BAD_VERSION
    assert c.set_data(root, b"y", -1)[1].version == 2
    assert c.delete(root, -2).err == zkwire.BAD_VERSION
    assert set_acl(c, root, zkwire.OPEN_ACL_UNSAFE, -2) == zkwire.BAD_VERSION
    assert set_acl(c, root, zkwire.OPEN_ACL_UNSAFE, 0) == 0
    assert set_acl(c, root, zkwire.OPEN_ACL_UNSAFE, 0) == zkwire.BAD_VERSION
    assert set_acl(c, root, zkwire.OPEN_ACL_UNSAFE, -1) == 0
    assert get_acl(c, root)[2].aversion == 2
    chk = lambda v: c.multi([(zkwire.CHECK, Enc().ustring(root).int(v).bytes())])[1]
    assert chk(-1) == [(zkwire.CHECK, 0, None)]
    assert chk(-2) == [(-1, zkwire.BAD_VERSION, zkwire.BAD_VERSION)]
    assert chk(2) == [(zkwire.CHECK, 0, None)]
    # a missing node is NoNode whatever the version
    assert c.set_data(f"{root}/missing", b"", 5)[0].err == zkwire.NO_NODE
    assert c.delete(f"{root}/missing", 5).err == zkwire.NO_NODE
    assert c.delete(root, 2).err == 0


def test_set_data_version_race_between_clients(wire, zk, root):
    a, b = wire(), wire()
    _, _, st = a.get_data(root)
    assert b.set_data(root, b"b", st.version)[0].err == 0
    assert a.set_data(root, b"a", st.version)[0].err == zkwire.BAD_VERSION
    assert zk.get(root)[0] == b"b"


# -- multi -------------------------------------------------------------------------------------
def _cb(path, flags=0):
    return zkwire.create_body(path, b"", None, flags)


def _del(path, version=-1):
    return Enc().ustring(path).int(version).bytes()


def test_multi_check_on_missing_node(wire, zk, root):
    c = wire()
    rep, res = c.multi([(zkwire.CHECK, Enc().ustring(f"{root}/nope").int(-1).bytes()),
                        (zkwire.CREATE, _cb(f"{root}/a"))])
    assert rep.err == 0 and res == [(-1, zkwire.NO_NODE, zkwire.NO_NODE),
                                    (-1, zkwire.RUNTIME_INCONSISTENCY,
                                     zkwire.RUNTIME_INCONSISTENCY)]
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/a")),
                        (zkwire.CHECK, Enc().ustring(f"{root}/nope").int(0).bytes())])
    assert res == [(-1, 0, 0), (-1, zkwire.NO_NODE, zkwire.NO_NODE)]
    assert zk.get_children(root) == []


def test_multi_create_then_delete_same_node(wire, zk, root):
    c = wire()
    before = zk.exists(root)
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/cd")), (zkwire.DELETE, _del(f"{root}/cd", 0))])
    assert rep.err == 0 and res == [(zkwire.CREATE, 0, f"{root}/cd"), (zkwire.DELETE, 0, None)]
    after = zk.exists(root)
    assert zk.exists(f"{root}/cd") is None
    assert after.cversion == before.cversion + 2 and after.numChildren == 0
    assert after.pzxid == rep.zxid


def test_multi_chains_on_earlier_ops(wire, zk, root):
    c = wire()
    # deleting a parent that got a child earlier in the same multi: NotEmpty
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/p")), (zkwire.CREATE, _cb(f"{root}/p/q")),
                        (zkwire.DELETE, _del(f"{root}/p"))])
    assert res == [(-1, 0, 0), (-1, 0, 0), (-1, zkwire.NOT_EMPTY, zkwire.NOT_EMPTY)]
    # creating below a parent deleted earlier in the same multi: NoNode
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/p")), (zkwire.CREATE, _cb(f"{root}/p/q")),
                        (zkwire.DELETE, _del(f"{root}/p/q")), (zkwire.DELETE, _del(f"{root}/p")),
                        (zkwire.CREATE, _cb(f"{root}/p/z"))])
    assert res == [(-1, 0, 0)] * 4 + [(-1, zkwire.NO_NODE, zkwire.NO_NODE)]
    # two creates of one path
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/dup")), (zkwire.CREATE, _cb(f"{root}/dup"))])
    assert res == [(-1, 0, 0), (-1, zkwire.NODE_EXISTS, zkwire.NODE_EXISTS)]
    # two sequential creates with one prefix get successive numbers
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/s-", zkwire.PERSISTENT_SEQUENTIAL)),
                        (zkwire.CREATE, _cb(f"{root}/s-", zkwire.PERSISTENT_SEQUENTIAL))])
    assert [r[2] for r in res] == [f"{root}/s-0000000000", f"{root}/s-0000000001"]
    # setData versions advance within the multi
    rep, res = c.multi([
        (zkwire.SET_DATA, Enc().ustring(root).buffer(b"1").int(0).bytes()),
        (zkwire.SET_DATA, Enc().ustring(root).buffer(b"2").int(1).bytes()),
        (zkwire.CHECK, Enc().ustring(root).int(2).bytes())])
    assert [(t, e) for t, e, _ in res] == [(zkwire.SET_DATA, 0), (zkwire.SET_DATA, 0),
                                          (zkwire.CHECK, 0)]
    assert res[1][2].version == 2
    assert sorted(zk.get_children(root)) == ["s-0000000000", "s-0000000001"]


def test_multi_invalid_paths_and_reserved(wire, zk, root):
    c = wire()
    rep, res = c.multi([(zkwire.CREATE, _cb(f"{root}/bad/")), (zkwire.CREATE, _cb(f"{root}/ok"))])
    assert res == [(-1, zkwire.NO_NODE, zkwire.NO_NODE),
                   (-1, zkwire.RUNTIME_INCONSISTENCY, zkwire.RUNTIME_INCONSISTENCY)]
    rep, res = c.multi([(zkwire.SET_DATA, Enc().ustring(f"{root}/nope/").buffer(b"").int(-1)
                         .bytes())])
    assert res == [(-1, zkwire.BAD_ARGUMENTS, zkwire.BAD_ARGUMENTS)]
    rep, res = c.multi([(zkwire.DELETE, _del("/"))])
    assert res == [(-1, zkwire.BAD_ARGUMENTS, zkwire.BAD_ARGUMENTS)]
    rep, res = c.multi([(zkwire.DELETE, _del("/zookeeper"))])
    assert res == [(-1, zkwire.BAD_ARGUMENTS, zkwire.BAD_ARGUMENTS)]
    assert zk.get_children(root) == []


def test_multi_with_ops_of_the_wrong_kind(wire, zk, root):
    """setACL in a multi, a write in a multiRead, an exists in either, a read in a multi:
    MarshallingError for the whole request, nothing applied, connection kept."""
    c = wire()
    cases = [
        (zkwire.MULTI, [(zkwire.SET_ACL, Enc().ustring(root).acls(zkwire.OPEN_ACL_UNSAFE).int(-1)
                         .bytes())]),
        (zkwire.MULTI_READ, [(zkwire.CREATE, _cb(f"{root}/x"))]),
        (zkwire.MULTI_READ, [(zkwire.EXISTS, path_watch(root))]),
        (zkwire.MULTI, [(zkwire.GET_CHILDREN, path_watch(root))]),
    ]
    for op, ops in cases:
        assert c.call(op, zkwire.multi_body(ops)).err == zkwire.MARSHALLING_ERROR, (op, ops)
        assert c.exists(root)[0].err == 0
    assert zk.exists(f"{root}/x") is None
    assert get_acl(c, root)[2].aversion == 0


def test_multi_read_empty_and_bad_paths(wire):
    c = wire()
    rep = c.call(zkwire.MULTI_READ, zkwire.multi_body([]))
    assert rep.err == 0 and zkwire.decode_multi(rep.body) == []
    rep, res = c.multi([(zkwire.GET_DATA, path_watch("/nope/")),
                        (zkwire.GET_CHILDREN, path_watch("\0"))], op=zkwire.MULTI_READ)
    assert rep.err == 0 and res == [(-1, zkwire.NO_NODE, zkwire.NO_NODE)] * 2


# -- watches -----------------------------------------------------------------------------------
def test_exists_watch_fires_once_for_create_then_delete(wire, zk, root):
    c = wire()
    p = f"{root}/a"
    assert c.exists(p, watch=True)[0].err == zkwire.NO_NODE
    zk.create(p)
    zk.delete(p)
    assert evs(c.drain_events()) == [(EV_CREATED, p)]


def test_child_watch_fired_by_child_delete_not_by_data(wire, zk, root):
    zk.create(f"{root}/k")
    c = wire()
    c.get_children(root, watch=True)
    zk.set(root, b"x")
    zk.delete(f"{root}/k")
    assert evs(c.drain_events()) == [(EV_CHILDREN_CHANGED, root)]
    c.get_children(root, watch=True)
    c.call(zkwire.GET_CHILDREN2, path_watch(root, True))
    zk.delete(root)
    assert evs(c.drain_events()) == [(EV_DELETED, root)]


def test_standard_watch_after_persistent_on_same_path(wire, zk, root):
    """ZooKeeper 3.8 keeps one mode per (watcher, path): a standard watch added over a
    persistent one replaces it (one data event, then children only through ...), and a
    persistent one added over a standard one makes it persistent."""
    c = wire()
    assert c.add_watch(root, zkwire.ADD_WATCH_PERSISTENT).err == 0
    c.get_data(root, watch=True)
    zk.set(root, b"1")
    zk.set(root, b"2")
    zk.create(f"{root}/x")
    assert evs(c.drain_events()) == [(EV_DATA_CHANGED, root), (EV_CHILDREN_CHANGED, root)]
    assert c.check_watches(root, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    c.get_children(root, watch=True)
    assert c.add_watch(root, zkwire.ADD_WATCH_PERSISTENT).err == 0
    zk.create(f"{root}/y")
    zk.create(f"{root}/z")
    zk.set(root, b"3")
    assert evs(c.drain_events()) == [(EV_CHILDREN_CHANGED, root), (EV_CHILDREN_CHANGED, root),
                                     (EV_DATA_CHANGED, root)]


def test_recursive_then_standard_watches(wire, zk, root):
    c = wire()
    assert c.add_watch(root, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    c.exists(root, watch=True)
    c.get_children(root, watch=True)
    zk.set(root, b"1")
    zk.set(root, b"2")
    zk.create(f"{root}/x")
    zk.create(f"{root}/x/y")
    assert evs(c.drain_events()) == [(EV_DATA_CHANGED, root), (EV_CHILDREN_CHANGED, root)]


def test_persistent_plus_recursive_on_same_path(wire, zk, root):
    c = wire()
    assert c.add_watch(root, zkwire.ADD_WATCH_PERSISTENT).err == 0
    assert c.add_watch(root, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    zk.set(root, b"1")
    zk.create(f"{root}/x")
    zk.set(f"{root}/x", b"1")
    assert evs(c.drain_events()) == [(EV_DATA_CHANGED, root), (EV_CREATED, f"{root}/x"),
                                     (EV_DATA_CHANGED, f"{root}/x")]
    assert c.add_watch(f"{root}/x", zkwire.ADD_WATCH_PERSISTENT).err == 0
    zk.set(f"{root}/x", b"2")
    assert evs(c.drain_events()) == [(EV_DATA_CHANGED, f"{root}/x")]


def test_recursive_watch_on_root_sees_deep_events(wire, zk, root):
    c = wire()
    assert c.add_watch("/", zkwire.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    zk.create(f"{root}/a/b/c", b"x", makepath=True)
    zk.set(f"{root}/a/b/c", b"y")
    zk.delete(f"{root}/a/b/c")
    got = [e for e in evs(c.drain_events()) if e[1].startswith(root)]
    assert got == [(EV_CREATED, f"{root}/a"), (EV_CREATED, f"{root}/a/b"),
                   (EV_CREATED, f"{root}/a/b/c"), (EV_DATA_CHANGED, f"{root}/a/b/c"),
                   (EV_DELETED, f"{root}/a/b/c")]
    assert c.remove_watches("/", zkwire.WT_ANY).err == 0


@pytest.mark.parametrize("mode", [zkwire.ADD_WATCH_PERSISTENT,
                                  zkwire.ADD_WATCH_PERSISTENT_RECURSIVE],
                         ids=["persistent", "recursive"])
@pytest.mark.parametrize("wt", [zkwire.WT_DATA, zkwire.WT_CHILDREN], ids=["data", "children"])
def test_remove_one_kind_of_persistent_watch(wire, zk, root, mode, wt):
    """checkWatches sees a persistent watch under every kind; removeWatches of one kind
    removes that half only."""
    p = f"{root}/w"
    zk.create(p)
    c = wire()
    assert c.add_watch(p, mode).err == 0
    for kind in (zkwire.WT_DATA, zkwire.WT_CHILDREN, zkwire.WT_ANY):
        assert c.check_watches(p, kind).err == 0
    assert c.remove_watches(p, wt).err == 0
    other = zkwire.WT_CHILDREN if wt == zkwire.WT_DATA else zkwire.WT_DATA
    assert c.check_watches(p, wt).err == zkwire.NO_WATCHER
    assert c.check_watches(p, other).err == 0
    zk.set(p, b"1")
    zk.create(f"{p}/k")
    zk.create(f"{p}/k/g")
    expected = {
        (zkwire.ADD_WATCH_PERSISTENT, zkwire.WT_DATA): [(EV_CHILDREN_CHANGED, p)],
        (zkwire.ADD_WATCH_PERSISTENT, zkwire.WT_CHILDREN): [(EV_DATA_CHANGED, p)],
        (zkwire.ADD_WATCH_PERSISTENT_RECURSIVE, zkwire.WT_DATA): [],
        (zkwire.ADD_WATCH_PERSISTENT_RECURSIVE, zkwire.WT_CHILDREN): [
            (EV_DATA_CHANGED, p), (EV_CREATED, f"{p}/k"), (EV_CREATED, f"{p}/k/g")],
    }[(mode, wt)]
    assert evs(c.drain_events(0.3)) == expected


def test_bad_watch_mode_and_type(request, server, wire):
    c = wire()
    assert c.add_watch("/", 2).err == zkwire.MARSHALLING_ERROR
    assert c.add_watch("/", -1).err == zkwire.MARSHALLING_ERROR
    assert c.check_watches("/", 4).err == zkwire.MARSHALLING_ERROR
    assert c.check_watches("/", 0).err == zkwire.MARSHALLING_ERROR
    assert c.remove_watches("/", 7).err == zkwire.MARSHALLING_ERROR
    assert c.exists("/")[0].err == 0


def test_watch_calls_on_odd_paths(wire):
    """addWatch and checkWatches do not validate the path."""
    c = wire()
    assert c.add_watch("/bad/", zkwire.ADD_WATCH_PERSISTENT).err == 0
    assert c.add_watch("relative", zkwire.ADD_WATCH_PERSISTENT).err == 0
    assert c.check_watches("/bad/", zkwire.WT_CHILDREN).err == 0
    assert c.remove_watches("relative", zkwire.WT_ANY).err == 0


def test_set_watches_on_a_live_session(wire, zk, root):
    """setWatches2 without any reconnect: exist watches on existing nodes fire NodeCreated
    whatever relativeZxid; data/child watches on missing nodes fire NodeDeleted; the rest stay
    registered. Any xid is answered."""
    zk.create(f"{root}/k")
    c = wire()
    body = zkwire.Conn.set_watches2_body(
        0x7FFF_FFFF_FFFF_FFFF, data=[root, f"{root}/gone"], exist=[root, f"{root}/none"],
        child=[root, f"{root}/gone2"])
    rep = c.call(zkwire.SET_WATCHES2, body, xid=zkwire.XID_SET_WATCHES)
    assert rep.err == 0
    assert sorted(evs(c.events)) == sorted([(EV_CREATED, root), (EV_DELETED, f"{root}/gone"),
                                            (EV_DELETED, f"{root}/gone2")])
    c.events.clear()
    zk.set(root, b"1")
    zk.create(f"{root}/none")
    zk.create(f"{root}/k2")
    assert sorted(evs(c.drain_events())) == sorted([
        (EV_CREATED, f"{root}/none"), (EV_DATA_CHANGED, root), (EV_CHILDREN_CHANGED, root)])
    body = zkwire.Conn.set_watches2_body(0, data=[root], child=[root])
    rep = c.call(zkwire.SET_WATCHES2, body, xid=77)
    assert (rep.xid, rep.err) == (77, 0)
    assert sorted(evs(c.drain_events(0.3))) == [(EV_DATA_CHANGED, root),
                                                (EV_CHILDREN_CHANGED, root)]


# -- ACL and auth ------------------------------------------------------------------------------
def test_world_acl_with_no_permissions(wire, root):
    c = wire()
    p = f"{root}/p0"
    assert c.create(p, b"d", acl=[(0, "world", "anyone")]).err == 0
    assert c.get_data(p)[0].err == zkwire.NO_AUTH
    assert get_acl(c, p)[0] == zkwire.NO_AUTH
    assert c.get_children(p)[0].err == zkwire.NO_AUTH
    assert c.set_data(p, b"")[0].err == zkwire.NO_AUTH
    assert c.create(f"{p}/k").err == zkwire.NO_AUTH
    assert c.delete(p).err == 0  # DELETE is checked on the parent


@pytest.mark.parametrize("perms", [32, 63, 255, 0x7FFFFFFF, -1])
def test_permission_bits_beyond_all_are_kept(wire, root, perms):
    c = wire()
    p = f"{root}/x"
    assert c.create(p, acl=[(perms, "world", "anyone")]).err == 0
    err, acl, _ = get_acl(c, p)
    if perms & (zkwire.PERM_READ | zkwire.PERM_ADMIN):
        assert (err, acl) == (0, [(perms, "world", "anyone")])
    else:
        assert err == zkwire.NO_AUTH


def test_null_and_empty_acl_lists(wire, root):
    c = wire()
    rep = c.call(zkwire.CREATE, Enc().ustring(f"{root}/n").buffer(b"").int(-1).int(0).bytes())
    assert rep.err == zkwire.INVALID_ACL
    assert set_acl(c, root, None) == zkwire.INVALID_ACL
    assert set_acl(c, root, []) == zkwire.INVALID_ACL
    assert get_acl(c, root)[1] == [(31, "world", "anyone")]


@pytest.mark.parametrize("ident,err,readable", [
    ("0.0.0.0/0", 0, True), ("127.0.0.1/32", 0, True), ("127.0.0.1/0", 0, True),
    ("10.0.0.0/8", 0, False), ("::1", -114, None), ("0:0:0:0:0:0:0:1", -114, None),
    ("127.1", -114, None), ("127.0.0.1/", -114, None), ("127.0.0.256", -114, None),
    (" 127.0.0.1", -114, None), ("127.0.0.0/8 ", -114, None), ("127.0.0.1/-1", -114, None),
])
def test_ip_acl_forms(wire, root, ident, err, readable):
    c = wire()
    p = f"{root}/ip"
    assert c.create(p, b"z", acl=[(31, "ip", ident)]).err == err
    if readable is not None:
        assert c.get_data(p)[0].err == (0 if readable else zkwire.NO_AUTH)


@pytest.mark.parametrize("scheme,ident,err", [
    ("world", "anyone ", -114), ("world", "Anyone", -114), ("world", "", -114),
    ("digest", ":", -114), ("digest", "a:", -114), ("digest", ":b", 0),
    ("digest", "a:b:c", -114), ("digest", "a", -114),
])
def test_acl_id_forms(wire, root, scheme, ident, err):
    assert wire().create(f"{root}/n", acl=[(31, scheme, ident)]).err == err


@pytest.mark.parametrize("cred,user", [
    (b"nocolon", "nocolon"), (b":", ""), (b"", ""), (b"a:b:c", "a"), ("\u00fc:p".encode(), "\u00fc"),
    (b"a\0b:p", "a\0b"),
])
def test_digest_addauth_odd_credentials(wire, cred, user):
    """digest accepts any credential: the user is what precedes the first ':'."""
    c = wire()
    assert c.auth("digest", cred).err == 0
    assert sorted(c.who_am_i()) == [("digest", user), ("ip", "127.0.0.1")]


def test_digest_credential_with_invalid_utf8(request, server, wire):
    c = wire()
    assert c.auth("digest", b"\xff:p").err == 0
    rep = c.call(zkwire.WHO_AM_I)
    d = zkwire.Dec(rep.body)
    ids = [(d.buffer(), d.buffer()) for _ in range(d.int())]
    assert sorted(ids) == [(b"digest", "\ufffd".encode()), (b"ip", b"127.0.0.1")]


def test_addauth_ip_and_duplicates(wire):
    """ip auth just re-adds the connection's address; the same digest twice is kept twice;
    a different password for the same user is another id."""
    c = wire()
    assert c.auth("ip", b"whatever").err == 0
    assert c.who_am_i() == [("ip", "127.0.0.1")]
    for cred in (b"u:p", b"u:p", b"u:q"):
        assert c.auth("digest", cred).err == 0
    assert sorted(c.who_am_i()) == [("digest", "u"), ("digest", "u"), ("ip", "127.0.0.1")]


def test_many_digest_ids_on_one_connection(request, server, wire):
    c = wire()
    for i in range(12):
        assert c.auth("digest", f"user{i}:pw".encode()).err == 0, i
    assert len(c.who_am_i()) == 13


@pytest.mark.parametrize("scheme", ["world", "super", "sasl", "DIGEST", "auth"])
def test_addauth_schemes_without_provider(wire, scheme):
    c = wire()
    assert c.auth(scheme, b"x:y").err == zkwire.AUTH_FAILED
    c.expect_closed(timeout=10)


def test_auth_packet_type_and_xid_are_ignored(wire):
    c = wire()
    rep = c.call(zkwire.AUTH, Enc().int(1).ustring("digest").buffer(b"q:r").bytes(),
                 xid=zkwire.XID_AUTH)
    assert rep.err == 0
    rep = c.call(zkwire.AUTH, Enc().int(0).ustring("digest").buffer(b"s:t").bytes(), xid=5)
    assert (rep.xid, rep.err) == (5, 0)
    assert sorted(c.who_am_i()) == [("digest", "q"), ("digest", "s"), ("ip", "127.0.0.1")]


def test_wrong_password_and_creator_all_with_two_users(wire, root):
    owner = wire()
    owner.auth("digest", b"al:right")
    p = f"{root}/s"
    assert owner.create(p, b"s", acl=[(31, "digest", digest_id("al", "right"))]).err == 0
    wrong = wire()
    wrong.auth("digest", b"al:wrong")
    assert wrong.get_data(p)[0].err == zkwire.NO_AUTH
    both = wire()
    both.auth("digest", b"al:wrong")
    both.auth("digest", b"al:right")
    assert both.get_data(p)[1] == b"s"

    two = wire()
    two.auth("digest", b"u1:p1")
    two.auth("digest", b"u2:p2")
    assert two.create(f"{root}/c", acl=[(31, "auth", "ignored"), (1, "world", "anyone")]).err == 0
    assert sorted(get_acl(two, f"{root}/c")[1]) == sorted([
        (1, "world", "anyone"), (31, "digest", digest_id("u1", "p1")),
        (31, "digest", digest_id("u2", "p2"))])
    # auth + an explicit copy of one of its ids: duplicates are removed before the auth
    # entry is expanded, so the copy stays
    assert two.create(f"{root}/d", acl=[(31, "auth", ""),
                                        (31, "digest", digest_id("u1", "p1"))]).err == 0
    assert sorted(get_acl(two, f"{root}/d")[1]) == sorted([
        (31, "digest", digest_id("u1", "p1")), (31, "digest", digest_id("u1", "p1")),
        (31, "digest", digest_id("u2", "p2"))])


# -- sessions and handshake --------------------------------------------------------------------
def test_request_pipelined_after_close_session(wire):
    c = wire()
    c.send_raw(zkwire.frame(request_header(1, zkwire.CLOSE_SESSION)) +
               zkwire.frame(request_header(2, zkwire.EXISTS) + path_watch("/")))
    rep = c.read_reply()
    assert (rep.xid, rep.err, rep.body) == (1, 0, b"")
    # ZooKeeper races here: the pipelined request is dropped, or answered SessionExpired.
    rest = c.expect_closed(timeout=10)
    assert all(struct.unpack_from(">iqi", f) == (2, struct.unpack_from(">q", f, 4)[0], -112) for f in rest), rest


def test_second_connect_request_on_one_socket(wire):
    """After the handshake a ConnectRequest is a request header with xid 0 and type 0:
    Unimplemented, then close."""
    c = wire()
    c.send_frame(zkwire.connect_request(10000))
    rep = c.read_reply()
    assert (rep.xid, rep.err) == (0, zkwire.UNIMPLEMENTED)
    c.expect_closed(timeout=10)


@pytest.mark.parametrize("kw,granted", [
    (dict(timeout_ms=0), 4000), (dict(timeout_ms=-5), 4000), (dict(timeout_ms=0x7FFFFFFF), 40000),
    (dict(passwd=b"short"), 10000), (dict(passwd=b"x" * 40), 10000),
    (dict(read_only=False), 10000),
], ids=["zero", "negative", "huge", "short-passwd", "long-passwd", "rw"])
def test_connect_request_variants(wire, kw, granted):
    c = wire(handshake=False)
    s = c.handshake(**kw)
    assert (s.protocol_version, s.timeout, len(s.passwd), s.read_only) == (0, granted, 16, False)
    assert s.session_id != 0
    assert c.exists("/")[0].err == 0


@pytest.mark.parametrize("pv", [7, -1])
def test_connect_protocol_version_is_ignored(wire, pv):
    c = wire(handshake=False)
    c.send_frame(zkwire.connect_request(10000, protocol_version=pv))
    d = zkwire.Dec(c.recv_frame())
    assert (d.int(), d.int()) == (0, 10000) and d.long() != 0


def test_connect_request_with_trailing_bytes(wire):
    c = wire(handshake=False)
    c.send_frame(zkwire.connect_request(10000) + b"\x01\x02\x03")
    d = zkwire.Dec(c.recv_frame())
    assert (d.int(), d.int()) == (0, 10000)
    assert c.call(zkwire.EXISTS, path_watch("/")).err == 0


def test_connect_request_without_password(server, wire):
    c = wire(handshake=False)
    c.send_frame(Enc().int(0).long(0).int(10000).long(0).bytes())
    assert c.expect_closed(timeout=10) == []
    assert server.four_letter("ruok") == "imok"


@pytest.mark.parametrize("xid", [0, -1, -3, -8, 0x7FFFFFFF, -0x80000000])
def test_reply_echoes_any_xid(wire, xid):
    c = wire()
    c.send_request(zkwire.EXISTS, path_watch("/"), xid=xid)
    d = zkwire.Dec(c.recv_frame())
    assert (d.int(), d.long() > 0, d.int()) == (xid, True, 0)
    assert c.call(zkwire.EXISTS, path_watch("/"), xid=5).err == 0
    assert c.call(zkwire.EXISTS, path_watch("/"), xid=5).err == 0
    assert c.call(zkwire.EXISTS, path_watch("/"), xid=1).err == 0


def test_ping_reply_xid_is_always_minus_two(wire):
    c = wire()
    c.send_request(zkwire.PING, b"", xid=9)
    rep = c.read_reply()
    assert (rep.xid, rep.err, rep.body) == (zkwire.XID_PING, 0, b"")


def test_session_timeout_bounds_from_zoo_cfg(server_factory):
    """minSessionTimeout/maxSessionTimeout from zoo.cfg replace the 2x/20x tickTime bounds."""
    s = server_factory(extra_cfg={"minSessionTimeout": "5000", "maxSessionTimeout": "8000"})
    for asked, granted in ((1000, 5000), (4999, 5000), (6000, 6000), (8001, 8000),
                           (100000, 8000)):
        c = zkwire.connect(s.host, s.port, timeout_ms=asked)
        try:
            assert c.session.timeout == granted, asked
        finally:
            c.close()
    conf = dict(l.split("=", 1) for l in s.four_letter("conf").splitlines() if "=" in l)
    assert (conf["minSessionTimeout"], conf["maxSessionTimeout"]) == ("5000", "8000")


# -- other ops ---------------------------------------------------------------------------------
def test_sync_on_missing_and_malformed_paths(wire, root):
    c = wire()
    for p in (f"{root}/nope", "//x/", "relative"):
        rep = sync(c, p)
        assert rep.err == 0 and zkwire.Dec(rep.body).ustring() == p


def test_get_ephemerals_prefixes(request, server, wire, root):
    c = wire()
    assert c.get_ephemerals("")[1] == []
    assert c.create(f"{root}/e", flags=zkwire.EPHEMERAL).err == 0
    assert c.get_ephemerals("")[1] == [f"{root}/e"]
    assert c.get_ephemerals(f"{root}/")[1] == [f"{root}/e"]
    assert c.get_ephemerals(root[1:])[1] == []
    assert c.get_ephemerals(" / ")[1] == [f"{root}/e"]


@pytest.mark.parametrize("flags,op,err", [
    (zkwire.CONTAINER, zkwire.CREATE, 0),
    (zkwire.PERSISTENT_WITH_TTL, zkwire.CREATE, -8),
    (zkwire.PERSISTENT_WITH_TTL, zkwire.CREATE2, -8),
    (7, zkwire.CREATE, -8),
    (-1, zkwire.CREATE, -8),
    (zkwire.EPHEMERAL, zkwire.CREATE_TTL, -8),
], ids=["container-via-create", "ttl-via-create", "ttl-via-create2", "flags7", "flags-1",
        "createTTL-ephemeral"])
def test_create_mode_and_opcode_combinations(wire, zk, root, flags, op, err):
    rep = wire().create(f"{root}/c", flags=flags, op=op, ttl=100 if op == zkwire.CREATE_TTL else None)
    assert rep.err == err
    assert (zk.exists(f"{root}/c") is not None) == (err == 0)


@pytest.mark.parametrize("flags,name", [
    (zkwire.PERSISTENT, "c"), (zkwire.EPHEMERAL, "c"), (zkwire.PERSISTENT_SEQUENTIAL, "c0000000000"),
], ids=["persistent", "ephemeral", "sequential"])
def test_create_container_op_ignores_other_flags(request, server, wire, root, flags, name):
    c = wire()
    rep = c.create(f"{root}/c", flags=flags, op=zkwire.CREATE_CONTAINER)
    assert rep.err == 0
    path, st = c.create_result(rep)
    assert path == f"{root}/{name}" and st.ephemeralOwner == 0


def test_delete_container_opcode_from_a_client(wire, zk, root):
    c = wire()
    assert c.create(f"{root}/cont", flags=zkwire.CONTAINER, op=zkwire.CREATE_CONTAINER).err == 0
    for p in (root, f"{root}/cont", f"{root}/zz"):
        assert c.call(zkwire.DELETE_CONTAINER, Enc().ustring(p).bytes()).err == zkwire.BAD_ARGUMENTS
    assert zk.exists(f"{root}/cont") is not None


# -- four-letter words -------------------------------------------------------------------------
@pytest.mark.parametrize("data,answer", [
    (b"RUOK", b""), (b"Ruok", b""), (b"ruokXYZ", b"imok"), (b"ruok\0\0\0\0", b"imok"),
    (b"kill", b""), (b"reqs", b""), (b"\0\0\0\0", b""),
], ids=["upper", "mixed", "trailing-bytes", "trailing-zeros", "kill", "reqs", "zero-length"])
def test_four_letter_word_variants(server, data, answer):
    assert raw_4lw(server, data) == answer


def test_partial_word_keeps_connection_open(server):
    assert raw_4lw(server, b"ruo", timeout=1.5) == b"<open>"


def test_stat_reset_words_and_dirs(server):
    assert server.four_letter("srst") == "Server stats reset.\n"
    assert server.four_letter("crst") == "Connection stats reset.\n"
    assert re.fullmatch(r"datadir_size: \d+\nlogdir_size: \d+\n", server.four_letter("dirs"))


def test_gtmk_default(request, server):
    assert server.four_letter("gtmk") == str(ZK_DEFAULT_TRACE_MASK)


def test_stmk_sets_and_echoes_the_mask(request, server):
    try:
        assert raw_4lw(server, b"stmk" + struct.pack(">q", 1586)) == b"1586"
        assert server.four_letter("gtmk") == "1586"
        assert raw_4lw(server, b"stmk" + struct.pack(">q", -1)) == b"-1"
        assert server.four_letter("gtmk") == "-1"
    finally:
        raw_4lw(server, b"stmk" + struct.pack(">q", ZK_DEFAULT_TRACE_MASK))


@pytest.mark.parametrize("data", [b"stmk", b"stmk\0\0", b"stmk\0\0\0\0\0\0\0"],
                         ids=["no-mask", "2-bytes", "7-bytes"])
def test_stmk_without_full_mask_closes_silently(request, server, data):
    assert raw_4lw(server, data) == b""


def test_hash_word(request, server, zk, root):
    zk.create(f"{root}/h")
    text = server.four_letter("hash")
    lines = text.splitlines()
    # "<zxid in hex>: <digest in decimal>" per logged digest. ZooKeeper logs digests only at
    # intervals, so its list may still be empty; herd answers the current digest.
    assert all(re.fullmatch(r"[0-9a-f]+: \d+", l) for l in lines), text
    if server.target == "herd":
        assert lines, text


def test_dump_expiry_times_are_current(request, server, wire):
    c = wire(timeout_ms=30000)
    text = server.four_letter("dump")
    sid = f"0x{c.session.session_id:x}"
    sessions = text.split("ephemeral nodes dump:")[0]
    heads = re.findall(r"^\d+ expire at (.*):$", sessions, re.M)
    assert heads, text
    year = time.gmtime().tm_year
    assert all(int(h.split()[-1]) >= year for h in heads), heads
    assert f"\t{sid}" in sessions


def test_dump_lists_connections(request, server, wire):
    c = wire()
    text = server.four_letter("dump")
    conns = text.split("Connections dump:\n", 1)[1]
    assert re.match(r"Connections Sets \(\d+\)/\(\d+\):\n", conns), text
    port = c.sock.getsockname()[1]
    assert f"\tip: /127.0.0.1:{port} sessionId: 0x{c.session.session_id:x}\n" in conns, text


def test_conf_data_dirs_name_the_version_dir(request, server):
    conf = dict(l.split("=", 1) for l in server.four_letter("conf").splitlines() if "=" in l)
    assert conf["dataDir"] == f"{server.data_dir}/version-2"
    assert conf["dataLogDir"] == f"{server.data_dir}/version-2"


def _cons_line(server, port):
    for line in server.four_letter("cons").splitlines():
        if line.startswith(f" /127.0.0.1:{port}["):
            return line
    raise AssertionError(f"no cons line for port {port}")


def test_cons_interest_ops_of_client_connections(request, server, wire):
    c = wire()
    port = c.sock.getsockname()[1]
    assert f":{port}[1](" in _cons_line(server, port)


def test_cons_lop_after_handshake(request, server, wire):
    c = wire()
    port = c.sock.getsockname()[1]
    assert ",lop=SESS," in _cons_line(server, port)


def test_cons_lzxid_after_write(request, server, wire, root):
    c = wire()
    port = c.sock.getsockname()[1]
    rep = c.create(f"{root}/cons")
    assert rep.err == 0
    line = _cons_line(server, port)
    assert ",lop=CREA," in line, line
    assert f",lzxid=0x{rep.zxid:x}," in line, line


def test_mntr_after_srst(request, server, zk):
    """srst resets the client response size statistics to -1."""
    zk.exists("/")
    assert server.four_letter("srst") == "Server stats reset.\n"
    m = dict(l.split("\t", 1) for l in server.four_letter("mntr").splitlines() if "\t" in l)
    for k in ("zk_last_client_response_size", "zk_min_client_response_size",
              "zk_max_client_response_size"):
        assert m[k] == "-1", (k, m[k])
    for k in ("zk_connection_request_count", "zk_bytes_received_count",
              "zk_outstanding_changes_queued", "zk_commit_count"):
        assert re.fullmatch(r"\d+", m.get(k, "")), k


# -- quota -------------------------------------------------------------------------------------
def test_quota_stats_are_maintained(request, server, zk, root):
    """zkCli setquota writes zookeeper_limits; the server keeps zookeeper_stats (count = nodes in
    the subtree including its root, bytes = their data) up to date."""
    require_file(ZKCLI, "zkCli.sh")
    env = dict(os.environ, JVMFLAGS="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
    p = subprocess.run([ZKCLI, "-server", server.hosts, "setquota", "-n", "5", root],
                       capture_output=True, text=True, timeout=60, env=env)
    stats = f"/zookeeper/quota{root}/zookeeper_stats"
    assert zk.exists(f"/zookeeper/quota{root}/zookeeper_limits") is not None, p.stdout + p.stderr
    zk.create(f"{root}/a", b"x")
    zk.create(f"{root}/b", b"yy")
    assert zk.get(stats)[0] == b"count=3,bytes=3"
    zk.set(f"{root}/b", b"yyyy")
    zk.delete(f"{root}/a")
    assert zk.get(stats)[0] == b"count=2,bytes=4"


def test_quota_stats_edge_rules(server, zk, root):
    """Quota nodes made by hand: a stats node is counted when it is created, each change is
    charged to the longest quota'd prefix, the stats text is rewritten in place (version and
    mzxid stay) in StatsTrack's form, and deleting a limits node ends that quota."""
    q = f"/zookeeper/quota{root}"
    zk.create(f"{root}/c", b"abc")
    zk.create(f"{root}/c/d", b"de")
    zk.create(f"{q}/c", makepath=True)
    zk.create(f"{q}/zookeeper_limits", b"count=5")
    zk.create(f"{q}/zookeeper_stats", b"count=0,bytes=0")
    zk.create(f"{q}/c/zookeeper_limits", b"count=5")
    zk.create(f"{q}/c/zookeeper_stats", b"junk")
    assert zk.get(f"{q}/zookeeper_stats")[0] == b"count=3,bytes=5"
    assert zk.get(f"{q}/c/zookeeper_stats")[0] == b"count=2,bytes=5"
    zk.create(f"{root}/c/e", b"x")
    zk.create(f"{root}/f", b"yy")
    assert zk.get(f"{q}/zookeeper_stats")[0] == b"count=4,bytes=7"
    data, st = zk.get(f"{q}/c/zookeeper_stats")
    assert data == b"count=3,bytes=6"
    assert (st.version, st.mzxid, st.data_length) == (0, st.czxid, len(data))
    zk.delete(f"{q}/c/zookeeper_limits")
    zk.set(f"{root}/c/e", b"xxxx")
    assert zk.get(f"{q}/zookeeper_stats")[0] == b"count=4,bytes=10"
    zk.set(f"{q}/zookeeper_stats", b"bytes=1;zz=2;count=1;aa=3")
    zk.delete(f"{root}/f")
    assert zk.get(f"{q}/zookeeper_stats")[0] == b"count=0,bytes=-1=;aa=3;zz=2"
