//! Frames: the 4-byte length prefix (reference sections 1.1, 11.1) and whole-frame encoders.

use core::fmt;

use super::connect::{ConnectRequest, ConnectResponse};
use super::error::EncodeError;
use super::error_code::ErrorCode;
use super::header::{ReplyHeader, RequestHeader};
use super::watcher::{EventType, KeeperState, WatcherEvent};
use super::wire::{Slot, Writer};
use super::Encode;

/// Bytes of the frame length prefix, which does not count itself.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// The four-letter admin words ZooKeeper recognises as the first bytes of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// `conf`: server configuration.
    Conf,
    /// `cons`: connections.
    Cons,
    /// `crst`: reset connection statistics.
    Crst,
    /// `dirs`: snapshot and log sizes.
    Dirs,
    /// `dump`: sessions and ephemerals.
    Dump,
    /// `envi`: environment.
    Envi,
    /// `gtmk`: trace mask.
    Gtmk,
    /// `ruok`: liveness (`imok`).
    Ruok,
    /// `stmk`: set trace mask.
    Stmk,
    /// `srvr`: server summary.
    Srvr,
    /// `srst`: reset server statistics.
    Srst,
    /// `stat`: summary and connections.
    Stat,
    /// `wchc`: watches by session.
    Wchc,
    /// `wchp`: watches by path.
    Wchp,
    /// `wchs`: watch summary.
    Wchs,
    /// `mntr`: metrics.
    Mntr,
    /// `isro`: read-only mode (`ro`/`rw`).
    Isro,
    /// `hash`: digest history.
    Hash,
}

impl FourLetterWord {
    /// Every word, in ZooKeeper's documentation order.
    pub const ALL: [FourLetterWord; 18] = [
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Ruok,
        FourLetterWord::Stmk,
        FourLetterWord::Srvr,
        FourLetterWord::Srst,
        FourLetterWord::Stat,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Hash,
    ];

    /// The word as sent (lower case).
    pub const fn as_bytes(self) -> &'static [u8; 4] {
        match self {
            FourLetterWord::Conf => b"conf",
            FourLetterWord::Cons => b"cons",
            FourLetterWord::Crst => b"crst",
            FourLetterWord::Dirs => b"dirs",
            FourLetterWord::Dump => b"dump",
            FourLetterWord::Envi => b"envi",
            FourLetterWord::Gtmk => b"gtmk",
            FourLetterWord::Ruok => b"ruok",
            FourLetterWord::Stmk => b"stmk",
            FourLetterWord::Srvr => b"srvr",
            FourLetterWord::Srst => b"srst",
            FourLetterWord::Stat => b"stat",
            FourLetterWord::Wchc => b"wchc",
            FourLetterWord::Wchp => b"wchp",
            FourLetterWord::Wchs => b"wchs",
            FourLetterWord::Mntr => b"mntr",
            FourLetterWord::Isro => b"isro",
            FourLetterWord::Hash => b"hash",
        }
    }

    /// The word as text, for whitelists and logs.
    pub fn as_str(self) -> &'static str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("????")
    }

    /// The word these four bytes spell, if any (exact lower case, as ZooKeeper compares).
    pub fn from_bytes(bytes: [u8; 4]) -> Option<FourLetterWord> {
        FourLetterWord::ALL.into_iter().find(|w| *w.as_bytes() == bytes)
    }
}

impl fmt::Display for FourLetterWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the first 4 bytes of a frame mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// A four-letter word (only meaningful before the handshake).
    FourLetter(FourLetterWord),
    /// A frame of this many bytes follows.
    Length(u32),
    /// Negative or over `jute.maxbuffer`: close the connection without a reply.
    Invalid(i32),
}

/// Classifies the first 4 bytes of a connection that has not completed its handshake.
pub fn classify_prefix(first4: [u8; 4], max_packet: u32) -> Prefix {
    match FourLetterWord::from_bytes(first4) {
        Some(word) => Prefix::FourLetter(word),
        None => classify_length(first4, max_packet),
    }
}

/// Classifies a length prefix once the handshake is done (four-letter words are then just
/// lengths, and all of them exceed any sane `jute.maxbuffer`).
pub fn classify_length(first4: [u8; 4], max_packet: u32) -> Prefix {
    let len = i32::from_be_bytes(first4);
    match u32::try_from(len) {
        Ok(n) if n <= max_packet => Prefix::Length(n),
        _ => Prefix::Invalid(len),
    }
}

/// Writes one length-prefixed frame: reserves the prefix, takes records, then patches the
/// length in [`FrameWriter::finish`].
#[derive(Debug)]
pub struct FrameWriter<'a> {
    w: Writer<'a>,
    prefix: Slot,
}

impl<'a> FrameWriter<'a> {
    /// Starts a frame at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Result<FrameWriter<'a>, EncodeError> {
        let mut w = Writer::new(buf);
        let prefix = w.reserve_i32()?;
        Ok(FrameWriter { w, prefix })
    }

    /// The writer for the payload, for records written piece by piece.
    pub fn writer(&mut self) -> &mut Writer<'a> {
        &mut self.w
    }

    /// Appends a record to the payload.
    pub fn put<E: Encode + ?Sized>(&mut self, rec: &E) -> Result<&mut FrameWriter<'a>, EncodeError> {
        rec.encode(&mut self.w)?;
        Ok(self)
    }

    /// Patches the length prefix; returns the frame's total bytes, prefix included.
    pub fn finish(mut self) -> Result<usize, EncodeError> {
        let total = self.w.position();
        let payload = total.saturating_sub(LENGTH_PREFIX_LEN);
        self.w.patch_i32(self.prefix, i32::try_from(payload).map_err(|_| EncodeError::TooLong)?)?;
        Ok(total)
    }
}

/// Writes a reply frame: ReplyHeader, then `body` (pass `&()` for none, as for every error).
pub fn encode_reply<B: Encode + ?Sized>(buf: &mut [u8], header: &ReplyHeader, body: &B) -> Result<usize, EncodeError> {
    let mut f = FrameWriter::new(buf)?;
    f.put(header)?;
    let body_start = f.writer().position();
    f.put(body)?;
    // Clients read no body after a non-zero err, so one here would desynchronise the stream.
    debug_assert!(header.err == ErrorCode::Ok || f.writer().position() == body_start, "an error reply carries no body");
    f.finish()
}

/// Writes a watch notification frame: `ReplyHeader{-1, -1, 0}` + WatcherEvent with state
/// SyncConnected, as a 3.8 server sends it.
pub fn encode_notification(buf: &mut [u8], event_type: EventType, path: &[u8]) -> Result<usize, EncodeError> {
    let event = WatcherEvent { event_type, state: KeeperState::SyncConnected, path };
    encode_reply(buf, &ReplyHeader::NOTIFICATION, &event)
}

/// Writes the handshake reply frame.
pub fn encode_connect_response(buf: &mut [u8], resp: &ConnectResponse<'_>) -> Result<usize, EncodeError> {
    let mut f = FrameWriter::new(buf)?;
    f.put(resp)?;
    f.finish()
}

/// Writes a request frame (client side): RequestHeader, then `body`.
pub fn encode_request<B: Encode + ?Sized>(
    buf: &mut [u8],
    header: &RequestHeader,
    body: &B,
) -> Result<usize, EncodeError> {
    let mut f = FrameWriter::new(buf)?;
    f.put(header)?.put(body)?;
    f.finish()
}

/// Writes the handshake request frame (client side).
pub fn encode_connect_request(buf: &mut [u8], req: &ConnectRequest<'_>) -> Result<usize, EncodeError> {
    let mut f = FrameWriter::new(buf)?;
    f.put(req)?;
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, Xid};
    use crate::jute::records::StatResponse;
    use crate::jute::{decode_request, OpCode, PathWatchRequest, Request};
    use crate::stat::Stat;

    #[test]
    fn prefixes() {
        assert_eq!(classify_prefix(*b"ruok", 0xfffff), Prefix::FourLetter(FourLetterWord::Ruok));
        assert_eq!(classify_prefix(*b"mntr", u32::MAX), Prefix::FourLetter(FourLetterWord::Mntr));
        assert_eq!(
            classify_prefix(*b"RUOK", 0xfffff),
            Prefix::Invalid(0x5255_4f4b),
            "case matters, and it is too long"
        );
        assert_eq!(classify_prefix([0, 0, 0, 0], 0xfffff), Prefix::Length(0));
        assert_eq!(classify_prefix([0, 0x0f, 0xff, 0xff], 0xfffff), Prefix::Length(0xfffff));
        assert_eq!(classify_prefix([0, 0x10, 0, 0], 0xfffff), Prefix::Invalid(0x10_0000));
        assert_eq!(classify_prefix([0xff; 4], 0xfffff), Prefix::Invalid(-1));
        assert_eq!(classify_length(*b"stat", u32::MAX), Prefix::Length(0x7374_6174));
        for w in FourLetterWord::ALL {
            assert_eq!(FourLetterWord::from_bytes(*w.as_bytes()), Some(w));
        }
        assert_eq!(FourLetterWord::Wchp.as_str(), "wchp");
    }

    #[test]
    fn reply_frames() {
        let mut buf = [0u8; 128];
        let hdr = ReplyHeader { xid: Xid(1), zxid: 5, err: ErrorCode::Ok };
        let n = encode_reply(&mut buf, &hdr, &StatResponse { stat: Stat::default() }).unwrap();
        assert_eq!(n, 4 + 16 + 68);
        assert_eq!(buf[..4], [0, 0, 0, 84]);
        let n =
            encode_reply(&mut buf, &ReplyHeader { xid: Xid(3), zxid: -1, err: ErrorCode::Unimplemented }, &()).unwrap();
        assert_eq!(
            buf[..n],
            [0, 0, 0, 16, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa]
        );
        assert_eq!(encode_reply(&mut buf[..19], &hdr, &()), Err(EncodeError::BufferFull));
    }

    #[test]
    fn notification_frame() {
        let mut buf = [0u8; 64];
        let n = encode_notification(&mut buf, EventType::NodeDeleted, b"/a").unwrap();
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 30,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
            0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, b'/', b'a',
        ];
        assert_eq!(buf[..n], expected);
    }

    #[test]
    fn connect_and_request_frames() {
        let mut buf = [0u8; 64];
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 4000,
            session_id: SessionId(1),
            passwd: &[1; 16],
            read_only: None,
        };
        let n = encode_connect_response(&mut buf, &resp).unwrap();
        assert_eq!((n, buf[..4] == [0, 0, 0, 36]), (40, true));
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: SessionId(0),
            passwd: &[0; 16],
            read_only: Some(false),
        };
        let n = encode_connect_request(&mut buf, &req).unwrap();
        assert_eq!(n, 49);
        let n = encode_request(
            &mut buf,
            &RequestHeader { xid: Xid(1), op: OpCode::Exists },
            &PathWatchRequest { path: b"/", watch: true },
        )
        .unwrap();
        assert_eq!(
            decode_request(&buf[4..n]),
            Ok((Xid(1), Request::Exists(PathWatchRequest { path: b"/", watch: true })))
        );
        assert_eq!(FrameWriter::new(&mut buf[..3]).err(), Some(EncodeError::BufferFull));
    }
}
