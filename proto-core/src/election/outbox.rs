//! The bounded queue of notifications waiting for the shell to send them.

use super::vote::Notification;
use crate::quorum::{ServerId, ENSEMBLE_MAX};

/// Where a notification goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dest {
    /// Every voter of the configuration except this server (`sendNotifications`).
    Voters,
    /// One server (an answer to its notification).
    Server(ServerId),
}

/// A notification to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The recipient(s).
    pub to: Dest,
    /// What to send.
    pub notification: Notification,
}

/// One broadcast plus one answer per member: a newer notification for the same
/// destination replaces the queued one (it carries strictly fresher state), so the queue
/// never holds more than this.
pub const OUTBOX_MAX: usize = ENSEMBLE_MAX + 1;

/// FIFO of pending transmits, at most one per destination.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outbox {
    slots: [Option<Transmit>; OUTBOX_MAX],
    len: usize,
}

impl Outbox {
    /// An empty queue.
    pub const EMPTY: Outbox = Outbox { slots: [None; OUTBOX_MAX], len: 0 };

    /// Queues `t`, dropping an older transmit to the same destination so that the latest
    /// state is also the last one sent.
    pub fn push(&mut self, t: Transmit) {
        if let Some(pos) = self.queued().iter().position(|q| q.is_some_and(|q| q.to == t.to)) {
            self.remove(pos);
        }
        debug_assert!(self.len < OUTBOX_MAX, "one slot per destination");
        if let Some(slot) = self.slots.get_mut(self.len) {
            *slot = Some(t);
            self.len += 1;
        }
    }

    /// The oldest pending transmit.
    pub fn pop(&mut self) -> Option<Transmit> {
        if self.len == 0 {
            return None;
        }
        let first = self.slots.first().copied().flatten();
        self.remove(0);
        first
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        *self = Outbox::EMPTY;
    }

    /// Number of pending transmits.
    pub fn len(&self) -> usize {
        self.len
    }

    fn queued(&self) -> &[Option<Transmit>] {
        self.slots.get(..self.len).unwrap_or(&[])
    }

    fn remove(&mut self, pos: usize) {
        if let Some(tail) = self.slots.get_mut(pos..self.len) {
            tail.rotate_left(1);
            if let Some(last) = tail.last_mut() {
                *last = None;
            }
            self.len -= 1;
        }
    }
}
