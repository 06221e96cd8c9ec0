//! Four-letter words: ZooKeeper's text admin commands on the client port (`ruok`, `srvr`,
//! `mntr`, ...), formatted byte for byte as ZooKeeper 3.8 prints them.
//!
//! Formatting is pure: the shell fills a [`ServerReport`] snapshot and calls the function
//! for the word; each function's doc names the fields it reads, so the shell can leave the
//! rest empty. [`respond`] applies the whitelist and the "not serving" rule first.
//! The only impure helpers, [`EnvReport::gather`] and [`file_descriptor_counts`], read the
//! process environment and `/proc` for `envi` and `mntr`.
//!
//! Protocol facts: reference section 11 and ZooKeeper's `server/command/*`,
//! `ServerStats.toString`, `ServerCnxn.dumpConnectionInfo`, `ExpiryQueue.dump`,
//! `WatchManager`, `Environment.list` and the metrics provider's gauge table.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

/// The ZooKeeper release herd answers as. Clients parse the leading `x.y.z` of the
/// version string (kazoo's `server_version` reads it from `envi`), so herd's own
/// version follows it where ZooKeeper puts its git commit.
pub const ZOOKEEPER_VERSION: &str = "3.8.6";

/// herd's own version, as built.
pub const HERD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a word prints when the server is not serving (no quorum, still loading).
pub const ZK_NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The telnet "interrupt process" bytes ZooKeeper treats as a close request, not a frame.
pub const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

/// ZooKeeper's `Version.getFullVersion()` with herd in the commit slot:
/// `3.8.6-herd-0.1.0, built on <date>`. The date comes from the build environment
/// variable `HERD_BUILD_DATE` (ZooKeeper's form, `2024-02-12 22:16 UTC`) when set.
pub fn full_version() -> String {
    format!(
        "{ZOOKEEPER_VERSION}-herd-{HERD_VERSION}, built on {}",
        option_env!("HERD_BUILD_DATE").unwrap_or("unknown date")
    )
}

/// The four-letter words, as the core's codec recognises them on a new connection.
pub use proto_core::jute::FourLetterWord;

/// Whether `word` may run under `whitelist` (config `4lw.commands.whitelist`): `*` allows
/// every word, and `srvr` is always allowed (zkServer.sh status depends on it).
pub fn whitelisted(word: &str, whitelist: &[String]) -> bool {
    word == "srvr" || whitelist.iter().any(|w| w == "*" || w == word)
}

/// The line a refused word gets before the connection closes.
pub fn not_whitelisted(word: &str) -> String {
    format!("{word} is not executed because it is not in the whitelist.\n")
}

/// The server's state as `Mode:` and `zk_server_state` print it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerMode {
    /// A single server.
    #[default]
    Standalone,
    /// Ensemble leader.
    Leader,
    /// Ensemble follower.
    Follower,
    /// Ensemble observer.
    Observer,
    /// Partitioned from its quorum, serving reads only.
    ReadOnly,
}

impl fmt::Display for ServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerMode::Standalone => "standalone",
            ServerMode::Leader => "leader",
            ServerMode::Follower => "follower",
            ServerMode::Observer => "observer",
            ServerMode::ReadOnly => "read-only",
        })
    }
}

/// One client connection, as `cons` and `stat` list it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnReport {
    /// The client's address.
    pub remote: SocketAddr,
    /// Selector interest (ZooKeeper's NIO bits: 1 = read, 4 = write; 0 while closing).
    pub interest_ops: u32,
    /// Requests received but not yet answered.
    pub queued: u64,
    /// Packets received.
    pub recved: u64,
    /// Packets sent.
    pub sent: u64,
    /// Session id, 0 before the handshake completes (then only the brief form prints).
    pub session_id: u64,
    /// Name of the last operation answered ([`last_op_name`]); `NA` before any.
    pub last_op: String,
    /// When the connection was accepted, in ms since the Unix epoch.
    pub established_ms: u64,
    /// Negotiated session timeout in ms.
    pub timeout_ms: u32,
    /// Last client xid answered; negative before any (then `lcxid` is omitted).
    pub last_cxid: i64,
    /// Last zxid sent in a reply; -1 before any.
    pub last_zxid: i64,
    /// When the last reply was sent, in the server's monotonic ms.
    pub last_response_ms: u64,
    /// Latency of the last request in ms.
    pub last_latency_ms: u64,
    /// Smallest request latency in ms (0 before any).
    pub min_latency_ms: u64,
    /// Mean request latency in whole ms.
    pub avg_latency_ms: u64,
    /// Largest request latency in ms.
    pub max_latency_ms: u64,
}

impl ConnReport {
    /// A connection that has sent nothing but its first bytes (such as the 4lw one).
    pub fn new(remote: SocketAddr) -> ConnReport {
        ConnReport {
            remote,
            interest_ops: 0,
            queued: 0,
            recved: 0,
            sent: 0,
            session_id: 0,
            last_op: "NA".to_string(),
            established_ms: 0,
            timeout_ms: 0,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: 0,
            avg_latency_ms: 0,
            max_latency_ms: 0,
        }
    }
}

/// Counts for `wchs` (data watches only, as ZooKeeper counts them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSummary {
    /// Connections holding at least one data watch.
    pub connections: u64,
    /// Paths with at least one data watch.
    pub paths: u64,
    /// Data watches in total.
    pub total: u64,
}

/// One expiry bucket: everything in it expires at the same instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpirySet<T> {
    /// The bucket's instant, in ms since the Unix epoch.
    pub expire_at_ms: u64,
    /// Its members.
    pub members: Vec<T>,
}

/// An expiry queue's contents, as `dump` prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryDump<T> {
    /// Buckets in ascending time (empty buckets print too).
    pub sets: Vec<ExpirySet<T>>,
    /// Elements tracked by the queue.
    pub total: u64,
}

impl<T> Default for ExpiryDump<T> {
    fn default() -> Self {
        ExpiryDump { sets: Vec::new(), total: 0 }
    }
}

/// The session tracker part of `dump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionDump {
    /// Standalone and leader: the session expiry queue.
    Expiry(ExpiryDump<u64>),
    /// Follower and observer: the global sessions it knows, with their timeouts in ms.
    Learner(Vec<(u64, u32)>),
}

impl Default for SessionDump {
    fn default() -> Self {
        SessionDump::Expiry(ExpiryDump::default())
    }
}

/// A connection in the connection expiry queue of `dump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRef {
    /// The client's address.
    pub remote: SocketAddr,
    /// Its session id, 0 before the handshake.
    pub session_id: u64,
}

/// Gauges of `mntr` every server has.
#[derive(Clone, Debug, PartialEq)]
pub struct Gauges {
    /// ms since the server started.
    pub uptime_ms: u64,
    /// Data and child watches (`zk_watch_count`; unlike `wchs`, child watches count).
    pub watch_count: u64,
    /// Ephemeral znodes.
    pub ephemerals_count: u64,
    /// Bytes of paths and data in the tree.
    pub approximate_data_size: u64,
    /// Sessions in the replicated session table.
    pub global_sessions: u64,
    /// Sessions local to this server.
    pub local_sessions: u64,
    /// Open file descriptors, when the OS tells.
    pub open_fds: Option<u64>,
    /// File descriptor limit, when the OS tells.
    pub max_fds: Option<u64>,
    /// Probability of dropping a connection under load (herd: 0.0).
    pub connection_drop_probability: f64,
    /// Size of the last reply in bytes (-1 before any).
    pub last_client_response_size: i64,
    /// Smallest reply in bytes (-1 before any).
    pub min_client_response_size: i64,
    /// Largest reply in bytes (-1 before any).
    pub max_client_response_size: i64,
    /// TLS handshakes in progress (herd: 0).
    pub outstanding_tls_handshake: u64,
    /// Failed authentications.
    pub auth_failed_count: u64,
    /// Non-TLS connections from other hosts.
    pub non_mtls_remote_conn_count: u64,
    /// Non-TLS connections from this host.
    pub non_mtls_local_conn_count: u64,
}

impl Default for Gauges {
    fn default() -> Self {
        Gauges {
            uptime_ms: 0,
            watch_count: 0,
            ephemerals_count: 0,
            approximate_data_size: 0,
            global_sessions: 0,
            local_sessions: 0,
            open_fds: None,
            max_fds: None,
            connection_drop_probability: 0.0,
            last_client_response_size: -1,
            min_client_response_size: -1,
            max_client_response_size: -1,
            outstanding_tls_handshake: 0,
            auth_failed_count: 0,
            non_mtls_remote_conn_count: 0,
            non_mtls_local_conn_count: 0,
        }
    }
}

/// Ensemble facts of a leader, follower or observer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumReport {
    /// `zk_peer_state`, e.g. `following - broadcast`.
    pub peer_state: String,
    /// Voting members.
    pub quorum_size: u64,
    /// Observers synced to this server; `None` when it serves none as a learner master
    /// (ZooKeeper then omits the gauge).
    pub synced_observers: Option<u64>,
    /// Observer only: the server it observes (`zk_observer_master_id`).
    pub observer_master_id: Option<u64>,
    /// Leader only.
    pub leader: Option<LeaderReport>,
}

/// Leader-only gauges and the `Proposal sizes` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderReport {
    /// Connected learners.
    pub learners: u64,
    /// Followers in broadcast.
    pub synced_followers: u64,
    /// Non-voting followers in broadcast.
    pub synced_non_voting_followers: u64,
    /// Sync requests waiting for a commit.
    pub pending_syncs: u64,
    /// ms since this server became leader.
    pub leader_uptime_ms: u64,
    /// Size of the last proposal in bytes (-1 before any).
    pub last_proposal_size: i64,
    /// Smallest proposal (-1 before any).
    pub min_proposal_size: i64,
    /// Largest proposal (-1 before any).
    pub max_proposal_size: i64,
}

impl Default for LeaderReport {
    fn default() -> Self {
        LeaderReport {
            learners: 0,
            synced_followers: 0,
            synced_non_voting_followers: 0,
            pending_syncs: 0,
            leader_uptime_ms: 0,
            last_proposal_size: -1,
            min_proposal_size: -1,
            max_proposal_size: -1,
        }
    }
}

/// A value `mntr` prints: integers as integers, other numbers as Java doubles.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// An integer.
    Int(i64),
    /// A floating value, printed as Java's `Double.toString`.
    Double(f64),
    /// Text.
    Text(String),
}

impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricValue::Int(n) => write!(f, "{n}"),
            MetricValue::Double(x) => f.write_str(&java_double(*x)),
            MetricValue::Text(s) => f.write_str(s),
        }
    }
}

/// Facts `envi` prints under ZooKeeper's keys. The `java.*` keys carry herd's nearest
/// equivalents: the runtime is herd itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvReport {
    /// `host.name`.
    pub host_name: String,
    /// `java.version`: herd's version.
    pub runtime_version: String,
    /// `java.vendor`: `herd`.
    pub runtime_vendor: String,
    /// `java.home`: the herd executable.
    pub runtime_home: String,
    /// `java.class.path`: `<NA>`.
    pub class_path: String,
    /// `java.library.path`: `LD_LIBRARY_PATH`.
    pub library_path: String,
    /// `java.io.tmpdir`.
    pub tmp_dir: String,
    /// `java.compiler`: `<NA>`.
    pub compiler: String,
    /// `os.name`, in Java's spelling (`Linux`).
    pub os_name: String,
    /// `os.arch`, in Java's spelling (`amd64`).
    pub os_arch: String,
    /// `os.version`: the kernel release.
    pub os_version: String,
    /// `user.name`.
    pub user_name: String,
    /// `user.home`.
    pub user_home: String,
    /// `user.dir`: the working directory.
    pub user_dir: String,
    /// `os.memory.free` in MiB: memory the OS reports available.
    pub memory_free_mb: u64,
    /// `os.memory.max` in MiB: the machine's memory.
    pub memory_max_mb: u64,
    /// `os.memory.total` in MiB: herd's resident memory.
    pub memory_total_mb: u64,
}

/// What ZooKeeper prints for an unknown environment value.
const NA: &str = "<NA>";

impl EnvReport {
    /// Reads the facts from the process environment and `/proc`; `<NA>` where unknown.
    pub fn gather() -> EnvReport {
        let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let meminfo_kib = |field: &str| -> Option<u64> {
            read("/proc/meminfo")?
                .lines()
                .find_map(|l| l.strip_prefix(field))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        let rss_kib = read("/proc/self/status").and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        });
        let os_name = match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "Mac OS X",
            "windows" => "Windows",
            "freebsd" => "FreeBSD",
            other => other,
        };
        let os_arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "x86",
            other => other,
        };
        EnvReport {
            host_name: read("/proc/sys/kernel/hostname").or_else(|| var("HOSTNAME")).unwrap_or_else(|| NA.into()),
            runtime_version: HERD_VERSION.to_string(),
            runtime_vendor: "herd".to_string(),
            runtime_home: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| NA.into()),
            class_path: NA.to_string(),
            library_path: var("LD_LIBRARY_PATH").unwrap_or_else(|| NA.into()),
            tmp_dir: std::env::temp_dir().display().to_string(),
            compiler: NA.to_string(),
            os_name: os_name.to_string(),
            os_arch: os_arch.to_string(),
            os_version: read("/proc/sys/kernel/osrelease").unwrap_or_else(|| NA.into()),
            user_name: var("USER").or_else(|| var("LOGNAME")).unwrap_or_else(|| NA.into()),
            user_home: var("HOME").unwrap_or_else(|| NA.into()),
            user_dir: std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| NA.into()),
            memory_free_mb: meminfo_kib("MemAvailable:").unwrap_or(0) / 1024,
            memory_max_mb: meminfo_kib("MemTotal:").unwrap_or(0) / 1024,
            memory_total_mb: rss_kib.unwrap_or(0) / 1024,
        }
    }
}

/// Open file descriptors and the soft limit, from `/proc/self/fd` and `/proc/self/limits`.
pub fn file_descriptor_counts() -> Option<(u64, u64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let max = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?.split_whitespace().next()?.parse().ok()?;
    Some((open, max))
}

/// Everything the words print, gathered by the shell at the moment a word arrives.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerReport {
    /// [`full_version`] (a field so tests can pin it).
    pub version: String,
    /// False while the server cannot serve (then most words print [`ZK_NOT_SERVING`]).
    pub serving: bool,
    /// Standalone, leader, ...
    pub mode: ServerMode,
    /// Smallest request latency in ms.
    pub latency_min_ms: u64,
    /// Mean request latency in ms, rounded as ZooKeeper does ([`average_latency`]).
    pub latency_avg_ms: f64,
    /// Largest request latency in ms.
    pub latency_max_ms: u64,
    /// Packets received from clients.
    pub packets_received: u64,
    /// Packets sent to clients.
    pub packets_sent: u64,
    /// Open client connections, this one included.
    pub alive_connections: u64,
    /// Requests in the pipeline.
    pub outstanding_requests: u64,
    /// Last applied zxid.
    pub last_zxid: u64,
    /// Znodes in the tree.
    pub node_count: u64,
    /// Client connections, for `stat` and `cons`.
    pub connections: Vec<ConnReport>,
    /// For `wchs`.
    pub watch_summary: WatchSummary,
    /// For `wchc`: each session with its data-watched paths.
    pub watches_by_session: Vec<(u64, Vec<String>)>,
    /// For `wchp`: each data-watched path with its sessions.
    pub watches_by_path: Vec<(String, Vec<u64>)>,
    /// For `dump`: the session tracker.
    pub sessions: SessionDump,
    /// For `dump`: each session owning ephemerals, with their paths.
    pub ephemerals: Vec<(u64, Vec<String>)>,
    /// For `dump`: the connection expiry queue; `None` prints only the heading.
    pub connection_expiry: Option<ExpiryDump<ConnRef>>,
    /// For `mntr`.
    pub gauges: Gauges,
    /// For `mntr` and `srvr` of ensemble members.
    pub quorum: Option<QuorumReport>,
    /// Extra `mntr` lines after ZooKeeper's (keys without the `zk_` prefix).
    pub mntr_extras: Vec<(String, MetricValue)>,
    /// For `conf`: [`crate::config::Config::to_conf_lines`].
    pub conf: String,
    /// For `envi`.
    pub environment: EnvReport,
    /// For `dirs`: bytes under the snapshot directory.
    pub data_dir_size: u64,
    /// For `dirs`: bytes under the log directory.
    pub log_dir_size: u64,
    /// For `gtmk` and `stmk`: the trace mask.
    pub trace_mask: i64,
    /// For `hash`: (zxid, tree digest) pairs.
    pub digests: Vec<(u64, u64)>,
}

/// ZooKeeper's mean latency: `total / count` rounded half-up to 4 decimals, 0 when empty.
pub fn average_latency(total_ms: u64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let scaled = u128::from(total_ms) * 10_000;
    let (q, r) = (scaled / u128::from(count), scaled % u128::from(count));
    let rounded = if 2 * r >= u128::from(count) { q + 1 } else { q };
    rounded as f64 / 10_000.0
}

/// The `lop=` name ZooKeeper's FinalRequestProcessor records for an opcode.
pub fn last_op_name(opcode: i32) -> &'static str {
    match opcode {
        11 => "PING",
        -10 => "SESS",
        14 => "MULT",
        22 => "MLTR",
        1 | 15 | 19 | 21 => "CREA",
        2 | 20 => "DELE",
        5 => "SETD",
        16 => "RECO",
        7 => "SETA",
        -11 => "CLOS",
        9 => "SYNC",
        13 => "CHEC",
        3 => "EXIS",
        4 => "GETD",
        101 => "SETW",
        105 => "STW2",
        106 => "ADDW",
        6 => "GETA",
        8 | 12 => "GETC",
        104 => "GETACN",
        17 => "CHKW",
        18 => "REMW",
        107 => "HOMI",
        103 => "GETE",
        _ => "NA",
    }
}

/// The answer to `word`: the whitelist line if refused, else the word's output.
pub fn respond(word: FourLetterWord, r: &ServerReport, whitelist: &[String]) -> String {
    if !whitelisted(word.as_str(), whitelist) {
        return not_whitelisted(word.as_str());
    }
    match word {
        FourLetterWord::Conf => conf(r),
        FourLetterWord::Cons => cons(r),
        FourLetterWord::Crst => crst(r),
        FourLetterWord::Dirs => dirs(r),
        FourLetterWord::Dump => dump(r),
        FourLetterWord::Envi => envi(r),
        FourLetterWord::Gtmk | FourLetterWord::Stmk => gtmk(r),
        FourLetterWord::Ruok => ruok(),
        FourLetterWord::Srvr => srvr(r),
        FourLetterWord::Srst => srst(r),
        FourLetterWord::Stat => stat(r),
        FourLetterWord::Wchc => wchc(r),
        FourLetterWord::Wchp => wchp(r),
        FourLetterWord::Wchs => wchs(r),
        FourLetterWord::Mntr => mntr(r),
        FourLetterWord::Isro => isro(r),
        FourLetterWord::Hash => hash(r),
    }
}

fn not_serving() -> String {
    format!("{ZK_NOT_SERVING}\n")
}

/// `ruok`: `imok`, no newline, whatever the state.
pub fn ruok() -> String {
    "imok".to_string()
}

/// `isro`: `rw`, `ro` when read-only, `null` when not serving; no newline.
/// Reads `serving`, `mode`.
pub fn isro(r: &ServerReport) -> String {
    match (r.serving, r.mode) {
        (false, _) => "null",
        (true, ServerMode::ReadOnly) => "ro",
        (true, _) => "rw",
    }
    .to_string()
}

/// `srvr`. Reads `version`, latency, packets, `alive_connections`, `outstanding_requests`,
/// `last_zxid`, `mode`, `node_count`, `quorum.leader` (proposal sizes).
pub fn srvr(r: &ServerReport) -> String {
    server_stats(r, false)
}

/// `stat`: `srvr` plus the brief connection list. Reads what `srvr` does and `connections`.
pub fn stat(r: &ServerReport) -> String {
    server_stats(r, true)
}

fn server_stats(r: &ServerReport, with_clients: bool) -> String {
    if !r.serving {
        return not_serving();
    }
    let mut o = String::new();
    let _ = writeln!(o, "Zookeeper version: {}", r.version);
    if r.mode == ServerMode::ReadOnly {
        o.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        o.push_str("Clients:\n");
        for c in &r.connections {
            connection_info(&mut o, c, true);
            o.push('\n');
        }
        o.push('\n');
    }
    let _ =
        writeln!(o, "Latency min/avg/max: {}/{}/{}", r.latency_min_ms, java_double(r.latency_avg_ms), r.latency_max_ms);
    let _ = writeln!(o, "Received: {}", r.packets_received);
    let _ = writeln!(o, "Sent: {}", r.packets_sent);
    let _ = writeln!(o, "Connections: {}", r.alive_connections);
    let _ = writeln!(o, "Outstanding: {}", r.outstanding_requests);
    let _ = writeln!(o, "Zxid: 0x{:x}", r.last_zxid);
    let _ = writeln!(o, "Mode: {}", r.mode);
    let _ = writeln!(o, "Node count: {}", r.node_count);
    if r.mode == ServerMode::Leader {
        if let Some(l) = r.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
            let _ = writeln!(
                o,
                "Proposal sizes last/min/max: {}/{}/{}",
                l.last_proposal_size, l.min_proposal_size, l.max_proposal_size
            );
        }
    }
    o
}

/// `ServerCnxn.dumpConnectionInfo`: ` /addr[ops](queued=..,recved=..,sent=..[,sid=..])`.
fn connection_info(o: &mut String, c: &ConnReport, brief: bool) {
    let ops = if c.interest_ops == 0 { "0".to_string() } else { format!("{:x}", c.interest_ops) };
    let _ =
        write!(o, " {}[{}](queued={},recved={},sent={}", java_socket_addr(&c.remote), ops, c.queued, c.recved, c.sent);
    if !brief && c.session_id != 0 {
        let _ = write!(o, ",sid=0x{:x},lop={},est={},to={}", c.session_id, c.last_op, c.established_ms, c.timeout_ms);
        if c.last_cxid >= 0 {
            let _ = write!(o, ",lcxid=0x{:x}", c.last_cxid);
        }
        let _ = write!(
            o,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid as u64,
            c.last_response_ms,
            c.last_latency_ms,
            c.min_latency_ms,
            c.avg_latency_ms,
            c.max_latency_ms
        );
    }
    o.push(')');
}

/// `cons`: every connection in full, then a blank line. Reads `connections`.
pub fn cons(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    let mut o = String::new();
    for c in &r.connections {
        connection_info(&mut o, c, false);
        o.push('\n');
    }
    o.push('\n');
    o
}

/// `conf`. Reads `conf`.
pub fn conf(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    r.conf.clone()
}

/// `envi`: printed even when not serving. Reads `version`, `environment`.
pub fn envi(r: &ServerReport) -> String {
    let e = &r.environment;
    let mut o = String::from("Environment:\n");
    let entries: [(&str, &dyn fmt::Display); 18] = [
        ("zookeeper.version", &r.version),
        ("host.name", &e.host_name),
        ("java.version", &e.runtime_version),
        ("java.vendor", &e.runtime_vendor),
        ("java.home", &e.runtime_home),
        ("java.class.path", &e.class_path),
        ("java.library.path", &e.library_path),
        ("java.io.tmpdir", &e.tmp_dir),
        ("java.compiler", &e.compiler),
        ("os.name", &e.os_name),
        ("os.arch", &e.os_arch),
        ("os.version", &e.os_version),
        ("user.name", &e.user_name),
        ("user.home", &e.user_home),
        ("user.dir", &e.user_dir),
        ("os.memory.free", &MiB(e.memory_free_mb)),
        ("os.memory.max", &MiB(e.memory_max_mb)),
        ("os.memory.total", &MiB(e.memory_total_mb)),
    ];
    for (k, v) in entries {
        let _ = writeln!(o, "{k}={v}");
    }
    o
}

/// A size printed as ZooKeeper prints memory: `<n>MB`.
struct MiB(u64);

impl fmt::Display for MiB {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}MB", self.0)
    }
}

/// `wchs`. Reads `watch_summary`.
pub fn wchs(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    let s = &r.watch_summary;
    format!("{} connections watching {} paths\nTotal watches:{}\n", s.connections, s.paths, s.total)
}

/// `wchc`: each session, then its paths tab-indented. Reads `watches_by_session`.
pub fn wchc(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    let mut o = String::new();
    for (session, paths) in &r.watches_by_session {
        let _ = writeln!(o, "0x{session:x}");
        for p in paths {
            let _ = writeln!(o, "\t{p}");
        }
    }
    o.push('\n');
    o
}

/// `wchp`: each path, then its sessions tab-indented. Reads `watches_by_path`.
pub fn wchp(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    let mut o = String::new();
    for (path, sessions) in &r.watches_by_path {
        let _ = writeln!(o, "{path}");
        for s in sessions {
            let _ = writeln!(o, "\t0x{s:x}");
        }
    }
    o.push('\n');
    o
}

/// `ExpiryQueue.dump` after its caller's prefix word (`Session ` / `Connections `).
fn expiry_dump<T>(o: &mut String, d: &ExpiryDump<T>, member: impl Fn(&T) -> String) {
    let _ = writeln!(o, "Sets ({})/({}):", d.sets.len(), d.total);
    for set in &d.sets {
        let _ = writeln!(o, "{} expire at {}:", set.members.len(), java_date(set.expire_at_ms));
        for m in &set.members {
            let _ = writeln!(o, "\t{}", member(m));
        }
    }
}

/// `dump`. Reads `sessions`, `ephemerals`, `connection_expiry`.
pub fn dump(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    let mut o = String::from("SessionTracker dump:\n");
    match &r.sessions {
        SessionDump::Expiry(d) => {
            o.push_str("Session ");
            expiry_dump(&mut o, d, |s| format!("0x{s:x}"));
        }
        SessionDump::Learner(sessions) => {
            let _ = writeln!(o, "Global Sessions({}):", sessions.len());
            for (id, timeout) in sessions {
                let _ = writeln!(o, "0x{id:x}\t{timeout}ms");
            }
        }
    }
    o.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(o, "Sessions with Ephemerals ({}):", r.ephemerals.len());
    for (session, paths) in &r.ephemerals {
        let _ = writeln!(o, "0x{session:x}:");
        for p in paths {
            let _ = writeln!(o, "\t{p}");
        }
    }
    o.push_str("Connections dump:\n");
    if let Some(d) = &r.connection_expiry {
        o.push_str("Connections ");
        expiry_dump(&mut o, d, |c| format!("ip: {} sessionId: 0x{:x}", java_socket_addr(&c.remote), c.session_id));
    }
    o
}

/// Gauge names in the order ZooKeeper 3.8's metrics provider prints them (its
/// ConcurrentHashMap iteration order for the leader's full set; every other role's
/// subset keeps the same relative order, as captured from real 3.8 servers).
const GAUGE_ORDER: [&str; 34] = [
    "ephemerals_count",
    "num_alive_connections",
    "avg_latency",
    "min_proposal_size",
    "outstanding_requests",
    "znode_count",
    "global_sessions",
    "non_mtls_remote_conn_count",
    "last_client_response_size",
    "packets_sent",
    "packets_received",
    "max_proposal_size",
    "max_client_response_size",
    "synced_followers",
    "connection_drop_probability",
    "watch_count",
    "synced_non_voting_followers",
    "synced_observers",
    "auth_failed_count",
    "min_latency",
    "max_file_descriptor_count",
    "approximate_data_size",
    "open_file_descriptor_count",
    "last_proposal_size",
    "pending_syncs",
    "leader_uptime",
    "local_sessions",
    "uptime",
    "max_latency",
    "outstanding_tls_handshake",
    "learners",
    "min_client_response_size",
    "non_mtls_local_conn_count",
    "quorum_size",
];

/// `mntr`: `zk_<key>\t<value>` lines. Reads `version`, `mode`, latency, packets,
/// `alive_connections`, `outstanding_requests`, `node_count`, `gauges`, `quorum`,
/// `mntr_extras`.
pub fn mntr(r: &ServerReport) -> String {
    use MetricValue::{Double, Int, Text};
    if !r.serving {
        return not_serving();
    }
    let int = |n: u64| Int(i64::try_from(n).unwrap_or(i64::MAX));
    let g = &r.gauges;
    let mut gauges: Vec<(&str, MetricValue)> = vec![
        ("avg_latency", Double(r.latency_avg_ms)),
        ("max_latency", int(r.latency_max_ms)),
        ("min_latency", int(r.latency_min_ms)),
        ("packets_received", int(r.packets_received)),
        ("packets_sent", int(r.packets_sent)),
        ("num_alive_connections", int(r.alive_connections)),
        ("outstanding_requests", int(r.outstanding_requests)),
        ("uptime", int(g.uptime_ms)),
        ("znode_count", int(r.node_count)),
        ("watch_count", int(g.watch_count)),
        ("ephemerals_count", int(g.ephemerals_count)),
        ("approximate_data_size", int(g.approximate_data_size)),
        ("global_sessions", int(g.global_sessions)),
        ("local_sessions", int(g.local_sessions)),
        ("connection_drop_probability", Double(g.connection_drop_probability)),
        ("last_client_response_size", Int(g.last_client_response_size)),
        ("max_client_response_size", Int(g.max_client_response_size)),
        ("min_client_response_size", Int(g.min_client_response_size)),
        ("outstanding_tls_handshake", int(g.outstanding_tls_handshake)),
        ("auth_failed_count", int(g.auth_failed_count)),
        ("non_mtls_remote_conn_count", int(g.non_mtls_remote_conn_count)),
        ("non_mtls_local_conn_count", int(g.non_mtls_local_conn_count)),
    ];
    // A gauge whose value is unknown is skipped, as ZooKeeper skips null gauges.
    if let Some(n) = g.open_fds {
        gauges.push(("open_file_descriptor_count", int(n)));
    }
    if let Some(n) = g.max_fds {
        gauges.push(("max_file_descriptor_count", int(n)));
    }
    if let Some(q) = &r.quorum {
        gauges.push(("quorum_size", int(q.quorum_size)));
        if let Some(n) = q.synced_observers {
            gauges.push(("synced_observers", int(n)));
        }
        if let Some(l) = &q.leader {
            gauges.extend([
                ("learners", int(l.learners)),
                ("synced_followers", int(l.synced_followers)),
                ("synced_non_voting_followers", int(l.synced_non_voting_followers)),
                ("pending_syncs", int(l.pending_syncs)),
                ("leader_uptime", int(l.leader_uptime_ms)),
                ("last_proposal_size", Int(l.last_proposal_size)),
                ("max_proposal_size", Int(l.max_proposal_size)),
                ("min_proposal_size", Int(l.min_proposal_size)),
            ]);
        }
    }
    gauges.sort_by_key(|(k, _)| GAUGE_ORDER.iter().position(|o| o == k));

    let mut o = String::new();
    let mut line = |k: &str, v: &MetricValue| {
        let _ = writeln!(o, "zk_{k}\t{v}");
    };
    line("version", &Text(r.version.clone()));
    line("server_state", &Text(r.mode.to_string()));
    if let Some(q) = &r.quorum {
        line("peer_state", &Text(q.peer_state.clone()));
        if let Some(id) = q.observer_master_id {
            line("observer_master_id", &int(id));
        }
    }
    for (k, v) in &gauges {
        line(k, v);
    }
    for (k, v) in &r.mntr_extras {
        line(k, v);
    }
    o
}

/// `dirs`. Reads `data_dir_size`, `log_dir_size`.
pub fn dirs(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    format!("datadir_size: {}\nlogdir_size: {}\n", r.data_dir_size, r.log_dir_size)
}

/// `srst`: the confirmation (the shell resets the server statistics).
pub fn srst(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    "Server stats reset.\n".to_string()
}

/// `crst`: the confirmation (the shell resets every connection's statistics).
pub fn crst(r: &ServerReport) -> String {
    if !r.serving {
        return not_serving();
    }
    "Connection stats reset.\n".to_string()
}

/// `gtmk` and `stmk`: the trace mask in decimal, no newline. Reads `trace_mask`.
pub fn gtmk(r: &ServerReport) -> String {
    r.trace_mask.to_string()
}

/// `hash`: `<zxid hex>: <digest>` lines (ZooKeeper prints the not-serving text without
/// a newline here). Reads `digests`.
pub fn hash(r: &ServerReport) -> String {
    if !r.serving {
        return ZK_NOT_SERVING.to_string();
    }
    let mut o = String::new();
    for (zxid, digest) in &r.digests {
        let _ = writeln!(o, "{zxid:x}: {digest}");
    }
    o
}

/// Java's `Double.toString`: plain decimal with at least one fractional digit for
/// 1e-3 <= |x| < 1e7, otherwise `d.dddE<exp>`; shortest round-tripping digits.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        return if s.contains('.') { s } else { s + ".0" };
    }
    let s = format!("{x:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exp}")
}

/// Java's `InetSocketAddress.toString` for an unresolved-name address: `/ip:port`,
/// IPv6 in brackets with every group written out, IPv4-mapped IPv6 as IPv4.
pub fn java_socket_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("/{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => {
            if let Some(v4) = v6.ip().to_ipv4_mapped() {
                return format!("/{}:{}", v4, v6.port());
            }
            let groups: Vec<String> = v6.ip().segments().iter().map(|g| format!("{g:x}")).collect();
            let scope = if v6.scope_id() != 0 { format!("%{}", v6.scope_id()) } else { String::new() };
            format!("/[{}{}]:{}", groups.join(":"), scope, v6.port())
        }
    }
}

/// Java's `Date.toString` in UTC: `Fri Nov 27 17:52:06 UTC 2026`.
pub fn java_date(unix_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real ZooKeeper 3.8.0 outputs, captured from a standalone server with two zkCli
    /// sessions (one owning /a/eph1 and /eph2 with watches on /a and /eph2, one watching
    /// /a), and from a 3-server ensemble. The version string is the Debian build's.
    const ZK_VERSION: &str = "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC";

    const ZK_SRVR: &str = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Latency min/avg/max: 0/2.7/14\nReceived: 40\nSent: 45\nConnections: 3\nOutstanding: 0\n\
        Zxid: 0x5\nMode: standalone\nNode count: 8\n";

    const ZK_STAT: &str = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Clients:\n /127.0.0.1:33774[1](queued=0,recved=8,sent=8)\n \
        /127.0.0.1:33778[1](queued=0,recved=2,sent=2)\n \
        /127.0.0.1:40150[0](queued=0,recved=1,sent=0)\n\n\
        Latency min/avg/max: 0/2.7/14\nReceived: 41\nSent: 46\nConnections: 3\nOutstanding: 0\n\
        Zxid: 0x5\nMode: standalone\nNode count: 8\n";

    const ZK_SRVR_LEADER: &str = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Latency min/avg/max: 0/0.0/0\nReceived: 2\nSent: 1\nConnections: 1\nOutstanding: 0\n\
        Zxid: 0x100000000\nMode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n";

    const ZK_CONS: &str = " /127.0.0.1:33774[1](queued=0,recved=8,sent=8,sid=0x1000004d35c0000,lop=ADDW,\
        est=1795801895412,to=30000,lcxid=0x7,lzxid=0x5,lresp=331387,llat=0,minlat=0,avglat=3,maxlat=14)\n \
        /127.0.0.1:40176[0](queued=0,recved=1,sent=0)\n \
        /127.0.0.1:33778[1](queued=0,recved=2,sent=2,sid=0x1000004d35c0001,lop=GETD,\
        est=1795801895492,to=30000,lcxid=0x1,lzxid=0x5,lresp=331368,llat=0,minlat=0,avglat=0,maxlat=1)\n\n";

    const ZK_WCHS: &str = "2 connections watching 2 paths\nTotal watches:3\n";
    const ZK_WCHS_EMPTY: &str = "0 connections watching 0 paths\nTotal watches:0\n";
    const ZK_WCHC: &str = "0x1000004d35c0000\n\t/eph2\n\t/a\n0x1000004d35c0001\n\t/a\n\n";
    const ZK_WCHP: &str = "/eph2\n\t0x1000004d35c0000\n/a\n\t0x1000004d35c0001\n\t0x1000004d35c0000\n\n";
    const ZK_WCH_EMPTY: &str = "\n";

    const ZK_DUMP: &str = "SessionTracker dump:\nSession Sets (1)/(2):\n\
        2 expire at Fri Nov 27 17:52:06 UTC 2026:\n\t0x1000004d35c0000\n\t0x1000004d35c0001\n\
        ephemeral nodes dump:\nSessions with Ephemerals (1):\n0x1000004d35c0000:\n\t/a/eph1\n\t/eph2\n\
        Connections dump:\nConnections Sets (3)/(3):\n0 expire at Fri Nov 27 17:51:54 UTC 2026:\n\
        1 expire at Fri Nov 27 17:52:04 UTC 2026:\n\tip: /127.0.0.1:40228 sessionId: 0x0\n\
        2 expire at Fri Nov 27 17:52:14 UTC 2026:\n\tip: /127.0.0.1:33774 sessionId: 0x1000004d35c0000\n\
        \tip: /127.0.0.1:33778 sessionId: 0x1000004d35c0001\n";

    /// java.class.path shortened (the real one lists every jar under /usr/share/java).
    const ZK_ENVI: &str = "Environment:\n\
        zookeeper.version=3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        host.name=localhost\njava.version=17.0.15\njava.vendor=Debian\n\
        java.home=/usr/lib/jvm/java-17-openjdk-amd64\n\
        java.class.path=/usr/share/java/zookeeper-3.8.0.jar\n\
        java.library.path=/usr/java/packages/lib:/usr/lib/x86_64-linux-gnu/jni:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/jni:/lib:/usr/lib\n\
        java.io.tmpdir=/tmp\njava.compiler=<NA>\nos.name=Linux\nos.arch=amd64\n\
        os.version=6.18.44-fc-v669\nuser.name=root\nuser.home=/root\nuser.dir=/work/scratch/zk\n\
        os.memory.free=371MB\nos.memory.max=6028MB\nos.memory.total=388MB\n";

    /// mntr's first lines (version, state, gauges); the metrics-provider counters and
    /// summaries that follow in ZooKeeper are herd's `mntr_extras`.
    const ZK_MNTR_STANDALONE: &str = "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        zk_server_state\tstandalone\nzk_ephemerals_count\t2\nzk_num_alive_connections\t3\n\
        zk_avg_latency\t2.7\nzk_outstanding_requests\t0\nzk_znode_count\t8\nzk_global_sessions\t2\n\
        zk_non_mtls_remote_conn_count\t0\nzk_last_client_response_size\t20\nzk_packets_sent\t56\n\
        zk_packets_received\t49\nzk_max_client_response_size\t96\nzk_connection_drop_probability\t0.0\n\
        zk_watch_count\t4\nzk_auth_failed_count\t0\nzk_min_latency\t0\nzk_max_file_descriptor_count\t20000\n\
        zk_approximate_data_size\t65\nzk_open_file_descriptor_count\t268\nzk_local_sessions\t0\n\
        zk_uptime\t24957\nzk_max_latency\t14\nzk_outstanding_tls_handshake\t0\n\
        zk_min_client_response_size\t20\nzk_non_mtls_local_conn_count\t0\n";

    const ZK_MNTR_LEADER: &str = "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        zk_server_state\tleader\nzk_peer_state\tleading - broadcast\nzk_ephemerals_count\t0\n\
        zk_num_alive_connections\t1\nzk_avg_latency\t0.0\nzk_min_proposal_size\t-1\n\
        zk_outstanding_requests\t0\nzk_znode_count\t5\nzk_global_sessions\t0\n\
        zk_non_mtls_remote_conn_count\t0\nzk_last_client_response_size\t-1\nzk_packets_sent\t5\n\
        zk_packets_received\t4\nzk_max_proposal_size\t-1\nzk_max_client_response_size\t-1\n\
        zk_synced_followers\t2\nzk_connection_drop_probability\t0.0\nzk_watch_count\t0\n\
        zk_synced_non_voting_followers\t0\nzk_synced_observers\t0\nzk_auth_failed_count\t0\n\
        zk_min_latency\t0\nzk_max_file_descriptor_count\t20000\nzk_approximate_data_size\t192\n\
        zk_open_file_descriptor_count\t271\nzk_last_proposal_size\t-1\nzk_pending_syncs\t0\n\
        zk_leader_uptime\t15686\nzk_local_sessions\t0\nzk_uptime\t15937\nzk_max_latency\t0\n\
        zk_outstanding_tls_handshake\t0\nzk_learners\t2\nzk_min_client_response_size\t-1\n\
        zk_non_mtls_local_conn_count\t0\nzk_quorum_size\t3\n";

    /// A follower's mntr head: no synced_observers (null gauge), quorum_size last.
    const ZK_MNTR_FOLLOWER: &str = "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        zk_server_state\tfollower\nzk_peer_state\tfollowing - broadcast\nzk_ephemerals_count\t0\n\
        zk_num_alive_connections\t1\nzk_avg_latency\t0.0\nzk_outstanding_requests\t0\n\
        zk_znode_count\t5\nzk_global_sessions\t0\nzk_non_mtls_remote_conn_count\t0\n\
        zk_last_client_response_size\t-1\nzk_packets_sent\t7\nzk_packets_received\t6\n\
        zk_max_client_response_size\t-1\nzk_connection_drop_probability\t0.0\nzk_watch_count\t0\n\
        zk_auth_failed_count\t0\nzk_min_latency\t0\nzk_max_file_descriptor_count\t20000\n\
        zk_approximate_data_size\t192\nzk_open_file_descriptor_count\t269\nzk_local_sessions\t0\n\
        zk_uptime\t15113\nzk_max_latency\t0\nzk_outstanding_tls_handshake\t0\n\
        zk_min_client_response_size\t-1\nzk_non_mtls_local_conn_count\t0\nzk_quorum_size\t3\n";

    const ZK_NOT_WHITELISTED: &str = "mntr is not executed because it is not in the whitelist.\n";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn brief(remote: &str, ops: u32, recved: u64, sent: u64) -> ConnReport {
        ConnReport { interest_ops: ops, recved, sent, ..ConnReport::new(addr(remote)) }
    }

    #[allow(clippy::too_many_arguments)]
    fn session_conn(
        remote: &str,
        recved: u64,
        session_id: u64,
        lop: &str,
        est: u64,
        lcxid: i64,
        lresp: u64,
        lat: (u64, u64, u64),
    ) -> ConnReport {
        ConnReport {
            interest_ops: 1,
            recved,
            sent: recved,
            session_id,
            last_op: lop.into(),
            established_ms: est,
            timeout_ms: 30000,
            last_cxid: lcxid,
            last_zxid: 5,
            last_response_ms: lresp,
            last_latency_ms: 0,
            min_latency_ms: lat.0,
            avg_latency_ms: lat.1,
            max_latency_ms: lat.2,
            ..ConnReport::new(addr(remote))
        }
    }

    /// The standalone server of the captures, as a report.
    fn standalone() -> ServerReport {
        ServerReport {
            version: ZK_VERSION.into(),
            serving: true,
            mode: ServerMode::Standalone,
            latency_min_ms: 0,
            latency_avg_ms: 2.7,
            latency_max_ms: 14,
            packets_received: 40,
            packets_sent: 45,
            alive_connections: 3,
            outstanding_requests: 0,
            last_zxid: 5,
            node_count: 8,
            ..ServerReport::default()
        }
    }

    #[test]
    fn ruok_and_isro() {
        let r = standalone();
        assert_eq!(ruok(), "imok");
        assert_eq!(isro(&r), "rw");
        assert_eq!(isro(&ServerReport { mode: ServerMode::ReadOnly, ..standalone() }), "ro");
        assert_eq!(isro(&ServerReport::default()), "null");
    }

    #[test]
    fn srvr_matches_zookeeper() {
        assert_eq!(srvr(&standalone()), ZK_SRVR);
    }

    #[test]
    fn srvr_of_a_leader_adds_proposal_sizes() {
        let r = ServerReport {
            mode: ServerMode::Leader,
            latency_avg_ms: 0.0,
            latency_max_ms: 0,
            packets_received: 2,
            packets_sent: 1,
            alive_connections: 1,
            last_zxid: 0x1_0000_0000,
            node_count: 5,
            quorum: Some(QuorumReport { leader: Some(LeaderReport::default()), ..Default::default() }),
            ..standalone()
        };
        assert_eq!(srvr(&r), ZK_SRVR_LEADER);
    }

    #[test]
    fn stat_matches_zookeeper() {
        let r = ServerReport {
            packets_received: 41,
            packets_sent: 46,
            connections: vec![
                brief("127.0.0.1:33774", 1, 8, 8),
                brief("127.0.0.1:33778", 1, 2, 2),
                brief("127.0.0.1:40150", 0, 1, 0),
            ],
            ..standalone()
        };
        assert_eq!(stat(&r), ZK_STAT);
    }

    #[test]
    fn read_only_line_follows_version() {
        let out = srvr(&ServerReport { mode: ServerMode::ReadOnly, ..standalone() });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "READ-ONLY mode; serving only read-only clients");
        assert_eq!(lines.last(), Some(&"Node count: 8"));
        assert!(out.contains("Mode: read-only\n"));
    }

    #[test]
    fn cons_matches_zookeeper() {
        let r = ServerReport {
            connections: vec![
                session_conn("127.0.0.1:33774", 8, 0x1000004d35c0000, "ADDW", 1795801895412, 7, 331387, (0, 3, 14)),
                brief("127.0.0.1:40176", 0, 1, 0),
                session_conn("127.0.0.1:33778", 2, 0x1000004d35c0001, "GETD", 1795801895492, 1, 331368, (0, 0, 1)),
            ],
            ..standalone()
        };
        assert_eq!(cons(&r), ZK_CONS);
    }

    #[test]
    fn cons_omits_lcxid_before_any_reply_and_prints_lzxid_as_unsigned() {
        let c = ConnReport { session_id: 0xab, ..ConnReport::new(addr("10.0.0.1:5")) };
        let out = cons(&ServerReport { connections: vec![c], ..standalone() });
        assert_eq!(
            out,
            " /10.0.0.1:5[0](queued=0,recved=0,sent=0,sid=0xab,lop=NA,est=0,to=0,\
             lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)\n\n"
        );
    }

    #[test]
    fn watches_match_zookeeper() {
        let (a, b) = (0x1000004d35c0000u64, 0x1000004d35c0001u64);
        let r = ServerReport {
            watch_summary: WatchSummary { connections: 2, paths: 2, total: 3 },
            watches_by_session: vec![(a, vec!["/eph2".into(), "/a".into()]), (b, vec!["/a".into()])],
            watches_by_path: vec![("/eph2".into(), vec![a]), ("/a".into(), vec![b, a])],
            ..standalone()
        };
        assert_eq!(wchs(&r), ZK_WCHS);
        assert_eq!(wchc(&r), ZK_WCHC);
        assert_eq!(wchp(&r), ZK_WCHP);
        let empty = standalone();
        assert_eq!(wchs(&empty), ZK_WCHS_EMPTY);
        assert_eq!(wchc(&empty), ZK_WCH_EMPTY);
        assert_eq!(wchp(&empty), ZK_WCH_EMPTY);
    }

    #[test]
    fn dump_matches_zookeeper() {
        let (a, b) = (0x1000004d35c0000u64, 0x1000004d35c0001u64);
        let conn = |remote: &str, session_id| ConnRef { remote: addr(remote), session_id };
        let r = ServerReport {
            sessions: SessionDump::Expiry(ExpiryDump {
                sets: vec![ExpirySet { expire_at_ms: 1795801926000, members: vec![a, b] }],
                total: 2,
            }),
            ephemerals: vec![(a, vec!["/a/eph1".into(), "/eph2".into()])],
            connection_expiry: Some(ExpiryDump {
                sets: vec![
                    ExpirySet { expire_at_ms: 1795801914000, members: vec![] },
                    ExpirySet { expire_at_ms: 1795801924000, members: vec![conn("127.0.0.1:40228", 0)] },
                    ExpirySet {
                        expire_at_ms: 1795801934000,
                        members: vec![conn("127.0.0.1:33774", a), conn("127.0.0.1:33778", b)],
                    },
                ],
                total: 3,
            }),
            ..standalone()
        };
        assert_eq!(dump(&r), ZK_DUMP);
    }

    #[test]
    fn dump_of_a_learner_lists_global_sessions() {
        let r = ServerReport {
            mode: ServerMode::Follower,
            sessions: SessionDump::Learner(vec![(0x1a, 30000), (0x2b, 4000)]),
            ..standalone()
        };
        assert_eq!(
            dump(&r),
            "SessionTracker dump:\nGlobal Sessions(2):\n0x1a\t30000ms\n0x2b\t4000ms\n\
             ephemeral nodes dump:\nSessions with Ephemerals (0):\nConnections dump:\n"
        );
    }

    #[test]
    fn envi_matches_zookeeper() {
        let r = ServerReport {
            environment: EnvReport {
                host_name: "localhost".into(),
                runtime_version: "17.0.15".into(),
                runtime_vendor: "Debian".into(),
                runtime_home: "/usr/lib/jvm/java-17-openjdk-amd64".into(),
                class_path: "/usr/share/java/zookeeper-3.8.0.jar".into(),
                library_path: "/usr/java/packages/lib:/usr/lib/x86_64-linux-gnu/jni:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/jni:/lib:/usr/lib".into(),
                tmp_dir: "/tmp".into(),
                compiler: "<NA>".into(),
                os_name: "Linux".into(),
                os_arch: "amd64".into(),
                os_version: "6.18.44-fc-v669".into(),
                user_name: "root".into(),
                user_home: "/root".into(),
                user_dir: "/work/scratch/zk".into(),
                memory_free_mb: 371,
                memory_max_mb: 6028,
                memory_total_mb: 388,
            },
            ..standalone()
        };
        assert_eq!(envi(&r), ZK_ENVI);
        // envi answers even when the server is not serving.
        assert!(envi(&ServerReport { serving: false, ..r }).starts_with("Environment:\n"));
    }

    #[test]
    fn gathered_environment_keeps_zookeeper_keys() {
        let r = ServerReport { version: full_version(), environment: EnvReport::gather(), ..standalone() };
        let out = envi(&r);
        let keys: Vec<&str> = out.lines().skip(1).map(|l| l.split_once('=').unwrap().0).collect();
        let zk_keys: Vec<&str> = ZK_ENVI.lines().skip(1).map(|l| l.split_once('=').unwrap().0).collect();
        assert_eq!(keys, zk_keys);
        // kazoo's server_version: the digits and dots after `zookeeper.version=`.
        let v = out.lines().nth(1).unwrap().strip_prefix("zookeeper.version=").unwrap();
        let numeric: String = v.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        assert_eq!(numeric, ZOOKEEPER_VERSION);
        assert!(v.contains(&format!("-herd-{HERD_VERSION}, built on ")));
        if cfg!(target_os = "linux") {
            assert!(out.contains("\nos.name=Linux\n"));
            assert!(!r.environment.os_version.is_empty() && r.environment.os_version != NA);
        }
    }

    fn standalone_gauges() -> ServerReport {
        ServerReport {
            packets_received: 49,
            packets_sent: 56,
            gauges: Gauges {
                uptime_ms: 24957,
                watch_count: 4,
                ephemerals_count: 2,
                approximate_data_size: 65,
                global_sessions: 2,
                local_sessions: 0,
                open_fds: Some(268),
                max_fds: Some(20000),
                last_client_response_size: 20,
                min_client_response_size: 20,
                max_client_response_size: 96,
                ..Gauges::default()
            },
            ..standalone()
        }
    }

    #[test]
    fn mntr_matches_zookeeper_standalone() {
        assert_eq!(mntr(&standalone_gauges()), ZK_MNTR_STANDALONE);
    }

    #[test]
    fn mntr_extras_follow_and_unknown_gauges_are_skipped() {
        let mut r = standalone_gauges();
        r.gauges.open_fds = None;
        r.gauges.max_fds = None;
        r.mntr_extras = vec![
            ("herd_data_bytes_used".into(), MetricValue::Int(1234)),
            ("herd_data_waste_ratio".into(), MetricValue::Double(0.125)),
        ];
        let out = mntr(&r);
        assert!(!out.contains("file_descriptor"));
        assert!(out.ends_with("zk_herd_data_bytes_used\t1234\nzk_herd_data_waste_ratio\t0.125\n"));
        assert_eq!(out.lines().count(), ZK_MNTR_STANDALONE.lines().count() - 2 + 2);
    }

    #[test]
    fn mntr_matches_zookeeper_leader() {
        let r = ServerReport {
            mode: ServerMode::Leader,
            latency_avg_ms: 0.0,
            latency_max_ms: 0,
            packets_received: 4,
            packets_sent: 5,
            alive_connections: 1,
            node_count: 5,
            gauges: Gauges {
                uptime_ms: 15937,
                approximate_data_size: 192,
                open_fds: Some(271),
                max_fds: Some(20000),
                ..Gauges::default()
            },
            quorum: Some(QuorumReport {
                peer_state: "leading - broadcast".into(),
                quorum_size: 3,
                synced_observers: Some(0),
                observer_master_id: None,
                leader: Some(LeaderReport {
                    learners: 2,
                    synced_followers: 2,
                    leader_uptime_ms: 15686,
                    ..LeaderReport::default()
                }),
            }),
            ..standalone()
        };
        assert_eq!(mntr(&r), ZK_MNTR_LEADER);
    }

    #[test]
    fn mntr_matches_zookeeper_follower() {
        let r = ServerReport {
            mode: ServerMode::Follower,
            latency_avg_ms: 0.0,
            latency_max_ms: 0,
            packets_received: 6,
            packets_sent: 7,
            alive_connections: 1,
            node_count: 5,
            gauges: Gauges {
                uptime_ms: 15113,
                approximate_data_size: 192,
                open_fds: Some(269),
                max_fds: Some(20000),
                ..Gauges::default()
            },
            quorum: Some(QuorumReport {
                peer_state: "following - broadcast".into(),
                quorum_size: 3,
                ..QuorumReport::default()
            }),
            ..standalone()
        };
        assert_eq!(mntr(&r), ZK_MNTR_FOLLOWER);
    }

    #[test]
    fn mntr_of_an_observer_names_its_master() {
        let r = ServerReport {
            mode: ServerMode::Observer,
            quorum: Some(QuorumReport {
                peer_state: "observing - broadcast".into(),
                quorum_size: 3,
                observer_master_id: Some(2),
                ..QuorumReport::default()
            }),
            ..standalone_gauges()
        };
        let out = mntr(&r);
        let lines: Vec<&str> = out.lines().take(4).collect();
        assert_eq!(
            lines,
            [
                "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC",
                "zk_server_state\tobserver",
                "zk_peer_state\tobserving - broadcast",
                "zk_observer_master_id\t2"
            ]
        );
        assert!(out.ends_with("zk_quorum_size\t3\n"));
    }

    #[test]
    fn whitelist_rules() {
        let none: Vec<String> = vec![];
        let some = vec!["conf".to_string(), "ruok".to_string()];
        let all = vec!["*".to_string()];
        assert!(whitelisted("srvr", &none));
        assert!(!whitelisted("ruok", &none));
        assert!(whitelisted("ruok", &some) && whitelisted("conf", &some));
        assert!(!whitelisted("mntr", &some));
        assert!(FourLetterWord::ALL.iter().all(|w| whitelisted(w.as_str(), &all)));
        assert_eq!(not_whitelisted("mntr"), ZK_NOT_WHITELISTED);
        let r = standalone_gauges();
        assert_eq!(respond(FourLetterWord::Mntr, &r, &none), ZK_NOT_WHITELISTED);
        assert_eq!(respond(FourLetterWord::Srvr, &r, &none), srvr(&r));
        assert_eq!(respond(FourLetterWord::Ruok, &r, &some), "imok");
    }

    #[test]
    fn not_serving_text() {
        let r = ServerReport { version: ZK_VERSION.into(), ..ServerReport::default() };
        let line = format!("{ZK_NOT_SERVING}\n");
        for w in [
            FourLetterWord::Srvr,
            FourLetterWord::Stat,
            FourLetterWord::Cons,
            FourLetterWord::Conf,
            FourLetterWord::Crst,
            FourLetterWord::Srst,
            FourLetterWord::Dirs,
            FourLetterWord::Dump,
            FourLetterWord::Wchs,
            FourLetterWord::Wchc,
            FourLetterWord::Wchp,
            FourLetterWord::Mntr,
        ] {
            assert_eq!(respond(w, &r, &["*".to_string()]), line, "{w}");
        }
        assert_eq!(hash(&r), ZK_NOT_SERVING);
        assert_eq!(ruok(), "imok");
        assert_eq!(gtmk(&ServerReport { trace_mask: 306, ..r }), "306");
    }

    #[test]
    fn small_words() {
        let r = ServerReport {
            data_dir_size: 457,
            log_dir_size: 457,
            digests: vec![(0x100000002, 1234567)],
            conf: "clientPort=2181\n".into(),
            ..standalone()
        };
        assert_eq!(dirs(&r), "datadir_size: 457\nlogdir_size: 457\n");
        assert_eq!(srst(&r), "Server stats reset.\n");
        assert_eq!(crst(&r), "Connection stats reset.\n");
        assert_eq!(hash(&r), "100000002: 1234567\n");
        assert_eq!(conf(&r), "clientPort=2181\n");
    }

    #[test]
    fn four_letter_prefixes() {
        assert_eq!(FourLetterWord::from_bytes(*b"ruok"), Some(FourLetterWord::Ruok));
        assert_eq!(FourLetterWord::from_bytes(*b"mntr"), Some(FourLetterWord::Mntr));
        assert_eq!(FourLetterWord::from_bytes(*b"RUOK"), None);
        assert_eq!(FourLetterWord::from_bytes([0, 0, 0, 44]), None);
        for w in FourLetterWord::ALL {
            let b: [u8; 4] = w.as_str().as_bytes().try_into().unwrap();
            assert_eq!(FourLetterWord::from_bytes(b), Some(w));
        }
    }

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(2.7), "2.7");
        assert_eq!(java_double(14.0), "14.0");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1.25e-5), "1.25E-5");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(123_456_789.5), "1.234567895E8");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn average_latency_rounds_half_up_to_four_places() {
        assert_eq!(average_latency(0, 0), 0.0);
        assert_eq!(average_latency(27, 10), 2.7);
        assert_eq!(average_latency(2, 3), 0.6667);
        assert_eq!(average_latency(1, 8), 0.125);
        assert_eq!(average_latency(1, 20_000), 0.0001); // 0.00005 rounds up
        assert_eq!(java_double(average_latency(10, 3)), "3.3333");
    }

    #[test]
    fn java_addresses() {
        assert_eq!(java_socket_addr(&addr("127.0.0.1:33774")), "/127.0.0.1:33774");
        assert_eq!(java_socket_addr(&addr("[::1]:2181")), "/[0:0:0:0:0:0:0:1]:2181");
        assert_eq!(java_socket_addr(&addr("[fe80::a:b%3]:1")), "/[fe80:0:0:0:0:0:a:b%3]:1");
        assert_eq!(java_socket_addr(&addr("[::ffff:10.1.2.3]:9")), "/10.1.2.3:9");
    }

    #[test]
    fn java_dates() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1795801926000), "Fri Nov 27 17:52:06 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(4_107_542_399_999), "Sun Feb 28 23:59:59 UTC 2100");
    }

    #[test]
    fn op_names() {
        assert_eq!(last_op_name(4), "GETD");
        assert_eq!(last_op_name(106), "ADDW");
        assert_eq!(last_op_name(15), "CREA");
        assert_eq!(last_op_name(12), "GETC");
        assert_eq!(last_op_name(-10), "SESS");
        assert_eq!(last_op_name(999), "NA");
    }
}
