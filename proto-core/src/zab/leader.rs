//! The leader role: discovery, per-learner sync, broadcast, and read-index syncs
//! (reference §13.3–13.7; ZooKeeper's `Leader.lead`, `LearnerHandler.run`/`syncFollower`).
//!
//! Nothing is queued per message: each learner has cursors into the log (the last zxid
//! whose PROPOSAL, and whose COMMIT, it was sent), so what to send next is computed when the
//! shell polls, and bytes borrow from the log. That bounds memory by [`ENSEMBLE_MAX`]
//! learners whatever the backlog, and keeps every learner's stream in zxid order.

use core::fmt;

use heapless::{Deque, Vec};

use super::{
    epoch_start, next_after, Epochs, Handled, Misbehaving, Misbehavior, RoleEnd, SnapshotSource, Storage, Transmit,
    ZabConfig, PINGS_IN_FLIGHT_MAX, STORAGE_QUEUE_MAX, SYNCS_PENDING_MAX,
};
use crate::ids::{SessionId, Xid};
use crate::log::{SyncPlan, TxnLog, OUTSTANDING_PROPOSALS_MAX};
use crate::peer::{check_zxid_claim, decode_txn, PeerMessage, ZAB_PROTOCOL_VERSION};
use crate::quorum::{LearnerType, QuorumVerifier, ServerId, ENSEMBLE_MAX};
use crate::time::Instant;
use crate::Zxid;

/// Where the leader is (§13.3–13.6); `Display` prints ZooKeeper's phase names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderState {
    /// Collecting FOLLOWERINFO until a quorum (itself included) has connected.
    Discovery,
    /// LEADERINFO sent; collecting a quorum of ACKEPOCH.
    EpochAck,
    /// Syncing learners; waiting for a quorum of NEWLEADER acks.
    Sync,
    /// Established: proposing and committing.
    Broadcast,
    /// Leadership given up; the server goes LOOKING.
    Ended(RoleEnd),
}

impl fmt::Display for LeaderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaderState::Discovery => f.write_str("DISCOVERY"),
            LeaderState::EpochAck => f.write_str("EPOCH_ACK"),
            LeaderState::Sync => f.write_str("SYNCHRONIZATION"),
            LeaderState::Broadcast => f.write_str("BROADCAST"),
            LeaderState::Ended(why) => write!(f, "ENDED ({why})"),
        }
    }
}

/// Something the shell must act on besides messages, drained with [`Leader::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Close the connection of this learner: its deadline passed, or it could not be
    /// synced (its stream fell out of the log, or the snapshot failed).
    Disconnect(ServerId),
}

/// Why [`Leader::propose`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// Not (or no longer) an established leader: the server answers clients with an error
    /// and they reconnect elsewhere.
    NotLeader,
    /// [`OUTSTANDING_PROPOSALS_MAX`] proposals await their quorum, or the log has no room:
    /// back-pressure, retry after commits.
    Busy,
    /// The bytes are not a txn for [`Leader::next_zxid`].
    BadTxn,
}

/// Why [`Leader::sync`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// Not (or no longer) an established leader.
    NotLeader,
    /// [`SYNCS_PENDING_MAX`] syncs already wait for their round.
    Busy,
    /// The origin is not a synced learner (nor this server).
    UnknownOrigin,
}

/// How far one learner has come (§13.3–13.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// FOLLOWERINFO received; LEADERINFO goes once the epoch is fixed.
    Connected,
    /// LEADERINFO sent; waiting for ACKEPOCH.
    LeaderInfoSent,
    /// ACKEPOCH received; sync is planned once a quorum has acked the epoch.
    EpochAcked,
    /// Sync planned: head, data, then NEWLEADER.
    Syncing,
    /// NEWLEADER sent; waiting for its ACK.
    NewLeaderSent,
    /// NEWLEADER acked: its ACKs count; UPTODATE goes once the leader is established.
    Synced,
    /// UPTODATE sent.
    UpToDate,
}

/// The first message of a learner's sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Head {
    /// DIFF carrying the leader's commit point.
    Diff(Zxid),
    /// TRUNC to this zxid.
    Trunc(Zxid),
    /// SNAP; the zxid comes from the snapshot source when it is sent.
    Snap,
}

/// A snapshot on its way to a learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SnapStream {
    zxid: Zxid,
    offset: u64,
}

/// One connected learner (`LearnerHandler`).
#[derive(Clone, Debug)]
struct Learner {
    id: ServerId,
    role: LearnerType,
    stage: Stage,
    accepted_epoch: u32,
    /// Whether its ACKEPOCH counts toward the epoch quorum (not ACKEPOCH(−1)).
    epoch_vote: bool,
    peer_last_zxid: Zxid,
    head: Option<Head>,
    snap: Option<SnapStream>,
    /// NEWLEADER goes once `sent` reaches this: everything the leader held at planning.
    sync_target: Zxid,
    /// Last zxid whose PROPOSAL (or INFORM) was sent, or which the learner had already.
    sent: Zxid,
    /// Everything up to here is known committed at the learner (by COMMITs sent, or its
    /// snapshot).
    commit_sent: Zxid,
    /// Whether a COMMIT went since the sync began: the first is cumulative, covering the
    /// learner's own entries before the stream, and later ones name one proposal each.
    commit_started: bool,
    uptodate_pending: bool,
    /// Highest zxid this learner has durably logged, by its ACKs.
    acked: Zxid,
    ping_pending: bool,
    /// The read-index round of each unanswered ping, oldest first.
    pings: Deque<u64, PINGS_IN_FLIGHT_MAX>,
    /// The latest round a ping reply confirmed.
    confirmed_round: u64,
    last_heard: Instant,
}

/// A sync waiting for its quorum round and its commit point (§13.7, read index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingSync {
    origin: ServerId,
    session: SessionId,
    cxid: Xid,
    /// Every proposal up to here must be committed, and sent, before the reply.
    index: Zxid,
    /// Pings of this round or later prove leadership after the sync arrived.
    round: u64,
}

/// The leader role.
///
/// Inputs: [`Leader::handle_peer`], [`Leader::handle_disconnect`],
/// [`Leader::handle_durable`], [`Leader::handle_timeout`], [`Leader::propose`],
/// [`Leader::sync`]. Drain after each, in this order: [`Leader::poll_storage`] (persist
/// BEFORE sending: every operation but `Append` durable before the next step),
/// [`Leader::poll_transmit`], [`Leader::poll_commit`] (apply each before the next input),
/// [`Leader::poll_sync`], [`Leader::poll_event`], then arm [`Leader::poll_timeout`].
pub struct Leader<'s, Q: QuorumVerifier> {
    me: ServerId,
    quorum: Q,
    config: ZabConfig,
    state: LeaderState,
    epochs: Epochs,
    /// The epoch being established, once fixed.
    epoch: Option<u32>,
    /// `currentEpoch` and last zxid at election: a learner more recent is "ahead".
    start_history: (u32, Zxid),
    log: TxnLog<'s>,
    /// Cursors below this may have missed evicted entries.
    floor: Zxid,
    learners: Vec<Learner, ENSEMBLE_MAX>,
    /// Round-robin start of [`Leader::poll_transmit`], for fairness between learners.
    next_learner: usize,
    /// Highest zxid this server has durably logged (its own ack).
    durable: Zxid,
    /// Last zxid handed to storage.
    stored: Zxid,
    /// Last zxid handed to the server to apply.
    released: Zxid,
    storage: Deque<Storage, STORAGE_QUEUE_MAX>,
    events: Deque<Event, ENSEMBLE_MAX>,
    syncs: Deque<PendingSync, SYNCS_PENDING_MAX>,
    /// Learners whose last DIFF or TRUNC sync ended before they acked NEWLEADER: the next
    /// sync of each is a SNAP. A follower keeps a sync's data uncommitted until UPTODATE, so
    /// failed syncs can fill its bounded log, and it would then refuse the same DIFF every
    /// time; a SNAP starts its log afresh.
    resync_by_snap: heapless::Vec<ServerId, ENSEMBLE_MAX>,
    round: u64,
    /// Whether a ping has gone out in `round` (a new sync then needs a new round).
    round_used: bool,
    /// initLimit deadline of the current discovery/sync wait.
    phase_deadline: Instant,
    next_ping: Instant,
}

impl<'s, Q: QuorumVerifier> fmt::Debug for Leader<'s, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leader")
            .field("me", &self.me)
            .field("state", &self.state)
            .field("epoch", &self.epoch)
            .field("learners", &self.learners.len())
            .field("log", &self.log)
            .finish()
    }
}

impl<'s, Q: QuorumVerifier> Leader<'s, Q> {
    /// Starts leading after an election won at `now`, with the epoch files and the log the
    /// server recovered; the server's tree is at the log's commit point.
    ///
    /// Everything the log holds is this leader's history: it is offered to learners as
    /// such, and committed once a quorum acked NEWLEADER (ZAB's new leader has the most
    /// complete history of a quorum). Only then does the server apply it.
    pub fn new(now: Instant, me: ServerId, quorum: Q, config: ZabConfig, epochs: Epochs, log: TxnLog<'s>) -> Self {
        let last = log.last_zxid();
        let floor = match log.min_zxid() {
            // Entries held at or below the commit point: what preceded the oldest is gone.
            Some(min) if min <= log.committed() => min,
            // Entries only above the commit point (replayed after a snapshot), or none.
            _ => log.committed(),
        };
        let mut leader = Leader {
            me,
            quorum,
            config,
            state: LeaderState::Discovery,
            epochs,
            epoch: None,
            start_history: (epochs.current, last),
            floor,
            learners: Vec::new(),
            next_learner: 0,
            durable: last,
            stored: last,
            released: log.committed(),
            log,
            storage: Deque::new(),
            events: Deque::new(),
            syncs: Deque::new(),
            resync_by_snap: heapless::Vec::new(),
            round: 0,
            round_used: false,
            phase_deadline: now + config.init_ms(),
            next_ping: now,
        };
        // A leader alone is its own quorum.
        leader.try_fix_epoch(now);
        leader
    }

    // ---- getters ----

    /// This server.
    pub fn id(&self) -> ServerId {
        self.me
    }

    /// The phase.
    pub fn state(&self) -> LeaderState {
        self.state
    }

    /// True once a quorum acked NEWLEADER: clients may be served.
    pub fn is_established(&self) -> bool {
        self.state == LeaderState::Broadcast
    }

    /// The epoch being established, once discovery fixed it.
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

    /// The zxid the next [`Leader::propose`] will get, if leadership allows one.
    pub fn next_zxid(&self) -> Option<Zxid> {
        let epoch = self.epoch.filter(|_| self.is_established())?;
        let last = self.log.last_zxid();
        if last.epoch() == epoch {
            last.next()
        } else {
            Some(Zxid::new(epoch, 1))
        }
    }

    /// Learners currently connected.
    pub fn learner_count(&self) -> usize {
        self.learners.len()
    }

    // ---- inputs ----

    /// A message from server `from` on the quorum port.
    pub fn handle_peer(&mut self, now: Instant, from: ServerId, msg: &PeerMessage<'_>) -> Result<Handled, Misbehaving> {
        let bad = |reason| Misbehaving { peer: from, reason };
        if matches!(self.state, LeaderState::Ended(_)) {
            return Ok(Handled::Ignored);
        }
        if from == self.me || !self.quorum.is_member(from) {
            return Err(bad(Misbehavior::Stranger));
        }
        if let PeerMessage::FollowerInfo { accepted_epoch, protocol_version, role } = *msg {
            return self.on_follower_info(now, from, accepted_epoch, protocol_version, role);
        }
        let Some(at) = self.learners.iter().position(|l| l.id == from) else {
            // Anything but FOLLOWERINFO needs a connected learner.
            return Err(bad(Misbehavior::OutOfPhase(msg.name())));
        };
        let result = match *msg {
            PeerMessage::AckEpoch { current_epoch, last_logged_zxid } => {
                self.on_ack_epoch(now, at, current_epoch, last_logged_zxid)
            }
            PeerMessage::Ack { zxid } => self.on_ack(now, at, zxid),
            PeerMessage::PingReply { .. } => self.on_ping_reply(at),
            // §13.2/§13.8: server business; only from a learner that is synced.
            PeerMessage::Request { .. } | PeerMessage::Revalidate { .. } => {
                match self.learners.get(at).map(|l| l.stage) {
                    Some(s) if s >= Stage::Synced => Ok(Handled::ForServer),
                    _ => Err(Misbehavior::OutOfPhase(msg.name())),
                }
            }
            // Leader-to-learner messages, and election traffic on the wrong port.
            _ => Err(Misbehavior::OutOfPhase(msg.name())),
        };
        if result.is_ok() {
            if let Some(l) = self.learners.get_mut(at) {
                l.last_heard = now;
            }
        }
        result.map_err(bad)
    }

    /// The connection to learner `id` closed (or the shell closed it).
    pub fn handle_disconnect(&mut self, id: ServerId) {
        self.remove_learner(id);
    }

    /// Records up to `zxid` are durable in this server's log: its own ack.
    pub fn handle_durable(&mut self, zxid: Zxid) {
        // Only what was handed to storage can be durable.
        let zxid = zxid.min(self.stored);
        if zxid > self.durable {
            self.durable = zxid;
            self.advance_commit();
        }
    }

    /// Time passed; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            LeaderState::Ended(_) => return,
            LeaderState::Broadcast => {}
            _ if now >= self.phase_deadline => {
                // §13.3–13.4: each wait of discovery and sync is bounded by initLimit.
                self.end(RoleEnd::InitTimeout);
                return;
            }
            _ => {}
        }
        // Learners silent past their limit are dropped.
        let (init_ms, sync_ms) = (self.config.init_ms(), self.config.sync_ms());
        let mut i = 0;
        while let Some(l) = self.learners.get(i) {
            let limit = if l.stage >= Stage::Synced { sync_ms } else { init_ms };
            if now.since(l.last_heard) > limit {
                let id = l.id;
                self.remove_learner(id);
                let _ = self.events.push_back(Event::Disconnect(id));
            } else {
                i += 1;
            }
        }
        if self.state == LeaderState::Broadcast && now >= self.next_ping {
            self.next_ping = now + self.config.ping_ms();
            // §13.6: a quorum must have answered within syncLimit, the leader included.
            let alive = self.learners.iter().filter(|l| l.stage >= Stage::Synced).map(|l| l.id);
            if !self.quorum.contains_quorum(core::iter::once(self.me).chain(alive)) {
                self.end(RoleEnd::LostQuorum);
                return;
            }
            for l in self.learners.iter_mut().filter(|l| l.stage >= Stage::Synced) {
                l.ping_pending = true;
            }
        }
    }

    /// Proposes a txn (postcard [`crate::txn::Txn`] encoded for [`Leader::next_zxid`]);
    /// returns its zxid. The txn is logged (an [`Storage::Append`]) and sent to followers.
    pub fn propose(&mut self, now: Instant, txn: &[u8]) -> Result<Zxid, ProposeError> {
        // Every input takes the time; proposing arms no timer (syncLimit is per learner).
        let _ = now;
        if !self.is_established() {
            return Err(ProposeError::NotLeader);
        }
        let Some(zxid) = self.next_zxid() else {
            // §13.1: the counter would roll over; a new epoch must be elected.
            self.end(RoleEnd::CounterRollover);
            return Err(ProposeError::NotLeader);
        };
        if self.log.uncommitted().len() >= OUTSTANDING_PROPOSALS_MAX {
            return Err(ProposeError::Busy);
        }
        if decode_txn(zxid, txn).is_err() {
            return Err(ProposeError::BadTxn);
        }
        let min_before = self.log.min_zxid();
        self.log.append(zxid, txn).map_err(|_| ProposeError::Busy)?;
        debug_assert_eq!(self.log.last_zxid(), zxid);
        self.note_eviction(min_before);
        Ok(zxid)
    }

    /// A sync from `origin` (this server, or a learner's forwarded REQUEST): answered once
    /// a quorum round started after it confirms this leadership and every proposal made
    /// before it is committed, so a read after it sees every write acknowledged before it.
    pub fn sync(&mut self, now: Instant, origin: ServerId, session: SessionId, cxid: Xid) -> Result<(), SyncError> {
        // Every input takes the time; the round rides on the pings' own schedule.
        let _ = now;
        if !self.is_established() {
            return Err(SyncError::NotLeader);
        }
        if origin != self.me && !self.learners.iter().any(|l| l.id == origin && l.stage >= Stage::Synced) {
            return Err(SyncError::UnknownOrigin);
        }
        if self.syncs.is_full() {
            return Err(SyncError::Busy);
        }
        if self.round_used {
            self.round = self.round.saturating_add(1);
            self.round_used = false;
        }
        let pending = PendingSync { origin, session, cxid, index: self.log.last_zxid(), round: self.round };
        let _ = self.syncs.push_back(pending);
        for l in self.learners.iter_mut().filter(|l| l.stage >= Stage::Synced) {
            l.ping_pending = true;
        }
        Ok(())
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
        let (zxid, _) = self.log.range_after(self.stored).next()?;
        self.stored = zxid;
        Some(Storage::Append { zxid })
    }

    /// The next message to send. `snapshot` supplies SNAP data and `chunk` is where a
    /// snapshot chunk is read into (size it below the peer frame bound).
    pub fn poll_transmit<'a, S: SnapshotSource>(
        &'a mut self,
        snapshot: &mut S,
        chunk: &'a mut [u8],
    ) -> Option<Transmit<'a>> {
        if matches!(self.state, LeaderState::Ended(_)) {
            return None;
        }
        let n = self.learners.len();
        for k in 0..n {
            let at = self.next_learner.wrapping_add(k) % n;
            match self.next_for(at, snapshot, chunk) {
                Ok(Some(out)) => {
                    self.next_learner = at.wrapping_add(1);
                    return self.materialize(at, out, chunk);
                }
                Ok(None) => {}
                Err(()) => {
                    // This learner cannot be served; the rest can.
                    if let Some(id) = self.learners.get(at).map(|l| l.id) {
                        self.remove_learner(id);
                        let _ = self.events.push_back(Event::Disconnect(id));
                    }
                    return self.poll_transmit(snapshot, chunk);
                }
            }
        }
        None
    }

    /// The next committed zxid for the server to apply, in order. The log commits only
    /// once a quorum acked NEWLEADER (§13.4), so nothing is applied before.
    pub fn poll_commit(&mut self) -> Option<Zxid> {
        let (zxid, _) = self.log.range_after(self.released).next()?;
        if zxid > self.log.committed() {
            return None;
        }
        self.released = zxid;
        Some(zxid)
    }

    /// A sync issued on this server that may now be answered (after every commit polled).
    pub fn poll_sync(&mut self) -> Option<(SessionId, Xid)> {
        let pos = self.syncs.iter().position(|s| s.origin == self.me)?;
        let s = *self.syncs.iter().nth(pos)?;
        if !self.sync_ready(&s) || self.released < s.index {
            return None;
        }
        self.remove_sync(pos);
        Some((s.session, s.cxid))
    }

    /// The next event for the shell.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Leader::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let init_ms = self.config.init_ms();
        let sync_ms = self.config.sync_ms();
        let learner = self
            .learners
            .iter()
            .map(|l| l.last_heard + if l.stage >= Stage::Synced { sync_ms } else { init_ms } + 1)
            .min();
        let role = match self.state {
            LeaderState::Ended(_) => return None,
            LeaderState::Broadcast => self.next_ping,
            _ => self.phase_deadline,
        };
        Some(learner.map_or(role, |l| l.min(role)))
    }

    // ---- phase 1: discovery ----

    fn on_follower_info(
        &mut self,
        now: Instant,
        from: ServerId,
        accepted_epoch: u32,
        protocol_version: u32,
        role: LearnerType,
    ) -> Result<Handled, Misbehaving> {
        let bad = |reason| Misbehaving { peer: from, reason };
        // Filter: the announced role must be the configured one; the epoch must leave room
        // for a successor.
        let configured = if self.quorum.is_voter(from) { LearnerType::Participant } else { LearnerType::Observer };
        if role != configured {
            return Err(bad(Misbehavior::WrongRole));
        }
        if accepted_epoch == u32::MAX {
            return Err(bad(Misbehavior::ImpossibleEpoch(accepted_epoch)));
        }
        // One ZAB version exists in herd; the frame's version byte already gates peers.
        let _ = protocol_version;
        // A FOLLOWERINFO from a known learner is a reconnect: start it over.
        self.remove_learner(from);
        let learner = Learner {
            id: from,
            role,
            stage: Stage::Connected,
            accepted_epoch,
            epoch_vote: false,
            peer_last_zxid: Zxid::ZERO,
            head: None,
            snap: None,
            sync_target: Zxid::ZERO,
            sent: Zxid::ZERO,
            commit_sent: Zxid::ZERO,
            commit_started: false,
            uptodate_pending: false,
            acked: Zxid::ZERO,
            ping_pending: false,
            pings: Deque::new(),
            confirmed_round: 0,
            last_heard: now,
        };
        // Cannot fail: members are at most ENSEMBLE_MAX and each appears once.
        if self.learners.push(learner).is_err() {
            return Err(bad(Misbehavior::Stranger));
        }
        if self.epoch.is_none() {
            self.try_fix_epoch(now);
        }
        Ok(Handled::Done)
    }

    /// §13.3 step 1: once a quorum (this server included) has connected, the epoch is
    /// `max(acceptedEpoch) + 1`, persisted as acceptedEpoch before LEADERINFO goes out.
    fn try_fix_epoch(&mut self, now: Instant) {
        debug_assert!(self.epoch.is_none());
        let connected = self.learners.iter().filter(|l| l.role == LearnerType::Participant).map(|l| l.id);
        if !self.quorum.contains_quorum(core::iter::once(self.me).chain(connected)) {
            return;
        }
        let max = self.learners.iter().map(|l| l.accepted_epoch).fold(self.epochs.accepted, u32::max);
        let Some(epoch) = max.checked_add(1) else {
            self.end(RoleEnd::CounterRollover);
            return;
        };
        self.epoch = Some(epoch);
        self.epochs.accepted = epoch;
        self.push_storage(Storage::PersistEpochs(self.epochs));
        self.state = LeaderState::EpochAck;
        self.phase_deadline = now + self.config.init_ms();
        // Learners are told in poll_transmit (stage Connected → LEADERINFO).
        self.try_epoch_quorum(now);
    }

    fn on_ack_epoch(
        &mut self,
        now: Instant,
        at: usize,
        current: Option<u32>,
        last: Zxid,
    ) -> Result<Handled, Misbehavior> {
        let epoch = self.epoch.ok_or(Misbehavior::OutOfPhase("ACKEPOCH"))?;
        let l = self.learners.get_mut(at).ok_or(Misbehavior::Stranger)?;
        // Filter: only in answer to LEADERINFO, with a history that can exist.
        if l.stage != Stage::LeaderInfoSent {
            return Err(Misbehavior::OutOfPhase("ACKEPOCH"));
        }
        check_zxid_claim(last, epoch).map_err(Misbehavior::Undecodable)?;
        if let Some(c) = current {
            if c >= epoch {
                return Err(Misbehavior::ImpossibleEpoch(c));
            }
        }
        l.stage = Stage::EpochAcked;
        l.peer_last_zxid = last;
        l.epoch_vote = current.is_some();
        let id = l.id;
        // §13.3 step 3: a learner more recent than the leader means the election erred.
        // Only while the epoch quorum forms (ZooKeeper's `electionFinished`): once the
        // epoch is established, a quorum has this leader's history, so a late joiner's
        // extra txns were never committed and are truncated.
        if let Some(c) = current.filter(|_| self.state == LeaderState::EpochAck) {
            if (c, last) > self.start_history {
                self.end(RoleEnd::FollowerAhead(id));
                return Ok(Handled::Done);
            }
        }
        match self.state {
            LeaderState::EpochAck => self.try_epoch_quorum(now),
            // Late joiners are synced at once.
            LeaderState::Sync | LeaderState::Broadcast => self.plan_sync(at),
            _ => {}
        }
        Ok(Handled::Done)
    }

    /// §13.3 step 3: a quorum of ACKEPOCH (this server included) lets sync begin; the
    /// leader persists currentEpoch first.
    fn try_epoch_quorum(&mut self, now: Instant) {
        if self.state != LeaderState::EpochAck {
            return;
        }
        let acked = self.learners.iter().filter(|l| l.stage >= Stage::EpochAcked && l.epoch_vote).map(|l| l.id);
        if !self.quorum.contains_quorum(core::iter::once(self.me).chain(acked)) {
            return;
        }
        let Some(epoch) = self.epoch else { return };
        self.epochs.current = epoch;
        self.push_storage(Storage::PersistEpochs(self.epochs));
        self.state = LeaderState::Sync;
        self.phase_deadline = now + self.config.init_ms();
        for at in 0..self.learners.len() {
            if self.learners.get(at).is_some_and(|l| l.stage == Stage::EpochAcked) {
                self.plan_sync(at);
            }
        }
        // This server has acked NEWLEADER by persisting currentEpoch.
        self.try_establish(now);
    }

    // ---- phase 2: sync ----

    /// §13.4: how to bring learner `at` up to date, and where its stream starts.
    fn plan_sync(&mut self, at: usize) {
        let last = self.log.last_zxid();
        let Some(peer) = self.learners.get(at).map(|l| l.peer_last_zxid) else { return };
        let by_snap = self.learners.get(at).is_some_and(|l| self.resync_by_snap.contains(&l.id));
        let plan = if by_snap { SyncPlan::Snap } else { self.history_plan(peer) };
        let (head, start) = match plan {
            SyncPlan::EmptyDiff => (Head::Diff(last), peer),
            SyncPlan::Diff { from } => (Head::Diff(last), from),
            SyncPlan::Trunc { to } => (Head::Trunc(to), to),
            SyncPlan::TruncThenDiff { to, from } => (Head::Trunc(to), from),
            SyncPlan::Snap => (Head::Snap, Zxid::ZERO),
        };
        let Some(l) = self.learners.get_mut(at) else { return };
        debug_assert_eq!(l.stage, Stage::EpochAcked);
        l.head = Some(head);
        l.sent = start;
        l.commit_sent = Zxid::ZERO;
        l.commit_started = false;
        l.sync_target = last;
        l.stage = Stage::Syncing;
    }

    /// [`TxnLog::sync_plan`] over this leader's whole history: the entries above its commit
    /// point (its tail from earlier epochs before it is established, proposals in flight
    /// after) are history too, as ZooKeeper's leader loads its whole log. The log's own
    /// plan sees only committed entries; the tail rows are decided here with the same
    /// rules (§13.4).
    fn history_plan(&self, peer: Zxid) -> SyncPlan {
        let last = self.log.last_zxid();
        let committed = self.log.committed();
        if peer == last {
            return SyncPlan::EmptyDiff;
        }
        let in_history = peer == committed || (peer > committed && (self.log.contains(peer) || peer.counter() == 0));
        if in_history && peer < last {
            // The peer's last zxid is in the history (or a fresh epoch): DIFF.
            return SyncPlan::Diff { from: peer };
        }
        if peer > last {
            // Row `peerLastZxid > maxCommittedLog`: TRUNC to the history's end; a fresh
            // epoch above it cannot be trimmed and falls to SNAP.
            return if peer.counter() == 0 { SyncPlan::Snap } else { SyncPlan::Trunc { to: last } };
        }
        if peer > committed {
            // The peer holds a zxid inside the tail that this leader lacks.
            let prev = self.log.iter().rev().map(|(z, _)| z).find(|&z| z < peer);
            return match prev {
                Some(prev) if prev.epoch() == peer.epoch() && prev >= self.floor => {
                    SyncPlan::TruncThenDiff { to: prev, from: prev }
                }
                _ => SyncPlan::Snap,
            };
        }
        self.log.sync_plan(peer, last)
    }

    fn on_ack(&mut self, now: Instant, at: usize, zxid: Zxid) -> Result<Handled, Misbehavior> {
        let epoch = self.epoch.ok_or(Misbehavior::OutOfPhase("ACK"))?;
        let established = self.is_established();
        let l = self.learners.get_mut(at).ok_or(Misbehavior::Stranger)?;
        if zxid == epoch_start(epoch) {
            match l.stage {
                // §13.4: the learner persisted the sync data and currentEpoch.
                Stage::NewLeaderSent => {
                    l.stage = Stage::Synced;
                    let id = l.id;
                    self.resync_by_snap.retain(|&r| r != id);
                    let l = self.learners.get_mut(at).ok_or(Misbehavior::Stranger)?;
                    l.acked = l.sync_target;
                    l.uptodate_pending = established;
                    if established {
                        self.advance_commit();
                    } else {
                        self.try_establish(now);
                    }
                    return Ok(Handled::Done);
                }
                // The ack of UPTODATE carries nothing.
                Stage::Synced | Stage::UpToDate => return Ok(Handled::Done),
                _ => return Err(Misbehavior::OutOfPhase("ACK")),
            }
        }
        // A proposal ack: only once synced, only for a proposal it was sent.
        if l.stage < Stage::Synced {
            return Err(Misbehavior::OutOfPhase("ACK"));
        }
        if zxid > l.sent || zxid.epoch() != epoch {
            return Err(Misbehavior::ImpossibleZxid(zxid));
        }
        if zxid > l.acked {
            l.acked = zxid;
            self.advance_commit();
        }
        Ok(Handled::Done)
    }

    /// §13.4: a quorum of NEWLEADER acks (this server's included) establishes the leader:
    /// UPTODATE to every synced learner, commits released to the server.
    fn try_establish(&mut self, now: Instant) {
        if self.state != LeaderState::Sync {
            return;
        }
        let synced = self
            .learners
            .iter()
            .filter(|l| l.stage >= Stage::Synced && l.role == LearnerType::Participant)
            .map(|l| l.id);
        if !self.quorum.contains_quorum(core::iter::once(self.me).chain(synced)) {
            return;
        }
        self.state = LeaderState::Broadcast;
        self.next_ping = now;
        for l in self.learners.iter_mut().filter(|l| l.stage == Stage::Synced) {
            l.uptodate_pending = true;
        }
        self.advance_commit();
    }

    // ---- phase 3: broadcast ----

    /// §13.5: the commit point is the highest zxid a quorum (this server's durable write
    /// included) has acked. Acks are cumulative, so earlier proposals commit with it, in
    /// order.
    fn advance_commit(&mut self) {
        if !self.is_established() {
            return;
        }
        let committed = self.log.committed();
        let mut best = committed;
        let voters = self.learners.iter().filter(|l| l.stage >= Stage::Synced);
        for candidate in core::iter::once(self.durable).chain(voters.map(|l| l.acked)) {
            if candidate <= best || !self.log.contains(candidate) {
                continue;
            }
            let holders =
                self.learners.iter().filter(|l| l.stage >= Stage::Synced && l.acked >= candidate).map(|l| l.id);
            let me = (self.durable >= candidate).then_some(self.me);
            if self.quorum.contains_quorum(me.into_iter().chain(holders)) {
                best = candidate;
            }
        }
        if best > committed {
            // `best` is held, so the commit cannot fail.
            let _ = self.log.commit_up_to(best);
        }
    }

    fn on_ping_reply(&mut self, at: usize) -> Result<Handled, Misbehavior> {
        let l = self.learners.get_mut(at).ok_or(Misbehavior::Stranger)?;
        let round = l.pings.pop_front().ok_or(Misbehavior::UnsolicitedPing)?;
        l.confirmed_round = l.confirmed_round.max(round);
        Ok(Handled::ForServer)
    }

    fn sync_ready(&self, s: &PendingSync) -> bool {
        if self.log.committed() < s.index {
            return false;
        }
        let confirmed =
            self.learners.iter().filter(|l| l.stage >= Stage::Synced && l.confirmed_round >= s.round).map(|l| l.id);
        self.quorum.contains_quorum(core::iter::once(self.me).chain(confirmed))
    }

    fn remove_sync(&mut self, pos: usize) {
        // Rotate the rest through, keeping their order.
        let len = self.syncs.len();
        for i in 0..len {
            if let Some(s) = self.syncs.pop_front() {
                if i != pos {
                    let _ = self.syncs.push_back(s);
                }
            }
        }
    }

    // ---- transmit ----

    /// Decides learner `at`'s next message and moves its cursors; bytes are attached by
    /// [`Leader::materialize`]. `Err` means the learner cannot be served.
    fn next_for<S: SnapshotSource>(
        &mut self,
        at: usize,
        snapshot: &mut S,
        chunk: &mut [u8],
    ) -> Result<Option<Out>, ()> {
        let committed = self.log.committed();
        let floor = self.floor;
        let epoch = self.epoch.unwrap_or(0);
        let established = self.is_established();
        let ready_sync = self
            .syncs
            .iter()
            .position(|s| s.origin == self.learners.get(at).map_or(self.me, |l| l.id) && self.sync_ready(s));
        let Some(l) = self.learners.get_mut(at) else { return Ok(None) };
        // §13.3 step 2.
        if l.stage == Stage::Connected {
            if self.epoch.is_none() {
                return Ok(None);
            }
            l.stage = Stage::LeaderInfoSent;
            return Ok(Some(Out::LeaderInfo(epoch)));
        }
        if l.stage < Stage::Syncing {
            return Ok(None);
        }
        // §13.4: the head of the sync, then the snapshot.
        if let Some(head) = l.head.take() {
            return Ok(Some(match head {
                Head::Diff(z) => Out::Diff(z),
                Head::Trunc(z) => Out::Trunc(z),
                Head::Snap => {
                    let z = snapshot.begin(l.id).map_err(|_| ())?;
                    // The snapshot must be of committed state the log continues from.
                    if z > committed || z < floor {
                        return Err(());
                    }
                    l.snap = Some(SnapStream { zxid: z, offset: 0 });
                    l.sent = z;
                    l.commit_sent = z;
                    l.commit_started = true;
                    Out::Snap(z)
                }
            }));
        }
        if let Some(s) = l.snap {
            let (n, last) = snapshot.read(l.id, s.offset, chunk).map_err(|_| ())?;
            if n > chunk.len() || (n == 0 && !last) {
                return Err(());
            }
            l.snap = if last { None } else { Some(SnapStream { offset: s.offset.saturating_add(n as u64), ..s }) };
            return Ok(Some(Out::Chunk(n, last)));
        }
        let observer = l.role == LearnerType::Observer;
        let in_sync = l.stage == Stage::Syncing;
        // COMMITs for what it was sent as PROPOSAL (observers get INFORMs after sync, which
        // carry their own commit).
        let commit_to = committed.min(l.sent);
        if l.commit_sent < commit_to {
            let z = if l.commit_started {
                next_after(&self.log, l.commit_sent, floor).map_err(|_| ())?.filter(|&z| z <= commit_to)
            } else {
                Some(commit_to)
            };
            if let Some(z) = z {
                l.commit_sent = z;
                l.commit_started = true;
                return Ok(Some(Out::Commit(z)));
            }
        }
        // NEWLEADER once the stream reached what the leader held at planning.
        if in_sync && l.sent >= l.sync_target {
            l.stage = Stage::NewLeaderSent;
            return Ok(Some(Out::NewLeader(epoch_start(epoch))));
        }
        if l.uptodate_pending && established {
            l.uptodate_pending = false;
            l.stage = Stage::UpToDate;
            return Ok(Some(Out::UpToDate));
        }
        // Sync replies after the commits they wait for.
        if let Some(pos) = ready_sync {
            let s = self.syncs.iter().nth(pos).copied();
            if let Some(s) = s.filter(|s| l.stage == Stage::UpToDate && l.commit_sent >= s.index) {
                self.remove_sync(pos);
                return Ok(Some(Out::SyncReply(s.session, s.cxid)));
            }
        }
        if l.ping_pending && l.stage >= Stage::Synced && !l.pings.is_full() {
            l.ping_pending = false;
            let _ = l.pings.push_back(self.round);
            self.round_used = true;
            return Ok(Some(Out::Ping));
        }
        // Proposals in order: up to the sync target while syncing, then live ones.
        if l.stage != Stage::NewLeaderSent || !observer {
            let z = next_after(&self.log, l.sent, floor).map_err(|_| ())?;
            if let Some(z) = z {
                if observer && !in_sync {
                    if z <= committed {
                        l.sent = z;
                        l.commit_sent = z;
                        l.commit_started = true;
                        return Ok(Some(Out::Inform(z)));
                    }
                } else if !in_sync || z <= l.sync_target {
                    l.sent = z;
                    return Ok(Some(Out::Proposal(z)));
                }
            }
        }
        Ok(None)
    }

    fn materialize<'a>(&'a self, at: usize, out: Out, chunk: &'a [u8]) -> Option<Transmit<'a>> {
        let to = self.learners.get(at)?.id;
        let txn = |z: Zxid| self.log.get(z).unwrap_or(&[]);
        let msg = match out {
            Out::LeaderInfo(new_epoch) => PeerMessage::LeaderInfo { new_epoch, protocol_version: ZAB_PROTOCOL_VERSION },
            Out::Diff(zxid) => PeerMessage::Diff { zxid },
            Out::Trunc(zxid) => PeerMessage::Trunc { zxid },
            Out::Snap(zxid) => PeerMessage::Snap { zxid },
            Out::Chunk(n, last) => PeerMessage::SnapChunk { bytes: chunk.get(..n).unwrap_or(&[]), last },
            Out::Proposal(zxid) => PeerMessage::Proposal { zxid, txn: txn(zxid) },
            Out::Commit(zxid) => PeerMessage::Commit { zxid },
            Out::Inform(zxid) => PeerMessage::Inform { zxid, txn: txn(zxid) },
            Out::NewLeader(zxid) => PeerMessage::NewLeader { zxid },
            Out::UpToDate => PeerMessage::UpToDate,
            Out::Ping => PeerMessage::Ping,
            Out::SyncReply(session, cxid) => PeerMessage::SyncReply { session, cxid },
        };
        Some(Transmit { to, msg })
    }

    // ---- helpers ----

    /// The one way out of leadership: everything the role owns stops.
    fn end(&mut self, why: RoleEnd) {
        if matches!(self.state, LeaderState::Ended(_)) {
            return;
        }
        self.state = LeaderState::Ended(why);
        self.syncs.clear();
        for l in self.learners.iter() {
            let _ = self.events.push_back(Event::Disconnect(l.id));
        }
        self.learners.clear();
    }

    fn remove_learner(&mut self, id: ServerId) {
        if let Some(at) = self.learners.iter().position(|l| l.id == id) {
            let l = self.learners.swap_remove(at);
            let failed_sync = matches!(l.stage, Stage::Syncing | Stage::NewLeaderSent)
                && !matches!(l.head, Some(Head::Snap))
                && l.snap.is_none();
            if failed_sync && !self.resync_by_snap.contains(&id) {
                // Bounded by the membership (ENSEMBLE_MAX), which a learner is part of.
                let _ = self.resync_by_snap.push(id);
            }
            // Its pending syncs can no longer be answered.
            let len = self.syncs.len();
            for _ in 0..len {
                if let Some(s) = self.syncs.pop_front() {
                    if s.origin != id {
                        let _ = self.syncs.push_back(s);
                    }
                }
            }
        }
    }

    fn push_storage(&mut self, op: Storage) {
        // STORAGE_QUEUE_MAX covers every operation one phase emits; overflowing it is a bug.
        let pushed = self.storage.push_back(op);
        debug_assert!(pushed.is_ok(), "storage queue overflow");
    }

    /// After an append, cursors below the new oldest entry may have missed evicted ones.
    fn note_eviction(&mut self, min_before: Option<Zxid>) {
        if let (Some(before), Some(after)) = (min_before, self.log.min_zxid()) {
            if after > before {
                self.floor = self.floor.max(after);
            }
        }
    }
}

/// A decided message, before its bytes are attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    LeaderInfo(u32),
    Diff(Zxid),
    Trunc(Zxid),
    Snap(Zxid),
    Chunk(usize, bool),
    Proposal(Zxid),
    Commit(Zxid),
    Inform(Zxid),
    NewLeader(Zxid),
    UpToDate,
    Ping,
    SyncReply(SessionId, Xid),
}
