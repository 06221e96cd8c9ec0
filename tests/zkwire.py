"""A small synchronous ZooKeeper wire-protocol client for black-box tests.

Struct-based jute framing: a 4-byte big-endian length prefix, then RequestHeader/ReplyHeader and
the op's record. It talks to any ZooKeeper-compatible server and gives tests byte-level control
that kazoo does not: opcodes kazoo lacks (addWatch, checkWatches, removeWatches, setWatches2,
whoAmI, getEphemerals, getAllChildrenNumber, createContainer, createTTL, multiRead), pipelined
frames, and deliberately malformed input.
"""

import socket
import struct
import time
from collections import namedtuple

# Opcodes (ZooDefs.OpCode).
NOTIFICATION = 0
CREATE = 1
DELETE = 2
EXISTS = 3
GET_DATA = 4
SET_DATA = 5
GET_ACL = 6
SET_ACL = 7
GET_CHILDREN = 8
SYNC = 9
PING = 11
GET_CHILDREN2 = 12
CHECK = 13
MULTI = 14
CREATE2 = 15
RECONFIG = 16
CHECK_WATCHES = 17
REMOVE_WATCHES = 18
CREATE_CONTAINER = 19
DELETE_CONTAINER = 20
CREATE_TTL = 21
MULTI_READ = 22
AUTH = 100
SET_WATCHES = 101
SASL = 102
GET_EPHEMERALS = 103
GET_ALL_CHILDREN_NUMBER = 104
SET_WATCHES2 = 105
ADD_WATCH = 106
WHO_AM_I = 107
CLOSE_SESSION = -11

# Special xids.
XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

# Error codes (KeeperException.Code).
OK = 0
RUNTIME_INCONSISTENCY = -2
MARSHALLING_ERROR = -5
UNIMPLEMENTED = -6
BAD_ARGUMENTS = -8
NO_NODE = -101
NO_AUTH = -102
BAD_VERSION = -103
NO_CHILDREN_FOR_EPHEMERALS = -108
NODE_EXISTS = -110
NOT_EMPTY = -111
SESSION_EXPIRED = -112
INVALID_ACL = -114
AUTH_FAILED = -115
NO_WATCHER = -121

# Create modes.
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# Event types and states.
EV_NONE = -1
EV_CREATED = 1
EV_DELETED = 2
EV_DATA_CHANGED = 3
EV_CHILDREN_CHANGED = 4
STATE_SYNC_CONNECTED = 3

# WatcherType for checkWatches/removeWatches, AddWatchMode.
WT_CHILDREN = 1
WT_DATA = 2
WT_ANY = 3
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1

# Permission bits.
PERM_READ = 1
PERM_WRITE = 2
PERM_CREATE = 4
PERM_DELETE = 8
PERM_ADMIN = 16
PERM_ALL = 31

OPEN_ACL_UNSAFE = [(PERM_ALL, "world", "anyone")]

# Default client-side jute.maxbuffer: larger frames from the server are refused.
MAX_FRAME = 0xFFFFF + 1024

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid",
)
Reply = namedtuple("Reply", "xid zxid err body")
Event = namedtuple("Event", "type state path")
Session = namedtuple("Session", "protocol_version timeout session_id passwd read_only")

_STAT = struct.Struct(">qqqqiiiqiiq")


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class WireError(Exception):
    """A reply carried a non-zero error code where success was expected."""

    def __init__(self, reply, what=""):
        super().__init__(f"{what}: err {reply.err} (xid {reply.xid}, zxid {reply.zxid})")
        self.reply = reply
        self.err = reply.err


class Enc:
    """Jute binary encoder."""

    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def ustring(self, s):
        return self.buffer(None if s is None else s.encode("utf-8"))

    def strings(self, items):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for s in items:
            self.ustring(s)
        return self

    def acls(self, acls):
        if acls is None:
            return self.int(-1)
        self.int(len(acls))
        for perms, scheme, ident in acls:
            self.int(perms).ustring(scheme).ustring(ident)
        return self

    def raw(self, data):
        self.b += data
        return self

    def bytes(self):
        return bytes(self.b)


class Dec:
    """Jute binary decoder over one frame."""

    def __init__(self, data, off=0):
        self.d = data
        self.o = off

    def _take(self, n):
        if n < 0 or self.o + n > len(self.d):
            raise ValueError(f"short frame: need {n} at {self.o}, have {len(self.d)}")
        v = self.d[self.o:self.o + n]
        self.o += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        return None if n < 0 else bytes(self._take(n))

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self):
        n = self.int()
        return None if n < 0 else [self.ustring() for _ in range(n)]

    def stat(self):
        return Stat(*_STAT.unpack(self._take(_STAT.size)))

    def acls(self):
        n = self.int()
        return None if n < 0 else [(self.int(), self.ustring(), self.ustring()) for _ in range(n)]

    def remaining(self):
        return len(self.d) - self.o


def frame(payload):
    """Length-prefixed frame."""
    return struct.pack(">i", len(payload)) + payload


def connect_request(timeout_ms=10000, session_id=0, passwd=bytes(16), last_zxid=0,
                    read_only=True, protocol_version=0):
    e = Enc().int(protocol_version).long(last_zxid).int(timeout_ms).long(session_id).buffer(passwd)
    if read_only is not None:
        e.bool(read_only)
    return e.bytes()


def request_header(xid, op):
    return struct.pack(">ii", xid, op)


def path_watch(path, watch=False):
    return Enc().ustring(path).bool(watch).bytes()


def create_body(path, data=b"", acl=None, flags=0, ttl=None):
    e = Enc().ustring(path).buffer(data).acls(OPEN_ACL_UNSAFE if acl is None else acl).int(flags)
    if ttl is not None:
        e.long(ttl)
    return e.bytes()


def multi_body(ops):
    """ops: list of (opcode, body bytes). Appends the terminating MultiHeader."""
    e = Enc()
    for op, body in ops:
        e.int(op).bool(False).int(-1).raw(body)
    e.int(-1).bool(True).int(-1)
    return e.bytes()


def decode_multi(body):
    """Returns a list of (type, err, result) for a MultiResponse body."""
    d = Dec(body)
    out = []
    while True:
        typ, done, err = d.int(), d.bool(), d.int()
        if done:
            break
        if typ == -1:
            out.append((typ, err, d.int()))
        elif typ == CREATE:
            out.append((typ, err, d.ustring()))
        elif typ in (CREATE2, CREATE_CONTAINER, CREATE_TTL):
            out.append((typ, err, (d.ustring(), d.stat())))
        elif typ in (DELETE, CHECK):
            out.append((typ, err, None))
        elif typ == SET_DATA:
            out.append((typ, err, d.stat()))
        elif typ == GET_DATA:
            out.append((typ, err, (d.buffer(), d.stat())))
        elif typ == GET_CHILDREN:
            out.append((typ, err, d.strings()))
        else:
            raise ValueError(f"unknown multi result type {typ}")
    return out


class Conn:
    """One raw client connection. Notifications seen while waiting for replies are kept in
    `events`; `log` records every frame in arrival order as ("event", Event) or ("reply", Reply)."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.events = []
        self.log = []
        self.xid = 0
        self.session = None
        self.last_zxid = 0

    # -- framing ----------------------------------------------------------------------------
    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            # The server closed the connection while the bytes went out (it may refuse an
            # oversized frame by its length prefix alone): the next read reports the close.
            pass

    def send_frame(self, payload):
        self.send_raw(frame(payload))

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no data within timeout (have {len(self.buf)} of {n} bytes)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"no data within timeout (have {len(self.buf)} of {n} bytes)")
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("EOF")
            self.buf += chunk

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (n,) = struct.unpack(">i", self.buf[:4])
        if n < 0 or n > MAX_FRAME:
            raise ValueError(f"bad frame length from server: {n}")
        self._fill(4 + n, deadline)
        data = bytes(self.buf[4:4 + n])
        del self.buf[:4 + n]
        return data

    def expect_closed(self, timeout=5.0):
        """Reads until the server closes the connection; returns the frames received before it.
        Raises TimeoutError if the connection stays open."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                frames.append(self.recv_frame(timeout=max(0.0, deadline - time.monotonic())))
            except Closed:
                return frames
            except TimeoutError:
                raise TimeoutError(f"connection still open after {timeout}s; "
                                   f"got {len(frames)} frames") from None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- session -----------------------------------------------------------------------------
    def handshake(self, timeout_ms=10000, session_id=0, passwd=bytes(16), last_zxid=None,
                  read_only=True, pipelined=()):
        """Sends ConnectRequest (plus any `pipelined` frames right behind it, before the
        response arrives) and reads the ConnectResponse."""
        if last_zxid is None:
            last_zxid = self.last_zxid
        data = frame(connect_request(timeout_ms, session_id, passwd, last_zxid, read_only))
        for p in pipelined:
            data += frame(p)
        self.send_raw(data)
        d = Dec(self.recv_frame())
        pv, to, sid, pw = d.int(), d.int(), d.long(), d.buffer()
        ro = d.bool() if d.remaining() >= 1 else None
        self.session = Session(pv, to, sid, pw, ro)
        return self.session

    def next_xid(self):
        self.xid += 1
        return self.xid

    def _parse(self, data):
        d = Dec(data)
        xid, zxid, err = d.int(), d.long(), d.int()
        body = data[d.o:]
        if xid == XID_NOTIFICATION:
            e = Dec(body)
            ev = Event(e.int(), e.int(), e.ustring())
            self.events.append(ev)
            self.log.append(("event", ev))
            return None
        rep = Reply(xid, zxid, err, body)
        if zxid > 0 and xid != XID_PING:
            self.last_zxid = max(self.last_zxid, zxid)
        self.log.append(("reply", rep))
        return rep

    def send_request(self, op, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid()
        self.send_frame(request_header(xid, op) + body)
        return xid

    def read_reply(self, timeout=None):
        """Next non-notification frame (ping replies included)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            rep = self._parse(self.recv_frame(timeout=max(0.0, deadline - time.monotonic())))
            if rep is not None:
                return rep

    def call(self, op, body=b"", xid=None, timeout=None):
        xid = self.send_request(op, body, xid)
        rep = self.read_reply(timeout)
        assert rep.xid == xid, f"reply xid {rep.xid} != request xid {xid}"
        return rep

    def wait_event(self, timeout=10.0, pred=None):
        """Returns (and removes) the first queued or arriving event matching pred."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if pred is None or pred(ev):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event within {timeout}s; have {self.events}")
            try:
                rep = self._parse(self.recv_frame(timeout=left))
            except TimeoutError:
                continue
            if rep is not None and rep.xid != XID_PING:
                raise AssertionError(f"unexpected reply while waiting for event: {rep}")

    def drain_events(self, quiet=0.5, limit=10.0):
        """Reads until no frame has arrived for `quiet` seconds (at most `limit` seconds in
        all); returns and clears all events seen."""
        end = time.monotonic() + limit
        while True:
            left = min(quiet, end - time.monotonic())
            if left <= 0:
                break
            try:
                self._parse(self.recv_frame(timeout=left))
            except TimeoutError:
                break
        evs, self.events = self.events, []
        return evs

    # -- ops ---------------------------------------------------------------------------------
    @staticmethod
    def _ok(rep, what):
        if rep.err != 0:
            raise WireError(rep, what)
        return rep

    def ping(self):
        return self.call(PING, xid=XID_PING)

    def auth(self, scheme, credential):
        body = Enc().int(0).ustring(scheme).buffer(credential).bytes()
        return self.call(AUTH, body, xid=XID_AUTH)

    def create(self, path, data=b"", acl=None, flags=0, op=CREATE, ttl=None):
        """Returns the Reply; on success decode with create_result()."""
        if op == CREATE_TTL and ttl is None:
            ttl = -1
        return self.call(op, create_body(path, data, acl, flags, ttl))

    @staticmethod
    def create_result(rep):
        d = Dec(rep.body)
        path = d.ustring()
        stat = d.stat() if d.remaining() >= _STAT.size else None
        return path, stat

    def get_data(self, path, watch=False):
        rep = self.call(GET_DATA, path_watch(path, watch))
        if rep.err:
            return rep, None, None
        d = Dec(rep.body)
        return rep, d.buffer(), d.stat()

    def exists(self, path, watch=False):
        rep = self.call(EXISTS, path_watch(path, watch))
        return rep, (Dec(rep.body).stat() if rep.err == 0 else None)

    def get_children(self, path, watch=False):
        rep = self.call(GET_CHILDREN, path_watch(path, watch))
        return rep, (Dec(rep.body).strings() if rep.err == 0 else None)

    def set_data(self, path, data, version=-1):
        rep = self.call(SET_DATA, Enc().ustring(path).buffer(data).int(version).bytes())
        return rep, (Dec(rep.body).stat() if rep.err == 0 else None)

    def delete(self, path, version=-1):
        return self.call(DELETE, Enc().ustring(path).int(version).bytes())

    def add_watch(self, path, mode):
        return self.call(ADD_WATCH, Enc().ustring(path).int(mode).bytes())

    def check_watches(self, path, wtype):
        return self.call(CHECK_WATCHES, Enc().ustring(path).int(wtype).bytes())

    def remove_watches(self, path, wtype):
        return self.call(REMOVE_WATCHES, Enc().ustring(path).int(wtype).bytes())

    @staticmethod
    def set_watches2_body(rel_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
        return (Enc().long(rel_zxid).strings(list(data)).strings(list(exist)).strings(list(child))
                .strings(list(persistent)).strings(list(recursive)).bytes())

    def who_am_i(self):
        rep = self._ok(self.call(WHO_AM_I), "whoAmI")
        d = Dec(rep.body)
        n = d.int()
        return [(d.ustring(), d.ustring()) for _ in range(max(n, 0))]

    def get_all_children_number(self, path):
        rep = self.call(GET_ALL_CHILDREN_NUMBER, Enc().ustring(path).bytes())
        return rep, (Dec(rep.body).int() if rep.err == 0 else None)

    def get_ephemerals(self, prefix):
        rep = self.call(GET_EPHEMERALS, Enc().ustring(prefix).bytes())
        return rep, (Dec(rep.body).strings() if rep.err == 0 else None)

    def multi(self, ops, op=MULTI):
        rep = self.call(op, multi_body(ops))
        return rep, (decode_multi(rep.body) if rep.err == 0 else None)

    def close_session(self):
        return self.call(CLOSE_SESSION)


def connect(host, port, timeout_ms=10000, **kw):
    """Opens a connection and completes the handshake."""
    c = Conn(host, port)
    try:
        c.handshake(timeout_ms=timeout_ms, **kw)
    except BaseException:
        c.close()
        raise
    return c
