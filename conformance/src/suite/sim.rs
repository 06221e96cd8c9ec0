//! The simulator target: one standalone [`Server`] in process, on simulated time.
//!
//! It is driven as herd's std shell drives the core (`shell_std::serve`): bytes from a client
//! are cut into frames by their length prefix (a four-letter word or a bad length on a new
//! connection is handled as the shell does), every frame goes to `handle_frame`, frames out
//! are held per connection until the durable zxid reaches their `after`, a close from the
//! core closes the connection once what was queued before it went out, and the one timer is
//! `poll_timeout`. Records appended go to an in-memory "disk" and are durable at once; a
//! restart replays them into a fresh server, as `shell_std::recovery` replays the log.
//!
//! Time moves only when asked ([`Target::elapse`], or a [`Target::recv`] that waits), in
//! steps from one core deadline to the next, so sessions expire and containers are reaped on
//! the same schedule as on a real server. Nothing reads a clock or starts a thread: a run is
//! deterministic.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use proto_core::jute::{classify_length, classify_prefix, FourLetterWord, Prefix};
use proto_core::limits::Limits;
use proto_core::server::{Effects, FrameOutcome, Note, Server, ServerConfig};
use proto_core::{ConnId, Instant, Now, SessionId, Xid, Zxid};
use shell_std::config::Config;
use shell_std::fourlw::{self, EnvReport};
use shell_std::host;
use shell_std::report::{self, ConnFacts, ShellFacts};

use super::target::{config, Link, Recv, Target, TargetError};

/// Wall-clock time when a simulation starts (2026-01-01T00:00:00Z), in ms since the epoch:
/// fixed, so ctime/mtime and session ids are the same on every run.
pub const START_WALL_MS: i64 = 1_767_225_600_000;

/// The address every simulated client connects from (the ip ACL scenarios use it).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Notes kept for [`Target::diagnostics`].
const NOTES_KEPT: usize = 30;

/// First port handed to simulated client connections (as the OS hands out ephemeral ports).
const CLIENT_PORT_BASE: u16 = 40_000;

/// Ports handed out before they wrap to [`CLIENT_PORT_BASE`].
const CLIENT_PORTS: u64 = 20_000;

/// Bytes of a frame's length prefix.
const LENGTH_PREFIX_BYTES: usize = 4;

/// Bytes of the trace mask `stmk` carries after the word.
const STMK_MASK_BYTES: usize = 8;

/// ZooKeeper's default trace mask, shown by `gtmk` (as `shell_std::serve` starts with).
const DEFAULT_TRACE_MASK: i64 = 306;

/// Where the report says the data lives (nothing is written there).
const DATA_DIR: &str = "/sim/data";

/// Open file descriptors `mntr` reports besides one per connection (stdio, the listener,
/// the log): a fixed stand-in for `/proc/self/fd`, which a simulation does not have.
const BASE_OPEN_FDS: u64 = 8;

/// The file descriptor limit `mntr` reports.
const MAX_FDS: u64 = 65_536;

/// The session password secret: fixed, so session passwords are the same on every run.
const PASSWORD_SECRET: [u8; 16] = *b"herd-sim-secret!";

/// zoo.cfg of the simulated server: the suite's shared settings ([`config`]) plus small
/// tables, so that building one (many are built per run) is cheap. `jute.maxbuffer` stays
/// at ZooKeeper's default, as the limits scenarios expect.
fn zoo_cfg() -> String {
    format!(
        "tickTime={}\nminSessionTimeout={}\nmaxSessionTimeout={}\ndataDir={DATA_DIR}\n\
         4lw.commands.whitelist={}\nextendedTypesEnabled={}\n\
         DigestAuthenticationProvider.superDigest={}\nznode.container.checkIntervalMs={}\n\
         herd.znodesMax=100000\nherd.dataBytesMax=64M\nherd.sessionsMax=4096\nherd.watchesMax=100000\n\
         herd.aclListsMax=4096\nherd.connectionsMax=1024\n",
        config::TICK_MS,
        config::MIN_SESSION_MS,
        config::MAX_SESSION_MS,
        config::FOUR_LETTER_WHITELIST,
        config::EXTENDED_TYPES,
        config::SUPER_DIGEST,
        config::CONTAINER_CHECK_MS,
    )
}

/// What the core emitted during one call, in order.
enum Emitted {
    /// `Effects::send`.
    Send(ConnId, Vec<u8>, Zxid),
    /// `Effects::close`.
    Close(ConnId, Zxid),
    /// `Effects::append`.
    Append(Zxid, Vec<u8>),
    /// `Effects::note`, or a forward/sync a standalone server never asks for.
    Note(String),
}

/// The [`Effects`] of a simulated server: everything is recorded and applied after the call.
#[derive(Default)]
struct Emissions(Vec<Emitted>);

impl Effects for Emissions {
    fn send(&mut self, conn: ConnId, frame: &[u8], after: Zxid) {
        self.0.push(Emitted::Send(conn, frame.to_vec(), after));
    }

    fn close(&mut self, conn: ConnId, after: Zxid) {
        self.0.push(Emitted::Close(conn, after));
    }

    fn append(&mut self, zxid: Zxid, record: &[u8]) {
        self.0.push(Emitted::Append(zxid, record.to_vec()));
    }

    fn note(&mut self, note: Note<'_>) {
        self.0.push(Emitted::Note(note.to_string()));
    }

    fn forward(&mut self, conn: ConnId, session: SessionId, _frame: &[u8]) {
        self.0.push(Emitted::Note(format!("{conn}: unexpected forward for session {session} (standalone)")));
    }

    fn sync(&mut self, conn: ConnId, session: SessionId, _xid: Xid, _path: &[u8]) {
        self.0.push(Emitted::Note(format!("{conn}: unexpected sync for session {session} (standalone)")));
    }
}

/// A running server and the shell's state around it (lost on kill, as a process's is).
struct Node {
    server: Server<'static>,
    fx: Emissions,
    /// Which link each open connection is.
    links: HashMap<ConnId, Link>,
    /// Highest zxid on the disk.
    durable: Zxid,
    /// Frames sent since start.
    frames_sent: u64,
    /// Four-letter words answered since start.
    four_letter_words: u64,
    /// Bytes of client frames received, prefixes included.
    bytes_received: u64,
    /// Client connections accepted.
    connections_accepted: u64,
    /// Bytes of the last/min/max reply (−1 before any), as `srst` resets them.
    reply_sizes: (i64, i64, i64),
    /// The mask `stmk` sets and `gtmk` shows.
    trace_mask: i64,
}

/// A frame or close held until the durable zxid reaches its `after`.
enum Held {
    Frame(Vec<u8>),
    Close,
}

/// One client connection as the simulated network sees it.
struct LinkState {
    /// Port of the simulated client (its address is [`CLIENT_IP`]).
    port: u16,
    /// The core's connection, once the first length arrived and until closed.
    conn: Option<ConnId>,
    /// The first 4 bytes arrived (after them, 4lw words are only lengths).
    started: bool,
    /// Bytes received that do not make a whole frame yet.
    input: Vec<u8>,
    /// Frames out that the client has not read (length prefix removed).
    inbox: VecDeque<Vec<u8>>,
    /// Frames and a close waiting for durability.
    held: VecDeque<(Zxid, Held)>,
    /// Frames the core deferred, to hand in again in order.
    deferred: VecDeque<Vec<u8>>,
    /// No more frames come: the server closed it, or it was killed.
    closed: bool,
    /// Frames received, for `cons`.
    received: u64,
    /// Frames sent, for `cons`.
    sent: u64,
}

impl LinkState {
    fn new(port: u16) -> LinkState {
        LinkState {
            port,
            conn: None,
            started: false,
            input: Vec::new(),
            inbox: VecDeque::new(),
            held: VecDeque::new(),
            deferred: VecDeque::new(),
            closed: false,
            received: 0,
            sent: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(CLIENT_IP), self.port)
    }

    /// The link is cut: nothing more goes in or out.
    fn cut(&mut self) {
        self.conn = None;
        self.closed = true;
        self.input.clear();
        self.held.clear();
        self.deferred.clear();
    }
}

/// One standalone herd core in process, on simulated time: the suite's `sim` target.
pub struct SimTarget {
    /// zoo.cfg as parsed by the shell (for `conf` and the report).
    config: Config,
    /// The bounds every (re)start runs with.
    limits: Limits,
    /// The core's settings.
    core_config: ServerConfig,
    /// `4lw.commands.whitelist`.
    whitelist: Vec<String>,
    /// Simulated monotonic time, ms since the simulation started.
    now_ms: u64,
    /// When the running server (or the last one) started, ms.
    started_ms: Option<u64>,
    /// The server, `None` while killed.
    node: Option<Node>,
    /// Every record appended, in order: what survives a kill.
    disk: Vec<Vec<u8>>,
    /// Client connections, open or closed by the server (a client's own close forgets it).
    links: BTreeMap<Link, LinkState>,
    /// Next link number.
    next_link: u64,
    /// The last notes, for diagnostics.
    notes: VecDeque<String>,
}

impl SimTarget {
    /// A running server with an empty tree at [`START_WALL_MS`].
    pub fn new() -> Result<SimTarget, TargetError> {
        let config = Config::parse(&zoo_cfg()).map_err(|e| TargetError(format!("sim zoo.cfg: {e}")))?;
        let limits = host::limits_from(&config);
        let mut core_config = host::server_config(&config);
        core_config.password_secret = PASSWORD_SECRET;
        let whitelist = config.four_letter_words.clone();
        let mut sim = SimTarget {
            config,
            limits,
            core_config,
            whitelist,
            now_ms: 0,
            started_ms: None,
            node: None,
            disk: Vec::new(),
            links: BTreeMap::new(),
            next_link: 0,
            notes: VecDeque::new(),
        };
        sim.start()?;
        Ok(sim)
    }

    /// Simulated monotonic time since the simulation started.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms)
    }

    /// Records on the simulated disk.
    pub fn durable_records(&self) -> usize {
        self.disk.len()
    }

    /// The running server, for checks beyond the wire (`None` while killed).
    pub fn server(&self) -> Option<&Server<'static>> {
        self.node.as_ref().map(|n| &n.server)
    }

    fn clock(&self) -> Now {
        Now { instant: Instant(self.now_ms), wall_ms: START_WALL_MS.saturating_add_unsigned(self.now_ms) }
    }

    fn note(&mut self, text: impl Into<String>) {
        if self.notes.len() == NOTES_KEPT {
            self.notes.pop_front();
        }
        self.notes.push_back(format!("[{} ms] {}", self.now_ms, text.into()));
    }

    /// Builds a server, replays the disk into it and lets it serve.
    fn start(&mut self) -> Result<(), TargetError> {
        // Session ids are seeded from the start time's ms: a later start in a later ms never
        // hands out an id an earlier run (whose sessions the disk restores) handed out.
        if self.started_ms.is_some_and(|s| s >= self.now_ms) {
            self.now_ms += 1;
        }
        let now = self.clock();
        let mut server = host::build_server(self.limits, self.core_config.clone(), now)
            .map_err(|e| TargetError(format!("building the sim server: {e}")))?;
        for (i, record) in self.disk.iter().enumerate() {
            server.replay(now, record).map_err(|e| TargetError(format!("replaying record {i}: {e:?}")))?;
        }
        server.finish_recovery(now);
        let durable = server.durable_zxid();
        self.node = Some(Node {
            server,
            fx: Emissions::default(),
            links: HashMap::new(),
            durable,
            frames_sent: 0,
            four_letter_words: 0,
            bytes_received: 0,
            connections_accepted: 0,
            reply_sizes: (-1, -1, -1),
            trace_mask: DEFAULT_TRACE_MASK,
        });
        self.started_ms = Some(self.now_ms);
        let records = self.disk.len();
        self.note(format!("started; replayed {records} records to zxid {durable}"));
        Ok(())
    }

    /// Applies what the core emitted: records to disk (durable at once), frames and closes
    /// released in order once durable, closes carried out. Then hands deferred frames in
    /// again, until nothing more happens.
    fn pump(&mut self) {
        loop {
            self.settle();
            if !self.retry_deferred() {
                break;
            }
        }
    }

    fn settle(&mut self) {
        loop {
            let Some(node) = self.node.as_mut() else { return };
            let emitted = std::mem::take(&mut node.fx.0);
            if emitted.is_empty() {
                return;
            }
            let mut notes = Vec::new();
            for e in emitted {
                match e {
                    Emitted::Append(zxid, record) => {
                        self.disk.push(record);
                        node.durable = node.durable.max(zxid);
                    }
                    Emitted::Note(n) => notes.push(n),
                    Emitted::Send(conn, frame, after) => {
                        let len = frame.len() as i64;
                        let (last, min, max) = &mut node.reply_sizes;
                        *last = len;
                        *min = if *min < 0 { len } else { (*min).min(len) };
                        *max = (*max).max(len);
                        node.frames_sent += 1;
                        if let Some(l) = node.links.get(&conn).and_then(|l| self.links.get_mut(l)) {
                            l.sent += 1;
                            l.held.push_back((after, Held::Frame(frame)));
                        }
                    }
                    Emitted::Close(conn, after) => {
                        if let Some(l) = node.links.get(&conn).and_then(|l| self.links.get_mut(l)) {
                            l.held.push_back((after, Held::Close));
                        }
                    }
                }
            }
            // Everything appended is on the disk now.
            node.server.handle_durable(node.durable);
            let durable = node.durable;
            let mut closes = Vec::new();
            for l in node.links.values() {
                let Some(state) = self.links.get_mut(l) else { continue };
                while state.held.front().is_some_and(|(after, _)| *after <= durable) {
                    let Some((_, held)) = state.held.pop_front() else { break };
                    match held {
                        Held::Frame(f) => state.inbox.push_back(f.get(LENGTH_PREFIX_BYTES..).unwrap_or(&[]).to_vec()),
                        Held::Close => {
                            closes.extend(state.conn);
                            break;
                        }
                    }
                }
            }
            // The shell shuts the socket after the close, and its reader reports it gone.
            closes.sort();
            for conn in closes {
                node.server.handle_closed(conn);
                if let Some(l) = node.links.remove(&conn) {
                    if let Some(state) = self.links.get_mut(&l) {
                        state.cut();
                    }
                }
            }
            for n in notes {
                self.note(n);
            }
        }
    }

    /// Hands each connection's first deferred frame in again; true if any was taken.
    fn retry_deferred(&mut self) -> bool {
        let now = self.clock();
        let Some(node) = self.node.as_mut() else { return false };
        let mut progressed = false;
        for state in self.links.values_mut() {
            let Some(conn) = state.conn else { continue };
            let Some(frame) = state.deferred.pop_front() else { continue };
            if node.server.handle_frame(now, conn, &frame, &mut node.fx) == FrameOutcome::Deferred {
                state.deferred.push_front(frame);
            } else {
                progressed = true;
            }
        }
        progressed
    }

    /// Cuts `link` from the server's side (bad input): as the shell's reader stops.
    fn drop_link(&mut self, link: Link, why: String) {
        let Some(state) = self.links.get_mut(&link) else { return };
        let conn = state.conn;
        // What was already released stays readable; nothing more comes.
        state.cut();
        if let (Some(conn), Some(node)) = (conn, self.node.as_mut()) {
            node.server.handle_closed(conn);
            node.links.remove(&conn);
        }
        self.note(format!("{link:?}: {why}; closing"));
    }

    /// Cuts whole frames out of what arrived on `link` and hands them to the core.
    fn read_input(&mut self, link: Link) {
        let max_packet = self.limits.packet_bytes_max;
        loop {
            let Some(state) = self.links.get_mut(&link) else { return };
            if state.closed {
                state.input.clear();
                return;
            }
            let Some(prefix) = state.input.first_chunk::<LENGTH_PREFIX_BYTES>().copied() else { return };
            let class =
                if state.started { classify_length(prefix, max_packet) } else { classify_prefix(prefix, max_packet) };
            let len = match class {
                Prefix::FourLetter(word) => {
                    // Answered as on a fresh connection, then closed: the answer is text,
                    // not frames, so the link reads Closed.
                    let mask = state
                        .input
                        .get(LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + STMK_MASK_BYTES)
                        .and_then(|b| b.try_into().ok())
                        .map(i64::from_be_bytes);
                    let port = state.port;
                    state.cut();
                    if word != FourLetterWord::Stmk || mask.is_some() {
                        let _ = self.answer_four_letter(word, mask, port);
                    }
                    return;
                }
                Prefix::Invalid(n) => {
                    let what = if state.started { "frame length" } else { "first frame length" };
                    return self.drop_link(link, format!("{what} {n} out of range"));
                }
                Prefix::Length(n) => n as usize,
            };
            if state.input.len() < LENGTH_PREFIX_BYTES + len {
                return;
            }
            let frame: Vec<u8> = state.input.drain(..LENGTH_PREFIX_BYTES + len).skip(LENGTH_PREFIX_BYTES).collect();
            let first = !state.started;
            state.started = true;
            let port = state.port;
            let now = self.clock();
            let Some(node) = self.node.as_mut() else { return };
            if first {
                match node.server.handle_open(now, IpAddr::V4(CLIENT_IP)) {
                    Ok(conn) => {
                        node.connections_accepted += 1;
                        node.links.insert(conn, link);
                        if let Some(state) = self.links.get_mut(&link) {
                            state.conn = Some(conn);
                        }
                    }
                    Err(e) => {
                        let why = format!("refusing connection from port {port}: {e:?}");
                        if let Some(state) = self.links.get_mut(&link) {
                            state.cut();
                        }
                        self.note(why);
                        return;
                    }
                }
            }
            let Some(state) = self.links.get_mut(&link) else { return };
            let Some(conn) = state.conn else { return };
            state.received += 1;
            node.bytes_received += (LENGTH_PREFIX_BYTES + len) as u64;
            if !state.deferred.is_empty()
                || node.server.handle_frame(now, conn, &frame, &mut node.fx) == FrameOutcome::Deferred
            {
                state.deferred.push_back(frame);
            }
            self.pump();
        }
    }

    /// The next core deadline, if a server runs.
    fn deadline(&self) -> Option<u64> {
        self.node.as_ref().and_then(|n| n.server.poll_timeout()).map(|i| i.0)
    }

    /// Moves time toward `until`: to the next core deadline at or before it (and runs the
    /// timers, true), or to `until` when none is due by then (false).
    fn step_toward(&mut self, until: u64) -> bool {
        match self.deadline() {
            Some(due) if due <= until => {
                self.now_ms = self.now_ms.max(due);
                let now = self.clock();
                if let Some(node) = self.node.as_mut() {
                    node.server.handle_timeout(now, &mut node.fx);
                }
                self.pump();
                if self.deadline().is_some_and(|d| d <= self.now_ms) {
                    // A deadline the timers did not move: let a ms pass rather than spin.
                    if self.now_ms >= until {
                        return false;
                    }
                    self.now_ms += 1;
                }
                true
            }
            _ => {
                self.now_ms = self.now_ms.max(until);
                false
            }
        }
    }

    fn check_server(&self, server: usize) -> Result<(), TargetError> {
        if server == 0 {
            Ok(())
        } else {
            Err(TargetError(format!("the sim has one server (0), not {server}")))
        }
    }

    fn take_port(&mut self) -> (Link, u16) {
        let link = Link(self.next_link);
        self.next_link += 1;
        (link, CLIENT_PORT_BASE + (link.0 % CLIENT_PORTS) as u16)
    }

    /// Answers a four-letter word as herd's shell does (`serve.rs` and `report.rs`), with
    /// the simulation's values; `None` while killed.
    fn answer_four_letter(&mut self, word: FourLetterWord, mask: Option<i64>, port: u16) -> Option<String> {
        let now = self.clock();
        let whitelisted = fourlw::whitelisted(word.as_str(), &self.whitelist);
        let node = self.node.as_mut()?;
        if let Some(mask) = mask.filter(|_| whitelisted) {
            node.trace_mask = mask;
        }
        let peer = SocketAddr::new(IpAddr::V4(CLIENT_IP), port);
        let (links, node_links) = (&self.links, &node.links);
        let conn = |c: ConnId| {
            node_links.get(&c).and_then(|l| links.get(l)).map(|l| ConnFacts {
                addr: l.addr(),
                received: l.received,
                sent: l.sent,
            })
        };
        let alive = u64::from(node.server.connections().open_count()) + 1;
        let facts = ShellFacts {
            conn: &conn,
            four_letter_words: node.four_letter_words,
            frames_sent: node.frames_sent,
            trace_mask: node.trace_mask,
            reply_sizes: node.reply_sizes,
            connections_accepted: node.connections_accepted,
            bytes_received: node.bytes_received,
            dir_sizes: (0, self.disk.iter().map(|r| r.len() as u64).sum()),
            environment: sim_environment(),
            fds: Some((BASE_OPEN_FDS + alive, MAX_FDS)),
            ensemble: None,
        };
        let text = report::answer(&node.server, &facts, &self.config, &self.whitelist, word, peer, now);
        if whitelisted {
            match word {
                FourLetterWord::Srst => node.reply_sizes = (-1, -1, -1),
                FourLetterWord::Crst => {
                    node.server.reset_connection_stats();
                    for l in node.links.values() {
                        if let Some(state) = self.links.get_mut(l) {
                            (state.received, state.sent) = (0, 0);
                        }
                    }
                }
                _ => {}
            }
        }
        node.four_letter_words += 1;
        Some(text)
    }
}

/// Milliseconds of a wait, rounded down (the core counts in ms).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `envi`'s facts for the simulation: fixed, not read from the process.
fn sim_environment() -> EnvReport {
    let na = || "<NA>".to_string();
    EnvReport {
        host_name: "sim".to_string(),
        runtime_version: fourlw::HERD_VERSION.to_string(),
        runtime_vendor: "herd".to_string(),
        runtime_home: na(),
        class_path: na(),
        library_path: na(),
        tmp_dir: "/tmp".to_string(),
        compiler: na(),
        os_name: "Linux".to_string(),
        os_arch: "amd64".to_string(),
        os_version: na(),
        user_name: "sim".to_string(),
        user_home: DATA_DIR.to_string(),
        user_dir: DATA_DIR.to_string(),
        memory_free_mb: 0,
        memory_max_mb: 0,
        memory_total_mb: 0,
    }
}

impl Target for SimTarget {
    fn name(&self) -> &str {
        "sim"
    }

    fn servers(&self) -> usize {
        1
    }

    fn real_time(&self) -> bool {
        false
    }

    fn connect(&mut self, server: usize) -> Result<Link, TargetError> {
        self.check_server(server)?;
        if self.node.is_none() {
            return Err(TargetError("connection refused: server 0 is down".into()));
        }
        // The core hears of the connection with its first bytes, as from the std shell.
        let (link, port) = self.take_port();
        self.links.insert(link, LinkState::new(port));
        Ok(link)
    }

    fn send(&mut self, link: Link, frame: &[u8]) -> Result<(), TargetError> {
        let Some(state) = self.links.get_mut(&link) else {
            return Err(TargetError(format!("{link:?} is not open")));
        };
        if state.closed {
            // Written into a socket the server already closed: lost.
            return Ok(());
        }
        state.input.extend_from_slice(frame);
        self.read_input(link);
        Ok(())
    }

    fn recv(&mut self, link: Link, wait: Duration) -> Recv {
        let until = self.now_ms.saturating_add(millis(wait));
        loop {
            let Some(state) = self.links.get_mut(&link) else { return Recv::Closed };
            if let Some(frame) = state.inbox.pop_front() {
                return Recv::Frame(frame);
            }
            if state.closed {
                return Recv::Closed;
            }
            if !self.step_toward(until) {
                return Recv::Idle;
            }
        }
    }

    fn close(&mut self, link: Link) {
        let Some(state) = self.links.remove(&link) else { return };
        if let (Some(conn), Some(node)) = (state.conn, self.node.as_mut()) {
            node.server.handle_closed(conn);
            node.links.remove(&conn);
        }
    }

    fn elapse(&mut self, d: Duration) {
        let until = self.now_ms.saturating_add(millis(d));
        while self.step_toward(until) {}
    }

    fn four_letter(&mut self, server: usize, word: &str) -> Result<String, TargetError> {
        self.check_server(server)?;
        if self.node.is_none() {
            return Err(TargetError("connection refused: server 0 is down".into()));
        }
        let bytes: [u8; 4] =
            word.as_bytes().try_into().map_err(|_| TargetError(format!("{word:?} is not four letters")))?;
        let (_, port) = self.take_port();
        match FourLetterWord::from_bytes(bytes) {
            // stmk without its mask: the shell closes without an answer.
            Some(FourLetterWord::Stmk) | None => Ok(String::new()),
            Some(w) => self.answer_four_letter(w, None, port).ok_or_else(|| TargetError("server 0 is down".into())),
        }
    }

    fn kill(&mut self, server: usize) -> Result<(), TargetError> {
        self.check_server(server)?;
        if self.node.take().is_none() {
            return Err(TargetError("server 0 is not running".into()));
        }
        for state in self.links.values_mut() {
            state.cut();
            state.inbox.clear();
        }
        self.note("killed");
        Ok(())
    }

    fn restart(&mut self, server: usize) -> Result<(), TargetError> {
        self.check_server(server)?;
        if self.node.is_some() {
            return Err(TargetError("server 0 is running".into()));
        }
        self.start()
    }

    fn wait_serving(&mut self) -> Result<(), TargetError> {
        Ok(())
    }

    fn diagnostics(&mut self) -> String {
        let mut out = String::new();
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proto_core::jute::{
        encode_connect_request, encode_request, ConnectRequest, ConnectResponse, CreateRequest, Decode, ErrorCode,
        GetDataResponse, OpCode, PathRecord, PathWatchRequest, ReplyHeader, RequestHeader, OPEN_ACL_UNSAFE,
        REPLY_HEADER_LEN,
    };

    use super::*;

    const SHORT: Duration = Duration::from_millis(10);

    fn connect_frame(timeout_ms: i32, session: SessionId, passwd: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; 256];
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: session,
            passwd,
            read_only: Some(false),
        };
        let n = encode_connect_request(&mut buf, &req).unwrap();
        buf.truncate(n);
        buf
    }

    fn request<B: proto_core::jute::Encode + ?Sized>(xid: i32, op: OpCode, body: &B) -> Vec<u8> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = encode_request(&mut buf, &RequestHeader { xid: Xid(xid), op }, body).unwrap();
        buf.truncate(n);
        buf
    }

    fn frame(sim: &mut SimTarget, link: Link) -> Vec<u8> {
        match sim.recv(link, SHORT) {
            Recv::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// What a handshake gave: the link and the ConnectResponse's fields.
    struct Opened {
        link: Link,
        session: SessionId,
        timeout_ms: i32,
        passwd: Vec<u8>,
        read_only: Option<bool>,
    }

    fn handshake(sim: &mut SimTarget, timeout_ms: i32, session: SessionId, passwd: &[u8]) -> Opened {
        let link = sim.connect(0).unwrap();
        sim.send(link, &connect_frame(timeout_ms, session, passwd)).unwrap();
        let f = frame(sim, link);
        let r = ConnectResponse::decode_from(&f).unwrap();
        Opened {
            link,
            session: r.session_id,
            timeout_ms: r.timeout_ms,
            passwd: r.passwd.to_vec(),
            read_only: r.read_only,
        }
    }

    fn create(sim: &mut SimTarget, link: Link, xid: i32, path: &[u8], data: &[u8]) -> ReplyHeader {
        let body = CreateRequest { path, data: Some(data), acl: &OPEN_ACL_UNSAFE[..], flags: 0 };
        sim.send(link, &request(xid, OpCode::Create, &body)).unwrap();
        let f = frame(sim, link);
        let h = ReplyHeader::decode_from(&f).unwrap();
        if h.err == ErrorCode::Ok {
            assert_eq!(PathRecord::decode_from(&f[REPLY_HEADER_LEN..]).unwrap().path, path);
        }
        h
    }

    fn get_data(sim: &mut SimTarget, link: Link, xid: i32, path: &[u8]) -> (ReplyHeader, Option<Vec<u8>>) {
        sim.send(link, &request(xid, OpCode::GetData, &PathWatchRequest { path, watch: false })).unwrap();
        let f = frame(sim, link);
        let h = ReplyHeader::decode_from(&f).unwrap();
        let data = (h.err == ErrorCode::Ok)
            .then(|| GetDataResponse::decode_from(&f[REPLY_HEADER_LEN..]).unwrap().data.map(<[u8]>::to_vec))
            .flatten();
        (h, data)
    }

    #[test]
    fn handshake_negotiates_the_timeout_and_a_session() {
        let mut sim = SimTarget::new().unwrap();
        assert_eq!((sim.name(), sim.servers(), sim.real_time()), ("sim", 1, false));
        let r = handshake(&mut sim, 60_000, SessionId(0), &[0; 16]);
        let link = r.link;
        // Clamped to maxSessionTimeout; a fresh session with a 16-byte password.
        assert_eq!(r.timeout_ms, config::MAX_SESSION_MS as i32);
        assert_ne!(r.session, SessionId(0));
        assert_eq!(r.passwd.len(), 16);
        assert_eq!(r.read_only, Some(false));
        assert_eq!(sim.recv(link, SHORT), Recv::Idle);
        // The session was logged: one record on the disk.
        assert_eq!(sim.durable_records(), 1);
        // Deterministic: a second simulation hands out the same session and password.
        let mut again = SimTarget::new().unwrap();
        let r2 = handshake(&mut again, 60_000, SessionId(0), &[0; 16]);
        assert_eq!((r2.session, &r2.passwd), (r.session, &r.passwd));
    }

    #[test]
    fn create_then_get_and_errors() {
        let mut sim = SimTarget::new().unwrap();
        let link = handshake(&mut sim, 4000, SessionId(0), &[0; 16]).link;
        let h = create(&mut sim, link, 1, b"/a", b"hello");
        assert_eq!((h.xid, h.err), (Xid(1), ErrorCode::Ok));
        assert!(h.zxid > 0);
        assert_eq!(create(&mut sim, link, 2, b"/a", b"x").err, ErrorCode::NodeExists);
        let (h, data) = get_data(&mut sim, link, 3, b"/a");
        assert_eq!((h.xid, h.err, data), (Xid(3), ErrorCode::Ok, Some(b"hello".to_vec())));
        assert_eq!(get_data(&mut sim, link, 4, b"/missing").0.err, ErrorCode::NoNode);
    }

    #[test]
    fn frames_may_be_split_or_batched_across_sends() {
        let mut sim = SimTarget::new().unwrap();
        let link = sim.connect(0).unwrap();
        let hello = connect_frame(4000, SessionId(0), &[0; 16]);
        let (a, b) = hello.split_at(7);
        sim.send(link, a).unwrap();
        assert_eq!(sim.recv(link, SHORT), Recv::Idle);
        sim.send(link, b).unwrap();
        let _ = frame(&mut sim, link);
        let body = PathWatchRequest { path: b"/", watch: false };
        let mut two = request(1, OpCode::Exists, &body);
        two.extend(request(2, OpCode::Exists, &body));
        sim.send(link, &two).unwrap();
        for xid in [1, 2] {
            assert_eq!(ReplyHeader::decode_from(&frame(&mut sim, link)).unwrap().xid, Xid(xid));
        }
    }

    #[test]
    fn an_idle_session_expires_on_simulated_time() {
        let mut sim = SimTarget::new().unwrap();
        let r = handshake(&mut sim, 1000, SessionId(0), &[0; 16]);
        let link = r.link;
        assert_eq!(r.timeout_ms, 1000);
        let start = sim.now();
        // Waiting on the link lets time pass until the server closes it.
        assert_eq!(sim.recv(link, Duration::from_secs(10)), Recv::Closed);
        let waited = sim.now() - start;
        assert!(waited >= Duration::from_millis(1000) && waited < Duration::from_millis(2000), "{waited:?}");
        // A reconnect to the expired session is refused (timeout 0, session 0), then closed.
        let r2 = handshake(&mut sim, 1000, r.session, &r.passwd);
        let again = r2.link;
        assert_eq!((r2.timeout_ms, r2.session), (0, SessionId(0)));
        assert_eq!(sim.recv(again, SHORT), Recv::Closed);
        assert!(sim.diagnostics().contains("expired"), "{}", sim.diagnostics());
    }

    #[test]
    fn a_pinging_session_lives_and_elapse_expires_a_silent_one() {
        let mut sim = SimTarget::new().unwrap();
        let busy = handshake(&mut sim, 1000, SessionId(0), &[0; 16]).link;
        let quiet = handshake(&mut sim, 1000, SessionId(0), &[0; 16]).link;
        for _ in 0..10 {
            sim.elapse(Duration::from_millis(300));
            sim.send(busy, &request(-2, OpCode::Ping, &())).unwrap();
            assert_eq!(ReplyHeader::decode_from(&frame(&mut sim, busy)).unwrap().xid, Xid(-2));
        }
        assert_eq!(sim.recv(quiet, Duration::ZERO), Recv::Closed);
        assert_eq!(sim.now(), Duration::from_millis(3000));
        assert_eq!(sim.server().unwrap().sessions().len(), 1);
    }

    #[test]
    fn kill_and_restart_keep_durable_nodes_and_sessions() {
        let mut sim = SimTarget::new().unwrap();
        let r = handshake(&mut sim, 4000, SessionId(0), &[0; 16]);
        let link = r.link;
        assert_eq!(create(&mut sim, link, 1, b"/kept", b"v").err, ErrorCode::Ok);
        sim.kill(0).unwrap();
        assert_eq!(sim.recv(link, SHORT), Recv::Closed);
        assert!(sim.connect(0).is_err());
        assert!(sim.four_letter(0, "ruok").is_err());
        assert!(sim.kill(0).is_err());
        sim.restart(0).unwrap();
        sim.wait_serving().unwrap();
        assert!(sim.restart(0).is_err());
        let r2 = handshake(&mut sim, 4000, r.session, &r.passwd);
        let link2 = r2.link;
        assert_eq!((r2.session, r2.timeout_ms), (r.session, 4000));
        let (h, data) = get_data(&mut sim, link2, 2, b"/kept");
        assert_eq!((h.err, data), (ErrorCode::Ok, Some(b"v".to_vec())));
        // A new session after the restart gets an id of its own.
        let r3 = handshake(&mut sim, 4000, SessionId(0), &[0; 16]);
        assert_ne!(r3.session, r.session);
        assert!(sim.diagnostics().contains("killed"));
    }

    #[test]
    fn bad_lengths_close_the_link() {
        let mut sim = SimTarget::new().unwrap();
        // A negative first length.
        let link = sim.connect(0).unwrap();
        sim.send(link, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
        assert_eq!(sim.recv(link, SHORT), Recv::Closed);
        // Sending on it again is lost, not an error; a closed link stays closed.
        sim.send(link, &[0, 0, 0, 0]).unwrap();
        assert_eq!(sim.recv(link, SHORT), Recv::Closed);
        // Over jute.maxbuffer after the handshake: the session's connection goes.
        let link = handshake(&mut sim, 4000, SessionId(0), &[0; 16]).link;
        sim.send(link, &(0x10_0000u32).to_be_bytes()).unwrap();
        assert_eq!(sim.recv(link, SHORT), Recv::Closed);
        assert_eq!(sim.server().unwrap().connections().open_count(), 0);
        assert!(sim.diagnostics().contains("out of range"), "{}", sim.diagnostics());
        // A client's own close forgets the link.
        let link = handshake(&mut sim, 4000, SessionId(0), &[0; 16]).link;
        sim.close(link);
        assert!(sim.send(link, &[0, 0, 0, 0]).is_err());
        assert_eq!(sim.recv(link, SHORT), Recv::Closed);
    }

    #[test]
    fn four_letter_words_answer_as_herd() {
        let mut sim = SimTarget::new().unwrap();
        assert_eq!(sim.four_letter(0, "ruok").unwrap(), "imok");
        let link = handshake(&mut sim, 4000, SessionId(0), &[0; 16]).link;
        assert_eq!(create(&mut sim, link, 1, b"/n", b"").err, ErrorCode::Ok);
        let srvr = sim.four_letter(0, "srvr").unwrap();
        assert!(srvr.starts_with("Zookeeper version: 3.8"), "{srvr}");
        assert!(srvr.contains("Mode: standalone\n"), "{srvr}");
        // The root, /zookeeper, /zookeeper/quota, /zookeeper/config, /n, and the root again.
        assert!(srvr.contains("Node count: 6\n"), "{srvr}");
        assert!(srvr.contains("Zxid: 0x2\n"), "{srvr}");
        let cons = sim.four_letter(0, "cons").unwrap();
        assert!(cons.contains("/127.0.0.1:"), "{cons}");
        assert!(sim.four_letter(0, "conf").unwrap().contains("tickTime=500\n"));
        assert!(sim.four_letter(0, "mntr").unwrap().contains("zk_server_state\tstandalone\n"));
        assert_eq!(sim.four_letter(0, "gtmk").unwrap(), "306");
        assert_eq!(sim.four_letter(0, "stmk").unwrap(), "");
        assert_eq!(sim.four_letter(0, "xxxx").unwrap(), "");
        assert!(sim.four_letter(0, "toolong").is_err());
        assert!(sim.four_letter(1, "ruok").is_err());
        assert_eq!(sim.hash_line(), sim.hash_line());
        // A word as a connection's first bytes is answered and the link closes.
        let link = sim.connect(0).unwrap();
        sim.send(link, b"ruok").unwrap();
        assert_eq!(sim.recv(link, SHORT), Recv::Closed);
    }

    #[test]
    fn reports_show_long_paths_and_the_digest_moves() {
        let mut sim = SimTarget::new().unwrap();
        let link = handshake(&mut sim, 4000, SessionId(0), &[0; 16]).link;
        let long = format!("/{}", "e".repeat(8192));
        let before = sim.hash_line();
        let body = CreateRequest { path: long.as_bytes(), data: None, acl: &OPEN_ACL_UNSAFE[..], flags: 1 };
        sim.send(link, &request(1, OpCode::Create, &body)).unwrap();
        assert_eq!(ReplyHeader::decode_from(&frame(&mut sim, link)).unwrap().err, ErrorCode::Ok);
        let dump = sim.four_letter(0, "dump").unwrap();
        assert!(dump.contains(&format!("\t{long}\n")), "{dump}");
        // The digest covers the new node (and the zxid moved).
        let after = sim.hash_line();
        assert_ne!(before.split(": ").nth(1), after.split(": ").nth(1));
    }

    impl SimTarget {
        fn hash_line(&mut self) -> String {
            let h = self.four_letter(0, "hash").unwrap();
            assert!(h.ends_with('\n') && h.contains(": "), "{h}");
            h
        }
    }
}
