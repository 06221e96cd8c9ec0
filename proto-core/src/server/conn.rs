//! Client connections as the core sees them: handshake state, session binding, auth ids and
//! the counters `cons`/`stat` report.

use core::net::IpAddr;

use crate::acl::{AuthId, AuthIds};
use crate::ids::{ConnId, SessionId};
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
    /// A follower asked the leader to create this session; the connect response waits for
    /// the leader's answer.
    Joining(SessionId),
}

/// Per-connection counters for 4lw `cons`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ConnStats {
    /// Frames received.
    pub received: u64,
    /// Frames sent.
    pub sent: u64,
    /// When the connection opened.
    pub established_at: Instant,
    /// Xid of the last request.
    pub last_cxid: i32,
    /// Zxid in the last reply.
    pub last_zxid: i64,
    /// When the last reply was produced.
    pub last_response: Instant,
    /// ZooKeeper's 4-letter name of the last op, ASCII; all zero before any.
    last_op: [u8; 4],
}

impl ConnStats {
    /// ZooKeeper's abbreviation of the last op (`lop=` in `cons`), `NA` before any.
    pub fn last_op(&self) -> &str {
        match core::str::from_utf8(&self.last_op) {
            Ok(s) if self.last_op != [0; 4] => s.trim_end_matches('\0'),
            _ => "NA",
        }
    }

    /// Records the last op's abbreviation (at most 4 ASCII bytes are kept).
    pub fn set_last_op(&mut self, name: &str) {
        let mut op = [0u8; 4];
        for (dst, src) in op.iter_mut().zip(name.bytes()) {
            *dst = src;
        }
        self.last_op = op;
    }
}

/// Slot states, as stored.
const FREE: u8 = 0;
const HANDSHAKE: u8 = 1;
const ESTABLISHED: u8 = 2;
const CLOSING: u8 = 3;
const JOINING: u8 = 4;

/// What an ensemble connection is waiting for before it may run more requests: replies
/// leave in request order, so a request that cannot be answered yet holds back the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Pending {
    /// Requests handed to the leader (writes, session create/close) not yet answered.
    pub forwarded: u32,
    /// A sync waits for the leader's quorum round.
    pub sync: bool,
    /// The client asked to close its session: close once the leader answered.
    pub close_after_reply: bool,
    /// `read_only` of a joining connection's ConnectRequest: 0 absent, 1 present.
    pub read_only_field: u8,
}
/// One connection slot: integers only, and all-zero bytes is a free slot, so the shell can
/// hand in zeroed memory that costs nothing until a connection uses it.
#[derive(Clone)]
#[repr(C)]
pub struct ConnSlot {
    auth: AuthIds<AUTH_IDS_PER_CONNECTION_MAX>,
    /// Counters for 4lw.
    pub stats: ConnStats,
    /// The session of an established connection.
    session: SessionRef,
    /// The peer address: IPv4 in the first 4 bytes or IPv6 in all 16, per `remote_v6`.
    remote: [u8; 16],
    remote_v6: bool,
    state: u8,
    /// The session id of a joining or established connection.
    session_id: SessionId,
    /// What the connection waits for (ensemble modes).
    pub pending: Pending,
}

impl ConnSlot {
    /// An unused slot (all zero).
    pub const EMPTY: ConnSlot = ConnSlot {
        auth: AuthIds::EMPTY,
        stats: ConnStats {
            received: 0,
            sent: 0,
            established_at: Instant(0),
            last_cxid: 0,
            last_zxid: 0,
            last_response: Instant(0),
            last_op: [0; 4],
        },
        session: SessionRef::NONE,
        remote: [0; 16],
        remote_v6: false,
        state: FREE,
        session_id: SessionId(0),
        pending: Pending { forwarded: 0, sync: false, close_after_reply: false, read_only_field: 0 },
    };

    fn state(&self) -> ConnState {
        match self.state {
            HANDSHAKE => ConnState::Handshake,
            ESTABLISHED => ConnState::Established(self.session),
            CLOSING => ConnState::Closing,
            JOINING => ConnState::Joining(self.session_id),
            _ => ConnState::Free,
        }
    }

    fn set_state(&mut self, state: ConnState) {
        (self.state, self.session) = match state {
            ConnState::Free => (FREE, SessionRef::NONE),
            ConnState::Handshake => (HANDSHAKE, SessionRef::NONE),
            ConnState::Established(r) => (ESTABLISHED, r),
            ConnState::Closing => (CLOSING, self.session),
            ConnState::Joining(id) => {
                self.session_id = id;
                (JOINING, SessionRef::NONE)
            }
        };
    }

    fn remote(&self) -> IpAddr {
        if self.remote_v6 {
            IpAddr::V6(core::net::Ipv6Addr::from(self.remote))
        } else {
            let [a, b, c, d, ..] = self.remote;
            IpAddr::V4(core::net::Ipv4Addr::new(a, b, c, d))
        }
    }

    fn set_remote(&mut self, ip: IpAddr) {
        self.remote = [0; 16];
        match ip {
            IpAddr::V4(v4) => {
                self.remote[..4].copy_from_slice(&v4.octets());
                self.remote_v6 = false;
            }
            IpAddr::V6(v6) => {
                self.remote = v6.octets();
                self.remote_v6 = true;
            }
        }
    }
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
    /// Slots ever used (they fill from the front): scans stop here, so untouched slots of a
    /// large, lazily-mapped table are never read.
    used: usize,
    open: u32,
    per_ip_max: u32,
}

impl<'s> ConnTable<'s> {
    /// A table over `slots` (all [`ConnSlot::EMPTY`]); `per_ip_max` 0 means unlimited.
    pub fn new(slots: &'s mut [ConnSlot], per_ip_max: u32) -> Self {
        ConnTable { slots, used: 0, open: 0, per_ip_max }
    }

    fn live_slots(&self) -> impl Iterator<Item = &ConnSlot> + '_ {
        self.slots.iter().take(self.used)
    }

    /// 4lw `crst`: every connection's counters start again; last cxid/zxid read "none" (−1).
    pub fn reset_stats(&mut self) {
        for slot in self.slots.iter_mut().take(self.used).filter(|s| s.state != FREE) {
            let established_at = slot.stats.established_at;
            slot.stats = ConnStats { established_at, last_cxid: -1, last_zxid: -1, ..ConnStats::default() };
        }
    }

    /// Number of open connections.
    pub fn open_count(&self) -> u32 {
        self.open
    }

    /// Takes a slot for a new connection from `remote`.
    pub fn open(&mut self, now: Instant, remote: IpAddr) -> Result<ConnId, ConnectionRefused> {
        if self.per_ip_max > 0 {
            let same = self.live_slots().filter(|s| s.state != FREE && s.remote() == remote).count();
            if same >= self.per_ip_max as usize {
                return Err(ConnectionRefused::PerIpLimit);
            }
        }
        let i = self.live_slots().position(|s| s.state == FREE).unwrap_or(self.used);
        let slot = self.slots.get_mut(i).ok_or(ConnectionRefused::TableFull)?;
        self.used = self.used.max(i + 1);
        *slot = ConnSlot::EMPTY;
        slot.set_state(ConnState::Handshake);
        slot.set_remote(remote);
        slot.auth = AuthIds::new(remote);
        slot.stats.established_at = now;
        self.open += 1;
        Ok(ConnId(i as u32))
    }

    /// Takes a slot for a request a follower forwarded (a leader runs it as if it came from
    /// a connection of its own, with the follower connection's auth ids). Per-address limits
    /// do not apply: the slot lives only while the request runs.
    pub fn open_proxy(&mut self, now: Instant, remote: IpAddr) -> Result<ConnId, ConnectionRefused> {
        let per_ip_max = core::mem::replace(&mut self.per_ip_max, 0);
        let opened = self.open(now, remote);
        self.per_ip_max = per_ip_max;
        opened
    }

    /// Frees the slot of a connection the shell has closed.
    pub fn free(&mut self, conn: ConnId) {
        if let Some(s) = self.slots.get_mut(conn.0 as usize) {
            if s.state != FREE {
                *s = ConnSlot::EMPTY;
                self.open -= 1;
            }
        }
    }

    /// The connection's state (`Free` for an unknown id).
    pub fn state(&self, conn: ConnId) -> ConnState {
        self.slots.get(conn.0 as usize).map_or(ConnState::Free, ConnSlot::state)
    }

    /// Sets the connection's state (no-op for a free slot).
    pub fn set_state(&mut self, conn: ConnId, state: ConnState) {
        if let Some(s) = self.slots.get_mut(conn.0 as usize).filter(|s| s.state != FREE) {
            s.set_state(state);
        }
    }

    /// The peer address.
    pub fn remote(&self, conn: ConnId) -> IpAddr {
        self.slots.get(conn.0 as usize).map_or(ConnSlot::EMPTY.remote(), ConnSlot::remote)
    }

    /// The connection's auth ids (empty for an unknown id).
    pub fn auth(&self, conn: ConnId) -> &[AuthId] {
        self.slots.get(conn.0 as usize).map_or(&[], |s| s.auth.as_slice())
    }

    /// The connection's auth ids, to add to.
    pub fn auth_mut(&mut self, conn: ConnId) -> Option<&mut AuthIds<AUTH_IDS_PER_CONNECTION_MAX>> {
        self.slots.get_mut(conn.0 as usize).map(|s| &mut s.auth)
    }

    /// What the connection waits for.
    pub fn pending(&self, conn: ConnId) -> Pending {
        self.slots.get(conn.0 as usize).map_or(Pending::default(), |s| s.pending)
    }

    /// What the connection waits for, to change (`None` for a free slot).
    pub fn pending_mut(&mut self, conn: ConnId) -> Option<&mut Pending> {
        self.slots.get_mut(conn.0 as usize).filter(|s| s.state != FREE).map(|s| &mut s.pending)
    }

    /// Records the session id an established connection is bound to (for finding it after
    /// the session itself is gone, as a follower must when the leader answers a close).
    pub fn set_session_id(&mut self, conn: ConnId, id: SessionId) {
        if let Some(s) = self.slots.get_mut(conn.0 as usize).filter(|s| s.state != FREE) {
            s.session_id = id;
        }
    }

    /// The open connection bound to (or joining as) session `id`, by scan.
    pub fn find_session(&self, id: SessionId) -> Option<ConnId> {
        self.live_slots()
            .position(|s| matches!(s.state, ESTABLISHED | JOINING | CLOSING) && s.session_id == id)
            .map(|i| ConnId(i as u32))
    }

    /// Open connections with something pending, by scan.
    pub fn waiting(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.live_slots()
            .enumerate()
            .filter(|(_, s)| s.state != FREE && s.pending != Pending::default())
            .map(|(i, _)| ConnId(i as u32))
    }

    /// The connection's counters.
    pub fn stats_mut(&mut self, conn: ConnId) -> Option<&mut ConnStats> {
        self.slots.get_mut(conn.0 as usize).map(|s| &mut s.stats)
    }

    /// Every open connection with its state and counters.
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, ConnState, IpAddr, &ConnStats)> + '_ {
        self.live_slots()
            .enumerate()
            .filter(|(_, s)| s.state != FREE)
            .map(|(i, s)| (ConnId(i as u32), s.state(), s.remote(), &s.stats))
    }
}
