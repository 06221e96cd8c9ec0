//! A small size-class allocator over caller-provided bytes, for variable-sized blobs:
//! znode names and data, ACL lists, watch paths.
//!
//! Every request is rounded up to a size class (four classes per power of two, so the
//! rounding waste is at most 25%). A freed block goes onto its class's free list, whose
//! links live inside the freed blocks themselves, so the arena needs no memory besides the
//! slice it is given. Fresh blocks are bumped from the FRONT of the slice: the shell hands in
//! lazily-mapped zeroed memory, and capacity that was never reached costs no RAM.
//!
//! There is no coalescing. When a class's list is empty and the bump region is exhausted, a
//! block from a larger class's list is split, so free bytes are never stranded in big
//! blocks; bytes stranded in small blocks stay visible in [`ArenaStats::bytes_free_listed`].

/// Unit of [`Block::offset`]: every class size is a multiple of it, so a `u32` offset
/// reaches 32 GiB of arena.
pub const GRANULE_BYTES: u32 = 8;

/// The smallest block: room for a free-list link, and small names fit without waste.
pub const BLOCK_BYTES_MIN: u32 = 16;

/// Classes below this size step by one granule (16, 24, … 64 bytes): tiny blobs are the
/// common case (short names, empty data) and coarser steps would waste most of a block.
const SMALL_CLASS_BYTES_MAX: u32 = 64;

/// Number of small classes: 16, 24, 32, 40, 48, 56, 64.
const SMALL_CLASS_COUNT: usize = ((SMALL_CLASS_BYTES_MAX - BLOCK_BYTES_MIN) / GRANULE_BYTES) as usize + 1;

/// Classes per power of two above the small ones: waste is at most a quarter of a block.
const CLASSES_PER_DOUBLING: u32 = 4;

/// Number of size classes: enough that the largest is 2.5 MiB, so a znode holding a full
/// 1 MiB (`jute.maxbuffer`) of data plus its name always fits, with room to spare.
pub const CLASS_COUNT: usize = 68;

/// The largest blob the arena can hold.
pub const BLOCK_BYTES_MAX: u32 = class_bytes(CLASS_COUNT - 1);

const _: () = assert!(BLOCK_BYTES_MAX >= 2 * 1024 * 1024);
const _: () = assert!(BLOCK_BYTES_MIN / GRANULE_BYTES * GRANULE_BYTES == BLOCK_BYTES_MIN && BLOCK_BYTES_MIN >= 4);
const _: () = assert!(class_bytes(SMALL_CLASS_COUNT) > SMALL_CLASS_BYTES_MAX);

/// The size of class `class` in bytes (`class < CLASS_COUNT`).
const fn class_bytes(class: usize) -> u32 {
    if class < SMALL_CLASS_COUNT {
        BLOCK_BYTES_MIN + GRANULE_BYTES * class as u32
    } else {
        let j = (class - SMALL_CLASS_COUNT) as u32;
        let power = 1u32 << (SMALL_CLASS_BYTES_MAX.trailing_zeros() + j / CLASSES_PER_DOUBLING);
        power + (j % CLASSES_PER_DOUBLING + 1) * (power / CLASSES_PER_DOUBLING)
    }
}

/// The smallest class holding `len` bytes, or `None` when `len` exceeds [`BLOCK_BYTES_MAX`].
const fn class_of(len: u32) -> Option<usize> {
    if len <= SMALL_CLASS_BYTES_MAX {
        let len = if len < BLOCK_BYTES_MIN { BLOCK_BYTES_MIN } else { len };
        return Some(((len - BLOCK_BYTES_MIN).div_ceil(GRANULE_BYTES)) as usize);
    }
    if len > BLOCK_BYTES_MAX {
        return None;
    }
    // len - 1 lies in [power, 2·power): its quarter of that doubling picks the class.
    let n = len - 1;
    let exp = 31 - n.leading_zeros();
    let power = 1u32 << exp;
    let step = (n - power) / (power / CLASSES_PER_DOUBLING);
    let doublings = exp - SMALL_CLASS_BYTES_MAX.trailing_zeros();
    Some(SMALL_CLASS_COUNT + (doublings * CLASSES_PER_DOUBLING + step) as usize)
}

/// A blob handed out by [`ByteArena::alloc`]: where it lives and how many bytes were asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// Start of the block, in [`GRANULE_BYTES`] units.
    pub offset: u32,
    /// Bytes requested; the block itself is this rounded up to its class.
    pub len: u32,
}

impl Block {
    /// The zero-length block: it needs no storage and is never freed.
    pub const EMPTY: Block = Block { offset: 0, len: 0 };
}

/// The arena has no block for this request (exhausted, or larger than [`BLOCK_BYTES_MAX`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaFull;

/// Occupancy of a [`ByteArena`], for `mntr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Usable bytes of the slice handed in.
    pub capacity: u64,
    /// Bytes of live blocks as requested.
    pub bytes_requested: u64,
    /// Bytes of live blocks rounded up to their classes (the waste is this minus requested).
    pub bytes_allocated: u64,
    /// Bytes sitting on free lists, reusable only by requests of a fitting class.
    pub bytes_free_listed: u64,
}

/// What an arena could still hand out, consumed by simulated allocations.
///
/// Conservative: it uses exact-class free blocks and the bump region, never splits larger
/// free blocks and never counts blocks that later frees would return, so "fits" here
/// guarantees the real allocations succeed.
#[derive(Clone, Debug)]
pub struct ArenaBudget {
    top: u32,
    capacity: u32,
    free_counts: [u32; CLASS_COUNT],
}

impl ArenaBudget {
    /// Gives back a block of `len` bytes that a simulated free would return.
    pub fn give(&mut self, len: u32) {
        if let Some(n) = class_of(len).and_then(|class| self.free_counts.get_mut(class)) {
            *n = n.saturating_add(1);
        }
    }

    /// Takes a block of `len` bytes from the budget; false when it would not fit.
    pub fn take(&mut self, len: u32) -> bool {
        if len == 0 {
            return true;
        }
        let Some(class) = class_of(len) else { return false };
        if let Some(n) = self.free_counts.get_mut(class).filter(|n| **n > 0) {
            *n -= 1;
            return true;
        }
        match self.top.checked_add(class_bytes(class) / GRANULE_BYTES) {
            Some(end) if end <= self.capacity => {
                self.top = end;
                true
            }
            _ => false,
        }
    }
}

/// A size-class allocator over a caller-provided byte slice.
pub struct ByteArena<'s> {
    bytes: &'s mut [u8],
    /// Usable length in granules (the slice may be longer than a `u32` offset reaches).
    capacity: u32,
    /// Granules handed out by bumping; everything past it was never touched.
    top: u32,
    /// Per class: first free block's granule offset + 1, 0 when the list is empty.
    free_heads: [u32; CLASS_COUNT],
    /// Per class: blocks on its free list (for [`ArenaBudget`]).
    free_counts: [u32; CLASS_COUNT],
    bytes_requested: u64,
    bytes_allocated: u64,
    bytes_free_listed: u64,
}

impl<'s> ByteArena<'s> {
    /// Takes the whole slice; its contents need not be zeroed.
    pub fn new(bytes: &'s mut [u8]) -> ByteArena<'s> {
        let granules = bytes.len() / GRANULE_BYTES as usize;
        let capacity = u32::try_from(granules).unwrap_or(u32::MAX);
        ByteArena {
            bytes,
            capacity,
            top: 0,
            free_heads: [0; CLASS_COUNT],
            free_counts: [0; CLASS_COUNT],
            bytes_requested: 0,
            bytes_allocated: 0,
            bytes_free_listed: 0,
        }
    }

    /// The bytes a block of `len` occupies once rounded to its class, or `None` when no
    /// class is large enough.
    pub const fn block_bytes(len: u32) -> Option<u32> {
        if len == 0 {
            return Some(0);
        }
        match class_of(len) {
            Some(class) => Some(class_bytes(class)),
            None => None,
        }
    }

    /// Hands out a block of `len` bytes with unspecified contents.
    pub fn alloc(&mut self, len: u32) -> Result<Block, ArenaFull> {
        if len == 0 {
            return Ok(Block::EMPTY);
        }
        let class = class_of(len).ok_or(ArenaFull)?;
        let size = class_bytes(class);
        let offset = match self.pop(class) {
            Some(offset) => offset,
            None => match self.bump(size / GRANULE_BYTES) {
                Some(offset) => offset,
                None => self.split_larger(class).ok_or(ArenaFull)?,
            },
        };
        self.bytes_requested += u64::from(len);
        self.bytes_allocated += u64::from(size);
        Ok(Block { offset, len })
    }

    /// Returns a block to the arena. Freeing the most recent bumped block gives its bytes
    /// back to the bump region, so an alloc undone by a free leaves the arena as it was.
    pub fn free(&mut self, block: Block) {
        if block.len == 0 {
            return;
        }
        let Some(class) = class_of(block.len) else {
            debug_assert!(false, "freeing a block no class could hold");
            return;
        };
        let granules = class_bytes(class) / GRANULE_BYTES;
        let end = block.offset.checked_add(granules);
        let Some(end) = end.filter(|&end| end <= self.top) else {
            debug_assert!(false, "freeing a block the arena did not hand out");
            return;
        };
        self.bytes_requested = self.bytes_requested.saturating_sub(u64::from(block.len));
        self.bytes_allocated = self.bytes_allocated.saturating_sub(u64::from(class_bytes(class)));
        if end == self.top {
            self.top = block.offset;
        } else {
            self.push(class, block.offset);
        }
    }

    /// Changes a block's length, keeping its first `min(old, new)` bytes. Stays in place
    /// when the class does not change; on failure the old block is untouched.
    pub fn resize(&mut self, block: Block, len: u32) -> Result<Block, ArenaFull> {
        if block.len != 0 && len != 0 && class_of(block.len) == class_of(len) {
            self.bytes_requested = self.bytes_requested.saturating_sub(u64::from(block.len)) + u64::from(len);
            return Ok(Block { offset: block.offset, len });
        }
        let new = self.alloc(len)?;
        let keep = block.len.min(len) as usize;
        if keep > 0 {
            let from = Self::start(block);
            let to = Self::start(new);
            let fits = from.checked_add(keep).is_some_and(|end| end <= self.bytes.len())
                && to.checked_add(keep).is_some_and(|end| end <= self.bytes.len());
            debug_assert!(fits, "resizing a block the arena did not hand out");
            if fits {
                self.bytes.copy_within(from..from + keep, to);
            }
        }
        self.free(block);
        Ok(new)
    }

    /// The block's bytes, exactly `block.len` of them (empty for a block out of range).
    pub fn get(&self, block: Block) -> &[u8] {
        let start = Self::start(block);
        let end = start.saturating_add(block.len as usize);
        self.bytes.get(start..end).unwrap_or(&[])
    }

    /// The block's bytes for writing (empty for a block out of range).
    pub fn get_mut(&mut self, block: Block) -> &mut [u8] {
        let start = Self::start(block);
        let end = start.saturating_add(block.len as usize);
        self.bytes.get_mut(start..end).unwrap_or(&mut [])
    }

    /// Occupancy figures.
    pub fn stats(&self) -> ArenaStats {
        ArenaStats {
            capacity: u64::from(self.capacity) * u64::from(GRANULE_BYTES),
            bytes_requested: self.bytes_requested,
            bytes_allocated: self.bytes_allocated,
            bytes_free_listed: self.bytes_free_listed,
        }
    }

    /// A budget for checking, before changing anything, that a series of allocations will
    /// all succeed (a multi must apply whole or not at all).
    pub fn budget(&self) -> ArenaBudget {
        ArenaBudget { top: self.top, capacity: self.capacity, free_counts: self.free_counts }
    }

    /// Bytes ever bumped: the prefix of the slice the arena has touched.
    pub fn bytes_touched(&self) -> u64 {
        u64::from(self.top) * u64::from(GRANULE_BYTES)
    }

    fn start(block: Block) -> usize {
        block.offset as usize * GRANULE_BYTES as usize
    }

    fn bump(&mut self, granules: u32) -> Option<u32> {
        let end = self.top.checked_add(granules).filter(|&end| end <= self.capacity)?;
        let offset = self.top;
        self.top = end;
        Some(offset)
    }

    fn pop(&mut self, class: usize) -> Option<u32> {
        let head = *self.free_heads.get(class)?;
        let offset = head.checked_sub(1)?;
        let next = self.read_link(offset);
        *self.free_heads.get_mut(class)? = next;
        if let Some(n) = self.free_counts.get_mut(class) {
            *n = n.saturating_sub(1);
        }
        self.bytes_free_listed -= u64::from(class_bytes(class));
        Some(offset)
    }

    fn push(&mut self, class: usize, offset: u32) {
        let Some(head) = self.free_heads.get(class).copied() else { return };
        self.write_link(offset, head);
        if let Some(slot) = self.free_heads.get_mut(class) {
            *slot = offset + 1;
        }
        if let Some(n) = self.free_counts.get_mut(class) {
            *n += 1;
        }
        self.bytes_free_listed += u64::from(class_bytes(class));
    }

    /// Takes a block from the smallest larger class with a free block, keeps its front for
    /// `class` and puts the rest back on smaller lists.
    fn split_larger(&mut self, class: usize) -> Option<u32> {
        let want = class_bytes(class);
        // A tail of one granule could go on no list, so such a pair is skipped.
        let donor = (class + 1..CLASS_COUNT)
            .find(|&c| self.free_heads.get(c).is_some_and(|&h| h != 0) && class_bytes(c) - want != GRANULE_BYTES)?;
        let offset = self.pop(donor)?;
        let mut rest = class_bytes(donor) - want;
        let mut at = offset + want / GRANULE_BYTES;
        while rest >= BLOCK_BYTES_MIN {
            let piece = Self::largest_class_within(rest);
            self.push(piece, at);
            rest -= class_bytes(piece);
            at += class_bytes(piece) / GRANULE_BYTES;
        }
        debug_assert_eq!(rest, 0);
        Some(offset)
    }

    /// The largest class of at most `bytes` (a multiple of a granule, at least the minimum)
    /// whose remainder is not a lone granule.
    fn largest_class_within(bytes: u32) -> usize {
        let mut class = class_of(bytes).unwrap_or(CLASS_COUNT - 1);
        while class > 0 && class_bytes(class) > bytes {
            class -= 1;
        }
        if bytes - class_bytes(class) == GRANULE_BYTES && class > 0 {
            class -= 1;
        }
        class
    }

    fn read_link(&self, offset: u32) -> u32 {
        let at = offset as usize * GRANULE_BYTES as usize;
        match self.bytes.get(at..at + 4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    fn write_link(&mut self, offset: u32, link: u32) {
        let at = offset as usize * GRANULE_BYTES as usize;
        if let Some(dst) = self.bytes.get_mut(at..at + 4) {
            dst.copy_from_slice(&link.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn classes_cover_every_length_tightly() {
        let mut prev = 0;
        for class in 0..CLASS_COUNT {
            let size = class_bytes(class);
            assert!(size > prev, "class {class} not increasing");
            assert_eq!(size % GRANULE_BYTES, 0);
            assert_eq!(class_of(size), Some(class));
            assert_eq!(class_of(prev + 1), Some(class), "first length of class {class}");
            // At most 25% waste above the small classes.
            if size > SMALL_CLASS_BYTES_MAX {
                assert!((size - prev) * 4 <= size);
            }
            prev = size;
        }
        assert_eq!(class_of(BLOCK_BYTES_MAX + 1), None);
        assert_eq!(class_bytes(0), 16);
        assert_eq!(class_bytes(6), 64);
        assert_eq!(class_bytes(7), 80);
        assert_eq!(BLOCK_BYTES_MAX, 2_621_440);
        assert_eq!(ByteArena::block_bytes(1_048_576 + 200), Some(1_310_720));
        assert_eq!(ByteArena::block_bytes(0), Some(0));
        assert_eq!(ByteArena::block_bytes(u32::MAX), None);
    }

    #[test]
    fn blocks_hold_exactly_their_bytes() {
        let mut mem = vec![0u8; 4096];
        let mut arena = ByteArena::new(&mut mem);
        let a = arena.alloc(5).unwrap();
        let b = arena.alloc(100).unwrap();
        arena.get_mut(a).copy_from_slice(b"hello");
        arena.get_mut(b).fill(7);
        assert_eq!(arena.get(a), b"hello");
        assert_eq!(arena.get(b).len(), 100);
        assert!(arena.get(b).iter().all(|&x| x == 7));
        // Bumped from the front, in class-sized steps.
        assert_eq!(a.offset, 0);
        assert_eq!(b.offset, 2);
        assert_eq!(arena.bytes_touched(), 16 + 112);
        let s = arena.stats();
        assert_eq!(s, ArenaStats { capacity: 4096, bytes_requested: 105, bytes_allocated: 128, bytes_free_listed: 0 });
    }

    #[test]
    fn zero_length_blocks_take_no_storage() {
        let mut mem = [0u8; 0];
        let mut arena = ByteArena::new(&mut mem);
        let z = arena.alloc(0).unwrap();
        assert_eq!(z, Block::EMPTY);
        assert_eq!(arena.get(z), b"");
        arena.free(z);
        assert_eq!(arena.alloc(1), Err(ArenaFull));
        assert_eq!(arena.stats(), ArenaStats::default());
    }

    #[test]
    fn freed_blocks_are_reused_by_their_class() {
        let mut mem = vec![0u8; 4096];
        let mut arena = ByteArena::new(&mut mem);
        let a = arena.alloc(30).unwrap();
        let _keep = arena.alloc(16).unwrap();
        arena.free(a);
        assert_eq!(arena.stats().bytes_free_listed, 32);
        // A different class does not take it; the same class does.
        let c = arena.alloc(50).unwrap();
        assert_ne!(c.offset, a.offset);
        let d = arena.alloc(25).unwrap();
        assert_eq!(d.offset, a.offset);
        assert_eq!(arena.stats().bytes_free_listed, 0);
    }

    #[test]
    fn free_lists_are_lifo_and_survive_many_blocks() {
        let mut mem = vec![0u8; 16 * 64];
        let mut arena = ByteArena::new(&mut mem);
        let blocks: std::vec::Vec<Block> = (0..64).map(|_| arena.alloc(16).unwrap()).collect();
        assert_eq!(arena.alloc(16), Err(ArenaFull));
        for b in blocks.iter().step_by(2) {
            arena.free(*b);
        }
        assert_eq!(arena.stats().bytes_free_listed, 32 * 16);
        for b in blocks.iter().step_by(2).rev() {
            assert_eq!(arena.alloc(9).unwrap().offset, b.offset);
        }
        assert_eq!(arena.alloc(16), Err(ArenaFull));
    }

    #[test]
    fn freeing_the_top_block_rolls_the_bump_back() {
        let mut mem = vec![0u8; 1024];
        let mut arena = ByteArena::new(&mut mem);
        let a = arena.alloc(10).unwrap();
        let before = arena.stats();
        let b = arena.alloc(200).unwrap();
        arena.free(b);
        assert_eq!(arena.stats(), before);
        assert_eq!(arena.bytes_touched(), 16);
        arena.free(a);
        assert_eq!(arena.bytes_touched(), 0);
    }

    #[test]
    fn exhausted_bump_splits_a_larger_free_block() {
        let mut mem = vec![0u8; 256];
        let mut arena = ByteArena::new(&mut mem);
        let big = arena.alloc(160).unwrap(); // class 160
        let _rest = arena.alloc(96).unwrap(); // fills the arena
        arena.free(big);
        // 24 bytes from a 160-byte block: the other 136 go back as 112 + 24 (128 would
        // leave a lone granule).
        let small = arena.alloc(20).unwrap();
        assert_eq!(small.offset, big.offset);
        let s = arena.stats();
        assert_eq!(s.bytes_allocated, 24 + 96);
        assert_eq!(s.bytes_free_listed, 136);
        assert_eq!(s.bytes_allocated + s.bytes_free_listed, arena.bytes_touched());
        // The pieces serve later requests without overlapping.
        let p = arena.alloc(112).unwrap();
        let q = arena.alloc(24).unwrap();
        assert_eq!(arena.stats().bytes_free_listed, 0);
        assert_eq!(arena.alloc(16), Err(ArenaFull));
        let mut spans = [(small.offset, 3), (p.offset, 14), (q.offset, 3), (_rest.offset, 12)];
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{spans:?}");
        }
    }

    #[test]
    fn resize_keeps_the_prefix() {
        let mut mem = vec![0u8; 1024];
        let mut arena = ByteArena::new(&mut mem);
        let a = arena.alloc(10).unwrap();
        arena.get_mut(a).copy_from_slice(b"0123456789");
        // Same class: in place.
        let b = arena.resize(a, 14).unwrap();
        assert_eq!(b.offset, a.offset);
        assert_eq!(&arena.get(b)[..10], b"0123456789");
        // Larger class: moved, prefix kept, old block freed.
        let c = arena.resize(b, 40).unwrap();
        assert_ne!(c.offset, b.offset);
        assert_eq!(&arena.get(c)[..10], b"0123456789");
        assert_eq!(arena.stats().bytes_requested, 40);
        assert_eq!(arena.stats().bytes_free_listed, 16);
        // Shrink to nothing.
        let d = arena.resize(c, 0).unwrap();
        assert_eq!(d, Block::EMPTY);
        assert_eq!(arena.stats().bytes_requested, 0);
        assert_eq!(arena.stats().bytes_allocated, 0);
    }

    #[test]
    fn failed_resize_leaves_the_block() {
        let mut mem = vec![0u8; 64];
        let mut arena = ByteArena::new(&mut mem);
        let a = arena.alloc(16).unwrap();
        arena.get_mut(a).fill(1);
        assert_eq!(arena.resize(a, 100), Err(ArenaFull));
        assert_eq!(arena.get(a), &[1u8; 16]);
        assert_eq!(arena.stats().bytes_requested, 16);
    }

    #[test]
    fn oversized_and_foreign_blocks_never_panic() {
        let mut mem = vec![0u8; 128];
        let mut arena = ByteArena::new(&mut mem);
        assert_eq!(arena.alloc(BLOCK_BYTES_MAX + 1), Err(ArenaFull));
        let foreign = Block { offset: 1000, len: 64 };
        assert_eq!(arena.get(foreign), b"");
        assert!(arena.get_mut(foreign).is_empty());
        let huge = Block { offset: u32::MAX, len: u32::MAX };
        assert_eq!(arena.get(huge), b"");
    }

    #[test]
    fn one_megabyte_of_data_fits() {
        let mut mem = vec![0u8; 3 << 20];
        let mut arena = ByteArena::new(&mut mem);
        let b = arena.alloc(1_048_575 + 300).unwrap();
        assert_eq!(arena.get(b).len(), 1_048_875);
        assert_eq!(arena.stats().bytes_allocated, 1_310_720);
    }
}
