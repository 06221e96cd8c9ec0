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
            format!(
                "record of {} bytes exceeds {MAX_RECORD_BYTES}",
                payload.len()
            ),
        ));
    }
    // Cannot fail after the check above (asserted at compile time).
    u32::try_from(payload.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Appends one framed record to `out`.
pub fn encode_record(zxid: u64, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = checked_len(payload)?;
    let header = FrameHeader {
        len,
        crc: record_crc(zxid, payload),
        zxid,
    };
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

/// What [`read_header`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderRead {
    /// A complete header.
    Full(FrameHeader),
    /// The reader ended exactly here: a clean end between records.
    End,
    /// The reader ended after this many header bytes (1..16).
    Short(usize),
}

/// Reads one frame header.
pub fn read_header<R: Read>(r: &mut R) -> io::Result<HeaderRead> {
    let mut b = [0u8; FRAME_HEADER_BYTES];
    Ok(match super::read_full(r, &mut b)? {
        0 => HeaderRead::End,
        FRAME_HEADER_BYTES => HeaderRead::Full(FrameHeader::decode(&b)),
        got => HeaderRead::Short(got),
    })
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
                write!(
                    f,
                    "short record header ({got} of {FRAME_HEADER_BYTES} bytes)"
                )
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

/// What [`read_record`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordRead {
    /// A valid record; its payload is in the caller's buffer.
    Record(FrameHeader),
    /// A clean end of input between records.
    End,
    /// An invalid record; the reader's position is unspecified afterwards.
    Bad(BadRecord),
}

/// Reads the payload of `header` into `buf` (cleared first); `false` if the input ended early.
pub fn read_payload<R: Read>(
    r: &mut R,
    header: &FrameHeader,
    buf: &mut Vec<u8>,
) -> io::Result<bool> {
    buf.clear();
    let want = u64::from(header.len);
    // `take` bounds the read, so a garbage length never allocates more than the file holds.
    let got = r.by_ref().take(want).read_to_end(buf)?;
    Ok(got as u64 == want)
}

/// Reads and checks one record: bounded length, complete payload, matching CRC.
pub fn read_record<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<RecordRead> {
    let header = match read_header(r)? {
        HeaderRead::End => return Ok(RecordRead::End),
        HeaderRead::Short(got) => return Ok(RecordRead::Bad(BadRecord::ShortHeader { got })),
        HeaderRead::Full(h) => h,
    };
    if header.len as usize > MAX_RECORD_BYTES {
        return Ok(RecordRead::Bad(BadRecord::TooLong { len: header.len }));
    }
    if !read_payload(r, &header, buf)? {
        let got = buf.len() as u64;
        return Ok(RecordRead::Bad(BadRecord::ShortPayload {
            len: header.len,
            got,
        }));
    }
    if record_crc(header.zxid, buf) != header.crc {
        return Ok(RecordRead::Bad(BadRecord::BadCrc { len: header.len }));
    }
    Ok(RecordRead::Record(header))
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

    #[test]
    fn decodes_fixed_bytes() {
        let mut buf = Vec::new();
        let mut r = &RECORD_1_AB[..];
        let read = read_record(&mut r, &mut buf).unwrap();
        assert_eq!(
            read,
            RecordRead::Record(FrameHeader {
                len: 2,
                crc: 0xd312_59da,
                zxid: 1
            })
        );
        assert_eq!(buf, b"ab");
        assert_eq!(read_record(&mut r, &mut buf).unwrap(), RecordRead::End);
        assert!(valid_record_at(&RECORD_1_AB, 0));
        assert!(
            !valid_record_at(&RECORD_1_AB, 1),
            "zxid must be above the bound"
        );
    }

    #[test]
    fn truncated_and_corrupt_records_are_reported() {
        let mut buf = Vec::new();
        let mut r = &RECORD_1_AB[..5];
        assert_eq!(
            read_record(&mut r, &mut buf).unwrap(),
            RecordRead::Bad(BadRecord::ShortHeader { got: 5 })
        );
        let mut r = &RECORD_1_AB[..17];
        assert_eq!(
            read_record(&mut r, &mut buf).unwrap(),
            RecordRead::Bad(BadRecord::ShortPayload { len: 2, got: 1 })
        );
        let mut bad = RECORD_1_AB;
        bad[17] ^= 1;
        let mut r = &bad[..];
        assert_eq!(
            read_record(&mut r, &mut buf).unwrap(),
            RecordRead::Bad(BadRecord::BadCrc { len: 2 })
        );
        assert!(!valid_record_at(&bad, 0));
        let mut long = RECORD_1_AB;
        long[0..4].copy_from_slice(&(MAX_RECORD_BYTES as u32 + 1).to_le_bytes());
        let mut r = &long[..];
        assert_eq!(
            read_record(&mut r, &mut buf).unwrap(),
            RecordRead::Bad(BadRecord::TooLong {
                len: MAX_RECORD_BYTES as u32 + 1
            })
        );
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
