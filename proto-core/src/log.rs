//! The bounded, zxid-ordered txn log a replica keeps in memory, and its commit point.
//!
//! ZAB needs recent txns in zxid order: a leader serves DIFF from them (ZooKeeper's
//! `committedLog`, the window `minCommittedLog..maxCommittedLog`), and every replica holds
//! the proposals it has logged but not yet seen committed, which a new leader re-proposes
//! and a TRUNC may drop. This module is only the data structure; the ZAB roles decide when to
//! append, commit and truncate.
//!
//! Storage comes from the caller, as smoltcp's packet buffers take theirs: a byte ring for the
//! records and an index of [`Entry`] slots. Each record is stored contiguously (so
//! [`TxnLog::get`] returns one slice); a record that does not fit before the end of the ring
//! goes to its start, and the skipped tail bytes stay unused until the ring comes round.
//! When the index or the bytes run out, [`TxnLog::append`] evicts the oldest entries, which
//! must be committed: it never drops a proposal that is still uncommitted, and refuses with
//! [`LogError::Full`] instead (back-pressure for the leader, a sync failure for a learner).
//!
//! Sizing: `index.len()` is the most entries held, committed or not; ZooKeeper keeps
//! [`COMMIT_LOG_COUNT`] committed proposals for DIFF, and a leader also holds the proposals in
//! flight, so a server passes [`ENTRIES_DEFAULT`] slots. `records.len()` bounds their bytes: it
//! must be at least the largest record (else [`LogError::RecordTooLarge`]), and to keep the
//! whole DIFF window it should be about `COMMIT_LOG_COUNT` × the mean record plus twice the
//! largest record (the ring wastes less than one record at its end). [`RECORD_BYTES_DEFAULT`]
//! is a server's choice; a microcontroller passes a few KiB and gets a shorter window, so more
//! learners are synced by SNAP.
//!
//! After a restart the caller creates the log with the commit point it knows is committed
//! (the snapshot's zxid) and appends the replayed txns after it as uncommitted; the sync with
//! the leader then commits or truncates them.

use core::fmt;

use crate::limits::JUTE_MAXBUFFER_DEFAULT;
use crate::Zxid;

/// ZooKeeper's `zookeeper.commitLogCount` default: committed proposals kept for DIFF.
pub const COMMIT_LOG_COUNT: usize = 500;

/// Proposals a leader may have in flight beyond the DIFF window: ZooKeeper's
/// `zookeeper.globalOutstandingLimit` default, the requests it lets queue before throttling.
pub const OUTSTANDING_PROPOSALS_MAX: usize = 1000;

/// Index slots for a server: the whole DIFF window plus every proposal in flight.
pub const ENTRIES_DEFAULT: usize = COMMIT_LOG_COUNT + OUTSTANDING_PROPOSALS_MAX;

/// Record bytes for a server: 500 records of 128 KiB, lazily mapped, so a log of small
/// txns costs only what it touches.
pub const RECORD_BYTES_DEFAULT: usize = 64 << 20;

/// Most ring bytes a log uses (a longer slice is used up to this): entries store offsets
/// and lengths as `u32`.
pub const RING_BYTES_MAX: usize = u32::MAX as usize;

// A txn carries at most one client frame, so two of the largest frames must fit with room
// to spare, or a large write could never be logged.
const _: () = assert!(RECORD_BYTES_DEFAULT >= 2 * JUTE_MAXBUFFER_DEFAULT as usize);
const _: () = assert!(RECORD_BYTES_DEFAULT <= RING_BYTES_MAX);
const _: () = assert!(ENTRIES_DEFAULT > COMMIT_LOG_COUNT);

/// One index slot: where a record lives in the byte ring. Callers only allocate these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    zxid: Zxid,
    offset: u32,
    len: u32,
    /// This record was placed at offset 0 because the end of the ring was too short:
    /// it starts the ring's next lap.
    lap_start: bool,
}

impl Entry {
    /// An unused slot, to fill the index with (`[Entry::EMPTY; N]`).
    pub const EMPTY: Entry = Entry { zxid: Zxid::ZERO, offset: 0, len: 0, lap_start: false };
}

/// Why an operation on the log was refused; the log is unchanged after every error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// The zxid is not above every zxid already logged or committed (duplicate or out of order).
    OutOfOrder,
    /// The record is longer than the whole byte ring and can never be stored.
    RecordTooLarge,
    /// Making room would evict an uncommitted entry, or the index has no slots at all.
    Full,
    /// The zxid to commit is not in the log (past the last appended entry, or in a gap).
    NotLogged,
    /// The zxid to commit is below the current commit point.
    CommitBackwards,
    /// Truncating there would drop committed entries.
    TruncateBelowCommit,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            LogError::OutOfOrder => "zxid not above the last logged zxid",
            LogError::RecordTooLarge => "txn record larger than the log",
            LogError::Full => "txn log full of uncommitted proposals",
            LogError::NotLogged => "commit of a zxid that is not logged",
            LogError::CommitBackwards => "commit below the commit point",
            LogError::TruncateBelowCommit => "truncate below the commit point",
        };
        f.write_str(s)
    }
}

/// How a leader brings one learner up to date (`LearnerHandler.syncFollower`, section 13.4).
///
/// Entries to send are those of [`TxnLog::range_after`]`(from)`; the committed ones go as
/// PROPOSAL+COMMIT, and the uncommitted ones are forwarded as live proposals, as ZooKeeper's
/// `startForwarding` does. The forced-snapshot row is the caller's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPlan {
    /// DIFF with nothing after it: the learner already has everything.
    EmptyDiff,
    /// DIFF, then every entry after `from`.
    Diff {
        /// The last zxid both sides have.
        from: Zxid,
    },
    /// TRUNC the learner's log to `to`; nothing committed to send after it.
    Trunc {
        /// The zxid the learner keeps its log up to.
        to: Zxid,
    },
    /// TRUNC the learner's log to `to`, then every entry after `from`.
    TruncThenDiff {
        /// The zxid the learner keeps its log up to.
        to: Zxid,
        /// The last zxid both sides have after the truncation.
        from: Zxid,
    },
    /// Send a snapshot taken at the leader's last processed zxid.
    Snap,
}

impl fmt::Display for SyncPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPlan::EmptyDiff => f.write_str("DIFF (empty)"),
            SyncPlan::Diff { from } => write!(f, "DIFF after {from}"),
            SyncPlan::Trunc { to } => write!(f, "TRUNC to {to}"),
            SyncPlan::TruncThenDiff { to, from } => write!(f, "TRUNC to {to}, then after {from}"),
            SyncPlan::Snap => f.write_str("SNAP"),
        }
    }
}

/// Where the entries and their bytes are. Copied so eviction can be planned, and refused,
/// before anything changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    /// Index slot of the oldest entry.
    first: usize,
    /// Entries held.
    count: usize,
    /// Byte offset of the oldest record.
    head: usize,
    /// Byte offset just past the newest record: where the next one goes if it fits.
    tail: usize,
    /// The newest records sit before the oldest in the ring (`[0, tail)` and `[head, ..)`
    /// are used, `[tail, head)` is free).
    wrapped: bool,
}

impl Cursor {
    const EMPTY: Cursor = Cursor { first: 0, count: 0, head: 0, tail: 0, wrapped: false };

    /// The offset for a `len`-byte record, and whether it starts a new lap, or `None` if it
    /// does not fit in the free bytes.
    fn place(&self, ring_bytes: usize, len: usize) -> Option<(usize, bool)> {
        if self.count == 0 {
            return (len <= ring_bytes).then_some((0, false));
        }
        if self.wrapped {
            let free = self.head.checked_sub(self.tail)?;
            (len <= free).then_some((self.tail, false))
        } else if len <= ring_bytes.saturating_sub(self.tail) {
            Some((self.tail, false))
        } else if len <= self.head {
            Some((0, true))
        } else {
            None
        }
    }
}

/// A bounded zxid-ordered txn log over caller storage, with a commit point.
///
/// Invariants: zxids strictly increase from oldest to newest; every entry at or below
/// [`TxnLog::committed`] is committed and the rest are not; the commit point never passes
/// the newest entry (it may sit below the oldest, once committed entries were evicted or
/// when the log was created at a snapshot's zxid).
pub struct TxnLog<'s> {
    records: &'s mut [u8],
    index: &'s mut [Entry],
    /// `records.len()`, capped at [`RING_BYTES_MAX`].
    ring_bytes: usize,
    cur: Cursor,
    committed: Zxid,
    /// Sum of the held records' lengths.
    bytes: usize,
}

impl fmt::Debug for TxnLog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxnLog")
            .field("len", &self.cur.count)
            .field("min", &self.min_zxid())
            .field("max", &self.max_zxid())
            .field("committed", &self.committed)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl<'s> TxnLog<'s> {
    /// An empty log over `records` and `index`, committed up to `committed` (the snapshot's
    /// zxid, or [`Zxid::ZERO`] for an empty database).
    pub fn new(records: &'s mut [u8], index: &'s mut [Entry], committed: Zxid) -> TxnLog<'s> {
        let ring_bytes = records.len().min(RING_BYTES_MAX);
        TxnLog { records, index, ring_bytes, cur: Cursor::EMPTY, committed, bytes: 0 }
    }

    /// Entries held, committed or not.
    pub fn len(&self) -> usize {
        self.cur.count
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.cur.count == 0
    }

    /// Most entries the index can hold.
    pub fn entries_max(&self) -> usize {
        self.index.len()
    }

    /// Bytes of the ring records can use.
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// Sum of the held records' lengths.
    pub fn bytes_used(&self) -> usize {
        self.bytes
    }

    /// The zxid up to which the log is committed.
    pub fn committed(&self) -> Zxid {
        self.committed
    }

    /// The oldest zxid held, committed or not.
    pub fn min_zxid(&self) -> Option<Zxid> {
        self.entry(0).map(|e| e.zxid)
    }

    /// The newest zxid held, committed or not.
    pub fn max_zxid(&self) -> Option<Zxid> {
        self.entry(self.cur.count.checked_sub(1)?).map(|e| e.zxid)
    }

    /// The highest zxid logged or committed: every new entry must be above it (a learner's
    /// `lastLoggedZxid`).
    pub fn last_zxid(&self) -> Zxid {
        self.max_zxid().map_or(self.committed, |z| z.max(self.committed))
    }

    /// The committed entries held, as ZooKeeper's `(minCommittedLog, maxCommittedLog)`;
    /// `None` when no committed entry is held.
    pub fn committed_window(&self) -> Option<(Zxid, Zxid)> {
        let min = self.entry(0)?.zxid;
        let last = self.upper_bound(self.committed).checked_sub(1)?;
        Some((min, self.entry(last)?.zxid))
    }

    /// Whether an entry with this zxid is held.
    pub fn contains(&self, zxid: Zxid) -> bool {
        self.find(zxid).is_some()
    }

    /// The record logged under `zxid`, if held.
    pub fn get(&self, zxid: Zxid) -> Option<&[u8]> {
        let e = self.entry(self.find(zxid)?)?;
        Some(self.bytes_of(e))
    }

    /// Entries with a zxid above `zxid`, oldest first (the txns a DIFF sends). `zxid` need
    /// not be held.
    pub fn range_after(&self, zxid: Zxid) -> Entries<'_> {
        self.entries_from(self.upper_bound(zxid))
    }

    /// Every entry held, oldest first.
    pub fn iter(&self) -> Entries<'_> {
        self.entries_from(0)
    }

    /// Proposals logged but not yet committed, oldest first.
    pub fn uncommitted(&self) -> Entries<'_> {
        self.range_after(self.committed)
    }

    /// Logs `record` under `zxid`, evicting the oldest committed entries if the index or
    /// the ring is full.
    ///
    /// Errors (log unchanged): [`LogError::OutOfOrder`] unless `zxid` is above
    /// [`TxnLog::last_zxid`]; [`LogError::RecordTooLarge`] if the record exceeds the ring;
    /// [`LogError::Full`] if room could only be made by evicting an uncommitted entry.
    pub fn append(&mut self, zxid: Zxid, record: &[u8]) -> Result<(), LogError> {
        if zxid <= self.last_zxid() {
            return Err(LogError::OutOfOrder);
        }
        let len = record.len();
        if len > self.ring_bytes {
            return Err(LogError::RecordTooLarge);
        }
        let slots = self.index.len();
        // Plan the evictions on a copy, so a refusal leaves the log as it was.
        let mut cur = self.cur;
        let mut evicted_bytes = 0usize;
        let (offset, lap_start) = loop {
            if cur.count < slots {
                if let Some(place) = cur.place(self.ring_bytes, len) {
                    break place;
                }
            }
            // Nothing left to evict: only an index without slots gets here.
            if cur.count == 0 {
                return Err(LogError::Full);
            }
            let oldest = self.slot(cur.first).ok_or(LogError::Full)?;
            if oldest.zxid > self.committed {
                return Err(LogError::Full);
            }
            evicted_bytes = evicted_bytes.saturating_add(oldest.len as usize);
            self.pop_front(&mut cur);
        };
        let end = offset.checked_add(len).ok_or(LogError::RecordTooLarge)?;
        let dst = self.records.get_mut(offset..end).ok_or(LogError::RecordTooLarge)?;
        let slot = cur.first.checked_add(cur.count).and_then(|s| s.checked_rem(slots)).ok_or(LogError::Full)?;
        let entry = Entry {
            zxid,
            offset: u32::try_from(offset).map_err(|_| LogError::RecordTooLarge)?,
            len: u32::try_from(len).map_err(|_| LogError::RecordTooLarge)?,
            lap_start,
        };
        let index_slot = self.index.get_mut(slot).ok_or(LogError::Full)?;
        // Nothing can fail from here on.
        dst.copy_from_slice(record);
        *index_slot = entry;
        if cur.count == 0 {
            cur.head = offset;
        }
        cur.count += 1;
        cur.tail = end;
        cur.wrapped |= lap_start;
        self.cur = cur;
        self.bytes = self.bytes.saturating_sub(evicted_bytes).saturating_add(len);
        debug_assert!(self.bytes <= self.ring_bytes);
        Ok(())
    }

    /// Moves the commit point up to `zxid`, which must be held (or equal the commit point,
    /// a no-op).
    ///
    /// Errors (log unchanged): [`LogError::CommitBackwards`] below the commit point;
    /// [`LogError::NotLogged`] for a zxid not held, past the newest entry included.
    pub fn commit_up_to(&mut self, zxid: Zxid) -> Result<(), LogError> {
        if zxid == self.committed {
            return Ok(());
        }
        if zxid < self.committed {
            return Err(LogError::CommitBackwards);
        }
        if !self.contains(zxid) {
            return Err(LogError::NotLogged);
        }
        self.committed = zxid;
        Ok(())
    }

    /// Drops every entry above `zxid` (a learner's TRUNC); all of them must be uncommitted.
    ///
    /// Errors (log unchanged): [`LogError::TruncateBelowCommit`] if `zxid` is below the
    /// commit point.
    pub fn truncate_after(&mut self, zxid: Zxid) -> Result<(), LogError> {
        if zxid < self.committed {
            return Err(LogError::TruncateBelowCommit);
        }
        while let Some(newest) = self.cur.count.checked_sub(1).and_then(|i| self.entry(i)) {
            if newest.zxid <= zxid {
                break;
            }
            self.bytes = self.bytes.saturating_sub(newest.len as usize);
            self.pop_back();
        }
        Ok(())
    }

    /// Drops every entry and sets the commit point to `committed` (a learner that loaded a
    /// SNAP at that zxid; the commit point may move either way).
    pub fn reset(&mut self, committed: Zxid) {
        self.cur = Cursor::EMPTY;
        self.bytes = 0;
        self.committed = committed;
    }

    /// How to sync a learner whose last zxid is `peer_last_zxid`, on a leader whose tree is
    /// at `last_processed` (its `lastProcessedZxid`, which may be `newEpoch << 32`).
    ///
    /// The window is [`TxnLog::committed_window`]; when it is empty both ends are
    /// `last_processed`, as in ZooKeeper. Proposals not yet committed are not part of it:
    /// the caller forwards them after the plan.
    pub fn sync_plan(&self, peer_last_zxid: Zxid, last_processed: Zxid) -> SyncPlan {
        let peer = peer_last_zxid;
        // 13.4: "A peer zxid with counter 0 (`x<<32`, a fresh epoch) is always served by
        // DIFF, never TRUNC": such a learner has no txn under that zxid to truncate to.
        let peer_new_epoch = peer.counter() == 0;
        let (min, max) = self.committed_window().unwrap_or((last_processed, last_processed));
        if peer == last_processed {
            // Row `peerLastZxid == lastProcessedZxid` → empty DIFF.
            SyncPlan::EmptyDiff
        } else if peer > max && !peer_new_epoch {
            // Row `peerLastZxid > maxCommittedLog` and counter ≠ 0 → TRUNC to
            // maxCommittedLog: the learner logged proposals this leader never committed.
            SyncPlan::Trunc { to: max }
        } else if min <= peer && peer <= max {
            // Row `minCommittedLog ≤ peerLastZxid ≤ maxCommittedLog` → walk the log.
            self.walk(peer, peer_new_epoch)
        } else {
            // Row `peerLastZxid < minCommittedLog`: herd reads no older txns from disk, so
            // the txn-log-sync row never applies and this is the "otherwise → SNAP" row.
            // A fresh-epoch peer above the window lands here too, as in ZooKeeper.
            SyncPlan::Snap
        }
    }

    /// The committed-log walk of 13.4 for a peer inside a non-empty committed window.
    fn walk(&self, peer: Zxid, peer_new_epoch: bool) -> SyncPlan {
        let at = self.lower_bound(peer);
        let Some(found) = self.entry(at).filter(|e| e.zxid <= self.committed) else {
            // Unreachable for a peer inside the window; ZooKeeper falls back to SNAP.
            return SyncPlan::Snap;
        };
        if found.zxid == peer || peer_new_epoch {
            // "if the peer's zxid is found → DIFF then each later proposal"; a fresh-epoch
            // peer gets DIFF even when its zxid is not in the log.
            return SyncPlan::Diff { from: peer };
        }
        if found.zxid.epoch() != peer.epoch() {
            // "if the divergence crosses an epoch → SNAP": a TRUNC may not cross an epoch.
            return SyncPlan::Snap;
        }
        // "if the peer has a zxid the leader lacks in the same epoch → TRUNC to the previous
        // leader zxid, then proposals". `at > 0` because the oldest entry is ≤ peer.
        match at.checked_sub(1).and_then(|i| self.entry(i)) {
            Some(prev) => SyncPlan::TruncThenDiff { to: prev.zxid, from: prev.zxid },
            None => SyncPlan::Snap,
        }
    }

    /// The entry at logical position `i` (0 = oldest).
    fn entry(&self, i: usize) -> Option<&Entry> {
        if i >= self.cur.count {
            return None;
        }
        self.slot(self.cur.first.checked_add(i)?)
    }

    /// The index slot `i`, reduced modulo the index length.
    fn slot(&self, i: usize) -> Option<&Entry> {
        self.index.get(i.checked_rem(self.index.len())?)
    }

    /// The bytes of a held entry.
    fn bytes_of(&self, e: &Entry) -> &[u8] {
        record_bytes(self.records, e)
    }

    /// Logical position of `zxid`, if held.
    fn find(&self, zxid: Zxid) -> Option<usize> {
        let at = self.lower_bound(zxid);
        (self.entry(at)?.zxid == zxid).then_some(at)
    }

    /// First logical position whose zxid is `>= zxid` (`len()` if none).
    fn lower_bound(&self, zxid: Zxid) -> usize {
        self.partition(|z| z < zxid)
    }

    /// First logical position whose zxid is `> zxid` (`len()` if none).
    fn upper_bound(&self, zxid: Zxid) -> usize {
        self.partition(|z| z <= zxid)
    }

    /// First logical position where `below` is false; zxids are sorted, so `below` holds on
    /// a prefix.
    fn partition(&self, below: impl Fn(Zxid) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.cur.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some(e) if below(e.zxid) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    fn entries_from(&self, pos: usize) -> Entries<'_> {
        Entries {
            records: self.records,
            index: self.index,
            first: self.cur.first,
            pos: pos.min(self.cur.count),
            end: self.cur.count,
        }
    }

    /// Drops the oldest entry from `cur` (a copy while planning an eviction).
    fn pop_front(&self, cur: &mut Cursor) {
        if cur.count <= 1 {
            *cur = Cursor { first: cur.first, ..Cursor::EMPTY };
            return;
        }
        cur.count -= 1;
        cur.first = cur.first.checked_add(1).and_then(|f| f.checked_rem(self.index.len())).unwrap_or(0);
        if let Some(next) = self.slot(cur.first) {
            cur.head = next.offset as usize;
            if next.lap_start {
                // The rest of the old lap is gone: the oldest record is now at offset 0.
                cur.wrapped = false;
            }
        }
    }

    /// Drops the newest entry.
    fn pop_back(&mut self) {
        let Some(newest) = self.cur.count.checked_sub(1).and_then(|i| self.entry(i)).copied() else {
            return;
        };
        if self.cur.count == 1 {
            self.cur = Cursor { first: self.cur.first, ..Cursor::EMPTY };
            return;
        }
        self.cur.count -= 1;
        if newest.lap_start {
            // The new lap is gone: the newest record is back before the ring's end.
            self.cur.wrapped = false;
        }
        if let Some(prev) = self.entry(self.cur.count - 1) {
            self.cur.tail = (prev.offset as usize).saturating_add(prev.len as usize);
        }
    }
}

fn record_bytes<'a>(records: &'a [u8], e: &Entry) -> &'a [u8] {
    let start = e.offset as usize;
    start.checked_add(e.len as usize).and_then(|end| records.get(start..end)).unwrap_or(&[])
}

/// Entries of a [`TxnLog`] in zxid order: `(zxid, record)`.
#[derive(Clone)]
pub struct Entries<'a> {
    records: &'a [u8],
    index: &'a [Entry],
    first: usize,
    pos: usize,
    end: usize,
}

impl<'a> Entries<'a> {
    fn at(&self, i: usize) -> Option<(Zxid, &'a [u8])> {
        let slot = self.first.checked_add(i)?.checked_rem(self.index.len())?;
        let e = self.index.get(slot)?;
        Some((e.zxid, record_bytes(self.records, e)))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (Zxid, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let item = self.at(self.pos);
        self.pos += 1;
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.saturating_sub(self.pos);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        self.end -= 1;
        self.at(self.end)
    }
}

impl ExactSizeIterator for Entries<'_> {}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    const fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(epoch, counter)
    }

    /// Held entries as owned pairs, oldest first.
    fn contents(log: &TxnLog<'_>) -> Vec<(Zxid, Vec<u8>)> {
        log.iter().map(|(z, r)| (z, r.to_vec())).collect()
    }

    fn zxids(it: Entries<'_>) -> Vec<Zxid> {
        it.map(|(z, _)| z).collect()
    }

    /// A log holding `1:1..=1:n` with one-byte records `[counter]`, committed up to `c`.
    fn filled<'s>(records: &'s mut [u8], index: &'s mut [Entry], n: u32, c: u32) -> TxnLog<'s> {
        let mut log = TxnLog::new(records, index, Zxid::ZERO);
        for i in 1..=n {
            log.append(z(1, i), &[i as u8]).unwrap();
        }
        if c > 0 {
            log.commit_up_to(z(1, c)).unwrap();
        }
        log
    }

    #[test]
    fn new_log_is_empty_at_its_commit_point() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 4]);
        let log = TxnLog::new(&mut r, &mut i, z(3, 9));
        assert!(log.is_empty());
        assert_eq!((log.len(), log.entries_max(), log.ring_bytes(), log.bytes_used()), (0, 4, 16, 0));
        assert_eq!((log.min_zxid(), log.max_zxid()), (None, None));
        assert_eq!(log.committed(), z(3, 9));
        assert_eq!(log.last_zxid(), z(3, 9));
        assert_eq!(log.committed_window(), None);
        assert_eq!(log.iter().count(), 0);
        assert_eq!(log.uncommitted().count(), 0);
        assert_eq!(log.get(z(3, 9)), None);
    }

    #[test]
    fn append_then_read_back() {
        let (mut r, mut i) = ([0u8; 32], [Entry::EMPTY; 4]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        log.append(z(1, 1), b"abc").unwrap();
        log.append(z(1, 2), b"").unwrap();
        log.append(z(2, 1), b"defgh").unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log.bytes_used(), 8);
        assert_eq!(log.get(z(1, 1)), Some(&b"abc"[..]));
        assert_eq!(log.get(z(1, 2)), Some(&b""[..]));
        assert_eq!(log.get(z(2, 1)), Some(&b"defgh"[..]));
        assert_eq!(log.get(z(1, 3)), None);
        assert!(log.contains(z(1, 2)) && !log.contains(z(2, 0)) && !log.contains(z(2, 2)));
        assert_eq!((log.min_zxid(), log.max_zxid()), (Some(z(1, 1)), Some(z(2, 1))));
        assert_eq!(log.last_zxid(), z(2, 1));
        // Records sit back to back from offset 0.
        assert_eq!(&r[..8], b"abcdefgh");
    }

    #[test]
    fn range_after_takes_any_zxid() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 8]);
        let log = filled(&mut r, &mut i, 5, 0);
        assert_eq!(zxids(log.range_after(z(1, 2))), [z(1, 3), z(1, 4), z(1, 5)]);
        assert_eq!(zxids(log.range_after(Zxid::ZERO)).len(), 5);
        assert_eq!(zxids(log.range_after(z(1, 5))), []);
        assert_eq!(zxids(log.range_after(z(9, 0))), []);
        let mut it = log.range_after(z(1, 1));
        assert_eq!(it.len(), 4);
        assert_eq!(it.next_back(), Some((z(1, 5), &[5u8][..])));
        assert_eq!(it.next(), Some((z(1, 2), &[2u8][..])));
        assert_eq!(it.len(), 2);
    }

    #[test]
    fn append_refuses_zxids_not_above_the_last() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 4]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        assert_eq!(log.append(Zxid::ZERO, b"x"), Err(LogError::OutOfOrder));
        log.append(z(1, 2), b"a").unwrap();
        assert_eq!(log.append(z(1, 2), b"b"), Err(LogError::OutOfOrder));
        assert_eq!(log.append(z(1, 1), b"b"), Err(LogError::OutOfOrder));
        assert_eq!(contents(&log), [(z(1, 2), b"a".to_vec())]);
        // On an empty log the commit point is the floor.
        let (mut r2, mut i2) = ([0u8; 16], [Entry::EMPTY; 4]);
        let mut log2 = TxnLog::new(&mut r2, &mut i2, z(4, 7));
        assert_eq!(log2.append(z(4, 7), b"x"), Err(LogError::OutOfOrder));
        assert_eq!(log2.append(z(4, 6), b"x"), Err(LogError::OutOfOrder));
        log2.append(z(4, 8), b"x").unwrap();
    }

    #[test]
    fn append_refuses_records_larger_than_the_ring() {
        let (mut r, mut i) = ([0u8; 4], [Entry::EMPTY; 4]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        assert_eq!(log.append(z(1, 1), b"12345"), Err(LogError::RecordTooLarge));
        log.append(z(1, 1), b"1234").unwrap();
        assert_eq!(log.get(z(1, 1)), Some(&b"1234"[..]));
    }

    #[test]
    fn zero_sized_storage_never_panics() {
        let mut log = TxnLog::new(&mut [], &mut [], Zxid::ZERO);
        assert_eq!(log.append(z(1, 1), b""), Err(LogError::Full));
        assert_eq!(log.append(z(1, 1), b"x"), Err(LogError::RecordTooLarge));
        let mut i = [Entry::EMPTY; 2];
        let mut log = TxnLog::new(&mut [], &mut i, Zxid::ZERO);
        log.append(z(1, 1), b"").unwrap();
        assert_eq!(log.get(z(1, 1)), Some(&b""[..]));
    }

    #[test]
    fn eviction_by_count_drops_the_oldest_committed() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 3]);
        let mut log = filled(&mut r, &mut i, 3, 3);
        log.append(z(1, 4), &[4]).unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 2), z(1, 3), z(1, 4)]);
        assert_eq!(log.bytes_used(), 3);
        assert_eq!(log.get(z(1, 1)), None);
        log.append(z(1, 5), &[5]).unwrap();
        assert_eq!(contents(&log), [(z(1, 3), vec![3]), (z(1, 4), vec![4]), (z(1, 5), vec![5])]);
        assert_eq!(log.min_zxid(), Some(z(1, 3)));
        assert_eq!(log.committed_window(), Some((z(1, 3), z(1, 3))));
    }

    #[test]
    fn eviction_never_drops_an_uncommitted_entry() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 3]);
        let mut log = filled(&mut r, &mut i, 3, 0);
        assert_eq!(log.append(z(1, 4), &[4]), Err(LogError::Full));
        assert_eq!(zxids(log.iter()), [z(1, 1), z(1, 2), z(1, 3)]);
        log.commit_up_to(z(1, 1)).unwrap();
        log.append(z(1, 4), &[4]).unwrap();
        assert_eq!(log.append(z(1, 5), &[5]), Err(LogError::Full));
        assert_eq!(zxids(log.iter()), [z(1, 2), z(1, 3), z(1, 4)]);
    }

    #[test]
    fn refused_append_evicts_nothing() {
        // Ring of 8: a committed 4-byte record and an uncommitted 4-byte one. An 8-byte
        // record would need both gone, so the committed one must stay.
        let (mut r, mut i) = ([0u8; 8], [Entry::EMPTY; 4]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        log.append(z(1, 1), b"aaaa").unwrap();
        log.append(z(1, 2), b"bbbb").unwrap();
        log.commit_up_to(z(1, 1)).unwrap();
        assert_eq!(log.append(z(1, 3), b"cccccccc"), Err(LogError::Full));
        assert_eq!(contents(&log), [(z(1, 1), b"aaaa".to_vec()), (z(1, 2), b"bbbb".to_vec())]);
        assert_eq!(log.bytes_used(), 8);
        assert_eq!(&r, b"aaaabbbb");
    }

    #[test]
    fn eviction_by_bytes_and_wrap_around() {
        let (mut r, mut i) = ([0u8; 10], [Entry::EMPTY; 8]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        log.append(z(1, 1), b"AAAA").unwrap();
        log.append(z(1, 2), b"BBBB").unwrap();
        log.commit_up_to(z(1, 2)).unwrap();
        // 2 bytes left at the end: C goes to offset 0, evicting A only.
        log.append(z(1, 3), b"CCCC").unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 2), z(1, 3)]);
        assert_eq!(log.bytes_used(), 8);
        log.commit_up_to(z(1, 3)).unwrap();
        // Wrapped with no free byte: D evicts B, and then sits after C.
        log.append(z(1, 4), b"DDDD").unwrap();
        assert_eq!(contents(&log), [(z(1, 3), b"CCCC".to_vec()), (z(1, 4), b"DDDD".to_vec())]);
        // A 2-byte record fits in the unused end without evicting.
        log.append(z(1, 5), b"EE").unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 3), z(1, 4), z(1, 5)]);
        log.commit_up_to(z(1, 5)).unwrap();
        // F needs offset 0, so C goes; G then needs D's bytes as well (D's last byte stays).
        log.append(z(1, 6), b"FFF").unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 4), z(1, 5), z(1, 6)]);
        log.append(z(1, 7), b"GGGG").unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 5), z(1, 6), z(1, 7)]);
        assert_eq!(log.get(z(1, 5)), Some(&b"EE"[..]));
        assert_eq!(log.get(z(1, 6)), Some(&b"FFF"[..]));
        assert_eq!(log.get(z(1, 7)), Some(&b"GGGG"[..]));
        assert_eq!(log.bytes_used(), 9);
        assert_eq!(&r, b"FFFGGGGDEE");
    }

    #[test]
    fn commit_is_monotone_and_needs_a_logged_zxid() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 8]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        log.append(z(1, 1), b"a").unwrap();
        log.append(z(1, 2), b"b").unwrap();
        log.append(z(1, 4), b"d").unwrap();
        assert_eq!(zxids(log.uncommitted()), [z(1, 1), z(1, 2), z(1, 4)]);
        log.commit_up_to(z(1, 2)).unwrap();
        assert_eq!(log.committed(), z(1, 2));
        assert_eq!(zxids(log.uncommitted()), [z(1, 4)]);
        assert_eq!(log.committed_window(), Some((z(1, 1), z(1, 2))));
        log.commit_up_to(z(1, 2)).unwrap();
        assert_eq!(log.commit_up_to(z(1, 1)), Err(LogError::CommitBackwards));
        assert_eq!(log.commit_up_to(z(1, 3)), Err(LogError::NotLogged));
        assert_eq!(log.commit_up_to(z(1, 5)), Err(LogError::NotLogged));
        assert_eq!(log.committed(), z(1, 2));
        log.commit_up_to(z(1, 4)).unwrap();
        assert_eq!(log.uncommitted().count(), 0);
    }

    #[test]
    fn truncate_drops_only_uncommitted_entries() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 8]);
        let mut log = filled(&mut r, &mut i, 5, 2);
        assert_eq!(log.truncate_after(z(1, 1)), Err(LogError::TruncateBelowCommit));
        assert_eq!(log.len(), 5);
        log.truncate_after(z(1, 9)).unwrap();
        assert_eq!(log.len(), 5);
        log.truncate_after(z(1, 3)).unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 1), z(1, 2), z(1, 3)]);
        assert_eq!(log.bytes_used(), 3);
        log.truncate_after(z(1, 2)).unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 1), z(1, 2)]);
        assert_eq!(log.last_zxid(), z(1, 2));
        // The truncated zxids may be logged again, with other records.
        log.append(z(1, 3), b"new").unwrap();
        assert_eq!(log.get(z(1, 3)), Some(&b"new"[..]));
    }

    #[test]
    fn truncating_a_new_lap_restores_the_ring() {
        let (mut r, mut i) = ([0u8; 10], [Entry::EMPTY; 8]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        log.append(z(1, 1), b"AAAA").unwrap();
        log.append(z(1, 2), b"BBBB").unwrap();
        log.commit_up_to(z(1, 1)).unwrap();
        log.append(z(1, 3), b"CCCC").unwrap(); // evicts A, wraps to 0
        log.truncate_after(z(1, 2)).unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 2)]);
        // Unwrapped again: 2 bytes at the end, then offset 0 is free.
        log.append(z(1, 3), b"cc").unwrap();
        log.append(z(1, 4), b"dddd").unwrap();
        assert_eq!(
            contents(&log),
            [(z(1, 2), b"BBBB".to_vec()), (z(1, 3), b"cc".to_vec()), (z(1, 4), b"dddd".to_vec())]
        );
        assert_eq!(&r, b"ddddBBBBcc");
    }

    #[test]
    fn truncate_everything_then_append_from_offset_zero() {
        let (mut r, mut i) = ([0u8; 6], [Entry::EMPTY; 2]);
        let mut log = TxnLog::new(&mut r, &mut i, z(1, 0));
        log.append(z(1, 1), b"abc").unwrap();
        log.truncate_after(z(1, 0)).unwrap();
        assert!(log.is_empty());
        assert_eq!(log.bytes_used(), 0);
        log.append(z(2, 1), b"xyzxyz").unwrap();
        assert_eq!(&r, b"xyzxyz");
    }

    #[test]
    fn reset_drops_everything_and_moves_the_commit_point() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 8]);
        let mut log = filled(&mut r, &mut i, 4, 4);
        log.reset(z(1, 2));
        assert!(log.is_empty());
        assert_eq!((log.committed(), log.last_zxid(), log.bytes_used()), (z(1, 2), z(1, 2), 0));
        log.append(z(1, 3), b"x").unwrap();
        assert_eq!(zxids(log.iter()), [z(1, 3)]);
    }

    #[test]
    fn committed_window_skips_uncommitted_and_evicted() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 2]);
        let mut log = filled(&mut r, &mut i, 2, 1);
        assert_eq!(log.committed_window(), Some((z(1, 1), z(1, 1))));
        assert_eq!(log.append(z(1, 3), &[3]), Ok(()));
        // 1:1 was evicted: the only committed zxid is below the log.
        assert_eq!(log.committed_window(), None);
        assert_eq!(log.committed(), z(1, 1));
    }

    #[test]
    fn display_names() {
        use std::string::ToString;
        assert_eq!(SyncPlan::Trunc { to: z(1, 2) }.to_string(), "TRUNC to 0x100000002");
        assert_eq!(SyncPlan::Diff { from: z(1, 0) }.to_string(), "DIFF after 0x100000000");
        assert_eq!(SyncPlan::Snap.to_string(), "SNAP");
        assert_eq!(LogError::Full.to_string(), "txn log full of uncommitted proposals");
    }

    // ---- sync_plan: one test per row of 13.4 -------------------------------------------

    /// A leader log holding 1:1..1:5 and 3:1..3:3, all committed, window 1:3..3:3 after
    /// two evictions (7 slots).
    fn leader<'s>(records: &'s mut [u8], index: &'s mut [Entry]) -> TxnLog<'s> {
        let mut log = TxnLog::new(records, index, Zxid::ZERO);
        for zx in [z(1, 1), z(1, 2), z(1, 3), z(1, 4), z(1, 5), z(3, 1), z(3, 2), z(3, 3)] {
            log.append(zx, b"t").unwrap();
            log.commit_up_to(zx).unwrap();
        }
        log.append(z(3, 4), b"t").unwrap(); // uncommitted, evicting 1:2
        log
    }

    #[test]
    fn sync_peer_at_last_processed_gets_empty_diff() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 7]);
        let log = leader(&mut r, &mut i);
        assert_eq!(log.committed_window(), Some((z(1, 3), z(3, 3))));
        assert_eq!(log.sync_plan(z(3, 3), z(3, 3)), SyncPlan::EmptyDiff);
        assert_eq!(log.sync_plan(z(4, 0), z(4, 0)), SyncPlan::EmptyDiff);
    }

    #[test]
    fn sync_peer_ahead_of_window_gets_trunc_to_max() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 7]);
        let log = leader(&mut r, &mut i);
        // 3:4 is only proposed here: not in the committed window.
        assert_eq!(log.sync_plan(z(3, 4), z(4, 0)), SyncPlan::Trunc { to: z(3, 3) });
        assert_eq!(log.sync_plan(z(3, 9), z(4, 0)), SyncPlan::Trunc { to: z(3, 3) });
        assert_eq!(log.sync_plan(z(5, 1), z(4, 0)), SyncPlan::Trunc { to: z(3, 3) });
    }

    #[test]
    fn sync_fresh_epoch_peer_is_never_truncated() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 7]);
        let log = leader(&mut r, &mut i);
        // Above the window: not TRUNC; no other row holds, so SNAP (as ZooKeeper).
        assert_eq!(log.sync_plan(z(4, 0), z(5, 0)), SyncPlan::Snap);
        // Inside the window but not logged: DIFF after it.
        assert_eq!(log.sync_plan(z(2, 0), z(4, 0)), SyncPlan::Diff { from: z(2, 0) });
        assert_eq!(zxids(log.range_after(z(2, 0))), [z(3, 1), z(3, 2), z(3, 3), z(3, 4)]);
        assert_eq!(log.sync_plan(z(3, 0), z(4, 0)), SyncPlan::Diff { from: z(3, 0) });
    }

    #[test]
    fn sync_peer_found_in_window_gets_diff() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 7]);
        let log = leader(&mut r, &mut i);
        assert_eq!(log.sync_plan(z(1, 3), z(4, 0)), SyncPlan::Diff { from: z(1, 3) });
        assert_eq!(log.sync_plan(z(1, 5), z(4, 0)), SyncPlan::Diff { from: z(1, 5) });
        assert_eq!(log.sync_plan(z(3, 3), z(4, 0)), SyncPlan::Diff { from: z(3, 3) });
    }

    #[test]
    fn sync_same_epoch_divergence_gets_trunc_then_diff() {
        // Leader has 1:1, 1:2, 2:1, 2:4 (a gap the peer filled with 2:2..2:3).
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 8]);
        let mut log = TxnLog::new(&mut r, &mut i, Zxid::ZERO);
        for zx in [z(1, 1), z(1, 2), z(2, 1), z(2, 4)] {
            log.append(zx, b"t").unwrap();
        }
        log.commit_up_to(z(2, 4)).unwrap();
        let plan = log.sync_plan(z(2, 3), z(3, 0));
        assert_eq!(plan, SyncPlan::TruncThenDiff { to: z(2, 1), from: z(2, 1) });
        assert_eq!(zxids(log.range_after(z(2, 1))), [z(2, 4)]);
    }

    #[test]
    fn sync_cross_epoch_divergence_gets_snap() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 7]);
        let log = leader(&mut r, &mut i);
        // The peer led epoch 2 alone: the next leader zxid (3:1) is of another epoch.
        assert_eq!(log.sync_plan(z(2, 7), z(4, 0)), SyncPlan::Snap);
        // Diverging inside epoch 1: the next leader zxid is 3:1, epoch 3 ≠ 1.
        assert_eq!(log.sync_plan(z(1, 6), z(4, 0)), SyncPlan::Snap);
    }

    #[test]
    fn sync_peer_below_window_gets_snap() {
        let (mut r, mut i) = ([0u8; 64], [Entry::EMPTY; 7]);
        let log = leader(&mut r, &mut i);
        assert_eq!(log.sync_plan(z(1, 2), z(4, 0)), SyncPlan::Snap);
        assert_eq!(log.sync_plan(z(1, 0), z(4, 0)), SyncPlan::Snap);
        assert_eq!(log.sync_plan(Zxid::ZERO, z(4, 0)), SyncPlan::Snap);
    }

    #[test]
    fn sync_with_empty_window_uses_last_processed() {
        let (mut r, mut i) = ([0u8; 16], [Entry::EMPTY; 4]);
        let mut log = TxnLog::new(&mut r, &mut i, z(2, 5));
        log.append(z(2, 6), b"p").unwrap(); // proposed, not committed
        assert_eq!(log.committed_window(), None);
        assert_eq!(log.sync_plan(z(2, 5), z(2, 5)), SyncPlan::EmptyDiff);
        assert_eq!(log.sync_plan(z(2, 6), z(2, 5)), SyncPlan::Trunc { to: z(2, 5) });
        assert_eq!(log.sync_plan(z(2, 4), z(2, 5)), SyncPlan::Snap);
        assert_eq!(log.sync_plan(z(3, 0), z(2, 5)), SyncPlan::Snap);
    }

    // ---- model test ------------------------------------------------------------------

    /// The log as a deque of (zxid, record, offset), placing each record by searching the
    /// byte intervals directly: after the newest record if those bytes are in the ring and
    /// free, else at 0 if free, else evict the oldest (committed) and retry.
    struct Model {
        entries: VecDeque<(Zxid, Vec<u8>, usize)>,
        committed: Zxid,
        ring: usize,
        slots: usize,
    }

    impl Model {
        fn last(&self) -> Zxid {
            self.entries.back().map_or(self.committed, |e| e.0.max(self.committed))
        }

        fn free(entries: &VecDeque<(Zxid, Vec<u8>, usize)>, ring: usize, at: usize, len: usize) -> bool {
            at + len <= ring
                && entries.iter().all(|(_, r, o)| r.is_empty() || len == 0 || at + len <= *o || o + r.len() <= at)
        }

        fn place(entries: &VecDeque<(Zxid, Vec<u8>, usize)>, ring: usize, len: usize) -> Option<usize> {
            let tail = entries.back().map_or(0, |(_, r, o)| o + r.len());
            [tail, 0].into_iter().find(|&at| Self::free(entries, ring, at, len))
        }

        fn append(&mut self, zxid: Zxid, record: &[u8]) -> Result<(), LogError> {
            if zxid <= self.last() {
                return Err(LogError::OutOfOrder);
            }
            if record.len() > self.ring {
                return Err(LogError::RecordTooLarge);
            }
            let mut kept = self.entries.clone();
            let at = loop {
                if kept.len() < self.slots {
                    if let Some(at) = Self::place(&kept, self.ring, record.len()) {
                        break at;
                    }
                }
                match kept.front() {
                    Some(e) if e.0 <= self.committed => kept.pop_front(),
                    _ => return Err(LogError::Full),
                };
            };
            kept.push_back((zxid, record.to_vec(), at));
            self.entries = kept;
            Ok(())
        }

        fn commit(&mut self, zxid: Zxid) -> Result<(), LogError> {
            if zxid == self.committed {
                Ok(())
            } else if zxid < self.committed {
                Err(LogError::CommitBackwards)
            } else if !self.entries.iter().any(|e| e.0 == zxid) {
                Err(LogError::NotLogged)
            } else {
                self.committed = zxid;
                Ok(())
            }
        }

        fn truncate(&mut self, zxid: Zxid) -> Result<(), LogError> {
            if zxid < self.committed {
                return Err(LogError::TruncateBelowCommit);
            }
            self.entries.retain(|e| e.0 <= zxid);
            Ok(())
        }

        /// 13.4 as ZooKeeper codes it: a linear walk over the committed proposals.
        fn sync_plan(&self, peer: Zxid, last_processed: Zxid) -> SyncPlan {
            let log: Vec<Zxid> = self.entries.iter().map(|e| e.0).filter(|&z| z <= self.committed).collect();
            let (min, max) = match (log.first(), log.last()) {
                (Some(&a), Some(&b)) => (a, b),
                _ => (last_processed, last_processed),
            };
            let new_epoch = peer.counter() == 0;
            if peer == last_processed {
                return SyncPlan::EmptyDiff;
            }
            if peer > max && !new_epoch {
                return SyncPlan::Trunc { to: max };
            }
            if peer < min || peer > max {
                return SyncPlan::Snap;
            }
            let mut prev = None;
            for &zx in &log {
                if zx < peer {
                    prev = Some(zx);
                    continue;
                }
                if zx == peer || new_epoch {
                    return SyncPlan::Diff { from: peer };
                }
                if zx.epoch() != peer.epoch() {
                    return SyncPlan::Snap;
                }
                return match prev {
                    Some(p) => SyncPlan::TruncThenDiff { to: p, from: p },
                    None => SyncPlan::Snap,
                };
            }
            SyncPlan::Snap
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Append after the last zxid: `new_epoch` starts epoch+1 at counter 1, `skip`
        /// leaves a gap; `stale` reuses a zxid at or below the last instead.
        Append { new_epoch: bool, skip: u32, stale: u32, len: usize, fill: u8 },
        /// Commit the held entry picked by `pick`, or a zxid beside them.
        Commit { pick: usize, beside: bool },
        /// Truncate after the held entry picked by `pick`, or after the commit point.
        Truncate { pick: usize, at_commit: bool },
        /// Sync a peer near the entry picked by `pick`.
        Sync { pick: usize, delta: i8, zero_counter: bool, lp_bump: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), 0u32..3, prop_oneof![4 => Just(0u32), 1 => 1u32..4], 1usize..9, any::<u8>())
                .prop_map(|(e, skip, stale, len, fill)| Op::Append { new_epoch: e && fill % 4 == 0, skip, stale, len, fill }),
            2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, b)| Op::Commit { pick, beside: b && pick % 3 == 0 }),
            1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, c)| Op::Truncate { pick, at_commit: c }),
            2 => (any::<usize>(), -2i8..3, any::<bool>(), any::<bool>())
                .prop_map(|(pick, delta, zc, lp)| Op::Sync { pick, delta, zero_counter: zc, lp_bump: lp }),
        ]
    }

    fn check_same(log: &TxnLog<'_>, m: &Model) {
        let want: Vec<(Zxid, Vec<u8>)> = m.entries.iter().map(|(z, r, _)| (*z, r.clone())).collect();
        assert_eq!(contents(log), want);
        assert_eq!(log.committed(), m.committed);
        assert_eq!(log.last_zxid(), m.last());
        assert_eq!(log.bytes_used(), m.entries.iter().map(|e| e.1.len()).sum::<usize>());
        assert_eq!(log.min_zxid(), m.entries.front().map(|e| e.0));
        assert_eq!(log.max_zxid(), m.entries.back().map(|e| e.0));
        let unc: Vec<Zxid> = m.entries.iter().map(|e| e.0).filter(|&z| z > m.committed).collect();
        assert_eq!(zxids(log.uncommitted()), unc);
        for (zx, r, _) in &m.entries {
            assert_eq!(log.get(*zx), Some(&r[..]));
            assert_eq!(log.get(Zxid(zx.0 + (1 << 40))), None);
        }
        let committed: Vec<Zxid> = m.entries.iter().map(|e| e.0).filter(|&z| z <= m.committed).collect();
        assert_eq!(log.committed_window(), committed.first().zip(committed.last()).map(|(a, b)| (*a, *b)));
    }

    proptest! {
        #[test]
        fn log_matches_model(ring in 0usize..40, slots in 0usize..7, ops in prop::collection::vec(op(), 0..80)) {
            let mut records = vec![0u8; ring];
            let mut index = vec![Entry::EMPTY; slots];
            let mut log = TxnLog::new(&mut records, &mut index, Zxid::ZERO);
            let mut m = Model { entries: VecDeque::new(), committed: Zxid::ZERO, ring, slots };
            for op in ops {
                match op {
                    Op::Append { new_epoch, skip, stale, len, fill } => {
                        let last = m.last();
                        let zx = if stale > 0 {
                            Zxid(last.0.saturating_sub(u64::from(stale - 1)))
                        } else if new_epoch || last.counter() >= 1000 {
                            z(last.epoch() + 1, 1 + skip)
                        } else {
                            Zxid(last.0 + 1 + u64::from(skip))
                        };
                        let record = vec![fill; len];
                        prop_assert_eq!(log.append(zx, &record), m.append(zx, &record));
                    }
                    Op::Commit { pick, beside } => {
                        let zx = match m.entries.get(pick % (m.entries.len() + 1)) {
                            Some(e) if beside => Zxid(e.0 .0 + 1),
                            Some(e) => e.0,
                            None => Zxid(m.last().0 + 1),
                        };
                        prop_assert_eq!(log.commit_up_to(zx), m.commit(zx));
                    }
                    Op::Truncate { pick, at_commit } => {
                        let zx = match m.entries.get(pick % (m.entries.len() + 1)) {
                            Some(e) if !at_commit => e.0,
                            _ => m.committed,
                        };
                        prop_assert_eq!(log.truncate_after(zx), m.truncate(zx));
                    }
                    Op::Sync { pick, delta, zero_counter, lp_bump } => {
                        let base = m.entries.get(pick % (m.entries.len() + 1)).map_or(m.committed, |e| e.0);
                        let mut peer = Zxid(base.0.saturating_add_signed(i64::from(delta)));
                        if zero_counter {
                            peer = z(peer.epoch(), 0);
                        }
                        let lp = if lp_bump { z(m.last().epoch() + 1, 0) } else { m.committed };
                        prop_assert_eq!(log.sync_plan(peer, lp), m.sync_plan(peer, lp));
                    }
                }
                check_same(&log, &m);
            }
        }
    }
}
