//! The replica driven from one thread with fake time and a recording shell.

extern crate std;

use std::vec;
use std::vec::Vec;

use super::*;
use crate::jute::{
    encode_connect_request, encode_request, ConnectRequest, CreateRequest, Decode, GetDataRequest, PathRecord,
    ReplyHeader, RequestHeader, SetDataRequest, WatcherEvent, OPEN_ACL_UNSAFE,
};
use crate::tree::{AclSlot, Node, SessionSlot as EphemeralSlot};

/// What the server emitted, in order.
#[derive(Debug, PartialEq)]
enum Out {
    Send { conn: ConnId, frame: Vec<u8>, after: Zxid },
    Close { conn: ConnId },
    Append { zxid: Zxid },
    Forward { conn: ConnId, session: SessionId, frame: Vec<u8> },
    Sync { conn: ConnId, xid: Xid, path: Vec<u8> },
}

#[derive(Default)]
struct Recorder {
    out: Vec<Out>,
    /// The appended records' bytes, in order.
    records: Vec<Vec<u8>>,
}

impl Effects for Recorder {
    fn send(&mut self, conn: ConnId, frame: &[u8], after: Zxid) {
        self.out.push(Out::Send { conn, frame: frame.to_vec(), after });
    }
    fn close(&mut self, conn: ConnId, _after: Zxid) {
        self.out.push(Out::Close { conn });
    }
    fn append(&mut self, zxid: Zxid, record: &[u8]) {
        self.out.push(Out::Append { zxid });
        self.records.push(record.to_vec());
    }
    fn note(&mut self, _: Note<'_>) {}
    fn forward(&mut self, conn: ConnId, session: SessionId, frame: &[u8]) {
        self.out.push(Out::Forward { conn, session, frame: frame.to_vec() });
    }
    fn sync(&mut self, conn: ConnId, _session: SessionId, xid: Xid, path: &[u8]) {
        self.out.push(Out::Sync { conn, xid, path: path.to_vec() });
    }
}

const LIMITS: Limits = Limits {
    znodes_max: 64,
    data_bytes_max: 1 << 16,
    sessions_max: 8,
    watches_max: 64,
    acl_lists_max: 8,
    connections_max: 8,
    connections_per_ip_max: 0,
    packet_bytes_max: 4096,
    auth_ids_per_connection_max: 4,
};

fn config() -> ServerConfig {
    ServerConfig {
        server_id: 1,
        tick_ms: 2000,
        min_session_timeout_ms: 4000,
        max_session_timeout_ms: 40000,
        extended_types: true,
        super_digest: None,
        container_check_interval_ms: 60_000,
        password_secret: [7; 16],
    }
}

/// A fresh server over leaked test storage (also used by the snapshot tests).
pub(super) fn server() -> Server<'static> {
    let s = ServerStorage::sizes(&LIMITS);
    let leak_u8 = |n: usize| -> &'static mut [u8] { vec![0u8; n].leak() };
    let storage = ServerStorage {
        tree: TreeStorage {
            nodes: vec![Node::EMPTY; s.nodes].leak(),
            index: vec![0u32; s.node_index].leak(),
            bytes: leak_u8(s.node_bytes),
            acls: vec![AclSlot::EMPTY; s.acls].leak(),
            sessions: vec![EphemeralSlot::EMPTY; s.ephemeral_sessions].leak(),
        },
        sessions: vec![SessionSlot::EMPTY; s.sessions].leak(),
        session_index: vec![0u32; s.session_index].leak(),
        watch_slots: vec![WatchSlot::EMPTY; s.watch_slots].leak(),
        watch_index: vec![0u32; s.watch_index].leak(),
        watch_bytes: leak_u8(s.watch_bytes),
        conns: vec![ConnSlot::EMPTY; s.conns].leak(),
        out: leak_u8(s.scratch),
        txn: leak_u8(s.scratch * 2),
        multi: leak_u8(s.scratch * 2),
        overlay: leak_u8(s.scratch * 2),
        path: leak_u8(s.scratch),
        acl: leak_u8(s.scratch),
        event_path: leak_u8(s.scratch),
    };
    Server::new(storage, LIMITS, config(), at(0)).unwrap()
}

pub(super) fn at(ms: u64) -> Now {
    Now { instant: Instant(ms), wall_ms: 1_700_000_000_000 + ms as i64 }
}

/// A frame without its length prefix, as the shell hands it in.
fn body(encoded: (Vec<u8>, usize)) -> Vec<u8> {
    encoded.0[4..encoded.1].to_vec()
}

fn connect_frame(session: i64, passwd: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: SessionId(session),
        passwd,
        read_only: Some(false),
    };
    let n = encode_connect_request(&mut buf, &req).unwrap();
    body((buf, n))
}

fn request<B: crate::jute::Encode>(xid: i32, op: OpCode, b: &B) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = encode_request(&mut buf, &RequestHeader { xid: Xid(xid), op }, b).unwrap();
    body((buf, n))
}

fn reply_header(frame: &[u8]) -> ReplyHeader {
    ReplyHeader::decode_from(&frame[4..]).unwrap()
}

/// Connects a new client; returns its id and session (id, password).
fn connect(s: &mut Server<'static>, fx: &mut Recorder) -> (ConnId, SessionId, [u8; 16]) {
    let conn = s.handle_open(at(0), core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)).unwrap();
    s.handle_frame(at(0), conn, &connect_frame(0, &[0; 16]), fx);
    let Some(Out::Send { frame, .. }) = fx.out.last() else { panic!("no connect response: {:?}", fx.out) };
    let resp = crate::jute::ConnectResponse::decode_from(&frame[4..]).unwrap();
    let mut pw = [0u8; 16];
    pw.copy_from_slice(resp.passwd);
    (conn, resp.session_id, pw)
}

fn create(path: &[u8], data: &[u8]) -> Vec<u8> {
    let req = CreateRequest { path, data: Some(data), acl: OPEN_ACL_UNSAFE, flags: 0 };
    request(1, OpCode::Create, &req)
}

#[test]
fn replies_wait_for_the_durability_of_what_they_reveal() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, _, _) = connect(&mut s, &mut fx);
    let create_zxid = match fx.out.iter().find(|o| matches!(o, Out::Append { .. })) {
        Some(Out::Append { zxid }) => *zxid,
        _ => panic!("createSession was not logged"),
    };
    fx.out.clear();
    s.handle_frame(at(1), a, &create(b"/a", b"x"), &mut fx);
    let zxid = create_zxid.next().unwrap();
    // The record is appended before the reply, and the reply is tagged with its zxid.
    assert_eq!(fx.out[0], Out::Append { zxid });
    let Out::Send { frame, after, .. } = &fx.out[1] else { panic!("{:?}", fx.out) };
    assert_eq!(*after, zxid);
    assert_eq!(reply_header(frame).zxid, zxid.as_wire());
    // A read that sees the write is also held until that zxid is durable.
    fx.out.clear();
    s.handle_frame(at(2), a, &request(2, OpCode::GetData, &GetDataRequest { path: b"/a", watch: false }), &mut fx);
    let Out::Send { after, .. } = &fx.out[0] else { panic!() };
    assert_eq!(*after, zxid);
}

#[test]
fn watch_event_precedes_the_reply_that_shows_the_change() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, _, _) = connect(&mut s, &mut fx);
    s.handle_frame(at(1), a, &create(b"/w", b"1"), &mut fx);
    s.handle_frame(at(2), a, &request(2, OpCode::GetData, &GetDataRequest { path: b"/w", watch: true }), &mut fx);
    fx.out.clear();
    let set = SetDataRequest { path: b"/w", data: Some(b"2"), version: Version::ANY };
    s.handle_frame(at(3), a, &request(3, OpCode::SetData, &set), &mut fx);
    let sends: Vec<&Vec<u8>> =
        fx.out.iter().filter_map(|o| if let Out::Send { frame, .. } = o { Some(frame) } else { None }).collect();
    assert_eq!(sends.len(), 2, "{:?}", fx.out);
    let first = reply_header(sends[0]);
    assert_eq!((first.xid, first.zxid), (Xid::NOTIFICATION, -1));
    let event = WatcherEvent::decode_from(&sends[0][4 + 16..]).unwrap();
    assert_eq!((event.event_type, event.path), (EventType::NodeDataChanged, &b"/w"[..]));
    assert_eq!(reply_header(sends[1]).xid, Xid(3));
}

#[test]
fn unknown_opcode_gets_unimplemented_then_close() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, _, _) = connect(&mut s, &mut fx);
    fx.out.clear();
    s.handle_frame(at(1), a, &request(9, OpCode::Unknown(55), &()), &mut fx);
    let Out::Send { frame, .. } = &fx.out[0] else { panic!("{:?}", fx.out) };
    let h = reply_header(frame);
    assert_eq!((h.xid, h.zxid, h.err), (Xid(9), -1, ErrorCode::Unimplemented));
    assert_eq!(fx.out[1], Out::Close { conn: a });
    // Frames after the close are ignored.
    fx.out.clear();
    s.handle_frame(at(2), a, &create(b"/x", b""), &mut fx);
    assert!(fx.out.is_empty());
}

/// A session whose connection the server closed (bad input) keeps living until it expires;
/// its expiry must not close whichever connection reuses that connection slot meanwhile.
#[test]
fn expiry_after_a_server_side_close_spares_the_slot_s_next_connection() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, session, _) = connect(&mut s, &mut fx);
    s.handle_frame(at(1), a, &request(9, OpCode::Unknown(55), &()), &mut fx);
    assert!(fx.out.contains(&Out::Close { conn: a }));
    s.handle_closed(a);
    let (b, other, _) = connect(&mut s, &mut fx);
    assert_eq!(b, a, "the freed slot is reused");
    let deadline = s.poll_timeout().unwrap();
    // The second session is heard from later, so only the first is due at `deadline`.
    s.handle_frame(at(deadline.0 / 2), b, &request(-2, OpCode::Ping, &()), &mut fx);
    fx.out.clear();
    s.handle_timeout(at(deadline.0), &mut fx);
    assert!(s.sessions().find(session).is_none(), "the first session expired");
    assert!(s.sessions().find(other).is_some());
    assert!(!fx.out.contains(&Out::Close { conn: b }), "{:?}", fx.out);
}

#[test]
fn undecodable_body_gets_marshalling_error_and_keeps_the_connection() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, _, _) = connect(&mut s, &mut fx);
    fx.out.clear();
    let mut bad = request(4, OpCode::Create, &PathRecord { path: b"/p" });
    bad.truncate(bad.len() - 1);
    s.handle_frame(at(1), a, &bad, &mut fx);
    // A write's failure is an error txn, as in ZooKeeper: logged, then answered with its zxid.
    let Out::Append { zxid } = fx.out[0] else { panic!("{:?}", fx.out) };
    let Out::Send { frame, after, .. } = &fx.out[1] else { panic!("{:?}", fx.out) };
    assert_eq!(reply_header(frame).err, ErrorCode::MarshallingError);
    assert_eq!((reply_header(frame).zxid, *after), (zxid.as_wire(), zxid));
    assert_eq!(fx.out.len(), 2, "no close");
    s.handle_frame(at(2), a, &create(b"/ok", b""), &mut fx);
    assert!(s.tree().lookup(b"/ok").is_some());
}

#[test]
fn session_expiry_removes_ephemerals_and_closes_the_connection() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, session, _) = connect(&mut s, &mut fx);
    let req = CreateRequest { path: b"/e", data: None, acl: OPEN_ACL_UNSAFE, flags: 1 };
    s.handle_frame(at(1), a, &request(1, OpCode::Create, &req), &mut fx);
    assert!(s.tree().lookup(b"/e").is_some());
    let deadline = s.poll_timeout().unwrap();
    // Early calls do nothing.
    s.handle_timeout(at(deadline.0 - 1), &mut fx);
    assert!(s.sessions().find(session).is_some());
    fx.out.clear();
    s.handle_timeout(at(deadline.0), &mut fx);
    assert!(s.sessions().find(session).is_none());
    assert!(s.tree().lookup(b"/e").is_none());
    assert!(matches!(fx.out[0], Out::Append { .. }));
    assert!(fx.out.contains(&Out::Close { conn: a }));
}

#[test]
fn reconnect_with_wrong_password_is_refused_and_right_one_accepted() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (_, session, pw) = connect(&mut s, &mut fx);
    let b = s.handle_open(at(5), core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)).unwrap();
    fx.out.clear();
    s.handle_frame(at(5), b, &connect_frame(session.0, &[9; 16]), &mut fx);
    let Some(Out::Send { frame, .. }) = fx.out.iter().find(|o| matches!(o, Out::Send { .. })) else { panic!() };
    let resp = crate::jute::ConnectResponse::decode_from(&frame[4..]).unwrap();
    assert_eq!((resp.session_id, resp.timeout_ms), (SessionId(0), 0));
    assert!(fx.out.contains(&Out::Close { conn: b }));
    let c = s.handle_open(at(6), core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)).unwrap();
    fx.out.clear();
    s.handle_frame(at(6), c, &connect_frame(session.0, &pw), &mut fx);
    let Some(Out::Send { frame, .. }) = fx.out.last() else { panic!() };
    let resp = crate::jute::ConnectResponse::decode_from(&frame[4..]).unwrap();
    assert_eq!(resp.session_id, session);
    assert_eq!(s.session_of(c), Some(session));
}

#[test]
fn a_full_node_table_is_quota_exceeded_not_a_panic() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, _, _) = connect(&mut s, &mut fx);
    let mut refused = 0;
    for i in 0..(LIMITS.znodes_max + 10) {
        let path = std::format!("/n{i}");
        fx.out.clear();
        s.handle_frame(at(1), a, &create(path.as_bytes(), b"x"), &mut fx);
        let Some(Out::Send { frame, .. }) = fx.out.last() else { panic!() };
        match reply_header(frame).err {
            ErrorCode::Ok => {}
            ErrorCode::QuotaExceeded => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 10 + crate::tree::RESERVED_ZNODES as usize);
    // Still serving: a delete frees a slot for the next create.
    s.handle_frame(
        at(2),
        a,
        &request(5, OpCode::Delete, &crate::jute::DeleteRequest { path: b"/n0", version: Version::ANY }),
        &mut fx,
    );
    fx.out.clear();
    s.handle_frame(at(3), a, &create(b"/again", b""), &mut fx);
    let Some(Out::Send { frame, .. }) = fx.out.last() else { panic!() };
    assert_eq!(reply_header(frame).err, ErrorCode::Ok);
}

#[test]
fn replay_rebuilds_the_same_tree() {
    let mut s = server();
    let mut fx = Recorder::default();
    let (a, _, _) = connect(&mut s, &mut fx);
    // Capture records through a second recorder that keeps bytes.
    struct Log(Vec<Vec<u8>>);
    impl Effects for Log {
        fn send(&mut self, _: ConnId, _: &[u8], _: Zxid) {}
        fn close(&mut self, _: ConnId, _: Zxid) {}
        fn append(&mut self, _: Zxid, record: &[u8]) {
            self.0.push(record.to_vec());
        }
        fn note(&mut self, _: Note<'_>) {}
        // Standalone servers never forward or defer a sync.
        fn forward(&mut self, _: ConnId, _: SessionId, _: &[u8]) {}
        fn sync(&mut self, _: ConnId, _: SessionId, _: Xid, _: &[u8]) {}
    }
    let mut log = Log(Vec::new());
    s.handle_frame(at(1), a, &create(b"/r", b"1"), &mut log);
    s.handle_frame(at(2), a, &create(b"/r/s", b"2"), &mut log);
    let set = SetDataRequest { path: b"/r", data: Some(b"3"), version: Version(0) };
    s.handle_frame(at(3), a, &request(3, OpCode::SetData, &set), &mut log);
    let mut t = server();
    // The session's createSession record came first; replay just the tree txns here.
    for rec in &log.0 {
        t.replay(at(10), rec).unwrap();
    }
    for path in [&b"/r"[..], b"/r/s"] {
        let (x, y) = (s.tree().lookup(path).unwrap(), t.tree().lookup(path).unwrap());
        assert_eq!(s.tree().stat(x), t.tree().stat(y));
        assert_eq!(s.tree().data(x), t.tree().data(y));
    }
    assert_eq!(t.last_zxid(), s.last_zxid());
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever a connection sends — before or after its handshake, valid headers with
        /// random bodies or pure noise — the server never panics and keeps serving others.
        #[test]
        fn random_frames_never_panic(
            frames in proptest::collection::vec(
                (any::<i32>(), prop_oneof![Just(1i32), Just(2), Just(4), Just(5), Just(7), Just(8), Just(14),
                    Just(15), Just(17), Just(18), Just(19), Just(21), Just(22), Just(100), Just(101), Just(103),
                    Just(104), Just(105), Just(106), any::<i32>()],
                 proptest::collection::vec(any::<u8>(), 0..64)),
                1..24),
            handshake in any::<bool>(),
        ) {
            let mut s = server();
            let mut fx = Recorder::default();
            let (good, _, _) = connect(&mut s, &mut fx);
            let bad = s.handle_open(at(0), core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)).unwrap();
            if handshake {
                s.handle_frame(at(0), bad, &connect_frame(0, &[0; 16]), &mut fx);
            }
            for (i, (xid, op, body)) in frames.iter().enumerate() {
                let mut frame = Vec::new();
                frame.extend_from_slice(&xid.to_be_bytes());
                frame.extend_from_slice(&op.to_be_bytes());
                frame.extend_from_slice(body);
                if i % 5 == 4 {
                    frame.truncate(body.len() % 9);
                }
                s.handle_frame(at(i as u64), bad, &frame, &mut fx);
                s.handle_timeout(at(i as u64), &mut fx);
            }
            fx.out.clear();
            s.handle_frame(at(100), good, &create(b"/still-serving", b"x"), &mut fx);
            let Some(Out::Send { frame, .. }) = fx.out.last() else { panic!("no reply: {:?}", fx.out) };
            prop_assert_eq!(reply_header(frame).err, ErrorCode::Ok);
        }
    }
}

mod quota {
    use super::*;

    struct Log(Vec<Vec<u8>>);
    impl Effects for Log {
        fn send(&mut self, _: ConnId, _: &[u8], _: Zxid) {}
        fn close(&mut self, _: ConnId, _: Zxid) {}
        fn append(&mut self, _: Zxid, record: &[u8]) {
            self.0.push(record.to_vec());
        }
        fn note(&mut self, _: Note<'_>) {}
        // Standalone servers never forward or defer a sync.
        fn forward(&mut self, _: ConnId, _: SessionId, _: &[u8]) {}
        fn sync(&mut self, _: ConnId, _: SessionId, _: Xid, _: &[u8]) {}
    }

    const STATS: &[u8] = b"/zookeeper/quota/p/zookeeper_stats";

    /// zkCli's setquota as client requests, then writes under the quota: the stats node is
    /// kept by the server (no record of its own) and replay rebuilds it exactly.
    #[test]
    fn stats_are_kept_without_records_and_replay_rebuilds_them() {
        let mut s = server();
        let mut log = Log(Vec::new());
        let (a, _, _) = {
            let mut fx = Recorder::default();
            connect(&mut s, &mut fx)
        };
        let limits = b"count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1";
        for (path, data) in [
            (&b"/p"[..], &b""[..]),
            (b"/zookeeper/quota/p", b""),
            (b"/zookeeper/quota/p/zookeeper_limits", limits),
            (STATS, b"count=0,bytes=0"),
            (b"/p/a", b"x"),
            (b"/p/b", b"yy"),
        ] {
            s.handle_frame(at(1), a, &create(path, data), &mut log);
        }
        let set = SetDataRequest { path: b"/p/b", data: Some(b"yyyy"), version: Version::ANY };
        s.handle_frame(at(2), a, &request(2, OpCode::SetData, &set), &mut log);
        let del = crate::jute::DeleteRequest { path: b"/p/a", version: Version::ANY };
        s.handle_frame(at(3), a, &request(3, OpCode::Delete, &del), &mut log);
        // One record per client write, none for the stats updates.
        assert_eq!(log.0.len(), 6 + 2);
        let id = s.tree().lookup(STATS).unwrap();
        assert_eq!(s.tree().data(id), Some(&b"count=2,bytes=4"[..]));
        assert_eq!(s.tree().stat(id).version, 0);

        let mut t = server();
        for rec in &log.0 {
            t.replay(at(10), rec).unwrap();
        }
        let replayed = t.tree().lookup(STATS).unwrap();
        assert_eq!(t.tree().data(replayed), s.tree().data(id));
        assert_eq!(t.tree().stat(replayed), s.tree().stat(id));
    }
}

/// A leader and a follower wired by hand, as an ensemble shell wires them: what the follower
/// forwards runs on a leader proxy slot, the leader's records are applied by the follower
/// as committed txns, and the leader's answer is handed back to the follower.
mod ensemble {
    use super::*;
    use crate::server::{encode_auth, FrameOutcome, Mode};

    struct Pair {
        leader: Server<'static>,
        follower: Server<'static>,
        /// What the follower emitted.
        fx: Recorder,
    }

    impl Pair {
        fn new() -> Pair {
            let mut leader = server();
            leader.set_mode(at(0), Mode::Leading);
            leader.begin_epoch(1);
            let mut follower = server();
            follower.set_mode(at(0), Mode::Following);
            Pair { leader, follower, fx: Recorder::default() }
        }

        /// Runs every request the follower forwarded since the last call on the leader,
        /// commits the records on the follower, then hands back the answers.
        fn round_trip(&mut self, now: u64) {
            let forwards: Vec<(ConnId, SessionId, Vec<u8>)> = self
                .fx
                .out
                .iter()
                .filter_map(|o| match o {
                    Out::Forward { conn, session, frame } => Some((*conn, *session, frame.clone())),
                    _ => None,
                })
                .collect();
            self.fx.out.retain(|o| !matches!(o, Out::Forward { .. }));
            for (conn, session, frame) in forwards {
                let mut auth = vec![0u8; crate::server::AUTH_ENCODED_BYTES_MAX];
                let auth = encode_auth(self.follower.connections().auth(conn), &mut auth).unwrap().to_vec();
                let proxy =
                    self.leader.open_proxy(at(now), core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST), &auth);
                let proxy = proxy.unwrap();
                let mut lfx = Recorder::default();
                self.leader.handle_forwarded(at(now), proxy, session, &frame, &mut lfx);
                self.leader.close_proxy(proxy);
                for rec in &lfx.records {
                    self.follower.apply_committed(at(now), rec, &mut self.fx).unwrap();
                }
                for o in lfx.out {
                    if let Out::Send { conn: c, frame, .. } = o {
                        assert_eq!(c, proxy, "the leader answers only the proxy slot");
                        self.follower.handle_leader_reply(at(now), session, &frame, &mut self.fx);
                    }
                }
            }
        }

        fn connect(&mut self) -> (ConnId, SessionId) {
            let conn = self.follower.handle_open(at(0), core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST)).unwrap();
            self.follower.handle_frame(at(0), conn, &connect_frame(0, &[0; 16]), &mut self.fx);
            assert!(
                !self.fx.out.iter().any(|o| matches!(o, Out::Send { .. })),
                "a follower answers a new session only once the leader logged it"
            );
            self.round_trip(1);
            let Some(Out::Send { frame, .. }) = self.fx.out.last() else { panic!("{:?}", self.fx.out) };
            let resp = crate::jute::ConnectResponse::decode_from(&frame[4..]).unwrap();
            assert!(resp.timeout_ms > 0);
            let session = resp.session_id;
            self.fx.out.clear();
            (conn, session)
        }

        fn sends(&self) -> Vec<Vec<u8>> {
            self.fx
                .out
                .iter()
                .filter_map(|o| if let Out::Send { frame, .. } = o { Some(frame.clone()) } else { None })
                .collect()
        }
    }

    #[test]
    fn a_follower_forwards_writes_and_serves_reads_after_them() {
        let mut p = Pair::new();
        let (a, session) = p.connect();
        assert_eq!(p.follower.sessions().find(session).is_some(), p.leader.sessions().find(session).is_some());
        assert!(p.follower.sessions().find(session).is_some(), "createSession was applied on the follower");

        // A write goes to the leader; a read behind it waits for its answer.
        assert_eq!(p.follower.handle_frame(at(2), a, &create(b"/a", b"x"), &mut p.fx), FrameOutcome::Done);
        let get = request(2, OpCode::GetData, &GetDataRequest { path: b"/a", watch: false });
        assert_eq!(p.follower.handle_frame(at(2), a, &get, &mut p.fx), FrameOutcome::Deferred);
        assert!(p.sends().is_empty(), "nothing answered before the leader did");
        p.round_trip(3);
        assert!(p.follower.tree().lookup(b"/a").is_some());
        assert!(p.leader.tree().lookup(b"/a").is_some());
        assert_eq!(p.follower.last_zxid(), p.leader.last_zxid());
        let sends = p.sends();
        assert_eq!(sends.len(), 1);
        assert_eq!(reply_header(&sends[0]).xid, Xid(1));
        assert_eq!(reply_header(&sends[0]).zxid, p.leader.last_zxid().as_wire());
        // The deferred read now runs and sees the write.
        p.fx.out.clear();
        assert_eq!(p.follower.handle_frame(at(4), a, &get, &mut p.fx), FrameOutcome::Done);
        let sends = p.sends();
        let data = crate::jute::GetDataResponse::decode_from(&sends[0][4 + 16..]).unwrap();
        assert_eq!(data.data, Some(&b"x"[..]));
    }

    #[test]
    fn a_follower_fires_watches_from_committed_txns_before_the_writer_reply() {
        let mut p = Pair::new();
        let (a, _) = p.connect();
        let (b, _) = p.connect();
        p.follower.handle_frame(at(2), a, &create(b"/w", b"1"), &mut p.fx);
        p.round_trip(3);
        p.follower.handle_frame(
            at(4),
            b,
            &request(2, OpCode::GetData, &GetDataRequest { path: b"/w", watch: true }),
            &mut p.fx,
        );
        p.follower.handle_frame(
            at(4),
            a,
            &request(3, OpCode::GetData, &GetDataRequest { path: b"/w", watch: true }),
            &mut p.fx,
        );
        p.fx.out.clear();
        let set = SetDataRequest { path: b"/w", data: Some(b"2"), version: Version::ANY };
        p.follower.handle_frame(at(5), a, &request(4, OpCode::SetData, &set), &mut p.fx);
        p.round_trip(6);
        let to = |c: ConnId| -> Vec<Xid> {
            p.fx.out
                .iter()
                .filter_map(|o| match o {
                    Out::Send { conn, frame, .. } if *conn == c => Some(reply_header(frame).xid),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(to(b), vec![Xid::NOTIFICATION]);
        assert_eq!(to(a), vec![Xid::NOTIFICATION, Xid(4)], "the writer's own watch fires before its reply");
    }

    #[test]
    fn a_follower_closes_the_session_through_the_leader_and_drops_expired_ones() {
        let mut p = Pair::new();
        let (a, sa) = p.connect();
        let (b, sb) = p.connect();
        let eph = CreateRequest { path: b"/e", data: Some(b""), acl: OPEN_ACL_UNSAFE, flags: 1 };
        p.follower.handle_frame(at(2), a, &request(1, OpCode::Create, &eph), &mut p.fx);
        p.round_trip(3);
        assert!(p.follower.tree().lookup(b"/e").is_some());
        // The client's own close: the reply, then the connection closes; the ephemeral goes.
        p.fx.out.clear();
        p.follower.handle_frame(at(4), a, &request(2, OpCode::CloseSession, &()), &mut p.fx);
        p.round_trip(5);
        assert!(p.follower.tree().lookup(b"/e").is_none());
        assert!(p.follower.sessions().find(sa).is_none());
        let kinds: Vec<bool> =
            p.fx.out
                .iter()
                .filter(|o| !matches!(o, Out::Append { .. }))
                .map(|o| matches!(o, Out::Close { .. }))
                .collect();
        assert_eq!(kinds, vec![false, true], "reply then close: {:?}", p.fx.out);
        // A session the leader expires loses its connection on the follower.
        p.fx.out.clear();
        let mut lfx = Recorder::default();
        p.leader.handle_timeout(at(1_000_000), &mut lfx);
        for rec in &lfx.records {
            p.follower.apply_committed(at(1_000_000), rec, &mut p.fx).unwrap();
        }
        assert!(p.follower.sessions().find(sb).is_none());
        assert!(p.fx.out.iter().any(|o| matches!(o, Out::Close { conn } if *conn == b)), "{:?}", p.fx.out);
    }

    #[test]
    fn a_follower_neither_expires_sessions_nor_logs() {
        let mut p = Pair::new();
        let (_, s) = p.connect();
        assert_eq!(p.follower.poll_timeout(), None);
        p.follower.handle_timeout(at(1_000_000), &mut p.fx);
        assert!(p.follower.sessions().find(s).is_some());
        assert!(!p.fx.out.iter().any(|o| matches!(o, Out::Append { .. })));
    }

    #[test]
    fn forwarded_auth_ids_round_trip_and_garbage_is_refused() {
        let mut ids = crate::acl::AuthIds::<4>::new(core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST));
        ids.add(crate::acl::digest(b"bob:secret").unwrap()).unwrap();
        let mut buf = [0u8; 1024];
        let bytes = encode_auth(ids.as_slice(), &mut buf).unwrap();
        let back = crate::server::decode_auth(bytes).unwrap();
        assert_eq!(back.as_slice().len(), 2);
        assert_eq!(back.as_slice()[1].id(), ids.as_slice()[1].id());
        assert!(crate::server::decode_auth(&[9, 0, 0]).is_none(), "unknown scheme");
        assert!(crate::server::decode_auth(&[2, 0, 5, b'a']).is_none(), "short id");
        assert!(encode_auth(ids.as_slice(), &mut [0u8; 4]).is_none(), "buffer too small");
    }
}
