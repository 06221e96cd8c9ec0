//! zoo.cfg: ZooKeeper's server configuration file, read as ZooKeeper 3.8 reads it.
//!
//! The file is a Java properties file (`QuorumPeerConfig.parse` loads it with
//! `java.util.Properties`): `key=value`, `key: value` or `key value`; `#` and `!` start
//! comment lines; a trailing backslash continues a line; keys and values are trimmed;
//! a later key overrides an earlier one. Unknown keys do not stop ZooKeeper (it turns them
//! into `zookeeper.<key>` system properties), so they are collected in
//! [`Config::ignored`] for the binary to log rather than refused.
//!
//! herd's capacity keys (`herd.znodesMax`, ...) accept an optional binary suffix:
//! `k`/`K` = 2^10, `m`/`M` = 2^20, `g`/`G` = 2^30, `t`/`T` = 2^40 (`herd.dataBytesMax=4G`).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// `tickTime` when unset: ZooKeeper's `ZooKeeperServer.DEFAULT_TICK_TIME`.
pub const DEFAULT_TICK_TIME_MS: u32 = 3000;
/// `clientPort` when unset.
pub const DEFAULT_CLIENT_PORT: u16 = 2181;
/// `clientPortAddress` when unset in a file: every local address, as ZooKeeper binds.
pub const DEFAULT_CLIENT_PORT_ADDRESS: &str = "0.0.0.0";
/// `maxClientCnxns` when unset: ZooKeeper's per-IP connection limit (0 = no limit).
pub const DEFAULT_MAX_CLIENT_CNXNS: u32 = 60;
/// `minSessionTimeout` when unset, in ticks.
pub const DEFAULT_MIN_SESSION_TIMEOUT_TICKS: u32 = 2;
/// `maxSessionTimeout` when unset, in ticks.
pub const DEFAULT_MAX_SESSION_TIMEOUT_TICKS: u32 = 20;
/// `jute.maxbuffer` when unset: ZooKeeper's largest accepted frame.
pub const DEFAULT_JUTE_MAXBUFFER: u32 = 0xfffff;
/// `autopurge.snapRetainCount` default and minimum (ZooKeeper raises smaller values to it).
pub const MIN_SNAP_RETAIN_COUNT: u32 = 3;
/// `snapCount` when unset: transactions between snapshots.
pub const DEFAULT_SNAP_COUNT: u64 = 100_000;
/// Smallest `snapCount` ZooKeeper accepts (it raises smaller values to it).
pub const MIN_SNAP_COUNT: u64 = 2;
/// `znode.container.checkIntervalMs` when unset: how often empty containers are reaped.
pub const DEFAULT_CONTAINER_CHECK_INTERVAL_MS: u64 = 60_000;
/// `clientPortListenBacklog` when unset: the OS default.
pub const DEFAULT_CLIENT_PORT_LISTEN_BACKLOG: i32 = -1;
/// The only `electionAlg` ZooKeeper 3.8 accepts (FastLeaderElection).
pub const ELECTION_ALG_FAST: i32 = 3;
/// Highest server id: the id is the top byte of every session id it creates.
pub const SERVER_ID_MAX: u64 = 255;
/// Highest server id with extended types (TTL) on, which claim `0xff` in session ids.
pub const SERVER_ID_MAX_EXTENDED_TYPES: u64 = 254;
/// Four-letter words allowed when `4lw.commands.whitelist` is unset.
pub const DEFAULT_FOUR_LETTER_WORDS: &[&str] = &["srvr"];
/// Where herd keeps its data when started without any configuration file.
pub const STANDALONE_DATA_DIR: &str = "./herd-data";
/// Where herd listens when started without any configuration file: loopback only, so an
/// unconfigured server is not reachable from the network.
pub const STANDALONE_CLIENT_PORT_ADDRESS: &str = "127.0.0.1";

/// A server's role in the ensemble (`server.N=...:participant|observer`, `peerType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeerRole {
    /// Votes in elections and acknowledges proposals.
    #[default]
    Participant,
    /// Receives committed transactions without voting.
    Observer,
}

impl PeerRole {
    /// ZooKeeper's `LearnerType.ordinal()`, printed as `peerType=` by `conf`.
    pub fn ordinal(self) -> u8 {
        match self {
            PeerRole::Participant => 0,
            PeerRole::Observer => 1,
        }
    }

    fn parse(s: &str) -> Option<PeerRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Some(PeerRole::Participant),
            "observer" => Some(PeerRole::Observer),
            _ => None,
        }
    }
}

impl fmt::Display for PeerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerRole::Participant => "participant",
            PeerRole::Observer => "observer",
        })
    }
}

/// One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLine {
    /// The server id `N` (its `myid`).
    pub id: u64,
    /// Host name or address the peer ports listen on (IPv6 without brackets).
    pub host: String,
    /// Port followers connect to the leader on.
    pub quorum_port: u16,
    /// Port leader election runs on.
    pub election_port: u16,
    /// Voting participant or observer.
    pub role: PeerRole,
    /// Client address from the `;` part: (host, port); host defaults to `0.0.0.0`.
    pub client: Option<(String, u16)>,
}

impl fmt::Display for ServerLine {
    /// ZooKeeper's `QuorumServer.toString`, as `conf` prints membership.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}:{}", bracketed(&self.host), self.quorum_port, self.election_port, self.role)?;
        if let Some((host, port)) = &self.client {
            write!(f, ";{}:{}", bracketed(host), port)?;
        }
        Ok(())
    }
}

/// herd's capacity keys; `None` leaves the server default (`Limits::SERVER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    /// `herd.znodesMax`.
    pub znodes_max: Option<u32>,
    /// `herd.dataBytesMax`.
    pub data_bytes_max: Option<u64>,
    /// `herd.sessionsMax`.
    pub sessions_max: Option<u32>,
    /// `herd.watchesMax`.
    pub watches_max: Option<u32>,
    /// `herd.connectionsMax`.
    pub connections_max: Option<u32>,
    /// `herd.aclListsMax`.
    pub acl_lists_max: Option<u32>,
}

/// A key herd does not use, kept so the binary can log it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredKey {
    /// Line of the (last) occurrence, 1-based.
    pub line: usize,
    /// The key as written.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// The superuser digest (`DigestAuthenticationProvider.superDigest`): `super:<base64 sha1>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuperDigest {
    /// User name before the colon (ZooKeeper expects `super`).
    pub user: String,
    /// base64 of SHA-1 of `user:password`.
    pub digest: String,
}

/// A parsed zoo.cfg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `tickTime`: the basic time unit, in ms.
    pub tick_time_ms: u32,
    /// `initLimit`: ticks a follower may take to connect and sync (0 = unset; required
    /// and non-zero whenever [`Config::is_distributed`]).
    pub init_limit: u32,
    /// `syncLimit`: ticks a follower may lag (0 = unset; as `init_limit`).
    pub sync_limit: u32,
    /// `dataDir`: snapshots and `myid`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the transaction log (defaults to `data_dir`).
    pub data_log_dir: PathBuf,
    /// `clientPort`.
    pub client_port: u16,
    /// `clientPortAddress`: host or address to bind (IPv6 without brackets).
    pub client_port_address: String,
    /// `clientPortListenBacklog` (-1 = OS default).
    pub client_port_listen_backlog: i32,
    /// `maxClientCnxns`: connections per client IP (0 = no limit).
    pub max_client_cnxns: u32,
    /// `minSessionTimeout` in ms (defaults to 2 ticks).
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout` in ms (defaults to 20 ticks).
    pub max_session_timeout_ms: u32,
    /// `4lw.commands.whitelist`: trimmed words; `*` allows all.
    pub four_letter_words: Vec<String>,
    /// `zookeeper.extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types_enabled: bool,
    /// `jute.maxbuffer`: largest accepted frame in bytes.
    pub jute_maxbuffer: u32,
    /// `autopurge.snapRetainCount`: snapshots kept by purging (at least 3).
    pub snap_retain_count: u32,
    /// `autopurge.purgeInterval`: hours between purges (0 = never).
    pub purge_interval_hours: u32,
    /// `snapCount`: transactions between snapshots.
    pub snap_count: u64,
    /// `peerType`: this server's own role.
    pub peer_type: PeerRole,
    /// `server.N` lines, sorted by id.
    pub servers: Vec<ServerLine>,
    /// `DigestAuthenticationProvider.superDigest`.
    pub super_digest: Option<SuperDigest>,
    /// `znode.container.checkIntervalMs`.
    pub container_check_interval_ms: u64,
    /// herd's capacity keys.
    pub capacity: Capacity,
    /// Keys herd does not use, in file order.
    pub ignored: Vec<IgnoredKey>,
    /// Accepted but questionable settings, one sentence each, for the binary to log.
    pub warnings: Vec<String>,
}

/// Why a configuration was refused.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The file is not UTF-8 text.
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A line is not valid properties syntax (a bad `\u` escape).
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A key's value is not acceptable.
    BadValue {
        /// 1-based line of the key.
        line: usize,
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A key that must be present is absent.
    Missing {
        /// The key.
        key: &'static str,
        /// Why it is needed.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            ConfigError::NotText { path } => write!(f, "{}: not UTF-8 text", path.display()),
            ConfigError::Syntax { line, reason } => write!(f, "line {line}: {reason}"),
            ConfigError::BadValue { line, key, value, reason } => {
                write!(f, "line {line}: {key}={value}: {reason}")
            }
            ConfigError::Missing { key, reason } => write!(f, "{key} is not set: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Runtime facts the `conf` word prints beside the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfFacts {
    /// Bytes under the snapshot directory (`dataDirSize`).
    pub data_dir_size: u64,
    /// Bytes under the log directory (`dataLogSize`).
    pub data_log_size: u64,
    /// This server's id (0 when standalone, as ZooKeeper prints).
    pub server_id: u64,
    /// Present when running as an ensemble member: adds the quorum lines.
    pub quorum: Option<QuorumConfFacts>,
}

/// The quorum part of `conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumConfFacts {
    /// This server's role (`peerType=` ordinal).
    pub role: PeerRole,
    /// Version of the membership configuration (`version=` in hex; 0 for a static file).
    pub config_version: u64,
}

impl Config {
    /// The configuration herd runs with when given no file: standalone on
    /// 127.0.0.1:2181 with data in ./herd-data, every other key at its default.
    pub fn standalone_default() -> Config {
        let mut c = Config::defaults(PathBuf::from(STANDALONE_DATA_DIR));
        c.client_port_address = STANDALONE_CLIENT_PORT_ADDRESS.to_string();
        c
    }

    fn defaults(data_dir: PathBuf) -> Config {
        let tick = DEFAULT_TICK_TIME_MS;
        Config {
            tick_time_ms: tick,
            init_limit: 0,
            sync_limit: 0,
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port: DEFAULT_CLIENT_PORT,
            client_port_address: DEFAULT_CLIENT_PORT_ADDRESS.to_string(),
            client_port_listen_backlog: DEFAULT_CLIENT_PORT_LISTEN_BACKLOG,
            max_client_cnxns: DEFAULT_MAX_CLIENT_CNXNS,
            min_session_timeout_ms: tick * DEFAULT_MIN_SESSION_TIMEOUT_TICKS,
            max_session_timeout_ms: tick * DEFAULT_MAX_SESSION_TIMEOUT_TICKS,
            four_letter_words: DEFAULT_FOUR_LETTER_WORDS.iter().map(|w| w.to_string()).collect(),
            extended_types_enabled: false,
            jute_maxbuffer: DEFAULT_JUTE_MAXBUFFER,
            snap_retain_count: MIN_SNAP_RETAIN_COUNT,
            purge_interval_hours: 0,
            snap_count: DEFAULT_SNAP_COUNT,
            peer_type: PeerRole::Participant,
            servers: Vec::new(),
            super_digest: None,
            container_check_interval_ms: DEFAULT_CONTAINER_CHECK_INTERVAL_MS,
            capacity: Capacity::default(),
            ignored: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Reads and parses a zoo.cfg file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| ConfigError::Read { path: path.to_path_buf(), error })?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotText { path: path.to_path_buf() })?;
        Config::parse(&text)
    }

    /// Parses zoo.cfg text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let entries = properties(text)?;
        let mut warnings = Vec::new();
        // Later keys override earlier ones; keep each key's last line for messages.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(prev) = last.insert(e.key.as_str(), i) {
                warnings.push(format!("{} on line {} overrides line {}", e.key, e.line, entries[prev].line));
            }
        }
        let mut b = Builder::default();
        for (i, e) in entries.iter().enumerate() {
            if last.get(e.key.as_str()) == Some(&i) {
                b.apply(e)?;
            }
        }
        b.finish(warnings)
    }

    /// True when the server lines name an ensemble: more than one participant.
    /// (ZooKeeper runs a single participant line standalone.)
    pub fn is_distributed(&self) -> bool {
        self.servers.iter().filter(|s| s.role == PeerRole::Participant).count() > 1
    }

    /// The client listen address as `host:port` (IPv6 in brackets), for `ToSocketAddrs`.
    pub fn client_bind_address(&self) -> String {
        format!("{}:{}", bracketed(&self.client_port_address), self.client_port)
    }

    /// What the `conf` four-letter word prints, in ZooKeeper 3.8's order.
    ///
    /// Paths are printed absolute, as ZooKeeper does, but as configured: ZooKeeper
    /// appends its `version-2` subdirectory, herd's layout is its own.
    pub fn to_conf_lines(&self, facts: &ConfFacts) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &dyn fmt::Display| {
            out.push_str(k);
            out.push('=');
            out.push_str(&v.to_string());
            out.push('\n');
        };
        line("clientPort", &self.client_port);
        // herd serves no TLS port: ZooKeeper prints -1 when none is configured.
        line("secureClientPort", &-1);
        line("dataDir", &absolute(&self.data_dir).display());
        line("dataDirSize", &facts.data_dir_size);
        line("dataLogDir", &absolute(&self.data_log_dir).display());
        line("dataLogSize", &facts.data_log_size);
        line("tickTime", &self.tick_time_ms);
        line("maxClientCnxns", &self.max_client_cnxns);
        line("minSessionTimeout", &self.min_session_timeout_ms);
        line("maxSessionTimeout", &self.max_session_timeout_ms);
        line("clientPortListenBacklog", &self.client_port_listen_backlog);
        line("serverId", &facts.server_id);
        if let Some(q) = &facts.quorum {
            let me = self.servers.iter().find(|s| s.id == facts.server_id);
            let port = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
            line("initLimit", &self.init_limit);
            line("syncLimit", &self.sync_limit);
            line("electionAlg", &ELECTION_ALG_FAST);
            line("electionPort", &port(me.map(|s| s.election_port)));
            line("quorumPort", &port(me.map(|s| s.quorum_port)));
            line("peerType", &q.role.ordinal());
            // ZooKeeper prints "membership: " then QuorumVerifier.toString, whose last
            // line (`version=`) has no newline.
            out.push_str("membership: \n");
            for s in &self.servers {
                out.push_str(&format!("server.{}={}\n", s.id, s));
            }
            out.push_str(&format!("version={:x}", q.config_version));
        }
        out
    }
}

/// Wraps an IPv6 literal in brackets, as ZooKeeper's `delimitedHostString` does.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The path made absolute against the current directory, as Java's `getAbsolutePath`.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Accumulates keys; `finish` fills defaults that depend on other keys and cross-checks.
#[derive(Default)]
struct Builder {
    tick_time_ms: Option<u32>,
    init_limit: u32,
    sync_limit: u32,
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
    client_port: Option<u16>,
    client_port_address: Option<String>,
    client_port_listen_backlog: Option<i32>,
    max_client_cnxns: Option<u32>,
    min_session_timeout: Option<(u32, usize)>,
    max_session_timeout: Option<(u32, usize)>,
    four_letter_words: Option<Vec<String>>,
    extended_types_enabled: bool,
    jute_maxbuffer: Option<u32>,
    snap_retain_count: Option<u32>,
    purge_interval_hours: u32,
    snap_count: Option<u64>,
    peer_type: PeerRole,
    servers: Vec<(ServerLine, usize)>,
    super_digest: Option<SuperDigest>,
    container_check_interval_ms: Option<u64>,
    capacity: Capacity,
    ignored: Vec<IgnoredKey>,
}

impl Builder {
    fn apply(&mut self, e: &Entry) -> Result<(), ConfigError> {
        let key = e.key.as_str();
        // ZooKeeper trims both; Properties already dropped leading blanks of the value.
        let v = e.value.trim();
        match key {
            "tickTime" => self.tick_time_ms = Some(positive(e, v)?),
            "initLimit" => self.init_limit = positive(e, v)?,
            "syncLimit" => self.sync_limit = positive(e, v)?,
            "dataDir" => self.data_dir = Some(path(e, v)?),
            "dataLogDir" => self.data_log_dir = Some(path(e, v)?),
            "clientPort" => self.client_port = Some(port(e, v)?),
            "clientPortAddress" => {
                let host = host(v);
                if host.is_empty() {
                    return Err(bad(e, "empty address"));
                }
                // A colon is only valid inside an IPv6 literal; the port is clientPort.
                if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(bad(e, "expected a host or address without a port"));
                }
                self.client_port_address = Some(host.to_string());
            }
            "clientPortListenBacklog" => {
                let n = int(e, v)?;
                if n < -1 {
                    return Err(bad(e, "must be -1 (OS default) or a positive count"));
                }
                self.client_port_listen_backlog = Some(n as i32);
            }
            "maxClientCnxns" => self.max_client_cnxns = Some(non_negative(e, v)?),
            "minSessionTimeout" => self.min_session_timeout = session_timeout(e, v)?,
            "maxSessionTimeout" => self.max_session_timeout = session_timeout(e, v)?,
            "4lw.commands.whitelist" | "zookeeper.4lw.commands.whitelist" => {
                self.four_letter_words =
                    Some(v.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_string).collect());
            }
            "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => self.extended_types_enabled = boolean(e, v)?,
            "jute.maxbuffer" => {
                let n = java_decode(v).ok_or_else(|| bad(e, "not a number"))?;
                if n <= 0 || n > i64::from(i32::MAX) {
                    return Err(bad(e, "must be a positive 32-bit byte count"));
                }
                self.jute_maxbuffer = Some(n as u32);
            }
            "autopurge.snapRetainCount" => self.snap_retain_count = Some(non_negative(e, v)?),
            "autopurge.purgeInterval" => self.purge_interval_hours = non_negative(e, v)?,
            "snapCount" | "zookeeper.snapCount" => {
                let n = int(e, v)?;
                if n < 0 {
                    return Err(bad(e, "must not be negative"));
                }
                self.snap_count = Some(n as u64);
            }
            "peerType" => {
                self.peer_type = PeerRole::parse(v).ok_or_else(|| bad(e, "expected participant or observer"))?
            }
            "electionAlg" => {
                if int(e, v)? != i64::from(ELECTION_ALG_FAST) {
                    return Err(bad(e, "only 3 (fast leader election) is supported"));
                }
            }
            "DigestAuthenticationProvider.superDigest" | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                let (user, digest) = v
                    .split_once(':')
                    .filter(|(u, d)| !u.is_empty() && !d.is_empty())
                    .ok_or_else(|| bad(e, "expected user:base64digest"))?;
                self.super_digest = Some(SuperDigest { user: user.to_string(), digest: digest.to_string() });
            }
            "znode.container.checkIntervalMs" | "zookeeper.znode.container.checkIntervalMs" => {
                let n = int(e, v)?;
                if n <= 0 {
                    return Err(bad(e, "must be a positive number of ms"));
                }
                self.container_check_interval_ms = Some(n as u64);
            }
            "herd.znodesMax" => self.capacity.znodes_max = Some(capacity(e, v)?),
            "herd.dataBytesMax" => self.capacity.data_bytes_max = Some(capacity(e, v)?),
            "herd.sessionsMax" => self.capacity.sessions_max = Some(capacity(e, v)?),
            "herd.watchesMax" => self.capacity.watches_max = Some(capacity(e, v)?),
            "herd.connectionsMax" => self.capacity.connections_max = Some(capacity(e, v)?),
            "herd.aclListsMax" => self.capacity.acl_lists_max = Some(capacity(e, v)?),
            _ if key.starts_with("server.") => {
                let id = key["server.".len()..]
                    .parse::<u64>()
                    .map_err(|_| bad(e, "server id after `server.` is not a number"))?;
                let line = server_line(id, v).map_err(|reason| bad(e, reason))?;
                self.servers.push((line, e.line));
            }
            _ => self.ignored.push(IgnoredKey { line: e.line, key: e.key.clone(), value: v.to_string() }),
        }
        Ok(())
    }

    fn finish(self, mut warnings: Vec<String>) -> Result<Config, ConfigError> {
        let data_dir = self.data_dir.ok_or(ConfigError::Missing {
            key: "dataDir",
            reason: "snapshots and myid live there (ZooKeeper refuses to start without it)",
        })?;
        let mut c = Config::defaults(data_dir);
        if let Some(d) = self.data_log_dir {
            c.data_log_dir = d;
        }
        let tick = self.tick_time_ms.unwrap_or(DEFAULT_TICK_TIME_MS);
        c.tick_time_ms = tick;
        c.init_limit = self.init_limit;
        c.sync_limit = self.sync_limit;
        c.client_port = self.client_port.unwrap_or(DEFAULT_CLIENT_PORT);
        if let Some(a) = self.client_port_address {
            c.client_port_address = a;
        }
        if let Some(b) = self.client_port_listen_backlog {
            c.client_port_listen_backlog = b;
        }
        if let Some(m) = self.max_client_cnxns {
            c.max_client_cnxns = m;
        }
        let default_timeout = |ticks: u32| tick.saturating_mul(ticks);
        c.min_session_timeout_ms =
            self.min_session_timeout.map_or(default_timeout(DEFAULT_MIN_SESSION_TIMEOUT_TICKS), |(t, _)| t);
        c.max_session_timeout_ms =
            self.max_session_timeout.map_or(default_timeout(DEFAULT_MAX_SESSION_TIMEOUT_TICKS), |(t, _)| t);
        if c.min_session_timeout_ms > c.max_session_timeout_ms {
            // Name whichever of the two keys was written (the later one if both).
            let (key, line, value) = match (self.min_session_timeout, self.max_session_timeout) {
                (Some((_, lmin)), Some((_, lmax))) if lmax > lmin => {
                    ("maxSessionTimeout", lmax, c.max_session_timeout_ms)
                }
                (Some((_, lmin)), _) => ("minSessionTimeout", lmin, c.min_session_timeout_ms),
                (None, Some((_, lmax))) => ("maxSessionTimeout", lmax, c.max_session_timeout_ms),
                (None, None) => ("tickTime", 0, tick),
            };
            return Err(ConfigError::BadValue {
                line,
                key: key.to_string(),
                value: value.to_string(),
                reason: format!(
                    "minSessionTimeout ({} ms) must not be larger than maxSessionTimeout ({} ms)",
                    c.min_session_timeout_ms, c.max_session_timeout_ms
                ),
            });
        }
        if let Some(w) = self.four_letter_words {
            c.four_letter_words = w;
        }
        c.extended_types_enabled = self.extended_types_enabled;
        if let Some(j) = self.jute_maxbuffer {
            c.jute_maxbuffer = j;
        }
        if let Some(n) = self.snap_retain_count {
            if n < MIN_SNAP_RETAIN_COUNT {
                warnings.push(format!(
                    "autopurge.snapRetainCount {n} is below {MIN_SNAP_RETAIN_COUNT}; using {MIN_SNAP_RETAIN_COUNT}"
                ));
            }
            c.snap_retain_count = n.max(MIN_SNAP_RETAIN_COUNT);
        }
        c.purge_interval_hours = self.purge_interval_hours;
        if let Some(n) = self.snap_count {
            if n < MIN_SNAP_COUNT {
                warnings.push(format!("snapCount {n} is below {MIN_SNAP_COUNT}; using {MIN_SNAP_COUNT}"));
            }
            c.snap_count = n.max(MIN_SNAP_COUNT);
        }
        c.peer_type = self.peer_type;
        c.super_digest = self.super_digest;
        if let Some(ms) = self.container_check_interval_ms {
            c.container_check_interval_ms = ms;
        }
        c.capacity = self.capacity;
        c.ignored = self.ignored;

        let mut servers = self.servers;
        servers.sort_by_key(|(s, _)| s.id);
        let id_max = if c.extended_types_enabled { SERVER_ID_MAX_EXTENDED_TYPES } else { SERVER_ID_MAX };
        for (i, (s, line)) in servers.iter().enumerate() {
            if s.id == 0 || s.id > id_max {
                return Err(server_error(s, *line, format!("server id must be 1..={id_max}")));
            }
            if i > 0 && servers[i - 1].0.id == s.id {
                return Err(server_error(s, *line, "server id appears twice".to_string()));
            }
        }
        let participants = servers.iter().filter(|(s, _)| s.role == PeerRole::Participant).count();
        let observers = servers.len() - participants;
        if observers > 0 && participants <= 1 {
            let (s, line) = &servers[0];
            return Err(server_error(s, *line, "observers need a quorum of participants".to_string()));
        }
        match participants {
            0 => {}
            1 => warnings.push("only one server line: running standalone".to_string()),
            n => {
                if n <= 2 {
                    warnings.push("no server failure will be tolerated: use at least 3 servers".to_string());
                } else if n % 2 == 0 {
                    warnings.push("an even number of servers tolerates no more failures than one fewer".to_string());
                }
                if c.init_limit == 0 {
                    return Err(ConfigError::Missing { key: "initLimit", reason: "required for an ensemble" });
                }
                if c.sync_limit == 0 {
                    return Err(ConfigError::Missing { key: "syncLimit", reason: "required for an ensemble" });
                }
            }
        }
        c.servers = servers.into_iter().map(|(s, _)| s).collect();
        c.warnings = warnings;
        Ok(c)
    }
}

fn server_error(s: &ServerLine, line: usize, reason: String) -> ConfigError {
    ConfigError::BadValue { line, key: format!("server.{}", s.id), value: s.to_string(), reason }
}

fn bad(e: &Entry, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue { line: e.line, key: e.key.clone(), value: e.value.trim().to_string(), reason: reason.into() }
}

/// Java's `Integer.parseInt` range, kept as i64 so callers can range-check.
fn int(e: &Entry, v: &str) -> Result<i64, ConfigError> {
    let n: i64 = v.parse().map_err(|_| bad(e, "not a number"))?;
    if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) {
        return Err(bad(e, "out of the 32-bit range"));
    }
    Ok(n)
}

fn positive(e: &Entry, v: &str) -> Result<u32, ConfigError> {
    let n = int(e, v)?;
    if n <= 0 {
        return Err(bad(e, "must be positive"));
    }
    Ok(n as u32)
}

fn non_negative(e: &Entry, v: &str) -> Result<u32, ConfigError> {
    let n = int(e, v)?;
    if n < 0 {
        return Err(bad(e, "must not be negative"));
    }
    Ok(n as u32)
}

/// A session timeout in ms; ZooKeeper treats -1 as "unset" (use the tick default).
fn session_timeout(e: &Entry, v: &str) -> Result<Option<(u32, usize)>, ConfigError> {
    match int(e, v)? {
        -1 => Ok(None),
        n if n <= 0 => Err(bad(e, "must be a positive number of ms")),
        n => Ok(Some((n as u32, e.line))),
    }
}

fn port(e: &Entry, v: &str) -> Result<u16, ConfigError> {
    let n = int(e, v)?;
    u16::try_from(n).ok().filter(|&p| p != 0).ok_or_else(|| bad(e, "port must be 1..=65535"))
}

fn path(e: &Entry, v: &str) -> Result<PathBuf, ConfigError> {
    if v.is_empty() {
        return Err(bad(e, "empty path"));
    }
    Ok(PathBuf::from(v))
}

/// QuorumPeerConfig's `parseBoolean`: exactly `true` or `false`, any case.
fn boolean(e: &Entry, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(e, "expected true or false")),
    }
}

/// Java's `Integer.decode` (as `Integer.getInteger` reads `jute.maxbuffer`): decimal,
/// `0x`/`0X`/`#` hex, or leading-`0` octal, with an optional sign.
fn java_decode(v: &str) -> Option<i64> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let (radix, digits) = if let Some(h) =
        digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")).or_else(|| digits.strip_prefix('#'))
    {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// A capacity: a positive integer with an optional k/M/G/T binary suffix.
fn capacity<T: TryFrom<u64>>(e: &Entry, v: &str) -> Result<T, ConfigError> {
    let (digits, shift) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_lowercase() {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                _ => return Err(bad(e, "suffix must be k, M, G or T")),
            };
            (&v[..i], shift)
        }
        _ => (v, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad(e, "not a number"))?;
    let n = n.checked_mul(1u64 << shift).ok_or_else(|| bad(e, "too large"))?;
    if n == 0 {
        return Err(bad(e, "must be at least 1"));
    }
    T::try_from(n).map_err(|_| bad(e, "too large for this bound"))
}

/// A host from a config value: brackets around an IPv6 literal are dropped.
fn host(v: &str) -> &str {
    v.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(v)
}

/// Splits `host:port[:...]` where host may be `[ipv6]`, as ZooKeeper's `getHostAndPort`.
fn host_and_ports(s: &str) -> Result<Vec<&str>, &'static str> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("`[` without `]`")?;
        let mut parts = vec![h];
        if !after.is_empty() {
            let after = after.strip_prefix(':').ok_or("expected `:` after `]`")?;
            parts.extend(after.split(':'));
        }
        Ok(parts)
    } else {
        Ok(s.split(':').collect())
    }
}

fn server_port(s: &str) -> Result<u16, &'static str> {
    s.trim().parse::<u16>().ok().filter(|&p| p != 0).ok_or("port must be 1..=65535")
}

/// `host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` (QuorumServer's format).
fn server_line(id: u64, v: &str) -> Result<ServerLine, &'static str> {
    let mut halves = v.split(';');
    let server = halves.next().unwrap_or_default();
    let client = halves.next();
    if halves.next().is_some() {
        return Err("more than one `;`: expected server_config[;client_config]");
    }
    if server.contains('|') {
        return Err("multiple addresses per server are not supported");
    }
    let parts = host_and_ports(server.trim())?;
    if parts.len() < 3 || parts.len() > 4 {
        return Err("expected host:quorumPort:electionPort[:participant|observer]");
    }
    let host = parts[0].trim();
    if host.is_empty() {
        return Err("empty host");
    }
    let quorum_port = server_port(parts[1])?;
    let election_port = server_port(parts[2])?;
    if quorum_port == election_port {
        return Err("quorum and election ports must differ");
    }
    let role = match parts.get(3) {
        Some(r) => PeerRole::parse(r).ok_or("role must be participant or observer")?,
        None => PeerRole::Participant,
    };
    let client = match client.map(str::trim) {
        None => None,
        Some(c) => {
            let p = host_and_ports(c)?;
            match p.as_slice() {
                [port] => Some((DEFAULT_CLIENT_PORT_ADDRESS.to_string(), server_port(port)?)),
                [h, port] if !h.trim().is_empty() => Some((h.trim().to_string(), server_port(port)?)),
                _ => return Err("client part must be port or host:port"),
            }
        }
    };
    Ok(ServerLine { id, host: host.to_string(), quorum_port, election_port, role, client })
}

/// One key/value of a properties file.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    line: usize,
    key: String,
    value: String,
}

/// Java `Properties.load` over text: logical lines (continued by an odd number of
/// trailing backslashes), comments, the key/separator split and escapes.
fn properties(text: &str) -> Result<Vec<Entry>, ConfigError> {
    let is_blank = |c: char| c == ' ' || c == '\t' || c == '\x0c';
    let mut out = Vec::new();
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    while let Some((start, first)) = lines.next() {
        let first = first.trim_start_matches(is_blank);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut cur = first;
        loop {
            let trailing = cur.len() - cur.trim_end_matches('\\').len();
            if trailing % 2 == 1 {
                logical.push_str(&cur[..cur.len() - 1]);
                match lines.next() {
                    Some((_, next)) => cur = next.trim_start_matches(is_blank),
                    None => break,
                }
            } else {
                logical.push_str(cur);
                break;
            }
        }
        // The key ends at the first unescaped `=`, `:` or blank.
        let chars: Vec<char> = logical.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => i += 2,
                '=' | ':' => break,
                c if is_blank(c) => break,
                _ => i += 1,
            }
        }
        let key_end = i.min(chars.len());
        let mut j = key_end;
        while j < chars.len() && is_blank(chars[j]) {
            j += 1;
        }
        if j < chars.len() && (chars[j] == '=' || chars[j] == ':') {
            j += 1;
            while j < chars.len() && is_blank(chars[j]) {
                j += 1;
            }
        }
        let key = unescape(&chars[..key_end], start)?;
        let value = unescape(&chars[j..], start)?;
        out.push(Entry { line: start, key: key.trim().to_string(), value });
    }
    Ok(out)
}

/// Properties escapes: `\t \n \r \f`, `\uXXXX`, and `\x` = `x` for anything else.
fn unescape(chars: &[char], line: usize) -> Result<String, ConfigError> {
    let mut s = String::with_capacity(chars.len());
    let mut it = chars.iter().copied();
    while let Some(c) = it.next() {
        if c != '\\' {
            s.push(c);
            continue;
        }
        match it.next() {
            None => {}
            Some('t') => s.push('\t'),
            Some('n') => s.push('\n'),
            Some('r') => s.push('\r'),
            Some('f') => s.push('\x0c'),
            Some('u') => {
                let hex: String = it.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| ConfigError::Syntax {
                        line,
                        reason: format!("malformed \\uxxxx escape `\\u{hex}`"),
                    })?;
                s.push(code);
            }
            Some(other) => s.push(other),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_file_takes_zookeeper_defaults() {
        let c = parse("dataDir=/var/lib/zk\n");
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zk"));
        assert_eq!(c.data_log_dir, c.data_dir);
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.client_port_address, "0.0.0.0");
        assert_eq!(c.client_bind_address(), "0.0.0.0:2181");
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!((c.min_session_timeout_ms, c.max_session_timeout_ms), (6000, 60000));
        assert_eq!(c.four_letter_words, vec!["srvr".to_string()]);
        assert!(!c.extended_types_enabled);
        assert_eq!(c.jute_maxbuffer, 0xfffff);
        assert_eq!((c.snap_retain_count, c.purge_interval_hours), (3, 0));
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.container_check_interval_ms, 60_000);
        assert_eq!(c.capacity, Capacity::default());
        assert!(c.servers.is_empty() && c.ignored.is_empty() && c.warnings.is_empty());
        assert!(!c.is_distributed());
    }

    #[test]
    fn standalone_default_is_loopback_with_local_data() {
        let c = Config::standalone_default();
        assert_eq!(c.client_bind_address(), "127.0.0.1:2181");
        assert_eq!(c.data_dir, PathBuf::from("./herd-data"));
        assert_eq!(c.data_log_dir, c.data_dir);
        assert_eq!(c.tick_time_ms, 3000);
    }

    #[test]
    fn properties_syntax() {
        let text = "# comment\n  ! also comment\n\ntickTime = 2000\r\nclientPort:2182\n\
                    dataDir /tmp/a\\\n    b\nclientPortAddress=\\u0031\\u0032\\u0037.0.0.1\n\
                    maxClientCnxns=10   \n";
        let c = parse(text);
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!(c.client_port, 2182);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/ab"));
        assert_eq!(c.client_port_address, "127.0.0.1");
        assert_eq!(c.max_client_cnxns, 10);
        // Session timeout defaults follow tickTime wherever it appears in the file.
        assert_eq!((c.min_session_timeout_ms, c.max_session_timeout_ms), (4000, 40000));
    }

    #[test]
    fn escaped_separator_stays_in_key_and_even_backslashes_do_not_continue() {
        let e = properties("a\\=b=c\nd=e\\\\\nf=g\n").unwrap();
        assert_eq!(
            e,
            vec![
                Entry { line: 1, key: "a=b".into(), value: "c".into() },
                Entry { line: 2, key: "d".into(), value: "e\\".into() },
                Entry { line: 3, key: "f".into(), value: "g".into() },
            ]
        );
    }

    #[test]
    fn later_keys_override_with_a_warning() {
        let c = parse("dataDir=/a\ntickTime=1000\ntickTime=2000\n");
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!(c.warnings, vec!["tickTime on line 3 overrides line 2".to_string()]);
        // The overridden value is not checked: only the last one counts.
        assert_eq!(parse("dataDir=/a\ntickTime=x\ntickTime=5\n").tick_time_ms, 5);
    }

    #[test]
    fn unknown_keys_are_collected() {
        let c = parse("dataDir=/a\nadmin.enableServer=false\nmetricsProvider.className=x.Y\n");
        assert_eq!(
            c.ignored,
            vec![
                IgnoredKey { line: 2, key: "admin.enableServer".into(), value: "false".into() },
                IgnoredKey { line: 3, key: "metricsProvider.className".into(), value: "x.Y".into() },
            ]
        );
    }

    #[test]
    fn whitelist_words_are_trimmed() {
        let c = parse("dataDir=/a\n4lw.commands.whitelist=conf, ruok ,, cons\n");
        assert_eq!(c.four_letter_words, vec!["conf", "ruok", "cons"]);
        let c = parse("dataDir=/a\nzookeeper.4lw.commands.whitelist=*\n");
        assert_eq!(c.four_letter_words, vec!["*"]);
    }

    #[test]
    fn system_property_spellings() {
        let c = parse(
            "dataDir=/a\nzookeeper.extendedTypesEnabled=TRUE\n\
             zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
             jute.maxbuffer=0x400000\nzookeeper.snapCount=5000\nznode.container.checkIntervalMs=1000\n",
        );
        assert!(c.extended_types_enabled);
        assert_eq!(
            c.super_digest,
            Some(SuperDigest { user: "super".into(), digest: "D/InIHSb7yEEbrWz8b9l71RjZJU=".into() })
        );
        assert_eq!(c.jute_maxbuffer, 0x400000);
        assert_eq!(c.snap_count, 5000);
        assert_eq!(c.container_check_interval_ms, 1000);
        let c = parse("dataDir=/a\nextendedTypesEnabled=false\nDigestAuthenticationProvider.superDigest=s:x\n");
        assert!(!c.extended_types_enabled);
        assert_eq!(c.super_digest.unwrap().user, "s");
    }

    #[test]
    fn capacity_keys_with_suffixes() {
        let c = parse(
            "dataDir=/a\nherd.znodesMax=4M\nherd.dataBytesMax=8G\nherd.sessionsMax=1000\n\
             herd.watchesMax=2k\nherd.connectionsMax=64K\nherd.aclListsMax=1\n",
        );
        assert_eq!(
            c.capacity,
            Capacity {
                znodes_max: Some(4 << 20),
                data_bytes_max: Some(8 << 30),
                sessions_max: Some(1000),
                watches_max: Some(2048),
                connections_max: Some(65536),
                acl_lists_max: Some(1),
            }
        );
        assert!(err("dataDir=/a\nherd.znodesMax=4G\n").contains("too large"));
        assert!(err("dataDir=/a\nherd.znodesMax=0\n").contains("at least 1"));
        assert!(err("dataDir=/a\nherd.znodesMax=3X\n").contains("suffix"));
        assert!(err("dataDir=/a\nherd.dataBytesMax=99999999T\n").contains("too large"));
    }

    #[test]
    fn bad_values_name_key_and_line() {
        assert_eq!(err("dataDir=/a\n\ntickTime=abc\n"), "line 3: tickTime=abc: not a number");
        assert_eq!(err("dataDir=/a\nclientPort=70000\n"), "line 2: clientPort=70000: port must be 1..=65535");
        assert_eq!(err("dataDir=/a\ntickTime=0\n"), "line 2: tickTime=0: must be positive");
        assert_eq!(err("dataDir=/a\ntickTime=99999999999\n"), "line 2: tickTime=99999999999: out of the 32-bit range");
        assert!(err("dataDir=/a\nmaxClientCnxns=-2\n").starts_with("line 2: maxClientCnxns"));
        assert!(err("dataDir=/a\nextendedTypesEnabled=yes\n").contains("true or false"));
        assert!(err("dataDir=/a\nelectionAlg=1\n").contains("only 3"));
        assert!(err("dataDir=/a\njute.maxbuffer=-5\n").contains("positive"));
        assert!(err("dataDir=/a\nsuperDigest=x\nDigestAuthenticationProvider.superDigest=nocolon\n")
            .starts_with("line 3: DigestAuthenticationProvider.superDigest"));
        assert_eq!(err("dataDir=/a\nx=\\u12\n"), "line 2: malformed \\uxxxx escape `\\u12`");
        assert!(err("tickTime=2000\n").starts_with("dataDir is not set"));
        assert!(err("dataDir=\n").contains("empty path"));
        assert!(err("dataDir=/a\nclientPortAddress=10.0.0.1:2181\n").contains("without a port"));
        assert_eq!(parse("dataDir=/a\nclientPortAddress=[::1]\n").client_bind_address(), "[::1]:2181");
    }

    #[test]
    fn session_timeout_bounds() {
        let c = parse("dataDir=/a\ntickTime=1000\nminSessionTimeout=-1\nmaxSessionTimeout=5000\n");
        assert_eq!((c.min_session_timeout_ms, c.max_session_timeout_ms), (2000, 5000));
        assert_eq!(
            err("dataDir=/a\nminSessionTimeout=9000\nmaxSessionTimeout=8000\n"),
            "line 3: maxSessionTimeout=8000: minSessionTimeout (9000 ms) must not be larger than maxSessionTimeout (8000 ms)"
        );
        // Only min written: it is the one named, against the tick-derived max.
        assert!(err("dataDir=/a\ntickTime=100\nminSessionTimeout=9000\n").starts_with("line 3: minSessionTimeout=9000"));
    }

    #[test]
    fn retain_and_snap_counts_are_raised_to_minimums() {
        let c = parse("dataDir=/a\nautopurge.snapRetainCount=1\nsnapCount=1\nautopurge.purgeInterval=24\n");
        assert_eq!((c.snap_retain_count, c.snap_count, c.purge_interval_hours), (3, 2, 24));
        assert_eq!(c.warnings.len(), 2);
    }

    #[test]
    fn server_lines() {
        let c = parse(
            "dataDir=/a\ninitLimit=5\nsyncLimit=2\n\
             server.3=zk3:2888:3888:observer;[::1]:2183\n\
             server.1=zk1:2888:3888\n\
             server.2=[fe80::1]:2888:3888:Participant;2182\n\
             server.4=zk4:2888:3888:participant;10.0.0.4:2184\n",
        );
        assert!(c.is_distributed());
        let ids: Vec<u64> = c.servers.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        assert_eq!(
            c.servers[1],
            ServerLine {
                id: 2,
                host: "fe80::1".into(),
                quorum_port: 2888,
                election_port: 3888,
                role: PeerRole::Participant,
                client: Some(("0.0.0.0".into(), 2182)),
            }
        );
        assert_eq!(c.servers[2].role, PeerRole::Observer);
        assert_eq!(c.servers[2].client, Some(("::1".into(), 2183)));
        assert_eq!(c.servers[0].to_string(), "zk1:2888:3888:participant");
        assert_eq!(c.servers[1].to_string(), "[fe80::1]:2888:3888:participant;0.0.0.0:2182");
        assert_eq!(c.servers[2].to_string(), "zk3:2888:3888:observer;[::1]:2183");
        // Three participants: no warning about tolerance.
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn bad_server_lines() {
        let base = "dataDir=/a\ninitLimit=5\nsyncLimit=2\n";
        let e = |line: &str| err(&format!("{base}{line}\n"));
        assert!(e("server.x=a:1:2").contains("not a number"));
        assert!(e("server.1=a:1").contains("expected host:quorumPort"));
        assert!(e("server.1=a:1:2:3:4").contains("expected host:quorumPort"));
        assert!(e("server.1=a:1:1").contains("must differ"));
        assert!(e("server.1=a:1:x").contains("port must be"));
        assert!(e("server.1=a:1:2:voter").contains("participant or observer"));
        assert!(e("server.1=a:1:2;b:3;4").contains("more than one"));
        assert!(e("server.1=a:1:2|b:1:2").contains("multiple addresses"));
        assert!(e("server.1=a:1:2;x:y:3").contains("client part"));
        assert!(e("server.1=[::1:1:2").contains("without"));
        assert!(e("server.0=a:1:2").contains("1..=255"));
        assert!(e("server.256=a:1:2").contains("1..=255"));
        assert!(err("dataDir=/a\nextendedTypesEnabled=true\nserver.255=a:1:2\n").contains("1..=254"));
        assert!(e("server.1=a:1:2\nserver.01=b:1:2").contains("twice"));
        assert!(e("server.1=a:1:2\nserver.2=b:1:2:observer").contains("observers need"));
        assert!(err("dataDir=/a\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n").starts_with("initLimit is not set"));
        assert!(err("dataDir=/a\ninitLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n").starts_with("syncLimit is not set"));
    }

    #[test]
    fn single_server_line_runs_standalone() {
        let c = parse("dataDir=/a\nserver.1=a:1:2\n");
        assert!(!c.is_distributed());
        assert_eq!(c.servers.len(), 1);
        assert_eq!(c.warnings, vec!["only one server line: running standalone".to_string()]);
    }

    /// `conf` from Apache ZooKeeper 3.8.0 standalone (tickTime=2000, clientPort=21810).
    const ZK_CONF_STANDALONE: &str = "clientPort=21810\nsecureClientPort=-1\n\
        dataDir=/work/scratch/zk/data/version-2\ndataDirSize=67109337\n\
        dataLogDir=/work/scratch/zk/data/version-2\ndataLogSize=67109337\ntickTime=2000\n\
        maxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n\
        clientPortListenBacklog=-1\nserverId=0\n";

    /// `conf` from server 1 of a 3.8.0 ensemble.
    const ZK_CONF_QUORUM: &str = "clientPort=21821\nsecureClientPort=-1\n\
        dataDir=/work/scratch/zk/q/d1/version-2\ndataDirSize=607\n\
        dataLogDir=/work/scratch/zk/q/d1/version-2\ndataLogSize=607\ntickTime=2000\n\
        maxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n\
        clientPortListenBacklog=-1\nserverId=1\ninitLimit=5\nsyncLimit=2\nelectionAlg=3\n\
        electionPort=2381\nquorumPort=2281\npeerType=0\nmembership: \n\
        server.1=127.0.0.1:2281:2381:participant\nserver.2=127.0.0.1:2282:2382:participant\n\
        server.3=127.0.0.1:2283:2383:participant;127.0.0.1:21823\nversion=0";

    #[test]
    fn conf_matches_zookeeper_standalone() {
        let c = parse(
            "tickTime=2000\ndataDir=/work/scratch/zk/data/version-2\nclientPort=21810\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n",
        );
        let facts = ConfFacts { data_dir_size: 67109337, data_log_size: 67109337, ..ConfFacts::default() };
        assert_eq!(c.to_conf_lines(&facts), ZK_CONF_STANDALONE);
    }

    #[test]
    fn conf_matches_zookeeper_quorum() {
        let c = parse(
            "tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir=/work/scratch/zk/q/d1/version-2\n\
             clientPort=21821\nclientPortAddress=127.0.0.1\n\
             server.1=127.0.0.1:2281:2381\nserver.2=127.0.0.1:2282:2382\n\
             server.3=127.0.0.1:2283:2383;127.0.0.1:21823\n",
        );
        let facts = ConfFacts {
            data_dir_size: 607,
            data_log_size: 607,
            server_id: 1,
            quorum: Some(QuorumConfFacts { role: PeerRole::Participant, config_version: 0 }),
        };
        assert_eq!(c.to_conf_lines(&facts), ZK_CONF_QUORUM);
    }

    #[test]
    fn conf_paths_are_absolute() {
        let c = parse("dataDir=rel/data\ndataLogDir=/logs\n");
        let out = c.to_conf_lines(&ConfFacts::default());
        let cwd = std::env::current_dir().unwrap();
        assert!(out.contains(&format!("dataDir={}\n", cwd.join("rel/data").display())), "{out}");
        assert!(out.contains("dataLogDir=/logs\n"));
    }

    #[test]
    fn load_reports_missing_file_and_non_utf8() {
        let dir = std::env::temp_dir().join(format!("herd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.cfg");
        assert!(matches!(Config::load(&missing), Err(ConfigError::Read { .. })));
        let latin1 = dir.join("latin1.cfg");
        std::fs::write(&latin1, b"dataDir=/caf\xe9\n").unwrap();
        assert!(matches!(Config::load(&latin1), Err(ConfigError::NotText { .. })));
        let good = dir.join("zoo.cfg");
        std::fs::write(&good, "dataDir=/d\nclientPort=2999\n").unwrap();
        assert_eq!(Config::load(&good).unwrap().client_port, 2999);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
