"""Capacity bounds: a full table is a ZooKeeper error for the request that needs more room
(QuotaExceeded, -125) or, for sessions, a closed connection; never a crash, never a stall of
the other clients, and the room comes back when it is freed.

herd-only tests start their own herd with small zoo.cfg capacity keys (herd.znodesMax,
herd.dataBytesMax, herd.watchesMax, herd.sessionsMax). The long-path checks run against every
target (the `server` fixture), because ZooKeeper defines what happens there too: a path that
fits in jute.maxbuffer is an ordinary name, a frame larger than jute.maxbuffer closes the
connection.
"""

import uuid

import pytest
from kazoo.exceptions import (
    NoNodeError,
    QuotaExceededError,
    RolledBackError,
    RuntimeInconsistency,
)

import zkwire
from conftest import _close_client, _targets, new_client, start_server, wait_until

ZNODES_MAX = 100
DATA_BYTES_MAX = 16 * 1024
WATCHES_MAX = 10
SESSIONS_MAX = 3
QUOTA_EXCEEDED = -125
NO_NODE = -101
# Bounded fill loops: far more attempts than any table of the sizes above can take.
FILL_ATTEMPTS_MAX = 400


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def herd_only(request):
    """herd's capacity keys have no ZooKeeper counterpart: these tests need the herd target."""
    if "herd" not in _targets(request.config):
        pytest.skip("herd-only test; herd is not among the selected targets")


@pytest.fixture
def limited_herd(herd_only, tmp_path_factory):
    """Starts herd servers with extra zoo.cfg keys; all stopped at teardown."""
    started = []

    def make(extra_cfg):
        cfg = {k: str(v) for k, v in extra_cfg.items()}
        s = start_server("herd", tmp_path_factory.mktemp("herd-limits"), extra_cfg=cfg)
        started.append(s)
        return s

    yield make
    for s in started:
        s.shutdown()


@pytest.fixture
def clients():
    """Makes kazoo clients for a given server; all closed at teardown."""
    made = []

    def make(server):
        c = new_client(server.hosts)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            _close_client(c)
        except Exception:
            pass


# -- helpers -------------------------------------------------------------------------------------
def mntr(server):
    out = {}
    for line in server.four_letter("mntr").splitlines():
        k, _, v = line.partition("\t")
        out[k] = v
    return out


def mntr_int(server, key):
    v = mntr(server).get(key)
    assert v is not None, f"mntr has no {key}"
    return int(v)


def assert_alive(server, clients):
    """The server still answers 4lw and serves a brand-new client end to end."""
    assert server.running(), f"{server} exited:\n{server.log_tail(60)}"
    assert server.four_letter("ruok") == "imok"
    c = clients(server)
    p = f"/alive-{uuid.uuid4().hex}"
    try:
        c.create(p, b"ok")
    except QuotaExceededError:
        pass  # a full table is fine here; reads must still work
    assert c.get_children("/") is not None
    assert c.exists("/zookeeper") is not None


def fill(action, what):
    """Calls action(i) until it raises QuotaExceededError; returns how many calls succeeded."""
    for i in range(FILL_ATTEMPTS_MAX):
        try:
            action(i)
        except QuotaExceededError:
            return i
    pytest.fail(f"{what}: no QuotaExceeded after {FILL_ATTEMPTS_MAX} attempts")


def limit_warnings(server, since, key):
    """Warning lines naming the zoo.cfg key of a bound, logged since byte offset `since`."""
    tail = server.log_tail(10_000, since=since)
    return [line for line in tail.splitlines() if "WARN" in line and key in line]


# -- herd.znodesMax ------------------------------------------------------------------------------
def test_full_node_table(limited_herd, clients):
    s = limited_herd({"herd.znodesMax": ZNODES_MAX})
    log_at = s.log_size()
    zk = clients(s)
    other = clients(s)
    # zk_znode_count counts the root twice, as ZooKeeper's node map does ("/" and "");
    # the real znodes (/, /zookeeper, ...) count against the bound.
    reserved = mntr_int(s, "zk_znode_count") - 1
    assert 0 < reserved < ZNODES_MAX

    zk.create("/full", b"parent")
    created = fill(lambda i: zk.create(f"/full/n{i:03d}", b"d%d" % i), "creates")
    # "Most znodes the tree holds, reserved ones included": exactly the bound, no fewer.
    assert reserved + 1 + created == ZNODES_MAX
    assert mntr_int(s, "zk_znode_count") == ZNODES_MAX + 1
    assert limit_warnings(s, log_at, "herd.znodesMax"), "no warning log line for the full table"

    # Every kind of create is refused, from any session, and changes nothing.
    for kw in (dict(), dict(ephemeral=True), dict(sequence=True),
               dict(ephemeral=True, sequence=True)):
        with pytest.raises(QuotaExceededError):
            other.create("/full/more", b"x", **kw)
    with pytest.raises(QuotaExceededError):
        zk.create("/elsewhere")
    assert zk.get_children("/full") == other.get_children("/full")
    assert len(zk.get_children("/full")) == created
    assert mntr_int(s, "zk_znode_count") == ZNODES_MAX + 1

    # Reads, writes that need no new node, and other clients keep working.
    for i in (0, created // 2, created - 1):
        assert other.get(f"/full/n{i:03d}")[0] == b"d%d" % i
    st = zk.set("/full/n001", b"changed")
    assert st.version == 1 and other.get("/full/n001")[0] == b"changed"
    assert other.exists("/full/nope") is None
    late = clients(s)  # a new session needs no znode
    assert len(late.get_children("/full")) == created
    assert s.four_letter("ruok") == "imok"

    # Deletes free room: exactly as many creates succeed again, then the bound holds again.
    zk.delete("/full/n000")
    other.delete("/full/n001")
    assert mntr_int(s, "zk_znode_count") == ZNODES_MAX - 1
    other.create("/full/again1", b"a")
    late.create("/full/again2", ephemeral=True)
    with pytest.raises(QuotaExceededError):
        zk.create("/full/again3")
    assert other.get("/full/again1")[0] == b"a"
    assert mntr_int(s, "zk_znode_count") == ZNODES_MAX + 1

    # A session that ends frees its ephemerals' room.
    _close_client(late)
    wait_until(lambda: other.exists("/full/again2") is None, msg="ephemeral removed on close")
    zk.create("/full/after-close")
    assert_alive(s, clients)


def test_multi_beyond_node_table_fails_per_op(limited_herd, clients):
    """A multi that needs more nodes than are free fails like any failed multi: it applies
    nothing, its reply header err is 0 and the failure shows per op (0 before the failing op,
    QuotaExceeded for it, -2 after it)."""
    s = limited_herd({"herd.znodesMax": ZNODES_MAX})
    zk = clients(s)
    reserved = mntr_int(s, "zk_znode_count") - 1  # the root counts twice, as in ZooKeeper
    zk.create("/m", b"m0")
    for i in range(ZNODES_MAX - reserved - 2):
        zk.create(f"/m/n{i:03d}")
    assert mntr_int(s, "zk_znode_count") == ZNODES_MAX  # one node left (mntr counts the root twice)
    before = zk.exists("/m")

    c = zkwire.connect(s.host, s.port)
    try:
        rep, res = c.multi([
            (zkwire.SET_DATA, zkwire.Enc().ustring("/m").buffer(b"in-multi").int(-1).bytes()),
            (zkwire.CREATE, zkwire.create_body("/m/a")),  # takes the last node
            (zkwire.CREATE, zkwire.create_body("/m/b")),  # does not fit
            (zkwire.DELETE, zkwire.Enc().ustring("/m/n000").int(-1).bytes()),
        ])
        # All or nothing, whatever the reply looks like.
        data, st = zk.get("/m")
        assert (data, st.version) == (b"m0", 0), "a failed multi applied its setData"
        assert zk.exists("/m/a") is None, "a failed multi applied its first create"
        assert zk.exists("/m/n000") is not None
        assert zk.exists("/m") == before
        assert mntr_int(s, "zk_znode_count") == ZNODES_MAX
        # The reply of a failed multi.
        assert rep.err == 0, f"failed multi answered with reply header err {rep.err}"
        assert [(typ, err) for typ, err, _ in res] == [
            (-1, 0), (-1, 0), (-1, QUOTA_EXCEEDED), (-1, -2)]
    finally:
        c.close()

    # The same through kazoo's transaction API.
    t = zk.transaction()
    t.set_data("/m", b"in-multi")
    t.create("/m/a")
    t.create("/m/b")
    t.delete("/m/n000")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, QuotaExceededError,
                                          RuntimeInconsistency]
    assert zk.get("/m")[0] == b"m0" and zk.exists("/m/a") is None

    # A multi that fits commits atomically, and what clients saw is what a restart recovers.
    t = zk.transaction()
    t.delete("/m/n000")
    t.create("/m/a")
    t.create("/m/b")
    assert t.commit() == [True, "/m/a", "/m/b"]
    assert mntr_int(s, "zk_znode_count") == ZNODES_MAX + 1
    seen = (zk.get("/m"), sorted(zk.get_children("/m")))
    s.kill9()
    s.start()
    again = clients(s)
    assert (again.get("/m"), sorted(again.get_children("/m"))) == seen


# -- herd.dataBytesMax ---------------------------------------------------------------------------
def test_full_data_arena(limited_herd, clients):
    s = limited_herd({"herd.dataBytesMax": DATA_BYTES_MAX})
    log_at = s.log_size()
    zk = clients(s)
    other = clients(s)
    value = lambda i: bytes([65 + i % 26]) * 1000  # noqa: E731

    zk.create("/arena")
    created = fill(lambda i: zk.create(f"/arena/n{i:03d}", value(i)), "1000-byte creates")
    # Names, data and ACLs share the arena: fewer 1000-byte nodes than the raw bytes allow,
    # but the arena is not refused while far from full.
    assert DATA_BYTES_MAX // 2 // 1000 <= created < DATA_BYTES_MAX // 1000
    m = mntr(s)
    assert int(m["zk_herd_arena_bytes_allocated"]) <= DATA_BYTES_MAX
    assert int(m["zk_znode_count"]) < 100, "the node table, not the arena, ran out"
    assert limit_warnings(s, log_at, "herd.dataBytesMax"), "no warning log line for the arena"

    # Growing data is refused and leaves the old value and version.
    with pytest.raises(QuotaExceededError):
        other.set("/arena/n000", b"z" * 4000)
    data, st = zk.get("/arena/n000")
    assert data == value(0) and st.version == 0
    with pytest.raises(QuotaExceededError):
        other.create("/arena/big", b"z" * 4000)
    assert zk.exists("/arena/big") is None
    # Shrinking needs no more room, even in a full arena.
    zk.set(f"/arena/n{created - 1:03d}", b"small")
    assert other.get(f"/arena/n{created - 1:03d}")[0] == b"small"

    # Reads and other clients keep working; every stored value is intact.
    assert sorted(other.get_children("/arena")) == [f"n{i:03d}" for i in range(created)]
    for i in range(created - 1):
        assert other.get(f"/arena/n{i:03d}")[0] == value(i)
    late = clients(s)
    assert late.get("/arena/n001")[0] == value(1)
    assert s.four_letter("ruok") == "imok"

    # Freed bytes are reused: after deletes a value of the same size fits again.
    zk.delete("/arena/n000")
    zk.delete("/arena/n001")
    other.create("/arena/again", value(7))
    assert late.get("/arena/again")[0] == value(7)
    assert int(mntr(s)["zk_herd_arena_bytes_allocated"]) <= DATA_BYTES_MAX
    assert_alive(s, clients)


def test_multi_beyond_data_arena_is_atomic(limited_herd, clients):
    """A multi whose last op does not fit the arena applies none of its ops."""
    s = limited_herd({"herd.dataBytesMax": DATA_BYTES_MAX})
    zk = clients(s)
    zk.create("/d", b"d0")
    t = zk.transaction()
    t.set_data("/d", b"in-multi")
    t.create("/d/big", b"z" * (2 * DATA_BYTES_MAX // 3))
    t.create("/d/bigger", b"z" * (2 * DATA_BYTES_MAX // 3))  # the two do not fit together
    try:
        results = t.commit()
    except QuotaExceededError as e:  # a reply header error instead of per-op results
        results = e
    data, st = zk.get("/d")
    assert (data, st.version) == (b"d0", 0), "a failed multi applied its setData"
    assert zk.get_children("/d") == [], "a failed multi applied its first create"
    assert not isinstance(results, Exception), "failed multi answered with header err -125"
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, QuotaExceededError]


# -- herd.watchesMax -----------------------------------------------------------------------------
def test_watch_count_is_bounded(limited_herd, clients):
    """herd.watchesMax is "most registered watches over all connections": exactly that many
    one-shot watches are accepted, the next one is refused, from any connection."""
    s = limited_herd({"herd.watchesMax": WATCHES_MAX})
    zk = clients(s)
    other = clients(s)
    zk.create("/w")
    for i in range(WATCHES_MAX + 5):
        zk.create(f"/w/n{i:02d}")
    for i in range(WATCHES_MAX):
        zk.get(f"/w/n{i:02d}", watch=lambda e: None)
    with pytest.raises(QuotaExceededError):
        other.get(f"/w/n{WATCHES_MAX:02d}", watch=lambda e: None)
    with pytest.raises(QuotaExceededError):
        zk.get_children(f"/w/n{WATCHES_MAX + 1:02d}", watch=lambda e: None)
    assert mntr_int(s, "zk_watch_count") == WATCHES_MAX


def test_full_watch_table(limited_herd, clients):
    s = limited_herd({"herd.watchesMax": WATCHES_MAX})
    log_at = s.log_size()
    zk = clients(s)
    other = clients(s)
    zk.create("/w")
    for i in range(FILL_ATTEMPTS_MAX):
        zk.create(f"/w/n{i:03d}")
    fired = []
    watched = fill(lambda i: zk.get(f"/w/n{i:03d}", watch=fired.append), "data watches")
    assert watched >= 1
    assert limit_warnings(s, log_at, "herd.watchesMax"), "no warning log line for watches"

    # The bound is global: no connection can add a watch while the table is full.
    with pytest.raises(QuotaExceededError):
        other.exists(f"/w/n{watched:03d}", watch=lambda e: None)
    with pytest.raises(QuotaExceededError):
        other.get_children("/w", watch=lambda e: None)

    # Everything that registers no watch keeps working, for every client.
    assert other.get(f"/w/n{watched:03d}")[0] == b""
    assert len(other.get_children("/w")) == FILL_ATTEMPTS_MAX
    other.create("/w/new", b"n")
    other.set("/w/new", b"n2")
    other.delete("/w/new")
    late = clients(s)
    assert late.exists("/w/n000") is not None
    assert s.four_letter("ruok") == "imok"

    # Watches registered before the table filled still fire.
    zk.set("/w/n000", b"changed")
    wait_until(lambda: any(e.path == "/w/n000" for e in fired), msg="watch event on /w/n000")
    # A fired one-shot watch frees its room: a new watch is accepted again.
    late.get("/w/n000", watch=lambda e: None)

    # A closed session frees all its watches.
    _close_client(zk)
    for i in range(min(watched, WATCHES_MAX) - 1):
        other.get(f"/w/n{i + 1:03d}", watch=lambda e: None)
    assert_alive(s, clients)


# -- herd.sessionsMax ----------------------------------------------------------------------------
def test_full_session_table(limited_herd, clients):
    s = limited_herd({"herd.sessionsMax": SESSIONS_MAX})
    log_at = s.log_size()
    sessions = [clients(s) for _ in range(SESSIONS_MAX)]
    sessions[0].create("/s", b"v")

    # One session too many: the server closes that connection without a session.
    extra = zkwire.Conn(s.host, s.port)
    try:
        with pytest.raises(zkwire.Closed):
            extra.handshake()
    finally:
        extra.close()
    assert limit_warnings(s, log_at, "herd.sessionsMax"), "no warning log line for sessions"
    assert mntr_int(s, "zk_global_sessions") == SESSIONS_MAX

    # The existing sessions are untouched and keep reading and writing.
    for i, c in enumerate(sessions):
        assert c.get("/s")[0] == b"v"
        c.create(f"/s/e{i}", ephemeral=True)
    assert sorted(sessions[1].get_children("/s")) == [f"e{i}" for i in range(SESSIONS_MAX)]
    assert s.four_letter("ruok") == "imok"

    # Re-attaching an existing session needs no new slot: drop a raw session's socket and
    # come back with its id and password while the table is full.
    _close_client(sessions.pop())
    raw = zkwire.connect(s.host, s.port)
    sid, pw = raw.session.session_id, raw.session.passwd
    assert sid != 0
    raw.close()
    back = zkwire.Conn(s.host, s.port)
    try:
        sess = back.handshake(session_id=sid, passwd=pw)
        assert sess.session_id == sid and sess.timeout > 0
        rep, stat = back.exists("/s")
        assert rep.err == 0 and stat.numChildren == SESSIONS_MAX - 1
        back.close_session()
    finally:
        back.close()

    # A closed session frees its slot for a new one.
    wait_until(lambda: mntr_int(s, "zk_global_sessions") < SESSIONS_MAX,
               msg="closed session freed")
    fresh = clients(s)
    assert fresh.get("/s")[0] == b"v"
    for c in sessions:
        assert c.exists("/s") is not None
    assert s.four_letter("ruok") == "imok"


# -- long paths ----------------------------------------------------------------------------------
LONG_NAME_BYTES = 200 * 1024


def _request_frame(xid, op, body):
    return zkwire.frame(zkwire.request_header(xid, op) + body)


def test_200kib_name_is_an_ordinary_name(server, zk, zk_factory):
    """A 200 KiB name fits in one jute.maxbuffer frame: ZooKeeper stores it like any other;
    so must herd, and the server keeps serving everyone."""
    name = "/" + "L" * LONG_NAME_BYTES
    assert zk.create(name, b"long") == name
    other = zk_factory()
    data, st = other.get(name)
    assert data == b"long" and st.version == 0
    assert name[1:] in other.get_children("/")
    zk.delete(name)
    assert other.exists(name) is None
    assert server.four_letter("ruok") == "imok"
    p = f"/after-long-{uuid.uuid4().hex}"
    zk_factory().create(p)
    assert zk.exists(p) is not None


def test_deep_long_path_with_missing_parent(server, wire):
    """200 KiB of path components under a parent that does not exist: NoNode, connection kept."""
    c = wire()
    path = "/missing" + "/a" * (LONG_NAME_BYTES // 2)
    rep = c.create(path, b"x")
    assert rep.err == NO_NODE
    rep, _, _ = c.get_data(path)
    assert rep.err == NO_NODE
    assert c.ping().err == 0
    assert server.four_letter("ruok") == "imok"


def test_path_beyond_jute_maxbuffer_closes_connection(server, zk_factory, wire):
    """A request frame larger than jute.maxbuffer (1 MiB - 1 by default) is refused by closing
    that connection, as ZooKeeper does; the server and other sessions carry on."""
    bystander = zk_factory()
    c = wire()
    path = "/" + "X" * (1100 * 1024)
    try:
        c.send_raw(_request_frame(1, zkwire.CREATE, zkwire.create_body(path, b"x")))
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed as soon as the length was read: the outcome under test
    c.expect_closed(timeout=10.0)
    assert server.four_letter("ruok") == "imok"
    p = f"/after-huge-{uuid.uuid4().hex}"
    bystander.create(p, b"still")
    assert zk_factory().get(p)[0] == b"still"
    assert bystander.get_children("/") is not None


def test_long_name_beyond_small_arena(limited_herd, clients):
    """herd only: a 200 KiB name cannot fit a 16 KiB arena: QuotaExceeded on that request,
    the connection and the server carry on."""
    s = limited_herd({"herd.dataBytesMax": DATA_BYTES_MAX})
    zk = clients(s)
    name = "/" + "L" * LONG_NAME_BYTES
    with pytest.raises(QuotaExceededError):
        zk.create(name, b"x")
    with pytest.raises(NoNodeError):
        zk.get(name)
    c = zkwire.connect(s.host, s.port)
    try:
        rep = c.create(name, b"x")
        assert rep.err == QUOTA_EXCEEDED
        assert c.ping().err == 0
        rep = c.create("/short", b"x")
        assert rep.err == 0
    finally:
        c.close()
    assert_alive(s, clients)
