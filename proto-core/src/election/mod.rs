//! FastLeaderElection: how a server that has lost (or never had) a leader finds one
//! (reference §12; ZooKeeper's `FastLeaderElection.lookForLeader` and its receive worker).
//!
//! Each server proposes itself, then adopts any better vote it hears, where "better" is the
//! order (peer epoch, zxid, server id). Votes count only within one round (logical clock);
//! once a quorum shares this server's proposal and no better vote arrives for
//! [`FINALIZE_WAIT_MS`], the proposal wins. A server that restarts into a running ensemble
//! learns the leader from the FOLLOWING/LEADING answers of a quorum instead.
//!
//! [`Election`] is a sans-IO state machine. Inputs: [`Election::start`] (the server became
//! LOOKING), [`Election::handle_notification`], [`Election::handle_timeout`]. After any
//! input the shell drains, in this order:
//! 1. [`Election::poll_outcome`]: the election ended; hand the decided vote to ZAB;
//! 2. [`Election::poll_transmit`] until `None`: notifications to send (each already reflects
//!    the latest state, so draining late sends nothing stale);
//! 3. [`Election::poll_timeout`]: the one deadline to arm.
//!
//! The election stays alive after deciding: it answers LOOKING servers with the decided
//! vote until the server starts looking again.

mod outbox;
mod tally;
mod vote;

#[cfg(test)]
mod tests;

pub use outbox::{Dest, Transmit, OUTBOX_MAX};
pub use vote::{Notification, ServerState, Vote};

use crate::quorum::{QuorumVerifier, ServerId};
use crate::time::Instant;
use crate::Zxid;
use tally::VoteTable;
use vote::Ballot;

/// How long a quorum must hold, with no better vote arriving, before the proposal wins
/// (`finalizeWait`). Not configurable in ZooKeeper.
pub const FINALIZE_WAIT_MS: u64 = 200;

/// First resend interval when no notification arrives
/// (`zookeeper.fastleader.minNotificationInterval`, default `finalizeWait`).
pub const MIN_NOTIFICATION_INTERVAL_MS: u64 = FINALIZE_WAIT_MS;

/// Cap of the doubling resend interval (`zookeeper.fastleader.maxNotificationInterval`).
pub const MAX_NOTIFICATION_INTERVAL_MS: u64 = 60_000;

const _: () = assert!(MIN_NOTIFICATION_INTERVAL_MS > 0);
const _: () = assert!(MIN_NOTIFICATION_INTERVAL_MS <= MAX_NOTIFICATION_INTERVAL_MS);

/// What a server knows about itself when it starts looking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteInputs {
    /// The last zxid in its txn log.
    pub last_logged_zxid: Zxid,
    /// Its `currentEpoch` file.
    pub current_epoch: u32,
}

/// The end of an election, for ZAB to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// LEADING, FOLLOWING or OBSERVING.
    pub state: ServerState,
    /// The elected leader.
    pub leader: ServerId,
    /// The leader's last logged zxid, as it was voted for.
    pub zxid: Zxid,
    /// The leader's `currentEpoch`, as it was voted for.
    pub peer_epoch: u32,
    /// The round in which the leader was elected.
    pub election_epoch: u64,
}

/// Why [`Election::new`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewError {
    /// This server is not listed in the configuration.
    NotMember,
}

/// Why a notification was ignored (for logs; ignoring is always safe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// [`Election::start`] has not been called yet.
    NotStarted,
    /// The sender claims to be this server; own votes are counted internally.
    FromSelf,
    /// The sender is not in the configuration.
    UnknownSender,
    /// The proposed leader is not a voter of the configuration.
    LeaderNotVoter,
    /// A LOOKING vote with zxid `-1` (an uninitialized database in ZooKeeper).
    UnknownZxid,
}

/// The election's timers (quinn's `Timer` table): one deadline each, the next is the minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// No notification for the current interval: resend my proposal.
    Resend = 0,
    /// A quorum agrees with my proposal: decide unless a better vote shows up first.
    Finalize = 1,
}

const TIMER_COUNT: usize = 2;

#[derive(Clone, Copy, Debug, Default)]
struct TimerTable([Option<Instant>; TIMER_COUNT]);

impl TimerTable {
    fn get(&self, t: Timer) -> Option<Instant> {
        self.0.get(t as usize).copied().flatten()
    }
    fn set(&mut self, t: Timer, at: Instant) {
        if let Some(slot) = self.0.get_mut(t as usize) {
            *slot = Some(at);
        }
    }
    fn stop(&mut self, t: Timer) {
        if let Some(slot) = self.0.get_mut(t as usize) {
            *slot = None;
        }
    }
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

/// State owned by a LOOKING server (`lookForLeader`'s locals).
#[derive(Clone, Copy, Debug)]
struct Looking {
    /// My own vote for this election (`getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch`).
    init: Vote,
    /// The vote I currently send.
    proposal: Vote,
    /// Votes of the current round (`recvset`).
    recv: VoteTable,
    /// Votes of servers out of election, any round (`outofelection`).
    out: VoteTable,
    /// Current resend interval (`notTimeout`), doubling up to the maximum.
    resend_ms: u64,
}

/// Per-state data. `Looking` is large (two vote tables) but lives inline: no heap.
#[derive(Clone, Copy, Debug)]
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// Created, not yet started.
    Idle,
    /// Electing.
    Looking(Looking),
    /// Elected: following, leading or observing `vote.leader`.
    Decided { state: ServerState, vote: Vote },
}

/// One server's FastLeaderElection. See the module docs for the drain order.
#[derive(Clone, Debug)]
pub struct Election<Q: QuorumVerifier> {
    my_id: ServerId,
    quorum: Q,
    /// The logical clock; when decided, the round the leader was elected in.
    round: u64,
    phase: Phase,
    timers: TimerTable,
    outbox: outbox::Outbox,
    outcome: Option<Outcome>,
}

impl<Q: QuorumVerifier> Election<Q> {
    /// An idle election for server `my_id` under the rule `quorum`.
    pub fn new(my_id: ServerId, quorum: Q) -> Result<Self, NewError> {
        if !quorum.is_member(my_id) {
            return Err(NewError::NotMember);
        }
        Ok(Election {
            my_id,
            quorum,
            round: 0,
            phase: Phase::Idle,
            timers: TimerTable::default(),
            outbox: outbox::Outbox::EMPTY,
            outcome: None,
        })
    }

    /// This server.
    pub fn my_id(&self) -> ServerId {
        self.my_id
    }

    /// The quorum rule in use.
    pub fn quorum(&self) -> &Q {
        &self.quorum
    }

    /// My state: LOOKING until an election decides (and before the first one).
    pub fn state(&self) -> ServerState {
        match self.phase {
            Phase::Idle | Phase::Looking(_) => ServerState::Looking,
            Phase::Decided { state, .. } => state,
        }
    }

    /// The logical clock (round); after a decision, the round of the decided vote.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// My proposal while looking, the decided vote afterwards, `None` before starting.
    pub fn current_vote(&self) -> Option<Vote> {
        match self.phase {
            Phase::Idle => None,
            Phase::Looking(l) => Some(l.proposal),
            Phase::Decided { vote, .. } => Some(vote),
        }
    }

    /// True while a quorum agrees with my proposal and the finalize wait runs.
    pub fn is_finalizing(&self) -> bool {
        self.timers.get(Timer::Finalize).is_some()
    }

    /// Number of notifications waiting in [`Election::poll_transmit`].
    pub fn pending_transmits(&self) -> usize {
        self.outbox.len()
    }

    /// Starts a new election (`lookForLeader`): the server is LOOKING from now on.
    ///
    /// Called at boot and whenever ZAB gives up on its leader or followers. Anything still
    /// queued from the previous role is dropped, so that no stale FOLLOWING/LEADING
    /// notification leaves after this server has become LOOKING.
    pub fn start(&mut self, now: Instant, inputs: VoteInputs) {
        // §12.3.1: logicalclock += 1, propose self. Non-voters propose a vote that every
        // voter's vote beats (ZooKeeper sends Long.MIN for all three fields).
        self.round = self.round.saturating_add(1);
        let init = if self.quorum.is_voter(self.my_id) {
            Vote { peer_epoch: inputs.current_epoch, zxid: inputs.last_logged_zxid, leader: self.my_id }
        } else {
            Vote { peer_epoch: 0, zxid: Zxid::ZERO, leader: self.my_id }
        };
        self.outbox.clear();
        self.outcome = None;
        self.timers = TimerTable::default();
        self.phase = Phase::Looking(Looking {
            init,
            proposal: init,
            recv: VoteTable::EMPTY,
            out: VoteTable::EMPTY,
            resend_ms: MIN_NOTIFICATION_INTERVAL_MS,
        });
        self.timers.set(Timer::Resend, now + MIN_NOTIFICATION_INTERVAL_MS);
        self.broadcast();
        // A one-voter ensemble is its own quorum.
        self.check_quorum(now);
    }

    /// A notification from server `from` (known from the connection, not from the message).
    pub fn handle_notification(&mut self, now: Instant, from: ServerId, n: Notification) -> Result<(), Rejected> {
        // Filter: senders we cannot answer or must not count.
        if from == self.my_id {
            return Err(Rejected::FromSelf);
        }
        if !self.quorum.is_member(from) {
            return Err(Rejected::UnknownSender);
        }
        if matches!(self.phase, Phase::Idle) {
            return Err(Rejected::NotStarted);
        }

        // Receive side (the receive worker), before any tally.
        if !self.quorum.is_voter(from) {
            // §12.3.7: a non-voter is answered with my current vote and never counted. Only a
            // LOOKING one, though: answering an observer that has decided (and that answers
            // every LOOKING voter) would bounce notifications between us for as long as I
            // stay LOOKING — the simulator found that storm.
            if n.state == ServerState::Looking {
                self.answer(from);
            }
            return Ok(());
        }
        if !matches!(self.phase, Phase::Looking(_)) {
            // §12.3.7: out of election, tell a LOOKING server whom I follow; ignore the rest.
            if n.state == ServerState::Looking {
                self.answer(from);
            }
            return Ok(());
        }
        if n.state == ServerState::Looking && n.election_epoch < self.round && self.quorum.is_voter(self.my_id) {
            // §12.3.7: a voter lagging a round behind gets my proposal to catch up with.
            // (A non-voter's answer would be discarded by the voter, who would answer it
            // back; skipping it avoids that ping-pong.)
            self.answer(from);
        }

        // lookForLeader's filters (§12.3.3).
        if !self.quorum.is_voter(n.leader) {
            return Err(Rejected::LeaderNotVoter);
        }
        if n.state == ServerState::Looking && n.zxid == Zxid(u64::MAX) {
            return Err(Rejected::UnknownZxid);
        }

        let Phase::Looking(looking) = &self.phase else {
            return Ok(());
        };
        debug_assert!(self.timers.get(Timer::Resend).is_some() || self.is_finalizing());

        if self.is_finalizing() {
            // §12.3.4: while the finalize wait runs, notifications that do not beat my
            // proposal are consumed and dropped, and each restarts the wait; a better one
            // ends the wait and is processed normally.
            if !n.vote().beats(&looking.proposal, &self.quorum) {
                self.timers.set(Timer::Finalize, now + FINALIZE_WAIT_MS);
                return Ok(());
            }
            self.timers.stop(Timer::Finalize);
        }
        // A notification arrived, so the poll that would have triggered a resend restarts.
        self.timers.set(Timer::Resend, now + looking.resend_ms);

        match n.state {
            // §12.3.4
            ServerState::Looking => self.on_looking(now, from, n),
            // §12.3.5
            ServerState::Observing => {}
            // §12.3.6
            ServerState::Following | ServerState::Leading => self.on_out_of_election(from, n),
        }
        Ok(())
    }

    /// Fires due timers; harmless when called early or when nothing is armed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        if let Some(at) = self.timers.get(Timer::Finalize) {
            // The resend timer is stopped while finalizing (ZooKeeper blocks in the inner
            // poll loop, sending nothing).
            if now >= at {
                let (vote, round) = (looking.proposal, self.round);
                self.become_decided(vote, round);
            }
            return;
        }
        let Some(at) = self.timers.get(Timer::Resend) else {
            return;
        };
        if now < at {
            return;
        }
        // §12.3.2: nothing heard for a whole interval: resend and back off.
        looking.resend_ms = looking.resend_ms.saturating_mul(2).min(MAX_NOTIFICATION_INTERVAL_MS);
        self.timers.set(Timer::Resend, now + looking.resend_ms);
        self.broadcast();
        // My resent notification reaches me too; ZooKeeper re-checks the tally then.
        self.check_quorum(now);
    }

    /// Ends the finalize wait at once when every voter this server can reach (`reachable`,
    /// which the shell knows from its election-port connections; itself and non-voters are
    /// skipped) has already sent a vote of this round that agrees with its proposal. No
    /// better vote can then arrive but from a server it cannot hear, so waiting would only
    /// delay the outcome; the election's safety never rests on the wait (ZooKeeper always
    /// waits `finalizeWait`). Returns whether the election decided.
    pub fn finalize_early<I: IntoIterator<Item = ServerId>>(&mut self, reachable: I) -> bool {
        if !self.is_finalizing() {
            return false;
        }
        let Phase::Looking(looking) = &self.phase else {
            return false;
        };
        let mine = Ballot { vote: looking.proposal, round: self.round, state: ServerState::Looking };
        for id in reachable {
            if id == self.my_id || !self.quorum.is_voter(id) {
                continue;
            }
            if !looking.recv.get(id).is_some_and(|b| b.agrees(&mine)) {
                return false;
            }
        }
        let (vote, round) = (looking.proposal, self.round);
        self.become_decided(vote, round);
        true
    }

    /// ZAB established a new epoch with the elected leader (`QuorumPeer.updateElectionVote`):
    /// answers to LOOKING servers carry it from now on. Ignored while looking.
    pub fn update_vote_epoch(&mut self, peer_epoch: u32) {
        if let Phase::Decided { vote, .. } = &mut self.phase {
            vote.peer_epoch = peer_epoch;
        }
    }

    /// The election's result, once per decision.
    pub fn poll_outcome(&mut self) -> Option<Outcome> {
        self.outcome.take()
    }

    /// The next notification to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop()
    }

    /// When to call [`Election::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// A LOOKING notification from a voter for a voter (§12.3.4).
    fn on_looking(&mut self, now: Instant, from: ServerId, n: Notification) {
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        let vote = n.vote();
        if n.election_epoch > self.round {
            // A newer round: join it, forget the old tally, start again from the better of
            // the sender's vote and my own.
            self.round = n.election_epoch;
            looking.recv.clear();
            looking.proposal = if vote.beats(&looking.init, &self.quorum) { vote } else { looking.init };
            self.broadcast();
        } else if n.election_epoch < self.round {
            // An older round (already answered above): ignore.
            return;
        } else if vote.beats(&looking.proposal, &self.quorum) {
            looking.proposal = vote;
            self.broadcast();
        }
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        let recorded = looking.recv.put(from, Ballot { vote, round: n.election_epoch, state: n.state });
        debug_assert!(recorded, "senders are members");
        self.check_quorum(now);
    }

    /// A FOLLOWING or LEADING notification from a voter (`receivedFollowingNotification`).
    fn on_out_of_election(&mut self, from: ServerId, n: Notification) {
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        let ballot = Ballot { vote: n.vote(), round: n.election_epoch, state: n.state };
        if n.election_epoch == self.round {
            // Same round: the others decided before me; join them if a quorum did.
            looking.recv.put(from, ballot);
            if looking.recv.has_quorum(&ballot, &self.quorum)
                && check_leader(self.my_id, self.round, &looking.recv, n.leader, n.election_epoch)
            {
                self.become_decided(ballot.vote, n.election_epoch);
                return;
            }
        }
        // Any round: a quorum already out of election behind a live leader is an
        // established ensemble; adopt its round and join it.
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        looking.out.put(from, ballot);
        if looking.out.has_quorum(&ballot, &self.quorum)
            && check_leader(self.my_id, self.round, &looking.out, n.leader, n.election_epoch)
        {
            self.become_decided(ballot.vote, n.election_epoch);
        }
    }

    /// Starts the finalize wait if a quorum of this round shares my proposal.
    fn check_quorum(&mut self, now: Instant) {
        let Phase::Looking(looking) = &self.phase else {
            return;
        };
        if self.is_finalizing() {
            return;
        }
        let mine = Ballot { vote: looking.proposal, round: self.round, state: ServerState::Looking };
        if looking.recv.has_quorum(&mine, &self.quorum) {
            self.timers.set(Timer::Finalize, now + FINALIZE_WAIT_MS);
            self.timers.stop(Timer::Resend);
        }
    }

    /// Queues my proposal to every voter and records it as my own ballot
    /// (`sendNotifications`, whose copy to myself ZooKeeper delivers locally).
    fn broadcast(&mut self) {
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        let mine = Ballot { vote: looking.proposal, round: self.round, state: ServerState::Looking };
        looking.recv.put(self.my_id, mine);
        self.outbox.push(Transmit { to: Dest::Voters, notification: self.my_notification() });
    }

    /// Queues my current vote to `to` alone.
    fn answer(&mut self, to: ServerId) {
        debug_assert!(to != self.my_id);
        let notification = self.my_notification();
        self.outbox.push(Transmit { to: Dest::Server(to), notification });
    }

    /// What I say about myself now: state, current vote, round.
    fn my_notification(&self) -> Notification {
        let vote = self.current_vote().unwrap_or(Vote { peer_epoch: 0, zxid: Zxid::ZERO, leader: self.my_id });
        Notification {
            state: self.state(),
            leader: vote.leader,
            zxid: vote.zxid,
            election_epoch: self.round,
            peer_epoch: vote.peer_epoch,
        }
    }

    /// Ends the election on `vote`, elected in `round` (`setPeerState` + `leaveInstance`).
    fn become_decided(&mut self, vote: Vote, round: u64) {
        debug_assert!(self.quorum.is_voter(vote.leader), "filtered: only voters are elected");
        let state = if vote.leader == self.my_id {
            ServerState::Leading
        } else if self.quorum.is_voter(self.my_id) {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.round = round;
        self.phase = Phase::Decided { state, vote };
        self.timers = TimerTable::default();
        self.outcome = Some(Outcome {
            state,
            leader: vote.leader,
            zxid: vote.zxid,
            peer_epoch: vote.peer_epoch,
            election_epoch: round,
        });
    }
}

/// `checkLeader`: another leader must itself have said it is LEADING; I lead only on a vote
/// of my own round, so that peers do not keep electing a leader that crashed and is gone.
fn check_leader(my_id: ServerId, my_round: u64, table: &VoteTable, leader: ServerId, round: u64) -> bool {
    if leader != my_id {
        table.get(leader).is_some_and(|b| b.state == ServerState::Leading)
    } else {
        my_round == round
    }
}
