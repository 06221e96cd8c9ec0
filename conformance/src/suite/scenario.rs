//! Scenarios as data: a named list of [`Step`]s, built with the small [`Script`] builder.
//!
//! Values that differ between servers by nature — zxids, times, session ids — are never
//! written as numbers; an expectation relates them ([`Rel`]) to what an earlier step saw
//! ([`Operand::Saved`]), so the same scenario holds on the simulator, herd and ZooKeeper.
//!
//! Paths are written from the scenario's own root: the runner puts every scenario under a
//! fresh `/<root>` node, so `/a` means `/<root>/a` and `/` the root itself; paths beginning
//! `/zookeeper` and paths written `^/…` are taken as they are. `$name` at the start of a
//! path is the path an earlier create saved as `name` returned (sequential names).

use super::wire::{mode, Acl, CreateKind, Op};

/// ZooKeeper's error codes the scenarios expect, as wire values of the core's `ErrorCode`.
pub mod code {
    use proto_core::jute::ErrorCode;

    /// Success.
    pub const OK: i32 = ErrorCode::Ok.code();
    /// Inconsistency: multi results after the one that failed.
    pub const RUNTIME_INCONSISTENCY: i32 = ErrorCode::RuntimeInconsistency.code();
    /// The request could not be decoded.
    pub const MARSHALLING_ERROR: i32 = ErrorCode::MarshallingError.code();
    /// Operation not implemented (an unknown opcode).
    pub const UNIMPLEMENTED: i32 = ErrorCode::Unimplemented.code();
    /// Invalid arguments (a bad path, a bad TTL…).
    pub const BAD_ARGUMENTS: i32 = ErrorCode::BadArguments.code();
    /// A reconfig while reconfig is disabled.
    pub const RECONFIG_DISABLED: i32 = ErrorCode::ReconfigDisabled.code();
    /// The node does not exist.
    pub const NO_NODE: i32 = ErrorCode::NoNode.code();
    /// Not authenticated for this.
    pub const NO_AUTH: i32 = ErrorCode::NoAuth.code();
    /// Version mismatch.
    pub const BAD_VERSION: i32 = ErrorCode::BadVersion.code();
    /// Ephemerals may not have children.
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = ErrorCode::NoChildrenForEphemerals.code();
    /// The node exists.
    pub const NODE_EXISTS: i32 = ErrorCode::NodeExists.code();
    /// The node has children.
    pub const NOT_EMPTY: i32 = ErrorCode::NotEmpty.code();
    /// The session expired.
    pub const SESSION_EXPIRED: i32 = ErrorCode::SessionExpired.code();
    /// An invalid ACL.
    pub const INVALID_ACL: i32 = ErrorCode::InvalidAcl.code();
    /// Authentication failed.
    pub const AUTH_FAILED: i32 = ErrorCode::AuthFailed.code();
    /// No watcher for removeWatches/checkWatches.
    pub const NO_WATCHER: i32 = ErrorCode::NoWatcher.code();
}

/// Watch event types, as wire values of the core's `EventType`.
pub mod event {
    use proto_core::jute::EventType;

    /// Node created.
    pub const CREATED: i32 = EventType::NodeCreated.code();
    /// Node deleted.
    pub const DELETED: i32 = EventType::NodeDeleted.code();
    /// Node data changed.
    pub const DATA_CHANGED: i32 = EventType::NodeDataChanged.code();
    /// Children changed.
    pub const CHILDREN_CHANGED: i32 = EventType::NodeChildrenChanged.code();
}

/// Which watch table removeWatches/checkWatches address, as wire values of the core's
/// `WatcherType`.
pub mod watcher {
    use proto_core::jute::WatcherType;

    /// Child watches.
    pub const CHILDREN: i32 = WatcherType::Children.code();
    /// Data (and exist) watches.
    pub const DATA: i32 = WatcherType::Data.code();
    /// Both.
    pub const ANY: i32 = WatcherType::Any.code();
}

/// A field of a reply's Stat, or of the reply itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Stat.czxid.
    Czxid,
    /// Stat.mzxid.
    Mzxid,
    /// Stat.pzxid.
    Pzxid,
    /// Stat.ctime.
    Ctime,
    /// Stat.mtime.
    Mtime,
    /// Stat.version.
    Version,
    /// Stat.cversion.
    Cversion,
    /// Stat.aversion.
    Aversion,
    /// Stat.ephemeralOwner.
    EphemeralOwner,
    /// Stat.dataLength.
    DataLength,
    /// Stat.numChildren.
    NumChildren,
    /// The reply header's zxid.
    ReplyZxid,
}

/// How two values relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less.
    Lt,
    /// Less or equal.
    Le,
}

impl Rel {
    /// Whether `a rel b`.
    pub fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Rel::Eq => a == b,
            Rel::Ne => a != b,
            Rel::Gt => a > b,
            Rel::Ge => a >= b,
            Rel::Lt => a < b,
            Rel::Le => a <= b,
        }
    }
}

/// The right side of a relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A number.
    Const(i64),
    /// A field of the reply an earlier step saved under a name.
    Saved(&'static str, Field),
    /// Another field of this same reply.
    This(Field),
    /// The session id of a client.
    Session(&'static str),
}

/// One check on a reply's Stat or header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The field checked.
    pub field: Field,
    /// How it must relate.
    pub rel: Rel,
    /// To what.
    pub to: Operand,
}

/// What a multi sub-result must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiExpect {
    /// Success, any body.
    Ok,
    /// Success, creating this path (scenario-relative).
    Path(String),
    /// This error code.
    Err(i32),
}

/// What a call's reply must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Success with any body.
    Ok,
    /// This error code.
    Err(i32),
    /// Success returning this path (create, create2, sync), scenario-relative.
    Path(String),
    /// getData returning this data.
    Data(Vec<u8>),
    /// getData returning no bytes: a null or a zero-length buffer, either one (the
    /// `tests/` suite pins down which one each server sends).
    NoData,
    /// getChildren/getChildren2 returning these names in any order.
    Children(Vec<String>),
    /// getEphemerals returning these paths (scenario-relative) in any order.
    Paths(Vec<String>),
    /// getACL returning this list.
    Acl(Vec<Acl>),
    /// getAllChildrenNumber returning this count.
    Count(i32),
    /// multi/multiRead with these per-op results.
    Multi(Vec<MultiExpect>),
    /// whoAmI returning these (scheme, id) pairs in any order.
    WhoAmI(Vec<(String, String)>),
    /// The server closes the connection instead of answering.
    Closed,
}

/// What a watch event must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventExpect {
    /// Event type ([`event`]).
    pub kind: i32,
    /// Scenario-relative path.
    pub path: String,
}

/// Which text a four-letter word must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextExpect {
    /// Exactly this text.
    Exactly(String),
    /// Every one of these lines starts some line of the answer.
    LinesStartingWith(Vec<String>),
    /// The answer contains each of these.
    Contains(Vec<String>),
}

/// How a handshake must end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectExpect {
    /// A session, with checks on the negotiated timeout.
    Session {
        /// The negotiated timeout must equal this, if given.
        timeout_ms: Option<i32>,
    },
    /// Refused: timeout 0 and session 0 (expired session, wrong password), then closed.
    Refused,
}

/// How a resumed session's password is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Password {
    /// The one the server gave.
    Right,
    /// The right one with its first byte changed.
    Wrong,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Opens a new session `client` on `server` (taken modulo the target's servers).
    Connect {
        /// Client name.
        client: &'static str,
        /// Server index.
        server: usize,
        /// Requested session timeout, ms.
        timeout_ms: i32,
        /// How it must end.
        expect: ConnectExpect,
    },
    /// Opens `client` resuming the session of `from` on `server`.
    Resume {
        /// New client name.
        client: &'static str,
        /// Whose session.
        from: &'static str,
        /// Server index.
        server: usize,
        /// Which password.
        password: Password,
        /// How it must end.
        expect: ConnectExpect,
    },
    /// Sends requests back to back (pipelined), then checks every reply in order.
    Calls {
        /// Client name.
        client: &'static str,
        /// The requests and their expectations.
        calls: Vec<Call>,
    },
    /// The next events of `client` are exactly these, in this order.
    Events {
        /// Client name.
        client: &'static str,
        /// The events.
        events: Vec<EventExpect>,
    },
    /// No event arrives at `client` for a while.
    NoEvents {
        /// Client name.
        client: &'static str,
    },
    /// Lets time pass with every session kept alive (except stopped ones).
    Wait {
        /// How long, ms.
        ms: u64,
    },
    /// `client` stops pinging (its session will expire) but keeps its connection open.
    StopPinging {
        /// Client name.
        client: &'static str,
    },
    /// `client` drops its connection without closing its session.
    Disconnect {
        /// Client name.
        client: &'static str,
    },
    /// The server closes `client`'s connection within `within_ms` (session expired or closed).
    ExpectClosed {
        /// Client name.
        client: &'static str,
        /// Deadline, ms.
        within_ms: u64,
    },
    /// Sends raw bytes on `client`'s connection.
    SendRaw {
        /// Client name.
        client: &'static str,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A four-letter word to `server`.
    FourLetter {
        /// Server index.
        server: usize,
        /// The word.
        word: &'static str,
        /// The answer.
        expect: TextExpect,
    },
    /// SIGKILL `server`.
    Kill {
        /// Server index.
        server: usize,
    },
    /// Start a killed `server` again and wait until it serves.
    Restart {
        /// Server index.
        server: usize,
    },
}

/// One request of a [`Step::Calls`] and what must come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The request (scenario-relative paths).
    pub op: Op,
    /// The reply.
    pub expect: Expect,
    /// Checks on the Stat and header.
    pub checks: Vec<Check>,
    /// Events that must have arrived on this connection before this reply (and after the
    /// previous reply), in order; `None`: not checked.
    pub events_before: Option<Vec<EventExpect>>,
    /// Save the reply under this name (for [`Operand::Saved`] and `$name` paths).
    pub save: Option<&'static str>,
}

/// What a scenario needs of a target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// At least this many servers (3: ensemble scenarios).
    pub servers: usize,
}

/// A named scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Area of the protocol (`crud`, `stat`, `watch`…), the table's grouping.
    pub area: &'static str,
    /// What it shows.
    pub name: &'static str,
    /// What it needs.
    pub needs: Needs,
    /// The steps.
    pub steps: Vec<Step>,
}

/// Builds a scenario's steps; calls chain on the last request added.
pub struct Script {
    scenario: Scenario,
    /// While pipelining: the index of the pipelined step, once its first call is added.
    pipelining: Option<Option<usize>>,
}

/// The session timeout scenarios ask for unless they say otherwise (inside [min, max]).
pub const DEFAULT_TIMEOUT_MS: i32 = 4000;

impl Script {
    /// A new scenario.
    pub fn new(area: &'static str, name: &'static str) -> Script {
        Script { scenario: Scenario { area, name, needs: Needs { servers: 1 }, steps: Vec::new() }, pipelining: None }
    }

    /// The following calls of one client are sent back to back, replies read after.
    pub fn pipeline(&mut self) -> &mut Script {
        self.pipelining = Some(None);
        self
    }

    /// Ends [`Script::pipeline`].
    pub fn end_pipeline(&mut self) -> &mut Script {
        self.pipelining = None;
        self
    }

    /// Needs at least `n` servers.
    pub fn servers(mut self, n: usize) -> Script {
        self.scenario.needs.servers = n;
        self
    }

    /// The finished scenario.
    pub fn done(self) -> Scenario {
        self.scenario
    }

    fn push(&mut self, s: Step) -> &mut Script {
        self.scenario.steps.push(s);
        self
    }

    /// Session `client` on server 0 with the default timeout.
    pub fn connect(&mut self, client: &'static str) -> &mut Script {
        self.connect_to(client, 0, DEFAULT_TIMEOUT_MS)
    }

    /// Session `client` on `server` asking for `timeout_ms`.
    pub fn connect_to(&mut self, client: &'static str, server: usize, timeout_ms: i32) -> &mut Script {
        self.push(Step::Connect { client, server, timeout_ms, expect: ConnectExpect::Session { timeout_ms: None } })
    }

    /// Session `client` on server 0 asking for `asked` ms; the server must grant `granted`.
    pub fn connect_negotiating(&mut self, client: &'static str, asked: i32, granted: i32) -> &mut Script {
        self.push(Step::Connect {
            client,
            server: 0,
            timeout_ms: asked,
            expect: ConnectExpect::Session { timeout_ms: Some(granted) },
        })
    }

    /// `client` resumes `from`'s session on `server` with the right password.
    pub fn resume(&mut self, client: &'static str, from: &'static str, server: usize) -> &mut Script {
        self.push(Step::Resume {
            client,
            from,
            server,
            password: Password::Right,
            expect: ConnectExpect::Session { timeout_ms: None },
        })
    }

    /// `client` tries to resume `from`'s session and must be refused.
    pub fn resume_refused(&mut self, client: &'static str, from: &'static str, password: Password) -> &mut Script {
        self.push(Step::Resume { client, from, server: 0, password, expect: ConnectExpect::Refused })
    }

    /// `client` sends `op`; chain the expectation (`.ok()`, `.err(..)`, …).
    pub fn call(&mut self, client: &'static str, op: Op) -> &mut Script {
        let call = Call { op, expect: Expect::Ok, checks: vec![], events_before: None, save: None };
        if let Some(Some(i)) = self.pipelining {
            if let Some(Step::Calls { client: c, calls }) = self.scenario.steps.get_mut(i) {
                assert_eq!(*c, client, "scenario {}: one client per pipeline", self.scenario.name);
                calls.push(call);
                return self;
            }
        }
        if self.pipelining.is_some() {
            self.pipelining = Some(Some(self.scenario.steps.len()));
        }
        self.push(Step::Calls { client, calls: vec![call] })
    }

    fn last_call(&mut self) -> &mut Call {
        match self.scenario.steps.last_mut() {
            Some(Step::Calls { calls, .. }) => calls.last_mut().expect("a Calls step holds at least one call"),
            _ => panic!("scenario {}: an expectation must follow a call", self.scenario.name),
        }
    }

    /// The last call succeeds.
    pub fn ok(&mut self) -> &mut Script {
        self.last_call().expect = Expect::Ok;
        self
    }

    /// The last call fails with `code`.
    pub fn err(&mut self, code: i32) -> &mut Script {
        self.last_call().expect = Expect::Err(code);
        self
    }

    /// The last call returns this path.
    pub fn path(&mut self, p: &str) -> &mut Script {
        self.last_call().expect = Expect::Path(p.to_string());
        self
    }

    /// The last call returns this data.
    pub fn data(&mut self, d: &[u8]) -> &mut Script {
        self.last_call().expect = Expect::Data(d.to_vec());
        self
    }

    /// The last call returns these children (any order).
    pub fn children(&mut self, names: &[&str]) -> &mut Script {
        self.last_call().expect = Expect::Children(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// The last call returns this expectation.
    pub fn expect(&mut self, e: Expect) -> &mut Script {
        self.last_call().expect = e;
        self
    }

    /// The last reply's `field` relates to `to`.
    pub fn stat(&mut self, field: Field, rel: Rel, to: Operand) -> &mut Script {
        self.last_call().checks.push(Check { field, rel, to });
        self
    }

    /// The last reply's `field` equals `n`.
    pub fn stat_is(&mut self, field: Field, n: i64) -> &mut Script {
        self.stat(field, Rel::Eq, Operand::Const(n))
    }

    /// Saves the last reply as `name`.
    pub fn save(&mut self, name: &'static str) -> &mut Script {
        self.last_call().save = Some(name);
        self
    }

    /// These events arrive before the last call's reply (after the previous reply).
    pub fn events_before(&mut self, events: &[(i32, &str)]) -> &mut Script {
        self.last_call().events_before = Some(evs(events));
        self
    }

    /// The next events of `client` are exactly these.
    pub fn events(&mut self, client: &'static str, events: &[(i32, &str)]) -> &mut Script {
        self.push(Step::Events { client, events: evs(events) })
    }

    /// No event comes to `client`.
    pub fn no_events(&mut self, client: &'static str) -> &mut Script {
        self.push(Step::NoEvents { client })
    }

    /// Lets `ms` pass, sessions kept alive.
    pub fn wait(&mut self, ms: u64) -> &mut Script {
        self.push(Step::Wait { ms })
    }

    /// `client` stops pinging.
    pub fn stop_pinging(&mut self, client: &'static str) -> &mut Script {
        self.push(Step::StopPinging { client })
    }

    /// `client` drops its connection, session left open.
    pub fn disconnect(&mut self, client: &'static str) -> &mut Script {
        self.push(Step::Disconnect { client })
    }

    /// The server closes `client`'s connection within `within_ms`.
    pub fn expect_closed(&mut self, client: &'static str, within_ms: u64) -> &mut Script {
        self.push(Step::ExpectClosed { client, within_ms })
    }

    /// Raw bytes on `client`'s connection.
    pub fn send_raw(&mut self, client: &'static str, bytes: &[u8]) -> &mut Script {
        self.push(Step::SendRaw { client, bytes: bytes.to_vec() })
    }

    /// A four-letter word to `server`.
    pub fn four(&mut self, server: usize, word: &'static str, expect: TextExpect) -> &mut Script {
        self.push(Step::FourLetter { server, word, expect })
    }

    /// SIGKILL `server`.
    pub fn kill(&mut self, server: usize) -> &mut Script {
        self.push(Step::Kill { server })
    }

    /// Restart `server`.
    pub fn restart(&mut self, server: usize) -> &mut Script {
        self.push(Step::Restart { server })
    }
}

/// whoAmI must answer these (scheme, id) pairs, in any order.
pub fn who_am_i(pairs: &[(&str, &str)]) -> Expect {
    Expect::WhoAmI(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect())
}

/// A four-letter answer with a line starting with each of these.
pub fn lines_starting(lines: &[&str]) -> TextExpect {
    TextExpect::LinesStartingWith(lines.iter().map(|s| s.to_string()).collect())
}

/// A four-letter answer containing each of these.
pub fn containing(parts: &[&str]) -> TextExpect {
    TextExpect::Contains(parts.iter().map(|s| s.to_string()).collect())
}

fn evs(events: &[(i32, &str)]) -> Vec<EventExpect> {
    events.iter().map(|(k, p)| EventExpect { kind: *k, path: p.to_string() }).collect()
}

// ---- request constructors: short names for the scenarios ----

/// create, persistent, open ACL.
pub fn create(path: &str, data: &[u8]) -> Op {
    create_with(path, data, mode::PERSISTENT, CreateKind::Create)
}

/// create2 (reply with Stat), persistent, open ACL.
pub fn create2(path: &str, data: &[u8]) -> Op {
    create_with(path, data, mode::PERSISTENT, CreateKind::Create2)
}

/// create with a mode and kind, open ACL.
pub fn create_with(path: &str, data: &[u8], flags: i32, kind: CreateKind) -> Op {
    Op::Create { path: path.into(), data: Some(data.to_vec()), acl: Acl::open(), flags, kind }
}

/// create, persistent sequential, no data, open ACL.
pub fn sequential(path: &str) -> Op {
    create_with(path, b"", mode::PERSISTENT_SEQUENTIAL, CreateKind::Create)
}

/// create, ephemeral, no data, open ACL.
pub fn ephemeral(path: &str) -> Op {
    create_with(path, b"", mode::EPHEMERAL, CreateKind::Create)
}

/// create with an ACL.
pub fn create_acl(path: &str, data: &[u8], acl: Vec<Acl>) -> Op {
    Op::Create { path: path.into(), data: Some(data.to_vec()), acl, flags: mode::PERSISTENT, kind: CreateKind::Create }
}

/// An ACL entry.
pub fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl { perms, scheme: scheme.into(), id: id.into() }
}

/// delete.
pub fn delete(path: &str, version: i32) -> Op {
    Op::Delete { path: path.into(), version }
}

/// exists.
pub fn exists(path: &str, watch: bool) -> Op {
    Op::Exists { path: path.into(), watch }
}

/// getData.
pub fn get(path: &str, watch: bool) -> Op {
    Op::GetData { path: path.into(), watch }
}

/// setData.
pub fn set(path: &str, data: &[u8], version: i32) -> Op {
    Op::SetData { path: path.into(), data: Some(data.to_vec()), version }
}

/// getChildren.
pub fn children(path: &str, watch: bool) -> Op {
    Op::GetChildren { path: path.into(), watch }
}

/// getChildren2.
pub fn children2(path: &str, watch: bool) -> Op {
    Op::GetChildren2 { path: path.into(), watch }
}

/// getACL.
pub fn get_acl(path: &str) -> Op {
    Op::GetAcl { path: path.into() }
}

/// setACL.
pub fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> Op {
    Op::SetAcl { path: path.into(), acl, version }
}

/// sync.
pub fn sync(path: &str) -> Op {
    Op::Sync { path: path.into() }
}

/// check (multi only).
pub fn check(path: &str, version: i32) -> Op {
    Op::Check { path: path.into(), version }
}

/// addAuth.
pub fn add_auth(scheme: &str, auth: &str) -> Op {
    Op::AddAuth { scheme: scheme.into(), auth: auth.as_bytes().to_vec() }
}

/// addWatch, persistent (recursive when `recursive`).
pub fn add_watch(path: &str, recursive: bool) -> Op {
    Op::AddWatch { path: path.into(), mode: i32::from(recursive) }
}

/// The persistent flags of create modes, re-exported for scenarios.
pub use super::wire::mode as modes;
