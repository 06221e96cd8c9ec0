//! The differential fuzzer: random operation sequences from a seed, run on several targets
//! side by side (Apache ZooKeeper first, as the reference), whose results, Stat relations and
//! watch events must agree. A divergence is shrunk to a minimal sequence and printed with
//! its seed.
//!
//! Two sessions work on a small set of paths so that operations collide: creates that exist,
//! deletes of non-empty nodes, versions that no longer match, watches that fire. What differs
//! by nature between servers is compared by relation: zxids by their rank among the zxids the
//! sequence saw, session ids as "which of the two sessions"; times are left out (whether a
//! setData lands in the same millisecond as the create is up to the clock, and the
//! scenarios check the time relations that hold everywhere).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use super::client::Client;
use super::runner::{new_session, stat_of, unmap_path};
use super::scenario::{self as sc, acl};
use super::target::Target;
use super::wire::{mode, Acl, Body, CreateKind, MultiItem, Op, Reply, Stat};
use crate::sim::rng::Rng;

/// Sessions per sequence.
const SESSIONS: usize = 2;
/// Paths the operations pick from: collisions are the point.
const PATHS: [&str; 7] = ["/a", "/b", "/a/x", "/a/y", "/b/z", "/a/x/q", "/c"];
/// Parents sequential creates pick from.
const PARENTS: [&str; 3] = ["/", "/a", "/b"];
/// Session timeout of the fuzzer's sessions, ms.
const SESSION_TIMEOUT_MS: i32 = 10_000;

/// One step: which session sends which request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Session index.
    pub session: usize,
    /// The request (paths relative to the sequence's root).
    pub op: Op,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}: {}", self.session, describe_op(&self.op))
    }
}

fn describe_op(op: &Op) -> String {
    match op {
        Op::Create { path, flags, kind, data, .. } => {
            format!("create{} {path} flags={flags} data={}", kind_name(*kind), data.as_ref().map_or(0, Vec::len))
        }
        Op::Delete { path, version } => format!("delete {path} v={version}"),
        Op::Exists { path, watch } => format!("exists {path} watch={watch}"),
        Op::GetData { path, watch } => format!("getData {path} watch={watch}"),
        Op::SetData { path, version, data } => {
            format!("setData {path} v={version} data={}", data.as_ref().map_or(0, Vec::len))
        }
        Op::GetChildren { path, watch } => format!("getChildren {path} watch={watch}"),
        Op::GetChildren2 { path, watch } => format!("getChildren2 {path} watch={watch}"),
        Op::GetAcl { path } => format!("getACL {path}"),
        Op::SetAcl { path, acl, version } => format!("setACL {path} perms={} v={version}", acl[0].perms),
        Op::Sync { path } => format!("sync {path}"),
        Op::Check { path, version } => format!("check {path} v={version}"),
        Op::Multi(ops) => format!("multi [{}]", ops.iter().map(describe_op).collect::<Vec<_>>().join(", ")),
        Op::AddWatch { path, mode } => format!("addWatch {path} mode={mode}"),
        Op::GetAllChildrenNumber { path } => format!("getAllChildrenNumber {path}"),
        Op::GetEphemerals { prefix } => format!("getEphemerals {prefix}"),
        other => format!("{other:?}"),
    }
}

fn kind_name(k: CreateKind) -> &'static str {
    match k {
        CreateKind::Create => "",
        CreateKind::Create2 => "2",
        CreateKind::Container => "Container",
        CreateKind::Ttl(_) => "TTL",
    }
}

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.index(from.len())]
}

fn version(rng: &mut Rng) -> i32 {
    if rng.coin() {
        -1
    } else {
        rng.below(3) as i32
    }
}

fn data(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(4) as usize;
    (0..n).map(|_| b'a' + rng.below(26) as u8).collect()
}

fn write_op(rng: &mut Rng) -> Op {
    match rng.below(4) {
        0 => {
            let flags = [mode::PERSISTENT, mode::PERSISTENT, mode::EPHEMERAL][rng.index(3)];
            sc::create_with(pick(rng, &PATHS), &data(rng), flags, CreateKind::Create)
        }
        1 => sc::delete(pick(rng, &PATHS), version(rng)),
        2 => sc::set(pick(rng, &PATHS), &data(rng), version(rng)),
        _ => sc::check(pick(rng, &PATHS), version(rng)),
    }
}

/// A random request.
fn random_op(rng: &mut Rng) -> Op {
    let path = pick(rng, &PATHS);
    match rng.below(20) {
        0..=3 => {
            // No containers: when an emptied one is reaped depends on the server's clock,
            // so the runs would differ by timing (the scenarios cover containers).
            let flags = [mode::PERSISTENT, mode::PERSISTENT, mode::EPHEMERAL][rng.index(3)];
            let kind = if rng.coin() { CreateKind::Create2 } else { CreateKind::Create };
            sc::create_with(path, &data(rng), flags, kind)
        }
        4 => {
            let parent = pick(rng, &PARENTS);
            let prefix = if parent == "/" { "/s-".to_string() } else { format!("{parent}/s-") };
            let flags = if rng.coin() { mode::PERSISTENT_SEQUENTIAL } else { mode::EPHEMERAL_SEQUENTIAL };
            sc::create_with(&prefix, b"", flags, CreateKind::Create2)
        }
        5..=6 => sc::delete(path, version(rng)),
        7..=8 => sc::set(path, &data(rng), version(rng)),
        9 => sc::get(path, rng.coin()),
        10 => sc::exists(path, rng.coin()),
        11 => sc::children(path, rng.coin()),
        12 => sc::children2(path, rng.coin()),
        13 => {
            let n = 1 + rng.below(3) as usize;
            Op::Multi((0..n).map(|_| write_op(rng)).collect())
        }
        14 => {
            let perms = if rng.coin() { 31 } else { 1 | 2 | 4 | 8 };
            sc::set_acl(path, vec![acl(perms, "world", "anyone")], version(rng))
        }
        15 => sc::get_acl(path),
        16 => sc::add_watch(path, rng.coin()),
        17 => Op::GetAllChildrenNumber { path: path.to_string() },
        18 => Op::GetEphemerals { prefix: "/".to_string() },
        _ => sc::sync(path),
    }
}

/// The sequence a seed stands for.
pub fn sequence(seed: u64, len: usize) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| Step { session: rng.index(SESSIONS), op: random_op(&mut rng) }).collect()
}

/// What one step gave, before normalization.
#[derive(Clone, Debug)]
enum Raw {
    Reply(Reply),
    Lost(String),
}

/// What a run of a sequence gave on one target, normalized for comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// One line per step.
    pub steps: Vec<String>,
    /// Each session's watch events, in order.
    pub events: Vec<Vec<String>>,
}

/// Runs `seq` on `t` under `root` (created here) and returns its normalized trace.
pub fn run(t: &mut dyn Target, seq: &[Step], root: &str) -> Result<Trace, String> {
    let connect = new_session(SESSION_TIMEOUT_MS);
    let mut clients = Vec::new();
    for _ in 0..SESSIONS {
        clients.push(Client::connect(t, 0, &connect).map_err(|e| format!("connect: {e}"))?);
    }
    let r = clients[0].call(t, &sc::create(root, b"")).map_err(|e| format!("create root: {e}"))?;
    if r.err != 0 {
        return Err(format!("create {root}: error {}", r.err));
    }
    let mut raws = Vec::new();
    for step in seq {
        let op = map_op(&step.op, root);
        let c = &mut clients[step.session];
        raws.push(match c.call(t, &op) {
            Ok(r) => Raw::Reply(r),
            Err(e) => Raw::Lost(e.to_string()),
        });
    }
    // A round trip on each session: every event of an earlier txn precedes its reply.
    let mut events = Vec::new();
    for c in clients.iter_mut() {
        let _ = c.call(t, &sc::exists(root, false));
        let mut list = Vec::new();
        while let Ok(Some((_, e))) = c.next_event(t, Duration::ZERO) {
            list.push(format!("{} {}", e.kind, unmap_path(&e.path, root)));
        }
        events.push(list);
    }
    let sessions: Vec<i64> = clients.iter().map(|c| c.session_id()).collect();
    for c in clients.iter_mut() {
        let _ = c.call(t, &Op::CloseSession);
        t.close(c.link);
    }
    Ok(normalize(&raws, events, &sessions, root))
}

fn map_path(p: &str, root: &str) -> String {
    if p == "/" {
        root.to_string()
    } else {
        format!("{root}{p}")
    }
}

fn map_op(op: &Op, root: &str) -> Op {
    match op.try_map_paths::<()>(&|p| Ok(map_path(p, root))) {
        Ok(mapped) => mapped,
        Err(()) => op.clone(),
    }
}

/// Every zxid the run saw, in order, so each can be named by its rank.
fn zxid_ranks(raws: &[Raw]) -> BTreeMap<i64, usize> {
    let mut all = Vec::new();
    for raw in raws {
        if let Raw::Reply(r) = raw {
            all.push(r.zxid);
            let mut bodies = vec![&r.body];
            if let Body::Multi(items) = &r.body {
                bodies.extend(items.iter().filter_map(|i| match i {
                    MultiItem::Ok(b) => Some(b),
                    MultiItem::Err(_) => None,
                }));
            }
            for s in bodies.into_iter().filter_map(stat_of) {
                all.extend([s.czxid, s.mzxid, s.pzxid]);
            }
        }
    }
    all.sort_unstable();
    all.dedup();
    all.into_iter().enumerate().map(|(i, z)| (z, i)).collect()
}

fn normalize(raws: &[Raw], events: Vec<Vec<String>>, sessions: &[i64], root: &str) -> Trace {
    let ranks = zxid_ranks(raws);
    let z = |v: i64| ranks.get(&v).map_or_else(|| "?".to_string(), |r| format!("z{r}"));
    let owner = |o: i64| match sessions.iter().position(|&s| s == o) {
        Some(i) => format!("s{i}"),
        None if o == 0 => "-".into(),
        None => "other".into(),
    };
    let stat = |s: &Stat| {
        format!(
            "stat(c={} m={} p={} v={} cv={} av={} owner={} len={} n={})",
            z(s.czxid),
            z(s.mzxid),
            z(s.pzxid),
            s.version,
            s.cversion,
            s.aversion,
            owner(s.ephemeral_owner),
            s.data_length,
            s.num_children
        )
    };
    fn body_text(b: &Body, root: &str, stat: &dyn Fn(&Stat) -> String) -> String {
        match b {
            Body::Empty => String::new(),
            Body::Path(p) => unmap_path(p, root),
            Body::Created { path, stat: s } => format!("{} {}", unmap_path(path, root), stat(s)),
            Body::Stat(s) => stat(s),
            Body::Data { data, stat: s } => {
                format!("{:?} {}", String::from_utf8_lossy(data.as_deref().unwrap_or_default()), stat(s))
            }
            Body::Acl { acl, stat: s } => format!("{} {}", acl_text(acl), stat(s)),
            Body::Children(c) => {
                let mut c: Vec<String> = c.iter().map(|p| unmap_path(p, root)).collect();
                c.sort();
                format!("{c:?}")
            }
            Body::Children2 { children, stat: s } => {
                let mut c = children.clone();
                c.sort();
                format!("{c:?} {}", stat(s))
            }
            Body::Multi(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        MultiItem::Ok(b) => format!("ok {}", body_text(b, root, stat)),
                        MultiItem::Err(e) => format!("err {e}"),
                    })
                    .collect();
                format!("[{}]", parts.join("; "))
            }
            Body::Count(n) => n.to_string(),
            Body::WhoAmI(w) => format!("{w:?}"),
        }
    }
    let steps = raws
        .iter()
        .map(|raw| match raw {
            Raw::Lost(e) => format!("no reply: {e}"),
            Raw::Reply(r) => format!("err={} zxid={} {}", r.err, z(r.zxid), body_text(&r.body, root, &stat)),
        })
        .collect();
    Trace { steps, events }
}

fn acl_text(acl: &[Acl]) -> String {
    acl.iter().map(|a| format!("{}:{}:{}", a.scheme, a.id, a.perms)).collect::<Vec<_>>().join(",")
}

/// Where two targets' traces first differ, as text.
pub fn difference(seq: &[Step], names: (&str, &str), a: &Trace, b: &Trace) -> Option<String> {
    if a == b {
        return None;
    }
    let mut s = String::new();
    for (i, (x, y)) in a.steps.iter().zip(&b.steps).enumerate() {
        if x != y {
            let _ = writeln!(s, "step {} ({}):\n  {}: {x}\n  {}: {y}", i + 1, seq[i], names.0, names.1);
            return Some(s);
        }
    }
    for (i, (x, y)) in a.events.iter().zip(&b.events).enumerate() {
        if x != y {
            let _ = writeln!(s, "session {i}'s events:\n  {}: {x:?}\n  {}: {y:?}", names.0, names.1);
            return Some(s);
        }
    }
    Some("traces differ in length".into())
}

/// The fuzzer over a set of targets (the first is the reference).
pub struct Fuzzer<'t> {
    targets: Vec<&'t mut dyn Target>,
    runs: u64,
}

/// A divergence, shrunk.
#[derive(Debug)]
pub struct Divergence {
    /// The seed of the sequence.
    pub seed: u64,
    /// The minimal sequence that still diverges.
    pub minimal: Vec<Step>,
    /// How the targets differ on it.
    pub report: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} diverges; minimal sequence ({} steps):", self.seed, self.minimal.len())?;
        for (i, s) in self.minimal.iter().enumerate() {
            writeln!(f, "  {:2}. {s}", i + 1)?;
        }
        write!(f, "{}", self.report)
    }
}

/// Largest number of shrinking attempts for one divergence.
const SHRINK_RUNS_MAX: usize = 400;

impl<'t> Fuzzer<'t> {
    /// Over these targets; the first is the reference.
    pub fn new(targets: Vec<&'t mut dyn Target>) -> Fuzzer<'t> {
        Fuzzer { targets, runs: 0 }
    }

    /// Runs `seq` on every target; the first difference from the reference, if any.
    pub fn check(&mut self, seq: &[Step]) -> Result<Option<String>, String> {
        self.runs += 1;
        let root = format!("/fuzz-{}", self.runs);
        let mut traces = Vec::new();
        for t in self.targets.iter_mut() {
            let name = t.name().to_string();
            traces.push((name.clone(), run(&mut **t, seq, &root).map_err(|e| format!("{name}: {e}"))?));
        }
        let (ref_name, reference) = &traces[0];
        for (name, trace) in &traces[1..] {
            if let Some(d) = difference(seq, (ref_name, name), reference, trace) {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Checks the sequence of `seed`; on a divergence, shrinks it by dropping steps while it
    /// still diverges.
    pub fn fuzz(&mut self, seed: u64, len: usize) -> Result<Option<Divergence>, String> {
        let seq = sequence(seed, len);
        let Some(mut report) = self.check(&seq)? else { return Ok(None) };
        let mut minimal = seq;
        let mut tries = 0;
        let mut i = minimal.len();
        while i > 0 && tries < SHRINK_RUNS_MAX {
            i -= 1;
            let mut shorter = minimal.clone();
            shorter.remove(i);
            tries += 1;
            if let Some(r) = self.check(&shorter)? {
                minimal = shorter;
                report = r;
                i = i.min(minimal.len());
            }
        }
        Ok(Some(Divergence { seed, minimal, report }))
    }
}
