"""Byte-level protocol checks through tests/zkwire.py: handshake details, pipelining,
setWatches2 after a reconnect, opcodes kazoo lacks, path validation, and bad input. After
every bad input the server must still serve a fresh client."""

import struct

import pytest

import zkwire
from zkwire import (
    EV_CHILDREN_CHANGED,
    EV_CREATED,
    EV_DATA_CHANGED,
    EV_DELETED,
    Enc,
    frame,
    path_watch,
    request_header,
)

JUTE_MAXBUFFER = 0xFFFFF


def assert_healthy(server):
    """A fresh client can still do a full round trip, and 4lw still answer."""
    c = zkwire.connect(server.host, server.port)
    try:
        assert c.session.session_id != 0 and c.session.timeout > 0
        rep, data, st = c.get_data("/zookeeper")
        assert rep.err == 0
        rep, children = c.get_children("/")
        assert rep.err == 0 and "zookeeper" in children
        assert c.close_session().err == 0
        c.expect_closed(timeout=10)
    finally:
        c.close()
    assert server.four_letter("ruok") == "imok"


def evset(events):
    return sorted((e.type, e.path) for e in events)


# -- handshake ---------------------------------------------------------------------------------
def test_handshake_fields(server):
    c = zkwire.connect(server.host, server.port, timeout_ms=12000)
    try:
        s = c.session
        assert s.protocol_version == 0
        assert s.timeout == 12000
        assert s.session_id != 0
        assert len(s.passwd) == 16
        assert s.read_only is False
    finally:
        c.close()


def test_handshake_without_read_only_byte(server, wire):
    """An old client (no trailing readOnly byte) gets a response without it too."""
    c = wire(handshake=False)
    c.send_frame(zkwire.connect_request(10000, read_only=None))
    body = c.recv_frame()
    assert len(body) == 4 + 4 + 8 + 4 + 16
    d = zkwire.Dec(body)
    assert (d.int(), d.int()) == (0, 10000) and d.long() != 0


@pytest.mark.parametrize("asked,granted", [(1, 4000), (3999, 4000), (40001, 40000),
                                           (1_000_000, 40000), (25000, 25000)])
def test_session_timeout_is_clamped(wire, asked, granted):
    c = wire(timeout_ms=asked)
    assert c.session.timeout == granted


def test_distinct_session_ids(wire):
    ids = {wire().session.session_id for _ in range(5)}
    assert len(ids) == 5 and 0 not in ids


def test_reconnect_with_wrong_password(server, wire, zk, root):
    """A wrong password gets the 'invalid session' response and a close; ZooKeeper also closes
    the session's current connection first. The session itself survives."""
    a = wire(timeout_ms=20000)
    sid, pw = a.session.session_id, a.session.passwd
    assert a.create(f"{root}/eph", flags=zkwire.EPHEMERAL).err == 0
    bad = wire(handshake=False)
    s = bad.handshake(session_id=sid, passwd=bytes(b ^ 0xFF for b in pw), last_zxid=a.last_zxid)
    assert (s.timeout, s.session_id, s.passwd) == (0, 0, bytes(16))
    bad.expect_closed(timeout=10)
    a.expect_closed(timeout=10)
    good = wire(handshake=False)
    s = good.handshake(session_id=sid, passwd=pw, last_zxid=a.last_zxid)
    assert s.session_id == sid
    assert good.exists(f"{root}/eph")[1].ephemeralOwner == sid


def test_reconnect_moves_session(server, wire, root):
    """A reconnect with the right password takes the session over; the old connection is
    closed."""
    a = wire()
    sid, pw = a.session.session_id, a.session.passwd
    b = wire(handshake=False)
    assert b.handshake(session_id=sid, passwd=pw, last_zxid=a.last_zxid).session_id == sid
    a.expect_closed(timeout=10)
    assert b.create(f"{root}/x").err == 0


def test_unknown_session_is_expired(wire):
    c = wire(handshake=False)
    s = c.handshake(session_id=0x0123456789ABCDEF, passwd=bytes(16))
    assert (s.timeout, s.session_id) == (0, 0)
    c.expect_closed(timeout=10)


def test_client_ahead_of_server_is_refused(server, wire):
    """lastZxidSeen beyond the server's last zxid: closed without a response."""
    c = wire(handshake=False)
    c.send_frame(zkwire.connect_request(10000, last_zxid=0x7FFF_0000_0000_0000))
    assert c.expect_closed(timeout=10) == []
    assert_healthy(server)


def test_requests_pipelined_behind_connect(wire, zk, root):
    """Frames sent before the ConnectResponse arrives are processed, in order, after it."""
    c = wire(handshake=False)
    c.handshake(pipelined=[
        request_header(1, zkwire.CREATE) + zkwire.create_body(f"{root}/p", b"v"),
        request_header(2, zkwire.GET_DATA) + path_watch(f"{root}/p"),
        request_header(3, zkwire.EXISTS) + path_watch(f"{root}/nope"),
    ])
    replies = [c.read_reply() for _ in range(3)]
    assert [(r.xid, r.err) for r in replies] == [(1, 0), (2, 0), (3, zkwire.NO_NODE)]
    assert zkwire.Dec(replies[1].body).buffer() == b"v"


def test_pipelined_replies_in_order(wire, root):
    c = wire()
    c.xid = 100
    n = 200
    data = b""
    for i in range(n):
        op = (zkwire.CREATE, zkwire.create_body(f"{root}/n{i}")) if i % 2 == 0 else \
            (zkwire.GET_CHILDREN, path_watch(root))
        c.xid += 1
        data += frame(request_header(c.xid, op[0]) + op[1])
    c.send_raw(data)
    replies = [c.read_reply() for _ in range(n)]
    assert [r.xid for r in replies] == list(range(101, 101 + n))
    assert all(r.err == 0 for r in replies)
    # write replies carry increasing zxids
    zx = [r.zxid for r in replies[::2]]
    assert zx == sorted(zx) and len(set(zx)) == len(zx)


def test_ping_and_sync_and_close(wire, root):
    c = wire()
    rep = c.ping()
    assert (rep.xid, rep.err, rep.body) == (zkwire.XID_PING, 0, b"")
    rep = c.call(zkwire.SYNC, Enc().ustring(root).bytes())
    assert rep.err == 0 and zkwire.Dec(rep.body).ustring() == root
    rep = c.close_session()
    assert rep.err == 0 and rep.body == b""
    c.expect_closed(timeout=10)


def test_get_children2_and_acl(wire, zk, root):
    zk.create(f"{root}/k")
    c = wire()
    rep = c.call(zkwire.GET_CHILDREN2, path_watch(root))
    d = zkwire.Dec(rep.body)
    assert rep.err == 0 and d.strings() == ["k"] and d.stat().numChildren == 1
    rep = c.call(zkwire.GET_ACL, Enc().ustring(root).bytes())
    d = zkwire.Dec(rep.body)
    assert d.acls() == [(31, "world", "anyone")] and d.stat().numChildren == 1


# -- setWatches2 -------------------------------------------------------------------------------
def test_set_watches2_after_reconnect(server, wire, zk, root):
    P = {k: f"{root}/{k}" for k in (
        "d_changed", "d_same", "d_deleted", "c_changed", "c_same", "e_created", "e_missing",
        "pw", "rw")}
    for k in ("d_changed", "d_same", "d_deleted", "c_changed", "c_same", "pw", "rw"):
        zk.create(P[k], b"0")

    a = wire(timeout_ms=30000)
    for k in ("d_changed", "d_same", "d_deleted"):
        assert a.get_data(P[k], watch=True)[0].err == 0
    for k in ("c_changed", "c_same"):
        assert a.get_children(P[k], watch=True)[0].err == 0
    for k in ("e_created", "e_missing"):
        assert a.exists(P[k], watch=True)[0].err == zkwire.NO_NODE
    assert a.add_watch(P["pw"], zkwire.ADD_WATCH_PERSISTENT).err == 0
    assert a.add_watch(P["rw"], zkwire.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    rel = a.last_zxid
    sid, pw = a.session.session_id, a.session.passwd
    a.close()  # the server drops this connection's watches; the session lives on

    zk.set(P["d_changed"], b"1")
    zk.delete(P["d_deleted"])
    zk.create(f"{P['c_changed']}/kid")
    zk.create(P["e_created"])
    zk.set(P["pw"], b"missed")  # persistent watches get no catch-up event

    b = wire(handshake=False)
    body = zkwire.Conn.set_watches2_body(
        rel,
        data=[P["d_changed"], P["d_same"], P["d_deleted"]],
        exist=[P["e_created"], P["e_missing"]],
        child=[P["c_changed"], P["c_same"]],
        persistent=[P["pw"]],
        recursive=[P["rw"]],
    )
    s = b.handshake(session_id=sid, passwd=pw, last_zxid=rel,
                    pipelined=[request_header(zkwire.XID_SET_WATCHES, zkwire.SET_WATCHES2) + body])
    assert s.session_id == sid
    rep = b.read_reply()
    assert (rep.xid, rep.err) == (zkwire.XID_SET_WATCHES, 0)
    assert [k for k, _ in b.log] == ["event"] * 4 + ["reply"], b.log  # events precede the reply
    assert evset(b.events) == sorted([
        (EV_DATA_CHANGED, P["d_changed"]),
        (EV_DELETED, P["d_deleted"]),
        (EV_CHILDREN_CHANGED, P["c_changed"]),
        (EV_CREATED, P["e_created"]),
    ])
    b.events.clear()

    # re-registered watches fire; caught-up ones were consumed
    zk.set(P["d_same"], b"1")
    zk.create(f"{P['c_same']}/kid")
    zk.create(P["e_missing"])
    zk.set(P["pw"], b"2")
    zk.set(P["pw"], b"3")
    zk.create(f"{P['rw']}/deep")
    zk.set(P["d_changed"], b"2")
    zk.create(f"{P['c_changed']}/kid2")
    assert evset(b.drain_events()) == sorted([
        (EV_DATA_CHANGED, P["d_same"]),
        (EV_CHILDREN_CHANGED, P["c_same"]),
        (EV_CREATED, P["e_missing"]),
        (EV_DATA_CHANGED, P["pw"]),
        (EV_DATA_CHANGED, P["pw"]),
        (EV_CREATED, f"{P['rw']}/deep"),
    ])


def test_set_watches_v1_after_reconnect(wire, zk, root):
    """The older setWatches (101): data/exist/child lists only."""
    changed, same, child = f"{root}/v1c", f"{root}/v1s", f"{root}/v1k"
    for p in (changed, same, child):
        zk.create(p, b"0")
    a = wire()
    a.get_data(changed, watch=True)
    a.get_data(same, watch=True)
    a.get_children(child, watch=True)
    rel, sid, pw = a.last_zxid, a.session.session_id, a.session.passwd
    a.close()
    zk.set(changed, b"1")

    b = wire(handshake=False)
    body = Enc().long(rel).strings([changed, same]).strings([]).strings([child]).bytes()
    b.handshake(session_id=sid, passwd=pw, last_zxid=rel,
                pipelined=[request_header(zkwire.XID_SET_WATCHES, zkwire.SET_WATCHES) + body])
    rep = b.read_reply()
    assert (rep.xid, rep.err) == (zkwire.XID_SET_WATCHES, 0)
    assert [k for k, _ in b.log] == ["event", "reply"], b.log
    assert evset(b.events) == [(EV_DATA_CHANGED, changed)]
    b.events.clear()
    zk.set(same, b"1")
    zk.create(f"{child}/x")
    assert evset(b.drain_events()) == sorted([(EV_DATA_CHANGED, same),
                                              (EV_CHILDREN_CHANGED, child)])


# -- opcodes kazoo lacks -----------------------------------------------------------------------
def test_check_watches(wire, zk, root):
    p = f"{root}/cw"
    zk.create(p)
    c = wire()
    assert c.check_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    assert c.check_watches(p, zkwire.WT_CHILDREN).err == zkwire.NO_WATCHER
    assert c.check_watches(p, zkwire.WT_ANY).err == zkwire.NO_WATCHER
    c.get_data(p, watch=True)
    assert c.check_watches(p, zkwire.WT_DATA).err == 0
    assert c.check_watches(p, zkwire.WT_ANY).err == 0
    assert c.check_watches(p, zkwire.WT_CHILDREN).err == zkwire.NO_WATCHER
    c.get_children(p, watch=True)
    assert c.check_watches(p, zkwire.WT_CHILDREN).err == 0
    # checking does not consume anything
    zk.set(p, b"x")
    assert [(e.type, e.path) for e in c.drain_events()] == [(EV_DATA_CHANGED, p)]
    assert c.check_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    assert c.check_watches(p, zkwire.WT_CHILDREN).err == 0
    assert c.check_watches(f"{root}/never", zkwire.WT_ANY).err == zkwire.NO_WATCHER


def test_remove_watches_codes(wire, zk, root):
    p = f"{root}/rw"
    zk.create(p)
    c = wire()
    assert c.remove_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER
    c.exists(p, watch=True)
    rep = c.remove_watches(p, zkwire.WT_DATA)
    assert rep.err == 0 and rep.body == b""
    assert c.check_watches(p, zkwire.WT_DATA).err == zkwire.NO_WATCHER


def test_who_am_i_basic(wire):
    assert wire().who_am_i() == [("ip", "127.0.0.1")]


def test_get_all_children_number(wire, zk, root):
    for p in ("a", "a/b", "a/b/c", "d"):
        zk.create(f"{root}/{p}")
    c = wire()
    assert c.get_all_children_number(root)[1] == 4
    assert c.get_all_children_number(f"{root}/a")[1] == 2
    assert c.get_all_children_number(f"{root}/d")[1] == 0
    rep, n = c.get_all_children_number(f"{root}/missing")
    assert rep.err == zkwire.NO_NODE and n is None
    # "/" counts the whole tree including /zookeeper's children
    assert c.get_all_children_number("/")[1] >= 5 + 3


def test_get_ephemerals_basic(wire, root):
    c = wire()
    assert c.create(f"{root}/e", flags=zkwire.EPHEMERAL).err == 0
    assert c.create(f"{root}/s-", flags=zkwire.EPHEMERAL_SEQUENTIAL).err == 0
    rep, eph = c.get_ephemerals(root)
    assert rep.err == 0
    assert sorted(eph) == [f"{root}/e", f"{root}/s-0000000001"]


def test_create_container_and_ttl_ops(wire, zk, root):
    c = wire()
    rep = c.create(f"{root}/c", flags=zkwire.CONTAINER, op=zkwire.CREATE_CONTAINER)
    assert rep.err == 0 and c.create_result(rep)[1].ephemeralOwner == 0
    rep = c.create(f"{root}/t", flags=zkwire.PERSISTENT_WITH_TTL, op=zkwire.CREATE_TTL, ttl=5000)
    assert rep.err == 0
    path, st = c.create_result(rep)
    assert path == f"{root}/t" and st.czxid == rep.zxid
    rep = c.create(f"{root}/t2", op=zkwire.CREATE2)
    assert rep.err == 0 and c.create_result(rep)[1].czxid == rep.zxid


# -- path validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix,err", [
    ("//b", zkwire.NO_NODE),  # the parent ".../" is looked up first and does not exist
    ("/x/", zkwire.NO_NODE),  # parent ".../x" does not exist
    ("/", zkwire.BAD_ARGUMENTS),  # the parent (root) exists; trailing slash is invalid
    ("/.", zkwire.BAD_ARGUMENTS),
    ("/..", zkwire.BAD_ARGUMENTS),
    ("/a\u0001b", zkwire.BAD_ARGUMENTS),
    ("/a\U0001F600", zkwire.BAD_ARGUMENTS),  # supplementary-plane character (emoji)
    ("/a\ue000", zkwire.BAD_ARGUMENTS),  # private use area
])
def test_create_path_validation(wire, zk, root, suffix, err):
    c = wire()
    assert c.create(root + suffix).err == err
    assert zk.get_children(root) == []


@pytest.mark.parametrize("path,err", [
    ("relative", zkwire.BAD_ARGUMENTS),
    ("/", zkwire.NODE_EXISTS),
])
def test_create_bad_absolute_paths(wire, path, err):
    assert wire().create(path).err == err


def test_reserved_paths_cannot_be_deleted(wire):
    c = wire()
    for p in ("/zookeeper", "/zookeeper/config", "/zookeeper/quota"):
        assert c.delete(p).err == zkwire.BAD_ARGUMENTS
    assert c.exists("/zookeeper/config")[0].err == 0


def test_reads_of_malformed_paths_are_no_node(wire):
    c = wire()
    for p in ("/a//b", "/nonexistent/", "/x/./y"):
        assert c.get_data(p)[0].err == zkwire.NO_NODE
        assert c.get_children(p)[0].err == zkwire.NO_NODE


# -- bad input ---------------------------------------------------------------------------------
def test_garbage_before_handshake(server, wire):
    c = wire(handshake=False)
    c.send_raw(b"\x00\x00\x00\x10" + b"\xff" * 16)  # a ConnectRequest cut short
    assert c.expect_closed(timeout=10) == []
    assert_healthy(server)

    c = wire(handshake=False)
    c.send_raw(b"\x00\x00\x00\x0bhello world")
    assert c.expect_closed(timeout=10) == []
    assert_healthy(server)


def test_garbage_after_handshake(server, wire):
    c = wire()
    c.send_frame(b"abc")  # shorter than a RequestHeader
    assert c.expect_closed(timeout=10) == []
    assert_healthy(server)


def test_truncated_frame_then_close(server, wire, zk, root):
    c = wire()
    full = request_header(1, zkwire.CREATE) + zkwire.create_body(f"{root}/half", b"x" * 50)
    c.send_raw(frame(full)[:30])
    c.sock.shutdown(2)  # SHUT_RDWR: the server sees EOF mid-frame
    c.close()
    assert_healthy(server)
    assert zk.exists(f"{root}/half") is None

    c = wire(handshake=False)
    c.send_raw(frame(zkwire.connect_request())[:20])
    c.close()
    assert_healthy(server)


@pytest.mark.parametrize("handshake", [True, False], ids=["after-handshake", "before-handshake"])
def test_length_over_maxbuffer(server, wire, handshake):
    c = wire(handshake=handshake)
    c.send_raw(struct.pack(">i", JUTE_MAXBUFFER + 1) + b"\x00" * 64)
    assert c.expect_closed(timeout=10) == []
    assert_healthy(server)


def test_length_at_maxbuffer_accepted(server, wire, zk, root):
    """The limit is on the frame length itself: exactly jute.maxbuffer is fine."""
    p = f"{root}/edge"
    zk.create(p)
    c = wire()
    fixed = 8 + (4 + len(p.encode())) + 4 + 4  # header, path, data length, version
    payload = request_header(c.next_xid(), zkwire.SET_DATA) + \
        Enc().ustring(p).buffer(b"e" * (JUTE_MAXBUFFER - fixed)).int(-1).bytes()
    assert len(payload) == JUTE_MAXBUFFER
    c.send_frame(payload)
    rep = c.read_reply(timeout=20)
    assert rep.err == 0
    assert zk.exists(p).dataLength == JUTE_MAXBUFFER - fixed


@pytest.mark.parametrize("handshake", [True, False], ids=["after-handshake", "before-handshake"])
def test_negative_length(server, wire, handshake):
    c = wire(handshake=handshake)
    c.send_raw(struct.pack(">i", -2) + b"\x00" * 16)
    assert c.expect_closed(timeout=10) == []
    assert_healthy(server)


def test_request_before_handshake(server, wire, zk, root):
    c = wire(handshake=False)
    c.send_frame(request_header(1, zkwire.CREATE) + zkwire.create_body(f"{root}/early"))
    frames = c.expect_closed(timeout=10)
    # never a reply to the request; at most an "invalid session" ConnectResponse
    for f in frames:
        d = zkwire.Dec(f)
        assert d.int() == 0 and d.int() == 0 and d.long() == 0
    assert zk.exists(f"{root}/early") is None
    assert_healthy(server)


@pytest.mark.parametrize("opcode", [99, 0, 10, 23, 1000, -5])
def test_unknown_opcode_unimplemented_then_close(server, wire, opcode):
    c = wire()
    c.send_request(opcode, Enc().ustring("/").int(0).bytes(), xid=7)
    rep = c.read_reply()
    assert (rep.xid, rep.err) == (7, zkwire.UNIMPLEMENTED)
    assert rep.body == b""
    c.expect_closed(timeout=10)
    assert_healthy(server)


def test_standalone_check_unimplemented(server, wire, root):
    """check (13) is only valid inside multi: standalone it is Unimplemented, then close.
    ZooKeeper 3.8.0 predates ZOOKEEPER-2623 and ran it as a write: a failing check got its
    error code (a passing one got no reply at all, so this test only sends a failing one);
    that old behaviour is accepted from the zookeeper target only."""
    c = wire()
    c.send_request(zkwire.CHECK, Enc().ustring(f"{root}/missing").int(0).bytes(), xid=7)
    rep = c.read_reply()
    assert rep.xid == 7
    if server.target == "zookeeper" and rep.err == zkwire.NO_NODE:
        assert c.exists(root)[0].err == 0
    else:
        assert rep.err == zkwire.UNIMPLEMENTED
        c.expect_closed(timeout=10)
    assert_healthy(server)


@pytest.mark.parametrize("opcode,body", [
    (zkwire.GET_DATA, struct.pack(">i", 100) + b"abc"),  # string longer than the frame
    (zkwire.EXISTS, b""),
    (zkwire.GET_CHILDREN, struct.pack(">i", -7)),
    (zkwire.SET_DATA, Enc().ustring("/x").bytes()),  # missing data and version
    (zkwire.CREATE, Enc().ustring("/x").buffer(b"d").bytes()),  # missing acl and flags
    (zkwire.DELETE, b"\x00\x00"),
    (zkwire.MULTI, Enc().int(zkwire.CREATE).bool(False).int(-1).bytes()),  # truncated op
], ids=["getData-long-string", "exists-empty", "getChildren-neg-len", "setData-short",
        "create-short", "delete-short", "multi-truncated"])
def test_undecodable_body_marshalling_error(server, wire, zk, root, opcode, body):
    c = wire()
    rep = c.call(opcode, body)
    assert rep.err == zkwire.MARSHALLING_ERROR
    # the connection stays usable
    assert c.create(f"{root}/after").err == 0
    rep, data, _ = c.get_data(f"{root}/after")
    assert rep.err == 0 and data == b""
    assert_healthy(server)


def test_reconfig_is_disabled_and_sasl_has_no_provider(wire):
    """Standalone with ZooKeeper's defaults: reconfig answers ReconfigDisabled (-123); a SASL
    token gets an empty (null) answer token with zxid 0; the connection stays usable."""
    c = wire()
    body = zkwire.Enc().ustring("server.2=127.0.0.1:2888:3888").ustring(None).ustring(None).long(-1).bytes()
    assert c.call(16, body).err == -123
    r = c.call(102, zkwire.Enc().buffer(b"token").bytes())
    assert (r.err, r.zxid, r.body) == (0, 0, b"\xff\xff\xff\xff")
    assert c.call(3, zkwire.path_watch("/")).err == 0
