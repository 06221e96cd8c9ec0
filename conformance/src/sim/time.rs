//! Simulated time: a clock that only moves when the next event is taken, and the event
//! queue that orders everything that will happen.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use proto_core::Instant;

/// Events waiting for their time, taken in (time, sequence number) order: events due at
/// the same millisecond come out in the order they were scheduled, so ties never depend
/// on the heap's internals.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now: Instant,
}

#[derive(Debug)]
struct Entry<E> {
    at: Instant,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap yields the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_seq: 0, now: Instant(0) }
    }

    /// The current simulated time: the time of the last event taken.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Schedules `event` at `at`; a time in the past means "now" (time never runs back).
    pub fn schedule(&mut self, at: Instant, event: E) {
        let at = at.max(self.now);
        self.heap.push(Entry { at, seq: self.next_seq, event });
        self.next_seq += 1;
    }

    /// Takes the earliest event and advances the clock to it.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        let e = self.heap.pop()?;
        debug_assert!(e.at >= self.now, "time runs forward");
        self.now = e.at;
        Some((e.at, e.event))
    }

    /// When the earliest event is due.
    pub fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// Number of events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_by_scheduling_order() {
        let mut q = EventQueue::new();
        q.schedule(Instant(5), "c");
        q.schedule(Instant(1), "a");
        q.schedule(Instant(5), "d");
        q.schedule(Instant(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, [(Instant(1), "a"), (Instant(1), "b"), (Instant(5), "c"), (Instant(5), "d")]);
        assert_eq!(q.now(), Instant(5));
    }

    #[test]
    fn the_past_is_clamped_to_now() {
        let mut q = EventQueue::new();
        q.schedule(Instant(10), 1);
        assert_eq!(q.pop(), Some((Instant(10), 1)));
        q.schedule(Instant(3), 2);
        assert_eq!(q.peek_time(), Some(Instant(10)));
        assert_eq!(q.pop(), Some((Instant(10), 2)));
        assert!(q.is_empty());
    }
}
