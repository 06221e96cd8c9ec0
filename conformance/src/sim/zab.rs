//! Whole ZAB ensembles under the simulator: FastLeaderElection, the leader and follower
//! roles of `proto_core::zab` over a bounded [`TxnLog`], a small znode store applied from
//! committed txns, durable state that survives crashes, and clients whose history is
//! checked for linearizability at the end of every run.
//!
//! **A server** ([`ZabReplica`]) is a simplified `shell-std` ensemble member: after every
//! input it drains the election (outcome, then notifications) and the role in the order
//! `proto_core::zab` prescribes (storage, transmits, commits, syncs, events). An election
//! outcome starts a [`Leader`] or [`Follower`] over the server's log; when the role ends the
//! log comes back and the server looks again. The store ([`Tree`]) holds only what the
//! server applied from `poll_commit`, so the leader hands its whole log to [`Leader::new`]
//! uncommitted and applies that history once it is established (the `Leader` docs allow
//! either; `shell-std`, whose tree holds every logged txn, commits the log first).
//!
//! **Storage.** Every storage operation but an append is a barrier: the server stops (inputs
//! wait in a queue) until the simulated disk reports it durable, as a real server blocks on
//! fsync. Appends are reported with `handle_durable` when the disk completes them. A role
//! starts only once every append of the previous role is durable: both roles take the log
//! they are given as durable. Every [`SNAPSHOT_EVERY`] applied txns the server writes a
//! snapshot of its store (not a barrier); a restart loads the snapshot and replays the
//! records after it as uncommitted, which the next sync commits or truncates.
//!
//! **Connections.** Election notifications are datagrams: delayed, lost, duplicated.
//! Everything else travels on one connection per pair of servers, modelled over the same
//! network: each message carries the connection's number and its sequence number in it.
//! A gap (a lost message) or a message out of place breaks the connection, as a TCP reset
//! would: both sides move to a higher connection number, their roles are told
//! (`Leader::handle_disconnect`; a follower goes back to LOOKING), and nothing sent on the
//! old connection is delivered after that. Duplicates are dropped. The swarm's links are
//! made FIFO for these runs, so "loss" means a broken connection, never a reordering
//! inside one.
//!
//! **Clients** ([`ZabClients`]) send writes (set, compare-and-set, create, delete on
//! [`PATHS`]) to the server they believe leads; a server that is not an established leader
//! answers "not leader" with the leader it follows, and the client goes there (writes are
//! not forwarded by followers). Reads go to any server that serves: plain reads answer
//! from its store (refused if it is behind what the session saw), sync+reads first pass
//! through `Leader::sync` (forwarded by a follower as a REQUEST, answered by a SYNC
//! reply). A write is acknowledged when the leader applies it after its commit. Up to
//! [`PIPELINE`] writes go out back to back; a server answers a client's requests in the
//! order they came, and each answer names the server's boot, so a client tells requests
//! lost with a crashed server's connection from answers out of order. A client that times
//! out, or whose server drops its requests (the role ended), records the outcome as
//! unknown.
//!
//! **Runs.** Besides the [`Swarm`] (drawn as for elections, with FIFO links), each seed
//! draws ZAB's tick (ZooKeeper's 2 s, or 500 or 200 ms when the network allows, for many
//! more elections per run) and the clients' load (in a quarter of the runs enough writes
//! to fill every log, so that leaders evict what lagging learners need).
//!
//! **Checks** ([`ZabChecker`], after every step): at most one leader is ever established
//! per epoch; the txns servers apply form one chain (each server's applied sequence is a
//! prefix of one sequence, and a snapshot a server loads is the state of that sequence at
//! its zxid); no acknowledged write is skipped by a server that applies past it; and the
//! clients check per-session FIFO (replies in request order, a session's acknowledged
//! writes in increasing zxid order, a server never answers a read from state older than
//! the session saw). At the end the clients' history must be linearizable
//! ([`linearize::check`]), and the ensemble must converge: one established leader, every
//! server following it up to date, every client's final write and then a sync+read
//! answered. A server that accepted a later epoch from a leader that never got established
//! refuses the established leader (as ZooKeeper's learner does) until the next epoch, and
//! is left out of "every server" ([`mark::STRANDED`]); it is always a minority.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use proto_core::election::{Dest, Election, Outcome, ServerState, VoteInputs};
use proto_core::log::{Entry, TxnLog};
use proto_core::peer::{decode_frame, encode_frame, PeerMessage, FRAME_PREFIX_BYTES};
use proto_core::quorum::{LearnerType, Majority, Member, QuorumVerifier, ServerId};
use proto_core::txn::{CreateKind, Txn, TxnOp};
use proto_core::zab::{
    Epochs, Event as LeaderEvent, Follower, FollowerState, Handled, Leader, LeaderState, ProposeError, RoleEnd,
    SnapshotError, SnapshotSink, SnapshotSource, Storage, ZabConfig,
};
use proto_core::{Instant, SessionId, Xid, Zxid};

use super::check::{Checker, Marks, NodeView, Violation};
use super::linearize::{self, History, Op, OpResult};
use super::replica::{ClientId, Output, Replica};
use super::rng::{Ratio, Rng};
use super::swarm::Swarm;
use super::{election, Clients, Report, RunOptions, Simulator, Tracer};

/// The ensemble's timing in most runs: ZooKeeper's sample zoo.cfg (tick 2 s, initLimit
/// 10, syncLimit 5).
pub const ZAB: ZabConfig = ZabConfig::DEFAULT;

/// The ticks a run draws from: ZooKeeper's default in half the runs, and short ones, under
/// which a run of the same length sees many more elections, timeouts and role changes.
pub const TICKS_MS: [u64; 4] = [ZAB.tick_ms, ZAB.tick_ms, 500, 200];

/// Index slots of a server's in-memory log. Far fewer than a real server's, so that busy
/// leaders evict entries lagging learners still need (they are synced by SNAP), and a
/// follower whose syncs keep failing fills its log with uncommitted entries.
pub const LOG_ENTRIES: usize = 64;

/// Record bytes of a server's in-memory log (a txn here is about 40 bytes).
pub const LOG_BYTES: usize = 4 * 1024;

/// Boots per server a run's [`LogPool`] is sized for at most; more are rare (the
/// swarm's shortest mean time between crashes is a second) and get leaked slots.
pub const POOL_BOOTS_MAX: usize = 64;

/// Txns a server applies between two snapshots of its store (ZooKeeper's `snapCount`,
/// scaled down so that restarts load snapshots).
pub const SNAPSHOT_EVERY: u64 = 16;

/// Bytes of one SNAP chunk: small, so that every snapshot takes several.
pub const SNAP_CHUNK_BYTES: usize = 48;

/// Scratch for one encoded peer frame; the largest here is a proposal of one txn.
const FRAME_BYTES: usize = 4 * 1024;

/// Scratch for one encoded txn.
const TXN_BYTES: usize = 512;

/// Rounds of draining after one input before the server is declared stuck (each round
/// drains everything; more than a few means two parts of the server feed each other).
const PUMP_ROUNDS_MAX: usize = 64;

/// Times a follower that has heard nothing from its leader yet starts again on a new
/// connection before it gives up and looks for another leader.
const FOLLOWER_RESTARTS_MAX: u32 = 2;

/// The znodes clients write: few, so that operations collide.
pub const PATHS: [&str; 4] = ["/a", "/b", "/c", "/d"];

/// Most clients a run draws.
pub const CLIENTS_MAX: u64 = 4;

/// Most operations one client starts during the safety phase (its budget is drawn up to
/// this); bounds the history the linearizability check searches.
pub const CLIENT_OPS_MAX: u64 = 40;

/// The same in a quarter of the runs: enough writes to push every log past its
/// [`LOG_ENTRIES`], so that leaders evict entries that lagging learners still need.
pub const CLIENT_OPS_HEAVY_MAX: u64 = 150;

/// Writes a client may have sent and not yet had answered, on one connection.
pub const PIPELINE: usize = 2;

/// How long a client waits for an answer before it gives up (outcome unknown).
pub const CLIENT_TIMEOUT_MS: u64 = 5_000;

/// Longest pause between a client's operations.
pub const THINK_MS_MAX: u64 = 1_000;

/// Longest pause before a client retries after a refusal.
pub const BACKOFF_MS_MAX: u64 = 500;

/// How long a run may take to converge once faults stop: what an election needs, plus
/// a leader's initLimit, plus the clients' final write and read with their timeouts.
pub const LIVENESS_MS: u64 = election::LIVENESS_MS + 2 * ZAB.tick_ms * ZAB.init_limit as u64 + 4 * CLIENT_TIMEOUT_MS;

/// Steps one run may take before it counts as stuck (a message storm).
pub const STEPS_MAX: u64 = 2_000_000;

/// Seeds the stream of the options [`Swarm`] does not cover.
const KNOBS_SEED: u64 = 0x7A62_5F6B_6E6F_6273;

/// Search budget of the final linearizability check.
pub const LINEARIZE_BUDGET: u64 = linearize::BUDGET_DEFAULT;

/// ZooKeeper's `NoNode` error code, carried by a failed write's txn.
const NO_NODE: i32 = -101;
/// ZooKeeper's `BadVersion`.
const BAD_VERSION: i32 = -103;
/// ZooKeeper's `NodeExists`.
const NODE_EXISTS: i32 = -110;

// ---------------------------------------------------------------------------------------
// Storage for the in-memory logs.

/// Storage for the servers' in-memory logs during one run.
///
/// A [`TxnLog`] borrows its storage, and a crash drops the log with the replica. The pool
/// is split into one slot per boot before the run, lives as long as the run and is freed
/// with it; a run that boots more often than planned gets extra slots that are leaked.
pub struct LogPool<'a> {
    free: RefCell<Vec<(&'a mut [u8], &'a mut [Entry])>>,
    extra: Cell<u64>,
}

impl fmt::Debug for LogPool<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogPool({} free, {} extra)", self.free.borrow().len(), self.extra.get())
    }
}

impl<'a> LogPool<'a> {
    /// A pool over `bytes` and `index`, split into slots of [`LOG_BYTES`] and
    /// [`LOG_ENTRIES`].
    pub fn new(bytes: &'a mut [u8], index: &'a mut [Entry]) -> LogPool<'a> {
        let free = bytes
            .chunks_mut(LOG_BYTES)
            .zip(index.chunks_mut(LOG_ENTRIES))
            .filter(|(b, i)| b.len() == LOG_BYTES && i.len() == LOG_ENTRIES)
            .collect();
        LogPool { free: RefCell::new(free), extra: Cell::new(0) }
    }

    /// Slots a run under `swarm` is expected to need: one per boot, crashes included, up
    /// to [`POOL_BOOTS_MAX`] per server.
    pub fn slots_for(swarm: &Swarm) -> usize {
        let crashes = (3 * swarm.safety_ms).checked_div(swarm.crash_every_ms).map_or(0, |c| c + 2);
        swarm.nodes() * (2 + crashes as usize).min(POOL_BOOTS_MAX)
    }

    /// Slots handed out beyond the pool.
    pub fn extra(&self) -> u64 {
        self.extra.get()
    }

    fn take(&self) -> (&'a mut [u8], &'a mut [Entry]) {
        if let Some(slot) = self.free.borrow_mut().pop() {
            return slot;
        }
        self.extra.set(self.extra.get() + 1);
        (
            Box::leak(vec![0u8; LOG_BYTES].into_boxed_slice()),
            Box::leak(vec![Entry::EMPTY; LOG_ENTRIES].into_boxed_slice()),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Configuration and injected faults.

/// A deliberately wrong server, to show that the checkers catch it (tests only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The server as it should be.
    None,
    /// The leader's quorum rule counts one voter short: it establishes itself and commits
    /// with one acknowledgement fewer than a majority.
    #[cfg(test)]
    ShortQuorum,
    /// The server reports every append durable as soon as it is written: followers ACK,
    /// and the leader counts itself, before the disk has the record.
    #[cfg(test)]
    AckBeforeDurable,
}

/// The ensemble of a ZAB run.
#[derive(Clone, Debug)]
pub struct ZabSimConfig<'a> {
    /// Voters and observers.
    pub members: Majority,
    /// ZAB's timing.
    pub zab: ZabConfig,
    /// Storage for the in-memory logs.
    pub pool: &'a LogPool<'a>,
    #[cfg_attr(not(test), allow(dead_code))]
    fault: Fault,
}

/// The quorum rule the ZAB roles use: the members' majority, or one voter short under
/// [`Fault::ShortQuorum`].
#[derive(Clone, Copy, Debug)]
pub struct SimQuorum {
    members: Majority,
    short: bool,
}

impl QuorumVerifier for SimQuorum {
    fn is_voter(&self, id: ServerId) -> bool {
        self.members.is_voter(id)
    }

    fn is_observer(&self, id: ServerId) -> bool {
        self.members.is_observer(id)
    }

    fn contains_quorum<I: IntoIterator<Item = ServerId>>(&self, ids: I) -> bool {
        if !self.short {
            return self.members.contains_quorum(ids);
        }
        let mut voters: Vec<ServerId> = ids.into_iter().filter(|id| self.members.is_voter(*id)).collect();
        voters.sort();
        voters.dedup();
        voters.len() + 1 >= self.members.quorum_size()
    }
}

// ---------------------------------------------------------------------------------------
// The store.

/// znode path → (data, version).
pub type Nodes = BTreeMap<Vec<u8>, (Vec<u8>, i32)>;

/// A server's store: the txns it applied, as of `zxid`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// The last txn applied (or the snapshot's).
    pub zxid: Zxid,
    /// The znodes.
    pub nodes: Nodes,
}

/// What applying a txn did, as a write's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteResult {
    /// A create or delete took effect.
    Ok,
    /// A setData took effect; the znode's new version.
    Set(i32),
    /// The write failed with this ZooKeeper error code (it still took a zxid).
    Error(i32),
}

impl Tree {
    /// A digest of the znodes (not the zxid): equal stores have equal digests.
    pub fn digest(&self) -> u64 {
        digest_nodes(&self.nodes)
    }

    /// Encodes the store as the snapshot a leader streams.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.nodes.len() as u32).to_be_bytes());
        for (path, (data, version)) in &self.nodes {
            out.extend_from_slice(&(path.len() as u32).to_be_bytes());
            out.extend_from_slice(path);
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(&version.to_be_bytes());
        }
        out
    }

    /// Decodes [`Tree::encode`]'s bytes as the store at `zxid`.
    pub fn decode(zxid: Zxid, bytes: &[u8]) -> Option<Tree> {
        fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
            if bytes.len() < n {
                return None;
            }
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            Some(head)
        }
        fn word(bytes: &mut &[u8]) -> Option<u32> {
            Some(u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?))
        }
        let mut rest = bytes;
        let count = word(&mut rest)?;
        let mut nodes = Nodes::new();
        for _ in 0..count {
            let n = word(&mut rest)? as usize;
            let path = take(&mut rest, n)?.to_vec();
            let n = word(&mut rest)? as usize;
            let data = take(&mut rest, n)?.to_vec();
            let version = word(&mut rest)? as i32;
            nodes.insert(path, (data, version));
        }
        rest.is_empty().then_some(Tree { zxid, nodes })
    }
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

const FNV_START: u64 = 0xCBF2_9CE4_8422_2325;

fn digest_nodes(nodes: &Nodes) -> u64 {
    let mut h = FNV_START;
    for (path, (data, version)) in nodes {
        h = fnv(h, &(path.len() as u64).to_le_bytes());
        h = fnv(h, path);
        h = fnv(h, &(data.len() as u64).to_le_bytes());
        h = fnv(h, data);
        h = fnv(h, &version.to_le_bytes());
    }
    h
}

/// Applies one txn's change. Deterministic: the leader checked the write when it
/// proposed it, so a change that does not fit (never expected) is answered as an error
/// and changes nothing.
fn apply_op(nodes: &mut Nodes, op: &TxnOp<'_>) -> WriteResult {
    match *op {
        TxnOp::Create { path, data, .. } => {
            if nodes.contains_key(path) {
                return WriteResult::Error(NODE_EXISTS);
            }
            nodes.insert(path.to_vec(), (data.unwrap_or(&[]).to_vec(), 0));
            WriteResult::Ok
        }
        TxnOp::SetData { path, data } => match nodes.get_mut(path) {
            Some((d, v)) => {
                *d = data.unwrap_or(&[]).to_vec();
                *v = v.wrapping_add(1);
                WriteResult::Set(*v)
            }
            None => WriteResult::Error(NO_NODE),
        },
        TxnOp::Delete { path } => match nodes.remove(path) {
            Some(_) => WriteResult::Ok,
            None => WriteResult::Error(NO_NODE),
        },
        TxnOp::Error { code } => WriteResult::Error(code),
        _ => WriteResult::Error(0),
    }
}

/// A client's write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Create `path`.
    Create {
        /// The znode.
        path: String,
        /// Its data.
        data: Vec<u8>,
    },
    /// Set `path`'s data, if its version is `version` (any version when `None`).
    Set {
        /// The znode.
        path: String,
        /// The new data.
        data: Vec<u8>,
        /// Compare-and-set.
        version: Option<i32>,
    },
    /// Delete `path`, if its version is `version` (any version when `None`).
    Delete {
        /// The znode.
        path: String,
        /// Compare-and-delete.
        version: Option<i32>,
    },
}

/// The txn a leader proposes for `w` against `nodes` (its store plus the proposals in
/// flight): the change, or the error ZooKeeper's PrepRequestProcessor would log.
fn prepare<'w>(nodes: &Nodes, w: &'w WriteOp) -> TxnOp<'w> {
    let fits = |expected: &Option<i32>, v: i32| expected.map_or(true, |e| e == v);
    match w {
        WriteOp::Create { path, data } => {
            if nodes.contains_key(path.as_bytes()) {
                TxnOp::Error { code: NODE_EXISTS }
            } else {
                TxnOp::Create { path: path.as_bytes(), data: Some(data), acl: &[], kind: CreateKind::Persistent }
            }
        }
        WriteOp::Set { path, data, version } => match nodes.get(path.as_bytes()) {
            None => TxnOp::Error { code: NO_NODE },
            Some((_, v)) if !fits(version, *v) => TxnOp::Error { code: BAD_VERSION },
            Some(_) => TxnOp::SetData { path: path.as_bytes(), data: Some(data) },
        },
        WriteOp::Delete { path, version } => match nodes.get(path.as_bytes()) {
            None => TxnOp::Error { code: NO_NODE },
            Some((_, v)) if !fits(version, *v) => TxnOp::Error { code: BAD_VERSION },
            Some(_) => TxnOp::Delete { path: path.as_bytes() },
        },
    }
}

// ---------------------------------------------------------------------------------------
// Durable state.

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct ZabDisk {
    /// The epoch files.
    pub epochs: Epochs,
    /// The latest snapshot of the store (empty at zxid 0 at first).
    pub snapshot: Tree,
    /// Txn records after the snapshot, in zxid order.
    pub log: Vec<(Zxid, Vec<u8>)>,
}

/// One write to a server's disk.
#[derive(Clone, Debug)]
pub enum ZabWrite {
    /// Both epoch files (a barrier).
    Epochs(Epochs),
    /// One txn record at the log's end.
    Append {
        /// Its zxid.
        zxid: Zxid,
        /// The record.
        record: Vec<u8>,
    },
    /// Every record above `after` dropped (a barrier).
    Truncate {
        /// The last zxid kept.
        after: Zxid,
    },
    /// A snapshot of the store the server applied; records it covers are dropped.
    Snapshot(Tree),
    /// The leader's snapshot replaces the store and the whole log (a barrier).
    Install(Tree),
}

impl ZabWrite {
    fn is_barrier(&self) -> bool {
        matches!(self, ZabWrite::Epochs(_) | ZabWrite::Truncate { .. } | ZabWrite::Install(_))
    }
}

// ---------------------------------------------------------------------------------------
// Messages, requests, notices.

/// A quorum connection's number: both sides use the higher they know of, and a new one
/// (a broken connection replaced) starts both sequence numbers at 0.
pub type ConnNumber = u64;

/// A message between servers; the payload is a peer frame body (`decode_frame`'s input).
#[derive(Clone, PartialEq, Eq)]
pub enum ZabMessage {
    /// An election notification (a datagram).
    Election(Vec<u8>),
    /// A ZAB message, `seq`-th on connection `conn`.
    Quorum {
        /// The connection.
        conn: ConnNumber,
        /// Its place on the connection, from 0.
        seq: u64,
        /// The frame body.
        frame: Vec<u8>,
    },
    /// The sender broke the connection; the next one is `conn`.
    Reset {
        /// The new connection's number.
        conn: ConnNumber,
    },
}

impl fmt::Debug for ZabMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |f: &mut fmt::Formatter<'_>, frame: &[u8]| match decode_frame(frame) {
            Ok(m) => write!(f, "{m}"),
            Err(e) => write!(f, "undecodable frame ({e})"),
        };
        match self {
            ZabMessage::Election(frame) => show(f, frame),
            ZabMessage::Quorum { conn, seq, frame } => {
                write!(f, "[conn {conn:x} #{seq}] ")?;
                show(f, frame)
            }
            ZabMessage::Reset { conn } => write!(f, "RESET to conn {conn:x}"),
        }
    }
}

/// A client's request to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabRequest {
    /// A write, for the leader.
    Write {
        /// The client's operation number (echoed in the reply).
        op: u64,
        /// What to write.
        write: WriteOp,
    },
    /// A read of `path`, after a sync when `sync` is set. A plain read is refused unless
    /// the server's store has reached `min_zxid` (the session's last seen zxid, as a
    /// ZooKeeper server refuses a session that has seen more than it); a synced one must
    /// be answered from a store that has.
    Read {
        /// The client's operation number.
        op: u64,
        /// The znode.
        path: String,
        /// Sync first (through the leader's read index).
        sync: bool,
        /// What the session has seen.
        min_zxid: Zxid,
    },
}

/// A server's answer to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZabReply {
    /// The operation answered.
    pub op: u64,
    /// When the answering server booted: a request sent before that went to an earlier
    /// incarnation, and was lost with its connection.
    pub boot: Instant,
    /// The answer.
    pub answer: Answer,
}

/// What a server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The write was committed and applied under `zxid`.
    Written {
        /// Its txn.
        zxid: Zxid,
        /// Its outcome.
        result: WriteResult,
    },
    /// The read's answer, from the store at `zxid`.
    Read {
        /// The store's zxid.
        zxid: Zxid,
        /// The znode's data and version, if it exists.
        value: Option<(Vec<u8>, i32)>,
    },
    /// This server does not lead; `leader` is the one it follows, if it knows. Nothing
    /// was done.
    NotLeader {
        /// Where to send writes.
        leader: Option<ServerId>,
    },
    /// Not served (not serving yet, busy, or behind the session); nothing was done.
    Refused,
    /// The request was dropped with the server's role: its outcome is unknown.
    Lost,
}

/// Facts a server reports to the checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabNotice {
    /// The store was loaded at `zxid` (at boot from the disk, or from the leader's SNAP).
    Loaded {
        /// The store's zxid.
        zxid: Zxid,
        /// Its digest.
        state: u64,
        /// Records replayed after it, uncommitted (at boot).
        tail: usize,
        /// From the leader's snapshot (else from this server's disk).
        from_leader: bool,
    },
    /// A committed txn was applied.
    Applied {
        /// The store's zxid before.
        prev: Zxid,
        /// The txn's zxid.
        zxid: Zxid,
        /// A digest of the txn record.
        txn: u64,
        /// The store's digest after.
        state: u64,
    },
    /// This server became the established leader of `epoch`.
    Established {
        /// The epoch.
        epoch: u32,
    },
    /// This server follows `leader` in `epoch` and serves clients.
    Serving {
        /// Its leader.
        leader: ServerId,
        /// The epoch.
        epoch: u32,
    },
    /// The role ended; the server looks for a leader.
    RoleEnded {
        /// It was leading.
        leading: bool,
        /// Why.
        why: RoleEnd,
    },
    /// A role started only once the appends of the previous role were durable.
    RoleDeferred,
    /// A peer broke the protocol; its connection is reset.
    Misbehaving {
        /// The peer.
        peer: ServerId,
        /// What it did.
        what: String,
    },
    /// The connection to `peer` was reset.
    ConnectionReset {
        /// The peer.
        peer: ServerId,
    },
    /// A snapshot of the store went to the disk.
    SnapshotWritten,
    /// A follower's sync came back from the leader.
    SyncForwarded,
    /// A leader's log is full: its next proposal evicts the oldest committed entry.
    LogFull,
    /// The simulated server cannot go on: a limit of the simulation (not of the code under
    /// test) was reached. The checker reports it as a failure to look into.
    Broken(String),
}

// ---------------------------------------------------------------------------------------
// Snapshot streams.

/// The leader's store as a SNAP source: a copy per learner, taken when its SNAP starts.
struct Source<'t> {
    tree: &'t Tree,
    streams: &'t mut BTreeMap<ServerId, Vec<u8>>,
}

impl SnapshotSource for Source<'_> {
    fn begin(&mut self, to: ServerId) -> Result<Zxid, SnapshotError> {
        self.streams.insert(to, self.tree.encode());
        Ok(self.tree.zxid)
    }

    fn read(&mut self, to: ServerId, offset: u64, buf: &mut [u8]) -> Result<(usize, bool), SnapshotError> {
        let bytes = self.streams.get(&to).ok_or(SnapshotError)?;
        let rest = bytes.get(offset as usize..).ok_or(SnapshotError)?;
        let n = rest.len().min(buf.len());
        buf.get_mut(..n).ok_or(SnapshotError)?.copy_from_slice(rest.get(..n).ok_or(SnapshotError)?);
        let last = n == rest.len();
        if last {
            self.streams.remove(&to);
        }
        Ok((n, last))
    }
}

/// A follower's snapshot being received.
struct Sink<'s>(&'s mut Option<(Zxid, Vec<u8>)>);

impl SnapshotSink for Sink<'_> {
    fn write(&mut self, zxid: Zxid, offset: u64, bytes: &[u8], _last: bool) -> Result<(), SnapshotError> {
        if offset == 0 {
            *self.0 = Some((zxid, Vec::new()));
        }
        let Some((z, buf)) = self.0.as_mut() else { return Err(SnapshotError) };
        if *z != zxid || buf.len() as u64 != offset {
            return Err(SnapshotError);
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The server.

/// The quorum connection with one peer.
#[derive(Clone, Copy, Debug, Default)]
struct Conn {
    number: ConnNumber,
    sent: u64,
    received: u64,
}

impl Conn {
    fn used(&self) -> bool {
        self.sent > 0 || self.received > 0
    }
}

/// The ZAB role, with what the shell keeps about it.
enum Role<'a> {
    Looking,
    Leading(Box<Leader<'a, SimQuorum>>),
    Following { f: Box<Follower<'a>>, restarts: u32 },
}

/// An input that arrived while the server waited for a barrier write.
enum Input {
    Message(ServerId, ZabMessage),
    Request(ClientId, ZabRequest),
}

/// A read waiting for its sync.
#[derive(Clone, Debug)]
struct PendingRead {
    client: ClientId,
    op: u64,
    path: String,
}

/// One simulated ensemble member.
pub struct ZabReplica<'a> {
    id: ServerId,
    /// When this incarnation booted.
    boot: Instant,
    config: ZabSimConfig<'a>,
    election: Election<Majority>,
    role: Role<'a>,
    /// The log while no role holds it.
    log: Option<TxnLog<'a>>,
    /// An election outcome whose role waits for the previous role's appends.
    waiting: Option<Outcome>,
    epochs: Epochs,
    tree: Tree,
    applied_since_snapshot: u64,
    /// Barrier writes handed to the disk and not yet durable.
    barriers: usize,
    /// Appends handed to the disk and not yet durable.
    appends: usize,
    /// Inputs held while a barrier is pending, oldest first.
    deferred: VecDeque<Input>,
    timeout_deferred: bool,
    /// This incarnation's first connection number: above any an earlier one used.
    conn_base: ConnNumber,
    conns: BTreeMap<ServerId, Conn>,
    /// Peers whose connection was reset, for the role to hear about.
    lost: Vec<ServerId>,
    /// FOLLOWERINFO frames received while looking, for the leader role to come.
    early: Vec<(ServerId, Vec<u8>)>,
    snap_out: BTreeMap<ServerId, Vec<u8>>,
    snap_in: Option<(Zxid, Vec<u8>)>,
    /// Leader: proposals of client writes, answered when applied.
    writes: BTreeMap<Zxid, (ClientId, u64)>,
    /// Reads waiting for their sync, by (session, cxid).
    syncs: BTreeMap<(i64, i32), PendingRead>,
    /// Follower: SYNC replies received, answered after the commits before them.
    sync_answers: Vec<(SessionId, Xid)>,
    /// Per client, its requests in arrival order with their answers once known.
    answers: BTreeMap<ClientId, VecDeque<(u64, Option<Answer>)>>,
    /// The role's Established/Serving notice went out.
    serving_noted: bool,
    frame: Vec<u8>,
    chunk: Vec<u8>,
    outbox: VecDeque<Output<ZabReplica<'a>>>,
}

/// How a server stands, for the checkers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Looking for a leader (or waiting to start its role).
    Looking,
    /// Leading `epoch` (once fixed); established or not.
    Leading {
        /// The epoch, once discovery fixed it.
        epoch: Option<u32>,
        /// A quorum acked NEWLEADER.
        established: bool,
    },
    /// Following `leader`.
    Following {
        /// The leader.
        leader: ServerId,
        /// Its epoch, once LEADERINFO came.
        epoch: Option<u32>,
        /// UPTODATE arrived.
        serving: bool,
    },
}

impl<'a> ZabReplica<'a> {
    /// This server.
    pub fn id(&self) -> ServerId {
        self.id
    }

    /// The store.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The role.
    pub fn standing(&self) -> Standing {
        match &self.role {
            Role::Looking => Standing::Looking,
            Role::Leading(l) => Standing::Leading { epoch: l.epoch(), established: l.is_established() },
            Role::Following { f, .. } => {
                Standing::Following { leader: f.leader(), epoch: f.epoch(), serving: f.is_serving() }
            }
        }
    }

    /// The epoch this server leads as an established leader.
    pub fn established_epoch(&self) -> Option<u32> {
        match &self.role {
            Role::Leading(l) if l.is_established() => l.epoch(),
            _ => None,
        }
    }

    /// This server's `acceptedEpoch`.
    pub fn accepted_epoch(&self) -> u32 {
        self.epochs.accepted
    }

    /// The last zxid in this server's log.
    pub fn last_logged(&self) -> Zxid {
        match &self.role {
            Role::Looking => self.log.as_ref().map_or(Zxid::ZERO, |l| l.last_zxid()),
            Role::Leading(l) => l.log().last_zxid(),
            Role::Following { f, .. } => f.log().last_zxid(),
        }
    }

    /// True when nothing is held back: no barrier pending, no role waiting to start.
    pub fn settled(&self) -> bool {
        self.barriers == 0 && self.waiting.is_none() && self.deferred.is_empty()
    }

    fn blocked(&self) -> bool {
        self.barriers > 0
    }

    fn notice(&mut self, n: ZabNotice) {
        self.outbox.push_back(Output::Notice(n));
    }

    /// Answers `client`'s request `op`. Answers go out in the order the requests came,
    /// as a ZooKeeper server answers a session: one ready early waits for those before it.
    fn reply(&mut self, client: ClientId, op: u64, answer: Answer) {
        let queue = self.answers.entry(client).or_default();
        match queue.iter_mut().find(|(o, a)| *o == op && a.is_none()) {
            Some((_, slot)) => *slot = Some(answer),
            None => queue.push_back((op, Some(answer))),
        }
        while let Some((op, Some(answer))) = queue.front().cloned() {
            queue.pop_front();
            let reply = ZabReply { op, boot: self.boot, answer };
            self.outbox.push_back(Output::Reply { client, reply });
        }
    }

    fn write(&mut self, w: ZabWrite) {
        if w.is_barrier() {
            self.barriers += 1;
        }
        if matches!(w, ZabWrite::Append { .. }) {
            self.appends += 1;
        }
        self.outbox.push_back(Output::Write(w));
    }

    fn quorum(&self) -> SimQuorum {
        #[cfg(test)]
        let short = self.config.fault == Fault::ShortQuorum;
        #[cfg(not(test))]
        let short = false;
        SimQuorum { members: self.config.members, short }
    }

    #[cfg(test)]
    fn fault(&self) -> Fault {
        self.config.fault
    }

    // ---- connections ----

    fn conn(&mut self, peer: ServerId) -> &mut Conn {
        let base = self.conn_base;
        self.conns.entry(peer).or_insert(Conn { number: base, sent: 0, received: 0 })
    }

    /// Moves to connection `number` with `peer` (higher than the current one); the role
    /// hears that the old one is gone if anything went over it.
    fn enter(&mut self, peer: ServerId, number: ConnNumber) {
        let c = self.conn(peer);
        let was_used = c.used();
        *c = Conn { number, sent: 0, received: 0 };
        if was_used {
            self.lost.push(peer);
            self.notice(ZabNotice::ConnectionReset { peer });
        }
    }

    /// Breaks the connection with `peer` if anything went over it: a new one, announced
    /// with a RESET.
    fn reset_conn(&mut self, peer: ServerId) {
        if self.conn(peer).used() {
            self.force_reset(peer);
        }
    }

    /// Moves to a new connection with `peer` and announces it.
    fn force_reset(&mut self, peer: ServerId) {
        let number = self.conn(peer).number + 1;
        self.enter(peer, number);
        self.outbox.push_back(Output::Send { to: peer, msg: ZabMessage::Reset { conn: number } });
    }

    /// Takes a message on the connection with `from`; true when it is the next one.
    fn accept(&mut self, from: ServerId, number: ConnNumber, seq: u64) -> bool {
        let c = *self.conn(from);
        if number < c.number {
            // Sent on a connection that is gone. If the peer has not spoken on the current
            // one, it may not know of it: tell it (else this is a late duplicate).
            if c.received == 0 {
                self.outbox.push_back(Output::Send { to: from, msg: ZabMessage::Reset { conn: c.number } });
            }
            return false;
        }
        if number > c.number {
            self.enter(from, number);
        }
        let c = self.conn(from);
        if seq == c.received {
            c.received += 1;
            return true;
        }
        if seq > c.received {
            // A message on this connection never arrived: it is broken.
            self.force_reset(from);
        }
        // Else a duplicate.
        false
    }

    fn send_quorum(&mut self, to: ServerId, frame: Vec<u8>) {
        let c = self.conn(to);
        let msg = ZabMessage::Quorum { conn: c.number, seq: c.sent, frame };
        c.sent += 1;
        self.outbox.push_back(Output::Send { to, msg });
    }

    fn encode(buf: &mut [u8], msg: &PeerMessage<'_>) -> Option<Vec<u8>> {
        let n = encode_frame(msg, buf).ok()?;
        buf.get(FRAME_PREFIX_BYTES..n).map(<[u8]>::to_vec)
    }

    fn send_peer(&mut self, to: ServerId, msg: &PeerMessage<'_>) {
        let mut buf = std::mem::take(&mut self.frame);
        let frame = Self::encode(&mut buf, msg);
        self.frame = buf;
        match frame {
            Some(frame) => self.send_quorum(to, frame),
            None => self.notice(ZabNotice::Broken(format!("{} does not fit a frame", msg.name()))),
        }
    }

    // ---- inputs ----

    fn on_message(&mut self, now: Instant, from: ServerId, msg: ZabMessage) {
        match msg {
            ZabMessage::Election(frame) => {
                if let Ok(PeerMessage::Notification(n)) = decode_frame(&frame) {
                    // Rejections are the election's own filters; ignoring them is safe.
                    let _ = self.election.handle_notification(now, from, n);
                }
            }
            ZabMessage::Quorum { conn, seq, frame } => {
                if self.accept(from, conn, seq) {
                    self.on_quorum(now, from, frame);
                }
            }
            ZabMessage::Reset { conn } => {
                if conn > self.conn(from).number {
                    self.enter(from, conn);
                }
            }
        }
    }

    /// A ZAB frame from `from`, in order on its connection.
    fn on_quorum(&mut self, now: Instant, from: ServerId, frame: Vec<u8>) {
        let msg = match decode_frame(&frame) {
            Ok(m) => m,
            Err(e) => {
                self.notice(ZabNotice::Misbehaving { peer: from, what: format!("undecodable frame: {e}") });
                self.reset_conn(from);
                return;
            }
        };
        let mut role = std::mem::replace(&mut self.role, Role::Looking);
        let handled = match &mut role {
            Role::Looking => {
                if matches!(msg, PeerMessage::FollowerInfo { .. }) {
                    // A follower decided before this server did: keep its hello for the
                    // leader role the election may be about to give it.
                    self.early.retain(|(p, _)| *p != from);
                    self.early.push((from, frame.clone()));
                }
                Ok(Handled::Ignored)
            }
            Role::Leading(l) => l.handle_peer(now, from, &msg),
            Role::Following { f, .. } => f.handle_peer(now, from, &msg, &mut Sink(&mut self.snap_in)),
        };
        let mut reset = false;
        match handled {
            Ok(Handled::ForServer) => match (&mut role, msg) {
                (Role::Leading(l), PeerMessage::Request { session, cxid, opcode: 9, .. }) => {
                    // A follower's client synced; refused (not synced yet, busy) means
                    // that client times out.
                    let _ = l.sync(now, from, session, cxid);
                }
                (Role::Following { .. }, PeerMessage::SyncReply { session, cxid }) => {
                    self.sync_answers.push((session, cxid));
                    self.notice(ZabNotice::SyncForwarded);
                }
                _ => {}
            },
            Ok(_) => {}
            Err(bad) => {
                self.notice(ZabNotice::Misbehaving { peer: from, what: bad.to_string() });
                reset = true;
            }
        }
        self.role = role;
        if reset {
            self.reset_conn(from);
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        self.election.handle_timeout(now);
        match &mut self.role {
            Role::Looking => {}
            Role::Leading(l) => l.handle_timeout(now),
            Role::Following { f, .. } => f.handle_timeout(now),
        }
    }

    fn on_request(&mut self, now: Instant, client: ClientId, request: ZabRequest) {
        let op = match &request {
            ZabRequest::Write { op, .. } | ZabRequest::Read { op, .. } => *op,
        };
        self.answers.entry(client).or_default().push_back((op, None));
        match request {
            ZabRequest::Write { op, write } => self.on_write(now, client, op, write),
            ZabRequest::Read { op, path, sync, min_zxid } => self.on_read(now, client, op, path, sync, min_zxid),
        }
    }

    fn on_write(&mut self, now: Instant, client: ClientId, op: u64, write: WriteOp) {
        let answer = match &mut self.role {
            Role::Leading(l) if l.is_established() => {
                // The write runs against the store plus every proposal not yet applied,
                // as ZooKeeper's PrepRequestProcessor checks against outstanding changes.
                let mut nodes = self.tree.nodes.clone();
                for (_, record) in l.log().range_after(self.tree.zxid) {
                    if let Ok(t) = Txn::decode(record) {
                        apply_op(&mut nodes, &t.op);
                    }
                }
                match l.next_zxid() {
                    None => Some(Answer::NotLeader { leader: None }),
                    Some(zxid) => {
                        let txn = Txn {
                            zxid,
                            time_ms: now.0 as i64,
                            session: SessionId(client.0 as i64),
                            op: prepare(&nodes, &write),
                        };
                        let mut buf = [0u8; TXN_BYTES];
                        match txn.encode(&mut buf) {
                            None => Some(Answer::Refused),
                            Some(bytes) => match l.propose(now, bytes) {
                                Ok(z) => {
                                    self.writes.insert(z, (client, op));
                                    if l.log().len() == l.log().entries_max() {
                                        self.outbox.push_back(Output::Notice(ZabNotice::LogFull));
                                    }
                                    None
                                }
                                Err(ProposeError::Busy) => Some(Answer::Refused),
                                Err(_) => Some(Answer::NotLeader { leader: None }),
                            },
                        }
                    }
                }
            }
            Role::Following { f, .. } if f.is_serving() => Some(Answer::NotLeader { leader: Some(f.leader()) }),
            _ => Some(Answer::NotLeader { leader: None }),
        };
        if let Some(a) = answer {
            self.reply(client, op, a);
        }
    }

    fn on_read(&mut self, now: Instant, client: ClientId, op: u64, path: String, sync: bool, min_zxid: Zxid) {
        let serving = match &self.role {
            Role::Leading(l) => l.is_established(),
            Role::Following { f, .. } => f.is_serving(),
            Role::Looking => false,
        };
        if !serving || (self.tree.zxid < min_zxid && !sync) {
            self.reply(client, op, Answer::Refused);
            return;
        }
        if !sync {
            self.answer_read(client, op, &path);
            return;
        }
        let session = SessionId(client.0 as i64);
        let cxid = Xid(op as i32);
        let pending = PendingRead { client, op, path };
        let forward_to = match &mut self.role {
            Role::Leading(l) => {
                if l.sync(now, self.id, session, cxid).is_err() {
                    self.reply(client, op, Answer::Refused);
                    return;
                }
                None
            }
            Role::Following { f, .. } => Some(f.leader()),
            Role::Looking => return,
        };
        if let Some(leader) = forward_to {
            let msg = PeerMessage::Request { session, cxid, opcode: 9, body: &[], auth: &[] };
            self.send_peer(leader, &msg);
        }
        self.syncs.insert((session.0, cxid.0), pending);
    }

    /// Answers a read from the store. A plain read was refused above if the store is
    /// behind the session; after a sync it cannot be (the client checks).
    fn answer_read(&mut self, client: ClientId, op: u64, path: &str) {
        let value = self.tree.nodes.get(path.as_bytes()).cloned();
        self.reply(client, op, Answer::Read { zxid: self.tree.zxid, value });
    }

    fn answer_sync(&mut self, session: SessionId, cxid: Xid) {
        if let Some(p) = self.syncs.remove(&(session.0, cxid.0)) {
            self.answer_read(p.client, p.op, &p.path);
        }
    }

    // ---- draining ----

    /// Drains the election and the role until neither has anything more to say.
    fn pump(&mut self, now: Instant) {
        for _ in 0..PUMP_ROUNDS_MAX {
            if self.blocked() {
                return;
            }
            let mut progress = false;
            if let Some(o) = self.election.poll_outcome() {
                progress = true;
                self.decided(now, o);
            }
            while let Some(t) = self.election.poll_transmit() {
                progress = true;
                let mut buf = std::mem::take(&mut self.frame);
                let frame = Self::encode(&mut buf, &PeerMessage::Notification(t.notification));
                self.frame = buf;
                let Some(frame) = frame else { continue };
                match t.to {
                    Dest::Voters => {
                        let voters: Vec<ServerId> = self.config.members.voters().filter(|v| *v != self.id).collect();
                        for v in voters {
                            self.outbox.push_back(Output::Send { to: v, msg: ZabMessage::Election(frame.clone()) });
                        }
                    }
                    Dest::Server(to) => {
                        self.outbox.push_back(Output::Send { to, msg: ZabMessage::Election(frame) });
                    }
                }
            }
            progress |= self.drain_role(now);
            progress |= self.tell_lost(now);
            if !progress {
                return;
            }
        }
        self.notice(ZabNotice::Broken(format!("server {} kept producing for {PUMP_ROUNDS_MAX} rounds", self.id)));
    }

    /// The election decided: start the role once the log is durable.
    fn decided(&mut self, now: Instant, o: Outcome) {
        self.waiting = Some(o);
        self.try_start_role(now);
    }

    fn try_start_role(&mut self, now: Instant) {
        let Some(o) = self.waiting else { return };
        if self.appends > 0 {
            return;
        }
        self.waiting = None;
        let Some(log) = self.log.take() else { return };
        self.serving_noted = false;
        match o.state {
            ServerState::Leading => {
                let l = Leader::new(now, self.id, self.quorum(), self.config.zab, self.epochs, log);
                self.role = Role::Leading(Box::new(l));
                for (from, frame) in std::mem::take(&mut self.early) {
                    self.on_quorum(now, from, frame);
                }
            }
            ServerState::Following | ServerState::Observing => {
                let kind =
                    if o.state == ServerState::Observing { LearnerType::Observer } else { LearnerType::Participant };
                let f = Follower::new(now, self.id, o.leader, kind, self.config.zab, self.epochs, log);
                self.role = Role::Following { f: Box::new(f), restarts: 0 };
                self.early.clear();
            }
            ServerState::Looking => self.log = Some(log),
        }
    }

    /// Drains the role; ends it when it has ended and its storage is drained.
    fn drain_role(&mut self, now: Instant) -> bool {
        let mut role = std::mem::replace(&mut self.role, Role::Looking);
        let progress = match &mut role {
            Role::Looking => false,
            Role::Leading(l) => self.drain_leader(now, l),
            Role::Following { f, .. } => self.drain_follower(now, f),
        };
        let ended = match &role {
            Role::Looking => false,
            Role::Leading(l) => matches!(l.state(), LeaderState::Ended(_)),
            Role::Following { f, .. } => matches!(f.state(), FollowerState::Ended(_)),
        };
        if ended && !self.blocked() {
            self.end_role(now, role);
            return true;
        }
        self.role = role;
        progress
    }

    /// Carries out a storage operation; true when it is a barrier (stop draining).
    fn storage_op(&mut self, op: Storage, log: &TxnLog<'_>) -> (bool, Option<Zxid>) {
        match op {
            Storage::PersistEpochs(e) => {
                self.epochs = e;
                self.write(ZabWrite::Epochs(e));
                (true, None)
            }
            Storage::Append { zxid } => {
                let record = log.get(zxid).map(<[u8]>::to_vec).unwrap_or_default();
                self.write(ZabWrite::Append { zxid, record });
                #[cfg(test)]
                if self.fault() == Fault::AckBeforeDurable {
                    return (false, Some(zxid));
                }
                (false, None)
            }
            Storage::TruncateLog { after } => {
                self.write(ZabWrite::Truncate { after });
                (true, None)
            }
            Storage::InstallSnapshot { zxid } => {
                let tree = match self.snap_in.take() {
                    Some((z, bytes)) if z == zxid => Tree::decode(zxid, &bytes),
                    _ => None,
                };
                let Some(tree) = tree else {
                    self.notice(ZabNotice::Broken(format!("SNAP at {zxid} ended without a decodable store")));
                    return (false, None);
                };
                self.tree = tree;
                self.applied_since_snapshot = 0;
                let state = self.tree.digest();
                self.notice(ZabNotice::Loaded { zxid, state, tail: 0, from_leader: true });
                self.write(ZabWrite::Install(self.tree.clone()));
                (true, None)
            }
        }
    }

    /// Applies a committed txn to the store, and answers the write it was.
    fn apply_commit(&mut self, zxid: Zxid, record: Option<Vec<u8>>) {
        let prev = self.tree.zxid;
        let Some(record) = record else {
            self.notice(ZabNotice::Broken(format!("committed {zxid} is not in the log")));
            return;
        };
        let result = match Txn::decode(&record) {
            Ok(t) => apply_op(&mut self.tree.nodes, &t.op),
            Err(_) => {
                self.notice(ZabNotice::Broken(format!("committed {zxid} does not decode")));
                return;
            }
        };
        self.tree.zxid = zxid;
        let state = self.tree.digest();
        self.notice(ZabNotice::Applied { prev, zxid, txn: fnv(FNV_START, &record), state });
        if let Some((client, op)) = self.writes.remove(&zxid) {
            self.reply(client, op, Answer::Written { zxid, result });
        }
        self.applied_since_snapshot += 1;
        if self.applied_since_snapshot >= SNAPSHOT_EVERY {
            self.applied_since_snapshot = 0;
            self.write(ZabWrite::Snapshot(self.tree.clone()));
            self.notice(ZabNotice::SnapshotWritten);
        }
    }

    fn drain_leader(&mut self, now: Instant, l: &mut Leader<'a, SimQuorum>) -> bool {
        let mut progress = false;
        while let Some(op) = l.poll_storage() {
            progress = true;
            let (barrier, ack) = self.storage_op(op, l.log());
            if let Some(z) = ack {
                l.handle_durable(z);
            }
            if barrier {
                return true;
            }
        }
        let mut frames = Vec::new();
        {
            let mut chunk = std::mem::take(&mut self.chunk);
            let mut buf = std::mem::take(&mut self.frame);
            let mut source = Source { tree: &self.tree, streams: &mut self.snap_out };
            while let Some(t) = l.poll_transmit(&mut source, &mut chunk) {
                frames.push((t.to, Self::encode(&mut buf, &t.msg), t.msg.name()));
            }
            self.chunk = chunk;
            self.frame = buf;
        }
        for (to, frame, name) in frames {
            progress = true;
            match frame {
                Some(frame) => self.send_quorum(to, frame),
                None => self.notice(ZabNotice::Broken(format!("{name} does not fit a frame"))),
            }
        }
        while let Some(z) = l.poll_commit() {
            progress = true;
            let record = l.log().get(z).map(<[u8]>::to_vec);
            self.apply_commit(z, record);
        }
        if l.is_established() && !self.serving_noted {
            self.serving_noted = true;
            let epoch = l.epoch().unwrap_or(0);
            self.election.update_vote_epoch(epoch);
            self.notice(ZabNotice::Established { epoch });
        }
        while let Some((session, cxid)) = l.poll_sync() {
            progress = true;
            self.answer_sync(session, cxid);
        }
        while let Some(ev) = l.poll_event() {
            progress = true;
            let LeaderEvent::Disconnect(id) = ev;
            self.reset_conn(id);
        }
        let _ = now;
        progress
    }

    fn drain_follower(&mut self, now: Instant, f: &mut Follower<'a>) -> bool {
        let mut progress = false;
        while let Some(op) = f.poll_storage() {
            progress = true;
            let (barrier, ack) = self.storage_op(op, f.log());
            if let Some(z) = ack {
                f.handle_durable(z);
            }
            if barrier {
                return true;
            }
        }
        let mut frames = Vec::new();
        {
            let mut buf = std::mem::take(&mut self.frame);
            while let Some(t) = f.poll_transmit() {
                frames.push((t.to, Self::encode(&mut buf, &t.msg), t.msg.name()));
            }
            self.frame = buf;
        }
        for (to, frame, name) in frames {
            progress = true;
            match frame {
                Some(frame) => self.send_quorum(to, frame),
                None => self.notice(ZabNotice::Broken(format!("{name} does not fit a frame"))),
            }
        }
        while let Some(z) = f.poll_commit() {
            progress = true;
            let record = f.log().get(z).map(<[u8]>::to_vec);
            self.apply_commit(z, record);
        }
        if f.is_serving() && !self.serving_noted {
            self.serving_noted = true;
            let epoch = f.epoch().unwrap_or(0);
            self.election.update_vote_epoch(epoch);
            self.notice(ZabNotice::Serving { leader: f.leader(), epoch });
        }
        for (session, cxid) in std::mem::take(&mut self.sync_answers) {
            progress = true;
            self.answer_sync(session, cxid);
        }
        let _ = now;
        progress
    }

    /// Tells the role about connections that were reset.
    fn tell_lost(&mut self, now: Instant) -> bool {
        let lost = std::mem::take(&mut self.lost);
        if lost.is_empty() {
            return false;
        }
        for peer in lost {
            let restart = match &mut self.role {
                Role::Looking => {
                    self.early.retain(|(p, _)| *p != peer);
                    None
                }
                Role::Leading(l) => {
                    l.handle_disconnect(peer);
                    None
                }
                Role::Following { f, restarts } if f.leader() == peer => {
                    if f.state() == FollowerState::Discovery && *restarts < FOLLOWER_RESTARTS_MAX {
                        Some(*restarts + 1)
                    } else {
                        // ZooKeeper's follower leaves on any error of its leader's socket.
                        f.shutdown();
                        None
                    }
                }
                Role::Following { .. } => None,
            };
            if let Some(restarts) = restart {
                // Nothing heard from the leader yet: connect again and start over, as a
                // learner retries its connection.
                if let Role::Following { f, .. } = std::mem::replace(&mut self.role, Role::Looking) {
                    let kind = if self.config.members.is_voter(self.id) {
                        LearnerType::Participant
                    } else {
                        LearnerType::Observer
                    };
                    let leader = f.leader();
                    let f = Follower::new(now, self.id, leader, kind, self.config.zab, self.epochs, f.into_log());
                    self.role = Role::Following { f: Box::new(f), restarts };
                }
            }
        }
        true
    }

    fn end_role(&mut self, now: Instant, role: Role<'a>) {
        let (log, leading, why, peers) = match role {
            Role::Looking => return,
            Role::Leading(l) => {
                let why = match l.state() {
                    LeaderState::Ended(why) => why,
                    _ => RoleEnd::Shutdown,
                };
                let peers: Vec<ServerId> = self.conns.keys().copied().collect();
                (l.into_log(), true, why, peers)
            }
            Role::Following { f, .. } => {
                let why = match f.state() {
                    FollowerState::Ended(why) => why,
                    _ => RoleEnd::Shutdown,
                };
                let peers = vec![f.leader()];
                (f.into_log(), false, why, peers)
            }
        };
        self.notice(ZabNotice::RoleEnded { leading, why });
        self.log = Some(log);
        self.serving_noted = false;
        // The role's connections end with it, as ZooKeeper closes its learner sockets.
        for p in peers {
            self.reset_conn(p);
        }
        // Clients' pending requests go with the role: their outcome is unknown.
        self.writes.clear();
        self.syncs.clear();
        let waiting: Vec<(ClientId, u64)> = self
            .answers
            .iter()
            .flat_map(|(c, q)| q.iter().filter(|(_, a)| a.is_none()).map(|(op, _)| (*c, *op)))
            .collect();
        for (client, op) in waiting {
            self.reply(client, op, Answer::Lost);
        }
        self.sync_answers.clear();
        self.snap_out.clear();
        self.snap_in = None;
        self.look(now);
    }

    fn look(&mut self, now: Instant) {
        self.role = Role::Looking;
        let last = self.log.as_ref().map_or(self.tree.zxid, |l| l.last_zxid());
        self.election.start(now, VoteInputs { last_logged_zxid: last, current_epoch: self.epochs.current });
    }

    fn run_deferred(&mut self, now: Instant) {
        while !self.blocked() {
            let Some(input) = self.deferred.pop_front() else { break };
            match input {
                Input::Message(from, msg) => self.on_message(now, from, msg),
                Input::Request(client, request) => self.on_request(now, client, request),
            }
            self.pump(now);
        }
        if !self.blocked() && std::mem::take(&mut self.timeout_deferred) {
            self.on_timeout(now);
            self.pump(now);
        }
    }
}

impl<'a> Replica for ZabReplica<'a> {
    type Config = ZabSimConfig<'a>;
    type Message = ZabMessage;
    type Disk = ZabDisk;
    type Write = ZabWrite;
    type Request = ZabRequest;
    type Reply = ZabReply;
    type Notice = ZabNotice;

    fn boot(config: &ZabSimConfig<'a>, id: ServerId, disk: &ZabDisk, now: Instant) -> Self {
        let election = match Election::new(id, config.members) {
            Ok(e) => e,
            Err(e) => panic!("simulator set-up: server {id} is not a member: {e:?}"),
        };
        let (records, index) = config.pool.take();
        let mut log = TxnLog::new(records, index, disk.snapshot.zxid);
        let mut tail = 0;
        let mut overflow = None;
        for (zxid, record) in disk.log.iter().filter(|(z, _)| *z > disk.snapshot.zxid) {
            if let Err(e) = log.append(*zxid, record) {
                overflow = Some(format!("replaying {zxid} into the in-memory log: {e}"));
                break;
            }
            tail += 1;
        }
        let mut r = ZabReplica {
            id,
            boot: now,
            config: config.clone(),
            election,
            role: Role::Looking,
            log: Some(log),
            waiting: None,
            epochs: disk.epochs,
            tree: disk.snapshot.clone(),
            applied_since_snapshot: 0,
            barriers: 0,
            appends: 0,
            deferred: VecDeque::new(),
            timeout_deferred: false,
            // Above every number an earlier incarnation could have reached: each reset
            // adds one, and a server boots at a later millisecond than its last boot.
            conn_base: now.0 << 24,
            conns: BTreeMap::new(),
            lost: Vec::new(),
            early: Vec::new(),
            snap_out: BTreeMap::new(),
            snap_in: None,
            writes: BTreeMap::new(),
            syncs: BTreeMap::new(),
            sync_answers: Vec::new(),
            answers: BTreeMap::new(),
            serving_noted: false,
            frame: vec![0u8; FRAME_BYTES],
            chunk: vec![0u8; SNAP_CHUNK_BYTES],
            outbox: VecDeque::new(),
        };
        let state = r.tree.digest();
        r.notice(ZabNotice::Loaded { zxid: r.tree.zxid, state, tail, from_leader: false });
        if let Some(what) = overflow {
            r.notice(ZabNotice::Broken(what));
        }
        r.look(now);
        r.pump(now);
        r
    }

    fn handle_message(&mut self, now: Instant, from: ServerId, msg: ZabMessage) {
        if self.blocked() {
            self.deferred.push_back(Input::Message(from, msg));
            return;
        }
        self.on_message(now, from, msg);
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.blocked() {
            self.timeout_deferred = true;
            return;
        }
        self.on_timeout(now);
        self.pump(now);
    }

    fn handle_durable(&mut self, now: Instant, write: &ZabWrite) {
        if write.is_barrier() {
            self.barriers = self.barriers.saturating_sub(1);
        }
        if let ZabWrite::Append { zxid, .. } = write {
            self.appends = self.appends.saturating_sub(1);
            #[cfg(test)]
            let already = self.fault() == Fault::AckBeforeDurable;
            #[cfg(not(test))]
            let already = false;
            if !already {
                match &mut self.role {
                    Role::Leading(l) => l.handle_durable(*zxid),
                    Role::Following { f, .. } => f.handle_durable(*zxid),
                    Role::Looking => {}
                }
            }
            if self.appends == 0 && self.waiting.is_some() && !self.blocked() {
                self.notice(ZabNotice::RoleDeferred);
                self.try_start_role(now);
            }
        }
        if !self.blocked() {
            self.pump(now);
            self.run_deferred(now);
        }
    }

    fn handle_request(&mut self, now: Instant, client: ClientId, request: ZabRequest) {
        if self.blocked() {
            self.deferred.push_back(Input::Request(client, request));
            return;
        }
        self.on_request(now, client, request);
        self.pump(now);
    }

    fn poll_output(&mut self) -> Option<Output<Self>> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.blocked() {
            return None;
        }
        let role = match &self.role {
            Role::Looking => None,
            Role::Leading(l) => l.poll_timeout(),
            Role::Following { f, .. } => f.poll_timeout(),
        };
        [self.election.poll_timeout(), role].into_iter().flatten().min()
    }

    fn apply(disk: &mut ZabDisk, write: &ZabWrite) {
        match write {
            ZabWrite::Epochs(e) => disk.epochs = *e,
            ZabWrite::Append { zxid, record } => disk.log.push((*zxid, record.clone())),
            ZabWrite::Truncate { after } => disk.log.retain(|(z, _)| z <= after),
            ZabWrite::Snapshot(tree) => {
                disk.log.retain(|(z, _)| *z > tree.zxid);
                disk.snapshot = tree.clone();
            }
            ZabWrite::Install(tree) => {
                disk.log.clear();
                disk.snapshot = tree.clone();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The checker.

/// Marks the ZAB checker and clients record.
pub mod mark {
    /// A leader was established.
    pub const ESTABLISHED: &str = "zab.established";
    /// A leader's role ended.
    pub const LEADER_ENDED: &str = "zab.leader_ended";
    /// A follower's role ended.
    pub const FOLLOWER_ENDED: &str = "zab.follower_ended";
    /// A follower refused a leader whose epoch is below its acceptedEpoch.
    pub const EPOCH_REFUSED: &str = "zab.epoch_refused";
    /// A role ended: initLimit passed.
    pub const END_INIT_TIMEOUT: &str = "zab.end.init_timeout";
    /// A leader lost its quorum.
    pub const END_LOST_QUORUM: &str = "zab.end.lost_quorum";
    /// A leader found a follower ahead of it.
    pub const END_FOLLOWER_AHEAD: &str = "zab.end.follower_ahead";
    /// A leader's zxid counter would roll over.
    pub const END_COUNTER_ROLLOVER: &str = "zab.end.counter_rollover";
    /// A follower's leader went silent.
    pub const END_LEADER_SILENT: &str = "zab.end.leader_silent";
    /// A follower's leader broke the protocol.
    pub const END_LEADER_MISBEHAVED: &str = "zab.end.leader_misbehaved";
    /// A follower's log refused what the leader sent.
    pub const END_LOG_REFUSED: &str = "zab.end.log_refused";
    /// A follower could not store the leader's snapshot.
    pub const END_SNAPSHOT_FAILED: &str = "zab.end.snapshot_failed";
    /// A role was shut down (its connection to the leader broke).
    pub const END_SHUTDOWN: &str = "zab.end.shutdown";
    /// A leader's log filled up: later proposals evict committed entries.
    pub const LOG_FULL: &str = "zab.log_full";
    /// An observer was sent a committed txn.
    pub const INFORM: &str = "zab.inform";
    /// A follower refused an established leader: it had accepted a later epoch (from a
    /// leader that never got established), and cannot join until the next epoch.
    pub const STRANDED: &str = "zab.stranded";
    /// A server crashed while leading.
    pub const CRASH_WHILE_LEADING: &str = "zab.crash_while_leading";
    /// A server crashed while following.
    pub const CRASH_WHILE_FOLLOWING: &str = "zab.crash_while_following";
    /// A server booted with uncommitted records after its snapshot.
    pub const BOOT_WITH_TAIL: &str = "zab.boot_with_tail";
    /// A server booted from a snapshot it wrote.
    pub const BOOT_FROM_SNAPSHOT: &str = "zab.boot_from_snapshot";
    /// A learner was synced by DIFF with txns to send.
    pub const DIFF: &str = "zab.diff";
    /// A learner was told to truncate.
    pub const TRUNC: &str = "zab.trunc";
    /// A learner was synced by snapshot.
    pub const SNAP: &str = "zab.snap";
    /// A learner installed the leader's snapshot.
    pub const SNAP_INSTALLED: &str = "zab.snap_installed";
    /// A server wrote a snapshot of its store.
    pub const SNAPSHOT_WRITTEN: &str = "zab.snapshot_written";
    /// A role waited for the previous role's appends to be durable.
    pub const ROLE_DEFERRED: &str = "zab.role_deferred";
    /// A quorum connection was reset.
    pub const CONNECTION_RESET: &str = "zab.connection_reset";
    /// A peer's message was refused by a role.
    pub const MISBEHAVING: &str = "zab.misbehaving";
    /// A txn was applied.
    pub const APPLIED: &str = "zab.applied";
    /// A client's write was acknowledged.
    pub const WRITE_ACKED: &str = "client.write_acked";
    /// A write was acknowledged with an error (a failed compare-and-set, ...).
    pub const WRITE_FAILED: &str = "client.write_failed";
    /// A client gave up on a write: its outcome is unknown.
    pub const WRITE_UNKNOWN: &str = "client.write_unknown";
    /// A plain read was answered.
    pub const READ: &str = "client.read";
    /// A sync+read was answered.
    pub const SYNC_READ: &str = "client.sync_read";
    /// A follower forwarded a sync to its leader and had it answered.
    pub const SYNC_VIA_FOLLOWER: &str = "zab.sync_via_follower";
    /// A server answered "not leader".
    pub const NOT_LEADER: &str = "client.not_leader";
    /// A server refused a request.
    pub const REFUSED: &str = "client.refused";
    /// A server dropped a request with its role.
    pub const LOST: &str = "client.lost";
    /// A client timed out.
    pub const TIMEOUT: &str = "client.timeout";
    /// A reply reached a client after it gave up on the request.
    pub const LATE_REPLY: &str = "client.late_reply";
    /// A request was lost with its server's connection (the server restarted).
    pub const LOST_WITH_CONNECTION: &str = "client.lost_with_connection";
}

/// ZAB's guarantees, checked after every step (see the module docs).
#[derive(Debug)]
pub struct ZabChecker {
    /// The txn applied after each zxid: the one sequence every server's must follow.
    next: BTreeMap<Zxid, Zxid>,
    /// Digest of each applied txn.
    txns: BTreeMap<Zxid, u64>,
    /// Digest of the store after each applied txn.
    states: BTreeMap<Zxid, u64>,
    /// What each server has applied last.
    applied: BTreeMap<ServerId, Zxid>,
    /// Acknowledged writes, with the server that acknowledged them.
    acked: BTreeMap<Zxid, ServerId>,
    /// The leader established in each epoch.
    leaders: BTreeMap<u32, ServerId>,
}

impl Default for ZabChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl ZabChecker {
    /// A checker for a fresh ensemble.
    pub fn new() -> ZabChecker {
        let mut states = BTreeMap::new();
        states.insert(Zxid::ZERO, digest_nodes(&Nodes::new()));
        ZabChecker {
            next: BTreeMap::new(),
            txns: BTreeMap::new(),
            states,
            applied: BTreeMap::new(),
            acked: BTreeMap::new(),
            leaders: BTreeMap::new(),
        }
    }

    /// Writes acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.len()
    }

    /// Txns in the one committed sequence.
    pub fn committed(&self) -> usize {
        self.txns.len()
    }

    fn on_notice(&mut self, now: Instant, node: ServerId, n: &ZabNotice, marks: &mut Marks) -> Result<(), Violation> {
        let fail = |what: String| Err(Violation { at: now, what: format!("server {node}: {what}") });
        match n {
            ZabNotice::Loaded { zxid, state, tail, from_leader } => {
                if *from_leader {
                    marks.hit(mark::SNAP_INSTALLED);
                } else {
                    if *tail > 0 {
                        marks.hit(mark::BOOT_WITH_TAIL);
                    }
                    if *zxid > Zxid::ZERO {
                        marks.hit(mark::BOOT_FROM_SNAPSHOT);
                    }
                }
                match self.states.get(zxid) {
                    Some(s) if s == state => {}
                    Some(_) => {
                        return fail(format!("loaded a store at {zxid} that differs from the one applied there"))
                    }
                    None => return fail(format!("loaded a store at {zxid}, which no server applied")),
                }
                self.applied.insert(node, *zxid);
                Ok(())
            }
            ZabNotice::Applied { prev, zxid, txn, state } => {
                marks.hit(mark::APPLIED);
                let at = self.applied.get(&node).copied().unwrap_or(Zxid::ZERO);
                if at != *prev {
                    return fail(format!("applied {zxid} after {prev}, but its store was at {at}"));
                }
                if zxid <= prev {
                    return fail(format!("applied {zxid} after {prev}: out of order"));
                }
                if let Some((lost, by)) = self.acked.range(prev.next().unwrap_or(*zxid)..*zxid).next() {
                    return fail(format!(
                        "applied {zxid} right after {prev}: the write acknowledged by server {by} as {lost} is lost"
                    ));
                }
                match self.next.get(prev) {
                    Some(n) if n != zxid => {
                        return fail(format!(
                            "applied {zxid} after {prev}, but another server applied {n} after {prev}: \
                             the committed sequences diverge"
                        ))
                    }
                    Some(_) => {}
                    None => {
                        self.next.insert(*prev, *zxid);
                    }
                }
                match self.txns.get(zxid) {
                    Some(t) if t != txn => {
                        return fail(format!("applied a txn {zxid} that differs from another server's"))
                    }
                    Some(_) => {}
                    None => {
                        self.txns.insert(*zxid, *txn);
                    }
                }
                match self.states.get(zxid) {
                    Some(s) if s != state => {
                        return fail(format!("its store after {zxid} differs from another server's"))
                    }
                    Some(_) => {}
                    None => {
                        self.states.insert(*zxid, *state);
                    }
                }
                self.applied.insert(node, *zxid);
                Ok(())
            }
            ZabNotice::Established { epoch } => {
                marks.hit(mark::ESTABLISHED);
                match self.leaders.insert(*epoch, node) {
                    Some(other) if other != node => {
                        fail(format!("established as leader of epoch {epoch}, which server {other} leads"))
                    }
                    _ => Ok(()),
                }
            }
            ZabNotice::RoleEnded { leading, why } => {
                marks.hit(if *leading { mark::LEADER_ENDED } else { mark::FOLLOWER_ENDED });
                if let RoleEnd::EpochRefused(e) = why {
                    if self.leaders.contains_key(e) {
                        marks.hit(mark::STRANDED);
                    }
                }
                marks.hit(match why {
                    RoleEnd::InitTimeout => mark::END_INIT_TIMEOUT,
                    RoleEnd::LostQuorum => mark::END_LOST_QUORUM,
                    RoleEnd::FollowerAhead(_) => mark::END_FOLLOWER_AHEAD,
                    RoleEnd::CounterRollover => mark::END_COUNTER_ROLLOVER,
                    RoleEnd::LeaderSilent => mark::END_LEADER_SILENT,
                    RoleEnd::EpochRefused(_) => mark::EPOCH_REFUSED,
                    RoleEnd::LeaderMisbehaved => mark::END_LEADER_MISBEHAVED,
                    RoleEnd::LogRefused => mark::END_LOG_REFUSED,
                    RoleEnd::SnapshotFailed => mark::END_SNAPSHOT_FAILED,
                    RoleEnd::Shutdown => mark::END_SHUTDOWN,
                });
                Ok(())
            }
            ZabNotice::RoleDeferred => {
                marks.hit(mark::ROLE_DEFERRED);
                Ok(())
            }
            ZabNotice::Misbehaving { .. } => {
                marks.hit(mark::MISBEHAVING);
                Ok(())
            }
            ZabNotice::ConnectionReset { .. } => {
                marks.hit(mark::CONNECTION_RESET);
                Ok(())
            }
            ZabNotice::SnapshotWritten => {
                marks.hit(mark::SNAPSHOT_WRITTEN);
                Ok(())
            }
            ZabNotice::LogFull => {
                marks.hit(mark::LOG_FULL);
                Ok(())
            }
            ZabNotice::SyncForwarded => {
                marks.hit(mark::SYNC_VIA_FOLLOWER);
                Ok(())
            }
            ZabNotice::Serving { .. } => Ok(()),
            ZabNotice::Broken(what) => fail(format!("the simulation cannot go on: {what}")),
        }
    }
}

impl Checker<ZabReplica<'_>> for ZabChecker {
    fn on_output(
        &mut self,
        now: Instant,
        node: ServerId,
        output: &Output<ZabReplica<'_>>,
        marks: &mut Marks,
    ) -> Result<(), Violation> {
        match output {
            Output::Notice(n) => self.on_notice(now, node, n, marks),
            Output::Reply { reply: ZabReply { answer: Answer::Written { zxid, .. }, .. }, .. } => {
                if self.applied.get(&node) < Some(zxid) || !self.txns.contains_key(zxid) {
                    return Err(Violation {
                        at: now,
                        what: format!("server {node} acknowledged {zxid} before applying it"),
                    });
                }
                self.acked.insert(*zxid, node);
                Ok(())
            }
            Output::Send { msg: ZabMessage::Quorum { frame, .. }, .. } => {
                match decode_frame(frame) {
                    Ok(PeerMessage::Trunc { .. }) => marks.hit(mark::TRUNC),
                    Ok(PeerMessage::Snap { .. }) => marks.hit(mark::SNAP),
                    Ok(PeerMessage::Diff { zxid }) if zxid > Zxid::ZERO => marks.hit(mark::DIFF),
                    Ok(PeerMessage::Inform { .. }) => marks.hit(mark::INFORM),
                    _ => {}
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_crash(&mut self, _now: Instant, _node: ServerId, replica: &ZabReplica<'_>, marks: &mut Marks) {
        match replica.standing() {
            Standing::Leading { .. } => marks.hit(mark::CRASH_WHILE_LEADING),
            Standing::Following { .. } => marks.hit(mark::CRASH_WHILE_FOLLOWING),
            Standing::Looking => {}
        }
    }

    fn check(
        &mut self,
        now: Instant,
        nodes: &[NodeView<'_, ZabReplica<'_>>],
        _marks: &mut Marks,
    ) -> Result<(), Violation> {
        // At most one established leader per epoch, also among the servers up right now
        // (the notices catch it across time).
        let mut seen: BTreeMap<u32, ServerId> = BTreeMap::new();
        for n in nodes {
            let Some(e) = n.replica.and_then(|r| r.established_epoch()) else { continue };
            if let Some(other) = seen.insert(e, n.id) {
                return Err(Violation {
                    at: now,
                    what: format!("servers {other} and {} are both established leaders of epoch {e}", n.id),
                });
            }
        }
        Ok(())
    }

    fn converged(&self, _now: Instant, nodes: &[NodeView<'_, ZabReplica<'_>>]) -> bool {
        let mut leader = None;
        for n in nodes {
            let Some(r) = n.replica else { return false };
            if let Some(e) = r.established_epoch() {
                if leader.is_some() {
                    return false;
                }
                leader = Some((n.id, e, r.tree().zxid, r.last_logged()));
            }
        }
        let Some((id, epoch, applied, last)) = leader else { return false };
        let following = Standing::Following { leader: id, epoch: Some(epoch), serving: true };
        applied == last
            && nodes.iter().all(|n| {
                n.replica.is_some_and(|r| {
                    // A server that accepted a later epoch (from a leader that never got
                    // established) refuses this leader's LEADERINFO, as ZooKeeper's learner
                    // does, until the next epoch: it cannot join (a minority, since this
                    // leader's quorum accepted less).
                    let stranded = r.accepted_epoch() > epoch;
                    stranded || r.settled() && r.tree().zxid == applied && (n.id == id || r.standing() == following)
                })
            })
    }
}

// ---------------------------------------------------------------------------------------
// Clients.

/// A client's request in flight.
#[derive(Clone, Debug)]
struct Pending {
    op: u64,
    server: ServerId,
    /// When it was sent.
    sent: Instant,
    what: Op,
    /// The history's clock at the invocation.
    invoked: u64,
    deadline: Instant,
    min_zxid: Zxid,
    is_write: bool,
    /// One of the client's final operations (liveness phase).
    last: bool,
}

/// Where a client is in the liveness phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finale {
    /// Not begun (safety phase).
    Idle,
    /// Its final write must be acknowledged.
    Write,
    /// Then a sync+read must be answered.
    Read,
    /// Finished.
    Done,
}

/// A time so late it means "when a reply comes".
const NEVER: Instant = Instant(u64::MAX);

#[derive(Clone, Debug)]
struct Client {
    id: ClientId,
    /// The server the client believes leads.
    target: ServerId,
    budget: u64,
    next_at: Instant,
    next_op: u64,
    outstanding: VecDeque<Pending>,
    /// The highest zxid the session has seen.
    last_zxid: Zxid,
    /// The zxid of its last acknowledged write.
    last_write: Zxid,
    versions: BTreeMap<String, i32>,
    finale: Finale,
}

/// The simulated clients of a ZAB run (see the module docs).
pub struct ZabClients {
    rng: Rng,
    servers: Vec<ServerId>,
    clients: Vec<Client>,
    history: History,
    clock: u64,
    liveness: bool,
    outbox: VecDeque<(ServerId, ClientId, ZabRequest)>,
}

impl ZabClients {
    /// `count` clients of servers `servers`, each with a budget of operations drawn up to
    /// `ops_max`.
    pub fn new(mut rng: Rng, servers: Vec<ServerId>, count: u64, ops_max: u64) -> ZabClients {
        let clients = (1..=count)
            .map(|i| Client {
                id: ClientId(i),
                target: servers[rng.index(servers.len())],
                budget: rng.range(1, ops_max),
                next_at: Instant(rng.range(0, THINK_MS_MAX)),
                next_op: 1,
                outstanding: VecDeque::new(),
                last_zxid: Zxid::ZERO,
                last_write: Zxid::ZERO,
                versions: BTreeMap::new(),
                finale: Finale::Idle,
            })
            .collect();
        ZabClients {
            rng,
            servers,
            clients,
            history: History::new(),
            clock: 0,
            liveness: false,
            outbox: VecDeque::new(),
        }
    }

    /// What the clients recorded.
    pub fn history(&self) -> &History {
        &self.history
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn random_server(&mut self) -> ServerId {
        self.servers[self.rng.index(self.servers.len())]
    }

    /// Starts client `i`'s next operation, if it is time.
    fn issue(&mut self, i: usize, now: Instant) {
        let Some(c) = self.clients.get(i) else { return };
        if now < c.next_at {
            return;
        }
        let (kind, last) = if self.liveness {
            if !c.outstanding.is_empty() {
                self.clients[i].next_at = NEVER;
                return;
            }
            match c.finale {
                Finale::Idle | Finale::Write => (2, true),
                Finale::Read => (1, true),
                Finale::Done => {
                    self.clients[i].next_at = NEVER;
                    return;
                }
            }
        } else {
            if c.budget == 0 {
                self.clients[i].next_at = NEVER;
                return;
            }
            if !c.outstanding.is_empty() {
                // Pipeline another write on the same connection, or wait for the answers.
                let can =
                    c.outstanding.len() < PIPELINE && c.outstanding.iter().all(|p| p.is_write && p.server == c.target);
                if !can || !self.rng.coin() {
                    self.clients[i].next_at = NEVER;
                    return;
                }
                (2, false)
            } else {
                (self.rng.below(4), false)
            }
        };
        let op = self.clients[i].next_op;
        self.clients[i].next_op += 1;
        let path = PATHS[self.rng.index(PATHS.len())].to_string();
        let client = self.clients[i].id;
        let (server, request, what, is_write, min_zxid) = if kind >= 2 {
            let data = format!("{}.{op}", client.0).into_bytes();
            let cas = self.rng.coin();
            let version = if cas { self.clients[i].versions.get(&path).copied() } else { None };
            let write = if last {
                WriteOp::Set { path: path.clone(), data: data.clone(), version: None }
            } else {
                match self.rng.below(10) {
                    0 | 1 => WriteOp::Create { path: path.clone(), data: data.clone() },
                    2 => WriteOp::Delete { path: path.clone(), version },
                    _ => WriteOp::Set { path: path.clone(), data: data.clone(), version },
                }
            };
            let what = match &write {
                WriteOp::Create { path, data } => Op::Create { path: path.clone(), data: data.clone() },
                WriteOp::Set { path, data, version } => {
                    Op::SetData { path: path.clone(), data: data.clone(), expected_version: *version }
                }
                WriteOp::Delete { path, version } => Op::Delete { path: path.clone(), expected_version: *version },
            };
            (self.clients[i].target, ZabRequest::Write { op, write }, what, true, Zxid::ZERO)
        } else {
            let sync = kind == 1;
            let server = self.random_server();
            let min_zxid = self.clients[i].last_zxid;
            let request = ZabRequest::Read { op, path: path.clone(), sync, min_zxid };
            (server, request, Op::GetData { path, after_sync: sync }, false, min_zxid)
        };
        let invoked = self.tick();
        let think = self.rng.range(0, THINK_MS_MAX);
        let c = &mut self.clients[i];
        c.outstanding.push_back(Pending {
            op,
            server,
            sent: now,
            what,
            invoked,
            deadline: now + CLIENT_TIMEOUT_MS,
            min_zxid,
            is_write,
            last,
        });
        if !last {
            c.budget -= 1;
        }
        c.next_at = if self.liveness { NEVER } else { now + think };
        self.outbox.push_back((server, client, request));
    }

    /// Client `i` gives up on everything in flight: writes become unknown.
    fn abandon(&mut self, i: usize, marks: &mut Marks) {
        let pending: Vec<Pending> = self.clients[i].outstanding.drain(..).collect();
        let client = self.clients[i].id.0;
        for p in pending {
            if p.is_write {
                marks.hit(mark::WRITE_UNKNOWN);
                self.history.invoke(client, p.what, p.invoked);
            }
        }
    }

    fn backoff(&mut self, now: Instant) -> Instant {
        now + self.rng.range(1, BACKOFF_MS_MAX)
    }
}

impl<'a> Clients<ZabReplica<'a>> for ZabClients {
    fn poll_request(&mut self, now: Instant) -> Option<(ServerId, ClientId, ZabRequest)> {
        if self.outbox.is_empty() {
            for i in 0..self.clients.len() {
                self.issue(i, now);
            }
        }
        self.outbox.pop_front()
    }

    fn handle_reply(
        &mut self,
        now: Instant,
        from: ServerId,
        client: ClientId,
        reply: ZabReply,
        marks: &mut Marks,
    ) -> Result<(), Violation> {
        let fail = |what: String| Err(Violation { at: now, what: format!("client {}: {what}", client.0) });
        let Some(i) = self.clients.iter().position(|c| c.id == client) else { return Ok(()) };
        let op = reply.op;
        let Some(pos) = self.clients[i].outstanding.iter().position(|p| p.op == op) else {
            marks.hit(mark::LATE_REPLY);
            return Ok(());
        };
        // Requests sent before this server booted went to an earlier incarnation and died
        // with its connection; one sent to this incarnation and not answered yet was
        // overtaken.
        let client_no = client.0;
        for _ in 0..pos {
            let Some(p) = self.clients[i].outstanding.pop_front() else { break };
            if p.server != from {
                return fail(format!("op {} was sent to server {} but op {op} to server {from}", p.op, p.server));
            }
            if p.sent > reply.boot {
                return fail(format!(
                    "server {from} answered op {op} before op {}, which was sent to it earlier: session FIFO broken",
                    p.op
                ));
            }
            marks.hit(mark::LOST_WITH_CONNECTION);
            if p.is_write {
                marks.hit(mark::WRITE_UNKNOWN);
                self.history.invoke(client_no, p.what, p.invoked);
            }
        }
        let Some(p) = self.clients[i].outstanding.pop_front() else { return Ok(()) };
        if p.server != from {
            return fail(format!("op {op} was sent to server {} but answered by server {from}", p.server));
        }
        match reply.answer {
            Answer::Written { zxid, result } => {
                if !p.is_write {
                    return fail(format!("read op {op} answered as a write"));
                }
                let c = &mut self.clients[i];
                if zxid <= c.last_write {
                    return fail(format!(
                        "write op {op} was acknowledged as {zxid}, after an earlier write of the session as {}: \
                         session FIFO broken",
                        c.last_write
                    ));
                }
                c.last_write = zxid;
                c.last_zxid = c.last_zxid.max(zxid);
                let path = p.what.path().to_string();
                let outcome = match (result, &p.what) {
                    (WriteResult::Ok, _) => OpResult::Ok,
                    (WriteResult::Set(v), _) => OpResult::Set { new_version: v },
                    (WriteResult::Error(NO_NODE), _) => OpResult::NoNode,
                    (WriteResult::Error(NODE_EXISTS), _) => OpResult::NodeExists,
                    (WriteResult::Error(BAD_VERSION), _) => OpResult::BadVersion,
                    (WriteResult::Error(code), _) => return fail(format!("write op {op} failed with code {code}")),
                };
                match (&outcome, &p.what) {
                    (OpResult::Set { new_version }, _) => {
                        c.versions.insert(path, *new_version);
                    }
                    (OpResult::Ok, Op::Create { .. }) => {
                        c.versions.insert(path, 0);
                    }
                    (OpResult::Ok, _) | (OpResult::NoNode, _) | (OpResult::BadVersion, _) => {
                        c.versions.remove(&path);
                    }
                    _ => {}
                }
                if matches!(result, WriteResult::Error(_)) {
                    marks.hit(mark::WRITE_FAILED);
                }
                marks.hit(mark::WRITE_ACKED);
                if p.last {
                    c.finale = Finale::Read;
                }
                let done = self.tick();
                let id = self.history.invoke(client_no, p.what, p.invoked);
                self.history.complete(id, outcome, done);
            }
            Answer::Read { zxid, value } => {
                if p.is_write {
                    return fail(format!("write op {op} answered as a read"));
                }
                if zxid < p.min_zxid {
                    return fail(format!(
                        "server {from} answered read op {op} from its store at {zxid}, older than {} the session saw",
                        p.min_zxid
                    ));
                }
                let sync = matches!(p.what, Op::GetData { after_sync: true, .. });
                marks.hit(if sync { mark::SYNC_READ } else { mark::READ });
                let c = &mut self.clients[i];
                c.last_zxid = c.last_zxid.max(zxid);
                if p.last {
                    c.finale = Finale::Done;
                }
                let outcome = match value {
                    Some((data, version)) => OpResult::Data { data, version },
                    None => OpResult::NoNode,
                };
                let done = self.tick();
                let id = self.history.invoke(client_no, p.what, p.invoked);
                self.history.complete(id, outcome, done);
            }
            Answer::NotLeader { leader } => {
                // Nothing was done; the rest of the pipeline is in doubt.
                marks.hit(mark::NOT_LEADER);
                self.abandon(i, marks);
                let target = match leader {
                    Some(l) => l,
                    None => self.random_server(),
                };
                self.clients[i].target = target;
                let at = if leader.is_some() { now } else { self.backoff(now) };
                self.clients[i].next_at = at;
            }
            Answer::Refused => {
                marks.hit(mark::REFUSED);
                self.abandon(i, marks);
                if p.is_write {
                    let target = self.random_server();
                    self.clients[i].target = target;
                }
                let at = self.backoff(now);
                self.clients[i].next_at = at;
            }
            Answer::Lost => {
                marks.hit(mark::LOST);
                if p.is_write {
                    marks.hit(mark::WRITE_UNKNOWN);
                    self.history.invoke(client_no, p.what, p.invoked);
                }
                self.abandon(i, marks);
                let target = self.random_server();
                self.clients[i].target = target;
                let at = self.backoff(now);
                self.clients[i].next_at = at;
            }
        }
        let c = &mut self.clients[i];
        if c.outstanding.is_empty() && c.next_at == NEVER {
            let think = if self.liveness { 0 } else { self.rng.range(0, THINK_MS_MAX) };
            self.clients[i].next_at = now + think;
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant, marks: &mut Marks) {
        for i in 0..self.clients.len() {
            if self.clients[i].outstanding.iter().any(|p| p.deadline <= now) {
                marks.hit(mark::TIMEOUT);
                self.abandon(i, marks);
                let target = self.random_server();
                self.clients[i].target = target;
                self.clients[i].next_at = now;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.clients
            .iter()
            .flat_map(|c| c.outstanding.iter().map(|p| p.deadline).chain([c.next_at]))
            .filter(|t| *t != NEVER)
            .min()
    }

    fn start_liveness(&mut self, now: Instant) {
        self.liveness = true;
        for c in &mut self.clients {
            c.finale = Finale::Write;
            if c.outstanding.is_empty() {
                c.next_at = now;
            }
        }
    }

    fn done(&self) -> bool {
        self.liveness && self.clients.iter().all(|c| c.finale == Finale::Done && c.outstanding.is_empty())
    }

    fn finish(&mut self, now: Instant, _marks: &mut Marks) -> Result<(), Violation> {
        match linearize::check(&self.history, LINEARIZE_BUDGET) {
            linearize::Verdict::Ok => Ok(()),
            linearize::Verdict::Violation { path, explanation } => Err(Violation {
                at: now,
                what: format!("the clients' history is not linearizable on {path}:\n{explanation}"),
            }),
            linearize::Verdict::GaveUp { path } => Err(Violation {
                at: now,
                what: format!(
                    "the linearizability check ran out of budget on {path} ({} operations recorded)",
                    self.history.len()
                ),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runs.

/// The options of seed `seed` for a ZAB run: the swarm's draw with FIFO connections
/// (TCP), no delivery across a restart, and a fifth of the loss (each loss costs a
/// connection).
pub fn swarm_for(seed: u64) -> (Swarm, Rng) {
    let mut rng = Rng::new(seed);
    let mut swarm = Swarm::draw(&mut rng);
    swarm.fifo = true;
    swarm.stale_delivery = false;
    swarm.loss = Ratio::per_mille(swarm.loss.numerator / 5);
    (swarm, rng)
}

/// The bounds of a ZAB run.
pub fn run_options() -> RunOptions {
    RunOptions { liveness_ms: LIVENESS_MS, steps_max: STEPS_MAX }
}

/// Runs seed `seed` to the end, printing every step through `tracer` if given.
pub fn run(seed: u64, tracer: Option<Tracer>) -> Report {
    run_with(seed, Fault::None, tracer)
}

/// The command line that replays seed `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p conformance --release --bin simulate -- --zab --seed {seed} --verbose")
}

pub(crate) fn run_with(seed: u64, fault: Fault, tracer: Option<Tracer>) -> Report {
    run_tuned(seed, fault, tracer, |_| {})
}

/// [`run_with`] on the seed's swarm as changed by `tune` (tests aiming at one fault).
pub(crate) fn run_tuned(seed: u64, fault: Fault, tracer: Option<Tracer>, tune: impl FnOnce(&mut Swarm)) -> Report {
    let (mut swarm, mut rng) = swarm_for(seed);
    tune(&mut swarm);
    let members: Vec<Member> = (1..=swarm.voters as u64)
        .map(Member::voter)
        .chain((1..=swarm.observers as u64).map(|k| Member::observer(swarm.voters as u64 + k)))
        .collect();
    let members = match Majority::new(&members) {
        Ok(m) => m,
        Err(e) => panic!("swarm drew an invalid ensemble: {e:?}"),
    };
    let slots = LogPool::slots_for(&swarm);
    let mut bytes = vec![0u8; slots * LOG_BYTES];
    let mut index = vec![Entry::EMPTY; slots * LOG_ENTRIES];
    let pool = LogPool::new(&mut bytes, &mut index);
    let servers: Vec<ServerId> = (1..=swarm.nodes() as u64).map(ServerId).collect();
    // What the swarm does not draw, drawn apart so that the swarm's draw stays as it is.
    let mut knobs = Rng::new(seed ^ KNOBS_SEED);
    // A tick shorter than the network's delays leaves no time for a round trip within
    // syncLimit: ZooKeeper's operators size it above the latency, and so does the run.
    let tick_ms = TICKS_MS[knobs.index(TICKS_MS.len())].max(swarm.delay_max_ms);
    let zab = ZabConfig { tick_ms, ..ZAB };
    let ops_max = if knobs.below(4) == 0 { CLIENT_OPS_HEAVY_MAX } else { CLIENT_OPS_MAX };
    let clients = ZabClients::new(rng.fork(), servers, rng.range(1, CLIENTS_MAX), ops_max);
    let disks = vec![ZabDisk::default(); swarm.nodes()];
    let config = ZabSimConfig { members, zab, pool: &pool, fault };
    let mut sim = Simulator::new(seed, swarm, run_options(), config, disks, ZabChecker::new(), &mut rng);
    sim.set_clients(Box::new(clients));
    if let Some(mut t) = tracer {
        t(Instant(0), &format!("zab: tick={}ms client ops up to {ops_max} each", zab.tick_ms));
        sim.set_tracer(t);
    }
    let mut report = sim.run();
    if pool.extra() > 0 {
        report.marks.hit("zab.log_pool_extra");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Failure;

    #[test]
    fn a_store_round_trips_as_a_snapshot() {
        let mut t = Tree { zxid: Zxid::new(3, 9), nodes: Nodes::new() };
        assert_eq!(Tree::decode(t.zxid, &t.encode()), Some(t.clone()));
        t.nodes.insert(b"/a".to_vec(), (b"xy".to_vec(), 4));
        t.nodes.insert(b"/b".to_vec(), (Vec::new(), 0));
        let bytes = t.encode();
        assert_eq!(Tree::decode(t.zxid, &bytes), Some(t.clone()));
        assert_eq!(Tree::decode(t.zxid, &bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Tree::decode(t.zxid, &longer), None);
        assert_ne!(t.digest(), Tree::default().digest());
    }

    #[test]
    fn writes_are_checked_against_the_store_as_zookeeper_does() {
        let mut nodes = Nodes::new();
        let set = |version| WriteOp::Set { path: "/a".into(), data: b"v".to_vec(), version };
        assert_eq!(prepare(&nodes, &set(None)), TxnOp::Error { code: NO_NODE });
        let create = WriteOp::Create { path: "/a".into(), data: b"c".to_vec() };
        let op = prepare(&nodes, &create);
        assert_eq!(apply_op(&mut nodes, &op), WriteResult::Ok);
        assert_eq!(prepare(&nodes, &create), TxnOp::Error { code: NODE_EXISTS });
        assert_eq!(prepare(&nodes, &set(Some(1))), TxnOp::Error { code: BAD_VERSION });
        let cas = set(Some(0));
        let op = prepare(&nodes, &cas);
        assert_eq!(apply_op(&mut nodes, &op), WriteResult::Set(1));
        let delete = WriteOp::Delete { path: "/a".into(), version: Some(0) };
        assert_eq!(prepare(&nodes, &delete), TxnOp::Error { code: BAD_VERSION });
        let delete = WriteOp::Delete { path: "/a".into(), version: Some(1) };
        let op = prepare(&nodes, &delete);
        assert_eq!(apply_op(&mut nodes, &op), WriteResult::Ok);
        assert!(nodes.is_empty());
    }

    #[test]
    fn the_disk_keeps_records_after_its_snapshot_in_order() {
        let mut d = ZabDisk::default();
        let rec = |c| ZabWrite::Append { zxid: Zxid::new(1, c), record: vec![c as u8] };
        for c in 1..=5 {
            ZabReplica::apply(&mut d, &rec(c));
        }
        ZabReplica::apply(&mut d, &ZabWrite::Truncate { after: Zxid::new(1, 4) });
        assert_eq!(d.log.len(), 4);
        ZabReplica::apply(&mut d, &ZabWrite::Snapshot(Tree { zxid: Zxid::new(1, 2), nodes: Nodes::new() }));
        assert_eq!(d.log.iter().map(|(z, _)| z.counter()).collect::<Vec<_>>(), [3, 4]);
        ZabReplica::apply(&mut d, &ZabWrite::Install(Tree { zxid: Zxid::new(2, 7), nodes: Nodes::new() }));
        assert!(d.log.is_empty());
        assert_eq!(d.snapshot.zxid, Zxid::new(2, 7));
    }

    /// Runs `seeds` with `fault` on swarms changed by `tune`; returns each seed whose run
    /// failed a safety check, with what the checker said.
    fn caught(seeds: std::ops::Range<u64>, fault: Fault, tune: fn(&mut Swarm)) -> Vec<(u64, String)> {
        seeds
            .filter_map(|s| match run_tuned(s, fault, None, tune).result {
                Err(Failure::Safety(v)) => Some((s, v.what)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_leader_counting_one_ack_short_of_a_quorum_is_caught() {
        let found = caught(0..60, Fault::ShortQuorum, |_| {});
        assert!(found.len() >= 3, "only {found:?} of 60 seeds caught the short quorum");
        // Two leaders of one epoch, or what follows from one: a lost write, diverging txns.
        assert!(found.iter().any(|(_, what)| what.contains("leader")), "{found:?}");
        // The same seed passes without the fault: the checkers react to it, not to the seed.
        assert_eq!(run(found[0].0, None).result, Ok(()));
    }

    /// A slow disk and frequent crashes, so that crashes catch appends in flight.
    fn slow_disk(w: &mut Swarm) {
        w.fsync_ms_min = 200;
        w.fsync_ms_max = 2_000;
        if w.crash_every_ms == 0 || w.crash_every_ms > 5_000 {
            w.crash_every_ms = 5_000;
        }
    }

    #[test]
    fn a_server_acknowledging_appends_before_they_are_durable_is_caught() {
        let found = caught(0..100, Fault::AckBeforeDurable, slow_disk);
        assert!(found.len() >= 3, "only {found:?} of 100 seeds caught the early acks");
        assert!(found.iter().any(|(_, what)| what.contains("acknowledged") && what.contains("is lost")), "{found:?}");
        // The correct server survives the same disk and crashes.
        let (seed, _) = &found[0];
        assert_eq!(run_tuned(*seed, Fault::None, None, slow_disk).result, Ok(()));
    }
}
