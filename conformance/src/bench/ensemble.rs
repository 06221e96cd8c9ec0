//! The ensemble section: a 3-server herd ensemble and a 3-server ZooKeeper ensemble, each on
//! loopback, driven by the same code.
//!
//! For each kind the section writes one zoo.cfg per member (the standalone settings plus
//! `server.N` lines, a `myid` file and the same tickTime/initLimit/syncLimit for both kinds),
//! starts the three members and waits until exactly one member's `srvr` says `Mode: leader`
//! and the others `Mode: follower`. It measures set and get with N synchronous sessions spread
//! round-robin over the members. Then one writer per surviving member creates znodes in
//! sequence and timestamps every acknowledgement; the leader is SIGKILLed; once every writer
//! is acknowledged again, the longest gap between consecutive acknowledgements (all writers
//! merged) is the outage. Every acknowledged znode must then be on every survivor (read after
//! `sync`), and the killed member, restarted on its data dir, must report `Mode: follower` and
//! hold them all. Every wait and loop is bounded.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zookeeper_client as zk;

use super::load::{self, Op, PhaseBounds, PhaseStats};
use super::report::{Row, Target};
use super::server::{self, Kind, Launch};
use super::Args;

/// Members of each ensemble.
pub const SERVERS: usize = 3;
/// `tickTime` of both ensembles, ms: short, so that failure detection is not measured in
/// multiples of ZooKeeper's 2 s default.
const TICK_TIME_MS: u32 = 500;
/// `initLimit`, in ticks.
const INIT_LIMIT: u32 = 10;
/// `syncLimit`, in ticks.
const SYNC_LIMIT: u32 = 5;
/// Pause between `srvr` polls while waiting for the roles.
const ROLE_POLL: Duration = Duration::from_millis(50);
/// How long a `sync` or a read of the verification may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Steady writing before the leader is killed.
const PRE_KILL: Duration = Duration::from_secs(2);
/// Acknowledged writes every writer needs before the kill (proof that it is writing).
const MIN_ACKS_BEFORE_KILL: u64 = 50;
/// Longest wait for the writers to reach [`PRE_KILL`] and [`MIN_ACKS_BEFORE_KILL`].
const PRE_KILL_MAX: Duration = Duration::from_secs(30);
/// Acknowledgements every writer needs after the kill before the ensemble counts as
/// recovered. A writer has one request in flight, so at most one of them can be a write the
/// old leader committed before it died; the others went through a new leader.
const RECOVERY_ACKS: u64 = 10;
/// Steady writing after recovery, so the gap that ends the outage is not the last one.
const AFTER_RECOVERY: Duration = Duration::from_secs(2);
/// Pause between polls of the writers' counters.
const WRITER_POLL: Duration = Duration::from_millis(5);
/// How long one write may take before it counts as failed (its outcome is then unknown and
/// it is not counted as acknowledged).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Session timeout the writers ask for (ZooKeeper caps it at 20 ticks).
const WRITER_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// The client's idle and TCP connect timeout for the writers' sessions.
const WRITER_CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// How long opening one writer session may take.
const WRITER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before a writer tries a new session after a failed one.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// Writes one writer issues at most; also keeps its getChildren answer under 1 MB
/// (13 bytes per name).
const WRITES_PER_WRITER_MAX: u64 = 50_000;
/// Writers per surviving member.
const WRITERS_PER_SURVIVOR: usize = 1;
/// Extra time a writer task may take to finish once told to stop.
const JOIN_SLACK: Duration = Duration::from_secs(5);
/// Longest wait to read the writes back from one member.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between attempts to read the writes back.
const VERIFY_RETRY: Duration = Duration::from_millis(100);
/// Missing znodes named in a failure message.
const MISSING_SHOWN: usize = 5;
/// Root of the writers' znodes: one parent per writer, `/outage/wK/nSSSSSSSS`.
const OUTAGE_ROOT: &str = "/outage";

/// Everything measured on one ensemble.
pub struct Outcome {
    /// Which server.
    pub kind: Kind,
    /// From spawning the three members to one leader and two followers.
    pub formed: Duration,
    /// myid of the first leader.
    pub first_leader: u32,
    /// Sessions of the set/get phases.
    pub clients: usize,
    /// setData phase.
    pub set: PhaseStats,
    /// getData phase.
    pub get: PhaseStats,
    /// The leader-kill test, if it got as far as measuring.
    pub kill: Option<LeaderKill>,
    /// What went wrong (lost writes included); each becomes a FAILED line.
    pub failures: Vec<String>,
}

/// What one writer saw during the leader-kill test.
pub struct WriterReport {
    /// myid of the member it writes through.
    pub member: u32,
    /// Acknowledged writes before the kill.
    pub acks_before: u64,
    /// Acknowledged writes after the kill.
    pub acks_after: u64,
    /// Its own longest gap between acknowledgements.
    pub longest_gap: Option<Duration>,
    /// Writes that failed or timed out (outcome unknown).
    pub failed: u64,
    /// Sessions it opened (1 + reconnections).
    pub sessions: u64,
    /// Session attempts that failed.
    pub failed_connects: u64,
    /// First error it saw.
    pub first_error: Option<String>,
}

/// The leader-kill test of one ensemble.
pub struct LeaderKill {
    /// myid of the killed leader.
    pub killed: u32,
    /// Per writer.
    pub writers: Vec<WriterReport>,
    /// Acknowledged writes, all writers.
    pub acked: u64,
    /// Longest gap between consecutive acknowledgements, all writers merged.
    pub outage: Option<Duration>,
    /// From the kill to the end of that gap (negative: the gap ended before the kill, so the
    /// longest gap was not the failover).
    pub kill_to_recovery_ms: Option<f64>,
    /// myid of the leader after the failover.
    pub new_leader: Option<u32>,
    /// Acknowledged writes missing per checked member: (myid, missing, examples).
    pub missing: Vec<(u32, u64, Vec<String>)>,
    /// Distinct acknowledged writes missing on at least one checked member.
    pub lost: u64,
    /// From restarting the killed member to `Mode: follower`.
    pub rejoin: Option<Duration>,
}

/// One member: its ports, directory and process.
pub struct Member {
    /// Its myid (1..).
    pub id: u32,
    launch: Launch,
    client_port: u16,
    cfg: PathBuf,
    /// Its current stdout+stderr log.
    pub log: PathBuf,
    /// pid of its current process (of the last one once killed).
    pub pid: u32,
    child: Option<Child>,
}

impl Member {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.client_port))
    }

    /// `127.0.0.1:clientPort`.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    /// Starts the process on its fixed ports and data dir (a restart reuses both).
    pub fn start(&mut self, log_name: &str) -> Result<(), String> {
        let argv = self.launch.argv(&self.cfg);
        let log = self.launch.dir.join(log_name);
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(&self.launch.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
        self.pid = child.id();
        self.child = Some(child);
        self.log = log;
        Ok(())
    }

    /// Fails if the process has exited on its own (with the tail of its log).
    pub fn check_alive(&mut self) -> Result<(), String> {
        let Some(c) = self.child.as_mut() else {
            return Ok(());
        };
        match c.try_wait().map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(status) => Err(format!(
                "{} member {} exited ({status}); log {}:\n{}",
                self.launch.kind,
                self.id,
                self.log.display(),
                server::log_tail(&self.log)
            )),
        }
    }

    /// Started and not killed since.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // An error means it has already exited, which is what we want.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` distinct loopback ports nobody listens on right now: all are held at once, so none is
/// handed out twice.
fn distinct_free_ports(n: usize) -> io::Result<Vec<u16>> {
    let held: Vec<TcpListener> =
        (0..n).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0))).collect::<io::Result<_>>()?;
    held.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// The `server.N=127.0.0.1:quorumPort:electionPort` lines, N = 1..
pub fn server_lines(peers: &[(u16, u16)]) -> String {
    peers.iter().enumerate().map(|(i, (q, e))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1)).collect()
}

/// One member's zoo.cfg: the standalone settings of [`server::zoo_cfg`] with the ensemble's
/// tickTime, initLimit, syncLimit and server lines.
pub fn member_cfg(data_dir: &Path, client_port: u16, peers: &[(u16, u16)]) -> String {
    let base: String = server::zoo_cfg(data_dir, client_port)
        .lines()
        .filter(|l| !l.starts_with("tickTime="))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("tickTime={TICK_TIME_MS}\ninitLimit={INIT_LIMIT}\nsyncLimit={SYNC_LIMIT}\n{base}{}", server_lines(peers))
}

/// The `Mode:` word of a `srvr` answer (`leader`, `follower`, `standalone`, ...); `None` when
/// there is none (ZooKeeper answers "not currently serving requests" while it elects).
pub fn parse_mode(srvr: &str) -> Option<&str> {
    srvr.lines().find_map(|l| l.strip_prefix("Mode:")).map(str::trim).filter(|m| !m.is_empty())
}

/// The longest gap between consecutive instants of a sorted slice, with where it ends.
fn longest_gap(sorted: &[Instant]) -> Option<(Duration, Instant)> {
    sorted.windows(2).map(|w| (w[1].saturating_duration_since(w[0]), w[1])).max_by_key(|(d, _)| *d)
}

/// Name of write `seq` under its writer's parent.
fn write_name(seq: u64) -> String {
    format!("n{seq:08}")
}

/// The acknowledged sequence numbers whose znode is not among `children`.
fn missing_writes(acked: &[u64], children: &HashSet<String>) -> Vec<u64> {
    acked.iter().copied().filter(|s| !children.contains(&write_name(*s))).collect()
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// The three members of one ensemble.
pub struct Ensemble {
    /// Which server.
    pub kind: Kind,
    /// myid N is index N-1.
    pub members: Vec<Member>,
}

impl Ensemble {
    /// Writes every member's zoo.cfg and myid under `base.dir/sN` and starts all three.
    pub fn spawn(base: &Launch) -> Result<Ensemble, String> {
        let ports = distinct_free_ports(3 * SERVERS).map_err(|e| format!("free ports: {e}"))?;
        let peers: Vec<(u16, u16)> = (0..SERVERS).map(|i| (ports[SERVERS + i], ports[2 * SERVERS + i])).collect();
        let mut members = Vec::with_capacity(SERVERS);
        for (i, &client_port) in ports.iter().take(SERVERS).enumerate() {
            let id = i as u32 + 1;
            let launch = Launch { dir: base.dir.join(format!("s{id}")), ..base.clone() };
            let data = launch.data_dir();
            fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
            fs::write(data.join("myid"), format!("{id}\n")).map_err(|e| format!("myid: {e}"))?;
            let cfg = launch.dir.join("zoo.cfg");
            fs::write(&cfg, member_cfg(&data, client_port, &peers)).map_err(|e| format!("{}: {e}", cfg.display()))?;
            members.push(Member { id, launch, client_port, cfg, log: PathBuf::new(), pid: 0, child: None });
        }
        let mut ens = Ensemble { kind: base.kind, members };
        for m in &mut ens.members {
            eprintln!("[{} ensemble] starting {}: {}", ens.kind, m.id, m.launch.argv(&m.cfg).join(" "));
            m.start("server.log")?;
        }
        Ok(ens)
    }

    /// Every member's `Mode:` (`None`: no answer or no Mode line), probed off the runtime's
    /// threads since a probe blocks for up to a second.
    pub async fn modes(&self) -> Vec<Option<String>> {
        let addrs: Vec<(SocketAddr, bool)> = self.members.iter().map(|m| (m.addr(), m.running())).collect();
        let probe = move || {
            addrs
                .iter()
                .map(|&(a, running)| {
                    let answer = running.then(|| server::four_letter(a, "srvr").ok()).flatten()?;
                    parse_mode(&answer).map(str::to_string)
                })
                .collect::<Vec<_>>()
        };
        tokio::task::spawn_blocking(probe).await.unwrap_or_else(|_| vec![None; SERVERS])
    }

    /// `1=leader 2=follower 3=killed`.
    pub fn describe(&self, modes: &[Option<String>]) -> String {
        let mut s = String::new();
        for (m, mode) in self.members.iter().zip(modes) {
            let _ = write!(s, "{}={} ", m.id, mode.as_deref().unwrap_or(if m.running() { "-" } else { "killed" }));
        }
        s.trim_end().to_string()
    }

    /// The members' log paths, for error messages.
    pub fn logs(&self) -> String {
        self.members.iter().map(|m| m.log.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Waits until exactly one running member says `Mode: leader` and every other running one
    /// `Mode: follower` (and `must_follow`, if given, is one of them); returns the leader's
    /// index and the time waited.
    pub async fn wait_roles(
        &mut self,
        must_follow: Option<usize>,
        timeout: Duration,
    ) -> Result<(usize, Duration), String> {
        let start = Instant::now();
        let mut last = String::from("(not probed)");
        while start.elapsed() < timeout {
            for m in &mut self.members {
                m.check_alive()?;
            }
            let modes = self.modes().await;
            if let Some(i) = modes.iter().position(|m| m.as_deref() == Some("standalone")) {
                return Err(format!(
                    "{} member {} reports Mode: standalone, so it ignored the server.N lines (ensemble mode \
                     not active); log {}",
                    self.kind,
                    self.members[i].id,
                    self.members[i].log.display()
                ));
            }
            let running: Vec<usize> = (0..SERVERS).filter(|&i| self.members[i].running()).collect();
            let leaders: Vec<usize> =
                running.iter().copied().filter(|&i| modes[i].as_deref() == Some("leader")).collect();
            let followers = running.iter().filter(|&&i| modes[i].as_deref() == Some("follower")).count();
            let wanted = match must_follow {
                None => true,
                Some(f) => modes.get(f).and_then(|m| m.as_deref()) == Some("follower"),
            };
            if let [leader] = leaders[..] {
                if followers + 1 == running.len() && wanted {
                    return Ok((leader, start.elapsed()));
                }
            }
            last = self.describe(&modes);
            tokio::time::sleep(ROLE_POLL).await;
        }
        Err(format!(
            "{}: no single leader with every other member following within {timeout:?}; last srvr Modes: {last}; \
             logs: {}",
            self.kind,
            self.logs()
        ))
    }
}

/// The header lines describing the section.
pub(super) fn header(args: &Args) -> String {
    let peers: Vec<(u16, u16)> = (0..SERVERS).map(|_| (0, 0)).collect();
    let cfg = member_cfg(Path::new("<tmp>/sN/data"), 0, &peers)
        .replace("clientPort=0", "clientPort=<free port>")
        .replace(":0:0", ":<quorum port>:<election port>");
    let mut s = format!(
        "ensemble: {SERVERS} servers of each kind on 127.0.0.1, myid in dataDir; set/get with {} sessions spread \
         round-robin over them; leader kill: {} writer(s) per survivor creating znodes in sequence, SIGKILL of \
         the leader after {} s, outage = longest gap between acknowledged writes (all writers), a failed write \
         drops its session and a new one is opened every {} ms; then every acknowledged znode is read back \
         (after sync) from the survivors and from the restarted leader once it reports Mode: follower\n",
        args.ensemble_clients,
        WRITERS_PER_SURVIVOR,
        PRE_KILL.as_secs(),
        RECONNECT_PAUSE.as_millis()
    );
    let _ = write!(s, "ensemble zoo.cfg (both, per member):\n{}", super::indent(&cfg));
    s
}

/// Runs the section for every kind; returns the outcomes and the failures.
pub(super) async fn run_all(
    args: &Args,
    kinds: &[Kind],
    herd_bin: &Path,
    work_dir: &Path,
) -> (Vec<Outcome>, Vec<String>) {
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for &kind in kinds {
        if kind == Kind::Herd && !herd_bin.exists() {
            failures.push(format!("herd ensemble: {} not found", herd_bin.display()));
            continue;
        }
        let dir = match tempfile::Builder::new()
            .prefix(&format!("herd-bench-ensemble-{}-", kind.to_string().to_lowercase()))
            .tempdir_in(work_dir)
        {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{kind} ensemble: temp dir in {}: {e}", work_dir.display()));
                continue;
            }
        };
        let base = Launch {
            kind,
            herd_bin: herd_bin.to_path_buf(),
            zk_heap: args.zk_heap.clone(),
            dir: dir.path().to_path_buf(),
        };
        let started = Instant::now();
        match run_one(args, &base).await {
            Ok(o) => {
                eprintln!("[{kind} ensemble] done in {:.0}s", started.elapsed().as_secs_f64());
                failures.extend(o.failures.iter().map(|f| format!("{kind} ensemble: {f}")));
                outcomes.push(o);
            }
            Err(e) => failures.push(format!("{kind} ensemble: {e}")),
        }
        if args.keep {
            let kept = dir.keep();
            eprintln!("[{kind} ensemble] kept {}", kept.display());
        }
    }
    (outcomes, failures)
}

async fn run_one(args: &Args, base: &Launch) -> Result<Outcome, String> {
    let kind = base.kind;
    let data = Arc::new(vec![b'x'; args.data_bytes]);
    let mut ens = Ensemble::spawn(base)?;
    let (leader, formed) = ens.wait_roles(None, Duration::from_secs(args.startup_timeout)).await?;
    eprintln!("[{kind} ensemble] formed in {:.2}s, leader {}", formed.as_secs_f64(), ens.members[leader].id);

    let n = args.ensemble_clients.max(1);
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        clients.push(load::connect(&ens.members[i % SERVERS].connect_string()).await?);
    }
    load::prepare_ops_tree(&clients[0], n, &data).await?;
    // Sessions on other members must see the nodes just created before reading them.
    for c in &clients {
        match tokio::time::timeout(REQUEST_TIMEOUT, c.sync("/ops")).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("sync /ops: {e}")),
            Err(_) => return Err("sync /ops: timed out".into()),
        }
    }
    let ops = [Op::Set, Op::Get];
    let warm = Duration::from_secs_f64(args.warmup_seconds / ops.len() as f64);
    if !warm.is_zero() {
        for op in ops {
            let b = PhaseBounds { duration: warm, max_ops: args.max_ops };
            let s = load::run_phase(&clients, op, data.clone(), b, "ew").await;
            eprintln!("[{kind} ensemble] warm-up {}: {} ops, {} errors", op.name(), s.ops, s.errors);
        }
    }
    let bounds = PhaseBounds { duration: Duration::from_secs_f64(args.seconds), max_ops: args.max_ops };
    let mut measured = Vec::new();
    for op in ops {
        for m in &mut ens.members {
            m.check_alive()?;
        }
        let s = load::run_phase(&clients, op, data.clone(), bounds, "em").await;
        eprintln!(
            "[{kind} ensemble] {} c={n}: {:.0} ops/s, p50 {} µs, p99 {} µs, {} errors{}",
            op.name(),
            s.ops_per_sec(),
            s.hist.value_at_quantile(0.5),
            s.hist.value_at_quantile(0.99),
            s.errors,
            s.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
        measured.push(s);
    }
    drop(clients);
    let (Some(get), Some(set)) = (measured.pop(), measured.pop()) else {
        return Err("phases missing".into());
    };

    let mut outcome = Outcome {
        kind,
        formed,
        first_leader: ens.members[leader].id,
        clients: n,
        set,
        get,
        kill: None,
        failures: Vec::new(),
    };
    match leader_kill(args, &mut ens, leader, &data, &mut outcome.failures).await {
        Ok(k) => {
            println!(
                "[{kind} ensemble] leader-kill write outage: {} ms; lost acked writes: {}",
                k.outage.map(|d| format!("{:.0}", d.as_secs_f64() * 1e3)).unwrap_or_else(|| "-".into()),
                k.lost
            );
            if k.lost > 0 {
                let mut msg =
                    format!("LOST ACKNOWLEDGED WRITES: {} of {} acknowledged writes missing", k.lost, k.acked);
                for (id, count, examples) in &k.missing {
                    if *count > 0 {
                        let _ = write!(msg, "; on member {id}: {count} (e.g. {})", examples.join(", "));
                    }
                }
                outcome.failures.push(msg);
            }
            outcome.kill = Some(k);
        }
        Err(e) => outcome.failures.push(format!("leader kill: {e}")),
    }
    Ok(outcome)
}

/// What a writer task hands back.
struct WriterLog {
    acks: Vec<(u64, Instant)>,
    failed: u64,
    sessions: u64,
    failed_connects: u64,
    first_error: Option<String>,
}

/// Opens a writer session: it fails fast when the member does not serve, so the writer
/// can retry at its own pace instead of the client library's backoff.
async fn writer_session(addr: &str) -> Result<zk::Client, String> {
    let fut = zk::Client::connector()
        .with_session_timeout(WRITER_SESSION_TIMEOUT)
        .with_connection_timeout(WRITER_CONNECTION_TIMEOUT)
        .with_fail_eagerly()
        .connect(addr);
    match tokio::time::timeout(WRITER_CONNECT_TIMEOUT, fut).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
        Err(_) => Err(format!("connect {addr}: no session within {WRITER_CONNECT_TIMEOUT:?}")),
    }
}

/// Creates `parent/nSSSSSSSS` for SSSSSSSS = 1, 2, ... one at a time until `stop`, the
/// deadline or [`WRITES_PER_WRITER_MAX`]; timestamps every acknowledgement. A write that
/// fails or times out is never retried (its outcome is unknown), and its session is
/// replaced by a new one.
async fn write_loop(
    addr: String,
    parent: String,
    data: Arc<Vec<u8>>,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> WriterLog {
    let mut log = WriterLog { acks: Vec::new(), failed: 0, sessions: 0, failed_connects: 0, first_error: None };
    let mut client: Option<zk::Client> = None;
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && seq < WRITES_PER_WRITER_MAX {
        let c = match &client {
            Some(c) => c.clone(),
            None => match writer_session(&addr).await {
                Ok(c) => {
                    log.sessions += 1;
                    client = Some(c.clone());
                    c
                }
                Err(e) => {
                    log.failed_connects += 1;
                    log.first_error.get_or_insert(e);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        seq += 1;
        let path = format!("{parent}/{}", write_name(seq));
        let r = tokio::time::timeout(WRITE_TIMEOUT, c.create(&path, &data, &persistent())).await;
        let at = Instant::now();
        match r {
            Ok(Ok(_)) => {
                log.acks.push((seq, at));
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                log.failed += 1;
                log.first_error.get_or_insert_with(|| format!("create {path}: {e}"));
                client = None;
            }
            Err(_) => {
                log.failed += 1;
                log.first_error.get_or_insert_with(|| format!("create {path}: no answer within {WRITE_TIMEOUT:?}"));
                client = None;
            }
        }
    }
    log
}

/// Connects to `addr`, syncs and lists every parent's children; retried until `timeout`.
async fn read_back(addr: &str, parents: &[String], timeout: Duration) -> Result<Vec<HashSet<String>>, String> {
    let start = Instant::now();
    let mut last_error = String::from("no attempt");
    while start.elapsed() < timeout {
        let attempt = async {
            let c = load::connect(addr).await?;
            match tokio::time::timeout(REQUEST_TIMEOUT, c.sync(OUTAGE_ROOT)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("sync {OUTAGE_ROOT}: {e}")),
                Err(_) => return Err(format!("sync {OUTAGE_ROOT}: timed out")),
            }
            let mut sets = Vec::with_capacity(parents.len());
            for p in parents {
                match tokio::time::timeout(REQUEST_TIMEOUT, c.list_children(p)).await {
                    Ok(Ok(v)) => sets.push(v.into_iter().collect::<HashSet<_>>()),
                    Ok(Err(e)) => return Err(format!("getChildren {p}: {e}")),
                    Err(_) => return Err(format!("getChildren {p}: timed out")),
                }
            }
            Ok(sets)
        };
        match attempt.await {
            Ok(sets) => return Ok(sets),
            Err(e) => last_error = e,
        }
        tokio::time::sleep(VERIFY_RETRY).await;
    }
    Err(format!("could not read the writes back from {addr} within {timeout:?}; last error: {last_error}"))
}

/// Checks one member's copy; returns (missing count, examples) and adds the missing writes
/// to `lost`.
fn check_copy(
    sets: &[HashSet<String>],
    writers: &[(String, Vec<u64>)],
    lost: &mut HashSet<(usize, u64)>,
) -> (u64, Vec<String>) {
    let (mut count, mut examples) = (0u64, Vec::new());
    for (w, ((parent, acked), children)) in writers.iter().zip(sets).enumerate() {
        for s in missing_writes(acked, children) {
            count += 1;
            lost.insert((w, s));
            if examples.len() < MISSING_SHOWN {
                examples.push(format!("{parent}/{}", write_name(s)));
            }
        }
    }
    (count, examples)
}

/// The leader-kill test. Errors that stop the measurement are returned; problems after it
/// (a member that cannot be read back, a restart that does not rejoin) go to `failures`
/// and the figures measured so far are still returned.
async fn leader_kill(
    args: &Args,
    ens: &mut Ensemble,
    leader: usize,
    data: &Arc<Vec<u8>>,
    failures: &mut Vec<String>,
) -> Result<LeaderKill, String> {
    let kind = ens.kind;
    let survivors: Vec<usize> = (0..SERVERS).filter(|&i| i != leader).collect();
    let placement: Vec<usize> = survivors.iter().flat_map(|&s| (0..WRITERS_PER_SURVIVOR).map(move |_| s)).collect();
    let parents: Vec<String> = (0..placement.len()).map(|w| format!("{OUTAGE_ROOT}/w{w}")).collect();
    {
        let c = load::connect(&ens.members[survivors[0]].connect_string()).await?;
        for p in std::iter::once(OUTAGE_ROOT).chain(parents.iter().map(String::as_str)) {
            c.create(p, b"", &persistent()).await.map_err(|e| format!("create {p}: {e}"))?;
        }
    }

    let outage_timeout = Duration::from_secs(args.outage_timeout);
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + PRE_KILL_MAX + outage_timeout + AFTER_RECOVERY;
    let counters: Vec<Arc<AtomicU64>> = placement.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut tasks = Vec::with_capacity(placement.len());
    for ((&m, parent), counter) in placement.iter().zip(&parents).zip(&counters) {
        let addr = ens.members[m].connect_string();
        tasks.push(tokio::spawn(write_loop(
            addr,
            parent.clone(),
            data.clone(),
            counter.clone(),
            stop.clone(),
            deadline,
        )));
    }
    let counts = || counters.iter().map(|c| c.load(Ordering::Relaxed)).collect::<Vec<u64>>();

    let begin = Instant::now();
    let mut pre_kill_error = None;
    loop {
        let ready = counts().iter().all(|&c| c >= MIN_ACKS_BEFORE_KILL);
        if ready && begin.elapsed() >= PRE_KILL {
            break;
        }
        if begin.elapsed() >= PRE_KILL_MAX || tasks.iter().any(|t| t.is_finished()) {
            pre_kill_error = Some(format!(
                "writers not all writing before the kill: acknowledged {:?} within {:.1}s (need {MIN_ACKS_BEFORE_KILL} each)",
                counts(),
                begin.elapsed().as_secs_f64()
            ));
            break;
        }
        tokio::time::sleep(WRITER_POLL).await;
    }

    let mut killed_at = None;
    let mut recovered = false;
    if pre_kill_error.is_none() {
        let t_kill = Instant::now();
        ens.members[leader].kill();
        killed_at = Some(t_kill);
        let at_kill = counts();
        eprintln!(
            "[{kind} ensemble] killed leader {} (SIGKILL) with {} writes acknowledged",
            ens.members[leader].id,
            at_kill.iter().sum::<u64>()
        );
        while t_kill.elapsed() < outage_timeout && !tasks.iter().any(|t| t.is_finished()) {
            if counts().iter().zip(&at_kill).all(|(now, then)| now.saturating_sub(*then) >= RECOVERY_ACKS) {
                recovered = true;
                break;
            }
            tokio::time::sleep(WRITER_POLL).await;
        }
        if recovered {
            tokio::time::sleep(AFTER_RECOVERY).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let join_bound = WRITE_TIMEOUT + WRITER_CONNECT_TIMEOUT + JOIN_SLACK;
    let mut logs = Vec::with_capacity(tasks.len());
    for t in tasks {
        let abort = t.abort_handle();
        match tokio::time::timeout(join_bound, t).await {
            Ok(Ok(log)) => logs.push(log),
            Ok(Err(e)) => return Err(format!("writer task failed: {e}")),
            Err(_) => {
                abort.abort();
                return Err(format!("a writer did not stop within {join_bound:?}"));
            }
        }
    }
    if let Some(e) = pre_kill_error {
        return Err(e);
    }
    let t_kill = killed_at.ok_or("leader was not killed")?;
    if !recovered {
        let after: Vec<usize> = logs.iter().map(|l| l.acks.iter().filter(|(_, t)| *t > t_kill).count()).collect();
        failures.push(format!(
            "writes not acknowledged again within {outage_timeout:?} of the leader kill (acks after the kill per \
             writer: {after:?}, need {RECOVERY_ACKS}; first errors: {:?}); logs: {}",
            logs.iter().map(|l| l.first_error.clone().unwrap_or_default()).collect::<Vec<_>>(),
            ens.logs()
        ));
    }

    let mut all: Vec<Instant> = logs.iter().flat_map(|l| l.acks.iter().map(|(_, t)| *t)).collect();
    all.sort();
    let gap = longest_gap(&all);
    let writers: Vec<WriterReport> = placement
        .iter()
        .zip(&logs)
        .map(|(&m, l)| {
            let times: Vec<Instant> = l.acks.iter().map(|(_, t)| *t).collect();
            let before = times.iter().filter(|t| **t <= t_kill).count() as u64;
            WriterReport {
                member: ens.members[m].id,
                acks_before: before,
                acks_after: times.len() as u64 - before,
                longest_gap: longest_gap(&times).map(|(d, _)| d),
                failed: l.failed,
                sessions: l.sessions,
                failed_connects: l.failed_connects,
                first_error: l.first_error.clone(),
            }
        })
        .collect();
    let acked_by_writer: Vec<(String, Vec<u64>)> =
        parents.iter().cloned().zip(logs.iter().map(|l| l.acks.iter().map(|(s, _)| *s).collect())).collect();
    let mut kill = LeaderKill {
        killed: ens.members[leader].id,
        writers,
        acked: all.len() as u64,
        outage: gap.map(|(d, _)| d),
        kill_to_recovery_ms: gap.map(|(_, end)| {
            if end >= t_kill {
                end.duration_since(t_kill).as_secs_f64() * 1e3
            } else {
                -(t_kill.duration_since(end).as_secs_f64() * 1e3)
            }
        }),
        new_leader: None,
        missing: Vec::new(),
        lost: 0,
        rejoin: None,
    };

    let mut lost = HashSet::new();
    for &s in &survivors {
        let id = ens.members[s].id;
        match read_back(&ens.members[s].connect_string(), &parents, VERIFY_TIMEOUT).await {
            Ok(sets) => {
                let (count, examples) = check_copy(&sets, &acked_by_writer, &mut lost);
                kill.missing.push((id, count, examples));
            }
            Err(e) => failures.push(format!("survivor {id}: {e}")),
        }
    }

    eprintln!("[{kind} ensemble] restarting {} on its data dir", ens.members[leader].id);
    let restarted = Instant::now();
    ens.members[leader].start("server-restart.log")?;
    match ens.wait_roles(Some(leader), Duration::from_secs(args.startup_timeout)).await {
        Ok((new_leader, _)) => {
            kill.rejoin = Some(restarted.elapsed());
            kill.new_leader = Some(ens.members[new_leader].id);
            let id = ens.members[leader].id;
            eprintln!(
                "[{kind} ensemble] {id} back as follower after {:.2}s, leader {}",
                restarted.elapsed().as_secs_f64(),
                ens.members[new_leader].id
            );
            match read_back(&ens.members[leader].connect_string(), &parents, VERIFY_TIMEOUT).await {
                Ok(sets) => {
                    let (count, examples) = check_copy(&sets, &acked_by_writer, &mut lost);
                    kill.missing.push((id, count, examples));
                }
                Err(e) => failures.push(format!("restarted member {id}: {e}")),
            }
        }
        Err(e) => failures.push(format!("restarted leader {} did not rejoin as follower: {e}", kill.killed)),
    }
    kill.lost = lost.len() as u64;
    Ok(kill)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn p(s: &PhaseStats, q: f64) -> Option<f64> {
    (s.ops > 0).then(|| s.hist.value_at_quantile(q) as f64)
}

/// The section's rows of the comparison.
pub fn rows(herd: Option<&Outcome>, zk: Option<&Outcome>, clients: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for (op, pick) in [("set", (|o: &Outcome| &o.set) as fn(&Outcome) -> &PhaseStats), ("get", |o| &o.get)] {
        let (h, z) = (herd.map(pick), zk.map(pick));
        rows.push(Row {
            name: format!("ensemble {op} ops/s {clients} clients"),
            unit: "ops/s",
            herd: h.map(PhaseStats::ops_per_sec),
            zookeeper: z.map(PhaseStats::ops_per_sec),
            target: None,
        });
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            rows.push(Row {
                name: format!("ensemble {op} {label} {clients} clients"),
                unit: "µs",
                herd: h.and_then(|s| p(s, q)),
                zookeeper: z.and_then(|s| p(s, q)),
                target: None,
            });
        }
    }
    fn kill(o: Option<&Outcome>) -> Option<&LeaderKill> {
        o.and_then(|o| o.kill.as_ref())
    }
    rows.push(Row {
        name: "leader-kill write outage ms".into(),
        unit: "ms",
        herd: kill(herd).and_then(|k| k.outage.map(ms)),
        zookeeper: kill(zk).and_then(|k| k.outage.map(ms)),
        target: None,
    });
    rows.push(Row {
        name: "leader-kill lost acked writes".into(),
        unit: "writes",
        herd: kill(herd).map(|k| k.lost as f64),
        zookeeper: kill(zk).map(|k| k.lost as f64),
        target: Some(Target::HerdAtMost(0.0)),
    });
    rows.push(Row {
        name: "leader-kill restart to Mode: follower".into(),
        unit: "s",
        herd: kill(herd).and_then(|k| k.rejoin.map(|d| d.as_secs_f64())),
        zookeeper: kill(zk).and_then(|k| k.rejoin.map(|d| d.as_secs_f64())),
        target: None,
    });
    rows
}

/// Details of one ensemble that the comparison leaves out.
pub fn details(o: &Outcome) -> String {
    let mut s =
        format!("{} ensemble: formed in {:.2}s, first leader {}\n", o.kind, o.formed.as_secs_f64(), o.first_leader);
    for (name, st) in [("set", &o.set), ("get", &o.get)] {
        let _ = writeln!(
            s,
            "  {name} c={}: {} ops in {:.1}s, p999 {} µs, max {} µs, {} errors{}",
            o.clients,
            st.ops,
            st.elapsed.as_secs_f64(),
            p(st, 0.999).unwrap_or(0.0),
            st.hist.max(),
            st.errors,
            st.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
    }
    match &o.kill {
        None => s += "  leader kill: not measured\n",
        Some(k) => {
            let _ = writeln!(
                s,
                "  leader kill: killed {}, new leader {}, {} writes acknowledged, longest gap {} ms ending {} ms \
                 after the kill, lost acked writes: {}, restarted member follower after {}",
                k.killed,
                k.new_leader.map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
                k.acked,
                k.outage.map(|d| format!("{:.0}", ms(d))).unwrap_or_else(|| "-".into()),
                k.kill_to_recovery_ms.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into()),
                k.lost,
                k.rejoin.map(|d| format!("{:.2}s", d.as_secs_f64())).unwrap_or_else(|| "-".into()),
            );
            for w in &k.writers {
                let _ = writeln!(
                    s,
                    "    writer via {}: {} acks before / {} after the kill, own longest gap {} ms, {} failed writes, \
                     {} sessions, {} failed connects{}",
                    w.member,
                    w.acks_before,
                    w.acks_after,
                    w.longest_gap.map(|d| format!("{:.0}", ms(d))).unwrap_or_else(|| "-".into()),
                    w.failed,
                    w.sessions,
                    w.failed_connects,
                    w.first_error.as_deref().map(|e| format!(" (first error: {e})")).unwrap_or_default()
                );
            }
            for (id, count, examples) in &k.missing {
                let _ = writeln!(
                    s,
                    "    member {id}: {count} acknowledged writes missing{}",
                    if examples.is_empty() { String::new() } else { format!(" (e.g. {})", examples.join(", ")) }
                );
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_from_srvr_answers() {
        let zk_leader = "Zookeeper version: 3.8.0-debian\nLatency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\n\
                         Connections: 1\nOutstanding: 0\nZxid: 0x100000000\nMode: leader\nNode count: 5\n\
                         Proposal sizes last/min/max: -1/-1/-1\n";
        assert_eq!(parse_mode(zk_leader), Some("leader"));
        assert_eq!(parse_mode("Zxid: 0x5\nMode: follower\nNode count: 8\n"), Some("follower"));
        assert_eq!(parse_mode("Mode: standalone\r\n"), Some("standalone"));
        assert_eq!(parse_mode("This ZooKeeper instance is not currently serving requests\n"), None);
        assert_eq!(parse_mode("Mode:\n"), None);
        assert_eq!(parse_mode(""), None);
    }

    #[test]
    fn member_cfg_has_one_tick_time_and_all_servers() {
        let cfg = member_cfg(Path::new("/tmp/e/s2/data"), 4000, &[(5001, 6001), (5002, 6002), (5003, 6003)]);
        assert_eq!(cfg.lines().filter(|l| l.starts_with("tickTime=")).count(), 1);
        assert!(cfg.contains(&format!("tickTime={TICK_TIME_MS}\n")));
        assert!(cfg.contains("initLimit=10\nsyncLimit=5\n"));
        assert!(cfg.contains("clientPort=4000\n"));
        assert!(cfg.contains("dataDir=/tmp/e/s2/data\n"));
        assert!(cfg.contains("server.1=127.0.0.1:5001:6001\n"));
        assert!(cfg.contains("server.2=127.0.0.1:5002:6002\n"));
        assert!(cfg.ends_with("server.3=127.0.0.1:5003:6003\n"));
        assert!(!cfg.contains("server.4"));
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = distinct_free_ports(9).unwrap();
        let set: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(set.len(), 9);
        assert!(!set.contains(&0));
    }

    #[test]
    fn longest_gap_finds_the_outage() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let times = [at(0), at(1), at(3), at(900), at(901)];
        let (d, end) = longest_gap(&times).unwrap();
        assert_eq!(d, Duration::from_millis(897));
        assert_eq!(end, at(900));
        assert!(longest_gap(&[at(5)]).is_none());
        assert!(longest_gap(&[]).is_none());
    }

    #[test]
    fn missing_writes_are_found() {
        let children: HashSet<String> = [1, 2, 4].iter().map(|&s| write_name(s)).collect();
        assert_eq!(missing_writes(&[1, 2, 3, 4, 5], &children), vec![3, 5]);
        assert!(missing_writes(&[1, 4], &children).is_empty());
        assert_eq!(write_name(12), "n00000012");
    }

    #[test]
    fn lost_writes_count_once_across_members() {
        let writers = vec![("/outage/w0".to_string(), vec![1, 2, 3]), ("/outage/w1".to_string(), vec![1])];
        let full: Vec<HashSet<String>> =
            vec![(1..=3).map(write_name).collect(), std::iter::once(write_name(1)).collect()];
        let short: Vec<HashSet<String>> = vec![(1..=2).map(write_name).collect(), HashSet::new()];
        let mut lost = HashSet::new();
        assert_eq!(check_copy(&full, &writers, &mut lost), (0, vec![]));
        let (n, ex) = check_copy(&short, &writers, &mut lost);
        assert_eq!(n, 2);
        assert_eq!(ex, vec!["/outage/w0/n00000003".to_string(), "/outage/w1/n00000001".to_string()]);
        check_copy(&short, &writers, &mut lost);
        assert_eq!(lost.len(), 2);
    }

    #[test]
    fn rows_have_the_named_figures() {
        let rows = rows(None, None, 8);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        for want in [
            "ensemble set ops/s 8 clients",
            "ensemble get ops/s 8 clients",
            "ensemble set p50 8 clients",
            "ensemble get p99 8 clients",
            "leader-kill write outage ms",
            "leader-kill lost acked writes",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }
}
