//! Zero-filled table storage that costs RAM only where it is used.
//!
//! The core takes its tables from the shell as slices sized from the configured bounds
//! (a million znodes or more). Asking the allocator for *zeroed* memory lets it hand out
//! fresh pages straight from the OS (`calloc` on a large block is an `mmap` of zero pages),
//! so untouched capacity costs address space, not resident memory. Writing an "empty"
//! value into every slot instead would touch, and pay for, every page.
//!
//! This is the one module of herd with `unsafe`: building a typed slice over raw zeroed
//! bytes is sound only for types whose all-zero bit pattern is a valid value, which
//! [`ZeroIsValid`] records.

use std::alloc::{alloc_zeroed, Layout};
use std::fmt;
use std::ptr::{self, NonNull};

/// Types for which a value whose bytes are all zero is a valid, initialized value.
///
/// # Safety
///
/// Implement this only for types where every byte being `0` is a valid value: no
/// references, no `NonZero*`, no enums without a zero discriminant, no padding-sensitive
/// invariants. Integers and arrays of such types qualify; so do `#[repr(C)]` or plain
/// structs made only of such fields.
pub unsafe trait ZeroIsValid: Sized {}

macro_rules! zero_is_valid {
    ($($t:ty),* $(,)?) => { $(
        // SAFETY: every bit pattern, the all-zero one included, is a valid integer.
        unsafe impl ZeroIsValid for $t {}
    )* };
}

zero_is_valid!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

// SAFETY: an array's bytes are its elements' bytes, each valid when zero.
unsafe impl<T: ZeroIsValid, const N: usize> ZeroIsValid for [T; N] {}

/// Why zeroed storage could not be provided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// `len` elements of `elem_bytes` each exceed what one allocation may span (`isize::MAX`).
    TooLarge {
        /// Elements requested.
        len: usize,
        /// Size of one element in bytes.
        elem_bytes: usize,
    },
    /// The allocator refused the request (address space or commit limit exhausted).
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::TooLarge { len, elem_bytes } => {
                write!(f, "{len} elements of {elem_bytes} bytes exceed the largest possible allocation")
            }
            AllocError::OutOfMemory { bytes } => {
                write!(f, "the allocator refused {bytes} bytes of zeroed memory")
            }
        }
    }
}

impl std::error::Error for AllocError {}

/// A boxed slice of `len` zero values whose pages the OS maps only when first touched.
///
/// `len == 0` and zero-sized `T` allocate nothing. The box frees through the global
/// allocator as any `Box<[T]>` does, which is where the memory came from.
pub fn zeroed_slice<T: ZeroIsValid>(len: usize) -> Result<Box<[T]>, AllocError> {
    let elem_bytes = std::mem::size_of::<T>();
    if len == 0 || elem_bytes == 0 {
        // Nothing to allocate: a dangling, aligned pointer is a valid slice base here.
        let base = NonNull::<T>::dangling().as_ptr();
        // SAFETY: the slice spans zero bytes, so `Box` never reads, writes or frees through
        // the pointer (it deallocates only when the layout size is non-zero), and each
        // zero-sized element is valid by `T: ZeroIsValid`.
        return Ok(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
    }
    let layout = Layout::array::<T>(len).map_err(|_| AllocError::TooLarge { len, elem_bytes })?;
    // SAFETY: `layout` has a non-zero size (len > 0 and size_of::<T>() > 0).
    let raw = unsafe { alloc_zeroed(layout) };
    if raw.is_null() {
        return Err(AllocError::OutOfMemory { bytes: layout.size() });
    }
    let slice = ptr::slice_from_raw_parts_mut(raw.cast::<T>(), len);
    // SAFETY: `raw` comes from the global allocator with exactly the layout `Box<[T]>`
    // frees with (`Layout::array::<T>(len)`), is aligned for `T`, and holds `len` values
    // whose zero bytes are valid by `T: ZeroIsValid`.
    Ok(unsafe { Box::from_raw(slice) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident memory of this process in bytes (`VmRSS` of `/proc/self/status`, which
    /// is `/proc/self/statm`'s resident field already converted from pages).
    fn resident_bytes() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line");
        kib * 1024
    }

    #[test]
    fn values_are_zero() {
        let s = zeroed_slice::<u32>(1000).unwrap();
        assert_eq!(s.len(), 1000);
        assert!(s.iter().all(|&v| v == 0));
        let a = zeroed_slice::<[u16; 3]>(17).unwrap();
        assert_eq!(a.len(), 17);
        assert!(a.iter().all(|e| *e == [0, 0, 0]));
    }

    #[test]
    fn slice_is_writable_and_freed_cleanly() {
        let mut s = zeroed_slice::<i64>(4096).unwrap();
        s[0] = -1;
        s[4095] = 7;
        assert_eq!(s[0] + s[4095], 6);
        drop(s);
    }

    #[test]
    fn empty_and_zero_sized() {
        let e = zeroed_slice::<u64>(0).unwrap();
        assert!(e.is_empty());
        let z = zeroed_slice::<[u8; 0]>(1_000_000).unwrap();
        assert_eq!(z.len(), 1_000_000);
        assert_eq!(z[999_999], []);
    }

    #[test]
    fn too_large_is_an_error_not_a_panic() {
        assert_eq!(
            zeroed_slice::<u64>(usize::MAX).unwrap_err(),
            AllocError::TooLarge { len: usize::MAX, elem_bytes: 8 }
        );
        // Just above isize::MAX bytes is also refused by the layout check.
        let len = (isize::MAX as usize) / 4 + 1;
        assert!(matches!(zeroed_slice::<u32>(len), Err(AllocError::TooLarge { .. })));
    }

    #[test]
    fn untouched_capacity_costs_no_resident_memory() {
        const GIB: u64 = 1 << 30;
        let before = resident_bytes();
        let mut s = zeroed_slice::<u64>((GIB / 8) as usize).unwrap();
        // Touch one page at the front and read one in the middle.
        s[0] = 42;
        let middle = s[s.len() / 2];
        let after = resident_bytes();
        assert_eq!((s[0], middle), (42, 0));
        let growth = after.saturating_sub(before);
        assert!(growth < 64 << 20, "1 GiB zeroed slice grew RSS by {growth} bytes");
    }
}
