"""Four-letter words on the client port: output formats and key names, and the whitelist."""

import re
import threading

import pytest

from zkwire import Conn

WORDS = ["ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp", "dump",
         "isro"]
MNTR_KEYS = [
    "zk_version", "zk_server_state", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
    "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
    "zk_outstanding_requests", "zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
    "zk_approximate_data_size",
]
SRVR_LINE_PATTERNS = [
    r"Zookeeper version: 3\.8[.\d]*.*",
    r"Latency min/avg/max: \d+/[\d.]+/\d+",
    r"Received: \d+",
    r"Sent: \d+",
    r"Connections: \d+",
    r"Outstanding: \d+",
    r"Zxid: 0x[0-9a-f]+",
    r"Mode: standalone",
    r"Node count: \d+",
]


def kv(text, sep):
    out = {}
    for line in text.splitlines():
        if line:
            k, _, v = line.partition(sep)
            out[k] = v
    return out


def srvr_fields(text):
    return kv(text, ": ")


def mntr(server):
    text = server.four_letter("mntr")
    lines = [l for l in text.splitlines() if l]
    for l in lines:
        assert l.count("\t") == 1, f"mntr line not key<TAB>value: {l!r}"
        assert l.startswith("zk_"), l
    return kv(text, "\t")


def sid_hex(client):
    return f"0x{client.client_id[0]:x}"


def local_port(client):
    return client._connection._socket.getsockname()[1]


@pytest.fixture(scope="module")
def restricted_server(server, tmp_path_factory):
    """A second server of the same target whose whitelist holds only ruok (srvr is always
    enabled)."""
    from conftest import start_server

    s = start_server(server.target, tmp_path_factory.mktemp(f"{server.target}-restricted"),
                     whitelist="ruok")
    yield s
    s.shutdown()


def test_ruok(server):
    assert server.four_letter("ruok") == "imok"


def test_isro(server):
    assert server.four_letter("isro") == "rw"


def test_srvr(server, zk, root):
    text = server.four_letter("srvr")
    lines = [l for l in text.splitlines() if l]
    for pat in SRVR_LINE_PATTERNS:
        assert any(re.fullmatch(pat, l) for l in lines), f"no line matching {pat!r} in {text!r}"
    assert lines[0].startswith("Zookeeper version: 3.8")
    f = srvr_fields(text)
    assert f["Mode"] == "standalone"
    assert int(f["Connections"]) >= 1

    count = int(f["Node count"])
    _, st = zk.create(f"{root}/n", include_data=True)
    f2 = srvr_fields(server.four_letter("srvr"))
    assert int(f2["Node count"]) == count + 1
    assert int(f2["Zxid"], 16) >= st.czxid
    assert int(f2["Received"]) > int(f["Received"])


def test_stat(server, zk):
    text = server.four_letter("stat")
    assert text.startswith("Zookeeper version: 3.8")
    assert "\nClients:\n" in text
    clients = text.split("Clients:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert any(l.startswith(f" /127.0.0.1:{local_port(zk)}[") for l in clients), clients
    f = srvr_fields(text)
    assert f["Mode"] == "standalone"
    for key in ("Latency min/avg/max", "Received", "Sent", "Connections", "Outstanding", "Zxid",
                "Node count"):
        assert key in f, key


def test_mntr_keys_and_values(server, zk):
    m = mntr(server)
    for k in MNTR_KEYS:
        assert k in m, f"{k} missing from mntr"
    assert m["zk_version"].startswith("3.8")
    assert m["zk_server_state"] == "standalone"
    for k in ("zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
              "zk_num_alive_connections", "zk_packets_received", "zk_packets_sent",
              "zk_outstanding_requests", "zk_approximate_data_size", "zk_max_latency",
              "zk_min_latency"):
        assert re.fullmatch(r"-?\d+", m[k]), (k, m[k])
    float(m["zk_avg_latency"])
    assert int(m["zk_num_alive_connections"]) >= 1
    assert int(m["zk_znode_count"]) >= 4  # /, /zookeeper, /zookeeper/quota, /zookeeper/config


def test_mntr_counts_follow_changes(server, zk, zk_factory, root):
    before = mntr(server)
    zk.create(f"{root}/a", b"12345")
    zk.create(f"{root}/e", ephemeral=True)
    w = zk_factory()
    w.get(f"{root}/a", watch=lambda ev: None)
    w.exists(f"{root}/missing", watch=lambda ev: None)
    after = mntr(server)
    assert int(after["zk_znode_count"]) == int(before["zk_znode_count"]) + 2
    assert int(after["zk_ephemerals_count"]) == int(before["zk_ephemerals_count"]) + 1
    assert int(after["zk_watch_count"]) == int(before["zk_watch_count"]) + 2
    assert int(after["zk_approximate_data_size"]) > int(before["zk_approximate_data_size"])
    assert int(after["zk_num_alive_connections"]) >= int(before["zk_num_alive_connections"]) + 1


def test_conf(server):
    c = kv(server.four_letter("conf"), "=")
    assert c["clientPort"] == str(server.port)
    assert c["dataDir"].startswith(str(server.data_dir))
    assert c["tickTime"] == "2000"
    assert c["minSessionTimeout"] == "4000"  # 2 * tickTime
    assert c["maxSessionTimeout"] == "40000"  # 20 * tickTime
    assert re.fullmatch(r"\d+", c["maxClientCnxns"])
    assert "dataLogDir" in c and "serverId" in c


def test_cons(server, zk):
    text = server.four_letter("cons")
    assert text.endswith("\n\n")
    lines = [l for l in text.splitlines() if l]
    mine = [l for l in lines if l.startswith(f" /127.0.0.1:{local_port(zk)}[")]
    assert len(mine) == 1, lines
    m = re.fullmatch(r" /127\.0\.0\.1:\d+\[\d+\]\((.*)\)", mine[0])
    assert m, mine[0]
    fields = kv(m.group(1).replace(",", "\n"), "=")
    assert fields["sid"] == sid_hex(zk)
    for k in ("queued", "recved", "sent", "lop", "est", "to", "lcxid", "lzxid", "lresp", "llat",
              "minlat", "avglat", "maxlat"):
        assert k in fields, k
    assert fields["to"] == "10000"


def test_envi(server):
    text = server.four_letter("envi")
    lines = text.splitlines()
    assert lines[0] == "Environment:"
    e = kv("\n".join(lines[1:]), "=")
    assert e["zookeeper.version"].startswith("3.8")
    for k in ("host.name", "os.name"):
        assert k in e, k


def test_watch_words(server, zk_factory, root):
    """wchs/wchc/wchp list the data-watch table only (data, exists and persistent watches);
    child watches are not shown."""
    base = re.fullmatch(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n?",
                        server.four_letter("wchs"))
    assert base, server.four_letter("wchs")
    conns0, paths0, total0 = map(int, base.groups())

    c = zk_factory()
    c.create(f"{root}/a")
    c.create(f"{root}/b")
    c.get(f"{root}/a", watch=lambda ev: None)
    c.exists(f"{root}/b", watch=lambda ev: None)
    c.get_children(f"{root}/a", watch=lambda ev: None)  # child table: not listed
    sid = sid_hex(c)

    m = re.fullmatch(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n?",
                     server.four_letter("wchs"))
    assert m
    assert tuple(map(int, m.groups())) == (conns0 + 1, paths0 + 2, total0 + 2)

    wchc = server.four_letter("wchc")
    sections = {}
    current = None
    for line in wchc.splitlines():
        if line.startswith("0x"):
            current = line
            sections[current] = []
        elif line.startswith("\t"):
            sections[current].append(line[1:])
    assert sorted(sections[sid]) == [f"{root}/a", f"{root}/b"]

    wchp = server.four_letter("wchp")
    by_path = {}
    current = None
    for line in wchp.splitlines():
        if line.startswith("/"):
            current = line
            by_path[current] = []
        elif line.startswith("\t"):
            by_path[current].append(line[1:])
    assert by_path[f"{root}/a"] == [sid]
    assert by_path[f"{root}/b"] == [sid]


def test_dump(server, zk, root):
    zk.create(f"{root}/eph", ephemeral=True)
    text = server.four_letter("dump")
    assert text.startswith("SessionTracker dump:")
    assert "ephemeral nodes dump:" in text
    eph = text.split("ephemeral nodes dump:", 1)[1]
    sid = sid_hex(zk)
    assert f"{sid}:" in eph
    after = eph.split(f"{sid}:", 1)[1].splitlines()
    assert f"\t{root}/eph" in after


def test_unknown_word_closes_without_output(server):
    assert server.four_letter("abcd") == ""  # read as a huge frame length: closed


def test_four_letter_word_only_before_handshake(server, wire):
    """After the handshake the same four bytes are a frame length, not a command."""
    c = wire()
    c.send_raw(b"ruok")
    c.expect_closed(timeout=10)  # 0x72756f6b > jute.maxbuffer: connection closed, no "imok"
    assert server.four_letter("ruok") == "imok"


def test_concurrent_four_letter_words(server):
    results, errors = [], []

    def ask(word):
        try:
            results.append((word, server.four_letter(word)))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(w,)) for w in WORDS * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == len(WORDS) * 2
    assert all(text for _, text in results)


@pytest.mark.parametrize("word", ["stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp",
                                  "dump", "isro"])
def test_not_whitelisted(restricted_server, word):
    assert restricted_server.four_letter(word) == \
        f"{word} is not executed because it is not in the whitelist.\n"


def test_restricted_whitelist_allows_listed_and_srvr(restricted_server):
    assert restricted_server.four_letter("ruok") == "imok"
    assert "Mode: standalone" in restricted_server.four_letter("srvr")


def test_idle_server_counts_the_asking_connection(server_factory):
    """On a server with no clients, the connection asking a word is itself a connection: one
    packet received, listed by cons/stat in the brief form, counted by srvr."""
    fresh = server_factory()
    srvr = fresh.four_letter("srvr")
    assert "Connections: 1\n" in srvr, srvr
    received = int(re.search(r"^Received: (\d+)$", srvr, re.M).group(1))
    assert received >= 1
    lines = [l for l in fresh.four_letter("cons").splitlines() if l.strip()]
    assert len(lines) == 1 and re.fullmatch(r" /127\.0\.0\.1:\d+\[0\]\(queued=0,recved=1,sent=0\)", lines[0]), lines
    stat = fresh.four_letter("stat")
    clients = stat.split("Clients:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(clients) == 1 and "recved=1,sent=0" in clients[0], stat
    # Each word counts as a packet in, and its answer as a packet out, on later words.
    later = fresh.four_letter("srvr")
    assert int(re.search(r"^Received: (\d+)$", later, re.M).group(1)) > received
    assert int(re.search(r"^Sent: (\d+)$", later, re.M).group(1)) >= 1
