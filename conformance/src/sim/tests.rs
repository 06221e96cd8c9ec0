//! The simulator's storage path, driven by a toy replica that only writes a counter:
//! what ZAB's log will rely on (writes durable in order, acknowledged only once durable,
//! lost or torn at a crash, and never an acknowledged write lost).

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;

use proto_core::quorum::ServerId;
use proto_core::Instant;

use super::check::mark;
use super::*;

/// Writes 1, 2, 3… every [`WRITE_EVERY_MS`]; reports each as durable when the disk says so.
#[derive(Debug)]
struct Counter {
    next: u64,
    deadline: Instant,
    outbox: VecDeque<Output<Counter>>,
    /// Injected bug: acknowledge writes before they are durable.
    eager: bool,
}

const WRITE_EVERY_MS: u64 = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CounterNotice {
    Booted(u64),
    Durable(u64),
}

impl Replica for Counter {
    type Config = bool;
    type Message = Infallible;
    type Disk = u64;
    type Write = u64;
    type Request = Infallible;
    type Reply = Infallible;
    type Notice = CounterNotice;

    fn boot(eager: &bool, _id: ServerId, disk: &u64, now: Instant) -> Self {
        let mut outbox = VecDeque::new();
        outbox.push_back(Output::Notice(CounterNotice::Booted(*disk)));
        Counter { next: disk + 1, deadline: now + WRITE_EVERY_MS, outbox, eager: *eager }
    }
    fn handle_message(&mut self, _now: Instant, _from: ServerId, msg: Infallible) {
        match msg {}
    }
    fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        self.outbox.push_back(Output::Write(self.next));
        if self.eager {
            self.outbox.push_back(Output::Notice(CounterNotice::Durable(self.next)));
        }
        self.next += 1;
        self.deadline = now + WRITE_EVERY_MS;
    }
    fn handle_durable(&mut self, _now: Instant, write: &u64) {
        if !self.eager {
            self.outbox.push_back(Output::Notice(CounterNotice::Durable(*write)));
        }
    }
    fn poll_output(&mut self) -> Option<Output<Self>> {
        self.outbox.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.deadline)
    }
    fn apply(disk: &mut u64, write: &u64) {
        *disk = *write;
    }
}

/// No write acknowledged as durable is missing after a restart, and durable writes are
/// reported in order.
#[derive(Default)]
struct NoLostWrites {
    acked: BTreeMap<ServerId, u64>,
    booted: u64,
}

impl Checker<Counter> for NoLostWrites {
    fn on_output(
        &mut self,
        now: Instant,
        node: ServerId,
        out: &Output<Counter>,
        _: &mut Marks,
    ) -> Result<(), Violation> {
        let acked = self.acked.entry(node).or_insert(0);
        match out {
            Output::Notice(CounterNotice::Booted(v)) if *v < *acked => {
                Err(Violation { at: now, what: format!("{node} booted at {v}, but {acked} was acknowledged") })
            }
            Output::Notice(CounterNotice::Booted(v)) => {
                self.booted += 1;
                *acked = *v;
                Ok(())
            }
            Output::Notice(CounterNotice::Durable(v)) if *v != *acked + 1 => {
                Err(Violation { at: now, what: format!("{node} made {v} durable after {acked}") })
            }
            Output::Notice(CounterNotice::Durable(v)) => {
                *acked = *v;
                Ok(())
            }
            _ => Ok(()),
        }
    }
    fn check(&mut self, _: Instant, _: &[NodeView<'_, Counter>], _: &mut Marks) -> Result<(), Violation> {
        Ok(())
    }
    fn converged(&self, _: Instant, nodes: &[NodeView<'_, Counter>]) -> bool {
        nodes.iter().all(|n| n.replica.is_some())
    }
}

fn run_counter(seed: u64, eager: bool) -> Report {
    let mut rng = Rng::new(seed);
    let mut swarm = Swarm::draw(&mut rng);
    swarm.crash_every_ms = 200;
    swarm.restart_ms_min = 0;
    swarm.restart_ms_max = 50;
    swarm.safety_ms = 2_000;
    let options = RunOptions { liveness_ms: 1_000, steps_max: 1_000_000 };
    let disks = vec![0; swarm.nodes()];
    Simulator::new(seed, swarm, options, eager, disks, NoLostWrites::default(), &mut rng).run()
}

#[test]
fn acknowledged_writes_survive_crashes_and_unacknowledged_ones_may_not() {
    let mut marks = Marks::default();
    for seed in 0..100 {
        let report = run_counter(seed, false);
        assert_eq!(report.result, Ok(()), "seed {seed}: {}", report.swarm);
        marks.merge(&report.marks);
    }
    assert!(marks.count(mark::CRASH) > 100);
    assert!(marks.count(mark::WRITES_LOST) > 10, "crashes must catch writes in flight");
}

#[test]
fn acknowledging_before_durable_is_caught() {
    let caught = (0..100).filter(|&seed| matches!(run_counter(seed, true).result, Err(Failure::Safety(_)))).count();
    assert!(caught > 10, "only {caught} of 100 seeds caught the early acknowledgement");
}
