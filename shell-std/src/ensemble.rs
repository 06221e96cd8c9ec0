//! An ensemble member: the standalone pump plus the two peer ports, FastLeaderElection and
//! the ZAB roles from the core.
//!
//! The role decides what the client side does with the core's outputs
//! ([`proto_core::server::Mode`]): a leader's records become proposals and its frames wait
//! for the commit point; a follower forwards writes, applies what the leader commits and
//! hands on the leader's replies. After every input the loop drains the role in the order
//! `proto_core::zab` prescribes: storage, transmits, commits, syncs, events.
//!
//! The tree always holds every txn in this server's log, as ZooKeeper's database does
//! after a load. When that stops being true (a TRUNC below what the tree applied, a
//! snapshot from the leader, a leader write that could not be proposed) the server is
//! rebuilt from disk, as ZooKeeper reloads its database.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant as StdInstant};

use async_net::TcpListener;
use smol::channel::{self, Receiver, Sender};

use proto_core::election::{Dest, Election, Outcome, ServerState, VoteInputs};
use proto_core::log::{
    Entry, TxnLog as RingLog, COMMIT_LOG_COUNT, ENTRIES_DEFAULT, OUTSTANDING_PROPOSALS_MAX, RECORD_BYTES_DEFAULT,
};
use proto_core::peer::{decode_frame, PeerMessage, TouchedSessions, TOUCHED_SESSION_BYTES};
use proto_core::quorum::{LearnerType, Majority, Member as QuorumMember, QuorumVerifier, ServerId};
use proto_core::server::{encode_auth, request_opcode, request_xid, Mode, Server, AUTH_ENCODED_BYTES_MAX};
use proto_core::zab::{
    Epochs, Follower, FollowerState, Handled, Leader, LeaderState, SnapshotError, SnapshotSink, SnapshotSource,
    Storage, ZabConfig,
};
use proto_core::{ConnId, Instant, SessionId, Xid, Zxid};

use crate::config::{Config, PeerRole};
use crate::fourlw::ServerMode;
use crate::host;
use crate::peers::{encode_message, PeerEvent, Peers, PortKind};
use crate::recovery;
use crate::serve::{self, Clock, Event, Out, Outputs};
use crate::snapshotter::Snapshotter;
use crate::storage::{self, LogWriter};

/// Events queued to the core task before readers wait.
const EVENT_QUEUE_MAX: usize = 4096;

/// Bytes of one snapshot chunk sent to a learner: far below the peer frame bound.
const SNAP_CHUNK_BYTES: usize = 256 * 1024;

/// Records of this server's own log put in the in-memory log at start, for DIFF: as many
/// as a leader keeps committed ([`COMMIT_LOG_COUNT`]).
const RING_FROM_DISK_MAX: usize = COMMIT_LOG_COUNT;

/// Entries the in-memory log holds: what it starts with from disk, plus the most a sync
/// can bring before anything is committed (a leader's whole log).
const RING_ENTRIES: usize = RING_FROM_DISK_MAX + ENTRIES_DEFAULT;

/// Touched sessions one PING reply carries at most (the rest go in the next).
const TOUCHED_PER_PING_MAX: usize = 4096;

/// The role as the reports show it.
#[derive(Clone, Debug)]
pub struct Status {
    /// Clients are served (leader established, or follower up to date).
    pub serving: bool,
    /// Leader, follower, ...
    pub mode: ServerMode,
    /// `zk_peer_state`.
    pub peer_state: String,
    /// Voting members.
    pub quorum_size: u64,
    /// Leader: connected learners.
    pub learners: u64,
    /// Leader: learners in broadcast.
    pub synced_followers: u64,
}

/// A request a follower forwarded, being run on a leader's proxy connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Proxy {
    pub conn: ConnId,
    pub origin: ServerId,
    pub session: SessionId,
}

/// What the core asked of the role while handling one input.
#[derive(Default)]
pub(crate) struct Asks {
    /// Set while a forwarded request runs: frames to `conn` are the follower's answer.
    pub proxy: Option<Proxy>,
    /// Answers to forwarded requests, each released to its follower once committed.
    pub remote_replies: VecDeque<(Zxid, ServerId, SessionId, Vec<u8>)>,
    /// Leader: records to propose, in zxid order.
    pub proposals: Vec<(Zxid, Vec<u8>)>,
    /// Follower: client requests for the leader.
    pub forwards: Vec<(ConnId, SessionId, Vec<u8>)>,
    /// Syncs waiting for the leader's round.
    pub syncs: Vec<(ConnId, SessionId, Xid, Vec<u8>)>,
}

enum Role {
    Looking,
    Leading(Box<Leader<'static, Majority>>),
    Following(Box<Follower<'static>>),
}

/// Snapshot bytes a leader streams, one copy per learner being synced by SNAP.
struct Source<'a> {
    server: &'a Server<'static>,
    committed: Zxid,
    /// The leader's epoch: a tree with no txn of it yet holds only the history this leader
    /// was elected with, which it commits as its own.
    epoch: Option<u32>,
    streams: &'a mut HashMap<ServerId, Vec<u8>>,
}

impl SnapshotSource for Source<'_> {
    fn begin(&mut self, to: ServerId) -> Result<Zxid, SnapshotError> {
        let zxid = self.server.last_zxid();
        let only_history = self.epoch.map_or(true, |e| zxid.epoch() < e);
        if zxid != self.committed && !only_history {
            // The tree holds proposals not yet committed; the learner retries.
            log::info!("SNAP for server {to} deferred: proposals in flight");
            return Err(SnapshotError);
        }
        let mut scratch = vec![0u8; 2 * self.server.limits().packet_bytes_max as usize + 4096];
        let mut records = Vec::new();
        self.server
            .write_snapshot(&mut scratch, |rec| {
                records.push(rec.to_vec());
                Ok::<(), io::Error>(())
            })
            .map_err(|_| SnapshotError)?;
        let bytes =
            storage::snapshot_file_bytes(zxid.0, records.iter().map(Vec::as_slice)).map_err(|_| SnapshotError)?;
        log::info!("streaming a snapshot at {zxid} ({} bytes) to server {to}", bytes.len());
        self.streams.insert(to, bytes);
        Ok(zxid)
    }

    fn read(&mut self, to: ServerId, offset: u64, buf: &mut [u8]) -> Result<(usize, bool), SnapshotError> {
        let bytes = self.streams.get(&to).ok_or(SnapshotError)?;
        let rest = bytes.get(offset as usize..).ok_or(SnapshotError)?;
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        let last = n == rest.len();
        if last {
            self.streams.remove(&to);
        }
        Ok((n, last))
    }
}

/// A follower's snapshot being received.
struct Sink<'a>(&'a mut Option<(Zxid, Vec<u8>)>);

impl SnapshotSink for Sink<'_> {
    fn write(&mut self, zxid: Zxid, offset: u64, bytes: &[u8], _last: bool) -> Result<(), SnapshotError> {
        if offset == 0 {
            *self.0 = Some((zxid, Vec::new()));
        }
        let Some((z, buf)) = self.0.as_mut() else { return Err(SnapshotError) };
        if *z != zxid || buf.len() as u64 != offset {
            return Err(SnapshotError);
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

struct Member {
    me: ServerId,
    quorum: Majority,
    zab: ZabConfig,
    config: Config,
    clock: Clock,
    server: Server<'static>,
    out: Outputs,
    election: Election<Majority>,
    role: Role,
    /// The bounded in-memory log, held by the role while there is one.
    ring: Option<RingLog<'static>>,
    epochs: Epochs,
    election_peers: Peers,
    quorum_peers: Peers,
    frame_max: usize,
    ev_tx: Sender<Event>,
    /// Syncs waiting for the leader, by (session, xid): the connection and the path.
    syncs: HashMap<(SessionId, Xid), (ConnId, Vec<u8>)>,
    snap_out: HashMap<ServerId, Vec<u8>>,
    snap_in: Option<(Zxid, Vec<u8>)>,
    chunk: Vec<u8>,
    touched: Vec<u8>,
    auth: Vec<u8>,
    /// When the current role started (leader uptime).
    role_since: StdInstant,
    /// The tree holds something the log does not (a write the leader could not propose):
    /// rebuild it from disk when the role ends.
    reload_on_end: bool,
    /// Deferred client frames may run again (room for proposals, a sync answered): the
    /// drain hands them in.
    retry_pending: bool,
    /// Requests followers forwarded while the leader's proposals were at their bound.
    held_forwards: VecDeque<(ServerId, Vec<u8>)>,
    /// FOLLOWERINFO frames that arrived while this server was still looking.
    early: Vec<(ServerId, Vec<u8>)>,
    /// A message for the leader found no connection: the follower role starts again once
    /// the connection is up.
    lost_to_leader: bool,
    /// How many times the server was rebuilt from disk.
    generation: u64,
    /// Voters whose election connection has been up at some time.
    election_seen: std::collections::HashSet<ServerId>,
    /// Client connections a role change closed, with the generation of the server that
    /// knew them, until their socket task reports them gone.
    closing: HashMap<ConnId, u64>,
}

/// Reads `dataDir/myid`, as ZooKeeper requires of every ensemble member.
fn read_myid(data_dir: &Path) -> io::Result<u64> {
    let path = data_dir.join("myid");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        io::Error::new(e.kind(), format!("{}: {e} (an ensemble member needs its id there)", path.display()))
    })?;
    // Session ids carry the server id in their top byte, so it must fit one (ZooKeeper
    // requires 1..=255 too).
    text.trim().parse().ok().filter(|id| (1..=255).contains(id)).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a server id in 1..=255: {text:?}", path.display()))
    })
}

fn epoch_file(dir: &Path, name: &str) -> io::Result<u32> {
    let value = storage::read_u64_file(dir, name)?.unwrap_or(0);
    u32::try_from(value).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}/{name}: epoch {value} out of range", dir.display()))
    })
}

/// Runs an ensemble member until the process is killed.
pub fn run(config: Config) -> io::Result<()> {
    let myid = read_myid(&config.data_dir)?;
    let mut config = config;
    config.data_dir = config.data_dir.join("version-2");
    config.data_log_dir = config.data_log_dir.join("version-2");
    std::fs::create_dir_all(&config.data_dir)?;
    std::fs::create_dir_all(&config.data_log_dir)?;
    let me = ServerId(myid);
    let members: Vec<QuorumMember> = config
        .servers
        .iter()
        .map(|s| if s.role == PeerRole::Observer { QuorumMember::observer(s.id) } else { QuorumMember::voter(s.id) })
        .collect();
    let quorum = Majority::new(&members)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("server.N lines: {e:?}")))?;
    if !config.servers.iter().any(|s| s.id == myid) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("myid {myid} has no server.{myid} line")));
    }
    let limits = host::limits_from(&config);
    log::info!("server.{myid}: limits: {limits:?}");
    let clock = Clock::new();
    let mut server_cfg = host::server_config(&config);
    server_cfg.server_id = myid as u8;
    let mut server = host::build_server(limits, server_cfg, clock.now())?;
    let mut tail: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let disk_log = recovery::recover_with(&mut server, &config, &clock, |zxid, rec| {
        if tail.len() >= RING_FROM_DISK_MAX {
            tail.pop_front();
        }
        tail.push_back((zxid, rec.to_vec()));
    })?;
    log::info!("server.{myid}: recovered to zxid {}", server.last_zxid());
    let ring = build_ring(&server, &tail);
    let epochs = Epochs {
        accepted: epoch_file(&config.data_dir, "acceptedEpoch")?,
        current: epoch_file(&config.data_dir, "currentEpoch")?,
    };
    let zab = ZabConfig {
        tick_ms: u64::from(config.tick_time_ms),
        init_limit: config.init_limit,
        sync_limit: config.sync_limit,
    };
    let election = Election::new(me, quorum)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("election: {e:?}")))?;
    let frame_max = proto_core::peer::frame_bytes_max(&limits);
    let (ev_tx, ev_rx) = channel::bounded::<Event>(EVENT_QUEUE_MAX);
    let durable_tx = ev_tx.clone();
    let writer = LogWriter::spawn(disk_log, move |r| {
        let _ = durable_tx.send_blocking(Event::Durable(r));
    })?;
    let ex: &'static smol::LocalExecutor<'static> = Box::leak(Box::new(smol::LocalExecutor::new()));
    smol::block_on(ex.run(async move {
        let (etx, erx) = channel::bounded::<PeerEvent>(EVENT_QUEUE_MAX);
        let (qtx, qrx) = channel::bounded::<PeerEvent>(EVENT_QUEUE_MAX);
        let election_peers = Peers::start(ex, me, &config.servers, PortKind::Election, frame_max, etx)?;
        let quorum_peers = Peers::start(ex, me, &config.servers, PortKind::Quorum, frame_max, qtx)?;
        for (kind, rx) in [(PortKind::Election, erx), (PortKind::Quorum, qrx)] {
            let tx = ev_tx.clone();
            ex.spawn(async move {
                while let Ok(ev) = rx.recv().await {
                    if tx.send(Event::Peer(kind, ev)).await.is_err() {
                        break;
                    }
                }
            })
            .detach();
        }
        let listener = TcpListener::bind(config.client_bind_address().as_str()).await?;
        log::info!("server.{myid}: serving ZooKeeper clients on {}", listener.local_addr()?);
        let max_packet = config.jute_maxbuffer;
        let accept_tx = ev_tx.clone();
        let _acceptor = ex.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        ex.spawn(serve::connection(ex, stream, peer, accept_tx.clone(), max_packet)).detach();
                    }
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        smol::Timer::after(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        let mut out = Outputs::new(writer, server.durable_zxid());
        out.ensemble = Some(Status {
            serving: false,
            mode: ServerMode::Follower,
            peer_state: "looking".into(),
            quorum_size: quorum.voter_count() as u64,
            learners: 0,
            synced_followers: 0,
        });
        let mut m = Member {
            me,
            quorum,
            zab,
            clock,
            server,
            out,
            election,
            role: Role::Looking,
            ring: Some(ring),
            epochs,
            election_peers,
            quorum_peers,
            frame_max,
            ev_tx,
            syncs: HashMap::new(),
            snap_out: HashMap::new(),
            snap_in: None,
            chunk: vec![0u8; SNAP_CHUNK_BYTES],
            touched: vec![0u8; TOUCHED_PER_PING_MAX * TOUCHED_SESSION_BYTES],
            auth: vec![0u8; AUTH_ENCODED_BYTES_MAX],
            role_since: StdInstant::now(),
            reload_on_end: false,
            early: Vec::new(),
            held_forwards: VecDeque::new(),
            retry_pending: false,
            lost_to_leader: false,
            generation: 0,
            election_seen: Default::default(),
            closing: HashMap::new(),
            config,
        };
        m.look();
        m.run(ev_rx).await
    }))
}

/// The in-memory log at start: the newest records replayed from disk, uncommitted (the
/// role decides), above the snapshot the tree was loaded from.
fn build_ring(server: &Server<'static>, tail: &VecDeque<(u64, Vec<u8>)>) -> RingLog<'static> {
    let records: &'static mut [u8] = Box::leak(vec![0u8; RECORD_BYTES_DEFAULT].into_boxed_slice());
    let index: &'static mut [Entry] = Box::leak(vec![Entry::EMPTY; RING_ENTRIES].into_boxed_slice());
    let first = tail.front().map(|(z, _)| Zxid(*z));
    // The commit point sits just below the oldest record kept (or at the tree's zxid when
    // the log held nothing after the snapshot).
    let base = match first {
        Some(z) => Zxid(z.0.saturating_sub(1)),
        None => server.last_zxid(),
    };
    let mut ring = RingLog::new(records, index, base);
    for (z, rec) in tail {
        if let Err(e) = ring.append(Zxid(*z), rec) {
            log::warn!("in-memory log refused record {:x}: {e}", z);
            ring.reset(Zxid(*z));
        }
    }
    ring
}

impl Member {
    fn now(&self) -> proto_core::Now {
        self.clock.now()
    }

    fn status(&mut self) -> &mut Status {
        self.out.ensemble.get_or_insert_with(|| Status {
            serving: false,
            mode: ServerMode::Follower,
            peer_state: String::new(),
            quorum_size: 0,
            learners: 0,
            synced_followers: 0,
        })
    }

    /// Starts (or restarts) looking for a leader.
    fn look(&mut self) {
        let now = self.now();
        let last = self.ring.as_ref().map_or(self.server.last_zxid(), |r| r.last_zxid().max(self.server.last_zxid()));
        log::info!("server.{}: LOOKING (last zxid {last}, epochs {:?})", self.me, self.epochs);
        self.role = Role::Looking;
        self.server.set_mode(now, Mode::Standalone);
        self.drop_clients();
        let st = self.status();
        st.serving = false;
        st.peer_state = "looking".into();
        self.election.start(now.instant, VoteInputs { last_logged_zxid: last, current_epoch: self.epochs.current });
        self.drain();
    }

    /// Every client connection closes when the role changes, as in ZooKeeper: clients
    /// reconnect (to this server or another) and catch up with setWatches.
    fn drop_clients(&mut self) {
        for (&id, c) in self.out.conns.iter_mut() {
            c.held.clear();
            c.deferred.clear();
            let _ = c.tx.try_send(Out::Close);
            self.closing.insert(id, self.generation);
        }
        self.out.holding.clear();
        self.out.asks = Asks::default();
        self.syncs.clear();
        self.held_forwards.clear();
    }

    async fn run(&mut self, ev_rx: Receiver<Event>) -> io::Result<()> {
        let mut timer = smol::Timer::never();
        let mut armed: Option<Instant> = None;
        let whitelist = self.config.four_letter_words.clone();
        let mut snapshots = Snapshotter::new(PathBuf::from(&self.config.data_dir), &self.config);
        loop {
            let deadline = self.poll_timeout();
            let mut event = serve::next_event(&ev_rx, &mut timer, &mut armed, deadline, &self.clock).await;
            loop {
                if let Some(ev) = event.take() {
                    self.handle_event(ev, &whitelist, &mut snapshots)?;
                }
                match ev_rx.try_recv() {
                    Ok(ev) => event = Some(ev),
                    Err(_) => break,
                }
            }
            self.handle_timeout();
            self.drain();
            if self.serving() && self.out.txns_since_snapshot >= self.config.snap_count.max(1) && !snapshots.running() {
                self.out.txns_since_snapshot = 0;
                snapshots.start(&self.server, self.ev_tx.clone());
            }
        }
    }

    fn serving(&self) -> bool {
        match &self.role {
            Role::Looking => false,
            Role::Leading(l) => l.is_established(),
            Role::Following(f) => f.is_serving(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let role = match &self.role {
            Role::Looking => None,
            Role::Leading(l) => l.poll_timeout(),
            Role::Following(f) => f.poll_timeout(),
        };
        [self.election.poll_timeout(), role, self.server.poll_timeout().filter(|_| self.serving())]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self) {
        let now = self.now();
        if self.election.poll_timeout().is_some_and(|d| d <= now.instant) {
            self.election.handle_timeout(now.instant);
        }
        match &mut self.role {
            Role::Looking => {}
            Role::Leading(l) => l.handle_timeout(now.instant),
            Role::Following(f) => f.handle_timeout(now.instant),
        }
        if self.serving() && self.server.poll_timeout().is_some_and(|d| d <= now.instant) {
            self.server.handle_timeout(now, &mut self.out);
            self.after_core();
        }
    }

    fn handle_event(&mut self, ev: Event, whitelist: &[String], snapshots: &mut Snapshotter) -> io::Result<()> {
        match ev {
            Event::Peer(kind, pe) => {
                self.handle_peer(kind, pe)?;
                // The role's log makes room by dropping its oldest released entries: drain
                // after every peer input, as the core asks, not once per batch.
                self.drain();
            }
            Event::Durable(Ok(zxid)) => {
                let z = Zxid(zxid);
                match &mut self.role {
                    Role::Leading(l) => l.handle_durable(z),
                    Role::Following(f) => f.handle_durable(z),
                    Role::Looking => {}
                }
            }
            Event::Durable(Err(e)) => {
                return Err(io::Error::new(e.kind(), format!("txn log failed, stopping: {e}")));
            }
            Event::Open { addr, reply, .. }
                if !self.serving() || self.closing.values().any(|&g| g != self.generation) =>
            {
                // Also while connections of a server since rebuilt are still closing: the
                // new server may hand their ids out again, so they must be forgotten first.
                // (Without a rebuild their slots stay taken until they are reported closed.)
                log::info!("refusing client {addr}: not serving (no leader yet)");
                let _ = reply.try_send(None);
            }
            Event::Frame { conn, .. } if !self.serving() || self.closing.contains_key(&conn) => {
                // The role changed under this connection; it is being closed.
            }
            Event::Frame { conn, bytes } if self.leader_busy() => {
                // The leader's proposals in flight are at their bound: the request waits
                // (and the connection's later ones behind it) until commits make room.
                if let Some(c) = self.out.conns.get_mut(&conn) {
                    c.deferred.push_back(bytes);
                }
                self.retry_pending = true;
            }
            Event::Closed { conn } if self.closing.contains_key(&conn) => {
                // Closed by a role change: the server it belonged to may have been rebuilt.
                if self.closing.remove(&conn) == Some(self.generation) {
                    self.server.handle_closed(conn);
                }
                self.out.conns.remove(&conn);
                self.out.holding.remove(&conn);
            }
            other => {
                serve::handle_event(
                    &mut self.server,
                    &mut self.out,
                    &self.clock,
                    &self.config,
                    whitelist,
                    snapshots,
                    other,
                )?;
                self.after_core();
            }
        }
        Ok(())
    }

    /// Carries out what the core asked while handling an input, then lets waiting
    /// connections go on.
    fn after_core(&mut self) {
        self.carry_out();
        self.retry_deferred();
    }

    /// Carries out what the core asked while handling an input.
    fn carry_out(&mut self) {
        let now = self.now();
        let proposals = std::mem::take(&mut self.out.asks.proposals);
        if let Role::Leading(l) = &mut self.role {
            for (zxid, record) in proposals {
                match l.propose(now.instant, &record) {
                    Ok(z) if z == zxid => {}
                    other => {
                        log::error!("server.{}: could not propose {zxid} ({other:?}); re-electing", self.me);
                        l.shutdown();
                        self.reload_on_end = true;
                    }
                }
            }
        }
        let forwards = std::mem::take(&mut self.out.asks.forwards);
        for (conn, session, frame) in forwards {
            let Role::Following(f) = &self.role else { continue };
            let auth = encode_auth(self.server.connections().auth(conn), &mut self.auth).unwrap_or_default();
            // A frame too short for a header goes anyway: the leader refuses it as it would
            // a client's.
            let (cxid, opcode) = (request_xid(&frame).unwrap_or(Xid(0)), request_opcode(&frame).unwrap_or(0));
            let msg = PeerMessage::Request { session, cxid, opcode, body: &frame, auth };
            send(&self.quorum_peers, f.leader(), &msg, self.frame_max);
        }
        let syncs = std::mem::take(&mut self.out.asks.syncs);
        for (conn, session, xid, path) in syncs {
            self.syncs.insert((session, xid), (conn, path));
            match &mut self.role {
                Role::Leading(l) => {
                    if let Err(e) = l.sync(now.instant, self.me, session, xid) {
                        log::warn!("sync refused by the leader role ({e:?}); answering from the local state");
                        self.answer_sync(session, xid);
                    }
                }
                Role::Following(f) => {
                    let msg = PeerMessage::Request { session, cxid: xid, opcode: 9, body: &[], auth: &[] };
                    send(&self.quorum_peers, f.leader(), &msg, self.frame_max);
                }
                Role::Looking => {}
            }
        }
    }

    fn answer_sync(&mut self, session: SessionId, xid: Xid) {
        if let Some((conn, path)) = self.syncs.remove(&(session, xid)) {
            self.server.answer_sync(conn, xid, &path, &mut self.out);
            // Requests the sync held back may run now.
            self.retry_pending = true;
        }
    }

    /// A leader whose proposals in flight are near their bound takes no more requests for
    /// now: one request proposes at most one txn, and the rest wait for commits.
    fn leader_busy(&self) -> bool {
        match &self.role {
            Role::Leading(l) => l.log().uncommitted().len() + 1 >= OUTSTANDING_PROPOSALS_MAX,
            _ => false,
        }
    }

    /// Runs requests followers forwarded that waited for room, in arrival order.
    fn run_held_forwards(&mut self) {
        while !self.leader_busy() {
            let Some((from, raw)) = self.held_forwards.pop_front() else { return };
            let now = self.now();
            // Run it here, not through `server_business`: this sender's later requests still
            // wait in the queue, and `held_for` would hold this one again behind them (and the
            // loop would spin, popping and re-holding it, as long as the leader has room).
            if let Ok(PeerMessage::Request { session, body, auth, .. }) = decode_frame(&raw) {
                self.run_forwarded(now, from, session, body, auth);
            }
        }
    }

    /// Runs one request a follower forwarded, on a proxy connection with its auth ids.
    fn run_forwarded(&mut self, now: proto_core::Now, from: ServerId, session: SessionId, body: &[u8], auth: &[u8]) {
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let Some(proxy) = self.server.open_proxy(now, ip, auth) else {
            log::warn!("server.{}: no slot (or bad auth ids) for a request from server {from}", self.me);
            return;
        };
        self.out.asks.proxy = Some(Proxy { conn: proxy, origin: from, session });
        self.server.handle_forwarded(now, proxy, session, body, &mut self.out);
        self.out.asks.proxy = None;
        self.server.close_proxy(proxy);
        self.carry_out();
    }

    /// Hands deferred frames in again, in order, until one is deferred again.
    fn retry_deferred(&mut self) {
        let waiting: Vec<ConnId> =
            self.out.conns.iter().filter(|(_, c)| !c.deferred.is_empty()).map(|(&id, _)| id).collect();
        for conn in waiting {
            while let Some(frame) = self.out.conns.get_mut(&conn).and_then(|c| c.deferred.pop_front()) {
                if self.leader_busy() {
                    if let Some(c) = self.out.conns.get_mut(&conn) {
                        c.deferred.push_front(frame);
                    }
                    self.retry_pending = true;
                    return;
                }
                let now = self.now();
                if self.server.handle_frame(now, conn, &frame, &mut self.out)
                    == proto_core::server::FrameOutcome::Deferred
                {
                    if let Some(c) = self.out.conns.get_mut(&conn) {
                        c.deferred.push_front(frame);
                    }
                    break;
                }
                // What the frame asked of the role goes out before the next frame runs.
                self.carry_out();
            }
        }
    }
}

/// Sends `msg`; false if it went nowhere (no connection, or it could not be encoded).
fn send(peers: &Peers, to: ServerId, msg: &PeerMessage<'_>, frame_max: usize) -> bool {
    match encode_message(msg, frame_max) {
        Ok(frame) => match peers.send(to, frame) {
            Ok(()) => true,
            Err(e) => {
                log::debug!("{} to server {to} not sent: {e:?}", msg.name());
                false
            }
        },
        Err(e) => {
            log::warn!("{} to server {to} not encoded: {e}", msg.name());
            false
        }
    }
}

impl Member {
    fn handle_peer(&mut self, kind: PortKind, ev: PeerEvent) -> io::Result<()> {
        let now = self.now();
        match (kind, ev) {
            (PortKind::Election, PeerEvent::Frame(from, bytes)) => match decode_frame(&bytes) {
                Ok(PeerMessage::Notification(n)) => {
                    log::debug!("server.{}: from {from}: {n}", self.me);
                    if let Err(e) = self.election.handle_notification(now.instant, from, n) {
                        log::debug!("server.{}: notification from {from} ignored: {e:?}", self.me);
                    }
                }
                Ok(other) => {
                    log::warn!("server.{}: {} on the election port from {from}; closing", self.me, other.name());
                    self.election_peers.close(from);
                }
                Err(e) => {
                    log::warn!("server.{}: election frame from {from}: {e}; closing", self.me);
                    self.election_peers.close(from);
                }
            },
            (PortKind::Election, PeerEvent::Connected(id)) => {
                self.election_seen.insert(id);
            }
            (PortKind::Election, PeerEvent::Disconnected(_)) => {}
            (PortKind::Quorum, PeerEvent::Connected(id)) => {
                if let Role::Following(f) = &self.role {
                    if f.leader() == id && std::mem::take(&mut self.lost_to_leader) {
                        // What this role sent went nowhere: start it again from FOLLOWERINFO.
                        self.restart_follower();
                    }
                }
            }
            (PortKind::Quorum, PeerEvent::Disconnected(id)) => match &mut self.role {
                Role::Leading(l) => l.handle_disconnect(id),
                // A serving follower that loses its leader looks for a new one at once (a
                // dead leader is the likely cause); one still syncing waits for the
                // connection to come back, within initLimit (the peer layer replaces a
                // connection when both sides dial at once).
                Role::Following(f) if f.leader() == id && f.state() == FollowerState::Broadcast => {
                    log::warn!("server.{}: lost the connection to leader {id}", self.me);
                    f.shutdown();
                }
                Role::Following(f) if f.leader() == id => {
                    // Dropped while syncing (a SNAP the leader could not start yet, say):
                    // start again from FOLLOWERINFO as soon as the connection is back.
                    self.lost_to_leader = true;
                }
                _ => {}
            },
            (PortKind::Quorum, PeerEvent::Frame(from, bytes)) => {
                let msg = match decode_frame(&bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        log::warn!("server.{}: quorum frame from {from}: {e}; closing", self.me);
                        self.quorum_peers.close(from);
                        return Ok(());
                    }
                };
                self.handle_quorum(now, from, &msg, &bytes)?;
            }
        }
        Ok(())
    }

    fn handle_quorum(
        &mut self,
        now: proto_core::Now,
        from: ServerId,
        msg: &PeerMessage<'_>,
        raw: &[u8],
    ) -> io::Result<()> {
        let mut role = std::mem::replace(&mut self.role, Role::Looking);
        let handled = match &mut role {
            Role::Looking => {
                if matches!(msg, PeerMessage::FollowerInfo { .. }) {
                    // A follower decided before this server did: keep its hello for the
                    // leader role this election is about to give us.
                    self.early.push((from, raw.to_vec()));
                }
                Ok(Handled::Ignored)
            }
            Role::Leading(l) => l.handle_peer(now.instant, from, msg),
            Role::Following(f) => f.handle_peer(now.instant, from, msg, &mut Sink(&mut self.snap_in)),
        };
        let is_leader = matches!(role, Role::Leading(_));
        self.role = role;
        match handled {
            Ok(Handled::ForServer) => self.server_business(now, from, msg, is_leader),
            Ok(_) => {}
            Err(bad) => {
                log::warn!("server.{}: {bad}; closing that peer", self.me);
                self.quorum_peers.close(from);
            }
        }
        Ok(())
    }

    /// What ZAB passed on: forwarded requests, touched sessions, answers from the leader.
    fn server_business(&mut self, now: proto_core::Now, from: ServerId, msg: &PeerMessage<'_>, is_leader: bool) {
        if !is_leader {
            // The leader sent the COMMITs this answer depends on first: apply them first.
            self.drain();
        }
        match (*msg, is_leader) {
            (PeerMessage::Request { session, cxid, opcode: 9, .. }, true) => {
                if let Role::Leading(l) = &mut self.role {
                    if let Err(e) = l.sync(now.instant, from, session, cxid) {
                        log::warn!("server.{}: sync from server {from} refused: {e:?}", self.me);
                    }
                }
            }
            (PeerMessage::Request { .. }, true) if self.leader_busy() || self.held_for(from) => {
                // Kept in order behind the ones already waiting; run once commits make room.
                if let Ok(raw) = encode_message(msg, self.frame_max) {
                    self.held_forwards.push_back((from, raw[proto_core::peer::FRAME_PREFIX_BYTES..].to_vec()));
                }
            }
            (PeerMessage::Request { session, body, auth, .. }, true) => {
                self.run_forwarded(now, from, session, body, auth)
            }
            (PeerMessage::PingReply { sessions }, true) => {
                for (id, _) in sessions.iter() {
                    self.server.touch_session(now, id);
                }
            }
            (PeerMessage::SyncReply { session, cxid }, false) => self.answer_sync(session, cxid),
            (PeerMessage::Reply { session, frame }, false) => {
                self.server.handle_leader_reply(now, session, frame, &mut self.out);
                self.out.durable = self.server.last_zxid();
                self.out.release();
                self.retry_deferred();
            }
            _ => {}
        }
    }

    /// Whether requests of `from` already wait (later ones must queue behind them).
    fn held_for(&self, from: ServerId) -> bool {
        self.held_forwards.iter().any(|(id, _)| *id == from)
    }

    fn restart_follower(&mut self) {
        let now = self.now();
        if let Role::Following(f) = std::mem::replace(&mut self.role, Role::Looking) {
            let leader = f.leader();
            let log = f.into_log();
            let role = if self.quorum.is_voter(self.me) { LearnerType::Participant } else { LearnerType::Observer };
            self.role = Role::Following(Box::new(Follower::new(
                now.instant,
                self.me,
                leader,
                role,
                self.zab,
                self.epochs,
                log,
            )));
        }
    }

    /// The election decided.
    fn decided(&mut self, o: Outcome) {
        let now = self.now();
        let Some(log) = self.ring.take() else { return };
        self.role_since = StdInstant::now();
        match o.state {
            ServerState::Leading => {
                log::info!("server.{}: LEADING (elected in round {})", self.me, o.election_epoch);
                // Everything logged here is the history this leader was elected with. A
                // follower's tree lacks the proposals it logged but never saw committed:
                // apply them first, so that the tree holds the whole history. Then commit it
                // in the log too, so that a snapshot of the tree is of committed state (a
                // SNAP may be needed before NEWLEADER).
                let mut log = log;
                let behind: Vec<Vec<u8>> =
                    log.range_after(self.server.last_zxid()).map(|(_, rec)| rec.to_vec()).collect();
                for rec in behind {
                    if let Err(e) = self.server.apply_committed(now, &rec, &mut self.out) {
                        log::error!("server.{}: logged txn does not apply: {e:?}; rebuilding from disk", self.me);
                        self.reload_on_end = true;
                    }
                }
                if let Some(max) = log.max_zxid() {
                    if let Err(e) = log.commit_up_to(max) {
                        log::warn!("server.{}: in-memory log: {e}", self.me);
                    }
                }
                let l = Leader::new(now.instant, self.me, self.quorum, self.zab, self.epochs, log);
                self.role = Role::Leading(Box::new(l));
                self.status().mode = ServerMode::Leader;
                self.status().peer_state = "leading - discovery".into();
                for (from, raw) in std::mem::take(&mut self.early) {
                    if let Ok(msg) = decode_frame(&raw) {
                        let _ = self.handle_quorum(now, from, &msg, &raw);
                    }
                }
            }
            ServerState::Following | ServerState::Observing => {
                log::info!("server.{}: FOLLOWING server {}", self.me, o.leader);
                let kind =
                    if o.state == ServerState::Observing { LearnerType::Observer } else { LearnerType::Participant };
                let f = Follower::new(now.instant, self.me, o.leader, kind, self.zab, self.epochs, log);
                self.role = Role::Following(Box::new(f));
                self.status().mode =
                    if kind == LearnerType::Observer { ServerMode::Observer } else { ServerMode::Follower };
                self.status().peer_state = "following - discovery".into();
            }
            ServerState::Looking => self.ring = Some(log),
        }
        self.early.clear();
    }

    /// Drains the election and the role until neither has anything more to say.
    fn drain(&mut self) {
        for _ in 0..64 {
            let mut progressed = false;
            while let Some(t) = self.election.poll_transmit() {
                progressed = true;
                log::debug!("server.{}: to {:?}: {}", self.me, t.to, t.notification);
                let msg = PeerMessage::Notification(t.notification);
                match t.to {
                    Dest::Voters => {
                        for v in self.quorum.voters().filter(|&v| v != self.me).collect::<Vec<_>>() {
                            send(&self.election_peers, v, &msg, self.frame_max);
                        }
                    }
                    Dest::Server(id) => {
                        send(&self.election_peers, id, &msg, self.frame_max);
                    }
                }
            }
            if self.election.is_finalizing() {
                // A voter whose connection went down cannot send a better vote in time. One
                // never connected yet (this server just started, or it did) may be about to:
                // it counts as reachable, so the full wait runs.
                let reachable: Vec<ServerId> = self
                    .quorum
                    .voters()
                    .filter(|&v| {
                        v != self.me && (self.election_peers.is_connected(v) || !self.election_seen.contains(&v))
                    })
                    .collect();
                progressed |= self.election.finalize_early(reachable);
            }
            if let Some(o) = self.election.poll_outcome() {
                progressed = true;
                self.decided(o);
            }
            let role = std::mem::replace(&mut self.role, Role::Looking);
            let (role, more) = match role {
                Role::Looking => (Role::Looking, false),
                Role::Leading(l) => self.drain_leader(l),
                Role::Following(f) => self.drain_follower(f),
            };
            match role {
                Role::Leading(l) if matches!(l.state(), LeaderState::Ended(_)) => {
                    if let LeaderState::Ended(why) = l.state() {
                        log::warn!("server.{}: leadership ended: {why}", self.me);
                    }
                    self.ring = Some(l.into_log());
                    self.end_role();
                    progressed = true;
                }
                Role::Following(f) if matches!(f.state(), FollowerState::Ended(_)) => {
                    if let FollowerState::Ended(why) = f.state() {
                        log::warn!("server.{}: following ended: {why}", self.me);
                    }
                    self.ring = Some(f.into_log());
                    self.end_role();
                    progressed = true;
                }
                other => self.role = other,
            }
            if !self.held_forwards.is_empty() && !self.leader_busy() {
                self.run_held_forwards();
                progressed = true;
            }
            if self.retry_pending && !self.leader_busy() {
                // Requests held while the leader was busy, or behind a sync just answered,
                // run now.
                self.retry_pending = false;
                self.retry_deferred();
                progressed = true;
            }
            if !(progressed || more) {
                break;
            }
        }
    }

    fn end_role(&mut self) {
        if std::mem::take(&mut self.reload_on_end) {
            if let Err(e) = self.reload(None, None) {
                log::error!("server.{}: rebuilding the tree from disk failed: {e}; stopping", self.me);
                std::process::exit(3);
            }
        }
        self.look();
    }

    fn storage_op(&mut self, op: Storage, log: &RingLog<'static>) -> io::Result<()> {
        match op {
            Storage::PersistEpochs(e) => {
                storage::write_u64_file_atomic(&self.config.data_dir, "acceptedEpoch", u64::from(e.accepted))?;
                storage::write_u64_file_atomic(&self.config.data_dir, "currentEpoch", u64::from(e.current))?;
                self.epochs = e;
            }
            Storage::Append { zxid } => {
                let Some(record) = log.get(zxid) else { return Ok(()) };
                self.out.txns_since_snapshot += 1;
                if let Some(w) = &self.out.writer {
                    w.submit(zxid.0, record.to_vec())?;
                }
            }
            Storage::TruncateLog { after } => {
                log::info!("server.{}: TRUNC to {after}", self.me);
                self.reload(Some(after), None)?;
            }
            Storage::InstallSnapshot { zxid } => {
                let Some((z, bytes)) = self.snap_in.take().filter(|(z, _)| *z == zxid) else {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "SNAP ended without its bytes"));
                };
                log::info!("server.{}: installing the leader's snapshot at {z} ({} bytes)", self.me, bytes.len());
                self.reload(None, Some((z, bytes)))?;
            }
        }
        Ok(())
    }

    fn fatal(&self, what: &str, e: io::Error) -> ! {
        log::error!("server.{}: {what}: {e}; stopping so that nothing unsafe is acknowledged", self.me);
        std::process::exit(3);
    }

    fn drain_leader(&mut self, mut l: Box<Leader<'static, Majority>>) -> (Role, bool) {
        let now = self.now();
        let mut more = false;
        while let Some(op) = l.poll_storage() {
            more = true;
            if let Err(e) = self.storage_op(op, l.log()) {
                self.fatal("storage", e);
            }
        }
        let committed = l.log().committed();
        {
            let epoch = l.epoch();
            let mut source = Source { server: &self.server, committed, epoch, streams: &mut self.snap_out };
            while let Some(t) = l.poll_transmit(&mut source, &mut self.chunk) {
                more = true;
                send(&self.quorum_peers, t.to, &t.msg, self.frame_max);
            }
        }
        while let Some(z) = l.poll_commit() {
            more = true;
            if z > self.server.last_zxid() {
                // History this leader logged before the election, now committed.
                if let Some(rec) = l.log().get(z) {
                    if let Err(e) = self.server.apply_committed(now, rec, &mut self.out) {
                        log::error!("server.{}: committed txn {z} does not apply: {e:?}", self.me);
                    }
                }
            }
            self.out.durable = self.out.durable.max(z);
        }
        if l.is_established() && self.server.mode() != Mode::Leading {
            let epoch = l.epoch().unwrap_or(0);
            log::info!("server.{}: established as leader of epoch {epoch}", self.me);
            self.server.set_mode(now, Mode::Leading);
            self.server.begin_epoch(epoch);
            self.out.durable = self.out.durable.max(l.log().committed());
            self.election.update_vote_epoch(epoch);
            let st = self.status();
            st.serving = true;
            st.peer_state = "leading - broadcast".into();
        }
        self.out.release();
        let visible = self.out.durable;
        while self.out.asks.remote_replies.front().is_some_and(|(after, ..)| *after <= visible) {
            let Some((_, origin, session, frame)) = self.out.asks.remote_replies.pop_front() else { break };
            send(&self.quorum_peers, origin, &PeerMessage::Reply { session, frame: &frame }, self.frame_max);
        }
        while let Some((session, xid)) = l.poll_sync() {
            more = true;
            self.answer_sync(session, xid);
        }
        while let Some(ev) = l.poll_event() {
            let proto_core::zab::Event::Disconnect(id) = ev;
            self.quorum_peers.close(id);
        }
        let n = l.learner_count() as u64;
        let st = self.status();
        st.learners = n;
        st.synced_followers = n;
        (Role::Leading(l), more)
    }

    fn drain_follower(&mut self, mut f: Box<Follower<'static>>) -> (Role, bool) {
        let now = self.now();
        let mut more = false;
        while let Some(op) = f.poll_storage() {
            more = true;
            if let Err(e) = self.storage_op(op, f.log()) {
                self.fatal("storage", e);
            }
        }
        while let Some(t) = f.poll_transmit() {
            more = true;
            let msg = match t.msg {
                PeerMessage::PingReply { .. } => {
                    let mut live = self.server.relayed_sessions(now);
                    PeerMessage::PingReply { sessions: TouchedSessions::fill(&mut live, &mut self.touched) }
                }
                other => other,
            };
            if !send(&self.quorum_peers, t.to, &msg, self.frame_max) {
                self.lost_to_leader = true;
            }
        }
        while let Some(z) = f.poll_commit() {
            more = true;
            let Some(rec) = f.log().get(z) else { continue };
            let expected = f.log().range_after(self.server.last_zxid()).next().map(|(n, _)| n);
            if z > self.server.last_zxid() && expected != Some(z) {
                log::error!(
                    "server.{}: commit {z} skips {expected:?} after the tree's {}",
                    self.me,
                    self.server.last_zxid()
                );
            }
            if let Err(e) = self.server.apply_committed(now, rec, &mut self.out) {
                log::error!("server.{}: committed txn {z} does not apply: {e:?}", self.me);
            }
        }
        if f.is_serving() && self.server.mode() != Mode::Following {
            log::info!("server.{}: up to date with leader {}", self.me, f.leader());
            self.server.set_mode(now, Mode::Following);
            // Answers to LOOKING servers must carry the epoch the leader's do, or a
            // restarted server never sees a quorum agree (updateElectionVote).
            if let Some(epoch) = f.epoch() {
                self.election.update_vote_epoch(epoch);
            }
            let st = self.status();
            st.serving = true;
            st.peer_state = "following - broadcast".into();
        }
        self.out.durable = self.server.last_zxid();
        self.out.release();
        (Role::Following(f), more)
    }

    /// Rebuilds the tree from disk, after cutting the log at `trunc` or installing `snap`.
    fn reload(&mut self, trunc: Option<Zxid>, snap: Option<(Zxid, Vec<u8>)>) -> io::Result<()> {
        let now = self.now();
        if let Some(w) = self.out.writer.take() {
            w.shutdown()?;
        }
        // In this order a crash at any step leaves a state recovery accepts (storage docs):
        // a snapshot newer than the cut would bring dropped txns back.
        if let Some(z) = trunc {
            storage::remove_snapshots_after(&self.config.data_dir, z.0)?;
            storage::truncate_log_after(&self.config.data_log_dir, z.0)?;
        }
        if let Some((z, bytes)) = snap {
            storage::remove_snapshots_after(&self.config.data_dir, z.0)?;
            storage::truncate_log_after(&self.config.data_log_dir, z.0)?;
            storage::install_snapshot_bytes(&self.config.data_dir, z.0, &bytes)?;
            storage::truncate_log_all(&self.config.data_log_dir)?;
        }
        let mut server = host::build_server(*self.server.limits(), self.server.config().clone(), now)?;
        let log = recovery::recover(&mut server, &self.config, &self.clock)?;
        let tx = self.ev_tx.clone();
        self.out.writer = Some(LogWriter::spawn(log, move |r| {
            let _ = tx.send_blocking(Event::Durable(r));
        })?);
        server.set_mode(now, self.server.mode());
        self.drop_clients();
        self.server = server;
        self.generation += 1;
        log::info!("server.{}: tree rebuilt from disk at {}", self.me, self.server.last_zxid());
        Ok(())
    }
}
