//! ZAB, ZooKeeper's atomic broadcast: the leader and follower roles as sans-IO state
//! machines (reference §13; ZooKeeper's `Leader`, `LearnerHandler`, `Learner`, `Follower`).
//!
//! After an election ([`crate::election::Outcome`]) the server builds a [`Leader`] or a
//! [`Follower`], handing it the [`TxnLog`] it recovered; when the role ends (its state says
//! so) it takes the log back with `into_log` and starts looking again. The three phases:
//!
//! 1. discovery: the leader collects FOLLOWERINFO from a quorum (itself included), picks
//!    `max(acceptedEpoch) + 1`, sends LEADERINFO and collects a quorum of ACKEPOCH;
//! 2. sync: per learner, DIFF / TRUNC / SNAP ([`TxnLog::sync_plan`]), the txns as
//!    PROPOSAL+COMMIT pairs, then NEWLEADER; a quorum of NEWLEADER acks establishes the
//!    leader, which then sends UPTODATE;
//! 3. broadcast: PROPOSAL, ACK once durable, COMMIT in zxid order once a quorum acked.
//!
//! Both roles have the same drain order after every input, the order etcd's `Ready`
//! prescribes ("persist BEFORE sending"):
//! 1. `poll_storage` until `None`: [`Storage`] operations. All but [`Storage::Append`] must be
//!    durable before the shell drains anything else; appends may be batched, and the shell
//!    reports them with `handle_durable` once fsynced (a follower ACKs, and a leader counts
//!    its own ack, only then);
//! 2. `poll_transmit` until `None`: messages to peers, in the order given per peer;
//! 3. `poll_commit` until `None`: zxids now committed, for the server to apply in order
//!    (bytes from `log().get(zxid)`); applied before the next input, so a snapshot the
//!    leader streams is the tree as of the last zxid handed out;
//! 4. the leader's `poll_sync` and `poll_event`, then `poll_timeout`: the deadline to arm.
//!
//! The shell must drain completely after every input: appends and commits are cursors into
//! the log, whose oldest committed entries make room for new ones.
//!
//! Peer input is filtered before it is trusted: a message from a non-member, from the wrong
//! role, out of phase, or claiming an impossible zxid ([`crate::peer::check_zxid_claim`]) is
//! a [`Misbehaving`] outcome, which the shell turns into a disconnect of that peer.

mod follower;
mod leader;

#[cfg(test)]
mod tests;

use core::fmt;

pub use follower::{Follower, FollowerState};
pub use leader::{Event, Leader, LeaderState, ProposeError, SyncError};

use crate::log::TxnLog;
use crate::peer::{PeerDecodeError, PeerMessage};
use crate::quorum::ServerId;
use crate::Zxid;

/// Sync requests a leader holds while their quorum round is under way: ZooKeeper queues
/// them without bound; herd refuses more with [`SyncError::Busy`], which the server turns
/// into a retryable error. One per client that can have a sync in flight on a small
/// ensemble is ample.
pub const SYNCS_PENDING_MAX: usize = 256;

/// PINGs a leader leaves unanswered per learner before it stops sending more: a learner
/// that far behind is slow or gone, and its deadline will tell. Also bounds the per-learner
/// memory of which read-index round each ping belonged to.
pub const PINGS_IN_FLIGHT_MAX: usize = 4;

/// Storage operations other than appends a role can have queued at once: one phase
/// produces at most a truncation, a snapshot install and two epoch writes.
pub const STORAGE_QUEUE_MAX: usize = 8;

/// Control messages a follower can have queued at once: FOLLOWERINFO, ACKEPOCH and the
/// acks of NEWLEADER and UPTODATE, each sent once per role (PING replies are a counter).
pub const FOLLOWER_OUTBOX_MAX: usize = 4;

const _: () = assert!(STORAGE_QUEUE_MAX >= 4);
const _: () = assert!(FOLLOWER_OUTBOX_MAX >= 4);
const _: () = assert!(PINGS_IN_FLIGHT_MAX >= 1);

/// The zoo.cfg timing keys ZAB obeys; the core reads no clock, every duration derives
/// from these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZabConfig {
    /// `tickTime` in ms: the leader pings every half tick.
    pub tick_ms: u64,
    /// `initLimit` in ticks: bounds each wait of discovery and sync.
    pub init_limit: u32,
    /// `syncLimit` in ticks: how long a peer may stay silent during broadcast.
    pub sync_limit: u32,
}

impl ZabConfig {
    /// ZooKeeper's sample zoo.cfg: tickTime=2000, initLimit=10, syncLimit=5.
    pub const DEFAULT: ZabConfig = ZabConfig { tick_ms: 2000, init_limit: 10, sync_limit: 5 };

    /// `initLimit · tickTime`.
    pub fn init_ms(&self) -> u64 {
        self.tick_ms.saturating_mul(u64::from(self.init_limit))
    }

    /// `syncLimit · tickTime`.
    pub fn sync_ms(&self) -> u64 {
        self.tick_ms.saturating_mul(u64::from(self.sync_limit))
    }

    /// The leader's ping period: half a tick (never zero, so timers always advance).
    pub fn ping_ms(&self) -> u64 {
        (self.tick_ms / 2).max(1)
    }
}

/// The two epoch files of §13.1, as the shell keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// `acceptedEpoch`: the last epoch this server acknowledged in discovery.
    pub accepted: u32,
    /// `currentEpoch`: the epoch of the leader it last completed NEWLEADER with.
    pub current: u32,
}

/// A storage operation, drained with `poll_storage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Write both epoch files atomically and durably before sending anything else.
    PersistEpochs(Epochs),
    /// Drop every log record above `after`, durably, before anything else.
    TruncateLog {
        /// The last zxid kept.
        after: Zxid,
    },
    /// The snapshot received through the [`SnapshotSink`] is complete: make it durable and
    /// load it as the tree, which is then at `zxid`; log records up to it are obsolete.
    InstallSnapshot {
        /// The zxid the snapshot covers.
        zxid: Zxid,
    },
    /// Append the record logged under `zxid` (`log().get(zxid)`); report it with
    /// `handle_durable` once fsynced (batches welcome).
    Append {
        /// The record's zxid.
        zxid: Zxid,
    },
}

/// One message to one peer, drained with `poll_transmit`. Bytes borrow from the role's log
/// or the caller's chunk buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The peer to send to.
    pub to: ServerId,
    /// What to send.
    pub msg: PeerMessage<'a>,
}

/// What became of a peer message that was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// ZAB consumed it.
    Done,
    /// ZAB is done with it, but it (also) carries server business: a REQUEST, a
    /// REVALIDATE or its reply, a SYNC reply, or the touched sessions of a PING reply.
    ForServer,
    /// The role has ended; the message was dropped.
    Ignored,
}

/// Why a peer's message was refused. The shell disconnects that peer and logs the reason;
/// a follower refusing its leader's message has also ended its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Misbehaving {
    /// The offending peer.
    pub peer: ServerId,
    /// What it did.
    pub reason: Misbehavior,
}

/// The ways a peer can break the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehavior {
    /// It is not a member of the configuration (or, at a follower, not the leader).
    Stranger,
    /// It announced itself as a follower but is configured as an observer, or vice versa.
    WrongRole,
    /// The message is not one this role accepts in its current phase (or from this side).
    OutOfPhase(&'static str),
    /// A zxid it claimed cannot exist (a later epoch, a rolled-over counter, or out of
    /// order), or an ACK of a proposal it was never sent.
    ImpossibleZxid(Zxid),
    /// An epoch it claimed cannot exist.
    ImpossibleEpoch(u32),
    /// Bytes that do not decode as what the message says.
    Undecodable(PeerDecodeError),
    /// A PING reply without a PING.
    UnsolicitedPing,
    /// A snapshot stream that does not fit the log.
    BadSnapshot,
}

impl fmt::Display for Misbehaving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server {}: ", self.peer)?;
        match self.reason {
            Misbehavior::Stranger => f.write_str("not a member (or not the leader)"),
            Misbehavior::WrongRole => f.write_str("announced a role its configuration does not give it"),
            Misbehavior::OutOfPhase(name) => write!(f, "{name} out of phase"),
            Misbehavior::ImpossibleZxid(z) => write!(f, "impossible zxid {z}"),
            Misbehavior::ImpossibleEpoch(e) => write!(f, "impossible epoch {e}"),
            Misbehavior::Undecodable(e) => write!(f, "{e}"),
            Misbehavior::UnsolicitedPing => f.write_str("PING reply without a PING"),
            Misbehavior::BadSnapshot => f.write_str("snapshot stream does not fit the log"),
        }
    }
}

/// Why a role ended; the server goes back to LOOKING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleEnd {
    /// initLimit passed before a quorum connected, acked the epoch, or acked NEWLEADER
    /// (leader), or before the sync finished (follower).
    InitTimeout,
    /// A quorum stopped answering within syncLimit ("Not sufficient followers synced").
    LostQuorum,
    /// A follower's history is more recent than the leader's ("Follower is ahead").
    FollowerAhead(ServerId),
    /// The zxid counter would roll over: a new epoch must be elected.
    CounterRollover,
    /// The leader was silent for syncLimit (initLimit before UPTODATE).
    LeaderSilent,
    /// The leader proposed an epoch below this server's acceptedEpoch.
    EpochRefused(u32),
    /// The leader misbehaved (see the [`Misbehaving`] returned with it).
    LeaderMisbehaved,
    /// The log cannot take what the leader sent (truncation below the commit point, or
    /// full of uncommitted proposals).
    LogRefused,
    /// The snapshot could not be stored.
    SnapshotFailed,
    /// The shell asked the role to end.
    Shutdown,
}

impl fmt::Display for RoleEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleEnd::InitTimeout => f.write_str("initLimit passed"),
            RoleEnd::LostQuorum => f.write_str("Not sufficient followers synced"),
            RoleEnd::FollowerAhead(id) => write!(f, "Follower {id} is ahead of the leader"),
            RoleEnd::CounterRollover => f.write_str("zxid lower 32 bits have rolled over"),
            RoleEnd::LeaderSilent => f.write_str("leader silent"),
            RoleEnd::EpochRefused(e) => write!(f, "leader proposed epoch {e} below our acceptedEpoch"),
            RoleEnd::LeaderMisbehaved => f.write_str("leader misbehaved"),
            RoleEnd::LogRefused => f.write_str("txn log refused the leader's data"),
            RoleEnd::SnapshotFailed => f.write_str("snapshot could not be stored"),
            RoleEnd::Shutdown => f.write_str("shut down"),
        }
    }
}

/// The leader's snapshot, streamed to learners synced by SNAP. The server implements it
/// over its tree (typically by serializing it once to a file and reading that back).
pub trait SnapshotSource {
    /// Starts a snapshot for learner `to`; returns the zxid it covers, which must be a
    /// zxid the leader has committed (the tree as last applied) and still logs, or its
    /// log's commit point.
    fn begin(&mut self, to: ServerId) -> Result<Zxid, SnapshotError>;
    /// Copies the bytes of `to`'s snapshot from `offset` into `buf`; returns how many,
    /// and whether they end the snapshot. A non-final read must return at least one byte.
    fn read(&mut self, to: ServerId, offset: u64, buf: &mut [u8]) -> Result<(usize, bool), SnapshotError>;
}

/// A follower's store for a snapshot being received.
pub trait SnapshotSink {
    /// Stores `bytes` at `offset` of the snapshot at `zxid` (offset 0 starts a new one);
    /// `last` ends it, after which [`Storage::InstallSnapshot`] follows.
    fn write(&mut self, zxid: Zxid, offset: u64, bytes: &[u8], last: bool) -> Result<(), SnapshotError>;
}

/// A snapshot could not be produced or stored; the learner is dropped (leader) or the
/// role ends (follower).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotError;

/// The first zxid of `epoch`'s leader: NEWLEADER's zxid, and the zxid of the acks of
/// NEWLEADER and UPTODATE.
pub const fn epoch_start(epoch: u32) -> Zxid {
    Zxid::new(epoch, 0)
}

/// The next entry after `after` that the log holds, if the log still knows every entry
/// between them: `floor` is the zxid below which the log may have evicted entries.
fn next_after(log: &TxnLog<'_>, after: Zxid, floor: Zxid) -> Result<Option<Zxid>, Gap> {
    if after < floor {
        return Err(Gap);
    }
    Ok(log.range_after(after).next().map(|(z, _)| z))
}

/// A cursor fell below what the log still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gap;
