//! FastLeaderElection under the simulator: the [`Replica`] adaptor, its checker, and a
//! one-call run for a seed.
//!
//! FLE alone does not keep servers out of election forever: in ZooKeeper, ZAB sends a
//! leader without a quorum of followers (within `initLimit`), and a follower that cannot
//! reach its leader (within `syncLimit`), back to LOOKING. The adaptor carries a minimal
//! stand-in for that: followers ping their leader, a leader counts whom it heard from,
//! and either side starts a new election when the other half is missing. Without it, a
//! split decided under loss would never heal.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;

use proto_core::election::{Dest, Election, Notification, Outcome, ServerState, VoteInputs};
use proto_core::quorum::{Majority, Member, QuorumVerifier, ServerId};
use proto_core::{Instant, Zxid};

use super::check::{Checker, Marks, NodeView, Violation};
use super::replica::{Output, Replica};
use super::rng::Rng;
use super::swarm::{Bug, Swarm};
use super::{Report, RunOptions, Simulator};

/// ZooKeeper's default `tickTime`.
pub const TICK_MS: u64 = 2_000;
/// How often a follower pings its leader (ZooKeeper pings every half tick).
pub const PING_MS: u64 = TICK_MS / 2;
/// `initLimit` (10 ticks): how long a new leader waits for a quorum of followers.
pub const INIT_LIMIT_MS: u64 = 10 * TICK_MS;
/// `syncLimit` (5 ticks): how long either side tolerates silence from the other.
pub const SYNC_LIMIT_MS: u64 = 5 * TICK_MS;
/// How long elections may take to converge once faults stop: a LOOKING server may have
/// backed off to the longest resend interval, a stale leader waits out `initLimit`, and
/// its followers `syncLimit`, before the last election; twice that for slack.
pub const LIVENESS_MS: u64 = 2
    * (proto_core::election::MAX_NOTIFICATION_INTERVAL_MS
        + INIT_LIMIT_MS
        + SYNC_LIMIT_MS
        + 4 * proto_core::election::FINALIZE_WAIT_MS);

/// Steps one run may take. The longest runs (60 s of faults, then up to [`LIVENESS_MS`]
/// with nine servers pinging every [`PING_MS`]) take tens of thousands; far more is a
/// message storm.
pub const STEPS_MAX: u64 = 500_000;

/// The ensemble an election run uses.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    /// Voters and observers.
    pub members: Majority,
    /// A deliberately injected bug.
    pub bug: Option<Bug>,
}

/// Messages between election replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionMessage {
    /// A FastLeaderElection notification.
    Notification(Notification),
    /// A follower or observer tells its leader it is there (ZAB's ping, reduced).
    Follow {
        /// The epoch it follows under.
        peer_epoch: u32,
    },
    /// The leader answers a follower that follows it.
    Lead {
        /// The leader's epoch.
        peer_epoch: u32,
    },
}

/// What the election replica reports to the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionNotice {
    /// FLE decided.
    Decided {
        /// The decision.
        outcome: Outcome,
        /// True when a FOLLOWING/LEADING notification completed it: the server joined
        /// servers already out of election rather than finishing a vote.
        joined: bool,
    },
    /// A notification was broadcast to the voters (recorded even when there are none).
    Broadcast(Notification),
    /// The ZAB stand-in gave up on the leader or on the followers; a new election starts.
    Abandoned {
        /// The state that was abandoned.
        was: ServerState,
    },
}

/// The stand-in for ZAB's side of a decision.
#[derive(Clone, Debug)]
enum Role {
    /// Electing.
    Looking,
    /// Leading since `since`; `heard[id]` is when follower `id` last pinged.
    Leading { peer_epoch: u32, since: Instant, heard: BTreeMap<ServerId, Instant>, next_check: Instant },
    /// Following (or observing) `leader`.
    Following { leader: ServerId, peer_epoch: u32, heard: Instant, next_ping: Instant },
}

/// One server running FastLeaderElection plus the ZAB stand-in.
#[derive(Clone, Debug)]
pub struct ElectionReplica {
    id: ServerId,
    config: ElectionConfig,
    inputs: VoteInputs,
    election: Election<Majority>,
    role: Role,
    outbox: VecDeque<Output<ElectionReplica>>,
    /// The state of the notification being handled, to tell how a decision came about.
    handling: Option<ServerState>,
}

impl ElectionReplica {
    /// The election state machine.
    pub fn election(&self) -> &Election<Majority> {
        &self.election
    }

    /// True when this server leads and heard a quorum of voters recently.
    pub fn leads_a_quorum(&self, now: Instant) -> bool {
        match &self.role {
            Role::Leading { heard, .. } => self.fresh_quorum(heard, now),
            _ => false,
        }
    }

    fn fresh_quorum(&self, heard: &BTreeMap<ServerId, Instant>, now: Instant) -> bool {
        let fresh = heard.iter().filter(|(_, at)| now.since(**at) <= SYNC_LIMIT_MS).map(|(id, _)| *id);
        self.config.members.contains_quorum(fresh.chain([self.id]))
    }

    fn go_looking(&mut self, now: Instant, was: ServerState) {
        self.outbox.push_back(Output::Notice(ElectionNotice::Abandoned { was }));
        self.role = Role::Looking;
        self.election.start(now, self.inputs);
    }

    /// Moves the election's outputs into the outbox (outcome first, per the election's
    /// drain order; its notice goes after the sends so the checker has seen every
    /// notification the decision could rest on).
    fn pump(&mut self, now: Instant) {
        loop {
            let outcome = self.election.poll_outcome();
            let mut forged = Vec::new();
            while let Some(t) = self.election.poll_transmit() {
                let n = t.notification;
                match t.to {
                    Dest::Voters => {
                        self.outbox.push_back(Output::Notice(ElectionNotice::Broadcast(n)));
                        for v in self.config.members.voters().filter(|v| *v != self.id) {
                            self.outbox.push_back(Output::Send { to: v, msg: ElectionMessage::Notification(n) });
                        }
                        if self.config.bug == Some(Bug::DoubleSelfVote) {
                            if let Some(other) =
                                self.config.members.members().iter().map(|m| m.id).find(|v| *v != self.id)
                            {
                                forged.push((other, n));
                            }
                        }
                    }
                    Dest::Server(to) => {
                        self.outbox.push_back(Output::Send { to, msg: ElectionMessage::Notification(n) })
                    }
                }
            }
            if let Some(o) = outcome {
                let joined = matches!(self.handling, Some(ServerState::Following | ServerState::Leading));
                self.outbox.push_back(Output::Notice(ElectionNotice::Decided { outcome: o, joined }));
                self.role = match o.state {
                    ServerState::Leading => {
                        Role::Leading { peer_epoch: o.peer_epoch, since: now, heard: BTreeMap::new(), next_check: now }
                    }
                    ServerState::Following | ServerState::Observing => {
                        Role::Following { leader: o.leader, peer_epoch: o.peer_epoch, heard: now, next_ping: now }
                    }
                    ServerState::Looking => Role::Looking,
                };
                self.tick(now);
            }
            if forged.is_empty() {
                return;
            }
            // The injected bug: my own vote counted a second time, under another id.
            for (other, n) in forged {
                let _ = self.election.handle_notification(now, other, n);
            }
        }
    }

    /// The ZAB stand-in's timers.
    fn tick(&mut self, now: Instant) {
        match &mut self.role {
            Role::Looking => {}
            Role::Following { leader, peer_epoch, heard, next_ping } => {
                if now.since(*heard) > SYNC_LIMIT_MS {
                    let was = self.election.state();
                    self.go_looking(now, was);
                    return;
                }
                if now >= *next_ping {
                    *next_ping = now + PING_MS;
                    let (to, peer_epoch) = (*leader, *peer_epoch);
                    self.outbox.push_back(Output::Send { to, msg: ElectionMessage::Follow { peer_epoch } });
                }
            }
            Role::Leading { since, heard, next_check, .. } => {
                if now < *next_check {
                    return;
                }
                *next_check = now + PING_MS;
                let (since, heard) = (*since, heard.clone());
                if now.since(since) >= INIT_LIMIT_MS && !self.fresh_quorum(&heard, now) {
                    self.go_looking(now, ServerState::Leading);
                }
            }
        }
    }

    fn role_deadline(&self) -> Option<Instant> {
        match &self.role {
            Role::Looking => None,
            Role::Following { heard, next_ping, .. } => Some((*next_ping).min(*heard + SYNC_LIMIT_MS + 1)),
            Role::Leading { next_check, .. } => Some(*next_check),
        }
    }
}

impl Replica for ElectionReplica {
    type Config = ElectionConfig;
    type Message = ElectionMessage;
    type Disk = VoteInputs;
    type Write = Infallible;
    type Request = Infallible;
    type Reply = Infallible;
    type Notice = ElectionNotice;

    fn boot(config: &ElectionConfig, id: ServerId, disk: &VoteInputs, now: Instant) -> Self {
        let election = match Election::new(id, config.members) {
            Ok(e) => e,
            Err(e) => panic!("simulator set-up: server {id} is not a member: {e:?}"),
        };
        let mut r = ElectionReplica {
            id,
            config: config.clone(),
            inputs: *disk,
            election,
            role: Role::Looking,
            outbox: VecDeque::new(),
            handling: None,
        };
        r.election.start(now, r.inputs);
        r.pump(now);
        r
    }

    fn handle_message(&mut self, now: Instant, from: ServerId, msg: ElectionMessage) {
        match msg {
            ElectionMessage::Notification(n) => {
                // Rejections are the election's own filters; ignoring is always safe.
                let _ = self.election.handle_notification(now, from, n);
                self.handling = Some(n.state);
                self.pump(now);
                self.handling = None;
            }
            ElectionMessage::Follow { peer_epoch } => {
                if let Role::Leading { peer_epoch: mine, heard, .. } = &mut self.role {
                    if *mine == peer_epoch {
                        heard.insert(from, now);
                        self.outbox.push_back(Output::Send { to: from, msg: ElectionMessage::Lead { peer_epoch } });
                    }
                }
            }
            ElectionMessage::Lead { peer_epoch } => {
                if let Role::Following { leader, peer_epoch: mine, heard, .. } = &mut self.role {
                    if *leader == from && *mine == peer_epoch {
                        *heard = now;
                    }
                }
            }
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.election.handle_timeout(now);
        self.pump(now);
        self.tick(now);
        self.pump(now);
    }

    fn poll_output(&mut self) -> Option<Output<Self>> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.election.poll_timeout(), self.role_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn apply(_disk: &mut VoteInputs, write: &Infallible) {
        match *write {}
    }
}

/// Marks the election checker records.
pub mod mark {
    /// A server crashed while LOOKING.
    pub const CRASH_WHILE_LOOKING: &str = "election.crash_while_looking";
    /// A server crashed while LEADING.
    pub const CRASH_WHILE_LEADING: &str = "election.crash_while_leading";
    /// A server crashed while FOLLOWING.
    pub const CRASH_WHILE_FOLLOWING: &str = "election.crash_while_following";
    /// An election decided.
    pub const DECIDED: &str = "election.decided";
    /// A FOLLOWING/LEADING answer completed a decision: the server joined servers already
    /// out of election (a restart into a running ensemble).
    pub const JOINED_ESTABLISHED: &str = "election.joined_established";
    /// Two servers were LEADING with the same (peer epoch, round) at once: FLE decided
    /// twice under loss, which only ZAB's epoch handshake resolves.
    pub const TWO_LEADERS_ONE_ROUND: &str = "election.two_leaders_one_round";
    /// Decided servers began to disagree on the leader.
    pub const SPLIT: &str = "election.split";
    /// The ZAB stand-in sent a server back to LOOKING.
    pub const ABANDONED: &str = "election.abandoned";
}

/// What FastLeaderElection guarantees on its own, checked after every step.
///
/// - every decided vote names a voter; a server LEADS exactly when it elected itself,
///   voters FOLLOW others, observers OBSERVE;
/// - every decision rests on a quorum: the voters that ever *sent* a notification
///   supporting it (the same vote in the same round, or FOLLOWING/LEADING the same leader
///   in the same peer epoch) form a quorum, and a server following another either saw a
///   quorum back that exact vote in that round or the leader itself claimed LEADING.
///
/// Uniqueness of the leader per round is not an FLE guarantee (two quorums can decide
/// for different leaders in one round when notifications are lost, and ZAB's epoch
/// handshake then keeps one); it is counted as a mark instead.
#[derive(Debug)]
pub struct ElectionChecker {
    members: Majority,
    /// Every distinct notification each server ever sent.
    sent: BTreeMap<ServerId, BTreeSet<NotificationKey>>,
    decisions: u64,
    /// Leader pairs already counted as two leaders of one (peer epoch, round).
    double_leaders: BTreeSet<(u32, u64, ServerId, ServerId)>,
    /// True while decided servers disagree, so a split is counted once when it begins.
    split: bool,
}

/// Which notifications count as backing a decision.
#[derive(Clone, Copy, Debug)]
enum Support {
    /// The same vote in the same round, or FOLLOWING/LEADING the same leader in the same
    /// peer epoch: anything a tally could have counted.
    Any,
    /// The same vote in the same round, in any state (the LOOKING tally's agreement).
    SameVote,
}

/// A notification as an ordered key (for the `sent` sets).
type NotificationKey = (u8, u64, u64, u64, u32);

fn key(n: &Notification) -> NotificationKey {
    let state = match n.state {
        ServerState::Looking => 0,
        ServerState::Following => 1,
        ServerState::Leading => 2,
        ServerState::Observing => 3,
    };
    (state, n.leader.0, n.zxid.0, n.election_epoch, n.peer_epoch)
}

impl ElectionChecker {
    /// A checker for `members`.
    pub fn new(members: Majority) -> Self {
        ElectionChecker { members, sent: BTreeMap::new(), decisions: 0, double_leaders: BTreeSet::new(), split: false }
    }

    /// Decisions seen so far.
    pub fn decisions(&self) -> u64 {
        self.decisions
    }

    /// The servers that ever sent a notification backing `o` in the way `kind` names.
    fn supporters(&self, o: &Outcome, kind: Support) -> Vec<ServerId> {
        let same_vote = |k: &NotificationKey| {
            k.1 == o.leader.0 && k.2 == o.zxid.0 && k.3 == o.election_epoch && k.4 == o.peer_epoch && k.0 != 3
        };
        let same_leader = |k: &NotificationKey| (k.0 == 1 || k.0 == 2) && k.1 == o.leader.0 && k.4 == o.peer_epoch;
        let backs = |k: &NotificationKey| match kind {
            Support::Any => same_vote(k) || same_leader(k),
            Support::SameVote => same_vote(k),
        };
        self.sent.iter().filter(|(_, keys)| keys.iter().any(backs)).map(|(id, _)| *id).collect()
    }

    fn claimed_leading(&self, leader: ServerId) -> bool {
        self.sent.get(&leader).is_some_and(|keys| keys.iter().any(|k| k.0 == 2 && k.1 == leader.0))
    }

    fn check_decision(&mut self, now: Instant, me: ServerId, o: &Outcome, marks: &mut Marks) -> Result<(), Violation> {
        let fail = |what: String| Err(Violation { at: now, what: format!("server {me} decided {o:?}: {what}") });
        self.decisions += 1;
        marks.hit(mark::DECIDED);
        if !self.members.is_voter(o.leader) {
            return fail("the leader is not a voter".into());
        }
        let expected = if o.leader == me {
            ServerState::Leading
        } else if self.members.is_voter(me) {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        if o.state != expected {
            return fail(format!("state should be {expected}"));
        }
        let support = self.supporters(o, Support::Any);
        if !self.members.contains_quorum(support.iter().copied()) {
            return fail(format!("only {support:?} ever sent a notification supporting it"));
        }
        if o.leader != me {
            let by_vote = self.members.contains_quorum(self.supporters(o, Support::SameVote));
            if !by_vote && !self.claimed_leading(o.leader) {
                return fail("no quorum voted for it in that round and the leader never claimed LEADING".into());
            }
        }
        Ok(())
    }
}

impl Checker<ElectionReplica> for ElectionChecker {
    fn on_output(
        &mut self,
        now: Instant,
        node: ServerId,
        output: &Output<ElectionReplica>,
        marks: &mut Marks,
    ) -> Result<(), Violation> {
        match output {
            Output::Send { msg: ElectionMessage::Notification(n), .. }
            | Output::Notice(ElectionNotice::Broadcast(n)) => {
                self.sent.entry(node).or_default().insert(key(n));
                Ok(())
            }
            Output::Notice(ElectionNotice::Decided { outcome, joined }) => {
                if *joined {
                    marks.hit(mark::JOINED_ESTABLISHED);
                }
                self.check_decision(now, node, outcome, marks)
            }
            Output::Notice(ElectionNotice::Abandoned { .. }) => {
                marks.hit(mark::ABANDONED);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_crash(&mut self, _now: Instant, _node: ServerId, replica: &ElectionReplica, marks: &mut Marks) {
        marks.hit(match replica.election.state() {
            ServerState::Looking => mark::CRASH_WHILE_LOOKING,
            ServerState::Leading => mark::CRASH_WHILE_LEADING,
            ServerState::Following | ServerState::Observing => mark::CRASH_WHILE_FOLLOWING,
        });
    }

    fn check(
        &mut self,
        now: Instant,
        nodes: &[NodeView<'_, ElectionReplica>],
        marks: &mut Marks,
    ) -> Result<(), Violation> {
        let mut leaders: BTreeMap<(u32, u64), ServerId> = BTreeMap::new();
        let mut followed: Option<ServerId> = None;
        let mut split = false;
        for n in nodes {
            let Some(r) = n.replica else { continue };
            let e = r.election();
            let state = e.state();
            if state == ServerState::Looking {
                continue;
            }
            let Some(vote) = e.current_vote() else {
                return Err(Violation { at: now, what: format!("server {} is {state} without a vote", n.id) });
            };
            if !self.members.is_voter(vote.leader) {
                return Err(Violation {
                    at: now,
                    what: format!("server {} is {state} behind non-voter {}", n.id, vote.leader),
                });
            }
            if (state == ServerState::Leading) != (vote.leader == n.id) {
                return Err(Violation {
                    at: now,
                    what: format!("server {} is {state} with leader {}", n.id, vote.leader),
                });
            }
            if state == ServerState::Leading {
                if let Some(other) = leaders.insert((vote.peer_epoch, e.round()), n.id) {
                    if self.double_leaders.insert((vote.peer_epoch, e.round(), other, n.id)) {
                        marks.hit(mark::TWO_LEADERS_ONE_ROUND);
                    }
                }
            }
            match followed {
                Some(l) if l != vote.leader => split = true,
                _ => followed = Some(vote.leader),
            }
        }
        if split && !self.split {
            marks.hit(mark::SPLIT);
        }
        self.split = split;
        Ok(())
    }

    fn converged(&self, now: Instant, nodes: &[NodeView<'_, ElectionReplica>]) -> bool {
        let Some(leader) = nodes.iter().find_map(|n| {
            n.replica.filter(|r| r.election().state() == ServerState::Leading && r.leads_a_quorum(now)).map(|_| n.id)
        }) else {
            return false;
        };
        nodes.iter().all(|n| {
            n.replica.is_some_and(|r| {
                let e = r.election();
                e.current_vote().is_some_and(|v| v.leader == leader) && e.state() != ServerState::Looking
            })
        })
    }
}

/// The options of seed `seed`, with `bug` injected.
pub fn swarm_for(seed: u64, bug: Option<Bug>) -> (Swarm, Rng) {
    let mut rng = Rng::new(seed);
    let mut swarm = Swarm::draw(&mut rng);
    swarm.bug = bug;
    (swarm, rng)
}

/// The default bounds of an election run.
pub fn run_options() -> RunOptions {
    RunOptions { liveness_ms: LIVENESS_MS, steps_max: STEPS_MAX }
}

/// Builds the simulation of seed `seed` (for `--verbose` replays that set a tracer).
pub fn simulator(seed: u64, bug: Option<Bug>) -> Simulator<ElectionReplica, ElectionChecker> {
    let (swarm, mut rng) = swarm_for(seed, bug);
    let members: Vec<Member> = (1..=swarm.voters as u64)
        .map(Member::voter)
        .chain((1..=swarm.observers as u64).map(|k| Member::observer(swarm.voters as u64 + k)))
        .collect();
    let members = match Majority::new(&members) {
        Ok(m) => m,
        Err(e) => panic!("swarm drew an invalid ensemble: {e:?}"),
    };
    // Few distinct zxids and epochs, so ties (decided by server id) are common.
    let disks = (0..swarm.nodes())
        .map(|_| {
            let epoch = rng.range(0, 2) as u32;
            let zxid = Zxid::new(epoch, rng.range(0, 3) as u32);
            VoteInputs { last_logged_zxid: zxid, current_epoch: epoch + rng.range(0, 1) as u32 }
        })
        .collect();
    let config = ElectionConfig { members, bug };
    Simulator::new(seed, swarm, run_options(), config, disks, ElectionChecker::new(members), &mut rng)
}

/// Runs seed `seed` to the end.
pub fn run(seed: u64, bug: Option<Bug>) -> Report {
    simulator(seed, bug).run()
}
