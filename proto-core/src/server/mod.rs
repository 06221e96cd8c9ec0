//! One replica: client frames in; replies, watch events, txn records and closes out. It runs
//! standalone, or as an ensemble's leader or follower ([`Mode`]; the ensemble specifics are
//! in the `ensemble` submodule).
//!
//! # Drain order
//!
//! Every `handle_*` call may emit outputs through [`Effects`], in this order of obligation
//! (etcd raft's `Ready`):
//!
//! 1. `append(zxid, record)`: the shell must make each record durable, in order, and report
//!    it with [`Server::handle_durable`];
//! 2. `send(conn, frame, after)`: the shell queues the frame on the connection and must not
//!    put it on the wire before the durable zxid reaches `after`. Frames of one connection
//!    are emitted in order with non-decreasing `after`, so a FIFO per connection suffices;
//! 3. `close(conn, after)`: once everything queued before it has gone out.
//!
//! The core applies a write to its tree as soon as it is validated and tags everything that
//! could reveal it (the reply, watch events, any later read's reply) with its zxid, so no
//! client observes a write before it is durable, and a crash loses only what nobody saw.
//! Watch events of a txn are emitted before its reply (section 3.4).

pub mod conn;
pub mod db;
mod ensemble;
pub mod prep;
mod quota;
mod reply;
pub mod snapshot;
#[cfg(test)]
mod tests;

use core::fmt;
use core::net::IpAddr;

use crate::acl::{self, AuthError, Perms};
use crate::arena::ByteArena;
use crate::ids::{ConnId, SessionId, Version, Xid};
use crate::jute::{
    self, AddWatchMode, ConnectRequest, ConnectResponse, Decode, ErrorCode, EventType, IntResponse, MultiKind, MultiOp,
    MultiRequest, MultiResult, OpCode, Request, RequestError,
};
use crate::limits::Limits;
use crate::session::{negotiate_timeout, SessionIdGen, SessionRef, SessionSlot, SessionTable, PASSWORD_BYTES};
use crate::time::{Instant, Now};
use crate::tree::{Tree, TreeStorage};
use crate::txn::{push_multi_op, Txn, TxnOp};
use crate::watch::{WatchEvent, WatchKind, WatchMode, WatchSlot, WatchTable, WatcherType};
use crate::zxid::Zxid;

pub use conn::{ConnSlot, ConnState, ConnStats, ConnTable, ConnectionRefused, Pending};
pub use db::{ApplyError, Db, EventSink, NoEvents};
use ensemble::Route;
pub use ensemble::{decode_auth, encode_auth, request_opcode, request_xid, AUTH_ENCODED_BYTES_MAX};
use prep::{CreateArgs, Overlay, Prep};
use reply::Outbox;

/// What the shell does with the core's outputs. See the module docs for the order.
pub trait Effects {
    /// Queue `frame` (length prefix included) on `conn`; transmit once durable ≥ `after`.
    fn send(&mut self, conn: ConnId, frame: &[u8], after: Zxid);
    /// Close `conn` after everything queued on it before this call.
    fn close(&mut self, conn: ConnId, after: Zxid);
    /// Make `record` (the txn with this zxid) durable.
    fn append(&mut self, zxid: Zxid, record: &[u8]);
    /// Something worth a log line happened (bad input, a bound hit…).
    fn note(&mut self, note: Note<'_>);
    /// [`Mode::Following`]: hand this request (header included) of `session`, arrived on
    /// `conn`, to the leader; its answer comes back through [`Server::handle_leader_reply`].
    fn forward(&mut self, conn: ConnId, session: SessionId, frame: &[u8]);
    /// [`Mode::Leading`] or [`Mode::Following`]: a sync on `conn` waits for the leader's
    /// quorum round; answer it with [`Server::answer_sync`] once the round is done.
    fn sync(&mut self, conn: ConnId, session: SessionId, xid: Xid, path: &[u8]);
}

/// How this replica takes part in the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Alone: it validates, logs and applies every write itself.
    #[default]
    Standalone,
    /// The ensemble's leader: writes (its clients' and the ones followers forward) are
    /// validated and applied here as standalone, and their records are proposed; what they
    /// reveal is released once committed, so the shell gates frames on the commit point.
    /// It alone expires sessions and reaps containers.
    Leading,
    /// A follower: reads are served from the local tree, writes go to the leader
    /// ([`Effects::forward`]) and the tree changes only by committed txns
    /// ([`Server::apply_committed`]).
    Following,
}

/// What became of a client frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Taken.
    Done,
    /// The connection waits for an earlier request's answer and replies go in order: hand
    /// this frame (and every later one of the connection) in again after an answer came
    /// ([`ConnTable::waiting`] lists the connections still waiting).
    Deferred,
}

/// Events the shell should log.
#[derive(Clone, Copy)]
pub enum Note<'a> {
    /// A connection is being closed because of what it sent.
    BadInput {
        /// Which connection.
        conn: ConnId,
        /// Why.
        reason: &'a dyn fmt::Display,
    },
    /// A bound of [`Limits`] refused something.
    LimitHit {
        /// Which connection asked.
        conn: ConnId,
        /// Which bound.
        what: &'static str,
    },
    /// A session expired.
    SessionExpired(SessionId),
    /// A session was established.
    SessionEstablished {
        /// On which connection.
        conn: ConnId,
        /// Which session.
        session: SessionId,
        /// Negotiated timeout.
        timeout_ms: u32,
    },
    /// A reconnect presented a wrong password or an unknown session.
    SessionRefused {
        /// On which connection.
        conn: ConnId,
        /// The session asked for.
        session: SessionId,
    },
    /// The client has seen a later zxid than this server: it must go elsewhere.
    ClientAhead {
        /// Which connection.
        conn: ConnId,
        /// The client's last zxid.
        client: Zxid,
        /// Ours.
        server: Zxid,
    },
}

impl fmt::Display for Note<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::BadInput { conn, reason } => write!(f, "closing {conn}: {reason}"),
            Note::LimitHit { conn, what } => write!(f, "{conn}: limit reached: {what}"),
            Note::SessionExpired(s) => write!(f, "session {s} expired"),
            Note::SessionEstablished { conn, session, timeout_ms } => {
                write!(f, "{conn}: session {session} established, timeout {timeout_ms} ms")
            }
            Note::SessionRefused { conn, session } => {
                write!(f, "{conn}: session {session} refused (unknown, expired or wrong password)")
            }
            Note::ClientAhead { conn, client, server } => {
                write!(f, "{conn}: client has seen zxid {client} > ours {server}; closing")
            }
        }
    }
}

/// Settings from zoo.cfg that shape behaviour.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This server's id (top byte of session ids; 1 when standalone).
    pub server_id: u8,
    /// ZooKeeper's tick, in ms.
    pub tick_ms: u32,
    /// Smallest session timeout granted.
    pub min_session_timeout_ms: u32,
    /// Largest session timeout granted.
    pub max_session_timeout_ms: u32,
    /// TTL nodes allowed (`zookeeper.extendedTypesEnabled`).
    pub extended_types: bool,
    /// `user:base64` digest that grants `super` (`DigestAuthenticationProvider.superDigest`).
    pub super_digest: Option<heapless::String<128>>,
    /// How often containers and TTL nodes are checked for reaping (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u32,
    /// Secret mixed into session passwords; the shell draws it from the OS at start.
    pub password_secret: [u8; 16],
}

/// Storage for every table of the server, handed in by the shell. Sizes: see
/// [`ServerStorage::sizes`].
pub struct ServerStorage<'s> {
    /// The tree's tables.
    pub tree: TreeStorage<'s>,
    /// Session slots (`sessions_max`).
    pub sessions: &'s mut [SessionSlot],
    /// Session id index, zeroed.
    pub session_index: &'s mut [u32],
    /// Watch slots (`watches_max`).
    pub watch_slots: &'s mut [WatchSlot],
    /// Watch path index, zeroed.
    pub watch_index: &'s mut [u32],
    /// Bytes for watched paths.
    pub watch_bytes: &'s mut [u8],
    /// Connection slots (`connections_max`).
    pub conns: &'s mut [ConnSlot],
    /// Scratch for one outgoing frame.
    pub out: &'s mut [u8],
    /// Scratch for one encoded txn.
    pub txn: &'s mut [u8],
    /// Scratch for a multi's packed ops.
    pub multi: &'s mut [u8],
    /// Scratch for a multi's pending changes.
    pub overlay: &'s mut [u8],
    /// Scratch for a generated path.
    pub path: &'s mut [u8],
    /// Scratch for a fixed-up ACL list.
    pub acl: &'s mut [u8],
    /// Scratch for the path of a node deleted by session close.
    pub event_path: &'s mut [u8],
}

/// How many elements each [`ServerStorage`] field needs for a set of [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageSizes {
    /// `tree.nodes`.
    pub nodes: usize,
    /// `tree.index`.
    pub node_index: usize,
    /// `tree.bytes`.
    pub node_bytes: usize,
    /// `tree.acls`.
    pub acls: usize,
    /// `tree.sessions`.
    pub ephemeral_sessions: usize,
    /// `sessions`.
    pub sessions: usize,
    /// `session_index`.
    pub session_index: usize,
    /// `watch_slots`.
    pub watch_slots: usize,
    /// `watch_index`.
    pub watch_index: usize,
    /// `watch_bytes`.
    pub watch_bytes: usize,
    /// `conns`.
    pub conns: usize,
    /// `out`, `txn`, `multi`, `overlay`, `path`, `acl`, `event_path` (each).
    pub scratch: usize,
}

/// Slack over the largest request for what a reply adds (headers, Stat, a grown path).
const REPLY_SLACK_BYTES: usize = 64 * 1024;

impl ServerStorage<'_> {
    /// The sizes a shell allocates for `limits`.
    pub const fn sizes(limits: &Limits) -> StorageSizes {
        let scratch = limits.packet_bytes_max as usize + REPLY_SLACK_BYTES;
        let watch_slots = 2 * limits.watches_max as usize + limits.connections_max as usize;
        StorageSizes {
            nodes: limits.znodes_max as usize,
            node_index: TreeStorage::index_slots(limits.znodes_max),
            node_bytes: limits.data_bytes_max as usize,
            acls: limits.acl_lists_max as usize,
            ephemeral_sessions: TreeStorage::session_slots(limits.sessions_max),
            sessions: limits.sessions_max as usize,
            session_index: SessionTable::index_slots(limits.sessions_max as usize),
            // One record per watch, per watched path and per watching connection.
            watch_slots,
            watch_index: watch_slots.next_power_of_two(),
            watch_bytes: limits.watches_max as usize * 64,
            conns: limits.connections_max as usize,
            scratch,
        }
    }
}

/// Why the server could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The tree's storage cannot hold even the reserved znodes.
    TreeTooSmall,
}

/// Server-wide counters for 4lw `srvr`/`mntr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Frames received from clients.
    pub packets_received: u64,
    /// Txns applied since start (recovery excluded).
    pub txns: u64,
    /// Auth failures.
    pub auth_failed: u64,
    /// When the server started.
    pub started_at: Instant,
}

/// One standalone replica.
pub struct Server<'s> {
    cfg: ServerConfig,
    limits: Limits,
    db: Db<'s>,
    watches: WatchTable<'s>,
    conns: ConnTable<'s>,
    out: Outbox<'s>,
    txn_buf: &'s mut [u8],
    multi_buf: &'s mut [u8],
    overlay_buf: &'s mut [u8],
    path_buf: &'s mut [u8],
    acl_buf: &'s mut [u8],
    ids: SessionIdGen,
    mode: Mode,
    durable: Zxid,
    next_reap: Instant,
    stats: ServerStats,
}

/// A request's outcome that is not a normal reply.
enum Fail {
    /// Reply with this error code.
    Code(ErrorCode),
    /// A bound was hit; reply QuotaExceeded and log it.
    Limit(&'static str),
}

impl From<ErrorCode> for Fail {
    fn from(c: ErrorCode) -> Self {
        Fail::Code(c)
    }
}

/// ZooKeeper's 4-character op names for `cons` (`lop=`).
fn op_abbrev(op: OpCode) -> &'static str {
    match op {
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => "CREA",
        OpCode::Delete => "DELE",
        OpCode::Exists => "EXIS",
        OpCode::GetData => "GETD",
        OpCode::SetData => "SETD",
        OpCode::GetAcl => "GACL",
        OpCode::SetAcl => "SACL",
        OpCode::GetChildren => "GETC",
        OpCode::GetChildren2 => "GETC",
        OpCode::Sync => "SYNC",
        OpCode::Ping => "PING",
        OpCode::Multi => "MULT",
        OpCode::MultiRead => "MLTR",
        OpCode::CheckWatches => "CHKW",
        OpCode::RemoveWatches => "REMW",
        OpCode::Auth => "AUTH",
        OpCode::SetWatches | OpCode::SetWatches2 => "SETW",
        OpCode::GetEphemerals => "GETE",
        OpCode::GetAllChildrenNumber => "GETACN",
        OpCode::AddWatch => "ADDW",
        OpCode::WhoAmI => "HOMI",
        OpCode::CloseSession => "CLOS",
        _ => "NA",
    }
}

/// [`commit_split`] over `self`'s fields, borrowed one by one so that the txn op may borrow
/// the scratch buffers (path, ACL, multi) at the same time.
macro_rules! commit {
    ($server:ident, $now:expr, $session:expr, $op:expr, $fx:expr, $stats:expr) => {
        commit_split(
            &mut $server.db,
            &mut $server.watches,
            &mut $server.conns,
            &mut $server.out,
            $server.txn_buf,
            &mut $server.stats,
            $now,
            $session,
            $op,
            $fx,
            $stats,
        )
    };
}

impl<'s> Server<'s> {
    /// Builds a server over `storage` (every table empty, zeroed where documented).
    pub fn new(storage: ServerStorage<'s>, limits: Limits, cfg: ServerConfig, now: Now) -> Result<Self, InitError> {
        let tree = Tree::new(storage.tree).map_err(|_| InitError::TreeTooSmall)?;
        let sessions = SessionTable::new(storage.sessions, storage.session_index, cfg.tick_ms);
        let watches = WatchTable::new(storage.watch_slots, storage.watch_index, ByteArena::new(storage.watch_bytes));
        Ok(Server {
            ids: SessionIdGen::new(cfg.server_id, now.wall_ms),
            next_reap: now.instant + u64::from(cfg.container_check_interval_ms),
            db: Db::new(tree, sessions, storage.event_path),
            watches,
            conns: ConnTable::new(storage.conns, limits.connections_per_ip_max),
            out: Outbox::new(storage.out),
            txn_buf: storage.txn,
            multi_buf: storage.multi,
            overlay_buf: storage.overlay,
            path_buf: storage.path,
            acl_buf: storage.acl,
            mode: Mode::Standalone,
            durable: Zxid::ZERO,
            stats: ServerStats { started_at: now.instant, ..ServerStats::default() },
            cfg,
            limits,
        })
    }

    // ----- getters -----------------------------------------------------------------------

    /// The bounds in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The settings in force.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// How this replica takes part.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Zxid of the last applied txn.
    pub fn last_zxid(&self) -> Zxid {
        self.db.last_zxid
    }

    /// Highest zxid storage reported durable.
    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    /// The tree, for reports and snapshots.
    pub fn tree(&self) -> &Tree<'s> {
        &self.db.tree
    }

    /// The sessions, for reports and snapshots.
    pub fn sessions(&self) -> &SessionTable<'s> {
        &self.db.sessions
    }

    /// The watches, for 4lw.
    pub fn watches(&self) -> &WatchTable<'s> {
        &self.watches
    }

    /// The connections, for 4lw.
    pub fn connections(&self) -> &ConnTable<'s> {
        &self.conns
    }

    /// Server-wide counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// 4lw `crst`: resets every connection's counters.
    pub fn reset_connection_stats(&mut self) {
        self.conns.reset_stats();
    }

    /// The session bound to `conn`, if established.
    pub fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        match self.conns.state(conn) {
            ConnState::Established(r) => Some(self.db.sessions.id(r)),
            _ => None,
        }
    }

    // ----- inputs ------------------------------------------------------------------------

    /// Storage made every record up to `zxid` durable.
    pub fn handle_durable(&mut self, zxid: Zxid) {
        debug_assert!(zxid <= self.db.last_zxid, "durable beyond what was appended");
        self.durable = self.durable.max(zxid);
    }

    /// A client connected from `remote`.
    pub fn handle_open(&mut self, now: Now, remote: IpAddr) -> Result<ConnId, ConnectionRefused> {
        self.conns.open(now.instant, remote)
    }

    /// The shell closed `conn` (peer hung up, or after the core asked). The session stays
    /// until it expires; the connection's watches go now.
    pub fn handle_closed(&mut self, conn: ConnId) {
        if let ConnState::Established(r) = self.conns.state(conn) {
            if self.db.sessions.conn(r) == Some(conn) {
                self.db.sessions.set_conn(r, None);
            }
        }
        self.watches.remove_connection(conn);
        self.conns.free(conn);
    }

    /// When [`Server::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.mode == Mode::Following {
            // The leader alone expires sessions and reaps nodes.
            return None;
        }
        let reap = (self.db.tree.znode_count() > crate::tree::RESERVED_ZNODES).then_some(self.next_reap);
        match (self.db.sessions.next_deadline(), reap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires sessions whose time is up and reaps containers and TTL nodes; harmless when
    /// called early.
    pub fn handle_timeout<F: Effects>(&mut self, now: Now, fx: &mut F) {
        if self.mode == Mode::Following {
            return;
        }
        let mut expired: heapless::Vec<SessionId, 64> = heapless::Vec::new();
        loop {
            expired.clear();
            let mut more = false;
            self.db.sessions.expire_due(now.instant, |_, id| {
                if expired.push(id).is_err() {
                    more = true;
                }
            });
            for &id in expired.iter() {
                fx.note(Note::SessionExpired(id));
                self.close_session(now, id, None, fx);
            }
            if !more {
                break;
            }
        }
        if now.instant >= self.next_reap {
            self.next_reap = now.instant + u64::from(self.cfg.container_check_interval_ms.max(1));
            self.reap(now, fx);
        }
    }

    /// One frame (length prefix removed) arrived on `conn`.
    pub fn handle_frame<F: Effects>(&mut self, now: Now, conn: ConnId, frame: &[u8], fx: &mut F) -> FrameOutcome {
        let state = self.conns.state(conn);
        if let ConnState::Established(r) = state {
            if self.mode != Mode::Standalone {
                match self.route(conn, frame) {
                    Route::Defer => return FrameOutcome::Deferred,
                    Route::Forward => {
                        self.count_received(conn);
                        self.forward(now, conn, r, frame, fx);
                        return FrameOutcome::Done;
                    }
                    Route::Local => {}
                }
            }
        }
        if matches!(state, ConnState::Joining(_)) {
            // Nothing may run before the session exists (a client does not pipeline past
            // its connect, but the bytes may be there).
            return FrameOutcome::Deferred;
        }
        self.count_received(conn);
        match state {
            ConnState::Free | ConnState::Closing | ConnState::Joining(_) => {}
            ConnState::Handshake => self.handle_connect(now, conn, frame, fx),
            ConnState::Established(r) => self.handle_request(now, conn, r, frame, fx),
        }
        FrameOutcome::Done
    }

    fn count_received(&mut self, conn: ConnId) {
        self.stats.packets_received += 1;
        if let Some(s) = self.conns.stats_mut(conn) {
            s.received += 1;
        }
    }

    // ----- handshake ---------------------------------------------------------------------

    fn close_conn<F: Effects>(&mut self, conn: ConnId, fx: &mut F) {
        // The session loses its connection now: `Closing` no longer names the session, so
        // `handle_closed` could not unbind it later, and the slot may be reused before the
        // session expires (whose close must not hit the slot's next connection).
        if let ConnState::Established(r) = self.conns.state(conn) {
            if self.db.sessions.conn(r) == Some(conn) {
                self.db.sessions.set_conn(r, None);
            }
        }
        self.conns.set_state(conn, ConnState::Closing);
        fx.close(conn, self.db.last_zxid);
    }

    fn handle_connect<F: Effects>(&mut self, now: Now, conn: ConnId, frame: &[u8], fx: &mut F) {
        let req = match ConnectRequest::decode_from(frame) {
            Ok(req) => req,
            Err(e) => {
                fx.note(Note::BadInput { conn, reason: &e });
                return self.close_conn(conn, fx);
            }
        };
        let last = self.db.last_zxid;
        if req.last_zxid_seen > last.as_wire() {
            fx.note(Note::ClientAhead { conn, client: Zxid(req.last_zxid_seen as u64), server: last });
            return self.close_conn(conn, fx);
        }
        let timeout_ms =
            negotiate_timeout(req.timeout_ms, self.cfg.min_session_timeout_ms, self.cfg.max_session_timeout_ms);
        let read_only = req.read_only.map(|_| false);
        if req.session_id.0 == 0 {
            if self.mode == Mode::Following {
                return self.join_session(conn, timeout_ms, read_only, fx);
            }
            return self.create_session(now, conn, timeout_ms, read_only, fx);
        }
        // Reconnect: first close any other connection bound to the session (section 2.3).
        let found = self.db.sessions.find(req.session_id);
        if let Some(r) = found {
            if let Some(old) = self.db.sessions.conn(r).filter(|&c| c != conn) {
                self.db.sessions.set_conn(r, None);
                self.close_conn(old, fx);
            }
        }
        let valid = found.filter(|&r| !self.db.sessions.is_closing(r) && self.db.sessions.password(r) == req.passwd);
        let Some(r) = valid else {
            fx.note(Note::SessionRefused { conn, session: req.session_id });
            self.out.connect_response(fx, conn, &ConnectResponse::invalid(read_only), last);
            return self.close_conn(conn, fx);
        };
        self.db.sessions.touch(now.instant, r);
        self.establish(now, conn, r, timeout_ms, read_only, last, fx);
    }

    /// `cons` shows the handshake as the connection's last op, as ZooKeeper does.
    fn note_session_op(&mut self, now: Now, conn: ConnId) {
        let last_zxid = self.db.last_zxid.as_wire();
        if let Some(s) = self.conns.stats_mut(conn) {
            s.set_last_op("SESS");
            s.last_zxid = last_zxid;
            s.last_response = now.instant;
        }
    }

    /// The password of a new session: SHA-1 of the server's secret and the id, cut to 16
    /// bytes, so it cannot be guessed from the id (ZooKeeper's can).
    fn password_for(&self, id: SessionId) -> [u8; PASSWORD_BYTES] {
        use sha1::{Digest, Sha1};
        let mut h = Sha1::new();
        h.update(self.cfg.password_secret);
        h.update(id.0.to_be_bytes());
        let digest = h.finalize();
        let mut out = [0u8; PASSWORD_BYTES];
        out.copy_from_slice(&digest[..PASSWORD_BYTES]);
        out
    }

    fn create_session<F: Effects>(
        &mut self,
        now: Now,
        conn: ConnId,
        timeout_ms: u32,
        read_only: Option<bool>,
        fx: &mut F,
    ) {
        if self.db.sessions.len() >= self.limits.sessions_max {
            fx.note(Note::LimitHit { conn, what: "sessions (herd.sessionsMax)" });
            return self.close_conn(conn, fx);
        }
        let id = self.ids.next_id();
        let password = self.password_for(id);
        let op = TxnOp::CreateSession { timeout_ms, password };
        if let Err(fail) = self.commit(now, id, op, fx) {
            let what = match fail {
                Fail::Limit(what) => what,
                Fail::Code(_) => "sessions",
            };
            fx.note(Note::LimitHit { conn, what });
            return self.close_conn(conn, fx);
        }
        let Some(r) = self.db.sessions.find(id) else { return self.close_conn(conn, fx) };
        let last = self.db.last_zxid;
        self.establish(now, conn, r, timeout_ms, read_only, last, fx);
    }

    /// Binds `conn` to session `r` and answers the handshake (after `after` is visible).
    #[allow(clippy::too_many_arguments)]
    fn establish<F: Effects>(
        &mut self,
        now: Now,
        conn: ConnId,
        r: SessionRef,
        timeout_ms: u32,
        read_only: Option<bool>,
        after: Zxid,
        fx: &mut F,
    ) {
        let id = self.db.sessions.id(r);
        self.db.sessions.set_conn(r, Some(conn));
        self.conns.set_state(conn, ConnState::Established(r));
        self.conns.set_session_id(conn, id);
        let password = self.db.sessions.password(r);
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout_ms as i32,
            session_id: id,
            passwd: &password,
            read_only,
        };
        self.note_session_op(now, conn);
        fx.note(Note::SessionEstablished { conn, session: id, timeout_ms });
        self.out.connect_response(fx, conn, &resp, after);
    }

    // ----- writes ------------------------------------------------------------------------

    /// Logs and applies one txn, firing its watch events.
    fn commit<F: Effects>(&mut self, now: Now, session: SessionId, op: TxnOp<'_>, fx: &mut F) -> Result<Zxid, Fail> {
        commit!(self, now, session, op, fx, None)
    }

    fn close_session<F: Effects>(&mut self, now: Now, id: SessionId, reply: Option<(ConnId, Xid)>, fx: &mut F) {
        let conn = self.db.sessions.find(id).and_then(|r| {
            self.db.sessions.mark_closing(r);
            self.db.sessions.conn(r)
        });
        match self.commit(now, id, TxnOp::CloseSession, fx) {
            Ok(zxid) => {
                if let Some((c, xid)) = reply {
                    self.out.reply(fx, c, xid, zxid, ErrorCode::Ok, &(), zxid);
                }
            }
            Err(_) => fx.note(Note::LimitHit { conn: conn.unwrap_or_default(), what: "closeSession txn" }),
        }
        if let Some(c) = conn {
            self.close_conn(c, fx);
        }
    }

    /// Deletes empty containers that have had children, and TTL nodes past their TTL
    /// (section 6.6), each as an ordinary delete txn.
    fn reap<F: Effects>(&mut self, now: Now, fx: &mut F) {
        /// ZooKeeper's `znode.container.maxPerMinute` default.
        const REAP_PER_RUN_MAX: usize = 10_000;
        let mut due: heapless::Vec<crate::tree::NodeId, 256> = heapless::Vec::new();
        let mut reaped = 0usize;
        loop {
            due.clear();
            for id in self.db.tree.preorder() {
                if self.db.tree.num_children(id) > 0 {
                    continue;
                }
                let reap = match self.db.tree.kind(id) {
                    crate::tree::NodeKind::Container => self.db.tree.stored_cversion(id) > 0,
                    crate::tree::NodeKind::Ttl(ttl) => {
                        let mtime = self.db.tree.stat(id).mtime;
                        now.wall_ms.saturating_sub(mtime) > ttl as i64
                    }
                    _ => false,
                };
                if reap && due.push(id).is_err() {
                    break;
                }
            }
            if due.is_empty() {
                return;
            }
            for &id in due.iter() {
                let Some(path) = self.db.tree.write_path(id, self.path_buf) else { continue };
                let path: &[u8] = path;
                if commit!(self, now, SessionId(0), TxnOp::Delete { path }, fx, None).is_err() {
                    return;
                }
                reaped += 1;
            }
            if reaped >= REAP_PER_RUN_MAX || due.len() < due.capacity() {
                return;
            }
        }
    }

    // ----- requests ----------------------------------------------------------------------

    fn handle_request<F: Effects>(&mut self, now: Now, conn: ConnId, r: SessionRef, frame: &[u8], fx: &mut F) {
        let (xid, req) = match jute::decode_request(frame) {
            Ok(ok) => ok,
            Err(RequestError::Header { .. }) => {
                fx.note(Note::BadInput { conn, reason: &"frame shorter than a request header" });
                return self.close_conn(conn, fx);
            }
            Err(e @ RequestError::UnknownOpcode { xid, .. }) => {
                fx.note(Note::BadInput { conn, reason: &e });
                let last = self.db.last_zxid;
                self.out.reply(fx, conn, xid, Zxid(u64::MAX), ErrorCode::Unimplemented, &(), last);
                return self.close_conn(conn, fx);
            }
            Err(RequestError::Body { xid, op, .. }) => {
                let last = self.db.last_zxid;
                if op == OpCode::Auth {
                    self.out.reply(fx, conn, xid, Zxid::ZERO, ErrorCode::AuthFailed, &(), last);
                    return self.close_conn(conn, fx);
                }
                let zxid = self.error_txn(now, conn, op, ErrorCode::MarshallingError, fx);
                self.out.reply(fx, conn, xid, zxid, ErrorCode::MarshallingError, &(), zxid);
                return;
            }
        };
        let session = self.db.sessions.id(r);
        if self.db.sessions.is_closing(r) {
            let last = self.db.last_zxid;
            self.out.reply(fx, conn, xid, last, ErrorCode::SessionExpired, &(), last);
            return;
        }
        self.db.sessions.touch(now.instant, r);
        if let Some(s) = self.conns.stats_mut(conn) {
            s.set_last_op(op_abbrev(req.opcode()));
            s.last_cxid = xid.0;
            s.last_response = now.instant;
        }
        let opcode = req.opcode();
        let outcome = self.dispatch(now, conn, session, xid, req, fx);
        let last_zxid = self.db.last_zxid.as_wire();
        if let Some(s) = self.conns.stats_mut(conn) {
            s.last_zxid = last_zxid;
        }
        if let Err(fail) = outcome {
            let code = match fail {
                Fail::Code(c) => c,
                Fail::Limit(what) => {
                    fx.note(Note::LimitHit { conn, what });
                    ErrorCode::QuotaExceeded
                }
            };
            let zxid = match fail {
                Fail::Code(code) => self.error_txn(now, conn, opcode, code, fx),
                Fail::Limit(_) => self.db.last_zxid,
            };
            self.out.reply(fx, conn, xid, zxid, code, &(), zxid);
        }
    }

    /// A write that failed validation becomes an error txn, as in ZooKeeper: it takes the next
    /// zxid (logged, so replies stay in zxid order across a restart) and its reply carries it.
    /// Other requests, and a failure to log, answer with the last zxid.
    fn error_txn<F: Effects>(&mut self, now: Now, conn: ConnId, op: OpCode, code: ErrorCode, fx: &mut F) -> Zxid {
        if !op.is_write() || op == OpCode::CreateSession {
            return self.db.last_zxid;
        }
        let session = self.session_of(conn).unwrap_or_default();
        self.commit(now, session, TxnOp::Error { code: code.code() }, fx).unwrap_or(self.db.last_zxid)
    }

    /// Runs one decoded request; `Err` becomes an error reply.
    fn dispatch<F: Effects>(
        &mut self,
        now: Now,
        conn: ConnId,
        session: SessionId,
        xid: Xid,
        req: Request<'_>,
        fx: &mut F,
    ) -> Result<(), Fail> {
        let last = self.db.last_zxid;
        match req {
            Request::Ping => {
                self.out.reply(fx, conn, Xid::PING, last, ErrorCode::Ok, &(), last);
            }
            Request::Auth(a) => self.auth(conn, xid, a.scheme, a.auth.unwrap_or_default(), fx),
            // No SASL provider: ZooKeeper answers with an empty (null) token and zxid 0.
            Request::Sasl(_) => {
                let body = jute::SaslToken { token: None };
                self.out.reply(fx, conn, xid, Zxid::ZERO, ErrorCode::Ok, &body, last);
            }
            // reconfigEnabled=false, ZooKeeper's default, refuses before anything else.
            Request::Reconfig(_) => return Err(ErrorCode::ReconfigDisabled.into()),
            Request::CloseSession => {
                self.close_session(now, session, Some((conn, xid)), fx);
            }
            Request::Exists(q) => {
                if q.path.contains(&0) {
                    return Err(ErrorCode::BadArguments.into());
                }
                let node = self.db.tree.lookup(q.path);
                if let Some(id) = node {
                    self.require(conn, self.db.tree.node_acl(id), Perms::READ)?;
                }
                if q.watch {
                    self.register_watch(conn, q.path, WatchKind::Data, WatchMode::OneShot)?;
                }
                let id = node.ok_or(ErrorCode::NoNode)?;
                let stat = self.db.tree.stat(id);
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &jute::StatResponse { stat }, last);
            }
            Request::GetData(q) => {
                let id = self.readable(conn, q.path)?;
                if q.watch {
                    self.register_watch(conn, q.path, WatchKind::Data, WatchMode::OneShot)?;
                }
                let body = jute::GetDataResponse { data: self.db.tree.data(id), stat: self.db.tree.stat(id) };
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
            }
            Request::GetChildren(q) | Request::GetChildren2(q) => {
                let with_stat = matches!(req, Request::GetChildren2(_));
                let id = self.readable(conn, q.path)?;
                if q.watch {
                    self.register_watch(conn, q.path, WatchKind::Child, WatchMode::OneShot)?;
                }
                let stat = with_stat.then(|| self.db.tree.stat(id));
                let body = reply::Children { tree: &self.db.tree, node: id, stat };
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
            }
            Request::GetAcl(q) => {
                let id = self.db.tree.lookup(q.path).ok_or(ErrorCode::NoNode)?;
                let acl = self.db.tree.node_acl(id);
                self.require(conn, acl, Perms(Perms::READ.0 | Perms::ADMIN.0))?;
                let list = acl::write_get_acl(acl, self.conns.auth(conn), self.acl_buf)
                    .map_err(|_| Fail::Limit("ACL list larger than scratch"))?;
                let body = reply::RawAclWithStat { acl: list, stat: self.db.tree.stat(id) };
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
            }
            Request::GetAllChildrenNumber(q) => {
                let id = self.readable(conn, q.path)?;
                let n = self.db.tree.descendants(id).min(i32::MAX as u64) as i32;
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &IntResponse { value: n }, last);
            }
            Request::GetEphemerals(q) => {
                // ZooKeeper trims the prefix; empty or "/" means every ephemeral.
                let prefix = match q.prefix_path.map(<[u8]>::trim_ascii) {
                    None | Some(b"") | Some(b"/") => &b""[..],
                    Some(p) => p,
                };
                let body = reply::Ephemerals { tree: &self.db.tree, session, prefix };
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
            }
            Request::Sync(q) if self.mode == Mode::Standalone => {
                // Standalone: everything applied is already visible, in order.
                let body = jute::PathRecord { path: q.path };
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
            }
            Request::Sync(q) => {
                // The leader's quorum round decides; the connection waits for it.
                if let Some(p) = self.conns.pending_mut(conn) {
                    p.sync = true;
                }
                fx.sync(conn, session, xid, q.path);
            }
            Request::WhoAmI => {
                let body = reply::WhoAmI { ids: self.conns.auth(conn) };
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
            }
            Request::AddWatch(q) => {
                let recursive = match q.mode {
                    AddWatchMode::Persistent => false,
                    AddWatchMode::PersistentRecursive => true,
                    // ZooKeeper fails to map the mode: MarshallingError.
                    AddWatchMode::Unknown(_) => return Err(ErrorCode::MarshallingError.into()),
                };
                self.watch_room(2)?;
                self.watches
                    .add_watch(conn, q.path, recursive)
                    .map_err(|_| Fail::Limit("watches (herd.watchesMax)"))?;
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &IntResponse { value: 0 }, last);
            }
            Request::CheckWatches(q) | Request::RemoveWatches(q) => {
                let remove = matches!(req, Request::RemoveWatches(_));
                let which = WatcherType::from_code(q.watcher_type.code()).ok_or(ErrorCode::MarshallingError)?;
                let found =
                    if remove { self.watches.remove(conn, q.path, which) } else { self.watches.check(q.path, which) };
                if !found {
                    return Err(ErrorCode::NoWatcher.into());
                }
                self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &(), last);
            }
            Request::SetWatches(w) => {
                let empty = jute::StrList::EMPTY;
                self.set_watches(
                    conn,
                    xid,
                    w.relative_zxid,
                    [w.data_watches, w.exist_watches, w.child_watches, empty, empty],
                    fx,
                )?;
            }
            Request::SetWatches2(w) => {
                self.set_watches(
                    conn,
                    xid,
                    w.relative_zxid,
                    [
                        w.data_watches,
                        w.exist_watches,
                        w.child_watches,
                        w.persistent_watches,
                        w.persistent_recursive_watches,
                    ],
                    fx,
                )?;
            }
            Request::Create { opcode, req: c } => {
                let args = CreateArgs { opcode, path: c.path, data: c.data, acl: c.acl, flags: c.flags, ttl: -1 };
                self.create(now, conn, session, xid, &args, fx)?;
            }
            Request::CreateTtl(c) => {
                let args = CreateArgs {
                    opcode: OpCode::CreateTtl,
                    path: c.path,
                    data: c.data,
                    acl: c.acl,
                    flags: c.flags,
                    ttl: c.ttl,
                };
                self.create(now, conn, session, xid, &args, fx)?;
            }
            Request::Delete(d) => {
                let op = self.prep(conn, false).delete(d.path, d.version)?;
                let zxid = self.commit(now, session, op, fx)?;
                self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &(), zxid);
            }
            Request::DeleteContainer { path } => {
                let op = self.prep(conn, false).delete(path, Version::ANY)?;
                let zxid = self.commit(now, session, op, fx)?;
                self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &(), zxid);
            }
            Request::SetData(s) => {
                let op = self.prep(conn, false).set_data(s.path, s.data, s.version)?;
                let zxid = self.commit(now, session, op, fx)?;
                let stat = self.db.tree.lookup(s.path).map(|id| self.db.tree.stat(id)).unwrap_or_default();
                self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &jute::StatResponse { stat }, zxid);
            }
            Request::SetAcl(s) => {
                let (tree, ids, overlay_buf, acl_buf) =
                    (&self.db.tree, self.conns.auth(conn), &mut *self.overlay_buf, &mut *self.acl_buf);
                let mut prep = Prep {
                    tree,
                    overlay: Overlay::new(overlay_buf),
                    track: false,
                    ids,
                    extended_types: self.cfg.extended_types,
                    budget: None,
                };
                let op = prep.set_acl(s.path, &s.acl, s.version, acl_buf)?;
                let zxid = commit!(self, now, session, op, fx, None)?;
                let stat = self.db.tree.lookup(s.path).map(|id| self.db.tree.stat(id)).unwrap_or_default();
                self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &jute::StatResponse { stat }, zxid);
            }
            Request::Multi(m) => match m.kind() {
                MultiKind::Write => self.multi(now, conn, session, xid, m, fx)?,
                MultiKind::Read => self.multi_read(conn, xid, m, fx),
            },
        }
        Ok(())
    }

    /// Refuses when `n` more watch entries would pass `herd.watchesMax`.
    fn watch_room(&self, n: u32) -> Result<(), Fail> {
        if self.watches.total_count().saturating_add(n) > self.limits.watches_max {
            return Err(Fail::Limit("watches (herd.watchesMax)"));
        }
        Ok(())
    }

    fn register_watch(&mut self, conn: ConnId, path: &[u8], kind: WatchKind, mode: WatchMode) -> Result<(), Fail> {
        self.watch_room(1)?;
        self.watches.register(conn, path, kind, mode).map_err(|_| Fail::Limit("watches (herd.watchesMax)"))
    }

    fn require(&self, conn: ConnId, acl: &[u8], perms: Perms) -> Result<(), Fail> {
        if acl::check(acl, perms, self.conns.auth(conn)) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth.into())
        }
    }

    /// Looks `path` up and checks READ on it (the read path's NoNode-then-NoAuth order).
    fn readable(&self, conn: ConnId, path: &[u8]) -> Result<crate::tree::NodeId, Fail> {
        let id = self.db.tree.lookup(path).ok_or(ErrorCode::NoNode)?;
        self.require(conn, self.db.tree.node_acl(id), Perms::READ)?;
        Ok(id)
    }

    fn prep(&mut self, conn: ConnId, track: bool) -> Prep<'_, 's, '_> {
        Prep {
            tree: &self.db.tree,
            overlay: Overlay::new(self.overlay_buf),
            track,
            ids: self.conns.auth(conn),
            extended_types: self.cfg.extended_types,
            budget: None,
        }
    }

    fn auth<F: Effects>(&mut self, conn: ConnId, xid: Xid, scheme: &[u8], data: &[u8], fx: &mut F) {
        let remote = self.conns.remote(conn);
        let super_digest = self.cfg.super_digest.as_ref().map(|s| s.as_bytes());
        let outcome = match self.conns.auth_mut(conn) {
            Some(ids) => ids.handle_auth(scheme, data, remote, super_digest),
            None => Err(AuthError::UnknownScheme),
        };
        let last = self.db.last_zxid;
        match outcome {
            Ok(_) => self.out.reply(fx, conn, xid, Zxid::ZERO, ErrorCode::Ok, &(), last),
            Err(e) => {
                self.stats.auth_failed += 1;
                let reason = match e {
                    AuthError::UnknownScheme => "auth with an unknown scheme",
                    AuthError::TooManyIds => "auth: too many ids on one connection",
                    AuthError::IdTooLong => "auth: id too long",
                };
                fx.note(Note::BadInput { conn, reason: &reason });
                self.out.reply(fx, conn, xid, Zxid::ZERO, ErrorCode::AuthFailed, &(), last);
                self.close_conn(conn, fx);
            }
        }
    }

    /// setWatches / setWatches2 after a reconnect (section 8.5): catch-up events for what
    /// changed since `relative_zxid`, registration for the rest, then the reply.
    fn set_watches<F: Effects>(
        &mut self,
        conn: ConnId,
        xid: Xid,
        relative_zxid: i64,
        lists: [jute::StrList<'_>; 5],
        fx: &mut F,
    ) -> Result<(), Fail> {
        let [data, exist, child, persistent, recursive] = lists;
        let last = self.db.last_zxid;
        let full = |_| Fail::Limit("watches (herd.watchesMax)");
        for path in data.iter() {
            match self.db.tree.lookup(path) {
                None => self.out.notify(fx, conn, EventType::NodeDeleted, path, last),
                Some(id) if self.db.tree.stat(id).mzxid > relative_zxid => {
                    self.out.notify(fx, conn, EventType::NodeDataChanged, path, last)
                }
                Some(_) => self.register_watch(conn, path, WatchKind::Data, WatchMode::OneShot)?,
            }
        }
        for path in exist.iter() {
            match self.db.tree.lookup(path) {
                Some(_) => self.out.notify(fx, conn, EventType::NodeCreated, path, last),
                None => self.register_watch(conn, path, WatchKind::Data, WatchMode::OneShot)?,
            }
        }
        for path in child.iter() {
            match self.db.tree.lookup(path) {
                None => self.out.notify(fx, conn, EventType::NodeDeleted, path, last),
                Some(id) if self.db.tree.stat(id).pzxid > relative_zxid => {
                    self.out.notify(fx, conn, EventType::NodeChildrenChanged, path, last)
                }
                Some(_) => self.register_watch(conn, path, WatchKind::Child, WatchMode::OneShot)?,
            }
        }
        for path in persistent.iter() {
            self.watch_room(2)?;
            self.watches.add_watch(conn, path, false).map_err(full)?;
        }
        for path in recursive.iter() {
            self.watch_room(2)?;
            self.watches.add_watch(conn, path, true).map_err(full)?;
        }
        self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &(), last);
        Ok(())
    }

    fn create<F: Effects>(
        &mut self,
        now: Now,
        conn: ConnId,
        session: SessionId,
        xid: Xid,
        args: &CreateArgs<'_>,
        fx: &mut F,
    ) -> Result<(), Fail> {
        let (tree, ids) = (&self.db.tree, self.conns.auth(conn));
        let mut prep = Prep {
            tree,
            overlay: Overlay::new(self.overlay_buf),
            track: false,
            ids,
            extended_types: self.cfg.extended_types,
            budget: None,
        };
        let op = prep.create(args, self.path_buf, self.acl_buf)?;
        let TxnOp::Create { path, .. } = op else { return Err(ErrorCode::SystemError.into()) };
        let zxid = commit!(self, now, session, op, fx, None)?;
        if args.opcode == OpCode::Create {
            self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &jute::PathRecord { path }, zxid);
        } else {
            let stat = self.db.tree.lookup(path).map(|id| self.db.tree.stat(id)).unwrap_or_default();
            self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &jute::Create2Response { path, stat }, zxid);
        }
        Ok(())
    }

    /// multi (section 4.3): every op validated against the state the earlier ones leave;
    /// all applied under one zxid, or none with per-op results.
    fn multi<F: Effects>(
        &mut self,
        now: Now,
        conn: ConnId,
        session: SessionId,
        xid: Xid,
        m: MultiRequest<'_>,
        fx: &mut F,
    ) -> Result<(), Fail> {
        if m.len() > prep::MULTI_OPS_MAX {
            return Err(Fail::Limit("ops in one multi"));
        }
        // Validation pass: pack each op's txn; stop at the first failure.
        let mut failed: Option<(usize, ErrorCode)> = None;
        let mut packed = 0usize;
        let mut count = 0u32;
        {
            let (tree, ids) = (&self.db.tree, self.conns.auth(conn));
            let mut prep = Prep {
                tree,
                overlay: Overlay::new(self.overlay_buf),
                track: true,
                ids,
                extended_types: self.cfg.extended_types,
                budget: Some(tree.budget()),
            };
            for (i, op) in m.iter().enumerate() {
                // Each op gets fresh path/ACL scratch: its txn is packed before the next.
                let outcome: Result<Option<TxnOp<'_>>, ErrorCode> = match op {
                    MultiOp::Create { opcode, req: c } => {
                        let args =
                            CreateArgs { opcode, path: c.path, data: c.data, acl: c.acl, flags: c.flags, ttl: -1 };
                        prep.create(&args, self.path_buf, self.acl_buf).map(Some)
                    }
                    MultiOp::CreateTtl(c) => {
                        let args = CreateArgs {
                            opcode: OpCode::CreateTtl,
                            path: c.path,
                            data: c.data,
                            acl: c.acl,
                            flags: c.flags,
                            ttl: c.ttl,
                        };
                        prep.create(&args, self.path_buf, self.acl_buf).map(Some)
                    }
                    MultiOp::Delete(d) => prep.delete(d.path, d.version).map(Some),
                    MultiOp::SetData(s) => prep.set_data(s.path, s.data, s.version).map(Some),
                    MultiOp::Check(c) => prep.check(c.path, c.version).map(|()| None),
                    MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::MarshallingError),
                };
                match outcome {
                    Ok(Some(txn_op)) => {
                        if !push_multi_op(&txn_op, self.multi_buf, &mut packed) {
                            return Err(Fail::Limit("multi larger than scratch"));
                        }
                        count += 1;
                    }
                    Ok(None) => {}
                    Err(code) => {
                        failed = Some((i, code));
                        break;
                    }
                }
            }
        }
        if let Some((at, code)) = failed {
            let results = m.iter().enumerate().map(|(i, _)| {
                let err = match i.cmp(&at) {
                    core::cmp::Ordering::Less => ErrorCode::Ok,
                    core::cmp::Ordering::Equal => code,
                    core::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                };
                let r: MultiResult<'_, jute::StrList<'_>> = MultiResult::Error { err };
                r
            });
            let zxid = self.error_txn(now, conn, OpCode::Multi, code, fx);
            let body = reply::MultiResults(results);
            self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &body, zxid);
            return Ok(());
        }
        let op = TxnOp::Multi { count, ops: &self.multi_buf[..packed] };
        let mut stats = OpStats::new();
        let zxid = commit!(self, now, session, op, fx, Some(&mut stats))?;
        // Results: walk the request beside the packed txn ops (final paths) and the Stats
        // each create and setData had right after it ran.
        let mut packed_ops = crate::txn::multi_ops(count, &self.multi_buf[..packed]);
        let mut op_stats = stats.iter().copied();
        let mut results: heapless::Vec<reply::MultiEntry<'_>, { prep::MULTI_OPS_MAX }> = heapless::Vec::new();
        for op in m.iter() {
            let entry = match op {
                MultiOp::Check(_) => reply::MultiEntry::Check,
                _ => match packed_ops.next() {
                    Some(Ok(TxnOp::Create { path, .. })) => {
                        let create2 = !matches!(op, MultiOp::Create { opcode: OpCode::Create, .. });
                        reply::MultiEntry::Create { path, stat: op_stats.next().unwrap_or_default(), create2 }
                    }
                    Some(Ok(TxnOp::Delete { .. })) => reply::MultiEntry::Delete,
                    Some(Ok(TxnOp::SetData { .. })) => reply::MultiEntry::SetData(op_stats.next().unwrap_or_default()),
                    _ => reply::MultiEntry::Error(ErrorCode::SystemError),
                },
            };
            // Cannot overflow: the request was checked against MULTI_OPS_MAX.
            let _ = results.push(entry);
        }
        let body = reply::MultiResults(results.iter().map(|e| e.as_result()));
        self.out.reply(fx, conn, xid, zxid, ErrorCode::Ok, &body, zxid);
        Ok(())
    }

    /// multiRead: each read on its own; failures are per-entry errors, no watches set.
    fn multi_read<F: Effects>(&mut self, conn: ConnId, xid: Xid, m: MultiRequest<'_>, fx: &mut F) {
        let last = self.db.last_zxid;
        let body = reply::MultiReads { tree: &self.db.tree, ids: self.conns.auth(conn), req: m };
        self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
    }

    // ----- recovery ----------------------------------------------------------------------

    /// Applies a txn record from the log during start-up (no connections exist yet).
    pub fn replay(&mut self, now: Now, record: &[u8]) -> Result<Zxid, ApplyError> {
        let txn = Txn::decode(record).map_err(|_| ApplyError::BadRecord)?;
        if txn.zxid <= self.db.last_zxid {
            // Already in the snapshot.
            return Ok(txn.zxid);
        }
        self.db.apply(now.instant, &txn, &mut NoEvents)?;
        self.durable = txn.zxid;
        Ok(txn.zxid)
    }

    /// After recovery: restart every restored session's expiry clock, as ZooKeeper does.
    pub fn finish_recovery(&mut self, now: Now) {
        self.db.sessions.touch_all(now.instant);
        self.durable = self.db.last_zxid;
    }
}

fn tree_limit_name(e: crate::tree::TreeError) -> &'static str {
    use crate::tree::TreeError;
    match e {
        TreeError::NodesFull => "znodes (herd.znodesMax)",
        TreeError::BytesFull | TreeError::TooLarge => "data bytes (herd.dataBytesMax)",
        TreeError::AclsFull => "ACL lists (herd.aclListsMax)",
        TreeError::SessionsFull => "sessions with ephemerals (herd.sessionsMax)",
        _ => "tree state",
    }
}

/// [`Server::commit`] over split borrows, for callers that hold scratch-derived txn ops.
#[allow(clippy::too_many_arguments)]
fn commit_split<F: Effects>(
    db: &mut Db<'_>,
    watches: &mut WatchTable<'_>,
    conns: &mut ConnTable<'_>,
    out: &mut Outbox<'_>,
    txn_buf: &mut [u8],
    stats: &mut ServerStats,
    now: Now,
    session: SessionId,
    op: TxnOp<'_>,
    fx: &mut F,
    op_stats: Option<&mut OpStats>,
) -> Result<Zxid, Fail> {
    let zxid = db.last_zxid.next().ok_or(Fail::Limit("zxid counter exhausted"))?;
    let txn = Txn { zxid, time_ms: now.wall_ms, session, op };
    let Some(record) = txn.encode(txn_buf) else { return Err(Fail::Limit("txn record larger than scratch")) };
    let record: &[u8] = record;
    let mut sink = Notifier { watches, conns, out, fx, zxid, stats: op_stats };
    match db.apply(now.instant, &txn, &mut sink) {
        Ok(()) => {
            fx.append(zxid, record);
            stats.txns += 1;
            Ok(zxid)
        }
        Err(ApplyError::Tree(e)) => Err(Fail::Limit(tree_limit_name(e))),
        Err(ApplyError::SessionsFull) => Err(Fail::Limit("sessions (herd.sessionsMax)")),
        Err(_) => Err(Fail::Code(ErrorCode::SystemError)),
    }
}

/// Delivers a txn's watch events to the connections watching, READ permitting (the 3.8.4
/// fix for CVE-2024-23944; 3.8.0 delivered regardless).
struct Notifier<'a, 'w, 'c, 'o, F: Effects> {
    watches: &'a mut WatchTable<'w>,
    conns: &'a mut ConnTable<'c>,
    out: &'a mut Outbox<'o>,
    fx: &'a mut F,
    zxid: Zxid,
    /// Where a multi collects the Stat of each create and setData, in order.
    stats: Option<&'a mut OpStats>,
}

/// The Stats of a multi's creates and setDatas, in op order.
type OpStats = heapless::Vec<crate::stat::Stat, { prep::MULTI_OPS_MAX }>;

impl<F: Effects> EventSink for Notifier<'_, '_, '_, '_, F> {
    fn applied(&mut self, stat: crate::stat::Stat) {
        if let Some(stats) = self.stats.as_deref_mut() {
            // Bounded by MULTI_OPS_MAX, which a multi was checked against.
            let _ = stats.push(stat);
        }
    }

    fn event(&mut self, path: &[u8], event: WatchEvent, acl: &[u8]) {
        let (conns, out, fx, zxid) = (&mut *self.conns, &mut *self.out, &mut *self.fx, self.zxid);
        let kind = EventType::from_code(event.code());
        self.watches.trigger(path, event, |conn, _| {
            if acl::check(acl, Perms::READ, conns.auth(conn)) {
                out.notify(fx, conn, kind, path, zxid);
            }
        });
    }
}
