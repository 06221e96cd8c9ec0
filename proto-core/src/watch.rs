//! The server's watch table (protocol reference section 8).
//!
//! ZooKeeper keeps two tables, *data* and *child*, each mapping a path to the connections
//! watching it with a mode (one-shot, persistent, persistent recursive). Here both live in
//! one entry per (connection, path) that holds the mode of each table, so "at most one entry
//! per (table, path)" holds by construction and `addWatch` fills both tables at once.
//!
//! Storage is the caller's: a slot array, a hash index and a byte arena for the path bytes.
//! A slot holds one of three records, all plain integers:
//! - a *path*: its bytes (stored once in the arena), its hash, and the list of its entries
//!   in registration order, with per-table entry counts;
//! - an *entry*: connection, path, the two modes, and links in its path's and its
//!   connection's lists;
//! - a *connection*: the head of its entries and the stamp that dedupes one trigger.
//!
//! Size the slots as watches + distinct watched paths + watching connections (at most
//! `2 · watches_max + connections_max`), and the index from the same figure: every record
//! sits in one hash chain.
//!
//! Trigger order, for a sans-IO core that must repeat itself exactly: the entries of the
//! trigger path first, in the order they were created (re-registering keeps an entry's
//! place); then, only for recursive watches, each ancestor from the parent up to `/`, in the
//! same order. A connection gets its one event at the first position that fires for it.

use crate::arena::{Block, ByteArena};
use crate::ids::ConnId;

/// The event types the server sends (`Watcher.Event.EventType`, section 8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchEvent {
    /// A node was created.
    NodeCreated = 1,
    /// A node was deleted.
    NodeDeleted = 2,
    /// A node's data was set.
    NodeDataChanged = 3,
    /// A child was created or deleted.
    NodeChildrenChanged = 4,
}

impl WatchEvent {
    /// The wire number.
    pub const fn code(self) -> i32 {
        self as i32
    }
}

/// Which table a watch is registered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData and exists watches.
    Data,
    /// getChildren watches.
    Child,
}

/// How a watch behaves when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// Standard watch: removed when it fires.
    OneShot,
    /// `addWatch` PERSISTENT (0): fires for events at its path, never removed by firing.
    Persistent,
    /// `addWatch` PERSISTENT_RECURSIVE (1): fires for created/deleted/data-changed events at
    /// its path and every descendant, never for children-changed.
    PersistentRecursive,
}

/// The `type` of removeWatches and checkWatches (section 8.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherType {
    /// The child table.
    Children = 1,
    /// The data table.
    Data = 2,
    /// Both tables.
    Any = 3,
}

impl WatcherType {
    /// Decodes the wire number.
    pub const fn from_code(code: i32) -> Option<WatcherType> {
        match code {
            1 => Some(WatcherType::Children),
            2 => Some(WatcherType::Data),
            3 => Some(WatcherType::Any),
            _ => None,
        }
    }

    const fn covers_data(self) -> bool {
        matches!(self, WatcherType::Data | WatcherType::Any)
    }

    const fn covers_child(self) -> bool {
        matches!(self, WatcherType::Children | WatcherType::Any)
    }
}

/// The modes one connection has on one path, per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchModes {
    /// Data-table mode.
    pub data: Option<WatchMode>,
    /// Child-table mode.
    pub child: Option<WatchMode>,
}

/// The table has no room for the watch (slots, index or path bytes exhausted); nothing was
/// changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchesFull;

/// `wchs` figures over the data table (section 11.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchesSummary {
    /// Connections that have registered a data watch since they connected. As in ZooKeeper
    /// 3.8, a connection stays counted after its watches fire or are removed, until it closes.
    pub connections: u32,
    /// Paths with at least one data watch.
    pub paths: u32,
    /// Data watches.
    pub total: u32,
}

/// One slot of the caller's storage; all-zero is an empty slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSlot {
    /// Record kind in the low byte; an entry's two modes or a connection's flags above it.
    tag: u32,
    /// Record fields, laid out per kind by the `*Rec` types below. Word 0 is always the next
    /// slot in the same hash chain (or in the free list).
    words: [u32; 8],
}

impl WatchSlot {
    /// An empty slot.
    pub const EMPTY: WatchSlot = WatchSlot { tag: 0, words: [0; 8] };
}

const KIND_MASK: u32 = 0xff;
const KIND_PATH: u32 = 1;
const KIND_ENTRY: u32 = 2;
const KIND_CONN: u32 = 3;
const DATA_MODE_SHIFT: u32 = 8;
const CHILD_MODE_SHIFT: u32 = 10;
const CONN_EVER_DATA: u32 = 1 << 8;

/// A slot reference: index + 1, 0 for none, so all-zero storage holds no references.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Link(u32);

impl Link {
    const NONE: Link = Link(0);

    fn to(index: usize) -> Link {
        // Slot counts are capped below u32::MAX in `new`, so this never saturates.
        Link(u32::try_from(index).map_or(0, |i| i.saturating_add(1)))
    }

    fn index(self) -> Option<usize> {
        usize::try_from(self.0.checked_sub(1)?).ok()
    }
}

fn mode_bits(mode: Option<WatchMode>) -> u32 {
    match mode {
        None => 0,
        Some(WatchMode::OneShot) => 1,
        Some(WatchMode::Persistent) => 2,
        Some(WatchMode::PersistentRecursive) => 3,
    }
}

fn mode_from_bits(bits: u32) -> Option<WatchMode> {
    match bits & 3 {
        1 => Some(WatchMode::OneShot),
        2 => Some(WatchMode::Persistent),
        3 => Some(WatchMode::PersistentRecursive),
        _ => None,
    }
}

/// A watched path.
#[derive(Clone, Copy, Debug)]
struct PathRec {
    chain: Link,
    hash: u32,
    block: Block,
    head: Link,
    tail: Link,
    data_entries: u32,
    child_entries: u32,
}

impl PathRec {
    fn load(s: &WatchSlot) -> Option<PathRec> {
        let [chain, hash, offset, len, head, tail, data_entries, child_entries] = s.words;
        (s.tag & KIND_MASK == KIND_PATH).then_some(PathRec {
            chain: Link(chain),
            hash,
            block: Block { offset, len },
            head: Link(head),
            tail: Link(tail),
            data_entries,
            child_entries,
        })
    }

    fn store(&self) -> WatchSlot {
        WatchSlot {
            tag: KIND_PATH,
            words: [
                self.chain.0,
                self.hash,
                self.block.offset,
                self.block.len,
                self.head.0,
                self.tail.0,
                self.data_entries,
                self.child_entries,
            ],
        }
    }
}

/// One connection's watches on one path.
#[derive(Clone, Copy, Debug)]
struct EntryRec {
    chain: Link,
    conn: ConnId,
    path: Link,
    owner: Link,
    path_next: Link,
    path_prev: Link,
    conn_next: Link,
    conn_prev: Link,
    modes: WatchModes,
}

impl EntryRec {
    fn load(s: &WatchSlot) -> Option<EntryRec> {
        let [chain, conn, path, owner, path_next, path_prev, conn_next, conn_prev] = s.words;
        (s.tag & KIND_MASK == KIND_ENTRY).then_some(EntryRec {
            chain: Link(chain),
            conn: ConnId(conn),
            path: Link(path),
            owner: Link(owner),
            path_next: Link(path_next),
            path_prev: Link(path_prev),
            conn_next: Link(conn_next),
            conn_prev: Link(conn_prev),
            modes: WatchModes {
                data: mode_from_bits(s.tag >> DATA_MODE_SHIFT),
                child: mode_from_bits(s.tag >> CHILD_MODE_SHIFT),
            },
        })
    }

    fn store(&self) -> WatchSlot {
        WatchSlot {
            tag: KIND_ENTRY
                | mode_bits(self.modes.data) << DATA_MODE_SHIFT
                | mode_bits(self.modes.child) << CHILD_MODE_SHIFT,
            words: [
                self.chain.0,
                self.conn.0,
                self.path.0,
                self.owner.0,
                self.path_next.0,
                self.path_prev.0,
                self.conn_next.0,
                self.conn_prev.0,
            ],
        }
    }
}

/// A connection with watches (or, for `wchs`, one that had data watches).
#[derive(Clone, Copy, Debug)]
struct ConnRec {
    chain: Link,
    conn: ConnId,
    head: Link,
    /// The last trigger that sent this connection an event.
    stamp: u64,
    ever_data: bool,
}

impl ConnRec {
    fn load(s: &WatchSlot) -> Option<ConnRec> {
        let [chain, conn, head, stamp_lo, stamp_hi, ..] = s.words;
        (s.tag & KIND_MASK == KIND_CONN).then_some(ConnRec {
            chain: Link(chain),
            conn: ConnId(conn),
            head: Link(head),
            stamp: u64::from(stamp_hi) << 32 | u64::from(stamp_lo),
            ever_data: s.tag & CONN_EVER_DATA != 0,
        })
    }

    fn store(&self) -> WatchSlot {
        WatchSlot {
            tag: KIND_CONN | if self.ever_data { CONN_EVER_DATA } else { 0 },
            words: [self.chain.0, self.conn.0, self.head.0, self.stamp as u32, (self.stamp >> 32) as u32, 0, 0, 0],
        }
    }
}

/// FNV-1a: paths are short and this is cheap and deterministic.
fn hash_path(path: &[u8]) -> u32 {
    path.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// murmur3's finalizer, to spread small integer keys over the buckets.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn hash_entry(conn: ConnId, path: Link) -> u32 {
    mix(conn.0 ^ mix(path.0 ^ 0x9e37_79b9))
}

fn hash_conn(conn: ConnId) -> u32 {
    mix(conn.0 ^ 0x7f4a_7c15)
}

/// The parent of a path (`/a/b` → `/a`, `/a` → `/`); `None` for `/` and relative paths.
fn parent_of(path: &[u8]) -> Option<&[u8]> {
    match path.iter().rposition(|&b| b == b'/')? {
        0 if path.len() > 1 => Some(b"/"),
        0 => None,
        at => path.get(..at),
    }
}

/// Steps a count up or down when the condition it counts flips.
fn follow(count: &mut u32, was: bool, is: bool) {
    match (was, is) {
        (false, true) => *count = count.saturating_add(1),
        (true, false) => {
            debug_assert!(*count > 0, "a watch count went below zero");
            *count = count.saturating_sub(1);
        }
        _ => {}
    }
}

/// Running figures, so stats and the recursive shortcut cost nothing.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    data_entries: u32,
    child_entries: u32,
    data_paths: u32,
    data_connections: u32,
    data_recursive: u32,
    child_recursive: u32,
}

/// Both watch tables of one server, in caller-provided storage.
pub struct WatchTable<'s> {
    slots: &'s mut [WatchSlot],
    index: &'s mut [u32],
    paths: ByteArena<'s>,
    /// Slots below this have been used; the ones above were never touched.
    high_water: usize,
    /// Freed slots, chained through word 0.
    free_head: Link,
    free_count: usize,
    /// Numbers triggers, so a connection's stamp tells whether it was already notified.
    stamp: u64,
    counts: Counts,
}

impl<'s> WatchTable<'s> {
    /// A table over `slots` (contents ignored: slots are written before they are read),
    /// `index` (must be all zero; its length is the bucket count) and `paths`, the arena for
    /// path bytes.
    pub fn new(slots: &'s mut [WatchSlot], index: &'s mut [u32], paths: ByteArena<'s>) -> Self {
        debug_assert!(index.iter().all(|&b| b == 0), "the watch index must start zeroed");
        // Links are u32 index + 1, so use no more slots than that reaches.
        let usable = slots.len().min(u32::MAX as usize - 1);
        let (slots, _) = slots.split_at_mut(usable);
        WatchTable {
            slots,
            index,
            paths,
            high_water: 0,
            free_head: Link::NONE,
            free_count: 0,
            stamp: 0,
            counts: Counts::default(),
        }
    }

    /// Registers (or re-registers) `conn`'s watch on `path` in one table. Registering again
    /// sets the mode: a one-shot registration over a persistent entry downgrades it, as 3.8
    /// does (section 8.2).
    pub fn register(&mut self, conn: ConnId, path: &[u8], kind: WatchKind, mode: WatchMode) -> Result<(), WatchesFull> {
        self.upsert(conn, path, |m| match kind {
            WatchKind::Data => WatchModes { data: Some(mode), ..m },
            WatchKind::Child => WatchModes { child: Some(mode), ..m },
        })
    }

    /// `addWatch`: a persistent (or persistent recursive) watch in both tables.
    pub fn add_watch(&mut self, conn: ConnId, path: &[u8], recursive: bool) -> Result<(), WatchesFull> {
        let mode = if recursive { WatchMode::PersistentRecursive } else { WatchMode::Persistent };
        self.upsert(conn, path, |_| WatchModes { data: Some(mode), child: Some(mode) })
    }

    /// Fires `event` at `path` (section 8.3) and calls `notify` once per connection to tell.
    ///
    /// NodeCreated and NodeDataChanged consult the data table, NodeDeleted both tables,
    /// NodeChildrenChanged the child table (the caller fires it at the parent on create and
    /// delete). One-shot entries that fire are removed, also when the connection was already
    /// told by another entry; persistent ones stay. Recursive entries at `path` or any
    /// ancestor fire for everything but NodeChildrenChanged. Returns the events sent.
    pub fn trigger(&mut self, path: &[u8], event: WatchEvent, mut notify: impl FnMut(ConnId, WatchEvent)) -> u32 {
        let (use_data, use_child) = match event {
            WatchEvent::NodeCreated | WatchEvent::NodeDataChanged => (true, false),
            WatchEvent::NodeDeleted => (true, true),
            WatchEvent::NodeChildrenChanged => (false, true),
        };
        self.stamp += 1;
        let mut sent = 0;
        if let Some(p) = self.find_path(path) {
            let mut cursor = self.path_rec(p).map_or(Link::NONE, |r| r.head);
            while let Some(e) = cursor.index() {
                let Some(rec) = self.entry_rec(e) else { break };
                cursor = rec.path_next;
                let data = if use_data { rec.modes.data } else { None };
                let child = if use_child { rec.modes.child } else { None };
                let fires = |m: Option<WatchMode>| match m {
                    Some(WatchMode::OneShot | WatchMode::Persistent) => true,
                    Some(WatchMode::PersistentRecursive) => event != WatchEvent::NodeChildrenChanged,
                    None => false,
                };
                if (fires(data) || fires(child)) && self.first_time(rec.owner) {
                    notify(rec.conn, event);
                    sent += 1;
                }
                let consume = |m: Option<WatchMode>, used: bool| match m {
                    Some(WatchMode::OneShot) if used => None,
                    other => other,
                };
                let after =
                    WatchModes { data: consume(rec.modes.data, use_data), child: consume(rec.modes.child, use_child) };
                if after != rec.modes {
                    self.set_modes(e, after);
                }
            }
        }
        let recursive_here =
            (use_data && self.counts.data_recursive > 0) || (use_child && self.counts.child_recursive > 0);
        if event == WatchEvent::NodeChildrenChanged || !recursive_here {
            return sent;
        }
        let is_recursive = |m: Option<WatchMode>| m == Some(WatchMode::PersistentRecursive);
        let mut ancestor = parent_of(path);
        while let Some(a) = ancestor {
            if let Some(p) = self.find_path(a) {
                let mut cursor = self.path_rec(p).map_or(Link::NONE, |r| r.head);
                while let Some(e) = cursor.index() {
                    let Some(rec) = self.entry_rec(e) else { break };
                    cursor = rec.path_next;
                    let fires =
                        (use_data && is_recursive(rec.modes.data)) || (use_child && is_recursive(rec.modes.child));
                    if fires && self.first_time(rec.owner) {
                        notify(rec.conn, event);
                        sent += 1;
                    }
                }
            }
            ancestor = parent_of(a);
        }
        sent
    }

    /// removeWatches: drops `conn`'s entry on `path` from the chosen table(s). False when
    /// there was nothing to remove (the caller answers NoWatcher, −121).
    pub fn remove(&mut self, conn: ConnId, path: &[u8], which: WatcherType) -> bool {
        let Some(e) = self.find_path(path).and_then(|p| self.find_entry(conn, p)) else {
            return false;
        };
        let Some(rec) = self.entry_rec(e) else { return false };
        let removed =
            (which.covers_data() && rec.modes.data.is_some()) || (which.covers_child() && rec.modes.child.is_some());
        let after = WatchModes {
            data: if which.covers_data() { None } else { rec.modes.data },
            child: if which.covers_child() { None } else { rec.modes.child },
        };
        self.set_modes(e, after);
        removed
    }

    /// checkWatches: true when any connection watches `path` in the chosen table(s) (3.8
    /// does not look at which connection asks; section 8.4).
    pub fn check(&self, path: &[u8], which: WatcherType) -> bool {
        let Some(rec) = self.find_path(path).and_then(|p| self.path_rec(p)) else {
            return false;
        };
        (which.covers_data() && rec.data_entries > 0) || (which.covers_child() && rec.child_entries > 0)
    }

    /// The modes `conn` holds on `path`.
    pub fn modes(&self, conn: ConnId, path: &[u8]) -> WatchModes {
        self.find_path(path)
            .and_then(|p| self.find_entry(conn, p))
            .and_then(|e| self.entry_rec(e))
            .map_or(WatchModes::default(), |r| r.modes)
    }

    /// Forgets every watch of a closing connection, freeing path bytes no one else uses.
    pub fn remove_connection(&mut self, conn: ConnId) {
        let Some(c) = self.find_conn(conn) else { return };
        while let Some(e) = self.conn_rec(c).and_then(|r| r.head.index()) {
            if self.entry_rec(e).is_none() {
                debug_assert!(false, "a connection list links a non-entry");
                break;
            }
            self.set_modes(e, WatchModes::default());
        }
        if let Some(rec) = self.conn_rec(c) {
            follow(&mut self.counts.data_connections, rec.ever_data, false);
            self.unchain(c, hash_conn(conn));
            self.free_slot(c);
        }
    }

    /// `wchs`: connections, paths and watches of the data table.
    pub fn data_watch_stats(&self) -> WatchesSummary {
        WatchesSummary {
            connections: self.counts.data_connections,
            paths: self.counts.data_paths,
            total: self.counts.data_entries,
        }
    }

    /// mntr's `zk_watch_count`: watches in both tables.
    pub fn total_count(&self) -> u32 {
        self.counts.data_entries + self.counts.child_entries
    }

    /// Slots in use and slots in all, for mntr.
    pub fn slots_used(&self) -> (usize, usize) {
        (self.high_water - self.free_count, self.slots.len())
    }

    /// The path arena's figures, for mntr.
    pub fn path_bytes(&self) -> crate::arena::ArenaStats {
        self.paths.stats()
    }

    /// `wchc`'s connections: those counted by [`data_watch_stats`](Self::data_watch_stats),
    /// in slot order.
    pub fn data_connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.used_slots().filter_map(ConnRec::load).filter(|r| r.ever_data).map(|r| r.conn)
    }

    /// `wchc`'s lines for one connection: the paths it watches in the data table.
    pub fn data_paths_of(&self, conn: ConnId) -> impl Iterator<Item = &[u8]> + '_ {
        let mut cursor = self.find_conn(conn).and_then(|c| self.conn_rec(c)).map_or(Link::NONE, |r| r.head);
        core::iter::from_fn(move || loop {
            let rec = self.entry_rec(cursor.index()?)?;
            cursor = rec.conn_next;
            if rec.modes.data.is_some() {
                return Some(self.path_bytes_of(rec.path));
            }
        })
    }

    /// `wchp`'s paths: those with a data watch, in slot order.
    pub fn data_paths(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.used_slots().filter_map(PathRec::load).filter(|r| r.data_entries > 0).map(|r| self.paths.get(r.block))
    }

    /// `wchp`'s lines for one path: the connections watching it in the data table, in
    /// registration order.
    pub fn data_watchers_of(&self, path: &[u8]) -> impl Iterator<Item = ConnId> + '_ {
        let mut cursor = self.find_path(path).and_then(|p| self.path_rec(p)).map_or(Link::NONE, |r| r.head);
        core::iter::from_fn(move || loop {
            let rec = self.entry_rec(cursor.index()?)?;
            cursor = rec.path_next;
            if rec.modes.data.is_some() {
                return Some(rec.conn);
            }
        })
    }

    // ---- entries ----

    /// Finds or creates `conn`'s entry on `path` and sets its modes to `f(current)`. All
    /// room is checked before anything changes.
    fn upsert(
        &mut self,
        conn: ConnId,
        path: &[u8],
        f: impl FnOnce(WatchModes) -> WatchModes,
    ) -> Result<(), WatchesFull> {
        let conn_slot = self.find_conn(conn);
        let path_slot = self.find_path(path);
        if let Some(e) = path_slot.and_then(|p| self.find_entry(conn, p)) {
            let rec = self.entry_rec(e).ok_or(WatchesFull)?;
            let after = f(rec.modes);
            if after.data.is_some() {
                self.mark_ever_data(rec.owner);
            }
            self.set_modes(e, after);
            return Ok(());
        }
        let needed = 1 + usize::from(conn_slot.is_none()) + usize::from(path_slot.is_none());
        if self.index.is_empty() || self.free_slots() < needed {
            return Err(WatchesFull);
        }
        let path_slot = match path_slot {
            Some(p) => p,
            None => self.new_path(path)?,
        };
        let conn_slot = match conn_slot {
            Some(c) => c,
            None => self.new_conn(conn)?,
        };
        let e = self.alloc_slot().ok_or(WatchesFull)?;
        let path_link = Link::to(path_slot);
        let owner = Link::to(conn_slot);
        let mut rec = EntryRec {
            chain: Link::NONE,
            conn,
            path: path_link,
            owner,
            path_next: Link::NONE,
            path_prev: Link::NONE,
            conn_next: Link::NONE,
            conn_prev: Link::NONE,
            modes: WatchModes::default(),
        };
        // Append to the path's list (registration order is trigger order)...
        if let Some(mut p) = self.path_rec(path_slot) {
            rec.path_prev = p.tail;
            match self.entry_at(p.tail) {
                Some((t, mut tail)) => {
                    tail.path_next = Link::to(e);
                    self.put(t, tail.store());
                }
                None => p.head = Link::to(e),
            }
            p.tail = Link::to(e);
            self.put(path_slot, p.store());
        }
        // ...and push onto the connection's.
        if let Some(mut c) = self.conn_rec(conn_slot) {
            rec.conn_next = c.head;
            if let Some((h, mut head)) = self.entry_at(c.head) {
                head.conn_prev = Link::to(e);
                self.put(h, head.store());
            }
            c.head = Link::to(e);
            self.put(conn_slot, c.store());
        }
        self.put(e, rec.store());
        self.chain_in(e, hash_entry(conn, path_link));
        let after = f(WatchModes::default());
        if after.data.is_some() {
            self.mark_ever_data(owner);
        }
        self.set_modes(e, after);
        Ok(())
    }

    /// Sets an entry's modes, keeping every count in step; an entry left with no mode is
    /// removed, and so is its path when it was the last entry there.
    fn set_modes(&mut self, e: usize, after: WatchModes) {
        let Some(mut rec) = self.entry_rec(e) else { return };
        let Some(p) = rec.path.index() else { return };
        let Some(mut path) = self.path_rec(p) else { return };
        let before = rec.modes;
        let c = &mut self.counts;
        let recursive = |m: Option<WatchMode>| m == Some(WatchMode::PersistentRecursive);
        let (data_was, data_is) = (before.data.is_some(), after.data.is_some());
        let (child_was, child_is) = (before.child.is_some(), after.child.is_some());
        let path_had_data = path.data_entries > 0;
        follow(&mut path.data_entries, data_was, data_is);
        follow(&mut c.data_entries, data_was, data_is);
        follow(&mut c.data_paths, path_had_data, path.data_entries > 0);
        follow(&mut path.child_entries, child_was, child_is);
        follow(&mut c.child_entries, child_was, child_is);
        follow(&mut c.data_recursive, recursive(before.data), recursive(after.data));
        follow(&mut c.child_recursive, recursive(before.child), recursive(after.child));
        rec.modes = after;
        self.put(p, path.store());
        self.put(e, rec.store());
        if after == WatchModes::default() {
            self.drop_entry(e);
        }
    }

    /// Unlinks and frees an entry with no modes left, and its path if now unwatched.
    fn drop_entry(&mut self, e: usize) {
        let Some(rec) = self.entry_rec(e) else { return };
        // Out of the path's list.
        if let Some(p) = rec.path.index() {
            if let Some(mut path) = self.path_rec(p) {
                match self.entry_at(rec.path_prev) {
                    Some((i, mut prev)) => {
                        prev.path_next = rec.path_next;
                        self.put(i, prev.store());
                    }
                    None => path.head = rec.path_next,
                }
                match self.entry_at(rec.path_next) {
                    Some((i, mut next)) => {
                        next.path_prev = rec.path_prev;
                        self.put(i, next.store());
                    }
                    None => path.tail = rec.path_prev,
                }
                self.put(p, path.store());
                if path.head == Link::NONE {
                    debug_assert!(path.data_entries == 0 && path.child_entries == 0);
                    self.paths.free(path.block);
                    self.unchain(p, path.hash);
                    self.free_slot(p);
                }
            }
        }
        // Out of the connection's list.
        if let Some(c) = rec.owner.index() {
            match self.entry_at(rec.conn_prev) {
                Some((i, mut prev)) => {
                    prev.conn_next = rec.conn_next;
                    self.put(i, prev.store());
                }
                None => {
                    if let Some(mut owner) = self.conn_rec(c) {
                        owner.head = rec.conn_next;
                        self.put(c, owner.store());
                    }
                }
            }
            if let Some((i, mut next)) = self.entry_at(rec.conn_next) {
                next.conn_prev = rec.conn_prev;
                self.put(i, next.store());
            }
        }
        self.unchain(e, hash_entry(rec.conn, rec.path));
        self.free_slot(e);
    }

    /// True the first time this trigger reaches the connection `owner`.
    fn first_time(&mut self, owner: Link) -> bool {
        let Some(c) = owner.index() else { return false };
        let Some(mut rec) = self.conn_rec(c) else { return false };
        if rec.stamp == self.stamp {
            return false;
        }
        rec.stamp = self.stamp;
        self.put(c, rec.store());
        true
    }

    fn mark_ever_data(&mut self, owner: Link) {
        let Some(c) = owner.index() else { return };
        let Some(mut rec) = self.conn_rec(c) else { return };
        if !rec.ever_data {
            rec.ever_data = true;
            follow(&mut self.counts.data_connections, false, true);
            self.put(c, rec.store());
        }
    }

    fn new_path(&mut self, path: &[u8]) -> Result<usize, WatchesFull> {
        let len = u32::try_from(path.len()).map_err(|_| WatchesFull)?;
        let block = self.paths.alloc(len).map_err(|_| WatchesFull)?;
        let Some(p) = self.alloc_slot() else {
            self.paths.free(block);
            return Err(WatchesFull);
        };
        self.paths.get_mut(block).copy_from_slice(path);
        let hash = hash_path(path);
        let rec = PathRec {
            chain: Link::NONE,
            hash,
            block,
            head: Link::NONE,
            tail: Link::NONE,
            data_entries: 0,
            child_entries: 0,
        };
        self.put(p, rec.store());
        self.chain_in(p, hash);
        Ok(p)
    }

    fn new_conn(&mut self, conn: ConnId) -> Result<usize, WatchesFull> {
        let c = self.alloc_slot().ok_or(WatchesFull)?;
        let rec = ConnRec { chain: Link::NONE, conn, head: Link::NONE, stamp: 0, ever_data: false };
        self.put(c, rec.store());
        self.chain_in(c, hash_conn(conn));
        Ok(c)
    }

    // ---- lookups ----

    fn find_path(&self, path: &[u8]) -> Option<usize> {
        let hash = hash_path(path);
        self.chain_iter(hash)
            .find(|&i| self.path_rec(i).is_some_and(|r| r.hash == hash && self.paths.get(r.block) == path))
    }

    fn find_entry(&self, conn: ConnId, path_slot: usize) -> Option<usize> {
        let path = Link::to(path_slot);
        self.chain_iter(hash_entry(conn, path))
            .find(|&i| self.entry_rec(i).is_some_and(|r| r.conn == conn && r.path == path))
    }

    fn find_conn(&self, conn: ConnId) -> Option<usize> {
        self.chain_iter(hash_conn(conn)).find(|&i| self.conn_rec(i).is_some_and(|r| r.conn == conn))
    }

    fn path_bytes_of(&self, path: Link) -> &[u8] {
        path.index().and_then(|p| self.path_rec(p)).map_or(&[], |r| self.paths.get(r.block))
    }

    fn slot(&self, i: usize) -> Option<&WatchSlot> {
        if i < self.high_water {
            self.slots.get(i)
        } else {
            None
        }
    }

    fn path_rec(&self, i: usize) -> Option<PathRec> {
        self.slot(i).and_then(PathRec::load)
    }

    fn entry_rec(&self, i: usize) -> Option<EntryRec> {
        self.slot(i).and_then(EntryRec::load)
    }

    fn entry_at(&self, link: Link) -> Option<(usize, EntryRec)> {
        let i = link.index()?;
        Some((i, self.entry_rec(i)?))
    }

    fn conn_rec(&self, i: usize) -> Option<ConnRec> {
        self.slot(i).and_then(ConnRec::load)
    }

    fn put(&mut self, i: usize, slot: WatchSlot) {
        if let Some(s) = self.slots.get_mut(i) {
            *s = slot;
        }
    }

    fn used_slots(&self) -> impl Iterator<Item = &WatchSlot> + '_ {
        self.slots.iter().take(self.high_water)
    }

    // ---- hash chains ----

    fn bucket(&self, hash: u32) -> Option<usize> {
        let n = self.index.len();
        if n == 0 {
            None
        } else {
            usize::try_from(hash).ok().map(|h| h % n)
        }
    }

    fn chain_iter(&self, hash: u32) -> impl Iterator<Item = usize> + '_ {
        let mut cursor = self.bucket(hash).and_then(|b| self.index.get(b)).map_or(Link::NONE, |&l| Link(l));
        core::iter::from_fn(move || {
            let i = cursor.index()?;
            cursor = Link(self.slot(i)?.words[0]);
            Some(i)
        })
    }

    fn chain_in(&mut self, i: usize, hash: u32) {
        let Some(b) = self.bucket(hash) else { return };
        let Some(head) = self.index.get_mut(b) else { return };
        let old = core::mem::replace(head, Link::to(i).0);
        if let Some(s) = self.slots.get_mut(i) {
            s.words[0] = old;
        }
    }

    fn unchain(&mut self, i: usize, hash: u32) {
        let Some(b) = self.bucket(hash) else { return };
        let target = Link::to(i);
        let next = self.slot(i).map_or(0, |s| s.words[0]);
        let mut prev: Option<usize> = None;
        let mut cursor = self.index.get(b).map_or(Link::NONE, |&l| Link(l));
        while let Some(j) = cursor.index() {
            if cursor == target {
                match prev {
                    None => {
                        if let Some(head) = self.index.get_mut(b) {
                            *head = next;
                        }
                    }
                    Some(p) => {
                        if let Some(s) = self.slots.get_mut(p) {
                            s.words[0] = next;
                        }
                    }
                }
                return;
            }
            prev = Some(j);
            cursor = self.slot(j).map_or(Link::NONE, |s| Link(s.words[0]));
        }
        debug_assert!(false, "unchaining a slot that is not in its bucket");
    }

    // ---- slot allocation ----

    fn free_slots(&self) -> usize {
        self.slots.len() - self.high_water + self.free_count
    }

    fn alloc_slot(&mut self) -> Option<usize> {
        if let Some(i) = self.free_head.index() {
            self.free_head = Link(self.slot(i)?.words[0]);
            self.free_count -= 1;
            return Some(i);
        }
        if self.high_water < self.slots.len() {
            self.high_water += 1;
            return Some(self.high_water - 1);
        }
        None
    }

    fn free_slot(&mut self, i: usize) {
        let mut empty = WatchSlot::EMPTY;
        empty.words[0] = self.free_head.0;
        self.put(i, empty);
        self.free_head = Link::to(i);
        self.free_count += 1;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::vec::Vec;
    use WatchEvent::*;
    use WatchKind::{Child, Data};
    use WatchMode::*;

    struct Storage {
        slots: Vec<WatchSlot>,
        index: Vec<u32>,
        bytes: Vec<u8>,
    }

    fn storage(slots: usize, bytes: usize) -> Storage {
        Storage {
            slots: std::vec![WatchSlot::EMPTY; slots],
            index: std::vec![0; slots.max(1)],
            bytes: std::vec![0; bytes],
        }
    }

    impl Storage {
        fn table(&mut self) -> WatchTable<'_> {
            WatchTable::new(&mut self.slots, &mut self.index, ByteArena::new(&mut self.bytes))
        }
    }

    fn fire(t: &mut WatchTable<'_>, path: &str, event: WatchEvent) -> Vec<u32> {
        let mut got = Vec::new();
        let sent = t.trigger(path.as_bytes(), event, |c, e| {
            assert_eq!(e, event);
            got.push(c.0);
        });
        assert_eq!(sent as usize, got.len());
        got
    }

    fn modes(t: &WatchTable<'_>, conn: u32, path: &str) -> (Option<WatchMode>, Option<WatchMode>) {
        let m = t.modes(ConnId(conn), path.as_bytes());
        (m.data, m.child)
    }

    fn reg(t: &mut WatchTable<'_>, conn: u32, path: &str, kind: WatchKind, mode: WatchMode) {
        t.register(ConnId(conn), path.as_bytes(), kind, mode).unwrap();
    }

    #[test]
    fn created_and_data_changed_consult_the_data_table_only() {
        for event in [NodeCreated, NodeDataChanged] {
            let mut s = storage(64, 4096);
            let mut t = s.table();
            reg(&mut t, 1, "/a", Data, OneShot);
            reg(&mut t, 2, "/a", Child, OneShot);
            reg(&mut t, 3, "/a/b", Data, OneShot);
            assert_eq!(fire(&mut t, "/a", event), [1]);
            assert_eq!(modes(&t, 1, "/a"), (None, None));
            assert_eq!(modes(&t, 2, "/a"), (None, Some(OneShot)));
            assert_eq!(modes(&t, 3, "/a/b"), (Some(OneShot), None));
            // Fired and gone: a second trigger tells nobody.
            assert_eq!(fire(&mut t, "/a", event), [] as [u32; 0]);
        }
    }

    #[test]
    fn deleted_consults_both_tables_once_per_connection() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        reg(&mut t, 1, "/a", Data, OneShot);
        reg(&mut t, 1, "/a", Child, OneShot);
        reg(&mut t, 2, "/a", Child, OneShot);
        reg(&mut t, 3, "/a", Data, OneShot);
        reg(&mut t, 4, "/", Child, OneShot);
        assert_eq!(fire(&mut t, "/a", NodeDeleted), [1, 2, 3]);
        // Connection 1's child watch was consumed though it sent nothing more.
        for c in 1..=3 {
            assert_eq!(modes(&t, c, "/a"), (None, None));
        }
        assert!(!t.check(b"/a", WatcherType::Any));
        // The parent's children-changed is the caller's separate trigger.
        assert_eq!(fire(&mut t, "/", NodeChildrenChanged), [4]);
        assert_eq!(t.total_count(), 0);
    }

    #[test]
    fn children_changed_consults_the_child_table_only() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        reg(&mut t, 1, "/a", Data, OneShot);
        reg(&mut t, 2, "/a", Child, OneShot);
        assert_eq!(fire(&mut t, "/a", NodeChildrenChanged), [2]);
        assert_eq!(modes(&t, 1, "/a"), (Some(OneShot), None));
        assert_eq!(modes(&t, 2, "/a"), (None, None));
    }

    #[test]
    fn persistent_fires_at_its_path_and_survives() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        t.add_watch(ConnId(1), b"/a", false).unwrap();
        for event in [NodeCreated, NodeDataChanged, NodeChildrenChanged, NodeDeleted, NodeCreated] {
            assert_eq!(fire(&mut t, "/a", event), [1], "{event:?}");
        }
        assert_eq!(modes(&t, 1, "/a"), (Some(Persistent), Some(Persistent)));
        // Not for descendants.
        for event in [NodeCreated, NodeDataChanged, NodeDeleted, NodeChildrenChanged] {
            assert_eq!(fire(&mut t, "/a/b", event), [] as [u32; 0]);
        }
    }

    #[test]
    fn recursive_fires_for_the_subtree_but_never_children_changed() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        t.add_watch(ConnId(1), b"/a", true).unwrap();
        for path in ["/a", "/a/b", "/a/b/c"] {
            for event in [NodeCreated, NodeDataChanged, NodeDeleted] {
                assert_eq!(fire(&mut t, path, event), [1], "{path} {event:?}");
            }
            assert_eq!(fire(&mut t, path, NodeChildrenChanged), [] as [u32; 0], "{path}");
        }
        // Siblings and prefixes that are not ancestors do not fire.
        for path in ["/", "/b", "/ab", "/ab/c"] {
            assert_eq!(fire(&mut t, path, NodeDataChanged), [] as [u32; 0], "{path}");
        }
        assert_eq!(modes(&t, 1, "/a"), (Some(PersistentRecursive), Some(PersistentRecursive)));
        // A recursive watch on the root covers everything.
        t.add_watch(ConnId(2), b"/", true).unwrap();
        assert_eq!(fire(&mut t, "/x/y", NodeCreated), [2]);
        assert_eq!(fire(&mut t, "/", NodeDataChanged), [2]);
    }

    #[test]
    fn one_event_per_connection_and_one_shots_consumed_anyway() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        t.add_watch(ConnId(1), b"/", true).unwrap();
        t.add_watch(ConnId(1), b"/a", true).unwrap();
        reg(&mut t, 1, "/a/b", Data, OneShot);
        reg(&mut t, 2, "/a/b", Data, OneShot);
        t.add_watch(ConnId(3), b"/a", true).unwrap();
        assert_eq!(fire(&mut t, "/a/b", NodeDataChanged), [1, 2, 3]);
        assert_eq!(modes(&t, 1, "/a/b"), (None, None));
        assert_eq!(modes(&t, 2, "/a/b"), (None, None));
        assert_eq!(fire(&mut t, "/a/b", NodeDataChanged), [1, 3]);
        // Persistent in both tables and deleted: one event.
        t.add_watch(ConnId(4), b"/a/b", false).unwrap();
        assert_eq!(fire(&mut t, "/a/b", NodeDeleted), [4, 1, 3]);
    }

    #[test]
    fn order_is_registration_order_then_ancestors() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        t.add_watch(ConnId(9), b"/", true).unwrap();
        t.add_watch(ConnId(5), b"/a", true).unwrap();
        for c in [7, 3, 8] {
            reg(&mut t, c, "/a/b", Data, Persistent);
        }
        // Re-registering keeps the place.
        reg(&mut t, 7, "/a/b", Data, Persistent);
        assert_eq!(fire(&mut t, "/a/b", NodeDataChanged), [7, 3, 8, 5, 9]);
        assert!(t.remove(ConnId(3), b"/a/b", WatcherType::Data));
        reg(&mut t, 3, "/a/b", Data, Persistent);
        assert_eq!(fire(&mut t, "/a/b", NodeDataChanged), [7, 8, 3, 5, 9]);
    }

    #[test]
    fn one_shot_registration_downgrades_a_persistent_entry() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        t.add_watch(ConnId(1), b"/a", true).unwrap();
        reg(&mut t, 1, "/a", Data, OneShot);
        assert_eq!(modes(&t, 1, "/a"), (Some(OneShot), Some(PersistentRecursive)));
        // The child-table half is still recursive: deletes of descendants reach it there.
        assert_eq!(fire(&mut t, "/a/b", NodeCreated), [] as [u32; 0]);
        assert_eq!(fire(&mut t, "/a/b", NodeDeleted), [1]);
        assert_eq!(fire(&mut t, "/a", NodeDataChanged), [1]);
        assert_eq!(modes(&t, 1, "/a"), (None, Some(PersistentRecursive)));
        assert_eq!(fire(&mut t, "/a", NodeDataChanged), [] as [u32; 0]);
        // Upgrading again restores both halves.
        t.add_watch(ConnId(1), b"/a", false).unwrap();
        assert_eq!(modes(&t, 1, "/a"), (Some(Persistent), Some(Persistent)));
        assert_eq!(fire(&mut t, "/a/b", NodeDeleted), [] as [u32; 0]);
    }

    #[test]
    fn remove_and_check() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        reg(&mut t, 1, "/a", Child, OneShot);
        assert!(!t.remove(ConnId(1), b"/a", WatcherType::Data));
        assert!(!t.remove(ConnId(2), b"/a", WatcherType::Any));
        assert!(!t.remove(ConnId(1), b"/b", WatcherType::Any));
        assert!(t.check(b"/a", WatcherType::Children));
        assert!(t.check(b"/a", WatcherType::Any));
        assert!(!t.check(b"/a", WatcherType::Data));
        assert!(!t.check(b"/b", WatcherType::Any));
        assert!(t.remove(ConnId(1), b"/a", WatcherType::Any));
        assert!(!t.remove(ConnId(1), b"/a", WatcherType::Any));
        assert!(!t.check(b"/a", WatcherType::Any));
        // removeWatches Data on a persistent watch removes only that half.
        t.add_watch(ConnId(2), b"/p", false).unwrap();
        assert!(t.remove(ConnId(2), b"/p", WatcherType::Data));
        assert_eq!(modes(&t, 2, "/p"), (None, Some(Persistent)));
        assert!(t.check(b"/p", WatcherType::Children) && !t.check(b"/p", WatcherType::Data));
        assert!(t.remove(ConnId(2), b"/p", WatcherType::Children));
        assert_eq!(t.total_count(), 0);
        assert_eq!(WatcherType::from_code(3), Some(WatcherType::Any));
        assert_eq!(WatcherType::from_code(0), None);
        assert_eq!(NodeChildrenChanged.code(), 4);
    }

    #[test]
    fn remove_connection_frees_everything_it_alone_used() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        reg(&mut t, 1, "/a", Data, OneShot);
        t.add_watch(ConnId(1), b"/b/c", true).unwrap();
        reg(&mut t, 2, "/a", Child, OneShot);
        let shared = t.path_bytes().bytes_requested;
        t.remove_connection(ConnId(1));
        assert_eq!(t.path_bytes().bytes_requested, 2, "only /a, still watched by 2");
        assert!(shared > 2);
        assert_eq!(modes(&t, 1, "/a"), (None, None));
        assert_eq!(modes(&t, 2, "/a"), (None, Some(OneShot)));
        assert_eq!(fire(&mut t, "/b/c", NodeCreated), [] as [u32; 0]);
        t.remove_connection(ConnId(2));
        assert_eq!(t.path_bytes().bytes_requested, 0);
        assert_eq!(t.slots_used().0, 0);
        assert_eq!(t.total_count(), 0);
        assert_eq!(t.data_watch_stats(), WatchesSummary::default());
        // Closing a connection without watches is harmless.
        t.remove_connection(ConnId(7));
    }

    #[test]
    fn wchs_wchc_wchp_cover_the_data_table() {
        let mut s = storage(64, 4096);
        let mut t = s.table();
        reg(&mut t, 1, "/a", Data, OneShot);
        reg(&mut t, 1, "/b", Data, OneShot);
        reg(&mut t, 2, "/a", Data, OneShot);
        reg(&mut t, 3, "/c", Child, OneShot);
        t.add_watch(ConnId(4), b"/d", false).unwrap();
        assert_eq!(t.data_watch_stats(), WatchesSummary { connections: 3, paths: 3, total: 4 });
        assert_eq!(t.total_count(), 6);
        let conns: BTreeSet<u32> = t.data_connections().map(|c| c.0).collect();
        assert_eq!(conns, BTreeSet::from([1, 2, 4]));
        let paths: BTreeSet<&[u8]> = t.data_paths_of(ConnId(1)).collect();
        assert_eq!(paths, BTreeSet::from([&b"/a"[..], b"/b"]));
        assert_eq!(t.data_paths_of(ConnId(3)).count(), 0);
        let paths: BTreeSet<&[u8]> = t.data_paths().collect();
        assert_eq!(paths, BTreeSet::from([&b"/a"[..], b"/b", b"/d"]));
        assert_eq!(t.data_watchers_of(b"/a").map(|c| c.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(t.data_watchers_of(b"/c").count(), 0);
        // As in 3.8, a connection whose data watches fired is still counted until it closes.
        fire(&mut t, "/a", NodeDataChanged);
        fire(&mut t, "/b", NodeDataChanged);
        assert_eq!(t.data_watch_stats(), WatchesSummary { connections: 3, paths: 1, total: 1 });
        assert!(t.data_connections().any(|c| c == ConnId(1)));
        t.remove_connection(ConnId(1));
        assert_eq!(t.data_watch_stats().connections, 2);
    }

    #[test]
    fn full_slots_and_full_path_bytes_change_nothing() {
        // Room for one connection, one path and one entry.
        let mut s = storage(3, 4096);
        let mut t = s.table();
        reg(&mut t, 1, "/a", Data, OneShot);
        let before = (t.slots_used(), t.path_bytes(), t.data_watch_stats(), t.total_count());
        assert_eq!(t.register(ConnId(1), b"/b", Data, OneShot), Err(WatchesFull));
        assert_eq!(t.add_watch(ConnId(2), b"/a", true), Err(WatchesFull));
        assert_eq!((t.slots_used(), t.path_bytes(), t.data_watch_stats(), t.total_count()), before);
        assert!(!t.check(b"/b", WatcherType::Any));
        // Changing an existing entry needs no room.
        t.add_watch(ConnId(1), b"/a", false).unwrap();
        assert_eq!(modes(&t, 1, "/a"), (Some(Persistent), Some(Persistent)));
        // After a removal the room is back.
        t.remove_connection(ConnId(1));
        reg(&mut t, 2, "/b", Child, OneShot);

        // Path bytes run out before slots do.
        let mut s = storage(64, 32);
        let mut t = s.table();
        reg(&mut t, 1, "/short", Data, OneShot);
        let before = (t.slots_used(), t.path_bytes());
        let long = [b'x'; 100];
        assert_eq!(t.register(ConnId(2), &long, Data, OneShot), Err(WatchesFull));
        assert_eq!((t.slots_used(), t.path_bytes()), before);
        assert_eq!(modes(&t, 2, "/short"), (None, None));

        // No index at all: nothing can be registered.
        let mut slots = std::vec![WatchSlot::EMPTY; 8];
        let mut bytes = std::vec![0u8; 256];
        let mut t = WatchTable::new(&mut slots, &mut [], ByteArena::new(&mut bytes));
        assert_eq!(t.register(ConnId(1), b"/a", Data, OneShot), Err(WatchesFull));
        assert_eq!(fire(&mut t, "/a", NodeCreated), [] as [u32; 0]);
    }

    #[test]
    fn a_one_slot_index_still_works() {
        let mut slots = std::vec![WatchSlot::EMPTY; 64];
        let mut index = [0u32; 1];
        let mut bytes = std::vec![0u8; 4096];
        let mut t = WatchTable::new(&mut slots, &mut index, ByteArena::new(&mut bytes));
        for c in 0..5 {
            for p in ["/a", "/a/b", "/c"] {
                reg(&mut t, c, p, Data, OneShot);
            }
        }
        assert_eq!(fire(&mut t, "/a/b", NodeDataChanged), [0, 1, 2, 3, 4]);
        t.remove_connection(ConnId(2));
        assert_eq!(fire(&mut t, "/c", NodeDataChanged), [0, 1, 3, 4]);
        assert_eq!(t.data_watch_stats(), WatchesSummary { connections: 4, paths: 1, total: 4 });
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of(b"/a/b"), Some(&b"/a"[..]));
        assert_eq!(parent_of(b"/a"), Some(&b"/"[..]));
        assert_eq!(parent_of(b"/"), None);
        assert_eq!(parent_of(b"rel"), None);
        assert_eq!(parent_of(b""), None);
    }

    // ---- model check ----

    type Modes = (Option<WatchMode>, Option<WatchMode>);

    #[derive(Default, Debug)]
    struct Model {
        entries: BTreeMap<(u32, &'static str), Modes>,
        ever_data: BTreeSet<u32>,
    }

    fn is_strict_ancestor(a: &str, p: &str) -> bool {
        p != a && (a == "/" || p.strip_prefix(a).is_some_and(|rest| rest.starts_with('/')))
    }

    impl Model {
        /// ZooKeeper's WatchManager.triggerWatch, once per consulted table.
        fn trigger(&mut self, path: &str, event: WatchEvent) -> BTreeSet<u32> {
            let tables: &[bool] = match event {
                NodeCreated | NodeDataChanged => &[true],
                NodeDeleted => &[true, false],
                NodeChildrenChanged => &[false],
            };
            let mut told = BTreeSet::new();
            for &data in tables {
                for ((conn, p), modes) in self.entries.iter_mut() {
                    let mode = if data { &mut modes.0 } else { &mut modes.1 };
                    match *mode {
                        Some(PersistentRecursive) => {
                            let covered = *p == path || is_strict_ancestor(p, path);
                            if covered && event != NodeChildrenChanged {
                                told.insert(*conn);
                            }
                        }
                        Some(m) if *p == path => {
                            told.insert(*conn);
                            if m == OneShot {
                                *mode = None;
                            }
                        }
                        _ => {}
                    }
                }
            }
            self.entries.retain(|_, m| *m != (None, None));
            told
        }
    }

    const PATHS: [&str; 6] = ["/", "/a", "/a/b", "/a/b/c", "/ab", "/x"];

    #[derive(Clone, Debug)]
    enum Op {
        Register(u32, usize, bool, u8),
        AddWatch(u32, usize, bool),
        Remove(u32, usize, u8),
        Trigger(usize, u8),
        Close(u32),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let conn = 0u32..4;
        let path = 0..PATHS.len();
        prop_oneof![
            4 => (conn.clone(), path.clone(), any::<bool>(), 0u8..3).prop_map(|(c, p, d, m)| Op::Register(c, p, d, m)),
            2 => (conn.clone(), path.clone(), any::<bool>()).prop_map(|(c, p, r)| Op::AddWatch(c, p, r)),
            2 => (conn.clone(), path.clone(), 1u8..4).prop_map(|(c, p, w)| Op::Remove(c, p, w)),
            4 => (path, 1u8..5).prop_map(|(p, e)| Op::Trigger(p, e)),
            1 => conn.prop_map(Op::Close),
        ]
    }

    fn run_against_model(ops: &[Op], slots: usize, bytes: usize) {
        let mut s = storage(slots, bytes);
        let mut t = s.table();
        let mut m = Model::default();
        for op in ops {
            match *op {
                Op::Register(c, p, data, mode) => {
                    let mode = [OneShot, Persistent, PersistentRecursive][usize::from(mode)];
                    let kind = if data { Data } else { Child };
                    let existed = m.entries.contains_key(&(c, PATHS[p]));
                    match t.register(ConnId(c), PATHS[p].as_bytes(), kind, mode) {
                        Ok(()) => {
                            let e = m.entries.entry((c, PATHS[p])).or_default();
                            if data {
                                e.0 = Some(mode);
                                m.ever_data.insert(c);
                            } else {
                                e.1 = Some(mode);
                            }
                        }
                        Err(WatchesFull) => assert!(!existed, "full on an existing entry"),
                    }
                }
                Op::AddWatch(c, p, recursive) => {
                    let mode = if recursive { PersistentRecursive } else { Persistent };
                    let existed = m.entries.contains_key(&(c, PATHS[p]));
                    match t.add_watch(ConnId(c), PATHS[p].as_bytes(), recursive) {
                        Ok(()) => {
                            m.entries.insert((c, PATHS[p]), (Some(mode), Some(mode)));
                            m.ever_data.insert(c);
                        }
                        Err(WatchesFull) => assert!(!existed, "full on an existing entry"),
                    }
                }
                Op::Remove(c, p, which) => {
                    let which = WatcherType::from_code(i32::from(which)).unwrap();
                    let e = m.entries.get(&(c, PATHS[p])).copied().unwrap_or_default();
                    let after =
                        (if which.covers_data() { None } else { e.0 }, if which.covers_child() { None } else { e.1 });
                    let want = after != e;
                    if after == (None, None) {
                        m.entries.remove(&(c, PATHS[p]));
                    } else {
                        m.entries.insert((c, PATHS[p]), after);
                    }
                    assert_eq!(t.remove(ConnId(c), PATHS[p].as_bytes(), which), want);
                }
                Op::Trigger(p, e) => {
                    let event = [NodeCreated, NodeDeleted, NodeDataChanged, NodeChildrenChanged][usize::from(e - 1)];
                    let got = fire(&mut t, PATHS[p], event);
                    let unique: BTreeSet<u32> = got.iter().copied().collect();
                    assert_eq!(unique.len(), got.len(), "one event per connection: {got:?}");
                    assert_eq!(unique, m.trigger(PATHS[p], event), "{op:?}");
                }
                Op::Close(c) => {
                    t.remove_connection(ConnId(c));
                    m.entries.retain(|(conn, _), _| *conn != c);
                    m.ever_data.remove(&c);
                }
            }
            compare(&t, &m);
        }
        for c in 0..4 {
            t.remove_connection(ConnId(c));
        }
        assert_eq!(t.slots_used().0, 0);
        assert_eq!(t.path_bytes().bytes_requested, 0);
    }

    fn compare(t: &WatchTable<'_>, m: &Model) {
        for c in 0..4 {
            for p in PATHS {
                let want = m.entries.get(&(c, p)).copied().unwrap_or_default();
                assert_eq!(modes(t, c, p), want, "conn {c} path {p}");
            }
            let want: BTreeSet<&str> =
                m.entries.iter().filter(|((conn, _), e)| *conn == c && e.0.is_some()).map(|((_, p), _)| *p).collect();
            let got: BTreeSet<&str> = t.data_paths_of(ConnId(c)).map(|p| core::str::from_utf8(p).unwrap()).collect();
            assert_eq!(got, want);
        }
        for p in PATHS {
            let data = m.entries.iter().any(|((_, q), e)| *q == p && e.0.is_some());
            let child = m.entries.iter().any(|((_, q), e)| *q == p && e.1.is_some());
            assert_eq!(t.check(p.as_bytes(), WatcherType::Data), data);
            assert_eq!(t.check(p.as_bytes(), WatcherType::Children), child);
            assert_eq!(t.check(p.as_bytes(), WatcherType::Any), data || child);
        }
        let data_entries = m.entries.values().filter(|e| e.0.is_some()).count() as u32;
        let child_entries = m.entries.values().filter(|e| e.1.is_some()).count() as u32;
        let data_paths: BTreeSet<&str> =
            m.entries.iter().filter(|(_, e)| e.0.is_some()).map(|((_, p), _)| *p).collect();
        assert_eq!(
            t.data_watch_stats(),
            WatchesSummary {
                connections: m.ever_data.len() as u32,
                paths: data_paths.len() as u32,
                total: data_entries
            }
        );
        assert_eq!(t.total_count(), data_entries + child_entries);
        let got: BTreeSet<&str> = t.data_paths().map(|p| core::str::from_utf8(p).unwrap()).collect();
        assert_eq!(got, data_paths);
        let got: BTreeSet<u32> = t.data_connections().map(|c| c.0).collect();
        assert_eq!(got, m.ever_data);
        let recursive = m.entries.values().filter(|e| e.0 == Some(PersistentRecursive)).count() as u32;
        assert_eq!(t.counts.data_recursive, recursive);
        let recursive = m.entries.values().filter(|e| e.1 == Some(PersistentRecursive)).count() as u32;
        assert_eq!(t.counts.child_recursive, recursive);
    }

    proptest::proptest! {
        #[test]
        fn matches_a_model_with_room(ops in proptest::collection::vec(op(), 1..80)) {
            run_against_model(&ops, 256, 1 << 14);
        }

        #[test]
        fn matches_a_model_when_cramped(ops in proptest::collection::vec(op(), 1..80), slots in 0usize..12, bytes in 0usize..96) {
            run_against_model(&ops, slots, bytes);
        }
    }
}
