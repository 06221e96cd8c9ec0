//! Snapshots: the whole replicated state as a stream of postcard records, written from a
//! consistent state and read back at start-up before the log is replayed.
//!
//! Order: one `Header`, every `Session`, then every `Node` in preorder (parents first), so a
//! node's parent always exists when it is restored.

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::session::PASSWORD_BYTES;
use crate::time::Now;
use crate::tree::{split_parent, NodeId, StatPersisted, TreeError, WARM_KEYS_MAX};
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
    /// wrote them. For a whole snapshot, [`SnapshotRestore`] does the same faster.
    pub fn restore_snapshot_record(
        &mut self,
        now: Now,
        record: &[u8],
    ) -> Result<(), SnapshotError<core::convert::Infallible>> {
        SnapshotRestore::new(self, now).record(record)
    }
}

/// Longest parent path a [`SnapshotRestore`] remembers; a record under a deeper parent
/// looks its parent up from the root, as a single [`Server::restore_snapshot_record`] does.
pub const RESTORE_CACHED_PATH_BYTES: usize = 256;

/// Records one [`SnapshotRestore::prefetch`] looks ahead at.
pub const RESTORE_PREFETCH_RECORDS: usize = WARM_KEYS_MAX;

/// Postcard's index of [`SnapshotRecord::Node`]: the read-ahead hint reads only the
/// variant and the path, which lead every node record.
const NODE_VARIANT: u32 = 2;

/// A path and the znode it names, as last resolved.
struct CachedPath {
    path: [u8; RESTORE_CACHED_PATH_BYTES],
    len: usize,
    /// `None` when empty, or when the last path offered was too long to keep.
    id: Option<NodeId>,
}

impl CachedPath {
    const EMPTY: CachedPath = CachedPath { path: [0; RESTORE_CACHED_PATH_BYTES], len: 0, id: None };

    fn get(&self, path: &[u8]) -> Option<NodeId> {
        let id = self.id?;
        (self.path.get(..self.len)? == path).then_some(id)
    }

    fn set(&mut self, path: &[u8], id: NodeId) {
        match self.path.get_mut(..path.len()) {
            Some(dst) => {
                dst.copy_from_slice(path);
                self.len = path.len();
                self.id = Some(id);
            }
            None => self.id = None,
        }
    }
}

/// Restores a whole snapshot, record by record, with the same effect as calling
/// [`Server::restore_snapshot_record`] on each, but without a lookup from the root per node.
///
/// Snapshot nodes come in preorder, so a node's parent is almost always the parent of the
/// node before it, or that node itself; both are remembered by path. The remembered ids
/// stay right because this value holds the server exclusively and restoring never
/// removes a znode (an overwrite keeps its id).
pub struct SnapshotRestore<'r, 's> {
    server: &'r mut Server<'s>,
    now: Now,
    /// The parent the last node record resolved.
    parent: CachedPath,
    /// The last node restored.
    last: CachedPath,
}

impl<'r, 's> SnapshotRestore<'r, 's> {
    /// Starts restoring into `server`; `now` stamps the restored sessions.
    pub fn new(server: &'r mut Server<'s>, now: Now) -> SnapshotRestore<'r, 's> {
        SnapshotRestore { server, now, parent: CachedPath::EMPTY, last: CachedPath::EMPTY }
    }

    /// The remembered id for `parent_path`, if any: the last parent, else the last node.
    fn cached(&self, parent_path: &[u8]) -> Option<NodeId> {
        self.parent.get(parent_path).or_else(|| self.last.get(parent_path))
    }

    /// The znode at `parent_path`, remembered for the records after this one.
    fn resolve(&mut self, parent_path: &[u8]) -> Option<NodeId> {
        if let Some(id) = self.parent.get(parent_path) {
            return Some(id);
        }
        if self.last.get(parent_path).is_some() {
            // Descending: the last node becomes the parent (`last` is rewritten next).
            core::mem::swap(&mut self.parent, &mut self.last);
            return self.parent.id;
        }
        let id = self.server.db.tree.lookup(parent_path)?;
        self.parent.set(parent_path, id);
        Some(id)
    }

    /// Restores one record, in the order [`Server::write_snapshot`] wrote them.
    pub fn record(&mut self, record: &[u8]) -> Result<(), SnapshotError<core::convert::Infallible>> {
        let rec: SnapshotRecord<'_> = postcard::from_bytes(record).map_err(|_| SnapshotError::BadRecord)?;
        match rec {
            SnapshotRecord::Header { format, zxid, .. } => {
                if format != SNAPSHOT_FORMAT_VERSION {
                    return Err(SnapshotError::BadRecord);
                }
                self.server.db.last_zxid = zxid;
                self.server.durable = zxid;
            }
            SnapshotRecord::Session { id, timeout_ms, password } => {
                self.server
                    .db
                    .sessions
                    .insert(self.now.instant, id, password, timeout_ms)
                    .map_err(|_| SnapshotError::Full("sessions (herd.sessionsMax)"))?;
            }
            SnapshotRecord::Node { path, data, acl, stat } => {
                let (parent, name) = match split_parent(path) {
                    _ if path == b"/" => (None, &b""[..]),
                    None => return Err(SnapshotError::OutOfOrder),
                    Some((parent_path, name)) => {
                        (Some(self.resolve(parent_path).ok_or(SnapshotError::OutOfOrder)?), name)
                    }
                };
                let id = self.server.db.tree.restore(parent, name, data, acl, &stat).map_err(|e| match e {
                    TreeError::NodesFull => SnapshotError::Full("znodes (herd.znodesMax)"),
                    TreeError::BytesFull | TreeError::TooLarge => SnapshotError::Full("data bytes (herd.dataBytesMax)"),
                    TreeError::AclsFull => SnapshotError::Full("ACL lists (herd.aclListsMax)"),
                    TreeError::SessionsFull => SnapshotError::Full("sessions (herd.sessionsMax)"),
                    _ => SnapshotError::OutOfOrder,
                })?;
                self.last.set(path, id);
            }
        }
        Ok(())
    }

    /// A read-ahead hint: looks at the first [`RESTORE_PREFETCH_RECORDS`] of the records
    /// about to be restored (unchecked bytes are fine) and fetches, all at once, the index
    /// slots their nodes will take, for those whose parent is already known. Changes
    /// nothing. Returns how many records it looked at, so the caller can hint again once
    /// it has restored them.
    pub fn prefetch<'p>(&self, upcoming: impl IntoIterator<Item = &'p [u8]>) -> usize {
        let mut keys: [(NodeId, &[u8]); RESTORE_PREFETCH_RECORDS] = [(NodeId::ROOT, &[]); RESTORE_PREFETCH_RECORDS];
        let mut n = 0;
        let mut seen = 0;
        for record in upcoming.into_iter().take(RESTORE_PREFETCH_RECORDS) {
            seen += 1;
            let Ok(((NODE_VARIANT, path), _)) = postcard::take_from_bytes::<(u32, &[u8])>(record) else { continue };
            let Some((parent_path, name)) = split_parent(path) else { continue };
            let (Some(parent), Some(key)) = (self.cached(parent_path), keys.get_mut(n)) else { continue };
            *key = (parent, name);
            n += 1;
        }
        self.server.db.tree.warm_children(keys.get(..n).unwrap_or_default());
        seen
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::tree::OPEN_ACL_UNSAFE;

    use crate::server::tests::{at, server};

    fn encode(rec: &SnapshotRecord<'_>) -> Vec<u8> {
        let mut buf = [0u8; 1024];
        postcard::to_slice(rec, &mut buf).unwrap().to_vec()
    }

    fn node(path: &[u8], data: &[u8], czxid: u64) -> Vec<u8> {
        let stat =
            StatPersisted { czxid: Zxid(czxid), mzxid: Zxid(czxid), pzxid: Zxid(czxid), ..StatPersisted::default() };
        encode(&SnapshotRecord::Node { path, data: Some(data), acl: OPEN_ACL_UNSAFE, stat })
    }

    /// A preorder snapshot that jumps between parents, descends, climbs back, and has a
    /// parent path too long for the cache.
    fn records() -> Vec<Vec<u8>> {
        let long_a = [b'a'; 200];
        let long_b = [b'b'; 100];
        let mut deep = b"/l/".to_vec();
        deep.extend_from_slice(&long_a);
        let mut deeper = deep.clone();
        deeper.push(b'/');
        deeper.extend_from_slice(&long_b);
        let mut deepest = deeper.clone();
        deepest.extend_from_slice(b"/x");
        let mut out = vec![encode(&SnapshotRecord::Header {
            format: SNAPSHOT_FORMAT_VERSION,
            zxid: Zxid(40),
            znodes: 0,
            sessions: 0,
        })];
        let mut z = 1;
        for path in [
            &b"/"[..],
            b"/a",
            b"/a/b",
            b"/a/b/c",
            b"/a/b/d",
            b"/a/e",
            b"/f",
            b"/f/g",
            b"/a/b/c/h",
            b"/l",
            &deep,
            &deeper,
            &deepest,
            b"/f/i",
        ] {
            out.push(node(path, &[z as u8; 3], z));
            z += 1;
        }
        out
    }

    fn snapshot_of(s: &Server<'_>) -> Vec<Vec<u8>> {
        let mut scratch = vec![0u8; 1 << 14];
        let mut out = Vec::new();
        s.write_snapshot::<()>(&mut scratch, |r| {
            out.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn restore_with_cache_and_read_ahead_matches_one_record_at_a_time() {
        let recs = records();
        let mut one = server();
        for r in &recs {
            one.restore_snapshot_record(at(1), r).unwrap();
        }
        let mut batched = server();
        {
            let mut restore = SnapshotRestore::new(&mut batched, at(1));
            let mut hinted = 0;
            for (i, r) in recs.iter().enumerate() {
                if hinted == 0 {
                    hinted = restore.prefetch(recs[i..].iter().map(Vec::as_slice));
                    assert!(hinted >= 1);
                }
                hinted -= 1;
                restore.record(r).unwrap();
            }
        }
        assert_eq!(snapshot_of(&one), snapshot_of(&batched));
        assert_eq!(batched.last_zxid(), Zxid(40));
        let tree = batched.tree();
        let h = tree.lookup(b"/a/b/c/h").unwrap();
        assert_eq!(tree.parent(h), tree.lookup(b"/a/b/c"));
        assert_eq!(tree.data(tree.lookup(b"/f/i").unwrap()), Some(&[14u8; 3][..]));
        let deepest = recs.iter().rev().nth(1).unwrap();
        let Ok(SnapshotRecord::Node { path, .. }) = postcard::from_bytes::<SnapshotRecord<'_>>(deepest) else {
            panic!()
        };
        assert!(path.len() > RESTORE_CACHED_PATH_BYTES);
        assert!(tree.lookup(path).is_some());
    }

    #[test]
    fn restore_refuses_orphans_and_overwrites_duplicates_as_before() {
        for batched in [false, true] {
            let mut s = server();
            let mut restore = SnapshotRestore::new(&mut s, at(1));
            let mut apply = |r: &[u8]| -> Result<(), SnapshotError<core::convert::Infallible>> {
                if batched {
                    restore.record(r)
                } else {
                    restore.server.restore_snapshot_record(at(1), r)
                }
            };
            apply(&node(b"/a", b"1", 1)).unwrap();
            apply(&node(b"/a/b", b"2", 2)).unwrap();
            assert!(matches!(apply(&node(b"/a/x/y", b"", 3)), Err(SnapshotError::OutOfOrder)));
            assert!(matches!(apply(&node(b"a", b"", 3)), Err(SnapshotError::OutOfOrder)));
            assert!(matches!(apply(&[0xff, 0xff]), Err(SnapshotError::BadRecord)));
            // A second record for /a/b overwrites it, and its parent stays resolvable.
            apply(&node(b"/a/b", b"3", 4)).unwrap();
            apply(&node(b"/a/b/c", b"4", 5)).unwrap();
            drop(restore);
            let tree = s.tree();
            let b = tree.lookup(b"/a/b").unwrap();
            assert_eq!(tree.data(b), Some(&b"3"[..]), "batched {batched}");
            assert_eq!(tree.parent(tree.lookup(b"/a/b/c").unwrap()), Some(b));
        }
    }

    #[test]
    fn read_ahead_reads_the_path_of_node_records_only() {
        let rec = node(b"/p/q", b"data", 1);
        let Ok(((variant, path), _)) = postcard::take_from_bytes::<(u32, &[u8])>(&rec) else { panic!() };
        assert_eq!((variant, path), (NODE_VARIANT, &b"/p/q"[..]));
        let header = encode(&SnapshotRecord::Header { format: 1, zxid: Zxid(1), znodes: 0, sessions: 0 });
        let mut s = server();
        let restore = SnapshotRestore::new(&mut s, at(0));
        // Unknown parents, headers and garbage are looked at and skipped.
        assert_eq!(restore.prefetch([&rec[..], &header, &[0xff][..], &[]]), 4);
        let many = vec![rec.as_slice(); 40];
        assert_eq!(restore.prefetch(many), RESTORE_PREFETCH_RECORDS);
        assert_eq!(restore.prefetch(core::iter::empty()), 0);
    }
}
