//! Every bound the core enforces, in one place.
//!
//! The core never grows a table: the shell sizes its storage from these numbers and hands
//! it in. Hitting a bound is a defined outcome (a ZooKeeper error to that client or a
//! refused connection), never a panic.

/// ZooKeeper's `jute.maxbuffer` default: the largest frame accepted on the client port.
pub const JUTE_MAXBUFFER_DEFAULT: u32 = 0xfffff;

/// Every bound of one replica, printed by the shell at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most znodes the tree holds, reserved ones included (zoo.cfg `herd.znodesMax`).
    pub znodes_max: u32,
    /// Bytes of the arena holding znode names, data and ACL lists (zoo.cfg `herd.dataBytesMax`).
    pub data_bytes_max: u64,
    /// Most live sessions (zoo.cfg `herd.sessionsMax`).
    pub sessions_max: u32,
    /// Most registered watches over all connections (zoo.cfg `herd.watchesMax`).
    pub watches_max: u32,
    /// Most distinct ACL lists in use at once (zoo.cfg `herd.aclListsMax`).
    pub acl_lists_max: u32,
    /// Most open client connections (zoo.cfg `herd.connectionsMax`).
    pub connections_max: u32,
    /// Most client connections from one IP address (zoo.cfg `maxClientCnxns`; 0 = no limit).
    pub connections_per_ip_max: u32,
    /// Largest frame accepted from a client, and so the largest znode data (zoo.cfg `jute.maxbuffer`).
    pub packet_bytes_max: u32,
    /// Most auth ids one connection may collect with `addauth` (herd's own bound).
    pub auth_ids_per_connection_max: u32,
}

impl Limits {
    /// Sizes for a server: a million znodes of 100 bytes fit, and the storage behind the
    /// bounds is only paid for as it is used (the shell hands in lazily-mapped zeroed memory).
    pub const SERVER: Limits = Limits {
        znodes_max: 4_000_000,
        data_bytes_max: 4 << 30,
        sessions_max: 65_536,
        watches_max: 1_000_000,
        acl_lists_max: 65_536,
        connections_max: 10_000,
        connections_per_ip_max: 60,
        packet_bytes_max: JUTE_MAXBUFFER_DEFAULT,
        auth_ids_per_connection_max: 8,
    };
}
