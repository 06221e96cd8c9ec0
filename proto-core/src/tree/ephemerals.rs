//! Per-session lists of ephemeral znodes, for session close and `getEphemerals`.
//!
//! Each session that owns ephemerals has a slot in a bounded open-addressing table
//! (session id → list head, count); the list itself is intrusive, through
//! [`Node::eph_next`]/[`Node::eph_prev`], so a delete unlinks in O(1).

use super::index::{mix64, LOAD_DEN, LOAD_NUM};
use super::node::{link, unlink, Link, Node, NodeId, NONE};
use super::Tree;
use crate::ids::SessionId;

/// One slot of the session table: 16 bytes; all-zero is [`SessionSlot::EMPTY`]. Session
/// id 0 never owns an ephemeral (owner 0 means persistent), so it marks a free slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSlot {
    session: i64,
    head: Link,
    count: u32,
}

impl SessionSlot {
    /// An empty slot: all-zero bytes.
    pub const EMPTY: SessionSlot = SessionSlot { session: 0, head: NONE, count: 0 };
}

/// Most slots the table uses.
const SESSION_SLOTS_MAX: usize = 1 << 31;

/// The table of sessions owning ephemerals.
pub(super) struct SessionTable<'s> {
    slots: &'s mut [SessionSlot],
    /// Slots in use (a power of two) − 1.
    mask: u32,
    usable: bool,
    /// Sessions held.
    len: u32,
}

impl<'s> SessionTable<'s> {
    /// Uses the largest power-of-two prefix of a zeroed table.
    pub(super) fn new(slots: &'s mut [SessionSlot]) -> SessionTable<'s> {
        let len = slots.len().min(SESSION_SLOTS_MAX);
        let usable = len > 0;
        let pow2 = if usable { 1usize << (usize::BITS - 1 - len.leading_zeros()) } else { 1 };
        debug_assert!(slots.iter().take(pow2).all(|s| *s == SessionSlot::EMPTY), "session table must start zeroed");
        SessionTable { slots, mask: (pow2 - 1) as u32, usable, len: 0 }
    }

    /// Most sessions with ephemerals.
    pub(super) fn capacity(&self) -> u64 {
        if !self.usable {
            return 0;
        }
        (u64::from(self.mask) + 1) * LOAD_NUM / LOAD_DEN
    }

    /// Sessions currently owning ephemerals.
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    fn home(&self, session: SessionId) -> u32 {
        mix64(session.0 as u64) as u32 & self.mask
    }

    fn find(&self, session: SessionId) -> Option<u32> {
        if !self.usable || session.0 == 0 {
            return None;
        }
        let mut i = self.home(session);
        for _ in 0..=self.mask {
            let slot = self.slots.get(i as usize)?;
            if slot.session == 0 {
                return None;
            }
            if slot.session == session.0 {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Whether an ephemeral of `session` can be recorded.
    pub(super) fn has_room(&self, session: SessionId) -> bool {
        self.find(session).is_some() || u64::from(self.len) < self.capacity()
    }

    /// First ephemeral of `session`.
    pub(super) fn head(&self, session: SessionId) -> Link {
        self.find(session).and_then(|i| self.slots.get(i as usize)).map_or(NONE, |s| s.head)
    }

    /// The slot of `session`, claimed if new; `None` when full.
    fn claim(&mut self, session: SessionId) -> Option<u32> {
        if let Some(i) = self.find(session) {
            return Some(i);
        }
        if session.0 == 0 || u64::from(self.len) >= self.capacity() {
            return None;
        }
        let mut i = self.home(session);
        for _ in 0..=self.mask {
            let slot = self.slots.get_mut(i as usize)?;
            if slot.session == 0 {
                *slot = SessionSlot { session: session.0, head: NONE, count: 0 };
                self.len += 1;
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Empties slot `hole`, shifting later entries of its probe run back (no tombstones).
    fn vacate(&mut self, mut hole: u32) {
        let mut next = (hole + 1) & self.mask;
        for _ in 0..self.mask {
            let Some(&slot) = self.slots.get(next as usize) else { break };
            if slot.session == 0 {
                break;
            }
            let home = self.home(SessionId(slot.session));
            if (next.wrapping_sub(home) & self.mask) >= (next.wrapping_sub(hole) & self.mask) {
                if let Some(h) = self.slots.get_mut(hole as usize) {
                    *h = slot;
                }
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        if let Some(h) = self.slots.get_mut(hole as usize) {
            *h = SessionSlot::EMPTY;
        }
        self.len -= 1;
    }
}

impl<'s> Tree<'s> {
    /// Puts `node` at the head of `session`'s list; the caller checked `has_room`.
    pub(super) fn link_ephemeral(&mut self, node: u32, session: SessionId) {
        let Some(i) = self.sessions.claim(session) else {
            debug_assert!(false, "session table full after has_room");
            return;
        };
        let Some(slot) = self.sessions.slots.get_mut(i as usize) else { return };
        let old_head = slot.head;
        slot.head = link(node);
        slot.count += 1;
        if let Some(h) = unlink(old_head) {
            self.node_mut(h).eph_prev = link(node);
        }
        let n = self.node_mut(node);
        n.eph_next = old_head;
        n.eph_prev = NONE;
        self.ephemerals += 1;
    }

    /// Takes `node` out of `session`'s list, dropping the session's slot with its last node.
    pub(super) fn unlink_ephemeral(&mut self, node: u32, session: SessionId) {
        let Some(i) = self.sessions.find(session) else {
            debug_assert!(false, "ephemeral of an unknown session");
            return;
        };
        let (prev, next) = {
            let n = self.node_mut(node);
            let links = (n.eph_prev, n.eph_next);
            n.eph_prev = NONE;
            n.eph_next = NONE;
            links
        };
        match unlink(prev) {
            Some(p) => self.node_mut(p).eph_next = next,
            None => {
                if let Some(slot) = self.sessions.slots.get_mut(i as usize) {
                    slot.head = next;
                }
            }
        }
        if let Some(n) = unlink(next) {
            self.node_mut(n).eph_prev = prev;
        }
        self.ephemerals -= 1;
        let emptied = match self.sessions.slots.get_mut(i as usize) {
            Some(slot) => {
                slot.count -= 1;
                slot.count == 0
            }
            None => false,
        };
        if emptied {
            self.sessions.vacate(i);
        }
    }
}

/// The ephemerals of one session, most recent first.
pub struct Ephemerals<'t> {
    pub(super) nodes: &'t [Node],
    pub(super) next: Link,
    /// Steps left: a bound against a corrupted list ever looping.
    pub(super) steps: u32,
}

impl<'t> Iterator for Ephemerals<'t> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let index = unlink(self.next)?;
        self.steps = self.steps.checked_sub(1)?;
        self.next = self.nodes.get(index as usize).map_or(NONE, |n| n.eph_next);
        Some(NodeId(index))
    }
}
