//! Write validation: turns a client's write request into a txn, or into the error code
//! ZooKeeper's `PrepRequestProcessor` would give, checking in ZooKeeper's order (section 6.2).
//!
//! A multi validates each op against the tree *as changed by its earlier ops*; the
//! [`Overlay`] holds those pending changes (ZooKeeper's `outstandingChanges`), so nothing
//! touches the tree until every op has passed.

use heapless::Vec as HVec;

use crate::acl::{self, AclEntry, AuthId, FixupError, Perms};
use crate::ids::Version;
use crate::jute::{AclList, CreateMode, ErrorCode, OpCode};
use crate::tree::{sequential_name, split_parent, validate_path, NodeKind, Tree, TreeBudget, TTL_MS_MAX};
use crate::txn::{CreateKind, TxnOp};

/// Most ops one multi may hold; ZooKeeper bounds it only by the packet size, and a 1 MiB
/// packet of the smallest ops (a 2-byte-path delete is 22 bytes) holds ~47k. This keeps the
/// pending-change table small on a board; a larger multi gets BadArguments.
pub const MULTI_OPS_MAX: usize = 1024;

/// Pending changes: at most two nodes (the node and its parent) per op.
const OVERLAY_ENTRIES_MAX: usize = 2 * MULTI_OPS_MAX;

/// What validation needs to know of one node.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    /// Data version.
    pub version: i32,
    /// ACL version.
    pub aversion: i32,
    /// Stored child-create counter (sequential suffixes come from it).
    pub cversion: i32,
    /// Child count.
    pub children: i32,
    /// A normal ephemeral (no children allowed).
    pub ephemeral: bool,
    /// Its ACL list, jute-encoded.
    pub acl: &'a [u8],
}

/// The counters an op may change on an existing node.
struct Counters {
    version: i32,
    aversion: i32,
    cversion: i32,
    children: i32,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    path: (u32, u32),
    acl: (u32, u32),
    deleted: bool,
    version: i32,
    aversion: i32,
    cversion: i32,
    children: i32,
    ephemeral: bool,
}

/// Pending changes of a multi, newest last; paths and ACLs copied into `buf`.
pub struct Overlay<'b> {
    entries: HVec<Entry, OVERLAY_ENTRIES_MAX>,
    buf: &'b mut [u8],
    used: usize,
}

impl<'b> Overlay<'b> {
    /// An empty overlay storing its bytes in `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Overlay { entries: HVec::new(), buf, used: 0 }
    }

    fn bytes(&self, (at, len): (u32, u32)) -> &[u8] {
        self.buf.get(at as usize..(at as usize).saturating_add(len as usize)).unwrap_or(&[])
    }

    fn store(&mut self, bytes: &[u8]) -> Result<(u32, u32), ErrorCode> {
        let end = self.used.checked_add(bytes.len()).ok_or(ErrorCode::BadArguments)?;
        let dst = self.buf.get_mut(self.used..end).ok_or(ErrorCode::BadArguments)?;
        dst.copy_from_slice(bytes);
        let at = self.used as u32;
        self.used = end;
        Ok((at, bytes.len() as u32))
    }

    fn find(&self, path: &[u8]) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| self.bytes(e.path) == path)
    }

    fn record_deleted(&mut self, path: &[u8]) -> Result<(), ErrorCode> {
        let p = self.store(path)?;
        let entry = Entry {
            path: p,
            acl: (0, 0),
            deleted: true,
            version: 0,
            aversion: 0,
            cversion: 0,
            children: 0,
            ephemeral: false,
        };
        self.entries.push(entry).map_err(|_| ErrorCode::BadArguments)
    }
}

/// Validation context for one request (or one multi).
pub struct Prep<'t, 's, 'b> {
    /// The applied state.
    pub tree: &'t Tree<'s>,
    /// Changes of earlier ops of the same multi.
    pub overlay: Overlay<'b>,
    /// Record changes in the overlay (only a multi needs to).
    pub track: bool,
    /// The caller's auth ids.
    pub ids: &'t [AuthId],
    /// TTL nodes allowed (`extendedTypesEnabled`).
    pub extended_types: bool,
    /// For a multi: the tree's room, so that an op that would not fit fails validation
    /// (QuotaExceeded) instead of failing half-way through applying.
    pub budget: Option<TreeBudget>,
}

/// The pieces of a create request, whichever opcode carried it.
#[derive(Clone, Copy, Debug)]
pub struct CreateArgs<'x> {
    /// create, create2, createContainer or createTTL.
    pub opcode: OpCode,
    /// Requested path (before a sequential suffix).
    pub path: &'x [u8],
    /// Initial data.
    pub data: Option<&'x [u8]>,
    /// Requested ACL.
    pub acl: AclList<'x>,
    /// Create flags.
    pub flags: i32,
    /// TTL in ms, −1 for non-TTL opcodes.
    pub ttl: i64,
}

fn is_reserved(path: &[u8]) -> bool {
    matches!(path, b"/" | b"/zookeeper" | b"/zookeeper/quota" | b"/zookeeper/config")
}

fn check_perm(acl: &[u8], wanted: Perms, ids: &[AuthId]) -> Result<(), ErrorCode> {
    if acl::check(acl, wanted, ids) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn check_version(expected: Version, current: i32) -> Result<(), ErrorCode> {
    if expected.matches(current) {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

/// Validates a requested ACL list and writes the list to store into `out` (9.5).
pub fn fixup_acl<'o>(acl: &AclList<'_>, ids: &[AuthId], out: &'o mut [u8]) -> Result<&'o [u8], ErrorCode> {
    let entries = acl.iter().map(|a| AclEntry::new(Perms(a.perms), a.scheme, a.id));
    acl::fixup(entries, ids, out).map_err(|e| match e {
        FixupError::NullId => ErrorCode::MarshallingError,
        FixupError::InvalidAcl | FixupError::TooManyEntries | FixupError::OutputFull => ErrorCode::InvalidAcl,
    })
}

impl<'t, 's, 'b> Prep<'t, 's, 'b> {
    /// The node at `path` as earlier ops of this request left it.
    pub fn node(&self, path: &[u8]) -> Option<NodeView<'_>> {
        if let Some(e) = self.overlay.find(path) {
            if e.deleted {
                return None;
            }
            return Some(NodeView {
                version: e.version,
                aversion: e.aversion,
                cversion: e.cversion,
                children: e.children,
                ephemeral: e.ephemeral,
                acl: self.overlay.bytes(e.acl),
            });
        }
        let id = self.tree.lookup(path)?;
        let stat = self.tree.stat(id);
        Some(NodeView {
            version: stat.version,
            aversion: stat.aversion,
            cversion: self.tree.stored_cversion(id),
            children: stat.num_children,
            ephemeral: matches!(self.tree.kind(id), NodeKind::Ephemeral(_)),
            acl: self.tree.node_acl(id),
        })
    }

    /// Records in the overlay that `path` (which exists) changed by `change`.
    fn track(&mut self, path: &[u8], change: impl FnOnce(&mut Counters)) -> Result<(), ErrorCode> {
        if !self.track {
            return Ok(());
        }
        let Some(view) = self.node(path) else { return Ok(()) };
        let mut c = Counters {
            version: view.version,
            aversion: view.aversion,
            cversion: view.cversion,
            children: view.children,
        };
        let ephemeral = view.ephemeral;
        change(&mut c);
        // Reuse the overlay's copy of the ACL when there is one; else copy it from the tree.
        let acl = match self.overlay.find(path) {
            Some(e) => e.acl,
            None => {
                let tree = self.tree;
                let id = tree.lookup(path).ok_or(ErrorCode::NoNode)?;
                self.overlay.store(tree.node_acl(id))?
            }
        };
        let p = self.overlay.store(path)?;
        self.overlay
            .entries
            .push(Entry {
                path: p,
                acl,
                deleted: false,
                version: c.version,
                aversion: c.aversion,
                cversion: c.cversion,
                children: c.children,
                ephemeral,
            })
            .map_err(|_| ErrorCode::BadArguments)
    }

    /// create / create2 / createContainer / createTTL. `path_out` receives the final path,
    /// `acl_out` the fixed-up ACL list.
    pub fn create<'x>(
        &mut self,
        args: &CreateArgs<'x>,
        path_out: &'x mut [u8],
        acl_out: &'x mut [u8],
    ) -> Result<TxnOp<'x>, ErrorCode> {
        // 1. flags → mode.
        let mode = CreateMode::from_flag(args.flags).ok_or(ErrorCode::BadArguments)?;
        // 2. TTL rules (EphemeralType.validateTTL).
        if mode.is_ttl() {
            if !self.extended_types {
                return Err(ErrorCode::Unimplemented);
            }
            if args.ttl <= 0 || args.ttl as u64 > TTL_MS_MAX {
                return Err(ErrorCode::BadArguments);
            }
        } else if args.ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        if args.opcode == OpCode::CreateTtl && !mode.is_ttl() {
            return Err(ErrorCode::BadArguments);
        }
        // 4. a '/' somewhere and no NUL.
        let path = args.path;
        if !path.contains(&b'/') || path.contains(&0) {
            return Err(ErrorCode::BadArguments);
        }
        // 5. ACL.
        let acl = fixup_acl(&args.acl, self.ids, acl_out)?;
        // 6. parent.
        let (parent_path, _) = split_parent(path).ok_or(ErrorCode::BadArguments)?;
        let parent = self.node(parent_path).ok_or(ErrorCode::NoNode)?;
        // 7. CREATE on the parent.
        check_perm(parent.acl, Perms::CREATE, self.ids)?;
        // 8. sequential suffix from the parent's stored create counter.
        let final_path: &'x [u8] = if mode.is_sequential() {
            sequential_name(path, parent.cversion, path_out).ok_or(ErrorCode::BadArguments)?
        } else {
            path
        };
        // 9. full syntax.
        validate_path(final_path).map_err(|_| ErrorCode::BadArguments)?;
        // 10. exists.
        if self.node(final_path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        // 11. no children under ephemerals.
        if parent.ephemeral {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        if let Some(budget) = self.budget.as_mut() {
            let name_len = split_parent(final_path).map_or(0, |(_, name)| name.len());
            let new_acl = self.tree.find_acl(acl).is_none().then_some(acl.len());
            budget
                .take_create(name_len, args.data.map_or(0, <[u8]>::len), new_acl)
                .map_err(|_| ErrorCode::QuotaExceeded)?;
        }
        // createContainer makes a container whatever the flags say (ZooKeeper writes a
        // CreateContainerTxn); only their sequential bit counts.
        let kind = if args.opcode == OpCode::CreateContainer {
            CreateKind::Container
        } else if mode.is_ephemeral() {
            CreateKind::Ephemeral
        } else if mode.is_ttl() {
            CreateKind::Ttl(args.ttl as u64)
        } else {
            CreateKind::Persistent
        };
        if self.track {
            self.track(parent_path, |p| {
                p.cversion = p.cversion.wrapping_add(1);
                p.children += 1;
            })?;
            let p = self.overlay.store(final_path)?;
            let a = self.overlay.store(acl)?;
            self.overlay
                .entries
                .push(Entry {
                    path: p,
                    acl: a,
                    deleted: false,
                    version: 0,
                    aversion: 0,
                    cversion: 0,
                    children: 0,
                    ephemeral: kind == CreateKind::Ephemeral,
                })
                .map_err(|_| ErrorCode::BadArguments)?;
        }
        Ok(TxnOp::Create { path: final_path, data: args.data, acl, kind })
    }

    /// delete (ZooKeeper's order: parent, DELETE on parent, node, version, children).
    pub fn delete<'x>(&mut self, path: &'x [u8], version: Version) -> Result<TxnOp<'x>, ErrorCode> {
        if !path.contains(&b'/') || path.contains(&0) || is_reserved(path) {
            return Err(ErrorCode::BadArguments);
        }
        let (parent_path, _) = split_parent(path).ok_or(ErrorCode::BadArguments)?;
        let parent = self.node(parent_path).ok_or(ErrorCode::NoNode)?;
        check_perm(parent.acl, Perms::DELETE, self.ids)?;
        let node = self.node(path).ok_or(ErrorCode::NoNode)?;
        check_version(version, node.version)?;
        if node.children > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        if let Some(budget) = self.budget.as_mut() {
            budget.give_node();
            // The blob's size is known for a node of the applied tree, unchanged by this multi;
            // anything else gives back only its slot (conservative).
            if self.overlay.find(path).is_none() {
                let tree = self.tree;
                if let Some(id) = tree.lookup(path) {
                    budget.give_blob(tree.name(id).len(), tree.data(id).map_or(0, <[u8]>::len));
                }
            }
        }
        if self.track {
            self.track(parent_path, |p| p.children -= 1)?;
            self.overlay.record_deleted(path)?;
        }
        Ok(TxnOp::Delete { path })
    }

    /// setData.
    pub fn set_data<'x>(
        &mut self,
        path: &'x [u8],
        data: Option<&'x [u8]>,
        version: Version,
    ) -> Result<TxnOp<'x>, ErrorCode> {
        validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.node(path).ok_or(ErrorCode::NoNode)?;
        check_perm(node.acl, Perms::WRITE, self.ids)?;
        check_version(version, node.version)?;
        if let Some(budget) = self.budget.as_mut() {
            let name_len = split_parent(path).map_or(0, |(_, name)| name.len());
            budget.take_blob(name_len, data.map_or(0, <[u8]>::len)).map_err(|_| ErrorCode::QuotaExceeded)?;
        }
        self.track(path, |n| n.version = n.version.wrapping_add(1))?;
        Ok(TxnOp::SetData { path, data })
    }

    /// setACL.
    pub fn set_acl<'x>(
        &mut self,
        path: &'x [u8],
        acl: &AclList<'_>,
        version: Version,
        acl_out: &'x mut [u8],
    ) -> Result<TxnOp<'x>, ErrorCode> {
        validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
        let acl = fixup_acl(acl, self.ids, acl_out)?;
        let node = self.node(path).ok_or(ErrorCode::NoNode)?;
        check_perm(node.acl, Perms::ADMIN, self.ids)?;
        check_version(version, node.aversion)?;
        self.track(path, |n| n.aversion = n.aversion.wrapping_add(1))?;
        Ok(TxnOp::SetAcl { path, acl })
    }

    /// check (multi only): no txn, just the verdict.
    pub fn check(&mut self, path: &[u8], version: Version) -> Result<(), ErrorCode> {
        validate_path(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.node(path).ok_or(ErrorCode::NoNode)?;
        check_perm(node.acl, Perms::READ, self.ids)?;
        check_version(version, node.version)
    }
}
