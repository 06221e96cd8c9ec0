//! The replicated state — tree, sessions, last zxid — and the one function that changes it:
//! [`Db::apply`]. Live writes and log replay both go through it, so recovery rebuilds exactly
//! the state clients saw.

use super::quota::QuotaDir;
use crate::ids::SessionId;
use crate::session::{SessionTable, SessionsFull};
use crate::time::Instant;
use crate::tree::{split_parent, NodeKind, Tree, TreeError};
use crate::txn::{multi_ops, BadRecord, CreateKind, Txn, TxnOp};
use crate::watch::WatchEvent;
use crate::zxid::Zxid;

/// The replica's data.
pub struct Db<'s> {
    /// The znode tree.
    pub tree: Tree<'s>,
    /// Live sessions.
    pub sessions: SessionTable<'s>,
    /// Zxid of the last applied txn.
    pub last_zxid: Zxid,
    /// Room to spell a node's full path for watch events of session-close deletions.
    path_buf: &'s mut [u8],
    /// Where quota statistics live, kept up to date by every create, delete and setData.
    quota: QuotaDir,
}

/// Why a txn could not be applied. Live writes are validated first, so for them only the
/// capacity variants are possible; replay may meet anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The tree refused (full, or the txn does not fit the tree's state).
    Tree(TreeError),
    /// The session table is full.
    SessionsFull,
    /// The txn names a node or parent that does not exist.
    NoNode,
    /// A multi's packed ops do not decode.
    BadRecord,
    /// The txn's zxid is not after the last applied one.
    OutOfOrder,
}

impl From<TreeError> for ApplyError {
    fn from(e: TreeError) -> Self {
        ApplyError::Tree(e)
    }
}

impl From<SessionsFull> for ApplyError {
    fn from(_: SessionsFull) -> Self {
        ApplyError::SessionsFull
    }
}

impl From<BadRecord> for ApplyError {
    fn from(_: BadRecord) -> Self {
        ApplyError::BadRecord
    }
}

/// Receives the watch events a txn triggers: the path, the event, and the ACL list of the
/// node whose READ permission governs delivery (section 8.3).
pub trait EventSink {
    /// One event.
    fn event(&mut self, path: &[u8], event: WatchEvent, acl: &[u8]);

    /// A create or setData op finished with this Stat (a multi's results report them).
    fn applied(&mut self, _stat: crate::stat::Stat) {}
}

/// For replay, where nobody is watching.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn event(&mut self, _: &[u8], _: WatchEvent, _: &[u8]) {}
}

impl<'s> Db<'s> {
    /// Wraps the tables; `path_buf` must hold the longest path (`packet_bytes_max`).
    pub fn new(tree: Tree<'s>, sessions: SessionTable<'s>, path_buf: &'s mut [u8]) -> Self {
        let quota = QuotaDir::new(&tree);
        Db { tree, sessions, last_zxid: Zxid::ZERO, path_buf, quota }
    }

    /// Applies one txn, reporting the watch events it triggers. On error nothing of the txn
    /// was applied, except for a multi whose capacity check the caller skipped.
    pub fn apply(&mut self, now: Instant, txn: &Txn<'_>, events: &mut impl EventSink) -> Result<(), ApplyError> {
        if txn.zxid <= self.last_zxid {
            return Err(ApplyError::OutOfOrder);
        }
        match txn.op {
            TxnOp::CreateSession { timeout_ms, password } => {
                self.sessions.insert(now, txn.session, password, timeout_ms)?;
            }
            TxnOp::CloseSession => self.close_session(txn, events)?,
            TxnOp::Multi { count, ops } => {
                for op in multi_ops(count, ops) {
                    self.apply_op(txn, &op?, events)?;
                }
            }
            TxnOp::Error { .. } => {}
            ref op => self.apply_op(txn, op, events)?,
        }
        self.last_zxid = txn.zxid;
        Ok(())
    }

    fn apply_op(&mut self, txn: &Txn<'_>, op: &TxnOp<'_>, events: &mut impl EventSink) -> Result<(), ApplyError> {
        let Db { tree, quota, .. } = self;
        match *op {
            TxnOp::Create { path, data, acl, kind } => {
                let (parent_path, name) = split_parent(path).ok_or(ApplyError::NoNode)?;
                let parent = tree.lookup(parent_path).ok_or(ApplyError::NoNode)?;
                let kind = match kind {
                    CreateKind::Persistent => NodeKind::Persistent,
                    CreateKind::Ephemeral => NodeKind::Ephemeral(txn.session),
                    CreateKind::Container => NodeKind::Container,
                    CreateKind::Ttl(ms) => NodeKind::Ttl(ms),
                };
                let node = tree.create(parent, name, data, acl, kind, txn.zxid, txn.time_ms)?;
                events.applied(tree.stat(node));
                // After the Stat is taken: a new stats node reports the data it was created with.
                quota.created(tree, node, path, data.map_or(0, <[u8]>::len));
                events.event(path, WatchEvent::NodeCreated, acl);
                events.event(parent_path, WatchEvent::NodeChildrenChanged, tree.node_acl(parent));
            }
            TxnOp::Delete { path } => {
                let node = tree.lookup(path).ok_or(ApplyError::NoNode)?;
                delete_node(tree, quota, node, path, txn.zxid, events)?;
            }
            TxnOp::SetData { path, data } => {
                let node = tree.lookup(path).ok_or(ApplyError::NoNode)?;
                let old_len = tree.data(node).map_or(0, <[u8]>::len);
                let stat = tree.set_data(node, data, txn.zxid, txn.time_ms)?;
                events.applied(stat);
                quota.data_changed(tree, path, old_len, data.map_or(0, <[u8]>::len));
                events.event(path, WatchEvent::NodeDataChanged, tree.node_acl(node));
            }
            TxnOp::SetAcl { path, acl } => {
                let node = tree.lookup(path).ok_or(ApplyError::NoNode)?;
                tree.set_acl(node, acl)?;
            }
            TxnOp::CreateSession { .. } | TxnOp::CloseSession | TxnOp::Multi { .. } | TxnOp::Error { .. } => {
                return Err(ApplyError::BadRecord);
            }
        }
        Ok(())
    }

    /// Deletes the session's ephemerals (each as a delete, firing watches) and forgets it.
    fn close_session(&mut self, txn: &Txn<'_>, events: &mut impl EventSink) -> Result<(), ApplyError> {
        while let Some(node) = self.tree.ephemerals(txn.session).next() {
            let Some(path) = self.tree.write_path(node, self.path_buf) else {
                return Err(ApplyError::Tree(TreeError::TooLarge));
            };
            delete_node(&mut self.tree, &mut self.quota, node, path, txn.zxid, events)?;
        }
        if let Some(r) = self.sessions.find(txn.session) {
            self.sessions.remove(r);
        }
        Ok(())
    }

    /// True when `session` is live and not closing.
    pub fn session_alive(&self, session: SessionId) -> bool {
        self.sessions.find(session).is_some_and(|r| !self.sessions.is_closing(r))
    }
}

/// Deletes `node` (at `path`), charges its quota, and reports NodeDeleted on it and
/// NodeChildrenChanged on its parent, each judged by the ACL the node had.
fn delete_node(
    tree: &mut Tree<'_>,
    quota: &mut QuotaDir,
    node: crate::tree::NodeId,
    path: &[u8],
    zxid: Zxid,
    events: &mut impl EventSink,
) -> Result<(), ApplyError> {
    let parent = tree.parent(node).ok_or(ApplyError::Tree(TreeError::IsRoot))?;
    events.event(path, WatchEvent::NodeDeleted, tree.node_acl(node));
    let data_len = tree.data(node).map_or(0, <[u8]>::len);
    tree.delete(node, zxid)?;
    quota.deleted(tree, path, data_len);
    let parent_path = split_parent(path).map_or(&b"/"[..], |(p, _)| p);
    events.event(parent_path, WatchEvent::NodeChildrenChanged, tree.node_acl(parent));
    Ok(())
}
