//! Client connections as the core sees them: handshake state, session binding, auth ids and
//! the counters `cons`/`stat` report.

use core::net::IpAddr;

use crate::acl::{AuthId, AuthIds};
use crate::ids::ConnId;
use crate::session::SessionRef;
use crate::time::Instant;

/// Most ids one connection can hold (its `ip` id plus what `addauth` adds). ZooKeeper has no
/// bound; each id is held inline (about 260 bytes), so this sizes every connection slot.
pub const AUTH_IDS_PER_CONNECTION_MAX: usize = 16;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Slot unused.
    Free,
    /// Open, waiting for the ConnectRequest.
    Handshake,
    /// Bound to a session.
    Established(SessionRef),
    /// The core asked the shell to close it; further frames are ignored.
    Closing,
}

/// Per-connection counters for 4lw `cons`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Frames received.
    pub received: u64,
    /// Frames sent.
    pub sent: u64,
    /// When the connection opened.
    pub established_at: Instant,
    /// Opcode name of the last request (ZooKeeper's 4-letter abbreviation).
    pub last_op: &'static str,
    /// Xid of the last request.
    pub last_cxid: i32,
    /// Zxid in the last reply.
    pub last_zxid: i64,
    /// When the last reply was produced.
    pub last_response: Instant,
}

/// One connection slot.
#[derive(Clone)]
pub struct ConnSlot {
    state: ConnState,
    remote: IpAddr,
    auth: AuthIds<AUTH_IDS_PER_CONNECTION_MAX>,
    /// Counters for 4lw.
    pub stats: ConnStats,
}

impl ConnSlot {
    /// An unused slot.
    pub const EMPTY: ConnSlot = ConnSlot {
        state: ConnState::Free,
        remote: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        auth: AuthIds::EMPTY,
        stats: ConnStats {
            received: 0,
            sent: 0,
            established_at: Instant(0),
            last_op: "NA",
            last_cxid: 0,
            last_zxid: 0,
            last_response: Instant(0),
        },
    };
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionRefused {
    /// Every slot is taken (`herd.connectionsMax`).
    TableFull,
    /// This address has `maxClientCnxns` connections already.
    PerIpLimit,
}

/// Bounded table of open connections; a [`ConnId`] is the slot index.
pub struct ConnTable<'s> {
    slots: &'s mut [ConnSlot],
    open: u32,
    per_ip_max: u32,
}

impl<'s> ConnTable<'s> {
    /// A table over `slots` (all [`ConnSlot::EMPTY`]); `per_ip_max` 0 means unlimited.
    pub fn new(slots: &'s mut [ConnSlot], per_ip_max: u32) -> Self {
        ConnTable { slots, open: 0, per_ip_max }
    }

    /// Number of open connections.
    pub fn open_count(&self) -> u32 {
        self.open
    }

    /// Takes a slot for a new connection from `remote`.
    pub fn open(&mut self, now: Instant, remote: IpAddr) -> Result<ConnId, ConnectionRefused> {
        if self.per_ip_max > 0 {
            let same = self.slots.iter().filter(|s| s.state != ConnState::Free && s.remote == remote).count();
            if same >= self.per_ip_max as usize {
                return Err(ConnectionRefused::PerIpLimit);
            }
        }
        let i = self.slots.iter().position(|s| s.state == ConnState::Free).ok_or(ConnectionRefused::TableFull)?;
        let slot = &mut self.slots[i];
        *slot = ConnSlot::EMPTY;
        slot.state = ConnState::Handshake;
        slot.remote = remote;
        slot.auth = AuthIds::new(remote);
        slot.stats.established_at = now;
        self.open += 1;
        Ok(ConnId(i as u32))
    }

    /// Frees the slot of a connection the shell has closed.
    pub fn free(&mut self, conn: ConnId) {
        if let Some(s) = self.slots.get_mut(conn.0 as usize) {
            if s.state != ConnState::Free {
                *s = ConnSlot::EMPTY;
                self.open -= 1;
            }
        }
    }

    /// The connection's state (`Free` for an unknown id).
    pub fn state(&self, conn: ConnId) -> ConnState {
        self.slots.get(conn.0 as usize).map_or(ConnState::Free, |s| s.state)
    }

    /// Sets the connection's state (no-op for a free slot).
    pub fn set_state(&mut self, conn: ConnId, state: ConnState) {
        if let Some(s) = self.slots.get_mut(conn.0 as usize).filter(|s| s.state != ConnState::Free) {
            s.state = state;
        }
    }

    /// The peer address.
    pub fn remote(&self, conn: ConnId) -> IpAddr {
        self.slots.get(conn.0 as usize).map_or(ConnSlot::EMPTY.remote, |s| s.remote)
    }

    /// The connection's auth ids (empty for an unknown id).
    pub fn auth(&self, conn: ConnId) -> &[AuthId] {
        self.slots.get(conn.0 as usize).map_or(&[], |s| s.auth.as_slice())
    }

    /// The connection's auth ids, to add to.
    pub fn auth_mut(&mut self, conn: ConnId) -> Option<&mut AuthIds<AUTH_IDS_PER_CONNECTION_MAX>> {
        self.slots.get_mut(conn.0 as usize).map(|s| &mut s.auth)
    }

    /// The connection's counters.
    pub fn stats_mut(&mut self, conn: ConnId) -> Option<&mut ConnStats> {
        self.slots.get_mut(conn.0 as usize).map(|s| &mut s.stats)
    }

    /// Every open connection with its state and counters.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, ConnState, IpAddr, &ConnStats)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state != ConnState::Free)
            .map(|(i, s)| (ConnId(i as u32), s.state, s.remote, &s.stats))
    }
}
