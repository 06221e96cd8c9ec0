//! herd's peer payload: the postcard image of [`PeerMessage`].
//!
//! A private mirror of the public types, so that the bytes are defined here alone: the core
//! types may gain derives or reorder fields without silently changing the format. Postcard
//! writes an enum's variant index as a varint and fields in declaration order, so **the
//! order of variants and fields below is the format**; changing it needs a new
//! [`super::PEER_FORMAT_VERSION`].
//!
//! Postcard accepts over-long varints, so one message may arrive as different byte
//! strings: compare decoded messages, never frames.

use serde::{Deserialize, Serialize};

use crate::election::{Notification, ServerState};
use crate::ids::{SessionId, Xid};
use crate::quorum::{LearnerType, ServerId};
use crate::zxid::Zxid;

use super::{PeerDecodeError, PeerMessage, TouchedSessions};

/// [`ServerState`] on the wire (ZooKeeper's numbering, LOOKING 0 … OBSERVING 3).
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(super) enum State {
    Looking,
    Following,
    Leading,
    Observing,
}

/// [`LearnerType`] on the wire.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(super) enum Role {
    Participant,
    Observer,
}

/// One payload; see [`PeerMessage`] for the meaning of each variant.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(super) enum Wire<'a> {
    Hello { server: u64 },
    Notification { state: State, leader: u64, zxid: u64, election_epoch: u64, peer_epoch: u32 },
    FollowerInfo { accepted_epoch: u32, protocol_version: u32, role: Role },
    LeaderInfo { new_epoch: u32, protocol_version: u32 },
    AckEpoch { current_epoch: Option<u32>, last_logged_zxid: u64 },
    NewLeader { zxid: u64 },
    UpToDate,
    Diff { zxid: u64 },
    Trunc { zxid: u64 },
    Snap { zxid: u64 },
    SnapChunk { bytes: &'a [u8], last: bool },
    Proposal { zxid: u64, txn: &'a [u8] },
    Ack { zxid: u64 },
    Commit { zxid: u64 },
    Inform { zxid: u64, txn: &'a [u8] },
    Ping,
    PingReply { sessions: &'a [u8] },
    Revalidate { session: i64, timeout_ms: u32 },
    RevalidateReply { session: i64, valid: bool },
    Request { session: i64, cxid: i32, opcode: i32, body: &'a [u8], auth: &'a [u8] },
    SyncReply { session: i64, cxid: i32 },
    Reply { session: i64, frame: &'a [u8] },
}

impl<'a> From<&PeerMessage<'a>> for Wire<'a> {
    fn from(msg: &PeerMessage<'a>) -> Wire<'a> {
        match *msg {
            PeerMessage::Hello { server } => Wire::Hello { server: server.0 },
            PeerMessage::Notification(n) => Wire::Notification {
                state: match n.state {
                    ServerState::Looking => State::Looking,
                    ServerState::Following => State::Following,
                    ServerState::Leading => State::Leading,
                    ServerState::Observing => State::Observing,
                },
                leader: n.leader.0,
                zxid: n.zxid.0,
                election_epoch: n.election_epoch,
                peer_epoch: n.peer_epoch,
            },
            PeerMessage::FollowerInfo { accepted_epoch, protocol_version, role } => Wire::FollowerInfo {
                accepted_epoch,
                protocol_version,
                role: match role {
                    LearnerType::Participant => Role::Participant,
                    LearnerType::Observer => Role::Observer,
                },
            },
            PeerMessage::LeaderInfo { new_epoch, protocol_version } => Wire::LeaderInfo { new_epoch, protocol_version },
            PeerMessage::AckEpoch { current_epoch, last_logged_zxid } => {
                Wire::AckEpoch { current_epoch, last_logged_zxid: last_logged_zxid.0 }
            }
            PeerMessage::NewLeader { zxid } => Wire::NewLeader { zxid: zxid.0 },
            PeerMessage::UpToDate => Wire::UpToDate,
            PeerMessage::Diff { zxid } => Wire::Diff { zxid: zxid.0 },
            PeerMessage::Trunc { zxid } => Wire::Trunc { zxid: zxid.0 },
            PeerMessage::Snap { zxid } => Wire::Snap { zxid: zxid.0 },
            PeerMessage::SnapChunk { bytes, last } => Wire::SnapChunk { bytes, last },
            PeerMessage::Proposal { zxid, txn } => Wire::Proposal { zxid: zxid.0, txn },
            PeerMessage::Ack { zxid } => Wire::Ack { zxid: zxid.0 },
            PeerMessage::Commit { zxid } => Wire::Commit { zxid: zxid.0 },
            PeerMessage::Inform { zxid, txn } => Wire::Inform { zxid: zxid.0, txn },
            PeerMessage::Ping => Wire::Ping,
            PeerMessage::PingReply { sessions } => Wire::PingReply { sessions: sessions.as_bytes() },
            PeerMessage::Revalidate { session, timeout_ms } => Wire::Revalidate { session: session.0, timeout_ms },
            PeerMessage::RevalidateReply { session, valid } => Wire::RevalidateReply { session: session.0, valid },
            PeerMessage::Request { session, cxid, opcode, body, auth } => {
                Wire::Request { session: session.0, cxid: cxid.0, opcode, body, auth }
            }
            PeerMessage::SyncReply { session, cxid } => Wire::SyncReply { session: session.0, cxid: cxid.0 },
            PeerMessage::Reply { session, frame } => Wire::Reply { session: session.0, frame },
        }
    }
}

impl<'a> Wire<'a> {
    /// The typed message, checking what postcard alone cannot (the session list's shape).
    pub(super) fn into_message(self) -> Result<PeerMessage<'a>, PeerDecodeError> {
        Ok(match self {
            Wire::Hello { server } => PeerMessage::Hello { server: ServerId(server) },
            Wire::Notification { state, leader, zxid, election_epoch, peer_epoch } => {
                PeerMessage::Notification(Notification {
                    state: match state {
                        State::Looking => ServerState::Looking,
                        State::Following => ServerState::Following,
                        State::Leading => ServerState::Leading,
                        State::Observing => ServerState::Observing,
                    },
                    leader: ServerId(leader),
                    zxid: Zxid(zxid),
                    election_epoch,
                    peer_epoch,
                })
            }
            Wire::FollowerInfo { accepted_epoch, protocol_version, role } => PeerMessage::FollowerInfo {
                accepted_epoch,
                protocol_version,
                role: match role {
                    Role::Participant => LearnerType::Participant,
                    Role::Observer => LearnerType::Observer,
                },
            },
            Wire::LeaderInfo { new_epoch, protocol_version } => PeerMessage::LeaderInfo { new_epoch, protocol_version },
            Wire::AckEpoch { current_epoch, last_logged_zxid } => {
                PeerMessage::AckEpoch { current_epoch, last_logged_zxid: Zxid(last_logged_zxid) }
            }
            Wire::NewLeader { zxid } => PeerMessage::NewLeader { zxid: Zxid(zxid) },
            Wire::UpToDate => PeerMessage::UpToDate,
            Wire::Diff { zxid } => PeerMessage::Diff { zxid: Zxid(zxid) },
            Wire::Trunc { zxid } => PeerMessage::Trunc { zxid: Zxid(zxid) },
            Wire::Snap { zxid } => PeerMessage::Snap { zxid: Zxid(zxid) },
            Wire::SnapChunk { bytes, last } => PeerMessage::SnapChunk { bytes, last },
            Wire::Proposal { zxid, txn } => PeerMessage::Proposal { zxid: Zxid(zxid), txn },
            Wire::Ack { zxid } => PeerMessage::Ack { zxid: Zxid(zxid) },
            Wire::Commit { zxid } => PeerMessage::Commit { zxid: Zxid(zxid) },
            Wire::Inform { zxid, txn } => PeerMessage::Inform { zxid: Zxid(zxid), txn },
            Wire::Ping => PeerMessage::Ping,
            Wire::PingReply { sessions } => PeerMessage::PingReply { sessions: TouchedSessions::from_bytes(sessions)? },
            Wire::Revalidate { session, timeout_ms } => {
                PeerMessage::Revalidate { session: SessionId(session), timeout_ms }
            }
            Wire::RevalidateReply { session, valid } => {
                PeerMessage::RevalidateReply { session: SessionId(session), valid }
            }
            Wire::Request { session, cxid, opcode, body, auth } => {
                PeerMessage::Request { session: SessionId(session), cxid: Xid(cxid), opcode, body, auth }
            }
            Wire::SyncReply { session, cxid } => {
                PeerMessage::SyncReply { session: SessionId(session), cxid: Xid(cxid) }
            }
            Wire::Reply { session, frame } => PeerMessage::Reply { session: SessionId(session), frame },
        })
    }
}
