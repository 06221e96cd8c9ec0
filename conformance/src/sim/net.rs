//! The simulated network between servers: delay, loss, duplication, reordering and
//! partitions, all drawn from the run's [`Rng`] under its [`Swarm`] options.
//!
//! Servers are addressed by index (`0..n`); the simulator maps indexes to `ServerId`s.

use proto_core::Instant;

use super::rng::{Ratio, Rng};
use super::swarm::Swarm;

/// The fate of one sent message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Lost (randomly, or the link is cut).
    Dropped,
    /// Delivered at these times (two entries when duplicated).
    Deliver(Vec<Instant>),
}

/// A cut in the network: which directed links are blocked, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// `side[i]`: which side server `i` is on.
    pub side: Vec<bool>,
    /// True: only messages from the `true` side to the `false` side are dropped.
    pub one_way: bool,
    /// When the partition heals.
    pub heal_at: Instant,
}

impl Partition {
    /// True when the partition drops messages from `from` to `to`.
    pub fn blocks(&self, from: usize, to: usize) -> bool {
        let (Some(&a), Some(&b)) = (self.side.get(from), self.side.get(to)) else {
            return false;
        };
        if self.one_way {
            a && !b
        } else {
            a != b
        }
    }
}

/// Links between `n` servers.
#[derive(Clone, Debug)]
pub struct Network {
    n: usize,
    delay_min_ms: u64,
    delay_max_ms: u64,
    loss: Ratio,
    duplicate: Ratio,
    fifo: bool,
    /// Latest delivery time scheduled per directed link, for FIFO links and to notice
    /// reordering on the others.
    last_delivery: Vec<Instant>,
    partition: Option<Partition>,
}

impl Network {
    /// A fully connected network of `swarm.nodes()` servers with the swarm's faults.
    pub fn new(swarm: &Swarm) -> Network {
        let n = swarm.nodes();
        Network {
            n,
            delay_min_ms: swarm.delay_min_ms,
            delay_max_ms: swarm.delay_max_ms,
            loss: swarm.loss,
            duplicate: swarm.duplicate,
            fifo: swarm.fifo,
            last_delivery: vec![Instant(0); n * n],
            partition: None,
        }
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no servers.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Decides when (if ever) a message sent now from `from` to `to` arrives. The second
    /// value is true when a copy was scheduled before an earlier-sent message on the link.
    pub fn send(&mut self, rng: &mut Rng, now: Instant, from: usize, to: usize) -> (Route, bool) {
        if !self.connected(from, to) || rng.chance(self.loss) {
            return (Route::Dropped, false);
        }
        let copies = if rng.chance(self.duplicate) { 2 } else { 1 };
        let mut times = Vec::with_capacity(copies);
        let mut reordered = false;
        for _ in 0..copies {
            let mut at = now + rng.range(self.delay_min_ms, self.delay_max_ms);
            let last = self.last_delivery.get_mut(from * self.n + to);
            if let Some(last) = last {
                if self.fifo {
                    at = at.max(*last);
                } else if at < *last {
                    reordered = true;
                }
                *last = (*last).max(at);
            }
            times.push(at);
        }
        (Route::Deliver(times), reordered)
    }

    /// True when messages from `from` currently reach `to`.
    pub fn connected(&self, from: usize, to: usize) -> bool {
        !self.partition.as_ref().is_some_and(|p| p.blocks(from, to))
    }

    /// The current partition, if any.
    pub fn partition(&self) -> Option<&Partition> {
        self.partition.as_ref()
    }

    /// Cuts the network in two random non-empty sides until `heal_at`. Returns false
    /// (and changes nothing) with fewer than two servers.
    pub fn split(&mut self, rng: &mut Rng, one_way: bool, heal_at: Instant) -> bool {
        if self.n < 2 {
            return false;
        }
        let mut side: Vec<bool> = (0..self.n).map(|_| rng.coin()).collect();
        // Force both sides non-empty: a "partition" with everyone on one side cuts nothing.
        let a = rng.index(self.n);
        let b = (a + 1 + rng.index(self.n - 1)) % self.n;
        side[a] = true;
        side[b] = false;
        self.partition = Some(Partition { side, one_way, heal_at });
        true
    }

    /// Removes the partition, returning whether there was one.
    pub fn heal(&mut self) -> bool {
        self.partition.take().is_some()
    }

    /// Stops random loss and duplication (the liveness phase); delays stay.
    pub fn calm(&mut self) {
        self.loss = Ratio::ZERO;
        self.duplicate = Ratio::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swarm(n: usize) -> Swarm {
        let mut s = Swarm::draw(&mut Rng::new(1));
        s.voters = n;
        s.observers = 0;
        s.delay_min_ms = 5;
        s.delay_max_ms = 50;
        s.loss = Ratio::ZERO;
        s.duplicate = Ratio::ZERO;
        s
    }

    #[test]
    fn delays_stay_in_range_and_fifo_links_keep_order() {
        let mut s = swarm(2);
        s.fifo = true;
        let mut net = Network::new(&s);
        let mut rng = Rng::new(9);
        let mut last = Instant(0);
        for t in 0..200 {
            let (Route::Deliver(at), reordered) = net.send(&mut rng, Instant(t), 0, 1) else { panic!("no loss") };
            assert_eq!(at.len(), 1);
            assert!(at[0] >= last && at[0].0 <= t + 50 && at[0].0 >= t + 5);
            assert!(!reordered);
            last = at[0];
        }
    }

    #[test]
    fn non_fifo_links_reorder() {
        let mut s = swarm(2);
        s.fifo = false;
        let mut net = Network::new(&s);
        let mut rng = Rng::new(9);
        assert!((0..200).any(|t| net.send(&mut rng, Instant(t), 0, 1).1));
    }

    #[test]
    fn loss_and_duplication_follow_the_swarm() {
        let mut s = swarm(2);
        s.loss = Ratio { numerator: 1, denominator: 1 };
        let mut rng = Rng::new(2);
        assert_eq!(Network::new(&s).send(&mut rng, Instant(0), 0, 1).0, Route::Dropped);
        s.loss = Ratio::ZERO;
        s.duplicate = Ratio { numerator: 1, denominator: 1 };
        let (Route::Deliver(at), _) = Network::new(&s).send(&mut rng, Instant(0), 0, 1) else { panic!() };
        assert_eq!(at.len(), 2);
        let mut calm = Network::new(&s);
        calm.calm();
        let (Route::Deliver(at), _) = calm.send(&mut rng, Instant(0), 0, 1) else { panic!() };
        assert_eq!(at.len(), 1);
    }

    #[test]
    fn partitions_cut_both_sides_or_one_direction() {
        let mut rng = Rng::new(4);
        let mut net = Network::new(&swarm(5));
        assert!(net.split(&mut rng, false, Instant(100)));
        let p = net.partition().unwrap().clone();
        assert!(p.side.iter().any(|&s| s) && p.side.iter().any(|&s| !s));
        for a in 0..5 {
            for b in 0..5 {
                assert_eq!(net.connected(a, b), p.side[a] == p.side[b]);
            }
        }
        assert_eq!(
            net.send(
                &mut rng,
                Instant(0),
                p.side.iter().position(|&s| s).unwrap(),
                p.side.iter().position(|&s| !s).unwrap()
            )
            .0,
            Route::Dropped
        );
        assert!(net.heal());
        assert!(!net.heal());
        assert!(net.split(&mut rng, true, Instant(100)));
        let p = net.partition().unwrap().clone();
        let (t, f) = (p.side.iter().position(|&s| s).unwrap(), p.side.iter().position(|&s| !s).unwrap());
        assert!(!net.connected(t, f));
        assert!(net.connected(f, t));
        assert!(!Network::new(&swarm(1)).split(&mut rng, false, Instant(1)));
    }
}
