//! The standalone server: a pump around the core, like quinn's `ConnectionDriver`.
//!
//! One task owns the [`Server`] and is the only place that touches it. Socket tasks read
//! frames and send them to it as [`Event`]s; it feeds them to the core and drains the core's
//! outputs: txn records go to the log writer thread, frames go to each connection's writer
//! task — but only once the log writer reports their zxid durable (the core tags every frame
//! with the zxid it may reveal). The one timer is the core's `poll_timeout`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_net::{TcpListener, TcpStream};
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};

use proto_core::jute::{classify_length, classify_prefix, FourLetterWord, Prefix};
use proto_core::server::{Effects, FrameOutcome, Note, Server};
use proto_core::{ConnId, Instant, Now, Zxid};

use crate::config::Config;
use crate::host;
use crate::recovery;
use crate::report;
use crate::snapshotter::Snapshotter;
use crate::storage::{LogWriter, LogWriterHandle};

/// ZooKeeper's default trace mask (client ping, session and request traces), shown by `gtmk`.
const ZOOKEEPER_DEFAULT_TRACE_MASK: i64 = 306;

/// How long `stmk`'s 8-byte mask may trail the word.
const STMK_MASK_WAIT: Duration = Duration::from_millis(100);

/// Bytes read from a socket at once.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Events queued to the core task before readers wait (backpressure on fast clients).
const EVENT_QUEUE_MAX: usize = 4096;

/// What socket tasks and the log writer tell the core task.
pub enum Event {
    /// A client connected and sent a first frame length; answer with its id, or `None` when
    /// refused.
    Open { addr: SocketAddr, out: Sender<Out>, reply: Sender<Option<ConnId>> },
    /// A whole frame (length prefix removed).
    Frame { conn: ConnId, bytes: Vec<u8> },
    /// The socket is gone.
    Closed { conn: ConnId },
    /// A four-letter word (with `stmk`'s new trace mask); answer with the text.
    FourLetter { word: FourLetterWord, addr: SocketAddr, mask: Option<i64>, reply: Sender<String> },
    /// The log writer made everything up to this zxid durable, or failed.
    Durable(io::Result<u64>),
    /// A snapshot child process finished.
    SnapshotDone { zxid: Zxid, ok: bool },
    /// Something happened on a peer port (ensemble members only).
    Peer(crate::peers::PortKind, crate::peers::PeerEvent),
}

/// What the core task tells a connection's writer task.
pub enum Out {
    /// Bytes to write.
    Frame(Vec<u8>),
    /// Close after what was sent before.
    Close,
}

/// Milliseconds since start and wall-clock time, the only clocks the core sees.
pub struct Clock {
    start: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

impl Clock {
    /// Starts the monotonic clock.
    pub fn new() -> Clock {
        Clock { start: std::time::Instant::now() }
    }

    /// Now, as the core takes it.
    pub fn now(&self) -> Now {
        let wall_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Now { instant: Instant(self.start.elapsed().as_millis() as u64), wall_ms }
    }

    /// The std instant of a core instant, for timers.
    pub fn at(&self, i: Instant) -> std::time::Instant {
        self.start + Duration::from_millis(i.0)
    }
}

/// A frame or close held until its zxid is durable.
pub(crate) enum Held {
    Frame(Vec<u8>),
    Close,
}

/// The shell's side of one connection.
pub struct ConnOut {
    pub(crate) tx: Sender<Out>,
    pub(crate) held: VecDeque<(Zxid, Held)>,
    /// Frames the core deferred (an earlier request awaits the leader), in arrival order.
    pub(crate) deferred: VecDeque<Vec<u8>>,
    /// Peer address.
    pub addr: SocketAddr,
    /// Frames handed to the writer.
    pub sent: u64,
    /// Frames received.
    pub received: u64,
}

/// The core's outputs, applied to the shell's state.
pub struct Outputs {
    /// Open connections.
    pub conns: HashMap<ConnId, ConnOut>,
    pub(crate) holding: BTreeSet<ConnId>,
    /// Highest zxid whose frames may go out: durable (standalone), committed (leader) or
    /// applied (follower).
    pub durable: Zxid,
    pub(crate) writer: Option<LogWriterHandle>,
    /// Txns appended since the last snapshot.
    pub txns_since_snapshot: u64,
    /// Bytes of the last/min/max reply.
    pub reply_sizes: (i64, i64, i64),
    /// Frames handed to writers since start.
    pub frames_sent: u64,
    /// Four-letter words answered since start (ZooKeeper counts each as a packet each way).
    pub four_letter_words: u64,
    /// Bytes of client frames received.
    pub bytes_received: u64,
    /// Client connections accepted.
    pub connections_accepted: u64,
    /// The trace mask `stmk` sets and `gtmk` shows (herd traces nothing by it).
    pub trace_mask: i64,
    /// Ensemble members: the role and what the reports show of it; `None` standalone.
    pub ensemble: Option<crate::ensemble::Status>,
    /// Ensemble members: what the core asked of the role, for the ensemble loop to carry out.
    pub(crate) asks: crate::ensemble::Asks,
}

impl Outputs {
    /// Outputs over the log `writer`, nothing open yet.
    pub(crate) fn new(writer: LogWriterHandle, durable: Zxid) -> Outputs {
        Outputs {
            conns: HashMap::new(),
            holding: BTreeSet::new(),
            durable,
            writer: Some(writer),
            txns_since_snapshot: 0,
            reply_sizes: (-1, -1, -1),
            frames_sent: 0,
            four_letter_words: 0,
            bytes_received: 0,
            connections_accepted: 0,
            trace_mask: ZOOKEEPER_DEFAULT_TRACE_MASK,
            ensemble: None,
            asks: crate::ensemble::Asks::default(),
        }
    }

    pub(crate) fn release(&mut self) {
        let durable = self.durable;
        let mut emptied = Vec::new();
        for &conn in &self.holding {
            let Some(c) = self.conns.get_mut(&conn) else {
                emptied.push(conn);
                continue;
            };
            while c.held.front().is_some_and(|(after, _)| *after <= durable) {
                let Some((_, held)) = c.held.pop_front() else { break };
                let _ = c.tx.try_send(match held {
                    Held::Frame(f) => Out::Frame(f),
                    Held::Close => Out::Close,
                });
            }
            if c.held.is_empty() {
                emptied.push(conn);
            }
        }
        for conn in emptied {
            self.holding.remove(&conn);
        }
    }

    pub(crate) fn push(&mut self, conn: ConnId, after: Zxid, item: Held) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.held.is_empty() && after <= self.durable {
            let _ = c.tx.try_send(match item {
                Held::Frame(f) => Out::Frame(f),
                Held::Close => Out::Close,
            });
        } else {
            c.held.push_back((after, item));
            self.holding.insert(conn);
        }
    }
}

impl Effects for Outputs {
    fn send(&mut self, conn: ConnId, frame: &[u8], after: Zxid) {
        if let Some(remote) = self.asks.proxy.filter(|p| p.conn == conn) {
            // The answer to a request a follower forwarded: it goes back once committed.
            self.asks.remote_replies.push_back((after, remote.origin, remote.session, frame.to_vec()));
            return;
        }
        let len = frame.len() as i64;
        let (last, min, max) = &mut self.reply_sizes;
        *last = len;
        *min = if *min < 0 { len } else { (*min).min(len) };
        *max = (*max).max(len);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.sent += 1;
        }
        self.frames_sent += 1;
        self.push(conn, after, Held::Frame(frame.to_vec()));
    }

    fn close(&mut self, conn: ConnId, after: Zxid) {
        if self.asks.proxy.is_some_and(|p| p.conn == conn) {
            // The follower closes its own connection when the answer says so.
            return;
        }
        self.push(conn, after, Held::Close);
    }

    fn append(&mut self, zxid: Zxid, record: &[u8]) {
        self.txns_since_snapshot += 1;
        if self.ensemble.is_some() {
            // A leader's record is a proposal: the role logs it.
            self.asks.proposals.push((zxid, record.to_vec()));
            return;
        }
        let submitted = match &self.writer {
            Some(w) => w.submit(zxid.0, record.to_vec()),
            None => Err(io::Error::other("no log writer")),
        };
        if let Err(e) = submitted {
            // Nothing may be acknowledged without a log: stop rather than serve undurable writes.
            log::error!("txn log writer failed ({e}); stopping so that no write is acknowledged without being durable");
            std::process::exit(3);
        }
    }

    fn forward(&mut self, conn: ConnId, session: proto_core::SessionId, frame: &[u8]) {
        self.asks.forwards.push((conn, session, frame.to_vec()));
    }

    fn sync(&mut self, conn: ConnId, session: proto_core::SessionId, xid: proto_core::Xid, path: &[u8]) {
        self.asks.syncs.push((conn, session, xid, path.to_vec()));
    }

    fn note(&mut self, note: Note<'_>) {
        match note {
            Note::SessionEstablished { .. } => log::debug!("{note}"),
            Note::SessionExpired(_) => log::info!("{note}"),
            _ => log::warn!("{note}"),
        }
    }
}

/// Waits for the next event, or until `deadline` (then `None`). The one timer is re-armed
/// only when the deadline moved: arming costs the reactor a syscall, and most events do not
/// move it.
pub(crate) async fn next_event(
    ev_rx: &Receiver<Event>,
    timer: &mut smol::Timer,
    armed: &mut Option<Instant>,
    deadline: Option<Instant>,
    clock: &Clock,
) -> Option<Event> {
    if deadline != *armed {
        match deadline {
            Some(d) => timer.set_at(clock.at(d)),
            None => *timer = smol::Timer::never(),
        }
        *armed = deadline;
    }
    async { ev_rx.recv().await.ok() }
        .or(async {
            (&mut *timer).await;
            // Fired: forget it, so the next loop re-arms for the next deadline.
            *armed = None;
            None
        })
        .await
}

/// Runs a standalone server until the process is killed.
pub fn run(config: Config) -> io::Result<()> {
    for ignored in &config.ignored {
        log::info!("zoo.cfg line {}: ignoring unknown key {} (as ZooKeeper does)", ignored.line, ignored.key);
    }
    for w in &config.warnings {
        log::warn!("zoo.cfg: {w}");
    }
    if config.is_distributed() {
        return crate::ensemble::run(config);
    }
    // Files live in version-2 under each directory, as ZooKeeper's do.
    let mut config = config;
    config.data_dir = config.data_dir.join("version-2");
    config.data_log_dir = config.data_log_dir.join("version-2");
    let limits = host::limits_from(&config);
    log::info!("limits: {limits:?}");
    std::fs::create_dir_all(&config.data_dir)?;
    std::fs::create_dir_all(&config.data_log_dir)?;
    let clock = Clock::new();
    let mut server = host::build_server(limits, host::server_config(&config), clock.now())?;
    let started = std::time::Instant::now();
    let log = recovery::recover(&mut server, &config, &clock)?;
    log::info!(
        "recovered to zxid {} with {} znodes and {} sessions in {:?}",
        server.last_zxid(),
        server.tree().znode_count(),
        server.sessions().len(),
        started.elapsed()
    );
    let (ev_tx, ev_rx) = channel::bounded::<Event>(EVENT_QUEUE_MAX);
    let durable_tx = ev_tx.clone();
    let writer = LogWriter::spawn(log, move |r| {
        let _ = durable_tx.send_blocking(Event::Durable(r));
    })?;
    let addr = config.client_bind_address();
    // Everything runs on this one thread (the log writer excepted): socket tasks, the core and
    // the reactor, so handing a frame to the core or a reply to a socket wakes no other thread.
    let ex: &'static smol::LocalExecutor<'static> = Box::leak(Box::new(smol::LocalExecutor::new()));
    smol::block_on(ex.run(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        log::info!("serving ZooKeeper clients on {}", listener.local_addr()?);
        let max_packet = config.jute_maxbuffer;
        let accept_tx = ev_tx.clone();
        let acceptor = ex.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        ex.spawn(connection(ex, stream, peer, accept_tx.clone(), max_packet)).detach();
                    }
                    Err(e) => {
                        log::warn!("accept failed: {e}");
                        smol::Timer::after(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        let result = core_loop(server, config, clock, writer, ev_tx, ev_rx).await;
        drop(acceptor);
        result
    }))
}

async fn core_loop(
    mut server: Server<'static>,
    config: Config,
    clock: Clock,
    writer: LogWriterHandle,
    ev_tx: Sender<Event>,
    ev_rx: Receiver<Event>,
) -> io::Result<()> {
    let mut out = Outputs::new(writer, server.durable_zxid());
    let mut snapshots = Snapshotter::new(PathBuf::from(&config.data_dir), &config);
    let whitelist = config.four_letter_words.clone();
    // One timer for the core's deadline (see next_event).
    let mut timer = smol::Timer::never();
    let mut armed: Option<Instant> = None;
    loop {
        let mut event = next_event(&ev_rx, &mut timer, &mut armed, server.poll_timeout(), &clock).await;
        // Drain what is already queued before looking at the clock again.
        loop {
            if let Some(ev) = event.take() {
                handle_event(&mut server, &mut out, &clock, &config, &whitelist, &mut snapshots, ev)?;
            }
            match ev_rx.try_recv() {
                Ok(ev) => event = Some(ev),
                Err(_) => break,
            }
        }
        let now = clock.now();
        if server.poll_timeout().is_some_and(|d| d <= now.instant) {
            server.handle_timeout(now, &mut out);
        }
        if out.txns_since_snapshot >= config.snap_count.max(1) && !snapshots.running() {
            out.txns_since_snapshot = 0;
            snapshots.start(&server, ev_tx.clone());
        }
    }
}

pub(crate) fn handle_event(
    server: &mut Server<'static>,
    out: &mut Outputs,
    clock: &Clock,
    config: &Config,
    whitelist: &[String],
    snapshots: &mut Snapshotter,
    ev: Event,
) -> io::Result<()> {
    let now = clock.now();
    match ev {
        Event::Open { addr, out: tx, reply } => match server.handle_open(now, addr.ip()) {
            Ok(conn) => {
                out.connections_accepted += 1;
                let c = ConnOut { tx, held: VecDeque::new(), deferred: VecDeque::new(), addr, sent: 0, received: 0 };
                out.conns.insert(conn, c);
                let _ = reply.try_send(Some(conn));
            }
            Err(e) => {
                log::warn!("refusing connection from {addr}: {e:?}");
                let _ = reply.try_send(None);
            }
        },
        Event::Frame { conn, bytes } => {
            if let Some(c) = out.conns.get_mut(&conn) {
                c.received += 1;
            }
            out.bytes_received += bytes.len() as u64 + 4;
            let waiting = out.conns.get(&conn).is_some_and(|c| !c.deferred.is_empty());
            if waiting || server.handle_frame(now, conn, &bytes, out) == FrameOutcome::Deferred {
                if let Some(c) = out.conns.get_mut(&conn) {
                    c.deferred.push_back(bytes);
                }
            }
        }
        Event::Closed { conn } => {
            server.handle_closed(conn);
            out.conns.remove(&conn);
            out.holding.remove(&conn);
        }
        Event::FourLetter { word, addr, mask, reply } => {
            if let Some(mask) = mask.filter(|_| crate::fourlw::whitelisted(word.as_str(), whitelist)) {
                out.trace_mask = mask;
            }
            let text = report::four_letter(server, out, config, whitelist, word, addr, clock);
            if crate::fourlw::whitelisted(word.as_str(), whitelist) {
                match word {
                    FourLetterWord::Srst => out.reply_sizes = (-1, -1, -1),
                    FourLetterWord::Crst => {
                        server.reset_connection_stats();
                        for c in out.conns.values_mut() {
                            (c.received, c.sent) = (0, 0);
                        }
                    }
                    _ => {}
                }
            }
            out.four_letter_words += 1;
            let _ = reply.try_send(text);
        }
        Event::Durable(Ok(zxid)) => {
            out.durable = out.durable.max(Zxid(zxid));
            server.handle_durable(out.durable);
            out.release();
        }
        Event::Durable(Err(e)) => {
            return Err(io::Error::new(e.kind(), format!("txn log failed, stopping: {e}")));
        }
        Event::SnapshotDone { zxid, ok } => snapshots.finished(zxid, ok),
        // A standalone server has no peer ports; the ensemble loop takes these itself.
        Event::Peer(..) => {}
    }
    Ok(())
}

/// Reads one connection: a 4lw, or frames until the peer or the core closes it.
pub(crate) async fn connection(
    ex: &'static smol::LocalExecutor<'static>,
    stream: TcpStream,
    peer: SocketAddr,
    ev: Sender<Event>,
    max_packet: u32,
) {
    // Buffered: pipelined requests arrive many to a read.
    let mut reader = smol::io::BufReader::with_capacity(READ_BUFFER_BYTES, stream.clone());
    let mut prefix = [0u8; 4];
    if reader.read_exact(&mut prefix).await.is_err() {
        return;
    }
    let first_len = match classify_prefix(prefix, max_packet) {
        Prefix::FourLetter(word) => {
            // stmk carries the new mask: 8 more bytes sent with the word (ZooKeeper reads only
            // what has arrived), or the connection is closed with no answer.
            let mut mask = None;
            if word == FourLetterWord::Stmk {
                let mut bytes = [0u8; 8];
                let read = async { reader.read_exact(&mut bytes).await.is_ok() };
                let late = async {
                    smol::Timer::after(STMK_MASK_WAIT).await;
                    false
                };
                if !read.or(late).await {
                    return;
                }
                mask = Some(i64::from_be_bytes(bytes));
            }
            let (tx, rx) = channel::bounded(1);
            if ev.send(Event::FourLetter { word, addr: peer, mask, reply: tx }).await.is_err() {
                return;
            }
            if let Ok(text) = rx.recv().await {
                let mut w = stream.clone();
                let _ = w.write_all(text.as_bytes()).await;
                let _ = w.flush().await;
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        Prefix::Length(n) => n,
        Prefix::Invalid(n) => {
            log::warn!("{peer}: invalid first frame length {n}; closing");
            return;
        }
    };
    let (out_tx, out_rx) = channel::unbounded();
    let (reply_tx, reply_rx) = channel::bounded(1);
    if ev.send(Event::Open { addr: peer, out: out_tx, reply: reply_tx }).await.is_err() {
        return;
    }
    let Ok(Some(conn)) = reply_rx.recv().await else { return };
    let writer = ex.spawn(write_loop(stream.clone(), out_rx));
    let mut len = first_len;
    loop {
        let mut bytes = vec![0u8; len as usize];
        if reader.read_exact(&mut bytes).await.is_err() {
            break;
        }
        if ev.send(Event::Frame { conn, bytes }).await.is_err() {
            break;
        }
        if reader.read_exact(&mut prefix).await.is_err() {
            break;
        }
        match classify_length(prefix, max_packet) {
            Prefix::Length(n) => len = n,
            _ => {
                log::warn!("{conn} ({peer}): frame length {} out of range; closing", i32::from_be_bytes(prefix));
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = ev.send(Event::Closed { conn }).await;
    writer.cancel().await;
}

/// Writes what the core sends, batching whatever is queued into one write.
async fn write_loop(mut stream: TcpStream, rx: Receiver<Out>) {
    let mut buf = Vec::new();
    while let Ok(first) = rx.recv().await {
        let mut close = false;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Out::Frame(f) => buf.extend_from_slice(&f),
                Out::Close => {
                    close = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if !buf.is_empty() {
            if stream.write_all(&buf).await.is_err() {
                break;
            }
            buf.clear();
        }
        if close {
            let _ = stream.flush().await;
            let _ = stream.shutdown(std::net::Shutdown::Both);
            break;
        }
    }
}
