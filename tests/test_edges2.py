"""Edge cases, second round, each checked against ZooKeeper 3.8 first: zkCli.sh command output
(one-shot and batched), the C client's cli_mt, kazoo behaviours across connection loss and
server restarts (retries, session survival and expiry, watch re-registration), kazoo recipes
not covered elsewhere (Lease, Party, Counter values, Lock contenders, read/write locks),
raw-wire corners (xid reuse, odd xids, big replies, close/ping after close, zxids of failed
writes) and 4lw counters.

Where herd answers differently the test carries a strict xfail for the herd target only
(`herd_differs` from test_edges)."""

import datetime
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import zkwire
from conftest import CLI_MT, ZKCLI, require_file, wait_until
from test_edges import digest_id, herd_differs
from zkwire import Enc, path_watch

CLI_TIMEOUT = 60
STAT_KEYS = ("cZxid", "mZxid", "pZxid", "cversion", "dataVersion", "aclVersion",
             "ephemeralOwner", "dataLength", "numChildren")


# -- helpers -----------------------------------------------------------------------------------
def zkcli(server, *args, stdin=None):
    """Runs zkCli.sh (one-shot when args are given, batch on stdin otherwise); returns its
    output lines without the connection preamble and SLF4J noise."""
    require_file(ZKCLI, "zkCli.sh")
    env = dict(os.environ, JVMFLAGS="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
    try:
        p = subprocess.run([ZKCLI, "-server", server.hosts, *args], input=stdin,
                           capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"zkCli.sh {' '.join(args)} did not finish in {CLI_TIMEOUT}s: {e.stdout!r}")
    out = (p.stdout + p.stderr).splitlines()
    noise = ("SLF4J:", "Connecting to ", "WATCHER::", "WatchedEvent state:SyncConnected")
    return [l for l in out if l.strip() and not l.startswith(noise)]


def stat_fields(lines):
    return {k: v for k, v in (l.split(" = ", 1) for l in lines if " = " in l) if k in STAT_KEYS}


def kazoo_stat_fields(st):
    return {
        "cZxid": f"0x{st.czxid:x}", "mZxid": f"0x{st.mzxid:x}", "pZxid": f"0x{st.pzxid:x}",
        "cversion": str(st.cversion), "dataVersion": str(st.version),
        "aclVersion": str(st.aversion), "ephemeralOwner": f"0x{st.ephemeralOwner:x}",
        "dataLength": str(st.dataLength), "numChildren": str(st.numChildren),
    }


def mntr(server):
    return dict(l.split("\t", 1) for l in server.four_letter("mntr").splitlines() if "\t" in l)


def wait_connected(client, timeout=60):
    wait_until(lambda: client.connected, timeout=timeout, msg="kazoo reconnect")


class Proxy:
    """A TCP forwarder in front of the server. `cut()` drops every proxied connection and
    refuses new ones (accept-and-close) until `resume()`; the server stays up meanwhile."""

    def __init__(self, server):
        self.target = (server.host, server.port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.hosts = f"127.0.0.1:{self.lsock.getsockname()[1]}"
        self.blocked = False
        self.closed = False
        self.pairs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.blocked:
                c.close()
                continue
            try:
                s = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.pairs.append((c, s))
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.blocked = True
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                x.close()

    def resume(self):
        self.blocked = False

    def close(self):
        self.closed = True
        self.cut()
        self.lsock.close()


@pytest.fixture
def proxy(server):
    p = Proxy(server)
    yield p
    p.close()


# -- zxids of failed writes --------------------------------------------------------------------
def test_failed_writes_consume_zxids(request, server, wire, root):
    """Every write request gets a zxid in ZooKeeper's prep stage, failed ones too: the error
    reply carries a zxid beyond the previous write's, and the next write's is beyond that."""
    c = wire()
    base = c.create(f"{root}/a").zxid
    failures = [
        c.delete(f"{root}/nope"),
        c.create(f"{root}/a"),
        c.set_data(f"{root}/a", b"x", 7)[0],
        c.create(f"{root}/no/parent"),
    ]
    assert [r.err for r in failures] == [zkwire.NO_NODE, zkwire.NODE_EXISTS,
                                         zkwire.BAD_VERSION, zkwire.NO_NODE]
    zx = [r.zxid for r in failures]
    assert zx[0] > base and all(b > a for a, b in zip(zx, zx[1:])), (base, zx)
    assert c.create(f"{root}/b").zxid > zx[-1]


def test_reads_do_not_consume_zxids(wire, root):
    c = wire()
    z = c.create(f"{root}/a").zxid
    assert c.exists(root)[0].zxid == z
    assert c.get_data(root)[0].zxid == z
    assert c.get_children(root)[0].zxid == z
    assert c.call(zkwire.SYNC, Enc().ustring(root).bytes()).zxid == z
    assert c.create(f"{root}/b").zxid == z + 1


# -- zkCli.sh ----------------------------------------------------------------------------------
def test_zkcli_create_modes(server, zk, root):
    out = zkcli(server, "create", "-s", f"{root}/s-", "x")
    assert out == [f"Created {root}/s-0000000000"], out
    out = zkcli(server, "create", "-c", f"{root}/cont")
    assert out == [f"Created {root}/cont"], out
    out = zkcli(server, "create", "-t", "600000", f"{root}/ttl", "t")
    assert out == [f"Created {root}/ttl"], out
    out = zkcli(server, "create", "-s", "-t", "600000", f"{root}/ts-")
    assert out == [f"Created {root}/ts-0000000003"], out
    assert sorted(zk.get_children(root)) == ["cont", "s-0000000000", "ts-0000000003", "ttl"]
    assert zk.get(f"{root}/ttl")[0] == b"t"
    for name in ("cont", "ttl", "s-0000000000"):
        assert zk.exists(f"{root}/{name}").ephemeralOwner == 0


def test_zkcli_create_errors(server, zk, root):
    assert zkcli(server, "create", f"{root}/a/b") == [f"Node does not exist: {root}/a/b"]
    assert zkcli(server, "create", root) == [f"Node already exists: {root}"]
    zk.create(f"{root}/e", ephemeral=True)
    out = zkcli(server, "create", f"{root}/e/x")
    assert out == [f"Ephemerals cannot have children: {root}/e/x"], out


def test_zkcli_get_s_and_stat(server, zk, root):
    p = f"{root}/g"
    zk.create(p, b"payload")
    zk.create(f"{p}/k")
    zk.set(p, b"payload2")
    out = zkcli(server, "get", "-s", p)
    assert out[0] == "payload2", out
    want = kazoo_stat_fields(zk.exists(p))
    assert stat_fields(out) == want
    times = [l for l in out if l.startswith(("ctime = ", "mtime = "))]
    assert len(times) == 2 and all(re.fullmatch(r"[cm]time = \w{3} \w{3} [ \d]\d "
                                                r"\d\d:\d\d:\d\d \w+ \d{4}", t) for t in times), out
    out = zkcli(server, "stat", p)
    assert stat_fields(out) == want
    assert "payload2" not in out
    assert zkcli(server, "stat", f"{root}/none") == [f"Node does not exist: {root}/none"]


def test_zkcli_ls_variants(server, zk, root):
    zk.create(f"{root}/b/y/z", makepath=True)
    zk.create(f"{root}/a")
    assert zkcli(server, "ls", root) == ["[a, b]"]
    out = zkcli(server, "ls", "-s", root)
    assert out[0] == "[a, b]"
    assert stat_fields(out) == kazoo_stat_fields(zk.exists(root))
    assert zkcli(server, "ls", "-R", root) == [root, f"{root}/a", f"{root}/b", f"{root}/b/y",
                                               f"{root}/b/y/z"]
    assert zkcli(server, "ls", f"{root}/none") == [f"Node does not exist: {root}/none"]


def test_zkcli_get_all_children_number_and_ephemerals(server, zk, root):
    zk.create(f"{root}/a/b/c", makepath=True)
    zk.create(f"{root}/d")
    assert zkcli(server, "getAllChildrenNumber", root) == ["4"]
    assert zkcli(server, "getAllChildrenNumber", f"{root}/d") == ["0"]
    out = zkcli(server, "getAllChildrenNumber", f"{root}/x")
    assert out == [f"Node does not exist: {root}/x"], out
    script = "\n".join([f"create -e {root}/e1", f"create -e {root}/a/e2", "getEphemerals",
                        f"getEphemerals {root}/a", "quit"]) + "\n"
    out = zkcli(server, stdin=script)
    lists = [l for l in out if l.startswith("[")]
    assert len(lists) == 2, out
    assert sorted(lists[0].strip("[]").split(", ")) == sorted([f"{root}/e1", f"{root}/a/e2"])
    assert lists[1] == f"[{root}/a/e2]"


def test_zkcli_acl_commands(server, zk, root):
    p = f"{root}/acl"
    zk.create(p, b"secret")
    assert zkcli(server, "getAcl", p) == ["'world,'anyone", ": cdrwa"]
    assert zkcli(server, "setAcl", p, "world:anyone:rwa") == []
    assert zkcli(server, "getAcl", p) == ["'world,'anyone", ": rwa"]
    out = zkcli(server, "getAcl", "-s", p)
    assert out[:2] == ["'world,'anyone", ": rwa"]
    assert stat_fields(out)["aclVersion"] == "1"
    assert zkcli(server, "setAcl", "-v", "0", p, "world:anyone:r") == [
        f"version No is not valid : {p}"]
    assert zkcli(server, "setAcl", "-v", "1", p, "world:anyone:ra") == []
    assert zkcli(server, "getAcl", p) == ["'world,'anyone", ": ra"]
    assert zkcli(server, "getAcl", f"{root}/none") == [f"Node does not exist: {root}/none"]
    assert zkcli(server, "setAcl", p, "ip:10.0.0.0/8:r,world:anyone:a") == []
    assert zkcli(server, "getAcl", p) == ["'ip,'10.0.0.0/8", ": r", "'world,'anyone", ": a"]
    assert zkcli(server, "get", p) == [f"Insufficient permission : {p}"]


def test_zkcli_addauth_then_get_and_whoami(server, zk, root):
    p = f"{root}/secret"
    zk.create(p, b"hidden", acl=[_acl("digest", digest_id("alice", "pw"), 31)])
    script = "\n".join(["whoami", f"get {p}", "addauth digest alice:pw", f"get {p}", "whoami",
                        "addauth digest bob:pw2", "whoami", "quit"]) + "\n"
    out = zkcli(server, stdin=script)
    text = "\n".join(out)
    assert f"Insufficient permission : {p}" in out, text
    assert "hidden" in out, text
    blocks = []
    for l in out:
        if l == "Auth scheme: User":
            blocks.append(set())
        elif blocks and l.startswith(("ip:", "digest:", "super:")):
            blocks[-1].add(l)
    assert blocks == [{"ip: 127.0.0.1"}, {"ip: 127.0.0.1", "digest: alice"},
                      {"ip: 127.0.0.1", "digest: alice", "digest: bob"}], text


def _acl(scheme, ident, perms):
    from kazoo.security import ACL, Id
    return ACL(perms, Id(scheme, ident))


def test_zkcli_set_delete_deleteall(server, zk, root):
    p = f"{root}/d"
    zk.create(p, b"v0")
    assert zkcli(server, "set", "-v", "3", p, "x") == [f"version No is not valid : {p}"]
    assert zkcli(server, "set", "-v", "0", p, "v1") == []
    out = zkcli(server, "set", "-s", p, "v2")
    assert stat_fields(out) == kazoo_stat_fields(zk.exists(p))
    assert zk.get(p)[0] == b"v2" and zk.exists(p).version == 2
    assert zkcli(server, "set", f"{root}/none", "x") == [f"Node does not exist: {root}/none"]
    zk.create(f"{p}/k/l", makepath=True)
    assert zkcli(server, "delete", p) == [f"Node not empty: {p}"]
    assert zkcli(server, "delete", "-v", "7", f"{p}/k/l") == [f"version No is not valid : {p}/k/l"]
    assert zkcli(server, "delete", f"{root}/none") == [f"Node does not exist: {root}/none"]
    assert zkcli(server, "deleteall", p) == []
    assert zk.exists(p) is None
    assert zkcli(server, "deleteall", f"{root}/none") == [f"Node does not exist: {root}/none"]


def test_zkcli_sync_config_version(server, root):
    assert zkcli(server, "sync", root) == ["Sync is OK"]
    assert zkcli(server, "config") == []
    out = zkcli(server, "version")
    assert all(not l.startswith("Exception") for l in out), out


def test_zkcli_quota_commands(server, zk, root):
    q = f"{root}/q"
    zk.create(q)
    zk.create(f"{q}/a", b"abc")
    absolute = f"absolute path is /zookeeper/quota{q}/zookeeper_limits"

    def listquota():
        out = zkcli(server, "listquota", q)
        assert absolute in out, out  # on stderr, so its place among the lines varies
        return [l for l in out if l != absolute]

    assert listquota() == [f"quota for {q} does not exist."]
    assert zkcli(server, "setquota", "-n", "5", q) == []
    assert listquota() == [
        f"Output quota for {q} count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1",
        f"Output stat for {q} count=2,bytes=3"]
    assert zkcli(server, "setquota", "-b", "100", q) == []
    assert listquota()[0] == (
        f"Output quota for {q} count=5,bytes=100=;byteHardLimit=-1;countHardLimit=-1")
    assert zkcli(server, "delquota", "-n", q) == []
    assert listquota()[0] == (
        f"Output quota for {q} count=-1,bytes=100=;byteHardLimit=-1;countHardLimit=-1")
    assert zkcli(server, "delquota", q) == []
    assert listquota() == [f"quota for {q} does not exist."]
    assert zkcli(server, "delquota", q) == [f"Quota does not exist for {q}"]
    assert zkcli(server, "setquota", "-n", "3", f"{root}/none") == [f"{root}/none does not exist."]


# -- cli_mt ------------------------------------------------------------------------------------
CLI_MT_HELP = [
    "    create [+[e|s|c|t=ttl]] <path>",
    "    create2 [+[e|s|c|t=ttl]] <path>",
    "    delete <path>",
    "    set <path> <data>",
    "    get <path>",
    "    ls <path>",
    "    ls2 <path>",
    "    sync <path>",
    "    exists <path>",
    "    wexists <path>",
    "    myid",
    "    verbose",
    "    addauth <id> <scheme>",
    "    config",
]


def run_cli_mt(server, commands, settle=0.4):
    """Feeds commands to cli_mt one by one (pausing so each completes) and returns its output
    lines without the C client's log lines."""
    require_file(CLI_MT, "cli_mt")
    p = subprocess.Popen([CLI_MT, server.hosts], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)
        for cmd in commands:
            p.stdin.write(cmd + "\n")
            p.stdin.flush()
            time.sleep(settle)
        p.stdin.write("quit\n")
        p.stdin.flush()
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    return [l for l in out.splitlines() if not re.match(r"\d{4}-\d\d-\d\d ", l)]


def test_cli_mt_help(server):
    out = run_cli_mt(server, ["help"])
    i = out.index(CLI_MT_HELP[0])
    assert out[i:i + len(CLI_MT_HELP)] == CLI_MT_HELP, out


def test_cli_mt_exists_sync_and_ls2(server, zk, root):
    p = f"{root}/m"
    out = run_cli_mt(server, [f"create {p}", f"exists {p}", f"exists {root}/none",
                              f"sync {p}", f"ls2 {p}", f"create2 {p}/c", f"delete {p}/c",
                              f"delete {p}/c"])
    text = "\n".join(out)
    assert f"[{p}]: rc = 0" in out, text
    assert f"Error -101 for {root}/none" in out, text
    assert out.count(f"\tname = {p}") == 2, text  # create, sync
    assert out.count(f"\tname = {p}/c") == 1, text
    assert f"{p}/c: rc = -101" in out, text
    st = zk.exists(p)
    assert f"\tczxid={st.czxid:x}" in out, text
    assert out.count(f"\tversion=0\taversion=0") >= 2, text
    assert zk.exists(f"{p}/c") is None


def test_cli_mt_od_burst_and_watches(server, zk, root):
    """`od` fires 200 async setData on /od (NoNode each); a wexists watch then fires for a
    change made by another client."""
    p = f"{root}/w"
    zk.create(p)
    require_file(CLI_MT, "cli_mt")
    out = run_cli_mt(server, ["od", f"wexists {p}", f"set {p} abc"], settle=1.0)
    text = "\n".join(out)
    assert out.count("Data completion /od rc = -101") == 200, text
    assert "od command response: rc = -101 Stat:" in out, text
    assert any(l.startswith("Recvd 200 responses for 200 requests sent") for l in out), text
    assert f"Watcher CHANGED_EVENT state = CONNECTED_STATE for path {p}" in out, text
    assert zk.get(p)[0] == b"abc"


def test_cli_mt_myid_and_session(server):
    out = run_cli_mt(server, ["myid"])
    text = "\n".join(out)
    m = re.search(r"Got a new session id: 0x([0-9a-f]+)", text)
    assert m, text
    assert f"session Id = {m.group(1)}" in out, text


# -- kazoo behaviours --------------------------------------------------------------------------
def test_ensure_path_deep_and_existing(zk, zk_factory, root):
    other = zk_factory()
    from kazoo.security import make_digest_acl
    zk.ensure_path(f"{root}/a/b/c")
    st = zk.exists(f"{root}/a/b/c")
    assert st is not None and st.numChildren == 0
    assert zk.exists(f"{root}/a/b").numChildren == 1
    zk.ensure_path(f"{root}/a/b/c")
    assert zk.exists(f"{root}/a/b/c").mzxid == st.mzxid
    acl = [make_digest_acl("u", "p", all=True)]
    zk.add_auth("digest", "u:p")
    zk.ensure_path(f"{root}/x/y", acl=acl)
    assert zk.get_acls(f"{root}/x")[0] == acl and zk.get_acls(f"{root}/x/y")[0] == acl
    from kazoo.exceptions import NoAuthError
    with pytest.raises(NoAuthError):
        other.get(f"{root}/x/y")


def test_get_children_include_data(zk, root):
    zk.create(f"{root}/a")
    zk.create(f"{root}/b", ephemeral=True)
    kids, st = zk.get_children(root, include_data=True)
    assert sorted(kids) == ["a", "b"]
    full = zk.exists(root)
    assert (st.numChildren, st.cversion, st.pzxid, st.czxid) == \
        (2, full.cversion, full.pzxid, full.czxid)


def test_transaction_check_then_create(zk, root):
    from kazoo.exceptions import BadVersionError, RolledBackError, RuntimeInconsistency
    zk.create(f"{root}/lock", b"x")
    t = zk.transaction()
    t.check(f"{root}/lock", 0)
    t.create(f"{root}/new", b"n")
    t.set_data(f"{root}/lock", b"y")
    res = t.commit()
    assert res[0] is True and res[1] == f"{root}/new" and res[2].version == 1
    t = zk.transaction()
    t.create(f"{root}/new2")
    t.check(f"{root}/lock", 0)
    t.create(f"{root}/new3")
    res = t.commit()
    assert [type(r) for r in res] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.exists(f"{root}/new2") is None and zk.exists(f"{root}/new3") is None


def test_data_watch_recipe_on_missing_node(zk, zk_factory, root):
    other = zk_factory()
    seen = []
    cv = threading.Condition()

    def cb(data, stat, event):
        with cv:
            seen.append((data, stat.version if stat else None,
                         event.type if event else None))
            cv.notify_all()

    zk.DataWatch(f"{root}/n", cb)

    def wait_len(n):
        with cv:
            assert cv.wait_for(lambda: len(seen) >= n, timeout=10), seen

    wait_len(1)
    other.create(f"{root}/n", b"a")
    wait_len(2)
    other.set(f"{root}/n", b"b")
    wait_len(3)
    other.delete(f"{root}/n")
    wait_len(4)
    assert seen == [(None, None, None), (b"a", 0, "CREATED"), (b"b", 1, "CHANGED"),
                    (None, None, "DELETED")]


def test_children_watch_recipe_stops_on_false(zk, zk_factory, root):
    other = zk_factory()
    seen = []
    cv = threading.Condition()

    def cb(children):
        with cv:
            seen.append(sorted(children))
            cv.notify_all()
        return len(children) < 2

    zk.ChildrenWatch(root, cb)
    with cv:
        assert cv.wait_for(lambda: seen, timeout=10)
    other.create(f"{root}/a")
    with cv:
        assert cv.wait_for(lambda: len(seen) >= 2, timeout=10), seen
    other.create(f"{root}/b")
    with cv:
        assert cv.wait_for(lambda: len(seen) >= 3, timeout=10), seen
    other.create(f"{root}/c")
    time.sleep(0.5)
    assert seen == [[], ["a"], ["a", "b"]]


def test_lease_recipes(zk_factory, root):
    from kazoo.recipe.lease import MultiNonBlockingLease, NonBlockingLease
    a, b = zk_factory(), zk_factory()
    now = datetime.datetime.utcnow()
    la = NonBlockingLease(a, f"{root}/lease", datetime.timedelta(seconds=60), identifier="a",
                          utcnow=lambda: now)
    assert bool(la)
    lb = NonBlockingLease(b, f"{root}/lease", datetime.timedelta(seconds=60), identifier="b",
                          utcnow=lambda: now + datetime.timedelta(seconds=30))
    assert not bool(lb)
    lb2 = NonBlockingLease(b, f"{root}/lease", datetime.timedelta(seconds=60), identifier="b",
                           utcnow=lambda: now + datetime.timedelta(seconds=61))
    assert bool(lb2)
    m = [MultiNonBlockingLease(c, 2, f"{root}/multi", datetime.timedelta(seconds=60),
                               identifier=f"c{i}", utcnow=lambda: now)
         for i, c in enumerate((a, b, a))]
    assert [bool(x) for x in m] == [True, True, False]
    assert sorted(a.get_children(f"{root}/multi")) == ["0", "1"]


def test_party_and_shallow_party(zk_factory, root):
    from kazoo.recipe.party import Party, ShallowParty
    a, b = zk_factory(), zk_factory()
    pa, pb = Party(a, f"{root}/p", "alice"), Party(b, f"{root}/p", "bob")
    pa.join()
    pb.join()
    assert len(pa) == 2 and sorted(pa) == ["alice", "bob"]
    pb.leave()
    assert list(pa) == ["alice"]
    sa, sb = ShallowParty(a, f"{root}/s", "x"), ShallowParty(b, f"{root}/s", "y")
    sa.join()
    sb.join()
    assert sorted(sb) == ["x", "y"] and len(sb) == 2
    b.stop()
    wait_until(lambda: list(sa) == ["x"], timeout=10, msg="party member gone with its session")


def test_counter_pre_and_post_values(zk_factory, root):
    a, b = zk_factory(), zk_factory()
    ca, cb = a.Counter(f"{root}/cnt"), b.Counter(f"{root}/cnt")
    ca += 5
    assert (ca.pre_value, ca.post_value) == (0, 5)
    cb -= 2
    assert (cb.pre_value, cb.post_value) == (5, 3)
    assert ca.value == 3
    f = a.Counter(f"{root}/f", default=0.5)
    f += 1.25
    assert (f.pre_value, f.post_value) == (0.5, 1.75)
    assert a.get(f"{root}/f")[0] == b"1.75"

    def bump(c):
        cnt = c.Counter(f"{root}/cnt")
        for _ in range(20):
            cnt += 1

    ts = [threading.Thread(target=bump, args=(c,)) for c in (a, b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert ca.value == 43


def test_lock_contenders(zk_factory, root):
    a, b, c = zk_factory(), zk_factory(), zk_factory()
    la = a.Lock(f"{root}/lk", "first")
    lb = b.Lock(f"{root}/lk", "second")
    assert la.acquire(timeout=10)
    got = []
    t = threading.Thread(target=lambda: got.append(lb.acquire(timeout=30)), daemon=True)
    t.start()
    wait_until(lambda: len(c.get_children(f"{root}/lk")) == 2, timeout=10, msg="two contenders")
    assert c.Lock(f"{root}/lk").contenders() == ["first", "second"]
    la.release()
    t.join(30)
    assert got == [True]
    assert c.Lock(f"{root}/lk").contenders() == ["second"]
    lb.release()
    assert c.Lock(f"{root}/lk").contenders() == []


def test_read_write_locks(zk_factory, root):
    a, b, c = zk_factory(), zk_factory(), zk_factory()
    r1, r2 = a.ReadLock(f"{root}/rw", "r1"), b.ReadLock(f"{root}/rw", "r2")
    w = c.WriteLock(f"{root}/rw", "w")
    assert r1.acquire(timeout=10) and r2.acquire(timeout=10)
    from kazoo.exceptions import LockTimeout
    with pytest.raises(LockTimeout):
        w.acquire(timeout=1)
    r1.release()
    r2.release()
    assert w.acquire(timeout=10)
    with pytest.raises(LockTimeout):
        a.ReadLock(f"{root}/rw", "r3").acquire(timeout=1)
    w.release()
    kids = c.get_children(f"{root}/rw")
    assert kids == [] or all(k.startswith(("__lock__", "__rlock__")) for k in kids), kids


def test_kazoo_session_and_data_watch_survive_a_cut(server, proxy, zk_factory, root):
    """A connection cut shorter than the session timeout: kazoo reconnects to the same session
    (its ephemeral stays), and its DataWatch re-reads and reports a change made meanwhile."""
    from kazoo.protocol.states import KazooState
    zk = zk_factory(hosts=proxy.hosts)
    other = zk_factory()
    zk.create(f"{root}/eph", ephemeral=True)
    zk.create(f"{root}/d", b"0")
    seen = []
    cv = threading.Condition()

    def cb(data, stat):
        with cv:
            seen.append(data)
            cv.notify_all()

    zk.DataWatch(f"{root}/d", cb)
    with cv:
        assert cv.wait_for(lambda: seen == [b"0"], timeout=10), seen
    sid = zk.client_id[0]
    states = []
    zk.add_listener(lambda s: states.append(s))
    proxy.cut()
    wait_until(lambda: KazooState.SUSPENDED in states, timeout=10, msg="kazoo suspended")
    other.set(f"{root}/d", b"1")
    assert other.exists(f"{root}/eph").ephemeralOwner == sid
    proxy.resume()
    wait_connected(zk, timeout=20)
    assert zk.client_id[0] == sid
    with cv:
        assert cv.wait_for(lambda: seen and seen[-1] == b"1", timeout=10), seen
    assert zk.exists(f"{root}/eph").ephemeralOwner == sid


def test_c_client_resends_watches_after_a_cut(server, proxy, zk, root):
    """The C client re-registers its watches (setWatches with its last zxid) when it
    reconnects to its session; a change made while it was cut off fires at once."""
    require_file(CLI_MT, "cli_mt")
    p = f"{root}/w"
    zk.create(p)
    proc = subprocess.Popen([CLI_MT, proxy.hosts], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        wait_until(lambda: any("Got a new session id" in l for l in lines), timeout=15,
                   msg="cli_mt session")
        proc.stdin.write(f"wexists {p}\n")
        proc.stdin.flush()
        time.sleep(1.0)
        proxy.cut()
        zk.set(p, b"changed")
        time.sleep(1.0)
        proxy.resume()
        wait_until(lambda: any(f"Watcher CHANGED_EVENT state = CONNECTED_STATE for path {p}" in l
                               for l in lines), timeout=20, msg="cli_mt watch event")
        sids = {l.split(": ")[1].strip() for l in lines if "Got a new session id" in l}
        assert len(sids) == 1, lines
    finally:
        proc.kill()
        proc.wait(timeout=10)


# -- raw wire ----------------------------------------------------------------------------------
def test_xid_reuse_sequential_and_pipelined(wire, zk, root):
    c = wire()
    a = c.call(zkwire.EXISTS, path_watch(root), xid=5)
    b = c.call(zkwire.EXISTS, path_watch(root), xid=5)
    assert (a.err, b.err) == (0, 0)
    c.send_request(zkwire.CREATE, zkwire.create_body(f"{root}/a"), xid=7)
    c.send_request(zkwire.CREATE, zkwire.create_body(f"{root}/a"), xid=7)
    r1, r2 = c.read_reply(), c.read_reply()
    assert (r1.xid, r1.err, r2.xid, r2.err) == (7, 0, 7, zkwire.NODE_EXISTS)
    assert zk.get_children(root) == ["a"]


@pytest.mark.parametrize("xid", [-3, -5, -6, -7, -9, -100, -0x7FFFFFFF])
def test_other_negative_xids_are_ordinary(wire, root, xid):
    c = wire()
    rep = c.call(zkwire.GET_DATA, path_watch(root), xid=xid)
    assert (rep.xid, rep.err) == (xid, 0)
    rep = c.call(zkwire.CREATE, zkwire.create_body(f"{root}/n"), xid=xid)
    assert (rep.xid, rep.err) == (xid, 0)
    assert c.create_result(rep)[0] == f"{root}/n"


def test_special_xids_on_ordinary_ops(wire, zk, root):
    """A create sent with the ping xid is still a create; a getData with xid -1 is answered
    with a reply header carrying -1 (it is not a notification)."""
    c = wire()
    rep = c.call(zkwire.CREATE, zkwire.create_body(f"{root}/p", b"d"), xid=zkwire.XID_PING)
    assert (rep.xid, rep.err) == (-2, 0) and rep.zxid > 0
    assert zk.get(f"{root}/p")[0] == b"d"
    c.send_frame(zkwire.request_header(-1, zkwire.GET_DATA) + path_watch(f"{root}/p"))
    data = c.recv_frame()
    d = zkwire.Dec(data)
    assert (d.int(), d.long() > 0, d.int()) == (-1, True, 0)
    assert d.buffer() == b"d" and d.stat().dataLength == 1 and d.remaining() == 0


def test_get_data_of_a_one_mebibyte_node(wire, root):
    """A node holding just under jute.maxbuffer comes back in one exact frame."""
    size = 1024 * 1024 - 512
    payload = bytes(range(256)) * (size // 256)
    c = wire()
    assert c.create(f"{root}/big", payload).err == 0
    c.send_request(zkwire.GET_DATA, path_watch(f"{root}/big"))
    raw = c.recv_frame(timeout=20)
    assert len(raw) == 16 + 4 + size + 68
    d = zkwire.Dec(raw, 16)
    assert d.buffer() == payload and d.stat().dataLength == size
    assert c.ping().err == 0


def test_get_children_of_5000_children(wire, root):
    c = wire()
    n = 5000
    batch = b"".join(zkwire.frame(zkwire.request_header(i + 1, zkwire.CREATE) +
                                  zkwire.create_body(f"{root}/child-{i:05d}"))
                     for i in range(n))
    c.send_raw(batch)
    errs = [c.read_reply(timeout=60).err for _ in range(n)]
    assert errs == [0] * n
    c.xid = n
    rep, kids = c.get_children(root)
    assert rep.err == 0 and sorted(kids) == [f"child-{i:05d}" for i in range(n)]
    rep = c.call(zkwire.GET_CHILDREN2, path_watch(root))
    d = zkwire.Dec(rep.body)
    assert len(d.strings()) == n and d.stat().numChildren == n
    assert c.get_all_children_number(root)[1] == n


def test_exists_watch_then_delete_of_missing_node(wire, zk, root):
    c = wire()
    p = f"{root}/nx"
    assert c.exists(p, watch=True)[0].err == zkwire.NO_NODE
    assert c.delete(p).err == zkwire.NO_NODE
    assert c.set_data(p, b"x")[0].err == zkwire.NO_NODE
    assert c.drain_events(quiet=0.5) == []
    zk.create(p)
    ev = c.wait_event()
    assert (ev.type, ev.path) == (zkwire.EV_CREATED, p)
    zk.delete(p)
    assert c.drain_events(quiet=0.5) == []


def test_sync_then_read_ordering(wire, zk, root):
    c = wire()
    other = wire()
    assert other.create(f"{root}/s", b"v1").err == 0
    frames = [zkwire.request_header(1, zkwire.SYNC) + Enc().ustring(f"{root}/s").bytes(),
              zkwire.request_header(2, zkwire.GET_DATA) + path_watch(f"{root}/s"),
              zkwire.request_header(3, zkwire.SYNC) + Enc().ustring("/").bytes(),
              zkwire.request_header(4, zkwire.EXISTS) + path_watch(f"{root}/s")]
    c.send_raw(b"".join(zkwire.frame(f) for f in frames))
    reps = [c.read_reply() for _ in frames]
    assert [r.xid for r in reps] == [1, 2, 3, 4]
    assert zkwire.Dec(reps[0].body).ustring() == f"{root}/s"
    assert zkwire.Dec(reps[1].body).buffer() == b"v1"
    assert zkwire.Dec(reps[2].body).ustring() == "/"
    assert all(r.err == 0 for r in reps)
    assert reps[0].zxid == reps[1].zxid


def test_close_session_twice_and_ping_after_close(server, wire, root):
    c = wire()
    assert c.create(f"{root}/e", flags=zkwire.EPHEMERAL).err == 0
    rep = c.close_session()
    assert rep.err == 0
    c.send_request(zkwire.CLOSE_SESSION)
    assert c.expect_closed(timeout=10) == []
    d = wire()
    assert d.exists(f"{root}/e")[0].err == zkwire.NO_NODE
    d.close_session()
    try:
        d.send_frame(zkwire.request_header(-2, zkwire.PING))
    except OSError:
        pass
    assert d.expect_closed(timeout=10) == []


def test_close_session_pipelined_twice(wire):
    c = wire()
    c.send_raw(zkwire.frame(zkwire.request_header(1, zkwire.CLOSE_SESSION)) +
               zkwire.frame(zkwire.request_header(2, zkwire.CLOSE_SESSION)))
    frames = c.expect_closed(timeout=10)
    assert len(frames) == 1
    d = zkwire.Dec(frames[0])
    assert (d.int(), d.long() > 0, d.int()) == (1, True, 0)


def test_connect_with_last_zxid_equal_to_servers(server, wire, root):
    a = wire()
    z = a.create(f"{root}/z").zxid
    srvr = server.four_letter("srvr")
    assert f"Zxid: 0x{z:x}" in srvr, srvr
    b = wire(handshake=False)
    s = b.handshake(last_zxid=z)
    assert s.session_id != 0 and s.timeout == 10000
    assert b.exists(f"{root}/z")[0].err == 0
    r = wire(handshake=False)
    s = r.handshake(session_id=a.session.session_id, passwd=a.session.passwd, last_zxid=z)
    assert s.session_id == a.session.session_id
    assert r.create(f"{root}/z2").zxid > z


def _srvr_zxid(server):
    return int(re.search(r"Zxid: 0x([0-9a-f]+)", server.four_letter("srvr")).group(1), 16)


def test_session_create_and_close_are_txns(server_factory):
    """Opening and closing a session each take one zxid. On a server of its own: sessions
    that earlier tests left to expire would take zxids in between."""
    server = server_factory()
    a = zkwire.connect(server.host, server.port)
    b = None
    try:
        z = a.create("/x").zxid
        assert _srvr_zxid(server) == z
        b = zkwire.connect(server.host, server.port)
        assert _srvr_zxid(server) == z + 1
        assert b.close_session().zxid == z + 2
        assert a.create("/y").zxid == z + 3
    finally:
        a.close()
        if b is not None:
            b.close()


def test_reply_zxid_tracks_other_sessions_writes(wire, root):
    a, b = wire(), wire()
    z = b.create(f"{root}/x").zxid
    assert a.exists(root)[0].zxid == z
    assert a.ping().zxid == z


# -- four-letter words -------------------------------------------------------------------------
def _cons_line(server, port):
    for line in server.four_letter("cons").splitlines():
        if line.startswith(f" /127.0.0.1:{port}["):
            return line
    raise AssertionError(f"no cons line for port {port}")


def _cons_fields(line):
    inner = line[line.index("](") + 2:line.rindex(")")]
    return dict(kv.split("=", 1) for kv in inner.split(","))


def test_cons_counters_after_many_requests(server, wire, root):
    c = wire()
    port = c.sock.getsockname()[1]
    for _ in range(20):
        c.ping()
    for _ in range(5):
        c.exists(root)
    f = _cons_fields(_cons_line(server, port))
    assert (f["queued"], f["recved"], f["sent"], f["lop"], f["to"]) == \
        ("0", "26", "26", "EXIS", "10000"), f
    assert f["sid"] == f"0x{c.session.session_id:x}"
    assert f["lcxid"] == "0x5"
    for k in ("llat", "minlat", "avglat", "maxlat"):
        assert re.fullmatch(r"\d+", f[k]), f
    assert int(f["minlat"]) <= int(f["maxlat"])
    c.exists(root, watch=True)
    f2 = _cons_fields(_cons_line(server, port))
    assert (f2["recved"], f2["sent"], f2["lcxid"]) == ("27", "27", "0x6"), f2


def test_crst_resets_connection_counters(request, server, wire, root):
    c = wire()
    port = c.sock.getsockname()[1]
    for _ in range(5):
        c.exists(root)
    assert server.four_letter("crst") == "Connection stats reset.\n"
    f = _cons_fields(_cons_line(server, port))
    assert (f["recved"], f["sent"], f["lop"], f["lzxid"], f["lresp"]) == \
        ("0", "0", "NA", "0xffffffffffffffff", "0"), f
    assert "lcxid" not in f, f
    c.exists(root)
    f = _cons_fields(_cons_line(server, port))
    assert (f["recved"], f["sent"], f["lop"], f["lcxid"]) == ("1", "1", "EXIS", "0x6"), f


def _watch_dump(text):
    """Parses wchc/wchp output into {head: set(items)}."""
    out, head = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("\t"):
            out[head].add(line.strip())
        else:
            head = line.strip()
            out[head] = set()
    return out


def test_wchc_wchp_with_several_sessions(server, wire, zk, root):
    conns = [wire() for _ in range(3)]
    for i, c in enumerate(conns):
        for j in range(i + 1):
            assert c.exists(f"{root}/n{j}", watch=True)[0].err == zkwire.NO_NODE
        zk.create(f"{root}/d{i}")
        assert c.get_data(f"{root}/d{i}", watch=True)[0].err == 0
        assert c.get_children(root, watch=True)[0].err == 0
    sids = [f"0x{c.session.session_id:x}" for c in conns]
    wchc = {k: v for k, v in _watch_dump(server.four_letter("wchc")).items() if k in sids}
    assert wchc == {sids[i]: {f"{root}/n{j}" for j in range(i + 1)} | {f"{root}/d{i}"}
                    for i in range(3)}
    wchp = {k: v for k, v in _watch_dump(server.four_letter("wchp")).items()
            if k.startswith(root)}
    assert wchp == {f"{root}/n0": set(sids), f"{root}/n1": set(sids[1:]),
                    f"{root}/n2": {sids[2]}, f"{root}/d0": {sids[0]}, f"{root}/d1": {sids[1]},
                    f"{root}/d2": {sids[2]}}
    zk.create(f"{root}/n0")
    wchp = _watch_dump(server.four_letter("wchp"))
    assert f"{root}/n0" not in wchp and root not in wchp


def test_mntr_numbers_after_ephemerals_and_watches(server, wire, root):
    before = mntr(server)
    a, b = wire(), wire()
    for i in range(3):
        assert a.create(f"{root}/e{i}", flags=zkwire.EPHEMERAL).err == 0
    assert b.create(f"{root}/p").err == 0
    for i in range(3):
        a.exists(f"{root}/e{i}", watch=True)
    b.exists(f"{root}/missing", watch=True)
    b.get_children(root, watch=True)
    a.get_children(root, watch=True)
    m = mntr(server)
    delta = {k: int(m[k]) - int(before[k]) for k in
             ("zk_ephemerals_count", "zk_znode_count", "zk_watch_count",
              "zk_num_alive_connections", "zk_global_sessions")}
    assert delta == {"zk_ephemerals_count": 3, "zk_znode_count": 4, "zk_watch_count": 6,
                     "zk_num_alive_connections": 2, "zk_global_sessions": 2}, delta
    assert int(m["zk_approximate_data_size"]) > int(before["zk_approximate_data_size"])
    a.close_session()
    b.close_session()
    wait_until(lambda: int(mntr(server)["zk_ephemerals_count"]) ==
               int(before["zk_ephemerals_count"]), timeout=10, msg="ephemerals gone")
    m = mntr(server)
    assert int(m["zk_watch_count"]) == int(before["zk_watch_count"]), m["zk_watch_count"]
    assert int(m["zk_znode_count"]) == int(before["zk_znode_count"]) + 1


def test_wchs_counts_data_and_exist_watches_only(server, wire, root):
    before = server.four_letter("wchs")
    m0 = re.search(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)", before)
    assert m0, before
    c = wire()
    c.get_children(root, watch=True)
    c.exists(f"{root}/x", watch=True)
    c.exists(root, watch=True)
    m1 = re.search(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)",
                   server.four_letter("wchs"))
    assert [int(m1.group(i)) - int(m0.group(i)) for i in (1, 2, 3)] == [1, 2, 2]


def test_mntr_commonly_scraped_keys(request, server, zk):
    """Keys that Prometheus exporters and dashboards read from mntr."""
    herd_differs(request, server, "mntr lacks most of ZooKeeper's metric keys")
    m = mntr(server)
    for k in ("zk_watch_bytes", "zk_unrecoverable_error_count", "zk_stale_sessions_expired",
              "zk_connection_rejected", "zk_response_bytes", "zk_avg_readlatency",
              "zk_avg_updatelatency", "zk_cnt_node_created_watch_count",
              "zk_sessionless_connections_expired", "zk_snap_count"):
        assert k in m, k


# -- restarts (last: they kill the module's server) ----------------------------------------------
def test_kazoo_retry_across_kill9_restart(server, zk_factory, root):
    from kazoo.retry import KazooRetry
    zk = zk_factory()
    sid = zk.client_id[0]
    zk.create(f"{root}/before", b"b")
    server.kill9()
    retry = KazooRetry(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0, deadline=60)
    result = {}

    def work():
        try:
            result["path"] = retry(zk.create, f"{root}/after", b"a")
        except Exception as e:  # reported below
            result["err"] = e

    t = threading.Thread(target=work, daemon=True)
    t.start()
    time.sleep(1.0)
    assert "path" not in result
    server.start()
    t.join(60)
    assert result == {"path": f"{root}/after"}
    assert zk.client_id[0] == sid
    assert zk.get(f"{root}/before")[0] == b"b"


def test_session_and_watches_survive_restart(server, zk_factory, root):
    zk = zk_factory()
    sid = zk.client_id[0]
    zk.create(f"{root}/eph", ephemeral=True)
    zk.create(f"{root}/w")
    fired = threading.Event()
    zk.get(f"{root}/w", watch=lambda ev: fired.set())
    server.kill9()
    server.start()
    wait_connected(zk)
    assert zk.client_id[0] == sid
    assert zk.exists(f"{root}/eph").ephemeralOwner == sid
    other = zk_factory()
    other.set(f"{root}/w", b"z")
    assert fired.wait(10)


def test_session_expires_after_restart_without_client(server, wire, zk_factory, root):
    """A session whose client never comes back after a restart expires one timeout later: its
    ephemeral goes and a reconnect is told the session is gone."""
    c = wire(timeout_ms=4000)
    sid, pw = c.session.session_id, c.session.passwd
    assert c.session.timeout == 4000
    assert c.create(f"{root}/eph", flags=zkwire.EPHEMERAL).err == 0
    last = c.last_zxid
    c.close()
    server.kill9()
    server.start()
    t0 = time.monotonic()
    zk = zk_factory()
    wait_until(lambda: zk.exists(f"{root}/eph") is None, timeout=20, msg="ephemeral expiry")
    assert time.monotonic() - t0 >= 1.5
    r = wire(handshake=False)
    s = r.handshake(session_id=sid, passwd=pw, last_zxid=last)
    assert (s.timeout, s.session_id) == (0, 0)
    r.expect_closed(timeout=10)
