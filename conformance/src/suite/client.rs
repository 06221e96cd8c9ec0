//! A minimal ZooKeeper client over a [`Target`] link: the handshake, xids, pipelined
//! requests, watch events kept in arrival order, and pings. It is deliberately thin — no
//! reconnects, no retries — so a scenario sees exactly what the server sent.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use super::target::{Link, Recv, Target};
use super::wire::{self, Connect, Connected, Event, Incoming, Op, Reply};

/// Why a client call did not give a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The server closed the connection.
    Closed,
    /// No answer within the wait.
    Timeout,
    /// The server sent something that does not decode.
    Garbage(String),
    /// The target refused (connect failed, server down…).
    Target(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Closed => f.write_str("connection closed by the server"),
            ClientError::Timeout => f.write_str("no answer in time"),
            ClientError::Garbage(e) => write!(f, "undecodable frame: {e}"),
            ClientError::Target(e) => write!(f, "target: {e}"),
        }
    }
}

/// How long a client waits for one reply before calling it lost. ZooKeeper's own clients
/// wait two thirds of the session timeout; this is generous so a slow JVM is not a failure.
pub const REPLY_WAIT: Duration = Duration::from_secs(10);

/// One connection and (once the handshake succeeded) its session.
pub struct Client {
    /// The connection.
    pub link: Link,
    /// Which server it is connected to.
    pub server: usize,
    /// The handshake's answer.
    pub connected: Connected,
    next_xid: i32,
    /// Requests sent and not yet answered, by xid.
    pending: BTreeMap<i32, Op>,
    /// Replies that arrived while waiting for another xid.
    replies: BTreeMap<i32, Reply>,
    /// Watch events in arrival order, each with how many replies had arrived before it.
    events: VecDeque<(u64, Event)>,
    /// Replies received so far (orders events against replies).
    replies_seen: u64,
    /// The highest zxid seen in a reply header.
    pub last_zxid: i64,
    /// The server closed the connection.
    pub closed: bool,
}

impl Client {
    /// Opens a connection to `server` and does the handshake. A refused session (timeout 0,
    /// as for an expired session or a wrong password) is returned, not an error: the caller
    /// checks `connected`.
    pub fn connect(t: &mut dyn Target, server: usize, req: &Connect) -> Result<Client, ClientError> {
        let link = t.connect(server).map_err(|e| ClientError::Target(e.0))?;
        t.send(link, &wire::encode_connect(req)).map_err(|e| ClientError::Target(e.0))?;
        let connected = match t.recv(link, REPLY_WAIT) {
            Recv::Frame(f) => wire::decode_connected(&f).map_err(ClientError::Garbage)?,
            Recv::Idle => {
                t.close(link);
                return Err(ClientError::Timeout);
            }
            Recv::Closed => {
                t.close(link);
                return Err(ClientError::Closed);
            }
        };
        Ok(Client {
            link,
            server,
            connected,
            next_xid: 1,
            pending: BTreeMap::new(),
            replies: BTreeMap::new(),
            events: VecDeque::new(),
            replies_seen: 0,
            last_zxid: 0,
            closed: false,
        })
    }

    /// The session id (0 when the handshake was refused).
    pub fn session_id(&self) -> i64 {
        self.connected.session_id
    }

    /// Sends `op` without waiting; returns its xid.
    pub fn send(&mut self, t: &mut dyn Target, op: &Op) -> Result<i32, ClientError> {
        let xid = wire::fixed_xid(op).unwrap_or_else(|| {
            let x = self.next_xid;
            self.next_xid += 1;
            x
        });
        t.send(self.link, &wire::encode_request(xid, op)).map_err(|e| ClientError::Target(e.0))?;
        self.pending.insert(xid, op.clone());
        Ok(xid)
    }

    /// Sends raw bytes (a garbage frame, a bad length) on the connection.
    pub fn send_raw(&mut self, t: &mut dyn Target, bytes: &[u8]) -> Result<(), ClientError> {
        t.send(self.link, bytes).map_err(|e| ClientError::Target(e.0))
    }

    /// Reads one frame if one comes within `wait`; files it as a reply or an event.
    /// Returns false when nothing came.
    fn pump(&mut self, t: &mut dyn Target, wait: Duration) -> Result<bool, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        match t.recv(self.link, wait) {
            Recv::Idle => Ok(false),
            Recv::Closed => {
                self.closed = true;
                Err(ClientError::Closed)
            }
            Recv::Frame(f) => {
                let pending = &self.pending;
                let lookup = |xid: i32| pending.get(&xid).cloned();
                match wire::decode_incoming(&f, &lookup).map_err(ClientError::Garbage)? {
                    Incoming::Event(e) => self.events.push_back((self.replies_seen, e)),
                    Incoming::Reply(r) => {
                        self.pending.remove(&r.xid);
                        self.replies_seen += 1;
                        if r.zxid > self.last_zxid {
                            self.last_zxid = r.zxid;
                        }
                        self.replies.insert(r.xid, r);
                    }
                }
                Ok(true)
            }
        }
    }

    /// Waits for the reply to `xid`, keeping events and other replies for later.
    pub fn wait_reply(&mut self, t: &mut dyn Target, xid: i32, wait: Duration) -> Result<Reply, ClientError> {
        let mut left = wait;
        let slice = Duration::from_millis(50);
        loop {
            if let Some(r) = self.replies.remove(&xid) {
                return Ok(r);
            }
            if left.is_zero() {
                return Err(ClientError::Timeout);
            }
            let step = left.min(slice);
            if !self.pump(t, step)? {
                left = left.saturating_sub(step);
            }
        }
    }

    /// Sends `op` and waits for its reply.
    pub fn call(&mut self, t: &mut dyn Target, op: &Op) -> Result<Reply, ClientError> {
        let xid = self.send(t, op)?;
        self.wait_reply(t, xid, REPLY_WAIT)
    }

    /// How many replies have arrived so far (to tell which events came before a reply).
    pub fn replies_seen(&self) -> u64 {
        self.replies_seen
    }

    /// The next event, waiting up to `wait` for one; with the reply count at its arrival.
    pub fn next_event(&mut self, t: &mut dyn Target, wait: Duration) -> Result<Option<(u64, Event)>, ClientError> {
        let mut left = wait;
        let slice = Duration::from_millis(50);
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            if left.is_zero() {
                return Ok(None);
            }
            let step = left.min(slice);
            match self.pump(t, step) {
                Ok(true) => {}
                Ok(false) => left = left.saturating_sub(step),
                // Events that came before the close are still delivered above; then none.
                Err(ClientError::Closed) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Events already received and not yet taken.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// Sends a ping and reads whatever is waiting, without blocking for the answer: keeps
    /// the session alive while a scenario lets time pass.
    pub fn keep_alive(&mut self, t: &mut dyn Target) -> Result<(), ClientError> {
        self.send(t, &Op::Ping)?;
        while self.pump(t, Duration::ZERO)? {}
        // A ping's answer is not a scenario's business.
        self.replies.remove(&-2);
        Ok(())
    }

    /// Reads until the server closes the connection or `wait` passes; true when closed.
    pub fn await_close(&mut self, t: &mut dyn Target, wait: Duration) -> bool {
        let mut left = wait;
        let slice = Duration::from_millis(50);
        loop {
            if self.closed {
                return true;
            }
            if left.is_zero() {
                return false;
            }
            let step = left.min(slice);
            match self.pump(t, step) {
                Ok(true) => {}
                Ok(false) => left = left.saturating_sub(step),
                Err(ClientError::Closed) => return true,
                Err(_) => return true,
            }
        }
    }

    /// Drops the connection without closing the session (a client that went away).
    pub fn disconnect(&mut self, t: &mut dyn Target) {
        t.close(self.link);
        self.closed = true;
    }
}
