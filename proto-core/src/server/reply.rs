//! Encoding replies: the outgoing-frame scratch buffer and the reply bodies that are built
//! from live state (children, ephemerals, multi results) without copying it first.

use crate::acl::{self, AuthId, Perms};
use crate::ids::{ConnId, SessionId, Xid};
use crate::jute::{
    encode_notification, encode_reply, ConnectResponse, Encode, EncodeError, ErrorCode, EventType, FrameWriter,
    MultiOp, MultiRequest, MultiResult, ReplyHeader, StrList, Writer,
};
use crate::stat::Stat;
use crate::tree::{NodeId, Tree};
use crate::zxid::Zxid;

use super::{Effects, Note};

/// The scratch buffer every outgoing frame is encoded into.
pub struct Outbox<'s> {
    buf: &'s mut [u8],
}

impl<'s> Outbox<'s> {
    /// An outbox over `buf` (at least `packet_bytes_max` plus slack).
    pub fn new(buf: &'s mut [u8]) -> Self {
        Outbox { buf }
    }

    fn emit<F: Effects>(&mut self, fx: &mut F, conn: ConnId, encoded: Result<usize, EncodeError>, after: Zxid) {
        match encoded {
            Ok(n) => {
                fx.send(conn, self.buf.get(..n).unwrap_or(&[]), after);
            }
            Err(_) => {
                // A reply larger than the scratch (a huge children list): ZooKeeper would send
                // it and the client would drop the connection for exceeding jute.maxbuffer.
                fx.note(Note::LimitHit { conn, what: "reply larger than the frame buffer; closing" });
                fx.close(conn, after);
            }
        }
    }

    /// Sends a reply: header, then `body` only when `err` is Ok (clients read none on error).
    #[allow(clippy::too_many_arguments)]
    pub fn reply<F: Effects, B: Encode + ?Sized>(
        &mut self,
        fx: &mut F,
        conn: ConnId,
        xid: Xid,
        zxid: Zxid,
        err: ErrorCode,
        body: &B,
        after: Zxid,
    ) {
        let header = ReplyHeader { xid, zxid: zxid.as_wire(), err };
        let encoded = if err == ErrorCode::Ok {
            encode_reply(self.buf, &header, body)
        } else {
            encode_reply(self.buf, &header, &())
        };
        self.emit(fx, conn, encoded, after);
    }

    /// Sends a watch notification.
    pub fn notify<F: Effects>(&mut self, fx: &mut F, conn: ConnId, event: EventType, path: &[u8], after: Zxid) {
        let encoded = encode_notification(self.buf, event, path);
        self.emit(fx, conn, encoded, after);
    }

    /// Sends the handshake reply.
    pub fn connect_response<F: Effects>(&mut self, fx: &mut F, conn: ConnId, resp: &ConnectResponse<'_>, after: Zxid) {
        let encoded = (|| {
            let mut f = FrameWriter::new(self.buf)?;
            f.put(resp)?;
            f.finish()
        })();
        self.emit(fx, conn, encoded, after);
    }
}

/// getChildren / getChildren2 body, written straight from the tree.
pub struct Children<'a, 's> {
    /// The tree.
    pub tree: &'a Tree<'s>,
    /// Whose children.
    pub node: NodeId,
    /// The node's Stat, for getChildren2.
    pub stat: Option<Stat>,
}

fn write_str_vec<'x>(w: &mut Writer<'_>, items: impl Iterator<Item = &'x [u8]>) -> Result<(), EncodeError> {
    let slot = w.reserve_i32()?;
    let mut n: i32 = 0;
    for item in items {
        w.write_str(item)?;
        n = n.checked_add(1).ok_or(EncodeError::TooLong)?;
    }
    w.patch_i32(slot, n)
}

impl Encode for Children<'_, '_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_str_vec(w, self.tree.children(self.node).map(|(_, name)| name))?;
        match &self.stat {
            Some(stat) => stat.encode(w),
            None => Ok(()),
        }
    }
}

/// getACL body from an already-masked jute ACL list.
pub struct RawAclWithStat<'a> {
    /// `vector<ACL>` bytes.
    pub acl: &'a [u8],
    /// The node's Stat.
    pub stat: Stat,
}

impl Encode for RawAclWithStat<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_bytes(self.acl)?;
        self.stat.encode(w)
    }
}

/// getEphemerals body: the session's ephemeral paths that start with `prefix`.
pub struct Ephemerals<'a, 's> {
    /// The tree.
    pub tree: &'a Tree<'s>,
    /// Whose ephemerals.
    pub session: SessionId,
    /// Plain string prefix ("/a" matches "/ab"); empty matches all.
    pub prefix: &'a [u8],
}

impl Encode for Ephemerals<'_, '_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        // Each path is spelled straight into the output and taken back if it lacks the prefix.
        let slot = w.reserve_i32()?;
        let mut n: i32 = 0;
        for id in self.tree.ephemerals(self.session) {
            let len = self.tree.path_len(id);
            let start = w.position();
            let len_i32 = i32::try_from(len).map_err(|_| EncodeError::TooLong)?;
            w.write_i32(len_i32)?;
            let at = w.position();
            PathBytes { tree: self.tree, id }.write_into(w, len)?;
            let written = w.written().get(at..at + len).unwrap_or(&[]);
            if written.starts_with(self.prefix) {
                n = n.checked_add(1).ok_or(EncodeError::TooLong)?;
            } else {
                w.rewind(start);
            }
        }
        w.patch_i32(slot, n)
    }
}

/// Spells a node's path into a writer.
struct PathBytes<'a, 's> {
    tree: &'a Tree<'s>,
    id: NodeId,
}

impl PathBytes<'_, '_> {
    fn write_into(&self, w: &mut Writer<'_>, len: usize) -> Result<(), EncodeError> {
        let dst = w.reserve_bytes(len)?;
        match self.tree.write_path(self.id, dst) {
            Some(p) if p.len() == len => Ok(()),
            _ => Err(EncodeError::TooLong),
        }
    }
}

/// whoAmI body.
#[derive(Clone, Copy)]
pub struct WhoAmI<'a> {
    /// The connection's ids.
    pub ids: &'a [AuthId],
}

impl Encode for WhoAmI<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(i32::try_from(self.ids.len()).map_err(|_| EncodeError::TooLong)?)?;
        for id in self.ids {
            w.write_str(id.scheme().name().as_bytes())?;
            w.write_str(id.user())?;
        }
        Ok(())
    }
}

/// A multi's results, from an iterator.
pub struct MultiResults<I>(pub I);

impl<'a, I> Encode for MultiResults<I>
where
    I: Iterator<Item = MultiResult<'a, StrList<'a>>> + Clone,
{
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        for r in self.0.clone() {
            r.encode(w)?;
        }
        crate::jute::encode_multi_end(w)
    }
}

/// One result of a successful multi.
#[derive(Clone, Copy, Debug)]
pub enum MultiEntry<'a> {
    /// A create; `create2` picks the result type with Stat.
    Create {
        /// Final path.
        path: &'a [u8],
        /// New node's Stat.
        stat: Stat,
        /// Answer as create2 (type 15).
        create2: bool,
    },
    /// A delete.
    Delete,
    /// A setData with the new Stat.
    SetData(Stat),
    /// A check.
    Check,
    /// Should not happen; kept so a bug is an error result, not a panic.
    Error(ErrorCode),
}

impl<'a> MultiEntry<'a> {
    /// As the jute result.
    pub fn as_result(&self) -> MultiResult<'a, StrList<'a>> {
        match *self {
            MultiEntry::Create { path, stat, create2: true } => MultiResult::Create2 { path, stat },
            MultiEntry::Create { path, create2: false, .. } => MultiResult::Create { path },
            MultiEntry::Delete => MultiResult::Delete,
            MultiEntry::SetData(stat) => MultiResult::SetData { stat },
            MultiEntry::Check => MultiResult::Check,
            MultiEntry::Error(err) => MultiResult::Error { err },
        }
    }
}

type ReadResult<'a> = MultiResult<'a, StrList<'a>>;

/// multiRead body: each read evaluated while encoding.
pub struct MultiReads<'a, 's> {
    /// The tree.
    pub tree: &'a Tree<'s>,
    /// The caller's ids.
    pub ids: &'a [AuthId],
    /// The reads.
    pub req: MultiRequest<'a>,
}

impl Encode for MultiReads<'_, '_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        for op in self.req.iter() {
            let (path, children) = match op {
                MultiOp::GetData(q) => (q.path, false),
                MultiOp::GetChildren(q) => (q.path, true),
                _ => {
                    ReadResult::Error { err: ErrorCode::MarshallingError }.encode(w)?;
                    continue;
                }
            };
            let node = match self.tree.lookup(path) {
                None => Err(ErrorCode::NoNode),
                Some(id) if !acl::check(self.tree.node_acl(id), Perms::READ, self.ids) => Err(ErrorCode::NoAuth),
                Some(id) => Ok(id),
            };
            match node {
                Err(err) => ReadResult::Error { err }.encode(w)?,
                Ok(id) if children => {
                    // Result header (type 8, not done, err 0), then the list straight from the tree.
                    w.write_i32(8)?;
                    w.write_bool(false)?;
                    w.write_i32(0)?;
                    write_str_vec(w, self.tree.children(id).map(|(_, n)| n))?;
                }
                Ok(id) => ReadResult::GetData { data: self.tree.data(id), stat: self.tree.stat(id) }.encode(w)?,
            }
        }
        crate::jute::encode_multi_end(w)
    }
}
