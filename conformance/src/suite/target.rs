//! What a scenario runs against: a service of one or more servers that takes client
//! connections carrying ZooKeeper frames, can let time pass, and can lose and regain a server.
//!
//! The implementations: [`crate::suite::sim::SimTarget`] (the core in process, on simulated
//! time) and [`crate::suite::real::RealTarget`] (herd or Apache ZooKeeper processes over TCP,
//! standalone or a 3-member ensemble). An embedded shell becomes one more implementation.

use std::fmt;
use std::time::Duration;

/// A client connection of a target, valid until closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Link(pub u64);

/// What waiting on a connection gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recv {
    /// One whole frame, its 4-byte length prefix removed.
    Frame(Vec<u8>),
    /// Nothing arrived within the wait.
    Idle,
    /// The server closed the connection (or it broke).
    Closed,
}

/// Why a target could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// The configuration every target runs with, so one expectation holds on all of them.
pub mod config {
    /// tickTime, ms: sessions negotiate into [2, 20] ticks.
    pub const TICK_MS: u32 = 500;
    /// minSessionTimeout (ZooKeeper's default, 2 ticks).
    pub const MIN_SESSION_MS: u32 = 2 * TICK_MS;
    /// maxSessionTimeout (ZooKeeper's default, 20 ticks).
    pub const MAX_SESSION_MS: u32 = 20 * TICK_MS;
    /// jute.maxbuffer, left at ZooKeeper's default: the largest frame a server reads.
    pub const JUTE_MAXBUFFER: usize = 0xfffff;
    /// `4lw.commands.whitelist`.
    pub const FOUR_LETTER_WHITELIST: &str = "*";
    /// `extendedTypesEnabled` (TTL nodes).
    pub const EXTENDED_TYPES: bool = true;
    /// `znode.container.checkIntervalMs`: how often containers and TTL nodes are reaped.
    pub const CONTAINER_CHECK_MS: u32 = 100;
    /// `superDigest`: the digest of `super:test`, so scenarios can authenticate as super.
    pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
}

/// A service under test.
pub trait Target {
    /// Short name for the table (`sim`, `herd`, `herd×3`, `zookeeper`, `zookeeper×3`).
    fn name(&self) -> &str;
    /// How many servers it has (1 standalone, 3 for an ensemble).
    fn servers(&self) -> usize;
    /// Whether time passes by itself ([`Target::elapse`] sleeps) rather than on request.
    fn real_time(&self) -> bool;
    /// Opens a TCP-like connection to server `server` (0-based).
    fn connect(&mut self, server: usize) -> Result<Link, TargetError>;
    /// Sends one whole frame (length prefix included) on `link`.
    fn send(&mut self, link: Link, frame: &[u8]) -> Result<(), TargetError>;
    /// Waits up to `wait` (target time) for the next frame on `link`.
    fn recv(&mut self, link: Link, wait: Duration) -> Recv;
    /// Closes `link` from the client's side (as a client that goes away).
    fn close(&mut self, link: Link);
    /// Lets `d` of target time pass with every connection left as it is.
    fn elapse(&mut self, d: Duration);
    /// Sends a four-letter word to `server` on a fresh connection and returns the answer.
    fn four_letter(&mut self, server: usize, word: &str) -> Result<String, TargetError>;
    /// Stops `server` at once (SIGKILL: only what it made durable survives).
    fn kill(&mut self, server: usize) -> Result<(), TargetError>;
    /// Starts a killed `server` again on its data and waits until it serves.
    fn restart(&mut self, server: usize) -> Result<(), TargetError>;
    /// Waits until every running server serves clients again (after a kill or restart).
    fn wait_serving(&mut self) -> Result<(), TargetError>;
    /// Log lines worth showing when a scenario failed (server log tails).
    fn diagnostics(&mut self) -> String;
}
