"""Stat fields after each kind of write. zxids are compared by relation (equal / increasing),
never by value, since servers may number transactions differently."""

import time
import uuid

import pytest
from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE

CLOCK_SLACK_MS = 60_000  # ctime/mtime are the server's wall clock; allow generous skew


def now_ms():
    return int(time.time() * 1000)


def test_stat_after_create(zk, root):
    before = now_ms()
    path, st = zk.create(f"{root}/n", b"abc", include_data=True)
    after = now_ms()
    assert path == f"{root}/n"
    assert st == zk.exists(path)
    assert st.czxid > 0
    assert st.czxid == st.mzxid == st.pzxid
    assert st.ctime == st.mtime
    assert before - CLOCK_SLACK_MS <= st.ctime <= after + CLOCK_SLACK_MS
    assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
    assert st.ephemeralOwner == 0
    assert st.dataLength == 3
    assert st.numChildren == 0

    # a later create has a larger czxid
    _, st2 = zk.create(f"{root}/m", include_data=True)
    assert st2.czxid > st.czxid


def test_stat_after_set(zk, root):
    p = f"{root}/n"
    _, c = zk.create(p, b"abc", include_data=True)
    time.sleep(0.01)
    s1 = zk.set(p, b"defgh")
    assert s1.czxid == c.czxid
    assert s1.mzxid > c.mzxid
    assert s1.pzxid == c.pzxid  # data changes never touch pzxid
    assert s1.ctime == c.ctime
    assert s1.mtime >= s1.ctime
    assert s1.version == 1
    assert (s1.cversion, s1.aversion) == (0, 0)
    assert s1.dataLength == 5
    s2 = zk.set(p, b"")
    assert s2.mzxid > s1.mzxid
    assert s2.version == 2
    assert s2.dataLength == 0
    assert zk.exists(p) == s2


def test_stat_after_child_create_and_delete(zk, root):
    p = f"{root}/parent"
    _, ps0 = zk.create(p, b"d", include_data=True)

    _, cs = zk.create(f"{p}/child", include_data=True)
    ps1 = zk.exists(p)
    assert ps1.pzxid == cs.czxid
    assert ps1.pzxid > ps0.pzxid
    assert ps1.cversion == 1
    assert ps1.numChildren == 1
    # the parent's own data stat is untouched
    assert (ps1.mzxid, ps1.mtime, ps1.version, ps1.czxid) == (ps0.mzxid, ps0.mtime, 0, ps0.czxid)

    # a child data change does not touch the parent
    zk.set(f"{p}/child", b"x")
    assert zk.exists(p) == ps1

    zk.delete(f"{p}/child")
    ps2 = zk.exists(p)
    assert ps2.pzxid > ps1.pzxid
    assert ps2.cversion == 2  # creates + deletes
    assert ps2.numChildren == 0
    assert ps2.mzxid == ps0.mzxid and ps2.version == 0

    # several children: cversion counts each create and delete
    for i in range(3):
        zk.create(f"{p}/c{i}")
    zk.delete(f"{p}/c1")
    ps3 = zk.exists(p)
    assert ps3.cversion == 6
    assert ps3.numChildren == 2


def test_stat_after_set_acl(zk, root):
    p = f"{root}/acl"
    _, c = zk.create(p, b"abc", include_data=True)
    s = zk.set_acls(p, READ_ACL_UNSAFE + [ACL(31, Id("ip", "127.0.0.1"))])
    assert s.aversion == 1
    assert (s.mzxid, s.mtime, s.version) == (c.mzxid, c.mtime, 0)  # setACL is not a data change
    assert s.czxid == c.czxid and s.pzxid == c.pzxid
    acls, s2 = zk.get_acls(p)
    assert s2 == s
    s3 = zk.set_acls(p, OPEN_ACL_UNSAFE, version=1)
    assert s3.aversion == 2


def test_ephemeral_owner(zk, zk_factory, root):
    _, st = zk.create(f"{root}/e", ephemeral=True, include_data=True)
    assert st.ephemeralOwner == zk.client_id[0]
    assert st.ephemeralOwner != 0
    other = zk_factory()
    assert other.exists(f"{root}/e").ephemeralOwner == zk.client_id[0]
    _, st2 = other.create(f"{root}/e2", ephemeral=True, include_data=True)
    assert st2.ephemeralOwner == other.client_id[0] != zk.client_id[0]


def test_get_children_stat_matches_exists(zk, root):
    zk.create(f"{root}/a")
    zk.create(f"{root}/b")
    children, st = zk.get_children(root, include_data=True)
    assert sorted(children) == ["a", "b"]
    assert st == zk.exists(root)


def test_zookeeper_node(zk):
    st = zk.exists("/zookeeper")
    assert st is not None
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert st.numChildren == 2
    # stored create counter 0, two children present: clients see 2*0 - 2
    assert st.cversion == -2
    assert (st.czxid, st.mzxid, st.pzxid, st.version, st.aversion, st.ephemeralOwner) == (0,) * 6


def test_zookeeper_config_exists(zk):
    data, st = zk.get("/zookeeper/config")
    assert st is not None
    # standalone without dynamic reconfig: empty config
    assert data in (b"", None)
    assert st.numChildren == 0
    assert st.aversion == -1
    acls, _ = zk.get_acls("/zookeeper/config")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(1, "world", "anyone")]
    assert zk.exists("/zookeeper/quota") is not None


def test_fresh_root_cversion(server_factory, zk_factory):
    """On a fresh tree `/` has one child (`zookeeper`) that was never counted as a create:
    cversion = 2*0 - 1 = -1; each child create and delete then raises it by one."""
    fresh = server_factory()
    zk = zk_factory(hosts=fresh.hosts)
    st = zk.exists("/")
    assert zk.get_children("/") == ["zookeeper"]
    assert st.cversion == -1
    assert st.numChildren == 1
    assert (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.aversion,
            st.ephemeralOwner, st.dataLength, st.pzxid) == (0,) * 9
    assert zk.get("/")[0] in (b"", None)

    _, cs = zk.create("/a", include_data=True)
    st1 = zk.exists("/")
    assert (st1.cversion, st1.numChildren) == (0, 2)
    assert st1.pzxid == cs.czxid

    zk.delete("/a")
    st2 = zk.exists("/")
    assert (st2.cversion, st2.numChildren) == (1, 1)
    assert st2.pzxid > st1.pzxid
    assert st2.mzxid == 0


def test_root_cversion_tracks_children(zk):
    st0 = zk.exists("/")
    p = f"/t-{uuid.uuid4().hex}"
    zk.create(p)
    st1 = zk.exists("/")
    assert st1.cversion == st0.cversion + 1
    assert st1.numChildren == st0.numChildren + 1
    zk.delete(p)
    st2 = zk.exists("/")
    assert st2.cversion == st0.cversion + 2
    assert st2.numChildren == st0.numChildren


@pytest.mark.parametrize("n", [1, 5])
def test_zxids_increase_across_writes(zk, root, n):
    """Every write gets a fresh, larger zxid (mzxid of successive sets strictly increases)."""
    p = f"{root}/z"
    zk.create(p)
    last = zk.exists(p).mzxid
    for i in range(n):
        m = zk.set(p, str(i).encode()).mzxid
        assert m > last
        last = m
