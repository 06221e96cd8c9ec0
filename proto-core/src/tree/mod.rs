//! The bounded znode tree: znodes with their Stat, data and ACL, over storage the caller
//! hands in (as smoltcp's `SocketSet::new(&mut [..])` takes its sockets).
//!
//! Layout:
//! - a node table of [`Node`] slots (112 bytes each), filled from the front, freed slots
//!   reused; slot 0 is `/`;
//! - a child index, (parent, child name) → node, so paths are walked one component at a
//!   time and no full path is ever stored;
//! - children as an intrusive doubly-linked sibling list per parent, in creation order;
//! - names, data and ACL lists in a [`ByteArena`];
//! - distinct ACL lists once each, reference counted ([`acl_cache`]);
//! - per-session ephemeral lists ([`ephemerals`]).
//!
//! Mutations apply already-validated transactions (section 5.3 rules). They fail only when a
//! bound is reached or the request contradicts the tree's state, and a failed mutation
//! changes nothing a reader can see: every capacity is checked before any state is touched.

pub mod acl_cache;
pub mod ephemerals;
mod index;
mod node;
pub mod path;
mod walk;

pub use acl_cache::{AclRef, AclSlot, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE};
pub use ephemerals::{Ephemerals, SessionSlot};
pub use node::{Node, NodeId, NodeKind, StatPersisted, CONTAINER_OWNER, NODE_BYTES, TTL_MS_MAX};
pub use path::{sequential_name, split_parent, validate_path, PathError, SEQUENTIAL_SUFFIX_BYTES_MAX};
pub use walk::{Children, Preorder};

use crate::arena::{ArenaStats, ByteArena};
use crate::ids::SessionId;
use crate::stat::Stat;
use crate::zxid::Zxid;
use acl_cache::AclCache;
use ephemerals::SessionTable;
use index::{child_hash, name_of, ChildIndex};
use node::{link, unlink, Link, FLAG_DATA_NULL, FLAG_LIVE, NONE};

/// znodes every tree holds from the start: `/`, `/zookeeper`, `/zookeeper/quota`,
/// `/zookeeper/config` (section 6.5).
pub const RESERVED_ZNODES: u32 = 4;

/// Distinct ACL lists every tree holds from the start: OPEN_ACL_UNSAFE and READ_ACL_UNSAFE.
pub const RESERVED_ACL_LISTS: u32 = 2;

/// Keys one [`Tree::warm_children`] call fetches: about as many cache misses as a core
/// keeps in flight, and few enough that the lines are still cached when the restores
/// that follow use them.
pub const WARM_KEYS_MAX: usize = 16;

/// The caller's storage for a [`Tree`].
///
/// Sizing from `Limits`:
/// - `nodes`: `znodes_max` slots of [`NODE_BYTES`] (contents ignored);
/// - `index`: [`TreeStorage::index_slots`]`(znodes_max)` zeroed `u32`s (a power of two, at
///   most 3/4 full: a hash index touches pages all over, so it is sized from capacity);
/// - `bytes`: `data_bytes_max` bytes for names, data and ACL lists (contents ignored);
/// - `acls`: `acl_lists_max` zeroed [`AclSlot`]s (24 bytes each);
/// - `sessions`: [`TreeStorage::session_slots`]`(sessions_max)` zeroed [`SessionSlot`]s
///   (16 bytes each).
///
/// Everything is filled from the front, so zeroed lazily-mapped memory costs RAM only as
/// the tree grows (the index and session table excepted, which spread by hash). The tree
/// holds at most `min(nodes.len(), 3/4 of the index's power-of-two slots)` znodes.
pub struct TreeStorage<'s> {
    /// Node slots.
    pub nodes: &'s mut [Node],
    /// Child index slots, zeroed.
    pub index: &'s mut [u32],
    /// Arena bytes.
    pub bytes: &'s mut [u8],
    /// ACL list slots, zeroed.
    pub acls: &'s mut [AclSlot],
    /// Slots of sessions owning ephemerals, zeroed.
    pub sessions: &'s mut [SessionSlot],
}

impl TreeStorage<'_> {
    /// Child index slots for a tree of `znodes_max` znodes.
    pub const fn index_slots(znodes_max: u32) -> usize {
        index::slots_for(znodes_max)
    }

    /// Session table slots for `sessions_max` sessions.
    pub const fn session_slots(sessions_max: u32) -> usize {
        index::slots_for(sessions_max)
    }
}

/// Why a tree mutation was refused; the tree is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// Every node slot is taken (`znodes_max`).
    NodesFull,
    /// The byte arena has no block for the name, data or ACL list (`data_bytes_max`).
    BytesFull,
    /// Every ACL slot holds a list in use (`acl_lists_max`).
    AclsFull,
    /// The session table has no slot for another session with ephemerals (`sessions_max`).
    SessionsFull,
    /// Name plus data exceed the largest arena block.
    TooLarge,
    /// The node (or the parent) does not exist.
    NoNode,
    /// The parent already has a child of that name (or, on restore, one of another kind).
    NodeExists,
    /// The node still has children.
    NotEmpty,
    /// The root cannot be deleted.
    IsRoot,
    /// A child name must be non-empty and free of '/'.
    BadName,
    /// The kind has no stored owner encoding (ephemeral of session 0 or a marker id, TTL
    /// too long), or a restored owner decodes to no kind.
    BadKind,
}

/// The room left in a tree, consumed by simulated creates and setDatas (see
/// [`ArenaBudget`](crate::arena::ArenaBudget): conservative).
#[derive(Clone, Debug)]
pub struct TreeBudget {
    nodes: u32,
    acls: u32,
    arena: crate::arena::ArenaBudget,
}

impl TreeBudget {
    /// Takes the room of a create; `new_acl` is the ACL list's length when the tree does
    /// not hold that list yet. Returns which bound it would break, if any.
    pub fn take_create(&mut self, name_len: usize, data_len: usize, new_acl: Option<usize>) -> Result<(), TreeError> {
        if self.nodes == 0 {
            return Err(TreeError::NodesFull);
        }
        self.nodes -= 1;
        self.take_blob(name_len, data_len)?;
        if let Some(len) = new_acl {
            if self.acls == 0 {
                return Err(TreeError::AclsFull);
            }
            self.acls -= 1;
            let len = u32::try_from(len).map_err(|_| TreeError::TooLarge)?;
            if !self.arena.take(len) {
                return Err(TreeError::BytesFull);
            }
        }
        Ok(())
    }

    /// Gives back the slot of a deleted node.
    pub fn give_node(&mut self) {
        self.nodes = self.nodes.saturating_add(1);
    }

    /// Gives back a deleted node's name+data blob.
    pub fn give_blob(&mut self, name_len: usize, data_len: usize) {
        if let Some(len) = name_len.checked_add(data_len).and_then(|n| u32::try_from(n).ok()) {
            self.arena.give(len);
        }
    }

    /// Takes the room of a node's new name+data blob (setData).
    pub fn take_blob(&mut self, name_len: usize, data_len: usize) -> Result<(), TreeError> {
        let len = name_len.checked_add(data_len).and_then(|n| u32::try_from(n).ok()).ok_or(TreeError::TooLarge)?;
        if self.arena.take(len) {
            Ok(())
        } else {
            Err(TreeError::BytesFull)
        }
    }
}

/// Occupancy of a tree, for `mntr` and start-up logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// znodes, reserved ones included (`zk_znode_count`).
    pub znodes: u32,
    /// Ephemeral znodes (`zk_ephemerals_count`).
    pub ephemerals: u32,
    /// Sessions owning ephemerals.
    pub ephemeral_sessions: u32,
    /// Sum of data lengths.
    pub data_bytes: u64,
    /// Sum over znodes of full path length plus data length (`zk_approximate_data_size`).
    pub approximate_data_size: u64,
    /// Distinct ACL lists held.
    pub acl_lists: u32,
    /// The byte arena's occupancy.
    pub arena: ArenaStats,
}

/// The bounds a tree was built with, as derived from its storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeCapacity {
    /// Most znodes.
    pub znodes: u32,
    /// Most distinct ACL lists.
    pub acl_lists: u32,
    /// Most sessions owning ephemerals.
    pub ephemeral_sessions: u64,
    /// Arena bytes.
    pub bytes: u64,
}

/// The znode tree.
pub struct Tree<'s> {
    nodes: &'s mut [Node],
    /// Most live znodes: bounded by the node table and the index's load factor.
    node_capacity: u32,
    /// Slots ever handed out; those past it were never touched.
    nodes_used: u32,
    /// Freed slots, linked through `next_sibling`.
    free_nodes: Link,
    znodes: u32,
    index: ChildIndex<'s>,
    arena: ByteArena<'s>,
    acls: AclCache<'s>,
    sessions: SessionTable<'s>,
    ephemerals: u32,
    data_bytes: u64,
    approximate_data_size: u64,
    /// Absorbs writes through a slot index our own links should never produce, so a bug
    /// costs a debug assertion, never a panic.
    sink: Node,
}

impl<'s> Tree<'s> {
    /// Builds a tree holding the reserved znodes of section 6.5: `/`, `/zookeeper` and
    /// `/zookeeper/quota` (empty data, OPEN_ACL_UNSAFE) and `/zookeeper/config` (empty data,
    /// READ_ACL_UNSAFE, aversion −1), every zxid and time 0. Reserved children are added
    /// without bumping their parent's cversion, so clients see cversion −1 on `/` and −2 on
    /// `/zookeeper`.
    pub fn new(storage: TreeStorage<'s>) -> Result<Tree<'s>, TreeError> {
        let index = ChildIndex::new(storage.index);
        let node_capacity = (storage.nodes.len() as u64).min(index.capacity()).min(u64::from(u32::MAX - 1)) as u32;
        let mut tree = Tree {
            nodes: storage.nodes,
            node_capacity,
            nodes_used: 0,
            free_nodes: NONE,
            znodes: 0,
            index,
            arena: ByteArena::new(storage.bytes),
            acls: AclCache::new(storage.acls),
            sessions: SessionTable::new(storage.sessions),
            ephemerals: 0,
            data_bytes: 0,
            approximate_data_size: 0,
            sink: Node::EMPTY,
        };
        if node_capacity < RESERVED_ZNODES {
            return Err(TreeError::NodesFull);
        }
        if tree.acls.capacity() < RESERVED_ACL_LISTS {
            return Err(TreeError::AclsFull);
        }
        let acl = tree.acls.acquire(&mut tree.arena, OPEN_ACL_UNSAFE)?;
        tree.nodes_used = 1;
        *tree.node_mut(NodeId::ROOT.0) = Node { acl: acl.0, flags: FLAG_LIVE, ..Node::EMPTY };
        tree.znodes = 1;
        tree.approximate_data_size = 1;
        let zero = StatPersisted::default();
        let zookeeper = tree.insert(NodeId::ROOT, b"zookeeper", Some(b""), OPEN_ACL_UNSAFE, &zero)?;
        tree.insert(zookeeper, b"quota", Some(b""), OPEN_ACL_UNSAFE, &zero)?;
        // ZooKeeper sets this ACL with version −1, which it stores as the aversion.
        let config = StatPersisted { aversion: -1, ..zero };
        tree.insert(zookeeper, b"config", Some(b""), READ_ACL_UNSAFE, &config)?;
        Ok(tree)
    }

    // ----- reads -------------------------------------------------------------------------

    /// The root `/`.
    pub const fn root(&self) -> NodeId {
        NodeId::ROOT
    }

    /// Whether `id` names a live znode.
    pub fn contains(&self, id: NodeId) -> bool {
        self.live(id).is_some()
    }

    /// The node at a full path; "/" and "" are the root. A malformed path (no leading '/',
    /// an empty component, a trailing '/') resolves to nothing.
    pub fn lookup(&self, path: &[u8]) -> Option<NodeId> {
        let rest = match path {
            b"" | b"/" => return Some(NodeId::ROOT),
            [b'/', rest @ ..] => rest,
            _ => return None,
        };
        let mut at = NodeId::ROOT;
        for name in rest.split(|&b| b == b'/') {
            at = self.child(at, name)?;
        }
        Some(at)
    }

    /// The child of `parent` named `name`.
    pub fn child(&self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        if name.is_empty() || !self.contains(parent) {
            return None;
        }
        let parent = link(parent.0);
        let hash = child_hash(parent, name);
        self.index.find(self.nodes, &self.arena, parent, name, hash).map(NodeId)
    }

    /// The parent (`None` for the root or a dead id).
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        unlink(self.live(id)?.parent).map(NodeId)
    }

    /// The client-visible Stat (section 5.2); `Stat::default()` for a dead id.
    pub fn stat(&self, id: NodeId) -> Stat {
        self.live(id).map_or_else(Stat::default, Node::stat)
    }

    /// The persisted fields, as a snapshot stores them; default for a dead id.
    pub fn stat_persisted(&self, id: NodeId) -> StatPersisted {
        self.live(id).map_or_else(StatPersisted::default, Node::stat_persisted)
    }

    /// The data: `None` if null (or the id is dead), else the bytes (possibly empty).
    pub fn data(&self, id: NodeId) -> Option<&[u8]> {
        let node = self.live(id)?;
        if node.data_is_null() {
            return None;
        }
        self.arena.get(node.blob()).get(node.name_len as usize..)
    }

    /// The node's own name component (empty for the root).
    pub fn name(&self, id: NodeId) -> &[u8] {
        self.live(id).map_or(&[], |node| name_of(node, &self.arena))
    }

    /// The node's kind, decoded from its stored owner.
    pub fn kind(&self, id: NodeId) -> NodeKind {
        self.live(id).map_or(NodeKind::Persistent, Node::kind)
    }

    /// The stored child create counter: the sequential suffix of the next child (6.3).
    pub fn stored_cversion(&self, id: NodeId) -> i32 {
        self.live(id).map_or(0, |n| n.cversion)
    }

    /// The node's ACL list handle.
    pub fn acl(&self, id: NodeId) -> AclRef {
        AclRef(self.live(id).map_or(u32::MAX, |n| n.acl))
    }

    /// The jute bytes of an ACL list (empty if no node uses it).
    pub fn acl_bytes(&self, acl: AclRef) -> &[u8] {
        self.acls.bytes(&self.arena, acl)
    }

    /// The jute bytes of a node's ACL list.
    pub fn node_acl(&self, id: NodeId) -> &[u8] {
        self.acl_bytes(self.acl(id))
    }

    /// The held list with these jute bytes, if any node uses it.
    pub fn find_acl(&self, jute: &[u8]) -> Option<AclRef> {
        self.acls.find(&self.arena, jute)
    }

    /// How many nodes use an ACL list.
    pub fn acl_refs(&self, acl: AclRef) -> u32 {
        self.acls.refs(acl)
    }

    /// Every distinct ACL list in use, e.g. for a snapshot.
    pub fn acl_lists(&self) -> impl Iterator<Item = AclRef> + '_ {
        self.acls.iter()
    }

    /// The children with their names, in creation order.
    pub fn children(&self, id: NodeId) -> Children<'_, 's> {
        Children {
            nodes: self.nodes,
            arena: &self.arena,
            next: self.live(id).map_or(NONE, |n| n.first_child),
            steps: self.znodes,
        }
    }

    /// Number of children.
    pub fn num_children(&self, id: NodeId) -> u32 {
        self.live(id).map_or(0, |n| n.num_children)
    }

    /// Number of nodes below `id`, at any depth (getAllChildrenNumber).
    pub fn descendants(&self, id: NodeId) -> u64 {
        (self.subtree(id).count() as u64).saturating_sub(1)
    }

    /// The whole tree in preorder, parents before children: the order a snapshot is
    /// written and [`Tree::restore`] reads it back.
    pub fn preorder(&self) -> Preorder<'_> {
        self.subtree(NodeId::ROOT)
    }

    /// `id` and everything below it, in preorder.
    pub fn subtree(&self, id: NodeId) -> Preorder<'_> {
        Preorder {
            nodes: self.nodes,
            top: id.0,
            next: self.live(id).map(|_| id.0),
            steps: self.znodes,
            depth_max: self.znodes,
        }
    }

    /// Bytes of the node's full path.
    pub fn path_len(&self, id: NodeId) -> usize {
        let mut len = 0usize;
        let mut at = id.0;
        for _ in 0..self.znodes {
            let Some(node) = self.live(NodeId(at)) else { return 0 };
            let Some(parent) = unlink(node.parent) else { break };
            len += node.name_len as usize + 1;
            at = parent;
        }
        len.max(1)
    }

    /// Writes the node's full path into `out`; `None` if it does not fit or `id` is dead.
    pub fn write_path<'o>(&self, id: NodeId, out: &'o mut [u8]) -> Option<&'o [u8]> {
        self.live(id)?;
        let len = self.path_len(id);
        let out = out.get_mut(..len)?;
        if id == NodeId::ROOT {
            out.copy_from_slice(b"/");
            return Some(out);
        }
        let mut end = len;
        let mut at = id;
        while at != NodeId::ROOT {
            let name = self.name(at);
            let start = end.checked_sub(name.len())?;
            out.get_mut(start..end)?.copy_from_slice(name);
            end = start.checked_sub(1)?;
            *out.get_mut(end)? = b'/';
            at = self.parent(at)?;
        }
        debug_assert_eq!(end, 0);
        Some(out)
    }

    /// Live znodes, reserved ones included.
    pub fn znode_count(&self) -> u32 {
        self.znodes
    }

    /// Live ephemeral znodes.
    pub fn ephemeral_count(&self) -> u32 {
        self.ephemerals
    }

    /// The ephemerals `session` owns, most recent first (session close, getEphemerals).
    /// To close a session, take the first, delete it, and repeat; stop on an error rather
    /// than retry (an ephemeral never has children, so none is expected).
    pub fn ephemerals(&self, session: SessionId) -> Ephemerals<'_> {
        Ephemerals { nodes: self.nodes, next: self.sessions.head(session), steps: self.ephemerals }
    }

    /// Occupancy figures.
    pub fn stats(&self) -> TreeStats {
        TreeStats {
            znodes: self.znodes,
            ephemerals: self.ephemerals,
            ephemeral_sessions: self.sessions.len(),
            data_bytes: self.data_bytes,
            approximate_data_size: self.approximate_data_size,
            acl_lists: self.acls.lists(),
            arena: self.arena.stats(),
        }
    }

    /// The bounds derived from the storage handed in.
    pub fn capacity(&self) -> TreeCapacity {
        TreeCapacity {
            znodes: self.node_capacity,
            acl_lists: self.acls.capacity(),
            ephemeral_sessions: self.sessions.capacity(),
            bytes: self.arena.stats().capacity,
        }
    }

    // ----- mutations ---------------------------------------------------------------------

    /// What the tree can still take, for checking a multi before applying any of it.
    pub fn budget(&self) -> TreeBudget {
        TreeBudget {
            nodes: self.node_capacity.saturating_sub(self.znodes),
            acls: self.acls.free_slots(),
            arena: self.arena.budget(),
        }
    }

    /// Applies a create (5.3): the node gets czxid = mzxid = pzxid = `zxid`, ctime = mtime =
    /// `time_ms`, versions 0; the parent's stored cversion rises by one (wrapping, as Java's
    /// int does), its pzxid becomes `zxid` and it gains a child. `acl` is the jute
    /// `vector<ACL>`, shared with every node holding the same bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        parent: NodeId,
        name: &[u8],
        data: Option<&[u8]>,
        acl: &[u8],
        kind: NodeKind,
        zxid: Zxid,
        time_ms: i64,
    ) -> Result<NodeId, TreeError> {
        let owner = kind.to_owner().ok_or(TreeError::BadKind)?;
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let id = self.insert(parent, name, data, acl, &stat)?;
        let p = self.node_mut(parent.0);
        p.cversion = p.cversion.wrapping_add(1);
        p.pzxid = zxid.0;
        Ok(id)
    }

    /// Applies a delete (5.3): the node must be childless; the parent loses a child and its
    /// pzxid rises to `zxid` if larger; its stored cversion is unchanged.
    pub fn delete(&mut self, id: NodeId, zxid: Zxid) -> Result<(), TreeError> {
        let node = *self.live(id).ok_or(TreeError::NoNode)?;
        let Some(parent) = unlink(node.parent) else {
            return Err(TreeError::IsRoot);
        };
        if node.num_children > 0 {
            return Err(TreeError::NotEmpty);
        }
        self.approximate_data_size =
            self.approximate_data_size.saturating_sub((self.path_len(id) + node.data_len as usize) as u64);
        self.index.remove(self.nodes, id.0);
        self.unlink_sibling(id.0, parent);
        let p = self.node_mut(parent);
        p.num_children = p.num_children.saturating_sub(1);
        p.pzxid = p.pzxid.max(zxid.0);
        if let Some(session) = node.kind().session() {
            self.unlink_ephemeral(id.0, session);
        }
        self.acls.release(&mut self.arena, AclRef(node.acl));
        self.arena.free(node.blob());
        let free = self.free_nodes;
        *self.node_mut(id.0) = Node { next_sibling: free, ..Node::EMPTY };
        self.free_nodes = link(id.0);
        self.znodes -= 1;
        self.data_bytes = self.data_bytes.saturating_sub(u64::from(node.data_len));
        Ok(())
    }

    /// Applies a setData (5.3): data replaced, version + 1 (wrapping), mzxid = `zxid`,
    /// mtime = `time_ms`. Returns the new Stat.
    pub fn set_data(&mut self, id: NodeId, data: Option<&[u8]>, zxid: Zxid, time_ms: i64) -> Result<Stat, TreeError> {
        let version = self.live(id).ok_or(TreeError::NoNode)?.version.wrapping_add(1);
        self.set_data_version(id, data, version, zxid, time_ms)
    }

    /// Applies a setData txn carrying its resulting `version`, as a reconfig's does (−1 on
    /// `/zookeeper/config`, 5.3).
    pub fn set_data_version(
        &mut self,
        id: NodeId,
        data: Option<&[u8]>,
        version: i32,
        zxid: Zxid,
        time_ms: i64,
    ) -> Result<Stat, TreeError> {
        let node = *self.live(id).ok_or(TreeError::NoNode)?;
        let (data_len, blob_len) = Self::blob_len(node.name_len as usize, data)?;
        let blob = self.arena.resize(node.blob(), blob_len).map_err(|_| TreeError::BytesFull)?;
        if let Some(dst) = self.arena.get_mut(blob).get_mut(node.name_len as usize..) {
            dst.copy_from_slice(data.unwrap_or_default());
        }
        self.account_data_change(node.data_len, data_len);
        let n = self.node_mut(id.0);
        n.blob_offset = blob.offset;
        n.data_len = data_len;
        n.flags = Self::flags_for(data);
        n.version = version;
        n.mzxid = zxid.0;
        n.mtime = time_ms;
        Ok(n.stat())
    }

    /// Applies a setACL (5.3): the ACL list replaced, aversion + 1 (wrapping); mzxid and
    /// mtime unchanged. Returns the new Stat.
    pub fn set_acl(&mut self, id: NodeId, acl: &[u8]) -> Result<Stat, TreeError> {
        let old = AclRef(self.live(id).ok_or(TreeError::NoNode)?.acl);
        // Acquire before releasing, so setting the same list never frees it in between.
        let new = self.acls.acquire(&mut self.arena, acl)?;
        self.acls.release(&mut self.arena, old);
        let n = self.node_mut(id.0);
        n.acl = new.0;
        n.aversion = n.aversion.wrapping_add(1);
        Ok(n.stat())
    }

    /// Rebuilds one node from a snapshot record, every persisted field exactly as given; the
    /// parent's fields are left alone (its own record carries them). Records come in
    /// preorder; `parent: None` is the root's record. A record for a node that already
    /// exists with the same kind (the reserved nodes) overwrites it.
    pub fn restore(
        &mut self,
        parent: Option<NodeId>,
        name: &[u8],
        data: Option<&[u8]>,
        acl: &[u8],
        stat: &StatPersisted,
    ) -> Result<NodeId, TreeError> {
        let existing = match parent {
            None if name.is_empty() => NodeId::ROOT,
            None => return Err(TreeError::BadName),
            Some(parent) => {
                self.live(parent).ok_or(TreeError::NoNode)?;
                match self.child(parent, name) {
                    Some(existing) => existing,
                    None => return self.insert(parent, name, data, acl, stat),
                }
            }
        };
        self.overwrite(existing, data, acl, stat)?;
        Ok(existing)
    }

    /// A read-ahead hint for a run of [`Tree::restore`]s: fetches into cache, all at once,
    /// the child-index slots where the children `keys` (parent, name) would be found (the
    /// first [`WARM_KEYS_MAX`] of them). Changes nothing; a wrong or stale key only costs
    /// a useless load.
    ///
    /// A restore of a new node otherwise waits on one cache miss into the index, which is
    /// sized for `znodes_max` and far larger than the cache; issued together, the misses
    /// of a batch overlap.
    pub fn warm_children(&self, keys: &[(NodeId, &[u8])]) {
        let mut hashes = [0u32; WARM_KEYS_MAX];
        for (hash, (parent, name)) in hashes.iter_mut().zip(keys) {
            *hash = child_hash(link(parent.0), name);
        }
        let n = keys.len().min(WARM_KEYS_MAX);
        core::hint::black_box(self.index.touch(hashes.get(..n).unwrap_or_default()));
    }

    // ----- internals ---------------------------------------------------------------------

    fn live(&self, id: NodeId) -> Option<&Node> {
        if id.0 >= self.nodes_used {
            return None;
        }
        self.nodes.get(id.0 as usize).filter(|n| n.is_live())
    }

    fn node_mut(&mut self, index: u32) -> &mut Node {
        debug_assert!(index < self.nodes_used, "slot {index} never handed out");
        match self.nodes.get_mut(index as usize) {
            Some(node) => node,
            None => &mut self.sink,
        }
    }

    fn account_data_change(&mut self, old_len: u32, new_len: u32) {
        self.data_bytes = self.data_bytes.saturating_sub(u64::from(old_len)) + u64::from(new_len);
        self.approximate_data_size = self.approximate_data_size.saturating_sub(u64::from(old_len)) + u64::from(new_len);
    }

    fn flags_for(data: Option<&[u8]>) -> u32 {
        if data.is_none() {
            FLAG_LIVE | FLAG_DATA_NULL
        } else {
            FLAG_LIVE
        }
    }

    /// Data length and blob length, refused when no arena block is that large.
    fn blob_len(name_len: usize, data: Option<&[u8]>) -> Result<(u32, u32), TreeError> {
        let data_len = data.map_or(0, <[u8]>::len);
        let blob_len = name_len.checked_add(data_len).and_then(|n| u32::try_from(n).ok()).ok_or(TreeError::TooLarge)?;
        ByteArena::block_bytes(blob_len).ok_or(TreeError::TooLarge)?;
        Ok((data_len as u32, blob_len))
    }

    /// A slot for a new node, without taking it.
    fn free_slot(&self) -> Option<u32> {
        if self.znodes >= self.node_capacity {
            return None;
        }
        match unlink(self.free_nodes) {
            Some(index) => Some(index),
            None if self.nodes_used < self.node_capacity => Some(self.nodes_used),
            None => None,
        }
    }

    /// Takes the slot `free_slot` offered.
    fn take_slot(&mut self, index: u32) {
        if index == self.nodes_used {
            self.nodes_used += 1;
        } else {
            self.free_nodes = self.nodes.get(index as usize).map_or(NONE, |n| n.next_sibling);
        }
    }

    /// Adds a child of `parent` with the given persisted fields, touching the parent only
    /// structurally (children list and count). Checks every bound before changing anything.
    fn insert(
        &mut self,
        parent: NodeId,
        name: &[u8],
        data: Option<&[u8]>,
        acl: &[u8],
        stat: &StatPersisted,
    ) -> Result<NodeId, TreeError> {
        let kind = NodeKind::from_owner(stat.ephemeral_owner).ok_or(TreeError::BadKind)?;
        self.live(parent).ok_or(TreeError::NoNode)?;
        if name.is_empty() || name.contains(&b'/') {
            return Err(TreeError::BadName);
        }
        let (data_len, blob_len) = Self::blob_len(name.len(), data)?;
        let parent_link = link(parent.0);
        let hash = child_hash(parent_link, name);
        if self.index.find(self.nodes, &self.arena, parent_link, name, hash).is_some() {
            return Err(TreeError::NodeExists);
        }
        let index = self.free_slot().ok_or(TreeError::NodesFull)?;
        if let Some(session) = kind.session() {
            if !self.sessions.has_room(session) {
                return Err(TreeError::SessionsFull);
            }
        }
        let acl = self.acls.acquire(&mut self.arena, acl)?;
        let blob = match self.arena.alloc(blob_len) {
            Ok(blob) => blob,
            Err(_) => {
                // The list was acquired last, so releasing it restores the arena exactly.
                self.acls.release(&mut self.arena, acl);
                return Err(TreeError::BytesFull);
            }
        };
        // Commit: nothing below can fail.
        let bytes = self.arena.get_mut(blob);
        if let Some((front, back)) = bytes.split_at_mut_checked(name.len()) {
            front.copy_from_slice(name);
            back.copy_from_slice(data.unwrap_or_default());
        }
        self.take_slot(index);
        let mut node = Node {
            parent: parent_link,
            blob_offset: blob.offset,
            name_len: name.len() as u32,
            data_len,
            name_hash: hash,
            acl: acl.0,
            flags: Self::flags_for(data),
            ..Node::EMPTY
        };
        node.set_persisted(stat);
        *self.node_mut(index) = node;
        self.append_sibling(index, parent.0);
        self.node_mut(parent.0).num_children += 1;
        self.index.insert(index, hash);
        if let Some(session) = kind.session() {
            self.link_ephemeral(index, session);
        }
        self.znodes += 1;
        self.data_bytes += u64::from(data_len);
        let id = NodeId(index);
        self.approximate_data_size += (self.path_len(id) + data_len as usize) as u64;
        Ok(id)
    }

    /// Replaces an existing node's data, ACL and persisted fields (restore).
    fn overwrite(
        &mut self,
        id: NodeId,
        data: Option<&[u8]>,
        acl: &[u8],
        stat: &StatPersisted,
    ) -> Result<(), TreeError> {
        let node = *self.live(id).ok_or(TreeError::NoNode)?;
        let kind = NodeKind::from_owner(stat.ephemeral_owner).ok_or(TreeError::BadKind)?;
        if kind != node.kind() {
            return Err(TreeError::NodeExists);
        }
        let (data_len, blob_len) = Self::blob_len(node.name_len as usize, data)?;
        let new_acl = self.acls.acquire(&mut self.arena, acl)?;
        let blob = match self.arena.resize(node.blob(), blob_len) {
            Ok(blob) => blob,
            Err(_) => {
                self.acls.release(&mut self.arena, new_acl);
                return Err(TreeError::BytesFull);
            }
        };
        self.acls.release(&mut self.arena, AclRef(node.acl));
        if let Some(dst) = self.arena.get_mut(blob).get_mut(node.name_len as usize..) {
            dst.copy_from_slice(data.unwrap_or_default());
        }
        self.account_data_change(node.data_len, data_len);
        let n = self.node_mut(id.0);
        n.set_persisted(stat);
        n.blob_offset = blob.offset;
        n.data_len = data_len;
        n.flags = Self::flags_for(data);
        n.acl = new_acl.0;
        Ok(())
    }

    /// Appends `child` to `parent`'s sibling list. The first child's `prev_sibling` names
    /// the last child, so this is O(1).
    fn append_sibling(&mut self, child: u32, parent: u32) {
        let first = self.node_mut(parent).first_child;
        match unlink(first) {
            None => {
                self.node_mut(parent).first_child = link(child);
                let c = self.node_mut(child);
                c.prev_sibling = link(child);
                c.next_sibling = NONE;
            }
            Some(first) => {
                let last = self.node_mut(first).prev_sibling;
                if let Some(last) = unlink(last) {
                    self.node_mut(last).next_sibling = link(child);
                }
                let c = self.node_mut(child);
                c.prev_sibling = last;
                c.next_sibling = NONE;
                self.node_mut(first).prev_sibling = link(child);
            }
        }
    }

    /// Takes `child` out of `parent`'s sibling list.
    fn unlink_sibling(&mut self, child: u32, parent: u32) {
        let (prev, next) = {
            let c = self.node_mut(child);
            (c.prev_sibling, c.next_sibling)
        };
        let first = self.node_mut(parent).first_child;
        if first == link(child) {
            self.node_mut(parent).first_child = next;
            if let Some(next) = unlink(next) {
                // The new first child inherits the link to the last one.
                self.node_mut(next).prev_sibling = prev;
            }
        } else {
            if let Some(prev) = unlink(prev) {
                self.node_mut(prev).next_sibling = next;
            }
            match unlink(next) {
                Some(next) => self.node_mut(next).prev_sibling = prev,
                None => {
                    if let Some(first) = unlink(first) {
                        self.node_mut(first).prev_sibling = prev;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
