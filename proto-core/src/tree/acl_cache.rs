//! Distinct ACL lists, stored once and shared by reference count (ZooKeeper's
//! `ReferenceCountedACLCache`).
//!
//! A list is kept as its jute bytes (`vector<ACL>`: int32 count, then per entry int32
//! perms, ustring scheme, ustring id) in the arena. Slots never move, so a node keeps its
//! slot index; a chained hash finds a list by its bytes, with bucket `b`'s chain head kept
//! in slot `b` itself, so the cache needs no storage beyond its slot table.
//!
//! Only the tree takes and drops references (on create, restore, setACL and delete), so a
//! caller can never leak a list or free one still in use.

use super::index::mix64;
use super::node::{link, unlink, Link, NONE};
use super::TreeError;
use crate::arena::{Block, ByteArena};

/// jute bytes of OPEN_ACL_UNSAFE: `[ALL world:anyone]`.
pub const OPEN_ACL_UNSAFE: &[u8] = &[
    0, 0, 0, 1, // one entry
    0, 0, 0, 31, // ALL
    0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', //
    0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e',
];

/// jute bytes of READ_ACL_UNSAFE: `[READ world:anyone]`.
pub const READ_ACL_UNSAFE: &[u8] = &[
    0, 0, 0, 1, // one entry
    0, 0, 0, 1, // READ
    0, 0, 0, 5, b'w', b'o', b'r', b'l', b'd', //
    0, 0, 0, 6, b'a', b'n', b'y', b'o', b'n', b'e',
];

/// A shared ACL list, valid while some node uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AclRef(pub(super) u32);

impl AclRef {
    /// The slot index, e.g. to write each distinct list once in a snapshot.
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// One slot of the ACL table: 24 bytes of plain integers; all-zero is [`AclSlot::EMPTY`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclSlot {
    offset: u32,
    len: u32,
    /// Nodes using this list; 0 = the slot is free.
    refs: u32,
    hash: u32,
    /// Head of hash bucket `b` (this slot's index), as a link. Independent of the slot's
    /// own contents.
    bucket: Link,
    /// Next list in the same bucket; in a free slot, the next free slot.
    next: Link,
}

impl AclSlot {
    /// An empty slot: all-zero bytes.
    pub const EMPTY: AclSlot = AclSlot { offset: 0, len: 0, refs: 0, hash: 0, bucket: NONE, next: NONE };

    fn block(&self) -> Block {
        Block { offset: self.offset, len: self.len }
    }
}

/// The cache over its slot table.
pub(super) struct AclCache<'s> {
    slots: &'s mut [AclSlot],
    /// Usable slots (and hash buckets).
    capacity: u32,
    /// Slots ever handed out; those past it are untouched.
    used: u32,
    /// First free slot below `used`, as a link.
    free: Link,
    /// Lists currently held.
    lists: u32,
}

fn acl_hash(bytes: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h) as u32
}

impl<'s> AclCache<'s> {
    /// Takes a zeroed slot table.
    pub(super) fn new(slots: &'s mut [AclSlot]) -> AclCache<'s> {
        let capacity = u32::try_from(slots.len()).unwrap_or(u32::MAX).min(u32::MAX - 1);
        debug_assert!(slots.iter().all(|s| *s == AclSlot::EMPTY), "ACL table must start zeroed");
        AclCache { slots, capacity, used: 0, free: NONE, lists: 0 }
    }

    /// Distinct lists held.
    pub(super) fn lists(&self) -> u32 {
        self.lists
    }

    /// Most distinct lists.
    /// Slots a new list could still take.
    pub(super) fn free_slots(&self) -> u32 {
        self.capacity.saturating_sub(self.lists)
    }

    pub(super) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The list with these bytes, if held.
    pub(super) fn find(&self, arena: &ByteArena, bytes: &[u8]) -> Option<AclRef> {
        self.find_hashed(arena, bytes, acl_hash(bytes))
    }

    fn find_hashed(&self, arena: &ByteArena, bytes: &[u8], hash: u32) -> Option<AclRef> {
        let bucket = self.bucket_of(hash)?;
        let mut at = self.slots.get(bucket as usize)?.bucket;
        for _ in 0..self.used {
            let index = unlink(at)?;
            let slot = self.slots.get(index as usize)?;
            if slot.hash == hash && slot.len as usize == bytes.len() && arena.get(slot.block()) == bytes {
                return Some(AclRef(index));
            }
            at = slot.next;
        }
        None
    }

    /// Takes one reference to the list with these bytes, storing it if new. On error nothing
    /// changed.
    pub(super) fn acquire(&mut self, arena: &mut ByteArena, bytes: &[u8]) -> Result<AclRef, TreeError> {
        let hash = acl_hash(bytes);
        if let Some(acl) = self.find_hashed(arena, bytes, hash) {
            if let Some(slot) = self.slots.get_mut(acl.0 as usize) {
                slot.refs += 1;
            }
            return Ok(acl);
        }
        let index = match unlink(self.free) {
            Some(index) => index,
            None if self.used < self.capacity => self.used,
            None => return Err(TreeError::AclsFull),
        };
        let len = u32::try_from(bytes.len()).map_err(|_| TreeError::TooLarge)?;
        if ByteArena::block_bytes(len).is_none() {
            return Err(TreeError::TooLarge);
        }
        let block = arena.alloc(len).map_err(|_| TreeError::BytesFull)?;
        arena.get_mut(block).copy_from_slice(bytes);
        let Some(bucket) = self.bucket_of(hash) else {
            arena.free(block);
            return Err(TreeError::AclsFull);
        };
        let head = self.slots.get(bucket as usize).map_or(NONE, |s| s.bucket);
        // Commit: from here nothing fails.
        if index == self.used {
            self.used += 1;
        } else {
            self.free = self.slots.get(index as usize).map_or(NONE, |s| s.next);
        }
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.offset = block.offset;
            slot.len = block.len;
            slot.refs = 1;
            slot.hash = hash;
            slot.next = head;
        }
        if let Some(slot) = self.slots.get_mut(bucket as usize) {
            slot.bucket = link(index);
        }
        self.lists += 1;
        Ok(AclRef(index))
    }

    /// Drops one reference; the last one frees the list. A release right after the
    /// acquire that stored the list gives the arena back exactly as it was.
    pub(super) fn release(&mut self, arena: &mut ByteArena, acl: AclRef) {
        let Some(slot) = self.slots.get_mut(acl.0 as usize) else { return };
        debug_assert!(slot.refs > 0, "releasing an unreferenced ACL list");
        if slot.refs == 0 {
            return;
        }
        slot.refs -= 1;
        if slot.refs > 0 {
            return;
        }
        let (hash, block, next) = (slot.hash, slot.block(), slot.next);
        // Unlink from the bucket chain.
        if let Some(bucket) = self.bucket_of(hash) {
            let mut prev: Option<u32> = None;
            let mut at = self.slots.get(bucket as usize).map_or(NONE, |s| s.bucket);
            for _ in 0..self.used {
                let Some(index) = unlink(at) else { break };
                if index == acl.0 {
                    match prev {
                        None => self.set_bucket(bucket, next),
                        Some(p) => self.set_next(p, next),
                    }
                    break;
                }
                prev = Some(index);
                at = self.slots.get(index as usize).map_or(NONE, |s| s.next);
            }
        }
        arena.free(block);
        let free = self.free;
        if let Some(slot) = self.slots.get_mut(acl.0 as usize) {
            // The bucket head this slot carries belongs to the table, not to the list.
            *slot = AclSlot { bucket: slot.bucket, next: free, ..AclSlot::EMPTY };
        }
        self.free = link(acl.0);
        self.lists -= 1;
    }

    /// The list's jute bytes (empty for a free slot).
    pub(super) fn bytes<'a>(&self, arena: &'a ByteArena, acl: AclRef) -> &'a [u8] {
        match self.slots.get(acl.0 as usize) {
            Some(slot) if slot.refs > 0 => arena.get(slot.block()),
            _ => &[],
        }
    }

    /// Nodes using the list (0 for a free slot).
    pub(super) fn refs(&self, acl: AclRef) -> u32 {
        self.slots.get(acl.0 as usize).map_or(0, |s| s.refs)
    }

    /// Every held list, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = AclRef> + '_ {
        self.slots
            .iter()
            .take(self.used as usize)
            .enumerate()
            .filter(|(_, s)| s.refs > 0)
            .map(|(i, _)| AclRef(i as u32))
    }

    fn bucket_of(&self, hash: u32) -> Option<u32> {
        hash.checked_rem(self.capacity)
    }

    fn set_bucket(&mut self, bucket: u32, head: Link) {
        if let Some(slot) = self.slots.get_mut(bucket as usize) {
            slot.bucket = head;
        }
    }

    fn set_next(&mut self, index: u32, next: Link) {
        if let Some(slot) = self.slots.get_mut(index as usize) {
            slot.next = next;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn well_known_lists_are_valid_jute() {
        assert_eq!(OPEN_ACL_UNSAFE.len(), 27);
        assert_eq!(&OPEN_ACL_UNSAFE[4..8], &31i32.to_be_bytes());
        assert_eq!(&READ_ACL_UNSAFE[4..8], &1i32.to_be_bytes());
        assert_eq!(&OPEN_ACL_UNSAFE[8..], &READ_ACL_UNSAFE[8..]);
    }

    #[test]
    fn identical_lists_share_a_slot_until_the_last_release() {
        let mut mem = vec![0u8; 1024];
        let mut arena = ByteArena::new(&mut mem);
        let mut slots = [AclSlot::EMPTY; 4];
        let mut cache = AclCache::new(&mut slots);
        let a = cache.acquire(&mut arena, OPEN_ACL_UNSAFE).unwrap();
        let b = cache.acquire(&mut arena, OPEN_ACL_UNSAFE).unwrap();
        let r = cache.acquire(&mut arena, READ_ACL_UNSAFE).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, r);
        assert_eq!(cache.lists(), 2);
        assert_eq!(cache.refs(a), 2);
        assert_eq!(cache.bytes(&arena, r), READ_ACL_UNSAFE);
        cache.release(&mut arena, a);
        assert_eq!(cache.bytes(&arena, a), OPEN_ACL_UNSAFE);
        cache.release(&mut arena, a);
        assert_eq!(cache.refs(a), 0);
        assert_eq!(cache.bytes(&arena, a), b"");
        assert_eq!(cache.find(&arena, OPEN_ACL_UNSAFE), None);
        assert_eq!(cache.find(&arena, READ_ACL_UNSAFE), Some(r));
        assert_eq!(cache.lists(), 1);
        // The freed slot is reused.
        let c = cache.acquire(&mut arena, b"\0\0\0\0").unwrap();
        assert_eq!(c, a);
        assert_eq!(cache.iter().count(), 2);
    }

    #[test]
    fn a_full_table_changes_nothing() {
        let mut mem = vec![0u8; 1024];
        let mut arena = ByteArena::new(&mut mem);
        let mut slots = [AclSlot::EMPTY; 1];
        let mut cache = AclCache::new(&mut slots);
        let a = cache.acquire(&mut arena, OPEN_ACL_UNSAFE).unwrap();
        let before = arena.stats();
        assert_eq!(cache.acquire(&mut arena, READ_ACL_UNSAFE), Err(TreeError::AclsFull));
        assert_eq!(arena.stats(), before);
        assert_eq!(cache.acquire(&mut arena, OPEN_ACL_UNSAFE), Ok(a));
    }

    #[test]
    fn chains_survive_removal_in_any_order() {
        let mut mem = vec![0u8; 4096];
        let mut arena = ByteArena::new(&mut mem);
        // Eight lists in eight buckets: some share a chain.
        let mut slots = [AclSlot::EMPTY; 8];
        let mut cache = AclCache::new(&mut slots);
        let lists: [[u8; 4]; 8] = core::array::from_fn(|i| [0, 0, 0, i as u8]);
        let refs: std::vec::Vec<AclRef> = lists.iter().map(|l| cache.acquire(&mut arena, l).unwrap()).collect();
        for i in [3usize, 0, 7, 5] {
            cache.release(&mut arena, refs[i]);
        }
        for (i, l) in lists.iter().enumerate() {
            let expect = if [3, 0, 7, 5].contains(&i) { None } else { Some(refs[i]) };
            assert_eq!(cache.find(&arena, l), expect, "list {i}");
        }
    }
}
