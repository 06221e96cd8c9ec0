//! The deterministic simulator: N replicas, a seeded network, crashes and restarts that
//! keep only durable state, all on simulated time from one seed (tigerbeetle's vopr).
//!
//! One run:
//! 1. the seed draws the [`Swarm`] options (printed, so a report says what kind of run
//!    failed), then the ensemble's initial disks;
//! 2. **safety phase** for `swarm.safety_ms`: messages are delayed, lost, duplicated and
//!    reordered, partitions come and heal, servers crash and restart;
//! 3. **liveness phase**: the network heals, loss and duplication stop, every crashed
//!    server restarts, no new faults; the ensemble must converge within
//!    [`RunOptions::liveness_ms`].
//!
//! After every step (one event: a delivery, a timer, a durable write, a fault) the
//! replica's outputs are drained and the [`Checker`] inspects everyone. Everything random
//! comes from [`Rng`] streams forked from the seed in a fixed order, and events at the same
//! millisecond run in scheduling order, so a seed replays exactly.
//!
//! A replica plugs in by implementing [`Replica`] and a [`Checker`] for it; the election
//! ([`election`]) is the first, whole ZAB ensembles ([`zab`]) the second. A replica type
//! with clients also plugs in [`Clients`]: simulated clients whose requests and replies
//! travel over FIFO client links (per client and server), and whose own checks (a
//! linearizability check of what they saw) run when the ensemble has converged.

pub mod check;
pub mod disk;
pub mod election;
pub mod linearize;
pub mod net;
pub mod replica;
pub mod rng;
pub mod swarm;
pub mod time;
pub mod zab;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use proto_core::quorum::ServerId;
use proto_core::Instant;

pub use check::{Checker, Marks, NodeView, Violation};
pub use replica::{ClientId, Output, Replica};
pub use rng::{Ratio, Rng};
pub use swarm::{Bug, Swarm};

use check::mark;
use disk::Disk;
use net::{Network, Route};
use time::EventQueue;

/// How a run is bounded and observed (not drawn from the seed).
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// How long the liveness phase may take before the run fails.
    pub liveness_ms: u64,
    /// Stop with a failure after this many steps (a livelock guard).
    pub steps_max: u64,
}

/// Which phase a run is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Faults are injected.
    Safety,
    /// Faults stopped; waiting for convergence.
    Liveness,
}

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A checker found a broken invariant.
    Safety(Violation),
    /// The ensemble did not converge in time after faults stopped.
    Liveness {
        /// When the liveness phase began.
        since: Instant,
        /// When the run gave up.
        at: Instant,
    },
    /// Too many steps (a message storm or livelock), or no events left, without
    /// converging.
    Stuck {
        /// Steps taken.
        steps: u64,
        /// Simulated time reached.
        at: Instant,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Safety(v) => write!(f, "safety: {v}"),
            Failure::Liveness { since, at } => {
                write!(f, "liveness: no convergence from t={}ms to t={}ms", since.0, at.0)
            }
            Failure::Stuck { steps, at } => {
                write!(f, "stuck: {steps} steps by t={}ms without convergence (message storm?)", at.0)
            }
        }
    }
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The options it drew.
    pub swarm: Swarm,
    /// `Ok` when every check held and the ensemble converged.
    pub result: Result<(), Failure>,
    /// Rare branches reached.
    pub marks: Marks,
    /// Events processed.
    pub steps: u64,
    /// Simulated time at the end.
    pub end: Instant,
    /// Simulated ms from the start of the liveness phase to convergence.
    pub converged_after_ms: Option<u64>,
    /// A digest of every step (time, kind, servers): equal digests mean equal runs.
    pub digest: u64,
}

/// Simulated clients of a replica type: they send requests to servers, take the replies,
/// and check what they saw once the run has converged.
///
/// After every step the simulator drains [`Clients::poll_request`] (each request reaches
/// its server after a network delay, in order per client and server, and is lost if that
/// server crashed or restarted meanwhile) and arms [`Clients::poll_timeout`].
pub trait Clients<R: Replica> {
    /// The next request to send now: to which server, from which client.
    fn poll_request(&mut self, now: Instant) -> Option<(ServerId, ClientId, R::Request)>;
    /// A reply from server `from` reached `client`; an `Err` stops the run.
    fn handle_reply(
        &mut self,
        now: Instant,
        from: ServerId,
        client: ClientId,
        reply: R::Reply,
        marks: &mut Marks,
    ) -> Result<(), Violation>;
    /// The clients' timers may be due; harmless when called early.
    fn handle_timeout(&mut self, now: Instant, marks: &mut Marks);
    /// When [`Clients::handle_timeout`] should be called next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Faults stopped: the clients finish what they do.
    fn start_liveness(&mut self, now: Instant);
    /// True once the clients are finished; the run converges only then.
    fn done(&self) -> bool;
    /// Checks everything the clients saw, once the run converged.
    fn finish(&mut self, now: Instant, marks: &mut Marks) -> Result<(), Violation>;
}

/// Something that will happen.
#[derive(Debug)]
enum Event<R: Replica> {
    /// A message arrives at `to`, sent to incarnation `incarnation` of it.
    Deliver { from: usize, to: usize, incarnation: u64, msg: R::Message, copy: bool, sent_seq: u64 },
    /// A replica's timer.
    Timer { node: usize, incarnation: u64 },
    /// The oldest pending write of `node` becomes durable.
    Durable { node: usize, incarnation: u64 },
    /// `node` crashes (if it is still that incarnation).
    Crash { node: usize, incarnation: u64 },
    /// `node` restarts from its disk.
    Restart { node: usize },
    /// A partition begins.
    Partition,
    /// The partition with this heal time ends.
    Heal { at: Instant },
    /// A client request reaches `node`; lost if `node` is no longer `incarnation` (its
    /// connection died with the crash).
    Request { node: usize, client: ClientId, request: R::Request, incarnation: Option<u64> },
    /// A reply from `node` reaches `client`.
    Reply { node: usize, client: ClientId, reply: R::Reply },
    /// The clients' timer.
    ClientTimer,
    /// Faults stop.
    Liveness,
}

/// One simulated server.
struct Node<R: Replica> {
    id: ServerId,
    replica: Option<R>,
    /// Bumped at every crash: messages and timers of a dead incarnation are recognised.
    incarnation: u64,
    disk: Disk<R>,
    /// The timer event currently scheduled, if any.
    timer_armed: Option<Instant>,
    /// Latest scheduled durability time, so writes complete in order.
    last_fsync: Instant,
    /// Per sender: sequence number of the last message delivered, to notice reordering.
    last_delivered_seq: Vec<u64>,
}

/// Trace line sink for `--verbose` runs.
pub type Tracer = Box<dyn FnMut(Instant, &str)>;

/// A running simulation of replicas `R` checked by `C`.
pub struct Simulator<R: Replica, C: Checker<R>> {
    seed: u64,
    swarm: Swarm,
    options: RunOptions,
    config: R::Config,
    net_rng: Rng,
    fault_rng: Rng,
    disk_rng: Rng,
    queue: EventQueue<Event<R>>,
    net: Network,
    nodes: Vec<Node<R>>,
    checker: C,
    marks: Marks,
    phase: Phase,
    liveness_since: Instant,
    steps: u64,
    send_seq: u64,
    digest: u64,
    tracer: Option<Tracer>,
    clients: Option<Box<dyn Clients<R>>>,
    client_rng: Rng,
    /// The clients' timer currently scheduled.
    client_timer: Option<Instant>,
    /// Latest delivery time per client link (client, server index, towards the server),
    /// so that each link delivers in order.
    client_links: BTreeMap<(u64, usize, bool), Instant>,
}

impl<R: Replica, C: Checker<R>> Simulator<R, C> {
    /// A simulation of `disks.len()` servers (ids 1..=n) booting from `disks`. `rng` is the
    /// seed's generator after the swarm and the disks were drawn from it.
    pub fn new(
        seed: u64,
        swarm: Swarm,
        options: RunOptions,
        config: R::Config,
        disks: Vec<R::Disk>,
        checker: C,
        rng: &mut Rng,
    ) -> Self {
        debug_assert_eq!(disks.len(), swarm.nodes());
        let n = disks.len();
        let nodes = disks
            .into_iter()
            .enumerate()
            .map(|(i, d)| Node {
                id: ServerId(i as u64 + 1),
                replica: None,
                incarnation: 0,
                disk: Disk::new(d),
                timer_armed: None,
                last_fsync: Instant(0),
                last_delivered_seq: vec![0; n],
            })
            .collect();
        Simulator {
            seed,
            net: Network::new(&swarm),
            swarm,
            options,
            config,
            net_rng: rng.fork(),
            fault_rng: rng.fork(),
            disk_rng: rng.fork(),
            queue: EventQueue::new(),
            nodes,
            checker,
            marks: Marks::default(),
            phase: Phase::Safety,
            liveness_since: Instant(0),
            steps: 0,
            send_seq: 0,
            digest: 0xCBF2_9CE4_8422_2325,
            tracer: None,
            clients: None,
            client_rng: rng.fork(),
            client_timer: None,
            client_links: BTreeMap::new(),
        }
    }

    /// Adds simulated clients (before [`Simulator::run`]).
    pub fn set_clients(&mut self, clients: Box<dyn Clients<R>>) {
        self.clients = Some(clients);
    }

    /// Prints every step through `tracer` (replaying a seed with `--verbose`).
    pub fn set_tracer(&mut self, tracer: Tracer) {
        self.tracer = Some(tracer);
    }

    /// Schedules a client request to reach server `node` (1-based id) at `at`.
    pub fn request(&mut self, at: Instant, node: ServerId, client: ClientId, request: R::Request) {
        if let Some(i) = self.index(node) {
            self.queue.schedule(at, Event::Request { node: i, client, request, incarnation: None });
        }
    }

    /// The checker, for reading what it gathered.
    pub fn checker(&self) -> &C {
        &self.checker
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Runs both phases to the end.
    pub fn run(mut self) -> Report {
        let result = self.run_phases();
        let converged_after_ms = if result.is_ok() { Some(self.queue.now().since(self.liveness_since)) } else { None };
        Report {
            seed: self.seed,
            swarm: self.swarm.clone(),
            result,
            marks: self.marks.clone(),
            steps: self.steps,
            end: self.queue.now(),
            converged_after_ms,
            digest: self.digest,
        }
    }

    fn run_phases(&mut self) -> Result<(), Failure> {
        let now = self.queue.now();
        for i in 0..self.nodes.len() {
            self.boot(i, now).map_err(Failure::Safety)?;
        }
        self.queue.schedule(Instant(self.swarm.safety_ms), Event::Liveness);
        if self.swarm.partition_every_ms > 0 {
            let at = now + self.fault_rng.range(0, 2 * self.swarm.partition_every_ms);
            self.queue.schedule(at, Event::Partition);
        }
        self.check().map_err(Failure::Safety)?;
        self.pump_clients(now);
        loop {
            if self.phase == Phase::Liveness
                && self.clients.as_ref().map_or(true, |c| c.done())
                && self.checker.converged(self.queue.now(), &self.views())
            {
                let now = self.queue.now();
                if let Some(c) = self.clients.as_mut() {
                    c.finish(now, &mut self.marks).map_err(Failure::Safety)?;
                }
                return Ok(());
            }
            if self.steps >= self.options.steps_max {
                return Err(Failure::Stuck { steps: self.steps, at: self.queue.now() });
            }
            let Some((at, event)) = self.queue.pop() else {
                return Err(Failure::Stuck { steps: self.steps, at: self.queue.now() });
            };
            if self.phase == Phase::Liveness && at.since(self.liveness_since) > self.options.liveness_ms {
                return Err(Failure::Liveness { since: self.liveness_since, at });
            }
            self.steps += 1;
            self.step(at, event).map_err(Failure::Safety)?;
            self.check().map_err(Failure::Safety)?;
            self.pump_clients(at);
        }
    }

    fn step(&mut self, now: Instant, event: Event<R>) -> Result<(), Violation> {
        match event {
            Event::Deliver { from, to, incarnation, msg, copy, sent_seq } => {
                self.note(now, 1, from, to);
                let Some(node) = self.nodes.get_mut(to) else { return Ok(()) };
                if !self.net.connected(from, to) {
                    self.marks.hit(mark::DROPPED_IN_FLIGHT);
                    return Ok(());
                }
                if node.replica.is_none() {
                    self.marks.hit(mark::TO_CRASHED);
                    return Ok(());
                }
                if node.incarnation != incarnation {
                    if !self.swarm.stale_delivery {
                        return Ok(());
                    }
                    self.marks.hit(mark::STALE_DELIVERED);
                }
                if copy {
                    self.marks.hit(mark::DUPLICATE_DELIVERED);
                }
                if let Some(last) = node.last_delivered_seq.get_mut(from) {
                    if sent_seq < *last {
                        self.marks.hit(mark::REORDERED);
                    }
                    *last = (*last).max(sent_seq);
                }
                let from_id = ServerId(from as u64 + 1);
                self.trace(now, || format!("{} <- {}: {:?}", to + 1, from + 1, msg));
                if let Some(r) = self.nodes.get_mut(to).and_then(|n| n.replica.as_mut()) {
                    r.handle_message(now, from_id, msg);
                }
                self.drain(to, now)
            }
            Event::Timer { node, incarnation } => {
                self.note(now, 2, node, 0);
                let Some(n) = self.nodes.get_mut(node) else { return Ok(()) };
                if n.incarnation != incarnation || n.timer_armed != Some(now) {
                    return Ok(()); // superseded by a later poll_timeout
                }
                n.timer_armed = None;
                if let Some(r) = n.replica.as_mut() {
                    r.handle_timeout(now);
                }
                self.drain(node, now)
            }
            Event::Durable { node, incarnation } => {
                self.note(now, 3, node, 0);
                let Some(n) = self.nodes.get_mut(node) else { return Ok(()) };
                if n.incarnation != incarnation {
                    return Ok(()); // the crash already decided this write's fate
                }
                if let (Some(w), Some(r)) = (n.disk.complete(), n.replica.as_mut()) {
                    r.handle_durable(now, &w);
                }
                self.drain(node, now)
            }
            Event::Crash { node, incarnation } => {
                self.note(now, 4, node, 0);
                if self.phase == Phase::Safety && self.nodes.get(node).is_some_and(|n| n.incarnation == incarnation) {
                    self.crash(node, now);
                }
                Ok(())
            }
            Event::Restart { node } => {
                self.note(now, 5, node, 0);
                if self.nodes.get(node).is_some_and(|n| n.replica.is_none()) {
                    self.marks.hit(mark::RESTART);
                    return self.boot(node, now);
                }
                Ok(())
            }
            Event::Partition => {
                self.note(now, 6, 0, 0);
                if self.phase != Phase::Safety {
                    return Ok(());
                }
                let one_way = self.fault_rng.chance(self.swarm.one_way);
                let heal_at = now + self.fault_rng.range(1, self.swarm.partition_ms_max);
                if self.net.split(&mut self.fault_rng, one_way, heal_at) {
                    if one_way {
                        self.marks.hit(mark::ONE_WAY_PARTITION);
                    }
                    let p = self.net.partition().map(|p| p.side.clone());
                    self.trace(now, || format!("partition one_way={one_way} sides={p:?} until {}", heal_at.0));
                    self.queue.schedule(heal_at, Event::Heal { at: heal_at });
                } else {
                    self.queue.schedule(heal_at, Event::Heal { at: heal_at });
                }
                Ok(())
            }
            Event::Heal { at } => {
                self.note(now, 7, 0, 0);
                if self.phase != Phase::Safety {
                    return Ok(());
                }
                if self.net.partition().is_some_and(|p| p.heal_at == at) && self.net.heal() {
                    self.marks.hit(mark::PARTITION_HEALED);
                    self.trace(now, || "partition healed".to_string());
                }
                let next = now + self.fault_rng.range(0, 2 * self.swarm.partition_every_ms);
                self.queue.schedule(next, Event::Partition);
                Ok(())
            }
            Event::Request { node, client, request, incarnation } => {
                self.note(now, 8, node, client.0 as usize);
                let Some(n) = self.nodes.get(node) else { return Ok(()) };
                // Lost with the connection when that incarnation died.
                if n.replica.is_none() || incarnation.is_some_and(|i| i != n.incarnation) {
                    return Ok(());
                }
                self.trace(now, || format!("{} <- client {}: {:?}", node + 1, client.0, request));
                if let Some(r) = self.nodes.get_mut(node).and_then(|n| n.replica.as_mut()) {
                    r.handle_request(now, client, request);
                }
                self.drain(node, now)
            }
            Event::Reply { node, client, reply } => {
                self.note(now, 10, node, client.0 as usize);
                self.trace(now, || format!("client {} <- {}: {:?}", client.0, node + 1, reply));
                let from = ServerId(node as u64 + 1);
                match self.clients.as_mut() {
                    Some(c) => c.handle_reply(now, from, client, reply, &mut self.marks),
                    None => Ok(()),
                }
            }
            Event::ClientTimer => {
                self.note(now, 11, 0, 0);
                if self.client_timer == Some(now) {
                    self.client_timer = None;
                    if let Some(c) = self.clients.as_mut() {
                        c.handle_timeout(now, &mut self.marks);
                    }
                }
                Ok(())
            }
            Event::Liveness => {
                self.note(now, 9, 0, 0);
                self.phase = Phase::Liveness;
                self.liveness_since = now;
                self.trace(now, || "liveness phase: network healed, faults stop, crashed servers restart".into());
                if self.net.heal() {
                    self.marks.hit(mark::PARTITION_HEALED);
                }
                self.net.calm();
                if let Some(c) = self.clients.as_mut() {
                    c.start_liveness(now);
                }
                for i in 0..self.nodes.len() {
                    if self.nodes.get(i).is_some_and(|n| n.replica.is_none()) {
                        self.marks.hit(mark::RESTART);
                        self.boot(i, now)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Boots (or restarts) server `i` from its disk and schedules its next crash.
    fn boot(&mut self, i: usize, now: Instant) -> Result<(), Violation> {
        let Some(n) = self.nodes.get_mut(i) else { return Ok(()) };
        n.replica = Some(R::boot(&self.config, n.id, n.disk.durable(), now));
        n.timer_armed = None;
        let incarnation = n.incarnation;
        self.trace(now, || format!("{} boots (incarnation {incarnation})", i + 1));
        if self.phase == Phase::Safety && self.swarm.crash_every_ms > 0 {
            let at = now + self.fault_rng.range(1, 2 * self.swarm.crash_every_ms);
            self.queue.schedule(at, Event::Crash { node: i, incarnation });
        }
        self.drain(i, now)
    }

    fn crash(&mut self, i: usize, now: Instant) {
        let Some(n) = self.nodes.get_mut(i) else { return };
        let Some(replica) = n.replica.take() else { return };
        self.checker.on_crash(now, n.id, &replica, &mut self.marks);
        drop(replica);
        n.incarnation += 1;
        n.timer_armed = None;
        let lost = n.disk.crash(&mut self.disk_rng, self.swarm.torn_writes);
        if lost > 0 {
            self.marks.hit(mark::WRITES_LOST);
        }
        self.marks.hit(mark::CRASH);
        self.trace(now, || format!("{} crashes, {lost} writes lost", i + 1));
        let at = now + self.fault_rng.range(self.swarm.restart_ms_min, self.swarm.restart_ms_max);
        self.queue.schedule(at, Event::Restart { node: i });
    }

    /// Drains server `i`'s outputs into the network and disk, then arms its timer.
    fn drain(&mut self, i: usize, now: Instant) -> Result<(), Violation> {
        let n_nodes = self.nodes.len();
        loop {
            let Some(node) = self.nodes.get_mut(i) else { return Ok(()) };
            let id = node.id;
            let Some(out) = node.replica.as_mut().and_then(|r| r.poll_output()) else { break };
            self.checker.on_output(now, id, &out, &mut self.marks)?;
            match out {
                Output::Send { to, msg } => {
                    let Some(j) = self.index(to) else { continue };
                    self.send_seq += 1;
                    let sent_seq = self.send_seq;
                    let (route, _) = self.net.send(&mut self.net_rng, now, i, j);
                    let incarnation = self.nodes.get(j).map_or(0, |n| n.incarnation);
                    match route {
                        Route::Dropped => self.trace(now, || format!("{} -> {}: dropped {:?}", i + 1, j + 1, msg)),
                        Route::Deliver(times) => {
                            for (k, at) in times.iter().enumerate() {
                                let msg = msg.clone();
                                let e = Event::Deliver { from: i, to: j, incarnation, msg, copy: k > 0, sent_seq };
                                self.queue.schedule(*at, e);
                            }
                        }
                    }
                    debug_assert!(j < n_nodes);
                }
                Output::Write(w) => {
                    let delay = self.disk_rng.range(self.swarm.fsync_ms_min, self.swarm.fsync_ms_max);
                    let Some(node) = self.nodes.get_mut(i) else { return Ok(()) };
                    node.disk.write(w);
                    let at = (now + delay).max(node.last_fsync);
                    node.last_fsync = at;
                    let incarnation = node.incarnation;
                    self.queue.schedule(at, Event::Durable { node: i, incarnation });
                }
                Output::Reply { client, reply } => {
                    self.trace(now, || format!("{} reply to client {}: {:?}", i + 1, client.0, reply));
                    if self.clients.is_some() {
                        let at = self.client_link(now, client, i, false);
                        self.queue.schedule(at, Event::Reply { node: i, client, reply });
                    }
                }
                Output::Notice(_) => {
                    self.trace(now, || format!("{} {:?}", i + 1, out));
                }
            }
        }
        let Some(node) = self.nodes.get_mut(i) else { return Ok(()) };
        let deadline = node.replica.as_ref().and_then(|r| r.poll_timeout()).map(|t| t.max(now));
        if deadline.is_some() && deadline != node.timer_armed {
            node.timer_armed = deadline;
            let e = Event::Timer { node: i, incarnation: node.incarnation };
            if let Some(at) = deadline {
                self.queue.schedule(at, e);
            }
        } else if deadline.is_none() {
            node.timer_armed = None;
        }
        Ok(())
    }

    /// Sends the clients' requests and arms their timer.
    fn pump_clients(&mut self, now: Instant) {
        let Some(mut clients) = self.clients.take() else { return };
        while let Some((to, client, request)) = clients.poll_request(now) {
            let Some(i) = self.index(to) else { continue };
            let at = self.client_link(now, client, i, true);
            let incarnation = self.nodes.get(i).map(|n| n.incarnation);
            self.trace(now, || format!("client {} -> {}: {:?}", client.0, i + 1, request));
            self.queue.schedule(at, Event::Request { node: i, client, request, incarnation });
        }
        let deadline = clients.poll_timeout().map(|t| t.max(now));
        if deadline != self.client_timer {
            self.client_timer = deadline;
            if let Some(at) = deadline {
                self.queue.schedule(at, Event::ClientTimer);
            }
        }
        self.clients = Some(clients);
    }

    /// When a message sent now on the link between `client` and server `node` arrives
    /// (`to_server` gives the direction): the swarm's delay, in order per link.
    fn client_link(&mut self, now: Instant, client: ClientId, node: usize, to_server: bool) -> Instant {
        let delay = self.client_rng.range(self.swarm.delay_min_ms, self.swarm.delay_max_ms);
        let last = self.client_links.entry((client.0, node, to_server)).or_insert(Instant(0));
        let at = (now + delay).max(*last);
        *last = at;
        at
    }

    fn check(&mut self) -> Result<(), Violation> {
        let now = self.queue.now();
        let views: Vec<NodeView<'_, R>> =
            self.nodes.iter().map(|n| NodeView { id: n.id, replica: n.replica.as_ref() }).collect();
        self.checker.check(now, &views, &mut self.marks)
    }

    fn views(&self) -> Vec<NodeView<'_, R>> {
        self.nodes.iter().map(|n| NodeView { id: n.id, replica: n.replica.as_ref() }).collect()
    }

    fn index(&self, id: ServerId) -> Option<usize> {
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        (i < self.nodes.len()).then_some(i)
    }

    /// Folds one step into the run's digest (FNV-1a over its numbers).
    fn note(&mut self, at: Instant, kind: u64, a: usize, b: usize) {
        for x in [at.0, kind, a as u64, b as u64] {
            for byte in x.to_le_bytes() {
                self.digest ^= u64::from(byte);
                self.digest = self.digest.wrapping_mul(0x0100_0000_01B3);
            }
        }
    }

    fn trace(&mut self, now: Instant, line: impl FnOnce() -> String) {
        if let Some(t) = self.tracer.as_mut() {
            t(now, &line());
        }
    }
}
