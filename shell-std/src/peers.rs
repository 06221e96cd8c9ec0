//! Connections between the servers of an ensemble, on one of their two peer ports.
//!
//! A [`Peers`] listens on this server's quorum or election port ([`PortKind`]) and keeps one
//! TCP connection to every other server of `server.N=` lines. The core loop hands it encoded
//! frames ([`Peers::send`]) and receives [`PeerEvent`]s on a bounded channel; it never sees a
//! socket.
//!
//! **One connection per pair.** As in ZooKeeper's `QuorumCnxManager`, only a connection
//! initiated by the server with the larger id is kept. Here the larger id dials and keeps;
//! the smaller one only *nudges*: it connects, sends its `Hello`, and hangs up, which makes
//! the larger one dial at once instead of waiting out its backoff (ZooKeeper's receiver does
//! the same: it closes the socket of a smaller id and connects back). A second connection
//! from the same larger id replaces the first (the old one may be half-open after a restart).
//!
//! **Wire.** Every frame is `[u32 length][version][postcard]` ([`proto_core::peer`]); the
//! first one on every connection, in either direction it is initiated, is
//! `Hello { server }`. Reading checks the length bound before reserving the body, then
//! decodes the frame: a frame that does not decode closes that connection (logged with the
//! peer and the reason) and the peer is dialled again with backoff. A `Hello` from an id not
//! in the configuration, or our own, is logged and closed.
//!
//! **Events.** For each peer the events alternate strictly: `Connected(id)`, then that
//! connection's `Frame`s in the order they were sent, then `Disconnected(id)`; the next
//! connection's `Connected` comes only after the previous one's `Disconnected`. Frames the
//! core sends between `Connected` and `Disconnected` reach the peer in order and without
//! gaps, or the connection ends: a full send queue closes the connection rather than drop
//! a frame out of the middle of a stream (ZAB relies on TCP order). Frames sent while no
//! connection is up are dropped and counted (the core resends what matters on `Connected`,
//! as ZooKeeper's election does).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{LocalExecutor, Task, Timer};

use proto_core::peer::{
    decode_frame, encode_frame, frame_len, PeerDecodeError, PeerEncodeError, PeerMessage, FRAME_PREFIX_BYTES,
};
use proto_core::quorum::ServerId;

use crate::config::ServerLine;

/// First delay before dialling a peer again after a failed attempt or a short-lived
/// connection.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// The delay doubles per failure up to this cap, so a returning peer is found within it.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(3200);

/// A connection that lasted this long resets the backoff; a peer that is dropped sooner
/// (garbage, refused hello) keeps backing off instead of being redialled in a tight loop.
pub const STABLE_CONNECTION: Duration = RECONNECT_BACKOFF_MAX;

/// How long a dial may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an accepted connection may take to send its `Hello`; bounds idle sockets held by
/// strangers.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames queued to one peer's writer; beyond it the connection is closed (see the module
/// doc). ZooKeeper's election queue holds 100 messages (`SEND_CAPACITY`); ZAB traffic
/// needs more room for bursts of proposals.
pub const SEND_QUEUE_FRAMES: usize = 4096;

/// Largest body accepted before the peer is identified: a `Hello` is a version byte, a tag
/// and a varint id (at most 12 bytes); anything bigger is not a hello.
pub const HELLO_FRAME_BYTES_MAX: usize = 32;

/// Bytes read from a peer socket at once.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A first buffer for [`encode_message`]; most peer messages are far smaller.
const ENCODE_BUFFER_START_BYTES: usize = 256;

/// Which of a server's two peer ports (`server.N=host:quorumPort:electionPort`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// The port followers connect to the leader on (ZAB).
    Quorum,
    /// The port leader election runs on (FastLeaderElection notifications).
    Election,
}

impl PortKind {
    /// This port of a configured server.
    pub fn port_of(self, line: &ServerLine) -> u16 {
        match self {
            PortKind::Quorum => line.quorum_port,
            PortKind::Election => line.election_port,
        }
    }
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortKind::Quorum => "quorum",
            PortKind::Election => "election",
        })
    }
}

/// What [`Peers`] tells the core loop.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerEvent {
    /// A connection to this server is up; frames sent from now on reach it.
    Connected(ServerId),
    /// A frame body from this server (version byte and payload, without the length
    /// prefix), already checked by [`decode_frame`]; decode it again to borrow from it.
    Frame(ServerId, Vec<u8>),
    /// The connection to this server is gone; it will be dialled again.
    Disconnected(ServerId),
}

/// Why [`Peers::send`] did not queue a frame (each is also counted in [`PeerStats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The id is not another server of the configuration.
    UnknownPeer,
    /// No connection to that server is up.
    NotConnected,
    /// Its send queue is full; the connection is being closed.
    QueueFull,
    /// The frame exceeds the bound the receiver enforces.
    TooLarge,
}

/// Counters, for `mntr`-style reporting and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Frames queued to writers.
    pub frames_sent: u64,
    /// Frames received and handed to the core.
    pub frames_received: u64,
    /// Frames dropped because the peer was not connected.
    pub dropped_not_connected: u64,
    /// Frames dropped because the peer's queue was full (its connection was closed).
    pub dropped_queue_full: u64,
    /// Frames refused by [`Peers::send`] for exceeding the frame bound.
    pub dropped_too_large: u64,
    /// Connections taken into service (dialled or accepted, after the hello).
    pub connections_kept: u64,
    /// Accepted connections refused at the hello (unknown id, our own id, bad frame).
    pub hellos_refused: u64,
    /// Nudges received from smaller ids (connections closed after their hello).
    pub nudges_received: u64,
    /// Connections closed because a frame did not decode or broke the bound.
    pub bad_frames: u64,
}

/// The live connection to one peer.
struct Live {
    /// Tells apart successive connections to the same peer.
    generation: u64,
    /// The writer's queue.
    out: Sender<Vec<u8>>,
    /// Closing it ends the connection.
    stop: Sender<()>,
    /// Closed when the connection's task has sent its `Disconnected` and finished.
    done: Receiver<()>,
}

/// One other server.
struct Slot {
    host: String,
    port: u16,
    live: Option<Live>,
    /// Rings the peer's dialler (or nudger): a nudge arrived, or a connection ended.
    wake: Sender<()>,
    /// Whether the last connection lasted [`STABLE_CONNECTION`].
    last_was_stable: bool,
}

/// State shared by the tasks of one [`Peers`] (one thread, so `Rc<RefCell<_>>`; never
/// borrowed across an await).
struct Shared {
    me: ServerId,
    kind: PortKind,
    frame_bytes_max: usize,
    slots: BTreeMap<ServerId, Slot>,
    events: Sender<PeerEvent>,
    stats: PeerStats,
    next_generation: u64,
    /// Never sends; closed when [`Peers`] is dropped, which ends every task.
    shutdown: Receiver<()>,
}

type SharedRef = Rc<RefCell<Shared>>;

/// This server's connections on one peer port; dropping it closes the listener and every
/// connection.
pub struct Peers {
    shared: SharedRef,
    local_addr: SocketAddr,
    /// The acceptor and one dialler per peer; dropping them cancels them.
    _tasks: Vec<Task<()>>,
    /// Dropped with `Peers`: accepted-connection tasks see the channel close and stop.
    _shutdown: Sender<()>,
}

impl Peers {
    /// Binds `kind`'s port of server `me` (its `server.N` line in `servers`) and starts
    /// dialling the others on `ex`; events go to `events`.
    ///
    /// `frame_bytes_max` bounds every frame body in both directions (normally
    /// [`proto_core::peer::frame_bytes_max`] of the replica's limits).
    pub fn start<'a>(
        ex: &'a LocalExecutor<'a>,
        me: ServerId,
        servers: &[ServerLine],
        kind: PortKind,
        frame_bytes_max: usize,
        events: Sender<PeerEvent>,
    ) -> io::Result<Peers> {
        let mine = servers.iter().find(|s| s.id == me.0).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("server.{me} is not in the configuration"))
        })?;
        let std_listener = std::net::TcpListener::bind((mine.host.as_str(), kind.port_of(mine)))?;
        let listener = TcpListener::try_from(std_listener)?;
        let local_addr = listener.local_addr()?;
        log::info!("server.{me}: listening for peers on {kind} port {local_addr}");
        let (shutdown_tx, shutdown_rx) = channel::bounded::<()>(1);
        let mut slots = BTreeMap::new();
        let mut wakes = Vec::new();
        for s in servers.iter().filter(|s| s.id != me.0) {
            let (wake_tx, wake_rx) = channel::bounded(1);
            let slot =
                Slot { host: s.host.clone(), port: kind.port_of(s), live: None, wake: wake_tx, last_was_stable: false };
            slots.insert(ServerId(s.id), slot);
            wakes.push((ServerId(s.id), wake_rx));
        }
        let shared = Rc::new(RefCell::new(Shared {
            me,
            kind,
            frame_bytes_max,
            slots,
            events,
            stats: PeerStats::default(),
            next_generation: 0,
            shutdown: shutdown_rx,
        }));
        let mut tasks = vec![ex.spawn(accept_loop(ex, shared.clone(), listener))];
        for (id, wake) in wakes {
            // The larger id keeps the connection it dials; the smaller only nudges.
            if id < me {
                tasks.push(ex.spawn(dial_loop(shared.clone(), id, wake)));
            } else {
                tasks.push(ex.spawn(nudge_loop(shared.clone(), id, wake)));
            }
        }
        Ok(Peers { shared, local_addr, _tasks: tasks, _shutdown: shutdown_tx })
    }

    /// Queues an encoded frame (length prefix included, as [`encode_frame`] writes it) to
    /// `to`, without waiting.
    pub fn send(&self, to: ServerId, frame: Vec<u8>) -> Result<(), SendError> {
        let mut sh = self.shared.borrow_mut();
        let sh = &mut *sh;
        if frame.len() > FRAME_PREFIX_BYTES.saturating_add(sh.frame_bytes_max) {
            sh.stats.dropped_too_large += 1;
            return Err(SendError::TooLarge);
        }
        let Some(slot) = sh.slots.get(&to) else { return Err(SendError::UnknownPeer) };
        let Some(live) = slot.live.as_ref().filter(|l| !l.stop.is_closed()) else {
            sh.stats.dropped_not_connected += 1;
            return Err(SendError::NotConnected);
        };
        match live.out.try_send(frame) {
            Ok(()) => {
                sh.stats.frames_sent += 1;
                Ok(())
            }
            Err(channel::TrySendError::Full(_)) => {
                log::warn!("server.{}: {} peer {to}: send queue full; closing the connection", sh.me, sh.kind);
                live.stop.close();
                sh.stats.dropped_queue_full += 1;
                Err(SendError::QueueFull)
            }
            Err(channel::TrySendError::Closed(_)) => {
                // The writer has ended; `Disconnected` is on its way.
                sh.stats.dropped_not_connected += 1;
                Err(SendError::NotConnected)
            }
        }
    }

    /// Closes the connection to a misbehaving peer (it is dialled again with backoff);
    /// false if none was up.
    pub fn close(&self, id: ServerId) -> bool {
        let sh = self.shared.borrow();
        match sh.slots.get(&id).and_then(|s| s.live.as_ref()) {
            Some(live) => {
                log::info!("server.{}: {} peer {id}: closing on request", sh.me, sh.kind);
                live.stop.close();
                true
            }
            None => false,
        }
    }

    /// Whether a connection to `id` is up (its `Connected` may still be queued).
    pub fn is_connected(&self, id: ServerId) -> bool {
        let sh = self.shared.borrow();
        sh.slots.get(&id).and_then(|s| s.live.as_ref()).is_some_and(|l| !l.stop.is_closed())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters so far.
    pub fn stats(&self) -> PeerStats {
        self.shared.borrow().stats
    }
}

/// Encodes `msg` as one frame for [`Peers::send`], growing the buffer as needed up to the
/// bound (most messages are small, so no frame-sized buffer is zeroed for them).
pub fn encode_message(msg: &PeerMessage<'_>, frame_bytes_max: usize) -> Result<Vec<u8>, PeerEncodeError> {
    let limit = FRAME_PREFIX_BYTES.saturating_add(frame_bytes_max);
    let mut size = ENCODE_BUFFER_START_BYTES.min(limit);
    loop {
        let mut buf = vec![0u8; size];
        match encode_frame(msg, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if size >= limit => return Err(e),
            Err(_) => size = size.saturating_mul(2).min(limit),
        }
    }
}

/// Why a connection ended, for its log line.
enum Ended {
    /// The peer closed it or the socket failed.
    Io(io::Error),
    /// A frame broke the bound or did not decode.
    BadFrame(PeerDecodeError),
    /// A `Hello` after the first frame.
    LateHello,
    /// Closed by [`Peers::close`], a full queue, or a newer connection from the same peer.
    Stopped,
    /// The core loop dropped its receiver.
    CoreGone,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => f.write_str("closed by the peer"),
            Ended::Io(e) => write!(f, "socket error: {e}"),
            Ended::BadFrame(e) => write!(f, "bad frame: {e}"),
            Ended::LateHello => f.write_str("bad frame: HELLO after the first frame"),
            Ended::Stopped => f.write_str("closed locally"),
            Ended::CoreGone => f.write_str("event receiver dropped"),
        }
    }
}

/// Runs `fut` until it ends or the owning [`Peers`] is dropped.
async fn until_shutdown(shared: &SharedRef, fut: impl Future<Output = ()>) {
    let shutdown = shared.borrow().shutdown.clone();
    fut.or(async {
        let _ = shutdown.recv().await;
    })
    .await
}

/// Doubles a delay per failure, from [`RECONNECT_BACKOFF_MIN`] to [`RECONNECT_BACKOFF_MAX`].
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: RECONNECT_BACKOFF_MIN }
    }

    /// The delay to wait now; the following one is twice as long (capped).
    fn take(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(RECONNECT_BACKOFF_MAX);
        d
    }

    fn reset(&mut self) {
        self.next = RECONNECT_BACKOFF_MIN;
    }
}

/// Connects to a peer's port and sends our `Hello`.
async fn connect_with_hello(me: ServerId, host: &str, port: u16) -> io::Result<TcpStream> {
    let connect = async { TcpStream::connect((host, port)).await };
    let timeout = async {
        Timer::after(CONNECT_TIMEOUT).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
    };
    let mut stream = connect.or(timeout).await?;
    let _ = stream.set_nodelay(true);
    let hello = encode_message(&PeerMessage::Hello { server: me }, HELLO_FRAME_BYTES_MAX)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    stream.write_all(&hello).await?;
    Ok(stream)
}

/// Keeps a connection to a smaller id: dial, serve, back off, dial again.
async fn dial_loop(shared: SharedRef, id: ServerId, wake: Receiver<()>) {
    let mut backoff = Backoff::new();
    loop {
        let (me, kind, host, port) = {
            let sh = shared.borrow();
            let Some(slot) = sh.slots.get(&id) else { return };
            (sh.me, sh.kind, slot.host.clone(), slot.port)
        };
        match connect_with_hello(me, &host, port).await {
            Ok(stream) => {
                let addr = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], port)));
                serve(&shared, id, stream, addr).await;
                if shared.borrow().slots.get(&id).is_some_and(|s| s.last_was_stable) {
                    backoff.reset();
                }
            }
            Err(e) => log::debug!("server.{me}: {kind} peer {id}: dialling {host}:{port} failed: {e}"),
        }
        // A ring from before this point is stale (our own connection's end).
        while wake.try_recv().is_ok() {}
        let delay = backoff.take();
        let woken = async {
            let _ = wake.recv().await;
        };
        let slept = async {
            Timer::after(delay).await;
        };
        slept.or(woken).await;
    }
}

/// Toward a larger id: while no connection from it is up, nudge it (hello, hang up) with
/// backoff, so it dials us without waiting out its own backoff.
async fn nudge_loop(shared: SharedRef, id: ServerId, wake: Receiver<()>) {
    let mut backoff = Backoff::new();
    let mut delay = Duration::ZERO;
    loop {
        if !delay.is_zero() {
            Timer::after(delay).await;
        }
        let (me, kind, host, port, connected) = {
            let sh = shared.borrow();
            let Some(slot) = sh.slots.get(&id) else { return };
            (sh.me, sh.kind, slot.host.clone(), slot.port, slot.live.is_some())
        };
        if connected {
            // Wait for that connection to end, then nudge again after a pause.
            let _ = wake.recv().await;
            if shared.borrow().slots.get(&id).is_some_and(|s| s.last_was_stable) {
                backoff.reset();
            }
            delay = backoff.take();
            continue;
        }
        match connect_with_hello(me, &host, port).await {
            Ok(stream) => {
                let _ = stream.shutdown(Shutdown::Both);
            }
            Err(e) => log::debug!("server.{me}: {kind} peer {id}: nudging {host}:{port} failed: {e}"),
        }
        delay = backoff.take();
    }
}

/// Accepts peer connections until [`Peers`] is dropped.
async fn accept_loop<'a>(ex: &'a LocalExecutor<'a>, shared: SharedRef, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let sh = shared.clone();
                ex.spawn(async move {
                    let sh2 = sh.clone();
                    until_shutdown(&sh2, accepted(sh, stream, addr)).await
                })
                .detach();
            }
            Err(e) => {
                let me = shared.borrow().me;
                log::warn!("server.{me}: accepting a peer connection failed: {e}");
                Timer::after(RECONNECT_BACKOFF_MIN).await;
            }
        }
    }
}

/// Reads the hello of an accepted connection, then serves it if it comes from a larger id.
async fn accepted(shared: SharedRef, mut stream: TcpStream, addr: SocketAddr) {
    let (me, kind) = {
        let sh = shared.borrow();
        (sh.me, sh.kind)
    };
    let read = async { read_hello(&mut stream).await };
    let late = async {
        Timer::after(HELLO_TIMEOUT).await;
        Err("no hello in time".to_string())
    };
    let hello = read.or(late).await;
    let refuse = |why: &str| {
        log::warn!("server.{me}: {kind} port: refusing connection from {addr}: {why}");
        shared.borrow_mut().stats.hellos_refused += 1;
        let _ = stream.shutdown(Shutdown::Both);
    };
    let id = match hello {
        Ok(id) => id,
        Err(why) => return refuse(&why),
    };
    if id == me {
        return refuse(&format!("hello claims our own id {id}"));
    }
    let known = shared.borrow().slots.contains_key(&id);
    if !known {
        return refuse(&format!("hello from server {id}, not in the configuration"));
    }
    if id < me {
        // A nudge: the smaller id has no connection from us; dial it now (ZooKeeper's
        // handleConnection closes such a socket and connects back).
        log::debug!("server.{me}: {kind} peer {id}: nudged from {addr}");
        let mut sh = shared.borrow_mut();
        sh.stats.nudges_received += 1;
        if let Some(slot) = sh.slots.get(&id).filter(|s| s.live.is_none()) {
            let _ = slot.wake.try_send(());
        }
        drop(sh);
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    serve(&shared, id, stream, addr).await;
    if let Some(slot) = shared.borrow().slots.get(&id) {
        let _ = slot.wake.try_send(());
    }
}

/// Reads the first frame of an accepted connection, which must be a `Hello`.
async fn read_hello(stream: &mut TcpStream) -> Result<ServerId, String> {
    let mut prefix = [0u8; FRAME_PREFIX_BYTES];
    stream.read_exact(&mut prefix).await.map_err(|e| format!("reading the hello: {e}"))?;
    let len = frame_len(prefix, HELLO_FRAME_BYTES_MAX).map_err(|e| format!("first frame: {e}"))?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.map_err(|e| format!("reading the hello: {e}"))?;
    match decode_frame(&body) {
        Ok(PeerMessage::Hello { server }) => Ok(server),
        Ok(other) => Err(format!("first frame is {}, not HELLO", other.name())),
        Err(e) => Err(format!("first frame: {e}")),
    }
}

/// Serves one identified connection to `id` until it ends, keeping the per-peer event order
/// (module doc): it takes the slot over, waits for the connection it replaced to finish,
/// announces itself, relays frames, and announces its end.
async fn serve(shared: &SharedRef, id: ServerId, stream: TcpStream, addr: SocketAddr) {
    let (out_tx, out_rx) = channel::bounded::<Vec<u8>>(SEND_QUEUE_FRAMES);
    let (stop_tx, stop_rx) = channel::bounded::<()>(1);
    let (done_tx, done_rx) = channel::bounded::<()>(1);
    let (me, kind, frame_bytes_max, events, generation, replaced) = {
        let mut sh = shared.borrow_mut();
        let sh = &mut *sh;
        sh.next_generation += 1;
        let generation = sh.next_generation;
        let Some(slot) = sh.slots.get_mut(&id) else { return };
        let live = Live { generation, out: out_tx, stop: stop_tx.clone(), done: done_rx };
        let replaced = slot.live.replace(live);
        sh.stats.connections_kept += 1;
        (sh.me, sh.kind, sh.frame_bytes_max, sh.events.clone(), generation, replaced)
    };
    if let Some(old) = replaced {
        log::info!("server.{me}: {kind} peer {id}: new connection from {addr} replaces the old one");
        old.stop.close();
        // Closed when the old task has sent its `Disconnected`.
        let _ = old.done.recv().await;
    }
    let started = std::time::Instant::now();
    // Superseded while waiting: a newer connection took the slot; end without a word.
    let ended = if stop_tx.is_closed() {
        Ended::Stopped
    } else if events.send(PeerEvent::Connected(id)).await.is_err() {
        Ended::CoreGone
    } else {
        log::info!("server.{me}: {kind} peer {id}: connected ({addr})");
        let reader = read_frames(shared, id, stream.clone(), frame_bytes_max, &events);
        let writer = write_frames(stream.clone(), out_rx);
        let stopped = async {
            let _ = stop_rx.recv().await;
            Ended::Stopped
        };
        let ended = reader.or(writer).or(stopped).await;
        let _ = stream.shutdown(Shutdown::Both);
        let level =
            if matches!(ended, Ended::BadFrame(_) | Ended::LateHello) { log::Level::Warn } else { log::Level::Info };
        log::log!(level, "server.{me}: {kind} peer {id}: disconnected ({addr}): {ended}");
        let _ = events.send(PeerEvent::Disconnected(id)).await;
        ended
    };
    let _ = stream.shutdown(Shutdown::Both);
    let mut sh = shared.borrow_mut();
    if matches!(ended, Ended::BadFrame(_) | Ended::LateHello) {
        sh.stats.bad_frames += 1;
    }
    if let Some(slot) = sh.slots.get_mut(&id) {
        if slot.live.as_ref().is_some_and(|l| l.generation == generation) {
            slot.live = None;
            slot.last_was_stable = started.elapsed() >= STABLE_CONNECTION;
        }
    }
    drop(sh);
    drop(done_tx);
}

/// Reads frames and hands them to the core until the connection fails.
async fn read_frames(
    shared: &SharedRef,
    id: ServerId,
    stream: TcpStream,
    frame_bytes_max: usize,
    events: &Sender<PeerEvent>,
) -> Ended {
    let mut reader = smol::io::BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    loop {
        let mut prefix = [0u8; FRAME_PREFIX_BYTES];
        if let Err(e) = reader.read_exact(&mut prefix).await {
            return Ended::Io(e);
        }
        // The bound is checked before the body is reserved.
        let len = match frame_len(prefix, frame_bytes_max) {
            Ok(n) => n,
            Err(e) => return Ended::BadFrame(e),
        };
        let mut body = vec![0u8; len];
        if let Err(e) = reader.read_exact(&mut body).await {
            return Ended::Io(e);
        }
        match decode_frame(&body) {
            Ok(PeerMessage::Hello { .. }) => return Ended::LateHello,
            Ok(_) => {}
            Err(e) => return Ended::BadFrame(e),
        }
        shared.borrow_mut().stats.frames_received += 1;
        if events.send(PeerEvent::Frame(id, body)).await.is_err() {
            return Ended::CoreGone;
        }
    }
}

/// Writes queued frames, batching whatever is queued into one write.
async fn write_frames(mut stream: TcpStream, rx: Receiver<Vec<u8>>) -> Ended {
    let mut buf = Vec::new();
    loop {
        let Ok(first) = rx.recv().await else { return Ended::Stopped };
        buf.extend_from_slice(&first);
        while let Ok(next) = rx.try_recv() {
            buf.extend_from_slice(&next);
        }
        if let Err(e) = stream.write_all(&buf).await {
            return Ended::Io(e);
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PeerRole;
    use proto_core::peer::PEER_FRAME_BYTES_MAX;
    use proto_core::Zxid;

    /// Bound on every wait for an expected event (reconnects take at most the backoff cap).
    const WAIT: Duration = Duration::from_secs(10);

    /// How long a node must stay silent to count as settled.
    const QUIET: Duration = Duration::from_millis(500);

    type Node = (Peers, Receiver<PeerEvent>);

    /// An executor for one test; leaked, as `serve::run` leaks its own, so tasks may borrow it.
    fn executor() -> &'static LocalExecutor<'static> {
        Box::leak(Box::new(LocalExecutor::new()))
    }

    fn init_log() {
        let _ = env_logger::builder().is_test(true).try_init();
    }

    /// `n` servers on 127.0.0.1, each with two ports that were free (all probed at once, so
    /// no two coincide).
    fn servers(n: u64) -> Vec<ServerLine> {
        let probes: Vec<std::net::TcpListener> =
            (0..2 * n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let ports: Vec<u16> = probes.iter().map(|l| l.local_addr().unwrap().port()).collect();
        (1..=n)
            .map(|id| {
                let i = (id as usize - 1) * 2;
                ServerLine {
                    id,
                    host: "127.0.0.1".into(),
                    quorum_port: ports[i],
                    election_port: ports[i + 1],
                    role: PeerRole::Participant,
                    client: None,
                }
            })
            .collect()
    }

    fn start<'a>(ex: &'a LocalExecutor<'a>, id: u64, servers: &[ServerLine]) -> Node {
        let (tx, rx) = channel::bounded(64);
        let peers = Peers::start(ex, ServerId(id), servers, PortKind::Election, PEER_FRAME_BYTES_MAX, tx).unwrap();
        (peers, rx)
    }

    fn ack(z: u64) -> Vec<u8> {
        encode_message(&PeerMessage::Ack { zxid: Zxid(z) }, PEER_FRAME_BYTES_MAX).unwrap()
    }

    /// What the receiver of `ack(z)` gets: the frame without its length prefix.
    fn ack_body(z: u64) -> Vec<u8> {
        ack(z)[FRAME_PREFIX_BYTES..].to_vec()
    }

    fn hello(id: u64) -> Vec<u8> {
        encode_message(&PeerMessage::Hello { server: ServerId(id) }, PEER_FRAME_BYTES_MAX).unwrap()
    }

    async fn next(rx: &Receiver<PeerEvent>) -> PeerEvent {
        let got = async { rx.recv().await.ok() }
            .or(async {
                Timer::after(WAIT).await;
                None
            })
            .await;
        got.expect("no peer event in time")
    }

    /// The next `n` events, sorted (their order across peers is not defined).
    async fn next_n(rx: &Receiver<PeerEvent>, n: usize) -> Vec<PeerEvent> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(next(rx).await);
        }
        v.sort();
        v
    }

    async fn assert_quiet(nodes: &[&Node]) {
        Timer::after(QUIET).await;
        for (peers, rx) in nodes {
            assert_eq!(rx.try_recv().ok(), None, "unexpected event at {}", peers.local_addr());
        }
    }

    fn connected(ids: &[u64]) -> Vec<PeerEvent> {
        ids.iter().map(|&i| PeerEvent::Connected(ServerId(i))).collect()
    }

    /// Starts servers 1..=3 and waits for the full mesh.
    async fn mesh<'a>(ex: &'a LocalExecutor<'a>, lines: &[ServerLine]) -> Vec<Node> {
        let nodes: Vec<Node> = (1..=3).map(|id| start(ex, id, lines)).collect();
        assert_eq!(next_n(&nodes[0].1, 2).await, connected(&[2, 3]));
        assert_eq!(next_n(&nodes[1].1, 2).await, connected(&[1, 3]));
        assert_eq!(next_n(&nodes[2].1, 2).await, connected(&[1, 2]));
        nodes
    }

    /// `from` sends an ACK to `to`, which receives it intact.
    async fn exchange(nodes: &[Node], from: u64, to: u64, z: u64) {
        let (a, _) = &nodes[from as usize - 1];
        let (_, rx) = &nodes[to as usize - 1];
        a.send(ServerId(to), ack(z)).unwrap();
        let ev = next(rx).await;
        assert_eq!(ev, PeerEvent::Frame(ServerId(from), ack_body(z)));
        if let PeerEvent::Frame(_, body) = ev {
            assert_eq!(decode_frame(&body), Ok(PeerMessage::Ack { zxid: Zxid(z) }));
        }
    }

    /// Reads until the other side closes; fails if it does not within [`WAIT`].
    async fn expect_closed(stream: &mut TcpStream) {
        let mut rest = Vec::new();
        // EOF or a reset: either way the other side closed.
        let read = async {
            let _ = stream.read_to_end(&mut rest).await;
            true
        };
        let late = async {
            Timer::after(WAIT).await;
            false
        };
        assert!(read.or(late).await, "connection not closed in time");
    }

    #[test]
    fn full_mesh_has_one_connection_per_pair_and_frames_flow_both_ways() {
        init_log();
        let ex = executor();
        smol::block_on(ex.run(async {
            let lines = servers(3);
            let nodes = mesh(ex, &lines).await;
            for from in 1..=3 {
                for to in (1..=3).filter(|&t| t != from) {
                    exchange(&nodes, from, to, from * 10 + to).await;
                }
            }
            assert_quiet(&nodes.iter().collect::<Vec<_>>()).await;
            // Each node took exactly two connections into service: one TCP connection per
            // pair, though the smaller ids nudged the larger ones at start.
            for (peers, _) in &nodes {
                let s = peers.stats();
                assert_eq!(s.connections_kept, 2, "{s:?}");
                assert_eq!(s.frames_sent, 2);
                assert_eq!(s.frames_received, 2);
            }
            for id in 1..=3u64 {
                let (p, _) = &nodes[id as usize - 1];
                for other in (1..=3).filter(|&o| o != id) {
                    assert!(p.is_connected(ServerId(other)));
                }
                assert_eq!(p.send(ServerId(id), ack(1)), Err(SendError::UnknownPeer));
                assert_eq!(p.send(ServerId(9), ack(1)), Err(SendError::UnknownPeer));
            }
            // A frame over the bound is refused locally, not sent to be refused remotely.
            let big = vec![0u8; FRAME_PREFIX_BYTES + PEER_FRAME_BYTES_MAX + 1];
            assert_eq!(nodes[0].0.send(ServerId(2), big), Err(SendError::TooLarge));
            assert_eq!(nodes[0].0.stats().dropped_too_large, 1);
        }));
    }

    #[test]
    fn bad_frames_close_only_that_connection_and_it_comes_back() {
        init_log();
        let ex = executor();
        smol::block_on(ex.run(async {
            let lines = servers(3);
            let nodes = mesh(ex, &lines).await;
            let (n1, n2, n3) = (&nodes[0], &nodes[1], &nodes[2]);
            let (s1, s2, s3) = (ServerId(1), ServerId(2), ServerId(3));
            // 1 -> 2: version 1, then a payload that is no message.
            n1.0.send(s2, vec![0, 0, 0, 2, 1, 0xff]).unwrap();
            assert_eq!(next(&n2.1).await, PeerEvent::Disconnected(s1));
            assert_eq!(next(&n1.1).await, PeerEvent::Disconnected(s2));
            assert_eq!(next(&n2.1).await, PeerEvent::Connected(s1));
            assert_eq!(next(&n1.1).await, PeerEvent::Connected(s2));
            assert_eq!(n2.0.stats().bad_frames, 1);
            exchange(&nodes, 1, 2, 7).await;
            exchange(&nodes, 2, 1, 8).await;
            assert_quiet(&[n3]).await;
            // 3 -> 1: a length beyond the bound, refused before any body is read.
            n3.0.send(s1, vec![0xff; FRAME_PREFIX_BYTES]).unwrap();
            assert_eq!(next(&n1.1).await, PeerEvent::Disconnected(s3));
            assert_eq!(next(&n3.1).await, PeerEvent::Disconnected(s1));
            assert_eq!(next(&n1.1).await, PeerEvent::Connected(s3));
            assert_eq!(next(&n3.1).await, PeerEvent::Connected(s1));
            assert_eq!(n1.0.stats().bad_frames, 1);
            // 3 -> 2: a second HELLO on an identified connection.
            n3.0.send(s2, hello(3)).unwrap();
            assert_eq!(next(&n2.1).await, PeerEvent::Disconnected(s3));
            assert_eq!(next(&n3.1).await, PeerEvent::Disconnected(s2));
            assert_eq!(next(&n2.1).await, PeerEvent::Connected(s3));
            assert_eq!(next(&n3.1).await, PeerEvent::Connected(s2));
            assert_eq!(n2.0.stats().bad_frames, 2);
            exchange(&nodes, 3, 2, 9).await;
            exchange(&nodes, 1, 3, 10).await;
            assert_quiet(&[n1, n2, n3]).await;
        }));
    }

    #[test]
    fn a_dropped_server_is_disconnected_then_reconnected_after_restart() {
        init_log();
        let ex = executor();
        smol::block_on(ex.run(async {
            let lines = servers(3);
            let mut nodes = mesh(ex, &lines).await;
            let s2 = ServerId(2);
            drop(nodes.remove(1));
            let (n1, n3) = (&nodes[0], &nodes[1]);
            assert_eq!(next(&n1.1).await, PeerEvent::Disconnected(s2));
            assert_eq!(next(&n3.1).await, PeerEvent::Disconnected(s2));
            assert!(!n1.0.is_connected(s2));
            assert_eq!(n1.0.send(s2, ack(1)), Err(SendError::NotConnected));
            assert_eq!(n1.0.stats().dropped_not_connected, 1);
            // Let the cancelled tasks release the port, then restart server 2 on it.
            Timer::after(Duration::from_millis(200)).await;
            nodes.insert(1, start(ex, 2, &lines));
            assert_eq!(next_n(&nodes[1].1, 2).await, connected(&[1, 3]));
            assert_eq!(next(&nodes[0].1).await, PeerEvent::Connected(s2));
            assert_eq!(next(&nodes[2].1).await, PeerEvent::Connected(s2));
            exchange(&nodes, 2, 3, 1).await;
            exchange(&nodes, 1, 2, 2).await;
            exchange(&nodes, 3, 1, 3).await;
            assert_quiet(&nodes.iter().collect::<Vec<_>>()).await;
        }));
    }

    #[test]
    fn strangers_smaller_ids_and_duplicates_leave_one_connection_per_pair() {
        init_log();
        let ex = executor();
        smol::block_on(ex.run(async {
            let lines = servers(3);
            let nodes = mesh(ex, &lines).await;
            let (n1, n2, n3) = (&nodes[0], &nodes[1], &nodes[2]);
            let (s1, s3) = (ServerId(1), ServerId(3));
            let addr1 = n1.0.local_addr();

            // An id not in the configuration is refused.
            let mut stranger = TcpStream::connect(addr1).await.unwrap();
            stranger.write_all(&hello(9)).await.unwrap();
            expect_closed(&mut stranger).await;
            assert_eq!(n1.0.stats().hellos_refused, 1);
            // So is a first frame that is not a hello, or too long for one.
            let mut odd = TcpStream::connect(addr1).await.unwrap();
            odd.write_all(&ack(1)).await.unwrap();
            expect_closed(&mut odd).await;
            let mut long = TcpStream::connect(addr1).await.unwrap();
            long.write_all(&[0, 0, 1, 0]).await.unwrap();
            expect_closed(&mut long).await;
            assert_eq!(n1.0.stats().hellos_refused, 3);

            // A connection from a smaller id is a nudge: closed, and ignored while connected.
            let nudges = n3.0.stats().nudges_received;
            let mut small = TcpStream::connect(n3.0.local_addr()).await.unwrap();
            small.write_all(&hello(1)).await.unwrap();
            expect_closed(&mut small).await;
            assert_eq!(n3.0.stats().nudges_received, nudges + 1);
            assert_quiet(&[n1, n2, n3]).await;

            // A second connection claiming server 3 replaces the first...
            let mut dup = TcpStream::connect(addr1).await.unwrap();
            dup.write_all(&hello(3)).await.unwrap();
            assert_eq!(next(&n1.1).await, PeerEvent::Disconnected(s3));
            assert_eq!(next(&n1.1).await, PeerEvent::Connected(s3));
            // ...the real server 3 sees its connection closed and dials again, replacing
            // the duplicate in turn: one connection per pair again.
            assert_eq!(next(&n3.1).await, PeerEvent::Disconnected(s1));
            assert_eq!(next(&n3.1).await, PeerEvent::Connected(s1));
            assert_eq!(next(&n1.1).await, PeerEvent::Disconnected(s3));
            assert_eq!(next(&n1.1).await, PeerEvent::Connected(s3));
            expect_closed(&mut dup).await;
            exchange(&nodes, 1, 3, 11).await;
            exchange(&nodes, 3, 1, 12).await;
            assert_quiet(&[n1, n2, n3]).await;
        }));
    }

    #[test]
    fn close_ends_the_connection_and_the_peer_returns() {
        init_log();
        let ex = executor();
        smol::block_on(ex.run(async {
            let lines = servers(3);
            let nodes = mesh(ex, &lines).await;
            let (s2, s3) = (ServerId(2), ServerId(3));
            assert!(nodes[2].0.close(s2));
            assert_eq!(next(&nodes[2].1).await, PeerEvent::Disconnected(s2));
            assert_eq!(next(&nodes[1].1).await, PeerEvent::Disconnected(s3));
            assert_eq!(next(&nodes[2].1).await, PeerEvent::Connected(s2));
            assert_eq!(next(&nodes[1].1).await, PeerEvent::Connected(s3));
            exchange(&nodes, 2, 3, 5).await;
            assert_quiet(&nodes.iter().collect::<Vec<_>>()).await;
        }));
    }

    #[test]
    fn encode_message_grows_its_buffer_and_respects_the_bound() {
        let chunk = [7u8; 1000];
        let msg = PeerMessage::SnapChunk { bytes: &chunk, last: true };
        let frame = encode_message(&msg, PEER_FRAME_BYTES_MAX).unwrap();
        let len = frame_len(frame[..FRAME_PREFIX_BYTES].try_into().unwrap(), PEER_FRAME_BYTES_MAX).unwrap();
        assert_eq!(len + FRAME_PREFIX_BYTES, frame.len());
        assert_eq!(decode_frame(&frame[FRAME_PREFIX_BYTES..]), Ok(msg));
        assert_eq!(encode_message(&msg, 100), Err(PeerEncodeError::BufferTooSmall));
        assert_eq!(hello(3), [0, 0, 0, 3, 1, 0, 3]);
    }
}
