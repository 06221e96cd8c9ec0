//! One znode's slot in the node table, and the stored `ephemeralOwner` encodings.
//!
//! A [`Node`] is plain integers and all-zero bytes are an empty slot, so the shell can hand
//! in zeroed, lazily-mapped memory for millions of slots and pay only for those used.

use crate::arena::Block;
use crate::ids::SessionId;
use crate::stat::Stat;
use crate::zxid::Zxid;

/// A link to another slot: its index + 1, with 0 meaning "none" so zeroed memory links
/// nowhere.
pub(super) type Link = u32;

/// No slot.
pub(super) const NONE: Link = 0;

/// The link naming slot `index`.
pub(super) const fn link(index: u32) -> Link {
    index + 1
}

/// The slot a link names, if any.
pub(super) const fn unlink(link: Link) -> Option<u32> {
    link.checked_sub(1)
}

/// A znode's index in the node table; valid until that znode is deleted (slots are reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(super) u32);

impl NodeId {
    /// The root znode `/`, always slot 0.
    pub const ROOT: NodeId = NodeId(0);

    /// The slot index (stable for the node's lifetime).
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// Stored `ephemeralOwner` of a container (section 5.4): `Long.MIN_VALUE`.
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// Top byte of a stored `ephemeralOwner` that marks an extended type (TTL).
const EXTENDED_MASK: u64 = 0xFF00_0000_0000_0000;

/// Bits 40–55: the extended type, 0 = TTL.
const EXTENDED_TYPE_MASK: u64 = 0x00FF_FF00_0000_0000;

/// Largest TTL a TTL node's stored owner can carry (low 40 bits), about 34 years.
pub const TTL_MS_MAX: u64 = (1 << 40) - 1;

/// What kind of znode this is, decoded from its stored `ephemeralOwner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Lives until deleted.
    Persistent,
    /// Deleted when the owning session ends.
    Ephemeral(SessionId),
    /// Reaped by the leader once its last child is gone.
    Container,
    /// Reaped by the leader when childless and unmodified for this many ms.
    Ttl(u64),
}

impl NodeKind {
    /// The stored `ephemeralOwner` (section 5.4), or `None` for a kind it cannot encode:
    /// an ephemeral of session 0 or of a session id that reads as a marker, a TTL too long.
    pub const fn to_owner(self) -> Option<i64> {
        match self {
            NodeKind::Persistent => Some(0),
            NodeKind::Ephemeral(SessionId(id)) => {
                if id == 0 || id == CONTAINER_OWNER || (id as u64 & EXTENDED_MASK) == EXTENDED_MASK {
                    None
                } else {
                    Some(id)
                }
            }
            NodeKind::Container => Some(CONTAINER_OWNER),
            NodeKind::Ttl(ms) => {
                if ms > TTL_MS_MAX {
                    None
                } else {
                    Some((EXTENDED_MASK | ms) as i64)
                }
            }
        }
    }

    /// Decodes a stored `ephemeralOwner` as ZooKeeper does with extended types enabled;
    /// `None` for an extended type other than TTL.
    pub const fn from_owner(owner: i64) -> Option<NodeKind> {
        let bits = owner as u64;
        if owner == 0 {
            Some(NodeKind::Persistent)
        } else if owner == CONTAINER_OWNER {
            Some(NodeKind::Container)
        } else if bits & EXTENDED_MASK == EXTENDED_MASK {
            if bits & EXTENDED_TYPE_MASK == 0 {
                Some(NodeKind::Ttl(bits & TTL_MS_MAX))
            } else {
                None
            }
        } else {
            Some(NodeKind::Ephemeral(SessionId(owner)))
        }
    }

    /// The owning session of a normal ephemeral.
    pub const fn session(self) -> Option<SessionId> {
        match self {
            NodeKind::Ephemeral(session) => Some(session),
            _ => None,
        }
    }
}

/// A znode's persisted metadata (jute `StatPersisted`): what a snapshot stores and
/// [`super::Tree::restore`] takes back. `cversion` is the stored create counter and
/// `ephemeral_owner` the stored encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatPersisted {
    /// Zxid of the create.
    pub czxid: Zxid,
    /// Zxid of the last data change.
    pub mzxid: Zxid,
    /// Ms of the create.
    pub ctime: i64,
    /// Ms of the last data change.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Stored child create counter (not the client-visible cversion).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Stored owner encoding (section 5.4).
    pub ephemeral_owner: i64,
    /// Zxid of the last child create or delete.
    pub pzxid: Zxid,
}

/// Bit of [`Node::flags`]: the slot holds a znode.
pub(super) const FLAG_LIVE: u32 = 1;
/// Bit of [`Node::flags`]: the data is null (distinct from empty).
pub(super) const FLAG_DATA_NULL: u32 = 2;

/// One slot of the node table: 112 bytes of plain integers; all-zero is [`Node::EMPTY`].
///
/// The blob block holds the node's own name component followed by its data; full paths are
/// never stored. Links are slot index + 1 (0 = none).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub(super) czxid: u64,
    pub(super) mzxid: u64,
    pub(super) pzxid: u64,
    pub(super) ctime: i64,
    pub(super) mtime: i64,
    /// Stored `ephemeralOwner` (section 5.4).
    pub(super) owner: i64,
    pub(super) version: i32,
    /// Stored cversion: child creates only.
    pub(super) cversion: i32,
    pub(super) aversion: i32,
    pub(super) num_children: u32,
    pub(super) parent: Link,
    pub(super) first_child: Link,
    /// Next sibling; the last child has none. In a free slot: the next free slot.
    pub(super) next_sibling: Link,
    /// Previous sibling; the first child's points at the last child, so appends are O(1).
    pub(super) prev_sibling: Link,
    /// Next ephemeral of the same session.
    pub(super) eph_next: Link,
    /// Previous ephemeral of the same session (none for the list head).
    pub(super) eph_prev: Link,
    pub(super) blob_offset: u32,
    pub(super) name_len: u32,
    pub(super) data_len: u32,
    /// Hash of (parent, name): finds the node's home in the child index without the arena.
    pub(super) name_hash: u32,
    /// Slot in the ACL cache.
    pub(super) acl: u32,
    pub(super) flags: u32,
}

/// Size of a node slot, the dominant per-znode cost besides the blob.
pub const NODE_BYTES: usize = core::mem::size_of::<Node>();

const _: () = assert!(NODE_BYTES == 112);

impl Node {
    /// An empty slot: all-zero bytes.
    pub const EMPTY: Node = Node {
        czxid: 0,
        mzxid: 0,
        pzxid: 0,
        ctime: 0,
        mtime: 0,
        owner: 0,
        version: 0,
        cversion: 0,
        aversion: 0,
        num_children: 0,
        parent: NONE,
        first_child: NONE,
        next_sibling: NONE,
        prev_sibling: NONE,
        eph_next: NONE,
        eph_prev: NONE,
        blob_offset: 0,
        name_len: 0,
        data_len: 0,
        name_hash: 0,
        acl: 0,
        flags: 0,
    };

    pub(super) const fn is_live(&self) -> bool {
        self.flags & FLAG_LIVE != 0
    }

    pub(super) const fn data_is_null(&self) -> bool {
        self.flags & FLAG_DATA_NULL != 0
    }

    /// The arena block holding name then data.
    pub(super) const fn blob(&self) -> Block {
        Block { offset: self.blob_offset, len: self.name_len.wrapping_add(self.data_len) }
    }

    pub(super) const fn kind(&self) -> NodeKind {
        match NodeKind::from_owner(self.owner) {
            Some(kind) => kind,
            // Only encodable owners are ever stored.
            None => NodeKind::Persistent,
        }
    }

    /// The client-visible Stat (section 5.2): cversion derived, owner 0 unless ephemeral.
    pub(super) fn stat(&self) -> Stat {
        let num_children = self.num_children as i32;
        Stat {
            czxid: self.czxid as i64,
            mzxid: self.mzxid as i64,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: self.kind().session().map_or(0, |s| s.0),
            data_length: self.data_len as i32,
            num_children,
            pzxid: self.pzxid as i64,
        }
    }

    pub(super) fn stat_persisted(&self) -> StatPersisted {
        StatPersisted {
            czxid: Zxid(self.czxid),
            mzxid: Zxid(self.mzxid),
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.owner,
            pzxid: Zxid(self.pzxid),
        }
    }

    pub(super) fn set_persisted(&mut self, stat: &StatPersisted) {
        self.czxid = stat.czxid.0;
        self.mzxid = stat.mzxid.0;
        self.ctime = stat.ctime;
        self.mtime = stat.mtime;
        self.version = stat.version;
        self.cversion = stat.cversion;
        self.aversion = stat.aversion;
        self.owner = stat.ephemeral_owner;
        self.pzxid = stat.pzxid.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_encodings_follow_section_5_4() {
        assert_eq!(NodeKind::Persistent.to_owner(), Some(0));
        assert_eq!(NodeKind::Container.to_owner(), Some(i64::MIN));
        assert_eq!(NodeKind::Ttl(5000).to_owner(), Some(0xFF00_0000_0000_1388u64 as i64));
        assert_eq!(NodeKind::Ttl(TTL_MS_MAX + 1).to_owner(), None);
        assert_eq!(NodeKind::Ephemeral(SessionId(0x0100_0000_0000_0001)).to_owner(), Some(0x0100_0000_0000_0001));
        assert_eq!(NodeKind::Ephemeral(SessionId(0)).to_owner(), None);
        assert_eq!(NodeKind::Ephemeral(SessionId(i64::MIN)).to_owner(), None);
        assert_eq!(NodeKind::Ephemeral(SessionId(0xFF00_0000_0000_0001u64 as i64)).to_owner(), None);
        for kind in [
            NodeKind::Persistent,
            NodeKind::Container,
            NodeKind::Ttl(0),
            NodeKind::Ttl(TTL_MS_MAX),
            NodeKind::Ephemeral(SessionId(0x8000_0000_0000_0005u64 as i64)), // server id 128
            NodeKind::Ephemeral(SessionId(42)),
        ] {
            assert_eq!(NodeKind::from_owner(kind.to_owner().unwrap()), Some(kind));
        }
        // An extended type other than TTL is refused, as ZooKeeper refuses it.
        assert_eq!(NodeKind::from_owner(0xFF00_0100_0000_0000u64 as i64), None);
    }

    #[test]
    fn empty_slot_is_all_zero_and_dead() {
        assert!(!Node::EMPTY.is_live());
        assert_eq!(Node::EMPTY.blob(), Block::EMPTY);
        assert_eq!(Node::EMPTY.stat(), Stat::default());
        assert_eq!(NODE_BYTES, 112);
    }

    #[test]
    fn stat_derives_cversion_and_hides_marker_owners() {
        let mut n = Node::EMPTY;
        n.cversion = 3;
        n.num_children = 2;
        n.owner = CONTAINER_OWNER;
        let s = n.stat();
        assert_eq!(s.cversion, 4);
        assert_eq!(s.ephemeral_owner, 0);
        n.owner = 77;
        n.cversion = i32::MAX;
        n.num_children = 0;
        assert_eq!(n.stat().ephemeral_owner, 77);
        assert_eq!(n.stat().cversion, -2); // Java int arithmetic
    }
}
