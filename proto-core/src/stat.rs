//! The `Stat` record every znode reply carries.

/// A znode's metadata as a client sees it (jute `Stat`, 68 bytes on the wire).
///
/// `cversion` here is already the client-visible value (`2·stored − numChildren`) and
/// `ephemeral_owner` is 0 for containers and TTL nodes; the tree derives both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Zxid of the create.
    pub czxid: i64,
    /// Zxid of the last data change (= czxid until the first setData).
    pub mzxid: i64,
    /// Wall-clock ms of the create, as the leader stamped the txn.
    pub ctime: i64,
    /// Wall-clock ms of the last data change.
    pub mtime: i64,
    /// Number of data changes.
    pub version: i32,
    /// Number of child creates and deletes.
    pub cversion: i32,
    /// Number of ACL changes.
    pub aversion: i32,
    /// Owning session of an ephemeral node, else 0.
    pub ephemeral_owner: i64,
    /// Length of the data (0 for null data).
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// Zxid of the last child create or delete.
    pub pzxid: i64,
}
