//! Transactions: the replicated, logged unit of change.
//!
//! A write request is validated against the tree, turned into a [`Txn`] and applied; the txn
//! is what the log stores and what recovery replays (and what ZAB will replicate). Applying a
//! txn is deterministic: the same txns on the same tree give the same tree. Records are
//! postcard-encoded; byte fields borrow from the record buffer, so decoding allocates nothing.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::session::PASSWORD_BYTES;
use crate::zxid::Zxid;

/// Version of the txn record encoding, bumped on any incompatible change.
pub const TXN_FORMAT_VERSION: u8 = 1;

/// One transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn<'a> {
    /// Its position in the global order.
    pub zxid: Zxid,
    /// The leader's wall clock when it was created: ctime/mtime of what it touches.
    pub time_ms: i64,
    /// The session that issued it (the owner of ephemerals it creates).
    pub session: SessionId,
    /// What it does.
    #[serde(borrow)]
    pub op: TxnOp<'a>,
}

/// How a created znode lives and dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateKind {
    /// Lives until deleted.
    Persistent,
    /// Deleted when the creating session ends.
    Ephemeral,
    /// Deleted by the server once it has had children and has none left.
    Container,
    /// Deleted by the server once childless and unmodified for this many ms.
    Ttl(u64),
}

/// The change a txn makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp<'a> {
    /// A session was established.
    CreateSession {
        /// Negotiated timeout.
        timeout_ms: u32,
        /// The secret a reconnect must present.
        password: [u8; PASSWORD_BYTES],
    },
    /// The session ended (closeSession or expiry): its ephemerals go with it.
    CloseSession,
    /// A znode was created at `path` (the final path, sequential suffix included).
    Create {
        /// Full path.
        path: &'a [u8],
        /// Initial data; `None` is jute's null buffer.
        data: Option<&'a [u8]>,
        /// The ACL list in jute encoding, after `auth` expansion.
        acl: &'a [u8],
        /// Lifetime.
        kind: CreateKind,
    },
    /// A znode was deleted.
    Delete {
        /// Full path.
        path: &'a [u8],
    },
    /// A znode's data was replaced.
    SetData {
        /// Full path.
        path: &'a [u8],
        /// New data.
        data: Option<&'a [u8]>,
    },
    /// A znode's ACL was replaced.
    SetAcl {
        /// Full path.
        path: &'a [u8],
        /// The ACL list in jute encoding.
        acl: &'a [u8],
    },
    /// A write that failed validation: it changes nothing but, as in ZooKeeper, takes a zxid
    /// in the order of writes, and its error reply carries that zxid.
    Error {
        /// The ZooKeeper error code the client got.
        code: i32,
    },
    /// Several changes applied atomically: `count` postcard-encoded [`TxnOp`]s back to back,
    /// none of them a session or multi op.
    Multi {
        /// Number of ops in `ops`.
        count: u32,
        /// The encoded ops.
        ops: &'a [u8],
    },
}

/// A txn record that could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRecord;

impl<'a> Txn<'a> {
    /// Encodes into `buf`, returning the used prefix, or `None` if it does not fit.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Option<&'b mut [u8]> {
        postcard::to_slice(self, buf).ok()
    }

    /// Decodes a record produced by [`Txn::encode`].
    pub fn decode(bytes: &'a [u8]) -> Result<Txn<'a>, BadRecord> {
        postcard::from_bytes(bytes).map_err(|_| BadRecord)
    }
}

/// Iterates the ops packed in a [`TxnOp::Multi`]; yields an error once if the bytes are bad.
pub fn multi_ops(count: u32, mut ops: &[u8]) -> impl Iterator<Item = Result<TxnOp<'_>, BadRecord>> {
    let mut left = count;
    core::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        left -= 1;
        match postcard::take_from_bytes::<TxnOp<'_>>(ops) {
            Ok((op, rest)) => {
                ops = rest;
                Some(Ok(op))
            }
            Err(_) => {
                left = 0;
                Some(Err(BadRecord))
            }
        }
    })
}

/// Appends one op to a multi's op buffer at `*len`, returning false if it does not fit.
pub fn push_multi_op(op: &TxnOp<'_>, buf: &mut [u8], len: &mut usize) -> bool {
    let Some(rest) = buf.get_mut(*len..) else { return false };
    match postcard::to_slice(op, rest) {
        Ok(used) => {
            *len += used.len();
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let txn = Txn {
            zxid: Zxid::new(1, 5),
            time_ms: 1234,
            session: SessionId(99),
            op: TxnOp::Create { path: b"/a", data: Some(b"x"), acl: b"\0\0\0\0", kind: CreateKind::Ttl(500) },
        };
        let mut buf = [0u8; 128];
        let n = txn.encode(&mut buf).unwrap().len();
        assert_eq!(Txn::decode(&buf[..n]), Ok(txn));
        assert_eq!(Txn::decode(&buf[..n - 1]), Err(BadRecord));
    }

    #[test]
    fn multi_packing() {
        let mut buf = [0u8; 64];
        let mut len = 0;
        assert!(push_multi_op(&TxnOp::Delete { path: b"/a" }, &mut buf, &mut len));
        assert!(push_multi_op(&TxnOp::SetData { path: b"/b", data: None }, &mut buf, &mut len));
        let ops: [_; 2] = {
            let mut it = multi_ops(2, &buf[..len]);
            [it.next().unwrap().unwrap(), it.next().unwrap().unwrap()]
        };
        assert_eq!(ops[0], TxnOp::Delete { path: b"/a" });
        assert_eq!(ops[1], TxnOp::SetData { path: b"/b", data: None });
        let mut bad = multi_ops(3, &buf[..len]);
        assert!(bad.next().unwrap().is_ok());
        assert!(bad.next().unwrap().is_ok());
        assert_eq!(bad.next(), Some(Err(BadRecord)));
        assert_eq!(bad.next(), None);
    }
}
