//! The follower role (and the observer, its non-voting variant): discovery, sync and
//! broadcast from the learner's side (reference §13.3–13.6; ZooKeeper's
//! `Learner.registerWithLeader`/`syncWithLeader`, `Follower.followLeader`).
//!
//! The follower's tree moves only by commits it hands out with [`Follower::poll_commit`],
//! and those start at UPTODATE: before it, the leader's history is not yet known to be on a
//! quorum, and a TRUNC from a later leader could take part of it back.

use core::fmt;

use heapless::Deque;

use super::{
    epoch_start, Epochs, Handled, Misbehaving, Misbehavior, RoleEnd, SnapshotSink, Storage, Transmit, ZabConfig,
    FOLLOWER_OUTBOX_MAX, STORAGE_QUEUE_MAX,
};
use crate::log::{LogError, TxnLog};
use crate::peer::{check_zxid_claim, decode_txn, PeerMessage, TouchedSessions, ZAB_PROTOCOL_VERSION};
use crate::quorum::{LearnerType, ServerId};
use crate::time::Instant;
use crate::Zxid;

/// Where the follower is; `Display` prints ZooKeeper-like phase names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerState {
    /// FOLLOWERINFO sent; waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent; waiting for DIFF, TRUNC or SNAP.
    AwaitSync,
    /// Receiving sync data until NEWLEADER.
    Syncing,
    /// NEWLEADER received; acking once the sync data is durable.
    NewLeader,
    /// NEWLEADER acked; waiting for UPTODATE.
    Synced,
    /// UPTODATE received: serving clients, logging and applying the leader's broadcast.
    Broadcast,
    /// The role ended; the server goes LOOKING.
    Ended(RoleEnd),
}

impl fmt::Display for FollowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FollowerState::Discovery => f.write_str("DISCOVERY"),
            FollowerState::AwaitSync => f.write_str("AWAIT_SYNC"),
            FollowerState::Syncing => f.write_str("SYNCHRONIZATION"),
            FollowerState::NewLeader => f.write_str("NEWLEADER"),
            FollowerState::Synced => f.write_str("SYNCED"),
            FollowerState::Broadcast => f.write_str("BROADCAST"),
            FollowerState::Ended(why) => write!(f, "ENDED ({why})"),
        }
    }
}

/// A queued control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    FollowerInfo,
    AckEpoch(Option<u32>, Zxid),
    Ack(Zxid),
}

/// The follower (or observer) role.
///
/// Inputs: [`Follower::handle_peer`], [`Follower::handle_durable`],
/// [`Follower::handle_timeout`]. Drain after each, in this order: [`Follower::poll_storage`]
/// (persist BEFORE sending: every operation but `Append` durable before the next step),
/// [`Follower::poll_transmit`], [`Follower::poll_commit`], then arm
/// [`Follower::poll_timeout`].
pub struct Follower<'s> {
    me: ServerId,
    leader: ServerId,
    role: LearnerType,
    config: ZabConfig,
    state: FollowerState,
    epochs: Epochs,
    /// The epoch the leader proposed, once LEADERINFO arrived.
    epoch: Option<u32>,
    log: TxnLog<'s>,
    /// Last zxid handed to storage.
    stored: Zxid,
    /// Highest zxid durable in the log.
    durable: Zxid,
    /// Last zxid acked to the leader (sync data is covered by the NEWLEADER ack).
    acked: Zxid,
    /// The log's last zxid when NEWLEADER arrived: the history the leader synced.
    newleader_at: Zxid,
    /// Commits received before UPTODATE, applied to the log at UPTODATE.
    pending_commit: Zxid,
    /// Last zxid handed to the server to apply.
    released: Zxid,
    /// A snapshot being received: its zxid and the bytes so far.
    snap: Option<(Zxid, u64)>,
    storage: Deque<Storage, STORAGE_QUEUE_MAX>,
    outbox: Deque<Out, FOLLOWER_OUTBOX_MAX>,
    /// PINGs received and not yet answered.
    pings_owed: u32,
    last_heard: Instant,
}

impl fmt::Debug for Follower<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follower")
            .field("me", &self.me)
            .field("leader", &self.leader)
            .field("state", &self.state)
            .field("epoch", &self.epoch)
            .field("log", &self.log)
            .finish()
    }
}

impl<'s> Follower<'s> {
    /// Starts following `leader` (connected at `now`) with the epoch files and the log the
    /// server recovered; the server's tree is at the log's commit point. `role` is this
    /// server's configured kind. FOLLOWERINFO (or OBSERVERINFO) is the first transmit.
    pub fn new(
        now: Instant,
        me: ServerId,
        leader: ServerId,
        role: LearnerType,
        config: ZabConfig,
        epochs: Epochs,
        log: TxnLog<'s>,
    ) -> Self {
        let last = log.last_zxid();
        let mut f = Follower {
            me,
            leader,
            role,
            config,
            state: FollowerState::Discovery,
            epochs,
            epoch: None,
            stored: last,
            durable: last,
            acked: last,
            newleader_at: last,
            pending_commit: log.committed(),
            released: log.committed(),
            log,
            snap: None,
            storage: Deque::new(),
            outbox: Deque::new(),
            pings_owed: 0,
            last_heard: now,
        };
        f.send(Out::FollowerInfo);
        f
    }

    // ---- getters ----

    /// This server.
    pub fn id(&self) -> ServerId {
        self.me
    }

    /// The leader followed.
    pub fn leader(&self) -> ServerId {
        self.leader
    }

    /// The phase.
    pub fn state(&self) -> FollowerState {
        self.state
    }

    /// True once UPTODATE arrived: clients may be served.
    pub fn is_serving(&self) -> bool {
        self.state == FollowerState::Broadcast
    }

    /// The leader's epoch, once LEADERINFO arrived.
    pub fn epoch(&self) -> Option<u32> {
        self.epoch
    }

    /// The epoch files as this role last had them persisted.
    pub fn epochs(&self) -> Epochs {
        self.epochs
    }

    /// The log (read a committed txn's bytes with `log().get(zxid)`).
    pub fn log(&self) -> &TxnLog<'s> {
        &self.log
    }

    /// Gives the log back when the role has ended.
    pub fn into_log(self) -> TxnLog<'s> {
        self.log
    }

    // ---- inputs ----

    /// A message from server `from` on the quorum port. A snapshot the leader streams is
    /// written to `sink`. An `Err` also ends the role: the leader is not to be trusted.
    pub fn handle_peer<K: SnapshotSink>(
        &mut self,
        now: Instant,
        from: ServerId,
        msg: &PeerMessage<'_>,
        sink: &mut K,
    ) -> Result<Handled, Misbehaving> {
        if matches!(self.state, FollowerState::Ended(_)) {
            return Ok(Handled::Ignored);
        }
        if from != self.leader {
            return Err(Misbehaving { peer: from, reason: Misbehavior::Stranger });
        }
        match self.on_leader(msg, sink) {
            Ok(h) => {
                self.last_heard = now;
                Ok(h)
            }
            Err(reason) => {
                if !matches!(self.state, FollowerState::Ended(_)) {
                    self.end(RoleEnd::LeaderMisbehaved);
                }
                Err(Misbehaving { peer: from, reason })
            }
        }
    }

    /// Records up to `zxid` are durable in the log.
    pub fn handle_durable(&mut self, zxid: Zxid) {
        // Only what was handed to storage can be durable.
        let zxid = zxid.min(self.stored);
        if zxid > self.durable {
            self.durable = zxid;
            self.try_ack_newleader();
        }
    }

    /// Time passed; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                // §13.6: the leader socket's read timeout.
                self.end(if self.is_serving() { RoleEnd::LeaderSilent } else { RoleEnd::InitTimeout });
            }
        }
    }

    /// Ends the role (the server is shutting down or re-electing for its own reasons).
    pub fn shutdown(&mut self) {
        self.end(RoleEnd::Shutdown);
    }

    // ---- outputs ----

    /// The next storage operation; every one but `Append` must be durable before the shell
    /// drains transmits.
    pub fn poll_storage(&mut self) -> Option<Storage> {
        if let Some(op) = self.storage.pop_front() {
            return Some(op);
        }
        // Appends are drained even after the role ended: the log handed back claims them.
        let (zxid, _) = self.log.range_after(self.stored).next()?;
        self.stored = zxid;
        Some(Storage::Append { zxid })
    }

    /// The next message for the leader. A PING reply goes with an empty session list: the
    /// server puts its touched sessions in before encoding.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        if matches!(self.state, FollowerState::Ended(_)) {
            return None;
        }
        let msg = if let Some(out) = self.outbox.pop_front() {
            match out {
                Out::FollowerInfo => PeerMessage::FollowerInfo {
                    accepted_epoch: self.epochs.accepted,
                    protocol_version: ZAB_PROTOCOL_VERSION,
                    role: self.role,
                },
                Out::AckEpoch(current_epoch, last_logged_zxid) => {
                    PeerMessage::AckEpoch { current_epoch, last_logged_zxid }
                }
                Out::Ack(zxid) => PeerMessage::Ack { zxid },
            }
        } else if self.pings_owed > 0 {
            // One reply per PING: the leader pairs them in order for its read-index rounds.
            self.pings_owed -= 1;
            PeerMessage::PingReply { sessions: TouchedSessions::EMPTY }
        } else {
            // §13.5: ACK each live proposal once durable; observers never ack.
            if self.role == LearnerType::Observer
                || !matches!(self.state, FollowerState::Synced | FollowerState::Broadcast)
            {
                return None;
            }
            let (zxid, _) = self.log.range_after(self.acked).next()?;
            if zxid > self.durable {
                return None;
            }
            self.acked = zxid;
            PeerMessage::Ack { zxid }
        };
        Some(Transmit { to: self.leader, msg })
    }

    /// The next committed zxid for the server to apply, in order. The log commits only
    /// from UPTODATE on, so nothing is applied before the leader is established.
    pub fn poll_commit(&mut self) -> Option<Zxid> {
        let (zxid, _) = self.log.range_after(self.released).next()?;
        if zxid > self.log.committed() {
            return None;
        }
        self.released = zxid;
        Some(zxid)
    }

    /// When to call [`Follower::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let limit = match self.state {
            FollowerState::Ended(_) => return None,
            FollowerState::Broadcast => self.config.sync_ms(),
            _ => self.config.init_ms(),
        };
        Some(self.last_heard + limit)
    }

    // ---- the leader's messages ----

    fn on_leader<K: SnapshotSink>(&mut self, msg: &PeerMessage<'_>, sink: &mut K) -> Result<Handled, Misbehavior> {
        use FollowerState as S;
        let out_of_phase = Misbehavior::OutOfPhase(msg.name());
        match (self.state, *msg) {
            // §13.3 step 2.
            (S::Discovery, PeerMessage::LeaderInfo { new_epoch, .. }) => self.on_leader_info(new_epoch),
            // §13.4: the head of the sync.
            (S::AwaitSync, PeerMessage::Diff { zxid }) => {
                self.claim(zxid)?;
                self.state = S::Syncing;
                Ok(Handled::Done)
            }
            (S::AwaitSync, PeerMessage::Trunc { zxid }) => self.on_trunc(zxid),
            (S::AwaitSync, PeerMessage::Snap { zxid }) => {
                self.claim(zxid)?;
                self.snap = Some((zxid, 0));
                self.state = S::Syncing;
                Ok(Handled::Done)
            }
            (S::Syncing, PeerMessage::SnapChunk { bytes, last }) => self.on_snap_chunk(bytes, last, sink),
            (S::Syncing, PeerMessage::NewLeader { zxid }) if self.snap.is_none() => {
                if Some(zxid) != self.epoch.map(epoch_start) {
                    return Err(Misbehavior::ImpossibleZxid(zxid));
                }
                self.state = S::NewLeader;
                self.newleader_at = self.log.last_zxid();
                self.try_ack_newleader();
                Ok(Handled::Done)
            }
            (S::Synced, PeerMessage::UpToDate) => {
                // §13.4: the leader is established; the commits it sent during sync (its
                // history, committed by the NEWLEADER quorum) now reach the tree.
                self.commit(self.pending_commit)?;
                self.state = S::Broadcast;
                let ack = self.epoch.map_or(Zxid::ZERO, epoch_start);
                self.send(Out::Ack(ack));
                Ok(Handled::Done)
            }
            // §13.5: proposals and commits, during sync and after.
            (S::Syncing | S::NewLeader | S::Synced | S::Broadcast, PeerMessage::Proposal { zxid, txn })
                if self.snap.is_none() && self.role == LearnerType::Participant =>
            {
                self.on_proposal(zxid, txn)
            }
            (S::Syncing | S::NewLeader | S::Synced | S::Broadcast, PeerMessage::Commit { zxid })
                if self.snap.is_none() =>
            {
                self.on_commit(zxid)
            }
            (S::Broadcast | S::Synced, PeerMessage::Inform { zxid, txn }) if self.role == LearnerType::Observer => {
                self.on_proposal(zxid, txn)?;
                self.on_commit(zxid)
            }
            // Observers get the sync data as PROPOSAL+COMMIT pairs too.
            (S::Syncing, PeerMessage::Proposal { zxid, txn }) if self.snap.is_none() => self.on_proposal(zxid, txn),
            // §13.6: answer pings in every phase after discovery.
            (S::Discovery, PeerMessage::Ping) => Err(out_of_phase),
            (_, PeerMessage::Ping) => {
                self.pings_owed = self.pings_owed.saturating_add(1);
                Ok(Handled::Done)
            }
            // Server business, once serving.
            (
                S::Broadcast,
                PeerMessage::SyncReply { .. } | PeerMessage::RevalidateReply { .. } | PeerMessage::Reply { .. },
            ) => Ok(Handled::ForServer),
            _ => Err(out_of_phase),
        }
    }

    /// §13.3 step 2, the learner's side.
    fn on_leader_info(&mut self, new_epoch: u32) -> Result<Handled, Misbehavior> {
        let last = self.log.last_zxid();
        if new_epoch > self.epochs.accepted {
            self.epochs.accepted = new_epoch;
            self.push_storage(Storage::PersistEpochs(self.epochs));
            self.send(Out::AckEpoch(Some(self.epochs.current), last));
        } else if new_epoch == self.epochs.accepted {
            // Already accepted (a reconnect within the epoch): −1, not an epoch vote.
            self.send(Out::AckEpoch(None, last));
        } else {
            self.end(RoleEnd::EpochRefused(new_epoch));
            return Ok(Handled::Done);
        }
        self.epoch = Some(new_epoch);
        self.state = FollowerState::AwaitSync;
        Ok(Handled::Done)
    }

    fn on_trunc(&mut self, zxid: Zxid) -> Result<Handled, Misbehavior> {
        self.claim(zxid)?;
        if self.log.truncate_after(zxid).is_err() {
            // Below what this server's tree already applied: only a SNAP could help.
            self.end(RoleEnd::LogRefused);
            return Ok(Handled::Done);
        }
        let last = self.log.last_zxid();
        self.stored = self.stored.min(last);
        self.durable = self.durable.min(last);
        self.acked = self.acked.min(last);
        self.push_storage(Storage::TruncateLog { after: zxid });
        self.state = FollowerState::Syncing;
        Ok(Handled::Done)
    }

    fn on_snap_chunk<K: SnapshotSink>(
        &mut self,
        bytes: &[u8],
        last: bool,
        sink: &mut K,
    ) -> Result<Handled, Misbehavior> {
        let Some((zxid, offset)) = self.snap else {
            return Err(Misbehavior::OutOfPhase("SNAPCHUNK"));
        };
        if sink.write(zxid, offset, bytes, last).is_err() {
            self.end(RoleEnd::SnapshotFailed);
            return Ok(Handled::Done);
        }
        if !last {
            self.snap = Some((zxid, offset.saturating_add(bytes.len() as u64)));
            return Ok(Handled::Done);
        }
        // The tree becomes the snapshot: the log restarts after it, committed there.
        self.snap = None;
        self.log.reset(zxid);
        self.stored = zxid;
        self.durable = zxid;
        self.acked = zxid;
        self.pending_commit = zxid;
        self.released = zxid;
        self.push_storage(Storage::InstallSnapshot { zxid });
        Ok(Handled::Done)
    }

    fn on_proposal(&mut self, zxid: Zxid, txn: &[u8]) -> Result<Handled, Misbehavior> {
        self.claim(zxid)?;
        decode_txn(zxid, txn).map_err(Misbehavior::Undecodable)?;
        match self.log.append(zxid, txn) {
            Ok(()) => Ok(Handled::Done),
            Err(LogError::Full) | Err(LogError::RecordTooLarge) => {
                self.end(RoleEnd::LogRefused);
                Ok(Handled::Done)
            }
            // Not above what is logged: the leader skipped back.
            Err(_) => Err(Misbehavior::ImpossibleZxid(zxid)),
        }
    }

    fn on_commit(&mut self, zxid: Zxid) -> Result<Handled, Misbehavior> {
        self.claim(zxid)?;
        // Only what is logged can be committed. A COMMIT is cumulative: the first of a
        // sync may name a zxid this log lacks, and commits every entry up to it.
        if zxid > self.log.last_zxid() {
            return Err(Misbehavior::ImpossibleZxid(zxid));
        }
        if self.is_serving() {
            self.commit(zxid)?;
        } else {
            self.pending_commit = self.pending_commit.max(zxid);
        }
        Ok(Handled::Done)
    }

    /// Commits every entry up to `zxid`.
    fn commit(&mut self, zxid: Zxid) -> Result<(), Misbehavior> {
        if zxid <= self.log.committed() {
            return Ok(());
        }
        let target = if self.log.contains(zxid) {
            zxid
        } else {
            // The newest entry at or below it (a sync's first COMMIT).
            match self.log.iter().rev().map(|(z, _)| z).find(|&z| z <= zxid) {
                Some(z) => z,
                None => return Ok(()),
            }
        };
        self.log.commit_up_to(target).map_err(|_| Misbehavior::ImpossibleZxid(zxid))
    }

    /// §13.4: ACK NEWLEADER once the sync data is durable, after persisting currentEpoch.
    fn try_ack_newleader(&mut self) {
        if self.state != FollowerState::NewLeader || self.durable < self.newleader_at {
            return;
        }
        let Some(epoch) = self.epoch else { return };
        self.epochs.current = epoch;
        self.push_storage(Storage::PersistEpochs(self.epochs));
        self.send(Out::Ack(epoch_start(epoch)));
        self.acked = self.newleader_at;
        self.state = FollowerState::Synced;
    }

    /// A zxid the leader sends must be of an epoch up to its own.
    fn claim(&self, zxid: Zxid) -> Result<(), Misbehavior> {
        let epoch = self.epoch.ok_or(Misbehavior::OutOfPhase("sync"))?;
        check_zxid_claim(zxid, epoch).map_err(Misbehavior::Undecodable)
    }

    fn send(&mut self, out: Out) {
        // FOLLOWER_OUTBOX_MAX covers one of each control message; pings are deduplicated.
        let pushed = self.outbox.push_back(out);
        debug_assert!(pushed.is_ok(), "follower outbox overflow");
    }

    fn push_storage(&mut self, op: Storage) {
        let pushed = self.storage.push_back(op);
        debug_assert!(pushed.is_ok(), "storage queue overflow");
    }

    /// The one way out of the role.
    fn end(&mut self, why: RoleEnd) {
        if !matches!(self.state, FollowerState::Ended(_)) {
            self.state = FollowerState::Ended(why);
            self.outbox.clear();
        }
    }
}
