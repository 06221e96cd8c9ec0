//! Jute vectors without allocation.
//!
//! Decoding walks the whole vector once, so a [`List`] holds only bytes already known to be
//! well formed, and its iterator yields plain values. Encoding takes anything that is a
//! [`Seq`]: a decoded list (copied as is), a slice, or an iterator wrapped in [`SeqIter`]
//! (its count is patched in after the walk, for children read off a tree).

use core::fmt;
use core::marker::PhantomData;

use super::error::{DecodeError, EncodeError};
use super::wire::{Reader, Writer};

/// A value that can be read as one element of a jute vector.
pub trait Element<'a>: Sized {
    /// Fewest bytes one element takes, to refuse a count the frame cannot hold.
    const MIN_LEN: usize;
    /// Reads one element.
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError>;
}

/// A value that can be written as one element of a jute vector.
pub trait WriteElement {
    /// Writes one element.
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
}

/// A vector element that is a non-null ustring (child names, watch paths).
impl<'a> Element<'a> for &'a [u8] {
    const MIN_LEN: usize = 4;
    fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        r.read_str("vector<ustring> element")
    }
}

impl WriteElement for &[u8] {
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_str(self)
    }
}

/// A decoded, already validated jute vector of `T`.
pub struct List<'a, T> {
    raw: &'a [u8],
    count: u32,
    null: bool,
    _elem: PhantomData<fn() -> T>,
}

/// A vector of ustrings, yielding raw `&[u8]` names.
pub type StrList<'a> = List<'a, &'a [u8]>;

impl<'a, T> List<'a, T> {
    /// The empty, non-null list.
    pub const EMPTY: List<'a, T> = List { raw: &[], count: 0, null: false, _elem: PhantomData };

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there is no element (also for a null vector).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// True when the vector was sent as null (count −1).
    pub fn is_null(&self) -> bool {
        self.null
    }

    /// The elements' bytes, without the count.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl<'a, T: Element<'a>> List<'a, T> {
    /// Reads a count and validates every element; `field` names the vector in errors.
    pub fn read(r: &mut Reader<'a>, field: &'static str) -> Result<Self, DecodeError> {
        let at = r.position();
        let Some(count) = r.read_vec_count(field)? else {
            return Ok(List { raw: &[], count: 0, null: true, _elem: PhantomData });
        };
        // Refuse a count that cannot fit before walking it, so a forged count costs nothing.
        let fits = (count as usize).checked_mul(T::MIN_LEN).is_some_and(|n| n <= r.remaining());
        if !fits {
            return Err(DecodeError::BadLength { field, len: count as i32, at });
        }
        let start = r.rest();
        let before = r.position();
        for _ in 0..count {
            T::read(r)?;
        }
        let used = r.position().saturating_sub(before);
        let raw = start.get(..used).unwrap_or(&[]);
        Ok(List { raw, count, null: false, _elem: PhantomData })
    }

    /// The elements in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        ListIter { r: Reader::new(self.raw), left: self.count, _elem: PhantomData }
    }
}

impl<'a, T: Element<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;
    fn into_iter(self) -> ListIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Element<'a>> IntoIterator for &List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;
    fn into_iter(self) -> ListIter<'a, T> {
        self.iter()
    }
}

impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for List<'_, T> {}

impl<T> PartialEq for List<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.count == other.count && self.null == other.null
    }
}

impl<T> Eq for List<'_, T> {}

impl<'a, T: Element<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.null {
            return f.write_str("null");
        }
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over a validated [`List`].
#[derive(Clone, Debug)]
pub struct ListIter<'a, T> {
    r: Reader<'a>,
    left: u32,
    _elem: PhantomData<fn() -> T>,
}

impl<'a, T: Element<'a>> Iterator for ListIter<'a, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the list was read, so this cannot fail; stop
        // rather than panic if it ever did.
        let item = T::read(&mut self.r).ok();
        if item.is_none() {
            self.left = 0;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// Something that can be written as a jute `vector<T>`.
pub trait Seq<T> {
    /// Writes the count and the elements.
    fn write_seq(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
}

impl<'a, T> Seq<T> for List<'a, T> {
    fn write_seq(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if self.null {
            return w.write_i32(-1);
        }
        w.write_i32(i32::try_from(self.count).map_err(|_| EncodeError::TooLong)?)?;
        w.write_bytes(self.raw)
    }
}

impl<T: WriteElement> Seq<T> for [T] {
    fn write_seq(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(i32::try_from(self.len()).map_err(|_| EncodeError::TooLong)?)?;
        self.iter().try_for_each(|e| e.write(w))
    }
}

impl<T: WriteElement, const N: usize> Seq<T> for [T; N] {
    fn write_seq(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self[..].write_seq(w)
    }
}

impl<T, S: Seq<T> + ?Sized> Seq<T> for &S {
    fn write_seq(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        (**self).write_seq(w)
    }
}

/// Writes the items of a cloneable iterator as a vector, patching the count in afterwards.
#[derive(Clone, Debug)]
pub struct SeqIter<I>(pub I);

impl<T: WriteElement, I: Iterator<Item = T> + Clone> Seq<T> for SeqIter<I> {
    fn write_seq(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let slot = w.reserve_i32()?;
        let mut count: i32 = 0;
        for item in self.0.clone() {
            item.write(w)?;
            count = count.checked_add(1).ok_or(EncodeError::TooLong)?;
        }
        w.patch_i32(slot, count)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const TWO: [u8; 15] = [0, 0, 0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 2, b'b', b'c'];

    #[test]
    fn str_list_decodes_and_reencodes() {
        let mut r = Reader::new(&TWO);
        let list = StrList::read(&mut r, "children").unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(list.len(), 2);
        assert_eq!(list.raw(), &TWO[4..]);
        assert_eq!(list.iter().collect::<Vec<_>>(), [&b"a"[..], &b"bc"[..]]);
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        list.write_seq(&mut w).unwrap();
        assert_eq!(w.written(), TWO);
    }

    #[test]
    fn slices_and_iterators_encode_the_same() {
        let names: [&[u8]; 2] = [b"a", b"bc"];
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        names.write_seq(&mut w).unwrap();
        assert_eq!(w.written(), TWO);
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        SeqIter(names.iter().copied()).write_seq(&mut w).unwrap();
        assert_eq!(w.written(), TWO);
    }

    #[test]
    fn null_empty_and_bad_lists() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        let null = StrList::read(&mut r, "v").unwrap();
        assert!(null.is_null() && null.is_empty());
        // Count 2 but only one element present.
        let mut r = Reader::new(&TWO[..9]);
        assert_eq!(StrList::read(&mut r, "v"), Err(DecodeError::BadLength { field: "v", len: 2, at: 0 }));
        // Count fits the byte budget, but the second element is cut short.
        let mut r = Reader::new(&TWO[..14]);
        assert!(matches!(StrList::read(&mut r, "v"), Err(DecodeError::BadLength { at: 9, .. })));
        // A null element is refused.
        let mut r = Reader::new(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(StrList::read(&mut r, "v"), Err(DecodeError::Null { at: 4, .. })));
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(StrList::read(&mut r, "v"), Err(DecodeError::BadLength { .. })));
    }
}
