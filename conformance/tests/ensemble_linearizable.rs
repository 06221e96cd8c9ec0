//! Jepsen-style test of a 3-member ensemble: concurrent clients write, compare-and-set and read a
//! few znodes while the leader is SIGKILLed and restarted and then the (new) leader is paused
//! (SIGSTOP) and resumed; every request is recorded with its invocation and answer times, and
//! the history must pass `sim::linearize::check`. Afterwards every member must report the same
//! final value of every key after `sync`.
//!
//! One workload, two targets:
//! - herd (`$HERD_BIN`, else `<repo>/target/release/herd`; a missing binary fails the test):
//!   writes, compare-and-sets and `sync`+getData must be linearizable, plain reads sequentially
//!   consistent (per-session order, never from the future).
//! - Apache ZooKeeper 3.8 (`/usr/share/java/zookeeper.jar`; missing fails the test). ZooKeeper's
//!   `sync` is not a quorum operation, so `sync`+getData is not linearizable across a leader
//!   change (ZOOKEEPER-1675): a deposed leader that has not noticed yet answers a sync at once.
//!   For ZooKeeper the workload's `sync`+getData reads are therefore checked as plain reads
//!   (asserted: writes and compare-and-sets linearizable, reads sequentially consistent); the
//!   strict reading is checked as well and only printed. The final reads after `sync`, done once
//!   the ensemble is quiet (one leader, two followers), are checked as linearizable for both.
//!
//! Timeline of one run (from the start of the workload): leader SIGKILLed at 3 s, restarted
//! 5 s later on its data dir; once it follows, 2 s of quiet, then the current leader is paused
//! for 4 s (longer than syncLimit, so the others elect a new one) and resumed; 4 s later the
//! clients stop. The two tests take a lock so that they never run at the same time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance::ensemble_harness::{self as harness, Ensemble, Kind, Launch};
use conformance::sim::linearize::{self, History, Op, OpResult, Verdict};
use zookeeper_client as zk;

/// Concurrent client tasks (each with one session at a time).
const CLIENTS: usize = 5;
/// Keys `/lin/k0..`: few, so that clients contend and compare-and-sets fail as well as succeed.
const KEYS: usize = 4;
/// Parent of the keys.
const ROOT: &str = "/lin";
/// Data of every key when the workload starts (version 0).
const INITIAL: &[u8] = b"init";

/// From the workload's start to the leader's SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(3);
/// How long the killed leader stays down.
const DOWN_FOR: Duration = Duration::from_secs(5);
/// Quiet time between the restarted member following and the pause.
const BEFORE_PAUSE: Duration = Duration::from_secs(2);
/// How long the leader is paused: longer than syncLimit (5 ticks of 500 ms), so the others
/// elect a new leader, and shorter than [`CONNECTION_TIMEOUT`], so its clients stay
/// connected and their queued requests reach it once it resumes, while it may still think it
/// leads.
const PAUSE_FOR: Duration = Duration::from_secs(4);
/// Workload after the last fault.
const AFTER_FAULTS: Duration = Duration::from_secs(4);
/// Hard bound on the workload, whatever the fault schedule does.
const WORKLOAD_MAX: Duration = Duration::from_secs(90);
/// Operations one client issues at most (keeps the history's check fast).
const OPS_PER_CLIENT_MAX: usize = 6000;
/// A client pauses up to this long (uniformly) between operations, so that the history spans
/// the whole timeline at a size the checker handles quickly.
const THINK_MAX_MS: u64 = 8;

/// Session timeout the clients ask for (ZooKeeper caps it at 20 ticks = 10 s); longer than
/// every outage of the schedule, so sessions survive them.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle time after which a client drops its connection (at most 3/5 of the session timeout
/// in zookeeper-client); see [`PAUSE_FOR`].
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(6);
/// How long opening a session may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one operation may take before its outcome counts as unknown (and its session is
/// replaced).
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed connect or a failed request, so an outage is not a busy loop of
/// unknown outcomes.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Extra time a client task may take to finish once told to stop.
const JOIN_SLACK: Duration = Duration::from_secs(5);

/// How long the ensemble may take to form (three JVMs start slowly on a busy machine).
const FORM_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the roles may take to settle after a fault.
const ROLES_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the set-up and the final reads of one member may take, retries included.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(400);
/// Search budget of the checker (about a second per 10 M steps).
const CHECK_BUDGET: u64 = 5 * linearize::BUDGET_DEFAULT;
/// History client ids of the final reads start here (workload ids are below).
const FINAL_CLIENT_BASE: u64 = 1_000_000;
/// Workload client ids: client index times this, plus the session's number.
const SESSIONS_PER_CLIENT_MAX: u64 = 10_000;
/// JVM heap of each ZooKeeper member (the data is tiny).
const ZK_HEAP: &str = "256m";

/// The two tests start several servers each on a 2-core machine: never both at once.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn herd_ensemble_is_linearizable_through_leader_kill_and_pause() {
    let bin = harness::herd_bin();
    assert!(
        bin.exists(),
        "herd binary {} not found: build it (cargo build --release -p shell-std) or set HERD_BIN",
        bin.display()
    );
    run_test(Target { kind: Kind::Herd, herd_bin: bin, sync_reads_linearizable: true });
}

#[test]
fn zookeeper_ensemble_is_linearizable_through_leader_kill_and_pause() {
    assert!(
        Path::new(harness::ZK_JAR).exists(),
        "{} not found: install Debian's libzookeeper-java (ZooKeeper 3.8), as CI does",
        harness::ZK_JAR
    );
    run_test(Target { kind: Kind::Zookeeper, herd_bin: harness::herd_bin(), sync_reads_linearizable: false });
}

/// What runs and what its history must satisfy.
struct Target {
    kind: Kind,
    herd_bin: PathBuf,
    /// Whether the workload's `sync`+getData reads are checked as linearizable (else as plain
    /// reads; the strict check is then only printed).
    sync_reads_linearizable: bool,
}

fn run_test(target: Target) {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::Builder::new()
        .prefix(&format!("herd-lin-{}-", target.kind.to_string().to_lowercase()))
        .tempdir()
        .expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let started = Instant::now();
    let result = rt.block_on(async {
        match tokio::time::timeout(TEST_TIMEOUT, run(&target, dir.path())).await {
            Ok(r) => r,
            Err(_) => Err(format!("the test did not finish within {TEST_TIMEOUT:?}")),
        }
    });
    // Sessions' background tasks may still wait on killed servers; do not wait for them.
    rt.shutdown_timeout(Duration::from_secs(1));
    eprintln!("[{}] finished in {:.1}s", target.kind, started.elapsed().as_secs_f64());
    if let Err(e) = result {
        let kept = dir.keep();
        panic!("{} ensemble: {e}\n(server logs and history kept in {})", target.kind, kept.display());
    }
}

/// Microseconds since the test's start: the history's clock.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// One recorded operation (turned into a [`History`] at the end).
#[derive(Clone, Debug)]
struct Record {
    client: u64,
    op: Op,
    invoked: u64,
    answer: OpResult,
    completed: u64,
}

/// What one client task hands back.
#[derive(Default)]
struct ClientLog {
    records: Vec<Record>,
    sessions: u64,
    failed_connects: u64,
    first_error: Option<String>,
}

impl ClientLog {
    fn error(&mut self, e: String) {
        self.first_error.get_or_insert(e);
    }
}

/// splitmix64: the workload's choices, reproducible from the printed seed (timing is not).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn key_path(k: usize) -> String {
    format!("{ROOT}/k{k}")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// How a failed request is recorded, and whether its session is kept.
fn classify(e: &zk::Error) -> (OpResult, bool) {
    match e {
        // Definite answers: the request was executed and changed nothing.
        zk::Error::BadVersion => (OpResult::BadVersion, true),
        zk::Error::NoNode => (OpResult::NoNode, true),
        // The session is gone: a new one is needed.
        zk::Error::SessionExpired
        | zk::Error::SessionMoved
        | zk::Error::ClientClosed
        | zk::Error::NoHosts
        | zk::Error::AuthFailed => (OpResult::Unknown, false),
        // Connection loss and the like: the client reconnects the same session by itself.
        _ => (OpResult::Unknown, true),
    }
}

/// Opens a session to the connect string (the client picks a member and moves to another one
/// when it loses the connection).
async fn open(connect: &str) -> Result<zk::Client, String> {
    let fut = zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .with_connection_timeout(CONNECTION_TIMEOUT)
        .with_fail_eagerly()
        .connect(connect);
    match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("connect {connect}: {e}")),
        Err(_) => Err(format!("connect {connect}: no session within {CONNECT_TIMEOUT:?}")),
    }
}

/// The requests a client picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Get,
    SyncGet,
    Cas,
    Set,
}

/// One client: operations one at a time until `stop`, the deadline or
/// [`OPS_PER_CLIENT_MAX`], every one recorded.
async fn client_loop(
    idx: usize,
    connect: String,
    clock: Clock,
    seed: u64,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> ClientLog {
    let mut log = ClientLog::default();
    let mut rng = Rng(seed ^ (idx as u64 + 1).wrapping_mul(0xD134_2543_DE82_EF95));
    let mut session: Option<(zk::Client, u64)> = None;
    // Last version this client saw per key: the expected version of its compare-and-sets.
    let mut known: [Option<i32>; KEYS] = [None; KEYS];
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && log.records.len() < OPS_PER_CLIENT_MAX {
        let (client, id) = match &session {
            Some(s) => s.clone(),
            None => match open(&connect).await {
                Ok(c) => {
                    log.sessions += 1;
                    let id = idx as u64 * SESSIONS_PER_CLIENT_MAX + log.sessions;
                    session = Some((c.clone(), id));
                    (c, id)
                }
                Err(e) => {
                    log.failed_connects += 1;
                    log.error(e);
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        let key = rng.below(KEYS as u64) as usize;
        let path = key_path(key);
        let mut request = match rng.below(100) {
            0..=29 => Request::Get,
            30..=49 => Request::SyncGet,
            50..=74 => Request::Cas,
            _ => Request::Set,
        };
        if request == Request::Cas && known[key].is_none() {
            // Nothing to compare with: learn the version first.
            request = Request::Get;
        }
        seq += 1;
        let data = format!("c{idx}-{seq}").into_bytes();
        let (op, invoked, outcome) = match request {
            Request::Get | Request::SyncGet => {
                let after_sync = request == Request::SyncGet;
                let invoked = clock.now();
                let read = async {
                    if after_sync {
                        client.sync(&path).await?;
                    }
                    client.get_data(&path).await
                };
                let r = tokio::time::timeout(OP_TIMEOUT, read).await;
                let outcome = r.map(|r| {
                    r.map(|(data, stat)| {
                        known[key] = Some(stat.version);
                        OpResult::Data { data, version: stat.version }
                    })
                });
                (Op::GetData { path: path.clone(), after_sync }, invoked, outcome)
            }
            Request::Cas | Request::Set => {
                let expected_version = if request == Request::Cas { known[key] } else { None };
                let invoked = clock.now();
                let r = tokio::time::timeout(OP_TIMEOUT, client.set_data(&path, &data, expected_version)).await;
                let outcome = r.map(|r| {
                    r.map(|stat| {
                        known[key] = Some(stat.version);
                        OpResult::Set { new_version: stat.version }
                    })
                });
                (Op::SetData { path: path.clone(), data, expected_version }, invoked, outcome)
            }
        };
        let (answer, keep_session, pause) = match outcome {
            Ok(Ok(answer)) => (answer, true, false),
            Ok(Err(e)) => {
                let (answer, keep) = classify(&e);
                if answer == OpResult::BadVersion {
                    known[key] = None;
                }
                let definite = answer != OpResult::Unknown;
                if !definite {
                    log.error(format!("{request:?} {path}: {e}"));
                }
                (answer, keep, !definite)
            }
            Err(_) => {
                log.error(format!("{request:?} {path}: no answer within {OP_TIMEOUT:?}"));
                (OpResult::Unknown, false, false)
            }
        };
        let completed = clock.now();
        log.records.push(Record { client: id, op, invoked, answer, completed });
        if !keep_session {
            session = None;
        }
        if pause {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        let think = rng.below(THINK_MAX_MS + 1);
        if think > 0 {
            tokio::time::sleep(Duration::from_millis(think)).await;
        }
    }
    log
}

/// A fault of the schedule, for the report: what happened when (history clock, µs).
struct Fault {
    at: u64,
    what: String,
}

/// Runs the fault schedule while the clients work; errors stop it (the caller still stops
/// the clients and resumes every member).
async fn faults(ens: &mut Ensemble, clock: Clock, begin: Instant, log: &mut Vec<Fault>) -> Result<(), String> {
    let kind = ens.kind;
    let note = |log: &mut Vec<Fault>, what: String| {
        eprintln!("[{kind}] t={:.3}s {what}", clock.now() as f64 / 1e6);
        log.push(Fault { at: clock.now(), what });
    };
    tokio::time::sleep_until((begin + KILL_AFTER).into()).await;
    let (leader, _) = ens.wait_roles(None, ROLES_TIMEOUT).await?;
    let killed = ens.members[leader].id;
    ens.members[leader].kill();
    note(log, format!("SIGKILL leader {killed}"));
    tokio::time::sleep(DOWN_FOR).await;
    ens.members[leader].start("server-restart.log")?;
    note(log, format!("restarted {killed}"));
    let (now_leading, waited) = ens.wait_roles(Some(leader), ROLES_TIMEOUT).await?;
    note(log, format!("{killed} follows after {:.2}s; leader {}", waited.as_secs_f64(), ens.members[now_leading].id));
    tokio::time::sleep(BEFORE_PAUSE).await;
    let (leader, _) = ens.wait_roles(None, ROLES_TIMEOUT).await?;
    let paused = ens.members[leader].id;
    harness::signal(&ens.members[leader], "STOP")?;
    note(log, format!("SIGSTOP leader {paused}"));
    tokio::time::sleep(PAUSE_FOR).await;
    harness::signal(&ens.members[leader], "CONT")?;
    note(log, format!("SIGCONT {paused}"));
    tokio::time::sleep(AFTER_FAULTS).await;
    note(log, "workload stops".into());
    Ok(())
}

/// Connects to one member only, syncs and reads every key; retried (with a new session)
/// until [`READ_TIMEOUT`]. Every answered read is returned as a record of client `id_base`+attempt.
async fn read_all(addr: &str, clock: Clock, id_base: u64) -> Result<Vec<Record>, String> {
    let start = Instant::now();
    let mut last_error = String::from("no attempt");
    let mut attempt = 0u64;
    while start.elapsed() < READ_TIMEOUT {
        attempt += 1;
        let id = id_base + attempt;
        let result = async {
            let c = harness::connect(addr).await?;
            let mut records = Vec::with_capacity(KEYS);
            for k in 0..KEYS {
                let path = key_path(k);
                let invoked = clock.now();
                let read = async {
                    c.sync(&path).await?;
                    c.get_data(&path).await
                };
                let (data, stat) = match tokio::time::timeout(OP_TIMEOUT, read).await {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => return Err(format!("sync+getData {path}: {e}")),
                    Err(_) => return Err(format!("sync+getData {path}: no answer within {OP_TIMEOUT:?}")),
                };
                records.push(Record {
                    client: id,
                    op: Op::GetData { path, after_sync: true },
                    invoked,
                    answer: OpResult::Data { data, version: stat.version },
                    completed: clock.now(),
                });
            }
            Ok(records)
        };
        match result.await {
            Ok(r) => return Ok(r),
            Err(e) => last_error = e,
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    Err(format!("could not read every key from {addr} within {READ_TIMEOUT:?}; last error: {last_error}"))
}

/// Creates the keys, then waits until every member serves them, so that the history may
/// declare them present before the first operation.
async fn create_keys(ens: &Ensemble) -> Result<(), String> {
    let all: Vec<String> = ens.members.iter().map(|m| m.connect_string()).collect();
    let c = open(&all.join(",")).await?;
    c.create(ROOT, b"", &persistent()).await.map_err(|e| format!("create {ROOT}: {e}"))?;
    for k in 0..KEYS {
        let p = key_path(k);
        c.create(&p, INITIAL, &persistent()).await.map_err(|e| format!("create {p}: {e}"))?;
    }
    let clock = Clock(Instant::now());
    for addr in &all {
        for r in read_all(addr, clock, 0).await? {
            if r.answer != (OpResult::Data { data: INITIAL.to_vec(), version: 0 }) {
                return Err(format!("{addr}: {:?} answered {:?} after set-up", r.op, r.answer));
            }
        }
    }
    Ok(())
}

/// The history of `records` over keys preset to [`INITIAL`]; with `strict_sync` false the
/// workload's `sync`+getData reads become plain reads (the final reads stay synced).
fn history(records: &[Record], strict_sync: bool) -> History {
    let mut h = History::new();
    for k in 0..KEYS {
        h.preset(&key_path(k), INITIAL);
    }
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| (r.invoked, r.completed, r.client));
    for r in sorted {
        let op = match &r.op {
            Op::GetData { path, after_sync: true } if !strict_sync && r.client < FINAL_CLIENT_BASE => {
                Op::GetData { path: path.clone(), after_sync: false }
            }
            op => op.clone(),
        };
        let id = h.invoke(r.client, op, r.invoked);
        h.complete(id, r.answer.clone(), r.completed);
    }
    h
}

/// Runs the checker and describes its verdict; `Ok` is the only passing one.
fn checked(h: &History, what: &str) -> (bool, String) {
    let t = Instant::now();
    let verdict = linearize::check(h, CHECK_BUDGET);
    let secs = t.elapsed().as_secs_f64();
    match verdict {
        Verdict::Ok => (true, format!("{what}: linearizable ({} operations, checked in {secs:.2}s)", h.len())),
        Verdict::Violation { path, explanation } => {
            (false, format!("{what}: NOT LINEARIZABLE on {path} ({} operations, {secs:.2}s):\n{explanation}", h.len()))
        }
        Verdict::GaveUp { path } => (
            false,
            format!(
                "{what}: checker gave up on {path} after {CHECK_BUDGET} steps ({} operations, {secs:.2}s)",
                h.len()
            ),
        ),
    }
}

/// Counts of the workload's operations and answers, for the report.
fn summary(records: &[Record]) -> String {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.client < FINAL_CLIENT_BASE) {
        let op = match &r.op {
            Op::GetData { after_sync: false, .. } => "get",
            Op::GetData { after_sync: true, .. } => "sync+get",
            Op::SetData { expected_version: Some(_), .. } => "cas",
            Op::SetData { .. } => "set",
            Op::Create { .. } | Op::Delete { .. } => "other",
        };
        let answer = match &r.answer {
            OpResult::Data { .. } | OpResult::Set { .. } | OpResult::Ok => "ok",
            OpResult::BadVersion => "BadVersion",
            OpResult::NoNode => "NoNode",
            OpResult::NodeExists => "NodeExists",
            OpResult::Unknown => "unknown",
        };
        *counts.entry(format!("{op} {answer}")).or_default() += 1;
    }
    counts.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

/// A read's answer for a human: `"c1-42" v7`.
fn show(answer: &OpResult) -> String {
    match answer {
        OpResult::Data { data, version } => format!("{:?} v{version}", String::from_utf8_lossy(data)),
        other => format!("{other:?}"),
    }
}

/// The operations in flight at `at` (invoked before, answered after), for the report: they
/// are the ones a fault can affect.
fn in_flight(records: &[Record], at: u64) -> String {
    let across: Vec<&Record> = records.iter().filter(|r| r.invoked < at && r.completed > at).collect();
    let answered = across.iter().filter(|r| r.answer != OpResult::Unknown).count();
    let longest = across.iter().map(|r| r.completed - r.invoked).max().unwrap_or(0);
    format!("{} operations in flight, {answered} of them answered (longest {:.2}s)", across.len(), longest as f64 / 1e6)
}

async fn run(target: &Target, dir: &Path) -> Result<(), String> {
    let kind = target.kind;
    let base = Launch { kind, herd_bin: target.herd_bin.clone(), zk_heap: ZK_HEAP.into(), dir: dir.to_path_buf() };
    let mut ens = Ensemble::spawn(&base)?;
    let (leader, formed) = ens.wait_roles(None, FORM_TIMEOUT).await?;
    eprintln!("[{kind}] ensemble formed in {:.2}s, leader {}", formed.as_secs_f64(), ens.members[leader].id);
    create_keys(&ens).await?;

    let seed = std::env::var("LIN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    eprintln!("[{kind}] workload seed {seed} (LIN_SEED={seed} repeats its choices, not its timing)");
    let clock = Clock(Instant::now());
    let connect: String = ens.members.iter().map(|m| m.connect_string()).collect::<Vec<_>>().join(",");
    let stop = Arc::new(AtomicBool::new(false));
    let begin = Instant::now();
    let deadline = begin + WORKLOAD_MAX;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client_loop(i, connect.clone(), clock, seed, stop.clone(), deadline)))
        .collect();

    let mut fault_log = Vec::new();
    let schedule = faults(&mut ens, clock, begin, &mut fault_log).await;
    stop.store(true, Ordering::Relaxed);
    // A failed schedule may leave a member paused; resuming a running one is harmless.
    for m in &ens.members {
        if m.running() {
            let _ = harness::signal(m, "CONT");
        }
    }
    let join_bound = OP_TIMEOUT + CONNECT_TIMEOUT + RETRY_PAUSE + JOIN_SLACK;
    let mut logs = Vec::with_capacity(CLIENTS);
    for t in tasks {
        let abort = t.abort_handle();
        match tokio::time::timeout(join_bound, t).await {
            Ok(Ok(log)) => logs.push(log),
            Ok(Err(e)) => return Err(format!("client task failed: {e}")),
            Err(_) => {
                abort.abort();
                return Err(format!("a client did not stop within {join_bound:?}"));
            }
        }
    }
    schedule?;
    let workload_secs = begin.elapsed().as_secs_f64();
    for (i, l) in logs.iter().enumerate() {
        eprintln!(
            "[{kind}] client {i}: {} operations, {} sessions, {} failed connects{}",
            l.records.len(),
            l.sessions,
            l.failed_connects,
            l.first_error.as_deref().map(|e| format!(", first error: {e}")).unwrap_or_default()
        );
    }
    let mut records: Vec<Record> = logs.into_iter().flat_map(|l| l.records).collect();
    eprintln!("[{kind}] workload: {:.1}s, {} operations ({})", workload_secs, records.len(), summary(&records));
    for f in &fault_log {
        eprintln!("[{kind}] across \"{}\": {}", f.what, in_flight(&records, f.at));
    }

    let mut failures = Vec::new();
    // Every member back (the schedule restarted and resumed them): one leader, two followers,
    // then every member's answer to sync+getData of every key.
    let (leader, _) = ens.wait_roles(None, ROLES_TIMEOUT).await?;
    eprintln!("[{kind}] quiet again: {}", ens.describe(&ens.modes().await));
    let mut finals: Vec<(u32, Vec<OpResult>)> = Vec::new();
    for (i, m) in ens.members.iter().enumerate() {
        let reads = read_all(&m.connect_string(), clock, FINAL_CLIENT_BASE * (i as u64 + 1)).await?;
        finals.push((m.id, reads.iter().map(|r| r.answer.clone()).collect()));
        records.extend(reads);
    }
    for k in 0..KEYS {
        let values: Vec<(u32, &OpResult)> = finals.iter().map(|(id, answers)| (*id, &answers[k])).collect();
        if values.iter().any(|(_, v)| *v != values[0].1) {
            let shown: Vec<String> = values.iter().map(|(id, v)| format!("member {id}: {}", show(v))).collect();
            failures.push(format!("members disagree on {} after sync: {}", key_path(k), shown.join(", ")));
        }
    }
    if failures.is_empty() {
        let shown: Vec<String> =
            finals[0].1.iter().enumerate().map(|(k, v)| format!("{}={}", key_path(k), show(v))).collect();
        eprintln!(
            "[{kind}] all {} members agree after sync (leader {}): {}",
            finals.len(),
            ens.members[leader].id,
            shown.join(", ")
        );
    }

    let strict = history(&records, true);
    let asserted = if target.sync_reads_linearizable {
        let (ok, report) = checked(&strict, "history (sync+getData linearizable)");
        eprintln!("[{kind}] {report}");
        if !ok {
            failures.push(report);
        }
        strict
    } else {
        let (_, report) = checked(
            &strict,
            "not asserted (sync is not linearizable across leader changes, ZOOKEEPER-1675): history with \
             sync+getData linearizable",
        );
        eprintln!("[{kind}] {report}");
        let relaxed = history(&records, false);
        let (ok, report) = checked(&relaxed, "history (workload sync+getData as plain reads)");
        eprintln!("[{kind}] {report}");
        if !ok {
            failures.push(report);
        }
        relaxed
    };
    for m in &mut ens.members {
        m.check_alive()?;
    }
    if failures.is_empty() {
        return Ok(());
    }
    let file = dir.join("history.txt");
    let mut text = String::new();
    for f in &fault_log {
        let _ = writeln!(text, "fault t={} {}", f.at, f.what);
    }
    let _ = write!(text, "{asserted}");
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    let faults_shown: Vec<String> = fault_log.iter().map(|f| format!("t={} {}", f.at, f.what)).collect();
    Err(format!(
        "{}\nfaults (µs on the history's clock): {}\nfull history: {}; logs: {}",
        failures.join("\n"),
        faults_shown.join("; "),
        file.display(),
        ens.logs()
    ))
}
