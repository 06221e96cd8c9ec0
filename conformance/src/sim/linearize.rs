//! A consistency checker for client histories of a ZooKeeper-like store (Knossos and
//! Porcupine style): did the operations the clients saw happen in an order ZooKeeper
//! allows?
//!
//! A [`History`] records, per operation, the client (session), the request, when it was
//! invoked and when (and how) it was answered. [`check`] then looks for a total order of
//! the operations that
//! - explains every answer by running the operations one after another on a store of
//!   znodes (see [`Op`] for the model), and
//! - respects ZooKeeper's ordering guarantees (below).
//!
//! **Guarantees checked, per znode path:**
//! - writes (create, setData, delete — also when they fail, also compare-and-set) and
//!   reads marked `after_sync` are *linearizable*: if one was answered before another
//!   was invoked, it comes first in the order;
//! - each session's operations stay in invocation order (ZooKeeper's FIFO client order),
//!   so a session's plain reads never go backwards and see its own earlier writes;
//! - a plain read may be stale — it need not come after other sessions' writes — but it
//!   cannot see the future: it comes before every operation (other than another session's
//!   plain read) that was invoked after it was answered;
//! - an operation with an unknown outcome ([`OpResult::Unknown`], or never completed) may
//!   take effect at any point after its invocation, or never; it constrains nothing after
//!   it, not even later operations of its own session.
//!
//! Plain reads are searched together with the writes, not checked afterwards against one
//! chosen write order, so a read never fails only because the search picked the wrong one
//! of several valid write orders.
//!
//! **Not checked:**
//! - anything across paths: znodes are independent keys (linearizability is
//!   compositional, so for writes and synced reads nothing is lost), but a session's view
//!   of *different* paths is not checked against one global prefix (seeing a write on `/b`
//!   does not oblige a later read of `/a` to see writes ordered before it);
//! - the tree: every parent is taken to exist, so a create answered `NoNode` is a
//!   violation; children, `NotEmpty`, ephemeral and sequential nodes are not modelled;
//! - stats other than the data version.
//!
//! **Search.** Per path, a depth-first search over orders (Wing & Gong, memoising
//! explored positions as Lowe and Porcupine do). Precedence is a partial order (above),
//! so an operation is a candidate once everything that must precede it is placed;
//! answered operations are tried before unanswered ones. Each of these reductions keeps
//! some valid order whenever one exists:
//! - an answered operation that leaves the state unchanged (a read, a failed write) and
//!   fits now is placed now, without branching: nothing else sees the difference;
//! - an unanswered operation is tried only where it changes the state (no effect is the
//!   same as coming last, or never), and of several enabled unanswered operations of the
//!   same kind only the first (they are interchangeable);
//! - data that no read returned is merged into one value (writes ignore data, so no
//!   answer changes);
//! - a position is (answered operations placed, unanswered ones placed, state), and one
//!   whose unanswered set includes that of an explored position with the same rest is
//!   pruned (having spent more unanswered operations never helps).
//!
//! The search succeeds once every answered operation is placed. Where it is stuck it
//! tries chains of unanswered operations before revisiting earlier choices, so it first
//! runs with such chains limited to 1, then 2 operations (each round on a quarter of
//! the remaining budget; these rounds can only find orders), then without limit, which
//! alone concludes that there is none. Each attempted step costs one unit of the
//! budget; when it runs out the verdict is [`Verdict::GaveUp`], never a guess. Paths are
//! checked smallest first.
//!
//! **Cost** (release build). Histories of a correct store check fast: 1000 operations
//! over 10 paths in under a millisecond; 2000 on one hot path with 10 clients and 10% of
//! requests unanswered in 0.2 s on average, under 1 s. Proving a violation means
//! exhausting the orders before it: quick over several paths or with few unanswered
//! requests, but on such a hot path it often exceeds [`BUDGET_DEFAULT`] (then the
//! verdict is `GaveUp`). Spreading operations over more paths keeps checks cheap.
//!
//! Times are compared strictly: an operation answered at `t` and one invoked at the same
//! `t` are concurrent. Use a step counter rather than ms where that matters.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// A budget for [`check`] that covers histories of thousands of operations per path;
/// a step takes 20 to 200 ns in a release build, so this is at most a second or two.
pub const BUDGET_DEFAULT: u64 = 10_000_000;

/// Most operations an explanation lists per section; the rest are counted.
const EXPLAIN_OPS_MAX: usize = 6;
/// Most operations an explanation lists as waiting behind the stuck ones.
const EXPLAIN_WAITING_MAX: usize = 3;
/// Longest data shown in full in an explanation; longer data is cut.
const SHOW_BYTES_MAX: usize = 24;

/// One operation of a [`History`], numbered in invocation order from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// A client request. `expected_version` `None` or `Some(-1)` accepts any version
/// (ZooKeeper's `-1`); `Some(v)` is a compare-and-set on version `v`.
///
/// The model: a znode is absent, or present with data and a version; create makes it
/// with version 0, each successful setData adds 1, delete removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create `path` holding `data`.
    Create {
        /// The znode.
        path: String,
        /// Its initial data.
        data: Vec<u8>,
    },
    /// Replace the data of `path`.
    SetData {
        /// The znode.
        path: String,
        /// The new data.
        data: Vec<u8>,
        /// Compare-and-set: fail with `BadVersion` unless the version is this.
        expected_version: Option<i32>,
    },
    /// Delete `path`.
    Delete {
        /// The znode.
        path: String,
        /// Compare-and-delete: fail with `BadVersion` unless the version is this.
        expected_version: Option<i32>,
    },
    /// Read `path`.
    GetData {
        /// The znode.
        path: String,
        /// The session sent a sync for `path` first (the op's invocation time is the
        /// sync's): the read must then be linearizable.
        after_sync: bool,
    },
}

impl Op {
    /// The znode the operation is about.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. } | Op::SetData { path, .. } | Op::Delete { path, .. } | Op::GetData { path, .. } => {
                path
            }
        }
    }
}

/// How an operation was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    /// A create or delete succeeded.
    Ok,
    /// A setData succeeded; the znode now has this version.
    Set {
        /// The version after the write.
        new_version: i32,
    },
    /// A read found the znode.
    Data {
        /// Its data.
        data: Vec<u8>,
        /// Its version.
        version: i32,
    },
    /// A create found the znode already there.
    NodeExists,
    /// The znode (for a create: its parent) does not exist.
    NoNode,
    /// The expected version did not match.
    BadVersion,
    /// No answer (timeout, connection loss): the operation may or may not take effect,
    /// at any time after its invocation.
    Unknown,
}

/// One recorded operation.
#[derive(Clone, Debug)]
struct Entry {
    client: u64,
    op: Op,
    invoked: u64,
    /// `None` until completed: a never-completed operation counts as unknown.
    completed: Option<(u64, OpResult)>,
}

/// What the clients did: every operation with its invocation and answer.
#[derive(Clone, Debug, Default)]
pub struct History {
    entries: Vec<Entry>,
    /// znodes that exist (version 0) before the first operation.
    preset: BTreeMap<String, Vec<u8>>,
}

impl History {
    /// An empty history over an empty store.
    pub fn new() -> History {
        History::default()
    }

    /// Declares that `path` exists with `data` at version 0 before any operation.
    pub fn preset(&mut self, path: &str, data: &[u8]) {
        self.preset.insert(path.to_owned(), data.to_vec());
    }

    /// Records that `client` sent `op` at time `at`; complete it with [`History::complete`].
    pub fn invoke(&mut self, client: u64, op: Op, at: u64) -> OpId {
        self.entries.push(Entry { client, op, invoked: at, completed: None });
        OpId(self.entries.len() - 1)
    }

    /// Records the answer to `id` at time `at`. Completing an operation twice, or before
    /// it was invoked, is a bug in the recording harness and panics.
    pub fn complete(&mut self, id: OpId, result: OpResult, at: u64) {
        let entry = &mut self.entries[id.0];
        assert!(entry.completed.is_none(), "operation #{} completed twice", id.0);
        assert!(
            at >= entry.invoked,
            "operation #{} answered at t={at} before its invocation at t={}",
            id.0,
            entry.invoked
        );
        entry.completed = Some((at, result));
    }

    /// Number of operations recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One operation as a line: `#3 client 2: set /a "x" if version 0 -> version 1 [t=4..9]`.
    fn show(&self, id: usize) -> String {
        let e = &self.entries[id];
        let request = match &e.op {
            Op::Create { path, data } => format!("create {path} {}", show_data(data)),
            Op::SetData { path, data, expected_version } => {
                format!("set {path} {}{}", show_data(data), show_expected(*expected_version))
            }
            Op::Delete { path, expected_version } => format!("delete {path}{}", show_expected(*expected_version)),
            Op::GetData { path, after_sync: false } => format!("get {path}"),
            Op::GetData { path, after_sync: true } => format!("sync+get {path}"),
        };
        match &e.completed {
            Some((at, result)) => {
                format!("#{id} client {}: {request} -> {} [t={}..{at}]", e.client, show_result(result), e.invoked)
            }
            None => format!("#{id} client {}: {request} -> unknown [t={}.., never answered]", e.client, e.invoked),
        }
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (path, data) in &self.preset {
            writeln!(f, "preset {path} {} version 0", show_data(data))?;
        }
        for id in 0..self.entries.len() {
            writeln!(f, "{}", self.show(id))?;
        }
        Ok(())
    }
}

/// What [`check`] concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some order explains every answer.
    Ok,
    /// No order of the operations on `path` explains their answers.
    Violation {
        /// The znode whose operations cannot be ordered.
        path: String,
        /// Which operations cannot be ordered, and why (several lines).
        explanation: String,
    },
    /// The budget ran out while searching the operations on `path`.
    GaveUp {
        /// The znode being searched.
        path: String,
    },
}

/// Checks `history` against ZooKeeper's guarantees (see the module docs), spending at
/// most `budget` search steps in all.
pub fn check(history: &History, budget: u64) -> Verdict {
    // An answer of the wrong kind for its request cannot be explained by any order.
    for (id, e) in history.entries.iter().enumerate() {
        if let Some((_, result)) = &e.completed {
            if let Some(why) = misfit(&e.op, result) {
                return Verdict::Violation {
                    path: e.op.path().to_owned(),
                    explanation: format!("{}\n  {why}\n", history.show(id)),
                };
            }
        }
    }

    let mut datas = Interner::default();
    let mut by_path: BTreeMap<&str, Vec<PathOp>> = BTreeMap::new();
    for (id, e) in history.entries.iter().enumerate() {
        if let Some(op) = PathOp::new(id, e, &mut datas) {
            by_path.entry(e.op.path()).or_default().push(op);
        }
    }
    let mut paths: Vec<(&str, Vec<PathOp>)> = by_path.into_iter().collect();
    // Small paths first: a violation there is found even if a big one exhausts the budget.
    paths.sort_by_key(|(_, ops)| ops.len());

    let mut steps_left = budget;
    for (path, mut ops) in paths {
        ops.sort_by_key(|op| (op.invoked, op.id));
        let initial = history.preset.get(path).map(|data| (datas.id(data), 0));
        let mut searched = ops.clone();
        let searched_initial = forget_unread_data(&mut searched, initial);
        let graph = Graph::new(&ops);
        match search_rounds(&searched, &graph, searched_initial, &mut steps_left) {
            Found::Linearizable => {}
            Found::Stuck { prefix } => {
                // Explained with the real data: forgetting it changed no answer.
                return Verdict::Violation {
                    path: path.to_owned(),
                    explanation: explain(history, path, &ops, initial, &prefix, &datas),
                };
            }
            Found::OutOfBudget => return Verdict::GaveUp { path: path.to_owned() },
        }
    }
    Verdict::Ok
}

/// Why `result` cannot answer `op` at all, whatever the state.
fn misfit(op: &Op, result: &OpResult) -> Option<&'static str> {
    match (op, result) {
        (_, OpResult::Unknown)
        | (Op::Create { .. }, OpResult::Ok | OpResult::NodeExists)
        | (Op::SetData { .. }, OpResult::Set { .. } | OpResult::NoNode | OpResult::BadVersion)
        | (Op::Delete { .. }, OpResult::Ok | OpResult::NoNode | OpResult::BadVersion)
        | (Op::GetData { .. }, OpResult::Data { .. } | OpResult::NoNode) => None,
        (Op::Create { .. }, OpResult::NoNode) => {
            Some("a create answered NoNode: this checker takes every parent to exist (flat namespace)")
        }
        (Op::Create { .. }, _) => Some("a create can only answer ok, NodeExists or NoNode"),
        (Op::SetData { .. }, _) => Some("a setData can only answer a new version, NoNode or BadVersion"),
        (Op::Delete { .. }, _) => Some("a delete can only answer ok, NoNode or BadVersion"),
        (Op::GetData { .. }, _) => Some("a getData can only answer data or NoNode"),
    }
}

// ---------------------------------------------------------------------------------------
// The model.

/// Data, interned: equal bytes get equal ids, so states compare and hash cheaply.
type DataId = u32;

/// One znode: absent, or (data, version).
type Node = Option<(DataId, i32)>;

/// Interns data; ids are only compared, never turned back except for explanations.
#[derive(Default)]
struct Interner<'a> {
    ids: HashMap<&'a [u8], DataId>,
    datas: Vec<&'a [u8]>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, data: &'a [u8]) -> DataId {
        if let Some(&id) = self.ids.get(data) {
            return id;
        }
        let id = DataId::try_from(self.datas.len())
            .ok()
            .filter(|&id| id != UNREAD)
            .expect("fewer than 2^32 - 1 distinct data values");
        self.ids.insert(data, id);
        self.datas.push(data);
        id
    }

    fn data(&self, id: DataId) -> &'a [u8] {
        self.datas[id as usize]
    }
}

/// A request, with interned data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Create { data: DataId },
    Set { data: DataId, expected: Option<i32> },
    Delete { expected: Option<i32> },
    Get { after_sync: bool },
}

/// An answer, with interned data (what the model would return, or what a client saw).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Set(i32),
    Data(DataId, i32),
    NodeExists,
    NoNode,
    BadVersion,
}

/// ZooKeeper's version check: `-1` (or no expectation) matches anything.
fn version_matches(expected: Option<i32>, current: i32) -> bool {
    match expected {
        None | Some(-1) => true,
        Some(v) => v == current,
    }
}

/// Stands for every data value that no read of the path returned.
const UNREAD: DataId = DataId::MAX;

/// Replaces data that no answered read returned by [`UNREAD`] (and returns `initial`
/// likewise). Such data can never make a read fit, and writes ignore data, so states
/// differing only in it behave alike; merging them lets the memo and the twin rule of
/// [`search`] treat, e.g., unanswered writes of never-read values as interchangeable.
fn forget_unread_data(ops: &mut [PathOp], initial: Node) -> Node {
    let read: HashSet<DataId> = ops
        .iter()
        .filter_map(|op| match op.outcome {
            Some(Outcome::Data(d, _)) => Some(d),
            _ => None,
        })
        .collect();
    let forget = |d: DataId| if read.contains(&d) { d } else { UNREAD };
    for op in ops.iter_mut() {
        match &mut op.kind {
            Kind::Create { data } | Kind::Set { data, .. } => *data = forget(*data),
            Kind::Delete { .. } | Kind::Get { .. } => {}
        }
    }
    initial.map(|(d, v)| (forget(d), v))
}

/// Runs `kind` on `node`: the state after it and the answer it gives.
fn apply(node: Node, kind: Kind) -> (Node, Outcome) {
    match (kind, node) {
        (Kind::Create { data }, None) => (Some((data, 0)), Outcome::Ok),
        (Kind::Create { .. }, Some(_)) => (node, Outcome::NodeExists),
        (Kind::Set { .. } | Kind::Delete { .. }, None) => (None, Outcome::NoNode),
        (Kind::Set { data, expected }, Some((_, v))) if version_matches(expected, v) => {
            // ZooKeeper's version is an int that wraps.
            let next = v.wrapping_add(1);
            (Some((data, next)), Outcome::Set(next))
        }
        (Kind::Delete { expected }, Some((_, v))) if version_matches(expected, v) => (None, Outcome::Ok),
        (Kind::Set { .. } | Kind::Delete { .. }, Some(_)) => (node, Outcome::BadVersion),
        (Kind::Get { .. }, None) => (None, Outcome::NoNode),
        (Kind::Get { .. }, Some((d, v))) => (node, Outcome::Data(d, v)),
    }
}

/// The state after `op` runs on `node`, if its answer fits (an unknown answer always fits).
fn step(node: Node, op: &PathOp) -> Option<Node> {
    let (after, natural) = apply(node, op.kind);
    match op.outcome {
        None => Some(after),
        Some(seen) if seen == natural => Some(after),
        Some(_) => None,
    }
}

/// An operation on one path, as the search sees it.
#[derive(Clone, Debug)]
struct PathOp {
    /// Index in the [`History`].
    id: usize,
    client: u64,
    invoked: u64,
    /// `u64::MAX` when the outcome is unknown.
    answered: u64,
    kind: Kind,
    /// `None`: unknown.
    outcome: Option<Outcome>,
}

impl PathOp {
    /// The search's view of entry `id`; `None` for a read without an answer (it shows
    /// nothing and changes nothing).
    fn new<'a>(id: usize, e: &'a Entry, datas: &mut Interner<'a>) -> Option<PathOp> {
        let kind = match &e.op {
            Op::Create { data, .. } => Kind::Create { data: datas.id(data) },
            Op::SetData { data, expected_version, .. } => {
                Kind::Set { data: datas.id(data), expected: *expected_version }
            }
            Op::Delete { expected_version, .. } => Kind::Delete { expected: *expected_version },
            Op::GetData { after_sync, .. } => Kind::Get { after_sync: *after_sync },
        };
        let (answered, outcome) = match &e.completed {
            None | Some((_, OpResult::Unknown)) => (u64::MAX, None),
            Some((at, result)) => {
                let outcome = match result {
                    OpResult::Ok => Outcome::Ok,
                    OpResult::Set { new_version } => Outcome::Set(*new_version),
                    OpResult::Data { data, version } => Outcome::Data(datas.id(data), *version),
                    OpResult::NodeExists => Outcome::NodeExists,
                    OpResult::NoNode => Outcome::NoNode,
                    OpResult::BadVersion => Outcome::BadVersion,
                    OpResult::Unknown => unreachable!("matched above"),
                };
                (*at, Some(outcome))
            }
        };
        if outcome.is_none() && matches!(kind, Kind::Get { .. }) {
            return None;
        }
        Some(PathOp { id, client: e.client, invoked: e.invoked, answered, kind, outcome })
    }

    fn is_plain_read(&self) -> bool {
        self.kind == (Kind::Get { after_sync: false })
    }
}

/// Must `a` come before `b` in every acceptable order? (The guarantees of the module docs.)
fn must_precede(a: &PathOp, b: &PathOp) -> bool {
    if a.outcome.is_none() {
        // Unanswered: it may take effect arbitrarily late.
        return false;
    }
    if a.client == b.client {
        // FIFO client order, pipelined requests included.
        return (a.invoked, a.id) < (b.invoked, b.id);
    }
    // Real time, except that another session's plain read may be stale.
    a.answered < b.invoked && !b.is_plain_read()
}

// ---------------------------------------------------------------------------------------
// The search.

/// The precedence graph of one path's operations (sorted by invocation): the order of
/// [`must_precede`], with edges implied by others left out so that placing an operation
/// touches few others.
struct Graph {
    /// Operations that must come after each one.
    after: Vec<Vec<u32>>,
    /// How many operations must come before each one.
    before_count: Vec<u32>,
}

impl Graph {
    fn new(ops: &[PathOp]) -> Graph {
        let n = ops.len();
        let mut after = vec![Vec::new(); n];
        let mut before_count = vec![0u32; n];
        // Answered operations by answer time.
        let mut by_answer: Vec<usize> = (0..n).filter(|&a| ops[a].outcome.is_some()).collect();
        by_answer.sort_by_key(|&a| ops[a].answered);
        let answers: Vec<u64> = by_answer.iter().map(|&a| ops[a].answered).collect();
        // Operations answered before the current one was invoked: `by_answer[..done]`.
        let mut done = 0;
        // The latest invocation among the linearizable ones of those. An operation
        // answered before it precedes that one, hence the current one, already.
        let mut cutoff = 0;
        let mut last_of_client: HashMap<u64, usize> = HashMap::new();
        for (b, op) in ops.iter().enumerate() {
            while done < by_answer.len() && answers[done] < op.invoked {
                let z = &ops[by_answer[done]];
                if !z.is_plain_read() {
                    cutoff = cutoff.max(z.invoked);
                }
                done += 1;
            }
            let mut edge = |a: usize| {
                after[a].push(b as u32);
                before_count[b] += 1;
            };
            // FIFO client order: from the session's previous answered operation (which
            // follows all its earlier ones).
            if let Some(&a) = last_of_client.get(&op.client) {
                edge(a);
            }
            // Real time, for all but plain reads.
            if !op.is_plain_read() {
                let from = answers.partition_point(|&t| t < cutoff).min(done);
                for &a in &by_answer[from..done] {
                    if ops[a].client != op.client {
                        edge(a);
                    }
                }
            }
            if op.outcome.is_some() {
                last_of_client.insert(op.client, b);
            }
        }
        Graph { after, before_count }
    }
}

/// What the search of one path found.
enum Found {
    Linearizable,
    /// No order fits; `prefix` is the longest partial order the search built.
    Stuck {
        prefix: Vec<usize>,
    },
    OutOfBudget,
}

/// One placed operation.
struct Frame {
    op: usize,
    /// The state before it.
    before: Node,
    /// Placed without branching (state-preserving and fitting): when its subtree fails,
    /// so does its parent, without trying alternatives there.
    forced: bool,
    /// Unanswered operations placed in a row, ending with this one.
    chain: usize,
}

/// A fast, deterministic hasher for the memo (keys are our own, not adversarial).
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.add(u64::from(x));
    }
    fn write_u32(&mut self, x: u32) {
        self.add(u64::from(x));
    }
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
}

/// Builds [`FxHasher`]s.
type FxBuild = BuildHasherDefault<FxHasher>;

/// A set of operations, one bit each.
type Bits = Box<[u64]>;

/// Search positions already visited: none led to a complete order (or the search
/// would have ended), so none is worth visiting again.
///
/// A position is (answered operations placed, unanswered ones placed, state). Having
/// placed *more* unanswered operations never helps (they constrain nothing and could
/// have been left out), so a position is dominated by an explored one with the same
/// answered set and state and a subset of its unanswered ones.
#[derive(Default)]
struct Memo {
    /// (answered placed, state) → the minimal unanswered sets explored with it.
    explored: HashMap<(Bits, Node), Vec<Bits>, FxBuild>,
}

impl Memo {
    /// Records the position; false when it (or a dominating one) was explored already.
    fn visit(&mut self, answered: &[u64], unanswered: &[u64], state: Node) -> bool {
        let sets = self.explored.entry((answered.into(), state)).or_default();
        let subset = |small: &[u64], big: &[u64]| small.iter().zip(big).all(|(s, b)| s & !b == 0);
        if sets.iter().any(|explored| subset(explored, unanswered)) {
            return false;
        }
        sets.retain(|explored| !subset(unanswered, explored));
        sets.push(unanswered.into());
        true
    }
}

fn bit_set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn bit_clear(bits: &mut [u64], i: usize) {
    bits[i / 64] &= !(1 << (i % 64));
}

/// Limits on unanswered operations placed in a row, one per preliminary round.
const CHAIN_LIMITS: [usize; 2] = [1, 2];

/// Searches an order of `ops` in rounds of growing freedom.
///
/// Where the search is stuck it tries chains of unanswered operations before it
/// revisits earlier choices; with many unanswered operations pending, those chains
/// multiply. Most histories need an unanswered operation only here and there, so short
/// chains are tried first ([`CHAIN_LIMITS`]), each round on at most a quarter of the
/// remaining budget. Only the last, unlimited round can conclude that no order exists.
fn search_rounds(ops: &[PathOp], graph: &Graph, initial: Node, steps_left: &mut u64) -> Found {
    for limit in CHAIN_LIMITS {
        let granted = *steps_left / 4;
        let mut round = granted;
        let found = search(ops, graph, initial, &mut round, Some(limit));
        *steps_left -= granted - round;
        if let Found::Linearizable = found {
            return found;
        }
    }
    search(ops, graph, initial, steps_left, None)
}

/// Searches an order of `ops` (sorted by invocation) from state `initial`, placing at
/// most `chain_max` unanswered operations in a row (a limited search may miss orders).
fn search(ops: &[PathOp], graph: &Graph, initial: Node, steps_left: &mut u64, chain_max: Option<usize>) -> Found {
    let n = ops.len();
    // Candidates are tried by rank: answered operations by invocation, then unanswered
    // ones, which are needed only where an answer cannot be explained otherwise.
    let order: Vec<usize> =
        (0..n).filter(|&c| ops[c].outcome.is_some()).chain((0..n).filter(|&c| ops[c].outcome.is_none())).collect();
    let unknown_from = ops.iter().filter(|op| op.outcome.is_some()).count();
    let mut rank = vec![0; n];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r;
    }
    let mut waiting = graph.before_count.clone();
    // Ranks of the unplaced operations whose predecessors are all placed.
    let mut enabled: BTreeSet<usize> = (0..n).filter(|&c| waiting[c] == 0).map(|c| rank[c]).collect();
    // Placed operations: answered ones by rank, unanswered ones by rank after the
    // answered ones (two small sets keep the memo's subset tests short).
    let mut placed = [vec![0u64; unknown_from.div_ceil(64)], vec![0u64; (n - unknown_from).div_ceil(64)]];
    let bit = |r: usize| if r < unknown_from { (0, r) } else { (1, r - unknown_from) };
    let mut answered_left = unknown_from;
    let mut memo = Memo::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut best: Vec<usize> = Vec::new();
    let mut state = initial;
    // Rank of the next candidate to try at this depth.
    let mut cursor = 0;

    loop {
        // Unanswered operations left over can all come last (or never take effect).
        if answered_left == 0 {
            return Found::Linearizable;
        }
        let mut chosen = None;
        // Unanswered operations placed last in a row.
        let chain = stack.last().map_or(0, |f| f.chain);
        // Two enabled unanswered operations of the same kind are interchangeable: only
        // the first is tried. Kinds met among enabled unanswered ones so far:
        let mut kinds_met: Vec<Kind> = Vec::new();
        for &r in enabled.range(cursor.min(unknown_from)..) {
            let c = order[r];
            let op = &ops[c];
            let unknown = r >= unknown_from;
            if unknown && chain_max.is_some_and(|max| chain >= max) {
                break;
            }
            if unknown {
                let twin = kinds_met.contains(&op.kind);
                if !twin {
                    kinds_met.push(op.kind);
                }
                if twin || r < cursor {
                    continue;
                }
            }
            if *steps_left == 0 {
                return Found::OutOfBudget;
            }
            *steps_left -= 1;
            let Some(after) = step(state, op) else { continue };
            if unknown && after == state {
                // Changing nothing here is the same as never taking effect, which the
                // end of the order already covers.
                continue;
            }
            let forced = !unknown && after == state;
            let (set, i) = bit(r);
            bit_set(&mut placed[set], i);
            if memo.visit(&placed[0], &placed[1], after) {
                chosen = Some((c, after, forced));
                break;
            }
            bit_clear(&mut placed[set], i);
            if forced {
                // Placing it here was as good as any order, and that was explored
                // already: this position is a dead end.
                break;
            }
        }
        if let Some((c, after, forced)) = chosen {
            let chain = if ops[c].outcome.is_some() { 0 } else { chain + 1 };
            stack.push(Frame { op: c, before: state, forced, chain });
            enabled.remove(&rank[c]);
            for &s in &graph.after[c] {
                let s = s as usize;
                waiting[s] -= 1;
                if waiting[s] == 0 {
                    enabled.insert(rank[s]);
                }
            }
            if ops[c].outcome.is_some() {
                answered_left -= 1;
            }
            state = after;
            cursor = 0;
            continue;
        }
        if stack.len() > best.len() {
            best = stack.iter().map(|f| f.op).collect();
        }
        // Backtrack: undo the last placement and try the next candidate after it.
        loop {
            let Some(frame) = stack.pop() else {
                return Found::Stuck { prefix: best };
            };
            let c = frame.op;
            for &s in &graph.after[c] {
                let s = s as usize;
                if waiting[s] == 0 {
                    enabled.remove(&rank[s]);
                }
                waiting[s] += 1;
            }
            enabled.insert(rank[c]);
            let unknown = ops[c].outcome.is_none();
            if !unknown {
                answered_left += 1;
            }
            let (set, i) = bit(rank[c]);
            bit_clear(&mut placed[set], i);
            state = frame.before;
            if !frame.forced {
                cursor = rank[c] + 1;
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Explanations.

/// Describes why `ops` (one path's, sorted) admit no order, from the longest partial
/// order the search built: what it placed last, the state there, and why each
/// remaining operation cannot come next.
fn explain(
    history: &History,
    path: &str,
    ops: &[PathOp],
    initial: Node,
    prefix: &[usize],
    datas: &Interner<'_>,
) -> String {
    use std::fmt::Write as _;

    let show_node = |node: Node| match node {
        None => "absent".to_owned(),
        Some((d, v)) => format!("{} version {v}", show_data(datas.data(d))),
    };
    let show_outcome = |o: Outcome| match o {
        Outcome::Ok => "ok".to_owned(),
        Outcome::Set(v) => format!("version {v}"),
        Outcome::Data(d, v) => format!("{} version {v}", show_data(datas.data(d))),
        Outcome::NodeExists => "NodeExists".to_owned(),
        Outcome::NoNode => "NoNode".to_owned(),
        Outcome::BadVersion => "BadVersion".to_owned(),
    };
    // Why `a` must precede `b`.
    let reason = |a: &PathOp, b: &PathOp| {
        if a.client == b.client {
            format!("#{} is client {}'s earlier request", a.id, a.client)
        } else {
            format!("#{} was answered at t={}, before #{} was invoked at t={}", a.id, a.answered, b.id, b.invoked)
        }
    };

    // Replay the prefix: the states along it and where each operation sits.
    let mut states = vec![initial];
    let mut position = vec![None; ops.len()];
    for (i, &c) in prefix.iter().enumerate() {
        let now = states[i];
        states.push(step(now, &ops[c]).unwrap_or(now));
        position[c] = Some(i);
    }
    let end = states[prefix.len()];
    let answered = ops.iter().filter(|op| op.outcome.is_some()).count();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "no order of the {} answered operations on {path} (and {} unanswered) fits ZooKeeper's guarantees;",
        answered,
        ops.len() - answered
    );
    let _ = writeln!(out, "the longest partial order found places {} of them, ending:", prefix.len());
    if prefix.len() > EXPLAIN_OPS_MAX {
        let _ = writeln!(out, "  … {} earlier", prefix.len() - EXPLAIN_OPS_MAX);
    }
    for &c in prefix.iter().skip(prefix.len().saturating_sub(EXPLAIN_OPS_MAX)) {
        let _ = writeln!(out, "  {}", history.show(ops[c].id));
    }
    let _ = writeln!(out, "where {path} is {}; no remaining operation can come next:", show_node(end));

    let remaining: Vec<usize> = (0..ops.len()).filter(|&c| position[c].is_none() && ops[c].outcome.is_some()).collect();
    let waits_for = |c: usize| (0..ops.len()).find(|&a| position[a].is_none() && must_precede(&ops[a], &ops[c]));
    // First the candidates (everything before them placed) whose answer does not fit.
    let (waiting, candidates): (Vec<usize>, Vec<usize>) = remaining.iter().partition(|&&c| waits_for(c).is_some());
    for &c in candidates.iter().take(EXPLAIN_OPS_MAX) {
        let op = &ops[c];
        let preds: Vec<usize> = (0..ops.len()).filter(|&a| must_precede(&ops[a], op)).collect();
        let _ = writeln!(out, "  {}", history.show(op.id));
        let (_, natural) = apply(end, op.kind);
        let mut line = format!("    here it would answer {}", show_outcome(natural));
        // Where in this order its answer would fit, against the latest op it must follow.
        let fits: Vec<usize> = (0..=prefix.len()).filter(|&j| step(states[j], op).is_some()).collect();
        let latest_pred = preds.iter().filter_map(|&a| position[a].map(|p| (p, a))).max();
        match (fits.last(), latest_pred) {
            (None, _) => line.push_str("; its answer fits nowhere in this order"),
            (Some(&j), Some((p, a))) if j <= p => {
                let _ = write!(
                    line,
                    "; its answer fits only {}, but it must follow #{} ({})",
                    if j == 0 {
                        "at the start".to_owned()
                    } else {
                        format!("up to right after #{}", ops[prefix[j - 1]].id)
                    },
                    ops[a].id,
                    reason(&ops[a], op)
                );
            }
            (Some(&j), _) => {
                let _ = write!(
                    line,
                    "; its answer fits {}, but no order with it there completes",
                    if j == 0 { "at the start".to_owned() } else { format!("right after #{}", ops[prefix[j - 1]].id) }
                );
            }
        }
        let _ = writeln!(out, "{line}");
    }
    if candidates.len() > EXPLAIN_OPS_MAX {
        let _ = writeln!(out, "  … and {} more like these", candidates.len() - EXPLAIN_OPS_MAX);
    }
    // Then those still waiting for an unplaced operation.
    if !waiting.is_empty() {
        let _ = writeln!(out, "  and {} more that must wait for those, e.g.:", waiting.len());
        for &c in waiting.iter().take(EXPLAIN_WAITING_MAX) {
            if let Some(a) = waits_for(c) {
                let _ = writeln!(
                    out,
                    "  {}\n    must follow #{} ({})",
                    history.show(ops[c].id),
                    ops[a].id,
                    reason(&ops[a], &ops[c])
                );
            }
        }
    }
    out
}

/// Data for a human: a quoted string when printable, else hex; long data is cut.
fn show_data(data: &[u8]) -> String {
    let cut = &data[..data.len().min(SHOW_BYTES_MAX)];
    let more = if data.len() > SHOW_BYTES_MAX { format!("…({} bytes)", data.len()) } else { String::new() };
    if cut.iter().all(|b| (0x20..0x7F).contains(b) && *b != b'"') {
        format!("\"{}\"{more}", String::from_utf8_lossy(cut))
    } else {
        let hex: String = cut.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}{more}")
    }
}

fn show_expected(expected: Option<i32>) -> String {
    match expected {
        None | Some(-1) => String::new(),
        Some(v) => format!(" if version {v}"),
    }
}

fn show_result(result: &OpResult) -> String {
    match result {
        OpResult::Ok => "ok".to_owned(),
        OpResult::Set { new_version } => format!("version {new_version}"),
        OpResult::Data { data, version } => format!("{} version {version}", show_data(data)),
        OpResult::NodeExists => "NodeExists".to_owned(),
        OpResult::NoNode => "NoNode".to_owned(),
        OpResult::BadVersion => "BadVersion".to_owned(),
        OpResult::Unknown => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use super::super::rng::{Ratio, Rng};
    use super::*;

    fn create(path: &str, data: &str) -> Op {
        Op::Create { path: path.to_owned(), data: data.as_bytes().to_vec() }
    }
    fn set(path: &str, data: &str, expected_version: Option<i32>) -> Op {
        Op::SetData { path: path.to_owned(), data: data.as_bytes().to_vec(), expected_version }
    }
    fn delete(path: &str, expected_version: Option<i32>) -> Op {
        Op::Delete { path: path.to_owned(), expected_version }
    }
    fn get(path: &str) -> Op {
        Op::GetData { path: path.to_owned(), after_sync: false }
    }
    fn sync_get(path: &str) -> Op {
        Op::GetData { path: path.to_owned(), after_sync: true }
    }
    fn data(d: &str, version: i32) -> OpResult {
        OpResult::Data { data: d.as_bytes().to_vec(), version }
    }
    fn set_ok(new_version: i32) -> OpResult {
        OpResult::Set { new_version }
    }

    /// Records `op` by `client`, invoked at `from` and answered `result` at `to`.
    fn op(h: &mut History, client: u64, op: Op, from: u64, to: u64, result: OpResult) -> OpId {
        let id = h.invoke(client, op, from);
        h.complete(id, result, to);
        id
    }

    fn assert_ok(h: &History) {
        match check(h, BUDGET_DEFAULT) {
            Verdict::Ok => {}
            other => panic!("expected Ok, got {other:?}\nhistory:\n{h}"),
        }
    }

    /// The violation's path and explanation.
    fn violation(h: &History) -> (String, String) {
        match check(h, BUDGET_DEFAULT) {
            Verdict::Violation { path, explanation } => (path, explanation),
            other => panic!("expected a violation, got {other:?}\nhistory:\n{h}"),
        }
    }

    /// `/a` created as "x" by client 1 over t=0..1.
    fn with_a() -> History {
        let mut h = History::new();
        op(&mut h, 1, create("/a", "x"), 0, 1, OpResult::Ok);
        h
    }

    #[test]
    fn empty_and_sequential_histories_are_ok() {
        assert_ok(&History::new());
        let mut h = with_a();
        op(&mut h, 1, set("/a", "y", None), 2, 3, set_ok(1));
        op(&mut h, 1, get("/a"), 4, 5, data("y", 1));
        op(&mut h, 1, set("/a", "z", Some(0)), 6, 7, OpResult::BadVersion);
        op(&mut h, 1, delete("/a", Some(0)), 8, 9, OpResult::BadVersion);
        op(&mut h, 1, delete("/a", Some(1)), 10, 11, OpResult::Ok);
        op(&mut h, 1, get("/a"), 12, 13, OpResult::NoNode);
        op(&mut h, 1, set("/a", "z", None), 14, 15, OpResult::NoNode);
        op(&mut h, 1, delete("/a", None), 16, 17, OpResult::NoNode);
        op(&mut h, 1, create("/a", "w"), 18, 19, OpResult::Ok);
        op(&mut h, 1, create("/a", "v"), 20, 21, OpResult::NodeExists);
        op(&mut h, 1, sync_get("/a"), 22, 23, data("w", 0));
        assert_ok(&h);
        assert_eq!(h.len(), 12);
    }

    #[test]
    fn overlapping_writes_take_effect_in_either_order() {
        // Client 1 writes "p", client 2 writes "q", overlapping; a synced read follows.
        let history = |p_version, q_version, seen: &str| {
            let mut h = with_a();
            op(&mut h, 1, set("/a", "p", None), 2, 10, set_ok(p_version));
            op(&mut h, 2, set("/a", "q", None), 3, 9, set_ok(q_version));
            op(&mut h, 3, sync_get("/a"), 11, 12, data(seen, 2));
            h
        };
        assert_ok(&history(1, 2, "q"));
        assert_ok(&history(2, 1, "p"));
        // The versions say "p" came first, so "p" cannot be the last value.
        violation(&history(1, 2, "p"));
        // Not overlapping: the order is fixed by real time.
        let mut h = with_a();
        op(&mut h, 1, set("/a", "p", None), 2, 3, set_ok(1));
        op(&mut h, 2, set("/a", "q", None), 4, 5, set_ok(1));
        violation(&h);
    }

    #[test]
    fn a_cas_race_has_exactly_one_winner() {
        let race = |first: OpResult, second: OpResult| {
            let mut h = with_a();
            op(&mut h, 1, set("/a", "p", Some(0)), 2, 6, first);
            op(&mut h, 2, set("/a", "q", Some(0)), 3, 5, second);
            h
        };
        assert_ok(&race(set_ok(1), OpResult::BadVersion));
        assert_ok(&race(OpResult::BadVersion, set_ok(1)));
        // Two winners on the same version.
        violation(&race(set_ok(1), set_ok(1)));
        // No winner although the version matched for whichever ran first.
        violation(&race(OpResult::BadVersion, OpResult::BadVersion));
        // Two creates cannot both succeed; one may find the other's node.
        let mut h = History::new();
        op(&mut h, 1, create("/b", "p"), 0, 4, OpResult::Ok);
        op(&mut h, 2, create("/b", "q"), 1, 3, OpResult::Ok);
        let (path, _) = violation(&h);
        assert_eq!(path, "/b");
        let mut h = History::new();
        op(&mut h, 1, create("/b", "p"), 0, 4, OpResult::Ok);
        op(&mut h, 2, create("/b", "q"), 1, 3, OpResult::NodeExists);
        op(&mut h, 2, get("/b"), 5, 6, data("p", 0));
        assert_ok(&h);
    }

    #[test]
    fn unknown_outcomes_take_effect_late_or_never() {
        // Never: the write timed out and nobody ever sees it.
        let mut h = with_a();
        let lost = h.invoke(2, set("/a", "y", None), 2);
        h.complete(lost, OpResult::Unknown, 5);
        op(&mut h, 3, sync_get("/a"), 10, 11, data("x", 0));
        assert_ok(&h);
        // Late: long after the client gave up, it takes effect.
        op(&mut h, 3, sync_get("/a"), 20, 21, data("y", 1));
        assert_ok(&h);
        // ...but only once: it cannot be undone afterwards.
        op(&mut h, 3, sync_get("/a"), 30, 31, data("x", 0));
        violation(&h);

        // Never completed counts as unknown, and its client's later requests need not see it.
        let mut h = with_a();
        h.invoke(2, set("/a", "y", None), 2);
        op(&mut h, 2, sync_get("/a"), 10, 11, data("x", 0));
        op(&mut h, 2, sync_get("/a"), 12, 13, data("y", 1));
        assert_ok(&h);

        // Not before its invocation.
        let mut h = with_a();
        op(&mut h, 3, sync_get("/a"), 2, 3, data("y", 1));
        let late = h.invoke(2, set("/a", "y", None), 5);
        h.complete(late, OpResult::Unknown, 9);
        violation(&h);

        // An unknown CAS can win or lose; its effect must still fit the versions.
        let mut h = with_a();
        let cas = h.invoke(2, set("/a", "y", Some(0)), 2);
        h.complete(cas, OpResult::Unknown, 3);
        op(&mut h, 1, set("/a", "z", Some(1)), 4, 5, set_ok(2));
        assert_ok(&h);
        op(&mut h, 1, set("/a", "w", Some(0)), 6, 7, set_ok(1));
        violation(&h);

        // An unknown read is ignored whatever it was going to see.
        let mut h = with_a();
        let read = h.invoke(2, get("/a"), 2);
        h.complete(read, OpResult::Unknown, 3);
        assert_ok(&h);
    }

    #[test]
    fn several_unknown_writes_may_all_take_effect() {
        // Three unanswered writes must all have happened, back to back, for the read.
        let mut h = History::new();
        h.preset("/a", b"x");
        for (client, value) in [(1, "p"), (2, "q"), (3, "r")] {
            let id = h.invoke(client, set("/a", value, None), client);
            h.complete(id, OpResult::Unknown, 10);
        }
        op(&mut h, 4, sync_get("/a"), 20, 21, data("r", 3));
        assert_ok(&h);
        // Two of the same kind are interchangeable, but both can still be used.
        let mut h = History::new();
        h.preset("/a", b"x");
        for client in [1, 2] {
            let id = h.invoke(client, set("/a", "y", None), 0);
            h.complete(id, OpResult::Unknown, 5);
        }
        op(&mut h, 3, sync_get("/a"), 10, 11, data("y", 2));
        assert_ok(&h);
        op(&mut h, 3, sync_get("/a"), 12, 13, data("y", 3));
        violation(&h);
    }

    #[test]
    fn unread_values_still_count_as_versions() {
        // Nobody reads "p" or "q", but their versions show in the answer to the set.
        let with_answer = |new_version| {
            let mut h = History::new();
            h.preset("/a", b"x");
            for (client, value) in [(1, "p"), (2, "q")] {
                let id = h.invoke(client, set("/a", value, None), 0);
                h.complete(id, OpResult::Unknown, 5);
            }
            op(&mut h, 3, set("/a", "r", None), 10, 11, set_ok(new_version));
            h
        };
        assert_ok(&with_answer(1));
        assert_ok(&with_answer(3));
        let (_, explanation) = violation(&with_answer(4));
        // The explanation shows the real data, not a placeholder.
        assert!(explanation.contains("#2 client 3: set /a \"r\" -> version 4"), "{explanation}");
        assert!(
            explanation.contains("where /a is \"q\" version 2") || explanation.contains("where /a is \"p\" version 2"),
            "{explanation}"
        );
    }

    #[test]
    fn a_stale_read_is_allowed_only_without_sync() {
        let read_after = |read: Op| {
            let mut h = with_a();
            op(&mut h, 1, set("/a", "y", None), 2, 3, set_ok(1));
            op(&mut h, 2, read, 5, 6, data("x", 0));
            h
        };
        assert_ok(&read_after(get("/a")));
        let (path, explanation) = violation(&read_after(sync_get("/a")));
        assert_eq!(path, "/a");
        assert!(explanation.contains("#2 client 2: sync+get /a -> \"x\" version 0"), "{explanation}");
        assert!(explanation.contains("here it would answer \"y\" version 1"), "{explanation}");
        assert!(
            explanation.contains("must follow #1 (#1 was answered at t=3, before #2 was invoked at t=5)"),
            "{explanation}"
        );
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        let mut h = with_a();
        op(&mut h, 2, sync_get("/a"), 2, 3, OpResult::NoNode);
        violation(&h);
        let mut h = with_a();
        op(&mut h, 1, delete("/a", None), 2, 3, OpResult::Ok);
        op(&mut h, 2, sync_get("/a"), 4, 5, data("x", 0));
        violation(&h);
        // A write another client depends on: client 2's CAS only fits after the lost set.
        let mut h = with_a();
        op(&mut h, 1, set("/a", "y", None), 2, 3, set_ok(1));
        op(&mut h, 2, set("/a", "z", Some(0)), 4, 5, set_ok(1));
        violation(&h);
    }

    #[test]
    fn a_session_never_reads_backwards() {
        let reads_by = |first_client, second_client| {
            let mut h = with_a();
            op(&mut h, 1, set("/a", "y", None), 2, 3, set_ok(1));
            op(&mut h, first_client, get("/a"), 4, 5, data("y", 1));
            op(&mut h, second_client, get("/a"), 6, 7, data("x", 0));
            h
        };
        // Two sessions may see different ages.
        assert_ok(&reads_by(2, 3));
        let (_, explanation) = violation(&reads_by(2, 2));
        assert!(explanation.contains("#3 client 2: get /a -> \"x\" version 0"), "{explanation}");
        assert!(
            explanation
                .contains("fits only up to right after #0, but it must follow #2 (#2 is client 2's earlier request)"),
            "{explanation}"
        );
    }

    #[test]
    fn a_session_reads_its_own_writes() {
        let read_by = |client| {
            let mut h = with_a();
            op(&mut h, 1, set("/a", "y", None), 2, 3, set_ok(1));
            op(&mut h, client, get("/a"), 4, 5, data("x", 0));
            h
        };
        assert_ok(&read_by(2));
        violation(&read_by(1));
        // Pipelined: the read is sent before the create is answered, yet comes after it.
        let pipelined = |client| {
            let mut h = History::new();
            let c = h.invoke(1, create("/a", "x"), 0);
            let r = h.invoke(client, get("/a"), 1);
            h.complete(c, OpResult::Ok, 5);
            h.complete(r, OpResult::NoNode, 6);
            h
        };
        assert_ok(&pipelined(2));
        violation(&pipelined(1));
    }

    #[test]
    fn a_read_cannot_see_the_future_or_invented_values() {
        // The write was invoked after the read was answered.
        let mut h = with_a();
        op(&mut h, 2, get("/a"), 2, 3, data("y", 1));
        op(&mut h, 1, set("/a", "y", None), 5, 6, set_ok(1));
        violation(&h);
        // A value nobody wrote; a version nobody made.
        let mut h = with_a();
        op(&mut h, 2, get("/a"), 2, 3, data("z", 0));
        let (_, explanation) = violation(&h);
        assert!(explanation.contains("fits nowhere in this order"), "{explanation}");
        let mut h = with_a();
        op(&mut h, 2, get("/a"), 2, 3, data("x", 5));
        violation(&h);
    }

    #[test]
    fn failed_writes_are_linearizable_too() {
        let mut h = with_a();
        op(&mut h, 2, create("/a", "y"), 2, 3, OpResult::Ok);
        violation(&h);
        let mut h = with_a();
        op(&mut h, 1, delete("/a", None), 2, 3, OpResult::Ok);
        op(&mut h, 2, set("/a", "y", Some(0)), 4, 5, OpResult::BadVersion);
        violation(&h);
        // A version of -1 is ZooKeeper's wildcard.
        let mut h = with_a();
        op(&mut h, 1, set("/a", "y", Some(-1)), 2, 3, set_ok(1));
        op(&mut h, 1, delete("/a", Some(-1)), 4, 5, OpResult::Ok);
        assert_ok(&h);
    }

    #[test]
    fn paths_are_checked_independently() {
        let mut h = with_a();
        op(&mut h, 2, create("/b", "p"), 0, 1, OpResult::Ok);
        op(&mut h, 2, set("/a", "y", None), 2, 3, set_ok(1));
        op(&mut h, 1, sync_get("/b"), 4, 5, OpResult::NoNode);
        // Client 1 reads /a after its own stale read of /b: a different path, no constraint.
        op(&mut h, 1, get("/a"), 6, 7, data("y", 1));
        let (path, explanation) = violation(&h);
        assert_eq!(path, "/b");
        assert!(explanation.contains("#3 client 1: sync+get /b -> NoNode"), "{explanation}");
        assert!(!explanation.contains("/a"), "{explanation}");
    }

    #[test]
    fn answers_of_the_wrong_kind_are_violations() {
        let mut h = History::new();
        op(&mut h, 1, create("/a", "x"), 0, 1, data("x", 0));
        let (path, explanation) = violation(&h);
        assert_eq!(path, "/a");
        assert!(explanation.contains("a create can only answer"), "{explanation}");
        let mut h = History::new();
        op(&mut h, 1, create("/a/b", "x"), 0, 1, OpResult::NoNode);
        assert!(violation(&h).1.contains("flat namespace"));
        let mut h = History::new();
        op(&mut h, 1, get("/a"), 0, 1, OpResult::Ok);
        assert!(violation(&h).1.contains("a getData can only answer"));
    }

    #[test]
    fn preset_nodes_exist_from_the_start() {
        let mut h = History::new();
        op(&mut h, 1, get("/a"), 0, 1, data("x", 0));
        op(&mut h, 2, create("/a", "y"), 2, 3, OpResult::NodeExists);
        violation(&h);
        h.preset("/a", b"x");
        assert_ok(&h);
        assert!(h.to_string().starts_with("preset /a \"x\" version 0\n#0 client 1: get /a"));
    }

    #[test]
    fn an_exhausted_budget_gives_up_instead_of_guessing() {
        let mut h = with_a();
        op(&mut h, 1, set("/a", "y", None), 2, 3, set_ok(1));
        assert_eq!(check(&h, 0), Verdict::GaveUp { path: "/a".to_owned() });
        assert_eq!(check(&h, 1), Verdict::GaveUp { path: "/a".to_owned() });
        assert_eq!(check(&h, 2), Verdict::Ok);
    }

    #[test]
    #[should_panic(expected = "completed twice")]
    fn completing_twice_is_a_harness_bug() {
        let mut h = History::new();
        let id = op(&mut h, 1, get("/a"), 0, 1, OpResult::NoNode);
        h.complete(id, OpResult::NoNode, 2);
    }

    #[test]
    fn data_is_shown_readably() {
        assert_eq!(show_data(b"abc"), "\"abc\"");
        assert_eq!(show_data(&[0, 255]), "0x00ff");
        assert_eq!(show_data(&[b'a'; 30]), format!("\"{}\"…(30 bytes)", "a".repeat(24)));
    }

    // -----------------------------------------------------------------------------------
    // Histories drawn from a real execution.

    /// How [`generate`] draws a history.
    #[derive(Clone, Copy)]
    struct Shape {
        clients: u64,
        ops_per_client: usize,
        paths: usize,
        /// Distinct data values (few: reads are ambiguous); 0 for every write unique.
        values: u64,
        /// Chance that a client gets no answer.
        unknown: Ratio,
    }

    type Znode = Option<(Vec<u8>, i32)>;

    /// The model again, on plain bytes, written from the ZooKeeper semantics.
    fn spec_apply(node: &Znode, op: &Op) -> (Znode, OpResult) {
        let matches = |e: &Option<i32>, v: i32| match e {
            None => true,
            Some(e) => *e == -1 || *e == v,
        };
        match (op, node) {
            (Op::Create { data, .. }, None) => (Some((data.clone(), 0)), OpResult::Ok),
            (Op::Create { .. }, Some(_)) => (node.clone(), OpResult::NodeExists),
            (Op::SetData { .. } | Op::Delete { .. } | Op::GetData { .. }, None) => (None, OpResult::NoNode),
            (Op::SetData { data, expected_version, .. }, Some((_, v))) => {
                if matches(expected_version, *v) {
                    (Some((data.clone(), v + 1)), OpResult::Set { new_version: v + 1 })
                } else {
                    (node.clone(), OpResult::BadVersion)
                }
            }
            (Op::Delete { expected_version, .. }, Some((_, v))) => {
                if matches(expected_version, *v) {
                    (None, OpResult::Ok)
                } else {
                    (node.clone(), OpResult::BadVersion)
                }
            }
            (Op::GetData { .. }, Some((d, v))) => (node.clone(), OpResult::Data { data: d.clone(), version: *v }),
        }
    }

    /// One request in flight in [`generate`].
    struct InFlight {
        id: OpId,
        client: u64,
        path: usize,
        op: Op,
        unknown: bool,
        result: Option<OpResult>,
        /// The client's view (global log length) once answered.
        view: u64,
    }

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Event {
        Invoke(u64),
        Effect(usize),
        Answer(usize),
    }

    /// A history of a ZooKeeper-like execution: one global write log; every write and
    /// synced read takes effect at one instant inside its interval; a plain read is
    /// served from a prefix of the log no older than its client's view; unanswered
    /// requests take effect in time, late, or never.
    fn generate(seed: u64, shape: Shape) -> History {
        let mut rng = Rng::new(seed);
        let mut h = History::new();
        let paths: Vec<String> = (0..shape.paths).map(|p| format!("/p{p}")).collect();
        // Per path, (log length when written, state).
        let mut states: Vec<Vec<(u64, Znode)>> = vec![vec![(0, None)]; shape.paths];
        let mut log_len = 0u64;
        let mut views = vec![0u64; shape.clients as usize];
        let mut issued = vec![0usize; shape.clients as usize];
        let mut flights: Vec<InFlight> = Vec::new();
        let mut queue = BinaryHeap::new();
        let mut seq = 0u64;
        let mut schedule = |queue: &mut BinaryHeap<_>, at: u64, event: Event| {
            seq += 1;
            queue.push(Reverse((at, seq, event)));
        };
        for c in 0..shape.clients {
            schedule(&mut queue, rng.range(0, 3), Event::Invoke(c));
        }
        let mut unique = 0u64;
        while let Some(Reverse((now, _, event))) = queue.pop() {
            match event {
                Event::Invoke(c) => {
                    if issued[c as usize] == shape.ops_per_client {
                        continue;
                    }
                    issued[c as usize] += 1;
                    let path = rng.index(shape.paths);
                    let p = paths[path].clone();
                    let value = if shape.values == 0 {
                        unique += 1;
                        format!("w{unique}")
                    } else {
                        format!("v{}", rng.below(shape.values))
                    };
                    let current = states[path].last().and_then(|(_, n)| n.as_ref().map(|(_, v)| *v)).unwrap_or(0);
                    let expected = match rng.below(6) {
                        0..=2 => None,
                        3 | 4 => Some(current),
                        _ => Some(current + rng.range(0, 2) as i32 - 1),
                    };
                    let op = match rng.below(10) {
                        0 | 1 => create(&p, &value),
                        2..=4 => set(&p, &value, expected),
                        5 => delete(&p, expected),
                        6 => sync_get(&p),
                        _ => get(&p),
                    };
                    let id = h.invoke(c, op.clone(), now);
                    let unknown = rng.chance(shape.unknown);
                    let f = flights.len();
                    flights.push(InFlight { id, client: c, path, op, unknown, result: None, view: 0 });
                    if unknown {
                        // The client gives up after a timeout; the effect comes in time,
                        // late, or never.
                        let timeout = now + 12;
                        schedule(&mut queue, timeout, Event::Answer(f));
                        match rng.below(3) {
                            0 => schedule(&mut queue, now + rng.range(1, 5), Event::Effect(f)),
                            1 => schedule(&mut queue, timeout + rng.range(1, 50), Event::Effect(f)),
                            _ => {}
                        }
                    } else {
                        schedule(&mut queue, now + rng.range(1, 5), Event::Effect(f));
                    }
                }
                Event::Effect(f) => {
                    let flight = &mut flights[f];
                    let path_states = &mut states[flight.path];
                    let client_view = views[flight.client as usize];
                    let result = match &flight.op {
                        Op::GetData { after_sync, .. } => {
                            let fresh = *after_sync || rng.coin();
                            let at = if fresh { log_len } else { rng.range(client_view, log_len) };
                            flight.view = at;
                            let node = &path_states.iter().rev().find(|(len, _)| *len <= at).expect("initial state").1;
                            spec_apply(node, &flight.op).1
                        }
                        write => {
                            let node = path_states.last().expect("initial state").1.clone();
                            let (after, result) = spec_apply(&node, write);
                            if after != node {
                                log_len += 1;
                                path_states.push((log_len, after));
                            }
                            flight.view = log_len;
                            result
                        }
                    };
                    flight.result = Some(result);
                    if !flight.unknown {
                        schedule(&mut queue, now + rng.range(1, 5), Event::Answer(f));
                    }
                }
                Event::Answer(f) => {
                    let flight = &flights[f];
                    if flight.unknown {
                        h.complete(flight.id, OpResult::Unknown, now);
                    } else {
                        let result = flight.result.clone().expect("answered after its effect");
                        h.complete(flight.id, result, now);
                        let view = &mut views[flight.client as usize];
                        *view = (*view).max(flight.view);
                    }
                    schedule(&mut queue, now + rng.range(0, 2), Event::Invoke(flight.client));
                }
            }
        }
        h
    }

    const SMALL: Shape = Shape { clients: 4, ops_per_client: 30, paths: 2, values: 3, unknown: Ratio::per_mille(50) };

    #[test]
    fn histories_of_real_executions_are_ok() {
        let shapes = [
            SMALL,
            Shape { values: 0, ..SMALL },
            Shape { clients: 6, ops_per_client: 40, paths: 1, values: 2, unknown: Ratio::per_mille(100) },
            Shape { clients: 2, ops_per_client: 60, paths: 3, values: 0, unknown: Ratio::ZERO },
        ];
        for seed in 0..200 {
            let h = generate(seed, shapes[seed as usize % shapes.len()]);
            match check(&h, BUDGET_DEFAULT) {
                Verdict::Ok => {}
                other => panic!("seed {seed}: {other:?}\n{h}"),
            }
        }
    }

    /// Changes one answer of `h`; true when the change cannot fit any execution (a value
    /// or version that no write produced).
    fn mutate(h: &mut History, rng: &mut Rng) -> Option<bool> {
        let answered: Vec<usize> = (0..h.entries.len())
            .filter(|&i| matches!(&h.entries[i].completed, Some((_, r)) if *r != OpResult::Unknown))
            .collect();
        if answered.is_empty() {
            return None;
        }
        let e = &mut h.entries[answered[rng.index(answered.len())]];
        let (_, result) = e.completed.as_mut().expect("answered");
        let impossible = rng.below(4) == 0;
        let (new, certain) = match (&e.op, &*result) {
            (Op::GetData { .. }, OpResult::Data { data, version }) if impossible => {
                (OpResult::Data { data: data.clone(), version: version + 1_000_000 }, true)
            }
            (Op::GetData { .. }, OpResult::Data { .. }) if rng.coin() => (OpResult::NoNode, false),
            (Op::GetData { .. }, OpResult::Data { data, version }) => {
                (OpResult::Data { data: data.clone(), version: version + 1 }, false)
            }
            (Op::GetData { .. }, _) if impossible => (data("never written", 0), true),
            (Op::GetData { .. }, _) => (data("v0", 0), false),
            (Op::SetData { .. }, OpResult::Set { new_version }) if impossible => {
                (OpResult::Set { new_version: new_version + 1_000_000 }, true)
            }
            (Op::SetData { .. }, OpResult::Set { new_version }) if rng.coin() => {
                (OpResult::Set { new_version: new_version + 1 }, false)
            }
            (Op::SetData { .. }, OpResult::Set { .. }) => (OpResult::BadVersion, false),
            (Op::SetData { .. }, OpResult::BadVersion) => (set_ok(1), false),
            (Op::SetData { .. }, _) => (OpResult::BadVersion, false),
            (Op::Create { .. }, OpResult::Ok) => (OpResult::NodeExists, false),
            (Op::Create { .. }, _) => (OpResult::Ok, false),
            (Op::Delete { .. }, OpResult::Ok) => (OpResult::NoNode, false),
            (Op::Delete { .. }, _) => (OpResult::Ok, false),
        };
        *result = new;
        Some(certain)
    }

    #[test]
    fn mutated_histories_are_mostly_caught() {
        let mut rng = Rng::new(99);
        let (mut certain, mut plausible, mut caught, mut gave_up) = (0, 0, 0, 0);
        for seed in 0..300 {
            let mut h = generate(1000 + seed, SMALL);
            let Some(is_certain) = mutate(&mut h, &mut rng) else { continue };
            let verdict = check(&h, BUDGET_DEFAULT);
            if is_certain {
                certain += 1;
                assert!(matches!(verdict, Verdict::Violation { .. }), "seed {seed}: {verdict:?}\n{h}");
            } else {
                plausible += 1;
                match verdict {
                    Verdict::Violation { .. } => caught += 1,
                    Verdict::GaveUp { .. } => gave_up += 1,
                    Verdict::Ok => {}
                }
            }
        }
        eprintln!(
            "mutations: {certain} impossible (all caught), {caught} of {plausible} plausible caught, {gave_up} gave up"
        );
        assert!(certain > 30);
        assert_eq!(gave_up, 0);
        // Some plausible changes still fit (a stale read made staler); most do not.
        assert!(caught * 10 >= plausible * 7, "{caught} of {plausible}");
    }

    // -----------------------------------------------------------------------------------
    // Against exhaustive enumeration.

    /// Must `a` precede `b`? The guarantees of the module docs, restated on entries.
    fn spec_before(a: (usize, &Entry), b: (usize, &Entry)) -> bool {
        let answered = match &a.1.completed {
            Some((at, r)) if *r != OpResult::Unknown => *at,
            _ => return false,
        };
        let plain_read = matches!(b.1.op, Op::GetData { after_sync: false, .. });
        if a.1.client == b.1.client {
            (a.1.invoked, a.0) < (b.1.invoked, b.0)
        } else {
            answered < b.1.invoked && !plain_read
        }
    }

    /// Is there an order of `h` (one path) fitting the guarantees? Tries every subset of
    /// unanswered writes to take effect and every order of the chosen operations.
    fn brute_force(h: &History) -> bool {
        let ops: Vec<usize> = (0..h.entries.len())
            .filter(|&i| {
                let e = &h.entries[i];
                let unknown = matches!(e.completed, None | Some((_, OpResult::Unknown)));
                !(unknown && matches!(e.op, Op::GetData { .. }))
            })
            .collect();
        let unknown: Vec<usize> = ops
            .iter()
            .copied()
            .filter(|&i| matches!(h.entries[i].completed, None | Some((_, OpResult::Unknown))))
            .collect();
        let initial: Znode = h.preset.values().next().map(|d| (d.clone(), 0));
        (0..1u32 << unknown.len()).any(|mask| {
            let chosen: Vec<usize> = ops
                .iter()
                .copied()
                .filter(|i| match unknown.iter().position(|u| u == i) {
                    None => true,
                    Some(k) => mask & (1 << k) != 0,
                })
                .collect();
            orders(h, &chosen, &mut vec![false; chosen.len()], initial.clone(), 0)
        })
    }

    /// Can the unplaced `chosen` operations follow, from `node`?
    fn orders(h: &History, chosen: &[usize], placed: &mut Vec<bool>, node: Znode, count: usize) -> bool {
        if count == chosen.len() {
            return true;
        }
        for k in 0..chosen.len() {
            if placed[k] {
                continue;
            }
            let i = chosen[k];
            let blocked = (0..chosen.len())
                .any(|j| !placed[j] && j != k && spec_before((chosen[j], &h.entries[chosen[j]]), (i, &h.entries[i])));
            if blocked {
                continue;
            }
            let (after, natural) = spec_apply(&node, &h.entries[i].op);
            let fits = match &h.entries[i].completed {
                Some((_, r)) if *r != OpResult::Unknown => *r == natural,
                _ => true,
            };
            if fits {
                placed[k] = true;
                let ok = orders(h, chosen, placed, after, count + 1);
                placed[k] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }

    /// A small history on `/a` with arbitrary intervals and plausible but random answers;
    /// a third of the operations get no answer.
    fn random_small(rng: &mut Rng) -> History {
        let mut h = History::new();
        if rng.coin() {
            h.preset("/a", b"x");
        }
        let clients = rng.range(1, 4);
        for _ in 0..rng.range(1, 8) {
            let client = rng.range(1, clients);
            let value = ["x", "y", "z"][rng.index(3)];
            let expected = if rng.coin() { None } else { Some(rng.range(0, 2) as i32) };
            let (o, result) = match rng.below(5) {
                0 => (create("/a", value), if rng.coin() { OpResult::Ok } else { OpResult::NodeExists }),
                1 => {
                    let r =
                        [set_ok(rng.range(0, 3) as i32), OpResult::NoNode, OpResult::BadVersion][rng.index(3)].clone();
                    (set("/a", value, expected), r)
                }
                2 => (
                    delete("/a", expected),
                    [OpResult::Ok, OpResult::NoNode, OpResult::BadVersion][rng.index(3)].clone(),
                ),
                k => {
                    let r = if rng.below(3) == 0 { OpResult::NoNode } else { data(value, rng.range(0, 3) as i32) };
                    (if k == 3 { get("/a") } else { sync_get("/a") }, r)
                }
            };
            let from = rng.range(0, 30);
            let to = from + rng.range(0, 10);
            let id = h.invoke(client, o, from);
            match rng.below(6) {
                0 => {}
                1 => h.complete(id, OpResult::Unknown, to),
                _ => h.complete(id, result, to),
            }
        }
        h
    }

    #[test]
    fn agrees_with_exhaustive_enumeration_on_small_histories() {
        let mut rng = Rng::new(5);
        let (mut ok, mut bad) = (0, 0);
        for case in 0..3000 {
            let h = if case % 4 == 0 {
                let shape =
                    Shape { clients: 3, ops_per_client: 3, paths: 1, values: 2, unknown: Ratio::per_mille(300) };
                generate(case, shape)
            } else {
                random_small(&mut rng)
            };
            let expected = brute_force(&h);
            let verdict = check(&h, BUDGET_DEFAULT);
            match (&verdict, expected) {
                (Verdict::Ok, true) => ok += 1,
                (Verdict::Violation { .. }, false) => bad += 1,
                _ => panic!("case {case}: checker says {verdict:?}, enumeration says {expected}\n{h}"),
            }
        }
        eprintln!("small histories: {ok} ok, {bad} violations");
        assert!(ok > 800 && bad > 800, "{ok} ok, {bad} violations");
    }

    /// The reduced precedence graph orders exactly what [`must_precede`] orders,
    /// transitively.
    #[test]
    fn the_precedence_graph_keeps_every_constraint() {
        let mut rng = Rng::new(11);
        for case in 0..300 {
            let h = if case % 2 == 0 {
                generate(
                    case,
                    Shape { clients: 4, ops_per_client: 12, paths: 1, values: 2, unknown: Ratio::per_mille(150) },
                )
            } else {
                random_small(&mut rng)
            };
            let mut datas = Interner::default();
            let mut ops: Vec<PathOp> =
                h.entries.iter().enumerate().filter_map(|(id, e)| PathOp::new(id, e, &mut datas)).collect();
            ops.sort_by_key(|op| (op.invoked, op.id));
            let n = ops.len();
            let closure = |direct: &dyn Fn(usize, usize) -> bool| {
                let mut reach = vec![vec![false; n]; n];
                for a in (0..n).rev() {
                    for b in a + 1..n {
                        if direct(a, b) {
                            reach[a][b] = true;
                            let (upper, lower) = reach.split_at_mut(b);
                            for (x, y) in upper[a].iter_mut().zip(&lower[0]) {
                                *x |= *y;
                            }
                        }
                    }
                }
                reach
            };
            let graph = Graph::new(&ops);
            let expected = closure(&|a, b| must_precede(&ops[a], &ops[b]));
            let reduced = closure(&|a, b| graph.after[a].contains(&(b as u32)));
            assert_eq!(reduced, expected, "case {case}\n{h}");
            for b in 0..n {
                let count = (0..n).filter(|&a| graph.after[a].contains(&(b as u32))).count();
                assert_eq!(graph.before_count[b] as usize, count);
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Speed.

    fn timed(shape: Shape, seed: u64) -> std::time::Duration {
        let h = generate(seed, shape);
        assert_eq!(h.len(), (shape.clients as usize) * shape.ops_per_client);
        let start = std::time::Instant::now();
        let verdict = check(&h, BUDGET_DEFAULT);
        let took = start.elapsed();
        assert_eq!(verdict, Verdict::Ok, "seed {seed}");
        took
    }

    /// Release builds must be well under a second; debug builds get slack.
    fn limit() -> std::time::Duration {
        std::time::Duration::from_millis(if cfg!(debug_assertions) { 20_000 } else { 500 })
    }

    #[test]
    fn five_clients_of_200_ops_over_10_paths_check_quickly() {
        let shape = Shape { clients: 5, ops_per_client: 200, paths: 10, values: 4, unknown: Ratio::per_mille(30) };
        for seed in 0..3 {
            let took = timed(shape, seed);
            eprintln!("5 clients x 200 ops over 10 paths, seed {seed}: {took:?}");
            assert!(took < limit(), "{took:?}");
        }
    }

    #[test]
    fn a_hot_path_with_many_unanswered_requests_checks_quickly() {
        let shape = Shape { clients: 10, ops_per_client: 100, paths: 1, values: 3, unknown: Ratio::per_mille(100) };
        for seed in 0..5 {
            let took = timed(shape, seed);
            eprintln!("10 clients x 100 ops on 1 path, 10% unanswered, seed {seed}: {took:?}");
            assert!(took < limit(), "{took:?}");
        }
    }

    #[test]
    fn one_hot_path_checks_quickly() {
        let shape = Shape { clients: 5, ops_per_client: 200, paths: 1, values: 4, unknown: Ratio::per_mille(30) };
        for seed in 0..3 {
            let took = timed(shape, seed);
            eprintln!("5 clients x 200 ops on 1 path, seed {seed}: {took:?}");
            assert!(took < limit(), "{took:?}");
        }
    }
}
