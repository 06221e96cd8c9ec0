//! Small identifiers that would otherwise be bare integers.

use core::fmt;
use serde::{Deserialize, Serialize};

/// A client session id: `server id << 56 | start time << 16 | counter` (ZooKeeper's layout).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionId(pub i64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0 as u64)
    }
}

/// A client-chosen request id, echoed in the reply. Negative values are special (ping, auth…).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Xid(pub i32);

impl Xid {
    /// Watch notifications.
    pub const NOTIFICATION: Xid = Xid(-1);
    /// Pings.
    pub const PING: Xid = Xid(-2);
    /// Authentication packets.
    pub const AUTH: Xid = Xid(-4);
    /// setWatches after a reconnect.
    pub const SET_WATCHES: Xid = Xid(-8);
}

/// A znode version counter (data version, child version or ACL version); `-1` means "any"
/// when a client passes it as an expected version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version(pub i32);

impl Version {
    /// The expected-version wildcard.
    pub const ANY: Version = Version(-1);

    /// True when a client's expected version `self` accepts the current version `current`.
    pub fn matches(self, current: i32) -> bool {
        self.0 == -1 || self.0 == current
    }
}

/// A client connection, numbered by the shell. The core never reuses an id while it is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}
