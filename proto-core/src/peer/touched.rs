//! The touched-sessions list of a PING reply (reference §13.8): which sessions a learner's
//! clients kept alive since the last ping, so that the leader, which alone expires
//! sessions, touches them.
//!
//! Kept as borrowed bytes of fixed-size entries so that decoding allocates nothing and the
//! list needs no count bound of its own: the frame bound limits it.

use crate::ids::SessionId;

use super::PeerDecodeError;

/// Bytes of one entry: the session id (i64 big-endian), then its timeout (u32 big-endian).
pub const TOUCHED_SESSION_BYTES: usize = 12;

/// A list of (session, timeout in ms) entries, borrowed from a frame or a caller's buffer.
///
/// Always a whole number of entries: construction refuses any other length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TouchedSessions<'a> {
    bytes: &'a [u8],
}

impl<'a> TouchedSessions<'a> {
    /// The empty list.
    pub const EMPTY: TouchedSessions<'static> = TouchedSessions { bytes: &[] };

    /// Views `bytes` as a list, refusing a length that is not a multiple of
    /// [`TOUCHED_SESSION_BYTES`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<TouchedSessions<'a>, PeerDecodeError> {
        if bytes.len() % TOUCHED_SESSION_BYTES != 0 {
            return Err(PeerDecodeError::BadSessionList(bytes.len()));
        }
        Ok(TouchedSessions { bytes })
    }

    /// Writes entries from `entries` into `buf` while a whole entry still fits, and views
    /// what was written.
    ///
    /// Stops before taking an entry it has no room for, so nothing is lost: whatever
    /// `entries` still yields goes into the next PING reply. Size `buf` from the frame
    /// bound to fit as many as one frame can carry.
    pub fn fill<I>(entries: &mut I, buf: &'a mut [u8]) -> TouchedSessions<'a>
    where
        I: Iterator<Item = (SessionId, u32)>,
    {
        let mut written = 0;
        for slot in buf.chunks_exact_mut(TOUCHED_SESSION_BYTES) {
            let Some((session, timeout_ms)) = entries.next() else {
                break;
            };
            if let Some((id, rest)) = slot.split_first_chunk_mut::<8>() {
                *id = session.0.to_be_bytes();
                if let Some(timeout) = rest.first_chunk_mut::<4>() {
                    *timeout = timeout_ms.to_be_bytes();
                }
            }
            written += TOUCHED_SESSION_BYTES;
        }
        let buf: &'a [u8] = buf;
        TouchedSessions { bytes: buf.get(..written).unwrap_or_default() }
    }

    /// The encoded entries.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.bytes.len() / TOUCHED_SESSION_BYTES
    }

    /// True when no session was touched.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The (session, timeout in ms) entries, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, u32)> + 'a {
        self.bytes.chunks_exact(TOUCHED_SESSION_BYTES).filter_map(|entry| {
            let (id, rest) = entry.split_first_chunk::<8>()?;
            let (timeout, _) = rest.split_first_chunk::<4>()?;
            Some((SessionId(i64::from_be_bytes(*id)), u32::from_be_bytes(*timeout)))
        })
    }
}
