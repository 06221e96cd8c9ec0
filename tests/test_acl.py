"""ACLs: digest auth with add_auth, the world/auth/ip schemes, per-op permissions, getACL
masking, InvalidACL, whoAmI. (The super scheme is out of scope.)"""

import base64
import hashlib
import threading

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
)
from kazoo.protocol.states import EventType
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_digest_acl,
    make_digest_acl_credential,
)

import zkwire

P = Permissions


def digest_id(user, password):
    h = base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()
    return f"{user}:{h}"


def acl_tuples(acls):
    return sorted((a.perms, a.id.scheme, a.id.id) for a in acls)


def test_digest_matches_reference_formula():
    assert make_digest_acl_credential("alice", "secret") == digest_id("alice", "secret")


def test_digest_auth(zk_factory, root):
    owner = zk_factory()
    owner.add_auth("digest", "alice:secret")
    p = f"{root}/private"
    owner.create(p, b"s3cret", acl=[make_digest_acl("alice", "secret", all=True)])
    assert owner.get(p)[0] == b"s3cret"

    anon = zk_factory()
    with pytest.raises(NoAuthError):
        anon.get(p)
    with pytest.raises(NoAuthError):
        anon.set(p, b"x")
    with pytest.raises(NoAuthError):
        anon.get_children(p)
    with pytest.raises(NoAuthError):
        anon.create(f"{p}/child")
    with pytest.raises(NoAuthError):
        anon.get_acls(p)

    wrong = zk_factory()
    wrong.add_auth("digest", "alice:wrong")  # digest auth itself never fails
    with pytest.raises(NoAuthError):
        wrong.get(p)

    # add_auth on an existing connection takes effect immediately
    anon.add_auth("digest", "alice:secret")
    assert anon.get(p)[0] == b"s3cret"
    anon.set(p, b"changed")
    assert owner.get(p)[0] == b"changed"

    # credentials given at connect time (kazoo auth_data)
    late = zk_factory(auth_data=[("digest", "alice:secret")])
    assert late.get(p)[0] == b"changed"


def test_exists_on_unreadable_node(zk_factory, root):
    """ZooKeeper 3.8.0 answers exists without any permission check; later 3.8 releases
    require READ on an existing node. Both are accepted; a missing node is NoNode (None)."""
    owner = zk_factory()
    p = f"{root}/noread"
    owner.create(p, b"x", acl=[ACL(P.WRITE, Id("world", "anyone"))])
    anon = zk_factory()
    try:
        st = anon.exists(p)
        assert st is not None and st.dataLength == 1
    except NoAuthError:
        pass
    assert anon.exists(f"{root}/nothing") is None


def test_permission_bits(zk_factory, root):
    owner = zk_factory()
    owner.add_auth("digest", "admin:pw")
    admin_all = make_digest_acl("admin", "pw", all=True)
    other = zk_factory()

    def node(name, world_perms):
        p = f"{root}/{name}"
        owner.create(p, b"d", acl=[admin_all, ACL(world_perms, Id("world", "anyone"))])
        owner.create(f"{p}/child", b"c")
        return p

    p = node("read", P.READ)
    assert other.get(p)[0] == b"d"
    assert other.get_children(p) == ["child"]
    with pytest.raises(NoAuthError):
        other.set(p, b"x")
    with pytest.raises(NoAuthError):
        other.create(f"{p}/new")
    with pytest.raises(NoAuthError):
        other.delete(f"{p}/child")
    with pytest.raises(NoAuthError):
        other.set_acls(p, OPEN_ACL_UNSAFE)

    p = node("write", P.WRITE)
    other.set(p, b"w")
    with pytest.raises(NoAuthError):
        other.get(p)

    p = node("create", P.CREATE)
    other.create(f"{p}/new")
    with pytest.raises(NoAuthError):
        other.delete(f"{p}/new")  # DELETE is checked on the parent

    p = node("delete", P.DELETE)
    other.delete(f"{p}/child")  # the child itself is open, the parent grants DELETE
    with pytest.raises(NoAuthError):
        other.create(f"{p}/new")

    p = node("admin", P.ADMIN)
    with pytest.raises(NoAuthError):
        other.get(p)
    other.set_acls(p, OPEN_ACL_UNSAFE)  # ADMIN allows setACL
    assert other.get(p)[0] == b"d"


def test_auth_scheme_expands_to_caller_ids(zk_factory, root):
    owner = zk_factory()
    anon_c = zk_factory()
    # no authenticated id: the auth scheme cannot be expanded
    with pytest.raises(InvalidACLError):
        anon_c.create(f"{root}/a0", acl=CREATOR_ALL_ACL)

    owner.add_auth("digest", "carol:pw1")
    owner.add_auth("digest", "dave:pw2")
    p = f"{root}/creator"
    owner.create(p, b"x", acl=CREATOR_ALL_ACL)
    acls, _ = owner.get_acls(p)
    assert acl_tuples(acls) == sorted([(31, "digest", digest_id("carol", "pw1")),
                                       (31, "digest", digest_id("dave", "pw2"))])
    with pytest.raises(NoAuthError):
        anon_c.get(p)
    dave = zk_factory(auth_data=[("digest", "dave:pw2")])
    assert dave.get(p)[0] == b"x"


def test_world_read_only(zk_factory, root):
    owner = zk_factory()
    p = f"{root}/ro"
    owner.create(p, b"public", acl=READ_ACL_UNSAFE)
    assert owner.get(p)[0] == b"public"
    with pytest.raises(NoAuthError):
        owner.set(p, b"x")
    with pytest.raises(NoAuthError):
        owner.create(f"{p}/c")
    with pytest.raises(NoAuthError):
        owner.set_acls(p, OPEN_ACL_UNSAFE)
    # delete needs DELETE on the parent (open), not on the node
    owner.delete(p)


def test_ip_scheme(zk, root):
    ok = [ACL(P.ALL, Id("ip", "127.0.0.1"))]
    zk.create(f"{root}/ip-exact", b"1", acl=ok)
    assert zk.get(f"{root}/ip-exact")[0] == b"1"
    zk.create(f"{root}/ip-cidr", b"2", acl=[ACL(P.ALL, Id("ip", "127.0.0.0/8"))])
    assert zk.get(f"{root}/ip-cidr")[0] == b"2"
    zk.create(f"{root}/ip-other", b"3", acl=[ACL(P.ALL, Id("ip", "10.11.12.13"))])
    with pytest.raises(NoAuthError):
        zk.get(f"{root}/ip-other")
    zk.create(f"{root}/ip-othernet", b"4", acl=[ACL(P.ALL, Id("ip", "192.0.2.0/24"))])
    with pytest.raises(NoAuthError):
        zk.get(f"{root}/ip-othernet")


def test_get_acl_masking(zk_factory, root):
    owner = zk_factory()
    owner.add_auth("digest", "erin:pw")
    p = f"{root}/masked"
    acl = [make_digest_acl("erin", "pw", all=True), ACL(P.READ, Id("world", "anyone"))]
    _, st = owner.create(p, acl=acl, include_data=True)
    acls, st_owner = owner.get_acls(p)
    assert acl_tuples(acls) == sorted([(31, "digest", digest_id("erin", "pw")),
                                       (1, "world", "anyone")])
    assert st_owner == st
    reader = zk_factory()  # READ but not ADMIN: digest ids masked
    acls, _ = reader.get_acls(p)
    assert acl_tuples(acls) == sorted([(31, "digest", "erin:x"), (1, "world", "anyone")])

    # ADMIN without READ is enough for getACL, unmasked
    q = f"{root}/adminonly"
    owner.create(q, acl=[make_digest_acl("erin", "pw", all=True),
                         ACL(P.ADMIN, Id("world", "anyone"))])
    acls, _ = reader.get_acls(q)
    assert (31, "digest", digest_id("erin", "pw")) in acl_tuples(acls)


@pytest.mark.parametrize("acl", [
    [],
    [ACL(P.ALL, Id("world", "somebody"))],
    [ACL(P.ALL, Id("digest", "no-colon"))],
    [ACL(P.ALL, Id("ip", "not-an-ip"))],
    [ACL(P.ALL, Id("ip", "127.0.0.1/33"))],
    [ACL(P.ALL, Id("nosuchscheme", "x"))],
    [ACL(P.ALL, Id("super", "x"))],
    [ACL(P.ALL, Id("auth", ""))],  # no authenticated id on this connection
], ids=["empty", "world-somebody", "digest-no-colon", "ip-bad", "ip-mask", "unknown-scheme",
        "super", "auth-unauthenticated"])
def test_invalid_acl(zk, root, acl):
    # create_async: the synchronous create() would replace an empty list by the default ACL
    with pytest.raises(InvalidACLError):
        zk.create_async(f"{root}/bad", acl=acl).get(timeout=10)
    assert zk.exists(f"{root}/bad") is None
    zk.create(f"{root}/good")
    with pytest.raises(InvalidACLError):
        zk.set_acls(f"{root}/good", acl)
    assert acl_tuples(zk.get_acls(f"{root}/good")[0]) == [(31, "world", "anyone")]


def test_set_acl_version(zk, root):
    p = f"{root}/v"
    zk.create(p)
    with pytest.raises(BadVersionError):
        zk.set_acls(p, READ_ACL_UNSAFE, version=3)
    assert zk.set_acls(p, READ_ACL_UNSAFE, version=0).aversion == 1
    assert acl_tuples(zk.get_acls(p)[0]) == [(1, "world", "anyone")]


def test_duplicate_acl_entries_collapsed(zk, root):
    p = f"{root}/dups"
    zk.create(p, acl=[ACL(P.ALL, Id("world", "anyone")), ACL(P.ALL, Id("world", "anyone"))])
    assert acl_tuples(zk.get_acls(p)[0]) == [(31, "world", "anyone")]


def test_unknown_auth_scheme_fails(zk_factory, wire):
    c = wire()
    rep = c.auth("nosuchscheme", b"whatever")
    assert rep.xid == zkwire.XID_AUTH
    assert rep.err == zkwire.AUTH_FAILED
    c.expect_closed(timeout=10)

    zk = zk_factory()
    with pytest.raises(AuthFailedError):
        zk.add_auth("nosuchscheme", "whatever")


def test_who_am_i(wire):
    c = wire()
    assert c.who_am_i() == [("ip", "127.0.0.1")]
    rep = c.auth("digest", b"frank:pw")
    assert (rep.xid, rep.err) == (zkwire.XID_AUTH, 0)
    assert sorted(c.who_am_i()) == [("digest", "frank"), ("ip", "127.0.0.1")]
    c.auth("digest", b"gina:pw")
    assert sorted(c.who_am_i()) == [("digest", "frank"), ("digest", "gina"), ("ip", "127.0.0.1")]


def test_watch_on_unreadable_node(zk_factory, root):
    """ZooKeeper >= 3.8.4 drops notifications for nodes the watcher cannot READ
    (ZOOKEEPER-4799); 3.8.0 delivers them. Both are accepted, but whichever it is, the
    watcher's session keeps working and readable nodes still notify."""
    owner = zk_factory()
    owner.add_auth("digest", "hank:pw")
    p = f"{root}/secret"
    owner.create(p, b"x", acl=[make_digest_acl("hank", "pw", all=True)])
    owner.create(f"{root}/open", b"o")
    watcher = zk_factory()
    got = threading.Event()
    try:
        watcher.exists(p, watch=lambda ev: got.set())  # see test_exists_on_unreadable_node
    except NoAuthError:
        pass
    owner.set(p, b"y")
    got.wait(1.0)  # delivered (3.8.0) or dropped (3.8.4+): both accepted
    open_ev = threading.Event()
    watcher.get(f"{root}/open", watch=lambda ev: ev.type == EventType.CHANGED and open_ev.set())
    owner.set(f"{root}/open", b"o2")
    assert open_ev.wait(10)
