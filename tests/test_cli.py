"""Other real clients: the Java zkCli.sh and the C client's cli_mt, each bounded by a
timeout. A missing tool fails the test."""

import os
import re
import subprocess
import threading
import time

import pytest

from conftest import CLI_MT, ZKCLI, require_file

CLI_TIMEOUT = 60


def zkcli(server, *args, stdin=None):
    require_file(ZKCLI, "zkCli.sh")
    env = dict(os.environ, JVMFLAGS="-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
    try:
        p = subprocess.run([ZKCLI, "-server", server.hosts, *args], input=stdin,
                           capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"zkCli.sh {' '.join(args)} did not finish in {CLI_TIMEOUT}s: {e.stdout!r}")
    out = p.stdout + p.stderr
    return [l for l in out.splitlines() if not l.startswith("SLF4J:")]


def test_zkcli_create_get_ls_stat_delete(server, zk, root):
    p = f"{root}/zkcli"
    out = zkcli(server, "create", p, "data")
    assert f"Created {p}" in out, out
    assert zk.get(p)[0] == b"data"

    out = zkcli(server, "get", p)
    assert "data" in out, out

    zk.create(f"{p}/kid")
    out = zkcli(server, "ls", p)
    assert "[kid]" in out, out

    out = zkcli(server, "stat", p)
    st = zk.exists(p)
    fields = dict(l.split(" = ", 1) for l in out if " = " in l)
    assert fields["cZxid"] == f"0x{st.czxid:x}"
    assert fields["mZxid"] == f"0x{st.mzxid:x}"
    assert fields["pZxid"] == f"0x{st.pzxid:x}"
    assert fields["dataLength"] == "4"
    assert fields["numChildren"] == "1"
    assert fields["dataVersion"] == "0"
    assert fields["cversion"] == "1"
    assert fields["ephemeralOwner"] == "0x0"

    zk.delete(f"{p}/kid")
    zkcli(server, "delete", p)
    assert zk.exists(p) is None

    out = zkcli(server, "get", p)
    assert any("Node does not exist" in l for l in out), out


def test_zkcli_batch_on_stdin(server, zk, root):
    p = f"{root}/batch"
    script = "\n".join([
        f"create {p} b1",
        f"create -s {p}/s- x",
        f"create -e {p}/eph e",
        f"get {p}",
        f"set {p} b2",
        f"get {p}",
        f"ls {p}",
        "quit",
    ]) + "\n"
    out = zkcli(server, stdin=script)
    assert f"Created {p}" in out, out
    assert f"Created {p}/s-0000000000" in out, out
    assert f"Created {p}/eph" in out, out
    assert "b1" in out and "b2" in out, out
    assert any(re.fullmatch(r"\[(eph, s-0000000000|s-0000000000, eph)\]", l) for l in out), out
    assert zk.get(p)[0] == b"b2"
    # the ephemeral went away with zkCli's session
    assert zk.get_children(p) == ["s-0000000000"]


class CliMt:
    """Drives the C client's interactive cli_mt over stdin, reading its output in a thread."""

    def __init__(self, server):
        require_file(CLI_MT, "cli_mt")
        self.proc = subprocess.Popen([CLI_MT, "-h", server.hosts], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines = []
        self.cv = threading.Condition()
        self.pos = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern, timeout=20):
        """Waits for a line (after the previous match) matching the regex; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i in range(self.pos, len(self.lines)):
                    m = rx.search(self.lines[i])
                    if m:
                        self.pos = i + 1
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"cli_mt: no line matching {pattern!r} in {timeout}s; "
                                f"output so far: {self.lines}")
                self.cv.wait(left)

    def close(self):
        try:
            if self.proc.poll() is None:
                self.send("quit")
                self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def cli_mt(server):
    c = CliMt(server)
    yield c
    c.close()


def test_cli_mt_session(cli_mt, server):
    m = cli_mt.expect(r"Got a new session id: (0x[0-9a-f]+)")
    sid = int(m.group(1), 16)
    assert sid != 0
    assert f"sid=0x{sid:x}" in server.four_letter("cons")


def test_cli_mt_create_set_get_ls_delete(cli_mt, zk, root):
    p = f"{root}/c"
    cli_mt.expect(r"Got a new session id")
    cli_mt.send(f"create {p}")
    cli_mt.expect(re.escape(f"[{p}]: rc = 0"))
    assert zk.exists(p) is not None

    cli_mt.send(f"set {p} hello")
    cli_mt.expect(re.escape(f"{p}: rc = 0"))
    assert zk.get(p)[0] == b"hello"

    cli_mt.send(f"get {p}")
    cli_mt.expect(re.escape(f"{p}: rc = 0"))
    cli_mt.expect(r"value_len = 5")
    cli_mt.expect(r"^hello$")

    zk.create(f"{p}/k1")
    zk.create(f"{p}/k2")
    cli_mt.send(f"ls {p}")
    cli_mt.expect(re.escape(f"{p}: rc = 0"))
    kids = {cli_mt.expect(r"^\t(k\d)$").group(1), cli_mt.expect(r"^\t(k\d)$").group(1)}
    assert kids == {"k1", "k2"}

    cli_mt.send(f"create +e {p}/eph")
    cli_mt.expect(re.escape(f"[{p}/eph]: rc = 0"))
    assert zk.exists(f"{p}/eph").ephemeralOwner != 0

    cli_mt.send(f"get {root}/missing")
    cli_mt.expect(re.escape(f"{root}/missing: rc = -101"))

    for k in ("k1", "k2", "eph"):
        cli_mt.send(f"delete {p}/{k}")
        cli_mt.expect(re.escape(f"{p}/{k}: rc = 0"))
    cli_mt.send(f"delete {p}")
    cli_mt.expect(re.escape(f"{p}: rc = 0"))
    assert zk.exists(p) is None


def test_cli_mt_ephemeral_gone_after_quit(server, zk, root):
    c = CliMt(server)
    try:
        c.expect(r"Got a new session id")
        c.send(f"create +e {root}/e")
        c.expect(re.escape(f"[{root}/e]: rc = 0"))
        assert zk.exists(f"{root}/e") is not None
    finally:
        c.close()
    assert c.proc.returncode == 0
    deadline = time.monotonic() + 10
    while zk.exists(f"{root}/e") is not None:
        assert time.monotonic() < deadline, "cli_mt's ephemeral outlived its session"
        time.sleep(0.05)
