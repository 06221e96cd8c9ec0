//! Swarm testing: each seed first draws the *kind* of run it will be (how many servers,
//! how hostile the network, how often servers crash), then the run itself. Some seeds
//! are calm, some are storms; a fixed fault mix would leave whole regions of behaviour
//! unvisited (tigerbeetle's vopr does the same).

use std::fmt;

use super::rng::{Ratio, Rng};

/// Most voters a swarm draws: enough for 2-of-3 up to 4-of-7 quorums.
pub const VOTERS_MAX: u64 = 7;
/// Most observers a swarm draws.
pub const OBSERVERS_MAX: u64 = 2;
/// Longest safety phase, in simulated ms.
pub const SAFETY_MS_MAX: u64 = 60_000;

/// A deliberately broken behaviour, to prove the checkers catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Every server counts its own vote twice: each of its broadcasts is also fed back to
    /// it as if another voter had sent the same vote.
    DoubleSelfVote,
}

impl Bug {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::DoubleSelfVote => "double-self-vote",
        }
    }

    /// Parses [`Bug::name`].
    pub fn parse(s: &str) -> Option<Bug> {
        match s {
            "double-self-vote" => Some(Bug::DoubleSelfVote),
            _ => None,
        }
    }
}

/// The options one seed runs under; printed at the start of every run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swarm {
    /// Voting servers (ids 1..=voters).
    pub voters: usize,
    /// Observers (ids after the voters).
    pub observers: usize,
    /// Shortest one-way message delay.
    pub delay_min_ms: u64,
    /// Longest one-way message delay.
    pub delay_max_ms: u64,
    /// Chance that a message is lost.
    pub loss: Ratio,
    /// Chance that a message is delivered twice (each copy with its own delay).
    pub duplicate: Ratio,
    /// True: each link delivers in send order (TCP); false: delays reorder messages.
    pub fifo: bool,
    /// Mean time between partitions; 0 = never.
    pub partition_every_ms: u64,
    /// Longest a partition lasts.
    pub partition_ms_max: u64,
    /// Chance that a partition blocks only one direction.
    pub one_way: Ratio,
    /// Mean time between crashes of one server; 0 = never.
    pub crash_every_ms: u64,
    /// Shortest time a crashed server stays down.
    pub restart_ms_min: u64,
    /// Longest time a crashed server stays down.
    pub restart_ms_max: u64,
    /// True: messages in flight to a server that restarted reach the new incarnation
    /// (datagrams); false: they die with the old connection (TCP).
    pub stale_delivery: bool,
    /// Shortest time for a write to become durable.
    pub fsync_ms_min: u64,
    /// Longest time for a write to become durable.
    pub fsync_ms_max: u64,
    /// True: a crash keeps a random prefix of the writes not yet durable (a torn tail).
    pub torn_writes: bool,
    /// How long faults are injected before the liveness phase.
    pub safety_ms: u64,
    /// A deliberately injected bug, for testing the checkers.
    pub bug: Option<Bug>,
}

impl Swarm {
    /// Draws the options for one seed.
    pub fn draw(rng: &mut Rng) -> Swarm {
        let voters = rng.range(1, VOTERS_MAX) as usize;
        let observers = if rng.below(4) == 0 { rng.range(1, OBSERVERS_MAX) as usize } else { 0 };
        let delay_min_ms = rng.range(0, 20);
        let delay_max_ms = delay_min_ms + [0, 10, 100, 1_000][rng.index(4)];
        // Each fault is off in a quarter of the seeds, so calm runs are explored too.
        let loss = if rng.below(4) == 0 { Ratio::ZERO } else { Ratio::per_mille(rng.range(1, 300) as u32) };
        let duplicate = if rng.below(4) == 0 { Ratio::ZERO } else { Ratio::per_mille(rng.range(1, 200) as u32) };
        let partition_every_ms = if rng.below(4) == 0 { 0 } else { rng.range(500, 20_000) };
        let crash_every_ms = if rng.below(4) == 0 { 0 } else { rng.range(1_000, 60_000) };
        let restart_ms_min = rng.range(0, 2_000);
        let fsync_ms_min = rng.range(0, 10);
        Swarm {
            voters,
            observers,
            delay_min_ms,
            delay_max_ms,
            loss,
            duplicate,
            fifo: rng.coin(),
            partition_every_ms,
            partition_ms_max: rng.range(100, 10_000),
            one_way: Ratio::per_mille(rng.range(0, 500) as u32),
            crash_every_ms,
            restart_ms_min,
            restart_ms_max: restart_ms_min + rng.range(0, 10_000),
            stale_delivery: rng.coin(),
            fsync_ms_min,
            fsync_ms_max: fsync_ms_min + rng.range(0, 50),
            torn_writes: rng.coin(),
            safety_ms: rng.range(1_000, SAFETY_MS_MAX),
            bug: None,
        }
    }

    /// All servers, voters and observers.
    pub fn nodes(&self) -> usize {
        self.voters + self.observers
    }
}

impl fmt::Display for Swarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "voters={} observers={} delay={}..{}ms loss={} duplicate={} fifo={} \
             partition_every={}ms partition_max={}ms one_way={} crash_every={}ms restart={}..{}ms \
             stale_delivery={} fsync={}..{}ms torn_writes={} safety={}ms",
            self.voters,
            self.observers,
            self.delay_min_ms,
            self.delay_max_ms,
            self.loss,
            self.duplicate,
            self.fifo,
            self.partition_every_ms,
            self.partition_ms_max,
            self.one_way,
            self.crash_every_ms,
            self.restart_ms_min,
            self.restart_ms_max,
            self.stale_delivery,
            self.fsync_ms_min,
            self.fsync_ms_max,
            self.torn_writes,
            self.safety_ms,
        )?;
        if let Some(bug) = self.bug {
            write!(f, " bug={}", bug.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_within_their_bounds_and_vary() {
        let mut sizes = std::collections::BTreeSet::new();
        for seed in 0..500 {
            let s = Swarm::draw(&mut Rng::new(seed));
            assert!((1..=VOTERS_MAX as usize).contains(&s.voters));
            assert!(s.observers <= OBSERVERS_MAX as usize);
            assert!(s.delay_min_ms <= s.delay_max_ms);
            assert!(s.restart_ms_min <= s.restart_ms_max);
            assert!(s.fsync_ms_min <= s.fsync_ms_max);
            assert!(s.safety_ms <= SAFETY_MS_MAX);
            assert!(s.loss.numerator <= 300);
            sizes.insert(s.voters);
        }
        assert_eq!(sizes.len(), VOTERS_MAX as usize);
        assert_eq!(Swarm::draw(&mut Rng::new(42)), Swarm::draw(&mut Rng::new(42)));
    }

    #[test]
    fn bug_names_round_trip() {
        assert_eq!(Bug::parse(Bug::DoubleSelfVote.name()), Some(Bug::DoubleSelfVote));
        assert_eq!(Bug::parse("nope"), None);
    }
}
