//! Messages between servers of one ensemble, and their wire encoding.
//!
//! Election and ZAB state machines deal in [`PeerMessage`] values; this module alone maps
//! them to bytes, so another encoding (ZooKeeper's own quorum protocol, say) could be added
//! beside it without touching them. herd's encoding is its own (ARCHITECTURE.md, "Peer
//! ports"): each frame is
//!
//! ```text
//! [u32 big-endian length][u8 version][postcard payload]
//! ```
//!
//! where `length` counts the bytes after the prefix (version byte included). A stream is
//! read by taking 4 bytes, calling [`frame_len`] (which enforces the bound), reading that
//! many bytes and calling [`decode_frame`]. Every decode failure is a [`PeerDecodeError`]
//! whose `Display` says what was wrong: the shell logs it and drops that peer.
//!
//! Decoding proves only that the bytes are well formed. Before acting on a value, ZAB
//! checks what the bytes claim ([`check_zxid_claim`], [`decode_txn`]): a peer sending
//! garbage or an impossible zxid is disconnected and logged, never trusted.

mod touched;
mod wire;

#[cfg(test)]
mod tests;

use core::fmt;

use crate::election::Notification;
use crate::ids::{SessionId, Xid};
use crate::limits::Limits;
use crate::quorum::{LearnerType, ServerId};
use crate::txn::Txn;
use crate::zxid::Zxid;

pub use touched::{TouchedSessions, TOUCHED_SESSION_BYTES};

/// Version byte of every peer frame; bumped on any incompatible change of the payload.
///
/// A peer speaking another version is refused at its first frame rather than misread.
pub const PEER_FORMAT_VERSION: u8 = 1;

/// Bytes of the length prefix.
pub const FRAME_PREFIX_BYTES: usize = 4;

/// Bytes before the postcard payload: the prefix and the version byte.
pub const FRAME_HEADER_BYTES: usize = FRAME_PREFIX_BYTES + 1;

/// Room a frame needs beyond two client packets: message tags, zxids, session ids, varint
/// lengths, and the auth ids a forwarded request carries (bounded per connection by
/// `auth_ids_per_connection_max`, each an id string far below this).
pub const PEER_FRAME_SLACK_BYTES: usize = 64 * 1024;

/// The largest frame body (bytes after the prefix) a peer may send, given the replica's
/// limits.
///
/// The largest messages carry what a client sent: a forwarded REQUEST (one client packet,
/// at most `packet_bytes_max`, plus the connection's auth ids), and a PROPOSAL/INFORM of the
/// txn it became (data plus path and an ACL list that `auth` expansion can grow). Twice a
/// packet plus [`PEER_FRAME_SLACK_BYTES`] covers both, as snapshot records are sized too.
/// Every server of an ensemble must use the same `jute.maxbuffer`.
pub const fn frame_bytes_max(limits: &Limits) -> usize {
    (limits.packet_bytes_max as usize).saturating_mul(2).saturating_add(PEER_FRAME_SLACK_BYTES)
}

/// [`frame_bytes_max`] for ZooKeeper's default `jute.maxbuffer` ([`Limits::SERVER`]).
pub const PEER_FRAME_BYTES_MAX: usize = frame_bytes_max(&Limits::SERVER);

// The default bound leaves room for client data beyond the slack, and the u32 prefix can
// express it (so every frame the bound admits can be sent).
const _: () = assert!(PEER_FRAME_BYTES_MAX > PEER_FRAME_SLACK_BYTES);
const _: () = assert!(PEER_FRAME_BYTES_MAX as u64 <= u32::MAX as u64);

/// The ZAB protocol version a learner announces in FOLLOWERINFO and a leader in LEADERINFO
/// (ZooKeeper 3.4 and later send `0x10000`).
pub const ZAB_PROTOCOL_VERSION: u32 = 0x10000;

/// One message between servers, as typed values (reference §12.1 and §13.2).
///
/// Byte fields borrow from the frame they were decoded from, so decoding allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMessage<'a> {
    /// First frame on every peer connection, either port: who is connecting
    /// (ZooKeeper's connection-initial sid; the shell attributes later frames to it).
    Hello {
        /// The connecting server.
        server: ServerId,
    },
    /// Election port: a FastLeaderElection notification (§12.1).
    Notification(Notification),
    /// FOLLOWERINFO / OBSERVERINFO (11/16): a learner connects, announcing its accepted epoch.
    FollowerInfo {
        /// The learner's `acceptedEpoch` (ZooKeeper sends it as `acceptedEpoch << 32`).
        accepted_epoch: u32,
        /// The learner's ZAB protocol version ([`ZAB_PROTOCOL_VERSION`]).
        protocol_version: u32,
        /// Follower (participant) or observer.
        role: LearnerType,
    },
    /// LEADERINFO (17): the leader proposes the new epoch.
    LeaderInfo {
        /// The proposed epoch (ZooKeeper sends it as `newEpoch << 32`).
        new_epoch: u32,
        /// The leader's ZAB protocol version.
        protocol_version: u32,
    },
    /// ACKEPOCH (18): a learner accepts the new epoch and reports its history.
    AckEpoch {
        /// The learner's `currentEpoch`; `None` (ZooKeeper's −1) when it had already
        /// accepted this epoch, which does not count as an epoch ack.
        current_epoch: Option<u32>,
        /// The learner's last logged zxid.
        last_logged_zxid: Zxid,
    },
    /// NEWLEADER (10): end of sync data; the learner persists and must ACK it.
    NewLeader {
        /// `newEpoch << 32`.
        zxid: Zxid,
    },
    /// UPTODATE (12): a quorum acked NEWLEADER; the learner starts serving clients.
    UpToDate,
    /// DIFF (13): sync by replaying the PROPOSAL/COMMIT pairs that follow.
    Diff {
        /// The leader's last committed zxid.
        zxid: Zxid,
    },
    /// TRUNC (14): truncate the log to `zxid`, then (maybe) replay what follows.
    Trunc {
        /// The last zxid the learner keeps.
        zxid: Zxid,
    },
    /// SNAP (15): a full snapshot follows, as [`PeerMessage::SnapChunk`]s.
    Snap {
        /// The zxid the snapshot covers.
        zxid: Zxid,
    },
    /// A piece of the snapshot announced by SNAP (ZooKeeper streams it raw after SNAP).
    SnapChunk {
        /// Whole snapshot records, as the storage format encodes them.
        bytes: &'a [u8],
        /// True on the snapshot's final chunk.
        last: bool,
    },
    /// PROPOSAL (2): a txn for followers to log and ACK.
    Proposal {
        /// The txn's zxid.
        zxid: Zxid,
        /// The postcard-encoded [`Txn`] (see [`decode_txn`]).
        txn: &'a [u8],
    },
    /// ACK (3): the follower logged `zxid` durably (also acks NEWLEADER and UPTODATE).
    Ack {
        /// The acked zxid.
        zxid: Zxid,
    },
    /// COMMIT (4): `zxid`, already held by the follower, is committed.
    Commit {
        /// The committed zxid.
        zxid: Zxid,
    },
    /// INFORM (8): a committed txn in full, for observers (which get no PROPOSAL/COMMIT).
    Inform {
        /// The txn's zxid.
        zxid: Zxid,
        /// The postcard-encoded [`Txn`].
        txn: &'a [u8],
    },
    /// PING (5), leader to learner: a liveness probe the learner must answer.
    Ping,
    /// PING (5), learner to leader: the answer, with the sessions its clients touched.
    PingReply {
        /// (session, timeout) pairs for the leader to touch.
        sessions: TouchedSessions<'a>,
    },
    /// REVALIDATE (6), learner to leader: is this session still valid (a client reconnected)?
    Revalidate {
        /// The session the client presented.
        session: SessionId,
        /// Its negotiated timeout.
        timeout_ms: u32,
    },
    /// REVALIDATE (6), leader to learner: the answer; a valid session is now owned by the learner.
    RevalidateReply {
        /// The session asked about.
        session: SessionId,
        /// Whether it is still alive.
        valid: bool,
    },
    /// REQUEST (1): a client write, sync or global session change forwarded to the leader.
    Request {
        /// The client's session.
        session: SessionId,
        /// The client's xid, echoed in its reply.
        cxid: Xid,
        /// The jute opcode.
        opcode: i32,
        /// The jute request record, as the client sent it (no request header).
        body: &'a [u8],
        /// The connection's auth ids, as the learner encodes them.
        auth: &'a [u8],
    },
    /// SYNC (7), leader to learner: the forwarded sync `(session, cxid)` may be released;
    /// every write committed before the leader saw it has been sent.
    SyncReply {
        /// The session that issued the sync.
        session: SessionId,
        /// Its xid.
        cxid: Xid,
    },
    /// Leader to learner (herd's own): the answer to a REQUEST, as the reply frame the
    /// leader built, sent after the COMMIT of the txn it answers so the learner has applied
    /// it first. ZooKeeper's learners rebuild replies from the committed txn instead.
    Reply {
        /// The session whose request this answers.
        session: SessionId,
        /// The whole client reply frame, length prefix included.
        frame: &'a [u8],
    },
}

impl PeerMessage<'_> {
    /// The ZooKeeper packet name, for logs (`Hello` and `SnapChunk` are herd's own).
    pub fn name(&self) -> &'static str {
        match self {
            PeerMessage::Hello { .. } => "HELLO",
            PeerMessage::Notification(_) => "NOTIFICATION",
            PeerMessage::FollowerInfo { role: LearnerType::Participant, .. } => "FOLLOWERINFO",
            PeerMessage::FollowerInfo { role: LearnerType::Observer, .. } => "OBSERVERINFO",
            PeerMessage::LeaderInfo { .. } => "LEADERINFO",
            PeerMessage::AckEpoch { .. } => "ACKEPOCH",
            PeerMessage::NewLeader { .. } => "NEWLEADER",
            PeerMessage::UpToDate => "UPTODATE",
            PeerMessage::Diff { .. } => "DIFF",
            PeerMessage::Trunc { .. } => "TRUNC",
            PeerMessage::Snap { .. } => "SNAP",
            PeerMessage::SnapChunk { .. } => "SNAPCHUNK",
            PeerMessage::Proposal { .. } => "PROPOSAL",
            PeerMessage::Ack { .. } => "ACK",
            PeerMessage::Commit { .. } => "COMMIT",
            PeerMessage::Inform { .. } => "INFORM",
            PeerMessage::Ping => "PING",
            PeerMessage::PingReply { .. } => "PINGREPLY",
            PeerMessage::Revalidate { .. } => "REVALIDATE",
            PeerMessage::RevalidateReply { .. } => "REVALIDATEREPLY",
            PeerMessage::Request { .. } => "REQUEST",
            PeerMessage::SyncReply { .. } => "SYNC",
            PeerMessage::Reply { .. } => "REPLY",
        }
    }
}

impl fmt::Display for PeerMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            PeerMessage::Hello { server } => write!(f, " sid={server}"),
            PeerMessage::Notification(n) => write!(f, " {n}"),
            PeerMessage::FollowerInfo { accepted_epoch, protocol_version, .. } => {
                write!(f, " accepted_epoch={accepted_epoch} protocol=0x{protocol_version:x}")
            }
            PeerMessage::LeaderInfo { new_epoch, protocol_version } => {
                write!(f, " new_epoch={new_epoch} protocol=0x{protocol_version:x}")
            }
            PeerMessage::AckEpoch { current_epoch, last_logged_zxid } => match current_epoch {
                Some(e) => write!(f, " current_epoch={e} last_zxid={last_logged_zxid}"),
                None => write!(f, " current_epoch=-1 last_zxid={last_logged_zxid}"),
            },
            PeerMessage::NewLeader { zxid }
            | PeerMessage::Diff { zxid }
            | PeerMessage::Trunc { zxid }
            | PeerMessage::Snap { zxid }
            | PeerMessage::Ack { zxid }
            | PeerMessage::Commit { zxid } => write!(f, " zxid={zxid}"),
            PeerMessage::SnapChunk { bytes, last } => {
                write!(f, " {}B last={last}", bytes.len())
            }
            PeerMessage::Proposal { zxid, txn } | PeerMessage::Inform { zxid, txn } => {
                write!(f, " zxid={zxid} txn={}B", txn.len())
            }
            PeerMessage::UpToDate | PeerMessage::Ping => Ok(()),
            PeerMessage::PingReply { sessions } => write!(f, " sessions={}", sessions.len()),
            PeerMessage::Revalidate { session, timeout_ms } => write!(f, " session={session} timeout={timeout_ms}ms"),
            PeerMessage::RevalidateReply { session, valid } => {
                write!(f, " session={session} valid={valid}")
            }
            PeerMessage::Request { session, cxid, opcode, body, auth } => {
                write!(f, " session={session} cxid={} op={opcode} body={}B auth={}B", cxid.0, body.len(), auth.len())
            }
            PeerMessage::SyncReply { session, cxid } => {
                write!(f, " session={session} cxid={}", cxid.0)
            }
            PeerMessage::Reply { session, frame } => write!(f, " session={session} frame={}B", frame.len()),
        }
    }
}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerEncodeError {
    /// The output buffer cannot hold the frame. Size it as [`FRAME_PREFIX_BYTES`] plus
    /// [`frame_bytes_max`]: a message that does not fit would be refused by its receiver.
    BufferTooSmall,
}

impl fmt::Display for PeerEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerEncodeError::BufferTooSmall => f.write_str("peer frame does not fit the buffer"),
        }
    }
}

/// Why bytes from a peer were refused; any of these ends that peer's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerDecodeError {
    /// The length prefix is zero: a frame holds at least its version byte.
    Empty,
    /// The length prefix exceeds the bound.
    TooLong {
        /// The announced body length.
        len: u32,
        /// The bound it broke.
        max: usize,
    },
    /// The frame's version byte is not [`PEER_FORMAT_VERSION`].
    BadVersion(u8),
    /// The payload ended inside a message.
    Truncated,
    /// The payload is not a message of this version (unknown tag, bad varint, bad bool…).
    Undecodable,
    /// A whole message followed by this many extra bytes.
    TrailingBytes(usize),
    /// A touched-sessions list of this many bytes, not a whole number of entries.
    BadSessionList(usize),
    /// A zxid from an epoch the receiver knows not to exist yet, or with a counter no
    /// leader issues.
    ImpossibleZxid {
        /// What the peer claimed.
        zxid: Zxid,
        /// The highest epoch the receiver accepts.
        epoch_bound: u32,
    },
    /// The txn bytes of a PROPOSAL/INFORM do not decode, or name another zxid.
    BadTxn {
        /// The zxid of the message that carried them.
        zxid: Zxid,
    },
}

impl fmt::Display for PeerDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerDecodeError::Empty => f.write_str("peer frame of length 0 (no version byte)"),
            PeerDecodeError::TooLong { len, max } => {
                write!(f, "peer frame of {len} bytes exceeds the {max}-byte bound")
            }
            PeerDecodeError::BadVersion(v) => {
                write!(f, "peer frame version {v}, expected {PEER_FORMAT_VERSION}")
            }
            PeerDecodeError::Truncated => f.write_str("peer message truncated"),
            PeerDecodeError::Undecodable => f.write_str("peer message undecodable"),
            PeerDecodeError::TrailingBytes(n) => {
                write!(f, "peer frame has {n} trailing bytes after the message")
            }
            PeerDecodeError::BadSessionList(n) => {
                write!(f, "touched-sessions list of {n} bytes is not a multiple of {TOUCHED_SESSION_BYTES}")
            }
            PeerDecodeError::ImpossibleZxid { zxid, epoch_bound } => {
                write!(f, "peer claimed zxid {zxid}, impossible with epoch bound {epoch_bound}")
            }
            PeerDecodeError::BadTxn { zxid } => {
                write!(f, "peer txn for zxid {zxid} is undecodable or names another zxid")
            }
        }
    }
}

/// Encodes `msg` as one frame (prefix, version, payload) at the start of `buf`; returns the
/// frame's total length in bytes.
pub fn encode_frame(msg: &PeerMessage<'_>, buf: &mut [u8]) -> Result<usize, PeerEncodeError> {
    let payload = buf.get_mut(FRAME_HEADER_BYTES..).ok_or(PeerEncodeError::BufferTooSmall)?;
    let payload_len =
        postcard::to_slice(&wire::Wire::from(msg), payload).map_err(|_| PeerEncodeError::BufferTooSmall)?.len();
    let body_len = payload_len + 1;
    // A frame whose length the prefix cannot express could never be received.
    let prefix = u32::try_from(body_len).map_err(|_| PeerEncodeError::BufferTooSmall)?;
    let header = buf.get_mut(..FRAME_HEADER_BYTES).ok_or(PeerEncodeError::BufferTooSmall)?;
    if let Some((len, version)) = header.split_first_chunk_mut::<FRAME_PREFIX_BYTES>() {
        *len = prefix.to_be_bytes();
        if let Some(v) = version.first_mut() {
            *v = PEER_FORMAT_VERSION;
        }
    }
    Ok(FRAME_PREFIX_BYTES + body_len)
}

/// Reads a length prefix: how many bytes of frame body follow it (version byte included).
///
/// Refuses zero and anything over `frame_bytes_max` (normally [`frame_bytes_max`] of the
/// replica's limits) before the shell reserves room for the body.
pub fn frame_len(prefix: [u8; FRAME_PREFIX_BYTES], frame_bytes_max: usize) -> Result<usize, PeerDecodeError> {
    let len = u32::from_be_bytes(prefix);
    if len == 0 {
        return Err(PeerDecodeError::Empty);
    }
    match usize::try_from(len) {
        Ok(n) if n <= frame_bytes_max => Ok(n),
        _ => Err(PeerDecodeError::TooLong { len, max: frame_bytes_max }),
    }
}

/// Decodes one frame body (the bytes after the prefix: version byte, then payload).
///
/// Checks the version, then decodes exactly one message; leftover bytes are an error, so a
/// peer cannot smuggle data past the decoder.
pub fn decode_frame(body: &[u8]) -> Result<PeerMessage<'_>, PeerDecodeError> {
    let (&version, payload) = body.split_first().ok_or(PeerDecodeError::Empty)?;
    if version != PEER_FORMAT_VERSION {
        return Err(PeerDecodeError::BadVersion(version));
    }
    let (msg, rest) = postcard::take_from_bytes::<wire::Wire<'_>>(payload).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => PeerDecodeError::Truncated,
        _ => PeerDecodeError::Undecodable,
    })?;
    if !rest.is_empty() {
        return Err(PeerDecodeError::TrailingBytes(rest.len()));
    }
    msg.into_message()
}

/// Checks a zxid a peer claims (a last logged zxid, a TRUNC or DIFF point, a proposal)
/// against the highest epoch the receiver knows can exist.
///
/// `epoch_bound` is what the receiver knows: a leader passes the epoch it is establishing
/// (no learner can have logged a later one), a follower the epoch it acknowledged. A zxid
/// of a later epoch, or with the all-ones counter that no leader issues (it re-elects
/// before the counter rolls over, §13.1), is impossible and the peer is not trusted.
pub fn check_zxid_claim(claimed: Zxid, epoch_bound: u32) -> Result<(), PeerDecodeError> {
    if claimed.epoch() > epoch_bound || claimed.counter() == u32::MAX {
        return Err(PeerDecodeError::ImpossibleZxid { zxid: claimed, epoch_bound });
    }
    Ok(())
}

/// Decodes the txn carried by a PROPOSAL or INFORM for `zxid`, refusing bytes that are not
/// a txn or that name a different zxid than the message.
pub fn decode_txn(zxid: Zxid, txn: &[u8]) -> Result<Txn<'_>, PeerDecodeError> {
    // Whole bytes must be one txn: trailing bytes would be data the log never replays.
    match postcard::take_from_bytes::<Txn<'_>>(txn) {
        Ok((t, rest)) if rest.is_empty() && t.zxid == zxid => Ok(t),
        _ => Err(PeerDecodeError::BadTxn { zxid }),
    }
}
