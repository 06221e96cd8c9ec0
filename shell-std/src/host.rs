//! Builds the core replica on this machine: `Limits` from zoo.cfg, storage for every table
//! from the allocator, and the core's settings.
//!
//! Tables are allocated zeroed (`memory::zeroed_slice`), which the kernel maps lazily: a
//! server configured for four million znodes pays for the pages its znodes touch, not for
//! the capacity.

use std::io;

use proto_core::limits::Limits;
use proto_core::server::{ConnSlot, Server, ServerConfig, ServerStorage};
use proto_core::session::SessionSlot;
use proto_core::time::Now;
use proto_core::tree::{AclSlot, Node, SessionSlot as EphemeralSlot, TreeStorage};
use proto_core::watch::WatchSlot;

use crate::config::Config;
use crate::memory::{zeroed_slice, ZeroIsValid};

// SAFETY: each is a struct of integer fields and integer arrays only (see their
// definitions in proto-core), so the all-zero bit pattern is a valid value; for the slot
// types it is also their documented EMPTY state.
unsafe impl ZeroIsValid for Node {}
unsafe impl ZeroIsValid for AclSlot {}
unsafe impl ZeroIsValid for EphemeralSlot {}
unsafe impl ZeroIsValid for WatchSlot {}
unsafe impl ZeroIsValid for SessionSlot {}
// SAFETY: a connection slot is integers, integer arrays, a bool and `AuthId`s whose scheme is
// a `repr(u8)` enum with a 0 variant (`World`); all-zero bytes is `ConnSlot::EMPTY`.
unsafe impl ZeroIsValid for ConnSlot {}

/// Default connection slots. A slot carries its auth ids inline (about 4 KiB) but costs memory
/// only once a connection uses it; `herd.connectionsMax` changes the bound.
pub const CONNECTIONS_MAX_DEFAULT: u32 = 4096;

/// The bounds zoo.cfg asks for, over herd's server defaults.
pub fn limits_from(config: &Config) -> Limits {
    let base = Limits::SERVER;
    let cap = &config.capacity;
    Limits {
        znodes_max: cap.znodes_max.unwrap_or(base.znodes_max),
        data_bytes_max: cap.data_bytes_max.unwrap_or(base.data_bytes_max),
        sessions_max: cap.sessions_max.unwrap_or(base.sessions_max),
        watches_max: cap.watches_max.unwrap_or(base.watches_max),
        acl_lists_max: cap.acl_lists_max.unwrap_or(base.acl_lists_max),
        connections_max: cap.connections_max.unwrap_or(CONNECTIONS_MAX_DEFAULT),
        connections_per_ip_max: config.max_client_cnxns,
        packet_bytes_max: config.jute_maxbuffer,
        auth_ids_per_connection_max: proto_core::server::conn::AUTH_IDS_PER_CONNECTION_MAX as u32,
    }
}

fn alloc<T: ZeroIsValid>(len: usize, what: &str) -> io::Result<&'static mut [T]> {
    zeroed_slice::<T>(len)
        .map(|b| &mut *Box::leak(b))
        .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, format!("allocating {what}: {e:?}")))
}

/// The core's settings from zoo.cfg.
pub fn server_config(config: &Config) -> ServerConfig {
    let super_digest = config.super_digest.as_ref().and_then(|d| {
        let mut s = heapless::String::<128>::new();
        s.push_str(&format!("{}:{}", d.user, d.digest)).ok().map(|_| s)
    });
    ServerConfig {
        server_id: 1,
        tick_ms: config.tick_time_ms,
        min_session_timeout_ms: config.min_session_timeout_ms,
        max_session_timeout_ms: config.max_session_timeout_ms,
        extended_types: config.extended_types_enabled,
        super_digest,
        container_check_interval_ms: config.container_check_interval_ms.min(u64::from(u32::MAX)) as u32,
        password_secret: random_secret(),
    }
}

/// 16 bytes from the kernel's random source, for session passwords.
fn random_secret() -> [u8; 16] {
    use std::io::Read;
    let mut secret = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret)).is_err() {
        // No urandom: fall back to time and pid, still unpredictable to a remote client.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        secret[..8].copy_from_slice(&(t.as_nanos() as u64).to_le_bytes());
        secret[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    secret
}

/// Allocates every table for `limits` and builds the replica. The storage lives for the
/// rest of the process.
pub fn build_server(limits: Limits, cfg: ServerConfig, now: Now) -> io::Result<Server<'static>> {
    let sizes = ServerStorage::sizes(&limits);
    let storage = ServerStorage {
        tree: TreeStorage {
            nodes: alloc::<Node>(sizes.nodes, "znode table")?,
            index: alloc::<u32>(sizes.node_index, "znode index")?,
            bytes: alloc::<u8>(sizes.node_bytes, "znode data arena")?,
            acls: alloc::<AclSlot>(sizes.acls, "ACL table")?,
            sessions: alloc::<EphemeralSlot>(sizes.ephemeral_sessions, "ephemeral owner table")?,
        },
        sessions: alloc::<SessionSlot>(sizes.sessions, "session table")?,
        session_index: alloc::<u32>(sizes.session_index, "session index")?,
        watch_slots: alloc::<WatchSlot>(sizes.watch_slots, "watch table")?,
        watch_index: alloc::<u32>(sizes.watch_index, "watch index")?,
        watch_bytes: alloc::<u8>(sizes.watch_bytes, "watch path arena")?,
        conns: alloc::<ConnSlot>(sizes.conns, "connection table")?,
        out: alloc::<u8>(sizes.scratch, "reply buffer")?,
        txn: alloc::<u8>(sizes.scratch * 2, "txn buffer")?,
        multi: alloc::<u8>(sizes.scratch * 2, "multi buffer")?,
        overlay: alloc::<u8>(sizes.scratch * 2, "multi overlay")?,
        path: alloc::<u8>(sizes.scratch, "path buffer")?,
        acl: alloc::<u8>(sizes.scratch, "ACL buffer")?,
        event_path: alloc::<u8>(sizes.scratch, "event path buffer")?,
    };
    Server::new(storage, limits, cfg, now)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("building the replica: {e:?}")))
}

#[cfg(test)]
mod tests {
    use proto_core::server::{ConnState, ConnTable};

    use super::*;

    /// The zeroed table is a table of free slots: what `unsafe impl ZeroIsValid` promises.
    #[test]
    fn zeroed_connection_slots_are_free_and_usable() {
        let slots: &mut [ConnSlot] = alloc::<ConnSlot>(4, "test").unwrap();
        let mut table = ConnTable::new(slots, 0);
        assert_eq!(table.open_count(), 0);
        assert_eq!(table.state(proto_core::ConnId(0)), ConnState::Free);
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3));
        let conn = table.open(proto_core::Instant(5), ip).unwrap();
        assert_eq!(table.remote(conn), ip);
        assert_eq!(table.auth(conn).len(), 1);
        assert_eq!(table.iter().next().map(|(_, _, _, s)| s.last_op().to_string()), Some("NA".to_string()));
    }
}
