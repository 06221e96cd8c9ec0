//! Record framing shared by the txn log and snapshots.
//!
//! `[u32 LE payload length][u32 LE CRC32 over (zxid LE bytes ++ payload)][u64 LE zxid][payload]`
//!
//! The CRC covers the zxid so a record cannot be replayed under another zxid; it does not cover
//! the length, so readers bound the length by [`MAX_RECORD_BYTES`] before trusting it, and a
//! wrong length shows up as a CRC mismatch over the wrong extent.

use std::fmt;
use std::io::{self, Read};

/// Largest payload accepted in one record: a znode's data is at most 1 MiB (ZooKeeper's
/// `jute.maxbuffer`), and a multi or a snapshot record adds paths and metadata around it.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// Bytes in front of every payload: length, CRC and zxid.
pub const FRAME_HEADER_BYTES: usize = 16;

/// Version written into the file header after the magic; bumped on any format change.
pub const FORMAT_VERSION: u32 = 1;

// The snapshot trailer uses `u32::MAX` as its length field, which must never be a valid length.
const _: () = assert!(MAX_RECORD_BYTES < u32::MAX as usize);

/// CRC32 of the zxid's little-endian bytes followed by the payload.
pub fn record_crc(zxid: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&zxid.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The payload length as stored, or `InvalidInput` when it exceeds [`MAX_RECORD_BYTES`].
pub fn checked_len(payload: &[u8]) -> io::Result<u32> {
    if payload.len() > MAX_RECORD_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("record of {} bytes exceeds {MAX_RECORD_BYTES}", payload.len()),
        ));
    }
    // Cannot fail after the check above (asserted at compile time).
    u32::try_from(payload.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Appends one framed record to `out`.
pub fn encode_record(zxid: u64, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = checked_len(payload)?;
    let header = FrameHeader { len, crc: record_crc(zxid, payload), zxid };
    out.reserve(FRAME_HEADER_BYTES + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
    Ok(())
}

/// The fixed part in front of a payload, as stored (nothing checked yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in bytes.
    pub len: u32,
    /// CRC32 over the zxid bytes and the payload.
    pub crc: u32,
    /// The zxid the record belongs to.
    pub zxid: u64,
}

impl FrameHeader {
    /// Decodes the 16 header bytes.
    pub fn decode(b: &[u8; FRAME_HEADER_BYTES]) -> FrameHeader {
        FrameHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            zxid: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    /// Encodes the 16 header bytes.
    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        let mut b = [0u8; FRAME_HEADER_BYTES];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..8].copy_from_slice(&self.crc.to_le_bytes());
        b[8..16].copy_from_slice(&self.zxid.to_le_bytes());
        b
    }

    /// Whole frame size, header included.
    pub fn frame_bytes(&self) -> u64 {
        FRAME_HEADER_BYTES as u64 + u64::from(self.len)
    }
}

/// What [`RecordReader::read_header`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderRead {
    /// A complete header.
    Full(FrameHeader),
    /// The reader ended exactly here: a clean end between records.
    End,
    /// The reader ended after this many header bytes (1..16).
    Short(usize),
}

/// Why a record could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRecord {
    /// The file ends inside the 16-byte header.
    ShortHeader {
        /// Header bytes present.
        got: usize,
    },
    /// The length field exceeds [`MAX_RECORD_BYTES`]; a torn write never produces this.
    TooLong {
        /// The length field.
        len: u32,
    },
    /// The file ends inside the payload.
    ShortPayload {
        /// The length field.
        len: u32,
        /// Payload bytes present.
        got: u64,
    },
    /// The CRC does not match the zxid and payload.
    BadCrc {
        /// The length field.
        len: u32,
    },
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRecord::ShortHeader { got } => {
                write!(f, "short record header ({got} of {FRAME_HEADER_BYTES} bytes)")
            }
            BadRecord::TooLong { len } => {
                write!(f, "record length {len} exceeds {MAX_RECORD_BYTES}")
            }
            BadRecord::ShortPayload { len, got } => {
                write!(f, "short record payload ({got} of {len} bytes)")
            }
            BadRecord::BadCrc { len } => write!(f, "CRC mismatch over a {len}-byte payload"),
        }
    }
}

/// What [`RecordReader::next_record`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A valid record and its payload.
    Record(FrameHeader, &'a [u8]),
    /// A clean end of input between records.
    End,
    /// An invalid record; the reader's position is unspecified afterwards.
    Bad(BadRecord),
}

/// Reads framed records through one large buffer and hands out payloads in place: no copy
/// and no allocation per record, and one `read` call per buffer-full rather than per record.
///
/// The buffer grows only for a record larger than it (bounded by [`MAX_RECORD_BYTES`],
/// checked before any payload is buffered).
pub struct RecordReader<R> {
    inner: R,
    /// Storage; the unread bytes are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The inner reader has returned 0.
    eof: bool,
}

impl<R: Read> RecordReader<R> {
    /// Wraps `inner` with a buffer of `capacity` bytes (at least one frame header).
    pub fn new(inner: R, capacity: usize) -> RecordReader<R> {
        RecordReader { inner, buf: vec![0; capacity.max(FRAME_HEADER_BYTES)], start: 0, end: 0, eof: false }
    }

    /// Buffers at least `want` unread bytes unless the input ends first; returns how many
    /// unread bytes are buffered.
    fn fill(&mut self, want: usize) -> io::Result<usize> {
        if self.end - self.start >= want || self.eof {
            return Ok(self.end - self.start);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < want {
            let free = self.buf.get_mut(self.end..).unwrap_or_default();
            match self.inner.read(free) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// Takes the next `n` buffered bytes (the caller checked they are there).
    fn take(&mut self, n: usize) -> &[u8] {
        let from = self.start;
        self.start = (from + n).min(self.end);
        self.buf.get(from..self.start).unwrap_or_default()
    }

    /// Reads until `out` is full or the input ends; returns how many bytes were read.
    pub fn read_full(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let got = self.fill(out.len())?.min(out.len());
        let bytes = self.take(got);
        if let Some(dst) = out.get_mut(..got) {
            dst.copy_from_slice(bytes);
        }
        Ok(got)
    }

    /// Reads one frame header.
    pub fn read_header(&mut self) -> io::Result<HeaderRead> {
        let got = self.fill(FRAME_HEADER_BYTES)?;
        if got == 0 {
            return Ok(HeaderRead::End);
        }
        let bytes = self.take(FRAME_HEADER_BYTES.min(got));
        Ok(match <&[u8; FRAME_HEADER_BYTES]>::try_from(bytes) {
            Ok(head) => HeaderRead::Full(FrameHeader::decode(head)),
            Err(_) => HeaderRead::Short(got),
        })
    }

    /// Reads the payload of `header` (whose length the caller bounded by
    /// [`MAX_RECORD_BYTES`]): `Ok(payload)`, or `Err(bytes present)` if the input ended early.
    pub fn read_payload(&mut self, header: &FrameHeader) -> io::Result<Result<&[u8], u64>> {
        let want = header.len as usize;
        let got = self.fill(want)?;
        if got < want {
            self.take(got);
            return Ok(Err(got as u64));
        }
        Ok(Ok(self.take(want)))
    }

    /// Reads and checks one record: bounded length, complete payload, matching CRC.
    pub fn next_record(&mut self) -> io::Result<Frame<'_>> {
        let header = match self.read_header()? {
            HeaderRead::End => return Ok(Frame::End),
            HeaderRead::Short(got) => return Ok(Frame::Bad(BadRecord::ShortHeader { got })),
            HeaderRead::Full(h) => h,
        };
        if header.len as usize > MAX_RECORD_BYTES {
            return Ok(Frame::Bad(BadRecord::TooLong { len: header.len }));
        }
        let payload = match self.read_payload(&header)? {
            Ok(payload) => payload,
            Err(got) => return Ok(Frame::Bad(BadRecord::ShortPayload { len: header.len, got })),
        };
        if record_crc(header.zxid, payload) != header.crc {
            return Ok(Frame::Bad(BadRecord::BadCrc { len: header.len }));
        }
        Ok(Frame::Record(header, payload))
    }

    /// The payloads of the complete frames already buffered after the current position, in
    /// order, unchecked (no CRC): for read-ahead hints only, never for data. Stops at the
    /// first incomplete frame or at a length above [`MAX_RECORD_BYTES`].
    pub fn buffered_payloads(&self) -> BufferedPayloads<'_> {
        BufferedPayloads { rest: self.buf.get(self.start..self.end).unwrap_or_default() }
    }

    /// Reads the input to its end; true if every byte left is zero.
    pub fn rest_is_zero(&mut self) -> io::Result<bool> {
        loop {
            let got = self.fill(1)?;
            if got == 0 {
                return Ok(true);
            }
            let free_all = self.end - self.start;
            if self.take(free_all).iter().any(|b| *b != 0) {
                return Ok(false);
            }
        }
    }
}

/// Iterator of [`RecordReader::buffered_payloads`].
pub struct BufferedPayloads<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for BufferedPayloads<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let head = <&[u8; FRAME_HEADER_BYTES]>::try_from(self.rest.get(..FRAME_HEADER_BYTES)?).ok()?;
        let len = FrameHeader::decode(head).len as usize;
        if len > MAX_RECORD_BYTES {
            return None;
        }
        let payload = self.rest.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len)?;
        self.rest = self.rest.get(FRAME_HEADER_BYTES + len..).unwrap_or_default();
        Some(payload)
    }
}

/// Checks whether a valid record with a zxid above `after_zxid` starts at `bytes[0]` and fits
/// within `bytes`.
pub fn valid_record_at(bytes: &[u8], after_zxid: u64) -> bool {
    let Some(head) = bytes.get(..FRAME_HEADER_BYTES) else {
        return false;
    };
    let Ok(head) = <&[u8; FRAME_HEADER_BYTES]>::try_from(head) else {
        return false;
    };
    let h = FrameHeader::decode(head);
    if h.len as usize > MAX_RECORD_BYTES || h.zxid <= after_zxid {
        return false;
    }
    let end = FRAME_HEADER_BYTES + h.len as usize;
    match bytes.get(FRAME_HEADER_BYTES..end) {
        Some(payload) => record_crc(h.zxid, payload) == h.crc,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record zxid 1, payload "ab", byte for byte; pins the on-disk format.
    const RECORD_1_AB: [u8; 18] = [
        2, 0, 0, 0, // length
        0xda, 0x59, 0x12, 0xd3, // crc32(01 00 00 00 00 00 00 00 61 62)
        1, 0, 0, 0, 0, 0, 0, 0, // zxid
        b'a', b'b',
    ];

    #[test]
    fn encodes_fixed_bytes() {
        let mut out = Vec::new();
        encode_record(1, b"ab", &mut out).unwrap();
        assert_eq!(out, RECORD_1_AB);
    }

    /// Reads one record from `bytes` with a small buffer.
    fn read_one(bytes: &[u8]) -> Frame<'static> {
        let mut r = RecordReader::new(bytes, 4);
        match r.next_record().unwrap() {
            Frame::Record(h, p) => Frame::Record(h, p.to_vec().leak()),
            Frame::End => Frame::End,
            Frame::Bad(reason) => Frame::Bad(reason),
        }
    }

    #[test]
    fn decodes_fixed_bytes() {
        let mut r = RecordReader::new(&RECORD_1_AB[..], 64);
        assert_eq!(r.next_record().unwrap(), Frame::Record(FrameHeader { len: 2, crc: 0xd312_59da, zxid: 1 }, b"ab"));
        assert_eq!(r.next_record().unwrap(), Frame::End);
        assert_eq!(r.next_record().unwrap(), Frame::End, "the end stays the end");
        assert!(valid_record_at(&RECORD_1_AB, 0));
        assert!(!valid_record_at(&RECORD_1_AB, 1), "zxid must be above the bound");
    }

    #[test]
    fn truncated_and_corrupt_records_are_reported() {
        assert_eq!(read_one(&RECORD_1_AB[..5]), Frame::Bad(BadRecord::ShortHeader { got: 5 }));
        assert_eq!(read_one(&RECORD_1_AB[..17]), Frame::Bad(BadRecord::ShortPayload { len: 2, got: 1 }));
        assert_eq!(read_one(&RECORD_1_AB[..16]), Frame::Bad(BadRecord::ShortPayload { len: 2, got: 0 }));
        let mut bad = RECORD_1_AB;
        bad[17] ^= 1;
        assert_eq!(read_one(&bad), Frame::Bad(BadRecord::BadCrc { len: 2 }));
        assert!(!valid_record_at(&bad, 0));
        let mut long = RECORD_1_AB;
        long[0..4].copy_from_slice(&(MAX_RECORD_BYTES as u32 + 1).to_le_bytes());
        assert_eq!(read_one(&long), Frame::Bad(BadRecord::TooLong { len: MAX_RECORD_BYTES as u32 + 1 }));
    }

    /// A reader that hands out at most `step` bytes per call, like a slow file.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn records_larger_than_the_buffer_and_split_reads_come_out_whole() {
        let payloads: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        let mut file = b"HEAD".to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode_record(i as u64 + 1, p, &mut file).unwrap();
        }
        file.extend_from_slice(&[0, 0, 0]);
        for (capacity, step) in [(16, 1), (16, 5), (40, 3), (1000, 7), (1 << 16, 1 << 16)] {
            let mut r = RecordReader::new(Trickle { bytes: &file, step }, capacity);
            let mut head = [0u8; 4];
            assert_eq!(r.read_full(&mut head).unwrap(), 4);
            assert_eq!(&head, b"HEAD");
            for (i, p) in payloads.iter().enumerate() {
                match r.next_record().unwrap() {
                    Frame::Record(h, got) => {
                        assert_eq!((h.zxid, got), (i as u64 + 1, &p[..]), "cap {capacity} step {step}");
                    }
                    other => panic!("record {i}: {other:?} (cap {capacity} step {step})"),
                }
            }
            assert_eq!(
                r.next_record().unwrap(),
                Frame::Bad(BadRecord::ShortHeader { got: 3 }),
                "cap {capacity} step {step}"
            );
        }
    }

    #[test]
    fn buffered_payloads_list_complete_frames_only() {
        let mut file = Vec::new();
        for z in 1..=3u64 {
            encode_record(z, &[z as u8; 10], &mut file).unwrap();
        }
        // The third frame is cut short.
        file.truncate(file.len() - 1);
        let mut r = RecordReader::new(&file[..], 1024);
        assert!(matches!(r.next_record().unwrap(), Frame::Record(h, _) if h.zxid == 1));
        let ahead: Vec<&[u8]> = r.buffered_payloads().collect();
        assert_eq!(ahead, vec![&[2u8; 10][..]]);
        assert!(matches!(r.next_record().unwrap(), Frame::Record(h, _) if h.zxid == 2));
        assert_eq!(r.buffered_payloads().count(), 0);

        // An impossible length ends the read-ahead instead of running past the buffer.
        let mut long = RECORD_1_AB.to_vec();
        long.extend_from_slice(&RECORD_1_AB);
        long[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = RecordReader::new(&long[..], 1024);
        assert!(matches!(r.next_record().unwrap(), Frame::Record(..)));
        assert_eq!(r.buffered_payloads().count(), 0);
    }

    #[test]
    fn rest_is_zero_sees_buffered_and_unread_bytes() {
        let mut zeros = vec![0u8; 100];
        let mut r = RecordReader::new(Trickle { bytes: &zeros, step: 7 }, 16);
        assert!(r.rest_is_zero().unwrap());
        zeros[99] = 1;
        let mut r = RecordReader::new(Trickle { bytes: &zeros, step: 7 }, 16);
        assert!(!r.rest_is_zero().unwrap());
        zeros[99] = 0;
        zeros[2] = 1;
        let mut r = RecordReader::new(&zeros[..], 16);
        let mut head = [0u8; 1];
        r.read_full(&mut head).unwrap();
        assert!(!r.rest_is_zero().unwrap(), "a buffered non-zero byte counts");
    }

    #[test]
    fn oversized_payload_is_refused() {
        let mut out = Vec::new();
        let big = vec![0u8; MAX_RECORD_BYTES + 1];
        let err = encode_record(1, &big, &mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.is_empty());
        encode_record(1, &big[..MAX_RECORD_BYTES], &mut out).unwrap();
        assert_eq!(out.len(), FRAME_HEADER_BYTES + MAX_RECORD_BYTES);
    }
}
