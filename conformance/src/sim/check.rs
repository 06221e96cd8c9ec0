//! Checkers and coverage marks.
//!
//! A [`Checker`] watches every output and inspects the whole ensemble after every step
//! (tigerbeetle's `state_checker.zig`); a violation stops the run with its seed. [`Marks`]
//! count how often rare branches happened (tigerbeetle's `marks.zig`), so a test can
//! assert that the seeds it ran actually reached them.

use std::collections::BTreeMap;
use std::fmt;

use proto_core::quorum::ServerId;
use proto_core::Instant;

use super::replica::{Output, Replica};

/// A broken invariant: what, where and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Simulated time of the step that broke it.
    pub at: Instant,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms: {}", self.at.0, self.what)
    }
}

/// One server as a checker sees it after a step.
#[derive(Debug)]
pub struct NodeView<'a, R> {
    /// The server.
    pub id: ServerId,
    /// Its state machine, `None` while crashed.
    pub replica: Option<&'a R>,
}

/// Named counters of rare events. Names are `&'static str` so a replica-specific
/// checker can add its own without touching the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    counts: BTreeMap<&'static str, u64>,
}

impl Marks {
    /// Records one occurrence of `name`.
    pub fn hit(&mut self, name: &'static str) {
        *self.counts.entry(name).or_insert(0) += 1;
    }

    /// How often `name` happened.
    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Marks) {
        for (name, n) in &other.counts {
            *self.counts.entry(name).or_insert(0) += n;
        }
    }

    /// Every mark with its count, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts.iter().map(|(k, v)| (*k, *v))
    }
}

/// Generic marks the simulator itself records.
pub mod mark {
    /// A partition ended.
    pub const PARTITION_HEALED: &str = "net.partition_healed";
    /// A partition blocked only one direction.
    pub const ONE_WAY_PARTITION: &str = "net.one_way_partition";
    /// A message was dropped by a partition while in flight.
    pub const DROPPED_IN_FLIGHT: &str = "net.dropped_in_flight";
    /// The second copy of a duplicated message was delivered.
    pub const DUPLICATE_DELIVERED: &str = "net.duplicate_delivered";
    /// A message arrived after one sent later on the same link.
    pub const REORDERED: &str = "net.reordered";
    /// A message reached a crashed server and was dropped.
    pub const TO_CRASHED: &str = "net.to_crashed_dropped";
    /// A message sent to an earlier incarnation reached the restarted server.
    pub const STALE_DELIVERED: &str = "net.stale_incarnation_delivered";
    /// A server crashed.
    pub const CRASH: &str = "node.crash";
    /// A server restarted from its disk.
    pub const RESTART: &str = "node.restart";
    /// A crash lost writes that were not yet durable.
    pub const WRITES_LOST: &str = "disk.writes_lost";
}

/// Invariants of one kind of replica, checked as the run goes.
pub trait Checker<R: Replica> {
    /// Sees every output of `node` as it is drained (before the network gets it).
    fn on_output(
        &mut self,
        now: Instant,
        node: ServerId,
        output: &Output<R>,
        marks: &mut Marks,
    ) -> Result<(), Violation> {
        let _ = (now, node, output, marks);
        Ok(())
    }

    /// `node` is about to crash (its state is still visible).
    fn on_crash(&mut self, now: Instant, node: ServerId, replica: &R, marks: &mut Marks) {
        let _ = (now, node, replica, marks);
    }

    /// Inspects the ensemble after a step.
    fn check(&mut self, now: Instant, nodes: &[NodeView<'_, R>], marks: &mut Marks) -> Result<(), Violation>;

    /// Liveness: true once the ensemble reached the state it must reach when faults stop.
    fn converged(&self, now: Instant, nodes: &[NodeView<'_, R>]) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_count_and_merge() {
        let mut a = Marks::default();
        a.hit("x");
        a.hit("x");
        let mut b = Marks::default();
        b.hit("x");
        b.hit("y");
        a.merge(&b);
        assert_eq!(a.count("x"), 3);
        assert_eq!(a.count("y"), 1);
        assert_eq!(a.count("z"), 0);
        assert_eq!(a.iter().collect::<Vec<_>>(), [("x", 3), ("y", 1)]);
    }
}
