//! Client sessions: ids, passwords, negotiated timeouts and expiry.
//!
//! A session outlives its connections: a client that loses its TCP connection reconnects with
//! the id and password and keeps its ephemerals, until `timeout` passes with no request. Expiry
//! follows ZooKeeper's bucketed scheme (`ExpiryQueue`): deadlines are rounded up to the next
//! tick boundary, so a session expires between `timeout` and `timeout + tickTime` after its
//! last touch, and the expirer wakes at most once per tick.

use crate::ids::{ConnId, SessionId};
use crate::time::Instant;

/// Bytes of a session password (ZooKeeper's is 16).
pub const PASSWORD_BYTES: usize = 16;

/// The container-node marker, which ZooKeeper never hands out as a session id.
const CONTAINER_MARKER: i64 = i64::MIN;

/// One session slot. All-zero bytes is a free slot, so the shell can hand in zeroed memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionSlot {
    id: i64,
    password: [u8; PASSWORD_BYTES],
    timeout_ms: u32,
    /// Tick-rounded deadline; 0 in a free slot.
    expires_at: u64,
    /// Connection currently bound to the session, as `ConnId + 1`; 0 when detached.
    conn: u32,
    /// `IN_USE | CLOSING`.
    flags: u8,
}

const IN_USE: u8 = 1;
const CLOSING: u8 = 2;

impl SessionSlot {
    /// A free slot.
    pub const EMPTY: SessionSlot =
        SessionSlot { id: 0, password: [0; PASSWORD_BYTES], timeout_ms: 0, expires_at: 0, conn: 0, flags: 0 };
}

/// A handle to a live session: its index in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct SessionRef(u32);

impl SessionRef {
    /// A placeholder for tables that keep a state beside it (slot 0 is also a real session:
    /// the state says which it is).
    pub const NONE: SessionRef = SessionRef(0);
}

/// The session table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsFull;

/// Bounded table of live sessions in caller-provided slots, with an id → slot index.
pub struct SessionTable<'s> {
    slots: &'s mut [SessionSlot],
    /// Open addressing, linear probing: slot index + 1, 0 for empty. A power of two at least
    /// twice the slot count, so probes stay short.
    index: &'s mut [u32],
    /// Slots in use (free ones are found by scanning from `hint`).
    live: u32,
    hint: u32,
    tick_ms: u64,
    /// Earliest deadline of any live session; never later than the true minimum.
    next_deadline: Option<u64>,
}

impl<'s> SessionTable<'s> {
    /// Index slots for a table of `sessions` slots.
    pub const fn index_slots(sessions: usize) -> usize {
        (sessions.saturating_mul(2)).next_power_of_two()
    }

    /// A table over `slots` (all [`SessionSlot::EMPTY`]) and a zeroed `index` of
    /// [`SessionTable::index_slots`] entries; deadlines round to `tick_ms`. Only as many
    /// slots as half the index are used.
    pub fn new(slots: &'s mut [SessionSlot], index: &'s mut [u32], tick_ms: u32) -> Self {
        debug_assert!(index.len().is_power_of_two() || index.is_empty());
        let usable = slots.len().min(index.len() / 2);
        let slots = &mut slots[..usable];
        SessionTable { slots, index, live: 0, hint: 0, tick_ms: u64::from(tick_ms.max(1)), next_deadline: None }
    }

    fn home(&self, id: i64) -> usize {
        // Fibonacci hashing; ids differ mostly in their low bits.
        let h = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (self.index.len().wrapping_sub(1))
    }

    /// The index position holding `id`, if any.
    fn probe(&self, id: i64) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut at = self.home(id);
        for _ in 0..self.index.len() {
            let entry = *self.index.get(at)?;
            let slot = entry.checked_sub(1)?;
            if self.slots.get(slot as usize).is_some_and(|s| s.flags & IN_USE != 0 && s.id == id) {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
        None
    }

    fn index_insert(&mut self, id: i64, slot: u32) {
        let mask = self.index.len().wrapping_sub(1);
        let mut at = self.home(id);
        // There is always a free entry: at most half the index is in use.
        for _ in 0..self.index.len() {
            match self.index.get_mut(at) {
                Some(e) if *e == 0 => {
                    *e = slot + 1;
                    return;
                }
                Some(_) => at = (at + 1) & mask,
                None => return,
            }
        }
    }

    /// Removes the entry at `at`, shifting later entries of the probe run back.
    fn index_remove(&mut self, mut at: usize) {
        let mask = self.index.len().wrapping_sub(1);
        let mut next = (at + 1) & mask;
        loop {
            let entry = self.index.get(next).copied().unwrap_or(0);
            let Some(slot) = entry.checked_sub(1) else { break };
            let id = self.slots.get(slot as usize).map_or(0, |s| s.id);
            let home = self.home(id);
            // Move `next` back to `at` unless its home lies cyclically in (at, next].
            let stays = if at <= next { home > at && home <= next } else { home > at || home <= next };
            if !stays {
                if let Some(e) = self.index.get_mut(at) {
                    *e = entry;
                }
                at = next;
            }
            next = (next + 1) & mask;
        }
        if let Some(e) = self.index.get_mut(at) {
            *e = 0;
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> u32 {
        self.live
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The session with this id, if it is live.
    pub fn find(&self, id: SessionId) -> Option<SessionRef> {
        if id.0 == 0 {
            return None;
        }
        let at = self.probe(id.0)?;
        let slot = self.index.get(at)?.checked_sub(1)?;
        Some(SessionRef(slot))
    }

    fn slot(&self, r: SessionRef) -> Option<&SessionSlot> {
        self.slots.get(r.0 as usize).filter(|s| s.flags & IN_USE != 0)
    }

    fn slot_mut(&mut self, r: SessionRef) -> Option<&mut SessionSlot> {
        self.slots.get_mut(r.0 as usize).filter(|s| s.flags & IN_USE != 0)
    }

    /// The session's id (0 if the handle is stale).
    pub fn id(&self, r: SessionRef) -> SessionId {
        SessionId(self.slot(r).map_or(0, |s| s.id))
    }

    /// The session's password.
    pub fn password(&self, r: SessionRef) -> [u8; PASSWORD_BYTES] {
        self.slot(r).map_or([0; PASSWORD_BYTES], |s| s.password)
    }

    /// The negotiated timeout in ms.
    pub fn timeout_ms(&self, r: SessionRef) -> u32 {
        self.slot(r).map_or(0, |s| s.timeout_ms)
    }

    /// When the session expires unless touched again.
    pub fn expires_at(&self, r: SessionRef) -> Instant {
        Instant(self.slot(r).map_or(0, |s| s.expires_at))
    }

    /// True once expiry or closeSession has begun: later requests get SessionExpired.
    pub fn is_closing(&self, r: SessionRef) -> bool {
        self.slot(r).map_or(true, |s| s.flags & CLOSING != 0)
    }

    /// The connection bound to the session, if any.
    pub fn conn(&self, r: SessionRef) -> Option<ConnId> {
        self.slot(r).and_then(|s| s.conn.checked_sub(1)).map(ConnId)
    }

    /// Binds (or with `None` detaches) the session's connection.
    pub fn set_conn(&mut self, r: SessionRef, conn: Option<ConnId>) {
        if let Some(s) = self.slot_mut(r) {
            s.conn = conn.map_or(0, |c| c.0.saturating_add(1));
        }
    }

    /// Adds a session (from a createSession txn, live or replayed) and arms its expiry.
    pub fn insert(
        &mut self,
        now: Instant,
        id: SessionId,
        password: [u8; PASSWORD_BYTES],
        timeout_ms: u32,
    ) -> Result<SessionRef, SessionsFull> {
        debug_assert!(id.0 != 0 && id.0 != CONTAINER_MARKER);
        if let Some(r) = self.find(id) {
            // Replaying a log over a snapshot may meet a session twice; keep one.
            return Ok(r);
        }
        let n = self.slots.len() as u32;
        let start = self.hint.min(n);
        let free = (start..n).chain(0..start).find(|&i| self.slots[i as usize].flags & IN_USE == 0);
        let Some(i) = free else { return Err(SessionsFull) };
        self.slots[i as usize] = SessionSlot { id: id.0, password, timeout_ms, expires_at: 0, conn: 0, flags: IN_USE };
        self.hint = i + 1;
        self.live += 1;
        self.index_insert(id.0, i);
        let r = SessionRef(i);
        self.touch(now, r);
        Ok(r)
    }

    /// Removes a session (closeSession txn applied).
    pub fn remove(&mut self, r: SessionRef) {
        let id = self.id(r).0;
        if let Some(at) = self.probe(id) {
            self.index_remove(at);
        }
        if let Some(s) = self.slot_mut(r) {
            *s = SessionSlot::EMPTY;
            self.live -= 1;
            self.hint = self.hint.min(r.0);
        }
    }

    /// Marks the session as closing: it takes no more requests and will not be expired again.
    pub fn mark_closing(&mut self, r: SessionRef) {
        if let Some(s) = self.slot_mut(r) {
            s.flags |= CLOSING;
        }
    }

    /// Pushes the session's deadline to `now + timeout`, rounded up to the next tick.
    pub fn touch(&mut self, now: Instant, r: SessionRef) {
        let tick = self.tick_ms;
        let Some(s) = self.slot_mut(r) else { return };
        if s.flags & CLOSING != 0 {
            return;
        }
        let deadline = (now.0.saturating_add(u64::from(s.timeout_ms)) / tick + 1).saturating_mul(tick);
        s.expires_at = deadline;
        self.next_deadline = Some(self.next_deadline.map_or(deadline, |d| d.min(deadline)));
    }

    /// Touches every live session, as ZooKeeper does for sessions restored at start-up.
    pub fn touch_all(&mut self, now: Instant) {
        for i in 0..self.slots.len() as u32 {
            self.touch(now, SessionRef(i));
        }
    }

    /// When the expirer next needs to run.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline.map(Instant)
    }

    /// Calls `expire` for every session whose deadline has passed (marking it closing), and
    /// recomputes the next deadline. Calling it early does nothing but that recomputation.
    pub fn expire_due(&mut self, now: Instant, mut expire: impl FnMut(SessionRef, SessionId)) {
        let mut next: Option<u64> = None;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.flags & IN_USE == 0 || s.flags & CLOSING != 0 {
                continue;
            }
            if s.expires_at <= now.0 {
                s.flags |= CLOSING;
                expire(SessionRef(i as u32), SessionId(s.id));
            } else {
                next = Some(next.map_or(s.expires_at, |d| d.min(s.expires_at)));
            }
        }
        self.next_deadline = next;
    }

    /// Every live session, for 4lw `dump` and snapshots.
    pub fn iter(&self) -> impl Iterator<Item = (SessionRef, SessionId, u32)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.flags & IN_USE != 0)
            .map(|(i, s)| (SessionRef(i as u32), SessionId(s.id), s.timeout_ms))
    }
}

/// Allocates session ids as ZooKeeper does: `server id << 56 | start ms << 16`, plus one per
/// session, skipping the container marker.
#[derive(Clone, Copy, Debug)]
pub struct SessionIdGen {
    next: i64,
}

impl SessionIdGen {
    /// Seeds the generator from this server's id and the wall clock at start.
    pub fn new(server_id: u8, wall_ms: i64) -> Self {
        let time_bits = ((wall_ms as u64) & 0xFF_FFFF_FFFF) << 16;
        SessionIdGen { next: ((u64::from(server_id) << 56) | time_bits) as i64 }
    }

    /// The next id.
    pub fn next_id(&mut self) -> SessionId {
        self.next = self.next.wrapping_add(1);
        if self.next == CONTAINER_MARKER || self.next == 0 {
            self.next = self.next.wrapping_add(1);
        }
        SessionId(self.next)
    }
}

/// Clamps a requested timeout into `[min, max]`, as ZooKeeper does (never rejects).
pub fn negotiate_timeout(requested: i32, min_ms: u32, max_ms: u32) -> u32 {
    let requested = requested.max(0) as u32;
    requested.min(max_ms).max(min_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_bucketed_to_ticks() {
        let mut slots = [SessionSlot::EMPTY; 4];
        let mut index = [0u32; 8];
        let mut t = SessionTable::new(&mut slots, &mut index, 2000);
        let r = t.insert(Instant(1000), SessionId(7), [1; 16], 4000).unwrap();
        // 1000 + 4000 = 5000 → next tick boundary after it is 6000.
        assert_eq!(t.next_deadline(), Some(Instant(6000)));
        let mut expired = 0;
        t.expire_due(Instant(5999), |_, _| expired += 1);
        assert_eq!(expired, 0);
        t.touch(Instant(3000), r);
        t.expire_due(Instant(6000), |_, _| expired += 1);
        assert_eq!(expired, 0, "touched session lives until 8000");
        t.expire_due(Instant(8000), |_, id| {
            assert_eq!(id, SessionId(7));
            expired += 1
        });
        assert_eq!(expired, 1);
        assert!(t.is_closing(r));
        t.expire_due(Instant(20000), |_, _| expired += 1);
        assert_eq!(expired, 1, "a closing session is expired once");
    }

    #[test]
    fn full_table_is_an_error() {
        let mut slots = [SessionSlot::EMPTY; 1];
        let mut index = [0u32; 2];
        let mut t = SessionTable::new(&mut slots, &mut index, 2000);
        t.insert(Instant(0), SessionId(1), [0; 16], 4000).unwrap();
        assert_eq!(t.insert(Instant(0), SessionId(2), [0; 16], 4000), Err(SessionsFull));
        let r = t.find(SessionId(1)).unwrap();
        t.remove(r);
        assert!(t.insert(Instant(0), SessionId(2), [0; 16], 4000).is_ok());
    }

    #[test]
    fn index_finds_every_live_session_through_removals() {
        extern crate std;
        let mut slots = [SessionSlot::EMPTY; 64];
        let mut index = [0u32; 128];
        let mut t = SessionTable::new(&mut slots, &mut index, 2000);
        // Ids that collide in their low bits, as ids of one server do.
        let ids: std::vec::Vec<i64> = (0..64).map(|i| (1i64 << 56) | (i << 16) | 1).collect();
        for &id in &ids {
            t.insert(Instant(0), SessionId(id), [0; 16], 4000).unwrap();
        }
        assert!(t.insert(Instant(0), SessionId(7), [0; 16], 4000).is_err());
        for (n, &id) in ids.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
            let r = t.find(SessionId(id)).unwrap_or_else(|| panic!("{n} missing"));
            t.remove(r);
        }
        for (n, &id) in ids.iter().enumerate() {
            assert_eq!(t.find(SessionId(id)).is_some(), n % 3 != 0, "session {n}");
        }
        assert_eq!(t.len(), 64 - 22);
    }

    #[test]
    fn ids_carry_server_id_and_skip_marker() {
        let mut g = SessionIdGen::new(1, 0x12_3456_7890);
        let id = g.next_id();
        assert_eq!((id.0 as u64) >> 56, 1);
        assert_eq!(id.0 & 0xffff, 1);
        let mut g = SessionIdGen { next: i64::MAX };
        assert_ne!(g.next_id().0, CONTAINER_MARKER);
    }

    #[test]
    fn timeout_is_clamped() {
        assert_eq!(negotiate_timeout(1000, 4000, 40000), 4000);
        assert_eq!(negotiate_timeout(100000, 4000, 40000), 40000);
        assert_eq!(negotiate_timeout(10000, 4000, 40000), 10000);
        assert_eq!(negotiate_timeout(-5, 4000, 40000), 4000);
    }
}
