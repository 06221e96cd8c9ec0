//! herd against Apache ZooKeeper 3.8, in one run, with the same client for both.
//!
//! For each server the run: starts it on a fresh data dir, reads its idle RSS, opens the
//! sessions, warms up, and measures get, set, create and mixed (80% get, 15% set, 5% create,
//! drawn per session from `--seed`, see [`load::Op::Mixed`]) with each client count of
//! `--clients` (default 1, 8, 32), each synchronous (one request at a time per session) and
//! pipelined (`--pipeline-depth` requests in flight per session): throughput, p50/p99,
//! server CPU per request. It then kills that server and starts a fresh one on an empty
//! data dir, so that the phases' creates do not weigh on the memory figure, loads a tree of
//! znodes pipelined and reads the RSS, then SIGKILLs it, starts it on the same data dir and
//! times the first successful getData. Then it prints both side by side with the
//! herd/ZooKeeper ratio against the targets, and writes a CSV and a PNG chart. The ensemble
//! section (`ensemble.rs`) then does the same comparison with three servers of each kind.

pub mod ensemble;
pub mod load;
mod report;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use load::{Mode, Op, PhaseBounds, PhaseStats};
use report::{Panel, Row, Target};
use server::{Kind, Launch, Server};

/// Benchmark herd against Apache ZooKeeper 3.8 (both started here, on 127.0.0.1).
#[derive(Parser, Debug, Clone)]
#[command(name = "bench")]
struct Args {
    /// Run only one server (its figures are printed; ratios need both).
    #[arg(long, value_enum)]
    only: Option<Kind>,
    /// Length of each measured phase, in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Smoke run: phases of 1 s and 1 s of warm-up in all.
    #[arg(long, conflicts_with_all = ["seconds", "warmup_seconds"])]
    quick: bool,
    /// Upper bound on the requests of one phase (all clients together).
    #[arg(long, default_value_t = 2_000_000)]
    max_ops: u64,
    /// Warm-up before the measured phases, in seconds (split over get, set, create).
    #[arg(long, default_value_t = 3.0)]
    warmup_seconds: f64,
    /// Client counts: every op and mode is measured with each (one session per client).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32])]
    clients: Vec<usize>,
    /// Ops measured.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Op::ALL)]
    ops: Vec<Op>,
    /// How sessions issue requests: sync (one at a time) and/or pipelined.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ModeArg::Sync, ModeArg::Pipelined])]
    modes: Vec<ModeArg>,
    /// Requests in flight per session in the pipelined phases.
    #[arg(long, default_value_t = 16)]
    pipeline_depth: usize,
    /// Seed of the mixed op's per-session request sequences (the same for both servers).
    #[arg(long, default_value_t = load::DEFAULT_SEED)]
    seed: u64,
    /// znodes of the bulk load (RSS and restart are measured with them).
    #[arg(long, default_value_t = 1_000_000)]
    znodes: u64,
    /// Bytes of data of every node written.
    #[arg(long, default_value_t = 100)]
    data_bytes: usize,
    /// Sessions the bulk load spreads its creates over.
    #[arg(long, default_value_t = 4)]
    bulk_sessions: usize,
    /// Creates in flight during the bulk load, all its sessions together.
    #[arg(long, default_value_t = 4000)]
    in_flight: usize,
    /// The herd binary [default: $HERD_BIN, else <repo>/target/release/herd].
    #[arg(long)]
    herd_bin: Option<PathBuf>,
    /// ZooKeeper's JVM heap limit (-Xmx); 1M znodes need well over 1 GiB.
    #[arg(long, default_value = "4g")]
    zk_heap: String,
    /// Where the CSV goes [default: <repo>/target/bench.csv].
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Where the PNG chart goes [default: <repo>/target/bench.png].
    #[arg(long)]
    png: Option<PathBuf>,
    /// TrueType font for the chart's text (Debian's fonts-dejavu-core); without it the
    /// chart has no text.
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
    /// Parent of the servers' temporary directories.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the servers' directories (data and logs) instead of deleting them.
    #[arg(long)]
    keep: bool,
    /// Client runtime worker threads.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Seconds a server may take to answer ruok after it is started.
    #[arg(long, default_value_t = 120)]
    startup_timeout: u64,
    /// Seconds the bulk load may take.
    #[arg(long, default_value_t = 600)]
    bulk_timeout: u64,
    /// Seconds a restarted server may take to serve the first getData.
    #[arg(long, default_value_t = 600)]
    restart_timeout: u64,
    /// Run only the 3-server ensemble section (set/get, leader kill).
    #[arg(long, conflicts_with = "no_ensemble")]
    ensemble_only: bool,
    /// Skip the 3-server ensemble section.
    #[arg(long)]
    no_ensemble: bool,
    /// Sessions of the ensemble's set/get phases, spread round-robin over its servers.
    #[arg(long, default_value_t = 8)]
    ensemble_clients: usize,
    /// Seconds the ensemble may take to acknowledge writes again after its leader is killed.
    #[arg(long, default_value_t = 60)]
    outage_timeout: u64,
}

/// How the sessions of a phase issue requests, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// One request at a time per session.
    Sync,
    /// `--pipeline-depth` requests in flight per session.
    Pipelined,
}

/// Largest client count (sessions are named /ops/cNNN).
const CLIENTS_MAX: usize = 999;
/// Largest `--pipeline-depth`.
const PIPELINE_DEPTH_MAX: usize = 10_000;
/// Phase and warm-up length of `--quick`, in seconds.
const QUICK_SECONDS: f64 = 1.0;

impl Args {
    /// The client counts, ascending, without repeats.
    fn client_counts(&self) -> Vec<usize> {
        let mut v = self.clients.clone();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The ops, in `Op::ALL` order, without repeats.
    fn op_list(&self) -> Vec<Op> {
        Op::ALL.into_iter().filter(|o| self.ops.contains(o)).collect()
    }

    /// The modes, sync first, without repeats.
    fn mode_list(&self) -> Vec<Mode> {
        let mut v = Vec::new();
        if self.modes.contains(&ModeArg::Sync) {
            v.push(Mode::Sync);
        }
        if self.modes.contains(&ModeArg::Pipelined) {
            v.push(Mode::Pipelined(self.pipeline_depth));
        }
        v
    }

    /// Applies `--quick` and checks the ranges clap cannot.
    fn settle(&mut self) -> Result<(), String> {
        if self.quick {
            self.seconds = QUICK_SECONDS;
            self.warmup_seconds = QUICK_SECONDS;
        }
        if self.znodes == 0 || self.znodes > load::BULK_ZNODES_MAX {
            return Err(format!("--znodes must be 1..={}", load::BULK_ZNODES_MAX));
        }
        if self.seconds <= 0.0 || !self.seconds.is_finite() || self.warmup_seconds < 0.0 {
            return Err("--seconds must be > 0 and --warmup-seconds >= 0".into());
        }
        if self.clients.is_empty() || self.clients.iter().any(|&n| n == 0 || n > CLIENTS_MAX) {
            return Err(format!("--clients must be a list of counts in 1..={CLIENTS_MAX}"));
        }
        if self.ops.is_empty() || self.modes.is_empty() {
            return Err("--ops and --modes must not be empty".into());
        }
        if !(2..=PIPELINE_DEPTH_MAX).contains(&self.pipeline_depth) {
            return Err(format!("--pipeline-depth must be 2..={PIPELINE_DEPTH_MAX}"));
        }
        Ok(())
    }
}

/// Pause after start before the idle RSS is read, so it is not caught mid-initialization.
const IDLE_SETTLE: Duration = Duration::from_secs(1);
/// Pause after the bulk load before its RSS is read.
const LOADED_SETTLE: Duration = Duration::from_secs(2);
/// Targets (herd/ZooKeeper unless said otherwise).
const TARGET_GET: f64 = 3.0;
const TARGET_WRITE: f64 = 2.0;
const TARGET_P99: f64 = 0.5;
const TARGET_CPU: f64 = 0.2;
const TARGET_RSS_LOADED: f64 = 0.25;
const TARGET_IDLE_RSS_MIB: f64 = 10.0;
const TARGET_RESTART: f64 = 0.25;
/// CPU% of one core used by other processes during a phase above which the run is
/// flagged as disturbed.
const OTHER_CPU_WARN_PCT: f64 = 20.0;

/// One measured phase of one server.
struct Phase {
    op: Op,
    mode: Mode,
    clients: usize,
    stats: PhaseStats,
    /// Server utime+stime over the phase, µs.
    server_cpu_us: f64,
    /// This process's utime+stime over the phase, µs (the client's share of the cores).
    client_cpu_us: f64,
    /// Busy time of the whole machine over the phase, µs.
    machine_cpu_us: f64,
}

impl Phase {
    fn cpu_us_per_op(&self) -> Option<f64> {
        (self.stats.ops > 0).then(|| self.server_cpu_us / self.stats.ops as f64)
    }
    /// CPU% of one core used by every process but the server and this one.
    fn other_cpu_pct(&self) -> f64 {
        let secs = self.stats.elapsed.as_secs_f64().max(1e-9);
        (self.machine_cpu_us - self.server_cpu_us - self.client_cpu_us).max(0.0) / secs / 1e4
    }
    fn p(&self, q: f64) -> Option<f64> {
        (self.stats.ops > 0).then(|| self.stats.hist.value_at_quantile(q) as f64)
    }
}

/// Everything measured on one server.
struct Outcome {
    kind: Kind,
    startup: Duration,
    idle_rss_kib: u64,
    phases: Vec<Phase>,
    bulk: load::BulkStats,
    loaded_rss_kib: u64,
    restart: Duration,
    restarted_rss_kib: Option<u64>,
}

fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn first_line_of(cmd: &str, args: &[&str]) -> String {
    match std::process::Command::new(cmd).args(args).output() {
        Ok(o) => {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or("").trim().to_string()
        }
        Err(e) => format!("({cmd}: {e})"),
    }
}

fn machine_summary() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo.lines().next().unwrap_or("").split_whitespace().nth(1).unwrap_or("?").to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "nproc {nproc}, CPU {model}, MemTotal {} MiB, Linux {}",
        mem.parse::<u64>().map(|k| k / 1024).unwrap_or(0),
        kernel.trim()
    )
}

/// Runs every measurement against one server. The server is killed when this returns,
/// whatever the path (its `Server` is dropped).
async fn run_server(args: &Args, launch: &Launch, clk_tck: f64) -> Result<Outcome, String> {
    let kind = launch.kind;
    let data = Arc::new(vec![b'x'; args.data_bytes]);
    eprintln!("[{kind}] starting: {}", launch.argv(&launch.dir.join("zoo.cfg")).join(" "));
    let mut srv = Server::spawn(launch, "server.log").map_err(|e| e.to_string())?;
    let startup = srv.wait_ruok(Duration::from_secs(args.startup_timeout))?;
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle_rss_kib = server::rss_kib(srv.pid).map_err(|e| e.to_string())?;
    eprintln!("[{kind}] up in {:.2}s on {}, idle RSS {:.1} MiB", startup.as_secs_f64(), srv.addr, mib(idle_rss_kib));

    let addr = srv.connect_string();
    let counts = args.client_counts();
    let ops = args.op_list();
    let sessions = counts.last().copied().unwrap_or(1);
    let mut clients = vec![load::connect_retry(&addr, Duration::from_secs(args.startup_timeout)).await?];
    clients.extend(load::connect_many(&addr, sessions - 1).await?);
    load::prepare_ops_tree(&clients[0], clients.len(), &data).await?;

    let warm = Duration::from_secs_f64(args.warmup_seconds / ops.len() as f64);
    if !warm.is_zero() {
        for &op in &ops {
            let b = PhaseBounds { duration: warm, max_ops: args.max_ops };
            let s =
                load::run_phase_with(&clients, op, Mode::Sync, args.seed, data.clone(), b, &format!("w{}", op.name()))
                    .await;
            eprintln!("[{kind}] warm-up {}: {} ops, {} errors", op.name(), s.ops, s.errors);
        }
    }

    let bounds = PhaseBounds { duration: Duration::from_secs_f64(args.seconds), max_ops: args.max_ops };
    let me = std::process::id();
    let mut phases = Vec::new();
    for &op in &ops {
        for mode in args.mode_list() {
            for &n in &counts {
                srv.check_alive()?;
                // Unique per phase: the create and mixed ops name their nodes with it.
                let tag = format!("{}{}-{n}", op.name(), mode.depth());
                let (s0, c0, m0) = (server::cpu_ticks(srv.pid), server::cpu_ticks(me), server::machine_busy_ticks());
                let stats = load::run_phase_with(&clients[..n], op, mode, args.seed, data.clone(), bounds, &tag).await;
                let (s1, c1, m1) = (server::cpu_ticks(srv.pid), server::cpu_ticks(me), server::machine_busy_ticks());
                let ticks = |a: std::io::Result<u64>, b: std::io::Result<u64>| -> Result<f64, String> {
                    let (a, b) = (a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?);
                    Ok(b.saturating_sub(a) as f64 * 1e6 / clk_tck)
                };
                let phase = Phase {
                    op,
                    mode,
                    clients: n,
                    server_cpu_us: ticks(s0, s1)?,
                    client_cpu_us: ticks(c0, c1)?,
                    machine_cpu_us: ticks(m0, m1)?,
                    stats,
                };
                eprintln!(
                    "[{kind}] {} {} c={n}: {:.0} ops/s, p50 {} µs, p99 {} µs, {:.1} µs server CPU/op, {} errors{}",
                    op.name(),
                    mode.label(),
                    phase.stats.ops_per_sec(),
                    phase.p(0.5).unwrap_or(0.0),
                    phase.p(0.99).unwrap_or(0.0),
                    phase.cpu_us_per_op().unwrap_or(0.0),
                    phase.stats.errors,
                    phase.stats.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
                );
                phases.push(phase);
            }
        }
    }
    drop(clients);
    srv.kill();

    // A fresh server on an empty data dir: the nodes the create and mixed phases made would
    // otherwise be counted in the memory and restart figures.
    let launch = Launch { dir: launch.dir.join("load"), ..launch.clone() };
    let mut srv = Server::spawn(&launch, "server.log").map_err(|e| e.to_string())?;
    srv.wait_ruok(Duration::from_secs(args.startup_timeout))?;
    eprintln!("[{kind}] fresh server for the bulk load on {}", srv.addr);
    let addr = srv.connect_string();
    let mut clients = vec![load::connect_retry(&addr, Duration::from_secs(args.startup_timeout)).await?];
    clients.extend(load::connect_many(&addr, args.bulk_sessions.clamp(1, CLIENTS_MAX) - 1).await?);
    eprintln!("[{kind}] bulk load: {} znodes of {} bytes, {} in flight", args.znodes, args.data_bytes, args.in_flight);
    let window = (args.in_flight / clients.len()).max(1);
    let bulk =
        load::bulk_load(&clients, args.znodes, data.clone(), window, Duration::from_secs(args.bulk_timeout)).await?;
    eprintln!(
        "[{kind}] bulk load: {} created in {:.1}s ({:.0}/s), {} errors{}",
        bulk.created,
        bulk.elapsed.as_secs_f64(),
        bulk.created as f64 / bulk.elapsed.as_secs_f64().max(1e-9),
        bulk.errors,
        bulk.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    if bulk.errors > 0 {
        return Err(format!("bulk load had {} errors; first: {}", bulk.errors, bulk.first_error.unwrap_or_default()));
    }
    tokio::time::sleep(LOADED_SETTLE).await;
    srv.check_alive()?;
    let loaded_rss_kib = server::rss_kib(srv.pid).map_err(|e| e.to_string())?;
    eprintln!("[{kind}] RSS with the load: {:.1} MiB", mib(loaded_rss_kib));

    // The last leaf: its create was acknowledged, so it must survive the kill.
    let known = load::bulk_node(args.znodes.saturating_sub(1));
    clients[0].get_data(&known).await.map_err(|e| format!("getData {known} before the kill: {e}"))?;
    drop(clients);

    srv.kill();
    eprintln!("[{kind}] killed (SIGKILL); restarting on the same data dir");
    let since = Instant::now();
    let mut srv = Server::spawn(&launch, "server-restart.log").map_err(|e| e.to_string())?;
    let restart =
        match load::wait_first_get(&srv.connect_string(), &known, since, Duration::from_secs(args.restart_timeout))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                let alive = srv.check_alive().err().unwrap_or_default();
                return Err(format!("restart: {e} {alive}"));
            }
        };
    let restarted_rss_kib = server::rss_kib(srv.pid).ok();
    eprintln!("[{kind}] restart: first getData after {:.2}s", restart.as_secs_f64());
    srv.kill();

    Ok(Outcome { kind, startup, idle_rss_kib, phases, bulk, loaded_rss_kib, restart, restarted_rss_kib })
}

/// The phases' figures of one server.
struct PhaseFigure {
    /// Caption of the chart panel.
    panel: &'static str,
    /// Word in the row name.
    what: &'static str,
    unit: &'static str,
    value: fn(&Phase) -> Option<f64>,
    target: fn(Op) -> Option<Target>,
}

const PHASE_FIGURES: [PhaseFigure; 4] = [
    PhaseFigure {
        panel: "throughput (higher is better)",
        what: "throughput",
        unit: "ops/s",
        value: |p| Some(p.stats.ops_per_sec()),
        // The mixed op writes too, so it gets the write target.
        target: |op| Some(Target::RatioAtLeast(if op == Op::Get { TARGET_GET } else { TARGET_WRITE })),
    },
    PhaseFigure {
        panel: "p50 latency (lower is better)",
        what: "p50",
        unit: "µs",
        value: |p| p.p(0.5),
        target: |_| None,
    },
    PhaseFigure {
        panel: "p99 latency (lower is better)",
        what: "p99",
        unit: "µs",
        value: |p| p.p(0.99),
        target: |_| Some(Target::RatioAtMost(TARGET_P99)),
    },
    PhaseFigure {
        panel: "server CPU per request (lower is better)",
        what: "server CPU",
        unit: "µs/op",
        value: Phase::cpu_us_per_op,
        target: |_| Some(Target::RatioAtMost(TARGET_CPU)),
    },
];

/// The comparison rows, and the chart panels that group the phases' rows (one panel per
/// figure; a group per op and client count; a bar per mode).
fn rows(args: &Args, herd: Option<&Outcome>, zk: Option<&Outcome>) -> (Vec<Row>, Vec<Panel>) {
    let mut rows = Vec::new();
    fn phase(o: Option<&Outcome>, op: Op, mode: Mode, n: usize) -> Option<&Phase> {
        o.and_then(|o| o.phases.iter().find(|p| p.op == op && p.mode == mode && p.clients == n))
    }
    let (ops, modes, counts) = (args.op_list(), args.mode_list(), args.client_counts());
    let mut groups = Vec::new();
    for &op in &ops {
        for &n in &counts {
            groups.push(format!("{} c={n}", op.name()));
        }
    }
    let series: Vec<String> = modes.iter().map(|m| m.label()).collect();
    let mut panels: Vec<Panel> = PHASE_FIGURES
        .iter()
        .map(|f| Panel { title: f.panel.into(), groups: groups.clone(), series: series.clone(), bars: Vec::new() })
        .collect();
    for (oi, &op) in ops.iter().enumerate() {
        for (si, &mode) in modes.iter().enumerate() {
            for (ni, &n) in counts.iter().enumerate() {
                let (h, z) = (phase(herd, op, mode, n), phase(zk, op, mode, n));
                for (f, panel) in PHASE_FIGURES.iter().zip(panels.iter_mut()) {
                    panel.bars.push((rows.len(), oi * counts.len() + ni, si));
                    rows.push(Row {
                        name: format!("{} {} c={n} {}", op.name(), f.what, mode.label()),
                        unit: f.unit,
                        herd: h.and_then(f.value),
                        zookeeper: z.and_then(f.value),
                        target: (f.target)(op),
                    });
                }
            }
        }
    }
    rows.push(Row {
        name: "RSS idle".into(),
        unit: "MiB",
        herd: herd.map(|o| mib(o.idle_rss_kib)),
        zookeeper: zk.map(|o| mib(o.idle_rss_kib)),
        target: Some(Target::HerdAtMost(TARGET_IDLE_RSS_MIB)),
    });
    rows.push(Row {
        name: format!("RSS with {} znodes", args.znodes),
        unit: "MiB",
        herd: herd.map(|o| mib(o.loaded_rss_kib)),
        zookeeper: zk.map(|o| mib(o.loaded_rss_kib)),
        target: Some(Target::RatioAtMost(TARGET_RSS_LOADED)),
    });
    rows.push(Row {
        name: format!("restart to first getData, {} znodes", args.znodes),
        unit: "s",
        herd: herd.map(|o| o.restart.as_secs_f64()),
        zookeeper: zk.map(|o| o.restart.as_secs_f64()),
        target: Some(Target::RatioAtMost(TARGET_RESTART)),
    });
    rows.push(Row {
        name: "bulk create, pipelined".into(),
        unit: "znodes/s",
        herd: herd.map(|o| o.bulk.created as f64 / o.bulk.elapsed.as_secs_f64().max(1e-9)),
        zookeeper: zk.map(|o| o.bulk.created as f64 / o.bulk.elapsed.as_secs_f64().max(1e-9)),
        target: None,
    });
    rows.push(Row {
        name: "RSS after restart".into(),
        unit: "MiB",
        herd: herd.and_then(|o| o.restarted_rss_kib.map(mib)),
        zookeeper: zk.and_then(|o| o.restarted_rss_kib.map(mib)),
        target: None,
    });
    rows.push(Row {
        name: "start-up to ruok, empty".into(),
        unit: "s",
        herd: herd.map(|o| o.startup.as_secs_f64()),
        zookeeper: zk.map(|o| o.startup.as_secs_f64()),
        target: None,
    });
    (rows, panels)
}

/// Per-phase details of one server that the comparison leaves out.
fn details(o: &Outcome, clk_cores: f64) -> String {
    let mut s = format!(
        "{}: {:>6} {:>14} {:>3} {:>9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>9} {:>6}\n",
        o.kind,
        "phase",
        "mode",
        "c",
        "ops",
        "ops/s",
        "p50 µs",
        "p99 µs",
        "p999 µs",
        "max µs",
        "srv CPU%",
        "cli CPU%",
        "other CPU%",
        "errors"
    );
    for p in &o.phases {
        let secs = p.stats.elapsed.as_secs_f64().max(1e-9);
        s += &format!(
            "{:>w$} {:>6} {:>14} {:>3} {:>9} {:>7.0} {:>8} {:>8} {:>8} {:>9} {:>8.0} {:>8.0} {:>9.0} {:>6}\n",
            "",
            p.op.name(),
            p.mode.label(),
            p.clients,
            p.stats.ops,
            p.stats.ops_per_sec(),
            p.p(0.5).unwrap_or(0.0),
            p.p(0.99).unwrap_or(0.0),
            p.p(0.999).unwrap_or(0.0),
            p.stats.hist.max(),
            p.server_cpu_us / secs / 1e4,
            p.client_cpu_us / secs / 1e4,
            p.other_cpu_pct(),
            p.stats.errors,
            w = o.kind.to_string().len() + 1,
        );
    }
    s += &format!(
        "  (CPU% is of one core; the machine has {clk_cores} cores; other = every other process, \
         high values mean the figures were disturbed)\n"
    );
    let worst = o.phases.iter().map(Phase::other_cpu_pct).fold(0.0, f64::max);
    if worst > OTHER_CPU_WARN_PCT {
        s += &format!(
            "  WARNING: other processes used up to {worst:.0}% of a core during {}'s phases; \
             its figures are disturbed, rerun on a quiet machine\n",
            o.kind
        );
    }
    s
}

async fn run(mut args: Args) -> Result<bool, String> {
    args.settle()?;
    let root = repo_root();
    let herd_bin = args
        .herd_bin
        .clone()
        .or_else(|| std::env::var_os("HERD_BIN").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target/release/herd"));
    let csv_path = args.csv.clone().unwrap_or_else(|| root.join("target/bench.csv"));
    let png_path = args.png.clone().unwrap_or_else(|| root.join("target/bench.png"));
    let clk_tck = server::clock_ticks_per_sec() as f64;
    let command: Vec<String> = std::env::args().collect();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) as f64;
    let mut header = String::new();
    header += &format!("machine: {}\n", machine_summary());
    header += &format!("command: {}\n", command.join(" "));
    let counts: Vec<String> = args.client_counts().iter().map(usize::to_string).collect();
    let ops: Vec<&str> = args.op_list().iter().map(|o| o.name()).collect();
    let modes: Vec<String> = args.mode_list().iter().map(|m| m.label()).collect();
    header += &format!(
        "phases: {} s each (at most {} ops), ops {}, sessions {}, modes {} (sync = one request at a time per \
         session, pipelined k = k requests in flight per session, latency from send to answer), {} B data, \
         warm-up {} s (sync)\n",
        args.seconds,
        args.max_ops,
        ops.join("/"),
        counts.join("/"),
        modes.join(" and "),
        args.data_bytes,
        args.warmup_seconds
    );
    header += &format!(
        "mixed: per request {}% get, {}% set, {}% create, drawn per session from seed {} (same for both servers)\n",
        load::MIX_GET_PCT,
        load::MIX_SET_PCT,
        100 - load::MIX_GET_PCT - load::MIX_SET_PCT,
        args.seed
    );
    header += &format!(
        "bulk: on a fresh server (empty dataDir, started after the phases' server is killed), {} znodes as \
         /bench/pNNNN/cNNNN, {} sessions, {} creates in flight; restart = SIGKILL, start on the same dataDir, \
         time to the first successful getData\n",
        args.znodes, args.bulk_sessions, args.in_flight
    );
    header +=
        &format!("client: zookeeper-client 0.11 on tokio, {} worker threads, in this process\n", args.client_threads);
    let kinds: Vec<Kind> = match args.only {
        Some(k) => vec![k],
        None => vec![Kind::Zookeeper, Kind::Herd],
    };
    for &k in &kinds {
        match k {
            Kind::Zookeeper => {
                header += &format!(
                    "ZooKeeper: {} (Debian libzookeeper-java 3.8), JVM heap -Xmx{}, default GC; {}\n",
                    server::ZK_CLASSPATH,
                    args.zk_heap,
                    first_line_of("java", &["-version"])
                )
            }
            Kind::Herd => header += &format!("herd: {}\n", herd_bin.display()),
        }
    }
    let cfg = server::zoo_cfg(Path::new("<tmp>/data"), 0).replace("clientPort=0", "clientPort=<free port>");
    header += &format!("zoo.cfg (both):\n{}", indent(&cfg));
    if !args.no_ensemble {
        header += &ensemble::header(&args);
    }
    header += &format!("load average at start: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default());
    print!("{header}");

    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut failures = Vec::new();
    for &kind in kinds.iter().filter(|_| !args.ensemble_only) {
        if kind == Kind::Herd && !herd_bin.exists() {
            failures.push(format!(
                "herd: {} not found (cargo build --release -p shell-std, or --herd-bin / HERD_BIN)",
                herd_bin.display()
            ));
            continue;
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("herd-bench-{}-", kind.to_string().to_lowercase()))
            .tempdir_in(&work_dir)
            .map_err(|e| format!("temp dir in {}: {e}", work_dir.display()))?;
        let launch =
            Launch { kind, herd_bin: herd_bin.clone(), zk_heap: args.zk_heap.clone(), dir: dir.path().to_path_buf() };
        let started = Instant::now();
        match run_server(&args, &launch, clk_tck).await {
            Ok(o) => {
                eprintln!("[{kind}] done in {:.0}s", started.elapsed().as_secs_f64());
                outcomes.push(o);
            }
            Err(e) => failures.push(format!("{kind}: {e}")),
        }
        if args.keep {
            let kept = dir.keep();
            eprintln!("[{kind}] kept {}", kept.display());
        }
    }

    let (ensembles, ensemble_failures) = if args.no_ensemble {
        (Vec::new(), Vec::new())
    } else {
        ensemble::run_all(&args, &kinds, &herd_bin, &work_dir).await
    };
    failures.extend(ensemble_failures);

    let find = |k: Kind| outcomes.iter().find(|o| o.kind == k);
    let (mut rows, panels) =
        if args.ensemble_only { Default::default() } else { rows(&args, find(Kind::Herd), find(Kind::Zookeeper)) };
    if !args.no_ensemble {
        let find = |k: Kind| ensembles.iter().find(|o| o.kind == k);
        rows.extend(ensemble::rows(find(Kind::Herd), find(Kind::Zookeeper), args.ensemble_clients.max(1)));
    }
    let mut out = String::from("\n");
    out += &report::table(&rows);
    for o in &outcomes {
        out += "\n";
        out += &details(o, cores);
    }
    for o in &ensembles {
        out += "\n";
        out += &ensemble::details(o);
    }
    print!("{out}");
    report::write_file(&csv_path, &report::csv(&rows)).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    println!("\nCSV: {}", csv_path.display());
    if rows.iter().any(|r| r.ratio().is_some()) {
        let with_text = match report::load_font(&args.font) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("chart without text: {e}");
                false
            }
        };
        let title = if args.ensemble_only {
            format!("herd / ZooKeeper 3.8, {}-server ensembles", ensemble::SERVERS)
        } else {
            format!("herd / ZooKeeper 3.8 ({} znodes, {} clients)", args.znodes, counts.join("/"))
        };
        match report::png(&rows, &panels, &png_path, &title, with_text) {
            Ok(()) => println!("PNG: {}", png_path.display()),
            Err(e) => failures.push(format!("chart: {e}")),
        }
    } else {
        println!("PNG: not drawn (ratios need both servers)");
    }
    for f in &failures {
        println!("FAILED {f}");
    }
    if !failures.is_empty() && !args.keep {
        println!("(server directories and logs are deleted at the end; --keep keeps them)");
    }
    Ok(failures.is_empty())
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// Entry point of the `bench` binary.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C or SIGTERM the run is dropped, and with it the running server (its Drop
    // kills it), so no server outlives the benchmark.
    let result = rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("SIGTERM handler: {e}"))?;
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted (SIGINT)".to_string()),
            _ = term.recv() => Err("terminated (SIGTERM)".to_string()),
        }
    });
    // Sessions' background tasks may still be waiting on dead servers; do not wait for them.
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, String> {
        let mut a =
            Args::try_parse_from(std::iter::once("bench").chain(argv.iter().copied())).map_err(|e| e.to_string())?;
        a.settle()?;
        Ok(a)
    }

    #[test]
    fn defaults_cover_every_op_mode_and_count() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.client_counts(), [1, 8, 32]);
        assert_eq!(a.op_list(), Op::ALL);
        assert_eq!(a.mode_list(), [Mode::Sync, Mode::Pipelined(16)]);
        assert_eq!(a.seconds, 3.0);
    }

    #[test]
    fn flags_narrow_and_validate() {
        let a = parse(&["--clients", "32,1,32", "--ops", "mixed,get", "--modes", "pipelined", "--quick"]).unwrap();
        assert_eq!(a.client_counts(), [1, 32]);
        assert_eq!(a.op_list(), [Op::Get, Op::Mixed]);
        assert_eq!(a.mode_list(), [Mode::Pipelined(16)]);
        assert_eq!((a.seconds, a.warmup_seconds), (QUICK_SECONDS, QUICK_SECONDS));
        assert!(parse(&["--quick", "--seconds", "2"]).is_err());
        assert!(parse(&["--clients", "0"]).is_err());
        assert!(parse(&["--clients", "1000"]).is_err());
        assert!(parse(&["--pipeline-depth", "1"]).is_err());
        assert!(parse(&["--ops", "delete"]).is_err());
        assert!(parse(&["--ensemble-only", "--no-ensemble"]).is_err());
        assert!(parse(&["--only", "herd", "--no-ensemble"]).is_ok());
    }

    #[test]
    fn rows_and_panels_cover_every_phase() {
        let a = parse(&[]).unwrap();
        let (rows, panels) = rows(&a, None, None);
        let phases = Op::ALL.len() * 2 * 3;
        assert_eq!(rows.len(), phases * PHASE_FIGURES.len() + 6);
        assert_eq!(panels.len(), PHASE_FIGURES.len());
        for (p, f) in panels.iter().zip(&PHASE_FIGURES) {
            assert_eq!(p.bars.len(), phases);
            assert_eq!(p.groups.len(), Op::ALL.len() * 3);
            for &(i, g, s) in &p.bars {
                assert!(rows[i].name.contains(f.what), "{} in {}", rows[i].name, p.title);
                assert!(rows[i].name.contains(&p.series[s]));
                let c = p.groups[g].rsplit_once(' ').unwrap().1;
                assert!(rows[i].name.contains(&format!("{c} ")), "{} in group {}", rows[i].name, p.groups[g]);
            }
        }
        let mixed = rows.iter().find(|r| r.name == "mixed throughput c=8 pipelined k=16").unwrap();
        assert_eq!(mixed.target, Some(Target::RatioAtLeast(TARGET_WRITE)));
        let get = rows.iter().find(|r| r.name == "get throughput c=1 sync").unwrap();
        assert_eq!(get.target, Some(Target::RatioAtLeast(TARGET_GET)));
    }
}
