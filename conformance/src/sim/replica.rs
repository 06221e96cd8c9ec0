//! What the simulator drives: one server's sans-IO state machine behind a small trait.
//!
//! The simulator owns everything a real shell would: the network, the disk, the clock and
//! the clients. A replica only ever sees inputs and produces outputs, so the same trait
//! fits FastLeaderElection alone (today) and a full ZAB replica with storage and clients.

use std::fmt::Debug;

use proto_core::quorum::ServerId;
use proto_core::Instant;

/// A simulated client, for request/reply routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// One output of a replica, drained after every input in the order produced.
///
/// The order is the durability contract: a [`Output::Write`] drained before a
/// [`Output::Send`] is handed to the disk before the message reaches the network, and it
/// is not durable until [`Replica::handle_durable`] returns it. A replica must not send
/// what depends on a write (an ACK, a client reply) before that call.
pub enum Output<R: Replica> {
    /// A message to one peer.
    Send {
        /// Recipient.
        to: ServerId,
        /// Payload.
        msg: R::Message,
    },
    /// A write to this server's stable storage (log append, epoch file…).
    Write(R::Write),
    /// A reply to a client request.
    Reply {
        /// The client that asked.
        client: ClientId,
        /// The answer.
        reply: R::Reply,
    },
    /// Something checkers should know (a decision, a commit); not sent anywhere.
    Notice(R::Notice),
}

// By hand: derives would demand `R: Clone + Debug` instead of its associated types.
impl<R: Replica> Clone for Output<R> {
    fn clone(&self) -> Self {
        match self {
            Output::Send { to, msg } => Output::Send { to: *to, msg: msg.clone() },
            Output::Write(w) => Output::Write(w.clone()),
            Output::Reply { client, reply } => Output::Reply { client: *client, reply: reply.clone() },
            Output::Notice(n) => Output::Notice(n.clone()),
        }
    }
}

impl<R: Replica> Debug for Output<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Send { to, msg } => write!(f, "send to {to}: {msg:?}"),
            Output::Write(w) => write!(f, "write {w:?}"),
            Output::Reply { client, reply } => write!(f, "reply to client {}: {reply:?}", client.0),
            Output::Notice(n) => write!(f, "{n:?}"),
        }
    }
}

/// A server as the simulator drives it.
///
/// Life cycle: [`Replica::boot`] from the disk contents; then any sequence of
/// `handle_*` inputs, each followed by draining [`Replica::poll_output`] until `None` and
/// then reading [`Replica::poll_timeout`]. A crash drops the value; only the disk
/// (everything [`Replica::apply`] wrote before the crash) is handed to the next `boot`.
pub trait Replica: Sized {
    /// Static description of the ensemble (members, tuning, injected bugs).
    type Config: Clone + Debug;
    /// Peer messages.
    type Message: Clone + Debug;
    /// The contents of stable storage: all that survives a crash.
    type Disk: Clone + Debug;
    /// One write to stable storage.
    type Write: Clone + Debug;
    /// A client request.
    type Request: Clone + Debug;
    /// A reply to a client.
    type Reply: Clone + Debug;
    /// Facts for the checkers.
    type Notice: Clone + Debug;

    /// Starts server `id` (boot or restart) with what its disk holds.
    fn boot(config: &Self::Config, id: ServerId, disk: &Self::Disk, now: Instant) -> Self;

    /// A message from peer `from`.
    fn handle_message(&mut self, now: Instant, from: ServerId, msg: Self::Message);

    /// Timers may be due; must be harmless when called early.
    fn handle_timeout(&mut self, now: Instant);

    /// `write` (and every write before it) is now durable.
    fn handle_durable(&mut self, now: Instant, write: &Self::Write) {
        let _ = (now, write);
    }

    /// A client request arrived on this server.
    fn handle_request(&mut self, now: Instant, client: ClientId, request: Self::Request) {
        let _ = (now, client, request);
    }

    /// The next output, in the order described on [`Output`].
    fn poll_output(&mut self) -> Option<Output<Self>>;

    /// When [`Replica::handle_timeout`] should be called next.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Applies a durable write to the disk contents (the storage format, as the
    /// simulator's disk sees it).
    fn apply(disk: &mut Self::Disk, write: &Self::Write);
}
