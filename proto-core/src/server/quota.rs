//! ZooKeeper's quota statistics: the `count=N,bytes=M` text each `zookeeper_stats` node under
//! `/zookeeper/quota` holds for the subtree it watches, kept up to date by every create,
//! delete and setData (DataTree's updateQuotaStat, updateQuotaForPath and
//! getMaxPrefixWithQuota; StatsTrack's text format).
//!
//! The rules, as ZooKeeper 3.8 applies them:
//! - `/zookeeper/quota` + P + `/zookeeper_limits` existing puts a quota on path P (ZooKeeper
//!   keeps that set in a path trie, updated as such nodes are created and deleted; here the
//!   tree is asked directly, so nothing extra is stored or persisted);
//! - a change at path X is charged to the longest quota'd P that is X or an ancestor of it,
//!   never to `/`; the charge rewrites P's stats node (a missing one is skipped);
//! - creating a node named `zookeeper_stats` whose parent path starts with
//!   `/zookeeper/quota` sets it to the count and bytes of the whole subtree it names, as it
//!   stands then (itself included when it lies inside it);
//! - a stats node is rewritten in place: no txn, no watch, no version or mzxid change.
//!
//! Nothing here runs for a write while `/zookeeper/quota` has no children, beyond checking
//! that (and a name compare on creates).
//!
//! Enforcement (`zookeeper.enforceQuota`) is off by default in ZooKeeper and is not done.
//!
//! Known departures, all on inputs no ZooKeeper tool writes: ZooKeeper's trie drops
//! whitespace-only path components and accepts `/zookeeper/quotaX/zookeeper_limits` as a quota
//! on `/X`; it throws (failing the server) on stats text it cannot parse or on null stats
//! data, where herd leaves the text unchanged, as it does when the text is not ASCII-numeric
//! or exceeds [`STATS_KEYS_MAX`] / [`STATS_BYTES_MAX`], or when the arena has no room.

use core::fmt::{self, Write as _};

use crate::acl::java_parse_long;
use crate::tree::{NodeId, Tree};

/// The directory of quota nodes (`Quotas.quotaZookeeper`).
pub const QUOTA_ZOOKEEPER: &[u8] = b"/zookeeper/quota";

/// Name of the node whose presence puts a quota on a path (`Quotas.limitNode`).
pub const LIMIT_NODE: &[u8] = b"zookeeper_limits";

/// Name of the node holding a quota's statistics (`Quotas.statNode`).
pub const STAT_NODE: &[u8] = b"zookeeper_stats";

/// Distinct keys a stats text may hold and still be rewritten: zkCli writes two (count,
/// bytes) and limits texts hold four; the rest is room for foreign keys.
pub const STATS_KEYS_MAX: usize = 8;

/// Longest stats text herd rewrites: zkCli's are under 60 bytes, so this leaves room for
/// every count and byte total an i64 holds plus a few foreign keys, on the stack.
pub const STATS_BYTES_MAX: usize = 256;

/// StatsTrack's key for the node count.
const COUNT: &[u8] = b"count";

/// StatsTrack's key for the byte total.
const BYTES: &[u8] = b"bytes";

/// Remembers where `/zookeeper/quota` is, so a write checks for quotas without hashing.
#[derive(Clone, Copy, Debug)]
pub struct QuotaDir(Option<NodeId>);

impl QuotaDir {
    /// Finds `/zookeeper/quota` in `tree`.
    pub fn new(tree: &Tree<'_>) -> Self {
        QuotaDir(tree.lookup(QUOTA_ZOOKEEPER))
    }

    /// `/zookeeper/quota` if it has children (so some quota may exist), else `None`. The
    /// remembered id is checked by its names and looked up again if stale.
    fn active(&mut self, tree: &Tree<'_>) -> Option<NodeId> {
        let dir = match self.0 {
            Some(id) if is_quota_dir(tree, id) => id,
            _ => {
                self.0 = tree.lookup(QUOTA_ZOOKEEPER);
                self.0?
            }
        };
        (tree.num_children(dir) > 0).then_some(dir)
    }

    /// After `id` was created at `path` with `data_len` bytes of data.
    pub fn created(&mut self, tree: &mut Tree<'_>, id: NodeId, path: &[u8], data_len: usize) {
        if let Some(parent) = path.strip_suffix(STAT_NODE).and_then(|p| p.strip_suffix(b"/")) {
            // ZooKeeper tests the parent as a string, so `/zookeeper/quotaX` matches too.
            if let Some(watched) = parent.strip_prefix(QUOTA_ZOOKEEPER) {
                recount(tree, id, watched);
            }
        }
        self.charge(tree, path, len_i64(data_len), 1);
    }

    /// After the node at `path`, which held `data_len` bytes of data, was deleted.
    pub fn deleted(&mut self, tree: &mut Tree<'_>, path: &[u8], data_len: usize) {
        self.charge(tree, path, len_i64(data_len).wrapping_neg(), -1);
    }

    /// After the data at `path` changed from `old_len` to `new_len` bytes.
    pub fn data_changed(&mut self, tree: &mut Tree<'_>, path: &[u8], old_len: usize, new_len: usize) {
        self.charge(tree, path, len_i64(new_len).wrapping_sub(len_i64(old_len)), 0);
    }

    /// Adds the diffs to the stats of the quota charged for `path` (updateQuotaStat).
    fn charge(&mut self, tree: &mut Tree<'_>, path: &[u8], bytes: i64, count: i64) {
        let Some(dir) = self.active(tree) else { return };
        let Some(stats) = charged_stats(tree, dir, path) else { return };
        let mut buf = [0u8; STATS_BYTES_MAX];
        let len = {
            let Some(text) = tree.data(stats) else { return };
            let Some(mut track) = StatsTrack::parse(text) else { return };
            let (c, b) = (track.get(COUNT).wrapping_add(count), track.get(BYTES).wrapping_add(bytes));
            if track.set(COUNT, c).is_none() || track.set(BYTES, b).is_none() {
                return;
            }
            let Some(len) = track.write(&mut buf) else { return };
            len
        };
        replace_data(tree, stats, buf.get(..len).unwrap_or_default());
    }
}

fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Whether `id` is `/zookeeper/quota`, judged by names alone.
fn is_quota_dir(tree: &Tree<'_>, id: NodeId) -> bool {
    let Some(zookeeper) = tree.parent(id) else { return false };
    tree.name(id) == b"quota" && tree.name(zookeeper) == b"zookeeper" && tree.parent(zookeeper) == Some(tree.root())
}

/// The stats node of the longest quota'd ancestor-or-self of `path`, `/` excluded
/// (getMaxPrefixWithQuota, then statPath). Walks `/zookeeper/quota` alongside the path.
fn charged_stats(tree: &Tree<'_>, dir: NodeId, path: &[u8]) -> Option<NodeId> {
    let mut at = dir;
    let mut best = None;
    for name in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let Some(next) = tree.child(at, name) else { break };
        at = next;
        if tree.child(at, LIMIT_NODE).is_some() {
            best = Some(at);
        }
    }
    tree.child(best?, STAT_NODE)
}

/// Sets the new stats node `stats` to the count and data bytes of the subtree at `watched`
/// (the empty path being `/`), or to zeros if there is none (updateQuotaForPath).
fn recount(tree: &mut Tree<'_>, stats: NodeId, watched: &[u8]) {
    let (mut count, mut bytes) = (0i64, 0i64);
    if let Some(top) = tree.lookup(watched) {
        for id in tree.subtree(top) {
            count = count.wrapping_add(1);
            bytes = bytes.wrapping_add(len_i64(tree.data(id).map_or(0, <[u8]>::len)));
        }
    }
    let mut track = StatsTrack::EMPTY;
    let mut buf = [0u8; STATS_BYTES_MAX];
    let written = track.set(COUNT, count).and_then(|()| track.set(BYTES, bytes)).and_then(|()| track.write(&mut buf));
    if let Some(len) = written {
        replace_data(tree, stats, buf.get(..len).unwrap_or_default());
    }
}

/// Replaces a stats node's data as ZooKeeper does, behind the Stat's back: version, mzxid and
/// mtime stay. Without arena room the old text stays (the write it accounts for has happened).
fn replace_data(tree: &mut Tree<'_>, id: NodeId, data: &[u8]) {
    let st = tree.stat_persisted(id);
    let _ = tree.set_data_version(id, Some(data), st.version, st.mzxid, st.mtime);
}

/// StatsTrack: `key=value` pairs, values i64, a missing key reading as −1.
#[derive(Clone, Copy, Debug)]
struct StatsTrack<'a> {
    pairs: [(&'a [u8], i64); STATS_KEYS_MAX],
    len: usize,
}

impl<'a> StatsTrack<'a> {
    const EMPTY: StatsTrack<'static> = StatsTrack { pairs: [(&[], 0); STATS_KEYS_MAX], len: 0 };

    /// Parses as StatsTrack(String) does: pairs separated by runs of `,` or `;`, each split
    /// on `=` with trailing empty parts dropped, the second part the value (empty: −1), a
    /// repeated key keeping its last value. `None` where ZooKeeper would throw, or beyond
    /// [`STATS_KEYS_MAX`] keys.
    fn parse(text: &'a [u8]) -> Option<Self> {
        let mut track = StatsTrack::EMPTY;
        let is_sep = |b: &u8| *b == b',' || *b == b';';
        if text.iter().all(is_sep) {
            // Empty text, or nothing but separators, which Java's split reduces to no pairs.
            return Some(track);
        }
        for (i, pair) in text.split(is_sep).enumerate() {
            // Runs of separators are one, and trailing empty pieces are dropped; only a
            // leading separator leaves an empty piece, which Java cannot parse.
            if pair.is_empty() {
                if i == 0 {
                    return None;
                }
                continue;
            }
            let mut parts = pair.split(|&b| b == b'=');
            let key = parts.next().unwrap_or_default();
            let raw = parts.next()?;
            // Java needs a second part left after dropping trailing empty ones.
            if raw.is_empty() && !parts.any(|p| !p.is_empty()) {
                return None;
            }
            let value = if raw.is_empty() { -1 } else { java_parse_long(raw)? };
            track.set(key, value)?;
        }
        Some(track)
    }

    /// The value of `key`, −1 if absent.
    fn get(&self, key: &[u8]) -> i64 {
        self.pairs.get(..self.len).unwrap_or_default().iter().find(|(k, _)| *k == key).map_or(-1, |(_, v)| *v)
    }

    /// Sets `key`; `None` if it is new and the table is full.
    fn set(&mut self, key: &'a [u8], value: i64) -> Option<()> {
        let len = self.len;
        if let Some(pair) = self.pairs.get_mut(..len).unwrap_or_default().iter_mut().find(|(k, _)| *k == key) {
            pair.1 = value;
            return Some(());
        }
        *self.pairs.get_mut(len)? = (key, value);
        self.len = len + 1;
        Some(())
    }

    /// Writes StatsTrack.toString: `count=C,bytes=B`, then, if other keys exist, `=` and
    /// `;key=value` for each in key order. `None` if `out` is too small.
    fn write(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Cursor { out, len: 0 };
        write!(w, "count={},bytes={}", self.get(COUNT), self.get(BYTES)).ok()?;
        let pairs = self.pairs.get(..self.len).unwrap_or_default();
        let mut others = [0usize; STATS_KEYS_MAX];
        let mut n = 0;
        for (i, (k, _)) in pairs.iter().enumerate() {
            if *k != COUNT && *k != BYTES {
                *others.get_mut(n)? = i;
                n += 1;
            }
        }
        let others = others.get_mut(..n)?;
        others.sort_unstable_by_key(|&i| pairs.get(i).map_or(&[][..], |p| p.0));
        if !others.is_empty() {
            w.bytes(b"=")?;
        }
        for &i in others.iter() {
            let (k, v) = pairs.get(i)?;
            w.bytes(b";")?;
            w.bytes(k)?;
            write!(w, "={v}").ok()?;
        }
        Some(w.len)
    }
}

/// Writes into a fixed buffer, failing when it is full.
struct Cursor<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.len.checked_add(b.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(b);
        self.len = end;
        Some(())
    }
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes()).ok_or(fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::ids::SessionId;
    use crate::session::{SessionSlot, SessionTable};
    use crate::time::Instant;
    use crate::tree::{AclSlot, Node, SessionSlot as EphemeralSlot, TreeStorage, OPEN_ACL_UNSAFE};
    use crate::txn::{push_multi_op, CreateKind, Txn, TxnOp};
    use crate::zxid::Zxid;

    use super::super::db::{Db, NoEvents};

    // ----- StatsTrack text ----------------------------------------------------------------

    fn rewrite(text: &[u8]) -> Option<Vec<u8>> {
        let track = StatsTrack::parse(text)?;
        let mut buf = [0u8; STATS_BYTES_MAX];
        let n = track.write(&mut buf)?;
        Some(buf[..n].to_vec())
    }

    #[test]
    fn zkcli_texts_round_trip_byte_for_byte() {
        for text in
            [&b"count=0,bytes=0"[..], b"count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1", b"count=3,bytes=3"]
        {
            assert_eq!(rewrite(text).as_deref(), Some(text), "{}", std::string::String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn parse_follows_java_split_rules() {
        let cases: [(&[u8], Option<&[u8]>); 16] = [
            (b"", Some(b"count=-1,bytes=-1")),
            (b",;,", Some(b"count=-1,bytes=-1")),
            (b"bytes=3;count=1", Some(b"count=1,bytes=3")),
            (b"count=1,,;bytes=2;,", Some(b"count=1,bytes=2")),
            (b"count==5,bytes=2", Some(b"count=-1,bytes=2")),
            (b"count=5=6,bytes=+7", Some(b"count=5,bytes=7")),
            (b"count=007,count=9", Some(b"count=9,bytes=-1")),
            (b"zeta=1,alpha=2,count=3", Some(b"count=3,bytes=-1=;alpha=2;zeta=1")),
            (b"=4", Some(b"count=-1,bytes=-1=;=4")),
            (b"count=-9223372036854775808", Some(b"count=-9223372036854775808,bytes=-1")),
            // Where ZooKeeper's parser throws.
            (b",count=1", None),
            (b"count=", None),
            (b"count", None),
            (b"count=x", None),
            (b"count=9223372036854775808", None),
            (b"==", None),
        ];
        for (text, want) in cases {
            assert_eq!(rewrite(text).as_deref(), want, "{}", std::string::String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn bounds_refuse_rather_than_truncate() {
        assert!(StatsTrack::parse(b"a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1").is_some());
        assert!(StatsTrack::parse(b"a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1").is_none());
        let long = [b'k'; STATS_BYTES_MAX];
        let mut text = long.to_vec();
        text.extend_from_slice(b"=1");
        assert_eq!(rewrite(&text), None);
        assert_eq!(java_parse_long(b"-"), None);
        assert_eq!(java_parse_long(b"+12"), Some(12));
    }

    // ----- accounting through Db::apply -----------------------------------------------------

    struct Fixture {
        nodes: Vec<Node>,
        index: Vec<u32>,
        bytes: Vec<u8>,
        acls: Vec<AclSlot>,
        ephemerals: Vec<EphemeralSlot>,
        sessions: Vec<SessionSlot>,
        session_index: Vec<u32>,
        path: Vec<u8>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                nodes: vec![Node::EMPTY; 128],
                index: vec![0; TreeStorage::index_slots(128)],
                bytes: vec![0; 1 << 16],
                acls: vec![AclSlot::EMPTY; 8],
                ephemerals: vec![EphemeralSlot::EMPTY; TreeStorage::session_slots(4)],
                sessions: vec![SessionSlot::EMPTY; 4],
                session_index: vec![0; SessionTable::index_slots(4)],
                path: vec![0; 512],
            }
        }

        fn db(&mut self) -> Db<'_> {
            let tree = Tree::new(TreeStorage {
                nodes: &mut self.nodes,
                index: &mut self.index,
                bytes: &mut self.bytes,
                acls: &mut self.acls,
                sessions: &mut self.ephemerals,
            })
            .unwrap();
            Db::new(tree, SessionTable::new(&mut self.sessions, &mut self.session_index, 2000), &mut self.path)
        }
    }

    const SESSION: SessionId = SessionId(0x42);

    /// Applies txns with consecutive zxids.
    struct Run<'d, 's> {
        db: &'d mut Db<'s>,
        counter: u32,
    }

    impl Run<'_, '_> {
        fn apply(&mut self, op: TxnOp<'_>) {
            self.counter += 1;
            let txn = Txn { zxid: Zxid::new(1, self.counter), time_ms: i64::from(self.counter), session: SESSION, op };
            self.db.apply(Instant(0), &txn, &mut NoEvents).unwrap();
        }
        fn create(&mut self, path: &[u8], data: &[u8]) {
            self.apply(TxnOp::Create { path, data: Some(data), acl: OPEN_ACL_UNSAFE, kind: CreateKind::Persistent });
        }
        fn set(&mut self, path: &[u8], data: &[u8]) {
            self.apply(TxnOp::SetData { path, data: Some(data) });
        }
        fn delete(&mut self, path: &[u8]) {
            self.apply(TxnOp::Delete { path });
        }
        /// What zkCli's setquota sends for a count quota on `path` (whose quota directory
        /// exists).
        fn set_quota(&mut self, dir: &[u8]) {
            let limits = [dir, b"/zookeeper_limits"].concat();
            let stats = [dir, b"/zookeeper_stats"].concat();
            self.create(&limits, b"count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
            self.create(&stats, b"count=0,bytes=0");
        }
        fn data(&self, path: &[u8]) -> Vec<u8> {
            let tree = &self.db.tree;
            tree.data(tree.lookup(path).unwrap()).unwrap().to_vec()
        }
    }

    const P_STATS: &[u8] = b"/zookeeper/quota/p/zookeeper_stats";

    #[test]
    fn zkcli_setquota_then_writes_match_zookeeper() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        r.create(b"/p", b"");
        r.create(b"/zookeeper/quota/p", b"");
        r.set_quota(b"/zookeeper/quota/p");
        // Counted when the stats node is created: /p itself.
        assert_eq!(r.data(P_STATS), b"count=1,bytes=0");
        r.create(b"/p/a", b"x");
        r.create(b"/p/b", b"yy");
        assert_eq!(r.data(P_STATS), b"count=3,bytes=3");
        r.set(b"/p/b", b"yyyy");
        r.delete(b"/p/a");
        assert_eq!(r.data(P_STATS), b"count=2,bytes=4");
        // Rewritten in place: the Stat still shows the create, only the length moved.
        let tree = &r.db.tree;
        let stats = tree.lookup(P_STATS).unwrap();
        let st = tree.stat(stats);
        let created = Zxid::new(1, 4).as_wire();
        assert_eq!((st.version, st.czxid, st.mzxid, st.mtime, st.data_length), (0, created, created, 4, 15));
        // Paths beside the quota are not charged.
        r.create(b"/q", b"zzz");
        r.create(b"/pp", b"zzz");
        assert_eq!(r.data(P_STATS), b"count=2,bytes=4");
        // The quota'd path itself counts, gone or back.
        r.delete(b"/p/b");
        r.delete(b"/p");
        assert_eq!(r.data(P_STATS), b"count=0,bytes=0");
        r.create(b"/p", b"abc");
        assert_eq!(r.data(P_STATS), b"count=1,bytes=3");
    }

    #[test]
    fn the_longest_quotad_prefix_is_charged_and_removing_limits_stops_it() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        r.create(b"/p", b"");
        r.create(b"/p/q", b"");
        r.create(b"/zookeeper/quota/p", b"");
        r.create(b"/zookeeper/quota/p/q", b"");
        r.set_quota(b"/zookeeper/quota/p");
        r.set_quota(b"/zookeeper/quota/p/q");
        assert_eq!(r.data(P_STATS), b"count=2,bytes=0");
        let q_stats = b"/zookeeper/quota/p/q/zookeeper_stats";
        assert_eq!(r.data(q_stats), b"count=1,bytes=0");
        r.create(b"/p/q/x", b"abc");
        r.create(b"/p/y", b"d");
        assert_eq!(r.data(P_STATS), b"count=3,bytes=1");
        assert_eq!(r.data(q_stats), b"count=2,bytes=3");
        // Without its limits node /p/q has no quota: /p is charged again.
        r.delete(b"/zookeeper/quota/p/q/zookeeper_limits");
        r.set(b"/p/q/x", b"abcde");
        assert_eq!(r.data(P_STATS), b"count=3,bytes=3");
        assert_eq!(r.data(q_stats), b"count=2,bytes=3");
        // Each change is charged to the quota of its moment and nothing is recounted, so
        // /p now pays for bytes /p/q was charged.
        r.delete(b"/p/q/x");
        r.delete(b"/p/q");
        assert_eq!(r.data(P_STATS), b"count=1,bytes=-2");
    }

    #[test]
    fn stats_created_without_limits_is_counted_but_not_charged() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        r.create(b"/p", b"ab");
        r.create(b"/p/c", b"cde");
        r.create(b"/zookeeper/quota/p", b"");
        r.create(P_STATS, b"anything");
        assert_eq!(r.data(P_STATS), b"count=2,bytes=5");
        r.create(b"/p/d", b"x");
        assert_eq!(r.data(P_STATS), b"count=2,bytes=5");
        // The limits node arriving later starts the charging from there, no recount.
        r.create(b"/zookeeper/quota/p/zookeeper_limits", b"count=1");
        r.create(b"/p/e", b"x");
        assert_eq!(r.data(P_STATS), b"count=3,bytes=6");
    }

    #[test]
    fn odd_stats_paths_are_counted_as_zookeeper_counts_them() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        // A stats node for a path that does not exist, and one beside the quota directory
        // (ZooKeeper compares the parent as a string): both get zeros.
        r.create(b"/zookeeper/quota/none", b"");
        r.create(b"/zookeeper/quota/none/zookeeper_stats", b"x");
        assert_eq!(r.data(b"/zookeeper/quota/none/zookeeper_stats"), b"count=0,bytes=0");
        r.create(b"/zookeeper/quotaX", b"");
        r.create(b"/zookeeper/quotaX/zookeeper_stats", b"x");
        assert_eq!(r.data(b"/zookeeper/quotaX/zookeeper_stats"), b"count=0,bytes=0");
        // Directly under /zookeeper/quota it names the root: the whole tree, itself
        // included with the data it was created with. The root is never charged.
        let before = r.db.tree.znode_count();
        r.create(b"/zookeeper/quota/zookeeper_limits", b"");
        r.create(b"/zookeeper/quota/zookeeper_stats", b"count=0,bytes=0");
        let bytes = 3 * 15; // the two stats texts above and the new node's own data
        let want = std::format!("count={},bytes={bytes}", before + 2);
        assert_eq!(r.data(b"/zookeeper/quota/zookeeper_stats"), want.as_bytes());
        r.create(b"/elsewhere", b"abc");
        assert_eq!(r.data(b"/zookeeper/quota/zookeeper_stats"), want.as_bytes());
    }

    #[test]
    fn a_quota_on_zookeeper_charges_the_quota_nodes_themselves() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        let stats = b"/zookeeper/quota/zookeeper/zookeeper_stats";
        r.apply(TxnOp::Create {
            path: b"/zookeeper/quota/zookeeper",
            data: None,
            acl: OPEN_ACL_UNSAFE,
            kind: CreateKind::Persistent,
        });
        r.create(b"/zookeeper/quota/zookeeper/zookeeper_limits", b"count=9");
        r.create(stats, b"count=0,bytes=0");
        // Counted: zookeeper, quota, config, quota/zookeeper, limits, stats (6 nodes, 7 + 15
        // bytes); then the stats node's own create is charged on top (+1, +15), as in
        // ZooKeeper.
        assert_eq!(r.data(stats), b"count=7,bytes=37");
        // A client's write to the stats node is charged to it as well, after replacing it:
        // 16 bytes became 15.
        r.set(stats, b"count=1,bytes=1");
        assert_eq!(r.data(stats), b"count=1,bytes=0");
        let tree = &r.db.tree;
        assert_eq!(tree.stat(tree.lookup(stats).unwrap()).version, 1);
    }

    #[test]
    fn unparseable_or_null_stats_are_left_alone() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        r.create(b"/p", b"");
        r.create(b"/zookeeper/quota/p", b"");
        r.set_quota(b"/zookeeper/quota/p");
        r.set(P_STATS, b",count=1");
        r.create(b"/p/a", b"x");
        assert_eq!(r.data(P_STATS), b",count=1");
        r.apply(TxnOp::SetData { path: P_STATS, data: None });
        r.create(b"/p/b", b"x");
        let tree = &r.db.tree;
        assert_eq!(tree.data(tree.lookup(P_STATS).unwrap()), None);
        // Text without count or bytes gains them, foreign keys kept in order.
        r.set(P_STATS, b"z=1;a=2");
        r.create(b"/p/c", b"xyz");
        assert_eq!(r.data(P_STATS), b"count=0,bytes=2=;a=2;z=1");
    }

    #[test]
    fn multi_ops_and_session_close_are_charged_one_by_one() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        r.create(b"/p", b"");
        r.create(b"/zookeeper/quota/p", b"");
        r.set_quota(b"/zookeeper/quota/p");
        let mut buf = [0u8; 256];
        let mut len = 0;
        let ops = [
            TxnOp::Create { path: b"/p/m", data: Some(b"12"), acl: OPEN_ACL_UNSAFE, kind: CreateKind::Persistent },
            TxnOp::SetData { path: b"/p/m", data: Some(b"1") },
            TxnOp::Create { path: b"/p/n", data: None, acl: OPEN_ACL_UNSAFE, kind: CreateKind::Persistent },
        ];
        for op in &ops {
            assert!(push_multi_op(op, &mut buf, &mut len));
        }
        r.apply(TxnOp::Multi { count: 3, ops: &buf[..len] });
        assert_eq!(r.data(P_STATS), b"count=3,bytes=1");
        r.apply(TxnOp::CreateSession { timeout_ms: 10_000, password: [0; 16] });
        r.apply(TxnOp::Create { path: b"/p/e", data: Some(b"eph"), acl: OPEN_ACL_UNSAFE, kind: CreateKind::Ephemeral });
        assert_eq!(r.data(P_STATS), b"count=4,bytes=4");
        r.apply(TxnOp::CloseSession);
        assert_eq!(r.data(P_STATS), b"count=3,bytes=1");
    }

    #[test]
    fn without_quotas_data_is_untouched() {
        let mut f = Fixture::new();
        let mut db = f.db();
        let mut r = Run { db: &mut db, counter: 0 };
        r.create(b"/zookeeper_stats", b"keep");
        r.create(b"/a", b"count=0,bytes=0");
        r.create(b"/a/zookeeper_stats", b"keep");
        assert_eq!(r.data(b"/zookeeper_stats"), b"keep");
        assert_eq!(r.data(b"/a/zookeeper_stats"), b"keep");
        assert_eq!(r.data(b"/a"), b"count=0,bytes=0");
        assert!(r.db.tree.num_children(r.db.tree.lookup(QUOTA_ZOOKEEPER).unwrap()) == 0);
    }
}
