//! Jute's binary archive primitives: big-endian ints, length-prefixed strings and buffers,
//! counted vectors (reference section 1.2).
//!
//! Every read checks the remaining length first and reports the field it was reading, so a
//! bad frame becomes a [`DecodeError`] value, never a panic.

use super::error::{DecodeError, EncodeError};

/// Jute's null marker for a ustring, buffer or vector length.
const NULL_LEN: i32 = -1;

/// A cursor over received bytes.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Offset of the next byte to read, from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Takes the next `n` raw bytes.
    pub fn read_bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let end = at.checked_add(n).ok_or(DecodeError::Truncated { field, at })?;
        let bytes = self.buf.get(at..end).ok_or(DecodeError::Truncated { field, at })?;
        self.pos = end;
        Ok(bytes)
    }

    fn read_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let at = self.pos;
        let bytes = self.read_bytes(N, field)?;
        bytes.try_into().map_err(|_| DecodeError::Truncated { field, at })
    }

    /// Reads a jute `byte`.
    pub fn read_u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a jute `boolean`: any non-zero byte is true, as Java's `readBoolean` does.
    pub fn read_bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.read_u8(field)? != 0)
    }

    /// Reads a jute `int`.
    pub fn read_i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a jute `long`.
    pub fn read_i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a length-prefixed byte run (`ustring` or `buffer`); length −1 is null.
    fn read_len_prefixed(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        let at = self.pos;
        let len = self.read_i32(field)?;
        if len == NULL_LEN {
            return Ok(None);
        }
        let n = usize::try_from(len).map_err(|_| DecodeError::BadLength { field, len, at })?;
        if n > self.remaining() {
            return Err(DecodeError::BadLength { field, len, at });
        }
        self.read_bytes(n, field).map(Some)
    }

    /// Reads a `ustring` as raw bytes (UTF-8 is not checked here: path validation rejects
    /// bad encodings with the error ZooKeeper gives); `None` for null.
    pub fn read_ustring(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        self.read_len_prefixed(field)
    }

    /// Reads a `ustring` that must not be null (paths, schemes, names).
    pub fn read_str(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        self.read_ustring(field)?.ok_or(DecodeError::Null { field, at })
    }

    /// Reads a `buffer`; `None` for null.
    pub fn read_buffer(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, DecodeError> {
        self.read_len_prefixed(field)
    }

    /// Reads a vector's element count; `None` for a null vector.
    ///
    /// Counts below −1 are refused (Java would read them as an empty vector; no client
    /// sends one).
    pub fn read_vec_count(&mut self, field: &'static str) -> Result<Option<u32>, DecodeError> {
        let at = self.pos;
        let count = self.read_i32(field)?;
        if count == NULL_LEN {
            return Ok(None);
        }
        u32::try_from(count).map(Some).map_err(|_| DecodeError::BadLength { field, len: count, at })
    }
}

/// A reserved 4-byte slot in a [`Writer`], patched once its value is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a reserved slot holds zeroes until it is patched"]
pub struct Slot(usize);

/// A cursor writing into a caller's buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the first byte of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Room left in the buffer.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or(&[])
    }

    /// Appends raw bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(EncodeError::BufferFull)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(EncodeError::BufferFull)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Writes a jute `byte`.
    pub fn write_u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.write_bytes(&[v])
    }

    /// Writes a jute `boolean` as 0 or 1.
    pub fn write_bool(&mut self, v: bool) -> Result<(), EncodeError> {
        self.write_u8(u8::from(v))
    }

    /// Writes a jute `int`.
    pub fn write_i32(&mut self, v: i32) -> Result<(), EncodeError> {
        self.write_bytes(&v.to_be_bytes())
    }

    /// Writes a jute `long`.
    pub fn write_i64(&mut self, v: i64) -> Result<(), EncodeError> {
        self.write_bytes(&v.to_be_bytes())
    }

    fn write_len_prefixed(&mut self, v: Option<&[u8]>) -> Result<(), EncodeError> {
        match v {
            None => self.write_i32(NULL_LEN),
            Some(bytes) => {
                let len = i32::try_from(bytes.len()).map_err(|_| EncodeError::TooLong)?;
                self.write_i32(len)?;
                self.write_bytes(bytes)
            }
        }
    }

    /// Writes a `ustring`, null for `None`.
    pub fn write_ustring(&mut self, v: Option<&[u8]>) -> Result<(), EncodeError> {
        self.write_len_prefixed(v)
    }

    /// Writes a non-null `ustring`.
    pub fn write_str(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        self.write_len_prefixed(Some(v))
    }

    /// Writes a `buffer`, null for `None`.
    pub fn write_buffer(&mut self, v: Option<&[u8]>) -> Result<(), EncodeError> {
        self.write_len_prefixed(v)
    }

    /// Hands out the next `n` bytes to be filled in place (e.g. a path spelled by the tree).
    pub fn reserve_bytes(&mut self, n: usize) -> Result<&mut [u8], EncodeError> {
        let start = self.pos;
        let end = start.checked_add(n).ok_or(EncodeError::BufferFull)?;
        if end > self.buf.len() {
            return Err(EncodeError::BufferFull);
        }
        self.pos = end;
        self.buf.get_mut(start..end).ok_or(EncodeError::BufferFull)
    }

    /// Takes back everything written after `position` (which must not be ahead).
    pub fn rewind(&mut self, position: usize) {
        self.pos = self.pos.min(position);
    }

    /// Reserves an `int` to be filled in later (a vector count or a frame length).
    pub fn reserve_i32(&mut self) -> Result<Slot, EncodeError> {
        let slot = Slot(self.pos);
        self.write_i32(0)?;
        Ok(slot)
    }

    /// Fills a slot reserved by [`Writer::reserve_i32`].
    pub fn patch_i32(&mut self, slot: Slot, v: i32) -> Result<(), EncodeError> {
        let end = slot.0.checked_add(4).ok_or(EncodeError::BufferFull)?;
        if end > self.pos {
            // A slot from another writer, or one not reserved: never overwrite unwritten bytes.
            return Err(EncodeError::BadSlot);
        }
        let dst = self.buf.get_mut(slot.0..end).ok_or(EncodeError::BadSlot)?;
        dst.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_are_big_endian() {
        let mut r = Reader::new(&[0, 0, 1, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 7, 2]);
        assert_eq!(r.read_i32("a"), Ok(258));
        assert_eq!(r.read_i32("b"), Ok(-1));
        assert_eq!(r.read_i64("c"), Ok(7));
        assert_eq!(r.read_bool("d"), Ok(true), "any non-zero byte is true");
        assert_eq!(r.read_u8("e"), Err(DecodeError::Truncated { field: "e", at: 17 }));
    }

    #[test]
    fn strings_null_and_bad_lengths() {
        let mut r = Reader::new(&[0, 0, 0, 2, b'h', 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.read_ustring("p"), Ok(Some(&[b'h', 0xff][..])), "raw bytes, not UTF-8 checked");
        assert_eq!(r.read_buffer("d"), Ok(None));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(r.read_ustring("p"), Err(DecodeError::BadLength { field: "p", len: -2, at: 0 }));
        let mut r = Reader::new(&[0, 0, 0, 3, b'a', b'b']);
        assert_eq!(r.read_buffer("d"), Err(DecodeError::BadLength { field: "d", len: 3, at: 0 }));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.read_str("p"), Err(DecodeError::Null { field: "p", at: 0 }));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0]);
        assert_eq!(r.read_vec_count("v"), Ok(None));
        assert!(matches!(r.read_vec_count("v"), Err(DecodeError::BadLength { len: i32::MIN, at: 4, .. })));
    }

    #[test]
    fn writer_round_trips_and_reports_full() {
        let mut buf = [0u8; 16];
        let mut w = Writer::new(&mut buf);
        let slot = w.reserve_i32().unwrap();
        w.write_str(b"ab").unwrap();
        w.write_buffer(None).unwrap();
        w.patch_i32(slot, 9).unwrap();
        assert_eq!(w.written(), &[0, 0, 0, 9, 0, 0, 0, 2, b'a', b'b', 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(w.write_i32(1), Err(EncodeError::BufferFull));
        assert_eq!(w.position(), 14, "a failed write leaves the position");
        w.write_bool(true).unwrap();
        assert_eq!(w.patch_i32(Slot(13), 0), Err(EncodeError::BadSlot));
    }
}
