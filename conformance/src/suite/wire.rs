//! The client side of ZooKeeper's wire protocol, in owned values: what a scenario sends
//! ([`Op`]) and what comes back ([`Incoming`]), encoded and decoded with `proto_core::jute`.
//!
//! Owned (`String`, `Vec`) because scenarios are data built at run time and compared across
//! targets; the core's borrowed records are the codec underneath.

use proto_core::ids::{SessionId, Version, Xid};
use proto_core::jute::{
    self, AddWatchMode, AuthPacket, ConnectRequest, ConnectResponse, Create2Response, CreateRequest, CreateResponse,
    CreateTtlRequest, Decode, DecodeError, Encode, EncodeError, ErrorCode, ErrorResponse, FrameWriter, GetAclResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsRequest, GetEphemeralsResponse,
    IntResponse, MultiResponse, MultiResult, OpCode, PathRecord, PathVersionRequest, PathWatchRequest, Reader,
    ReconfigRequest, ReplyHeader, RequestHeader, SetAclRequest, SetDataRequest, SetWatches2, StatResponse, StrList,
    WatcherEvent, WatcherType, WatchesRequest, WhoAmIResponse, Writer, LENGTH_PREFIX_LEN,
};
pub use proto_core::stat::Stat;

/// One ACL entry: permission bits and an id (`scheme:id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acl {
    /// READ=1, WRITE=2, CREATE=4, DELETE=8, ADMIN=16 (ALL=31).
    pub perms: i32,
    /// `world`, `auth`, `digest`, `ip`, `super`…
    pub scheme: String,
    /// The id within the scheme (`anyone`, `user:base64(sha1)`, `10.0.0.0/8`…).
    pub id: String,
}

impl Acl {
    /// `world:anyone` with every permission: ZooKeeper's OPEN_ACL_UNSAFE.
    pub fn open() -> Vec<Acl> {
        vec![Acl { perms: 31, scheme: "world".into(), id: "anyone".into() }]
    }
}

/// A create mode's flags as on the wire: the core's `CreateMode` flags, as plain
/// numbers so that scenarios can also send flags no mode has.
pub mod mode {
    use proto_core::jute::CreateMode;

    /// Persistent.
    pub const PERSISTENT: i32 = CreateMode::Persistent.flag();
    /// Ephemeral.
    pub const EPHEMERAL: i32 = CreateMode::Ephemeral.flag();
    /// Persistent sequential.
    pub const PERSISTENT_SEQUENTIAL: i32 = CreateMode::PersistentSequential.flag();
    /// Ephemeral sequential.
    pub const EPHEMERAL_SEQUENTIAL: i32 = CreateMode::EphemeralSequential.flag();
    /// Container.
    pub const CONTAINER: i32 = CreateMode::Container.flag();
    /// Persistent with TTL.
    pub const PERSISTENT_WITH_TTL: i32 = CreateMode::PersistentWithTtl.flag();
    /// Persistent sequential with TTL.
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = CreateMode::PersistentSequentialWithTtl.flag();
}

/// Which create opcode a create uses; it decides the reply's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// create (1): the reply is the created path.
    Create,
    /// create2 (15): path and Stat.
    Create2,
    /// createContainer (19): path and Stat; the mode must be CONTAINER.
    Container,
    /// createTTL (21): path and Stat; the mode must be a TTL mode.
    Ttl(i64),
}

/// One client request (or, inside [`Op::Multi`]/[`Op::MultiRead`], one sub-op).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// create / create2 / createContainer / createTTL.
    Create {
        /// Path (the prefix for sequential modes).
        path: String,
        /// Data; `None` sends a null buffer.
        data: Option<Vec<u8>>,
        /// ACL list.
        acl: Vec<Acl>,
        /// Mode flags ([`mode`]).
        flags: i32,
        /// Which opcode.
        kind: CreateKind,
    },
    /// delete.
    Delete {
        /// Path.
        path: String,
        /// Expected version, −1 for any.
        version: i32,
    },
    /// exists.
    Exists {
        /// Path.
        path: String,
        /// Leave a data/exist watch.
        watch: bool,
    },
    /// getData.
    GetData {
        /// Path.
        path: String,
        /// Leave a data watch.
        watch: bool,
    },
    /// setData.
    SetData {
        /// Path.
        path: String,
        /// Data; `None` sends a null buffer.
        data: Option<Vec<u8>>,
        /// Expected version, −1 for any.
        version: i32,
    },
    /// getACL.
    GetAcl {
        /// Path.
        path: String,
    },
    /// setACL.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL list.
        acl: Vec<Acl>,
        /// Expected aversion, −1 for any.
        version: i32,
    },
    /// getChildren.
    GetChildren {
        /// Path.
        path: String,
        /// Leave a child watch.
        watch: bool,
    },
    /// getChildren2.
    GetChildren2 {
        /// Path.
        path: String,
        /// Leave a child watch.
        watch: bool,
    },
    /// sync.
    Sync {
        /// Path.
        path: String,
    },
    /// check (in a multi; sent alone it is an unknown request to ZooKeeper 3.8).
    Check {
        /// Path.
        path: String,
        /// Expected version, −1 for any.
        version: i32,
    },
    /// multi: atomic writes (create*, delete, setData, check).
    Multi(Vec<Op>),
    /// multiRead: independent getData / getChildren.
    MultiRead(Vec<Op>),
    /// auth (xid −4): addAuthInfo.
    AddAuth {
        /// Scheme, e.g. `digest`.
        scheme: String,
        /// Credentials, e.g. `user:password`.
        auth: Vec<u8>,
    },
    /// addWatch: 0 = persistent, 1 = persistent recursive.
    AddWatch {
        /// Path.
        path: String,
        /// 0 persistent, 1 persistent recursive.
        mode: i32,
    },
    /// removeWatches: 1 children, 2 data, 3 any.
    RemoveWatches {
        /// Path.
        path: String,
        /// Watcher type.
        kind: i32,
    },
    /// checkWatches: 1 children, 2 data, 3 any.
    CheckWatches {
        /// Path.
        path: String,
        /// Watcher type.
        kind: i32,
    },
    /// setWatches2 (xid −8): re-registers watches after a reconnect.
    SetWatches {
        /// The last zxid the client saw.
        relative_zxid: i64,
        /// Data watches.
        data: Vec<String>,
        /// Exist watches.
        exist: Vec<String>,
        /// Child watches.
        child: Vec<String>,
        /// Persistent watches.
        persistent: Vec<String>,
        /// Persistent recursive watches.
        recursive: Vec<String>,
    },
    /// getEphemerals: the session's ephemeral paths under a prefix.
    GetEphemerals {
        /// Prefix path.
        prefix: String,
    },
    /// getAllChildrenNumber: descendants under a path.
    GetAllChildrenNumber {
        /// Path.
        path: String,
    },
    /// whoAmI.
    WhoAmI,
    /// reconfig (incremental: joining/leaving; or a new member list).
    Reconfig {
        /// Joining servers, or `None`.
        joining: Option<String>,
        /// Leaving servers, or `None`.
        leaving: Option<String>,
        /// New members, or `None`.
        new_members: Option<String>,
        /// Expected config version, −1 for any.
        config_id: i64,
    },
    /// ping (xid −2, no body).
    Ping,
    /// closeSession (no body).
    CloseSession,
    /// Any opcode with a raw body: unknown opcodes, garbage bodies.
    Raw {
        /// Opcode.
        opcode: i32,
        /// Body bytes after the header.
        body: Vec<u8>,
    },
}

impl Op {
    /// The same request with every path (sub-ops' and watch lists' included) passed through
    /// `f`: how scenarios and fuzz sequences, written from their own root, reach the server.
    pub fn try_map_paths<E>(&self, f: &dyn Fn(&str) -> Result<String, E>) -> Result<Op, E> {
        let list = |v: &Vec<String>| v.iter().map(|p| f(p)).collect::<Result<Vec<_>, E>>();
        let ops = |v: &Vec<Op>| v.iter().map(|o| o.try_map_paths(f)).collect::<Result<Vec<_>, E>>();
        Ok(match self {
            Op::Create { path, data, acl, flags, kind } => {
                Op::Create { path: f(path)?, data: data.clone(), acl: acl.clone(), flags: *flags, kind: *kind }
            }
            Op::Delete { path, version } => Op::Delete { path: f(path)?, version: *version },
            Op::Exists { path, watch } => Op::Exists { path: f(path)?, watch: *watch },
            Op::GetData { path, watch } => Op::GetData { path: f(path)?, watch: *watch },
            Op::SetData { path, data, version } => {
                Op::SetData { path: f(path)?, data: data.clone(), version: *version }
            }
            Op::GetAcl { path } => Op::GetAcl { path: f(path)? },
            Op::SetAcl { path, acl, version } => Op::SetAcl { path: f(path)?, acl: acl.clone(), version: *version },
            Op::GetChildren { path, watch } => Op::GetChildren { path: f(path)?, watch: *watch },
            Op::GetChildren2 { path, watch } => Op::GetChildren2 { path: f(path)?, watch: *watch },
            Op::Sync { path } => Op::Sync { path: f(path)? },
            Op::Check { path, version } => Op::Check { path: f(path)?, version: *version },
            Op::Multi(v) => Op::Multi(ops(v)?),
            Op::MultiRead(v) => Op::MultiRead(ops(v)?),
            Op::AddWatch { path, mode } => Op::AddWatch { path: f(path)?, mode: *mode },
            Op::RemoveWatches { path, kind } => Op::RemoveWatches { path: f(path)?, kind: *kind },
            Op::CheckWatches { path, kind } => Op::CheckWatches { path: f(path)?, kind: *kind },
            Op::SetWatches { relative_zxid, data, exist, child, persistent, recursive } => Op::SetWatches {
                relative_zxid: *relative_zxid,
                data: list(data)?,
                exist: list(exist)?,
                child: list(child)?,
                persistent: list(persistent)?,
                recursive: list(recursive)?,
            },
            Op::GetEphemerals { prefix } => Op::GetEphemerals { prefix: f(prefix)? },
            Op::GetAllChildrenNumber { path } => Op::GetAllChildrenNumber { path: f(path)? },
            Op::AddAuth { .. } | Op::WhoAmI | Op::Reconfig { .. } | Op::Ping | Op::CloseSession | Op::Raw { .. } => {
                self.clone()
            }
        })
    }
}

/// One result of a multi or multiRead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiItem {
    /// A sub-op's success and its result body.
    Ok(Body),
    /// A sub-op's error code (ZooKeeper answers −2 RuntimeInconsistency for the ops after the
    /// failing one, and 0 for the ones before it in a failed multi).
    Err(i32),
}

/// A reply body, by shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body (delete, sync's path is [`Body::Path`], setWatches, auth, removeWatches…).
    Empty,
    /// A path (create, sync).
    Path(String),
    /// create2 / createContainer / createTTL: path and Stat.
    Created {
        /// Path actually created.
        path: String,
        /// Its Stat.
        stat: Stat,
    },
    /// exists, setData, setACL.
    Stat(Stat),
    /// getData.
    Data {
        /// Data; `None` for a null buffer.
        data: Option<Vec<u8>>,
        /// Stat.
        stat: Stat,
    },
    /// getACL.
    Acl {
        /// ACL list.
        acl: Vec<Acl>,
        /// Stat.
        stat: Stat,
    },
    /// getChildren; getEphemerals.
    Children(Vec<String>),
    /// getChildren2.
    Children2 {
        /// Child names.
        children: Vec<String>,
        /// Stat.
        stat: Stat,
    },
    /// multi / multiRead results.
    Multi(Vec<MultiItem>),
    /// getAllChildrenNumber.
    Count(i32),
    /// whoAmI: (scheme, user) pairs.
    WhoAmI(Vec<(String, String)>),
}

/// A reply to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The request's xid.
    pub xid: i32,
    /// The header zxid (the server's last zxid when it answered).
    pub zxid: i64,
    /// 0 for success, else a ZooKeeper error code (and `body` is [`Body::Empty`], unless a
    /// multi's error reply carried a MultiResponse).
    pub err: i32,
    /// The body, shaped by the request's opcode.
    pub body: Body,
}

/// A watch event (xid −1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `EventType`: 1 created, 2 deleted, 3 data changed, 4 children changed, −1 none.
    pub kind: i32,
    /// `KeeperState`: 3 SyncConnected, −112 Expired…
    pub state: i32,
    /// The node's path.
    pub path: String,
}

/// Anything a server sends on an established session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A reply (xid ≥ 0, or −2 ping, −4 auth, −8 setWatches).
    Reply(Reply),
    /// A watch notification.
    Event(Event),
}

/// The handshake request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// Highest zxid the client has seen.
    pub last_zxid_seen: i64,
    /// Requested timeout, ms.
    pub timeout_ms: i32,
    /// 0 for a new session, else the one to resume.
    pub session_id: i64,
    /// Password (16 bytes on resume; empty for a new session).
    pub passwd: Vec<u8>,
    /// The trailing readOnly byte (`None`: an old client that omits it).
    pub read_only: Option<bool>,
}

/// The handshake answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// Negotiated timeout, ms; 0 when the session is invalid (expired or bad password).
    pub timeout_ms: i32,
    /// The session; 0 when invalid.
    pub session_id: i64,
    /// Its password.
    pub passwd: Vec<u8>,
    /// The readOnly byte, when the server sent one.
    pub read_only: Option<bool>,
}

/// The first buffer a frame is encoded into; doubled until the frame fits.
const FIRST_FRAME_BUF: usize = 1024;

/// No frame is longer than this: its length prefix is a jute int.
const MAX_FRAME_BUF: usize = LENGTH_PREFIX_LEN + i32::MAX as usize;

/// The wire opcode of a request (or of a sub-op inside a multi).
pub fn opcode(op: &Op) -> i32 {
    let code = match op {
        Op::Create { kind: CreateKind::Create, .. } => OpCode::Create,
        Op::Create { kind: CreateKind::Create2, .. } => OpCode::Create2,
        Op::Create { kind: CreateKind::Container, .. } => OpCode::CreateContainer,
        Op::Create { kind: CreateKind::Ttl(_), .. } => OpCode::CreateTtl,
        Op::Delete { .. } => OpCode::Delete,
        Op::Exists { .. } => OpCode::Exists,
        Op::GetData { .. } => OpCode::GetData,
        Op::SetData { .. } => OpCode::SetData,
        Op::GetAcl { .. } => OpCode::GetAcl,
        Op::SetAcl { .. } => OpCode::SetAcl,
        Op::GetChildren { .. } => OpCode::GetChildren,
        Op::GetChildren2 { .. } => OpCode::GetChildren2,
        Op::Sync { .. } => OpCode::Sync,
        Op::Check { .. } => OpCode::Check,
        Op::Multi(_) => OpCode::Multi,
        Op::MultiRead(_) => OpCode::MultiRead,
        Op::AddAuth { .. } => OpCode::Auth,
        Op::AddWatch { .. } => OpCode::AddWatch,
        Op::RemoveWatches { .. } => OpCode::RemoveWatches,
        Op::CheckWatches { .. } => OpCode::CheckWatches,
        // Always setWatches2, which carries every table. (The Java client sends setWatches,
        // 101, when it has no persistent watch; a Raw op can send that.)
        Op::SetWatches { .. } => OpCode::SetWatches2,
        Op::GetEphemerals { .. } => OpCode::GetEphemerals,
        Op::GetAllChildrenNumber { .. } => OpCode::GetAllChildrenNumber,
        Op::WhoAmI => OpCode::WhoAmI,
        Op::Reconfig { .. } => OpCode::Reconfig,
        Op::Ping => OpCode::Ping,
        Op::CloseSession => OpCode::CloseSession,
        Op::Raw { opcode, .. } => return *opcode,
    };
    code.code()
}

/// The xid a request must carry whatever the client's counter says: ping −2, auth −4,
/// setWatches −8 (the server answers with the same special xid).
pub fn fixed_xid(op: &Op) -> Option<i32> {
    match op {
        Op::Ping => Some(Xid::PING.0),
        Op::AddAuth { .. } => Some(Xid::AUTH.0),
        Op::SetWatches { .. } => Some(Xid::SET_WATCHES.0),
        _ => None,
    }
}

/// One whole request frame, length prefix included: RequestHeader{xid, opcode}, then the body.
///
/// # Panics
/// Only if a string or buffer is longer than jute's 2 GiB limit, which no scenario builds.
pub fn encode_request(xid: i32, op: &Op) -> Vec<u8> {
    frame(|w| {
        RequestHeader { xid: Xid(xid), op: OpCode::from(opcode(op)) }.encode(w)?;
        write_body(w, op)
    })
}

/// The handshake frame, length prefix included (protocolVersion 0; the readOnly byte only
/// when `read_only` is `Some`).
///
/// # Panics
/// Only if the password is longer than jute's 2 GiB limit.
pub fn encode_connect(c: &Connect) -> Vec<u8> {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: c.last_zxid_seen,
        timeout_ms: c.timeout_ms,
        session_id: SessionId(c.session_id),
        passwd: &c.passwd,
        read_only: c.read_only,
    };
    frame(|w| req.encode(w))
}

/// Decodes the handshake answer (`frame` without its length prefix), with or without the
/// trailing readOnly byte.
pub fn decode_connected(frame: &[u8]) -> Result<Connected, String> {
    let mut r = Reader::new(frame);
    let resp = ConnectResponse::decode(&mut r).map_err(|e| format!("ConnectResponse: {e}"))?;
    expect_end(&r, "ConnectResponse")?;
    Ok(Connected {
        timeout_ms: resp.timeout_ms,
        session_id: resp.session_id.0,
        passwd: resp.passwd.to_vec(),
        read_only: resp.read_only,
    })
}

/// Decodes a frame of an established session (`frame` without its length prefix).
///
/// xid −1 is a watch event. Any other xid is a reply whose body is shaped by the request
/// `request_of(xid)` names; −2, −4 and −8 (ping, auth, setWatches) never carry a body. A
/// reply with a non-zero err has no body ([`Body::Empty`]; bytes after the header are ignored,
/// as ZooKeeper's client ignores them), except a multi or multiRead, where ZooKeeper still
/// writes whatever MultiResponse it had built, so any bytes present are decoded as one.
/// A success body must fill the frame exactly.
pub fn decode_incoming(frame: &[u8], request_of: &dyn Fn(i32) -> Option<Op>) -> Result<Incoming, String> {
    let mut r = Reader::new(frame);
    let header = ReplyHeader::decode(&mut r).map_err(|e| format!("ReplyHeader: {e}"))?;
    let (xid, zxid, err) = (header.xid, header.zxid, header.err.code());
    if xid == Xid::NOTIFICATION {
        let ev = WatcherEvent::decode(&mut r).map_err(|e| format!("WatcherEvent: {e}"))?;
        expect_end(&r, "WatcherEvent")?;
        return Ok(Incoming::Event(Event {
            kind: ev.event_type.code(),
            state: ev.state.code(),
            path: text(ev.path, "WatcherEvent.path")?,
        }));
    }
    let reply = |body| Ok(Incoming::Reply(Reply { xid: xid.0, zxid, err, body }));
    if xid == Xid::PING || xid == Xid::AUTH || xid == Xid::SET_WATCHES {
        if err == 0 {
            expect_end(&r, "a ping, auth or setWatches reply")?;
        }
        return reply(Body::Empty);
    }
    let op = request_of(xid.0).ok_or_else(|| format!("reply to xid {} that no request carried", xid.0))?;
    let name = op_name(&op);
    let body = match op {
        // A raw request's reply has no known shape: its bytes are not read.
        Op::Raw { .. } => return reply(Body::Empty),
        _ if err == 0 => decode_body(&op, &mut r)?,
        // FinalRequestProcessor sends the MultiResponse it had started even when it then
        // fails (multiRead of write ops: err -5 and an empty result list).
        Op::Multi(_) | Op::MultiRead(_) if r.remaining() > 0 => decode_multi(&mut r, name)?,
        _ => return reply(Body::Empty),
    };
    expect_end(&r, name)?;
    reply(body)
}

/// ZooKeeper's name for an error code (`NoNode`, `BadVersion`…), "unknown" for a code it
/// does not define.
pub fn error_name(code: i32) -> &'static str {
    ErrorCode::from(code).name().unwrap_or("unknown")
}

/// Encodes one length-prefixed frame, growing the buffer until it fits.
fn frame(write: impl Fn(&mut Writer<'_>) -> Result<(), EncodeError>) -> Vec<u8> {
    let mut cap = FIRST_FRAME_BUF;
    loop {
        let mut buf = vec![0u8; cap];
        let written = FrameWriter::new(&mut buf).and_then(|mut f| {
            write(f.writer())?;
            f.finish()
        });
        match written {
            Ok(n) => {
                buf.truncate(n);
                return buf;
            }
            Err(EncodeError::BufferFull) if cap < MAX_FRAME_BUF => cap = cap.saturating_mul(2).min(MAX_FRAME_BUF),
            Err(e) => panic!("cannot encode a ZooKeeper frame: {e}"),
        }
    }
}

/// The core's borrowed view of an owned ACL list.
fn borrow_acl(acl: &[Acl]) -> Vec<jute::Acl<'_>> {
    acl.iter().map(|a| jute::Acl { perms: a.perms, scheme: a.scheme.as_bytes(), id: a.id.as_bytes() }).collect()
}

/// The core's borrowed view of an owned string list.
fn borrow_strs(list: &[String]) -> Vec<&[u8]> {
    list.iter().map(|s| s.as_bytes()).collect()
}

/// Writes a request's body (no header): the record its opcode names.
fn write_body(w: &mut Writer<'_>, op: &Op) -> Result<(), EncodeError> {
    match op {
        Op::Create { path, data, acl, flags, kind } => {
            let acl = borrow_acl(acl);
            let (path, data, acl, flags) = (path.as_bytes(), data.as_deref(), acl.as_slice(), *flags);
            match kind {
                CreateKind::Ttl(ttl) => CreateTtlRequest { path, data, acl, flags, ttl: *ttl }.encode(w),
                CreateKind::Create | CreateKind::Create2 | CreateKind::Container => {
                    CreateRequest { path, data, acl, flags }.encode(w)
                }
            }
        }
        Op::Delete { path, version } | Op::Check { path, version } => {
            PathVersionRequest { path: path.as_bytes(), version: Version(*version) }.encode(w)
        }
        Op::Exists { path, watch }
        | Op::GetData { path, watch }
        | Op::GetChildren { path, watch }
        | Op::GetChildren2 { path, watch } => PathWatchRequest { path: path.as_bytes(), watch: *watch }.encode(w),
        Op::SetData { path, data, version } => {
            SetDataRequest { path: path.as_bytes(), data: data.as_deref(), version: Version(*version) }.encode(w)
        }
        Op::GetAcl { path } | Op::Sync { path } | Op::GetAllChildrenNumber { path } => {
            PathRecord { path: path.as_bytes() }.encode(w)
        }
        Op::SetAcl { path, acl, version } => {
            let acl = borrow_acl(acl);
            SetAclRequest { path: path.as_bytes(), acl: acl.as_slice(), version: Version(*version) }.encode(w)
        }
        Op::Multi(ops) | Op::MultiRead(ops) => {
            // Every sub-op goes out as asked, even one a multi does not allow, so scenarios
            // can send what ZooKeeper refuses; each is MultiHeader{type, done=false, err=-1}.
            for sub in ops {
                w.write_i32(opcode(sub))?;
                w.write_bool(false)?;
                w.write_i32(-1)?;
                write_body(w, sub)?;
            }
            jute::encode_multi_end(w)
        }
        Op::AddAuth { scheme, auth } => {
            AuthPacket { auth_type: 0, scheme: scheme.as_bytes(), auth: Some(auth) }.encode(w)
        }
        Op::AddWatch { path, mode } => {
            jute::AddWatchRequest { path: path.as_bytes(), mode: AddWatchMode::from(*mode) }.encode(w)
        }
        Op::RemoveWatches { path, kind } | Op::CheckWatches { path, kind } => {
            WatchesRequest { path: path.as_bytes(), watcher_type: WatcherType::from(*kind) }.encode(w)
        }
        Op::SetWatches { relative_zxid, data, exist, child, persistent, recursive } => {
            let lists = [data, exist, child, persistent, recursive].map(|l| borrow_strs(l));
            let [data, exist, child, persistent, recursive] = &lists;
            SetWatches2 {
                relative_zxid: *relative_zxid,
                data_watches: data.as_slice(),
                exist_watches: exist.as_slice(),
                child_watches: child.as_slice(),
                persistent_watches: persistent.as_slice(),
                persistent_recursive_watches: recursive.as_slice(),
            }
            .encode(w)
        }
        Op::GetEphemerals { prefix } => GetEphemeralsRequest { prefix_path: Some(prefix.as_bytes()) }.encode(w),
        Op::Reconfig { joining, leaving, new_members, config_id } => ReconfigRequest {
            joining_servers: joining.as_deref().map(str::as_bytes),
            leaving_servers: leaving.as_deref().map(str::as_bytes),
            new_members: new_members.as_deref().map(str::as_bytes),
            cur_config_id: *config_id,
        }
        .encode(w),
        Op::WhoAmI | Op::Ping | Op::CloseSession => Ok(()),
        Op::Raw { body, .. } => w.write_bytes(body),
    }
}

/// ZooKeeper's name for a request's opcode, for error messages.
fn op_name(op: &Op) -> &'static str {
    OpCode::from(opcode(op)).name().unwrap_or("unknown opcode")
}

/// Fails unless the reader used every byte of the frame.
fn expect_end(r: &Reader<'_>, what: &str) -> Result<(), String> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(format!("{n} unexpected bytes after {what} at byte {}", r.position())),
    }
}

/// Owned text from wire bytes, which must be UTF-8 (as every ZooKeeper string is).
fn text(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| format!("{what} is not UTF-8: {e}"))
}

/// Owned texts from a decoded string vector.
fn texts(list: StrList<'_>, what: &str) -> Result<Vec<String>, String> {
    list.iter().map(|s| text(s, what)).collect()
}

/// Names the record a decode failure happened in.
fn in_record(what: &'static str) -> impl Fn(DecodeError) -> String {
    move |e| format!("{what}: {e}")
}

/// Decodes a success reply's body, shaped by the request it answers.
fn decode_body(op: &Op, r: &mut Reader<'_>) -> Result<Body, String> {
    Ok(match op {
        Op::Create { kind: CreateKind::Create, .. } => {
            Body::Path(text(CreateResponse::decode(r).map_err(in_record("CreateResponse"))?.path, "path")?)
        }
        Op::Create { .. } => {
            let rec = Create2Response::decode(r).map_err(in_record("Create2Response"))?;
            Body::Created { path: text(rec.path, "path")?, stat: rec.stat }
        }
        Op::Delete { .. }
        | Op::SetWatches { .. }
        | Op::AddAuth { .. }
        | Op::RemoveWatches { .. }
        | Op::CheckWatches { .. }
        | Op::Ping
        | Op::CloseSession
        | Op::Raw { .. } => Body::Empty,
        Op::AddWatch { .. } => {
            // addWatch answers ErrorResponse{0}: a body the client reads, but nothing to show.
            let rec = ErrorResponse::decode(r).map_err(in_record("addWatch ErrorResponse"))?;
            if rec.err != ErrorCode::Ok {
                return Err(format!("addWatch reply body carries err {}", rec.err.code()));
            }
            Body::Empty
        }
        // A standalone check never succeeds on 3.8 (Unimplemented); FinalRequestProcessor
        // would answer it with a SetDataResponse.
        Op::Exists { .. } | Op::SetData { .. } | Op::SetAcl { .. } | Op::Check { .. } => {
            Body::Stat(StatResponse::decode(r).map_err(in_record("StatResponse"))?.stat)
        }
        Op::GetData { .. } | Op::Reconfig { .. } => {
            let rec = GetDataResponse::decode(r).map_err(in_record("GetDataResponse"))?;
            Body::Data { data: rec.data.map(<[u8]>::to_vec), stat: rec.stat }
        }
        Op::GetAcl { .. } => {
            let rec = GetAclResponse::decode(r).map_err(in_record("GetACLResponse"))?;
            let acl = rec
                .acl
                .iter()
                .map(|a| Ok(Acl { perms: a.perms, scheme: text(a.scheme, "ACL scheme")?, id: text(a.id, "ACL id")? }))
                .collect::<Result<_, String>>()?;
            Body::Acl { acl, stat: rec.stat }
        }
        Op::GetChildren { .. } => {
            let rec = GetChildrenResponse::decode(r).map_err(in_record("GetChildrenResponse"))?;
            Body::Children(texts(rec.children, "child name")?)
        }
        Op::GetEphemerals { .. } => {
            let rec = GetEphemeralsResponse::decode(r).map_err(in_record("GetEphemeralsResponse"))?;
            Body::Children(texts(rec.ephemerals, "ephemeral path")?)
        }
        Op::GetChildren2 { .. } => {
            let rec = GetChildren2Response::decode(r).map_err(in_record("GetChildren2Response"))?;
            Body::Children2 { children: texts(rec.children, "child name")?, stat: rec.stat }
        }
        Op::Sync { .. } => Body::Path(text(PathRecord::decode(r).map_err(in_record("SyncResponse"))?.path, "path")?),
        Op::Multi(_) | Op::MultiRead(_) => decode_multi(r, op_name(op))?,
        Op::GetAllChildrenNumber { .. } => {
            Body::Count(IntResponse::decode(r).map_err(in_record("GetAllChildrenNumberResponse"))?.value)
        }
        Op::WhoAmI => {
            let rec = WhoAmIResponse::decode(r).map_err(in_record("WhoAmIResponse"))?;
            let who = rec
                .client_info
                .iter()
                .map(|c| Ok((text(c.auth_scheme, "ClientInfo.authScheme")?, text(c.user, "ClientInfo.user")?)))
                .collect::<Result<_, String>>()?;
            Body::WhoAmI(who)
        }
    })
}

/// Decodes a MultiResponse; results are shaped by their own header type, as clients read
/// them (3.8.0/3.8.1 answer a create2 sub-op with a type-1 result).
fn decode_multi(r: &mut Reader<'_>, name: &str) -> Result<Body, String> {
    let resp = MultiResponse::decode(r).map_err(|e| format!("{name} MultiResponse: {e}"))?;
    let items = resp
        .iter()
        .map(|res| {
            Ok(match res {
                MultiResult::Create { path } => MultiItem::Ok(Body::Path(text(path, "path")?)),
                MultiResult::Create2 { path, stat } => MultiItem::Ok(Body::Created { path: text(path, "path")?, stat }),
                MultiResult::Delete | MultiResult::Check => MultiItem::Ok(Body::Empty),
                MultiResult::SetData { stat } => MultiItem::Ok(Body::Stat(stat)),
                MultiResult::GetData { data, stat } => {
                    MultiItem::Ok(Body::Data { data: data.map(<[u8]>::to_vec), stat })
                }
                MultiResult::GetChildren { children } => MultiItem::Ok(Body::Children(texts(children, "child name")?)),
                MultiResult::Error { err } => MultiItem::Err(err.code()),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Body::Multi(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_core::jute::{
        decode_request, encode_connect_response, encode_multi_request, encode_multi_response, encode_notification,
        encode_reply, ClientInfo, EventType, KeeperState, MultiKind, MultiOp, Request, RequestError,
    };

    const XID: i32 = 7;

    const STAT: Stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: -1,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    };

    fn digest_acl() -> Vec<Acl> {
        vec![Acl { perms: 1, scheme: "digest".into(), id: "u:abc=".into() }, Acl::open()[0].clone()]
    }

    fn create(kind: CreateKind) -> Op {
        Op::Create { path: "/a".into(), data: Some(b"x".to_vec()), acl: digest_acl(), flags: mode::EPHEMERAL, kind }
    }

    /// Checks the length prefix and decodes the rest with the server's request decoder; the
    /// decoded request must re-encode to exactly the frame's body (nothing left over).
    fn server_view(frame: &[u8], check: impl FnOnce(Xid, Request<'_>)) {
        let (prefix, rest) = frame.split_at(LENGTH_PREFIX_LEN);
        assert_eq!(u32::from_be_bytes(prefix.try_into().unwrap()) as usize, rest.len(), "length prefix");
        let (xid, req) = decode_request(rest).unwrap_or_else(|e| panic!("{e}"));
        let mut body = vec![0u8; rest.len()];
        let mut w = Writer::new(&mut body);
        req.encode_body(&mut w).unwrap();
        assert_eq!(w.written(), &rest[8..], "body round trip");
        check(xid, req);
    }

    /// A reply frame without its length prefix; any body, even after an error (encode_reply
    /// refuses that, but ZooKeeper does send it for multi).
    fn reply_frame<B: Encode + ?Sized>(xid: i32, zxid: i64, err: i32, body: &B) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut f = FrameWriter::new(&mut buf).unwrap();
        f.put(&ReplyHeader { xid: Xid(xid), zxid, err: ErrorCode::from(err) }).unwrap().put(body).unwrap();
        let n = f.finish().unwrap();
        buf[LENGTH_PREFIX_LEN..n].to_vec()
    }

    fn decode_for(op: &Op, frame: &[u8]) -> Result<Incoming, String> {
        decode_incoming(frame, &|x| (x == XID).then(|| op.clone()))
    }

    fn ok_body(op: &Op, frame: &[u8]) -> Body {
        match decode_for(op, frame) {
            Ok(Incoming::Reply(Reply { xid: XID, zxid: 0x99, err: 0, body })) => body,
            other => panic!("{other:?}"),
        }
    }

    /// Every strict prefix of a success frame, and the frame plus one byte, must fail.
    fn only_whole_frame_decodes(op: &Op, frame: &[u8]) {
        for n in 0..frame.len() {
            assert!(decode_for(op, &frame[..n]).is_err(), "{n}-byte prefix of {op:?}");
        }
        let longer = [frame, &[0]].concat();
        assert!(decode_for(op, &longer).is_err(), "trailing byte after {op:?}");
    }

    #[test]
    fn opcodes_and_fixed_xids() {
        let cases: [(Op, i32, Option<i32>); 12] = [
            (create(CreateKind::Create), 1, None),
            (create(CreateKind::Create2), 15, None),
            (create(CreateKind::Container), 19, None),
            (create(CreateKind::Ttl(5)), 21, None),
            (Op::Check { path: "/".into(), version: 1 }, 13, None),
            (Op::MultiRead(vec![]), 22, None),
            (Op::AddAuth { scheme: "digest".into(), auth: vec![] }, 100, Some(-4)),
            (
                Op::SetWatches {
                    relative_zxid: 0,
                    data: vec![],
                    exist: vec![],
                    child: vec![],
                    persistent: vec![],
                    recursive: vec![],
                },
                105,
                Some(-8),
            ),
            (Op::Ping, 11, Some(-2)),
            (Op::CloseSession, -11, None),
            (Op::WhoAmI, 107, None),
            (Op::Raw { opcode: 42, body: vec![] }, 42, None),
        ];
        for (op, code, xid) in cases {
            assert_eq!((opcode(&op), fixed_xid(&op)), (code, xid), "{op:?}");
        }
        assert_eq!(opcode(&Op::GetEphemerals { prefix: "/".into() }), 103);
        assert_eq!(opcode(&Op::GetAllChildrenNumber { path: "/".into() }), 104);
        assert_eq!(opcode(&Op::AddWatch { path: "/".into(), mode: 0 }), 106);
        assert_eq!(opcode(&Op::CheckWatches { path: "/".into(), kind: 1 }), 17);
        assert_eq!(opcode(&Op::RemoveWatches { path: "/".into(), kind: 1 }), 18);
        let reconfig = Op::Reconfig { joining: None, leaving: None, new_members: None, config_id: -1 };
        assert_eq!(opcode(&reconfig), 16);
        assert_eq!(opcode(&Op::Multi(vec![])), 14);
    }

    #[test]
    fn fixed_request_frames() {
        assert_eq!(encode_request(-2, &Op::Ping), [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
        assert_eq!(encode_request(3, &Op::CloseSession), [0, 0, 0, 8, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xf5]);
        assert_eq!(
            encode_request(1, &Op::GetData { path: "/a".into(), watch: true }),
            [0, 0, 0, 15, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, b'/', b'a', 1]
        );
        assert_eq!(
            encode_request(9, &Op::Raw { opcode: 99, body: vec![1, 2, 3] }),
            [0, 0, 0, 11, 0, 0, 0, 9, 0, 0, 0, 99, 1, 2, 3]
        );
        // check alone: the bytes a client would send, which the server refuses.
        let frame = encode_request(4, &Op::Check { path: "/".into(), version: -1 });
        assert_eq!(frame, [0, 0, 0, 17, 0, 0, 0, 4, 0, 0, 0, 13, 0, 0, 0, 1, b'/', 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_request(&frame[4..]), Err(RequestError::UnknownOpcode { xid: Xid(4), op: 13 }));
    }

    #[test]
    fn creates_reach_the_server_intact() {
        let expected_acl = [
            jute::Acl { perms: 1, scheme: b"digest", id: b"u:abc=" },
            jute::Acl { perms: 31, scheme: b"world", id: b"anyone" },
        ];
        for (kind, code) in [(CreateKind::Create, 1), (CreateKind::Create2, 15), (CreateKind::Container, 19)] {
            server_view(&encode_request(XID, &create(kind)), |xid, req| {
                let Request::Create { opcode, req } = req else { panic!("{req:?}") };
                assert_eq!(
                    (xid, opcode.code(), req.path, req.data, req.flags),
                    (Xid(XID), code, &b"/a"[..], Some(&b"x"[..]), 1)
                );
                assert!(req.acl.iter().eq(expected_acl));
            });
        }
        server_view(&encode_request(XID, &create(CreateKind::Ttl(1000))), |_, req| {
            let Request::CreateTtl(req) = req else { panic!("{req:?}") };
            assert_eq!((req.path, req.data, req.flags, req.ttl), (&b"/a"[..], Some(&b"x"[..]), 1, 1000));
            assert!(req.acl.iter().eq(expected_acl));
        });
        let null_data = Op::Create { path: "/n".into(), data: None, acl: vec![], flags: 0, kind: CreateKind::Create };
        server_view(&encode_request(1, &null_data), |_, req| {
            let Request::Create { req, .. } = req else { panic!("{req:?}") };
            assert_eq!((req.data, req.acl.len(), req.acl.is_null()), (None, 0, false));
        });
    }

    #[test]
    fn other_requests_reach_the_server_intact() {
        let p = || "/p".to_string();
        server_view(&encode_request(1, &Op::Delete { path: p(), version: 3 }), |_, req| {
            assert_eq!(req, Request::Delete(PathVersionRequest { path: b"/p", version: Version(3) }));
        });
        for (op, expect) in [
            (Op::Exists { path: p(), watch: true }, OpCode::Exists),
            (Op::GetData { path: p(), watch: false }, OpCode::GetData),
            (Op::GetChildren { path: p(), watch: true }, OpCode::GetChildren),
            (Op::GetChildren2 { path: p(), watch: false }, OpCode::GetChildren2),
        ] {
            let watch = matches!(op, Op::Exists { .. } | Op::GetChildren { .. });
            server_view(&encode_request(1, &op), |_, req| {
                assert_eq!(req.opcode(), expect);
                let (Request::Exists(r) | Request::GetData(r) | Request::GetChildren(r) | Request::GetChildren2(r)) =
                    req
                else {
                    panic!("{req:?}")
                };
                assert_eq!(r, PathWatchRequest { path: b"/p", watch });
            });
        }
        server_view(&encode_request(1, &Op::SetData { path: p(), data: None, version: -1 }), |_, req| {
            assert_eq!(req, Request::SetData(SetDataRequest { path: b"/p", data: None, version: Version::ANY }));
        });
        server_view(&encode_request(1, &Op::GetAcl { path: p() }), |_, req| {
            assert_eq!(req, Request::GetAcl(PathRecord { path: b"/p" }));
        });
        server_view(&encode_request(1, &Op::Sync { path: p() }), |_, req| {
            assert_eq!(req, Request::Sync(PathRecord { path: b"/p" }));
        });
        server_view(&encode_request(1, &Op::GetAllChildrenNumber { path: p() }), |_, req| {
            assert_eq!(req, Request::GetAllChildrenNumber(PathRecord { path: b"/p" }));
        });
        server_view(&encode_request(1, &Op::SetAcl { path: p(), acl: digest_acl(), version: 2 }), |_, req| {
            let Request::SetAcl(r) = req else { panic!("{req:?}") };
            assert_eq!((r.path, r.version, r.acl.len()), (&b"/p"[..], Version(2), 2));
            assert_eq!(r.acl.iter().next(), Some(jute::Acl { perms: 1, scheme: b"digest", id: b"u:abc=" }));
        });
        server_view(&encode_request(-4, &Op::AddAuth { scheme: "digest".into(), auth: b"u:pw".to_vec() }), |x, req| {
            assert_eq!(x, Xid::AUTH);
            assert_eq!(req, Request::Auth(AuthPacket { auth_type: 0, scheme: b"digest", auth: Some(b"u:pw") }));
        });
        server_view(&encode_request(1, &Op::AddWatch { path: p(), mode: 1 }), |_, req| {
            assert_eq!(
                req,
                Request::AddWatch(jute::AddWatchRequest { path: b"/p", mode: AddWatchMode::PersistentRecursive })
            );
        });
        server_view(&encode_request(1, &Op::RemoveWatches { path: p(), kind: 2 }), |_, req| {
            assert_eq!(req, Request::RemoveWatches(WatchesRequest { path: b"/p", watcher_type: WatcherType::Data }));
        });
        server_view(&encode_request(1, &Op::CheckWatches { path: p(), kind: 3 }), |_, req| {
            assert_eq!(req, Request::CheckWatches(WatchesRequest { path: b"/p", watcher_type: WatcherType::Any }));
        });
        server_view(&encode_request(1, &Op::GetEphemerals { prefix: p() }), |_, req| {
            assert_eq!(req, Request::GetEphemerals(GetEphemeralsRequest { prefix_path: Some(b"/p") }));
        });
        server_view(&encode_request(1, &Op::WhoAmI), |_, req| assert_eq!(req, Request::WhoAmI));
        server_view(&encode_request(1, &Op::CloseSession), |_, req| assert_eq!(req, Request::CloseSession));
        server_view(&encode_request(-2, &Op::Ping), |_, req| assert_eq!(req, Request::Ping));
        let reconfig =
            Op::Reconfig { joining: Some("server.4=h:1:2".into()), leaving: None, new_members: None, config_id: 9 };
        server_view(&encode_request(1, &reconfig), |_, req| {
            assert_eq!(
                req,
                Request::Reconfig(ReconfigRequest {
                    joining_servers: Some(b"server.4=h:1:2"),
                    leaving_servers: None,
                    new_members: None,
                    cur_config_id: 9
                })
            );
        });
        let set_watches = Op::SetWatches {
            relative_zxid: 0x1_0000_0005,
            data: vec!["/d".into()],
            exist: vec![],
            child: vec!["/c".into(), "/c2".into()],
            persistent: vec!["/p".into()],
            recursive: vec!["/r".into()],
        };
        server_view(&encode_request(-8, &set_watches), |x, req| {
            assert_eq!(x, Xid::SET_WATCHES);
            let Request::SetWatches2(r) = req else { panic!("{req:?}") };
            assert_eq!(r.relative_zxid, 0x1_0000_0005);
            let lists = [
                r.data_watches,
                r.exist_watches,
                r.child_watches,
                r.persistent_watches,
                r.persistent_recursive_watches,
            ];
            let lists: Vec<Vec<&[u8]>> = lists.iter().map(|l| l.iter().collect()).collect();
            assert_eq!(lists, [vec![&b"/d"[..]], vec![], vec![&b"/c"[..], b"/c2"], vec![b"/p"], vec![b"/r"]]);
        });
    }

    #[test]
    fn multis_match_the_core_encoder() {
        let ops = vec![
            create(CreateKind::Create2),
            create(CreateKind::Ttl(60_000)),
            Op::Check { path: "/a".into(), version: 1 },
            Op::SetData { path: "/a".into(), data: Some(b"y".to_vec()), version: -1 },
            Op::Delete { path: "/b".into(), version: -1 },
        ];
        let frame = encode_request(XID, &Op::Multi(ops));
        let owned_acl = digest_acl();
        let acl = borrow_acl(&owned_acl);
        let (path, data) = (&b"/a"[..], Some(&b"x"[..]));
        let core_ops = [
            MultiOp::Create {
                opcode: OpCode::Create2,
                req: CreateRequest { path, data, acl: acl.as_slice(), flags: 1 },
            },
            MultiOp::CreateTtl(CreateTtlRequest { path, data, acl: acl.as_slice(), flags: 1, ttl: 60_000 }),
            MultiOp::Check(PathVersionRequest { path, version: Version(1) }),
            MultiOp::SetData(SetDataRequest { path, data: Some(b"y"), version: Version::ANY }),
            MultiOp::Delete(PathVersionRequest { path: b"/b", version: Version::ANY }),
        ];
        let mut buf = [0u8; 1024];
        let mut w = Writer::new(&mut buf);
        encode_multi_request(&mut w, core_ops).unwrap();
        assert_eq!(&frame[12..], w.written());
        server_view(&frame, |_, req| {
            let Request::Multi(m) = req else { panic!("{req:?}") };
            let codes: Vec<i32> = m.iter().map(|op| op.opcode().code()).collect();
            assert_eq!((m.kind(), codes), (MultiKind::Write, vec![15, 21, 13, 5, 2]));
            let Some(MultiOp::CreateTtl(ttl)) = m.iter().nth(1) else { panic!("second op is createTTL") };
            assert_eq!((ttl.path, ttl.flags, ttl.ttl), (&b"/a"[..], 1, 60_000));
            assert!(ttl.acl.iter().eq(acl.iter().copied()));
        });

        let reads = Op::MultiRead(vec![
            Op::GetData { path: "/a".into(), watch: false },
            Op::GetChildren { path: "/".into(), watch: true },
        ]);
        server_view(&encode_request(XID, &reads), |_, req| {
            let Request::Multi(m) = req else { panic!("{req:?}") };
            assert_eq!(m.kind(), MultiKind::Read);
            assert_eq!(
                m.iter().collect::<Vec<_>>(),
                [
                    MultiOp::GetData(PathWatchRequest { path: b"/a", watch: false }),
                    MultiOp::GetChildren(PathWatchRequest { path: b"/", watch: true })
                ]
            );
        });
        // Empty multi: just the end marker.
        assert_eq!(
            encode_request(1, &Op::Multi(vec![]))[8..],
            [0, 0, 0, 14, 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
        // What a multi must not hold still goes out, for the server to refuse.
        let mixed = encode_request(1, &Op::Multi(vec![Op::GetData { path: "/".into(), watch: false }]));
        assert!(matches!(
            decode_request(&mixed[4..]),
            Err(RequestError::Body { reason: DecodeError::MixedMulti { op: 4, .. }, .. })
        ));
        let unknown = encode_request(1, &Op::Multi(vec![Op::Raw { opcode: 77, body: vec![] }]));
        assert!(matches!(
            decode_request(&unknown[4..]),
            Err(RequestError::Body { reason: DecodeError::UnknownMultiOp { op: 77, .. }, .. })
        ));
    }

    #[test]
    fn big_requests_grow_the_buffer() {
        let data = vec![0xab; 3 * FIRST_FRAME_BUF + 7];
        let op = Op::SetData { path: "/big".into(), data: Some(data.clone()), version: -1 };
        server_view(&encode_request(1, &op), |_, req| {
            let Request::SetData(r) = req else { panic!("{req:?}") };
            assert_eq!(r.data, Some(data.as_slice()));
        });
    }

    #[test]
    fn connect_frames() {
        let c = Connect {
            last_zxid_seen: 0x10,
            timeout_ms: 30_000,
            session_id: 0x42,
            passwd: vec![7; 16],
            read_only: Some(true),
        };
        let frame = encode_connect(&c);
        assert_eq!(frame.len(), 4 + 45);
        assert_eq!(frame[..4], [0, 0, 0, 45]);
        let req = ConnectRequest::decode_from(&frame[4..]).unwrap();
        assert_eq!(
            req,
            ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0x10,
                timeout_ms: 30_000,
                session_id: SessionId(0x42),
                passwd: &[7; 16],
                read_only: Some(true)
            }
        );
        let old = encode_connect(&Connect { read_only: None, passwd: vec![], ..c });
        assert_eq!(old[..4], [0, 0, 0, 28]);
        assert_eq!(ConnectRequest::decode_from(&old[4..]).map(|r| (r.passwd.len(), r.read_only)), Ok((0, None)));
    }

    #[test]
    fn connected_with_and_without_read_only() {
        for read_only in [Some(false), Some(true), None] {
            let resp = ConnectResponse {
                protocol_version: 0,
                timeout_ms: 4000,
                session_id: SessionId(9),
                passwd: &[3; 16],
                read_only,
            };
            let mut buf = [0u8; 64];
            let n = encode_connect_response(&mut buf, &resp).unwrap();
            let frame = &buf[4..n];
            assert_eq!(
                decode_connected(frame),
                Ok(Connected { timeout_ms: 4000, session_id: 9, passwd: vec![3; 16], read_only })
            );
            // The readOnly byte is optional, so only prefixes shorter than 36 bytes fail.
            for k in 0..36 {
                assert!(decode_connected(&frame[..k]).is_err(), "{k}-byte prefix");
            }
            if read_only.is_some() {
                assert!(decode_connected(&[frame, &[0]].concat()).is_err(), "a byte after readOnly");
            }
        }
        let mut buf = [0u8; 64];
        let n = encode_connect_response(&mut buf, &ConnectResponse::invalid(None)).unwrap();
        let invalid = decode_connected(&buf[4..n]).unwrap();
        assert_eq!((invalid.timeout_ms, invalid.session_id), (0, 0));
    }

    #[test]
    fn events() {
        let mut buf = [0u8; 64];
        let n = encode_notification(&mut buf, EventType::NodeDataChanged, b"/w").unwrap();
        let frame = &buf[4..n];
        let never = |_: i32| -> Option<Op> { panic!("an event needs no request") };
        assert_eq!(decode_incoming(frame, &never), Ok(Incoming::Event(Event { kind: 3, state: 3, path: "/w".into() })));
        let expired = reply_frame(
            -1,
            -1,
            0,
            &WatcherEvent { event_type: EventType::None, state: KeeperState::Expired, path: b"" },
        );
        assert_eq!(
            decode_incoming(&expired, &never),
            Ok(Incoming::Event(Event { kind: -1, state: -112, path: String::new() }))
        );
        for k in 0..frame.len() {
            assert!(decode_incoming(&frame[..k], &never).is_err(), "{k}-byte prefix");
        }
        assert!(decode_incoming(&[frame, &[0]].concat(), &never).is_err());
        let bad_utf8 = reply_frame(
            -1,
            -1,
            0,
            &WatcherEvent { event_type: EventType::NodeCreated, state: KeeperState::SyncConnected, path: b"/\xff" },
        );
        assert!(decode_incoming(&bad_utf8, &never).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn reply_bodies_by_request() {
        let names: [&[u8]; 2] = [b"a", b"b"];
        let owned_acl = digest_acl();
        let acl = borrow_acl(&owned_acl);
        let infos = [ClientInfo { auth_scheme: b"ip", user: b"127.0.0.1" }];
        let path = |s: &str| Op::Sync { path: s.into() };
        let cases: Vec<(Op, Vec<u8>, Body)> = vec![
            (
                create(CreateKind::Create),
                reply_frame(XID, 0x99, 0, &CreateResponse { path: b"/a0000000001" }),
                Body::Path("/a0000000001".into()),
            ),
            (
                create(CreateKind::Ttl(1)),
                reply_frame(XID, 0x99, 0, &Create2Response { path: b"/a", stat: STAT }),
                Body::Created { path: "/a".into(), stat: STAT },
            ),
            (
                create(CreateKind::Container),
                reply_frame(XID, 0x99, 0, &Create2Response { path: b"/a", stat: STAT }),
                Body::Created { path: "/a".into(), stat: STAT },
            ),
            (Op::Delete { path: "/a".into(), version: -1 }, reply_frame(XID, 0x99, 0, &()), Body::Empty),
            (Op::CloseSession, reply_frame(XID, 0x99, 0, &()), Body::Empty),
            (Op::RemoveWatches { path: "/".into(), kind: 3 }, reply_frame(XID, 0x99, 0, &()), Body::Empty),
            (Op::CheckWatches { path: "/".into(), kind: 3 }, reply_frame(XID, 0x99, 0, &()), Body::Empty),
            (
                Op::AddWatch { path: "/".into(), mode: 0 },
                reply_frame(XID, 0x99, 0, &ErrorResponse { err: ErrorCode::Ok }),
                Body::Empty,
            ),
            (
                Op::Exists { path: "/".into(), watch: false },
                reply_frame(XID, 0x99, 0, &StatResponse { stat: STAT }),
                Body::Stat(STAT),
            ),
            (
                Op::SetData { path: "/".into(), data: None, version: 1 },
                reply_frame(XID, 0x99, 0, &StatResponse { stat: STAT }),
                Body::Stat(STAT),
            ),
            (
                Op::SetAcl { path: "/".into(), acl: vec![], version: 1 },
                reply_frame(XID, 0x99, 0, &StatResponse { stat: STAT }),
                Body::Stat(STAT),
            ),
            (
                Op::GetData { path: "/".into(), watch: false },
                reply_frame(XID, 0x99, 0, &GetDataResponse { data: Some(b"hi"), stat: STAT }),
                Body::Data { data: Some(b"hi".to_vec()), stat: STAT },
            ),
            (
                Op::GetData { path: "/".into(), watch: false },
                reply_frame(XID, 0x99, 0, &GetDataResponse { data: None, stat: STAT }),
                Body::Data { data: None, stat: STAT },
            ),
            (
                Op::Reconfig { joining: None, leaving: None, new_members: None, config_id: -1 },
                reply_frame(XID, 0x99, 0, &GetDataResponse { data: Some(b"server.1=h:1:2"), stat: STAT }),
                Body::Data { data: Some(b"server.1=h:1:2".to_vec()), stat: STAT },
            ),
            (
                Op::GetAcl { path: "/".into() },
                reply_frame(XID, 0x99, 0, &GetAclResponse { acl: acl.as_slice(), stat: STAT }),
                Body::Acl { acl: digest_acl(), stat: STAT },
            ),
            (
                Op::GetChildren { path: "/".into(), watch: false },
                reply_frame(XID, 0x99, 0, &GetChildrenResponse { children: &names[..] }),
                Body::Children(vec!["a".into(), "b".into()]),
            ),
            (
                Op::GetEphemerals { prefix: "/".into() },
                reply_frame(XID, 0x99, 0, &GetEphemeralsResponse { ephemerals: &names[..] }),
                Body::Children(vec!["a".into(), "b".into()]),
            ),
            (
                Op::GetChildren2 { path: "/".into(), watch: false },
                reply_frame(XID, 0x99, 0, &GetChildren2Response { children: &names[..0], stat: STAT }),
                Body::Children2 { children: vec![], stat: STAT },
            ),
            (path("/s"), reply_frame(XID, 0x99, 0, &PathRecord { path: b"/s" }), Body::Path("/s".into())),
            (
                Op::GetAllChildrenNumber { path: "/".into() },
                reply_frame(XID, 0x99, 0, &IntResponse { value: 12 }),
                Body::Count(12),
            ),
            (
                Op::WhoAmI,
                reply_frame(XID, 0x99, 0, &WhoAmIResponse { client_info: &infos[..] }),
                Body::WhoAmI(vec![("ip".into(), "127.0.0.1".into())]),
            ),
        ];
        for (op, frame, body) in &cases {
            assert_eq!(&ok_body(op, frame), body, "{op:?}");
            only_whole_frame_decodes(op, frame);
        }
        // addWatch's int must be there and be 0.
        let add_watch = Op::AddWatch { path: "/".into(), mode: 0 };
        assert!(decode_for(&add_watch, &reply_frame(XID, 0x99, 0, &IntResponse { value: -101 })).is_err());
    }

    #[test]
    fn reply_through_encode_reply_and_error_replies() {
        let mut buf = [0u8; 128];
        let hdr = ReplyHeader { xid: Xid(XID), zxid: 0x99, err: ErrorCode::Ok };
        let n = encode_reply(&mut buf, &hdr, &StatResponse { stat: STAT }).unwrap();
        assert_eq!(ok_body(&Op::Exists { path: "/".into(), watch: true }, &buf[4..n]), Body::Stat(STAT));

        let get = Op::GetData { path: "/x".into(), watch: false };
        let hdr = ReplyHeader { xid: Xid(XID), zxid: 5, err: ErrorCode::NoNode };
        let n = encode_reply(&mut buf, &hdr, &()).unwrap();
        assert_eq!(
            decode_for(&get, &buf[4..n]),
            Ok(Incoming::Reply(Reply { xid: XID, zxid: 5, err: -101, body: Body::Empty }))
        );
        // After an error the client reads no body, so bytes there are not looked at.
        let with_junk = reply_frame(XID, 5, -101, &StatResponse { stat: STAT });
        assert_eq!(
            decode_for(&get, &with_junk).map(|i| matches!(i, Incoming::Reply(Reply { body: Body::Empty, .. }))),
            Ok(true)
        );
        // Unknown xid.
        assert!(decode_for(&get, &reply_frame(XID + 1, 5, 0, &())).unwrap_err().contains("xid 8"));
        // Raw: any body is accepted and not read.
        let raw = Op::Raw { opcode: 50, body: vec![] };
        assert_eq!(ok_body(&raw, &reply_frame(XID, 0x99, 0, &IntResponse { value: 3 })), Body::Empty);
        let unimplemented = reply_frame(XID, -1, -6, &());
        assert_eq!(
            decode_for(&raw, &unimplemented),
            Ok(Incoming::Reply(Reply { xid: XID, zxid: -1, err: -6, body: Body::Empty }))
        );
    }

    #[test]
    fn special_xids_carry_no_body() {
        let never = |_: i32| -> Option<Op> { None };
        for (xid, err) in [(-2, 0), (-4, 0), (-4, -115), (-8, 0)] {
            let frame = reply_frame(xid, 0x10, err, &());
            assert_eq!(
                decode_incoming(&frame, &never),
                Ok(Incoming::Reply(Reply { xid, zxid: 0x10, err, body: Body::Empty }))
            );
        }
        assert!(decode_incoming(&reply_frame(-2, 0, 0, &IntResponse { value: 0 }), &never).is_err());
    }

    #[test]
    fn multi_replies() {
        let kids: [&[u8]; 1] = [b"k"];
        let results: [MultiResult<'_, &[&[u8]]>; 8] = [
            MultiResult::Create { path: b"/a" },
            MultiResult::Create2 { path: b"/b", stat: STAT },
            MultiResult::Delete,
            MultiResult::Check,
            MultiResult::SetData { stat: STAT },
            MultiResult::GetData { data: Some(b"d"), stat: STAT },
            MultiResult::GetChildren { children: &kids[..] },
            MultiResult::Error { err: ErrorCode::NoNode },
        ];
        let mut body = [0u8; 1024];
        let mut w = Writer::new(&mut body);
        encode_multi_response(&mut w, results).unwrap();
        let body_bytes = w.written().to_vec();
        let frame = [&reply_frame(XID, 0x99, 0, &())[..], &body_bytes].concat();
        let multi = Op::Multi(vec![]);
        assert_eq!(
            ok_body(&multi, &frame),
            Body::Multi(vec![
                MultiItem::Ok(Body::Path("/a".into())),
                MultiItem::Ok(Body::Created { path: "/b".into(), stat: STAT }),
                MultiItem::Ok(Body::Empty),
                MultiItem::Ok(Body::Empty),
                MultiItem::Ok(Body::Stat(STAT)),
                MultiItem::Ok(Body::Data { data: Some(b"d".to_vec()), stat: STAT }),
                MultiItem::Ok(Body::Children(vec!["k".into()])),
                MultiItem::Err(-101),
            ])
        );
        only_whole_frame_decodes(&multi, &frame);

        // A failed multi: header err 0, results 0 … code … −2.
        let failed = [
            MultiResult::Error { err: ErrorCode::Ok },
            MultiResult::Error { err: ErrorCode::BadVersion },
            MultiResult::Error { err: ErrorCode::RuntimeInconsistency },
        ];
        let mut w = Writer::new(&mut body);
        encode_multi_response::<&[&[u8]], _>(&mut w, failed).unwrap();
        let frame = [&reply_frame(XID, 0x99, 0, &())[..], w.written()].concat();
        assert_eq!(
            ok_body(&multi, &frame),
            Body::Multi(vec![MultiItem::Err(0), MultiItem::Err(-103), MultiItem::Err(-2)])
        );

        // An error header with a MultiResponse after it (multiRead of write ops: -5 and an
        // empty list), and one without.
        let read = Op::MultiRead(vec![create(CreateKind::Create)]);
        let end = [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff];
        let frame = [&reply_frame(XID, 0x99, -5, &())[..], &end].concat();
        assert_eq!(
            decode_for(&read, &frame),
            Ok(Incoming::Reply(Reply { xid: XID, zxid: 0x99, err: -5, body: Body::Multi(vec![]) }))
        );
        assert_eq!(
            decode_for(&read, &reply_frame(XID, 0x99, -5, &())),
            Ok(Incoming::Reply(Reply { xid: XID, zxid: 0x99, err: -5, body: Body::Empty }))
        );
        assert!(decode_for(&read, &frame[..frame.len() - 1]).is_err(), "a cut MultiResponse after an error");
        // An unknown result type.
        let bad = [&reply_frame(XID, 0x99, 0, &())[..], &[0, 0, 0, 3, 0, 0, 0, 0, 0], &end].concat();
        assert!(decode_for(&multi, &bad).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let ops = [
            create(CreateKind::Create),
            create(CreateKind::Create2),
            Op::GetData { path: "/".into(), watch: false },
            Op::GetAcl { path: "/".into() },
            Op::GetChildren2 { path: "/".into(), watch: false },
            Op::Multi(vec![]),
            Op::WhoAmI,
            Op::AddWatch { path: "/".into(), mode: 0 },
        ];
        // xorshift: a fixed, reproducible stream of bytes.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut decoded = 0;
        for round in 0..4000 {
            let len = (next() % 200) as usize;
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half the frames get a plausible header so bodies are exercised too.
            if round % 2 == 0 && frame.len() >= 16 {
                frame[..4].copy_from_slice(&XID.to_be_bytes());
                frame[12..16].copy_from_slice(&[0; 4]);
            }
            let op = &ops[round % ops.len()];
            decoded += usize::from(decode_for(op, &frame).is_ok());
            let _ = decode_connected(&frame);
        }
        // Random bytes are almost never a well-formed frame.
        assert!(decoded < 400, "{decoded} random frames decoded");
        assert!(decode_for(&Op::Ping, &[]).unwrap_err().contains("ReplyHeader"));
        // A vector count far beyond the frame.
        let huge = [&reply_frame(XID, 0, 0, &())[..], &[0x7f, 0xff, 0xff, 0xff]].concat();
        assert!(decode_for(&Op::GetChildren { path: "/".into(), watch: false }, &huge).is_err());
    }

    #[test]
    fn error_names() {
        assert_eq!(error_name(0), "OK");
        assert_eq!(error_name(-101), "NoNode");
        assert_eq!(error_name(-103), "BadVersion");
        assert_eq!(error_name(-114), "InvalidACL");
        assert_eq!(error_name(-109), "unknown");
        assert_eq!(error_name(7), "unknown");
    }
}
