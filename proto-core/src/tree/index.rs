//! Children lookup: an open-addressing hash index over caller storage, keyed by
//! (parent slot, child name) and holding the child's slot.
//!
//! Linear probing with backward-shift deletion, so there are no tombstones and a zeroed
//! table is an empty index. Keys are not stored: each entry is a node link, and the node
//! holds its parent, its name (in the arena) and the key's hash.

use super::node::{link, unlink, Link, Node, NONE};
use crate::arena::ByteArena;

/// Most slots an index uses: hashes are 32 bits, and 2^31 slots already serve more znodes
/// than a `u32` slot index could name at the load factor below.
const INDEX_SLOTS_MAX: usize = 1 << 31;

/// Entries per slot, at most, as numerator/denominator: linear probing stays short
/// below 3/4 full.
pub(super) const LOAD_NUM: u64 = 3;
/// See [`LOAD_NUM`].
pub(super) const LOAD_DEN: u64 = 4;

/// Slots an index needs so that `entries` stay under the load factor (a power of two).
pub(super) const fn slots_for(entries: u32) -> usize {
    let min = (entries as u64 * LOAD_DEN).div_ceil(LOAD_NUM);
    let slots = if min < 2 { 2 } else { min.next_power_of_two() };
    slots as usize
}

/// The hash of a child key. FNV-1a over the name, then the parent is mixed in and the
/// bits avalanched, so sibling names and the same name under different parents spread.
pub(super) fn child_hash(parent: Link, name: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= u64::from(parent).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mix64(h) as u32
}

/// MurmurHash3's 64-bit finalizer.
pub(super) const fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The child index: `slots[i]` is a node link, 0 = empty.
pub(super) struct ChildIndex<'s> {
    slots: &'s mut [u32],
    /// Slots in use (a power of two) − 1; the table may be longer than that.
    mask: u32,
    /// Whether any slot is usable at all.
    usable: bool,
}

impl<'s> ChildIndex<'s> {
    /// Uses the largest power-of-two prefix of `slots`, which must be zeroed.
    pub(super) fn new(slots: &'s mut [u32]) -> ChildIndex<'s> {
        let len = slots.len().min(INDEX_SLOTS_MAX);
        let usable = len > 0;
        let pow2 = if usable { 1usize << (usize::BITS - 1 - len.leading_zeros()) } else { 1 };
        debug_assert!(slots.iter().take(pow2).all(|&s| s == NONE), "child index must start zeroed");
        ChildIndex { slots, mask: (pow2 - 1) as u32, usable }
    }

    /// Most entries the index takes while staying under the load factor.
    pub(super) fn capacity(&self) -> u64 {
        if !self.usable {
            return 0;
        }
        (u64::from(self.mask) + 1) * LOAD_NUM / LOAD_DEN
    }

    /// The child of `parent` named `name`, whose key hashes to `hash`.
    pub(super) fn find(&self, nodes: &[Node], arena: &ByteArena, parent: Link, name: &[u8], hash: u32) -> Option<u32> {
        if !self.usable {
            return None;
        }
        let mut i = hash & self.mask;
        // Bounded by the table size: the load factor guarantees an empty slot earlier.
        for _ in 0..=self.mask {
            let entry = *self.slots.get(i as usize)?;
            let index = unlink(entry)?;
            if let Some(node) = nodes.get(index as usize) {
                if node.name_hash == hash && node.parent == parent && name_of(node, arena) == name {
                    return Some(index);
                }
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Loads the home slot of every hash in `hashes`, back to back, so their cache misses
    /// overlap instead of each stalling a later lookup in turn. Returns a value only so the
    /// loads cannot be optimized away; it means nothing.
    pub(super) fn touch(&self, hashes: &[u32]) -> u32 {
        if !self.usable {
            return 0;
        }
        hashes.iter().fold(0, |acc, &hash| acc ^ self.slots.get((hash & self.mask) as usize).copied().unwrap_or(NONE))
    }

    /// Adds `node` (not yet present) under `hash`; the caller keeps entries within capacity.
    pub(super) fn insert(&mut self, node: u32, hash: u32) {
        if !self.usable {
            debug_assert!(false, "insert into an unusable index");
            return;
        }
        let mut i = hash & self.mask;
        for _ in 0..=self.mask {
            match self.slots.get_mut(i as usize) {
                Some(slot) if *slot == NONE => {
                    *slot = link(node);
                    return;
                }
                Some(_) => i = (i + 1) & self.mask,
                None => break,
            }
        }
        debug_assert!(false, "child index over capacity");
    }

    /// Removes `node`, whose slot still holds its `name_hash`, shifting later entries of
    /// its probe run back so no lookup crosses a hole.
    pub(super) fn remove(&mut self, nodes: &[Node], node: u32) {
        if !self.usable {
            return;
        }
        let Some(home) = nodes.get(node as usize).map(|n| n.name_hash & self.mask) else { return };
        let mut hole = home;
        let mut found = false;
        for _ in 0..=self.mask {
            match self.slots.get(hole as usize) {
                Some(&entry) if entry == link(node) => {
                    found = true;
                    break;
                }
                Some(&entry) if entry != NONE => hole = (hole + 1) & self.mask,
                _ => break,
            }
        }
        debug_assert!(found, "removing a node the index does not hold");
        if !found {
            return;
        }
        let mut next = (hole + 1) & self.mask;
        for _ in 0..self.mask {
            let entry = self.slots.get(next as usize).copied().unwrap_or(NONE);
            let Some(index) = unlink(entry) else { break };
            let entry_home = nodes.get(index as usize).map_or(next, |n| n.name_hash & self.mask);
            // The entry may move into the hole only if its home is not cyclically
            // within (hole, next]: otherwise a lookup from its home would never reach it.
            if (next.wrapping_sub(entry_home) & self.mask) >= (next.wrapping_sub(hole) & self.mask) {
                self.set(hole, entry);
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        self.set(hole, NONE);
    }

    fn set(&mut self, i: u32, entry: u32) {
        if let Some(slot) = self.slots.get_mut(i as usize) {
            *slot = entry;
        }
    }
}

/// A node's own name component (the front of its blob).
pub(super) fn name_of<'a>(node: &Node, arena: &'a ByteArena) -> &'a [u8] {
    arena.get(node.blob()).get(..node.name_len as usize).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_keeps_the_load_factor() {
        assert_eq!(slots_for(0), 2);
        assert_eq!(slots_for(3), 4);
        assert_eq!(slots_for(4), 8);
        assert_eq!(slots_for(4_000_000), 8_388_608);
        for n in [1u32, 5, 100, 1000, 65_536] {
            assert!(slots_for(n) as u64 * LOAD_NUM / LOAD_DEN >= u64::from(n));
        }
    }

    #[test]
    fn hash_separates_parents_and_names() {
        assert_ne!(child_hash(1, b"a"), child_hash(2, b"a"));
        assert_ne!(child_hash(1, b"a"), child_hash(1, b"b"));
        assert_eq!(child_hash(7, b"zookeeper"), child_hash(7, b"zookeeper"));
    }

    #[test]
    fn backward_shift_keeps_colliding_entries_reachable() {
        // Four nodes all hashing to home slot 2 of an 8-slot table, plus one at home 3.
        let mut nodes = [Node::EMPTY; 5];
        for (i, n) in nodes.iter_mut().enumerate() {
            n.name_hash = if i == 4 { 3 } else { 2 + 8 * i as u32 };
            n.parent = 1;
            n.flags = super::super::node::FLAG_LIVE;
        }
        let mut slots = [0u32; 8];
        {
            let mut index = ChildIndex::new(&mut slots);
            for (i, n) in nodes.iter().enumerate() {
                index.insert(i as u32, n.name_hash);
            }
            index.remove(&nodes, 0);
            index.remove(&nodes, 2);
            // Every remaining entry is found by probing from its home.
            let mut mem = [0u8; 0];
            let arena = ByteArena::new(&mut mem);
            for i in [1u32, 3, 4] {
                let h = nodes[i as usize].name_hash;
                assert_eq!(index.find(&nodes, &arena, 1, b"", h), Some(i), "node {i}");
            }
            assert_eq!(index.find(&nodes, &arena, 1, b"", nodes[0].name_hash), None);
        }
        assert_eq!(slots.iter().filter(|&&s| s != 0).count(), 3);
    }
}
