//! A server's simulated stable storage: writes become durable in order, after a delay;
//! a crash keeps what was durable and, with torn writes, a random prefix of the rest.

use std::collections::VecDeque;

use super::replica::Replica;
use super::rng::Rng;

/// Stable storage of one server.
#[derive(Debug)]
pub struct Disk<R: Replica> {
    /// What survives a crash.
    durable: R::Disk,
    /// Writes handed to the disk and not yet durable, oldest first.
    pending: VecDeque<R::Write>,
}

impl<R: Replica> Disk<R> {
    /// A disk holding `contents`.
    pub fn new(contents: R::Disk) -> Self {
        Disk { durable: contents, pending: VecDeque::new() }
    }

    /// What a restarted server boots from.
    pub fn durable(&self) -> &R::Disk {
        &self.durable
    }

    /// Queues a write.
    pub fn write(&mut self, w: R::Write) {
        self.pending.push_back(w);
    }

    /// Makes the oldest pending write durable and returns it.
    pub fn complete(&mut self) -> Option<R::Write> {
        let w = self.pending.pop_front()?;
        R::apply(&mut self.durable, &w);
        Some(w)
    }

    /// Writes not yet durable.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The server crashed: pending writes are lost, except a random prefix when `torn`
    /// (the device got that far). Returns how many were lost.
    pub fn crash(&mut self, rng: &mut Rng, torn: bool) -> usize {
        let keep = if torn { rng.below(self.pending.len() as u64 + 1) as usize } else { 0 };
        for _ in 0..keep {
            self.complete();
        }
        let lost = self.pending.len();
        self.pending.clear();
        lost
    }
}
