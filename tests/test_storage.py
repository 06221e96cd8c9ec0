"""herd's disk: snapshots taken while serving, recovery from snapshot + log, a torn log tail
truncated, a corrupt record in the middle of the log refused with its place named.

herd-only: the file layout is herd's own (ZooKeeper's crash behaviour is covered by
test_crash.py on both targets)."""

import struct
import subprocess

import pytest

from conftest import _close_client, _targets, new_client, start_server, wait_until


@pytest.fixture
def herd(request, tmp_path_factory):
    if "herd" not in _targets(request.config):
        pytest.skip("herd-only test; herd is not among the selected targets")
    started = []

    def make(**extra):
        s = start_server("herd", tmp_path_factory.mktemp("herd-storage"), extra_cfg={k: str(v) for k, v in extra.items()})
        started.append(s)
        return s

    yield make
    for s in started:
        s.shutdown()


LOG_HEADER_BYTES = 12   # magic + format version
FRAME_HEADER_BYTES = 16  # u32 length, u32 CRC, u64 zxid (little-endian)


def records_end(path):
    """Offset just past the last record of a segment (segments are preallocated: zeros follow)."""
    raw = path.read_bytes()
    off = LOG_HEADER_BYTES
    while off + FRAME_HEADER_BYTES <= len(raw):
        length, _crc, zxid = struct.unpack_from("<IIQ", raw, off)
        if zxid == 0:
            break
        off += FRAME_HEADER_BYTES + length
    return off


def files_dir(server):
    """herd keeps its files in version-2 under dataDir, as ZooKeeper does."""
    return server.data_dir / "version-2"


def log_segments(server):
    return sorted(files_dir(server).glob("log.*"))


def snapshots(server):
    return sorted(p for p in files_dir(server).glob("snapshot.*") if not p.name.endswith(".tmp"))


def test_snapshot_while_serving_then_recover(herd):
    s = herd(snapCount=50)
    zk = new_client(s.hosts)
    try:
        zk.create("/snap", b"root")
        for i in range(400):
            zk.create(f"/snap/n{i:04d}", f"v{i}".encode())
        for i in range(0, 400, 7):
            zk.set(f"/snap/n{i:04d}", f"w{i}".encode())
        wait_until(lambda: len(snapshots(s)) > 0, timeout=20, msg="a snapshot file")
        # The server kept serving while the child wrote: more writes after the snapshot.
        for i in range(400, 450):
            zk.create(f"/snap/n{i:04d}", f"v{i}".encode())
        before = {c: zk.get(f"/snap/{c}") for c in zk.get_children("/snap")}
    finally:
        _close_client(zk)
    s.kill9()
    s.start()
    zk = new_client(s.hosts)
    try:
        after = {c: zk.get(f"/snap/{c}") for c in zk.get_children("/snap")}
        assert len(after) == 450
        for name, (data, stat) in before.items():
            data2, stat2 = after[name]
            assert data2 == data
            assert (stat2.czxid, stat2.mzxid, stat2.version) == (stat.czxid, stat.mzxid, stat.version)
        zk.create("/snap/after-restart", b"x")
        assert zk.exists("/snap/after-restart").czxid > max(st.mzxid for _, st in before.values())
    finally:
        _close_client(zk)
    # Old snapshots are purged (ZooKeeper keeps at least 3).
    assert len(snapshots(s)) <= 3


def test_torn_log_tail_is_truncated_and_the_rest_recovered(herd):
    s = herd()
    zk = new_client(s.hosts)
    try:
        for i in range(20):
            zk.create(f"/torn{i}", b"d")
    finally:
        _close_client(zk)
    s.kill9()
    seg = log_segments(s)[-1]
    with open(seg, "r+b") as f:
        f.seek(records_end(seg))
        f.write(b"\x40\x00\x00\x00\x12\x34")  # half a record header: a write cut short
    mark = s.log_size()
    s.start()
    assert "torn tail" in s.log_tail(since=mark)
    zk = new_client(s.hosts)
    try:
        for i in range(20):
            assert zk.exists(f"/torn{i}") is not None
        zk.create("/torn-after", b"")
    finally:
        _close_client(zk)


def test_corrupt_record_in_the_middle_stops_startup_with_its_place(herd):
    s = herd()
    zk = new_client(s.hosts)
    try:
        for i in range(50):
            zk.create(f"/c{i}", b"payload-%d" % i)
    finally:
        _close_client(zk)
    s.kill9()
    seg = log_segments(s)[-1]
    raw = bytearray(seg.read_bytes())
    raw[records_end(seg) // 2] ^= 0xFF  # inside a record in the middle of the log
    seg.write_bytes(bytes(raw))
    cfg = s.cfg_path
    proc = subprocess.run([s.command()[0], "server", str(cfg)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0, "herd must refuse to start on a corrupt log, not skip the record"
    assert seg.name in proc.stderr and "offset" in proc.stderr, proc.stderr
