//! Four-letter words: a [`ServerReport`] snapshot of the core and the shell, formatted by
//! [`crate::fourlw`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use proto_core::server::{ConnState, Server};
use proto_core::{ConnId, Now};

use crate::config::{ConfFacts, Config};
use crate::fourlw::{
    self, ConnRef, ConnReport, EnvReport, ExpiryDump, ExpirySet, FourLetterWord, ServerReport, SessionDump,
    WatchSummary,
};
use crate::serve::{Clock, Outputs};

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn path_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A client connection as the shell sees it: its peer and the frames it carried.
#[derive(Clone, Copy, Debug)]
pub struct ConnFacts {
    /// The client's address.
    pub addr: SocketAddr,
    /// Frames received from it.
    pub received: u64,
    /// Frames sent to it.
    pub sent: u64,
}

/// What the shell, not the core, knows for a four-letter answer: the sockets, its counters,
/// the process. The server pump fills it from its outputs; the simulator from its own.
pub struct ShellFacts<'a> {
    /// A connection of the core's table as the shell has it (`None`: not the shell's).
    pub conn: &'a dyn Fn(ConnId) -> Option<ConnFacts>,
    /// Four-letter words answered before this one.
    pub four_letter_words: u64,
    /// Client frames sent.
    pub frames_sent: u64,
    /// `stmk`'s trace mask.
    pub trace_mask: i64,
    /// Last, smallest and largest reply sizes (−1 until `srst` or the first reply).
    pub reply_sizes: (i64, i64, i64),
    /// Client connections accepted.
    pub connections_accepted: u64,
    /// Client bytes received.
    pub bytes_received: u64,
    /// Bytes in dataDir and dataLogDir.
    pub dir_sizes: (u64, u64),
    /// `envi`'s facts.
    pub environment: EnvReport,
    /// Open and maximum file descriptors, when known.
    pub fds: Option<(u64, u64)>,
    /// The ensemble member's status (`None`: standalone).
    pub ensemble: Option<&'a crate::ensemble::Status>,
}

/// Builds the report the words need from the pump's outputs and answers `word`.
pub fn four_letter(
    server: &Server<'static>,
    out: &Outputs,
    config: &Config,
    whitelist: &[String],
    word: FourLetterWord,
    peer: SocketAddr,
    clock: &Clock,
) -> String {
    // Before gathering the facts: a refused word should not cost a walk of the data dirs.
    if !fourlw::whitelisted(word.as_str(), whitelist) {
        return fourlw::not_whitelisted(word.as_str());
    }
    let conn = |c: ConnId| out.conns.get(&c).map(|c| ConnFacts { addr: c.addr, received: c.received, sent: c.sent });
    let facts = ShellFacts {
        conn: &conn,
        four_letter_words: out.four_letter_words,
        frames_sent: out.frames_sent,
        trace_mask: out.trace_mask,
        reply_sizes: out.reply_sizes,
        connections_accepted: out.connections_accepted,
        bytes_received: out.bytes_received,
        dir_sizes: (dir_size(&config.data_dir), dir_size(&config.data_log_dir)),
        environment: EnvReport::gather(),
        fds: fourlw::file_descriptor_counts(),
        ensemble: out.ensemble.as_ref(),
    };
    answer(server, &facts, config, whitelist, word, peer, clock.now())
}

/// Answers `word` from the core's state and the shell's `facts` at `now`.
pub fn answer(
    server: &Server<'_>,
    facts: &ShellFacts<'_>,
    config: &Config,
    whitelist: &[String],
    word: FourLetterWord,
    peer: SocketAddr,
    now: Now,
) -> String {
    if !fourlw::whitelisted(word.as_str(), whitelist) {
        return fourlw::not_whitelisted(word.as_str());
    }
    let tree = server.tree();
    let tstats = tree.stats();
    let sessions = server.sessions();
    let session_of = |conn| server.session_of(conn).map_or(0, |s| s.0 as u64);
    let mut connections = Vec::new();
    for (conn, state, _ip, stats) in server.connections().iter() {
        let Some(c) = (facts.conn)(conn) else { continue };
        let mut r = ConnReport::new(c.addr);
        r.recved = c.received;
        r.sent = c.sent;
        r.session_id = session_of(conn);
        r.last_op = stats.last_op().to_string();
        r.established_ms = now.wall_ms.saturating_sub(now.instant.since(stats.established_at) as i64) as u64;
        r.timeout_ms = match state {
            ConnState::Established(s) => sessions.timeout_ms(s),
            _ => 0,
        };
        // Established connections wait for reads (OP_READ), as ZooKeeper shows them.
        r.interest_ops = u32::from(matches!(state, ConnState::Established(_)));
        r.last_cxid = i64::from(stats.last_cxid);
        r.last_zxid = stats.last_zxid;
        // After `crst` nothing has been answered yet: ZooKeeper shows lresp=0.
        r.last_response_ms = if stats.last_cxid < 0 {
            0
        } else {
            now.wall_ms.saturating_sub(now.instant.since(stats.last_response) as i64) as u64
        };
        connections.push(r);
    }
    // ZooKeeper lists the asking connection too: it is a connection that has received one
    // packet (the word) and sent nothing yet.
    let mut asking = ConnReport::new(peer);
    asking.recved = 1;
    connections.push(asking);
    let watches = server.watches();
    let summary = watches.data_watch_stats();
    let watches_by_session: Vec<(u64, Vec<String>)> = watches
        .data_connections()
        .map(|conn| (session_of(conn), watches.data_paths_of(conn).map(path_string).collect()))
        .collect();
    let watches_by_path: Vec<(String, Vec<u64>)> =
        watches.data_paths().map(|p| (path_string(p), watches.data_watchers_of(p).map(session_of).collect())).collect();
    let mut ephemerals = Vec::new();
    // Expiry as wall-clock ms, grouped as ZooKeeper's expiry queue groups sessions.
    let wall_at = |r| {
        let left = sessions.expires_at(r).since(now.instant);
        now.wall_ms.max(0) as u64 + left
    };
    let mut expiry: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut path_buf = vec![0u8; server.limits().packet_bytes_max as usize];
    for (r, id, timeout) in sessions.iter() {
        let paths: Vec<String> =
            tree.ephemerals(id).filter_map(|n| tree.write_path(n, &mut path_buf).map(path_string)).collect();
        if !paths.is_empty() {
            ephemerals.push((id.0 as u64, paths));
        }
        let _ = timeout;
        expiry.entry(wall_at(r)).or_default().push(id.0 as u64);
    }
    let total_sessions = sessions.len() as u64;
    let sets = expiry.into_iter().map(|(expire_at_ms, members)| ExpirySet { expire_at_ms, members }).collect();
    let mut conn_expiry: BTreeMap<u64, Vec<ConnRef>> = BTreeMap::new();
    for (conn, state, _, _) in server.connections().iter() {
        let (ConnState::Established(r), Some(c)) = (state, (facts.conn)(conn)) else { continue };
        conn_expiry.entry(wall_at(r)).or_default().push(ConnRef { remote: c.addr, session_id: session_of(conn) });
    }
    let conn_total = conn_expiry.values().map(Vec::len).sum::<usize>() as u64;
    let connection_expiry = Some(ExpiryDump {
        sets: conn_expiry.into_iter().map(|(expire_at_ms, members)| ExpirySet { expire_at_ms, members }).collect(),
        total: conn_total,
    });
    let mut report = ServerReport {
        version: fourlw::full_version(),
        serving: true,
        // Each word, this one included, is a packet received; earlier answers were sent.
        packets_received: server.stats().packets_received + facts.four_letter_words + 1,
        packets_sent: facts.frames_sent + facts.four_letter_words,
        alive_connections: u64::from(server.connections().open_count()) + 1,
        last_zxid: server.last_zxid().0,
        // ZooKeeper's node map holds the root under both "/" and "", so it counts one more.
        node_count: u64::from(tree.znode_count()) + 1,
        connections,
        watch_summary: WatchSummary {
            connections: u64::from(summary.connections),
            paths: u64::from(summary.paths),
            total: u64::from(summary.total),
        },
        watches_by_session,
        watches_by_path,
        sessions: SessionDump::Expiry(ExpiryDump { sets, total: total_sessions }),
        ephemerals,
        connection_expiry,
        trace_mask: facts.trace_mask,
        data_dir_size: facts.dir_sizes.0,
        log_dir_size: facts.dir_sizes.1,
        environment: facts.environment.clone(),
        ..ServerReport::default()
    };
    if let Some(e) = facts.ensemble {
        report.serving = e.serving;
        report.mode = e.mode;
        report.quorum = Some(fourlw::QuorumReport {
            peer_state: e.peer_state.clone(),
            quorum_size: e.quorum_size,
            synced_observers: None,
            observer_master_id: None,
            leader: (e.mode == fourlw::ServerMode::Leader).then(|| fourlw::LeaderReport {
                learners: e.learners,
                synced_followers: e.synced_followers,
                ..fourlw::LeaderReport::default()
            }),
        });
    }
    report.conf = config.to_conf_lines(&ConfFacts {
        data_dir_size: report.data_dir_size,
        data_log_size: report.log_dir_size,
        server_id: 0,
        quorum: None,
    });
    let g = &mut report.gauges;
    g.uptime_ms = now.instant.since(server.stats().started_at);
    g.watch_count = u64::from(watches.total_count());
    g.ephemerals_count = u64::from(tstats.ephemerals);
    g.approximate_data_size = tstats.approximate_data_size;
    g.global_sessions = total_sessions;
    if let Some((open, max)) = facts.fds {
        g.open_fds = Some(open);
        g.max_fds = Some(max);
    }
    (g.last_client_response_size, g.min_client_response_size, g.max_client_response_size) = facts.reply_sizes;
    g.auth_failed_count = server.stats().auth_failed;
    if word == FourLetterWord::Hash {
        report.digests = vec![(server.last_zxid().0, tree_digest(server))];
    }
    report.mntr_extras = counters(server, facts);
    report.mntr_extras.extend(herd_metrics(server));
    fourlw::respond(word, &report, whitelist)
}

/// ZooKeeper's tree digest (`DigestCalculator`): the sum over znodes of a CRC-32 of the path
/// ("" for the root), the data and the persisted Stat fields; nodes under `/zookeeper/` are
/// left out. Computed on demand for `hash`, which is rare and administrative.
pub fn tree_digest(server: &Server<'_>) -> u64 {
    let tree = server.tree();
    let mut path_buf = vec![0u8; server.limits().packet_bytes_max as usize];
    let mut sum = 0u64;
    for node in tree.preorder() {
        let Some(path) = tree.write_path(node, &mut path_buf) else { continue };
        if path.starts_with(b"/zookeeper/") {
            continue;
        }
        let st = tree.stat_persisted(node);
        let mut fields = [0u8; 60];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            fields[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&(st.czxid.0 as i64).to_be_bytes());
        put(&(st.mzxid.0 as i64).to_be_bytes());
        put(&(st.pzxid.0 as i64).to_be_bytes());
        put(&st.ctime.to_be_bytes());
        put(&st.mtime.to_be_bytes());
        put(&st.version.to_be_bytes());
        put(&st.cversion.to_be_bytes());
        put(&st.aversion.to_be_bytes());
        put(&st.ephemeral_owner.to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(if path == b"/" { b"" } else { path });
        if let Some(data) = tree.data(node) {
            crc.update(data);
        }
        crc.update(&fields);
        sum = sum.wrapping_add(u64::from(crc.finalize()));
    }
    sum
}

/// Some of the counters ZooKeeper's metrics provider adds to `mntr`.
fn counters(server: &Server<'_>, facts: &ShellFacts<'_>) -> Vec<(String, fourlw::MetricValue)> {
    use fourlw::MetricValue::Int;
    vec![
        ("connection_request_count".into(), Int(facts.connections_accepted as i64)),
        ("bytes_received_count".into(), Int(facts.bytes_received as i64)),
        // Writes are applied as they are validated: nothing waits in a change queue.
        ("outstanding_changes_queued".into(), Int(0)),
        ("commit_count".into(), Int(server.stats().txns as i64)),
    ]
}

/// herd's own gauges after ZooKeeper's in `mntr`: how full each bounded table is.
fn herd_metrics(server: &Server<'_>) -> Vec<(String, fourlw::MetricValue)> {
    use fourlw::MetricValue::Int;
    let t = server.tree().stats();
    let l = server.limits();
    vec![
        ("herd_znodes_max".into(), Int(i64::from(l.znodes_max))),
        ("herd_data_bytes_max".into(), Int(l.data_bytes_max as i64)),
        ("herd_arena_bytes_requested".into(), Int(t.arena.bytes_requested as i64)),
        ("herd_arena_bytes_allocated".into(), Int(t.arena.bytes_allocated as i64)),
        ("herd_arena_bytes_free_listed".into(), Int(t.arena.bytes_free_listed as i64)),
        ("herd_acl_lists".into(), Int(i64::from(t.acl_lists))),
        ("herd_sessions_max".into(), Int(i64::from(l.sessions_max))),
        ("herd_watches_max".into(), Int(i64::from(l.watches_max))),
        ("herd_connections_max".into(), Int(i64::from(l.connections_max))),
    ]
}
