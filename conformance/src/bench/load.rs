//! The client side: sessions, the measured request phases, the bulk load and the restart
//! probe. Every loop ends on a deadline or a count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use zookeeper_client as zk;

/// Largest latency the histograms hold, in µs (longer ones are clamped to it).
const LATENCY_MAX_US: u64 = 60_000_000;
/// Significant figures kept by the histograms.
const LATENCY_SIGFIG: u8 = 3;
/// Session timeout asked for by every benchmark session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long establishing one session may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one probe of a restarting server may take before it is retried.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between probes of a restarting server that refused the connection.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Children per parent in the bulk tree: /bench/pNNNN/cNNNN.
pub const FANOUT: u64 = 1000;
/// Largest bulk load the 4-digit names allow.
pub const BULK_ZNODES_MAX: u64 = FANOUT * 10_000;
/// Root of the bulk tree.
const BULK_ROOT: &str = "/bench";
/// Root of the per-client nodes of the measured phases.
const OPS_ROOT: &str = "/ops";

/// The request a phase repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// getData of the client's own 100-byte node.
    Get,
    /// setData of the client's own node, any version.
    Set,
    /// create of a new persistent node under the client's own node.
    Create,
    /// Per request, drawn from a per-session generator seeded from the phase's seed and the
    /// session's index (so both servers see the same sequence): [`MIX_GET_PCT`]% get,
    /// [`MIX_SET_PCT`]% set, the rest create, each as above.
    Mixed,
}

impl Op {
    /// Every op, in the order phases run.
    pub const ALL: [Op; 4] = [Op::Get, Op::Set, Op::Create, Op::Mixed];

    /// Lower-case name, used in tables and the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Create => "create",
            Op::Mixed => "mixed",
        }
    }
}

/// Share of getData in the mixed op, percent.
pub const MIX_GET_PCT: u64 = 80;
/// Share of setData in the mixed op, percent (create takes the rest).
pub const MIX_SET_PCT: u64 = 15;
/// Seed of the mixed op when the caller gives none (the ensemble phases never mix).
pub const DEFAULT_SEED: u64 = 1;

/// How every session of a phase issues its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One request at a time: the next is sent when the previous one is answered.
    Sync,
    /// This many requests in flight per session: one is sent as soon as one is answered.
    Pipelined(usize),
}

impl Mode {
    /// Short name, used in tables and the CSV (`sync`, `pipelined k=16`).
    pub fn label(self) -> String {
        match self {
            Mode::Sync => "sync".into(),
            Mode::Pipelined(k) => format!("pipelined k={k}"),
        }
    }

    /// Requests in flight per session.
    pub fn depth(self) -> usize {
        match self {
            Mode::Sync => 1,
            Mode::Pipelined(k) => k.max(1),
        }
    }
}

/// One request actually sent (the mixed op picks one of these per request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Req {
    Get,
    Set,
    Create,
}

impl Req {
    fn name(self) -> &'static str {
        match self {
            Req::Get => "get",
            Req::Set => "set",
            Req::Create => "create",
        }
    }
}

/// SplitMix64: a tiny deterministic generator, enough to draw the mixed op's requests.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    /// The generator of session `index` for `seed`.
    fn for_session(seed: u64, index: usize) -> SplitMix {
        SplitMix(seed ^ (index as u64).wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The request `op` sends next.
fn pick(op: Op, rng: &mut SplitMix) -> Req {
    match op {
        Op::Get => Req::Get,
        Op::Set => Req::Set,
        Op::Create => Req::Create,
        Op::Mixed => match rng.next() % 100 {
            x if x < MIX_GET_PCT => Req::Get,
            x if x < MIX_GET_PCT + MIX_SET_PCT => Req::Set,
            _ => Req::Create,
        },
    }
}

/// What one phase measured on the client side.
#[derive(Clone, Debug)]
pub struct PhaseStats {
    /// Requests answered successfully.
    pub ops: u64,
    /// Requests answered with an error (not counted in `ops` nor in the latencies).
    pub errors: u64,
    /// First error seen, for the report.
    pub first_error: Option<String>,
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// Latency of successful requests, µs.
    pub hist: Histogram<u64>,
}

impl PhaseStats {
    /// Successful requests per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Bounds of one phase: whichever is reached first ends it.
#[derive(Clone, Copy, Debug)]
pub struct PhaseBounds {
    /// Wall time.
    pub duration: Duration,
    /// Requests issued, all clients together.
    pub max_ops: u64,
}

fn new_hist() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, LATENCY_MAX_US, LATENCY_SIGFIG).expect("valid histogram bounds")
}

/// Opens one session.
pub async fn connect(addr: &str) -> Result<zk::Client, String> {
    let fut = zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .with_connection_timeout(CONNECT_TIMEOUT)
        .with_fail_eagerly()
        .connect(addr);
    match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
        Err(_) => Err(format!("connect {addr}: no session within {CONNECT_TIMEOUT:?}")),
    }
}

/// Opens one session, retrying until `timeout`: a server that already answers `ruok` may
/// still refuse sessions while it loads its data (ZooKeeper does).
pub async fn connect_retry(addr: &str, timeout: Duration) -> Result<zk::Client, String> {
    let start = Instant::now();
    loop {
        match connect(addr).await {
            Ok(c) => return Ok(c),
            Err(e) if start.elapsed() >= timeout => return Err(format!("{e} (retried for {timeout:?})")),
            Err(_) => tokio::time::sleep(PROBE_INTERVAL).await,
        }
    }
}

/// Opens `n` sessions, one after another (a burst of connects is not what is measured).
pub async fn connect_many(addr: &str, n: usize) -> Result<Vec<zk::Client>, String> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(connect(addr).await?);
    }
    Ok(v)
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// The node client `i` reads and writes in the phases.
fn own_node(i: usize) -> String {
    format!("{OPS_ROOT}/c{i:03}")
}

/// Creates `/ops` and one `data`-sized node per client.
pub async fn prepare_ops_tree(c: &zk::Client, clients: usize, data: &[u8]) -> Result<(), String> {
    c.create(OPS_ROOT, b"", &persistent()).await.map_err(|e| format!("create {OPS_ROOT}: {e}"))?;
    for i in 0..clients {
        let p = own_node(i);
        c.create(&p, data, &persistent()).await.map_err(|e| format!("create {p}: {e}"))?;
    }
    Ok(())
}

/// Sends one request of kind `req` and waits for its answer. `child` is the path a create
/// makes (unused by the other kinds).
async fn request(c: &zk::Client, req: Req, node: &str, child: &str, data: &[u8]) -> Result<(), zk::Error> {
    match req {
        Req::Get => c.get_data(node).await.map(|_| ()),
        Req::Set => c.set_data(node, data, None).await.map(|_| ()),
        Req::Create => c.create(child, data, &persistent()).await.map(|_| ()),
    }
}

/// What one session of a phase counted.
struct SessionStats {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    first_error: Option<String>,
}

impl SessionStats {
    fn record(&mut self, req: Req, latency: Duration, r: Result<(), zk::Error>, node: &str) {
        match r {
            Ok(()) => {
                self.hist.saturating_record(latency.as_micros() as u64);
                self.ops += 1;
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{} {node}: {e}", req.name()));
            }
        }
    }
}

/// Runs `op` from every session in `clients` concurrently, each issuing one request at a
/// time, until the bounds are reached. `tag` keeps created names unique across phases.
pub async fn run_phase(
    clients: &[zk::Client],
    op: Op,
    data: Arc<Vec<u8>>,
    bounds: PhaseBounds,
    tag: &str,
) -> PhaseStats {
    run_phase_with(clients, op, Mode::Sync, DEFAULT_SEED, data, bounds, tag).await
}

/// Runs `op` from every session in `clients` concurrently, each keeping `mode.depth()`
/// requests in flight, until the bounds are reached; then waits for the answers still due.
/// A latency runs from the moment the request is handed to the client library to the moment
/// its answer is taken. `seed` drives the mixed op; `tag` keeps created names unique across
/// phases.
pub async fn run_phase_with(
    clients: &[zk::Client],
    op: Op,
    mode: Mode,
    seed: u64,
    data: Arc<Vec<u8>>,
    bounds: PhaseBounds,
    tag: &str,
) -> PhaseStats {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + bounds.duration;
    let depth = mode.depth();
    let mut tasks = Vec::with_capacity(clients.len());
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        let data = data.clone();
        let issued = issued.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut st = SessionStats { hist: new_hist(), ops: 0, errors: 0, first_error: None };
            let node = own_node(i);
            let mut rng = SplitMix::for_session(seed, i);
            let mut seq = 0u64;
            let mut child_path = |req: Req| {
                if req == Req::Create {
                    seq += 1;
                    format!("{node}/{tag}-{seq}")
                } else {
                    String::new()
                }
            };
            // Bounded by the deadline and by the shared op budget.
            let more = || Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < bounds.max_ops;
            if depth == 1 {
                while more() {
                    let req = pick(op, &mut rng);
                    let child = child_path(req);
                    let t = Instant::now();
                    let r = request(&c, req, &node, &child, &data).await;
                    st.record(req, t.elapsed(), r, &node);
                }
            } else {
                let (cr, nr, dr) = (&c, node.as_str(), data.as_slice());
                let mut inflight = FuturesUnordered::new();
                // Refilled after every answer, so the window stays full until the bounds.
                loop {
                    while inflight.len() < depth && more() {
                        let req = pick(op, &mut rng);
                        let child = child_path(req);
                        inflight.push(async move {
                            let t = Instant::now();
                            let r = request(cr, req, nr, &child, dr).await;
                            (req, t.elapsed(), r)
                        });
                    }
                    let Some((req, latency, r)) = inflight.next().await else {
                        break;
                    };
                    st.record(req, latency, r, nr);
                }
            }
            st
        }));
    }
    let mut out = PhaseStats { ops: 0, errors: 0, first_error: None, elapsed: Duration::ZERO, hist: new_hist() };
    for t in tasks {
        match t.await {
            Ok(st) => {
                // Both histograms have the same bounds, so adding cannot fail.
                let _ = out.hist.add(&st.hist);
                out.ops += st.ops;
                out.errors += st.errors;
                if out.first_error.is_none() {
                    out.first_error = st.first_error;
                }
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("client task failed: {e}"));
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Path of bulk node `j`.
pub fn bulk_node(j: u64) -> String {
    format!("{BULK_ROOT}/p{:04}/c{:04}", j / FANOUT, j % FANOUT)
}

/// What the bulk load did.
#[derive(Clone, Debug)]
pub struct BulkStats {
    /// znodes created (parents included).
    pub created: u64,
    /// Creates that failed.
    pub errors: u64,
    /// First failure, for the report.
    pub first_error: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Creates `count` paths produced by `path_of(0..count)`, spread over `clients`, with up to
/// `window` requests in flight per session. Stops at `deadline`.
async fn create_pipelined(
    clients: &[zk::Client],
    count: u64,
    path_of: fn(u64) -> String,
    data: Arc<Vec<u8>>,
    window: usize,
    deadline: Instant,
) -> (u64, u64, Option<String>) {
    let n = clients.len().max(1) as u64;
    let mut tasks = Vec::new();
    for (s, c) in clients.iter().enumerate() {
        let c = c.clone();
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None::<String>);
            let mut next = s as u64;
            let mut inflight = FuturesUnordered::new();
            loop {
                while inflight.len() < window && next < count && Instant::now() < deadline {
                    let p = path_of(next);
                    next += n;
                    let c = c.clone();
                    let data = data.clone();
                    inflight.push(async move {
                        c.create(&p, &data, &persistent()).await.map(|_| ()).map_err(|e| format!("create {p}: {e}"))
                    });
                }
                let Some(r) = inflight.next().await else {
                    break;
                };
                match r {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (ok, errors, first_error)
        }));
    }
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        match t.await {
            Ok((o, e, f)) => {
                ok += o;
                errors += e;
                if first_error.is_none() {
                    first_error = f;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("bulk task failed: {e}"));
            }
        }
    }
    (ok, errors, first_error)
}

/// Creates /bench, its parents and `znodes` leaves of `data`, pipelined.
pub async fn bulk_load(
    clients: &[zk::Client],
    znodes: u64,
    data: Arc<Vec<u8>>,
    window: usize,
    timeout: Duration,
) -> Result<BulkStats, String> {
    let start = Instant::now();
    let deadline = start + timeout;
    let first = clients.first().ok_or("no session for the bulk load")?;
    first.create(BULK_ROOT, b"", &persistent()).await.map_err(|e| format!("create {BULK_ROOT}: {e}"))?;
    let parents = znodes.div_ceil(FANOUT);
    let (p_ok, p_err, p_first) =
        create_pipelined(clients, parents, |i| format!("{BULK_ROOT}/p{i:04}"), Arc::new(Vec::new()), window, deadline)
            .await;
    if p_err > 0 || p_ok < parents {
        return Err(format!(
            "bulk load: {p_ok} of {parents} parents created, {p_err} errors, first: {}",
            p_first.unwrap_or_default()
        ));
    }
    let (ok, errors, first_error) = create_pipelined(clients, znodes, bulk_node, data, window, deadline).await;
    Ok(BulkStats { created: 1 + p_ok + ok, errors, first_error, elapsed: start.elapsed() })
}

/// Polls `addr` until a session is established and getData of `path` succeeds; returns
/// the time since `since` (the moment the server was spawned).
pub async fn wait_first_get(addr: &str, path: &str, since: Instant, timeout: Duration) -> Result<Duration, String> {
    let mut last_error = String::from("no attempt");
    // Bounded by the timeout: every step below is itself bounded by PROBE_TIMEOUT.
    while since.elapsed() < timeout {
        // A refused TCP connect (not listening yet) is cheap to retry quickly.
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => drop(s),
            Ok(Err(e)) => {
                last_error = format!("tcp connect: {e}");
                tokio::time::sleep(PROBE_INTERVAL).await;
                continue;
            }
            Err(_) => {
                last_error = "tcp connect timed out".into();
                continue;
            }
        }
        let c = match connect(addr).await {
            Ok(c) => c,
            Err(e) => {
                last_error = e;
                tokio::time::sleep(PROBE_INTERVAL).await;
                continue;
            }
        };
        match tokio::time::timeout(PROBE_TIMEOUT, c.get_data(path)).await {
            Ok(Ok(_)) => return Ok(since.elapsed()),
            Ok(Err(e)) => last_error = format!("getData {path}: {e}"),
            Err(_) => last_error = format!("getData {path}: timed out"),
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    Err(format!("no successful getData of {path} within {timeout:?}; last error: {last_error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_names_fan_out() {
        assert_eq!(bulk_node(0), "/bench/p0000/c0000");
        assert_eq!(bulk_node(999), "/bench/p0000/c0999");
        assert_eq!(bulk_node(1000), "/bench/p0001/c0000");
        assert_eq!(bulk_node(BULK_ZNODES_MAX - 1), "/bench/p9999/c0999");
    }

    #[test]
    fn mixed_draws_the_documented_shares_deterministically() {
        let draw = |seed, index| {
            let mut rng = SplitMix::for_session(seed, index);
            (0..10_000).map(|_| pick(Op::Mixed, &mut rng)).collect::<Vec<_>>()
        };
        let a = draw(7, 3);
        assert_eq!(a, draw(7, 3), "same seed and session, same sequence");
        assert_ne!(a, draw(7, 4), "sessions differ");
        assert_ne!(a, draw(8, 3), "seeds differ");
        let share = |r: Req| a.iter().filter(|&&x| x == r).count() as f64 / a.len() as f64 * 100.0;
        assert!((share(Req::Get) - MIX_GET_PCT as f64).abs() < 2.0, "get {}", share(Req::Get));
        assert!((share(Req::Set) - MIX_SET_PCT as f64).abs() < 2.0, "set {}", share(Req::Set));
        assert!((share(Req::Create) - (100 - MIX_GET_PCT - MIX_SET_PCT) as f64).abs() < 1.5);
        let mut rng = SplitMix::for_session(7, 3);
        assert!((0..100).all(|_| pick(Op::Set, &mut rng) == Req::Set));
    }

    #[test]
    fn mode_depth_and_labels() {
        assert_eq!(Mode::Sync.depth(), 1);
        assert_eq!(Mode::Pipelined(16).depth(), 16);
        assert_eq!(Mode::Pipelined(0).depth(), 1);
        assert_eq!(Mode::Pipelined(16).label(), "pipelined k=16");
        assert_eq!(Op::ALL.map(Op::name), ["get", "set", "create", "mixed"]);
    }

    #[test]
    fn ops_per_sec_counts_successes_only() {
        let s = PhaseStats {
            ops: 500,
            errors: 7,
            first_error: None,
            elapsed: Duration::from_millis(250),
            hist: new_hist(),
        };
        assert!((s.ops_per_sec() - 2000.0).abs() < 1e-6);
    }
}
