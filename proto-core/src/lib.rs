//! herd's protocol core: everything that is ZooKeeper, as state machines.
//!
//! No I/O, no clock, no heap. Inputs (bytes from a client, `now`, "durable up to zxid")
//! enter through `handle_*` methods and outputs leave through the [`server::Effects`]
//! trait the shell implements, so one sequence of inputs always gives the same outputs.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acl;
pub mod arena;
pub mod election;
pub mod ids;
pub mod jute;
pub mod limits;
pub mod log;
pub mod peer;
pub mod quorum;
pub mod server;
pub mod session;
pub mod stat;
pub mod time;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod zab;
pub mod zxid;

pub use ids::{ConnId, SessionId, Version, Xid};
pub use limits::Limits;
pub use stat::Stat;
pub use time::{Instant, Now};
pub use zxid::Zxid;
