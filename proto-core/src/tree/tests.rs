//! Tree behaviour: Stat rules (5.3), reserved nodes (6.5), sequential names (6.3), bounds,
//! ACL sharing, ephemerals, snapshot round trip, and a model check.

extern crate std;

use super::*;
use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

/// Heap storage for a tree, as the std shell would allocate it.
struct Backing {
    nodes: Vec<Node>,
    index: Vec<u32>,
    bytes: Vec<u8>,
    acls: Vec<AclSlot>,
    sessions: Vec<SessionSlot>,
}

impl Backing {
    fn new(znodes: u32, bytes: usize, acls: usize, sessions: u32) -> Backing {
        Backing {
            nodes: vec![Node::EMPTY; znodes as usize],
            index: vec![0; TreeStorage::index_slots(znodes)],
            bytes: vec![0; bytes],
            acls: vec![AclSlot::EMPTY; acls],
            sessions: vec![SessionSlot::EMPTY; TreeStorage::session_slots(sessions)],
        }
    }

    fn roomy() -> Backing {
        Backing::new(256, 1 << 16, 16, 8)
    }

    fn tree(&mut self) -> Tree<'_> {
        Tree::new(TreeStorage {
            nodes: &mut self.nodes,
            index: &mut self.index,
            bytes: &mut self.bytes,
            acls: &mut self.acls,
            sessions: &mut self.sessions,
        })
        .unwrap()
    }
}

/// An empty `vector<ACL>` (the tree stores lists as given; validation is not its job).
const EMPTY_ACL: &[u8] = &[0, 0, 0, 0];

/// An ACL list other than the reserved ones: `[ALL digest:u:x]`.
const DIGEST_ACL: &[u8] =
    &[0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 6, b'd', b'i', b'g', b'e', b's', b't', 0, 0, 0, 3, b'u', b':', b'x'];

fn z(counter: u32) -> Zxid {
    Zxid::new(1, counter)
}

fn path(tree: &Tree, id: NodeId) -> Vec<u8> {
    let mut buf = [0u8; 512];
    tree.write_path(id, &mut buf).unwrap().to_vec()
}

fn create(tree: &mut Tree, full: &str, data: &[u8], zxid: Zxid) -> NodeId {
    let (parent, name) = split_parent(full.as_bytes()).unwrap();
    let parent = tree.lookup(parent).unwrap();
    tree.create(parent, name, Some(data), OPEN_ACL_UNSAFE, NodeKind::Persistent, zxid, 1000 + zxid.counter() as i64)
        .unwrap()
}

/// One node as a reader sees it: path, Stat, persisted fields, data, ACL, kind.
type NodeView = (Vec<u8>, Stat, StatPersisted, Option<Vec<u8>>, Vec<u8>, NodeKind);

/// Everything a reader can observe, in preorder.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    nodes: Vec<NodeView>,
    znodes: u32,
    ephemerals: u32,
    data_bytes: u64,
    approximate_data_size: u64,
    acl_lists: u32,
    bytes_requested: u64,
    bytes_allocated: u64,
}

fn snapshot(tree: &Tree) -> Snapshot {
    let stats = tree.stats();
    Snapshot {
        nodes: tree
            .preorder()
            .map(|id| {
                (
                    path(tree, id),
                    tree.stat(id),
                    tree.stat_persisted(id),
                    tree.data(id).map(<[u8]>::to_vec),
                    tree.node_acl(id).to_vec(),
                    tree.kind(id),
                )
            })
            .collect(),
        znodes: stats.znodes,
        ephemerals: stats.ephemerals,
        data_bytes: stats.data_bytes,
        approximate_data_size: stats.approximate_data_size,
        acl_lists: stats.acl_lists,
        bytes_requested: stats.arena.bytes_requested,
        bytes_allocated: stats.arena.bytes_allocated,
    }
}

/// Structural invariants, through the public API: every node is reachable by its path,
/// child lists agree with parents and counts, ephemeral lists with owners.
fn assert_consistent(tree: &Tree) {
    let all: Vec<NodeId> = tree.preorder().collect();
    assert_eq!(all.len() as u32, tree.znode_count());
    let mut eph = 0;
    for &id in &all {
        let full = path(tree, id);
        assert_eq!(tree.lookup(&full), Some(id), "{full:?}");
        let kids: Vec<NodeId> = tree.children(id).map(|(k, _)| k).collect();
        assert_eq!(kids.len() as u32, tree.num_children(id));
        assert!(kids.iter().all(|&k| tree.parent(k) == Some(id)));
        if let NodeKind::Ephemeral(s) = tree.kind(id) {
            eph += 1;
            assert!(tree.ephemerals(s).any(|e| e == id));
        }
        assert_eq!(tree.descendants(id), tree.subtree(id).count() as u64 - 1);
    }
    assert_eq!(eph, tree.ephemeral_count());
}

#[test]
fn fresh_tree_holds_the_reserved_nodes() {
    let mut b = Backing::roomy();
    let tree = b.tree();
    assert_eq!(tree.znode_count(), 4);
    let root = tree.lookup(b"/").unwrap();
    assert_eq!(tree.lookup(b""), Some(root));
    assert_eq!(root, tree.root());
    // Section 5.2: the derived cversion of a fresh tree.
    assert_eq!(tree.stat(root), Stat { cversion: -1, num_children: 1, ..Stat::default() });
    let zk = tree.lookup(b"/zookeeper").unwrap();
    assert_eq!(tree.stat(zk), Stat { cversion: -2, num_children: 2, ..Stat::default() });
    let quota = tree.lookup(b"/zookeeper/quota").unwrap();
    assert_eq!(tree.stat(quota), Stat::default());
    let config = tree.lookup(b"/zookeeper/config").unwrap();
    assert_eq!(tree.stat(config), Stat { aversion: -1, ..Stat::default() });
    for id in [root, zk, quota, config] {
        assert_eq!(tree.data(id), Some(&b""[..]), "reserved data is empty, not null");
        assert_eq!(tree.kind(id), NodeKind::Persistent);
        assert_eq!(tree.stored_cversion(id), 0);
    }
    assert_eq!(tree.node_acl(root), OPEN_ACL_UNSAFE);
    assert_eq!(tree.node_acl(zk), OPEN_ACL_UNSAFE);
    assert_eq!(tree.node_acl(quota), OPEN_ACL_UNSAFE);
    assert_eq!(tree.node_acl(config), READ_ACL_UNSAFE);
    assert_eq!(tree.acl_refs(tree.acl(root)), 3);
    assert_eq!(tree.stats().acl_lists, 2);
    assert_eq!(path(&tree, config), b"/zookeeper/config");
    assert_eq!(path(&tree, root), b"/");
    assert_eq!(tree.parent(config), Some(zk));
    assert_eq!(tree.parent(root), None);
    assert_eq!(tree.name(config), b"config");
    assert_eq!(tree.name(root), b"");
    let kids: Vec<_> = tree.children(zk).map(|(_, n)| n.to_vec()).collect();
    assert_eq!(kids, [b"quota".to_vec(), b"config".to_vec()]);
    assert_eq!(tree.descendants(root), 3);
    // "/" + "/zookeeper" + "/zookeeper/quota" + "/zookeeper/config"
    assert_eq!(tree.stats().approximate_data_size, 1 + 10 + 16 + 17);
}

#[test]
fn malformed_paths_do_not_resolve() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    create(&mut tree, "/a", b"", z(1));
    create(&mut tree, "/a/b", b"", z(2));
    assert!(tree.lookup(b"/a/b").is_some());
    for bad in [&b"a"[..], b"/a/", b"//a", b"/a//b", b"/a/b/", b"/a/./b", b"/zookeeper/", b"/nope", b"/a/b/c"] {
        assert_eq!(tree.lookup(bad), None, "{:?}", core::str::from_utf8(bad));
    }
}

#[test]
fn create_sets_node_and_parent_stat() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"hello", z(5));
    assert_eq!(
        tree.stat(a),
        Stat {
            czxid: z(5).as_wire(),
            mzxid: z(5).as_wire(),
            ctime: 1005,
            mtime: 1005,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 0,
            pzxid: z(5).as_wire(),
        }
    );
    let root = tree.root();
    // Stored cversion 0 → 1, two children: derived 2·1 − 2 = 0.
    assert_eq!(tree.stored_cversion(root), 1);
    assert_eq!(tree.stat(root).cversion, 0);
    assert_eq!(tree.stat(root).pzxid, z(5).as_wire());
    assert_eq!(tree.stat(root).num_children, 2);
    // Root's own mzxid is untouched by a child create.
    assert_eq!(tree.stat(root).mzxid, 0);
    let b_ = create(&mut tree, "/a/b", b"", z(6));
    assert_eq!(tree.stat(a).cversion, 1);
    assert_eq!(tree.stat(a).pzxid, z(6).as_wire());
    assert_eq!(tree.stat(a).mzxid, z(5).as_wire());
    assert_eq!(tree.data(b_), Some(&b""[..]));
    assert_eq!(tree.stat(b_).data_length, 0);
}

#[test]
fn delete_updates_parent_but_not_stored_cversion() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"", z(1));
    let c1 = create(&mut tree, "/a/c1", b"x", z(2));
    create(&mut tree, "/a/c2", b"", z(3));
    assert_eq!(tree.stat(a).cversion, 2);
    tree.delete(c1, z(9)).unwrap();
    let s = tree.stat(a);
    assert_eq!(tree.stored_cversion(a), 2, "delete leaves the stored counter");
    assert_eq!(s.num_children, 1);
    assert_eq!(s.cversion, 3, "derived cversion counts the delete");
    assert_eq!(s.pzxid, z(9).as_wire());
    assert_eq!(tree.lookup(b"/a/c1"), None);
    assert!(!tree.contains(c1));
    // pzxid only rises.
    let c2 = tree.lookup(b"/a/c2").unwrap();
    tree.delete(c2, z(4)).unwrap();
    assert_eq!(tree.stat(a).pzxid, z(9).as_wire());
    assert_eq!(tree.stat(a).cversion, 4);
}

#[test]
fn delete_refusals() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"", z(1));
    let child = create(&mut tree, "/a/b", b"", z(2));
    let before = snapshot(&tree);
    assert_eq!(tree.delete(a, z(3)), Err(TreeError::NotEmpty));
    assert_eq!(tree.delete(tree.root(), z(3)), Err(TreeError::IsRoot));
    assert_eq!(snapshot(&tree), before);
    tree.delete(child, z(3)).unwrap();
    assert_eq!(tree.delete(child, z(4)), Err(TreeError::NoNode));
    assert_eq!(tree.delete(NodeId(9999), z(4)), Err(TreeError::NoNode));
    tree.delete(a, z(4)).unwrap();
    assert_eq!(tree.znode_count(), 4);
}

#[test]
fn set_data_and_set_acl_rules() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"one", z(1));
    let s = tree.set_data(a, Some(b"two!"), z(2), 2000).unwrap();
    assert_eq!((s.version, s.mzxid, s.mtime, s.data_length), (1, z(2).as_wire(), 2000, 4));
    assert_eq!((s.czxid, s.ctime, s.pzxid), (z(1).as_wire(), 1001, z(1).as_wire()));
    assert_eq!(tree.data(a), Some(&b"two!"[..]));
    assert_eq!(tree.stat(tree.root()).pzxid, z(1).as_wire(), "setData does not touch the parent");
    // Null data is distinct from empty data.
    let s = tree.set_data(a, None, z(3), 3000).unwrap();
    assert_eq!((s.version, s.data_length), (2, 0));
    assert_eq!(tree.data(a), None);
    tree.set_data(a, Some(b""), z(4), 4000).unwrap();
    assert_eq!(tree.data(a), Some(&b""[..]));
    // A large value moves the blob; the name survives.
    let big = vec![7u8; 5000];
    tree.set_data(a, Some(&big), z(5), 5000).unwrap();
    assert_eq!(tree.data(a), Some(&big[..]));
    assert_eq!(tree.name(a), b"a");
    assert_eq!(tree.lookup(b"/a"), Some(a));
    // setACL: aversion + 1, mzxid and mtime unchanged.
    let s = tree.set_acl(a, DIGEST_ACL).unwrap();
    assert_eq!((s.aversion, s.mzxid, s.mtime, s.version), (1, z(5).as_wire(), 5000, 4));
    assert_eq!(tree.node_acl(a), DIGEST_ACL);
    // Version arithmetic wraps as Java's int does.
    let restored = StatPersisted { version: i32::MAX, ..tree.stat_persisted(a) };
    tree.restore(Some(tree.root()), b"a", Some(b""), DIGEST_ACL, &restored).unwrap();
    assert_eq!(tree.set_data(a, Some(b"w"), z(6), 6000).unwrap().version, i32::MIN);
}

#[test]
fn reconfig_sets_version_minus_one() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let config = tree.lookup(b"/zookeeper/config").unwrap();
    let text = b"server.1=a:2888:3888:participant;0.0.0.0:2181\nversion=100000000";
    let s = tree.set_data_version(config, Some(text), -1, z(0x10), 7).unwrap();
    assert_eq!((s.version, s.mzxid, s.aversion), (-1, z(0x10).as_wire(), -1));
    assert_eq!(tree.data(config), Some(&text[..]));
}

#[test]
fn sequential_names_use_the_stored_counter_and_wrap() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let q = create(&mut tree, "/q", b"", z(1));
    let mut buf = [0u8; 64];
    let mut names = Vec::new();
    for i in 0..3 {
        let name = sequential_name(b"lock-", tree.stored_cversion(q), &mut buf).unwrap().to_vec();
        let id = tree.create(q, &name, None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(2 + i), 0).unwrap();
        names.push(name);
        if i == 1 {
            tree.delete(id, z(10)).unwrap();
        }
    }
    // The delete did not rewind the counter, so no name repeats.
    assert_eq!(names, [b"lock-0000000000".to_vec(), b"lock-0000000001".to_vec(), b"lock-0000000002".to_vec()]);
    // At i32::MAX the next create wraps the counter to the negative range.
    let stat = StatPersisted { cversion: i32::MAX, ..tree.stat_persisted(q) };
    tree.restore(Some(tree.root()), b"q", Some(b""), OPEN_ACL_UNSAFE, &stat).unwrap();
    let name = sequential_name(b"", tree.stored_cversion(q), &mut buf).unwrap().to_vec();
    assert_eq!(name, b"2147483647");
    tree.create(q, &name, None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(20), 0).unwrap();
    assert_eq!(tree.stored_cversion(q), i32::MIN);
    let name = sequential_name(b"", tree.stored_cversion(q), &mut buf).unwrap().to_vec();
    assert_eq!(name, b"-2147483648");
    let id = tree.create(q, &name, None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(21), 0).unwrap();
    assert_eq!(tree.lookup(b"/q/-2147483648"), Some(id));
    // A colliding name fails and leaves the counter where it was.
    let before = tree.stored_cversion(q);
    let taken = b"lock-0000000000";
    assert_eq!(
        tree.create(q, taken, None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(22), 0),
        Err(TreeError::NodeExists)
    );
    assert_eq!(tree.stored_cversion(q), before);
}

#[test]
fn create_refusals_change_nothing() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"", z(1));
    let before = snapshot(&tree);
    let root = tree.root();
    let cases: &[(NodeId, &[u8], NodeKind, TreeError)] = &[
        (root, b"a", NodeKind::Persistent, TreeError::NodeExists),
        (root, b"zookeeper", NodeKind::Persistent, TreeError::NodeExists),
        (root, b"", NodeKind::Persistent, TreeError::BadName),
        (root, b"x/y", NodeKind::Persistent, TreeError::BadName),
        (NodeId(200), b"x", NodeKind::Persistent, TreeError::NoNode),
        (root, b"x", NodeKind::Ephemeral(SessionId(0)), TreeError::BadKind),
        (root, b"x", NodeKind::Ttl(TTL_MS_MAX + 1), TreeError::BadKind),
    ];
    for &(parent, name, kind, err) in cases {
        assert_eq!(tree.create(parent, name, None, OPEN_ACL_UNSAFE, kind, z(2), 0), Err(err), "{name:?}");
    }
    let huge = vec![0u8; crate::arena::BLOCK_BYTES_MAX as usize];
    assert_eq!(
        tree.create(a, b"h", Some(&huge), OPEN_ACL_UNSAFE, NodeKind::Persistent, z(2), 0),
        Err(TreeError::TooLarge)
    );
    assert_eq!(tree.set_data(a, Some(&huge), z(2), 0), Err(TreeError::TooLarge));
    assert_eq!(snapshot(&tree), before);
}

#[test]
fn node_table_exhaustion() {
    let mut b = Backing::new(6, 4096, 8, 4);
    let mut tree = b.tree();
    assert_eq!(tree.capacity().znodes, 6);
    let a = create(&mut tree, "/a", b"", z(1));
    create(&mut tree, "/b", b"", z(2));
    let before = snapshot(&tree);
    let root = tree.root();
    assert_eq!(
        tree.create(root, b"c", None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(3), 0),
        Err(TreeError::NodesFull)
    );
    assert_eq!(snapshot(&tree), before);
    // Usable: a freed slot is reused.
    tree.delete(a, z(3)).unwrap();
    let c = create(&mut tree, "/c", b"", z(4));
    assert_eq!(c, a, "the freed slot is reused");
    assert_eq!(tree.lookup(b"/c"), Some(c));
    assert_eq!(tree.lookup(b"/a"), None);
}

#[test]
fn index_bounds_the_node_capacity() {
    // 100 node slots but an 8-slot index: at most 6 znodes keep probing short.
    let mut b = Backing::new(100, 4096, 8, 4);
    b.index = vec![0; 8];
    let tree = b.tree();
    assert_eq!(tree.capacity().znodes, 6);
}

#[test]
fn byte_arena_exhaustion() {
    let mut b = Backing::new(64, 512, 8, 4);
    let mut tree = b.tree();
    let mut made = 0;
    let root = tree.root();
    let mut last_ok = None;
    loop {
        let name = [b'n', b'0' + made];
        match tree.create(
            root,
            &name,
            Some(&[1u8; 40]),
            OPEN_ACL_UNSAFE,
            NodeKind::Persistent,
            z(u32::from(made) + 1),
            0,
        ) {
            Ok(id) => {
                made += 1;
                last_ok = Some(id);
            }
            Err(e) => {
                assert_eq!(e, TreeError::BytesFull);
                break;
            }
        }
    }
    assert!(made >= 3);
    let before = snapshot(&tree);
    let victim = last_ok.unwrap();
    // setData that needs a larger block fails and keeps the old data.
    assert_eq!(tree.set_data(victim, Some(&[2u8; 200]), z(50), 0), Err(TreeError::BytesFull));
    // A new ACL list needs bytes too.
    assert_eq!(tree.set_acl(victim, DIGEST_ACL), Err(TreeError::BytesFull));
    assert_eq!(snapshot(&tree), before);
    // Usable: after a delete the bytes come back.
    tree.delete(victim, z(51)).unwrap();
    let id = tree.create(root, b"again", Some(&[3u8; 40]), OPEN_ACL_UNSAFE, NodeKind::Persistent, z(52), 0).unwrap();
    assert_eq!(tree.data(id), Some(&[3u8; 40][..]));
}

#[test]
fn acl_table_exhaustion() {
    let mut b = Backing::new(64, 4096, 2, 4);
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"", z(1));
    let before = snapshot(&tree);
    let root = tree.root();
    assert_eq!(tree.create(root, b"d", None, DIGEST_ACL, NodeKind::Persistent, z(2), 0), Err(TreeError::AclsFull));
    assert_eq!(tree.set_acl(a, DIGEST_ACL), Err(TreeError::AclsFull));
    assert_eq!(snapshot(&tree), before);
    // Once READ_ACL_UNSAFE's only user switches away, its slot is free for a new list.
    let config = tree.lookup(b"/zookeeper/config").unwrap();
    tree.set_acl(config, OPEN_ACL_UNSAFE).unwrap();
    let d = tree.create(root, b"d", None, DIGEST_ACL, NodeKind::Persistent, z(2), 0).unwrap();
    assert_eq!(tree.node_acl(d), DIGEST_ACL);
}

#[test]
fn session_table_exhaustion() {
    let mut b = Backing::new(64, 4096, 8, 1);
    let mut tree = b.tree();
    assert_eq!(tree.capacity().ephemeral_sessions, 1);
    let root = tree.root();
    let s1 = SessionId(0x100);
    let s2 = SessionId(0x200);
    let e1 = tree.create(root, b"e1", None, OPEN_ACL_UNSAFE, NodeKind::Ephemeral(s1), z(1), 0).unwrap();
    tree.create(root, b"e2", None, OPEN_ACL_UNSAFE, NodeKind::Ephemeral(s1), z(2), 0).unwrap();
    let before = snapshot(&tree);
    assert_eq!(
        tree.create(root, b"f", None, OPEN_ACL_UNSAFE, NodeKind::Ephemeral(s2), z(3), 0),
        Err(TreeError::SessionsFull)
    );
    assert_eq!(snapshot(&tree), before);
    // Persistent nodes need no session slot.
    tree.create(root, b"p", None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(3), 0).unwrap();
    // Once s1's last ephemeral goes, s2 fits.
    tree.delete(e1, z(4)).unwrap();
    let e2 = tree.lookup(b"/e2").unwrap();
    tree.delete(e2, z(5)).unwrap();
    assert_eq!(tree.stats().ephemeral_sessions, 0);
    tree.create(root, b"f", None, OPEN_ACL_UNSAFE, NodeKind::Ephemeral(s2), z(6), 0).unwrap();
}

#[test]
fn too_small_storage_is_refused() {
    let mut b = Backing::new(3, 4096, 8, 1);
    let r = Tree::new(TreeStorage {
        nodes: &mut b.nodes,
        index: &mut b.index,
        bytes: &mut b.bytes,
        acls: &mut b.acls,
        sessions: &mut b.sessions,
    });
    assert_eq!(r.err(), Some(TreeError::NodesFull));
    let mut b = Backing::new(8, 4096, 1, 1);
    let r = Tree::new(TreeStorage {
        nodes: &mut b.nodes,
        index: &mut b.index,
        bytes: &mut b.bytes,
        acls: &mut b.acls,
        sessions: &mut b.sessions,
    });
    assert_eq!(r.err(), Some(TreeError::AclsFull));
    let mut b = Backing::new(8, 40, 8, 1);
    let r = Tree::new(TreeStorage {
        nodes: &mut b.nodes,
        index: &mut b.index,
        bytes: &mut b.bytes,
        acls: &mut b.acls,
        sessions: &mut b.sessions,
    });
    assert_eq!(r.err(), Some(TreeError::BytesFull));
}

#[test]
fn acl_lists_are_shared_and_released() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let root = tree.root();
    let ids: Vec<NodeId> = (0..3u8)
        .map(|i| {
            tree.create(root, &[b'a' + i], None, DIGEST_ACL, NodeKind::Persistent, z(u32::from(i) + 1), 0).unwrap()
        })
        .collect();
    let acl = tree.acl(ids[0]);
    assert!(ids.iter().all(|&id| tree.acl(id) == acl));
    assert_eq!(tree.find_acl(DIGEST_ACL), Some(acl));
    assert_eq!(tree.acl_refs(acl), 3);
    assert_eq!(tree.stats().acl_lists, 3);
    assert_eq!(tree.acl_lists().count(), 3);
    tree.delete(ids[0], z(10)).unwrap();
    assert_eq!(tree.acl_refs(acl), 2);
    tree.set_acl(ids[1], OPEN_ACL_UNSAFE).unwrap();
    assert_eq!(tree.acl_refs(acl), 1);
    // Setting the same list again keeps it alive.
    tree.set_acl(ids[2], DIGEST_ACL).unwrap();
    assert_eq!(tree.acl_refs(acl), 1);
    assert_eq!(tree.acl_bytes(acl), DIGEST_ACL);
    let arena_before = tree.stats().arena.bytes_requested;
    tree.delete(ids[2], z(11)).unwrap();
    assert_eq!(tree.find_acl(DIGEST_ACL), None);
    assert_eq!(tree.acl_bytes(acl), b"");
    assert_eq!(tree.stats().acl_lists, 2);
    // The list's bytes and the node's name went back to the arena.
    assert_eq!(tree.stats().arena.bytes_requested, arena_before - DIGEST_ACL.len() as u64 - 1);
}

#[test]
fn ephemerals_follow_create_and_delete() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let root = tree.root();
    let s1 = SessionId(0x0100_0000_0000_0001);
    let s2 = SessionId(0x0100_0000_0000_0002);
    let mk =
        |tree: &mut Tree, name: &[u8], kind, c| tree.create(root, name, None, OPEN_ACL_UNSAFE, kind, z(c), 0).unwrap();
    let e1 = mk(&mut tree, b"e1", NodeKind::Ephemeral(s1), 1);
    let e2 = mk(&mut tree, b"e2", NodeKind::Ephemeral(s1), 2);
    let f1 = mk(&mut tree, b"f1", NodeKind::Ephemeral(s2), 3);
    let e3 = mk(&mut tree, b"e3", NodeKind::Ephemeral(s1), 4);
    mk(&mut tree, b"p", NodeKind::Persistent, 5);
    mk(&mut tree, b"c", NodeKind::Container, 6);
    mk(&mut tree, b"t", NodeKind::Ttl(5000), 7);
    assert_eq!(tree.ephemeral_count(), 4);
    assert_eq!(tree.ephemerals(s1).collect::<Vec<_>>(), [e3, e2, e1]);
    assert_eq!(tree.ephemerals(s2).collect::<Vec<_>>(), [f1]);
    assert_eq!(tree.ephemerals(SessionId(99)).count(), 0);
    assert_eq!(tree.stat(e1).ephemeral_owner, s1.0);
    assert_eq!(tree.kind(f1), NodeKind::Ephemeral(s2));
    // Middle, head, tail removals.
    tree.delete(e2, z(8)).unwrap();
    assert_eq!(tree.ephemerals(s1).collect::<Vec<_>>(), [e3, e1]);
    tree.delete(e3, z(9)).unwrap();
    assert_eq!(tree.ephemerals(s1).collect::<Vec<_>>(), [e1]);
    tree.delete(e1, z(10)).unwrap();
    assert_eq!(tree.ephemerals(s1).count(), 0);
    assert_eq!(tree.ephemerals(s2).collect::<Vec<_>>(), [f1]);
    assert_eq!(tree.ephemeral_count(), 1);
    assert_eq!(tree.stats().ephemeral_sessions, 1);
}

#[test]
fn container_and_ttl_nodes_show_owner_zero() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let root = tree.root();
    let c = tree.create(root, b"c", None, OPEN_ACL_UNSAFE, NodeKind::Container, z(1), 0).unwrap();
    let t = tree.create(root, b"t", None, OPEN_ACL_UNSAFE, NodeKind::Ttl(60_000), z(2), 0).unwrap();
    assert_eq!(tree.stat(c).ephemeral_owner, 0);
    assert_eq!(tree.stat(t).ephemeral_owner, 0);
    assert_eq!(tree.kind(c), NodeKind::Container);
    assert_eq!(tree.kind(t), NodeKind::Ttl(60_000));
    assert_eq!(tree.stat_persisted(c).ephemeral_owner, i64::MIN);
    assert_eq!(tree.stat_persisted(t).ephemeral_owner as u64, 0xFF00_0000_0000_EA60);
    assert_eq!(tree.ephemeral_count(), 0);
}

#[test]
fn children_descendants_and_paths() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"", z(1));
    for (i, name) in ["/a/x", "/a/y", "/a/z", "/a/y/deep", "/a/y/deep/er"].iter().enumerate() {
        create(&mut tree, name, b"", z(2 + i as u32));
    }
    let kids: Vec<_> = tree.children(a).map(|(_, n)| n.to_vec()).collect();
    assert_eq!(kids, [b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
    assert_eq!(tree.num_children(a), 3);
    assert_eq!(tree.descendants(a), 5);
    assert_eq!(tree.descendants(tree.lookup(b"/a/z").unwrap()), 0);
    let deep = tree.lookup(b"/a/y/deep/er").unwrap();
    assert_eq!(path(&tree, deep), b"/a/y/deep/er");
    assert_eq!(tree.path_len(deep), 12);
    let mut small = [0u8; 11];
    assert_eq!(tree.write_path(deep, &mut small), None);
    // Removing the middle child keeps order; a new child goes last.
    tree.delete(tree.lookup(b"/a/y/deep/er").unwrap(), z(20)).unwrap();
    tree.delete(tree.lookup(b"/a/y/deep").unwrap(), z(21)).unwrap();
    tree.delete(tree.lookup(b"/a/y").unwrap(), z(22)).unwrap();
    create(&mut tree, "/a/w", b"", z(23));
    let kids: Vec<_> = tree.children(a).map(|(_, n)| n.to_vec()).collect();
    assert_eq!(kids, [b"x".to_vec(), b"z".to_vec(), b"w".to_vec()]);
    // First and last removals.
    tree.delete(tree.lookup(b"/a/x").unwrap(), z(24)).unwrap();
    tree.delete(tree.lookup(b"/a/w").unwrap(), z(25)).unwrap();
    let kids: Vec<_> = tree.children(a).map(|(_, n)| n.to_vec()).collect();
    assert_eq!(kids, [b"z".to_vec()]);
    create(&mut tree, "/a/v", b"", z(26));
    let kids: Vec<_> = tree.children(a).map(|(_, n)| n.to_vec()).collect();
    assert_eq!(kids, [b"z".to_vec(), b"v".to_vec()]);
    let order: Vec<_> = tree.preorder().map(|id| path(&tree, id)).collect();
    let expect: [&[u8]; 7] = [b"/", b"/zookeeper", b"/zookeeper/quota", b"/zookeeper/config", b"/a", b"/a/z", b"/a/v"];
    assert_eq!(order, expect);
}

#[test]
fn dead_ids_read_as_nothing() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let a = create(&mut tree, "/a", b"data", z(1));
    tree.delete(a, z(2)).unwrap();
    assert_eq!(tree.stat(a), Stat::default());
    assert_eq!(tree.data(a), None);
    assert_eq!(tree.name(a), b"");
    assert_eq!(tree.children(a).count(), 0);
    assert_eq!(tree.subtree(a).count(), 0);
    assert_eq!(tree.node_acl(a), b"");
    assert_eq!(tree.set_data(a, None, z(3), 0), Err(TreeError::NoNode));
    assert_eq!(tree.set_acl(a, OPEN_ACL_UNSAFE), Err(TreeError::NoNode));
    let far = NodeId(u32::MAX);
    assert_eq!(tree.stat(far), Stat::default());
    assert_eq!(tree.write_path(far, &mut [0u8; 8]), None);
}

/// Builds a varied tree: all kinds, null and empty data, several ACLs, deletes in between.
fn varied(tree: &mut Tree) {
    let root = tree.root();
    let s = SessionId(0x0100_0000_0000_00AA);
    let a = tree.create(root, b"app", Some(b"cfg=1"), DIGEST_ACL, NodeKind::Persistent, z(1), 10).unwrap();
    tree.create(a, b"null", None, OPEN_ACL_UNSAFE, NodeKind::Persistent, z(2), 20).unwrap();
    let gone = tree.create(a, b"gone", Some(b""), OPEN_ACL_UNSAFE, NodeKind::Persistent, z(3), 30).unwrap();
    tree.create(a, b"eph", Some(b"e"), READ_ACL_UNSAFE, NodeKind::Ephemeral(s), z(4), 40).unwrap();
    let c = tree.create(root, b"box", None, OPEN_ACL_UNSAFE, NodeKind::Container, z(5), 50).unwrap();
    tree.create(c, b"ttl", Some(b"t"), OPEN_ACL_UNSAFE, NodeKind::Ttl(1234), z(6), 60).unwrap();
    tree.delete(gone, z(7)).unwrap();
    tree.set_data(a, Some(b"cfg=2"), z(8), 80).unwrap();
    tree.set_acl(c, DIGEST_ACL).unwrap();
    let config = tree.lookup(b"/zookeeper/config").unwrap();
    tree.set_data_version(config, Some(b"version=1"), -1, z(9), 90).unwrap();
}

#[test]
fn preorder_restore_round_trip() {
    let mut b1 = Backing::roomy();
    let mut t1 = b1.tree();
    varied(&mut t1);
    let original = snapshot(&t1);

    let mut b2 = Backing::roomy();
    let mut t2 = b2.tree();
    let mut buf = [0u8; 512];
    for id in t1.preorder() {
        let full = t1.write_path(id, &mut buf).unwrap();
        let parent = if id == t1.root() {
            None
        } else {
            let (parent_path, _) = split_parent(full).unwrap();
            Some(t2.lookup(parent_path).unwrap())
        };
        let restored = t2.restore(parent, t1.name(id), t1.data(id), t1.node_acl(id), &t1.stat_persisted(id)).unwrap();
        assert_eq!(t2.stat_persisted(restored), t1.stat_persisted(id));
    }
    assert_eq!(snapshot(&t2), original);
    assert_consistent(&t2);
    let s = SessionId(0x0100_0000_0000_00AA);
    assert_eq!(t2.ephemerals(s).count(), 1);
    assert_eq!(t2.acl_refs(t2.find_acl(DIGEST_ACL).unwrap()), 2);
    // The rebuilt tree keeps working: the next sequential name continues the counter.
    let app = t2.lookup(b"/app").unwrap();
    assert_eq!(t2.stored_cversion(app), 3);
}

#[test]
fn restore_refuses_a_kind_change_and_bad_records() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let zk = tree.lookup(b"/zookeeper").unwrap();
    let root = tree.root();
    let eph = StatPersisted { ephemeral_owner: 77, ..StatPersisted::default() };
    assert_eq!(tree.restore(Some(root), b"zookeeper", None, OPEN_ACL_UNSAFE, &eph), Err(TreeError::NodeExists));
    let bad = StatPersisted { ephemeral_owner: 0xFF00_0100_0000_0000u64 as i64, ..StatPersisted::default() };
    assert_eq!(tree.restore(Some(zk), b"x", None, OPEN_ACL_UNSAFE, &bad), Err(TreeError::BadKind));
    assert_eq!(tree.restore(None, b"x", None, OPEN_ACL_UNSAFE, &StatPersisted::default()), Err(TreeError::BadName));
    assert_eq!(
        tree.restore(Some(NodeId(77)), b"x", None, OPEN_ACL_UNSAFE, &StatPersisted::default()),
        Err(TreeError::NoNode)
    );
    assert_eq!(tree.znode_count(), 4);
}

#[test]
fn stats_track_bytes() {
    let mut b = Backing::roomy();
    let mut tree = b.tree();
    let base = tree.stats();
    let a = create(&mut tree, "/abc", b"12345", z(1));
    let s = tree.stats();
    assert_eq!(s.znodes, base.znodes + 1);
    assert_eq!(s.data_bytes, 5);
    assert_eq!(s.approximate_data_size, base.approximate_data_size + 4 + 5);
    assert_eq!(s.arena.bytes_requested, base.arena.bytes_requested + 3 + 5);
    tree.set_data(a, Some(b"1"), z(2), 0).unwrap();
    assert_eq!(tree.stats().data_bytes, 1);
    tree.delete(a, z(3)).unwrap();
    assert_eq!(tree.stats(), TreeStats { arena: tree.stats().arena, ..base });
    assert_eq!(tree.stats().arena.bytes_requested, base.arena.bytes_requested);
}

#[test]
fn node_size_is_documented() {
    assert_eq!(NODE_BYTES, 112);
    assert_eq!(core::mem::size_of::<AclSlot>(), 24);
    assert_eq!(core::mem::size_of::<SessionSlot>(), 16);
}

// ----- model check -------------------------------------------------------------------------

mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Create { parent: usize, name: u8, data: Option<Vec<u8>>, eph: Option<u8> },
        Delete { target: usize },
        SetData { target: usize, data: Option<Vec<u8>> },
        SetAcl { target: usize, digest: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        let data = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..48));
        prop_oneof![
            4 => (any::<usize>(), 0u8..6, data.clone(), proptest::option::of(1u8..4))
                .prop_map(|(parent, name, data, eph)| Op::Create { parent, name, data, eph }),
            2 => any::<usize>().prop_map(|target| Op::Delete { target }),
            2 => (any::<usize>(), data).prop_map(|(target, data)| Op::SetData { target, data }),
            1 => (any::<usize>(), any::<bool>()).prop_map(|(target, digest)| Op::SetAcl { target, digest }),
        ]
    }

    /// What the model knows of a node.
    #[derive(Clone, Debug, PartialEq)]
    struct M {
        data: Option<Vec<u8>>,
        version: i32,
        aversion: i32,
        cversion: i32,
        pzxid: u64,
        owner: i64,
        digest: bool,
    }

    fn parent_of(path: &[u8]) -> Vec<u8> {
        split_parent(path).unwrap().0.to_vec()
    }

    fn check(tree: &Tree, model: &BTreeMap<Vec<u8>, M>) {
        assert_eq!(tree.znode_count() as usize, model.len() + 3, "plus /zookeeper and two children");
        for (p, m) in model {
            let id = tree.lookup(p).unwrap_or_else(|| panic!("{p:?} missing"));
            let kids = model.keys().filter(|k| *k != p && parent_of(k) == *p).count();
            let s = tree.stat(id);
            assert_eq!(tree.data(id).map(<[u8]>::to_vec), m.data, "{p:?}");
            assert_eq!(s.version, m.version);
            assert_eq!(s.aversion, m.aversion);
            assert_eq!(s.num_children as usize, kids + usize::from(p == b"/"));
            assert_eq!(tree.stored_cversion(id), m.cversion);
            assert_eq!(s.pzxid as u64, m.pzxid);
            assert_eq!(tree.stat_persisted(id).ephemeral_owner, m.owner);
            let acl = if m.digest { DIGEST_ACL } else { OPEN_ACL_UNSAFE };
            assert_eq!(tree.node_acl(id), acl);
            let mut names: Vec<Vec<u8>> =
                tree.children(id).map(|(_, n)| n.to_vec()).filter(|n| n != b"zookeeper").collect();
            names.sort();
            let mut expect: Vec<Vec<u8>> = model
                .keys()
                .filter(|k| *k != p && parent_of(k) == *p)
                .map(|k| split_parent(k).unwrap().1.to_vec())
                .collect();
            expect.sort();
            assert_eq!(names, expect, "children of {p:?}");
        }
        let eph = model.values().filter(|m| m.owner != 0).count();
        assert_eq!(tree.ephemeral_count() as usize, eph);
        for s in 1..4i64 {
            let listed = tree.ephemerals(SessionId(s)).count();
            assert_eq!(listed, model.values().filter(|m| m.owner == s).count());
        }
        let data: u64 = model.values().map(|m| m.data.as_ref().map_or(0, |d| d.len() as u64)).sum();
        assert_eq!(tree.stats().data_bytes, data);
        let digest_users = model.values().filter(|m| m.digest).count() as u32;
        assert_eq!(tree.find_acl(DIGEST_ACL).map_or(0, |a| tree.acl_refs(a)), digest_users);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn tree_agrees_with_a_map(ops in proptest::collection::vec(op(), 1..120)) {
            let mut b = Backing::new(40, 1 << 14, 8, 8);
            let mut tree = b.tree();
            let mut model: BTreeMap<Vec<u8>, M> = BTreeMap::new();
            let fresh = M { data: Some(vec![]), version: 0, aversion: 0, cversion: 0, pzxid: 0, owner: 0, digest: false };
            model.insert(b"/".to_vec(), fresh.clone());
            let mut zxid = 0u32;
            for op in ops {
                zxid += 1;
                let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
                let pick = |i: usize| keys[i % keys.len()].clone();
                match op {
                    Op::Create { parent, name, data, eph } => {
                        let pp = pick(parent);
                        let name = [b'a' + name];
                        let full = if pp == b"/" { [b"/".as_slice(), &name].concat() } else { [pp.as_slice(), b"/", &name].concat() };
                        let kind = eph.map_or(NodeKind::Persistent, |s| NodeKind::Ephemeral(SessionId(i64::from(s))));
                        let pid = tree.lookup(&pp).unwrap();
                        let got = tree.create(pid, &name, data.as_deref(), OPEN_ACL_UNSAFE, kind, z(zxid), 0);
                        if model.contains_key(&full) {
                            prop_assert_eq!(got, Err(TreeError::NodeExists));
                        } else if model.len() + 3 >= 40 {
                            prop_assert_eq!(got, Err(TreeError::NodesFull));
                        } else {
                            prop_assert!(got.is_ok());
                            let parent = model.get_mut(&pp).unwrap();
                            parent.cversion += 1;
                            parent.pzxid = z(zxid).0;
                            let owner = kind.to_owner().unwrap();
                            model.insert(full, M { data, pzxid: z(zxid).0, owner, ..fresh.clone() });
                        }
                    }
                    Op::Delete { target } => {
                        let p = pick(target);
                        let id = tree.lookup(&p).unwrap();
                        let got = tree.delete(id, z(zxid));
                        let has_kids = model.keys().any(|k| *k != p && parent_of(k) == p);
                        if p == b"/" {
                            prop_assert_eq!(got, Err(TreeError::IsRoot));
                        } else if has_kids {
                            prop_assert_eq!(got, Err(TreeError::NotEmpty));
                        } else {
                            prop_assert_eq!(got, Ok(()));
                            model.remove(&p);
                            let parent = model.get_mut(&parent_of(&p)).unwrap();
                            parent.pzxid = parent.pzxid.max(z(zxid).0);
                        }
                    }
                    Op::SetData { target, data } => {
                        let p = pick(target);
                        let id = tree.lookup(&p).unwrap();
                        let s = tree.set_data(id, data.as_deref(), z(zxid), 0).unwrap();
                        let m = model.get_mut(&p).unwrap();
                        m.version += 1;
                        m.data = data;
                        prop_assert_eq!(s.version, m.version);
                    }
                    Op::SetAcl { target, digest } => {
                        let p = pick(target);
                        let id = tree.lookup(&p).unwrap();
                        let acl = if digest { DIGEST_ACL } else { OPEN_ACL_UNSAFE };
                        tree.set_acl(id, acl).unwrap();
                        let m = model.get_mut(&p).unwrap();
                        m.aversion += 1;
                        m.digest = digest;
                    }
                }
                check(&tree, &model);
                assert_consistent(&tree);
            }
        }

        #[test]
        fn failures_in_a_tight_arena_change_nothing(ops in proptest::collection::vec(op(), 1..80)) {
            // Small enough that every bound is hit: bytes, ACL slots (three lists in play
            // besides READ_ACL_UNSAFE), one session with ephemerals.
            let mut b = Backing::new(40, 512, 3, 1);
            let mut tree = b.tree();
            let mut zxid = 0u32;
            for op in ops {
                zxid += 1;
                let ids: Vec<NodeId> = tree.preorder().collect();
                let pick = |i: usize| ids[i % ids.len()];
                let before = snapshot(&tree);
                let failed = match op {
                    Op::Create { parent, name, data, eph } => {
                        let kind = eph.map_or(NodeKind::Persistent, |s| NodeKind::Ephemeral(SessionId(i64::from(s))));
                        tree.create(pick(parent), &[b'a' + name], data.as_deref(), DIGEST_ACL, kind, z(zxid), 0).is_err()
                    }
                    Op::Delete { target } => tree.delete(pick(target), z(zxid)).is_err(),
                    Op::SetData { target, data } => tree.set_data(pick(target), data.as_deref(), z(zxid), 0).is_err(),
                    Op::SetAcl { target, digest } => {
                        let acl = if digest { DIGEST_ACL } else { EMPTY_ACL };
                        tree.set_acl(pick(target), acl).is_err()
                    }
                };
                if failed {
                    prop_assert_eq!(snapshot(&tree), before);
                }
                assert_consistent(&tree);
                let s = tree.stats().arena;
                prop_assert!(s.bytes_allocated + s.bytes_free_listed <= s.capacity);
                prop_assert!(s.bytes_requested <= s.bytes_allocated);
            }
        }
    }
}
