//! Snapshots: the whole replicated state as a stream of postcard records, written from a
//! consistent state and read back at start-up before the log is replayed.
//!
//! Order: one `Header`, every `Session`, then every `Node` in preorder (parents first), so a
//! node's parent always exists when it is restored.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::session::PASSWORD_BYTES;
use crate::time::Now;
use crate::tree::{split_parent, StatPersisted, TreeError};
use crate::zxid::Zxid;

use super::Server;

/// Version of the snapshot record encoding.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 1;

/// One snapshot record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotRecord<'a> {
    /// First record: what the snapshot covers.
    Header {
        /// [`SNAPSHOT_FORMAT_VERSION`].
        format: u8,
        /// Last txn included.
        zxid: Zxid,
        /// Node records that follow.
        znodes: u32,
        /// Session records that follow.
        sessions: u32,
    },
    /// A live session.
    Session {
        /// Its id.
        id: SessionId,
        /// Negotiated timeout.
        timeout_ms: u32,
        /// Its password.
        password: [u8; PASSWORD_BYTES],
    },
    /// A znode.
    Node {
        /// Full path.
        path: &'a [u8],
        /// Data.
        data: Option<&'a [u8]>,
        /// ACL list, jute-encoded.
        #[serde(borrow)]
        acl: &'a [u8],
        /// Every persisted Stat field.
        stat: StatPersisted,
    },
}

/// Why a snapshot could not be written or read.
#[derive(Debug)]
pub enum SnapshotError<E> {
    /// The sink failed.
    Sink(E),
    /// A record did not fit the scratch buffer.
    RecordTooLarge,
    /// A record did not decode.
    BadRecord,
    /// A record arrived out of order (a node before its parent, no header first…).
    OutOfOrder,
    /// The tree or session table is too small for the snapshot.
    Full(&'static str),
}

impl<E: core::fmt::Display> core::fmt::Display for SnapshotError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnapshotError::Sink(e) => write!(f, "{e}"),
            SnapshotError::RecordTooLarge => f.write_str("snapshot record larger than the scratch buffer"),
            SnapshotError::BadRecord => f.write_str("snapshot record does not decode"),
            SnapshotError::OutOfOrder => f.write_str("snapshot records out of order"),
            SnapshotError::Full(what) => write!(f, "snapshot does not fit: {what}"),
        }
    }
}

impl Server<'_> {
    /// Streams the current state to `sink`, one encoded record per call, using `scratch`
    /// (at least twice `packet_bytes_max`) to encode. Returns the zxid it covers.
    pub fn write_snapshot<E>(
        &self,
        scratch: &mut [u8],
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Zxid, SnapshotError<E>> {
        let zxid = self.db.last_zxid;
        let header = SnapshotRecord::Header {
            format: SNAPSHOT_FORMAT_VERSION,
            zxid,
            znodes: self.db.tree.znode_count(),
            sessions: self.db.sessions.len(),
        };
        let rec = postcard::to_slice(&header, scratch).map_err(|_| SnapshotError::RecordTooLarge)?;
        sink(rec).map_err(SnapshotError::Sink)?;
        for (r, id, timeout_ms) in self.db.sessions.iter() {
            let password = self.db.sessions.password(r);
            let rec = SnapshotRecord::Session { id, timeout_ms, password };
            let bytes = postcard::to_slice(&rec, scratch).map_err(|_| SnapshotError::RecordTooLarge)?;
            sink(bytes).map_err(SnapshotError::Sink)?;
        }
        let tree = &self.db.tree;
        for node in tree.preorder() {
            let path_len = tree.path_len(node);
            let (path_buf, rec_buf) = scratch.split_at_mut(path_len.min(scratch.len()));
            let path = tree.write_path(node, path_buf).ok_or(SnapshotError::RecordTooLarge)?;
            let rec = SnapshotRecord::Node {
                path,
                data: tree.data(node),
                acl: tree.node_acl(node),
                stat: tree.stat_persisted(node),
            };
            let bytes = postcard::to_slice(&rec, rec_buf).map_err(|_| SnapshotError::RecordTooLarge)?;
            sink(bytes).map_err(SnapshotError::Sink)?;
        }
        Ok(zxid)
    }

    /// Restores one snapshot record at start-up, in the order [`Server::write_snapshot`]
    /// wrote them.
    pub fn restore_snapshot_record(&mut self, now: Now, record: &[u8]) -> Result<(), SnapshotError<core::convert::Infallible>> {
        let rec: SnapshotRecord<'_> = postcard::from_bytes(record).map_err(|_| SnapshotError::BadRecord)?;
        match rec {
            SnapshotRecord::Header { format, zxid, .. } => {
                if format != SNAPSHOT_FORMAT_VERSION {
                    return Err(SnapshotError::BadRecord);
                }
                self.db.last_zxid = zxid;
                self.durable = zxid;
            }
            SnapshotRecord::Session { id, timeout_ms, password } => {
                self.db
                    .sessions
                    .insert(now.instant, id, password, timeout_ms)
                    .map_err(|_| SnapshotError::Full("sessions (herd.sessionsMax)"))?;
            }
            SnapshotRecord::Node { path, data, acl, stat } => {
                let tree = &mut self.db.tree;
                let (parent, name) = match split_parent(path) {
                    _ if path == b"/" => (None, &b""[..]),
                    None => return Err(SnapshotError::OutOfOrder),
                    Some((parent_path, name)) => (Some(tree.lookup(parent_path).ok_or(SnapshotError::OutOfOrder)?), name),
                };
                tree.restore(parent, name, data, acl, &stat).map_err(|e| match e {
                    TreeError::NodesFull => SnapshotError::Full("znodes (herd.znodesMax)"),
                    TreeError::BytesFull | TreeError::TooLarge => SnapshotError::Full("data bytes (herd.dataBytesMax)"),
                    TreeError::AclsFull => SnapshotError::Full("ACL lists (herd.aclListsMax)"),
                    TreeError::SessionsFull => SnapshotError::Full("sessions (herd.sessionsMax)"),
                    _ => SnapshotError::OutOfOrder,
                })?;
            }
        }
        Ok(())
    }
}
