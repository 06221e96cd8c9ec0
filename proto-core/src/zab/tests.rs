//! Per-phase unit tests and a small in-test ensemble: leader and followers exchange real
//! frames through a test loop, storage is a list whose fsync the test controls, and the
//! "tree" is the list of applied zxids (a snapshot is that list as bytes).

extern crate std;

use std::boxed::Box;
use std::collections::VecDeque;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::ids::{SessionId, Xid};
use crate::log::Entry;
use crate::peer::{decode_frame, encode_frame, FRAME_PREFIX_BYTES};
use crate::quorum::{LearnerType, Majority, Member};
use crate::time::Instant;
use crate::txn::{Txn, TxnOp};

const CFG: ZabConfig = ZabConfig { tick_ms: 100, init_limit: 10, sync_limit: 5 };
/// Snapshot chunks this small make every SNAP take several.
const CHUNK_BYTES: usize = 24;

fn z(epoch: u32, counter: u32) -> Zxid {
    Zxid::new(epoch, counter)
}

fn sid(n: u64) -> ServerId {
    ServerId(n)
}

fn txn_bytes(zxid: Zxid) -> Vec<u8> {
    let t = Txn { zxid, time_ms: 7, session: SessionId(1), op: TxnOp::Delete { path: b"/x" } };
    let mut buf = [0u8; 64];
    postcard::to_slice(&t, &mut buf).unwrap().to_vec()
}

/// A log over leaked storage (tests only), holding `entries`, committed up to `committed`.
fn build_log(slots: usize, base: Zxid, entries: &[Zxid], committed: Zxid) -> TxnLog<'static> {
    let records: &'static mut [u8] = Box::leak(vec![0u8; 16 * 1024].into_boxed_slice());
    let index: &'static mut [Entry] = Box::leak(vec![Entry::EMPTY; slots].into_boxed_slice());
    let mut log = TxnLog::new(records, index, base);
    for &e in entries {
        log.append(e, &txn_bytes(e)).unwrap();
        if e <= committed {
            log.commit_up_to(e).unwrap();
        }
    }
    log
}

fn voters(n: u64) -> Majority {
    let members: Vec<Member> = (1..=n).map(Member::voter).collect();
    Majority::new(&members).unwrap()
}

fn encode_tree(applied: &[Zxid]) -> Vec<u8> {
    applied.iter().flat_map(|z| z.0.to_be_bytes()).collect()
}

fn decode_tree(bytes: &[u8]) -> Vec<Zxid> {
    bytes.chunks_exact(8).map(|c| Zxid(u64::from_be_bytes(c.try_into().unwrap()))).collect()
}

/// The leader's tree as a snapshot source: a copy taken at `begin`.
struct TreeSource<'a> {
    applied: &'a [Zxid],
    tree_zxid: Zxid,
    streams: &'a mut Vec<(ServerId, Vec<u8>)>,
}

impl SnapshotSource for TreeSource<'_> {
    fn begin(&mut self, to: ServerId) -> Result<Zxid, SnapshotError> {
        self.streams.retain(|(id, _)| *id != to);
        self.streams.push((to, encode_tree(self.applied)));
        Ok(self.tree_zxid)
    }
    fn read(&mut self, to: ServerId, offset: u64, buf: &mut [u8]) -> Result<(usize, bool), SnapshotError> {
        let (_, bytes) = self.streams.iter().find(|(id, _)| *id == to).ok_or(SnapshotError)?;
        let rest = bytes.get(offset as usize..).ok_or(SnapshotError)?;
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok((n, n == rest.len()))
    }
}

/// A follower's snapshot store.
struct VecSink<'a>(&'a mut Vec<u8>);

impl SnapshotSink for VecSink<'_> {
    fn write(&mut self, _zxid: Zxid, offset: u64, bytes: &[u8], _last: bool) -> Result<(), SnapshotError> {
        if offset == 0 {
            self.0.clear();
        }
        if offset != self.0.len() as u64 {
            return Err(SnapshotError);
        }
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// No snapshots, for unit tests that never SNAP.
struct NoSnap;

impl SnapshotSource for NoSnap {
    fn begin(&mut self, _: ServerId) -> Result<Zxid, SnapshotError> {
        Err(SnapshotError)
    }
    fn read(&mut self, _: ServerId, _: u64, _: &mut [u8]) -> Result<(usize, bool), SnapshotError> {
        Err(SnapshotError)
    }
}

impl SnapshotSink for NoSnap {
    fn write(&mut self, _: Zxid, _: u64, _: &[u8], _: bool) -> Result<(), SnapshotError> {
        Err(SnapshotError)
    }
}

enum Role {
    Leader(Box<Leader<'static, Majority>>),
    Follower(Box<Follower<'static>>),
    Down,
}

/// What survives a crash.
#[derive(Clone, Default)]
struct Disk {
    epochs: Epochs,
    records: Vec<(Zxid, Vec<u8>)>,
    snapshot: Option<(Zxid, Vec<Zxid>)>,
}

struct Node {
    id: ServerId,
    role: Role,
    disk: Disk,
    /// Appended, not yet fsynced.
    unsynced: Vec<(Zxid, Vec<u8>)>,
    applied: Vec<Zxid>,
    tree_zxid: Zxid,
    /// Names of the messages it received, in order.
    received: Vec<&'static str>,
    sink: Vec<u8>,
    streams: Vec<(ServerId, Vec<u8>)>,
    auto_flush: bool,
    syncs_done: Vec<(SessionId, Xid)>,
    storage_trace: Vec<Storage>,
    log_slots: usize,
}

/// The starting state of one server.
struct Spec {
    id: u64,
    epochs: Epochs,
    entries: Vec<Zxid>,
    /// Entries up to here are committed and applied (the tree's point).
    committed: Zxid,
    log_slots: usize,
}

fn spec(id: u64, accepted: u32, current: u32, entries: &[Zxid], committed: Zxid) -> Spec {
    Spec { id, epochs: Epochs { accepted, current }, entries: entries.to_vec(), committed, log_slots: 64 }
}

struct Cluster {
    nodes: Vec<Node>,
    quorum: Majority,
    net: VecDeque<(ServerId, ServerId, Vec<u8>)>,
    now: Instant,
    /// Directed links that drop everything.
    cut: Vec<(ServerId, ServerId)>,
    /// Directed links whose messages wait in `parked` (a slow link, order kept).
    park: Vec<(ServerId, ServerId)>,
    parked: Vec<(ServerId, ServerId, Vec<u8>)>,
    misbehaving: Vec<Misbehaving>,
    disconnects: Vec<(ServerId, ServerId)>,
}

impl Cluster {
    fn start(specs: Vec<Spec>, leader: u64) -> Cluster {
        Self::start_with(specs, leader, &[])
    }

    fn start_with(specs: Vec<Spec>, leader: u64, observers: &[u64]) -> Cluster {
        let members: Vec<Member> = specs
            .iter()
            .map(|s| if observers.contains(&s.id) { Member::observer(s.id) } else { Member::voter(s.id) })
            .collect();
        let quorum = Majority::new(&members).unwrap();
        let now = Instant(1_000);
        let mut nodes = Vec::new();
        for s in specs {
            let log = build_log(s.log_slots, Zxid::ZERO, &s.entries, s.committed);
            let applied: Vec<Zxid> = s.entries.iter().copied().filter(|&e| e <= s.committed).collect();
            let tree_zxid = applied.last().copied().unwrap_or(Zxid::ZERO);
            let disk = Disk {
                epochs: s.epochs,
                records: s.entries.iter().map(|&e| (e, txn_bytes(e))).collect(),
                snapshot: None,
            };
            let role = if s.id == leader {
                Role::Leader(Box::new(Leader::new(now, sid(s.id), quorum, CFG, s.epochs, log)))
            } else {
                let kind = if observers.contains(&s.id) { LearnerType::Observer } else { LearnerType::Participant };
                Role::Follower(Box::new(Follower::new(now, sid(s.id), sid(leader), kind, CFG, s.epochs, log)))
            };
            nodes.push(Node {
                id: sid(s.id),
                role,
                disk,
                unsynced: Vec::new(),
                applied,
                tree_zxid,
                received: Vec::new(),
                sink: Vec::new(),
                streams: Vec::new(),
                auto_flush: true,
                syncs_done: Vec::new(),
                storage_trace: Vec::new(),
                log_slots: s.log_slots,
            });
        }
        Cluster {
            nodes,
            quorum,
            parked: Vec::new(),
            park: Vec::new(),
            net: VecDeque::new(),
            now,
            cut: Vec::new(),
            misbehaving: Vec::new(),
            disconnects: Vec::new(),
        }
    }

    fn node(&mut self, id: u64) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == sid(id)).unwrap()
    }

    fn leader(&mut self, id: u64) -> &mut Leader<'static, Majority> {
        match &mut self.node(id).role {
            Role::Leader(l) => l,
            _ => panic!("{id} is not leading"),
        }
    }

    fn follower(&mut self, id: u64) -> &mut Follower<'static> {
        match &mut self.node(id).role {
            Role::Follower(f) => f,
            _ => panic!("{id} is not following"),
        }
    }

    /// Drains node `i` in the documented order; returns whether anything came out.
    fn drain(&mut self, i: usize) -> bool {
        let mut out: Vec<(ServerId, Vec<u8>)> = Vec::new();
        let node = &mut self.nodes[i];
        let mut progress = false;
        let mut frame = vec![0u8; 64 * 1024];
        // 1. storage, durable before anything is sent.
        loop {
            let op = match &mut node.role {
                Role::Leader(l) => l.poll_storage(),
                Role::Follower(f) => f.poll_storage(),
                Role::Down => None,
            };
            let Some(op) = op else { break };
            progress = true;
            node.storage_trace.push(op);
            match op {
                Storage::PersistEpochs(e) => node.disk.epochs = e,
                Storage::TruncateLog { after } => {
                    node.disk.records.retain(|(z, _)| *z <= after);
                    node.unsynced.retain(|(z, _)| *z <= after);
                }
                Storage::InstallSnapshot { zxid } => {
                    let tree = decode_tree(&node.sink);
                    node.applied = tree.clone();
                    node.tree_zxid = zxid;
                    node.disk.snapshot = Some((zxid, tree));
                    node.disk.records.clear();
                    node.unsynced.clear();
                }
                Storage::Append { zxid } => {
                    let bytes = match &node.role {
                        Role::Leader(l) => l.log().get(zxid),
                        Role::Follower(f) => f.log().get(zxid),
                        Role::Down => None,
                    };
                    node.unsynced.push((zxid, bytes.unwrap().to_vec()));
                }
            }
        }
        // 2. transmits.
        match &mut node.role {
            Role::Leader(l) => {
                let mut chunk = [0u8; CHUNK_BYTES];
                let mut src =
                    TreeSource { applied: &node.applied, tree_zxid: node.tree_zxid, streams: &mut node.streams };
                while let Some(t) = l.poll_transmit(&mut src, &mut chunk) {
                    let n = encode_frame(&t.msg, &mut frame).unwrap();
                    out.push((t.to, frame[..n].to_vec()));
                }
            }
            Role::Follower(f) => {
                while let Some(t) = f.poll_transmit() {
                    let n = encode_frame(&t.msg, &mut frame).unwrap();
                    out.push((t.to, frame[..n].to_vec()));
                }
            }
            Role::Down => {}
        }
        // 3. commits, applied in order.
        loop {
            let c = match &mut node.role {
                Role::Leader(l) => l.poll_commit(),
                Role::Follower(f) => f.poll_commit(),
                Role::Down => None,
            };
            let Some(c) = c else { break };
            progress = true;
            assert!(node.applied.last().iter().all(|&&last| last < c), "{}: applied {c} out of order", node.id);
            node.applied.push(c);
            node.tree_zxid = c;
        }
        // 4. syncs and events.
        if let Role::Leader(l) = &mut node.role {
            while let Some(s) = l.poll_sync() {
                node.syncs_done.push(s);
                progress = true;
            }
            while let Some(Event::Disconnect(id)) = l.poll_event() {
                self.disconnects.push((node.id, id));
                progress = true;
            }
        }
        if node.auto_flush {
            progress |= Self::flush_node(node);
        }
        let from = node.id;
        progress |= !out.is_empty();
        for (to, bytes) in out {
            self.net.push_back((from, to, bytes));
        }
        progress
    }

    /// fsync: unsynced records become durable.
    fn flush_node(node: &mut Node) -> bool {
        let Some(&(last, _)) = node.unsynced.last() else { return false };
        node.disk.records.append(&mut node.unsynced);
        match &mut node.role {
            Role::Leader(l) => l.handle_durable(last),
            Role::Follower(f) => f.handle_durable(last),
            Role::Down => {}
        }
        true
    }

    fn flush(&mut self, id: u64) {
        Self::flush_node(self.node(id));
        self.run();
    }

    fn deliver(&mut self, from: ServerId, to: ServerId, bytes: Vec<u8>) {
        if self.cut.contains(&(from, to)) {
            return;
        }
        if self.park.contains(&(from, to)) {
            self.parked.push((from, to, bytes));
            return;
        }
        let now = self.now;
        let Some(node) = self.nodes.iter_mut().find(|n| n.id == to) else { return };
        let msg = decode_frame(&bytes[FRAME_PREFIX_BYTES..]).unwrap();
        node.received.push(msg.name());
        let result = match &mut node.role {
            Role::Leader(l) => l.handle_peer(now, from, &msg),
            Role::Follower(f) => f.handle_peer(now, from, &msg, &mut VecSink(&mut node.sink)),
            Role::Down => Ok(Handled::Ignored),
        };
        if let Err(e) = result {
            self.misbehaving.push(e);
        }
    }

    /// Runs until nothing moves.
    fn run(&mut self) {
        for _ in 0..100_000 {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                progress |= self.drain(i);
            }
            if let Some((from, to, bytes)) = self.net.pop_front() {
                self.deliver(from, to, bytes);
                progress = true;
            }
            if !progress {
                return;
            }
        }
        panic!("cluster did not settle");
    }

    /// Lets `ms` pass in steps of `step`, firing timers and running in between.
    fn advance(&mut self, ms: u64, step: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + step).min(end);
            let now = self.now;
            for n in &mut self.nodes {
                match &mut n.role {
                    Role::Leader(l) => l.handle_timeout(now),
                    Role::Follower(f) => f.handle_timeout(now),
                    Role::Down => {}
                }
            }
            self.run();
        }
    }

    fn crash(&mut self, id: u64) {
        let node = self.node(id);
        node.role = Role::Down;
        node.unsynced.clear();
        for n in &mut self.nodes {
            if let Role::Leader(l) = &mut n.role {
                l.handle_disconnect(sid(id));
            }
        }
        self.net.retain(|(f, t, _)| *f != sid(id) && *t != sid(id));
    }

    /// Restarts a crashed server as a follower of `leader`, from its disk alone.
    fn restart_follower(&mut self, id: u64, leader: u64) {
        let now = self.now;
        let node = self.node(id);
        let (base, tree) = node.disk.snapshot.clone().unwrap_or((Zxid::ZERO, Vec::new()));
        let records: Vec<Zxid> = node.disk.records.iter().map(|(z, _)| *z).filter(|&z| z > base).collect();
        let log = build_log(node.log_slots, base, &records, Zxid::ZERO);
        node.applied = tree;
        node.tree_zxid = base;
        node.received.clear();
        let epochs = node.disk.epochs;
        node.role = Role::Follower(Box::new(Follower::new(
            now,
            sid(id),
            sid(leader),
            LearnerType::Participant,
            CFG,
            epochs,
            log,
        )));
        self.run();
    }

    /// Delivers the oldest parked message from `from`, then runs.
    fn release_one(&mut self, from: u64) {
        let at = self.parked.iter().position(|(f, _, _)| *f == sid(from)).unwrap();
        let (f, t, bytes) = self.parked.remove(at);
        let park = core::mem::take(&mut self.park);
        self.deliver(f, t, bytes);
        self.park = park;
        self.run();
    }

    /// Starts a new role on a server that lost its old one, keeping its log.
    fn new_role(&mut self, id: u64, leader: u64) {
        let now = self.now;
        let quorum = self.quorum;
        let node = self.node(id);
        let log = match core::mem::replace(&mut node.role, Role::Down) {
            Role::Leader(l) => (*l).into_log(),
            Role::Follower(f) => (*f).into_log(),
            Role::Down => panic!("{id} is down"),
        };
        assert_eq!(log.committed(), node.tree_zxid, "{id}: the tree is at the log's commit point");
        let epochs = node.disk.epochs;
        node.received.clear();
        node.role = if id == leader {
            Role::Leader(Box::new(Leader::new(now, sid(id), quorum, CFG, epochs, log)))
        } else {
            Role::Follower(Box::new(Follower::new(
                now,
                sid(id),
                sid(leader),
                LearnerType::Participant,
                CFG,
                epochs,
                log,
            )))
        };
    }

    fn propose(&mut self, leader: u64) -> Zxid {
        let now = self.now;
        let l = self.leader(leader);
        let zxid = l.next_zxid().unwrap();
        l.propose(now, &txn_bytes(zxid)).unwrap()
    }

    fn isolate(&mut self, id: u64) {
        for n in 1..=self.nodes.len() as u64 {
            if n != id {
                self.cut.push((sid(id), sid(n)));
                self.cut.push((sid(n), sid(id)));
            }
        }
    }
}

fn history(epoch: u32, n: u32) -> Vec<Zxid> {
    (1..=n).map(|c| z(epoch, c)).collect()
}

// ---- phase 1: discovery ----

#[test]
fn discovery_picks_max_accepted_plus_one_and_persists_before_leaderinfo() {
    let log = build_log(8, Zxid::ZERO, &[], Zxid::ZERO);
    let mut l = Leader::new(Instant(0), sid(1), voters(3), CFG, Epochs { accepted: 3, current: 3 }, log);
    assert_eq!(l.state(), LeaderState::Discovery);
    // One learner with a higher accepted epoch: quorum {1, 2}.
    let info =
        |e| PeerMessage::FollowerInfo { accepted_epoch: e, protocol_version: 0x10000, role: LearnerType::Participant };
    assert_eq!(l.handle_peer(Instant(1), sid(2), &info(5)), Ok(Handled::Done));
    assert_eq!(l.epoch(), Some(6));
    assert_eq!(l.state(), LeaderState::EpochAck);
    assert_eq!(l.poll_storage(), Some(Storage::PersistEpochs(Epochs { accepted: 6, current: 3 })));
    assert_eq!(l.poll_storage(), None);
    let t = l.poll_transmit(&mut NoSnap, &mut []).unwrap();
    assert_eq!((t.to, t.msg), (sid(2), PeerMessage::LeaderInfo { new_epoch: 6, protocol_version: 0x10000 }));
    // A late learner gets the fixed epoch.
    assert_eq!(l.handle_peer(Instant(2), sid(3), &info(1)), Ok(Handled::Done));
    assert_eq!(l.epoch(), Some(6));
    let t = l.poll_transmit(&mut NoSnap, &mut []).unwrap();
    assert_eq!((t.to, t.msg), (sid(3), PeerMessage::LeaderInfo { new_epoch: 6, protocol_version: 0x10000 }));
    // Epoch acks: ACKEPOCH(−1) does not count; a real one completes the quorum.
    let ack = |c, last| PeerMessage::AckEpoch { current_epoch: c, last_logged_zxid: last };
    assert_eq!(l.handle_peer(Instant(3), sid(3), &ack(None, Zxid::ZERO)), Ok(Handled::Done));
    assert_eq!(l.state(), LeaderState::EpochAck);
    assert_eq!(l.handle_peer(Instant(3), sid(2), &ack(Some(2), Zxid::ZERO)), Ok(Handled::Done));
    assert_eq!(l.state(), LeaderState::Sync);
    assert_eq!(l.poll_storage(), Some(Storage::PersistEpochs(Epochs { accepted: 6, current: 6 })));
}

#[test]
fn discovery_times_out_without_a_quorum_and_early_timeouts_do_nothing() {
    let log = build_log(8, Zxid::ZERO, &[], Zxid::ZERO);
    let mut l = Leader::new(Instant(0), sid(1), voters(3), CFG, Epochs::default(), log);
    let deadline = l.poll_timeout().unwrap();
    assert_eq!(deadline, Instant(CFG.init_ms()));
    l.handle_timeout(Instant(5));
    assert_eq!(l.state(), LeaderState::Discovery);
    l.handle_timeout(deadline);
    assert_eq!(l.state(), LeaderState::Ended(RoleEnd::InitTimeout));
    assert_eq!(l.poll_timeout(), None);
    assert_eq!(l.propose(deadline, &txn_bytes(z(1, 1))), Err(ProposeError::NotLeader));
}

#[test]
fn leader_alone_is_its_own_quorum() {
    let log = build_log(8, Zxid::ZERO, &[z(1, 1)], z(1, 1));
    let mut l = Leader::new(Instant(0), sid(1), voters(1), CFG, Epochs { accepted: 1, current: 1 }, log);
    assert!(l.is_established());
    assert_eq!(l.epoch(), Some(2));
    assert_eq!(l.poll_storage(), Some(Storage::PersistEpochs(Epochs { accepted: 2, current: 1 })));
    assert_eq!(l.poll_storage(), Some(Storage::PersistEpochs(Epochs { accepted: 2, current: 2 })));
    let zx = l.propose(Instant(1), &txn_bytes(z(2, 1))).unwrap();
    assert_eq!(zx, z(2, 1));
    assert_eq!(l.poll_commit(), None, "not committed before its own write is durable");
    assert_eq!(l.poll_storage(), Some(Storage::Append { zxid: z(2, 1) }));
    l.handle_durable(z(2, 1));
    assert_eq!(l.poll_commit(), Some(z(2, 1)));
    assert_eq!(l.poll_commit(), None);
    // A txn encoded for another zxid is refused.
    assert_eq!(l.propose(Instant(1), &txn_bytes(z(2, 9))), Err(ProposeError::BadTxn));
}

#[test]
fn follower_is_ahead_aborts_the_leader() {
    let log = build_log(8, Zxid::ZERO, &history(1, 2), z(1, 2));
    let mut l = Leader::new(Instant(0), sid(1), voters(3), CFG, Epochs { accepted: 1, current: 1 }, log);
    let info =
        PeerMessage::FollowerInfo { accepted_epoch: 2, protocol_version: 0x10000, role: LearnerType::Participant };
    l.handle_peer(Instant(1), sid(2), &info).unwrap();
    let _ = l.poll_transmit(&mut NoSnap, &mut []);
    let ack = PeerMessage::AckEpoch { current_epoch: Some(2), last_logged_zxid: z(2, 1) };
    assert_eq!(l.handle_peer(Instant(1), sid(2), &ack), Ok(Handled::Done));
    assert_eq!(l.state(), LeaderState::Ended(RoleEnd::FollowerAhead(sid(2))));
    assert_eq!(l.poll_event(), Some(Event::Disconnect(sid(2))));
}

#[test]
fn leader_refuses_misbehaving_learners() {
    let log = build_log(8, Zxid::ZERO, &[], Zxid::ZERO);
    let mut l = Leader::new(Instant(0), sid(1), voters(3), CFG, Epochs::default(), log);
    let info = |role| PeerMessage::FollowerInfo { accepted_epoch: 0, protocol_version: 0x10000, role };
    let bad = |peer, reason| Err(Misbehaving { peer: sid(peer), reason });
    // A stranger, a wrong role, an impossible epoch.
    assert_eq!(l.handle_peer(Instant(1), sid(9), &info(LearnerType::Participant)), bad(9, Misbehavior::Stranger));
    assert_eq!(l.handle_peer(Instant(1), sid(2), &info(LearnerType::Observer)), bad(2, Misbehavior::WrongRole));
    let huge =
        PeerMessage::FollowerInfo { accepted_epoch: u32::MAX, protocol_version: 0, role: LearnerType::Participant };
    assert_eq!(l.handle_peer(Instant(1), sid(2), &huge), bad(2, Misbehavior::ImpossibleEpoch(u32::MAX)));
    // Anything before FOLLOWERINFO.
    assert_eq!(
        l.handle_peer(Instant(1), sid(2), &PeerMessage::Ack { zxid: z(1, 0) }),
        bad(2, Misbehavior::OutOfPhase("ACK"))
    );
    l.handle_peer(Instant(1), sid(2), &info(LearnerType::Participant)).unwrap();
    // ACKEPOCH before LEADERINFO was sent, ACK before sync, leader-only messages.
    let ack_epoch = PeerMessage::AckEpoch { current_epoch: Some(0), last_logged_zxid: Zxid::ZERO };
    assert_eq!(l.handle_peer(Instant(1), sid(2), &ack_epoch), bad(2, Misbehavior::OutOfPhase("ACKEPOCH")));
    assert_eq!(
        l.handle_peer(Instant(1), sid(2), &PeerMessage::Ack { zxid: z(1, 3) }),
        bad(2, Misbehavior::OutOfPhase("ACK"))
    );
    assert_eq!(l.handle_peer(Instant(1), sid(2), &PeerMessage::UpToDate), bad(2, Misbehavior::OutOfPhase("UPTODATE")));
    assert_eq!(
        l.handle_peer(Instant(1), sid(2), &PeerMessage::PingReply { sessions: crate::peer::TouchedSessions::EMPTY }),
        bad(2, Misbehavior::UnsolicitedPing)
    );
    let _ = l.poll_transmit(&mut NoSnap, &mut []);
    // A history from an epoch that cannot exist yet.
    let future = PeerMessage::AckEpoch { current_epoch: Some(0), last_logged_zxid: z(7, 1) };
    assert!(matches!(
        l.handle_peer(Instant(1), sid(2), &future),
        Err(Misbehaving { reason: Misbehavior::Undecodable(_), .. })
    ));
    let rolled = PeerMessage::AckEpoch { current_epoch: Some(0), last_logged_zxid: z(0, u32::MAX) };
    assert!(l.handle_peer(Instant(1), sid(2), &rolled).is_err());
    assert_eq!(l.state(), LeaderState::EpochAck, "misbehaviour does not end the leader");
}

#[test]
fn follower_discovery_acks_refuses_and_persists_first() {
    let epochs = Epochs { accepted: 4, current: 3 };
    let mk = || {
        let log = build_log(8, Zxid::ZERO, &history(3, 2), z(3, 1));
        Follower::new(Instant(0), sid(2), sid(1), LearnerType::Participant, CFG, epochs, log)
    };
    // A newer epoch: persist acceptedEpoch, then ACKEPOCH(currentEpoch, last).
    let mut f = mk();
    let t = f.poll_transmit().unwrap();
    assert_eq!(
        t.msg,
        PeerMessage::FollowerInfo { accepted_epoch: 4, protocol_version: 0x10000, role: LearnerType::Participant }
    );
    f.handle_peer(
        Instant(1),
        sid(1),
        &PeerMessage::LeaderInfo { new_epoch: 5, protocol_version: 0x10000 },
        &mut NoSnap,
    )
    .unwrap();
    assert_eq!(f.poll_storage(), Some(Storage::PersistEpochs(Epochs { accepted: 5, current: 3 })));
    assert_eq!(
        f.poll_transmit().unwrap().msg,
        PeerMessage::AckEpoch { current_epoch: Some(3), last_logged_zxid: z(3, 2) }
    );
    assert_eq!(f.state(), FollowerState::AwaitSync);
    // The same epoch again: ACKEPOCH(−1), nothing persisted.
    let mut f = mk();
    let _ = f.poll_transmit();
    f.handle_peer(
        Instant(1),
        sid(1),
        &PeerMessage::LeaderInfo { new_epoch: 4, protocol_version: 0x10000 },
        &mut NoSnap,
    )
    .unwrap();
    assert_eq!(f.poll_storage(), None);
    assert_eq!(
        f.poll_transmit().unwrap().msg,
        PeerMessage::AckEpoch { current_epoch: None, last_logged_zxid: z(3, 2) }
    );
    // A smaller epoch: refused, the role ends.
    let mut f = mk();
    let _ = f.poll_transmit();
    f.handle_peer(
        Instant(1),
        sid(1),
        &PeerMessage::LeaderInfo { new_epoch: 3, protocol_version: 0x10000 },
        &mut NoSnap,
    )
    .unwrap();
    assert_eq!(f.state(), FollowerState::Ended(RoleEnd::EpochRefused(3)));
    assert_eq!(f.poll_transmit(), None);
    // Messages from another server, or out of phase, are refused.
    let mut f = mk();
    assert_eq!(
        f.handle_peer(Instant(1), sid(3), &PeerMessage::Ping, &mut NoSnap),
        Err(Misbehaving { peer: sid(3), reason: Misbehavior::Stranger })
    );
    assert_eq!(f.state(), FollowerState::Discovery);
    assert!(f.handle_peer(Instant(1), sid(1), &PeerMessage::Diff { zxid: Zxid::ZERO }, &mut NoSnap).is_err());
    assert_eq!(f.state(), FollowerState::Ended(RoleEnd::LeaderMisbehaved));
}

// ---- phase 2: sync, follower side ----

/// A follower past discovery for epoch 5.
fn synced_to_epoch5(entries: &[Zxid], committed: Zxid) -> Follower<'static> {
    let log = build_log(16, Zxid::ZERO, entries, committed);
    let mut f = Follower::new(
        Instant(0),
        sid(2),
        sid(1),
        LearnerType::Participant,
        CFG,
        Epochs { accepted: 4, current: 4 },
        log,
    );
    f.handle_peer(
        Instant(1),
        sid(1),
        &PeerMessage::LeaderInfo { new_epoch: 5, protocol_version: 0x10000 },
        &mut NoSnap,
    )
    .unwrap();
    while f.poll_transmit().is_some() {}
    while f.poll_storage().is_some() {}
    f
}

#[test]
fn follower_acks_newleader_only_once_sync_data_is_durable() {
    let mut f = synced_to_epoch5(&history(4, 1), z(4, 1));
    let p = |zx: Zxid, bytes: &[u8]| -> PeerMessage<'static> {
        PeerMessage::Proposal { zxid: zx, txn: Box::leak(bytes.to_vec().into_boxed_slice()) }
    };
    f.handle_peer(Instant(2), sid(1), &PeerMessage::Diff { zxid: z(4, 2) }, &mut NoSnap).unwrap();
    f.handle_peer(Instant(2), sid(1), &p(z(4, 2), &txn_bytes(z(4, 2))), &mut NoSnap).unwrap();
    f.handle_peer(Instant(2), sid(1), &PeerMessage::NewLeader { zxid: z(5, 0) }, &mut NoSnap).unwrap();
    assert_eq!(f.poll_storage(), Some(Storage::Append { zxid: z(4, 2) }));
    assert_eq!(f.poll_storage(), None);
    assert_eq!(f.poll_transmit(), None, "no NEWLEADER ack before the sync data is durable");
    f.handle_durable(z(4, 2));
    // currentEpoch persisted, then the ack.
    assert_eq!(f.poll_storage(), Some(Storage::PersistEpochs(Epochs { accepted: 5, current: 5 })));
    assert_eq!(f.poll_transmit().unwrap().msg, PeerMessage::Ack { zxid: z(5, 0) });
    assert_eq!(f.poll_commit(), None, "nothing applied before UPTODATE");
    f.handle_peer(Instant(3), sid(1), &PeerMessage::Commit { zxid: z(4, 2) }, &mut NoSnap).unwrap();
    assert_eq!(f.poll_commit(), None);
    f.handle_peer(Instant(3), sid(1), &PeerMessage::UpToDate, &mut NoSnap).unwrap();
    assert!(f.is_serving());
    assert_eq!(f.poll_transmit().unwrap().msg, PeerMessage::Ack { zxid: z(5, 0) });
    assert_eq!(f.poll_commit(), Some(z(4, 2)));
    // Broadcast: a proposal is acked only after it is durable, applied only on COMMIT.
    f.handle_peer(Instant(4), sid(1), &p(z(5, 1), &txn_bytes(z(5, 1))), &mut NoSnap).unwrap();
    assert_eq!(f.poll_storage(), Some(Storage::Append { zxid: z(5, 1) }));
    assert_eq!(f.poll_transmit(), None);
    f.handle_durable(z(5, 1));
    assert_eq!(f.poll_transmit().unwrap().msg, PeerMessage::Ack { zxid: z(5, 1) });
    assert_eq!(f.poll_commit(), None);
    f.handle_peer(Instant(4), sid(1), &PeerMessage::Commit { zxid: z(5, 1) }, &mut NoSnap).unwrap();
    assert_eq!(f.poll_commit(), Some(z(5, 1)));
}

#[test]
fn follower_refuses_impossible_sync_data() {
    // A zxid of a later epoch than the leader's.
    let mut f = synced_to_epoch5(&[], Zxid::ZERO);
    assert!(f.handle_peer(Instant(2), sid(1), &PeerMessage::Diff { zxid: z(6, 1) }, &mut NoSnap).is_err());
    assert_eq!(f.state(), FollowerState::Ended(RoleEnd::LeaderMisbehaved));
    // A proposal whose bytes name another zxid.
    let mut f = synced_to_epoch5(&[], Zxid::ZERO);
    f.handle_peer(Instant(2), sid(1), &PeerMessage::Diff { zxid: Zxid::ZERO }, &mut NoSnap).unwrap();
    let bytes = txn_bytes(z(4, 9));
    let r = f.handle_peer(Instant(2), sid(1), &PeerMessage::Proposal { zxid: z(4, 1), txn: &bytes }, &mut NoSnap);
    assert!(matches!(r, Err(Misbehaving { reason: Misbehavior::Undecodable(_), .. })));
    // Garbage bytes.
    let mut f = synced_to_epoch5(&[], Zxid::ZERO);
    f.handle_peer(Instant(2), sid(1), &PeerMessage::Diff { zxid: Zxid::ZERO }, &mut NoSnap).unwrap();
    let r = f.handle_peer(
        Instant(2),
        sid(1),
        &PeerMessage::Proposal { zxid: z(4, 1), txn: &[0xff, 0xff, 0x01] },
        &mut NoSnap,
    );
    assert!(r.is_err());
    // A commit of something never proposed; a NEWLEADER of the wrong epoch.
    let mut f = synced_to_epoch5(&[], Zxid::ZERO);
    f.handle_peer(Instant(2), sid(1), &PeerMessage::Diff { zxid: Zxid::ZERO }, &mut NoSnap).unwrap();
    assert!(f.handle_peer(Instant(2), sid(1), &PeerMessage::Commit { zxid: z(5, 3) }, &mut NoSnap).is_err());
    let mut f = synced_to_epoch5(&[], Zxid::ZERO);
    f.handle_peer(Instant(2), sid(1), &PeerMessage::Diff { zxid: Zxid::ZERO }, &mut NoSnap).unwrap();
    assert!(f.handle_peer(Instant(2), sid(1), &PeerMessage::NewLeader { zxid: z(4, 0) }, &mut NoSnap).is_err());
    // TRUNC below what the tree applied cannot be honoured: the role ends.
    let mut f = synced_to_epoch5(&history(4, 3), z(4, 3));
    f.handle_peer(Instant(2), sid(1), &PeerMessage::Trunc { zxid: z(4, 1) }, &mut NoSnap).unwrap();
    assert_eq!(f.state(), FollowerState::Ended(RoleEnd::LogRefused));
}

#[test]
fn follower_times_out_when_the_leader_is_silent() {
    let log = build_log(8, Zxid::ZERO, &[], Zxid::ZERO);
    let mut f = Follower::new(Instant(0), sid(2), sid(1), LearnerType::Participant, CFG, Epochs::default(), log);
    assert_eq!(f.poll_timeout(), Some(Instant(CFG.init_ms())));
    f.handle_timeout(Instant(CFG.init_ms() - 1));
    assert_eq!(f.state(), FollowerState::Discovery);
    f.handle_timeout(Instant(CFG.init_ms()));
    assert_eq!(f.state(), FollowerState::Ended(RoleEnd::InitTimeout));
}

// ---- the ensemble ----

/// The messages `id` received, COMMITs left out (a sync's first COMMIT is cumulative and
/// covers what the learner had; later ones pair with proposals).
fn received_no_commits(c: &mut Cluster, id: u64) -> Vec<&'static str> {
    c.node(id).received.iter().copied().filter(|m| *m != "COMMIT").collect()
}

/// Every server applied the same txns (the ones given).
fn assert_applied(c: &mut Cluster, ids: &[u64], expected: &[Zxid]) {
    for &id in ids {
        assert_eq!(c.node(id).applied, expected, "server {id}");
    }
}

#[test]
fn three_servers_establish_and_sync_by_diff() {
    // Leader has 1:1..1:5 committed; 2 lags at 1:3; 3 is current.
    let mut c = Cluster::start(
        vec![
            spec(1, 1, 1, &history(1, 5), z(1, 5)),
            spec(2, 1, 1, &history(1, 3), z(1, 3)),
            spec(3, 1, 1, &history(1, 5), z(1, 5)),
        ],
        1,
    );
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    assert!(c.leader(1).is_established());
    assert_eq!(c.leader(1).epoch(), Some(2));
    assert_eq!(c.node(1).disk.epochs, Epochs { accepted: 2, current: 2 });
    assert_eq!(c.node(2).disk.epochs, Epochs { accepted: 2, current: 2 });
    // The lagging follower: DIFF, then the two missing txns as PROPOSAL+COMMIT.
    assert_eq!(
        received_no_commits(&mut c, 2)[..6],
        ["LEADERINFO", "DIFF", "PROPOSAL", "PROPOSAL", "NEWLEADER", "UPTODATE"]
    );
    // COMMIT 1:3 (what it had, cumulative), then one per proposal.
    assert_eq!(c.node(2).received[2], "COMMIT");
    assert_eq!(c.node(2).received.iter().filter(|m| **m == "COMMIT").count(), 3);
    // The current one: an empty DIFF, straight to NEWLEADER.
    assert_eq!(received_no_commits(&mut c, 3)[..4], ["LEADERINFO", "DIFF", "NEWLEADER", "UPTODATE"]);
    assert_applied(&mut c, &[1, 2, 3], &history(1, 5));
    assert!(c.follower(2).is_serving() && c.follower(3).is_serving());
    // Broadcast.
    let a = c.propose(1);
    let b = c.propose(1);
    assert_eq!((a, b), (z(2, 1), z(2, 2)));
    c.run();
    let mut expected = history(1, 5);
    expected.extend([a, b]);
    assert_applied(&mut c, &[1, 2, 3], &expected);
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
}

#[test]
fn follower_with_an_extra_uncommitted_txn_is_truncated() {
    // 2 logged 1:4 that no one else has; the leader moved on to epoch 2 without it.
    let mut c = Cluster::start(
        vec![
            spec(1, 2, 2, &history(1, 3), z(1, 3)),
            spec(2, 1, 1, &history(1, 4), z(1, 3)),
            spec(3, 2, 2, &history(1, 3), z(1, 3)),
        ],
        1,
    );
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    assert_eq!(received_no_commits(&mut c, 2)[..3], ["LEADERINFO", "TRUNC", "NEWLEADER"]);
    assert!(c.node(2).storage_trace.contains(&Storage::TruncateLog { after: z(1, 3) }));
    assert_eq!(c.node(2).disk.records.last().map(|r| r.0), Some(z(1, 3)));
    assert_eq!(c.follower(2).log().last_zxid(), z(1, 3));
    let a = c.propose(1);
    c.run();
    let mut expected = history(1, 3);
    expected.push(a);
    assert_applied(&mut c, &[1, 2, 3], &expected);
}

#[test]
fn truncation_inside_the_leaders_history_then_diff() {
    // Leader: 1:1..1:3, 2:1 (not yet committed anywhere). 2 has 1:1..1:4 from epoch 1.
    let mut leader_log = history(1, 3);
    leader_log.push(z(2, 1));
    let mut c = Cluster::start(
        vec![
            spec(1, 2, 2, &leader_log, z(1, 3)),
            spec(2, 1, 1, &history(1, 4), z(1, 2)),
            spec(3, 2, 2, &leader_log, z(1, 3)),
        ],
        1,
    );
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    assert_eq!(received_no_commits(&mut c, 2)[..4], ["LEADERINFO", "TRUNC", "PROPOSAL", "NEWLEADER"]);
    assert_eq!(c.follower(2).log().last_zxid(), z(2, 1));
    assert_applied(&mut c, &[1, 2, 3], &leader_log);
}

#[test]
fn far_behind_follower_gets_a_snapshot() {
    // The leader's log keeps 4 entries of its 10: a follower with nothing needs SNAP.
    let mut specs = vec![
        spec(1, 1, 1, &history(1, 10), z(1, 10)),
        spec(2, 1, 1, &[], Zxid::ZERO),
        spec(3, 1, 1, &history(1, 10), z(1, 10)),
    ];
    specs[0].log_slots = 4;
    let mut c = Cluster::start(specs, 1);
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    let r = c.node(2).received.clone();
    assert_eq!(r[..3], ["LEADERINFO", "SNAP", "SNAPCHUNK"]);
    // 10 zxids of 8 bytes in 24-byte chunks.
    assert_eq!(r.iter().filter(|m| **m == "SNAPCHUNK").count(), 4);
    assert!(c.node(2).storage_trace.contains(&Storage::InstallSnapshot { zxid: z(1, 10) }));
    assert_applied(&mut c, &[1, 2, 3], &history(1, 10));
    // It then follows the broadcast.
    let a = c.propose(1);
    c.run();
    let mut expected = history(1, 10);
    expected.push(a);
    assert_applied(&mut c, &[1, 2, 3], &expected);
}

#[test]
fn proposals_commit_in_order_only_after_a_quorum() {
    let specs = (1..=5).map(|i| spec(i, 1, 1, &history(1, 2), z(1, 2))).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    assert!(c.leader(1).is_established());
    for id in 1..=5 {
        c.node(id).auto_flush = false;
    }
    let a = c.propose(1);
    let b = c.propose(1);
    c.run();
    // Only the leader and one follower durable: 2 of 5, no commit.
    c.flush(1);
    c.flush(2);
    assert_eq!(c.leader(1).log().committed(), z(1, 2));
    assert_eq!(c.node(1).applied, history(1, 2));
    // A third (durable up to the first only) commits the first alone.
    let n3 = c.node(3);
    let first = n3.unsynced.remove(0);
    n3.disk.records.push(first);
    c.follower(3).handle_durable(a);
    c.run();
    assert_eq!(c.leader(1).log().committed(), a);
    // The fourth brings b to a quorum too; commits arrive in order everywhere.
    c.flush(3);
    c.flush(4);
    let mut expected = history(1, 2);
    expected.extend([a, b]);
    assert_applied(&mut c, &[1, 2, 3, 4], &expected);
    // Server 5 was never durable, but learns the commits too (it logged both).
    assert_eq!(c.node(5).applied, expected);
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
}

#[test]
fn followers_durable_quorum_commits_without_the_leaders_write() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    c.node(1).auto_flush = false;
    let a = c.propose(1);
    c.run();
    assert_eq!(c.leader(1).log().committed(), a);
    assert_applied(&mut c, &[1, 2, 3], &[a]);
}

#[test]
fn crashed_follower_restarts_and_rejoins() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &history(1, 2), z(1, 2))).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    let a = c.propose(1);
    c.run();
    c.crash(3);
    let b = c.propose(1);
    let d = c.propose(1);
    c.run();
    assert_eq!(c.leader(1).log().committed(), d, "1 and 2 are a quorum");
    c.restart_follower(3, 1);
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    // It accepted epoch 2 before the crash: ACKEPOCH(−1), then a DIFF.
    assert_eq!(c.node(3).received[..2], ["LEADERINFO", "DIFF"]);
    assert!(c.follower(3).is_serving());
    let mut expected = history(1, 2);
    expected.extend([a, b, d]);
    assert_applied(&mut c, &[1, 2, 3], &expected);
    let e = c.propose(1);
    c.run();
    expected.push(e);
    assert_applied(&mut c, &[1, 2, 3], &expected);
}

#[test]
fn leader_without_a_quorum_steps_down_and_followers_give_up() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    // Pings keep everyone alive.
    c.advance(CFG.sync_ms() * 3, 20);
    assert!(c.leader(1).is_established());
    assert!(c.follower(2).is_serving());
    c.isolate(1);
    let a = c.propose(1);
    c.advance(CFG.sync_ms() + CFG.tick_ms, 20);
    assert_eq!(c.leader(1).state(), LeaderState::Ended(RoleEnd::LostQuorum));
    assert_eq!(c.leader(1).log().committed(), Zxid::ZERO, "{a} never reached a quorum");
    assert_eq!(c.follower(2).state(), FollowerState::Ended(RoleEnd::LeaderSilent));
    assert_eq!(c.follower(3).state(), FollowerState::Ended(RoleEnd::LeaderSilent));
    let now = c.now;
    assert_eq!(c.leader(1).propose(now, &txn_bytes(a)), Err(ProposeError::NotLeader));
}

#[test]
fn leader_with_one_live_follower_keeps_leading() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    c.isolate(3);
    c.advance(CFG.sync_ms() * 2, 20);
    assert!(c.leader(1).is_established());
    assert_eq!(c.leader(1).learner_count(), 1, "the silent learner was dropped");
    assert!(c.disconnects.contains(&(sid(1), sid(3))));
    let a = c.propose(1);
    c.run();
    assert_applied(&mut c, &[1, 2], &[a]);
}

#[test]
fn sync_waits_for_a_quorum_round_and_the_commit_point() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    // A write in flight: the sync must wait for it as well as for the round.
    c.node(2).auto_flush = false;
    c.node(3).auto_flush = false;
    let a = c.propose(1);
    c.run();
    let now = c.now;
    c.leader(1).sync(now, sid(1), SessionId(9), Xid(4)).unwrap();
    c.run();
    // The pings were answered, but the write is not committed yet.
    assert!(c.node(1).syncs_done.is_empty());
    c.flush(2);
    assert_eq!(c.node(1).syncs_done, [(SessionId(9), Xid(4))]);
    assert_eq!(c.node(1).applied, [a]);
    // Cut off from both followers, a sync is never answered: the leader may be deposed.
    c.flush(3);
    c.isolate(1);
    let now = c.now;
    c.leader(1).sync(now, sid(1), SessionId(9), Xid(5)).unwrap();
    c.run();
    assert_eq!(c.node(1).syncs_done.len(), 1);
    c.cut.clear();
    // A ping from before the sync does not count: with the links back, a new round
    // answers it.
    c.advance(CFG.ping_ms(), CFG.ping_ms());
    assert_eq!(c.node(1).syncs_done.len(), 2);
}

#[test]
fn forwarded_sync_is_answered_after_the_commits_before_it() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    let a = c.propose(1);
    let now = c.now;
    c.leader(1).sync(now, sid(2), SessionId(3), Xid(8)).unwrap();
    c.run();
    let r = &c.node(2).received;
    let sync_at = r.iter().position(|m| *m == "SYNC").expect("SYNC reply");
    let commit_at = r.iter().rposition(|m| *m == "COMMIT").unwrap();
    assert!(commit_at < sync_at, "{r:?}");
    assert_applied(&mut c, &[1, 2, 3], &[a]);
    // An origin that is not a synced learner is refused.
    assert_eq!(c.leader(1).sync(now, sid(9), SessionId(3), Xid(9)), Err(SyncError::UnknownOrigin));
}

#[test]
fn five_servers_mixed_sync() {
    // 1 leads with 1:1..1:6; 2 current; 3 lags, 4 has an extra 1:7; 5 is empty.
    let mut specs = vec![
        spec(1, 1, 1, &history(1, 6), z(1, 6)),
        spec(2, 1, 1, &history(1, 6), z(1, 6)),
        spec(3, 1, 1, &history(1, 1), z(1, 1)),
        spec(4, 1, 1, &history(1, 7), z(1, 6)),
        spec(5, 0, 0, &[], Zxid::ZERO),
    ];
    specs[0].log_slots = 5;
    // 4 is "ahead" only by an uncommitted txn in the same epoch; give the leader a
    // newer currentEpoch so that it rightly wins.
    specs[0].epochs = Epochs { accepted: 2, current: 2 };
    specs[1].epochs = Epochs { accepted: 2, current: 2 };
    let mut c = Cluster::start(specs, 1);
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    assert_eq!(c.leader(1).epoch(), Some(3));
    assert_eq!(c.node(2).received[1], "DIFF");
    assert_eq!(c.node(3).received[1], "SNAP", "1:1 fell out of the 5-entry log");
    assert_eq!(c.node(4).received[1], "TRUNC");
    assert_eq!(c.node(5).received[1], "SNAP");
    assert_applied(&mut c, &[1, 2, 3, 4, 5], &history(1, 6));
    let a = c.propose(1);
    c.run();
    let mut expected = history(1, 6);
    expected.push(a);
    assert_applied(&mut c, &[1, 2, 3, 4, 5], &expected);
}

#[test]
fn ack_for_an_unsent_proposal_is_misbehaviour() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    let now = c.now;
    let r = c.leader(1).handle_peer(now, sid(2), &PeerMessage::Ack { zxid: z(2, 5) });
    assert_eq!(r, Err(Misbehaving { peer: sid(2), reason: Misbehavior::ImpossibleZxid(z(2, 5)) }));
    let r = c.leader(1).handle_peer(now, sid(2), &PeerMessage::Ack { zxid: z(1, 1) });
    assert!(r.is_err());
    assert!(c.leader(1).is_established());
}

#[test]
fn outstanding_proposals_are_bounded() {
    let log = build_log(crate::log::OUTSTANDING_PROPOSALS_MAX + 8, Zxid::ZERO, &[], Zxid::ZERO);
    let mut l = Leader::new(Instant(0), sid(1), voters(3), CFG, Epochs::default(), log);
    let info =
        PeerMessage::FollowerInfo { accepted_epoch: 0, protocol_version: 0x10000, role: LearnerType::Participant };
    l.handle_peer(Instant(0), sid(2), &info).unwrap();
    let _ = l.poll_transmit(&mut NoSnap, &mut []);
    let ack = PeerMessage::AckEpoch { current_epoch: Some(0), last_logged_zxid: Zxid::ZERO };
    l.handle_peer(Instant(0), sid(2), &ack).unwrap();
    while l.poll_transmit(&mut NoSnap, &mut []).is_some() {}
    l.handle_peer(Instant(0), sid(2), &PeerMessage::Ack { zxid: z(1, 0) }).unwrap();
    assert!(l.is_established());
    for _ in 0..crate::log::OUTSTANDING_PROPOSALS_MAX {
        let zx = l.next_zxid().unwrap();
        l.propose(Instant(0), &txn_bytes(zx)).unwrap();
    }
    let zx = l.next_zxid().unwrap();
    assert_eq!(l.propose(Instant(0), &txn_bytes(zx)), Err(ProposeError::Busy));
}

#[test]
fn failover_truncates_the_old_leaders_unacked_proposal() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    let a = c.propose(1);
    c.run();
    // 1 logs b, but no follower hears of it; then 1 is cut off and steps down.
    c.isolate(1);
    let b = c.propose(1);
    c.advance(CFG.sync_ms() + CFG.tick_ms, 20);
    assert!(matches!(c.leader(1).state(), LeaderState::Ended(_)));
    assert!(matches!(c.follower(2).state(), FollowerState::Ended(_)));
    assert_eq!(c.node(1).disk.records.last().map(|r| r.0), Some(b));
    // 2 and 3 elect 2 (an election the test plays by hand).
    c.new_role(2, 2);
    c.new_role(3, 2);
    c.run();
    assert!(c.leader(2).is_established());
    assert_eq!(c.leader(2).epoch(), Some(3));
    assert_applied(&mut c, &[2, 3], &[a]);
    // 1 comes back as a follower: its b, above the new leader's history, is truncated.
    c.cut.clear();
    c.new_role(1, 2);
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    let state = c.follower(1).state();
    assert_eq!(received_no_commits(&mut c, 1).get(1), Some(&"TRUNC"), "{state} {:?}", c.node(1).received);
    assert!(c.follower(1).is_serving());
    assert!(!c.node(1).disk.records.iter().any(|r| r.0 == b));
    let d = c.propose(2);
    c.run();
    assert_applied(&mut c, &[1, 2, 3], &[a, d]);
}

#[test]
fn observer_learns_commits_by_inform_and_never_votes() {
    let specs = (1..=4).map(|i| spec(i, 1, 1, &history(1, 1), z(1, 1))).collect();
    let mut c = Cluster::start_with(specs, 1, &[4]);
    c.run();
    assert!(c.misbehaving.is_empty(), "{:?}", c.misbehaving);
    assert!(c.follower(4).is_serving());
    // With both followers slow, the observer's durability does not commit anything.
    c.node(2).auto_flush = false;
    c.node(3).auto_flush = false;
    let a = c.propose(1);
    c.run();
    assert_eq!(c.leader(1).log().committed(), z(1, 1));
    assert!(!c.node(4).received.contains(&"PROPOSAL"));
    c.flush(2);
    assert_applied(&mut c, &[1, 2, 4], &[z(1, 1), a]);
    assert!(c.node(4).received.contains(&"INFORM"));
}

#[test]
fn ping_replies_from_before_a_sync_do_not_answer_it() {
    let specs = (1..=3).map(|i| spec(i, 1, 1, &[], Zxid::ZERO)).collect();
    let mut c = Cluster::start(specs, 1);
    c.run();
    // Pings go out; their replies are slowed down.
    c.park = vec![(sid(2), sid(1)), (sid(3), sid(1))];
    c.advance(CFG.ping_ms(), CFG.ping_ms());
    assert_eq!(c.parked.len(), 2);
    let now = c.now;
    c.leader(1).sync(now, sid(1), SessionId(5), Xid(1)).unwrap();
    c.run();
    // The replies to the old pings arrive: not enough.
    c.release_one(2);
    c.release_one(3);
    assert!(c.node(1).syncs_done.is_empty());
    // One reply to a ping sent after the sync makes a quorum with the leader.
    c.release_one(2);
    assert_eq!(c.node(1).syncs_done, [(SessionId(5), Xid(1))]);
}

#[test]
fn learner_that_cannot_get_its_snapshot_is_disconnected() {
    // The leader's 4-entry log lacks what 2 needs, and no snapshot can be produced.
    let log = build_log(4, Zxid::ZERO, &history(1, 8), z(1, 8));
    let mut l = Leader::new(Instant(0), sid(1), voters(3), CFG, Epochs { accepted: 1, current: 1 }, log);
    let info =
        PeerMessage::FollowerInfo { accepted_epoch: 1, protocol_version: 0x10000, role: LearnerType::Participant };
    l.handle_peer(Instant(0), sid(2), &info).unwrap();
    let _ = l.poll_transmit(&mut NoSnap, &mut []);
    let ack = PeerMessage::AckEpoch { current_epoch: Some(1), last_logged_zxid: z(1, 1) };
    l.handle_peer(Instant(0), sid(2), &ack).unwrap();
    assert_eq!(l.state(), LeaderState::Sync);
    assert_eq!(l.poll_transmit(&mut NoSnap, &mut [0u8; 16]), None);
    assert_eq!(l.poll_event(), Some(Event::Disconnect(sid(2))));
    assert_eq!(l.learner_count(), 0);
    // Without a NEWLEADER quorum, initLimit ends the attempt.
    l.handle_timeout(Instant(CFG.init_ms()));
    assert_eq!(l.state(), LeaderState::Ended(RoleEnd::InitTimeout));
}

#[test]
fn follower_answers_every_ping_once() {
    let mut f = synced_to_epoch5(&[], Zxid::ZERO);
    for _ in 0..3 {
        f.handle_peer(Instant(2), sid(1), &PeerMessage::Ping, &mut NoSnap).unwrap();
    }
    let mut replies = 0;
    while let Some(t) = f.poll_transmit() {
        assert!(matches!(t.msg, PeerMessage::PingReply { .. }));
        replies += 1;
    }
    assert_eq!(replies, 3);
}
