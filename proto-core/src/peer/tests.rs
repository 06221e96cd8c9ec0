//! Pinned frames, round trips of every message, refused input, and property tests.

extern crate std;

use std::string::ToString;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::election::ServerState;
use crate::txn::TxnOp;

// ---------------------------------------------------------------- helpers

const MAX: usize = PEER_FRAME_BYTES_MAX;

fn encode(msg: &PeerMessage<'_>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = encode_frame(msg, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Splits a whole frame as a stream reader would, checking the prefix on the way.
fn decode(frame: &[u8]) -> Result<PeerMessage<'_>, PeerDecodeError> {
    let prefix: [u8; 4] = frame[..4].try_into().unwrap();
    let len = frame_len(prefix, MAX)?;
    assert_eq!(len, frame.len() - 4, "prefix counts the body");
    decode_frame(&frame[4..])
}

/// The same message list the round-trip test walks: one of every variant.
fn every_variant<'a>(sessions: TouchedSessions<'a>) -> Vec<PeerMessage<'a>> {
    std::vec![
        PeerMessage::Hello { server: ServerId(7) },
        PeerMessage::Notification(Notification {
            state: ServerState::Looking,
            leader: ServerId(3),
            zxid: Zxid::new(2, 9),
            election_epoch: 11,
            peer_epoch: 2,
        }),
        PeerMessage::Notification(Notification {
            state: ServerState::Observing,
            leader: ServerId(u64::MAX),
            zxid: Zxid(u64::MAX),
            election_epoch: u64::MAX,
            peer_epoch: u32::MAX,
        }),
        PeerMessage::FollowerInfo {
            accepted_epoch: 4,
            protocol_version: ZAB_PROTOCOL_VERSION,
            role: LearnerType::Participant,
        },
        PeerMessage::FollowerInfo {
            accepted_epoch: 0,
            protocol_version: ZAB_PROTOCOL_VERSION,
            role: LearnerType::Observer,
        },
        PeerMessage::LeaderInfo { new_epoch: 5, protocol_version: ZAB_PROTOCOL_VERSION },
        PeerMessage::AckEpoch { current_epoch: Some(4), last_logged_zxid: Zxid::new(4, 100) },
        PeerMessage::AckEpoch { current_epoch: None, last_logged_zxid: Zxid::ZERO },
        PeerMessage::NewLeader { zxid: Zxid::new(5, 0) },
        PeerMessage::UpToDate,
        PeerMessage::Diff { zxid: Zxid::new(4, 100) },
        PeerMessage::Trunc { zxid: Zxid::new(3, 8) },
        PeerMessage::Snap { zxid: Zxid::new(4, 1) },
        PeerMessage::SnapChunk { bytes: b"records", last: false },
        PeerMessage::SnapChunk { bytes: b"", last: true },
        PeerMessage::Proposal { zxid: Zxid::new(5, 1), txn: b"\x01\x02\x03" },
        PeerMessage::Ack { zxid: Zxid::new(5, 1) },
        PeerMessage::Commit { zxid: Zxid::new(5, 1) },
        PeerMessage::Inform { zxid: Zxid::new(5, 2), txn: b"txn" },
        PeerMessage::Ping,
        PeerMessage::PingReply { sessions },
        PeerMessage::PingReply { sessions: TouchedSessions::EMPTY },
        PeerMessage::Revalidate { session: SessionId(0x0100_0000_0000_0001), timeout_ms: 30_000 },
        PeerMessage::RevalidateReply { session: SessionId(-5), valid: true },
        PeerMessage::Request {
            session: SessionId(9),
            cxid: Xid(-2),
            opcode: 1,
            body: b"\x00\x00\x00\x02/a",
            auth: b"digest:bob",
        },
        PeerMessage::SyncReply { session: SessionId(9), cxid: Xid(i32::MIN) },
        PeerMessage::Reply {
            session: SessionId(-2),
            frame: &[0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0]
        },
    ]
}

fn two_sessions(buf: &mut [u8; 24]) -> TouchedSessions<'_> {
    let mut entries = [(SessionId(1), 4000), (SessionId(-1), u32::MAX)].into_iter();
    TouchedSessions::fill(&mut entries, buf)
}

// ---------------------------------------------------------------- pinned format

#[test]
fn pinned_frames() {
    let cases: &[(PeerMessage<'_>, &[u8])] = &[
        (PeerMessage::Hello { server: ServerId(1) }, &[0, 0, 0, 3, 1, 0x00, 0x01]),
        (
            PeerMessage::Notification(Notification {
                state: ServerState::Following,
                leader: ServerId(3),
                zxid: Zxid(5),
                election_epoch: 2,
                peer_epoch: 1,
            }),
            // tag 1, FOLLOWING 1, leader 3, zxid 5, round 2, peer epoch 1
            &[0, 0, 0, 7, 1, 0x01, 0x01, 0x03, 0x05, 0x02, 0x01],
        ),
        (
            PeerMessage::AckEpoch { current_epoch: None, last_logged_zxid: Zxid(0x7f) },
            &[0, 0, 0, 4, 1, 0x04, 0x00, 0x7f],
        ),
        (
            PeerMessage::AckEpoch { current_epoch: Some(300), last_logged_zxid: Zxid(0x80) },
            // Some, varint 300, varint 0x80
            &[0, 0, 0, 7, 1, 0x04, 0x01, 0xac, 0x02, 0x80, 0x01],
        ),
        (PeerMessage::UpToDate, &[0, 0, 0, 2, 1, 0x06]),
        (
            PeerMessage::Ack { zxid: Zxid::new(1, 2) },
            // varint of 1 << 32 | 2
            &[0, 0, 0, 7, 1, 0x0c, 0x82, 0x80, 0x80, 0x80, 0x10],
        ),
        (
            PeerMessage::Request { session: SessionId(-1), cxid: Xid(5), opcode: 1, body: b"ab", auth: b"" },
            // tag 19, zigzag(-1) = 1, zigzag(5) = 10, zigzag(1) = 2, len 2 "ab", len 0
            &[0, 0, 0, 9, 1, 0x13, 0x01, 0x0a, 0x02, 0x02, b'a', b'b', 0x00],
        ),
        (PeerMessage::SyncReply { session: SessionId(2), cxid: Xid(-3) }, &[0, 0, 0, 4, 1, 0x14, 0x04, 0x05]),
    ];
    for (msg, bytes) in cases {
        assert_eq!(&encode(msg)[..], *bytes, "encoding {msg}");
        assert_eq!(decode(bytes), Ok(*msg), "decoding {bytes:02x?}");
    }
}

#[test]
fn pinned_ping_reply() {
    let mut buf = [0u8; 12];
    let mut one = [(SessionId(0x0102_0304_0506_0708), 4000)].into_iter();
    let sessions = TouchedSessions::fill(&mut one, &mut buf);
    let expected = [0, 0, 0, 15, 1, 0x10, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x00, 0x0f, 0xa0];
    let msg = PeerMessage::PingReply { sessions };
    assert_eq!(encode(&msg), expected);
    let PeerMessage::PingReply { sessions } = decode(&expected).unwrap() else {
        panic!("not a ping reply");
    };
    assert_eq!(sessions.iter().collect::<Vec<_>>(), [(SessionId(0x0102_0304_0506_0708), 4000)]);
}

#[test]
fn every_variant_round_trips() {
    let mut buf = [0u8; 24];
    let msgs = every_variant(two_sessions(&mut buf));
    let mut names = std::collections::BTreeSet::new();
    for msg in &msgs {
        let frame = encode(msg);
        assert_eq!(decode(&frame), Ok(*msg), "{msg}");
        names.insert(msg.name());
    }
    // FOLLOWERINFO and OBSERVERINFO are one variant; every other name is one variant.
    assert_eq!(names.len(), 23);
}

#[test]
fn frame_bound_follows_limits() {
    assert_eq!(PEER_FRAME_BYTES_MAX, 2 * 0xfffff + PEER_FRAME_SLACK_BYTES);
    let small = Limits { packet_bytes_max: 4096, ..Limits::SERVER };
    assert_eq!(frame_bytes_max(&small), 8192 + PEER_FRAME_SLACK_BYTES);
    let huge = Limits { packet_bytes_max: u32::MAX, ..Limits::SERVER };
    assert!(frame_bytes_max(&huge) >= u32::MAX as usize);
}

// ---------------------------------------------------------------- refused input

#[test]
fn length_prefix_is_bounded() {
    assert_eq!(frame_len([0, 0, 0, 0], MAX), Err(PeerDecodeError::Empty));
    assert_eq!(frame_len([0, 0, 0, 1], MAX), Ok(1));
    assert_eq!(frame_len((MAX as u32).to_be_bytes(), MAX), Ok(MAX));
    assert_eq!(
        frame_len((MAX as u32 + 1).to_be_bytes(), MAX),
        Err(PeerDecodeError::TooLong { len: MAX as u32 + 1, max: MAX })
    );
    assert_eq!(frame_len([0xff; 4], 100), Err(PeerDecodeError::TooLong { len: u32::MAX, max: 100 }));
}

#[test]
fn wrong_version_is_refused_before_the_payload() {
    assert_eq!(decode_frame(&[]), Err(PeerDecodeError::Empty));
    assert_eq!(decode_frame(&[0, 0x06]), Err(PeerDecodeError::BadVersion(0)));
    assert_eq!(decode_frame(&[2, 0x06]), Err(PeerDecodeError::BadVersion(2)));
    // Even garbage after a wrong version reports the version.
    assert_eq!(decode_frame(&[9, 0xff]), Err(PeerDecodeError::BadVersion(9)));
}

#[test]
fn every_truncation_is_refused() {
    let mut buf = [0u8; 24];
    for msg in every_variant(two_sessions(&mut buf)) {
        let frame = encode(&msg);
        let body = &frame[4..];
        for cut in 1..body.len() {
            assert_eq!(decode_frame(&body[..cut]), Err(PeerDecodeError::Truncated), "{msg} cut to {cut} bytes");
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut buf = [0u8; 24];
    for msg in every_variant(two_sessions(&mut buf)) {
        let mut body = encode(&msg)[4..].to_vec();
        body.push(0);
        assert_eq!(decode_frame(&body), Err(PeerDecodeError::TrailingBytes(1)), "{msg}");
        body.extend_from_slice(&[1, 2]);
        assert_eq!(decode_frame(&body), Err(PeerDecodeError::TrailingBytes(3)), "{msg}");
    }
}

#[test]
fn malformed_payloads_are_refused() {
    let bad: &[&[u8]] = &[
        // unknown message tag (21 is the last, REPLY)
        &[1, 22],
        &[1, 0x80, 0x01],
        // ServerState 4 does not exist
        &[1, 0x01, 0x04, 0x03, 0x05, 0x02, 0x01],
        // role 2 does not exist
        &[1, 0x02, 0x01, 0x01, 0x02],
        // Option tag 2
        &[1, 0x04, 0x02, 0x00],
        // bool 2 in SNAPCHUNK.last
        &[1, 0x0a, 0x00, 0x02],
        // u32 varint longer than 5 bytes
        &[1, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00],
    ];
    for body in bad {
        assert_eq!(decode_frame(body), Err(PeerDecodeError::Undecodable), "{body:02x?}");
    }
}

#[test]
fn session_list_must_be_whole_entries() {
    // PINGREPLY with a 5-byte list
    assert_eq!(decode_frame(&[1, 0x10, 5, 1, 2, 3, 4, 5]), Err(PeerDecodeError::BadSessionList(5)));
    assert_eq!(TouchedSessions::from_bytes(&[0; 13]), Err(PeerDecodeError::BadSessionList(13)));
    assert_eq!(TouchedSessions::from_bytes(&[0; 24]).map(|s| s.len()), Ok(2));
}

#[test]
fn encode_needs_room_for_the_whole_frame() {
    let msg =
        PeerMessage::Request { session: SessionId(1), cxid: Xid(1), opcode: 1, body: &[7; 100], auth: b"ip:127.0.0.1" };
    let whole = encode(&msg);
    let mut buf = [0u8; 256];
    for size in 0..whole.len() {
        assert_eq!(encode_frame(&msg, &mut buf[..size]), Err(PeerEncodeError::BufferTooSmall), "{size}");
    }
    assert_eq!(encode_frame(&msg, &mut buf[..whole.len()]), Ok(whole.len()));
    assert_eq!(&buf[..whole.len()], &whole[..]);
}

// ---------------------------------------------------------------- touched sessions

#[test]
fn fill_stops_before_an_entry_that_does_not_fit() {
    let all = [(SessionId(1), 10), (SessionId(2), 20), (SessionId(3), 30)];
    let mut entries = all.into_iter();
    let mut buf = [0u8; 2 * TOUCHED_SESSION_BYTES + 11];
    let first = TouchedSessions::fill(&mut entries, &mut buf);
    assert_eq!(first.len(), 2);
    assert_eq!(first.as_bytes().len(), 24);
    assert_eq!(first.iter().collect::<Vec<_>>(), all[..2]);
    // The third entry was not taken: it goes into the next reply.
    let mut buf2 = [0u8; 36];
    let second = TouchedSessions::fill(&mut entries, &mut buf2);
    assert_eq!(second.iter().collect::<Vec<_>>(), all[2..]);
    assert!(TouchedSessions::fill(&mut entries, &mut buf2).is_empty());
}

// ---------------------------------------------------------------- claims

#[test]
fn zxid_claims_beyond_the_epoch_bound_are_impossible() {
    assert_eq!(check_zxid_claim(Zxid::ZERO, 0), Ok(()));
    assert_eq!(check_zxid_claim(Zxid::new(5, 7), 5), Ok(()));
    assert_eq!(check_zxid_claim(Zxid::new(4, u32::MAX - 1), 5), Ok(()));
    assert_eq!(
        check_zxid_claim(Zxid::new(6, 0), 5),
        Err(PeerDecodeError::ImpossibleZxid { zxid: Zxid::new(6, 0), epoch_bound: 5 })
    );
    // No leader issues the all-ones counter.
    assert!(check_zxid_claim(Zxid::new(3, u32::MAX), 5).is_err());
}

#[test]
fn txn_must_decode_and_match_its_zxid() {
    let txn = Txn {
        zxid: Zxid::new(5, 1),
        time_ms: 1_700_000_000_000,
        session: SessionId(9),
        op: TxnOp::Delete { path: b"/a" },
    };
    let mut buf = [0u8; 64];
    let bytes = txn.encode(&mut buf).unwrap().to_vec();
    assert_eq!(decode_txn(Zxid::new(5, 1), &bytes), Ok(txn));
    let wrong = PeerDecodeError::BadTxn { zxid: Zxid::new(5, 2) };
    assert_eq!(decode_txn(Zxid::new(5, 2), &bytes), Err(wrong));
    let bad = Err(PeerDecodeError::BadTxn { zxid: Zxid::new(5, 1) });
    assert_eq!(decode_txn(Zxid::new(5, 1), &bytes[..bytes.len() - 1]), bad);
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode_txn(Zxid::new(5, 1), &longer), bad);
    assert_eq!(decode_txn(Zxid::new(5, 1), &[0xff; 4]), bad);
}

// ---------------------------------------------------------------- display

#[test]
fn errors_and_messages_print_for_logs() {
    assert_eq!(PeerDecodeError::BadVersion(2).to_string(), "peer frame version 2, expected 1");
    assert_eq!(
        PeerDecodeError::TooLong { len: 10, max: 5 }.to_string(),
        "peer frame of 10 bytes exceeds the 5-byte bound"
    );
    assert_eq!(PeerDecodeError::TrailingBytes(3).to_string(), "peer frame has 3 trailing bytes after the message");
    let ack_epoch = PeerMessage::AckEpoch { current_epoch: None, last_logged_zxid: Zxid(0x7f) };
    assert_eq!(ack_epoch.to_string(), "ACKEPOCH current_epoch=-1 last_zxid=0x7f");
    let observer = PeerMessage::FollowerInfo {
        accepted_epoch: 3,
        protocol_version: ZAB_PROTOCOL_VERSION,
        role: LearnerType::Observer,
    };
    assert_eq!(observer.to_string(), "OBSERVERINFO accepted_epoch=3 protocol=0x10000");
    assert_eq!(
        PeerMessage::Proposal { zxid: Zxid::new(1, 1), txn: &[0; 9] }.to_string(),
        "PROPOSAL zxid=0x100000001 txn=9B"
    );
}

// ---------------------------------------------------------------- properties

/// The fields of any message, owned, so a strategy can generate them.
#[derive(Clone, Debug)]
struct Fields {
    kind: u8,
    a: u64,
    b: u64,
    c: u32,
    d: i32,
    flag: bool,
    bytes1: Vec<u8>,
    bytes2: Vec<u8>,
    sessions: Vec<(i64, u32)>,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        0u8..26,
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<i32>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<(i64, u32)>(), 0..8),
    )
        .prop_map(|(kind, a, b, c, d, flag, bytes1, bytes2, sessions)| Fields {
            kind,
            a,
            b,
            c,
            d,
            flag,
            bytes1,
            bytes2,
            sessions,
        })
}

fn build<'a>(f: &'a Fields, sessions: TouchedSessions<'a>) -> PeerMessage<'a> {
    let state = [ServerState::Looking, ServerState::Following, ServerState::Leading, ServerState::Observing]
        [(f.c % 4) as usize];
    let role = if f.flag { LearnerType::Observer } else { LearnerType::Participant };
    let opt = if f.flag { Some(f.c) } else { None };
    match f.kind {
        0 => PeerMessage::Hello { server: ServerId(f.a) },
        1 => PeerMessage::Notification(Notification {
            state,
            leader: ServerId(f.a),
            zxid: Zxid(f.b),
            election_epoch: f.a ^ f.b,
            peer_epoch: f.c,
        }),
        2 => PeerMessage::FollowerInfo { accepted_epoch: f.c, protocol_version: f.d as u32, role },
        3 => PeerMessage::LeaderInfo { new_epoch: f.c, protocol_version: f.d as u32 },
        4 => PeerMessage::AckEpoch { current_epoch: opt, last_logged_zxid: Zxid(f.a) },
        5 => PeerMessage::NewLeader { zxid: Zxid(f.a) },
        6 => PeerMessage::UpToDate,
        7 => PeerMessage::Diff { zxid: Zxid(f.a) },
        8 => PeerMessage::Trunc { zxid: Zxid(f.a) },
        9 => PeerMessage::Snap { zxid: Zxid(f.a) },
        10 => PeerMessage::SnapChunk { bytes: &f.bytes1, last: f.flag },
        11 => PeerMessage::Proposal { zxid: Zxid(f.a), txn: &f.bytes1 },
        12 => PeerMessage::Ack { zxid: Zxid(f.a) },
        13 => PeerMessage::Commit { zxid: Zxid(f.a) },
        14 => PeerMessage::Inform { zxid: Zxid(f.a), txn: &f.bytes1 },
        15 => PeerMessage::Ping,
        16 | 21 => PeerMessage::PingReply { sessions },
        17 => PeerMessage::Revalidate { session: SessionId(f.a as i64), timeout_ms: f.c },
        18 => PeerMessage::RevalidateReply { session: SessionId(f.b as i64), valid: f.flag },
        19 | 22 | 23 => PeerMessage::Request {
            session: SessionId(f.a as i64),
            cxid: Xid(f.d),
            opcode: f.c as i32,
            body: &f.bytes1,
            auth: &f.bytes2,
        },
        _ => PeerMessage::SyncReply { session: SessionId(f.b as i64), cxid: Xid(f.d) },
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        // As a body with the right version (to reach postcard), and as it comes.
        let mut body = std::vec![PEER_FORMAT_VERSION];
        body.extend_from_slice(&bytes);
        let _ = decode_frame(&body);
        let _ = decode_frame(&bytes);
        if let Some(prefix) = bytes.first_chunk::<4>() {
            let _ = frame_len(*prefix, MAX);
        }
    }

    #[test]
    fn damaged_frames_never_panic(
        f in fields(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        // Near-valid input reaches deeper into the decoder than random bytes do.
        let mut list = [0u8; 8 * TOUCHED_SESSION_BYTES];
        let mut entries = f.sessions.iter().map(|&(s, t)| (SessionId(s), t));
        let msg = build(&f, TouchedSessions::fill(&mut entries, &mut list));
        let mut buf = [0u8; 512];
        let n = encode_frame(&msg, &mut buf).unwrap();
        let body = &mut buf[4..n];
        let len = body.len();
        for (at, x) in flips {
            body[at % len] ^= x;
        }
        let body = &body[..=(cut % len)];
        if let Ok(got) = decode_frame(body) {
            // Whatever is accepted is a message that survives its own round trip.
            let mut again = [0u8; 512];
            let m = encode_frame(&got, &mut again).unwrap();
            prop_assert_eq!(decode_frame(&again[4..m]), Ok(got));
        }
    }

    #[test]
    fn encode_then_decode_is_identity(f in fields()) {
        let mut list = [0u8; 8 * TOUCHED_SESSION_BYTES];
        let mut entries = f.sessions.iter().map(|&(s, t)| (SessionId(s), t));
        let sessions = TouchedSessions::fill(&mut entries, &mut list);
        let msg = build(&f, sessions);
        let mut buf = [0u8; 512];
        let n = encode_frame(&msg, &mut buf).unwrap();
        let prefix = *buf.first_chunk::<4>().unwrap();
        prop_assert_eq!(frame_len(prefix, MAX), Ok(n - 4));
        prop_assert_eq!(decode_frame(&buf[4..n]), Ok(msg));
        if let PeerMessage::PingReply { sessions } = msg {
            let back: Vec<_> = sessions.iter().map(|(s, t)| (s.0, t)).collect();
            prop_assert_eq!(back, f.sessions.clone());
        }
    }
}
