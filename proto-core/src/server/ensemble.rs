//! The server's part in an ensemble: what a follower forwards and how it applies what the
//! leader committed, and how a leader runs what followers forwarded.
//!
//! The leader is a standalone server whose records are proposals: it validates and applies
//! every write at once (its own clients' and the ones followers forward, in the order they
//! reach it) and tags what they reveal with their zxid, so its shell releases a frame once
//! that zxid is committed rather than durable. Should the leadership end with proposals
//! uncommitted, the shell rebuilds the tree from disk before the next role, as ZooKeeper
//! reloads its database.
//!
//! A follower serves reads from its tree, which changes only by committed txns. Writes,
//! session creation and close go to the leader as the client's frame; the leader's answer
//! comes back as the reply frame it built, after the COMMIT that made it true, so the
//! follower has applied the write (and sent its watch events) by the time the reply goes
//! out. Replies leave in request order: while a connection waits for the leader, its later
//! reads wait too ([`super::FrameOutcome::Deferred`]).

use core::net::IpAddr;

use super::{ConnState, Effects, Mode, NoEvents, Note, Notifier, Server};
use crate::acl::{AuthId, AuthIds, Scheme};
use crate::ids::{ConnId, SessionId, Xid};
use crate::jute::{self, ErrorCode, OpCode};
use crate::server::conn::AUTH_IDS_PER_CONNECTION_MAX;
use crate::server::db::ApplyError;
use crate::session::{SessionRef, PASSWORD_BYTES};
use crate::time::Now;
use crate::txn::{Txn, TxnOp};
use crate::zxid::Zxid;

/// Bytes [`encode_auth`] may need: per id a scheme byte, a 2-byte length and the id.
pub const AUTH_ENCODED_BYTES_MAX: usize = AUTH_IDS_PER_CONNECTION_MAX * (3 + crate::acl::AUTH_ID_BYTES_MAX);

/// Bytes of the request a follower builds for a new session: header, timeout, password.
const JOIN_FRAME_BYTES: usize = 8 + 4 + PASSWORD_BYTES;

/// Where a client frame goes in an ensemble.
pub(super) enum Route {
    /// Run here.
    Local,
    /// Hand to the leader.
    Forward,
    /// Wait: an earlier request of the connection is unanswered.
    Defer,
}

/// Writes a connection's auth ids for a forwarded request: `[scheme u8][len u16 BE][id]`
/// per id. Returns the bytes used, or `None` if `out` is too small.
pub fn encode_auth<'o>(ids: &[AuthId], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut at = 0usize;
    for id in ids {
        let bytes = id.id();
        let len = u16::try_from(bytes.len()).ok()?;
        let end = at.checked_add(3 + bytes.len())?;
        let dst = out.get_mut(at..end)?;
        dst[0] = id.scheme() as u8;
        dst[1..3].copy_from_slice(&len.to_be_bytes());
        dst[3..].copy_from_slice(bytes);
        at = end;
    }
    out.get(..at)
}

/// Reads what [`encode_auth`] wrote; `None` for bytes that are not such a list (a peer
/// sending them is not to be trusted) or hold more ids than a connection may.
pub fn decode_auth(mut bytes: &[u8]) -> Option<AuthIds<AUTH_IDS_PER_CONNECTION_MAX>> {
    let mut ids = AuthIds::EMPTY;
    while let Some((&scheme, rest)) = bytes.split_first() {
        let scheme = match scheme {
            0 => Scheme::World,
            1 => Scheme::Auth,
            2 => Scheme::Digest,
            3 => Scheme::Ip,
            4 => Scheme::Super,
            _ => return None,
        };
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let id = rest.get(..len)?;
        ids.add(AuthId::new(scheme, id).ok()?).ok()?;
        bytes = rest.get(len..)?;
    }
    Some(ids)
}

/// The xid of a request frame (length prefix removed), read without decoding the body;
/// `None` for a frame too short to hold it.
pub fn request_xid(frame: &[u8]) -> Option<Xid> {
    frame.get(..4).and_then(|b| b.try_into().ok()).map(|b| Xid(i32::from_be_bytes(b)))
}

/// The opcode of a request frame (length prefix removed), read without decoding the body;
/// `None` for a frame too short to hold it.
pub fn request_opcode(frame: &[u8]) -> Option<i32> {
    frame.get(4..8).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes)
}

impl<'s> Server<'s> {
    /// Sets how this replica takes part. Switching to [`Mode::Leading`] also restarts every
    /// session's expiry clock, as a new leader's session tracker does.
    pub fn set_mode(&mut self, now: Now, mode: Mode) {
        if mode == Mode::Leading && self.mode != Mode::Leading {
            self.db.sessions.touch_all(now.instant);
        }
        self.mode = mode;
    }

    /// A new leader's zxids start at `epoch:0`; the next write takes `epoch:1`.
    pub fn begin_epoch(&mut self, epoch: u32) {
        let start = Zxid::new(epoch, 0);
        if start > self.db.last_zxid {
            self.db.last_zxid = start;
        }
    }

    pub(super) fn route(&self, conn: ConnId, frame: &[u8]) -> Route {
        let pending = self.conns.pending(conn);
        if pending.sync {
            return Route::Defer;
        }
        // A frame too short for a header is refused by the local path.
        let Some(op) = request_opcode(frame).map(OpCode::from_code) else { return Route::Local };
        let forward = self.mode == Mode::Following && op.is_write();
        match (forward, pending.forwarded) {
            (true, _) => Route::Forward,
            (false, 0) => Route::Local,
            (false, _) => Route::Defer,
        }
    }

    /// Following: sends a client's write to the leader.
    pub(super) fn forward<F: Effects>(&mut self, now: Now, conn: ConnId, r: SessionRef, frame: &[u8], fx: &mut F) {
        let session = self.db.sessions.id(r);
        self.db.sessions.touch(now.instant, r);
        let close = request_opcode(frame) == Some(OpCode::CloseSession.code());
        if let Some(p) = self.conns.pending_mut(conn) {
            p.forwarded = p.forwarded.saturating_add(1);
            p.close_after_reply |= close;
        }
        if let (Some(s), Some(xid)) = (self.conns.stats_mut(conn), request_xid(frame)) {
            s.last_cxid = xid.0;
            s.last_response = now.instant;
        }
        fx.forward(conn, session, frame);
    }

    /// Following: a new session is the leader's to create. The id is drawn here (ids
    /// carry this server's id, so they never clash with another server's) and the leader is
    /// asked to log it; the connect response waits for its answer.
    pub(super) fn join_session<F: Effects>(
        &mut self,
        conn: ConnId,
        timeout_ms: u32,
        read_only: Option<bool>,
        fx: &mut F,
    ) {
        let id = self.ids.next_id();
        let password = self.password_for(id);
        let mut frame = [0u8; JOIN_FRAME_BYTES];
        frame[4..8].copy_from_slice(&OpCode::CreateSession.code().to_be_bytes());
        frame[8..12].copy_from_slice(&timeout_ms.to_be_bytes());
        frame[12..].copy_from_slice(&password);
        self.conns.set_state(conn, ConnState::Joining(id));
        if let Some(p) = self.conns.pending_mut(conn) {
            p.read_only_field = u8::from(read_only.is_some());
        }
        fx.forward(conn, id, &frame);
    }

    /// Leading: a slot to run a request a follower forwarded for `session`, with the auth
    /// ids of the follower's connection ([`encode_auth`] bytes). Run the request with
    /// [`Server::handle_forwarded`], then free the slot with [`Server::close_proxy`];
    /// everything sent to it meanwhile is the answer for the follower.
    pub fn open_proxy(&mut self, now: Now, remote: IpAddr, auth: &[u8]) -> Option<ConnId> {
        let ids = decode_auth(auth)?;
        let conn = self.conns.open_proxy(now.instant, remote).ok()?;
        if let Some(slot) = self.conns.auth_mut(conn) {
            *slot = ids;
        }
        Some(conn)
    }

    /// Leading: frees a slot taken by [`Server::open_proxy`].
    pub fn close_proxy(&mut self, conn: ConnId) {
        self.watches.remove_connection(conn);
        self.conns.free(conn);
    }

    /// Leading: runs `frame`, a request a follower forwarded for `session`, on the slot
    /// `proxy` ([`Server::open_proxy`]).
    pub fn handle_forwarded<F: Effects>(
        &mut self,
        now: Now,
        proxy: ConnId,
        session: SessionId,
        frame: &[u8],
        fx: &mut F,
    ) {
        let xid = request_xid(frame).unwrap_or(Xid(0));
        if request_opcode(frame) == Some(OpCode::CreateSession.code()) {
            return self.create_remote_session(now, proxy, session, frame, fx);
        }
        let last = self.db.last_zxid;
        let Some(r) = self.db.sessions.find(session) else {
            self.out.reply(fx, proxy, xid, last, ErrorCode::SessionExpired, &(), last);
            return;
        };
        self.conns.set_state(proxy, ConnState::Established(r));
        self.conns.set_session_id(proxy, session);
        self.count_received(proxy);
        self.handle_request(now, proxy, r, frame, fx);
    }

    /// Leading: logs a session a follower asked for; the answer is an empty reply whose
    /// error code says whether it exists now.
    fn create_remote_session<F: Effects>(&mut self, now: Now, proxy: ConnId, id: SessionId, frame: &[u8], fx: &mut F) {
        let last = self.db.last_zxid;
        let timeout = frame.get(8..12).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
        let password: Option<[u8; PASSWORD_BYTES]> = frame.get(12..).and_then(|b| b.try_into().ok());
        let (Some(timeout_ms), Some(password)) = (timeout, password) else {
            fx.note(Note::BadInput { conn: proxy, reason: &"forwarded createSession malformed" });
            self.out.reply(fx, proxy, Xid(0), last, ErrorCode::MarshallingError, &(), last);
            return;
        };
        if self.db.sessions.find(id).is_some() {
            // A retry of a create that succeeded: the session is there.
            self.out.reply(fx, proxy, Xid(0), last, ErrorCode::Ok, &(), last);
            return;
        }
        if self.db.sessions.len() >= self.limits.sessions_max {
            fx.note(Note::LimitHit { conn: proxy, what: "sessions (herd.sessionsMax)" });
            self.out.reply(fx, proxy, Xid(0), last, ErrorCode::QuotaExceeded, &(), last);
            return;
        }
        match self.commit(now, id, TxnOp::CreateSession { timeout_ms, password }, fx) {
            Ok(zxid) => self.out.reply(fx, proxy, Xid(0), zxid, ErrorCode::Ok, &(), zxid),
            Err(_) => {
                fx.note(Note::LimitHit { conn: proxy, what: "sessions" });
                self.out.reply(fx, proxy, Xid(0), last, ErrorCode::QuotaExceeded, &(), last)
            }
        }
    }

    /// Following: the leader answered a request of `session` with `frame` (a whole reply,
    /// length prefix included). Sent on once everything before it is applied, which it is:
    /// the leader sends the answer after the COMMIT of what it answers.
    pub fn handle_leader_reply<F: Effects>(&mut self, now: Now, session: SessionId, frame: &[u8], fx: &mut F) {
        let conn = self
            .db
            .sessions
            .find(session)
            .and_then(|r| self.db.sessions.conn(r))
            .or_else(|| self.conns.find_session(session));
        let Some(conn) = conn else { return };
        let last = self.db.last_zxid;
        match self.conns.state(conn) {
            ConnState::Joining(id) if id == session => self.joined(now, conn, id, frame, fx),
            ConnState::Established(_) | ConnState::Closing => {
                let mut close = false;
                if let Some(p) = self.conns.pending_mut(conn) {
                    p.forwarded = p.forwarded.saturating_sub(1);
                    close = p.close_after_reply && p.forwarded == 0;
                }
                if let Some(s) = self.conns.stats_mut(conn) {
                    s.last_zxid = last.as_wire();
                }
                fx.send(conn, frame, last);
                if close {
                    self.close_conn(conn, fx);
                }
            }
            _ => {}
        }
    }

    /// Following: the leader answered a joining connection's createSession.
    fn joined<F: Effects>(&mut self, now: Now, conn: ConnId, id: SessionId, frame: &[u8], fx: &mut F) {
        // Reply header after the length prefix: xid, zxid, err.
        let err = frame.get(16..20).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes);
        let found = self.db.sessions.find(id).filter(|_| err == Some(0));
        let Some(r) = found else {
            fx.note(Note::LimitHit { conn, what: "sessions (refused by the leader)" });
            return self.close_conn(conn, fx);
        };
        let read_only = (self.conns.pending(conn).read_only_field != 0).then_some(false);
        if let Some(p) = self.conns.pending_mut(conn) {
            p.read_only_field = 0;
        }
        let timeout_ms = self.db.sessions.timeout_ms(r);
        let last = self.db.last_zxid;
        self.establish(now, conn, r, timeout_ms, read_only, last, fx);
    }

    /// A sync on `conn` ([`Effects::sync`]) may be answered: everything committed before
    /// it started is applied here.
    pub fn answer_sync<F: Effects>(&mut self, conn: ConnId, xid: Xid, path: &[u8], fx: &mut F) {
        if let Some(p) = self.conns.pending_mut(conn) {
            p.sync = false;
        }
        if !matches!(self.conns.state(conn), ConnState::Established(_)) {
            return;
        }
        let last = self.db.last_zxid;
        let body = jute::PathRecord { path };
        self.out.reply(fx, conn, xid, last, ErrorCode::Ok, &body, last);
    }

    /// Following: applies a txn the leader committed (its postcard record), firing the
    /// watch events it triggers. A txn already in the tree (replayed from this server's
    /// own log at start) is skipped.
    pub fn apply_committed<F: Effects>(&mut self, now: Now, record: &[u8], fx: &mut F) -> Result<Zxid, ApplyError> {
        let txn = Txn::decode(record).map_err(|_| ApplyError::BadRecord)?;
        if txn.zxid <= self.db.last_zxid {
            return Ok(txn.zxid);
        }
        // A session the leader closed (expiry, or a close sent through another server)
        // loses its connection here; a close the client asked for here waits for its reply.
        let dropped = match txn.op {
            TxnOp::CloseSession => self
                .db
                .sessions
                .find(txn.session)
                .and_then(|r| self.db.sessions.conn(r))
                .filter(|&c| !self.conns.pending(c).close_after_reply),
            _ => None,
        };
        let mut sink = Notifier {
            watches: &mut self.watches,
            conns: &mut self.conns,
            out: &mut self.out,
            fx: &mut *fx,
            zxid: txn.zxid,
            stats: None,
        };
        self.db.apply(now.instant, &txn, &mut sink)?;
        self.stats.txns += 1;
        if let Some(c) = dropped {
            fx.note(Note::SessionExpired(txn.session));
            self.close_conn(c, fx);
        }
        Ok(txn.zxid)
    }

    /// Following: a txn of this server's own log, applied at start before the role knew
    /// what was committed (ZooKeeper loads its whole log too); same as [`Server::replay`].
    pub fn apply_logged(&mut self, now: Now, record: &[u8]) -> Result<Zxid, ApplyError> {
        let txn = Txn::decode(record).map_err(|_| ApplyError::BadRecord)?;
        if txn.zxid <= self.db.last_zxid {
            return Ok(txn.zxid);
        }
        self.db.apply(now.instant, &txn, &mut NoEvents)?;
        Ok(txn.zxid)
    }

    /// Leading: a follower's client kept `session` alive.
    pub fn touch_session(&mut self, now: Now, session: SessionId) {
        if let Some(r) = self.db.sessions.find(session) {
            self.db.sessions.touch(now.instant, r);
        }
    }

    /// Following: the sessions this server's clients hold, with their timeouts, for the
    /// leader to touch (a PING reply's list). A session whose client went silent past its
    /// timeout is left out, so the leader expires it.
    pub fn relayed_sessions(&self, now: Now) -> impl Iterator<Item = (SessionId, u32)> + '_ {
        self.db.sessions.iter().filter_map(move |(r, id, timeout_ms)| {
            let live = self.db.sessions.conn(r).is_some() && self.db.sessions.expires_at(r) > now.instant;
            live.then_some((id, timeout_ms))
        })
    }
}
